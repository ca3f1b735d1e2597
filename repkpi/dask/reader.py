"""``repkpi.load(path, engine="dask")``: tables as Dask DataFrames, one partition per file.

A table is a file named after it (``tickets.csv``, ``tickets.parquet``) or a
folder of part files (``tickets/part-0001.parquet``, ...; CSV and Parquet,
in sub-folders too). ``path`` may be a local folder, a glob of folders, or
any URL that fsspec knows (``s3://bucket/exports/``).

Validation runs on the partitions with the same files, parsing, schemas and
rules as the pandas engine (:mod:`repkpi.io.files`, :mod:`repkpi.io.parsing`,
:mod:`repkpi.io.validation`), in up to three passes: accounts first (their
ids are what the other tables refer to), then every other table at once,
then ``ticket_events`` (each event's ``ticket_id`` must be a ticket; the
events of a rejected ticket are rejected with it). The ids referred to stay
on the workers: the client never holds them. A contract's ``renewal_of``
must name an earlier term of the same account, with no loop, across all the
files of contracts: their renewal columns are put together on a worker,
which hands back the failures only. Keys must be unique
across the whole table, not just within a file: each partition hands back a
64-bit hash of each key (only the files whose key ranges overlap: exports
split by date or id range skip this), and the few hashes seen more than once
are checked against the actual values. Failures name the file and its row; in
quarantine mode the failing rows are left out of the partitions when they
are read again for a computation.

:func:`repkpi.load` imports this module when ``engine="dask"`` asks for it
(and says how to install Dask when it is missing); it imports Dask at its top.
"""

from __future__ import annotations

import copy
import os
from typing import Any

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow

from repkpi.errors import DataFileError, DataValidationError, OptionError
from repkpi.io.asof import (
    AsOfLike,
    as_of_date,
    coverage,
    coverage_notes,
    cut,
    from_days,
    latest_recorded,
    recorded_span,
)
from repkpi.io.delimited import TRAILER
from repkpi.io.files import MAX_BYTES, TABLES, file_stamp, read_file, table_parts
from repkpi.io.parsing import failure_records, parse_table
from repkpi.io.validation import (
    NOT_IN_TICKETS,
    REFERENCING,
    SUMMARY_COLUMNS,
    TICKET_REJECTED,
    Errors,
    absent_columns,
    as_report,
    check_errors_option,
    reference_failures,
    rejected_accounts,
    renewal_failures,
    unique_check,
    unique_keys,
    validate_table,
)
from repkpi.schemas import COLUMNS, RECORDED

__all__ = ["DaskCrmData", "broadcast", "connect", "load_dask", "sorted_labels"]


def sorted_labels(parts: list[Any]) -> pd.Series:
    """The distinct values of several partitions' distinct values, sorted.

    Text comes back as pandas' ``str`` whatever string dtype Dask used, as
    the pandas engine's tables hold it.
    """
    values = [pd.Series(v) for v in parts] or [pd.Series(dtype="str")]
    whole = pd.concat(values, ignore_index=True).drop_duplicates()
    dtype = "str" if isinstance(values[0].dtype, pd.StringDtype) else values[0].dtype
    return whole.sort_values(ignore_index=True).astype(dtype)


_CLIENTS: dict[str, Any] = {}


def connect(address: str) -> Any:
    """Connect to the ``dask.distributed`` scheduler at ``address``; it then runs every computation."""
    try:
        from distributed import Client
    except ImportError as exc:
        raise OptionError("A scheduler address needs dask.distributed, which is not installed.\n"
                          "Hint: pip install 'repkpi[dask]'.") from exc
    if address not in _CLIENTS:
        try:
            _CLIENTS[address] = Client(address, timeout="10s")
        except OSError as exc:
            raise OptionError(f"Cannot reach the Dask scheduler at {address}: {exc}\n"
                              "Hint: check the address (tcp://host:8786) and that the "
                              "scheduler is running.") from exc
    return _CLIENTS[address]


