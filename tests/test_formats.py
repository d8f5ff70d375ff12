"""Byte layouts of the data formats against graphite-web 1.1.10's render views."""
import json
import math
import pickle
from datetime import timezone, timedelta

import pytest

from webapp.errors import InputError
from webapp.formats import FormatOptions, render
from webapp.formats import json_format
from webapp.series import TimeSeries

NAN = float("nan")


def series(name, start, step, values, **kw):
    return TimeSeries(name, start, start + step * len(values), step, values, **kw)


def test_json_layout_null_and_tags():
    body, ctype = render("json", [series("a.b", 100, 10, [1.0, NAN, 2.5])], FormatOptions())
    assert ctype == "application/json"
    assert json.loads(body) == [{"target": "a.b", "tags": {"name": "a.b"},
                                 "datapoints": [[1.0, 100], [None, 110], [2.5, 120]]}]


def test_json_infinity_written_as_1e9999_like_graphite():
    body, _ = render("json", [series("x", 0, 1, [math.inf, -math.inf, 1.0])], FormatOptions())
    assert b"[1e9999, 0]" in body and b"[-1e9999, 1]" in body
    assert json.loads(body)[0]["datapoints"][0][0] == math.inf


def test_json_stdlib_fallback_same_document(monkeypatch):
    data = [series("a", 10, 10, [1.5, NAN]), series("b", 10, 10, [3.0, 4.0])]
    fast, _ = render("json", data, FormatOptions())
    monkeypatch.setattr(json_format, "orjson", None)
    slow, _ = render("json", data, FormatOptions())
    assert slow.startswith(b'[{"target": "a", "tags": {"name": "a"}, "datapoints": [[1.5, 10]')
    assert json.loads(fast) == json.loads(slow)


def test_json_pretty_indents():
    body, _ = render("json", [series("a", 0, 1, [1.0])], FormatOptions(pretty=True))
    assert body.startswith(b'[\n  {\n    "target": "a"')


def test_jsonp_wraps_as_javascript():
    body, ctype = render("json", [series("a", 0, 1, [1.0])], FormatOptions(jsonp="cb_1"))
    assert ctype == "text/javascript"
    assert body.startswith(b"cb_1([{") and body.endswith(b"])")


def test_json_no_null_points_drops_nulls_and_empty_series():
    data = [series("a", 0, 10, [NAN, 2.0, NAN]), series("b", 0, 10, [NAN, NAN, NAN])]
    body, _ = render("json", data, FormatOptions(no_null_points=True))
    assert json.loads(body) == [{"target": "a", "tags": {"name": "a"}, "datapoints": [[2.0, 10]]}]


def test_json_empty_list():
    assert render("json", [], FormatOptions())[0] == b"[]"


def test_max_data_points_matches_graphite_nudge_and_buckets():
    # 10 points at step 10 from 1000, maxDataPoints=3: valuesPerPoint=ceil(10/3)=4,
    # secondsPerPoint=40, nudge = 40 + 0 - (1000 % 40 = 0) = 40 -> start 1040, and
    # graphite deletes nudge/step - 1 = 3 leading values. Buckets of 4 over the
    # remaining 7: [4..7] avg 5.5, [8,9,10] avg 9; timestamps 1040, 1080 (end 1100).
    data = [series("a", 1000, 10, [float(v) for v in range(1, 11)])]
    entries = json_format.json_entries(data, max_data_points=3)
    assert list(map(list, entries[0]["datapoints"])) == [[5.5, 1040], [9.0, 1080]]


def test_max_data_points_one_consolidates_everything():
    data = [series("a", 1000, 10, [1.0, NAN, 5.0], consolidate_func="sum")]
    assert json_format.json_entries(data, max_data_points=1)[0]["datapoints"] == [(6.0, 1000)]


def test_max_data_points_above_length_is_a_no_op():
    data = [series("a", 1000, 10, [1.0, 2.0])]
    assert json_format.json_entries(data, 100)[0]["datapoints"] == [(1.0, 1000), (2.0, 1010)]


def test_csv_layout_in_request_tz():
    tz = timezone(timedelta(hours=2))
    body, ctype = render("csv", [series("a.b", 0, 60, [1.0, NAN])], FormatOptions(tz=tz))
    assert ctype == "text/csv"
    assert body == b"a.b,1970-01-01 02:00:00,1.0\r\na.b,1970-01-01 02:01:00,\r\n"


def test_csv_quotes_names_with_commas():
    body, _ = render("csv", [series("a,b", 0, 60, [1.0])], FormatOptions())
    assert body == b'"a,b",1970-01-01 00:00:00,1.0\r\n'


def test_raw_layout():
    body, ctype = render("raw", [series("a", 100, 10, [1.0, NAN, 0.1]),
                                 series("b", 0, 5, [])], FormatOptions())
    assert ctype == "text/plain"
    assert body == b"a,100,130,10|1.0,None,0.1\nb,0,0,5|\n"


def test_pickle_is_graphite_series_info():
    data = [series("a.b", 100, 10, [1.0, NAN], path_expression="a.*")]
    body, ctype = render("pickle", data, FormatOptions())
    assert ctype == "application/pickle"
    assert pickle.loads(body) == [{
        "name": "a.b", "start": 100, "end": 120, "step": 10, "values": [1.0, None],
        "pathExpression": "a.*", "valuesPerPoint": 1, "consolidationFunc": "average",
        "xFilesFactor": 0.0}]


def test_pickle_readable_by_restricted_unpickler():
    from carbonish import safe_pickle
    body, _ = render("pickle", [series("a", 0, 1, [1.0])], FormatOptions())
    assert safe_pickle.loads(body)[0]["name"] == "a"


def test_dygraph_layout():
    data = [series("a", 10, 10, [1.0, NAN]), series("b", 10, 10, [math.inf, 2.0])]
    body, ctype = render("dygraph", data, FormatOptions())
    assert ctype == "application/json"
    assert body == (b'{"labels" : ["Time", "a", "b"], "data" : '
                    b'[[10000, 1.0, Infinity], [20000, null, 2.0]]}')


def test_dygraph_empty_is_empty_object():
    assert render("dygraph", [], FormatOptions())[0] == b"{}"


def test_rickshaw_layout():
    body, _ = render("rickshaw", [series("a", 10, 10, [1.0, NAN])], FormatOptions())
    assert json.loads(body) == [{"target": "a", "datapoints": [{"x": 10, "y": 1.0},
                                                               {"x": 20, "y": None}]}]


def test_unknown_format_is_input_error():
    with pytest.raises(InputError, match="unknown format 'xml'"):
        render("xml", [], FormatOptions())
