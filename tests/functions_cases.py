"""Inputs and calls shared by tests/functions_golden_gen.py (which records graphite-web
1.1.10's answers) and tests/test_functions_golden.py (which checks ours against them).

A case is {"id", "func", "args", "kwargs"?, "arg_text"?}; an argument {"series": [names]}
stands for a series list made of the named INPUTS."""

BASE = 1699999980  # a multiple of 60
N = None

INPUTS = [
    ("a.b.c", BASE, 10, [1.5, N, 3.25, 4.0, N, 6.1, 7.0, 8.3, N, 10.0, 11.0, 0.1]),
    ("a.b.d", BASE, 10, [2.0, 2.5, N, 4.75, N, 1.0, 0.2, 0.3, 0.7, N, 5.0, 6.0]),
    ("a.x.c", BASE, 10, [-1.0, 0.0, 3.0, N, N, N, 9.5, 1e10, 1e-10, 2.0, -3.5, 4.0]),
    ("a.y.d", BASE, 20, [10.0, N, 30.0, 40.0, N, 60.0]),
    ("a.z.e", BASE, 10, [N] * 12),
    ("cpu.load;host=h1;dc=east", BASE, 10, [1.0, 2.0, 3.0, N, 5.0, 6.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
    ("cpu.load;host=h2;dc=east", BASE, 10, [0.5, N, 1.5, 2.5, 3.5, N, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0]),
    ("net.rx", BASE, 10, [100.0, 110.0, 125.0, N, 140.0, 5.0, 20.0, 20.0, 4294967290.0, 3.0, N, 30.0]),
    ("one.value", BASE, 10, [N, N, N, N, 7.0, N, N, N, N, N, N, N]),
    ("short.s", BASE + 30, 10, [1.0, 2.0, 3.0]),
    ("zeros.z", BASE, 10, [0.0, 1.0, 0.0, N, 2.0, 0.0, 3.0, 0.0, 4.0, 0.0, 5.0, 0.0]),
]

REQUEST = (BASE, BASE + 120)


def refetch(expression, start, end):
    """What a re-evaluation of `expression` over [start, end) returns (both sides agree)."""
    first = start - start % 10
    count = max(0, (end - first) // 10)
    names = {"a.b.c": ["a.b.c"], "a.b.*": ["a.b.c", "a.b.d"]}.get(expression, [expression])
    result = []
    for offset, name in enumerate(names):
        values = []
        for i in range(count):
            stamp = first + i * 10
            values.append(None if stamp % 50 == 0 else float((stamp // 10 + offset) % 7) + 0.5)
        result.append((name, first, 10, values))
    return result


def S(*names):
    return {"series": list(names)}


AB = S("a.b.c", "a.b.d")
ALL = S("a.b.c", "a.b.d", "a.x.c", "a.z.e")
TAGGED = S("cpu.load;host=h1;dc=east", "cpu.load;host=h2;dc=east")
MIXED = S("a.b.c", "a.y.d")

CASES = []


def case(func, *args, **kwargs):
    arg_text = kwargs.pop("arg_text", "")
    key = kwargs.pop("id", None)
    CASES.append({"id": key or f"{func}#{len(CASES)}", "func": func, "args": list(args),
                  "kwargs": kwargs, "arg_text": arg_text})


for agg in ("sumSeries", "sum", "averageSeries", "avg", "maxSeries", "minSeries", "diffSeries",
            "multiplySeries", "stddevSeries", "rangeOfSeries", "countSeries"):
    case(agg, ALL)
    case(agg, AB, S("a.x.c"))
    case(agg, MIXED)
    case(agg, TAGGED)
    case(agg, S("short.s", "a.b.c"))
    case(agg, S())
case("multiplySeries", S("a.b.c"))
case("countSeries")
for func in ("average", "avg_zero", "median", "sum", "min", "max", "diff", "stddev", "count",
             "range", "multiply", "last", "avg", "total", "current", "rangeOf", "sumSeries"):
    case("aggregate", ALL, func)
    case("aggregate", MIXED, func)
case("aggregate", ALL, "sum", 0.5)
case("aggregate", ALL, "average", 0.75)
case("aggregate", ALL, "bogus")
case("aggregate", S(), "sum")
case("divideSeries", AB, S("a.x.c"))
case("divideSeries", AB, S("zeros.z"))
case("divideSeries", S("a.b.c"), S("a.y.d"))
case("divideSeries", AB, S())
case("divideSeries", AB, AB)
case("divideSeriesLists", AB, S("a.x.c", "zeros.z"))
case("divideSeriesLists", AB, S("a.x.c"))
case("sumSeriesLists", AB, S("a.x.c", "zeros.z"))
case("diffSeriesLists", AB, S("a.x.c", "zeros.z"))
case("multiplySeriesLists", AB, S("a.x.c", "zeros.z"))
case("aggregateSeriesLists", AB, S("a.x.c", "zeros.z"), "max")
case("asPercent", AB)
case("asPercent", AB, S("a.x.c"))
case("asPercent", AB, S("a.x.c", "zeros.z"))
case("asPercent", AB, 200)
case("asPercent", AB, 12.5)
case("asPercent", ALL, None, 1)
case("asPercent", S("a.b.c", "a.b.d", "a.x.c"), S("a.x.c", "zeros.z"), 1)
case("asPercent", TAGGED, None, "host")
case("asPercent", AB, S("a.x.c", "zeros.z", "a.z.e"))
case("pct", AB)
case("groupByNode", ALL, 1)
case("groupByNode", ALL, 1, "sum")
case("groupByNode", ALL, 2, "sumSeries")
case("groupByNode", ALL, 1, "avg")
case("groupByNode", ALL, -1, "maxSeries")
case("groupByNode", TAGGED, "dc", "sum")
case("groupByNode", ALL, 1, "median")
case("groupByNode", ALL, 1, "bogus")
case("groupByNodes", ALL, "sum", 1, 2)
case("groupByNodes", ALL, "average", 0)
case("groupByNodes", TAGGED, "max", "dc", "host")
case("groupByNodes", ALL, "countSeries", 1)
case("sumSeriesWithWildcards", ALL, 1)
case("averageSeriesWithWildcards", ALL, 1, 2)
case("multiplySeriesWithWildcards", ALL, 2)
case("aggregateWithWildcards", ALL, "max", 1)
case("percentileOfSeries", ALL, 50)
case("percentileOfSeries", ALL, 90, True)
case("percentileOfSeries", ALL, 0)
case("group", AB, S("a.x.c"))
for func, extra in (("absolute", ()), ("scale", (2.5,)), ("scale", (2,)), ("offset", (-1.5,)),
                    ("derivative", ()), ("nonNegativeDerivative", ()), ("perSecond", ()),
                    ("integral", ()), ("keepLastValue", ()), ("keepLastValue", (1,)),
                    ("transformNull", ()), ("transformNull", (-1,)), ("squareRoot", ()),
                    ("pow", (2,)), ("pow", (0.5,)), ("invert", ()), ("isNonNull", ()),
                    ("log", ()), ("log", (2,)), ("delay", (2,)), ("delay", (-3,)),
                    ("scaleToSeconds", (1,)), ("offsetToZero", ()), ("interpolate", ()),
                    ("interpolate", (1,)), ("changed", ()), ("consolidateBy", ("max",)),
                    ("consolidateBy", ("bogus",)), ("cumulative", ()),
                    ("removeAboveValue", (4,)), ("removeBelowValue", (4,)),
                    ("removeAbovePercentile", (50,)), ("removeBelowPercentile", (50,)),
                    ("nPercentile", (50,)), ("nPercentile", (95,)), ("alias", ("x y",)),
                    ("aliasByNode", (1,)), ("aliasByNode", (0, -1)), ("aliasByMetric", ()),
                    ("aliasSub", (r"^a\.(\w)", r"X\1")), ("aliasByTags", ("host", 0)),
                    ("upper", ()), ("lower", (0,)), ("substr", (1,)), ("substr", (0, 2)),
                    ("setXFilesFactor", (0.5,)), ("add", (1.5,))):
    case(func, ALL, *extra)
case("nonNegativeDerivative", S("net.rx"))
case("nonNegativeDerivative", S("net.rx"), 4294967295)
case("nonNegativeDerivative", S("net.rx"), None, 10)
case("perSecond", S("net.rx"))
case("perSecond", S("net.rx"), 4294967295)
case("derivative", S("net.rx"))
case("integral", S("net.rx"))
case("transformNull", ALL, 0, TAGGED)
case("transformNull", S("a.b.c"), 3, S("a.z.e"))
case("keepLastValue", S("one.value", "a.x.c"), 2)
case("scale", TAGGED, 3)
case("aliasByNode", TAGGED, "host")
case("aliasByNode", S("a.b.c"), 7)
for interval in ("30s", "1min", "25s", "1h"):
    for func in ("sum", "average", "max", "last", "avg_zero", "multiply", "count", "median"):
        case("summarize", ALL, interval, func)
    case("summarize", ALL, interval, "sum", True)
    case("hitcount", ALL, interval)
case("summarize", MIXED, "40s", "avg")
case("summarize", ALL, "1min", "sumSeries")
case("hitcount", S("a.y.d"), "15s")
case("hitcount", S("a.b.c"), "5s")
for window in (3, 1, "30s", "1min", 20):
    for func in ("movingAverage", "movingSum", "movingMin", "movingMax", "movingMedian"):
        case(func, S("a.b.c"), window, arg_text="a.b.c")
case("movingAverage", AB, 4, arg_text="a.b.*")
case("movingAverage", AB, 4, 0.8, arg_text="a.b.*")
case("movingWindow", AB, 3, "avg_zero", arg_text="a.b.*")
case("movingWindow", AB, "40s", "multiply", arg_text="a.b.*")
case("movingWindow", AB, 3, "diff", arg_text="a.b.*")
case("movingAverage", S(), 3, arg_text="a.b.*")
case("timeShift", AB, "1min", arg_text="a.b.*")
case("timeShift", S("a.b.c"), "-30s", arg_text="a.b.c")
case("timeShift", S("a.b.c"), "+1min", False, arg_text="a.b.c")
case("timeShift", S(), "1h", arg_text="a.b.c")
case("hitcount", S("a.b.c"), "1min", True, arg_text="a.b.c")
for func in ("highestAverage", "highestCurrent", "highestMax", "lowestAverage", "lowestCurrent",
             "limit"):
    case(func, ALL, 2)
    case(func, ALL, 0)
case("highest", ALL, 2, "sum")
case("lowest", ALL, 3, "median")
case("highest", ALL, 5, "last")
for func in ("currentAbove", "currentBelow", "averageAbove", "averageBelow", "maximumAbove",
             "maximumBelow", "minimumAbove", "minimumBelow"):
    case(func, ALL, 3)
for op in ("=", "!=", ">", ">=", "<", "<=", "~"):
    case("filterSeries", ALL, "max", op, 10)
case("exclude", ALL, r"b\.")
case("exclude", ALL, "^a.(x|z)")
case("grep", ALL, "c$")
case("removeEmptySeries", ALL)
case("removeEmptySeries", S("a.b.c", "a.z.e", "one.value"), 0.5)
case("unique", AB, ALL)
case("mostDeviant", ALL, 2)
case("sortByName", S("a.x.c", "a.b.d", "a.b.c"))
case("sortByName", S("a.x.c", "a.b.d", "a.b.c"), False, True)
case("sortBy", ALL, "max", True)
case("sortByTotal", ALL)
case("sortByMaxima", ALL)
case("sortByMinima", ALL)
case("constantLine", 42)
case("constantLine", 1.5)
case("identity", "the.time")

# maxDataPoints consolidation as graphite-web's json renderer does it:
# (id, [series spec with optional consolidation function and xFilesFactor], maxDataPoints)
LONG = [float(i % 13) if i % 7 else None for i in range(100)]
CONSOLIDATION_CASES = []
for func in ("average", "sum", "max", "min", "first", "last", "avg_zero", "avg"):
    for mdp in (1, 2, 7, 10, 33, 99, 100, 500):
        CONSOLIDATION_CASES.append((f"{func}-{mdp}", [("long.a", BASE + 10, 10, LONG, func, 0)], mdp))
for xff in (0.3, 0.5, 0.9):
    CONSOLIDATION_CASES.append((f"xff-{xff}", [("long.a", BASE, 10, LONG, "average", xff)], 15))
CONSOLIDATION_CASES.append(("two-steps", [("long.a", BASE, 10, LONG, "average", 0),
                                          ("long.b", BASE, 60, LONG[:17], "sum", 0)], 9))
CONSOLIDATION_CASES.append(("offset-start", [("long.a", BASE + 7, 10, LONG, "max", 0)], 9))
CONSOLIDATION_CASES.append(("empty", [("e.e", BASE, 10, [], "average", 0)], 5))
CONSOLIDATION_CASES.append(("different-ranges", [("long.a", BASE, 10, LONG[:30], "average", 0),
                                                 ("long.b", BASE + 600, 10, LONG, "sum", 0)], 20))
for func in ("average", "avg_zero", "median", "sum", "min", "max", "diff", "stddev", "count",
             "range", "multiply", "last"):
    case("sortBy", S("a.b.c", "a.z.e", "zeros.z", "a.x.c", "one.value"), func, id=f"sortBy-{func}")
    case("highest", S("a.b.c", "a.z.e", "zeros.z", "a.x.c", "one.value"), 3, func,
         id=f"highest-{func}")
    case("filterSeries", ALL, func, ">=", 1, id=f"filterSeries-{func}")
case("sumSeries", S("short.s", "a.b.c", "a.y.d"), id="sumSeries-short-mixed")
case("multiplySeries", S("short.s", "a.b.c"), id="multiplySeries-short")
case("stddevSeries", S("short.s", "a.b.c", "zeros.z"), id="stddevSeries-short")
case("diffSeries", S("a.z.e", "short.s", "a.b.c"), id="diffSeries-none-first")
for func, extra in (("exp", ()), ("sigmoid", ()), ("logit", ()), ("round", ()), ("round", (1,)),
                    ("round", (0,)), ("round", (-1,)), ("minMax", ()),
                    ("integralByInterval", ("30s",)), ("integralByInterval", ("1min",)),
                    ("stdev", (3,)), ("stdev", (5, 0.5)), ("stdev", (1,)),
                    ("aggregateLine", ()), ("aggregateLine", ("max", True)),
                    ("aggregateLine", ("sum",)), ("averageOutsidePercentile", (30,)),
                    ("averageOutsidePercentile", (90,)), ("useSeriesAbove", (5, "^a", "b")),
                    ("fallbackSeries", (AB,))):
    case(func, ALL, *extra)
case("round", S("zeros.z", "a.b.c"), 2)
case("logit", S("a.x.c"))
case("exp", S("a.x.c"))
case("sigmoid", S("a.x.c"))
case("fallbackSeries", S(), AB)
case("powSeries", AB)
case("powSeries", S("a.b.c", "a.x.c", "zeros.z"))
case("powSeries", S("short.s", "a.b.c"))
case("powSeries", S())
case("groupByTags", TAGGED, "sum", "dc")
case("groupByTags", TAGGED, "avg", "host", "name")
case("groupByTags", TAGGED + {"series": []} if False else S("cpu.load;host=h1;dc=east", "a.b.c"),
     "max", "dc")
case("stdev", S("net.rx"), 4)
case("linearRegression", AB, arg_text="a.b.*")
case("linearRegression", S("a.b.c"), arg_text="a.b.c")
case("time", "clock")
case("time", "clock", 7)
case("sin", "wave", 3, 25)
case("mapSeries", ALL, 1)
case("mapSeries", TAGGED, "host")
case("map", ALL, 2)
case("reduceSeries", {"lists": [["a.b.c", "a.b.d"]]}, "asPercent", 2, "c", "d")
case("reduceSeries", {"lists": [["a.b.c", "a.b.d"], ["a.x.c", "zeros.z"]]}, "divideSeries", 2,
     "c", "d")
case("reduce", {"lists": [["a.b.c", "a.b.d"]]}, "diffSeries", 2, "d", "c")
case("applyByNode", ALL, 1, "sumSeries(%.*)")
case("applyByNode", ALL, 0, "maxSeries(%.b.*)", "%.max")
case("weightedAverage", AB, S("a.x.c", "a.y.d"), 2)
case("weightedAverage", AB, S("a.x.c", "zeros.z"))
case("weightedAverage", AB, S("a.x.c"))
case("timeStack", S("a.b.c"), "1min", 0, 3, arg_text="a.b.c")
case("timeStack", AB, "30s", 1, 2, arg_text="a.b.*")
case("timeStack", S(), arg_text="a.b.c")
case("smartSummarize", ALL, "30s")
case("smartSummarize", ALL, "1min", "avg")
case("smartSummarize", ALL, "25s", "max")
case("smartSummarize", S("a.b.c"), "1min", "sum", "minutes", arg_text="a.b.c")
case("smartSummarize", S("a.b.c"), "1h", "sum", "hours", arg_text="a.b.c")
case("aliasQuery", S("a.b.c", "a.b.d"), r"^a\.b", "a.b", "val %.1f")
case("threshold", 5, "five", "red")
case("threshold", 2.5)
for window in (3, "30s", 1):
    case("exponentialMovingAverage", S("a.b.c"), window, arg_text="a.b.c")
case("exponentialMovingAverage", AB, 4, arg_text="a.b.*")
case("exponentialMovingAverage", S(), 4, arg_text="a.b.*")
case("holtWintersForecast", S("a.b.c"), "1min", "30s", arg_text="a.b.c")
case("holtWintersForecast", AB, "2min", "1min", arg_text="a.b.*")
case("holtWintersForecast", S("a.b.c"), arg_text="a.b.c")
case("holtWintersConfidenceBands", AB, 2, "1min", "30s", arg_text="a.b.*")
case("holtWintersConfidenceBands", S("a.b.c"), arg_text="a.b.c")
case("holtWintersAberration", S("a.b.c"), 1, "1min", "30s", arg_text="a.b.c")
case("holtWintersAberration", S("a.b.c"), 0, "1min", "20s", arg_text="a.b.c")
case("holtWintersConfidenceArea", S("a.b.c"), 2, "1min", "30s", arg_text="a.b.c")
