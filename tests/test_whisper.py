"""carbonish.whisper against the real whisper 1.1.10 package as oracle."""
import datetime
import fcntl
import math
import os
import random
import runpy
import struct
import sys
import sysconfig
import threading

import numpy as np
import pytest
import whisper as oracle
from freezegun import freeze_time

from carbonish import whisper as cw

NOW = 1_700_000_000
CONFIGS = [
    [(10, 8640), (60, 43200)],
    [(1, 60), (5, 60), (60, 10)],
    [(10, 6)],
    [(1, 10), (2, 10), (4, 10), (8, 10)],
    [(60, 1440), (3600, 720), (86400, 365)],
]


def read(path):
    with open(path, "rb") as fh:
        return fh.read()


class Pair:
    """The same file made by the oracle (a) and by carbonish (b)."""

    def __init__(self, tmp_path, archives, xff=0.5, method="average", **kw):
        self.a = str(tmp_path / "oracle.wsp")
        self.b = str(tmp_path / "ours.wsp")
        oracle.create(self.a, list(archives), xff, method, **kw)
        cw.create(self.b, list(archives), xff, method, **kw)

    def update_many(self, points, now):
        oracle.update_many(self.a, list(points), now=now)
        cw.update_many(self.b, list(points), now=now)

    def update(self, value, timestamp, now):
        oracle.update(self.a, value, timestamp, now=now)
        cw.update(self.b, value, timestamp, now=now)

    def assert_same(self):
        assert read(self.a) == read(self.b)


def random_batches(seed, now, count=25, spread=3000, future=20):
    rnd = random.Random(seed)
    for _ in range(count):
        points = [(now - rnd.randint(-future, spread),
                   rnd.choice([rnd.uniform(-1e3, 1e3), 0.0, -0.0, 5.0, 1e-300]))
                  for _ in range(rnd.randint(1, 120))]
        yield points, now
        now += rnd.randint(0, 120)


def assert_fetch_equal(path, now, froms, until=None):
    for from_time in froms:
        expected = oracle.fetch(path, from_time, until, now=now)
        got = cw.fetch(path, from_time, until, now=now)
        assert repr(got) == repr(expected)


# --- layout and header ----------------------------------------------------------------
def test_layout_constants_match_the_format():
    assert (cw.metadataSize, cw.archiveInfoSize, cw.pointSize) == (16, 12, 12)
    assert cw.POINT_DTYPE.itemsize == cw.pointSize
    assert dict(cw.aggregationTypeToMethod) == dict(oracle.aggregationTypeToMethod)
    assert sorted(cw.aggregationMethods) == sorted(oracle.aggregationMethods)


@pytest.mark.parametrize("method", sorted(oracle.aggregationMethods))
@pytest.mark.parametrize("archives", CONFIGS[:3])
@pytest.mark.parametrize("how", [{}, {"sparse": True}, {"useFallocate": True}])
def test_create_is_byte_identical(tmp_path, method, archives, how):
    Pair(tmp_path, archives, 0.25, method, **how).assert_same()


