"""Where series come from: whisper files under LOCAL_DATA_DIR merged with the points
the cache daemons still hold, and other graphite-web or carbonish nodes
(CLUSTER_SERVERS) over graphite-web's cluster protocol.

Path expressions use Graphite's wildcards, matched one node (one directory level) at
a time, so none crosses a dot: `*`, `?`, `[a-z0-9]` / `[!x]` as fnmatch, and
`{a,b}` alternatives. A pattern is checked before any file system call: a `/`, a
backslash, a control character or an empty node (leading, trailing or doubled dot) is
an InputError, so no expression resolves outside the data directory (graphite-web
1.1.10 reads any `.wsp` on the disk through an absolute path). Hidden entries (a
name starting with a dot) are never listed.
"""
import fcntl
import fnmatch
import io
import logging
import os
import pickle
import re
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode
from urllib.request import urlopen
from dataclasses import dataclass, field

import numpy as np

from carbonish.names import SUFFIX
from carbonish.whisper import UNUSUAL
from webapp.errors import InputError

log = logging.getLogger(__name__)

WSP = SUFFIX  # the one file suffix, carbonish.names
PARALLEL_FETCH_MIN = 256  # leaves in one fetch before it is split over threads
_LITERAL = re.compile(r"[*?\[{]")
_WILDCARD = re.compile(r"[*?\[]")
_BRACES = re.compile(r"\{([^{}]*)\}")
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f/\\]")


class PatternError(InputError):
    """A path expression that cannot be resolved safely; carries the pattern."""

    def __init__(self, pattern, reason):
        super().__init__(f"invalid path expression {pattern!r}: {reason}")
        self.pattern = pattern


class Node:
    """A match of a path expression: a branch (folder) or a leaf (series).

    A plain slotted class: a find over thousands of entries makes one per entry."""

    __slots__ = ("path", "is_leaf", "fs_path", "intervals", "name")

    def __init__(self, path, is_leaf, fs_path=None, intervals=(), name=None):
        self.path = path
        self.is_leaf = is_leaf
        self.fs_path = fs_path
        self.intervals = intervals
        self.name = name if name is not None else path.rpartition(".")[2]

    def _key(self):
        return (self.path, self.is_leaf, self.fs_path, self.intervals)

    def __eq__(self, other):
        return isinstance(other, Node) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        return f"Node({self.path!r}, {self.is_leaf!r}, {self.fs_path!r}, {self.intervals!r})"


@dataclass
class FetchResult:
    """The points of one leaf for one path expression."""

    name: str
    path_expression: str
    start: int
    end: int
    step: int
    values: np.ndarray = field(repr=False)


def split_pattern(pattern):
    """The nodes of a path expression, checked; raises PatternError."""
    if not isinstance(pattern, str) or not pattern:
        raise PatternError(pattern, "empty")
    bad = _FORBIDDEN.search(pattern)
    if bad:
        raise PatternError(pattern, f"contains {bad.group()!r}")
    nodes = pattern.split(".")
    if any(not node for node in nodes):
        raise PatternError(pattern, "empty node (leading, trailing or doubled dot)")
    return nodes


def expand_braces(text):
    """`a{b,c}d{e,f}` -> ['abde', 'abdf', 'acde', 'acdf'] (first occurrence order)."""
    match = _BRACES.search(text)
    if match is None:
        return [text]
    out = []
    for choice in match.group(1).split(","):
        for variant in expand_braces(text[:match.start()] + choice + text[match.end():]):
            if variant not in out:
                out.append(variant)
    return out


class NodeMatcher:
    """Matches directory entries against one node of a pattern."""

    def __init__(self, node):
        variants = expand_braces(node)
        self.literals = [v for v in variants if not _WILDCARD.search(v)]
        globs = [v for v in variants if _WILDCARD.search(v)]
        self.regex = re.compile("|".join(fnmatch.translate(g) for g in globs)) if globs else None
        self.everything = "*" in globs

    @property
    def has_wildcard(self):
        return self.regex is not None

    def filter(self, names):
        if self.regex is None:
            wanted = set(self.literals)
            return [n for n in names if n in wanted]
        if self.everything:  # a lone `*` (hidden names are never listed)
            return list(names)
        match = self.regex.match
        literals = set(self.literals)
        return [n for n in names if n in literals or match(n)]


