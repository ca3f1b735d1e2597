"""Warm loads: ``repkpi.load`` from the cache against the cold load, in one process.

Each round empties a fresh cache folder (``REPKPI_CACHE_DIR``, never the
user's), loads cold (read, parse, validate, and write the entry), then warm
(hash the files, read the entry); a load with ``cache=False`` is the cold
load without the cache's write. Imports are left out: a first load of the
shipped sample imports everything a load needs before the rounds. The goal
(issue 23): warm at most 0.2x cold at 100k accounts, in wall time; the
process's CPU time (every thread's) is printed too, steadier than wall time
on a busy machine.

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
    names = ("cold, no cache", "cold (writes the entry)", "warm")
    times: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(repeat):
        shutil.rmtree(where, ignore_errors=True)
        for name, cache in zip(names, (False, True, True), strict=True):
            start, used = time.perf_counter(), time.process_time()
            repkpi.load(folder, cache=cache)
            times[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - used)
    size = sum(f.stat().st_size for f in cache_folder().rglob("*") if f.is_file())
    shutil.rmtree(where, ignore_errors=True)
    cold, cold_cpu = (statistics.median(t[names[1]]) for t in (times, cpu))
    print(f"data: {folder} ({folder_bytes(folder) / 1e6:.0f} MB of CSV); cache entry "
          f"{size / 1e6:.0f} MB; {repeat} rounds")
    print("| load | median (s) | min (s) | / cold | CPU median (s) | CPU / cold |")
    print("|---|---|---|---|---|---|")
    for name in names:
        median, used = statistics.median(times[name]), statistics.median(cpu[name])
        print(f"| {name} | {median:.2f} | {min(times[name]):.2f} | {median / cold:.2f}x | "
              f"{used:.2f} | {used / cold_cpu:.2f}x |")
    print(f"\nwarm / cold: {statistics.median(times['warm']) / cold:.2f}x (goal <= 0.2x)")


if __name__ == "__main__":
    main()
