"""Dask benchmark: the pandas engine against Dask LocalClusters, on growing partitioned data.

For each size (the first N parts of a folder made by ``make_partitioned``),
every configuration runs in a fresh process and does the same job: load and
validate, then compute every KPI quarterly, ungrouped and by region. It
reports the time of each step and the peak memory: of the process for the
pandas engine; of each worker and of the client process for Dask.

    python -m benchmarks.make_partitioned /tmp/dask-big --parts 20
    python -m benchmarks.bench_dask /tmp/dask-big --sizes 5 10 20 --workers 1 2 \
        --memory-limit 6GiB

The pandas engine reads one file per table: ``make_partitioned`` writes
those folders next to the parts (``--single N``); this script writes any
that are missing. The results of both engines are compared (1e-9 relative).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks._measure import COLD
from benchmarks.make_partitioned import subset, write_single

CHILD = r"""
import json, sys, time
sys.path.insert(0, {root!r})
import pandas as pd
import repkpi

def peak():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))

def job(data, load_seconds, out):
    times = {{"load": load_seconds}}
    start = time.perf_counter()
    ungrouped = repkpi.compute(data, freq="Q")
    times["compute"] = time.perf_counter() - start
    start = time.perf_counter()
    by_region = repkpi.compute(data, freq="Q", by="region")
    times["compute_region"] = time.perf_counter() - start
    pd.concat([ungrouped, by_region]).to_pickle(out)
    return times

engine, folder, workers, limit, out = {engine!r}, {folder!r}, {workers!r}, {limit!r}, {out!r}
if engine == "pandas":
    start = time.perf_counter()
    data = repkpi.load(folder)
    times = job(data, time.perf_counter() - start, out)
    print(json.dumps({{"times": times, "peak": peak()}}))
else:
    from distributed import Client, LocalCluster
    if __name__ == "__main__":
        with LocalCluster(n_workers=workers, threads_per_worker=1, memory_limit=limit,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            start = time.perf_counter()
            data = repkpi.load(folder, engine="dask")
            times = job(data, time.perf_counter() - start, out)
            workers_peak = sorted(client.run(peak).values())
        print(json.dumps({{"times": times, "peak": peak(), "workers_peak": workers_peak}}))
"""


def run_child(engine: str, folder: Path, workers: int, limit: str, out: Path) -> dict:
    """One configuration in a fresh process; its times and peaks, or why it failed."""
    root = str(Path(__file__).resolve().parent.parent)
    code = CHILD.format(root=root, engine=engine, folder=str(folder), workers=workers,
                        limit=limit, out=str(out))
    script = out.with_suffix(".py")
    script.write_text(code)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          check=False, env={**os.environ, **COLD})
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="a folder made by make_partitioned")
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 10, 20],
                        help="numbers of parts to run on")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--memory-limit", default="6GiB", help="per Dask worker")
    parser.add_argument("--skip-pandas", action="store_true")
    args = parser.parse_args()
    import pandas as pd

    work = Path(tempfile.mkdtemp(prefix="bench-dask-"))
    rows = []
    for size in args.sizes:
        parts = work / f"parts-{size}"
        parts.mkdir()
        subset(args.data_dir, parts, size)
        single = args.data_dir.with_name(f"{args.data_dir.name}-single{size}")
        if not args.skip_pandas and not single.exists():
            write_single(args.data_dir, single, size)
        configs = [] if args.skip_pandas else [("pandas", single, 0)]
        configs += [("dask", parts, w) for w in args.workers]
        results = {}
        for engine, folder, workers in configs:
            out = work / f"{engine}-{size}-{workers}.pkl"
            found = run_child(engine, folder, workers, args.memory_limit, out)
            label = "pandas" if engine == "pandas" else f"dask, {workers} worker(s)"
            print(f"{size} parts, {label}: {json.dumps(found)}", flush=True)
            if "error" not in found:
                results[label] = pd.read_pickle(out)
            rows.append((size, label, found))
        if "pandas" in results:
            for label, frame in results.items():
                if label != "pandas":
                    pd.testing.assert_frame_equal(frame.reset_index(drop=True),
                                                  results["pandas"].reset_index(drop=True),
                                                  rtol=1e-9)
                    print(f"{size} parts: {label} gives the pandas engine's numbers", flush=True)

    print("\n| accounts | engine | load (s) | compute Q (s) | by region (s) | total (s) "
          "| peak, client process | peak per worker |")
    print("|---|---|---|---|---|---|---|---|")
    for size, label, found in rows:
        accounts = f"{size * 100_000:,}"
        if "error" in found:
            print(f"| {accounts} | {label} | failed: {found['error']} | | | | | |")
            continue
        t = found["times"]
        workers = ", ".join(f"{p / 2**30:.1f} GiB" for p in found.get("workers_peak", []))
        print(f"| {accounts} | {label} | {t['load']:.1f} | {t['compute']:.1f} | "
              f"{t['compute_region']:.1f} | {sum(t.values()):.1f} | "
              f"{found['peak'] / 2**30:.1f} GiB | {workers or '-'} |")


if __name__ == "__main__":
    main()
