"""The rules of each canonical table, as pandera schemas (one :class:`pandera.pandas.DataFrameSchema` each).

Built from the columns of :mod:`repkpi.schemas` (names, kinds, which may be
empty) with every rule the data model states: types, uniqueness, allowed
values, ranges and date order. Importing this module imports pandera, so
:mod:`repkpi.io.validation` imports it when a table is first checked, not
when ``repkpi`` is imported. The schemas use pandera's object API: building a
``DataFrameModel``'s schema looks up every installed backend's types, and
pandera imports Dask to do so.

Examples
--------
>>> sorted(SCHEMAS) == sorted(TABLES)
True
>>> SCHEMAS["deals"].columns["stage"].nullable, SCHEMAS["deals"].columns["amount"].nullable
(False, True)
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pandera.pandas as pa

from repkpi.schemas import (
    CHANNELS,
    COLUMNS,
    DEAL_TYPES,
    MARKET_PERIOD,
    PRIORITIES,
    STAGES,
    STATUSES,
    TABLES,
)

__all__ = ["SCHEMAS"]

_DTYPES = {"str": str, "date": pd.Timestamp, "money": float, "int": pd.Int64Dtype(),
           "datetime": pd.DatetimeTZDtype(unit="us", tz="UTC")}


def _later_or_missing(df: pd.DataFrame, late: str, early: str, *, strict: bool) -> pd.Series:
    later = df[late] > df[early] if strict else df[late] >= df[early]
    return df[late].isna() | df[early].isna() | later


def _rule(name: str, test: Callable[[pd.DataFrame], pd.Series]) -> pa.Check:
    """A rule across columns, named as :data:`repkpi.schemas.ROW_CHECKS` names it."""
    return pa.Check(test, name=name)


def _later(name: str, late: str, early: str, *, strict: bool) -> pa.Check:
    return _rule(name, lambda df: _later_or_missing(df, late, early, strict=strict))


def _one_granularity(df: pd.DataFrame) -> pd.Series:
    """All periods are quarters, or all are months, as the file's first valid period.

    A missing or malformed period fails its own check and sets no granularity.
    """
    valid = df["period"].str.match(MARKET_PERIOD, na=False)
    is_quarter = df["period"].str.contains("Q", regex=False, na=False)
    first = is_quarter[valid].iloc[0] if valid.any() else False
    return ~valid | (is_quarter == first)


_ID = pa.Check.str_length(min_value=1)
_CELLS: dict[str, dict[str, list[pa.Check]]] = {
    "contracts": {"annual_value": [pa.Check.ge(0)]},
    "deals": {"stage": [pa.Check.isin(STAGES)], "amount": [pa.Check.ge(0)],
              "deal_type": [pa.Check.isin(DEAL_TYPES)], "channel": [pa.Check.isin(CHANNELS)]},
    "tickets": {"priority": [pa.Check.isin(PRIORITIES)]},
    "surveys": {"csat": [pa.Check.in_range(min_value=1, max_value=5)],
                "nps": [pa.Check.in_range(min_value=0, max_value=10)]},
    "market": {"period": [pa.Check.str_matches(MARKET_PERIOD)], "revenue": [pa.Check.ge(0)]},
    "ticket_events": {"ticket_id": [_ID], "status": [pa.Check.isin(STATUSES)]},
}
"""Each column's own checks (beyond its type and whether it may be empty)."""

_ROWS: dict[str, list[pa.Check]] = {
    "accounts": [_later("churned_on_after_customer_since", "churned_on", "customer_since",
                        strict=True)],
    "contracts": [_later("end_date_not_before_start_date", "end_date", "start_date", strict=False)],
    "deals": [
        _rule("closed_on_required_when_won_or_lost",
              lambda df: df["closed_on"].notna() | ~df["stage"].isin(["won", "lost"]).fillna(False)),
        _later("closed_on_not_before_created_on", "closed_on", "created_on", strict=False)],
    "tickets": [
        _later("first_response_at_not_before_opened_at", "first_response_at", "opened_at",
               strict=False),
        _later("resolved_at_not_before_opened_at", "resolved_at", "opened_at", strict=False)],
    "surveys": [_rule("csat_or_nps_present", lambda df: df["csat"].notna() | df["nps"].notna())],
    "market": [_rule("period_granularity_as_first_row", _one_granularity)],
    "reps": [_later("left_on_after_hired_on", "left_on", "hired_on", strict=True)],
}
"""Each table's rules across columns."""

_KEYS: dict[str, str | list[str]] = {
    "accounts": "account_id", "contracts": "contract_id", "deals": "deal_id",
    "tickets": "ticket_id", "surveys": "response_id", "activities": "activity_id",
    "reps": "rep_id", "market": ["period", "region", "company"],
}
"""Each table's key: its own id (text, unique, never empty), or the columns unique together."""


def _schema(table: str) -> pa.DataFrameSchema:
    key = _KEYS.get(table)
    columns = {}
    for column in COLUMNS[table]:
        own = column.name == key
        checks = [*([_ID] if own else []), *_CELLS.get(table, {}).get(column.name, [])]
        columns[column.name] = pa.Column(_DTYPES[column.kind], checks,
                                         nullable=not column.required, unique=own)
    return pa.DataFrameSchema(columns, checks=_ROWS.get(table, []), name=table,
                              unique=key if isinstance(key, list) else None)


SCHEMAS: dict[str, pa.DataFrameSchema] = {table: _schema(table) for table in TABLES}
"""The pandera schema of each table."""
