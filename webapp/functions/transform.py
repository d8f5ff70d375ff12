"""Transform functions: each series in, one changed series out (graphite-web's 'Transform')."""
import math
from datetime import timedelta

import numpy as np

from webapp.functions import InvalidParameter, Param, ParamTypes, function, INF
from webapp.functions.aggfuncs import bucket_matrix, reduce_columns, resolve, xff_mask
from webapp.functions.common import ctx_xff, derive, reevaluate
from webapp.series import TimeSeries
from webapp.attime import unit_name
from webapp.functions.intervals import parse_interval

SERIES_LIST = Param("seriesList", ParamTypes.seriesList, required=True)
INTERVAL_SUGGESTIONS = ("10min", "1h", "1d")


def _elementwise(series_list, name_format, compute, tag, tag_value):
    return [derive(series, name_format(series), compute(series.values), {tag: tag_value})
            for series in series_list]


@function("scale", "Transform", [SERIES_LIST, Param("factor", ParamTypes.float, required=True)])
def scale(ctx, seriesList, factor):
    """Multiplies each value by a constant.
    Example: ``scale(Server.instance01.threads.busy,10)``."""
    return _elementwise(seriesList, lambda s: f"scale({s.name},{float(factor):g})",
                        lambda v: v * factor, "scale", factor)


@function("offset", "Transform", [SERIES_LIST, Param("factor", ParamTypes.float, required=True)])
def offset(ctx, seriesList, factor):
    """Adds a constant to each value. Example: ``offset(Server.instance01.threads.busy,10)``."""
    return _elementwise(seriesList, lambda s: f"offset({s.name},{float(factor):g})",
                        lambda v: v + factor, "offset", factor)


@function("add", "Transform", [SERIES_LIST, Param("constant", ParamTypes.float, required=True)])
def add(ctx, seriesList, constant):
    """Adds a constant to each value (the name shows the constant as an integer)."""
    return _elementwise(seriesList, lambda s: f"add({s.name},{int(constant)})",
                        lambda v: v + constant, "add", constant)


@function("absolute", "Transform", [SERIES_LIST])
def absolute(ctx, seriesList):
    """The absolute value of each point. Example: ``absolute(Server.instance01.threads.busy)``."""
    return _elementwise(seriesList, lambda s: f"absolute({s.name})", np.abs, "absolute", 1)


def _safe_pow(values, exponent):
    """graphite's safePow: math.pow of each pair, None where either is None or math.pow
    raises (domain error or overflow). Point by point on purpose: numpy's power (SIMD
    since numpy 2.4) can differ from libm's pow in the last bit, and graphite-web's
    answers are libm's."""
    values = np.asarray(values, dtype=np.float64)
    exponents = np.broadcast_to(np.asarray(exponent, dtype=np.float64), values.shape)
    result = np.full(values.shape, np.nan)
    known = np.flatnonzero(~(np.isnan(values) | np.isnan(exponents)))
    result[known] = [_pow_or_nan(base, power)
                     for base, power in zip(values[known].tolist(), exponents[known].tolist())]
    return result


def _pow_or_nan(base, power):
    try:
        return math.pow(base, power)
    except (ValueError, OverflowError):
        return math.nan


@function("pow", "Transform", [SERIES_LIST, Param("factor", ParamTypes.float, required=True)])
def pow(ctx, seriesList, factor):  # noqa: A001 - graphite's name
    """Raises each value to the power of `factor` (None where that is undefined)."""
    return _elementwise(seriesList, lambda s: f"pow({s.name},{float(factor):g})",
                        lambda v: _safe_pow(v, factor), "pow", factor)


@function("squareRoot", "Transform", [SERIES_LIST])
def squareRoot(ctx, seriesList):
    """The square root of each value (None for negative values)."""
    return _elementwise(seriesList, lambda s: f"squareRoot({s.name})",
                        lambda v: _safe_pow(v, 0.5), "squareRoot", 1)


