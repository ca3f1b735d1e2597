"""Files and frames in, validated tables out.

Reading is two steps. First every value is read as text (pyarrow's CSV
reader) and parsed column by column into its type; a value that does not
parse is a failure of its row, not of the file. Then the typed table is
checked against its pandera model (all failures collected) and against the
other tables (``account_id`` must exist in accounts).

In strict mode any failure raises :class:`~repkpi.errors.DataValidationError`.
In quarantine mode the failing rows go to ``CrmData.rejects``, with the
reason, and the other rows load. Either way every input row is accounted for.
"""

from __future__ import annotations

import csv
import functools
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from repkpi._vector import isin, to_arrow
from repkpi.errors import (
    ColumnNotFoundError,
    DataFileError,
    DataValidationError,
    OptionError,
)
from repkpi.schemas import COLUMNS, ROW_CHECKS, SCHEMAS, Column

NAT = np.iinfo(np.int64).min

__all__ = ["REJECT_COLUMNS", "TABLES", "CrmData", "load"]

Errors = Literal["strict", "quarantine"]
TABLES: tuple[str, ...] = tuple(SCHEMAS)
REJECT_COLUMNS = ["table", "row", "column", "check", "value"]
SUFFIXES = (".csv", ".parquet")
_REFERENCING = ("contracts", "deals", "tickets", "surveys", "activities")
_TYPE_CHECKS = {
    "date": "type: a date YYYY-MM-DD",
    "datetime": "type: an ISO 8601 timestamp",
    "money": "type: a number",
    "int": "type: a whole number",
}


