"""Combine functions: several series into fewer (graphite-web's 'Combine' group)."""
import numpy as np

from webapp.functions import InvalidParameter, Param, ParamTypes, function
from webapp.functions.aggfuncs import aggregate_rows, resolve
from webapp.functions.common import agg_key, ctx_xff, format_path_expressions, renamed
from webapp.series import TimeSeries, normalize, stack

SERIES_LISTS = [Param("seriesLists", ParamTypes.seriesList, required=True, multiple=True)]
SERIES_LIST = Param("seriesList", ParamTypes.seriesList, required=True)


def _aggregate(ctx, series_lists, func, x_files_factor=None):
    """graphite's aggregate() over a list of series lists; [] if there is no series."""
    short = func[:-6] if func.endswith("Series") else func
    canonical = resolve(func)
    if not any(series_lists):
        return []
    series_list, start, end, step = normalize(series_lists)
    xff = x_files_factor if x_files_factor is not None else ctx_xff(ctx)
    name = f"{short}Series({format_path_expressions(series_list)})"
    values = aggregate_rows([series.values for series in series_list], canonical, xff)
    tags = dict(series_list[0].tags)
    for series in series_list[1:]:
        tags = {k: v for k, v in tags.items() if series.tags.get(k) == v}
    tags.setdefault("name", name)
    tags["aggregatedBy"] = short
    return [TimeSeries(name, start, end, step, values, tags=tags, x_files_factor=xff)]


@function("aggregate", "Combine", [
    SERIES_LIST,
    Param("func", ParamTypes.aggFunc, required=True),
    Param("xFilesFactor", ParamTypes.float),
])
def aggregate(ctx, seriesList, func, xFilesFactor=None):
    """Aggregate series point by point with one function: average (avg), avg_zero, median,
    sum (total), min, max, diff, stddev, count, range (rangeOf), multiply, last (current).

    Example: ``aggregate(host.cpu-[0-7].cpu-{user,system}.value, "sum")`` is
    ``sumSeries(host.cpu-[0-7].cpu-{user,system}.value)``. Series of different steps are
    consolidated to their least common step first."""
    return _aggregate(ctx, [seriesList], func, xFilesFactor)


@function("sumSeries", "Combine", SERIES_LISTS, aliases=("sum",), aggregator=True)
def sumSeries(ctx, *seriesLists):
    """Short form: sum(). Adds the series together point by point (None counts as nothing;
    a point where every series is None stays None). Example: ``sum(app*.requests)``."""
    return _aggregate(ctx, seriesLists, "sum")


@function("averageSeries", "Combine", SERIES_LISTS, aliases=("avg",), aggregator=True)
def averageSeries(ctx, *seriesLists):
    """Short form: avg(). The average of the non-None values of the series at each point."""
    return _aggregate(ctx, seriesLists, "average")


@function("maxSeries", "Combine", SERIES_LISTS, aggregator=True)
def maxSeries(ctx, *seriesLists):
    """For each point, the maximum of the series' values."""
    return _aggregate(ctx, seriesLists, "max")


@function("minSeries", "Combine", SERIES_LISTS, aggregator=True)
def minSeries(ctx, *seriesLists):
    """For each point, the minimum of the series' values."""
    return _aggregate(ctx, seriesLists, "min")


@function("diffSeries", "Combine", SERIES_LISTS, aggregator=True)
def diffSeries(ctx, *seriesLists):
    """Subtracts series 2 through n from series 1 (None values are skipped). To subtract a
    constant use offset()."""
    return _aggregate(ctx, seriesLists, "diff")


@function("stddevSeries", "Combine", SERIES_LISTS, aggregator=True)
def stddevSeries(ctx, *seriesLists):
    """The standard deviation of the series' values at each point."""
    return _aggregate(ctx, seriesLists, "stddev")


