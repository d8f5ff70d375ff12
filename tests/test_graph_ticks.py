"""Axis arithmetic against graphite-web 1.1.10's glyph.py (the expected steps,
ranges and label values below were produced by its _LinearAxisTics/_LogAxisTics
and checked by hand; our labels drop graphite's trailing space and, when every
label has it, the ".0")."""
import math
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from webapp.graph import ticks

LINEAR = [
    # (data min, data max, yMin, yMax, yLimit, units) -> (bottom, top, step), labels
    ((3, 97, None, None, None, "si"), (0, 100, 20), ["0", "20", "40", "60", "80", "100"]),
    ((0, 200, None, None, None, "si"), (0, 200, 50), ["0", "50", "100", "150", "200"]),
    ((0.001, 0.0042, None, None, None, "si"), (0.001, 0.005, 0.001),
     ["0.001", "0.002", "0.003", "0.004", "0.005"]),
    ((-7, 13, None, None, None, "si"), (-10, 15, 5), ["-10", "-5", "0", "5", "10", "15"]),
    ((1500, 26000, None, None, None, "si"), (0, 30000, 5000),
     ["0", "5 k", "10 k", "15 k", "20 k", "25 k", "30 k"]),
    ((0, 3000000, None, None, None, "binary"), (0, 3145728, 524288),
     ["0", "512 Ki", "1024 Ki", "1536 Ki", "2048 Ki", "2560 Ki", "3072 Ki"]),
    ((5, 5, None, None, None, "si"), (4.4, 5.6, 0.2),
     ["4.40", "4.60", "4.80", "5.00", "5.20", "5.40", "5.60"]),
    ((0, 0, None, None, None, "si"), (-1, 1, 0.5), ["-1", "-0.5", "0", "0.50", "1.00"]),
    ((2, 95, 0, "max", None, "si"), (0, 95, 20), ["0", "20", "40", "60", "80"]),
    ((0, 150, None, None, 120, "si"), (0, 120, 20), ["0", "20", "40", "60", "80", "100", "120"]),
    ((0, 7200, None, None, None, "sec"), (0, 8000, 2000),
     ["0", "33.3 m", "66.7 m", "100.0 m", "133.3 m"]),
    ((0, 90000, None, None, None, "msec"), (0, 100000, 20000),
     ["0", "20 s", "40 s", "60 s", "80 s", "100 s"]),
    ((-0.5, 0.25, None, None, None, "si"), (-0.6, 0.4, 0.2),
     ["-0.6", "-0.4", "-0.2", "0", "0.20", "0.40"]),
]


@pytest.mark.parametrize("case,expected,labels", LINEAR)
def test_linear_axis_matches_graphite(case, expected, labels):
    low, high, axis_min, axis_max, limit, units = case
    axis = ticks.linear_axis(low, high, axis_min=axis_min, axis_max=axis_max,
                             axis_limit=limit, unit_system=units)
    assert axis.bottom == pytest.approx(expected[0])
    assert axis.top == pytest.approx(expected[1])
    assert axis.step == pytest.approx(expected[2])
    assert list(axis.labels) == labels


@pytest.mark.parametrize("low,high,base,values,labels", [
    (3, 970, 10, [1, 10, 100, 1000], ["1", "10", "100", "1 k"]),
    (1, 1000, 10, [1, 10, 100, 1000], ["1", "10", "100", "1 k"]),
    (0.5, 40, 2, [0.5, 1, 2, 4, 8, 16, 32, 64],
     ["0.50", "1.0", "2.0", "4.0", "8.0", "16.0", "32.0", "64.0"]),
])
def test_log_axis_matches_graphite(low, high, base, values, labels):
    axis = ticks.log_axis(low, high, base)
    assert list(axis.values) == pytest.approx(values)
    assert list(axis.labels) == labels
    assert axis.log_base == base


def test_log_axis_needs_positive_data():
    with pytest.raises(ticks.AxisError, match="above zero"):
        ticks.log_axis(0, 10, 10)


