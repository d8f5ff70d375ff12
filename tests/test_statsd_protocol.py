"""statsd framing (UDP, TCP), batching and the flush service; one real-reactor UDP run."""
import ctypes
import errno
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from twisted.internet import task
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport

from carbonish.statsd.aggregator import StatsdAggregator
from carbonish.statsd.config import (HistogramRule, StatsdConfig, StatsdConfigError,
                                     config_from_settings)
from carbonish.receivers.udp import (BatchUDPPort, DatagramReader, load_recvmmsg,
                                     set_receive_buffer)
from carbonish.statsd.protocol import (PacketBatcher, StatsdService, StatsdTCPFactory,
                                       StatsdUDP, listen_udp, statsd_service)

REPO = Path(__file__).resolve().parent.parent


class RecordingAggregator:
    def __init__(self):
        self.calls = []

    def process_packets(self, packets):
        self.calls.append(list(packets))


def test_batcher_hands_over_everything_once_the_reactor_turns():
    clock, agg = task.Clock(), RecordingAggregator()
    batcher = PacketBatcher(agg, clock)
    for packet in (b"a:1|c", b"b:2|c", b"c:3|c"):
        batcher.add(packet)
    assert agg.calls == []
    clock.advance(0)
    assert agg.calls == [[b"a:1|c", b"b:2|c", b"c:3|c"]]
    batcher.add(b"d:1|c")
    clock.advance(0)
    assert agg.calls[-1] == [b"d:1|c"]


def test_batcher_drains_at_once_when_full():
    clock, agg = task.Clock(), RecordingAggregator()
    batcher = PacketBatcher(agg, clock, max_pending=3)
    for i in range(7):
        batcher.add(b"%d" % i)
    assert agg.calls == [[b"0", b"1", b"2"], [b"3", b"4", b"5"]]
    clock.advance(0)
    assert agg.calls[-1] == [b"6"] and clock.getDelayedCalls() == []


def test_batcher_add_many_keeps_arrival_order():
    clock, agg = task.Clock(), RecordingAggregator()
    batcher = PacketBatcher(agg, clock)
    batcher.add(b"first")
    batcher.add_many([b"second", b"third"])
    assert agg.calls == [[b"first"], [b"second", b"third"]]
    clock.advance(0)
    assert len(agg.calls) == 2


READ_PATHS = [pytest.param(True, id="recvmmsg"), pytest.param(False, id="recv")]


def _bound_port(proto, max_throughput=None, use_recvmmsg=True, recv_batch=256):
    """A BatchUDPPort over one end of a datagram socketpair (delivery is synchronous),
    not registered with any reactor; returns (port, sending end)."""
    port = BatchUDPPort(0, proto, "127.0.0.1", 65535, reactor=task.Clock())
    port.socket, sender = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    port.socket.setblocking(False)
    port.use_recvmmsg, port.recv_batch = use_recvmmsg, recv_batch
    if max_throughput:
        port.maxThroughput = max_throughput
    return port, sender


@pytest.mark.parametrize("use_recvmmsg", READ_PATHS)
def test_batch_port_reads_a_whole_pass_in_one_call(use_recvmmsg):
    clock, agg = task.Clock(), RecordingAggregator()
    port, sender = _bound_port(StatsdUDP(PacketBatcher(agg, clock)), use_recvmmsg=use_recvmmsg)
    try:
        for data in (b"a:1|c", b"b:2|c", b"x" * 20000, b"", b"y" * 65000):
            sender.send(data)
        port.doRead()
        assert agg.calls == [[b"a:1|c", b"b:2|c", b"x" * 20000, b"", b"y" * 65000]]
        port.doRead()                       # nothing left: no call
        assert len(agg.calls) == 1
        assert (port._reader is not None) == use_recvmmsg
    finally:
        port.socket.close()
        sender.close()


