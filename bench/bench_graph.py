"""Graph rendering: a 10-series 800x600 PNG over one day at 10 s, carbonish vs
graphite-web 1.1.10 on the same whisper files, same machine, one run.

Two measurements, each alternating A, B, A, B and quoting medians:
- HTTP: `carbonish web` vs graphite-web under gunicorn (2 sync workers), the same
  /render URL (ten targets, from=-1d, 800x600, PNG), one sequential client.
- in-process: the same work without HTTP. carbonish: carbonish.whisper.fetch_array +
  webapp.graph.render_graph. graphite-web: its evaluator (finders, whisper reads,
  TimeSeries) + glyph.LineGraph, in a worker process in its own venv.
"""
import http.client
import json
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import reference  # noqa: E402
import whisper as whisper_oracle  # noqa: E402  (the real whisper 1.1.10, only to write the files)

from carbonish import whisper  # noqa: E402
from webapp.graph import render_graph  # noqa: E402
from webapp.series import TimeSeries  # noqa: E402

SERIES = 10
STEP = 10
DAY = 86400
ROUNDS = 5
REQUESTS = 8  # per round and side
PARAMS = {"width": "800", "height": "600"}
HTTP_REQUESTS = 10  # per round and side
START_TIMEOUT = 120.0

WORKER = r'''
import os, sys, time, json
from datetime import datetime
import pytz
os.environ["DJANGO_SETTINGS_MODULE"] = "graphite.settings"
import django
django.setup()
from graphite.render.evaluator import evaluateTarget
from graphite.render.glyph import LineGraph
from graphite.render.views import doImageRender

targets = json.loads(sys.argv[1])

def request():
    now = datetime.now(pytz.utc)
    ctx = {"startTime": datetime.fromtimestamp(time.time() - 86400, pytz.utc),
           "endTime": now, "now": now, "localOnly": False, "template": {},
           "tzinfo": pytz.utc, "forwardHeaders": None, "sourceIdHeaders": None,
           "data": [], "prefetched": {}, "xFilesFactor": 0, "maxDataPoints": None,
           "targets": targets, "maxStep": None}
    data = []
    for target in targets:
        data.extend(evaluateTarget(ctx, target))
    assert len(data) == len(targets) and len(data[0]) == 8640, (len(data), len(data[0]))
    return doImageRender(LineGraph, {"width": 800, "height": 600, "outputFormat": "png",
                                     "data": data})

image = request()
sys.stdout.write("ready %d\n" % len(image))
sys.stdout.flush()
for line in sys.stdin:
    count = int(line)
    times = []
    for _ in range(count):
        t = time.perf_counter()
        request()
        times.append(time.perf_counter() - t)
    sys.stdout.write(json.dumps(times) + "\n")
    sys.stdout.flush()
'''


def make_files(whisper_dir, now):
    """Ten files (10s:1d, 1m:30d) holding a day of wavy data ending now."""
    paths = []
    stamps = np.arange(now - DAY + STEP, now + 1, STEP)
    for i in range(SERIES):
        path = Path(whisper_dir) / "bench" / f"metric{i}.wsp"
        path.parent.mkdir(parents=True, exist_ok=True)
        whisper_oracle.create(str(path), [(10, 8640), (60, 43200)], useFallocate=True)
        rng = np.random.default_rng(i)
        values = 50 + 10 * i + 20 * np.sin(stamps / 5000.0 + i) + rng.normal(0, 2, len(stamps))
        whisper_oracle.update_many(str(path), list(zip(stamps.tolist(), values.tolist())),
                                   now=now)
        paths.append(path)
    return paths


def carbonish_request(paths):
    now = int(time.time())
    series = []
    for i, path in enumerate(paths):
        (start, end, step), values = whisper.fetch_array(str(path), now - DAY, now, now=now)
        series.append(TimeSeries(f"bench.metric{i}", start, end, step, values))
    assert len(series[0].values) == 8640
    return render_graph(series, PARAMS, "png")


