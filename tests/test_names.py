from pathlib import Path

import pytest

from carbonish.names import (InvalidMetricName, is_valid_name, name_to_path, path_to_name,
                             prefix_to_folder, valid_name_to_path, validate_name)


@pytest.mark.parametrize("name", ["a", "a.b.c", "servers.web-01.cpu_user", "a:b.c#d",
                                  "ünïcode.ok", "a b.c", "x" * 251])
def test_valid_names(name):
    assert validate_name(name) == name
    assert validate_name(name.encode()) == name


@pytest.mark.parametrize("name, reason", [
    ("", "empty"),
    ("a..b", "empty node"),
    (".a", "empty node"),
    ("a.", "empty node"),
    ("../../etc/passwd", "'/'"),
    ("a/b", "'/'"),
    ("a\x00b", "'\\x00'"),
    ("a\nb", "'\\n'"),
    ("a\x7fb", "'\\x7f'"),
    ("x" * 252, "longer than 251 bytes"),
    ("a." * 2100, "longer than 4096"),
    (b"\xff\xfe", "not UTF-8"),
    (12, "not a string"),
])
def test_hostile_names_are_rejected_with_a_reason(name, reason):
    with pytest.raises(InvalidMetricName) as error:
        validate_name(name)
    assert reason in str(error.value)
    assert not is_valid_name(name)


def test_name_path_round_trip(tmp_path):
    path = name_to_path(tmp_path, "a.b.c")
    assert path == tmp_path / "a" / "b" / "c.wsp"
    assert path_to_name(tmp_path, path) == "a.b.c"
    assert name_to_path("/d", "solo") == Path("/d/solo.wsp")


@pytest.mark.parametrize("name", ["a", "a.b.c", "servers.web-01.cpu_user", "ünïcode.o k"])
def test_valid_name_to_path_is_name_to_path(tmp_path, name):
    assert valid_name_to_path(str(tmp_path), name) == str(name_to_path(tmp_path, name))


def test_prefix_to_folder(tmp_path):
    assert prefix_to_folder(tmp_path, "a.b") == tmp_path / "a" / "b"
    assert prefix_to_folder(tmp_path, b"a") == tmp_path / "a"
    assert prefix_to_folder(tmp_path, "") == tmp_path
    for hostile in ("/etc", "a..b", "..", b"\xff"):
        with pytest.raises(InvalidMetricName):
            prefix_to_folder(tmp_path, hostile)


@pytest.mark.parametrize("path", ["/elsewhere/a.wsp", "/d/a/b.txt", "/d/../x.wsp"])
def test_path_to_name_refuses_paths_outside(path):
    with pytest.raises(ValueError):
        path_to_name("/d", path)