@pytest.mark.parametrize("use_recvmmsg", READ_PATHS)
def test_batch_port_stops_a_pass_at_max_throughput(use_recvmmsg):
    clock, agg = task.Clock(), RecordingAggregator()
    port, sender = _bound_port(StatsdUDP(PacketBatcher(agg, clock)), max_throughput=10,
                               use_recvmmsg=use_recvmmsg, recv_batch=1)
    try:
        for data in (b"a:1|c", b"b:2|c", b"c:3|c"):
            sender.send(data)
        port.doRead()
        port.doRead()
        assert agg.calls == [[b"a:1|c", b"b:2|c"], [b"c:3|c"]]
    finally:
        port.socket.close()
        sender.close()


def test_batch_port_checks_max_throughput_between_recvmmsg_calls():
    clock, agg = task.Clock(), RecordingAggregator()
    port, sender = _bound_port(StatsdUDP(PacketBatcher(agg, clock)), max_throughput=10,
                               recv_batch=2)
    try:
        for data in "abcdefg":
            sender.send(f"{data}:1|c".encode())
        port.doRead()                       # one call: 2 datagrams, 10 bytes: done
        port.doRead()                       # 2 more
        port.doRead()                       # 2 more
        port.doRead()                       # the last, a short batch: the pass ends
        assert [len(call) for call in agg.calls] == [2, 2, 2, 1]
        assert b"".join(sum(agg.calls, [])) == b"".join(f"{d}:1|c".encode() for d in "abcdefg")
    finally:
        port.socket.close()
        sender.close()


class FakeRecvmmsg:
    """Stands in for libc's recvmmsg: fails with `code` (set as ctypes' saved errno)."""

    def __init__(self, code):
        self.code = code

    def __call__(self, fileno, headers, vlen, flags, timeout):
        ctypes.set_errno(self.code)
        return -1


@pytest.mark.parametrize("code", [errno.EAGAIN, errno.EINTR, errno.ECONNREFUSED])
def test_datagram_reader_ends_a_pass_on_the_errnos_recv_does(code):
    assert DatagramReader(FakeRecvmmsg(code), slots=4).read(0, 4) == []


def test_datagram_reader_raises_other_errors():
    with pytest.raises(OSError) as failure:
        DatagramReader(FakeRecvmmsg(errno.EBADF), slots=4).read(0, 4)
    assert failure.value.errno == errno.EBADF


def test_datagram_reader_on_libc_raises_for_a_non_socket():
    reader = DatagramReader(load_recvmmsg(), slots=2)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        assert reader.read(sock.fileno(), 2) == []          # nothing waits
    read_end, write_end = os.pipe()
    try:
        with pytest.raises(OSError) as failure:
            reader.read(read_end, 2)
        assert failure.value.errno == errno.ENOTSOCK
    finally:
        os.close(read_end)
        os.close(write_end)


def test_without_recvmmsg_the_port_reads_one_datagram_a_call():
    assert load_recvmmsg(libc=object()) is None
    clock, agg = task.Clock(), RecordingAggregator()
    port, sender = _bound_port(StatsdUDP(PacketBatcher(agg, clock)))
    try:
        sender.send(b"a:1|c")
        port.doRead()
        assert port._reader is not None     # this libc has it
        port._reader, port.use_recvmmsg = None, False
        sender.send(b"b:1|c")
        port.doRead()
        assert agg.calls == [[b"a:1|c"], [b"b:1|c"]] and port._reader is None
    finally:
        port.socket.close()
        sender.close()


def test_set_receive_buffer_grows_the_buffer():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        default = set_receive_buffer(s, 0)
        assert set_receive_buffer(s, 4 * default) >= 4 * default
        assert set_receive_buffer(s, 0) >= 4 * default          # 0 leaves it as it is


class ReaderReactor(task.Clock):
    """Just enough reactor for a UDP port: a clock plus the reader set."""

    def __init__(self):
        super().__init__()
        self.readers = set()

    def addReader(self, reader):
        self.readers.add(reader)

    def removeReader(self, reader):
        self.readers.discard(reader)

    def removeWriter(self, writer):
        pass


