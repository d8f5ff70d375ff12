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
from itertools import chain

import numpy as np

from carbonish.statsd.jsnum import js_number_str

_PERCENT_SUFFIX = re.compile(r"_(top)?\d+\Z")


def threshold_label(pct: float) -> str:
    """statsd's name for a threshold: 90 -> '90', 99.9 -> '99_9', -10 -> 'top10'."""
    return js_number_str(pct).replace(".", "_", 1).replace("-", "top", 1)


def bin_label(bound: float) -> str:
    return "bin_inf" if bound == math.inf else "bin_" + js_number_str(bound).replace(".", "_", 1)


def js_round(x):
    """`Math.round` of a number or an array: nearest integer, halves toward +infinity
    (floor(x + 0.5) would round 0.49999999999999994 up)."""
    floor = np.floor(x)
    return floor + (x - floor >= 0.5)


def histogram(v, bounds) -> list:
    """[(bin label, frequency)] for sorted values `v` and statsd's bin bounds."""
    positions = np.searchsorted(v, np.asarray(bounds, dtype=np.float64), side="left")
    positions[np.isinf(bounds)] = len(v)
    ends = np.maximum.accumulate(positions)
    counts = np.diff(ends, prepend=0)
    return [(bin_label(b), float(c)) for b, c in zip(bounds, counts)]


def timers_metrics(timers, counts, flush_interval, thresholds, bins_of) -> dict:
    """{key: [(metric name, value)]} for every timer of a flush (`histogram.bin_10` ...).

    `timers` maps a key to its values of the interval, `counts` to its sample-weighted
    count, `thresholds` holds (float, label) pairs and `bins_of(key)` the histogram
    bounds of a key (or ()). Timers are computed together, grouped by length rounded up
    to a power of two, one padded 2-D array per group: one sort, one cumulative sum per
    row (sequential, as statsd adds), whatever the number of timers.
    """
    out = {}
    groups = {}
    for key, values in timers.items():
        if values:
            groups.setdefault(1 << (len(values) - 1).bit_length(), []).append(key)
        else:
            out[key] = [("count", 0.0), ("count_ps", 0.0)]
    for width, keys in groups.items():
        table = _TimerGroup([timers[k] for k in keys], width)
        columns = table.columns(thresholds, [counts[k] for k in keys], flush_interval)
        for i, key in enumerate(keys):
            metrics = [(name, values[i]) for name, values, present in columns
                       if present is None or present[i]]
            bins = bins_of(key)
            if bins:
                metrics += [("histogram." + label, freq)
                            for label, freq in histogram(table.sorted_row(i), bins)]
            out[key] = metrics
    return out


class _TimerGroup:
    """Timers of similar length as rows of one array padded with +inf, sorted by row."""

    def __init__(self, lists, width):
        m = len(lists)
        self.lens = lens = np.fromiter(map(len, lists), dtype=np.int64, count=m)
        flat = np.fromiter(chain.from_iterable(lists), dtype=np.float64, count=int(lens.sum()))
        starts = np.cumsum(lens) - lens
        v = np.full((m, width), np.inf)
        v[np.repeat(np.arange(m), lens), np.arange(flat.size) - np.repeat(starts, lens)] = flat
        v.sort(axis=1)
        self.v = v
        self.valid = np.arange(width) < lens[:, None]
        z = np.where(self.valid, v, 0.0)
        with np.errstate(over="ignore", invalid="ignore"):   # Infinity, as in statsd
            self.cum = np.cumsum(z, axis=1)
            self.cumsq = np.cumsum(z * z, axis=1)
        self.rows = np.arange(m)

    def sorted_row(self, i):
        return self.v[i, :self.lens[i]]

    def columns(self, thresholds, counts, flush_interval):
        """[(name, values list, present mask list or None)] in statsd's order."""
        r, lens, v = self.rows, self.lens, self.v
        n = lens.astype(np.float64)
        last = lens - 1
        total = self.cum[r, last]
        mean = total / n
        with np.errstate(over="ignore", invalid="ignore"):   # inf, inf - inf: as statsd
            deviations = np.where(self.valid, v - mean[:, None], 0.0)
            variance = np.cumsum(deviations * deviations, axis=1)[r, last] / n
            mid = lens // 2
            below_mid = v[r, np.maximum(mid - 1, 0)]
            median = np.where(lens % 2 == 1, v[r, mid], (below_mid + v[r, mid]) / 2)
        counts = np.asarray(counts, dtype=np.float64)
        columns = []
        for pct, label in thresholds:
            columns += self._threshold(pct, label, n, total)
        columns += [(name, values, None) for name, values in [
            ("std", np.sqrt(variance)), ("upper", v[r, last]), ("lower", v[:, 0]),
            ("count", counts), ("count_ps", counts / flush_interval), ("sum", total),
            ("sum_squares", self.cumsq[r, last]), ("mean", mean), ("median", median)]]
        return [(name, values.tolist(), None if present is None else present.tolist())
                for name, values, present in columns]

    def _threshold(self, pct, label, n, total):
        r, lens, v = self.rows, self.lens, self.v
        k = np.where(lens > 1, js_round(abs(pct) / 100 * n).astype(np.int64), lens)
        present = k > 0
        k = np.maximum(k, 1)
        with np.errstate(over="ignore", invalid="ignore"):
            if pct > 0:
                bound, part, squares = v[r, k - 1], self.cum[r, k - 1], self.cumsq[r, k - 1]
            else:
                bound = v[r, lens - k]
                below = lens - k - 1
                at = np.maximum(below, 0)
                single = lens == 1
                part = np.where(single, v[:, 0], np.where(
                    below >= 0, total - self.cum[r, at], np.nan))
                squares = np.where(single, v[:, 0] * v[:, 0], np.where(
                    below >= 0, self.cumsq[r, lens - 1] - self.cumsq[r, at], np.nan))
            mean = part / k
        return [("count_" + label, k.astype(np.float64), present),
                ("mean_" + label, mean, present),
                (("upper_" if pct > 0 else "lower_") + label, bound, present),
                ("sum_" + label, part, present),
                ("sum_squares_" + label, squares, present)]


def keep_calculated(metrics, calculated) -> list:
    """statsd's calculatedTimerMetrics filter (`mean_90` is asked for as `mean_percent`)."""
    if not calculated:
        return metrics
    return [(name, value) for name, value in metrics
            if _PERCENT_SUFFIX.sub("_percent", name.split(".", 1)[0]) in calculated]
