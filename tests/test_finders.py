"""Finders: Graphite's wildcard semantics over a real whisper tree, path safety,
cache-point merging as graphite-web's merge_with_cache, and the cluster protocol."""
import fnmatch
import math
import os
import pickle

import numpy as np
import pytest
import whisper
from hypothesis import given, settings as hsettings, strategies as st

from webapp.errors import InputError
from webapp.finders import (LocalFinder, Node, NodeMatcher, PatternError, RemoteError,
                            RemoteFinder, Store, expand_braces, merge_cache_points,
                            split_pattern)

NOW = 1_700_000_000


class OracleStorage:
    """The real whisper package behind the finder's storage interface."""

    CorruptWhisperFile = whisper.CorruptWhisperFile

    def fetch_array(self, path, start, end, now):
        answer = whisper.fetch(path, start, end, now=now)
        if answer is None:
            return None
        time_info, values = answer
        return time_info, np.array([np.nan if v is None else v for v in values])

    def info(self, path):
        return whisper.info(path)

    def file_fetch_array(self, fh, start, end, now):
        time_info, values = whisper.file_fetch(fh, start, end, now=now)
        return time_info, np.array([np.nan if v is None else v for v in values])


def make(root, name, points=(), retention=((10, 360),)):
    path = os.path.join(root, *name.split(".")) + ".wsp"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    whisper.create(path, list(retention))
    if points:
        whisper.update_many(path, list(points), now=NOW)
    return path


@pytest.fixture
def tree(tmp_path):
    for name in ("a.b.c", "a.b.d", "a.bb.c", "a.x1", "a.x2", "a.y", "b.c", "a.b"):
        make(str(tmp_path), name)
    os.makedirs(tmp_path / "a" / ".hidden")
    make(str(tmp_path), "a.zz")
    os.rename(tmp_path / "a" / "zz.wsp", tmp_path / "a" / ".zz.wsp")
    (tmp_path / "a" / "notes.txt").write_text("not a series")
    return tmp_path


def paths(nodes):
    return [(n.path, n.is_leaf) for n in nodes]


@pytest.mark.parametrize("pattern, expected", [
    ("a.*", [("a.b", False), ("a.b", True), ("a.bb", False), ("a.x1", True),
             ("a.x2", True), ("a.y", True)]),
    ("a.x?", [("a.x1", True), ("a.x2", True)]),
    ("a.x[2-9]", [("a.x2", True)]),
    ("a.x[!2]", [("a.x1", True)]),
    ("a.{y,x1}", [("a.x1", True), ("a.y", True)]),
    ("a.{b,bb}.c", [("a.b.c", True), ("a.bb.c", True)]),
    ("*.c", [("b.c", True)]),
    ("*.*.c", [("a.b.c", True), ("a.bb.c", True)]),
    ("a.b.c", [("a.b.c", True)]),
    ("a.b", [("a.b", False), ("a.b", True)]),
    ("a.nope", []),
    ("nope.*", []),
    ("a.b*.{c,d}", [("a.b.c", True), ("a.b.d", True), ("a.bb.c", True)]),
])
def test_find_wildcards_graphite_semantics(tree, pattern, expected):
    assert paths(LocalFinder(tree, OracleStorage()).find(pattern)) == expected


def test_a_folder_of_many_subfolders_and_stray_files(tmp_path):
    """Folders, stray files and hidden entries side by side: folders and .wsp leaves are
    the nodes."""
    for i in range(40):
        (tmp_path / "top" / f"d{i:02d}").mkdir(parents=True)
        (tmp_path / "top" / f"f{i:02d}.txt").write_text("not a series")
    (tmp_path / "top" / ".hidden").mkdir()
    make(str(tmp_path), "top.leaf")
    found = paths(LocalFinder(tmp_path, OracleStorage()).find("top.*"))
    assert found == [(f"top.d{i:02d}", False) for i in range(40)] + [("top.leaf", True)]
    assert LocalFinder(tmp_path / "top" / "leaf.wsp", OracleStorage()).find("*") == []


