"""Worker processes sharing the listening socket: `webapp.server.run(settings,
processes=2)` as a subprocess; both serve, SIGTERM stops them all."""
import re
import signal
import subprocess
import sys
import threading
import urllib.request

import psutil

from tests.integration.daemons import REPO, wait_until, write_config

SCRIPT = ("import sys; from carbonish.settings import load_settings; from webapp import server; "
          "server.run(load_settings(sys.argv[1]), processes=2)")


def test_two_processes_serve_and_stop_together(tmp_path):
    config = write_config(tmp_path)
    process = subprocess.Popen([sys.executable, "-c", SCRIPT, str(config)], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(
        raw.decode("utf-8", "replace") for raw in process.stdout), daemon=True)
    reader.start()
    try:
        port = wait_until(lambda: _port(lines), timeout=30)
        children = wait_until(lambda: psutil.Process(process.pid).children(), timeout=30)
        assert len(children) == 1
        for _ in range(20):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/version", timeout=10) as answer:
                assert answer.read() == b"1.1.10"
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
        wait_until(lambda: not children[0].is_running() or
                   children[0].status() == psutil.STATUS_ZOMBIE, timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _port(lines):
    for line in list(lines):
        match = re.search(r"web listening on http://[\d.]+:(\d+)", line)
        if match:
            return int(match.group(1))
    return None
