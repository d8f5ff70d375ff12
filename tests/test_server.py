"""The HTTP API: handlers with stand-in collaborators, and the twisted.web resource
driven through DummyRequest with a synchronous pool and a task.Clock reactor."""
import json
import pickle
import re
import zoneinfo
from datetime import datetime, timedelta

import numpy as np
import pytest
import whisper
from twisted.internet import task
from twisted.web import server as tw_server
from twisted.web.test.requesthelper import DummyRequest

from webapp import server
from webapp.errors import InputError
from webapp.evaluator import Evaluator, Limits
from webapp.finders import LocalFinder, Store
from webapp.series import TimeSeries

NOW = 1_700_000_000


class AtTime:
    """Stand-in for webapp.attime: epoch seconds, now, -N{s,min,h,d}."""

    @staticmethod
    def parse_tz(name, default):
        if not name:
            return default
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return default

    @staticmethod
    def parse_at_time(text, tz, now=None):
        if text.isdigit():
            return datetime.fromtimestamp(int(text), tz)
        if text == "now":
            return now
        match = re.fullmatch(r"-(\d+)(s|min|h|d)", text)
        if not match:
            raise ValueError(f"unknown time {text!r}")
        unit = {"s": 1, "min": 60, "h": 3600, "d": 86400}[match.group(2)]
        return now - timedelta(seconds=int(match.group(1)) * unit)


class Registry:
    def __contains__(self, name):
        return name in ("sumSeries", "constantLine")

    def call(self, name, ctx, args, kwargs, arg_texts=None):
        if name == "sumSeries":
            series = [s for arg in args for s in arg]
            first = series[0]
            return [TimeSeries("sumSeries(x)", first.start, first.end, first.step,
                               np.sum([s.values for s in series], axis=0))]
        if name == "constantLine":
            start, end = int(ctx.start_time.timestamp()), int(ctx.end_time.timestamp())
            return [TimeSeries(str(args[0]), start, end, end - start, [float(args[0])])]
        raise InputError(f"unknown function {name}")

    def describe(self, group=None):
        out = {"sumSeries": {"name": "sumSeries", "group": "Combine",
                             "params": [{"name": "x", "default": float("inf")}]},
               "constantLine": {"name": "constantLine", "group": "Special", "params": []}}
        return {k: v for k, v in out.items() if group in (None, v["group"])}

    def describe_one(self, name):
        return self.describe()[name]


class OracleStorage:
    CorruptWhisperFile = whisper.CorruptWhisperFile

    def fetch_array(self, path, start, end, now):
        answer = whisper.fetch(path, start, end, now=now)
        if answer is None:
            return None
        info, values = answer
        return info, np.array([np.nan if v is None else v for v in values], dtype=float)

    def info(self, path):
        return whisper.info(path)


def make(root, name, points=()):
    path = root.joinpath(*name.split(".")).with_suffix(".wsp")
    path.parent.mkdir(parents=True, exist_ok=True)
    whisper.create(str(path), [(10, 8640)])
    if points:
        whisper.update_many(str(path), list(points), now=NOW)


@pytest.fixture
def app(tmp_path):
    make(tmp_path, "a.b.c", [(NOW - 60, 1.0), (NOW - 50, 2.0)])
    make(tmp_path, "a.b.d", [(NOW - 60, 3.0)])
    make(tmp_path, "a.x")
    store = Store(LocalFinder(tmp_path, OracleStorage()))
    registry = Registry()
    times = server.TimeParser("UTC", clock=lambda: NOW, attime=AtTime)
    evaluator = Evaluator(registry, store, Limits(max_targets=3))
    return server.WebApp(store, registry, evaluator, times, graph=fake_graph)


def fake_graph(series_list, params, fmt, tz=None):
    return f"<{fmt}:{len(series_list)}:{params.get('width', ['-'])[-1]}>".encode()


def call(app, path, **params):
    handler = app.route(path)
    assert handler is not None, path
    values = {k.replace("_", "[]") if k == "target_" else k: v if isinstance(v, list) else [v]
              for k, v in params.items()}
    try:
        return handler(server.Params(values))
    except InputError as exc:
        return server.error_response(exc)


def jbody(response):
    return json.loads(response.body)


# --- /render -------------------------------------------------------------------------
def test_render_json_reads_files(app):
    response = call(app, "/render", target="a.b.c", format="json", **{"from": "-2min"},
                    until="now")
    assert response.status == 200 and response.content_type == "application/json"
    [entry] = jbody(response)
    assert entry["target"] == "a.b.c"
    values = dict((ts, v) for v, ts in entry["datapoints"])
    assert values[NOW - 60] == 1.0 and values[NOW - 50] == 2.0


