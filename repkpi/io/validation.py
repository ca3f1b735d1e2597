"""The rules a table must keep: the data model's checks, references to accounts, unique keys.

Used by the pandas reader (:mod:`repkpi.io.loading`) and the Dask reader
(:mod:`repkpi.dask.reader`) alike, so that a rule is named and a failing row
reported the same way by either engine.

Validation is two steps. First every value is parsed into its type
(:func:`~repkpi.io.parsing.parse_table`). Then the typed table is checked
against its pandera schema, all failures collected (:func:`check_table`), and
against the other tables: ``account_id`` must exist in accounts
(:func:`reference_failures`); and a contract's ``renewal_of`` must name an
earlier term of the same account, with no loop (:func:`renewal_failures`).
Each failure is a failure record
(:func:`~repkpi.io.parsing.failure_records`); :func:`as_report` puts them
together.

The rules import pandera, which takes longer to import than a small table
takes to read: :func:`import_rules_early` starts that import on a thread of
its own while the files are read (Arrow's reader releases the GIL), and the
first check waits for it at the import statement as any import would.
"""

from __future__ import annotations

import functools
import importlib
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from repkpi._threads import thread_map
from repkpi._vector import isin, to_arrow
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
from repkpi.schemas import COLUMNS, KEYS

if TYPE_CHECKING:
    from pandera.pandas import DataFrameSchema

__all__ = [
    "ACCOUNT_REJECTED",
    "NOT_IN_ACCOUNTS",
    "NOT_IN_TICKETS",
    "REFERENCING",
    "RENEWAL_CHECKS",
    "SUMMARY_COLUMNS",
    "TICKET_REJECTED",
    "Errors",
    "absent_columns",
    "as_report",
    "cascade_rejects",
    "check_errors_option",
    "check_references",
    "check_table",
    "import_rules_early",
    "reference_failures",
    "rejected_accounts",
    "renewal_failures",
    "renewal_mistakes",
    "schema_holds",
    "unique_check",
    "unique_keys",
    "validate_table",
]

Errors = Literal["strict", "quarantine"]
SUMMARY_COLUMNS = ["table", "source", "rows", "loaded", "rejected", "after_as_of", "deleted",
                   "trailer", "changed", "delimiter", "trimmed", "never"]
"""The columns of a load summary (``CrmData.summary``, on every engine): ``rows`` = ``loaded``
+ ``rejected`` + ``after_as_of`` + ``deleted``."""
REFERENCING = ("contracts", "deals", "tickets", "surveys", "activities")
"""The tables whose ``account_id`` must be an account of the accounts table."""
NOT_IN_ACCOUNTS = "reference: account_id not in accounts"
ACCOUNT_REJECTED = "reference: the account was rejected"
NOT_IN_TICKETS = "reference: ticket_id not in tickets"
TICKET_REJECTED = "reference: the ticket was rejected"
RENEWAL_CHECKS = {
    "itself": "reference: renewal_of names the contract itself",
    "account": "reference: renewal_of names a contract of another account",
    "later": "reference: renewal_of names a term that does not start before this one",
    "loop": "reference: renewal_of is part of a loop of renewals",
}
"""The failures of a contract's ``renewal_of`` (see :func:`renewal_mistakes`), by kind."""


_EARLY = ("repkpi.io.rules", "pandera.backends.pandas.builtin_checks",
          "pandera.backends.pandas.builtin_hypotheses")
"""What the first check imports: the rules (and pandera with them), and the checks pandera
registers when it first validates a frame (its ``register_pandas_backends``)."""


@functools.cache
def import_rules_early() -> threading.Thread:
    """Start importing pandera and the rules on a thread, once per process, and return the thread.

    Only the import is moved: the checks run where they did, and an import
    that fails raises again, in full, where the first check imports the
    rules. The thread is not a daemon, so that no import is cut short when
    the interpreter exits.

    Examples
    --------
    >>> worker = import_rules_early()
    >>> worker.join()
    >>> import_rules_early() is worker
    True
    """

    def run() -> None:
        for name in _EARLY:
            try:
                importlib.import_module(name)
            except ImportError:
                return  # raised again, where the first check imports it

    worker = threading.Thread(target=run, name="repkpi-import-rules")
    worker.start()
    return worker


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