@function("rangeOfSeries", "Combine", SERIES_LISTS, aggregator=True)
def rangeOfSeries(ctx, *seriesLists):
    """The range (maximum minus minimum) of the series' values at each point."""
    return _aggregate(ctx, seriesLists, "rangeOf")


@function("multiplySeries", "Combine", SERIES_LISTS, aggregator=True)
def multiplySeries(ctx, *seriesLists):
    """Multiplies the series point by point; a point where any series is None is None.
    A single series is returned unchanged."""
    if len(seriesLists) == 1 and len(seriesLists[0]) == 1:
        return list(seriesLists[0])
    return _aggregate(ctx, seriesLists, "multiply")


@function("countSeries", "Combine",
          [Param("seriesLists", ParamTypes.seriesList, multiple=True)], aggregator=True)
def countSeries(ctx, *seriesLists):
    """The number of series given, as a series (a constant line at 0 without arguments)."""
    if not seriesLists:
        from webapp.functions.special import constantLine
        series = constantLine(ctx, 0)[0]
        series.path_expression = "countSeries()"
        return [series]
    series_list, start, end, step = normalize(seriesLists)
    name = f"countSeries({format_path_expressions(series_list)})"
    width = max(len(series) for series in series_list)
    values = np.full(width, float(len(series_list)))
    return [TimeSeries(name, start, end, step, values, x_files_factor=ctx_xff(ctx))]


@function("group", "Combine", [Param("seriesLists", ParamTypes.seriesList, multiple=True)])
def group(ctx, *seriesLists):
    """Takes any number of series lists and returns them as one list."""
    return [series for series_list in seriesLists for series in series_list]


