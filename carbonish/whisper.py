"""The Whisper 1.1 file format: a drop-in for the `whisper` 1.1.10 module, on numpy.

File layout (all integers and floats big-endian, no padding):

    File        = Header, Data
    Header      = Metadata, ArchiveInfo{archiveCount}
    Metadata    = aggregationType (uint32), maxRetention (uint32),
                  xFilesFactor (float32), archiveCount (uint32)          -> metadataFormat
    ArchiveInfo = offset (uint32), secondsPerPoint (uint32), points (uint32)
                                                                         -> archiveInfoFormat
    Data        = Archive{archiveCount}, each at its `offset`, highest precision first
    Archive     = Point{points}, a ring: a slot's position is its timestamp's distance
                  (in steps, modulo `points`) from the archive's first slot ("base")
    Point       = timestamp (uint32), value (float64)                    -> pointFormat

    +----------+---------------+---------------+-----------------------+------------
    | Metadata | ArchiveInfo 0 | ArchiveInfo 1 | Archive 0 points ...  | Archive 1 ...
    +----------+---------------+---------------+-----------------------+------------
    0          16              28              40

A slot whose timestamp is not the one expected at its position holds no value
(a gap); an archive whose first slot has timestamp 0 has never been written.

The public names, signatures, defaults and exceptions are whisper 1.1.10's, so
carbon, graphite-web and users' scripts run on this module unchanged. The module
settings (LOCK, AUTOFLUSH, FADVISE_RANDOM, CACHE_HEADERS) are only read, at call
time, as the defaults of keyword arguments (lock=, autoflush=, fadvise_random=).
carbonish itself uses the array entry points: fetch_array, file_fetch_array and
update_many_arrays.

Where this module knowingly differs from whisper 1.1.10:
- Stricter checks: validateArchiveList rejects non-positive or fractional steps and
  point counts; create checks the method and xFilesFactor before making the file
  (whisper leaves an empty file behind); reading a header checks the archive count,
  zero steps or sizes and offsets against the file size (CorruptWhisperFile).
- info() adds 'fileSize'. CACHE_HEADERS is accepted and ignored; enableDebug and
  disableDebug do nothing.
- One update_many batch whose run of adjacent slots is longer than the archive (only
  future points can make one) wraps round the ring, later points winning; whisper
  writes such a run past the archive's end.
- file_update_many accepts points in any order (whisper expects newest first).
- An update touching many scattered slots rewrites the stretch of the ring between
  them in one read and one write; two writers on one file must then lock (lock=True),
  as carbon's single writer per file never needs to.
Aggregates are bit-identical to whisper's under the running interpreter, whose sum()
became compensated in CPython 3.12.
"""
import fcntl
import operator
import os
import re
import struct
import sys
import time
from itertools import chain, starmap
from types import MappingProxyType

import numpy as np

# --- Module settings (whisper's names; read at call time as keyword defaults) ----
LOCK = False
AUTOFLUSH = False
CACHE_HEADERS = False   # accepted for compatibility; headers are always read afresh
FADVISE_RANDOM = False
BUFFERING = 0

# carbon.conf [cache] settings -> the keyword arguments of create/update_many that
# carry them (create takes sparse/useFallocate; every writer takes lock/autoflush).
CARBON_SETTING_KEYWORDS = MappingProxyType({
    "WHISPER_LOCK_WRITES": "lock",
    "WHISPER_AUTOFLUSH": "autoflush",
    "WHISPER_FADVISE_RANDOM": "fadvise_random",
    "WHISPER_SPARSE_CREATE": "sparse",
    "WHISPER_FALLOCATE_CREATE": "useFallocate",
})

CAN_LOCK = True
CAN_FALLOCATE = hasattr(os, "posix_fallocate")
CAN_FADVISE = hasattr(os, "posix_fadvise")

# --- Layout facts (each written once) ---------------------------------------------
longFormat = "!L"
longSize = struct.calcsize(longFormat)
floatFormat = "!f"
floatSize = struct.calcsize(floatFormat)
valueFormat = "!d"
valueSize = struct.calcsize(valueFormat)
pointFormat = "!Ld"
pointSize = struct.calcsize(pointFormat)
metadataFormat = "!2LfL"
metadataSize = struct.calcsize(metadataFormat)
archiveInfoFormat = "!3L"
archiveInfoSize = struct.calcsize(archiveInfoFormat)

POINT_DTYPE = np.dtype([("t", ">u4"), ("v", ">f8")])
assert POINT_DTYPE.itemsize == pointSize
MAX_TIMESTAMP = 2 ** (8 * longSize) - 1
# Header bytes read in one go: metadata, four archive infos and archive 0's first
# point (its base) when the file has at most four archives.
_HEAD_READ = metadataSize + 4 * archiveInfoSize + pointSize
# An update touching more separate runs of slots than this rewrites the span instead.
_MAX_SCATTER_WRITES = 8
# Up to this many points an update runs in plain Python (whisper's own algorithm over
# pread/pwrite): numpy's fixed cost per call only pays off on larger batches.
_SMALL_BATCH = 64
_POINT = struct.Struct(pointFormat)
_FIRST, _SECOND = operator.itemgetter(0), operator.itemgetter(1)
# The small update path reads the windows of two lower intervals whose higher-archive
# slots are at most this many slots apart in one pread, the slots between included.
_READ_GAP = 256
# Up to this many points a fetch decodes with struct rather than numpy.
_SMALL_FETCH = 64
# CPython 3.12 made sum() of floats compensated (Neumaier); aggregate() uses sum().
_COMPENSATED_SUM = sys.version_info >= (3, 12)

aggregationTypeToMethod = MappingProxyType({
    1: "average",
    2: "sum",
    3: "last",
    4: "max",
    5: "min",
    6: "avg_zero",
    7: "absmax",
    8: "absmin",
})
aggregationMethodToType = MappingProxyType(
    {method: type_ for type_, method in aggregationTypeToMethod.items()})
aggregationMethods = tuple(aggregationTypeToMethod.values())

UnitMultipliers = MappingProxyType({
    "seconds": 1,
    "minutes": 60,
    "hours": 3600,
    "days": 86400,
    "weeks": 86400 * 7,
    "years": 86400 * 365,
})
_UNIT_RE = re.compile(r"^(\d+)([a-z]+)$")


# --- Exceptions ---------------------------------------------------------------------
class WhisperException(Exception):
    """Base class for whisper exceptions."""


class InvalidConfiguration(WhisperException):
    """Invalid configuration."""


class InvalidAggregationMethod(WhisperException):
    """Invalid aggregation method."""


class InvalidTimeInterval(WhisperException):
    """Invalid time interval."""


class InvalidXFilesFactor(WhisperException):
    """Invalid xFilesFactor."""


class TimestampNotCovered(WhisperException):
    """Timestamp not covered by any archives in this database."""


class CorruptWhisperFile(WhisperException):
    """A file whose content is not a valid whisper file; `error` says what is wrong."""

    def __init__(self, error, path):
        Exception.__init__(self, error)
        self.error = error
        self.path = path

    def __repr__(self):
        return "<CorruptWhisperFile[%s] %s>" % (self.path, self.error)

    def __str__(self):
        return "%s (%s)" % (self.error, self.path)


def fallocate(fd, offset, len_):
    """Reserve len_ bytes from `offset` of the open file object `fd` (whisper's helper,
    whisper's parameter names)."""
    os.posix_fallocate(fd.fileno(), offset, len_)


def debug(*args, **kwargs):
    """Accepted for compatibility, as are startBlock and endBlock: no tracing."""


startBlock = endBlock = debug


def enableDebug():
    """Accepted for compatibility; carbonish does not trace I/O to stdout."""


def disableDebug():
    """Accepted for compatibility; see enableDebug."""


# --- Retention definitions -------------------------------------------------------------
def getUnitString(s):
    for value in ("seconds", "minutes", "hours", "days", "weeks", "years"):
        if value.startswith(s):
            return value
    raise ValueError("Invalid unit '%s'" % s)


def parseRetentionDef(retentionDef):
    """'10s:1d' -> (10, 8640): (secondsPerPoint, points)."""
    try:
        precision, points = retentionDef.strip().split(":", 1)
    except ValueError:
        raise ValueError("Invalid retention definition '%s'" % retentionDef)
    if precision.isdigit():
        precision = int(precision)
    else:
        match = _UNIT_RE.match(precision)
        if not match:
            raise ValueError("Invalid precision specification '%s'" % precision)
        precision = int(match.group(1)) * UnitMultipliers[getUnitString(match.group(2))]
    if points.isdigit():
        points = int(points)
    else:
        match = _UNIT_RE.match(points)
        if not match:
            raise ValueError("Invalid retention specification '%s'" % points)
        points = int(match.group(1)) * UnitMultipliers[getUnitString(match.group(2))] // precision
    return (precision, points)


def validateArchiveList(archiveList):
    """Raise InvalidConfiguration unless archiveList [(secondsPerPoint, points), ...] is
    usable: at least one archive, positive sizes, distinct precisions each dividing the
    next, growing retentions, and enough points to consolidate into the next archive.
    Like whisper, a list argument is sorted in place by precision."""
    if not archiveList:
        raise InvalidConfiguration("You must specify at least one archive configuration!")
    if isinstance(archiveList, list):
        archiveList.sort(key=lambda a: a[0])
    else:
        archiveList = sorted(archiveList, key=lambda a: a[0])
    for i, (step, points) in enumerate(archiveList):
        if step <= 0 or points <= 0 or step != int(step) or points != int(points):
            raise InvalidConfiguration(
                "Archive seconds per point and points must be positive integers "
                "(archive%d: %s)" % (i, (step, points)))
    for i, archive in enumerate(archiveList[:-1]):
        _validate_archive_pair(i, archive, archiveList[i + 1])


