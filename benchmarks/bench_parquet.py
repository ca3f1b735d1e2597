"""Parquet benchmark: the same tables as typed Parquet against CSV, through ``repkpi.load``.

The CSV folder is loaded once and each table written back as Parquet with
its typed columns (dates, UTC timestamps, floats, nullable integers, text).
Then each folder is loaded in a fresh process, best of ``--repeat`` runs:
typed columns are taken as they are (only checked), text columns parsed.

    python -m benchmarks.bench_parquet [DATA_DIR] [--accounts 100000] [--repeat 3]
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks._measure import data_folder, folder_bytes, measure


def main() -> None:
    """Write the Parquet copy, load both, print a Markdown table."""
    import repkpi

    folder, repeat = data_folder(__doc__.splitlines()[0])
    parquet = Path(tempfile.mkdtemp()) / "parquet"
    parquet.mkdir()
    data = repkpi.load(folder)
    for table, frame in data.tables.items():
        frame.reset_index(drop=True).to_parquet(parquet / f"{table}.parquet", index=False)
    csv = measure("import repkpi", f"repkpi.load({str(folder)!r})", repeat=repeat)
    typed = measure("import repkpi", f"repkpi.load({str(parquet)!r})", repeat=repeat)
    print(f"data: {folder} ({folder_bytes(folder) / 1e6:.0f} MB of CSV, "
          f"{folder_bytes(parquet, '.parquet') / 1e6:.0f} MB of Parquet)")
    print("| files | load (s) | peak memory (MB) |")
    print("|---|---|---|")
    for name, result in (("CSV (text, parsed)", csv), ("Parquet (typed columns)", typed)):
        print(f"| {name} | {result['seconds']:.2f} | {result['peak_bytes'] / 1e6:.0f} |")
    print(f"\nParquet / CSV load time: {typed['seconds'] / csv['seconds']:.2f}x")


if __name__ == "__main__":
    main()