def _safe_divide(dividend, divisor):
    """graphite's safeDiv over arrays: None when either is None or the divisor is 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        quotient = dividend / divisor
    return np.where(divisor == 0, np.nan, quotient)


def _padded_pair(first, second):
    matrix = stack([first, second])
    return matrix[0], matrix[1]


def _divide(ctx, dividend, divisor):
    name = f"divideSeries({dividend.name},{divisor.name})"
    (first, second), start, end, step = normalize([[dividend, divisor]])
    values = _safe_divide(*_padded_pair(first, second))
    return TimeSeries(name, start, end, step, values, x_files_factor=ctx_xff(ctx))


@function("divideSeries", "Combine", [
    Param("dividendSeriesList", ParamTypes.seriesList, required=True),
    Param("divisorSeries", ParamTypes.seriesList, required=True),
])
def divideSeries(ctx, dividendSeriesList, divisorSeries):
    """Divides each dividend series by the one divisor series (None where the divisor is
    None or 0). Without a divisor series every result is None, named ...MISSING."""
    if not divisorSeries:
        return [renamed(series, f"divideSeries({series.name},MISSING)").copy(
                    values=np.full(len(series), np.nan),
                    path_expression=f"divideSeries({series.name},MISSING)")
                for series in dividendSeriesList]
    if len(divisorSeries) > 1:
        raise InvalidParameter("divideSeries", "second argument must reference exactly 1 "
                               f"series (got {len(divisorSeries)})", "divisorSeries")
    return [_divide(ctx, series, divisorSeries[0]) for series in dividendSeriesList]


@function("divideSeriesLists", "Combine", [
    Param("dividendSeriesList", ParamTypes.seriesList, required=True),
    Param("divisorSeriesList", ParamTypes.seriesList, required=True),
])
def divideSeriesLists(ctx, dividendSeriesList, divisorSeriesList):
    """Divides the n-th dividend series by the n-th divisor series; the lists must be the
    same length."""
    if len(dividendSeriesList) != len(divisorSeriesList):
        raise InvalidParameter("divideSeriesLists", "dividendSeriesList and "
                               "divisorSeriesList argument must have equal length")
    return [_divide(ctx, a, b) for a, b in zip(dividendSeriesList, divisorSeriesList)]


PAIR_PARAMS = [
    Param("seriesListFirstPos", ParamTypes.seriesList, required=True),
    Param("seriesListSecondPos", ParamTypes.seriesList, required=True),
]


@function("aggregateSeriesLists", "Combine", PAIR_PARAMS + [
    Param("func", ParamTypes.aggFunc, required=True),
    Param("xFilesFactor", ParamTypes.float),
])
def aggregateSeriesLists(ctx, seriesListFirstPos, seriesListSecondPos, func, xFilesFactor=None):
    """Aggregates list1[0] with list2[0], list1[1] with list2[1] and so on; the lists must
    be the same length."""
    if len(seriesListFirstPos) != len(seriesListSecondPos):
        raise InvalidParameter("aggregateSeriesLists", "seriesListFirstPos and "
                               "seriesListSecondPos argument must have equal length")
    results = []
    for first, second in zip(seriesListFirstPos, seriesListSecondPos):
        result = _aggregate(ctx, [[first, second]], func, xFilesFactor)[0]
        result.name = result.name[:result.name.find("Series(")] + \
            f"Series({first.name},{second.name})"
        results.append(result)
    return results


@function("sumSeriesLists", "Combine", PAIR_PARAMS, aggregator=True)
def sumSeriesLists(ctx, seriesListFirstPos, seriesListSecondPos):
    """Adds list1[0] to list2[0], list1[1] to list2[1] and so on."""
    return aggregateSeriesLists(ctx, seriesListFirstPos, seriesListSecondPos, "sum")


@function("diffSeriesLists", "Combine", PAIR_PARAMS, aggregator=True)
def diffSeriesLists(ctx, seriesListFirstPos, seriesListSecondPos):
    """Subtracts list2[0] from list1[0], list2[1] from list1[1] and so on."""
    return aggregateSeriesLists(ctx, seriesListFirstPos, seriesListSecondPos, "diff")


@function("multiplySeriesLists", "Combine", PAIR_PARAMS, aggregator=True)
def multiplySeriesLists(ctx, seriesListFirstPos, seriesListSecondPos):
    """Multiplies list1[0] by list2[0], list1[1] by list2[1] and so on."""
    return aggregateSeriesLists(ctx, seriesListFirstPos, seriesListSecondPos, "multiply")


def _aggregator_functions():
    """Series functions usable as groupByNodes callbacks, by name and alias."""
    table = {}
    for value in globals().values():
        spec = getattr(value, "spec", None)
        if spec is not None and getattr(spec, "aggregator", False):
            for name in (spec.name,) + spec.aliases:
                table[name] = spec.func
    return table


def _group_by(series_list, key_of):
    groups = {}
    for series in series_list:
        groups.setdefault(key_of(series), []).append(series)
    return groups


@function("groupByNodes", "Combine", [
    SERIES_LIST,
    Param("callback", ParamTypes.aggOrSeriesFunc, required=True),
    Param("nodes", ParamTypes.nodeOrTag, multiple=True),
])
def groupByNodes(ctx, seriesList, callback, *nodes):
    """Groups series by the given nodes (or tags) of their names and aggregates each group
    with `callback` (an aggregation such as "sum", or a series function such as
    "sumSeries"); each result is named by its key. Example:
    ``groupByNodes(ganglia.server*.*.cpu.load*, "sum", 1, 4)``."""
    functions = _aggregator_functions()
    results = []
    for key, members in _group_by(seriesList, lambda s: agg_key(s, nodes)).items():
        if callback in functions:
            produced = functions[callback](ctx, members)
        else:
            produced = _aggregate(ctx, [members], callback)
        result = produced[0]
        result.name = key
        results.append(result)
    return results


@function("groupByNode", "Combine", [
    SERIES_LIST,
    Param("nodeNum", ParamTypes.nodeOrTag, required=True),
    Param("callback", ParamTypes.aggOrSeriesFunc, default="average"),
])
def groupByNode(ctx, seriesList, nodeNum, callback="average"):
    """Groups series by one node (or tag) of their names and aggregates each group with
    `callback` (default average). Example: ``groupByNode(ganglia.*.cpu.load5, 1, "max")``."""
    return groupByNodes(ctx, seriesList, callback, nodeNum)


def _wildcard_key(series, positions):
    return ".".join(node for index, node in enumerate(series.name.split("."))
                    if index not in positions)


@function("aggregateWithWildcards", "Combine", [
    SERIES_LIST,
    Param("func", ParamTypes.aggFunc, required=True),
    Param("position", ParamTypes.node, multiple=True),
])
def aggregateWithWildcards(ctx, seriesList, func, *positions):
    """Groups series by their names without the given node positions and aggregates each
    group with `func`. Example:
    ``aggregateWithWildcards(host.cpu-[0-7].cpu-{user,system}.value, "sum", 1)``."""
    results = []
    for key, members in _group_by(seriesList, lambda s: _wildcard_key(s, positions)).items():
        result = _aggregate(ctx, [members], func)[0]
        result.name = key
        results.append(result)
    return results


WILDCARD_PARAMS = [SERIES_LIST, Param("position", ParamTypes.node, multiple=True)]


@function("sumSeriesWithWildcards", "Combine", WILDCARD_PARAMS, aggregator=True)
def sumSeriesWithWildcards(ctx, seriesList, *position):
    """sumSeries over the groups of series whose names agree outside the given positions."""
    return aggregateWithWildcards(ctx, seriesList, "sum", *position)


@function("averageSeriesWithWildcards", "Combine", WILDCARD_PARAMS, aggregator=True)
def averageSeriesWithWildcards(ctx, seriesList, *position):
    """averageSeries over the groups of series whose names agree outside the positions."""
    return aggregateWithWildcards(ctx, seriesList, "average", *position)


@function("multiplySeriesWithWildcards", "Combine", WILDCARD_PARAMS, aggregator=True)
def multiplySeriesWithWildcards(ctx, seriesList, *position):
    """multiplySeries over the groups of series whose names agree outside the positions."""
    return aggregateWithWildcards(ctx, seriesList, "multiply", *position)


def percentile_columns(matrix, n, interpolate=False):
    """graphite's _getPercentile for each column of `matrix` (NaN = None ignored)."""
    ordered = np.sort(matrix, axis=0)
    count = (~np.isnan(matrix)).sum(axis=0)
    fractional = (n / 100.0) * (count + 1)
    rank = fractional.astype(np.int64)
    fraction = fractional - rank
    if not interpolate:
        rank = rank + np.ceil(fraction).astype(np.int64)
    index = np.where(rank == 0, 0, np.where(rank - 1 == count, count - 1, rank - 1))
    last = np.maximum(count - 1, 0)
    columns = np.arange(matrix.shape[1])
    result = ordered[np.clip(index, 0, last), columns]
    if interpolate:
        following = ordered[np.clip(rank, 0, last), columns]
        result = np.where(rank != count, result + fraction * (following - result), result)
    return np.where(count > 0, result, np.nan)


