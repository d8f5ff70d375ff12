"""Every case of tests/functions_cases.py against graphite-web 1.1.10's own answers
(tests/data/functions_golden.json, recorded by tests/functions_golden_gen.py): names, path
expressions, tags, start/end/step, consolidation, xFilesFactor and values bit for bit."""
import json
import math
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from tests import functions_cases as cases
from webapp.errors import InputError
from webapp.functions import Registry
from webapp.series import TimeSeries

GOLDEN = json.loads((Path(__file__).parent / "data" / "functions_golden.json").read_text())

# Cases where graphite-web 1.1.10 itself fails with a server error; we answer sensibly instead
# (checked by hand in test_functions_*.py).
GRAPHITE_CRASHES = {key for key, value in GOLDEN.items() if "crash" in value}


def to_series(spec):
    name, start, step, values = spec
    return TimeSeries(name, start, start + step * len(values), step,
                      [np.nan if v is None else v for v in values])


class FakeContext:
    def __init__(self, arg_text=""):
        start, end = cases.REQUEST
        self.start_time = datetime.fromtimestamp(start, timezone.utc)
        self.end_time = datetime.fromtimestamp(end, timezone.utc)
        self.now = self.end_time
        self.tz = timezone.utc
        self.x_files_factor = 0
        self.arg_texts = [arg_text] if arg_text else None
        self.evaluated = []

    def evaluate(self, expression, start_time=None, end_time=None):
        self.evaluated.append((expression, start_time, end_time))
        start = int((start_time or self.start_time).timestamp())
        end = int((end_time or self.end_time).timestamp())
        return [to_series(spec) for spec in cases.refetch(expression, start, end)]


@pytest.fixture(scope="module")
def registry():
    return Registry()


def resolve(arg, inputs):
    if isinstance(arg, dict) and "series" in arg:
        return [inputs[name] for name in arg["series"]]
    if isinstance(arg, dict) and "lists" in arg:
        return [[inputs[name] for name in names] for names in arg["lists"]]
    return arg


def decode(value):
    if value is None:
        return None
    if value in ("inf", "-inf"):
        return float(value)
    return float(value)


def listed(values):
    return [None if math.isnan(v) else v for v in values.tolist()]


def run(registry, case):
    inputs = {spec[0]: to_series(spec) for spec in cases.INPUTS}
    snapshot = {name: (s.name, s.values.copy(), dict(s.tags)) for name, s in inputs.items()}
    args = [resolve(a, inputs) for a in case["args"]]
    kwargs = {k: resolve(v, inputs) for k, v in case["kwargs"].items()}
    result = registry.call(case["func"], FakeContext(case["arg_text"]), args, kwargs)
    for name, series in inputs.items():  # never mutate the inputs
        before = snapshot[name]
        assert series.name == before[0] and dict(series.tags) == before[2]
        np.testing.assert_array_equal(series.values, before[1])
    return result


@pytest.mark.parametrize("case", [c for c in cases.CASES if c["id"] not in GRAPHITE_CRASHES],
                         ids=lambda c: c["id"])
def test_matches_graphite_web(registry, case):
    expected = GOLDEN[case["id"]]
    if expected.get("error") == "InputParameterError":
        with pytest.raises(InputError):
            run(registry, case)
        return
    result = run(registry, case)
    if expected.get("error") == "NormalizeEmptyResultError":
        assert result == []
        return
    if "lists" in expected:
        assert len(result) == len(expected["lists"])
        for got, want in zip(result, expected["lists"]):
            check_series(got, want)
        return
    check_series(result, expected["series"])


def check_series(result, want):
    assert [s.name for s in result] == [w["name"] for w in want]
    for got, wanted in zip(result, want):
        assert got.path_expression == wanted["pathExpression"], got.name
        assert got.tags == wanted["tags"], got.name
        assert (got.start, got.end, got.step) == (wanted["start"], wanted["end"], wanted["step"])
        assert got.consolidate_func == wanted["consolidationFunc"]
        assert got.xff == (wanted["xFilesFactor"] or 0)
        assert listed(got.values) == [decode(v) for v in wanted["values"]], got.name
