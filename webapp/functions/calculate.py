"""Calculate functions: moving windows and percentiles (graphite-web's 'Calculate' group)."""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from webapp.functions import InvalidParameter, Param, ParamTypes, function
from webapp.functions.aggfuncs import reduce_columns, resolve, xff_mask
from webapp.functions.combine import percentile_columns
from webapp.functions.common import derive, reevaluate
from webapp.functions.intervals import parse_interval

SERIES_LIST = Param("seriesList", ParamTypes.seriesList, required=True)
WINDOW_SUGGESTIONS = (5, 7, 10, "1min", "5min", "10min", "30min", "1hour")
WINDOW = Param("windowSize", ParamTypes.intOrInterval, required=True,
               suggestions=WINDOW_SUGGESTIONS)
XFF = Param("xFilesFactor", ParamTypes.float)
CHUNK_ELEMENTS = 1 << 21


STREAMED = ("sum", "average", "avg_zero", "count", "min", "max")


def _moving_streamed(values, window_points, count, func, x_files_factor):
    """moving_values for sums, counts and extremes: one pass per window offset, adding the
    window's values in order (as graphite's sum() over the window does)."""
    total = np.zeros(count)
    non_null = np.zeros(count)
    extreme = np.full(count, np.nan)
    pick = np.fmin if func == "min" else np.fmax
    for offset in range(window_points):
        part = values[1 + offset:1 + offset + count]
        valid = ~np.isnan(part)
        if func in ("min", "max"):
            pick(extreme, part, out=extreme)
        else:
            np.add(total, part, out=total, where=valid)
        non_null += valid
    with np.errstate(invalid="ignore", divide="ignore"):
        result = {"sum": total, "count": non_null, "min": extreme, "max": extreme}.get(
            func, total / non_null)
    keep = xff_mask(non_null, window_points, x_files_factor)
    return np.where(keep, result, np.nan)


