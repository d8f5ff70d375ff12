"""The render function library: parameter vocabulary, the @function decorator and the Registry.

Each function is declared once, beside its code, by `@function(name, group, params, aliases)`;
the decorator only attaches a FunctionSpec to the function object. A Registry is built from
the family modules (combine, transform, ...) when the web app starts and handed to the
evaluator: it refuses duplicate names, checks arguments against the params (graphite-web
1.1.10's `functions/params.py` rules) and describes itself as graphite-web's /functions JSON.
"""
import importlib
import inspect
from dataclasses import dataclass, field

from webapp.errors import InputError
from webapp.functions.intervals import parse_interval
from webapp.series import EmptySeriesList, TimeSeries

FAMILIES = ("combine", "transform", "calculate", "forecast", "filter", "sort", "alias",
            "special", "graph")

NOTSET = None
INF = float("inf")

AGG_FUNCS = ("average", "avg_zero", "median", "sum", "min", "max", "diff", "stddev", "count",
             "range", "multiply", "last")
AGG_FUNC_ALIASES = {"rangeOf": "range", "avg": "average", "total": "sum", "current": "last"}


class InvalidParameter(InputError):
    """A function called with arguments its params do not allow (graphite-web's
    InputParameterError); the message names the function and the parameter."""

    def __init__(self, func, message, param=None):
        super().__init__(f"{func}: {message}")
        self.func = func
        self.param = param


class DuplicateFunction(ValueError):
    """Two functions (or aliases) registered under one name."""

    def __init__(self, name, first, second):
        super().__init__(f"function name {name!r} registered twice: {first} and {second}")
        self.name = name


def _validate_boolean(value):
    if isinstance(value, str):
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ValueError(f"Invalid boolean value: {value!r}")
    if type(value) in (int, float):
        if value in (0, 1):
            return bool(value)
        raise ValueError(f"Invalid boolean value: {value!r}")
    return bool(value)


def _validate_float(value):
    if isinstance(value, (bool, list)) or value is None:
        raise ValueError(f"Not a float: {value!r}")
    return float(value)


def _validate_integer(value):
    if type(value) is float or isinstance(value, (bool, list)) or value is None:
        raise ValueError(f"Not a valid integer value: {value!r}")
    return int(value)


def _validate_int_or_inf(value):
    try:
        return _validate_integer(value)
    except (TypeError, ValueError):
        pass
    if not isinstance(value, (bool, list)) and value is not None:
        try:
            if float(value) == INF:
                return INF
        except (TypeError, ValueError, OverflowError):
            pass
    raise ValueError(f"Not a valid integer nor float value: {value!r}")


def _validate_interval(value):
    if not isinstance(value, str):
        raise ValueError(f"Invalid interval value: {value!r}")
    parse_interval(value)
    return value


def _validate_int_or_interval(value):
    if isinstance(value, str):
        return _validate_interval(value)
    return _validate_integer(value)


def _validate_series_list(value):
    if not isinstance(value, list) or not all(isinstance(s, TimeSeries) for s in value):
        raise ValueError(f"not a series list: {type(value).__name__}")
    return value


def _validate_series_lists(value):
    if not isinstance(value, list) or not all(isinstance(v, list) for v in value):
        raise ValueError(f"not a list of series lists: {type(value).__name__}")
    for series_list in value:
        _validate_series_list(series_list)
    return value


def _validate_string(value):
    if not isinstance(value, str):
        raise ValueError(f"not a string: {value!r}")
    return value


def _validate_node(value):
    return _validate_integer(value)


def _validate_node_or_tag(value):
    if isinstance(value, str):
        return value
    return _validate_integer(value)


def _validate_any(value):
    return value


def _validate_agg_func(value):
    if value in AGG_FUNCS or value in AGG_FUNC_ALIASES:
        return value
    raise ValueError(f"Invalid aggregation function: {value!r}")


@dataclass(frozen=True)
class ParamType:
    """One of graphite-web's parameter types: its /functions name and its validator."""
    name: str
    validator: object = field(compare=False, repr=False)


