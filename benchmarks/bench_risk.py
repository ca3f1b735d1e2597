"""Churn-risk benchmark: ``forecast.risk`` against load + compute, in one run on the same data.

Each job in a fresh process (best of ``--repeat``, loads without the cache):

1. load + compute: ``repkpi.load`` and every KPI, quarterly (the yardstick);
2. load + risk: ``repkpi.load`` and ``repkpi.forecast.risk`` (features,
   the fit on the sampled training rows, the backtest's fit, the scores).

Then, in this process, ``risk`` on loaded data in wall and CPU seconds
(every thread's: ``time.process_time``, steadier than wall on a shared
machine): its first call, which imports scikit-learn, and a second; and its
training rows (used, and before sampling) and backtest.

    python -m benchmarks.bench_risk [DATA_DIR] [--accounts 100000] [--repeat 1]

Without DATA_DIR it generates ``--accounts`` accounts into a temporary folder.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import repkpi
from benchmarks._measure import best, data_folder, measure


def main() -> None:
    """Run the benchmark and print a Markdown table."""
    folder, repeat = data_folder(__doc__.splitlines()[0])
    load = f"data = repkpi.load({str(folder)!r})"
    compute = measure("import repkpi", f"{load}; repkpi.compute(data, freq='Q')", repeat=repeat)
    scored = measure("import repkpi", f"{load}; repkpi.forecast.risk(data)", repeat=repeat)
    loaded = measure("import repkpi", load, repeat=repeat)
    data = repkpi.load(folder)
    data.as_of  # noqa: B018  (found once per load; the report has it before the risk step)
    first = _timed(lambda: repkpi.forecast.risk(data))
    again = _timed(lambda: repkpi.forecast.risk(data))
    scores = first[2]
    alone = min(first[0], best(lambda: repkpi.forecast.risk(data), repeat - 1)) if repeat > 1 \
        else first[0]
    test = scores.attrs["backtest"]
    print(f"data: {folder}: {data}\n")
    print("| job (fresh process, best of the runs) | seconds | peak MB | / load + compute |")
    print("|---|---|---|---|")
    yardstick = compute["seconds"]
    for name, run in (("load", loaded), ("load + compute (quarterly)", compute),
                      ("load + risk", scored)):
        print(f"| {name} | {run['seconds']:.2f} | {run['peak_bytes'] / 1e6:.0f} | "
              f"{run['seconds'] / yardstick:.2f}x |")
    print(f"| risk alone, on loaded data | {alone:.2f} | | {alone / yardstick:.2f}x |")
    print("\n| risk on loaded data, in this process | wall (s) | CPU (s) |\n|---|---|---|")
    print(f"| first call (imports scikit-learn) | {first[0]:.2f} | {first[1]:.2f} |")
    print(f"| second call | {again[0]:.2f} | {again[1]:.2f} |")
    print(f"\naccounts scored: {len(scores):,}; training rows fitted: "
          f"{scores.attrs['training_rows']:,} of {scores.attrs['training_rows_available']:,}; "
          f"backtest ({test['period']}): {test['rows']:,} rows, {test['churns']:,} churns, "
          f"trained on {test['training_rows']:,}, AUC {test['auc']:.3f}, top-10% capture "
          f"{test['capture']:.1%}, Brier {test['brier']:.4f}")


def _timed(job: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall and CPU seconds of ``job()``, and what it returned."""
    wall, cpu = time.perf_counter(), time.process_time()
    found = job()
    return time.perf_counter() - wall, time.process_time() - cpu, found


if __name__ == "__main__":
    main()
