"""`carbonish cache|web|up|whisper ...`: the one console script."""
import argparse
import os
import signal
import subprocess
import sys
import time

from carbonish.settings import ConfigError, load_settings


def _start_logging(log_dir, program):
    from twisted.logger import globalLogBeginner, textFileLogObserver
    if log_dir:
        os.makedirs(log_dir, exist_ok=True)
        stream = open(os.path.join(log_dir, f"{program}.log"), "a", buffering=1)
    else:
        stream = sys.stdout
    globalLogBeginner.beginLoggingTo([textFileLogObserver(stream)], redirectStandardIO=False)


def _load(path, stderr):
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        print(f"carbonish: {exc}", file=stderr)
        return None
    for warning in settings.warnings:
        print(f"carbonish: warning: {warning}", file=stderr)
    return settings


def _run_service(build, settings, program):
    from twisted.internet import reactor
    from twisted.logger import Logger
    try:
        service = build(settings, reactor)
    except ConfigError as exc:
        print(f"carbonish: {exc}", file=sys.stderr)
        return 2
    _start_logging(settings.cache.LOG_DIR, program)
    failed = []

    def start():
        try:
            service.startService()
        except Exception as exc:  # a port in use, a data dir we cannot make: say it, exit 1
            Logger(namespace="carbonish").critical("cannot start: {error}", error=exc)
            failed.append(exc)
            reactor.stop()

    reactor.callWhenRunning(start)
    reactor.addSystemEventTrigger("before", "shutdown",
                                  lambda: service.stopService() if service.running else None)
    reactor.run()
    return 1 if failed else 0


def cmd_cache(args):
    settings = _load(args.config, sys.stderr)
    if settings is None:
        return 2
    from carbonish.service import build_cache_service
    # The reactor thread releases the GIL on every recv; with the writer thread busy it
    # would wait out the default 5 ms switch interval each time (a convoy): hand the GIL
    # back sooner so a burst of datagrams is read before the kernel's buffer fills.
    sys.setswitchinterval(0.0005)
    return _run_service(build_cache_service, settings, "cache")


def cmd_web(args):
    settings = _load(args.config, sys.stderr)
    if settings is None:
        return 2
    from webapp.server import build_service
    return _run_service(lambda s, reactor: build_service(s, reactor), settings, "web")


def cmd_up(args):
    """Both programs as child processes; Ctrl-C or SIGTERM stops both, each cleanly."""
    settings = _load(args.config, sys.stderr)
    if settings is None:
        return 2
    _print_welcome(settings)
    base = [sys.executable, "-m", "carbonish.cli"]
    config = ["--config", args.config] if args.config else []
    children = [subprocess.Popen(base + ["cache"] + config),
                subprocess.Popen(base + ["web"] + config)]
    stopping = []

    def stop(signum, frame):
        stopping.append(signum)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while not stopping and all(child.poll() is None for child in children):
        time.sleep(0.2)
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    codes = [child.wait() for child in children]
    return 0 if stopping and all(code == 0 for code in codes) else max(1, *codes)


def _print_welcome(settings):
    cache, web = settings.cache, settings.web
    print(f"""carbonish: data in {cache.LOCAL_DATA_DIR}
  send plaintext:  echo "test.metric 42 $(date +%s)" | nc -q0 {cache.LINE_RECEIVER_INTERFACE} {cache.LINE_RECEIVER_PORT}
  send pickle:     {cache.PICKLE_RECEIVER_INTERFACE}:{cache.PICKLE_RECEIVER_PORT}
  look:            http://{web.INTERFACE}:{web.PORT}/render?target=test.metric&from=-10min&format=json
  stop:            Ctrl-C (the cache is written to disk first)""", flush=True)


def build_parser():
    parser = argparse.ArgumentParser(prog="carbonish", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func, text in (("cache", cmd_cache, "the ingest daemon"),
                             ("web", cmd_web, "the web app"),
                             ("up", cmd_up, "the daemon and the web app together")):
        command = sub.add_parser(name, help=text)
        command.add_argument("--config", help="carbon.conf (default: built-in defaults)")
        command.set_defaults(func=func)
    # listed for --help; main() hands `carbonish whisper ...` to whisper_cli before parsing
    sub.add_parser("whisper", help="whisper-*.py tools: create, info, fetch, dump, update, "
                                   "resize, set-aggregation, set-xff, merge, fill, diff")
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["whisper"]:  # its own flags, --help included, belong to whisper_cli
        from carbonish import whisper_cli
        return whisper_cli.main(argv[1:])
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
