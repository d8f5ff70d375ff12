"""The carbonlink client against a real socket speaking carbon's framing."""
import pickle
import socket
import struct
import threading

import pytest

from webapp.carbonlink_client import CarbonLinkClient


class FakeCache:
    """Answers each connection with one canned response; records requests."""

    def __init__(self, answer):
        self.answer = answer
        self.requests = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        for _ in range(4):  # bounded: tests make at most a few connections
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                size = struct.unpack("!L", _read(conn, 4))[0]
                self.requests.append(pickle.loads(_read(conn, size)))
                conn.sendall(self.answer)

    def close(self):
        self.sock.close()


def _read(conn, size):
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError
        data += chunk
    return data


def framed(obj):
    body = pickle.dumps(obj, protocol=2)
    return struct.pack("!L", len(body)) + body


@pytest.fixture
def caches():
    made = []

    def make(answer):
        cache = FakeCache(answer)
        made.append(cache)
        return cache
    yield make
    for cache in made:
        cache.close()


def test_bulk_query_asks_every_host_and_merges(caches):
    one = caches(framed({"datapointsByMetric": {"a": [(10, 1.0)], "b": []}}))
    two = caches(framed({"datapointsByMetric": {"b": [(20, 2.0)]}}))
    client = CarbonLinkClient([("127.0.0.1", one.port, None), ("127.0.0.1", two.port, "b")])
    assert client.query_bulk(["a", "b"]) == {"a": [(10, 1.0)], "b": [(20, 2.0)]}
    assert one.requests == [{"type": "cache-query-bulk", "metrics": ["a", "b"]}]


def test_empty_query_makes_no_connection(caches):
    cache = caches(framed({}))
    assert CarbonLinkClient([("127.0.0.1", cache.port, None)]).query_bulk([]) == {}
    assert cache.requests == []


@pytest.mark.parametrize("answer", [
    framed({"error": "boom"}), framed(["not", "a", "dict"]), framed({"other": 1}),
    b"\x00\x00\x00\x05cos\ns", struct.pack("!L", 1 << 30),
])
def test_bad_answers_fall_back_to_files_and_back_off(caches, answer):
    cache = caches(answer)
    clock = [0.0]
    client = CarbonLinkClient([("127.0.0.1", cache.port, None)], retry_delay=30,
                              clock=lambda: clock[0])
    assert client.query_bulk(["a"]) == {}
    assert client.query_bulk(["a"]) == {}  # inside retry delay: not asked again
    assert len(cache.requests) == 1


def test_unreachable_host_is_skipped():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    client = CarbonLinkClient([("127.0.0.1", port, None)], timeout=0.5)
    assert client.query_bulk(["a"]) == {}


def test_host_retried_after_delay(caches):
    cache = caches(framed({"error": "warming up"}))
    clock = [0.0]
    client = CarbonLinkClient([("127.0.0.1", cache.port, None)], retry_delay=30,
                              clock=lambda: clock[0])
    client.query_bulk(["a"])
    clock[0] = 31.0
    client.query_bulk(["a"])
    assert len(cache.requests) == 2
