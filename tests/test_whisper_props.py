"""Properties against the whisper 1.1.10 oracle: any valid archive list, xFilesFactor,
aggregation method and sequence of updates gives byte-identical files and identical
fetch results."""
import math
import os
import tempfile

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import whisper as oracle

from carbonish import whisper as cw

NOW = 1_600_000_000
FAST = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def archive_lists(draw):
    """Valid archive lists: steps each dividing the next, growing retentions, enough
    points to consolidate; small enough to keep the files tiny."""
    step = draw(st.sampled_from([1, 2, 5, 10, 60]))
    points = draw(st.integers(2, 120))
    archives = [(step, points)]
    for _ in range(draw(st.integers(0, 3))):
        factor = draw(st.integers(2, 6))
        prev_step, prev_points = archives[-1]
        if prev_points < factor:
            break
        step = prev_step * factor
        min_points = prev_step * prev_points // step + 1
        archives.append((step, draw(st.integers(min_points, min_points + 80))))
    return archives


values = st.one_of(
    st.floats(-1e6, 1e6, width=64),
    st.sampled_from([0.0, -0.0, 1.0, -1.0, math.inf, -math.inf, math.nan, 5e-324, 1e300]),
)


@st.composite
def scenarios(draw):
    archives = draw(archive_lists())
    retention = max(s * p for s, p in archives)
    step, points = archives[0]
    # A batch either spans the whole retention (no future points) or holds recent and
    # future points within half the first archive. (whisper writes past an archive's
    # end when one batch holds a run of slots longer than the ring, which only future
    # points can make; carbonish wraps instead, so such batches are not compared.)
    wide = st.integers(0, retention + 5)
    recent = st.integers(-2 * step if points >= 6 else 0, step * points // 2)
    # Up to 100 points: both the plain-Python path (<= 64) and the numpy one run.
    batch = st.one_of(st.lists(st.tuples(wide, values), min_size=1, max_size=100),
                      st.lists(st.tuples(recent, values), min_size=1, max_size=100))
    ops = st.lists(st.tuples(st.sampled_from(["many", "many", "one"]), batch,
                             st.integers(0, retention // 3 + 1)), min_size=1, max_size=8)
    xff = draw(st.one_of(st.sampled_from([0.0, 0.5, 1.0, 0.3]),
                         st.floats(0, 1, width=32)))
    return archives, xff, draw(st.sampled_from(sorted(oracle.aggregationMethods))), draw(ops)


def same_outcome(call_a, call_b):
    """Both calls return equal reprs, or raise exceptions of the same name."""
    results = []
    for call in (call_a, call_b):
        try:
            results.append(repr(call()))
        except Exception as error:  # compared by type name across the two modules
            results.append(type(error).__name__)
    assert results[0] == results[1]


def read(path):
    with open(path, "rb") as fh:
        return fh.read()


@FAST
@given(scenarios())
def test_random_updates_give_identical_bytes_and_fetches(scenario):
    archives, xff, method, ops = scenario
    with tempfile.TemporaryDirectory() as tmp:
        a, b = os.path.join(tmp, "a.wsp"), os.path.join(tmp, "b.wsp")
        oracle.create(a, list(archives), xff, method, sparse=True)
        cw.create(b, list(archives), xff, method, sparse=True)
        assert read(a) == read(b)
        now = NOW
        for kind, batch, advance in ops:
            points = [(now - age, value) for age, value in batch]
            if kind == "many":
                oracle.update_many(a, list(points), now=now)
                cw.update_many(b, list(points), now=now)
            else:
                (t, v), = points[:1]
                same_outcome(lambda: oracle.update(a, v, t, now=now),
                             lambda: cw.update(b, v, t, now=now))
            assert read(a) == read(b)
            now += advance
        check_fetches(a, b, archives, now)


def check_fetches(a, b, archives, now):
    retention = max(s * p for s, p in archives)
    for from_age in sorted({1, archives[0][0], archives[0][0] * archives[0][1] // 2,
                            retention // 2, retention, retention + 100}):
        for path in (a, b):
            same_outcome(lambda: oracle.fetch(path, now - from_age, now=now),
                         lambda: cw.fetch(path, now - from_age, now=now))
        fetched = cw.fetch(b, now - from_age, now=now)
        (info, array) = cw.fetch_array(b, now - from_age, now=now)
        assert info == fetched[0]
        expected = [math.nan if v is None else v for v in fetched[1]]
        np.testing.assert_array_equal(array, np.array(expected, np.float64))


@FAST
@given(archive_lists(), st.lists(st.tuples(st.integers(0, 10 ** 6), values), max_size=120))
def test_update_many_arrays_matches_oracle(archives, batch):
    with tempfile.TemporaryDirectory() as tmp:
        a, b = os.path.join(tmp, "a.wsp"), os.path.join(tmp, "b.wsp")
        oracle.create(a, list(archives), 0.5, "average")
        cw.create(b, list(archives), 0.5, "average")
        points = [(NOW - age % (archives[-1][0] * archives[-1][1] + 10), v) for age, v in batch]
        oracle.update_many(a, points, now=NOW)
        cw.update_many_arrays(b, np.array([t for t, _ in points], np.int64),
                              np.array([v for _, v in points], np.float64), now=NOW)
        assert read(a) == read(b)


@FAST
@given(scenarios(), st.booleans())
def test_create_with_points_is_create_then_update_many(scenario, fallocate):
    """A file made with its first points in one go is byte for byte whisper's create
    followed by update_many of those points, both for later updates and fetches."""
    archives, xff, method, ops = scenario
    _, first, _ = ops[0]
    with tempfile.TemporaryDirectory() as tmp:
        a, b = os.path.join(tmp, "a.wsp"), os.path.join(tmp, "b.wsp")
        points = [(NOW - age, value) for age, value in first]
        oracle.create(a, list(archives), xff, method, useFallocate=fallocate)
        oracle.update_many(a, list(points), now=NOW)
        cw.create_with_points(b, list(archives), xff, method,
                              np.array([t for t, _ in points], np.int64),
                              np.array([v for _, v in points], np.float64),
                              now=NOW, useFallocate=fallocate)
        assert read(a) == read(b)
        for _, batch, _ in ops[1:]:
            later = [(NOW - age, value) for age, value in batch]
            oracle.update_many(a, list(later), now=NOW)
            cw.update_many(b, list(later), now=NOW)
        assert read(a) == read(b)
        check_fetches(a, b, archives, NOW)


@FAST
@given(archive_lists(), st.lists(st.integers(0, 5000), min_size=1, max_size=50),
       st.integers(1, 300))
def test_points_inside_the_first_archive_come_back(archives, ages, span):
    """Distinct points written within the first archive's retention are fetched back
    at their aligned timestamps."""
    step, points = archives[0]
    retention = step * points
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "x.wsp")
        cw.create(path, archives)
        written = {}
        for age in ages:
            age %= retention
            t = NOW - age
            written[t - t % step] = float(age)
        cw.update_many(path, [(t, v) for t, v in written.items()], now=NOW)
        (start, end, got_step), values = cw.fetch_array(path, NOW - retention, NOW, now=NOW)
        assert got_step == step
        for t, v in written.items():
            if start <= t < end:
                assert values[(t - start) // step] == v


@st.composite
def small_batch_scenarios(draw):
    """Batches of at most 64 points (the plain-Python path) into rings of 300 to 1,500
    slots: the windows of one batch fall into several stretches of the higher archive,
    some across the ring's end, with gaps, and may lap a lower archive."""
    step = draw(st.sampled_from([1, 5, 10]))
    archives = [(step, draw(st.integers(300, 1500)))]
    for _ in range(draw(st.integers(1, 2))):
        prev_step, prev_points = archives[-1]
        step = prev_step * draw(st.integers(2, 6))
        min_points = prev_step * prev_points // step + 1
        archives.append((step, draw(st.integers(min_points, min_points + 300))))
    retention = archives[-1][0] * archives[-1][1]
    near = st.integers(-2 * archives[0][0], archives[0][0] * archives[0][1])
    age = st.one_of(near, st.integers(0, retention + 5))
    batches = st.lists(st.lists(st.tuples(age, values), min_size=1, max_size=64),
                       min_size=1, max_size=6)
    xff = draw(st.one_of(st.sampled_from([0.0, 0.5, 1.0]), st.floats(0, 1, width=32)))
    method = draw(st.sampled_from(sorted(oracle.aggregationMethods)))
    return archives, xff, method, draw(batches), draw(st.integers(0, archives[0][0] * 400))


@FAST
@given(small_batch_scenarios())
def test_small_batches_over_large_rings_give_identical_bytes(scenario):
    archives, xff, method, batches, advance = scenario
    with tempfile.TemporaryDirectory() as tmp:
        a, b = os.path.join(tmp, "a.wsp"), os.path.join(tmp, "b.wsp")
        oracle.create(a, list(archives), xff, method, sparse=True)
        cw.create(b, list(archives), xff, method, sparse=True)
        now = NOW
        for batch in batches:
            points = [(now - age, value) for age, value in batch]
            oracle.update_many(a, list(points), now=now)
            cw.update_many(b, list(points), now=now)
            assert read(a) == read(b)
            now += advance
