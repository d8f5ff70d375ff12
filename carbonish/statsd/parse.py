"""One statsd line -> the operations it asks of the aggregator (etsy statsd 0.9 rules).

A line is `name[:value|type[|@rate]]...[|#tag,tag:v]`; each `:`-separated value is one
operation. The rules, as statsd 0.9's `stats.js` and `lib/helpers.js` apply them:

- tags after `|#` join the name as `;tag` (`:` -> `=`, `;` -> `_`, first of each only);
- the name is sanitised: whitespace runs -> `_`, `/` -> `-`, then anything but
  `[a-zA-Z0-9_.;=-]` is dropped; a line with no value at all means `name:1`;
- a value without a type, a sample rate that is not `@<non-negative number>`, a
  non-numeric value (`g`, `ms`, and every other type; `s` takes anything) or a negative
  `ms` value is one bad line; the other values of the line still count;
- the type is matched after trimming whitespace: `ms` timer, `g` gauge, `s` set, and
  *anything else with a numeric value is a counter* (`x`, `C`, empty);
- numbers are read with JavaScript's `Number` (jsnum.py): `0x10`, ` 5`, `1e3` are valid.

Operations are plain tuples `(kind, key, a, b)` so a packet costs no objects:
counter (COUNTER, key, increment, _), timer (TIMER, key, value, count_increment),
gauge (GAUGE, key, value, is_delta), set (SET, key, member, _), bad line (BAD, ...).
"""
import math
import re

from carbonish.statsd.jsnum import JS_WHITESPACE, js_is_number, js_number, js_trim

COUNTER = "c"
TIMER = "ms"
GAUGE = "g"
SET = "s"
BAD = "bad"
BAD_OP = (BAD, "", 0.0, 0.0)

_WHITESPACE_RUN = re.compile(f"[{re.escape(JS_WHITESPACE)}]+")
_NOT_NAME_CHAR = re.compile(r"[^a-zA-Z_\-0-9.;=]")
_RATE_DIGITS = re.compile(r"@([0-9.]+)")
# The everyday line, for which every rule above reduces to float(): a clean name, one
# unsigned decimal value, a known type, maybe a plain rate. Anything else takes the
# general path.
_SIMPLE = re.compile(r"([a-zA-Z0-9_.\-]*):([0-9]+(?:\.[0-9]+)?)\|(c|ms|g|s)"
                     r"(?:\|@([0-9]*\.?[0-9]+))?")


def sanitize_key(key: str) -> str:
    """statsd's key sanitising: `a b/c!` -> `a_b-c`."""
    key = _WHITESPACE_RUN.sub("_", key).replace("/", "-")
    return _NOT_NAME_CHAR.sub("", key)


def _tagged_key(key: str, tags: str) -> str:
    if not tags:
        return key
    cleaned = (tag.replace(";", "_", 1).replace(":", "=", 1) for tag in tags.split(","))
    return key + ";" + ";".join(cleaned)


def parse_line(line: str) -> tuple:
    """All operations of one non-empty line, in order (bad values as BAD_OP)."""
    simple = _SIMPLE.fullmatch(line)
    if simple is not None:
        return (_simple_op(*simple.groups()),)
    parts = line.split("|#")
    bits = parts[0].split(":")
    key = sanitize_key(_tagged_key(bits[0], parts[1] if len(parts) > 1 else ""))
    values = bits[1:] or ["1"]
    return tuple(parse_value(key, text) for text in values)


def _simple_op(key, value_text, kind, rate_text):
    if kind == SET:
        return (SET, key, value_text, 0.0)
    value = float(value_text)
    if kind == GAUGE:
        return (GAUGE, key, value, False)
    inverse = 1.0 if rate_text is None else _inverse(float(rate_text))
    if kind == TIMER:
        return (TIMER, key, value, inverse)
    return (COUNTER, key, value * inverse, 0.0)


def _valid_value(raw_type: str, text: str) -> bool:
    if raw_type == SET:
        return True
    if raw_type == TIMER:
        return js_is_number(text) and js_number(text) >= 0
    return js_is_number(text)


def _sample_rate(field: str) -> float | None:
    """The rate of a `@rate` field, None when statsd rejects it (or would throw on it)."""
    if len(field) < 2 or field[0] != "@":
        return None
    number = field[1:]
    if not js_is_number(number) or number[0] == "-":
        return None
    digits = _RATE_DIGITS.match(field)
    if digits is None:  # statsd throws a TypeError here and loses the packet's rest
        return None
    return js_number(digits.group(1))


def _inverse(rate: float) -> float:
    return 1.0 / rate if rate else math.inf


def parse_value(key: str, text: str) -> tuple:
    """One `value|type[|@rate]` of `key` -> an operation."""
    fields = text.split("|")
    if len(fields) < 2:
        return BAD_OP
    rate = 1.0
    if len(fields) > 2:
        rate = _sample_rate(fields[2])
        if rate is None:
            return BAD_OP
    value_text, raw_type = fields[0], fields[1]
    if not _valid_value(raw_type, value_text):
        return BAD_OP
    kind = js_trim(raw_type)
    if kind == SET:
        return (SET, key, value_text or "0", 0.0)
    value = js_number(value_text)
    if kind == TIMER:
        return (TIMER, key, value, _inverse(rate))
    if kind == GAUGE:
        return (GAUGE, key, value, value_text[:1] in ("+", "-"))
    return (COUNTER, key, value * _inverse(rate), 0.0)
