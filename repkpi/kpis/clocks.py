"""Ticket clocks: how long a ticket has been on the clock, and when its deadline falls.

A service KPI measures time from a ticket's ``opened_at`` on one of two
clocks (kpis.md, "Business hours and pauses"):

* ``clock="calendar"``: every hour counts;
* ``clock="business"``: only the hours inside the team's schedule
  (:mod:`repkpi.kpis.business`), which may differ by a dimension of the
  ticket (one schedule per region).

``pause=[statuses]`` stops either clock while the ticket is in one of those
statuses, read from the ``ticket_events`` table: a status holds from its
``changed_at`` to the ticket's next event (for ever after the last one).

Every ticket is measured in a *clock coordinate*: the instant itself on the
calendar clock, the business time since the schedule's start on the
business clock. A ticket's pauses are intervals of that coordinate; time on
the clock is the coordinate's advance less the pauses inside it, and a
deadline is found by adding to the target the pauses that begin before the
clock reaches it. All of it is array arithmetic: no loop over tickets.

Examples
--------
>>> import repkpi
>>> data = repkpi.CrmData(
...     tickets=pd.DataFrame({"ticket_id": ["T1"], "opened_at": ["2026-03-06T16:00:00Z"],
...                           "priority": ["high"]}),
...     ticket_events=pd.DataFrame({"ticket_id": ["T1", "T1"], "status": ["pending", "open"],
...                                 "changed_at": ["2026-03-06T17:00:00Z",
...                                                "2026-03-06T19:00:00Z"]}))
>>> clock = TicketClock(data, data.tickets, "sla_compliance", pause=["pending"])
>>> clock.hours(micros(pd.Series(pd.to_datetime(["2026-03-06T20:00:00Z"], utc=True))))
array([2.])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from repkpi._vector import isin
from repkpi.errors import ColumnNotFoundError, MissingTableError, OptionError
from repkpi.io.loading import CrmData
from repkpi.kpis.business import (
    FAR,
    HOUR,
    Calendar,
    CalendarLike,
    Opening,
    Schedule,
    opening,
    read_calendar,
)
from repkpi.kpis.groups import compact, dimension, lookups, positions
from repkpi.periods import NAT, micros
from repkpi.schemas import STATUSES

__all__ = ["CLOCKS", "Clock", "TicketClock", "check_clock"]

Clock = Literal["calendar", "business"]
CLOCKS = ("calendar", "business")


def check_clock(name: str, clock: object, calendar: object, pause: object) -> list[str]:
    """Check a service KPI's ``clock``, ``calendar`` and ``pause``; the statuses that pause it.

    Raises
    ------
    OptionError
        An unknown clock, ``clock="business"`` without a calendar, a calendar
        with the calendar clock, or a status ``ticket_events`` does not know.

    Examples
    --------
    >>> check_clock("sla_compliance", "business", None, None)
    Traceback (most recent call last):
    ...
    repkpi.errors.OptionError: sla_compliance(clock='business') needs a calendar...
    >>> check_clock("sla_compliance", "calendar", None, "pending")
    ['pending']
    """
    if clock not in CLOCKS:
        raise OptionError(f"{name}'s clock must be 'calendar' or 'business', got {clock!r}.\n"
                          "Hint: 'business' counts only the hours inside the calendar= "
                          "schedule.")
    if clock == "business" and calendar is None:
        raise OptionError(
            f"{name}(clock='business') needs a calendar: the team's opening hours.\n"
            "Hint: pass calendar={'timezone': 'Europe/Berlin', 'hours': {'mon': "
            "'09:00-17:30', ...}, 'holidays': [...]} or the path of a TOML file with a "
            "[calendar] table; in a goals file, add a [calendar] table.")
    if clock == "calendar" and calendar is not None:
        raise OptionError(f"{name} got calendar= with clock='calendar', which does not read "
                          "it.\nHint: pass clock='business' to count only opening hours.")
    if pause is None:
        return []
    statuses = [pause] if isinstance(pause, str) else pause
    if not isinstance(statuses, Sequence) or not all(isinstance(s, str) for s in statuses):
        raise OptionError(f"{name}'s pause must be a status or a list of statuses, "
                          f"got {pause!r}.\nHint: e.g. pause=['pending', 'on_hold'].")
    unknown = sorted(set(statuses) - set(STATUSES))
    if unknown:
        raise OptionError(f"{name}'s pause names unknown status(es) {unknown}.\n"
                          f"Hint: ticket_events' statuses are {STATUSES}.")
    return list(dict.fromkeys(statuses))


class TicketClock:
    """The clock of each ticket of ``tickets``: hours on it at any instant, and deadlines.

    Parameters
    ----------
    data : CrmData
        The data the tickets come from (``ticket_events`` for pauses;
        accounts and reps for the dimensions a calendar differs by).
    tickets : DataFrame
        The tickets table (or a part of it).
    name : str
        The KPI's name, for error messages.
    clock : {"calendar", "business"}
    calendar : Calendar, mapping or path, optional
        Required for ``clock="business"`` (see :func:`repkpi.kpis.business.read_calendar`).
    pause : str or list of str, optional
        Statuses during which the clock stops.
    as_of : int, optional
        Microseconds: events after it are not known yet (a pause going on at
        ``as_of`` has no end).
    """

    def __init__(self, data: CrmData, tickets: pd.DataFrame, name: str, *,
                 clock: Clock = "calendar", calendar: CalendarLike | None = None,
                 pause: str | Sequence[str] | None = None, as_of: int | None = None) -> None:
        statuses = check_clock(name, clock, calendar, pause)
        self.opened = micros(tickets["opened_at"])
        self.business = clock == "business"
        self.codes = np.zeros(len(tickets), dtype=np.int64)
        self.openings: list[Opening] = []
        self.members: list[np.ndarray] = []
        events = None
        if statuses:
            events = getattr(data, "ticket_events", None)
            if events is None:
                raise MissingTableError(
                    f"{name}(pause={pause!r}) needs the ticket_events table, which was not "
                    "loaded: without it nothing says when a ticket was paused.\nHint: put "
                    "ticket_events.csv (ticket_id, changed_at, status) in the data folder, "
                    "or leave pause out.")
        times = [micros(tickets[c]) for c in ("opened_at", "first_response_at", "resolved_at")
                 if c in tickets.columns]
        if events is not None:
            times.append(micros(events["changed_at"]))
        if as_of is not None:
            times.append(np.array([as_of], dtype=np.int64))
        known = np.concatenate(times) if times else np.array([], dtype=np.int64)
        known = known[known != NAT]
        if self.business:  # checked on no tickets too (Dask checks a call on empty frames)
            cal = read_calendar(calendar)  # type: ignore[arg-type]
            self.codes, schedules = self._schedules(data, tickets, name, cal)
            if len(self.opened):
                lo, hi = int(known.min()), int(known.max())
                self.openings = [opening(schedule, lo, hi) for schedule in schedules]
                self.members = [np.flatnonzero(self.codes == code)
                                for code in range(len(schedules))]
        self.start = self._coordinate(self.opened)
        self.pauses = None if events is None else self._pauses(data, events, tickets, statuses,
                                                                  as_of)

    @staticmethod
    def _schedules(data: CrmData, tickets: pd.DataFrame, name: str,
                   cal: Calendar) -> tuple[np.ndarray, list[Schedule]]:
        """Each ticket's schedule (a code) and the schedules, one per combination of overrides."""
        combined = np.zeros(len(tickets), dtype=np.int64)
        choices = []
        for column, table in cal.overrides:
            try:
                codes, labels = dimension(data, "tickets", tickets, column, name)
            except ColumnNotFoundError as exc:
                raise ColumnNotFoundError(f"The calendar differs by {column!r} (by.{column}), "
                                          f"which {name} cannot find. {exc}") from exc
            names = [value for value, _ in table]
            # Which override each label takes (0: none), looked up once per label, not per row.
            found = pd.Index(names).get_indexer(labels.astype(object).map(str))
            found = np.where(labels.isna().to_numpy(), -1, found)
            combined = combined * (len(names) + 1) + (found[codes] + 1)
            choices.append(names)
        seen, codes = compact(combined)
        schedules = []
        for key in seen:
            values: list[str | None] = []
            for names in reversed(choices):
                key, pick = divmod(int(key), len(names) + 1)
                values.insert(0, names[pick - 1] if pick else None)
            schedules.append(cal.schedule(tuple(values)))
        return codes.astype(np.int64), schedules

    def _coordinate(self, t: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """The clock coordinate of instants ``t`` of the tickets at ``rows`` (default: each ticket)."""
        if not self.business:
            return np.asarray(t, dtype=np.int64)
        if len(self.openings) == 1:
            return self.openings[0].elapsed(t)
        codes = None if rows is None else self.codes[rows]
        out = np.full(len(t), NAT, dtype=np.int64)
        for code, sched in enumerate(self.openings):
            mine = self.members[code] if codes is None else np.flatnonzero(codes == code)
            out[mine] = sched.elapsed(t[mine])
        return out

    def _instant(self, x: np.ndarray) -> np.ndarray:
        """The first instant at which each ticket's clock coordinate reaches ``x``."""
        if not self.business:
            return np.where(x >= FAR // 2, FAR, x)
        if len(self.openings) == 1:
            return self.openings[0].instant(x)
        out = np.full(len(x), FAR, dtype=np.int64)
        for code, sched in enumerate(self.openings):
            out[self.members[code]] = sched.instant(x[self.members[code]])
        return out

    def _pauses(self, data: CrmData, events: pd.DataFrame, tickets: pd.DataFrame,
                statuses: list[str], as_of: int | None) -> pd.DataFrame:
        """The pauses of each ticket in clock coordinates: ``row``, ``begin``, ``end``, ``before``.

        Sorted by ticket and time; ``before`` is the length of the ticket's
        earlier pauses. A pause still going on (no later event) ends at ``FAR``.
        """
        row = positions(events["ticket_id"], tickets["ticket_id"], memo=lookups(data))
        changed = micros(events["changed_at"])
        keep = (row >= 0) & (changed != NAT)
        if as_of is not None:
            keep &= changed <= as_of
        row, changed = row[keep], changed[keep]
        paused = isin(events["status"], pd.Series(statuses))[keep]
        order = np.lexsort((changed, row))
        row, changed, paused = row[order], changed[order], paused[order]
        same = np.append(row[1:] == row[:-1], False)
        until = np.where(same, np.append(changed[1:], FAR), FAR)
        row, begin, end = row[paused], changed[paused], until[paused]
        opened = self.opened[row]
        begin = self._coordinate(np.maximum(begin, opened), row)
        open_ended = end == FAR
        end = np.where(open_ended, FAR, self._coordinate(np.maximum(
            np.where(open_ended, opened, end), opened), row))
        length = end - begin
        before = pd.Series(length).groupby(row).cumsum().to_numpy() - length
        return pd.DataFrame({"row": row, "begin": begin, "end": end, "before": before})

    def hours(self, until: np.ndarray) -> np.ndarray:
        """Hours on each ticket's clock from its ``opened_at`` to ``until`` (NaN where ``NAT``)."""
        until = np.asarray(until, dtype=np.int64)
        missing = until == NAT
        x = self._coordinate(np.where(missing, self.opened, until))
        on = (x - self.start).astype(np.float64)
        if self.pauses is not None and len(self.pauses):
            p = self.pauses
            reach = x[p["row"].to_numpy()]
            inside = np.clip(np.minimum(p["end"].to_numpy(), reach) - p["begin"].to_numpy(),
                             0, None)
            on -= np.bincount(p["row"].to_numpy(), inside.astype(np.float64), minlength=len(x))
        return np.where(missing, np.nan, on / HOUR)

    def deadline(self, target: np.ndarray) -> np.ndarray:
        """The first instant at which ``target`` hours are on each ticket's clock.

        ``NAT`` where the target is NaN (no agreed time), ``FAR`` where the
        clock never gets there (paused with no end in sight).
        """
        target = np.asarray(target, dtype=np.float64)
        agreed = ~np.isnan(target)
        need = self.start + np.round(np.nan_to_num(target) * HOUR).astype(np.int64)
        if self.pauses is not None and len(self.pauses):
            p = self.pauses
            row = p["row"].to_numpy()
            # The clock reads begin - before when a pause starts; pauses that start before the
            # clock reaches the target push the deadline by their length (a prefix of each
            # ticket's pauses: the reading never goes back).
            first = (p["begin"] - p["before"]).to_numpy() < need[row]
            extra = np.zeros(len(need), dtype=np.int64)
            np.add.at(extra, row[first], p["end"].to_numpy()[first] - p["begin"].to_numpy()[first])
            need = np.where(extra >= FAR // 2, FAR, need + np.minimum(extra, FAR // 2))
        due = np.maximum(self._instant(need), self.opened)
        return np.where(agreed, np.where(need >= FAR // 2, FAR, due), NAT)
