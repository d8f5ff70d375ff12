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


def _stream_sum(rows, width):
    total = np.zeros(width)
    count = np.zeros(width)
    for row in rows:
        part = slice(0, len(row))
        valid = ~np.isnan(row)
        if valid.all():  # no gap: a plain add, the same sums in a third less time
            total[part] += row
            count[part] += 1.0
        else:
            np.add(total[part], row, out=total[part], where=valid)
            count[part] += valid
    return total, count


def _stream_diff(rows, width):
    total = np.zeros(width)
    seen = np.zeros(width, dtype=bool)
    for row in rows:
        part = slice(0, len(row))
        valid = ~np.isnan(row)
        np.add(total[part], row, out=total[part], where=valid & ~seen[part])
        np.subtract(total[part], row, out=total[part], where=valid & seen[part])
        seen[part] |= valid
    return total


def _stream_extreme(rows, width, pick):
    result = np.full(width, np.nan)
    for row in rows:
        pick(result[:len(row)], row, out=result[:len(row)])
    return result


def _stream_last(rows, width):
    result = np.full(width, np.nan)
    for row in rows:
        np.copyto(result[:len(row)], row, where=~np.isnan(row))
    return result


def _stream_product(rows, width):
    result = np.ones(width)
    for row in rows:
        result[:len(row)] *= row
        result[len(row):] = np.nan  # graphite pads short series with None
    return result


def _stream_stddev(rows, width):
    total, count = _stream_sum(rows, width)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        squares, _ = _stream_sum([(row - mean[:len(row)]) ** 2 for row in rows], width)
        return np.sqrt(squares / count)


def aggregate_rows(rows, func, x_files_factor=None):
    """graphite's aggregate() core: `consolidationFunc(row) if xffValues(row, xff) else None`
    for each point over a list of value arrays (the series; shorter ones padded with None),
    streaming one series at a time in order (sums bit for bit as graphite's)."""
    width = max((len(row) for row in rows), default=0)
    total, count = _stream_sum(rows, width)
    with np.errstate(invalid="ignore", divide="ignore"):
        if func == "sum":
            result = total
        elif func == "average":
            result = total / count
        elif func == "avg_zero":
            result = total / len(rows)
        elif func == "count":
            result = count.copy()
        elif func == "min":
            result = _stream_extreme(rows, width, np.fmin)
        elif func == "max":
            result = _stream_extreme(rows, width, np.fmax)
        elif func == "range":
            result = _stream_extreme(rows, width, np.fmax) - _stream_extreme(rows, width, np.fmin)
        elif func == "last":
            result = _stream_last(rows, width)
        elif func == "diff":
            result = _stream_diff(rows, width)
        elif func == "multiply":
            result = _stream_product(rows, width)
        elif func == "stddev":
            result = _stream_stddev(rows, width)
        else:
            from webapp.series import stack_values
            return aggregate_columns(stack_values(rows, width), func, x_files_factor)
    keep = xff_mask(count, len(rows), x_files_factor)
    return np.where(keep, result, np.nan)


def reduce_vector(values, func):
    """One graphite aggregation of a whole series (None if it has none), as graphite-web's
    aggFuncs called on the series: avg_zero and count of an all-None series are 0."""
    values = np.asarray(values, dtype=np.float64)
    valid = ~np.isnan(values)
    if func == "count":
        return float(np.count_nonzero(valid))
    if func == "avg_zero":
        if not len(values):
            return None
        return float(np.cumsum(np.where(valid, values, 0.0))[-1] / len(values))
    if not valid.any():
        return None
    if func == "multiply" and not valid.all():
        return None
    present = values[valid]
    if func in ("sum", "average"):
        total = float(np.cumsum(present)[-1])
        return total if func == "sum" else total / len(present)
    result = reduce_columns(present[:, None], func)[0]
    return None if np.isnan(result) else float(result)
