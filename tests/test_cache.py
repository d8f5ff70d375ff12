import numpy as np

from carbonish.cache import MetricCache


def add(cache, rows):
    names = [name for name, _, _ in rows]
    cache.add(names, np.array([t for _, t, _ in rows], dtype=np.int64),
              np.array([v for _, _, v in rows], dtype=np.float64))


def test_points_stay_queryable_through_every_stage_until_written():
    cache = MetricCache()
    add(cache, [("a", 10, 1.0), ("b", 10, 5.0), ("a", 20, 2.0)])
    assert cache.query("a") == [(10, 1.0), (20, 2.0)]
    cache.group()
    assert cache.query("a") == [(10, 1.0), (20, 2.0)]
    (metric,) = [m for m in cache.plan() if cache.name_of(m) == "a"]
    name, timestamps, values = cache.begin_write(metric)
    assert name == "a" and timestamps.tolist() == [10, 20] and values.tolist() == [1.0, 2.0]
    add(cache, [("a", 30, 3.0)])
    assert cache.query("a") == [(10, 1.0), (20, 2.0), (30, 3.0)]
    cache.end_write(metric)
    assert cache.query("a") == [(30, 3.0)]
    assert cache.size == 2
    assert cache.query("unknown") == []


def test_latest_arrival_wins_for_a_repeated_timestamp():
    cache = MetricCache()
    add(cache, [("a", 10, 1.0)])
    cache.group()
    add(cache, [("a", 10, 9.0), ("a", 5, 0.5)])
    assert cache.query("a") == [(5, 0.5), (10, 9.0)]
    cache.group()
    metric = cache.plan()[0]
    _, timestamps, values = cache.begin_write(metric)
    assert timestamps.tolist() == [10, 10, 5] and values.tolist() == [1.0, 9.0, 0.5]


def test_strategies_order_metrics():
    cache = MetricCache()
    add(cache, [("few", 1, 0)] + [("many", t, 0) for t in range(5)] + [("mid", t, 0) for t in range(3)])
    cache.group()
    names = lambda ids: [cache.name_of(m) for m in ids]
    assert names(cache.plan("sorted")) == ["many", "mid", "few"]
    assert names(cache.plan("max")) == ["many"]
    assert sorted(names(cache.plan("naive"))) == ["few", "many", "mid"]
    assert cache.queues == 3


def test_abort_write_puts_points_back_first():
    cache = MetricCache()
    add(cache, [("a", 1, 1.0)])
    cache.group()
    metric = cache.plan()[0]
    cache.begin_write(metric)
    add(cache, [("a", 2, 2.0)])
    cache.group()
    cache.abort_write(metric)
    _, timestamps, _ = cache.begin_write(metric)
    assert timestamps.tolist() == [1, 2]


def test_full_and_resume_below_low_watermark():
    cache = MetricCache(max_size=4, low_watermark=1)
    resumed = []
    cache.on_resume(lambda: resumed.append(True))
    add(cache, [("a", 1, 1.0), ("a", 2, 1.0), ("b", 1, 1.0), ("c", 1, 1.0)])
    assert cache.full
    cache.group()
    for metric in cache.plan()[:2]:
        cache.begin_write(metric)
        cache.end_write(metric)
        if cache.size > 1:
            assert cache.full and not resumed
    assert cache.size == 1 and not cache.full and resumed == [True]


def test_backlog_limit_pauses_waiting_senders_without_dropping():
    cache = MetricCache(backlog_limit=4)
    resumed = []
    cache.on_resume(lambda: resumed.append(True))
    add(cache, [("a", t, 1.0) for t in range(5)])
    assert cache.paused and not cache.full  # TCP waits; UDP and HTTP still take points
    add(cache, [("b", 1, 1.0)])
    assert cache.size == 6
    cache.wait_for_pressure(10)  # returns at once: the pause set the pressure event
    cache.group()
    for metric in cache.plan():
        cache.begin_write(metric)
        cache.end_write(metric)
    assert not cache.paused and resumed == [True]


def test_naive_plan_is_arrival_order_and_sorted_breaks_ties_by_it():
    cache = MetricCache()
    add(cache, [("b", 1, 0.0), ("c", 1, 0.0)])
    cache.group()
    add(cache, [("a", 1, 0.0), ("a", 2, 0.0), ("c", 2, 0.0)])
    cache.group()
    names = lambda ids: [cache.name_of(m) for m in ids]
    assert names(cache.plan("naive")) == ["b", "c", "a"]
    assert names(cache.plan("sorted")) == ["c", "a", "b"]
    metric = cache.plan("sorted")[0]
    cache.begin_write(metric)
    cache.abort_write(metric)  # put back: oldest, so first to come
    assert names(cache.plan("naive")) == ["c", "b", "a"]
    assert cache.query("c") == [(1, 0.0), (2, 0.0)]


def test_a_mostly_written_group_keeps_only_what_is_left():
    cache = MetricCache()
    rows = [(f"m{m:03d}", t, float(m)) for t in range(50) for m in range(100)]
    add(cache, rows)
    cache.group()
    plan = cache.plan("naive")
    add(cache, [("late", 1, 1.0)])  # a second group, untouched by the writes below
    cache.group()
    for metric in plan[:95]:  # the last 5 wait (say, for the create limit)
        cache.begin_write(metric)
        cache.end_write(metric)
    group, late = cache._groups
    assert len(group.values) < 100 * 50 // 8  # copied out once 1/8 was left
    assert len(late.values) == 1
    assert cache.query("m097") == [(t, 97.0) for t in range(50)]
    assert sorted(cache.plan()) == sorted(plan[95:] + cache.ids(["late"]))
    assert cache.size == 251 and cache.queues == 6
    for metric in plan[95:] + cache.ids(["late"]):
        _, timestamps, values = cache.begin_write(metric)
        assert timestamps.tolist() == (list(range(50)) if len(timestamps) > 1 else [1])
        cache.end_write(metric)
    assert cache._groups == [] and cache.size == 0 and cache.plan() == []
    assert cache.begin_write(plan[0])[1].tolist() == []  # nothing staged: nothing to write