def absent_columns(table: str, columns: Iterable[str]) -> list[str]:
    """The optional columns of ``table`` that are not among ``columns`` (a file's header).

    Such a column loads as an empty column, and the data lists it in
    ``data.absent``: the export cannot tell, which is not the same as an
    empty cell (data-model.md, "Columns an export does not have").

    Examples
    --------
    >>> absent_columns("deals", ["deal_id", "account_id", "created_on", "stage", "amount"])
    ['rep_id', 'closed_on', 'deal_type', 'channel']
    """
    have = set(columns)
    return [c.name for c in COLUMNS[table] if not c.required and c.name not in have]


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

    if schema_holds(SCHEMAS[table], typed):
        return failure_records(table, "", "", pd.Index([]), None)
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


def schema_holds(schema: DataFrameSchema, typed: pd.DataFrame) -> bool:
    """Whether ``typed`` keeps every rule of ``schema``, proved in one quick pass; False if unsure.

    What pandera's ``schema.validate`` checks, done once each on the typed
    columns: each column is present, of the declared type (a typed column,
    not Python objects), without missing values where it must have them,
    and unique where its values must be; each check of a column and of the
    table is run as pandera runs it (the check object called on the
    column or the table). A key of several columns is checked with
    ``duplicated``. The report of a table that fails comes from pandera
    alone (:func:`check_table`): this only spares a clean table pandera's
    slower pass.

    Parameters
    ----------
    schema : pandera.pandas.DataFrameSchema
        A schema that uses only what this proof knows (no coercion, no
        index, no strict or ordered columns, no regex column names);
        any other schema gives False.
    typed : DataFrame
        The table, as :func:`~repkpi.io.parsing.parse_table` typed it.

    Returns
    -------
    bool
        True only when pandera would find no failure; False when some rule
        is broken, or when the proof cannot tell.

    Examples
    --------
    >>> import pandera.pandas as pa
    >>> schema = pa.DataFrameSchema({"id": pa.Column(str, unique=True),
    ...                              "n": pa.Column(float, pa.Check.ge(0), nullable=True)})
    >>> schema_holds(schema, pd.DataFrame({"id": ["a", "b"], "n": [1.0, None]}))
    True
    >>> schema_holds(schema, pd.DataFrame({"id": ["a", "a"], "n": [1.0, None]}))
    False
    >>> schema_holds(schema, pd.DataFrame({"id": ["a", "b"], "n": [-1.0, None]}))
    False
    """
    from pandera.engines.pandas_engine import Engine

    if (schema.coerce or schema.strict or schema.ordered or schema.index is not None
            or schema.unique_column_names or schema.parsers or schema.add_missing_columns):
        return False
    for name, column in schema.columns.items():
        if column.regex or column.coerce or column.parsers or name not in typed.columns:
            return False
        values = typed[name]
        if values.dtype == object or not column.dtype.check(Engine.dtype(values.dtype)):
            return False
        if (not column.nullable or column.unique) and values.isna().any():
            return False
        if column.unique and not _distinct(values):
            return False
        if not all(check(values).check_passed for check in column.checks):
            return False
    if schema.unique and typed.duplicated(list(schema.unique)).any():
        return False
    return all(check(typed).check_passed for check in schema.checks)


def _distinct(values: pd.Series) -> bool:
    """Whether the values (none missing) are all different: sorted ids need no hash."""
    text = to_arrow(values)
    if len(text) < 2:
        return True
    ascending = pc.greater(text.slice(1), text.slice(0, len(text) - 1))
    if pc.all(ascending).as_py():
        return True
    return pc.count_distinct(text).as_py() == len(text)


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


