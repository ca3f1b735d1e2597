"""Export files: which file holds which table, and reading one file.

The bottom of :mod:`repkpi.io`: the pandas reader (:mod:`repkpi.io.loading`),
the CRM mappings (:mod:`repkpi.io.mapping`) and the Dask reader
(:mod:`repkpi.dask.reader`) all find and read their files here, so that a file is
named, read and refused the same way by each.

A table's file is named after it: ``<table>.csv`` (or ``.tsv``, ``.txt``,
``.parquet``, ``.xlsx``), optionally compressed (``deals.csv.gz``,
``deals.csv.zip``), or a folder of part files named after it. Every column of
a text or Excel file is read as text (parsing is :mod:`repkpi.io.parsing`'s
job; delimited text is :mod:`repkpi.io.delimited`'s); a Parquet file is read
as stored. Anything else named after a table is refused by name.
"""

from __future__ import annotations

import csv
import glob as globbing
import gzip
import io
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import pyarrow
import pyarrow.parquet as pq

from repkpi.errors import DataFileError, PathNotFoundError
from repkpi.io.delimited import MALFORMED, TRAILER, named_columns, read_delimited
from repkpi.schemas import TABLES as MODEL_TABLES

__all__ = [
    "COMPRESSIONS",
    "FORMATS",
    "SUFFIXES",
    "TABLES",
    "Source",
    "part_files",
    "read_file",
    "read_parts",
    "table_files",
    "table_name",
    "table_parts",
]

TABLES: tuple[str, ...] = MODEL_TABLES
"""The tables of the data model, in its order."""
FORMATS = (".csv", ".tsv", ".txt", ".parquet", ".xlsx")
"""The formats of a table file; ``.txt`` is delimited text (and ignored unless named after a table)."""
COMPRESSIONS = (".gz", ".zip")
"""The compressions a table file may have on top of its format (``deals.csv.gz``)."""
SUFFIXES = (".csv", ".parquet")
"""The suffixes of the files that hold a table (kept for callers; :data:`FORMATS` lists them all)."""
_DELIMITED = (".csv", ".tsv", ".txt")


def table_name(name: str) -> tuple[str, str, str] | None:
    """Split a file name into its table (or other) name, format and compression.

    None when the name has no table format (``goals.toml``, ``README``).

    Examples
    --------
    >>> table_name("deals.csv.gz"), table_name("Accounts (1).xlsx"), table_name("goals.toml")
    (('deals', '.csv', '.gz'), ('Accounts (1)', '.xlsx', ''), None)
    """
    stem, compression = name, ""
    for suffix in COMPRESSIONS:
        if stem.lower().endswith(suffix):
            stem, compression = stem[:-len(suffix)], suffix
            break
    for suffix in FORMATS:
        if stem.lower().endswith(suffix) and len(stem) > len(suffix):
            return stem[:-len(suffix)], suffix, compression
    return None


class Source(NamedTuple):
    """A table to read: its name, where it comes from (as messages name it), and how to read it."""

    table: str
    origin: str
    read: Callable[[], pd.DataFrame]


def _no_such_path(path: object, *, globs: bool = False) -> PathNotFoundError:
    also = " (or a glob of folders)" if globs else ""
    return PathNotFoundError(
        f"{path}: no such file or folder.\nHint: give the folder that holds the exports{also}."
    )


def _not_a_table(file: object, *, folders: bool = True) -> DataFileError:
    also = ", or a folder of part files named after the table" if folders else ""
    return DataFileError(
        f"{file}: the file name is not a table name. Expected one of "
        f"{', '.join(f'{t}.csv' for t in TABLES)} (or .tsv, .txt, .parquet, .xlsx, "
        f"compressed as .gz or .zip{also}).\nHint: rename the export after the table it "
        "holds, or move it out of the folder."
    )


def _not_readable(entry: object, why: str) -> DataFileError:
    return DataFileError(
        f"{entry}: named after a table, but {why}.\nHint: a table is a .csv, .tsv, .txt, "
        ".parquet or .xlsx file (optionally .gz or .zip), or a folder of such part files."
    )


def _no_tables(path: object) -> DataFileError:
    return DataFileError(
        f"{path}: no table files found.\nHint: name each export after its table "
        f"({', '.join(TABLES)}), as .csv, .tsv, .parquet or .xlsx, or as a folder of part files.")