def _scan(directory):
    """(subdirectory names, leaf names) in `directory`, hidden entries left out."""
    dirs, leaves = [], []
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                name = entry.name
                if name[0] == ".":
                    continue
                if name.endswith(WSP):  # a node holds no dot, so this is never a folder
                    leaves.append(name[:-4])
                elif entry.is_dir():
                    dirs.append(name)
    except (FileNotFoundError, NotADirectoryError):
        pass
    return dirs, leaves


def _node_order(node):
    return (node.path, node.is_leaf)


class LocalFinder:
    """Whisper files under `data_dir`, merged with carbonlink points.

    `storage` provides `fetch_array(path, from, until, now)`, `file_fetch_array(fh, ...)`
    and `info(path)` (the carbonish.whisper module by default); `carbonlink` provides
    `query_bulk(names)`. With `lock_reads` (the cache's WHISPER_LOCK_WRITES) a file is
    read under a shared flock, so a write holding the exclusive lock is never seen half
    done."""

    def __init__(self, data_dir, storage=None, carbonlink=None, fetch_threads=1,
                 parallel_min=PARALLEL_FETCH_MIN, lock_reads=False):
        self.data_dir = os.fspath(data_dir)
        self.lock_reads = lock_reads
        self.fetch_threads = fetch_threads
        self.parallel_min = parallel_min
        if storage is None:
            from carbonish import whisper as storage
        self.storage = storage
        self.carbonlink = carbonlink
        storage_error = (getattr(storage, "WhisperException", None)
                         or getattr(storage, "CorruptWhisperFile", None))
        self.read_errors = (OSError, ValueError) + ((storage_error,) if storage_error else ())

    def find(self, pattern):
        """Nodes matching `pattern`, sorted by path (a path may be a branch and a leaf)."""
        nodes = split_pattern(pattern)
        level = [("", self.data_dir)]
        for node in nodes[:-1]:
            level = self._descend(level, NodeMatcher(node))
        found = self._last_level(level, NodeMatcher(nodes[-1]))
        found.sort(key=_node_order)
        return found

    @staticmethod
    def _descend(level, matcher):
        out = []
        for prefix, directory in level:
            if matcher.has_wildcard:
                names = matcher.filter(_scan(directory)[0])
            else:
                names = [n for n in matcher.literals if os.path.isdir(os.path.join(directory, n))]
            out.extend((prefix + name + ".", os.path.join(directory, name)) for name in names)
        return out

    @staticmethod
    def _last_level(level, matcher):
        found = []
        for prefix, directory in level:
            if matcher.has_wildcard:
                dirs, leaves = _scan(directory)
                dirs, leaves = matcher.filter(dirs), matcher.filter(leaves)
            else:
                dirs = [n for n in matcher.literals if os.path.isdir(os.path.join(directory, n))]
                leaves = [n for n in matcher.literals
                          if os.path.isfile(os.path.join(directory, n + WSP))]
            base = directory + os.sep
            found.extend([Node(prefix + n, False, None, (), n) for n in dirs])
            found.extend([Node(prefix + n, True, base + n + WSP, (), n) for n in leaves])
        return found

    def index(self):
        """Every series name under the data directory, sorted (/metrics/index.json)."""
        names = []
        for root, dirs, files in os.walk(self.data_dir):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            relative = os.path.relpath(root, self.data_dir)
            prefix = "" if relative == "." else relative.replace(os.sep, ".") + "."
            names.extend(prefix + f[:-len(WSP)] for f in files
                         if f.endswith(WSP) and not f.startswith("."))
        names.sort()
        return names

    def intervals(self, node, now):
        """((start, end),) a leaf covers: its retention up to its last write."""
        info = self.storage.info(node.fs_path)
        if info is None:
            return ()
        start = now - info["maxRetention"]
        return ((start, max(os.stat(node.fs_path).st_mtime, start)),)

    def find_leaves(self, pattern):
        """The leaves of `pattern`; a plain name costs one stat."""
        nodes = split_pattern(pattern)
        if _LITERAL.search(pattern) is None:
            path = os.path.join(self.data_dir, *nodes) + WSP
            return [Node(pattern, True, path, (), nodes[-1])] if os.path.isfile(path) else []
        return [node for node in self.find(pattern) if node.is_leaf]

    def fetch(self, patterns, start, end, now):
        """[FetchResult] for every leaf of every pattern, cache points merged in.

        Many leaves can be read by `fetch_threads` threads (file reads release the GIL);
        the default is one: with whisper.BatchReader most of a read holds the GIL, and two
        threads took 105 ms for 1,000 files where one took 77 ms."""
        leaves = [(pattern, node) for pattern in patterns for node in self.find_leaves(pattern)]
        cached = self._cached_points({node.path for _, node in leaves})

        def read(chunk):
            reader = self._reader(len(chunk))
            if reader is None:
                answers = [UNUSUAL] * len(chunk)
            else:
                answers = reader.read_all([node.fs_path for _, node in chunk], start, end, now)
            out = []
            for (pattern, node), answer in zip(chunk, answers):
                result = self._fetch_leaf(pattern, node, start, end, now,
                                          cached.get(node.path), answer)
                if result is not None:
                    out.append(result)
            return out
        workers = self.fetch_threads if len(leaves) >= self.parallel_min else 1
        if workers <= 1:
            return read(leaves)
        size = -(-len(leaves) // workers)
        chunks = [leaves[i:i + size] for i in range(0, len(leaves), size)]
        with ThreadPoolExecutor(max_workers=len(chunks) - 1) as pool:
            others = [pool.submit(read, chunk) for chunk in chunks[1:]]
            results = read(chunks[0])
            for future in others:
                results.extend(future.result())
        return results

    def _storage_fetch(self, path, start, end, now):
        if self.lock_reads:
            return self._locked_fetch(path, start, end, now)
        return self.storage.fetch_array(path, start, end, now)

    def _locked_fetch(self, path, start, end, now):
        with open(path, "rb") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_SH)
            return self.storage.file_fetch_array(fh, start, end, now)

    def _cached_points(self, names):
        if self.carbonlink is None or not names:
            return {}
        return self.carbonlink.query_bulk(sorted(names))

    def _reader(self, reads):
        """A whisper.BatchReader when reading carbonish's own whisper files without locks."""
        from carbonish import whisper
        if self.storage is whisper and not self.lock_reads:
            return whisper.BatchReader(reads)
        return None

    def _fetch_leaf(self, pattern, node, start, end, now, cached, fetched=UNUSUAL):
        """`fetched`: the BatchReader's answer for the leaf (UNUSUAL: ask the storage;
        an exception: what reading it raised)."""
        try:
            if isinstance(fetched, Exception):
                raise fetched
            if fetched is UNUSUAL:
                fetched = self._storage_fetch(node.fs_path, start, end, now)
        except self.read_errors as exc:
            log.warning("cannot read %s: %s", node.fs_path, exc)
            return None
        if fetched is None:
            return None
        (first, last, step), values = fetched
        values = np.asarray(values, dtype=np.float64)  # no copy: series never mutate it
        info = self.storage.info(node.fs_path) if cached else None
        if info is not None:
            values = values.copy()
            merge_cache_points(values, first, step, cached, info["aggregationMethod"],
                               info["archives"][0]["secondsPerPoint"])
        return FetchResult(node.path, pattern, first, last, step, values)


