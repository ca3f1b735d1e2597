"""Warm loads: the validated, typed tables of a load kept between runs.

An analyst runs many commands on the same month's exports; each would parse
and validate the same files again. :func:`cached_load` keeps what a load
built (every table, the rejects and everything the load summary and
coverage are made of) in the user's cache folder, and hands it back while
nothing that went into it has changed.

Where
    ``platformdirs.user_cache_dir("repkpi")`` (``~/.cache/repkpi`` on
    Linux), or the folder named by ``REPKPI_CACHE_DIR``; never inside the
    data folder (it may be read-only or shared): a cache folder there is
    skipped with a warning.
What
    One folder per load: the tables as Parquet, the rest of the loaded
    data's state (sources, rows read, the per-table notes, the declared
    as-of date...) pickled, and the key it was built under. Reading a
    pickle runs what it says: the cache folder is the user's own, never a
    folder others may write to.
The key
    Each file read: its path, size, modification time and a BLAKE2b hash of
    its bytes (the bytes parsed: each file is read once, hashed, and on a
    miss parsed from the same bytes; hashed while they are parsed when no
    entry exists under the files' names, sizes and times); the mapping as
    resolved (a preset's or a mapping file's whole content); the load's
    options; repkpi's version and a hash of its own source files; the run's
    UTC date (recorded dates after it are refused, so a load is only good
    for the day it ran).
    An entry is used only when its stored key equals the run's key, and
    never across versions.
How big
    Past ``REPKPI_CACHE_SIZE`` (default 2 GiB; bytes, or a number with
    ``KB``, ``MB``, ``GB``, ``KiB``, ``MiB`` or ``GiB``) the entries used
    least recently are deleted after each new one is written; ``0`` keeps
    nothing and reads nothing (the cache is off, as with ``cache=False``).
When it cannot
    A cache folder that cannot be written (read-only, disk full) is skipped
    with a warning, and the load goes on; an entry that cannot be read
    (corrupt, cut short) is built again.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import hashlib
import importlib.metadata
import json
import os
import pickle
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import TypeVar

import pandas as pd
import pyarrow
import pyarrow.parquet as pq

from repkpi._threads import thread_map
from repkpi.errors import OptionError, RepkpiError
from repkpi.io.files import part_files, table_files, table_name

__all__ = [
    "CACHE_DIR_VARIABLE",
    "CACHE_SIZE_VARIABLE",
    "DEFAULT_SIZE",
    "cache_folder",
    "cached_load",
    "input_files",
    "package_version",
    "run_date",
    "size_limit",
    "source_digest",
]

CACHE_DIR_VARIABLE = "REPKPI_CACHE_DIR"
"""The environment variable that moves the cache folder."""
CACHE_SIZE_VARIABLE = "REPKPI_CACHE_SIZE"
"""The environment variable that sets the cache's size limit."""
DEFAULT_SIZE = 2 << 30
"""The cache's size limit when ``REPKPI_CACHE_SIZE`` is not set: 2 GiB."""
_FORMAT = 1  # the layout of an entry; a new layout never reads an old one
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9,
          "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30}
_KEY, _STATE = "key.json", "state.pickle"

T = TypeVar("T")


def cache_folder() -> Path:
    """The folder of the cached loads: in ``REPKPI_CACHE_DIR`` if set, else in the user's cache folder."""
    where = os.environ.get(CACHE_DIR_VARIABLE)
    if not where:
        import platformdirs

        where = platformdirs.user_cache_dir("repkpi", appauthor=False)
    return Path(where) / "loads"


def size_limit() -> int:
    """The cache's size limit in bytes, from ``REPKPI_CACHE_SIZE`` (default 2 GiB).

    Raises
    ------
    OptionError
        The variable is set to something that is no size.
    """
    text = os.environ.get(CACHE_SIZE_VARIABLE, "").strip()
    if not text:
        return DEFAULT_SIZE
    found = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([a-zA-Z]*)", text)
    if found is None or found[2].lower() not in _UNITS:
        raise OptionError(f"{CACHE_SIZE_VARIABLE}={text!r} is no size.\nHint: give bytes, or a "
                          "number with KB, MB, GB, KiB, MiB or GiB (e.g. 2GiB).")
    return int(float(found[1]) * _UNITS[found[2].lower()])