@function("invert", "Transform", [SERIES_LIST])
def invert(ctx, seriesList):
    """1/x for each value (None for 0)."""
    return _elementwise(seriesList, lambda s: f"invert({s.name})",
                        lambda v: _safe_pow(v, -1), "invert", 1)


@function("isNonNull", "Transform", [SERIES_LIST])
def isNonNull(ctx, seriesList):
    """1 where the series has a value, 0 where it is None."""
    return _elementwise(seriesList, lambda s: f"isNonNull({s.name})",
                        lambda v: (~np.isnan(v)).astype(np.float64), "isNonNull", 1)


@function("offsetToZero", "Transform", [SERIES_LIST])
def offsetToZero(ctx, seriesList):
    """Subtracts the series' minimum from each value, so its lowest point is 0."""
    results = []
    for series in seriesList:
        valid = series.values[~np.isnan(series.values)]
        minimum = float(valid.min()) if len(valid) else None
        values = series.values - (np.nan if minimum is None else minimum)
        results.append(derive(series, f"offsetToZero({series.name})", values,
                              {"offsetToZero": minimum}))
    return results


@function("log", "Transform", [SERIES_LIST, Param("base", ParamTypes.integer, default=10)])
def logarithm(ctx, seriesList, base=10):
    """The logarithm of each value in `base` (default 10); None for values <= 0."""
    results = []
    for series in seriesList:
        values = series.values
        with np.errstate(all="ignore"):
            logged = np.log(values) / math.log(base)
        logged = np.where(values > 0, logged, np.nan)
        results.append(derive(series, f"log({series.name}, {base})", logged, {"log": base}))
    return results


def _python_round(values, digits):
    """round(x, digits) as Python does it (correctly rounded), vectorised: numpy's rounding
    agrees except near a half, where Python's own round decides."""
    scale = 10.0 ** digits
    with np.errstate(all="ignore"):
        scaled = values * scale
        rounded = np.rint(scaled) / scale
        doubtful = np.abs(np.abs(scaled - np.trunc(scaled)) - 0.5) < 1e-6
    doubtful &= np.isfinite(values)
    for index in np.flatnonzero(doubtful):
        rounded[index] = round(float(values[index]), digits)
    return np.where(np.isfinite(values), rounded, values)


@function("scaleToSeconds", "Transform",
          [SERIES_LIST, Param("seconds", ParamTypes.float, required=True)])
def scaleToSeconds(ctx, seriesList, seconds):
    """Scales each value from per-step to per-`seconds` (value * seconds / step, rounded to
    6 decimals)."""
    return [derive(series, f"scaleToSeconds({series.name},{int(seconds)})",
                   _python_round(series.values * (seconds / series.step), 6),
                   {"scaleToSeconds": seconds})
            for series in seriesList]


def _previous(values):
    previous = np.empty_like(values)
    previous[:1] = np.nan
    previous[1:] = values[:-1]
    return previous


@function("derivative", "Transform", [SERIES_LIST])
def derivative(ctx, seriesList):
    """The difference between each value and the one before (None if either is None).
    Example: ``derivative(company.server.application01.ifconfig.TXPackets)``."""
    return _elementwise(seriesList, lambda s: f"derivative({s.name})",
                        lambda v: v - _previous(v), "derivative", 1)


def non_negative_delta(values, maxValue=None, minValue=None):
    """graphite's _nonNegativeDelta over a whole series: counter deltas, None for the first
    reading, after a gap, for values outside [minValue, maxValue], and for a counter that
    went down (unless maxValue/minValue tell how it wrapped)."""
    out_of_range = np.zeros(len(values), dtype=bool)
    if maxValue is not None:
        out_of_range |= values > maxValue
    if minValue is not None:
        out_of_range |= values < minValue
    usable = np.where(out_of_range, np.nan, values)
    previous = _previous(usable)
    delta = np.where(values >= previous, values - previous, np.nan)
    if maxValue is not None:
        wrapped = maxValue + 1 + values - previous - (minValue or 0)
    elif minValue is not None:
        wrapped = values - minValue
    else:
        wrapped = np.full(len(values), np.nan)
    delta = np.where(values < previous, wrapped, delta)
    return np.where(out_of_range, np.nan, delta)


