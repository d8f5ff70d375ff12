"""The statsd aggregator: packets in, one flush of Graphite rows out (etsy statsd 0.9).

Pure: no sockets, time from the injected clock (an IReactorTime; `task.Clock` in tests).
`process_packets` takes many datagrams at once; each distinct line is parsed once per
flush interval (parse.py) and its operations applied in arrival order, so gauges and
float sums come out as statsd's. `flush` computes every metric as statsd's
process_metrics.js and graphite backend do, returns `(name, (timestamp, value))` rows
and resets the state as statsd's clear_metrics does.

statsd's own counters `<prefixStats>.packets_received`, `.metrics_received` and
`.bad_lines_seen` live among the counters (so they are flushed as counters, as statsd
does), `<prefixStats>.timestamp_lag` among the gauges.
"""
import math

from carbonish.statsd.parse import COUNTER, GAUGE, SET, TIMER, parse_line
from carbonish.statsd.timers import keep_calculated, threshold_label, timers_metrics

# Counters statsd resets rather than deletes under deleteCounters (a substring test).
_KEPT_COUNTERS = ("packets_received", "metrics_received", "bad_lines_seen")
# Distinct lines remembered between flushes; beyond this the cache starts over.
PARSE_CACHE_LIMIT = 50_000


def _js_round_seconds(seconds: float) -> int:
    """`Math.round(Date.now() / 1000)`."""
    return math.floor(seconds + 0.5)


def _ms(seconds: float) -> int:
    """`Date.now()`: whole milliseconds."""
    return math.floor(seconds * 1000)


class Namer:
    """statsd's graphite backend naming for one configuration (graphite.js `format`)."""

    def __init__(self, config):
        self.suffix = "." + config.global_suffix if config.global_suffix else ""
        self.stats = config.prefix_stats
        self.legacy = config.legacy_namespace
        if self.legacy:
            self.root, self.counters = ["stats"], ["stats"]
            self.timers, self.gauges, self.sets = (
                ["stats", kind] for kind in ("timers", "gauges", "sets"))
            return
        root = [config.global_prefix] if config.global_prefix else []
        self.root = root
        self.counters, self.timers, self.gauges, self.sets = (
            root + ([prefix] if prefix else []) for prefix in (
                config.prefix_counter, config.prefix_timer, config.prefix_gauge,
                config.prefix_set))

    def name(self, namespace, key, *parts) -> str:
        """namespace.key.parts + suffix, statsd tags (`;t=v`) kept at the very end."""
        base, sep, tags = key.partition(";")
        return ".".join([*namespace, base, *parts]) + self.suffix + sep + tags

    def head_tail(self, namespace, key):
        """(head, tail) with name(namespace, key, part) == head + "." + part + tail."""
        base, sep, tags = key.partition(";")
        return ".".join([*namespace, base]), self.suffix + sep + tags

    def counter_names(self, key):
        """(rate name, count name)."""
        if self.legacy:
            return self.name(self.counters, key), self.name(["stats_counts"], key)
        return self.name(self.counters, key, "rate"), self.name(self.counters, key, "count")

    def own(self, *parts) -> str:
        """statsd's own metrics: <global>.<prefixStats>.<parts>."""
        return self.name(self.root, self.stats, *parts)

    def num_stats(self) -> str:
        if self.legacy:
            return self.stats + ".numStats" + self.suffix
        return self.own("numStats")


