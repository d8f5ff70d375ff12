import math

import numpy as np
import pytest

from carbonish import parse as parse_module
from carbonish.parse import points_to_batch


@pytest.fixture(params=["vectorised", "per-line"])
def parse_plaintext(request):
    """Every plaintext case runs through both paths: they must agree."""
    threshold = 0 if request.param == "vectorised" else 10 ** 9
    return lambda chunk: parse_module.parse_plaintext(chunk, vectorise_from=threshold)


def columns(batch):
    return batch.names, batch.timestamps.tolist(), batch.values.tolist()


def test_fast_path_many_lines(parse_plaintext):
    batch = parse_plaintext(b"a.b 1.5 100\nc.d -2 200\r\ne 1e3 300\n")
    assert columns(batch) == (["a.b", "c.d", "e"], [100.0, 200.0, 300.0], [1.5, -2.0, 1000.0])
    assert batch.errors == []


def test_minus_one_and_missing_timestamp_mean_now(parse_plaintext):
    batch = parse_plaintext(b"a 1 -1\nb 2\n")
    assert batch.names == ["a", "b"]
    assert all(math.isnan(t) for t in batch.timestamps)
    fast = parse_plaintext(b"a 1 -1\n")
    assert math.isnan(fast.timestamps[0])


def test_last_line_without_newline_and_blank_lines(parse_plaintext):
    batch = parse_plaintext(b"\n\na 1 10\n\nb 2 20")
    assert columns(batch) == (["a", "b"], [10.0, 20.0], [1.0, 2.0])


@pytest.mark.parametrize("line, reason", [
    (b"a", "got 1 fields"),
    (b"a 1 2 3", "got 4 fields"),
    (b"a x 10", "value is not a number"),
    (b"a 1 y", "timestamp is not a number"),
    (b"\xff 1 10", "not UTF-8"),
])
def test_bad_lines_are_reasons_and_the_rest_is_taken(parse_plaintext, line, reason):
    batch = parse_plaintext(b"good 1 10\n" + line + b"\nalso.good 2 20\n")
    assert batch.names == ["good", "also.good"]
    assert len(batch.errors) == 1
    kind, message = batch.errors[0]
    assert kind == "invalidLines" and reason in message


def test_misaligned_tokens_never_fool_the_fast_path(parse_plaintext):
    # 2 + 4 tokens = 6 = 2 * 3: a column split would pair the wrong fields.
    batch = parse_plaintext(b"1 2\n3 4 5 6\n")
    assert batch.names == ["1"] and len(batch.errors) == 1


def test_nan_values_parse_for_ingest_to_reject(parse_plaintext):
    batch = parse_plaintext(b"a nan 10\n")
    assert batch.names == ["a"] and np.isnan(batch.values[0])


def test_points_to_batch_shapes():
    rows = [("a", (10, 1.0)), (b"b", (20.5, 2)), ("c", (-1, 3)), ("bad",), ("d", ("x", 1)),
            (b"\xff", (1, 1)), 42]
    batch = points_to_batch(rows)
    assert batch.names == ["a", "b", "c"]
    assert batch.timestamps[:2].tolist() == [10.0, 20.5] and math.isnan(batch.timestamps[2])
    assert len(batch.errors) == 4


# --- the vectorised number parser gives exactly what float() gives --------------------

from hypothesis import given, settings, strategies as st  # noqa: E402

from carbonish.parse import parse_numbers  # noqa: E402

number_text = st.one_of(
    st.from_regex(r"-?[0-9]{1,17}(\.[0-9]{0,17})?", fullmatch=True),
    st.from_regex(r"-?\.[0-9]{1,16}", fullmatch=True),
    st.floats(allow_nan=False).map(repr),
    st.integers(-10 ** 20, 10 ** 20).map(str),
    st.sampled_from(["+5", "1e3", "-2.5E-3", "inf", "-inf", "007", "-0", "0.", "1_0"]),
)


def parse_tokens(tokens):
    chunk = b" ".join(t.encode() for t in tokens) + b"\n"
    data = np.frombuffer(chunk, dtype=np.uint8)
    starts, stops, offset = [], [], 0
    for t in tokens:
        starts.append(offset)
        stops.append(offset + len(t))
        offset += len(t) + 1
    return parse_numbers(chunk, data, np.array(starts), np.array(stops))


@settings(max_examples=300, deadline=None)
@given(st.lists(number_text, min_size=1, max_size=20))
def test_vectorised_numbers_equal_float(tokens):
    result = parse_tokens(tokens)
    expected = [float(t) for t in tokens]
    assert [float(x) for x in result] == expected
    assert [np.signbit(x) for x in result] == [np.signbit(x) for x in expected]


@pytest.mark.parametrize("bad", ["-", ".", "1.2.3", "--5", "5-", "abc", "1,5", "0x10"])
def test_vectorised_numbers_refuse_what_float_refuses(bad):
    assert parse_tokens(["1", bad, "2"]) is None


def test_fast_path_unicode_names_and_blank_lines(parse_plaintext):
    batch = parse_plaintext("ünï.cødé 1.25 100\n\nb 2 200\n".encode())
    assert batch.names == ["ünï.cødé", "b"] and batch.values.tolist() == [1.25, 2.0]


line_text = st.one_of(
    st.builds(lambda n, v, t: f"{n} {v} {t}", st.from_regex(r"[a-z]{1,5}(\.[a-z0-9_]{1,5}){0,3}", fullmatch=True),
              number_text, st.integers(-1, 2 ** 32).map(str)),
    st.from_regex(r"[a-z. 0-9\-]{0,20}", fullmatch=True),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(line_text, min_size=1, max_size=40))
def test_both_paths_agree_on_any_chunk(lines):
    chunk = "\n".join(lines).encode()
    fast = parse_module.parse_plaintext(chunk, vectorise_from=0)
    slow = parse_module.parse_plaintext(chunk, vectorise_from=10 ** 9)
    assert fast.names == slow.names
    assert fast.values.tobytes() == slow.values.tobytes()
    assert np.array_equal(fast.timestamps, slow.timestamps, equal_nan=True)
    assert fast.errors == slow.errors