def merge_cache_points(values, start, step, points, method, raw_step):
    """Overwrite `values` (in place) with cached (timestamp, value) points, as
    graphite-web's merge_with_cache: the last point per raw interval wins, then points
    are aggregated with the file's method when the fetch step is coarser."""
    latest = {}
    for timestamp, value in points:
        if value is None:
            continue
        timestamp = int(timestamp)
        latest[timestamp - timestamp % raw_step] = float(value)
    if not latest:
        return values
    times = np.fromiter(latest.keys(), dtype=np.int64, count=len(latest))
    points_values = np.fromiter(latest.values(), dtype=np.float64, count=len(latest))
    if step != raw_step:
        times, points_values = _aggregate(times - times % step, points_values, method)
    index = (times - start) // step
    inside = (index >= 0) & (index < len(values))
    values[index[inside]] = points_values[inside]
    return values


def _aggregate(buckets, values, method):
    order = np.argsort(buckets, kind="stable")
    buckets, values = buckets[order], values[order]
    unique, first = np.unique(buckets, return_index=True)
    counts = np.diff(np.append(first, len(buckets)))
    if method == "sum":
        out = np.add.reduceat(values, first)
    elif method == "max":
        out = np.maximum.reduceat(values, first)
    elif method == "min":
        out = np.minimum.reduceat(values, first)
    elif method == "last":
        out = values[first + counts - 1]
    else:  # average, avg_zero (cache points are never None), absmax/absmin fall back
        out = np.add.reduceat(values, first) / counts
    return unique, out


