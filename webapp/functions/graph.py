"""graphite-web's graph-styling functions: they return new series whose `options`
(and sometimes names) tell the graph renderer how to draw them; the input series
are never changed. Names, groups and params as in graphite-web 1.1.10."""
import numpy as np

from webapp.functions import InvalidParameter, Param, ParamTypes, function
from webapp.functions.aggfuncs import reduce_columns, resolve
from webapp.graph.ticks import format_units

SERIES_LIST = Param("seriesList", ParamTypes.seriesList, required=True)
DEFAULT_STACK = "__DEFAULT__"


def _styled(series, name=None, values=None, **options):
    """A copy of `series` with its options (kept, unlike TimeSeries.copy) updated."""
    new = series.copy(name=name, values=values)
    new.path_expression = series.path_expression if name is None else name
    new.options = {**series.options, **options}
    new.values_per_point = series.values_per_point
    return new


@function("color", "Graph", [SERIES_LIST, Param("theColor", ParamTypes.string, required=True)])
def color(ctx, seriesList, theColor):
    """Assigns the given colour (a name such as 'green', or hex 'ff0000' / '6464ffaa')."""
    return [_styled(s, color=theColor) for s in seriesList]


@function("alpha", "Graph", [SERIES_LIST, Param("alpha", ParamTypes.float, required=True)])
def alpha(ctx, seriesList, alpha):
    """Assigns the given alpha transparency (0 to 1) to the series."""
    return [_styled(s, alpha=alpha) for s in seriesList]


@function("dashed", "Graph", [SERIES_LIST, Param("dashLength", ParamTypes.float, default=5)])
def dashed(ctx, seriesList, dashLength=5):
    """Draws the series with dashes of the given length (default 5)."""
    out = []
    for s in seriesList:
        new = _styled(s, name=f"dashed({s.name}, {dashLength:g})", dashed=dashLength)
        new.tags = {**s.tags, "dashed": str(dashLength)}
        out.append(new)
    return out


@function("lineWidth", "Graph", [SERIES_LIST, Param("width", ParamTypes.float, required=True)])
def lineWidth(ctx, seriesList, width):
    """Draws the series with a line `width` pixels wide."""
    return [_styled(s, lineWidth=width) for s in seriesList]


@function("secondYAxis", "Graph", [SERIES_LIST])
def secondYAxis(ctx, seriesList):
    """Graphs the series on the secondary (right) y axis."""
    out = []
    for s in seriesList:
        new = _styled(s, name=f"secondYAxis({s.name})", secondYAxis=True)
        new.tags = {**s.tags, "secondYAxis": "1"}
        out.append(new)
    return out


@function("drawAsInfinite", "Graph", [SERIES_LIST])
def drawAsInfinite(ctx, seriesList):
    """Draws a full-height vertical line where the value is above zero (on/off events)."""
    out = []
    for s in seriesList:
        new = _styled(s, name=f"drawAsInfinite({s.name})", drawAsInfinite=True)
        new.tags = {**s.tags, "drawAsInfinite": "1"}
        out.append(new)
    return out


def _stack_totals(ctx):
    """The running totals of stacked() by stack name, kept for one request."""
    totals = getattr(ctx, "stack_totals", None)
    if totals is None:
        totals = {}
        ctx.stack_totals = totals
    return totals


@function("stacked", "Graph", [SERIES_LIST, Param("stack", ParamTypes.string)])
def stacked(ctx, seriesList, stack=DEFAULT_STACK):
    """Stacks these series on the ones before them in the same named stack, so a
    graph can mix stacked and unstacked series (areaMode=stacked stacks all)."""
    totals = _stack_totals(ctx)
    total = totals.get(stack, np.zeros(0))
    out = []
    for s in seriesList:
        if len(total) < len(s.values):
            total = np.concatenate([total, np.zeros(len(s.values) - len(total))])
        present = ~np.isnan(s.values)
        head = total[:len(s.values)] + np.where(present, s.values, 0.0)
        total = np.concatenate([head, total[len(s.values):]])
        values = np.where(present, head, np.nan)
        name = f"stacked({s.name})" if stack == DEFAULT_STACK else s.name
        new = _styled(s, name=name, values=values, stacked=True)
        if stack == DEFAULT_STACK:
            new.tags = {**s.tags, "stacked": stack}
        out.append(new)
    totals[stack] = total
    return out