def _validate_archive_pair(i, archive, nextArchive):
    if not archive[0] < nextArchive[0]:
        raise InvalidConfiguration(
            "A Whisper database may not be configured having two archives with the "
            "same precision (archive%d: %s, archive%d: %s)" % (i, archive, i + 1, nextArchive))
    if nextArchive[0] % archive[0] != 0:
        raise InvalidConfiguration(
            "Higher precision archives' precision must evenly divide all lower precision "
            "archives' precision (archive%d: %s, archive%d: %s)"
            % (i, archive[0], i + 1, nextArchive[0]))
    retention = archive[0] * archive[1]
    nextRetention = nextArchive[0] * nextArchive[1]
    if not nextRetention > retention:
        raise InvalidConfiguration(
            "Lower precision archives must cover larger time intervals than higher "
            "precision archives (archive%d: %s seconds, archive%d: %s seconds)"
            % (i, retention, i + 1, nextRetention))
    pointsPerConsolidation = nextArchive[0] // archive[0]
    if not archive[1] >= pointsPerConsolidation:
        raise InvalidConfiguration(
            "Each archive must have at least enough points to consolidate to the next "
            "archive (archive%d consolidates %d of archive%d's points but it has only %d "
            "total points)" % (i + 1, pointsPerConsolidation, i, archive[1]))


# --- Header ----------------------------------------------------------------------------
class _Archive:
    """One archive's table entry."""

    __slots__ = ("offset", "step", "points", "retention", "size")

    def __init__(self, offset, step, points):
        self.offset = offset
        self.step = step
        self.points = points
        self.retention = step * points
        self.size = points * pointSize

    def as_dict(self):
        return {"offset": self.offset, "secondsPerPoint": self.step, "points": self.points,
                "retention": self.retention, "size": self.size}


class _Header:
    """A parsed, checked header. `head` holds the first bytes of the file as read
    (with archive 0's base point, for a fetch); writes cut it back to the header."""

    __slots__ = ("name", "method", "max_retention", "xff", "archives", "file_size", "head")

    def __init__(self, name, method, max_retention, xff, archives, file_size, head):
        self.name = name
        self.method = method
        self.max_retention = max_retention
        self.xff = xff
        self.archives = archives
        self.file_size = file_size
        self.head = head

    def as_dict(self):
        return {"aggregationMethod": self.method, "maxRetention": self.max_retention,
                "xFilesFactor": self.xff, "archives": [a.as_dict() for a in self.archives],
                "fileSize": self.file_size}     # last, where whisper-info.py puts it


def _read_header(fd, name):
    """Parse and check the header of the open file `fd`; CorruptWhisperFile if bad."""
    file_size = os.fstat(fd).st_size
    head = os.pread(fd, _HEAD_READ, 0)
    if len(head) < metadataSize:
        raise CorruptWhisperFile(
            "Unable to read header: file is %d bytes, the metadata alone is %d"
            % (len(head), metadataSize), name)
    agg_type, max_retention, xff, count = struct.unpack_from(metadataFormat, head)
    method = aggregationTypeToMethod.get(agg_type)
    if method is None:
        raise CorruptWhisperFile(
            "Unable to read header: unknown aggregation type %d" % agg_type, name)
    if not 0 <= xff <= 1:
        raise CorruptWhisperFile(
            "Unable to read header: xFilesFactor %r is not between 0 and 1" % xff, name)
    table_end = metadataSize + count * archiveInfoSize
    if count < 1 or table_end > file_size:
        raise CorruptWhisperFile(
            "Unable to read header: archive count %d does not fit a file of %d bytes"
            % (count, file_size), name)
    if len(head) < table_end:
        head += _pread(fd, name, table_end - len(head), len(head))
    archives = tuple([_parse_archive(head, i, table_end, file_size, name) for i in range(count)])
    return _Header(name, method, max_retention, xff, archives, file_size, head)


def _parse_archive(head, i, table_end, file_size, name):
    offset, step, points = struct.unpack_from(
        archiveInfoFormat, head, metadataSize + i * archiveInfoSize)
    if step == 0 or points == 0:
        raise CorruptWhisperFile(
            "Unable to read archive%d metadata: secondsPerPoint %d, points %d (zero)"
            % (i, step, points), name)
    if offset < table_end:
        raise CorruptWhisperFile(
            "Unable to read archive%d metadata: offset %d inside the %d-byte header"
            % (i, offset, table_end), name)
    if offset + points * pointSize > file_size:
        raise CorruptWhisperFile(
            "Unable to read archive%d metadata: its points end at byte %d, past the end of "
            "the %d-byte file" % (i, offset + points * pointSize, file_size), name)
    return _Archive(offset, step, points)


def _read_base(fd, header, archive):
    """Timestamp of the archive's first slot (0: the archive was never written)."""
    end = archive.offset + longSize
    if end <= len(header.head):
        return struct.unpack_from(longFormat, header.head, archive.offset)[0]
    return struct.unpack(longFormat, _pread(fd, header.name, longSize, archive.offset))[0]


def _pread(fd, name, size, offset):
    data = os.pread(fd, size, offset)
    if len(data) != size:
        raise CorruptWhisperFile(
            "Unable to read %d bytes at offset %d, got %d (file shrank?)"
            % (size, offset, len(data)), name)
    return data


def _ring_bytes(fd, header, archive, first_slot, count):
    """The bytes of `count` (<= points) consecutive slots from `first_slot`, wrapping."""
    start = archive.offset + first_slot * pointSize
    tail = archive.points - first_slot
    if count <= tail:
        return _pread(fd, header.name, count * pointSize, start)
    return (_pread(fd, header.name, tail * pointSize, start)
            + _pread(fd, header.name, (count - tail) * pointSize, archive.offset))


def _read_ring(fd, header, archive, first_slot, count):
    """`count` (<= points) consecutive slots from `first_slot`, wrapping, as records."""
    return np.frombuffer(_ring_bytes(fd, header, archive, first_slot, count), POINT_DTYPE)


def _forget_points(header):
    """Drop the cached bytes past the archive table: points are about to change."""
    header.head = header.head[:metadataSize + len(header.archives) * archiveInfoSize]


def _fd_name(fh):
    name = getattr(fh, "name", None)
    return name if isinstance(name, str) else repr(fh)


def _prepare_fh(fh):
    """The descriptor of a caller's file object, its Python buffer flushed."""
    flush = getattr(fh, "flush", None)
    if flush is not None and fh.writable():
        flush()
    return fh.fileno()


def _finish_write(fd, autoflush):
    if autoflush:
        os.fsync(fd)


def _opt(value, default):
    return default if value is None else value


