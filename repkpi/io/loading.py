"""Files and frames in, validated tables out: :class:`CrmData` and :func:`load`.

The top of :mod:`repkpi.io`. :func:`load` finds the files
(:mod:`repkpi.io.files`), or translates a CRM's own exports
(:mod:`repkpi.io.mapping`), or hands the folder to the Dask reader
(:mod:`repkpi.dask.reader`); every table is then parsed and checked by the rules
of :mod:`repkpi.io.validation`, and nothing below this module imports it.

Reading is two steps. First every value is read as text (pyarrow's CSV
reader) and parsed column by column into its type; a value that does not
parse is a failure of its row, not of the file. Then the typed table is
checked against its pandera schema (all failures collected) and against the
other tables (``account_id`` must exist in accounts).

In strict mode any failure raises :class:`~repkpi.errors.DataValidationError`.
In quarantine mode the failing rows go to ``CrmData.rejects``, with the
reason, and the other rows load. Either way every input row is accounted for.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from types import ModuleType
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd
import pyarrow

from repkpi._threads import thread_map
from repkpi.errors import DataValidationError, OptionError
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
from repkpi.io.cache import cached_load
from repkpi.io.delimited import TRAILER
from repkpi.io.files import (
    MAX_BYTES,
    TABLES,
    Source,
    part_files,
    read_file,
    read_parts,
    table_files,
)
from repkpi.io.mapping import Mapping, mapped_sources, read_mapping
from repkpi.io.parsing import DELETED, REJECT_COLUMNS
from repkpi.io.validation import (
    SUMMARY_COLUMNS,
    Errors,
    absent_columns,
    as_report,
    cascade_rejects,
    check_errors_option,
    check_references,
    import_rules_early,
    validate_table,
)

# TABLES, Errors and REJECT_COLUMNS belong to files, validation and parsing; they stay
# importable from here, where callers have long found them beside CrmData and load.
__all__ = ["REJECT_COLUMNS", "TABLES", "CrmData", "Errors", "load"]


def _by_file(report: pd.DataFrame, parts: dict[str, list[tuple[str, int]]]) -> pd.DataFrame:
    """``report`` with each row numbered within its file (a ``file`` column).

    For tables read from part files; ``parts`` gives each table's files and
    the first position of each.
    """
    files = pd.Series(pd.NA, index=report.index, dtype="str")
    rows = report["row"].to_numpy(dtype=np.int64).copy()
    for table, found in parts.items():
        mine = (report["table"] == table).to_numpy()
        starts = np.array([start for _, start in found], dtype=np.int64)
        which = np.searchsorted(starts, rows[mine] - 1, side="right") - 1
        files[mine] = np.array([file for file, _ in found], dtype=object)[which]
        rows[mine] = rows[mine] - starts[which]
    return as_report([report.assign(file=files, row=pd.array(rows, dtype="Int64"))], by_file=True)


class CrmData:
    """Validated CRM tables, one attribute per table (``None`` when absent).

    Parameters
    ----------
    accounts, contracts, deals, tickets, surveys, activities, market, reps : DataFrame, optional
    ticket_events : DataFrame, optional
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
    absent : dict
        Table -> the optional columns its file (or its mapping) does not
        have, loaded as empty columns; a KPI that needs one of them refuses
        (:class:`~repkpi.errors.AbsentColumnError`). A column present but
        empty on some rows is not absent.
    absent_hints : dict
        Table -> {absent column: where the export could give it}, from the
        preset or mapping that loaded the table (nothing for a plain folder).

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
    >>> data.absent["accounts"]
    ['account_name', 'rep_id', 'region', 'segment', 'churned_on']
    """

    accounts: pd.DataFrame | None
    contracts: pd.DataFrame | None
    deals: pd.DataFrame | None
    tickets: pd.DataFrame | None
    surveys: pd.DataFrame | None
    activities: pd.DataFrame | None
    market: pd.DataFrame | None
    reps: pd.DataFrame | None
    ticket_events: pd.DataFrame | None

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
        ticket_events: pd.DataFrame | None = None,
        *,
        errors: Errors = "strict",
        as_of: AsOfLike | None = None,
    ) -> None:
        given = dict(zip(TABLES, (accounts, contracts, deals, tickets, surveys,
                                  activities, market, reps, ticket_events), strict=True))
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
        self.declared_as_of = as_of_date(as_of)
        self._build([Source(name, "<DataFrame>", functools.partial(raw.get, name))
                     for name in raw], errors)

    @classmethod
    def from_sources(cls, sources: list[Source], errors: Errors = "strict", *,
                     as_of: AsOfLike | None = None) -> CrmData:
        """Read, parse and validate each table of ``sources`` as :func:`load` does with files.

        Parameters
        ----------
        sources : list of Source
            For each table: its name, where it comes from (for messages and
            ``sources``) and a function that reads it (text or typed).
        errors : {"strict", "quarantine"}
            As for :func:`load`.
        as_of : date, optional
            As for :func:`load`.

        Examples
        --------
        >>> accounts = pd.DataFrame({"account_id": ["A1"], "customer_since": ["2024-01-15"]})
        >>> data = CrmData.from_sources([Source("accounts", "memory", lambda: accounts)])
        >>> data.sources
        {'accounts': 'memory'}
        """
        data = cls.__new__(cls)
        data.declared_as_of = as_of_date(as_of)
        data._build(sources, errors)
        return data

    def _build(self, sources: list[Source], errors: Errors) -> None:
        """Read, parse and check the tables, a few side by side (:func:`~repkpi._threads.thread_map`).

        The valid rows are then cut at the declared as-of date (see
        :func:`repkpi.io.asof.cut`); ``notes`` counts what the cut left out.
        """
        check_errors_option(errors)
        self.sources = {source.table: source.origin for source in sources}
        self.rows_read, self.notes, self.absent, self.absent_hints = {}, {}, {}, {}
        typed, failures, parts = {}, [], {}
        today = pd.Timestamp.now(tz="UTC")  # the one use of the run's date: recorded dates
        read_one = functools.partial(_read_table, today=today)
        import_rules_early()  # pandera's import, while the files are read
        # Side by side: Arrow's reader and casts release the GIL. In the sources' order, so
        # that the first unreadable file is the one reported.
        for table in thread_map(read_one, sources):
            name = table.name
            self.rows_read[name], self.notes[name] = table.rows, table.notes
            if table.absent:
                self.absent[name], self.absent_hints[name] = table.absent, table.hints
            parts[name], typed[name] = table.parts, table.typed
            failures += table.failures
        failures += check_references(typed)
        report = as_report(failures)
        by_file = any(len(p) > 1 for p in parts.values())
        if errors == "strict" and len(report):
            raise DataValidationError(_by_file(report, parts) if by_file else report,
                                      sources=self.sources)
        if len(report):
            report = cascade_rejects(typed, report)
        self.rejects = _by_file(report, parts) if by_file else report
        for name in TABLES:
            frame = typed.get(name)
            if frame is not None and len(report):
                bad = report.loc[report["table"] == name, "row"].to_numpy(dtype=np.int64) - 1
                frame = frame.drop(index=bad)
            if frame is not None:
                done = cut(name, frame, self.declared_as_of)
                frame = done.frame
                self.notes[name].update(after_as_of=done.after, changed=done.changed,
                                        recorded_after=done.recorded)
            setattr(self, name, frame)

    @classmethod
    def trusted(cls, *, as_of: AsOfLike | None = None, absent: dict[str, list[str]] | None = None,
                absent_hints: dict[str, dict[str, str]] | None = None,
                **tables: pd.DataFrame | None) -> CrmData:
        """Tables taken as they are: already typed and validated (parts of loaded data).

        Nothing is parsed or checked: the tables must come from a
        :class:`CrmData` (or a Dask partition of one); ``absent`` and
        ``absent_hints`` are the loaded data's.

        Examples
        --------
        >>> data = CrmData(accounts=pd.DataFrame({"account_id": ["A1"],
        ...                                       "customer_since": ["2024-01-15"]}))
        >>> CrmData.trusted(accounts=data.accounts.iloc[:0])
        CrmData(accounts=0 rows, rejects=0)
        """
        data = cls.__new__(cls)
        for name in TABLES:
            setattr(data, name, tables.get(name))
        data.rejects = as_report([])
        data.sources = {name: "<validated>" for name in tables}
        data.rows_read = {name: len(frame) for name, frame in tables.items() if frame is not None}
        data.notes = {}
        data.absent, data.absent_hints = dict(absent or {}), dict(absent_hints or {})
        data.declared_as_of = as_of_date(as_of)
        return data

    @property
    def as_of(self) -> pd.Timestamp | None:
        """The data's as-of date: declared (``load(..., as_of=)``), else the latest recorded date.

        Recorded dates are those of what has happened (see
        :data:`repkpi.schemas.RECORDED`): customers won, deals created, won or
        lost, tickets opened, answered or resolved, survey responses,
        activities. None when the data records nothing.

        Examples
        --------
        >>> data = CrmData(accounts=pd.DataFrame({"account_id": ["A1", "A2"],
        ...     "customer_since": ["2024-01-15", "2024-03-02"], "churned_on": [None, "2025-01-01"]}))
        >>> data.as_of
        Timestamp('2024-03-02 00:00:00')
        >>> CrmData(accounts=data.accounts, as_of="2024-03-31").as_of
        Timestamp('2024-03-31 00:00:00')
        """
        if self.declared_as_of is not None:
            return self.declared_as_of
        if "recorded_as_of" not in self.__dict__:
            days = [latest_recorded(name, frame) for name, frame in self.tables.items()]
            days = [d for d in days if d is not None]
            self.__dict__["recorded_as_of"] = from_days(max(days)) if days else None
        return self.__dict__["recorded_as_of"]

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """The loaded tables by name (absent tables left out)."""
        return {name: getattr(self, name) for name in TABLES if getattr(self, name) is not None}

    @property
    def coverage(self) -> pd.DataFrame:
        """Each table's first and last recorded dates, its rows, and whether it is stale.

        Columns ``table``, ``first``, ``last``, ``rows``, ``stale``: a table
        whose last recorded date lies more than 7 days before ``as_of`` is
        stale (see :func:`repkpi.io.asof.coverage`; contracts, reps and market
        record no date: NaT, never stale).

        Examples
        --------
        >>> data = CrmData(accounts=pd.DataFrame({"account_id": ["A1", "A2"],
        ...     "customer_since": ["2024-01-15", "2024-03-31"]}),
        ...     surveys=pd.DataFrame({"response_id": ["R1"], "account_id": ["A1"],
        ...                           "responded_at": ["2024-02-01T10:00:00Z"], "csat": [5]}))
        >>> data.coverage
              table      first       last  rows  stale
        0  accounts 2024-01-15 2024-03-31     2  False
        1   surveys 2024-02-01 2024-02-01     1   True
        """
        if "coverage" not in self.__dict__:
            spans = {name: (*recorded_span(name, frame), len(frame))
                     for name, frame in self.tables.items()}
            self.__dict__["coverage"] = coverage(spans, self.as_of)
        return self.__dict__["coverage"]

    @property
    def scheduled_churn(self) -> int:
        """Accounts whose ``churned_on`` lies after ``as_of``: read as scheduled, not happened."""
        if self.accounts is None or self.as_of is None:
            return 0
        return int((self.accounts["churned_on"] > self.as_of).sum())

    def coverage_notes(self) -> list[str]:
        """The coverage in words: stale tables, churn dates after ``as_of``, nothing recorded since.

        See :func:`repkpi.io.asof.coverage_words`; ``validate`` and the report print them.
        """
        return coverage_notes(self)

    def cut_at(self, day: AsOfLike) -> CrmData:
        """The data as it stood at the close of ``day``: as if loaded with ``as_of=day``.

        The comparisons with a year earlier read a period in progress against
        the same span cut at the same day a year before (analysis.md,
        "Comparisons"). The data is not modified; the cut is kept for the
        next call with the same day.

        Examples
        --------
        >>> data = CrmData(accounts=pd.DataFrame({"account_id": ["A1", "A2"],
        ...     "customer_since": ["2024-01-15", "2024-03-02"]}))
        >>> earlier = data.cut_at("2024-02-01")
        >>> earlier.as_of, earlier.accounts["customer_since"].isna().tolist()
        (Timestamp('2024-02-01 00:00:00'), [False, True])
        """
        moment = as_of_date(day)
        kept = self.__dict__.setdefault("cuts", {})  # one cut per day for the run's comparisons
        if moment not in kept:
            tables = {name: cut(name, frame, moment).frame for name, frame in self.tables.items()}
            kept[moment] = CrmData.trusted(as_of=moment, absent=self.absent,
                                           absent_hints=self.absent_hints, **tables)
        return kept[moment]

    def summary(self) -> pd.DataFrame:
        """Rows read, loaded and rejected per table, with the source of each.

        Returns
        -------
        DataFrame
            Columns ``table``, ``source``, ``rows``, ``loaded``, ``rejected``,
            ``after_as_of`` (rows dated after a declared as-of date, left
            out), ``deleted`` (deleted records, ``IsDeleted`` true, set
            aside: ``rows = loaded + rejected + after_as_of + deleted``),
            ``trailer`` (lines of a Salesforce report's trailer, which
            are no rows), ``changed
            (cells of events after it read as not happened yet),
            ``delimiter`` (of a text file, as found from its header line),
            ``trimmed`` (text cells whose surrounding whitespace was trimmed)
            and ``never`` (far-out end dates such as ``9999-12-31`` read as empty).
        """
        keys = ["file", "row"] if "file" in self.rejects.columns else ["row"]
        rejected = self.rejects.groupby("table")[keys].apply(
            lambda g: len(g.drop_duplicates())) if len(self.rejects) else pd.Series(dtype=int)
        notes = getattr(self, "notes", {})
        rows = [
            {"table": name, "source": self.sources[name], "rows": self.rows_read[name],
             "loaded": len(frame), "rejected": int(rejected.get(name, 0)),
             "after_as_of": notes.get(name, {}).get("after_as_of", 0),
             "deleted": notes.get(name, {}).get("deleted", 0),
             "trailer": notes.get(name, {}).get("trailer", 0),
             "changed": notes.get(name, {}).get("changed", 0),
             "delimiter": notes.get(name, {}).get("delimiter", ""),
             "trimmed": notes.get(name, {}).get("trimmed", 0),
             "never": notes.get(name, {}).get("never", 0)}
            for name, frame in self.tables.items()
        ]
        return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)

    def __repr__(self) -> str:
        parts = [f"{name}={len(frame):,} rows" for name, frame in self.tables.items()]
        parts.append(f"rejects={len(self.rejects):,}")
        return f"CrmData({', '.join(parts)})"


class _Read(NamedTuple):
    """One table read, parsed and checked on its own (see :func:`_read_table`)."""

    name: str
    rows: int
    notes: dict[str, object]
    parts: list[tuple[str, int]]
    typed: pd.DataFrame
    failures: list[pd.DataFrame]
    absent: list[str]
    hints: dict[str, str]


def _read_table(source: Source, *, today: pd.Timestamp) -> _Read:
    """Read one source and parse and check its table: all that needs no other table."""
    name, origin, read = source
    frame = read()
    # Deleted records were set aside before validation: rows of the file all the same.
    notes = {"delimiter": frame.attrs.get("delimiter", ""),
             "deleted": frame.attrs.get(DELETED, 0), "trailer": frame.attrs.get(TRAILER, 0)}
    rows = len(frame) + notes["deleted"]
    absent = absent_columns(name, frame.columns)
    hints = frame.attrs.get("hints", {})
    typed, found = validate_table(name, frame, origin, counts=notes, today=today)
    done = _Read(name, rows, notes, frame.attrs.get("parts", [(origin, 0)]), typed, found,
                 absent, {c: hints[c] for c in absent if c in hints})
    del frame
    # Arrow's allocator keeps freed blocks for reuse; hand the raw table's back.
    pyarrow.default_memory_pool().release_unused()
    return done


def _dask_reader() -> ModuleType:
    """The Dask reader, imported on first use (``import repkpi`` stays without Dask).

    Raises :class:`OptionError` with the way to install Dask when it is not installed.
    """
    try:
        from repkpi.dask import reader
    except ImportError as exc:
        if (exc.name or "").startswith("repkpi"):
            raise
        raise OptionError("engine='dask' needs Dask, which is not installed.\n"
                          "Hint: pip install 'repkpi[dask]'.") from exc
    return reader


def load(path: str | os.PathLike[str], errors: Errors = "strict", *,
         source: str | os.PathLike[str] | None = None, engine: Literal["pandas", "dask"] = "pandas",
         scheduler: str | None = None, as_of: AsOfLike | None = None,
         max_bytes: int = MAX_BYTES, cache: bool = True) -> CrmData:
    """Load and validate a folder of CRM exports, one file per table.

    Parameters
    ----------
    path : str or path-like
        A folder of table files (any subset of the tables), or a single
        one: ``<table>.csv`` (``.tsv``, ``.txt``), ``.parquet`` or ``.xlsx``,
        optionally ``.gz`` or ``.zip``, or a folder of part files named after
        the table (rows numbered within their file, ``rejects`` then has a
        ``file`` column). See the data model's "What a table file may be".
    errors : {"strict", "quarantine"}
        What to do with invalid rows: raise, or set them aside in
        ``data.rejects``.
    source : str or path-like, optional
        The folder holds a CRM's own exports: ``"salesforce"``,
        ``"hubspot"``, ``"zendesk"``, ``"freshdesk"``, or the path of a mapping file for any
        other CRM (see :mod:`repkpi.io.mapping`). Default: canonical tables.
    engine : {"pandas", "dask"}
        ``"dask"`` reads each table lazily as a Dask DataFrame, one partition
        per file; a table may then also be a folder of part files
        (``tickets/part-0001.parquet``), and ``path`` a glob or an fsspec URL
        (``s3://bucket/exports/``). Needs ``pip install 'repkpi[dask]'``.
    scheduler : str, optional
        With ``engine="dask"``: the address of a ``dask.distributed``
        scheduler to run on (default: Dask's current scheduler).
    as_of : date, optional
        The export's cut-off, when it is not the latest recorded date (a
        month whose last day had no recorded event is then complete).
    max_bytes : int
        The most a compressed file (``.gz``, ``.zip``) may expand to, in
        bytes (default 4 GiB): it is decompressed as a stream and refused by
        name once its content passes the limit.
    cache : bool
        Keep the loaded tables in the user's cache folder and take them from
        there while no file, mapping or option has changed, on the same day
        and with the same repkpi (see :mod:`repkpi.io.cache`; the folder is
        ``REPKPI_CACHE_DIR`` when set). ``False`` reads and checks every
        file again. The Dask engine, which reads lazily, has no cache.

    Returns
    -------
    CrmData
        Or, with ``engine="dask"``, a :class:`~repkpi.dask.reader.DaskCrmData`
        that every KPI, ``compute`` and ``scorecard`` take the same way.

    Raises
    ------
    DataFileError
        The path does not exist (:class:`~repkpi.errors.PathNotFoundError`),
        the folder holds no table, or a file is unreadable, empty (zero
        bytes), lacks a required column, is named after no table, or is named
        after a table but is no table file (``deals.json``, a dangling link),
        expands past ``max_bytes``, or changed while it was read.
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
        return _dask_reader().load_dask(path, errors, scheduler=scheduler, as_of=as_of,
                                        max_bytes=max_bytes)
    if scheduler is not None:
        raise OptionError("scheduler= goes with engine='dask'.")
    mapping = source if source is None or isinstance(source, Mapping) else read_mapping(source)
    options = {"errors": errors, "as_of": as_of_date(as_of), "max_bytes": max_bytes}
    build = functools.partial(_load_files, path, mapping, **options)
    if not cache:
        return build(None)
    return cached_load(CrmData, build, path, mapped=mapping is not None,
                       settings={"mapping": repr(mapping), **options})


def _load_files(path: str | os.PathLike[str], mapping: Mapping | None,
                contents: dict[Path, bytes] | None, *, errors: Errors,
                as_of: AsOfLike | None, max_bytes: int) -> CrmData:
    """The pandas engine's :func:`load`; ``contents`` holds the files the cache has read already."""
    if mapping is not None:
        return CrmData.from_sources(mapped_sources(path, mapping, max_bytes=max_bytes,
                                                   contents=contents), errors, as_of=as_of)
    files = table_files(Path(path))
    parts = {name: part_files(file) for name, file in files.items() if file.is_dir()}
    # Largest file first: it starts first, the smaller ones share the other threads, and its
    # raw text is in memory beside the fewest parsed tables.
    order = sorted(files.items(), key=lambda item: sum(
        f.stat().st_size for f in parts.get(item[0], [item[1]])), reverse=True)
    return CrmData.from_sources(
        [Source(name, str(file),
                functools.partial(read_parts, parts[name], max_bytes=max_bytes, contents=contents)
                if name in parts else functools.partial(_read_file, file, contents, max_bytes))
         for name, file in order],
        errors, as_of=as_of)


def _read_file(file: Path, contents: dict[Path, bytes] | None, max_bytes: int) -> pd.DataFrame:
    """One table file, parsed from its bytes when they have been read already (then let go)."""
    return read_file(file, max_bytes=max_bytes,
                     content=None if contents is None else contents.pop(file, None))
