"""The ``repkpi`` command: argument parsing only; the work is the library's.

Exit codes: 0 success, 1 invalid data, 2 usage error (a bad option, a missing
or unreadable file).

Messages quote values literally (data-model.md): every console prints text as
it is, with rich's markup and emoji codes off, so that an id such as
``[bold]x[/bold]`` or ``:x:`` reads as it does in the file.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from repkpi.errors import (
    DataFileError,
    DataValidationError,
    GoalsError,
    MissingTableError,
    OptionError,
    PathNotFoundError,
    RepkpiError,
    show_value,
)
from repkpi.io.asof import cut_words
from repkpi.io.files import MAX_BYTES
from repkpi.io.loading import load
from repkpi.io.mapping import PRESETS, read_mapping
from repkpi.outputs import check_out_folder, require_openpyxl, write_rows

if TYPE_CHECKING:
    import pandas as pd

    from repkpi.io.loading import CrmData

__all__ = ["main"]

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_LOOK = 0, 1, 2, 3
_SOURCE = (f"the exports are a CRM's own: {', '.join(PRESETS)}, or a mapping TOML file "
           "(default: canonical tables)")


def _console(**options: object) -> Console:
    """A console that prints text as it is: no markup, no emoji codes, no highlighting."""
    return Console(markup=False, emoji=False, highlight=False, soft_wrap=True, **options)


def _time_options(command: argparse.ArgumentParser, *, fiscal: bool = True) -> None:
    command.add_argument("--as-of", metavar="DATE",
                         help="the export's cut-off date (default: the latest recorded date)")
    if fiscal:
        command.add_argument("--fiscal-year-start", type=_month, default=None, metavar="M",
                             help="first month of the fiscal year, 1-12 (default: the goals "
                                  "file's, else 1: calendar years)")


def _engine_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--engine", choices=["pandas", "dask"], default="pandas",
                         help="dask: read the tables lazily as Dask DataFrames (one partition "
                              "per file; a table may be a folder of part files)")
    command.add_argument("--scheduler", metavar="ADDRESS",
                         help="with --engine dask: the dask.distributed scheduler to run on, "
                              "e.g. tcp://scheduler:8786")
    command.add_argument("--max-bytes", type=_size, default=MAX_BYTES, metavar="SIZE",
                         help="the most a compressed file (.gz, .zip) may expand to, in bytes "
                              "or with a unit (500MB, 8GiB; default 4GiB)")
    command.add_argument("--no-cache", action="store_true",
                         help="read and check every file again instead of taking the tables "
                              "kept from an earlier run on the same files (pandas engine)")


def _load_options(command: argparse.ArgumentParser, *, fiscal: bool = True) -> None:
    """The options of every command that loads a data folder: errors, source, time, engine."""
    command.add_argument("--errors", choices=["strict", "quarantine"], default="strict")
    command.add_argument("--source", metavar="CRM", help=_SOURCE)
    _time_options(command, fiscal=fiscal)
    _engine_options(command)


def _goals_option(command: argparse.ArgumentParser) -> None:
    command.add_argument("--goals", type=Path, metavar="FILE",
                         help="goals TOML file (default: DATA_DIR/goals.toml if there, else the "
                              "team's default goals)")


def _window_option(command: argparse.ArgumentParser) -> None:
    command.add_argument("--window", type=_window, default="period", metavar="W",
                         help="the span of each value: period (default), ytd (the fiscal year "
                              "to date), qtd (the quarter to date, monthly periods) or a number "
                              "N of periods ending with each one (12 with monthly periods: the "
                              "trailing twelve months)")


def _window(text: str) -> str | int:
    """A ``--window``: ``period``, ``ytd``, ``qtd`` or a whole number of periods >= 1."""
    value = text.strip().lower()
    if value in ("period", "ytd", "qtd"):
        return value
    if re.fullmatch(r"\d+", value) and int(value) >= 1:
        return int(value)
    raise argparse.ArgumentTypeError(f"period, ytd, qtd or a number of periods >= 1, got {text!r}")


def _one_kpi_options(command: argparse.ArgumentParser) -> None:
    """The options of the commands about one KPI (detail, explain), after their own."""
    _window_option(command)
    command.add_argument("--option", action="append", type=_kpi_option, default=[],
                         metavar="KEY=VALUE", dest="options",
                         help="one of the KPI's own options, e.g. threshold=10000 (repeatable; "
                              "a value that reads as a number is a number)")
    command.add_argument("--fiscal-year-start", type=_month, default=1, metavar="M",
                         help="first month of the fiscal year, 1-12 (default 1: calendar years)")
    _load_options(command, fiscal=False)


def _load(args: argparse.Namespace, errors: str) -> object:
    """The data of ``args.data_dir``, with the command's engine."""
    if args.engine == "dask":
        if args.source:
            raise RepkpiError("--source is not available with --engine dask.")
        return load(args.data_dir, errors=errors, engine="dask", scheduler=args.scheduler,
                    as_of=getattr(args, "as_of", None), max_bytes=args.max_bytes)
    if args.scheduler:
        raise RepkpiError("--scheduler goes with --engine dask.")
    if args.source:
        try:  # a bad mapping file is a usage error, not bad data
            read_mapping(args.source)
        except DataFileError as exc:
            raise OptionError(str(exc)) from exc
    return load(args.data_dir, errors=errors, source=args.source, as_of=getattr(args, "as_of", None),
                max_bytes=args.max_bytes, cache=not args.no_cache)


