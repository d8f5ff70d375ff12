"""build_app / build_service wiring from settings, on a MemoryReactor."""
import json
import time

import whisper
from twisted.internet.testing import MemoryReactor
from twisted.logger import globalLogPublisher

from carbonish.settings import parse_settings
from webapp import server
from webapp.carbonlink_client import CarbonLinkClient
from webapp.finders import RemoteFinder


def settings_for(tmp_path, web=""):
    return parse_settings(f"[cache]\nLOCAL_DATA_DIR = {tmp_path}\n[web]\nPORT = 0\n{web}\n")


def test_build_store_from_settings(tmp_path):
    store = server.build_store(settings_for(
        tmp_path, "CARBONLINK_HOSTS = 127.0.0.1:7002:a\nCLUSTER_SERVERS = 10.0.0.1:8080\n"
                  "FIND_TIMEOUT = 1.5\nREMOTE_RETRY_DELAY = 9"))
    assert isinstance(store.local.carbonlink, CarbonLinkClient)
    assert store.local.carbonlink.hosts == [("127.0.0.1", 7002)]
    [remote] = store.remotes
    assert isinstance(remote, RemoteFinder) and remote.base == "http://10.0.0.1:8080"
    assert (remote.find_timeout, remote.retry_delay) == (1.5, 9.0)
    assert server.build_store(settings_for(tmp_path)).local.carbonlink is None


def test_build_app_with_real_registry_and_attime(tmp_path):
    whisper.create(str(tmp_path / "m.wsp"), [(10, 360)])
    now = int(time.time())
    whisper.update_many(str(tmp_path / "m.wsp"), [(now - 20, 7.0)])
    app = server.build_app(settings_for(tmp_path))
    params = server.Params({"target": ["scale(m, 2)"], "format": ["json"], "from": ["-1min"]})
    [entry] = json.loads(app.render(params).body)
    assert entry["target"] == "scale(m,2)" and 14.0 in [v for v, _ in entry["datapoints"]]
    functions = json.loads(app.functions(server.Params({})).body)
    assert "sumSeries" in functions and functions["sumSeries"]["group"] == "Combine"


def test_service_listens_logs_port_and_stops(tmp_path):
    reactor = MemoryReactor()
    events = []
    observer = events.append
    globalLogPublisher.addObserver(observer)
    try:
        top = server.build_service(
            settings_for(tmp_path, "INTERFACE = 127.0.0.1\nMAX_POST_SIZE = 4096"), reactor)
        top.startService()
        [(port, factory, backlog, interface)] = reactor.tcpServers
        assert (port, interface) == (0, "127.0.0.1")
        assert isinstance(factory, server.QuietSite) and factory.max_post_size == 4096
        top.stopService()
    finally:
        globalLogPublisher.removeObserver(observer)
    assert any("carbonish web listening on http://" in str(e.get("log_format", ""))
               for e in events)
    pool = [s for s in top if isinstance(s, server.ThreadPoolService)][0].pool
    assert pool.joined


def test_quiet_site_does_not_log_requests():
    site = server.QuietSite(server.ApiResource(None, None, None, 1))
    assert site.log(object()) is None


def test_json_default_for_tuples_and_objects():
    assert server._json_default((1, 2)) == [1, 2]
    assert server._json_default(object).startswith("<class")


class FakeTransport:
    def __init__(self, worker):
        self.worker = worker
        self.pid = 4242
        self.signals = []

    def signalProcess(self, name):
        self.signals.append(name)
        self.pid = None
        self.worker.processEnded(None)


class SpawningReactor(MemoryReactor):
    def __init__(self):
        super().__init__()
        self.spawned = []

    def spawnProcess(self, worker, executable, args, env=None, childFDs=None):
        worker.transport = FakeTransport(worker)
        self.spawned.append((args, childFDs, worker))
        return worker.transport


class FakeListening:
    def fileno(self):
        return 17

    def stopListening(self):
        return None


def test_worker_processes_spawned_with_the_socket_and_stopped(tmp_path):
    config = tmp_path / "carbon.conf"
    config.write_text(f"[cache]\nLOCAL_DATA_DIR = {tmp_path}\n[web]\nPORT = 0\n")
    from carbonish.settings import load_settings
    reactor = SpawningReactor()
    top = server.build_service(load_settings(config), reactor, processes=3)
    workers = [s for s in top if isinstance(s, server.WorkerProcesses)][0]
    listener = [s for s in top if isinstance(s, server.ListeningService)][0]
    listener.startService = lambda: setattr(listener, "listening", FakeListening())
    listener.running = True
    top.startService()
    assert len(reactor.spawned) == 2
    args, fds, _ = reactor.spawned[0]
    assert args[1:] == ["-m", "webapp.server", "--config", str(config), "--fd", "3"]
    assert fds == {0: "w", 1: 1, 2: 2, 3: 17}
    stopped = top.stopService()
    assert all(w.transport.signals == ["TERM"] for _, _, w in reactor.spawned)
    assert stopped.called


def test_no_workers_without_a_config_file_or_in_a_worker(tmp_path):
    top = server.build_service(settings_for(tmp_path), MemoryReactor(), processes=3)
    assert not [s for s in top if isinstance(s, server.WorkerProcesses)]
    config = tmp_path / "carbon.conf"
    config.write_text("[web]\nPORT = 0\n")
    from carbonish.settings import load_settings
    child = server.build_service(load_settings(config), MemoryReactor(), processes=3,
                                 adopt_fd=3)
    assert not [s for s in child if isinstance(s, server.WorkerProcesses)]


def test_worker_adopts_the_passed_socket(tmp_path):
    class AdoptingReactor(MemoryReactor):
        def adoptStreamPort(self, fd, family, factory):
            self.adopted = (fd, family, factory)
            return object()
    reactor = AdoptingReactor()
    top = server.build_service(settings_for(tmp_path), reactor, adopt_fd=5)
    top.startService()
    import socket
    assert reactor.adopted[:2] == (5, socket.AF_INET) and not reactor.tcpServers
    top.stopService()


def test_functions_that_fetch_again_keep_what_wraps_their_argument(tmp_path):
    """timeShift re-evaluates its argument's text for the shifted period (graphite's
    requestContext['args']), so an alias inside it survives."""
    whisper.create(str(tmp_path / "m.wsp"), [(60, 1440)])
    now = int(time.time()) // 60 * 60
    whisper.update_many(str(tmp_path / "m.wsp"), [(now - 3600 - 120, 5.0)])
    app = server.build_app(settings_for(tmp_path))
    params = server.Params({"target": ["timeShift(alias(m, 'renamed'), '1h')"], "format": ["json"],
                            "from": ["-10min"], "until": [str(now)]})
    [entry] = json.loads(app.render(params).body)
    assert entry["target"] == 'timeShift(renamed, "-1h")'
    assert 5.0 in [v for v, _ in entry["datapoints"]]


def test_render_defaults_to_the_last_day_in_absolute_time(tmp_path):
    app = server.build_app(settings_for(tmp_path))
    start, end, now, tz = app.times.range(server.Params({"tz": ["Europe/Berlin"]}))
    assert (end - start).total_seconds() == 86400