def _entry(name: str, *, is_dir: bool, is_file: bool, where: object) -> str | None:
    """The table an entry of a data folder holds; None for an entry to ignore.

    Raises DataFileError for an entry named after a table that is no table
    file (``deals.json``, a dangling link) and a table file named after no table.
    """
    if name.startswith((".", "~$")):  # hidden files, Excel's lock files
        return None
    split = table_name(name)
    base = name.split(".", 1)[0] if split is None else split[0]
    if is_dir:
        return name if name in TABLES else None
    if split is None or split[0] not in TABLES:
        if base in TABLES:
            raise _not_readable(where, f"{name!r} is not a table format")
        if split is not None and split[1] != ".txt":
            raise _not_a_table(where)
        return None
    if not is_file:
        raise _not_readable(where, "it is a link to a file that does not exist, or no file")
    return split[0]


def part_files(folder: Path) -> list[Path]:
    """The part files of a table's folder (in sub-folders too), in name order.

    Raises
    ------
    DataFileError
        The folder holds no table file.
    """
    files = sorted(p for p in folder.rglob("*") if not p.is_dir() and table_name(p.name)
                   and not p.name.startswith((".", "~$")))
    for file in files:
        if not file.is_file():
            raise _not_readable(file, "it is a link to a file that does not exist")
    if not files:
        raise DataFileError(f"{folder}: a folder named after a table, with no table file in it."
                            "\nHint: put the part files (part-0001.csv, ...) in the folder.")
    return files


def table_files(path: Path) -> dict[str, Path]:
    """The file (or folder of part files) of each table in a local folder, or ``path`` itself.

    Every table file of the folder must be named after a table, and a table
    may have one file only; other files (goals.toml, a README) are ignored.

    Raises
    ------
    PathNotFoundError
        The path does not exist.
    DataFileError
        A file is named after no table, a file named after a table is no
        table file (``deals.json``, a dangling link), a table has two files,
        or the folder holds no table at all.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> for name in ("deals.csv", "accounts.parquet", "notes.txt"):
    ...     _ = (folder / name).write_text("")
    >>> {name: file.name for name, file in table_files(folder).items()}
    {'accounts': 'accounts.parquet', 'deals': 'deals.csv'}
    """
    if not path.exists() and not path.is_symlink():
        raise _no_such_path(path)
    if path.is_dir():
        entries = sorted(path.iterdir())
    else:
        entries = [path]
    files: dict[str, Path] = {}
    for entry in entries:
        name = _entry(entry.name, is_dir=entry.is_dir(), is_file=entry.is_file(), where=entry)
        if name is None:
            if entry == path:
                raise _not_a_table(entry)
            continue
        if name in files:
            raise DataFileError(
                f"{entry}: the table {name!r} is given twice ({files[name].name} and "
                f"{entry.name}).\nHint: keep one file per table."
            )
        files[name] = entry
    if not files:
        raise _no_tables(path)
    return files


def table_parts(path: str) -> dict[str, list[str]]:
    """The files of each table under ``path`` (a folder, a glob of folders, or one file).

    A table is a file named after it or a folder of part files (in
    sub-folders too); ``path`` may be any URL that fsspec knows.

    Raises
    ------
    DataFileError
        Nothing matches ``path``, a file is named after no table, a file
        named after a table is no table file, or no table file is found.
    """
    import fsspec

    fs, root = fsspec.core.url_to_fs(path)
    roots = sorted(fs.glob(root)) if globbing.has_magic(root) else [root]
    local = "file" in fs.protocol
    roots = [r for r in roots if fs.exists(r) or (local and os.path.islink(r))]
    if not roots:
        raise _no_such_path(path, globs=True)
    found: dict[str, list[str]] = {}
    for base in roots:
        entries = [base] if not fs.isdir(base) else sorted(fs.ls(base, detail=False))
        for entry in entries:
            name = entry.rstrip("/").rsplit("/", 1)[-1]
            is_dir = fs.isdir(entry)
            table = _entry(name, is_dir=is_dir, is_file=fs.isfile(entry), where=entry)
            if table is None:
                if entry == base and not is_dir:
                    raise _not_a_table(entry)
                continue
            if is_dir:
                files = sorted(f for f in fs.find(entry)
                               if table_name(f.rsplit("/", 1)[-1]) is not None)
                if not files:
                    raise DataFileError(f"{entry}: a folder named after a table, with no table "
                                        "file in it.\nHint: put the part files in the folder.")
            else:
                files = [entry]
            found.setdefault(table, []).extend(f if local else fs.unstrip_protocol(f)
                                               for f in files)
    if not found:
        raise _no_tables(path)
    return found