def test_star_never_crosses_a_dot(tree):
    assert LocalFinder(tree, OracleStorage()).find("a*") == [Node("a", False)]


@pytest.mark.parametrize("pattern", [
    "/etc/passwd", "../etc.passwd", "a..b", ".a", "a.", "a\\b", "a\x00b", "", "a./b",
])
def test_patterns_that_could_escape_are_rejected(tree, pattern):
    with pytest.raises(PatternError) as caught:
        LocalFinder(tree, OracleStorage()).find(pattern)
    assert isinstance(caught.value, InputError)


def test_expand_braces_nested_order_and_dedup():
    assert expand_braces("x{a,b}y{1,2}") == ["xay1", "xay2", "xby1", "xby2"]
    assert expand_braces("{a,a}") == ["a"]
    assert expand_braces("plain") == ["plain"]


def test_node_matcher_literals_with_braces():
    matcher = NodeMatcher("{a,b*}")
    assert matcher.filter(["a", "b1", "c"]) == ["a", "b1"]
    assert NodeMatcher("{a,b}").filter(["b", "c", "a"]) == ["b", "a"]


def test_split_pattern_returns_nodes():
    assert split_pattern("a.b*.c") == ["a", "b*", "c"]


def test_index_lists_every_series_sorted(tree):
    assert LocalFinder(tree, OracleStorage()).index() == [
        "a.b", "a.b.c", "a.b.d", "a.bb.c", "a.x1", "a.x2", "a.y", "b.c"]


def test_fetch_matches_whisper_oracle(tmp_path):
    path = make(str(tmp_path), "s.one", [(NOW - 30, 1.0), (NOW - 20, 2.0)])
    finder = LocalFinder(tmp_path, OracleStorage())
    [result] = finder.fetch(["s.*"], NOW - 60, NOW, NOW)
    (start, end, step), expected = whisper.fetch(path, NOW - 60, NOW, now=NOW)
    assert (result.name, result.path_expression) == ("s.one", "s.*")
    assert (result.start, result.end, result.step) == (start, end, step)
    assert [None if math.isnan(v) else v for v in result.values] == expected


class StubCarbonLink:
    def __init__(self, points):
        self.points = points
        self.asked = []

    def query_bulk(self, names):
        self.asked.append(list(names))
        return {n: self.points[n] for n in names if n in self.points}


