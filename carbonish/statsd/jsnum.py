"""The two JavaScript number rules statsd's behaviour depends on, written for Python.

etsy statsd validates and converts values with JavaScript's `Number(string)` and names
percentile and histogram metrics with JavaScript's number-to-string conversion, so the
same packet gives the same numbers and the same names here only if both rules match:

- `js_number("0x1f")` is 31.0, `js_number(" 5 ")` is 5.0, `js_number("")` is 0.0,
  `js_number("1_0")` and `js_number("inf")` are NaN (Python's `float` disagrees on all).
- `js_number_str(90.0)` is "90", `js_number_str(1e-7)` is "1e-7" (Python says "1e-07").
"""
import math
import re
from decimal import Decimal

# ECMAScript WhiteSpace and LineTerminator: what `\s` and `String.prototype.trim` match.
JS_WHITESPACE = ("\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
                 "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff")

_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*(?:[eE][+-]?[0-9]+)?"
                      r"|\.[0-9]+(?:[eE][+-]?[0-9]+)?|Infinity)\Z")
_RADIX = re.compile(r"0(?:[xX][0-9a-fA-F]+|[oO][0-7]+|[bB][01]+)\Z")
_RADIX_BASE = {"x": 16, "o": 8, "b": 2}


def js_trim(text: str) -> str:
    """`String.prototype.trim`."""
    return text.strip(JS_WHITESPACE)


def js_number(text: str) -> float:
    """JavaScript's `Number(text)` for a string: a float, NaN when JavaScript says NaN."""
    stripped = text.strip(JS_WHITESPACE)
    if not stripped:
        return 0.0
    if _DECIMAL.match(stripped):
        return float(stripped)
    if _RADIX.match(stripped):
        integer = int(stripped[2:], _RADIX_BASE[stripped[1].lower()])
        try:
            return float(integer)
        except OverflowError:
            return math.inf
    return math.nan


def js_is_number(text: str) -> bool:
    """statsd's `isNumber`: a non-empty string that `Number` does not turn into NaN."""
    return bool(text) and not math.isnan(js_number(text))


def js_number_str(value: float) -> str:
    """JavaScript's `String(value)` for a number (ECMAScript Number::toString)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    # repr gives the shortest digits that round-trip, as JavaScript does.
    _, digit_tuple, exponent = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    k = len(digits)
    n = exponent + k  # value = 0.<digits> * 10**n
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e = n - 1
    mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{sign}{mantissa}e{'+' if e > 0 else '-'}{abs(e)}"
