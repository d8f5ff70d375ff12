"""Ingest side by side: `carbonish cache` against Graphite's carbon-cache 1.1.10.

Same machine, same run, same scenario; runs alternate carbon, carbonish, carbon,
carbonish and the tables quote medians (issue 4, Performance):

1. write-heavy: 1,000 metrics x 2,000 points over one TCP connection;
2. create-heavy: 20,000 metrics x 30 points over one TCP connection;
   both: points persisted per second from the first byte sent until every point is on
   disk (the last point of every metric read back with the real `whisper` module; the
   end is the newest modification time of the files once all are complete), and the peak
   RSS of the daemon's process tree (psutil, sampled every 50 ms);
3. UDP: the highest send rate, one line per datagram, at which no point is lost
   (geometric ladder then bisection, every trial counted back from the files);
4. plaintext parsing alone, in-process, 100k-line chunks;
5. a cProfile of the carbonish daemon (reactor and writer threads) during write-heavy.

Traffic goes to 127.0.0.1 only; every daemon started is stopped in a `finally`.
Usage: .venv/bin/python bench/bench_ingest.py [--quick] [--rounds N] [--only NAME,...]
"""
import argparse
import math
import os
import pstats
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import whisper

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))
import reference  # noqa: E402

RESULTS = HERE / "results" / "ingest.md"
STEP = 10
SCHEMAS = "[default]\npattern = .*\nretentions = 10s:1d,1m:30d\n"
KERNEL_DEFAULT_RCVBUF = 212992
LISTENING = re.compile(r"(?P<label>[\w .-]+?) listening on (?P<kind>\w+)://[\d.]+:(?P<port>\d+)")

CARBON_CONF = """[cache]
STORAGE_DIR = {root}/storage
LOCAL_DATA_DIR = {root}/storage/whisper
LOG_DIR = {root}/storage/log
PID_DIR = {root}/storage
USER =
MAX_CACHE_SIZE = inf
MAX_UPDATES_PER_SECOND = inf
MAX_CREATES_PER_MINUTE = inf
LINE_RECEIVER_INTERFACE = 127.0.0.1
LINE_RECEIVER_PORT = {line}
ENABLE_UDP_LISTENER = True
UDP_RECEIVER_INTERFACE = 127.0.0.1
UDP_RECEIVER_PORT = {udp}
PICKLE_RECEIVER_INTERFACE = 127.0.0.1
PICKLE_RECEIVER_PORT = {pickle}
CACHE_QUERY_INTERFACE = 127.0.0.1
CACHE_QUERY_PORT = {query}
USE_FLOW_CONTROL = True
LOG_UPDATES = False
LOG_CREATES = False
CACHE_WRITE_STRATEGY = sorted
WHISPER_FALLOCATE_CREATE = True
ENABLE_TAGS = False
CARBON_METRIC_INTERVAL = 0
"""

CARBONISH_CONF = """[cache]
STORAGE_DIR = {root}/storage
LOCAL_DATA_DIR = {root}/storage/whisper
MAX_CACHE_SIZE = inf
MAX_UPDATES_PER_SECOND = inf
MAX_CREATES_PER_MINUTE = inf
LINE_RECEIVER_INTERFACE = 127.0.0.1
LINE_RECEIVER_PORT = 0
ENABLE_UDP_LISTENER = True
UDP_RECEIVER_INTERFACE = 127.0.0.1
UDP_RECEIVER_PORT = 0
PICKLE_RECEIVER_INTERFACE = 127.0.0.1
PICKLE_RECEIVER_PORT = 0
CACHE_QUERY_INTERFACE = 127.0.0.1
CACHE_QUERY_PORT = 0
USE_FLOW_CONTROL = True
LOG_UPDATES = False
LOG_CREATES = False
CACHE_WRITE_STRATEGY = sorted
WHISPER_FALLOCATE_CREATE = True
CARBON_METRIC_INTERVAL = 0
{extra}
[statsd]
ENABLE = False
UDP_PORT = 0
[http]
PORT = 0
[zeromq]
ENABLE = False
"""

# The profiled daemon: cli.main under cProfile on the reactor thread, and Writer.run
# wrapped (in this process only) in its own cProfile on the writer thread.
PROFILED_DAEMON = """
import cProfile, sys
from carbonish import cli, writer
config, out = sys.argv[1], sys.argv[2]
original = writer.Writer.run
def run(self):
    profile = cProfile.Profile()
    profile.enable()
    try:
        original(self)
    finally:
        profile.disable()
        profile.dump_stats(out + "/writer.prof")
writer.Writer.run = run
profile = cProfile.Profile()
profile.enable()
try:
    code = cli.main(["cache", "--config", config])
finally:
    profile.disable()
    profile.dump_stats(out + "/reactor.prof")
sys.exit(code)
"""


class BenchError(RuntimeError):
    """A daemon did not start, did not finish in time, or lost points."""


# --- daemons -----------------------------------------------------------------------------

