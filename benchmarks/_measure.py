"""Run one job in a fresh Python process and report its wall time and peak memory.

A fresh process per job keeps the peak resident set size (``VmHWM`` of
``/proc/self/status``, Linux) of one job from hiding another's, and repeats
give the best of N wall times.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

CHILD = r"""
import json, sys, time
sys.path.insert(0, {root!r})
setup = {setup!r}
job = {job!r}
scope = {{}}
exec(setup, scope)
start = time.perf_counter()
exec(job, scope)
seconds = time.perf_counter() - start
# VmHWM: this process's peak resident set (ru_maxrss would keep the parent's from before exec)
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
print(json.dumps({{"seconds": seconds, "peak_bytes": peak}}))
"""


COLD = {"REPKPI_CACHE_SIZE": "0"}
"""The environment of a measured process: loads without the cache (a size of 0 turns it off)."""


def measure(setup: str, job: str, *, repeat: int = 3) -> dict[str, float]:
    """Best wall time and largest peak memory of ``job`` (after ``setup``) over ``repeat`` runs.

    Each run loads cold (:data:`COLD`): what a load costs when nothing is cached.
    """
    root = str(Path(__file__).resolve().parent.parent)
    runs = []
    for _ in range(repeat):
        code = CHILD.format(root=root, setup=setup, job=job)
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=False, env={**os.environ, **COLD})
        if done.returncode != 0:
            raise RuntimeError(done.stderr)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {"seconds": min(r["seconds"] for r in runs),
            "peak_bytes": max(r["peak_bytes"] for r in runs)}


def compile_sources(*roots: Path) -> None:
    """Byte-compile the Python files under each root once, as pip does when it installs a package.

    Python reads a module's compiled bytecode when it finds it; with
    ``PYTHONDONTWRITEBYTECODE`` set (as in some shells and CI images) it
    never writes it, and a checkout then compiles every module of repkpi
    (and of the DuckDB reference) again in each fresh process: 0.2-0.4 s
    that an installed repkpi never pays.
    """
    for root in roots:
        compileall.compile_dir(root, quiet=1)


def data_folder(description: str) -> tuple[Path, int]:
    """Parse the benchmark's arguments; return the data folder and ``--repeat``.

    Without a DATA_DIR argument, ``--accounts`` accounts are generated into a
    temporary folder.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("data_dir", nargs="?", type=Path)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--first-of-month", type=float, default=0.4,
                        help="share of generated accounts won, churned and renewed on the 1st")
    args = parser.parse_args()
    folder = args.data_dir
    if folder is None:
        from repkpi.datasets.generator import write_sample

        folder = Path(tempfile.mkdtemp()) / f"sample-{args.accounts}"
        write_sample(folder, accounts=args.accounts, seed=1, first_of_month=args.first_of_month)
    return folder, args.repeat


def folder_bytes(folder: Path, suffix: str = ".csv") -> int:
    """Total size of the files with ``suffix`` in ``folder``."""
    return sum(p.stat().st_size for p in folder.iterdir() if p.suffix == suffix)


def best(job: Callable[[], object], repeat: int) -> float:
    """Best wall time of ``job()`` over ``repeat`` runs in this process."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        job()
        times.append(time.perf_counter() - start)
    return min(times)