@function("percentileOfSeries", "Combine", [
    SERIES_LIST,
    Param("n", ParamTypes.float, required=True),
    Param("interpolate", ParamTypes.boolean, default=False),
])
def percentileOfSeries(ctx, seriesList, n, interpolate=False):
    """The n-th percentile of the series' values at each point; unless `interpolate`, the
    result is always one of the values."""
    if n <= 0:
        raise InvalidParameter("percentileOfSeries",
                               "The requested percent is required to be greater than 0", "n")
    if not seriesList:
        return []
    name = f"percentileOfSeries({seriesList[0].path_expression},{n:g})"
    series_list, start, end, step = normalize([seriesList])
    values = percentile_columns(stack(series_list), n, interpolate)
    return [TimeSeries(name, start, end, step, values, x_files_factor=ctx_xff(ctx))]


def _percent(values, totals):
    return _safe_divide(values, totals) * 100.0


def _sum_group(ctx, members):
    if len(members) == 1:
        return members[0]
    name = f"sumSeries({format_path_expressions(members)})"
    normalized, start, end, step = normalize([members])
    values = aggregate_rows([series.values for series in normalized], "sum")
    return TimeSeries(name, start, end, step, values, x_files_factor=ctx_xff(ctx))


def _percent_pair(ctx, series, total):
    name = f"asPercent({series.name},{total.name})"
    pair, start, end, step = normalize([[series, total]])
    values = _percent(*_padded_pair(*pair))
    return TimeSeries(name, start, end, step, values, x_files_factor=ctx_xff(ctx))


