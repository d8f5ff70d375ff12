"""Target AST -> list of TimeSeries, with a per-request context and the abuse limits.

One render: parse every target (MAX_TARGETS, MAX_DEPTH), fill template() variables,
fetch every path expression of every target in one batch through the store (one
carbonlink round trip, one request per cluster server), then evaluate the trees
bottom-up through the function registry. Series matched by one path expression are
capped by MAX_SERIES, points fetched and returned by MAX_POINTS (both 413), and the
whole request by REQUEST_TIMEOUT, checked between steps.

User regular expressions (grep, exclude, aliasSub, ...) go through
`ctx.compile_regex`: with the `regex` package installed every match runs with a
timeout equal to the time the request has left, so `(x+x+)+y` against a long name
ends the request with a 400 instead of holding a worker, and the match releases the
GIL (`re` holds it for the whole match, freezing the reactor thread too); without it,
patterns whose
backtracking can blow up (a repeat inside a repeat, or an alternation under a repeat)
are refused up front. Timeouts rather than refusal are preferred because no static
rule catches every slow pattern while still allowing ordinary ones.
"""
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from webapp import grammar
from webapp.errors import InputError, LimitExceeded
from webapp.series import TimeSeries

try:  # the regex package can time a match out; `re` cannot
    import regex as _regex
except ImportError:  # pragma: no cover - exercised only where regex is absent
    _regex = None

MAX_REGEX_LENGTH = 1000


@dataclass(frozen=True)
class Limits:
    max_targets: int = 100
    max_series: int = 10_000
    max_points: int = 10_000_000
    max_depth: int = 40
    request_timeout: float = 30.0

    @classmethod
    def from_settings(cls, web):
        return cls(web.MAX_TARGETS, web.MAX_SERIES, web.MAX_POINTS, web.MAX_DEPTH,
                   web.REQUEST_TIMEOUT)


@dataclass
class RenderRequest:
    """What /render asked for, parsed: aware datetimes and plain values."""

    targets: list
    start_time: datetime
    end_time: datetime
    now: datetime
    tz: object = timezone.utc
    local_only: bool = False
    template: dict = field(default_factory=dict)
    x_files_factor: float = 0.0
    max_data_points: int | None = None


def epoch(moment):
    return int(moment.timestamp())


class Evaluator:
    """Evaluates render requests against a function `registry` and a finder `store`."""

    def __init__(self, registry, store, limits=Limits(), clock=time.monotonic):
        self.registry = registry
        self.store = store
        self.limits = limits
        self.clock = clock

    def parse(self, targets):
        """Parsed ASTs of `targets`; InputError/LimitExceeded on bad or too many."""
        targets = [t for t in targets if t and t.strip()]
        if len(targets) > self.limits.max_targets:
            raise LimitExceeded(f"{len(targets)} targets in one request; the limit is "
                                f"{self.limits.max_targets} (MAX_TARGETS)")
        trees = []
        for target in targets:
            nesting = max(grammar.MAX_NESTING, self.limits.max_depth + 1)
            tree = grammar.parse(target, max_nesting=nesting)
            if grammar.depth(tree) > self.limits.max_depth:
                raise LimitExceeded(f"target nests functions deeper than "
                                    f"{self.limits.max_depth} (MAX_DEPTH)")
            trees.append(tree)
        return trees

    def render(self, request):
        """All series of all targets of `request`, in target order."""
        ctx = RequestContext(self, request, self.clock() + self.limits.request_timeout)
        trees = [ctx.fill_templates(tree) for tree in self.parse(request.targets)]
        ctx.prefetch(trees)
        series = []
        for tree in trees:
            series.extend(ctx.evaluate_node(tree))
        points = sum(len(s.values) for s in series)
        if points > self.limits.max_points:
            raise LimitExceeded(f"{points} points in the answer; the limit is "
                                f"{self.limits.max_points} (MAX_POINTS)", 413)
        return series


