"""The canonical CRM tables as pandera schemas.

One :class:`pandera.pandas.DataFrameSchema` per table of the data model, with
every rule it states: types, uniqueness, allowed values, ranges and date
order. References between tables (``account_id`` must exist in accounts) need
two tables at once and are checked by :mod:`repkpi.io.loading`.

Column types after loading: text as pandas' string dtype, ``date`` as naive
``datetime64[us]`` at midnight, ``datetime`` as ``datetime64[us, UTC]``,
``money`` as ``float64`` and the survey scores as nullable ``Int64``.

Examples
--------
>>> import pandas as pd
>>> from repkpi.schemas import SCHEMAS
>>> sorted(SCHEMAS)
['accounts', 'activities', 'contracts', 'deals', 'market', 'reps', 'surveys', 'ticket_events', 'tickets']
>>> [c.name for c in COLUMNS["reps"] if c.required]
['rep_id', 'hired_on']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import pandas as pd
import pandera.pandas as pa

__all__ = [
    "COLUMNS",
    "EMPTY_TOKENS",
    "END_COLUMNS",
    "FIRST_YEAR",
    "LAST_YEAR",
    "RECORDED",
    "ROW_CHECKS",
    "SCHEMAS",
    "STATUSES",
    "AccountsSchema",
    "ActivitiesSchema",
    "Column",
    "ContractsSchema",
    "DealsSchema",
    "MarketSchema",
    "RepsSchema",
    "SurveysSchema",
    "TicketEventsSchema",
    "TicketsSchema",
]

Kind = Literal["str", "date", "datetime", "money", "int"]

STAGES = ["open", "won", "lost"]
DEAL_TYPES = ["new_business", "cross_sell", "upsell", "renewal"]
CHANNELS = ["direct", "partner"]
PRIORITIES = ["urgent", "high", "normal", "low"]
STATUSES = ["new", "open", "pending", "on_hold", "solved", "closed"]
"""The statuses of a ticket in ``ticket_events``."""
RECORDED: dict[str, tuple[str, ...]] = {
    "accounts": ("customer_since",),
    "deals": ("created_on", "closed_on"),
    "tickets": ("opened_at", "first_response_at", "resolved_at"),
    "surveys": ("responded_at",),
    "activities": ("occurred_on",),
}
"""The columns that record what has happened: the data's as-of date is their latest date.

Scheduled dates (contract terms, ``churned_on``, ``hired_on``, ``left_on``) are
not among them, and an open deal's ``closed_on`` is an expected close date:
only won and lost deals' count."""
MARKET_PERIOD = r"^(\d{4}Q[1-4]|\d{4}-(0[1-9]|1[0-2]))$"



@dataclass(frozen=True)
class Column:
    """A column of the data model: its name, kind and whether a file must have it."""

    name: str
    kind: Kind
    required: bool


def _later_or_missing(df: pd.DataFrame, late: str, early: str, *, strict: bool) -> pd.Series:
    later = df[late] > df[early] if strict else df[late] >= df[early]
    return df[late].isna() | df[early].isna() | later


_TEXT, _DATE, _MONEY, _SCORE = str, pd.Timestamp, float, pd.Int64Dtype()
_UTC = pd.DatetimeTZDtype(unit="us", tz="UTC")


def _id() -> pa.Column:
    """A table's own id: text, unique, never empty."""
    return pa.Column(_TEXT, pa.Check.str_length(min_value=1), unique=True)


def _col(dtype: object, *checks: pa.Check, nullable: bool = False) -> pa.Column:
    return pa.Column(dtype, list(checks), nullable=nullable)


def _rule(name: str, test: Callable[[pd.DataFrame], pd.Series]) -> pa.Check:
    """A rule across columns, named as :data:`ROW_CHECKS` names it."""
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


