"""webapp.functions: the registry's argument checking (graphite-web's validateParams rules,
enforced), aliases, duplicate refusal and the /functions description."""
import json
from pathlib import Path
import types
from datetime import datetime, timezone

import pytest

from webapp.errors import InputError
from webapp.functions import (
    INF, DuplicateFunction, InvalidParameter, Param, ParamTypes, Registry, function)
from webapp.functions.intervals import InvalidInterval, parse_interval
from webapp.series import TimeSeries


@pytest.fixture(scope="module")
def registry():
    return Registry()


def series(name="a.b", values=(1.0, 2.0, 3.0)):
    return TimeSeries(name, 0, 10 * len(values), 10, list(values))


class Ctx:
    start_time = datetime(2024, 1, 1, tzinfo=timezone.utc)
    end_time = datetime(2024, 1, 2, tzinfo=timezone.utc)
    now = end_time
    tz = timezone.utc


@pytest.mark.parametrize("name,args,kwargs,message", [
    ("sumSeries", [], {}, 'sumSeries: missing required parameter "seriesLists"'),
    ("scale", [[series()]], {}, 'scale: missing required parameter "factor"'),
    ("scale", [[series()], 2, 3], {}, "scale: too many parameters"),
    ("scale", [[series()]], {"factor": 2, "bogus": 1}, "scale: too many parameters"),
    ("sortByName", [[series()]], {"bogus": 1}, "sortByName: unexpected keyword argument 'bogus'"),
    ("sortByName", [[series()], True], {"natural": True}, "parameter 'natural' given twice"),
    ("scale", ["a.b", 2], {}, 'scale: invalid "seriesList" value for parameter "seriesList"'),
    ("scale", [[series()], "x"], {}, 'scale: invalid "float" value for parameter "factor"'),
    ("scale", [[series()], True], {}, 'invalid "float" value'),
    ("limit", [[series()], 1.5], {}, 'limit: invalid "integer" value for parameter "n"'),
    ("consolidateBy", [[series()], "bogus"], {}, 'consolidateBy: invalid option for parameter "consolidationFunc"'),
    ("aggregate", [[series()], "sumSeries"], {}, 'aggregate: invalid "aggFunc" value'),
    ("groupByNode", [[series()], 1, "bogus"], {}, 'groupByNode: invalid option for parameter "callback"'),
    ("summarize", [[series()], "1x"], {}, 'summarize: invalid "interval" value'),
    ("summarize", [[series()], 5], {}, 'summarize: invalid "interval" value'),
    ("sortByName", [[series()], "maybe"], {}, 'sortByName: invalid "boolean" value'),
    ("sortByName", [[series()], 2], {}, 'invalid "boolean" value'),
    ("keepLastValue", [[series()], "x"], {}, 'invalid "intOrInf" value'),
    ("keepLastValue", [[series()], 2.5], {}, 'invalid "intOrInf" value'),
    ("movingAverage", [[series()], 2.5], {}, 'invalid "intOrInterval" value'),
    ("aliasByNode", [[series()]], {"nodes": 1}, "can only be given by position"),
    ("aliasByNode", [[series()], 1.5], {}, 'invalid "nodeOrTag" value'),
    ("alias", [[series()], 5], {}, 'invalid "string" value'),
    ("nosuchFunction", [], {}, "unknown function: nosuchFunction"),
])
def test_bad_arguments_are_input_errors_naming_function_and_parameter(registry, name, args,
                                                                      kwargs, message):
    with pytest.raises(InputError) as caught:
        registry.call(name, Ctx(), args, kwargs)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_invalid_parameter_carries_the_facts(registry):
    with pytest.raises(InvalidParameter) as caught:
        registry.call("scale", Ctx(), [[series()], "x"], {})
    assert (caught.value.func, caught.value.param) == ("scale", "factor")
    assert caught.value.status == 400


@pytest.mark.parametrize("name,args,kwargs,expected_name", [
    ("scale", [[series()], 2], {}, "scale(a.b,2)"),
    ("scale", [[series()]], {"factor": 0.5}, "scale(a.b,0.5)"),
    ("sortByName", [[series()], "true"], {}, "a.b"),
    ("keepLastValue", [[series()], 1e400], {}, "keepLastValue(a.b)"),
    ("keepLastValue", [[series()], "inf"], {}, "keepLastValue(a.b)"),
    ("movingAverage", [[series()], "1min"], {}, 'movingAverage(a.b,"1min")'),
    ("aggregate", [[series()], "total"], {"xFilesFactor": 0}, "totalSeries(a.b)"),
    ("sumSeries", [[series()], [series("c.d")]], {}, "sumSeries(a.b,c.d)"),
    ("aliasByNode", [[series()], 1, "name"], {}, "b.a.b"),
])
def test_good_arguments_are_converted_and_passed(registry, name, args, kwargs, expected_name):
    class Refetch(Ctx):
        def evaluate(self, text, start_time=None, end_time=None):
            return [series()]
    result = registry.call(name, Refetch(), args, kwargs)
    assert result[0].name == expected_name


def test_scale_factor_is_converted_to_float_like_graphite(registry):
    result = registry.call("scale", Ctx(), [[series()], 2], {})
    assert result[0].tags["scale"] == "2.0"


def test_call_returns_empty_list_when_nothing_to_normalize(registry):
    assert registry.call("countSeries", Ctx(), [[]], {}) == []
    assert registry.call("sumSeries", Ctx(), [[], []], {}) == []


