"""Differential tests: the same packets into etsy statsd 0.9.0 and into the aggregator.

The real statsd (npm `statsd@0.9.0`, installed by bench/bench_statsd.py into
bench/.ref/statsd) runs under node with its graphite backend pointed at a TCP sink
here; its flushes are compared name by name and bit by bit with ours. Skipped where
node or the package is missing (a fresh machine before `make bench`).
"""
import json
import math
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from twisted.internet import task

from carbonish.statsd.aggregator import StatsdAggregator
from carbonish.statsd.config import HistogramRule, StatsdConfig

STATSD_JS = (Path(__file__).resolve().parent.parent / "bench" / ".ref" / "statsd"
             / "node_modules" / "statsd" / "stats.js")
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(NODE is None or not STATSD_JS.exists(),
                                reason="etsy statsd 0.9.0 not installed under bench/.ref")

# Timing-dependent metrics, different by nature between two processes.
VOLATILE = ("calculationtime", "processing_time", "flush_time", "flush_length",
            "last_flush", "timestamp_lag", "last_exception")
DEADLINE = 15.0

PACKETS = [
    b"plain:1|c",
    b"plain:1|c\nplain:2|c|@0.5\nplain:3|c|@0.1",
    b"multi:1|c:2|c:5|ms\n\nmulti2:3|ms:7|ms|@0.25",
    b"rate:1|c|@0.3\nrate:1|c|@0.3\nrate:1|c|@.5\nrate:2|c|@1e-1",
    b"odd type:1|x\nodd/slash:2|C\nempty.type:3|\nbang!name#:4|c",
    b"ws  type:5| ms\nneg.timer:-5|ms\nneg.ws.timer:-5| ms\nhex:0x10|c\nbin:0b11|c",
    b"spaced: 7 |c\nnovalue\nnotype:5\nbadnum:abc|c\nbadrate:1|c|@x\nneg.rate:1|c|@-1",
    b"empty.rate:1|c|\nzero.rate:2|c|@0\ninf:Infinity|c\nexp:1e3|ms",
    b"g1:5|g\ng1:+3|g\ng1:-10|g\ng2:-4|g\ng3:0|g\ng3:-7|g\ng4:+2|g\ng5: -2|g\ng6:x|g",
    b"s1:a|s\ns1:b|s\ns1:a|s\ns1:|s\ns1:0|s\ns2:1|s|@0.5\ns3:\xc3\xa9|s",
    b"tagged:1|c|#env:prod,role\ntagged:2|c|#env:prod,role\ntg2:3|ms|#a;b:c:d",
    b"t1:1|ms\nt1:2|ms\nt1:3|ms\nt1:4|ms\nt1:5|ms\nt1:6|ms\nt1:7|ms\nt1:8|ms\nt1:9|ms",
    b"t1:10|ms\nt1:0.1|ms\nt1:2.5|ms\nt1:2.5|ms|@0.5\none.timer:42|ms",
    b"foo.timer:1|ms\nfoo.timer:3|ms\nfoo.timer:20|ms",
    b"utf8 \xc3\xa9t\xc3\xa9:1|c\nnbsp\xc2\xa0key:1|c\ncr:1|c\r\nbad\xff:1|c",
    b"statsd.bad_lines_seen:1|c\nwith=eq;semi:1|c\n:1|c\ndots...x:1|c",
]


