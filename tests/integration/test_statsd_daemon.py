"""statsd packets over real UDP into the real daemon, flushed into real files."""
import socket
import time

import whisper

from tests.integration.daemons import write_config


def last_value(path):
    # statsd stamps a flush with Math.round(now): up to half a second ahead of the clock
    now = time.time()
    (first, _, step), values = whisper.fetch(str(path), now - 600, now + 60, now=now + 60)
    known = [v for v in values if v is not None]
    return known[-1] if known else None


def test_statsd_counters_timers_gauges_sets_reach_the_files(tmp_path, start):
    config = write_config(tmp_path, statsd_extra="ENABLE = True\nFLUSH_INTERVAL = 1\nTCP_PORT = 0",
                          schemas="[all]\npattern = .*\nretentions = 1s:1h\n")
    daemon = start("cache", config)
    port = daemon.port("statsd/udp")
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    packets = [b"app.hits:1|c\napp.hits:2|c|@0.5", b"app.latency:10|ms:30|ms",
               b"app.temp:20|g\napp.temp:+5|g", b"app.users:alice|s\napp.users:bob|s\napp.users:alice|s",
               b"broken line\napp.hits:1|c"]
    for packet in packets:
        sender.sendto(packet, ("127.0.0.1", port))
    sender.close()
    time.sleep(0.5)  # UDP has no ack: let the datagrams land before SIGTERM flushes
    assert daemon.stop() == 0
    whisper_dir = tmp_path / "storage" / "whisper" / "stats"
    assert last_value(whisper_dir / "counters/app/hits/count.wsp") == 6.0   # 1 + 2/0.5 + 1
    assert last_value(whisper_dir / "timers/app/latency/upper.wsp") == 30.0
    assert last_value(whisper_dir / "timers/app/latency/mean.wsp") == 20.0
    assert last_value(whisper_dir / "gauges/app/temp.wsp") == 25.0
    assert last_value(whisper_dir / "sets/app/users/count.wsp") == 2.0
    assert last_value(whisper_dir / "counters/statsd/bad_lines_seen/count.wsp") >= 1.0
