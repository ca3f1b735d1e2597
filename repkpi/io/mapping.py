"""Read a CRM's own exports (Salesforce, HubSpot, Zendesk, any other) into the canonical tables.

A *mapping* says, for each canonical table, which export file holds it,
which export column gives each canonical column, how export values translate
(``"Closed Won"`` is ``won``), and how dates and amounts are written. The
built-in presets are TOML files in ``repkpi/io/presets``; any other CRM gets a
mapping file of the same form (see ``docs/mappings.md``).

Nothing is guessed and nothing defaults in silence: a date is read with its
column's format only (or as ISO), an amount only when it fits the mapping's
separators, a value only when the mapping names it (case-insensitively).
Whatever does not translate is passed on, so that validation reports it on
its row of the export file (or quarantines the row); a value unknown in a
column of fixed values (a deal stage) is reported with the mapping line to
add. A catch-all (``"*"``) is allowed except for the stage, and what it
caught, like the rows a ``keep`` set aside, is listed in the table's source
(``data.summary()``).

:func:`mapped_sources` hands the translated tables to
:meth:`CrmData.from_sources <repkpi.io.loading.CrmData.from_sources>`, which
:func:`repkpi.load` calls with ``source=``.
"""

from __future__ import annotations

import codecs
import os
import re
import tomllib
import zoneinfo
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from repkpi.errors import DataFileError
from repkpi.io.delimited import MALFORMED, TRAILER
from repkpi.io.files import (
    MAX_BYTES,
    TABLES,
    Source,
    part_files,
    read_file,
    read_parts,
    table_name,
)
from repkpi.io.parsing import BAD_CELLS, DELETED
from repkpi.schemas import CHANNELS, COLUMNS, DEAL_TYPES, PRIORITIES, STAGES

__all__ = ["PRESETS", "Mapping", "TableMapping", "absent_hints", "mapped_sources", "read_mapping"]

PRESETS = ("salesforce", "hubspot", "zendesk", "freshdesk", "pipedrive")
_SYMBOLS = re.compile(r"[\s\u00a0$€£¥]")
_KINDS = {table: {c.name: c.kind for c in columns} for table, columns in COLUMNS.items()}
# Columns whose canonical values are a fixed list: an untranslated value there is
# reported with the mapping line that would translate it.
_FIXED = {("deals", "stage"): STAGES, ("deals", "deal_type"): DEAL_TYPES,
          ("deals", "channel"): CHANNELS, ("tickets", "priority"): PRIORITIES}
_TRUE, _FALSE = ("true", "1"), ("false", "0")
_CHECKBOX = "type: a checkbox, true / false or 1 / 0"
_OFFSET = r"(?:Z|[+-]\d{2}:?\d{2})$"
# How a duration column is written: a number of minutes or hours, or hours:minutes:seconds.
_UNITS = {"minutes": 60, "hours": 3600, "hh:mm:ss": None}
_CLOCK = r"^\s*(\d+):([0-5]\d)(?::([0-5]\d))?\s*$"
_ISO_TIME = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}:?\d{2})?$"


@dataclass(frozen=True)
class TableMapping:
    """How one canonical table is read from an export file.

    ``columns`` gives, for each canonical column, the export headers that may
    hold it (the first one present is read). ``translations`` are keyed by the
    lower-cased export value. ``durations`` gives, for a timestamp column the
    export does not hold, the column it counts from, the export headers of a
    duration and the duration's unit. ``one_currency`` names amount columns
    already in the reporting currency, read without conversion.
    ``hints`` say where the export could give an
    optional column when the file does not have it (see :func:`absent_hints`).
    ``fill`` gives, for a canonical column, further export columns that fill
    its empty cells, row by row, the first non-empty one winning (a
    Pipedrive deal's "Won time", else its "Lost time"). ``expected_close``
    (deals only) names the column of an open deal's expected close date,
    read as its ``closed_on``; a won or lost deal never takes it.
    """

    table: str
    files: tuple[str, ...]
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    translations: dict[str, dict[str, str]] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    split: dict[str, str] = field(default_factory=dict)
    keep: tuple[str, tuple[str, ...]] | None = None
    currency: tuple[str, ...] = ()
    formats: dict[str, str] = field(default_factory=dict)
    stage_flags: dict[str, tuple[str, ...]] = field(default_factory=dict)
    durations: dict[str, tuple[str, tuple[str, ...], str]] = field(default_factory=dict)
    one_currency: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    hints: dict[str, str] = field(default_factory=dict)
    fill: dict[str, tuple[str, ...]] = field(default_factory=dict)
    expected_close: tuple[str, ...] = ()


