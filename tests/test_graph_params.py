"""Graph parameters: graphite-web's names, defaults and parsing rules."""
import math
from datetime import timezone
from zoneinfo import ZoneInfo

import pytest

from webapp.errors import InputError
from webapp.graph.params import GraphParams, as_graph_params, parse_graph_params


def test_defaults_are_graphite_web_defaults():
    p = parse_graph_params({})
    assert (p.width, p.height, p.margin) == (330, 250, 10)
    assert (p.lineMode, p.areaMode, p.lineWidth, p.yUnitSystem) == ("slope", "none", 1.2, "si")
    assert p.hideLegend is None and p.yDivisors == (4, 5, 6) and p.minorY == 1
    assert p.pieMode == "average" and p.valueLabels == "percent" and p.valueLabelsMin == 5
    assert p.connectedLimit == math.inf and p.tz == timezone.utc


def test_values_are_typed_and_last_one_wins():
    p = parse_graph_params({"width": ["100", "800"], "height": ["600"], "yMin": ["-2.5"],
                            "hideLegend": ["false"], "graphOnly": ["1"], "yMax": ["max"],
                            "lineMode": ["Staircase"], "yDivisors": ["3,7"],
                            "colorList": ["red, %23ff00ff ,blue"], "logBase": ["e"],
                            "title": ["a+b"], "unknownThing": ["x"]})
    assert (p.width, p.height, p.yMin, p.yMax) == (800, 600, -2.5, "max")
    assert p.hideLegend is False and p.graphOnly is True
    assert p.lineMode == "staircase" and p.yDivisors == (3, 7)
    assert p.colorList == ("red", "%23ff00ff", "blue") and p.logBase == math.e
    assert p.title == "a+b"


def test_empty_and_default_mean_not_given():
    p = parse_graph_params({"width": [""], "bgcolor": ["default"], "yMin": []})
    assert p.width == 330 and p.bgcolor is None and p.yMin is None


def test_old_names_min_max_thickness():
    p = parse_graph_params({"min": "1", "max": "9", "thickness": "3"})
    assert (p.yMin, p.yMax, p.lineWidth) == (1, 9, 3)
    p = parse_graph_params({"min": "1", "yMin": "2", "thickness": "3", "lineWidth": "4"})
    assert (p.yMin, p.lineWidth) == (2, 4)


def test_graphite_fallbacks():
    p = parse_graph_params({"yUnitSystem": "furlongs", "margin": "-5", "logBase": "0.5",
                            "areaAlpha": "lots", "tz": "Mars/Olympus"})
    assert p.yUnitSystem == "si" and p.margin == 10 and p.logBase is None
    assert p.areaAlpha == 0.5 and p.tz == timezone.utc


def test_timezone_parameter_and_default():
    berlin = ZoneInfo("Europe/Berlin")
    assert parse_graph_params({}, tz=berlin).tz is berlin
    chicago = parse_graph_params({"tz": "America/Chicago"}, tz=berlin).tz
    assert chicago == ZoneInfo("America/Chicago")


@pytest.mark.parametrize("name,value", [
    ("width", "wide"), ("width", "0"), ("height", "20000"), ("yMin", "nan"), ("yMax", "high"),
    ("lineMode", "dotted"), ("areaMode", "some"), ("hideLegend", "maybe"),
    ("yDivisors", "4,x"), ("yDivisors", "0"), ("lineWidth", "-1"), ("colorList", ","),
    ("graphType", "bar"), ("pieMode", "median"), ("yStep", "0"),
])
def test_bad_values_are_input_errors_naming_the_parameter(name, value):
    with pytest.raises(InputError, match=name):
        parse_graph_params({name: [value]})


def test_as_graph_params_accepts_both_forms():
    params = GraphParams(width=10)
    assert as_graph_params(params) is params
    assert as_graph_params({"width": 20}).width == 20
    assert as_graph_params(None).width == 330
    assert params.replace(height=5).height == 5 and params.height == 250


def test_dashed_sides_take_true_false_or_a_length():
    p = parse_graph_params({"leftDashed": "true", "rightDashed": "2.5"})
    assert (p.leftDashed, p.rightDashed) == (5.0, 2.5)
    assert parse_graph_params({"leftDashed": "false"}).leftDashed is None
