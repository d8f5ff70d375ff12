"""The one validation path every receiver feeds: names, values, times, filters, cache.

A receiver frames its protocol, a parser (parse.py) turns bytes into a Batch, and
`Ingest.batch` checks it column-wise and hands what passes to the cache. Rejections are
counted under the daemon's own metric names and logged, rate-limited, by kind.
"""
import re
from dataclasses import dataclass, field

import numpy as np

from carbonish import names as metric_names
from carbonish.parse import parse_plaintext, points_to_batch

MAX_TIMESTAMP = 2 ** 32 - 1  # Whisper stores uint32 seconds


@dataclass
class Result:
    accepted: int = 0
    rejected: int = 0
    errors: list = field(default_factory=list)  # the first few reasons, for HTTP/ZeroMQ answers

    def add(self, other):
        self.accepted += other.accepted
        self.rejected += other.rejected
        self.errors.extend(other.errors[:max(0, 10 - len(self.errors))])


class CacheFull(Exception):
    """The cache is over MAX_CACHE_SIZE; points offered now are refused whole."""


class Filters:
    """USE_WHITELIST: whitelist.conf / blacklist.conf, one regex per line (carbon's rule:
    a name must match some whitelist regex, if any, and no blacklist regex)."""

    def __init__(self, whitelist=(), blacklist=()):
        self.whitelist = tuple(re.compile(p) for p in whitelist)
        self.blacklist = tuple(re.compile(p) for p in blacklist)

    @classmethod
    def load(cls, directory):
        return cls(_regex_lines(directory / "whitelist.conf"),
                   _regex_lines(directory / "blacklist.conf"))

    def check(self, name):
        """None when allowed, else the counter name of the rejection."""
        if self.whitelist and not any(p.search(name) for p in self.whitelist):
            return "whitelistRejects"
        if any(p.search(name) for p in self.blacklist):
            return "blacklistMatches"
        return None


def _regex_lines(path):
    try:
        text = path.read_text()
    except FileNotFoundError:
        return ()
    return tuple(line.strip() for line in text.splitlines()
                 if line.strip() and not line.lstrip().startswith("#"))


class Ingest:
    """Validates batches and adds them to `cache`. `clock` is an IReactorTime; `counters`
    an instrumentation.Counters; `log` a RateLimitedLog."""

    def __init__(self, cache, counters, log, clock, filters=None, max_future=3600):
        self.cache = cache
        self.counters = counters
        self.log = log
        self.clock = clock
        self.filters = filters
        self.max_future = max_future

    def plaintext(self, data):
        return self.batch(parse_plaintext(data))

    def points(self, rows):
        """[(name, (timestamp, value)), ...]"""
        return self.batch(points_to_batch(rows))

    def batch(self, batch):
        result = Result()
        for kind, message in batch.errors:
            self._reject(result, kind, message)
        if not len(batch):
            return result
        now = self.clock.seconds()
        ids = self.cache.ids(batch.names)
        keep = self._check_new_names(batch.names, ids, result) if None in ids else None
        keep = self._check_numbers(batch, keep, now, result)
        timestamps, values = batch.timestamps, batch.values
        if keep is not None:
            index = np.flatnonzero(keep)
            ids = [ids[i] for i in index]
            timestamps, values = timestamps[index], values[index]
        if ids:
            timestamps = np.where(np.isnan(timestamps), now, timestamps).astype(np.int64)
            self.cache.add_ids(np.array(ids, dtype=np.int64), timestamps, values)
            self.counters.increment("metricsReceived", len(ids))
        result.accepted = len(ids)
        return result

    def _check_new_names(self, names, ids, result):
        """Names the cache has no id for yet: valid and allowed ones get one (`ids` is
        filled in place); the rest are rejected. Returns the keep mask, or None."""
        verdicts = {}
        for i, name in enumerate(names):
            if ids[i] is not None:
                continue
            if name not in verdicts:
                reason = self._name_rejection(name)
                verdicts[name] = self.cache.register(name) if reason is None else reason
            verdict = verdicts[name]
            if isinstance(verdict, int):
                ids[i] = verdict
            else:
                self._reject(result, *verdict)
        if all(isinstance(v, int) for v in verdicts.values()):
            return None
        return np.fromiter((i is not None for i in ids), dtype=bool, count=len(ids))

    def _name_rejection(self, name):
        try:
            metric_names.validate_name(name)
        except metric_names.InvalidMetricName as exc:
            return "invalidNames", str(exc)
        if self.filters is not None:
            kind = self.filters.check(name)
            if kind:
                return kind, f"{name!r} refused by {kind[:5]}list"
        return None

    def _check_numbers(self, batch, keep, now, result):
        values, timestamps = batch.values, batch.timestamps
        finite = np.isfinite(values)
        when = np.where(np.isnan(timestamps), now, timestamps)
        in_range = (when >= 0) & (when <= min(now + self.max_future, MAX_TIMESTAMP))
        good = finite & in_range
        if good.all():
            return keep
        already = keep if keep is not None else np.ones(len(values), dtype=bool)
        for i in np.flatnonzero(already & ~finite):
            self._reject(result, "invalidValues", f"{batch.names[i]}: value {values[i]!r} is not finite")
        for i in np.flatnonzero(already & finite & ~in_range):
            self._reject(result, "invalidTimestamps",
                         f"{batch.names[i]}: timestamp {timestamps[i]:.0f} is out of range")
        return already & good

    def _reject(self, result, kind, message):
        result.rejected += 1
        if len(result.errors) < 10:
            result.errors.append(message)
        self.counters.increment(kind)
        self.counters.increment("errors")
        self.log.error(kind, message)
