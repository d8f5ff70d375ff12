"""What the pixels of rendered graphs show: size, colours, where series are drawn,
areas, legend, second axis, log scale, No Data; SVG and PDF validity."""
import json
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from webapp.errors import InputError
from webapp.graph import parse_graph_params, render_graph
from webapp.graph.colors import COLOR_ALIASES
from tests.test_graph_support import mask, pixels, rows_of, series

BLUE = COLOR_ALIASES["blue"]
GREEN = COLOR_ALIASES["green"]
RED = COLOR_ALIASES["red"]
WHITE = (255, 255, 255)
BLACK = (0, 0, 0)


def png_size(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def draw(series_list, **params):
    params = {k: str(v) for k, v in params.items()}
    return pixels(render_graph(series_list, params, "png"))


def plain(**extra):
    """graphOnly: the plot area is the whole image, so rows map straight to values."""
    return dict(width=200, height=100, graphOnly="true", lineWidth=2, **extra)


def test_png_has_the_asked_size_and_graphite_defaults():
    data = render_graph([series("a.b", [1, 2, 3])], {}, "png")
    assert png_size(data) == (330, 250)
    data = render_graph([series("a.b", [1, 2, 3])], {"width": "640", "height": "123"}, None)
    assert png_size(data) == (640, 123)


def test_background_and_foreground_colours():
    image = draw([series("a.b", [1, 2, 3])], width=300, height=200, title="Hello",
                 bgcolor="000000", fgcolor="ffff00")
    assert image[0, 0].tolist() == [0, 0, 0]
    assert image[-1, -1].tolist() == [0, 0, 0]
    assert mask(image[:30], (255, 255, 0), 120).sum() > 10  # the title's glyphs


def test_default_template_is_white_with_black_text():
    image = draw([series("a.b", [1, 2, 3])], width=300, height=200)
    assert image[0, 0].tolist() == list(WHITE)
    assert mask(image, BLACK, 200).sum() > 20  # labels


def test_a_ramp_is_drawn_where_its_values_say():
    values = np.linspace(0, 100, 101)
    image = draw([series("ramp", values)], **plain(yMin=0, yMax=100))
    for column in (20, 100, 180):
        rows = rows_of(image, BLUE, column)
        assert len(rows), f"no line in column {column}"
        # x spans the 100 steps over the width; y maps 0..100 onto 100..0
        expected_value = (column - 1) / 198 * 100
        expected_row = 100 - expected_value
        assert abs(rows.mean() - expected_row) <= 3


def test_constant_series_and_colour_from_the_color_list():
    image = draw([series("a", [25] * 50), series("b", [75] * 50)],
                 **plain(yMin=0, yMax=100, colorList="green,red"))
    assert abs(rows_of(image, GREEN, 100).mean() - 75) <= 2
    assert abs(rows_of(image, RED, 100).mean() - 25) <= 2
    assert not mask(image, BLUE).any()


def test_series_option_color_wins_over_the_color_list():
    image = draw([series("a", [50] * 50, color="#ff00ff")], **plain(yMin=0, yMax=100))
    assert abs(rows_of(image, (255, 0, 255), 100).mean() - 50) <= 2


def test_gap_is_left_empty_and_draw_null_as_zero_fills_it():
    values = [50.0] * 100
    values[40:60] = [np.nan] * 20
    image = draw([series("gappy", values)], **plain(yMin=0, yMax=100))
    assert len(rows_of(image, BLUE, 20)) and len(rows_of(image, BLUE, 180))
    assert not len(rows_of(image, BLUE, 100))
    image = draw([series("gappy", values)], **plain(yMin=0, yMax=100, drawNullAsZero="true"))
    rows = rows_of(image, BLUE, 100)
    assert len(rows) and rows.min() >= 96  # drawn at zero, the bottom edge


def test_stacked_areas_fill_between_their_lines():
    image = draw([series("a", [10] * 50), series("b", [20] * 50)],
                 **plain(yMin=0, yMax=40, areaMode="stacked"))
    column = image[:, 100]
    assert mask(column[None, 80:98], BLUE).all()       # first band 0..10 -> rows 75..100
    assert mask(column[None, 30:72], GREEN).all()      # second band 10..30 -> rows 25..75
    assert mask(column[None, 2:22], WHITE, 10).all()   # above 30: background


def test_area_mode_all_with_alpha_keeps_lines_on_top():
    image = draw([series("a", [10] * 50)],
                 **plain(yMin=0, yMax=40, areaMode="all", areaAlpha="0.5"))
    band = image[80, 100]
    assert band.tolist() != list(WHITE) and band.tolist() != list(BLUE)  # translucent
    assert abs(rows_of(image, BLUE, 100, tolerance=20).mean() - 75) <= 2


def test_legend_present_by_default_and_hidden_on_request():
    data = [series("alpha.one", [10, 10, 10]), series("beta.two", [10, 10, 10])]
    shown = draw(data, width=400, height=300, yMin=0, yMax=20)
    hidden = draw(data, width=400, height=300, yMin=0, yMax=20, hideLegend="true")
    bottom = slice(260, 300)
    assert mask(shown[bottom], BLUE).sum() > 30 and mask(shown[bottom], GREEN).sum() > 30
    assert mask(hidden[bottom], GREEN).sum() < 5


def test_legend_hides_itself_above_ten_series():
    data = [series(f"s{i}", [i, i + 1]) for i in range(11)]
    image = draw(data, width=400, height=300, colorList="ff00ff")
    legend_rows = image[280:300]
    assert mask(legend_rows, (255, 0, 255)).sum() < 5


def test_second_y_axis_scales_its_series_separately():
    left = series("left", [5] * 50)
    right = series("right", [750] * 50, secondYAxis=True)
    image = draw([left, right], width=300, height=200, hideLegend="true",
                 yMinLeft=0, yMaxLeft=10, yMinRight=0, yMaxRight=1000, colorList="blue,red",
                 lineWidth=3)
    blue, red = rows_of(image, BLUE, 150).mean(), rows_of(image, RED, 150).mean()
    top = 10  # the margin: no title
    bottom = 2 * blue - top  # blue is at half of its axis (5 of 0..10)
    assert abs(red - (top + 0.25 * (bottom - top))) <= 2  # 750 of 0..1000
    # labels on both sides: dark text left of the plot and right of it
    assert mask(image[:, :25], BLACK, 200).sum() > 10
    assert mask(image[:, -30:], BLACK, 200).sum() > 10


def test_log_scale_spaces_decades_evenly():
    data = [series("ten", [10] * 50), series("hundred", [100] * 50)]
    image = draw(data, **plain(logBase=10, yMin=1, colorList="blue,green"))
    # data 1..100 on a log axis: bottom 1, top 100, so 10 is the middle row
    assert abs(rows_of(image, BLUE, 100).mean() - 50) <= 2
    assert rows_of(image, GREEN, 100).mean() <= 3


def test_log_scale_leaves_out_values_at_or_below_zero():
    data = [series("mixed", [-1.0, 0.0, 10.0, 10.0] * 10)]
    image = draw(data, **plain(logBase=10, yMin=1, yMax=100))
    rows = rows_of(image, BLUE, 100)
    assert len(rows) and abs(np.median(rows) - 50) <= 3  # 10 is halfway up 1..100
    assert png_size(render_graph([series("none", [np.nan, -3.0])], {"logBase": "10"},
                                 "png")) == (330, 250)
    with pytest.raises(InputError, match="above zero"):
        render_graph([series("a", [1.0, 5.0])], {"logBase": "10", "yMin": "0"}, "png")


def test_no_data_image_for_empty_results():
    image = draw([], width=300, height=200)
    assert image[0, 0].tolist() == list(WHITE)
    red = mask(image, RED, 60)
    ys, xs = np.nonzero(red)
    assert len(ys) > 30
    assert 60 < ys.mean() < 140 and 100 < xs.mean() < 200  # centred
    assert not mask(image, BLUE).any()


def test_staircase_holds_each_value_for_its_step():
    image = draw([series("steps", [0, 100])], **plain(yMin=0, yMax=100, lineMode="staircase"))
    assert abs(rows_of(image, BLUE, 50).mean() - 99) <= 2   # first half at 0
    assert rows_of(image, BLUE, 150).mean() <= 3            # second half at 100


def test_connected_mode_bridges_gaps_and_connected_limit_stops_it():
    values = [50.0] * 100
    values[40:60] = [np.nan] * 20
    image = draw([series("c", values)], **plain(yMin=0, yMax=100, lineMode="connected"))
    assert len(rows_of(image, BLUE, 100))
    image = draw([series("c", values)], **plain(yMin=0, yMax=100, lineMode="connected",
                                                 connectedLimit=5))
    assert not len(rows_of(image, BLUE, 100))


def test_draw_as_infinite_draws_full_height_lines():
    values = [0.0] * 100
    values[50] = 1.0
    image = draw([series("events", values, drawAsInfinite=True)], **plain())
    columns = np.flatnonzero(mask(image, BLUE).sum(axis=0) > 90)
    assert len(columns) and abs(columns.mean() - 100) <= 3


def test_dark_template():
    image = draw([series("a", [1, 2])], width=200, height=100, template="modern-dark")
    assert image[0, 0].tolist() == [0x1e, 0x21, 0x27]


def test_bad_parameters_are_input_errors():
    with pytest.raises(InputError):
        render_graph([series("a", [1])], {"width": "wide"}, "png")
    with pytest.raises(InputError):
        render_graph([series("a", [1])], {"bgcolor": "nocolour"}, "png")
    with pytest.raises(InputError):
        render_graph([series("a", [1])], {}, "gif")
    with pytest.raises(InputError):
        render_graph([series("a", [1, 2])], {"yMin": "5", "yMax": "1"}, "png")


def test_svg_is_valid_xml_with_graphite_metadata():
    data = [series("a.b", [1, 2, 3, np.nan]), series("c]]>d", [3, 2, 1, 0])]
    svg = render_graph(data, {"width": "300", "height": "200", "title": "t"}, "svg")
    root = ET.fromstring(svg)
    assert root.get("width") == "300px" and root.get("height") == "200px"
    ns = "{http://www.w3.org/2000/svg}"
    classes = [g.get("class") for g in root.iter(ns + "g") if g.get("class")]
    assert classes[0] == "graphite"
    assert {"title", "legend", "axes", "grid", "lines"} <= set(classes)
    script = root.find(ns + "script").text.strip()
    assert script.startswith("metadata = ")
    meta = json.loads(script[len("metadata = "):])
    assert meta["x"]["start"] == 1_700_000_000
    assert [s["name"] for s in meta["series"]] == ["a.b", "c]]>d"]
    assert meta["series"][0]["data"] == [1, 2, 3, None]
    assert meta["series"][0]["color"] == "blue"
    assert meta["y"]["labelValues"][0] <= 0 and meta["y"]["labelValues"][-1] >= 3
    assert set(meta["area"]) == {"xmin", "xmax", "ymin", "ymax"}
    assert b"M 0.34375" not in svg  # every section marker was turned into a group


def test_svg_without_data_still_valid():
    svg = render_graph([], {}, "svg")
    root = ET.fromstring(svg)
    assert "metadata = {}" in root.find("{http://www.w3.org/2000/svg}script").text


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils not installed")
def test_pdf_is_a_real_pdf(tmp_path):
    pdf = render_graph([series("a", [25] * 50)], {"width": "200", "height": "100",
                                                   "graphOnly": "true", "yMin": "0",
                                                   "yMax": "100", "lineWidth": "2"}, "pdf")
    assert pdf.startswith(b"%PDF-")
    (tmp_path / "g.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "72", "-singlefile", str(tmp_path / "g.pdf"),
                    str(tmp_path / "g")], check=True, timeout=60)
    image = pixels((tmp_path / "g.png").read_bytes())
    assert image.shape[:2] == (100, 200)
    assert abs(rows_of(image, BLUE, 100, tolerance=80).mean() - 75) <= 3