def renewal_mistakes(contracts: pd.DataFrame) -> dict[str, np.ndarray]:
    """Which contracts' ``renewal_of`` breaks each rule of :data:`RENEWAL_CHECKS` (one mask each).

    ``renewal_of`` names an earlier term of the same account: its
    ``start_date`` is before this contract's. A contract that names itself,
    one that names another account's contract or a term that does not start
    before its own, and every contract of a loop (A renews B, B renews A; or
    longer) break a rule. A ``renewal_of`` that names no contract of the table
    breaks none (the earlier term may predate the export); a value that is
    missing (an empty date, an empty account) is not compared.

    Parameters
    ----------
    contracts : DataFrame
        Typed contracts: ``contract_id``, ``account_id``, ``start_date`` and
        ``renewal_of``, in any index. A repeated ``contract_id`` (which fails
        its own uniqueness check) is looked up at its first row.

    Returns
    -------
    dict
        The kind of each rule (``itself``, ``account``, ``later``, ``loop``)
        -> a boolean array over the rows of ``contracts``.

    Notes
    -----
    Each contract renews at most one, so the renewals are a function from
    rows to rows (none: a row of its own, the sink). A row lies on a loop
    when it is the ``2**k``-th successor of some row, with ``2**k`` at least
    the number of rows: the successors are composed with themselves ``k``
    times, each time one vectorised lookup. A contract that names itself is
    reported as such, not also as a loop.

    Examples
    --------
    >>> contracts = pd.DataFrame({"contract_id": ["C1", "C2", "C3", "C4"],
    ...     "account_id": ["A1", "A1", "A2", "A2"],
    ...     "start_date": pd.to_datetime(["2024-01-01", "2025-01-01", "2024-01-01", "2025-01-01"]),
    ...     "renewal_of": [None, "C1", "C4", "C3"]})
    >>> {kind: rows.nonzero()[0].tolist() for kind, rows in renewal_mistakes(contracts).items()}
    {'itself': [], 'account': [], 'later': [2], 'loop': [2, 3]}
    """
    ids, named = contracts["contract_id"], contracts["renewal_of"]
    n = len(contracts)
    # The row of the contract each one names (its first row), -1 for none: looked up in Arrow.
    found = pc.index_in(to_arrow(named), value_set=to_arrow(ids), skip_nulls=True)
    itself = (named == ids).fillna(False).to_numpy(dtype=bool)
    target = np.where(itself, -1, np.asarray(pc.fill_null(found, -1), dtype=np.int64))
    linked = target >= 0
    at = np.maximum(target, 0)
    accounts = to_arrow(contracts["account_id"])
    other = linked & np.asarray(pc.fill_null(pc.not_equal(accounts, accounts.take(at)), False),
                                dtype=bool)
    starts = contracts["start_date"].to_numpy()
    later = linked & ~np.isnat(starts) & ~np.isnat(starts[at]) & (starts[at] >= starts)
    successor = np.append(np.where(linked, target, n), n)  # row n: the sink
    for _ in range(max(n, 1).bit_length()):  # 2**k >= n steps
        successor = successor[successor]
    loop = np.zeros(n + 1, dtype=bool)
    loop[successor] = True
    return {"itself": itself, "account": other, "later": later, "loop": loop[:n]}


def renewal_failures(contracts: pd.DataFrame, *, rows: pd.Index | None = None,
                     files: pd.Series | None = None) -> list[pd.DataFrame]:
    """Failure records of the contracts whose ``renewal_of`` breaks a rule (:func:`renewal_mistakes`).

    ``rows``: the zero-based row of each contract in its source (default
    the index); ``files``: the file of each (the Dask reader's part files),
    which the records then carry in a ``file`` column.
    """
    rows = contracts.index if rows is None else rows
    values = contracts["renewal_of"].reset_index(drop=True)
    out = []
    for kind, bad in renewal_mistakes(contracts).items():
        if bad.any():
            found = failure_records("contracts", "renewal_of", RENEWAL_CHECKS[kind],
                                    pd.Index(np.flatnonzero(bad)), values)
            found["row"] = pd.array(np.asarray(rows)[bad] + 1, dtype="Int64")
            out.append(found if files is None
                       else found.assign(file=files.to_numpy(dtype=object)[bad]))
    return out


def check_references(typed: dict[str, pd.DataFrame]) -> list[pd.DataFrame]:
    """Failures of the rows of ``typed`` that refer to a missing account (ticket), or renew wrongly.

    See :func:`reference_failures` and :func:`renewal_failures`. The checks
    run side by side (:func:`~repkpi._threads.thread_map`: Arrow's lookups
    release the GIL); their failures come in the order above.
    """
    checks: list[Callable[[], list[pd.DataFrame]]] = []
    if "contracts" in typed:
        checks.append(functools.partial(renewal_failures, typed["contracts"]))
    if "accounts" in typed:
        known = typed["accounts"]["account_id"].dropna().unique()
        checks += [functools.partial(reference_failures, name, typed[name]["account_id"],
                                     known=known)
                   for name in REFERENCING if name in typed]
    if "tickets" in typed and "ticket_events" in typed:
        known = typed["tickets"]["ticket_id"].dropna().unique()
        checks.append(functools.partial(reference_failures, "ticket_events",
                                        typed["ticket_events"]["ticket_id"], known=known,
                                        **_TICKETS))
    return [found for failures in thread_map(lambda check: check(), checks) for found in failures]


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
