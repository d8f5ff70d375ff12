"""Pure layout for line graphs: series -> plots (colour, style, consolidated
values), the data range, stacking, the legend grid, and value -> pixel mapping.
Nothing here draws; text sizes come in as numbers or a measuring function."""
import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from webapp.graph.colors import parse_color

LEGEND_MAX_ITEMS = 10
LEGEND_PADDING = 5


@dataclass
class Plot:
    """One series as it will be drawn."""

    name: str
    start: int
    end: int
    step: int
    raw: np.ndarray
    color: str
    rgba: tuple
    consolidate_func: str = "average"
    x_files_factor: float = 0.0
    line_width: float | None = None
    dashed: float | None = None
    stacked: bool = False
    second_axis: bool = False
    infinite: bool = False
    invisible: bool = False
    options: dict = field(default_factory=dict)
    values: np.ndarray | None = None
    values_per_point: int = 1
    x_step: float = 1.0


def _dash(value):
    if value is None or value is False:
        return None
    if value is True:
        return 5.0
    return float(value) if float(value) > 0 else None


def make_plots(series_list, params, color_list):
    """Series -> Plots with graphite's colour rule: a colour set by color() wins,
    then leftColor/rightColor, then the next entry of the colour list."""
    colors = itertools.cycle(color_list)
    second = any(s.options.get("secondYAxis") for s in series_list)
    plots = []
    for series in series_list:
        opts = dict(series.options)
        side = "right" if opts.get("secondYAxis") else "left"
        width, dashed, color = opts.get("lineWidth"), opts.get("dashed"), opts.get("color")
        if second:
            width = getattr(params, f"{side}Width") or width
            dashed = getattr(params, f"{side}Dashed") or dashed
            color = getattr(params, f"{side}Color") or color
        if color is None:
            color = next(colors)
        alpha = opts.get("alpha")
        plots.append(Plot(
            name=series.name, start=series.start, end=series.end, step=series.step,
            raw=series.values, color=color,
            rgba=parse_color(color, 1.0 if alpha is None else alpha),
            consolidate_func=series.consolidate_func or "average",
            x_files_factor=series.x_files_factor or 0.0,
            line_width=None if width is None else float(width), dashed=_dash(dashed),
            stacked=bool(opts.get("stacked")), second_axis=side == "right",
            infinite=bool(opts.get("drawAsInfinite")), invisible=bool(opts.get("invisible")),
            options=opts))
    return plots


# ---- consolidation ----------------------------------------------------------------

