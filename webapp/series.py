"""TimeSeries: one named series of float64 values (NaN for gaps) at a fixed step."""
import numpy as np


class TimeSeries:
    """A series as graphite-web's TimeSeries: `start` is the first timestamp, `end` is
    `start + len(values) * step`, `values` a float64 numpy array with NaN for None."""

    __slots__ = ("name", "start", "end", "step", "values", "path_expression", "tags",
                 "consolidate_func", "values_per_point", "x_files_factor", "options")

    def __init__(self, name, start, end, step, values, path_expression=None, tags=None,
                 consolidate_func="average", values_per_point=1, x_files_factor=None,
                 options=None):
        self.name = name
        self.start = int(start)
        self.end = int(end)
        self.step = int(step)
        self.values = np.asarray(values, dtype=np.float64)
        self.path_expression = name if path_expression is None else path_expression
        self.tags = {"name": name} if tags is None else tags
        self.consolidate_func = consolidate_func
        self.values_per_point = values_per_point
        self.x_files_factor = x_files_factor
        self.options = {} if options is None else options

    def __len__(self):
        return len(self.values)

    def __repr__(self):
        return f"TimeSeries({self.name!r}, {self.start}, {self.end}, {self.step}, n={len(self.values)})"