def package_version() -> str:
    """The version of repkpi installed (``"unknown"`` when run from a source tree not installed)."""
    try:
        return importlib.metadata.version("repkpi")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@cache
def source_digest() -> str:
    """A hash of repkpi's own source files (``.py`` and the presets' ``.toml``).

    The version string does not change between commits; this does.
    """
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.blake2b(digest_size=16)
    for file in sorted(p for p in package.rglob("*") if p.suffix in (".py", ".toml")):
        digest.update(file.relative_to(package).as_posix().encode() + b"\0")
        digest.update(file.read_bytes() + b"\0")
    return digest.hexdigest()


def input_files(path: Path, *, mapped: bool) -> list[Path]:
    """Every file a load of ``path`` may read, named as the readers name them.

    Canonical tables: the files :func:`~repkpi.io.files.table_files` finds,
    each folder of part files by its parts. A CRM's exports (``mapped``):
    every file of the folder, in sub-folders too, whose name has a table
    format (a mapping picks among them).

    Raises
    ------
    DataFileError
        As :func:`~repkpi.io.files.table_files`, for canonical tables.
    """
    if not mapped:
        return [part for file in table_files(path).values()
                for part in (part_files(file) if file.is_dir() else [file])]
    if not path.is_dir():
        return []
    return sorted(p for p in path.rglob("*") if p.is_file() and table_name(p.name) is not None)


def _read_bytes(file: Path) -> tuple[bytes, list[object]]:
    """A file's bytes, read from one open, and its path, size and modification time.

    Raises OSError when the file changed while it was read (the load then
    reads it without the cache, and says so).
    """
    with open(file, "rb") as handle:
        status = os.fstat(handle.fileno())
        content = handle.read()
        after = os.fstat(handle.fileno())
    if (after.st_size, after.st_mtime_ns) != (status.st_size, status.st_mtime_ns):
        raise OSError(f"{file} changed while it was read")
    return content, [str(file), status.st_size, status.st_mtime_ns]


def _hash(content: bytes) -> str:
    """The hash of a file's bytes kept in the key (BLAKE2b; hashlib releases the GIL)."""
    return hashlib.blake2b(content, digest_size=16).hexdigest()


def _read_one(file: Path) -> tuple[bytes, list[object]]:
    """A file's bytes (see :func:`_read_bytes`) and its stamp: path, size, modification time, hash."""
    content, stamp = _read_bytes(file)
    return content, [*stamp, _hash(content)]


def run_date() -> str:
    """The run's UTC date, as the check of recorded dates after today reads it."""
    return datetime.datetime.now(datetime.UTC).date().isoformat()


def _key(path: Path, stamps: list[list[object]], settings: dict[str, object]) -> str:
    """The key of a load, as JSON text (compared whole with an entry's)."""
    return json.dumps({
        "format": _FORMAT, "version": package_version(), "source": source_digest(),
        "date": run_date(), "path": str(path), "folder": str(path.resolve()),
        "files": stamps, "settings": settings,
    }, sort_keys=True, default=str)


def _entry_name(key: str) -> str:
    """The folder of a key's entry: a hash of the key without the files' hashes.

    The files' paths, sizes and times are known before their bytes are read,
    so the entry can be read while they are hashed; the whole key stored in
    the entry then decides whether it is used.
    """
    fields = json.loads(key)
    fields["files"] = [stamp[:3] for stamp in fields["files"]]
    return hashlib.blake2b(json.dumps(fields, sort_keys=True).encode(), digest_size=16).hexdigest()


def _inside(root: Path, path: Path) -> bool:
    """Whether the cache folder lies in the data folder (or is it); a file has none inside it."""
    return path.is_dir() and root.resolve().is_relative_to(path.resolve())


