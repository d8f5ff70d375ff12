import math

import pytest

from carbonish.parse import parse_csv, parse_encoded, parse_json


def test_csv_with_and_without_header():
    plain = parse_csv(b"a.b,1.5,100\nc,2,200\r\n\nd,3\n")
    assert plain.names == ["a.b", "c", "d"]
    assert plain.values.tolist() == [1.5, 2.0, 3.0]
    assert plain.timestamps[:2].tolist() == [100.0, 200.0] and math.isnan(plain.timestamps[2])
    headed = parse_csv(b"timestamp,path,value\n100,x,7\n")
    assert headed.names == ["x"] and headed.values.tolist() == [7.0]
    assert headed.timestamps.tolist() == [100.0]


def test_csv_bad_rows_and_header():
    batch = parse_csv(b"a,1,100\nonlyone\nb,notnum,100\nc,1,2,3\nd,4,400\n")
    assert batch.names == ["a", "d"] and len(batch.errors) == 3
    assert parse_csv(b"path,timestamp\nx,1\n").errors[0][1].startswith("CSV header")


def test_json_shapes():
    one = parse_json(b'{"path": "a", "value": 1, "timestamp": 100}')
    assert one.names == ["a"] and one.timestamps.tolist() == [100.0]
    many = parse_json(b'[{"path": "a", "value": 1}, {"path": "b", "points": [[100, 2], [110, 3.5]]}]')
    assert many.names == ["a", "b", "b"] and many.values.tolist() == [1.0, 2.0, 3.5]
    assert math.isnan(many.timestamps[0])


@pytest.mark.parametrize("body", [
    b"not json", b'{"value": 1}', b'[1, 2]', b'{"path": "a"}', b'{"path": "a", "points": 5}',
    b'{"path": "a", "value": "1"}', b'{"path": "a", "value": true}',
    b'{"path": "a", "points": [[1]]}',
])
def test_json_bad_items_are_reasons(body):
    batch = parse_json(body)
    assert batch.names == [] and batch.errors


def test_parse_encoded_dispatch():
    assert parse_encoded("plain", b"a 1 100\n").names == ["a"]
    with pytest.raises(KeyError):
        parse_encoded("xml", b"")