# One pandera DataFrameSchema per table (the object API: building a DataFrameModel's schema
# looks up every installed backend's types, and pandera imports Dask to do so).
AccountsSchema = pa.DataFrameSchema({
    "account_id": _id(),
    "account_name": _col(_TEXT, nullable=True),
    "rep_id": _col(_TEXT, nullable=True),
    "region": _col(_TEXT, nullable=True),
    "segment": _col(_TEXT, nullable=True),
    "customer_since": _col(_DATE, nullable=True),  # empty: a prospect
    "churned_on": _col(_DATE, nullable=True),
}, checks=[_later("churned_on_after_customer_since", "churned_on", "customer_since", strict=True)],
    name="accounts", description="accounts: one row per customer account.")

ContractsSchema = pa.DataFrameSchema({
    "contract_id": _id(),
    "account_id": _col(_TEXT),
    "start_date": _col(_DATE),
    "end_date": _col(_DATE, nullable=True),  # empty: evergreen, no end
    "annual_value": _col(_MONEY, pa.Check.ge(0)),
    "renewal_of": _col(_TEXT, nullable=True),
}, checks=[_later("end_date_not_before_start_date", "end_date", "start_date", strict=False)],
    name="contracts", description="contracts: one row per contract term.")

DealsSchema = pa.DataFrameSchema({
    "deal_id": _id(),
    "account_id": _col(_TEXT),
    "rep_id": _col(_TEXT, nullable=True),
    "created_on": _col(_DATE),
    "closed_on": _col(_DATE, nullable=True),
    "stage": _col(_TEXT, pa.Check.isin(STAGES)),
    "amount": _col(_MONEY, pa.Check.ge(0), nullable=True),
    "deal_type": _col(_TEXT, pa.Check.isin(DEAL_TYPES), nullable=True),  # empty: unknown
    "channel": _col(_TEXT, pa.Check.isin(CHANNELS), nullable=True),  # empty: unknown
}, checks=[
    _rule("closed_on_required_when_won_or_lost",
          lambda df: df["closed_on"].notna() | ~df["stage"].isin(["won", "lost"]).fillna(False)),
    _later("closed_on_not_before_created_on", "closed_on", "created_on", strict=False),
], name="deals", description="deals: one row per opportunity.")

TicketsSchema = pa.DataFrameSchema({
    "ticket_id": _id(),
    "account_id": _col(_TEXT, nullable=True),  # empty: a requester with no account
    "rep_id": _col(_TEXT, nullable=True),
    "opened_at": _col(_UTC),
    "first_response_at": _col(_UTC, nullable=True),
    "resolved_at": _col(_UTC, nullable=True),
    "priority": _col(_TEXT, pa.Check.isin(PRIORITIES), nullable=True),  # empty: no agreed time
    "kind": _col(_TEXT, nullable=True),
}, checks=[
    _later("first_response_at_not_before_opened_at", "first_response_at", "opened_at", strict=False),
    _later("resolved_at_not_before_opened_at", "resolved_at", "opened_at", strict=False),
], name="tickets", description="tickets: one row per customer issue, question or complaint.")

SurveysSchema = pa.DataFrameSchema({
    "response_id": _id(),
    "account_id": _col(_TEXT),
    "rep_id": _col(_TEXT, nullable=True),
    "responded_at": _col(_UTC),
    "csat": _col(_SCORE, pa.Check.in_range(min_value=1, max_value=5), nullable=True),
    "nps": _col(_SCORE, pa.Check.in_range(min_value=0, max_value=10), nullable=True),
}, checks=[_rule("csat_or_nps_present", lambda df: df["csat"].notna() | df["nps"].notna())],
    name="surveys", description="surveys: one row per survey response.")

ActivitiesSchema = pa.DataFrameSchema({
    "activity_id": _id(),
    "account_id": _col(_TEXT),
    "occurred_on": _col(_DATE),
    "kind": _col(_TEXT, nullable=True),
}, name="activities", description="activities: one row per customer engagement.")

MarketSchema = pa.DataFrameSchema({
    "period": _col(_TEXT, pa.Check.str_matches(MARKET_PERIOD)),
    "region": _col(_TEXT),
    "company": _col(_TEXT),
    "revenue": _col(_MONEY, pa.Check.ge(0)),
}, checks=[_rule("period_granularity_as_first_row", _one_granularity)],
    unique=["period", "region", "company"], name="market",
    description="market: competitors' revenue, one row per competitor, region and period.")

