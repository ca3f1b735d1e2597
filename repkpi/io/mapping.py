"""Read a CRM's own exports (Salesforce, HubSpot, Zendesk, any other) into the canonical tables.

A *mapping* says, for each canonical table, which export file holds it,
which export column gives each canonical column, how export values translate
(``"Closed Won"`` is ``won``), and how dates and amounts are written. The
built-in presets are TOML files in ``repkpi/io/presets``; any other CRM gets a
mapping file of the same form (see ``docs/mappings.md``).

Nothing is guessed: a date is read with the mapping's format only, an amount
only when it fits the mapping's separators, a value only when the mapping
names it. Whatever does not translate is passed on as it is, so that
validation reports it on its row of the export file (or quarantines the row).

:func:`mapped_sources` hands the translated tables to
:meth:`CrmData.from_sources <repkpi.io.loading.CrmData.from_sources>`, which
:func:`repkpi.load` calls with ``source=``.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from repkpi.errors import DataFileError
from repkpi.io.files import SUFFIXES, TABLES, Source, read_file
from repkpi.schemas import COLUMNS

__all__ = ["PRESETS", "Mapping", "TableMapping", "mapped_sources", "read_mapping"]

PRESETS = ("salesforce", "hubspot", "zendesk")
_SYMBOLS = re.compile(r"[\s\u00a0$€£¥]")
_KINDS = {table: {c.name: c.kind for c in columns} for table, columns in COLUMNS.items()}


@dataclass(frozen=True)
class TableMapping:
    """How one canonical table is read from an export file."""

    table: str
    files: tuple[str, ...]
    columns: dict[str, str] = field(default_factory=dict)
    translations: dict[str, dict[str, str]] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    split: dict[str, str] = field(default_factory=dict)
    keep: tuple[str, tuple[str, ...]] | None = None
    currency: str | None = None


@dataclass(frozen=True)
class Mapping:
    """A whole mapping: its tables, formats and exchange rates."""

    name: str
    tables: dict[str, TableMapping]
    date_format: str | None = None
    datetime_format: str | None = None
    decimal: str = "."
    thousands: str = ","
    fx: dict[str, float] = field(default_factory=dict)


def _fail(where: str, message: str) -> DataFileError:
    return DataFileError(f"{where}: {message}\nHint: see docs/mappings.md for the mapping format.")


def read_mapping(source: str | os.PathLike[str]) -> Mapping:
    """Read a preset (``"salesforce"``, ``"hubspot"``, ``"zendesk"``) or a mapping TOML file.

    Examples
    --------
    >>> mapping = read_mapping("salesforce")
    >>> sorted(mapping.tables)
    ['accounts', 'deals']
    """
    if str(source) in PRESETS:
        where = f"preset {source}"
        text = (resources.files("repkpi.io") / "presets" / f"{source}.toml").read_text("utf-8")
        name = str(source)
    else:
        path = Path(source)
        where, name = str(path), path.stem
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise _fail(where, f"cannot read the mapping file ({exc}); the presets are "
                               f"{', '.join(PRESETS)}.") from exc
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _fail(where, f"not valid TOML: {exc}.") from exc
    unknown = sorted(set(document) - {"options", "fx", "tables"})
    if unknown:
        raise _fail(where, f"unknown section(s) {unknown}; expected options, fx and tables.")
    options = document.get("options", {})
    bad = sorted(set(options) - {"date_format", "datetime_format", "decimal", "thousands"})
    if bad:
        raise _fail(where, f"unknown option(s) {bad}.")
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
                   options.get("decimal", "."), options.get("thousands", ","),
                   {k: float(v) for k, v in fx.items()})


def _table_mapping(where: str, table: str, spec: dict) -> TableMapping:
    here = f"{where}, table {table}"
    if table not in TABLES:
        raise _fail(where, f"{table!r} is not a table; the tables are {', '.join(TABLES)}.")
    unknown = sorted(set(spec) - {"file", "columns", "values", "constants", "split", "keep",
                                  "currency"})
    if unknown:
        raise _fail(here, f"unknown key(s) {unknown}.")
    files = spec.get("file")
    files = (files,) if isinstance(files, str) else tuple(files or ())
    if not files:
        raise _fail(here, "no file named.")
    known = set(_KINDS[table])
    for part in ("columns", "values", "constants", "split"):
        extra = sorted(set(spec.get(part, {})) - known)
        if extra:
            raise _fail(here, f"[{part}] names {extra}, not columns of {table} "
                              f"({', '.join(_KINDS[table])}).")
    keep = spec.get("keep")
    if keep is not None:
        if set(keep) != {"column", "values"}:
            raise _fail(here, "keep needs exactly 'column' and 'values'.")
        keep = (str(keep["column"]), tuple(str(v) for v in keep["values"]))
    return TableMapping(
        table, files, dict(spec.get("columns", {})),
        {col: {str(k): str(v) for k, v in vmap.items()}
         for col, vmap in spec.get("values", {}).items()},
        {col: str(v) for col, v in spec.get("constants", {}).items()},
        dict(spec.get("split", {})), keep, spec.get("currency"))


def mapped_sources(path: str | os.PathLike[str],
                   source: str | os.PathLike[str] | Mapping) -> list[Source]:
    """The canonical tables of a folder of CRM exports, translated through a mapping.

    Each table is text, to be validated as :func:`repkpi.load` does
    (``repkpi.load(path, source=...)``); its index is the row of the export
    file, so that row numbers in errors and rejects are the export's.

    Raises
    ------
    DataFileError
        A file the mapping does not know, an export lacking a column the
        mapping needs, several currencies without exchange rates.
    """
    mapping = source if isinstance(source, Mapping) else read_mapping(source)
    folder = Path(path)
    if not folder.is_dir():
        raise DataFileError(f"{folder}: no such folder.\nHint: give the folder that holds the "
                            f"{mapping.name} exports.")
    present = {p.name.lower(): p for p in folder.iterdir()
               if p.is_file() and p.suffix.lower() in SUFFIXES}
    claimed = {name.lower() for t in mapping.tables.values() for name in t.files}
    stray = sorted(name for name in present if name not in claimed)
    if stray:
        raise DataFileError(
            f"{folder / stray[0]}: the {mapping.name} mapping does not know this file. It reads "
            f"{', '.join(sorted(claimed))}.\nHint: rename the export, or move it out of the folder.")
    raws: dict[Path, pd.DataFrame] = {}
    sources = []
    for table, spec in mapping.tables.items():
        file = next((present[n.lower()] for n in spec.files if n.lower() in present), None)
        if file is None:
            continue
        if file not in raws:
            raws[file] = read_file(file)
        frame = _translate(raws[file], spec, mapping, file)
        sources.append(Source(table, f"{file} ({mapping.name})", lambda frame=frame: frame))
    return sources


def _translate(raw: pd.DataFrame, spec: TableMapping, mapping: Mapping,
               file: Path) -> pd.DataFrame:
    """The canonical table, as text, from an export; the index stays the export's row."""
    if spec.keep is not None:
        column, wanted = spec.keep
        _require(raw, column, spec, file, mapping)
        raw = raw[raw[column].isin(list(wanted)).fillna(False).to_numpy(dtype=bool)]
    out = {}
    for canonical, export in spec.columns.items():
        if export not in raw.columns:
            required = next(c.required for c in COLUMNS[spec.table] if c.name == canonical)
            if required:
                _require(raw, export, spec, file, mapping)
            continue
        out[canonical] = raw[export].astype("str")
    for canonical, value in spec.constants.items():
        out[canonical] = pd.Series(value, index=raw.index, dtype="str")
    for canonical, separator in spec.split.items():
        if canonical in out:
            out[canonical] = out[canonical].str.split(separator, n=1).str[0].str.strip()
    for canonical, vmap in spec.translations.items():
        if canonical in out:
            out[canonical] = _translate_values(out[canonical], vmap)
    kinds = _KINDS[spec.table]
    for canonical in list(out):
        kind = kinds[canonical]
        if kind in ("money", "int"):
            out[canonical] = _number_text(out[canonical], mapping)
            if kind == "money" and spec.currency:
                out[canonical] = _convert_currency(out[canonical], raw, spec, mapping, file)
        elif kind == "date" and mapping.date_format:
            out[canonical] = _date_text(out[canonical], mapping.date_format, "%Y-%m-%d")
        elif kind == "datetime" and mapping.datetime_format:
            out[canonical] = _date_text(out[canonical], mapping.datetime_format,
                                        "%Y-%m-%dT%H:%M:%SZ")
    used = set(spec.columns.values()) | ({spec.currency} if spec.currency else set())
    extra = {c: raw[c] for c in raw.columns if c not in used and c not in out}
    return pd.DataFrame({**out, **extra}, index=raw.index)