# --- info / aggregation settings -------------------------------------------------------
def info(path):
    """The header of `path` as a dict (aggregationMethod, maxRetention, xFilesFactor,
    fileSize, archives); None if the file cannot be opened, as whisper does."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        return _read_header(fd, path).as_dict()
    finally:
        os.close(fd)


def file_info(fh):
    """The header of an open whisper file as info() returns it."""
    return _read_header(_prepare_fh(fh), _fd_name(fh)).as_dict()


def setXFilesFactor(path, xFilesFactor, lock=None, autoflush=None):
    """Set the xFilesFactor of `path`; return the old one."""
    return _set_aggregation(path, None, xFilesFactor, lock, autoflush)[1]


def setAggregationMethod(path, aggregationMethod, xFilesFactor=None, lock=None,
                         autoflush=None):
    """Set the aggregation method (and optionally xFilesFactor) of `path`; return the
    old method."""
    return _set_aggregation(path, aggregationMethod, xFilesFactor, lock, autoflush)[0]


def _set_aggregation(path, method, xff, lock, autoflush):
    fd = os.open(path, os.O_RDWR)
    try:
        if _opt(lock, LOCK):
            fcntl.flock(fd, fcntl.LOCK_EX)
        header = _read_header(fd, path)
        method = header.method if method is None else method
        xff = header.xff if xff is None else xff
        os.pwrite(fd, _pack_metadata(method, header.max_retention, xff,
                                     len(header.archives)), 0)
        _finish_write(fd, _opt(autoflush, AUTOFLUSH))
    finally:
        os.close(fd)
    return (header.method, header.xff)


def _pack_metadata(method, max_retention, xff, archive_count):
    try:
        agg_type = aggregationMethodToType[method]
    except (KeyError, TypeError):
        raise InvalidAggregationMethod("Unrecognized aggregation method: %s" % method)
    try:
        xff = float(xff)
    except (ValueError, TypeError):
        raise InvalidXFilesFactor("Invalid xFilesFactor %s, not a float" % xff)
    if not 0 <= xff <= 1:
        raise InvalidXFilesFactor("Invalid xFilesFactor %s, not between 0 and 1" % xff)
    return struct.pack(metadataFormat, agg_type, max_retention, xff, archive_count)


# --- create ----------------------------------------------------------------------------
def create(path, archiveList, xFilesFactor=None, aggregationMethod=None,
           sparse=False, useFallocate=False, lock=None, autoflush=None,
           fadvise_random=None):
    """Create a whisper file at `path` (which must not exist) with archives
    [(secondsPerPoint, points), ...]; xFilesFactor 0.5 and 'average' by default.
    Space is reserved with posix_fallocate (useFallocate), left sparse (sparse) or
    written with zeros (neither), as carbon's WHISPER_FALLOCATE_CREATE and
    WHISPER_SPARSE_CREATE choose."""
    fd, _ = _create_open(path, archiveList, xFilesFactor, aggregationMethod, sparse,
                         useFallocate, lock, autoflush, fadvise_random)
    os.close(fd)


def create_with_points(path, archiveList, xFilesFactor, aggregationMethod, timestamps,
                       values, now=None, sparse=False, useFallocate=False, lock=None,
                       autoflush=None, fadvise_random=None):
    """create() then update_many_arrays() of its first points, on one descriptor: no
    second open and no header read (the header is the one just written, the archives
    are known to be empty). The file is byte for byte what the two calls give; if the
    points cannot be written (a timestamp past 2106) the file stays, empty, and the
    error is raised as update_many raises it."""
    fd, header = _create_open(path, archiveList, xFilesFactor, aggregationMethod, sparse,
                              useFallocate, lock, autoflush, fadvise_random)
    try:
        batch = _array_batch(timestamps, values)
        if batch is not None:
            _file_update_batch(fd, path, batch, now, False, autoflush, header)
    finally:
        os.close(fd)


def _create_open(path, archiveList, xff, method, sparse, use_fallocate, lock, autoflush,
                 fadvise_random):
    """Create the file and return (its open read-write descriptor, its _Header)."""
    xff = 0.5 if xff is None else xff
    method = "average" if method is None else method
    validateArchiveList(archiveList)
    archives = sorted(archiveList, key=lambda a: a[0])
    oldest = max(step * points for step, points in archives)
    head = _pack_metadata(method, oldest, xff, len(archives))
    offset = metadataSize + archiveInfoSize * len(archives)
    data_start = offset
    table = []
    for step, points in archives:
        head += struct.pack(archiveInfoFormat, offset, step, points)
        table.append(_Archive(offset, step, points))
        offset += points * pointSize
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        raise InvalidConfiguration("File %s already exists!" % path) from None
    try:
        if _opt(lock, LOCK):
            fcntl.flock(fd, fcntl.LOCK_EX)
        if CAN_FADVISE and _opt(fadvise_random, FADVISE_RANDOM):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        os.write(fd, head)
        _reserve(fd, data_start, offset, sparse, use_fallocate)
        _finish_write(fd, _opt(autoflush, AUTOFLUSH))
    except OSError:
        os.close(fd)
        os.unlink(path)
        raise
    # What _read_header would read back: the header, then zeros (the archives are empty).
    head = head.ljust(min(_HEAD_READ, offset), b"\0")
    unpacked = struct.unpack(metadataFormat, head[:metadataSize])
    header = _Header(path, method, oldest, unpacked[2], tuple(table), offset, head)
    return fd, header


def _reserve(fd, start, end, sparse, use_fallocate):
    if CAN_FALLOCATE and use_fallocate:
        os.posix_fallocate(fd, start, end - start)
    elif sparse:
        os.pwrite(fd, b"\x00", end - 1)
    else:
        chunk = bytes(min(end - start, 1 << 20))
        while start < end:
            start += os.pwrite(fd, chunk[:end - start], start)


# --- aggregation -----------------------------------------------------------------------
def aggregate(aggregationMethod, knownValues, neighborValues=None):
    """Aggregate one interval's known values (neighborValues: all, None for gaps)."""
    if aggregationMethod == "average":
        return float(sum(knownValues)) / float(len(knownValues))
    if aggregationMethod == "sum":
        return float(sum(knownValues))
    if aggregationMethod == "last":
        return knownValues[-1]
    if aggregationMethod == "max":
        return max(knownValues)
    if aggregationMethod == "min":
        return min(knownValues)
    if aggregationMethod == "avg_zero":
        if not neighborValues:
            raise InvalidAggregationMethod("Using avg_zero without neighborValues")
        values = [x or 0 for x in neighborValues]
        return float(sum(values)) / float(len(values))
    if aggregationMethod == "absmax":
        return max(knownValues, key=abs)
    if aggregationMethod == "absmin":
        return min(knownValues, key=abs)
    raise InvalidAggregationMethod("Unrecognized aggregation method %s" % aggregationMethod)


def _aggregate_rows(method, values, known, n_known):
    """aggregate() over each row of `values` (m, k), using the `known` mask (n_known
    per row, at least one; known None: all are). Results equal the Python built-ins'
    bit for bit: sums are sequential and max/min keep the first of equals, as
    Python's do."""
    if known is None and method not in ("average", "sum", "avg_zero", "last"):
        known = np.ones(values.shape, bool)
    if method in ("average", "sum", "avg_zero"):
        filled = values if known is None else np.where(known, values, 0.0)
        with np.errstate(invalid="ignore", over="ignore"):
            total = _sum_rows(filled)
        if method == "avg_zero":
            total /= values.shape[1]
        elif method == "average":
            total /= n_known
        nonfinite = ~np.isfinite(total)     # NaN or inf in, or overflow
        if not nonfinite.any():
            return total
        known = np.ones(values.shape, bool) if known is None else known
        return _python_rows(method, values, known, total, nonfinite)
    if known is None:   # "last" with every value known
        return values[:, -1].copy()
    if method == "last":
        last = values.shape[1] - 1 - np.argmax(known[:, ::-1], axis=1)
        return values[np.arange(len(values)), last]
    return _select_rows(method, values, known)


def _sum_rows(filled, compensated=_COMPENSATED_SUM):
    """Row sums added as CPython's sum() adds floats: in order up to 3.11, with
    Neumaier's compensation from 3.12 on (gaps are 0.0, which neither changes)."""
    if not compensated:
        return np.add.accumulate(filled, axis=1)[:, -1] + 0.0
    total = np.zeros(len(filled))
    compensation = np.zeros(len(filled))
    for column in filled.T:
        added = total + column
        compensation += np.where(np.abs(total) >= np.abs(column),
                                 (total - added) + column, (column - added) + total)
        total = added
    use = (compensation != 0) & np.isfinite(compensation)
    return np.where(use, total + compensation, total)


def _python_rows(method, values, known, result, rows):
    """Recompute `rows` with aggregate() itself: sums meeting NaN or infinities, where
    the NaN that comes out depends on the order CPython's sum adds its operands."""
    for row in np.flatnonzero(rows).tolist():
        neighbors = [v if k else None
                     for v, k in zip(values[row].tolist(), known[row].tolist())]
        result[row] = aggregate(method, [v for v in neighbors if v is not None], neighbors)
    return result


_BETTER = MappingProxyType({
    "max": lambda new, cur: new > cur,
    "min": lambda new, cur: new < cur,
    "absmax": lambda new, cur: np.abs(new) > np.abs(cur),
    "absmin": lambda new, cur: np.abs(new) < np.abs(cur),
})


def _select_rows(method, values, known):
    better = _BETTER[method]
    first = np.argmax(known, axis=1)
    current = values[np.arange(len(values)), first]
    for j in range(values.shape[1]):
        column = values[:, j]
        take = known[:, j] & better(column, current)
        current = np.where(take, column, current)
    return current


# --- writing points ----------------------------------------------------------------
def _write_slots(fd, header, archive, slots, records):
    """Write records (unique slots, any order) into the archive: one write per run of
    adjacent slots, or one read-modify-write of the whole span when the runs are many."""
    _forget_points(header)
    breaks = np.flatnonzero(slots[1:] - slots[:-1] != 1) + 1
    if len(breaks) < _MAX_SCATTER_WRITES:
        bounds = [0, *breaks.tolist(), len(slots)]
        starts = slots[bounds[:-1]].tolist()
        for lo, hi, slot in zip(bounds[:-1], bounds[1:], starts):
            os.pwrite(fd, records[lo:hi].tobytes(), archive.offset + slot * pointSize)
        return
    order = np.argsort(slots)
    slots = slots[order]
    records = records[order]
    # Rewrite the shortest stretch of the ring holding every slot: it skips the widest
    # gap between neighbouring slots, which may be the one across the ring's end.
    gaps = slots[1:] - slots[:-1]
    widest = int(np.argmax(gaps))
    if gaps[widest] <= slots[0] + archive.points - slots[-1]:
        _rewrite_span(fd, header, archive, slots, records)
    else:
        _rewrite_span(fd, header, archive, slots[widest + 1:], records[widest + 1:])
        _rewrite_span(fd, header, archive, slots[:widest + 1], records[:widest + 1])


def _rewrite_span(fd, header, archive, slots, records):
    """One read-modify-write of the slots from slots[0] to slots[-1] (sorted)."""
    first = int(slots[0])
    span = int(slots[-1]) - first + 1
    start = archive.offset + first * pointSize
    data = bytearray(_pread(fd, header.name, span * pointSize, start))
    buf = np.frombuffer(data, POINT_DTYPE)
    buf[slots - first] = records
    os.pwrite(fd, buf.tobytes(), start)


def _records(intervals, values):
    records = np.empty(len(intervals), POINT_DTYPE)
    records["t"] = intervals
    records["v"] = values
    return records