DELTA_PARAMS = [SERIES_LIST, Param("maxValue", ParamTypes.float),
                Param("minValue", ParamTypes.float)]


@function("nonNegativeDerivative", "Transform", DELTA_PARAMS)
def nonNegativeDerivative(ctx, seriesList, maxValue=None, minValue=None):
    """The derivative of a counter, None where the counter went down (or, with maxValue,
    the wrapped difference; with minValue, the difference from minValue). Values above
    maxValue or below minValue are None."""
    return _elementwise(seriesList, lambda s: f"nonNegativeDerivative({s.name})",
                        lambda v: non_negative_delta(v, maxValue, minValue),
                        "nonNegativeDerivative", 1)


@function("perSecond", "Transform", DELTA_PARAMS)
def perSecond(ctx, seriesList, maxValue=None, minValue=None):
    """nonNegativeDerivative divided by the step in seconds (rounded to 6 decimals)."""
    return [derive(series, f"perSecond({series.name})",
                   _python_round(non_negative_delta(series.values, maxValue, minValue)
                                 / series.step, 6), {"perSecond": 1})
            for series in seriesList]


def _cumulative(values):
    valid = ~np.isnan(values)
    running = np.cumsum(np.where(valid, values, 0.0))
    return np.where(valid, running, np.nan)


@function("integral", "Transform", [SERIES_LIST])
def integral(ctx, seriesList):
    """The running total of the series (None points stay None and add nothing)."""
    return _elementwise(seriesList, lambda s: f"integral({s.name})", _cumulative,
                        "integral", 1)


@function("delay", "Transform", [SERIES_LIST, Param("steps", ParamTypes.integer, required=True)])
def delay(ctx, seriesList, steps):
    """Shifts the values `steps` points later (earlier if negative), filling with None.
    As in graphite-web 1.1.10, a delay of 0 gives an empty series."""
    results = []
    for series in seriesList:
        values = series.values
        count = min(abs(steps), len(values))
        if steps < 0:
            shifted = np.concatenate([values[-steps:], np.full(count, np.nan)])
        else:
            shifted = np.concatenate([np.full(count, np.nan), values[:-steps] if steps else []])
        results.append(derive(series, f"delay({series.name},{steps})", shifted,
                              {"delay": steps}))
    return results


def _gaps(valid):
    """For each position: the index of the last valid point at or before it (-1 if none),
    of the first valid point at or after it (len if none)."""
    index = np.arange(len(valid))
    last = np.maximum.accumulate(np.where(valid, index, -1)) if len(valid) else index
    following = np.where(valid, index, len(valid))
    following = np.minimum.accumulate(following[::-1])[::-1] if len(valid) else index
    return last, following


def keep_last(values, limit=INF):
    """Fill each gap of at most `limit` Nones with the value before it."""
    valid = ~np.isnan(values)
    if valid.all() or not valid.any():
        return values.copy()
    last, following = _gaps(valid)
    fill = ~valid & (last >= 0) & (following - last - 1 <= limit)
    return np.where(fill, values[np.maximum(last, 0)], values)


@function("keepLastValue", "Transform",
          [SERIES_LIST, Param("limit", ParamTypes.intOrInf, default=INF)])
def keepLastValue(ctx, seriesList, limit=INF):
    """Continues the line with the last value across gaps of at most `limit` Nones
    (default: any gap). Example: ``keepLastValue(Server01.connections.handled, 10)``."""
    return [derive(series, f"keepLastValue({series.name})", keep_last(series.values, limit))
            for series in seriesList]


