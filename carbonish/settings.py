"""carbon.conf: one table of keys, parsed into one typed, immutable Settings object.

Graphite's section and key names are kept where Graphite has them (`[cache]`), our own
sections add what Graphite lacks (`[statsd]`, `[http]`, `[zeromq]`, `[web]`). A user's
existing carbon.conf works as it is: Graphite keys carbonish does not use are accepted
silently, unknown keys warn, and an invalid value stops start-up with a message naming
the file, line and key. Relative paths are taken relative to the config file's folder.
"""
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable


class ConfigError(ValueError):
    """An invalid value in a config file: names the file, line and key."""

    def __init__(self, path, line, key, message):
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {key}: {message}")
        self.path = path
        self.line = line
        self.key = key


# --- value parsers: text -> typed value, ValueError with the rule on bad input ----------

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def parse_bool(text):
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"expected a boolean (true/false), got {text!r}")


def parse_int(text):
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"expected an integer, got {text!r}") from None


def parse_port(text):
    port = parse_int(text)
    if not 0 <= port <= 65535:
        raise ValueError(f"expected a port 0-65535, got {text!r}")
    return port


def parse_float(text):
    """A number; `inf` is allowed (carbon's way of saying 'no limit')."""
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError(f"expected a number or inf, got {text!r}") from None
    if math.isnan(value) or value < 0:
        raise ValueError(f"expected a non-negative number or inf, got {text!r}")
    return value


def parse_str(text):
    return text.strip()


def parse_list(text):
    return tuple(item.strip() for item in text.split(",") if item.strip())


def parse_float_list(text):
    try:
        return tuple(float(item) for item in parse_list(text))
    except ValueError:
        raise ValueError(f"expected a comma-separated list of numbers, got {text!r}") from None


def parse_json(text):
    try:
        return json.loads(text) if text.strip() else None
    except ValueError as exc:
        raise ValueError(f"expected JSON: {exc}") from None


def parse_hosts(text):
    """`host:port[:instance]` entries, comma separated -> ((host, port, instance), ...)."""
    hosts = []
    for entry in parse_list(text):
        parts = entry.rsplit(":", 2) if entry.count(":") >= 2 else entry.rsplit(":", 1)
        if len(parts) < 2:
            raise ValueError(f"expected host:port[:instance], got {entry!r}")
        host, port = parts[0], parse_port(parts[1])
        instance = parts[2] if len(parts) == 3 else None
        hosts.append((host, port, instance))
    return tuple(hosts)


def parse_cluster_servers(text):
    """graphite-web's CLUSTER_SERVERS: `host:port` entries, comma separated."""
    servers = parse_list(text)
    for server in servers:
        if not re.fullmatch(r"[\w.\-\[\]:]+:\d+", server):
            raise ValueError(f"expected host:port, got {server!r}")
    return servers


def parse_strategy(text):
    value = text.strip().lower()
    if value not in ("sorted", "max", "naive"):
        raise ValueError(f"expected sorted, max or naive, got {text!r}")
    return value


PATH = "path"  # marker: resolved against the config file's folder after parsing


@dataclass(frozen=True)
class Key:
    section: str
    name: str
    parse: Callable[[str], Any]
    default: Any
    doc: str = ""


# --- the table ---------------------------------------------------------------------------

