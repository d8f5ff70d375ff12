"""The writer: drains the cache into Whisper files on its own thread.

It never runs on the reactor thread. Metrics are written in CACHE_WRITE_STRATEGY order,
at most MAX_UPDATES_PER_SECOND update operations a second and MAX_CREATES_PER_MINUTE new
files a minute; a metric whose file may not be created yet keeps its points in the cache
(carbon drops them). On stop it writes everything left, creates included, then returns.
"""
import math
import os
import threading
import time
from dataclasses import dataclass

from twisted.application.service import Service
from twisted.internet import defer

from carbonish import names, whisper


# What became of a metric without a file in a pass: READY for an update; DONE: made with
# its points; DEFERRED: its points wait (the create limit); FAILED: not made (DROPPED:
# and the points it was to be made with were dropped, counted).
READY, DONE, DEFERRED, FAILED, DROPPED = "ready", "done", "deferred", "failed", "dropped"


class TokenBucket:
    """`rate` tokens a second up to `capacity`; `clock()` returns seconds."""

    def __init__(self, capacity, rate, clock):
        self.capacity = capacity
        self.rate = rate
        self.clock = clock
        self.tokens = capacity
        self._stamp = clock()

    def take(self):
        if math.isinf(self.capacity):
            return True
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def wait_time(self):
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate


def per_second_bucket(per_second, clock):
    return TokenBucket(per_second, per_second, clock)


def per_minute_bucket(per_minute, clock):
    return TokenBucket(per_minute, per_minute / 60.0, clock)


@dataclass(frozen=True)
class WriterOptions:
    data_dir: str
    strategy: str = "sorted"
    max_updates_per_second: float = math.inf
    max_updates_per_second_on_shutdown: float = math.inf
    max_creates_per_minute: float = math.inf
    sparse: bool = False
    fallocate: bool = True
    lock: bool = False
    autoflush: bool = False
    log_creates: bool = False

    @classmethod
    def from_settings(cls, cache):
        return cls(
            data_dir=str(cache.LOCAL_DATA_DIR),
            strategy=cache.CACHE_WRITE_STRATEGY,
            max_updates_per_second=cache.MAX_UPDATES_PER_SECOND,
            max_updates_per_second_on_shutdown=cache.MAX_UPDATES_PER_SECOND_ON_SHUTDOWN,
            max_creates_per_minute=cache.MAX_CREATES_PER_MINUTE,
            sparse=cache.WHISPER_SPARSE_CREATE,
            fallocate=cache.WHISPER_FALLOCATE_CREATE,
            lock=cache.WHISPER_LOCK_WRITES,
            autoflush=cache.WHISPER_AUTOFLUSH,
            log_creates=cache.LOG_CREATES,
        )


