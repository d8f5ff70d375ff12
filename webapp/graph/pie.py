"""Pie charts (graphType=pie): one slice per series, sized by pieMode
(average, maximum or minimum of its values), labelled by valueLabels."""
import itertools
import math
from dataclasses import dataclass

import numpy as np

from webapp.graph import layout
from webapp.graph.colors import parse_color
from webapp.graph.layout import LEGEND_PADDING

START_ANGLE = 3.0 * math.pi / 2.0  # slices start at twelve o'clock, as in graphite


@dataclass(frozen=True)
class Slice:
    name: str
    value: float
    fraction: float
    rgba: tuple
    start: float
    stop: float

    @property
    def middle(self):
        return ((self.start + self.stop) / 2.0) % (2.0 * math.pi)


def pie_values(series_list, mode):
    """(name, value) per series; a series with no values counts as 0."""
    reduce = {"average": np.mean, "maximum": np.max, "minimum": np.min}[mode]
    out = []
    for series in series_list:
        values = np.asarray(series.values, dtype=np.float64)
        values = values[np.isfinite(values)]
        out.append((series.name, float(reduce(values)) if len(values) else 0.0))
    if not out or sum(v for _, v in out) <= 0:
        return []
    return out


def make_slices(values, colors, alpha=1.0):
    """Angles and colours for (name, value) pairs; total must be positive."""
    total = sum(v for _, v in values)
    palette = itertools.cycle(colors)
    slices, theta = [], START_ANGLE
    for name, value in values:
        fraction = value / total
        stop = theta + 2.0 * math.pi * fraction
        slices.append(Slice(name, value, fraction, parse_color(next(palette), alpha),
                            theta, stop))
        theta = stop
    return slices


def value_label(piece, kind, minimum):
    """The text on a slice, or None when it is below valueLabelsMin."""
    if kind == "percent":
        if piece.fraction * 100.0 < minimum:
            return None
        return f"{piece.fraction * 100.0:.2f}%"
    if kind == "number":
        if piece.value < minimum:
            return None
        if piece.value < 10 and piece.value != int(piece.value):
            return f"{piece.value:.2f}"
        return str(int(piece.value))
    return None


def draw_pie(canvas, values, params, theme):
    m = params.margin
    xmin, xmax, ymin, ymax = m + 10.0, canvas.width - m, float(m), canvas.height - m
    alpha = 1.0 if params.areaAlpha is None else params.areaAlpha
    slices = make_slices(values, theme.colors, alpha)
    name, size, bold, italic = theme.font
    if params.title:
        canvas.font(name, size + math.floor(math.log(size)), bold, italic)
        _, _, line_height = canvas.font_metrics()
        y = ymin
        for line in params.title.split("\n"):
            canvas.text(line, canvas.width / 2, y, theme.foreground, align="center")
            y += line_height
        ymin = y + m
    canvas.font(*theme.font)
    if not params.hideLegend:
        ymax = _legend(canvas, slices, theme, xmin, xmax, ymin, ymax)
    x0, y0 = (xmin + xmax) / 2.0, (ymin + ymax) / 2.0
    radius = max(min(xmax - xmin, ymax - ymin) / 2.0 * 0.95, 1.0)
    ctx = canvas.ctx
    for piece in slices:
        canvas.color(piece.rgba)
        ctx.move_to(x0, y0)
        ctx.arc(x0, y0, radius, piece.start, piece.stop)
        ctx.line_to(x0, y0)
        ctx.fill()
    if params.valueLabels != "none":
        _labels(canvas, slices, params, theme, (x0, y0, radius))


def _legend(canvas, slices, theme, xmin, xmax, ymin, ymax):
    _, _, line_height = canvas.font_metrics()
    entries = [(s.name, s.rgba, False) for s in slices]
    legend = layout.layout_legend(entries, canvas.text_width, line_height, xmin, xmax,
                                  canvas.width, (ymax - ymin) / 2)
    ymax -= legend.height
    top = ymax + 2 * LEGEND_PADDING
    for item in legend.items:
        canvas.fill_rect(item.x, top + item.y, legend.box, legend.box, item.rgba)
        canvas.stroke_rect(item.x, top + item.y, legend.box, legend.box, theme.box_border)
        canvas.text(item.name, item.x + legend.box + LEGEND_PADDING, top + item.y,
                    theme.foreground)
    return ymax


def _labels(canvas, slices, params, theme, circle):
    x0, y0, radius = circle
    color = parse_color(params.valueLabelsColor)
    canvas.font(*theme.font)
    for piece in slices:
        label = value_label(piece, params.valueLabels, params.valueLabelsMin)
        if label is None:
            continue
        theta = piece.middle
        x = x0 + radius / 2.0 * math.cos(theta)
        y = y0 + radius / 2.0 * math.sin(theta)
        rotate = 0.0
        if params.pieLabels == "rotated":
            if math.pi / 2.0 < theta <= 3.0 * math.pi / 2.0:
                theta -= math.pi
            rotate = math.degrees(theta)
        canvas.text(label, x, y, color, align="center", valign="middle", rotate=rotate)