class CrmData:
    """Validated CRM tables, one attribute per table (``None`` when absent).

    Parameters
    ----------
    accounts, contracts, deals, tickets, surveys, activities, market, reps : DataFrame, optional
        The tables, as read from an export (text) or already typed. They are
        parsed and validated exactly as :func:`load` does with files; the
        frames passed in are not modified.
    errors : {"strict", "quarantine"}
        ``"strict"`` raises :class:`~repkpi.errors.DataValidationError` on any
        invalid row; ``"quarantine"`` sets invalid rows aside in ``rejects``.

    Attributes
    ----------
    rejects : DataFrame
        Columns ``table``, ``row``, ``column``, ``check``, ``value``: one row
        per failure of a rejected row (empty in strict mode).
    sources : dict
        Where each table came from (a file path, or ``"<DataFrame>"``).

    Notes
    -----
    The index of a loaded table is the row's position in its source, so
    ``index + 1`` is the row number that error reports use.

    Examples
    --------
    >>> import pandas as pd
    >>> accounts = pd.DataFrame({"account_id": ["A1", "A2"],
    ...                          "customer_since": ["2024-01-15", "2024-02-01"]})
    >>> data = CrmData(accounts=accounts)
    >>> data.accounts.dtypes["customer_since"]
    dtype('<M8[us]')
    >>> data.deals is None
    True
    """

    accounts: pd.DataFrame | None
    contracts: pd.DataFrame | None
    deals: pd.DataFrame | None
    tickets: pd.DataFrame | None
    surveys: pd.DataFrame | None
    activities: pd.DataFrame | None
    market: pd.DataFrame | None
    reps: pd.DataFrame | None

    def __init__(
        self,
        accounts: pd.DataFrame | None = None,
        contracts: pd.DataFrame | None = None,
        deals: pd.DataFrame | None = None,
        tickets: pd.DataFrame | None = None,
        surveys: pd.DataFrame | None = None,
        activities: pd.DataFrame | None = None,
        market: pd.DataFrame | None = None,
        reps: pd.DataFrame | None = None,
        *,
        errors: Errors = "strict",
    ) -> None:
        given = dict(zip(TABLES, (accounts, contracts, deals, tickets, surveys,
                                  activities, market, reps), strict=True))
        raw = {}
        for name, frame in given.items():
            if frame is None:
                continue
            if not isinstance(frame, pd.DataFrame):
                raise OptionError(
                    f"{name} must be a pandas DataFrame, got {type(frame).__name__}.\n"
                    "Hint: pass None for a table you do not have."
                )
            raw[name] = frame.reset_index(drop=True)
        self._build([(name, "<DataFrame>", functools.partial(raw.get, name)) for name in raw],
                    errors)

    @classmethod
    def _from_sources(cls, sources: list[tuple[str, str, Callable[[], pd.DataFrame]]],
                      errors: Errors) -> CrmData:
        data = cls.__new__(cls)
        data._build(sources, errors)
        return data

    def _build(self, sources: list[tuple[str, str, Callable[[], pd.DataFrame]]],
               errors: Errors) -> None:
        """Read, parse and check one table at a time, so that only one raw table is in memory."""
        if errors not in ("strict", "quarantine"):
            raise OptionError(
                f"errors must be 'strict' or 'quarantine', got {errors!r}.\n"
                "Hint: 'quarantine' loads the valid rows and sets the others aside."
            )
        self.sources = {name: source for name, source, _ in sources}
        self.rows_read = {}
        typed, failures = {}, []
        for name, source, read in sources:
            frame = read()
            self.rows_read[name] = len(frame)
            typed[name], found = _parse(name, frame, source)
            failures += found
            failures.append(_check(name, typed[name], frame, found))
            del frame
            # Arrow's allocator keeps freed blocks for reuse; hand the raw table's back.
            pyarrow.default_memory_pool().release_unused()
        failures += _check_references(typed)
        report = _as_report(failures)
        if errors == "strict" and len(report):
            raise DataValidationError(report)
        if len(report):
            report = _cascade(typed, report)
        self.rejects = report
        for name in TABLES:
            frame = typed.get(name)
            if frame is not None and len(report):
                bad = report.loc[report["table"] == name, "row"].to_numpy(dtype=np.int64) - 1
                frame = frame.drop(index=bad)
            setattr(self, name, frame)

    @classmethod
    def _trusted(cls, **tables: pd.DataFrame | None) -> CrmData:
        """Tables taken as they are: already typed and validated (parts of loaded data)."""
        data = cls.__new__(cls)
        for name in TABLES:
            setattr(data, name, tables.get(name))
        data.rejects = _as_report([])
        data.sources = {name: "<validated>" for name in tables}
        data.rows_read = {name: len(frame) for name, frame in tables.items() if frame is not None}
        return data

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """The loaded tables by name (absent tables left out)."""
        return {name: getattr(self, name) for name in TABLES if getattr(self, name) is not None}

    def summary(self) -> pd.DataFrame:
        """Rows read, loaded and rejected per table, with the source of each.

        Returns
        -------
        DataFrame
            Columns ``table``, ``source``, ``rows``, ``loaded``, ``rejected``.
        """
        rejected = self.rejects.groupby("table")["row"].nunique()
        rows = [
            {"table": name, "source": self.sources[name], "rows": self.rows_read[name],
             "loaded": len(frame), "rejected": int(rejected.get(name, 0))}
            for name, frame in self.tables.items()
        ]
        return pd.DataFrame(rows, columns=["table", "source", "rows", "loaded", "rejected"])

    def __repr__(self) -> str:
        parts = [f"{name}={len(frame):,} rows" for name, frame in self.tables.items()]
        parts.append(f"rejects={len(self.rejects):,}")
        return f"CrmData({', '.join(parts)})"


