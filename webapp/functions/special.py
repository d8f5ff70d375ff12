"""Special functions (graphite-web's 'Special' group) and constant/identity lines."""
import numpy as np

from webapp.functions import InvalidParameter, Param, ParamTypes, function
from webapp.functions.alias import substring_name
from webapp.functions.common import ctx_xff, derive, renamed
from webapp.series import CONSOLIDATION_FUNCS, TimeSeries

SERIES_LIST = Param("seriesList", ParamTypes.seriesList, required=True)


def _epoch(moment):
    return int(moment.timestamp())


@function("constantLine", "Special", [Param("value", ParamTypes.float, required=True)])
def constantLine(ctx, value):
    """A horizontal line at `value` across the whole graph (three points: start, middle,
    end). Example: ``constantLine(123.456)``."""
    start, end = _epoch(ctx.start_time), _epoch(ctx.end_time)
    step = int((end - start) / 2.0)
    series = TimeSeries(str(value), start, end, step, [value, value, value],
                        path_expression=f"constantLine({value})", x_files_factor=ctx_xff(ctx))
    return [series]


@function("identity", "Calculate", [Param("name", ParamTypes.string, required=True)])
def identity(ctx, name):
    """A series whose value at each minute is its own timestamp."""
    start, end = _epoch(ctx.start_time), _epoch(ctx.end_time)
    values = np.arange(start, end, 60, dtype=np.float64)
    return [TimeSeries(name, start, end, 60, values, path_expression=f'identity("{name}")',
                       x_files_factor=ctx_xff(ctx))]


@function("consolidateBy", "Special", [
    SERIES_LIST,
    Param("consolidationFunc", ParamTypes.string, required=True, options=CONSOLIDATION_FUNCS),
])
def consolidateBy(ctx, seriesList, consolidationFunc):
    """Sets how points are consolidated when a series has more points than pixels or
    maxDataPoints: sum, average (avg), avg_zero, min, max, first or last.
    Example: ``consolidateBy(Server.instance01.threads.busy,'max')``."""
    return [derive(series, f'consolidateBy({series.name},"{consolidationFunc}")', None,
                   {"consolidateBy": consolidationFunc}, consolidate_func=consolidationFunc)
            for series in seriesList]


@function("cumulative", "Special", [SERIES_LIST])
def cumulative(ctx, seriesList):
    """consolidateBy(seriesList, 'sum')."""
    return consolidateBy(ctx, seriesList, "sum")


@function("setXFilesFactor", "Special", [
    SERIES_LIST, Param("xFilesFactor", ParamTypes.float, required=True)],
    aliases=("xFilesFactor",))
def setXFilesFactor(ctx, seriesList, xFilesFactor):
    """Sets the share of non-null values (0 to 1) a consolidated point needs to be shown."""
    results = []
    for series in seriesList:
        copy = derive(series, series.name, None, {"xFilesFactor": xFilesFactor},
                      path_expression=series.path_expression, x_files_factor=xFilesFactor)
        results.append(copy)
    return results


def _changes(values):
    valid = ~np.isnan(values)
    index = np.arange(len(values))
    last = np.maximum.accumulate(np.where(valid, index, -1)) if len(values) else index
    previous = np.full(len(values), -1)
    previous[1:] = last[:-1]
    before = values[np.maximum(previous, 0)]
    return (valid & (previous >= 0) & (values != before)).astype(np.float64)


@function("changed", "Special", [SERIES_LIST])
def changed(ctx, seriesList):
    """1 where the value differs from the last non-null value before it, else 0."""
    return [derive(series, f"changed({series.name})", _changes(series.values))
            for series in seriesList]


@function("substr", "Special", [
    SERIES_LIST,
    Param("start", ParamTypes.node, default=0),
    Param("stop", ParamTypes.node, default=0),
])
def substr(ctx, seriesList, start=0, stop=0):
    """Names each series by the nodes start..stop of its metric name.
    Example: ``substr(carbon.agents.hostname.avgUpdateTime,2,4)`` is ``hostname.avgUpdateTime``."""
    return [renamed(series, substring_name(series.name, start, stop)) for series in seriesList]


