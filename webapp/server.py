"""`carbonish web`: graphite-web 1.1's HTTP API on twisted.web.

Routes (a trailing slash is accepted everywhere, as graphite-web's cluster clients
send one): /render, /metrics/find, /metrics/expand, /metrics/index.json, /functions,
/functions/<name>, /version, /tags..., /events/get_data. GET and POST (form body)
alike; parameters of both are merged, the body winning.

The reactor thread parses HTTP; requests run on an explicit ThreadPool via
deferToThreadPool (finding, reading files, evaluating, formatting), so a slow render
does not stall the others. The exceptions are small, local work (WebApp.quick; no
cluster servers, no carbonlink, no read locks): a render in a data format of at most
QUICK_TARGETS plain series names (its cost bounded by one archive of each file), and
a treejson find that lists one folder of at most QUICK_FIND_FOLDER bytes. They are
answered on the reactor thread at once, as the hand-off to a thread and back costs as
much CPU as such a request. Errors are translated once, here:
an InputError becomes its status (400, or 413 for size limits) with one line of
text/plain; anything else is logged and answered 500 "internal error" with no trace.
A request that outlives REQUEST_TIMEOUT (plus a grace second) is answered 400 even if
its worker is still busy. A body over MAX_POST_SIZE is not kept (LimitedRequest drops
it as it arrives) and the request is answered 413.
"""
import json
import math
import os
import re
import socket
import sys
import time
from datetime import timezone
from urllib.parse import unquote_plus

from twisted.application import service
from twisted.internet import defer, protocol
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool
from twisted.web import resource, server

from carbonish import names
from webapp import formats

try:  # optional accelerator, as in webapp.formats.json_format
    import orjson
except ImportError:  # pragma: no cover - exercised only where orjson is absent
    orjson = None
from webapp.errors import InputError, LimitExceeded
from webapp.evaluator import Evaluator, Limits, RenderRequest

VERSION = "1.1.10"
GRAPH_FORMATS = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/x-pdf"}
_JSONP = re.compile(r"[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*")
_EMPTY_JSON_ROUTES = ("tags", "events")
QUICK_TARGETS = 4
QUICK_MAX_RANGE = 7 * 86400  # seconds: a longer range may read a large archive: the pool
# A treejson find that lists one folder of at most this many bytes (its st_size; ext4
# folds ~100-200 names into a 4 KiB block) is answered on the reactor thread too.
QUICK_FIND_FOLDER = 64 * 1024
_WILDCARD = re.compile(rb"[*?\[\]{}]")
_PLAIN_TARGET = re.compile(rb"[^()*?\[\]{},\s]+")  # a series name: no call, no wildcard

log = Logger(namespace="carbonish.web")


class Response:
    """What a handler returns: status, content type, body bytes, extra headers."""

    __slots__ = ("status", "content_type", "body", "headers")

    def __init__(self, body, content_type="application/json", status=200, headers=()):
        self.status = status
        self.content_type = content_type
        self.body = body
        self.headers = headers


def error_response(exc):
    line = " ".join(str(exc).split()) or type(exc).__name__
    return Response((line + "\n").encode(), "text/plain; charset=utf-8",
                    getattr(exc, "status", 400))


class Params:
    """Request parameters as {name: [values]} of str; the last value of a name wins."""

    def __init__(self, values):
        self.values = values
        self.time_range = None  # TimeParser.range's answer, kept for a second asker

    @classmethod
    def from_request(cls, args):
        values = {}
        for key, items in args.items():
            try:
                name = key.decode("utf-8")
                values[name] = [item.decode("utf-8") for item in items]
            except UnicodeDecodeError:
                raise InputError("parameters must be UTF-8") from None
        return cls(values)

    def __contains__(self, name):
        return name in self.values

    def get(self, name, default=None):
        items = self.values.get(name)
        return items[-1] if items else default

    def getlist(self, name):
        return list(self.values.get(name, ()))

    def int(self, name, default):
        raw = self.get(name)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            raise InputError(f"invalid int value {_shown(raw)} for param {name}") from None

    def jsonp(self):
        callback = self.get("jsonp")
        if not callback:
            return None
        if len(callback) > 256 or not _JSONP.fullmatch(callback):
            raise InputError("jsonp must be a JavaScript identifier (letters, digits, _, $, .)")
        return callback


