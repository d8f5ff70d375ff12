"""The real `carbonish cache` as a subprocess: real sockets, real files, read back with
the real whisper package."""
import pickle
import socket
import struct
import time

import whisper

from tests.integration.daemons import wait_until, write_config

AGGREGATION = """
[sums]
pattern = \\.count$
xFilesFactor = 0
aggregationMethod = sum
"""


def send_tcp(port, data):
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(data)


def send_pickle(port, rows):
    payload = pickle.dumps(rows, protocol=2)
    send_tcp(port, struct.pack("!L", len(payload)) + payload)


def points(storage, name, start, end):
    """{timestamp: value} of the known points in [start, end] as whisper reads them."""
    path = storage / "whisper" / (name.replace(".", "/") + ".wsp")
    (first, _, step), values = whisper.fetch(str(path), start - 1, end)
    return {first + i * step: v for i, v in enumerate(values) if v is not None}


def test_tcp_udp_pickle_points_are_on_disk_after_sigterm(tmp_path, start):
    config = write_config(tmp_path, aggregation=AGGREGATION)
    storage = tmp_path / "storage"
    now = int(time.time()) // 10 * 10
    for round_ in range(2):  # start and stop twice, the second run appends
        daemon = start("cache", config)
        base = now - 600 + round_ * 100
        lines = b"".join(b"tcp.m%d %d %d\n" % (i, i + round_, base + i * 10) for i in range(5))
        # split a line across segments
        with socket.create_connection(("127.0.0.1", daemon.port("plaintext/tcp"))) as sock:
            sock.sendall(lines[:7])
            time.sleep(0.05)
            sock.sendall(lines[7:] + b"tcp.crlf 7 %d\r\n" % base)
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.sendto(b"udp.a 1.5 %d\nudp.b 2.5 %d" % (base, base), ("127.0.0.1", daemon.port("plaintext/udp")))
        udp.close()
        send_pickle(daemon.port("pickle/tcp"), [("pickled.x.count", (base, 3)), ("pickled.y", (base + 10, 4.5))])
        time.sleep(0.3)  # let the datagram arrive before SIGTERM (UDP has no ack)
        assert daemon.stop() == 0
        for i in range(5):
            assert points(storage, f"tcp.m{i}", base, base + 60) == {base + i * 10: i + round_}
        assert points(storage, "tcp.crlf", base, base) == {base: 7}
        assert points(storage, "udp.a", base, base) == {base: 1.5}
        assert points(storage, "udp.b", base, base) == {base: 2.5}
        assert points(storage, "pickled.y", base, base + 10) == {base + 10: 4.5}
        assert points(storage, "pickled.x.count", base, base) == {base: 3}
    info = whisper.info(str(storage / "whisper/pickled/x/count.wsp"))
    assert info["aggregationMethod"] == "sum" and info["xFilesFactor"] == 0
    assert [(a["secondsPerPoint"], a["points"]) for a in info["archives"]] == [(10, 8640), (60, 43200)]


