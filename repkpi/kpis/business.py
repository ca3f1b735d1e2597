"""Business hours: a team's calendar, and time measured inside its opening hours.

A :class:`Calendar` is a weekly schedule of opening hours in a time zone
(an IANA name; daylight-saving changes as that zone has them), minus
holidays (whole local days), optionally overridden by a dimension of the
ticket (``by.region.apac``: another zone, other hours, other holidays; an
override replaces only the keys it gives). :func:`read_calendar` reads one
from a mapping or from a TOML file's ``[calendar]`` table::

    [calendar]
    timezone = "Europe/Berlin"
    hours = { mon = "09:00-12:30,13:30-17:30", tue = "09:00-17:30", fri = "09:00-16:00" }
    holidays = ["2026-12-24", "2026-12-25"]
    [calendar.by.region.apac]
    timezone = "Asia/Singapore"

Business time is counted to the microsecond, with no loop over tickets:
:func:`opening` lays out, for a span of time, the schedule's opening
intervals in UTC and the business time before each one (a cumulative sum);
the business time elapsed up to any instant is then one
:func:`numpy.searchsorted` away (:meth:`Opening.elapsed`), and so is its
inverse, the first instant at which some business time has elapsed
(:meth:`Opening.instant`), which gives deadlines.

Local opening hours become UTC intervals exactly, whatever the zone does:
the zone's UTC offset is constant between its transitions, so each local
interval maps, piece by piece, onto the UTC instants whose local time falls
inside it (a shorter day when clocks go forward, a longer one when they go
back).

Examples
--------
Friday 17:00 in Berlin is closing time: 24 business hours of 09:00-17:00
on weekdays run Monday, Tuesday and Wednesday, to Wednesday 17:00.

>>> from repkpi.periods import micros
>>> cal = read_calendar({"timezone": "Europe/Berlin",
...                      "hours": {d: "09:00-17:00" for d in ("mon", "tue", "wed", "thu", "fri")}})
>>> friday = micros(pd.Series([pd.Timestamp("2026-03-06 17:00", tz="Europe/Berlin")]))
>>> sched = opening(cal.base, friday[0], friday[0])
>>> start = sched.elapsed(friday)
>>> due = sched.instant(start + 24 * HOUR)
>>> str(pd.Timestamp(due[0], unit="us", tz="UTC").tz_convert("Europe/Berlin"))
'2026-03-11 17:00:00+01:00'
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from repkpi.errors import OptionError
from repkpi.periods import NAT

__all__ = ["FAR", "HOUR", "WEEKDAYS", "Calendar", "CalendarLike", "Opening", "Schedule",
           "clock_label", "describe", "opening", "read_calendar"]

HOUR = 3_600_000_000
"""An hour in microseconds."""
FAR = 2 ** 62
"""An instant (or an amount of time) that never comes, in microseconds: past any real date."""
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""The keys of a calendar's ``hours``, Monday first."""

_DAY = 86_400_000_000
_SECOND = 1_000_000
_KEYS = ("timezone", "hours", "holidays")
_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_HINT = ('Hint: a calendar is {timezone = "Europe/Berlin", hours = {mon = "09:00-17:30", '
         'fri = "09:00-12:30,13:30-16:00"}, holidays = ["2026-12-24"]} (a day left out of '
         "hours is closed), optionally with by.<column>.<value> overrides; see kpis.md, "
         '"Business hours and pauses".')


@dataclass(frozen=True)
class Schedule:
    """One weekly schedule: a time zone, opening hours per weekday and holidays.

    Attributes
    ----------
    timezone : str
        An IANA time zone name.
    hours : tuple
        Seven tuples (Monday first) of ``(start, end)`` ranges in seconds
        after local midnight, sorted and disjoint; an empty tuple: closed.
    holidays : tuple of datetime.date
        Whole local days closed.
    """

    timezone: str
    hours: tuple[tuple[tuple[int, int], ...], ...]
    holidays: tuple[dt.date, ...] = ()

    @property
    def weekly_seconds(self) -> int:
        """Opening seconds of a week without holidays."""
        return sum(end - start for day in self.hours for start, end in day)