def _shown(text, limit=100):
    text = repr(text)
    return text if len(text) <= limit else text[:limit] + "..."


def json_body(data, params, encoder_default=None):
    """JSON (jsonp-wrapped if asked) as graphite-web's json_response_for; infinities are
    written 1e9999 so the document stays valid JSON."""
    pretty = bool(params.get("pretty"))
    if orjson is not None and not pretty and encoder_default is None:
        body = orjson.dumps(data)
    else:
        text = json.dumps(data, indent=2 if pretty else None, default=encoder_default)
        body = text.replace("-Infinity", "-1e9999").replace("Infinity", "1e9999").encode()
    callback = params.jsonp()
    if callback:
        return Response(callback.encode() + b"(" + body + b")", "text/javascript")
    return Response(body, "application/json")


class TimeParser:
    """from/until/now/tz with Graphite's at-time grammar (webapp.attime)."""

    def __init__(self, default_tz="UTC", clock=time.time, attime=None):
        if attime is None:
            from webapp import attime
        self.attime = attime
        self.default_tz = self.attime.parse_tz(default_tz, timezone.utc)
        self.clock = clock

    def tz(self, params):
        return self.attime.parse_tz(params.get("tz"), self.default_tz)

    def parse(self, name, text, tz, now):
        try:
            return self.attime.parse_at_time(text, tz, now)
        except (InputError, ValueError, OverflowError) as exc:
            raise InputError(f"invalid value {_shown(text)} for param {name}: {exc}") from None

    def now(self, params, tz):
        from datetime import datetime
        current = datetime.fromtimestamp(self.clock(), tz)
        if "now" in params:
            return self.parse("now", params.get("now"), tz, current)
        return current

    def range(self, params):
        """(start, end, now, tz) for /render, graphite-web's defaults and order; parsed
        once per Params (WebApp.quick asks before the render does)."""
        if params.time_range is None:
            params.time_range = self._range(params)
        return params.time_range

    def _range(self, params):
        tz = self.tz(params)
        now = self.now(params, tz)
        until = self.parse("until", params.get("until"), tz, now) if "until" in params else now
        since = self.parse("from", params.get("from", "-1d"), tz, now)
        start, end = min(since, until), max(since, until)
        if start == end:
            raise InputError("Invalid empty time range")
        return start, end, now, tz


