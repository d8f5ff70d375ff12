"""statsd ingest: the highest UDP send rate taken without loss, etsy statsd 0.9.0 vs carbonish.

Each receiver runs as its own process on 127.0.0.1; this process sends one-line counter
datagrams (`bench.counter:1|c`) at a fixed rate for a fixed time, paced in small bursts,
then asks the receiver how many packets it counted (statsd: its management port's
`counters`; carbonish: a small control port of the runner below, which reads the
aggregator's own `statsd.packets_received`). A rate is loss-free when every packet was
counted. The search doubles the rate until a loss, then bisects (bounded trials).

Receivers: statsd (kernel default SO_RCVBUF, the only buffer it has), carbonish with the
kernel default buffer, carbonish with its own buffer (UDP_BUFFER_SIZE, 8 MiB asked).
They alternate A, B, C, A, B, C ... and the medians are quoted.

Run: .venv/bin/python bench/bench_statsd.py [rounds]   (`make bench` runs it)
"""
import ctypes
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from carbonish.receivers.udp import Iovec, Mmsghdr

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
STATSD_DIR = HERE / ".ref" / "statsd"
STATSD_JS = STATSD_DIR / "node_modules" / "statsd" / "stats.js"
RESULTS = HERE / "results" / "statsd.md"

COUNTER_PAYLOADS = [b"bench.counter:1|c"]


def mixed_payloads(count=1024, seed=1):
    """What an instrumented application sends: a counter, a timer, a gauge and a set
    member in one datagram, the values varying from packet to packet."""
    import random
    rng = random.Random(seed)
    return [b"app.requests:1|c\napp.latency:%d|ms|@0.5\napp.queue:%d|g\napp.users:u%d|s"
            % (rng.randint(1, 2000), rng.randint(0, 500), rng.randint(0, 10_000))
            for _ in range(count)]


WORKLOADS = {"counter": COUNTER_PAYLOADS, "mixed": mixed_payloads()}
TRIAL_SECONDS = 1.5
BURST = 16                # datagrams sent in one sendmmsg call between pacing checks
START_RATE = 10_000
MAX_RATE = 2_000_000
BISECT_STEPS = 4
CARBONISH_BUFFER = 8 * 1024 * 1024
CPU_RATE = 20_000         # the fixed rate of the CPU-per-packet trial


def free_port(kind):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, deadline_seconds=20.0):
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port}")


def ask(port, command):
    """Send one command line to a control port, return the reply up to END."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(command.encode() + b"\n")
        reply = b""
        while b"END" not in reply:
            chunk = conn.recv(65536)
            if not chunk:
                break
            reply += chunk
    return reply.decode()


# --- receivers --------------------------------------------------------------------------

def ensure_statsd():
    package = STATSD_JS.parent / "package.json"
    if package.exists() and json.loads(package.read_text())["version"] == "0.9.0":
        return
    STATSD_DIR.mkdir(parents=True, exist_ok=True)
    print("[reference] installing statsd@0.9.0 with npm ...", file=sys.stderr, flush=True)
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent", "statsd@0.9.0"],
                   cwd=STATSD_DIR, check=True)


class Receiver:
    label = ""

    def __init__(self, tmp):
        self.tmp = tmp
        self.udp_port = free_port(socket.SOCK_DGRAM)
        self.control_port = free_port(socket.SOCK_STREAM)
        self.proc = None

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=20)

    def cpu_seconds(self):
        """User + system CPU the receiver process has used so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Statsd(Receiver):
    label = "etsy statsd 0.9.0 (kernel default buffer)"

    def start(self):
        config = {"port": self.udp_port, "address": "127.0.0.1", "mgmt_port": self.control_port,
                  "mgmt_address": "127.0.0.1", "flushInterval": 3_600_000, "backends": [],
                  "automaticConfigReload": False}
        path = Path(self.tmp) / "statsd.json"
        path.write_text(json.dumps(config))
        self.proc = subprocess.Popen(["node", str(STATSD_JS), str(path)], cwd=STATSD_JS.parent,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.control_port)

    def packets(self):
        reply = ask(self.control_port, "counters")
        return int(re.search(r"'statsd\.packets_received': (\d+)", reply).group(1))


class Carbonish(Receiver):
    def __init__(self, tmp, buffer_size):
        super().__init__(tmp)
        self.buffer_size = buffer_size
        self.label = ("carbonish (kernel default buffer)" if not buffer_size else
                      f"carbonish (UDP_BUFFER_SIZE {buffer_size // (1024 * 1024)} MiB)")

    def start(self):
        env = dict(os.environ, PYTHONPATH=str(REPO))
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(self.udp_port), str(self.control_port),
             str(self.buffer_size)], env=env, stdout=subprocess.DEVNULL)
        wait_for_port(self.control_port)

    def packets(self):
        return int(json.loads(ask(self.control_port, "packets").split("END")[0])["packets"])


