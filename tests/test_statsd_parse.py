"""statsd line parsing, JavaScript number rules and the [statsd] config values."""
import math

import pytest

from carbonish.statsd.config import (HistogramRule, StatsdConfig, StatsdConfigError,
                                     parse_histogram, parse_names, parse_percent_threshold)
from carbonish.statsd.jsnum import js_is_number, js_number, js_number_str, js_trim
from carbonish.statsd.parse import (BAD_OP, COUNTER, GAUGE, SET, TIMER, parse_line,
                                    sanitize_key)

INF = math.inf


@pytest.mark.parametrize("text, expected", [
    ("1", 1.0), ("-2.5", -2.5), ("+3", 3.0), (".5", 0.5), ("5.", 5.0), ("1e3", 1000.0),
    ("1E-2", 0.01), (" 7 ", 7.0), ("\u00a08\t", 8.0), ("", 0.0), ("   ", 0.0),
    ("0x10", 16.0), ("0X1f", 31.0), ("0b101", 5.0), ("0o17", 15.0),
    ("Infinity", INF), ("-Infinity", -INF), ("1e400", INF), ("0x" + "f" * 300, INF),
])
def test_js_number_values(text, expected):
    assert js_number(text) == expected


@pytest.mark.parametrize("text", ["abc", "1_000", "inf", "nan", "NaN", "1,5", "1.2.3",
                                  "-0x10", "0x", "12abc", "١٢", "infinity", "e5", "."])
def test_js_number_nan(text):
    assert math.isnan(js_number(text))


def test_js_is_number_needs_a_non_empty_numeric_string():
    assert js_is_number("0") and js_is_number(" ") and js_is_number("0x1")
    assert not js_is_number("") and not js_is_number("x")


@pytest.mark.parametrize("value, expected", [
    (90.0, "90"), (99.9, "99.9"), (-10.0, "-10"), (0.5, "0.5"), (2.5, "2.5"), (0.0, "0"),
    (1e-7, "1e-7"), (0.000001, "0.000001"), (1e21, "1e+21"), (1.5e22, "1.5e+22"),
    (123456789012345680000.0, "123456789012345680000"), (0.1 + 0.2, "0.30000000000000004"),
    (INF, "Infinity"), (-INF, "-Infinity"), (math.nan, "NaN"), (-1.25e-9, "-1.25e-9"),
])
def test_js_number_str(value, expected):
    assert js_number_str(value) == expected


def test_js_trim_uses_javascript_whitespace():
    assert js_trim("\ufeff ms\u3000") == "ms"
    assert js_trim("\x1cms") == "\x1cms"  # Python's isspace() would strip it


@pytest.mark.parametrize("raw, clean", [
    ("gorets", "gorets"), ("a b", "a_b"), ("a \t b", "a_b"), ("a/b", "a-b"),
    ("a!b@c#d", "abcd"), ("é.x", ".x"), ("a\u00a0b", "a_b"), ("k;t=v", "k;t=v"),
    ("A-Z_0.9", "A-Z_0.9"),
])
def test_sanitize_key(raw, clean):
    assert sanitize_key(raw) == clean