@function("fallbackSeries", "Special", [
    SERIES_LIST, Param("fallback", ParamTypes.seriesList, required=True)])
def fallbackSeries(ctx, seriesList, fallback):
    """The series list, or `fallback` if it is empty.
    Example: ``fallbackSeries(server*.requests_per_second, constantLine(0))``."""
    return list(seriesList) if seriesList else list(fallback)


@function("threshold", "Graph", [
    Param("value", ParamTypes.float, required=True),
    Param("label", ParamTypes.string),
    Param("color", ParamTypes.string),
])
def threshold(ctx, value, label=None, color=None):
    """A constant line at `value`, named `label` and drawn in `color` if given.
    Example: ``threshold(123.456, "omgwtfbbq", "red")``."""
    series = constantLine(ctx, value)[0]
    if label:
        series.name = label
    if color:
        series.options["color"] = color
    return [series]


@function("randomWalk", "Special", [
    Param("name", ParamTypes.string, required=True),
    Param("step", ParamTypes.integer, default=60)], aliases=("randomWalkFunction",))
def randomWalkFunction(ctx, name, step=60):
    """A random walk from 0 (steps uniform in -0.5..0.5) every `step` seconds; the context
    may provide `random` (a numpy Generator) for repeatable walks."""
    start, end = _epoch(ctx.start_time), _epoch(ctx.end_time)
    count = max(0, -(-(end - start) // step))
    rng = getattr(ctx, "random", None) or np.random.default_rng()
    steps = rng.random(count) - 0.5
    values = np.concatenate([[0.0], np.cumsum(steps[:-1])]) if count else np.zeros(0)
    return [TimeSeries(name, start, end, step, values, x_files_factor=ctx_xff(ctx))]


def _at_time(ctx, text, param, caller):
    from webapp.attime import parse_at_time
    try:
        return int(parse_at_time(str(text), getattr(ctx, "tz", None), ctx.now).timestamp())
    except ValueError as error:
        raise InvalidParameter(caller, str(error), param) from None


@function("timeSlice", "Transform", [
    SERIES_LIST,
    Param("startSliceAt", ParamTypes.date, required=True),
    Param("endSliceAt", ParamTypes.date, default="now"),
])
def timeSlice(ctx, seriesList, startSliceAt, endSliceAt="now"):
    """Keeps only the values between two times (at-time strings such as '-1h' or
    '12:00_20240101'); the rest become None. Example: ``timeSlice(network.core.port1,
    "00:00 20140101","11:59 20140630")``."""
    start = _at_time(ctx, startSliceAt, "startSliceAt", "timeSlice")
    end = _at_time(ctx, endSliceAt, "endSliceAt", "timeSlice")
    origin = _epoch(ctx.start_time)
    results = []
    for series in seriesList:
        stamps = origin + np.arange(len(series), dtype=np.int64) * series.step
        values = np.where((stamps < start) | (stamps > end), np.nan, series.values)
        results.append(derive(series, f"timeSlice({series.name}, {start}, {end})", values,
                              {"timeSliceStart": start, "timeSliceEnd": end},
                              path_expression=series.path_expression))
    return results


@function("verticalLine", "Graph", [
    Param("ts", ParamTypes.date, required=True),
    Param("label", ParamTypes.string),
    Param("color", ParamTypes.string),
])
def verticalLine(ctx, ts, label=None, color=None):
    """A vertical line at time `ts` (an at-time string), named `label`.
    Example: ``verticalLine("12:3420131108","event","blue")``."""
    moment = _at_time(ctx, ts, "ts", "verticalLine")
    if moment < _epoch(ctx.start_time):
        raise InvalidParameter("verticalLine", f"timestamp {moment} exists before start of "
                               "range", "ts")
    if moment > _epoch(ctx.end_time):
        raise InvalidParameter("verticalLine", f"timestamp {moment} exists after end of range",
                               "ts")
    options = {"drawAsInfinite": True}
    if color:
        options["color"] = color
    return [TimeSeries(label or f"verticalLine({ts})", moment, moment, 1, [1.0, 1.0],
                       x_files_factor=ctx_xff(ctx), options=options)]
