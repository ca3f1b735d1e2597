"""Needs attention: the monthly report's to-do lists for a manager, each capped with a count of the rest.

Five lists, each a :class:`AttentionList` (``title``, the first ``limit``
``rows``, the ``total`` and the ``rest`` not shown):

``"churned"``
    Accounts churned in the reviewed period, as ``churn_rate`` counts them
    (the drill-down's ``in_numerator`` rows of :func:`repkpi.detail`), with
    their owner.
``"open_sla_breaches"``
    Tickets still unresolved whose SLA deadline (kpis.md, "Service") has
    passed: breaches still open, most overdue first. Tickets resolved late
    are breaches too, but nothing is left to do about them.
``"renewals_due"``
    Contracts due in the period after the reviewed one and not yet renewed:
    the forward view of ``renewal_rate``'s drill-down.
``"largest_open_deals"``
    Open deals, largest amount first, with their expected close date.
``"at_risk"``
    The accounts most likely to churn (the ``high`` band of
    :func:`repkpi.forecast.risk`: its top 10%), most at risk first, with
    their drivers.

Examples
--------
>>> import repkpi
>>> lists = needs_attention(repkpi.load_sample(), limit=3)
>>> [attention.title for attention in lists.values()]
['Accounts churned in 2026 Q3', 'SLA breaches still open', 'Contracts due in 2026 Q4 not yet renewed',
 'Largest open deals', 'Accounts most at risk of churning']
>>> churned = lists["churned"]
>>> len(churned.rows), churned.rest == churned.total - 3
(3, True)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from repkpi._vector import rows_among
from repkpi.errors import AbsentColumnError, HistoryError, OptionError
from repkpi.forecast.risk import risk
from repkpi.goals import Goal, latest_complete_period
from repkpi.io.loading import CrmData
from repkpi.kpis.business import FAR, CalendarLike, read_calendar
from repkpi.kpis.clocks import Clock, TicketClock, check_clock
from repkpi.kpis.detail import detail, period_freq
from repkpi.kpis.registry import executor_for, refuse_absent, refuse_after_as_of
from repkpi.kpis.service import DEFAULT_SLA_HOURS
from repkpi.periods import NAT, Calendar, Freq, PeriodLike, micros, period_label
from repkpi.schemas import PRIORITIES

__all__ = ["COLUMNS", "AttentionList", "needs_attention", "sla_options"]

COLUMNS: dict[str, list[str]] = {
    "churned": ["account_id", "account_name", "segment", "rep_id", "rep_name", "customer_since",
                "churned_on", "arr"],
    "open_sla_breaches": ["ticket_id", "account_id", "account_name", "rep_id", "rep_name", "priority",
                          "kind", "opened_at", "deadline", "hours_overdue"],
    "renewals_due": ["contract_id", "account_id", "account_name", "rep_id", "rep_name", "start_date",
                     "end_date", "annual_value"],
    "largest_open_deals": ["deal_id", "account_id", "account_name", "rep_id", "rep_name", "stage",
                           "deal_type", "amount", "created_on", "expected_close_on"],
    "at_risk": ["account_id", "account_name", "segment", "rep_id", "rep_name", "probability",
                "arr", "arr_at_risk", "drivers"],
}
"""The columns of each list, in order (the same whatever tables are loaded: NA where unknown)."""

_NEEDS = {"churned": "accounts", "open_sla_breaches": "tickets", "renewals_due": "contracts",
          "largest_open_deals": "deals", "at_risk": "accounts"}
_HOUR = pd.Timedelta(hours=1)


@dataclass(frozen=True)
class AttentionList:
    """One to-do list: its first rows and how many there are in all.

    Attributes
    ----------
    key : str
        ``"churned"``, ``"open_sla_breaches"``, ``"renewals_due"``,
        ``"largest_open_deals"`` or ``"at_risk"``.
    title : str
        A heading for the list (``"Accounts churned in 2026 Q3"``).
    rows : DataFrame
        The first ``limit`` rows, in the list's order (columns :data:`COLUMNS`).
    total : int
        How many rows the whole list has.
    period : Period or None
        The period the list is about (the reviewed one; the next one for
        renewals); None for the lists judged on the as-of date.
    reason : str or None
        Why the list is empty without looking (its table is not loaded, or
        the data has no as-of date to choose a period from); None otherwise.
    """

    key: str
    title: str
    rows: pd.DataFrame
    total: int
    period: pd.Period | None = None
    reason: str | None = None

    @property
    def rest(self) -> int:
        """How many rows are not shown: ``total - len(rows)``."""
        return self.total - len(self.rows)


def needs_attention(data: CrmData, period: PeriodLike | None = None, *, freq: Freq | None = None,
                    limit: int | None = 10, fiscal_year_start: int | None = None,
                    sla_targets: Mapping[str | None, float] | None = None,
                    clock: Clock = "calendar", calendar: CalendarLike | None = None,
                    pause: str | Sequence[str] | None = None,
                    scores: pd.DataFrame | None = None) -> dict[str, AttentionList]:
    """The report's "needs attention" lists: churned, open SLA breaches, renewals due, open deals, at risk.

    Parameters
    ----------
    data : CrmData
        Loaded data, or Dask data (``load(..., engine="dask")``): only the
        rows of the lists are gathered.
    period : period-like, optional
        The period under review (``"2026Q3"``, ``"2026-07"``, ``"2026"``, a
        pandas Period); its length is read from the label as
        :func:`repkpi.detail` reads it. Default: the latest complete period
        of ``freq`` (:func:`repkpi.latest_complete_period`).
    freq : {"M", "Q", "Y"}, optional
        The period length when ``period`` is a date or not given (default
        ``"Q"``).
    limit : int or None
        Rows kept per list (None: all); ``total`` still counts them all.
    fiscal_year_start : int, optional
        Month 1..12 the fiscal year starts in (None: January), as for every KPI.
    sla_targets : mapping, optional
        Resolution hours per priority, as ``sla_compliance``'s ``targets=``
        (priorities left out keep their default).
    clock, calendar, pause : optional
        The SLA's clock, as ``sla_compliance`` takes them: ``clock="business"``
        with the team's ``calendar`` counts only opening hours; ``pause``
        stops the clock in those ``ticket_events`` statuses. A goal's
        options give them: ``needs_attention(data, **sla_options(goals))``.
    scores : DataFrame, optional
        :func:`repkpi.forecast.risk` of ``data`` when already computed (the
        report's); computed here when not given.

    Returns
    -------
    dict of str to AttentionList
        Always the five keys, in this order: ``"churned"``,
        ``"open_sla_breaches"``, ``"renewals_due"``, ``"largest_open_deals"``,
        ``"at_risk"``. A list whose table is not loaded, or that needs a
        column the export does not have, is empty, with the ``reason``
        (as is ``"at_risk"`` when the data's past is too short to learn from).

    Raises
    ------
    OptionError
        A ``limit`` that is not a non-negative integer, a period that cannot
        be read or that begins after the data's as-of date, ``sla_targets``
        naming an unknown priority, or a bad clock, calendar or pause.
    MissingTableError
        ``pause`` without the ``ticket_events`` table.

    Notes
    -----
    Each row names the account (``account_name``) and the rep with the rep's
    ``name`` from ``reps`` as ``rep_name``: the account's owner for churned
    accounts and renewals, the ticket's or deal's own ``rep_id`` otherwise.

    * ``churned``: :func:`repkpi.detail` of ``churn_rate`` for the period,
      rows ``in_numerator`` (accounts active on the day before the period
      and churned by its last day). ``arr`` is the account's ARR on that
      day (its contracts active then; NaN without contracts or without
      their ``end_date``). Largest
      ``arr`` first, then by ``churned_on`` and ``account_id``.
    * ``open_sla_breaches``: tickets opened and not resolved at the snapshot
      time whose deadline ``opened_at + target hours`` is before it (on the
      business clock, or paused: the first instant at which the target's
      hours are on the ticket's clock); tickets with no priority have no
      agreed time and are left out; an export without ``priority`` or
      ``resolved_at`` (``data.absent``) gives no list, with the reason. The snapshot
      time is that of every service KPI (kpis.md, "Snapshot time"): the
      close of ``data.as_of``, 24:00 UTC. ``hours_overdue`` = (snapshot - deadline) in hours (on the
      business clock or paused: the hours on the clock past the target at
      the snapshot); most overdue first. This list does not depend on ``period``.
    * ``renewals_due``: :func:`repkpi.detail` of ``renewal_rate`` for the
      period after ``period`` (the renewal pipeline), rows not renewed (no
      contract names them in ``renewal_of``); by ``end_date``, then largest
      ``annual_value``.
    * ``largest_open_deals``: deals created by ``data.as_of`` and not won or
      lost by then (stage ``open``, or closed after a declared cut-off).
      ``expected_close_on`` is the deal's ``closed_on`` (an open deal's
      expected close date). Largest ``amount`` first (deals without an
      amount last), then by ``expected_close_on``.
    * ``at_risk``: the accounts of :func:`repkpi.forecast.risk`'s ``high``
      band (the 10% most likely to churn within the quarter after the one
      that holds ``data.as_of``), most at risk first: ``probability``,
      ``arr``, ``arr_at_risk`` and the ``drivers`` in words. This list
      does not depend on ``period``.

    Examples
    --------
    >>> import repkpi
    >>> data = repkpi.load_sample()
    >>> deals = needs_attention(data, "2026Q3", limit=2)["largest_open_deals"]
    >>> deals.rows[["deal_id", "amount", "expected_close_on"]].shape
    (2, 3)
    >>> bool(deals.rows["amount"].is_monotonic_decreasing)
    True
    >>> deals.total == int((data.deals["stage"] == "open").sum())
    True
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int | np.integer)
                              or limit < 0):
        raise OptionError(f"limit must be a non-negative integer or None, got {limit!r}.\n"
                          "Hint: limit=10 shows the first ten rows of each list; None shows all.")
    fiscal = 1 if fiscal_year_start is None else fiscal_year_start
    hours = _targets(sla_targets)
    check_clock("needs_attention", clock, calendar, pause)
    if calendar is not None:
        calendar = read_calendar(calendar)
    reviewed = _reviewed(data, period, freq, fiscal)
    frames: dict[str, pd.DataFrame | None] = {}
    reasons: dict[str, str] = {}
    for key, table in _NEEDS.items():  # the five lists, not rows
        if getattr(data, table, None) is None:
            frames[key], reasons[key] = None, f"No {table} table is loaded."
    if reviewed is None:
        for key in ("churned", "renewals_due"):
            reasons.setdefault(key, "The data records no date: there is no period to review.")
            frames[key] = None
    # A list that needs a column the export does not have is empty with the reason, never
    # computed as if every row were empty (no churned_on: nobody churned; no renewal_of: every
    # contract unrenewed; no priority: no ticket with an agreed time).
    makers = {"churned": lambda: _churned(data, reviewed, fiscal),
             "renewals_due": lambda: _renewals(data, reviewed + 1, fiscal),
             "open_sla_breaches": lambda: _open_breaches(data, hours, clock, calendar, pause),
             "largest_open_deals": lambda: _open_deals(data),
             "at_risk": lambda: _at_risk(data, scores, fiscal)}
    for key, make in makers.items():
        if key not in reasons:
            try:
                frames[key] = make()
            except (AbsentColumnError, HistoryError) as exc:
                frames[key], reasons[key] = None, str(exc).splitlines()[0]
    frames = _named(data, frames, reviewed)
    following = None if reviewed is None else reviewed + 1
    heads = {"churned": (reviewed, "Accounts churned", ""),
             "open_sla_breaches": (None, "SLA breaches still open", ""),
             "renewals_due": (following, "Contracts due", " not yet renewed"),
             "largest_open_deals": (None, "Largest open deals", ""),
             "at_risk": (None, "Accounts most at risk of churning", "")}
    lists = {}
    for key, columns in COLUMNS.items():
        rows = frames[key]
        rows = _empty(columns) if rows is None else rows[columns].reset_index(drop=True)
        when, head, tail = heads[key]
        title = head + ("" if when is None else f" in {period_label(when)}") + tail
        lists[key] = AttentionList(key, title, rows if limit is None else rows.iloc[:limit],
                                   len(rows), when, reasons.get(key))
    return lists