def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Daemon:
    """A daemon subprocess with its output in a file; `tcp`/`udp` are its plaintext ports."""

    name = "?"

    def __init__(self, root):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.root / "storage" / "whisper"
        (self.root / "storage-schemas.conf").write_text(SCHEMAS)
        self.config = self.root / "carbon.conf"
        self.log_path = self.root / "daemon.out"
        self.process = None
        self.tcp = self.udp = None

    def _spawn(self, argv, env, cwd=REPO):
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def output(self, tail=30):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-tail:])
        except OSError:
            return ""

    def _check_alive(self, what):
        if self.process.poll() is not None:
            raise BenchError(f"{self.name} exited {self.process.returncode} {what}:\n{self.output()}")

    def stop(self, timeout=120):
        """SIGTERM, wait; SIGKILL if it does not exit in `timeout` s. Returns the status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(10)
        self._log.close()
        return code

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


class Carbon(Daemon):
    name = "carbon-cache 1.1.10"

    def start(self, timeout=60):
        self.tcp, self.udp = free_port(), free_port(socket.SOCK_DGRAM)
        self.config.write_text(CARBON_CONF.format(
            root=self.root, line=self.tcp, udp=self.udp, pickle=free_port(), query=free_port()))
        script = reference.bin_path(reference.CARBON, "carbon-cache.py")
        env = dict(os.environ, GRAPHITE_ROOT=str(self.root), PYTHONUNBUFFERED="1")
        self._spawn([str(script), f"--config={self.config}", "--nodaemon", "start"], env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive("while starting")
            try:
                socket.create_connection(("127.0.0.1", self.tcp), timeout=1).close()
                udp_bound = any(c.laddr and c.laddr.port == self.udp
                                for c in psutil.Process(self.process.pid).net_connections("udp"))
                if udp_bound:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise BenchError(f"{self.name} did not listen in {timeout}s:\n{self.output()}")


class Carbonish(Daemon):
    """`carbonish cache` run from `code_dir` (a snapshot of the tree taken when the bench
    starts, so every run of one bench run uses the same code), else from the repo."""

    name = "carbonish cache"
    code_dir = REPO

    def __init__(self, root, extra="", profile_dir=None):
        super().__init__(root)
        self.extra = extra
        self.profile_dir = profile_dir

    def start(self, timeout=60):
        self.config.write_text(CARBONISH_CONF.format(root=self.root, extra=self.extra))
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        if self.profile_dir:
            argv = [sys.executable, "-c", PROFILED_DAEMON, str(self.config), str(self.profile_dir)]
        else:
            argv = [sys.executable, "-m", "carbonish.cli", "cache", "--config", str(self.config)]
        self._spawn(argv, env, cwd=self.code_dir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive("while starting")
            ports = {m["kind"]: int(m["port"]) for m in LISTENING.finditer(self.output(200))
                     if m["label"].strip() == "plaintext"}
            if "tcp" in ports and "udp" in ports:
                self.tcp, self.udp = ports["tcp"], ports["udp"]
                time.sleep(0.5)  # a listener that fails after these makes it exit
                self._check_alive("just after starting")
                return self
            time.sleep(0.05)
        raise BenchError(f"{self.name} did not listen in {timeout}s:\n{self.output()}")


class PeakRss:
    """Samples the RSS of a process and its children every `interval` s on a thread."""

    def __init__(self, pid, interval=0.05):
        self.process = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self._tree = [self.process]
        self._listed = -math.inf
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def sample(self):
        try:
            now = time.monotonic()
            if now - self._listed > 1.0:  # children() scans /proc: not every sample
                self._tree = [self.process] + self.process.children(recursive=True)
                self._listed = now
            tree = self._tree
            total = 0
            for proc in tree:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
        except psutil.Error:
            pass

    def _run(self):
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        return self.peak


# --- TCP scenarios -----------------------------------------------------------------------

class Workload:
    """`metrics` x `points` lines, time-major (every metric's point i, then i+1, as a
    collector sends them); the value of point i is i, timestamps 10 s apart ending
    a minute ago."""

    def __init__(self, label, metric_names, points, now=None):
        self.label = label
        self.names = metric_names
        self.points = points
        now = int(time.time() if now is None else now)
        self.base = (now - 60 - points * STEP) // STEP * STEP
        self.last = self.base + (points - 1) * STEP
        self.payload = b"".join(
            "".join(f"{name} {i} {self.base + i * STEP}\n" for name in metric_names).encode()
            for i in range(points))

    @property
    def total(self):
        return len(self.names) * self.points


def write_heavy(metrics=1000, points=2000):
    return Workload("write-heavy", [f"bench.write.m{m:04d}" for m in range(metrics)], points)


def create_heavy(metrics=20000, points=30):
    return Workload("create-heavy", [f"bench.create.g{m // 100:03d}.m{m % 100:02d}"
                                     for m in range(metrics)], points)


def wsp_path(data_dir, name):
    return os.path.join(data_dir, *name.split(".")) + ".wsp"


def point_at(path, timestamp):
    """The value stored for `timestamp` (aligned to STEP) in the 10 s archive, or None."""
    (_, _, _), values = whisper.fetch(path, timestamp - STEP, timestamp)
    return values[0] if values else None


def wait_on_disk(data_dir, workload, timeout, poll=0.1, daemon=None):
    """Block until every metric's last point is in its file; return the newest mtime of
    the files (the moment the last point was written). Checks each metric once it is
    found done and stops a pass at the first one that is not, so polling costs little."""
    pending = [wsp_path(data_dir, name) for name in workload.names]
    expected = float(workload.points - 1)
    newest = 0.0
    deadline = time.monotonic() + timeout
    while pending:
        if time.monotonic() > deadline:
            raise BenchError(f"{len(pending)} of {len(workload.names)} metrics not on disk "
                             f"after {timeout}s")
        if daemon is not None:
            daemon._check_alive(f"with {len(pending)} metrics not on disk yet")
        done = 0
        for path in pending:
            try:
                if point_at(path, workload.last) != expected:
                    break
                newest = max(newest, os.stat(path).st_mtime)
            except (OSError, whisper.WhisperException, ValueError):
                break
            done += 1
        del pending[:done]
        if pending:
            time.sleep(poll)
    return newest


def verify_sample(data_dir, workload, count=50):
    """Every point of `count` metrics spread over the set is on disk with its value."""
    step = max(1, len(workload.names) // count)
    wrong = 0
    for name in workload.names[::step]:
        (_, _, _), values = whisper.fetch(wsp_path(data_dir, name), workload.base - STEP,
                                          workload.last)
        wrong += sum(1 for i, value in enumerate(values[:workload.points]) if value != i)
        wrong += max(0, workload.points - len(values))
    return wrong


def send_tcp(port, payload, chunk=1 << 20):
    """Send `payload` over one connection; returns (first byte time, all sent time)."""
    with socket.create_connection(("127.0.0.1", port), timeout=300) as sock:
        view = memoryview(payload)
        started = time.time()
        for offset in range(0, len(payload), chunk):
            sock.sendall(view[offset:offset + chunk])
        sent = time.time()
        sock.shutdown(socket.SHUT_WR)
    return started, sent


def tcp_run(make_daemon, workload, root, timeout):
    """One run: start, send, wait until on disk, stop. Returns a dict of measures."""
    daemon = make_daemon(root)
    try:
        daemon.start()
        rss = PeakRss(daemon.process.pid)
        time.sleep(1.0)  # let it settle (idle writer loops, imports)
        started, sent = send_tcp(daemon.tcp, workload.payload)
        finished = wait_on_disk(daemon.data_dir, workload, timeout, daemon=daemon)
        peak = rss.stop()
        wrong = verify_sample(daemon.data_dir, workload)
        if wrong:
            raise BenchError(f"{daemon.name}: {wrong} points wrong or missing in the sample")
    finally:
        code = daemon.stop()
    elapsed = max(finished - started, 1e-6)
    return {"name": daemon.name, "seconds": elapsed, "rate": workload.total / elapsed,
            "send_seconds": sent - started, "peak_rss": peak, "exit": code}


class Cleaner:
    """Deletes finished runs' storage in the background (`nice rm -rf`): on this disk
    (ext4 mounted with `discard`) unlinking 20,000 fallocated files takes minutes."""

    def __init__(self):
        self.processes = []

    def remove(self, path):
        self.processes.append(subprocess.Popen(["nice", "-n", "19", "rm", "-rf", str(path)]))

    def wait(self, timeout=1800):
        deadline = time.monotonic() + timeout
        for process in self.processes:
            try:
                process.wait(max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        self.processes = []


FILE_BYTES = 16 + 2 * 12 + (8640 + 43200) * 12  # one 10s:1d,1m:30d whisper file


class FreshFilesystem:
    """A new ext4 file system for one run's storage: a sparse image file under `scratch`,
    made by mkfs.ext4 and loop-mounted (needs root). On this machine's disk (ext4 with
    `discard`) creating a file costs ~20-50 µs on a quiet file system, but 400-900 µs
    for minutes after an earlier run's 20,000 files were deleted near it: a run on the
    shared disk measured the deletions of the runs before it more than the daemon. On a
    fresh file system every run, carbon's and carbonish's, starts from the same state.
    `available()` says whether this machine allows it (else runs share the scratch disk)."""

    SIZE = 64 * 2**30  # sparse: only what the run writes takes space on the disk

    def __init__(self, scratch, label):
        self.image = Path(scratch) / f"{label}.img"
        self.mount = Path(scratch) / f"{label}.mnt"

    @classmethod
    def available(cls, scratch):
        if os.geteuid() != 0 or not (shutil.which("mkfs.ext4") and shutil.which("mount")):
            return False
        try:
            with cls(scratch, "probe") as root:
                (root / "probe").write_text("ok")
        except (OSError, subprocess.CalledProcessError):
            return False
        return True

    def __enter__(self):
        with open(self.image, "wb") as image:
            image.truncate(self.SIZE)
        self.mount.mkdir()
        try:
            subprocess.run(["mkfs.ext4", "-q", "-F", str(self.image)], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            subprocess.run(["mount", "-o", "loop", str(self.image), str(self.mount)],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except (OSError, subprocess.CalledProcessError):
            self._remove()
            raise
        return self.mount

    def __exit__(self, *exc):
        for _ in range(60):  # a daemon's last file may still be closing
            if subprocess.run(["umount", str(self.mount)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode == 0:
                break
            time.sleep(1)
        self._remove()

    def _remove(self):
        self.image.unlink(missing_ok=True)
        try:
            self.mount.rmdir()
        except OSError:
            pass


def ensure_space(scratch, workload, cleaner, margin=5 * 2**30):
    """Wait for earlier runs' deletion if the disk cannot hold this run's files (a
    daemon meeting ENOSPC loses points and the run never completes)."""
    need = len(workload.names) * FILE_BYTES + margin
    if shutil.disk_usage(scratch).free < need:
        cleaner.wait()
    free = shutil.disk_usage(scratch).free
    if free < need:
        raise BenchError(f"{workload.label} needs {need / 2**30:.1f} GiB free on "
                         f"{scratch}, {free / 2**30:.1f} GiB are")


def bench_tcp(workload, rounds, timeout, scratch, cleaner, fresh_fs):
    """Alternate carbon, carbonish `rounds` times; every run in fresh storage (on a
    fresh file system when `fresh_fs`)."""
    runs = {"carbon": [], "carbonish": []}
    makers = {"carbon": Carbon, "carbonish": Carbonish}
    for index in range(rounds):
        for key in ("carbon", "carbonish"):
            label = f"{workload.label}-{key}-{index}"
            if fresh_fs:
                with FreshFilesystem(scratch, label) as mount:
                    result = tcp_run(makers[key], workload, mount / "run", timeout)
            else:
                ensure_space(scratch, workload, cleaner)
                root = Path(scratch) / label
                try:
                    result = tcp_run(makers[key], workload, root, timeout)
                finally:
                    cleaner.remove(root)
            print(f"  {workload.label} {key} run {index + 1}: {result['rate']:,.0f} points/s, "
                  f"{result['seconds']:.2f} s (all sent after {result['send_seconds']:.2f} s), "
                  f"peak RSS {result['peak_rss'] / 2**20:.0f} MB, exit {result['exit']}",
                  flush=True)
            runs[key].append(result)
    return runs


# --- UDP ---------------------------------------------------------------------------------

def udp_rcvbuf_errors():
    """The kernel's UDP RcvbufErrors counter (whole machine; for explanation only)."""
    try:
        lines = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines()
                 if line.startswith("Udp:")]
        return int(lines[1][lines[0].index("RcvbufErrors")])
    except (OSError, ValueError, IndexError):
        return -1