def test_fetch_merges_cache_points_in_one_bulk_query(tmp_path):
    make(str(tmp_path), "s.one", [(NOW - 30, 1.0)])
    make(str(tmp_path), "s.two")
    link = StubCarbonLink({"s.one": [(NOW - 30, 9.0), (NOW - 10, 3.0)],
                           "s.two": [(NOW - 20, 4.0)]})
    finder = LocalFinder(tmp_path, OracleStorage(), link)
    one, two = finder.fetch(["s.*"], NOW - 60, NOW, NOW)
    assert link.asked == [["s.one", "s.two"]]
    start = one.start
    assert one.values[(NOW - 30 - start) // 10] == 9.0  # cache wins over file
    assert one.values[(NOW - 10 - start) // 10] == 3.0
    assert two.values[(NOW - 20 - start) // 10] == 4.0


def test_merge_cache_points_last_per_raw_interval_then_aggregated():
    values = np.full(3, np.nan)
    # raw step 10: 105 and 109 fall in interval 100, last wins (7); fetch step 60 sums.
    points = [(105, 5.0), (109, 7.0), (110, 1.0), (170, 2.0), (59, 100.0), (300, 1.0)]
    merge_cache_points(values, 60, 60, points, "sum", 10)
    assert values[0] == 8.0 and values[1] == 2.0 and math.isnan(values[2])


@pytest.mark.parametrize("method, expected", [
    ("average", 4.0), ("max", 7.0), ("min", 1.0), ("last", 7.0), ("sum", 8.0)])
def test_merge_cache_points_methods(method, expected):
    values = np.full(1, np.nan)
    merge_cache_points(values, 0, 60, [(0, 1.0), (10, 7.0), (20, None)], method, 10)
    assert values[0] == expected


def test_merge_cache_points_ignores_all_none():
    values = np.array([1.0])
    merge_cache_points(values, 0, 10, [(0, None)], "average", 10)
    assert values[0] == 1.0


def test_unreadable_file_is_skipped(tmp_path):
    make(str(tmp_path), "ok")
    (tmp_path / "bad.wsp").write_bytes(b"short")
    results = LocalFinder(tmp_path, OracleStorage()).fetch(["*"], NOW - 60, NOW, NOW)
    assert [r.name for r in results] == ["ok"]


def test_fetch_outside_retention_gives_nothing(tmp_path):
    make(str(tmp_path), "ok")
    assert LocalFinder(tmp_path, OracleStorage()).fetch(["ok"], NOW + 10, NOW + 20, NOW) == []


def test_intervals_cover_retention(tmp_path):
    make(str(tmp_path), "ok")
    finder = LocalFinder(tmp_path, OracleStorage())
    [node] = finder.find("ok")
    [(start, end)] = finder.intervals(node, NOW)
    assert start == NOW - 3600 and end >= start


# --- cluster protocol -------------------------------------------------------------

class IntervalSet:
    def __init__(self, intervals):
        self.intervals = intervals
        self.size = 0


class Interval:
    def __init__(self, start, end):
        self.start, self.end, self.tuple = start, end, (start, end)


def graphite_pickle(obj):
    """A pickle naming graphite.intervals classes, as a graphite-web node sends."""
    module = IntervalSet.__module__.encode()
    return pickle.dumps(obj, protocol=2).replace(module + b"\n", b"graphite.intervals\n")


class StubHttp:
    def __init__(self, answers):
        self.answers = answers
        self.urls = []

    def __call__(self, url, timeout):
        self.urls.append((url, timeout))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_remote_find_reads_graphite_interval_objects():
    payload = graphite_pickle([
        {"path": "r.a", "is_leaf": True, "intervals": IntervalSet([Interval(1, 5)])},
        {"path": "r.b", "is_leaf": False}])
    http = StubHttp([payload])
    nodes = RemoteFinder("peer:8080", http_get=http).find("r.*", 10, 20)
    assert nodes == [Node("r.a", True, None, ((1, 5),)), Node("r.b", False)]
    url, timeout = http.urls[0]
    assert url == ("http://peer:8080/metrics/find/?local=1&format=pickle&query=r.%2A"
                   "&from=10&until=20")
    assert timeout == 3.0


def test_remote_find_reads_carbonish_tuples():
    payload = pickle.dumps([{"path": "r.a", "is_leaf": True, "intervals": [(1, 5)]}])
    assert RemoteFinder("p:1", http_get=StubHttp([payload])).find("r.a")[0].intervals == ((1, 5),)


def test_remote_refuses_other_globals():
    payload = b"cos\nsystem\n(S'true'\ntR."
    with pytest.raises(RemoteError, match="refused pickle global os.system"):
        RemoteFinder("p:1", http_get=StubHttp([payload])).find("x")


def test_remote_fetch_asks_render_and_decodes_series():
    payload = pickle.dumps([{"name": "r.a", "start": 0, "end": 20, "step": 10,
                             "values": [1.0, None], "pathExpression": "r.*"}])
    http = StubHttp([payload])
    [result] = RemoteFinder("p:1", http_get=http).fetch(["r.*"], 0, 20, 30)
    assert (result.name, result.path_expression, result.step) == ("r.a", "r.*", 10)
    assert result.values[0] == 1.0 and math.isnan(result.values[1])
    assert http.urls[0][0] == ("http://p:1/render/?format=pickle&local=1&noCache=1"
                               "&from=0&until=20&target=r.%2A&now=30")


def test_remote_fetch_bad_shape_is_remote_error():
    http = StubHttp([pickle.dumps([{"name": "x"}])])
    with pytest.raises(RemoteError, match="invalid render answer"):
        RemoteFinder("p:1", http_get=http).fetch(["x"], 0, 20, None)


def test_failed_remote_is_skipped_for_retry_delay():
    clock = [100.0]
    remote = RemoteFinder("p:1", retry_delay=60, clock=lambda: clock[0],
                          http_get=StubHttp([OSError("refused"), pickle.dumps([])]))
    with pytest.raises(RemoteError, match="refused"):
        remote.find("x")
    assert not remote.available
    clock[0] = 160.0
    assert remote.available and remote.find("x") == []


def test_malformed_remote_pickle():
    with pytest.raises(RemoteError, match="malformed"):
        RemoteFinder("p:1", http_get=StubHttp([b"\x80\x02garbage"])).find("x")


def test_store_merges_local_and_remote_find_and_fetch(tmp_path):
    make(str(tmp_path), "m.local", [(NOW - 20, 1.0)])
    make(str(tmp_path), "m.both", [(NOW - 20, 1.0)])
    local = LocalFinder(tmp_path, OracleStorage())
    [both] = local.fetch(["m.both"], NOW - 60, NOW, NOW)
    remote_values = [None if math.isnan(v) else v for v in both.values.tolist()]
    remote_values[0] = 5.0  # the remote copy fills a gap the local one has
    find_answer = pickle.dumps([{"path": "m.remote", "is_leaf": True},
                                {"path": "m.both", "is_leaf": True}])
    fetch_answer = pickle.dumps([
        {"name": "m.both", "start": both.start, "end": both.end, "step": both.step,
         "values": remote_values, "pathExpression": "m.*"},
        {"name": "m.remote", "start": both.start, "end": both.end, "step": both.step,
         "values": [2.0] * len(remote_values), "pathExpression": "m.*"}])
    store = Store(local, [RemoteFinder("p:1", http_get=StubHttp([find_answer, fetch_answer]))])
    assert [n.path for n in store.find("m.*")] == ["m.both", "m.local", "m.remote"]
    fetched = store.fetch(["m.*"], NOW - 60, NOW, NOW)["m.*"]
    assert [r.name for r in fetched] == ["m.both", "m.local", "m.remote"]
    assert fetched[0].values[0] == 5.0


def test_store_local_only_and_failed_remote(tmp_path):
    make(str(tmp_path), "m.local")
    remote = RemoteFinder("p:1", http_get=StubHttp([OSError("down")]))
    store = Store(LocalFinder(tmp_path, OracleStorage()), [remote])
    assert [n.path for n in store.find("m.*", local_only=True)] == ["m.local"]
    assert [n.path for n in store.find("m.*")] == ["m.local"]  # failure logged, skipped
    assert not remote.available
    assert store.index() == ["m.local"]


def test_default_storage_is_carbonish_whisper(tmp_path):
    path = make(str(tmp_path), "s.one", [(NOW - 30, 1.0), (NOW - 20, 2.0)])
    [result] = LocalFinder(tmp_path).fetch(["s.one"], NOW - 60, NOW, NOW)
    (start, end, step), expected = whisper.fetch(path, NOW - 60, NOW, now=NOW)
    assert (result.start, result.end, result.step) == (start, end, step)
    assert [None if math.isnan(v) else v for v in result.values] == expected


def test_vanished_file_has_no_intervals_and_no_merge(tmp_path):
    make(str(tmp_path), "gone")
    finder = LocalFinder(tmp_path)
    [node] = finder.find("gone")
    os.remove(node.fs_path)
    assert finder.intervals(node, NOW) == ()


def test_parallel_fetch_same_results_in_order(tmp_path):
    for i in range(7):
        make(str(tmp_path), f"p.m{i}", [(NOW - 20, float(i))])
    serial = LocalFinder(tmp_path, OracleStorage(), fetch_threads=1)
    parallel = LocalFinder(tmp_path, OracleStorage(), fetch_threads=3, parallel_min=2)
    expected = serial.fetch(["p.*"], NOW - 60, NOW, NOW)
    got = parallel.fetch(["p.*"], NOW - 60, NOW, NOW)
    assert [r.name for r in got] == [r.name for r in expected] == [f"p.m{i}" for i in range(7)]
    assert all(np.array_equal(a.values, b.values, equal_nan=True) for a, b in zip(got, expected))


def test_literal_leaf_lookup(tmp_path):
    make(str(tmp_path), "l.one")
    finder = LocalFinder(tmp_path, OracleStorage())
    assert finder.find_leaves("l.one") == [Node("l.one", True, str(tmp_path / "l" / "one.wsp"))]
    assert finder.find_leaves("l") == [] and finder.find_leaves("l.two") == []
    assert [n.path for n in finder.find_leaves("l.{one,two}")] == ["l.one"]


def test_locked_reads_wait_for_an_exclusive_writer(tmp_path):
    import fcntl
    import threading
    path = make(str(tmp_path), "l.one", [(NOW - 20, 1.0)])
    finder = LocalFinder(tmp_path, OracleStorage(), lock_reads=True)
    results = []
    with open(path, "r+b") as writer:
        fcntl.flock(writer.fileno(), fcntl.LOCK_EX)
        reader = threading.Thread(
            target=lambda: results.append(finder.fetch(["l.one"], NOW - 60, NOW, NOW)))
        reader.start()
        reader.join(0.3)
        assert reader.is_alive() and results == []  # blocked behind the writer
        fcntl.flock(writer.fileno(), fcntl.LOCK_UN)
    reader.join(10)
    assert not reader.is_alive()
    [[result]] = results
    assert 1.0 in result.values.tolist()


def test_locked_reads_with_carbonish_whisper(tmp_path):
    make(str(tmp_path), "l.one", [(NOW - 20, 1.0)])
    [result] = LocalFinder(tmp_path, lock_reads=True).fetch(["l.one"], NOW - 60, NOW, NOW)
    assert 1.0 in result.values.tolist()


# --- property: the finder agrees with Graphite's per-node fnmatch over brace variants --

_NAMES = ["ab.cd.e1", "ab.cd.e2", "ab.ce.f", "ax.cd.e1", "b.c", "b.cd", "bc.d.e1", "ab.x"]
_NODE_PART = st.sampled_from(["a", "b", "c", "d", "e", "1", "*", "?", "[a-c]", "[!b]",
                              "{a,b}", "{cd,ce}", "{e1,x}"])
_PATTERN = st.lists(st.lists(_NODE_PART, min_size=1, max_size=3).map("".join),
                    min_size=1, max_size=3).map(".".join)


def _graphite_match(name, pattern):
    nodes, parts = name.split("."), pattern.split(".")
    return len(nodes) == len(parts) and all(
        any(fnmatch.fnmatchcase(node, variant) for variant in expand_braces(part))
        for node, part in zip(nodes, parts))


@pytest.fixture(scope="module")
def prop_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("prop")
    for name in _NAMES:
        make(str(root), name)
    return root


@hsettings(max_examples=200, deadline=None)
@given(pattern=_PATTERN)
def test_find_agrees_with_graphite_fnmatch(prop_tree, pattern):
    finder = LocalFinder(prop_tree, OracleStorage())
    leaves = sorted(n.path for n in finder.find(pattern) if n.is_leaf)
    assert leaves == sorted(n for n in _NAMES if _graphite_match(n, pattern))
    branches = {n.path for n in finder.find(pattern) if not n.is_leaf}
    prefixes = {".".join(n.split(".")[:k]) for n in _NAMES for k in range(1, n.count(".") + 1)}
    assert branches == {p for p in prefixes if _graphite_match(p, pattern)}