@dataclass(frozen=True)
class Calendar:
    """A team's calendar: a base :class:`Schedule`, and overrides by ticket dimensions.

    Attributes
    ----------
    base : Schedule
    overrides : tuple
        ``(column, ((value, keys), ...))`` per dimension, in the order
        written: ``keys`` is the override's own settings (a dict of parsed
        ``timezone``, ``hours`` and ``holidays``), which replace the base's.
        A ticket that matches several dimensions takes them in this order.
    """

    base: Schedule
    overrides: tuple[tuple[str, tuple[tuple[str, dict[str, Any]], ...]], ...] = ()

    @property
    def columns(self) -> list[str]:
        """The ticket dimensions the calendar differs by."""
        return [column for column, _ in self.overrides]

    def schedule(self, values: tuple[str | None, ...]) -> Schedule:
        """The schedule of a ticket whose override dimensions have ``values`` (None: no override)."""
        keys = {"timezone": self.base.timezone, "hours": self.base.hours,
                "holidays": self.base.holidays}
        for (_, table), value in zip(self.overrides, values, strict=True):
            if value is not None:
                keys.update(dict(table)[value])
        return Schedule(**keys)


CalendarLike = Calendar | Mapping[str, Any] | str | os.PathLike[str]
"""What ``calendar=`` takes: a :class:`Calendar`, a mapping, or a TOML file's path."""


def read_calendar(calendar: CalendarLike) -> Calendar:
    """A :class:`Calendar` from a mapping or from a TOML file with a ``[calendar]`` table.

    Parameters
    ----------
    calendar : Calendar, mapping, str or path-like
        ``timezone`` (IANA name), ``hours`` (weekday -> ``"09:00-12:30,13:30-17:30"``;
        ``mon`` .. ``sun``; a day left out is closed), ``holidays`` (ISO dates,
        whole local days closed) and ``by`` (``{column: {value: {keys}}}``,
        overrides that replace only the keys they give). A mapping may also
        be a whole goals document with a ``calendar`` table. A path names a
        TOML file with a ``[calendar]`` table (or the calendar's keys at its
        top).

    Returns
    -------
    Calendar

    Raises
    ------
    OptionError
        A file that cannot be read, an unknown key, a missing ``timezone`` or
        ``hours``, an unknown time zone, a malformed or overlapping range,
        a bad holiday date. The message names the key and what was found.

    Examples
    --------
    >>> cal = read_calendar({"timezone": "Europe/Berlin",
    ...                      "hours": {"mon": "09:00-12:30,13:30-17:30", "fri": "09:00-16:00"},
    ...                      "holidays": ["2026-12-24"],
    ...                      "by": {"region": {"apac": {"timezone": "Asia/Singapore"}}}})
    >>> cal.base.hours[0]
    ((32400, 45000), (48600, 63000))
    >>> cal.schedule(("apac",)).timezone, cal.schedule(("apac",)).holidays
    ('Asia/Singapore', (datetime.date(2026, 12, 24),))
    >>> read_calendar({"timezone": "Mars/Olympus", "hours": {}})
    Traceback (most recent call last):
    ...
    repkpi.errors.OptionError: calendar: unknown time zone 'Mars/Olympus'...
    """
    if isinstance(calendar, Calendar):
        return calendar
    where = "calendar"
    if isinstance(calendar, str | os.PathLike):
        where = f"{calendar} [calendar]"
        calendar = _read_file(Path(calendar))
    if not isinstance(calendar, Mapping):
        raise OptionError(f"calendar must be a mapping or the path of a TOML file with a "
                          f"[calendar] table, got {type(calendar).__name__}.\n{_HINT}")
    if set(calendar) == {"calendar"} or ("calendar" in calendar and "hours" not in calendar):
        calendar = calendar["calendar"]
        if not isinstance(calendar, Mapping):
            raise OptionError(f"{where} must be a table, got {calendar!r}.\n{_HINT}")
    unknown = sorted(set(calendar) - {*_KEYS, "by"})
    if unknown:
        raise OptionError(f"{where}: unknown key(s) {unknown}; the keys are "
                          f"{[*_KEYS, 'by']}.\n{_HINT}")
    missing = [k for k in ("timezone", "hours") if k not in calendar]
    if missing:
        raise OptionError(f"{where}: missing {' and '.join(missing)}.\n{_HINT}")
    base = Schedule(**_keys(calendar, where))
    by = calendar.get("by", {})
    if not isinstance(by, Mapping):
        raise OptionError(f"{where}: by must be a table of column -> value -> settings, "
                          f"got {by!r}.\n{_HINT}")
    overrides = []
    for column, table in by.items():
        if not isinstance(table, Mapping):
            raise OptionError(f"{where}: by.{column} must be a table of value -> settings, "
                              f"got {table!r}.\n{_HINT}")
        found = []
        for value, keys in table.items():
            own = f"{where}: by.{column}.{value}"
            if not isinstance(keys, Mapping):
                raise OptionError(f"{own} must be a table of settings, got {keys!r}.\n{_HINT}")
            extra = sorted(set(keys) - set(_KEYS))
            if extra:
                raise OptionError(f"{own}: unknown key(s) {extra}; an override may set "
                                  f"{list(_KEYS)}.\n{_HINT}")
            found.append((str(value), _keys(keys, own)))
        overrides.append((str(column), tuple(found)))
    return Calendar(base, tuple(overrides))


