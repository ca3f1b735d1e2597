"""Text to typed tables: each data-model column parsed into its type, and the failure records.

A value that does not parse is a failure of its row, not of the file: it is
missing in the typed table and reported as a *failure record*, a row of
:data:`REJECT_COLUMNS` (:func:`failure_records`), the form every check of
:mod:`repkpi.io.validation` reports in too. Clean columns are cast by Arrow
at C speed; a column with a bad value goes through pandas, which marks just
the bad values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.compute as pc

from repkpi._vector import to_arrow
from repkpi.errors import DataFileError, MissingColumnError
from repkpi.io.delimited import MALFORMED
from repkpi.periods import NAT
from repkpi.schemas import (
    COLUMNS,
    EMPTY_TOKENS,
    END_COLUMNS,
    FIRST_YEAR,
    LAST_YEAR,
    RECORDED,
    Column,
)

__all__ = ["BAD_CELLS", "DELETED", "FILE_REJECT_COLUMNS", "LINE", "REJECT_COLUMNS", "clean_text",
           "failure_records", "parse_table"]

REJECT_COLUMNS = ["table", "row", "column", "check", "value"]
"""The columns of a report of failures: one row per failure of a row."""
FILE_REJECT_COLUMNS = ["table", "file", "row", "column", "check", "value"]
"""The columns of a report of a table read from several files: ``row`` is the row in ``file``."""
_TYPE_CHECKS = {
    "date": "type: a date YYYY-MM-DD",
    "datetime": "type: an ISO 8601 timestamp",
    "money": "type: a number",
    "int": "type: a whole number",
}
BAD_CELLS = "bad_cells"
"""The ``attrs`` key of cells found bad before parsing (a mapping's checkbox column):
column -> (check, positions), reported as failures of their rows."""
DELETED = "deleted"
"""The ``attrs`` key of the number of deleted records (``IsDeleted`` true) set aside before parsing."""
LINE = "<line>"
"""The column a malformed line (too many or too few fields) is reported against."""
_YEARS = f"range: a date in the years {FIRST_YEAR}..{LAST_YEAR}"
_BIGGEST = 2.0 ** 53
"""Whole numbers beyond this are out of range: a float no longer holds each one."""
_EMPTY = pyarrow.array(["", *EMPTY_TOKENS], type=pyarrow.large_string())
_FIRST = pd.Timestamp(f"{FIRST_YEAR}-01-01")
_BEYOND = pd.Timestamp(f"{LAST_YEAR + 1}-01-01")


def parse_table(table: str, raw: pd.DataFrame, source: str, *,
                counts: dict[str, int] | None = None,
                today: pd.Timestamp | None = None) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """Give each data-model column of ``raw`` its type; unparseable values are failures.

    Parameters
    ----------
    table : str
        The table's name.
    raw : DataFrame
        The table as read (text), or already typed; its index is the row's
        position in its source.
    source : str
        Where ``raw`` comes from, as messages name it.
    counts : dict, optional
        Filled with ``"trimmed"`` (text cells whose surrounding whitespace
        was trimmed) and ``"never"`` (far-out end dates read as empty).
    today : Timestamp, optional
        The run's UTC date (default: now): a recorded date after it is a bad cell.

    Returns
    -------
    typed : DataFrame
        The data model's columns, typed (a value that does not parse is
        missing), then the other columns of ``raw`` as they are.
    failures : list of DataFrame
        Failure records (:func:`failure_records`) of the values that do not parse.

    Notes
    -----
    Text cells are trimmed, and the :data:`~repkpi.schemas.EMPTY_TOKENS` are
    empty. Numbers must be finite (whole numbers within +-2**53); a date must
    lie in the years 1900..2199, except that a date in 2200 or later in an
    end-type column (:data:`~repkpi.schemas.END_COLUMNS`) means "never" and
    is empty; a recorded date (:data:`~repkpi.schemas.RECORDED`; a deal's
    ``closed_on`` when won or lost) must not be after ``today``. The rows of
    ``raw.attrs["malformed"]`` (lines with too many or too few fields) fail
    on column :data:`LINE`, and the cells of ``raw.attrs["bad_cells"]`` on
    their column.
    A typed file's time-zone-aware timestamps are read as their local day
    in a date column (``2025-09-10 00:00:00-04:00`` is 2025-09-10) and in UTC
    in a timestamp column.

    Raises
    ------
    MissingColumnError
        ``raw`` lacks a required column (a :class:`~repkpi.errors.ColumnNotFoundError`).
    DataFileError
        A date or timestamp column is stored as numbers (a typed file's).
    """
    counts = {} if counts is None else counts
    counts.setdefault("trimmed", 0)
    counts.setdefault("never", 0)
    malformed = raw.attrs.get(MALFORMED)
    bad_cells = raw.attrs.get(BAD_CELLS, {})
    raw = clean_text(raw, counts)
    missing = [c.name for c in COLUMNS[table] if c.required and c.name not in raw.columns]
    if missing:
        raise MissingColumnError(
            f"{source}: the {table} table lacks required column(s) {missing}. "
            f"Found: {list(raw.columns)}.\nHint: required columns are "
            f"{[c.name for c in COLUMNS[table] if c.required]}; names are snake_case."
        )
    typed = pd.DataFrame(index=raw.index)
    failures = []
    for column in COLUMNS[table]:
        values = raw[column.name] if column.name in raw.columns else None
        _stored_as_dates(table, column, values, source)
        typed[column.name], bad = _convert(values, column, len(raw), raw.index)
        if bad is not None and bad.any():
            failures.append(failure_records(table, column.name, _TYPE_CHECKS[column.kind],
                                            raw.index[bad], raw[column.name]))
        if column.kind == "date" and values is not None:
            typed[column.name], out = _far_dates(table, column.name, typed[column.name], counts)
            if out.any():
                failures.append(failure_records(table, column.name, _YEARS, raw.index[out],
                                                raw[column.name]))
        elif column.kind == "datetime" and values is not None:
            stamps = typed[column.name]
            out = ((stamps < _FIRST.tz_localize("UTC")) | (stamps >= _BEYOND.tz_localize("UTC"))
                   ).to_numpy(dtype=bool)
            if out.any():
                typed[column.name] = typed[column.name].mask(out)
                failures.append(failure_records(table, column.name, _YEARS, raw.index[out],
                                                raw[column.name]))
    failures += _future(table, typed, raw, today)
    if malformed:
        failures.append(_malformed(table, malformed))
    for name, (check, rows) in bad_cells.items():
        failures.append(failure_records(table, name, check, pd.Index(rows),
                                        raw[name] if name in raw.columns else None))
    extra = [c for c in raw.columns if c not in typed.columns]
    typed = pd.concat([typed, raw[extra]], axis=1) if extra else typed
    typed.attrs = {}
    return typed, failures


def clean_text(raw: pd.DataFrame, counts: dict[str, int] | None = None) -> pd.DataFrame:
    """``raw`` with every text cell trimmed and the empty tokens (``NULL``, ``#N/A``, ...) empty.

    A column is rebuilt only when something in it changes; ``counts["trimmed"]``
    counts the cells that lost surrounding whitespace.

    Examples
    --------
    >>> counts = {}
    >>> clean_text(pd.DataFrame({"id": [" A1", "NULL", "NA"]}), counts)["id"].tolist()
    ['A1', nan, 'NA']
    >>> counts
    {'trimmed': 1}
    """
    out = {}
    trimmed = 0
    # A delimited text file's reader made the tokens empty already (repkpi.io.delimited).
    tokens_done = "delimiter" in raw.attrs
    for name in raw.columns:
        values = raw[name]
        if not (pd.api.types.is_string_dtype(values) or values.dtype == object):
            continue
        if values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) not in (
                "string", "empty"):
            continue
        text = to_arrow(values)
        if not pyarrow.types.is_large_string(text.type):
            text = text.cast(pyarrow.large_string())
        changed = _padded(text)
        if not changed and tokens_done:
            continue
        clean = pc.ascii_trim_whitespace(text) if changed else text  # spaces, tabs, line ends
        empty = pc.is_in(clean, value_set=_EMPTY)
        if not changed and not pc.any(empty).as_py():
            continue
        trimmed += changed or 0
        clean = pc.if_else(empty, pyarrow.scalar(None, pyarrow.large_string()), clean)
        out[name] = clean.to_pandas().set_axis(raw.index).astype("str")
    if counts is not None:
        counts["trimmed"] = counts.get("trimmed", 0) + trimmed
    if not out:
        return raw
    raw = raw.copy(deep=False)
    for name, values in out.items():
        raw[name] = values
    return raw


_BLANK_BYTES = np.zeros(256, dtype=bool)
_BLANK_BYTES[[9, 10, 11, 12, 13, 32]] = True  # what ascii_trim_whitespace removes


def _padded(text: pyarrow.Array | pyarrow.ChunkedArray) -> int:
    r"""How many values of a large-string array begin or end with ASCII whitespace.

    Reads each value's first and last byte through the offsets, without
    building a trimmed copy: most columns have nothing to trim.

    Examples
    --------
    >>> _padded(pyarrow.array(["a", " b", "c\t", None, ""], pyarrow.large_string()))
    2
    """
    chunks = text.chunks if isinstance(text, pyarrow.ChunkedArray) else [text]
    found = 0
    for chunk in chunks:
        if len(chunk) == chunk.null_count:
            continue
        _, offsets, data = chunk.buffers()
        if data is None:
            continue
        offsets = np.frombuffer(offsets, dtype=np.int64)[chunk.offset:chunk.offset + len(chunk) + 1]
        starts, ends = offsets[:-1], offsets[1:]
        filled = ends > starts
        if chunk.null_count:
            filled &= np.asarray(chunk.is_valid(), dtype=bool)
        data = np.frombuffer(data, dtype=np.uint8)
        found += int((_BLANK_BYTES[data[starts[filled]]] | _BLANK_BYTES[data[ends[filled] - 1]]).sum())
    return found


def _far_dates(table: str, name: str, dates: pd.Series,
               counts: dict[str, int]) -> tuple[pd.Series, np.ndarray]:
    """Dates with "never" (year 2200 on, in an end-type column) empty; the mask of dates out of range."""
    late = (dates >= _BEYOND).to_numpy(dtype=bool, copy=True)  # NaT compares False
    if name in END_COLUMNS.get(table, ()) and late.any():
        counts["never"] += int(late.sum())
        dates = dates.mask(late)
        late[:] = False
    out = late | (dates < _FIRST).to_numpy(dtype=bool)
    return (dates.mask(out) if out.any() else dates), out


def _future(table: str, typed: pd.DataFrame, raw: pd.DataFrame,
            today: pd.Timestamp | None) -> list[pd.DataFrame]:
    """Failures of recorded dates after the run's UTC date (``today``)."""
    if table not in RECORDED:
        return []
    today = (pd.Timestamp.now(tz="UTC") if today is None else pd.Timestamp(today))
    day = (today.tz_convert("UTC") if today.tzinfo else today).tz_localize(None).normalize()
    check = f"range: a recorded date not after today ({day.date()}, UTC)"
    out = []
    for name in RECORDED[table]:
        values = typed[name]
        after = day + pd.Timedelta(days=1)
        late = (values >= (after if values.dt.tz is None else after.tz_localize("UTC"))
                ).to_numpy(dtype=bool)
        if name == "closed_on" and table == "deals":
            late = late & typed["stage"].isin(["won", "lost"]).fillna(False).to_numpy(dtype=bool)
        if late.any():
            out.append(failure_records(table, name, check, raw.index[late],
                                       raw[name] if name in raw.columns else None))
    return out


def _malformed(table: str, malformed: dict[int, tuple[int, int, str]]) -> pd.DataFrame:
    """Failure records of the malformed lines (position -> fields found, expected, text)."""
    rows = np.array(sorted(malformed), dtype=np.int64)
    found = [malformed[r] for r in rows]
    return pd.DataFrame({
        "table": table,
        "row": pd.array(rows + 1, dtype="Int64"),
        "column": LINE,
        "check": [f"malformed line: {n} fields, expected {m}" for n, m, _ in found],
        "value": pd.Series([text for _, _, text in found], dtype="str"),
    })


def _stored_as_dates(table: str, column: Column, values: pd.Series | None, source: str) -> None:
    """Refuse a date or timestamp column stored as numbers (a typed file's), naming its type.

    Numbers in a date column (``1757462400000000000``: nanoseconds since
    1970, or days, or seconds) cannot be told apart; they are never guessed,
    nor printed one by one as ``1.7574624e+18``.
    """
    if (column.kind not in ("date", "datetime") or values is None
            or not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values))
            or values.isna().all()):
        return
    what = "dates" if column.kind == "date" else "timestamps"
    raise DataFileError(
        f"{source}: column {column.name!r} of the {table} table is stored as {values.dtype} "
        f"numbers, not as {what}.\nHint: store it as a Parquet date or timestamp, or as text "
        f"({'YYYY-MM-DD' if column.kind == 'date' else 'ISO 8601'}); a number of days or "
        "seconds since 1970 is not read as a date.")


