"""The writer against real files, read back with the real whisper package."""
import os
import re
import threading

import numpy as np
import whisper as oracle
from twisted.internet.task import Clock

from carbonish.cache import MetricCache
from carbonish.instrumentation import Counters, RateLimitedLog
from carbonish.schemas import Schema, StorageRules, parse_aggregations, parse_schemas
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


def make_writer(tmp_path, rules=RULES, writer_class=Writer, **options):
    cache = MetricCache()
    counters = Counters()
    clock = FakeTime()
    log = RateLimitedLog(Clock(), 10, ListLogger())
    writer = writer_class(cache, rules, WriterOptions(str(tmp_path), **options), counters, log,
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


def test_existing_files_after_a_restart_take_their_points_as_updates(tmp_path):
    for limit in (float("inf"), 1):
        folder = tmp_path / str(limit)
        writer, cache, counters, _ = make_writer(folder, max_creates_per_minute=limit)
        for name in ("old.a", "old.b"):
            path = folder / (name.replace(".", "/") + ".wsp")
            path.parent.mkdir(parents=True, exist_ok=True)
            oracle.create(str(path), [(10, 360)])
            oracle.update(str(path), 7.0, NOW - 100, now=NOW)
            add(cache, name, [(NOW - 50, 1)])
        add(cache, "new.c", [(NOW - 50, 2)])
        assert writer.write_pass() == 3  # existing files take no create token
        assert read(folder, "old.a", NOW - 100, NOW - 50) == {NOW - 100: 7.0, NOW - 50: 1.0}
        assert read(folder, "new.c", NOW - 50, NOW - 50) == {NOW - 50: 2.0}
        assert counters.get("creates") == 1 and cache.size == 0


def test_points_a_new_file_refuses_are_counted_and_the_file_kept(tmp_path):
    writer, cache, counters, _ = make_writer(tmp_path)
    add(cache, "late", [(2 ** 32 + 10, 1)])
    writer.write_pass()
    assert counters.get("creates") == 1 and counters.get("writeErrors") == 1
    assert counters.get("droppedPoints") == 1 and cache.size == 0
    assert oracle.info(str(tmp_path / "late.wsp"))["archives"][0]["points"] == 360
    assert "1 points not written" in writer.log.logger.lines[0]


def test_a_schema_whisper_refuses_drops_and_counts_the_points(tmp_path):
    # storage-schemas.conf is checked when read; rules made in code are not
    bad = StorageRules((Schema("bad", re.compile("^bad"), ((10, 6), (15, 240))),))
    writer, cache, counters, _ = make_writer(tmp_path, rules=bad, log_creates=True)
    add(cache, "bad.one", [(NOW - 10, 1), (NOW - 20, 2)])
    add(cache, "fine", [(NOW - 10, 1)])
    writer.write_pass()
    assert counters.get("createErrors") == 1 and counters.get("droppedPoints") == 2
    assert not (tmp_path / "bad" / "one.wsp").exists() and cache.size == 0
    assert list(read(tmp_path, "fine", NOW - 60, NOW).values()) == [1.0]  # carbon's default schema
    assert any("created" in line and "fine.wsp" in line for line in writer.log.logger.lines)


def test_a_schema_whisper_refuses_under_a_create_limit(tmp_path):
    bad = StorageRules((Schema("bad", re.compile("^bad"), ((10, 6), (15, 240))),))
    writer, cache, counters, _ = make_writer(tmp_path, rules=bad, max_creates_per_minute=5)
    add(cache, "bad.one", [(NOW - 10, 1)])
    writer.write_pass()
    assert counters.get("createErrors") == 1 and counters.get("droppedPoints") == 1
    assert cache.size == 0


def test_a_known_file_deleted_is_made_again_without_losing_points(tmp_path):
    writer, cache, counters, _ = make_writer(tmp_path)
    add(cache, "x", [(NOW - 20, 1)])
    assert writer.write_pass() == 1
    os.unlink(tmp_path / "x.wsp")
    add(cache, "x", [(NOW - 10, 2)])
    assert writer.write_pass() == 0 and cache.size == 1
    assert writer.write_pass() == 1 and cache.size == 0
    assert read(tmp_path, "x", NOW - 20, NOW - 10) == {NOW - 10: 2.0}
    assert counters.get("creates") == 2


def test_a_file_deleted_between_create_and_update_is_made_again(tmp_path):
    class Racing(Writer):
        """Another process makes the file first, then it is deleted before the update."""

        def _create(self, name, path, points=None):
            oracle.create(path, [(10, 360)])
            outcome = super()._create(name, path, points)
            os.unlink(path)
            return outcome

    writer, cache, counters, _ = make_writer(tmp_path, writer_class=Racing)
    add(cache, "gone", [(NOW - 10, 3)])
    assert writer.write_pass() == 0 and cache.size == 1
    writer.__class__ = Writer
    assert writer.write_pass() == 1 and cache.size == 0
    assert read(tmp_path, "gone", NOW - 10, NOW - 10) == {NOW - 10: 3.0}


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
