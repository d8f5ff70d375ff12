"""Graphite's carbonlink framing: a 4-byte big-endian length, then a pickle.

Requests (from graphite-web or carbonish web) are dicts:
  {'type': 'cache-query', 'metric': NAME}                -> {'datapoints': [(ts, value), ...]}
  {'type': 'cache-query-bulk', 'metrics': [NAME, ...]}   -> {'datapointsByMetric': {NAME: [...]}}
  {'type': 'get-metadata', 'metric': NAME, 'key': KEY}   -> {'value': ...} or {'error': ...}
"""
import struct

from carbonish import safe_pickle

LENGTH = struct.Struct("!L")


def frame(obj):
    """One message: length prefix + pickle."""
    payload = safe_pickle.dumps(obj)
    return LENGTH.pack(len(payload)) + payload


class BadRequest(ValueError):
    """A carbonlink request that is not one of the known shapes."""


def parse_request(payload):
    """Decode and check one request; returns (type, request dict)."""
    try:
        request = safe_pickle.loads(payload)
    except safe_pickle.UnsafePickle as exc:
        raise BadRequest(str(exc)) from None
    if not isinstance(request, dict) or not isinstance(request.get("type"), str):
        raise BadRequest("request is not a dict with a 'type'")
    kind = request["type"]
    if kind in ("cache-query", "get-metadata"):
        if not isinstance(request.get("metric"), str):
            raise BadRequest(f"{kind} needs a 'metric' string")
    elif kind == "cache-query-bulk":
        metrics = request.get("metrics")
        if not isinstance(metrics, (list, tuple)) or not all(isinstance(m, str) for m in metrics):
            raise BadRequest("cache-query-bulk needs a 'metrics' list of strings")
    else:
        raise BadRequest(f"unknown request type {kind!r}")
    return kind, request