def sla_options(goals: Iterable[Goal]) -> dict[str, Any]:
    """The SLA options of the goals' ``sla_compliance`` goal, as :func:`needs_attention` takes them.

    The first goal on ``sla_compliance`` over every group (no ``where``) gives
    its ``targets`` (as ``sla_targets``), ``clock``, ``calendar`` and
    ``pause``; none: no options (the defaults).

    Examples
    --------
    >>> from repkpi.goals import Goal
    >>> week = {"timezone": "UTC", "hours": {"mon": "09:00-17:00"}}
    >>> sla_options([Goal("sla_compliance", "Q", 0.9, "at_least",
    ...                   options={"clock": "business", "calendar": week, "kinds": "complaint"})])
    {'clock': 'business', 'calendar': {'timezone': 'UTC', 'hours': {'mon': '09:00-17:00'}}}
    """
    for goal in goals:
        if goal.kpi == "sla_compliance" and not goal.where:
            names = {"targets": "sla_targets", "clock": "clock", "calendar": "calendar",
                     "pause": "pause"}
            return {names[k]: v for k, v in goal.options.items() if k in names}
    return {}


def _reviewed(data: Any, period: PeriodLike | None, freq: Freq | None, fiscal: int) -> pd.Period | None:
    """The period under review: the one given, else the latest complete one."""
    if period is None:
        return latest_complete_period(data, freq or "Q", fiscal_year_start=fiscal)
    freq = freq or period_freq(period)
    reviewed = Calendar(freq, fiscal).period(period)
    refuse_after_as_of(data, reviewed, what="needs_attention")
    return reviewed