def read_parts(files: list[Path], *, encoding: str | None = None) -> pd.DataFrame:
    """The part files of one table as one frame, read with :func:`read_file`.

    The index runs on from file to file (each file's positions shifted by
    the lines before it); ``attrs["parts"]`` lists each file and the first
    position of its rows, so that a row number can be told within its file.

    Raises
    ------
    DataFileError
        As :func:`read_file`; or the files do not have the same columns.
    """
    frames, parts, offset = [], [], 0
    for file in files:
        frame = read_file(file, encoding=encoding)
        if frames and list(frame.columns) != list(frames[0].columns):
            raise DataFileError(
                f"{file}: its header differs from that of {files[0].name}: its columns "
                f"{list(frame.columns)} differ from those of {files[0]} "
                f"({list(frames[0].columns)}).\nHint: every part file of a table needs the "
                "same header.")
        lines = int(frame.index.max()) + 1 if len(frame) else 0
        malformed = {offset + row: found for row, found in frame.attrs.get(MALFORMED, {}).items()}
        frame = frame.set_axis(frame.index + offset)
        frame.attrs = {MALFORMED: malformed} if malformed else {}
        frames.append(frame)
        parts.append((str(file), offset))
        offset += lines
    whole = pd.concat(frames) if len(frames) > 1 else frames[0]
    whole.attrs = {"parts": parts, **({MALFORMED: {k: v for f in frames
                                                    for k, v in f.attrs.get(MALFORMED, {}).items()}}
                                      if any(MALFORMED in f.attrs for f in frames) else {})}
    return whole


def read_file(file: str | os.PathLike[str], *, encoding: str | None = None) -> pd.DataFrame:
    """One export file: every column as text for delimited text and Excel, as stored for Parquet.

    A file that is not on this machine (an fsspec URL such as
    ``s3://bucket/tickets.csv``) is copied to a temporary file first. The
    frame's index is each row's position among the file's lines after the
    header (see :mod:`repkpi.io.delimited`).

    Parameters
    ----------
    file : str or path-like
        A ``.csv``, ``.tsv``, ``.txt``, ``.parquet`` or ``.xlsx`` file,
        optionally compressed as ``.gz`` or ``.zip``.
    encoding : str, optional
        The text's encoding when it is not UTF-8 (e.g. ``"cp1252"``).

    Raises
    ------
    DataFileError
        The file is empty (zero bytes), repeats a column name or cannot be read.
    """
    if os.path.exists(file):
        return _read_local(Path(file), encoding)
    if os.path.lexists(file):
        raise _not_readable(file, "it is a link to a file that does not exist")
    import fsspec

    file = str(file)
    with tempfile.TemporaryDirectory() as folder:
        local = Path(folder) / Path(file.split("?")[0]).name
        try:
            with fsspec.open(file, "rb") as remote, open(local, "wb") as out:
                while chunk := remote.read(1 << 24):
                    out.write(chunk)
        except OSError as exc:
            raise DataFileError(f"{file}: the file cannot be read: {exc}") from exc
        return _read_local(local, encoding, name=file)


def _read_local(file: Path, encoding: str | None, *, name: str | None = None) -> pd.DataFrame:
    name = name or str(file)
    if file.stat().st_size == 0:
        raise DataFileError(
            f"{name}: the file is empty (zero bytes).\nHint: a table with no rows still "
            "needs its header line."
        )
    split = table_name(file.name) or (file.stem, file.suffix.lower(), "")
    _, kind, compression = split
    try:
        data = _decompress(file, compression)
        if kind == ".parquet":
            frame = pq.read_table(file if data is None else pyarrow.BufferReader(data)).to_pandas()
            # Rows are numbered by their position in the file, whatever index pandas
            # stored with it (a named index is a column of the file).
            return frame.reset_index(drop=all(n is None for n in frame.index.names))
        if kind == ".xlsx":
            return _read_xlsx(file if data is None else io.BytesIO(data), file.name)
        if kind not in _DELIMITED:
            raise _not_readable(name, f"{file.name!r} is not a table format")
        return read_delimited(file, data=data, name=name, encoding=encoding, tab=kind == ".tsv")
    except (pyarrow.ArrowException, OSError, UnicodeDecodeError, csv.Error, zipfile.BadZipFile,
            EOFError, KeyError, ValueError) as exc:
        if isinstance(exc, DataFileError):
            raise
        raise DataFileError(
            f"{name}: the file cannot be read: {exc}\nHint: export it again as "
            "UTF-8 CSV with one header line, as Parquet or as .xlsx."
        ) from exc


