"""Graphite's time offsets ('-1d', '5min', '1h30min', '2w') as whole seconds, for the
functions' interval arguments: webapp.attime's parse_time_offset (the one parser) with
the error functions raise."""
from webapp.attime import parse_time_offset
from webapp.errors import InputError


class InvalidInterval(ValueError):
    """A time offset graphite's parseTimeOffset rejects."""

    def __init__(self, text, reason):
        super().__init__(f"invalid interval {text!r}: {reason}")
        self.text = text


def parse_interval(text):
    """Signed whole seconds of a graphite time offset; '' is 0. Raises InvalidInterval."""
    if not isinstance(text, str):
        raise InvalidInterval(text, "not a string")
    if not text:
        return 0
    try:
        offset = parse_time_offset(text)
    except InputError as exc:
        raise InvalidInterval(text, str(exc)) from None
    return int(offset.total_seconds())