def _targets(targets: Mapping[str | None, float] | None) -> dict[str | None, float]:
    """Resolution hours per priority (``None``: tickets with no priority, no agreed time by default)."""
    hours: dict[str | None, float] = {**DEFAULT_SLA_HOURS, None: np.nan}
    if targets is not None:
        unknown = sorted(map(str, set(targets) - {*PRIORITIES, None}))
        if unknown:
            raise OptionError(f"sla_targets names unknown priorities {unknown}.\n"
                              f"Hint: the priorities are {PRIORITIES} (and None for tickets with no "
                              f"priority); missing ones keep their default {DEFAULT_SLA_HOURS}.")
        hours.update(targets)
    return hours


def _gather(data: Any, wanted: dict[str, Any]) -> dict[str, Any]:
    """``wanted`` as pandas objects: on Dask data computed in one pass, only these rows gathered."""
    return executor_for(data).gather(data, wanted)


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series(dtype=object) for column in columns})


def _churned(data: Any, period: pd.Period, fiscal: int) -> pd.DataFrame:
    rows = detail(data, "churn_rate", period=period, fiscal_year_start=fiscal)
    rows = rows.loc[rows["in_numerator"], ["account_id", "rep_id", "customer_since", "churned_on"]]
    if data.contracts is None or "end_date" in (getattr(data, "absent", None) or {}).get("contracts", ()):
        return rows.assign(arr=np.nan)
    opening = period.start_time.normalize() - pd.Timedelta(days=1)  # P.open, the day before P
    contracts = data.contracts
    active = contracts.loc[rows_among(contracts["account_id"], rows["account_id"])
                           & (contracts["start_date"] <= opening)
                           & (contracts["end_date"].isna() | (contracts["end_date"] >= opening)),
                           ["account_id", "annual_value"]]
    arr = _gather(data, {"arr": active})["arr"].groupby("account_id")["annual_value"].sum()
    rows = rows.assign(arr=rows["account_id"].map(arr).fillna(0.0).astype("float64"))
    return rows.sort_values(["arr", "churned_on", "account_id"], ascending=[False, True, True],
                            na_position="last", kind="stable")


