"""The ``repkpi`` command: argument parsing only; the work is the library's.

Exit codes: 0 success, 1 invalid data, 2 usage error (a bad option, a missing
or unreadable file).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from repkpi.errors import DataFileError, DataValidationError, GoalsError, RepkpiError, show_value
from repkpi.io.loading import load

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["main"]

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2
_SOURCE = ("the exports are a CRM's own: salesforce, hubspot, zendesk, or a mapping TOML file "
           "(default: canonical tables)")


def _engine_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--engine", choices=["pandas", "dask"], default="pandas",
                         help="dask: read the tables lazily as Dask DataFrames (one partition "
                              "per file; a table may be a folder of part files)")
    command.add_argument("--scheduler", metavar="ADDRESS",
                         help="with --engine dask: the dask.distributed scheduler to run on, "
                              "e.g. tcp://scheduler:8786")


def _load(args: argparse.Namespace, errors: str) -> object:
    """The data of ``args.data_dir``, with the command's engine."""
    if args.engine == "dask":
        if args.source:
            raise RepkpiError("--source is not available with --engine dask.")
        return load(args.data_dir, errors=errors, engine="dask", scheduler=args.scheduler)
    if args.scheduler:
        raise RepkpiError("--scheduler goes with --engine dask.")
    return load(args.data_dir, errors=errors, source=args.source)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="repkpi", description="KPIs of a customer-representative team from CRM exports."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = commands.add_parser("validate", help="check a folder of exports against the data model")
    validate.add_argument("data_dir", metavar="DATA_DIR")
    validate.add_argument("--source", metavar="CRM", help=_SOURCE)
    _engine_options(validate)
    validate.add_argument("--shown", type=int, default=5, metavar="N",
                          help="example rows shown per table and check (default 5)")

    report = commands.add_parser("report", help="charts, scorecard and report.html for a data folder")
    report.add_argument("data_dir", metavar="DATA_DIR")
    report.add_argument("--out", type=Path, required=True, metavar="OUT_DIR")
    report.add_argument("--goals", type=Path, metavar="FILE",
                        help="goals TOML file (default: DATA_DIR/goals.toml if there, else the "
                             "team's default goals)")
    report.add_argument("--freq", choices=["M", "Q", "Y"], default="Q")
    report.add_argument("--period", help="the period under review, e.g. 2026Q3 "
                                         "(default: the latest complete one)")
    report.add_argument("--errors", choices=["strict", "quarantine"], default="strict")
    report.add_argument("--source", metavar="CRM", help=_SOURCE)
    _engine_options(report)

    kpis = commands.add_parser("kpis", help="compute every KPI and print the latest period's values")
    kpis.add_argument("data_dir", metavar="DATA_DIR")
    kpis.add_argument("--freq", choices=["M", "Q", "Y"], default="Q")
    kpis.add_argument("--by", action="append", metavar="COLUMN",
                      help="a dimension to break the KPIs down by (repeatable)")
    kpis.add_argument("--errors", choices=["strict", "quarantine"], default="strict")
    kpis.add_argument("--source", metavar="CRM", help=_SOURCE)
    _engine_options(kpis)
    kpis.add_argument("--out", type=Path, metavar="FILE",
                      help="also write every period's values to this CSV file")

    sample = commands.add_parser("sample", help="write generated sample exports to a folder")
    sample.add_argument("out_dir", metavar="OUT_DIR", type=Path)
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--accounts", type=int, default=2000)
    sample.add_argument("--end", default="2026-09-30",
                        help="last day of the generated history (default 2026-09-30)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return its exit code."""
    args = _parser().parse_args(argv)
    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        return _COMMANDS[args.command](args, out)
    except DataValidationError as exc:
        err.print(str(exc), markup=False)
        return EXIT_INVALID
    except (DataFileError, GoalsError, KeyError, RepkpiError, OSError) as exc:
        err.print(f"repkpi {args.command}: {exc}", markup=False)
        return EXIT_USAGE


def _validate(args: argparse.Namespace, out: Console) -> int:
    with out.status(f"Loading {args.data_dir} ..."):
        data = _load(args, "quarantine")
    summary = data.summary()
    for rec in summary.itertuples(index=False):
        mark = "ok" if rec.rejected == 0 else f"{rec.rejected:,} invalid row(s)"
        out.print(f"{rec.table:<11} {rec.rows:>10,} rows  {mark}   ({rec.source})", markup=False)
    if summary.empty:
        out.print(f"No table files found in {args.data_dir}.", markup=False)
        return EXIT_USAGE
    if data.rejects.empty:
        out.print("All rows are valid.")
        return EXIT_OK
    out.print()
    out.print(_describe_rejects(data.rejects, shown=args.shown), markup=False)
    return EXIT_INVALID


def _row_columns(rejects: pd.DataFrame) -> list[str]:
    """The columns that tell one rejected row from another (rows count within a file on Dask)."""
    return ["table", "file", "row"] if "file" in rejects.columns else ["table", "row"]


def _describe_rejects(rejects, *, shown: int) -> str:
    """Failures grouped by table and check, with row numbers and example values."""
    lines = [f"{len(rejects[_row_columns(rejects)].drop_duplicates()):,} invalid row(s):"]
    for (table, column, check), group in rejects.groupby(["table", "column", "check"], sort=False):
        where = group["row"].astype("str")
        if "file" in group.columns:  # engine dask: rows are numbered within their part file
            where = group["file"].str.rsplit("/", n=1).str[-1] + ":" + where
        rows = ", ".join(where.head(shown))
        more = f" and {len(group) - shown:,} more" if len(group) > shown else ""
        values = ", ".join(show_value(v) for v in group["value"].head(shown))
        lines.append(f"  {table}.{column}: {check}: {len(group):,} row(s)")
        lines.append(f"      rows {rows}{more}; values {values}")
    lines.append("Hint: rows are numbered from 1 after the header line. "
                 "Load with errors='quarantine' to keep the valid rows.")
    return "\n".join(lines)


def _report(args: argparse.Namespace, out: Console) -> int:
    from repkpi.goals import DEFAULT_GOALS, load_goals
    from repkpi.report import write_report

    goals_file = args.goals or (Path(args.data_dir) / "goals.toml")
    goals = load_goals(goals_file) if args.goals or goals_file.is_file() else DEFAULT_GOALS
    with out.status(f"Loading {args.data_dir} ...") as status:
        data = _load(args, args.errors)
        page = write_report(data, args.out, goals=goals, freq=args.freq, period=args.period,
                            progress=lambda msg: status.update(f"{msg} ..."))
    out.print(f"Goals: {goals_file if goals is not DEFAULT_GOALS else 'the default goals'}",
              markup=False)
    if len(data.rejects):
        out.print(f"{len(data.rejects[_row_columns(data.rejects)].drop_duplicates()):,} invalid "
                  "row(s) set "
                  f"aside in {args.out / 'rejects.csv'}", markup=False)
    out.print(f"Report written to {page}", markup=False)
    return EXIT_OK


def _kpis(args: argparse.Namespace, out: Console) -> int:
    from repkpi.kpis import compute

    with out.status(f"Loading {args.data_dir} ..."):
        data = _load(args, args.errors)
    with out.status("Computing the KPIs ..."):
        result = compute(data, freq=args.freq, by=args.by)
    if result.empty:
        out.print("No KPI could be computed from these tables.")
        return EXIT_USAGE
    last = result.groupby("kpi", sort=False)["period"].transform("max")
    table = result[result["period"] == last].drop(columns=["numerator", "denominator"])
    out.print(table.to_string(index=False), markup=False)
    for name, reason in result.attrs.get("skipped", {}).items():
        out.print(f"skipped {name}: {reason}", markup=False)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        result.to_csv(args.out, index=False)
        out.print(f"All periods written to {args.out}", markup=False)
    return EXIT_OK


def _sample(args: argparse.Namespace, out: Console) -> int:
    from repkpi.datasets.generator import write_sample

    if args.accounts < 1:
        raise RepkpiError(f"--accounts must be at least 1, got {args.accounts}.")
    with out.status("Generating sample data ...") as status:
        folder = write_sample(args.out_dir, seed=args.seed, accounts=args.accounts, end=args.end,
                              progress=lambda msg: status.update(msg))
    out.print(f"Sample data written to {folder}", markup=False)
    return EXIT_OK


_COMMANDS = {"validate": _validate, "report": _report, "kpis": _kpis, "sample": _sample}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