def cached_load(kind: type[T], build: Callable[[dict[Path, bytes] | None], T],
                path: str | os.PathLike[str], *, mapped: bool,
                settings: dict[str, object]) -> T:
    """What ``build`` makes of the files under ``path``: from the cache when nothing changed.

    Parameters
    ----------
    kind : type
        The class of what ``build`` returns; an entry is made into one
        without calling its ``__init__`` (its whole ``__dict__`` is kept).
    build : callable
        Loads the data; takes the bytes of each file, already read (None
        when the cache is not used: it reads the files itself).
    path : str or path-like
        The data folder (or file), as given to the load.
    mapped : bool
        The folder holds a CRM's own exports, read through a mapping.
    settings : dict
        Everything else the load depends on (the resolved mapping, the
        options), part of the key.

    Returns
    -------
    object
        The built or restored data; a warning says when the cache could not
        be used (its folder inside the data folder, or not writable).
    """
    path = Path(path)
    root = cache_folder()
    if size_limit() == 0:
        return build(None)
    if _inside(root, path):
        _warn(f"The cache folder {root} lies inside the data folder {path}; loaded without "
              "it.\nHint: set REPKPI_CACHE_DIR to a folder outside the data.", stacklevel=4)
        return build(None)
    try:
        stats = {file: os.stat(file) for file in input_files(path, mapped=mapped)}
    except (RepkpiError, OSError):
        return build(None)  # the load says what is wrong with the files, as without the cache
    guess = _key(path, sorted([str(file), status.st_size, status.st_mtime_ns, ""]
                              for file, status in stats.items()), settings)
    files = sorted(stats, key=lambda file: -stats[file].st_size)  # the longest hash starts first
    entry = root / _entry_name(guess)
    workers = min(4, os.cpu_count() or 1) + 1
    if not (entry / _KEY).is_file():
        return _build_and_keep(build, files, workers, root, path, settings)
    # Both the files' reads and hashes and the entry's Parquet reads release the GIL.
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        kept = pool.submit(_read_entry, kind, entry)
        try:
            done = list(pool.map(_read_one, files))
        except OSError:
            return build(None)
        found = kept.result()
    key = _key(path, sorted(stamp for _, stamp in done), settings)
    if found is not None and found[0] == key:
        _used(root / _entry_name(key))
        return found[1]
    contents = {file: content for file, (content, _) in zip(files, done, strict=True)}
    del done, found  # each file's bytes are let go once parsed (the readers take them out)
    data = build(contents)
    _keep(root, key, data, day=run_date())
    return data


def _build_and_keep(build: Callable[[dict[Path, bytes] | None], T], files: list[Path],
                    workers: int, root: Path, path: Path, settings: dict[str, object]) -> T:
    """A load with no entry under its files' names, sizes and times: built, then kept.

    The files are hashed while they are parsed (no entry can be used, so the
    hashes only go into the key of the entry written): the hashes of the
    bytes read, which are the bytes parsed.
    """
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        try:
            done = list(pool.map(_read_bytes, files))
        except OSError:
            return build(None)
        hashes = [pool.submit(_hash, content) for content, _ in done]
        contents = {file: content for file, (content, _) in zip(files, done, strict=True)}
        read = [stamp for _, stamp in done]
        del done  # each file's bytes are let go once parsed and hashed
        day = run_date()
        data = build(contents)
        stamps = [[*stamp, digest.result()] for stamp, digest in zip(read, hashes, strict=True)]
    _keep(root, _key(path, sorted(stamps), settings), data, day=day)
    return data


def _keep(root: Path, key: str, data: object, *, day: str) -> None:
    """Write ``data``'s entry under ``key``; not when the run crossed midnight (UTC) while it loaded.

    ``day``: the run's date at the other end of the load from the key's own
    (the key is made before the load, or after it).
    """
    if json.loads(key)["date"] == day:
        _write_entry(root, root / _entry_name(key), key, data)