def _require(raw: pd.DataFrame, column: str, spec: TableMapping, file: Path,
             mapping: Mapping) -> None:
    if column not in raw.columns:
        raise DataFileError(
            f"{file}: the {mapping.name} mapping reads the {spec.table} table from the column "
            f"{column!r}, which this export lacks. Found: {list(raw.columns)}.\nHint: add the "
            "column to the export, or adapt the mapping (docs/mappings.md).")


def _translate_values(values: pd.Series, vmap: dict[str, str]) -> pd.Series:
    """Export values to canonical ones; ``"*"`` catches the rest; others are left as they are."""
    exact = {k: v for k, v in vmap.items() if k != "*"}
    mapped = values.map(exact)
    fallback = pd.Series(vmap["*"], index=values.index, dtype="str") if "*" in vmap else values
    return mapped.where(mapped.notna(), fallback).where(values.notna())


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
    """Amounts in the reporting currency, with the mapping's exchange rates."""
    _require(raw, spec.currency, spec, file, mapping)
    currency = raw[spec.currency].str.strip().str.upper()
    seen = sorted(currency.dropna().unique())
    if not mapping.fx:
        if len(seen) > 1:
            raise DataFileError(
                f"{file}: amounts in several currencies ({', '.join(seen)}) and no exchange "
                "rates.\nHint: give an [fx] table in the mapping file, e.g. EUR = 1.08.")
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


def _date_text(values: pd.Series, written: str, canonical: str) -> pd.Series:
    """Dates in the mapping's format, rewritten as ISO; others left as they are."""
    parsed = pd.to_datetime(values, format=written, errors="coerce")
    return parsed.dt.strftime(canonical).astype("str").where(parsed.notna(), values)