class UdpTarget:
    """One running daemon under UDP test; each trial uses new metric names."""

    def __init__(self, key, daemon, sender):
        self.key = key
        self.daemon = daemon
        self.sender = sender
        self.trials = 0

    def trial(self, rate, duration, settle_timeout=30):
        """Send rate*duration datagrams at `rate`/s; returns (received, sent, achieved rate,
        kernel rcvbuf errors during the trial)."""
        self.trials += 1
        count = max(1000, int(rate * duration))
        metrics = max(4, math.ceil(count / 4000))  # 4,000 points x 10 s fit in a day
        per_metric = math.ceil(count / metrics)
        base = (int(time.time()) - 120 - per_metric * STEP) // STEP * STEP
        names = [f"bench.udp.{self.key}.t{self.trials:03d}.m{m:03d}" for m in range(metrics)]
        datagrams = [f"{names[i % metrics]} 1 {base + (i // metrics) * STEP}\n".encode()
                     for i in range(count)]
        errors_before = udp_rcvbuf_errors()
        achieved = self.sender.send(self.daemon.udp, datagrams, rate)
        received = self._count_on_disk(names, base, per_metric, count, settle_timeout)
        return received, count, achieved, udp_rcvbuf_errors() - errors_before

    def _count_on_disk(self, names, base, per_metric, expected, timeout):
        """Poll the files until all points are there or the count is still for 3 s."""
        deadline = time.monotonic() + timeout
        last, still_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            total = 0
            for name in names:
                path = wsp_path(self.daemon.data_dir, name)
                try:
                    (_, _, _), values = whisper.fetch(path, base - STEP,
                                                      base + (per_metric - 1) * STEP)
                except (OSError, whisper.WhisperException):
                    continue
                total += sum(1 for value in values if value is not None)
            if total >= expected:
                return total
            if total != last:
                last, still_since = total, time.monotonic()
            elif time.monotonic() - still_since > 3.0:
                return total
            time.sleep(0.2)
        return last


