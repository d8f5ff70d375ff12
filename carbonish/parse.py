"""Pure parsers shared by every receiver: bytes in, a Batch of points and reasons out.

The plaintext fast path splits a whole chunk of lines at once and converts the value and
timestamp columns with numpy; only a chunk that holds a malformed line is walked line by
line, so the reasons name the line. Validation of names, values and times is the
Ingest's (ingest.py), not the parser's.
"""
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


def _tokens_per_line(chunk):
    """Token count of every line of `chunk` (which ends with b'\\n'), vectorised."""
    data = np.frombuffer(chunk, dtype=np.uint8)
    separator = _SEPARATOR[data]
    start = ~separator
    start[1:] &= separator[:-1]
    ends = np.flatnonzero(data == 10)
    counts = np.cumsum(start)[ends]
    counts[1:] -= counts[:-1].copy()
    return counts


def parse_plaintext(chunk):
    """Parse `path value [timestamp]` lines. `chunk` holds whole lines; a last line
    without a newline is parsed too. Blank lines are skipped."""
    if not chunk.endswith(b"\n"):
        chunk += b"\n"
    counts = _tokens_per_line(chunk)
    if len(counts) and counts.min() == 3 and counts.max() == 3:
        tokens = chunk.split()
        try:
            values = np.array(tokens[1::3]).astype(np.float64)
            timestamps = np.array(tokens[2::3]).astype(np.float64)
        except ValueError:
            pass  # a bad number somewhere: the careful path names it
        else:
            names = _decode_names(tokens[0::3])
            if names is not None:
                timestamps[timestamps == -1] = np.nan
                return Batch(names, timestamps, values)
    return _parse_lines(chunk.split(b"\n"))


def _decode_names(raw):
    try:
        return [name.decode("utf-8") for name in raw]
    except UnicodeDecodeError:
        return None


def _parse_lines(lines):
    names, timestamps, values, errors = [], [], [], []
    for line in lines:
        parts = line.split()
        if not parts:
            continue
        point = _parse_fields(parts)
        if isinstance(point, tuple):
            names.append(point[0])
            timestamps.append(point[1])
            values.append(point[2])
        else:
            errors.append(("invalidLines", f"{point}: {line[:200]!r}"))
    return Batch(names, np.array(timestamps, dtype=np.float64),
                 np.array(values, dtype=np.float64), errors)


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
