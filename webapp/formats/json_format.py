"""json, dygraph and rickshaw: graphite-web 1.1.10's layouts.

json: `[{"target": NAME, "tags": {...}, "datapoints": [[value, timestamp], ...]}, ...]`
with null for gaps; an infinite value is written 1e9999 (parsed back as Infinity), as
Graphite does. jsonp wraps the body as `callback(...)` with
content type text/javascript; the server accepts only a JavaScript identifier there.

orjson, when installed, formats the floats (the bulk of the work) about five times
faster than the standard library; both give the same numbers and shapes, graphite-web's
`", "` spacing only with the standard library.
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


def json_entries(series_list, max_data_points=None, no_null_points=False):
    """The list graphite-web serialises: one dict per series (dropped if all-null and
    no_null_points); maxDataPoints consolidation is webapp.series.consolidate_all."""
    if max_data_points is not None:
        series_list = consolidate_all(series_list, max_data_points)
    entries = []
    for series in series_list:
        timestamps = series.timestamps()
        values = series.values[:len(timestamps)]
        if no_null_points:
            keep = np.flatnonzero(~np.isnan(values))
            if not len(keep):
                continue
            timestamps, values = timestamps[keep], values[keep]
        points = list(zip(_python_values(values), timestamps.tolist()))
        entries.append({"target": series.name, "tags": dict(series.tags), "datapoints": points})
    return entries


def render_json(series_list, options, max_data_points=None):
    entries = json_entries(series_list, max_data_points, options.no_null_points)
    return _wrap(_encode(entries, options.pretty, _all_finite(series_list)), options)


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
