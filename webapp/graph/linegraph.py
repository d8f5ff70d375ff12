"""Line graphs: normalise the parameters, lay out (title, legend, axes, the plot
area), then draw grid, areas and lines. The arithmetic lives in layout.py and
ticks.py; this module sequences it and talks to the Canvas."""
import math
from dataclasses import dataclass

import cairocffi as cairo
import numpy as np

from webapp.graph import layout, ticks
from webapp.graph.layout import LEGEND_MAX_ITEMS, LEGEND_PADDING


@dataclass
class Area:
    """The plot rectangle in pixels; shrinks as title, legend and labels claim room."""

    xmin: float
    xmax: float
    ymin: float
    ymax: float

    def as_dict(self):
        return {"xmin": self.xmin, "xmax": self.xmax, "ymin": self.ymin, "ymax": self.ymax}


@dataclass
class Axes:
    """The y axes of a graph (right is None with one axis) and the x mapping."""

    left: ticks.YAxis
    right: ticks.YAxis | None
    label_width_left: float = 0.0
    label_width_right: float = 0.0

    def for_plot(self, plot):
        return self.right if (plot.second_axis and self.right is not None) else self.left


def normalise(params):
    """graphite-web's compatibility rules applied once, up front."""
    if params.graphOnly:
        params = params.replace(hideLegend=True, hideGrid=True, hideAxes=True,
                                yAxisSide="left", title="", vtitle="", vtitleRight="",
                                margin=0)
    return params


def draw_line_graph(canvas, series_list, params, theme):
    """Draw `series_list` on `canvas`; returns the SVG metadata dict."""
    params = normalise(params)
    plots = layout.make_plots(series_list, params, theme.colors)
    if any(p.second_axis for p in plots):
        params = params.replace(yAxisSide="left")
    two_axes = any(p.second_axis for p in plots)
    line_mode = params.lineMode
    if line_mode == "slope" and any(len(p.raw) == 1 for p in plots):
        line_mode = "staircase"  # a slope needs two points (graphite's rule)
    area = _initial_area(canvas, params)
    _draw_titles(canvas, params, theme, area, two_axes)
    _draw_legend(canvas, plots, params, theme, area)
    canvas.font(*theme.font)
    ascent, _, _ = canvas.font_metrics()
    if not params.hideAxes and not params.hideXAxis:
        area.ymax -= ascent * 2
    start = min(p.start for p in plots)
    if line_mode == "staircase":
        end = max(p.end for p in plots)
    else:
        end = max(p.end - p.step for p in plots)
    time_range = max(end - start, 1)
    stacked = params.areaMode == "stacked" and not two_axes
    axes, pixels = _fit_axes(canvas, plots, params, area, time_range, stacked)
    x_conf = ticks.choose_x_config(time_range, pixels)
    x_scale = pixels / time_range
    canvas.marker("axes", theme.background)
    if not params.hideAxes:
        _draw_y_labels(canvas, params, theme, area, axes)
        if not params.hideXAxis:
            _draw_x_labels(canvas, params, theme, area, x_conf, start, end, x_scale)
        if not params.hideGrid:
            canvas.marker("grid", theme.background)
            _draw_grid(canvas, params, theme, area, axes, x_conf, start, end, x_scale)
    canvas.marker("lines", theme.background)
    _draw_plots(canvas, plots, params, area, axes, start, line_mode, stacked)
    if canvas.fmt != "svg":
        return {}
    return _metadata(plots, params, theme, area, axes, start, end, two_axes)


# ---- layout steps ----------------------------------------------------------------

def _initial_area(canvas, params):
    if params.graphOnly:
        return Area(0.0, float(canvas.width), 0.0, float(canvas.height))
    m = params.margin
    return Area(m + 10.0, float(canvas.width - m), float(m), float(canvas.height - m))


