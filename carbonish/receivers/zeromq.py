"""ZeroMQ: a PULL socket for fire-and-forget batches and a REP socket for acknowledged
writes and reads, both driven by the Twisted reactor.

ZeroMQ's file descriptor is edge-triggered: it signals that the socket's state changed,
not that a message is there, so every wake-up drains the socket until EAGAIN (and a REP
socket is checked again after each send, which can change its state too).

PULL messages: one frame (the encoding sniffed from its first byte: `{`/`[` JSON, else
plaintext) or two frames `[encoding, data]` with encoding plain|csv|json.
REP requests are JSON:
  {"op": "write", "encoding": "plain|csv|json", "data": "..."}   (JSON data may be a value)
     -> {"accepted": N, "rejected": M, "errors": [...]} once the points are in the cache
  {"op": "fetch", "path": NAME, "from": EPOCH, "until": EPOCH}
     -> {"path", "step", "points": [[ts, value], ...]}: the file merged with the cache
"""
import json

import numpy as np
import zmq
from twisted.application.service import Service
from twisted.internet.interfaces import IReadDescriptor
from twisted.logger import Logger
from zope.interface import implementer

from carbonish import names, whisper
from carbonish.parse import ENCODINGS, parse_encoded

log = Logger(namespace="carbonish")


class BadMessage(ValueError):
    pass


def sniff(data):
    return "json" if data[:1] in (b"{", b"[") else "plain"


def decode_pull(frames):
    """A PULL message's frames -> Batch; BadMessage for an unusable message."""
    if len(frames) == 1:
        return parse_encoded(sniff(frames[0]), frames[0])
    if len(frames) == 2:
        encoding = frames[0].decode("ascii", "replace").strip().lower()
        if encoding not in ENCODINGS:
            raise BadMessage(f"unknown encoding {encoding!r} (plain, csv, json)")
        return parse_encoded(encoding, frames[1])
    raise BadMessage(f"expected 1 or 2 frames, got {len(frames)}")


@implementer(IReadDescriptor)
class ZmqReader:
    """Adapts a zmq socket to the reactor: `handle(frames)` for every message."""

    def __init__(self, socket, handle, label):
        self.socket = socket
        self.handle = handle
        self.label = label

    def fileno(self):
        return self.socket.getsockopt(zmq.FD)

    def logPrefix(self):
        return f"zeromq {self.label}"

    def doRead(self):
        while self.socket.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            try:
                frames = self.socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            self.handle(frames)

    def connectionLost(self, reason):
        pass