@dataclass(frozen=True)
class Mapping:
    """A whole mapping: its tables, formats, time zone and exchange rates."""

    name: str
    tables: dict[str, TableMapping]
    date_format: str | None = None
    datetime_format: str | None = None
    decimal: str = "."
    thousands: str = ","
    fx: dict[str, float] = field(default_factory=dict)
    timezone: str | None = None
    encoding: str | None = None


def _fail(where: str, message: str) -> DataFileError:
    return DataFileError(f"{where}: {message}\nHint: see docs/mappings.md for the mapping format.")


def _preset_text(name: str) -> str:
    return (resources.files("repkpi.io") / "presets" / f"{name}.toml").read_text("utf-8")


def _parse(where: str, text: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _fail(where, f"not valid TOML: {exc}.") from exc


def _merged(base: dict, over: dict) -> dict:
    """``over`` laid on ``base``: tables merge key by key, any other value replaces."""
    out = dict(base)
    for key, value in over.items():
        out[key] = (_merged(out[key], value) if isinstance(value, dict)
                    and isinstance(out.get(key), dict) else value)
    return out


def read_mapping(source: str | os.PathLike[str]) -> Mapping:
    """Read a preset (``"salesforce"``, ``"hubspot"``, ``"zendesk"``, ...) or a mapping file.

    A mapping file may start from a preset (``base = "hubspot"``) and give
    only what differs; its sections are merged into the preset's.

    Raises
    ------
    DataFileError
        The file cannot be read, is no valid TOML, or breaks the mapping
        format (an unknown key, table or column, a catch-all for the stage,
        equal decimal and thousands separators, an unknown time zone...).

    Examples
    --------
    >>> mapping = read_mapping("salesforce")
    >>> sorted(mapping.tables)
    ['accounts', 'deals']
    """
    if str(source) in PRESETS:
        where, name = f"preset {source}", str(source)
        document = _parse(where, _preset_text(name))
    else:
        path = Path(source)
        where, name = str(path), path.stem
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise _fail(where, f"cannot read the mapping file ({exc}); the presets are "
                               f"{', '.join(PRESETS)}.") from exc
        document = _parse(where, text)
        base = document.pop("base", None)
        if base is not None:
            if base not in PRESETS:
                raise _fail(where, f"base = {base!r} is no preset; the presets are "
                                   f"{', '.join(PRESETS)}.")
            document = _merged(_parse(f"preset {base}", _preset_text(base)), document)
    unknown = sorted(set(document) - {"options", "fx", "tables"})
    if unknown:
        raise _fail(where, f"unknown section(s) {unknown}; expected base, options, fx and tables.")
    options = document.get("options", {})
    bad = sorted(set(options) - {"date_format", "datetime_format", "decimal", "thousands",
                                 "timezone", "encoding"})
    if bad:
        raise _fail(where, f"unknown option(s) {bad}.")
    decimal, thousands = options.get("decimal", "."), options.get("thousands", ",")
    if decimal == thousands:
        raise _fail(where, f"the decimal and thousands separators are both {decimal!r}: an "
                           "amount such as 1,234 could then be read two ways.")
    timezone = options.get("timezone")
    if timezone is not None:
        try:
            zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError) as exc:
            raise _fail(where, f"timezone = {timezone!r} is no IANA time zone (e.g. "
                               "'America/New_York', 'Europe/Berlin', 'UTC').") from exc
    encoding = options.get("encoding")
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except (LookupError, TypeError) as exc:
            raise _fail(where, f"encoding = {encoding!r} is no text encoding Python knows "
                               "(e.g. 'cp1252' for Excel on Windows, 'latin-1').") from exc
    fx = document.get("fx", {})
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and v > 0
               for v in fx.values()):
        raise _fail(where, "every [fx] rate must be a positive number.")
    tables = {}
    for table, spec in document.get("tables", {}).items():
        tables[table] = _table_mapping(where, table, spec)
    if not tables:
        raise _fail(where, "the mapping names no table.")
    return Mapping(name, tables, options.get("date_format"), options.get("datetime_format"),
                   decimal, thousands, {k: float(v) for k, v in fx.items()}, timezone, encoding)


