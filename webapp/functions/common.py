"""Helpers shared by the family modules: deriving a new series from an old one, naming,
graphite's node/tag keys (aggKey, getNodeOrTag) and the request's xFilesFactor."""
import re

from webapp.series import TimeSeries

_CALL_START = re.compile(r"\s*[A-Za-z_][A-Za-z0-9_.]*\(")
_NOT_A_PATH = re.compile(r"""^\s*(?:[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|['"].*|"""
                         r"""true|false|True|False|None|inf)\s*$""")


def ctx_xff(ctx):
    """The request's xFilesFactor (graphite's requestContext['xFilesFactor']), or None."""
    return getattr(ctx, "x_files_factor", None)


def derive(series, name, values=None, tags=None, path_expression=None, **changes):
    """A new series like `series` (start, end, step, consolidation, xFilesFactor, options)
    named `name`, with `tags` merged into its tags (values as str) and new `values`; the
    path expression becomes the name unless given (graphite: series.pathExpression = name)."""
    merged = dict(series.tags)
    merged.update(tags or {})
    result = TimeSeries(
        name, changes.get("start", series.start), changes.get("end", series.end),
        changes.get("step", series.step),
        series.values.copy() if values is None else values,
        path_expression=name if path_expression is None else path_expression,
        tags=merged, consolidate_func=changes.get("consolidate_func", series.consolidate_func),
        values_per_point=series.values_per_point,
        x_files_factor=changes.get("x_files_factor", series.x_files_factor),
        options=dict(series.options))
    return result


def renamed(series, name):
    """A copy with only the name changed (graphite's alias functions keep pathExpression)."""
    return derive(series, name, path_expression=series.path_expression)


def unique_path_expressions(series_list):
    """The distinct path expressions of `series_list`, in order."""
    seen = []
    for series in series_list:
        if series.path_expression not in seen:
            seen.append(series.path_expression)
    return seen


def format_path_expressions(series_list):
    """Unique path expressions in order, comma-joined (graphite's formatPathExpressions)."""
    return ",".join(unique_path_expressions(series_list))


def _split_first_arg(text):
    depth = 0
    quote = None
    for index, char in enumerate(text):
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char in "{[(":
            depth += 1
        elif char in "}])":
            if depth == 0:
                return text[:index]
            depth -= 1
        elif char == "," and depth == 0:
            return text[:index]
    return text


def first_path_expression(name):
    """The first path expression inside a function-call name: 'sumSeries(a.b.*,c)' -> 'a.b.*'
    (descending into first arguments, as graphite's _getFirstPathExpression); None if the
    innermost first argument is not a path."""
    text = name
    for _ in range(len(name)):
        match = _CALL_START.match(text)
        if not match:
            break
        text = text[match.end():]
    argument = _split_first_arg(text).strip()
    if not argument or _NOT_A_PATH.match(argument) or "(" in argument:
        return None
    return argument


def node_or_tag(series, node, path_expression=None):
    """graphite's getNodeOrTag: an integer picks a node of the name (tags cut off), anything
    else (or a node out of range) is a tag name whose value is used ('' if missing)."""
    if isinstance(node, int) and not isinstance(node, bool):
        nodes = (path_expression or series.name).split(";", 2)[0].split(".")
        if -len(nodes) <= node < len(nodes):
            return nodes[node]
    return series.tags.get(str(node), "")


def agg_key(series, nodes):
    """graphite's aggKey: the nodes/tags of a series joined by '.'; a function-call name is
    keyed by its first path expression."""
    path_expression = None
    if series.name.endswith(")"):
        path_expression = first_path_expression(series.name)
    return ".".join(node_or_tag(series, node, path_expression) for node in nodes)


def reevaluate(ctx, series_list, start_time, end_time):
    """The series of the function's first argument fetched again for another period, as
    graphite-web re-evaluates requestContext['args'][0] (timeShift, movingAverage, ...).

    Uses `ctx.arg_texts[0]` (the first argument's expression text) when the evaluator gives
    it; otherwise re-evaluates each distinct path expression of `series_list` in order."""
    texts = getattr(ctx, "arg_texts", None)
    if texts:
        return list(ctx.evaluate(texts[0], start_time=start_time, end_time=end_time))
    results = []
    for expression in unique_path_expressions(series_list):
        results.extend(ctx.evaluate(expression, start_time=start_time, end_time=end_time))
    return results


def compile_regex(ctx, pattern, caller):
    """A user's regular expression: through `ctx.compile_regex` when the evaluator offers it
    (matching bounded by the request deadline), else re.compile; InvalidParameter if bad."""
    compiler = getattr(ctx, "compile_regex", None)
    if compiler is not None:
        return compiler(pattern)
    try:
        return re.compile(pattern)
    except re.error as error:
        from webapp.functions import InvalidParameter
        raise InvalidParameter(caller, f"invalid regular expression {pattern!r}: {error}",
                               "pattern") from None
