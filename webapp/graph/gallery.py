"""`make gallery`: render a set of representative graphs into a directory.

    python -m webapp.graph.gallery gallery
"""
import sys
from pathlib import Path

import numpy as np

from webapp.graph.render import render_graph
from webapp.series import TimeSeries

START = 1_767_225_600  # 2026-01-01 00:00 UTC: fixed, so the gallery is reproducible
DAY = 86400


def _wave(name, seed, step=60, span=DAY, base=50.0, amplitude=30.0, noise=3.0, **options):
    rng = np.random.default_rng(seed)
    t = np.arange(span // step)
    values = (base + amplitude * np.sin(t * step / 14000.0 + seed)
              + rng.normal(0.0, noise, len(t)))
    return TimeSeries(name, START, START + span, step, values, options=options)


def _servers(count, **options):
    return [_wave(f"servers.web{i:02d}.cpu.user", i, base=20 + 6 * i, amplitude=10 + i,
                  **options) for i in range(count)]


def _requests():
    series = _wave("app.requests.rate", 7, base=1200, amplitude=700, noise=60)
    series.values[600:640] = np.nan  # a gap, drawn as graphite does
    return series


def _latency():
    rng = np.random.default_rng(3)
    values = np.exp(rng.normal(3.0, 1.2, DAY // 300))
    return TimeSeries("app.latency.p99", START, START + DAY, 300, values)


def _stacked():
    names = ("user", "system", "iowait", "steal")
    return [_wave(f"host.cpu.{n}", i, base=25 - 5 * i, amplitude=8 - i, noise=1.5)
            for i, n in enumerate(names)]


def gallery():
    """(file name, series, params) of each picture."""
    size = {"width": "600", "height": "300"}
    second = [_requests(), _wave("app.errors.rate", 11, base=3, amplitude=2, noise=0.3,
                                 secondYAxis=True)]
    pie_series = [_wave(f"disk.{n}.used", i, base=10 + 20 * i, amplitude=5)
                  for i, n in enumerate(("logs", "db", "cache", "media"))]
    return [
        ("one-series.png", [_requests()], {**size, "title": "Requests per second"}),
        ("many-series.png", _servers(8), {**size, "height": "360", "title": "CPU by server",
                                          "template": "modern"}),
        ("stacked.png", _stacked(), {**size, "areaMode": "stacked", "title": "CPU (stacked)",
                                     "vtitle": "percent", "template": "modern"}),
        ("pie.png", pie_series, {"width": "400", "height": "300", "graphType": "pie",
                                 "title": "Disk usage", "template": "modern"}),
        ("second-axis.png", second, {**size, "title": "Requests and errors",
                                     "vtitle": "req/s", "vtitleRight": "err/s",
                                     "template": "modern"}),
        ("log-scale.png", [_latency()], {**size, "logBase": "10", "title": "p99 latency (ms)",
                                         "lineMode": "staircase", "template": "modern"}),
        ("dark.png", _servers(4), {**size, "template": "modern-dark", "title": "Dark template",
                                   "areaMode": "all", "areaAlpha": "0.15"}),
        ("classic.png", _servers(4), {**size, "template": "classic",
                                      "title": "graphite classic"}),
        ("no-data.png", [], {**size}),
    ]


def main(argv):
    out = Path(argv[0] if argv else "gallery")
    out.mkdir(parents=True, exist_ok=True)
    for name, series, params in gallery():
        (out / name).write_bytes(render_graph(series, params, "png"))
        print(out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