class WebApp:
    """The handlers; each takes Params and returns a Response (runs on a worker)."""

    quick_find_folder = QUICK_FIND_FOLDER

    def __init__(self, store, registry, evaluator, times, graph=None):
        self.store = store
        self.registry = registry
        self.evaluator = evaluator
        self.times = times
        self.graph = graph

    def quick(self, handler, args):
        """The request's Params (or an InputError to answer) when `handler` with raw
        request `args` ({bytes: [bytes]}) is a small find (_quick_find) or a render that
        reads at most QUICK_TARGETS files of this node
        (no call, no wildcard, a data format, a range of at most QUICK_MAX_RANGE) and
        nothing over the network: the only work worth answering without a thread; else
        None."""
        if handler == self.find:
            return self._quick_find(args)
        if handler != self.render or not self._local_plain_reads():
            return None
        formats_asked = args.get(b"format")
        if not formats_asked or formats_asked[-1].lower().decode("ascii", "replace") \
                not in formats.DATA_FORMATS:
            return None
        targets = args.get(b"target", []) + args.get(b"target[]", [])
        if not (0 < len(targets) <= QUICK_TARGETS
                and all(_PLAIN_TARGET.fullmatch(t) for t in targets)):
            return None
        try:  # bad parameters or times are quick: the answer is the error, at once
            params = Params.from_request(args)
            if any(key in params for key in ("from", "until", "now")):
                start, end, _, _ = self.times.range(params)  # kept for the render
                if (end - start).total_seconds() > QUICK_MAX_RANGE:
                    return None
        except InputError as exc:
            return exc
        return params

    def _quick_find(self, args):
        """Params for a treejson find of this node's files that lists one folder (no
        wildcard before the last node) of at most QUICK_FIND_FOLDER bytes, else None:
        the hand-off to a thread and back costs as much as listing 1,000 names."""
        if not self._local_plain_reads():
            return None
        queries, formats_asked = args.get(b"query"), args.get(b"format", [b"treejson"])
        if not queries or formats_asked[-1] != b"treejson":
            return None
        head = queries[-1].rpartition(b".")[0]
        if _WILDCARD.search(head):
            return None
        try:
            size = os.stat(names.prefix_to_folder(self.store.local.data_dir, head)).st_size
        except (names.InvalidMetricName, OSError):
            return None
        if size > self.quick_find_folder:
            return None
        try:
            return Params.from_request(args)
        except InputError as exc:
            return exc

    def _local_plain_reads(self):
        local = getattr(self.store, "local", None)
        return (getattr(self.store, "remotes", None) == [] and local is not None
                and getattr(local, "carbonlink", True) is None
                and getattr(local, "lock_reads", True) is False)

    def route(self, path):
        """The handler for a request path, or None (404)."""
        parts = [p for p in path.split("/") if p]
        if not parts:
            return None
        head, rest = parts[0], parts[1:]
        if head == "render" and not rest:
            return self.render
        if head == "metrics" and len(rest) == 1:
            return {"find": self.find, "expand": self.expand,
                    "index.json": self.index}.get(rest[0])
        if head == "functions" and len(rest) <= 1:
            return (lambda p: self.function(p, rest[0])) if rest else self.functions
        if head == "version" and not rest:
            return lambda p: Response(VERSION.encode(), "text/plain")
        if head in _EMPTY_JSON_ROUTES:
            return lambda p: json_body([], p)
        return None

    # --- /render ---------------------------------------------------------------------
    def render(self, params):
        start, end, now, tz = self.times.range(params)
        request = RenderRequest(
            targets=params.getlist("target") or params.getlist("target[]"),
            start_time=start, end_time=end, now=now, tz=tz,
            local_only=params.get("local") == "1",
            template={k[9:-1]: v[-1] for k, v in params.values.items()
                      if k.startswith("template[") and k.endswith("]") and v},
            x_files_factor=_float_param(params, "xFilesFactor", 0.0),
            max_data_points=_max_data_points(params))
        params.int("cacheTimeout", 0)  # accepted and checked; nothing is cached
        fmt = _render_format(params)
        if fmt not in formats.DATA_FORMATS and fmt not in GRAPH_FORMATS:
            raise InputError(f"unknown format {fmt!r}; expected one of "
                             f"{', '.join(formats.DATA_FORMATS + tuple(GRAPH_FORMATS))}")
        series_list = self.evaluator.render(request)
        if fmt in formats.DATA_FORMATS:
            return self._data_response(fmt, series_list, params, request)
        return self._graph_response(fmt, series_list, params, tz)

    def _data_response(self, fmt, series_list, params, request):
        options = formats.FormatOptions(tz=request.tz, jsonp=params.jsonp(),
                                        no_null_points="noNullPoints" in params,
                                        pretty=bool(params.get("pretty")))
        if fmt == "json":
            from webapp.formats.json_format import render_json
            body, ctype = render_json(series_list, options, request.max_data_points)
        else:
            body, ctype = formats.render(fmt, series_list, options)
        return Response(body, ctype)

    def _graph_response(self, fmt, series_list, params, tz):
        if self.graph is None:
            raise InputError("graph formats not built")
        query = dict(params.values)
        image = self.graph(series_list, query, fmt, tz)
        callback = params.jsonp() if fmt == "svg" else None
        if callback:
            text = image.decode() if isinstance(image, bytes) else image
            return Response(f"{callback}({json.dumps(text)})".encode(), "text/javascript")
        return Response(image, GRAPH_FORMATS[fmt])

    # --- /metrics ---------------------------------------------------------------------
    def _find_range(self, params):
        tz = self.times.tz(params)
        now = self.times.now(params, tz)
        bounds = []
        for name in ("from", "until"):
            raw = params.get(name)
            if raw is None or raw == "-1":
                bounds.append(None)
            else:
                bounds.append(int(self.times.parse(name, raw, tz, now).timestamp()))
        return bounds

    def find(self, params):
        fmt = params.get("format", "treejson")
        wildcards = params.int("wildcards", 0)
        leaves_only = params.int("leavesOnly", 0)
        local_only = params.int("local", 0)
        position = params.int("position", -1)
        params.int("automatic_variants", 0)
        query = params.get("query")
        if query is None:
            raise InputError("Missing required parameter 'query'")
        if query == "":
            raise InputError("Required parameter 'query' is empty")
        if fmt not in ("treejson", "completer", "json", "pickle", "nodelist"):
            raise InputError("Invalid value for 'format' parameter")
        base_path = query.rsplit(".", 1)[0] + "." if "." in query else ""
        if fmt == "completer":
            query = _completer_query(query, params.int("automatic_variants", 0))
        start, end = self._find_range(params)
        nodes = self.store.find(query, start, end, local_only=bool(local_only))
        if leaves_only:
            nodes = [n for n in nodes if n.is_leaf]
        nodes.sort(key=_node_name)
        return self._find_response(fmt, nodes, params, base_path, wildcards, position)

    def _find_response(self, fmt, nodes, params, base_path, wildcards, position):
        if fmt == "treejson":
            return json_body(tree_json(nodes, base_path, wildcards), params)
        if fmt == "completer":
            return json_body(completer_json(nodes, wildcards), params)
        if fmt == "nodelist":
            try:
                found = {n.path.split(".")[position] for n in nodes}
            except IndexError:
                raise InputError(f"position {position} is beyond a matched path") from None
            return json_body({"nodes": sorted(found)}, params)
        now = int(self.times.clock())
        infos = [self._node_info(node, now) for node in nodes]
        if fmt == "pickle":
            import pickle
            return Response(pickle.dumps(infos, protocol=2), "application/pickle")
        for info in infos:
            if "intervals" in info:
                info["intervals"] = [{"start": s, "end": e} for s, e in info["intervals"]]
        return json_body(sorted(infos, key=lambda i: i["path"]), params)

    def _node_info(self, node, now):
        info = {"path": node.path, "is_leaf": node.is_leaf}
        if node.is_leaf:
            intervals = node.intervals
            if not intervals and node.fs_path is not None:
                intervals = self.store.local.intervals(node, now)
            info["intervals"] = list(intervals)
        return info

    def expand(self, params):
        local_only = bool(params.int("local", 0))
        group = params.int("groupByExpr", 0)
        leaves_only = params.int("leavesOnly", 0)
        results = {}
        for query in params.getlist("query"):
            results[query] = sorted({n.path for n in self.store.find(query, local_only=local_only)
                                     if n.is_leaf or not leaves_only})
        if not group:
            results = sorted(set().union(*results.values())) if results else []
        return json_body({"results": results}, params)

    def index(self, params):
        return json_body(self.store.index(local_only=bool(params.int("local", 0))), params)

    # --- /functions -------------------------------------------------------------------
    def functions(self, params):
        described = self.registry.describe(params.get("group"))
        if params.get("grouped", "").lower() in ("1", "true"):
            grouped = {}
            for name, info in described.items():
                grouped.setdefault(info["group"], {})[name] = info
            described = grouped
        return json_body(described, params, _json_default)

    def function(self, params, name):
        if name not in self.registry:
            return Response(f"Function not found: {name}\n".encode(),
                            "text/plain; charset=utf-8", 404)
        return json_body(self.registry.describe_one(name), params, _json_default)