class UdpSender:
    """Sends a trial's datagrams paced: bench/udp_blast.c (sendmmsg in batches of at most
    ~1 ms of traffic, each at its due time on CLOCK_MONOTONIC), compiled with `cc -O2`
    into the scratch dir, or send_paced (Python, one send a datagram, busy-paced: tops out
    near 280,000/s on this machine and takes a whole core) when it does not compile."""

    SOURCE = HERE / "udp_blast.c"

    def __init__(self, scratch):
        self.scratch = Path(scratch)
        self.binary = None
        self.why_not = None
        compiler = shutil.which("cc") or shutil.which("gcc")
        if compiler is None:
            self.why_not = "no C compiler (cc, gcc) on PATH"
            return
        binary = self.scratch / "udp_blast"
        built = subprocess.run([compiler, "-O2", "-o", str(binary), str(self.SOURCE)],
                               capture_output=True, text=True, timeout=120)
        if built.returncode != 0:
            self.why_not = f"{compiler} -O2 failed: {built.stderr.strip()[:300]}"
            return
        self.binary = binary

    @property
    def label(self):
        if self.binary:
            return ("bench/udp_blast.c (`cc -O2`): `sendmmsg` in batches of at most 64 "
                    "datagrams and ~1 ms of traffic, each batch sent at its due time on "
                    "CLOCK_MONOTONIC, sleeping in between")
        return (f"the Python fallback `send_paced` (one `send` a datagram, busy-paced; "
                f"udp_blast.c not built: {self.why_not})")

    def send(self, port, datagrams, rate):
        """Send the datagrams at `rate` per second; returns the achieved rate."""
        if self.binary is None:
            return send_paced(port, datagrams, rate)
        lines = self.scratch / "datagrams.txt"
        lines.write_bytes(b"".join(datagrams))
        timeout = 10.0 * len(datagrams) / rate + 30.0
        try:
            done = subprocess.run([str(self.binary), str(port), repr(float(rate)), str(lines)],
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise BenchError("UDP sender could not keep pace") from None
        finally:
            lines.unlink(missing_ok=True)
        fields = dict(item.split("=", 1) for item in done.stdout.split() if "=" in item)
        if done.returncode != 0 or int(fields.get("sent", -1)) != len(datagrams):
            raise BenchError(f"udp_blast failed ({done.returncode}): {done.stdout} {done.stderr}")
        return float(fields["rate"])


def send_paced(port, datagrams, rate):
    """Send the datagrams at `rate` per second (busy-paced); returns the achieved rate."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(("127.0.0.1", port))
        send = sock.send
        total = len(datagrams)
        sent = 0
        clock = time.perf_counter
        started = clock()
        deadline = started + 10.0 * total / rate + 5.0
        while sent < total:
            now = clock()
            if now > deadline:
                raise BenchError("UDP sender could not keep pace")
            due = min(total, int((now - started) * rate) + 1)
            for datagram in datagrams[sent:due]:
                try:
                    send(datagram)
                except (BlockingIOError, ConnectionRefusedError):
                    pass  # counted as lost
            sent = max(sent, due)
        return total / max(clock() - started, 1e-9)


def udp_search(targets, duration, ladder, bisections, attempts=2):
    """Per target: the highest loss-free rate. Each ladder rung and each bisection step
    tries every target still searching in turn (alternating), so the noise is shared; a
    rate counts as loss-free when one of `attempts` trials loses nothing (the machine is
    shared: a trial can lose to someone else's burst)."""
    best = {t.key: 0 for t in targets}
    failed_at = {}
    notes = {t.key: [] for t in targets}

    def attempt(target, rate):
        """True: loss-free; False: loss in `attempts` trials; None: sender too slow."""
        for _ in range(attempts):
            received, sent, achieved, kernel_drops = target.trial(rate, duration)
            ok = received >= sent
            notes[target.key].append((rate, achieved, received, sent, kernel_drops))
            print(f"  udp {target.key}: {rate:>9,.0f}/s asked, {achieved:>9,.0f}/s sent, "
                  f"{received:,}/{sent:,} on disk, kernel rcvbuf drops {kernel_drops:,}"
                  f"{'' if ok else '  LOSS'}", flush=True)
            # a sender that fell >5% short did not test this rate: treat it as a ceiling
            if achieved < 0.95 * rate:
                return None
            if ok:
                return True
        return False

    for rate in ladder:
        for target in targets:
            if target.key in failed_at:
                continue
            outcome = attempt(target, rate)
            if outcome:
                best[target.key] = rate
            else:
                failed_at[target.key] = rate if outcome is False else None
    for _ in range(bisections):
        for target in targets:
            high = failed_at.get(target.key)
            if not high:
                continue
            rate = (best[target.key] + high) / 2
            if attempt(target, rate):
                best[target.key] = rate
            else:
                failed_at[target.key] = rate
    return best, failed_at, notes


def bench_udp(scratch, duration, ladder, bisections):
    configs = [
        ("carbon", lambda root: Carbon(root), "kernel default 212,992 B"),
        ("carbonish-8MiB", lambda root: Carbonish(root),
         "UDP_RECEIVER_BUFFER_SIZE default 8 MiB"),
        ("carbonish-default", lambda root: Carbonish(
            root, f"UDP_RECEIVER_BUFFER_SIZE = {KERNEL_DEFAULT_RCVBUF // 2}"),
         f"UDP_RECEIVER_BUFFER_SIZE = {KERNEL_DEFAULT_RCVBUF // 2} (kernel doubles it: "
         f"{KERNEL_DEFAULT_RCVBUF:,} B, as carbon)"),
    ]
    sender = UdpSender(scratch)
    print(f"  sender: {sender.label}", flush=True)
    daemons = []
    try:
        targets = []
        for key, make, _ in configs:
            daemon = make(Path(scratch) / f"udp-{key}")
            daemons.append(daemon)
            daemon.start()
            targets.append(UdpTarget(key, daemon, sender))
        buffers = {t.key: udp_rcvbuf(t.daemon) for t in targets}
        time.sleep(1.0)
        best, failed_at, notes = udp_search(targets, duration, ladder, bisections)
    finally:
        for daemon in daemons:
            daemon.stop()
            shutil.rmtree(daemon.root, ignore_errors=True)
    return sender.label, [(key, text, buffers.get(key), best[key], failed_at.get(key),
                           notes[key]) for key, _, text in configs]


def udp_rcvbuf(daemon):
    """The daemon's UDP socket receive buffer as the kernel reports it (ss skmem rb)."""
    try:
        out = subprocess.run(["ss", "-uamnH", "sport", "=", f":{daemon.udp}"],
                             capture_output=True, text=True, timeout=10).stdout
        match = re.search(r"rb(\d+)", out)
        return int(match.group(1)) if match else None
    except (OSError, subprocess.SubprocessError):
        return None


# --- parsing alone -----------------------------------------------------------------------

def carbon_style(chunk):
    """carbon's plaintext receiver, per line: split, three fields, two floats, -1 -> now."""
    points = []
    now = time.time()
    for line in chunk.split(b"\n"):
        line = line.strip()
        if not line:
            continue
        try:
            metric, value, timestamp = line.split()
            datapoint = (float(timestamp), float(value))
            if datapoint[0] == -1:
                datapoint = (now, datapoint[1])
        except ValueError:
            continue
        points.append((metric.decode("utf-8"), datapoint))
    return points


def tight_split(chunk):
    """The tight pure-Python ceiling: one split of the whole chunk, list comprehensions."""
    tokens = chunk.split()
    names = [name.decode("utf-8") for name in tokens[0::3]]
    values = [float(v) for v in tokens[1::3]]
    timestamps = [float(t) for t in tokens[2::3]]
    return names, values, timestamps


def bench_parse(rounds, lines=100_000, budget=0.3):
    """lines/s of each parser on `lines`-line chunks, then on small chunks (a UDP datagram
    of one line, a 64 KiB TCP read of ~1,400 lines), each timed in turn, medians."""
    from twisted.internet.task import Clock

    from carbonish.cache import MetricCache
    from carbonish.ingest import Ingest
    from carbonish.instrumentation import Counters, RateLimitedLog
    from carbonish.parse import parse_plaintext

    now = int(time.time())
    clock = Clock()
    clock.advance(now)

    def chunk_of(count):
        return "".join(f"bench.parse.host{i % 100:02d}.cpu{i % 1000:03d} {i * 0.5} "
                       f"{now - i % 3600}\n" for i in range(count)).encode()

    results = []
    for size in (lines, 1400, 1):
        chunk = chunk_of(size)
        assert len(parse_plaintext(chunk)) == size == len(carbon_style(chunk))
        # parse + validate + cache add, as the reactor thread does; names already known
        ingest = Ingest(MetricCache(), Counters(), RateLimitedLog(clock), clock)
        ingest.plaintext(chunk)
        parsers = [("carbon-style per-line loop (in the bench)", carbon_style),
                   ("tight split loop (in the bench)", tight_split),
                   ("carbonish.parse.parse_plaintext", parse_plaintext),
                   ("carbonish Ingest.plaintext (parse + validate + cache add, known names)",
                    ingest.plaintext)]
        repeat = max(1, int(lines / size / 20))  # calls per timing, ~5k lines at least
        times = {label: [] for label, _ in parsers}
        for _ in range(rounds):
            for label, parse in parsers:
                started = time.perf_counter()
                for _ in range(repeat):
                    parse(chunk)
                times[label].append((time.perf_counter() - started) / repeat)
        results += [(label, size, size / statistics.median(times[label])) for label, _ in parsers]
    return results


# --- profile -----------------------------------------------------------------------------

def bench_profile(workload, scratch, timeout, top=25):
    """cProfile of both daemon threads during one write-heavy run."""
    root = Path(scratch) / "profile"
    profile_dir = root / "prof"
    profile_dir.mkdir(parents=True, exist_ok=True)
    daemon = Carbonish(root, profile_dir=profile_dir)
    try:
        daemon.start()
        time.sleep(1.0)
        started, _ = send_tcp(daemon.tcp, workload.payload)
        finished = wait_on_disk(daemon.data_dir, workload, timeout, daemon=daemon)
    finally:
        code = daemon.stop()
    elapsed = finished - started
    sections = []
    for thread in ("reactor", "writer"):
        path = profile_dir / f"{thread}.prof"
        if not path.exists():
            sections.append((thread, None, f"no profile written (exit {code})", []))
            continue
        stats = pstats.Stats(str(path))
        sections.append((thread, stats.total_tt, profile_rows(stats, top),
                         carbonish_cumulative(stats, 12)))
    shutil.rmtree(root, ignore_errors=True)
    return elapsed, workload.total / elapsed, sections


def profile_rows(stats, top):
    rows = []
    for (filename, line, function), (_, calls, tottime, cumtime, _) in stats.stats.items():
        rows.append((tottime, cumtime, calls, f"{shorten(filename)}:{line}({function})"))
    rows.sort(reverse=True)
    return rows[:top]


def carbonish_cumulative(stats, top):
    """carbonish's own functions by cumulative time: which stage the time goes to."""
    rows = []
    for (filename, line, function), (_, calls, tottime, cumtime, _) in stats.stats.items():
        if "/carbonish/" in filename:
            rows.append((cumtime, tottime, calls, f"{shorten(filename)}:{line}({function})"))
    rows.sort(reverse=True)
    return rows[:top]


def shorten(filename):
    for marker in ("site-packages/", "/lib/python3.11/", f"{Carbonish.code_dir}/", f"{REPO}/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def py_spy():
    path = Path(sys.executable).parent / "py-spy"
    return str(path) if path.exists() else shutil.which("py-spy")


def bench_py_spy(workload, scratch, timeout, top=15, rate=200, cleaner=None):
    """py-spy (if installed) attached to the daemon during one write-heavy run, sampling
    only the thread holding the GIL: where the Python time goes, both threads, low
    overhead. Returns None without py-spy."""
    spy = py_spy()
    if not spy:
        return None
    root = Path(scratch) / "py-spy"
    raw = root / "samples.txt"
    daemon = Carbonish(root)
    recorder = None
    try:
        daemon.start()
        recorder = subprocess.Popen(
            [spy, "record", "--pid", str(daemon.process.pid), "--gil", "--threads",
             "--nonblocking", "--function", "--format", "raw", "--rate", str(rate),
             "--output", str(raw)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.5)
        started, _ = send_tcp(daemon.tcp, workload.payload)
        finished = wait_on_disk(daemon.data_dir, workload, timeout, daemon=daemon)
        sampled = time.time() - started + 1.5
    finally:
        daemon.stop()
        if recorder is not None:
            try:
                recorder.wait(30)
            except subprocess.TimeoutExpired:
                recorder.kill()
                recorder.wait(10)
    summary = summarize_raw(raw.read_text(), top) if raw.exists() else None
    if cleaner is not None:
        cleaner.remove(root)
    else:
        shutil.rmtree(root, ignore_errors=True)
    if summary is None:
        return None
    return finished - started, sampled * rate, summary


def summarize_raw(text, top):
    """py-spy raw (collapsed) stacks -> per thread: samples, top functions by own samples
    and carbonish functions by inclusive samples."""
    threads = {}
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = stack.split(";")
        thread = frames[0]
        frames = [strip_frame(frame) for frame in frames[1:]]
        entry = threads.setdefault(thread, {"samples": 0, "own": {}, "inclusive": {}})
        entry["samples"] += int(count)
        leaf = frames[-1] if frames else "(no Python frame: native code holding the GIL)"
        entry["own"][leaf] = entry["own"].get(leaf, 0) + int(count)
        for frame in set(frames):
            if "carbonish/" in frame:
                entry["inclusive"][frame] = entry["inclusive"].get(frame, 0) + int(count)
    result = []
    for thread, entry in sorted(threads.items(), key=lambda item: -item[1]["samples"]):
        own = sorted(entry["own"].items(), key=lambda item: -item[1])[:top]
        inclusive = sorted(entry["inclusive"].items(), key=lambda item: -item[1])[:top]
        result.append((thread, entry["samples"], own, inclusive))
    return result


def strip_frame(frame):
    for marker in ("site-packages/", "lib/python3.11/", f"{Carbonish.code_dir}/", f"{REPO}/"):
        frame = frame.replace(marker, "")
    return frame


# --- report ------------------------------------------------------------------------------

def median(runs, key):
    return statistics.median(run[key] for run in runs)


def spread(runs):
    rates = [run["rate"] for run in runs]
    return f"{min(rates) / 1000:,.0f}k-{max(rates) / 1000:,.0f}k"


def tcp_table(results):
    lines = ["| scenario | carbon-cache 1.1.10, median (range) | carbonish cache, median (range) "
             "| ratio of medians | goal |",
             "|---|---:|---:|---:|---|"]
    for workload, runs, goal in results:
        carbon, ours = median(runs["carbon"], "rate"), median(runs["carbonish"], "rate")
        lines.append(f"| {workload.label} ({len(workload.names):,} metrics x "
                     f"{workload.points:,} points), points/s persisted | {carbon:,.0f} "
                     f"({spread(runs['carbon'])}) | {ours:,.0f} ({spread(runs['carbonish'])}) | "
                     f"{ours / carbon:.2f}x | >= {goal}x |")
        c_rss = median(runs["carbon"], "peak_rss") / 2**20
        o_rss = median(runs["carbonish"], "peak_rss") / 2**20
        lines.append(f"| {workload.label}, peak RSS (MB) | {c_rss:,.0f} | {o_rss:,.0f} | "
                     f"{o_rss / c_rss:.2f}x | <= 1x |")
    return lines


def tcp_detail(results):
    lines = ["| scenario | daemon | run | points/s | seconds to disk | all bytes sent after (s) "
             "| peak RSS (MB) | exit |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for workload, runs, _ in results:
        for key in ("carbon", "carbonish"):
            for index, run in enumerate(runs[key]):
                lines.append(f"| {workload.label} | {run['name']} | {index + 1} | "
                             f"{run['rate']:,.0f} | {run['seconds']:.2f} | "
                             f"{run['send_seconds']:.2f} | {run['peak_rss'] / 2**20:,.0f} | "
                             f"{run['exit']} |")
    return lines


def udp_table(rows):
    lines = ["| daemon | receive buffer | kernel rb | highest loss-free rate (datagrams/s) "
             "| first loss seen at |", "|---|---|---:|---:|---:|"]
    for key, text, buffer, best, failed, notes in rows:
        if failed:
            fail = f"{failed:,.0f}"
        elif notes and notes[-1][1] < 0.95 * notes[-1][0]:
            fail = "none (sender limit)"
        else:
            fail = "none (the ladder's top)"
        buffer = f"{buffer:,}" if buffer else "?"
        lines.append(f"| {key} | {text} | {buffer} | {best:,.0f} | {fail} |")
    return lines


def udp_trials(rows):
    lines = ["| daemon | asked/s | sent/s | on disk / sent | kernel rcvbuf drops |",
             "|---|---:|---:|---:|---:|"]
    for key, _, _, _, _, notes in rows:
        for rate, achieved, received, sent, drops in notes:
            lines.append(f"| {key} | {rate:,.0f} | {achieved:,.0f} | {received:,} / {sent:,} | "
                         f"{drops:,} |")
    return lines


def parse_table(parse):
    sizes = sorted({size for _, size, _ in parse}, reverse=True)
    labels = list(dict.fromkeys(label for label, _, _ in parse))
    rates = {(label, size): rate for label, size, rate in parse}
    lines = ["| parser (one core, in-process), lines/s | "
             + " | ".join(f"{size:,}-line chunks" for size in sizes) + " |",
             "|---|" + "---:|" * len(sizes)]
    lines += [f"| {label} | " + " | ".join(f"{rates[label, size]:,.0f}" for size in sizes) + " |"
              for label in labels]
    return lines


def profile_section(profile):
    elapsed, rate, sections = profile
    lines = [f"Write-heavy under cProfile: {rate:,.0f} points/s ({elapsed:.1f} s to disk; "
             "cProfile slows Python-heavy code, so read the shares, not the speed). Own time "
             "spent waiting (epoll, lock acquire, GIL re-acquire after a blocking call) lands on "
             "the function that waited.", ""]
    for thread, total, rows, cumulative in sections:
        if total is None:
            lines.append(f"{thread} thread: {rows}")
            continue
        lines += [f"**{thread} thread**: {total:.2f} s profiled in total; top by own time:", "",
                  "| own s | cumulative s | calls | function |", "|---:|---:|---:|---|"]
        lines += [f"| {tottime:.3f} | {cumtime:.3f} | {calls:,} | `{where}` |"
                  for tottime, cumtime, calls, where in rows]
        lines += ["", f"{thread} thread, carbonish's functions by cumulative time:", "",
                  "| cumulative s | own s | calls | function |", "|---:|---:|---:|---|"]
        lines += [f"| {cumtime:.3f} | {tottime:.3f} | {calls:,} | `{where}` |"
                  for cumtime, tottime, calls, where in cumulative]
        lines.append("")
    return lines


def spy_section(spy):
    elapsed, possible, threads = spy
    held = sum(samples for _, samples, _, _ in threads)
    lines = [f"py-spy `--gil` (samples only the thread holding the GIL, 200/s, attached to an "
             f"unmodified daemon): {elapsed:.1f} s to disk; {held:,} samples with the GIL held "
             f"out of ~{possible:,.0f} possible ({held / possible:.0%} of the wall time some "
             "thread held the GIL).", ""]
    for thread, samples, own, inclusive in threads:
        if samples < 0.03 * held:
            lines += [f"**{thread}**: {samples:,} samples ({samples / held:.0%} of GIL time)", ""]
            continue
        lines += [f"**{thread}**: {samples:,} samples ({samples / held:.0%} of GIL time)", "",
                  "| own samples | function |", "|---:|---|"]
        lines += [f"| {count:,} | `{frame}` |" for frame, count in own]
        lines += ["", "| inclusive samples | carbonish function |", "|---:|---|"]
        lines += [f"| {count:,} | `{frame}` |" for frame, count in inclusive]
        lines.append("")
    return lines


STORAGE_NOTES = {
    True: "each TCP run on a new ext4 file system (a sparse image, mkfs.ext4, "
          "loop-mounted; unmounted and deleted after the run), so no run creates its "
          "files while an earlier run's are being deleted (on this disk, ext4 with "
          "`discard`, creating a file costs ~20-50 µs on a quiet file system and "
          "400-900 µs for minutes after 20,000 files were deleted nearby)",
    False: "a folder under the scratch temp dir, on the machine's disk; a finished run's "
           "storage is deleted by a background `nice rm -rf` while the next run goes, so "
           "every run but the first shares the disk with that deletion",
}

HOW = """## How measured
- One run of `bench/bench_ingest.py` on this machine ({cpus} cores, {python}), carbon-cache
  1.1.10 from PyPI in a throwaway venv (bench/reference.py) beside `carbonish cache` from
  the tree. Both get the same carbon.conf keys: no throttles (`MAX_CACHE_SIZE`,
  `MAX_UPDATES_PER_SECOND`, `MAX_CREATES_PER_MINUTE` = inf), `CACHE_WRITE_STRATEGY = sorted`,
  fallocate creates, `CARBON_METRIC_INTERVAL = 0`, `ENABLE_TAGS = False` (carbon), schema
  `10s:1d,1m:30d`, every listener on 127.0.0.1, fresh storage per run: {storage}.
  carbonish runs from a copy of `carbonish/` taken when the bench starts (the commit is
  named above), so one bench run measures one version of the code.
- TCP scenarios: the lines are built before the clock starts, time-major (every metric's
  point i, then point i+1, as collectors send), values = point index, timestamps 10 s apart.
  One connection, `sendall` in 1 MiB pieces. The clock runs from the first byte sent until
  every point is on disk: the bench polls the files with the real `whisper` 1.1.10 module
  (the last point of every metric, each metric checked until found), and the end time is
  the newest modification time among the files once all are complete, so polling lag does
  not count. Afterwards 50 metrics spread over the set are read back whole: every point
  must be there with its value (else the run fails). carbon's writer sleeps 1 s whenever
  its cache is empty, so its figures carry up to 1 s of that.
- Peak RSS: psutil, the daemon process and its children (listed again every second),
  sampled every 50 ms from start to the end of the run.
- Runs alternate carbon, carbonish, carbon, carbonish ({rounds} rounds); the summary quotes
  medians, the detail table every run.
- UDP: the three daemons run side by side, idle between trials; a trial sends
  rate x {duration:g} s datagrams, one `path 1 timestamp` line each, to new metric names,
  from one socket by {udp_sender}; then it counts the points in the files (until all are
  there or the count is still for 3 s). A rate counts as loss-free when one of two
  trials at it loses nothing (another process's burst can cost a trial). Rates climb the ladder {ladder} with every daemon
  in turn at each rung, then {bisections} bisection steps between the last clean rate and
  the first loss. A trial whose sender fell more than 5% short of the asked rate ends that
  daemon's search (the figure is then the sender's ceiling, not the daemon's). The
  'kernel rcvbuf drops' column is the machine-wide `RcvbufErrors` delta during the trial.
  The kernel doubles any SO_RCVBUF set (`net.core.rmem_max` caps it first): to give
  carbonish the same 212,992-byte buffer carbon gets by default the bench sets 106,496.
- Parsing: chunks of 100,000, 1,400 (what one 64 KiB TCP read holds) and 1 line (a UDP
  datagram) of `path value timestamp`, each parser timed in turn, {rounds_parse} rounds,
  median; the small chunks are parsed many times a timing.
- Profile: the carbonish daemon runs under cProfile (the reactor thread; `Writer.run`
  wrapped in its own profile in the bench's launcher, so the writer thread too) during one
  more write-heavy run; then, when py-spy is installed (`pip install py-spy`), one more
  write-heavy and one more create-heavy run with py-spy attached to the unmodified daemon,
  sampling the thread that holds the GIL.
"""


def snapshot_code(scratch):
    """Copy carbonish/ so this bench run measures one version of it, whatever is
    committed meanwhile; the daemons run with the copy first on sys.path (their cwd)."""
    target = Path(scratch) / "code"
    shutil.copytree(REPO / "carbonish", target / "carbonish",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    check = subprocess.run([sys.executable, "-c", "import carbonish; print(carbonish.__file__)"],
                           cwd=target, capture_output=True, text=True, timeout=60)
    if not check.stdout.startswith(str(target)):
        raise BenchError(f"the snapshot is not what the daemon imports: {check.stdout!r}")
    Carbonish.code_dir = target
    sys.path.insert(0, str(target))  # the in-process parse bench too
    return target


def code_version():
    """The commit the daemon ran from, and whether carbonish/ had local changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, timeout=10,
                              capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "carbonish"], cwd=REPO,
                               timeout=10, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}" + (" with uncommitted changes in carbonish/" if dirty else "")


def report(tcp, udp, parse, profile, spy, args):
    out = ["# Ingest: carbonish cache vs carbon-cache 1.1.10", "",
           f"Measured {args.started} by `bench/bench_ingest.py`"
           + (" (--quick: reduced sizes)" if args.quick else "")
           + f"; carbonish at {args.version}. Load average at the start: {args.load}.", ""]
    if tcp:
        out += ["## Persisted ingest over one TCP connection (medians)", ""] + tcp_table(tcp)
        out += ["", "Every run:", ""] + tcp_detail(tcp) + [""]
    if udp:
        sender, rows = udp
        out += ["## UDP, one line per datagram: highest loss-free send rate", ""]
        out += udp_table(rows) + ["", "Every trial:", ""] + udp_trials(rows) + [""]
    if parse:
        out += ["## Plaintext parsing alone", ""] + parse_table(parse) + [""]
    if profile:
        out += ["## Where carbonish's time goes (cProfile, write-heavy)", ""]
        out += profile_section(profile) + [""]
    for label, result in spy or ():
        out += [f"## Where carbonish's time goes (py-spy, GIL holder, {label})", ""]
        out += spy_section(result) + [""]
    out.append(HOW.format(storage=STORAGE_NOTES[args.fresh_fs],
                          cpus=os.cpu_count(), python=sys.version.split()[0],
                          rounds=args.rounds, duration=args.udp_duration,
                          ladder=", ".join(f"{r:,}" for r in args.ladder),
                          bisections=args.bisections, rounds_parse=args.parse_rounds,
                          udp_sender=udp[0] if udp else "(UDP not run)"))
    return "\n".join(out)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--rounds", type=int, default=2, help="A,B rounds per TCP scenario")
    parser.add_argument("--only", default="write,create,udp,parse,profile")
    parser.add_argument("--parse-rounds", type=int, default=7)
    parser.add_argument("--udp-duration", type=float, default=2.0)
    parser.add_argument("--bisections", type=int, default=3)
    parser.add_argument("--output", default=str(RESULTS))
    parser.add_argument("--shared-disk", dest="fresh_fs", action="store_false",
                        help="TCP runs on the scratch disk, not each on a fresh ext4 file system")
    args = parser.parse_args(argv)
    args.only = set(args.only.split(","))
    # geometric, with the rungs around 5x carbon's best loss-free rate (40,000) filled in
    args.ladder = [1_000, 2_500, 5_000, 10_000, 20_000, 40_000, 80_000, 120_000, 160_000,
                   200_000, 240_000, 320_000]
    if args.quick:
        args.ladder, args.bisections, args.udp_duration = [5_000, 20_000], 1, 1.0
    return args


def run_all(args, scratch, cleaner):
    tcp, udp, parse, profile, spy = [], None, None, None, None
    scale = 10 if args.quick else 1
    heavy = write_heavy(1000 // scale, 2000 // scale)
    if "write" in args.only:
        print(f"write-heavy: {heavy.total:,} points", flush=True)
        tcp.append((heavy, bench_tcp(heavy, args.rounds, 300, scratch, cleaner,
                                     args.fresh_fs), 5))
    if "create" in args.only:
        creates = create_heavy(20000 // scale, 30)
        print(f"create-heavy: {creates.total:,} points", flush=True)
        tcp.append((creates, bench_tcp(creates, args.rounds, 300, scratch, cleaner,
                                       args.fresh_fs), 3))
    if "udp" in args.only:
        print("udp:", flush=True)
        udp = bench_udp(scratch, args.udp_duration, args.ladder, args.bisections)
    if "parse" in args.only:
        print("parse:", flush=True)
        parse = bench_parse(args.parse_rounds)
    if "profile" in args.only:
        print("profile:", flush=True)
        profile = bench_profile(heavy, scratch, 300)
        spy = [(heavy.label, bench_py_spy(heavy, scratch, 300))]
        if "create" in args.only:
            ensure_space(scratch, creates, cleaner)
            spy.append((creates.label, bench_py_spy(creates, scratch, 300, cleaner=cleaner)))
        spy = [(label, result) for label, result in spy if result]
    return tcp, udp, parse, profile, spy


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    reference.ensure_venv(reference.CARBON)
    args.started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    args.version = code_version()
    args.load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    cleaner = Cleaner()
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as scratch:
        snapshot_code(scratch)
        args.fresh_fs = args.fresh_fs and FreshFilesystem.available(scratch)
        try:
            figures = run_all(args, scratch, cleaner)
        finally:
            print("waiting for the storage of the runs to be deleted ...", flush=True)
            cleaner.wait()
    text = report(*figures, args)
    print("\n" + text)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