def _draw_titles(canvas, params, theme, area, two_axes):
    name, size, bold, italic = theme.font
    canvas.font(name, size + math.floor(math.log(size)), bold, italic)
    _, _, line_height = canvas.font_metrics()
    if params.title:
        canvas.marker("title", theme.background)
        y = area.ymin
        for line in params.title.split("\n"):
            canvas.text(line, canvas.width / 2, y, theme.foreground, align="center")
            y += line_height
        area.ymin = y + params.margin
    if params.vtitle:
        canvas.marker("vtitle", theme.background)
        x = area.xmin + line_height
        for line in params.vtitle.split("\n"):
            canvas.text(line, x, canvas.height / 2, theme.foreground, align="center",
                        valign="baseline", rotate=270)
            x += line_height
        area.xmin = x + params.margin + line_height
    if two_axes and params.vtitleRight:
        canvas.marker("vtitleRight", theme.background)
        x = area.xmax - line_height
        for line in params.vtitleRight.split("\n"):
            canvas.text(line, x, canvas.height / 2, theme.foreground, align="center",
                        valign="baseline", rotate=90)
            x -= line_height
        area.xmax = x - params.margin - line_height


def _draw_legend(canvas, plots, params, theme, area):
    hide = params.hideLegend
    if hide is None:
        hide = len(plots) > LEGEND_MAX_ITEMS
    if hide:
        return
    entries = layout.legend_entries(plots, params.uniqueLegend, params.hideNullFromLegend)
    if not entries:
        return
    canvas.marker("legend", theme.background)
    canvas.font(*theme.font)
    _, _, line_height = canvas.font_metrics()
    legend = layout.layout_legend(entries, canvas.text_width, line_height, area.xmin,
                                  area.xmax, canvas.width, (area.ymax - area.ymin) / 2)
    area.ymax -= legend.height
    top = area.ymax + 2 * LEGEND_PADDING
    box = legend.box
    for item in legend.items:
        y = top + item.y
        canvas.fill_rect(item.x, y, box, box, item.rgba[:3] + (1.0,))
        canvas.stroke_rect(item.x, y, box, box, theme.box_border)
        if item.right:
            canvas.text(item.name, item.x - LEGEND_PADDING, y, theme.foreground, align="right")
        else:
            canvas.text(item.name, item.x + box + LEGEND_PADDING, y, theme.foreground)
    if legend.hidden:
        rows = max((item.y for item in legend.items), default=-line_height - 1)
        canvas.text(f"… and {legend.hidden} more", area.xmin, top + rows + line_height + 1,
                    theme.foreground)


def _fit_axes(canvas, plots, params, area, time_range, stacked):
    """Consolidate to the pixel width, build the y axes, and let their labels push
    the plot edges in; repeat until the edges stop moving (graphite's loop)."""
    line_width = params.lineWidth
    axes = pixels = None
    for _ in range(6):  # converges in two or three rounds; bounded regardless
        pixels = max(area.xmax - area.xmin - (line_width + 1), 1.0)
        layout.fit_to_width(plots, time_range, pixels, params.minXStep)
        before = (area.xmin, area.xmax)
        axes = _y_axes(canvas, plots, params, stacked)
        _claim_label_room(canvas, params, area, axes)
        if (area.xmin, area.xmax) == before:
            break
    return axes, pixels


def _y_axes(canvas, plots, params, stacked):
    left = [p for p in plots if not p.second_axis]
    right = [p for p in plots if p.second_axis]
    if not right:
        axis = _one_axis(plots, params, stacked, params.yMin, params.yMax, params.yLimit,
                         params.yStep)
        return _measure(canvas, params, Axes(axis, None))
    axis_l = _one_axis(left, params, stacked, params.yMinLeft, params.yMaxLeft,
                       params.yLimitLeft, params.yStepLeft)
    axis_r = _one_axis(right, params, stacked, params.yMinRight, params.yMaxRight,
                       params.yLimitRight, params.yStepRight)
    return _measure(canvas, params, Axes(axis_l, axis_r))