class RemoteError(Exception):
    """A cluster server that failed or answered badly; carries the server."""

    def __init__(self, server, reason):
        super().__init__(f"cluster server {server}: {reason}")
        self.server = server
        self.reason = reason


class _Interval:
    """Stand-in for graphite.intervals.Interval when unpickling a graphite-web answer."""


class _IntervalSet:
    """Stand-in for graphite.intervals.IntervalSet (attributes restored by BUILD)."""


class _ClusterUnpickler(pickle.Unpickler):
    """Plain data plus graphite-web's two interval classes, mapped to inert stand-ins."""

    ALLOWED = {("graphite.intervals", "Interval"): _Interval,
               ("graphite.intervals", "IntervalSet"): _IntervalSet}

    def find_class(self, module, name):
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise RemoteError("?", f"refused pickle global {module}.{name}") from None


def _interval_tuples(intervals):
    if isinstance(intervals, _IntervalSet):
        intervals = getattr(intervals, "intervals", [])
    out = []
    for interval in intervals or ():
        if isinstance(interval, _Interval):
            interval = (getattr(interval, "start", 0), getattr(interval, "end", 0))
        out.append((interval[0], interval[1]))
    return tuple(out)


def decode_cluster_pickle(server, payload):
    try:
        return _ClusterUnpickler(io.BytesIO(payload), encoding="utf-8").load()
    except RemoteError as exc:
        raise RemoteError(server, exc.reason) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError,
            KeyError, AttributeError, RecursionError) as exc:
        raise RemoteError(server, f"malformed pickle: {exc}") from None


class RemoteFinder:
    """One CLUSTER_SERVERS entry, asked as graphite-web asks a peer:
    `/metrics/find/?local=1&format=pickle` and `/render/?local=1&format=pickle`.

    `http_get(url, timeout) -> bytes` does the request (urllib by default) and raises
    OSError on failure; a failed server is skipped for `retry_delay` seconds."""

    def __init__(self, server, find_timeout=3.0, fetch_timeout=6.0, retry_delay=60.0,
                 http_get=None, clock=time.monotonic):
        self.server = server
        self.base = server if "://" in server else f"http://{server}"
        self.find_timeout = find_timeout
        self.fetch_timeout = fetch_timeout
        self.retry_delay = retry_delay
        self.http_get = http_get or _urllib_get
        self.clock = clock
        self.failed_at = None

    @property
    def available(self):
        return self.failed_at is None or self.clock() - self.failed_at >= self.retry_delay

    def _get(self, path, fields, timeout):
        url = f"{self.base}{path}?{urlencode(fields)}"
        try:
            payload = self.http_get(url, timeout)
            return decode_cluster_pickle(self.server, payload)
        except (OSError, RemoteError) as exc:
            self.failed_at = self.clock()
            raise RemoteError(self.server, getattr(exc, "reason", None) or str(exc)) from None

    def find(self, pattern, start=None, end=None):
        fields = [("local", "1"), ("format", "pickle"), ("query", pattern)]
        if start is not None:
            fields.append(("from", int(start)))
        if end is not None:
            fields.append(("until", int(end)))
        answer = self._get("/metrics/find/", fields, self.find_timeout)
        nodes = []
        for info in answer if isinstance(answer, list) else ():
            path = info.get("path") or info.get("metric_path")
            if not isinstance(path, str):
                continue
            is_leaf = bool(info.get("is_leaf") or info.get("isLeaf"))
            nodes.append(Node(path, is_leaf, None, _interval_tuples(info.get("intervals"))))
        return nodes

    def fetch(self, patterns, start, end, now):
        fields = [("format", "pickle"), ("local", "1"), ("noCache", "1"),
                  ("from", int(start)), ("until", int(end))]
        fields += [("target", p) for p in patterns]
        if now is not None:
            fields.append(("now", int(now)))
        answer = self._get("/render/", fields, self.fetch_timeout)
        try:
            return [_remote_result(info) for info in answer]
        except (KeyError, TypeError, ValueError) as exc:
            self.failed_at = self.clock()
            raise RemoteError(self.server, f"invalid render answer: {exc!r}") from None


