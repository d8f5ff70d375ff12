"""HTTP ingest: `POST /metrics` with a batch body, `GET /metrics?path=&value=&timestamp=`.

The body's encoding comes from Content-Type: text/plain (Graphite plaintext; also taken
when no type or a form type is given, as curl sends), text/csv, application/json;
`Content-Encoding: gzip` is inflated up to MAX_BODY_SIZE. The answer is JSON:
{"accepted": N, "rejected": M, "errors": [...]} with 200 when everything was taken,
207 when part was, 400 when nothing was, 413 over the size limit and 503 while the cache
is full (nothing was taken: retry).
"""
import json
import zlib

from twisted.web import resource, server

from carbonish.parse import parse_encoded, points_to_batch

CONTENT_TYPES = {
    b"text/plain": "plain",
    b"application/x-www-form-urlencoded": "plain",
    b"": "plain",
    b"text/csv": "csv",
    b"application/csv": "csv",
    b"application/json": "json",
}


class BodyError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def read_body(request, limit):
    body = request.content.read(limit + 1)
    if len(body) > limit:
        raise BodyError(413, f"body over the {limit}-byte limit")
    encoding = (request.getHeader(b"content-encoding") or b"identity").strip().lower()
    if encoding in (b"gzip", b"x-gzip"):
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            body = inflater.decompress(body, limit + 1)
        except zlib.error as exc:
            raise BodyError(400, f"bad gzip body: {exc}") from None
        if len(body) > limit or inflater.unconsumed_tail:
            raise BodyError(413, f"inflated body over the {limit}-byte limit")
    elif encoding != b"identity":
        raise BodyError(415, f"unsupported Content-Encoding {encoding.decode('latin-1')!r}")
    return body


class MetricsResource(resource.Resource):
    isLeaf = True

    def __init__(self, ingest, max_body_size):
        super().__init__()
        self.ingest = ingest
        self.max_body_size = max_body_size

    def render_POST(self, request):
        if self.ingest.cache.full:
            return self._refuse(request, 503, "cache is full, retry later")
        content_type = (request.getHeader(b"content-type") or b"").split(b";")[0].strip().lower()
        encoding = CONTENT_TYPES.get(content_type)
        if encoding is None:
            return self._refuse(request, 415, f"unsupported Content-Type {content_type.decode('latin-1')!r}"
                                " (text/plain, text/csv, application/json)")
        try:
            body = read_body(request, self.max_body_size)
        except BodyError as exc:
            return self._refuse(request, exc.status, str(exc))
        return self._answer(request, self.ingest.batch(parse_encoded(encoding, body)))

    def render_GET(self, request):
        args = {key.decode("latin-1"): values[0].decode("utf-8", "replace")
                for key, values in request.args.items()}
        if "path" not in args or "value" not in args:
            return self._refuse(request, 400, "GET /metrics needs path and value (and timestamp)")
        if self.ingest.cache.full:
            return self._refuse(request, 503, "cache is full, retry later")
        row = (args["path"], (args.get("timestamp", -1), args["value"]))
        return self._answer(request, self.ingest.batch(points_to_batch([row])))

    def _answer(self, request, result):
        if not result.rejected:
            status = 200
        else:
            status = 207 if result.accepted else 400
        return self._json(request, status, {"accepted": result.accepted, "rejected": result.rejected,
                                            "errors": result.errors})

    def _refuse(self, request, status, message):
        return self._json(request, status, {"accepted": 0, "rejected": 0, "errors": [message]})

    @staticmethod
    def _json(request, status, document):
        request.setResponseCode(status)
        request.setHeader(b"content-type", b"application/json")
        return json.dumps(document).encode() + b"\n"


class QuietSite(server.Site):
    """No access log line per request: ingest traffic is counted, not logged."""

    noisy = False

    def log(self, request):
        pass


def build_site(ingest, max_body_size):
    root = resource.Resource()
    root.putChild(b"metrics", MetricsResource(ingest, max_body_size))
    return QuietSite(root)
