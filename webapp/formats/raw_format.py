"""raw: `name,start,end,step|v1,v2,...` one line per series; gaps are `None`, values
as Python's repr of a float (graphite-web's `','.join(map(repr, series))`)."""
import numpy as np

TEXT = "text/plain"


def render_raw(series_list, options):
    lines = []
    for series in series_list:
        values = list(map(repr, series.values.tolist()))
        for index in np.flatnonzero(np.isnan(series.values)).tolist():
            values[index] = "None"
        lines.append(f"{series.name},{series.start},{series.end},{series.step}|"
                     + ",".join(values) + "\n")
    return "".join(lines).encode(), TEXT
