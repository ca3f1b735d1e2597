"""The canonical CRM tables as pandera models.

One :class:`pandera.pandas.DataFrameModel` per table of the data model, with
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

from dataclasses import dataclass
from typing import Literal

import pandas as pd
import pandera.pandas as pa
from pandera.typing.pandas import Series

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

_UTC = {"dtype_kwargs": {"unit": "us", "tz": "UTC"}}


@dataclass(frozen=True)
class Column:
    """A column of the data model: its name, kind and whether a file must have it."""

    name: str
    kind: Kind
    required: bool


def _later_or_missing(df: pd.DataFrame, late: str, early: str, *, strict: bool) -> pd.Series:
    later = df[late] > df[early] if strict else df[late] >= df[early]
    return df[late].isna() | df[early].isna() | later


class AccountsSchema(pa.DataFrameModel):
    """accounts: one row per customer account."""

    account_id: Series[str] = pa.Field(unique=True, str_length={"min_value": 1})
    account_name: Series[str] = pa.Field(nullable=True)
    rep_id: Series[str] = pa.Field(nullable=True)
    region: Series[str] = pa.Field(nullable=True)
    segment: Series[str] = pa.Field(nullable=True)
    customer_since: Series[pd.Timestamp] = pa.Field(nullable=True)  # empty: a prospect
    churned_on: Series[pd.Timestamp] = pa.Field(nullable=True)

    @pa.dataframe_check
    def churned_on_after_customer_since(cls, df: pd.DataFrame) -> pd.Series:
        """``churned_on`` is later than ``customer_since``."""
        return _later_or_missing(df, "churned_on", "customer_since", strict=True)


class ContractsSchema(pa.DataFrameModel):
    """contracts: one row per contract term."""

    contract_id: Series[str] = pa.Field(unique=True, str_length={"min_value": 1})
    account_id: Series[str] = pa.Field()
    start_date: Series[pd.Timestamp] = pa.Field()
    end_date: Series[pd.Timestamp] = pa.Field(nullable=True)  # empty: evergreen, no end
    annual_value: Series[float] = pa.Field(ge=0)
    renewal_of: Series[str] = pa.Field(nullable=True)

    @pa.dataframe_check
    def end_date_not_before_start_date(cls, df: pd.DataFrame) -> pd.Series:
        """``end_date`` is on or after ``start_date``."""
        return _later_or_missing(df, "end_date", "start_date", strict=False)


class DealsSchema(pa.DataFrameModel):
    """deals: one row per opportunity."""

    deal_id: Series[str] = pa.Field(unique=True, str_length={"min_value": 1})
    account_id: Series[str] = pa.Field()
    rep_id: Series[str] = pa.Field(nullable=True)
    created_on: Series[pd.Timestamp] = pa.Field()
    closed_on: Series[pd.Timestamp] = pa.Field(nullable=True)
    stage: Series[str] = pa.Field(isin=STAGES)
    amount: Series[float] = pa.Field(ge=0, nullable=True)
    deal_type: Series[str] = pa.Field(isin=DEAL_TYPES, nullable=True)  # empty: unknown
    channel: Series[str] = pa.Field(isin=CHANNELS, nullable=True)  # empty: unknown

    @pa.dataframe_check
    def closed_on_required_when_won_or_lost(cls, df: pd.DataFrame) -> pd.Series:
        """A won or lost deal has a ``closed_on`` date."""
        return df["closed_on"].notna() | ~df["stage"].isin(["won", "lost"]).fillna(False)

    @pa.dataframe_check
    def closed_on_not_before_created_on(cls, df: pd.DataFrame) -> pd.Series:
        """``closed_on`` is on or after ``created_on``."""
        return _later_or_missing(df, "closed_on", "created_on", strict=False)


class TicketsSchema(pa.DataFrameModel):
    """tickets: one row per customer issue, question or complaint."""

    ticket_id: Series[str] = pa.Field(unique=True, str_length={"min_value": 1})
    account_id: Series[str] = pa.Field(nullable=True)  # empty: a requester with no account
    rep_id: Series[str] = pa.Field(nullable=True)
    opened_at: Series[pd.DatetimeTZDtype] = pa.Field(**_UTC)
    first_response_at: Series[pd.DatetimeTZDtype] = pa.Field(nullable=True, **_UTC)
    resolved_at: Series[pd.DatetimeTZDtype] = pa.Field(nullable=True, **_UTC)
    priority: Series[str] = pa.Field(isin=PRIORITIES, nullable=True)  # empty: no agreed time
    kind: Series[str] = pa.Field(nullable=True)

    @pa.dataframe_check
    def first_response_at_not_before_opened_at(cls, df: pd.DataFrame) -> pd.Series:
        """``first_response_at`` is on or after ``opened_at``."""
        return _later_or_missing(df, "first_response_at", "opened_at", strict=False)

    @pa.dataframe_check
    def resolved_at_not_before_opened_at(cls, df: pd.DataFrame) -> pd.Series:
        """``resolved_at`` is on or after ``opened_at``."""
        return _later_or_missing(df, "resolved_at", "opened_at", strict=False)


class SurveysSchema(pa.DataFrameModel):
    """surveys: one row per survey response."""

    response_id: Series[str] = pa.Field(unique=True, str_length={"min_value": 1})
    account_id: Series[str] = pa.Field()
    rep_id: Series[str] = pa.Field(nullable=True)
    responded_at: Series[pd.DatetimeTZDtype] = pa.Field(**_UTC)
    csat: Series[pd.Int64Dtype] = pa.Field(nullable=True, in_range={"min_value": 1, "max_value": 5})
    nps: Series[pd.Int64Dtype] = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 10})

    @pa.dataframe_check
    def csat_or_nps_present(cls, df: pd.DataFrame) -> pd.Series:
        """Each response has a ``csat`` or an ``nps`` score (or both)."""
        return df["csat"].notna() | df["nps"].notna()


class ActivitiesSchema(pa.DataFrameModel):
    """activities: one row per customer engagement."""

    activity_id: Series[str] = pa.Field(unique=True, str_length={"min_value": 1})
    account_id: Series[str] = pa.Field()
    occurred_on: Series[pd.Timestamp] = pa.Field()
    kind: Series[str] = pa.Field(nullable=True)


class MarketSchema(pa.DataFrameModel):
    """market: competitors' revenue, one row per competitor, region and period."""

    period: Series[str] = pa.Field(str_matches=MARKET_PERIOD)
    region: Series[str] = pa.Field()
    company: Series[str] = pa.Field()
    revenue: Series[float] = pa.Field(ge=0)

    class Config:
        """Table-wide rules."""

        unique = ["period", "region", "company"]

    @pa.dataframe_check
    def period_granularity_as_first_row(cls, df: pd.DataFrame) -> pd.Series:
        """All periods are quarters, or all are months, as the file's first valid period.

        A missing or malformed period fails its own check and sets no granularity.
        """
        valid = df["period"].str.match(MARKET_PERIOD, na=False)
        is_quarter = df["period"].str.contains("Q", regex=False, na=False)
        first = is_quarter[valid].iloc[0] if valid.any() else False
        return ~valid | (is_quarter == first)