def load(path: str | os.PathLike[str], errors: Errors = "strict", *,
         source: str | os.PathLike[str] | None = None, engine: Literal["pandas", "dask"] = "pandas",
         scheduler: str | None = None) -> CrmData:
    """Load and validate a folder of CRM exports, one file per table.

    Parameters
    ----------
    path : str or path-like
        A folder of ``<table>.csv`` and/or ``<table>.parquet`` files (any
        subset of the tables), or a single such file.
    errors : {"strict", "quarantine"}
        What to do with invalid rows: raise, or set them aside in
        ``data.rejects``.
    source : str or path-like, optional
        The folder holds a CRM's own exports: ``"salesforce"``,
        ``"hubspot"``, ``"zendesk"``, or the path of a mapping file for any
        other CRM (see :mod:`repkpi.io.mapping`). Default: canonical tables.
    engine : {"pandas", "dask"}
        ``"dask"`` reads each table lazily as a Dask DataFrame, one partition
        per file; a table may then also be a folder of part files
        (``tickets/part-0001.parquet``), and ``path`` a glob or an fsspec URL
        (``s3://bucket/exports/``). Needs ``pip install 'repkpi[dask]'``.
    scheduler : str, optional
        With ``engine="dask"``: the address of a ``dask.distributed``
        scheduler to run on (default: Dask's current scheduler).

    Returns
    -------
    CrmData
        Or, with ``engine="dask"``, a :class:`~repkpi.io.dask.DaskCrmData`
        that every KPI, ``compute`` and ``scorecard`` take the same way.

    Raises
    ------
    DataFileError
        The path does not exist, or a file is unreadable, empty (zero bytes),
        lacks a required column, or is named after no table.
    DataValidationError
        In strict mode, when any row breaks a rule; its ``report`` lists them.

    Examples
    --------
    >>> import repkpi
    >>> data = repkpi.load(repkpi.sample_path())
    >>> data.accounts.shape[0] > 1000 and len(data.rejects) == 0
    True
    """
    if engine not in ("pandas", "dask"):
        raise OptionError(f"engine must be 'pandas' or 'dask', got {engine!r}.\n"
                          "Hint: 'dask' needs pip install 'repkpi[dask]'.")
    if engine == "dask":
        if source is not None:
            raise OptionError("source= is not available with engine='dask'.\nHint: load the CRM "
                              "export with the pandas engine and save its tables as Parquet.")
        from repkpi.io.dask import load_dask

        return load_dask(path, errors, scheduler=scheduler)
    if scheduler is not None:
        raise OptionError("scheduler= goes with engine='dask'.")
    if source is not None:
        from repkpi.io.mapping import load_mapped

        return load_mapped(path, source, errors)
    files = _table_files(Path(path))
    # Largest file first: its raw text is then in memory beside the fewest parsed tables.
    order = sorted(files.items(), key=lambda item: item[1].stat().st_size, reverse=True)
    return CrmData._from_sources(
        [(name, str(file), functools.partial(_read, file)) for name, file in order], errors)


def _table_files(path: Path) -> dict[str, Path]:
    if not path.exists():
        raise DataFileError(
            f"{path}: no such file or folder.\nHint: give the folder that holds the exports."
        )
    candidates = [path] if path.is_file() else sorted(
        p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES
    )
    files: dict[str, Path] = {}
    for file in candidates:
        name = file.stem
        if name not in TABLES or file.suffix.lower() not in SUFFIXES:
            raise DataFileError(
                f"{file}: the file name is not a table name. Expected one of "
                f"{', '.join(f'{t}.csv' for t in TABLES)} (or .parquet).\n"
                "Hint: rename the export after the table it holds, or move it out "
                "of the folder."
            )
        if name in files:
            raise DataFileError(
                f"{file}: the table {name!r} is given twice ({files[name].name} and "
                f"{file.name}).\nHint: keep one file per table."
            )
        files[name] = file
    return files


