"""Small real collaborators for unit tests (no mocks of our own code)."""
from twisted.internet.task import Clock

from carbonish.cache import MetricCache
from carbonish.ingest import Ingest
from carbonish.instrumentation import Counters, RateLimitedLog


class ListLogger:
    """A twisted Logger stand-in that keeps formatted lines."""

    def __init__(self):
        self.lines = []

    def _emit(self, format, **kwargs):
        self.lines.append(format.format(**kwargs))

    warn = info = error = critical = _emit


def make_ingest(max_size=float("inf"), low_watermark=None, filters=None, now=1_000_000):
    clock = Clock()
    clock.advance(now)
    cache = MetricCache(max_size, low_watermark)
    counters = Counters()
    log = RateLimitedLog(clock, 10, ListLogger())
    return Ingest(cache, counters, log, clock, filters), clock