def time_carbonish(paths, count):
    times = []
    for _ in range(count):
        t = time.perf_counter()
        carbonish_request(paths)
        times.append(time.perf_counter() - t)
    return times


def start_graphite(tmp, targets):
    python = reference.ensure_venv(reference.GRAPHITE_WEB)
    env = reference.graphite_web_env(tmp)
    worker = subprocess.Popen([str(python), "-c", WORKER, json.dumps(targets)], env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              cwd=tmp)
    ready = worker.stdout.readline()
    if not ready.startswith("ready"):
        worker.kill()
        raise RuntimeError(f"graphite-web worker failed to start: {ready!r}")
    return worker


def time_graphite(worker, count):
    worker.stdin.write(f"{count}\n")
    worker.stdin.flush()
    return json.loads(worker.stdout.readline())


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def render_path(targets):
    query = [("target", t) for t in targets] + [("from", "-1d"), ("width", "800"),
                                                  ("height", "600")]
    return "/render?" + urlencode(query)


def get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    if response.status != 200 or not body.startswith(b"\x89PNG"):
        raise RuntimeError(f"port {port}: HTTP {response.status} {body[:200]!r}")
    return body


def wait_until(ready, what, deadline_s=START_TIMEOUT):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        value = ready()
        if value:
            return value
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not start within {deadline_s:.0f} s")


def start_carbonish_web(tmp, whisper_dir):
    conf = Path(tmp) / "carbonish"
    conf.mkdir()
    (conf / "carbon.conf").write_text(
        f"[cache]\nLOCAL_DATA_DIR = {whisper_dir}\nLOG_DIR = {conf / 'log'}\n"
        "[web]\nINTERFACE = 127.0.0.1\nPORT = 0\nCARBONLINK_HOSTS =\nTIME_ZONE = UTC\n")
    (conf / "storage-schemas.conf").write_text("[default]\npattern = .*\nretentions = 10s:1d\n")
    proc = subprocess.Popen([sys.executable, "-m", "carbonish.cli", "web", "--config",
                             str(conf / "carbon.conf")], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = conf / "log" / "web.log"

    def bound_port():
        if proc.poll() is not None:
            raise RuntimeError("carbonish web exited during start-up")
        found = re.search(r"listening on http://127\.0\.0\.1:(\d+)",
                          log.read_text() if log.exists() else "")
        return int(found.group(1)) if found else None
    return proc, wait_until(bound_port, "carbonish web")


def start_gunicorn(tmp, path):
    python = reference.ensure_venv(reference.GRAPHITE_WEB)
    env = reference.graphite_web_env(tmp)
    subprocess.run([str(python), "-m", "django", "migrate", "--noinput"], env=env, cwd=tmp,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=300)
    port = free_port()
    gunicorn = reference.bin_path(reference.GRAPHITE_WEB, "gunicorn")
    proc = subprocess.Popen([str(gunicorn), "--no-control-socket", "--workers", "2",
                             "--bind", f"127.0.0.1:{port}", "graphite.wsgi:application"],
                            env=env, cwd=tmp, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)

    def answering():
        if proc.poll() is not None:
            raise RuntimeError("gunicorn exited during start-up")
        try:
            return get(port, path)
        except (OSError, RuntimeError):
            return None
    wait_until(answering, "graphite-web (gunicorn)")
    return proc, port


def time_http(port, path, count):
    times = []
    for _ in range(count):
        t = time.perf_counter()
        get(port, path)
        times.append(time.perf_counter() - t)
    return times


def stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)


