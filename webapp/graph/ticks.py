"""Axis arithmetic, pure: y-axis ranges, round steps and labels (linear and log),
unit prefixes, and the x-axis grid and label times for a span and time zone.

The rules are graphite-web's (glyph.py): steps are 1, 2 or 5 times a power of ten
(powers of two for the binary unit system), chosen so that one of the divisor
counts (4, 5 or 6 by default) covers the data with the least slack.
"""
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType

from webapp.errors import InputError

EPSILON = 0.0001

UNIT_SYSTEMS = MappingProxyType({
    "binary": (("Pi", 1024.0 ** 5), ("Ti", 1024.0 ** 4), ("Gi", 1024.0 ** 3),
               ("Mi", 1024.0 ** 2), ("Ki", 1024.0)),
    "si": (("P", 1000.0 ** 5), ("T", 1000.0 ** 4), ("G", 1000.0 ** 3),
           ("M", 1000.0 ** 2), ("k", 1000.0)),
    "sec": (("Y", 86400 * 365), ("M", 86400 * 30), ("D", 86400), ("H", 3600), ("m", 60)),
    "msec": (("Y", 86400 * 365 * 1000), ("M", 86400 * 30 * 1000), ("D", 86400 * 1000),
             ("H", 3600 * 1000), ("m", 60 * 1000), ("s", 1000)),
    "none": (),
})


class AxisError(InputError):
    """Axis settings that cannot make a graph (yMin above yMax, log of negatives)."""


@dataclass(frozen=True)
class YAxis:
    """A finished y axis: the drawn range, the step and the labelled values."""

    bottom: float
    top: float
    step: float | None
    values: tuple
    labels: tuple
    log_base: float | None = None

    @property
    def low(self):
        """The value drawn at the bottom edge: the lowest label (graphite's rule)."""
        return min(self.values) if len(self.values) > 1 else self.bottom

    @property
    def high(self):
        return max(self.values) if len(self.values) > 1 else self.top


def format_units(value, step=None, system="si"):
    """value -> (scaled value, prefix), graphite's format_units: the largest prefix
    no bigger than |value| (and than `step`, when given)."""
    for prefix, size in UNIT_SYSTEMS[system]:
        if abs(value) >= size and (step is None or step >= size):
            scaled = value / size
            if scaled - math.floor(scaled) < 1e-11 and value > 1:
                scaled = float(math.floor(scaled))
            return scaled, prefix
    if value - math.floor(value) < 1e-11 and value > 1:
        value = float(math.floor(value))
    return value, ""


def make_label(value, step, span, system):
    """A y label as graphite-web writes it: precision follows the span."""
    value, prefix = format_units(value, step, system)
    span_value, span_prefix = format_units(span, step, system)
    suffix = f" {prefix}" if prefix else ""
    if value < 0.1:
        text = f"{value:g}"
    elif value < 1.0:
        text = f"{value:.2f}"
    elif span_value > 10 or span_prefix != prefix:
        text = f"{value:.1f}"
    elif span_value > 3:
        text = f"{value:.1f}"
    elif span_value > 0.1:
        text = f"{value:.2f}"
    else:
        text = f"{value:g}"
    return text + suffix


def tidy_labels(labels):
    """Drop a ".0" that every decimal label has ("50.0" -> "50"): graphite-web's
    numbers with its noise removed; labels that need decimals keep them."""
    numbers = [label.split(" ")[0] for label in labels]
    decimal = [n for n in numbers if "." in n]
    if not decimal or not all(n.endswith(".0") for n in decimal):
        return tuple(labels)
    return tuple(label.replace(".0", "", 1) if label.split(" ")[0].endswith(".0") else label
                 for label in labels)


def _finite(value, what):
    if value is None or math.isnan(value) or math.isinf(value):
        raise AxisError(f"{what} must be a finite number, got {value!r}")
    return float(value)


def _delta(x):
    return 1.0 if abs(x) < 1e-9 else 0.1 * abs(x)


def resolve_limits(data_min, data_max, axis_min=None, axis_max=None, axis_limit=None):
    """Data range and user settings -> (min, min_fixed, max, max_fixed, limit).

    graphite-web's applySettings + reconcileLimits: an explicit yMin/yMax is kept as
    it is, yMax=max keeps the data maximum unrounded, yLimit caps the maximum.
    """
    low, high = _finite(data_min, "data minimum"), _finite(data_max, "data maximum")
    min_fixed = max_fixed = False
    if axis_min is not None:
        low, min_fixed = _finite(axis_min, "yMin"), True
    if axis_max == "max":
        max_fixed = True
    elif axis_max is not None:
        high, max_fixed = _finite(axis_max, "yMax"), True
    limit = None
    if axis_limit is not None and not math.isinf(axis_limit):
        if axis_limit < high:
            high, max_fixed = axis_limit, True
        else:
            limit = axis_limit
    if low >= high:
        if min_fixed and max_fixed:
            raise AxisError(f"yMin ({low:g}) must be less than yMax ({high:g})")
        if min_fixed:
            high = low + _delta(low)
        elif max_fixed:
            low = high - _delta(high)
        else:
            delta = _delta(max(abs(low), abs(high)))
            middle = (low + high) / 2.0
            low, high = middle - delta, middle + delta
    return low, min_fixed, high, max_fixed, limit


