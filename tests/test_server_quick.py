"""WebApp.quick: which renders are answered on the reactor thread (small, local work)
and that they get the same answers, errors included, as on the pool."""
import pytest

from tests.test_server import FakeReactor, HeldPool, SyncPool, app, body_of, dummy  # noqa: F401
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
])
def test_quick_renders(app, params, quick):
    assert app.quick(app.render, raw_args(**params)) is quick


def test_only_render_is_quick(app):
    assert not app.quick(app.find, raw_args(query="a.x", format="json"))


@pytest.mark.parametrize("change", [
    lambda store: store.remotes.append(object()),
    lambda store: setattr(store.local, "carbonlink", object()),
    lambda store: setattr(store.local, "lock_reads", True),
])
def test_network_or_locks_are_never_quick(app, change):
    change(app.store)
    assert not app.quick(app.render, raw_args(target="a.x", format="json"))


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
