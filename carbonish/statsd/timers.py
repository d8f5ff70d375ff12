"""A timer's values at flush -> statsd 0.9's timer metrics (lib/process_metrics.js).

For each percent threshold p (k = round(|p|/100 * n) of the n sorted values, when n > 1):
p > 0 takes the k lowest values: count_p, mean_p, upper_p (the k-th), sum_p, sum_squares_p;
p < 0 takes the k highest, named `top`: count_top10, mean_top10, lower_top10, ...
(a threshold with k = 0 is left out). Then std (population), upper, lower, count
(sample-rate weighted), count_ps, sum, sum_squares, mean, median, and histogram bins:
bin_<bound> counts values below each bound not counted by an earlier bin ('inf' takes
the rest), `.` in the bound written `_`.

Sums are sequential cumulative sums, as statsd adds, so results match it to the bit.
Where statsd computes NaN (p < 0 with k = n reads past its array) NaN is returned; the
caller drops it as carbon drops NaN points.
"""
import math
import re

import numpy as np

from carbonish.statsd.jsnum import js_number_str

_PERCENT_SUFFIX = re.compile(r"_(top)?\d+\Z")


def threshold_label(pct: float) -> str:
    """statsd's name for a threshold: 90 -> '90', 99.9 -> '99_9', -10 -> 'top10'."""
    return js_number_str(pct).replace(".", "_", 1).replace("-", "top", 1)


def bin_label(bound: float) -> str:
    return "bin_inf" if bound == math.inf else "bin_" + js_number_str(bound).replace(".", "_", 1)


def js_round(x: float) -> int:
    """`Math.round`: nearest integer, halves toward +infinity."""
    floor = math.floor(x)
    return floor + 1 if x - floor >= 0.5 else floor


def _threshold_metrics(pct, v, cum, cumsq, label):
    n = len(v)
    k = js_round(abs(pct) / 100 * n) if n > 1 else n
    if k == 0:
        return []
    if n == 1:
        bound, total, squares = v[0], v[0], v[0] * v[0]
    elif pct > 0:
        bound, total, squares = v[k - 1], cum[k - 1], cumsq[k - 1]
    else:
        bound = v[n - k]
        below = n - k - 1
        total = cum[n - 1] - cum[below] if below >= 0 else math.nan
        squares = cumsq[n - 1] - cumsq[below] if below >= 0 else math.nan
    return [("count_" + label, float(k)),
            ("mean_" + label, total / k),
            (("upper_" if pct > 0 else "lower_") + label, bound),
            ("sum_" + label, total),
            ("sum_squares_" + label, squares)]


def histogram(v, bounds) -> list:
    """[(bin label, frequency)] for sorted values `v` and statsd's bin bounds."""
    positions = np.searchsorted(v, np.asarray(bounds, dtype=np.float64), side="left")
    positions[np.isinf(bounds)] = len(v)
    ends = np.maximum.accumulate(positions)
    counts = np.diff(ends, prepend=0)
    return [(bin_label(b), float(c)) for b, c in zip(bounds, counts)]


def timer_metrics(values, count, flush_interval, thresholds, bins) -> list:
    """[(metric name or ('histogram', bin), value)] for one timer, in statsd's order.

    `values` are the timings of the interval, `count` the sample-weighted count,
    `thresholds` (float, label) pairs, `bins` the matching histogram bounds (or ()).
    """
    if not values:
        return [("count", 0.0), ("count_ps", 0.0)]
    v = np.sort(np.asarray(values, dtype=np.float64))
    cum = np.cumsum(v)
    cumsq = np.cumsum(v * v)
    out = []
    for pct, label in thresholds:
        out.extend(_threshold_metrics(pct, v, cum, cumsq, label))
    n = len(v)
    total = cum[-1]
    mean = total / n
    with np.errstate(invalid="ignore"):   # Infinity - Infinity is NaN, as in statsd
        deviations = v - mean
        variance = np.cumsum(deviations * deviations)[-1] / n
    mid = n // 2
    out += [("std", math.sqrt(variance)),
            ("upper", v[-1]), ("lower", v[0]),
            ("count", count), ("count_ps", count / flush_interval),
            ("sum", total), ("sum_squares", cumsq[-1]), ("mean", mean),
            ("median", v[mid] if n % 2 else (v[mid - 1] + v[mid]) / 2)]
    if bins:
        out += [(("histogram", label), freq) for label, freq in histogram(v, bins)]
    return [(name, float(value)) for name, value in out]


def keep_calculated(metrics, calculated) -> list:
    """statsd's calculatedTimerMetrics filter (`mean_90` is asked for as `mean_percent`)."""
    if not calculated:
        return metrics
    return [(name, value) for name, value in metrics
            if _PERCENT_SUFFIX.sub("_percent", name if isinstance(name, str) else name[0])
            in calculated]