def _missing(ctx, name, like):
    return TimeSeries(name, like.start, like.end, like.step, np.full(len(like), np.nan),
                      x_files_factor=ctx_xff(ctx))


def _as_percent_by_nodes(ctx, series_list, total, nodes):
    groups = _group_by(series_list, lambda s: agg_key(s, nodes))
    keys = list(groups)
    if total is None:
        totals = {key: _sum_group(ctx, members) for key, members in groups.items()}
    elif isinstance(total, list):
        total_groups = _group_by(total, lambda s: agg_key(s, nodes))
        keys += [key for key in total_groups if key not in groups]
        totals = {key: _sum_group(ctx, members) for key, members in total_groups.items()}
    else:
        raise InvalidParameter("asPercent", "total must be None or a seriesList", "total")
    results = []
    for key in keys:
        if key not in groups:
            results.append(_missing(ctx, f"asPercent(MISSING,{totals[key].name})", totals[key]))
            continue
        for series in groups[key]:
            if key in totals:
                results.append(_percent_pair(ctx, series, totals[key]))
            else:
                results.append(_missing(ctx, f"asPercent({series.name},MISSING)", series))
    return results


def _as_percent_of(ctx, series_list, total_values, total_text):
    results = []
    for series in series_list:
        width = max(len(series), len(total_values))
        values = np.full(width, np.nan)
        values[:len(series)] = series.values
        totals = np.full(width, np.nan)
        totals[:len(total_values)] = total_values
        name = f"asPercent({series.name},{total_text or series.path_expression})"
        results.append(TimeSeries(name, series.start, series.end, series.step,
                                  _percent(values, totals), x_files_factor=ctx_xff(ctx)))
    return results


@function("asPercent", "Combine", [
    SERIES_LIST,
    Param("total", ParamTypes.any),
    Param("nodes", ParamTypes.nodeOrTag, multiple=True),
], aliases=("pct",), aggregator=True)
def asPercent(ctx, seriesList, total=None, *nodes):
    """Each series as a percentage of a total: of the sum of all the series (no total), of a
    number, of one total series, of the matching series of a list of the same length, or
    (with nodes) of the total of its group, following groupByNodes. Unmatched series and
    totals give all-None series named asPercent(x,MISSING) / asPercent(MISSING,x).
    Examples:
    ``asPercent(Server01.connections.{failed,succeeded}, Server01.connections.attempted)``,
    ``asPercent(apache01.threads.busy,1500)``, ``asPercent(Server*.cpu.*.jiffies, None, 0)``."""
    series_list, _, _, _ = normalize([seriesList])
    if nodes:
        return _as_percent_by_nodes(ctx, series_list, total, nodes)
    if total is None:
        totals = aggregate_rows([series.values for series in series_list], "sum")
        return _as_percent_of(ctx, series_list, totals,
                              f"sumSeries({format_path_expressions(series_list)})")
    if isinstance(total, list):
        if len(total) not in (1, len(series_list)):
            raise InvalidParameter("asPercent", "second argument must be missing, a single "
                                   "digit, reference exactly 1 series or reference the same "
                                   "number of series as the first argument", "total")
        if len(total) == len(series_list):
            pairs = zip(sorted(series_list, key=lambda s: s.name),
                        sorted(total, key=lambda s: s.name))
            return [_percent_pair(ctx, series, divisor) for series, divisor in pairs]
        both, _, _, _ = normalize([series_list, total])
        return _as_percent_of(ctx, both[:-1], both[-1].values, both[-1].name)
    if isinstance(total, bool) or not isinstance(total, (int, float)):
        raise InvalidParameter("asPercent", f"total must be a number or a seriesList, "
                               f"not {total!r}", "total")
    return _as_percent_of(ctx, series_list, np.full(len(series_list[0]), float(total)),
                          str(total))


