"""Metric names: the one validation rule and the one name <-> file path mapping.

A name is dot-separated nodes; `a.b.c` lives in `DATA_DIR/a/b/c.wsp`. A node may not be
empty and may not hold `/`, NUL or another control character, so no name can reach a
file outside the data directory.
"""
import os
import re
from pathlib import Path

SUFFIX = ".wsp"
MAX_NAME_LENGTH = 4096
MAX_NODE_LENGTH = 255 - len(SUFFIX)  # a node is a file or folder name

_NODE = r"[^\x00-\x1f\x7f/.]+"
_VALID = re.compile(rf"{_NODE}(?:\.{_NODE})*")
_BAD_CHAR = re.compile(r"[\x00-\x1f\x7f/]")


class InvalidMetricName(ValueError):
    """A metric name that cannot be stored; the message says which rule it breaks."""

    def __init__(self, name, reason):
        super().__init__(f"invalid metric name {name!r}: {reason}")
        self.name = name
        self.reason = reason


def validate_name(name):
    """Return `name` as str if it is a valid metric name, else raise InvalidMetricName."""
    if isinstance(name, bytes):
        try:
            name = name.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidMetricName(name, "not UTF-8") from None
    if not isinstance(name, str):
        raise InvalidMetricName(name, f"not a string but {type(name).__name__}")
    if _VALID.fullmatch(name) and len(name) <= MAX_NAME_LENGTH:
        if all(len(node.encode()) <= MAX_NODE_LENGTH for node in name.split(".")):
            return name
    raise InvalidMetricName(name, _reason(name))


def _reason(name):
    if not name:
        return "empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"longer than {MAX_NAME_LENGTH} characters"
    bad = _BAD_CHAR.search(name)
    if bad:
        return f"contains {bad.group()!r}"
    if any(not node for node in name.split(".")):
        return "empty node (leading, trailing or doubled dot)"
    return f"a node is longer than {MAX_NODE_LENGTH} bytes"


def is_valid_name(name):
    try:
        validate_name(name)
    except InvalidMetricName:
        return False
    return True


def name_to_path(data_dir, name):
    """`a.b.c` -> DATA_DIR/a/b/c.wsp (validates the name)."""
    nodes = validate_name(name).split(".")
    return Path(data_dir, *nodes[:-1], nodes[-1] + SUFFIX)


def prefix_to_folder(data_dir, prefix):
    """`a.b` -> DATA_DIR/a/b, the folder holding the children of a name prefix ("" ->
    DATA_DIR); validates the prefix as a name."""
    if not prefix:
        return Path(data_dir)
    return Path(data_dir, *validate_name(prefix).split("."))


def valid_name_to_path(data_dir, name):
    """name_to_path's path, as str, for a name that already passed validate_name (the
    writer's names all did, at ingest): a join, without checking the name again."""
    return os.path.join(data_dir, name.replace(".", os.sep) + SUFFIX)


def path_to_name(data_dir, path):
    """DATA_DIR/a/b/c.wsp -> `a.b.c`; ValueError for a path outside DATA_DIR or not .wsp."""
    relative = os.path.relpath(os.fspath(path), os.fspath(data_dir))
    if relative.startswith(os.pardir) or os.path.isabs(relative) or not relative.endswith(SUFFIX):
        raise ValueError(f"{path} is not a {SUFFIX} file under {data_dir}")
    return relative[:-len(SUFFIX)].replace(os.sep, ".")
