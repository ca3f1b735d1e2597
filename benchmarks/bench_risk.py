"""Churn-risk benchmark: ``forecast.risk`` against load + compute, in one run on the same data.

Each job in a fresh process (best of ``--repeat``, loads without the cache):

1. load + compute: ``repkpi.load`` and every KPI, quarterly (the yardstick);
2. load + risk: ``repkpi.load`` and ``repkpi.forecast.risk`` (features,
   the fit on the sampled training rows, the backtest's fit, the scores).

Then, in this process, the parts of ``risk`` on loaded data and its
training rows (used, and before sampling) and backtest.

    python -m benchmarks.bench_risk [DATA_DIR] [--accounts 100000] [--repeat 1]

Without DATA_DIR it generates ``--accounts`` accounts into a temporary folder.
"""

from __future__ import annotations

import time

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
    start = time.perf_counter()
    scores = repkpi.forecast.risk(data)
    alone = time.perf_counter() - start
    alone = min(alone, best(lambda: repkpi.forecast.risk(data), repeat - 1)) if repeat > 1 else alone
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
    print(f"\naccounts scored: {len(scores):,}; training rows fitted: "
          f"{scores.attrs['training_rows']:,} of {scores.attrs['training_rows_available']:,}; "
          f"backtest ({test['period']}): {test['rows']:,} rows, {test['churns']:,} churns, "
          f"trained on {test['training_rows']:,}, AUC {test['auc']:.3f}, top-10% capture "
          f"{test['capture']:.1%}, Brier {test['brier']:.4f}")


if __name__ == "__main__":
    main()