KEYS = (
    # [cache]: Graphite's names and meanings. Listeners bind to loopback by default.
    Key("cache", "STORAGE_DIR", parse_str, "storage", "root of carbonish's files"),
    Key("cache", "LOCAL_DATA_DIR", parse_str, None, "whisper files; default STORAGE_DIR/whisper"),
    Key("cache", "LOG_DIR", parse_str, None, "log files; default: log to the console"),
    Key("cache", "CONF_DIR", parse_str, None, "storage-schemas.conf etc.; default: config's folder"),
    Key("cache", "WHITELISTS_DIR", parse_str, None, "whitelist.conf/blacklist.conf; default CONF_DIR"),
    Key("cache", "PID_DIR", parse_str, None),
    Key("cache", "MAX_CACHE_SIZE", parse_float, math.inf, "points held before flow control"),
    Key("cache", "CACHE_SIZE_LOW_WATERMARK", parse_float, None, "resume reading below this"),
    Key("cache", "CACHE_BACKLOG_LIMIT", parse_float, 1_000_000,
        "points held before TCP senders are paused (nothing dropped); resume at half (carbonish)"),
    Key("cache", "MAX_UPDATES_PER_SECOND", parse_float, math.inf),
    Key("cache", "MAX_UPDATES_PER_SECOND_ON_SHUTDOWN", parse_float, math.inf),
    Key("cache", "MAX_CREATES_PER_MINUTE", parse_float, math.inf),
    Key("cache", "CACHE_WRITE_STRATEGY", parse_strategy, "sorted"),
    Key("cache", "LINE_RECEIVER_INTERFACE", parse_str, "127.0.0.1"),
    Key("cache", "LINE_RECEIVER_PORT", parse_port, 2003),
    Key("cache", "ENABLE_UDP_LISTENER", parse_bool, False),
    Key("cache", "UDP_RECEIVER_INTERFACE", parse_str, "127.0.0.1"),
    Key("cache", "UDP_RECEIVER_PORT", parse_port, 2003),
    Key("cache", "UDP_RECEIVER_BUFFER_SIZE", parse_int, 8 * 1024 * 1024,
        "SO_RCVBUF of UDP sockets (carbonish)"),
    Key("cache", "PICKLE_RECEIVER_INTERFACE", parse_str, "127.0.0.1"),
    Key("cache", "PICKLE_RECEIVER_PORT", parse_port, 2004),
    Key("cache", "PICKLE_RECEIVER_MAX_LENGTH", parse_int, 2 ** 20),
    Key("cache", "LINE_RECEIVER_MAX_LENGTH", parse_int, 4096,
        "longest plaintext line accepted, bytes (carbonish)"),
    Key("cache", "CACHE_QUERY_INTERFACE", parse_str, "127.0.0.1"),
    Key("cache", "CACHE_QUERY_PORT", parse_port, 7002),
    Key("cache", "CACHE_QUERY_MAX_LENGTH", parse_int, 2 ** 20,
        "largest carbonlink request accepted, bytes (carbonish)"),
    Key("cache", "USE_FLOW_CONTROL", parse_bool, True),
    Key("cache", "USE_WHITELIST", parse_bool, False),
    Key("cache", "WHISPER_AUTOFLUSH", parse_bool, False),
    Key("cache", "WHISPER_SPARSE_CREATE", parse_bool, False),
    Key("cache", "WHISPER_FALLOCATE_CREATE", parse_bool, True),
    Key("cache", "WHISPER_LOCK_WRITES", parse_bool, False),
    Key("cache", "LOG_UPDATES", parse_bool, False),
    Key("cache", "LOG_CREATES", parse_bool, False),
    Key("cache", "LOG_LISTENER_CONNECTIONS", parse_bool, False),
    Key("cache", "CARBON_METRIC_PREFIX", parse_str, "carbon"),
    Key("cache", "CARBON_METRIC_INTERVAL", parse_float, 60.0, "0 disables"),
    Key("cache", "ERROR_LOG_INTERVAL", parse_float, 10.0,
        "seconds between repeated error lines of one kind (carbonish)"),
    # [statsd]
    Key("statsd", "ENABLE", parse_bool, False),
    Key("statsd", "UDP_INTERFACE", parse_str, "127.0.0.1"),
    Key("statsd", "UDP_PORT", parse_port, 8125),
    Key("statsd", "TCP_PORT", parse_port, 0, "0 = off"),
    Key("statsd", "FLUSH_INTERVAL", parse_float, 10.0, "seconds"),
    Key("statsd", "PERCENT_THRESHOLD", parse_float_list, (90.0,)),
    Key("statsd", "LEGACY_NAMESPACE", parse_bool, False),
    Key("statsd", "DELETE_IDLE_STATS", parse_bool, False),
    Key("statsd", "GLOBAL_PREFIX", parse_str, "stats"),
    Key("statsd", "HISTOGRAM", parse_json, None, "statsd's histogram JSON"),
    Key("statsd", "UDP_BUFFER_SIZE", parse_int, 8 * 1024 * 1024, "SO_RCVBUF"),
    Key("statsd", "DELETE_COUNTERS", parse_bool, None, "default: DELETE_IDLE_STATS"),
    Key("statsd", "DELETE_TIMERS", parse_bool, None, "default: DELETE_IDLE_STATS"),
    Key("statsd", "DELETE_GAUGES", parse_bool, None, "default: DELETE_IDLE_STATS"),
    Key("statsd", "DELETE_SETS", parse_bool, None, "default: DELETE_IDLE_STATS"),
    Key("statsd", "GAUGES_MAX_TTL", parse_int, 1),
    Key("statsd", "FLUSH_COUNTS", parse_bool, True),
    Key("statsd", "GLOBAL_SUFFIX", parse_str, ""),
    Key("statsd", "PREFIX_COUNTER", parse_str, "counters"),
    Key("statsd", "PREFIX_TIMER", parse_str, "timers"),
    Key("statsd", "PREFIX_GAUGE", parse_str, "gauges"),
    Key("statsd", "PREFIX_SET", parse_str, "sets"),
    Key("statsd", "PREFIX_STATS", parse_str, "statsd"),
    Key("statsd", "CALCULATED_TIMER_METRICS", parse_list, (), "empty: all timer metrics"),
    # [http]
    Key("http", "ENABLE", parse_bool, True),
    Key("http", "INTERFACE", parse_str, "127.0.0.1"),
    Key("http", "PORT", parse_port, 2006),
    Key("http", "MAX_BODY_SIZE", parse_int, 64 * 1024 * 1024, "bytes, after decompression"),
    # [zeromq]
    Key("zeromq", "ENABLE", parse_bool, False),
    Key("zeromq", "PULL_BIND", parse_str, "tcp://127.0.0.1:2005"),
    Key("zeromq", "REP_BIND", parse_str, "tcp://127.0.0.1:2008"),
    Key("zeromq", "HWM", parse_int, 10000),
    # [web]
    Key("web", "INTERFACE", parse_str, "127.0.0.1"),
    Key("web", "PORT", parse_port, 8080),
    Key("web", "CARBONLINK_HOSTS", parse_hosts, (), "host:port[:instance], empty = files only"),
    Key("web", "CARBONLINK_TIMEOUT", parse_float, 1.0),
    Key("web", "CLUSTER_SERVERS", parse_cluster_servers, ()),
    Key("web", "FIND_TIMEOUT", parse_float, 3.0),
    Key("web", "FETCH_TIMEOUT", parse_float, 6.0),
    Key("web", "REMOTE_RETRY_DELAY", parse_float, 60.0),
    Key("web", "TIME_ZONE", parse_str, "UTC"),
    Key("web", "MAX_TARGETS", parse_int, 100),
    Key("web", "MAX_SERIES", parse_int, 10000),
    Key("web", "MAX_POINTS", parse_int, 10_000_000),
    Key("web", "MAX_DEPTH", parse_int, 40),
    Key("web", "REQUEST_TIMEOUT", parse_float, 30.0),
    Key("web", "THREADS", parse_int, 4, "render worker threads"),
    Key("web", "PROCESSES", parse_int, 1, "processes sharing the web port"),
    Key("web", "MAX_POST_SIZE", parse_int, 1024 * 1024, "bytes of a POST body (413 over it)"),
)

