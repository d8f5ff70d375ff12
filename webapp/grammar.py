"""Graphite's target language -> a small immutable AST. Never eval.

The language is graphite-web 1.1.10's `render/grammar_unsafe.py` (a pyparsing grammar), parsed
here by hand, in one left-to-right pass:

    target      := expression
    expression  := (template | call | path) ('|' call)*          a|f(x)  ==  f(a, x)
    template    := 'template' '(' (call | path) [',' litargs | ',' litkwargs] ')'
    call        := NAME '(' [args [',' kwargs] | kwargs] ')'     NAME = [A-Za-z_][A-Za-z0-9_]*
    arg         := true|false | number | none | string | inf | expression   (first match wins)
    kwarg       := NAME '=' arg        (`NAME=` directly before ',' ')' '|' is the path `NAME=`)
    number      := -?\\d+ | -?\\d+.\\d+ | either + [eE]-?\\d+; only before "," or ")" or the end
    string      := '...' | "..." (pyparsing's quotedString; the value is the text between the
                   quotes, escapes are not decoded, as graphite does)
    path        := element ('.' element)*
    element     := (partial | '{' partial (',' partial)* '}')+
    partial     := (VALID | '\\' SYMBOL)+        SYMBOL = ( ) { } , . ' " \\ | =
                   VALID = printable ASCII except ( ) { } , . ' " \\ |   (so '=' and ';' are in)

Whitespace may stand between tokens, never inside a path or a number; tabs are expanded first,
as pyparsing does. Keywords (true, false, none, inf) are caseless; `$name` is an ordinary path
character that `substitute` replaces. A `template(...)` that is not in the form above is a
ParseError with graphite-web's message (it fails when evaluated there; both are HTTP 400).

Where graphite-web is lax we are strict, on purpose: it parses the longest valid prefix and
silently ignores the rest (`sumSeries(a.b))` is `sumSeries(a.b)`, and a broken call such as
`f(a=1, b)` falls back to the bare path `f`); here text after the expression is a ParseError
naming the position. Two extensions, both harmless: a call may have keyword arguments only
(`f(key=1)`, which graphite's grammar cannot parse), and a keyword that is followed by
anything other than ',' or ')' is read as a path (`true.x`, which graphite rejects).
"""
import re
from dataclasses import dataclass, field

from webapp.errors import InputError

MAX_NESTING = 100
"""Default bound on nesting (calls in arguments, templates, and each '|' of a chain): the
parser's recursion stays bounded and depth(parse(t, max_nesting=n)) < n."""

_WS = " \t\r\n"
_SYMBOLS = "(){},.'\"\\|"
_VALID = "".join(chr(c) for c in range(33, 127) if chr(c) not in _SYMBOLS)
_ESCAPE = r"\\[" + re.escape(_SYMBOLS + "=") + "]"


def _path_regex(valid_class):
    partial = rf"(?:{_ESCAPE}|{valid_class})++"
    enum = rf"\{{{partial}(?:,{partial})*+\}}"
    element = rf"(?:{partial}|{enum})++"
    return re.compile(rf"{element}(?:\.{element})*+")


_PATH_RE = _path_regex("[" + re.escape(_VALID) + "]")
# UTF8_METRICS = True: any character from U+0020 up that is not whitespace or a symbol
_UTF8_PATH_RE = _path_regex(r"[^\x00-\x20\s" + re.escape(_SYMBOLS) + "]")
_UNESCAPE_RE = re.compile(r"\\(.)")
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?(?:[eE]-?\d+)?")
_KEYWORD_RE = re.compile(r"(?i:true|false|none|inf)(?![A-Za-z0-9_$])")
_STRING_RES = {
    "'": re.compile(r"'(?:[^'\n\r\\]++|\\(?:[^x]|x[0-9a-fA-F]++)|'')*'"),
    '"': re.compile(r'"(?:[^"\n\r\\]++|\\(?:[^x]|x[0-9a-fA-F]++)|"")*"'),
}
_KEYWORD_VALUES = {"true": True, "false": False, "none": None, "inf": float("inf")}
_TEMPLATE_SYNTAX = "invalid template() syntax, only string/numeric arguments are allowed"