def test_render_default_range_is_one_day(app):
    [entry] = jbody(call(app, "/render/", target="a.b.c", format="json"))
    assert len(entry["datapoints"]) == 8640


def test_render_epoch_from_until_swapped_like_graphite(app):
    [entry] = jbody(call(app, "/render", target="a.b.c", format="json",
                         **{"from": str(NOW), "until": str(NOW - 60)}))
    assert entry["datapoints"][0] == [2.0, NOW - 50]  # whisper starts one step after from


def test_render_empty_range_is_400(app):
    response = call(app, "/render", target="a.b.c", format="json", **{"from": "now"})
    assert response.status == 400 and b"empty time range" in response.body


def test_render_function_and_max_data_points(app):
    [entry] = jbody(call(app, "/render", target="sumSeries(a.b.*)", format="json",
                         maxDataPoints="1", **{"from": "-2min"}))
    assert entry["target"] == "sumSeries(x)"
    # whisper starts at NOW-110; only NOW-60 has both series (1 + 3)
    assert entry["datapoints"] == [[4.0, NOW - 110]]


def test_render_grafana_health_check(app):
    response = call(app, "/render", target="constantLine(100)", format="json",
                    **{"from": str(NOW - 3600), "until": str(NOW)})
    assert jbody(response)[0]["datapoints"][0][0] == 100.0


def test_render_target_brackets_and_template(app):
    [entry] = jbody(call(app, "/render", **{"target[]": "template(a.$x.c)",
                                            "template[x]": "b", "format": "json",
                                            "from": "-2min"}))
    assert entry["target"] == "a.b.c"


@pytest.mark.parametrize("fmt, ctype", [("csv", "text/csv"), ("raw", "text/plain"),
                                        ("pickle", "application/pickle"),
                                        ("dygraph", "application/json"),
                                        ("rickshaw", "application/json")])
def test_render_data_formats(app, fmt, ctype):
    response = call(app, "/render", target="a.b.c", format=fmt, **{"from": "-2min"})
    assert response.status == 200 and response.content_type == ctype


def test_render_cluster_pickle(app):
    response = call(app, "/render", target="a.b.*", format="pickle", local="1",
                    **{"from": str(NOW - 60), "until": str(NOW)})
    infos = pickle.loads(response.body)
    assert [i["name"] for i in infos] == ["a.b.c", "a.b.d"]
    assert infos[0]["pathExpression"] == "a.b.*" and infos[0]["values"][0] == 2.0


def test_render_legacy_pickle_and_rawdata_flags(app):
    assert call(app, "/render", target="a.x", pickle="1").content_type == "application/pickle"
    assert call(app, "/render", target="a.x", rawData="1").content_type == "text/plain"


def test_render_jsonp_valid_and_invalid(app):
    ok = call(app, "/render", target="a.x", format="json", jsonp="angular.callbacks._0")
    assert ok.content_type == "text/javascript" and ok.body.startswith(b"angular.callbacks._0([")
    bad = call(app, "/render", target="a.x", format="json", jsonp="alert(1)//")
    assert bad.status == 400 and b"alert" not in bad.body


def test_render_no_null_points(app):
    [entry] = jbody(call(app, "/render", target="a.b.c", format="json", noNullPoints="1",
                         **{"from": "-2min"}))
    assert [v for v, _ in entry["datapoints"]] == [1.0, 2.0]


def test_render_graph_formats_use_hook(app):
    response = call(app, "/render", target="a.x", width="400")
    assert (response.content_type, response.body) == ("image/png", b"<png:1:400>")
    assert call(app, "/render", target="a.x", format="pdf").content_type == "application/x-pdf"
    svg = call(app, "/render", target="a.x", format="svg", jsonp="cb")
    assert svg.content_type == "text/javascript" and svg.body == b'cb("<svg:1:->")'


def test_render_without_graph_module_is_400(app):
    app.graph = None
    response = call(app, "/render", target="a.x")
    assert response.status == 400 and response.body == b"graph formats not built\n"


@pytest.mark.parametrize("params, message", [
    ({"format": "xml"}, b"unknown format"),
    ({"format": "json", "xFilesFactor": "lots"}, b"xFilesFactor"),
    ({"format": "json", "xFilesFactor": "nan"}, b"finite"),
    ({"format": "json", "cacheTimeout": "soon"}, b"cacheTimeout"),
    ({"format": "json", "from": "yesterday-ish"}, b"param from"),
    ({"format": "json", "target": "sumSeries(a.b"}, b"position"),
    ({"format": "json", "target": "/etc/passwd"}, b"invalid path expression"),
    ({"format": "json", "target": "a..b"}, b"position 1"),
    ({"format": "json", "target": "a.b/etc"}, b"invalid path expression"),
    ({"format": "json", "target": ["a", "b", "c", "d"]}, b"MAX_TARGETS"),
])
def test_render_errors_are_one_line_400(app, params, message):
    params.setdefault("target", "a.x")
    response = call(app, "/render", **params)
    assert response.status == 400, response.body
    assert message in response.body
    assert response.body.count(b"\n") == 1 and response.content_type.startswith("text/plain")


