"""Churn risk on Dask: the client's peak memory while :func:`repkpi.forecast.risk` runs.

A cluster as a real one runs (``dask scheduler`` and ``dask worker``
processes, see :mod:`benchmarks.bench_dask_memory`); a fresh client process
loads the folder (``engine="dask"``), then scores the accounts. It reports
the client's peak resident set (``VmHWM``) after the load and after
``risk``, the time of each and what the model fitted.

    python -m benchmarks.make_partitioned /tmp/rmem --parts 4 --accounts 25000
    python -m benchmarks.bench_risk_dask_memory /tmp/rmem --workers 2

``--root`` runs another checkout of repkpi in the client and workers (the
code before a change, for comparison).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.bench_dask_memory import start_cluster, stop_cluster

CHILD = r"""
import json, sys, time
sys.path.insert(0, {root!r})
import repkpi
from repkpi.forecast import risk

def peak():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))

if __name__ == "__main__":
    start = time.perf_counter()
    data = repkpi.load({folder!r}, engine="dask", scheduler={address!r})
    load, loaded = time.perf_counter() - start, peak()
    start = time.perf_counter()
    scores = risk(data)
    print(json.dumps({{"load": load, "client_load": loaded, "risk": time.perf_counter() - start,
                      "client_risk": peak(), "scored": len(scores),
                      "training_rows": scores.attrs["training_rows"],
                      "auc": scores.attrs["backtest"]["auc"]}}))
"""


def main(argv: list[str] | None = None) -> None:
    """Start the cluster, run the client once, print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="4GiB")
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[1]))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "cluster.log"
        address, procs = start_cluster(args.workers, args.memory_limit, args.root, log)
        try:
            script = Path(tmp) / "child.py"
            script.write_text(CHILD.format(root=args.root, folder=str(args.folder),
                                           address=address))
            done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                                  check=False)
        finally:
            stop_cluster(procs)
    if done.returncode != 0:
        sys.exit(done.stderr.strip().splitlines()[-1] if done.stderr else "the client failed")
    found = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"load {found['load']:.1f} s, client peak {found['client_load'] / 2**20:,.0f} MB; "
          f"risk {found['risk']:.1f} s, client peak {found['client_risk'] / 2**20:,.0f} MB; "
          f"{found['scored']:,} scored, {found['training_rows']:,} training rows, "
          f"backtest AUC {found['auc']:.4f}")


if __name__ == "__main__":
    main()
