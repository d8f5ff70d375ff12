"""Graph rendering: a 10-series 800x600 PNG over one day at 10 s, carbonish vs
graphite-web 1.1.10 on the same whisper files, same machine, one run.

Both sides run in-process and do the same work per request: read the ten whisper
files for the last day and draw the PNG. carbonish: carbonish.whisper.fetch_array +
webapp.graph.render_graph. graphite-web: its evaluator (finders, whisper reads,
TimeSeries) + glyph.LineGraph, driven by a worker process in its own venv. Rounds
alternate A, B, A, B; medians are quoted.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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

SETTINGS = '''
SECRET_KEY = "bench"
TIME_ZONE = "UTC"
CARBONLINK_HOSTS = []
STORAGE_DIR = {storage!r}
LOG_DIR = {log!r}
WHISPER_DIR = {whisper!r}
STANDARD_DIRS = [{whisper!r}]
CACHES = {{"default": {{"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}}}
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
    storage = Path(tmp) / "storage"
    (storage / "log" / "webapp").mkdir(parents=True, exist_ok=True)
    settings_dir = Path(tmp) / "settings"
    settings_dir.mkdir()
    (settings_dir / "bench_graphite_settings.py").write_text(SETTINGS.format(
        storage=str(storage), log=str(storage / "log" / "webapp"),
        whisper=str(storage / "whisper")))
    env = dict(os.environ, PYTHONPATH=str(settings_dir),
               GRAPHITE_SETTINGS_MODULE="bench_graphite_settings", GRAPHITE_NO_PREFIX="True")
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


def main():
    with tempfile.TemporaryDirectory(prefix="bench-graph-") as tmp:
        now = int(time.time())
        paths = make_files(Path(tmp) / "storage" / "whisper", now)
        targets = [f"bench.metric{i}" for i in range(SERIES)]
        worker = start_graphite(tmp, targets)
        try:
            png = carbonish_request(paths)
            ours, theirs = [], []
            for _ in range(ROUNDS):  # A, B, A, B ...
                ours.extend(time_carbonish(paths, REQUESTS))
                theirs.extend(time_graphite(worker, REQUESTS))
        finally:
            worker.stdin.close()
            worker.wait(timeout=30)
    report(ours, theirs, len(png))


def report(ours, theirs, png_size):
    ours_ms, theirs_ms = statistics.median(ours) * 1000, statistics.median(theirs) * 1000
    rows = [
        "| side | median ms / request | requests/s (1 core) |",
        "|---|---|---|",
        f"| graphite-web 1.1.10 (evaluator + glyph) | {theirs_ms:.1f} | {1000 / theirs_ms:.1f} |",
        f"| carbonish (fetch_array + render_graph) | {ours_ms:.1f} | {1000 / ours_ms:.1f} |",
        f"| **ratio** | | **{theirs_ms / ours_ms:.1f}x** |",
    ]
    table = "\n".join(rows)
    print(table)
    how = (
        "# Graph rendering\n\n"
        f"10 series, 800x600 PNG, one day at 10 s (8,640 points each, whisper files "
        f"`10s:1d,1m:30d` written by whisper 1.1.10), {ROUNDS} alternating rounds of "
        f"{REQUESTS} requests per side, medians. Both sides in-process on one core: "
        "carbonish reads with `carbonish.whisper.fetch_array` and draws with "
        "`webapp.graph.render_graph`; graphite-web 1.1.10 runs its own evaluator "
        "(finder, whisper reads, TimeSeries) and `glyph.LineGraph` in a worker process in "
        "its venv (Django settings: no carbonlink, dummy cache, UTC). HTTP serving is "
        "not included on either side (the web server is measured by bench_render). "
        f"carbonish PNG size {png_size} bytes.\n\n" + table + "\n")
    out = ROOT / "bench" / "results" / "graph.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(how)


if __name__ == "__main__":
    main()
