"""Pure parsers shared by every receiver: bytes in, a Batch of points and reasons out.

The plaintext fast path splits a whole chunk of lines at once and converts the value and
timestamp columns with numpy; only a chunk that holds a malformed line is walked line by
line, so the reasons name the line. Validation of names, values and times is the
Ingest's (ingest.py), not the parser's.
"""
import json
import math
from dataclasses import dataclass, field

import numpy as np

_SPACE = np.zeros(256, dtype=bool)
_SPACE[[9, 11, 12, 13, 32]] = True  # what bytes.split() splits on, but \n
_SEPARATOR = _SPACE.copy()
_SEPARATOR[10] = True


@dataclass
class Batch:
    """Parallel columns: names (list of str), timestamps and values (float64 arrays).
    A timestamp of NaN means 'now' (missing, or -1 as carbon takes it)."""

    names: list
    timestamps: np.ndarray
    values: np.ndarray
    errors: list = field(default_factory=list)  # (kind, message)

    def __len__(self):
        return len(self.names)

    @classmethod
    def empty(cls, errors=()):
        return cls([], np.empty(0), np.empty(0), list(errors))


# Below this many lines the per-line path is faster than the vectorised one (~0.2 ms of
# fixed numpy cost against ~1 µs a line); counted in the first SMALL_CHUNK_BYTES only.
SMALL_CHUNK_LINES = 128
SMALL_CHUNK_BYTES = 64 * 1024


def _tokens(data):
    """Start and end (exclusive) offsets of every token, and the token count of every
    line, of `data` (a uint8 array ending with a newline), vectorised."""
    separator = _SEPARATOR[data]
    start = ~separator
    start[1:] &= separator[:-1]
    stop = ~separator
    stop[:-1] &= separator[1:]
    newlines = np.flatnonzero(data == 10)
    counts = np.cumsum(start)[newlines]
    counts[1:] -= counts[:-1].copy()
    return np.flatnonzero(start), np.flatnonzero(stop) + 1, counts


def parse_plaintext(chunk, vectorise_from=SMALL_CHUNK_LINES):
    """Parse `path value [timestamp]` lines. `chunk` holds whole lines; a last line
    without a newline is parsed too. Blank lines are skipped. Chunks of fewer than
    `vectorise_from` lines take the per-line path."""
    if not chunk.endswith(b"\n"):
        chunk += b"\n"
    if chunk.count(b"\n", 0, SMALL_CHUNK_BYTES) < vectorise_from:
        return _parse_lines(chunk.split(b"\n"))  # numpy's fixed cost outweighs a few lines
    data = np.frombuffer(chunk, dtype=np.uint8)
    starts, stops, counts = _tokens(data)
    if len(starts) and np.all((counts == 3) | (counts == 0)):
        batch = _parse_columns(chunk, data, starts.reshape(-1, 3), stops.reshape(-1, 3))
        if batch is not None:
            return batch
    return _parse_lines(chunk.split(b"\n"))


def _parse_columns(chunk, data, starts, stops):
    """The fast path: every line has three tokens. None when a name is not UTF-8 or a
    number does not parse (the careful path then names the line)."""
    values = parse_numbers(chunk, data, starts[:, 1], stops[:, 1])
    timestamps = parse_numbers(chunk, data, starts[:, 2], stops[:, 2])
    if values is None or timestamps is None:
        return None
    names = _names(data, starts[:, 0], stops[:, 0])
    if names is None:
        return None
    timestamps[timestamps == -1] = np.nan
    return Batch(names, timestamps, values)


def _names(data, starts, stops):
    """The name tokens, decoded in one go: their bytes, each followed by a newline,
    gathered by a mask and split once (one decode for the chunk, not one a name)."""
    marks = np.zeros(len(data), dtype=np.int8)
    marks[starts] = 1
    marks[stops] = -1
    keep = np.cumsum(marks) > 0
    keep[stops] = True  # the separator after each name, made a newline
    gathered = data.copy()
    gathered[stops] = 10
    try:
        text = gathered[keep].tobytes().decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text.split("\n")[:-1]