def interpolate_gaps(values, limit=INF):
    """Fill gaps of at most `limit` Nones that have a value on both sides, linearly."""
    valid = ~np.isnan(values)
    if valid.all() or not valid.any():
        return values.copy()
    last, following = _gaps(valid)
    gap = following - last - 1
    inner = ~valid & (last >= 0) & (following < len(values)) & (gap <= limit)
    before = values[np.maximum(last, 0)]
    after = values[np.minimum(following, len(values) - 1)]
    index = np.arange(len(values))
    with np.errstate(all="ignore"):
        filled = before + (index - last) * (after - before) / (gap + 1)
    return np.where(inner, filled, values)


@function("interpolate", "Transform",
          [SERIES_LIST, Param("limit", ParamTypes.intOrInf, default=INF)])
def interpolate(ctx, seriesList, limit=INF):
    """Fills gaps of at most `limit` Nones between two values linearly (leading and
    trailing gaps stay None)."""
    return [derive(series, f"interpolate({series.name})", interpolate_gaps(series.values, limit))
            for series in seriesList]


@function("transformNull", "Transform", [
    SERIES_LIST,
    Param("default", ParamTypes.float, default=0),
    Param("referenceSeries", ParamTypes.seriesList),
])
def transformNull(ctx, seriesList, default=0, referenceSeries=None):
    """Replaces None with `default` (0). With referenceSeries, only where at least one of
    the reference series has a value."""
    defaults = None
    if referenceSeries:
        from webapp.series import stack
        defaults = np.where((~np.isnan(stack(referenceSeries))).any(axis=0), float(default),
                            np.nan)
    results = []
    for series in seriesList:
        suffix = ",referenceSeries" if referenceSeries else ""
        name = f"transformNull({series.name},{float(default):g}{suffix})"
        tags = {"transformNull": default}
        if referenceSeries:
            tags["referenceSeries"] = 1
        if defaults is None or not len(defaults):
            values = np.where(np.isnan(series.values), float(default), series.values)
        else:
            width = max(len(series), len(defaults))
            values = np.full(width, np.nan)
            values[:len(series)] = series.values
            fills = np.full(width, np.nan)
            fills[:len(defaults)] = defaults
            values = np.where(np.isnan(values), fills, values)
        results.append(derive(series, name, values, tags))
    return results


def _aligned_buckets(values, offset, per_bucket, count):
    """Values laid into `count` buckets of `per_bucket` slots from slot `offset` on, as a
    (per_bucket, count) matrix with the mask of the slots that hold a point."""
    slots = count * per_bucket
    padded = np.full(slots, np.nan)
    present = np.zeros(slots, dtype=bool)
    taken = values[:max(0, slots - offset)]
    padded[offset:offset + len(taken)] = taken
    present[offset:offset + len(taken)] = True
    return (padded.reshape(count, per_bucket).T, present.reshape(count, per_bucket).T)


