"""TimeSeries: one named series of float64 values (NaN for gaps) at a fixed step.

Semantics follow graphite-web 1.1.10's `render/datalib.py` TimeSeries and the helpers of
`render/functions.py` (normalize, lcm) and `render/views.py` (maxDataPoints consolidation in the
json renderer), rewritten over numpy arrays:

- `consolidate_values` is graphite's consolidating generator: buckets of `valuesPerPoint`
  values, the last bucket may be partial, a bucket is None unless it has a non-null value and
  nonNull / valuesPerPoint >= xFilesFactor.
- `consolidate` is what the json renderer does for maxDataPoints (including its "nudge" of the
  start so that buckets fall on multiples of the new step, and its off-by-one in the values
  dropped at the front).
- `normalize` brings series of different steps to their least common step.
"""
import math
import re
from functools import reduce

import numpy as np

from webapp.errors import InputError

CONSOLIDATION_FUNCS = ("sum", "average", "avg", "avg_zero", "max", "min", "first", "last")
PROHIBITED_TAG_CHARS = ";!^="
_FUNCTION_NAME = re.compile(r"^[a-z]+[(].+[)]$", re.IGNORECASE)


class InvalidTags(ValueError):
    """A tagged name (`a.b;tag=value`) that graphite's TaggedSeries.parse rejects."""

    def __init__(self, name, reason):
        super().__init__(f"cannot parse tags of {name!r}: {reason}")
        self.name = name
        self.reason = reason


class EmptySeriesList(ValueError):
    """normalize() was given no series (graphite-web's NormalizeEmptyResultError)."""


def parse_tags(name):
    """Tags of a carbon path `metric;tag=value;...` as graphite's TaggedSeries.parse_carbon.

    Raises InvalidTags for what graphite rejects."""
    segments = name.split(";")
    metric = segments[0]
    if not metric:
        raise InvalidTags(name, "no metric found")
    tags = {}
    for segment in segments[1:]:
        tag = segment.split("=", 1)
        if len(tag) != 2 or not tag[0]:
            raise InvalidTags(name, f"invalid segment {segment!r}")
        _validate_tag(name, tag[0], tag[1])
        tags[tag[0]] = tag[1]
    sanitized = metric.lstrip("~")
    if not sanitized:
        raise InvalidTags(name, "metric name is empty once '~' is stripped")
    tags["name"] = sanitized
    return tags


def _validate_tag(name, tag, value):
    if not value:
        raise InvalidTags(name, f"value for tag {tag!r} is empty")
    bad = [char for char in PROHIBITED_TAG_CHARS if char in tag]
    if bad:
        raise InvalidTags(name, f"character {bad[0]!r} is not allowed in tag {tag!r}")
    if value[0] == "~":
        raise InvalidTags(name, f"value of tag {tag!r} starts with '~'")


def tags_for_name(name):
    """The tags a new TimeSeries gets from its name, as graphite-web with a tag database:
    parsed from the name unless it looks like a function call or cannot be parsed."""
    if _FUNCTION_NAME.match(name):
        return {"name": name}
    try:
        return parse_tags(name)
    except InvalidTags:
        return {"name": name}


def str_tags(tags):
    """A copy of `tags` with every value a str (graphite's Tags stores str(value))."""
    return {key: str(value) for key, value in tags.items()}