def broadcast(value: Any, client: Any = None) -> Any:
    """``value`` sent once to every worker of a distributed cluster (else one graph key).

    Passing a large object straight to many tasks would copy it into each.
    """
    if client is None:
        try:
            from distributed import get_client

            client = get_client()
        except (ImportError, ValueError):  # no dask.distributed, or no client
            return dask.delayed(value, pure=True)
    return client.scatter(value, broadcast=True, hash=False)


class DaskCrmData:
    """Validated CRM tables as Dask DataFrames (``None`` when absent).

    Made by :func:`repkpi.load` with ``engine="dask"``. Every KPI,
    :func:`repkpi.compute` and :func:`repkpi.scorecard` take it as they take
    :class:`~repkpi.CrmData` and return the same small pandas frames.

    Attributes
    ----------
    rejects : DataFrame
        Columns ``table``, ``file``, ``row``, ``column``, ``check``, ``value``:
        one row per failure of a rejected row (empty in strict mode). ``row``
        is the 1-based data row in ``file``.
    sources : dict
        The files of each table, in partition order.
    client : distributed.Client or None
        The client of the ``scheduler`` given to :func:`repkpi.load`, which
        then runs the KPIs; None runs them on Dask's current scheduler.
    rows_read : dict
        Rows read per table.
    cache : dict
        What the KPIs found of the whole data (``"facts"``: the facts
        gathered at load), kept for reuse.
    results : dict
        The result of each KPI call computed on the data, kept for the same
        call later (see :mod:`repkpi.kpis.shared`).
    stamps : dict
        The size and modification time of each file when it was loaded:
        each later read of a file compares them and stops with an error
        naming the file when they differ (it changed since).
    absent, absent_hints : dict
        As ``CrmData``'s: the optional columns a table's files do not have
        (a column absent from any of its files is absent), loaded as empty.
    """

    def __init__(self, parts: dict[str, list[str]], rejects: pd.DataFrame,
                 rows_read: dict[str, int], meta: dict[str, pd.DataFrame],
                 facts: dict[str, Any] | None = None, client: Any = None, *,
                 as_of: pd.Timestamp | None = None,
                 stamps: dict[str, tuple[int, object]] | None = None,
                 max_bytes: int = MAX_BYTES) -> None:
        self.declared_as_of = as_of
        self.client = client
        self.sources = parts
        self.rows_read = rows_read
        self.rejects = rejects
        self.notes: dict[str, dict[str, Any]] = {}
        self.cache: dict[str, Any] = {} if facts is None else {"facts": facts}
        self.results: dict[str, Any] = {}
        self.stamps = {} if stamps is None else stamps
        self.absent: dict[str, list[str]] = {}
        self.absent_hints: dict[str, dict[str, str]] = {}
        for name in TABLES:
            frame = None
            if name in parts:
                frame = dd.from_map(_Part(name, self._dropped(name), as_of, self.stamps, max_bytes),
                                    parts[name],
                                    meta=meta[name], enforce_metadata=False,
                                    label=f"repkpi-{name}")
            setattr(self, name, frame)

    @property
    def as_of(self) -> pd.Timestamp | None:
        """The data's as-of date: declared, else the latest recorded date (see ``CrmData.as_of``)."""
        if self.declared_as_of is not None:
            return self.declared_as_of
        facts = self.cache.setdefault("facts", {})
        if "as_of" not in facts:
            latest = [dask.delayed(latest_recorded)(name, part)
                      for name, frame in self.tables.items() if name in RECORDED
                      for part in frame.to_delayed()]
            (days,) = dask.compute(latest, scheduler=self.client)
            facts["as_of"] = _latest_day(days)
        return facts["as_of"]

    @property
    def coverage(self) -> pd.DataFrame:
        """Each table's first and last recorded dates, its rows, and whether it is stale.

        As ``CrmData.coverage``: one pass over the partitions, then kept.
        """
        if "coverage" not in self.cache:
            spans = {name: [dask.delayed(_span)(name, part) for part in frame.to_delayed()]
                     for name, frame in self.tables.items()}
            (found,) = dask.compute(spans, scheduler=self.client)
            self.cache["coverage"] = _coverage(found, self.as_of)
        return self.cache["coverage"]

    @property
    def scheduled_churn(self) -> int:
        """Accounts whose ``churned_on`` lies after ``as_of`` (see ``CrmData.scheduled_churn``)."""
        if self.accounts is None or self.as_of is None:
            return 0
        if "scheduled_churn" not in self.cache:
            later = (self.accounts["churned_on"] > self.as_of).sum()
            self.cache["scheduled_churn"] = int(dask.compute(later, scheduler=self.client)[0])
        return self.cache["scheduled_churn"]

    def coverage_notes(self) -> list[str]:
        """The coverage in words: stale tables, churn dates after ``as_of``, nothing recorded since.

        See :func:`repkpi.io.asof.coverage_words`; ``validate`` and the report print them.
        """
        return coverage_notes(self)

    def cut_at(self, day: AsOfLike) -> DaskCrmData:
        """The data as it stood at the close of ``day`` (see ``CrmData.cut_at``); lazy, as the data."""
        moment = as_of_date(day)
        earlier = copy.copy(self)
        earlier.declared_as_of = moment
        earlier.cache, earlier.results = {}, {}
        for name, frame in self.tables.items():
            setattr(earlier, name, frame.map_partitions(_Recut(name, moment), meta=frame._meta))
        return earlier

    def _dropped(self, table: str) -> dict[str, np.ndarray]:
        """Zero-based rows of each file of ``table`` that were rejected."""
        rows = self.rejects[self.rejects["table"] == table]
        return {file: np.unique(group["row"].to_numpy(dtype=np.int64) - 1)
                for file, group in rows.groupby("file")}

    @property
    def tables(self) -> dict[str, Any]:
        """The loaded tables by name (absent tables left out)."""
        return {name: getattr(self, name) for name in TABLES if getattr(self, name) is not None}

    def summary(self) -> pd.DataFrame:
        """Rows read, loaded and rejected per table, with the number of files of each.

        The other columns are those of ``CrmData.summary``: ``after_as_of``,
        ``deleted``, ``trailer``, ``changed``, ``delimiter``, ``trimmed`` and
        ``never``, over all the files of a table.
        """
        rejected = self.rejects.groupby("table")[["file", "row"]].apply(
            lambda g: len(g.drop_duplicates())) if len(self.rejects) else pd.Series(dtype=int)
        rows = [{"table": name, "source": f"{len(self.sources[name])} file(s)",
                 "rows": self.rows_read[name],
                 "loaded": (self.rows_read[name] - int(rejected.get(name, 0))
                            - self.notes.get(name, {}).get("after_as_of", 0)),
                 "rejected": int(rejected.get(name, 0)),
                 **{key: self.notes.get(name, {}).get(key, default)
                    for key, default in (("after_as_of", 0), ("deleted", 0), ("trailer", 0),
                                         ("changed", 0), ("delimiter", ""),
                                         ("trimmed", 0), ("never", 0))}}
                for name in self.tables]
        return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)

    def __repr__(self) -> str:
        parts = [f"{name}={len(self.sources[name])} partition(s)" for name in self.tables]
        parts.append(f"rejects={len(self.rejects):,}")
        return f"DaskCrmData({', '.join(parts)})"


