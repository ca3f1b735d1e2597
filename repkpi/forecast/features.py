"""The churn-risk model's features, measured for many (account, scoring day) pairs at once.

A scoring day ``s`` is judged at its close (24:00 UTC): a row counts when it
is dated on or before ``s`` (a timestamp before the close); nothing dated
after it is read, so the features of a past day are those an export taken
that evening would give. Windows are the 90 (or 365) days ending with ``s``.

Every feature is read from one table, and a table (or a column) the data
lacks drops its features. Each table's rows are matched to their accounts
once (in Arrow) and its events sorted once by (account, time); a count in a
window or the last answer before a day is then a :func:`numpy.searchsorted`
for all pairs together, and the features of one table share their searches.
The median resolution time, which no search gives, is one groupby over the
windows of every scoring day, stacked.

Examples
--------
>>> from repkpi import CrmData
>>> data = CrmData(accounts=pd.DataFrame({"account_id": ["A1"], "customer_since": ["2022-01-03"]}),
...                activities=pd.DataFrame({"activity_id": ["E1", "E2"], "account_id": ["A1", "A1"],
...                                         "occurred_on": ["2024-03-01", "2024-06-30"]}))
>>> pairs = pd.DataFrame({"account_id": ["A1", "A1"], "day": pd.to_datetime(["2024-06-29", "2024-06-30"])})
>>> measure(gather(data), pairs)[["tenure_days", "activities_90d", "days_since_activity"]]
   tenure_days  activities_90d  days_since_activity
0        908.0             0.0                120.0
1        909.0             1.0                  0.0
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from repkpi.kpis.groups import positions
from repkpi.kpis.registry import executor_for
from repkpi.kpis.service import DEFAULT_SLA_HOURS
from repkpi.periods import NAT, day_numbers, micros

__all__ = ["WORDS", "describe", "gather", "measure", "measure_on", "selected"]

_SECOND = 1_000_000  # microseconds
_DAY = 86_400  # seconds
_WINDOW, _YEAR = 90 * _DAY, 365 * _DAY
_ORIGIN = int(pd.Timestamp("1899-01-01").value // 1_000_000_000)
_SPAN = int(pd.Timestamp("2201-01-01").value // 1_000_000_000) - _ORIGIN
"""Event times are seconds since ``_ORIGIN`` in [0, ``_SPAN``): the data model's years and more."""
_EVERGREEN_DAYS = 3650.0
"""Days to the next contract end of an account whose active contracts have no end."""

WORDS: dict[str, tuple[str, str]] = {
    "tenure_days": ("a customer for {years} years", "a customer for {years} years"),
    "arr": ("ARR {money}", "ARR {money}"),
    "days_to_contract_end": ("contract ends in {n} day", "contract ends in {n} days"),
    "contract_ends_in_horizon": ("a contract ends within the horizon",
                                 "a contract ends within the horizon"),
    "tickets_90d": ("{n} ticket in 90 days", "{n} tickets in 90 days"),
    "sla_breaches_90d": ("{n} SLA breach in 90 days", "{n} SLA breaches in 90 days"),
    "resolution_hours_90d": ("median resolution {n} hour in 90 days",
                             "median resolution {n} hours in 90 days"),
    "csat_last": ("last CSAT {n}", "last CSAT {n}"),
    "csat_change": ("CSAT {signed} since the answer before", "CSAT {signed} since the answer before"),
    "nps_last": ("last NPS {n}", "last NPS {n}"),
    "nps_change": ("NPS {signed} since the answer before", "NPS {signed} since the answer before"),
    "activities_90d": ("{n} activity in 90 days", "{n} activities in 90 days"),
    "days_since_activity": ("{n} day since the last activity", "{n} days since the last activity"),
    "surveys_90d": ("{n} survey answer in 90 days", "{n} survey answers in 90 days"),
    "days_since_survey": ("{n} day since the last survey answer",
                          "{n} days since the last survey answer"),
    "deals_won_12m": ("{n} deal won in 12 months", "{n} deals won in 12 months"),
    "deals_lost_12m": ("{n} deal lost in 12 months", "{n} deals lost in 12 months"),
    "rep_left": ("its rep has left", "its rep has left"),
}
"""Each feature in words (singular, plural); ``segment=X`` reads "segment X"."""

