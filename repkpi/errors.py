"""Errors raised by repkpi.

Every error derives from :class:`RepkpiError` (itself a :class:`ValueError`);
specific errors also inherit the matching builtin so that ordinary ``except``
clauses keep working. Messages say what was expected, what was found, and end
with a ``Hint:``.
"""

from __future__ import annotations

import pandas as pd

__all__ = [
    "AbsentColumnError",
    "ColumnNotFoundError",
    "DataFileError",
    "DataValidationError",
    "FitError",
    "GoalsError",
    "HistoryError",
    "MissingColumnError",
    "MissingTableError",
    "OptionError",
    "PathNotFoundError",
    "RepkpiError",
]


class RepkpiError(ValueError):
    """Base class of every error repkpi raises on purpose."""


class ColumnNotFoundError(KeyError, RepkpiError):
    """A column (a required one, or a ``by`` dimension) does not exist."""

    def __str__(self) -> str:
        # KeyError quotes its argument; a message reads better unquoted.
        return str(self.args[0]) if self.args else ""


class DataFileError(RepkpiError):
    """A data file cannot be used at all: unreadable, empty, misnamed, incomplete."""


class PathNotFoundError(DataFileError):
    """The data path given does not exist (a usage error, not a data error)."""


class MissingColumnError(ColumnNotFoundError, DataFileError):
    """A table's file lacks a column that the data model requires."""


class MissingTableError(LookupError, RepkpiError):
    """A KPI needs a table that was not loaded."""


class AbsentColumnError(MissingTableError):
    """A KPI (or its ``by``) needs an optional column that the export does not have.

    The column was absent from the file (or not mapped): the data lists it in
    ``data.absent``, and the KPI refuses rather than read every row as empty.
    """


class OptionError(TypeError, RepkpiError):
    """An option that a function does not take, or takes with another value."""


class FitError(RepkpiError):
    """A model cannot be fitted to what it was given (a survivor curve that rises, too few terms)."""


class HistoryError(RepkpiError):
    """A forecast needs more of the data's past than it holds (nothing to learn from)."""


class GoalsError(RepkpiError):
    """A goals file or goal definition is invalid."""


class DataValidationError(RepkpiError):
    """Rows of the input data break the rules of the data model.

    Attributes
    ----------
    report : pandas.DataFrame
        One row per failure, with columns ``table``, ``row`` (1-based data row
        of the source file, header excluded), ``column``, ``check`` and
        ``value``; with ``engine="dask"`` also ``file``, the part file of the row.
    """

    def __init__(self, report: pd.DataFrame, *, shown: int = 10,
                 sources: dict[str, str] | None = None) -> None:
        self.report = report
        super().__init__(format_failures(report, shown=shown, sources=sources))


def show_value(value: object) -> str:
    """Quote a reported value; a missing one reads ``<empty>``."""
    return "<empty>" if value is None or value is pd.NA or value != value else repr(value)


def format_failures(report: pd.DataFrame, *, shown: int = 10,
                    sources: dict[str, str] | None = None) -> str:
    """Render a failure report as a readable message.

    The message gives the number of failures, the first ``shown`` of them
    (each with its file when the report has a ``file`` column), the counts
    per table and check, the file of each table (``sources``) and a hint.
    """
    sources = sources or {}
    where_cols = ["table", "file"] if "file" in report.columns else ["table"]
    n_rows = len(report[[*where_cols, "row"]].drop_duplicates())
    lines = [
        f"{len(report)} validation failure(s) in {n_rows} row(s) of "
        f"{report['table'].nunique()} table(s)."
    ]
    lines.append("First failures:")
    for rec in report.head(shown).itertuples(index=False):
        where = f"row {rec.row}" if pd.notna(rec.row) else "file"
        if "file" in report.columns:
            where = f"{rec.file}, {where}"
        lines.append(
            f"  {rec.table}: {where}, column {rec.column!r}: {rec.check} (value: {show_value(rec.value)})"
        )
    if len(report) > shown:
        lines.append(f"  ... and {len(report) - shown} more")
    lines.append("Failures per check:")
    counts = report.groupby(["table", "column", "check"], sort=True, dropna=False).size()
    for (table, column, check), n in counts.items():
        lines.append(f"  {table}.{column}: {check}: {n}")
    named = [t for t in dict.fromkeys(report["table"]) if t in sources]
    if named and "file" not in report.columns:
        lines.append("Files: " + "; ".join(f"{t}: {sources[t]}" for t in named))
    lines.append(
        "Hint: rows are numbered from 1 after the header line, as in a spreadsheet "
        "(spreadsheet line = row + 1). Fix the export, or load with "
        "errors='quarantine' to set the bad rows aside in data.rejects."
    )
    return "\n".join(lines)
