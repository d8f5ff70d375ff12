"""json, dygraph and rickshaw: graphite-web 1.1.10's layouts.

json: `[{"target": NAME, "tags": {...}, "datapoints": [[value, timestamp], ...]}, ...]`
with null for gaps; an infinite value is written 1e9999 (parsed back as Infinity), as
Graphite does. jsonp wraps the body as `callback(...)` with
content type text/javascript; the server accepts only a JavaScript identifier there.

orjson, when installed, formats the floats (the bulk of the work) about five times
faster than the standard library; both give the same numbers and shapes, graphite-web's
`", "` spacing only with the standard library. With orjson, each series' datapoints
are written from two numpy arrays (values, NaN written null; timestamps) by two orjson
calls, one bytes replace and one masked copy (_interleaved), not from a list of 8,640
Python pairs nor a bytes object per point: for a day at 10 s, 0.55 ms where joining
8,640 value and timestamp texts took 0.9 ms, and a list of pairs 1.5 ms.
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
_COMMA, _CLOSE = ord(","), ord("]")


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


def _fast_datapoints(values, timestamps):
    """`[[value or null, timestamp], ...]` as bytes-like; None if a value is infinite."""
    if np.isinf(values).any():
        return None
    if not len(timestamps):
        return b"[]"
    body = _interleaved(values, timestamps)
    if body is None:  # timestamps of different widths (negative, or across 10**k): a list
        return orjson.dumps(list(zip(_python_values(values), timestamps.tolist())))
    return body


def _interleaved(values, timestamps):
    """The datapoints from one orjson call for the values and one for the timestamps,
    when every timestamp has the same number of characters (the usual case: all 10
    digits), else None. No Python object per point: the value text `[v0,v1,...]`
    becomes `[[v0____],[v1____],[...` with one bytes replace (holes of NUL bytes; a
    value text holds no "," and no NUL), and the holes take the timestamp text
    `[t0,t1,...` cut in rows of equal width (`[t0`, `,t1`, ...) in one masked copy."""
    count = len(timestamps)
    stamps = orjson.dumps(timestamps, option=orjson.OPT_SERIALIZE_NUMPY)
    width = (len(stamps) - 1) // count  # of a row: a separator and the digits
    rows = np.frombuffer(stamps, dtype=np.uint8)[:-1]
    if width * count != len(rows) or (rows[width::width] != _COMMA).any():
        return None
    body = bytearray(b"[")
    body += orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY)
    body[-1] = _COMMA  # each value followed by a separator, the last too
    body = body.replace(b",", bytes(width) + b"],[")
    del body[-1]
    body[-1] = _CLOSE  # `],[` after the last point: `]]`
    first_hole = body.index(0)
    text = np.frombuffer(body, dtype=np.uint8)
    text[text == 0] = rows
    body[first_hole] = _COMMA  # the first row starts `[t0`
    return body


def _series_json(series, points):
    """orjson's `{"target":...,"tags":{...},"datapoints":POINTS}` around `points`."""
    return (b'{"target":' + orjson.dumps(series.name) + b',"tags":'
            + orjson.dumps(dict(series.tags)) + b',"datapoints":', points, b"}")


def _fast_json(series_list, max_data_points, no_null_points):
    """What _encode(json_entries(...)) gives through orjson, the datapoints of each
    series made at once (_fast_datapoints) and the document joined once; None when a
    value (after consolidation) is infinite."""
    parts = [b"["]
    for series, timestamps, values in _columns(series_list, max_data_points, no_null_points):
        points = _fast_datapoints(values, timestamps)
        if points is None:  # orjson writes infinities null; graphite-web writes 1e9999
            return None
        if len(parts) > 1:
            parts.append(b",")
        parts.extend(_series_json(series, points))
    parts.append(b"]")
    return b"".join(parts)


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
