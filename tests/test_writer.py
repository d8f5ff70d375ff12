"""The writer against real files, read back with the real whisper package."""
import threading

import numpy as np
import whisper as oracle
from twisted.internet.task import Clock

from carbonish.cache import MetricCache
from carbonish.instrumentation import Counters, RateLimitedLog
from carbonish.schemas import StorageRules, parse_aggregations, parse_schemas
from carbonish.writer import TokenBucket, Writer, WriterOptions, WriterService
from tests.helpers import ListLogger

NOW = 1_700_000_000
RULES = StorageRules(parse_schemas("[all]\npattern = .*\nretentions = 10s:1h,1m:1d\n"),
                     parse_aggregations("[c]\npattern = count$\nxFilesFactor = 0\naggregationMethod = sum\n"))


class FakeTime:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def make_writer(tmp_path, **options):
    cache = MetricCache()
    counters = Counters()
    clock = FakeTime()
    log = RateLimitedLog(Clock(), 10, ListLogger())
    writer = Writer(cache, RULES, WriterOptions(str(tmp_path), **options), counters, log,
                    clock=clock, now=lambda: NOW)
    return writer, cache, counters, clock


def add(cache, name, points):
    cache.add([name] * len(points), np.array([t for t, _ in points], dtype=np.int64),
              np.array([v for _, v in points], dtype=np.float64))


def read(tmp_path, name, start, end):
    path = tmp_path / (name.replace(".", "/") + ".wsp")
    (first, _, step), values = oracle.fetch(str(path), start - 1, end, now=NOW)
    return {first + i * step: v for i, v in enumerate(values) if v is not None}


def test_writes_create_with_schema_and_aggregation(tmp_path):
    writer, cache, counters, _ = make_writer(tmp_path)
    add(cache, "a.b.count", [(NOW - 100, 1), (NOW - 90, 2)])
    add(cache, "a.avg", [(NOW - 100, 5)])
    assert writer.write_pass() == 2
    assert read(tmp_path, "a.b.count", NOW - 100, NOW - 90) == {NOW - 100: 1.0, NOW - 90: 2.0}
    info = oracle.info(str(tmp_path / "a/b/count.wsp"))
    assert info["aggregationMethod"] == "sum" and info["xFilesFactor"] == 0.0
    assert oracle.info(str(tmp_path / "a/avg.wsp"))["aggregationMethod"] == "average"
    assert counters.get("creates") == 2 and counters.get("committedPoints") == 3
    assert counters.get("updateOperations") == 2
    assert cache.size == 0 and cache.query("a.avg") == []


def test_create_limit_keeps_points_waiting_not_dropped(tmp_path):
    writer, cache, counters, clock = make_writer(tmp_path, max_creates_per_minute=1)
    for i in range(3):
        add(cache, f"m{i}", [(NOW - 50, i)])
    assert writer.write_pass() == 1
    assert cache.size == 2 and counters.get("deferredCreates") == 2
    clock.t += 60
    assert writer.write_pass() == 1
    writer.flush()  # shutdown ignores the create limit
    assert cache.size == 0
    assert [read(tmp_path, f"m{i}", NOW - 50, NOW - 50) for i in range(3)] == [
        {NOW - 50: 0.0}, {NOW - 50: 1.0}, {NOW - 50: 2.0}]


def test_update_limit_spreads_writes(tmp_path):
    writer, cache, counters, clock = make_writer(tmp_path, max_updates_per_second=2)
    for i in range(5):
        add(cache, f"m{i}", [(NOW - 50, i)])
    assert writer.write_pass() == 2
    assert writer.write_pass() == 0
    clock.t += 1
    assert writer.write_pass() == 2
    assert writer._idle_wait() > 0


def test_corrupt_file_counts_the_lost_points_and_goes_on(tmp_path):
    writer, cache, counters, _ = make_writer(tmp_path)
    (tmp_path / "bad.wsp").write_bytes(b"garbage")
    add(cache, "bad", [(NOW - 10, 1)])
    add(cache, "good", [(NOW - 10, 1)])
    writer.write_pass()
    assert counters.get("writeErrors") == 1 and counters.get("droppedPoints") == 1
    assert read(tmp_path, "good", NOW - 10, NOW - 10) == {NOW - 10: 1.0}
    assert cache.size == 0
    assert "bad" in writer.log.logger.lines[0]


def test_uncreatable_directory_is_an_error_not_a_crash(tmp_path):
    writer, cache, counters, _ = make_writer(tmp_path)
    (tmp_path / "file").write_text("not a directory")
    add(cache, "file.x", [(NOW - 10, 1)])
    writer.write_pass()
    assert counters.get("createErrors") == 1 and cache.size == 0


def test_token_bucket():
    clock = FakeTime()
    bucket = TokenBucket(2, 1, clock)
    assert bucket.take() and bucket.take() and not bucket.take()
    assert bucket.wait_time() > 0
    clock.t += 1.5
    assert bucket.take() and not bucket.take()


def test_service_stop_fires_after_the_cache_is_on_disk(tmp_path):
    writer, cache, _, _ = make_writer(tmp_path)

    class Reactor:
        def __init__(self):
            self.called = threading.Event()

        def callFromThread(self, f, *args):
            f(*args)
            self.called.set()

    reactor = Reactor()
    service = WriterService(writer, reactor)
    service.startService()
    for i in range(50):
        add(cache, f"s{i}", [(NOW - 10, i)])
    done = service.stopService()
    assert reactor.called.wait(10)
    fired = []
    done.addCallback(fired.append)
    assert fired == [None]
    assert cache.size == 0
    assert read(tmp_path, "s49", NOW - 10, NOW - 10) == {NOW - 10: 49.0}
