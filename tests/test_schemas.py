import pytest

from carbonish.schemas import load_rules, parse_aggregations, parse_schemas
from carbonish.settings import ConfigError


def test_first_match_wins_both_retention_forms_and_defaults(tmp_path):
    (tmp_path / "storage-schemas.conf").write_text("""
[carbon]
pattern = ^carbon\\.
retentions = 60:90d

[short]
pattern = ^short\\.
retentions = 10s:6h,1min:6d, 10min:1800d

[points]
pattern = ^pts\\.
retentions = 60:1440
""")
    (tmp_path / "storage-aggregation.conf").write_text("""
[min]
pattern = \\.min$
xFilesFactor = 0.1
aggregationMethod = min
""")
    rules = load_rules(tmp_path)
    assert rules.archives_for("carbon.agents.x") == ((60, 129600),)
    assert rules.archives_for("short.a") == ((10, 2160), (60, 8640), (600, 259200))
    assert rules.archives_for("pts.a") == ((60, 1440),)
    assert rules.archives_for("other") == ((60, 10080),)
    assert rules.aggregation_for("a.min") == (0.1, "min")
    assert rules.aggregation_for("a.max") == (0.5, "average")


def test_missing_files_mean_defaults(tmp_path):
    rules = load_rules(tmp_path)
    assert rules.archives_for("x") == ((60, 10080),)
    assert rules.aggregation_for("x") == (0.5, "average")


@pytest.mark.parametrize("text, where", [
    ("[a]\npattern = (\nretentions = 60:10\n", "x.conf:2: [a] pattern"),
    ("[a]\nretentions = 60:10\n", "[a] pattern: missing"),
    ("[a]\npattern = .*\n", "[a] retentions: missing"),
    ("[a]\npattern = .*\nretentions = 60:bogus\n", "x.conf:3: [a] retentions"),
    ("[a]\npattern = .*\nretentions = 60:10,7:100\n", "x.conf:3: [a] retentions"),
])
def test_bad_schemas_name_file_section_and_key(text, where):
    with pytest.raises(ConfigError) as error:
        parse_schemas(text, "x.conf")
    assert where in str(error.value)


@pytest.mark.parametrize("text, where", [
    ("[a]\npattern = .*\nxFilesFactor = 2\n", "x.conf:3: [a] xFilesFactor"),
    ("[a]\npattern = .*\nxFilesFactor = half\n", "x.conf:3: [a] xFilesFactor"),
    ("[a]\npattern = .*\naggregationMethod = median\n", "x.conf:3: [a] aggregationMethod"),
])
def test_bad_aggregations(text, where):
    with pytest.raises(ConfigError) as error:
        parse_aggregations(text, "x.conf")
    assert where in str(error.value)


def test_unreadable_file_is_a_config_error(tmp_path):
    (tmp_path / "storage-schemas.conf").mkdir()
    with pytest.raises(ConfigError, match="cannot read"):
        load_rules(tmp_path)
