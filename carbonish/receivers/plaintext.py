"""Graphite plaintext over TCP and UDP: `path value [timestamp]\\n`, many lines at once.

TCP hands every run of whole lines to the parser in one call (not one call a line) and
keeps the partial last line for the next segment; a line longer than the limit is
skipped up to its newline and counted. UDP takes each datagram as whole lines, and all the datagrams of one read pass as one chunk.
"""
from twisted.internet.protocol import DatagramProtocol

from carbonish.receivers.flow import FlowControlledFactory
from carbonish.receivers.lines import LineChunkReceiver


class PlaintextProtocol(LineChunkReceiver):
    def connectionMade(self):
        self.max_length = self.factory.max_length
        self.factory.connected(self)

    def connectionLost(self, reason):
        self.factory.disconnected(self)

    def linesReceived(self, chunk):
        self.factory.lines(chunk)

    def lineTooLong(self, start):
        self.factory.too_long(start)


class PlaintextFactory(FlowControlledFactory):
    protocol = PlaintextProtocol
    noisy = False

    def __init__(self, ingest, reactor, max_length=4096, use_flow_control=True):
        super().__init__(ingest, reactor, use_flow_control)
        self.max_length = max_length

    def lines(self, chunk):
        self.ingest.plaintext(chunk)
        self.check_full()

    def too_long(self, start):
        self.ingest.counters.increment("invalidLines")
        self.ingest.counters.increment("errors")
        self.ingest.log.error("invalidLines",
                              f"line longer than {self.max_length} bytes skipped: {start[:100]!r}...")


class PlaintextUDP(DatagramProtocol):
    noisy = False
    """One datagram, many lines; while the cache is full datagrams are dropped and counted."""

    def __init__(self, ingest):
        self.ingest = ingest

    def datagramReceived(self, data, addr):
        self.datagramsReceived([data])

    def datagramsReceived(self, datagrams):
        """A read pass's datagrams (receivers/udp.py), parsed as one chunk."""
        chunk = b"\n".join(datagrams)
        if self.ingest.cache.full:
            self.ingest.counters.increment("cache.overflow", len(chunk.split()) // 3 or 1)
            return
        self.ingest.plaintext(chunk)
