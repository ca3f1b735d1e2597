"""Export files: which file holds which table, and reading one file.

The bottom of :mod:`repkpi.io`: the pandas reader (:mod:`repkpi.io.loading`),
the CRM mappings (:mod:`repkpi.io.mapping`) and the Dask reader
(:mod:`repkpi.io.dask`) all find and read their files here, so that a file is
named, read and refused the same way by each.

A table's file is named after it, ``<table>.csv`` or ``<table>.parquet``.
Every column of a CSV file is read as text (parsing is
:mod:`repkpi.io.validation`'s job); a Parquet file is read as stored.
"""

from __future__ import annotations

import csv
import glob as globbing
import io
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import pyarrow
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from repkpi.errors import DataFileError
from repkpi.schemas import SCHEMAS

__all__ = ["SUFFIXES", "TABLES", "Source", "read_file", "table_files", "table_parts"]

TABLES: tuple[str, ...] = tuple(SCHEMAS)
"""The tables of the data model, in its order."""
SUFFIXES = (".csv", ".parquet")
"""The suffixes of the files that hold a table."""


class Source(NamedTuple):
    """A table to read: its name, where it comes from (as messages name it), and how to read it."""

    table: str
    origin: str
    read: Callable[[], pd.DataFrame]


def _no_such_path(path: object, *, globs: bool = False) -> DataFileError:
    also = " (or a glob of folders)" if globs else ""
    return DataFileError(
        f"{path}: no such file or folder.\nHint: give the folder that holds the exports{also}."
    )


def _not_a_table(file: object, *, folders: bool = False) -> DataFileError:
    also = ", or a folder of part files named after the table" if folders else ""
    return DataFileError(
        f"{file}: the file name is not a table name. Expected one of "
        f"{', '.join(f'{t}.csv' for t in TABLES)} (or .parquet{also}).\nHint: rename the export "
        "after the table it holds, or move it out of the folder."
    )


def table_files(path: Path) -> dict[str, Path]:
    """The file of each table in a local folder (or ``path`` itself, a single file).

    Every ``.csv`` and ``.parquet`` file of the folder must be named after a
    table, and a table may have one file only.

    Raises
    ------
    DataFileError
        The path does not exist, a file is named after no table, or a table
        has two files.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> for name in ("deals.csv", "accounts.parquet", "notes.txt"):
    ...     _ = (folder / name).write_text("")
    >>> {name: file.name for name, file in table_files(folder).items()}
    {'accounts': 'accounts.parquet', 'deals': 'deals.csv'}
    """
    if not path.exists():
        raise _no_such_path(path)
    candidates = [path] if path.is_file() else sorted(
        p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES
    )
    files: dict[str, Path] = {}
    for file in candidates:
        name = file.stem
        if name not in TABLES or file.suffix.lower() not in SUFFIXES:
            raise _not_a_table(file)
        if name in files:
            raise DataFileError(
                f"{file}: the table {name!r} is given twice ({files[name].name} and "
                f"{file.name}).\nHint: keep one file per table."
            )
        files[name] = file
    return files


def table_parts(path: str) -> dict[str, list[str]]:
    """The files of each table under ``path`` (a folder, a glob of folders, or one file).

    A table is a file named after it or a folder of part files (in
    sub-folders too); ``path`` may be any URL that fsspec knows.

    Raises
    ------
    DataFileError
        Nothing matches ``path``, a file is named after no table, or no
        table file is found.
    """
    import fsspec

    fs, root = fsspec.core.url_to_fs(path)
    roots = sorted(fs.glob(root)) if globbing.has_magic(root) else [root]
    roots = [r for r in roots if fs.exists(r)]
    if not roots:
        raise _no_such_path(path, globs=True)
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
                    raise _not_a_table(entry, folders=True)
                name, files = stem, [entry]
            found.setdefault(name, []).extend(fs.unstrip_protocol(f) if fs.protocol not in (
                "file", ("file", "local")) and "file" not in fs.protocol else f for f in files)
    if not found:
        raise DataFileError(f"{path}: no table files found.\nHint: name each export after its "
                            f"table ({', '.join(TABLES)}), as .csv or .parquet, or as a folder "
                            "of part files.")
    return found


def read_file(file: str | os.PathLike[str]) -> pd.DataFrame:
    """One export file: every column as text for CSV, as stored for Parquet.

    A file that is not on this machine (an fsspec URL such as
    ``s3://bucket/tickets.csv``) is copied to a temporary file first.

    Raises
    ------
    DataFileError
        The file is empty (zero bytes), repeats a column name or cannot be read.
    """
    if os.path.exists(file):
        return _read_local(Path(file))
    import fsspec

    file = str(file)
    suffix = Path(file.split("?")[0]).suffix.lower()
    with tempfile.TemporaryDirectory() as folder:
        local = Path(folder) / f"part{suffix}"
        try:
            with fsspec.open(file, "rb") as remote, open(local, "wb") as out:
                while chunk := remote.read(1 << 24):
                    out.write(chunk)
        except OSError as exc:
            raise DataFileError(f"{file}: the file cannot be read: {exc}") from exc
        return _read_local(local)


def _read_local(file: Path) -> pd.DataFrame:
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
