"""maxDataPoints consolidation as graphite-web 1.1.10's json renderer does it.

graphite-web shifts each series' start by a "nudge" so that buckets line up between
refreshes, drops `nudge // step - 1` leading values (one fewer than the nudge covers:
its loop is `range(1, valuesToLose)`), then reduces each run of `values_per_point`
values (the last run may be short) with the series' consolidation function. A bucket
whose share of non-null values is below xFilesFactor, or that has none, is null.
"""
import math

import numpy as np

from webapp.errors import InputError

_ALIASES = {"avg": "average"}
FUNCTIONS = ("average", "avg_zero", "sum", "max", "min", "first", "last")


def plan(start, step, time_range, max_data_points, length):
    """(values_per_point, new_start, values_to_drop) for one series, or None to keep it."""
    if max_data_points == 1:
        return max(length, 1), start, 0
    number_of_points = time_range / step
    if max_data_points >= number_of_points:
        return None
    values_per_point = math.ceil(number_of_points / max_data_points)
    seconds_per_point = int(values_per_point * step)
    nudge = seconds_per_point + (start % step) - (start % seconds_per_point)
    return values_per_point, start + nudge, max(int(nudge / step) - 1, 0)


def consolidate(values, values_per_point, func="average", x_files_factor=0.0):
    """Reduce `values` (float64, NaN gaps) by runs of `values_per_point`: float64 array."""
    func = _ALIASES.get(func, func)
    if func not in FUNCTIONS:
        raise InputError(f"invalid consolidation function {func!r}; "
                         f"expected one of {', '.join(FUNCTIONS)}")
    n = len(values)
    if values_per_point <= 1 or n == 0:
        return np.asarray(values, dtype=np.float64)
    buckets = -(-n // values_per_point)
    padded = np.full(buckets * values_per_point, np.nan)
    padded[:n] = values
    grid = padded.reshape(buckets, values_per_point)
    present = ~np.isnan(grid)
    counts = present.sum(axis=1)
    result = _reduce(grid, present, counts, func, n, values_per_point)
    keep = (counts > 0) & (counts / values_per_point >= (x_files_factor or 0.0))
    return np.where(keep, result, np.nan)


def _reduce(grid, present, counts, func, n, values_per_point):
    zeroed = np.where(present, grid, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        if func == "sum":
            return zeroed.sum(axis=1)
        if func == "average":
            return zeroed.sum(axis=1) / counts
        if func == "avg_zero":
            run_lengths = np.full(len(counts), values_per_point, dtype=np.float64)
            run_lengths[-1] = n - (len(counts) - 1) * values_per_point
            return zeroed.sum(axis=1) / run_lengths
        if func == "max":
            return np.where(present, grid, -np.inf).max(axis=1)
        if func == "min":
            return np.where(present, grid, np.inf).min(axis=1)
    return _first_or_last(grid, present, func)


def _first_or_last(grid, present, func):
    rows = np.arange(grid.shape[0])
    if func == "first":
        index = present.argmax(axis=1)
    else:
        index = grid.shape[1] - 1 - present[:, ::-1].argmax(axis=1)
    return grid[rows, index]


def apply_max_data_points(series_list, max_data_points):
    """[(series, values, start, seconds_per_point)] after graphite-web's json consolidation.

    The series themselves are not changed; `values` is what the json output shows."""
    out = []
    if not series_list:
        return out
    time_range = (max(s.end for s in series_list) - min(s.start for s in series_list))
    for series in series_list:
        chosen = plan(series.start, series.step, time_range, max_data_points, len(series.values))
        if chosen is None:
            out.append((series, series.values, series.start, series.step))
            continue
        values_per_point, start, drop = chosen
        values = consolidate(series.values[drop:], values_per_point, series.consolidate_func,
                             series.x_files_factor)
        out.append((series, values, start, series.step * values_per_point))
    return out
