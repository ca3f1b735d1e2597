"""The data's as-of date: the latest date of what has happened, or the one declared.

A declared as-of date is a cut-off (kpis.md, "The as-of date is a cut-off"):
:func:`cut` reads a table as it stood at the close of that day, and
:func:`coverage` gives each table's first and last recorded dates.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from repkpi.errors import OptionError
from repkpi.schemas import RECORDED, TABLES

__all__ = ["STALE_DAYS", "AsOfLike", "Cut", "as_of_date", "coverage", "coverage_notes",
           "coverage_words", "cut", "cut_words", "from_days", "latest_recorded", "recorded_span"]

AsOfLike = str | dt.date | pd.Timestamp
_NAT = np.iinfo(np.int64).min
_US_PER_DAY = 86_400_000_000


def _days(values: pd.Series) -> np.ndarray:
    """UTC day numbers of a date or timestamp column (NAT where missing)."""
    if len(values) == 0:
        return np.array([], dtype=np.int64)
    stamps = values.dt.tz_convert("UTC") if isinstance(values.dtype, pd.DatetimeTZDtype) else values
    ints = stamps.dt.as_unit("us").array.asi8
    return np.where(ints == _NAT, _NAT, np.floor_divide(ints, _US_PER_DAY))


def _recorded_days(table: str, frame: pd.DataFrame) -> list[np.ndarray]:
    """The UTC day numbers of each recorded column of ``table`` (won and lost deals' ``closed_on``)."""
    out = []
    for column in RECORDED.get(table, ()):
        if column not in frame.columns:
            continue
        days = _days(frame[column])
        if column == "closed_on" and "stage" in frame.columns:
            days = days[frame["stage"].isin(["won", "lost"]).to_numpy(dtype=bool)]
        out.append(days[days != _NAT])
    return out


def recorded_span(table: str, frame: pd.DataFrame) -> tuple[int | None, int | None]:
    """The first and last day (day numbers) among ``table``'s recorded columns; None when none.

    Examples
    --------
    >>> tickets = pd.DataFrame({"opened_at": pd.to_datetime(["2024-01-02 23:00", "2024-01-05 00:00"],
    ...                                                     utc=True),
    ...                         "resolved_at": pd.to_datetime(["2024-01-09", None], utc=True)})
    >>> [pd.Timestamp(d, unit="D").date().isoformat() for d in recorded_span("tickets", tickets)]
    ['2024-01-02', '2024-01-09']
    """
    days = [d for d in _recorded_days(table, frame) if len(d)]
    if not days:
        return None, None
    return min(int(d.min()) for d in days), max(int(d.max()) for d in days)


def latest_recorded(table: str, frame: pd.DataFrame) -> int | None:
    """The latest day (days since 1970-01-01, UTC) among ``table``'s recorded columns.

    Only won and lost deals' ``closed_on`` counts: an open deal's is an
    expected close date. None when the table records nothing.

    Examples
    --------
    >>> deals = pd.DataFrame({"created_on": pd.to_datetime(["2024-01-02", "2024-01-05"]),
    ...                       "closed_on": pd.to_datetime(["2024-02-01", "2024-09-30"]),
    ...                       "stage": ["won", "open"]})
    >>> pd.Timestamp(latest_recorded("deals", deals), unit="D")
    Timestamp('2024-02-01 00:00:00')
    """
    return recorded_span(table, frame)[1]


def as_of_date(value: AsOfLike | None) -> pd.Timestamp | None:
    """A declared as-of date as a day (midnight, no time zone); None stays None."""
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise OptionError(f"Cannot read the as-of date {value!r}.\n"
                          "Hint: give a date such as '2026-11-30'.") from exc
    if stamp is pd.NaT:
        raise OptionError("The as-of date is missing.\nHint: give a date such as '2026-11-30'.")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    stamp = stamp.normalize()
    today = pd.Timestamp.now(tz="UTC").tz_localize(None).normalize()
    if stamp > today:
        raise OptionError(f"The as-of date {stamp.date()} is after today, {today.date()} (UTC): "
                          "nothing after today has happened yet.\nHint: declare today's date "
                          "or an earlier one, or leave the as-of date out to read it from the "
                          "data.")
    return stamp


def from_days(days: int | None) -> pd.Timestamp | None:
    """The day of a day number (None stays None)."""
    return None if days is None else pd.Timestamp(days, unit="D")


_REMOVED: dict[str, tuple[str, str]] = {
    "deals": ("created_on", "deals created"),
    "tickets": ("opened_at", "tickets opened"),
    "surveys": ("responded_at", "survey responses given"),
    "activities": ("occurred_on", "activities held"),
    "reps": ("hired_on", "reps hired"),
    "ticket_events": ("changed_at", "ticket status changes made"),
}
"""The tables whose rows do not exist yet when this column's date is after the as-of date."""
_BLANKED: dict[str, tuple[str, ...]] = {
    "accounts": ("customer_since", "churned_on"),
    "tickets": ("first_response_at", "resolved_at"),
    "reps": ("left_on",),
}
"""The columns whose dates after the as-of date have not happened yet (read as empty)."""


@dataclass(frozen=True)
class Cut:
    """A table as it stood at the close of the as-of date, and what the cut changed.

    Attributes
    ----------
    frame : DataFrame
        The rows that existed at the as-of date (index kept), with the
        dates after it blanked and the deals closed after it still open.
    after : int
        Rows left out: dated after the as-of date.
    changed : int
        Cells changed: dates after the as-of date blanked, and the stage of
        a deal won or lost after it set back to ``"open"``.
    recorded : int
        Of those rows and cells, the ones with a recorded date after the as-of
        date (:data:`~repkpi.schemas.RECORDED`; not scheduled dates such as
        ``churned_on``): none means nothing was recorded after it.
    """

    frame: pd.DataFrame
    after: int
    changed: int
    recorded: int = 0



def cut_words(table: str, after: int, changed: int) -> list[str]:
    """What the cut did to ``table``, in words (the counts of :class:`Cut`, or of a load summary).

    Examples
    --------
    >>> cut_words("tickets", 312, 40)
    ['312 tickets opened after the as-of date', '40 later dates read as not happened yet']
    """
    out = []
    if after:
        out.append(f"{after:,} {_REMOVED[table][1]} after the as-of date")
    if changed:
        out.append(f"{changed:,} later date{'s' if changed != 1 else ''} read as not happened yet")
    return out


def cut(table: str, frame: pd.DataFrame, day: pd.Timestamp | None) -> Cut:
    """``table`` as it stood at the close of ``day`` (kpis.md, "The as-of date is a cut-off").

    Rows dated after ``day`` are left out (deals created, tickets opened,
    surveys, activities, reps hired, ticket events); the dates of events after
    it are blanked (``customer_since``, ``churned_on``, a ticket's first
    response and resolution, ``left_on``); a deal won or lost after it is
    still open (its ``closed_on`` stays, as an expected close date).
    Contracts and market rows are read as they are. ``day`` None: no cut.

    Examples
    --------
    >>> deals = pd.DataFrame({"created_on": pd.to_datetime(["2024-01-02", "2024-01-03",
    ...                                                     "2024-02-01"]),
    ...                       "closed_on": pd.to_datetime(["2024-01-20", "2024-01-31", None]),
    ...                       "stage": ["won", "lost", "open"]})
    >>> done = cut("deals", deals, pd.Timestamp("2024-01-30"))
    >>> done.frame["stage"].tolist(), done.after, done.changed
    (['won', 'open'], 1, 1)
    """
    if day is None:
        return Cut(frame, 0, 0)
    limit = int(np.datetime64(day.date(), "D").astype(np.int64))
    recorded = RECORDED.get(table, ())
    changed = after = later = 0
    if table in _REMOVED and _REMOVED[table][0] in frame.columns:
        keep = ~(_days(frame[_REMOVED[table][0]]) > limit)
        after = int((~keep).sum())
        later += after if _REMOVED[table][0] in recorded else 0
        if after:
            frame = frame[keep]
    blank = {c: _days(frame[c]) > limit for c in _BLANKED.get(table, ()) if c in frame.columns}
    if table == "deals" and {"closed_on", "stage"} <= set(frame.columns):
        blank["stage"] = (_days(frame["closed_on"]) > limit) & frame["stage"].isin(
            ["won", "lost"]).to_numpy(dtype=bool)
    if any(mask.any() for mask in blank.values()):
        frame = frame.copy()
        for column, mask in blank.items():
            changed += int(mask.sum())
            later += int(mask.sum()) if column in (*recorded, "stage") else 0
            frame[column] = frame[column].mask(mask, "open" if column == "stage" else None)
    return Cut(frame, after, changed, later)


STALE_DAYS = 7
"""A table whose last recorded date is more than this many days before the as-of date is stale."""
COVERAGE_COLUMNS = ["table", "first", "last", "rows", "stale"]


def coverage(spans: dict[str, tuple[int | None, int | None, int]],
             as_of: pd.Timestamp | None) -> pd.DataFrame:
    """Each table's first and last recorded dates, its rows, and whether it is stale.

    One row per table, in the data model's order.

    Parameters
    ----------
    spans : dict
        Table -> (first day, last day, rows), the days as day numbers (None
        for a table that records no date: contracts, reps, market).
    as_of : Timestamp or None
        The data's as-of date.

    Examples
    --------
    >>> day = pd.Timestamp("2025-11-30").value // 86_400_000_000_000
    >>> coverage({"tickets": (day - 90, day, 10), "reps": (None, None, 3)},
    ...          pd.Timestamp("2025-12-31"))
         table      first       last  rows  stale
    0  tickets 2025-09-01 2025-11-30    10   True
    1     reps        NaT        NaT     3  False
    """
    rows = [{"table": table, "first": from_days(spans[table][0]),
             "last": from_days(spans[table][1]), "rows": spans[table][2]}
            for table in sorted(spans, key=TABLES.index)]
    out = pd.DataFrame(rows, columns=COVERAGE_COLUMNS[:-1]).astype(
        {"first": "datetime64[us]", "last": "datetime64[us]", "rows": "int64"})
    limit = pd.NaT if as_of is None else as_of - pd.Timedelta(days=STALE_DAYS)
    out["stale"] = (out["last"] < limit).fillna(False).astype(bool) if as_of is not None else False
    return out


def coverage_notes(data: Any) -> list[str]:
    """The coverage of loaded data in words (see :func:`coverage_words`), on every engine.

    ``data`` has ``coverage``, ``as_of``, ``declared_as_of``,
    ``scheduled_churn`` and the load ``notes`` (what the cut changed: "no
    event recorded after ..." is said only when it found no recorded date
    after the as-of date).
    """
    nothing_later = not any(n.get("recorded_after", 0) for n in data.notes.values())
    return coverage_words(data.coverage, data.as_of, scheduled_churn=data.scheduled_churn,
                          declared=data.declared_as_of is not None and nothing_later)


def coverage_words(table: pd.DataFrame, as_of: pd.Timestamp | None, *, scheduled_churn: int,
                   declared: bool) -> list[str]:
    """Coverage in words: stale tables, churn dates after ``as_of``, nothing recorded since.

    ``table`` is :func:`coverage`'s frame; ``scheduled_churn`` the accounts
    whose ``churned_on`` lies after ``as_of``; ``declared``: whether ``as_of``
    was declared and the cut found nothing after it (it may then lie beyond
    every recorded date: "no event recorded after ...").

    Examples
    --------
    >>> day = pd.Timestamp("2025-11-30").value // 86_400_000_000_000
    >>> frame = coverage({"tickets": (day - 90, day, 10), "deals": (day - 90, day + 31, 5)},
    ...                  pd.Timestamp("2025-12-31"))
    >>> stale, churn = coverage_words(frame, pd.Timestamp("2025-12-31"), scheduled_churn=12,
    ...                               declared=False)
    >>> stale
    'tickets end on 2025-11-30, 31 days before the as-of date 2025-12-31'
    >>> churn.split(";")[0]
    '12 churn dates after the as-of date are read as scheduled'
    """
    if as_of is None:
        return []
    out = [f"{rec.table} end on {rec.last.date()}, {(as_of - rec.last).days} days before the "
           f"as-of date {as_of.date()}" for rec in table[table["stale"]].itertuples()]
    if scheduled_churn:
        dates = "churn dates" if scheduled_churn != 1 else "churn date"
        are = "are" if scheduled_churn != 1 else "is"
        out.append(f"{scheduled_churn:,} {dates} after the as-of date {are} read as scheduled; "
                   "if the export is newer, declare its date with `--as-of`")
    last = table["last"].max()
    if declared and pd.notna(last) and last < as_of:
        out.append(f"no event recorded after {last.date()} (the as-of date is {as_of.date()})")
    return out
