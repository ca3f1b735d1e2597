"""Shared helpers of the KPI tests: tiny tables from literal columns, results as plain rows.

``crm(accounts={...}, deals={...})`` builds a :class:`repkpi.CrmData` from a
dict of columns per table, filling the required columns a test does not care
about (ids, ``account_id = "A1"``, a won direct new-business deal of 1 000,
...). Values are text, parsed and validated as an export would be.
``crm(..., as_of="2024-09-30")`` declares the data's as-of date. ``loaded(...)``
takes the same arguments, writes the tables as CSV files and loads them with
the ``engine`` fixture's engine: a test that uses it runs on pandas and Dask.

``rows(result)`` turns a KPI result into a list of tuples that compare with a
hand-written list: periods as their string, numbers rounded to 9 decimals,
missing values (NaN, NA) as ``NA``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest

import repkpi
from repkpi import CrmData

NA = "NA"
"""How :func:`normalise` shows a missing value (a NaN value or an NA group)."""

_IDS = {
    "accounts": ("account_id", "A"),
    "contracts": ("contract_id", "C"),
    "deals": ("deal_id", "D"),
    "tickets": ("ticket_id", "T"),
    "surveys": ("response_id", "S"),
    "activities": ("activity_id", "E"),
    "reps": ("rep_id", "R"),
}
_DEFAULTS: dict[str, dict[str, Any]] = {
    "contracts": {"account_id": "A1", "annual_value": "1000"},
    "deals": {"account_id": "A1", "stage": "won", "amount": "1000", "deal_type": "new_business",
              "channel": "direct"},
    "tickets": {"account_id": "A1", "priority": "normal"},
    "surveys": {"account_id": "A1"},
    "activities": {"account_id": "A1"},
}


def table_frame(table: str, columns: dict[str, Any]) -> pd.DataFrame:
    """A text frame of ``table`` from ``columns`` (lists, or scalars repeated), defaults filled in."""
    lengths = {len(v) for v in columns.values() if isinstance(v, list | tuple)}
    assert len(lengths) == 1, f"{table}: columns of different lengths {lengths}"
    (n,) = lengths
    out = {name: list(v) if isinstance(v, list | tuple) else [v] * n for name, v in columns.items()}
    if table in _IDS:
        key, prefix = _IDS[table]
        out.setdefault(key, [f"{prefix}{i}" for i in range(1, n + 1)])
    for name, value in _DEFAULTS.get(table, {}).items():
        out.setdefault(name, [value] * n)
    if table == "deals" and "created_on" not in out:
        assert all(c is not None for c in out["closed_on"]), "give created_on for deals not closed"
        out["created_on"] = list(out["closed_on"])
    return pd.DataFrame({name: pd.Series(values, dtype=object) for name, values in out.items()})


def build(as_of: str | None = None, **tables: dict[str, Any]) -> CrmData:
    """CrmData from ``table=dict of columns`` keywords (validated strictly).

    ``as_of`` declares the data's as-of date (``CrmData(..., as_of=)``); by
    default it is the latest recorded date of the tables (kpis.md, "Complete periods").
    """
    return CrmData(as_of=as_of, **{name: table_frame(name, cols) for name, cols in tables.items()})


def normalise(value: Any) -> Any:
    """A cell as it compares in a test: periods as text, numbers rounded, missing as ``NA``."""
    if isinstance(value, pd.Period):
        return str(value)
    if value is None or value is pd.NA:
        return NA
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | float | np.integer | np.floating):
        return NA if math.isnan(value) else round(float(value), 9) + 0.0
    return value


def result_rows(result: pd.DataFrame, columns: Sequence[str] | None = None) -> list[tuple]:
    """The rows of a KPI result (all columns, or ``columns``), normalised."""
    frame = result if columns is None else result[list(columns)]
    return [tuple(normalise(v) for v in rec) for rec in frame.itertuples(index=False)]


def expected_rows(rows: Sequence[Sequence[Any]]) -> list[tuple]:
    """Hand-written rows normalised like :func:`result_rows` (``None`` or NaN for missing)."""
    return [tuple(normalise(v) for v in row) for row in rows]


@pytest.fixture(scope="session")
def crm() -> Callable[..., CrmData]:
    """Return :func:`build`: ``crm(accounts={...}, deals={...})``."""
    return build


@pytest.fixture
def loaded(engine: str, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Any]:
    """Return ``make(as_of=None, **tables)``: :func:`build`'s tables as CSV files, loaded with ``engine``."""

    def make(as_of: str | None = None, **tables: dict[str, Any]) -> Any:
        path = tmp_path_factory.mktemp("crm")
        for name, columns in tables.items():
            table_frame(name, columns).to_csv(path / f"{name}.csv", index=False)
        return repkpi.load(path, engine=engine, as_of=as_of)

    return make


@pytest.fixture(scope="session")
def rows() -> Callable[..., list[tuple]]:
    """Return :func:`result_rows`."""
    return result_rows


@pytest.fixture(scope="session")
def expect() -> Callable[..., list[tuple]]:
    """Return :func:`expected_rows`."""
    return expected_rows
