"""Target parsing and at-time parsing: carbonish vs graphite-web 1.1.10, side by side.

Each side runs in its own Python process (graphite-web's in its reference venv, with its
pyparsing grammar and pytz), timing the same inputs; rounds alternate A, B, A, B and the
table quotes medians. Writes bench/results/grammar.md.
"""
import json
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import reference  # noqa: E402  (bench/ is not a package)

ROUNDS = 5
TARGETS = [
    "carbon.agents.*.metricsReceived",
    "sumSeries(servers.*.cpu.total.user)",
    "alias(scale(movingAverage(servers.web{1,2,3}.load.shortterm, '5min'), 100), 'load')",
    "aliasByNode(highestAverage(groupByNode(collectd.*.interface-eth*.if_octets.rx, 1, "
    "'sumSeries'), 10), 0)",
    "seriesByTag('name=cpu.usage', 'dc=~east.*')|aliasByTags('host')",
    "template(sumSeries(hosts.$env.*.requests), env='prod')",
    "asPercent(sumSeries(a.b.*.errors), sumSeries(a.b.*.requests))",
    "sumSeries(" + ",".join(f"app.server{i:02d}.requests.count" for i in range(50)) + ")",
]
TIMES = ["-1h", "-7d", "now", "midnight", "20260101", "10:30_20260101", "noon_yesterday",
         "1774746000", "-1mon", "3pm_monday"]

_PROLOGUE = {
    "carbonish": """
import sys, time
sys.path.insert(0, {repo!r})
from datetime import datetime
from zoneinfo import ZoneInfo
from webapp.grammar import parse
from webapp.attime import parse_at_time
tz = ZoneInfo('Europe/Berlin')
now = datetime(2026, 3, 28, 14, 37, 42, tzinfo=tz)
parse_target = parse
parse_time = lambda text: parse_at_time(text, tz, now)
""",
    "graphite-web": """
import sys, time
from datetime import datetime
from django.conf import settings
settings.configure(UTF8_METRICS=False, TIME_ZONE='UTC')
import pytz
from graphite.render.grammar_unsafe import grammar
from graphite.render.attime import parseATTime
tz = pytz.timezone('Europe/Berlin')
now = tz.localize(datetime(2026, 3, 28, 14, 37, 42))
parse_target = grammar.parseString
parse_time = lambda text: parseATTime(text, tz, now)
""",
}
_TIMING = """
import json
def per_call(func, items, repeat):
    best = []
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(repeat):
            for item in items:
                func(item)
        best.append((time.perf_counter() - started) / (repeat * len(items)))
    return min(best)
targets, times = json.loads(sys.argv[1]), json.loads(sys.argv[2])
result = {'target': per_call(parse_target, targets, %(target_repeat)d),
          'time': per_call(parse_time, times, %(time_repeat)d)}
for name, target in zip(%(names)r, targets):
    result[name] = per_call(parse_target, [target], %(one_repeat)d)
print(json.dumps(result))
"""
NAMES = [f"t{i}" for i in range(len(TARGETS))]


def run_side(python, side, repeats):
    code = _PROLOGUE[side].format(repo=str(HERE.parent)) + _TIMING % dict(
        names=NAMES, **repeats)
    completed = subprocess.run(
        [str(python), "-c", code, json.dumps(TARGETS), json.dumps(TIMES)],
        capture_output=True, text=True, check=True)
    return json.loads(completed.stdout)


def main():
    graphite_python = reference.ensure_venv(reference.GRAPHITE_WEB)
    pythons = {"carbonish": sys.executable, "graphite-web": graphite_python}
    repeats = {"carbonish": dict(target_repeat=200, time_repeat=500, one_repeat=200),
               "graphite-web": dict(target_repeat=5, time_repeat=100, one_repeat=5)}
    samples = {side: [] for side in pythons}
    for _ in range(ROUNDS):
        for side in ("graphite-web", "carbonish"):
            samples[side].append(run_side(pythons[side], side, repeats[side]))
    medians = {side: {key: statistics.median(s[key] for s in runs) for key in runs[0]}
               for side, runs in samples.items()}
    table = render_table(medians)
    print(table)
    write_results(table)


def render_table(medians):
    ours, theirs = medians["carbonish"], medians["graphite-web"]
    rows = [("all 8 targets, per target", "target"), ("all 10 at-times, per text", "time")]
    rows += [(f"`{TARGETS[i][:60]}{'...' if len(TARGETS[i]) > 60 else ''}`", name)
             for i, name in enumerate(NAMES)]
    lines = ["| input | graphite-web 1.1.10 | carbonish | speed-up |", "|---|---:|---:|---:|"]
    for label, key in rows:
        lines.append(f"| {label} | {theirs[key] * 1e6:,.1f} µs | {ours[key] * 1e6:,.1f} µs "
                     f"| {theirs[key] / ours[key]:,.0f}x |")
    return "\n".join(lines)


def write_results(table):
    text = (
        "# Target and at-time parsing\n\n"
        f"{table}\n\n"
        "How measured: `bench/bench_grammar.py`. graphite-web 1.1.10's own grammar "
        "(`render/grammar_unsafe.py`, pyparsing 3, without the lock of its thread-safe "
        "wrapper) and `parseATTime` (pytz, Europe/Berlin) run in its reference venv; "
        "carbonish's `webapp.grammar.parse` and `webapp.attime.parse_at_time` (zoneinfo) in "
        "ours. Each side is its own process; per-call time is the best of 3 loops over the "
        f"inputs; {ROUNDS} rounds alternate graphite-web, carbonish and the table quotes "
        "the medians of the rounds. Both parse to a tree only (no evaluation).\n")
    out = HERE / "results" / "grammar.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)


if __name__ == "__main__":
    main()
