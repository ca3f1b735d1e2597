"""Service KPIs, from the tickets table (a ticket belongs to the period it was opened in, UTC).

SLA targets are resolution times in hours per priority (first response
times for :func:`first_response_sla`). A ticket's deadline is the first
moment at which ``target`` hours are on its clock since ``opened_at``: on the
calendar clock (the default) ``opened_at + target``; on the business clock
(``clock="business"`` with a ``calendar=``) only the hours inside the
team's opening hours count; ``pause=[statuses]`` stops either clock while
the ticket is in those statuses (from ``ticket_events``). See
:mod:`repkpi.kpis.clocks`.

States are judged at the close of the data's as-of date (24:00 UTC of
``data.as_of``, the same moment for every KPI: kpis.md, "Snapshot time"): a
ticket has **met** its SLA if it was resolved by its deadline, has
**breached** it if it was resolved later or is unresolved with the deadline
passed at that moment, and is otherwise **pending** (in neither count). A
declared as-of date cuts the data at load (:func:`repkpi.load`), so a ticket
resolved after it is unresolved.

Examples use these tickets (their as-of date is 2024-04-10, judged at
2024-04-11 00:00 UTC):

>>> examples.tickets().tickets.shape[0] > 0
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

import numpy as np
import pandas as pd

from repkpi._vector import isin
from repkpi.errors import OptionError, RepkpiError
from repkpi.kpis.business import FAR, CalendarLike, read_calendar
from repkpi.kpis.clocks import Clock, TicketClock
from repkpi.kpis.declaration import Formula, Scope
from repkpi.kpis.groups import positions
from repkpi.kpis.registry import kpi, refuse_absent
from repkpi.periods import NAT, micros, snapshot
from repkpi.schemas import PRIORITIES

__all__ = ["DEFAULT_RESPONSE_HOURS", "DEFAULT_SLA_HOURS", "first_response_hours",
           "first_response_sla", "resolution_hours", "sla_compliance"]

_SHOW = ("account_id", "kind", "priority", "opened_at", "first_response_at", "resolved_at")
DEFAULT_SLA_HOURS: dict[str, float] = {"urgent": 4, "high": 24, "normal": 72, "low": 120}
"""Resolution targets in hours per priority."""
DEFAULT_RESPONSE_HOURS: dict[str, float] = {"urgent": 1, "high": 4, "normal": 24, "low": 48}
"""First response targets in hours per priority."""
Pause = str | Sequence[str] | None
T = TypeVar("T")


def _hours(name: str, defaults: Mapping[str, float],
           targets: Mapping[str | None, float] | None) -> dict[str | None, float]:
    """Hours per priority; ``None`` (no priority set) has none unless ``targets`` gives one."""
    hours: dict[str | None, float] = dict(defaults)
    hours[None] = np.nan
    if targets is not None:
        unknown = sorted(map(str, set(targets) - {*PRIORITIES, None}))
        if unknown:
            raise OptionError(f"{name}'s targets name unknown priorities {unknown}.\n"
                              f"Hint: the priorities are {PRIORITIES} (and None for tickets "
                              f"with no priority); missing ones keep their default "
                              f"{dict(defaults)}.")
        hours.update(targets)
    return hours


def _clock_columns(clock: TicketClock, tickets: pd.DataFrame) -> dict[str, np.ndarray]:
    """Hours on the clock to the first response and to the resolution (NaN without one)."""
    return {"hours_to_respond": _read_only(clock.hours(micros(tickets["first_response_at"]))),
            "hours_to_resolve": _read_only(clock.hours(micros(tickets["resolved_at"])))}


def _once(s: Scope, key: tuple | None, make: Callable[[], T]) -> T:
    """``make()`` once per ``key`` among the KPIs sharing ``s``'s cache; ``key`` None: made here."""
    return make() if key is None else s.shared(key, make)


def _clock_key(s: Scope, clock: Clock, calendar: CalendarLike | None, pause: Pause,
               as_of: int | None) -> tuple | None:
    """What a ticket clock of ``s``'s tickets depends on; None for a calendar it cannot read.

    The tickets' clocks, deadlines and hours do not depend on the period or
    the groups: every grouping of a run (the report's) shares them.
    """
    try:
        read = None if calendar is None else repr(read_calendar(calendar))
    except RepkpiError:  # the clock itself gives the error
        return None
    return ("ticket clock", id(s.data), id(s.frame), clock, read, repr(pause), as_of)


