"""Filter functions: choose series ('Filter Series') or drop points ('Filter Data')."""
import numpy as np

from webapp.functions import InvalidParameter, Param, ParamTypes, function
from webapp.functions.aggfuncs import reduce_columns, reduce_vector, resolve, xff_mask
from webapp.functions.calculate import percentile_of
from webapp.functions.combine import percentile_columns
from webapp.functions.common import compile_regex, derive
from webapp.series import stack

SERIES_LIST = Param("seriesList", ParamTypes.seriesList, required=True)
N_INT = Param("n", ParamTypes.integer, required=True)
N_FLOAT = Param("n", ParamTypes.float, required=True)
PATTERN = Param("pattern", ParamTypes.string, required=True)
OPERATORS = {
    "=": lambda value, threshold: value is not None and value == threshold,
    "!=": lambda value, threshold: value is None or value != threshold,
    ">": lambda value, threshold: value is not None and value > threshold,
    ">=": lambda value, threshold: value is not None and value >= threshold,
    "<": lambda value, threshold: value is None or value < threshold,
    "<=": lambda value, threshold: value is None or value <= threshold,
}


BATCHED = ("sum", "average", "avg_zero", "count", "min", "max")
BATCH = 64


def _batch_values(rows, matrix, valid, func):
    """Aggregates of up to BATCH rows, worked in place in the reused `matrix`/`valid`."""
    matrix = matrix[:len(rows)]
    valid = valid[:len(rows)]
    matrix.fill(np.nan)
    for index, row in enumerate(rows):
        matrix[index, :len(row)] = row
    np.isnan(matrix, out=valid)
    np.logical_not(valid, out=valid)
    count = valid.sum(axis=1)
    if func in ("min", "max"):
        return (np.fmin if func == "min" else np.fmax).reduce(matrix, axis=1), count
    np.nan_to_num(matrix, copy=False, nan=0.0)
    np.cumsum(matrix, axis=1, out=matrix)  # row by row, in order: Python's sum()
    return matrix[:, -1].copy(), count


def _batched_summary(series_list, func):
    """series_summary for the cheap aggregations, a batch of series at a time."""
    width = max((len(series) for series in series_list), default=0)
    if not width:
        return [0.0 if func == "count" else None for _ in series_list]
    matrix = np.empty((min(BATCH, len(series_list)), width))
    valid = np.empty(matrix.shape, dtype=bool)
    results = []
    for begin in range(0, len(series_list), BATCH):
        rows = [series.values for series in series_list[begin:begin + BATCH]]
        lengths = np.array([len(row) for row in rows], dtype=np.float64)
        value, count = _batch_values(rows, matrix, valid, func)
        with np.errstate(invalid="ignore", divide="ignore"):
            value = {"average": value / count, "avg_zero": value / lengths,
                     "count": count.astype(np.float64)}.get(func, value)
        exists = lengths > 0 if func == "avg_zero" else (
            np.ones(len(rows), dtype=bool) if func == "count" else count > 0)
        results.extend(float(v) if ok else None for v, ok in zip(value.tolist(), exists))
    return results


def series_summary(series_list, func):
    """One aggregate (canonical graphite name) per series over all its values, as
    graphite-web's aggFuncs called on each series (None for a series with no value)."""
    if func in BATCHED:
        return _batched_summary(series_list, func)
    return [reduce_vector(series.values, func) for series in series_list]


def _sort_key(value):
    return float("-inf") if value is None else value


def ranked(series_list, func, reverse):
    """series_list sorted by an aggregate, None lowest (graphite's keyFunc), stable."""
    keys = series_summary(series_list, func)
    order = sorted(range(len(series_list)), key=lambda i: _sort_key(keys[i]), reverse=reverse)
    return [series_list[i] for i in order]


@function("filterSeries", "Filter Series", [
    SERIES_LIST,
    Param("func", ParamTypes.aggFunc, required=True),
    Param("operator", ParamTypes.string, required=True, options=tuple(sorted(OPERATORS))),
    Param("threshold", ParamTypes.float, required=True),
])
def filterSeries(ctx, seriesList, func, operator, threshold):
    """Keeps the series whose aggregate (func over all points) compares true against the
    threshold. Example: ``filterSeries(system.interface.eth*.packetsSent, 'max', '>', 1000)``."""
    canonical = resolve(func, "filterSeries", allow_series_suffix=False)
    if operator not in OPERATORS:
        raise InvalidParameter("filterSeries", f"Unsupported operator: {operator}", "operator")
    compare = OPERATORS[operator]
    summaries = series_summary(seriesList, canonical)
    return [series for series, value in zip(seriesList, summaries) if compare(value, threshold)]


def _threshold_filter(name, func, operator, doc):
    def threshold_filter(ctx, seriesList, n):
        return filterSeries(ctx, seriesList, func, operator, n)
    threshold_filter.__doc__ = doc
    threshold_filter.__name__ = threshold_filter.__qualname__ = name
    return function(name, "Filter Series", [SERIES_LIST, N_FLOAT])(threshold_filter)