def test_arg_texts_reach_the_function_through_the_call_context(registry):
    seen = []

    class Recording(Ctx):
        def evaluate(self, text, start_time=None, end_time=None):
            seen.append((text, start_time))
            return [series("x.y", [5.0, 6.0, 7.0])]

    result = registry.call("timeShift", Recording(), [[series()], "1h"], {},
                           arg_texts=["alias(a.b,'x')"])
    assert seen == [("alias(a.b,'x')", datetime(2023, 12, 31, 23, tzinfo=timezone.utc))]
    assert result[0].name == 'timeShift(x.y, "-1h")'


def test_aliases_resolve_to_the_same_function(registry):
    for alias, name in [("sum", "sumSeries"), ("avg", "averageSeries"), ("pct", "asPercent"),
                        ("xFilesFactor", "setXFilesFactor")]:
        assert registry.get(alias) is registry.get(name)
    assert "log" in registry and "upper" in registry and "nosuch" not in registry


def test_duplicate_names_are_refused():
    def make(name, aliases=()):
        @function(name, "Test", [], aliases=aliases)
        def f(ctx):
            """A test function."""
        return f

    one = types.SimpleNamespace(first=make("foo"))
    two = types.SimpleNamespace(second=make("bar", aliases=("foo",)))
    with pytest.raises(DuplicateFunction, match="'foo'"):
        Registry([one, two])
    assert Registry([one]).names() == ["foo"]


def test_describe_has_graphite_functions_json_shape(registry):
    described = registry.describe()
    json.dumps(described, default=str)  # serialisable (inf is E's encoder's job: 1e9999)
    assert described["sumSeries"] == {
        "name": "sumSeries",
        "function": "sumSeries(*seriesLists)",
        "description": registry.get("sumSeries").description,
        "module": "webapp.functions.combine",
        "group": "Combine",
        "params": [{"name": "seriesLists", "type": "seriesList", "required": True,
                    "multiple": True}],
    }
    assert described["sum"]["function"] == "sum(*seriesLists)"
    keep = described["keepLastValue"]
    assert keep["function"] == "keepLastValue(seriesList, limit=inf)"
    assert keep["params"][1] == {"name": "limit", "type": "intOrInf", "default": INF}
    consolidate_by = described["consolidateBy"]["params"][1]
    assert consolidate_by["options"] == sorted(["sum", "average", "avg", "avg_zero", "min",
                                                "max", "first", "last"])
    callback = described["groupByNode"]["params"][2]
    assert {"sum", "avg", "median", "sumSeries", "asPercent", "pct"} <= set(callback["options"])
    assert "groupByNode" not in callback["options"]
    moving = described["movingAverage"]["params"][1]
    assert moving["suggestions"] == [5, 7, 10, "1min", "5min", "10min", "30min", "1hour"]
    for name, info in described.items():
        assert info["description"], name
        assert info["group"] in {"Combine", "Transform", "Calculate", "Filter Series",
                                 "Filter Data", "Sorting", "Alias", "Special", "Graph"}, name


def test_describe_one_group(registry):
    sorting = registry.describe(group="Sorting")
    assert set(sorting) == {"sortBy", "sortByName", "sortByTotal", "sortByMaxima",
                            "sortByMinima"}
    assert registry.describe_one("avg")["name"] == "avg"


def test_param_json_omits_empty_fields():
    assert Param("x", ParamTypes.integer).to_json() == {"name": "x", "type": "integer"}


@pytest.mark.parametrize("text,seconds", [
    ("", 0), ("1d", 86400), ("-1d", -86400), ("+2h", 7200), ("5min", 300), ("30s", 30),
    ("1w", 604800), ("2mon", 5184000), ("1y", 31536000), ("1h30min", 5400),
    ("-1h30min", -5400), ("10seconds", 10), ("3hours", 10800), ("-", 0),
])
def test_parse_interval(text, seconds):
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["5m", "1x", "d", "10", "*1d", "1d-", 5])
def test_parse_interval_rejects(text):
    with pytest.raises(InvalidInterval):
        parse_interval(text)


def test_series_lists_in_messages_are_summarised(registry):
    with pytest.raises(InvalidParameter, match=r"factor.*a list of 2 series"):
        registry.call("scale", Ctx(), [[series()], [series(), series()]], {})
    with pytest.raises(InvalidParameter, match=r"'x{76}\.\.\.$"):
        registry.call("scale", Ctx(), [[series()], "x" * 100], {})


def test_series_list_functions_check_lengths(registry):
    with pytest.raises(InvalidParameter, match="equal length"):
        registry.call("aggregateSeriesLists", Ctx(), [[series()], [], "sum"], {})


def test_boolean_accepts_other_truthy_values(registry):
    result = registry.call("sortByName", Ctx(), [[series("b"), series("a")], None, [1]], {})
    assert [s.name for s in result] == ["b", "a"]


GRAPHITE_PARAMS = json.loads((Path(__file__).parent / "data" /
                              "functions_golden.json").read_text())["__params__"]
# Functions we do not provide yet, and params owned by the graph family (helper G's module).
NOT_PROVIDED = {"compressPeriodicGaps", "events", "seriesByTag"}
GRAPH_FAMILY_DIFFERENCES = {"dashed", "legendValue"}


def _comparable(params):
    return [{**p, "default": "inf"} if p.get("default") == INF else p for p in params]


@pytest.mark.parametrize("name", sorted(set(GRAPHITE_PARAMS) - NOT_PROVIDED
                                        - GRAPH_FAMILY_DIFFERENCES))
def test_params_and_group_match_graphite_web(registry, name):
    described = registry.describe_one(name)
    assert described["group"] == GRAPHITE_PARAMS[name]["group"]
    assert _comparable(described["params"]) == _comparable(GRAPHITE_PARAMS[name]["params"])


def test_every_provided_function_is_a_graphite_function(registry):
    assert set(registry.names()) <= set(GRAPHITE_PARAMS)
    assert set(GRAPHITE_PARAMS) - set(registry.names()) == NOT_PROVIDED
