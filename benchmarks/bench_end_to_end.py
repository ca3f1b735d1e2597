"""End to end against DuckDB and polars, on the same files, in one run: the speed issue's table.

Each job of the first table runs in a fresh process, its time taken from
before the first import to the end of the job (interpreter start-up left
out); the jobs are interleaved round by round, so that a busy machine slows
every side alike, and the medians of the rounds are compared:

- end to end: ``import repkpi``, ``load``, every KPI quarterly (``compute``);
  DuckDB: the SQL reference's typed read of the CSVs, every KPI in SQL;
- load alone: import and ``load``; DuckDB's typed read;
- cold: an empty cache folder (``REPKPI_CACHE_DIR``, a new one each round);
  warm: the cache filled by an earlier load of the same files (when this
  checkout has the cache: ``load(cache=)``);
- one thread: the cold runs with ``REPKPI_THREADS=1`` (what the threads gain);
- five deals KPIs on ``deals.csv`` alone, the work polars' lazy API
  expresses (:mod:`benchmarks.polars_reference`): repkpi, DuckDB, polars.

Both sides' modules (repkpi, and the benchmarks' DuckDB and polars code)
are byte-compiled first, as an installed package is
(:func:`benchmarks._measure.compile_sources`).

Compute alone runs in this process on data loaded once by each side,
ungrouped and by region, interleaved. Last, agreement: every KPI, period and
group, quarterly, ungrouped and by region, of repkpi (cold and warm loads)
against DuckDB, and of polars against repkpi, within 1e-9.

    python -m benchmarks.bench_end_to_end DATA_DIR [--rounds 5]
    repkpi sample /tmp/s100k --accounts 100000   # the data
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import repkpi
from benchmarks import polars_reference, sql_reference
from benchmarks._measure import compile_sources
from benchmarks.agreement import mismatches

ROOT = Path(__file__).resolve().parent.parent
CHILD = r"""
import json, sys, time
sys.path.insert(0, {root!r})
start = time.perf_counter()
{job}
seconds = time.perf_counter() - start
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
print("\n" + json.dumps({{"seconds": seconds, "peak_bytes": peak}}))
"""
HAS_CACHE = "cache" in inspect.signature(repkpi.load).parameters


def _jobs(folder: Path, deals: Path) -> dict[str, str]:
    """The code of each fresh-process job, by name."""
    f, d = str(folder), str(deals)
    ours = f"import repkpi\ndata = repkpi.load({f!r})\n"
    duck = f"from benchmarks import sql_reference\ncon = sql_reference.connect({f!r})\n"
    five = f"kpis={list(polars_reference.KPIS)!r}"
    return {
        "repkpi end to end": ours + "repkpi.compute(data, freq='Q')",
        "DuckDB end to end": duck + "sql_reference.compute_all(con, freq='Q')",
        "repkpi load": ours,
        "DuckDB load": duck,
        "repkpi 5 deals KPIs": (f"import repkpi\nrepkpi.compute(repkpi.load({d!r}), "
                                f"{five.replace('kpis=', '')}, freq='Q')"),
        "DuckDB 5 deals KPIs": (f"from benchmarks import sql_reference\nsql_reference.compute_all("
                                f"sql_reference.connect({d!r}), freq='Q', {five})"),
        "polars 5 deals KPIs": (f"from benchmarks import polars_reference\n"
                                f"polars_reference.compute({d!r})"),
    }


def _run(job: str, env: dict[str, str]) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT), job=job)],
                          capture_output=True, text=True, check=False, cwd="/",
                          env={**os.environ, **env})
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    # The job may print too (a warning): the figures are the last line that holds them.
    found = [line for line in done.stdout.splitlines() if line.startswith('{"seconds"')]
    if not found:
        raise RuntimeError(f"no figures in the output of the job:\n{done.stdout}")
    return json.loads(found[-1])


def _plan(jobs: dict[str, str], warm: str) -> list[tuple[str, str, str]]:
    """(row, job, cache: "cold", "warm" or "one thread") of each fresh-process run of a round."""
    plan = [("end to end, cold", "repkpi end to end", "cold"),
            ("end to end, cold", "DuckDB end to end", "-")]
    if warm:
        plan.append(("end to end, warm", "repkpi end to end", "warm"))
    plan += [("end to end, one thread", "repkpi end to end", "one thread"),
             ("load alone, cold", "repkpi load", "cold"),
             ("load alone, cold", "DuckDB load", "-")]
    if warm:
        plan.append(("load alone, warm", "repkpi load", "warm"))
    plan += [("load alone, one thread", "repkpi load", "one thread"),
             ("5 deals KPIs, end to end", "repkpi 5 deals KPIs", "cold"),
             ("5 deals KPIs, end to end", "DuckDB 5 deals KPIs", "-"),
             ("5 deals KPIs, end to end", "polars 5 deals KPIs", "-")]
    return plan


def _timed(job: str, kind: str, warm: str) -> dict[str, float]:
    """One run of ``job``: on the warm cache, or on a new, empty cache folder removed after."""
    if kind == "warm":
        return _run(job, {"REPKPI_CACHE_DIR": warm})
    with tempfile.TemporaryDirectory(prefix="repkpi-cold-") as cold:
        env = {"REPKPI_CACHE_DIR": cold}
        return _run(job, {**env, "REPKPI_THREADS": "1"} if kind == "one thread" else env)


def fresh_processes(folder: Path, deals: Path, rounds: int) -> dict[tuple[str, str], list[dict]]:
    """Every fresh-process run, ``rounds`` rounds interleaved: (row, job) -> the runs."""
    jobs = _jobs(folder, deals)
    runs: dict[tuple[str, str], list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="repkpi-warm-") as warm:
        if HAS_CACHE:  # filled once, by a load of the same files
            _run(jobs["repkpi load"], {"REPKPI_CACHE_DIR": warm})
        for _ in range(rounds):
            for row, job, kind in _plan(jobs, warm if HAS_CACHE else ""):
                runs.setdefault((row, job), []).append(_timed(jobs[job], kind, warm))
    return runs


def in_process(folder: Path, rounds: int) -> dict[str, list[float]]:
    """Compute alone, data loaded once by each side: repkpi and DuckDB, interleaved."""
    data = repkpi.load(folder, **({"cache": False} if HAS_CACHE else {}))
    con = sql_reference.connect(folder)
    sides = {"repkpi": lambda by: repkpi.compute(data, freq="Q", by=by),
             "DuckDB": lambda by: sql_reference.compute_all(con, freq="Q", by=by)}
    times: dict[str, list[float]] = {}
    for _ in range(rounds):
        for by in (None, "region"):
            for side, job in sides.items():
                start = time.perf_counter()
                job(by)
                times.setdefault(f"{side} {by}", []).append(time.perf_counter() - start)
    return times


def agreement(folder: Path, warm: str) -> list[str]:
    """Rows compared and mismatches: repkpi (cold, warm) against DuckDB, polars against repkpi.

    ``warm``: a cache folder; the first load fills it, the second reads it.
    """
    os.environ["REPKPI_CACHE_DIR"] = warm
    con = sql_reference.connect(folder)
    loads = {"cold": {}, "warm": {}} if HAS_CACHE else {"cold": {}}
    lines = []
    for by in (None, "region"):
        reference = sql_reference.compute_all(con, freq="Q", by=by)
        for name, options in loads.items():
            mine = repkpi.compute(repkpi.load(folder, **options), freq="Q", by=by)
            bad = mismatches(mine, reference, by=by)
            lines.append(f"| repkpi ({name}) against DuckDB | {by} | {mine['kpi'].nunique()} | "
                         f"{len(mine):,} | {len(bad)} |")
        theirs = polars_reference.compute(folder, by=by)
        keys = ["kpi", "period", *([by] if by else [])]
        ours = mine[mine["kpi"].isin(polars_reference.KPIS)]
        ours = ours.assign(period=ours["period"].astype(str)).merge(theirs[keys], on=keys)
        bad = mismatches(ours, theirs, by=by)
        lines.append(f"| polars against repkpi | {by} | {len(polars_reference.KPIS)} | "
                     f"{len(theirs):,} | {len(bad)} |")
    return lines


def _median(runs: list[dict], key: str = "seconds") -> float:
    return statistics.median(r[key] for r in runs)


GOALS = {"end to end, cold": "<= 0.7x", "compute, ungrouped": "<= 0.5x",
         "compute, by region": "<= 0.5x", "load alone, cold": "<= 1.0x"}


def main() -> None:
    """Run every measurement and print the Markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    folder = args.data_dir.resolve()
    compile_sources(ROOT / "repkpi", ROOT / "benchmarks")
    with tempfile.TemporaryDirectory(prefix="repkpi-deals-") as deals:
        (Path(deals) / "deals.csv").symlink_to(folder / "deals.csv")
        report(folder, Path(deals), args.rounds)


