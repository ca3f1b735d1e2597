"""Writing outputs safely: formula-safe cells, Excel number formats, whole-or-nothing writes.

Every file repkpi writes for people to open goes through here:

* :func:`formula_safe`: text that a spreadsheet would run as a formula (it
  begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) gets a
  leading apostrophe, as OWASP advises for CSV; a plain number (``-12.5``,
  ``+44``) is left as it is. Column names and the index are cells too.
* :func:`write_csv`, :func:`write_xlsx`, :func:`write_rows`: one file, written
  whole or not at all (a hidden partial file beside it, renamed into place).
  In Excel files such text is a text cell, never a formula cell, and numbers
  carry the number format of their unit (:data:`NUMBER_FORMATS`).
* :func:`staged_folder`: a folder of outputs written whole or not at all, and
  :func:`check_out_folder`, where an output folder may go.

An output folder is *owned* by repkpi: :func:`staged_folder` writes a marker
file (:data:`MARKER`) into it and replaces the folder whole on the next run, so
that a folder never mixes two runs. Other files a user puts there would be
lost, so a folder that holds anything else is refused (see
:func:`check_out_folder`).
"""

from __future__ import annotations

import datetime
import os
import re
import secrets
import shutil
import time
import warnings
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from repkpi.errors import ColumnNotFoundError, OptionError

__all__ = [
    "FORMULA_START",
    "MARKER",
    "NUMBER_FORMATS",
    "check_out_folder",
    "formula_cells",
    "formula_safe",
    "require_openpyxl",
    "sheet_name",
    "staged_folder",
    "write_csv",
    "write_rows",
    "write_xlsx",
]

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""The first characters that make a spreadsheet read a cell as a formula."""

_PLAIN_NUMBER = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"

NUMBER_FORMATS: Mapping[str, str] = {
    "count": "#,##0",
    "percent": "0.0%",
    "points": '+0.0%;-0.0%;0.0%',
    "money": "#,##0.00",
    "hours": "0.0",
    "score": "0.00",
    "rank": "0",
}
"""The Excel number format of each KPI unit (``repkpi.kpis.UNITS``); money is in the reporting currency.

Share points are signed percents: Excel scales a value by 100 only with the percent sign."""

MARKER = ".repkpi"
"""The file that marks a folder as written by repkpi, which replaces it whole on the next run."""

_MARKER_TEXT = ("This folder was written by repkpi. The next run to this folder replaces it whole:\n"
                "keep no other files here.\n")
# An output folder written before the marker existed: a report's files, and nothing else.
_EARLIER_REPORT = re.compile(r".+\.png|scorecard\.csv|rejects\.csv|report\.(?:html|md|xlsx)")
_STALE_AFTER = 24 * 3600  # seconds; where a process cannot be asked whether it still runs


# -- formula-safe cells -----------------------------------------------------------------------------


def formula_cells(values: pd.Series | pd.Index) -> np.ndarray:
    """Where ``values`` holds text that a spreadsheet would run as a formula.

    Text that begins with one of :data:`FORMULA_START` and is not a plain
    number (``-12.5``, ``+44``, ``-1e3``). Numbers, dates and missing values
    are never formulas; a column of mixed values is checked on its text only.

    Returns
    -------
    numpy.ndarray
        One bool per value.

    Examples
    --------
    >>> formula_cells(pd.Series(["=SUM(A1)", "-12.5", "+44", "-x", "A2", None, 3], dtype=object))
    array([ True, False, False,  True, False, False, False])
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = np.asarray(values.codes if isinstance(values, pd.Index) else values.cat.codes)
        categories = formula_cells(values.categories if isinstance(values, pd.Index)
                                   else values.cat.categories)
        return np.append(categories, False)[codes]  # code -1 (missing) takes the appended False
    if not (values.dtype == object or pd.api.types.is_string_dtype(values.dtype)):
        return np.zeros(len(values), dtype=bool)
    try:
        starts = np.array(values.str.startswith(FORMULA_START, na=False), dtype=bool)
    except (AttributeError, TypeError):  # .str takes text only: a column without any
        return np.zeros(len(values), dtype=bool)
    where = np.flatnonzero(starts)
    if len(where):
        candidates = pd.Series(np.asarray(values, dtype=object)[where], dtype="str")
        starts[where] = ~np.asarray(candidates.str.fullmatch(_PLAIN_NUMBER), dtype=bool)
    return starts


