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
from repkpi.io.delimited import (
    MALFORMED,
    TRAILER,
    formatted_report,
    named_columns,
    read_delimited,
    trailer_start,
)
from repkpi.schemas import TABLES as MODEL_TABLES

__all__ = [
    "COMPRESSIONS",
    "FORMATS",
    "MAX_BYTES",
    "SUFFIXES",
    "TABLES",
    "Source",
    "file_stamp",
    "part_files",
    "read_file",
    "read_parts",
    "size_words",
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
MAX_BYTES = 4 << 30
"""The most a compressed table file may expand to, by default (4 GiB): ``max_bytes=``."""


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


def read_parts(files: list[Path], *, encoding: str | None = None,
               max_bytes: int = MAX_BYTES, contents: dict[Path, bytes] | None = None
               ) -> pd.DataFrame:
    """The part files of one table as one frame, read with :func:`read_file`.

    The index runs on from file to file (each file's positions shifted by
    the lines before it); ``attrs["parts"]`` lists each file and the first
    position of its rows, so that a row number can be told within its file.
    ``contents`` holds files already read (see :func:`read_file`'s ``content``);
    each one is taken out of it as it is parsed.

    Raises
    ------
    DataFileError
        As :func:`read_file`; or the files do not have the same columns.
    """
    frames, parts, offset = [], [], 0
    for file in files:
        frame = read_file(file, encoding=encoding, max_bytes=max_bytes,
                          content=None if contents is None else contents.pop(file, None))
        if frames and list(frame.columns) != list(frames[0].columns):
            raise DataFileError(
                f"{file}: its header differs from that of {files[0].name}: its columns "
                f"{list(frame.columns)} differ from those of {files[0]} "
                f"({list(frames[0].columns)}).\nHint: every part file of a table needs the "
                "same header.")
        lines = int(frame.index.max()) + 1 if len(frame) else 0
        malformed = {offset + row: found for row, found in frame.attrs.get(MALFORMED, {}).items()}
        held = frame.attrs.get(TRAILER, 0)
        frame = frame.set_axis(frame.index + offset)
        frame.attrs = {**({MALFORMED: malformed} if malformed else {}),
                       **({TRAILER: held} if held else {})}
        frames.append(frame)
        parts.append((str(file), offset))
        offset += lines
    trailer = sum(f.attrs.get(TRAILER, 0) for f in frames)
    whole = pd.concat(frames) if len(frames) > 1 else frames[0]
    whole.attrs = {"parts": parts, **({MALFORMED: {k: v for f in frames
                                                    for k, v in f.attrs.get(MALFORMED, {}).items()}}
                                      if any(MALFORMED in f.attrs for f in frames) else {}),
                   **({TRAILER: trailer} if trailer else {})}
    return whole


def file_stamp(file: str | os.PathLike[str]) -> tuple[int, int | str | None]:
    """The size and modification time of a file (local, or any URL that fsspec knows).

    Two reads of a file that give the same stamp read the same version of
    it (see :func:`read_file`'s ``stamp``).

    Raises
    ------
    DataFileError
        The file cannot be found or looked at.
    """
    try:
        if os.path.exists(file):
            found = os.stat(file)
            return found.st_size, found.st_mtime_ns
        import fsspec

        fs, where = fsspec.core.url_to_fs(str(file))
        info = fs.info(where)
    except OSError as exc:
        raise DataFileError(f"{file}: the file cannot be read: {exc}") from exc
    changed = next((info[key] for key in ("mtime", "LastModified", "last_modified", "updated",
                                          "modified") if info.get(key) is not None), None)
    return int(info.get("size") or 0), (None if changed is None else str(changed))


def _changed(name: str, *, since_load: bool) -> DataFileError:
    when = ("since the run first read it (when it was loaded)" if since_load
            else "while the run read it")
    return DataFileError(
        f"{name}: the file changed {when}: its size or modification time differ, so its "
        "header and its rows may come from two versions.\nHint: run again once the export "
        "is written in full (write it under another name, then rename it).")


def read_file(file: str | os.PathLike[str], *, encoding: str | None = None,
              max_bytes: int = MAX_BYTES, stamp: tuple[int, object] | None = None,
              content: bytes | None = None) -> pd.DataFrame:
    """One export file: every column as text for delimited text and Excel, as stored for Parquet.

    A file that is not on this machine (an fsspec URL such as
    ``s3://bucket/tickets.csv``) is copied to a temporary file first. The
    frame's index is each row's position among the file's lines after the
    header (see :mod:`repkpi.io.delimited`). The file is opened once and
    every byte (header, delimiter, rows) read from that one open; a file
    changed in place while it is read is an error, a file replaced (renamed
    over) gives the version that was opened.

    Parameters
    ----------
    file : str or path-like
        A ``.csv``, ``.tsv``, ``.txt``, ``.parquet`` or ``.xlsx`` file,
        optionally compressed as ``.gz`` or ``.zip``.
    encoding : str, optional
        The text's encoding when it is not UTF-8 (e.g. ``"cp1252"``).
    max_bytes : int
        The most a compressed file may expand to (default 4 GiB); it is
        decompressed as a stream and refused once its content passes this.
    stamp : tuple, optional
        The file's :func:`file_stamp` when it was first read (a lazy
        engine reads a file more than once): a file whose stamp differs is
        an error.
    content : bytes, optional
        The file's bytes, already read from one open of it (the cache of
        loads hashes the bytes it parses, :mod:`repkpi.io.cache`): parsed
        instead of reading the file again.

    Raises
    ------
    DataFileError
        The file is empty (zero bytes), repeats a column name, expands past
        ``max_bytes``, changed since ``stamp`` or while it was read, or cannot be read.
    """
    if content is not None or os.path.exists(file):
        return _read_local(Path(file), encoding, max_bytes=max_bytes, stamp=stamp, content=content)
    if os.path.lexists(file):
        raise _not_readable(file, "it is a link to a file that does not exist")
    import fsspec

    file = str(file)
    first = file_stamp(file)
    if stamp is not None and first != stamp:
        raise _changed(file, since_load=True)
    with tempfile.TemporaryDirectory() as folder:
        local = Path(folder) / Path(file.split("?")[0]).name
        try:
            with fsspec.open(file, "rb") as remote, open(local, "wb") as out:
                while chunk := remote.read(1 << 24):
                    out.write(chunk)
        except OSError as exc:
            raise DataFileError(f"{file}: the file cannot be read: {exc}") from exc
        if file_stamp(file) != first:
            raise _changed(file, since_load=False)
        return _read_local(local, encoding, name=file, max_bytes=max_bytes)


def _read_local(file: Path, encoding: str | None, *, name: str | None = None,
                max_bytes: int = MAX_BYTES, stamp: tuple[int, object] | None = None,
                content: bytes | None = None) -> pd.DataFrame:
    """A local file, from one open (or from its ``content``, read already): see :func:`read_file`."""
    name = name or str(file)
    split = table_name(file.name) or (file.stem, file.suffix.lower(), "")
    _, kind, compression = split
    try:
        opened = pyarrow.OSFile(str(file)) if content is None else pyarrow.BufferReader(content)
        with opened as handle:
            before = _stamp(handle) if content is None else (len(content), None)
            if stamp is not None and before != stamp:
                raise _changed(name, since_load=True)
            if before[0] == 0:
                raise DataFileError(
                    f"{name}: the file is empty (zero bytes).\nHint: a table with no rows still "
                    "needs its header line.")
            frame = _read_open(handle, file, name, kind, compression, encoding, max_bytes)
            if content is None and _stamp(handle) != before:
                raise _changed(name, since_load=False)
            return frame
    except MemoryError as exc:
        raise DataFileError(
            f"{name}: the file does not fit in memory once read.\nHint: lower the limit with "
            "max_bytes= (--max-bytes) to refuse such files, or split the export.") from exc
    except (pyarrow.ArrowException, OSError, UnicodeDecodeError, csv.Error, zipfile.BadZipFile,
            EOFError, KeyError, ValueError) as exc:
        if isinstance(exc, DataFileError):
            raise
        raise DataFileError(
            f"{name}: the file cannot be read: {exc}\nHint: export it again as "
            "UTF-8 CSV with one header line, as Parquet or as .xlsx."
        ) from exc


def _stamp(handle: pyarrow.NativeFile) -> tuple[int, int]:
    """The size and modification time of an open file (see :func:`file_stamp`)."""
    found = os.fstat(handle.fileno())
    return found.st_size, found.st_mtime_ns


def _read_open(handle: pyarrow.NativeFile, file: Path, name: str, kind: str, compression: str,
               encoding: str | None, max_bytes: int) -> pd.DataFrame:
    """The table in an open file, every byte read through ``handle``."""
    data = _decompress(handle, name, compression, max_bytes)
    if kind == ".parquet":
        frame = pq.read_table(handle if data is None else pyarrow.BufferReader(data)).to_pandas()
        # Rows are numbered by their position in the file, whatever index pandas
        # stored with it (a named index is a column of the file).
        return frame.reset_index(drop=all(n is None for n in frame.index.names))
    if kind == ".xlsx":
        data = handle.read() if data is None else data
        _check_expansion(zipfile.ZipFile(io.BytesIO(data)), name, max_bytes)
        return _read_xlsx(io.BytesIO(data), file.name)
    if kind not in _DELIMITED:
        raise _not_readable(name, f"{file.name!r} is not a table format")
    if data is not None:
        handle = pyarrow.BufferReader(data)
    return read_delimited(file, handle=handle, name=name, encoding=encoding, tab=kind == ".tsv")


def size_words(size: int) -> str:
    """A number of bytes in words, in the largest binary unit that reads well.

    Examples
    --------
    >>> size_words(4 << 30), size_words(3 << 19), size_words(1000)
    ('4 GiB', '1.5 MiB', '1,000 bytes')
    """
    for unit, power in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size >= 1 << power:
            amount = size / (1 << power)
            return f"{amount:,.0f} {unit}" if amount == int(amount) else f"{amount:,.1f} {unit}"
    return f"{size:,} bytes"


def _too_big(name: str, max_bytes: int) -> DataFileError:
    return DataFileError(
        f"{name} expands past {size_words(max_bytes)}: it is refused before it fills the "
        "memory.\nHint: if the export is that large, raise the limit (max_bytes=, or "
        "--max-bytes on the command line) or split it into part files.")


def _check_expansion(archive: zipfile.ZipFile, name: str, max_bytes: int) -> None:
    """Refuse a zip archive (a .zip, an .xlsx) whose files say they expand past ``max_bytes``."""
    if sum(member.file_size for member in archive.infolist()) > max_bytes:
        raise _too_big(name, max_bytes)


def _bounded(stream: io.BufferedIOBase | pyarrow.NativeFile, name: str, max_bytes: int) -> bytes:
    """The whole of a decompressing stream, read a piece at a time; refused past ``max_bytes``."""
    pieces, total = [], 0
    while piece := stream.read(min(_PIECE, max_bytes + 1 - total)):
        total += len(piece)
        if total > max_bytes:
            raise _too_big(name, max_bytes)
        pieces.append(piece)
    return b"".join(pieces)


_PIECE = 1 << 24


def _decompress(handle: pyarrow.NativeFile, name: str, compression: str,
                max_bytes: int) -> bytes | None:
    """The content of a ``.gz`` or ``.zip`` file (its one table file); None when not compressed.

    Decompressed as a stream: a content past ``max_bytes`` is refused as soon as it is.
    """
    if compression == ".gz":
        # (A stream over the file itself would close it when done: over its bytes instead.)
        packed = pyarrow.BufferReader(handle.read_at(handle.size(), 0))
        return _bounded(pyarrow.CompressedInputStream(packed, "gzip"), name, max_bytes)
    if compression == ".zip":
        with zipfile.ZipFile(handle) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()
                       and not m.filename.rsplit("/", 1)[-1].startswith((".", "__MACOSX"))]
            if len(members) != 1:
                raise DataFileError(
                    f"{name}: a zip file of a table holds one file; this one holds "
                    f"{len(members)}.\nHint: zip each table's file alone.")
            if members[0].file_size > max_bytes:
                raise _too_big(name, max_bytes)
            with archive.open(members[0]) as member:
                return _bounded(member, name, max_bytes)
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
    end = trailer_start(rows[-40:])
    end = len(rows) if end is None else len(rows) - len(rows[-40:]) + end
    formatted_report(rows[:30], None, name, trailer=end < len(rows))
    held, rows = len(rows) - end, rows[:end]
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
    frame = frame[frame.notna().any(axis=1)] if len(named) else frame
    formatted_report([], frame, name, trailer=held > 0)
    if held:
        frame.attrs[TRAILER] = held
    return frame


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