def _read(file: Path) -> pd.DataFrame:
    if file.stat().st_size == 0:
        raise DataFileError(
            f"{file}: the file is empty (zero bytes).\nHint: a table with no rows still "
            "needs its header line."
        )
    try:
        if file.suffix.lower() == ".parquet":
            frame = pq.read_table(file).to_pandas()
            # Rows are numbered by their position in the file, whatever index pandas
            # stored with it (a named index is a column of the file).
            return frame.reset_index(drop=all(name is None for name in frame.index.names))
        return _read_csv(file)
    except (pyarrow.ArrowException, OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataFileError(
            f"{file}: the file cannot be read: {exc}\nHint: export it again as "
            "UTF-8 CSV with one header line, or as Parquet."
        ) from exc


def _read_csv(file: Path) -> pd.DataFrame:
    """Read every column as text; empty cells are missing values."""
    with open(file, encoding="utf-8-sig", newline="") as handle:
        header = next(csv.reader(io.StringIO(handle.readline())), [])
        has_rows = handle.read(1) != ""
    if len(set(header)) != len(header):
        dupes = sorted({c for c in header if header.count(c) > 1})
        raise DataFileError(
            f"{file}: the header repeats column(s) {dupes}.\nHint: give each column one name."
        )
    if not has_rows:  # a header alone: pyarrow cannot read one without a line end
        return pd.DataFrame({name: pd.Series(dtype="str") for name in header})
    convert = pacsv.ConvertOptions(
        column_types={name: pyarrow.large_string() for name in header},
        null_values=[""],
        strings_can_be_null=True,
    )
    try:
        table = pacsv.read_csv(file, convert_options=convert)
    except pyarrow.ArrowInvalid:
        # Quoted text over several lines (notes, descriptions) needs the slower reader.
        table = pacsv.read_csv(file, convert_options=convert,
                               parse_options=pacsv.ParseOptions(newlines_in_values=True))
    return table.to_pandas()


def _parse(table: str, raw: pd.DataFrame, source: str) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """Give each data-model column its type; unparseable values are failures."""
    missing = [c.name for c in COLUMNS[table] if c.required and c.name not in raw.columns]
    if missing:
        raise ColumnNotFoundError(
            f"{source}: the {table} table lacks required column(s) {missing}. "
            f"Found: {list(raw.columns)}.\nHint: required columns are "
            f"{[c.name for c in COLUMNS[table] if c.required]}; names are snake_case."
        )
    typed = pd.DataFrame(index=raw.index)
    failures = []
    for column in COLUMNS[table]:
        values = raw[column.name] if column.name in raw.columns else None
        typed[column.name], bad = _convert(values, column, len(raw), raw.index)
        if bad is not None and bad.any():
            failures.append(_failures(table, column.name, _TYPE_CHECKS[column.kind],
                                      raw.index[bad], raw[column.name]))
    extra = [c for c in raw.columns if c not in typed.columns]
    typed = pd.concat([typed, raw[extra]], axis=1) if extra else typed
    return typed, failures


def _convert(values: pd.Series | None, column: Column, n: int,
             index: pd.Index) -> tuple[pd.Series, np.ndarray | None]:
    """Return the typed column and a mask of values that did not parse."""
    if values is None:
        values = pd.Series(pd.NA, index=index, dtype="str")
    if column.kind == "str":
        if not pd.api.types.is_string_dtype(values) or values.dtype == object:
            values = values.astype("str")
        return values, None
    if column.kind == "date":
        if pd.api.types.is_datetime64_any_dtype(values):
            if getattr(values.dt, "tz", None) is not None:
                values = values.dt.tz_convert("UTC").dt.tz_localize(None)
            parsed = values.astype("datetime64[us]")
            parsed = parsed.where(parsed.dt.normalize() == parsed)
        elif values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) == "date":
            parsed = pd.to_datetime(values, errors="coerce").astype("datetime64[us]")
        else:
            parsed = _parse_dates(values)
    elif column.kind == "datetime":
        if pd.api.types.is_datetime64_any_dtype(values):
            parsed = (values.dt.tz_localize("UTC") if values.dt.tz is None
                      else values.dt.tz_convert("UTC"))
        else:
            parsed = _parse_timestamps(values)
        parsed = parsed.astype("datetime64[us, UTC]")
    else:
        number = _parse_numbers(values)
        if column.kind == "int":
            whole = number.isna() | (number == np.round(number))
            parsed = number.where(whole).astype("Int64")
        else:
            parsed = number
    bad = (parsed.isna() & values.notna()).to_numpy()
    return parsed, bad


_ZONED = r"(Z|z|[+-]\d\d(:?\d\d)?)$"