@function("powSeries", "Combine",
          [Param("seriesList", ParamTypes.seriesList, required=True, multiple=True)],
          aggregator=True)
def powSeries(ctx, *seriesLists):
    """Raises the first series to the power of the second, the result to the third, and so
    on, point by point (None where any is None or the power is undefined)."""
    from webapp.functions.transform import _safe_pow
    series_list, start, end, step = normalize(seriesLists)
    width = max(len(series) for series in series_list)
    rows = [np.concatenate([s.values, np.full(width - len(s), np.nan)]) for s in series_list]
    values = rows[0]
    for row in rows[1:]:
        values = _safe_pow(values, row)
    name = f"powSeries({','.join(series.name for series in series_list)})"
    return [TimeSeries(name, start, end, step, values, x_files_factor=ctx_xff(ctx))]


@function("groupByTags", "Combine", [
    SERIES_LIST,
    Param("callback", ParamTypes.aggOrSeriesFunc, required=True),
    Param("tags", ParamTypes.tag, required=True, multiple=True),
])
def groupByTags(ctx, seriesList, callback, *tags):
    """Groups tagged series by the values of the given tags and aggregates each group with
    `callback`; each result is named and tagged `name;tag=value;...`.
    Example: ``groupByTags(seriesByTag('name=cpu','dc=dc1'),'sum','dc')``."""
    from webapp.series import tags_for_name
    if "name" not in tags:
        names = {series.tags["name"] for series in seriesList}
        common = names.pop() if len(names) == 1 else callback

    def key_of(series):
        pairs = sorted(f"{tag}={series.tags.get(tag, '')}" for tag in tags if tag != "name")
        head = series.tags["name"] if "name" in tags else common
        return ";".join([head] + pairs)

    functions = _aggregator_functions()
    results = []
    for key, members in _group_by(seriesList, key_of).items():
        if callback in functions:
            result = functions[callback](ctx, members)[0]
        else:
            result = _aggregate(ctx, [members], callback)[0]
        result.name = result.path_expression = key
        result.tags = tags_for_name(key)
        results.append(result)
    return results


@function("mapSeries", "Combine", [
    SERIES_LIST, Param("mapNodes", ParamTypes.nodeOrTag, required=True, multiple=True)],
    aliases=("map",))
def mapSeries(ctx, seriesList, *mapNodes):
    """Splits a series list into lists of series that agree on the given nodes (or tags),
    for reduceSeries. Example: ``mapSeries(servers.*.cpu.*,1)``."""
    return list(_group_by(seriesList, lambda s: agg_key(s, mapNodes)).values())


@function("reduceSeries", "Combine", [
    Param("seriesLists", ParamTypes.seriesLists, required=True),
    Param("reduceFunction", ParamTypes.string, required=True),
    Param("reduceNode", ParamTypes.node, required=True),
    Param("reduceMatchers", ParamTypes.string, required=True, multiple=True),
], aliases=("reduce",))
def reduceSeries(ctx, seriesLists, reduceFunction, reduceNode, *reduceMatchers):
    """In each list of seriesLists (from mapSeries), picks the series whose node
    `reduceNode` is each of the matchers, calls `reduceFunction` with them as separate
    arguments and names the result `<nodes before reduceNode>.reduce.<reduceFunction>`.
    Example: ``reduceSeries(mapSeries(servers.*.disk.bytes_*,1),"asPercent",3,
    "bytes_used","bytes_max")``. Groups missing a matcher are skipped."""
    groups = {}
    for series in (s for series_list in seriesLists for s in series_list):
        nodes = series.name.split(".")
        if not -len(nodes) <= reduceNode < len(nodes) or nodes[reduceNode] not in reduceMatchers:
            continue
        key = ".".join(nodes[0:reduceNode]) + ".reduce." + reduceFunction
        slots = groups.setdefault(key, [None] * len(reduceMatchers))
        slots[reduceMatchers.index(nodes[reduceNode])] = series
    results = []
    for key, slots in groups.items():
        if any(slot is None for slot in slots):
            continue
        produced = ctx.registry.call(reduceFunction, ctx, [[slot] for slot in slots], {})
        if produced:
            result = produced[0]
            result.name = key
            results.append(result)
    return results