class _Part:
    """Reads one file of a table as a typed partition, without its rejected rows, cut at ``as_of``.

    A file whose size or modification time differ from those at load
    (``stamps``) is an error: it changed since it was checked.
    """

    def __init__(self, table: str, dropped: dict[str, np.ndarray],
                 as_of: pd.Timestamp | None = None,
                 stamps: dict[str, tuple[int, object]] | None = None,
                 max_bytes: int = MAX_BYTES) -> None:
        self.table, self.dropped, self.as_of = table, dropped, as_of
        self.stamps, self.max_bytes = stamps or {}, max_bytes

    def __call__(self, file: str) -> pd.DataFrame:
        typed = _typed(self.table, file, self.stamps.get(file), self.max_bytes)  # checked at load
        pyarrow.default_memory_pool().release_unused()  # hand the file's buffers back
        bad = self.dropped.get(file)
        typed = typed if bad is None else typed.drop(index=bad)
        return cut(self.table, typed, self.as_of).frame


class _Recut:
    """Cuts a typed partition at an earlier day (:meth:`DaskCrmData.cut_at`)."""

    def __init__(self, table: str, day: pd.Timestamp | None) -> None:
        self.table, self.day = table, day

    def __call__(self, part: pd.DataFrame) -> pd.DataFrame:
        return cut(self.table, part, self.day).frame


