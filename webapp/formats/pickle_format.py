"""pickle: graphite-web's cluster format, a list of plain dicts (series.getInfo()):
name, start, end, step, values (None for gaps), pathExpression, valuesPerPoint,
consolidationFunc, xFilesFactor. Only builtin types, so any restricted unpickler
(graphite-web's, carbonish.safe_pickle) reads it."""
import pickle

import numpy as np

PICKLE = "application/pickle"


def series_info(series):
    values = series.values.tolist()
    for index in np.flatnonzero(np.isnan(series.values)).tolist():
        values[index] = None
    return {
        "name": str(series.name),
        "start": int(series.start),
        "end": int(series.end),
        "step": int(series.step),
        "values": values,
        "pathExpression": str(series.path_expression),
        "valuesPerPoint": int(series.values_per_point),
        "consolidationFunc": str(series.consolidate_func),
        "xFilesFactor": float(series.x_files_factor or 0.0),
    }


def render_pickle(series_list, options):
    return pickle.dumps([series_info(s) for s in series_list], protocol=2), PICKLE
