"""Graphite's pickle protocol: 4-byte length, then a pickled [(path, (timestamp, value)), ...].

Decoded by the restricted unpickler: a message that would call anything is refused whole
and counted; so is one over PICKLE_RECEIVER_MAX_LENGTH (checked before reading it).
"""
from twisted.protocols.basic import Int32StringReceiver

from carbonish import safe_pickle
from carbonish.receivers.flow import FlowControlledFactory


class PickleProtocol(Int32StringReceiver):
    def connectionMade(self):
        self.MAX_LENGTH = self.factory.max_length
        self.factory.connected(self)

    def connectionLost(self, reason):
        self.factory.disconnected(self)

    def stringReceived(self, data):
        self.factory.message(data)

    def lengthLimitExceeded(self, length):
        self.factory.refused(f"message of {length} bytes is over the {self.MAX_LENGTH} limit")
        self.transport.loseConnection()


class PickleFactory(FlowControlledFactory):
    protocol = PickleProtocol
    noisy = False

    def __init__(self, ingest, reactor, max_length=2 ** 20, use_flow_control=True):
        super().__init__(ingest, reactor, use_flow_control)
        self.max_length = max_length

    def message(self, data):
        try:
            rows = safe_pickle.loads(data)
        except safe_pickle.UnsafePickle as exc:
            self.refused(str(exc))
            return
        if not isinstance(rows, (list, tuple)):
            self.refused(f"expected a list of points, got {type(rows).__name__}")
            return
        self.ingest.points(rows)
        self.check_full()

    def refused(self, reason):
        self.ingest.counters.increment("invalidPickles")
        self.ingest.counters.increment("errors")
        self.ingest.log.error("invalidPickles", reason)