def _node_name(node):
    return node.name


def _json_default(value):
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def _float_param(params, name, default):
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InputError(f"invalid float value {_shown(raw)} for param {name}") from None
    if not math.isfinite(value):
        raise InputError(f"param {name} must be finite")
    return value


def _max_data_points(params):
    raw = params.get("maxDataPoints")
    if raw and raw.isdigit() and int(raw) > 0:
        return int(raw)
    return None


def _render_format(params):
    fmt = None
    if "pickle" in params:
        fmt = "pickle"
    if "rawData" in params:
        fmt = "raw"
    if "format" in params:
        fmt = params.get("format")
    return (fmt or "png").lower()


def _completer_query(query, automatic_variants):
    query = query.replace("..", "*.")
    if not query.endswith("*"):
        query += "*"
    if automatic_variants:
        parts = query.split(".")
        parts = [f"{{{p}}}" if "," in p and "{" not in p else p for p in parts]
        query = ".".join(parts)
    return query


_BRANCH = {"allowChildren": 1, "expandable": 1, "leaf": 0}
_LEAF = {"allowChildren": 0, "expandable": 0, "leaf": 1}


def tree_json(nodes, base_path, wildcards=False):
    """graphite-web's treejson: an optional `*` node, then branches, then leaves."""
    results = []
    if len(nodes) > 1 and wildcards:
        node = {"text": "*", "id": base_path + "*"}
        node.update(_BRANCH if any(not n.is_leaf for n in nodes) else _LEAF)
        results.append(node)
    found, branches, leaves = set(), [], []
    for node in nodes:
        name = node.name
        if name in found:
            continue
        found.add(name)
        text = unquote_plus(name) if ("%" in name or "+" in name) else name
        if node.is_leaf:
            leaves.append({"text": text, "id": base_path + name, **_LEAF})
        else:
            branches.append({"text": text, "id": base_path + name, **_BRANCH})
    return results + branches + leaves