RepsSchema = pa.DataFrameSchema({
    "rep_id": _id(),
    "name": _col(_TEXT, nullable=True),
    "team": _col(_TEXT, nullable=True),
    "region": _col(_TEXT, nullable=True),
    "hired_on": _col(_DATE),
    "left_on": _col(_DATE, nullable=True),
}, checks=[_later("left_on_after_hired_on", "left_on", "hired_on", strict=True)],
    name="reps", description="reps: one row per customer representative.")

TicketEventsSchema = pa.DataFrameSchema({
    "ticket_id": _col(_TEXT, pa.Check.str_length(min_value=1)),
    "changed_at": _col(_UTC),
    "status": _col(_TEXT, pa.Check.isin(STATUSES)),
}, name="ticket_events", description=(
    "ticket_events (optional): one row per status change of a ticket. A status holds from its "
    "changed_at to the ticket's next event; rows may come in any order. That each ticket_id is "
    "a ticket of the tickets table is checked by repkpi.io.validation."))

SCHEMAS: dict[str, pa.DataFrameSchema] = {
    "accounts": AccountsSchema,
    "contracts": ContractsSchema,
    "deals": DealsSchema,
    "tickets": TicketsSchema,
    "surveys": SurveysSchema,
    "activities": ActivitiesSchema,
    "market": MarketSchema,
    "reps": RepsSchema,
    "ticket_events": TicketEventsSchema,  # last: CrmData's positional tables keep their order
}

_KINDS: dict[str, dict[str, Kind]] = {
    "accounts": {"customer_since": "date", "churned_on": "date"},
    "contracts": {"start_date": "date", "end_date": "date", "annual_value": "money"},
    "deals": {"created_on": "date", "closed_on": "date", "amount": "money"},
    "tickets": {"opened_at": "datetime", "first_response_at": "datetime",
                "resolved_at": "datetime"},
    "surveys": {"responded_at": "datetime", "csat": "int", "nps": "int"},
    "activities": {"occurred_on": "date"},
    "market": {"revenue": "money"},
    "reps": {"hired_on": "date", "left_on": "date"},
    "ticket_events": {"changed_at": "datetime"},
}


def _columns(table: str) -> tuple[Column, ...]:
    return tuple(Column(name, _KINDS[table].get(name, "str"), required=not column.nullable)
                 for name, column in SCHEMAS[table].columns.items())


COLUMNS: dict[str, tuple[Column, ...]] = {table: _columns(table) for table in SCHEMAS}
"""The columns of each table, in the data model's order."""

ROW_CHECKS: dict[str, tuple[str, str]] = {
    "churned_on_after_customer_since": ("churned_on", "churned_on > customer_since"),
    "end_date_not_before_start_date": ("end_date", "end_date >= start_date"),
    "closed_on_required_when_won_or_lost": ("closed_on", "closed_on required when stage is won or lost"),
    "closed_on_not_before_created_on": ("closed_on", "closed_on >= created_on"),
    "first_response_at_not_before_opened_at": ("first_response_at", "first_response_at >= opened_at"),
    "resolved_at_not_before_opened_at": ("resolved_at", "resolved_at >= opened_at"),
    "csat_or_nps_present": ("csat", "csat or nps present"),
    "period_granularity_as_first_row": ("period", "one granularity per file, as the first valid period"),
    "left_on_after_hired_on": ("left_on", "left_on > hired_on"),
}
"""For each check across columns: the column a failure is reported against, and the rule."""

END_COLUMNS: dict[str, tuple[str, ...]] = {
    "accounts": ("churned_on",),
    "contracts": ("end_date",),
    "reps": ("left_on",),
}
"""The end-type date columns: a date in year 2200 or later (``9999-12-31``) in them means "never"."""
EMPTY_TOKENS: tuple[str, ...] = ("#N/A", "N/A", "NULL", "null", "NaN", "nan", "None")
"""Cell texts that mean empty in every column (``NA`` is not one: it is North America)."""
FIRST_YEAR, LAST_YEAR = 1900, 2199
"""A date outside these years (inclusive) is a bad cell, save the "never" of an end-type column."""