class ZeroMQService(Service):
    """Binds the PULL and REP sockets; `ingest` takes the points, `data_dir` answers fetches."""

    def __init__(self, reactor, ingest, data_dir, pull_bind=None, rep_bind=None, hwm=10000):
        self.reactor = reactor
        self.ingest = ingest
        self.data_dir = data_dir
        self.binds = {"pull": pull_bind, "rep": rep_bind}
        self.hwm = hwm
        self.context = None
        self.readers = {}  # label -> ZmqReader

    def startService(self):
        super().startService()
        self.context = zmq.Context()
        for label, kind, handler in (("pull", zmq.PULL, self._pull), ("rep", zmq.REP, self._request)):
            endpoint = self.binds[label]
            if not endpoint:
                continue
            socket = self.context.socket(kind)
            socket.setsockopt(zmq.RCVHWM, self.hwm)
            socket.setsockopt(zmq.SNDHWM, self.hwm)
            socket.setsockopt(zmq.LINGER, 1000)
            socket.bind(endpoint)
            reader = ZmqReader(socket, handler, label)
            self.readers[label] = reader
            self.reactor.addReader(reader)
            log.info("zeromq {label} listening on {endpoint}", label=label,
                     endpoint=socket.getsockopt(zmq.LAST_ENDPOINT).decode())
            reader.doRead()  # messages may already be queued: the edge has passed

    def stopService(self):
        super().stopService()
        for reader in self.readers.values():
            self.reactor.removeReader(reader)
            reader.doRead()  # take what already arrived
            reader.socket.close()
        self.readers = {}
        if self.context is not None:
            self.context.term()
            self.context = None

    def _pull(self, frames):
        if self.ingest.cache.full:
            self.ingest.counters.increment("cache.overflow")
            return
        try:
            batch = decode_pull(frames)
        except BadMessage as exc:
            self._bad(str(exc))
            return
        self.ingest.batch(batch)

    def _bad(self, reason):
        self.ingest.counters.increment("invalidMessages")
        self.ingest.counters.increment("errors")
        self.ingest.log.error("invalidMessages", reason)

    def _request(self, frames):
        reader = self.readers["rep"]
        try:
            answer = self.answer(frames)
        except BadMessage as exc:
            self._bad(str(exc))
            answer = {"error": str(exc)}
        reader.socket.send(json.dumps(answer).encode(), zmq.NOBLOCK)
        # sending changes the socket's state: drain again, or the next edge may be missed
        self.reactor.callLater(0, reader.doRead)

    def answer(self, frames):
        if len(frames) != 1:
            raise BadMessage(f"expected one JSON frame, got {len(frames)}")
        try:
            request = json.loads(frames[0])
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadMessage(f"request is not JSON: {exc}") from None
        if not isinstance(request, dict):
            raise BadMessage("request is not a JSON object")
        op = request.get("op")
        if op == "write":
            return self._write(request)
        if op == "fetch":
            return self._fetch(request)
        raise BadMessage(f"unknown op {op!r} (write, fetch)")

    def _write(self, request):
        encoding = request.get("encoding", "plain")
        if encoding not in ENCODINGS:
            raise BadMessage(f"unknown encoding {encoding!r} (plain, csv, json)")
        data = request.get("data")
        if encoding == "json" and not isinstance(data, str):
            data = json.dumps(data)
        if not isinstance(data, str):
            raise BadMessage("'data' must be a string")
        if self.ingest.cache.full:
            return {"accepted": 0, "rejected": 0, "errors": ["cache is full, retry later"]}
        result = self.ingest.batch(parse_encoded(encoding, data.encode()))
        return {"accepted": result.accepted, "rejected": result.rejected, "errors": result.errors}

    def _fetch(self, request):
        name = request.get("path")
        start, until = request.get("from"), request.get("until")
        if not isinstance(name, str) or not all(isinstance(t, (int, float)) for t in (start, until)):
            raise BadMessage("fetch needs 'path' (string), 'from' and 'until' (epoch seconds)")
        try:
            path = names.name_to_path(self.data_dir, name)
        except names.InvalidMetricName as exc:
            raise BadMessage(str(exc)) from None
        return fetch_merged(str(path), name, self.ingest.cache, int(start), int(until),
                            int(self.reactor.seconds()))


def fetch_merged(path, name, cache, start, until, now):
    """The file's points in [start, until] with the cache's points laid over them. A
    file the writer is making at that moment (its header written, its space not yet
    reserved) reads as corrupt for a few microseconds: while the cache holds the
    metric's points for that write, it is taken as no file yet."""
    step, points = None, {}
    try:
        (first, _, step), values = whisper.fetch_array(path, start, until, now=now)
    except FileNotFoundError:
        pass
    except whisper.CorruptWhisperFile as exc:
        if not cache.writing(name):
            raise BadMessage(str(exc)) from None
    except whisper.WhisperException as exc:
        raise BadMessage(str(exc)) from None
    else:
        known = ~np.isnan(values)
        stamps = first + step * np.flatnonzero(known)
        points = dict(zip(stamps.tolist(), values[known].tolist()))
    timestamps, values = cache.query_arrays(name)
    if step:
        timestamps = timestamps - timestamps % step
    inside = (timestamps > start - (step or 0)) & (timestamps <= until)
    points.update(zip(timestamps[inside].tolist(), values[inside].tolist()))
    return {"path": name, "step": step, "points": sorted([t, v] for t, v in points.items())}

