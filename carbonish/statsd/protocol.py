"""statsd over Twisted: UDP datagrams and TCP chunks into the aggregator, flushed on a timer.

The protocols only frame; the aggregator parses. UDP is read by BatchUDPPort
(`listen_udp`): one readiness event reads every waiting datagram (up to Twisted's 256 KiB
a pass) and hands the list to the protocol in one call, which the aggregator takes in one
`process_packets`: a packet costs its recv and its lines, not a Python call chain. On a
plain `reactor.listenUDP` port, or over TCP, packets go through a PacketBatcher that
collects them until the reactor turns round. TCP is framed as statsd's TCP server frames
it: every run of whole lines that arrives is one packet.

StatsdService owns the flush: every FLUSH_INTERVAL seconds (and once more when it stops,
so the last interval is not lost) it drains the batcher, flushes the aggregator and hands
the rows to `sink` (service.py wires it to `ingest.points`). `statsd_service(config,
sink, reactor)` builds the whole tree: flush first, then the UDP and TCP listeners.
"""

from twisted.application.service import MultiService, Service
from twisted.internet.protocol import DatagramProtocol, Factory
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from carbonish.receivers import udp
from carbonish.receivers.lines import LineChunkReceiver
from carbonish.statsd.aggregator import StatsdAggregator

log = Logger(namespace="carbonish.statsd")

TCP_MAX_LENGTH = 1024 * 1024  # a line longer than this is skipped, as plaintext does


class PacketBatcher:
    """Packets gathered while the reactor reads, processed together when it is idle."""

    def __init__(self, aggregator, clock, max_pending=20_000):
        self.aggregator = aggregator
        self.clock = clock
        self.max_pending = max_pending
        self.pending = []
        self._call = None

    def add(self, packet: bytes) -> None:
        self.pending.append(packet)
        if len(self.pending) >= self.max_pending:
            self.drain()
        elif self._call is None:
            self._call = self.clock.callLater(0, self.drain)

    def add_many(self, packets) -> None:
        """A reactor pass's worth of packets: processed now, after anything pending."""
        if self.pending:
            self.drain()
        self.aggregator.process_packets(packets)

    def drain(self) -> None:
        """Process everything pending now."""
        if self._call is not None:
            if self._call.active():
                self._call.cancel()
            self._call = None
        packets, self.pending = self.pending, []
        self.aggregator.process_packets(packets)


class StatsdUDP(DatagramProtocol):
    """One datagram is one statsd packet."""
    noisy = False

    def __init__(self, batcher):
        self.batcher = batcher

    def datagramReceived(self, data, addr):
        self.batcher.add(data)

    def datagramsReceived(self, packets):
        """All datagrams of one read pass (BatchUDPPort)."""
        self.batcher.add_many(packets)


def listen_udp(reactor, port, protocol, interface="", buffer_size=0):
    """The statsd UDP port: batched reads, its own receive buffer (receivers/udp.py)."""
    return udp.listen_udp(reactor, port, protocol, interface, buffer_size, label="statsd")


class StatsdTCP(LineChunkReceiver):
    """Whole lines as they arrive, one packet per run (statsd's servers/tcp.js)."""

    def connectionMade(self):
        self.max_length = self.factory.max_length

    def linesReceived(self, chunk):
        self.factory.batcher.add(chunk)

    def lineTooLong(self, start):
        self.factory.too_long(start)


class StatsdTCPFactory(Factory):
    protocol = StatsdTCP
    noisy = False

    def __init__(self, batcher, max_length=TCP_MAX_LENGTH):
        self.batcher = batcher
        self.max_length = max_length
        self.too_long_lines = 0

    def too_long(self, start):
        self.too_long_lines += 1
        log.warn("statsd TCP line longer than {limit} bytes skipped: {start!r}...",
                 limit=self.max_length, start=start[:100])


class StatsdService(Service):
    """Flushes `aggregator` into `sink(rows)` every flush interval on `clock`."""

    def __init__(self, config, aggregator, sink, clock):
        self.config = config
        self.aggregator = aggregator
        self.sink = sink
        self.clock = clock
        self.batcher = PacketBatcher(aggregator, clock)
        self._loop = LoopingCall(self.flush)
        self._loop.clock = clock

    def udp_protocol(self) -> StatsdUDP:
        return StatsdUDP(self.batcher)

    def tcp_factory(self) -> StatsdTCPFactory:
        return StatsdTCPFactory(self.batcher)

    def startService(self):
        super().startService()
        self._loop.start(self.config.flush_interval, now=False)

    def stopService(self):
        super().stopService()
        if self._loop.running:
            self._loop.stop()
        self.flush()

    def flush(self) -> None:
        """One flush now: pending packets in, rows out to the sink."""
        self.batcher.drain()
        rows = self.aggregator.flush()
        try:
            self.sink(rows)
        except Exception:  # the timer must outlive a failing sink; the rows are logged lost
            log.failure("statsd flush of {count} rows failed", count=len(rows))


class UDPListener(Service):
    """The statsd UDP port (listen_udp) as a service; logs the address it bound."""

    def __init__(self, reactor, config, protocol):
        self.reactor = reactor
        self.config = config
        self.protocol = protocol
        self.listening = None

    def startService(self):
        super().startService()
        config = self.config
        self.listening = listen_udp(self.reactor, config.udp_port, self.protocol,
                                    config.udp_interface, config.udp_buffer_size)

    def stopService(self):
        super().stopService()
        if self.listening is not None:
            return self.listening.stopListening()


class TCPListener(Service):
    """statsd over TCP on TCP_PORT, same interface as UDP (statsd has one address)."""

    def __init__(self, reactor, config, factory):
        self.reactor = reactor
        self.config = config
        self.factory = factory
        self.listening = None

    def startService(self):
        super().startService()
        self.listening = self.reactor.listenTCP(self.config.tcp_port, self.factory,
                                                interface=self.config.udp_interface)
        host = self.listening.getHost()
        log.info("statsd listening on tcp://{host}:{port}", host=host.host, port=host.port)

    def stopService(self):
        super().stopService()
        if self.listening is not None:
            return self.listening.stopListening()


def statsd_service(config, sink, reactor) -> MultiService:
    """The whole statsd receiver: flush service first, then the listeners, so on stop
    the listeners close before the last interval is flushed into `sink`."""
    top = MultiService()
    flusher = StatsdService(config, StatsdAggregator(config, reactor), sink, reactor)
    flusher.setName("statsd-flush")
    flusher.setServiceParent(top)
    UDPListener(reactor, config, flusher.udp_protocol()).setServiceParent(top)
    if config.tcp_port:
        TCPListener(reactor, config, flusher.tcp_factory()).setServiceParent(top)
    return top
