"""The `[statsd]` section as one immutable value: what the aggregator and listeners need.

Field names are the carbon.conf keys in lower case; each default is etsy statsd 0.9's
except `legacy_namespace` (carbonish names counters `stats.counters.<name>.rate/.count`).
statsd's millisecond `flushInterval` is FLUSH_INTERVAL in seconds here.
"""
import json
import math
from dataclasses import dataclass, field


class StatsdConfigError(ValueError):
    """A `[statsd]` value statsd would not accept; carries the key and the value."""

    def __init__(self, key, value, rule):
        super().__init__(f"[statsd] {key} = {value!r}: {rule}")
        self.key = key
        self.value = value
        self.rule = rule


@dataclass(frozen=True)
class HistogramRule:
    """One entry of statsd's `histogram` list: timers whose name contains `metric`."""
    metric: str
    bins: tuple  # floats, math.inf for statsd's 'inf'


@dataclass(frozen=True)
class StatsdConfig:
    enable: bool = False
    udp_interface: str = "127.0.0.1"
    udp_port: int = 8125
    tcp_port: int = 0                      # 0 = no TCP listener
    udp_buffer_size: int = 8 * 1024 * 1024  # SO_RCVBUF asked of the kernel, bytes
    flush_interval: float = 10.0           # seconds
    percent_threshold: tuple = (90.0,)
    legacy_namespace: bool = False
    delete_idle_stats: bool = False
    delete_counters: bool | None = None    # None: follow delete_idle_stats
    delete_timers: bool | None = None
    delete_gauges: bool | None = None
    delete_sets: bool | None = None
    gauges_max_ttl: int = 1
    flush_counts: bool = True
    global_prefix: str = "stats"
    global_suffix: str = ""
    prefix_counter: str = "counters"
    prefix_timer: str = "timers"
    prefix_gauge: str = "gauges"
    prefix_set: str = "sets"
    prefix_stats: str = "statsd"
    histogram: tuple = field(default=())   # of HistogramRule
    calculated_timer_metrics: tuple = ()   # empty: every timer metric

    def __post_init__(self):
        if not (self.flush_interval > 0 and math.isfinite(self.flush_interval)):
            raise StatsdConfigError("FLUSH_INTERVAL", self.flush_interval,
                                    "must be a positive number of seconds")
        if self.gauges_max_ttl < 1:
            raise StatsdConfigError("GAUGES_MAX_TTL", self.gauges_max_ttl,
                                    "must be an integer >= 1")
        for pct in self.percent_threshold:
            if not (math.isfinite(pct) and pct != 0 and -100 <= pct <= 100):
                raise StatsdConfigError("PERCENT_THRESHOLD", self.percent_threshold,
                                        "each threshold must be in [-100, 100] and not 0")

    def deletes(self, kind: str) -> bool:
        """statsd's deleteCounters/deleteTimers/deleteGauges/deleteSets after defaulting."""
        explicit = getattr(self, "delete_" + kind)
        return self.delete_idle_stats if explicit is None else explicit


def parse_percent_threshold(text: str) -> tuple:
    """`90,99.9,-10` -> (90.0, 99.9, -10.0)."""
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise StatsdConfigError("PERCENT_THRESHOLD", text,
                                "must be a comma-separated list of numbers") from None


def parse_histogram(text: str) -> tuple:
    """statsd's histogram JSON (`[{"metric": "render", "bins": [0.01, 1, "inf"]}]`)."""
    try:
        entries = json.loads(text) if text.strip() else []
    except json.JSONDecodeError as exc:
        raise StatsdConfigError("HISTOGRAM", text, f"is not JSON ({exc.msg})") from None
    return histogram_rules(entries)


def histogram_rules(entries) -> tuple:
    """statsd's histogram list, already decoded from JSON -> HistogramRules."""
    if not isinstance(entries, list):
        raise StatsdConfigError("HISTOGRAM", entries, "must be a JSON list")
    return tuple(_histogram_rule(entries, entry) for entry in entries)


def _histogram_rule(text, entry) -> HistogramRule:
    if (not isinstance(entry, dict) or not isinstance(entry.get("metric"), str)
            or not isinstance(entry.get("bins"), list)):
        raise StatsdConfigError("HISTOGRAM", text,
                                'each entry must be {"metric": string, "bins": list}')
    return HistogramRule(entry["metric"], tuple(_bin(text, b) for b in entry["bins"]))


def _bin(text, bound) -> float:
    if bound == "inf":
        return math.inf
    if isinstance(bound, bool) or not isinstance(bound, (int, float)):
        raise StatsdConfigError("HISTOGRAM", text, f"bin {bound!r} is not a number or 'inf'")
    return float(bound)


def parse_names(text: str) -> tuple:
    """`count, median,upper_percent` -> ('count', 'median', 'upper_percent')."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def config_from_settings(values) -> StatsdConfig:
    """StatsdConfig from the `[statsd]` section's values (a mapping of KEY -> typed value).

    Keys are the field names upper-cased; unknown keys and None (unset) are left to the
    defaults. HISTOGRAM may be the JSON text or its decoded list, PERCENT_THRESHOLD and
    CALCULATED_TIMER_METRICS a comma list or a sequence.
    """
    names = set(StatsdConfig.__dataclass_fields__)
    kwargs = {key.lower(): value for key, value in values.items()
              if key.lower() in names and value is not None}
    histogram = kwargs.get("histogram")
    if isinstance(histogram, str):
        kwargs["histogram"] = parse_histogram(histogram)
    elif histogram is not None and not isinstance(histogram, tuple):
        kwargs["histogram"] = histogram_rules(histogram)
    thresholds = kwargs.get("percent_threshold")
    if isinstance(thresholds, str):
        kwargs["percent_threshold"] = parse_percent_threshold(thresholds)
    elif thresholds is not None:
        kwargs["percent_threshold"] = tuple(float(p) for p in thresholds)
    calculated = kwargs.get("calculated_timer_metrics")
    if isinstance(calculated, str):
        kwargs["calculated_timer_metrics"] = parse_names(calculated)
    elif calculated is not None:
        kwargs["calculated_timer_metrics"] = tuple(calculated)
    return StatsdConfig(**kwargs)