class GraphiteSink:
    """A TCP listener keeping each connection's payload: one statsd flush each."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.flushes = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                chunks = []
                while chunk := conn.recv(65536):
                    chunks.append(chunk)
            with self.lock:
                self.flushes.append(b"".join(chunks).decode())

    def wait_for(self, count):
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.flushes) >= count:
                    return self.flushes[count - 1]
            time.sleep(0.01)
        raise AssertionError(f"statsd sent {len(self.flushes)} flushes, wanted {count}")

    def close(self):
        self.server.close()


def _free_port(kind=socket.SOCK_DGRAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _volatile(name):
    return any(node in VOLATILE for node in name.split(";")[0].split("."))


def _parse_flush(payload):
    values = {}
    for line in payload.splitlines():
        name, value, _ = line.split(" ")
        if not _volatile(name):
            values[name] = float(value)
    return {name: v for name, v in values.items() if not math.isnan(v)}


def _ours(rows):
    return {name: value for name, (_, value) in rows if not _volatile(name)}


def run_statsd(tmp_path, statsd_conf, packets, extra_flushes=1, attempts=3):
    """Flushes of real statsd: the one holding `packets`, then `extra_flushes` empty ones.

    Retried (bounded) when statsd was too slow to take every packet before its next
    flush, which on a busy machine splits them over two flushes."""
    for _ in range(attempts):
        flushes = _statsd_once(tmp_path, statsd_conf, packets, extra_flushes)
        if flushes is not None:
            return flushes
    raise AssertionError(f"statsd never took all packets within one flush ({attempts} tries)")


def _counted(mgmt_port):
    """statsd's packets_received now, from its management port's `counters`."""
    with socket.create_connection(("127.0.0.1", mgmt_port), timeout=5) as conn:
        conn.sendall(b"counters\n")
        reply = b""
        while b"END" not in reply:
            chunk = conn.recv(65536)
            if not chunk:
                break
            reply += chunk
    found = re.search(rb"packets_received'?: (\d+)", reply)
    return int(found.group(1)) if found else -1


def _statsd_once(tmp_path, statsd_conf, packets, extra_flushes):
    sink = GraphiteSink()
    udp_port, mgmt_port = _free_port(), _free_port(socket.SOCK_STREAM)
    conf = dict(statsd_conf, port=udp_port, address="127.0.0.1", mgmt_port=mgmt_port,
                mgmt_address="127.0.0.1", graphiteHost="127.0.0.1",
                graphitePort=sink.port, automaticConfigReload=False)
    path = tmp_path / "statsd.json"
    path.write_text(json.dumps(conf))
    proc = subprocess.Popen([NODE, str(STATSD_JS), str(path)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=STATSD_JS.parent)
    try:
        sink.wait_for(1)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for packet in packets:
                s.sendto(packet, ("127.0.0.1", udp_port))
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            taken = _counted(mgmt_port) >= len(packets)
            with sink.lock:
                flushed_since = len(sink.flushes) > 1
            if flushed_since and not taken:
                return None   # some packets went into the next flush: try again
            if taken:
                break
            time.sleep(0.01)
        return [_parse_flush(sink.wait_for(2 + i)) for i in range(1 + extra_flushes)]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        sink.close()


def run_ours(config, packets, extra_flushes=1):
    clock = task.Clock()
    clock.advance(1_700_000_000)
    aggregator = StatsdAggregator(config, clock)
    clock.advance(config.flush_interval)
    aggregator.flush()
    for packet in packets:
        aggregator.process_packet(packet)
    flushes = []
    for _ in range(1 + extra_flushes):
        clock.advance(config.flush_interval)
        flushes.append(_ours(aggregator.flush()))
    return flushes


def assert_same(theirs, ours):
    assert sorted(set(theirs) - set(ours)) == []
    assert sorted(set(ours) - set(theirs)) == []
    differing = {name: (theirs[name], ours[name]) for name in theirs
                 if theirs[name] != ours[name]}
    assert differing == {}


def test_new_namespace_with_thresholds_and_histograms(tmp_path):
    statsd_conf = {
        "flushInterval": 500, "percentThreshold": [90, -10, 99.9, 50, -50],
        "graphite": {"legacyNamespace": False},
        "histogram": [{"metric": "foo", "bins": []},
                      {"metric": "", "bins": [1, 2.5, 10, "inf"]}],
    }
    config = StatsdConfig(flush_interval=0.5, percent_threshold=(90, -10, 99.9, 50, -50),
                          histogram=(HistogramRule("foo", ()),
                                     HistogramRule("", (1.0, 2.5, 10.0, math.inf))))
    theirs = run_statsd(tmp_path, statsd_conf, PACKETS)
    ours = run_ours(config, PACKETS)
    assert theirs[0]["stats.counters.plain.count"] == 36  # the packets were all taken
    for their_flush, our_flush in zip(theirs, ours):
        assert_same(their_flush, our_flush)


def test_legacy_namespace_prefixes_and_deletion(tmp_path):
    statsd_conf = {
        "flushInterval": 500, "percentThreshold": 75, "deleteIdleStats": True,
        "deleteGauges": False, "prefixStats": "agg", "calculatedTimerMetrics":
        ["count", "mean", "upper_percent", "histogram", "count_percent"],
        "histogram": [{"metric": "t1", "bins": [3, 0.5, 8, "inf"]}],
        "graphite": {"legacyNamespace": True, "globalSuffix": "host1",
                     "globalPrefix": "ignored"},
    }
    config = StatsdConfig(flush_interval=0.5, percent_threshold=(75.0,),
                          delete_idle_stats=True, delete_gauges=False, prefix_stats="agg",
                          calculated_timer_metrics=("count", "mean", "upper_percent",
                                                    "histogram", "count_percent"),
                          histogram=(HistogramRule("t1", (3.0, 0.5, 8.0, math.inf)),),
                          legacy_namespace=True, global_suffix="host1",
                          global_prefix="ignored")
    theirs = run_statsd(tmp_path, statsd_conf, PACKETS)
    ours = run_ours(config, PACKETS)
    for their_flush, our_flush in zip(theirs, ours):
        assert_same(their_flush, our_flush)


def test_custom_prefixes_and_gauge_ttl(tmp_path):
    statsd_conf = {
        "flushInterval": 500, "deleteGauges": True, "gaugesMaxTTL": 2,
        "flush_counts": False,
        "graphite": {"legacyNamespace": False, "globalPrefix": "", "prefixCounter": "",
                     "prefixTimer": "tm", "prefixGauge": "gg", "prefixSet": "st"},
    }
    config = StatsdConfig(flush_interval=0.5, delete_gauges=True, gauges_max_ttl=2,
                          flush_counts=False, global_prefix="", prefix_counter="",
                          prefix_timer="tm", prefix_gauge="gg", prefix_set="st")
    theirs = run_statsd(tmp_path, statsd_conf, PACKETS, extra_flushes=2)
    ours = run_ours(config, PACKETS, extra_flushes=2)
    assert "gg.g1" in theirs[1] and "gg.g1" not in theirs[2]
    for their_flush, our_flush in zip(theirs, ours):
        assert_same(their_flush, our_flush)


def _random_packets(seed, count):
    """Seeded lines built from the pieces statsd's parser branches on."""
    import random
    rng = random.Random(seed)
    names = ["a", "b.c", "d e", "f/g", "h!i", "", "j;k", "t.x", "u-v_w", "é"]
    values = ["1", "0", "-1", "+2", "2.5", "1e2", "0x1A", " 3", "x", "", "Infinity",
              "-0", ".5", "7.", "1_0", "0b11", "99999999999999999999"]
    types = ["c", "ms", "g", "s", "x", "", " ms", "C", "h", "c ", "\tg"]
    rates = [None, "@0.5", "@0.1", "@1", "@2", "@x", "@-1", "@", "@.25", "@0", "0.5", "@1e-1"]
    tags = ["", "|#env:prod", "|#a,b:c", "|#"]

    def value():
        parts = [rng.choice(values), rng.choice(types)]
        rate = rng.choice(rates)
        return "|".join(parts + ([rate] if rate is not None else []))

    packets = []
    for _ in range(count):
        lines = []
        for _ in range(rng.randint(1, 4)):
            bits = [value() for _ in range(rng.choice([0, 1, 1, 1, 2]))]
            lines.append(":".join([rng.choice(names)] + bits) + rng.choice(tags))
        packets.append("\n".join(lines).encode())
    return packets


def test_random_packets(tmp_path):
    packets = _random_packets(seed=5, count=200)   # statsd's socket holds ~256 at once
    statsd_conf = {"flushInterval": 500, "percentThreshold": [90, -25, 33.3],
                   "graphite": {"legacyNamespace": False},
                   "histogram": [{"metric": "t", "bins": [0.5, 2, 100, "inf"]}]}
    config = StatsdConfig(flush_interval=0.5, percent_threshold=(90, -25, 33.3),
                          histogram=(HistogramRule("t", (0.5, 2.0, 100.0, math.inf)),))
    theirs = run_statsd(tmp_path, statsd_conf, packets)
    ours = run_ours(config, packets)
    assert theirs[0]["stats.counters.statsd.packets_received.count"] == 200
    assert theirs[0]["stats.counters.statsd.bad_lines_seen.count"] > 40
    for their_flush, our_flush in zip(theirs, ours):
        assert_same(their_flush, our_flush)