def test_max_data_points_ignored_unless_positive_digits(app):
    for raw in ("0", "-5", "abc"):
        [entry] = jbody(call(app, "/render", target="a.b.c", format="json", maxDataPoints=raw,
                             **{"from": "-2min"}))
        assert len(entry["datapoints"]) == 12


def test_render_tz_for_csv(app):
    body = call(app, "/render", target="a.b.c", format="csv", tz="Europe/Paris",
                **{"from": str(NOW - 60), "until": str(NOW - 50)}).body
    assert body.startswith(b"a.b.c,2023-11-14 23:12:30,2.0")  # 22:12:30 UTC


# --- /metrics ------------------------------------------------------------------------
def test_find_treejson_default(app):
    assert jbody(call(app, "/metrics/find", query="a.*")) == [
        {"text": "b", "id": "a.b", "allowChildren": 1, "expandable": 1, "leaf": 0},
        {"text": "x", "id": "a.x", "allowChildren": 0, "expandable": 0, "leaf": 1}]


def test_find_treejson_wildcard_node(app):
    body = jbody(call(app, "/metrics/find", query="a.b.*", wildcards="1"))
    assert body[0] == {"text": "*", "id": "a.b.*", "allowChildren": 0, "expandable": 0,
                       "leaf": 1}
    assert [n["id"] for n in body[1:]] == ["a.b.c", "a.b.d"]


def test_find_completer(app):
    body = jbody(call(app, "/metrics/find", query="a.", format="completer"))
    assert body == {"metrics": [{"path": "a.b.", "name": "b", "is_leaf": "0"},
                                {"path": "a.x", "name": "x", "is_leaf": "1"}]}


def test_find_json_and_pickle_have_intervals(app):
    body = jbody(call(app, "/metrics/find", query="a.*", format="json"))
    assert body[0] == {"path": "a.b", "is_leaf": False}
    assert body[1]["path"] == "a.x" and body[1]["intervals"][0]["start"] == NOW - 86400
    infos = pickle.loads(call(app, "/metrics/find/", query="a.*", format="pickle",
                              local="1").body)
    assert infos[1]["intervals"][0][0] == NOW - 86400 and infos[1]["is_leaf"] is True


def test_find_nodelist_and_leaves_only(app):
    assert jbody(call(app, "/metrics/find", query="a.*.*", format="nodelist",
                      position="1")) == {"nodes": ["b"]}
    assert [n["id"] for n in jbody(call(app, "/metrics/find", query="a.*",
                                        leavesOnly="1"))] == ["a.x"]
    beyond = call(app, "/metrics/find", query="a.*", format="nodelist", position="5")
    assert beyond.status == 400 and b"position 5" in beyond.body


@pytest.mark.parametrize("params, status, message", [
    ({}, 400, b"Missing required parameter 'query'"),
    ({"query": ""}, 400, b"is empty"),
    ({"query": "a", "format": "xml"}, 400, b"Invalid value for 'format'"),
    ({"query": "a", "wildcards": "x"}, 400, b"wildcards"),
    ({"query": "/etc/*"}, 400, b"invalid path expression"),
    ({"query": "a", "from": "garbage"}, 400, b"param from"),
])
def test_find_errors(app, params, status, message):
    response = call(app, "/metrics/find", **params)
    assert response.status == status and message in response.body


def test_find_from_until_minus_one_means_unbounded(app):
    assert len(jbody(call(app, "/metrics/find", query="a.*", **{"from": "-1",
                                                               "until": "-1"}))) == 2
    assert len(jbody(call(app, "/metrics/find", query="a.*", **{"from": "-1h"}))) == 2


def test_expand(app):
    assert jbody(call(app, "/metrics/expand", query=["a.*", "a.b.*"])) == {
        "results": ["a.b", "a.b.c", "a.b.d", "a.x"]}
    assert jbody(call(app, "/metrics/expand", query=["a.*", "a.b.*"], groupByExpr="1",
                      leavesOnly="1")) == {"results": {"a.*": ["a.x"],
                                                       "a.b.*": ["a.b.c", "a.b.d"]}}
    assert jbody(call(app, "/metrics/expand")) == {"results": []}