def _convert(values: pd.Series | None, column: Column, n: int,
             index: pd.Index) -> tuple[pd.Series, np.ndarray | None]:
    """Return the typed column and a mask of values that did not parse."""
    if values is None:
        values = pd.Series(pd.NA, index=index, dtype="str")
    if column.kind == "str":
        if pd.api.types.is_float_dtype(values):  # Parquet ids stored as 1.0 are the ids "1"
            whole = np.isfinite(values) & (values == np.round(values)) & (values.abs() < _BIGGEST)
            text = values.astype("str")
            values = text.mask(whole, values.where(whole).astype("Int64").astype("str"))
        elif not pd.api.types.is_string_dtype(values) or values.dtype == object:
            values = values.astype("str")
        return values, None
    if column.kind == "date":
        if pd.api.types.is_datetime64_any_dtype(values):
            if getattr(values.dt, "tz", None) is not None:  # its local day, in its own zone
                values = values.dt.tz_localize(None)
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
        number = number.where(np.isfinite(number))  # inf and 1e309 are no amounts
        if column.kind == "int":
            whole = number.isna() | ((number == np.round(number)) & (number.abs() < _BIGGEST))
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

    A column whose every value has a zone (``Z`` or an offset: the usual
    export) is cast in one step by Arrow's strict ISO 8601 parser. Otherwise
    values with a zone and values without are cast separately; a group in
    which some value does not parse goes through pandas' parser instead,
    which marks just the bad values.
    """
    text = to_arrow(values)
    whole = _cast(text, pyarrow.timestamp("us", tz="UTC"))
    if whole is not None:
        micros = np.asarray(pc.fill_null(whole.cast(pyarrow.int64()), NAT), dtype=np.int64)
    else:
        micros = _micros_by_zone(values, text)
    # Built in its dtype: the microseconds are UTC already (no tz_localize pass over them).
    return pd.Series(micros.view("datetime64[us]"), index=values.index, dtype="datetime64[us, UTC]")


def _micros_by_zone(values: pd.Series, text: pyarrow.Array | pyarrow.ChunkedArray) -> np.ndarray:
    """Microseconds since the epoch, UTC, of zoned and naive values parsed apart (NaT: missing).

    Each group is cast from the column itself with the other group's values
    hidden as missing (:func:`_only`): no copy of the text.
    """
    if isinstance(text, pyarrow.ChunkedArray):
        text = text.combine_chunks()
    zoned = np.asarray(pc.fill_null(pc.match_substring_regex(text, _ZONED), False), dtype=bool)
    present = values.notna().to_numpy()
    micros = np.full(len(values), NAT, dtype=np.int64)
    for rows, kind in ((zoned, pyarrow.timestamp("us", tz="UTC")),
                       (present & ~zoned, pyarrow.timestamp("us"))):
        if not rows.any():
            continue
        cast = _cast(_only(text, rows), kind)
        if cast is None:
            parsed = pd.to_datetime(values[rows].astype("str"), format="ISO8601", utc=True,
                                    errors="coerce").astype("datetime64[us, UTC]")
            micros[rows] = parsed.dt.tz_localize(None).to_numpy().view(np.int64)
        else:
            micros[rows] = _int64(cast)[rows]
    return micros


def _only(text: pyarrow.Array, rows: np.ndarray) -> pyarrow.Array:
    """``text`` with the values outside ``rows`` missing, on the same offsets and bytes (no copy).

    Arrow's casts skip missing values, so a cast of the result parses the
    values of ``rows`` alone.

    Examples
    --------
    >>> text = pyarrow.array(["a", None, "c"], pyarrow.large_string())
    >>> _only(text, np.array([False, True, True])).to_pylist()
    [None, None, 'c']
    """
    keep = np.zeros(text.offset + len(text), dtype=bool)
    keep[text.offset:] = rows
    if text.null_count:
        keep[text.offset:] &= np.asarray(text.is_valid(), dtype=bool)
    bitmap = pyarrow.array(keep).buffers()[1]
    return pyarrow.Array.from_buffers(text.type, len(text), [bitmap, *text.buffers()[1:]],
                                      offset=text.offset)


def _int64(stamps: pyarrow.Array) -> np.ndarray:
    """The stored 64-bit values of a timestamp array, missing ones included (to be masked out)."""
    return np.frombuffer(stamps.buffers()[1], dtype=np.int64)[stamps.offset:
                                                               stamps.offset + len(stamps)]


def _parse_numbers(values: pd.Series) -> pd.Series:
    """Text (or numbers) to float64; text that is no number is missing."""
    if pd.api.types.is_numeric_dtype(values):
        return values.astype("float64")
    try:
        return pd.Series(pc.cast(to_arrow(values), pyarrow.float64()).to_pandas().to_numpy(),
                         index=values.index).astype("float64")
    except (pyarrow.ArrowInvalid, pyarrow.ArrowTypeError):
        return pd.to_numeric(values, errors="coerce").astype("float64")


def failure_records(table: str, column: str, check: str, index: pd.Index,
                    raw_values: pd.Series | None) -> pd.DataFrame:
    """Failure records (:data:`REJECT_COLUMNS`) for the rows at ``index`` of one column.

    ``index`` holds zero-based positions in the source, reported as 1-based
    rows; ``raw_values`` gives the value shown for each (None: no value).

    Examples
    --------
    >>> values = pd.Series(["x", "-5", "7"])
    >>> failure_records("deals", "amount", "range: a non-negative amount", pd.Index([1]), values)
       table  row  column                         check value
    0  deals    2  amount  range: a non-negative amount    -5
    """
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