def consolidate(values, per_point, func="average", x_files_factor=0.0):
    """Graphite's consolidation with numpy: groups of `per_point` values from the
    start (the last group may be short) reduced by `func`; a group with no values,
    or fewer than x_files_factor * per_point, becomes NaN."""
    values = np.asarray(values, dtype=np.float64)
    if per_point <= 1 or len(values) == 0:
        return values
    n = len(values)
    groups = -(-n // per_point)
    padded = np.full(groups * per_point, np.nan)
    padded[:n] = values
    buckets = padded.reshape(groups, per_point)
    valid = ~np.isnan(buckets)
    count = valid.sum(axis=1)
    filled = np.where(valid, buckets, 0.0)
    func = {"avg": "average", "max": "max", "min": "min"}.get(func, func)
    with np.errstate(invalid="ignore", divide="ignore"):
        if func == "sum":
            out = filled.sum(axis=1)
        elif func == "avg_zero":
            sizes = np.full(groups, per_point, dtype=np.float64)
            sizes[-1] = n - (groups - 1) * per_point
            out = filled.sum(axis=1) / sizes
        elif func == "max":
            out = np.where(valid, buckets, -np.inf).max(axis=1)
        elif func == "min":
            out = np.where(valid, buckets, np.inf).min(axis=1)
        elif func == "first":
            out = buckets[np.arange(groups), valid.argmax(axis=1)]
        elif func == "last":
            out = buckets[np.arange(groups), per_point - 1 - valid[:, ::-1].argmax(axis=1)]
        else:
            out = filled.sum(axis=1) / count
    keep = (count > 0) & (count / per_point >= (x_files_factor or 0.0))
    return np.where(keep, out, np.nan)


def fit_to_width(plots, time_range, pixels, min_x_step=1.0):
    """Consolidate each plot so its points are at least min_x_step pixels apart
    (graphite-web's consolidateDataPoints); sets values, values_per_point, x_step."""
    for plot in plots:
        points = time_range / plot.step
        best = pixels / points if points else pixels
        if best < min_x_step:
            drawable = max(int(pixels / min_x_step), 1)
            per_point = math.ceil(points / drawable)
            plot.values = consolidate(plot.raw, per_point, plot.consolidate_func,
                                      plot.x_files_factor)
            plot.values_per_point = per_point
            plot.x_step = pixels * per_point / points
        else:
            plot.values = plot.raw
            plot.values_per_point = 1
            plot.x_step = best


# ---- value ranges -----------------------------------------------------------------

def data_limits(plots, draw_null_as_zero=False, stacked=False):
    """(min, max) of the drawable values, graphite's dataLimits: infinite-drawn
    series are left out, stacked graphs reach the highest column sum, and
    drawNullAsZero pulls the range to zero when there are gaps."""
    finite = [p.values for p in plots if not p.infinite]
    finite = [v[np.isfinite(v)] for v in finite]
    present = [v for v in finite if len(v)]
    if not present:
        return 0.0, 1.0
    low = min(float(v.min()) for v in present)
    missing = any(np.isnan(p.values).any() for p in plots)
    if low > 0 and draw_null_as_zero and missing:
        low = 0.0
    if stacked:
        high = float(np.nanmax(stack_totals([p.values for p in plots if not p.infinite])))
    else:
        high = max(float(v.max()) for v in present)
    if high < 0 and draw_null_as_zero and missing:
        high = 0.0
    return low, high


def positive_limits(plots, stacked, base):
    """(min, max) of the values above zero, for a log axis: values at or below zero
    cannot be drawn there and are left out (graphite-web refuses the whole graph);
    with none above zero the axis shows the decade 1..base."""
    arrays = [p.values for p in plots if not p.infinite]
    values = np.concatenate(arrays) if arrays else np.zeros(0)
    positive = values[np.isfinite(values) & (values > 0)]
    if not len(positive):
        return 1.0, float(base)
    high = float(positive.max())
    if stacked:
        high = max(high, float(np.nanmax(stack_totals(arrays))))
    return float(positive.min()), high


def stack_totals(arrays):
    """Column sums over the common length, NaN counting as nothing."""
    length = min(len(a) for a in arrays)
    block = np.vstack([np.where(np.isfinite(a[:length]), a[:length], 0.0) for a in arrays])
    return block.sum(axis=0) if length else np.zeros(1)


def stack_values(arrays):
    """Cumulative stacking by position, as graphite does it: a gap stays a gap and
    adds nothing to the running total."""
    length = max((len(a) for a in arrays), default=0)
    total = np.zeros(length)
    out = []
    for values in arrays:
        present = np.isfinite(values)
        base = total[:len(values)]
        out.append(np.where(present, values + base, np.nan))
        total[:len(values)] = base + np.where(present, values, 0.0)
    return out


def y_pixels(values, axis, top, bottom):
    """Values -> pixel rows for a y axis drawn between rows `top` and `bottom`; NaN
    stays NaN, and so does a value a log axis cannot show (<= 0)."""
    values = np.asarray(values, dtype=np.float64)
    low, high = axis.low, axis.high
    with np.errstate(invalid="ignore", divide="ignore"):
        if axis.log_base:
            values = np.where(values > 0, values, np.nan)
            relative = np.log(values) - math.log(low)
            span = math.log(high) - math.log(low)
        else:
            relative = values - low
            span = high - low
        span = span if span > 0 else 1.0
        rows = bottom - relative * ((bottom - top) / span)
    # keep far-off points finite and bounded so cairo draws their slopes sanely
    limit = 20.0 * (bottom - top + 1)
    return np.clip(rows, top - limit, bottom + limit)


# ---- legend -----------------------------------------------------------------------

@dataclass(frozen=True)
class LegendItem:
    name: str
    rgba: tuple
    right: bool
    x: float
    y: float


@dataclass(frozen=True)
class Legend:
    items: tuple
    height: float
    box: float
    hidden: int = 0


def legend_entries(plots, unique=False, hide_null=False):
    """(name, rgba, right-side) per plot that gets a legend line."""
    seen = set()
    entries = []
    for plot in plots:
        if not plot.name:
            continue
        if hide_null and not np.isfinite(plot.raw).any():
            continue
        if unique:
            if plot.name in seen:
                continue
            seen.add(plot.name)
        entries.append((plot.name, plot.rgba, plot.second_axis))
    return entries


def layout_legend(entries, measure, line_height, x_min, x_max, width, max_height):
    """Place legend entries in columns as wide as the longest name, left side items
    from the left edge, right-axis items from the right edge. Names longer than the
    graph are cut with an ellipsis; rows that would take more than max_height are
    dropped and counted in `hidden`."""
    box = line_height - 1
    usable = max(x_max - x_min, 1.0)
    room = usable - 2 * (box + LEGEND_PADDING)
    names = [truncate(name, room, measure) for name, _, _ in entries]
    label_width = max(measure(n) for n in names) + 2 * (box + LEGEND_PADDING)
    columns = max(1, int(width // label_width))
    two_sided = any(right for _, _, right in entries)
    if two_sided:
        columns = max(1, columns // 2)
    row_height = line_height + 1
    max_rows = max(1, int((max_height - LEGEND_PADDING) // row_height))
    sides = {False: [], True: []}
    for name, (_, rgba, right) in zip(names, entries):
        sides[right and two_sided].append((name, rgba, right))
    items, rows_used, hidden = [], 0, 0
    for right, group in sides.items():
        for i, (name, rgba, is_right) in enumerate(group):
            row, col = divmod(i, columns)
            if row >= max_rows:
                hidden += 1
                continue
            rows_used = max(rows_used, row + 1)
            offset = col * label_width
            x = (x_max - offset - box) if right else (x_min + offset)
            items.append(LegendItem(name, rgba, right, x, row * row_height))
    height = rows_used * row_height + LEGEND_PADDING + (row_height if hidden else 0)
    return Legend(tuple(items), height, box, hidden)


def truncate(text, room, measure):
    """`text` cut from the end with an ellipsis so that it measures <= room."""
    if measure(text) <= room or len(text) <= 4:
        return text
    low, high = 1, len(text) - 1
    while low < high:  # longest prefix that fits, by bisection
        mid = (low + high + 1) // 2
        if measure(text[:mid] + "…") <= room:
            low = mid
        else:
            high = mid - 1
    return text[:low] + "…"