def _span(table: str, part: pd.DataFrame) -> tuple[int | None, int | None, int]:
    """A partition's first and last recorded days, and its rows."""
    return (*recorded_span(table, part), len(part))


def _coverage(spans: dict[str, list[tuple[int | None, int | None, int]]],
              as_of: pd.Timestamp | None) -> pd.DataFrame:
    """The coverage of the whole data from each partition's :func:`_span`."""
    whole = {}
    for name, parts in spans.items():
        firsts = [first for first, _, _ in parts if first is not None]
        lasts = [last for _, last, _ in parts if last is not None]
        whole[name] = (min(firsts) if firsts else None, max(lasts) if lasts else None,
                       sum(n for _, _, n in parts))
    return coverage(whole, as_of)


def load_dask(path: str | os.PathLike[str], errors: Errors = "strict", *,
              scheduler: str | None = None, as_of: AsOfLike | None = None,
              max_bytes: int = MAX_BYTES) -> DaskCrmData:
    """Validate the exports under ``path`` on Dask and return them as lazy tables.

    See :func:`repkpi.load`; ``scheduler`` is the address of a running
    ``dask.distributed`` scheduler (``tcp://host:8786``) to connect to. Each
    file's size and modification time at load are kept: every later read
    of it checks them (see :class:`DaskCrmData`).
    """
    check_errors_option(errors)
    day = as_of_date(as_of)
    client = connect(scheduler) if scheduler is not None else None
    parts = table_parts(str(path))
    failures, rows_read, meta, summaries, notes, stamps, absent = [], {}, {}, {}, {}, {}, {}
    labels: list[dict[str, Any]] = []
    # The referred tables' ids, on the workers: (every id, the ids of rejected rows only).
    refs: dict[str, Any] = {}
    kept: dict[str, list[Any]] = {}
    referred = [t for t, by in (("accounts", REFERENCING), ("tickets", ("ticket_events",)))
                if t in parts and any(r in parts for r in by)]
    for tables in _passes(parts):
        validated = {t: [dask.delayed(_validate)(t, f, refs.get(_REFERS.get(t, "")),
                                                 t in referred, as_of=day, max_bytes=max_bytes)
                         for f in parts[t]]
                     for t in tables}
        for table in referred:
            if table in validated:  # their ids stay on the workers, for the references
                # (held here until the references are checked: a task's arguments do not hold them)
                validated[table] = kept[table] = _persist(client, validated[table])
        # The client takes each file's summary; the labels are merged on the workers.
        tasks = {"done": {t: [dask.delayed(_for_client)(v) for v in found]
                          for t, found in validated.items()},
                 "labels": _tree([dask.delayed(_labels_of)(v)
                                        for found in validated.values() for v in found]),
                 "renewals": [dask.delayed(_renewals)([dask.delayed(_renewals_of)(v)
                                                       for v in validated["contracts"]],
                                                      parts["contracts"])]
                 if "contracts" in validated else []}
        (computed,) = dask.compute(tasks, scheduler=client)
        done = computed["done"]
        labels.append(computed["labels"])
        failures += computed["renewals"]
        for table, results in done.items():
            rows_read[table] = sum(r["rows"] for r in results)
            notes[table] = {
                "delimiter": ", ".join(dict.fromkeys(r["notes"]["delimiter"] for r in results
                                                     if r["notes"]["delimiter"])),
                **{key: sum(r["notes"][key] for r in results)
                   for key in ("never", "trimmed", "after_as_of", "changed", "recorded_after",
                               "trailer")}}
            meta[table] = _meta(table, parts[table], results)
            lacking = {c for r in results for c in r["absent"]}
            if lacking:
                absent[table] = [c.name for c in COLUMNS[table] if c.name in lacking]
            failures += [r["failures"] for r in results]
            summaries[table] = [r["facts"] for r in results]
            stamps.update((file, r["stamp"]) for file, r in zip(parts[table], results, strict=True))
        failures += _repeated_keys(client, parts, done, failures, stamps, max_bytes)
        for table in referred:
            if table in validated:
                # Computed on a worker and sent from there to those that check references.
                refs[table] = dask.delayed(_known_ids)(
                    [dask.delayed(_ids_of)(v) for v in validated[table]],
                    _rejected_rows(table, parts[table], failures))
    del kept  # the referred ids on the workers are released
    report = as_report(failures, by_file=True)
    if errors == "strict" and len(report):
        raise DataValidationError(report)
    # With rows rejected across files, the facts of the kept rows are found again when needed.
    facts = None if len(report) else _whole(summaries, _merge_labels(*labels))
    data = DaskCrmData(parts, report, rows_read, meta, facts, client, as_of=day, stamps=stamps,
                       max_bytes=max_bytes)
    data.notes, data.absent = notes, absent
    if facts is not None:  # no row rejected: each file's kept rows are those of the tables
        data.cache["coverage"] = _coverage(
            {t: [p["span"] for p in found] for t, found in summaries.items()}, data.as_of)
    return data


