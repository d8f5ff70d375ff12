"""render_graph: series and parameters -> PNG, SVG or PDF bytes."""
import math
from dataclasses import dataclass

from webapp.errors import InputError
from webapp.graph import pie, svg
from webapp.graph.canvas import Canvas
from webapp.graph.colors import TEMPLATES, parse_color
from webapp.graph.linegraph import draw_line_graph
from webapp.graph.params import FORMATS, as_graph_params

NO_DATA_COLOR = "red"


@dataclass(frozen=True)
class Theme:
    """Template and request parameters merged into drawable values."""

    background: tuple
    foreground: tuple
    major: tuple
    minor: tuple
    box_border: tuple
    colors: tuple
    font: tuple  # (name, size, bold, italic)


def resolve_theme(params):
    """The template named by `template` (unknown names fall back to the default, as
    in graphite-web), overridden by bgcolor, fgcolor, colorList and the font and
    grid-colour parameters."""
    template = TEMPLATES.get(params.template, TEMPLATES["default"])
    font = (params.fontName or template.font_name,
            float(params.fontSize or template.font_size),
            template.font_bold if params.fontBold is None else params.fontBold,
            template.font_italic if params.fontItalic is None else params.fontItalic)
    colors = params.colorList or template.colors
    for color in colors:
        parse_color(color)  # reject a bad colour before drawing anything
    return Theme(
        background=parse_color(params.bgcolor or template.background),
        foreground=parse_color(params.fgcolor or template.foreground),
        major=parse_color(params.majorGridLineColor or template.major_line),
        minor=parse_color(params.minorGridLineColor or template.minor_line),
        box_border=parse_color("darkgrey"),
        colors=tuple(colors),
        font=font,
    )


def render_graph(series_list, params, fmt="png"):
    """Draw `series_list` (TimeSeries) as graphite-web would for /render.

    params: a GraphParams or a dict of request parameters; fmt: png, svg or pdf
    (None means png). Raises InputError for parameters that cannot be drawn.
    """
    fmt = (fmt or "png").lower()
    if fmt not in FORMATS:
        raise InputError(f"graph format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    params = as_graph_params(params)
    theme = resolve_theme(params)
    canvas = Canvas(fmt, params.width, params.height)
    canvas.fill_rect(0, 0, params.width, params.height, theme.background)
    metadata = {}
    if params.graphType == "pie":
        slices = pie.pie_values(series_list, params.pieMode)
        if slices:
            pie.draw_pie(canvas, slices, params, theme)
        else:
            draw_no_data(canvas, theme)
    elif not _has_time_range(series_list):
        draw_no_data(canvas, theme)
    else:
        metadata = draw_line_graph(canvas, series_list, params, theme)
    data = canvas.finish()
    if fmt == "svg":
        return svg.finish_svg(data, metadata)
    return data


def _has_time_range(series_list):
    if not series_list:
        return False
    start = min(s.start for s in series_list)
    end = max(s.end for s in series_list)
    return end > start


def draw_no_data(canvas, theme):
    """graphite-web's empty result: "No Data" in red, centred, sized to the image."""
    name = theme.font[0]
    canvas.font(name, math.log(canvas.width * canvas.height), False, False)
    canvas.text("No Data", canvas.width / 2, canvas.height / 2,
                parse_color(NO_DATA_COLOR), align="center", valign="middle")
