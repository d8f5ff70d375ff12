"""Flow control shared by the TCP receivers: pause reading while the cache is paused
(full, or past its backlog limit).

A paused sender's bytes wait in its socket buffers and then in the sender itself, so a
TCP stream larger than the cache loses nothing (carbon-cache drops what meets a full
cache). The cache calls `resume` from the writer thread; it is moved to the reactor.
"""
from twisted.internet.protocol import Factory


class FlowControlledFactory(Factory):
    """Tracks its connections; pauses them all while `cache.paused`."""

    def __init__(self, ingest, reactor, use_flow_control=True):
        self.ingest = ingest
        self.reactor = reactor
        self.use_flow_control = use_flow_control
        self.connections = set()
        self.paused = False
        if use_flow_control:
            ingest.cache.on_resume(lambda: reactor.callFromThread(self.resume))

    def check_full(self):
        if self.use_flow_control and self.ingest.cache.paused and not self.paused:
            self.paused = True
            for protocol in self.connections:
                protocol.transport.pauseProducing()

    def resume(self):
        if self.paused and not self.ingest.cache.paused:
            self.paused = False
            for protocol in list(self.connections):
                protocol.transport.resumeProducing()

    def connected(self, protocol):
        self.connections.add(protocol)
        if self.paused:
            protocol.transport.pauseProducing()

    def disconnected(self, protocol):
        self.connections.discard(protocol)