def _names(value: str | list[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(str(v) for v in value or ())


def _table_mapping(where: str, table: str, spec: dict) -> TableMapping:
    here = f"{where}, table {table}"
    if table not in TABLES:
        raise _fail(where, f"{table!r} is not a table; the tables are {', '.join(TABLES)}.")
    unknown = sorted(set(spec) - {"file", "columns", "values", "constants", "split", "keep",
                                  "currency", "formats", "stage_flags", "durations",
                                  "one_currency", "deleted", "hints", "fill",
                                  "expected_close"})
    if unknown:
        raise _fail(here, f"unknown key(s) {unknown}.")
    files = _names(spec.get("file"))
    if not files:
        raise _fail(here, "no file named.")
    kinds = _KINDS[table]
    for part in ("columns", "values", "constants", "split", "formats", "hints", "fill"):
        extra = sorted(set(spec.get(part, {})) - set(kinds))
        if extra:
            raise _fail(here, f"[{part}] names {extra}, not columns of {table} "
                              f"({', '.join(kinds)}).")
    undated = sorted(c for c in spec.get("formats", {}) if kinds[c] not in ("date", "datetime"))
    if undated:
        raise _fail(here, f"[formats] names {undated}, which hold no dates or times.")
    translations = {}
    for column, vmap in spec.get("values", {}).items():
        if column == "stage" and "*" in vmap:
            raise _fail(here, 'a catch-all ("*") for the stage is refused: a closed deal read '
                              "as open would change revenue and the win rate. Name each "
                              "stage, or give [tables.deals.stage_flags].")
        lowered: dict[str, str] = {}
        for key, value in vmap.items():
            key, value = str(key).lower() if key != "*" else "*", str(value)
            if lowered.setdefault(key, value) != value:
                raise _fail(here, f"[values.{column}] maps {key!r} (in any case) to both "
                                  f"{lowered[key]!r} and {value!r}.")
        translations[column] = lowered
    keep = spec.get("keep")
    if keep is not None:
        if set(keep) != {"column", "values"}:
            raise _fail(here, "keep needs exactly 'column' and 'values'.")
        keep = (str(keep["column"]), tuple(str(v).lower() for v in keep["values"]))
    if "expected_close" in spec and table != "deals":
        raise _fail(here, "expected_close belongs to deals (an open deal's expected close date).")
    flags = spec.get("stage_flags", {})
    if flags and (table != "deals" or set(flags) != {"won", "closed"}):
        raise _fail(here, "stage_flags belongs to deals and needs exactly 'won' and 'closed'.")
    columns = {col: _names(export) for col, export in spec.get("columns", {}).items()}
    return TableMapping(
        table, files, columns, translations,
        {col: str(v) for col, v in spec.get("constants", {}).items()},
        dict(spec.get("split", {})), keep, _names(spec.get("currency", ())),
        dict(spec.get("formats", {})), {k: _names(v) for k, v in flags.items()},
        _durations(here, spec.get("durations", {}), kinds, columns),
        _names(spec.get("one_currency", ())), _names(spec.get("deleted", ())),
        {col: str(v) for col, v in spec.get("hints", {}).items()},
        {col: _names(v) for col, v in spec.get("fill", {}).items()},
        _names(spec.get("expected_close", ())))


def _durations(here: str, spec: dict, kinds: dict[str, str],
               columns: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, tuple[str, ...], str]]:
    """The ``[durations]`` of a table: timestamp = another timestamp + a duration column."""
    out = {}
    for target, rule in spec.items():
        line = f"[durations] {target}"
        if kinds.get(str(target)) != "datetime":
            raise _fail(here, f"{line}: only a timestamp column of the table can be a start plus "
                              f"a duration; the timestamps are "
                              f"{', '.join(c for c, k in kinds.items() if k == 'datetime')}.")
        if not isinstance(rule, dict) or set(rule) != {"after", "column", "unit"}:
            raise _fail(here, f"{line} needs exactly 'after' (the timestamp it counts from), "
                              "'column' (the export's duration header) and 'unit'.")
        after, unit = str(rule["after"]), str(rule["unit"])
        if kinds.get(after) != "datetime" or after not in columns:
            raise _fail(here, f"{line}: after = {after!r} is no timestamp column that [columns] "
                              "maps.")
        if unit not in _UNITS:
            raise _fail(here, f"{line}: unit = {unit!r}; the units are {', '.join(_UNITS)}.")
        out[target] = (after, _names(rule["column"]), unit)
    return out


def mapped_sources(path: str | os.PathLike[str],
                   source: str | os.PathLike[str] | Mapping, *,
                   max_bytes: int = MAX_BYTES,
                   contents: dict[Path, bytes] | None = None) -> list[Source]:
    """The canonical tables of a folder of CRM exports, translated through a mapping.

    Each table is text, to be validated as :func:`repkpi.load` does
    (``repkpi.load(path, source=...)``); its index is the row of the export
    file, so that row numbers in errors and rejects are the export's. An
    export may be one file or a folder of part files named after it
    (``tickets/`` for ``tickets.csv``), read as one table: the parts in the
    order of their names, each row numbered within its file. Files are read
    as :func:`repkpi.load` reads them (``max_bytes``: the most a compressed
    file may expand to); ``contents`` holds files already read
    (:func:`~repkpi.io.files.read_file`'s ``content``).

    Raises
    ------
    DataFileError
        A file the mapping does not know, an export lacking a column the
        mapping needs, part files with different headers, several
        currencies without exchange rates.
    """
    mapping = source if isinstance(source, Mapping) else read_mapping(source)
    folder = Path(path)
    if not folder.is_dir():
        raise DataFileError(f"{folder}: no such folder.\nHint: give the folder that holds the "
                            f"{mapping.name} exports.")
    present = _export_files(folder, mapping)
    raws: dict[Path, pd.DataFrame] = {}
    sources = []
    for table, spec in mapping.tables.items():
        file = next((present[s] for s in map(_stem, spec.files) if s in present), None)
        if file is None:
            continue
        if file not in raws:
            raws[file] = (read_parts(part_files(file), encoding=mapping.encoding,
                                     max_bytes=max_bytes, contents=contents) if file.is_dir()
                          else read_file(file, encoding=mapping.encoding, max_bytes=max_bytes,
                                         content=(contents or {}).pop(file, None)))
        frame, notes = _translate(raws[file], spec, mapping, file)
        # What the reader found: part files (rows told within their file), the delimiter,
        # malformed lines (bad rows) and a report's trailer.
        for key in ("parts", "delimiter", MALFORMED, TRAILER):
            if key in raws[file].attrs:
                frame.attrs[key] = raws[file].attrs[key]
        frame.attrs["hints"] = absent_hints(spec, mapping.name, frame.columns)
        origin = f"{file} ({'; '.join([mapping.name, *notes])})"
        sources.append(Source(table, origin, lambda frame=frame: frame))
    return sources


def _stem(name: str) -> str:
    """A file's name without its format and compression, lower-cased: what a mapping matches.

    Examples
    --------
    >>> _stem("Opportunities.CSV"), _stem("opportunities.xlsx"), _stem("opportunities.csv.gz")
    ('opportunities', 'opportunities', 'opportunities')
    """
    split = table_name(name)
    return (split[0] if split else name.split(".", 1)[0]).lower()


def _export_files(folder: Path, mapping: Mapping) -> dict[str, Path]:
    """The export file (or folder of part files) of each name the mapping reads, by its stem.

    A mapping's file is matched in any table format and compression
    (``opportunities.csv`` is also ``Opportunities.xlsx`` or
    ``opportunities.csv.gz``), as a plain folder's tables are.

    Raises
    ------
    DataFileError
        A table file the mapping does not read, a file named after an
        export that is no table format (``opportunities.json``), or an export
        given twice.
    """
    claimed = {_stem(name) for spec in mapping.tables.values() for name in spec.files}
    reads = ", ".join(sorted({name for spec in mapping.tables.values() for name in spec.files}))
    present: dict[str, Path] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith((".", "~$")):  # hidden files, Excel's lock files
            continue
        stem, split = _stem(entry.name), table_name(entry.name)
        if entry.is_dir():
            if entry.name.lower() not in claimed:
                continue
        elif split is None or not entry.is_file():
            if stem in claimed or stem in TABLES:
                why = ("it is a link to a file that does not exist" if split is not None
                       else f"{entry.name!r} is not a table format")
                raise DataFileError(
                    f"{entry}: named after an export of the {mapping.name} mapping, but {why}."
                    "\nHint: an export is a .csv, .tsv, .txt, .parquet or .xlsx file "
                    "(optionally .gz or .zip), or a folder of such part files.")
            continue
        elif stem not in claimed:
            if split[1] == ".txt" and stem not in TABLES:
                continue
            raise DataFileError(
                f"{entry}: the {mapping.name} mapping does not know this file. It reads "
                f"{reads} (or .tsv, .txt, .parquet, .xlsx, compressed as .gz or .zip).\nHint: "
                "rename the export, or move it out of the folder.")
        if stem in present:
            raise DataFileError(
                f"{entry}: the export {stem!r} is given twice ({present[stem].name} and "
                f"{entry.name}).\nHint: keep one file per export.")
        present[stem] = entry
    return present


def absent_hints(spec: TableMapping, name: str, columns: pd.Index) -> dict[str, str]:
    """Where the export could give each optional column that the translated table lacks.

    The mapping's ``hints`` first; else the export headers the mapping reads
    the column from, a duration's included ("the zendesk export gives it as
    'First reply time in minutes'"); else that
    the mapping reads no column for it. A KPI that needs the column says it
    (data-model.md, "Columns an export does not have").

    Examples
    --------
    >>> spec = TableMapping("deals", ("deals.csv",), columns={"amount": ("Deal - Value",)},
    ...                     hints={"channel": "no public Pipedrive export has a channel"})
    >>> hints = absent_hints(spec, "pipedrive", pd.Index(["deal_id"]))
    >>> hints["amount"], hints["channel"]
    ("the pipedrive export gives it as 'Deal - Value'", 'no public Pipedrive export has a channel')
    >>> print(hints["deal_type"])
    the pipedrive mapping reads no column for it: name the export's column under [tables.deals.columns]
    """
    out = {}
    for column in COLUMNS[spec.table]:
        if column.required or column.name in columns:
            continue
        if column.name in spec.hints:
            out[column.name] = spec.hints[column.name]
        elif column.name in spec.columns or column.name in spec.durations:
            headers = (spec.columns[column.name] if column.name in spec.columns
                       else spec.durations[column.name][1])
            named = " or ".join(repr(n) for n in headers)
            out[column.name] = f"the {name} export gives it as {named}"
        else:
            out[column.name] = (f"the {name} mapping reads no column for it: name the export's "
                                f"column under [tables.{spec.table}.columns]")
    return out



def _pick(raw: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    """The first of ``names`` that is a column of the export."""
    return next((n for n in names if n in raw.columns), None)


def _translate(raw: pd.DataFrame, spec: TableMapping, mapping: Mapping,
               file: Path) -> tuple[pd.DataFrame, list[str]]:
    """The canonical table, as text, from an export, and notes on what was read by a rule.

    The index stays the export's row.
    """
    notes: list[str] = []
    cells: dict[str, tuple[str, list[int]]] = {}
    deleted = _pick(raw, spec.deleted)
    gone = 0
    if deleted is not None:
        # Deleted records (Salesforce's IsDeleted, in an "Export All"): set aside, and counted.
        truth = _checkbox(raw[deleted], deleted, cells)
        dropped = truth.eq(True).fillna(False).to_numpy(dtype=bool)
        gone = int(dropped.sum())
        raw = raw[~dropped]
    if spec.keep is not None:
        column, wanted = spec.keep
        _require(raw, (column,), spec, file, mapping)
        kept = raw[column].str.lower().isin(list(wanted)).fillna(False).to_numpy(dtype=bool)
        if not kept.all():
            counts = raw.loc[~kept, column].fillna("empty").value_counts(sort=False)
            listed = ", ".join(f"{value}: {_rows(n)}" for value, n in sorted(counts.items()))
            notes.append(f"{_rows((~kept).sum())} set aside by {column} ({listed})")
        raw = raw[kept]
    out, used, picked = {}, set(), {}
    for canonical, names in spec.columns.items():
        export = _pick(raw, names)
        if export is None:
            required = next(c.required for c in COLUMNS[spec.table] if c.name == canonical)
            if required and not (canonical == "stage" and _flag_columns(raw, spec)):
                _require(raw, names, spec, file, mapping)
            continue
        used.add(export)
        picked[canonical] = export
        out[canonical] = raw[export].astype("str")
    for canonical, names in spec.fill.items():
        for name in (n for n in names if n in raw.columns):
            used.add(name)
            before = out.get(canonical, pd.Series(pd.NA, index=raw.index, dtype="str"))
            out[canonical] = before.where(before.notna(), raw[name].astype("str"))
    for canonical, value in spec.constants.items():
        out[canonical] = pd.Series(value, index=raw.index, dtype="str")
    for canonical, separator in spec.split.items():
        if canonical in out:
            out[canonical] = out[canonical].str.split(separator, n=1).str[0].str.strip()
    for canonical, vmap in spec.translations.items():
        if canonical in out:
            line = f"[tables.{spec.table}.values.{canonical}]"
            out[canonical], note = _translate_values(
                out[canonical], vmap, _FIXED.get((spec.table, canonical)), line, mapping.name)
            if note:
                notes.append(f"{canonical}: {note}")
    flags = _flag_columns(raw, spec)
    if flags:
        for column in flags:
            _checkbox(raw[column], column, cells)
        out["stage"] = _stage_from_flags(raw, flags, out.get("stage"))
        notes.append(f"stage from {flags[0]} and {flags[1]}")
    expected = _pick(raw, spec.expected_close)
    if expected is not None and "stage" in out:
        used.add(expected)
        closed = out.get("closed_on", pd.Series(pd.NA, index=raw.index, dtype="str"))
        is_open = (out["stage"] == "open").fillna(False).to_numpy(dtype=bool)
        out["closed_on"] = closed.where(~is_open, raw[expected].astype("str"))
    kinds = _KINDS[spec.table]
    for canonical in list(out):
        kind = kinds[canonical]
        if kind in ("money", "int"):
            out[canonical] = _number_text(out[canonical], mapping)
            if kind == "money" and spec.currency and picked.get(canonical) not in spec.one_currency:
                out[canonical] = _convert_currency(out[canonical], raw, spec, mapping, file)
        elif kind == "date":
            out[canonical] = _date_text(out[canonical],
                                        spec.formats.get(canonical, mapping.date_format))
        elif kind == "datetime":
            out[canonical] = _timestamp_text(
                out[canonical], spec.formats.get(canonical, mapping.datetime_format),
                mapping.timezone)
    for canonical, (after, names, unit) in spec.durations.items():
        export = _pick(raw, names)
        if canonical in out or after not in out or export is None:
            continue
        used.add(export)
        out[canonical] = _after_duration(out[after], raw[export].astype("str"), unit, export,
                                         mapping)
        notes.append(f"{canonical}: {picked.get(after, after)} + {export}")
    currency = _pick(raw, spec.currency)
    used |= {currency} if currency else set()
    extra = {c: raw[c] for c in raw.columns if c not in used and c not in out}
    frame = pd.DataFrame({**out, **extra}, index=raw.index)
    frame.attrs.update({DELETED: gone, BAD_CELLS: cells})
    return frame, notes


def _rows(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"


def _require(raw: pd.DataFrame, names: tuple[str, ...], spec: TableMapping, file: Path,
             mapping: Mapping) -> None:
    if _pick(raw, names) is None:
        which = " or ".join(repr(n) for n in names)
        raise DataFileError(
            f"{file}: the {mapping.name} mapping reads the {spec.table} table from the column "
            f"{which}, which this export lacks. Found: {list(raw.columns)}.\nHint: add the "
            "column to the export, or adapt the mapping (docs/mappings.md).")


def _translate_values(values: pd.Series, vmap: dict[str, str], fixed: list[str] | None,
                      line: str, name: str) -> tuple[pd.Series, str]:
    """Export values to canonical ones, in any case, and a note on what the catch-all read.

    Without a catch-all, a value the map lacks is passed on as it is; in a
    column of fixed values it is passed on with the mapping line to add, so
    that validation names both.
    """
    lowered = values.str.lower()
    exact = {k: v for k, v in vmap.items() if k != "*"}
    mapped = lowered.map(exact)
    missed = mapped.isna() & values.notna()
    note = ""
    if "*" in vmap:
        counts = values[missed].value_counts(sort=False)
        if len(counts):
            note = "by the catch-all, " + ", ".join(
                f"{value}: {_rows(n)} read as {vmap['*']}" for value, n in sorted(counts.items()))
        fallback = pd.Series(vmap["*"], index=values.index, dtype="str")
    elif fixed is not None:
        options = " or ".join(f'"{v}"' for v in fixed)
        hint = (values + f' is not in the {name} mapping: add the line "' + values
                + f'" = {options} under {line}')
        fallback = hint.where(~lowered.isin(fixed), lowered)
    else:
        fallback = values
    return mapped.where(~missed, fallback).where(values.notna()), note


def _flag_columns(raw: pd.DataFrame, spec: TableMapping) -> tuple[str, str] | None:
    """The export's won and closed flag columns, when the mapping names them and it has both."""
    if not spec.stage_flags:
        return None
    won, closed = _pick(raw, spec.stage_flags["won"]), _pick(raw, spec.stage_flags["closed"])
    return (won, closed) if won and closed else None


def _truth(values: pd.Series) -> pd.Series:
    """A checkbox column as True / False, in any case; missing where it is neither (or empty).

    Examples
    --------
    >>> _truth(pd.Series(["TRUE", "false", "1", " 0 ", "yes", None], dtype="str")).tolist()
    [True, False, True, False, nan, nan]
    """
    text = values.str.strip().str.lower()
    return text.map({**dict.fromkeys(_TRUE, True), **dict.fromkeys(_FALSE, False)})


def _checkbox(values: pd.Series, column: str,
              cells: dict[str, tuple[str, list[int]]]) -> pd.Series:
    """A checkbox column as True / False (see :func:`_truth`), its bad cells noted in ``cells``.

    A value that is neither true / false nor 1 / 0 (in any case) is a bad
    cell of its row, reported by validation like any other; an empty cell
    is no value.
    """
    truth = _truth(values)
    bad = (truth.isna() & values.notna() & values.str.strip().ne("")).to_numpy(dtype=bool)
    if bad.any():
        cells[column] = (_CHECKBOX, [int(i) for i in values.index[bad]])
    return truth


def _stage_from_flags(raw: pd.DataFrame, flags: tuple[str, str],
                      stage: pd.Series | None) -> pd.Series:
    """The stage decided by the won and closed flags; where they decide nothing, the stage column's."""
    won, closed = _truth(raw[flags[0]]), _truth(raw[flags[1]])
    decided = np.select(
        [(closed == False).fillna(False).to_numpy(dtype=bool),  # noqa: E712
         ((closed == True) & (won == True)).fillna(False).to_numpy(dtype=bool),  # noqa: E712
         ((closed == True) & (won == False)).fillna(False).to_numpy(dtype=bool)],  # noqa: E712
        ["open", "won", "lost"], default="")
    decided = pd.Series(decided, index=raw.index, dtype="str")
    # Flags that say nothing clear (empty, or won but not closed): the stage column decides,
    # else the flags' own text is reported.
    unclear = raw[flags[1]].astype("str") + " / " + raw[flags[0]].astype("str")
    fallback = stage if stage is not None else unclear
    return decided.where(decided != "", fallback)


def _number_text(values: pd.Series, mapping: Mapping) -> pd.Series:
    """Amounts written with the mapping's separators, as plain numbers; others left as they are."""
    text = values.str.replace(_SYMBOLS, "", regex=True)
    thousands, decimal = re.escape(mapping.thousands), re.escape(mapping.decimal)
    shape = rf"^[-+]?(\d{{1,3}}({thousands}\d{{3}})+|\d+)({decimal}\d+)?$"
    fits = text.str.fullmatch(shape).fillna(False).to_numpy(dtype=bool)
    plain = text.str.replace(mapping.thousands, "", regex=False)
    plain = plain.str.replace(mapping.decimal, ".", regex=False)
    return plain.where(fits, values)


def _convert_currency(amounts: pd.Series, raw: pd.DataFrame, spec: TableMapping,
                      mapping: Mapping, file: Path) -> pd.Series:
    """Amounts in the reporting currency, with the mapping's exchange rates.

    An export without any of the currency columns is in one currency.
    """
    column = _pick(raw, spec.currency)
    if column is None:
        return amounts
    currency = raw[column].str.strip().str.upper()
    seen = sorted(currency.dropna().unique())
    if not mapping.fx:
        if len(seen) > 1:
            where = (f'a mapping file with base = "{mapping.name}"' if mapping.name in PRESETS
                     else "the mapping file")
            single = (f", or export {' or '.join(repr(c) for c in spec.one_currency)}, which "
                      "is in one currency" if spec.one_currency else "")
            raise DataFileError(
                f"{file}: amounts in several currencies ({', '.join(seen)}) and no exchange "
                f"rates.\nHint: give an [fx] table in {where}, e.g. EUR = 1.08{single}.")
        return amounts
    missing = [c for c in seen if c not in mapping.fx]
    if missing:
        raise DataFileError(
            f"{file}: no exchange rate for {', '.join(missing)} in the mapping's [fx] table "
            f"(it has {', '.join(sorted(mapping.fx))}).\nHint: add a rate per currency, 1 for "
            "the reporting currency.")
    number = pd.to_numeric(amounts, errors="coerce")
    rate = currency.map(mapping.fx).astype(np.float64)
    converted = (number * rate).map(repr, na_action="ignore").astype("str")
    # An amount that is no number, or a row with no currency, stays as it was, to be reported.
    return converted.where(number.notna() & rate.notna(), amounts)


def _after_duration(start: pd.Series, duration: pd.Series, unit: str, header: str,
                    mapping: Mapping) -> pd.Series:
    """Timestamps as ISO UTC: ``start`` (ISO text, naive = UTC) plus a duration in ``unit``.

    An empty duration is an empty timestamp (not yet, e.g. a ticket not
    answered); a duration that does not read in its unit is passed on with
    its header, for validation to report on its row.

    Examples
    --------
    >>> start = pd.Series(["2024-04-02 09:00:00 +0200", "2024-04-02T10:00:00Z", None], dtype="str")
    >>> mapping = read_mapping("zendesk")
    >>> _after_duration(start, pd.Series(["45", "1:30:15", None], dtype="str"), "hh:mm:ss",
    ...                 "Reply", mapping).tolist()
    ['Reply = 45: not written hh:mm:ss', '2024-04-02T11:30:15Z', nan]
    """
    if unit == "hh:mm:ss":
        parts = duration.str.extract(_CLOCK).astype("float64").fillna({2: 0.0})
        seconds = parts[0] * 3600 + parts[1] * 60 + parts[2]
    else:
        seconds = pd.to_numeric(_number_text(duration.str.strip(), mapping),
                                errors="coerce") * _UNITS[unit]
    seconds = seconds.where(seconds.abs() < 1e11)  # beyond any real ticket, and no overflow
    begun = pd.to_datetime(start, format="ISO8601", utc=True, errors="coerce")
    text = (begun + pd.to_timedelta(seconds, unit="s")).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    text = text.astype("str")
    written = "written hh:mm:ss" if unit == "hh:mm:ss" else f"a number of {unit}"
    unread = duration.notna() & seconds.isna()
    return text.where(~unread, header + " = " + duration + f": not {written}")


def _date_text(values: pd.Series, written: str | None) -> pd.Series:
    """Dates as ISO: read with the column's format, or an ISO timestamp's UTC date.

    A timestamp with an offset (``2024-01-10T23:15:00.000Z``, Salesforce's
    ``CreatedDate``) is the day in UTC; one without keeps the day it names.
    Other cells are left as they are, for validation to read or report.
    """
    out = values
    if written:
        parsed = pd.to_datetime(values, format=written, errors="coerce")
        out = parsed.dt.strftime("%Y-%m-%d").astype("str").where(parsed.notna(), values)
    timed = out.str.match(_ISO_TIME).fillna(False).to_numpy(dtype=bool)
    if timed.any():
        zoned = timed & out.str.contains(_OFFSET).fillna(False).to_numpy(dtype=bool)
        utc = pd.to_datetime(out.where(zoned), format="ISO8601", utc=True, errors="coerce")
        day = utc.dt.strftime("%Y-%m-%d").astype("str")
        day = day.where(utc.notna(), out.str.slice(0, 10).where(timed & ~zoned))
        out = day.where(day.notna(), out)
    return out


def _timestamp_text(values: pd.Series, written: str | None, timezone: str | None) -> pd.Series:
    """Timestamps as ISO UTC: naive ones in the mapping's time zone (UTC when none).

    In the hour that a change of daylight saving time repeats, a time is
    taken in daylight time (the first time the clock shows it); a time that
    the change skips is no time and is reported.
    """
    if not written and not timezone:
        return values
    zoned = values.str.contains(_OFFSET).fillna(False).to_numpy(dtype=bool)
    canonical = "%Y-%m-%dT%H:%M:%SZ"
    naive = pd.to_datetime(values.where(~zoned), format=written or "ISO8601", errors="coerce")
    if timezone:
        skipped = naive.notna()
        naive = naive.dt.tz_localize(timezone, ambiguous=np.ones(len(naive), dtype=bool),
                                     nonexistent="NaT").dt.tz_convert("UTC")
        skipped &= naive.isna()
        values = values.where(~skipped, values + f" (no such time in {timezone})")
    text = naive.dt.strftime(canonical).astype("str")
    if written:
        aware = pd.to_datetime(values.where(zoned), format=written, utc=True, errors="coerce")
        text = text.where(naive.notna(), aware.dt.strftime(canonical).astype("str"))
    return text.where(text.notna(), values)