def test_bad_input_is_counted_and_the_daemon_keeps_taking_points(tmp_path, start):
    config = write_config(tmp_path)
    storage = tmp_path / "storage"
    daemon = start("cache", config)
    now = int(time.time())
    port = daemon.port("plaintext/tcp")
    bad = (b"../../etc/passwd 1 %d\n" % now + b"a..b 1 %d\n" % now + b"nan.value nan %d\n" % now
           + b"no.number x %d\n" % now + b"future 1 %d\n" % (now + 10 ** 8) + b"x" * 10000 + b"\n"
           + b"ctl\x01name 1 %d\n" % now + b"good.one 5 %d\n" % now)
    send_tcp(port, bad)
    # a malicious pickle: would create a file if it ever ran
    marker = tmp_path / "pwned"
    evil = (b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.")
    send_tcp(daemon.port("pickle/tcp"), struct.pack("!L", len(evil)) + evil)
    send_tcp(daemon.port("pickle/tcp"), struct.pack("!L", 10 ** 9))  # over the limit
    send_tcp(port, b"good.two 6 %d\n" % now)
    wait_until(lambda: "invalidPickles" in daemon.output(), 10)
    assert daemon.stop() == 0
    assert not marker.exists()
    assert not (tmp_path / "etc").exists()
    files = sorted(p.relative_to(storage / "whisper").as_posix() for p in (storage / "whisper").rglob("*.wsp"))
    assert files == ["good/one.wsp", "good/two.wsp"]
    output = daemon.output()
    for kind in ("invalidNames", "invalidValues", "invalidLines", "invalidTimestamps", "invalidPickles"):
        assert kind in output


def test_cache_query_answers_points_not_yet_on_disk(tmp_path, start):
    config = write_config(tmp_path, cache_extra="MAX_CREATES_PER_MINUTE = 1")
    daemon = start("cache", config)
    now = int(time.time())
    send_tcp(daemon.port("plaintext/tcp"), b"first 1 %d\nq.a 1 %d\nq.a 2 %d\n" % (now, now - 20, now - 10))

    def ask(request):
        payload = pickle.dumps(request, protocol=2)
        with socket.create_connection(("127.0.0.1", daemon.port("cache query/tcp"))) as sock:
            sock.sendall(struct.pack("!L", len(payload)) + payload)
            data = b""
            while len(data) < 4 or len(data) < 4 + struct.unpack("!L", data[:4])[0]:
                chunk = sock.recv(65536)
                assert chunk
                data += chunk
        return pickle.loads(data[4:])

    # one create a minute: one of the two metrics waits in the cache, readable
    answer = wait_until(lambda: ask({"type": "cache-query-bulk", "metrics": ["q.a", "first"]}), 5)
    by_metric = answer["datapointsByMetric"]
    waiting = [name for name, points in by_metric.items() if points]
    assert waiting, by_metric
    if "q.a" in waiting:
        assert by_metric["q.a"] == [(now - 20, 1.0), (now - 10, 2.0)]
    assert ask({"type": "cache-query", "metric": "nothing.here"}) == {"datapoints": []}
    assert "error" in ask({"type": "bogus"})
    assert daemon.stop() == 0  # shutdown creates what the limit held back
    assert whisper.fetch(str(tmp_path / "storage/whisper/q/a.wsp"), now - 30, now)[1][-2:] in (
        [1.0, 2.0], [2.0, None])


def test_flow_control_loses_nothing_when_the_stream_is_larger_than_the_cache(tmp_path, start):
    config = write_config(tmp_path, cache_extra="MAX_CACHE_SIZE = 500\nMAX_UPDATES_PER_SECOND = 200")
    daemon = start("cache", config)
    now = int(time.time()) // 10 * 10
    metrics, points = 20, 300  # 6,000 points through a 500-point cache
    lines = b"".join(b"flow.m%d %d %d\n" % (m, p, now - 86000 + p * 10)
                     for p in range(points) for m in range(metrics))
    send_tcp(daemon.port("plaintext/tcp"), lines)
    last = tmp_path / f"storage/whisper/flow/m{metrics - 1}.wsp"

    def all_written():
        return last.exists() and whisper.fetch(str(last), now - 86000 + (points - 2) * 10,
                                               now - 86000 + points * 10)[1][0] == points - 1
    wait_until(all_written, 30, 0.1)
    assert daemon.stop() == 0, daemon.output()
    for m in range(metrics):
        values = whisper.fetch(str(tmp_path / f"storage/whisper/flow/m{m}.wsp"),
                               now - 86000 - 10, now - 86000 + points * 10 - 10)[1]
        assert [v for v in values if v is not None] == list(map(float, range(points)))


def test_own_metrics_are_written_under_the_agent_prefix(tmp_path, start):
    config = write_config(tmp_path, cache_extra="CARBON_METRIC_INTERVAL = 1\nCARBON_METRIC_PREFIX = self")
    daemon = start("cache", config)
    now = int(time.time())
    send_tcp(daemon.port("plaintext/tcp"), b"".join(b"own.m%d 1 %d\n" % (i, now) for i in range(7))
             + b"bad..one 1 %d\n" % now)
    agents = tmp_path / "storage" / "whisper" / "self" / "agents"
    wait_until(lambda: list(agents.glob("*/metricsReceived.wsp")), 15, 0.1)
    time.sleep(1.5)  # one more interval, so the counts of the sends are in
    assert daemon.stop() == 0
    (agent,) = list(agents.iterdir())
    assert agent.name.endswith("-a")

    def total(name):
        (_, _, step), values = whisper.fetch(str(agent / f"{name}.wsp"), now - 120, now + 120)
        return sum(v for v in values if v is not None)

    assert total("metricsReceived") == 7
    assert total("invalidNames") == 1 and total("errors") == 1
    assert total("creates") >= 7 and total("committedPoints") >= 7
    for name in ("cache/size", "cache/queues", "cpuUsage", "memUsage", "pointsPerUpdate", "avgUpdateTime",
                 "updateOperations", "cache/overflow", "droppedCreates", "whitelistRejects"):
        assert (agent / f"{name}.wsp").exists(), name