def candidate_steps(min_step, binary=False):
    """Round steps >= min_step in increasing order (an endless generator)."""
    base, mantissas = (2.0, (1.0,)) if binary else (10.0, (1.0, 2.0, 5.0))
    exponent = math.floor(math.log(min_step, base) - EPSILON)
    while True:
        try:
            multiplier = base ** exponent
        except OverflowError:
            return
        for mantissa in mantissas:
            value = mantissa * multiplier
            if math.isinf(value):
                return
            if value >= min_step * (1.0 - EPSILON):
                yield value
        exponent += 1


def _slop(low, high, step, divisor):
    bottom = step * math.floor(low / step + EPSILON)
    top = bottom + step * divisor
    if top >= high - EPSILON * step and bottom - low <= EPSILON * (high - low):
        return max(top - high, low - bottom)
    return None


def choose_step(low, high, divisors=(4, 5, 6), binary=False):
    """The round step whose multiples cover [low, high] in one of `divisors` steps
    with the least slack outside the range (graphite-web's chooseStep)."""
    variance = high - low
    if not math.isfinite(variance) or variance <= 0:
        raise AxisError(f"cannot divide the y range {low:g} .. {high:g} into steps")
    best_slop = best_step = None
    for count, step in enumerate(candidate_steps(variance / max(divisors), binary)):
        if best_slop is not None and step * min(divisors) >= 2 * best_slop + variance:
            break
        if count > 64:  # no candidate covers: one step cannot span both sides of zero
            break
        for divisor in divisors:
            slop = _slop(low, high, step, divisor)
            if slop is not None and (best_slop is None or slop < best_slop):
                best_slop, best_step = slop, step
    if best_step is None:
        if max(divisors) > 64:
            raise AxisError(f"no round step fits the y range {low:g} .. {high:g}")
        return choose_step(low, high, tuple(d + 1 for d in divisors), binary)
    return best_step


def linear_axis(data_min, data_max, *, axis_min=None, axis_max=None, axis_limit=None,
                step=None, divisors=(4, 5, 6), unit_system="si"):
    """A linear y axis for the data range and the user's settings."""
    low, min_fixed, high, max_fixed, limit = resolve_limits(
        data_min, data_max, axis_min, axis_max, axis_limit)
    if step is None:
        step = choose_step(low, high, divisors, binary=unit_system == "binary")
    bottom = low if min_fixed else step * math.floor(low / step + EPSILON)
    if max_fixed:
        top = high
    else:
        top = step * math.ceil(high / step - EPSILON)
        if limit is not None and top > limit + EPSILON * step:
            top = limit
    if top == bottom:
        top += 1
    if (top - bottom) > 1000.0 * step:  # a user step far too small: pick a sane one
        step = choose_step(bottom, top, (4, 5, 6), binary=unit_system == "binary")
    span = top - bottom
    first = step * math.ceil(bottom / step - EPSILON)
    count = int(math.floor((top + EPSILON * step - first) / step)) + 1
    values = tuple(first + i * step for i in range(max(count, 0)))
    labels = tidy_labels([make_label(v, step, span, unit_system) for v in values])
    return YAxis(bottom, top, step, values, labels)


def log_axis(data_min, data_max, base, *, axis_min=None, axis_max=None, axis_limit=None,
             unit_system="si"):
    """A logarithmic y axis: whole powers of `base` around the data."""
    low, _, high, _, _ = resolve_limits(data_min, data_max, axis_min, axis_max, axis_limit)
    if low <= 0:
        raise AxisError("logBase needs data above zero; the minimum is "
                        f"{low:g} (use yMin to set a positive bottom)")
    bottom = base ** math.floor(math.log(low, base))
    top = base ** math.ceil(math.log(high, base))
    if top == bottom:
        top *= base
    values = []
    value = base ** math.ceil(math.log(bottom, base) - EPSILON)
    while value < top * (1.0 + EPSILON) and len(values) < 400:
        values.append(value)
        value *= base
    span = top - bottom
    labels = tidy_labels([make_label(v, None, span, unit_system) for v in values])
    return YAxis(bottom, top, None, tuple(values), labels, log_base=base)


# ---- x axis ---------------------------------------------------------------------

SEC, MIN, HOUR, DAY = 1, 60, 3600, 86400
DATE = "%m/%d"