def _prefixed(values: pd.Series | pd.Index) -> pd.Series | pd.Index | None:
    """``values`` with an apostrophe before each formula; None when there is none."""
    if isinstance(values, pd.MultiIndex):
        levels = [_prefixed(values.get_level_values(i)) for i in range(values.nlevels)]
        names = _safe_names(values.names)
        if all(level is None for level in levels) and names == list(values.names):
            return None
        arrays = [values.get_level_values(i) if level is None else level for i, level in enumerate(levels)]
        return pd.MultiIndex.from_arrays(arrays, names=names)
    risky = formula_cells(values)
    if not risky.any():
        return None
    if isinstance(values.dtype, pd.CategoricalDtype):
        categories = values.categories if isinstance(values, pd.Index) else values.cat.categories
        renamed = _prefixed(categories)
        if renamed is not None and renamed.is_unique:
            return (values.rename_categories(renamed) if isinstance(values, pd.Index)
                    else values.cat.rename_categories(renamed))
        values = values.astype(object)  # '=x' beside an apostrophed '=x': no longer categories
    where = np.flatnonzero(risky)
    array = values.to_numpy(dtype=object, copy=True)
    array[where] = ("'" + pd.Series(array[where], dtype="str")).to_numpy(dtype=object)
    if isinstance(values, pd.Index):
        return pd.Index(array, name=values.name, dtype=values.dtype)
    return pd.Series(array, index=values.index, name=values.name, dtype=values.dtype)


def _safe_names(names: Sequence[Hashable]) -> list[Hashable]:
    """Index names as a CSV header shows them: an apostrophe before a formula."""
    return [f"'{name}" if isinstance(name, str) and formula_cells(pd.Index([name], dtype=object))[0]
            else name for name in names]


def formula_safe(frame: pd.DataFrame, /, *, index: bool = True) -> pd.DataFrame:
    """``frame`` with an apostrophe before every text cell that a spreadsheet would run as a formula.

    Parameters
    ----------
    frame : pandas.DataFrame
        Not modified. Text columns (``str``, object with mixed values,
        categorical with text categories) are checked, and the column names.
    index : bool, default True
        Also the index labels and names (for ``to_csv(index=True)``).

    Returns
    -------
    pandas.DataFrame
        The same columns and dtypes; only the risky text differs.

    Notes
    -----
    This is for CSV. Excel files need no apostrophe: :func:`write_xlsx`
    writes such text as text cells.

    Examples
    --------
    >>> rows = pd.DataFrame({"=cmd": ["=HYPERLINK(1)", "-12.5", "@x", "A2"], "n": [1, -2, 3, 4]})
    >>> formula_safe(rows)
            '=cmd  n
    0  '=HYPERLINK(1)  1
    1           -12.5 -2
    2             '@x  3
    3              A2  4
    """
    safe = frame.copy(deep=False)
    for position, (_, column) in enumerate(frame.items()):
        fixed = _prefixed(column)
        if fixed is not None:
            safe.isetitem(position, fixed)
    axes = [("columns", frame.columns)] + ([("index", frame.index)] if index else [])
    for axis, labels in axes:
        fixed = _prefixed(labels)
        if not isinstance(labels, pd.MultiIndex) and _safe_names(labels.names) != list(labels.names):
            fixed = (labels if fixed is None else fixed).set_names(_safe_names(labels.names))
        if fixed is not None:
            setattr(safe, axis, fixed)
    return safe


# -- single files -----------------------------------------------------------------------------------


_SHEET_LENGTH = 31  # Excel's limit on a sheet's name
_NOT_IN_SHEET_NAMES = "[]:*?/\\"


