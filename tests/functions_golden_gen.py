"""Regenerate tests/data/functions_golden.json from graphite-web 1.1.10 itself (the oracle).

Run with the reference venv's python (bench/reference.py installs it):
    PYTHONPATH=<dir with a graphite settings module> GRAPHITE_SETTINGS_MODULE=<module> \
    bench/.ref/graphite-web/bin/python tests/functions_golden_gen.py
The settings module needs SECRET_KEY, STORAGE_DIR/LOG_DIR (existing), CARBONLINK_HOSTS = [],
TIME_ZONE = 'UTC' and a sqlite DATABASES entry. The cases and inputs come from
tests/functions_cases.py, shared with tests/test_functions_golden.py."""
import copy
import json
import math
import os
import sys
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "graphite.settings")

import django  # noqa: E402

django.setup()

from graphite.errors import InputParameterError  # noqa: E402
from graphite.functions import SeriesFunction  # noqa: E402
from graphite.functions.params import validateParams  # noqa: E402
from graphite.render import functions as F  # noqa: E402
from graphite.render.datalib import TimeSeries  # noqa: E402

import functions_cases as cases  # noqa: E402


def to_graphite(spec):
    name, start, step, values = spec
    return TimeSeries(name, start, start + step * len(values), step, list(values))


def fake_evaluate_target(ctx, expression):
    start = int(ctx["startTime"].timestamp())
    end = int(ctx["endTime"].timestamp())
    return [to_graphite(spec) for spec in cases.refetch(expression, start, end)]


F.evaluateTarget = fake_evaluate_target


def encode_value(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def dump(series):
    return {
        "name": series.name, "start": series.start, "end": series.end, "step": series.step,
        "values": [encode_value(v) for v in series],
        "tags": dict(series.tags), "pathExpression": series.pathExpression,
        "consolidationFunc": series.consolidationFunc, "valuesPerPoint": series.valuesPerPoint,
        "xFilesFactor": series.xFilesFactor,
    }


def resolve_arg(arg, inputs):
    if isinstance(arg, dict) and "series" in arg:
        return [copy.deepcopy(inputs[name]) for name in arg["series"]]
    if isinstance(arg, dict) and "lists" in arg:
        return [[copy.deepcopy(inputs[name]) for name in names] for names in arg["lists"]]
    return arg


def run_case(case):
    inputs = {spec[0]: to_graphite(spec) for spec in cases.INPUTS}
    args = [resolve_arg(a, inputs) for a in case["args"]]
    kwargs = {k: resolve_arg(v, inputs) for k, v in case.get("kwargs", {}).items()}
    start, end = cases.REQUEST
    ctx = {"startTime": datetime.fromtimestamp(start, timezone.utc),
           "endTime": datetime.fromtimestamp(end, timezone.utc),
           "now": datetime.fromtimestamp(end, timezone.utc), "localOnly": False,
           "template": {}, "args": [case.get("arg_text", "")], "xFilesFactor": 0,
           "tzinfo": timezone.utc}
    func = SeriesFunction(case["func"])
    try:
        args, kwargs = validateParams(case["func"], func.params, args, kwargs)
        result = func(ctx, *args, **kwargs)
    except (InputParameterError, F.NormalizeEmptyResultError) as error:
        return {"error": type(error).__name__}
    except Exception as error:  # graphite-web itself crashes (HTTP 500) on this case
        return {"crash": type(error).__name__}
    if result and isinstance(result[0], list) and not isinstance(result[0], TimeSeries):
        return {"lists": [[dump(s) for s in member] for member in result]}
    return {"series": [dump(s) for s in result]}


def run_consolidation(specs, max_data_points):
    from graphite.render.views import renderViewJson
    data = []
    for name, start, step, values, func, xff in specs:
        series = TimeSeries(name, start, start + step * len(values), step, list(values),
                            consolidate=func, xFilesFactor=xff)
        data.append(series)
    response = renderViewJson({"maxDataPoints": max_data_points}, data)
    return json.loads(response.content)


def main():
    golden = {case["id"]: run_case(case) for case in cases.CASES}
    from graphite.functions import SeriesFunctions
    golden["__params__"] = {
        name: {"group": getattr(func, "group", "Ungrouped"),
               "params": [param.toJSON() for param in func.params]}
        for name, func in SeriesFunctions().items()}
    golden["__consolidation__"] = {key: run_consolidation(specs, mdp)
                                   for key, specs, mdp in cases.CONSOLIDATION_CASES}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                        "functions_golden.json")
    with open(path, "w") as out:
        json.dump(golden, out, indent=1, sort_keys=True)
    print(f"{len(golden)} cases -> {path}")


if __name__ == "__main__":
    main()