def test_render_accepts_parsed_params_and_does_not_mutate_input():
    s = series("a", [1.0, np.nan, 3.0], color="red")
    before = (s.values.copy(), dict(s.options))
    params = parse_graph_params({"areaMode": ["stacked"], "width": ["100"]})
    render_graph([s], params, "png")
    assert np.array_equal(s.values, before[0], equal_nan=True) and s.options == before[1]


def test_title_vtitle_and_right_axis_side_draw_without_error():
    data = [series("a", np.arange(100.0)), series("b", np.arange(100.0) * 2, secondYAxis=True)]
    for extra in ({"vtitle": "left", "vtitleRight": "right"}, {"yAxisSide": "right"},
                  {"hideAxes": "true"}, {"hideYAxis": "true", "hideXAxis": "true"},
                  {"uniqueLegend": "true", "hideNullFromLegend": "true"}):
        params = {"width": "300", "height": "200", **extra}
        assert png_size(render_graph(data[:1] if "yAxisSide" in extra else data, params,
                                     "png")) == (300, 200)


def test_translucent_areas_do_not_hide_the_lines_inside_them():
    image = draw([series("high", [30] * 50), series("low", [10] * 50)],
                 **plain(yMin=0, yMax=40, areaMode="all", areaAlpha="0.3",
                         colorList="blue,red"))
    assert abs(rows_of(image, RED, 100, tolerance=30).mean() - 75) <= 2
    assert abs(rows_of(image, BLUE, 100, tolerance=30).mean() - 25) <= 2


