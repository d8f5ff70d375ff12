"""The aggregator against statsd's documented results, values worked out by hand."""
import math

import pytest
from twisted.internet import task

from carbonish.statsd.aggregator import StatsdAggregator
from carbonish.statsd.config import HistogramRule, StatsdConfig
from carbonish.statsd.timers import js_round, threshold_label

START = 1_700_000_000


def make(clock=None, **kwargs):
    clock = clock or task.Clock()
    if clock.seconds() == 0:
        clock.advance(START)
    return StatsdAggregator(StatsdConfig(**kwargs), clock), clock


def flush(aggregator, clock, seconds=10):
    clock.advance(seconds)
    return aggregator.flush()


def values(rows):
    return {name: value for name, (_, value) in rows}


def feed(aggregator, *lines):
    aggregator.process_packet("\n".join(lines).encode())


def test_counter_rate_and_sample_rate():
    agg, clock = make()
    feed(agg, "gorets:1|c", "gorets:1|c|@0.1", "gorets:4|c")
    got = values(flush(agg, clock))
    assert got["stats.counters.gorets.count"] == 15.0       # 1 + 1/0.1 + 4
    assert got["stats.counters.gorets.rate"] == 1.5         # per second over 10 s


def test_counters_reset_to_zero_and_keep_reporting():
    agg, clock = make()
    feed(agg, "a:3|c")
    flush(agg, clock)
    got = values(flush(agg, clock))
    assert got["stats.counters.a.count"] == 0.0 and got["stats.counters.a.rate"] == 0.0


def test_timer_metrics_one_to_ten():
    agg, clock = make(percent_threshold=(90.0, -20.0, 50.0))
    feed(agg, *[f"t:{v}|ms" for v in (7, 3, 10, 1, 9, 2, 8, 5, 4, 6)])
    got = values(flush(agg, clock))
    expected = {
        "count": 10, "count_ps": 1, "lower": 1, "upper": 10, "sum": 55, "sum_squares": 385,
        "mean": 5.5, "median": 5.5, "std": math.sqrt(8.25),
        "count_90": 9, "upper_90": 9, "sum_90": 45, "mean_90": 5, "sum_squares_90": 285,
        "count_top20": 2, "lower_top20": 9, "sum_top20": 19, "mean_top20": 9.5,
        "sum_squares_top20": 181,
        "count_50": 5, "upper_50": 5, "sum_50": 15, "mean_50": 3, "sum_squares_50": 55,
    }
    timers = {name[len("stats.timers.t."):]: v for name, v in got.items()
              if name.startswith("stats.timers.t.")}
    assert timers == pytest.approx(expected, rel=1e-15)
    assert set(timers) == set(expected)


def test_timer_median_odd_and_sample_rate_count():
    agg, clock = make()
    feed(agg, "t:5|ms|@0.5", "t:1|ms|@0.5", "t:3|ms")
    got = values(flush(agg, clock))
    assert got["stats.timers.t.median"] == 3.0
    assert got["stats.timers.t.count"] == 5.0               # 2 + 2 + 1
    assert got["stats.timers.t.count_ps"] == 0.5
    assert got["stats.timers.t.count_90"] == 3.0            # round(2.7) of the values


def test_single_timer_value_fills_every_threshold():
    agg, clock = make(percent_threshold=(90.0, -10.0))
    feed(agg, "t:42|ms")
    got = values(flush(agg, clock))
    for name in ("mean_90", "upper_90", "sum_90", "mean_top10", "lower_top10", "sum_top10"):
        assert got["stats.timers.t." + name] == 42.0
    assert got["stats.timers.t.sum_squares_90"] == 1764.0
    assert got["stats.timers.t.std"] == 0.0


def test_threshold_listed_twice_is_reported_once():
    agg, clock = make(percent_threshold=(90.0, 90.0))
    feed(agg, "t:1|ms", "t:2|ms")
    names = [name for name, _ in flush(agg, clock)]
    assert names.count("stats.timers.t.mean_90") == 1


def test_threshold_with_no_value_is_left_out():
    agg, clock = make(percent_threshold=(10.0,))
    feed(agg, "t:1|ms", "t:2|ms", "t:3|ms", "t:4|ms")   # round(0.4) = 0 values
    got = values(flush(agg, clock))
    assert not any("_10" in name for name in got)


def test_whole_top_threshold_drops_what_statsd_computes_as_nan():
    agg, clock = make(percent_threshold=(-100.0,))
    feed(agg, "t:1|ms", "t:2|ms", "t:3|ms")
    got = values(flush(agg, clock))
    assert got["stats.timers.t.count_top100"] == 3.0
    assert got["stats.timers.t.lower_top100"] == 1.0
    assert "stats.timers.t.sum_top100" not in got
    assert "stats.timers.t.mean_top100" not in got


def test_idle_timer_reports_zero_count():
    agg, clock = make()
    feed(agg, "t:1|ms")
    flush(agg, clock)
    got = values(flush(agg, clock))
    timers = {n: v for n, v in got.items() if n.startswith("stats.timers.")}
    assert timers == {"stats.timers.t.count": 0.0, "stats.timers.t.count_ps": 0.0}


