"""KPI benchmark: every KPI with repkpi against the DuckDB SQL reference, on the same data.

Three measurements, side by side in one run:

1. compute only (in this process, data already loaded on both sides): all
   KPIs, quarterly, ungrouped and by region; best of ``--repeat``;
2. load + compute end to end, each side in a fresh process (best of
   ``--repeat``), with the peak memory of that process;
3. agreement: both sides give the same rows and numbers (1e-9 relative),
   quarterly and monthly, ungrouped, by region and by rep.

    python -m benchmarks.bench_kpis [DATA_DIR] [--accounts 100000] [--repeat 3]

Without DATA_DIR it generates ``--accounts`` accounts into a temporary folder.
"""

from __future__ import annotations

import repkpi
from benchmarks import sql_reference
from benchmarks._measure import best, data_folder, folder_bytes, measure
from benchmarks.agreement import mismatches


def main() -> None:
    """Run the benchmark and print Markdown tables."""
    folder, repeat = data_folder(__doc__.splitlines()[0])
    data = repkpi.load(folder)
    con = sql_reference.connect(folder)
    print(f"data: {folder}: {data}; {folder_bytes(folder) / 1e6:.0f} MB of CSV\n")

    print("| all KPIs, quarterly | repkpi (s) | DuckDB SQL (s) | repkpi / DuckDB |")
    print("|---|---|---|---|")
    for by in (None, "region"):
        ours = best(lambda by=by: repkpi.compute(data, freq="Q", by=by), repeat)
        theirs = best(lambda by=by: sql_reference.compute_all(con, freq="Q", by=by), repeat)
        print(f"| compute, by={by} | {ours:.2f} | {theirs:.2f} | {ours / theirs:.2f}x |")

    job_ours = (f"data = repkpi.load({str(folder)!r}); "
                "repkpi.compute(data, freq='Q'); repkpi.compute(data, freq='Q', by='region')")
    job_sql = (f"con = sql_reference.connect({str(folder)!r}); "
               "sql_reference.compute_all(con, freq='Q'); "
               "sql_reference.compute_all(con, freq='Q', by='region')")
    ours = measure("import repkpi", job_ours, repeat=repeat)
    theirs = measure("from benchmarks import sql_reference", job_sql, repeat=repeat)
    print(f"| load + compute (both by), end to end | {ours['seconds']:.2f} | "
          f"{theirs['seconds']:.2f} | {ours['seconds'] / theirs['seconds']:.2f}x |")
    print(f"\npeak memory, load + compute: repkpi {ours['peak_bytes'] / 1e6:.0f} MB, "
          f"DuckDB {theirs['peak_bytes'] / 1e6:.0f} MB\n")

    print("| agreement | freq | by | KPIs | rows | mismatches |")
    print("|---|---|---|---|---|---|")
    for freq in ("Q", "M"):
        for by in (None, "region", "rep_id"):
            mine = repkpi.compute(data, freq=freq, by=by)
            reference = sql_reference.compute_all(con, freq=freq, by=by)
            bad = mismatches(mine, reference, by=by)
            print(f"| | {freq} | {by} | {mine['kpi'].nunique()} | {len(mine):,} | {len(bad)} |")


if __name__ == "__main__":
    main()