def test_listen_udp_binds_sizes_and_stops():
    reactor = ReaderReactor()
    port = listen_udp(reactor, 0, StatsdUDP(None), "127.0.0.1", 1 << 20)
    assert isinstance(port, BatchUDPPort) and port in reactor.readers
    assert port.getHost().port > 0 and port.maxPacketSize == 65535
    assert port.socket.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= 1 << 20
    assert (port.coalesce_delay, port.coalesce_below) == (0.005, 256)   # 2 MiB granted
    port.stopListening()
    reactor.advance(0)
    assert port not in reactor.readers


def test_listen_udp_pauses_briefly_with_the_kernel_default_buffer():
    reactor = ReaderReactor()
    port = listen_udp(reactor, 0, StatsdUDP(None), "127.0.0.1", 0)
    assert (port.coalesce_delay, port.coalesce_below) == (0.0005, 64)
    port.stopListening()
    reactor.advance(0)


def _coalescing_port(agg):
    reactor = ReaderReactor()
    port = BatchUDPPort(0, StatsdUDP(PacketBatcher(agg, reactor)), "127.0.0.1", 65535,
                        reactor=reactor)
    port.socket, sender = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    port.socket.setblocking(False)
    port.coalesce_delay, port.coalesce_below = 0.001, 3
    port.connected, port.fileno = 1, port.socket.fileno   # startListening's steps
    port._connectToProtocol()
    return port, sender, reactor


def test_small_pass_pauses_reading_then_resumes():
    agg = RecordingAggregator()
    port, sender, reactor = _coalescing_port(agg)
    try:
        sender.send(b"a:1|c")
        port.doRead()
        assert agg.calls == [[b"a:1|c"]] and port not in reactor.readers
        reactor.advance(0.001)
        assert port in reactor.readers
        for data in (b"b:1|c", b"c:1|c", b"d:1|c"):
            sender.send(data)
        port.doRead()                        # a full pass: keeps reading
        assert port in reactor.readers and reactor.getDelayedCalls() == []
    finally:
        port.socket.close()
        sender.close()


def test_stop_listening_takes_what_waits_in_the_socket():
    agg = RecordingAggregator()
    port, sender, reactor = _coalescing_port(agg)
    try:
        port.doRead()                        # empty pass: pauses
        sender.send(b"late:1|c")
        port.stopListening()
        assert agg.calls == [[b"late:1|c"]]
        reactor.advance(0.01)
        assert port not in reactor.readers and port.connected == 0
    finally:
        sender.close()


def test_no_resume_after_the_port_closed_during_a_pause():
    port, sender, reactor = _coalescing_port(RecordingAggregator())
    try:
        port.doRead()                        # empty pass: pauses
        port.connected = 0                   # stopListening while paused
        reactor.advance(0.001)
        assert port not in reactor.readers
        port.doRead()
        assert reactor.getDelayedCalls() == []
    finally:
        port.socket.close()
        sender.close()


def _tcp(max_length=1024):
    clock, agg = task.Clock(), RecordingAggregator()
    factory = StatsdTCPFactory(PacketBatcher(agg, clock), max_length=max_length)
    proto = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 5555))
    proto.makeConnection(StringTransport())
    return proto, factory, clock, agg


@pytest.mark.parametrize("one_byte_at_a_time", [False, True])
def test_tcp_takes_whole_lines_only(one_byte_at_a_time):
    proto, _, clock, agg = _tcp()
    data = b"a:1|c\nb:2|ms\nc:3"
    chunks = [data[i:i + 1] for i in range(len(data))] if one_byte_at_a_time else [data]
    for chunk in chunks:
        proto.dataReceived(chunk)
    clock.advance(0)
    assert b"".join(sum(agg.calls, [])) == b"a:1|c\nb:2|ms\n"
    proto.dataReceived(b"|g\n")
    clock.advance(0)
    assert agg.calls[-1][-1] == b"c:3|g\n"
    assert not proto.transport.disconnecting


