"""Graphite's at-time grammar: `from`, `until` and `now` of a render request.

Semantics are graphite-web 1.1.10's `render/attime.py` (parseATTime) with its quirks, which
dashboards depend on, rewritten over zoneinfo:

- The text is stripped, lower-cased, and '_', ',' and ' ' are removed: `8am_tomorrow` is
  `8amtomorrow`, `Jan 1, 2024`-ish spellings collapse the same way.
- All digits: an epoch timestamp, unless it is 8 digits that look like YYYYMMDD (year > 1900,
  month < 13, day < 32).
- Otherwise it splits at the first '+' (else the first '-') into a reference and an offset:
  `now-1d`, `midnight+6h`, `-2w` (empty reference = now).
- Reference: `now` (exact), else a time of day (`HH:MM`, `HH:MM[am|pm]`, `Xam`, `XXpm`, `noon`,
  `midnight`, `teatime`; 00:00 when absent, seconds dropped) then a day (`yesterday`, `today`,
  `tomorrow`, `MM/DD/YY[YY]`, `YYYYMMDD`, a month name with its day `jan1`, or a weekday name,
  which means the most recent such day, today included). `pm` adds 12 modulo 24, so `12pm` is
  00:00 and `12am` is 12:00, exactly as graphite computes them.
- Offset: `[+-]` then one or more `<number><unit>`; the sign applies to all of them. Units by
  prefix: s* seconds, min* minutes, h* hours, d* days, w* weeks, mon* 30 days, y* 365 days.
- Wall-clock references are localized as pytz's `localize(is_dst=False)` does (a time that
  occurs twice is the later one, one in a spring-forward gap uses the offset from before the
  gap); the offset is then added in absolute time (pytz `normalize`), so `-1d` across a DST
  change is 24 hours, not one calendar day.

The result is the instant with tz's wall-clock time and offset, and, like the pytz datetime
graphite-web returns, a fixed-offset tzinfo (`datetime.timezone(offset, 'CET')`): arithmetic
on it (`start_time + timedelta(days=7)`, `end - start`, comparisons) is absolute time, as it
is for graphite's functions. Convert with `.astimezone(tz)` to step through the zone.
"""
import os
import zoneinfo
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from webapp.errors import InputError

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_UNIT_PREFIXES = (   # order matters, as in graphite's getUnitString
    ("s", "seconds"), ("min", "minutes"), ("h", "hours"), ("d", "days"), ("w", "weeks"),
    ("mon", "months"), ("y", "years"),
)
_DAYS_PER_UNIT = {"months": 30, "years": 365}
_MAX_TEXT = 200


class InvalidTime(InputError):
    """A from/until/now/offset text that graphite's at-time grammar does not accept."""

    def __init__(self, text, reason):
        self.text = text
        self.reason = reason
        shown = text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + "..."
        super().__init__(f"invalid time {shown!r}: {reason}")


def parse_tz(name, default):
    """The zone called `name` (IANA name, e.g. 'Europe/Berlin'); `default` if name is empty.

    Names are matched case-insensitively, as pytz (graphite-web's) does: 'utc',
    'europe/berlin'. Unlike graphite-web, which silently falls back to its TIME_ZONE, an
    unknown name is an InputError."""
    if not name:
        return default
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as error:
        canonical = _zone_name_ignoring_case(name)
        try:
            if canonical is not None and canonical != name:
                return ZoneInfo(canonical)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
        raise InputError(f"unknown time zone {name!r}") from error


def _zone_name_ignoring_case(name):
    """The spelling of zone `name` in the zoneinfo directories, matched without case."""
    parts = name.split("/")
    if any(part in ("", ".", "..") or "\0" in part for part in parts):
        return None
    for root in zoneinfo.TZPATH:
        directory, found = root, []
        for part in parts:
            try:
                entries = os.listdir(directory)
            except OSError:
                break
            match = next((entry for entry in entries if entry.lower() == part.lower()), None)
            if match is None:
                break
            found.append(match)
            directory = os.path.join(directory, match)
        else:
            if os.path.isfile(directory):
                return "/".join(found)
    return None


def parse_at_time(text, tz, now):
    """`text` in Graphite's at-time grammar, evaluated at `now`: an aware datetime with tz's
    local time and offset at that instant, on a fixed-offset tzinfo (see the module doc).

    A naive `now` is taken as wall-clock time in tz."""
    now = _in_zone(now, tz)
    s = text.strip().lower().replace("_", "").replace(",", "").replace(" ", "")
    if s.isdigit() and not _looks_like_yyyymmdd(s, text):
        return _fixed_offset(_from_timestamp(s, tz, text))
    if "+" in s:
        reference, offset = s.split("+", 1)
        offset = "+" + offset
    elif "-" in s:
        reference, offset = s.split("-", 1)
        offset = "-" + offset
    else:
        reference, offset = s, ""
    moment = _time_reference(reference, tz, now, text)
    delta = _time_offset(offset, text)
    try:
        return _fixed_offset((moment.astimezone(timezone.utc) + delta).astimezone(tz))
    except OverflowError as error:
        raise InvalidTime(text, "out of range") from error


def parse_time_offset(text):
    """graphite's parseTimeOffset: '-1h', '+30min', '1d', '-1h30min' -> timedelta.

    Case-sensitive, as graphite's is ('1H' is an error); '' is zero."""
    return _time_offset(text, text)