def test_index_json_and_jsonp(app):
    assert jbody(call(app, "/metrics/index.json")) == ["a.b.c", "a.b.d", "a.x"]
    response = call(app, "/metrics/index.json", jsonp="cb")
    assert response.body.startswith(b"cb(") and response.body.endswith(b")")
    assert json.loads(response.body[3:-1]) == ["a.b.c", "a.b.d", "a.x"]
    pretty = call(app, "/metrics/index.json", pretty="1")
    assert pretty.body.startswith(b'[\n  "a.b.c"')


# --- /functions, /version, stubs ----------------------------------------------------
def test_functions_json_valid_with_infinity(app):
    response = call(app, "/functions")
    body = jbody(response)
    assert set(body) == {"sumSeries", "constantLine"}
    assert b"Infinity" not in response.body and body["sumSeries"]["params"][0]["default"] > 1e308
    assert set(jbody(call(app, "/functions", grouped="1"))) == {"Combine", "Special"}
    assert set(jbody(call(app, "/functions", group="Special"))) == {"constantLine"}


def test_function_details_and_404(app):
    assert jbody(call(app, "/functions/sumSeries"))["name"] == "sumSeries"
    missing = call(app, "/functions/nope")
    assert missing.status == 404


def test_version_and_empty_json_routes(app):
    assert call(app, "/version").body == b"1.1.10"
    for path in ("/tags", "/tags/autoComplete/tags", "/tags/autoComplete/values",
                 "/events/get_data"):
        assert jbody(call(app, path)) == []


def test_unknown_routes(app):
    for path in ("/", "/nope", "/metrics", "/metrics/find/x", "/render/x", "/functions/a/b"):
        assert app.route(path) is None


def test_params_from_request_bytes():
    params = server.Params.from_request({b"target": [b"a", b"b"], b"x": [b"1"]})
    assert params.getlist("target") == ["a", "b"] and params.get("target") == "b"
    with pytest.raises(InputError, match="UTF-8"):
        server.Params.from_request({b"t": [b"\xff"]})


# --- the resource ---------------------------------------------------------------------
class SyncPool:
    def callInThreadWithCallback(self, on_result, func, *args, **kw):
        try:
            result = func(*args, **kw)
        except Exception as exc:  # noqa: BLE001 - mirrors ThreadPool's contract
            on_result(False, __import__("twisted.python.failure").python.failure.Failure(exc))
        else:
            on_result(True, result)


class HeldPool:
    """Never runs the work: lets the timeout fire."""

    def callInThreadWithCallback(self, on_result, func, *args, **kw):
        self.pending = (on_result, func, args)


class FakeReactor(task.Clock):
    def callFromThread(self, func, *args, **kw):
        func(*args, **kw)


def dummy(path, args=None, method=b"GET"):
    request = DummyRequest([p.encode() for p in path.strip("/").split("/")])
    request.path = path.encode()
    request.method = method
    request.args = {k.encode(): [v.encode()] for k, v in (args or {}).items()}
    return request


def body_of(request):
    return b"".join(request.written)


def test_resource_answers_on_pool(app):
    resource = server.ApiResource(app, SyncPool(), FakeReactor(), 10)
    request = dummy("/render", {"target": "a.x", "format": "raw"})
    assert resource.render(request) == tw_server.NOT_DONE_YET
    assert request.finished and request.responseCode == 200
    assert request.responseHeaders.getRawHeaders(b"content-type") == [b"text/plain"]
    assert body_of(request).startswith(b"a.x,")


def test_resource_input_error_and_404(app):
    resource = server.ApiResource(app, SyncPool(), FakeReactor(), 10)
    request = dummy("/render", {"target": "a.b/x", "format": "json"})
    resource.render(request)
    assert request.responseCode == 400 and b"invalid path expression" in body_of(request)
    missing = dummy("/nope")
    resource.render(missing)
    assert missing.responseCode == 404


def test_resource_unexpected_error_is_500_without_trace(app):
    def boom(params):
        raise RuntimeError("secret detail")
    app.route = lambda path: boom
    resource = server.ApiResource(app, SyncPool(), FakeReactor(), 10)
    request = dummy("/render")
    resource.render(request)
    assert request.responseCode == 500 and body_of(request) == b"internal error\n"


def test_resource_timeout_answers_400(app):
    reactor = FakeReactor()
    resource = server.ApiResource(app, HeldPool(), reactor, 3.0)
    request = dummy("/render", {"target": "a.x"})
    resource.render(request)
    assert not request.finished
    reactor.advance(3.0)
    assert request.responseCode == 400 and b"REQUEST_TIMEOUT" in body_of(request)


