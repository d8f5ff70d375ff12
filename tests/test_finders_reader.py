"""carbonish.whisper.BatchReader: the batch read path answers exactly as whisper's fetch
(the real whisper package as oracle) and hands anything unusual to carbonish.whisper."""
import math
import os
import struct

import numpy as np
import pytest
import whisper
from hypothesis import given, settings as hsettings, strategies as st

from carbonish.whisper import UNUSUAL as _SLOW, BatchReader
from webapp.finders import LocalFinder

NOW = 1_700_000_000


def make(path, retention, points=(), now=NOW):
    whisper.create(str(path), list(retention))
    if points:
        whisper.update_many(str(path), list(points), now=now)
    return str(path)


def as_oracle(answer):
    """A reader answer in whisper.fetch's shape (None for NaN)."""
    if answer is None:
        return None
    time_info, values = answer
    return time_info, [None if math.isnan(v) else v for v in values]


RETENTIONS = [((10, 360),), ((10, 60), (60, 30)), ((1, 100), (10, 60), (60, 50)),
              ((5, 7),), ((1, 10), (2, 10), (4, 10), (8, 10))]


@hsettings(max_examples=60, deadline=None)
@given(which=st.integers(0, len(RETENTIONS) - 1),
       offsets=st.lists(st.integers(0, 3000), max_size=40),
       now_shift=st.integers(-3000, 3000), start_back=st.integers(-100, 3200),
       length=st.integers(0, 3300))
def test_reader_matches_whisper_oracle(tmp_path_factory, which, offsets, now_shift,
                                       start_back, length):
    path = tmp_path_factory.mktemp("r") / "m.wsp"
    points = [(NOW - back, float(back) / 7) for back in offsets]
    make(path, RETENTIONS[which], points)
    now = NOW + now_shift
    start = now - start_back
    end = start + length
    answer = BatchReader().read(str(path), start, end, now)
    assert answer is not _SLOW
    assert as_oracle(answer) == whisper.fetch(str(path), start, end, now=now)


def test_never_written_archive_is_all_nan(tmp_path):
    path = make(tmp_path / "empty.wsp", [(10, 360)])
    (time_info, values) = BatchReader().read(path, NOW - 600, NOW, NOW)
    assert time_info == whisper.fetch(path, NOW - 600, NOW, now=NOW)[0]
    assert len(values) == 60 and np.isnan(values).all()


def test_outside_retention_is_none(tmp_path):
    path = make(tmp_path / "a.wsp", [(10, 360)], [(NOW - 10, 1.0)])
    reader = BatchReader()
    assert reader.read(path, NOW + 10, NOW + 20, NOW) is None
    assert reader.read(path, NOW - 10_000, NOW - 5_000, NOW) is None


@pytest.mark.parametrize("start, end, now", [(NOW, NOW - 10, NOW), (NOW - 60, NOW, None)])
def test_reversed_range_or_no_now_is_left_to_whisper(tmp_path, start, end, now):
    path = make(tmp_path / "a.wsp", [(10, 360)], [(NOW - 10, 1.0)])
    assert BatchReader().read(path, start, end, now) is _SLOW


def test_five_archives_are_left_to_whisper(tmp_path):
    path = make(tmp_path / "a.wsp", [(1, 10), (2, 10), (4, 10), (8, 10), (16, 10)])
    assert BatchReader().read(path, NOW - 60, NOW, NOW) is _SLOW


def _patch(path, offset, fmt, *values):
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(struct.pack(fmt, *values))


@pytest.mark.parametrize("damage", [
    lambda p: _patch(p, 0, "!L", 99),                        # unknown aggregation type
    lambda p: _patch(p, 8, "!f", 2.0),                       # xFilesFactor above 1
    lambda p: _patch(p, 12, "!L", 0),                        # no archives
    lambda p: _patch(p, 16 + 4, "!L", 0),                    # archive step 0
    lambda p: _patch(p, 16, "!L", 4),                        # offset inside the header
    lambda p: os.truncate(p, 28 + 100 * 12),                 # points past the end
    lambda p: os.truncate(p, 10),                            # not even a header
])
def test_damaged_files_are_left_to_whisper(tmp_path, damage):
    path = make(tmp_path / "a.wsp", [(10, 360)], [(NOW - 10, 1.0)])
    intact = make(tmp_path / "b.wsp", [(10, 360)], [(NOW - 10, 1.0)])
    damage(path)
    assert BatchReader().read(path, NOW - 60, NOW, NOW) is _SLOW
    reader = BatchReader(reads=3)  # after an intact file of the same header and size
    assert reader.read(intact, NOW - 60, NOW, NOW) is not _SLOW
    assert reader.read(path, NOW - 60, NOW, NOW) is _SLOW
    assert reader.read(intact, NOW - 60, NOW, NOW) is not _SLOW