def _renewals(data: Any, period: pd.Period, fiscal: int) -> pd.DataFrame:
    rows = detail(data, "renewal_rate", period=period, fiscal_year_start=fiscal)
    rows = rows.loc[~rows["in_numerator"],
                    ["contract_id", "account_id", "start_date", "end_date", "annual_value"]]
    return rows.sort_values(["end_date", "annual_value", "contract_id"], ascending=[True, False, True],
                            na_position="last", kind="stable")


def _snapshot(data: Any) -> pd.Timestamp | None:
    """When open tickets are judged: the close of ``data.as_of`` (24:00 UTC), as every KPI does."""
    if data.as_of is None:
        return None
    return (data.as_of + pd.Timedelta(days=1)).tz_localize("UTC")


def _open_breaches(data: Any, hours: dict[str | None, float], clock: Clock = "calendar",
                   calendar: CalendarLike | None = None,
                   pause: str | Sequence[str] | None = None) -> pd.DataFrame:
    refuse_absent(data, "the list of open SLA breaches", "tickets", ["resolved_at", "priority"])
    now = _snapshot(data)
    if now is None:  # the data records nothing: nothing is open
        return _empty(COLUMNS["open_sla_breaches"])
    tickets = data.tickets
    unresolved = (tickets["opened_at"] <= now) & (tickets["resolved_at"].isna()
                                                  | (tickets["resolved_at"] > now))
    keep = ["ticket_id", "account_id", "rep_id", "priority", "kind", "opened_at"]
    rows = _gather(data, {"open": tickets.loc[unresolved, keep]})["open"]
    allowed = rows["priority"].map({p: hours[p] for p in PRIORITIES}).astype("float64")
    allowed = allowed.where(rows["priority"].notna(), hours[None])
    if clock == "calendar" and pause is None:
        deadline = rows["opened_at"] + pd.to_timedelta(allowed, unit="h")
        rows = rows.assign(deadline=deadline, hours_overdue=(now - deadline) / _HOUR)
    else:
        rows = rows.assign(**_on_the_clock(data, rows, allowed.to_numpy(), now, clock, calendar,
                                           pause))
    rows = rows.loc[rows["deadline"].notna() & (rows["deadline"] < now)]
    return rows.sort_values(["hours_overdue", "ticket_id"], ascending=[False, True], kind="stable")