class RequestContext:
    """What a render function sees: the time range, `now`, the time zone, and
    `evaluate` for expressions it must fetch itself (timeShift, ...)."""

    def __init__(self, evaluator, request, deadline, fetched=None, points=None):
        self.evaluator = evaluator
        self.request = request
        self.start_time = request.start_time
        self.end_time = request.end_time
        self.now = request.now
        self.tz = request.tz
        self.local_only = request.local_only
        self.x_files_factor = request.x_files_factor
        self.max_data_points = request.max_data_points
        self.deadline = deadline
        self._fetched = {} if fetched is None else fetched
        self._points = [0] if points is None else points
        self._epochs = None

    # --- for functions --------------------------------------------------------------
    def evaluate(self, expression_text, start_time=None, end_time=None):
        """Series of `expression_text` over another range (default: this request's)."""
        ctx = self.with_times(start_time or self.start_time, end_time or self.end_time)
        tree = ctx.fill_templates(grammar.parse(expression_text))
        ctx.prefetch([tree])
        return ctx.evaluate_node(tree)

    def with_times(self, start_time, end_time):
        request = RenderRequest(self.request.targets, start_time, end_time, self.now, self.tz,
                                self.local_only, self.request.template, self.x_files_factor,
                                self.max_data_points)
        return RequestContext(self.evaluator, request, self.deadline, self._fetched,
                              self._points)

    def compile_regex(self, pattern):
        """A compiled user regex whose matching stops at the request deadline."""
        return SafeRegex(pattern, self)

    def check_deadline(self):
        if self.evaluator.clock() > self.deadline:
            raise LimitExceeded(f"request took longer than "
                                f"{self.evaluator.limits.request_timeout:g}s "
                                "(REQUEST_TIMEOUT)")

    def remaining(self):
        left = min(self.deadline - self.evaluator.clock(), self.evaluator.limits.request_timeout)
        return max(left, 0.001)

    # --- evaluation -----------------------------------------------------------------
    def fill_templates(self, node):
        if isinstance(node, grammar.Template):
            variables = grammar.template_variables(node, self.request.template)
            return self.fill_templates(grammar.substitute(node.expression, variables))
        if isinstance(node, grammar.Call):
            args = tuple(self.fill_templates(a) for a in node.args)
            kwargs = tuple((k, self.fill_templates(v)) for k, v in node.kwargs)
            return grammar.Call(node.name, args, kwargs, node.raw)
        return node

    def _key(self):
        """(start, end, now) in epoch seconds, computed once per context."""
        key = (self.start_time, self.end_time, self.now)
        if self._epochs is None or self._epochs[0] != key:
            self._epochs = (key, tuple(epoch(moment) for moment in key))
        return self._epochs[1]

    def prefetch(self, trees):
        """Fetch every not yet fetched path expression in `trees` in one batch."""
        known = self._fetched.setdefault(self._key(), {})
        wanted = []
        for tree in trees:
            for pattern in _paths(tree):
                if pattern not in known and pattern not in wanted:
                    wanted.append(pattern)
        if not wanted:
            return
        start, end, now = self._key()
        fetched = self.evaluator.store.fetch(wanted, start, end, now, self.local_only)
        for pattern in wanted:
            results = fetched.get(pattern, [])
            self._count(pattern, results)
            known[pattern] = results
        self.check_deadline()

    def _count(self, pattern, results):
        limits = self.evaluator.limits
        if len(results) > limits.max_series:
            raise LimitExceeded(f"{pattern!r} matches {len(results)} series; the limit is "
                                f"{limits.max_series} (MAX_SERIES)", 413)
        self._points[0] += sum(len(r.values) for r in results)
        if self._points[0] > limits.max_points:
            raise LimitExceeded(f"over {limits.max_points} points fetched (MAX_POINTS)", 413)

    def evaluate_node(self, node):
        """A series list for a path or call at the top of a target."""
        value = self._value(node)
        if isinstance(value, TimeSeries):
            return [value]
        if isinstance(value, list):
            return value
        raise InputError(f"target {_describe(node)} is not a series expression")

    def _value(self, node):
        if isinstance(node, grammar.PathExpression):
            return self._series(node.text)
        if isinstance(node, grammar.Literal):
            return node.value
        if isinstance(node, grammar.Call):
            args = [self._value(a) for a in node.args]
            kwargs = {k: self._value(v) for k, v in node.kwargs}
            self.check_deadline()
            result = self.evaluator.registry.call(node.name, self, args, kwargs,
                                                  arg_texts=[_text(a) for a in node.args])
            self.check_deadline()
            return result
        raise InputError(f"cannot evaluate {_describe(node)}")  # templates are filled first

    def _series(self, pattern):
        known = self._fetched.setdefault(self._key(), {})
        if pattern not in known:
            self.prefetch([grammar.PathExpression(pattern)])
        return [TimeSeries(r.name, r.start, r.end, r.step, r.values, path_expression=pattern,
                           x_files_factor=self.x_files_factor)
                for r in known[pattern]]


