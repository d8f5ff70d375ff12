"""csv: `name,YYYY-MM-DD HH:MM:SS,value` per point (excel dialect, CRLF), times in
the request's time zone, an empty field for a gap (graphite-web writes None as '')."""
import csv
import io
from datetime import datetime

import numpy as np

CSV = "text/csv"


def render_csv(series_list, options):
    out = io.StringIO()
    writer = csv.writer(out, dialect="excel")
    for series in series_list:
        values = series.values.tolist()
        for index in np.flatnonzero(np.isnan(series.values)).tolist():
            values[index] = None
        for index, value in enumerate(values):
            when = datetime.fromtimestamp(series.start + index * series.step, options.tz)
            writer.writerow((series.name, when.strftime("%Y-%m-%d %H:%M:%S"), value))
    return out.getvalue().encode(), CSV