@pytest.mark.parametrize("line, ops", [
    # the documented examples (docs/metric_types.md)
    ("gorets:1|c", [(COUNTER, "gorets", 1.0, 0.0)]),
    ("gorets:1|c|@0.1", [(COUNTER, "gorets", 10.0, 0.0)]),
    ("glork:320|ms|@0.1", [(TIMER, "glork", 320.0, 10.0)]),
    ("gaugor:333|g", [(GAUGE, "gaugor", 333.0, False)]),
    ("gaugor:-10|g", [(GAUGE, "gaugor", -10.0, True)]),
    ("gaugor:+4|g", [(GAUGE, "gaugor", 4.0, True)]),
    ("uniques:765|s", [(SET, "uniques", "765", 0.0)]),
    # several values, no value, odd values
    ("a:1|c:2|ms", [(COUNTER, "a", 1.0, 0.0), (TIMER, "a", 2.0, 1.0)]),
    ("novalue", [BAD_OP]),
    ("a:1", [BAD_OP]),
    ("a:1|c:x|c:3|c", [(COUNTER, "a", 1.0, 0.0), BAD_OP, (COUNTER, "a", 3.0, 0.0)]),
    ("a:x|c", [BAD_OP]), ("a:|c", [BAD_OP]), ("a:x|g", [BAD_OP]),
    ("a:-1|ms", [BAD_OP]), ("a:x|ms", [BAD_OP]),
    ("a:-1| ms", [(TIMER, "a", -1.0, 1.0)]),     # validated as unknown type, then trimmed
    ("a:1|x", [(COUNTER, "a", 1.0, 0.0)]),      # unknown types are counters in statsd
    ("a:1|", [(COUNTER, "a", 1.0, 0.0)]),
    ("a:1|c\r", [(COUNTER, "a", 1.0, 0.0)]),
    ("a:0x10|c", [(COUNTER, "a", 16.0, 0.0)]),
    ("a: 7 |c", [(COUNTER, "a", 7.0, 0.0)]),
    ("a: -7|g", [(GAUGE, "a", -7.0, False)]),   # the sign must be the first character
    ("a:|s", [(SET, "a", "0", 0.0)]),
    ("a:x y|s", [(SET, "a", "x y", 0.0)]),
    ("a:1e1|ms|@0.5", [(TIMER, "a", 10.0, 2.0)]),
    # sample rates
    ("a:2|c|@.5", [(COUNTER, "a", 4.0, 0.0)]),
    ("a:1|c|@1e-1", [(COUNTER, "a", 1.0, 0.0)]),  # statsd reads only the digits: @1
    ("a:1|c|@0", [(COUNTER, "a", INF, 0.0)]),
    ("a:1|c|@0.5|extra", [(COUNTER, "a", 2.0, 0.0)]),
    ("a:1|c|", [BAD_OP]), ("a:1|c|@", [BAD_OP]), ("a:1|c|0.5", [BAD_OP]),
    ("a:1|c|@x", [BAD_OP]), ("a:1|c|@-1", [BAD_OP]), ("a:1|c|@+0.5", [BAD_OP]),
    ("a:1|s|@x", [BAD_OP]),
    # tags
    ("a:1|c|#env:prod,role", [(COUNTER, "a;env=prod;role", 1.0, 0.0)]),
    # first ';' -> '_', first ':' -> '=', a later ':' is sanitised away
    ("a:1|c|#x;y:z:w", [(COUNTER, "a;x_y=zw", 1.0, 0.0)]),
    ("a:1|c|#", [(COUNTER, "a", 1.0, 0.0)]),
    # names
    ("a b/c!:1|c", [(COUNTER, "a_b-c", 1.0, 0.0)]),
    (":1|c", [(COUNTER, "", 1.0, 0.0)]),
])
def test_parse_line(line, ops):
    assert list(parse_line(line)) == ops


def test_parse_line_fast_and_general_paths_agree():
    for line in ["k.x:12.5|ms|@0.25", "k:3|g", "k:7|s", "k-y_z:2|c|@0.5", "k:5|c|@2"]:
        general = parse_line(line + "|#")  # the tag marker forces the general path
        assert parse_line(line) == general


def test_config_defaults_and_deletes():
    config = StatsdConfig()
    assert config.flush_interval == 10.0 and config.percent_threshold == (90.0,)
    assert not config.deletes("counters")
    idle = StatsdConfig(delete_idle_stats=True, delete_gauges=False)
    assert idle.deletes("counters") and idle.deletes("sets") and not idle.deletes("gauges")
    assert StatsdConfig(delete_timers=True).deletes("timers")


@pytest.mark.parametrize("kwargs, key", [
    ({"flush_interval": 0}, "FLUSH_INTERVAL"), ({"flush_interval": INF}, "FLUSH_INTERVAL"),
    ({"gauges_max_ttl": 0}, "GAUGES_MAX_TTL"),
    ({"percent_threshold": (0.0,)}, "PERCENT_THRESHOLD"),
    ({"percent_threshold": (101.0,)}, "PERCENT_THRESHOLD"),
])
def test_config_rejects(kwargs, key):
    with pytest.raises(StatsdConfigError) as caught:
        StatsdConfig(**kwargs)
    assert caught.value.key == key and key in str(caught.value)


def test_parse_percent_threshold():
    assert parse_percent_threshold("90, 99.9,-10") == (90.0, 99.9, -10.0)
    with pytest.raises(StatsdConfigError, match="PERCENT_THRESHOLD"):
        parse_percent_threshold("90,x")


def test_parse_histogram():
    text = '[{"metric": "foo", "bins": []}, {"metric": "", "bins": [0.5, 10, "inf"]}]'
    assert parse_histogram(text) == (HistogramRule("foo", ()),
                                     HistogramRule("", (0.5, 10.0, INF)))
    assert parse_histogram("") == ()


@pytest.mark.parametrize("text, why", [
    ("[", "not JSON"), ('{"metric": "a"}', "JSON list"),
    ('[{"metric": 1, "bins": []}]', "each entry"),
    ('[{"metric": "a"}]', "each entry"), ('[{"metric": "a", "bins": ["x"]}]', "bin 'x'"),
    ('[{"metric": "a", "bins": [true]}]', "bin True"),
])
def test_parse_histogram_rejects(text, why):
    with pytest.raises(StatsdConfigError, match=why):
        parse_histogram(text)


def test_parse_names():
    assert parse_names(" count, median,,upper_percent ") == ("count", "median", "upper_percent")
