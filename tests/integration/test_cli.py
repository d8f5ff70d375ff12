"""The `carbonish` command as a user runs it."""
import signal
import subprocess
import sys
import time
import urllib.request

from tests.integration.daemons import REPO, Daemon, wait_until, write_config


def run(*args, timeout=30):
    return subprocess.run([sys.executable, "-m", "carbonish.cli", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def test_invalid_config_stops_startup_naming_file_line_and_key(tmp_path):
    config = tmp_path / "carbon.conf"
    config.write_text("[cache]\nLINE_RECEIVER_PORT = lots\n")
    for program in ("cache", "web", "up"):
        result = run(program, "--config", str(config))
        assert result.returncode == 2
        assert f"{config}:2: [cache] LINE_RECEIVER_PORT: expected an integer" in result.stderr


def test_bad_schema_and_unknown_keys(tmp_path):
    config = write_config(tmp_path, cache_extra="NOT_A_KEY = 1", schemas="[x]\nretentions = 60:10\n")
    result = run("cache", "--config", str(config))
    assert result.returncode == 2
    assert "unknown key [cache] NOT_A_KEY" in result.stderr
    assert "[x] pattern: missing" in result.stderr


def test_port_in_use_exits_with_a_message(tmp_path, start):
    first = start("cache", write_config(tmp_path / "a"))
    port = first.port("plaintext/tcp")
    config = write_config(tmp_path / "b", cache_extra=f"LINE_RECEIVER_PORT = {port}")
    result = run("cache", "--config", str(config))
    assert result.returncode == 1 and "cannot start" in result.stdout
    assert first.stop() == 0


def test_log_dir_gets_the_log(tmp_path):
    config = write_config(tmp_path, cache_extra=f"LOG_DIR = {tmp_path / 'logs'}")
    process = subprocess.Popen([sys.executable, "-m", "carbonish.cli", "cache", "--config", str(config)],
                               cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        log = tmp_path / "logs" / "cache.log"
        wait_until(lambda: log.exists() and "listening on" in log.read_text(), 20)
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0


def test_up_runs_both_and_ctrl_c_stops_both_cleanly(tmp_path):
    config = write_config(tmp_path)
    up = Daemon("up", config)
    try:
        wait_until(lambda: "carbonish web/http" in up.ports and "plaintext/tcp" in up.ports, 30)
        now = int(time.time())
        import socket
        with socket.create_connection(("127.0.0.1", up.ports["plaintext/tcp"])) as sock:
            sock.sendall(b"up.metric 3 %d\n" % now)
        web = up.ports["carbonish web/http"]
        with urllib.request.urlopen(f"http://127.0.0.1:{web}/version", timeout=10) as response:
            assert response.status == 200
        assert "send plaintext" in up.output()
    finally:
        up.process.send_signal(signal.SIGINT)
        code = up.process.wait(60)
    assert code == 0
    assert (tmp_path / "storage" / "whisper" / "up" / "metric.wsp").exists()