def test_tcp_skips_a_line_over_the_limit():
    proto, factory, clock, agg = _tcp(max_length=10)
    proto.dataReceived(b"ok:1|c\n" + b"x" * 30)
    proto.dataReceived(b"y" * 30)
    proto.dataReceived(b"zz:1|c\nafter:1|c\n")
    clock.advance(0)
    assert sum(agg.calls, []) == [b"ok:1|c\n", b"after:1|c\n"]
    assert factory.too_long_lines == 1


def _service(sink, **kwargs):
    clock = task.Clock()
    clock.advance(1000)
    config = StatsdConfig(flush_interval=10, **kwargs)
    service = StatsdService(config, StatsdAggregator(config, clock), sink, clock)
    return service, clock


def _value(rows, name):
    return dict((n, v) for n, (_, v) in rows)[name]


def test_service_flushes_every_interval_and_on_stop():
    flushes = []
    service, clock = _service(flushes.append)
    service.startService()
    udp = service.udp_protocol()
    udp.datagramReceived(b"hits:1|c\nhits:1|c", ("127.0.0.1", 9))
    clock.advance(9.9)
    assert flushes == []
    clock.advance(0.1)
    assert _value(flushes[0], "stats.counters.hits.count") == 2.0
    assert flushes[0][0][1][0] == 1010                      # timestamp of the flush
    udp.datagramReceived(b"hits:5|c", ("127.0.0.1", 9))   # pending, never turned round
    service.stopService()
    assert len(flushes) == 2
    assert _value(flushes[1], "stats.counters.hits.count") == 5.0
    clock.advance(100)
    assert len(flushes) == 2


def test_service_tcp_factory_feeds_the_same_aggregator():
    flushes = []
    service, clock = _service(flushes.append)
    service.startService()
    proto = service.tcp_factory().buildProtocol(IPv4Address("TCP", "127.0.0.1", 1))
    proto.makeConnection(StringTransport())
    proto.dataReceived(b"t:3|ms\nt:5|ms\n")
    clock.advance(10)
    assert _value(flushes[0], "stats.timers.t.mean") == 4.0
    assert _value(flushes[0], "stats.counters.statsd.packets_received.count") == 1.0


def test_service_keeps_flushing_after_a_failing_sink():
    calls = []

    def sink(rows):
        calls.append(rows)
        if len(calls) == 1:
            raise OSError("cache gone")

    service, clock = _service(sink)
    service.startService()
    clock.advance(10)
    clock.advance(10)
    assert len(calls) == 2
    service.stopService()


def test_config_from_settings():
    config = config_from_settings({
        "ENABLE": True, "UDP_PORT": 0, "FLUSH_INTERVAL": 5.0, "PERCENT_THRESHOLD": [90, 99],
        "HISTOGRAM": [{"metric": "x", "bins": [1, "inf"]}], "LEGACY_NAMESPACE": None,
        "UDP_BUFFER_SIZE": 1 << 20, "NOT_A_FIELD": 1, "CALCULATED_TIMER_METRICS": "count,mean",
    })
    assert config.enable and config.udp_port == 0 and config.flush_interval == 5.0
    assert config.percent_threshold == (90.0, 99.0)
    assert config.histogram == (HistogramRule("x", (1.0, float("inf"))),)
    assert config.legacy_namespace is False and config.udp_buffer_size == 1 << 20
    assert config.calculated_timer_metrics == ("count", "mean")
    text = config_from_settings({"HISTOGRAM": '[{"metric": "", "bins": [2]}]',
                                 "PERCENT_THRESHOLD": "50,-5",
                                 "CALCULATED_TIMER_METRICS": ["upper"]})
    assert text.histogram == (HistogramRule("", (2.0,)),)
    assert text.percent_threshold == (50.0, -5.0) and text.calculated_timer_metrics == ("upper",)
    with pytest.raises(StatsdConfigError, match="JSON list"):
        config_from_settings({"HISTOGRAM": {"metric": "x"}})


