"""json, dygraph and rickshaw: graphite-web 1.1.10's layouts.

json: `[{"target": NAME, "tags": {...}, "datapoints": [[value, timestamp], ...]}, ...]`
with null for gaps; an infinite value is written 1e9999 (parsed back as Infinity), as
Graphite does. jsonp wraps the body as `callback(...)` with
content type text/javascript; the server accepts only a JavaScript identifier there.

orjson, when installed, formats the floats (the bulk of the work) about five times
faster than the standard library; both give the same numbers and shapes, graphite-web's
`", "` spacing only with the standard library. With orjson, each series' datapoints
are written from two numpy arrays (values, NaN written null; timestamps) joined as
bytes, not from a list of 8,640 Python pairs: a third less time for a day at 10 s.
"""
import json

import numpy as np

from webapp.series import consolidate_all

try:  # optional accelerator; falls back to the standard library
    import orjson
except ImportError:  # pragma: no cover - exercised only where orjson is absent
    orjson = None

JSON = "application/json"
JAVASCRIPT = "text/javascript"


def _encode(obj, pretty=False, finite=True):
    """JSON bytes; an infinite value is written 1e9999 as graphite-web does."""
    if orjson is not None and finite and not pretty:
        return orjson.dumps(obj)
    text = json.dumps(obj, indent=2 if pretty else None)
    return text.replace("Infinity,", "1e9999,").encode()


def _python_values(values):
    """float64 array -> list of float, None for NaN."""
    out = values.tolist()
    for index in np.flatnonzero(np.isnan(values)).tolist():
        out[index] = None
    return out


def _all_finite(series_list):
    return all(not np.isinf(s.values).any() for s in series_list)


def _wrap(body, options):
    if options.jsonp:
        return options.jsonp.encode() + b"(" + body + b")", JAVASCRIPT
    return body, JSON


def _columns(series_list, max_data_points, no_null_points):
    """(series, timestamps, values) of each series to write: consolidated for
    maxDataPoints, without its nulls (and without all-null series) for noNullPoints."""
    if max_data_points is not None:
        series_list = consolidate_all(series_list, max_data_points)
    for series in series_list:
        timestamps = series.timestamps()
        values = series.values[:len(timestamps)]
        if no_null_points:
            keep = np.flatnonzero(~np.isnan(values))
            if not len(keep):
                continue
            timestamps, values = timestamps[keep], values[keep]
        yield series, timestamps, values


def json_entries(series_list, max_data_points=None, no_null_points=False):
    """The list graphite-web serialises: one dict per series (dropped if all-null and
    no_null_points); maxDataPoints consolidation is webapp.series.consolidate_all."""
    entries = []
    for series, timestamps, values in _columns(series_list, max_data_points, no_null_points):
        points = list(zip(_python_values(values), timestamps.tolist()))
        entries.append({"target": series.name, "tags": dict(series.tags), "datapoints": points})
    return entries


# timestamps below this are written by orjson as "<digits>.0" (never in exponent form)
_PLAIN_FLOAT_LIMIT = 10 ** 15


def _fast_datapoints(values, timestamps):
    """`[[value or null, timestamp], ...]` as bytes; None if a value is infinite."""
    if np.isinf(values).any():
        return None
    if not len(timestamps):
        return b"[]"
    if max(abs(int(timestamps[0])), abs(int(timestamps[-1]))) >= _PLAIN_FLOAT_LIMIT:
        return orjson.dumps(list(zip(_python_values(values), timestamps.tolist())))
    value_texts = orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].split(b",")
    stamp_texts = _stamp_texts(timestamps)
    if stamp_texts is None:  # timestamps of different widths: one float array instead
        pairs = np.empty((len(timestamps), 2), dtype=np.float64)
        pairs[:, 0] = values
        pairs[:, 1] = timestamps
        # a value is always followed by ",", so ".0]" ends an integral timestamp only
        return orjson.dumps(pairs, option=orjson.OPT_SERIALIZE_NUMPY).replace(b".0]", b"]")
    parts = [None] * (2 * len(stamp_texts))
    parts[0::2] = value_texts
    parts[1::2] = stamp_texts
    return b"[[" + b"".join(parts)[:-2] + b"]"


def _stamp_texts(timestamps):
    """[b",<timestamp>],[", ...] when every timestamp has the same number of characters
    (the usual case: all 10 digits), else None."""
    text = orjson.dumps(timestamps, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1] + b","
    count = len(timestamps)
    if len(text) % count:
        return None
    width = len(text) // count - 1
    digits = np.frombuffer(text, dtype=np.uint8).reshape(count, width + 1)
    if (digits[:, width] != ord(",")).any():
        return None
    cells = np.empty((count, width + 4), dtype=np.uint8)
    cells[:, 0] = ord(",")
    cells[:, 1:width + 1] = digits[:, :width]
    cells[:, width + 1:] = np.frombuffer(b"],[", dtype=np.uint8)
    return cells.view(f"S{width + 4}").ravel().tolist()


def _fast_json(series_list, max_data_points, no_null_points):
    """What _encode(json_entries(...)) gives through orjson, datapoints in one call
    each; None when a value (after consolidation) is infinite."""
    entries = []
    for series, timestamps, values in _columns(series_list, max_data_points, no_null_points):
        points = _fast_datapoints(values, timestamps)
        if points is None:  # orjson writes infinities null; graphite-web writes 1e9999
            return None
        entries.append({"target": series.name, "tags": dict(series.tags),
                        "datapoints": orjson.Fragment(points)})
    return orjson.dumps(entries)


def render_json(series_list, options, max_data_points=None):
    finite = None
    if orjson is not None and not options.pretty:
        body = _fast_json(series_list, max_data_points, options.no_null_points)
        if body is not None:
            return _wrap(body, options)
        finite = False  # an infinite value, maybe made by consolidation
    entries = json_entries(series_list, max_data_points, options.no_null_points)
    if finite is None:
        finite = _all_finite(series_list)
    return _wrap(_encode(entries, options.pretty, finite), options)


def render_dygraph(series_list, options):
    """`{"labels" : [...], "data" : [[ts000, v1, v2], ...]}` on the first series' times."""
    if not series_list:
        return _wrap(b"{}", options)
    first = series_list[0]
    timestamps = range(first.start, first.end, first.step)
    columns = [[f"{ts}000" for ts in timestamps]]
    for series in series_list:
        columns.append([_dygraph_value(v) for v in series.values[:len(timestamps)].tolist()])
    labels = json.dumps(["Time"] + [s.name for s in series_list])
    lines = ", ".join(_dygraph_line(columns, i) for i in range(len(timestamps)))
    return _wrap(f'{{"labels" : {labels}, "data" : [{lines}]}}'.encode(), options)


def _dygraph_line(columns, index):
    return "[" + ", ".join(column[index] for column in columns if index < len(column)) + "]"


def _dygraph_value(value):
    if value != value:
        return "null"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)


def render_rickshaw(series_list, options):
    """`[{"target": NAME, "datapoints": [{"x": ts, "y": value}, ...]}, ...]`."""
    entries = []
    for series in series_list:
        timestamps = range(series.start, series.end, series.step)
        points = [{"x": ts, "y": value}
                  for ts, value in zip(timestamps, _python_values(series.values))]
        entries.append({"target": series.name, "datapoints": points})
    return _wrap(_encode(entries, options.pretty, _all_finite(series_list)), options)