class ParseError(InputError):
    """A target that is not in Graphite's language; says where and what was expected."""

    def __init__(self, target, position, expected):
        self.target = target
        self.position = position
        self.expected = expected
        shown = target if len(target) <= 200 else target[:200] + "..."
        super().__init__(f"invalid target {shown!r} at position {position}: {expected}")


@dataclass(frozen=True)
class PathExpression:
    """A metric name or pattern (`a.*.b`, `a.{x,y}`, `a.b;tag=v`), escapes already removed."""

    text: str


@dataclass(frozen=True)
class Call:
    """`name(args..., key=value...)`; kwargs is a tuple of (name, node) in source order.

    `raw` is the call's source text (graphite fetches `seriesByTag(...)` by it)."""

    name: str
    args: tuple
    kwargs: tuple = ()
    raw: str = field(default="", compare=False)


@dataclass(frozen=True)
class Literal:
    """A scalar argument: str, int, float (incl. inf), bool or None."""

    value: object


@dataclass(frozen=True)
class Template:
    """`template(expression, 'v1', ...)` or `template(expression, key='v', ...)`.

    args/kwargs hold the default values (plain Python scalars); see `template_variables`."""

    expression: object
    args: tuple = ()
    kwargs: tuple = ()


def parse(target, max_nesting=MAX_NESTING, utf8_metrics=False):
    """Parse one target string into its AST; ParseError if it is not Graphite's language.

    `utf8_metrics` is graphite-web's UTF8_METRICS setting: non-ASCII characters in paths.
    Tabs are expanded first (to 8 columns), as pyparsing does before parsing, which shows in
    string values and `Call.raw`."""
    if not isinstance(target, str):
        raise TypeError(f"target must be str, not {type(target).__name__}")
    path_re = _UTF8_PATH_RE if utf8_metrics else _PATH_RE
    expanded = target.expandtabs() if "\t" in target else target
    parser = _Parser(expanded, max_nesting, path_re)
    try:
        return parser.parse_target()
    except RecursionError:
        # only when max_nesting is set above what the interpreter's stack allows
        error = parser.error("nesting too deep to parse")
    except ParseError as parse_error:
        error = parse_error
    if expanded is not target:
        error = ParseError(target, _unexpanded_position(target, error.position), error.expected)
    raise error


def _unexpanded_position(text, expanded_position):
    """The index in `text` of the character at `expanded_position` of text.expandtabs()."""
    expanded, column = 0, 0
    for index, char in enumerate(text):
        width = 8 - column % 8 if char == "\t" else 1
        if expanded_position < expanded + width:
            return index
        expanded += width
        column = 0 if char in "\r\n" else column + width
    return len(text)


def depth(node):
    """Nesting depth: the most Call/Template nodes on one root-to-leaf path (`a.b` is 0)."""
    deepest = 0
    stack = [(node, 0)]
    while stack:
        node, above = stack.pop()
        if isinstance(node, Call):
            children = list(node.args) + [value for _, value in node.kwargs]
        elif isinstance(node, Template):
            children = [node.expression]
        else:
            deepest = max(deepest, above)
            continue
        stack.extend((child, above + 1) for child in children)
        if not children:
            deepest = max(deepest, above + 1)
    return deepest


def template_variables(template, overrides=None):
    """The variables of a Template in graphite-web's order: its keyword defaults, then its
    positional ones as '1', '2', ..., then `overrides` (the request's template[...] params)."""
    variables = dict(template.kwargs)
    variables.update((str(i), value) for i, value in enumerate(template.args, start=1))
    if overrides:
        variables.update(overrides)
    return variables


