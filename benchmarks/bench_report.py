"""Report benchmark: ``write_report`` against loading and computing every KPI, in one run.

Each side runs in its own fresh process, best of ``--repeat`` runs, on the
same data folder and goals file, back to back:

* reference: ``repkpi.load`` + ``repkpi.compute`` (every KPI, quarterly);
* report: ``repkpi.load`` + ``write_report`` (the scorecard, the in-progress
  goals, the focus, explain of every missed goal by team and region, the
  attention lists, teams and reps, 27 charts and the dashboard, report.xlsx).

    python -m benchmarks.bench_report [DATA_DIR] [--accounts 100000] [--repeat 3]

Without DATA_DIR it generates ``--accounts`` accounts into a temporary folder.
The goals are DATA_DIR/goals.toml when there is one, else the default goals.
"""

from __future__ import annotations

import platform

from benchmarks._measure import data_folder, folder_bytes, measure

SETUP = """
import tempfile
from pathlib import Path
import repkpi
from repkpi.report import write_report
folder = Path({folder!r})
goals = repkpi.load_goals(folder / "goals.toml") if (folder / "goals.toml").is_file() else None
out = Path(tempfile.mkdtemp()) / "report"
"""


def main() -> None:
    """Run the benchmark and print a Markdown table."""
    folder, repeat = data_folder(__doc__.splitlines()[0])
    setup = SETUP.format(folder=str(folder))
    reference = measure(setup, "data = repkpi.load(folder); repkpi.compute(data)", repeat=repeat)
    report = measure(setup, "data = repkpi.load(folder); write_report(data, out, goals=goals)",
                     repeat=repeat)
    size = folder_bytes(folder)
    print(f"data: {folder} ({size / 1e6:.0f} MB of CSV); {platform.processor() or platform.machine()}")
    print("| job | seconds | peak memory (MB) |")
    print("|---|---|---|")
    for name, result in (("load + compute (every KPI, quarterly)", reference),
                         ("load + write_report", report)):
        print(f"| {name} | {result['seconds']:.2f} | {result['peak_bytes'] / 1e6:.0f} |")
    print(f"\nreport / (load + compute): {report['seconds'] / reference['seconds']:.2f}x "
          "(target <= 1.5x)")


if __name__ == "__main__":
    main()