def _decompress(file: Path, compression: str) -> bytes | None:
    """The content of a ``.gz`` or ``.zip`` file (its one table file); None when not compressed."""
    if compression == ".gz":
        with gzip.open(file, "rb") as handle:
            return handle.read()
    if compression == ".zip":
        with zipfile.ZipFile(file) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()
                       and not m.filename.rsplit("/", 1)[-1].startswith((".", "__MACOSX"))]
            if len(members) != 1:
                raise DataFileError(
                    f"{file}: a zip file of a table holds one file; this one holds "
                    f"{len(members)}.\nHint: zip each table's file alone.")
            return archive.read(members[0])
    return None


def _read_xlsx(source: Path | io.BytesIO, name: str) -> pd.DataFrame:
    """The sheet named after the table (else the first) of an Excel file, every cell as text.

    Rows are numbered like a text file's: position after the header row,
    blank rows counted (and dropped), wholly empty unnamed trailing columns
    dropped. Dates at midnight read ``YYYY-MM-DD``, whole numbers without
    ``.0``. python-calamine (calamine, in Rust) reads the sheet; the columns
    are then turned to text whole.
    """
    table = (table_name(name) or (name,))[0]
    rows = _xlsx_rows(source, table, name)
    if not rows:
        raise DataFileError(f"{name}: the sheet is empty.\nHint: a table with no rows still "
                            "needs its header row.")
    rows = rows[:_xlsx_trailer(rows)]
    header = ["" if v is None else str(v).strip() for v in rows[0]]
    named = named_columns(header, name)
    width = len(named)
    cells = pd.DataFrame.from_records(rows[1:], columns=range(len(header))) if len(rows) > 1 \
        else pd.DataFrame(columns=range(len(header)))
    extra = cells.iloc[:, width:]
    if extra.notna().any().any():
        column = int(extra.columns[extra.notna().any().to_numpy()][0]) + 1
        raise DataFileError(f"{name}: column {column} has values but no header.\nHint: name "
                            "every column in the header row, or delete the column.")
    frame = pd.DataFrame({column: _cell_text(cells.iloc[:, i]) for i, column in enumerate(named)},
                         index=cells.index)
    return frame[frame.notna().any(axis=1)] if len(named) else frame


_TRAILER_TEXT = tuple(marker.decode() for marker in TRAILER)


def _xlsx_trailer(rows: list[list[object]]) -> int:
    """Where a Salesforce report's trailer starts (its blank row), else ``len(rows)``.

    As in a text export: a blank row, then lines such as "Generated By" or
    "Confidential Information - Do Not Distribute", ends the data.

    Examples
    --------
    >>> rows = [["Id"], ["A1"], [None], ["Report"], ["Generated By: Admin"]]
    >>> _xlsx_trailer(rows), _xlsx_trailer(rows[:2])
    (2, 2)
    """
    tail = range(max(1, len(rows) - 12), len(rows))
    marked = [i for i in tail
              if any(isinstance(cell, str) and any(m in cell for m in _TRAILER_TEXT)
                     for cell in rows[i])]
    if not marked:
        return len(rows)
    blank = [i for i in tail if i < marked[0] and all(cell is None for cell in rows[i])]
    return blank[-1] if blank else len(rows)


def _xlsx_rows(source: Path | io.BytesIO, table: str, name: str) -> list[list[object]]:
    """The rows of the sheet named ``table`` (else the first), empty cells as None."""
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        book = (CalamineWorkbook.from_path(str(source)) if isinstance(source, Path)
                else CalamineWorkbook.from_filelike(source))
        sheet = (book.get_sheet_by_name(table) if table in book.sheet_names
                 else book.get_sheet_by_index(0))
        rows = sheet.to_python(skip_empty_area=False)
    except CalamineError as exc:
        raise DataFileError(f"{name}: the file cannot be read as an Excel workbook ({exc}).\n"
                            "Hint: open it in Excel and save it again as .xlsx, or export "
                            "the table as UTF-8 CSV.") from exc
    return [[None if cell == "" else cell for cell in row] for row in rows]


def _cell_text(cells: pd.Series) -> pd.Series:
    """Excel cells as text: dates at midnight ``YYYY-MM-DD``, other times ISO, ``1.0`` as ``1``."""
    present = cells.notna()
    text = cells.astype("str").where(present)
    text = text.str.replace(r"^(\d{4}-\d\d-\d\d)[ T]00:00:00$", r"\1", regex=True)
    return text.str.replace(r"^(-?\d+)\.0$", r"\1", regex=True).astype("str")
