"""The carbonlink server: graphite-web (or carbonish web) asks for points not yet on disk.

Requests and answers are length-prefixed pickles (carbonlink.py). The length limit is
checked before anything is read; a bad request gets {'error': reason}, never a traceback.
"""
from twisted.internet.protocol import Factory
from twisted.protocols.basic import Int32StringReceiver

from carbonish import carbonlink, names, whisper


class CacheQueryProtocol(Int32StringReceiver):
    def connectionMade(self):
        self.MAX_LENGTH = self.factory.max_length

    def stringReceived(self, data):
        self.sendString(carbonlink.frame(self.factory.answer(data))[4:])

    def lengthLimitExceeded(self, length):
        self.factory.bad(f"request of {length} bytes is over the {self.MAX_LENGTH} limit")
        self.transport.loseConnection()


class CacheQueryFactory(Factory):
    protocol = CacheQueryProtocol
    noisy = False

    def __init__(self, cache, counters, log, data_dir, max_length=2 ** 20):
        self.cache = cache
        self.counters = counters
        self.log = log
        self.data_dir = data_dir
        self.max_length = max_length

    def answer(self, payload):
        try:
            kind, request = carbonlink.parse_request(payload)
        except carbonlink.BadRequest as exc:
            self.bad(str(exc))
            return {"error": str(exc)}
        self.counters.increment("cache.queries")
        if kind == "cache-query":
            return {"datapoints": self.cache.query(request["metric"])}
        if kind == "cache-query-bulk":
            return {"datapointsByMetric": {name: self.cache.query(name)
                                           for name in request["metrics"]}}
        return self._metadata(request)

    def _metadata(self, request):
        """carbon answers only 'aggregationMethod', read from the metric's file."""
        if request.get("key") != "aggregationMethod":
            return {"error": f"unsupported metadata key {request.get('key')!r}"}
        try:
            path = names.name_to_path(self.data_dir, request["metric"])
            header = whisper.info(str(path))
        except (names.InvalidMetricName, whisper.WhisperException) as exc:
            return {"error": str(exc)}
        if header is None:  # whisper's info says None for a file it cannot open
            return {"error": f"no file for metric {request['metric']!r}"}
        return {"value": header["aggregationMethod"]}

    def bad(self, reason):
        self.counters.increment("errors")
        self.log.error("badCacheQueries", reason)
