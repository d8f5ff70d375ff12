"""The daemon's own metrics (carbon.agents.<host>-<instance>.*) and rate-limited logging."""
import os
import resource
import socket
import threading

from twisted.logger import Logger


class Counters:
    """Thread-safe named counters; `take()` returns and resets them (one interval's worth)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._counts = {}

    def increment(self, name, amount=1):
        with self._lock:
            self._counts[name] = self._counts.get(name, 0) + amount

    def get(self, name):
        with self._lock:
            return self._counts.get(name, 0)

    def take(self):
        with self._lock:
            counts, self._counts = self._counts, {}
        return counts


class RateLimitedLog:
    """One log line per kind per `interval` seconds, saying how many were suppressed."""

    def __init__(self, clock, interval=10.0, logger=None):
        self.clock = clock
        self.interval = interval
        self.logger = logger or Logger(namespace="carbonish")
        self._lock = threading.Lock()
        self._last = {}
        self._suppressed = {}

    def error(self, kind, message):
        now = self.clock.seconds()
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < self.interval:
                self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
                return
            self._last[kind] = now
            suppressed = self._suppressed.pop(kind, 0)
        more = f" ({suppressed} more since the last report)" if suppressed else ""
        self.logger.warn("{kind}: {message}{more}", kind=kind, message=message, more=more)


def agent_prefix(prefix, instance="a", hostname=None):
    """carbon's CARBON_METRIC_PREFIX.agents.<host>-<instance> (dots in the host become _)."""
    host = (hostname or socket.gethostname()).replace(".", "_")
    return f"{prefix}.agents.{host}-{instance}"


class SelfMetrics:
    """Every interval, turn counters and gauges into rows under the agent prefix."""

    def __init__(self, counters, cache, prefix, clock):
        self.counters = counters
        self.cache = cache
        self.prefix = prefix
        self.clock = clock
        self._last_cpu = None

    def collect(self, interval):
        now = int(self.clock.seconds())
        counts = self.counters.take()
        updates = counts.get("updateOperations", 0)
        committed = counts.get("committedPoints", 0)
        update_time = counts.pop("updateTime", 0.0)
        values = {name: counts.get(name, 0) for name in (
            "metricsReceived", "committedPoints", "updateOperations", "creates",
            "droppedCreates", "errors", "invalidLines", "invalidNames", "invalidValues",
            "invalidTimestamps", "whitelistRejects", "blacklistMatches", "cache.overflow",
            "cache.queries", "outsideRetention")}
        values["pointsPerUpdate"] = committed / updates if updates else 0.0
        values["avgUpdateTime"] = update_time / updates if updates else 0.0
        values["cache.size"] = self.cache.size
        values["cache.queues"] = self.cache.queues
        values["cpuUsage"] = self._cpu_usage(interval)
        values["memUsage"] = _rss_bytes()
        return [(f"{self.prefix}.{name}", (now, float(value))) for name, value in values.items()]

    def _cpu_usage(self, interval):
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = usage.ru_utime + usage.ru_stime
        last, self._last_cpu = self._last_cpu, cpu
        if last is None or interval <= 0:
            return 0.0
        return (cpu - last) / interval


def _rss_bytes():
    try:
        with open(f"/proc/{os.getpid()}/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
