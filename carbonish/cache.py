"""The write-back cache: points accepted but not yet on disk, held as numpy columns.

Receivers add whole batches (the reactor thread); the writer thread groups them by
metric, takes one metric at a time to write, and only forgets its points once they are
on disk, so a point is readable through `query` from the moment it is accepted until the
file has it (carbon-cache drops a metric from its cache before writing it, and graphs dip).

    add() ──► segments ──group()──► groups ──begin_write()──► writing[id] ──end_write()──► gone
             (ids, ts, values)   (points sorted by id)         (ts, values)

A group is one sorted batch of points held as arrays with the ids it holds and where
each one's points start and end: no Python object per metric (20,000 new metrics over
three groups made 60,000 small views and tuples, 18 MB). A metric's points are found by
binary search in each group; a group is dropped once all its metrics are taken.
"""
import threading

import numpy as np

GROUP_BATCH = 200_000
EMPTY_TS = np.empty(0, dtype=np.int64)
EMPTY_VALUES = np.empty(0, dtype=np.float64)


class MetricCache:
    """Thread-safe: `add` and `query` from the reactor, the rest from the writer."""

    def __init__(self, max_size=float("inf"), low_watermark=None, backlog_limit=float("inf")):
        self.max_size = max_size
        self.low_watermark = max_size * 0.95 if low_watermark is None else low_watermark
        # Senders that can wait (TCP) are paused at `pause_at` and resumed at `resume_at`:
        # at MAX_CACHE_SIZE as carbon does, and also past the backlog limit, which bounds
        # memory without dropping anything when MAX_CACHE_SIZE is inf.
        self.pause_at = min(max_size, backlog_limit)
        self.resume_at = min(self.low_watermark, backlog_limit / 2)
        self.paused = False
        self._lock = threading.Lock()
        self._ids = {}
        self._names = []
        self._segments = []
        self._groups = []
        self._returned = {}  # id -> [(ts, values)]: put back by abort_write, oldest parts
        self._writing = {}
        self.size = 0
        self.full = False
        self._on_resume = []
        self._wakeup = threading.Event()
        self._pressure = threading.Event()

    # --- reactor side -------------------------------------------------------------------

    def add(self, names, timestamps, values):
        """Add parallel columns (list of str, int64 array, float64 array)."""
        ids = [self._ids.get(name) for name in names]
        for i, name in enumerate(names):
            if ids[i] is None:
                ids[i] = self.register(name)
        self.add_ids(np.array(ids, dtype=np.int64), timestamps, values)

    def ids(self, names):
        """The id of every name, None for a name the cache has not seen."""
        get = self._ids.get
        return [get(name) for name in names]

    def register(self, name):
        """Give `name` an id (the Ingest registers only names it found valid)."""
        metric = self._ids.get(name)
        if metric is None:
            metric = self._ids[name] = len(self._names)
            self._names.append(name)
        return metric

    def add_ids(self, ids, timestamps, values):
        with self._lock:
            self._segments.append((ids, timestamps, values))
            self.size += len(ids)
            if self.size >= self.pause_at:
                self.paused = True
                self._pressure.set()
                if self.size >= self.max_size:
                    self.full = True
        self._wakeup.set()

    def on_resume(self, callback):
        """Call `callback()` (from the writer thread) when a paused cache drains to
        `resume_at`."""
        self._on_resume.append(callback)

    def query(self, name):
        """All points held for `name`, sorted by timestamp, the latest arrival winning
        for a repeated timestamp: a list of (timestamp, value)."""
        timestamps, values = self.query_arrays(name)
        return list(zip(timestamps.tolist(), values.tolist()))

    def query_arrays(self, name):
        metric = self._ids.get(name)
        if metric is None:
            return EMPTY_TS, EMPTY_VALUES
        with self._lock:
            parts = []
            if metric in self._writing:
                parts.append(self._writing[metric])
            parts.extend(self._staged_parts(metric))
            for ids, timestamps, values in self._segments:
                mine = ids == metric
                if mine.any():
                    parts.append((timestamps[mine], values[mine]))
        return _latest_wins(parts)

    def writing(self, name):
        """Whether the writer has taken `name`'s points to write them (and may be making
        its file)."""
        metric = self._ids.get(name)
        with self._lock:
            return metric is not None and metric in self._writing

    @property
    def queues(self):
        """How many metrics have points waiting."""
        with self._lock:
            waiting = set(self._returned) | set(self._writing)
            for group in self._groups:
                waiting.update(group.waiting().tolist())
            for ids, _, _ in self._segments:
                waiting.update(np.unique(ids).tolist())
        return len(waiting)

    # --- writer side ----------------------------------------------------------------------

    def wait(self, timeout):
        """Block the writer until something is added or `timeout` passes."""
        self._wakeup.wait(timeout)
        self._wakeup.clear()

    def wait_for_pressure(self, timeout):
        """Block the writer until the cache pauses its senders (or `wake`), at most
        `timeout` seconds: between passes it lets points gather, but not past that."""
        self._pressure.wait(timeout)
        self._pressure.clear()

    def wake(self):
        self._wakeup.set()
        self._pressure.set()

    def group(self):
        """Move the added segments into groups, an argsort per batch of up to
        GROUP_BATCH points (so the copies a batch needs stay small)."""
        while self._group_batch():
            pass

    def _group_batch(self):
        with self._lock:
            count, points = 0, 0
            while count < len(self._segments) and (not count or points < GROUP_BATCH):
                points += len(self._segments[count][0])
                count += 1
            segments = self._segments[:count]
        if not segments:
            return False
        group = _Group(np.concatenate([s[0] for s in segments]),
                       np.concatenate([s[1] for s in segments]),
                       np.concatenate([s[2] for s in segments]))
        with self._lock:
            self._groups.append(group)
            del self._segments[:count]
        return True

    def plan(self, strategy="sorted"):
        """Metric ids to write, in the order `strategy` says (carbon's CACHE_WRITE_STRATEGY):
        sorted: most points first; max: only the one with the most; naive: as they came."""
        with self._lock:
            ids = [group.waiting() for group in self._groups]
            counts = [group.waiting_counts() for group in self._groups]
            returned = [(metric, sum(len(p[0]) for p in parts))
                        for metric, parts in self._returned.items()]
        if returned:
            ids.insert(0, np.array([m for m, _ in returned], dtype=np.int64))
            counts.insert(0, np.array([c for _, c in returned], dtype=np.int64))
        if not ids:
            return []
        ids, counts = np.concatenate(ids), np.concatenate(counts)
        # ids in order of first appearance (the groups are in arrival order), points summed
        unique, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
        totals = np.bincount(inverse, weights=counts, minlength=len(unique))
        arrival = np.argsort(first, kind="stable")
        if strategy == "naive":
            return unique[arrival].tolist()
        ordered = arrival[np.argsort(-totals[arrival], kind="stable")]
        return unique[ordered[:1] if strategy == "max" else ordered].tolist()

    def begin_write(self, metric):
        """Take a metric's staged points for writing: (name, timestamps, values).
        They stay visible to `query` until `end_write`."""
        with self._lock:
            parts = self._staged_parts(metric, take=True)
            if len(parts) == 1:
                points = parts[0]
            elif parts:
                points = (np.concatenate([p[0] for p in parts]),
                          np.concatenate([p[1] for p in parts]))
            else:
                points = (EMPTY_TS, EMPTY_VALUES)
            self._writing[metric] = points
        return self._names[metric], points[0], points[1]

    def _staged_parts(self, metric, take=False):
        """The metric's grouped points, oldest first (the lock held); `take` removes them."""
        parts = list(self._returned.pop(metric, ()) if take else self._returned.get(metric, ()))
        emptied = False
        for group in self._groups:
            part = group.points_of(metric, take)
            if part is not None:
                parts.append(part)
                emptied = emptied or group.sparse()
        if emptied:  # drop empty groups; copy out the few points a mostly-taken one holds
            self._groups = [group.compacted() for group in self._groups if group.left]
        return parts

    def abort_write(self, metric):
        """Put a metric's points back (its write is deferred, e.g. by the create limit)."""
        with self._lock:
            points = self._writing.pop(metric)
            self._returned.setdefault(metric, []).insert(0, points)

    def end_write(self, metric):
        """The metric's points are on disk (or were refused by the file): forget them."""
        resume = False
        with self._lock:
            timestamps, _ = self._writing.pop(metric)
            self.size -= len(timestamps)
            if self.full and self.size <= self.low_watermark:
                self.full = False
            if self.paused and self.size <= self.resume_at:
                self.paused = False
                resume = True
        if resume:
            for callback in self._on_resume:
                callback()

    def name_of(self, metric):
        return self._names[metric]