def _cast(text: pyarrow.Array | pyarrow.ChunkedArray,
          kind: pyarrow.DataType) -> pyarrow.Array | pyarrow.ChunkedArray | None:
    """Arrow's strict cast of a whole text column, or None when some value does not parse."""
    try:
        return pc.cast(text, kind)
    except (pyarrow.ArrowInvalid, pyarrow.ArrowNotImplementedError):
        return None


def _parse_dates(values: pd.Series) -> pd.Series:
    """``YYYY-MM-DD`` text to naive ``datetime64[us]``; anything else is missing.

    Arrow's strict cast reads a clean column at C speed; a column with a bad
    value goes through pandas instead, which marks just the bad values.
    """
    days = _cast(to_arrow(values), pyarrow.date32())
    if days is None:
        return pd.to_datetime(values.astype("str"), format="%Y-%m-%d",
                              errors="coerce").astype("datetime64[us]")
    stamps = days.cast(pyarrow.timestamp("us"))
    # Positional: the index may be an export's row numbers, not 0..n-1.
    return pd.Series(stamps.to_pandas().to_numpy(), index=values.index).astype("datetime64[us]")


def _parse_timestamps(values: pd.Series) -> pd.Series:
    """ISO 8601 text to UTC timestamps; naive values are UTC, offsets are converted.

    Values with a zone (``Z`` or an offset) and values without are cast
    separately by Arrow's strict ISO 8601 parser; a group in which some value
    does not parse goes through pandas' parser instead, which marks just the
    bad values.
    """
    text = to_arrow(values)
    zoned = np.asarray(pc.fill_null(pc.match_substring_regex(text, _ZONED), False), dtype=bool)
    present = values.notna().to_numpy()
    micros = np.full(len(values), NAT, dtype=np.int64)  # microseconds since the epoch, UTC
    for rows, kind in ((zoned, pyarrow.timestamp("us", tz="UTC")),
                       (present & ~zoned, pyarrow.timestamp("us"))):
        if not rows.any():
            continue
        cast = _cast(text.filter(pyarrow.array(rows)), kind)
        if cast is None:
            parsed = pd.to_datetime(values[rows].astype("str"), format="ISO8601", utc=True,
                                    errors="coerce").astype("datetime64[us, UTC]")
            micros[rows] = parsed.dt.tz_localize(None).to_numpy().view(np.int64)
        else:
            micros[rows] = pc.fill_null(cast.cast(pyarrow.int64()), NAT).to_numpy()
    return pd.Series(micros.view("datetime64[us]"), index=values.index).dt.tz_localize("UTC")


def _parse_numbers(values: pd.Series) -> pd.Series:
    """Text (or numbers) to float64; text that is no number is missing."""
    if pd.api.types.is_numeric_dtype(values):
        return values.astype("float64")
    try:
        return pd.Series(pc.cast(to_arrow(values), pyarrow.float64()).to_pandas().to_numpy(),
                         index=values.index).astype("float64")
    except (pyarrow.ArrowInvalid, pyarrow.ArrowTypeError):
        return pd.to_numeric(values, errors="coerce").astype("float64")


def _failures(table: str, column: str, check: str, index: pd.Index,
              raw_values: pd.Series | None) -> pd.DataFrame:
    """Failure records for rows at ``index`` of one column."""
    positions = np.asarray(index, dtype=np.int64)
    if raw_values is None:
        value = pd.Series(pd.NA, index=range(len(positions)), dtype="str")
    else:
        value = raw_values.loc[positions].astype("str").reset_index(drop=True)
    return pd.DataFrame({
        "table": table,
        "row": pd.array(positions + 1, dtype="Int64"),
        "column": column,
        "check": check,
        "value": value,
    })


