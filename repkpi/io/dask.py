"""``repkpi.load(path, engine="dask")``: tables as Dask DataFrames, one partition per file.

A table is a file named after it (``tickets.csv``, ``tickets.parquet``) or a
folder of part files (``tickets/part-0001.parquet``, ...; CSV and Parquet,
in sub-folders too). ``path`` may be a local folder, a glob of folders, or
any URL that fsspec knows (``s3://bucket/exports/``).

Validation runs on the partitions with the same parsing, schemas and rules
as the pandas engine, in two passes: accounts first (their ids are what the
other tables refer to), then every other table at once. Keys must be unique
across the whole table, not just within a file: each partition hands back a
64-bit hash of each key (only the files whose key ranges overlap: exports
split by date or id range skip this), and the few hashes seen more than once
are checked against the actual values. Failures name the file and its row; in
quarantine mode the failing rows are left out of the partitions when they
are read again for a computation.
"""

from __future__ import annotations

import glob as globbing
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow

from repkpi.io import loading
from repkpi._vector import isin
from repkpi.errors import DataFileError, DataValidationError, OptionError
from repkpi.io.loading import _REFERENCING, SUFFIXES, TABLES, Errors
from repkpi.schemas import COLUMNS, SCHEMAS

__all__ = ["DaskCrmData", "load_dask"]

_UNIQUE = "unique: the value appears more than once"
_UNIQUE_MARKET = "unique: (period, region, company) appears more than once"
REJECT_COLUMNS = ["table", "file", "row", "column", "check", "value"]


def _keys(table: str) -> list[str]:
    """The columns whose values (together) must be unique in ``table``."""
    schema = SCHEMAS[table].to_schema()
    if schema.unique:
        return list(schema.unique)
    return [name for name, column in schema.columns.items() if column.unique]


def sorted_labels(parts: list[Any]) -> pd.Series:
    """The distinct values of several partitions' distinct values, sorted.

    Text comes back as pandas' ``str`` whatever string dtype Dask used, as
    the pandas engine's tables hold it.
    """
    values = [pd.Series(v) for v in parts] or [pd.Series(dtype="str")]
    whole = pd.concat(values, ignore_index=True).drop_duplicates()
    dtype = "str" if isinstance(values[0].dtype, pd.StringDtype) else values[0].dtype
    return whole.sort_values(ignore_index=True).astype(dtype)


def require_dask() -> Any:
    """The dask module, with dask.dataframe loaded; a clear error when Dask is not installed."""
    try:
        import dask
        import dask.dataframe  # noqa: F401
    except ImportError as exc:
        raise OptionError(
            "engine='dask' needs Dask, which is not installed.\n"
            "Hint: pip install 'repkpi[dask]'."
        ) from exc
    return dask


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


