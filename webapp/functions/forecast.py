"""Forecasting functions (graphite-web's Calculate group): exponentialMovingAverage and the
Holt-Winters family. Their recurrences (each point depends on the previous result) are
inherently sequential, so the core loops run point by point in plain Python floats, which
also keeps every result bit for bit equal to graphite-web's; everything around them is
array code. These are not hot paths (one pass per series)."""
import math
from datetime import timedelta

import numpy as np

from webapp.functions import Param, ParamTypes, function
from webapp.functions.common import derive, reevaluate
from webapp.functions.intervals import parse_interval
from webapp.series import TimeSeries

SERIES_LIST = Param("seriesList", ParamTypes.seriesList, required=True)
WINDOW_SUGGESTIONS = (5, 7, 10, "1min", "5min", "10min", "30min", "1hour")
ALPHA = GAMMA = 0.1
BETA = 0.0035


def _listed(values):
    return [None if value != value else value for value in values.tolist()]


def _array(values):
    return np.array([np.nan if value is None else value for value in values], dtype=np.float64)


def _ema(values, window_points, constant):
    """graphite's exponentialMovingAverage recurrence over one preview series."""
    listed = _listed(values)
    seed = [value for value in listed[:window_points] if value is not None]
    ema = (sum(seed) / len(seed) if seed else 0) or 0
    out = [round(ema, 6)]
    for value in listed[window_points:]:
        if value is None:
            out.append(None)
            continue
        ema = constant * value + (1 - constant) * ema
        out.append(round(ema, 6))
    return _array(out)


@function("exponentialMovingAverage", "Calculate", [
    SERIES_LIST,
    Param("windowSize", ParamTypes.intOrInterval, required=True, suggestions=WINDOW_SUGGESTIONS),
])
def exponentialMovingAverage(ctx, seriesList, windowSize):
    """The exponential moving average of each series with smoothing 2 / (windowSize + 1);
    windowSize is a number of points or an interval. The first value is the average of the
    window before the start. Example: ``exponentialMovingAverage(*.transactions.count,'5min')``."""
    if not seriesList:
        return []
    if isinstance(windowSize, str):
        preview = abs(parse_interval(windowSize))
        constant = 2.0 / (int(preview) + 1)
    else:
        preview = max(series.step for series in seriesList) * int(windowSize)
        constant = 2.0 / (int(windowSize) + 1)
    start = ctx.start_time - timedelta(seconds=preview)
    results = []
    for series in reevaluate(ctx, seriesList, start, ctx.end_time):
        if isinstance(windowSize, str):
            name = f'exponentialMovingAverage({series.name},"{windowSize}")'
            points = preview // series.step
        else:
            name = f"exponentialMovingAverage({series.name},{windowSize})"
            points = int(windowSize)
        results.append(derive(series, name, _ema(series.values, points, constant),
                              {"exponentialMovingAverage": windowSize},
                              start=series.start + preview))
    return results


def holt_winters(values, season_length):
    """graphite's holtWintersAnalysis: (predictions, deviations) arrays."""
    intercepts, slopes, seasonals, predictions, deviations = [], [], [], [], []
    next_pred = None
    for i, actual in enumerate(_listed(values)):
        if actual is None:
            intercepts.append(None)
            slopes.append(0)
            seasonals.append(0)
            predictions.append(next_pred)
            deviations.append(0)
            next_pred = None
            continue
        if i == 0:
            last_intercept, last_slope, prediction = actual, 0, actual
        else:
            last_intercept, last_slope = intercepts[-1], slopes[-1]
            if last_intercept is None:
                last_intercept = actual
            prediction = next_pred
        last_seasonal = seasonals[i - season_length] if i - season_length >= 0 else 0
        next_last_seasonal = seasonals[i + 1 - season_length] if i + 1 - season_length >= 0 else 0
        last_deviation = deviations[i - season_length] if i - season_length >= 0 else 0
        intercept = ALPHA * (actual - last_seasonal) + (1 - ALPHA) * (last_intercept + last_slope)
        slope = BETA * (intercept - last_intercept) + (1 - BETA) * last_slope
        seasonal = GAMMA * (actual - intercept) + (1 - GAMMA) * last_seasonal
        next_pred = intercept + slope + next_last_seasonal
        deviation = GAMMA * math.fabs(actual - (prediction or 0)) + (1 - GAMMA) * last_deviation
        intercepts.append(intercept)
        slopes.append(slope)
        seasonals.append(seasonal)
        predictions.append(prediction)
        deviations.append(deviation)
    return _array(predictions), _array(deviations)


HW_PARAMS = [
    Param("bootstrapInterval", ParamTypes.interval, default="7d", suggestions=("7d", "30d")),
    Param("seasonality", ParamTypes.interval, default="1d", suggestions=("1d", "7d")),
]
DELTA = Param("delta", ParamTypes.integer, default=3)