_REFERS = {**dict.fromkeys(REFERENCING, "accounts"), "ticket_events": "tickets"}
"""The table whose ids each table refers to (``account_id``; ``ticket_id`` for the events)."""
_ID = {"accounts": "account_id", "tickets": "ticket_id"}


def _passes(parts: dict[str, list[str]]) -> list[list[str]]:
    """The tables validated together, in turn: each after the tables it refers to."""
    first = [t for t in ("accounts",) if t in parts]
    last = [t for t in ("ticket_events",) if t in parts and "tickets" in parts]
    middle = [t for t in parts if t not in first and t not in last]
    return [tables for tables in (first, middle, last) if tables]


def _typed(table: str, file: str, stamp: tuple[int, object] | None = None,
           max_bytes: int = MAX_BYTES) -> pd.DataFrame:
    """One partition, typed (its failures are found by :func:`_validate`).

    ``stamp``: the file's size and modification time when it was first read;
    a file that changed since is an error.
    """
    return parse_table(table, read_file(file, max_bytes=max_bytes, stamp=stamp), file)[0]


def _persist(client: Any, values: list[Any]) -> list[Any]:
    """``values`` computed and kept where they were computed (the workers of a cluster)."""
    if client is not None:
        return client.persist(values)
    return list(dask.persist(*values))


def _for_client(result: dict[str, Any]) -> dict[str, Any]:
    """A file's validation result without what grows with its rows (ids, renewals, labels)."""
    facts = {k: v for k, v in result["facts"].items() if k != "labels"}
    return {**{k: v for k, v in result.items() if k not in ("ids", "renewals")}, "facts": facts}


def _labels_of(result: dict[str, Any]) -> dict[str, Any]:
    return result["facts"]["labels"]


def _ids_of(result: dict[str, Any]) -> pd.Series:
    return result["ids"]


def _renewals_of(result: dict[str, Any]) -> pd.DataFrame:
    return result["renewals"]


_RENEWAL_COLUMNS = ["contract_id", "account_id", "start_date", "renewal_of"]
"""The columns of contracts that :func:`~repkpi.io.validation.renewal_failures` reads."""


def _renewals(parts: list[pd.DataFrame], files: list[str]) -> pd.DataFrame:
    """The failures of ``renewal_of`` over every file of contracts (run on a worker).

    ``parts``: each file's renewal columns, in the order of ``files``; a
    failure names its file and its row there.
    """
    whole = pd.concat(parts, ignore_index=False)
    names = pd.Series(np.repeat(np.array(files, dtype=object), [len(p) for p in parts]))
    found = renewal_failures(whole.reset_index(drop=True), rows=whole.index, files=names)
    return (pd.concat(found, ignore_index=True) if found
            else failure_records("contracts", "", "", pd.Index([]), None).assign(file=""))


