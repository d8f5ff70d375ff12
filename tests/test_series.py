"""webapp.series: TimeSeries, tags, datapoints, consolidation (maxDataPoints) and normalize."""
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tests import functions_cases as cases
from webapp.errors import InputError
from webapp.series import (
    EmptySeriesList, InvalidTags, TimeSeries, consolidate, consolidate_all,
    consolidate_values, lcm, normalize, parse_tags, stack, tags_for_name)

GOLDEN = json.loads((Path(__file__).parent / "data" / "functions_golden.json").read_text())
NAN = math.nan


def reference_consolidation(values, vpp, func, xff):
    """graphite-web 1.1.10's TimeSeries.__consolidatingGenerator, point by point (the oracle)."""
    functions = {"sum": sum, "average": lambda u: sum(u) / len(u),
                 "avg": lambda u: sum(u) / len(u), "avg_zero": lambda u: sum(u) / len(u),
                 "max": max, "min": min, "first": lambda u: u[0], "last": lambda u: u[-1]}
    out, buf, count, non_null = [], [], 0, 0
    for value in values:
        count += 1
        if value is not None:
            buf.append(value)
            non_null += 1
        elif func == "avg_zero":
            buf.append(0)
        if count == vpp:
            out.append(functions[func](buf) if non_null and non_null / vpp >= xff else None)
            buf, count, non_null = [], 0, 0
    if count:
        out.append(functions[func](buf) if non_null and non_null / vpp >= xff else None)
    return out


def listed(array):
    return [None if math.isnan(v) else v for v in np.asarray(array).tolist()]


values_strategy = st.lists(st.one_of(st.none(), st.floats(-1e12, 1e12, allow_nan=False)),
                           max_size=60)


@settings(max_examples=300, deadline=None)
@given(values=values_strategy, vpp=st.integers(1, 12),
       func=st.sampled_from(["sum", "average", "avg", "avg_zero", "max", "min", "first", "last"]),
       xff=st.sampled_from([0, 0.1, 0.5, 1.0]))
def test_consolidate_values_is_graphites_generator(values, vpp, func, xff):
    array = np.array([NAN if v is None else v for v in values], dtype=np.float64)
    assert listed(consolidate_values(array, vpp, func, xff)) == \
        reference_consolidation(values, vpp, func, xff)


def test_consolidate_values_rejects_unknown_function():
    with pytest.raises(InputError, match="bogus"):
        consolidate_values([1.0, 2.0, 3.0], 2, "bogus")


def json_render(series_list, max_data_points):
    """What graphite-web's renderViewJson lists, from our consolidate_all + datapoints()."""
    if not any(len(s) for s in series_list):
        return []
    return [{"target": s.name, "tags": s.tags, "datapoints": s.datapoints()}
            for s in consolidate_all(series_list, max_data_points)]


@pytest.mark.parametrize("key,specs,max_data_points", cases.CONSOLIDATION_CASES,
                         ids=[c[0] for c in cases.CONSOLIDATION_CASES])
def test_max_data_points_matches_graphite_json_renderer(key, specs, max_data_points):
    series_list = [TimeSeries(name, start, start + step * len(values), step,
                              [NAN if v is None else v for v in values],
                              consolidate_func=func, x_files_factor=xff)
                   for name, start, step, values, func, xff in specs]
    before = [s.values.copy() for s in series_list]
    assert json_render(series_list, max_data_points) == GOLDEN["__consolidation__"][key]
    for series, values in zip(series_list, before):
        np.testing.assert_array_equal(series.values, values)


def test_consolidate_nudges_start_onto_multiples_of_the_new_step():
    series = TimeSeries("a", 1000, 2000, 10, np.arange(100.0))
    result = consolidate(series, 10)
    assert (result.start, result.step, result.values_per_point) == (1100, 100, 10)
    # graphite drops nudge/step - 1 values first, so buckets start one value early
    assert result.values[0] == pytest.approx(np.mean(np.arange(9, 19)))
    assert [ts for _, ts in result.datapoints()] == list(range(1100, 2001, 100))


def test_consolidate_refuses_fewer_than_one_point():
    with pytest.raises(InputError, match="maxDataPoints must be at least 1, not 0"):
        consolidate(TimeSeries("a", 0, 100, 10, np.arange(10.0)), 0)


