"""UDP for the receivers: read every waiting datagram in one pass, hand them over in one
call (`protocol.datagramsReceived(list)`), size the receive buffer so bursts are not
dropped by the kernel, and coalesce wake-ups at moderate rates."""
import socket

from twisted.internet import udp
from twisted.logger import Logger

log = Logger(namespace="carbonish")

UDP_MAX_PACKET_SIZE = 65535   # pass to listenUDP: Twisted's 8192 default truncates


class BatchUDPPort(udp.Port):
    """Twisted's UDP port, reading a whole pass of datagrams before handing them over.

    Twisted's `doRead` calls `datagramReceived` once per datagram with its address; the
    protocols here want neither, so this reads with `recv` (no address tuple) until
    the socket is empty or maxThroughput bytes were read, and calls the protocol's
    `datagramsReceived(list)` once: one Python call per pass instead of one a packet.

    With `coalesce_delay` set, a pass that found fewer than `coalesce_below` datagrams
    stops reading for that long, so that at moderate rates the process wakes up once per
    few dozen datagrams rather than once per datagram or two (the wake-up, not the
    datagram, is then what costs); listen_udp sets both from the buffer the kernel
    granted, so that what arrives meanwhile fits.
    """
    coalesce_delay = 0.0
    coalesce_below = 256

    def doRead(self):
        count = self._read_pass()
        if self.coalesce_delay and count < self.coalesce_below and self.connected:
            self.stopReading()
            self.reactor.callLater(self.coalesce_delay, self._resume)

    def _read_pass(self) -> int:
        packets = []
        read = 0
        recv = self.socket.recv
        size = self.maxPacketSize
        while read < self.maxThroughput:
            try:
                data = recv(size)
            except (BlockingIOError, InterruptedError, ConnectionRefusedError):
                break
            read += len(data)
            packets.append(data)
        if packets:
            self.protocol.datagramsReceived(packets)
        return len(packets)

    def _resume(self):
        if self.connected:
            self.startReading()

    def stopListening(self):
        """Take what waits in the socket first (a pause may have left some there), so the
        flush that follows a stop still counts it."""
        if self.connected:
            self._read_pass()
        return super().stopListening()


def set_receive_buffer(sock, size) -> int:
    """Ask for a `size`-byte SO_RCVBUF; return what the kernel granted (Linux caps the
    request at net.core.rmem_max and reports twice it). 0 keeps the kernel default."""
    if size > 0:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)


# How long a small read pass pauses reading, by the receive buffer the kernel granted
# (as getsockopt reports it, doubled): (at least, pause seconds, below this many).
# 2 MiB holds ~2,500 small datagrams, so 5 ms is safe below ~500k datagrams/s; the
# kernel default (~256 datagrams) gets 0.5 ms, safe below ~500k/s too, and a third of
# the CPU a packet that waking for every datagram or two costs.
COALESCE = ((2 * 1024 * 1024, 0.005, 256), (0, 0.0005, 64))


def listen_udp(reactor, port, protocol, interface="", buffer_size=0, label="udp"):
    """Bind a BatchUDPPort for `protocol` (reactor.listenUDP's steps) and size its
    receive buffer; the caller stops it with `stopListening`. Wake-ups are coalesced as
    COALESCE says for the buffer granted. Logs `LABEL listening on udp://HOST:PORT`."""
    listening = BatchUDPPort(port, protocol, interface, UDP_MAX_PACKET_SIZE, reactor)
    listening.startListening()
    granted = set_receive_buffer(listening.socket, buffer_size)
    listening.coalesce_delay, listening.coalesce_below = next(
        (delay, below) for least, delay, below in COALESCE if granted >= least)
    host = listening.getHost()
    log.info("{label} listening on udp://{host}:{port} (SO_RCVBUF {granted} bytes)",
             label=label, host=host.host, port=host.port, granted=granted)
    return listening
