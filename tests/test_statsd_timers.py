"""timers_metrics (grouped, padded arrays) against a plain transcription of statsd 0.9's
process_metrics.js loop, on random timers of many lengths at once."""
import math

from hypothesis import given, settings, strategies as st

from carbonish.statsd.timers import bin_label, threshold_label, timers_metrics


def statsd_reference(values, count, flush_interval, thresholds, bins):
    """process_metrics.js for one timer, statement by statement, in plain Python."""
    if not values:
        return {"count": 0.0, "count_ps": 0.0}
    values = sorted(values)
    n = len(values)
    cumulative, cumul_squares = [values[0]], [values[0] * values[0]]
    for i in range(1, n):
        cumulative.append(values[i] + cumulative[i - 1])
        cumul_squares.append(values[i] * values[i] + cumul_squares[i - 1])
    out = {}
    total, squares, mean, boundary = values[0], values[0] * values[0], values[0], values[-1]
    for pct in thresholds:
        k = n
        if n > 1:
            x = abs(pct) / 100 * n
            k = math.floor(x) + (1 if x - math.floor(x) >= 0.5 else 0)
            if k == 0:
                continue
            if pct > 0:
                boundary, total, squares = values[k - 1], cumulative[k - 1], cumul_squares[k - 1]
            else:
                boundary = values[n - k]
                below = n - k - 1   # JavaScript reads undefined at -1: NaN
                total = cumulative[n - 1] - cumulative[below] if below >= 0 else math.nan
                squares = (cumul_squares[n - 1] - cumul_squares[below]
                           if below >= 0 else math.nan)
            mean = total / k
        label = threshold_label(pct)
        out["count_" + label] = float(k)
        out["mean_" + label] = mean
        out[("upper_" if pct > 0 else "lower_") + label] = boundary
        out["sum_" + label] = total
        out["sum_squares_" + label] = squares
    total, squares = cumulative[-1], cumul_squares[-1]
    mean = total / n
    diffs = 0.0
    for v in values:
        diffs += (v - mean) * (v - mean)
    mid = n // 2
    out.update(std=math.sqrt(diffs / n), upper=values[-1], lower=values[0], count=count,
               count_ps=count / flush_interval, sum=total, sum_squares=squares, mean=mean,
               median=values[mid] if n % 2 else (values[mid - 1] + values[mid]) / 2)
    i = 0
    for bound in bins:
        freq = 0
        while i < n and (bound == math.inf or values[i] < bound):
            freq += 1
            i += 1
        out["histogram." + bin_label(bound)] = float(freq)
    return out


def same(a, b):
    return a == b or (math.isnan(a) and math.isnan(b))


timer_values = st.lists(st.one_of(st.integers(0, 1000).map(float),
                                  st.floats(0, 1e6, allow_nan=False, allow_infinity=False),
                                  st.sampled_from([0.1, 2.5, 1e-9, 1e300])),
                        max_size=40)


@settings(max_examples=60, deadline=None)
@given(timers=st.dictionaries(st.text("abc", min_size=1, max_size=3), timer_values,
                              max_size=12),
       thresholds=st.lists(st.sampled_from([90.0, 50.0, 99.9, 1.0, 100.0, -10.0, -50.0,
                                            -100.0, 33.3]), max_size=4, unique=True),
       rate=st.sampled_from([1.0, 0.5, 0.1]))
def test_grouped_timers_equal_statsd_loop(timers, thresholds, rate):
    counts = {key: len(values) / rate for key, values in timers.items()}
    bins = (1.0, 100.0, 0.5, math.inf)
    labelled = [(p, threshold_label(p)) for p in thresholds]
    got = timers_metrics(timers, counts, 10.0, labelled,
                         lambda key: bins if key.startswith("a") else ())
    assert set(got) == set(timers)
    for key, values in timers.items():
        expected = statsd_reference(values, counts[key], 10.0, thresholds,
                                    bins if key.startswith("a") else ())
        metrics = dict(got[key])
        assert len(metrics) == len(got[key])          # no name twice
        assert set(metrics) == set(expected)
        assert all(same(metrics[name], expected[name]) for name in expected), key


def test_infinite_values_sort_among_the_padding():
    inf = math.inf
    got = dict(timers_metrics({"t": [inf, 1.0, inf]}, {"t": 3.0}, 1.0,
                              [(90.0, "90")], lambda key: (2.0, inf))["t"])
    assert got["lower"] == 1.0 and got["upper"] == inf and got["median"] == inf
    assert math.isnan(got["std"])                      # inf - inf, as in statsd
    assert got["histogram.bin_2"] == 1.0 and got["histogram.bin_inf"] == 2.0