def completer_json(nodes, wildcards=False):
    results = []
    for node in nodes:
        path = node.path if node.is_leaf else node.path + "."
        results.append({"path": path, "name": node.name, "is_leaf": str(int(node.is_leaf))})
    if len(results) > 1 and wildcards:
        results.append({"name": "*"})
    return {"metrics": results}


# --- twisted.web ------------------------------------------------------------------------
class ApiResource(resource.Resource):
    """One leaf resource: routes by path, runs the handler on the thread pool."""

    isLeaf = True

    def __init__(self, app, pool, reactor, timeout):
        super().__init__()
        self.app = app
        self.pool = pool
        self.reactor = reactor
        self.timeout = timeout

    def render_GET(self, request):
        return self._handle(request)

    render_POST = render_GET
    render_HEAD = render_GET

    def render(self, request):
        if request.method not in (b"GET", b"POST", b"HEAD"):
            _send(request, Response(b"method not allowed\n", "text/plain; charset=utf-8", 405,
                                    ((b"Allow", b"GET, POST, HEAD"),)))
            return server.NOT_DONE_YET
        if getattr(request, "too_large", False):
            limit = request.channel.site.max_post_size
            _send(request, error_response(LimitExceeded(
                f"request body over the {limit}-byte limit (MAX_POST_SIZE)", 413)))
            return server.NOT_DONE_YET
        return super().render(request)

    def _handle(self, request):
        path = request.path.decode("utf-8", "replace")
        handler = self.app.route(path)
        if handler is None:
            _send(request, Response(b"not found\n", "text/plain; charset=utf-8", 404))
            return server.NOT_DONE_YET
        quick = self.app.quick(handler, request.args)
        if quick is not None:
            try:
                response = _answer(handler, quick)
            except Exception:  # noqa: BLE001 - answered 500 as on the pool
                response = self._failed(Failure(), path)
            _send(request, response)
            return server.NOT_DONE_YET
        finished = []
        request.notifyFinish().addBoth(finished.append)
        work = deferToThreadPool(self.reactor, self.pool, _call, handler, request.args)
        work.addTimeout(self.timeout, self.reactor, onTimeoutCancel=self._timed_out)
        work.addErrback(self._failed, path)
        work.addCallback(lambda response: finished or _send(request, response))
        return server.NOT_DONE_YET

    def _timed_out(self, result, timeout):
        return error_response(InputError(
            f"request took longer than {timeout - 1:g}s (REQUEST_TIMEOUT)"))

    @staticmethod
    def _failed(failure, path):
        log.failure("unexpected error answering {path}", failure, path=path)
        return Response(b"internal error\n", "text/plain; charset=utf-8", 500)


def _call(handler, args):
    try:
        return handler(Params.from_request(args))
    except InputError as exc:
        return error_response(exc)


def _answer(handler, params):
    """_call for what WebApp.quick gave: Params, or the InputError to answer."""
    if isinstance(params, InputError):
        return error_response(params)
    try:
        return handler(params)
    except InputError as exc:
        return error_response(exc)