def moving_values(values, window_points, func, x_files_factor):
    """graphite's movingWindow loop over one preview series: output j aggregates the
    `window_points` values ending at index j + window_points (non-null values only)."""
    count = max(len(values) - window_points, 0)
    if window_points <= 0 or count == 0:
        return np.full(count, np.nan)
    if func in STREAMED:
        return _moving_streamed(values, window_points, count, func, x_files_factor)
    windows = sliding_window_view(values[1:], window_points)[:count]
    result = np.empty(count)
    chunk = max(CHUNK_ELEMENTS // window_points, 1)
    for begin in range(0, count, chunk):
        matrix = np.ascontiguousarray(windows[begin:begin + chunk].T)
        valid = ~np.isnan(matrix)
        reduced = reduce_columns(matrix, func, present=valid)
        keep = xff_mask(valid.sum(axis=0), window_points, x_files_factor)
        result[begin:begin + chunk] = np.where(keep, reduced, np.nan)
    return result


def _preview_seconds(series_list, window_size):
    if isinstance(window_size, str):
        return abs(parse_interval(window_size))
    return max(series.step for series in series_list) * int(window_size)


def _moving(ctx, series_list, window_size, func, x_files_factor=None):
    """graphite's movingWindow: fetch again with `window_size` of history before the
    start, then aggregate a trailing window at each point."""
    canonical = resolve(func, "movingWindow", allow_series_suffix=False)
    if not series_list:
        return []
    preview = _preview_seconds(series_list, window_size)
    start = ctx.start_time - _timedelta(preview)
    tag = "moving" + func.capitalize()
    results = []
    for series in reevaluate(ctx, series_list, start, ctx.end_time):
        if isinstance(window_size, str):
            name = f'{tag}({series.name},"{window_size}")'
            points = preview // series.step
        else:
            name = f"{tag}({series.name},{window_size})"
            points = int(window_size)
        xff = x_files_factor if x_files_factor is not None else series.x_files_factor
        values = moving_values(series.values, points, canonical, xff)
        results.append(derive(series, name, values, {tag: window_size},
                              start=series.start + preview))
    return results


def _timedelta(seconds):
    from datetime import timedelta
    return timedelta(seconds=seconds)


@function("movingWindow", "Calculate", [
    SERIES_LIST, WINDOW, Param("func", ParamTypes.aggFunc, default="average"), XFF])
def movingWindow(ctx, seriesList, windowSize, func="average", xFilesFactor=None):
    """A trailing window aggregated with `func` at each point: windowSize is a number of
    points or an interval ("5min"). A window with too few values (xFilesFactor) is None.
    Example: ``movingWindow(Server.instance01.threads.busy,10,"sum")``."""
    return _moving(ctx, seriesList, windowSize, func, xFilesFactor)


@function("movingAverage", "Calculate", [SERIES_LIST, WINDOW, XFF])
def movingAverage(ctx, seriesList, windowSize, xFilesFactor=None):
    """The average of a trailing window of points or time at each point.
    Example: ``movingAverage(Server.instance01.threads.busy,'5min')``."""
    return _moving(ctx, seriesList, windowSize, "average", xFilesFactor)


@function("movingSum", "Calculate", [SERIES_LIST, WINDOW, XFF])
def movingSum(ctx, seriesList, windowSize, xFilesFactor=None):
    """The sum of a trailing window of points or time at each point."""
    return _moving(ctx, seriesList, windowSize, "sum", xFilesFactor)


@function("movingMin", "Calculate", [SERIES_LIST, WINDOW, XFF])
def movingMin(ctx, seriesList, windowSize, xFilesFactor=None):
    """The minimum of a trailing window of points or time at each point."""
    return _moving(ctx, seriesList, windowSize, "min", xFilesFactor)


@function("movingMax", "Calculate", [SERIES_LIST, WINDOW, XFF])
def movingMax(ctx, seriesList, windowSize, xFilesFactor=None):
    """The maximum of a trailing window of points or time at each point."""
    return _moving(ctx, seriesList, windowSize, "max", xFilesFactor)


@function("movingMedian", "Calculate", [SERIES_LIST, WINDOW, XFF])
def movingMedian(ctx, seriesList, windowSize, xFilesFactor=None):
    """The median of a trailing window of points or time at each point."""
    return _moving(ctx, seriesList, windowSize, "median", xFilesFactor)


def percentile_of(values, n, interpolate=False):
    """graphite's _getPercentile over the non-null values of one series (None if none)."""
    result = percentile_columns(np.asarray(values, dtype=np.float64)[:, None], n, interpolate)
    return None if np.isnan(result[0]) else float(result[0])


@function("nPercentile", "Calculate", [SERIES_LIST, Param("n", ParamTypes.float, required=True)])
def nPercentile(ctx, seriesList, n):
    """For each series, a constant line at its n-th percentile value (series without
    values are dropped). Example: ``nPercentile(Server*.connections.total, 95)``."""
    if not n:
        raise InvalidParameter("nPercentile", "The requested percent is required to be "
                               "greater than 0", "n")
    results = []
    for series in seriesList:
        value = percentile_of(series.values, n)
        if value is None:
            continue
        count = int((series.end - series.start) / series.step)
        results.append(derive(series, f"nPercentile({series.name}, {n:g})",
                              np.full(max(count, 0), value), {"nPercentile": n}))
    return results


def _running(values, points):
    """graphite's stdev running sums: at each index subtract the value leaving the window,
    then add the new one, in that order (a sequential cumsum over both)."""
    valid = np.where(np.isnan(values), 0.0, values)
    leaving = np.zeros(len(values))
    leaving[points:] = valid[:-points] if points else 0.0
    steps = np.empty(2 * len(values))
    steps[0::2] = -leaving
    steps[1::2] = valid
    return np.cumsum(steps)[1::2]


@function("stdev", "Calculate", [
    SERIES_LIST,
    Param("points", ParamTypes.integer, required=True),
    Param("windowTolerance", ParamTypes.float, default=0.1),
])
def stdev(ctx, seriesList, points, windowTolerance=0.1):
    """The standard deviation of a trailing window of `points` points at each point; None
    where fewer than windowTolerance of the window are non-null.
    Example: ``stdev(server*.instance*.threads.busy,30)``."""
    if points <= 0:
        raise InvalidParameter("stdev", "points must be positive", "points")
    results = []
    for series in seriesList:
        values = series.values
        valid = (~np.isnan(values)).astype(np.int64)
        count = np.cumsum(valid)
        count[points:] -= np.cumsum(valid)[:-points]
        total = _running(values, points)
        squares = _running(values * values, points)
        with np.errstate(all="ignore"):
            spread = count * squares - total * total
            deviation = np.where(spread >= 0, np.sqrt(spread) / count, np.nan)
        keep = (count > 0) & (count / points >= windowTolerance)
        results.append(derive(series, f"stdev({series.name},{int(points)})",
                              np.where(keep, deviation, np.nan), {"stdev": points}))
    return results


@function("aggregateLine", "Calculate", [
    SERIES_LIST,
    Param("func", ParamTypes.aggFunc, default="average"),
    Param("keepStep", ParamTypes.boolean, default=False),
])
def aggregateLine(ctx, seriesList, func="average", keepStep=False):
    """For each series a horizontal line at its aggregate (func, default average).
    Example: ``aggregateLine(server01.connections.total, 'avg')``."""
    from webapp.functions.aggfuncs import reduce_vector
    from webapp.functions.special import constantLine
    canonical = resolve(func, "aggregateLine", allow_series_suffix=False)
    results = []
    for series in seriesList:
        value = reduce_vector(series.values, canonical)
        name = f"aggregateLine({series.name}, {'None' if value is None else format(value, 'g')})"
        fill = np.nan if value is None else value
        if keepStep:
            results.append(derive(series, name, np.full(len(series), fill)))
        else:
            line = constantLine(ctx, value)
            line[0].name = line[0].path_expression = name
            results.append(line[0])
    return results


def _regression(source):
    """graphite's _linearRegressionAnalysis: (factor, offset) per second, or None."""
    values = source.values
    index = np.flatnonzero(~np.isnan(values))
    if not len(index):
        return None
    present = values[index]
    n = len(index)
    sum_i = int(index.sum())
    sum_v = float(np.cumsum(present)[-1])
    sum_ii = int((index * index).sum())
    sum_iv = float(np.cumsum(index * present)[-1])
    denominator = float(n * sum_ii - sum_i * sum_i)
    if denominator == 0:
        return None
    factor = (n * sum_iv - sum_i * sum_v) / denominator / source.step
    offset = (sum_ii * sum_v - sum_iv * sum_i) / denominator - factor * source.start
    return factor, offset


@function("linearRegression", "Calculate", [
    SERIES_LIST,
    Param("startSourceAt", ParamTypes.date),
    Param("endSourceAt", ParamTypes.date),
])
def linearRegression(ctx, seriesList, startSourceAt=None, endSourceAt=None):
    """The least-squares line of each series, fitted over [startSourceAt, endSourceAt]
    (default: the request's period) and drawn over the request's period."""
    start, end = ctx.start_time, ctx.end_time
    if startSourceAt is not None or endSourceAt is not None:
        from webapp.attime import parse_at_time
        if startSourceAt is not None:
            start = parse_at_time(str(startSourceAt), ctx.tz, ctx.now)
        if endSourceAt is not None:
            end = parse_at_time(str(endSourceAt), ctx.tz, ctx.now)
    sources = reevaluate(ctx, seriesList, start, end)
    span = f"{int(start.timestamp())}, {int(end.timestamp())}"
    results = []
    for source, series in zip(sources, seriesList):
        forecast = _regression(source)
        if forecast is None:
            continue
        factor, offset_ = forecast
        stamps = series.start + np.arange(len(series), dtype=np.int64) * series.step
        name = f"linearRegression({series.name}, {span})"
        results.append(derive(series, name, offset_ + stamps * factor,
                              {"linearRegressions": span}))
    return results
