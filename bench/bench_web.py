"""The HTTP API side by side: `carbonish web` vs graphite-web 1.1.10 under gunicorn
(2 sync workers, dummy cache, no carbonlink) over the same whisper files, one run.

Measured over real HTTP on 127.0.0.1, a new connection per request on both sides:
  1. json render of one series over a day at 10 s (8,640 points): requests/s with 4
     concurrent clients, and sequential latency;
  2. sumSeries over 1,000 series for a day: sequential latency;
  3. /metrics/find matching 1,000 nodes (treejson): sequential latency.
Rounds alternate A, B, A, B; medians are quoted. Before timing, both answers are
compared (same series, same values) so the figures are for the same work.
"""
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import reference  # noqa: E402

from carbonish import whisper  # noqa: E402

DAY = 86400
STEP = 10
MANY = 1000
ROUNDS = 5
THROUGHPUT_SECONDS = 3.0
CLIENTS = 4

SETTINGS = '''
SECRET_KEY = "bench"
TIME_ZONE = "UTC"
CARBONLINK_HOSTS = []
STORAGE_DIR = {storage!r}
LOG_DIR = {log!r}
WHISPER_DIR = {whisper!r}
STANDARD_DIRS = [{whisper!r}]
CACHES = {{"default": {{"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}}}
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3",
                          "NAME": {db!r}}}}}
'''

CARBON_CONF = """
[cache]
STORAGE_DIR = {storage}
LOCAL_DATA_DIR = {whisper}
[web]
INTERFACE = 127.0.0.1
PORT = 0
TIME_ZONE = UTC
MAX_SERIES = 100000
"""


def make_files(whisper_dir, now):
    """bench.one and bench.many.m0000..m0999: 10s:1d,1m:30d holding a day of data."""
    first = Path(whisper_dir) / "bench" / "one.wsp"
    first.parent.mkdir(parents=True, exist_ok=True)
    whisper.create(str(first), [(10, 8640), (60, 43200)], sparse=True)
    stamps = np.arange(now - DAY + STEP, now + 1, STEP)
    values = 50 + 20 * np.sin(stamps / 5000.0) + np.random.default_rng(1).normal(0, 2, len(stamps))
    whisper.update_many(str(first), list(zip(stamps.tolist(), values.round(3).tolist())), now=now)
    many = Path(whisper_dir) / "bench" / "many"
    many.mkdir()
    for i in range(MANY):  # identical copies: the same work per file, made in no time
        shutil.copyfile(first, many / f"m{i:04d}.wsp")


