"""Pure layout: consolidation to pixels, data limits, stacking, legend, pie maths."""
import math

import numpy as np
import pytest

from webapp.graph import layout, pie
from webapp.graph.params import GraphParams
from webapp.series import TimeSeries

nan = math.nan


@pytest.mark.parametrize("func,expected", [
    # groups of 3 from [1, nan, 3 | nan, nan, nan | 4, 5]
    ("average", [2.0, nan, 4.5]),
    ("avg", [2.0, nan, 4.5]),
    ("sum", [4.0, nan, 9.0]),
    ("max", [3.0, nan, 5.0]),
    ("min", [1.0, nan, 4.0]),
    ("first", [1.0, nan, 4.0]),
    ("last", [3.0, nan, 5.0]),
    ("avg_zero", [4 / 3, nan, 4.5]),  # gaps count as zero; the short last group is 2 long
])
def test_consolidate_like_graphite(func, expected):
    values = [1, nan, 3, nan, nan, nan, 4, 5]
    out = layout.consolidate(values, 3, func)
    np.testing.assert_allclose(out, expected, equal_nan=True)


def test_consolidate_x_files_factor_and_trivial_cases():
    values = [1, nan, nan, 4, 5, 6]
    np.testing.assert_allclose(layout.consolidate(values, 3, "average", 0.5), [nan, 5.0],
                               equal_nan=True)
    assert layout.consolidate(values, 1).tolist()[3:] == [4, 5, 6]
    assert len(layout.consolidate([], 5)) == 0


def plot_of(values, step=10, start=0, **options):
    ts = TimeSeries("s", start, start + step * len(values), step, values, options=options)
    return layout.make_plots([ts], GraphParams(), ("blue",))[0]


def test_fit_to_width_keeps_one_point_per_pixel():
    plot = plot_of(np.arange(8640.0))
    layout.fit_to_width([plot], 86390, 700.0)
    assert plot.values_per_point == math.ceil(8639 / 700)
    assert len(plot.values) == math.ceil(8640 / plot.values_per_point)
    assert plot.x_step * len(plot.values) == pytest.approx(700 * 8640 / 8639, rel=0.02)
    few = plot_of(np.arange(10.0))
    layout.fit_to_width([few], 90, 700.0)
    assert few.values_per_point == 1 and few.x_step == pytest.approx(700 / 9)


def test_data_limits():
    a, b = plot_of([1.0, 2.0, nan]), plot_of([3.0, 4.0, 5.0])
    for p in (a, b):
        p.values = p.raw
    assert layout.data_limits([a, b]) == (1.0, 5.0)
    assert layout.data_limits([a, b], stacked=True) == (1.0, 6.0)
    assert layout.data_limits([a, b], draw_null_as_zero=True) == (0.0, 5.0)
    inf = plot_of([100.0], drawAsInfinite=True)
    inf.values = inf.raw
    assert layout.data_limits([a, inf]) == (1.0, 2.0)
    empty = plot_of([nan, nan])
    empty.values = empty.raw
    assert layout.data_limits([empty]) == (0.0, 1.0)


def test_stack_values_keeps_gaps():
    out = layout.stack_values([np.array([1.0, nan, 3.0]), np.array([10.0, 20.0, nan])])
    np.testing.assert_allclose(out[0], [1, nan, 3], equal_nan=True)
    np.testing.assert_allclose(out[1], [11, 20, nan], equal_nan=True)


def test_make_plots_colours_and_styles():
    series = [TimeSeries("a", 0, 10, 1, [1.0] * 10),
              TimeSeries("b", 0, 10, 1, [1.0] * 10, options={"color": "red", "alpha": 0.5}),
              TimeSeries("c", 0, 10, 1, [1.0] * 10, options={"secondYAxis": True,
                                                             "dashed": True, "lineWidth": 3})]
    params = GraphParams(rightColor="gold", leftWidth=4)
    plots = layout.make_plots(series, params, ("blue", "green"))
    assert [p.color for p in plots] == ["blue", "red", "gold"]
    assert plots[1].rgba[3] == 0.5 and plots[0].line_width == 4
    assert plots[2].second_axis and plots[2].dashed == 5.0 and plots[2].line_width == 3


def test_legend_columns_and_overflow():
    measure = lambda text: 7.0 * len(text)  # noqa: E731 - a fixed-pitch font
    entries = [(f"series{i}", (0, 0, 1, 1), False) for i in range(10)]
    legend = layout.layout_legend(entries, measure, 12, 20, 780, 800, 200)
    # label width 7*7 + 2*(11+5) = 81: 9 columns, so two rows
    assert {item.y for item in legend.items} == {0, 13}
    assert legend.items[1].x - legend.items[0].x == 81 and legend.hidden == 0
    tight = layout.layout_legend(entries, measure, 12, 20, 780, 800, 20)
    assert len(tight.items) == 9 and tight.hidden == 1


def test_legend_right_axis_items_start_at_the_right():
    measure = lambda text: 7.0 * len(text)  # noqa: E731
    entries = [("left", (0, 0, 1, 1), False), ("right", (1, 0, 0, 1), True)]
    legend = layout.layout_legend(entries, measure, 12, 20, 780, 800, 200)
    left, right = legend.items
    assert left.x == 20 and not left.right
    assert right.right and right.x == 780 - 11


def test_truncate_long_names():
    measure = lambda text: 7.0 * len(text)  # noqa: E731
    name = "a.very.long.metric.name.that.does.not.fit"
    short = layout.truncate(name, 70, measure)
    assert short.endswith("…") and measure(short) <= 70 and name.startswith(short[:-1])
    assert layout.truncate("fits", 70, measure) == "fits"


def test_legend_entries_unique_and_hide_null():
    series = [TimeSeries("a", 0, 2, 1, [1.0, 2.0]), TimeSeries("a", 0, 2, 1, [1.0, 2.0]),
              TimeSeries("n", 0, 2, 1, [nan, nan])]
    plots = layout.make_plots(series, GraphParams(), ("blue",))
    assert [e[0] for e in layout.legend_entries(plots)] == ["a", "a", "n"]
    assert [e[0] for e in layout.legend_entries(plots, unique=True, hide_null=True)] == ["a"]


def test_pie_values_and_labels():
    series = [TimeSeries("a", 0, 3, 1, [1.0, 2.0, 6.0]), TimeSeries("b", 0, 3, 1, [nan] * 3)]
    assert pie.pie_values(series, "average") == [("a", 3.0), ("b", 0.0)]
    assert pie.pie_values(series, "maximum")[0] == ("a", 6.0)
    assert pie.pie_values(series, "minimum")[0] == ("a", 1.0)
    assert pie.pie_values(series[1:], "average") == []
    slices = pie.make_slices([("a", 1.0), ("b", 3.0)], ("blue", "red"))
    assert slices[0].fraction == 0.25 and slices[0].start == pie.START_ANGLE
    assert slices[1].stop == pytest.approx(pie.START_ANGLE + 2 * math.pi)
    assert pie.value_label(slices[0], "percent", 5) == "25.00%"
    assert pie.value_label(slices[0], "percent", 30) is None
    assert pie.value_label(slices[1], "number", 0) == "3"
    half = pie.make_slices([("x", 2.5)], ("blue",))[0]
    assert pie.value_label(half, "number", 0) == "2.50"
    assert pie.value_label(half, "none", 0) is None