class ParamTypes:
    """graphite-web's params.py vocabulary."""
    boolean = ParamType("boolean", _validate_boolean)
    date = ParamType("date", _validate_any)
    float = ParamType("float", _validate_float)
    integer = ParamType("integer", _validate_integer)
    interval = ParamType("interval", _validate_interval)
    intOrInterval = ParamType("intOrInterval", _validate_int_or_interval)
    intOrInf = ParamType("intOrInf", _validate_int_or_inf)
    node = ParamType("node", _validate_node)
    nodeOrTag = ParamType("nodeOrTag", _validate_node_or_tag)
    series = ParamType("series", _validate_series_list)
    seriesList = ParamType("seriesList", _validate_series_list)
    seriesLists = ParamType("seriesLists", _validate_series_lists)
    string = ParamType("string", _validate_string)
    tag = ParamType("tag", _validate_string)
    any = ParamType("any", _validate_any)
    aggFunc = ParamType("aggFunc", _validate_agg_func)
    aggOrSeriesFunc = ParamType("aggOrSeriesFunc", _validate_any)


@dataclass(frozen=True)
class Param:
    """One parameter of a function, as graphite-web's Param."""
    name: str
    type: ParamType
    required: bool = False
    default: object = NOTSET
    multiple: bool = False
    options: tuple = None
    suggestions: tuple = None

    def to_json(self, type_options=()):
        """graphite-web's Param.toJSON()."""
        info = {"name": self.name, "type": self.type.name}
        if self.required:
            info["required"] = True
        if self.default is not None:
            info["default"] = self.default
        if self.multiple:
            info["multiple"] = True
        options = sorted(set(self.options or ()) | set(type_options), key=str)
        if options:
            info["options"] = options
        if self.suggestions:
            info["suggestions"] = list(self.suggestions)
        return info


@dataclass(frozen=True)
class FunctionSpec:
    """What @function declares: graphite name, group, params, aliases, the callable."""
    name: str
    group: str
    params: tuple
    aliases: tuple
    description: str
    func: object = field(compare=False, repr=False)
    aggregator: bool = False

    @property
    def module(self):
        return self.func.__module__

    def signature_text(self, name):
        """graphite-web's 'function' field: name plus the argument spec without the context."""
        signature = inspect.signature(self.func)
        params = list(signature.parameters.values())[1:]
        return name + str(signature.replace(parameters=params))


def function(name, group, params, aliases=(), description=None, aggregator=False):
    """Declare a render function: `@function("sumSeries", "Combine", [Param(...)], ("sum",))`.

    The description defaults to the function's docstring. Only attaches `.spec`; the
    Registry collects the specs from the family modules."""
    def declare(func):
        func.spec = FunctionSpec(name=name, group=group, params=tuple(params),
                                 aliases=tuple(aliases),
                                 description=description or inspect.getdoc(func),
                                 func=func, aggregator=aggregator)
        return func
    return declare


def _specs_of(module):
    return [value.spec for value in vars(module).values()
            if callable(value) and isinstance(getattr(value, "spec", None), FunctionSpec)
            and value.spec.func is value]


class CallContext:
    """The request context seen by one call: the evaluator's context plus `arg_texts` (the
    call's argument expressions, or None) and the `registry` (for functions that call other
    functions by name, as reduceSeries does)."""

    def __init__(self, ctx, arg_texts, registry):
        self._ctx = ctx
        self.arg_texts = None if arg_texts is None else tuple(arg_texts)
        self.registry = registry

    def __getattr__(self, name):
        return getattr(self._ctx, name)


