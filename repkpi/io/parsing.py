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
from repkpi.errors import ColumnNotFoundError
from repkpi.periods import NAT
from repkpi.schemas import COLUMNS, Column

__all__ = ["FILE_REJECT_COLUMNS", "REJECT_COLUMNS", "failure_records", "parse_table"]

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


def parse_table(table: str, raw: pd.DataFrame,
                source: str) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
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

    Returns
    -------
    typed : DataFrame
        The data model's columns, typed (a value that does not parse is
        missing), then the other columns of ``raw`` as they are.
    failures : list of DataFrame
        Failure records (:func:`failure_records`) of the values that do not parse.

    Raises
    ------
    ColumnNotFoundError
        ``raw`` lacks a required column.
    """
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
            failures.append(failure_records(table, column.name, _TYPE_CHECKS[column.kind],
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
