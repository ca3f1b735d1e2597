"""Where a report's time goes: each step of ``write_report``, timed by its progress messages.

In one process: ``load`` (without the cache) and ``compute`` (every KPI,
quarterly) first, then ``write_report`` on the same loaded data, each of its
steps (the messages it passes to ``progress``) timed in wall seconds and in
CPU seconds (every thread's: ``time.process_time``). On a machine shared with
other jobs the CPU seconds move less than the wall seconds; the ratio
report / (load + compute) is given in both.

    python -m benchmarks.report_steps DATA_DIR [--out FOLDER]

The goals are DATA_DIR/goals.toml when there is one, else the default goals.
``--out`` keeps the report (e.g. to diff two checkouts' reports with
``benchmarks.compare_report``).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import repkpi
from repkpi.report import write_report


class Steps:
    """The wall and CPU seconds of each step, a step lasting until the next message."""

    def __init__(self) -> None:
        self.seconds: dict[str, list[float]] = {}
        self.last: tuple[str, float, float] | None = None

    def __call__(self, message: str) -> None:
        """Close the step running and start ``message``'s (the charts count as one step)."""
        now = (time.perf_counter(), time.process_time())
        if self.last is not None:
            step, wall, cpu = self.last
            kept = self.seconds.setdefault(step, [0.0, 0.0])
            kept[0] += now[0] - wall
            kept[1] += now[1] - cpu
        name = "Charting" if message.startswith("Charting") else message
        self.last = (name, *now)


def _timed(job: object) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    found = job()  # type: ignore[operator]
    return time.perf_counter() - wall, time.process_time() - cpu, found


def main() -> None:
    """Load, compute and write the report; print each step's seconds as a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    folder = args.data_dir
    goals = repkpi.load_goals(folder / "goals.toml") if (folder / "goals.toml").is_file() else None
    load_wall, load_cpu, data = _timed(lambda: repkpi.load(folder, cache=False))
    compute_wall, compute_cpu, _ = _timed(lambda: repkpi.compute(data))
    out = args.out or Path(tempfile.mkdtemp()) / "report"
    steps = Steps()
    report_wall, report_cpu, _ = _timed(lambda: write_report(data, out, goals=goals,
                                                             progress=steps))
    steps("done")
    load = os.getloadavg()
    print(f"data: {folder}; load average {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f}")
    print("| step | wall (s) | CPU (s) |")
    print("|---|---|---|")
    print(f"| load (no cache) | {load_wall:.2f} | {load_cpu:.2f} |")
    print(f"| compute (every KPI, quarterly) | {compute_wall:.2f} | {compute_cpu:.2f} |")
    for step, (wall, cpu) in steps.seconds.items():
        print(f"| report: {step} | {wall:.2f} | {cpu:.2f} |")
    print(f"| report, whole | {report_wall:.2f} | {report_cpu:.2f} |")
    for label, report, load_s, compute in (("wall", report_wall, load_wall, compute_wall),
                                           ("CPU", report_cpu, load_cpu, compute_cpu)):
        print(f"\n(load + report) / (load + compute), {label}: "
              f"{(load_s + report) / (load_s + compute):.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