def _one_axis(plots, params, stacked, axis_min, axis_max, axis_limit, step):
    if params.logBase:
        low, high = layout.positive_limits(plots, stacked, params.logBase)
    else:
        low, high = layout.data_limits(plots, params.drawNullAsZero, stacked)
    if params.logBase:
        return ticks.log_axis(low, high, params.logBase, axis_min=axis_min, axis_max=axis_max,
                              axis_limit=axis_limit, unit_system=params.yUnitSystem)
    return ticks.linear_axis(low, high, axis_min=axis_min, axis_max=axis_max,
                             axis_limit=axis_limit, step=step, divisors=params.yDivisors,
                             unit_system=params.yUnitSystem)


def _measure(canvas, params, axes):
    if params.hideAxes:
        return axes
    axes.label_width_left = max((canvas.text_width(t) for t in axes.left.labels), default=0)
    if axes.right is not None:
        axes.label_width_right = max((canvas.text_width(t) for t in axes.right.labels),
                                     default=0)
    return axes


def _claim_label_room(canvas, params, area, axes):
    if params.hideAxes or params.hideYAxis:
        return
    if axes.right is not None:
        area.xmin = max(area.xmin, params.margin + axes.label_width_left * 1.02)
        area.xmax = min(area.xmax, canvas.width - axes.label_width_right * 1.02 - 3)
    elif params.yAxisSide == "left":
        area.xmin = max(area.xmin, params.margin + axes.label_width_left * 1.02)
    else:
        area.xmax = min(area.xmax, canvas.width - params.margin
                        - axes.label_width_left * 1.02)


# ---- axes and grid ----------------------------------------------------------------

def _draw_y_labels(canvas, params, theme, area, axes):
    if params.hideYAxis:
        return
    canvas.font(*theme.font)
    right_side = axes.right is None and params.yAxisSide == "right"
    sides = [(axes.left, axes.label_width_left, right_side)]
    if axes.right is not None:
        sides.append((axes.right, axes.label_width_right, True))
    for axis, width, on_right in sides:
        rows = layout.y_pixels(axis.values, axis, area.ymin, area.ymax)
        for row, label in zip(rows.tolist(), axis.labels):
            if not math.isfinite(row):
                continue
            if on_right:
                x = area.xmax + width * 0.02 + (3 if axes.right is not None else 0)
                canvas.text(label, x, max(row, 0), theme.foreground, "left", "middle")
            else:
                x = area.xmin - width * 0.02
                canvas.text(label, x, max(row, 0), theme.foreground, "right", "middle")


def _draw_x_labels(canvas, params, theme, area, x_conf, start, end, x_scale):
    canvas.font(*theme.font)
    ascent, _, _ = canvas.font_metrics()
    fmt = params.xFormat or x_conf.fmt
    y = area.ymax + ascent
    for stamp in ticks.x_times(start, end, x_conf.label, params.tz):
        label = ticks.x_label(stamp, fmt, params.tz)
        half = canvas.text_width(label) / 2
        x = area.xmin + (stamp - start) * x_scale
        x = min(max(x, half + 1), canvas.width - half - 1)  # keep the label on the image
        canvas.text(label, x, y, theme.foreground, align="center")


def _draw_grid(canvas, params, theme, area, axes, x_conf, start, end, x_scale):
    ctx = canvas.ctx
    ctx.set_dash([], 0)
    axis = axes.left
    rows = layout.y_pixels(axis.values, axis, area.ymin, area.ymax).tolist()
    for row in rows:
        if math.isfinite(row) and row >= 0:
            canvas.line(area.xmin, row, area.xmax, row, theme.major, 0.4)
    for row in _minor_rows(axis, params.minorY, area):
        canvas.line(area.xmin, row, area.xmax, row, theme.minor, 0.3)
    for unit_step, color, width in ((x_conf.minor, theme.minor, 0.25),
                                    (x_conf.major, theme.major, 0.33)):
        for stamp in ticks.x_times(start, end, unit_step, params.tz):
            x = area.xmin + (stamp - start) * x_scale
            if x < area.xmax:
                canvas.line(x, area.ymax, x, area.ymin, color, width)
    canvas.line(area.xmin, area.ymax, area.xmin, area.ymin, theme.major, 0.5)
    canvas.line(area.xmax, area.ymax, area.xmax, area.ymin, theme.major, 0.5)