def _send(request, response):
    request.setResponseCode(response.status)
    request.setHeader(b"Content-Type", response.content_type.encode())
    request.setHeader(b"Cache-Control", b"no-cache")
    request.setHeader(b"Pragma", b"no-cache")
    for name, value in response.headers:
        request.setHeader(name, value)
    request.setHeader(b"Content-Length", str(len(response.body)).encode())
    if request.method != b"HEAD":
        request.write(response.body)
    request.finish()


# --- wiring ---------------------------------------------------------------------------
def build_store(settings):
    from webapp.carbonlink_client import CarbonLinkClient
    from webapp.finders import LocalFinder, RemoteFinder, Store
    web = settings.web
    link = None
    if web.CARBONLINK_HOSTS:
        link = CarbonLinkClient(web.CARBONLINK_HOSTS, web.CARBONLINK_TIMEOUT,
                                web.REMOTE_RETRY_DELAY)
    remotes = [RemoteFinder(s, web.FIND_TIMEOUT, web.FETCH_TIMEOUT, web.REMOTE_RETRY_DELAY)
               for s in web.CLUSTER_SERVERS]
    local = LocalFinder(settings.cache.LOCAL_DATA_DIR, carbonlink=link,
                        lock_reads=settings.cache.WHISPER_LOCK_WRITES)
    return Store(local, remotes)


def _graph_renderer():
    """render_graph with the request's time zone (the server's TIME_ZONE unless `tz`)."""
    from webapp.graph import render_graph
    from webapp.graph.params import parse_graph_params

    def draw(series_list, query, fmt, tz):
        return render_graph(series_list, parse_graph_params(query, tz), fmt)
    return draw


def build_app(settings, store=None, registry=None, times=None, graph=None):
    """The WebApp for `settings`, with optional stand-in collaborators."""
    if registry is None:
        from webapp.functions import Registry
        registry = Registry()
    store = store if store is not None else build_store(settings)
    evaluator = Evaluator(registry, store, Limits.from_settings(settings.web))
    times = times or TimeParser(settings.web.TIME_ZONE)
    return WebApp(store, registry, evaluator, times, graph or _graph_renderer())


class LimitedRequest(server.Request):
    """A request whose body is kept only up to the site's `max_post_size` bytes (by
    Content-Length, or as chunks arrive); past it the rest is read and dropped, and
    ApiResource answers 413."""

    too_large = False
    _body_size = 0

    def gotLength(self, length):
        limit = self.channel.site.max_post_size
        if length is not None and length > limit:
            self.too_large = True
            length = 0  # nothing is kept: an in-memory file, not a temporary one
        super().gotLength(length)

    def handleContentChunk(self, data):
        self._body_size += len(data)
        if self._body_size > self.channel.site.max_post_size:
            self.too_large = True
        if not self.too_large:
            super().handleContentChunk(data)


class QuietSite(server.Site):
    """A Site without the per-request access log line (gunicorn's default too), whose
    requests keep at most `max_post_size` bytes of body ([web] MAX_POST_SIZE)."""

    displayTracebacks = False
    noisy = False

    def __init__(self, resource, max_post_size=1024 * 1024, **kwargs):
        super().__init__(resource, requestFactory=LimitedRequest, **kwargs)
        self.max_post_size = max_post_size

    def log(self, request):
        pass


class ThreadPoolService(service.Service):
    """Starts and stops the render pool with the application."""

    def __init__(self, pool):
        self.pool = pool

    def startService(self):
        super().startService()
        self.pool.start()

    def stopService(self):
        super().stopService()
        self.pool.stop()


class ListeningService(service.Service):
    """Listens on INTERFACE:PORT and logs the port actually bound; or, in a worker
    process, adopts the listening socket its parent passed as `adopt_fd`."""

    def __init__(self, site, interface, port, reactor, adopt_fd=None, shared=False):
        self.site = site
        self.interface = interface
        self.port = port
        self.reactor = reactor
        self.adopt_fd = adopt_fd
        self.shared = shared or adopt_fd is not None
        self.listening = None

    def startService(self):
        super().startService()
        if self.adopt_fd is not None:
            self.listening = self.reactor.adoptStreamPort(self.adopt_fd, socket.AF_INET,
                                                          self.site)
            _accept_one_at_a_time(self.listening)
            return
        self.listening = self.reactor.listenTCP(self.port, self.site, interface=self.interface)
        if self.shared:
            _accept_one_at_a_time(self.listening)
        bound = self.listening.getHost().port
        log.info("carbonish web listening on http://{host}:{port}",
                 host=self.interface, port=bound)

    def stopService(self):
        super().stopService()
        if self.listening is not None:
            return self.listening.stopListening()
        return None


