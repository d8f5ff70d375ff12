"""The HTTP API side by side: `carbonish web` ([web] PROCESSES = 2) vs graphite-web
1.1.10 under gunicorn (2 sync workers, dummy cache, no carbonlink) over the same whisper
files, one run.

Measured over real HTTP on 127.0.0.1:
  1. json render of one series over a day at 10 s (8,640 points): requests/s under
     `wrk -t1 -c8 -d5s` (C load generator, the same command against both servers; once
     as wrk does by default, keep-alive where the server allows it, gunicorn's sync
     workers do not; once with `Connection: close` on both), requests per server CPU
     second, and sequential latency (Python client, a new connection per request);
  2. sumSeries over 1,000 series for a day: sequential latency;
  3. /metrics/find matching 1,000 nodes (treejson): sequential latency.
Rounds alternate A, B, A, B; medians are quoted. Before timing, the answers are
compared (same series, same values) so the figures are for the same work.

`--before DIR` adds a third side: carbonish run from another source tree (e.g.
`git archive <commit> | tar -x -C DIR`), for before/after figures in the same run.
The table goes to bench/results/web.md with NOTES (what the profiles showed).
wrk is installed with apt-get when missing (Debian package `wrk`, as root).
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
WRK_SECONDS = 5
WRK_CONNECTIONS = 8
PROCESSES = 2


CARBON_CONF = """
[cache]
STORAGE_DIR = {storage}
LOCAL_DATA_DIR = {whisper}
[web]
INTERFACE = 127.0.0.1
PORT = 0
TIME_ZONE = UTC
MAX_SERIES = 100000
PROCESSES = {processes}
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
    env = reference.graphite_web_env(tmp)
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


