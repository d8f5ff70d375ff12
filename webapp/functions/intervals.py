"""Graphite's time offsets ('-1d', '5min', '1h30min', '2w'): graphite-web's parseTimeOffset,
returning whole seconds. Units by prefix: s, min, h, d, w, mon (30 days), y (365 days)."""

UNIT_SECONDS = (("s", 1), ("min", 60), ("h", 3600), ("d", 86400), ("w", 604800),
                ("mon", 30 * 86400), ("y", 365 * 86400))


class InvalidInterval(ValueError):
    """A time offset graphite's parseTimeOffset rejects."""

    def __init__(self, text, reason):
        super().__init__(f"invalid interval {text!r}: {reason}")
        self.text = text


def unit_seconds(text, unit):
    """Seconds in one unit word, matched by prefix as graphite's getUnitString."""
    for prefix, seconds in UNIT_SECONDS:
        if unit.startswith(prefix):
            return seconds
    raise InvalidInterval(text, f"unknown unit {unit!r}")


def _take(text, predicate):
    count = 0
    while count < len(text) and predicate(text[:count + 1]):
        count += 1
    return text[:count], text[count:]


def parse_interval(text):
    """Signed whole seconds of a graphite time offset; '' is 0. Raises InvalidInterval."""
    if not isinstance(text, str):
        raise InvalidInterval(text, "not a string")
    if not text:
        return 0
    rest = text
    sign = 1
    if not rest[0].isdigit():
        if rest[0] not in "+-":
            raise InvalidInterval(text, f"invalid sign {rest[0]!r}")
        sign = -1 if rest[0] == "-" else 1
        rest = rest[1:]
    total = 0
    while rest:
        digits, rest = _take(rest, str.isdigit)
        if not digits:
            raise InvalidInterval(text, "a number is missing")
        unit, rest = _take(rest, str.isalpha)
        total += sign * int(digits) * unit_seconds(text, unit)
    return total