def _accept_one_at_a_time(port):
    """A listening port shared by several processes takes one connection per wake-up
    (twisted takes up to dozens): clients that open their keep-alive connections all at
    once are spread over the processes instead of all landing in the first awake."""
    accept = getattr(port, "doRead", None)
    if accept is None:  # not a reactor's own port (a stand-in)
        return

    def doRead():
        port.numberAccepts = 1
        return accept()
    port.doRead = doRead


class _Worker(protocol.ProcessProtocol):
    def __init__(self):
        self.ended = defer.Deferred()

    def processEnded(self, reason):
        self.ended.callback(None)


class WorkerProcesses(service.Service):
    """`count` more processes serving the listener's socket (renders are CPU-bound and
    one process holds one GIL; graphite-web runs several gunicorn workers likewise).
    Each is `python -m webapp.server --config FILE --fd 3`; stopping sends SIGTERM and
    waits for all of them."""

    def __init__(self, listener, config_path, count, reactor):
        self.listener = listener
        self.config_path = str(config_path)
        self.count = count
        self.reactor = reactor
        self.workers = []

    def startService(self):
        super().startService()
        fd = self.listener.listening.fileno()
        argv = [sys.executable, "-m", "webapp.server", "--config", self.config_path,
                "--fd", "3"]
        for _ in range(self.count):
            worker = _Worker()
            self.reactor.spawnProcess(worker, sys.executable, argv, env=dict(os.environ),
                                      childFDs={0: "w", 1: 1, 2: 2, 3: fd})
            self.workers.append(worker)

    def stopService(self):
        super().stopService()
        for worker in self.workers:
            if worker.transport is not None and worker.transport.pid is not None:
                worker.transport.signalProcess("TERM")
        return defer.DeferredList([w.ended for w in self.workers])


def build_service(settings, reactor=None, app=None, processes=None, adopt_fd=None):
    """The web app as a Twisted service: a listener plus the render thread pool, and
    `processes - 1` worker processes on the same socket ([web] PROCESSES when the
    settings have it and were read from a file; 1 otherwise)."""
    if reactor is None:
        from twisted.internet import reactor
    web = settings.web
    app = app or build_app(settings)
    pool = ThreadPool(minthreads=1, maxthreads=max(web.THREADS, 1), name="carbonish-render")
    site = QuietSite(ApiResource(app, pool, reactor, web.REQUEST_TIMEOUT + 1.0),
                     web.MAX_POST_SIZE)
    top = service.MultiService()
    ThreadPoolService(pool).setServiceParent(top)
    if processes is None:
        processes = web.PROCESSES
    workers = processes > 1 and adopt_fd is None and _is_file(settings.path)
    listener = ListeningService(site, web.INTERFACE, web.PORT, reactor, adopt_fd, workers)
    listener.setServiceParent(top)
    if workers:
        WorkerProcesses(listener, settings.path, processes - 1, reactor).setServiceParent(top)
    return top


def _is_file(path):
    return path is not None and os.path.isfile(str(path))


def run(settings, adopt_fd=None, processes=None):
    """Start the web app and the reactor, logging to stdout (as `carbonish web` does)."""
    from twisted.internet import reactor
    from twisted.logger import globalLogBeginner, textFileLogObserver
    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stdout)],
                                     redirectStandardIO=False)
    top = build_service(settings, reactor, processes=processes, adopt_fd=adopt_fd)
    reactor.callWhenRunning(top.startService)
    reactor.addSystemEventTrigger("before", "shutdown", top.stopService)
    reactor.run()


def worker_main(argv):
    """A worker process: `python -m webapp.server --config FILE --fd N`."""
    import argparse
    from carbonish.settings import load_settings
    parser = argparse.ArgumentParser(prog="webapp.server")
    parser.add_argument("--config", required=True)
    parser.add_argument("--fd", type=int, required=True)
    args = parser.parse_args(argv)
    run(load_settings(args.config), adopt_fd=args.fd)
    return 0


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))
