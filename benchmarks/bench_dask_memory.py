"""Dask client memory: the client's peak must not grow with the data; the workers' and times do.

For each size (the first N parts of a folder made by ``make_partitioned``)
this starts a cluster as a real one runs: ``dask scheduler`` and ``dask
worker`` processes (the scheduler apart from the client, so that the
client's peak is the client's alone). A fresh client process then loads and
validates the data (``repkpi.load(..., engine="dask", scheduler=...)``),
computes every KPI quarterly, ungrouped and by region, and finally asks for
one ``detail`` and one ``explain``. It reports the peak resident set
(``VmHWM``) of the client after the KPIs and after the detail, of the
scheduler and of each worker, the time of each step, and the growth
exponent of each figure over the sizes (the slope of log(figure) against
log(rows): 0 = flat, 1 = proportional). The KPIs are compared with the
pandas engine's (1e-9 relative) on the same rows, in the parent process.

    python -m benchmarks.make_partitioned /tmp/dmem --parts 8 --accounts 25000
    python -m benchmarks.bench_dask_memory /tmp/dmem --sizes 2 4 8 --workers 2

``--root`` runs another checkout of repkpi in the client and workers (the
code before a change, for comparison).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.make_partitioned import subset, write_single

CHILD = r"""
import json, sys, time
sys.path.insert(0, {root!r})
import pandas as pd
import repkpi

def peak():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))

if __name__ == "__main__":
    times = {{}}
    start = time.perf_counter()
    data = repkpi.load({folder!r}, engine="dask", scheduler={address!r})
    times["load"] = time.perf_counter() - start
    start = time.perf_counter()
    ungrouped = repkpi.compute(data, freq="Q")
    times["compute"] = time.perf_counter() - start
    start = time.perf_counter()
    by_region = repkpi.compute(data, freq="Q", by="region")
    times["compute_region"] = time.perf_counter() - start
    kpis_peak = peak()
    period = ungrouped["period"].max() - 1
    start = time.perf_counter()
    rows = repkpi.detail(data, "engagement_rate", period=period, by="region")
    times["detail"] = time.perf_counter() - start
    start = time.perf_counter()
    repkpi.explain(data, "net_revenue_retention", period=period, by="region")
    times["explain"] = time.perf_counter() - start
    detail_peak = peak()
    pd.concat([ungrouped, by_region]).to_pickle({out!r})
    workers = sorted(data.client.run(peak).values())
    scheduler = data.client.run_on_scheduler(peak)
    print(json.dumps({{"times": times, "client_kpis": kpis_peak, "client_detail": detail_peak,
                      "detail_rows": len(rows), "workers": workers, "scheduler": scheduler}}))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_cluster(workers: int, limit: str, root: str, log: Path) -> tuple[str, list]:
    """``dask scheduler`` and ``workers`` ``dask worker`` processes; their address and handles."""
    dask = str(Path(sys.executable).with_name("dask"))
    env = {**os.environ, "PYTHONPATH": root}
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    out = log.open("a")
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], stdout=out, stderr=out, env=env)]
    for _ in range(workers):
        procs.append(subprocess.Popen([dask, "worker", address, "--nthreads", "1",
                                       "--nworkers", "1", "--memory-limit", limit,
                                       "--no-dashboard"], stdout=out, stderr=out, env=env))
    from distributed import Client

    with Client(address, timeout="60s") as client:
        client.wait_for_workers(workers, timeout=120)
    return address, procs


def stop_cluster(procs: list) -> None:
    for proc in reversed(procs):
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def run_child(root: str, folder: Path, address: str, out: Path) -> dict:
    """The job in a fresh client process: its times and peaks, or why it failed."""
    script = out.with_suffix(".py")
    script.write_text(CHILD.format(root=root, folder=str(folder), address=address, out=str(out)))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def exponent(sizes: list[float], values: list[float]) -> float:
    """Least-squares slope of log(value) against log(size)."""
    xs, ys = [math.log(s) for s in sizes], [math.log(v) for v in values]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return (sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
            / sum((x - mx) ** 2 for x in xs))