def sheet_name(text: str, /, *, taken: Iterable[str] = ()) -> str:
    r"""An Excel sheet name for ``text``: at most 31 characters, never cut mid-word, not ``taken``.

    The characters Excel refuses (``[]:*?/\``) are left out. A longer text
    keeps its first whole words and ends with "…"; a name already ``taken``
    (Excel ignores case) gets " (2)", " (3)"... within the 31 characters.

    Examples
    --------
    >>> sheet_name("Contracts due in 2026 Q1 not yet renewed")
    'Contracts due in 2026 Q1 not…'
    >>> sheet_name("Accounts churned in 2026 Q3"), sheet_name("kpis", taken=["KPIs"])
    ('Accounts churned in 2026 Q3', 'kpis (2)')
    >>> sheet_name("Supercalifragilisticexpialidocious-accounts")
    'Supercalifragilisticexpialidoc…'
    """
    clean = " ".join("".join(c for c in text if c not in _NOT_IN_SHEET_NAMES).split()) or "sheet"
    used = {name.lower() for name in taken}
    number = 1
    while True:
        suffix = "" if number == 1 else f" ({number})"
        name = _fit(clean, _SHEET_LENGTH - len(suffix)) + suffix
        if name.lower() not in used:
            return name
        number += 1


def _fit(text: str, length: int) -> str:
    """``text`` in at most ``length`` characters: whole words then "…" (a single long word is cut)."""
    if len(text) <= length:
        return text
    words = text[:length].rsplit(" ", 1)[0] if " " in text[:length] else ""
    kept = words if len(words) + 1 <= length and words else text[:length - 1]
    return kept.rstrip(" -,;") + "…"


def require_openpyxl() -> ModuleType:
    """The ``openpyxl`` module, or an :class:`~repkpi.errors.OptionError` that says to install it."""
    try:
        import openpyxl
    except ImportError:
        raise OptionError("Writing .xlsx needs openpyxl, which is not installed.\n"
                          "Hint: pip install openpyxl, or write a .csv file.") from None
    return openpyxl


def write_csv(frame: pd.DataFrame, path: str | Path, /, *, index: bool = False) -> Path:
    """Write ``frame`` as a formula-safe CSV file (:func:`formula_safe`), whole or not at all.

    Returns the path written; its folder is created when missing.
    """
    path = Path(path)
    with _replacing(path) as partial:
        formula_safe(frame, index=index).to_csv(partial, index=index)
    return path


def write_xlsx(sheets: Mapping[str, pd.DataFrame], path: str | Path, /, *,
               units: Mapping[str, Mapping[Hashable, str | pd.Series]] | None = None) -> Path:
    """Write one sheet per frame to an Excel file, whole or not at all.

    Parameters
    ----------
    sheets : mapping of str to pandas.DataFrame
        Sheet name -> its rows, in order (flat column names; the index is
        not written: ``reset_index()`` first to keep it).
    path : path
        The ``.xlsx`` file; its folder is created when missing.
    units : mapping, optional
        Sheet name -> column -> the unit of its numbers: one of
        :data:`NUMBER_FORMATS` for the whole column, or a Series of units,
        one per row (aligned on the frame's index; a missing unit leaves the
        cell in Excel's general format). A long frame of KPI values takes its
        units from its ``kpi`` column: ``frame["kpi"].map(repkpi.kpis.UNITS)``.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    OptionError
        A bad sheet name or an unknown unit.
    ColumnNotFoundError
        ``units`` names a column that the sheet does not have.

    Notes
    -----
    Text that a spreadsheet would run as a formula is a text cell (with
    Excel's quote prefix), never a formula cell; column names too. Periods
    are written as text (``2026Q3``), timestamps with a time zone in UTC
    without it (Excel has no time zones), dates without a time of day as
    dates. The header row is frozen.

    Examples
    --------
    >>> import tempfile, openpyxl
    >>> values = pd.DataFrame({"kpi": ["churn_rate", "revenue"], "value": [0.0523, 1234567.0]})
    >>> units = {"values": {"value": pd.Series(["percent", "money"])}}
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     sheet = openpyxl.load_workbook(write_xlsx({"values": values}, f"{tmp}/r.xlsx",
    ...                                               units=units))["values"]
    >>> sheet["B2"].number_format, sheet["B3"].number_format
    ('0.0%', '#,##0.00')
    """
    openpyxl = require_openpyxl()
    path, units = Path(path), units or {}
    _check_sheets(sheets, units)
    formats = {name: {column: _row_units(spec, sheets[name], name, column) for column, spec in by.items()}
               for name, by in units.items()}
    with _replacing(path) as partial:
        book = openpyxl.Workbook(write_only=True)  # rows streamed to the file, not kept as cells
        for name, frame in sheets.items():
            _write_sheet(book.create_sheet(name), frame, formats.get(name, {}))
        book.save(partial)
    return path