def _read_entry(kind: type[T], entry: Path) -> tuple[str, T] | None:
    """The key and the data kept in ``entry``; None when absent or unreadable."""
    try:
        key = (entry / _KEY).read_text(encoding="utf-8")
        state, attrs = pickle.loads((entry / _STATE).read_bytes())
        frames = {name: _read_table(entry / f"{name}.parquet") for name in attrs}
    except Exception:  # absent, or damaged in any way: built again
        return None
    for name, frame in frames.items():
        frame.attrs = attrs[name]
    data = kind.__new__(kind)
    data.__dict__.update(state)
    data.__dict__.update(frames)
    return key, data


def _used(entry: Path) -> None:
    """Mark ``entry`` as just used: the least recently used go first when the cache is pruned."""
    try:
        os.utime(entry)
    except OSError:
        pass


def _write_entry(root: Path, entry: Path, key: str, data: object) -> None:
    """Keep ``data`` in ``entry`` (written aside, then moved in whole); warn when it cannot be."""
    state = dict(vars(data))
    frames = {name: value for name, value in state.items() if isinstance(value, pd.DataFrame)}
    attrs = {name: frame.attrs for name, frame in frames.items()}
    rest = {name: value for name, value in state.items() if name not in frames}
    folder = None
    try:
        root.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=".part-", dir=root))
        # Largest first, side by side: Parquet's writer releases the GIL.
        order = sorted(frames, key=lambda name: -frames[name].memory_usage(deep=False).sum())
        thread_map(lambda name: _write_table(frames[name], folder / f"{name}.parquet"), order)
        (folder / _STATE).write_bytes(pickle.dumps((rest, attrs), protocol=pickle.HIGHEST_PROTOCOL))
        (folder / _KEY).write_text(key, encoding="utf-8")
        shutil.rmtree(entry, ignore_errors=True)  # a damaged entry under the same key
        os.replace(folder, entry)
    except Exception as exc:  # a cache that cannot be written is no error
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        _warn(f"The cache folder {root} cannot be written ({exc}); loaded without keeping the "
              "tables.\nHint: set REPKPI_CACHE_DIR to a writable folder, or pass cache=False "
              "(--no-cache).", stacklevel=5)
        return
    _prune(root, size_limit())


def _write_table(frame: pd.DataFrame, file: Path) -> None:
    """A table as Parquet, its index and dtypes in pandas' metadata.

    Neither compressed nor dictionary-encoded: reading it back is then
    little more than copying its bytes. No statistics: the whole file is
    always read, and the strings' minimum and maximum took two fifths of
    the writing.
    """
    pq.write_table(pyarrow.Table.from_pandas(frame), file, compression="none", use_dictionary=False,
                   write_statistics=False)


def _read_table(file: Path) -> pd.DataFrame:
    """A table written by :func:`_write_table`, as it was."""
    return pq.read_table(file, memory_map=True).to_pandas()


def _prune(root: Path, limit: int) -> None:
    """Delete the entries used least recently until the cache's size is within ``limit``."""
    entries = []
    for item in _scan(root):
        try:  # another run may be pruning too
            if item.is_dir(follow_symlinks=False):
                size = sum(f.stat().st_size for f in _scan(Path(item.path)) if f.is_file())
                entries.append((item.stat().st_mtime_ns, size, item.path))
        except OSError:
            continue
    total = sum(size for _, size, _ in entries)
    for _, size, where in sorted(entries):
        if total <= limit:
            break
        shutil.rmtree(where, ignore_errors=True)
        total -= size


def _scan(folder: Path) -> Iterable[os.DirEntry[str]]:
    """The entries of a folder; none when it cannot be listed."""
    try:
        return list(os.scandir(folder))
    except OSError:
        return []


def _warn(message: str, *, stacklevel: int) -> None:
    """Warn at the caller of :func:`~repkpi.io.loading.load` (``stacklevel`` counts from here)."""
    warnings.warn(message, UserWarning, stacklevel=stacklevel)