def test_one_reader_over_files_of_every_layout_in_turn(tmp_path):
    paths = [make(tmp_path / f"{i}.wsp", retention, [(NOW - 5 * k, float(k)) for k in range(40)])
             for i, retention in enumerate(RETENTIONS + RETENTIONS[::-1])]
    reader = BatchReader(reads=2 * len(paths))
    for path in paths + paths[::-1]:
        answer = reader.read(path, NOW - 300, NOW, NOW)
        assert as_oracle(answer) == whisper.fetch(path, NOW - 300, NOW, now=NOW)


def test_short_read_is_left_to_whisper(tmp_path, monkeypatch):
    path = make(tmp_path / "a.wsp", [(10, 360)], [(NOW - 10, 1.0)])
    monkeypatch.setattr(os, "preadv", lambda fd, buffers, offset: 0)
    assert BatchReader().read(path, NOW - 60, NOW, NOW) is _SLOW


def test_wrapped_second_part_short_read_is_left_to_whisper(tmp_path, monkeypatch):
    path = make(tmp_path / "a.wsp", [(10, 6)], [(NOW - 10 * i, float(i)) for i in range(6)])
    real = os.preadv
    calls = []

    def second_short(fd, buffers, offset):
        calls.append(offset)
        return real(fd, buffers, offset) if len(calls) == 1 else 0
    monkeypatch.setattr(os, "preadv", second_short)
    assert BatchReader().read(path, NOW - 30, NOW + 30, NOW + 30) is _SLOW
    assert len(calls) == 2  # the window wraps the ring: two reads


def test_rows_share_a_matrix_per_length_and_others_get_arrays(tmp_path):
    paths = [make(tmp_path / f"m{i}.wsp", [(10, 360)], [(NOW - 10, float(i))])
             for i in range(3)]
    reader = BatchReader(reads=8)
    rows = [reader.read(p, NOW - 600, NOW, NOW)[1] for p in paths]
    assert all(r.base is rows[0].base for r in rows)
    assert [r[-2] for r in rows] == [0.0, 1.0, 2.0]  # NOW - 10, before NOW's slot
    for length in (100, 200, 300):  # more distinct lengths than MAX_MATRICES
        reader.read(paths[0], NOW - 10 * length, NOW, NOW)
    assert len(reader.matrices) == BatchReader.MAX_MATRICES
    (_, values) = reader.read(paths[0], NOW - 10 * 50, NOW, NOW)
    assert values.base is None and len(values) == 50


def test_full_matrix_starts_another(tmp_path):
    path = make(tmp_path / "a.wsp", [(10, 360)], [(NOW - 10, 5.0)])
    reader = BatchReader(reads=1)
    first = reader.read(path, NOW - 600, NOW, NOW)[1]
    second = reader.read(path, NOW - 600, NOW, NOW)[1]
    assert first.base is not second.base
    assert first[-2] == second[-2] == 5.0


def test_finder_uses_reader_and_falls_back_with_the_same_answers(tmp_path):
    os.makedirs(tmp_path / "s")
    good = make(tmp_path / "s" / "good.wsp", [(10, 360)], [(NOW - 20, 2.0)])
    many = make(tmp_path / "s" / "many.wsp", [(1, 10), (2, 10), (4, 10), (8, 10), (16, 10)],
                [(NOW - 4, 3.0)])
    results = LocalFinder(tmp_path).fetch(["s.*"], NOW - 60, NOW, NOW)
    assert [r.name for r in results] == ["s.good", "s.many"]
    for result, path in zip(results, (good, many)):
        expected = whisper.fetch(path, NOW - 60, NOW, now=NOW)
        assert ((result.start, result.end, result.step),
                [None if math.isnan(v) else v for v in result.values]) == expected


