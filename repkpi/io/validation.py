"""The rules a table must keep: the data model's checks, references to accounts, unique keys.

Used by the pandas reader (:mod:`repkpi.io.loading`) and the Dask reader
(:mod:`repkpi.dask.reader`) alike, so that a rule is named and a failing row
reported the same way by either engine.

Validation is two steps. First every value is parsed into its type
(:func:`~repkpi.io.parsing.parse_table`). Then the typed table is checked
against its pandera schema, all failures collected (:func:`check_table`), and
against the other tables: ``account_id`` must exist in accounts
(:func:`reference_failures`). Each failure is a failure record
(:func:`~repkpi.io.parsing.failure_records`); :func:`as_report` puts them
together.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import numpy as np
import pandas as pd

from repkpi._vector import isin
from repkpi.errors import OptionError
from repkpi.io.delimited import MALFORMED
from repkpi.io.files import TABLES
from repkpi.io.parsing import (
    FILE_REJECT_COLUMNS,
    LINE,
    REJECT_COLUMNS,
    failure_records,
    parse_table,
)
from repkpi.schemas import KEYS

__all__ = [
    "ACCOUNT_REJECTED",
    "NOT_IN_ACCOUNTS",
    "NOT_IN_TICKETS",
    "REFERENCING",
    "SUMMARY_COLUMNS",
    "TICKET_REJECTED",
    "Errors",
    "as_report",
    "cascade_rejects",
    "check_errors_option",
    "check_references",
    "check_table",
    "reference_failures",
    "rejected_accounts",
    "unique_check",
    "unique_keys",
    "validate_table",
]

Errors = Literal["strict", "quarantine"]
SUMMARY_COLUMNS = ["table", "source", "rows", "loaded", "rejected", "after_as_of", "changed",
                   "delimiter", "trimmed", "never"]
"""The columns of a load summary (``CrmData.summary``, on every engine): ``rows`` = ``loaded``
+ ``rejected`` + ``after_as_of``."""
REFERENCING = ("contracts", "deals", "tickets", "surveys", "activities")
"""The tables whose ``account_id`` must be an account of the accounts table."""
NOT_IN_ACCOUNTS = "reference: account_id not in accounts"
ACCOUNT_REJECTED = "reference: the account was rejected"
NOT_IN_TICKETS = "reference: ticket_id not in tickets"
TICKET_REJECTED = "reference: the ticket was rejected"


def check_errors_option(errors: str) -> None:
    """Refuse an ``errors=`` that is neither ``"strict"`` nor ``"quarantine"``.

    Raises
    ------
    OptionError
        For any other value.

    Examples
    --------
    >>> check_errors_option("quarantine")
    >>> check_errors_option("lenient")
    Traceback (most recent call last):
    ...
    repkpi.errors.OptionError: errors must be 'strict' or 'quarantine', got 'lenient'.
    Hint: 'quarantine' loads the valid rows and sets the others aside.
    """
    if errors not in ("strict", "quarantine"):
        raise OptionError(
            f"errors must be 'strict' or 'quarantine', got {errors!r}.\n"
            "Hint: 'quarantine' loads the valid rows and sets the others aside."
        )


def unique_keys(table: str) -> list[str]:
    """The columns whose values (together) must be unique in ``table``: its :data:`~repkpi.schemas.KEYS`.

    Examples
    --------
    >>> unique_keys("deals"), unique_keys("market")
    (['deal_id'], ['period', 'region', 'company'])
    """
    return list(KEYS.get(table, ()))


def unique_check(table: str) -> str:
    """How a report names the failure of a key that repeats in ``table``.

    Examples
    --------
    >>> unique_check("deals")
    'unique: the value appears more than once'
    >>> unique_check("market")
    'unique: (period, region, company) appears more than once'
    """
    keys = unique_keys(table)
    if len(keys) == 1:
        return "unique: the value appears more than once"
    return f"unique: ({', '.join(keys)}) appears more than once"


def validate_table(table: str, raw: pd.DataFrame, source: str, *,
                   counts: dict[str, int] | None = None,
                   today: pd.Timestamp | None = None) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """Parse and check one table read from ``source``: the typed table and its failures.

    ``counts`` and ``today`` are as for :func:`~repkpi.io.parsing.parse_table`.
    A malformed line fails once, on column :data:`~repkpi.io.parsing.LINE`,
    not again for each rule its empty cells break.

    Raises
    ------
    ColumnNotFoundError
        The table lacks a required column.
    """
    malformed = raw.attrs.get(MALFORMED)
    typed, failures = parse_table(table, raw, source, counts=counts, today=today)
    failures.append(check_table(table, typed, raw, failures))
    if malformed:
        rows = np.array(sorted(malformed), dtype=np.int64) + 1
        failures = [f[(f["column"] == LINE) | ~f["row"].isin(rows)] for f in failures]
    return typed, failures


def check_table(table: str, typed: pd.DataFrame, raw: pd.DataFrame,
                type_failures: list[pd.DataFrame]) -> pd.DataFrame:
    """Run the table's pandera schema; one failure record per (row, column, check).

    ``typed`` and ``type_failures`` are what :func:`parse_table` made of
    ``raw``; a value that did not parse is not reported again as missing.
    """
    import pandera.pandas as pa

    from repkpi.io.rules import (  # pandera, when a table is first checked
        PROPERTY_FAILURES,
        REPORTED_AGAINST,
        SCHEMAS,
    )

    try:
        SCHEMAS[table].validate(typed, lazy=True, inplace=True)
        return failure_records(table, "", "", pd.Index([]), None)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    # pandera's "check" is the message declared beside the check (its error=), or pandera's
    # name of a failed column property.
    cases = cases[cases["index"].notna()]
    cases = cases.assign(row_check=cases["check"].map(REPORTED_AGAINST.get(table, {})))
    across = cases["row_check"].notna()
    # pandera lists a row failing a check across columns once per column whose value is
    # present (missing values are dropped), so the rule's own column may be absent, e.g.
    # an empty closed_on: report each failing row once, against the rule's column.
    rows = cases[across].drop_duplicates(["index", "check"])
    cases = pd.concat([cases[~across], rows.assign(column=rows["row_check"])])
    unique = unique_check(table)
    checks = cases["check"].replace({**PROPERTY_FAILURES, "field_uniqueness": unique,
                                     "multiple_fields_uniqueness": unique})
    out = []
    for (column, check), group in cases.groupby([cases["column"], checks], sort=False):
        index = pd.Index(group["index"].astype(np.int64).unique())
        out.append(failure_records(table, column, check, index,
                                   raw[column] if column in raw.columns else None))
    found = (pd.concat(out, ignore_index=True) if out
             else failure_records(table, "", "", pd.Index([]), None))
    if type_failures:
        # A value that did not parse is missing in the typed table; don't report it twice.
        parsed = pd.concat(type_failures)[["row", "column"]].assign(dup=True)
        found = found.merge(parsed, on=["row", "column"], how="left")
        found = found[found["dup"].isna()].drop(columns="dup")
    return found


def reference_failures(table: str, ids: pd.Series, *,
                       known: pd.Series | np.ndarray | None = None,
                       rejected: pd.Series | np.ndarray | None = None,
                       column: str = "account_id",
                       checks: tuple[str, str] = (NOT_IN_ACCOUNTS, ACCOUNT_REJECTED),
                       ) -> list[pd.DataFrame]:
    """Failures of a table's ``account_id`` values ``ids`` (or of another ``column``).

    An id that is not among ``known`` (every account id) is an unknown
    account; one among ``rejected`` (the accounts all of whose rows were
    rejected, see :func:`rejected_accounts`) cascades the rejection.
    ``column`` and ``checks`` (unknown, rejected) name another reference:
    ``ticket_events``' ``ticket_id`` to tickets.
    """
    out = []
    if known is not None:
        bad = ids.notna().to_numpy() & ~isin(ids, known)
        if bad.any():
            out.append(failure_records(table, column, checks[0], ids.index[bad], ids))
    if rejected is not None and len(rejected):
        hit = isin(ids, rejected)
        if hit.any():
            out.append(failure_records(table, column, checks[1], ids.index[hit], ids))
    return out


_TICKETS = {"column": "ticket_id", "checks": (NOT_IN_TICKETS, TICKET_REJECTED)}


def rejected_accounts(ids: pd.Series, rejected: np.ndarray) -> pd.Series:
    """The account ids whose every row is rejected (``rejected``: a mask of the rows of ``ids``).

    An id that is also on a kept row is not rejected: the account exists.

    Examples
    --------
    >>> ids = pd.Series(["A1", "A2", "A2", None], dtype="str")
    >>> list(rejected_accounts(ids, np.array([True, True, False, True])))
    ['A1']
    """
    kept = ids[~rejected].dropna()
    gone = ids[rejected].dropna()
    return pd.Series(gone[~isin(gone, kept)].unique(), dtype="str")


def check_references(typed: dict[str, pd.DataFrame]) -> list[pd.DataFrame]:
    """Failures of the rows of ``typed`` that refer to an account (a ticket) missing from its table."""
    out = []
    if "accounts" in typed:
        known = typed["accounts"]["account_id"].dropna().unique()
        for name in REFERENCING:
            if name in typed:
                out += reference_failures(name, typed[name]["account_id"], known=known)
    if "tickets" in typed and "ticket_events" in typed:
        known = typed["tickets"]["ticket_id"].dropna().unique()
        out += reference_failures("ticket_events", typed["ticket_events"]["ticket_id"],
                                  known=known, **_TICKETS)
    return out


def cascade_rejects(typed: dict[str, pd.DataFrame], report: pd.DataFrame) -> pd.DataFrame:
    """``report`` with the rows that point to a rejected account (or ticket) rejected too."""
    if "accounts" in typed:
        accounts = typed["accounts"]["account_id"]
        bad_rows = report.loc[report["table"] == "accounts", "row"].to_numpy(dtype=np.int64) - 1
        rejected = rejected_accounts(accounts, accounts.index.isin(bad_rows))
        extra = []
        for name in REFERENCING:
            if name in typed and len(rejected):
                extra += reference_failures(name, typed[name]["account_id"], rejected=rejected)
        report = as_report([report, *extra]) if extra else report
    if "tickets" in typed and "ticket_events" in typed:
        tickets = typed["tickets"]["ticket_id"]
        bad_rows = report.loc[report["table"] == "tickets", "row"].to_numpy(dtype=np.int64) - 1
        rejected = rejected_accounts(tickets, tickets.index.isin(bad_rows))
        if len(rejected):
            extra = reference_failures("ticket_events", typed["ticket_events"]["ticket_id"],
                                       rejected=rejected, **_TICKETS)
            report = as_report([report, *extra]) if extra else report
    return report


def as_report(failures: Iterable[pd.DataFrame], *, by_file: bool = False) -> pd.DataFrame:
    """Failure records as one report, in the data model's table order, then by row.

    With ``by_file``, the records have a ``file`` column (a table read from
    several files) and the report has :data:`FILE_REJECT_COLUMNS`.

    Examples
    --------
    >>> list(as_report([]).columns)
    ['table', 'row', 'column', 'check', 'value']
    """
    columns = FILE_REJECT_COLUMNS if by_file else REJECT_COLUMNS
    failures = [f for f in failures if len(f)]
    if not failures:
        return pd.DataFrame({c: pd.Series(dtype="Int64" if c == "row" else "str") for c in columns})
    report = pd.concat(failures, ignore_index=True)
    order = report["table"].map({name: i for i, name in enumerate(TABLES)})
    by = ["_order", *(["file"] if by_file else []), "row", "column"]
    return (report.assign(_order=order).sort_values(by, kind="stable")
            .drop(columns="_order").reset_index(drop=True)[columns])