def _analysed(ctx, series_list, bootstrap, seasonality):
    """(preview series, predictions, deviations, preview seconds) for each series fetched
    again with `bootstrap` of history; predictions/deviations cut to the request period."""
    preview = parse_interval(bootstrap)
    season = parse_interval(seasonality)
    start = ctx.start_time - timedelta(seconds=preview)
    for series in reevaluate(ctx, series_list, start, ctx.end_time):
        predictions, deviations = holt_winters(series.values, season // series.step)
        skip = preview // series.step
        yield series, predictions[skip:], deviations[skip:], preview


@function("holtWintersForecast", "Calculate", [SERIES_LIST] + HW_PARAMS)
def holtWintersForecast(ctx, seriesList, bootstrapInterval="7d", seasonality="1d"):
    """The Holt-Winters forecast of each series, trained on `bootstrapInterval` of history
    before the start with a `seasonality` season."""
    results = []
    for series, predictions, _, preview in _analysed(ctx, seriesList, bootstrapInterval,
                                                    seasonality):
        tags = {**series.tags, "holtWintersForecast": 1, "holtWintersDeviation": 1}
        results.append(TimeSeries(f"holtWintersForecast({series.name})", series.start + preview,
                                  series.end, series.step, predictions, tags=tags,
                                  x_files_factor=series.x_files_factor))
    return results


def _bands(ctx, series_list, delta, bootstrap, seasonality):
    results = []
    for series, predictions, deviations, preview in _analysed(ctx, series_list, bootstrap,
                                                             seasonality):
        width = min(len(predictions), len(deviations))
        spread = delta * deviations[:width]
        tags = {**series.tags, "holtWintersForecast": 1, "holtWintersDeviation": 1,
                "holtWintersConfidenceUpper": 1, "holtWintersConfidenceLower": 1}
        for label, values in (("Lower", predictions[:width] - spread),
                              ("Upper", predictions[:width] + spread)):
            results.append(TimeSeries(
                f"holtWintersConfidence{label}({series.name})", series.start + preview,
                series.end, series.step, values, path_expression=series.path_expression,
                tags=tags, x_files_factor=series.x_files_factor))
    return results


@function("holtWintersConfidenceBands", "Calculate", [SERIES_LIST, DELTA] + HW_PARAMS)
def holtWintersConfidenceBands(ctx, seriesList, delta=3, bootstrapInterval="7d",
                               seasonality="1d"):
    """Upper and lower Holt-Winters confidence bands (forecast +- delta deviations)."""
    return _bands(ctx, seriesList, delta, bootstrapInterval, seasonality)


@function("holtWintersAberration", "Calculate", [SERIES_LIST, DELTA] + HW_PARAMS)
def holtWintersAberration(ctx, seriesList, delta=3, bootstrapInterval="7d", seasonality="1d"):
    """How far each value lies outside its Holt-Winters confidence band (0 inside)."""
    bands = {band.name: band.values for band in
             _bands(ctx, seriesList, delta, bootstrapInterval, seasonality)}
    results = []
    for series in seriesList:
        lower = bands.get(f"holtWintersConfidenceLower({series.name})")
        upper = bands.get(f"holtWintersConfidenceUpper({series.name})")
        if lower is None or upper is None:
            continue
        width = min(len(series), len(lower), len(upper))
        values = series.values[:width]
        with np.errstate(invalid="ignore"):
            above = np.where(values > upper[:width], values - upper[:width], np.nan)
            below = np.where(values < lower[:width], values - lower[:width], np.nan)
        aberration = np.where(np.isnan(above), np.where(np.isnan(below), 0.0, below), above)
        results.append(TimeSeries(f"holtWintersAberration({series.name})", series.start,
                                  series.end, series.step, aberration,
                                  tags={**series.tags, "holtWintersAberration": 1},
                                  x_files_factor=series.x_files_factor))
    return results


@function("holtWintersConfidenceArea", "Calculate", [SERIES_LIST, DELTA] + HW_PARAMS)
def holtWintersConfidenceArea(ctx, seriesList, delta=3, bootstrapInterval="7d",
                              seasonality="1d"):
    """The area between the Holt-Winters confidence bands, for drawing."""
    results = []
    for band in ctx.registry.call("areaBetween", ctx, [
            _bands(ctx, seriesList, delta, bootstrapInterval, seasonality)], {}):
        name = band.name.replace("areaBetween", "holtWintersConfidenceArea")
        tags = {k: v for k, v in band.tags.items() if k != "areaBetween"}
        tags["holtWintersConfidenceArea"] = 1
        result = derive(band, name, None, tags)
        result.tags = {k: str(v) for k, v in tags.items()}
        results.append(result)
    return results
