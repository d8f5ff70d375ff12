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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from twisted.application.service import Service
from twisted.internet import defer

from carbonish import names, whisper


CREATE_THREADS = 4
READY, DEFERRED, FAILED = "ready", "deferred", "failed"


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
        self._pool = None  # create threads, made on first use

    def write_pass(self, shutdown=False):
        """Write what the plan allows; returns how many metrics were written."""
        self.cache.group()
        plan = self.cache.plan(self.options.strategy)
        waiting = self._prepare_files(plan, shutdown)
        written = 0
        for metric in plan:
            state = waiting.get(metric)
            if state is DEFERRED:
                continue  # its points wait in the cache for the create limit
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
            path = self._paths[metric] = str(names.name_to_path(self.options.data_dir, name))
        return path

    def _prepare_files(self, plan, shutdown):
        """Make sure the plan's metrics have files: {metric: DEFERRED or FAILED} for those
        that do not. Unlimited creates run on a few threads at once: creating a file is
        mostly the kernel's work, done outside the GIL."""
        new = [metric for metric in plan if metric not in self._existing]
        if not new:
            return {}
        if shutdown or math.isinf(self.creates.capacity):
            outcomes = self._creators().map(self._ensure_file, new) if len(new) > 1 else [
                self._ensure_file(new[0])]
        else:
            outcomes = [self._ensure_file(metric, self.creates.take) for metric in new]
        states = {}
        for metric, outcome in zip(new, outcomes):
            if outcome is READY:
                self._existing.add(metric)
            else:
                states[metric] = outcome
        return states

    def _creators(self):
        if self._pool is None:
            self._pool = ThreadPoolExecutor(CREATE_THREADS, thread_name_prefix="carbonish-create")
        return self._pool

    def _ensure_file(self, metric, allowed=None):
        path = self._path(metric)
        if os.path.exists(path):
            return READY
        if allowed is not None and not allowed():
            self.counters.increment("deferredCreates")
            return DEFERRED
        return self._create(self.cache.name_of(metric), path)

    def _create(self, name, path):
        archives = self.rules.archives_for(name)
        xff, method = self.rules.aggregation_for(name)
        folder = os.path.dirname(path)
        try:
            if folder not in self._folders:
                os.makedirs(folder, exist_ok=True)
                self._folders.add(folder)
            whisper.create(path, list(archives), xFilesFactor=xff, aggregationMethod=method,
                           sparse=self.options.sparse, useFallocate=self.options.fallocate)
        except whisper.InvalidConfiguration as exc:
            if os.path.exists(path):  # created meanwhile by another process: use it
                return READY
            self._failed("createErrors", f"{name}: {exc}")
            return FAILED
        except OSError as exc:
            self._folders.discard(folder)
            self._failed("createErrors", f"{name}: cannot create {path}: {exc.strerror}")
            return FAILED
        self.counters.increment("creates")
        if self.options.log_creates:
            self.log.logger.info("created {path} {archives} xff={xff} {method}",
                                 path=path, archives=archives, xff=xff, method=method)
        return READY

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
        self.counters.increment("updateTime", time.perf_counter() - started)
        self.counters.increment("updateOperations")
        self.counters.increment("committedPoints", len(timestamps))
        return True

    def _failed(self, kind, message):
        self.counters.increment(kind)
        self.counters.increment("errors")
        self.log.error(kind, message)

    def run(self):
        """The writer thread: pass after pass; after `stopping` is set, drain and return."""
        while not self.stopping.is_set():
            if not self.write_pass():
                self.cache.wait(self._idle_wait())
            elif not self._pressing():
                self.cache.wait_for_pressure(self.PASS_INTERVAL)
        self.flush()

    def _pressing(self):
        """The cache is near its limit: write without pausing."""
        return self.cache.paused or self.cache.size >= self.cache.resume_at

    def _idle_wait(self):
        return min(self.IDLE_WAIT, max(0.001, self.updates.wait_time()))

    def flush(self):
        """Write every point the cache holds, creates included, ignoring the limits but
        MAX_UPDATES_PER_SECOND_ON_SHUTDOWN."""
        self.updates = per_second_bucket(self.options.max_updates_per_second_on_shutdown, self.clock)
        while self.cache.size:
            if not self.write_pass(shutdown=True) and self.cache.size:
                time.sleep(self.updates.wait_time() or 0.001)
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


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