class RepsSchema(pa.DataFrameModel):
    """reps: one row per customer representative."""

    rep_id: Series[str] = pa.Field(unique=True, str_length={"min_value": 1})
    name: Series[str] = pa.Field(nullable=True)
    team: Series[str] = pa.Field(nullable=True)
    region: Series[str] = pa.Field(nullable=True)
    hired_on: Series[pd.Timestamp] = pa.Field()
    left_on: Series[pd.Timestamp] = pa.Field(nullable=True)

    @pa.dataframe_check
    def left_on_after_hired_on(cls, df: pd.DataFrame) -> pd.Series:
        """``left_on`` is later than ``hired_on``."""
        return _later_or_missing(df, "left_on", "hired_on", strict=True)


class TicketEventsSchema(pa.DataFrameModel):
    """ticket_events (optional): one row per status change of a ticket.

    A status holds from its ``changed_at`` to the ticket's next event; rows
    may come in any order (they are put in time order per ticket). That
    each ``ticket_id`` is a ticket of the tickets table is checked by
    :mod:`repkpi.io.validation`.
    """

    ticket_id: Series[str] = pa.Field(str_length={"min_value": 1})
    changed_at: Series[pd.DatetimeTZDtype] = pa.Field(**_UTC)
    status: Series[str] = pa.Field(isin=STATUSES)


SCHEMAS: dict[str, type[pa.DataFrameModel]] = {
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
    # The model's fields, read without building its pandera schema: building one looks up
    # every installed backend's types (pandera imports Dask to do so), which import must not.
    fields = SCHEMAS[table].__fields__
    return tuple(
        Column(name, _KINDS[table].get(name, "str"), required=not field.nullable)
        for name, (_, field) in fields.items()
    )


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
