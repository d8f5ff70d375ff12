"""Protocol units on in-memory transports: bytes whole and one at a time."""
import pickle
import struct

import numpy as np
import pytest
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from carbonish import carbonlink
from carbonish.receivers.cachequery import CacheQueryFactory
from carbonish.receivers.pickle import PickleFactory
from carbonish.receivers.plaintext import PlaintextFactory, PlaintextUDP
from tests.helpers import make_ingest


class ImmediateReactor(Clock):
    def callFromThread(self, f, *args):
        f(*args)


def connect(factory):
    protocol = factory.buildProtocol(None)
    transport = StringTransport()
    protocol.makeConnection(transport)
    return protocol, transport


def framed(obj):
    payload = pickle.dumps(obj, protocol=2)
    return struct.pack("!L", len(payload)) + payload


def test_plaintext_whole_and_byte_by_byte():
    data = b"a 1 100\nb 2 200\r\nc 3 300\n"
    for chunks in ([data], [data[i:i + 1] for i in range(len(data))]):
        ingest, _ = make_ingest()
        protocol, _ = connect(PlaintextFactory(ingest, ImmediateReactor()))
        for chunk in chunks:
            protocol.dataReceived(chunk)
        assert [ingest.cache.query(n) for n in "abc"] == [[(100, 1.0)], [(200, 2.0)], [(300, 3.0)]]


def test_overlong_line_is_skipped_to_its_newline_and_counted():
    ingest, _ = make_ingest()
    protocol, transport = connect(PlaintextFactory(ingest, ImmediateReactor(), max_length=50))
    protocol.dataReceived(b"ok 1 100\n" + b"x" * 60)
    protocol.dataReceived(b"y" * 100)
    protocol.dataReceived(b"zz 9 9\nafter 2 200\n")
    assert ingest.cache.query("ok") == [(100, 1.0)]
    assert ingest.cache.query("after") == [(200, 2.0)]
    assert ingest.cache.query("zz") == []
    assert ingest.counters.get("invalidLines") == 1
    assert not transport.disconnecting


def test_flow_control_pauses_every_connection_and_resumes():
    ingest, _ = make_ingest(max_size=3, low_watermark=1)
    reactor = ImmediateReactor()
    factory = PlaintextFactory(ingest, reactor)
    first, first_transport = connect(factory)
    second, second_transport = connect(factory)
    first.dataReceived(b"a 1 100\na 2 110\nb 3 100\n")
    assert factory.paused
    assert first_transport.producerState == second_transport.producerState == "paused"
    late, late_transport = connect(factory)
    assert late_transport.producerState == "paused"
    cache = ingest.cache
    cache.group()
    for metric in cache.plan():
        cache.begin_write(metric)
        cache.end_write(metric)
    assert not factory.paused
    assert first_transport.producerState == "producing"
    first.connectionLost(None)
    assert first not in factory.connections


def test_udp_datagram_many_lines_and_full_cache_drops_counted():
    ingest, _ = make_ingest(max_size=2)
    udp = PlaintextUDP(ingest)
    udp.datagramReceived(b"a 1 100\nb 2 100", ("127.0.0.1", 1))
    assert ingest.cache.full
    udp.datagramReceived(b"c 1 100\nd 1 100\n", ("127.0.0.1", 1))
    assert ingest.cache.query("c") == []
    assert ingest.counters.get("cache.overflow") == 2


def test_pickle_messages_whole_and_split():
    ingest, _ = make_ingest()
    data = framed([("a.b", (100, 1.5)), ("c", (200, 2))]) + framed([("d", (300, 3))])
    for chunks in ([data], [data[i:i + 1] for i in range(len(data))]):
        ingest, _ = make_ingest()
        protocol, _ = connect(PickleFactory(ingest, ImmediateReactor()))
        for chunk in chunks:
            protocol.dataReceived(chunk)
        assert ingest.cache.query("a.b") == [(100, 1.5)]
        assert ingest.cache.query("d") == [(300, 3.0)]


def test_pickle_refuses_globals_non_lists_and_oversize():
    ingest, _ = make_ingest()
    protocol, transport = connect(PickleFactory(ingest, ImmediateReactor(), max_length=1000))
    evil = b"cos\nsystem\n(S'echo pwned'\ntR."
    protocol.dataReceived(struct.pack("!L", len(evil)) + evil)
    protocol.dataReceived(framed({"not": "a list"}))
    protocol.dataReceived(struct.pack("!L", 5) + b"\x80\x02]q\x00")  # no STOP
    protocol.dataReceived(framed([("ok", (100, 1))]))
    assert ingest.cache.query("ok") == [(100, 1.0)]
    assert ingest.counters.get("invalidPickles") == 3
    assert not transport.disconnecting
    protocol.dataReceived(struct.pack("!L", 10 ** 6))
    assert transport.disconnecting
    assert ingest.counters.get("invalidPickles") == 4


