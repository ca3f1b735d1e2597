"""The rules of each canonical table, as pandera schemas (one :class:`pandera.pandas.DataFrameSchema` each).

Built from the columns and keys of :mod:`repkpi.schemas` (names, kinds, which
may be empty, which are unique) with every rule the data model states: types,
uniqueness, allowed values, ranges and date order. Each check carries the
message a report shows for a row that fails it (pandera's ``error=``, which
pandera writes in the ``check`` column of its failure cases). Importing this
module imports pandera, so :mod:`repkpi.io.validation` imports it when a table
is first checked, not when ``repkpi`` is imported. The schemas use pandera's object API: building a
``DataFrameModel``'s schema looks up every installed backend's types, and
pandera imports Dask to do so.

Examples
--------
>>> sorted(SCHEMAS) == sorted(TABLES)
True
>>> SCHEMAS["deals"].columns["stage"].nullable, SCHEMAS["deals"].columns["amount"].nullable
(False, True)
>>> SCHEMAS["deals"].columns["stage"].checks[0].error
'allowed: one of open, won, lost'
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import pandas as pd
import pandera.pandas as pa

from repkpi.schemas import (
    CHANNELS,
    COLUMNS,
    DEAL_TYPES,
    KEYS,
    MARKET_PERIOD,
    PRIORITIES,
    STAGES,
    STATUSES,
    TABLES,
)

__all__ = ["PROPERTY_FAILURES", "REPORTED_AGAINST", "REQUIRED", "SCHEMAS"]

_DTYPES = {"str": str, "date": pd.Timestamp, "money": float, "int": pd.Int64Dtype(),
           "datetime": pd.DatetimeTZDtype(unit="us", tz="UTC")}

REQUIRED = "required: a value must be present"
"""The message of a value missing from a column that must have one."""
PROPERTY_FAILURES = {"not_nullable": REQUIRED}
"""pandera's names of the failures of a column's own properties (not of a check) -> their message.

A key that repeats is :func:`repkpi.io.validation.unique_check`'s: its
message names the table's key."""


def _later_or_missing(df: pd.DataFrame, late: str, early: str, *, strict: bool) -> pd.Series:
    later = df[late] > df[early] if strict else df[late] >= df[early]
    return df[late].isna() | df[early].isna() | later


class _Rule(NamedTuple):
    """A rule across columns: its check, and the column a row that fails it is reported against."""

    column: str
    check: pa.Check


def _rule(column: str, rule: str, test: Callable[[pd.DataFrame], pd.Series]) -> _Rule:
    """The rule ``rule: <rule>`` across columns, reported against ``column``."""
    return _Rule(column, pa.Check(test, error=f"rule: {rule}"))


def _later(late: str, early: str, *, strict: bool) -> _Rule:
    """``late`` after ``early`` (``strict``), or on the same day or after; reported against ``late``."""
    return _rule(late, f"{late} {'>' if strict else '>='} {early}",
                 lambda df: _later_or_missing(df, late, early, strict=strict))


def _one_granularity(df: pd.DataFrame) -> pd.Series:
    """All periods are quarters, or all are months, as the file's first valid period.

    A missing or malformed period fails its own check and sets no granularity.
    """
    valid = df["period"].str.match(MARKET_PERIOD, na=False)
    is_quarter = df["period"].str.contains("Q", regex=False, na=False)
    first = is_quarter[valid].iloc[0] if valid.any() else False
    return ~valid | (is_quarter == first)


def _one_of(values: list[str]) -> pa.Check:
    return pa.Check.isin(values, error=f"allowed: one of {', '.join(values)}")


_ID = pa.Check.str_length(min_value=1, error=REQUIRED)
_AMOUNT = pa.Check.ge(0, error="range: a non-negative amount")
_CELLS: dict[str, dict[str, list[pa.Check]]] = {
    "contracts": {"annual_value": [_AMOUNT]},
    "deals": {"stage": [_one_of(STAGES)], "amount": [_AMOUNT],
              "deal_type": [_one_of(DEAL_TYPES)], "channel": [_one_of(CHANNELS)]},
    "tickets": {"priority": [_one_of(PRIORITIES)]},
    "surveys": {"csat": [pa.Check.in_range(min_value=1, max_value=5, error="range: between 1 and 5")],
                "nps": [pa.Check.in_range(min_value=0, max_value=10,
                                          error="range: between 0 and 10")]},
    "market": {"period": [pa.Check.str_matches(
                   MARKET_PERIOD, error="format: a quarter like 2026Q3 or a month like 2026-07")],
               "revenue": [_AMOUNT]},
    "ticket_events": {"ticket_id": [_ID], "status": [_one_of(STATUSES)]},
}
"""Each column's own checks (beyond its type and whether it may be empty), each with its message."""

_ROWS: dict[str, list[_Rule]] = {
    "accounts": [_later("churned_on", "customer_since", strict=True)],
    "contracts": [_later("end_date", "start_date", strict=False)],
    "deals": [
        _rule("closed_on", "closed_on required when stage is won or lost",
              lambda df: df["closed_on"].notna() | ~df["stage"].isin(["won", "lost"]).fillna(False)),
        _later("closed_on", "created_on", strict=False)],
    "tickets": [_later("first_response_at", "opened_at", strict=False),
                _later("resolved_at", "opened_at", strict=False)],
    "surveys": [_rule("csat", "csat or nps present", lambda df: df["csat"].notna() | df["nps"].notna())],
    "market": [_rule("period", "one granularity per file, as the first valid period",
                     _one_granularity)],
    "reps": [_later("left_on", "hired_on", strict=True)],
}
"""Each table's rules across columns."""

REPORTED_AGAINST: dict[str, dict[str, str]] = {
    table: {rule.check.error: rule.column for rule in rules} for table, rules in _ROWS.items()}
"""For each table, the message of each rule across columns -> the column its failures are reported against."""


def _schema(table: str) -> pa.DataFrameSchema:
    key = KEYS.get(table, ())
    columns = {}
    for column in COLUMNS[table]:
        own = key == (column.name,)  # the table's own id; a longer key is unique together
        checks = [*([_ID] if own else []), *_CELLS.get(table, {}).get(column.name, [])]
        columns[column.name] = pa.Column(_DTYPES[column.kind], checks,
                                         nullable=not column.required, unique=own)
    return pa.DataFrameSchema(columns, checks=[rule.check for rule in _ROWS.get(table, [])],
                              name=table, unique=list(key) if len(key) > 1 else None)


SCHEMAS: dict[str, pa.DataFrameSchema] = {table: _schema(table) for table in TABLES}
"""The pandera schema of each table."""