class StatsdAggregator:
    """Counters, timers, gauges and sets of one flush interval, statsd's way."""

    def __init__(self, config, clock, parse_cache_limit=PARSE_CACHE_LIMIT):
        self.config = config
        self.parse_cache_limit = parse_cache_limit
        self.clock = clock
        self.namer = Namer(config)
        # a threshold listed twice is one set of metrics (statsd's are object keys)
        self.thresholds = tuple((p, threshold_label(p))
                                for p in dict.fromkeys(config.percent_threshold))
        prefix = config.prefix_stats
        self.bad_lines_key = prefix + ".bad_lines_seen"
        self.packets_key = prefix + ".packets_received"
        self.metrics_key = prefix + ".metrics_received"
        self.lag_key = prefix + ".timestamp_lag"
        self.counters = {self.bad_lines_key: 0.0, self.packets_key: 0.0, self.metrics_key: 0.0}
        self.timers = {}
        self.timer_counters = {}
        self.gauges = {}
        self.gauges_ttl = {}
        self.sets = {}
        self.bad_lines_total = 0
        self._delete_gauges = config.deletes("gauges")
        self._parsed = {}
        self._last_flush_ts = 0
        self._last_flush = _js_round_seconds(clock.seconds())  # graphiteStats.last_flush

    # --- ingest -------------------------------------------------------------------
    def process_packet(self, data: bytes) -> None:
        """One datagram (or one TCP chunk): many lines, each maybe many values."""
        self.process_packets([data])

    def process_packets(self, packets) -> None:
        """Many datagrams at once; same result as one process_packet call each."""
        if not packets:
            return
        text = b"\n".join(packets).decode("utf-8", "replace")
        self._count(self.packets_key, len(packets))
        parsed = self._parsed
        if len(parsed) > self.parse_cache_limit:
            parsed.clear()
        counters, timers = self.counters, self.timers
        apply = self._apply
        received = 0
        for line in text.split("\n"):
            if not line:
                continue
            received += 1
            ops = parsed.get(line)
            if ops is None:
                ops = parsed[line] = parse_line(line)
            for kind, key, a, b in ops:   # counters and timers inline: the common cases
                if kind is COUNTER:       # JS `if (!counters[key]) counters[key] = 0`
                    current = counters.get(key)
                    counters[key] = (0.0 if current is None or current != current
                                     else current) + a
                elif kind is TIMER and key in timers:
                    timers[key].append(a)
                    self.timer_counters[key] += b
                else:
                    apply(kind, key, a, b)
        self._count(self.metrics_key, received)

    def _count(self, key, amount):
        """statsd's own counters (`counters[packets_received]++`): always present."""
        self.counters[key] += amount

    def _apply(self, kind, key, a, b):
        """An operation process_packets does not apply inline."""
        if kind is TIMER:
            values = self.timers.get(key)
            if values is None:
                values = self.timers[key] = []
                self.timer_counters[key] = 0.0
            values.append(a)
            self.timer_counters[key] += b
        elif kind is GAUGE:
            self._gauge(key, a, b)
        elif kind is SET:
            members = self.sets.get(key)
            if members is None:
                members = self.sets[key] = set()
            members.add(a)
        else:
            self._count(self.bad_lines_key, 1)
            self.bad_lines_total += 1

    def _gauge(self, key, value, is_delta):
        if self._delete_gauges:
            self.gauges_ttl[key] = self.config.gauges_max_ttl
        current = self.gauges.get(key)
        # statsd adds a signed value only to a truthy gauge (not unset, 0 or NaN)
        if is_delta and current and current == current:
            self.gauges[key] = current + value
        else:
            self.gauges[key] = value

    # --- flush --------------------------------------------------------------------
    def flush(self) -> list:
        """All metrics of the interval as (name, (timestamp, value)) rows; then reset."""
        start = self.clock.seconds()
        ts = _js_round_seconds(start)
        if self._last_flush_ts > 0:
            self.gauges[self.lag_key] = float(ts - self._last_flush_ts
                                              - self.config.flush_interval)
        self._last_flush_ts = ts
        timer_data = self._timer_data()
        processing_ms = _ms(self.clock.seconds()) - _ms(start)
        rows = self._rows(ts, timer_data, processing_ms)
        self._clear()
        self._parsed.clear()
        return rows

    def _histogram_bins(self, key):
        for rule in self.config.histogram:
            if rule.metric in key:
                return rule.bins
        return ()

    def _timer_data(self):
        calculated = self.config.calculated_timer_metrics
        data = timers_metrics(self.timers, self.timer_counters, self.config.flush_interval,
                              self.thresholds, self._histogram_bins)
        return {key: keep_calculated(metrics, calculated) for key, metrics in data.items()}

    def _rows(self, ts, timer_data, processing_ms):
        start = self.clock.seconds()
        namer = self.namer
        interval = self.config.flush_interval
        rows = []
        for key, count in self.counters.items():
            rate_name, count_name = namer.counter_names(key)
            rows.append((rate_name, (ts, count / interval)))
            if self.config.flush_counts:
                rows.append((count_name, (ts, count)))
        for key, metrics in timer_data.items():
            head, tail = namer.head_tail(namer.timers, key)
            head += "."
            rows += [(head + metric + tail, (ts, value)) for metric, value in metrics]
        rows += [(namer.name(namer.gauges, key), (ts, value))
                 for key, value in self.gauges.items()]
        rows += [(namer.name(namer.sets, key, "count"), (ts, float(len(members))))
                 for key, members in self.sets.items()]
        num_stats = (len(self.counters) + len(timer_data) + len(self.gauges)
                     + len(self.sets))
        rows += [(name, (ts, float(value))) for name, value in self._own_rows(
            num_stats, _ms(self.clock.seconds()) - _ms(start), processing_ms)]
        return [row for row in rows if row[1][1] == row[1][1]]  # NaN: carbon drops it

    def _own_rows(self, num_stats, calculation_ms, processing_ms):
        own = self.namer.own
        rows = [(self.namer.num_stats(), num_stats),
                (own("graphiteStats", "calculationtime"), calculation_ms),
                (own("processing_time"), processing_ms),
                (own("graphiteStats", "last_exception"), 0),
                (own("graphiteStats", "last_flush"), self._last_flush)]
        self._last_flush = self._last_flush_ts
        return rows

    def _clear(self):
        config = self.config
        if config.deletes("counters"):
            self.counters = {key: 0.0 for key in self.counters
                             if any(kept in key for kept in _KEPT_COUNTERS)}
        else:
            self.counters = dict.fromkeys(self.counters, 0.0)
        if config.deletes("timers"):
            self.timers, self.timer_counters = {}, {}
        else:
            self.timers = {key: [] for key in self.timers}
            self.timer_counters = dict.fromkeys(self.timers, 0.0)
        self.sets = {} if config.deletes("sets") else {key: set() for key in self.sets}
        if config.deletes("gauges"):
            self._expire_gauges()

    def _expire_gauges(self):
        for key in list(self.gauges_ttl):
            self.gauges_ttl[key] -= 1
            if self.gauges_ttl[key] < 1:
                self.gauges.pop(key, None)
                del self.gauges_ttl[key]