def clock_label(clock: str = "calendar", calendar: CalendarLike | None = None) -> str:
    """How a service figure's hours are counted, in the words shown beside it.

    Examples
    --------
    >>> clock_label(), clock_label("business", {"timezone": "Europe/London", "hours": {}})
    ('calendar hours', 'business hours, Europe/London')
    """
    if clock != "business":
        return "calendar hours"
    if calendar is None:
        return "business hours"
    return f"business hours, {read_calendar(calendar).base.timezone}"


def describe(calendar: CalendarLike) -> str:
    """A calendar in one line, for a reader: time zone, opening hours, holidays, overrides.

    Examples
    --------
    >>> describe({"timezone": "Europe/Berlin",  # doctest: +NORMALIZE_WHITESPACE
    ...           "hours": {"mon": "09:00-12:30,13:30-17:30", "tue": "09:00-17:30",
    ...                     "wed": "09:00-17:30", "fri": "09:00-16:00"},
    ...           "holidays": ["2026-12-24", "2026-12-25"],
    ...           "by": {"region": {"apac": {"timezone": "Asia/Singapore"}}}}).split("; ")
    ['Europe/Berlin, Mon 09:00-12:30 and 13:30-17:30, Tue-Wed 09:00-17:30, Fri 09:00-16:00, 2 holidays',
     'region apac: Asia/Singapore']
    """
    cal = read_calendar(calendar)

    def clock(seconds: int) -> str:
        return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"

    def week(hours: tuple[tuple[tuple[int, int], ...], ...]) -> str:
        runs: list[list[Any]] = []  # [first day, last day, ranges]: consecutive days alike
        for day, ranges in enumerate(hours):
            if runs and runs[-1][2] == ranges and runs[-1][1] == day - 1:
                runs[-1][1] = day
            else:
                runs.append([day, day, ranges])
        parts = [f"{WEEKDAYS[a].title()}{'' if a == b else '-' + WEEKDAYS[b].title()} "
                 + " and ".join(f"{clock(s)}-{clock(e)}" for s, e in ranges)
                 for a, b, ranges in runs if ranges]
        return ", ".join(parts) or "never open"

    base = cal.base
    text = f"{base.timezone}, {week(base.hours)}, {len(base.holidays)} holiday" + (
        "" if len(base.holidays) == 1 else "s")
    for column, table in cal.overrides:
        for value, keys in table:
            own = [keys["timezone"]] if "timezone" in keys else []
            own += [week(keys["hours"])] if "hours" in keys else []
            own += [f"{len(keys['holidays'])} holidays"] if "holidays" in keys else []
            text += f"; {column} {value}: {', '.join(own)}"
    return text


def _read_file(path: Path) -> Mapping[str, Any]:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise OptionError(f"{path}: cannot read the calendar file: {exc}.\n{_HINT}") from exc
    if "calendar" not in document and "hours" not in document:
        raise OptionError(f"{path}: no [calendar] table.\n{_HINT}")
    return document