def _minor_rows(axis, minor_y, area):
    values = axis.values
    if minor_y < 1 or len(values) < 2:
        return []
    minors = []
    for lower, upper in zip(values[:-1], values[1:]):
        distance = (upper - lower) / (1 + minor_y)
        minors.extend(lower + (i + 1) * distance for i in range(minor_y))
    rows = layout.y_pixels(minors, axis, area.ymin, area.ymax)
    return [r for r in rows.tolist() if math.isfinite(r) and r >= area.ymin]


# ---- series -----------------------------------------------------------------------

def _draw_plots(canvas, plots, params, area, axes, start, line_mode, stacked):
    ctx = canvas.ctx
    order = _apply_area_mode(plots, params, stacked)
    ctx.save()
    ctx.rectangle(area.xmin, area.ymin, area.xmax - area.xmin, area.ymax - area.ymin)
    ctx.clip()
    ctx.set_line_cap(cairo.LINE_CAP_BUTT)
    ctx.set_line_join(cairo.LINE_JOIN_BEVEL)
    ctx.set_antialias(cairo.ANTIALIAS_FAST)
    alpha = params.areaAlpha
    ctx.save()  # the fills clip themselves away; lines afterwards see the plain area
    for plot in [p for p in order if p.stacked and not p.infinite]:
        xs, ys, baseline = _geometry(plot, params, area, axes, start)
        rgba = plot.rgba[:3] + (alpha if alpha is not None else plot.rgba[3],)
        _fill_runs(canvas, xs, ys, baseline, line_mode, params.connectedLimit, rgba, area)
    ctx.restore()
    for plot in order:
        if plot.stacked and alpha is None:
            continue  # an opaque area is its own line (graphite draws no stroke)
        xs, ys, _ = _geometry(plot, params, area, axes, start)
        width = plot.line_width or params.lineWidth
        ctx.set_line_width(width)
        ctx.set_dash([plot.dashed], 0) if plot.dashed else ctx.set_dash([], 0)
        rgba = plot.rgba if not plot.invisible else plot.rgba[:3] + (0.0,)
        if plot.stacked:
            rgba = plot.rgba[:3] + (1.0,)
        canvas.color(rgba)
        if plot.infinite:
            _infinite_lines(ctx, xs, plot.values, area)
        else:
            _trace(canvas, xs, ys, line_mode, params.connectedLimit, plot.x_step)
            ctx.stroke()
    ctx.restore()


def _apply_area_mode(plots, params, stacked):
    """Mark which plots are filled, stack them if asked, and put filled plots first
    (graphite's sort_stacked)."""
    mode = params.areaMode
    if mode == "first" and plots:
        plots[0].stacked = True
    elif mode in ("all", "stacked"):
        for plot in plots:
            if not plot.infinite:
                plot.stacked = True
    if stacked:
        movable = [p for p in plots if not p.infinite]
        for plot, values in zip(movable, layout.stack_values([p.values for p in movable])):
            plot.values = values
    return [p for p in plots if p.stacked] + [p for p in plots if not p.stacked]


def _geometry(plot, params, area, axes, start):
    """x and y pixel arrays of a plot's points and the pixel row of its zero."""
    values = plot.values
    if params.drawNullAsZero:
        values = np.where(np.isnan(values), 0.0, values)
    axis = axes.for_plot(plot)
    shift = plot.x_step * ((plot.start - start) / plot.step / plot.values_per_point)
    x0 = area.xmin + shift + params.lineWidth / 2.0
    xs = x0 + np.arange(len(values) + 1) * plot.x_step
    ys = layout.y_pixels(values, axis, area.ymin, area.ymax)
    ys = np.where(np.isnan(values), np.nan, np.maximum(ys, 0.0))
    if axis.log_base:
        baseline = area.ymax
    else:
        baseline = float(layout.y_pixels([0.0], axis, area.ymin, area.ymax)[0])
    return xs, ys, baseline