class Writer:
    """One pass at a time; `run` loops passes on the writer thread until stopped."""

    IDLE_WAIT = 0.2
    # After a pass, let points gather for this long before the next one (unless the cache
    # presses): fewer, larger updates, and the receivers keep the GIL meanwhile.
    PASS_INTERVAL = 1.0

    def __init__(self, cache, rules, options, counters, log, clock=time.monotonic, now=time.time):
        self.cache = cache
        self.rules = rules
        self.options = options
        self.counters = counters
        self.log = log
        self.clock = clock
        self.now = now
        self.updates = per_second_bucket(options.max_updates_per_second, clock)
        self.creates = per_minute_bucket(options.max_creates_per_minute, clock)
        self.stopping = threading.Event()
        self._paths = {}  # metric id -> its file's path; ids are stable in a daemon
        self._existing = set()  # ids whose file is known to exist
        self._folders = set()  # folders known to exist

    def write_pass(self, shutdown=False, new_only=False):
        """Write what the plan allows; returns how many metrics were written. `new_only`:
        only metrics that have no file yet (their files are made, points included)."""
        self.cache.group()
        plan = self.cache.plan(self.options.strategy)
        if new_only:
            plan = [metric for metric in plan if metric not in self._existing]
        states = self._new_files(plan, shutdown)
        written = sum(state is DONE for state in states.values())
        for metric in plan:
            state = states.get(metric)
            if state is DEFERRED or state is DONE or state is DROPPED:
                continue
            if not self.updates.take():
                break
            name, timestamps, values = self.cache.begin_write(metric)
            if state is FAILED:
                self.counters.increment("droppedPoints", len(timestamps))
                self.cache.end_write(metric)
            elif self._update(name, self._path(metric), timestamps, values):
                self.cache.end_write(metric)
                written += 1
            else:  # the file went away under us: create it again next pass
                self._existing.discard(metric)
                self.cache.abort_write(metric)
        return written

    def _path(self, metric):
        path = self._paths.get(metric)
        if path is None:
            name = self.cache.name_of(metric)
            path = self._paths[metric] = names.valid_name_to_path(self.options.data_dir, name)
        return path

    def _new_files(self, plan, shutdown):
        """Make files for the plan's metrics that have none: {metric: state} for those
        not READY for an update.
        While the update limit allows, a file is made with the points it has in one go
        (whisper.create_with_points: one open, no header read). One at a time: ext4
        serialises creates in the kernel, and threads only add hand-offs (measured: a
        thread pool doubled the cost of a create). Limited creates take a token each,
        existing files (after a restart) taking none."""
        new = [metric for metric in plan if metric not in self._existing]
        if not new:
            return {}
        if shutdown or math.isinf(self.creates.capacity):
            outcomes = [self._new_file(metric, self.updates.take()) for metric in new]
        else:
            outcomes = [self._limited_new_file(metric) for metric in new]
        states = {}
        for metric, outcome in zip(new, outcomes):
            if outcome is READY or outcome is DONE:
                self._existing.add(metric)
            if outcome is not READY:
                states[metric] = outcome
        return states

    def _limited_new_file(self, metric):
        if os.path.exists(self._path(metric)):
            return READY
        if not self.creates.take():
            self.counters.increment("deferredCreates")
            return DEFERRED
        return self._new_file(metric, False)

    def _new_file(self, metric, write):
        """Create a metric's file, with its points when `write` (then DONE once they are
        written or refused and counted); an existing file (made by another process, or
        before a restart) gets them as an update."""
        name, path = self.cache.name_of(metric), self._path(metric)
        if not write:
            return self._create(name, path)
        _, timestamps, values = self.cache.begin_write(metric)
        outcome = self._create(name, path, (timestamps, values))
        if outcome is READY and not self._update(name, path, timestamps, values):
            self.cache.abort_write(metric)  # deleted again meanwhile: next pass
            return DEFERRED
        if outcome is FAILED:
            self.counters.increment("droppedPoints", len(timestamps))
            outcome = DROPPED
        self.cache.end_write(metric)
        return DONE if outcome is READY else outcome

    def _create(self, name, path, points=None):
        """READY (made, or found made), DONE (made with `points`) or FAILED."""
        archives = self.rules.archives_for(name)
        xff, method = self.rules.aggregation_for(name)
        folder = os.path.dirname(path)
        started = time.perf_counter()
        try:
            if folder not in self._folders:
                os.makedirs(folder, exist_ok=True)
                self._folders.add(folder)
            if points is None:
                whisper.create(path, list(archives), xFilesFactor=xff,
                               aggregationMethod=method, sparse=self.options.sparse,
                               useFallocate=self.options.fallocate)
            else:
                whisper.create_with_points(
                    path, list(archives), xff, method, *points, now=int(self.now()),
                    sparse=self.options.sparse, useFallocate=self.options.fallocate,
                    lock=self.options.lock, autoflush=self.options.autoflush)
        except whisper.InvalidConfiguration as exc:
            if os.path.exists(path):  # created meanwhile by another process: use it
                return READY
            self._failed("createErrors", f"{name}: {exc}")
            return FAILED
        except whisper.WhisperException as exc:  # made, but its points were refused
            self._created(name, path, archives, xff, method)
            self._failed("writeErrors", f"{name}: {len(points[0])} points not written: {exc}")
            self.counters.increment("droppedPoints", len(points[0]))
            return DONE
        except OSError as exc:
            self._folders.discard(folder)
            self._failed("createErrors", f"{name}: cannot create {path}: {exc.strerror}")
            return FAILED
        self._created(name, path, archives, xff, method)
        if points is None:
            return READY
        self._committed(len(points[0]), started)
        return DONE

    def _created(self, name, path, archives, xff, method):
        self.counters.increment("creates")
        if self.options.log_creates:
            self.log.logger.info("created {path} {archives} xff={xff} {method}",
                                 path=path, archives=archives, xff=xff, method=method)

    def _update(self, name, path, timestamps, values):
        """True when the points are done with (written, or refused and counted)."""
        started = time.perf_counter()
        try:
            whisper.update_many_arrays(path, timestamps, values, now=int(self.now()),
                                       lock=self.options.lock, autoflush=self.options.autoflush)
        except FileNotFoundError:
            return False
        except (whisper.WhisperException, OSError) as exc:
            self._failed("writeErrors", f"{name}: {len(timestamps)} points not written: {exc}")
            self.counters.increment("droppedPoints", len(timestamps))
            return True
        self._committed(len(timestamps), started)
        return True

    def _committed(self, count, started):
        self.counters.increment("updateTime", time.perf_counter() - started)
        self.counters.increment("updateOperations")
        self.counters.increment("committedPoints", count)

    def _failed(self, kind, message):
        self.counters.increment(kind)
        self.counters.increment("errors")
        self.log.error(kind, message)

    def run(self):
        """The writer thread: pass after pass; after `stopping` is set, drain and return.
        After a pass, points gather for up to PASS_INTERVAL (fewer, larger updates),
        but metrics first seen meanwhile get their files at once: creating is the slow
        part of a new metric, and a file made early takes its points with it."""
        while not self.stopping.is_set():
            if not self.write_pass():
                self.cache.wait(self._idle_wait())
                continue
            deadline = self.clock() + self.PASS_INTERVAL
            while (not self.stopping.is_set() and not self._pressing()
                   and self.write_pass(new_only=True)):
                pass
            if not self._pressing():
                self.cache.wait_for_pressure(max(0.0, deadline - self.clock()))
        self.flush()

    def _pressing(self):
        """The cache is near its limit: write without pausing."""
        return self.cache.paused or self.cache.size >= self.cache.resume_at

    def _idle_wait(self):
        """Nothing was written: wait for points (an add wakes the writer), or for the
        update limit's next token."""
        wait = self.updates.wait_time()
        return min(self.IDLE_WAIT, max(0.001, wait)) if wait else self.IDLE_WAIT

    def flush(self):
        """Write every point the cache holds, creates included, ignoring the limits but
        MAX_UPDATES_PER_SECOND_ON_SHUTDOWN."""
        self.updates = per_second_bucket(self.options.max_updates_per_second_on_shutdown, self.clock)
        while self.cache.size:
            if not self.write_pass(shutdown=True) and self.cache.size:
                time.sleep(self.updates.wait_time() or 0.001)


class WriterService(Service):
    """Owns the writer thread. `stopService` returns a Deferred that fires once the whole
    cache is on disk, so the reactor waits for it before exiting."""

    name = "writer"

    def __init__(self, writer, reactor):
        self.writer = writer
        self.reactor = reactor
        self._thread = None
        self._done = None

    def startService(self):
        super().startService()
        self._done = defer.Deferred()
        self._thread = threading.Thread(target=self._run, name="carbonish-writer", daemon=True)
        self._thread.start()

    def _run(self):
        try:
            self.writer.run()
        finally:
            self.reactor.callFromThread(self._done.callback, None)

    def stopService(self):
        super().stopService()
        self.writer.stopping.set()
        self.writer.cache.wake()
        return self._done