class _Group:
    """One grouped batch: its points sorted by metric id (stable, so each metric's points
    keep their arrival order), the ids it holds and where each one's points start/end."""

    __slots__ = ("ids", "bounds", "timestamps", "values", "taken", "left")

    def __init__(self, ids, timestamps, values):
        order = np.argsort(ids, kind="stable")
        ids = ids[order]
        self.timestamps = timestamps[order]
        self.values = values[order]
        starts = np.flatnonzero(np.concatenate(([True], ids[1:] != ids[:-1])))
        self.ids = ids[starts]
        self.bounds = np.append(starts, len(ids))
        self.taken = np.zeros(len(self.ids), dtype=bool)
        self.left = len(self.ids)

    def waiting(self):
        return self.ids[~self.taken]

    def waiting_counts(self):
        return np.diff(self.bounds)[~self.taken]

    def sparse(self):
        """Empty, or holding few of its points: worth dropping or compacting."""
        return not self.left or (self.left * 8 < len(self.ids) and len(self.values) > 4096)

    def compacted(self):
        """This group, or a smaller copy of what it still holds when it is sparse (a
        metric deferred for the create limit would otherwise keep a whole batch alive)."""
        if not self.sparse():
            return self
        keep = np.repeat(~self.taken, np.diff(self.bounds))
        return _Group(np.repeat(self.ids, np.diff(self.bounds))[keep],
                      self.timestamps[keep], self.values[keep])

    def points_of(self, metric, take):
        """(timestamps, values) of `metric` if this group holds some not yet taken."""
        index = int(np.searchsorted(self.ids, metric))
        if index == len(self.ids) or self.ids[index] != metric or self.taken[index]:
            return None
        if take:
            self.taken[index] = True
            self.left -= 1
        start, end = self.bounds[index], self.bounds[index + 1]
        return self.timestamps[start:end], self.values[start:end]


def _latest_wins(parts):
    """Concatenate (ts, values) parts in arrival order; one point per timestamp, the last."""
    if not parts:
        return EMPTY_TS, EMPTY_VALUES
    timestamps = np.concatenate([p[0] for p in parts])
    values = np.concatenate([p[1] for p in parts])
    reversed_ts = timestamps[::-1]
    unique, first = np.unique(reversed_ts, return_index=True)
    return unique, values[::-1][first]