def _ticking(s: Scope, clock: Clock, calendar: CalendarLike | None, pause: Pause,
             as_of: int | None) -> tuple[TicketClock, dict[str, np.ndarray], tuple | None]:
    """The tickets' clock and hours to respond and to resolve on it, and the clock's key."""
    key = _clock_key(s, clock, calendar, pause, as_of)
    ticking = _once(s, key, lambda: TicketClock(s.data, s.frame, s.name, clock=clock,
                                                calendar=calendar, pause=pause, as_of=as_of))
    columns = _once(s, key and (*key, "hours"), lambda: _clock_columns(ticking, s.frame))
    return ticking, columns, key


def _sla(s: Scope, later: str, defaults: Mapping[str, float],
         targets: Mapping[str | None, float] | None, kinds: str | Sequence[str] | None,
         clock: Clock, calendar: CalendarLike | None, pause: Pause) -> Formula:
    """Met / (met + breached), the SLA being that ``later`` comes by the deadline."""
    tickets = s.frame
    hours = _hours(s.name, defaults, targets)
    as_of = snapshot(s.as_of)
    ticking, hours_to, key = _ticking(s, clock, calendar, pause,
                                      None if as_of == NAT else int(as_of))
    met, breached, columns = _once(s, key and (*key, later, repr(hours)),
                                   lambda: _judged(tickets, later, hours, ticking, hours_to, as_of))
    if kinds is not None:
        refuse_absent(s.data, f"{s.name} with kinds=", "tickets", ["kind"])
        chosen = isin(tickets["kind"], pd.Series([kinds] if isinstance(kinds, str) else list(kinds)))
        met, breached = met & chosen, breached & chosen
    return s.formula("ratio", s.events(tickets["opened_at"], where=met, columns=columns),
                     s.events(tickets["opened_at"], where=met | breached, columns=columns),
                     show=_SHOW)