def broadcast(dask: Any, value: Any, client: Any = None) -> Any:
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
    """

    def __init__(self, parts: dict[str, list[str]], rejects: pd.DataFrame,
                 rows_read: dict[str, int], meta: dict[str, pd.DataFrame],
                 facts: dict[str, Any] | None = None, client: Any = None) -> None:
        dd = require_dask().dataframe
        self.client = client
        self.sources = parts
        self.rows_read = rows_read
        self.rejects = rejects
        self._cache: dict[str, Any] = {} if facts is None else {"facts": facts}
        for name in TABLES:
            frame = None
            if name in parts:
                frame = dd.from_map(_Part(name, self._dropped(name)), parts[name],
                                    meta=meta[name], enforce_metadata=False,
                                    label=f"repkpi-{name}")
            setattr(self, name, frame)

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
        """Rows read, loaded and rejected per table, with the number of files of each."""
        rejected = self.rejects.groupby("table")[["file", "row"]].apply(
            lambda g: len(g.drop_duplicates())) if len(self.rejects) else pd.Series(dtype=int)
        rows = [{"table": name, "source": f"{len(self.sources[name])} file(s)",
                 "rows": self.rows_read[name],
                 "loaded": self.rows_read[name] - int(rejected.get(name, 0)),
                 "rejected": int(rejected.get(name, 0))} for name in self.tables]
        return pd.DataFrame(rows, columns=["table", "source", "rows", "loaded", "rejected"])

    def __repr__(self) -> str:
        parts = [f"{name}={len(self.sources[name])} partition(s)" for name in self.tables]
        parts.append(f"rejects={len(self.rejects):,}")
        return f"DaskCrmData({', '.join(parts)})"


class _Part:
    """Reads one file of a table as a typed partition, without its rejected rows."""

    def __init__(self, table: str, dropped: dict[str, np.ndarray]) -> None:
        self.table, self.dropped = table, dropped

    def __call__(self, file: str) -> pd.DataFrame:
        typed, _ = loading._parse(self.table, _read(file), file)  # checked at load already
        pyarrow.default_memory_pool().release_unused()  # hand the file's buffers back
        bad = self.dropped.get(file)
        return typed if bad is None else typed.drop(index=bad)


def load_dask(path: str | os.PathLike[str], errors: Errors = "strict", *,
              scheduler: str | None = None) -> DaskCrmData:
    """Validate the exports under ``path`` on Dask and return them as lazy tables.

    See :func:`repkpi.load`; ``scheduler`` is the address of a running
    ``dask.distributed`` scheduler (``tcp://host:8786``) to connect to.
    """
    dask = require_dask()
    if errors not in ("strict", "quarantine"):
        raise OptionError(f"errors must be 'strict' or 'quarantine', got {errors!r}.\n"
                          "Hint: 'quarantine' loads the valid rows and sets the others aside.")
    client = connect(scheduler) if scheduler is not None else None
    parts = table_parts(str(path))
    failures, rows_read, meta, summaries = [], {}, {}, {}
    ids = None
    first = (["accounts"] if "accounts" in parts else []), [t for t in parts if t != "accounts"]
    for tables in first:
        tasks = {t: [dask.delayed(_validate)(t, f, ids) for f in parts[t]] for t in tables}
        (done,) = dask.compute(tasks, scheduler=client)
        for table, results in done.items():
            rows_read[table] = sum(r["rows"] for r in results)
            meta[table] = _meta(table, parts[table], results)
            failures += [r["failures"] for r in results]
            summaries[table] = [r["facts"] for r in results]
        failures += _repeated_keys(dask, client, parts, done, failures)
        if tables and tables[0] == "accounts":
            ids = broadcast(dask, _account_ids(parts["accounts"], done["accounts"], failures),
                            client)
    report = _report(failures)
    if errors == "strict" and len(report):
        raise DataValidationError(report)
    # With rows rejected across files, the facts of the kept rows are found again when needed.
    facts = None if len(report) else _whole(summaries)
    return DaskCrmData(parts, report, rows_read, meta, facts, client)


# -- files --------------------------------------------------------------------------------------
def table_parts(path: str) -> dict[str, list[str]]:
    """The files of each table under ``path`` (a folder, a glob of folders, or one file)."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(path)
    roots = sorted(fs.glob(root)) if globbing.has_magic(root) else [root]
    roots = [r for r in roots if fs.exists(r)]
    if not roots:
        raise DataFileError(f"{path}: no such file or folder.\n"
                            "Hint: give the folder that holds the exports (or a glob of folders).")
    found: dict[str, list[str]] = {}
    for base in roots:
        entries = [base] if fs.isfile(base) else sorted(fs.ls(base, detail=False))
        for entry in entries:
            name = entry.rstrip("/").rsplit("/", 1)[-1]
            if fs.isdir(entry):
                if name not in TABLES:
                    continue
                files = sorted(f for f in fs.find(entry) if f.lower().endswith(SUFFIXES))
            else:
                stem, _, suffix = name.rpartition(".")
                if f".{suffix.lower()}" not in SUFFIXES:
                    continue
                if stem not in TABLES:
                    raise DataFileError(
                        f"{entry}: the file name is not a table name. Expected one of "
                        f"{', '.join(f'{t}.csv' for t in TABLES)} (or .parquet, or a folder "
                        "of part files named after the table).\nHint: rename the export after "
                        "the table it holds, or move it out of the folder.")
                name, files = stem, [entry]
            found.setdefault(name, []).extend(fs.unstrip_protocol(f) if fs.protocol not in (
                "file", ("file", "local")) and "file" not in fs.protocol else f for f in files)
    if not found:
        raise DataFileError(f"{path}: no table files found.\nHint: name each export after its "
                            f"table ({', '.join(TABLES)}), as .csv or .parquet, or as a folder "
                            "of part files.")
    return found


def _read(file: str) -> pd.DataFrame:
    """One file as the pandas engine reads it: text for CSV, as stored for Parquet."""
    if os.path.exists(file):
        return loading._read(Path(file))
    import fsspec

    suffix = Path(file.split("?")[0]).suffix.lower()
    with tempfile.TemporaryDirectory() as folder:
        local = Path(folder) / f"part{suffix}"
        try:
            with fsspec.open(file, "rb") as remote, open(local, "wb") as out:
                while chunk := remote.read(1 << 24):
                    out.write(chunk)
        except OSError as exc:
            raise DataFileError(f"{file}: the file cannot be read: {exc}") from exc
        return loading._read(local)


def _parse(table: str, file: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The typed partition and its failures (file column added)."""
    raw = _read(file)
    typed, found = loading._parse(table, raw, file)
    found.append(loading._check(table, typed, raw, found))
    found = [f for f in found if len(f)]
    report = pd.concat(found, ignore_index=True) if found else loading._failures(
        table, "", "", pd.Index([]), None)
    return typed, report.assign(file=file)


def _hash(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    return pd.util.hash_pandas_object(frame[columns].astype("str"), index=False).to_numpy()


def _validate(table: str, file: str,
              ids: tuple[pd.Series, pd.Series] | None) -> dict[str, Any]:
    """Parse and check one partition: its failures, row count, columns and range of keys.

    ``ids``: every account id, and the ids of rejected accounts.
    """
    typed, report = _parse(table, file)
    failures = [report]
    if ids is not None and table in _REFERENCING:
        known, rejected = ids
        ids = typed["account_id"]
        bad = ids.notna().to_numpy() & ~isin(ids, known)
        hit = isin(ids, rejected) if len(rejected) else np.zeros(len(ids), dtype=bool)
        for mask, check in ((bad, "reference: account_id not in accounts"),
                            (hit, "reference: the account was rejected")):
            if mask.any():
                failures.append(loading._failures(table, "account_id", check, ids.index[mask],
                                                  ids).assign(file=file))
    keys = typed[_keys(table)].dropna()
    failures = pd.concat(failures, ignore_index=True)
    out = {"rows": len(typed), "failures": failures,
           "columns": list(typed.columns), "dtypes": typed.iloc[:0],
           "range": (None if len(keys.columns) > 1 or keys.empty  # None: no range to take
                     else (str(keys.iloc[:, 0].min()), str(keys.iloc[:, 0].max()))),
           "facts": _summary(table, typed.drop(
               index=np.unique(failures["row"].to_numpy(np.int64) - 1)))}
    if table == "accounts":
        out["ids"] = typed["account_id"]
    del typed
    pyarrow.default_memory_pool().release_unused()  # a worker reads many files in turn
    return out


_FEW = 10_000
"""A column with at most this many distinct values in a file has its labels found at load."""
_ACCOUNT_FACTS = ["account_id", "rep_id", "customer_since", "churned_on"]


def _summary(table: str, kept: pd.DataFrame) -> dict[str, Any]:
    """What the KPIs need to know of the whole data, from one partition's valid rows.

    The first and last value of each date column, the distinct values of the
    columns that have few of them, the contracts' ``renewal_of`` ids, and
    the small tables (reps, market) and accounts' lookup columns whole.
    """
    dates = [c.name for c in COLUMNS[table] if c.kind in ("date", "datetime")]
    labels = {}
    for column in kept.columns:
        if column in dates or column in _keys(table):
            continue
        labels[column] = None
        if len(kept[column].iloc[:5 * _FEW].dropna().unique()) <= _FEW:  # many? don't look further
            values = kept[column].dropna().unique()
            labels[column] = values if len(values) <= _FEW else None
    out = {"spans": {c: (kept[c].min(), kept[c].max()) for c in dates}, "labels": labels}
    if table == "contracts":
        out["renewal_of"] = kept["renewal_of"].dropna().unique()
    if table in ("reps", "market"):
        out["frame"] = kept
    if table == "accounts":
        out["frame"] = kept[[*_ACCOUNT_FACTS, *(c for c, v in labels.items()
                                               if v is not None and c not in _ACCOUNT_FACTS)]]
    return out


def _whole(summaries: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The facts of the whole data from those of its partitions (see :func:`_summary`)."""
    facts: dict[str, Any] = {"spans": {}, "labels": {}}
    found: dict[str, list] = {}
    for table, parts in summaries.items():
        for column in parts[0]["spans"]:
            lows = pd.Series([p["spans"][column][0] for p in parts])
            highs = pd.Series([p["spans"][column][1] for p in parts])
            facts["spans"][(table, column)] = (lows.min(), highs.max())
        for column in parts[0]["labels"]:
            found.setdefault(column, []).extend(p["labels"][column] for p in parts)
        if table in ("reps", "market"):
            facts[table] = pd.concat([p["frame"] for p in parts])
    for column, values in found.items():
        if all(v is not None for v in values):
            facts["labels"][column] = sorted_labels(values)
    if "contracts" in summaries:
        facts["renewal_of"] = np.unique(np.concatenate(
            [np.asarray(p["renewal_of"], dtype=object) for p in summaries["contracts"]]))
    if "accounts" in summaries:
        facts["accounts"] = pd.concat([p["frame"] for p in summaries["accounts"]])
        facts["accounts_columns"] = list(facts["accounts"].columns)
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


def _key_hashes(table: str, file: str) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of the keys of one partition, and the rows that have a key."""
    typed = loading._parse(table, _read(file), file)[0]
    keys = _keys(table)
    present = typed[keys].notna().all(axis=1).to_numpy()
    return _hash(typed[present], keys), np.flatnonzero(present)


def _repeated_keys(dask: Any, client: Any, parts: dict[str, list[str]],
                   done: dict[str, list[dict]], failures: list[pd.DataFrame]) -> list[pd.DataFrame]:
    """Failures for keys repeated across the files of each table in ``done``.

    Files whose key ranges do not overlap cannot share a key; the others
    hand back the hashes of their keys, and repeated hashes are checked
    against the values.
    """
    suspects = {}
    for table, results in done.items():
        if len(_keys(table)) > 1:  # no single key to take a range of
            suspects[table] = list(range(len(results))) if len(results) > 1 else []
        else:
            ranges = [(i, r["range"]) for i, r in enumerate(results) if r["range"] is not None]
            suspects[table] = [ranges[j][0] for j in _overlapping([r for _, r in ranges])]
    tasks = {table: [dask.delayed(_key_hashes)(table, parts[table][i]) for i in found]
             for table, found in suspects.items() if found}
    if not tasks:
        return []
    (hashes,) = dask.compute(tasks, scheduler=client)
    out = []
    for table, found in hashes.items():
        files = [parts[table][i] for i in suspects[table]]
        out += _duplicates(table, files, found, failures)
    return out


def _duplicates(table: str, files: list[str], hashes: list[tuple[np.ndarray, np.ndarray]],
                failures: list[pd.DataFrame]) -> list[pd.DataFrame]:
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
    keys = _keys(table)
    candidates = []
    for index in np.unique(part[np.isin(values, suspects)]):
        typed = loading._parse(table, _read(files[index]), files[index])[0]
        present = typed[keys].notna().all(axis=1)
        rows = typed[present]
        mask = np.isin(_hash(rows, keys), suspects)
        found = rows.loc[mask, keys].astype("str")
        candidates.append(found.assign(_file=files[index], _part=index,
                                       _row=found.index.to_numpy(dtype=np.int64)))
    cases = pd.concat(candidates, ignore_index=True)
    parts = cases.groupby(keys)["_part"].transform("nunique")
    cases = cases[parts > 1]
    check = _UNIQUE_MARKET if table == "market" else _UNIQUE
    reported = pd.concat([f for f in failures if len(f)] or [pd.DataFrame(columns=REJECT_COLUMNS)])
    reported = reported[(reported["table"] == table) & (reported["check"] == check)]
    seen = set(zip(reported["file"], reported["row"].astype(np.int64), strict=True))
    out = []
    for file, group in cases.groupby("_file"):
        rows = [r for r in group["_row"] if (file, r + 1) not in seen]
        if rows:
            column = keys[0]
            values = group.set_index("_row")[column]
            out.append(loading._failures(table, column, check, pd.Index(rows), values)
                       .assign(file=file))
    return out


def _account_ids(files: list[str], results: list[dict],
                 failures: list[pd.DataFrame]) -> tuple[pd.Series, pd.Series]:
    """Every account id, and those whose every row was rejected (their rows cascade)."""
    ids = pd.concat([r["ids"] for r in results], keys=range(len(results)))
    report = pd.concat([f for f in failures if len(f)] or [pd.DataFrame(columns=REJECT_COLUMNS)])
    report = report[report["table"] == "accounts"]
    bad = pd.Series(False, index=ids.index)
    if len(report):
        lookup = {file: i for i, file in enumerate(files)}
        part = report["file"].map(lookup)
        where = pd.MultiIndex.from_arrays([part.to_numpy(), report["row"].to_numpy(np.int64) - 1])
        bad = pd.Series(ids.index.isin(where), index=ids.index)
    # Arrow-backed text: sent to the workers and looked up without conversion.
    known = pd.Series(ids.dropna().unique(), dtype="str")
    kept = ids[~bad.to_numpy()].dropna()
    rejected = ids[bad.to_numpy()].dropna()
    return known, pd.Series(rejected[~isin(rejected, kept)].unique(), dtype="str")


def _report(failures: Iterable[pd.DataFrame]) -> pd.DataFrame:
    failures = [f for f in failures if len(f)]
    if not failures:
        return pd.DataFrame({c: pd.Series(dtype="Int64" if c == "row" else "str")
                             for c in REJECT_COLUMNS})
    report = pd.concat(failures, ignore_index=True)
    order = report["table"].map({name: i for i, name in enumerate(TABLES)})
    return (report.assign(_order=order).sort_values(["_order", "file", "row", "column"],
                                                    kind="stable")
            .drop(columns="_order").reset_index(drop=True)[REJECT_COLUMNS])
