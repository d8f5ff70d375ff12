"""Sorting functions (graphite-web's 'Sorting' group)."""
import re

from webapp.functions import Param, ParamTypes, function
from webapp.functions.aggfuncs import resolve
from webapp.functions.filter import ranked, series_summary

SERIES_LIST = Param("seriesList", ParamTypes.seriesList, required=True)


def _natural_key(series):
    return re.sub(r"(\d+)", lambda match: f"{int(match.group(0)):010}", series.name)


@function("sortByName", "Sorting", [
    SERIES_LIST,
    Param("natural", ParamTypes.boolean, default=False),
    Param("reverse", ParamTypes.boolean, default=False),
])
def sortByName(ctx, seriesList, natural=False, reverse=False):
    """Sorts the series by name; `natural` compares runs of digits as numbers
    (server2 before server10)."""
    key = _natural_key if natural else (lambda series: series.name)
    return sorted(seriesList, key=key, reverse=reverse)


@function("sortBy", "Sorting", [
    SERIES_LIST,
    Param("func", ParamTypes.aggFunc, default="average"),
    Param("reverse", ParamTypes.boolean, default=False),
])
def sortBy(ctx, seriesList, func="average", reverse=False):
    """Sorts the series by an aggregate of their values (func, default average)."""
    return ranked(seriesList, resolve(func, "sortBy", allow_series_suffix=False), reverse)


@function("sortByTotal", "Sorting", [SERIES_LIST])
def sortByTotal(ctx, seriesList):
    """Sorts the series by the sum of their values, largest first."""
    return ranked(seriesList, "sum", reverse=True)


@function("sortByMaxima", "Sorting", [SERIES_LIST])
def sortByMaxima(ctx, seriesList):
    """Sorts the series by their maximum value, largest first."""
    return ranked(seriesList, "max", reverse=True)


@function("sortByMinima", "Sorting", [SERIES_LIST])
def sortByMinima(ctx, seriesList):
    """Sorts the series by their minimum value, smallest first, dropping the series whose
    maximum is not above 0."""
    maxima = series_summary(seriesList, "max")
    kept = [series for series, top in zip(seriesList, maxima) if (top or 0) > 0]
    return ranked(kept, "min", reverse=False)
