"""`make bench`: run every bench/bench_*.py in turn; each prints its own table and
writes its figures to bench/results/<name>.md, which RESULTS.md summarises."""
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv):
    only = set(argv)
    failed = []
    for script in sorted(HERE.glob("bench_*.py")):
        name = script.stem[len("bench_"):]
        if only and name not in only:
            continue
        print(f"\n=== {script.name}", flush=True)
        if subprocess.run([sys.executable, str(script)], cwd=HERE.parent).returncode:
            failed.append(script.name)
    if failed:
        print("failed: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