def measure_http(tmp, whisper_dir, targets):
    path = render_path(targets)
    ours_proc, ours_port = start_carbonish_web(tmp, whisper_dir)
    try:
        theirs_proc, theirs_port = start_gunicorn(tmp, path)
        try:
            png = get(ours_port, path)
            for side, image in (("carbonish", png), ("graphite-web", get(theirs_port, path))):
                if len(image) < 20000:  # "No Data" is ~2 kB: the files were not found
                    raise RuntimeError(f"{side} drew no data ({len(image)} bytes)")
            time_http(ours_port, path, 2)  # warm both
            time_http(theirs_port, path, 2)
            ours, theirs = [], []
            for _ in range(ROUNDS):
                ours.extend(time_http(ours_port, path, HTTP_REQUESTS))
                theirs.extend(time_http(theirs_port, path, HTTP_REQUESTS))
        finally:
            stop(theirs_proc)
    finally:
        stop(ours_proc)
    return ours, theirs, len(png)


def measure_in_process(tmp, paths, targets):
    worker = start_graphite(tmp, targets)
    try:
        carbonish_request(paths)
        ours, theirs = [], []
        for _ in range(ROUNDS):  # A, B, A, B ...
            ours.extend(time_carbonish(paths, REQUESTS))
            theirs.extend(time_graphite(worker, REQUESTS))
    finally:
        worker.stdin.close()
        worker.wait(timeout=30)
    return ours, theirs


def main():
    with tempfile.TemporaryDirectory(prefix="bench-graph-") as tmp:
        now = int(time.time())
        whisper_dir = Path(tmp) / "storage" / "whisper"
        paths = make_files(whisper_dir, now)
        targets = [f"bench.metric{i}" for i in range(SERIES)]
        in_process = measure_in_process(tmp, paths, targets)
        over_http = measure_http(tmp, whisper_dir, targets)
    report(over_http, in_process)


def _row(label, times):
    ms = statistics.median(times) * 1000
    return ms, f"| {label} | {ms:.1f} | {1000 / ms:.1f} |"


def report(over_http, in_process):
    http_ours, http_theirs, png_size = over_http
    proc_ours, proc_theirs = in_process
    lines = ["| what | median ms / request | requests/s (sequential) |", "|---|---|---|"]
    for title, ours, theirs, ours_label, theirs_label in (
            ("HTTP /render", http_ours, http_theirs, "carbonish web",
             "graphite-web 1.1.10, gunicorn 2 workers"),
            ("in-process", proc_ours, proc_theirs, "carbonish fetch_array + render_graph",
             "graphite-web evaluator + glyph.LineGraph")):
        theirs_ms, theirs_row = _row(f"{title}: {theirs_label}", theirs)
        ours_ms, ours_row = _row(f"{title}: {ours_label}", ours)
        ratio = f"| {title}: **ratio** | | **{theirs_ms / ours_ms:.1f}x** |"
        lines += [theirs_row, ours_row, ratio]
    table = "\n".join(lines)
    print(table)
    how = (
        "# Graph rendering\n\n"
        "10 series, 800x600 PNG, one day at 10 s (8,640 points each, whisper files "
        "`10s:1d,1m:30d` written by whisper 1.1.10), the same files for both sides, one "
        "run on this machine, A/B rounds alternated, medians.\n\n"
        f"- HTTP: `carbonish web` (one process, render thread pool) and graphite-web 1.1.10 "
        f"under gunicorn (2 sync workers; Django settings: no carbonlink, dummy cache, UTC) "
        f"answer the same `/render?target=bench.metric0..9&from=-1d&width=800&height=600`, "
        f"one sequential client, new connection per request, {ROUNDS} rounds of "
        f"{HTTP_REQUESTS} requests per side.\n"
        "- in-process: carbonish reads with `carbonish.whisper.fetch_array` and draws with "
        "`webapp.graph.render_graph`; graphite-web runs its evaluator (finder, whisper reads, "
        "TimeSeries) and `glyph.LineGraph` in a worker process in its venv; "
        f"{ROUNDS} rounds of {REQUESTS} requests per side.\n\n"
        f"carbonish PNG: {png_size} bytes.\n\n" + table + "\n")
    out = ROOT / "bench" / "results" / "graph.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(how)


if __name__ == "__main__":
    main()