# The columns each table's features read: a table the data lacks, or a column it does not have
# (data.absent), drops the features that need it.
_READS: dict[str, dict[str, tuple[str, ...]]] = {
    "contracts": {"arr": ("start_date", "end_date", "annual_value"),
                  "days_to_contract_end": ("start_date", "end_date")},
    "tickets": {"tickets_90d": ("opened_at",),
                "sla_breaches_90d": ("opened_at", "resolved_at", "priority"),
                "resolution_hours_90d": ("opened_at", "resolved_at")},
    "surveys": {"csat_last": ("csat",), "csat_change": ("csat",), "nps_last": ("nps",),
                "nps_change": ("nps",), "surveys_90d": ("responded_at",),
                "days_since_survey": ("responded_at",)},
    "activities": {"activities_90d": ("occurred_on",), "days_since_activity": ("occurred_on",)},
    "deals": {"deals_won_12m": ("closed_on", "stage"), "deals_lost_12m": ("closed_on", "stage")},
    "reps": {"rep_left": ("left_on",)},
}


def describe(feature: str, value: float) -> str:
    """A feature's value in words: ``describe("sla_breaches_90d", 4)`` -> "4 SLA breaches in 90 days".

    Examples
    --------
    >>> describe("sla_breaches_90d", 4), describe("sla_breaches_90d", 1), describe("activities_90d", 0)
    ('4 SLA breaches in 90 days', '1 SLA breach in 90 days', 'no activities in 90 days')
    >>> describe("csat_change", -2), describe("segment=smb", 1), describe("arr", 12500)
    ('CSAT -2 since the answer before', 'segment smb', 'ARR 12,500')
    """
    if feature.startswith("segment="):
        return f"segment {feature.removeprefix('segment=')}"
    one, many = WORDS[feature]
    shown = round(float(value))
    count = "no" if shown == 0 and many.startswith("{n} ") else f"{shown:,}"
    return (one if shown == 1 else many).format(n=count, signed=f"{shown:+d}",
                                                years=f"{value / 365.25:.1f}",
                                                money=f"{value:,.0f}")


def gather(data: Any) -> dict[str, pd.DataFrame]:
    """The few columns the features read, of the tables the data has, as pandas frames.

    On Dask the columns are selected on the workers, then gathered in one pass.
    """
    return executor_for(data).gather(data, selected(data))


def selected(data: Any) -> dict[str, Any]:
    """The few columns the features read, of the tables the data has, in the data's own frames."""
    absent = getattr(data, "absent", None) or {}
    wanted: dict[str, Any] = {}
    accounts = ["account_id", "customer_since", "churned_on",
                *[c for c in ("account_name", "rep_id", "segment")
                  if c not in absent.get("accounts", ())]]
    wanted["accounts"] = data.accounts[accounts]
    for table, reads in _READS.items():
        frame = getattr(data, table, None)
        if frame is None:
            continue
        usable = {c for columns in reads.values() if not set(columns) & set(absent.get(table, ()))
                  for c in columns}
        if not usable:
            continue
        key = "rep_id" if table == "reps" else "account_id"
        if key in absent.get(table, ()):  # tickets without accounts: nobody's
            continue
        wanted[table] = frame[[key, *sorted(usable)]]
    return wanted


def measure_on(data: Any, pairs: pd.DataFrame) -> pd.DataFrame:
    """:func:`measure` where the data lives: on Dask, each bucket of accounts on a worker.

    The tables are split by account (the reps whole), each bucket's pairs
    measured beside its rows, and only the feature matrix (pairs x features)
    is gathered. A bucket lists the segments of its own accounts: a segment
    none of them is in is 0.0 for them, as :func:`measure` gives it.

    Examples
    --------
    >>> import repkpi
    >>> data = repkpi.load_sample()
    >>> pairs = pd.DataFrame({"account_id": data.accounts["account_id"][:3], "day": data.as_of})
    >>> measure_on(data, pairs).equals(measure(gather(data), pairs))
    True
    """
    parts = executor_for(data).by_account(data, selected(data), pairs, measure)
    if len(parts) == 1:
        return parts[0]
    found = pd.concat(parts)
    segments = sorted(c for c in found.columns if c.startswith("segment="))
    columns = [*(c for c in parts[0].columns if not c.startswith("segment=")), *segments]
    return found.reindex(index=pairs.index, columns=columns).fillna(dict.fromkeys(segments, 0.0))


