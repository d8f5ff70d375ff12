"""Graph-styling functions: graphite-web 1.1.10's names, metadata and effects, on
new series (the input is never changed), and their effect on the drawing."""
import math
from types import SimpleNamespace

import numpy as np
import pytest

from webapp.functions import InvalidParameter, Registry
from webapp.functions import graph as g
from webapp.graph import render_graph
from webapp.series import TimeSeries
from tests.test_graph_support import mask, pixels, rows_of

nan = math.nan


def s(name, values, **options):
    return TimeSeries(name, 0, 10 * len(values), 10, values, options=options)


@pytest.fixture
def registry():
    return Registry(modules=[g])


def test_registered_with_graphite_groups_and_params(registry):
    info = registry.describe()
    groups = {name: info[name]["group"] for name in info}
    assert groups == {"color": "Graph", "alpha": "Graph", "dashed": "Graph",
                      "lineWidth": "Graph", "stacked": "Graph", "secondYAxis": "Graph",
                      "drawAsInfinite": "Graph", "areaBetween": "Graph",
                      "legendValue": "Alias", "cactiStyle": "Special"}
    assert [p["name"] for p in info["color"]["params"]] == ["seriesList", "theColor"]
    assert info["dashed"]["params"][1] == {"name": "dashLength", "type": "float", "default": 5}
    assert info["legendValue"]["params"][1]["multiple"] is True
    assert info["cactiStyle"]["params"][1]["options"] == ["binary", "si"]


def test_options_are_set_on_copies(registry):
    original = s("a.b", [1.0, 2.0])
    ctx = SimpleNamespace()
    for name, args, key, value in [("color", ["red"], "color", "red"),
                                   ("alpha", [0.5], "alpha", 0.5),
                                   ("lineWidth", [3], "lineWidth", 3),
                                   ("dashed", [], "dashed", 5),
                                   ("secondYAxis", [], "secondYAxis", True),
                                   ("drawAsInfinite", [], "drawAsInfinite", True)]:
        (out,) = registry.call(name, ctx, [[original], *args], {})
        assert out.options[key] == value and out is not original
    assert original.options == {} and original.name == "a.b"


def test_names_as_graphite_writes_them():
    ctx = SimpleNamespace()
    assert g.dashed(ctx, [s("a", [1.0])], 2.5)[0].name == "dashed(a, 2.5)"
    assert g.secondYAxis(ctx, [s("a", [1.0])])[0].name == "secondYAxis(a)"
    assert g.drawAsInfinite(ctx, [s("a", [1.0])])[0].name == "drawAsInfinite(a)"
    assert g.color(ctx, [s("a", [1.0])], "red")[0].name == "a"
    styled = g.lineWidth(ctx, g.color(ctx, [s("a", [1.0])], "red"), 2)[0]
    assert styled.options == {"color": "red", "lineWidth": 2}


def test_stacked_accumulates_per_stack_across_calls():
    ctx = SimpleNamespace()
    first = g.stacked(ctx, [s("a", [1.0, nan, 3.0]), s("b", [10.0, 20.0, nan])])
    assert first[0].name == "stacked(a)" and first[0].options["stacked"] is True
    np.testing.assert_allclose(first[1].values, [11, 20, nan], equal_nan=True)
    later = g.stacked(ctx, [s("c", [100.0, 100.0, 100.0, 100.0])])
    np.testing.assert_allclose(later[0].values, [111, 120, 103, 100])
    other = g.stacked(ctx, [s("d", [1.0])], "tx")
    assert other[0].name == "d" and other[0].values.tolist() == [1.0]


def test_area_between(registry):
    lower, upper = s("lat.min", [1.0, 2.0]), s("lat.max", [5.0, 6.0])
    out = g.areaBetween(SimpleNamespace(), [lower, upper])
    assert [x.name for x in out] == ["areaBetween(lat.max)"] * 2
    assert out[0].options == {"stacked": True, "invisible": True}
    assert out[1].options == {"stacked": True}
    with pytest.raises(InvalidParameter, match="exactly"):
        g.areaBetween(SimpleNamespace(), [lower])


def test_legend_value():
    series = [s("a", [1.0, 2.0, 6.0, nan])]
    out = g.legendValue(SimpleNamespace(), series, "avg", "max", "last")
    assert out[0].name == "a (avg: 3.0) (max: 6.0) (last: 6.0)"
    out = g.legendValue(SimpleNamespace(), [s("a", [1500.0, 2500.0])], "avg", "si")
    assert out[0].name == "%-20s%-5s%-10s" % ("a", "avg", "2.00k")
    assert g.legendValue(SimpleNamespace(), series, "bogus")[0].name == "a (bogus: (?))"
    assert series[0].name == "a"


def test_cacti_style():
    """Expected names produced by graphite-web 1.1.10's cactiStyle on the same input."""
    def series():
        return [s("cpu", [1.0, 3.0, 2.0]), s("memory.used", [1500.0, nan, 500.0])]
    cases = {
        (): ["cpu         Current:2.00      Max:3.00       Min:1.00      ",
             "memory.used Current:500.00    Max:1500.00    Min:500.00    "],
        ("si", "B"): ["cpu         Current:2.00 B      Max:3.00 B     Min:1.00 B      ",
                      "memory.used Current:500.00 B    Max:1.50 kB    Min:500.00 B    "],
        ("si",): ["cpu         Current:2.00      Max:3.00     Min:1.00      ",
                  "memory.used Current:500.00    Max:1.50k    Min:500.00    "],
    }
    for args, names in cases.items():
        assert [x.name for x in g.cactiStyle(SimpleNamespace(), series(), *args)] == names
    assert g.cactiStyle(SimpleNamespace(), [s("x", [nan])])[0].name == (
        "x Current:nan     Max:nan     Min:nan     ")
    assert g.cactiStyle(SimpleNamespace(), []) == []


def test_styles_take_effect_in_the_drawing():
    ctx = SimpleNamespace()
    line = g.lineWidth(ctx, g.color(ctx, [s("a", [50.0] * 20)], "00ff00"), 6)
    png = render_graph(line, {"width": "200", "height": "100", "graphOnly": "true",
                              "yMin": "0", "yMax": "100"}, "png")
    rows = rows_of(pixels(png), (0, 255, 0), 100)
    assert len(rows) >= 5 and abs(rows.mean() - 50) <= 2
    translucent = g.alpha(ctx, g.color(ctx, [s("a", [50.0] * 20)], "000000"), 0.5)
    png = render_graph(translucent, {"width": "200", "height": "100", "graphOnly": "true",
                                     "yMin": "0", "yMax": "100", "lineWidth": "4"}, "png")
    image = pixels(png)
    assert mask(image, (128, 128, 128), 30).sum() > 100 and not mask(image, (0, 0, 0), 30).any()