def test_finder_with_locks_does_not_use_reader(tmp_path):
    assert LocalFinder(tmp_path, lock_reads=True)._reader(3) is None
    assert isinstance(LocalFinder(tmp_path)._reader(3), BatchReader)


@hsettings(max_examples=40, deadline=None)
@given(files=st.lists(st.tuples(st.integers(0, len(RETENTIONS) - 1),
                                st.lists(st.integers(0, 3000), max_size=12)),
                      min_size=1, max_size=8),
       copies=st.integers(1, 20), start_back=st.integers(-100, 3200),
       length=st.integers(0, 3300))
def test_read_all_is_read_of_each(tmp_path_factory, files, copies, start_back, length):
    """read_all answers as read of each file does (and so as whisper), whatever mix of
    layouts and windows, over more files than one block holds."""
    folder = tmp_path_factory.mktemp("all")
    paths = []
    for i, (which, offsets) in enumerate(files * copies):
        paths.append(make(folder / f"{i}.wsp", RETENTIONS[which],
                          [(NOW - back, float(back) / 7) for back in offsets]))
    start = NOW - start_back
    answers = BatchReader(len(paths)).read_all(paths, start, start + length, NOW)
    for path, answer in zip(paths, answers):
        assert answer is not _SLOW
        assert as_oracle(answer) == whisper.fetch(path, start, start + length, now=NOW)


def test_read_all_answers_what_it_cannot_read_in_place(tmp_path, monkeypatch):
    good = make(tmp_path / "good.wsp", [(10, 360)], [(NOW - 20, 2.0)])
    five = make(tmp_path / "five.wsp", [(1, 10), (2, 10), (4, 10), (8, 10), (16, 10)])
    empty = make(tmp_path / "empty.wsp", [(10, 360)])
    missing = str(tmp_path / "missing.wsp")
    folder = str(tmp_path)  # a folder: open works, reading it fails
    reader = BatchReader(6)
    answers = reader.read_all([good, five, missing, empty, folder, good], NOW - 60, NOW, NOW)
    assert as_oracle(answers[0]) == as_oracle(answers[5]) == whisper.fetch(good, NOW - 60, NOW,
                                                                           now=NOW)
    assert answers[1] is _SLOW
    assert isinstance(answers[2], FileNotFoundError) and isinstance(answers[4], OSError)
    assert np.isnan(answers[3][1]).all()
    assert BatchReader().read_all([good], NOW, NOW - 60, NOW) == [_SLOW]
    monkeypatch.setattr(os, "preadv", lambda fd, buffers, offset: 0)  # the file shrank
    assert BatchReader(4).read_all([good] * 4, NOW - 60, NOW, NOW) == [_SLOW] * 4
    assert BatchReader(1).read_all([good], NOW - 60, NOW, NOW) == [_SLOW]
    assert isinstance(BatchReader(1).read_all([missing], NOW - 60, NOW, NOW)[0], OSError)


def test_read_all_over_blocks_and_matrices(tmp_path):
    """More files of one window than a block holds are decoded a block at a time, into
    the matrix for their length; past MAX_MATRICES lengths rows get arrays of their own."""
    paths = [make(tmp_path / f"m{i}.wsp", [(10, 360)], [(NOW - 10, float(i))])
             for i in range(130)]
    reader = BatchReader(len(paths))
    answers = reader.read_all(paths, NOW - 600, NOW, NOW)
    assert [values[-2] for _, values in answers] == [float(i) for i in range(130)]
    assert all(values.base is answers[0][1].base for _, values in answers)
    for length in (100, 200, 300):
        reader.read(paths[0], NOW - 10 * length, NOW, NOW)
    answers = reader.read_all(paths[:4], NOW - 10 * 50, NOW, NOW)
    assert [values[-2] for _, values in answers] == [0.0, 1.0, 2.0, 3.0]
    assert 50 not in reader.matrices and len(reader.matrices) == BatchReader.MAX_MATRICES


def test_finder_skips_a_leaf_it_cannot_read(tmp_path):
    os.makedirs(tmp_path / "s" / "odd.wsp")  # named like a series, but a folder
    make(tmp_path / "s" / "good.wsp", [(10, 360)], [(NOW - 20, 2.0)])
    results = LocalFinder(tmp_path).fetch(["s.*"], NOW - 60, NOW, NOW)
    assert [r.name for r in results] == ["s.good"]
