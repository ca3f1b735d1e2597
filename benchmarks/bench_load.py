"""Loading benchmark: ``repkpi.load`` (read + parse + validate) against DuckDB on the same CSVs.

The reference is DuckDB's ``read_csv`` of every table into typed tables, with
the same casts (dates, UTC timestamps, numbers), as written in
``benchmarks/sql_reference.py``. Each side runs in its own fresh process,
best of ``--repeat`` runs; peak memory is the process's peak resident set
size, compared with the size of the CSV files.

    python -m benchmarks.bench_load [DATA_DIR] [--accounts 100000] [--repeat 3]

Without DATA_DIR it generates ``--accounts`` accounts into a temporary folder.
"""

from __future__ import annotations

import platform
from pathlib import Path

from benchmarks._measure import compile_sources, data_folder, folder_bytes, measure


def main() -> None:
    """Run the benchmark and print a Markdown table row set."""
    folder, repeat = data_folder(__doc__.splitlines()[0])
    size = folder_bytes(folder)
    root = Path(__file__).resolve().parent.parent
    compile_sources(root / "repkpi", root / "benchmarks")  # as an installed package is
    ours = measure("import repkpi", f"data = repkpi.load({str(folder)!r})", repeat=repeat)
    theirs = measure("from benchmarks import sql_reference",
                     f"con = sql_reference.connect({str(folder)!r})", repeat=repeat)
    print(f"data: {folder} ({size / 1e6:.0f} MB of CSV); {platform.processor() or platform.machine()}")
    print("| job | seconds | peak memory (MB) | peak / CSV size |")
    print("|---|---|---|---|")
    for name, result in (("repkpi.load (read, parse, validate)", ours),
                         ("DuckDB read_csv + casts", theirs)):
        print(f"| {name} | {result['seconds']:.2f} | {result['peak_bytes'] / 1e6:.0f} | "
              f"{result['peak_bytes'] / size:.2f}x |")
    print(f"\nrepkpi / DuckDB time: {ours['seconds'] / theirs['seconds']:.2f}x (target <= 1.5x); "
          f"repkpi peak memory / CSV size: {ours['peak_bytes'] / size:.2f}x (target <= 4x)")


if __name__ == "__main__":
    main()
