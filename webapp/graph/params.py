"""Graph parameters: graphite-web's names and defaults, parsed once into a typed,
immutable GraphParams. A bad value raises InputError naming the parameter."""
import dataclasses
import math
import zoneinfo
from dataclasses import dataclass, field
from datetime import timezone
from types import MappingProxyType

from webapp.errors import InputError

LINE_MODES = ("slope", "staircase", "connected")
AREA_MODES = ("none", "first", "all", "stacked")
PIE_MODES = ("average", "maximum", "minimum")
PIE_LABELS = ("horizontal", "rotated")
VALUE_LABELS = ("none", "number", "percent")
UNIT_SYSTEMS = ("si", "binary", "sec", "msec", "none")
AXIS_SIDES = ("left", "right")
GRAPH_TYPES = ("line", "pie")
FORMATS = ("png", "svg", "pdf")
MAX_PIXELS = 10000


@dataclass(frozen=True)
class GraphParams:
    """Every graph parameter graphite-web knows, with its default. None means "not
    given": the drawing code then applies graphite's rule for it (for example the
    legend hides itself above 10 series unless hideLegend is given)."""

    width: int = 330
    height: int = 250
    margin: int = 10
    graphType: str = "line"
    template: str = "default"
    bgcolor: str | None = None
    fgcolor: str | None = None
    majorGridLineColor: str | None = None
    minorGridLineColor: str | None = None
    colorList: tuple | None = None
    fontName: str | None = None
    fontSize: float | None = None
    fontBold: bool | None = None
    fontItalic: bool | None = None
    title: str = ""
    vtitle: str = ""
    vtitleRight: str = ""
    lineMode: str = "slope"
    connectedLimit: float = math.inf
    lineWidth: float = 1.2
    areaMode: str = "none"
    areaAlpha: float | None = None
    drawNullAsZero: bool = False
    hideLegend: bool | None = None
    hideAxes: bool = False
    hideYAxis: bool = False
    hideXAxis: bool = False
    hideGrid: bool = False
    hideNullFromLegend: bool = False
    graphOnly: bool = False
    uniqueLegend: bool = False
    minorY: int = 1
    yMin: float | None = None
    yMax: float | str | None = None
    yLimit: float | None = None
    yStep: float | None = None
    yMinLeft: float | None = None
    yMinRight: float | None = None
    yMaxLeft: float | str | None = None
    yMaxRight: float | str | None = None
    yLimitLeft: float | None = None
    yLimitRight: float | None = None
    yStepLeft: float | None = None
    yStepRight: float | None = None
    logBase: float | None = None
    yUnitSystem: str = "si"
    yAxisSide: str = "left"
    yDivisors: tuple = (4, 5, 6)
    xFormat: str | None = None
    minXStep: float = 1.0
    leftWidth: float | None = None
    leftColor: str | None = None
    leftDashed: float | None = None
    rightWidth: float | None = None
    rightColor: str | None = None
    rightDashed: float | None = None
    tz: object = field(default=timezone.utc)
    pieMode: str = "average"
    pieLabels: str = "horizontal"
    valueLabels: str = "percent"
    valueLabelsColor: str = "black"
    valueLabelsMin: float = 5.0

    def replace(self, **changes):
        """A copy with `changes` applied (GraphParams is immutable)."""
        return dataclasses.replace(self, **changes)


def _text(name, raw):
    return str(raw)


def _int(name, raw):
    try:
        return int(float(raw)) if isinstance(raw, str) and "." in raw else int(raw)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be an integer, got {raw!r}") from None


def _float(name, raw):
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {raw!r}") from None
    if math.isnan(value):
        raise InputError(f"{name} must be a number, got {raw!r}")
    return value


def _bool(name, raw):
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    try:  # graphite-web turns other numbers into ints and tests their truth
        return float(text) != 0
    except ValueError:
        raise InputError(f"{name} must be true or false, got {raw!r}") from None


def _choice(options, fallback=None):
    def parse(name, raw):
        text = str(raw).strip().lower()
        if text in options:
            return text
        if fallback is not None:  # graphite-web falls back silently for some
            return fallback
        raise InputError(f"{name} must be one of {', '.join(options)}, got {raw!r}")
    return parse


def _max_or_number(name, raw):
    if str(raw).strip().lower() == "max":
        return "max"
    return _float(name, raw)


def _log_base(name, raw):
    if str(raw).strip().lower() == "e":
        return math.e
    value = _float(name, raw)
    if value <= 1.0:  # graphite-web ignores a base below 1; 1 itself is meaningless
        return None
    return value


def _divisors(name, raw):
    items = raw if isinstance(raw, (list, tuple)) else str(raw).split(",")
    try:
        values = tuple(int(item) for item in items)
    except ValueError:
        raise InputError(f"{name} must be a comma-separated list of integers, "
                         f"got {raw!r}") from None
    if not values or min(values) < 1:
        raise InputError(f"{name} must list integers >= 1, got {raw!r}")
    return values