def test_histogram_bins_first_match_wins():
    rules = (HistogramRule("skip", ()), HistogramRule("t", (3.0, 5.5, math.inf)))
    agg, clock = make(histogram=rules)
    feed(agg, *[f"t:{v}|ms" for v in range(1, 11)], "skip.t:1|ms")
    got = values(flush(agg, clock))
    assert got["stats.timers.t.histogram.bin_3"] == 2.0     # 1, 2
    assert got["stats.timers.t.histogram.bin_5_5"] == 3.0   # 3, 4, 5
    assert got["stats.timers.t.histogram.bin_inf"] == 5.0   # 6 .. 10
    assert not any("skip.t.histogram" in name for name in got)


def test_histogram_ignores_values_past_last_bin_and_unsorted_bins():
    agg, clock = make(histogram=(HistogramRule("", (5.0, 2.0, 8.0)),))
    feed(agg, *[f"t:{v}|ms" for v in range(1, 11)])
    got = values(flush(agg, clock))
    assert got["stats.timers.t.histogram.bin_5"] == 4.0
    assert got["stats.timers.t.histogram.bin_2"] == 0.0     # already counted by bin_5
    assert got["stats.timers.t.histogram.bin_8"] == 3.0     # 5, 6, 7; 8 .. 10 ignored


def test_calculated_timer_metrics_filter():
    agg, clock = make(percent_threshold=(90.0, 99.9),
                      calculated_timer_metrics=("count", "upper_percent"))
    feed(agg, "t:1|ms", "t:2|ms")
    got = values(flush(agg, clock))
    timers = sorted(n for n in got if n.startswith("stats.timers."))
    # statsd's filter turns upper_99_9 into upper_99_percent, which is not asked for
    assert timers == ["stats.timers.t.count", "stats.timers.t.upper_90"]


def test_gauges_set_add_and_persist():
    agg, clock = make()
    feed(agg, "gaugor:333|g", "gaugor:-10|g", "gaugor:+4|g", "neg:-5|g", "zero:0|g",
         "zero:-3|g")
    got = values(flush(agg, clock))
    assert got["stats.gauges.gaugor"] == 327.0
    assert got["stats.gauges.neg"] == -5.0
    assert got["stats.gauges.zero"] == -3.0
    got = values(flush(agg, clock))
    assert got["stats.gauges.gaugor"] == 327.0               # kept until set again


def test_gauge_delta_on_zero_is_an_absolute_set():
    agg, clock = make()
    feed(agg, "g:5|g", "g:-5|g", "g:+2|g")   # 5, then 0, then 0 is falsy so +2 sets 2
    assert values(flush(agg, clock))["stats.gauges.g"] == 2.0


def test_delete_gauges_after_ttl_flushes():
    agg, clock = make(delete_gauges=True, gauges_max_ttl=2)
    feed(agg, "g:1|g")
    assert "stats.gauges.g" in values(flush(agg, clock))
    assert "stats.gauges.g" in values(flush(agg, clock))
    assert "stats.gauges.g" not in values(flush(agg, clock))


def test_sets_count_distinct_members_and_reset():
    agg, clock = make()
    feed(agg, "u:765|s", "u:766|s", "u:765|s", "u:|s", "u:0|s")
    assert values(flush(agg, clock))["stats.sets.u.count"] == 3.0
    assert values(flush(agg, clock))["stats.sets.u.count"] == 0.0


def test_delete_idle_stats_keeps_only_statsd_counters():
    agg, clock = make(delete_idle_stats=True)
    feed(agg, "c:1|c", "t:1|ms", "g:1|g", "s:1|s", "my.bad_lines_seen:1|c")
    flush(agg, clock)
    got = values(flush(agg, clock))
    assert sorted(n for n in got if ".counters." in n and n.endswith(".count")) == [
        "stats.counters.my.bad_lines_seen.count",
        "stats.counters.statsd.bad_lines_seen.count",
        "stats.counters.statsd.metrics_received.count",
        "stats.counters.statsd.packets_received.count"]
    assert not any(part in n for n in got for part in (".timers.", ".sets.", "gauges.g"))


def test_bad_lines_counted_and_rest_of_packet_taken():
    agg, clock = make()
    feed(agg, "a:1|c", "garbage", "b:x|c", "c:2|c:y|c", "", "d:1|ms")
    got = values(flush(agg, clock))
    assert got["stats.counters.statsd.bad_lines_seen.count"] == 3.0
    assert got["stats.counters.statsd.metrics_received.count"] == 5.0   # empty lines not
    assert got["stats.counters.statsd.packets_received.count"] == 1.0
    assert got["stats.counters.a.count"] == 1.0 and got["stats.counters.c.count"] == 2.0
    assert got["stats.timers.d.count"] == 1.0
    assert agg.bad_lines_total == 3