def _remote_result(info):
    values = np.array([np.nan if v is None else v for v in info["values"]], dtype=np.float64)
    return FetchResult(str(info["name"]), str(info.get("pathExpression", info["name"])),
                       int(info["start"]), int(info["end"]), int(info["step"]), values)


def _urllib_get(url, timeout):
    with urlopen(url, timeout=timeout) as response:  # noqa: S310 - configured peers only
        return response.read()


class Store:
    """The local finder plus the cluster servers, merged as graphite-web's STORE."""

    def __init__(self, local, remotes=()):
        self.local = local
        self.remotes = list(remotes)

    def _remotes(self, local_only):
        return [] if local_only else [r for r in self.remotes if r.available]

    def find(self, pattern, start=None, end=None, local_only=False):
        remotes = self._remotes(local_only)
        if not remotes:
            return self.local.find(pattern)
        nodes = {(n.path, n.is_leaf): n for n in self.local.find(pattern)}
        for remote, answer in _ask_all(remotes, lambda r: r.find(pattern, start, end)):
            for node in answer:
                nodes.setdefault((node.path, node.is_leaf), node)
        return [nodes[key] for key in sorted(nodes)]

    def fetch(self, patterns, start, end, now, local_only=False):
        """{pattern: [FetchResult sorted by name]}; one result per name, the most
        complete copy winning and its gaps filled from the others (same length)."""
        results = list(self.local.fetch(patterns, start, end, now))
        for remote, answer in _ask_all(self._remotes(local_only),
                                       lambda r: r.fetch(patterns, start, end, now)):
            results.extend(answer)
        by_pattern = {pattern: {} for pattern in patterns}
        for result in results:
            chosen = by_pattern.setdefault(result.path_expression, {})
            known = chosen.get(result.name)
            chosen[result.name] = result if known is None else _merge(known, result)
        return {p: [chosen[k] for k in sorted(chosen)] for p, chosen in by_pattern.items()}

    def index(self, local_only=False):
        return self.local.index()


def _merge(known, candidate):
    known_gaps = int(np.isnan(known.values).sum())
    candidate_gaps = int(np.isnan(candidate.values).sum())
    if known_gaps <= candidate_gaps or not len(candidate.values):
        return known
    if len(known.values) == len(candidate.values):
        merged = np.where(np.isnan(known.values), candidate.values, known.values)
        known.values = merged
        return known
    return candidate


def _ask_all(remotes, ask):
    """(remote, answer) for each remote that answered; failures are logged."""
    if not remotes:
        return []
    answers = []
    with ThreadPoolExecutor(max_workers=len(remotes)) as pool:
        futures = [(remote, pool.submit(ask, remote)) for remote in remotes]
        for remote, future in futures:
            try:
                answers.append((remote, future.result()))
            except RemoteError as exc:
                log.warning("%s; answering without it", exc)
    return answers