@dataclass(frozen=True)
class _Events:
    """Events of the accounts, sorted by (account, time), with the values they carry.

    ``key`` = account x ``_SPAN`` + seconds since ``_ORIGIN``: one sorted array
    that :func:`numpy.searchsorted` reads for all (account, time) pairs at once.
    ``rows``: the table row of each event, to take a subset in the same order.
    """

    key: np.ndarray
    values: dict[str, np.ndarray]
    rows: np.ndarray

    @classmethod
    def of(cls, owner: np.ndarray, seconds: np.ndarray) -> _Events:
        """The events of a table's rows (``owner`` -1: no account), equal keys in row order."""
        keep = np.flatnonzero((owner >= 0) & (seconds != NAT))
        key = owner[keep] * _SPAN + np.clip(seconds[keep] - _ORIGIN, 0, _SPAN - 2)
        order = np.argsort(key, kind="stable")
        return cls(key[order], {}, keep[order])

    @classmethod
    def times(cls, owner: np.ndarray, seconds: np.ndarray) -> _Events:
        """Events that carry no value (counted, or the time of the last): their keys sorted.

        Equal keys are the same (account, time), so no row order is kept, and :meth:`among`
        is not for them.
        """
        keep = (owner >= 0) & (seconds != NAT)
        key = np.sort(owner[keep] * _SPAN + np.clip(seconds[keep] - _ORIGIN, 0, _SPAN - 2))
        return cls(key, {}, np.empty(0, dtype=np.int64))

    def among(self, mask: np.ndarray, values: Mapping[str, np.ndarray] | None = None) -> _Events:
        """The events whose table row is in ``mask``: :meth:`of` of those rows, without a sort.

        A sort that keeps ties in row order, restricted to some rows, is their own sort.
        """
        take = mask[self.rows]
        rows = self.rows[take]
        kept = {name: np.asarray(v, dtype=np.float64)[rows] for name, v in (values or {}).items()}
        return _Events(self.key[take], kept, rows)

    def first(self, owner: np.ndarray) -> np.ndarray:
        """Position of each account's first event."""
        return np.searchsorted(self.key, owner * _SPAN, side="left")

    def upto(self, owner: np.ndarray, seconds: np.ndarray) -> np.ndarray:
        """Position just past each account's last event at or before ``seconds``."""
        offset = np.clip(seconds - _ORIGIN, -1, _SPAN - 1)
        return np.searchsorted(self.key, owner * _SPAN + offset, side="right")

    def within(self, owner: np.ndarray, seconds: np.ndarray, window: int, *,
               upto: np.ndarray | None = None) -> np.ndarray:
        """How many of each account's events lie in (``seconds`` - ``window``, ``seconds``].

        ``upto``: :meth:`upto` at ``seconds``, when it is known already.
        """
        past = self.upto(owner, seconds) if upto is None else upto
        return (past - self.upto(owner, seconds - window)).astype(np.float64)

    @staticmethod
    def last(first: np.ndarray, upto: np.ndarray, back: int = 0) -> np.ndarray:
        """Index of each account's last event at or before the day; -1 if none.

        ``first`` and ``upto``: :meth:`first` and :meth:`upto` of the pairs.
        ``back=1``: the one before it.
        """
        at = upto - 1 - back
        return np.where(at >= first, at, -1)

    def value(self, name: str, at: np.ndarray) -> np.ndarray:
        """The value ``name`` of the events at ``at`` (NaN where -1); ``"time"``: their seconds."""
        if not len(self.key):
            return np.full(len(at), np.nan)
        return np.where(at >= 0, self.values[name][np.maximum(at, 0)] if name in self.values
                        else (self.key[np.maximum(at, 0)] % _SPAN + _ORIGIN), np.nan)


