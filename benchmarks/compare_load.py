"""Import + load, two checkouts of repkpi and DuckDB, interleaved in fresh processes.

Each round runs ``import repkpi; repkpi.load(DATA_DIR)`` with this checkout,
then with ``--before`` (another checkout, e.g. a ``git worktree`` of an older
commit), then DuckDB's typed read of the same CSVs (``sql_reference.connect``),
each in a new process; import time counts, since what one version imports on
``import repkpi`` the other may import on its first load. Interleaving keeps a
busy machine's noise out of the comparison; the minimum and the median of the
rounds are printed. Every load is cold (``REPKPI_CACHE_SIZE=0``: no cache).

    git worktree add /tmp/before <commit>
    python -m benchmarks.compare_load /tmp/big100k --before /tmp/before --rounds 7
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

from benchmarks._measure import COLD, compile_sources

ROOT = Path(__file__).resolve().parent.parent
JOB = ("import sys, time; sys.path.insert(0, {root!r}); t = time.perf_counter(); {job}; "
       "print(time.perf_counter() - t)")


def _seconds(root: Path, job: str) -> float:
    code = JOB.format(root=str(root), job=job)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd="/", env={**os.environ, **COLD})
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    """Run the rounds and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--before", type=Path, required=True, help="the other checkout's folder")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    load = f"import repkpi; repkpi.load({str(args.data_dir)!r})"
    duck = f"from benchmarks import sql_reference; sql_reference.connect({str(args.data_dir)!r})"
    for root in (ROOT, args.before):  # as an installed package is
        compile_sources(root / "repkpi", root / "benchmarks")
    runs: dict[str, list[float]] = {"this checkout": [], str(args.before): [], "DuckDB": []}
    for _ in range(args.rounds):
        runs["this checkout"].append(_seconds(ROOT, load))
        runs[str(args.before)].append(_seconds(args.before, load))
        runs["DuckDB"].append(_seconds(ROOT, duck))
    duck_median = statistics.median(runs["DuckDB"])
    print("| import + load | min (s) | median (s) | median / DuckDB |")
    print("|---|---|---|---|")
    for name, seconds in runs.items():
        median = statistics.median(seconds)
        print(f"| {name} | {min(seconds):.2f} | {median:.2f} | {median / duck_median:.2f}x |")


if __name__ == "__main__":
    main()