def start_carbonish(tmp, tree=ROOT, name="carbon.conf"):
    """`carbonish web` from source tree `tree`, [web] PROCESSES = 2 (the master and one
    worker process sharing the socket; graphite-web has 2 gunicorn workers)."""
    conf = Path(tmp) / name
    storage = Path(tmp) / "storage"
    conf.write_text(CARBON_CONF.format(storage=storage, whisper=storage / "whisper",
                                       processes=PROCESSES))
    argv = [sys.executable, "-m", "carbonish.cli", "web", "--config", str(conf)]
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(tree))
    process = subprocess.Popen(argv, cwd=tree, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline().decode()
        match = re.search(r"carbonish web listening on http://[\d.]+:(\d+)", line)
        if match:
            threading.Thread(target=process.stdout.read, daemon=True).start()  # drain
            port = int(match.group(1))
            wait_ready(port, process, "carbonish web")
            _wait_workers(process.pid, PROCESSES - 1)
            return process, port
        if not line and process.poll() is not None:
            break
    process.kill()
    raise RuntimeError("carbonish web did not start")


def _wait_workers(pid, count):
    """Wait until `count` worker processes have started and imported the app."""
    deadline = time.monotonic() + 60
    while len(psutil.Process(pid).children()) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(2.0)  # their imports: a worker answers once it has listened


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


def ensure_wrk():
    """The wrk executable; installed with apt-get (as root) when missing."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise RuntimeError("wrk is missing: apt-get install wrk (Debian package)")
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True,
                   stdout=subprocess.DEVNULL)
    return shutil.which("wrk")


def throughput(wrk, port, pid, path, params, close=False):
    """(requests per second, requests per server CPU second) under wrk."""
    url = f"http://127.0.0.1:{port}{path}?{urllib.parse.urlencode(params, doseq=True)}"
    argv = [wrk, "-t1", f"-c{WRK_CONNECTIONS}", f"-d{WRK_SECONDS}s"]
    if close:
        argv += ["-H", "Connection: close"]
    cpu_before = server_cpu(pid)
    out = subprocess.run(argv + [url], check=True, capture_output=True, text=True,
                         timeout=WRK_SECONDS + 60).stdout
    cpu = server_cpu(pid) - cpu_before
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk saw errors against port {port}:\n{out}")
    if "Socket errors" in out:  # counted, as wrk does; shown for the record
        print(f"port {port}: " + re.search(r"Socket errors.*", out).group(), file=sys.stderr)
    done = int(re.search(r"(\d+) requests in", out).group(1))
    rate = float(re.search(r"Requests/sec:\s*([\d.]+)", out).group(1))
    return rate, done / max(cpu, 1e-9)


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


def main(argv):
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="another carbonish source tree, a third side")
    parser.add_argument("--before-label", help="how to name the --before tree in the notes")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args(argv)
    wrk = ensure_wrk()
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        now = int(time.time())
        make_files(Path(tmp) / "storage" / "whisper", now)
        processes = []
        try:
            graphite, theirs = start_graphite(tmp)
            processes.append(graphite)
            carbonish, ours = start_carbonish(tmp)
            processes.append(carbonish)
            sides = [(ours, carbonish.pid), (theirs, graphite.pid)]
            if args.before:
                before, port = start_carbonish(tmp, Path(args.before).resolve(), "before.conf")
                processes.append(before)
                sides.append((port, before.pid))
            results = run(wrk, sides, now, args.rounds)
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=60)
    load.append(os.getloadavg()[0])
    report(results, args, load)


def run(wrk, sides, now, rounds):
    """{measure: [values of side 0], [side 1], ...}; sides alternate within each round."""
    ports = [port for port, _ in sides]
    window = {"from": str(now - DAY), "until": str(now), "format": "json"}
    one = dict(window, target="bench.one")
    total = dict(window, target="sumSeries(bench.many.*)")
    find = {"query": "bench.many.*"}
    for port in ports[:1] + ports[2:]:
        same_answer(port, ports[1], one)
        same_answer(port, ports[1], total)
    ids = [[n["id"] for n in json.loads(request(p, "/metrics/find", find)[1])] for p in ports]
    assert all(i == ids[1] for i in ids) and len(ids[1]) == MANY
    keys = ("rps", "cpu", "rps_close", "cpu_close", "one", "sum", "find")
    results = {key: tuple([] for _ in sides) for key in keys}
    for _ in range(rounds):  # A, B, A, B ...
        for side, (port, pid) in enumerate(sides):
            for close, suffix in ((False, ""), (True, "_close")):
                rate, per_cpu = throughput(wrk, port, pid, "/render", one, close)
                results["rps" + suffix][side].append(rate)
                results["cpu" + suffix][side].append(per_cpu)
            results["one"][side].extend(timed(port, "/render", one, 20))
            results["sum"][side].extend(timed(port, "/render", total, 1 if side == 1 else 3))
            results["find"][side].extend(timed(port, "/metrics/find", find, 20))
    return results


MEASURES = (  # key, label, format, scale, higher is better, goal
    ("rps", "json render, one series, a day at 10 s: requests/s (wrk -c8, default)",
     "{:.0f}", 1, True, ">= 10x"),
    ("rps_close", "same, requests/s, `Connection: close` on both", "{:.0f}", 1, True, ""),
    ("cpu", "same, requests per server CPU second (default)", "{:.0f}", 1, True, ""),
    ("cpu_close", "same, requests per server CPU second (`Connection: close`)",
     "{:.0f}", 1, True, ""),
    ("one", "same, sequential latency (ms)", "{:.1f}", 1e3, False, ""),
    ("sum", "sumSeries over 1,000 series, a day (ms)", "{:.0f}", 1e3, False, ">= 20x"),
    ("find", "/metrics/find matching 1,000 nodes (ms)", "{:.1f}", 1e3, False, ">= 10x"),
)


def report(results, args, load):
    med = {key: [statistics.median(v) for v in values] for key, values in results.items()}
    before = args.before is not None
    head = "| measure | graphite-web 1.1.10 | carbonish | ratio | goal |"
    rule = "|---|---|---|---|---|"
    if before:
        head = ("| measure | graphite-web 1.1.10 | carbonish before | ratio before "
                "| carbonish | ratio | goal |")
        rule = "|---|---|---|---|---|---|---|"
    rows = [head, rule]
    for key, label, fmt, scale, higher, goal in MEASURES:
        ours, theirs = med[key][0], med[key][1]
        cells = [label, fmt.format(theirs * scale)]
        if before:
            old = med[key][2]
            cells += [fmt.format(old * scale), f"{_ratio(old, theirs, higher):.1f}x"]
        cells += [fmt.format(ours * scale), f"**{_ratio(ours, theirs, higher):.1f}x**", goal]
        rows.append("| " + " | ".join(cells) + " |")
    table = "\n".join(rows)
    print(table)
    before_note = (f"\n\n`carbonish before` is the same benchmark run from another source "
                   f"tree ({args.before_label or args.before}) in the same run, "
                   "alternating with the others." if before else "")
    how = (
        "# Web API (render, find)\n\n"
        "Same whisper files (`10s:1d,1m:30d`, a day of data; `bench.one` and 1,000 copies "
        "under `bench.many`), same machine, one run. graphite-web 1.1.10 under gunicorn with "
        "2 sync workers (Django dummy cache, no carbonlink, UTC); `carbonish web` with "
        f"`[web] PROCESSES = {PROCESSES}` (the master and a worker process sharing the socket, "
        "each with its render thread pool). Real HTTP on 127.0.0.1. Throughput: "
        f"`wrk -t1 -c{WRK_CONNECTIONS} -d{WRK_SECONDS}s` (C, the same command against both "
        "servers): once as wrk does by default (HTTP/1.1 keep-alive where the server offers "
        "it; gunicorn's sync workers close every connection), once with `Connection: close` "
        "on both, so both pay a connection per request. Requests per server CPU second: "
        "user+system of the server processes (gunicorn's master and workers, carbonish's "
        "two processes) over the same wrk run. Latencies: sequential requests from a Python "
        f"client, a new connection each. {args.rounds} rounds alternating A, B; medians. "
        "Before timing, both answers are compared (same targets, timestamps and values). "
        f"Load average (1 min) {load[0]:.1f} at the start and {load[1]:.1f} at the end, "
        "on 2 cores shared with other benchmarks." + before_note + "\n\n" + table + "\n")
    out = ROOT / "bench" / "results" / "web.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(how + "\n" + NOTES)


NOTES = """\
## Where the time goes (profiles, November 2026)
In-process cProfile of one request, and py-spy over a server under wrk:

- **json render, one series** (8,640 points). Before: per request ~0.45 ms of
  twisted.web (HTTP parsing, Request, headers, write) plus as much again for handing
  the request to the render thread pool and back (deferToThreadPool, callFromThread,
  thread switches and the GIL between the reactor and the worker): a server answering
  on the reactor thread did 1,479 requests per CPU second against 845 through the pool.
  Of the handler itself, the json body was the largest part (list of 8,640 Python
  pairs, then orjson: ~1.5 ms under load), then the whisper read (~0.15 ms), then
  from/until parsing (~0.1 ms). Changed: a render of at most 4 plain series names in a
  data format, with no cluster servers, no carbonlink and no read locks, is answered
  on the reactor thread (`WebApp.quick`); datapoints are written by orjson from the
  numpy arrays and joined as bytes (a third less). Now the json body is ~45% of the
  server's CPU and twisted.web ~20%.
  Also found: with 2 processes sharing the socket, twisted accepts up to dozens of
  connections per wake-up, so wrk's 8 keep-alive connections often all landed in one
  process (one core busy, the other idle). A shared socket now accepts one connection
  per wake-up, which spreads them.
- **sumSeries over 1,000 files.** Before: ~130 ms in-process, ~110 ms of it reading
  the files through `carbonish.whisper.fetch_array`: each read allocated new bytes
  objects (~100 KB, two for a window that wraps the ring, then joined) and new arrays,
  and the page faults on that fresh memory cost more than the reads themselves
  (pread of 104 KB into new bytes: ~0.15 ms; preadv into a reused buffer: ~0.05 ms).
  Changed: `finders.WhisperReader` reads the slots with preadv into one reused buffer
  and decodes each file into a row of one matrix per fetch (one large allocation, huge
  pages), falling back to carbonish.whisper for anything unusual; and one fetch thread
  instead of two (the read is GIL-bound now: two threads took 105 ms where one took
  77 ms); the expected slot times are computed once per window, not per file. Now
  ~65 ms of reads in-process (~15 ms of it the six system calls per file, ~25 ms
  decoding, ~9 ms page faults on the result matrix), ~5 ms making the 1,000
  TimeSeries (tags parsed from each name), ~10 ms the sum.
- **/metrics/find over 1,000 nodes.** ~2.4 ms in-process: os.scandir of the folder
  ~1.4 ms, the treejson dicts ~1 ms, sorting twice; a lone `*` now skips the regex.
  Over HTTP ~3.5-4.5 ms, the rest being twisted.web and the thread hand-off.

## What remains
- json render: ~0.65 ms of server CPU per request, about half of it building the
  json body (orjson formats the floats; interleaving 8,640 values with their
  timestamps is the rest), ~20% twisted.web. graphite-web needs ~4.5 ms. On these 2
  shared cores wrk and other benchmarks take a core, so requests/s shows ~6x and
  requests per CPU second ~7x; 10x needs a faster body (a C encoder for the
  [[value, timestamp]] pairs) or less twisted.web per request.
- sumSeries: six system calls and ~25 µs of numpy per file; reading files on threads
  does not pay while the per-file Python work holds the GIL. graphite-web's own
  figure moves from 1.0 s (idle machine) to 3-4 s (loaded), so the ratio moves with
  it: ~15-17x at 1.0 s; 20x would need ~50 ms.
"""


def _ratio(ours, theirs, higher):
    return ours / theirs if higher else theirs / ours


if __name__ == "__main__":
    main(sys.argv[1:])
