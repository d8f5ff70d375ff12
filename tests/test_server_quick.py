"""WebApp.quick: which renders are answered on the reactor thread (small, local work)
and that they get the same answers, errors included, as on the pool."""
import pytest

from tests.test_server import FakeReactor, HeldPool, app, body_of, dummy  # noqa: F401 - app is a fixture
from webapp import server


def raw_args(**params):
    out = {}
    for key, value in params.items():
        values = value if isinstance(value, list) else [value]
        out[key.replace("_", "[]").encode()] = [v.encode() for v in values]
    return out


@pytest.mark.parametrize("params, quick", [
    ({"target": "a.b.c", "format": "json"}, True),
    ({"target": ["a.b.c", "a.x"], "format": "CSV"}, True),
    ({"target_": "a.b.c", "format": "raw"}, True),
    ({"target": ["a.x"] * 4, "format": "json"}, True),
    ({"target": ["a.x"] * 5, "format": "json"}, False),      # more than QUICK_TARGETS
    ({"target": "a.b.*", "format": "json"}, False),          # wildcard: a directory scan
    ({"target": "a.{b,x}", "format": "json"}, False),
    ({"target": "sumSeries(a.x)", "format": "json"}, False),  # a function call
    ({"target": "a.x"}, False),                              # png by default: a graph
    ({"target": "a.x", "format": "svg"}, False),
    ({"format": "json"}, False),                             # no target
    ({"target": "a.x", "format": "json", "from": "-2h"}, True),
    ({"target": "a.x", "format": "json", "from": "-7d"}, True),
    ({"target": "a.x", "format": "json", "from": "-30d"}, False),  # a long range: the pool
    ({"target": "a.x", "format": "json", "from": "-60d", "until": "-1d"}, False),
    ({"target": "a.x", "format": "json", "from": "bogus"}, True),  # answered: the error
])
def test_quick_renders(app, params, quick):
    assert (app.quick(app.render, raw_args(**params)) is not None) is quick


def test_only_render_and_find_are_quick(app):
    assert app.quick(app.expand, raw_args(query="a.*")) is None
    assert app.quick(app.index, {}) is None


@pytest.mark.parametrize("params, quick", [
    ({"query": "a.*"}, True),                      # treejson by default: one small folder
    ({"query": "a.b.*", "format": "treejson"}, True),
    ({"query": "*"}, True),
    ({"query": "a.b.c"}, True),
    ({"query": "nothing.here.*"}, False),          # no such folder: the pool says so
    ({"query": "*.b.*"}, False),                   # a wildcard before the last node
    ({"query": "a.{b,x}.c"}, False),
    ({"query": "a.*", "format": "json"}, False),   # json and pickle read every leaf's file
    ({"query": "a.*", "format": "completer"}, False),
    ({"query": "/etc.*"}, False),                  # never a path outside the data dir
    ({"format": "treejson"}, False),               # no query: the pool answers the error
])
def test_quick_finds(app, params, quick):
    assert (app.quick(app.find, raw_args(**params)) is not None) is quick


def test_quick_find_answers_as_the_pool_does(app):
    args = raw_args(query="a.*", wildcards="1")
    quick = server._answer(app.find, app.quick(app.find, args))
    pooled = server._call(app.find, args)
    assert quick.status == pooled.status == 200 and quick.body == pooled.body
    assert b'"id":"a.b"' in quick.body.replace(b" ", b"")


def test_a_big_folder_is_listed_on_the_pool(app):
    app.quick_find_folder = 0
    assert app.quick(app.find, raw_args(query="a.*")) is None
    args = {b"query": [b"\xff.*"]}
    assert app.quick(app.find, args) is None  # not UTF-8: the pool answers the error


def test_a_quick_find_with_bad_parameters_answers_the_error(app):
    error = app.quick(app.find, {b"query": [b"a.*"], b"from": [b"\xff"]})
    response = server._answer(app.find, error)
    assert response.status == 400 and response.body == b"parameters must be UTF-8\n"


def test_quick_parses_the_range_once_for_the_render(app):
    parsed = []
    original = app.times._range
    app.times._range = lambda params: parsed.append(params) or original(params)
    params = app.quick(app.render, raw_args(target="a.x", format="json", **{"from": "-2h"}))
    assert isinstance(params, server.Params) and len(parsed) == 1
    assert server._answer(app.render, params).status == 200 and len(parsed) == 1


def test_quick_bad_parameters_are_the_answer(app):
    args = {b"target": [b"a.x"], b"format": [b"json"], b"from": [b"\xff"]}
    error = app.quick(app.render, args)
    response = server._answer(app.render, error)
    assert response.status == 400 and response.body == b"parameters must be UTF-8\n"


@pytest.mark.parametrize("change", [
    lambda store: store.remotes.append(object()),
    lambda store: setattr(store.local, "carbonlink", object()),
    lambda store: setattr(store.local, "lock_reads", True),
])
def test_network_or_locks_are_never_quick(app, change):
    change(app.store)
    assert app.quick(app.render, raw_args(target="a.x", format="json")) is None


def test_quick_render_is_answered_without_the_pool(app):
    pool = HeldPool()
    resource = server.ApiResource(app, pool, FakeReactor(), 10)
    request = dummy("/render", {"target": "a.b.c", "format": "json"})
    resource.render(request)
    assert request.finished and request.responseCode == 200
    assert b'"target":"a.b.c"' in body_of(request)
    assert not hasattr(pool, "pending")
    slow = dummy("/render", {"target": "a.b.*", "format": "json"})
    resource.render(slow)
    assert not slow.finished and hasattr(pool, "pending")


def test_quick_render_errors_as_on_the_pool(app):
    resource = server.ApiResource(app, HeldPool(), FakeReactor(), 10)
    request = dummy("/render", {"target": "a.b.c", "format": "json", "from": "nonsense"})
    resource.render(request)
    assert request.responseCode == 400 and b"invalid value" in body_of(request)

    def boom(params):
        raise RuntimeError("secret detail")
    app.render = boom
    request = dummy("/render", {"target": "a.b.c", "format": "json"})
    resource.render(request)
    assert request.responseCode == 500 and body_of(request) == b"internal error\n"


def test_shared_port_accepts_one_connection_per_wake_up():
    class Port:
        numberAccepts = 100

        def doRead(self):
            self.seen = self.numberAccepts
            self.numberAccepts = 120  # what twisted does after a full batch
    port = Port()
    server._accept_one_at_a_time(port)
    port.doRead()
    assert port.seen == 1
    port.doRead()
    assert port.seen == 1


def test_only_a_shared_listener_limits_accepts():
    from twisted.internet.testing import MemoryReactor

    class Port:
        def doRead(self):
            pass

        def getHost(self):
            return type("Address", (), {"port": 1234})()

    class Reactor(MemoryReactor):
        def listenTCP(self, port, factory, backlog=50, interface=""):
            return Port()

        def adoptStreamPort(self, fd, family, factory):
            return Port()
    for kwargs, limited in (({}, False), ({"shared": True}, True), ({"adopt_fd": 3}, True)):
        listener = server.ListeningService(object(), "127.0.0.1", 0, Reactor(), **kwargs)
        listener.startService()
        assert ("doRead" in vars(listener.listening)) is limited


def test_stand_in_ports_are_left_alone():
    port = object()
    server._accept_one_at_a_time(port)  # no doRead to wrap: nothing happens