def test_explicit_step_and_divisors():
    axis = ticks.linear_axis(0, 100, step=25)
    assert list(axis.values) == [0, 25, 50, 75, 100]
    assert ticks.choose_step(0, 100, divisors=(3,)) == 50
    # a step far too small for the range is replaced by a sane one
    assert ticks.linear_axis(0, 1000, step=0.001).step == 200


def test_limits_errors_and_fixes():
    with pytest.raises(ticks.AxisError, match="less than"):
        ticks.resolve_limits(0, 10, axis_min=5, axis_max=1)
    assert ticks.resolve_limits(0, 10, axis_min=20)[2] == 22  # max moved above the min
    assert ticks.resolve_limits(0, 10, axis_max=-5)[0] == -5.5
    with pytest.raises(ticks.AxisError):
        ticks.resolve_limits(math.nan, 1)
    assert ticks.resolve_limits(0, 10, axis_limit=math.inf)[4] is None


def test_format_units():
    assert ticks.format_units(1500) == (1.5, "k")
    assert ticks.format_units(1500, step=100) == (1500.0, "")
    assert ticks.format_units(2048, system="binary") == (2.0, "Ki")
    assert ticks.format_units(7200, system="sec") == (2.0, "H")
    assert ticks.format_units(0.5, system="none") == (0.5, "")


def test_x_config_follows_graphite_table():
    assert ticks.choose_x_config(86400, 750).fmt == "%a %H:%M"   # 115 s per pixel
    assert ticks.choose_x_config(3600, 750).label == (ticks.MIN, 5)
    assert ticks.choose_x_config(7 * 86400, 750).fmt == "%m/%d"
    assert ticks.choose_x_config(10 * 365 * 86400, 750).label == (ticks.DAY, 240)


def test_x_times_are_round_local_times():
    start = datetime(2026, 3, 1, 10, 7, 13, tzinfo=timezone.utc).timestamp()
    marks = ticks.x_times(start, start + 3 * 3600, (ticks.HOUR, 1), timezone.utc)
    assert [ticks.x_label(m, "%H:%M", timezone.utc) for m in marks] == ["11:00", "12:00", "13:00"]
    tz = ZoneInfo("Asia/Kolkata")  # a half-hour offset: marks fall on local hours
    marks = ticks.x_times(start, start + 2 * 3600, (ticks.HOUR, 1), tz)
    assert [ticks.x_label(m, "%H:%M", tz) for m in marks] == ["16:00", "17:00"]
    marks = ticks.x_times(start, start + 3 * 86400, (ticks.DAY, 1), tz)
    assert [ticks.x_label(m, "%m/%d %H", tz) for m in marks] == ["03/02 00", "03/03 00", "03/04 00"]


def test_x_times_across_dst_keep_midnights():
    tz = ZoneInfo("Europe/Berlin")  # clocks go forward on 2026-03-29
    start = datetime(2026, 3, 27, 12, tzinfo=tz).timestamp()
    marks = ticks.x_times(start, start + 4 * 86400, (ticks.DAY, 1), tz)
    assert [ticks.x_label(m, "%d %H:%M", tz) for m in marks] == [
        "28 00:00", "29 00:00", "30 00:00", "31 00:00"]
    minutes = ticks.x_times(start, start + 60, (ticks.SEC, 15), tz)
    assert len(minutes) == 4


def test_one_divisor_across_zero_falls_back_to_two():
    # one step cannot span -4.5 .. 4.5 from a multiple of itself: graphite loops forever
    axis = ticks.linear_axis(-4.5, 4.5, divisors=(1,))
    assert axis.bottom <= -4.5 and axis.top >= 4.5 and len(axis.values) >= 2


def test_extreme_ranges_do_not_hang_or_overflow():
    axis = ticks.linear_axis(-1e300, 1e300)
    assert axis.bottom <= -1e300 and axis.top >= 1e300
    with pytest.raises(ticks.AxisError):
        ticks.choose_step(0, math.inf)
    assert list(ticks.candidate_steps(1e307))[-1] <= 1e308  # stops before overflow
