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
KNOWN_NAMES_LIMIT = 1_000_000


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
        self._known = set()  # names already found valid and allowed

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
        keep = self._check_names(batch.names, result)
        keep = self._check_numbers(batch, keep, now, result)
        names = batch.names
        if keep is not None:
            index = np.flatnonzero(keep)
            names = [names[i] for i in index]
            timestamps, values = batch.timestamps[index], batch.values[index]
        else:
            timestamps, values = batch.timestamps, batch.values
        if names:
            timestamps = np.where(np.isnan(timestamps), now, timestamps).astype(np.int64)
            self.cache.add(names, timestamps, values)
            self.counters.increment("metricsReceived", len(names))
        result.accepted = len(names)
        return result

    def _check_names(self, names, result):
        unknown = set(names).difference(self._known)
        if not unknown:
            return None
        bad = {}
        for name in unknown:
            reason = self._name_rejection(name)
            if reason is None:
                if len(self._known) >= KNOWN_NAMES_LIMIT:
                    self._known.clear()
                self._known.add(name)
            else:
                bad[name] = reason
        if not bad:
            return None
        keep = np.fromiter((name not in bad for name in names), dtype=bool, count=len(names))
        for name in names:
            if name in bad:
                kind, message = bad[name]
                self._reject(result, kind, message)
        return keep

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