def compare(data_dir: Path, size: int, out: Path) -> str:
    """Whether the Dask results equal the pandas engine's on the same rows (raises if not)."""
    import pandas as pd

    import repkpi

    single = data_dir.with_name(f"{data_dir.name}-single{size}")
    if not single.exists():  # the pandas engine reads one file per table
        write_single(data_dir, single, size)
    data = repkpi.load(single)
    want = pd.concat([repkpi.compute(data, freq="Q"), repkpi.compute(data, freq="Q", by="region")])
    got = pd.read_pickle(out)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True),
                                  rtol=1e-9)
    return "equal"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="a folder made by make_partitioned")
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 4, 8],
                        help="numbers of parts to run on")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="4GiB", help="per Dask worker")
    parser.add_argument("--root", default=str(Path(__file__).resolve().parent.parent),
                        help="the repkpi checkout the client and workers run")
    parser.add_argument("--no-compare", action="store_true",
                        help="skip the comparison with the pandas engine")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-dask-memory-"))
    accounts = _accounts_per_part(args.data_dir)
    rows = []
    for size in args.sizes:
        parts = work / f"parts-{size}"
        parts.mkdir()
        subset(args.data_dir, parts, size)
        address, procs = start_cluster(args.workers, args.memory_limit, args.root,
                                       work / "cluster.log")
        try:
            started = time.perf_counter()
            found = run_child(args.root, parts, address, work / f"dask-{size}.pkl")
            found["wall"] = time.perf_counter() - started
        finally:
            stop_cluster(procs)
        if "error" not in found and not args.no_compare:
            found["pandas"] = compare(args.data_dir, size, work / f"dask-{size}.pkl")
        print(f"{size} parts: {json.dumps(found)}", flush=True)
        rows.append((size, found))

    gib = 2**30
    print("\n| accounts | load (s) | KPIs Q (s) | KPIs by region (s) | detail + explain (s) "
          "| client peak, KPIs | client peak, + detail | scheduler peak | worker peaks |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size, found in rows:
        if "error" in found:
            print(f"| {size * accounts:,} | failed: {found['error']} |||||||")
            continue
        t = found["times"]
        workers = ", ".join(f"{p / gib:.2f}" for p in found["workers"])
        print(f"| {size * accounts:,} | {t['load']:.1f} | {t['compute']:.1f} | "
              f"{t['compute_region']:.1f} | {t['detail'] + t['explain']:.1f} | "
              f"{found['client_kpis'] / gib:.2f} GiB | {found['client_detail'] / gib:.2f} GiB "
              f"({found['detail_rows']:,} rows) | {found['scheduler'] / gib:.2f} GiB | "
              f"{workers} GiB |")
    done = [(s, f) for s, f in rows if "error" not in f]
    if len(done) > 1:
        sizes = [s for s, _ in done]
        figures = {
            "load": [f["times"]["load"] for _, f in done],
            "KPIs (both)": [f["times"]["compute"] + f["times"]["compute_region"] for _, f in done],
            "client peak, KPIs": [f["client_kpis"] for _, f in done],
            "client peak, + detail": [f["client_detail"] for _, f in done],
            "scheduler peak": [f["scheduler"] for _, f in done],
            "largest worker peak": [max(f["workers"]) for _, f in done],
        }
        print("\n| growth exponent over " + ", ".join(f"{s}" for s in sizes) + " parts | value |")
        print("|---|---|")
        for name, values in figures.items():
            print(f"| {name} | {exponent(sizes, values):.2f} |")


def _accounts_per_part(folder: Path) -> int:
    import pyarrow.parquet as pq

    first = sorted((folder / "accounts").glob("part-*.parquet"))[0]
    return pq.read_metadata(first).num_rows


if __name__ == "__main__":
    main()