def _check(table: str, typed: pd.DataFrame, raw: pd.DataFrame,
           type_failures: list[pd.DataFrame]) -> pd.DataFrame:
    """Run the table's pandera model; one failure record per (row, column, check)."""
    try:
        SCHEMAS[table].validate(typed, lazy=True, inplace=True)
        return _failures(table, "", "", pd.Index([]), None)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    cases = cases[cases["index"].notna()]
    cases = cases.assign(row_check=cases["check"].map({k: c for k, (c, _) in ROW_CHECKS.items()}))
    across = cases["row_check"].notna()
    # pandera lists a row failing a check across columns once per column whose value is
    # present (missing values are dropped), so the rule's own column may be absent, e.g.
    # an empty closed_on: report each failing row once, against the rule's column.
    rows = cases[across].drop_duplicates(["index", "check"])
    cases = pd.concat([cases[~across], rows.assign(column=rows["row_check"])])
    checks = cases["check"].map(_readable_check)
    out = []
    for (column, check), group in cases.groupby([cases["column"], checks], sort=False):
        index = pd.Index(group["index"].astype(np.int64).unique())
        out.append(_failures(table, column, check, index,
                             raw[column] if column in raw.columns else None))
    found = pd.concat(out, ignore_index=True) if out else _failures(table, "", "", pd.Index([]),
                                                                     None)
    if type_failures:
        # A value that did not parse is missing in the typed table; don't report it twice.
        parsed = pd.concat(type_failures)[["row", "column"]].assign(dup=True)
        found = found.merge(parsed, on=["row", "column"], how="left")
        found = found[found["dup"].isna()].drop(columns="dup")
    return found


def _readable_check(check: str) -> str:
    """Name a pandera check the way the data model states the rule."""
    fixed = {
        "not_nullable": "required: a value must be present",
        "str_length(1, None)": "required: a value must be present",
        "field_uniqueness": "unique: the value appears more than once",
        "multiple_fields_uniqueness": "unique: (period, region, company) appears more than once",
        "greater_than_or_equal_to(0)": "range: a non-negative amount",
        "in_range(1, 5)": "range: between 1 and 5",
        "in_range(0, 10)": "range: between 0 and 10",
    }
    if check in fixed:
        return fixed[check]
    if check in ROW_CHECKS:
        return f"rule: {ROW_CHECKS[check][1]}"
    if check.startswith("isin("):
        allowed = check[len("isin(["):-len("])")].replace("'", "")
        return f"allowed: one of {allowed}"
    if check.startswith("str_matches("):
        return "format: a quarter like 2026Q3 or a month like 2026-07"
    return f"rule: {check}"


def _check_references(typed: dict[str, pd.DataFrame]) -> list[pd.DataFrame]:
    if "accounts" not in typed:
        return []
    known = typed["accounts"]["account_id"].dropna().unique()
    out = []
    for name in _REFERENCING:
        if name not in typed:
            continue
        ids = typed[name]["account_id"]
        bad = ids.notna().to_numpy() & ~isin(ids, known)
        if bad.any():
            out.append(_failures(name, "account_id", "reference: account_id not in accounts",
                                 ids.index[bad], ids))
    return out


def _as_report(failures: list[pd.DataFrame]) -> pd.DataFrame:
    failures = [f for f in failures if len(f)]
    if not failures:
        return _failures("", "", "", pd.Index([]), None)
    report = pd.concat(failures, ignore_index=True)
    order = report["table"].map({name: i for i, name in enumerate(TABLES)})
    return (report.assign(_order=order).sort_values(["_order", "row", "column"], kind="stable")
            .drop(columns="_order").reset_index(drop=True))


def _cascade(typed: dict[str, pd.DataFrame], report: pd.DataFrame) -> pd.DataFrame:
    """Reject rows that point to a rejected account."""
    if "accounts" not in typed:
        return report
    accounts = typed["accounts"]["account_id"]
    bad_rows = report.loc[report["table"] == "accounts", "row"].to_numpy(dtype=np.int64) - 1
    rejected = accounts.loc[bad_rows].dropna()
    kept = accounts.drop(index=bad_rows)
    rejected = rejected[~isin(rejected, kept)].unique()
    if len(rejected) == 0:
        return report
    extra = []
    for name in _REFERENCING:
        if name in typed:
            ids = typed[name]["account_id"]
            hit = isin(ids, rejected)
            if hit.any():
                extra.append(_failures(name, "account_id",
                                       "reference: the account was rejected",
                                       ids.index[hit], ids))
    return _as_report([report, *extra])