def _open_deals(data: Any) -> pd.DataFrame:
    deals, as_of = data.deals, data.as_of
    still_open = deals["stage"] == "open"
    if as_of is not None:  # open on the as-of date: created by then, not won or lost by then
        still_open = (deals["created_on"] <= as_of) & (still_open | (deals["closed_on"] > as_of))
    keep = ["deal_id", "account_id", "rep_id", "stage", "deal_type", "amount", "created_on", "closed_on"]
    rows = _gather(data, {"open": deals.loc[still_open, keep]})["open"]
    rows = rows.rename(columns={"closed_on": "expected_close_on"})
    return rows.sort_values(["amount", "expected_close_on", "deal_id"], ascending=[False, True, True],
                            na_position="last", kind="stable")


def _at_risk(data: Any, scores: pd.DataFrame | None, fiscal: int) -> pd.DataFrame:
    """The ``high`` band of the accounts' churn risk (quarters of the fiscal year), most at risk first."""
    if scores is None:
        scores = risk(data, fiscal_year_start=fiscal)
    return scores.loc[scores["band"] == "high",
                      ["account_id", "rep_id", "probability", "arr", "arr_at_risk", "drivers"]]


def _named(data: Any, frames: dict[str, pd.DataFrame | None],
           reviewed: pd.Period | None) -> dict[str, pd.DataFrame | None]:
    """Each list with its accounts' name and segment, renewals' owners, and the reps' names."""
    ids = pd.concat([f["account_id"] for f in frames.values() if f is not None and len(f)]
                    or [pd.Series(dtype="str")], ignore_index=True).dropna().unique()
    wanted: dict[str, Any] = {}
    if data.accounts is not None and len(ids):
        accounts = data.accounts
        wanted["accounts"] = accounts.loc[rows_among(accounts["account_id"], ids),
                                          ["account_id", "account_name", "segment", "rep_id"]]
    if data.reps is not None:
        wanted["reps"] = data.reps[["rep_id", "name"]]
    found = _gather(data, wanted)
    accounts = found.get("accounts")
    if accounts is None:
        accounts = pd.DataFrame({c: pd.Series(dtype="str")
                                 for c in ("account_id", "account_name", "segment", "rep_id")})
    accounts = accounts.set_index("account_id")
    names = found["reps"].set_index("rep_id")["name"] if "reps" in found else pd.Series(dtype="str")
    named = {}
    for key, rows in frames.items():  # the five lists, not rows
        if rows is None:
            named[key] = None
            continue
        account = rows["account_id"]
        extra = {"account_name": account.map(accounts["account_name"]),
                 "segment": account.map(accounts["segment"])}
        if key == "renewals_due":
            extra["rep_id"] = account.map(accounts["rep_id"])
        rows = rows.assign(**extra)
        named[key] = rows.assign(rep_name=rows["rep_id"].map(names))
    return named