SERVER = textwrap.dedent("""
    import json, signal, socket, sys
    from twisted.internet import reactor
    from carbonish.statsd.aggregator import StatsdAggregator
    from carbonish.statsd.config import StatsdConfig
    from carbonish.statsd.protocol import StatsdService, listen_udp

    def sink(rows):
        print(json.dumps(rows), flush=True)

    config = StatsdConfig(flush_interval=0.2)
    service = StatsdService(config, StatsdAggregator(config, reactor), sink, reactor)
    port = listen_udp(reactor, 0, service.udp_protocol(), "127.0.0.1", 1 << 20)
    service.startService()
    reactor.addSystemEventTrigger("before", "shutdown", service.stopService)
    print(json.dumps({"port": port.getHost().port}), flush=True)
    reactor.run()
""")


def _read_json_line(proc, selector, deadline):
    while time.monotonic() < deadline:
        if selector.select(timeout=max(0.0, deadline - time.monotonic())):
            line = proc.stdout.readline()
            if line:
                return json.loads(line)
    raise AssertionError("no output from the statsd server before the deadline")


def test_real_reactor_udp_packets_are_flushed():
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE,
                            text=True, env=env)
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    try:
        deadline = time.monotonic() + 20
        port = _read_json_line(proc, selector, deadline)["port"]
        big = b"\n".join(b"big.%d:1|c" % i for i in range(1500))   # > Twisted's 8192 default
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _ in range(50):
                s.sendto(b"hits:1|c\nlat:5|ms", ("127.0.0.1", port))
            s.sendto(big, ("127.0.0.1", port))
        seen, counted = {}, 0
        while counted < 50 or "stats.counters.big.1499.count" not in seen:
            rows = _read_json_line(proc, selector, deadline)
            for name, (_, value) in rows:
                seen[name] = seen.get(name, 0) + value
            counted = seen.get("stats.counters.hits.count", 0)
        assert counted == 50 and seen["stats.timers.lat.count"] == 50
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)   # keep reading: a full pipe would block the reactor
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()


class ListeningReactor(ReaderReactor):
    """ReaderReactor plus a real TCP listen (never accepted from) for TCPListener."""

    def listenTCP(self, port, factory, backlog=50, interface=""):
        from twisted.internet import tcp
        listening = tcp.Port(port, factory, backlog, interface, self)
        listening.startListening()
        return listening


def test_statsd_service_tree_starts_listeners_and_flushes_last_on_stop():
    reactor = ListeningReactor()
    flushes = []
    config = StatsdConfig(udp_port=0, tcp_port=0, udp_interface="127.0.0.1",
                          udp_buffer_size=1 << 20)
    top = statsd_service(config, flushes.append, reactor)
    assert [type(s).__name__ for s in top] == ["StatsdService", "UDPListener"]
    top.startService()
    udp = list(top)[1].listening
    assert udp in reactor.readers and udp.getHost().port > 0
    udp.protocol.datagramsReceived([b"x:1|c"])
    top.stopService()
    reactor.advance(0)
    assert udp not in reactor.readers
    assert dict((n, v) for n, (_, v) in flushes[-1])["stats.counters.x.count"] == 1.0


def test_statsd_service_with_tcp():
    reactor = ListeningReactor()
    config = StatsdConfig(udp_port=0, tcp_port=_free_tcp_port(), udp_interface="127.0.0.1")
    top = statsd_service(config, lambda rows: None, reactor)
    assert [type(s).__name__ for s in top][-1] == "TCPListener"
    top.startService()
    tcp_listener = list(top)[2]
    assert tcp_listener.listening.getHost().port == config.tcp_port
    top.stopService()
    reactor.advance(0)
    assert tcp_listener.listening.connected is False


def _free_tcp_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