def free_port():
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_graphite(tmp):
    python = reference.ensure_venv(reference.GRAPHITE_WEB)
    storage = Path(tmp) / "storage"
    (storage / "log" / "webapp").mkdir(parents=True, exist_ok=True)
    settings_dir = Path(tmp) / "settings"
    settings_dir.mkdir()
    (settings_dir / "bench_web_settings.py").write_text(SETTINGS.format(
        storage=str(storage), log=str(storage / "log" / "webapp"),
        whisper=str(storage / "whisper"), db=str(storage / "graphite.db")))
    env = dict(os.environ, PYTHONPATH=str(settings_dir), DJANGO_SETTINGS_MODULE="graphite.settings",
               GRAPHITE_SETTINGS_MODULE="bench_web_settings", GRAPHITE_NO_PREFIX="True")
    bin_dir = Path(python).parent
    subprocess.run([str(bin_dir / "django-admin"), "migrate", "--noinput"], env=env, cwd=tmp,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port = free_port()
    process = subprocess.Popen(
        [str(bin_dir / "gunicorn"), "--no-control-socket", "-w", "2", "-b", f"127.0.0.1:{port}",
         "--timeout", "120", "graphite.wsgi:application"],
        env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(port, process, "graphite-web")
    return process, port


TWO_PROCESSES = ("import sys; from carbonish.settings import load_settings; "
                 "from webapp import server; server.run(load_settings(sys.argv[1]), processes=2)")


def start_carbonish(tmp, processes=1):
    """`carbonish web`; with 2 processes through webapp.server.run (the CLI takes the
    count from [web] PROCESSES once settings have that key)."""
    conf = Path(tmp) / "carbon.conf"
    storage = Path(tmp) / "storage"
    conf.write_text(CARBON_CONF.format(storage=storage, whisper=storage / "whisper"))
    argv = ([sys.executable, "-m", "carbonish.cli", "web", "--config", str(conf)]
            if processes == 1 else [sys.executable, "-c", TWO_PROCESSES, str(conf)])
    process = subprocess.Popen(argv,
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               env=dict(os.environ, PYTHONUNBUFFERED="1"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline().decode()
        match = re.search(r"carbonish web listening on http://[\d.]+:(\d+)", line)
        if match:
            threading.Thread(target=process.stdout.read, daemon=True).start()  # drain
            port = int(match.group(1))
            wait_ready(port, process, "carbonish web")
            return process, port
        if not line and process.poll() is not None:
            break
    process.kill()
    raise RuntimeError("carbonish web did not start")


def wait_ready(port, process, what):
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            status, _ = request(port, "/metrics/find", {"query": "bench"})
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer in time")


def request(port, path, params):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        conn.request("GET", path + "?" + urllib.parse.urlencode(params, doseq=True))
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def timed(port, path, params, count):
    times = []
    for _ in range(count):
        started = time.perf_counter()
        status, body = request(port, path, params)
        times.append(time.perf_counter() - started)
        if status != 200:
            raise RuntimeError(f"{path} answered {status}: {body[:200]!r}")
    return times


def server_cpu(pid):
    """CPU seconds used so far by process `pid` and its children (gunicorn's workers)."""
    process = psutil.Process(pid)
    total = 0.0
    for proc in [process] + process.children(recursive=True):
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def throughput(port, pid, path, params, seconds=THROUGHPUT_SECONDS, clients=CLIENTS):
    """(requests per second, requests per server CPU second) of `clients` threads
    hammering for `seconds`."""
    cpu_before = server_cpu(pid)
    stop = time.perf_counter() + seconds
    counts = [0] * clients

    def client(index):
        while time.perf_counter() < stop:
            status, _ = request(port, path, params)
            if status != 200:
                raise RuntimeError(f"{path} answered {status}")
            counts[index] += 1
    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return sum(counts) / elapsed, sum(counts) / max(server_cpu(pid) - cpu_before, 1e-9)


def same_answer(ours, theirs, params):
    """Both sides give the same series for `params` (values to 1e-9 relative)."""
    a = json.loads(request(ours, "/render", params)[1])
    b = json.loads(request(theirs, "/render", params)[1])
    assert [s["target"] for s in a] == [s["target"] for s in b], (a[:1], b[:1])
    for x, y in zip(a, b):
        vx = np.array([np.nan if v is None else v for v, _ in x["datapoints"]])
        vy = np.array([np.nan if v is None else v for v, _ in y["datapoints"]])
        assert [t for _, t in x["datapoints"]] == [t for _, t in y["datapoints"]]
        assert np.allclose(vx, vy, rtol=1e-9, equal_nan=True)


def main():
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        now = int(time.time())
        make_files(Path(tmp) / "storage" / "whisper", now)
        graphite, theirs = start_graphite(tmp)
        carbonish, ours = start_carbonish(tmp)
        try:
            results = run((ours, carbonish.pid), (theirs, graphite.pid), now)
            carbonish.terminate()
            carbonish.wait(timeout=60)
            carbonish, ours = start_carbonish(tmp, processes=2)
            results["rps2"] = run_throughput((ours, carbonish.pid), (theirs, graphite.pid), now)
        finally:
            for process in (carbonish, graphite):
                process.terminate()
                process.wait(timeout=60)
    report(results)


def run_throughput(ours_side, theirs_side, now):
    one = {"from": str(now - DAY), "until": str(now), "format": "json", "target": "bench.one"}
    rates = ([], [])
    for _ in range(ROUNDS):
        for side, (port, pid) in enumerate((ours_side, theirs_side)):
            rates[side].append(throughput(port, pid, "/render", one)[0])
    return rates


def run(ours_side, theirs_side, now):
    ours, theirs = ours_side[0], theirs_side[0]
    window = {"from": str(now - DAY), "until": str(now), "format": "json"}
    one = dict(window, target="bench.one")
    total = dict(window, target="sumSeries(bench.many.*)")
    find = {"query": "bench.many.*"}
    same_answer(ours, theirs, one)
    same_answer(ours, theirs, total)
    ids = [[n["id"] for n in json.loads(request(p, "/metrics/find", find)[1])]
           for p in (ours, theirs)]
    assert ids[0] == ids[1] and len(ids[0]) == MANY
    results = {key: ([], []) for key in ("rps", "cpu", "one", "sum", "find")}
    for _ in range(ROUNDS):  # A, B, A, B ...
        for side, (port, pid) in enumerate((ours_side, theirs_side)):
            rate, per_cpu = throughput(port, pid, "/render", one)
            results["rps"][side].append(rate)
            results["cpu"][side].append(per_cpu)
            results["one"][side].extend(timed(port, "/render", one, 20))
            results["sum"][side].extend(timed(port, "/render", total, 3 if side == 0 else 1))
            results["find"][side].extend(timed(port, "/metrics/find", find, 20))
    return results


def report(results):
    med = {key: (statistics.median(a), statistics.median(b)) for key, (a, b) in results.items()}
    rows = [
        "| measure | graphite-web 1.1.10 | carbonish | ratio | goal |",
        "|---|---|---|---|---|",
        _row("json render, one series, a day at 10 s: requests/s (4 clients)",
             med["rps"][1], med["rps"][0], "{:.0f}", med["rps"][0] / med["rps"][1], ">= 10x"),
        _row("same, carbonish in 2 processes (graphite-web has 2 workers): requests/s",
             med["rps2"][1], med["rps2"][0], "{:.0f}", med["rps2"][0] / med["rps2"][1], ""),
        _row("same, requests per server CPU second", med["cpu"][1], med["cpu"][0], "{:.0f}",
             med["cpu"][0] / med["cpu"][1], ""),
        _row("same, sequential latency (ms)", med["one"][1] * 1e3, med["one"][0] * 1e3,
             "{:.1f}", med["one"][1] / med["one"][0], ""),
        _row("sumSeries over 1,000 series, a day (ms)", med["sum"][1] * 1e3,
             med["sum"][0] * 1e3, "{:.0f}", med["sum"][1] / med["sum"][0], ">= 20x"),
        _row("/metrics/find matching 1,000 nodes (ms)", med["find"][1] * 1e3,
             med["find"][0] * 1e3, "{:.1f}", med["find"][1] / med["find"][0], ">= 10x"),
    ]
    table = "\n".join(rows)
    print(table)
    how = (
        "# Web API (render, find)\n\n"
        "Same whisper files (`10s:1d,1m:30d`, a day of data; `bench.one` and 1,000 copies "
        "under `bench.many`), same machine, one run. graphite-web 1.1.10 under gunicorn with "
        "2 sync workers (Django dummy cache, no carbonlink, UTC); carbonish web as started by "
        "`carbonish web` (one process, its render thread pool). Real HTTP on 127.0.0.1, a new "
        f"connection per request on both sides. Throughput: {CLIENTS} client threads for "
        f"{THROUGHPUT_SECONDS:g} s; latencies: sequential requests. {ROUNDS} rounds "
        "alternating A, B; medians. Both answers are compared (same targets, timestamps and "
        "values) before timing. The client (Python, same 2 cores) needs about as much CPU "
        "per request as carbonish does, so requests/s is capped by the client; requests "
        "per server CPU second (user+system of the server processes, gunicorn's master "
        "and workers included) measures capacity independently of it.\n\n" + table + "\n")
    out = ROOT / "bench" / "results" / "web.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(how)


def _row(label, theirs, ours, fmt, ratio, goal):
    return f"| {label} | {fmt.format(theirs)} | {fmt.format(ours)} | **{ratio:.1f}x** | {goal} |"


if __name__ == "__main__":
    main()