def _color_list(name, raw):
    items = raw if isinstance(raw, (list, tuple)) else str(raw).split(",")
    values = tuple(item.strip() for item in items if item.strip())
    if not values:
        raise InputError(f"{name} must list at least one colour")
    return values


def _dash(name, raw):
    """leftDashed/rightDashed: true (the dashed() default length), false, or a length."""
    text = str(raw).strip().lower()
    if text in ("true", "false"):
        return 5.0 if text == "true" else None
    return _float(name, raw)


def _size(name, raw):
    value = _int(name, raw)
    if not 1 <= value <= MAX_PIXELS:
        raise InputError(f"{name} must be between 1 and {MAX_PIXELS}, got {raw!r}")
    return value


def _margin(name, raw):
    value = _int(name, raw)
    return 10 if value < 0 else value  # graphite-web's rule


def _positive(name, raw):
    value = _float(name, raw)
    if value <= 0:
        raise InputError(f"{name} must be positive, got {raw!r}")
    return value


def _alpha(name, raw):
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return 0.5  # graphite-web's fallback for an unparsable areaAlpha
    return min(max(value, 0.0), 1.0)


PARSERS = MappingProxyType({
    "width": _size, "height": _size, "margin": _margin,
    "graphType": _choice(GRAPH_TYPES), "template": _text,
    "bgcolor": _text, "fgcolor": _text, "majorGridLineColor": _text,
    "minorGridLineColor": _text, "colorList": _color_list,
    "fontName": _text, "fontSize": _positive, "fontBold": _bool, "fontItalic": _bool,
    "title": _text, "vtitle": _text, "vtitleRight": _text,
    "lineMode": _choice(LINE_MODES), "connectedLimit": _float,
    "lineWidth": _positive, "thickness": _positive,
    "areaMode": _choice(AREA_MODES), "areaAlpha": _alpha,
    "drawNullAsZero": _bool, "hideLegend": _bool, "hideAxes": _bool, "hideYAxis": _bool,
    "hideXAxis": _bool, "hideGrid": _bool, "hideNullFromLegend": _bool,
    "graphOnly": _bool, "uniqueLegend": _bool, "minorY": _int,
    "yMin": _float, "min": _float, "yMax": _max_or_number, "max": _max_or_number,
    "yLimit": _float, "yStep": _positive,
    "yMinLeft": _float, "yMinRight": _float, "yMaxLeft": _max_or_number,
    "yMaxRight": _max_or_number, "yLimitLeft": _float, "yLimitRight": _float,
    "yStepLeft": _positive, "yStepRight": _positive, "logBase": _log_base,
    "yUnitSystem": _choice(UNIT_SYSTEMS, fallback="si"), "yAxisSide": _choice(AXIS_SIDES),
    "yDivisors": _divisors, "xFormat": _text, "minXStep": _positive,
    "leftWidth": _positive, "leftColor": _text, "leftDashed": _dash,
    "rightWidth": _positive, "rightColor": _text, "rightDashed": _dash,
    "pieMode": _choice(PIE_MODES), "pieLabels": _choice(PIE_LABELS),
    "valueLabels": _choice(VALUE_LABELS), "valueLabelsColor": _text,
    "valueLabelsMin": _float,
})

# Old names graphite-web still honours when the new one is absent.
ALIASES = MappingProxyType({"min": "yMin", "max": "yMax", "thickness": "lineWidth"})


def _last(raw):
    if isinstance(raw, (list, tuple)) and not isinstance(raw, str):
        return raw[-1] if raw else ""
    return raw


def _timezone(raw, default):
    if raw is None or raw == "":
        return default
    if not isinstance(raw, str):
        return raw
    try:
        return zoneinfo.ZoneInfo(raw)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return default  # graphite-web ignores an unknown tz and keeps the default


def parse_graph_params(query, tz=timezone.utc):
    """Request parameters ({name: [values]} or {name: value}) -> GraphParams.

    Unknown names are ignored (they belong to other parts of /render). As in
    graphite-web, an empty value or `default` means "not given", and the last value
    of a repeated parameter wins.
    """
    values = {}
    for name, raw in query.items():
        if name not in PARSERS:
            continue
        raw = _last(raw)
        if raw is None or (isinstance(raw, str) and raw.strip().lower() in ("", "default")):
            continue
        values[name] = PARSERS[name](name, raw)
    for old, new in ALIASES.items():
        if old in values:
            value = values.pop(old)
            values.setdefault(new, value)
    tz_raw = _last(query.get("tz"))
    return GraphParams(tz=_timezone(tz_raw, tz), **values)


def as_graph_params(params, tz=timezone.utc):
    """render_graph's `params`: a GraphParams as it is, or a dict parsed as a query."""
    if isinstance(params, GraphParams):
        return params
    return parse_graph_params(params or {}, tz)