maximumAbove = _threshold_filter("maximumAbove", "max", ">",
                                 "Keeps the series whose maximum is above n.")
minimumAbove = _threshold_filter("minimumAbove", "min", ">",
                                 "Keeps the series whose minimum is above n.")
maximumBelow = _threshold_filter("maximumBelow", "max", "<=",
                                 "Keeps the series whose maximum is at most n.")
minimumBelow = _threshold_filter("minimumBelow", "min", "<=",
                                 "Keeps the series whose minimum is at most n.")
currentAbove = _threshold_filter("currentAbove", "last", ">",
                                 "Keeps the series whose last value is above n.")
currentBelow = _threshold_filter("currentBelow", "last", "<=",
                                 "Keeps the series whose last value is at most n (or None).")
averageAbove = _threshold_filter("averageAbove", "average", ">",
                                 "Keeps the series whose average is above n.")
averageBelow = _threshold_filter("averageBelow", "average", "<=",
                                 "Keeps the series whose average is at most n (or None).")


@function("highest", "Filter Series", [
    SERIES_LIST, N_INT, Param("func", ParamTypes.aggFunc, default="average")])
def highest(ctx, seriesList, n=1, func="average"):
    """The n series with the highest aggregate (func, default average).
    Example: ``highest(server*.instance*.threads.busy,5,'max')``."""
    canonical = resolve(func, "highest", allow_series_suffix=False)
    return ranked(seriesList, canonical, reverse=True)[:int(n)]


@function("lowest", "Filter Series", [
    SERIES_LIST, N_INT, Param("func", ParamTypes.aggFunc, default="average")])
def lowest(ctx, seriesList, n=1, func="average"):
    """The n series with the lowest aggregate (func, default average)."""
    canonical = resolve(func, "lowest", allow_series_suffix=False)
    return ranked(seriesList, canonical, reverse=False)[:int(n)]


@function("highestAverage", "Filter Series", [SERIES_LIST, N_INT])
def highestAverage(ctx, seriesList, n):
    """The n series with the highest average."""
    return highest(ctx, seriesList, n, "average")


@function("highestCurrent", "Filter Series", [SERIES_LIST, N_INT])
def highestCurrent(ctx, seriesList, n):
    """The n series with the highest last value."""
    return highest(ctx, seriesList, n, "current")


@function("highestMax", "Filter Series", [SERIES_LIST, N_INT])
def highestMax(ctx, seriesList, n):
    """The n series with the highest maximum."""
    return highest(ctx, seriesList, n, "max")


@function("lowestAverage", "Filter Series", [SERIES_LIST, N_INT])
def lowestAverage(ctx, seriesList, n):
    """The n series with the lowest average."""
    return lowest(ctx, seriesList, n, "average")


@function("lowestCurrent", "Filter Series", [SERIES_LIST, N_INT])
def lowestCurrent(ctx, seriesList, n):
    """The n series with the lowest last value."""
    return lowest(ctx, seriesList, n, "current")


@function("limit", "Filter Series", [SERIES_LIST, N_INT])
def limit(ctx, seriesList, n):
    """The first n series. Example: ``limit(server*.instance*.memory.free,5)``."""
    return list(seriesList[0:n])


@function("exclude", "Filter Series", [SERIES_LIST, PATTERN])
def exclude(ctx, seriesList, pattern):
    """Drops the series whose name matches the regular expression.
    Example: ``exclude(servers*.instance*.threads.busy,"server02")``."""
    regex = compile_regex(ctx, pattern, "exclude")
    return [series for series in seriesList if not regex.search(series.name)]


@function("grep", "Filter Series", [SERIES_LIST, PATTERN])
def grep(ctx, seriesList, pattern):
    """Keeps the series whose name matches the regular expression.
    Example: ``grep(servers*.instance*.threads.busy,"server02")``."""
    regex = compile_regex(ctx, pattern, "grep")
    return [series for series in seriesList if regex.search(series.name)]


@function("removeEmptySeries", "Filter Series",
          [SERIES_LIST, Param("xFilesFactor", ParamTypes.float)])
def removeEmptySeries(ctx, seriesList, xFilesFactor=None):
    """Drops the series with no value (or with fewer non-null values than xFilesFactor)."""
    xff = xFilesFactor if xFilesFactor is not None else 0
    return [series for series in seriesList
            if len(series) and xff_mask(np.count_nonzero(~np.isnan(series.values)),
                                        len(series), xff)]


@function("unique", "Filter Series",
          [Param("seriesLists", ParamTypes.seriesList, required=True, multiple=True)])
def unique(ctx, *seriesLists):
    """The series of all lists with duplicate names removed (first one kept)."""
    seen = set()
    results = []
    for series in (s for series_list in seriesLists for s in series_list):
        if series.name not in seen:
            seen.add(series.name)
            results.append(series)
    return results


