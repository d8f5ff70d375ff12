"""Hand-checked behaviour beyond the graphite-web golden cases: where graphite-web 1.1.10
itself crashes (we answer sensibly), re-evaluation, DST alignment, regexes, edge inputs."""
import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from webapp.errors import InputError
from webapp.functions import InvalidParameter, Registry
from webapp.functions.common import agg_key, first_path_expression, reevaluate
from webapp.series import TimeSeries

N = np.nan


@pytest.fixture(scope="module")
def registry():
    return Registry()


def ts(name, values, start=0, step=10):
    return TimeSeries(name, start, start + step * len(values), step, values)


def listed(series):
    return [None if v != v else v for v in series.values.tolist()]


class Ctx:
    def __init__(self, start=0, end=120, tz=timezone.utc, refetch=None, **extra):
        self.start_time = datetime.fromtimestamp(start, timezone.utc)
        self.end_time = datetime.fromtimestamp(end, timezone.utc)
        self.now = self.end_time
        self.tz = tz
        self.refetch = refetch or (lambda text, start, end: [])
        self.calls = []
        self.__dict__.update(extra)

    def evaluate(self, text, start_time=None, end_time=None):
        self.calls.append((text, start_time, end_time))
        return self.refetch(text, start_time, end_time)


def call(registry, name, *args, ctx=None, **kwargs):
    return registry.call(name, ctx or Ctx(), list(args), kwargs)


# --- graphite-web 1.1.10 raises a server error on these; our answers -------------------

def test_nonnegative_derivative_with_max_value_and_gaps():
    registry = Registry()
    counter = ts("c", [250.0, N, 10.0, 20.0, 300.0, 5.0, 30.0])
    result = call(registry, "nonNegativeDerivative", [counter], 255)
    # 300 is above maxValue: None, and the next reading has no previous one
    assert listed(result[0]) == [None, None, None, 10.0, None, None, 25.0]
    wrapped = call(registry, "nonNegativeDerivative", [ts("c", [250.0, 4.0])], 255)
    assert listed(wrapped[0]) == [None, 255 + 1 + 4.0 - 250.0]


def test_nonnegative_derivative_with_min_value():
    registry = Registry()
    result = call(registry, "nonNegativeDerivative", [ts("c", [50.0, 40.0, 5.0, 60.0])],
                  None, 10)
    assert listed(result[0]) == [None, 30.0, None, None]
    both = call(registry, "nonNegativeDerivative", [ts("c", [90.0, 15.0])], 100, 10)
    assert listed(both[0]) == [None, 100 + 1 + 15.0 - 90.0 - 10]


def test_per_second_with_max_value_divides_by_step_and_rounds():
    registry = Registry()
    result = call(registry, "perSecond", [ts("c", [10.0, 20.0, 5.0, N, 8.0], step=3)], 20)
    assert listed(result[0]) == [None, round(10 / 3, 6), round((20 + 1 + 5.0 - 20.0) / 3, 6),
                                 None, None]


def test_as_percent_by_nodes_with_a_total_only_group():
    registry = Registry()
    used = [ts("s1.mem.used", [1.0, 2.0]), ts("s2.mem.used", [3.0, N])]
    total = [ts("s1.mem.total", [4.0, 4.0]), ts("s3.mem.total", [8.0, 8.0])]
    result = call(registry, "asPercent", used, total, 0)
    assert [s.name for s in result] == ["asPercent(s1.mem.used,s1.mem.total)",
                                        "asPercent(s2.mem.used,MISSING)",
                                        "asPercent(MISSING,s3.mem.total)"]
    assert [listed(s) for s in result] == [[25.0, 50.0], [None, None], [None, None]]
    with pytest.raises(InvalidParameter, match="total must be None or a seriesList"):
        call(registry, "asPercent", used, 100, 0)
    with pytest.raises(InvalidParameter, match="total must be a number"):
        call(registry, "asPercent", used, "abc")
    with pytest.raises(InvalidParameter, match="same number of series"):
        call(registry, "asPercent", used + total[:1], total)


# --- re-evaluation -------------------------------------------------------------------

