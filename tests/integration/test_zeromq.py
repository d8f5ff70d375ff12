"""ZeroMQ PUSH and REQ against the real daemon; bad messages between good ones."""
import json
import time

import whisper
import zmq

from tests.integration.daemons import ENDPOINT_RE, wait_until, write_config


def endpoints(daemon):
    def found():
        pairs = dict(m.groups() for line in daemon.lines for m in [ENDPOINT_RE.search(line)] if m)
        return pairs if len(pairs) == 2 else None
    return wait_until(found, 10)


def test_push_and_request_reply(tmp_path, start):
    config = write_config(tmp_path, zeromq_extra="ENABLE = True")
    daemon = start("cache", config)
    where = endpoints(daemon)
    t = int(time.time()) // 10 * 10 - 100
    context = zmq.Context()
    try:
        push = context.socket(zmq.PUSH)
        push.setsockopt(zmq.LINGER, 2000)
        push.connect(where["pull"])
        push.send(b"z.plain 1 %d\nz.plain2 2 %d\n" % (t, t))
        push.send_multipart([b"csv", b"z.csv,3,%d\n" % t])
        push.send(json.dumps({"path": "z.json", "value": 4, "timestamp": t}).encode())
        push.send_multipart([b"xml", b"<x/>"])  # bad: unknown encoding
        push.send_multipart([b"a", b"b", b"c"])  # bad: three frames
        push.send(b"\xff\xfe garbage")  # bad line
        push.send(b"z.after 5 %d\n" % t)

        req = context.socket(zmq.REQ)
        req.setsockopt(zmq.RCVTIMEO, 10000)
        req.setsockopt(zmq.LINGER, 0)
        req.connect(where["rep"])

        def ask(message):
            req.send(message if isinstance(message, bytes) else json.dumps(message).encode())
            return json.loads(req.recv())

        assert ask({"op": "write", "encoding": "plain", "data": "z.ack 6 %d\nbad..x 1 %d" % (t, t)}) == {
            "accepted": 1, "rejected": 1,
            "errors": ["invalid metric name 'bad..x': empty node (leading, trailing or doubled dot)"]}
        assert ask({"op": "write", "encoding": "json",
                    "data": {"path": "z.ackjson", "points": [[t, 7]]}})["accepted"] == 1
        assert "error" in ask(b"not json")
        assert "error" in ask({"op": "drop"})
        assert "error" in ask({"op": "write", "encoding": "yaml", "data": ""})
        assert "error" in ask({"op": "fetch", "path": "../x", "from": 0, "until": 1})
        assert "error" in ask({"op": "fetch", "path": "z.ack"})
        # acknowledged: the point is readable at once, from the cache or the file
        fetched = ask({"op": "fetch", "path": "z.ack", "from": t - 60, "until": t + 60})
        assert fetched.get("path") == "z.ack" and [t, 6.0] in fetched["points"], fetched
        wait_until(lambda: (tmp_path / "storage/whisper/z/after.wsp").exists(), 10)
        wait_until(lambda: ask({"op": "fetch", "path": "z.ack", "from": t - 60, "until": t + 60})["step"], 10)
        fetched = ask({"op": "fetch", "path": "z.ack", "from": t - 60, "until": t + 60})
        assert fetched["step"] == 10 and fetched["points"] == [[t, 6.0]]
        push.close()
        req.close()
    finally:
        context.destroy(linger=0)
    assert daemon.stop() == 0
    storage = tmp_path / "storage" / "whisper"
    for name, value in {"plain": 1, "plain2": 2, "csv": 3, "json": 4, "after": 5, "ack": 6,
                        "ackjson": 7}.items():
        assert whisper.fetch(str(storage / f"z/{name}.wsp"), t - 1, t)[1][0] == value, name
    assert "unknown encoding" in daemon.output()
