"""Alias functions: rename series (graphite-web's 'Alias' group). Only the name changes; the
path expression stays, as in graphite-web."""
import re

import numpy as np

from webapp.functions import InvalidParameter, Param, ParamTypes, function
from webapp.functions.common import agg_key, compile_regex, renamed

SERIES_LIST = Param("seriesList", ParamTypes.seriesList, required=True)


@function("alias", "Alias", [SERIES_LIST, Param("newName", ParamTypes.string, required=True)])
def alias(ctx, seriesList, newName):
    """Names every series `newName`. Example: ``alias(Sales.widgets.largeBlue,"Large Blue")``."""
    return [renamed(series, newName) for series in seriesList]


@function("aliasByNode", "Alias",
          [SERIES_LIST, Param("nodes", ParamTypes.nodeOrTag, required=True, multiple=True)])
def aliasByNode(ctx, seriesList, *nodes):
    """Names each series by the given nodes of its name (0-based, negative from the end),
    or tag values, joined by '.'. Example: ``aliasByNode(ganglia.*.cpu.load5,1)``."""
    return [renamed(series, agg_key(series, nodes)) for series in seriesList]


@function("aliasByTags", "Alias",
          [SERIES_LIST, Param("tags", ParamTypes.nodeOrTag, required=True, multiple=True)])
def aliasByTags(ctx, seriesList, *tags):
    """Names each series by the values of the given tags (or nodes), joined by '.'."""
    return aliasByNode(ctx, seriesList, *tags)


def substring_name(name, start=0, stop=0):
    """graphite's substr() naming: the nodes start..stop of the innermost argument."""
    left = name.rfind("(") + 1
    right = name.find(")")
    if right < 0:
        right = len(name) + 1
    nodes = name[left:right].split(".")
    picked = nodes[int(start):] if int(stop) == 0 else nodes[int(start):int(stop)]
    return re.sub(",.*$", "", ".".join(picked))


@function("aliasByMetric", "Alias", [SERIES_LIST])
def aliasByMetric(ctx, seriesList):
    """Names each series by the last node of its metric name.
    Example: ``aliasByMetric(carbon.agents.graphite.creates)`` is ``creates``."""
    return [renamed(series, substring_name(series.name, -1, 0)) for series in seriesList]


@function("aliasSub", "Alias", [
    SERIES_LIST,
    Param("search", ParamTypes.string, required=True),
    Param("replace", ParamTypes.string, required=True),
])
def aliasSub(ctx, seriesList, search, replace):
    """Renames each series with a regular expression substitution (\\1 back-references).
    Example: ``aliasSub(ip.*TCP*,"^.*TCP(\\d+)","\\1")``."""
    regex = compile_regex(ctx, search, "aliasSub")
    try:
        return [renamed(series, regex.sub(replace, series.name)) for series in seriesList]
    except (re.error, IndexError) as error:
        raise InvalidParameter("aliasSub", f"invalid search/replace {search!r} -> "
                               f"{replace!r}: {error}", "search") from None


def _change_case(series_list, positions, convert):
    results = []
    for series in series_list:
        if not positions:
            results.append(renamed(series, convert(series.name)))
            continue
        letters = list(series.name)
        for position in positions:
            if -len(letters) <= position < len(letters):
                letters[position] = convert(letters[position])
        results.append(renamed(series, "".join(letters)))
    return results


CASE_PARAMS = [SERIES_LIST, Param("pos", ParamTypes.integer, multiple=True)]


@function("upper", "Alias", CASE_PARAMS)
def toUpperCase(ctx, seriesList, *pos):
    """Upper-cases the series names (only the characters at `pos` if given)."""
    return _change_case(seriesList, pos, str.upper)


@function("lower", "Alias", CASE_PARAMS)
def toLowerCase(ctx, seriesList, *pos):
    """Lower-cases the series names (only the characters at `pos` if given)."""
    return _change_case(seriesList, pos, str.lower)


@function("aliasQuery", "Alias", [
    SERIES_LIST,
    Param("search", ParamTypes.string, required=True),
    Param("replace", ParamTypes.string, required=True),
    Param("newName", ParamTypes.string, required=True),
])
def aliasQuery(ctx, seriesList, search, replace, newName):
    """Names each series by the last value of another query: the series name with the
    regular expression substitution applied is evaluated, and its last non-null value is
    formatted into `newName` with %. Example:
    ``aliasQuery(channel.power.*,"channel\\.power\\.([0-9]+)","channel.frequency.\\1",
    "Channel %d MHz")``."""
    regex = compile_regex(ctx, search, "aliasQuery")
    results = []
    for series in seriesList:
        query = regex.sub(replace, series.name)
        found = ctx.evaluate(query)
        if not found:
            raise InvalidParameter("aliasQuery", f"No series found with query: {query}")
        valid = found[0].values[~np.isnan(found[0].values)]
        if not len(valid):
            raise InvalidParameter("aliasQuery", f"Cannot get last value of series: {query}")
        try:
            results.append(renamed(series, newName % float(valid[-1])))
        except (TypeError, ValueError) as error:
            raise InvalidParameter("aliasQuery", f"cannot format {newName!r}: {error}",
                                   "newName") from None
    return results