def test_consolidate_keeps_a_series_that_fits():
    series = TimeSeries("a", 0, 100, 10, np.arange(10.0))
    result = consolidate(series, 10)
    assert result is not series and result.step == 10
    np.testing.assert_array_equal(result.values, series.values)


def test_consolidate_to_one_point_and_empty_series():
    series = TimeSeries("a", 0, 40, 10, [1.0, NAN, 3.0, 5.0], consolidate_func="max")
    assert consolidate(series, 1).datapoints() == [[5.0, 0]]
    empty = TimeSeries("e", 0, 0, 10, [])
    assert consolidate(empty, 1).datapoints() == []
    assert consolidate_all([empty], 5)[0].datapoints() == []


def test_datapoints_lists_values_with_timestamps_up_to_end():
    series = TimeSeries("a", 100, 130, 10, [1.0, NAN, 3.5])
    assert series.datapoints() == [[1.0, 100], [None, 110], [3.5, 120]]
    longer = TimeSeries("a", 100, 110, 10, [1.0, 2.0, 3.0])
    assert longer.datapoints() == [[1.0, 100], [2.0, 110]]
    assert TimeSeries("a", 100, 90, 10, [1.0]).datapoints() == []


@pytest.mark.parametrize("name,tags", [
    ("a.b.c", {"name": "a.b.c"}),
    ("cpu.load;host=h1;dc=east", {"name": "cpu.load", "host": "h1", "dc": "east"}),
    ("~x.y;k=v=w", {"name": "x.y", "k": "v=w"}),
])
def test_parse_tags(name, tags):
    assert parse_tags(name) == tags
    assert TimeSeries(name, 0, 10, 10, [1.0]).tags == tags


@pytest.mark.parametrize("name,reason", [
    (";a=b", "no metric"), ("a.b;novalue", "invalid segment"), ("a.b;=v", "invalid segment"),
    ("a.b;k=", "empty"), ("a.b;k!=v", "not allowed"), ("a.b;k=~v", "starts with"),
    ("~", "empty"),
])
def test_parse_tags_rejects_what_graphite_rejects(name, reason):
    with pytest.raises(InvalidTags, match=reason) as caught:
        parse_tags(name)
    assert caught.value.name == name
    assert tags_for_name(name) == {"name": name}


def test_function_like_names_are_not_parsed_for_tags():
    assert tags_for_name("sumSeries(a;b=c)") == {"name": "sumSeries(a;b=c)"}


def test_tags_values_are_strings_and_copy_sets_path_expression():
    series = TimeSeries("a.b", 0, 20, 10, [1.0, 2.0], tags={"name": "a.b", "n": 2})
    assert series.tags == {"name": "a.b", "n": "2"}
    assert series.xff == 0.0
    copied = series.copy(name="x", values=np.array([5.0, 6.0]))
    assert (copied.name, copied.path_expression, copied.tags) == ("x", "x", series.tags)
    assert repr(copied) == "TimeSeries('x', 0, 20, 10, n=2)"


def test_normalize_brings_series_to_the_lcm_step():
    fine = TimeSeries("fine", 0, 60, 10, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    coarse = TimeSeries("coarse", 0, 60, 15, [1.0, 2.0, 3.0, 4.0])
    series, start, end, step = normalize([[fine], [coarse]])
    assert (start, end, step) == (0, 60, 30)
    assert listed(series[0].values) == [2.0, 5.0]
    assert listed(series[1].values) == [1.5, 3.5]
    assert listed(fine.values) == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert lcm(10, 15) == 30 and lcm(10, 10) == 10


def test_normalize_trims_end_and_refuses_nothing():
    a = TimeSeries("a", 0, 70, 10, [1.0] * 7)
    b = TimeSeries("b", 5, 45, 20, [1.0, 2.0])
    _, start, end, step = normalize([[a, b]])
    assert (start, end, step) == (0, 60, 20)
    with pytest.raises(EmptySeriesList):
        normalize([[], []])


def test_stack_pads_shorter_series_with_nan():
    matrix = stack([TimeSeries("a", 0, 20, 10, [1.0, 2.0]), TimeSeries("b", 0, 10, 10, [3.0])])
    assert listed(matrix.ravel()) == [1.0, 2.0, 3.0, None]
    assert stack([]).shape == (0, 0)