def serve(udp_port, control_port, buffer_size):
    """The carbonish receiver: the statsd protocol and aggregator on the real reactor."""
    from twisted.internet import reactor
    from twisted.internet.protocol import Factory, Protocol

    from carbonish.statsd.aggregator import StatsdAggregator
    from carbonish.statsd.config import StatsdConfig
    from carbonish.statsd.protocol import StatsdService, listen_udp

    config = StatsdConfig(flush_interval=3600, udp_buffer_size=buffer_size)
    aggregator = StatsdAggregator(config, reactor)
    service = StatsdService(config, aggregator, lambda rows: None, reactor)
    listen_udp(reactor, udp_port, service.udp_protocol(), "127.0.0.1", buffer_size)

    class Control(Protocol):
        def dataReceived(self, data):
            service.batcher.drain()
            count = aggregator.counters[aggregator.packets_key]
            self.transport.write(json.dumps({"packets": count}).encode() + b"\nEND\n")
            self.transport.loseConnection()

    reactor.listenTCP(control_port, Factory.forProtocol(Control), interface="127.0.0.1")
    service.startService()
    reactor.run()


# --- sending and searching --------------------------------------------------------------

class BurstSender:
    """A connected UDP socket sending BURST datagrams in one sendmmsg(2) call (cycling
    through a pool of payloads), so the sender is not what limits the rates measured."""

    def __init__(self, port, payloads):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.connect(("127.0.0.1", port))
        libc = ctypes.CDLL(None, use_errno=True)
        self._sendmmsg = getattr(libc, "sendmmsg", None)
        self._payloads = payloads
        self._buffers = [ctypes.create_string_buffer(p, len(p)) for p in payloads]
        self._iovs = [Iovec(ctypes.cast(b, ctypes.c_void_p), len(p))
                      for b, p in zip(self._buffers, payloads)]
        groups = max(1, len(payloads) // BURST)
        self._groups = []
        for g in range(groups):
            msgs = (Mmsghdr * BURST)()
            for i, m in enumerate(msgs):
                m.msg_hdr.msg_iov = ctypes.pointer(self._iovs[(g * BURST + i) % len(payloads)])
                m.msg_hdr.msg_iovlen = 1
            self._groups.append(msgs)
        self._next = 0

    def send(self, count):
        """Send `count` (<= BURST) datagrams; return how many the kernel took."""
        group = self._next
        self._next = (group + 1) % len(self._groups)
        if self._sendmmsg is None:
            for i in range(count):
                self.sock.send(self._payloads[(group * BURST + i) % len(self._payloads)])
            return count
        done = self._sendmmsg(self.sock.fileno(), self._groups[group], count, 0)
        return max(done, 0)

    def close(self):
        self.sock.close()


def send_at(port, rate, seconds, payloads):
    """Send rate*seconds datagrams paced to `rate`; return (sent, achieved rate)."""
    total = int(rate * seconds)
    interval = BURST / rate
    sender = BurstSender(port, payloads)
    try:
        start = time.perf_counter()
        sent = 0
        while sent < total:
            target = start + (sent // BURST) * interval
            while time.perf_counter() < target:
                pass
            sent += sender.send(min(BURST, total - sent))
        elapsed = time.perf_counter() - start
    finally:
        sender.close()
    return sent, sent / elapsed


def counted_after(receiver, before, sent):
    """Packets counted since `before`, once the count stops moving (bounded wait)."""
    deadline = time.monotonic() + 10
    last = -1
    while time.monotonic() < deadline:
        now = receiver.packets() - before
        if now >= sent or now == last:
            return now
        last = now
        time.sleep(0.3)
    return last


def trial(receiver, rate, payloads):
    """(loss-free, achieved send rate, packets counted, receiver CPU seconds used)."""
    before, cpu_before = receiver.packets(), receiver.cpu_seconds()
    sent, achieved = send_at(receiver.udp_port, rate, TRIAL_SECONDS, payloads)
    got = counted_after(receiver, before, sent)
    return got == sent, achieved, got, receiver.cpu_seconds() - cpu_before


def cpu_per_packet_us(receiver, payloads):
    """Receiver CPU per packet counted, sending at CPU_RATE (lost packets cost it less)."""
    _, _, got, cpu = trial(receiver, CPU_RATE, payloads)
    return cpu / got * 1e6 if got else float("nan")


def search(receiver, payloads):
    """(highest loss-free rate, the sender's cap if it was reached):
    doubling from START_RATE, then bisection."""
    good, bad, sender_cap = 0, None, None
    rate = START_RATE
    short = 0
    while rate <= MAX_RATE:
        ok, achieved, _, _ = trial(receiver, rate, payloads)
        if not ok:
            bad = rate
            break
        good = max(good, min(rate, achieved))
        if achieved < 0.97 * rate:        # the sender fell short: once may be a stall
            short += 1
            if short == 2:                # twice: this process cannot send faster
                sender_cap = achieved
                break
            continue
        short = 0
        rate *= 2
    for _ in range(BISECT_STEPS if bad else 0):
        rate = (good + bad) / 2
        ok, achieved, _, _ = trial(receiver, rate, payloads)
        if ok:
            good = min(rate, achieved)
        else:
            bad = rate
    return good, sender_cap


def main(argv):
    rounds = int(argv[0]) if argv else 3
    ensure_statsd()
    results = {}   # (workload, label) -> [(rate, figure, cpu µs)]
    caps = []
    with tempfile.TemporaryDirectory() as tmp:
        plans = [("counter", [Statsd(tmp), Carbonish(tmp, 0), Carbonish(tmp, CARBONISH_BUFFER)]),
                 ("mixed", [Statsd(tmp), Carbonish(tmp, CARBONISH_BUFFER)])]
        for r in range(rounds):
            for workload, receivers in plans:
                for receiver in receivers:
                    outcome = measure(receiver, WORKLOADS[workload])
                    results.setdefault((workload, receiver.label), []).append(outcome)
                    if outcome[3]:
                        caps.append(outcome[3])
                    print(f"round {r + 1}: {workload}: {receiver.label}: {outcome[1]} "
                          f"packets/s, {outcome[2]:.1f} µs CPU/packet", flush=True)
    write_table(results, rounds, caps)


def measure(receiver, payloads):
    receiver.start()
    try:
        cpu_us = cpu_per_packet_us(receiver, payloads)
        rate, cap = search(receiver, payloads)
    finally:
        receiver.stop()
    return rate, (f"≥{rate:,.0f}" if cap else f"{rate:,.0f}"), cpu_us, cap


def write_table(results, rounds, caps):
    lines = ["| workload | receiver | loss-free packets/s (median) | runs | vs statsd "
             "| receiver CPU µs/packet (median) | CPU vs statsd |",
             "|---|---|---:|---|---:|---:|---:|"]
    for (workload, label), outcomes in results.items():
        base = results[(workload, Statsd.label)]
        base_rate = statistics.median(o[0] for o in base)
        base_cpu = statistics.median(o[2] for o in base)
        rate = statistics.median(o[0] for o in outcomes)
        cpu = statistics.median(o[2] for o in outcomes)
        runs = ", ".join(o[1] for o in outcomes)
        lines.append(f"| {workload} | {label} | {rate:,.0f} | {runs} | {rate / base_rate:.1f}x "
                     f"| {cpu:.1f} | {base_cpu / cpu:.1f}x less |")
    table = "\n".join(lines)
    print(table)
    cap_note = (f"Runs marked ≥ reached the sender's own limit (~{min(caps):,.0f} packets/s "
                "at the least), so they are lower bounds." if caps else
                "The sender never reached its own limit.")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(f"""# statsd: loss-free UDP ingest

{table}

How measured (bench/bench_statsd.py): each receiver is its own process on 127.0.0.1;
one sender process paces datagrams at a fixed rate for {TRIAL_SECONDS} s, {BURST} per
sendmmsg(2) call. Workloads: `counter` is one line per datagram (`bench.counter:1|c`);
`mixed` is four lines per datagram (a counter, a sampled timer, a gauge and a set member,
values varying over 1,024 distinct packets). A rate counts as loss-free when the
receiver's own `statsd.packets_received` equals what was sent (statsd read from its
management port, carbonish from a control port beside the real reactor). Rates double
from {START_RATE:,} until the first loss, then {BISECT_STEPS} bisection steps. statsd
0.9.0 (npm) under node {node_version()}; the kernel default SO_RCVBUF here is
{default_rcvbuf():,} bytes, rmem_max {rmem_max():,}; carbonish asks for
{CARBONISH_BUFFER // (1024 * 1024)} MiB (UDP_BUFFER_SIZE; Linux grants at most rmem_max,
reported doubled). carbonish reads whole passes of datagrams and pauses reading after a
small pass (5 ms with its buffer, 0.5 ms with the kernel default), so at moderate rates
it wakes up once per many datagrams rather than once per one or two.
{rounds} rounds, receivers alternating within each, medians quoted.
Machine: {os.cpu_count()} cores, shared with other work and noisy.
{cap_note}
Receiver CPU per packet is the receiver process's user + system time (/proc/<pid>/stat)
over the packets it counted in a {TRIAL_SECONDS} s trial at {CPU_RATE:,} packets/s: less
sensitive to the machine's load than the loss-free rate, which with the default buffer
(room for about 256 small datagrams) mostly measures how soon the receiver is scheduled.
""")


def node_version():
    return subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()


def default_rcvbuf():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        return s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)


def rmem_max():
    try:
        return int(Path("/proc/sys/net/core/rmem_max").read_text())
    except OSError:
        return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(*map(int, sys.argv[2:5]))
    else:
        main(sys.argv[1:])