class Registry:
    """Render functions by graphite name (aliases included), built from family modules."""

    def __init__(self, modules=None):
        if modules is None:
            modules = [importlib.import_module(f"{__name__}.{family}") for family in FAMILIES]
        self._by_name = {}
        for module in modules:
            for spec in _specs_of(module):
                for name in (spec.name,) + spec.aliases:
                    self._add(name, spec)

    def _add(self, name, spec):
        if name in self._by_name:
            raise DuplicateFunction(name, self._by_name[name].func.__qualname__,
                                    spec.func.__qualname__)
        self._by_name[name] = spec

    def __contains__(self, name):
        return name in self._by_name

    def names(self):
        return sorted(self._by_name)

    def get(self, name):
        """The FunctionSpec for `name` (or an alias); InputError if there is none."""
        try:
            return self._by_name[name]
        except KeyError:
            raise InputError(f"Received request for unknown function: {name}") from None

    def aggregator_names(self):
        return sorted(name for name, spec in self._by_name.items() if spec.aggregator)

    def _type_options(self, param_type):
        if param_type is ParamTypes.aggFunc:
            return AGG_FUNCS + tuple(AGG_FUNC_ALIASES)
        if param_type is ParamTypes.aggOrSeriesFunc:
            return AGG_FUNCS + tuple(AGG_FUNC_ALIASES) + tuple(self.aggregator_names())
        return ()

    def check(self, name, args, kwargs):
        """Validated (args, kwargs) for calling `name`, graphite-web's validateParams rules."""
        spec = self.get(name)
        return _validate_params(name, spec.params, list(args), dict(kwargs),
                                self._type_options)

    def call(self, name, ctx, args, kwargs, arg_texts=None):
        """Check the arguments and call the function; an empty normalize gives [].

        `arg_texts` (the argument expressions as text, graphite's requestContext['args'])
        lets timeShift, movingAverage and hitcount(alignToInterval) fetch their first
        argument again for another period; the function sees them as `ctx.arg_texts`."""
        spec = self.get(name)
        args, kwargs = self.check(name, args, kwargs)
        if arg_texts is None:
            arg_texts = getattr(ctx, "arg_texts", None)
        ctx = CallContext(getattr(ctx, "_ctx", ctx), arg_texts, self)
        try:
            return spec.func(ctx, *args, **kwargs)
        except EmptySeriesList:
            return []

    def describe_one(self, name):
        """graphite-web's /functions/<name> JSON for one function."""
        spec = self.get(name)
        return {
            "name": name,
            "function": spec.signature_text(name),
            "description": spec.description,
            "module": spec.module,
            "group": spec.group,
            "params": [param.to_json(self._type_options(param.type)) for param in spec.params],
        }

    def describe(self, group=None):
        """graphite-web's /functions JSON: {name: {name, function, description, module,
        group, params}}, optionally only one group."""
        described = {name: self.describe_one(name) for name in self.names()}
        if group is not None:
            described = {k: v for k, v in described.items() if v["group"] == group}
        return described


def _validate_value(func, param, value, type_options):
    if value is None and param.default is not None:
        return value
    if not param.required and value is None:
        return value
    options = tuple(param.options or ()) + tuple(type_options(param.type))
    if param.options:
        if value not in options:
            raise InvalidParameter(
                func, f'invalid option for parameter "{param.name}": {value!r}', param.name)
        return value
    if param.type is ParamTypes.aggOrSeriesFunc and value not in options:
        raise InvalidParameter(func, f'invalid option for parameter "{param.name}": {value!r}',
                               param.name)
    try:
        return param.type.validator(value)
    except (TypeError, ValueError, OverflowError):
        raise InvalidParameter(
            func, f'invalid "{param.type.name}" value for parameter "{param.name}": '
                  f'{_short_repr(value)}', param.name) from None


def _short_repr(value):
    if isinstance(value, list) and value and isinstance(value[0], TimeSeries):
        return f"a list of {len(value)} series"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _validate_params(func, params, args, kwargs, type_options):
    if len(args) + len(kwargs) > len(params) and not (params and params[-1].multiple):
        raise InvalidParameter(func, f"too many parameters ({len(args) + len(kwargs)}, "
                                     f"takes at most {len(params)})")
    if len(args) > len(params):
        args_params, kwargs_params = params, ()
    else:
        args_params, kwargs_params = params[:len(args)], params[len(args):]
    valid_args = [_validate_value(func, args_params[min(i, len(args_params) - 1)], arg,
                                  type_options) for i, arg in enumerate(args)]
    names = [param.name for param in params]
    for key in kwargs:
        if key not in names:
            raise InvalidParameter(func, f"unexpected keyword argument {key!r}", key)
        if params[names.index(key)].multiple:
            raise InvalidParameter(func, f"parameter {key!r} can only be given by position", key)
        if key in names[:len(args)]:
            raise InvalidParameter(func, f"parameter {key!r} given twice", key)
    valid_kwargs = {}
    for param in kwargs_params:
        value = kwargs.get(param.name)
        if value is None:
            if param.required:
                raise InvalidParameter(func, f'missing required parameter "{param.name}"',
                                       param.name)
            continue
        valid_kwargs[param.name] = _validate_value(func, param, value, type_options)
    return valid_args, valid_kwargs
