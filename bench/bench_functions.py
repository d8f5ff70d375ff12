"""Render functions: carbonish's webapp.functions vs graphite-web 1.1.10's render/functions.py,
in-process on the same input series (no I/O, no HTTP), one run, A/B rounds alternated, medians.

Both sides build the same series from one formula (1,000 series of one day at 10 s, 8,640
points, about 6% None); each workload is timed as the function call alone (graphite-web
rewrites its inputs in place, so it gets fresh copies made outside the timer). The first
result of each side is summarised (names, None count, sum of values) and compared, so the
table only reports workloads where both sides give the same answer.
"""
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import reference  # noqa: E402

from webapp.functions import Registry  # noqa: E402
from webapp.series import TimeSeries  # noqa: E402

POINTS = 8640
STEP = 10
START = 1700006400 - POINTS * STEP
ROUNDS = 5

# name -> (function, number of input series, extra args); re-fetching functions get the
# same inputs back from their context.
WORKLOADS = {
    "sumSeries x1000": ("sumSeries", 1000, []),
    "averageSeries x1000": ("averageSeries", 1000, []),
    "groupByNode(1, sum) x1000": ("groupByNode", 1000, [1, "sum"]),
    "highestAverage(10) x1000": ("highestAverage", 1000, [10]),
    "asPercent x100": ("asPercent", 100, []),
    "summarize(1h, sum) x100": ("summarize", 100, ["1h", "sum"]),
    "nonNegativeDerivative x100": ("nonNegativeDerivative", 100, []),
    "movingAverage(60) x10": ("movingAverage", 10, [60]),
    "keepLastValue x100": ("keepLastValue", 100, []),
    "scale(2) x100": ("scale", 100, [2]),
}

COMMON = r'''
import math
START, STEP, POINTS = %d, %d, %d

def make_values(i):
    return [None if (i + j) %% 17 == 0 else float((i * 7919 + j * 104729) %% 1000) / 10.0
            for j in range(POINTS)]

def series_name(i):
    return "bench.host%%d.metric%%d" %% (i %% 10, i)

def summary(values_lists, names):
    total, nones = 0.0, 0
    for values in values_lists:
        for v in values:
            if v is None or v != v:
                nones += 1
            else:
                total += v
    return {"names": names, "nones": nones, "sum": round(total, 3)}
''' % (START, STEP, POINTS)

WORKER = COMMON + r'''
import copy, json, os, sys, time
from datetime import datetime, timezone, timedelta
os.environ["DJANGO_SETTINGS_MODULE"] = "graphite.settings"
import django
django.setup()
from graphite.functions import SeriesFunction
from graphite.functions.params import validateParams
from graphite.render import functions as F
from graphite.render.datalib import TimeSeries

workloads = json.loads(sys.argv[1])
base = [make_values(i) for i in range(max(w[1] for w in workloads.values()))]

def build(count):
    return [TimeSeries(series_name(i), START, START + STEP * POINTS, STEP, list(base[i]))
            for i in range(count)]

current = {}
F.evaluateTarget = lambda ctx, target: build(current["count"])

def context():
    end = datetime.fromtimestamp(START + STEP * POINTS, timezone.utc)
    return {"startTime": datetime.fromtimestamp(START, timezone.utc), "endTime": end,
            "now": end, "localOnly": False, "template": {}, "args": ["bench.*"],
            "xFilesFactor": 0, "tzinfo": timezone.utc}

def run(key):
    name, count, extra = workloads[key]
    current["count"] = count
    func = SeriesFunction(name)
    args, kwargs = validateParams(name, func.params, [build(count)] + extra, {})
    ctx = context()
    started = time.perf_counter()
    result = func(ctx, *args, **kwargs)
    return time.perf_counter() - started, result

sys.stdout.write("ready\n")
sys.stdout.flush()
for line in sys.stdin:
    key, want_summary = json.loads(line)
    elapsed, result = run(key)
    answer = {"time": elapsed}
    if want_summary:
        answer["summary"] = summary([list(s) for s in result], [s.name for s in result])
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
'''