def test_cache_query_protocol(tmp_path):
    from carbonish import whisper
    ingest, _ = make_ingest()
    ingest.cache.add(["a.b", "a.b"], np.array([100, 110]), np.array([1.0, 2.0]))
    factory = CacheQueryFactory(ingest.cache, ingest.counters, ingest.log, tmp_path, max_length=4096)
    protocol, transport = connect(factory)

    def ask(request):
        transport.clear()
        protocol.dataReceived(framed(request))
        reply = transport.value()
        (length,) = struct.unpack("!L", reply[:4])
        assert len(reply) == 4 + length
        return pickle.loads(reply[4:])

    assert ask({"type": "cache-query", "metric": "a.b"}) == {"datapoints": [(100, 1.0), (110, 2.0)]}
    assert ask({"type": "cache-query-bulk", "metrics": ["a.b", "zz"]}) == {
        "datapointsByMetric": {"a.b": [(100, 1.0), (110, 2.0)], "zz": []}}
    (tmp_path / "a").mkdir()
    whisper.create(str(tmp_path / "a" / "b.wsp"), [(10, 10)], aggregationMethod="max")
    assert ask({"type": "get-metadata", "metric": "a.b", "key": "aggregationMethod"}) == {"value": "max"}
    assert "error" in ask({"type": "get-metadata", "metric": "no.file", "key": "aggregationMethod"})
    assert "error" in ask({"type": "get-metadata", "metric": "a.b", "key": "other"})
    for bad in ({"type": "nope"}, ["list"], {"type": "cache-query"}, {"type": "cache-query-bulk",
                                                                        "metrics": [1]}):
        assert "error" in ask(bad)
    evil = b"cos\nsystem\n(S'echo pwned'\ntR."
    transport.clear()
    protocol.dataReceived(struct.pack("!L", len(evil)) + evil)
    assert "refused global" in pickle.loads(transport.value()[4:])["error"]
    protocol.dataReceived(struct.pack("!L", 10 ** 6))
    assert transport.disconnecting


def test_carbonlink_frame_round_trip():
    message = carbonlink.frame({"datapoints": [(1, 2.0)]})
    assert struct.unpack("!L", message[:4])[0] == len(message) - 4
    assert carbonlink.parse_request(framed({"type": "cache-query", "metric": "x"})[4:])[0] == "cache-query"


def test_backlog_pauses_tcp_but_udp_still_takes_points():
    from carbonish.cache import MetricCache
    ingest, _ = make_ingest()
    ingest.cache = MetricCache(backlog_limit=2)
    factory = PlaintextFactory(ingest, ImmediateReactor())
    protocol, transport = connect(factory)
    protocol.dataReceived(b"a 1 100\nb 2 100\n")
    assert transport.producerState == "paused"
    PlaintextUDP(ingest).datagramReceived(b"c 3 100\n", ("127.0.0.1", 1))
    assert ingest.cache.query("c") == [(100, 3.0)]
    assert ingest.counters.get("cache.overflow") == 0


def test_zeromq_fetch_of_a_file_being_made_answers_from_the_cache(tmp_path):
    from carbonish import whisper
    from carbonish.receivers.zeromq import BadMessage, fetch_merged
    ingest, _ = make_ingest()
    cache = ingest.cache
    cache.add(["new.one"], np.array([1_000_000], dtype=np.int64), np.array([5.0]))
    cache.group()
    path = tmp_path / "one.wsp"
    path.write_bytes(struct.pack("!2LfL", 1, 600, 0.5, 1))  # a header, no archive yet
    with pytest.raises(BadMessage, match="archive"):  # corrupt, and no write under way
        fetch_merged(str(path), "new.one", cache, 999_000, 1_000_100, 1_000_100)
    (metric,) = cache.plan()
    cache.begin_write(metric)  # the writer takes the points and makes the file
    answer = fetch_merged(str(path), "new.one", cache, 999_000, 1_000_100, 1_000_100)
    assert answer == {"path": "new.one", "step": None, "points": [[1_000_000, 5.0]]}
    cache.end_write(metric)
    whisper.create(str(tmp_path / "two.wsp"), [(10, 60)])
    with pytest.raises(BadMessage, match="Invalid time interval"):
        fetch_merged(str(tmp_path / "two.wsp"), "new.one", cache, 1_000_100, 999_000,
                     1_000_100)