def _runs(ys):
    """(first, last) index pairs of the stretches of finite values."""
    finite = np.isfinite(ys).astype(np.int8)
    edges = np.diff(np.concatenate(([0], finite, [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    return list(zip(starts.tolist(), ends.tolist()))


def _polylines(xs, ys, mode, connected_limit):
    """Point lists to draw for the finite stretches of ys in the given line mode.

    slope: straight segments between points; a stretch followed by a gap runs flat
    to the next column, as graphite draws it. staircase: each value held for its
    step. connected: gaps of at most connected_limit points are bridged."""
    n = len(ys)
    runs = _runs(ys)
    if mode == "connected":
        runs = _bridge(runs, connected_limit)
        out = []
        for a, b in runs:
            keep = np.flatnonzero(np.isfinite(ys[a:b + 1])) + a
            out.append((xs[keep].tolist(), ys[keep].tolist()))
        return out
    out = []
    for a, b in runs:
        if mode == "staircase":
            px = np.repeat(xs[a:b + 2], 2)[1:-1]
            py = np.repeat(ys[a:b + 1], 2)
        else:
            px, py = xs[a:b + 1], ys[a:b + 1]
            if b + 1 < n:
                px = np.append(px, xs[b + 1])
                py = np.append(py, ys[b])
        out.append((px.tolist(), py.tolist()))
    return out


def _bridge(runs, limit):
    merged = []
    for a, b in runs:
        if merged and (a - merged[-1][1] - 1) <= limit:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged


def _trace(canvas, xs, ys, mode, connected_limit, x_step):
    for px, py in _polylines(xs, ys, mode, connected_limit):
        if len(px) == 1:  # a lone point: a short tick so it stays visible
            px, py = [px[0], px[0] + max(x_step, 1.0)], [py[0], py[0]]
        canvas.polyline(px, py)


def _fill_runs(canvas, xs, ys, baseline, mode, connected_limit, rgba, area):
    """Fill each stretch down to the zero line, then clip the filled shape away so
    later areas show only above it (graphite's fillAreaAndClip)."""
    ctx = canvas.ctx
    shapes = _polylines(xs, ys, mode, connected_limit)
    if not shapes:
        return
    for px, py in shapes:
        ctx.move_to(px[0], baseline)
        for x, y in zip(px, py):
            ctx.line_to(x, y)
        ctx.line_to(px[-1], baseline)
        ctx.close_path()
    path = ctx.copy_path()
    canvas.color(rgba)
    ctx.set_fill_rule(cairo.FILL_RULE_WINDING)
    ctx.fill()
    ctx.rectangle(area.xmin, area.ymin, area.xmax - area.xmin, area.ymax - area.ymin)
    ctx.append_path(path)
    ctx.set_fill_rule(cairo.FILL_RULE_EVEN_ODD)
    ctx.clip()
    ctx.set_fill_rule(cairo.FILL_RULE_WINDING)


def _infinite_lines(ctx, xs, values, area):
    for x in xs[:len(values)][np.nan_to_num(values, nan=0.0) > 0].tolist():
        ctx.move_to(x, area.ymax)
        ctx.line_to(x, area.ymin)
    ctx.stroke()


# ---- SVG metadata -------------------------------------------------------------------

def _metadata(plots, params, theme, area, axes, start, end, two_axes):
    meta = {
        "x": {"start": start, "end": end},
        "options": {"lineWidth": params.lineWidth},
        "font": {"name": theme.font[0], "size": theme.font[1], "bold": theme.font[2],
                 "italic": theme.font[3]},
        "area": area.as_dict(),
        "series": [],
    }
    if not two_axes:
        axis = axes.left
        meta["y"] = {"top": axis.top, "bottom": axis.bottom, "step": axis.step,
                     "labels": list(axis.labels), "labelValues": list(axis.values)}
    for plot in plots:
        meta["series"].append({
            "name": plot.name, "start": plot.start, "end": plot.end, "step": plot.step,
            "valuesPerPoint": plot.values_per_point, "color": plot.color,
            "data": [None if not math.isfinite(v) else v for v in plot.values.tolist()],
            "options": _json_options(plot.options),
        })
    return meta


def _json_options(options):
    return {k: v for k, v in options.items() if isinstance(v, (str, int, float, bool))}
