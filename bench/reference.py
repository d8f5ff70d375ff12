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