def write_rows(frame: pd.DataFrame, path: str | Path, /, *, sheet: str = "data") -> Path:
    """Write ``frame`` as CSV or Excel by the suffix of ``path`` (``.csv``, ``.xlsx``).

    See :func:`write_csv` and :func:`write_xlsx` (one sheet named ``sheet``).

    Raises
    ------
    OptionError
        Another suffix, or ``.xlsx`` without openpyxl.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return write_csv(frame, path)
    if suffix == ".xlsx":
        return write_xlsx({sheet: frame}, path)
    raise OptionError(f"Rows are written to a .csv or .xlsx file, got {path.name!r}.\n"
                      "Hint: end the file name in .csv or .xlsx.")


_DATETIME_FORMAT = "YYYY-MM-DD HH:MM:SS"  # a timestamp's number format (pandas' to_excel's)
_DATE_FORMAT = "yyyy-mm-dd"  # a column of timestamps without a time of day
_CELL_LENGTH = 32767  # Excel's limit on a cell's characters


def _write_sheet(sheet: Any, frame: pd.DataFrame, row_units: Mapping[Hashable, np.ndarray]) -> None:
    """Stream ``frame`` into a write-only sheet: header, then rows, each cell with its format.

    The cells are those ``DataFrame.to_excel`` writes (missing values as
    empty text, infinities as ``inf``); a cell that has a number format or
    holds text that reads as a formula is a styled cell, the others plain
    values.
    """
    from openpyxl.utils import get_column_letter

    sheet.freeze_panes = "A2"
    header: list[object] = []
    columns: list[np.ndarray] = []
    for position, (label, column) in enumerate(frame.items(), start=1):
        column = _excel_values(column)
        width = max([len(str(label)), *column.head(1000).astype("str").str.len().fillna(0)])
        sheet.column_dimensions[get_column_letter(position)].width = min(max(width + 2, 8), 60)
        values, number_formats = _cell_values(column)
        if (pd.api.types.is_datetime64_dtype(column.dtype)
                and (column.dropna() == column.dropna().dt.normalize()).all()):
            number_formats[column.notna().to_numpy()] = _DATE_FORMAT
        if label in row_units:
            unit = row_units[label]
            given = pd.notna(unit)
            number_formats[given] = pd.Series(unit[given]).map(NUMBER_FORMATS).to_numpy(dtype=object)
        text = formula_cells(column)
        for row in np.flatnonzero(text | pd.notna(number_formats)):
            values[row] = _styled(sheet, values[row], number_formats[row], text=text[row])
        name = str(label) if isinstance(label, str) else _cell_values(pd.Series([label]))[0][0]
        risky = isinstance(label, str) and formula_cells(pd.Index([label], dtype=object))[0]
        header.append(_styled(sheet, name, None, text=True) if risky else name)
        columns.append(values)
    if header:
        sheet.append(header)
    for row in zip(*columns, strict=True):
        sheet.append(row)


def _styled(sheet: Any, value: object, number_format: str | None, *, text: bool) -> object:
    """A write-only cell holding ``value``: with ``number_format``, or as text (never a formula)."""
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet, value)
    if number_format is not None:
        cell.number_format = number_format
    if text:
        cell.data_type = "s"  # openpyxl reads a value that begins with "=" as a formula
        cell.quotePrefix = True  # and Excel keeps it text when the cell is edited
    return cell


def _cell_values(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """The cells of ``column`` as ``to_excel`` writes them, and each one's number format (or None).

    Missing values are empty text, infinities ``inf`` and ``-inf``,
    timestamps dated cells in :data:`_DATETIME_FORMAT`, durations days in
    format ``0``; text of any other object is its ``str``.
    """
    number_formats = np.full(len(column), None, dtype=object)
    missing = column.isna().to_numpy()
    if pd.api.types.is_timedelta64_dtype(column.dtype):
        values = (column / pd.Timedelta(days=1)).to_numpy(dtype=object)
        number_formats[~missing] = "0"
    elif column.dtype == object:
        pairs = [_cell_value(v) for v in column.to_numpy(dtype=object)]
        values = np.empty(len(pairs), dtype=object)
        values[:] = [v for v, _ in pairs]
        number_formats[:] = [f for _, f in pairs]
    else:
        values = column.to_numpy(dtype=object)
        if pd.api.types.is_datetime64_dtype(column.dtype):
            number_formats[~missing] = _DATETIME_FORMAT
        elif pd.api.types.is_float_dtype(column.dtype):
            numbers = column.to_numpy(dtype=np.float64, na_value=np.nan)
            values[np.isposinf(numbers)] = "inf"
            values[np.isneginf(numbers)] = "-inf"
        elif pd.api.types.is_string_dtype(column.dtype) and (column.str.len() > _CELL_LENGTH).any():
            warnings.warn(f"Cell contents too long, truncated to {_CELL_LENGTH} characters",
                          UserWarning, stacklevel=3)
    values[missing] = ""
    number_formats[missing] = None
    return values, number_formats


def _cell_value(value: object) -> tuple[object, str | None]:
    """One cell of an object column (and its number format), as ``to_excel`` writes it."""
    if pd.api.types.is_scalar(value) and pd.isna(value):
        return "", None
    if isinstance(value, bool | np.bool_):
        return bool(value), None
    if isinstance(value, int | np.integer):
        return int(value), None
    if isinstance(value, float | np.floating):
        return ("inf" if value > 0 else "-inf") if np.isinf(value) else float(value), None
    if isinstance(value, Decimal):
        return value, None
    if isinstance(value, datetime.datetime):
        return value, _DATETIME_FORMAT
    if isinstance(value, datetime.date):
        return value, "YYYY-MM-DD"
    if isinstance(value, datetime.timedelta):
        return value.total_seconds() / 86400, "0"
    text = str(value)
    if len(text) > _CELL_LENGTH:
        warnings.warn(f"Cell contents too long, truncated to {_CELL_LENGTH} characters",
                      UserWarning, stacklevel=4)
    return text, None


def _excel_values(column: pd.Series) -> pd.Series:
    """A column as Excel can hold it: periods and intervals as text, timestamps naive in UTC."""
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        try:
            column = column.astype(dtype.categories.dtype)
        except (TypeError, ValueError):  # integer categories with a missing value
            column = column.astype(object)
        return _excel_values(column)
    if isinstance(dtype, pd.PeriodDtype | pd.IntervalDtype):
        return column.astype("str")
    if isinstance(dtype, pd.DatetimeTZDtype):
        return column.dt.tz_convert("UTC").dt.tz_localize(None)
    return column


def _check_sheets(sheets: Mapping[str, pd.DataFrame], units: Mapping[str, object]) -> None:
    seen: set[str] = set()
    for name in sheets:
        if not isinstance(name, str) or not 0 < len(name) <= 31 or set(name) & set("[]:*?/\\"):
            raise OptionError(f"Bad Excel sheet name {name!r}.\nHint: 1 to 31 characters, "
                              "none of [ ] : * ? / \\.")
        if name.lower() in seen:
            raise OptionError(f"Two sheets named {name!r} (Excel ignores case).\n"
                              "Hint: give each sheet its own name.")
        seen.add(name.lower())
    if unknown := [name for name in units if name not in sheets]:
        raise OptionError(f"units for sheet(s) {unknown} that are not written.\n"
                          f"Hint: the sheets are {list(sheets)}.")


def _row_units(spec: str | pd.Series, frame: pd.DataFrame, sheet: str, column: Hashable) -> np.ndarray:
    """The unit of each row of ``column`` (object array, NaN where none)."""
    if column not in frame.columns:
        raise ColumnNotFoundError(f"units name column {column!r}, which sheet {sheet!r} does not have.\n"
                                  f"Hint: its columns are {list(frame.columns)}.")
    if isinstance(spec, str):
        found = np.full(len(frame), spec, dtype=object)
    elif isinstance(spec, pd.Series):
        if not spec.index.equals(frame.index):
            if not frame.index.is_unique:
                raise OptionError(f"The units of {sheet}.{column} are not on the sheet's index.\n"
                                  "Hint: pass a Series with the frame's own index.")
            spec = spec.reindex(frame.index)
        found = spec.to_numpy(dtype=object)
    else:
        found = np.asarray(spec, dtype=object)
        if len(found) != len(frame):
            raise OptionError(f"{len(found)} units for the {len(frame)} rows of {sheet}.{column}.\n"
                              "Hint: one unit per row, or one unit for the column.")
    if unknown := sorted({str(u) for u in found[pd.notna(found)]} - NUMBER_FORMATS.keys()):
        raise OptionError(f"Unknown unit(s) {unknown} for {sheet}.{column}.\n"
                          f"Hint: one of {sorted(NUMBER_FORMATS)}.")
    return found


# -- whole or nothing -------------------------------------------------------------------------------


def _sibling(target: Path, kind: str, suffix: str = "") -> Path:
    """A new hidden name beside ``target`` that says whose it is: ``.{name}.{kind}-{pid}-{random}``."""
    stem = target.name[: len(target.name) - len(suffix)] if suffix else target.name
    return target.with_name(f".{stem}.{kind}-{os.getpid()}-{secrets.token_hex(4)}{suffix}")


def _alive(pid: int, path: Path) -> bool:
    """Whether the process that made ``path`` may still be writing it."""
    if pid == os.getpid():
        return True
    if os.name != "posix":  # no harmless way to ask: a day-old leftover is stale
        try:
            return time.time() - path.stat().st_mtime < _STALE_AFTER
        except OSError:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, under another user
        return True
    return True


def _clean_stale(target: Path, suffix: str = "") -> None:
    """Remove what killed runs left beside ``target``; put back a folder set aside and not replaced."""
    stem = target.name[: len(target.name) - len(suffix)] if suffix else target.name
    pattern = re.compile(rf"\.{re.escape(stem)}\.(partial|old)-(\d+)-[0-9a-f]+{re.escape(suffix)}")
    try:
        entries = sorted(target.parent.iterdir())
    except OSError:
        return
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None or _alive(int(match[2]), entry):
            continue
        if match[1] == "old" and not target.exists():  # killed between setting aside and renaming in
            entry.rename(target)
        elif entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


@contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """Yield a partial file beside ``path``; on success it replaces ``path``, else it is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale(path, path.suffix)
    partial = _sibling(path, "partial", path.suffix)  # the suffix last: writers choose by it
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _owned(folder: Path) -> bool:
    """Whether repkpi may replace ``folder``: empty, marked, or a report written before the marker."""
    names = [entry.name for entry in folder.iterdir()]
    if not names or MARKER in names:
        return True
    return "scorecard.csv" in names and all(
        _EARLIER_REPORT.fullmatch(name) and (folder / name).is_file() for name in names)


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_out_folder(out: str | Path, data_dir: str | Path | None = None) -> Path:
    """Refuse an output folder that would break the data or the user's files; return it resolved.

    Parameters
    ----------
    out : path
        The output folder; it need not exist. Symbolic links are followed.
    data_dir : path, optional
        The data folder (or file) the outputs are computed from.

    Returns
    -------
    pathlib.Path
        ``out`` as an absolute path with symbolic links resolved.

    Raises
    ------
    OptionError
        ``out`` is the data folder or inside it (the next run would read the
        outputs as data), holds the data (replacing it would delete the
        data), is a file, or is a folder with files that repkpi did not write
        (it holds no :data:`MARKER`; replacing it would delete them). An
        empty folder is fine, and so is a report folder from before the
        marker: ``scorecard.csv`` with only charts, CSV, HTML and Excel
        report files beside it.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as data:
    ...     check_out_folder(f"{data}/report", data)
    Traceback (most recent call last):
    ...
    repkpi.errors.OptionError: The output folder .../report is inside the data folder ...
    """
    target = Path(out).expanduser().resolve()
    if data_dir is not None:
        data = Path(data_dir).expanduser().resolve()
        if any(_same(folder, data) for folder in (target, *target.parents)):
            where = "the data folder" if _same(target, data) else "inside the data folder"
            raise OptionError(f"The output folder {target} is {where} {data}: the next run would "
                              "read the outputs as data.\nHint: write the outputs beside the data, "
                              "e.g. --out reports/<month>.")
        if target.exists() and any(_same(folder, target) for folder in data.parents):
            raise OptionError(f"The output folder {target} holds the data folder {data}: writing the "
                              "outputs replaces the folder whole, data included.\n"
                              "Hint: write the outputs to a folder of their own.")
    if target.exists() and not target.is_dir():
        raise OptionError(f"The output folder {target} is a file.\nHint: name a folder.")
    if target.is_dir() and not _owned(target):
        raise OptionError(f"The output folder {target} holds files that repkpi did not write: "
                          "repkpi replaces its output folder whole, so they would be lost.\n"
                          f"Hint: name a new or empty folder. If it is an earlier repkpi output, "
                          f"delete it, or create an empty file named {MARKER} in it.")
    return target