@dataclass(frozen=True)
class XConfig:
    """One row of graphite's x-axis table (from rrdtool): used when a pixel covers at
    least `seconds` and the span is at most `max_span`."""

    seconds: float
    minor: tuple
    major: tuple
    label: tuple
    fmt: str
    max_span: float = math.inf


X_CONFIGS = (
    XConfig(0.00, (SEC, 5), (MIN, 1), (SEC, 5), "%H:%M:%S", 10 * MIN),
    XConfig(0.07, (SEC, 10), (MIN, 1), (SEC, 10), "%H:%M:%S", 20 * MIN),
    XConfig(0.14, (SEC, 15), (MIN, 1), (SEC, 15), "%H:%M:%S", 30 * MIN),
    XConfig(0.27, (SEC, 30), (MIN, 2), (MIN, 1), "%H:%M", 2 * HOUR),
    XConfig(0.5, (MIN, 1), (MIN, 2), (MIN, 1), "%H:%M", 2 * HOUR),
    XConfig(1.2, (MIN, 1), (MIN, 4), (MIN, 2), "%H:%M", 3 * HOUR),
    XConfig(2, (MIN, 1), (MIN, 10), (MIN, 5), "%H:%M", 6 * HOUR),
    XConfig(5, (MIN, 2), (MIN, 10), (MIN, 10), "%H:%M", 12 * HOUR),
    XConfig(10, (MIN, 5), (MIN, 20), (MIN, 20), "%H:%M", 1 * DAY),
    XConfig(30, (MIN, 10), (HOUR, 1), (HOUR, 1), "%H:%M", 2 * DAY),
    XConfig(60, (MIN, 30), (HOUR, 2), (HOUR, 2), "%H:%M", 2 * DAY),
    XConfig(100, (HOUR, 2), (HOUR, 4), (HOUR, 4), "%a %H:%M", 6 * DAY),
    XConfig(255, (HOUR, 6), (HOUR, 12), (HOUR, 12), DATE + " %H:%M", 10 * DAY),
    XConfig(600, (HOUR, 6), (DAY, 1), (DAY, 1), DATE, 14 * DAY),
    XConfig(1000, (HOUR, 12), (DAY, 1), (DAY, 1), DATE, 365 * DAY),
    XConfig(2000, (DAY, 1), (DAY, 2), (DAY, 2), DATE, 365 * DAY),
    XConfig(4000, (DAY, 2), (DAY, 4), (DAY, 4), DATE, 365 * DAY),
    XConfig(8000, (DAY, 3.5), (DAY, 7), (DAY, 7), DATE, 365 * DAY),
    XConfig(16000, (DAY, 7), (DAY, 14), (DAY, 14), DATE, 365 * DAY),
    XConfig(32000, (DAY, 15), (DAY, 30), (DAY, 30), DATE, 365 * DAY),
    XConfig(64000, (DAY, 30), (DAY, 60), (DAY, 60), DATE + " %Y"),
    XConfig(100000, (DAY, 60), (DAY, 120), (DAY, 120), DATE + " %Y"),
    XConfig(120000, (DAY, 120), (DAY, 240), (DAY, 240), DATE + " %Y"),
)


def choose_x_config(time_range, graph_width):
    """The finest table row whose pixel size and span fit (graphite's rule)."""
    seconds_per_pixel = time_range / max(graph_width, 1)
    fitting = [c for c in X_CONFIGS
               if c.seconds <= seconds_per_pixel and c.max_span >= time_range]
    return fitting[-1] if fitting else X_CONFIGS[-1]


def x_times(start, end, unit_step, tz, limit=2000):
    """Epoch seconds of the grid or label marks in [start, end): the first round
    local time at or after `start` for (unit, step), then every step after it."""
    unit, step = unit_step
    start_dt = datetime.fromtimestamp(start, tz)
    if unit == SEC:
        dt = start_dt.replace(second=start_dt.second - start_dt.second % int(step), microsecond=0)
    elif unit == MIN:
        dt = start_dt.replace(minute=start_dt.minute - start_dt.minute % int(step),
                              second=0, microsecond=0)
    elif unit == HOUR:
        dt = start_dt.replace(hour=start_dt.hour - start_dt.hour % int(step),
                              minute=0, second=0, microsecond=0)
    else:
        dt = start_dt.replace(hour=0, minute=0, second=0, microsecond=0)
    delta = timedelta(seconds=unit * step)
    times = []
    while len(times) < limit:
        stamp = dt.timestamp()
        if stamp >= end:
            break
        if stamp >= start:
            times.append(stamp)
        dt = _advance(dt, delta, unit, tz)
    return times


def _advance(dt, delta, unit, tz):
    """Next mark: wall-clock steps for days (midnights stay midnights across DST),
    absolute steps below a day."""
    if unit == DAY:
        return dt + delta
    return datetime.fromtimestamp(dt.timestamp() + delta.total_seconds(), tz)


def x_label(stamp, fmt, tz):
    return datetime.fromtimestamp(stamp, tz).strftime(fmt)
