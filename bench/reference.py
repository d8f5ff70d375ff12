"""Graphite's own tools in throwaway venvs under bench/.ref/, for side-by-side runs.

Each venv is made once and reused; `make bench` on a fresh machine builds them.
See ../shared/REFERENCE-TOOLS.md for the versions and pitfalls.
"""
import os
import subprocess
import sys
import venv
from pathlib import Path

REF_DIR = Path(__file__).resolve().parent / ".ref"

WHISPER = ("whisper", ["whisper==1.1.10"])
CARBON = ("carbon", ["carbon==1.1.10", "whisper==1.1.10", "Twisted", "psutil"])
GRAPHITE_WEB = ("graphite-web", [
    "graphite-web==1.1.10", "whisper==1.1.10", "Django<3.1", "gunicorn",
    "cairocffi", "pytz", "six", "scandir", "urllib3",
])


GRAPHITE_SETTINGS = '''
SECRET_KEY = "bench"
TIME_ZONE = "UTC"
CARBONLINK_HOSTS = []
STORAGE_DIR = {storage!r}
LOG_DIR = {log!r}
WHISPER_DIR = {whisper!r}
STANDARD_DIRS = [{whisper!r}]
CACHES = {{"default": {{"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}}}
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3",
                          "NAME": {db!r}}}}}
'''


def graphite_web_env(tmp, base=None):
    """Write graphite-web's settings for a side-by-side run under `tmp` (storage in
    tmp/storage, whisper files in tmp/storage/whisper, no carbonlink, a dummy cache so
    every request is computed, UTC) and return the environment that selects them
    (`base`, default os.environ, plus graphite's variables)."""
    storage = Path(tmp) / "storage"
    log = storage / "log" / "webapp"
    log.mkdir(parents=True, exist_ok=True)
    settings_dir = Path(tmp) / "settings"
    settings_dir.mkdir(exist_ok=True)
    (settings_dir / "bench_graphite_settings.py").write_text(GRAPHITE_SETTINGS.format(
        storage=str(storage), log=str(log), whisper=str(storage / "whisper"),
        db=str(storage / "graphite.db")))
    return dict(os.environ if base is None else base, PYTHONPATH=str(settings_dir),
                GRAPHITE_SETTINGS_MODULE="bench_graphite_settings",
                DJANGO_SETTINGS_MODULE="graphite.settings", GRAPHITE_NO_PREFIX="True")


def ensure_venv(spec):
    """Return the python executable of the venv for `spec`, building it if needed."""
    name, requirements = spec
    root = REF_DIR / name
    python = root / "bin" / "python"
    stamp = root / ".installed"
    wanted = "\n".join(requirements)
    if stamp.exists() and stamp.read_text() == wanted:
        return python
    print(f"[reference] installing {name} into {root} ...", file=sys.stderr, flush=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(root)
    env = dict(os.environ, GRAPHITE_NO_PREFIX="True")
    subprocess.run([str(python), "-m", "pip", "install", "-q", *requirements],
                   check=True, env=env)
    stamp.write_text(wanted)
    return python


def bin_path(spec, script):
    """Path of a console script installed in the venv for `spec`."""
    ensure_venv(spec)
    return REF_DIR / spec[0] / "bin" / script
