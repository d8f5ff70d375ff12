"""Line framing for stream receivers: runs of whole lines, not one call a line."""
from twisted.internet.protocol import Protocol


class LineChunkReceiver(Protocol):
    """Hands every run of whole lines that arrives to `linesReceived(chunk)` in one call
    and keeps the partial last line for the next segment. A line longer than
    `max_length` is skipped up to its newline and reported to `lineTooLong(start)`."""

    max_length = 4096

    def __init__(self):
        self._buffer = b""
        self._skipping = False

    def dataReceived(self, data):
        if self._skipping:
            newline = data.find(b"\n")
            if newline < 0:
                return
            self._skipping = False
            data = data[newline + 1:]
        data = self._buffer + data
        cut = data.rfind(b"\n") + 1
        self._buffer = data[cut:]
        if cut:
            self.linesReceived(data[:cut])
        if len(self._buffer) > self.max_length:
            self.lineTooLong(self._buffer)
            self._buffer = b""
            self._skipping = True

    def linesReceived(self, chunk):
        raise NotImplementedError

    def lineTooLong(self, start):
        pass