namespace = {}
exec(COMMON, namespace)  # the same formula on our side


class Context:
    def __init__(self, inputs):
        self.start_time = datetime.fromtimestamp(START, timezone.utc)
        self.end_time = self.start_time + timedelta(seconds=STEP * POINTS)
        self.now = self.end_time
        self.tz = timezone.utc
        self.x_files_factor = 0
        self.inputs = inputs

    def evaluate(self, text, start_time=None, end_time=None):
        return self.inputs


def build_ours(base, count):
    return [TimeSeries(namespace["series_name"](i), START, START + STEP * POINTS, STEP, base[i])
            for i in range(count)]


def run_ours(registry, base, key):
    name, count, extra = WORKLOADS[key]
    inputs = build_ours(base, count)
    started = time.perf_counter()
    result = registry.call(name, Context(inputs), [inputs] + extra, {}, arg_texts=["bench.*"])
    return time.perf_counter() - started, result


def summary_ours(result):
    lists = [[None if math.isnan(v) else v for v in s.values.tolist()] for s in result]
    return namespace["summary"](lists, [s.name for s in result])


def start_worker(tmp):
    python = reference.ensure_venv(reference.GRAPHITE_WEB)
    env = reference.graphite_web_env(tmp, base={"PATH": "/usr/bin:/bin"})
    worker = subprocess.Popen([str(python), "-c", WORKER, json.dumps(WORKLOADS)], env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=tmp)
    if worker.stdout.readline().strip() != "ready":
        worker.kill()
        raise RuntimeError("graphite-web worker failed to start")
    return worker


def run_theirs(worker, key, want_summary):
    worker.stdin.write(json.dumps([key, want_summary]) + "\n")
    worker.stdin.flush()
    return json.loads(worker.stdout.readline())


def measure():
    registry = Registry()
    count = max(w[1] for w in WORKLOADS.values())
    base = [np.array([math.nan if v is None else v for v in namespace["make_values"](i)])
            for i in range(count)]
    times = {key: ([], []) for key in WORKLOADS}
    agree = {}
    with tempfile.TemporaryDirectory(prefix="bench-functions-") as tmp:
        worker = start_worker(tmp)
        try:
            for round_no in range(ROUNDS):  # A, B, A, B ...
                for key in WORKLOADS:
                    elapsed, result = run_ours(registry, base, key)
                    times[key][0].append(elapsed)
                    theirs = run_theirs(worker, key, round_no == 0)
                    times[key][1].append(theirs["time"])
                    if round_no == 0:
                        agree[key] = summary_ours(result) == theirs["summary"]
        finally:
            worker.stdin.close()
            worker.wait(timeout=60)
    return times, agree


def report(times, agree):
    lines = ["| workload (1 day at 10 s per series) | graphite-web 1.1.10 ms | carbonish ms "
             "| ratio | same answer |", "|---|---|---|---|---|"]
    for key, (ours, theirs) in times.items():
        ours_ms = statistics.median(ours) * 1000
        theirs_ms = statistics.median(theirs) * 1000
        lines.append(f"| {key} | {theirs_ms:.1f} | {ours_ms:.2f} | **{theirs_ms / ours_ms:.0f}x** "
                     f"| {'yes' if agree[key] else 'NO'} |")
    table = "\n".join(lines)
    print(table)
    text = ("# Render functions\n\n"
            "In-process, no I/O: the same input series on both sides (1,000 series x 8,640 "
            "points at 10 s, ~6% None, built from one formula), each workload timed as the "
            "function call alone (graphite-web gets fresh copies made outside the timer, as it "
            "rewrites its inputs; carbonish goes through `Registry.call`, argument checking "
            "included). graphite-web 1.1.10 runs in a worker process in its own venv "
            "(bench/reference.py), carbonish in this one; "
            f"{ROUNDS} rounds alternating A/B per workload, medians. 'same answer' compares "
            "names, None count and the sum of all values of the first result of each side.\n\n"
            + table + "\n")
    out = ROOT / "bench" / "results" / "functions.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)


def main():
    times, agree = measure()
    report(times, agree)
    return 0 if all(agree.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
