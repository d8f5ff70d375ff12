"""HTTP ingest against the real daemon: every encoding, gzip, bad bodies, limits."""
import gzip
import json
import time
import urllib.error
import urllib.request

import whisper

from tests.integration.daemons import write_config


def post(port, body, content_type="text/plain", encoding=None, method="POST", path="/metrics"):
    headers = {"Content-Type": content_type}
    if encoding:
        headers["Content-Encoding"] = encoding
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body,
                                     headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def test_http_encodings_and_errors(tmp_path, start):
    config = write_config(tmp_path, http_extra="MAX_BODY_SIZE = 2000")
    daemon = start("cache", config)
    port = daemon.port("http/tcp")
    now = int(time.time()) // 10 * 10
    t = now - 100
    assert post(port, b"h.plain 1 %d\nh.plain2 2 %d\n" % (t, t)) == (200, {"accepted": 2, "rejected": 0, "errors": []})
    assert post(port, b"path,value,timestamp\nh.csv,3,%d\n" % t, "text/csv")[0] == 200
    body = json.dumps([{"path": "h.json", "value": 4, "timestamp": t},
                       {"path": "h.points", "points": [[t, 5], [t + 10, 6]]}]).encode()
    assert post(port, body, "application/json; charset=utf-8") == (200, {"accepted": 3, "rejected": 0, "errors": []})
    assert post(port, gzip.compress(b"h.gzip 7 %d\n" % t), encoding="gzip")[0] == 200
    status, answer = post(port, b"h.partial 8 %d\nbad..name 1 %d\n" % (t, t))
    assert status == 207 and answer["accepted"] == 1 and answer["rejected"] == 1
    assert "empty node" in answer["errors"][0]
    assert post(port, b"junk", "application/json")[0] == 400
    assert post(port, b"x" * 3000)[0] == 413
    assert post(port, gzip.compress(b"x" * 5000), encoding="gzip")[0] == 413
    assert post(port, b"not gzip", encoding="gzip")[0] == 400
    assert post(port, b"a 1", encoding="br")[0] == 415
    assert post(port, b"<xml/>", "application/xml")[0] == 415
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics?path=h.get&value=9&timestamp={t}") as r:
        assert json.loads(r.read())["accepted"] == 1
    assert post(port, None, method="GET", path="/metrics?path=h.get")[0] == 400
    assert daemon.stop() == 0
    storage = tmp_path / "storage" / "whisper"
    expected = {"h/plain": 1, "h/plain2": 2, "h/csv": 3, "h/json": 4, "h/points": 5, "h/gzip": 7,
                "h/partial": 8, "h/get": 9}
    for name, value in expected.items():
        (first, _, step), values = whisper.fetch(str(storage / f"{name}.wsp"), t - 1, t)
        assert values[0] == value, name
    assert whisper.fetch(str(storage / "h/points.wsp"), t + 9, t + 10)[1][0] == 6


def test_http_full_cache_answers_503(tmp_path, start):
    config = write_config(tmp_path, cache_extra="MAX_CACHE_SIZE = 1\nMAX_CREATES_PER_MINUTE = 1")
    daemon = start("cache", config)
    port = daemon.port("http/tcp")
    t = int(time.time()) - 60
    assert post(port, b"first 1 %d\nsecond 1 %d\nthird 1 %d\n" % (t, t, t))[0] == 200
    # one create a minute: the cache cannot drain below its size of 1 for a while
    status, answer = post(port, b"more 1 %d\n" % t)
    assert status == 503 and "full" in answer["errors"][0]
    assert daemon.stop() == 0