PATH_KEYS = {("cache", k) for k in
             ("STORAGE_DIR", "LOCAL_DATA_DIR", "LOG_DIR", "CONF_DIR", "WHITELISTS_DIR", "PID_DIR")}

# Graphite carbon.conf keys that carbonish accepts without using (no warning).
GRAPHITE_IGNORED = frozenset("""
USER MAX_RECEIVER_CONNECTIONS MIN_TIMESTAMP_RESOLUTION MIN_TIMESTAMP_LAG LOG_CACHE_HITS
LOG_CACHE_QUEUE_SORTS LOG_ROTATION ENABLE_LOGROTATION USE_INSECURE_UNPICKLER WHISPER_FADVISE_RANDOM
ENABLE_AMQP AMQP_VERBOSE AMQP_HOST AMQP_PORT AMQP_VHOST AMQP_USER AMQP_PASSWORD AMQP_EXCHANGE
AMQP_METRIC_NAME_IN_BODY ENABLE_MANHOLE MANHOLE_INTERFACE MANHOLE_PORT MANHOLE_USER
MANHOLE_PUBLIC_KEY ENABLE_TAGS TAG_UPDATE_INTERVAL TAG_BATCH_SIZE TAG_QUEUE_SIZE TAG_HASH_FILENAMES
GRAPHITE_URL CARBON_METRIC_INTERVAL_CACHE TAG_RELAY_NORMALIZED DATABASE CERES_NODE_CACHING_BEHAVIOR
CERES_SLICE_CACHING_BEHAVIOR CERES_MAX_SLICE_GAP CERES_LOCK_WRITES METRIC_CLIENT_IDLE_TIMEOUT
ENABLE_PROTOBUF PROTOBUF_RECEIVER_INTERFACE PROTOBUF_RECEIVER_PORT BIND_PATTERNS
CACHE_METRIC_NAMES_MAX CACHE_METRIC_NAMES_TTL WHISPER_SPARSE ENABLE_LOG_ROTATION LOG_LISTENER_CONN_SUCCESS
""".split())

