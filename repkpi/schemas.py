"""The canonical CRM tables: their columns, kinds and allowed values.

The vocabulary of the data model, in plain Python: what every other module
needs to know about the tables. The rules themselves (types, uniqueness,
allowed values, ranges, date order), each with its message, are pandera schemas in
:mod:`repkpi.io.rules`, built from these columns when a table is first
validated; references between tables (``account_id`` must exist in
accounts) need two tables at once and are checked by :mod:`repkpi.io.validation`.

Column types after loading: text as pandas' string dtype, ``date`` as naive
``datetime64[us]`` at midnight, ``datetime`` as ``datetime64[us, UTC]``,
``money`` as ``float64`` and the survey scores as nullable ``Int64``.

Examples
--------
>>> import pandas as pd
>>> sorted(COLUMNS)
['accounts', 'activities', 'contracts', 'deals', 'market', 'reps', 'surveys', 'ticket_events', 'tickets']
>>> [c.name for c in COLUMNS["reps"] if c.required]
['rep_id', 'hired_on']
>>> KEYS["deals"], KEYS["market"]
(('deal_id',), ('period', 'region', 'company'))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CHANNELS",
    "COLUMNS",
    "DEAL_TYPES",
    "EMPTY_TOKENS",
    "END_COLUMNS",
    "FIRST_YEAR",
    "KEYS",
    "LAST_YEAR",
    "MARKET_PERIOD",
    "PRIORITIES",
    "RECORDED",
    "STAGES",
    "STATUSES",
    "TABLES",
    "Column",
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


def _table(*columns: str) -> tuple[str, ...]:
    return columns


# Each table's columns in the data model's order; "?" marks a column that may be empty (and
# that a file may leave out). Their kinds are in _KINDS (text when not listed).
_DECLARED: dict[str, tuple[str, ...]] = {
    "accounts": _table("account_id", "account_name?", "rep_id?", "region?", "segment?",
                       "customer_since?", "churned_on?"),
    "contracts": _table("contract_id", "account_id", "start_date", "end_date?", "annual_value",
                        "renewal_of?"),
    "deals": _table("deal_id", "account_id", "rep_id?", "created_on", "closed_on?", "stage",
                    "amount?", "deal_type?", "channel?"),
    "tickets": _table("ticket_id", "account_id?", "rep_id?", "opened_at", "first_response_at?",
                      "resolved_at?", "priority?", "kind?"),
    "surveys": _table("response_id", "account_id", "rep_id?", "responded_at", "csat?", "nps?"),
    "activities": _table("activity_id", "account_id", "occurred_on", "kind?"),
    "market": _table("period", "region", "company", "revenue"),
    "reps": _table("rep_id", "name?", "team?", "region?", "hired_on", "left_on?"),
    "ticket_events": _table("ticket_id", "changed_at", "status"),  # last: CrmData's order
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
    return tuple(Column(name.rstrip("?"), _KINDS[table].get(name.rstrip("?"), "str"),
                        required=not name.endswith("?"))
                 for name in _DECLARED[table])


KEYS: dict[str, tuple[str, ...]] = {
    "accounts": ("account_id",), "contracts": ("contract_id",), "deals": ("deal_id",),
    "tickets": ("ticket_id",), "surveys": ("response_id",), "activities": ("activity_id",),
    "reps": ("rep_id",), "market": ("period", "region", "company"),
}
"""Each table's key: its own id (text, unique, never empty), or the columns unique together.

``ticket_events`` has none: a ticket's events repeat its ``ticket_id``."""

COLUMNS: dict[str, tuple[Column, ...]] = {table: _columns(table) for table in _DECLARED}
"""The columns of each table, in the data model's order."""
TABLES: tuple[str, ...] = tuple(_DECLARED)
"""The tables of the data model (``ticket_events`` last: CrmData's positional tables keep their order)."""

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
