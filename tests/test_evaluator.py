"""The evaluator with a stand-in function registry and store."""
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from webapp import evaluator as ev
from webapp.errors import InputError, LimitExceeded
from webapp.evaluator import Evaluator, Limits, RenderRequest, check_backtracking
from webapp.finders import FetchResult
from webapp.series import TimeSeries

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


class Store:
    """Series named like the pattern's leaves: `x.*` -> x.a, x.b; records fetches."""

    def __init__(self, leaves=("a", "b"), length=3):
        self.leaves = leaves
        self.length = length
        self.calls = []

    def fetch(self, patterns, start, end, now, local_only=False):
        self.calls.append((list(patterns), start, end, now, local_only))
        out = {}
        for pattern in patterns:
            names = ([pattern.replace("*", leaf) for leaf in self.leaves]
                     if "*" in pattern else [pattern])
            out[pattern] = [FetchResult(name, pattern, start, start + 10 * self.length, 10,
                                        np.arange(self.length, dtype=float) + i)
                            for i, name in enumerate(names)]
        return out


class Registry:
    """sumSeries, scale, shifted (uses ctx.evaluate), grepish (uses ctx.compile_regex)."""

    def call(self, name, ctx, args, kwargs, arg_texts=None):
        if name == "sumSeries":
            series = [s for arg in args for s in arg]
            values = np.sum([s.values for s in series], axis=0)
            first = series[0]
            return [TimeSeries("sumSeries(x)", first.start, first.end, first.step, values)]
        if name == "scale":
            return [TimeSeries(s.name, s.start, s.end, s.step, s.values * args[1])
                    for s in args[0]]
        if name == "shifted":
            return ctx.evaluate(args[0][0].path_expression, ctx.start_time - timedelta(days=1),
                                ctx.end_time - timedelta(days=1))
        if name == "grepish":
            regex = ctx.compile_regex(args[1])
            return [s for s in args[0] if regex.search(s.name)]
        if name == "number":
            return 5
        if name == "single":
            return TimeSeries("single", 0, 10, 10, [1.0])
        if name == "big":
            return [TimeSeries("big", 0, 1000, 1, np.zeros(1000))]
        raise InputError(f"unknown function {name}")


def request(*targets, **kw):
    kw.setdefault("start_time", NOW - timedelta(hours=1))
    kw.setdefault("end_time", NOW)
    return RenderRequest(list(targets), now=NOW, **kw)


def test_path_expression_series_carry_pattern_and_xff():
    store = Store()
    out = Evaluator(Registry(), store).render(request("x.*", x_files_factor=0.5))
    assert [s.name for s in out] == ["x.a", "x.b"]
    assert all(s.path_expression == "x.*" and s.x_files_factor == 0.5 for s in out)
    assert out[0].start == int((NOW - timedelta(hours=1)).timestamp())


def test_all_paths_of_all_targets_fetched_in_one_batch():
    store = Store()
    out = Evaluator(Registry(), store).render(
        request("sumSeries(x.*, y.*)", "scale(x.*, 2)", "z.c", local_only=True))
    assert len(store.calls) == 1
    assert store.calls[0][0] == ["x.*", "y.*", "z.c"]
    assert store.calls[0][4] is True
    assert [s.name for s in out] == ["sumSeries(x)", "x.a", "x.b", "z.c"]
    assert out[0].values.tolist() == [2.0, 6.0, 10.0]  # x.a + x.b + y.a + y.b
    assert out[2].values.tolist() == [2.0, 4.0, 6.0]


def test_ctx_evaluate_fetches_other_range_once():
    store = Store()
    out = Evaluator(Registry(), store).render(request("shifted(x.a)"))
    assert len(store.calls) == 2
    day = 86400
    assert store.calls[1][1] == store.calls[0][1] - day
    assert out[0].start == store.calls[1][1]


def test_template_variables_and_request_overrides():
    store = Store()
    Evaluator(Registry(), store).render(
        request("template(hosts.$h.cpu, h='a')", "template(x.$1, 'q')", template={"h": "web1"}))
    assert store.calls[0][0] == ["hosts.web1.cpu", "x.q"]


def test_literal_target_is_input_error():
    with pytest.raises(InputError, match="not a series expression"):
        Evaluator(Registry(), Store()).render(request("number()"))


def test_parse_error_is_input_error():
    with pytest.raises(InputError, match="position"):
        Evaluator(Registry(), Store()).render(request("sumSeries(x.*"))


def test_empty_targets_ignored():
    assert Evaluator(Registry(), Store()).render(request("", "  ")) == []


def test_too_many_targets():
    with pytest.raises(LimitExceeded, match="MAX_TARGETS") as caught:
        Evaluator(Registry(), Store(), Limits(max_targets=2)).render(request("a", "b", "c"))
    assert caught.value.status == 400