def _summarize_buckets(series, func, interval, new_start, new_end):
    """graphite's _summarizeValues: values grouped into [t, t + interval) buckets from
    new_start while t < new_end; a bucket is None unless xff(nonNull, interval / step)."""
    count = max(0, -(-(new_end - new_start) // interval))
    points = min(len(series), max(0, -(-(series.end - series.start) // series.step)))
    stamps = series.start + np.arange(points, dtype=np.int64) * series.step
    values = series.values[:points]
    if interval % series.step == 0 and (series.start - new_start) % series.step == 0 \
            and series.start >= new_start:
        matrix, present = _aligned_buckets(values, (series.start - new_start) // series.step,
                                           interval // series.step, count)
    else:
        inside = (stamps >= new_start) & (stamps < new_start + count * interval)
        buckets = (stamps[inside] - new_start) // interval
        matrix, present = bucket_matrix(buckets, values[inside], count)
    result = reduce_columns(matrix, func, present)
    non_null = (~np.isnan(matrix)).sum(axis=0)
    keep = xff_mask(non_null, interval / series.step, series.x_files_factor)
    return np.where(keep, result, np.nan), new_start + count * interval


@function("summarize", "Transform", [
    SERIES_LIST,
    Param("intervalString", ParamTypes.interval, required=True, suggestions=INTERVAL_SUGGESTIONS),
    Param("func", ParamTypes.aggFunc, default="sum"),
    Param("alignToFrom", ParamTypes.boolean, default=False),
])
def summarize(ctx, seriesList, intervalString, func="sum", alignToFrom=False):
    """Summarizes each series into buckets of `intervalString` with `func` (sum by default;
    average, max, min, last, ...). Buckets align to multiples of the interval, or to the
    series start with alignToFrom. Example: ``summarize(counter.errors, "1h")``."""
    canonical = resolve(func, "summarize", allow_series_suffix=False)
    interval = parse_interval(intervalString)
    if interval <= 0:
        raise InvalidParameter("summarize", f"interval must be positive: {intervalString!r}",
                               "intervalString")
    results = []
    for series in seriesList:
        if alignToFrom:
            new_start, new_end = series.start, series.end
        else:
            new_start = series.start - series.start % interval
            new_end = series.end - series.end % interval + interval
        values, aligned_end = _summarize_buckets(series, canonical, interval, new_start, new_end)
        suffix = ", true" if alignToFrom else ""
        name = f'summarize({series.name}, "{intervalString}", "{func}"{suffix})'
        results.append(derive(series, name, values,
                              {"summarize": intervalString, "summarizeFunction": func},
                              start=new_start, end=aligned_end if alignToFrom else new_end,
                              step=interval))
    return results


def _hit_contributions(series, interval, new_start, bucket_count):
    """(bucket, order, amount) of every share of every value, as graphite's hitcount spreads
    value * seconds over the buckets each point's [t, t + step) overlaps."""
    step = series.step
    index = np.flatnonzero(~np.isnan(series.values))
    value = series.values[index]
    start_time = series.start + index * step
    start_bucket, start_mod = np.divmod(start_time - new_start, interval)
    end_bucket, end_mod = np.divmod(start_time + step - new_start, interval)
    clamp = end_bucket >= bucket_count
    end_bucket = np.where(clamp, bucket_count - 1, end_bucket)
    end_mod = np.where(clamp, interval, end_mod)
    same = start_bucket == end_bucket
    parts = [(start_bucket[same], index[same], value[same] * (end_mod - start_mod)[same])]
    split = ~same
    parts.append((start_bucket[split], index[split], value[split] * (interval - start_mod[split])))
    middle = np.maximum(end_bucket - start_bucket - 1, 0) * split
    owner = np.repeat(np.arange(len(index)), middle)
    offsets = np.arange(len(owner)) - np.repeat(np.cumsum(middle) - middle, middle)
    parts.append((start_bucket[owner] + 1 + offsets, index[owner], value[owner] * interval))
    tail = split & (end_mod > 0)
    parts.append((end_bucket[tail], index[tail], value[tail] * end_mod[tail]))
    buckets = np.concatenate([p[0] for p in parts]).astype(np.int64)
    order = np.concatenate([p[1] for p in parts])
    amounts = np.concatenate([p[2] for p in parts]).astype(np.float64)
    keep = (buckets >= 0) & (buckets < bucket_count)
    return buckets[keep], order[keep], amounts[keep]


def _hitcount_values(series, interval):
    bucket_count = int(math.ceil((series.end - series.start) / interval))
    new_start = int(series.end - bucket_count * interval)
    buckets, order, amounts = _hit_contributions(series, interval, new_start, bucket_count)
    sequence = np.lexsort((order, buckets))
    matrix, _ = bucket_matrix(buckets[sequence], amounts[sequence], bucket_count)
    return reduce_columns(matrix, "sum"), new_start


def _aligned_start(start_time, interval):
    if interval >= 86400:
        return start_time.replace(hour=0, minute=0, second=0, microsecond=0)
    if interval >= 3600:
        return start_time.replace(minute=0, second=0, microsecond=0)
    if interval >= 60:
        return start_time.replace(second=0, microsecond=0)
    return start_time


@function("hitcount", "Transform", [
    SERIES_LIST,
    Param("intervalString", ParamTypes.interval, required=True, suggestions=INTERVAL_SUGGESTIONS),
    Param("alignToInterval", ParamTypes.boolean, default=False),
])
def hitcount(ctx, seriesList, intervalString, alignToInterval=False):
    """Estimates hit counts from a series of per-second rates: each value times the seconds
    its step overlaps each `intervalString` bucket, summed per bucket. With
    alignToInterval the series are fetched again from a start aligned to the interval."""
    interval = parse_interval(intervalString)
    if interval <= 0:
        raise InvalidParameter("hitcount", f"interval must be positive: {intervalString!r}",
                               "intervalString")
    if alignToInterval:
        start = _aligned_start(ctx.start_time, interval)
        seriesList = [series.copy(path_expression=series.path_expression)
                      for series in reevaluate(ctx, seriesList, start, ctx.end_time)]
        for series in seriesList:
            series.end = series.start + (series.end - series.start) // interval * interval \
                + interval
    results = []
    for series in seriesList:
        values, new_start = _hitcount_values(series, interval)
        suffix = ", true" if alignToInterval else ""
        results.append(derive(series, f'hitcount({series.name}, "{intervalString}"{suffix})',
                              values, {"hitcount": intervalString}, start=new_start,
                              step=interval))
    return results


def _is_dst(moment, tz):
    local = moment.astimezone(tz) if tz is not None else moment
    return bool(local.dst())


def _dst_offset(ctx, start, end):
    tz = getattr(ctx, "tz", None)
    request = (_is_dst(ctx.start_time, tz), _is_dst(ctx.end_time, tz))
    shifted = (_is_dst(start, tz), _is_dst(end, tz))
    if all(request) and not any(shifted):
        return timedelta(hours=1)
    if not any(request) and all(shifted):
        return timedelta(hours=-1)
    return timedelta(0)


@function("timeShift", "Transform", [
    SERIES_LIST,
    Param("timeShift", ParamTypes.interval, required=True,
          suggestions=("1h", "6h", "12h", "1d", "2d", "7d", "14d", "30d")),
    Param("resetEnd", ParamTypes.boolean, default=True),
    Param("alignDst", ParamTypes.boolean, default=False),
])
def timeShift(ctx, seriesList, timeShift, resetEnd=True, alignDst=False):
    """Draws the series shifted in time: fetched again `timeShift` earlier (a leading '+'
    shifts forward) and laid over the original period. Example:
    ``timeShift(Sales.widgets.largeBlue,"7d")``."""
    if timeShift[:1].isdigit():
        timeShift = "-" + timeShift
    delta = timedelta(seconds=parse_interval(timeShift))
    if not seriesList:
        return []
    start, end = ctx.start_time + delta, ctx.end_time + delta
    if alignDst:
        shift = _dst_offset(ctx, start, end)
        start, end = start + shift, end + shift
    first = seriesList[0]
    results = []
    for shifted in reevaluate(ctx, seriesList, start, end):
        new_end = first.end if resetEnd else shifted.end - shifted.start + first.start
        results.append(derive(shifted, f'timeShift({shifted.name}, "{timeShift}")', None,
                              {"timeShift": timeShift}, path_expression=shifted.path_expression,
                              start=first.start, end=new_end))
    return results


@function("exp", "Transform", [SERIES_LIST])
def exp(ctx, seriesList):
    """e raised to the power of each value (None where that overflows)."""
    return _elementwise(seriesList, lambda s: f"exp({s.name})",
                        _safe_exp, "exp", "e")


def _safe_exp(values):
    with np.errstate(all="ignore"):
        result = np.exp(values)
    return np.where(np.isinf(result) & np.isfinite(values), np.nan, result)


@function("sigmoid", "Transform", [SERIES_LIST])
def sigmoid(ctx, seriesList):
    """1 / (1 + e^-x) for each value."""
    with np.errstate(all="ignore"):
        return _elementwise(seriesList, lambda s: f"sigmoid({s.name})",
                            lambda v: 1 / (1 + np.exp(-v)), "sigmoid", "sigmoid")


@function("logit", "Transform", [SERIES_LIST])
def logit(ctx, seriesList):
    """log(x / (1 - x)) for each value (None outside 0 < x < 1)."""
    def compute(values):
        with np.errstate(all="ignore"):
            ratio = values / (1 - values)
            return np.where((values != 1) & (ratio > 0), np.log(ratio), np.nan)
    return _elementwise(seriesList, lambda s: f"logit({s.name})", compute, "logit", "logit")


@function("round", "Transform", [SERIES_LIST, Param("precision", ParamTypes.integer, default=0)])
def roundFunction(ctx, seriesList, precision=None):
    """Rounds each value to `precision` decimal places (0 by default; negative rounds to
    tens, hundreds, ...), half to even as Python's round()."""
    def compute(values):
        if not precision:
            return np.round(values)
        return _python_round(values, precision)
    suffix = "" if precision is None else f",{int(precision):g}"
    return _elementwise(seriesList, lambda s: f"round({s.name}{suffix})", compute, "round",
                        precision or 0)


@function("minMax", "Transform", [SERIES_LIST])
def minMax(ctx, seriesList):
    """Scales each series to 0..1: (value - min) / (max - min); 0 where max == min."""
    results = []
    for series in seriesList:
        valid = series.values[~np.isnan(series.values)]
        low = float(valid.min()) if len(valid) else 0.0
        high = float(valid.max()) if len(valid) else 0.0
        with np.errstate(all="ignore"):
            scaled = (series.values - low) / (high - low) if high != low else \
                np.where(np.isnan(series.values), np.nan, 0.0)
        results.append(derive(series, f"minMax({series.name})", scaled))
    return results


@function("integralByInterval", "Transform",
          [SERIES_LIST, Param("intervalUnit", ParamTypes.string, required=True)])
def integralByInterval(ctx, seriesList, intervalUnit):
    """The running total of each series, restarting at 0 every `intervalUnit` counted from
    the request start (None points repeat the running total)."""
    try:
        duration = abs(parse_interval(intervalUnit))
    except ValueError as error:
        raise InvalidParameter("integralByInterval", str(error), "intervalUnit") from None
    if not duration:
        raise InvalidParameter("integralByInterval", "interval must not be 0", "intervalUnit")
    origin = int(ctx.start_time.timestamp())
    results = []
    for series in seriesList:
        stamps = series.start + np.arange(len(series), dtype=np.int64) * series.step
        restart = (stamps - origin) // duration != (stamps - origin - series.step) // duration
        filled = np.where(np.isnan(series.values), 0.0, series.values)
        values = np.empty(len(series))
        edges = list(np.flatnonzero(restart)) + [len(series)]
        begin = 0
        for end in edges:
            values[begin:end] = np.cumsum(filled[begin:end])
            begin = end
        results.append(derive(series, f"integralByInterval({series.name},'{intervalUnit}')",
                              values, {"integralByInterval": intervalUnit}))
    return results


def _clock_values(ctx, step):
    start = ctx.start_time.timestamp()
    end = ctx.end_time.timestamp()
    count = max(0, math.ceil((end - start) / step))
    return start + np.arange(count) * float(step)


@function("time", "Transform", [Param("name", ParamTypes.string, required=True),
                                Param("step", ParamTypes.integer, default=60)],
          aliases=("timeFunction",))
def timeFunction(ctx, name, step=60):
    """A series whose value at each point (every `step` seconds) is its timestamp."""
    return [TimeSeries(name, int(ctx.start_time.timestamp()), int(ctx.end_time.timestamp()),
                       step, _clock_values(ctx, step), x_files_factor=ctx_xff(ctx))]


@function("sin", "Transform", [Param("name", ParamTypes.string, required=True),
                               Param("amplitude", ParamTypes.integer, default=1),
                               Param("step", ParamTypes.integer, default=60)],
          aliases=("sinFunction",))
def sinFunction(ctx, name, amplitude=1, step=60):
    """A sine wave of the timestamps (every `step` seconds) times `amplitude`."""
    return [TimeSeries(name, int(ctx.start_time.timestamp()), int(ctx.end_time.timestamp()),
                       step, np.sin(_clock_values(ctx, step)) * amplitude,
                       x_files_factor=ctx_xff(ctx))]


@function("timeStack", "Transform", [
    SERIES_LIST,
    Param("timeShiftUnit", ParamTypes.interval, default="1d",
          suggestions=("1h", "6h", "12h", "1d", "2d", "7d", "14d", "30d")),
    Param("timeShiftStart", ParamTypes.integer, default=0),
    Param("timeShiftEnd", ParamTypes.integer, default=7),
])
def timeStack(ctx, seriesList, timeShiftUnit="1d", timeShiftStart=0, timeShiftEnd=7):
    """The series fetched again shifted by timeShiftStart..timeShiftEnd-1 times
    `timeShiftUnit` into the past, all laid over the original period.
    Example: ``timeStack(Sales.widgets.largeBlue,"1d",0,7)``."""
    if timeShiftUnit[:1].isdigit():
        timeShiftUnit = "-" + timeShiftUnit
    delta = timedelta(seconds=parse_interval(timeShiftUnit))
    if not seriesList:
        return []
    first = seriesList[0]
    results = []
    for shift in range(int(timeShiftStart), int(timeShiftEnd)):
        start, end = ctx.start_time + delta * shift, ctx.end_time + delta * shift
        for shifted in reevaluate(ctx, seriesList, start, end):
            name = f"timeShift({shifted.name}, {timeShiftUnit}, {shift})"
            results.append(derive(shifted, name, None,
                                  {"timeShiftUnit": timeShiftUnit, "timeShift": shift},
                                  start=first.start, end=first.end))
    return results


def _align_down(moment, unit, text):
    """The start of `moment`'s year/month/week/day/hour/minute/second (smartSummarize)."""
    name = unit_name(unit)
    if name == "years":
        return moment.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    if name == "months":
        return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if name == "weeks":
        weekday = 1 if text[-1].isalpha() else int(text[-1])
        back = (moment.isoweekday() - weekday) % 7
        day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        return day - timedelta(days=back)
    fields = {"days": ("hour", "minute", "second"), "hours": ("minute", "second"),
              "minutes": ("second",), "seconds": ()}[name]
    return moment.replace(microsecond=0, **{field: 0 for field in fields})


@function("smartSummarize", "Transform", [
    SERIES_LIST,
    Param("intervalString", ParamTypes.interval, required=True, suggestions=INTERVAL_SUGGESTIONS),
    Param("func", ParamTypes.aggFunc, default="sum"),
    Param("alignTo", ParamTypes.string, options=(None, "years", "months", "weeks", "days",
                                                 "hours", "minutes", "seconds", True, False)),
])
def smartSummarize(ctx, seriesList, intervalString, func="sum", alignTo=None):
    """summarize() with buckets starting at the series start; with alignTo ('years',
    'months', 'weeks', 'days', 'hours', 'minutes', 'seconds') the series are fetched again
    from the request start aligned to that unit (true/false are accepted and ignored)."""
    canonical = resolve(func, "smartSummarize", allow_series_suffix=False)
    interval = parse_interval(intervalString)
    if interval <= 0:
        raise InvalidParameter("smartSummarize", f"interval must be positive: "
                               f"{intervalString!r}", "intervalString")
    if isinstance(alignTo, str):
        tz = getattr(ctx, "tz", None)
        local = ctx.start_time.astimezone(tz) if tz is not None else ctx.start_time
        start = _align_down(local, alignTo, alignTo)
        seriesList = reevaluate(ctx, seriesList, start, ctx.end_time)
    results = []
    for series in seriesList:
        values, aligned_end = _summarize_buckets(series, canonical, interval, series.start,
                                                 series.end)
        name = f'smartSummarize({series.name}, "{intervalString}", "{func}")'
        results.append(derive(series, name, values, {"smartSummarize": intervalString,
                                                     "smartSummarizeFunction": func},
                              end=aligned_end, step=interval))
    return results
