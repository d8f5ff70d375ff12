"""UDP for the receivers: read every waiting datagram in one pass, many a system call
(recvmmsg), hand them over in one call (`protocol.datagramsReceived(list)`), size the
receive buffer so bursts are not dropped by the kernel, and coalesce wake-ups at moderate
rates."""
import ctypes
import errno
import mmap
import os
import socket

import numpy as np

from twisted.internet import udp
from twisted.logger import Logger

log = Logger(namespace="carbonish")

UDP_MAX_PACKET_SIZE = 65535   # pass to listenUDP: Twisted's 8192 default truncates

# errnos that end a read pass quietly, as Twisted's own UDP port takes them
_PASS_OVER = (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR, errno.ECONNREFUSED)


# struct iovec, struct msghdr and struct mmsghdr of Linux's recvmmsg(2) and sendmmsg(2)
class Iovec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class Msghdr(ctypes.Structure):
    _fields_ = [("msg_name", ctypes.c_void_p), ("msg_namelen", ctypes.c_uint32),
                ("msg_iov", ctypes.POINTER(Iovec)), ("msg_iovlen", ctypes.c_size_t),
                ("msg_control", ctypes.c_void_p), ("msg_controllen", ctypes.c_size_t),
                ("msg_flags", ctypes.c_int)]


class Mmsghdr(ctypes.Structure):
    _fields_ = [("msg_hdr", Msghdr), ("msg_len", ctypes.c_uint)]


def load_recvmmsg(libc=None):
    """recvmmsg(2) from `libc` (default: the process's C library) as a ctypes function,
    or None where there is none (not Linux). The default keeps the GIL for the call
    (ctypes.PyDLL): the reader only calls it with MSG_DONTWAIT, so it never blocks, and
    a thread that releases the GIL waits to get it back while the writer thread runs."""
    try:
        function = (libc or ctypes.PyDLL(None, use_errno=True)).recvmmsg
    except (AttributeError, OSError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.POINTER(Mmsghdr), ctypes.c_uint, ctypes.c_int,
                         ctypes.c_void_p]
    function.restype = ctypes.c_int
    return function


class DatagramReader:
    """Reads up to `slots` datagrams a system call with recvmmsg, each into its own
    65,536-byte slot of one anonymous mapping (pages are touched only as datagrams fill
    them: small datagrams keep ~4 KiB a slot resident).

    Python's `socket.recv` releases the GIL around every call; while the writer thread
    runs, each re-acquire can wait out the switch interval, so a loop of one recv a
    datagram loses a burst to the writer. One call here takes a whole batch, and does
    not release the GIL (load_recvmmsg).
    """

    SLOT = 65536  # > UDP_MAX_PACKET_SIZE: no datagram is truncated

    def __init__(self, recvmmsg, slots=256):
        self.recvmmsg = recvmmsg
        self.slots = slots
        self.buffer = mmap.mmap(-1, slots * self.SLOT)
        base = ctypes.addressof(ctypes.c_char.from_buffer(self.buffer))
        self.iovecs = (Iovec * slots)()
        self.headers = (Mmsghdr * slots)()
        for i in range(slots):
            self.iovecs[i].iov_base = base + i * self.SLOT
            self.iovecs[i].iov_len = self.SLOT
            self.headers[i].msg_hdr.msg_iov = ctypes.pointer(self.iovecs[i])
            self.headers[i].msg_hdr.msg_iovlen = 1
        self.lengths = np.ndarray((slots,), dtype=np.uintc, buffer=self.headers,
                                  offset=Mmsghdr.msg_len.offset,
                                  strides=(ctypes.sizeof(Mmsghdr),))
        self.offsets = range(0, slots * self.SLOT, self.SLOT)

    def read(self, fileno, limit):
        """Up to `limit` (<= slots) waiting datagrams, [] when none wait; OSError for
        an error other than those that end a pass."""
        count = self.recvmmsg(fileno, self.headers, min(limit, self.slots),
                              socket.MSG_DONTWAIT, None)
        if count < 0:
            code = ctypes.get_errno()
            if code in _PASS_OVER:
                return []
            raise OSError(code, os.strerror(code))
        buffer = self.buffer
        return [buffer[offset:offset + length]
                for offset, length in zip(self.offsets, self.lengths[:count].tolist())]


class BatchUDPPort(udp.Port):
    """Twisted's UDP port, reading a whole pass of datagrams before handing them over.

    Twisted's `doRead` calls `datagramReceived` once per datagram with its address; the
    protocols here want neither, so this reads until the socket is empty or
    maxThroughput bytes were read, and calls the protocol's `datagramsReceived(list)`
    once: one Python call per pass instead of one a packet. Reads go through a
    DatagramReader (recvmmsg, `recv_batch` datagrams a call) where libc has recvmmsg,
    else `recv`, one datagram a call (no address tuple); `use_recvmmsg = False` forces
    the latter.

    With `coalesce_delay` set, a pass that found fewer than `coalesce_below` datagrams
    stops reading for that long, so that at moderate rates the process wakes up once per
    few dozen datagrams rather than once per datagram or two (the wake-up, not the
    datagram, is then what costs); listen_udp sets both from the buffer the kernel
    granted, so that what arrives meanwhile fits.
    """
    coalesce_delay = 0.0
    coalesce_below = 256
    use_recvmmsg = True
    recv_batch = 256
    _reader = None

    def doRead(self):
        count = self._read_pass()
        if self.coalesce_delay and count < self.coalesce_below and self.connected:
            self.stopReading()
            self.reactor.callLater(self.coalesce_delay, self._resume)

    def _read_pass(self) -> int:
        if self._reader is None and self.use_recvmmsg:
            recvmmsg = load_recvmmsg()
            self.use_recvmmsg = recvmmsg is not None
            if recvmmsg is not None:
                self._reader = DatagramReader(recvmmsg, self.recv_batch)
        if self._reader is not None:
            packets = self._read_batches(self._reader)
        else:
            packets = self._read_singly()
        if packets:
            self.protocol.datagramsReceived(packets)
        return len(packets)

    def _read_batches(self, reader):
        packets = []
        read = 0
        fileno = self.socket.fileno()
        while read < self.maxThroughput:
            batch = reader.read(fileno, reader.slots)
            if not batch:
                break
            read += sum(map(len, batch))
            packets += batch
            if len(batch) < reader.slots:
                break  # the socket is empty (or near enough: the next pass takes the rest)
        return packets

    def _read_singly(self):
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
        return packets

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