class TimeSeries:
    """A series as graphite-web's TimeSeries: `start` is the first timestamp, `end` is
    `start + len(values) * step`, `values` a float64 numpy array with NaN for None.

    After `consolidate()` the values are already consolidated: `step` is the consolidated
    step and `values_per_point` says how many raw values each one stands for."""

    __slots__ = ("name", "start", "end", "step", "values", "path_expression", "_tags",
                 "_tags_of", "consolidate_func", "values_per_point", "x_files_factor",
                 "options")

    def __init__(self, name, start, end, step, values, path_expression=None, tags=None,
                 consolidate_func="average", values_per_point=1, x_files_factor=None,
                 options=None):
        self.name = name
        self.start = int(start)
        self.end = int(end)
        self.step = int(step)
        self.values = np.asarray(values, dtype=np.float64)
        self.path_expression = name if path_expression is None else path_expression
        self._tags = str_tags(tags) if tags else None
        self._tags_of = name  # without tags: parsed from the name given, when first asked
        self.consolidate_func = consolidate_func
        self.values_per_point = values_per_point
        self.x_files_factor = x_files_factor
        self.options = {} if options is None else options

    @property
    def tags(self):
        """The series' tags: those given, or parsed from its name as constructed (once,
        on first use: a fetch of 1,000 series mostly never asks)."""
        if self._tags is None:
            self._tags = tags_for_name(self._tags_of)
        return self._tags

    @tags.setter
    def tags(self, tags):
        self._tags = tags

    def __len__(self):
        return len(self.values)

    def __repr__(self):
        return (f"TimeSeries({self.name!r}, {self.start}, {self.end}, {self.step}, "
                f"n={len(self.values)})")

    @property
    def xff(self):
        """The effective xFilesFactor (graphite's DEFAULT_XFILES_FACTOR is 0)."""
        return 0.0 if self.x_files_factor is None else float(self.x_files_factor)

    def copy(self, name=None, start=None, end=None, step=None, values=None, tags=None,
             path_expression=None, consolidate_func=None, x_files_factor=None):
        """A new series like this one, as graphite's TimeSeries.copy: the path expression
        becomes the (new) name unless given; options are not carried over."""
        name = self.name if name is None else name
        return TimeSeries(
            name,
            self.start if start is None else start,
            self.end if end is None else end,
            self.step if step is None else step,
            self.values.copy() if values is None else values,
            path_expression=name if path_expression is None else path_expression,
            tags=dict(self.tags) if tags is None else tags,
            consolidate_func=consolidate_func or self.consolidate_func,
            x_files_factor=self.x_files_factor if x_files_factor is None else x_files_factor,
        )

    def timestamps(self):
        """Timestamps of the values that fall in [start, end], as graphite's datapoints()."""
        if self.step <= 0 or self.end < self.start:
            return np.zeros(0, dtype=np.int64)
        count = min(len(self.values), (self.end - self.start) // self.step + 1)
        return self.start + np.arange(count, dtype=np.int64) * self.step

    def datapoints(self):
        """[[value or None, timestamp], ...] as graphite-web's json renderer lists them."""
        stamps = self.timestamps().tolist()
        values = self.values[:len(stamps)]
        listed = values.tolist()
        if np.isnan(values).any():
            listed = [None if value != value else value for value in listed]
        return [[value, stamp] for value, stamp in zip(listed, stamps)]


def _sequential_sum(matrix):
    """Column sums of a 2-D array, adding rows in order (Python's sum(), bit for bit).

    numpy sums along a contiguous axis pairwise; along axis 0 with more than one column it
    adds row after row, which is the order graphite-web's sum() uses."""
    if matrix.shape[1] == 1:
        matrix = np.hstack([matrix, np.zeros_like(matrix)])
        return np.add.reduce(matrix, axis=0)[:1]
    return np.add.reduce(np.ascontiguousarray(matrix), axis=0)


def _first_valid(matrix, valid):
    """Per column, the first non-NaN value (NaN if none)."""
    index = np.argmax(valid, axis=0)
    return matrix[index, np.arange(matrix.shape[1])]


def _last_valid(matrix, valid):
    """Per column, the last non-NaN value (NaN if none)."""
    index = matrix.shape[0] - 1 - np.argmax(valid[::-1], axis=0)
    return matrix[index, np.arange(matrix.shape[1])]


def _consolidate_matrix(matrix, func, slots):
    """Reduce each column of `matrix` (rows = values of a bucket, NaN = None) with one of
    graphite's consolidation functions; `slots` is the bucket sizes (for avg_zero)."""
    valid = ~np.isnan(matrix)
    if func == "sum":
        return _sequential_sum(np.where(valid, matrix, 0.0))
    if func in ("average", "avg"):
        with np.errstate(invalid="ignore", divide="ignore"):
            return _sequential_sum(np.where(valid, matrix, 0.0)) / valid.sum(axis=0)
    if func == "avg_zero":
        return _sequential_sum(np.where(valid, matrix, 0.0)) / slots
    if func == "max":
        return np.fmax.reduce(matrix, axis=0)
    if func == "min":
        return np.fmin.reduce(matrix, axis=0)
    if func == "first":
        return _first_valid(matrix, valid)
    if func == "last":
        return _last_valid(matrix, valid)
    raise InputError(f"Invalid consolidation function: {func!r}")


def consolidate_values(values, values_per_point, func="average", x_files_factor=0.0):
    """graphite-web's consolidating generator over `values` as one numpy operation.

    Buckets hold `values_per_point` values (the last may be partial); a bucket is NaN unless it
    has a non-null value and nonNull / values_per_point >= x_files_factor."""
    values = np.asarray(values, dtype=np.float64)
    vpp = int(values_per_point)
    if vpp <= 1 or not len(values):
        return values.copy()
    if func not in CONSOLIDATION_FUNCS:
        raise InputError(f"Invalid consolidation function: {func!r}")
    buckets = -(-len(values) // vpp)
    padded = np.full(buckets * vpp, np.nan)
    padded[:len(values)] = values
    matrix = padded.reshape(buckets, vpp).T
    slots = np.full(buckets, vpp, dtype=np.float64)
    slots[-1] = len(values) - (buckets - 1) * vpp
    result = _consolidate_matrix(matrix, func, slots)
    non_null = (~np.isnan(matrix)).sum(axis=0)
    keep = (non_null > 0) & (non_null / vpp >= (x_files_factor or 0.0))
    return np.where(keep, result, np.nan)


def with_values_per_point(series, values_per_point, start=None):
    """A copy of `series` consolidated `values_per_point` to one (start unchanged unless
    given); its step becomes step * values_per_point."""
    vpp = max(int(values_per_point), 1)
    values = consolidate_values(series.values, vpp, series.consolidate_func, series.xff)
    result = TimeSeries(series.name, series.start if start is None else start, series.end,
                        series.step * vpp, values, path_expression=series.path_expression,
                        tags=series.tags, consolidate_func=series.consolidate_func,
                        values_per_point=vpp * series.values_per_point,
                        x_files_factor=series.x_files_factor, options=dict(series.options))
    return result


def consolidate(series, max_data_points, time_range=None):
    """The series as graphite-web 1.1.10's json renderer shows it for maxDataPoints.

    `time_range` is max(end) - min(start) over all series of the response (graphite's
    numberOfDataPoints is time_range / step); it defaults to this series' own range.
    Returns a new series (the input is not changed); a series that already fits is copied."""
    max_data_points = int(max_data_points)
    if max_data_points < 1:
        raise InputError(f"maxDataPoints must be at least 1, not {max_data_points}")
    if max_data_points == 1:
        if not len(series):
            return series.copy(path_expression=series.path_expression)
        return with_values_per_point(series, len(series))
    if time_range is None:
        time_range = series.end - series.start
    points = time_range / series.step
    if not max_data_points < points:
        return series.copy(path_expression=series.path_expression)
    vpp = math.ceil(points / max_data_points)
    seconds_per_point = int(vpp * series.step)
    nudge = seconds_per_point + (series.start % series.step) - (series.start % seconds_per_point)
    values_to_lose = int(nudge / series.step)
    trimmed = series.copy(values=series.values[max(values_to_lose - 1, 0):],
                          path_expression=series.path_expression)
    return with_values_per_point(trimmed, vpp, start=series.start + nudge)


def consolidate_all(series_list, max_data_points):
    """consolidate() over a whole response as the json renderer does (one time range)."""
    if not any(len(series) for series in series_list):
        return list(series_list)
    time_range = (max(series.end for series in series_list)
                  - min(series.start for series in series_list))
    return [consolidate(series, max_data_points, time_range) for series in series_list]


def lcm(a, b):
    """Least common multiple of two steps."""
    return a * b // math.gcd(a, b) if a != b else a


def normalize(series_lists):
    """graphite-web's normalize(): bring all series of `series_lists` (a list of lists) to
    the least common multiple of their steps.

    Returns (series, start, end, step): new series consolidated by step // own step (each
    with its own consolidation function and xFilesFactor), the earliest start, and the latest
    end trimmed to a whole number of steps from start. Raises EmptySeriesList if there is no
    series at all."""
    flat = [series for series_list in series_lists for series in series_list]
    if not flat:
        raise EmptySeriesList("no series to normalize")
    step = reduce(lcm, [series.step for series in flat])
    normalized = [series if series.step == step
                  else with_values_per_point(series, step // series.step) for series in flat]
    start = min(series.start for series in flat)
    end = max(series.end for series in flat)
    end -= (end - start) % step
    return normalized, start, end, step


def stack_values(rows, width=None):
    """Value arrays as a (len(rows), width) matrix, shorter ones padded with NaN at the end
    (graphite's izip_longest); width defaults to the longest."""
    if width is None:
        width = max((len(row) for row in rows), default=0)
    matrix = np.full((len(rows), width), np.nan)
    for index, row in enumerate(rows):
        matrix[index, :len(row)] = row
    return matrix


def stack(series_list):
    """The values of `series_list` as a (len(series_list), longest) matrix, shorter series
    padded with NaN at the end (graphite's izip_longest over the series)."""
    return stack_values([series.values for series in series_list])
