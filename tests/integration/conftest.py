import pytest

from tests.integration.daemons import Daemon


@pytest.fixture
def start():
    """start(program, config) -> Daemon; every daemon started is stopped at teardown."""
    started = []

    def _start(program, config, timeout=20):
        daemon = Daemon(program, config, timeout)
        started.append(daemon)
        return daemon

    yield _start
    for daemon in started:
        if daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait()