SECTIONS = ("cache", "statsd", "http", "zeromq", "web")


class Section:
    """One section's typed values as read-only attributes (Graphite's key names)."""

    def __init__(self, name, values):
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_values", dict(values))

    def __getattr__(self, key):
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(f"no setting [{self._name}] {key}") from None

    def __setattr__(self, key, value):
        raise AttributeError("settings are immutable")

    def as_dict(self):
        return dict(self._values)

    def __repr__(self):
        return f"Section({self._name!r}, {self._values!r})"


class Settings:
    """All sections, plus where the file was and what it warned about."""

    def __init__(self, sections, path=None, warnings=()):
        self._sections = sections
        self.path = path
        self.warnings = tuple(warnings)

    def __getattr__(self, name):
        sections = self.__dict__.get("_sections", {})
        if name in sections:
            return sections[name]
        raise AttributeError(name)

    def replace(self, section, **values):
        """A copy with some keys of one section changed (for tests and `carbonish up`)."""
        sections = dict(self._sections)
        merged = sections[section].as_dict()
        unknown = set(values) - set(merged)
        if unknown:
            raise KeyError(f"unknown [{section}] keys: {sorted(unknown)}")
        merged.update(values)
        sections[section] = Section(section, merged)
        return Settings(sections, self.path, self.warnings)


def read_ini(text, path):
    """Yield (line_number, section, key, value) from INI text; keys are case-kept."""
    section = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise ConfigError(path, number, line, "unterminated section header")
            section = line[1:-1].strip()
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ConfigError(path, number, line, "expected KEY = VALUE")
        if section is None:
            raise ConfigError(path, number, key.strip(), "key outside any [section]")
        yield number, section, key.strip(), value.strip()


def parse_settings(text, path="<string>", base_dir=None):
    """Parse carbon.conf text into Settings; raises ConfigError on an invalid value."""
    table = {(k.section, k.name): k for k in KEYS}
    values = {section: {} for section in SECTIONS}
    for key in KEYS:
        values[key.section][key.name] = key.default
    warnings = []
    for number, section_name, name, raw in read_ini(text, path):
        section = section_name.split(":", 1)[0].lower()
        if section not in SECTIONS:
            continue  # [relay], [aggregator], [cache:b] ... belong to other Graphite programs
        key = table.get((section, name.upper()))
        if key is None:
            if name.upper() not in GRAPHITE_IGNORED:
                warnings.append(f"{path}:{number}: unknown key [{section_name}] {name}, ignored")
            continue
        try:
            values[section][key.name] = key.parse(raw)
        except ValueError as exc:
            raise ConfigError(path, number, f"[{section_name}] {name}", str(exc)) from None
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    _resolve_paths(values["cache"], base)
    cache = values["cache"]
    if cache["CACHE_SIZE_LOW_WATERMARK"] is None:
        cache["CACHE_SIZE_LOW_WATERMARK"] = cache["MAX_CACHE_SIZE"] * 0.95
    sections = {name: Section(name, section) for name, section in values.items()}
    return Settings(sections, path, warnings)


def _resolve_paths(cache, base):
    def resolve(value):
        return (base / value).resolve() if value is not None else None

    cache["STORAGE_DIR"] = resolve(cache["STORAGE_DIR"])
    cache["CONF_DIR"] = resolve(cache["CONF_DIR"]) if cache["CONF_DIR"] else base.resolve()
    cache["LOCAL_DATA_DIR"] = (resolve(cache["LOCAL_DATA_DIR"]) if cache["LOCAL_DATA_DIR"]
                               else cache["STORAGE_DIR"] / "whisper")
    cache["WHITELISTS_DIR"] = (resolve(cache["WHITELISTS_DIR"]) if cache["WHITELISTS_DIR"]
                               else cache["CONF_DIR"])
    for key in ("LOG_DIR", "PID_DIR"):
        cache[key] = resolve(cache[key])


def load_settings(path=None):
    """Read carbon.conf at `path` (None: all defaults, relative to the current folder)."""
    if path is None:
        return parse_settings("", "<defaults>")
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(path, None, "file", f"cannot read: {exc.strerror}") from None
    return parse_settings(text, str(path), path.resolve().parent)
