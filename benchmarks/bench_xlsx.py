"""Loading an .xlsx export: 100,000 deals as .xlsx against the same deals as CSV.

    python -m benchmarks.bench_xlsx [DATA_DIR] [--accounts 100000] [--repeat 2]

DATA_DIR holds a ``deals.csv`` (without it, ``--accounts`` accounts are
generated); its first 100,000 deals are written once as CSV and once as
.xlsx into a temporary folder, and each is loaded with ``repkpi.load``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pandas as pd

import repkpi
from benchmarks._measure import data_folder


def main() -> None:
    """Write the two files, load each ``--repeat`` times, print the best times."""
    folder, repeat = data_folder(__doc__.splitlines()[0])
    deals = pd.read_csv(folder / "deals.csv", dtype="str", keep_default_na=False).head(100_000)
    out = Path(tempfile.mkdtemp())
    for kind in ("csv", "xlsx"):
        (out / kind).mkdir()
    deals.to_csv(out / "csv" / "deals.csv", index=False)
    start = time.perf_counter()
    deals.to_excel(out / "xlsx" / "deals.xlsx", index=False)
    print(f"writing {len(deals):,} deals as .xlsx (openpyxl): {time.perf_counter() - start:.1f} s")
    for kind in ("csv", "xlsx"):
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            data = repkpi.load(out / kind, cache=False)  # every round reads and parses
            times.append(time.perf_counter() - start)
        print(f"load {kind}: {len(data.deals):,} deals, best of {repeat}: {min(times):.2f} s")


if __name__ == "__main__":
    main()