def test_create_defaults_and_unsorted_archive_list(tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    oracle.create(a, [(60, 100), (10, 60)])
    cw.create(b, ((60, 100), (10, 60)))
    assert read(a) == read(b)


def test_create_with_points_refuses_an_existing_file_and_keeps_it(tmp_path):
    path = str(tmp_path / "x.wsp")
    cw.create(path, [(10, 6)])
    before = read(path)
    with pytest.raises(cw.InvalidConfiguration, match="already exists"):
        cw.create_with_points(path, [(10, 6)], 0.5, "sum", [NOW], [1.0], now=NOW)
    assert read(path) == before


def test_create_with_points_without_points_is_create(tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    oracle.create(a, [(10, 6), (60, 10)], 0.2, "max")
    cw.create_with_points(b, [(10, 6), (60, 10)], 0.2, "max", [], [], lock=True,
                          autoflush=True)
    assert read(a) == read(b)


def test_create_with_points_past_2106_keeps_the_empty_file(tmp_path):
    path = str(tmp_path / "x.wsp")
    with pytest.raises(cw.TimestampNotCovered):
        cw.create_with_points(path, [(10, 6)], 0.5, "average", [2 ** 32 + 10], [1.0],
                              now=2 ** 32 + 20)
    empty = str(tmp_path / "empty.wsp")
    cw.create(empty, [(10, 6)])
    assert read(path) == read(empty)


@pytest.mark.parametrize("method", sorted(oracle.aggregationMethods))
@pytest.mark.parametrize("ages, now", [
    ([0, 3, 4, 5, 6, 7, 8, 9], 9),      # from the epoch: the bases stay 0
    ([14, 18, 19, 25], 25),             # nothing for archive 0: the first share is archive 1's
    ([0, 2, 3, 4, 5, 9, 29], NOW),      # the windows wrap archive 0's ring
])
def test_create_with_points_small_batches_at_the_edges(tmp_path, method, ages, now):
    """A new file's first small batch is propagated from what was just written (no
    reads); the bytes are whisper's create and update_many, also after a later update."""
    archives = [(1, 10), (5, 10), (10, 10)]
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    points = [(now - age, float(age) - 3.5) for age in ages]
    oracle.create(a, archives, 0.4, method)
    oracle.update_many(a, list(points), now=now)
    cw.create_with_points(b, archives, 0.4, method, [t for t, _ in points],
                          [v for _, v in points], now=now)
    assert read(a) == read(b)
    later = [(now - age, 1.0) for age in (1, 6)]
    oracle.update_many(a, list(later), now=now)
    cw.update_many(b, list(later), now=now)
    assert read(a) == read(b)


def test_create_refuses_existing_file(tmp_path):
    path = str(tmp_path / "x.wsp")
    cw.create(path, [(10, 6)])
    with pytest.raises(cw.InvalidConfiguration, match="already exists"):
        cw.create(path, [(10, 6)])


@pytest.mark.parametrize("method, xff, error", [
    ("median", 0.5, cw.InvalidAggregationMethod),
    ("average", 1.5, cw.InvalidXFilesFactor),
    ("average", "lots", cw.InvalidXFilesFactor),
])
def test_create_rejects_bad_settings_and_leaves_no_file(tmp_path, method, xff, error):
    path = str(tmp_path / "x.wsp")
    with pytest.raises(error):
        cw.create(path, [(10, 6)], xff, method)
    with pytest.raises(getattr(oracle, error.__name__)):
        oracle.create(str(tmp_path / "o.wsp"), [(10, 6)], xff, method)
    assert not os.path.exists(path)


def test_info_matches_oracle_plus_file_size(tmp_path):
    pair = Pair(tmp_path, CONFIGS[1], 0.1, "max")
    expected = oracle.info(pair.a)
    got = cw.info(pair.b)
    assert got.pop("fileSize") == os.path.getsize(pair.b)
    assert got == expected
    with open(pair.b, "rb") as fh:
        assert cw.file_info(fh)["archives"] == expected["archives"]


def test_info_of_missing_file_is_none_as_in_whisper(tmp_path):
    assert cw.info(str(tmp_path / "missing.wsp")) is None


@pytest.mark.parametrize("archives", [
    [],
    [(10, 60), (10, 120)],
    [(10, 60), (15, 120)],
    [(10, 60), (60, 10)],
    [(10, 5), (60, 100)],
])
def test_validate_archive_list_errors_match_oracle(archives):
    with pytest.raises(oracle.InvalidConfiguration) as expected:
        oracle.validateArchiveList(list(archives))
    with pytest.raises(cw.InvalidConfiguration) as got:
        cw.validateArchiveList(list(archives))
    assert str(got.value) == str(expected.value)


@pytest.mark.parametrize("archives", [[(0, 10)], [(10, 0)], [(10, -1)], [(1.5, 10)]])
def test_validate_archive_list_rejects_empty_archives(archives):
    with pytest.raises(cw.InvalidConfiguration, match="positive integers"):
        cw.validateArchiveList(archives)


def test_validate_sorts_a_list_in_place_as_whisper_does():
    archives = [(60, 100), (10, 60)]
    cw.validateArchiveList(archives)
    assert archives == [(10, 60), (60, 100)]


@pytest.mark.parametrize("text, expected", [
    ("60:1440", (60, 1440)), ("15m:8", (900, 8)), ("1h:7d", (3600, 168)),
    ("12h:2y", (43200, 1460)), ("10s:1d", (10, 8640)), ("1m:30d", (60, 43200)),
])
def test_parse_retention_def(text, expected):
    assert cw.parseRetentionDef(text) == oracle.parseRetentionDef(text) == expected


@pytest.mark.parametrize("text", ["60", "1x:10", "10s:1q", "s:10", "10:x"])
def test_parse_retention_def_errors(text):
    with pytest.raises(ValueError):
        oracle.parseRetentionDef(text)
    with pytest.raises(ValueError):
        cw.parseRetentionDef(text)


# --- update_many ---------------------------------------------------------------------
@pytest.mark.parametrize("method", sorted(oracle.aggregationMethods))
@pytest.mark.parametrize("archives", CONFIGS)
def test_update_many_random_batches_byte_identical(tmp_path, method, archives):
    pair = Pair(tmp_path, archives, 0.3, method, sparse=True)
    for points, now in random_batches(hash((method, len(archives))) & 0xffff, NOW):
        pair.update_many(points, now)
        pair.assert_same()
    for path in (pair.a, pair.b):
        assert_fetch_equal(path, now, [now - 100, now - 3000, now - 10 ** 6, now - 10 ** 9])


@pytest.mark.parametrize("method", sorted(oracle.aggregationMethods))
def test_update_many_sequential_day_byte_identical(tmp_path, method):
    pair = Pair(tmp_path, CONFIGS[0], 0.5, method, sparse=True)
    rnd = random.Random(7)
    now = NOW
    for _ in range(5):
        pair.update_many([(now - 10 * i, rnd.uniform(-5, 5)) for i in range(1000)], now)
        now += 10_000
    pair.assert_same()


@pytest.mark.parametrize("method", sorted(oracle.aggregationMethods))
def test_update_many_rewriting_full_windows_byte_identical(tmp_path, method):
    """Rewriting points of a filled stretch: every propagation window is full."""
    pair = Pair(tmp_path, CONFIGS[0], 0.5, method, sparse=True)
    rnd = random.Random(8)
    pair.update_many([(NOW - 10 * i, rnd.uniform(-5, 5)) for i in range(2000)], NOW)
    pair.update_many([(NOW - 10 * i, rnd.uniform(-5, 5)) for i in range(200, 1200)], NOW)
    pair.assert_same()


def test_update_many_wraps_the_ring_and_laps_it(tmp_path):
    pair = Pair(tmp_path, [(1, 10), (2, 10), (4, 10)], 0.0, "sum")
    now = NOW
    for lap in range(6):
        pair.update_many([(now - i, float(i + lap)) for i in range(0, 41, 3)], now)
        pair.update_many([(now + 7, 1.0), (now - 9, 2.0)], now)
        pair.assert_same()
        now += 13


def test_update_many_duplicates_first_given_wins_as_whisper(tmp_path):
    pair = Pair(tmp_path, [(10, 60)], 0.5, "last")
    pair.update_many([(NOW - 5, 1.0), (NOW - 5, 2.0), (NOW - 3, 3.0), (NOW - 5, 4.0)], NOW)
    pair.assert_same()
    assert cw.fetch(pair.b, NOW - 20, NOW, now=NOW)[1] == [3.0, None]
    pair.update_many([(NOW - 15, 7.0), (NOW - 15, 8.0)], NOW)
    assert cw.fetch(pair.b, NOW - 30, NOW, now=NOW)[1] == [7.0, 3.0, None]
    pair.assert_same()


def test_update_many_drops_too_old_and_keeps_future_points(tmp_path):
    pair = Pair(tmp_path, [(10, 6), (60, 10)], 0.0, "sum")
    pair.update_many([(NOW - 601, 1.0), (NOW - 600, 2.0), (NOW + 30, 3.0), (NOW, 4.0)], NOW)
    pair.assert_same()


def test_update_many_empty_does_nothing(tmp_path):
    pair = Pair(tmp_path, [(10, 6)])
    before = read(pair.b)
    cw.update_many(pair.b, [], now=NOW)
    cw.update_many_arrays(pair.b, np.array([]), np.array([]), now=NOW)
    assert read(pair.b) == before


def test_update_many_converts_like_whisper(tmp_path):
    pair = Pair(tmp_path, [(10, 60)])
    pair.update_many([("1699999990", "1.5"), (1699999980.9, 2), (NOW - 30, True)], NOW)
    pair.assert_same()


@pytest.mark.parametrize("good", [1, 100])
@pytest.mark.parametrize("bad", [
    (NOW, None), (NOW, "x"), (None, 1.0), ("x", 1.0), (NOW, 1.0, 2.0), (NOW,),
    (math.nan, 1.0), (math.inf, 1.0), ("1.5", 1.0), [NOW - 5, 2.0],
])
def test_update_many_bad_point_raises_what_whisper_raises(tmp_path, good, bad):
    pair = Pair(tmp_path, [(10, 600)])
    points = [(NOW - 10 - i, 1.0) for i in range(good)] + [bad]
    try:
        oracle.update_many(pair.a, points, now=NOW)
    except Exception as error:
        with pytest.raises(type(error)):
            cw.update_many(pair.b, points, now=NOW)
    else:
        cw.update_many(pair.b, points, now=NOW)
    pair.assert_same()


LARGE = 100    # more points than the plain-Python path takes: the numpy path runs


@pytest.mark.parametrize("method", ["max", "sum", "average", "avg_zero"])
@pytest.mark.parametrize("extra", [0, LARGE])
def test_update_many_nan_values_are_stored_as_values(tmp_path, method, extra):
    pair = Pair(tmp_path, [(10, 6), (60, 10)], 0.0, method)
    padding = [(NOW - 60 - 10 * i, float(i)) for i in range(extra)]
    pair.update_many([(NOW - 10, math.nan), (NOW - 20, 1.0), (NOW, math.inf),
                      (NOW - 30, -math.inf)] + padding, NOW)
    pair.assert_same()
    values = cw.fetch(pair.b, NOW - 50, NOW, now=NOW)[1]
    assert values[2] == 1.0 and math.isnan(values[3]) and values[4] == math.inf


def test_update_many_timestamp_out_of_field_range(tmp_path):
    path = str(tmp_path / "x.wsp")
    cw.create(path, [(1, 10)])
    with pytest.raises(cw.TimestampNotCovered, match="32-bit"):
        cw.update_many(path, [(2 ** 32 + 5, 1.0)], now=2 ** 32 + 5)


def test_update_many_arrays_equals_update_many(tmp_path):
    pair = Pair(tmp_path, CONFIGS[0], 0.5, "average", useFallocate=True)
    rnd = np.random.default_rng(3)
    ts = NOW - rnd.integers(-10, 100_000, 2000)
    vs = rnd.normal(size=2000)
    oracle.update_many(pair.a, list(zip(ts.tolist(), vs.tolist())), now=NOW)
    cw.update_many_arrays(pair.b, ts.astype(np.float64), vs, now=NOW)
    pair.assert_same()
    with open(pair.b, "r+b") as fh:
        cw.update_many_arrays(fh, ts[:5], vs[:5] + 1, now=NOW)
    oracle.update_many(pair.a, list(zip(ts[:5].tolist(), (vs[:5] + 1).tolist())), now=NOW)
    pair.assert_same()


def test_update_many_arrays_shape_mismatch(tmp_path):
    pair = Pair(tmp_path, [(10, 6)])
    with pytest.raises(ValueError, match="equal-length"):
        cw.update_many_arrays(pair.b, np.arange(3), np.arange(2.0), now=NOW)


def test_file_update_many_on_open_handles(tmp_path):
    pair = Pair(tmp_path, CONFIGS[1], 0.2, "min")
    points = [(NOW - i * 3, float(i)) for i in range(200)]
    with open(pair.a, "r+b") as fh:
        oracle.file_update_many(fh, sorted(points, reverse=True), now=NOW)
    with open(pair.b, "r+b") as fh:
        cw.file_update_many(fh, points, now=NOW)
        cw.file_update_many(fh, [], now=NOW)
    pair.assert_same()


# --- update ------------------------------------------------------------------------------
@pytest.mark.parametrize("method", sorted(oracle.aggregationMethods))
def test_update_single_points_byte_identical(tmp_path, method):
    pair = Pair(tmp_path, CONFIGS[1], 0.2, method)
    rnd = random.Random(11)
    now = NOW
    for _ in range(150):
        pair.update(rnd.uniform(-9, 9), now - rnd.randint(0, 599), now)
        now += rnd.randint(0, 7)
    pair.assert_same()
    with open(pair.a, "r+b") as fh:
        oracle.file_update(fh, 1.0, now - 1, now=now)
    with open(pair.b, "r+b") as fh:
        cw.file_update(fh, 1.0, now - 1, now=now)
    pair.assert_same()


@pytest.mark.parametrize("age", [-1, 600, 10 ** 6])
def test_update_outside_retention_raises_timestamp_not_covered(tmp_path, age):
    pair = Pair(tmp_path, [(10, 6), (60, 10)])
    with pytest.raises(oracle.TimestampNotCovered):
        oracle.update(pair.a, 1.0, NOW - age, now=NOW)
    with pytest.raises(cw.TimestampNotCovered):
        cw.update(pair.b, 1.0, NOW - age, now=NOW)
    pair.assert_same()


def test_update_defaults_timestamp_to_now(tmp_path):
    pair = Pair(tmp_path, [(10, 6)])
    oracle.update(pair.a, 4.0, None, now=NOW)
    cw.update(pair.b, 4.0, now=NOW)
    pair.assert_same()


# --- fetch -------------------------------------------------------------------------------
@pytest.fixture
def filled(tmp_path):
    pair = Pair(tmp_path, CONFIGS[1], 0.3, "average")
    for points, now in random_batches(5, NOW, count=10, spread=700):
        pair.update_many(points, now)
    return pair, now


def test_each_reads_the_others_files(filled):
    pair, now = filled
    froms = [now - 5, now - 59, now - 61, now - 299, now - 301, now - 3000, now - 10 ** 5]
    for path in (pair.a, pair.b):
        assert_fetch_equal(path, now, froms)
        assert_fetch_equal(path, now, froms, until=now - 2)
        assert_fetch_equal(path, now, [now - 1, now], until=now)


def outcome(module, *args, **kw):
    try:
        return repr(module.fetch(*args, **kw))
    except module.WhisperException as error:
        return type(error).__name__


@pytest.mark.parametrize("from_delta, until_delta", [
    (10, None), (0, 0), (-5, None), (-5, 10), (-5, -20), (100_000, 90_000), (100_000, 1),
    (400, 200), (10, -100),
])
def test_fetch_edge_ranges_match_oracle(filled, from_delta, until_delta):
    pair, now = filled
    until = None if until_delta is None else now - until_delta
    expected = outcome(oracle, pair.a, now - from_delta, until, now=now)
    assert outcome(cw, pair.b, now - from_delta, until, now=now) == expected


def test_fetch_from_after_until_raises(filled):
    pair, now = filled
    with pytest.raises(cw.InvalidTimeInterval, match="after until"):
        cw.fetch(pair.b, now - 10, now - 20, now=now)


@pytest.mark.parametrize("select", [1, 5, 60, "5s", "1min", "1m"])
def test_fetch_archive_to_select(filled, select):
    pair, now = filled
    for from_delta in (50, 550, 3000):
        expected = oracle.fetch(pair.a, now - from_delta, now=now, archiveToSelect=select)
        got = cw.fetch(pair.b, now - from_delta, now=now, archiveToSelect=select)
        assert repr(got) == repr(expected)


def test_fetch_unknown_granularity_raises_value_error(filled):
    pair, now = filled
    with pytest.raises(ValueError, match="Invalid granularity"):
        cw.fetch(pair.b, now - 50, now=now, archiveToSelect=7)


def test_fetch_empty_file_is_all_none(tmp_path):
    pair = Pair(tmp_path, CONFIGS[0])
    assert_fetch_equal(pair.b, NOW, [NOW - 3600, NOW - 86400 * 2])
    (start, end, step), values = cw.fetch_array(pair.b, NOW - 3600, now=NOW)
    assert len(values) == (end - start) // step and np.isnan(values).all()


def test_fetch_array_matches_fetch_with_nan_for_gaps(filled):
    pair, now = filled
    for from_delta in (50, 299, 550, 3000):
        info, values = cw.fetch(pair.b, now - from_delta, now=now)
        info_a, array = cw.fetch_array(pair.b, now - from_delta, now=now)
        assert info_a == info and array.dtype == np.float64
        expected = np.array([math.nan if v is None else v for v in values])
        np.testing.assert_array_equal(array, expected)
    with open(pair.b, "rb") as fh:
        assert cw.file_fetch_array(fh, now - 50, now=now)[0] == \
            cw.fetch(pair.b, now - 50, now=now)[0]
    assert cw.fetch_array(pair.b, now + 10, now + 20, now=now) is None


def test_fetch_full_series_and_mostly_empty_series(tmp_path):
    pair = Pair(tmp_path, [(10, 100)])
    pair.update_many([(NOW - 10 * i, float(i)) for i in range(100)], NOW)
    assert_fetch_equal(pair.b, NOW, [NOW - 990, NOW - 500])
    (_, _, _), values = cw.fetch_array(pair.b, NOW - 990, now=NOW)
    assert not np.isnan(values).any()


def test_file_fetch_on_handle(filled):
    pair, now = filled
    with open(pair.b, "rb") as fh:
        got = cw.file_fetch(fh, now - 100, None, now=now)
    assert repr(got) == repr(oracle.fetch(pair.a, now - 100, now=now))


# --- aggregation settings ------------------------------------------------------------
def test_set_aggregation_method_and_xff_byte_identical(tmp_path):
    pair = Pair(tmp_path, CONFIGS[0])
    assert cw.setAggregationMethod(pair.b, "max") == oracle.setAggregationMethod(pair.a, "max")
    assert cw.setAggregationMethod(pair.b, "sum", 0.1) == \
        oracle.setAggregationMethod(pair.a, "sum", 0.1)
    assert cw.setXFilesFactor(pair.b, 0.75) == oracle.setXFilesFactor(pair.a, 0.75)
    pair.assert_same()
    with pytest.raises(cw.InvalidAggregationMethod):
        cw.setAggregationMethod(pair.b, "mean")
    with pytest.raises(cw.InvalidXFilesFactor):
        cw.setXFilesFactor(pair.b, -0.5)
    pair.assert_same()


@pytest.mark.parametrize("method", sorted(oracle.aggregationMethods))
def test_aggregate_function_matches_oracle(method):
    rnd = random.Random(2)
    for _ in range(50):
        neighbors = [rnd.choice([None, rnd.uniform(-9, 9), 0.0, -0.0]) for _ in range(6)]
        known = [v for v in neighbors if v is not None]
        if not known:
            continue
        expected = oracle.aggregate(method, known, neighbors)
        assert struct.pack("!d", cw.aggregate(method, known, neighbors)) == \
            struct.pack("!d", expected)


def test_aggregate_errors():
    with pytest.raises(cw.InvalidAggregationMethod):
        cw.aggregate("median", [1.0])
    with pytest.raises(cw.InvalidAggregationMethod):
        cw.aggregate("avg_zero", [1.0], None)


# --- merge / diff ---------------------------------------------------------------------------
def make_two(tmp_path, seed):
    (tmp_path / "src").mkdir()
    (tmp_path / "dst").mkdir()
    a = Pair(tmp_path / "src", CONFIGS[1], 0.3)
    b = Pair(tmp_path / "dst", CONFIGS[1], 0.3)
    rnd = random.Random(seed)
    for pair in (a, b):
        points = [(NOW - rnd.randint(0, 3000), rnd.uniform(0, 9)) for _ in range(300)]
        pair.update_many(points, NOW)
    return a, b


@pytest.mark.parametrize("window", [(None, None), (NOW - 500, None), (NOW - 3000, NOW - 100)])
def test_merge_byte_identical(tmp_path, window):
    src, dst = make_two(tmp_path, 4)
    oracle.merge(src.a, dst.a, *window, now=NOW)
    cw.merge(src.b, dst.b, *window, now=NOW)
    dst.assert_same()
    with open(src.b, "rb") as fh_from, open(dst.b, "r+b") as fh_to:
        cw.file_merge(fh_from, fh_to, now=NOW + 100)
    oracle.merge(src.a, dst.a, now=NOW + 100)
    dst.assert_same()


def test_merge_checks_configuration_and_window(tmp_path):
    src, dst = make_two(tmp_path, 5)
    other = str(tmp_path / "other.wsp")
    cw.create(other, [(10, 6)])
    with pytest.raises(NotImplementedError, match="unalike"):
        cw.merge(src.b, other, now=NOW)
    with pytest.raises(ValueError, match="time_to"):
        cw.merge(src.b, dst.b, NOW, NOW - 10, now=NOW)


@pytest.mark.parametrize("ignore_empty", [False, True])
@pytest.mark.parametrize("until", [None, NOW - 200])
def test_diff_matches_oracle(tmp_path, ignore_empty, until):
    src, dst = make_two(tmp_path, 6)
    expected = oracle.diff(src.a, dst.a, ignore_empty, until, now=NOW)
    assert cw.diff(src.b, dst.b, ignore_empty, until, now=NOW) == expected
    with open(src.b, "rb") as fa, open(dst.b, "rb") as fb:
        assert cw.file_diff(fa, fb, ignore_empty, until, now=NOW) == expected
    other = str(tmp_path / "other.wsp")
    cw.create(other, [(10, 6)])
    with pytest.raises(NotImplementedError):
        cw.diff(src.b, other, now=NOW)


# --- options: locking, fsync, module settings ------------------------------------------------
def test_lock_true_waits_for_another_holder(tmp_path):
    pair = Pair(tmp_path, [(10, 60)])
    holder = os.open(pair.b, os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)
    done = threading.Event()

    def write():
        cw.update_many(pair.b, [(NOW - 10, 1.0)], now=NOW, lock=True)
        done.set()

    thread = threading.Thread(target=write)
    thread.start()
    try:
        assert not done.wait(0.3)
    finally:
        fcntl.flock(holder, fcntl.LOCK_UN)
        os.close(holder)
        thread.join(10)
    assert done.is_set()


def test_module_settings_are_read_at_call_time(tmp_path, monkeypatch):
    pair = Pair(tmp_path, [(10, 60)])
    holder = os.open(pair.b, os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        cw.update_many(pair.b, [(NOW - 10, 1.0)], now=NOW)   # LOCK False: no wait
        monkeypatch.setattr(cw, "LOCK", True)
        other = os.open(pair.b, os.O_RDONLY)
        with pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.close(other)
    finally:
        os.close(holder)


def test_autoflush_lock_and_fadvise_paths_write_the_same_bytes(tmp_path):
    opts = dict(lock=True, autoflush=True, fadvise_random=True)
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    oracle.create(a, [(10, 6), (60, 10)])
    cw.create(b, [(10, 6), (60, 10)], **opts)
    oracle.update_many(a, [(NOW - 10, 1.0), (NOW - 20, 3.0)], now=NOW)
    cw.update_many(b, [(NOW - 10, 1.0), (NOW - 20, 3.0)], now=NOW, **opts)
    oracle.update(a, 2.0, NOW - 30, now=NOW)
    cw.update(b, 2.0, NOW - 30, now=NOW, **opts)
    many = [(NOW - i, float(i)) for i in range(LARGE)]
    oracle.update_many(a, many, now=NOW)
    cw.update_many(b, many, now=NOW, **opts)
    oracle.setAggregationMethod(a, "sum")
    cw.setAggregationMethod(b, "sum", lock=True, autoflush=True)
    assert read(a) == read(b)


def test_debug_switches_are_accepted(capsys):
    cw.enableDebug()
    cw.debug("message")
    cw.startBlock("block")
    cw.endBlock("block")
    cw.disableDebug()
    assert capsys.readouterr().out == ""


def test_fallocate_helper_reserves_space(tmp_path):
    with open(tmp_path / "x", "wb") as fh:
        cw.fallocate(fh, 0, 4096)
    assert os.path.getsize(tmp_path / "x") == 4096


# --- resize / fill against Graphite's own scripts, run with the clock frozen ---------------
SCRIPTS = sysconfig.get_path("scripts")


def run_script(name, args, now):
    """Run one of whisper's own scripts in this process with time frozen at `now`."""
    script = os.path.join(SCRIPTS, name)
    if not os.path.exists(script):
        pytest.skip(f"{name} is not installed beside the whisper oracle")
    argv = sys.argv
    sys.argv = [name, *args]
    try:
        with freeze_time(datetime.datetime.fromtimestamp(now, datetime.timezone.utc)):
            runpy.run_path(script, run_name="__main__")
    except SystemExit as stop:
        assert not stop.code, (name, args)
    finally:
        sys.argv = argv


def filled_pair(tmp_path, archives, method="average", seed=8, now=NOW):
    pair = Pair(tmp_path, archives, 0.4, method)
    rnd = random.Random(seed)
    retention = max(s * p for s, p in archives)
    points = [(now - rnd.randint(0, retention), rnd.uniform(-5, 5)) for _ in range(800)]
    pair.update_many(points, now)
    return pair


@pytest.mark.parametrize("aggregate", [False, True])
@pytest.mark.parametrize("new, extra", [
    (["5s:10m", "1m:2h"], []),
    (["1s:1m", "10s:10m", "1m:1h"], ["--xFilesFactor=0.1", "--aggregationMethod=max"]),
    (["1m:1h"], []),
])
def test_resize_matches_whisper_resize(tmp_path, aggregate, new, extra):
    pair = filled_pair(tmp_path, [(1, 60), (5, 120), (60, 60)])
    flags = extra + (["--aggregate"] if aggregate else [])
    run_script("whisper-resize.py", [pair.a, *new, *flags], NOW)
    kw = {}
    for flag in extra:
        key, value = flag[2:].split("=")
        kw["xff" if key == "xFilesFactor" else "aggregation"] = \
            float(value) if key == "xFilesFactor" else value
    backup = cw.resize(pair.b, new, aggregate=aggregate, now=NOW, **kw)
    assert backup == pair.b + ".bak"
    pair.assert_same()
    assert read(pair.a + ".bak") == read(backup)


def test_resize_newfile_and_nobackup(tmp_path):
    pair = filled_pair(tmp_path, [(1, 60), (5, 120)])
    before = read(pair.b)
    target = str(tmp_path / "new.wsp")
    assert cw.resize(pair.b, [(2, 100)], newfile=target, now=NOW) is None
    assert read(pair.b) == before and cw.info(target)["archives"][0]["points"] == 100
    open(pair.b + ".tmp", "wb").close()  # a stale temporary file is replaced
    assert cw.resize(pair.b, [(2, 100)], nobackup=True, now=NOW) is None
    assert read(pair.b) == read(target)
    assert not os.path.exists(pair.b + ".bak") and not os.path.exists(pair.b + ".tmp")


def test_resize_restores_the_original_when_the_swap_fails(tmp_path):
    pair = filled_pair(tmp_path, [(1, 60)])
    before = read(pair.b)
    os.mkdir(pair.b + ".tmp.d")
    with pytest.raises(OSError):
        cw._swap_in(pair.b, pair.b + ".tmp.d/missing", False)
    assert read(pair.b) == before


@pytest.mark.parametrize("src_archives, dst_archives", [
    ([(1, 60), (5, 120), (60, 60)], [(1, 60), (5, 120), (60, 60)]),
    ([(1, 300), (10, 300)], [(1, 60), (5, 120), (60, 60)]),
])
def test_fill_matches_whisper_fill(tmp_path, src_archives, dst_archives):
    (tmp_path / "s").mkdir()
    (tmp_path / "d").mkdir()
    src = filled_pair(tmp_path / "s", src_archives, seed=1)
    dst = Pair(tmp_path / "d", dst_archives, 0.4, "average")
    rnd = random.Random(3)
    holes = [(NOW - t, rnd.uniform(1, 2)) for t in range(0, 3600, 7) if (t // 90) % 3]
    dst.update_many(holes, NOW)
    before = read(dst.b)
    run_script("whisper-fill.py", [src.a, dst.a], NOW)
    cw.fill(src.b, dst.b, now=NOW)
    dst.assert_same()
    assert read(dst.b) != before


def test_fill_range_outside_source_retention_does_nothing(tmp_path):
    (tmp_path / "s").mkdir()
    src = filled_pair(tmp_path / "s", [(1, 60)])
    dst = Pair(tmp_path, [(1, 60)])
    before = read(dst.b)
    cw.fill_range(src.b, dst.b, NOW - 10_000, NOW - 9_000, now=NOW)
    cw.fill(src.b, dst.b, start_from=NOW - 10_000, now=NOW)
    assert read(dst.b) == before


# --- less travelled paths -------------------------------------------------------------------
def test_six_archives_header_read_in_two_parts(tmp_path):
    archives = [(1, 20), (2, 20), (4, 20), (8, 20), (16, 20), (32, 20)]
    pair = Pair(tmp_path, archives, 0.5, "sum")
    for points, now in random_batches(12, NOW, count=8, spread=320):
        pair.update_many(points, now)
    pair.assert_same()
    assert cw.info(pair.b)["archives"] == oracle.info(pair.a)["archives"]


def test_points_at_interval_zero_match_whisper(tmp_path):
    pair = Pair(tmp_path, [(10, 6), (60, 10)], 0.0, "sum")
    pair.update_many([(5, 1.0)], 20)
    pair.update_many([(15, 2.0)], 20)
    pair.assert_same()


def test_large_batch_from_interval_zero_matches_whisper(tmp_path):
    pair = Pair(tmp_path, [(1, 200), (10, 30)], 0.0, "sum")
    pair.update_many([(t, float(t)) for t in range(LARGE)], LARGE)
    pair.assert_same()


@pytest.mark.parametrize("size", [5, LARGE])
def test_update_many_takes_any_iterable_as_whisper(tmp_path, size):
    pair = Pair(tmp_path, [(10, 60), (60, 60)])
    points = [(NOW - 10 * i, None if i % 3 else float(i)) for i in range(size)]
    oracle.update_many(pair.a, filter(lambda p: p[1] is not None, points), now=NOW)
    cw.update_many(pair.b, filter(lambda p: p[1] is not None, points), now=NOW)
    cw.update_many(pair.b, (p for p in ()), now=NOW)
    pair.assert_same()


def test_now_defaults_to_the_clock(tmp_path):
    pair = Pair(tmp_path, [(10, 60), (60, 60)])
    with freeze_time(datetime.datetime.fromtimestamp(NOW, datetime.timezone.utc)):
        many = [(NOW - 20 - i, 3.0) for i in range(LARGE)]
        cw.update(pair.b, 1.0)
        cw.update_many(pair.b, [(NOW - 10, 2.0)])
        cw.update_many(pair.b, many)
        oracle.update(pair.a, 1.0)
        oracle.update_many(pair.a, [(NOW - 10, 2.0)])
        oracle.update_many(pair.a, many)
        assert cw.fetch(pair.b, NOW - 30) == oracle.fetch(pair.a, NOW - 30)
        cw.merge(pair.b, pair.a)
    pair.assert_same()


def test_merge_with_lock(tmp_path):
    src, dst = make_two(tmp_path, 9)
    oracle.merge(src.a, dst.a, now=NOW)
    cw.merge(src.b, dst.b, now=NOW, lock=True, autoflush=True)
    dst.assert_same()


def test_create_failure_removes_the_half_made_file(tmp_path):
    import resource

    path = str(tmp_path / "big.wsp")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
    try:
        with pytest.raises(OSError):
            cw.create(path, [(1, 100_000)])
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert not os.path.exists(path)


def test_future_points_sharing_a_lower_slot_match_whisper(tmp_path):
    pair = Pair(tmp_path, [(1, 10), (2, 6)], 0.0, "sum")
    pair.update_many([(NOW - 10, 1.0), (NOW + 2, 2.0)], NOW)
    pair.update_many([(NOW - 7, 3.0), (NOW + 5, 4.0), (NOW - 1, 5.0)], NOW)
    pair.assert_same()
    many = [(NOW - 10, float(i)) for i in range(LARGE // 2)]
    pair.update_many(many + [(NOW + 2, float(i)) for i in range(LARGE // 2)], NOW)
    pair.assert_same()


def test_carbon_settings_map_onto_keyword_arguments(tmp_path):
    import inspect

    settings = {"WHISPER_LOCK_WRITES": True, "WHISPER_AUTOFLUSH": True,
                "WHISPER_FADVISE_RANDOM": True, "WHISPER_SPARSE_CREATE": False,
                "WHISPER_FALLOCATE_CREATE": True}
    kw = {cw.CARBON_SETTING_KEYWORDS[key]: value for key, value in settings.items()}
    path = str(tmp_path / "x.wsp")
    cw.create(path, [(10, 6)], **kw)
    writer_kw = {k: v for k, v in kw.items() if k in ("lock", "autoflush", "fadvise_random")}
    cw.update_many(path, [(NOW, 1.0)], now=NOW, **writer_kw)
    for fn in (cw.update, cw.update_many, cw.update_many_arrays):
        assert set(writer_kw) <= set(inspect.signature(fn).parameters)
    assert cw.fetch(path, NOW - 10, now=NOW)[1] == [1.0]


# --- drop-in: Graphite's own whisper-*.py scripts run on carbonish.whisper ----------------
def script_session(directory, module, monkeypatch, capsys):
    """Run a fixed session of whisper's scripts with `module` as `whisper`; return
    what they printed (paths made relative) and the files they left."""
    f, g = str(directory / "f.wsp"), str(directory / "g.wsp")
    now = NOW
    session = [
        ("whisper-create.py", [f, "10s:1h", "1m:1d", "--xFilesFactor=0.2",
                               "--aggregationMethod=max"]),
        ("whisper-create.py", [g, "10s:1h", "1m:1d", "--sparse"]),
        ("whisper-update.py", [f, *[f"{now - 10 * i}:{i * 1.5}" for i in range(40)]]),
        ("whisper-update.py", [g, *[f"{now - 7 * i}:{-i}" for i in range(0, 300, 3)]]),
        ("whisper-update.py", [g, "N:5.5"]),
        ("whisper-info.py", [f]),
        ("whisper-info.py", [g, "--json"]),
        ("whisper-info.py", [g, "aggregationMethod"]),
        ("whisper-fetch.py", [f, f"--from={now - 600}", "--json"]),
        ("whisper-fetch.py", [g, "--drop=nulls"]),
        ("whisper-dump.py", [f]),
        ("whisper-diff.py", [f, g]),
        ("whisper-diff.py", [f, g, "--summary", "--json"]),
        ("whisper-set-aggregation-method.py", [f, "sum", "0.4"]),
        ("whisper-set-xfilesfactor.py", [g, "0.7"]),
        ("whisper-merge.py", [g, f, f"--from={now - 900}"]),
        ("whisper-fill.py", [f, g]),
        ("whisper-resize.py", [f, "5s:30m", "1m:2d", "--nobackup"]),
        ("whisper-fetch.py", [f, f"--from={now - 1800}"]),
    ]
    monkeypatch.setitem(sys.modules, "whisper", module)
    printed = []
    capsys.readouterr()
    for script, args in session:
        run_script(script, args, now)
        printed.append(capsys.readouterr().out.replace(str(directory), "<dir>"))
    monkeypatch.undo()
    return printed, read(f), read(g)


def test_graphites_scripts_run_unchanged_on_carbonish(tmp_path, monkeypatch, capsys):
    """A session of whisper's own scripts with `whisper` resolving to carbonish prints
    what it prints on whisper and leaves the same files."""
    (tmp_path / "oracle").mkdir()
    (tmp_path / "ours").mkdir()
    expected = script_session(tmp_path / "oracle", oracle, monkeypatch, capsys)
    got = script_session(tmp_path / "ours", cw, monkeypatch, capsys)
    for step, (want, have) in enumerate(zip(expected[0], got[0])):
        assert have == want, step
    assert got[1:] == expected[1:]


def neumaier_sum(values):
    """CPython 3.12's sum() of floats, transcribed: the first value is added plainly,
    the rest with Neumaier's compensation, applied at the end if finite and non-zero."""
    total, compensation = 0.0 + values[0], 0.0
    for x in values[1:]:
        added = total + x
        if abs(total) >= abs(x):
            compensation += (total - added) + x
        else:
            compensation += (x - added) + total
        total = added
    if compensation and math.isfinite(compensation):
        total += compensation
    return total


@pytest.mark.parametrize("compensated", [False, True])
def test_row_sums_add_as_cpython_sum_does(compensated):
    rnd = np.random.default_rng(5)
    rows = rnd.choice([1e16, -1e16, 1.0, 3.3, -2.2, 1e-8, 0.0, -0.0], size=(400, 7))
    rows[::9] = rnd.normal(size=(len(rows[::9]), 7)) * 10.0 ** rnd.integers(-5, 17)
    got = cw._sum_rows(rows, compensated)
    for row, total in zip(rows.tolist(), got.tolist()):
        if compensated:
            expected = neumaier_sum(row)
        else:
            expected = 0.0
            for x in row:
                expected += x
        assert struct.pack("!d", total) == struct.pack("!d", expected)
    if compensated == cw._COMPENSATED_SUM:     # the running interpreter's own sum()
        assert [struct.pack("!d", float(sum(r))) for r in rows.tolist()] == \
            [struct.pack("!d", t) for t in got.tolist()]