def _merge_labels(*found: dict[str, Any]) -> dict[str, Any]:
    """The distinct values of each column over several files' labels; None past ``_FEW``.

    A column is None when one file has too many values to list, or all
    files together have: labels are facts the client keeps, so they stay few.
    """
    out: dict[str, Any] = {}
    for labels in found:
        for column, values in labels.items():
            if column in out and (out[column] is None or values is None):
                out[column] = None
            elif column in out:
                out[column] = pd.concat([pd.Series(out[column]), pd.Series(values)],
                                        ignore_index=True).drop_duplicates().array
            else:
                out[column] = values
            if out[column] is not None and len(out[column]) > _FEW:
                out[column] = None
    return out


def _tree(labels: list[Any]) -> Any:
    """The labels of many files merged in a tree on the workers (see :func:`_merge_labels`)."""
    if not labels:
        return {}
    while len(labels) > 1:
        labels = [dask.delayed(_merge_labels)(*labels[i:i + 8])
                  for i in range(0, len(labels), 8)]
    return dask.delayed(_merge_labels)(labels[0])


def _hash(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    return pd.util.hash_pandas_object(frame[columns].astype("str"), index=False).to_numpy()


def _validate(table: str, file: str, ids: tuple[pd.Series, pd.Series] | None,
              keep_ids: bool = False, *, as_of: pd.Timestamp | None = None,
              max_bytes: int = MAX_BYTES) -> dict[str, Any]:
    """Parse and check one partition: its failures, row count, columns and range of keys.

    ``ids``: every id of the table this one refers to (accounts; tickets for
    ``ticket_events``), and the ids whose rows were all rejected.
    ``keep_ids``: hand back the table's own ids (other tables refer to them).
    ``as_of``: the declared cut-off; its notes count the valid rows after it
    and the cells it changed, and the facts are those of the rows it keeps.
    The result's ``stamp`` is the file's size and modification time as read.
    """
    stamp = file_stamp(file)
    raw = read_file(file, max_bytes=max_bytes, stamp=stamp)
    notes = {"delimiter": raw.attrs.get("delimiter", ""), "trailer": raw.attrs.get(TRAILER, 0)}
    typed, failures = validate_table(table, raw, file, counts=notes)
    lacking = absent_columns(table, raw.columns)
    del raw
    if ids is not None and table == "ticket_events":
        known, rejected = ids
        failures += reference_failures(table, typed["ticket_id"], known=known, rejected=rejected,
                                       column="ticket_id", checks=(NOT_IN_TICKETS, TICKET_REJECTED))
    elif ids is not None and table in REFERENCING:
        known, rejected = ids
        failures += reference_failures(table, typed["account_id"], known=known, rejected=rejected)
    keys = typed[unique_keys(table)].dropna()
    failures = pd.concat([f for f in failures if len(f)]
                         or [failure_records(table, "", "", pd.Index([]), None)],
                         ignore_index=True).assign(file=file)
    done = cut(table, typed.drop(index=np.unique(failures["row"].to_numpy(np.int64) - 1)), as_of)
    notes.update(after_as_of=done.after, changed=done.changed, recorded_after=done.recorded)
    out = {"rows": len(typed), "failures": failures, "notes": notes, "stamp": stamp,
           "absent": lacking,
           "columns": list(typed.columns), "dtypes": typed.iloc[:0],
           "range": (None if len(keys.columns) > 1 or keys.empty  # None: no range to take
                     else (str(keys.iloc[:, 0].min()), str(keys.iloc[:, 0].max()))),
           "facts": _summary(table, done.frame)}
    if keep_ids:
        out["ids"] = typed[_ID[table]]
    if table == "contracts":  # checked across files (see _renewals)
        out["renewals"] = typed[_RENEWAL_COLUMNS]
    del typed
    pyarrow.default_memory_pool().release_unused()  # a worker reads many files in turn
    return out


_FEW = 10_000
"""A column with at most this many distinct values in a file has its labels found at load."""


def _summary(table: str, kept: pd.DataFrame) -> dict[str, Any]:
    """What the KPIs need to know of the whole data, from one partition's valid rows.

    The first and last value of each date column, the distinct values of the
    columns that have few of them, and the small tables (reps, market)
    whole: nothing that grows with the data, which the client keeps.
    """
    dates = [c.name for c in COLUMNS[table] if c.kind in ("date", "datetime")]
    labels = {}
    for column in kept.columns:
        if column in dates or column in unique_keys(table):
            continue
        labels[column] = None
        if len(kept[column].iloc[:5 * _FEW].dropna().unique()) <= _FEW:  # many? don't look further
            values = kept[column].dropna().unique()
            labels[column] = values if len(values) <= _FEW else None
    out = {"spans": {c: (kept[c].min(), kept[c].max()) for c in dates}, "labels": labels,
           "recorded": latest_recorded(table, kept), "span": _span(table, kept)}
    if table in ("reps", "market"):
        out["frame"] = kept
    return out


def _latest_day(days: list[int | None]) -> pd.Timestamp | None:
    """The latest of the day numbers (None ignored) as a day; None when there is none."""
    known = [d for d in days if d is not None]
    return from_days(max(known)) if known else None


def _whole(summaries: dict[str, list[dict[str, Any]]], labels: dict[str, Any]) -> dict[str, Any]:
    """The facts of the whole data from those of its partitions (see :func:`_summary`).

    ``labels``: the distinct values of the columns that have few (see :func:`_merge_labels`).
    """
    facts: dict[str, Any] = {"spans": {}, "labels": {}}
    facts["as_of"] = _latest_day([p["recorded"] for parts in summaries.values() for p in parts])
    for table, parts in summaries.items():
        for column in parts[0]["spans"]:
            lows = pd.Series([p["spans"][column][0] for p in parts])
            highs = pd.Series([p["spans"][column][1] for p in parts])
            facts["spans"][(table, column)] = (lows.min(), highs.max())
        if table in ("reps", "market"):
            facts[table] = pd.concat([p["frame"] for p in parts])
    for column, values in labels.items():
        if values is not None:
            facts["labels"][column] = sorted_labels([values])
    return facts


def _meta(table: str, files: list[str], results: list[dict]) -> pd.DataFrame:
    """The empty typed frame every partition of ``table`` matches; files must agree on columns."""
    first = results[0]["columns"]
    for file, result in zip(files, results, strict=True):
        if result["columns"] != first:
            raise DataFileError(
                f"{file}: its columns {result['columns']} differ from those of {files[0]} "
                f"({first}).\nHint: every part file of the {table} table needs the same header.")
    return results[0]["dtypes"]


def _overlapping(ranges: list[tuple[str, str] | None]) -> list[int]:
    """Positions of the key ranges (first, last) that overlap another: only they can share a key.

    Examples
    --------
    >>> _overlapping([("A1", "A5"), ("A6", "A9"), ("A4", "A4"), ("B1", "B2")])
    [0, 2]
    """
    marked, cluster, top = [], [], None
    for low, high, index in sorted((r[0], r[1], i) for i, r in enumerate(ranges)):
        if top is not None and low <= top:
            cluster.append(index)
            top = max(top, high)
            continue
        marked += cluster if len(cluster) > 1 else []
        cluster, top = [index], high
    marked += cluster if len(cluster) > 1 else []
    return sorted(marked)


def _key_hashes(table: str, file: str, stamp: tuple[int, object] | None = None,
                max_bytes: int = MAX_BYTES) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of the keys of one partition, and the rows that have a key."""
    typed = _typed(table, file, stamp, max_bytes)
    keys = unique_keys(table)
    present = typed[keys].notna().all(axis=1).to_numpy()
    return _hash(typed[present], keys), np.flatnonzero(present)


def _repeated_keys(client: Any, parts: dict[str, list[str]],
                   done: dict[str, list[dict]], failures: list[pd.DataFrame],
                   stamps: dict[str, tuple[int, object]] | None = None,
                   max_bytes: int = MAX_BYTES) -> list[pd.DataFrame]:
    """Failures for keys repeated across the files of each table in ``done``.

    Files whose key ranges do not overlap cannot share a key; the others
    hand back the hashes of their keys, and repeated hashes are checked
    against the values.
    """
    suspects = {}
    for table, results in done.items():
        if len(unique_keys(table)) > 1:  # no single key to take a range of
            suspects[table] = list(range(len(results))) if len(results) > 1 else []
        else:
            ranges = [(i, r["range"]) for i, r in enumerate(results) if r["range"] is not None]
            suspects[table] = [ranges[j][0] for j in _overlapping([r for _, r in ranges])]
    stamps = stamps or {}
    tasks = {table: [dask.delayed(_key_hashes)(table, parts[table][i],
                                               stamps.get(parts[table][i]), max_bytes)
                     for i in found]
             for table, found in suspects.items() if found}
    if not tasks:
        return []
    (hashes,) = dask.compute(tasks, scheduler=client)
    out = []
    for table, found in hashes.items():
        files = [parts[table][i] for i in suspects[table]]
        out += _duplicates(table, files, found, failures, stamps, max_bytes)
    return out


def _duplicates(table: str, files: list[str], hashes: list[tuple[np.ndarray, np.ndarray]],
                failures: list[pd.DataFrame], stamps: dict[str, tuple[int, object]] | None = None,
                max_bytes: int = MAX_BYTES) -> list[pd.DataFrame]:
    """Failures for keys that repeat across partitions (repeats within one are found already)."""
    if len(files) < 2:
        return []
    values = np.concatenate([h for h, _ in hashes])
    part = np.repeat(np.arange(len(files)), [len(h) for h, _ in hashes])
    order = np.lexsort((part, values))
    values, part = values[order], part[order]
    same = values[1:] == values[:-1]
    across = same & (part[1:] != part[:-1])
    if not across.any():
        return []
    suspects = np.unique(values[1:][across])
    keys = unique_keys(table)
    candidates = []
    for index in np.unique(part[np.isin(values, suspects)]):
        typed = _typed(table, files[index], (stamps or {}).get(files[index]), max_bytes)
        present = typed[keys].notna().all(axis=1)
        rows = typed[present]
        mask = np.isin(_hash(rows, keys), suspects)
        found = rows.loc[mask, keys].astype("str")
        candidates.append(found.assign(_file=files[index], _part=index,
                                       _row=found.index.to_numpy(dtype=np.int64)))
    cases = pd.concat(candidates, ignore_index=True)
    parts = cases.groupby(keys)["_part"].transform("nunique")
    cases = cases[parts > 1]
    check = unique_check(table)
    reported = as_report(failures, by_file=True)
    reported = reported[(reported["table"] == table) & (reported["check"] == check)]
    seen = set(zip(reported["file"], reported["row"].astype(np.int64), strict=True))
    out = []
    for file, group in cases.groupby("_file"):
        rows = [r for r in group["_row"] if (file, r + 1) not in seen]
        if rows:
            column = keys[0]
            values = group.set_index("_row")[column]
            out.append(failure_records(table, column, check, pd.Index(rows), values)
                       .assign(file=file))
    return out


def _rejected_rows(table: str, files: list[str],
                   failures: list[pd.DataFrame]) -> dict[int, np.ndarray]:
    """The zero-based rows of each file of ``table`` (by position) that were rejected."""
    report = as_report(failures, by_file=True)
    report = report[report["table"] == table]
    lookup = {file: i for i, file in enumerate(files)}
    return {lookup[file]: group["row"].to_numpy(np.int64) - 1
            for file, group in report.groupby("file")}


def _known_ids(parts: list[pd.Series],
               rejected: dict[int, np.ndarray]) -> tuple[pd.Series, pd.Series]:
    """Every id of a table (accounts, tickets), and those whose every row was rejected.

    The rows that refer to a rejected id are rejected with it (they cascade).

    Run on a worker, from the ids each file's validation kept there:
    the client never holds them.
    """
    ids = pd.concat(parts, ignore_index=True)
    bad = np.concatenate([part.index.isin(rejected.get(i, [])) for i, part in enumerate(parts)]
                         or [np.zeros(0, dtype=bool)])
    # Arrow-backed text: sent to the workers and looked up without conversion.
    known = pd.Series(ids.dropna().unique(), dtype="str")
    return known, rejected_accounts(ids, bad)