@contextmanager
def staged_folder(out: str | Path, /, *, data_dir: str | Path | None = None) -> Iterator[Path]:
    r"""Write a folder of outputs whole or not at all.

    Yields a new empty folder beside ``out`` (hidden, named
    ``.{name}.partial-{pid}-{random}``, on the same file system), to write
    the outputs into. When the ``with`` block ends without an exception, that
    folder replaces ``out``: the old one is renamed aside, the new one renamed
    into place, the old one deleted. On any exception (``KeyboardInterrupt``
    included) the new folder is deleted and ``out`` is left as it was.

    Parameters
    ----------
    out : path
        The output folder, checked first by :func:`check_out_folder`: it is
        new, empty, or written by repkpi before; every file of the old
        folder is gone afterwards (an output the new run no longer writes
        does not linger).
    data_dir : path, optional
        The data folder, which ``out`` may not be, be inside or hold.

    Yields
    ------
    pathlib.Path
        The folder to write into; it already holds the :data:`MARKER` file.

    Notes
    -----
    A killed process (``SIGKILL``, a power cut) cannot clean up: it may leave
    a ``.{name}.partial-*`` folder beside ``out``, never an ``out`` that mixes
    two runs. If it was killed between the two renames, ``out`` is missing and
    the old folder waits beside it as ``.{name}.old-*``. The next run to
    ``out`` deletes such leftovers of processes that no longer run, after
    putting a missing ``out`` back.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     with staged_folder(f"{tmp}/report") as folder:
    ...         _ = (folder / "scorecard.csv").write_text("kpi,value\n")
    ...     sorted(path.name for path in Path(tmp, "report").iterdir())
    ['.repkpi', 'scorecard.csv']
    """
    target = Path(out).expanduser().resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale(target)
    target = check_out_folder(target, data_dir)
    staged = _sibling(target, "partial")
    staged.mkdir()
    try:
        if target.is_dir():
            shutil.copymode(target, staged)
        (staged / MARKER).write_text(_MARKER_TEXT, encoding="utf-8")
        yield staged
        if target.exists():
            aside = _sibling(target, "old")
            target.rename(aside)
            try:
                staged.rename(target)
            except BaseException:
                aside.rename(target)
                raise
            shutil.rmtree(aside, ignore_errors=True)  # what is left is cleaned on the next run
        else:
            staged.rename(target)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