def pie_series():
    return [series("small", [1.0, 1.0]), series("big", [3.0, 3.0])]


def test_pie_slices_start_at_twelve_and_go_clockwise():
    image = draw(pie_series(), width=300, height=300, graphType="pie", hideLegend="true",
                 colorList="blue,green", valueLabels="none")
    # 25% blue from twelve to three o'clock, 75% green for the rest
    assert mask(image[100:140, 160:200], BLUE).mean() > 0.9   # upper right quadrant
    assert mask(image[160:200, 100:140], GREEN).mean() > 0.9  # lower left quadrant
    assert mask(image[160:200, 160:200], GREEN).mean() > 0.9  # lower right quadrant
    assert image[2, 2].tolist() == list(WHITE)


def test_pie_legend_labels_title_and_modes():
    for extra in ({"valueLabels": "number", "pieLabels": "rotated"},
                  {"title": "Share", "pieMode": "maximum", "areaAlpha": "0.5"},
                  {"valueLabels": "percent", "valueLabelsColor": "white"}):
        image = draw(pie_series(), width=300, height=300, graphType="pie", **extra)
        assert image.shape == (300, 300, 3)
    legend = draw(pie_series(), width=300, height=300, graphType="pie", colorList="blue,green")
    assert mask(legend[270:300], GREEN).sum() > 20  # the legend box under the pie


