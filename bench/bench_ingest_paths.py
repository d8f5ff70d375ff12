"""HTTP and ZeroMQ ingest beside plaintext TCP, into the same `carbonish cache`.

The write-heavy scenario of bench_ingest.py (1,000 metrics x 2,000 points) sent three
ways, each into a fresh daemon with fresh storage: plaintext over one TCP connection,
HTTP POST /metrics (plaintext bodies of 20,000 lines, one request after another), and
ZeroMQ PUSH (messages of 20,000 lines). Measured from the first byte sent until the
last point of every metric is on disk (read with the whisper package), so the figures
are points persisted per second. Also the daemon's CPU seconds, to see past a loaded
machine. Runs alternate TCP, HTTP, ZeroMQ and repeat; medians are quoted.
"""
import os
import socket
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil
import whisper
import zmq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.integration.daemons import ENDPOINT_RE, Daemon, write_config  # noqa: E402

METRICS, POINTS, BATCH = 1000, 2000, 20_000
ROUNDS = 3


def payload():
    now = int(time.time()) // 10 * 10
    base = now - POINTS * 10
    lines = [b"bench.m%d %d %d\n" % (m, p, base + p * 10)
             for p in range(POINTS) for m in range(METRICS)]
    return base, lines


def batches(lines):
    return [b"".join(lines[i:i + BATCH]) for i in range(0, len(lines), BATCH)]


def send_tcp(daemon, chunks):
    with socket.create_connection(("127.0.0.1", daemon.port("plaintext/tcp"))) as sock:
        for chunk in chunks:
            sock.sendall(chunk)


def send_http(daemon, chunks):
    url = f"http://127.0.0.1:{daemon.port('http/tcp')}/metrics"
    for chunk in chunks:
        request = urllib.request.Request(url, data=chunk, headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status == 200, response.status


def send_zeromq(daemon, chunks):
    endpoint = next(m.group(2) for line in daemon.lines for m in [ENDPOINT_RE.search(line)]
                    if m and m.group(1) == "pull")
    context = zmq.Context()
    push = context.socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 10_000)
    push.connect(endpoint)
    for chunk in chunks:
        push.send(chunk)
    push.close()
    context.term()


def persisted(storage, base):
    last = base + (POINTS - 1) * 10
    for m in range(METRICS):
        path = storage / f"bench/m{m}.wsp"
        if not path.exists():
            return False
        values = whisper.fetch(str(path), last - 1, last)[1]
        if not values or values[0] != POINTS - 1:
            return False
    return True


def run(sender, base, chunks):
    with tempfile.TemporaryDirectory() as tmp:
        config = write_config(tmp, zeromq_extra="ENABLE = True",
                              http_extra="MAX_BODY_SIZE = 100000000")
        daemon = Daemon("cache", config)
        try:
            process = psutil.Process(daemon.process.pid)
            cpu0 = sum(process.cpu_times()[:2])
            started = time.perf_counter()
            sender(daemon, chunks)
            deadline = started + 300
            storage = Path(tmp) / "storage" / "whisper"
            while not persisted(storage, base):
                if time.perf_counter() > deadline:
                    raise RuntimeError("not persisted in 300 s")
                time.sleep(0.1)
            elapsed = time.perf_counter() - started
            cpu = sum(process.cpu_times()[:2]) - cpu0
        finally:
            daemon.stop()
    return METRICS * POINTS / elapsed, METRICS * POINTS / cpu


def main():
    base, lines = payload()
    chunks = batches(lines)
    senders = {"plaintext TCP": send_tcp, "HTTP POST /metrics": send_http, "ZeroMQ PUSH": send_zeromq}
    results = {name: [] for name in senders}
    for _ in range(ROUNDS):
        for name, sender in senders.items():
            results[name].append(run(sender, base, chunks))
            print(f"  {name}: {results[name][-1][0]:,.0f} points/s", flush=True)
    tcp = statistics.median(r[0] for r in results["plaintext TCP"])
    rows = ["| path | points/s persisted (median) | points per daemon CPU-second | vs plaintext TCP |",
            "|---|---|---|---|"]
    for name, runs in results.items():
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        rows.append(f"| {name} | {wall:,.0f} | {cpu:,.0f} | {wall / tcp:.2f}x |")
    table = "\n".join(rows)
    print(table)
    out = REPO / "bench" / "results" / "ingest_paths.md"
    out.write_text(f"""# HTTP and ZeroMQ ingest beside plaintext TCP

{__doc__.strip()}

Machine: {os.cpu_count()} cores, load average at the end {os.getloadavg()[0]:.1f}.
{ROUNDS} rounds, {METRICS:,} metrics x {POINTS:,} points, batches of {BATCH:,} lines.

{table}
""")


if __name__ == "__main__":
    main()
