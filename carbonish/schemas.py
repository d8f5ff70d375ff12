"""storage-schemas.conf and storage-aggregation.conf: parse once, match by name.

Sections are tried in file order and the first whose `pattern` matches wins, as carbon
does. With no match a metric gets carbon's defaults: one minute for seven days, average,
xFilesFactor 0.5.
"""
import re
from dataclasses import dataclass
from pathlib import Path

from carbonish import whisper
from carbonish.settings import ConfigError, read_ini

DEFAULT_RETENTIONS = ((60, 7 * 24 * 60),)
DEFAULT_X_FILES_FACTOR = 0.5
DEFAULT_AGGREGATION = "average"


@dataclass(frozen=True)
class Schema:
    name: str
    pattern: re.Pattern
    archives: tuple  # ((seconds_per_point, points), ...)


@dataclass(frozen=True)
class Aggregation:
    name: str
    pattern: re.Pattern
    x_files_factor: float
    method: str


@dataclass(frozen=True)
class StorageRules:
    """What a new file for a metric looks like: archives, xFilesFactor, aggregation."""

    schemas: tuple = ()
    aggregations: tuple = ()

    def archives_for(self, name):
        for schema in self.schemas:
            if schema.pattern.search(name):
                return schema.archives
        return DEFAULT_RETENTIONS

    def aggregation_for(self, name):
        """(xFilesFactor, aggregation method) for `name`."""
        for rule in self.aggregations:
            if rule.pattern.search(name):
                return rule.x_files_factor, rule.method
        return DEFAULT_X_FILES_FACTOR, DEFAULT_AGGREGATION


def _sections(text, path):
    """{section: {key_lower: (line, value)}} in file order."""
    sections = {}
    for number, section, key, value in read_ini(text, path):
        sections.setdefault(section, {})[key.lower()] = (number, key, value)
    return sections


def _pattern(path, section, options):
    number, key, value = options.get("pattern", (None, "pattern", None))
    if value is None:
        raise ConfigError(path, None, f"[{section}] pattern", "missing")
    try:
        return re.compile(value)
    except re.error as exc:
        raise ConfigError(path, number, f"[{section}] {key}", f"bad regular expression: {exc}")


def parse_schemas(text, path="storage-schemas.conf"):
    schemas = []
    for section, options in _sections(text, path).items():
        pattern = _pattern(path, section, options)
        number, key, value = options.get("retentions", (None, "retentions", None))
        if value is None:
            raise ConfigError(path, None, f"[{section}] retentions", "missing")
        try:
            archives = tuple(whisper.parseRetentionDef(item.strip())
                             for item in value.split(",") if item.strip())
            whisper.validateArchiveList(list(archives))
        except (ValueError, whisper.WhisperException) as exc:
            raise ConfigError(path, number, f"[{section}] {key}", str(exc)) from None
        schemas.append(Schema(section, pattern, archives))
    return tuple(schemas)


def parse_aggregations(text, path="storage-aggregation.conf"):
    rules = []
    for section, options in _sections(text, path).items():
        pattern = _pattern(path, section, options)
        xff, method = DEFAULT_X_FILES_FACTOR, DEFAULT_AGGREGATION
        if "xfilesfactor" in options:
            number, key, value = options["xfilesfactor"]
            try:
                xff = float(value)
            except ValueError:
                xff = -1.0
            if not 0 <= xff <= 1:
                raise ConfigError(path, number, f"[{section}] {key}",
                                  f"expected a number from 0 to 1, got {value!r}")
        if "aggregationmethod" in options:
            number, key, method = options["aggregationmethod"]
            if method not in whisper.aggregationMethods:
                raise ConfigError(path, number, f"[{section}] {key}",
                                  f"expected one of {', '.join(whisper.aggregationMethods)}, "
                                  f"got {method!r}")
        rules.append(Aggregation(section, pattern, xff, method))
    return tuple(rules)


def _read(path):
    try:
        return path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(path, None, "file", f"cannot read: {exc.strerror}") from None


def load_rules(conf_dir):
    """Read both files from `conf_dir`; a missing file means carbon's defaults."""
    conf_dir = Path(conf_dir)
    schemas_path = conf_dir / "storage-schemas.conf"
    aggregation_path = conf_dir / "storage-aggregation.conf"
    schemas_text = _read(schemas_path)
    aggregation_text = _read(aggregation_path)
    return StorageRules(
        parse_schemas(schemas_text, str(schemas_path)) if schemas_text else (),
        parse_aggregations(aggregation_text, str(aggregation_path)) if aggregation_text else (),
    )
