"""Start the real programs as subprocesses on 127.0.0.1, port 0, temporary storage.

The bound ports are read from the log lines `LABEL listening on KIND://HOST:PORT`.
Every wait polls against a deadline; `stop` sends SIGTERM and waits for the exit.
"""
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ENDPOINT_RE = re.compile(r"zeromq (pull|rep) listening on (tcp://[\d.]+:\d+)")
LISTENING = re.compile(r"(?P<label>[\w .-]+?) listening on (?P<kind>\w+)://(?P<host>[\d.]+):(?P<port>\d+)")

CACHE_CONF = """
[cache]
STORAGE_DIR = {storage}
LINE_RECEIVER_PORT = 0
ENABLE_UDP_LISTENER = True
UDP_RECEIVER_PORT = 0
PICKLE_RECEIVER_PORT = 0
CACHE_QUERY_PORT = 0
CARBON_METRIC_INTERVAL = 0
{cache_extra}
[statsd]
UDP_PORT = 0
{statsd_extra}
[http]
PORT = 0
{http_extra}
[zeromq]
PULL_BIND = tcp://127.0.0.1:*
REP_BIND = tcp://127.0.0.1:*
{zeromq_extra}
[web]
PORT = 0
{web_extra}
"""

SCHEMAS = """
[default]
pattern = .*
retentions = 10s:1d,1min:30d
"""


def write_config(directory, cache_extra="", statsd_extra="", http_extra="", zeromq_extra="",
                 web_extra="", schemas=SCHEMAS, aggregation=None):
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "carbon.conf"
    config.write_text(CACHE_CONF.format(storage=directory / "storage", cache_extra=cache_extra,
                                        statsd_extra=statsd_extra, http_extra=http_extra,
                                        zeromq_extra=zeromq_extra, web_extra=web_extra))
    (directory / "storage-schemas.conf").write_text(schemas)
    if aggregation is not None:
        (directory / "storage-aggregation.conf").write_text(aggregation)
    return config


class Daemon:
    """A running `carbonish <program>`; collects its output on a thread."""

    def __init__(self, program, config, timeout=20):
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.config = Path(config)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "carbonish.cli", program, "--config", str(config)],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.lines = []
        self.ports = {}
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.wait_for(lambda: self.ports and self._ready(), timeout, "listeners")

    def _ready(self):
        return any("listening on" in line for line in self.lines) and (
            self.process.poll() is None)

    def _read(self):
        for raw in self.process.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines.append(line)
            match = LISTENING.search(line)
            if match:
                key = f"{match['label'].strip()}/{match['kind']}"
                self.ports[key] = int(match["port"])

    def port(self, key, timeout=10):
        self.wait_for(lambda: key in self.ports, timeout, key)
        return self.ports[key]

    def wait_for(self, condition, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            if self.process.poll() is not None:
                time.sleep(0.2)
                raise AssertionError(f"daemon exited {self.process.returncode} waiting for {what}:\n"
                                     + "\n".join(self.lines[-40:]))
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}:\n" + "\n".join(self.lines[-40:]))

    def stop(self, timeout=60):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
        self._reader.join(5)
        return code

    def output(self):
        return "\n".join(self.lines)


def wait_until(condition, timeout=10, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")
