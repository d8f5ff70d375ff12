"""Ask the cache daemons for points not yet on disk: carbonlink `cache-query-bulk`.

A request is framed by carbonish.carbonlink (4-byte big-endian length + pickle); the
answer is decoded with the restricted unpickler. Every host in CARBONLINK_HOSTS is
asked for the whole batch: one round trip per host per render, and correct however
the relay spread metrics over the instances (graphite-web hashes each name to a
host instead; a name lives in one cache at a time, so asking all gives the same
points). A host that fails is logged and skipped for `retry_delay` seconds; the
render then shows what the files hold, as graphite-web does.

Calls block: they run on render worker threads, never on the reactor thread.
"""
import logging
import socket
import time

from carbonish import carbonlink, safe_pickle

log = logging.getLogger(__name__)

MAX_RESPONSE = 256 * 1024 * 1024


class CarbonLinkError(Exception):
    """A cache host that could not be asked or answered badly; carries the host."""

    def __init__(self, host, reason):
        super().__init__(f"carbonlink {host[0]}:{host[1]}: {reason}")
        self.host = host
        self.reason = reason


class CarbonLinkClient:
    def __init__(self, hosts, timeout=1.0, retry_delay=60.0, clock=time.monotonic):
        self.hosts = [(host, int(port)) for host, port, *_ in hosts]
        self.timeout = timeout
        self.retry_delay = retry_delay
        self.clock = clock
        self._failed_at = {}

    def query_bulk(self, metrics):
        """{name: [(timestamp, value), ...]} from every available host, merged."""
        merged = {}
        if not metrics:
            return merged
        for host in self.hosts:
            if not self._available(host):
                continue
            try:
                answer = self._ask(host, {"type": "cache-query-bulk", "metrics": list(metrics)})
            except CarbonLinkError as exc:
                self._failed_at[host] = self.clock()
                log.warning("%s; using file data only", exc)
                continue
            for name, points in answer.items():
                if points:
                    merged.setdefault(name, []).extend(points)
        return merged

    def _available(self, host):
        failed = self._failed_at.get(host)
        return failed is None or self.clock() - failed >= self.retry_delay

    def _ask(self, host, request):
        try:
            with socket.create_connection(host, timeout=self.timeout) as conn:
                conn.sendall(carbonlink.frame(request))
                size = carbonlink.LENGTH.unpack(_recv_exactly(conn, 4))[0]
                if size > MAX_RESPONSE:
                    raise CarbonLinkError(host, f"response of {size} bytes is too large")
                payload = _recv_exactly(conn, size)
        except OSError as exc:
            raise CarbonLinkError(host, str(exc) or type(exc).__name__) from None
        return _decode(host, payload)


def _decode(host, payload):
    try:
        answer = safe_pickle.loads(payload)
    except safe_pickle.UnsafePickle as exc:
        raise CarbonLinkError(host, str(exc)) from None
    if not isinstance(answer, dict):
        raise CarbonLinkError(host, "answer is not a dict")
    if "error" in answer:
        raise CarbonLinkError(host, f"cache answered error: {answer['error']}")
    points = answer.get("datapointsByMetric")
    if not isinstance(points, dict):
        raise CarbonLinkError(host, "answer has no datapointsByMetric")
    return points


def _recv_exactly(conn, size):
    chunks = []
    remaining = size
    while remaining:
        chunk = conn.recv(min(remaining, 1 << 20))
        if not chunk:
            raise ConnectionError("connection closed mid-message")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