_POWERS = 10.0 ** np.arange(22)
_MAX_DIGITS = 15  # a mantissa of 15 digits is exact in a float64
_WIDTH = 18  # plain decimals up to this many characters take the vectorised path
_DIGIT_WEIGHTS = 10 ** np.arange(_WIDTH - 1, -1, -1, dtype=np.int64)
_NOT_PLAIN = np.ones(256, dtype=bool)  # anything but digits, '.' and the padding NUL
_NOT_PLAIN[48:58] = False
_NOT_PLAIN[[0, 46]] = False


def parse_numbers(chunk, data, starts, stops):
    """float(token) for every token [start, stop) of `chunk`, vectorised for plain
    decimals (`-12`, `3.25`, `.5`, `7.`); any other spelling (exponents, inf, long
    mantissas) goes through float() itself. None when a token is not a number.

    Tokens are gathered right-aligned into a matrix, so a digit's weight depends only on
    its column: the mantissa is one integer matrix product. A plain decimal of at most
    15 digits is that exact mantissa over an exact power of ten: one correctly rounded
    division, the same double float() gives.
    """
    lengths = stops - starts
    width = min(int(lengths.max()), _WIDTH)
    short = lengths <= width
    columns = np.arange(-width, 0)
    index = stops[:, None] + columns
    chars = np.where(columns >= -lengths[:, None], data[np.maximum(index, 0)], 0)
    rows = np.arange(len(starts))
    first = np.clip(width - lengths, 0, width - 1)
    negative = chars[rows, first] == 45
    chars[rows[negative], first[negative]] = 48  # the sign becomes a leading zero
    dots = chars == 46
    ndots = dots.sum(axis=1)
    ndigits = lengths - ndots - negative
    plain = (short & ~_NOT_PLAIN[chars].any(axis=1) & (ndots <= 1)
             & (ndigits >= 1) & (ndigits <= _MAX_DIGITS))
    digits = np.where(chars >= 48, chars - 48, 0).astype(np.int64)
    spread = digits @ _DIGIT_WEIGHTS[-width:]  # the dot column counts as a digit 0
    fraction = dots @ np.arange(width - 1, -1, -1)  # characters right of the dot
    low = spread % (10 ** fraction)
    mantissa = np.where(ndots > 0, (spread - low) // 10 + low, spread)
    result = mantissa / _POWERS[fraction]
    result[negative] *= -1
    if not plain.all():
        rest = _floats(chunk, starts, stops, ~plain)
        if rest is None:
            return None
        result[~plain] = rest[~plain]
    return result


def _floats(chunk, starts, stops, which):
    out = np.empty(len(starts))
    for i in np.flatnonzero(which):
        try:
            out[i] = float(chunk[starts[i]:stops[i]])
        except ValueError:
            return None
    return out


def _parse_lines(lines):
    """The careful path: line by line, each bad line a reason naming it."""
    rows = [(line.split(), line) for line in lines]
    return _parse_rows([(fields, line) for fields, line in rows if fields])


def _parse_fields(parts):
    """(name, timestamp, value) or a reason string."""
    if len(parts) not in (2, 3):
        return f"expected 'path value [timestamp]', got {len(parts)} fields"
    try:
        name = parts[0].decode("utf-8")
    except UnicodeDecodeError:
        return "metric name is not UTF-8"
    try:
        value = float(parts[1])
    except ValueError:
        return "value is not a number"
    if len(parts) == 2:
        return name, math.nan, value
    try:
        timestamp = float(parts[2])
    except ValueError:
        return "timestamp is not a number"
    return name, (math.nan if timestamp == -1 else timestamp), value


def points_to_batch(rows):
    """[(name, (timestamp, value)), ...] as Graphite's pickle carries them -> Batch.
    Each row is checked for shape; bad rows become reasons."""
    names, timestamps, values, errors = [], [], [], []
    for row in rows:
        try:
            name, (timestamp, value) = row
            timestamp, value = float(timestamp), float(value)
        except (TypeError, ValueError):
            errors.append(("invalidLines", f"expected (path, (timestamp, value)), got {row!r:.200}"))
            continue
        if isinstance(name, bytes):
            try:
                name = name.decode("utf-8")
            except UnicodeDecodeError:
                errors.append(("invalidLines", f"metric name is not UTF-8: {name!r:.200}"))
                continue
        names.append(name)
        timestamps.append(math.nan if timestamp == -1 else timestamp)
        values.append(value)
    return Batch(names, np.array(timestamps, dtype=np.float64),
                 np.array(values, dtype=np.float64), errors)


def parse_csv(data):
    """`path,value[,timestamp]` per line; an optional header row naming the columns
    (path, value, timestamp in any order)."""
    lines = data.split(b"\n")
    columns = (0, 1, 2)
    first = lines[0].strip().lower().split(b",") if lines else []
    if first and first[0].strip() in (b"path", b"value", b"timestamp", b"name", b"metric"):
        header = [field.strip() for field in first]
        columns = tuple(header.index(key) if key in header else None
                        for key in (b"path", b"value", b"timestamp"))
        if columns[0] is None or columns[1] is None:
            return Batch.empty([("invalidLines", "CSV header needs 'path' and 'value' columns")])
        lines = lines[1:]
    rows = [(_csv_fields(line, columns), line) for line in lines if line.strip()]
    return _parse_rows(rows)


def _csv_fields(line, columns):
    """[path, value(, timestamp)] of a CSV line in plaintext's field order, or None."""
    fields = [field.strip() for field in line.strip().split(b",")]
    if len(fields) not in (2, 3) or len(fields) <= max(columns[0], columns[1]):
        return None
    row = [fields[columns[0]], fields[columns[1]]]
    if columns[2] is not None and columns[2] < len(fields) and fields[columns[2]]:
        row.append(fields[columns[2]])
    return row


def _parse_rows(rows):
    """[(fields or None, line), ...] -> Batch; None fields mean a malformed line."""
    names, timestamps, values, errors = [], [], [], []
    for fields, line in rows:
        point = _parse_fields(fields) if fields is not None else "expected 'path,value[,timestamp]'"
        if isinstance(point, tuple):
            names.append(point[0])
            timestamps.append(point[1])
            values.append(point[2])
        else:
            errors.append(("invalidLines", f"{point}: {line[:200]!r}"))
    return Batch(names, np.array(timestamps, dtype=np.float64),
                 np.array(values, dtype=np.float64), errors)


def parse_json(data):
    """{"path", "value", "timestamp"?}, a list of them, or {"path", "points": [[ts, v], ...]}
    (also inside a list)."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        return Batch.empty([("invalidLines", f"not JSON: {exc}")])
    items = document if isinstance(document, list) else [document]
    rows, errors = [], []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            errors.append(("invalidLines", f"expected an object with a 'path' string, got {item!r:.200}"))
        elif "points" in item:
            points = item["points"]
            if not isinstance(points, list):
                errors.append(("invalidLines", f"{item['path']}: 'points' is not a list"))
                continue
            rows.extend((item["path"], point) for point in points)
        elif "value" in item:
            rows.append((item["path"], (item.get("timestamp", -1), item["value"])))
        else:
            errors.append(("invalidLines", f"{item['path']}: no 'value' or 'points'"))
    batch = points_to_batch(_json_numbers(rows))
    batch.errors[:0] = errors
    return batch


def _json_numbers(rows):
    """JSON booleans and strings are not numbers here (float() would take them)."""
    for name, point in rows:
        if (isinstance(point, (list, tuple)) and len(point) == 2
                and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in point)):
            yield name, point
        else:
            yield name, None


ENCODINGS = {"plain": parse_plaintext, "csv": parse_csv, "json": parse_json}


def parse_encoded(encoding, data):
    """Parse `data` in one of ENCODINGS (KeyError for an unknown one)."""
    return ENCODINGS[encoding](data)