def test_too_deep():
    with pytest.raises(LimitExceeded, match="MAX_DEPTH"):
        Evaluator(Registry(), Store(), Limits(max_depth=2)).render(
            request("scale(scale(scale(x.a, 1), 1), 1)"))


def test_too_many_series_is_413():
    with pytest.raises(LimitExceeded, match="MAX_SERIES") as caught:
        Evaluator(Registry(), Store(leaves="abc"), Limits(max_series=2)).render(request("x.*"))
    assert caught.value.status == 413


def test_too_many_points_fetched_is_413():
    with pytest.raises(LimitExceeded, match="MAX_POINTS") as caught:
        Evaluator(Registry(), Store(length=6), Limits(max_points=10)).render(request("x.*"))
    assert caught.value.status == 413


def test_too_many_points_answered_is_413():
    limits = Limits(max_points=999)
    with pytest.raises(LimitExceeded, match="in the answer") as caught:
        Evaluator(Registry(), Store(), limits).render(request("big()"))
    assert caught.value.status == 413


class SteppingClock:
    def __init__(self, step):
        self.now = 0.0
        self.step = step

    def __call__(self):
        self.now += self.step
        return self.now


def test_request_timeout_checked_between_steps():
    evaluator = Evaluator(Registry(), Store(), Limits(request_timeout=1.0), SteppingClock(0.6))
    with pytest.raises(LimitExceeded, match="REQUEST_TIMEOUT"):
        evaluator.render(request("scale(x.*, 2)"))


def test_regex_through_context():
    out = Evaluator(Registry(), Store()).render(request("grepish(x.*, 'a$')"))
    assert [s.name for s in out] == ["x.a"]


def test_catastrophic_regex_answered_within_time_limit():
    store = Store(leaves=("x" * 5000,))
    evaluator = Evaluator(Registry(), store, Limits(request_timeout=0.3))
    # timed out with the regex package; refused up front with plain `re`
    with pytest.raises(InputError, match="REQUEST_TIMEOUT|catastrophic"):
        evaluator.render(request("grepish(x.*, '(x+x+)+y')"))


def test_invalid_regex_is_input_error():
    with pytest.raises(InputError, match="invalid regular expression"):
        Evaluator(Registry(), Store()).render(request("grepish(x.*, '(')"))


def test_overlong_regex_is_input_error():
    with pytest.raises(InputError, match="longer than"):
        Evaluator(Registry(), Store()).render(request(f"grepish(x.*, '{'a' * 1001}')"))


@pytest.mark.parametrize("pattern", ["(a+)+$", "(x+x+)+y", "(a|aa)*b", "(.*)*"])
def test_static_check_refuses_exponential_patterns(pattern):
    with pytest.raises(InputError, match="catastrophic"):
        check_backtracking(pattern)


@pytest.mark.parametrize("pattern", ["a.*b", r"^foo\.(bar|baz)\.x+$", "(ab)*c", "[a-z]+"])
def test_static_check_allows_ordinary_patterns(pattern):
    check_backtracking(pattern)


def test_static_check_invalid_pattern():
    with pytest.raises(InputError, match="invalid regular expression"):
        check_backtracking("(")


def test_without_regex_package_patterns_are_checked(monkeypatch):
    monkeypatch.setattr(ev, "_regex", None)
    out = Evaluator(Registry(), Store()).render(request("grepish(x.*, 'b$')"))
    assert [s.name for s in out] == ["x.b"]
    with pytest.raises(InputError, match="catastrophic"):
        Evaluator(Registry(), Store()).render(request("grepish(x.*, '(a+)+$')"))


def test_safe_regex_methods():
    ctx = ev.RequestContext(Evaluator(Registry(), Store()), request("x"), deadline=1e18)
    regex = ctx.compile_regex(r"(\w+)\.(\w+)")
    assert regex.match("a.b").group(2) == "b"
    assert regex.fullmatch("a.b") is not None
    assert regex.sub(r"\2", "a.b") == "b"
    assert regex.findall("a.b c.d") == [("a", "b"), ("c", "d")]
    assert ctx.compile_regex(r"\.").split("a.b") == ["a", "b"]


def test_limits_from_settings():
    class Web:
        MAX_TARGETS, MAX_SERIES, MAX_POINTS, MAX_DEPTH, REQUEST_TIMEOUT = 1, 2, 3, 4, 5.0
    assert Limits.from_settings(Web) == Limits(1, 2, 3, 4, 5.0)


def test_a_single_series_result_is_listed():
    [series] = Evaluator(Registry(), Store()).render(request("single()"))
    assert series.name == "single"