@function("areaBetween", "Graph", [SERIES_LIST])
def areaBetween(ctx, seriesList):
    """Fills the band between exactly two series (use with areaMode=stacked)."""
    if len(seriesList) != 2:
        raise InvalidParameter("areaBetween", "areaBetween series argument must reference "
                               f"*exactly* 2 series, got {len(seriesList)}", "seriesList")
    lower, upper = seriesList
    name = f"areaBetween({upper.path_expression})"
    tags = {**upper.tags, "areaBetween": "1"}
    new_lower = _styled(lower, name=name, stacked=True, invisible=True)
    new_upper = _styled(upper, name=name, stacked=True)
    new_lower.tags, new_upper.tags = dict(tags), dict(tags)
    return [new_lower, new_upper]


def _aggregate(series, func):
    value = reduce_columns(series.values.reshape(-1, 1), func)[0]
    return None if np.isnan(value) else float(value)


@function("legendValue", "Alias", [
    SERIES_LIST,
    Param("valuesTypes", ParamTypes.string, multiple=True,
          options=("average", "avg_zero", "median", "sum", "min", "max", "diff", "stddev",
                   "count", "range", "multiply", "last", "rangeOf", "avg", "total",
                   "current", "si", "binary")),
])
def legendValue(ctx, seriesList, *valueTypes):
    """Appends values to the legend names: one or more of last, avg, total, min, max
    (any aggregation), optionally followed by 'si' or 'binary' to format them."""
    system = None
    if valueTypes and valueTypes[-1] in ("si", "binary"):
        system, valueTypes = valueTypes[-1], valueTypes[:-1]
    names = [s.name for s in seriesList]
    for value_type in valueTypes:
        try:
            func = resolve(value_type, "legendValue", allow_series_suffix=False)
        except InvalidParameter:
            func = None
        for i, s in enumerate(seriesList):
            value = "(?)" if func is None else _aggregate(s, func)
            if system is None:
                names[i] += f" ({value_type}: {value})"
            else:
                if value is None or isinstance(value, str):
                    shown = value
                else:
                    shown = "%.2f%s" % format_units(value, system=system)
                names[i] = "%-20s%-5s%-10s" % (names[i], value_type, shown)
    return [_styled(s, name=name) for s, name in zip(seriesList, names)]


def _cacti_format(system, units):
    def fmt(value):
        if system:
            scaled, prefix = format_units(value, system=system)
            return f"{scaled:.2f} {prefix}{units}" if units else f"{scaled:.2f}{prefix}"
        return f"{value:.2f} {units}" if units else f"{value:.2f}"
    return fmt


@function("cactiStyle", "Special", [
    SERIES_LIST,
    Param("system", ParamTypes.string, options=("si", "binary")),
    Param("units", ParamTypes.string),
])
def cactiStyle(ctx, seriesList, system=None, units=None):
    """Column-aligned legend names with Current, Max and Min values, as cacti shows
    them; `system` formats values with si or binary prefixes, `units` appends a unit."""
    if not seriesList:
        return []
    fmt = _cacti_format(system, units)
    stats = [(_aggregate(s, "last"), _aggregate(s, "max"), _aggregate(s, "min"))
             for s in seriesList]

    def width(index):
        return max(len(fmt(int(row[index] or 3))) for row in stats) + 3

    name_len = max(len(s.name) for s in seriesList)
    last_len, max_len, min_len = width(0), width(1), width(2)
    out = []
    for s, row in zip(seriesList, stats):
        last, high, low = ("nan" if v is None else fmt(v) for v in row)
        name = "%*s Current:%*s Max:%*s Min:%*s " % (-name_len, s.name, -last_len, last,
                                                      -max_len, high, -min_len, low)
        out.append(_styled(s, name=name))
    return out
