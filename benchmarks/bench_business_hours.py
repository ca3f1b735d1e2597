"""Business-hours benchmark: the SLA on the business clock against the calendar clock and SQL.

In one process, the data loaded once on each side (repkpi: ``repkpi.load``;
SQL: ``sql_reference.connect``), best of ``--repeat`` runs of each job,
back to back:

* ``sla_compliance`` (quarterly) on the calendar clock and on the business
  clock of the sample goals file's ``[calendar]``, in repkpi and in the DuckDB
  SQL reference (whose business clock builds its table of opening intervals
  from the calendar in Python, then joins it to the tickets in SQL);
* the other service KPIs on the business clock, once each;
* agreement of the four service KPIs on the business clock (quarterly and by
  region), row by row.

    python -m benchmarks.bench_business_hours [DATA_DIR] [--accounts 100000] [--repeat 3]
"""

from __future__ import annotations

import platform
import tomllib
from pathlib import Path

import pandas as pd

import repkpi
from benchmarks import sql_reference
from benchmarks._measure import best, data_folder, folder_bytes
from benchmarks.agreement import mismatches

GOALS = Path(__file__).resolve().parent.parent / "data" / "sample" / "goals.toml"
SERVICE = ["sla_compliance", "first_response_sla", "first_response_hours", "resolution_hours"]


def main() -> None:
    """Run the benchmark and print Markdown tables."""
    folder, repeat = data_folder(__doc__.splitlines()[0])
    calendar = tomllib.loads(GOALS.read_text(encoding="utf-8"))["calendar"]
    data = repkpi.load(folder)
    con = sql_reference.connect(folder)
    business = {"clock": "business", "calendar": calendar}
    size = folder_bytes(folder)
    print(f"data: {folder} ({size / 1e6:.0f} MB of CSV, {len(data.tickets):,} tickets); "
          f"{platform.processor() or platform.machine()}; calendar: "
          f"{repkpi.kpis.business.describe(calendar)}")
    print("\n| sla_compliance, quarterly | repkpi (s) | DuckDB SQL (s) | repkpi / SQL |")
    print("|---|---|---|---|")
    for label, options in (("calendar clock", {}), ("business clock", business)):
        ours = best(lambda o=options: repkpi.kpis.sla_compliance(data, freq="Q", **o), repeat)
        theirs = best(lambda o=options: sql_reference.kpi(con, "sla_compliance", freq="Q", **o),
                       repeat)
        print(f"| {label} | {ours:.2f} | {theirs:.2f} | {ours / theirs:.2f}x |")
    print("\n| business clock, quarterly | repkpi (s) | DuckDB SQL (s) |")
    print("|---|---|---|")
    for name in SERVICE[1:]:
        ours = best(lambda n=name: repkpi.KPIS[n](data, freq="Q", **business), 1)
        theirs = best(lambda n=name: sql_reference.kpi(con, n, freq="Q", **business), 1)
        print(f"| {name} | {ours:.2f} | {theirs:.2f} |")
    print("\n| agreement, business clock | rows | mismatches |")
    print("|---|---|---|")
    for by in (None, "region"):
        ours = pd.concat([repkpi.KPIS[n](data, freq="Q", by=by, **business).assign(kpi=n)
                          for n in SERVICE], ignore_index=True)
        theirs = pd.concat([sql_reference.kpi(con, n, freq="Q", by=by, **business).assign(kpi=n)
                            for n in SERVICE], ignore_index=True)
        print(f"| Q, by {by or 'none'} | {len(ours):,} | {len(mismatches(ours, theirs, by=by))} |")


if __name__ == "__main__":
    main()