def _seconds(values: pd.Series, *, date: bool) -> np.ndarray:
    """Seconds since the epoch at which a row is known: a date at its close, a timestamp rounded up."""
    us = micros(values)
    missing = us == NAT
    if date:
        us = us + _DAY * _SECOND
    return np.where(missing, NAT, -((-us) // _SECOND))


def measure(tables: Mapping[str, pd.DataFrame], pairs: pd.DataFrame) -> pd.DataFrame:
    """The features of each (``account_id``, ``day``) pair, measured at the close of ``day``.

    Parameters
    ----------
    tables : mapping of str to DataFrame
        :func:`gather`'s tables (``accounts`` at least).
    pairs : DataFrame
        ``account_id`` and ``day`` (a date): the accounts and their scoring days.

    Returns
    -------
    DataFrame
        One row per pair, in order, one float column per feature the tables
        allow (``segment=X``: 1.0 for the accounts of segment X).
    """
    accounts = tables["accounts"]
    ids = accounts["account_id"]
    owner = positions(pairs["account_id"], ids)
    close = (day_numbers(pairs["day"]) + 1) * _DAY
    # The pairs in (account, day) order: each search then reads the sorted events front to back
    # (ten times faster than in the pairs' own order); each pair's features do not depend on it.
    order = np.lexsort((close, owner))
    owner, close = owner[order], close[order]
    since = _seconds(accounts["customer_since"], date=False)[owner]
    out: dict[str, np.ndarray] = {"tenure_days": (close - since - _DAY) / _DAY}

    def since_last(found: _Events, upto: np.ndarray) -> np.ndarray:
        """Days from each pair's last event to its day; its tenure when it has none."""
        last = found.value("time", found.last(found.first(owner), upto))
        return np.where(np.isnan(last), out["tenure_days"], (close - last) / _DAY)

    if "contracts" in tables and "end_date" in tables["contracts"]:
        out.update(_contracts(tables["contracts"], ids, owner, close))
    if "tickets" in tables:
        out.update(_tickets(tables["tickets"], ids, owner, close))
    if "surveys" in tables:
        surveys = tables["surveys"]
        answered = _Events.of(positions(surveys["account_id"], ids),  # with CSAT, NPS among them
                              _seconds(surveys["responded_at"], date=False))
        if "responded_at" in surveys:
            upto = answered.upto(owner, close)
            out["surveys_90d"] = answered.within(owner, close, _WINDOW, upto=upto)
            out["days_since_survey"] = since_last(answered, upto)
        for score in ("csat", "nps"):
            if score in surveys:
                values = surveys[score].to_numpy(dtype=np.float64, na_value=np.nan)
                answers = answered.among(~np.isnan(values), values={score: values})
                first, upto = answers.first(owner), answers.upto(owner, close)
                now = answers.value(score, answers.last(first, upto))
                out[f"{score}_last"] = now
                out[f"{score}_change"] = now - answers.value(score, answers.last(first, upto, 1))
    if "activities" in tables:
        activities = tables["activities"]
        done = _Events.times(positions(activities["account_id"], ids),
                             _seconds(activities["occurred_on"], date=True))
        upto = done.upto(owner, close)
        out["activities_90d"] = done.within(owner, close, _WINDOW, upto=upto)
        out["days_since_activity"] = since_last(done, upto)
    if "deals" in tables:
        deals = tables["deals"]
        who, closed = positions(deals["account_id"], ids), _seconds(deals["closed_on"], date=True)
        outcome = positions(deals["stage"], pd.Series(["won", "lost"]))
        for k, name in enumerate(("won", "lost")):
            won = _Events.times(np.where(outcome == k, who, -1), closed)  # or lost
            out[f"deals_{name}_12m"] = won.within(owner, close, _YEAR)
    if "reps" in tables and "rep_id" in accounts:
        reps = tables["reps"].drop_duplicates("rep_id")
        left = _seconds(reps["left_on"], date=False)
        left = np.append(np.where(left == NAT, np.nan, left), np.nan)  # [-1]: no rep, or unknown
        rep_left = left[positions(accounts["rep_id"], reps["rep_id"])][owner]
        out["rep_left"] = (rep_left < close).astype(np.float64)
    if "segment" in accounts:
        names = sorted(accounts["segment"].dropna().unique())
        segment = positions(accounts["segment"], pd.Series(names, dtype="str"))[owner]
        for k, name in enumerate(names):
            out[f"segment={name}"] = (segment == k).astype(np.float64)
    place = np.empty_like(order)
    place[order] = np.arange(len(order))
    return pd.DataFrame({name: values[place] for name, values in out.items()}, index=pairs.index)


def _contracts(contracts: pd.DataFrame, ids: pd.Series, owner: np.ndarray,
               close: np.ndarray) -> dict[str, np.ndarray]:
    """ARR (contracts active on the day) and days to the earliest end of an active contract."""
    who = positions(contracts["account_id"], ids)
    start = _seconds(contracts["start_date"], date=False)
    end = _seconds(contracts["end_date"], date=True)  # active through the close of its end date
    order = np.argsort(who, kind="stable")
    who, start, end = who[order], start[order], end[order]
    value = contracts["annual_value"].to_numpy(dtype=np.float64)[order] \
        if "annual_value" in contracts else np.zeros(len(order))
    lo = np.searchsorted(who, owner, side="left")
    many = np.searchsorted(who, owner, side="right") - lo
    pair = np.repeat(np.arange(len(owner)), many)  # each pair x each contract of its account
    row = np.repeat(lo - np.cumsum(many) + many, many) + np.arange(many.sum())
    active = (start[row] < close[pair]) & ((end[row] == NAT) | (end[row] >= close[pair]))
    arr = np.bincount(pair[active], weights=value[row][active], minlength=len(owner))
    ends = np.where(end[row] == NAT, np.inf, (end[row] - close[pair]) / _DAY)
    soonest = np.full(len(owner), np.inf)
    np.minimum.at(soonest, pair[active], ends[active])
    has = np.bincount(pair[active], minlength=len(owner)) > 0
    out = {"days_to_contract_end": np.where(has, np.minimum(soonest, _EVERGREEN_DAYS), np.nan)}
    if "annual_value" in contracts:
        out["arr"] = arr
    return out


def _tickets(tickets: pd.DataFrame, ids: pd.Series, owner: np.ndarray,
             close: np.ndarray) -> dict[str, np.ndarray]:
    """Tickets opened, SLA breaches (dated at the deadline missed), median resolution hours: 90 days."""
    who = positions(tickets["account_id"], ids)  # -1: no account
    opened = _seconds(tickets["opened_at"], date=False)
    out = {"tickets_90d": _Events.times(who, opened).within(owner, close, _WINDOW)}
    if "resolved_at" not in tickets:
        return out
    resolved = _seconds(tickets["resolved_at"], date=False)
    if "priority" in tickets:
        target = np.array([*DEFAULT_SLA_HOURS.values(), np.nan])  # [-1]: no or another priority
        hours = target[positions(tickets["priority"], pd.Series(list(DEFAULT_SLA_HOURS)))]
        deadline = np.where(np.isnan(hours), NAT, opened + np.nan_to_num(hours) * 3600).astype(np.int64)
        missed = (deadline != NAT) & ((resolved == NAT) | (resolved > deadline))
        out["sla_breaches_90d"] = _Events.times(np.where(missed, who, -1),
                                                deadline).within(owner, close, _WINDOW)
    done = (who >= 0) & (resolved != NAT)
    order = np.argsort(resolved[done])  # any order of equal times: a median reads no order
    at, by = resolved[done][order], who[done][order]
    hours = ((resolved[done] - opened[done]) / 3600)[order]
    # Each scoring day's window of resolved tickets, all windows stacked, then one groupby by
    # (day, account): a ticket sits in as many windows as hold it (one or two for quarters).
    days, day_of_pair = np.unique(close, return_inverse=True)
    begin = np.searchsorted(at, days - _WINDOW, side="right")
    many = np.searchsorted(at, days, side="right") - begin
    row = np.repeat(begin - np.cumsum(many) + many, many) + np.arange(many.sum())
    accounts = len(ids) + 1
    key = np.repeat(np.arange(len(days)), many) * accounts + by[row]
    found = pd.Series(hours[row]).groupby(key).median()
    median = found.reindex(day_of_pair * accounts + owner).to_numpy(dtype=np.float64)
    out["resolution_hours_90d"] = median
    return out
