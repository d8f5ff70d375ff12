import math

import pytest

from carbonish.settings import ConfigError, load_settings, parse_settings


def test_defaults_bind_loopback_and_use_graphite_ports():
    settings = parse_settings("", base_dir="/srv")
    cache = settings.cache
    assert cache.LINE_RECEIVER_INTERFACE == "127.0.0.1"
    assert (cache.LINE_RECEIVER_PORT, cache.PICKLE_RECEIVER_PORT, cache.CACHE_QUERY_PORT) == (2003, 2004, 7002)
    assert settings.statsd.UDP_PORT == 8125 and settings.http.PORT == 2006 and settings.web.PORT == 8080
    assert str(cache.LOCAL_DATA_DIR) == "/srv/storage/whisper"
    assert cache.MAX_CACHE_SIZE == math.inf
    assert cache.CACHE_SIZE_LOW_WATERMARK == math.inf


def test_graphite_carbon_conf_parses_with_types_and_relative_paths(tmp_path):
    conf = tmp_path / "carbon.conf"
    conf.write_text("""
# comment
[cache]
STORAGE_DIR = data
MAX_CACHE_SIZE = 1000
MAX_UPDATES_PER_SECOND = inf
ENABLE_UDP_LISTENER = True
LINE_RECEIVER_PORT = 0
CACHE_WRITE_STRATEGY = max
USER = carbon
ENABLE_AMQP = False

[relay]
LINE_RECEIVER_PORT = 2013

[statsd]
PERCENT_THRESHOLD = 90, 99
HISTOGRAM = [{"metric": "foo", "bins": [10, "inf"]}]

[web]
CARBONLINK_HOSTS = 127.0.0.1:7002:a, 10.0.0.2:7102
CLUSTER_SERVERS = a.example:8080,b.example:80
""")
    settings = load_settings(conf)
    assert settings.cache.LOCAL_DATA_DIR == tmp_path / "data" / "whisper"
    assert settings.cache.MAX_CACHE_SIZE == 1000.0
    assert settings.cache.CACHE_SIZE_LOW_WATERMARK == 950.0
    assert settings.cache.ENABLE_UDP_LISTENER is True
    assert settings.cache.LINE_RECEIVER_PORT == 0
    assert settings.cache.CACHE_WRITE_STRATEGY == "max"
    assert settings.statsd.PERCENT_THRESHOLD == (90.0, 99.0)
    assert settings.statsd.HISTOGRAM == [{"metric": "foo", "bins": [10, "inf"]}]
    assert settings.web.CARBONLINK_HOSTS == (("127.0.0.1", 7002, "a"), ("10.0.0.2", 7102, None))
    assert settings.web.CLUSTER_SERVERS == ("a.example:8080", "b.example:80")
    assert settings.warnings == ()


def test_unknown_key_warns_with_line():
    settings = parse_settings("[cache]\n\nMAX_CACHE_SIZ = 5\n", "c.conf")
    assert settings.warnings == ("c.conf:3: unknown key [cache] MAX_CACHE_SIZ, ignored",)


@pytest.mark.parametrize("text, where", [
    ("[cache]\nLINE_RECEIVER_PORT = 70000\n", "c.conf:2: [cache] LINE_RECEIVER_PORT"),
    ("[cache]\nENABLE_UDP_LISTENER = maybe\n", "c.conf:2: [cache] ENABLE_UDP_LISTENER"),
    ("[cache]\nMAX_CACHE_SIZE = -1\n", "c.conf:2: [cache] MAX_CACHE_SIZE"),
    ("[cache]\n\nCACHE_WRITE_STRATEGY = random\n", "c.conf:3: [cache] CACHE_WRITE_STRATEGY"),
    ("[statsd]\nHISTOGRAM = [oops\n", "c.conf:2: [statsd] HISTOGRAM"),
    ("[web]\nCARBONLINK_HOSTS = nohost\n", "c.conf:2: [web] CARBONLINK_HOSTS"),
    ("[web]\nCLUSTER_SERVERS = a b\n", "c.conf:2: [web] CLUSTER_SERVERS"),
    ("[cache\n", "c.conf:1"),
    ("[cache]\njust words\n", "c.conf:2"),
    ("KEY = 1\n", "c.conf:1"),
])
def test_invalid_values_name_file_line_and_key(text, where):
    with pytest.raises(ConfigError) as error:
        parse_settings(text, "c.conf")
    assert str(error.value).startswith(where)


def test_settings_are_immutable_and_replace_makes_a_copy():
    settings = parse_settings("")
    with pytest.raises(AttributeError):
        settings.cache.LINE_RECEIVER_PORT = 1
    changed = settings.replace("cache", LINE_RECEIVER_PORT=0)
    assert changed.cache.LINE_RECEIVER_PORT == 0 and settings.cache.LINE_RECEIVER_PORT == 2003
    with pytest.raises(KeyError):
        settings.replace("cache", NOPE=1)
    with pytest.raises(AttributeError):
        settings.cache.NOPE
    with pytest.raises(AttributeError):
        settings.nosection


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "nope.conf")
    assert load_settings(None).cache.LINE_RECEIVER_PORT == 2003
