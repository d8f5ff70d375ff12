import numpy as np
import pytest

from carbonish.ingest import Filters
from tests.helpers import make_ingest


def test_plaintext_reaches_the_cache_with_now_filled_in():
    ingest, clock = make_ingest(now=5000)
    result = ingest.plaintext(b"a.b 1 4000\nc 2\nd 3 -1\n")
    assert (result.accepted, result.rejected) == (3, 0)
    assert ingest.cache.query("a.b") == [(4000, 1.0)]
    assert ingest.cache.query("c") == [(5000, 2.0)]
    assert ingest.cache.query("d") == [(5000, 3.0)]
    assert ingest.counters.get("metricsReceived") == 3


@pytest.mark.parametrize("line, kind", [
    (b"../../etc/passwd 1 4000", "invalidNames"),
    (b"a..b 1 4000", "invalidNames"),
    (b"a nan 4000", "invalidValues"),
    (b"a inf 4000", "invalidValues"),
    (b"a 1 999999999999", "invalidTimestamps"),
    (b"a 1 -5", "invalidTimestamps"),
    (b"a 1 2 3", "invalidLines"),
])
def test_bad_points_are_counted_logged_and_the_rest_kept(line, kind):
    ingest, _ = make_ingest(now=5000)
    result = ingest.plaintext(b"good 1 4000\n" + line + b"\ngood 2 4010\n")
    assert result.accepted == 2 and result.rejected == 1
    assert ingest.counters.get(kind) == 1 and ingest.counters.get("errors") == 1
    assert ingest.cache.query("good") == [(4000, 1.0), (4010, 2.0)]
    assert ingest.log.logger.lines and kind in ingest.log.logger.lines[0]
    assert result.errors


def test_name_control_characters_in_pickle_rows():
    ingest, _ = make_ingest(now=5000)
    result = ingest.points([("a\x00b", (4000, 1)), ("ok", (4000, 1))])
    assert (result.accepted, result.rejected) == (1, 1)


def test_rejections_are_logged_rate_limited():
    ingest, clock = make_ingest(now=5000)
    for _ in range(5):
        ingest.plaintext(b"bad..name 1 4000\n")
    assert len(ingest.log.logger.lines) == 1
    clock.advance(11)
    ingest.plaintext(b"bad..name 1 4000\n")
    assert len(ingest.log.logger.lines) == 2
    assert "4 more since the last report" in ingest.log.logger.lines[1]


def test_whitelist_and_blacklist(tmp_path):
    (tmp_path / "whitelist.conf").write_text("# comment\n^servers\\.\n^apps\\.\n")
    (tmp_path / "blacklist.conf").write_text("\\.secret$\n")
    ingest, _ = make_ingest(now=5000, filters=Filters.load(tmp_path))
    result = ingest.plaintext(b"servers.a 1 4000\nother.b 1 4000\napps.x.secret 1 4000\n")
    assert result.accepted == 1
    assert ingest.counters.get("whitelistRejects") == 1
    assert ingest.counters.get("blacklistMatches") == 1
    assert ingest.cache.query("servers.a") == [(4000, 1.0)]


def test_filters_without_files_allow_everything(tmp_path):
    assert Filters.load(tmp_path).check("anything") is None


def test_known_names_are_not_revalidated_but_new_bad_ones_are():
    ingest, _ = make_ingest(now=5000)
    ingest.plaintext(b"a 1 4000\n")
    result = ingest.plaintext(b"a 2 4010\nb/c 1 4000\n")
    assert (result.accepted, result.rejected) == (1, 1)
    assert isinstance(ingest.cache.query_arrays("a")[0], np.ndarray)