def report(folder: Path, deals: Path, rounds: int) -> None:
    """Measure on ``folder`` (and ``deals``, a folder of its deals.csv alone); print the tables."""
    size = sum(p.stat().st_size for p in folder.glob("*.csv")) / 1e6
    print(f"data: {folder} ({size:.0f} MB of CSV); {rounds} rounds; cache: "
          f"{'yes' if HAS_CACHE else 'not in this checkout'}; "
          f"load average at start {os.getloadavg()[0]:.1f}\n")

    runs = fresh_processes(folder, deals, rounds)
    times = in_process(folder, rounds)

    print("| median of the rounds | repkpi (s) | DuckDB (s) | repkpi / DuckDB | goal |")
    print("|---|---|---|---|---|")
    duck_of = {"end to end": "DuckDB end to end", "load alone": "DuckDB load"}
    for (row, job), found in runs.items():
        if not job.startswith("repkpi") or row.startswith("5 deals"):
            continue
        section = row.split(",")[0]
        duck = _median(runs[(f"{section}, cold", duck_of[section])])
        ours = _median(found)
        print(f"| {row} | {ours:.2f} | {duck:.2f} | {ours / duck:.2f}x | {GOALS.get(row, '')} |")
    for by, label in ((None, "compute, ungrouped"), ("region", "compute, by region")):
        ours, duck = (statistics.median(times[f"{side} {by}"]) for side in ("repkpi", "DuckDB"))
        print(f"| {label} | {ours:.2f} | {duck:.2f} | {ours / duck:.2f}x | {GOALS[label]} |")

    print("\n| 5 deals KPIs on deals.csv, end to end | median (s) | / DuckDB |")
    print("|---|---|---|")
    row = "5 deals KPIs, end to end"
    duck = _median(runs[(row, "DuckDB 5 deals KPIs")])
    for side in ("repkpi", "DuckDB", "polars"):
        seconds = _median(runs[(row, f"{side} 5 deals KPIs")])
        print(f"| {side} | {seconds:.2f} | {seconds / duck:.2f}x |")

    print("\n| peak memory (median of the rounds) | MB |")
    print("|---|---|")
    for (row, job), found in runs.items():
        print(f"| {row}: {job.split()[0]} | {_median(found, 'peak_bytes') / 1e6:.0f} |")

    print("\n| agreement, quarterly | by | KPIs | rows | mismatches |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="repkpi-agree-") as warm:
        print("\n".join(agreement(folder, warm)))
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
