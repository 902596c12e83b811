"""Run every ``benchmarks/bench_*.py`` script in turn and collect what they print.

Each script generates its own data, times annowidgets beside its peers in the same run and
prints a table; ``--quick`` asks them for smaller sizes (CI smoke), ``-k NAME`` picks scripts.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("-k", default="", help="only scripts whose name contains this")
    p.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    args, rest = p.parse_known_args()
    scripts = sorted(s for s in HERE.glob("bench_*.py") if args.k in s.stem)
    failed = 0
    for script in scripts:
        print(f"\n=== {script.stem} ===", flush=True)
        t0 = time.perf_counter()
        cmd = [sys.executable, str(script), *(["--quick"] if args.quick else []), *rest]
        rc = subprocess.call(cmd, cwd=HERE.parent)
        print(f"--- {script.stem}: exit {rc}, {time.perf_counter() - t0:.1f}s", flush=True)
        failed += rc != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