def test_own_metrics_and_num_stats():
    agg, clock = make()
    feed(agg, "a:1|c", "t:1|ms", "g:1|g", "s:1|s")
    got = values(flush(agg, clock))
    # 3 statsd counters + a, one timer, one gauge, one set
    assert got["stats.statsd.numStats"] == 7.0
    assert got["stats.statsd.graphiteStats.last_exception"] == 0.0
    assert got["stats.statsd.graphiteStats.last_flush"] == START
    assert got["stats.statsd.processing_time"] == 0.0          # the clock did not move
    assert got["stats.statsd.graphiteStats.calculationtime"] == 0.0
    got = values(flush(agg, clock, seconds=12))
    assert got["stats.statsd.graphiteStats.last_flush"] == START + 10
    assert got["stats.gauges.statsd.timestamp_lag"] == 2.0
    assert got["stats.statsd.numStats"] == 8.0                 # timestamp_lag is a gauge


def test_rows_are_name_timestamp_value_rounded_like_javascript():
    clock = task.Clock()
    clock.advance(START + 0.4)
    agg, _ = make(clock)
    feed(agg, "a:1|c")
    rows = agg.flush()
    assert ("stats.counters.a.count", (START, 1.0)) in rows
    clock.advance(0.1)
    assert all(ts == START + 1 for _, (ts, _) in agg.flush())
    assert all(isinstance(ts, int) and isinstance(v, float) for _, (ts, v) in rows)


def test_legacy_namespace():
    agg, clock = make(legacy_namespace=True, global_suffix="h1")
    feed(agg, "a:5|c", "t:1|ms", "g:2|g", "s:x|s", "k:1|c|#env:prod")
    got = values(flush(agg, clock))
    for name, value in [("stats.a.h1", 0.5), ("stats_counts.a.h1", 5.0),
                        ("stats.timers.t.count.h1", 1.0), ("stats.gauges.g.h1", 2.0),
                        ("stats.sets.s.count.h1", 1.0), ("statsd.numStats.h1", 8.0),
                        ("stats.statsd.processing_time.h1", 0.0),
                        ("stats.statsd.graphiteStats.calculationtime.h1", 0.0),
                        ("stats.k.h1;env=prod", 0.1),
                        ("stats.statsd.bad_lines_seen.h1", 0.0)]:
        assert got[name] == value, name


def test_custom_prefixes_and_no_counts():
    agg, clock = make(global_prefix="", prefix_counter="", prefix_timer="tm",
                      prefix_gauge="gg", prefix_set="st", prefix_stats="agg",
                      flush_counts=False)
    feed(agg, "a:5|c", "t:1|ms", "g:2|g", "s:x|s")
    got = values(flush(agg, clock))
    assert got["a.rate"] == 0.5 and "a.count" not in got
    assert got["tm.t.count"] == 1.0 and got["gg.g"] == 2.0 and got["st.s.count"] == 1.0
    assert got["agg.numStats"] == 7.0 and got["agg.packets_received.rate"] == 0.1


def test_tags_stay_at_the_end_of_the_name():
    agg, clock = make()
    feed(agg, "req:1|c|#env:prod,az:b", "lat:5|ms|#env:prod")
    got = values(flush(agg, clock))
    assert got["stats.counters.req.count;env=prod;az=b"] == 1.0
    assert got["stats.timers.lat.upper;env=prod"] == 5.0


def test_bulk_equals_one_packet_at_a_time():
    packets = [b"a:1|c\nt:3|ms", b"g:5|g", b"g:-2|g\ns:1|s", b"bad", b"a:2|c|@0.5\n"]
    one, clock_one = make()
    for packet in packets:
        one.process_packet(packet)
    bulk, clock_bulk = make()
    bulk.process_packets(packets)
    bulk.process_packets([])
    assert values(flush(one, clock_one)) == values(flush(bulk, clock_bulk))


def test_parse_cache_is_bounded():
    clock = task.Clock()
    agg = StatsdAggregator(StatsdConfig(), clock, parse_cache_limit=3)
    agg.process_packets([f"k{i}:1|c".encode() for i in range(10)])
    agg.process_packets([b"k0:1|c"])
    assert len(agg._parsed) <= 4
    assert values(flush(agg, clock))["stats.counters.k0.count"] == 2.0


def test_nan_counter_starts_over_as_statsd_does():
    agg, clock = make()
    feed(agg, "a:Infinity|c", "a:-Infinity|c", "a:2|c")   # inf - inf is NaN; !NaN resets
    assert values(flush(agg, clock))["stats.counters.a.count"] == 2.0


@pytest.mark.parametrize("x, rounded", [(0.5, 1), (1.5, 2), (2.5, 3), (-0.5, 0), (2.4999, 2),
                                         (0.49999999999999994, 0)])
def test_js_round(x, rounded):
    assert js_round(x) == rounded


@pytest.mark.parametrize("pct, label", [(90.0, "90"), (99.9, "99_9"), (-10.0, "top10"),
                                         (-99.5, "top99_5")])
def test_threshold_label(pct, label):
    assert threshold_label(pct) == label