def _keys(table: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The parsed ``timezone``, ``hours`` and ``holidays`` that ``table`` gives."""
    out: dict[str, Any] = {}
    if "timezone" in table:
        out["timezone"] = _zone(table["timezone"], where)
    if "hours" in table:
        out["hours"] = _hours(table["hours"], where)
    if "holidays" in table:
        out["holidays"] = _holidays(table["holidays"], where)
    return out


def _zone(name: object, where: str) -> str:
    if not isinstance(name, str) or not name:
        raise OptionError(f"{where}: timezone must be an IANA name such as 'Europe/Berlin', "
                          f"got {name!r}.\n{_HINT}")
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise OptionError(f"{where}: unknown time zone {name!r}.\nHint: use an IANA name "
                          "such as 'Europe/Berlin', 'America/New_York' or 'UTC'.") from exc
    return name


def _hours(hours: object, where: str) -> tuple[tuple[tuple[int, int], ...], ...]:
    if not isinstance(hours, Mapping):
        raise OptionError(f"{where}: hours must be a table of weekday -> ranges, "
                          f"got {hours!r}.\n{_HINT}")
    unknown = sorted(str(day) for day in hours if str(day).lower() not in WEEKDAYS)
    if unknown:
        raise OptionError(f"{where}: hours has unknown day(s) {unknown}; the days are "
                          f"{list(WEEKDAYS)}.\n{_HINT}")
    days = {str(day).lower(): text for day, text in hours.items()}
    return tuple(_ranges(days[day], f"{where}: hours.{day}") if day in days else ()
                 for day in WEEKDAYS)


def _ranges(text: object, where: str) -> tuple[tuple[int, int], ...]:
    """``"09:00-12:30,13:30-17:30"`` as sorted ``(start, end)`` seconds after midnight."""
    parts = text if isinstance(text, list | tuple) else (
        text.split(",") if isinstance(text, str) else None)
    if parts is None:
        raise OptionError(f"{where} must be text such as '09:00-12:30,13:30-17:30', "
                          f"got {text!r}.\n{_HINT}")
    ranges = []
    for part in parts:
        if isinstance(part, str) and not part.strip():
            continue
        match = _RANGE.match(part) if isinstance(part, str) else None
        if match is None:
            raise OptionError(f"{where}: {part!r} is not a range HH:MM-HH:MM.\n{_HINT}")
        h0, m0, h1, m1 = map(int, match.groups())
        start, end = h0 * 3600 + m0 * 60, h1 * 3600 + m1 * 60
        if m0 > 59 or m1 > 59 or start >= 86_400 or end > 86_400 or end <= start:
            raise OptionError(f"{where}: {part!r} is not a range of one day: times run from "
                              "00:00 to 24:00 and a range ends after it starts.\n"
                              "Hint: split a night shift over two days "
                              "(mon = '22:00-24:00', tue = '00:00-06:00').")
        ranges.append((start, end))
    ranges.sort()
    for (_, end), (start, _) in zip(ranges, ranges[1:], strict=False):
        if start < end:
            raise OptionError(f"{where}: ranges {text!r} overlap.\nHint: write each opening "
                              "once, e.g. '09:00-12:30,13:30-17:30'.")
    return tuple(ranges)


def _holidays(days: object, where: str) -> tuple[dt.date, ...]:
    if not isinstance(days, list | tuple):
        raise OptionError(f"{where}: holidays must be a list of dates such as "
                          f"['2026-12-24'], got {days!r}.\n{_HINT}")
    out = []
    for given in days:
        day = given.date() if isinstance(given, dt.datetime) else given
        if isinstance(day, str):
            try:
                day = dt.date.fromisoformat(day.strip())
            except ValueError:
                day = None
        if not isinstance(day, dt.date):
            raise OptionError(f"{where}: holiday {given!r} is not a date YYYY-MM-DD.\n{_HINT}")
        out.append(day)
    return tuple(sorted(set(out)))


# -- business time ------------------------------------------------------------------------------
@dataclass
class Opening:
    """A schedule's opening intervals over a span, in UTC microseconds.

    Attributes
    ----------
    schedule : Schedule
    starts, ends : ndarray of int64
        The intervals ``[start, end)``, sorted and disjoint.
    before : ndarray of int64
        Business time before each interval (from the span's start).
    lo, hi : int
        The span covered: instants in ``[lo, hi]`` are measured exactly.
    """

    schedule: Schedule
    starts: np.ndarray
    ends: np.ndarray
    before: np.ndarray
    lo: int
    hi: int

    @property
    def total(self) -> int:
        """Business time of the whole span."""
        return int(self.before[-1] + self.ends[-1] - self.starts[-1]) if len(self.starts) else 0

    def elapsed(self, t: np.ndarray) -> np.ndarray:
        """Business time from the span's start to each instant ``t`` (``NAT`` stays ``NAT``).

        Instants after ``hi`` extend the span; none may come before ``lo``.
        """
        t = np.asarray(t, dtype=np.int64)
        known = t[t != NAT]
        if len(known) and known.min() < self.lo:
            raise ValueError("Opening.elapsed: an instant before the span's start; "
                             "build the opening from the earliest instant.")
        if len(known) and known.max() > self.hi:
            wider = _build(self.schedule, self.lo, int(known.max()))
            self.starts, self.ends, self.before, self.hi = (wider.starts, wider.ends,
                                                            wider.before, wider.hi)
        if not len(self.starts):
            return np.where(t == NAT, NAT, 0).astype(np.int64)
        i = np.searchsorted(self.starts, t, side="right") - 1
        j = np.maximum(i, 0)
        inside = np.minimum(t - self.starts[j], self.ends[j] - self.starts[j])
        return np.where(t == NAT, NAT, np.where(i >= 0, self.before[j] + inside, 0)).astype(np.int64)

    def instant(self, x: np.ndarray) -> np.ndarray:
        """The first instant at which business time ``x`` has elapsed since the span's start.

        The span is extended as far as needed (400 years at most); ``FAR``
        where the schedule never gets there (no opening hours at all), and
        where ``x`` is ``FAR`` or more (a clock that stopped for good).
        """
        x = np.asarray(x, dtype=np.int64)
        wanted = x[x < FAR // 2]
        while len(wanted) and wanted.max() > self.total and self.schedule.weekly_seconds \
                and self.hi - self.lo < 400 * 366 * _DAY:
            hi = self.hi + max(2 * (self.hi - self.lo), 8 * 7 * _DAY)
            longer = _build(self.schedule, self.lo, hi)
            self.starts, self.ends, self.before, self.hi = (longer.starts, longer.ends,
                                                            longer.before, hi)
        if not len(self.starts):
            return np.full(x.shape, FAR, dtype=np.int64)
        upto = self.before + (self.ends - self.starts)
        i = np.searchsorted(upto, x, side="left")
        j = np.minimum(i, len(upto) - 1)
        out = np.maximum(self.starts[j] + (x - self.before[j]), self.starts[j])
        return np.where((i < len(upto)) & (x < FAR // 2), out, FAR).astype(np.int64)


def opening(schedule: Schedule, lo: int, hi: int) -> Opening:
    """The opening intervals of ``schedule`` covering the instants ``lo`` .. ``hi`` (UTC µs).

    Examples
    --------
    Monday 9 March 2026, 09:00-17:00 in Singapore (UTC+8) is 01:00-09:00 UTC:

    >>> from repkpi.periods import micros
    >>> cal = read_calendar({"timezone": "Asia/Singapore", "hours": {"mon": "09:00-17:00"}})
    >>> day = micros(pd.Series(pd.to_datetime(["2026-03-09 00:00", "2026-03-09 23:59"], utc=True)))
    >>> sched = opening(cal.base, day[0], day[1])
    >>> [str(pd.Timestamp(t, unit="us")) for t in sched.starts[:1]]
    ['2026-03-09 01:00:00']
    >>> sched.elapsed(day) / HOUR
    array([0., 8.])
    """
    return _build(schedule, int(lo), int(hi))


def _build(schedule: Schedule, lo: int, hi: int) -> Opening:
    zone = zoneinfo.ZoneInfo(schedule.timezone)
    # Local days around the span: a local day may begin up to a day before its UTC date.
    first, last = lo // _DAY - 2, hi // _DAY + 2
    days = np.arange(first, last + 1, dtype=np.int64)
    holidays = np.array([(d - dt.date(1970, 1, 1)).days for d in schedule.holidays],
                        dtype=np.int64)
    days = days[~np.isin(days, holidays)]
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    counts = np.array([len(r) for r in schedule.hours], dtype=np.int64)
    flat = np.array([r for day in schedule.hours for r in day], dtype=np.int64).reshape(-1, 2)
    offset = np.concatenate([[0], np.cumsum(counts)[:-1]])
    n = counts[weekday]
    day = np.repeat(days, n)
    which = np.repeat(offset[weekday], n) + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
    local_start = day * _DAY + flat[which, 0] * _SECOND if len(flat) else day
    local_end = day * _DAY + flat[which, 1] * _SECOND if len(flat) else day
    starts, ends = _to_utc(zone, local_start, local_end, first * _DAY - _DAY, (last + 2) * _DAY)
    keep = (ends > lo - 2 * _DAY)  # every interval that may hold an instant of the span
    starts, ends = starts[keep], ends[keep]
    lengths = ends - starts
    before = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    return Opening(schedule, starts, ends, before, lo, hi)


def _to_utc(zone: zoneinfo.ZoneInfo, start: np.ndarray, end: np.ndarray, lo: int,
            hi: int) -> tuple[np.ndarray, np.ndarray]:
    """The UTC instants whose local time (in ``zone``) lies in each ``[start, end)``.

    Between two transitions the zone's offset is constant, so a local
    interval maps onto UTC segment by segment: ``[start - offset, end -
    offset)`` clipped to each segment it meets (two pieces where a local hour
    happens twice).
    """
    transitions, offsets = _transitions(zone, lo, hi)
    seg_start = np.concatenate([[-FAR], transitions])
    seg_end = np.concatenate([transitions, [FAR]])
    k = np.searchsorted(transitions, start - offsets.max(), side="right")
    k_last = np.searchsorted(transitions, end - offsets.min(), side="right")
    lows, highs = [], []
    step = 0
    while (k + step <= k_last).any():
        seg = np.minimum(k + step, len(offsets) - 1)
        u0 = np.maximum(start - offsets[seg], seg_start[seg])
        u1 = np.minimum(end - offsets[seg], seg_end[seg])
        ok = (k + step <= k_last) & (u1 > u0)
        lows.append(u0[ok])
        highs.append(u1[ok])
        step += 1
    if not lows:
        return np.array([], dtype=np.int64), np.array([], dtype=np.int64)
    lo_all, hi_all = np.concatenate(lows), np.concatenate(highs)
    order = np.argsort(lo_all, kind="stable")
    return lo_all[order].astype(np.int64), hi_all[order].astype(np.int64)


def _transitions(zone: zoneinfo.ZoneInfo, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """The zone's transitions in ``[lo, hi]`` (UTC µs, to the second) and the offset of each segment.

    ``offsets[k]`` holds from ``transitions[k - 1]`` to ``transitions[k]``.
    """
    hours = pd.date_range(pd.Timestamp(lo, unit="us", tz="UTC").floor("h"),
                          pd.Timestamp(hi, unit="us", tz="UTC").ceil("h"), freq="h", unit="us")
    offset = _offsets(zone, hours)
    change = np.flatnonzero(offset[1:] != offset[:-1])
    if not len(change):
        return np.array([], dtype=np.int64), offset[:1]
    # The instant of each change, to the second: the first second of its hour with the new offset.
    base = hours.asi8[change]
    seconds = (base[:, None] + np.arange(1, 3601, dtype=np.int64)[None, :] * _SECOND)
    after = _offsets(zone, pd.DatetimeIndex(seconds.reshape(-1).astype("datetime64[us]"),
                                            tz="UTC")).reshape(seconds.shape)
    first_new = np.argmax(after == offset[change + 1][:, None], axis=1)
    transitions = seconds[np.arange(len(change)), first_new]
    return transitions, np.concatenate([offset[:1], offset[change + 1]])


def _offsets(zone: zoneinfo.ZoneInfo, instants: pd.DatetimeIndex) -> np.ndarray:
    """The zone's UTC offset at each instant, in microseconds."""
    local = instants.tz_convert(zone).tz_localize(None).as_unit("us")
    return local.asi8 - instants.as_unit("us").asi8