def unit_name(unit):
    """graphite's getUnitString: the timedelta unit an offset unit spelling means."""
    for prefix, name in _UNIT_PREFIXES:
        if unit.startswith(prefix):
            return name
    raise InvalidTime(unit, f"invalid offset unit {unit!r}")


def _fixed_offset(moment):
    """`moment` (in a zone) on a tzinfo that is its own offset and name, as pytz's are."""
    return moment.replace(tzinfo=timezone(moment.utcoffset(), moment.tzname()), fold=0)


def _in_zone(moment, tz):
    if moment.tzinfo is None:
        return _localize(moment, tz)
    return moment.astimezone(tz)


def _localize(naive, tz):
    """pytz's tz.localize(naive, is_dst=False) on a zoneinfo zone."""
    first = naive.replace(tzinfo=tz, fold=0)
    second = naive.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first
    if first.utcoffset() < second.utcoffset():
        return first   # in a gap: the offset in force before it
    standard = [moment for moment in (first, second) if not moment.dst()]
    return standard[0] if len(standard) == 1 else second


def _looks_like_yyyymmdd(s, text):
    try:
        return len(s) == 8 and int(s[:4]) > 1900 and int(s[4:6]) < 13 and int(s[6:]) < 32
    except ValueError as error:     # digits str.isdigit() accepts but int() does not
        raise InvalidTime(text, "not a number") from error


def _from_timestamp(s, tz, text):
    try:
        return datetime.fromtimestamp(int(s), tz)
    except (ValueError, OverflowError, OSError) as error:
        raise InvalidTime(text, "not a valid epoch timestamp") from error


def _time_reference(ref, tz, now, text):
    if not ref or ref == "now":
        return now
    try:
        hour, minute, day_ref = _time_of_day(ref)
        wall = now.replace(hour=hour, minute=minute, second=0, microsecond=0, tzinfo=None)
        wall = _day_reference(day_ref, wall, hour, minute)
    except (ValueError, OverflowError) as error:
        raise InvalidTime(text, str(error) or type(error).__name__) from error
    if wall is None:
        raise InvalidTime(text, f"unknown day reference {ref!r}")
    return _localize(wall, tz)


def _time_of_day(ref):
    """(hour, minute, rest of ref) as graphite reads a leading time of day."""
    hour, minute = 0, 0
    i = ref.find(":")
    if 0 < i < 3:
        hour = int(ref[:i])
        minute = int(ref[i + 1:i + 3])
        ref = ref[i + 3:]
        if ref[:2] == "am":
            ref = ref[2:]
        elif ref[:2] == "pm":
            hour = (hour + 12) % 24
            ref = ref[2:]
    i = ref.find("am")
    if 0 < i < 3:
        hour = int(ref[:i])
        ref = ref[i + 2:]
    i = ref.find("pm")
    if 0 < i < 3:
        hour = (int(ref[:i]) + 12) % 24
        ref = ref[i + 2:]
    for word, named_hour in (("noon", 12), ("midnight", 0), ("teatime", 16)):
        if ref.startswith(word):
            return named_hour, 0, ref[len(word):]
    return hour, minute, ref


def _day_reference(ref, wall, hour, minute):
    """The naive day `ref` names at time hour:minute, relative to `wall`; None if unknown."""
    if ref in ("", "today"):
        return wall
    if ref == "yesterday":
        return wall - timedelta(days=1)
    if ref == "tomorrow":
        return wall + timedelta(days=1)
    if ref.count("/") == 2:
        month, day, year = map(int, ref.split("/"))
        if year < 1900:
            year += 1900
        if year < 1970:
            year += 100
        return datetime(year, month, day, hour, minute)
    if len(ref) == 8 and ref.isdigit():
        return datetime(int(ref[:4]), int(ref[4:6]), int(ref[6:8]), hour, minute)
    if ref[:3] in MONTHS:
        return datetime(wall.year, MONTHS.index(ref[:3]) + 1, _day_of_month(ref), hour, minute)
    if ref[:3] in WEEKDAYS:
        today = (wall.weekday() + 1) % 7          # graphite counts from sunday
        return wall - timedelta(days=(today - WEEKDAYS.index(ref[:3])) % 7)
    return None


def _day_of_month(ref):
    if ref[-2:].isdigit():
        return int(ref[-2:])
    if ref[-1:].isdigit():
        return int(ref[-1:])
    raise ValueError("day of month required after month name")


def _time_offset(offset, text):
    if not offset:
        return timedelta()
    sign = 1
    if not offset[0].isdigit():
        if offset[0] not in "+-":
            raise InvalidTime(text, f"invalid offset {offset!r}")
        sign = -1 if offset[0] == "-" else 1
        offset = offset[1:]
    total = timedelta()
    pos = 0
    try:
        while pos < len(offset):
            number, pos = _run(offset, pos, str.isdigit)
            unit, pos = _run(offset, pos, str.isalpha)
            name = unit_name(unit)
            count = int(number) * _DAYS_PER_UNIT.get(name, 1)
            total += timedelta(**{"days" if name in _DAYS_PER_UNIT else name: sign * count})
    except InvalidTime as error:
        raise InvalidTime(text, error.reason) from None
    except (ValueError, OverflowError) as error:
        raise InvalidTime(text, f"invalid offset {offset!r}") from error
    return total


def _run(text, pos, predicate):
    """The longest run of characters from pos satisfying predicate, and the index after it."""
    end = pos
    while end < len(text) and predicate(text[end]):
        end += 1
    return text[pos:end], end