def _text(node):
    """An argument as the target text that produced it (graphite's requestContext['args'])."""
    if isinstance(node, grammar.PathExpression):
        return node.text
    if isinstance(node, grammar.Call):
        return node.raw
    return None


def _paths(node):
    if isinstance(node, grammar.PathExpression):
        yield node.text
    elif isinstance(node, grammar.Call):
        for child in list(node.args) + [v for _, v in node.kwargs]:
            yield from _paths(child)


def _describe(node):
    text = repr(getattr(node, "value", getattr(node, "text", node)))
    return text if len(text) <= 100 else text[:100] + "..."


class SafeRegex:
    """re.Pattern's matching methods, bounded by the request deadline."""

    def __init__(self, pattern, ctx):
        if not isinstance(pattern, str) or len(pattern) > MAX_REGEX_LENGTH:
            raise InputError(f"regular expression longer than {MAX_REGEX_LENGTH} characters")
        self.pattern = pattern
        self.ctx = ctx
        try:
            if _regex is not None:
                self._compiled = _regex.compile(pattern, _regex.VERSION0)
            else:
                check_backtracking(pattern)
                self._compiled = re.compile(pattern)
        except (re.error, getattr(_regex, "error", re.error)) as exc:
            raise InputError(f"invalid regular expression {pattern!r}: {exc}") from None

    def _run(self, method, *args):
        self.ctx.check_deadline()
        if _regex is None:
            return getattr(self._compiled, method)(*args)
        try:
            return getattr(self._compiled, method)(*args, concurrent=True,
                                                   timeout=self.ctx.remaining())
        except TimeoutError:
            raise LimitExceeded(f"regular expression {self.pattern!r} took longer than the "
                                "request time limit (REQUEST_TIMEOUT)") from None

    def search(self, string):
        return self._run("search", string)

    def match(self, string):
        return self._run("match", string)

    def fullmatch(self, string):
        return self._run("fullmatch", string)

    def sub(self, replacement, string, count=0):
        return self._run("sub", replacement, string, count)

    def findall(self, string):
        return self._run("findall", string)

    def split(self, string, maxsplit=0):
        return self._run("split", string, maxsplit)


def check_backtracking(pattern):
    """Refuse patterns whose backtracking can be exponential (used without `regex`)."""
    try:
        tree = re._parser.parse(pattern)  # noqa: SLF001 - the stdlib's own parser
    except re.error as exc:
        raise InputError(f"invalid regular expression {pattern!r}: {exc}") from None
    if _nested_repeat(tree, inside_repeat=False):
        raise InputError(f"regular expression {pattern!r} nests repeats or repeats an "
                         "alternation (catastrophic backtracking); rewrite it")


_REPEATS = ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")


def _nested_repeat(items, inside_repeat):
    for op, value in items:
        name = str(op)
        if name in _REPEATS:
            low, high, body = value
            unbounded = high == re._constants.MAXREPEAT or high > 1
            if inside_repeat and unbounded:
                return True
            if _nested_repeat(body, inside_repeat or unbounded):
                return True
        elif name == "BRANCH":
            if inside_repeat:
                return True
            if any(_nested_repeat(branch, inside_repeat) for branch in value[1]):
                return True
        elif name == "SUBPATTERN":
            if _nested_repeat(value[-1], inside_repeat):
                return True
    return False