def _on_the_clock(data: Any, rows: pd.DataFrame, allowed: np.ndarray, now: pd.Timestamp,
                  clock: Clock, calendar: CalendarLike | None,
                  pause: str | Sequence[str] | None) -> dict[str, Any]:
    """The open tickets' deadlines and hours overdue on the SLA's clock (business or paused)."""
    at = int(micros(pd.Series([now]))[0])
    ticking = TicketClock(_clock_data(data, rows, calendar, pause), rows, "needs_attention",
                          clock=clock, calendar=calendar, pause=pause, as_of=at)
    due = ticking.deadline(allowed)  # NAT: no agreed time; FAR: the clock stopped for good
    shown = np.where(due >= FAR // 2, NAT, due).astype("datetime64[us]")
    over = ticking.hours(np.full(len(rows), at, dtype=np.int64)) - allowed
    return {"deadline": pd.Series(shown, index=rows.index).dt.tz_localize("UTC"),
            "hours_overdue": np.where((due != NAT) & (due < FAR // 2), over, np.nan)}


def _clock_data(data: Any, rows: pd.DataFrame, calendar: CalendarLike | None,
                pause: str | Sequence[str] | None) -> CrmData:
    """The tables the clock of the open tickets ``rows`` reads, gathered (see :func:`_gather`).

    Their accounts and reps (for the columns a calendar differs by) and their
    events (for pauses).
    """
    wanted: dict[str, Any] = {}
    if calendar is not None and read_calendar(calendar).columns:
        for table in ("accounts", "reps"):
            if getattr(data, table, None) is not None:
                wanted[table] = getattr(data, table)
    events = getattr(data, "ticket_events", None)
    if pause is not None and events is not None:
        wanted["ticket_events"] = events[rows_among(events["ticket_id"], rows["ticket_id"])]
    return CrmData.trusted(tickets=rows, **_gather(data, wanted))
