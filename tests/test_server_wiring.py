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
        top = server.build_service(settings_for(tmp_path, "INTERFACE = 127.0.0.1"), reactor)
        top.startService()
        [(port, factory, backlog, interface)] = reactor.tcpServers
        assert (port, interface) == (0, "127.0.0.1")
        assert isinstance(factory, server.QuietSite)
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