def test_resource_other_methods_are_405_text(app):
    resource = server.ApiResource(app, SyncPool(), FakeReactor(), 10)
    request = dummy("/render", method=b"DELETE")
    resource.render(request)
    assert request.responseCode == 405 and body_of(request) == b"method not allowed\n"
    assert request.responseHeaders.getRawHeaders(b"allow") == [b"GET, POST, HEAD"]


def test_resource_head_has_no_body(app):
    resource = server.ApiResource(app, SyncPool(), FakeReactor(), 10)
    request = dummy("/version", method=b"HEAD")
    resource.render(request)
    assert request.responseCode == 200 and body_of(request) == b""


def test_resource_client_gone_is_not_written(app):
    resource = server.ApiResource(app, HeldPool(), FakeReactor(), 10)
    pool = resource.pool
    request = dummy("/version")
    resource.render(request)
    for finished in request._finishedDeferreds:  # what a lost connection does
        finished.errback(ConnectionError("gone"))
    request._finishedDeferreds = []
    on_result, func, args = pool.pending
    on_result(True, func(*args))
    assert body_of(request) == b""


def test_render_now_param_moves_the_window(app):
    [entry] = jbody(call(app, "/render", target="a.b.c", format="json",
                         now=str(NOW - 55), **{"from": "-1min"}))
    stamps = [ts for _, ts in entry["datapoints"]]
    assert max(stamps) <= NOW - 55 and [v for v, _ in entry["datapoints"]][-1] == 1.0


def test_completer_automatic_variants_and_wildcard(app):
    body = jbody(call(app, "/metrics/find", query="a.b.c,d", format="completer",
                      automatic_variants="1", wildcards="1"))
    assert [m.get("path") for m in body["metrics"]] == ["a.b.c", "a.b.d", None]
    assert body["metrics"][-1] == {"name": "*"}


def test_tree_json_dedups_names_and_unquotes():
    from webapp.finders import Node
    nodes = [Node("x.a%20b", False), Node("x.a%20b", True), Node("x.c+d", True)]
    assert server.tree_json(nodes, "x.") == [
        {"text": "a b", "id": "x.a%20b", "allowChildren": 1, "expandable": 1, "leaf": 0},
        {"text": "c d", "id": "x.c+d", "allowChildren": 0, "expandable": 0, "leaf": 1}]


def test_find_pickle_keeps_remote_intervals(app):
    from webapp.finders import Node

    class Remote:
        available = True

        def find(self, pattern, start, end):
            return [Node("r.m", True, None, ((1, 2),))]
    app.store.remotes = [Remote()]
    infos = pickle.loads(call(app, "/metrics/find", query="r.*", format="pickle").body)
    assert infos == [{"path": "r.m", "is_leaf": True, "intervals": [(1, 2)]}]


def http_exchange(app, request_bytes, max_post_size, chunks=1):
    """Raw HTTP through a QuietSite on a StringTransport; the bytes answered."""
    from twisted.internet.testing import StringTransport
    site = server.QuietSite(server.ApiResource(app, SyncPool(), FakeReactor(), 10),
                            max_post_size)
    channel = site.buildProtocol(None)
    transport = StringTransport()
    channel.makeConnection(transport)
    size = -(-len(request_bytes) // chunks)
    for start in range(0, len(request_bytes), size):
        channel.dataReceived(request_bytes[start:start + size])
    return transport.value()


def post(path, body, chunked=False):
    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n").encode()
    if chunked:
        pieces = [body[i:i + 40] for i in range(0, len(body), 40)]
        encoded = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
        return head + b"Transfer-Encoding: chunked\r\n\r\n" + encoded
    return head + b"Content-Length: %d\r\n\r\n" % len(body) + body


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("path", ["/render", "/metrics/find"])
def test_post_body_over_max_post_size_is_413(app, path, chunked):
    body = b"target=a.x&query=a.*&format=raw&pad=" + b"x" * 200
    answer = http_exchange(app, post(path, body, chunked), 100, chunks=7)
    assert answer.startswith(b"HTTP/1.1 413 ")
    text = answer.split(b"\r\n\r\n", 1)[1]
    assert text == b"request body over the 100-byte limit (MAX_POST_SIZE)\n"


@pytest.mark.parametrize("chunked", [False, True])
def test_post_body_within_max_post_size_is_read(app, chunked):
    body = b"target=a.x&format=raw"
    answer = http_exchange(app, post("/render", body, chunked), len(body), chunks=3)
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert answer.split(b"\r\n\r\n", 1)[1].startswith(b"a.x,")