def test_reevaluate_without_arg_texts_uses_distinct_path_expressions():
    ctx = Ctx(refetch=lambda text, start, end: [ts(text + ".x", [1.0])])
    series = [TimeSeries("a.1", 0, 10, 10, [1.0], path_expression="a.*"),
              TimeSeries("a.2", 0, 10, 10, [1.0], path_expression="a.*"),
              TimeSeries("b.1", 0, 10, 10, [1.0], path_expression="b.{1,2}")]
    result = reevaluate(ctx, series, ctx.start_time, ctx.end_time)
    assert [s.name for s in result] == ["a.*.x", "b.{1,2}.x"]


def test_moving_average_fetches_the_window_before_the_start():
    def refetch(text, start, end):
        first = int(start.timestamp())
        return [ts("a.b", [float(i) for i in range((int(end.timestamp()) - first) // 10)],
                   start=first)]
    ctx = Ctx(start=100, end=160, refetch=refetch)
    result = call(Registry(), "movingAverage", [ts("a.b", [0.0] * 6, start=100)], 3, ctx=ctx)
    assert ctx.calls[0][1] == datetime.fromtimestamp(70, timezone.utc)
    assert (result[0].start, result[0].end) == (100, 160)
    assert listed(result[0]) == [2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    assert result[0].tags["movingAverage"] == "3"
    assert call(Registry(), "movingAverage", [], 3, ctx=ctx) == []


def test_moving_window_larger_than_chunk(monkeypatch):
    from webapp.functions import calculate
    monkeypatch.setattr(calculate, "CHUNK_ELEMENTS", 8)
    values = np.arange(20.0)
    assert calculate.moving_values(values, 4, "median", 0).tolist() == \
        [i + 2.5 for i in range(16)]
    assert calculate.moving_values(values, 4, "sum", 0).tolist() == \
        [float(sum(range(i + 1, i + 5))) for i in range(16)]
    assert np.isnan(calculate.moving_values(values, 0, "sum", 0)).all()
    assert calculate.moving_values(values, 3, "count", 0.5).tolist() == [3.0] * 17


def test_time_shift_keeps_the_original_period_and_handles_reset_end():
    def refetch(text, start, end):
        return [ts("a.b", [1.0, 2.0, 3.0], start=int(start.timestamp()))]
    ctx = Ctx(start=3600, end=3630, refetch=refetch, arg_texts=["a.b"])
    original = [ts("a.b", [9.0, 9.0, 9.0], start=3600)]
    result = call(Registry(), "timeShift", original, "1h", ctx=ctx)
    assert ctx.calls == [("a.b", datetime.fromtimestamp(0, timezone.utc),
                          datetime.fromtimestamp(30, timezone.utc))]
    assert (result[0].name, result[0].start, result[0].end) == ('timeShift(a.b, "-1h")', 3600, 3630)
    assert result[0].tags["timeShift"] == "-1h"


def test_time_shift_align_dst_moves_by_an_hour_across_a_change():
    zone = ZoneInfo("Europe/Berlin")
    summer = datetime(2024, 7, 1, 12, tzinfo=zone).timestamp()
    ctx = Ctx(start=summer, end=summer + 3600, tz=zone,
              refetch=lambda text, start, end: [ts("a.b", [1.0], start=int(start.timestamp()))])
    call(Registry(), "timeShift", [ts("a.b", [1.0], start=int(summer))], "180d", True, True,
         ctx=ctx)
    shifted = ctx.calls[0][1]
    assert shifted == ctx.start_time - timedelta(days=180) + timedelta(hours=1)
    ctx.calls.clear()
    call(Registry(), "timeShift", [ts("a.b", [1.0], start=int(summer))], "1d", True, True,
         ctx=ctx)
    assert ctx.calls[0][1] == ctx.start_time - timedelta(days=1)


def test_hitcount_align_to_interval_refetches_from_an_aligned_start():
    def refetch(text, start, end):
        first = int(start.timestamp())
        return [ts("hits", [1.0] * ((int(end.timestamp()) - first) // 60), start=first, step=60)]
    ctx = Ctx(start=7290, end=7290 + 3 * 3600, refetch=refetch)
    result = call(Registry(), "hitcount", [ts("hits", [1.0])], "1h", True, ctx=ctx)
    assert ctx.calls[0][1] == datetime.fromtimestamp(7200, timezone.utc)
    assert result[0].name == 'hitcount(hits, "1h", true)'
    assert (result[0].start, result[0].step) == (7200, 3600)
    assert listed(result[0])[0] == 3600.0
    for interval, expected in (("1d", 0), ("1min", 7260), ("10s", 7290)):
        ctx.calls.clear()
        call(Registry(), "hitcount", [ts("hits", [1.0])], interval, True, ctx=ctx)
        assert ctx.calls[0][1] == datetime.fromtimestamp(expected, timezone.utc)


def test_hitcount_spreads_a_long_step_over_several_buckets():
    result = call(Registry(), "hitcount", [ts("h", [2.0, N, 1.0], step=25)], "10s")
    # buckets of 10 s from end - 8 * 10 = -5: point 0 covers [0, 25), point 2 [50, 75)
    assert result[0].start == -5
    assert listed(result[0]) == [10.0, 20.0, 20.0, None, None, 5.0, 10.0, 10.0]


def test_zero_intervals_are_refused():
    with pytest.raises(InvalidParameter, match="positive"):
        call(Registry(), "summarize", [ts("a", [1.0])], "0s")
    with pytest.raises(InvalidParameter, match="positive"):
        call(Registry(), "hitcount", [ts("a", [1.0])], "-1min")


# --- regexes ---------------------------------------------------------------------------

def test_regex_functions_use_the_request_regex_compiler():
    compiled = []

    def compile_regex(pattern):
        compiled.append(pattern)
        return re.compile(pattern)
    ctx = Ctx(compile_regex=compile_regex)
    registry = Registry()
    series = [ts("a.b", [1.0]), ts("c.d", [1.0])]
    assert [s.name for s in call(registry, "grep", series, "^a", ctx=ctx)] == ["a.b"]
    assert [s.name for s in call(registry, "exclude", series, "^a", ctx=ctx)] == ["c.d"]
    assert [s.name for s in call(registry, "aliasSub", series, r"(\w)\.", r"\1-", ctx=ctx)] == \
        ["a-b", "c-d"]
    assert compiled == ["^a", "^a", r"(\w)\."]


@pytest.mark.parametrize("name,args", [
    ("grep", ("(",)), ("exclude", ("[",)), ("aliasSub", ("(", "x")), ("aliasSub", ("a", r"\2")),
])
def test_bad_regexes_are_input_errors(name, args):
    with pytest.raises(InputError, match=name):
        call(Registry(), name, [ts("a.b", [1.0])], *args)


# --- names and keys --------------------------------------------------------------------

@pytest.mark.parametrize("name,expected", [
    ("sumSeries(a.b.*,c.d)", "a.b.*"),
    ("scale(alias(a.{b,c}.d,'x'),2)", "a.{b,c}.d"),
    ("constantLine(3)", None),
    ("alias('a.b',x)", None),
    ("a.b", "a.b"),
    ("f(g(h(x.y)))", "x.y"),
])
def test_first_path_expression(name, expected):
    assert first_path_expression(name) == expected


def test_agg_key_uses_first_path_expression_of_function_names_and_tags():
    series = TimeSeries("sumSeries(a.b.c)", 0, 10, 10, [1.0], tags={"name": "x", "dc": "east"})
    assert agg_key(series, (1, "dc", "missing", 9)) == "b.east.."
    constant = TimeSeries("constantLine(3)", 0, 10, 10, [1.0])
    assert agg_key(constant, (0,)) == "constantLine(3)"


# --- small edge cases ------------------------------------------------------------------

def test_count_series_without_arguments_is_a_zero_line():
    result = call(Registry(), "countSeries")
    assert (result[0].name, result[0].path_expression) == ("0", "countSeries()")
    assert listed(result[0]) == [0, 0, 0]


def test_divide_series_without_divisor_gives_missing_nones():
    result = call(Registry(), "divideSeries", [ts("a", [1.0, 2.0])], [])
    assert (result[0].name, listed(result[0])) == ("divideSeries(a,MISSING)", [None, None])


def test_delay_zero_gives_an_empty_series_as_graphite():
    assert listed(call(Registry(), "delay", [ts("a", [1.0, 2.0])], 0)[0]) == []


def test_n_percentile_zero_is_refused_and_empty_series_dropped():
    with pytest.raises(InvalidParameter, match="greater than 0"):
        call(Registry(), "nPercentile", [ts("a", [1.0])], 0)
    assert call(Registry(), "nPercentile", [ts("a", [N, N])], 50) == []


def test_remove_between_percentile_keeps_outliers():
    # percentiles 30 and 70 of 1..5 are 2 and 5: only values strictly between are dropped
    series = [ts(name, [float(i + 1), N]) for i, name in enumerate("abcde")]
    kept = call(Registry(), "removeBetweenPercentile", series, 30)
    assert [s.name for s in kept] == ["a", "b", "e"]
    assert call(Registry(), "removeBetweenPercentile", [], 30) == []


def test_most_deviant_skips_empty_series():
    series = [ts("flat", [1.0, 1.0]), ts("wild", [0.0, 10.0]), ts("none", [N, N])]
    assert [s.name for s in call(Registry(), "mostDeviant", series, 5)] == ["wild", "flat"]


def test_transform_null_with_empty_reference_acts_plainly():
    result = call(Registry(), "transformNull", [ts("a", [N, 1.0])], 5, [ts("r", [])])
    assert (result[0].name, listed(result[0])) == ("transformNull(a,5,referenceSeries)", [5.0, 1.0])


def test_offset_to_zero_of_an_empty_series_and_interpolate_edges():
    assert listed(call(Registry(), "offsetToZero", [ts("a", [N, N])])[0]) == [None, None]
    result = call(Registry(), "interpolate", [ts("a", [N, 1.0, N, N, 4.0, N])])
    assert listed(result[0]) == [None, 1.0, 2.0, 3.0, 4.0, None]
    assert listed(call(Registry(), "interpolate", [ts("a", [N, N])])[0]) == [None, None]


def test_set_x_files_factor_changes_consolidation():
    result = call(Registry(), "xFilesFactor", [ts("a", [1.0, N, N, N])], 0.5)
    assert result[0].x_files_factor == 0.5 and result[0].tags["xFilesFactor"] == "0.5"


def test_group_by_nodes_callback_as_series_function_keeps_its_tags():
    series = [ts("a.x", [1.0]), ts("a.y", [2.0])]
    by_function = call(Registry(), "groupByNode", series, 0, "avg")[0]
    by_aggregation = call(Registry(), "groupByNode", series, 0, "average")[0]
    assert by_function.name == by_aggregation.name == "a"
    assert by_function.tags["aggregatedBy"] == by_aggregation.tags["aggregatedBy"] == "average"
    assert by_function.path_expression == "averageSeries(a.x,a.y)"


def test_functions_never_mutate_their_input():
    registry = Registry()
    series = [ts("a.b", [1.0, N, 3.0]), ts("a.c", [2.0, 2.0, N], step=20)]
    before = [(s.name, s.path_expression, dict(s.tags), s.values.copy(), s.step) for s in series]
    for name, args in [("scale", (2,)), ("sumSeries", ()), ("keepLastValue", ()),
                       ("consolidateBy", ("max",)), ("alias", ("x",)), ("asPercent", ()),
                       ("sortByName", ()), ("transformNull", ()), ("removeAboveValue", (1,))]:
        call(registry, name, list(series), *args)
    after = [(s.name, s.path_expression, dict(s.tags), s.values, s.step) for s in series]
    for old, new in zip(before, after):
        assert old[:3] == new[:3] and old[4] == new[4]
        np.testing.assert_array_equal(old[3], new[3])


def test_exp_overflow_is_none():
    result = call(Registry(), "exp", [ts("a", [1.0, 1e10, N])])
    assert listed(result[0]) == [np.exp(1.0), None, None]


def test_average_outside_percentile_keeps_series_without_average():
    series = [ts(name, [float(i + 1)]) for i, name in enumerate("abcde")] + [ts("none", [N])]
    kept = call(Registry(), "averageOutsidePercentile", series, 30)
    assert [s.name for s in kept] == ["a", "b", "e", "none"]
    assert call(Registry(), "averageOutsidePercentile", [ts("none", [N])], 30)[0].name == "none"


def test_use_series_above_fetches_renamed_series_of_those_above():
    ctx = Ctx(refetch=lambda text, start, end: [ts(text, [1.0]), ts("empty", [])])
    series = [ts("a.reqs", [N, 20.0]), ts("b.reqs", [1.0, N]), ts("c.reqs", [N, N])]
    result = call(Registry(), "useSeriesAbove", series, 10, "reqs", "time", ctx=ctx)
    assert ctx.calls[0][0] == "group(a.time)"
    assert [s.name for s in result] == ["group(a.time)"]
    assert call(Registry(), "useSeriesAbove", series, 100, "reqs", "time", ctx=ctx) == []


def test_group_by_tags_names_untaggable_keys_plainly():
    series = [TimeSeries("cpu;dc=east", 0, 10, 10, [1.0]), ts("a.b.c", [2.0])]
    result = call(Registry(), "groupByTags", series, "max", "dc")
    assert [s.name for s in result] == ["max;dc=east", "max;dc="]
    assert result[0].tags == {"name": "max", "dc": "east"}
    assert result[1].tags == {"name": "max;dc="}


def test_stdev_and_integral_by_interval_refuse_bad_sizes():
    with pytest.raises(InvalidParameter, match="positive"):
        call(Registry(), "stdev", [ts("a", [1.0])], 0)
    with pytest.raises(InvalidParameter, match="integralByInterval"):
        call(Registry(), "integralByInterval", [ts("a", [1.0])], "1x")
    with pytest.raises(InvalidParameter, match="not be 0"):
        call(Registry(), "integralByInterval", [ts("a", [1.0])], "0s")


def test_linear_regression_parses_source_times_and_skips_flat_sources():
    def refetch(text, start, end):
        return [ts("a.b", [1.0, 3.0, 5.0], start=int(start.timestamp())), ts("flat", [N, 2.0])]
    ctx = Ctx(start=0, end=30, refetch=refetch)
    series = [ts("a.b", [N, N, N]), ts("flat", [N, N])]
    result = call(Registry(), "linearRegression", series, "30", "60", ctx=ctx)
    assert ctx.calls[0][1:] == (datetime.fromtimestamp(30, timezone.utc),
                                datetime.fromtimestamp(60, timezone.utc))
    assert [s.name for s in result] == ["linearRegression(a.b, 30, 60)"]
    # the fit over the source (30: 1, 40: 3, 50: 5) drawn at 0, 10, 20
    assert listed(result[0]) == pytest.approx([-5.0, -3.0, -1.0])


def test_reduce_series_skips_incomplete_groups_and_short_names():
    lists = [[ts("a.b.c", [4.0]), ts("a.b.d", [2.0])], [ts("a.x.c", [1.0]), ts("z", [1.0])]]
    result = call(Registry(), "reduceSeries", lists, "divideSeries", 2, "c", "d")
    assert [(s.name, listed(s)) for s in result] == [("a.b.reduce.divideSeries", [2.0])]
    assert call(Registry(), "reduceSeries", [[ts("z", [1.0])]], "sumSeries", 0, "y") == []


def test_random_walk_starts_at_zero_with_small_steps():
    ctx = Ctx(start=0, end=600, random=np.random.default_rng(7))
    walk = call(Registry(), "randomWalk", "w", 60, ctx=ctx)[0]
    assert (walk.name, walk.start, walk.end, walk.step, len(walk)) == ("w", 0, 600, 60, 10)
    assert walk.values[0] == 0.0 and np.all(np.abs(np.diff(walk.values)) <= 0.5)
    assert len(call(Registry(), "randomWalk", "w", ctx=Ctx(start=0, end=0))[0]) == 0


def test_alias_query_errors():
    empty = Ctx(refetch=lambda text, start, end: [])
    with pytest.raises(InvalidParameter, match="No series found with query: x.b"):
        call(Registry(), "aliasQuery", [ts("a.b", [1.0])], "a", "x", "%d", ctx=empty)
    nothing = Ctx(refetch=lambda text, start, end: [ts(text, [N])])
    with pytest.raises(InvalidParameter, match="Cannot get last value"):
        call(Registry(), "aliasQuery", [ts("a.b", [1.0])], "a", "x", "%d", ctx=nothing)
    one = Ctx(refetch=lambda text, start, end: [ts(text, [3.0, N])])
    with pytest.raises(InvalidParameter, match="cannot format"):
        call(Registry(), "aliasQuery", [ts("a.b", [1.0])], "a", "x", "%d %d", ctx=one)
    assert call(Registry(), "aliasQuery", [ts("a.b", [1.0])], "a", "x", "v=%d",
                ctx=one)[0].name == "v=3"


@pytest.mark.parametrize("align,expected", [
    ("years", datetime(2024, 1, 1)), ("months", datetime(2024, 5, 1)),
    ("weeks", datetime(2024, 5, 13)), ("days", datetime(2024, 5, 16)),
    ("hours", datetime(2024, 5, 16, 13)), ("minutes", datetime(2024, 5, 16, 13, 47)),
    ("seconds", datetime(2024, 5, 16, 13, 47, 11)),
])
def test_smart_summarize_aligns_the_start(align, expected):
    moment = datetime(2024, 5, 16, 13, 47, 11, tzinfo=timezone.utc)  # a Thursday
    ctx = Ctx(start=moment.timestamp(), end=moment.timestamp() + 60,
              refetch=lambda text, start, end: [ts("a", [1.0], start=int(start.timestamp()))])
    call(Registry(), "smartSummarize", [ts("a", [1.0])], "1min", "sum", align, ctx=ctx)
    assert ctx.calls[0][1] == expected.replace(tzinfo=timezone.utc)


def test_smart_summarize_rejects_bad_alignments_and_ignores_booleans():
    from webapp.functions.transform import _align_down
    with pytest.raises(InvalidParameter, match="alignTo"):
        call(Registry(), "smartSummarize", [ts("a", [1.0])], "1min", "sum", "eons")
    thursday = datetime(2024, 5, 16, 13, 47, 11, tzinfo=timezone.utc)
    assert _align_down(thursday, "weeks3", "weeks3") == datetime(2024, 5, 15, tzinfo=timezone.utc)
    assert _align_down(thursday, "weeks5", "weeks5") == datetime(2024, 5, 10, tzinfo=timezone.utc)
    with pytest.raises(ValueError, match="invalid offset unit"):
        _align_down(thursday, "eons", "eons")
    with pytest.raises(InvalidParameter, match="positive"):
        call(Registry(), "smartSummarize", [ts("a", [1.0])], "0min")
    result = call(Registry(), "smartSummarize", [ts("a", [1.0, 2.0])], "20s", "sum", True)
    assert listed(result[0]) == [3.0]


def test_threshold_sets_label_and_color_option():
    line = call(Registry(), "threshold", 5, "five", "red")[0]
    assert (line.name, line.options, listed(line)) == ("five", {"color": "red"}, [5.0] * 3)


def test_apply_by_node_of_nothing_and_weighted_average_of_unmatched():
    assert call(Registry(), "applyByNode", [], 1, "sumSeries(%.*)") == []
    with pytest.raises(InvalidParameter, match="same number of series"):
        call(Registry(), "weightedAverage", [ts("a.x", [1.0])], [])
    assert call(Registry(), "weightedAverage", [ts("a.x", [1.0])], [ts("b.y", [1.0])], 1) == []


def test_time_slice_keeps_values_between_two_times():
    ctx = Ctx(start=1000, end=1060)
    series = [TimeSeries("a.b", 1000, 1060, 10, [1.0, 2.0, N, 4.0, 5.0, 6.0],
                         path_expression="a.*")]
    result = call(Registry(), "timeSlice", series, "1010", "1040", ctx=ctx)[0]
    assert (result.name, result.path_expression) == ("timeSlice(a.b, 1010, 1040)", "a.*")
    assert listed(result) == [None, 2.0, None, 4.0, 5.0, None]
    assert result.tags["timeSliceStart"] == "1010"
    with pytest.raises(InputError, match="timeSlice"):
        call(Registry(), "timeSlice", series, "not a time", ctx=ctx)


def test_vertical_line_inside_the_range_only():
    ctx = Ctx(start=1000, end=2000)
    line = call(Registry(), "verticalLine", "1500", "deploy", "blue", ctx=ctx)[0]
    assert (line.name, line.start, line.end, listed(line)) == ("deploy", 1500, 1500, [1.0, 1.0])
    assert line.options == {"drawAsInfinite": True, "color": "blue"}
    assert call(Registry(), "verticalLine", "1500", ctx=ctx)[0].name == "verticalLine(1500)"
    with pytest.raises(InvalidParameter, match="before start"):
        call(Registry(), "verticalLine", "500", ctx=ctx)
    with pytest.raises(InvalidParameter, match="after end"):
        call(Registry(), "verticalLine", "2500", ctx=ctx)


def test_holt_winters_aberration_skips_series_without_bands():
    ctx = Ctx(start=100, end=130,
              refetch=lambda text, start, end: [ts("other", [1.0] * 6, start=70)])
    assert call(Registry(), "holtWintersAberration", [ts("a.b", [1.0, 2.0, 3.0], start=100)],
                3, "30s", "20s", ctx=ctx) == []