def _kpi_option(text: str) -> tuple[str, object]:
    """``key=value`` from ``--option``: the value is a number when it reads as one, else text."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, e.g. threshold=10000, got {text!r}")
    value = value.strip()
    if re.fullmatch(r"[+-]?\d+", value):
        return key.strip(), int(value)
    try:
        number = float(value)
    except ValueError:
        return key.strip(), value
    return key.strip(), number if math.isfinite(number) else value


_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40}


def _size(text: str) -> int:
    """A number of bytes: ``1000000``, ``500MB``, ``8GiB`` (KB, MB, GB: powers of 1000)."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", text)
    unit = found.group(2).upper() if found else ""
    if not found or unit not in _UNITS or float(found.group(1)) * _UNITS[unit] < 1:
        raise argparse.ArgumentTypeError(f"a size in bytes, e.g. 500MB or 8GiB, got {text!r}")
    return int(float(found.group(1)) * _UNITS[unit])


def _month(text: str) -> int:
    """The first month of a fiscal year, 1..12."""
    if not re.fullmatch(r"\d{1,2}", text.strip()) or not 1 <= int(text) <= 12:
        raise argparse.ArgumentTypeError(f"a month number 1-12, got {text!r}")
    return int(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="repkpi", description="KPIs of a customer-representative team from CRM exports."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = commands.add_parser("validate", help="check a folder of exports against the data model")
    validate.add_argument("data_dir", metavar="DATA_DIR")
    validate.add_argument("--source", metavar="CRM", help=_SOURCE)
    _time_options(validate, fiscal=False)
    _engine_options(validate)
    validate.add_argument("--shown", type=int, default=5, metavar="N",
                          help="example rows shown per table and check (default 5)")

    report = commands.add_parser("report", help="charts, scorecard and report.html for a data folder")
    report.add_argument("data_dir", metavar="DATA_DIR")
    report.add_argument("--out", type=Path, required=True, metavar="OUT_DIR")
    _goals_option(report)
    report.add_argument("--freq", choices=["M", "Q", "Y"], default="Q")
    report.add_argument("--period", help="the period under review, e.g. 2026Q3, or 'current' "
                                         "for the one in progress (default: the latest "
                                         "complete one)")
    _load_options(report)

    kpis = commands.add_parser("kpis", help="compute every KPI and print the latest period's values")
    kpis.add_argument("data_dir", metavar="DATA_DIR")
    kpis.add_argument("--freq", choices=["M", "Q", "Y"], default="Q")
    _window_option(kpis)
    kpis.add_argument("--by", action="append", metavar="COLUMN",
                      help="a dimension to break the KPIs down by (repeatable)")
    _load_options(kpis)
    kpis.add_argument("--out", type=Path, metavar="FILE",
                      help="also write every period's values to this CSV file")

    detail = commands.add_parser("detail", help="the rows behind one KPI's number in one period")
    detail.add_argument("data_dir", metavar="DATA_DIR")
    detail.add_argument("--kpi", required=True, metavar="NAME", help="the KPI, e.g. churn_rate")
    detail.add_argument("--period", required=True, metavar="P",
                        help="a quarter 2026Q3, a month 2026-07 or a year 2026 (fiscal labels "
                             "with --fiscal-year-start)")
    detail.add_argument("--by", action="append", metavar="COLUMN",
                        help="a dimension to break the rows down by (repeatable)")
    detail.add_argument("--only", choices=["numerator", "rest"],
                        help="numerator: the rows in the numerator; rest: those in the "
                             "denominator but not in the numerator (e.g. the contracts not renewed)")
    _one_kpi_options(detail)
    detail.add_argument("--out", type=Path, metavar="FILE",
                        help="write every row to this .csv or .xlsx file instead of printing them")

    explain = commands.add_parser("explain", help="why one KPI's number changed: each group's "
                                                  "contribution to the change")
    explain.add_argument("data_dir", metavar="DATA_DIR")
    explain.add_argument("--kpi", required=True, metavar="NAME", help="the KPI, e.g. csat")
    explain.add_argument("--period", required=True, metavar="P",
                         help="the period explained: a quarter 2026Q3, a month 2026-07 or a "
                              "year 2026 (fiscal labels with --fiscal-year-start)")
    explain.add_argument("--against", metavar="P",
                         help="the period compared with (default: the one before --period)")
    explain.add_argument("--by", action="append", required=True, metavar="COLUMN",
                         help="the dimension whose groups share out the change (repeatable)")
    _one_kpi_options(explain)

    check = commands.add_parser("check", help="what needs a look: goals missed or at risk, "
                                              "significant changes, groups out of line (exit 3 "
                                              "when there is one)")
    check.add_argument("data_dir", metavar="DATA_DIR")
    _goals_option(check)
    check.add_argument("--period", help="the period checked, e.g. 2026Q3 (default: each goal's "
                                        "latest complete one)")
    check.add_argument("--json", type=Path, metavar="FILE",
                       help="also write the findings to this file, as a list of objects")
    _load_options(check)

    takes = commands.add_parser("what-it-takes", help="for each goal, what must happen in the "
                                                      "rest of its period: deals, renewals, "
                                                      "tickets and names")
    takes.add_argument("data_dir", metavar="DATA_DIR")
    _goals_option(takes)
    takes.add_argument("--period", help="the period played, e.g. 2026Q4 (default, or 'current': "
                                        "each goal's period in progress, the next one when the "
                                        "as-of date ends one)")
    takes.add_argument("--out", type=Path, metavar="FILE",
                       help="also write every goal's row, with the numbers behind its sentence, "
                            "to this .csv or .xlsx file")
    _load_options(takes)

    ahead = commands.add_parser("renewals", help="the contracts due next and their expected renewals "
                                                 "(the sBG model), with its backtest")
    ahead.add_argument("data_dir", metavar="DATA_DIR")
    ahead.add_argument("--periods", type=int, default=4, metavar="N",
                       help="the periods after the as-of date's to forecast (default 4)")
    ahead.add_argument("--freq", choices=["M", "Q", "Y"], default="Q")
    ahead.add_argument("--by", action="append", metavar="COLUMN",
                       help="fit and forecast each group on its own (repeatable)")
    _load_options(ahead)
    ahead.add_argument("--out", type=Path, metavar="FILE",
                       help="also write the forecast, one row per group and period, to this .csv "
                            "or .xlsx file")

    risk = commands.add_parser("risk", help="each active account's chance of churning soon, "
                                            "its reasons, and the model's track record")
    risk.add_argument("data_dir", metavar="DATA_DIR")
    risk.add_argument("--horizon", type=int, default=1, metavar="N",
                      help="whole periods after the one that holds the scoring date (default 1)")
    risk.add_argument("--freq", choices=["M", "Q", "Y"], default="Q",
                      help="the period length of the horizon (default Q: quarters)")
    risk.add_argument("--period", metavar="P",
                      help="score the accounts active at the close of this period, e.g. 2026Q2 "
                           "(default: the as-of date)")
    risk.add_argument("--fiscal-year-start", type=_month, default=1, metavar="M",
                      help="first month of the fiscal year, 1-12 (default 1: calendar years)")
    _load_options(risk, fiscal=False)
    risk.add_argument("--out", type=Path, metavar="FILE",
                      help="write every account's score to this .csv or .xlsx file")

    sample = commands.add_parser("sample", help="write generated sample exports to a folder")
    sample.add_argument("out_dir", metavar="OUT_DIR", type=Path)
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--accounts", type=int, default=2000)
    sample.add_argument("--end", default="2026-09-30",
                        help="last day of the generated history (default 2026-09-30)")
    sample.add_argument("--churn", choices=["hazard", "sbg"], default="hazard",
                        help="how accounts churn at a term's end: 'hazard' (the documented churn "
                             "hazard, default) or 'sbg' (each account's renewal chance drawn "
                             "from a beta)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return its exit code."""
    args = _parser().parse_args(argv)
    out = _console()
    err = _console(stderr=True)
    try:
        return _COMMANDS[args.command](args, out)
    except DataValidationError as exc:
        err.print(str(exc), markup=False)
        return EXIT_INVALID
    except (PathNotFoundError, GoalsError) as exc:  # a path that does not exist, a bad goals file
        err.print(f"repkpi {args.command}: {exc}", markup=False)
        return EXIT_USAGE
    except DataFileError as exc:  # the data's files or columns: invalid data
        err.print(f"repkpi {args.command}: {exc}", markup=False)
        return EXIT_INVALID
    except (KeyError, RepkpiError, OSError) as exc:
        err.print(f"repkpi {args.command}: {exc}", markup=False)
        return EXIT_USAGE


def _validate(args: argparse.Namespace, out: Console) -> int:
    with out.status(Text(f"Loading {args.data_dir} ...")):
        data = _load(args, "quarantine")
    summary = data.summary()
    for rec in summary.itertuples(index=False):
        mark = "ok" if rec.rejected == 0 else f"{rec.rejected:,} invalid row(s)"
        notes = [f"delimiter {rec.delimiter!r}"] if rec.delimiter else []
        if rec.trimmed:
            notes.append(f"{rec.trimmed:,} cell(s) trimmed")
        if rec.never:
            notes.append(f"{rec.never:,} far-out end date(s) read as empty")
        if rec.deleted:
            notes.append(f"deleted records set aside: {rec.deleted:,}")
        if rec.trailer:
            notes.append(f"report trailer of {rec.trailer:,} line(s) left out")
        notes += cut_words(rec.table, rec.after_as_of, rec.changed)
        notes = f"; {', '.join(notes)}" if notes else ""
        out.print(f"{rec.table:<11} {rec.rows:>10,} rows  {mark}   ({rec.source}{notes})",
                  markup=False)
    if summary.empty:
        out.print(f"No table files found in {args.data_dir}.", markup=False)
        return EXIT_INVALID
    for line in _absent_lines(data):
        out.print(line, markup=False)
    for note in data.coverage_notes():
        out.print(f"Note: {note}.", markup=False)
    if data.rejects.empty:
        out.print("All rows are valid.")
        return EXIT_OK
    out.print()
    out.print(_describe_rejects(data.rejects, shown=args.shown), markup=False)
    return EXIT_INVALID


def _absent_lines(data: CrmData) -> list[str]:
    """One line per table with absent columns (``data.absent``): the columns and the KPIs they stop."""
    from repkpi.kpis import KPIS

    lines = []
    for table, columns in (getattr(data, "absent", None) or {}).items():
        if not columns:
            continue
        needs = {f"{table}.{column}" for column in columns}
        stopped = [name for name, spec in KPIS.items() if needs.intersection(spec.needs)]
        stops = f"; stops {', '.join(stopped)}" if stopped else "; no KPI needs them"
        lines.append(f"Absent: {table} has no {', '.join(columns)} column(s){stops}.")
    return lines


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


def _goals(args: argparse.Namespace) -> tuple[Path, object]:
    """The goals file a command reads (``--goals``, else DATA_DIR/goals.toml) and its goals."""
    from repkpi.goals import DEFAULT_GOALS, load_goals

    goals_file = args.goals or (Path(args.data_dir) / "goals.toml")
    return goals_file, load_goals(goals_file) if args.goals or goals_file.is_file() \
        else DEFAULT_GOALS


def _report(args: argparse.Namespace, out: Console) -> int:
    from repkpi.goals import DEFAULT_GOALS
    from repkpi.report import write_report

    goals_file, goals = _goals(args)
    check_out_folder(args.out, args.data_dir)  # before the work, not after it
    with out.status(Text(f"Loading {args.data_dir} ...")) as status:
        data = _load(args, args.errors)
        page = write_report(data, args.out, goals=goals, freq=args.freq, period=args.period,
                            fiscal_year_start=args.fiscal_year_start, data_dir=args.data_dir,
                            progress=lambda msg: status.update(Text(f"{msg} ...")))
    out.print(f"Goals: {goals_file if goals is not DEFAULT_GOALS else 'the default goals'}",
              markup=False)
    if len(data.rejects):
        out.print(f"{len(data.rejects[_row_columns(data.rejects)].drop_duplicates()):,} invalid "
                  "row(s) set "
                  f"aside in {args.out / 'rejects.csv'}", markup=False)
    out.print(f"Report written to {page} (and report.xlsx, scorecard.csv, the charts beside it)",
              markup=False)
    return EXIT_OK


def _kpis(args: argparse.Namespace, out: Console) -> int:
    import pandas as pd

    from repkpi.kpis import UNITS, compute
    from repkpi.periods import period_label

    with out.status(Text(f"Loading {args.data_dir} ...")):
        data = _load(args, args.errors)
    with out.status(Text("Computing the KPIs ...")):
        result = compute(data, freq=args.freq, by=args.by, window=args.window,
                         fiscal_year_start=args.fiscal_year_start or 1)
    if result.empty:
        out.print("No KPI could be computed from these tables.")
        return EXIT_USAGE
    last = result.groupby("kpi", sort=False)["period"].transform("max")
    table = result[result["period"] == last].drop(columns=["numerator", "denominator"])
    # As a person reads them: the period as printed, each value in its unit's format.
    labels = {p: period_label(p) for p in pd.unique(table["period"])}
    table = table.assign(period=table["period"].map(labels),
                         value=_formatted(table["value"], table["kpi"].map(UNITS)))
    out.print(table.to_string(index=False), markup=False)
    for name, reason in result.attrs.get("skipped", {}).items():
        out.print(f"skipped {name}: {reason}", markup=False)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        result.to_csv(args.out, index=False)
        out.print(f"All periods written to {args.out}", markup=False)
    return EXIT_OK


_SHOWN = 50
"""Rows that ``repkpi detail`` prints at most; ``--out`` writes them all."""
_WRITERS = (".csv", ".xlsx")


def _detail(args: argparse.Namespace, out: Console) -> int:
    from repkpi.kpis import KPIS, detail

    if args.kpi not in KPIS:
        raise OptionError(f"Unknown KPI {args.kpi!r}.\nHint: one of {', '.join(sorted(KPIS))}.")
    _check_out_file(args.out)
    options = dict(args.options)
    by = args.by[0] if args.by and len(args.by) == 1 else args.by
    with out.status(Text(f"Loading {args.data_dir} ...")):
        data = _load(args, args.errors)
    try:
        with out.status(Text(f"Listing the rows of {args.kpi} in {args.period} ...")):
            rows = detail(data, args.kpi, period=args.period, by=by, only=args.only,
                          fiscal_year_start=args.fiscal_year_start, window=args.window,
                          **options)
    except MissingTableError as exc:  # the data lacks a table the KPI needs: a data problem
        _console(stderr=True).print(
            f"repkpi detail: {exc}", markup=False)
        return EXIT_INVALID
    if len(data.rejects):
        out.print(f"{len(data.rejects[_row_columns(data.rejects)].drop_duplicates()):,} invalid "
                  "row(s) set aside (repkpi validate lists them)", markup=False)
    if args.out:
        write_rows(rows, args.out, sheet="detail")
        out.print(f"{len(rows):,} row(s) of {args.kpi} in {args.period} written to {args.out}",
                  markup=False)
        return EXIT_OK
    out.print(f"{args.kpi} in {args.period}: {len(rows):,} row(s)", markup=False)
    if len(rows):
        table = _rows_table(rows.head(_SHOWN))
        # At its natural width, whatever the terminal's: squeezed columns would cut ids and dates.
        width = Measurement.get(out, out.options.update(width=100_000), table).maximum
        _console(file=out.file, width=width).print(table)
    if len(rows) > _SHOWN:
        out.print(f"... and {len(rows) - _SHOWN:,} more row(s); --out FILE.csv writes them all.",
                  markup=False)
    return EXIT_OK


def _explain(args: argparse.Namespace, out: Console) -> int:
    from repkpi.explain import explain
    from repkpi.kpis import KPIS, UNITS
    from repkpi.review import clock_of

    if args.kpi not in KPIS:
        raise OptionError(f"Unknown KPI {args.kpi!r}.\nHint: one of {', '.join(sorted(KPIS))}.")
    by = args.by[0] if len(args.by) == 1 else args.by
    with out.status(Text(f"Loading {args.data_dir} ...")):
        data = _load(args, args.errors)
    try:
        with out.status(Text(f"Explaining {args.kpi} in {args.period} ...")):
            why = explain(data, args.kpi, period=args.period, by=by, against=args.against,
                          fiscal_year_start=args.fiscal_year_start, window=args.window,
                          **dict(args.options))
    except MissingTableError as exc:  # the data lacks a table the KPI needs: a data problem
        _console(stderr=True).print(
            f"repkpi explain: {exc}", markup=False)
        return EXIT_INVALID
    unit, total = UNITS[args.kpi], why.iloc[-1]
    clock = clock_of(args.kpi, dict(args.options))  # a service KPI says its clock
    out.print(f"{args.kpi}{f' ({clock})' if clock else ''} by {', '.join(args.by)}: "
              f"{_figure(total['value_previous'], unit)} in "
              f"{why.attrs['against']} -> {_figure(total['value_current'], unit)} in "
              f"{why.attrs['period']} (change {_effect(total['contribution'], unit)})",
              markup=False)
    table = _explain_table(why, len(args.by), unit, ratio=KPIS[args.kpi].kind == "ratio")
    width = Measurement.get(out, out.options.update(width=100_000), table).maximum
    _console(file=out.file, width=width).print(table)
    return EXIT_OK


def _explain_table(why: pd.DataFrame, groups: int, unit: str, *, ratio: bool) -> Table:
    """The rows of :func:`repkpi.explain`: values and effects in the KPI's unit."""
    import pandas as pd

    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    # A count or a sum: its value is its numerator, and its contribution its own change.
    shown = [c for c in why.columns[groups:] if ratio or c.startswith("value") or c == "contribution"]
    for column in [*why.columns[:groups], *shown]:
        table.add_column(column, justify="left" if column in why.columns[:groups] else "right")
    for position, record in enumerate(why.to_dict("records")):
        labels = ["(none)" if pd.isna(record[c]) else str(record[c]) for c in why.columns[:groups]]
        cells = [_figure(record[c], unit) if c.startswith("value") else
                 _effect(record[c], unit) if c.endswith(("effect", "contribution"))
                 or c.startswith("change_") else
                 _cell(record[c]) for c in shown]
        table.add_row(*labels, *cells, end_section=position == len(why) - 2)
    return table


def _formatted(values: pd.Series, units: pd.Series) -> pd.Series:
    """Each value as its unit reads (:func:`repkpi.plot.format_value`), never in scientific notation."""
    import pandas as pd

    from repkpi.plot import format_value

    out = pd.Series("", index=values.index, dtype="str")
    for unit in pd.unique(units):
        mine = units == unit
        out[mine] = values[mine].map(lambda value, unit=unit: format_value(value, unit,
                                                                             compact=False))
    return out


def _figure(value: object, unit: str) -> str:
    """A KPI value as it reads (:func:`repkpi.plot.format_value`); missing as blank."""
    import pandas as pd

    from repkpi.plot import format_value

    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    return format_value(float(value), unit, compact=False)


def _effect(value: float, unit: str) -> str:
    """A change of a KPI value, signed: percentage points for a percent, else in the KPI's unit."""
    from repkpi.kpis.units import format_change

    if math.isnan(value):
        return ""
    return format_change(value, unit, decimals=2, compact=False)


def _cell(value: object) -> str:
    """A cell as the terminal shows it: missing as blank, numbers without needless decimals."""
    import pandas as pd

    if isinstance(value, pd.Timestamp) and value == value.normalize() and value.tzinfo is None:
        return value.strftime("%Y-%m-%d")
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:,.0f}" if value.is_integer() else f"{value:,.2f}"
    return str(value)


def _rows_table(rows: pd.DataFrame) -> Table:
    import pandas as pd

    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    for column in rows.columns:
        numeric = pd.api.types.is_numeric_dtype(rows[column]) and not pd.api.types.is_bool_dtype(
            rows[column])
        table.add_column(str(column), justify="right" if numeric else "left")
    for record in rows.astype(object).itertuples(index=False):
        table.add_row(*(_cell(v) for v in record))
    return table


def _risk(args: argparse.Namespace, out: Console) -> int:
    """Print the accounts most at risk and the backtest; ``--out`` writes every account's score."""
    from repkpi.forecast.risk import backtest_line, risk

    _check_out_file(args.out)
    with out.status(Text(f"Loading {args.data_dir} ...")):
        data = _load(args, args.errors)
    try:
        with out.status(Text("Training on the data's past and scoring the accounts ...")):
            scores = risk(data, horizon=args.horizon, freq=args.freq, period=args.period,
                          fiscal_year_start=args.fiscal_year_start)
    except OptionError:
        raise
    except RepkpiError as exc:  # no accounts, or too little history to learn from: the data's
        _console(stderr=True).print(f"repkpi risk: {exc}", markup=False)
        return EXIT_INVALID
    until = scores.attrs["until"]
    out.print(f"{len(scores):,} active account(s) scored on {scores.attrs['scored_on']:%Y-%m-%d}, "
              f"churn by {until:%Y-%m-%d}; ARR at risk {_figure(scores['arr_at_risk'].sum(), 'money')}",
              markup=False)
    out.print(f"Backtest: {backtest_line(scores)}", markup=False)
    if args.out:
        write_rows(scores, args.out, sheet="risk")
        out.print(f"{len(scores):,} account(s) written to {args.out}", markup=False)
        return EXIT_OK
    if len(scores):
        top = scores.head(_SHOWN)
        shown = top.assign(probability=top["probability"].map("{:.0%}".format),
                           arr=[_figure(v, "money") for v in top["arr"]],
                           arr_at_risk=[_figure(v, "money") for v in top["arr_at_risk"]])
        table = _rows_table(shown[["account_id", "account_name", "probability", "band", "arr",
                                   "arr_at_risk", "drivers"]])
        width = Measurement.get(out, out.options.update(width=100_000), table).maximum
        _console(file=out.file, width=width).print(table)
    if len(scores) > _SHOWN:
        out.print(f"... and {len(scores) - _SHOWN:,} more; --out FILE.csv writes them all.",
                  markup=False)
    return EXIT_OK


def _sample(args: argparse.Namespace, out: Console) -> int:
    from repkpi.datasets.generator import write_sample

    if args.accounts < 1:
        raise RepkpiError(f"--accounts must be at least 1, got {args.accounts}.")
    with out.status(Text("Generating sample data ...")) as status:
        folder = write_sample(args.out_dir, seed=args.seed, accounts=args.accounts, end=args.end,
                              churn=args.churn, progress=lambda msg: status.update(Text(msg)))
    out.print(f"Sample data written to {folder}", markup=False)
    return EXIT_OK


def _check(args: argparse.Namespace, out: Console) -> int:
    """Print the findings, most important first; exit 3 when one is more than a note."""
    from repkpi.checks import NOTES, check, needs_a_look

    _, goals = _goals(args)
    with out.status(Text(f"Loading {args.data_dir} ...")) as status:
        data = _load(args, args.errors)
        status.update(Text("Checking the goals, changes and groups ..."))
        found = check(data, goals, period=args.period, fiscal_year_start=args.fiscal_year_start)
    if args.json is not None:
        records = found.astype(object).where(found.notna(), None).to_dict(orient="records")
        text = json.dumps(records, indent=2, ensure_ascii=False)
        staged = args.json.with_name(f".{args.json.name}.partial")
        staged.write_text(text + "\n", encoding="utf-8")
        staged.replace(args.json)  # whole or nothing
    if found.empty:
        out.print("Nothing needs a look.", markup=False)
        return EXIT_OK
    for record in found.itertuples(index=False):
        out.print(f"{'note' if record.kind in NOTES else record.kind}: "
                  f"{record.message}", markup=False)
    return EXIT_LOOK if needs_a_look(found) else EXIT_OK


def _what_it_takes(args: argparse.Namespace, out: Console) -> int:
    """Print each goal's sentence: what must happen in the rest of its period."""
    from repkpi.whatif import what_it_takes

    _check_out_file(args.out)
    _, goals = _goals(args)
    with out.status(Text(f"Loading {args.data_dir} ...")) as status:
        data = _load(args, args.errors)
        status.update(Text("Working out what each goal takes ..."))
        takes = what_it_takes(data, goals, period=args.period,
                              fiscal_year_start=args.fiscal_year_start)
    for record in takes.itertuples(index=False):
        out.print(f"{record.goal} ({record.period_label}, {record.status}): {record.lever}",
                  markup=False)
    if args.out:
        write_rows(takes, args.out, sheet="what it takes")
        out.print(f"{len(takes):,} goal(s) written to {args.out}", markup=False)
    return EXIT_OK


def _check_out_file(path: Path | None) -> None:
    """Refuse an ``--out`` file that is neither .csv nor .xlsx, before the work, not after it."""
    if path and path.suffix.lower() not in _WRITERS:
        raise OptionError(f"--out must end in .csv or .xlsx, got {path.name!r}.")
    if path and path.suffix.lower() == ".xlsx":
        require_openpyxl()


def _renewals(args: argparse.Namespace, out: Console) -> int:
    """Print each period's contracts due and expected renewals, the fit and the backtest."""
    from repkpi.errors import FitError
    from repkpi.forecast import renewals
    from repkpi.periods import period_label

    _check_out_file(args.out)
    by = args.by[0] if args.by and len(args.by) == 1 else args.by
    with out.status(Text(f"Loading {args.data_dir} ...")) as status:
        data = _load(args, args.errors)
        status.update(Text("Fitting the renewal chains ..."))
        try:
            ahead = renewals(data, periods=args.periods, freq=args.freq, by=by,
                             fiscal_year_start=args.fiscal_year_start or 1)
        except (MissingTableError, FitError) as exc:  # the data cannot give a forecast
            _console(stderr=True).print(f"repkpi renewals: {exc}", markup=False)
            return EXIT_INVALID
    groups = list(ahead.columns[:list(ahead.columns).index("period")])
    for rec in ahead.to_dict("records"):
        who = ", ".join(str(rec[c]) for c in groups)
        out.print(f"{who + ' ' if who else ''}{period_label(rec['period'])}: "
                  f"{_figure(rec['due'], 'count')} contracts due "
                  f"({_figure(rec['due_arr'], 'money')} ARR); expected renewals "
                  f"{_figure(rec['expected'], 'count')} (80%: {_figure(rec['expected_low'], 'count')}"
                  f"-{_figure(rec['expected_high'], 'count')}), renewed ARR "
                  f"{_figure(rec['renewed_arr'], 'money')}, renewal rate "
                  f"{_figure(rec['renewal_rate'], 'percent') or 'n/a'}", markup=False)
    for rec in ahead.attrs["fit"].to_dict("records"):
        who = ", ".join(str(rec[c]) for c in groups)
        out.print(f"Fit{' of ' + who if who else ''}: {rec['chains']:,} chains ({rec['lost']:,} lost, "
                  f"{rec['censored']:,} running); alpha {rec['alpha']:.3f} (se {rec['alpha_se']:.3f}), "
                  f"beta {rec['beta']:.3f} (se {rec['beta_se']:.3f})"
                  f"{'' if rec['converged'] else ', not converged'}", markup=False)
    backtest, mae = ahead.attrs["backtest"], ahead.attrs["backtest_mae"]
    quarters = ", ".join(
        f"{''.join(str(r[c]) + ' ' for c in groups)}{period_label(r['period'])} "
        f"{_figure(r['forecast'], 'percent') or 'n/a'} against "
        f"{_figure(r['actual'], 'percent') or 'n/a'}" for r in backtest.to_dict("records"))
    out.print(f"Backtest (fitted a year earlier; forecast against actual renewal rate): {quarters}; "
              f"mean absolute error {'n/a' if math.isnan(mae) else f'{mae:.1f} points'}", markup=False)
    if args.out:
        write_rows(ahead.assign(period=ahead["period"].astype(str)), args.out, sheet="renewals")
        out.print(f"{len(ahead):,} row(s) written to {args.out}", markup=False)
    return EXIT_OK


_COMMANDS = {"validate": _validate, "report": _report, "kpis": _kpis, "detail": _detail,
             "explain": _explain, "check": _check, "what-it-takes": _what_it_takes,
             "renewals": _renewals, "sample": _sample, "risk": _risk}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