@function("applyByNode", "Combine", [
    SERIES_LIST,
    Param("nodeNum", ParamTypes.node, required=True),
    Param("templateFunction", ParamTypes.string, required=True),
    Param("newName", ParamTypes.string),
])
def applyByNode(ctx, seriesList, nodeNum, templateFunction, newName=None):
    """For each distinct prefix of the names up to node `nodeNum`, evaluates
    `templateFunction` with '%' replaced by the prefix (results named `newName` with '%'
    replaced, if given). Example: ``applyByNode(servers.*.disk.bytes_free,1,
    "divideSeries(%.disk.bytes_free,sumSeries(%.disk.bytes_*))")``."""
    prefixes = sorted({".".join(s.name.split(".")[:nodeNum + 1]) for s in seriesList})
    results = []
    for prefix in prefixes:
        for found in ctx.evaluate(templateFunction.replace("%", prefix)):
            result = renamed(found, newName.replace("%", prefix) if newName else found.name)
            result.path_expression = prefix
            result.start, result.end = seriesList[-1].start, seriesList[-1].end
            results.append(result)
    return results


@function("weightedAverage", "Combine", [
    Param("seriesListAvg", ParamTypes.seriesList, required=True),
    Param("seriesListWeight", ParamTypes.seriesList, required=True),
    Param("nodes", ParamTypes.nodeOrTag, multiple=True),
])
def weightedAverage(ctx, seriesListAvg, seriesListWeight, *nodes):
    """The average of seriesListAvg weighted by seriesListWeight, series matched by the
    given nodes: sum(avg * weight) / sum(weight) at each point.
    Example: ``weightedAverage(*.transactions.mean,*.transactions.count,0)``."""
    if len(seriesListAvg) != len(seriesListWeight):
        raise InvalidParameter(
            "weightedAverage", "must receive the same number of series for seriesListAvg and "
            f"seriesListWeight but received {len(seriesListAvg)} and {len(seriesListWeight)}")
    pairs = {}
    for average, weight in zip(seriesListAvg, seriesListWeight):
        pairs.setdefault(agg_key(average, nodes), {})["avg"] = average
        pairs.setdefault(agg_key(weight, nodes), {})["weight"] = weight
    products = []
    for pair in pairs.values():
        if "avg" not in pair or "weight" not in pair:
            continue
        average, weight = pair["avg"], pair["weight"]
        first, second = _padded_pair(average, weight)
        products.append(TimeSeries(f"product({weight.name},{average.name})", average.start,
                                   average.end, average.step, first * second,
                                   x_files_factor=ctx_xff(ctx)))
    if not products:
        return []
    total = _aggregate(ctx, [products], "sum")[0]
    weights = _aggregate(ctx, [seriesListWeight], "sum")[0]
    name = "weightedAverage({}, {}, {})".format(
        ",".join(sorted({s.path_expression for s in seriesListAvg})),
        ",".join(sorted({s.path_expression for s in seriesListWeight})),
        ",".join(map(str, nodes)))
    values = _safe_divide(*_padded_pair(total, weights))
    return [TimeSeries(name, total.start, total.end, total.step, values,
                       x_files_factor=ctx_xff(ctx))]