def substitute(node, variables):
    """Replace `$name` in path expressions as graphite-web's template() does.

    Names are applied in dict order, each by plain text replacement; a path that is exactly
    `$name` (at that point) becomes Literal(value) instead, with a numeric-looking string
    value turned into a float. Nested Template nodes keep their own variables.
    """
    if not variables:
        return node
    if isinstance(node, PathExpression):
        return _substitute_path(node.text, variables)
    if isinstance(node, Call):
        args = tuple(substitute(arg, variables) for arg in node.args)
        kwargs = tuple((name, substitute(value, variables)) for name, value in node.kwargs)
        return Call(node.name, args, kwargs, node.raw)
    return node


def _substitute_path(text, variables):
    for name, value in variables.items():
        if text == "$" + name:
            return Literal(_scalar(value))
        text = text.replace("$" + name, str(value))
    return PathExpression(text)


def _scalar(value):
    if isinstance(value, str) and re.fullmatch(r"-?[\d.]+", value):
        try:
            return float(value)
        except ValueError:
            return value
    return value


class _Parser:
    """Recursive descent over `text`; `pos` is the next unread index."""

    def __init__(self, text, max_nesting, path_re):
        self.text = text
        self.pos = 0
        self.max_nesting = max_nesting
        self.path_re = path_re

    # -- helpers ---------------------------------------------------------------------------
    def error(self, expected, position=None):
        return ParseError(self.text, self.pos if position is None else position, expected)

    def skip_ws(self):
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] in _WS:
            pos += 1
        self.pos = pos

    def peek(self):
        """The next non-whitespace character ('' at the end); skips the whitespace."""
        self.skip_ws()
        return self.text[self.pos:self.pos + 1]

    def expect(self, char, expected):
        if self.peek() != char:
            raise self.error(expected)
        self.pos += 1

    def name_before_paren(self):
        """A function name followed (after whitespace) by '(' -> (name, start); else None."""
        self.skip_ws()
        match = _NAME_RE.match(self.text, self.pos)
        if match is None:
            return None
        if self.char_after_ws(match.end()) != "(":
            return None
        return match.group(), self.text.index("(", match.end()) + 1

    # -- grammar ---------------------------------------------------------------------------
    def parse_target(self):
        if not self.text.strip():
            raise self.error("empty target")
        node = self.expression(0)
        if self.peek():
            raise self.error("expected end of target or '|'")
        return node

    def expression(self, level):
        if level >= self.max_nesting:
            raise self.error(f"nesting deeper than {self.max_nesting}")
        node = self.primary(level)
        pipes = 0
        while self.peek() == "|":
            pipes += 1       # each pipe nests the tree one deeper: a|f()|g() is g(f(a))
            if level + pipes >= self.max_nesting:
                raise self.error(f"nesting deeper than {self.max_nesting}")
            self.pos += 1
            head = self.name_before_paren()
            if head is None:
                raise self.error("expected a function call after '|'")
            node = self.call(head, level, piped=node)
        return node

    def primary(self, level):
        head = self.name_before_paren()
        if head is not None:
            if head[0] == "template":
                return self.template(head, level)
            return self.call(head, level)
        return self.path()

    def path(self):
        self.skip_ws()
        match = self.path_re.match(self.text, self.pos)
        if match is None:
            raise self.error("expected a metric path, function call or value")
        self.pos = match.end()
        return PathExpression(_UNESCAPE_RE.sub(r"\1", match.group()))

    def call(self, head, level, piped=None):
        name, after_paren = head
        start = self.pos
        self.pos = after_paren
        args, kwargs = [] if piped is None else [piped], []
        if self.peek() != ")":
            self.arguments(level + 1, args, kwargs)
        self.expect(")", "expected ',' or ')'")
        if name == "template":
            raise self.error(_TEMPLATE_SYNTAX, start)
        return Call(name, tuple(args), tuple(kwargs), self.text[start:self.pos])

    def arguments(self, level, args, kwargs):
        while True:
            kwarg = self.kwarg(level)
            if kwarg is not None:
                kwargs.append(kwarg)
            elif kwargs:
                raise self.error("expected keyword argument (name=value): "
                                 "positional arguments cannot follow keyword arguments")
            else:
                args.append(self.arg(level))
            if self.peek() != ",":
                return
            self.pos += 1

    def kwarg(self, level):
        """`name = arg` -> (name, node); None (position unchanged) if this is no kwarg.

        As in graphite, `name=` with nothing before ',', ')' or '|' is no kwarg but the
        path `name=` ('=' is a path character)."""
        self.skip_ws()
        start = self.pos
        match = _NAME_RE.match(self.text, start)
        if match is None:
            return None
        self.pos = match.end()
        if self.peek() != "=":
            self.pos = start
            return None
        self.pos += 1
        if self.text[match.end()] == "=" and self.peek() in (",", ")", "|"):
            self.pos = start
            return None
        return match.group(), self.arg(level)

    def arg(self, level):
        literal = self.scalar()
        if literal is not None:
            return literal[1]
        return self.expression(level)

    def scalar(self):
        """(kind, Literal) for a keyword, number or string at pos; else None, pos unchanged.

        kind is 'keyword', 'number' or 'string'."""
        self.skip_ws()
        start, text = self.pos, self.text
        match = _KEYWORD_RE.match(text, start)
        if match and self.followed_by_end_of_arg(match.end()):
            self.pos = match.end()
            return "keyword", Literal(_KEYWORD_VALUES[match.group().lower()])
        match = _NUMBER_RE.match(text, start)
        if match and self.followed_by_end_of_arg(match.end()):
            self.pos = match.end()
            return "number", Literal(_number(match.group()))
        quote = text[start:start + 1]
        if quote in _STRING_RES:
            return "string", Literal(self.string(quote)[1:-1])
        return None

    def followed_by_end_of_arg(self, end):
        return self.char_after_ws(end) in ("", ",", ")")

    def char_after_ws(self, pos):
        text = self.text
        while pos < len(text) and text[pos] in _WS:
            pos += 1
        return text[pos:pos + 1]

    def string(self, quote):
        match = _STRING_RES[quote].match(self.text, self.pos)
        if match is None:
            raise self.error(f"unterminated string (a {quote} string ends at the next "
                             f"{quote} on the same line)")
        self.pos = match.end()
        return match.group()

    def template(self, head, level):
        start = self.pos
        self.pos = head[1]
        inner = self.name_before_paren()
        if inner is not None:
            expression = self.call(inner, level + 1)
        else:
            expression = self.path()
        args, kwargs = [], []
        if self.peek() == ",":
            self.pos += 1
            self.template_arguments(args, kwargs, start)
        if self.peek() != ")":
            raise self.error(_TEMPLATE_SYNTAX, start)
        self.pos += 1
        return Template(expression, tuple(args), tuple(kwargs))

    def template_arguments(self, args, kwargs, start):
        """graphite's `litargs | litkwargs`: numbers and strings, all positional or all
        keyword."""
        while True:
            self.skip_ws()
            name = None
            match = _NAME_RE.match(self.text, self.pos)
            if match and self.char_after_ws(match.end()) == "=":
                name = match.group()
                self.pos = self.text.index("=", match.end()) + 1
            literal = self.scalar()
            if literal is None or literal[0] == "keyword" or (args and name is not None) \
                    or (kwargs and name is None):
                raise self.error(_TEMPLATE_SYNTAX, start)
            if name is None:
                args.append(literal[1].value)
            else:
                kwargs.append((name, literal[1].value))
            if self.peek() != ",":
                return
            self.pos += 1


def _number(text):
    if "." in text or "e" in text or "E" in text:
        return float(text)
    return int(text)