def test_pie_without_values_is_no_data():
    image = draw([series("empty", [np.nan, np.nan])], width=300, height=200, graphType="pie")
    assert mask(image, RED, 60).sum() > 30


def test_transparent_background_gives_an_rgba_png():
    import cairocffi as cairo
    import io
    png = render_graph([series("a", [1, 2, 3])], {"bgcolor": "00000000", "width": "50",
                                                   "height": "40"}, "png")
    assert png[25] == 6  # colour type RGBA
    surface = cairo.ImageSurface.create_from_png(io.BytesIO(png))
    data = np.frombuffer(bytes(surface.get_data()), np.uint8).reshape(40, -1, 4)
    assert data[0, 0, 3] == 0 and data[:, :50, 3].max() == 255


def test_single_points_and_area_first():
    image = draw([series("one", [50.0])], **plain(yMin=0, yMax=100))
    assert mask(image, BLUE).any()  # one point is drawn (as a staircase step)
    lone = [np.nan] * 10
    lone[5] = 50.0
    image = draw([series("lone", lone)], **plain(yMin=0, yMax=100, lineMode="connected"))
    assert mask(image, BLUE).any()
    image = draw([series("a", [10] * 50), series("b", [30] * 50)],
                 **plain(yMin=0, yMax=40, areaMode="first"))
    assert mask(image[80:98, 100:101], BLUE).all()      # the first is filled
    assert mask(image[50:70, 100:101], WHITE, 10).all()  # the second is a line only


def test_legend_overflow_says_how_many_are_left_out():
    data = [series(f"metric.number.{i}", [i, i + 1]) for i in range(10)]
    small = draw(data, width=200, height=120, hideLegend="false")
    assert small.shape == (120, 200, 3)
    unnamed = draw([series("", [1.0, 2.0])], width=200, height=120)
    assert unnamed.shape == (120, 200, 3)


def test_negative_data_with_draw_null_as_zero():
    values = [-5.0, np.nan, -10.0]
    svg = render_graph([series("neg", values)], {"drawNullAsZero": "true"}, "svg")
    script = ET.fromstring(svg).find("{http://www.w3.org/2000/svg}script").text.strip()
    meta = json.loads(script[len("metadata = "):])
    assert meta["y"]["top"] == 0  # the range is pulled up to zero for the gap


def test_awkward_data_still_draws():
    cases = [[series("inf", [1, np.inf, -np.inf, 3])], [series("nan", [np.nan] * 5)],
             [series("fine", np.arange(100.0), step=10),
              series("coarse", np.arange(10.0), step=100, start=1_700_000_500)],
             [series("huge", [1e300, -1e300])]]
    for data in cases:
        for extra in ({}, {"areaMode": "stacked"}, {"yDivisors": "1"}, {"graphType": "pie"},
                      {"lineMode": "connected"}, {"yAxisSide": "right"}):
            assert png_size(render_graph(data, {"width": "120", "height": "90", **extra},
                                         "png")) == (120, 90)


def reddish(image):
    r, g, b = image[:, :, 0], image[:, :, 1], image[:, :, 2]
    return (r > 200) & (g < r - 40) & (b < r - 40)


def test_grid_lines_follow_their_colour_and_hide_grid():
    data = [series("a", [1.0, 2.0, 3.0], color="000000")]
    shown = draw(data, width=300, height=200, hideLegend="true", majorGridLineColor="ff0000",
                 minorGridLineColor="ff0000")
    hidden = draw(data, width=300, height=200, hideLegend="true", majorGridLineColor="ff0000",
                  minorGridLineColor="ff0000", hideGrid="true")
    assert reddish(shown).sum() > 200
    assert reddish(hidden).sum() == 0


def test_y_axis_labels_on_the_right():
    data = [series("a", [100.0, 200.0, 300.0])]
    left = draw(data, width=300, height=200, hideLegend="true")
    right = draw(data, width=300, height=200, hideLegend="true", yAxisSide="right")
    ink = lambda image: mask(image, BLACK, 300)  # noqa: E731 - dark text pixels
    assert ink(left)[:150, :30].sum() > 20 and ink(left)[:150, -30:].sum() == 0
    assert ink(right)[:150, -30:].sum() > 20 and ink(right)[:150, :8].sum() == 0