def _last_of_runs(keys, *arrays):
    """keys and arrays reduced to the last element of each run of equal adjacent keys."""
    if len(keys) < 2:
        return (keys, *arrays)
    differ = keys[1:] != keys[:-1]
    if differ.all():
        return (keys, *arrays)
    keep = np.append(differ, True)
    return (keys[keep], *(a[keep] for a in arrays))


def _write_run(fd, header, archive, base, intervals, values):
    """Write ascending intervals that are adjacent slots, fewer than a lap, with one
    pwrite (two across the ring's end); False, writing nothing, for any other set."""
    count = len(intervals)
    first, last = int(intervals[0]), int(intervals[-1])
    if count > archive.points or last - first != (count - 1) * archive.step:
        return False
    _forget_points(header)
    data = _records(intervals, values).tobytes()
    slot = (first - base) // archive.step % archive.points
    head = (archive.points - slot) * pointSize
    os.pwrite(fd, data[:head], archive.offset + slot * pointSize)
    if len(data) > head:
        os.pwrite(fd, data[head:], archive.offset)
    return True


def _write_archive_points(fd, header, archive, intervals, values):
    """Write unique, ascending aligned intervals into the archive as whisper does;
    return the archive's base (equal, modulo a lap, to its first slot's timestamp)."""
    base = _read_base(fd, header, archive)
    if base == 0:
        base = int(intervals[0])
    if _write_run(fd, header, archive, base, intervals, values):
        return base
    slots = ((intervals - base) // archive.step) % archive.points
    if len(intervals) > 1 and intervals[-1] - intervals[0] >= archive.retention:
        # More than one lap of the ring: chronologically later points win a slot.
        rev_slots, rev_idx = np.unique(slots[::-1], return_index=True)
        keep = len(slots) - 1 - rev_idx
        slots, intervals, values = rev_slots, intervals[keep], values[keep]
    _write_slots(fd, header, archive, slots, _records(intervals, values))
    return base


def _check_timestamps(intervals, name):
    if len(intervals) and (intervals[0] < 0 or intervals[-1] > MAX_TIMESTAMP):
        raise TimestampNotCovered(
            "Timestamps %d..%d of %s do not fit the 32-bit unsigned timestamp field"
            % (intervals[0], intervals[-1], name))


def _update_archive(fd, header, index, intervals, values):
    """Write points aligned to archive `index` (ascending, unique) and propagate them
    into the lower-precision archives, as whisper's __archive_update_many does."""
    archive = header.archives[index]
    higher, higher_base = archive, _write_archive_points(fd, header, archive, intervals, values)
    first, last = int(intervals[0]), int(intervals[-1])
    adjacent = last - first == (len(intervals) - 1) * archive.step
    for lower in header.archives:
        if lower.step <= archive.step:
            continue
        if adjacent and lower.step % archive.step == 0:     # every lower interval between
            lower_intervals = np.arange(first - first % lower.step,
                                        last - last % lower.step + 1, lower.step)
        else:
            lower_intervals, = _last_of_runs(intervals - intervals % lower.step)
        lower_base = _propagate(fd, header, higher, higher_base, lower, lower_intervals)
        if lower_base is None:
            break
        higher, higher_base = lower, lower_base


def _window(higher, lower):
    """Points per propagation window. whisper's read of lower.step // higher.step points
    wraps at the archive's end, which only a hand-made file (too few points to
    consolidate, or archives out of step order) reaches: it then reads that many
    modulo the ring."""
    return (lower.step // higher.step) % higher.points or higher.points


def _propagate(fd, header, higher, higher_base, lower, lower_intervals):
    """Aggregate `higher`'s points into each of the lower intervals that has enough
    known points (xFilesFactor); return the lower archive's base if any was written,
    else None. `higher_base`: the higher archive's, as its write left it."""
    k = _window(higher, lower)
    times, values = _read_windows(fd, header, higher, higher_base, lower, lower_intervals, k)
    expected = lower_intervals[:, None] + np.arange(k) * higher.step
    known = times == expected
    if known.all():     # every window full, as in a steady series: all propagate
        result = _aggregate_rows(header.method, values, None, k)
        return _write_propagated(fd, header, lower, lower_intervals, None, result)
    n_known = known.sum(axis=1)
    ok = (n_known > 0) & (n_known / k >= header.xff)
    if ok.all():
        result = _aggregate_rows(header.method, values, known, n_known)
    elif ok.any():
        result = _aggregate_rows(header.method, values[ok], known[ok], n_known[ok])
    else:
        return None
    return _write_propagated(fd, header, lower, lower_intervals, ok, result)


def _read_windows(fd, header, higher, base, lower, lower_intervals, k):
    """Timestamps and values (m, k) of the higher-archive slots that whisper reads for
    each lower interval: k slots from the one of the interval's start."""
    if base == 0:   # whisper reads every window from the archive's first slot
        starts = np.zeros(len(lower_intervals), np.int64)
    else:
        starts = (lower_intervals - base) // higher.step
    relative = starts - starts[0]
    span = int(relative[-1]) + k
    if span <= higher.points:
        records = _read_ring(fd, header, higher, int(starts[0]) % higher.points, span)
        if span == len(lower_intervals) * k and lower.step % higher.step == 0:
            picked = records.reshape(-1, k)     # adjacent windows
            return picked["t"].astype(np.int64), picked["v"].astype(np.float64)
        index = relative[:, None] + np.arange(k)
    else:
        records = _read_ring(fd, header, higher, 0, higher.points)
        index = (starts[:, None] + np.arange(k)) % higher.points
    picked = records[index]
    return picked["t"].astype(np.int64), picked["v"].astype(np.float64)


def _write_propagated(fd, header, lower, lower_intervals, ok, result):
    """Write the aggregated values of the lower intervals that propagate (`ok`; None:
    all of them); return the lower archive's base."""
    intervals = lower_intervals if ok is None or len(result) == len(ok) \
        else lower_intervals[ok]
    base = _read_base(fd, header, lower)
    order = None
    if base == 0:
        # whisper walks a Python set of the intervals; the first written one is the base.
        order = _set_order(lower_intervals, intervals)
        base = int(intervals[order[0]])
    if _write_run(fd, header, lower, base, intervals, result):
        return base
    slots = ((intervals - base) // lower.step) % lower.points
    if intervals[-1] - intervals[0] >= lower.retention and \
            len(np.unique(slots)) != len(slots):
        # Several intervals share a slot: the last one in whisper's set order wins.
        order = _set_order(lower_intervals, intervals) if order is None else order
        slots, intervals, result = slots[order], intervals[order], result[order]
        rev_slots, rev_idx = np.unique(slots[::-1], return_index=True)
        keep = len(slots) - 1 - rev_idx
        slots, intervals, result = rev_slots, intervals[keep], result[keep]
    _write_slots(fd, header, lower, slots, _records(intervals, result))
    return base


def _set_order(all_intervals, chosen):
    """Positions in `chosen` in the iteration order of set(all_intervals)."""
    position = {t: i for i, t in enumerate(chosen.tolist())}
    return np.array([position[t] for t in set(all_intervals.tolist()) if t in position],
                    np.int64)


# --- update / update_many ------------------------------------------------------------
def update(path, value, timestamp=None, now=None, lock=None, autoflush=None,
           fadvise_random=None):
    """Store one point; TimestampNotCovered unless 0 <= now - timestamp < maxRetention."""
    value = float(value)
    fd = os.open(path, os.O_RDWR)
    try:
        if CAN_FADVISE and _opt(fadvise_random, FADVISE_RANDOM):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        return _file_update(fd, path, value, timestamp, now, lock, autoflush)
    finally:
        os.close(fd)


def file_update(fh, value, timestamp, now=None, lock=None, autoflush=None):
    return _file_update(_prepare_fh(fh), _fd_name(fh), float(value), timestamp, now,
                        lock, autoflush)


def _file_update(fd, name, value, timestamp, now, lock, autoflush):
    if _opt(lock, LOCK):
        fcntl.flock(fd, fcntl.LOCK_EX)
    header = _read_header(fd, name)
    if now is None:
        now = int(time.time())
    if timestamp is None:
        timestamp = now
    timestamp = int(timestamp)
    diff = now - timestamp
    if not (0 <= diff < header.max_retention):
        raise TimestampNotCovered(
            "Timestamp not covered by any archives in this database.")
    for index, archive in enumerate(header.archives):
        if archive.retention >= diff:
            break
    else:
        raise TimestampNotCovered(
            "Timestamp %d (age %d) is older than every archive of %s" % (timestamp, diff, name))
    _small_archive_update(fd, header, index, [(timestamp, value)])
    _finish_write(fd, _opt(autoflush, AUTOFLUSH))


def update_many(path, points, now=None, lock=None, autoflush=None, fadvise_random=None):
    """Store a list of (timestamp, value) points, in any order. As whisper: each point
    goes to the most precise archive covering its age (points older than the file's
    retention are dropped, future points go to the first archive), and of several
    points for one slot the latest timestamp wins (for equal timestamps, the first
    given)."""
    if not points:
        return
    _update_path(path, _batch(points), now, lock, autoflush, fadvise_random)


def update_many_arrays(path_or_fh, timestamps, values, now=None, lock=None,
                       autoflush=None, fadvise_random=None):
    """update_many for two equal-length arrays (timestamps in seconds, float64 values)."""
    batch = _array_batch(timestamps, values)
    if batch is None:
        return
    if isinstance(path_or_fh, (str, bytes, os.PathLike)):
        _update_path(path_or_fh, batch, now, lock, autoflush, fadvise_random)
    else:
        _file_update_batch(_prepare_fh(path_or_fh), _fd_name(path_or_fh), batch, now, lock,
                           autoflush)


def _array_batch(timestamps, values):
    """Two equal-length arrays as a batch for _file_update_batch (None when empty)."""
    timestamps = np.asarray(timestamps)
    if timestamps.dtype.kind == "f":
        timestamps = np.trunc(timestamps)
    timestamps = timestamps.astype(np.int64, copy=False)
    values = np.asarray(values, np.float64)
    if timestamps.shape != values.shape or timestamps.ndim != 1:
        raise ValueError("timestamps %s and values %s must be two equal-length 1-d arrays"
                         % (timestamps.shape, values.shape))
    if not len(timestamps):
        return None
    if len(timestamps) <= _SMALL_BATCH:
        return list(zip(timestamps.tolist(), values.tolist()))
    return timestamps, values


def _points_to_arrays(points):
    """(int64 timestamps, float64 values) from (timestamp, value) pairs, converting as
    whisper's int(t), float(v) do (and raising what they raise)."""
    count = len(points)
    try:
        if sum(map(len, points)) != 2 * count:      # a longer point; shorter: IndexError
            raise ValueError("not all points are pairs")
        values = np.fromiter(map(_SECOND, points), np.float64, count)
        if np.isnan(values).any():
            raise ValueError("NaN or None among the values: convert point by point")
        return np.fromiter(map(_FIRST, points), np.int64, count), values
    except (ValueError, TypeError, OverflowError, IndexError, KeyError):
        pairs = [(int(t), float(v)) for (t, v) in points]
        timestamps = np.array([t for t, _ in pairs], np.int64)
        return timestamps, np.array([v for _, v in pairs], np.float64)


def _batch(points):
    """A small batch as a list of (int, float) pairs, a large one as two arrays."""
    if not hasattr(points, "__len__"):
        points = list(points)
    if len(points) <= _SMALL_BATCH:
        return [(int(t), float(v)) for (t, v) in points]
    return _points_to_arrays(points)


def _update_path(path, batch, now, lock, autoflush, fadvise_random):
    fd = os.open(path, os.O_RDWR)
    try:
        if CAN_FADVISE and _opt(fadvise_random, FADVISE_RANDOM):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        _file_update_batch(fd, path, batch, now, lock, autoflush)
    finally:
        os.close(fd)


def _file_update_batch(fd, name, batch, now, lock, autoflush, header=None):
    """`header`: the header of a file the caller has just created (all zeros past it)."""
    if _opt(lock, LOCK):
        fcntl.flock(fd, fcntl.LOCK_EX)
    fresh = header is not None
    if not fresh:
        header = _read_header(fd, name)
    if now is None:
        now = int(time.time())
    if isinstance(batch, list):
        _file_update_pairs(fd, header, batch, now, fresh)
    else:
        _file_update_arrays(fd, header, *batch, now)
    _finish_write(fd, _opt(autoflush, AUTOFLUSH))


def file_update_many(fh, points, now=None, lock=None, autoflush=None):
    """update_many on an open file (points in any order)."""
    if not points:
        return
    _file_update_batch(_prepare_fh(fh), _fd_name(fh), _batch(points), now, lock, autoflush)


def _file_update_arrays(fd, header, timestamps, values, now):
    name = header.name
    timestamps, values = _chronological(timestamps, values)
    if now - int(timestamps[0]) <= header.archives[0].retention:
        _update_bucket(fd, header, 0, timestamps, values, name)   # all in archive 0
    else:
        retentions = np.maximum.accumulate([a.retention for a in header.archives])
        # Archive index per point: the first covering its age (non-increasing here).
        negated = -np.searchsorted(retentions, now - timestamps, side="left")
        for index in range(len(header.archives)):
            lo = int(np.searchsorted(negated, -index, side="left"))
            hi = int(np.searchsorted(negated, -index, side="right"))
            if lo < hi:
                _update_bucket(fd, header, index, timestamps[lo:hi], values[lo:hi], name)


def _chronological(timestamps, values):
    """Points in ascending time; equal timestamps in reverse order given, so that the
    first given is the last of its run (whisper sorts newest first, stably, then
    reverses each archive's share)."""
    step = timestamps[1:] - timestamps[:-1]
    if (step > 0).all():
        return timestamps, values
    if (step < 0).all():
        return timestamps[::-1], values[::-1]
    order = len(timestamps) - 1 - np.argsort(timestamps[::-1], kind="stable")
    return timestamps[order], values[order]


def _update_bucket(fd, header, index, timestamps, values, name):
    step = header.archives[index].step
    intervals, values = _last_of_runs(timestamps - timestamps % step, values)
    _check_timestamps(intervals, name)
    _update_archive(fd, header, index, intervals, values)


# --- fetch -----------------------------------------------------------------------------
def fetch(path, fromTime, untilTime=None, now=None, archiveToSelect=None):
    """((fromInterval, untilInterval, step), values) for fromTime < t <= untilTime
    (untilTime defaults to now), values a list with None for gaps, from the most
    precise archive covering fromTime (or the one of step archiveToSelect); None when
    the range lies wholly in the future or beyond the retention."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return _fetch(fd, path, fromTime, untilTime, now, archiveToSelect, _as_lists)
    finally:
        os.close(fd)


def file_fetch(fh, fromTime, untilTime, now=None, archiveToSelect=None):
    return _fetch(_prepare_fh(fh), _fd_name(fh), fromTime, untilTime, now,
                  archiveToSelect, _as_lists)


def fetch_array(path, fromTime, untilTime=None, now=None, archiveToSelect=None):
    """fetch() with the values as a float64 numpy array, NaN for gaps."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return _fetch(fd, path, fromTime, untilTime, now, archiveToSelect, _as_array)
    finally:
        os.close(fd)


def file_fetch_array(fh, fromTime, untilTime=None, now=None, archiveToSelect=None):
    return _fetch(_prepare_fh(fh), _fd_name(fh), fromTime, untilTime, now,
                  archiveToSelect, _as_array)


def _as_array(time_info, raw):
    if raw is not None and len(raw) <= _SMALL_FETCH * pointSize:
        return time_info, np.array(_decode_small(time_info, raw), np.float64)  # None: NaN
    known, values = _decode(time_info, raw)
    if known is None:
        return time_info, np.full(len(values), np.nan)
    if known.all():
        return time_info, values
    return time_info, np.where(known, values, np.nan)


def _as_lists(time_info, raw):
    if raw is not None and len(raw) <= _SMALL_FETCH * pointSize:
        return time_info, _decode_small(time_info, raw)
    known, values = _decode(time_info, raw)
    if known is None:
        return time_info, [None] * len(values)
    if known.all():
        return time_info, values.tolist()
    missing = np.flatnonzero(~known)
    if 4 * len(missing) < len(values):
        result = values.tolist()
        for i in missing.tolist():
            result[i] = None
        return time_info, result
    boxed = np.full(len(values), None, object)
    boxed[known] = values[known]
    return time_info, boxed.tolist()


def _fetch(fd, name, fromTime, untilTime, now, archiveToSelect, finish):
    header = _read_header(fd, name)
    if now is None:
        now = int(time.time())
    if untilTime is None:
        untilTime = now
    fromTime = int(fromTime)
    untilTime = int(untilTime)
    if fromTime > untilTime:
        raise InvalidTimeInterval(
            "Invalid time interval: from time '%s' is after until time '%s'"
            % (fromTime, untilTime))
    oldest = now - header.max_retention
    if fromTime > now or untilTime < oldest:
        return None
    fromTime = max(fromTime, oldest)
    untilTime = min(untilTime, now)
    archive = _select_archive(header, now - fromTime, archiveToSelect)
    return finish(*_archive_fetch(fd, header, archive, fromTime, untilTime))


def _select_archive(header, age, archiveToSelect):
    if archiveToSelect:
        step = parseRetentionDef(str(archiveToSelect) + ":1")[0]
        for archive in header.archives:
            if archive.step == step:
                return archive
        raise ValueError("Invalid granularity: %s" % archiveToSelect)
    for archive in header.archives:
        if archive.retention >= age:
            return archive
    return header.archives[-1]


def _archive_fetch(fd, header, archive, fromTime, untilTime):
    """(time_info, the bytes of the slots from fromInterval, or None if the archive
    was never written)."""
    step = archive.step
    from_interval = int(fromTime - (fromTime % step)) + step
    until_interval = int(untilTime - (untilTime % step)) + step
    if from_interval == until_interval:
        until_interval += step
    time_info = (from_interval, until_interval, step)
    base = _read_base(fd, header, archive)
    if base == 0:
        return time_info, None
    first = (from_interval - base) // step % archive.points
    last = (until_interval - base) // step % archive.points
    count = (last - first) % archive.points or archive.points
    return time_info, _ring_bytes(fd, header, archive, first, count)


def _decode(time_info, raw):
    """(known mask, float64 values) of fetched bytes; (None, empty values of the range's
    length) for a never-written archive."""
    start, end, step = time_info
    if raw is None:
        return None, np.empty((end - start) // step)
    records = np.frombuffer(raw, POINT_DTYPE)
    known = records["t"] == np.arange(start, start + len(records) * step, step,
                                      dtype=np.int64)
    return known, records["v"].astype(np.float64)


def _decode_small(time_info, raw):
    """A few fetched points as a list with None for gaps, without numpy's fixed cost."""
    start, _, step = time_info
    unpacked = struct.unpack("!" + pointFormat[1:] * (len(raw) // pointSize), raw)
    return [value if t == start + i * step else None
            for i, (t, value) in enumerate(zip(unpacked[::2], unpacked[1::2]))]


# --- merge / diff ----------------------------------------------------------------------
def merge(path_from, path_to, time_from=None, time_to=None, now=None, lock=None,
          autoflush=None):
    """Copy the known points of path_from into path_to (same archive configuration),
    archive by archive from the shortest retention, overwriting; as whisper-merge."""
    fd_from = os.open(path_from, os.O_RDONLY)
    try:
        fd_to = os.open(path_to, os.O_RDWR)
        try:
            return _merge(fd_from, path_from, fd_to, path_to, time_from, time_to, now,
                          lock, autoflush)
        finally:
            os.close(fd_to)
    finally:
        os.close(fd_from)


def file_merge(fh_from, fh_to, time_from=None, time_to=None, now=None, lock=None,
               autoflush=None):
    return _merge(_prepare_fh(fh_from), _fd_name(fh_from), _prepare_fh(fh_to),
                  _fd_name(fh_to), time_from, time_to, now, lock, autoflush)


def _check_alike(header_from, name_from, header_to, name_to, verb):
    shape_from = [a.as_dict() for a in header_from.archives]
    if shape_from != [a.as_dict() for a in header_to.archives]:
        raise NotImplementedError(
            "%s and %s archive configurations are unalike. Resize the input before %s"
            % (name_from, name_to, verb))


def _merge(fd_from, name_from, fd_to, name_to, time_from, time_to, now, lock, autoflush):
    if _opt(lock, LOCK):
        fcntl.flock(fd_to, fcntl.LOCK_EX)
    header_from = _read_header(fd_from, name_from)
    header_to = _read_header(fd_to, name_to)
    _check_alike(header_from, name_from, header_to, name_to, "merging")
    now = int(time.time()) if now is None else now
    until_time = now if time_to is None else time_to
    from_time = 0 if time_from is None else time_from
    if until_time < from_time:
        raise ValueError("time_to must be >= time_from")
    indexed = sorted(enumerate(header_from.archives), key=lambda p: p[1].retention)
    for index, archive in indexed:
        oldest = now - archive.retention
        if until_time < oldest:
            continue
        time_info, raw = _archive_fetch(
            fd_from, header_from, archive, max(from_time, oldest), until_time)
        known, values = _decode(time_info, raw)
        start, _, step = time_info
        if known is None or not known.any():
            continue
        intervals = start + step * np.flatnonzero(known).astype(np.int64)
        _update_archive(fd_to, header_to, index, intervals, values[known])
    _finish_write(fd_to, _opt(autoflush, AUTOFLUSH))


def diff(path_from, path_to, ignore_empty=False, until_time=None, now=None):
    """Per archive (shortest retention first): (archive number, [(timestamp, value_from,
    value_to) that differ], number of points compared); as whisper-diff."""
    fd_from = os.open(path_from, os.O_RDONLY)
    try:
        fd_to = os.open(path_to, os.O_RDONLY)
        try:
            return _diff(fd_from, path_from, fd_to, path_to, ignore_empty, until_time, now)
        finally:
            os.close(fd_to)
    finally:
        os.close(fd_from)


def file_diff(fh_from, fh_to, ignore_empty=False, until_time=None, now=None):
    return _diff(_prepare_fh(fh_from), _fd_name(fh_from), _prepare_fh(fh_to),
                 _fd_name(fh_to), ignore_empty, until_time, now)


def _diff(fd_from, name_from, fd_to, name_to, ignore_empty, until_time, now):
    header_from = _read_header(fd_from, name_from)
    header_to = _read_header(fd_to, name_to)
    _check_alike(header_from, name_from, header_to, name_to, "diffing")
    now = int(time.time()) if now is None else now
    until = until_time if until_time else now
    result = []
    archives = sorted(header_from.archives, key=operator.attrgetter("retention"))
    for number, archive in enumerate(archives):
        start_time = now - archive.retention
        info_from, values_from = _as_lists(
            *_archive_fetch(fd_from, header_from, archive, start_time, until))
        info_to, values_to = _as_lists(
            *_archive_fetch(fd_to, header_to, archive, start_time, until))
        start = min(info_from[0], info_to[0])
        step = min(info_from[2], info_to[2])
        count = (max(info_from[1], info_to[1]) - start) // step
        points = [(start + i * step, values_from[i], values_to[i]) for i in range(count)]
        if ignore_empty:
            points = [p for p in points if p[1] is not None and p[2] is not None]
        else:
            points = [p for p in points if p[1] is not None or p[2] is not None]
        result.append((number, [p for p in points if p[1] != p[2]], len(points)))
        until = min(start_time, until)
    return result


# --- resize / fill (the semantics of whisper-resize.py and whisper-fill.py) -----------------
def resize(path, new_archives, xff=None, aggregation=None, aggregate=False, newfile=None,
           nobackup=False, now=None, sparse=False, useFallocate=False, lock=None,
           autoflush=None):
    """Rewrite `path` with new archives [(secondsPerPoint, points) or '10s:1d', ...],
    as whisper-resize.py does: read every archive, create `path`.tmp (or `newfile`),
    copy the points in (lowest precision first; with `aggregate`, re-aggregated into
    each new archive), then, unless `newfile` was given, swap the files keeping the old
    one as `path`.bak (removed with `nobackup`). Returns the backup's path or None."""
    now = int(time.time()) if now is None else now
    header = _header_of(path)
    new_archives = [parseRetentionDef(a) if isinstance(a, str) else tuple(a)
                    for a in new_archives]
    xff = header.xff if xff is None else xff
    method = header.method if aggregation is None else aggregation
    old = sorted(header.archives, key=lambda a: a.step, reverse=True)
    data = [fetch(path, now - a.retention + a.step, now, now=now) for a in old]
    target = path + ".tmp" if newfile is None else newfile
    if newfile is None and os.path.exists(target):
        os.unlink(target)
    create(target, new_archives, xff, method, sparse=sparse, useFallocate=useFallocate,
           lock=lock, autoflush=autoflush)
    options = dict(now=now, lock=lock, autoflush=autoflush)
    if aggregate:
        _migrate_aggregated(target, data, method, xff, now, options)
    else:
        for (start, end, step), values in data:
            points = [(t, v) for t, v in zip(range(start, end, step), values) if v is not None]
            update_many(target, points, **options)
    if newfile is not None:
        return None
    return _swap_in(path, target, nobackup)


def _header_of(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        return _read_header(fd, path)
    finally:
        os.close(fd)


def _migrate_aggregated(target, data, method, xff, now, options):
    """whisper-resize --aggregate: merge the old archives into one series (the most
    precise data where archives overlap) and aggregate it into each new archive."""
    timestamps, values = _merged_old_series(data)
    for archive in _header_of(target).archives:
        step = archive.step
        grid = range(now - archive.retention + now % step, now + now % step + step, step)
        points = []
        for lo_time, hi_time in zip(grid[:-1], grid[1:]):
            lo = np.searchsorted(timestamps, lo_time, side="left")
            hi = np.searchsorted(timestamps, hi_time, side="left")
            window = values[lo:hi]
            known = [v for v in window if v is not None]
            if known and len(known) / len(window) >= xff:
                points.append([lo_time, aggregate(method, known, window)])
        update_many(target, points, **options)


def _merged_old_series(data):
    merged = []
    for (start, end, step), values in reversed(data):   # most precise first
        newest_first = list(zip(range(start, end, step), values))[::-1]
        if merged:
            last_time = merged[-1][0]
            cut = next((i for i, (t, _) in enumerate(newest_first) if t < last_time), 0)
            newest_first = newest_first[cut:]
        merged += newest_first
    merged.reverse()
    return np.array([t for t, _ in merged], np.int64), [v for _, v in merged]


def _swap_in(path, tmpfile, nobackup):
    backup = path + ".bak"
    os.rename(path, backup)
    try:
        os.rename(tmpfile, path)
    except OSError:
        os.rename(backup, path)
        raise
    if nobackup:
        os.unlink(backup)
        return None
    return backup


def fill(src, dst, start_from=None, now=None, lock=None):
    """Copy into `dst` the points it lacks (its gaps) from `src`, taking them from the
    most precise archive of src that has them, as whisper-fill.py does. Like that
    script, a value of 0 in dst counts as a gap."""
    now = time.time() if now is None else now
    start_from = now if start_from is None else start_from
    for archive in sorted(_header_of(dst).archives, key=lambda a: a.retention):
        from_time = now - archive.retention
        if from_time >= start_from:
            continue
        (start, end, step), values = fetch(dst, from_time, start_from, now=now)
        gap_start = None
        for value in values:
            if not value and not gap_start:
                gap_start = start
            elif value and gap_start:
                if start - gap_start > archive.step:
                    fill_range(src, dst, gap_start - step, start, now=now, lock=lock)
                gap_start = None
            elif gap_start and start == end - step:
                fill_range(src, dst, gap_start - step, start, now=now, lock=lock)
            start += step
        start_from = from_time


def fill_range(src, dst, tstart, tstop, now=None, lock=None):
    """Copy src's points in (tstart, tstop] into dst, from src's most precise archives
    first (whisper-fill.py's fill)."""
    now = time.time() if now is None else now
    header = _header_of(src)
    oldest = now - header.max_retention
    if tstart < oldest and tstop < oldest:
        return
    for archive in sorted(header.archives, key=lambda a: a.retention):
        archive_oldest = now - archive.retention
        if tstop <= archive_oldest:
            continue
        from_time = archive_oldest if archive_oldest > tstart else tstart
        fetched = fetch(src, from_time, tstop, now=now)
        if fetched is not None:
            (start, end, step), values = fetched
            points = [(t, v) for t, v in zip(range(start, end, step), values)
                      if v is not None]
            update_many(dst, points[::-1], now=now, lock=lock)
        tstop = from_time
        if tstart == tstop:
            return


# --- small batches: whisper's algorithm in plain Python over pread/pwrite ---------------
def _file_update_pairs(fd, header, pairs, now, fresh=False):
    """update_many of a few (int, float) pairs, walking the archives as whisper does.
    `fresh`: the file was just created, its archives are all zeros."""
    if not pairs:
        return
    pairs.sort(key=_FIRST, reverse=True)      # newest first, stable
    archives = header.archives
    if now - pairs[-1][0] <= archives[0].retention:     # all for archive 0, as usual
        _small_archive_update(fd, header, 0, pairs[::-1], fresh)
        return
    index, share = 0, []
    for point in pairs:
        age = now - point[0]
        while archives[index].retention < age:
            if share:
                _small_archive_update(fd, header, index, share[::-1], fresh)
                share, fresh = [], False
            index += 1
            if index == len(archives):
                break
        if index == len(archives):
            break               # the rest are older than the file's retention
        share.append(point)
    if share:
        _small_archive_update(fd, header, index, share[::-1], fresh)


def _small_archive_update(fd, header, index, points, fresh=False):
    """Write chronological points into archive `index` and propagate them. `fresh`:
    every archive is all zeros, so bases and windows are known without reading."""
    archive = header.archives[index]
    step = archive.step
    aligned = [(t - t % step, v) for t, v in points]
    unique = list(dict(aligned).items())     # the last point of each run of one interval
    _check_timestamps([unique[0][0], unique[-1][0]], header.name)
    higher = archive
    higher_base, ring = _small_write(fd, header, archive, unique, fresh)
    for lower in header.archives:
        if lower.step <= archive.step:
            continue
        intervals = set([t - t % lower.step for t, _ in aligned])   # whisper's set order
        lower_base, ring = _small_propagate(fd, header, higher, higher_base, lower,
                                            intervals, ring)
        if lower_base is None:
            break
        higher, higher_base = lower, lower_base


def _small_write(fd, header, archive, points, fresh=False):
    """Write unique ascending (interval, value) points, one pwrite per run of slots.
    Returns the archive's base (equal, modulo a lap, to its first slot's timestamp)
    and, when `fresh` (the archive was all zeros), its written slots {slot: point}."""
    base = 0 if fresh else _read_base(fd, header, archive)
    _forget_points(header)
    if base == 0:
        base = points[0][0]
    step, size = archive.step, archive.points
    first, last = points[0][0], points[-1][0]
    if last - first == (len(points) - 1) * step and len(points) <= size:
        slot = ((first - base) // step) % size      # adjacent slots: one run
        _write_run_pairs(fd, archive, slot, points)
        if not fresh:
            return base, None
        return base, {(slot + i) % size: point for i, point in enumerate(points)}
    slotted = [(((t - base) // step) % size, t, v) for t, v in points]
    if last - first >= archive.retention:
        slotted = sorted({slot: (slot, t, v) for slot, t, v in slotted}.values())
    _write_slotted(fd, archive, slotted)
    return base, ({slot: (t, v) for slot, t, v in slotted} if fresh else None)


def _write_run_pairs(fd, archive, slot, points):
    """Write (timestamp, value) points into adjacent slots from `slot`: one pwrite, two
    across the ring's end."""
    data = _POINT.pack(*points[0]) if len(points) == 1 else \
        b"".join(starmap(_POINT.pack, points))
    head = (archive.points - slot) * pointSize
    if len(data) <= head:
        os.pwrite(fd, data, archive.offset + slot * pointSize)
    else:
        os.pwrite(fd, data[:head], archive.offset + slot * pointSize)
        os.pwrite(fd, data[head:], archive.offset)


def _write_slotted(fd, archive, slotted):
    """Write (slot, timestamp, value) triples, unique slots, one pwrite per run of
    adjacent slots in the order given."""
    run_start = 0
    for i in range(1, len(slotted)):
        if slotted[i][0] != slotted[i - 1][0] + 1:
            _write_run_pairs(fd, archive, slotted[run_start][0],
                             [p[1:] for p in slotted[run_start:i]])
            run_start = i
    _write_run_pairs(fd, archive, slotted[run_start][0], [p[1:] for p in slotted[run_start:]])


def _small_propagate(fd, header, higher, higher_base, lower, intervals, ring=None):
    """whisper's __propagate for each lower interval, in whisper's order, over one read
    of the higher archive per stretch of windows and one write per run of lower slots.
    `ring`: the higher archive's slots {slot: point} when the file was just created
    (nothing to read, the lower archive is empty). Returns the lower archive's base, or
    None if nothing was written to it, and, with `ring`, the lower archive's slots."""
    k = _window(higher, lower)
    if ring is None:
        windows = _small_windows(fd, header, higher, higher_base, intervals, k)
        lower_base = _read_base(fd, header, lower)
    else:
        windows = _fresh_windows(ring, higher, higher_base, intervals, k)
        lower_base = 0
    step, xff, method = higher.step, header.xff, header.method
    last = (k - 1) * step
    written = {}
    for interval in intervals:
        unpacked = windows[interval]
        times = unpacked[::2]
        if times[-1] == interval + last and \
                times == tuple(range(interval, interval + k * step, step)):
            known = neighbors = list(unpacked[1::2])    # all known, as in a steady series
        else:
            neighbors = [value if t == interval + i * step else None
                         for i, (t, value) in enumerate(zip(times, unpacked[1::2]))]
            known = [v for v in neighbors if v is not None]
            if not known or len(known) / k < xff:
                continue
        if lower_base == 0:
            lower_base = interval
        slot = ((interval - lower_base) // lower.step) % lower.points
        written[slot] = (interval, aggregate(method, known, neighbors))   # last wins
    if not written:
        return None, None
    _forget_points(header)
    slots = sorted(written)
    if slots[-1] - slots[0] == len(slots) - 1:  # one run of slots, the usual case
        _write_run_pairs(fd, lower, slots[0], [written[slot] for slot in slots])
    else:
        _write_slotted(fd, lower, [(slot, *written[slot]) for slot in slots])
    return lower_base, (None if ring is None else written)


def _small_windows(fd, header, higher, higher_base, intervals, k):
    """{interval: (t0, v0, t1, v1, ...)} of the k higher-archive slots whisper reads for
    each lower interval, read once per stretch of windows less than _READ_GAP slots
    apart (twice where a stretch wraps the ring)."""
    window = "!" + pointFormat[1:] * k
    if higher_base == 0:    # whisper reads every window from the archive's first slot
        first = 0
    elif len(intervals) == 1:
        first = (next(iter(intervals)) - higher_base) // higher.step % higher.points
    else:
        return _stretches(fd, header, higher, higher_base, intervals, k, window)
    return dict.fromkeys(intervals, struct.unpack(window, _ring_bytes(fd, header, higher,
                                                                       first, k)))


def _stretches(fd, header, higher, higher_base, intervals, k, window):
    """_small_windows of several intervals."""
    step, size = higher.step, higher.points
    starts = sorted([((interval - higher_base) // step, interval) for interval in intervals])
    windows = {}
    lo, count = 0, len(starts)
    while lo < count:
        first = previous = starts[lo][0]
        hi = lo + 1
        while hi < count and starts[hi][0] - previous <= k + _READ_GAP \
                and starts[hi][0] + k - first <= size:
            previous = starts[hi][0]
            hi += 1
        data = _ring_bytes(fd, header, higher, first % size, previous + k - first)
        for start, interval in starts[lo:hi]:
            windows[interval] = struct.unpack_from(window, data, (start - first) * pointSize)
        lo = hi
    return windows


def _fresh_windows(ring, higher, higher_base, intervals, k):
    """_small_windows of an archive that held zeros before `ring` was written."""
    empty, size = (0, 0.0), higher.points
    windows = {}
    for interval in intervals:
        first = 0 if higher_base == 0 else (interval - higher_base) // higher.step
        windows[interval] = tuple(chain.from_iterable(
            ring.get((first + i) % size, empty) for i in range(k)))
    return windows


# --- many files in a row: the web app's batch read -------------------------------------

UNUSUAL = object()  # BatchReader: "ask fetch_array": the file is anything but plainly well formed


class _Slots:
    """Where a fetch's slots are: `count` slots of the archive at `offset` (`points`
    slots in its ring) from slot `first`, for a fetch answering `time_info`."""

    __slots__ = ("time_info", "offset", "points", "first", "count")

    def __init__(self, time_info, offset, points, first, count):
        self.time_info, self.offset, self.points = time_info, offset, points
        self.first, self.count = first, count


class _Block:
    """BatchReader.read_all's reused buffer: the records of up to ROWS files that share
    one window (time_info, count), and the indexes of their paths."""

    ROWS = 64

    def __init__(self, files):
        self.rows = min(self.ROWS, files)
        self.window = None
        self.records = None
        self.indexes = []

    def takes(self, where):
        window = (where.time_info, where.count)
        if self.window is None:
            self.window = window
            self.records = np.empty((self.rows, where.count), POINT_DTYPE)
        return window == self.window

    def next_row(self):
        return self.records[len(self.indexes)]

    def add(self, index):
        self.indexes.append(index)

    def full(self):
        return len(self.indexes) == self.rows


class BatchReader:
    """fetch_array for well-formed files, for many files in a row (the web app's reads): a fetch's
    slots are read straight into one reused buffer with preadv (no bytes object per
    read, no copy to join a wrapped ring), and decoded into a row of a matrix shared by
    the reads of the same length (one large allocation instead of one per file: fresh
    small arrays cost a page fault per 4 KiB, a large one gets huge pages). One reader
    per thread, told how many reads to expect.

    `read` answers as `fetch_array(path, start, end, now)` does, or
    UNUSUAL for anything unusual (a header that does not check out, a short read,
    start > end, no `now`) so that fetch_array itself answers, and raises. `read_all`
    reads many files of one fetch, decoding those that share a window together."""

    MAX_MATRICES = 3  # distinct fetch lengths given a matrix; others get an array each
    FEW = 4  # read_all of fewer files reads them one by one (no block to set up)

    def __init__(self, reads=1):
        self.point_dtype = POINT_DTYPE
        self.point_size = self.point_dtype.itemsize
        self.meta = struct.Struct(metadataFormat)
        self.archive = struct.Struct(archiveInfoFormat)
        self.methods = aggregationTypeToMethod
        self.head_size = self.meta.size + 4 * self.archive.size + self.point_size
        self.buffer = np.empty(0, self.point_dtype)
        self.expected = np.empty(0, np.int64)  # of the last fetch window
        self.times_of = None
        self.left = reads
        self.matrices = {}  # fetch length -> [matrix, rows used]
        self.known_size, self.known_table, self.known = None, None, None  # last table

    def read(self, path, start, end, now):
        self.left = max(self.left - 1, 0)
        if now is None or start > end:
            return UNUSUAL
        fd = os.open(path, os.O_RDONLY)
        try:
            return self._read(fd, int(start), int(end), int(now))
        finally:
            os.close(fd)

    def _archives(self, fd):
        """(max_retention, [(offset, step, points)], head bytes) or None if unusual; a
        file of the previous one's size and metadata + archive table bytes (the usual
        case: one schema) reuses that one's checked table."""
        size = os.fstat(fd).st_size
        head = os.pread(fd, self.head_size, 0)
        if size == self.known_size and head.startswith(self.known_table):
            return self.known + (head,)
        found = self._check_archives(size, head)
        if found is not None:
            table_end = self.meta.size + len(found[1]) * self.archive.size
            self.known_size, self.known_table, self.known = size, head[:table_end], found
            return found + (head,)
        return None

    def _check_archives(self, size, head):
        """(max_retention, [(offset, step, points)]) from a header, or None if unusual."""
        if len(head) < self.meta.size:
            return None
        method, max_retention, xff, count = self.meta.unpack_from(head)
        table_end = self.meta.size + count * self.archive.size
        if (method not in self.methods or not 0 <= xff <= 1 or not 1 <= count <= 4
                or table_end > min(size, len(head))):
            return None
        archives = [self.archive.unpack_from(head, self.meta.size + i * self.archive.size)
                    for i in range(count)]
        for offset, step, points in archives:
            if not step or not points or offset < table_end or \
                    offset + points * self.point_size > size:
                return None
        return max_retention, archives

    def read_all(self, paths, start, end, now):
        """[read(path, start, end, now) for path in paths], with the OSError a file
        raised in place of its answer. The slots of the files that share the first
        one's window (one schema and one range: the usual case) are read a block of
        files at a time into one reused buffer and decoded by a few numpy calls per
        block instead of per file."""
        if len(paths) < self.FEW or now is None or start > end:
            return [self._read_or_error(path, start, end, now) for path in paths]
        start, end, now = int(start), int(end), int(now)
        answers = [None] * len(paths)
        block = _Block(len(paths))
        for index, path in enumerate(paths):
            self.left = max(self.left - 1, 0)
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError as exc:
                answers[index] = exc
                continue
            try:
                where = self._locate(fd, start, end, now)
                if not isinstance(where, _Slots):
                    answers[index] = where
                elif block.takes(where) and self._read_slots(fd, where, block.next_row()):
                    block.add(index)
                    if block.full():
                        self._decode_block(block, answers)
                elif block.window != (where.time_info, where.count):
                    answers[index] = self._read_located(fd, where)
                else:
                    answers[index] = UNUSUAL
            except OSError as exc:
                answers[index] = exc
            finally:
                os.close(fd)
        self._decode_block(block, answers)
        return answers

    def _read_or_error(self, path, start, end, now):
        try:
            return self.read(path, start, end, now)
        except OSError as exc:
            return exc

    def _decode_block(self, block, answers):
        """Decode the block's rows of records into rows of the result matrix."""
        if not block.indexes:
            return
        time_info, count = block.window
        values = self._rows(len(block.indexes), count)
        self._decode(block.records[:len(block.indexes)], values, time_info)
        for row, index in enumerate(block.indexes):
            answers[index] = time_info, values[row]
        block.indexes = []

    def _decode(self, records, values, time_info):
        """Records (one row or a block of rows) into values, NaN where a slot holds
        another time than the one it should."""
        first_time, _, step = time_info
        values[...] = records["v"]
        missing = records["t"] != self._times(first_time, step, records.shape[-1])
        np.copyto(values, np.nan, where=missing)

    def _read(self, fd, start, end, now):
        where = self._locate(fd, start, end, now)
        if not isinstance(where, _Slots):
            return where
        return self._read_located(fd, where)

    def _read_located(self, fd, where):
        count = where.count
        if len(self.buffer) < count:
            self.buffer = np.empty(count, self.point_dtype)
        records = self.buffer[:count]
        if not self._read_slots(fd, where, records):
            return UNUSUAL
        values = self._row(count)
        self._decode(records, values, where.time_info)
        return where.time_info, values

    def _locate(self, fd, start, end, now):
        """The _Slots a fetch reads, or its whole answer when it reads none (None, a row
        of NaN for an archive never written, UNUSUAL)."""
        found = self._archives(fd)
        if found is None:
            return UNUSUAL
        max_retention, archives, head = found
        oldest = now - max_retention
        if start > now or end < oldest:
            return None
        start, end = max(start, oldest), min(end, now)
        offset, step, points = next(((o, s, p) for o, s, p in archives if s * p >= now - start),
                                    archives[-1])
        first_time = start - start % step + step
        last_time = end - end % step + step
        if first_time == last_time:
            last_time += step
        time_info = (first_time, last_time, step)
        if offset + 4 <= len(head):
            base = int.from_bytes(head[offset:offset + 4], "big")
        else:
            base = int.from_bytes(os.pread(fd, 4, offset), "big")
        if base == 0:
            return time_info, np.full((last_time - first_time) // step, np.nan)
        first = (first_time - base) // step % points
        count = ((last_time - base) // step % points - first) % points or points
        return _Slots(time_info, offset, points, first, count)

    def _times(self, first_time, step, count):
        """The timestamps the `count` slots should hold, in a reused buffer (the files
        of one fetch mostly share them: computed again only when they change), in the
        file's own big-endian layout so the comparison needs no conversion."""
        if self.times_of == (first_time, step, count):
            return self.expected[:count]
        times = first_time + step * np.arange(count, dtype=np.int64)
        if times[-1] > 0xFFFFFFFF:  # past what a file can hold: compare as int64
            self.expected = times
        else:
            self.expected = times.astype(self.point_dtype["t"])
        self.times_of = (first_time, step, count)
        return self.expected[:count]

    def _row(self, count):
        """A float64 array of `count` values: the next row of the matrix for `count`."""
        matrix = self.matrices.get(count)
        if matrix is None and len(self.matrices) >= self.MAX_MATRICES:
            return np.empty(count)
        if matrix is None or matrix[1] == len(matrix[0]):
            matrix = self.matrices[count] = [np.empty((self.left + 1, count)), 0]
        matrix[1] += 1
        return matrix[0][matrix[1] - 1]

    def _rows(self, rows, count):
        """`rows` float64 arrays of `count` values as one (rows, count) block of the
        matrix for `count` (the next rows when they fit, else a new matrix)."""
        matrix = self.matrices.get(count)
        if matrix is None or matrix[1] + rows > len(matrix[0]):
            if matrix is None and len(self.matrices) >= self.MAX_MATRICES:
                return np.empty((rows, count))
            matrix = self.matrices[count] = [np.empty((max(self.left, 0) + rows, count)), 0]
        matrix[1] += rows
        return matrix[0][matrix[1] - rows:matrix[1]]

    def _read_slots(self, fd, where, records):
        """Read the `where.count` slots from slot `where.first` (wrapping) into the
        records; False on a short read (the file shrank)."""
        raw = memoryview(records).cast("B")
        size = self.point_size
        tail = min(where.points - where.first, where.count) * size
        if os.preadv(fd, [raw[:tail]], where.offset + where.first * size) != tail:
            return False
        return tail == len(raw) or os.preadv(fd, [raw[tail:]], where.offset) == len(raw) - tail
