"""The orjson fast path of the json renderer gives exactly the bytes of the plain path
(json_entries through orjson), whatever the values and timestamps."""
import json

import numpy as np
import orjson
import pytest
from hypothesis import given, strategies as st

from webapp import formats
from webapp.formats import json_format
from webapp.series import TimeSeries

OPTIONS = formats.FormatOptions(tz=None, jsonp=None, no_null_points=False, pretty=False)


def plain(series_list, max_data_points=None, no_null_points=False):
    return json_format._encode(json_format.json_entries(series_list, max_data_points,
                                                        no_null_points))


@pytest.mark.parametrize("start, step, count", [
    (1_700_000_000, 10, 500),       # all ten digits: the interleaved texts
    (999_999_000, 10, 300),         # nine then ten digits: the list of pairs
    (-500, 7, 200),                 # negative and positive stamps of several widths
    (10 ** 15, 60, 5),              # sixteen digits
    (-10 ** 12, 60, 5),             # negative, all of one width
    (1_700_000_000, 10, 0),         # no points at all
    (1_700_000_000, 10, 1),
])
@pytest.mark.parametrize("max_data_points, no_null_points",
                         [(None, False), (None, True), (7, False), (7, True)])
def test_fast_path_same_bytes_as_plain(start, step, count, max_data_points, no_null_points):
    rng = np.random.default_rng(count + step)
    values = rng.normal(0, 10.0 ** rng.integers(-20, 20, count), count)
    values[rng.random(count) < 0.25] = np.nan
    values[: count // 3] = np.round(values[: count // 3], 2)
    if count > 3:
        values[1], values[2] = -0.0, 1e16
    series = [TimeSeries("a.b;x=y", start, start + count * step, step, values),
              TimeSeries("c", start, start + step, step, values[:1])]
    fast = json_format._fast_json(series, max_data_points, no_null_points)
    assert fast == plain(series, max_data_points, no_null_points)


def test_render_json_uses_fast_path_and_stays_parseable():
    series = [TimeSeries("m", 1_700_000_000, 1_700_000_030, 10, [1.5, np.nan, 3.0])]
    body, ctype = json_format.render_json(series, OPTIONS)
    assert ctype == "application/json"
    assert json.loads(body) == [{"target": "m", "tags": {"name": "m"},
                                 "datapoints": [[1.5, 1_700_000_000], [None, 1_700_000_010],
                                                [3.0, 1_700_000_020]]}]


@pytest.mark.parametrize("values, max_data_points", [
    ([1.0, np.inf, np.nan], None),
    ([1e308, 1e308, 2.0], 1),       # finite points whose consolidated sum is infinite
])
@pytest.mark.filterwarnings("ignore:overflow encountered")
def test_infinities_are_written_1e9999(values, max_data_points):
    series = [TimeSeries("m", 0, 30, 10, values, consolidate_func="sum")]
    assert json_format._fast_json(series, max_data_points, False) is None
    body, _ = json_format.render_json(series, OPTIONS, max_data_points)
    assert b"1e9999" in body and b"Infinity" not in body


@given(st.lists(st.floats(allow_infinity=False, width=64), max_size=60),
       st.integers(-10 ** 12, 10 ** 12), st.integers(1, 10 ** 6))
def test_datapoints_same_bytes_as_orjson_of_pairs(values, start, step):
    values = np.array(values, dtype=np.float64)
    timestamps = start + step * np.arange(len(values), dtype=np.int64)
    pairs = [[None if v != v else v, t] for v, t in zip(values.tolist(), timestamps.tolist())]
    assert bytes(json_format._fast_datapoints(values, timestamps)) == orjson.dumps(pairs)