@function("mostDeviant", "Filter Series", [SERIES_LIST, N_INT])
def mostDeviant(ctx, seriesList, n):
    """The n series with the largest variance (None-free points), most deviant first."""
    deviants = []
    for series in seriesList:
        values = series.values[~np.isnan(series.values)]
        if not len(values):
            continue
        mean = reduce_columns(values[:, None], "average")[0]
        deviation = values - mean
        sigma = reduce_columns((deviation * deviation)[:, None], "sum")[0] / len(values)
        deviants.append((sigma, series))
    deviants.sort(key=lambda pair: pair[0], reverse=True)
    return [series for _, series in deviants][:n]


@function("removeBetweenPercentile", "Filter Series", [SERIES_LIST, N_FLOAT])
def removeBetweenPercentile(ctx, seriesList, n):
    """Keeps the series that have at least one point outside the n-th and (100-n)-th
    percentiles of all series at that point."""
    if n < 50:
        n = 100 - n
    if not seriesList:
        return []
    width = min(len(series) for series in seriesList)
    matrix = stack(seriesList)[:, :width]
    low = percentile_columns(matrix, 100 - n)
    high = percentile_columns(matrix, n)
    with np.errstate(invalid="ignore"):
        outside = (matrix <= low) | (matrix >= high)
    return [series for series, row in zip(seriesList, outside) if row.any()]


def _remove_beyond(series_list, n, name, keep):
    """Values outside the series' n-th percentile set to None; like graphite-web (which gets
    the percentile from nPercentile) the series is tagged nPercentile when it has one."""
    results = []
    for series in series_list:
        label = f"{name}({series.name}, {n:g})"
        percentile = percentile_of(series.values, n) if n else None
        if percentile is None:
            results.append(derive(series, label))
            continue
        with np.errstate(invalid="ignore"):
            values = np.where(keep(series.values, percentile), series.values, np.nan)
        results.append(derive(series, label, values, {"nPercentile": n}))
    return results


@function("removeAbovePercentile", "Filter Data", [SERIES_LIST, N_FLOAT])
def removeAbovePercentile(ctx, seriesList, n):
    """Sets to None the values above the series' n-th percentile."""
    return _remove_beyond(seriesList, n, "removeAbovePercentile",
                          lambda v, p: np.isnan(v) | (v <= p))


@function("removeBelowPercentile", "Filter Data", [SERIES_LIST, N_FLOAT])
def removeBelowPercentile(ctx, seriesList, n):
    """Sets to None the values below the series' n-th percentile."""
    return _remove_beyond(seriesList, n, "removeBelowPercentile", lambda v, p: v >= p)


@function("removeAboveValue", "Filter Data", [SERIES_LIST, N_FLOAT])
def removeAboveValue(ctx, seriesList, n):
    """Sets to None the values above n. Example: ``removeAboveValue(Server*.bytes,1e9)``."""
    with np.errstate(invalid="ignore"):
        return [derive(series, f"removeAboveValue({series.name}, {n:g})",
                       np.where(series.values > n, np.nan, series.values))
                for series in seriesList]


@function("removeBelowValue", "Filter Data", [SERIES_LIST, N_FLOAT])
def removeBelowValue(ctx, seriesList, n):
    """Sets to None the values below n. Example: ``removeBelowValue(Server*.bytes,0)``."""
    with np.errstate(invalid="ignore"):
        return [derive(series, f"removeBelowValue({series.name}, {n:g})",
                       np.where(series.values < n, np.nan, series.values))
                for series in seriesList]


@function("averageOutsidePercentile", "Filter Series", [SERIES_LIST, N_FLOAT])
def averageOutsidePercentile(ctx, seriesList, n):
    """Keeps the series whose average is not strictly between the n-th and (100-n)-th
    percentiles of all the series' averages."""
    averages = series_summary(seriesList, "average")
    if n < 50:
        n = 100 - n
    known = np.array([np.nan if a is None else a for a in averages])
    low, high = percentile_of(known, 100 - n), percentile_of(known, n)
    if low is None:
        return list(seriesList)
    return [series for series, average in zip(seriesList, averages)
            if average is None or not low < average < high]


@function("useSeriesAbove", "Filter Series", [
    SERIES_LIST,
    Param("value", ParamTypes.float, required=True),
    Param("search", ParamTypes.string, required=True),
    Param("replace", ParamTypes.string, required=True),
])
def useSeriesAbove(ctx, seriesList, value, search, replace):
    """For each series whose maximum is above `value`, fetches the series named by
    replacing `search` with `replace` in its name. Example:
    ``useSeriesAbove(ganglia.metric1.reqs,10,'reqs','time')``."""
    regex = compile_regex(ctx, search, "useSeriesAbove")
    maxima = series_summary(seriesList, "max")
    names = [regex.sub(replace, series.name) for series, top in zip(seriesList, maxima)
             if top is not None and top > value]
    if not names:
        return []
    fetched = ctx.evaluate(f"group({','.join(names)})")
    return [series for series in fetched if series is not None and len(series)]
