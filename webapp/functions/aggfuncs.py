"""graphite-web's aggregation functions (functions/aggfuncs.py, functions/safe.py) over the
columns of a matrix: rows are the values being aggregated (series, or the points of a bucket
or window), NaN is None. Sums add rows in order, as Python's sum() does, so results match
graphite-web bit for bit."""
import numpy as np

from webapp.functions import AGG_FUNC_ALIASES, AGG_FUNCS, InvalidParameter
from webapp.series import _sequential_sum


def resolve(func, caller="aggregate", allow_series_suffix=True):
    """The canonical aggregation name for `func` (aliases allowed, and a trailing 'Series'
    as graphite's aggregate() strips it); InvalidParameter otherwise."""
    name = func
    if allow_series_suffix and isinstance(func, str) and func.endswith("Series"):
        name = func[:-6]
    name = AGG_FUNC_ALIASES.get(name, name)
    if name not in AGG_FUNCS:
        raise InvalidParameter(caller, f"Unsupported aggregation function: {func}", "func")
    return name


def _zeroed(matrix, valid):
    return np.where(valid, matrix, 0.0)


def _first_mask(valid):
    return valid & (np.cumsum(valid, axis=0) == 1)


def _median(matrix, count):
    ordered = np.sort(matrix, axis=0)  # NaN sorts last
    columns = np.arange(matrix.shape[1])
    high = np.clip(count // 2, 0, max(matrix.shape[0] - 1, 0))
    low = np.clip(count // 2 - 1, 0, max(matrix.shape[0] - 1, 0))
    upper = ordered[high, columns]
    even = (upper + ordered[low, columns]) / 2
    return np.where(count % 2 == 0, even, upper)


def _stddev(matrix, valid, count):
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = _sequential_sum(_zeroed(matrix, valid)) / count
        deviation = matrix - mean
        return np.sqrt(_sequential_sum(_zeroed(deviation * deviation, valid)) / count)


def _last(matrix, valid):
    index = matrix.shape[0] - 1 - np.argmax(valid[::-1], axis=0)
    return matrix[index, np.arange(matrix.shape[1])]


def reduce_columns(matrix, func, present=None):
    """One graphite aggregation (canonical name) of each column of `matrix`.

    `present` marks the slots that exist (default: all); absent slots differ from None only
    for avg_zero (not counted) and multiply (a None present makes the product None)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.shape[0] == 0:
        return np.full(matrix.shape[1], np.nan)
    valid = ~np.isnan(matrix)
    count = valid.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        if func == "sum":
            result = _sequential_sum(_zeroed(matrix, valid))
        elif func == "average":
            result = _sequential_sum(_zeroed(matrix, valid)) / count
        elif func == "avg_zero":
            slots = matrix.shape[0] if present is None else present.sum(axis=0)
            result = _sequential_sum(_zeroed(matrix, valid)) / slots
        elif func == "median":
            result = _median(matrix, count)
        elif func == "min":
            result = np.fmin.reduce(matrix, axis=0)
        elif func == "max":
            result = np.fmax.reduce(matrix, axis=0)
        elif func == "diff":
            signed = np.where(_first_mask(valid), matrix, -matrix)
            result = _sequential_sum(_zeroed(signed, valid))
        elif func == "stddev":
            result = _stddev(matrix, valid, count)
        elif func == "count":
            result = count.astype(np.float64)
        elif func == "range":
            result = np.fmax.reduce(matrix, axis=0) - np.fmin.reduce(matrix, axis=0)
        elif func == "multiply":
            filled = matrix if present is None else np.where(present, matrix, 1.0)
            result = np.multiply.reduce(filled, axis=0)
        elif func == "last":
            result = _last(matrix, valid)
        else:
            raise InvalidParameter("aggregate", f"Unsupported aggregation function: {func}",
                                   "func")
    return np.where(count > 0, result, np.nan)


def xff_mask(non_null, total, x_files_factor):
    """graphite's xff(): a non-null share of at least xFilesFactor (default 0), and some."""
    total = np.asarray(total, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = non_null / total
    return (non_null > 0) & (total > 0) & (share >= (x_files_factor or 0.0))


def aggregate_columns(matrix, func, x_files_factor=None):
    """graphite's `consolidationFunc(row) if xffValues(row, xff) else None` for each column."""
    matrix = np.asarray(matrix, dtype=np.float64)
    non_null = (~np.isnan(matrix)).sum(axis=0)
    result = reduce_columns(matrix, func)
    return np.where(xff_mask(non_null, matrix.shape[0], x_files_factor), result, np.nan)


def bucket_matrix(buckets, values, bucket_count):
    """Values grouped by their bucket number (non-decreasing) into a (rows, bucket_count)
    matrix, in order, NaN-padded; with a mask of the slots that hold a value (present)."""
    buckets = np.asarray(buckets, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    if not len(buckets):
        return np.full((0, bucket_count), np.nan), np.zeros((0, bucket_count), dtype=bool)
    rank = np.arange(len(buckets)) - np.searchsorted(buckets, buckets, side="left")
    rows = int(rank.max()) + 1
    matrix = np.full((rows, bucket_count), np.nan)
    present = np.zeros((rows, bucket_count), dtype=bool)
    matrix[rank, buckets] = values
    present[rank, buckets] = True
    return matrix, present
