"""Warm loads: ``repkpi.load`` from the cache against the cold load, in one process.

Each round empties a fresh cache folder (``REPKPI_CACHE_DIR``, never the
user's), loads cold (read, parse, validate, and write the entry), then warm
(hash the files, read the entry); a load with ``cache=False`` is the cold
load without the cache's write. Imports are left out: a first load of the
shipped sample imports everything a load needs before the rounds. The goal
(issue 23): warm at most 0.2x cold at 100k accounts.

    python -m benchmarks.bench_cache [DATA_DIR] [--accounts 100000] [--repeat 5]

Without DATA_DIR it generates ``--accounts`` accounts into a temporary folder
(``repkpi sample /tmp/c100k --accounts 100000`` writes the same kind of set).
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks._measure import data_folder, folder_bytes


def main() -> None:
    """Run the rounds and print a Markdown table."""
    folder, repeat = data_folder(__doc__.splitlines()[0])
    where = Path(tempfile.mkdtemp(prefix="repkpi-bench-cache-"))
    os.environ["REPKPI_CACHE_DIR"] = str(where)
    os.environ.pop("REPKPI_CACHE_SIZE", None)
    import repkpi
    from repkpi.io.cache import cache_folder

    repkpi.load(repkpi.sample_path(), cache=False)  # imports (pandera at the first check) done
    times: dict[str, list[float]] = {"cold, no cache": [], "cold (writes the entry)": [],
                                     "warm": []}
    for _ in range(repeat):
        shutil.rmtree(where, ignore_errors=True)
        for name, cache in (("cold, no cache", False), ("cold (writes the entry)", True),
                            ("warm", True)):
            start = time.perf_counter()
            repkpi.load(folder, cache=cache)
            times[name].append(time.perf_counter() - start)
    size = sum(f.stat().st_size for f in cache_folder().rglob("*") if f.is_file())
    shutil.rmtree(where, ignore_errors=True)
    cold = statistics.median(times["cold (writes the entry)"])
    print(f"data: {folder} ({folder_bytes(folder) / 1e6:.0f} MB of CSV); cache entry "
          f"{size / 1e6:.0f} MB; {repeat} rounds")
    print("| load | median (s) | min (s) | / cold |")
    print("|---|---|---|---|")
    for name, seconds in times.items():
        median = statistics.median(seconds)
        print(f"| {name} | {median:.2f} | {min(seconds):.2f} | {median / cold:.2f}x |")
    print(f"\nwarm / cold: {statistics.median(times['warm']) / cold:.2f}x (goal <= 0.2x)")


if __name__ == "__main__":
    main()
