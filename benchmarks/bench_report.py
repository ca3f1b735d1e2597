"""Report benchmark: ``write_report`` against loading and computing every KPI, in one run.

Each job runs in a fresh process, on the same data folder and goals file,
in interleaved rounds (reference, report, reference, report...), so that a
busy machine slows both sides alike; the figures are the medians of the
rounds, and the ratio is the median of each round's ratio:

* reference: ``repkpi.load`` + ``repkpi.compute`` (every KPI, quarterly);
* report: ``repkpi.load`` + ``write_report`` (the scorecard, the in-progress
  goals, the focus, explain of every missed goal by team and region, the
  attention lists, teams and reps, 28 charts, report.xlsx).

    python -m benchmarks.bench_report [DATA_DIR] [--accounts 100000] [--repeat 5]
    python -m benchmarks.bench_report /tmp/r100k --before /tmp/before   # two checkouts, one run

Without DATA_DIR it generates ``--accounts`` accounts into a temporary folder.
The goals are DATA_DIR/goals.toml when there is one, else the default goals.
``--before`` names another checkout of repkpi (e.g. ``git worktree add
/tmp/before <commit>``), measured in the same rounds.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
from pathlib import Path

from benchmarks._measure import data_folder, folder_bytes, measure

SETUP = """
import sys
{path}
import tempfile
from pathlib import Path
import repkpi
from repkpi.report import write_report
folder = Path({folder!r})
goals = repkpi.load_goals(folder / "goals.toml") if (folder / "goals.toml").is_file() else None
out = Path(tempfile.mkdtemp()) / "report"
"""
JOBS = {"load + compute (every KPI, quarterly)": "data = repkpi.load(folder); repkpi.compute(data)",
        "load + write_report": "data = repkpi.load(folder); write_report(data, out, goals=goals)"}


def _before() -> Path | None:
    """The ``--before`` checkout, taken off ``sys.argv`` (the other arguments are data_folder's)."""
    if "--before" not in sys.argv:
        return None
    at = sys.argv.index("--before")
    root = Path(sys.argv[at + 1]).resolve()
    del sys.argv[at:at + 2]
    return root


def main() -> None:
    """Run the benchmark and print a Markdown table."""
    before = _before()
    folder, repeat = data_folder(__doc__.splitlines()[0])
    roots = {"": None} if before is None else {"before: ": before, "after: ": None}
    setups = {label: SETUP.format(folder=str(folder), path="" if root is None else
                                  f"sys.path.insert(0, {str(root)!r})")
              for label, root in roots.items()}
    runs: dict[tuple[str, str], list[dict[str, float]]] = {
        (label, job): [] for label in roots for job in JOBS}
    for _ in range(repeat):
        for label, setup in setups.items():
            for job, code in JOBS.items():
                runs[label, job].append(measure(setup, code, repeat=1))
    size = folder_bytes(folder)
    load = os.getloadavg()
    print(f"data: {folder} ({size / 1e6:.0f} MB of CSV); {platform.processor() or platform.machine()}; "
          f"{repeat} interleaved rounds; load average {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f}")
    print("| job | median seconds | min seconds | peak memory (MB) |")
    print("|---|---|---|---|")
    for (label, job), results in runs.items():
        seconds = [r["seconds"] for r in results]
        print(f"| {label}{job} | {statistics.median(seconds):.2f} | {min(seconds):.2f} | "
              f"{max(r['peak_bytes'] for r in results) / 1e6:.0f} |")
    reference, report = JOBS
    for label in roots:
        ratios = [r["seconds"] / c["seconds"]
                  for r, c in zip(runs[label, report], runs[label, reference], strict=True)]
        print(f"\n{label}report / (load + compute): {statistics.median(ratios):.2f}x median of "
              f"{len(ratios)} rounds ({min(ratios):.2f}x to {max(ratios):.2f}x; target <= 1.5x)")


if __name__ == "__main__":
    main()