def _judged(tickets: pd.DataFrame, later: str, hours: dict[str | None, float],
            ticking: TicketClock, hours_to: dict[str, np.ndarray],
            as_of: int) -> tuple[np.ndarray, np.ndarray, dict[str, object]]:
    """Each ticket met or breached (``later`` by its deadline) at ``as_of``, and its detail columns."""
    done = micros(tickets[later])
    # Hours allowed per ticket: a ticket with no priority has no agreed time (NaN), unless
    # targets gives one for None; an unknown position (-1) picks that last entry.
    allowed = np.array([*(hours[p] for p in PRIORITIES), hours[None]], dtype=np.float64)
    allowed = allowed[positions(tickets["priority"], pd.Series(PRIORITIES))]
    agreed = ~np.isnan(allowed)
    deadline = ticking.deadline(allowed)  # NAT: no agreed time; FAR: the clock stopped for good
    known = (done != NAT) & (done <= as_of)
    on_time = (done != NAT) & (done <= deadline)
    met = agreed & known & on_time
    breached = agreed & ((known & ~on_time) | (~known & (deadline < as_of)))
    # Hours on the clock past the target when done (or, not done, at as_of); negative: to spare.
    stop = np.where(known, done, as_of)
    shown = np.where(deadline >= FAR // 2, NAT, deadline)
    columns = {"deadline": pd.Series(shown.astype("datetime64[us]")).dt.tz_localize("UTC"),
               "hours_late": _read_only(np.where(agreed, ticking.hours(stop) - allowed, np.nan)),
               **hours_to}
    return _read_only(met), _read_only(breached), columns


def _read_only(array: np.ndarray) -> np.ndarray:
    """``array``, which no KPI sharing it may change."""
    array.setflags(write=False)
    return array


@kpi(title="SLA compliance", table="tickets", unit="percent", kind="ratio", interval="wilson",
     needs=("tickets.resolved_at", "tickets.priority"))
def sla_compliance(s: Scope, *, targets: Mapping[str, float] | None = None,
                   kinds: str | Sequence[str] | None = None, clock: Clock = "calendar",
                   calendar: CalendarLike | None = None, pause: Pause = None) -> Formula:
    """Share of the period's tickets resolved by their deadline: met / (met + breached).

    Parameters
    ----------
    targets : mapping, optional
        Hours per priority replacing the defaults ``urgent: 4, high: 24,
        normal: 72, low: 120`` (priorities left out keep their default). A
        ticket with no priority has no agreed time and counts in neither
        side, unless ``targets`` gives one for ``None``.
    kinds : str or list of str, optional
        Only tickets of these kinds (e.g. ``"complaint"``).
    clock : {"calendar", "business"}
        ``"calendar"``: every hour counts; ``"business"``: only the hours
        inside ``calendar``'s opening hours.
    calendar : mapping or path, optional
        The team's schedule, for ``clock="business"``: ``timezone``,
        ``hours`` per weekday (``"09:00-12:30,13:30-17:30"``), ``holidays``
        and ``by.<column>.<value>`` overrides; or a TOML file with a
        ``[calendar]`` table (see :func:`repkpi.kpis.business.read_calendar`).
    pause : str or list of str, optional
        Statuses (``ticket_events``) during which the clock stops, e.g.
        ``["pending"]``; needs the ``ticket_events`` table.

    Raises
    ------
    OptionError
        ``clock="business"`` without a calendar, a bad calendar, an unknown
        status or priority.
    MissingTableError
        ``pause`` without the ``ticket_events`` table.

    Notes
    -----
    A ticket's deadline is the first moment at which ``target`` hours are
    on its clock; it has met its SLA if ``resolved_at <= deadline``. In
    :func:`repkpi.detail`, each ticket shows its ``deadline``,
    ``hours_late`` (hours on the clock past the target at its resolution,
    or at the close of the as-of date; negative: to spare; a ticket resolved after its
    deadline while the clock stood still is late by 0 hours),
    ``hours_to_respond`` and ``hours_to_resolve``, all on the chosen clock.

    Examples
    --------
    T1 met (3 h <= 4 h), T2 breached (96 h > 72 h); T3, opened at 02:00 UTC
    on 1 April, is unresolved past its 24 h; T4 met (25 h <= 120 h).

    >>> data = examples.tickets()
    >>> sla_compliance(data)[["period", "numerator", "denominator"]]
      period  numerator  denominator
    0 2024Q1        1.0          2.0
    1 2024Q2        1.0          2.0

    Declared as of 1 April, the data stands as it did that day (T4 not
    opened yet); T3, opened at 02:00 UTC that day with 24 hours, is still
    pending at midnight:

    >>> from repkpi import CrmData
    >>> april_1 = CrmData(tickets=data.tickets, as_of="2024-04-01")
    >>> sla_compliance(april_1, kinds="complaint")[["period", "numerator", "denominator"]]
      period  numerator  denominator
    0 2024Q1        1.0          1.0
    1 2024Q2        0.0          0.0

    On the business clock, 09:00-17:00 UTC on weekdays, T2 (opened on
    Saturday 2 March at 08:00, resolved on Wednesday 6 March at 08:00,
    before the team opened) was on the clock 8 + 8 = 16 hours of its 72:
    met. T3, opened on Monday 1 April at 02:00, reaches its 24 hours on
    Wednesday at 17:00: breached by the close of 10 April.

    >>> week = {day: "09:00-17:00" for day in ("mon", "tue", "wed", "thu", "fri")}
    >>> business = sla_compliance(data, clock="business",
    ...                           calendar={"timezone": "UTC", "hours": week})
    >>> business[["period", "numerator", "denominator"]]
       period  numerator  denominator
    0  2024Q1        2.0          2.0
    1  2024Q2        1.0          2.0
    """
    return _sla(s, "resolved_at", DEFAULT_SLA_HOURS, targets, kinds, clock, calendar, pause)


@kpi(title="First response SLA", table="tickets", unit="percent", kind="ratio", interval="wilson",
     needs=("tickets.first_response_at", "tickets.priority"))
def first_response_sla(s: Scope, *, targets: Mapping[str, float] | None = None,
                       kinds: str | Sequence[str] | None = None, clock: Clock = "calendar",
                       calendar: CalendarLike | None = None, pause: Pause = None) -> Formula:
    """Share of the period's tickets answered by their deadline: met / (met + breached).

    As :func:`sla_compliance`, with ``first_response_at`` for ``resolved_at``
    and response targets.

    Parameters
    ----------
    targets : mapping, optional
        Hours per priority to the first response, replacing the defaults
        ``urgent: 1, high: 4, normal: 24, low: 48``.
    kinds : str or list of str, optional
        Only tickets of these kinds.
    clock : {"calendar", "business"}
    calendar : mapping or path, optional
    pause : str or list of str, optional
        As for :func:`sla_compliance`.

    Examples
    --------
    T1 answered in 1 h (urgent, 1 h: met), T2 in 4 h (normal, 24 h: met);
    T3 (high, 4 h) has no answer by the close of 10 April: breached; T4 (low,
    48 h), opened on 9 April at 08:00, is still within its 48 hours: pending.

    >>> data = examples.tickets()
    >>> first_response_sla(data)[["period", "numerator", "denominator"]]
      period  numerator  denominator
    0 2024Q1        2.0          2.0
    1 2024Q2        0.0          1.0
    """
    return _sla(s, "first_response_at", DEFAULT_RESPONSE_HOURS, targets, kinds, clock, calendar,
                pause)


def _median_hours(s: Scope, later: str, clock: Clock, calendar: CalendarLike | None,
                  pause: Pause) -> Formula:
    tickets = s.frame
    _, columns, _ = _ticking(s, clock, calendar, pause, None)
    hours = columns["hours_to_respond" if later == "first_response_at" else "hours_to_resolve"]
    return s.formula("median", s.events(tickets["opened_at"], where=~np.isnan(hours), weights=hours,
                                      columns=columns),
                     show=_SHOW)


@kpi(title="First response time (median hours)", label="First response (h)", table="tickets",
     unit="hours", kind="median", needs=("tickets.first_response_at",))
def first_response_hours(s: Scope, *, clock: Clock = "calendar",
                         calendar: CalendarLike | None = None, pause: Pause = None) -> Formula:
    """Median hours from ``opened_at`` to ``first_response_at``, tickets opened in P with a response.

    Parameters
    ----------
    clock : {"calendar", "business"}
        ``"business"``: only the hours inside ``calendar``'s opening hours.
    calendar : mapping or path, optional
        The team's schedule (see :func:`sla_compliance`).
    pause : str or list of str, optional
        Statuses (``ticket_events``) during which the clock stops.

    Examples
    --------
    >>> data = examples.tickets()
    >>> first_response_hours(data)[["period", "value"]]
      period  value
    0 2024Q1    2.5
    1 2024Q2    NaN

    T2, opened on Saturday at 08:00 and answered at 12:00, was answered
    before the team opened on Monday: 0 business hours.

    >>> week = {day: "09:00-17:00" for day in ("mon", "tue", "wed", "thu", "fri")}
    >>> first_response_hours(data, clock="business", calendar={"timezone": "UTC", "hours": week}
    ...                      )[["period", "value"]]
      period  value
    0 2024Q1    0.0
    1 2024Q2    NaN
    """
    return _median_hours(s, "first_response_at", clock, calendar, pause)


@kpi(title="Resolution time (median hours)", label="Resolution (h)", table="tickets", unit="hours",
     kind="median", needs=("tickets.resolved_at",))
def resolution_hours(s: Scope, *, clock: Clock = "calendar", calendar: CalendarLike | None = None,
                     pause: Pause = None) -> Formula:
    """Median hours from ``opened_at`` to ``resolved_at``, tickets opened in P that are resolved.

    Parameters
    ----------
    clock : {"calendar", "business"}
        ``"business"``: only the hours inside ``calendar``'s opening hours.
    calendar : mapping or path, optional
        The team's schedule (see :func:`sla_compliance`).
    pause : str or list of str, optional
        Statuses (``ticket_events``) during which the clock stops.

    Examples
    --------
    >>> data = examples.tickets()
    >>> resolution_hours(data)[["period", "value"]]
      period  value
    0 2024Q1   49.5
    1 2024Q2   25.0
    """
    return _median_hours(s, "resolved_at", clock, calendar, pause)
