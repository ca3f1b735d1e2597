"""Calendars: months, quarters and (fiscal) years as grids of day numbers.

A grid is a run of consecutive periods. Dates are handled as day numbers
(days since 1970-01-01, ``int64``) so that finding the period of a million
dates is one :func:`numpy.searchsorted`.

Examples
--------
>>> grid = Grid.between(pd.Period("2024Q1", "Q"), pd.Period("2024Q2", "Q"))
>>> [str(p) for p in grid.periods]
['2024Q1', '2024Q2']
>>> grid.locate(day_numbers(pd.Series(pd.to_datetime(["2024-03-31", "2024-04-01", "2025-01-01"]))))
array([ 0,  1, -1])
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from repkpi.errors import OptionError

__all__ = ["NAT", "Calendar", "Freq", "Grid", "PeriodLike", "day_numbers", "in_progress", "micros",
           "pandas_freq", "period_label", "snapshot", "to_period", "year_before"]

Freq = Literal["M", "Q", "Y"]
PeriodLike = str | pd.Period | pd.Timestamp | dt.date
NAT = np.iinfo(np.int64).min
"""The day number of a missing date."""

_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]


def pandas_freq(freq: str, fiscal_year_start: int = 1) -> str:
    """Return the pandas period frequency of ``freq`` in a calendar.

    A fiscal year is named by the calendar year it ends in, as pandas does.

    Examples
    --------
    >>> pandas_freq("Q"), pandas_freq("Q", fiscal_year_start=4), pandas_freq("Y", 4)
    ('Q-DEC', 'Q-MAR', 'Y-MAR')
    >>> pandas_freq("W")
    Traceback (most recent call last):
    ...
    repkpi.errors.OptionError: freq must be 'M', 'Q' or 'Y', got 'W'...
    """
    if freq not in ("M", "Q", "Y"):
        raise OptionError(
            f"freq must be 'M', 'Q' or 'Y', got {freq!r}.\n"
            "Hint: months, quarters or years; fiscal_year_start shifts quarters and years."
        )
    if not (isinstance(fiscal_year_start, int | np.integer) and 1 <= fiscal_year_start <= 12):
        raise OptionError(
            f"fiscal_year_start must be a month number 1..12, got {fiscal_year_start!r}.\n"
            "Hint: 4 for a fiscal year starting in April."
        )
    if freq == "M":
        return "M"
    return f"{freq}-{_MONTHS[(fiscal_year_start - 2) % 12]}"


@dataclass(frozen=True)
class Calendar:
    """A period length in a (fiscal) year: the ``freq`` and ``fiscal_year_start`` of a call, as one value.

    Built once where the public keywords enter and passed inside instead of
    the pair; checked when built.

    Attributes
    ----------
    freq : {"M", "Q", "Y"}
        Period length.
    fiscal_year_start : int
        Month the (fiscal) year starts in, 1..12.

    Examples
    --------
    >>> calendar = Calendar("Q", 4)
    >>> calendar.pfreq, calendar.at("Y").pfreq
    ('Q-MAR', 'Y-MAR')
    >>> calendar.period("2027Q2"), calendar.holding(pd.Timestamp("2026-08-15"))
    (Period('2027Q2', 'Q-MAR'), Period('2027Q2', 'Q-MAR'))
    >>> Calendar("M", 4).period("2027Q2")   # a fiscal quarter's first month
    Period('2026-07', 'M')
    >>> Calendar("W")
    Traceback (most recent call last):
    ...
    repkpi.errors.OptionError: freq must be 'M', 'Q' or 'Y', got 'W'...
    """

    freq: str = "Q"
    fiscal_year_start: int = 1

    def __post_init__(self) -> None:
        """Refuse a frequency or a fiscal start that names no calendar."""
        pandas_freq(self.freq, self.fiscal_year_start)

    @property
    def pfreq(self) -> str:
        """The pandas frequency of the periods (``"Q-MAR"`` for quarters of a year from April)."""
        return pandas_freq(self.freq, self.fiscal_year_start)

    def at(self, freq: str) -> Calendar:
        """The periods of another length in the same (fiscal) year."""
        return Calendar(freq, self.fiscal_year_start)

    def period(self, value: PeriodLike, how: str = "start") -> pd.Period:
        """Read a period-like value as one of these periods (see :func:`to_period`)."""
        return to_period(value, self.pfreq, how, fiscal_year_start=self.fiscal_year_start)

    def holding(self, moment: pd.Timestamp) -> pd.Period:
        """The period that holds ``moment``."""
        return moment.to_period(self.pfreq)


def in_progress(as_of: pd.Timestamp | None, pfreq: str) -> pd.Period | None:
    """The period of ``pfreq`` in progress on ``as_of``: None when ``as_of`` is its last day.

    Examples
    --------
    >>> in_progress(pd.Timestamp("2026-11-30"), "Q-DEC")
    Period('2026Q4', 'Q-DEC')
    >>> in_progress(pd.Timestamp("2026-11-30"), "M") is None
    True
    """
    if as_of is None or pd.isna(as_of):
        return None
    period = as_of.to_period(pfreq)
    return None if as_of.normalize() == period.end_time.normalize() else period


def year_before(moment: pd.Period | pd.Timestamp) -> pd.Period | pd.Timestamp:
    """The same period, or the same day, a year earlier (29 February reads as 28 February).

    Examples
    --------
    >>> year_before(pd.Period("2026Q3", "Q-MAR")), year_before(pd.Period("2026-02", "M"))
    (Period('2025Q3', 'Q-MAR'), Period('2025-02', 'M'))
    >>> year_before(pd.Timestamp("2028-02-29"))
    Timestamp('2027-02-28 00:00:00')
    """
    if isinstance(moment, pd.Period):
        return pd.Period(moment.start_time - pd.DateOffset(years=1), freq=moment.freq)
    return moment - pd.DateOffset(years=1)


_RANK = {"D": 0, "M": 1, "Q": 2, "Y": 3, "A": 3}


def to_period(value: PeriodLike, pfreq: str, how: str = "start", *,
              fiscal_year_start: int | None = None) -> pd.Period:
    """Read a period-like value (``"2024Q1"``, ``"2024-01"``, a date) as a period of ``pfreq``.

    One rule for every period string: a quarter or year label (``"2027Q2"``,
    ``"2027"``) is a *fiscal* label when the year starts in month
    ``fiscal_year_start`` != 1 (FY2027 Q2 = July-September 2026 for April),
    as pandas' ``Q-MAR`` names it; a month or a date is a calendar month or
    date. ``fiscal_year_start`` defaults to the one ``pfreq`` implies
    (``"Q-MAR"``: April; monthly: January). A label of the same or a finer
    frequency names the period of ``pfreq`` that holds it; a coarser one
    names its first period, or its last with ``how="end"``.

    Examples
    --------
    >>> to_period("2024-02-15", "Q-DEC"), to_period("2024Q3", "Q-DEC")
    (Period('2024Q1', 'Q-DEC'), Period('2024Q3', 'Q-DEC'))
    >>> to_period("2024Q2", "M"), to_period("2024Q2", "M", how="end")
    (Period('2024-04', 'M'), Period('2024-06', 'M'))

    FY2027 Q2 of a year starting in April is July-September 2026, whatever
    the length of the periods asked for:

    >>> to_period("2027Q2", "Q-MAR"), to_period("2027Q2", "M", fiscal_year_start=4)
    (Period('2027Q2', 'Q-MAR'), Period('2026-07', 'M'))
    >>> to_period("2026Q3", "Y-MAR")
    Period('2026', 'Y-MAR')
    """
    fiscal = fiscal_year_start or _fiscal_start(pfreq)
    try:
        natural = value if isinstance(value, pd.Period) else _natural(value, fiscal)
        if natural is None:
            return pd.Period(value, freq=pfreq)
        if _RANK.get(natural.freqstr[0], 0) > _RANK[pfreq[0]]:
            return natural.asfreq(pfreq, how=how)
        if natural.freqstr == pfreq:
            return natural
        return natural.start_time.to_period(pfreq)
    except (ValueError, TypeError) as exc:
        raise OptionError(
            f"Cannot read {value!r} as a period.\nHint: use '2024Q1', '2024-01', '2024' or a date."
        ) from exc


def _fiscal_start(pfreq: str) -> int:
    """The month a quarterly or yearly pandas frequency starts its year in (1 for months)."""
    if "-" not in pfreq:
        return 1
    return (_MONTHS.index(pfreq.split("-")[1]) + 1) % 12 + 1


def _natural(value: PeriodLike, fiscal_year_start: int = 1) -> pd.Period | None:
    """The period a label names on its own: a (fiscal) quarter or year, a month, a day."""
    try:
        period = pd.Period(value)
    except (ValueError, TypeError):
        return None
    letter = period.freqstr[0]
    if letter in ("Q", "Y") and isinstance(value, str) and fiscal_year_start != 1:
        return pd.Period(value.strip(), freq=pandas_freq(letter, fiscal_year_start))
    return period


def period_label(period: pd.Period) -> str:
    """A period as charts, the report and the attention lists print it.

    ``2026 Q3``, ``Jul 2026``, ``2026``; in a fiscal year (one not starting
    in January) ``FY2027 Q2`` and ``FY2027``, named by the calendar year the
    fiscal year ends in, as pandas names it.

    Examples
    --------
    >>> period_label(pd.Period("2026Q3", "Q")), period_label(pd.Period("2026-07", "M"))
    ('2026 Q3', 'Jul 2026')
    >>> period_label(pd.Period("2027Q2", "Q-MAR")), period_label(pd.Period("2027", "Y-MAR"))
    ('FY2027 Q2', 'FY2027')
    """
    letter = period.freqstr[0]
    fiscal = "FY" if _fiscal_start(period.freqstr) != 1 else ""
    if letter == "Q":
        return f"{fiscal}{period.qyear} Q{period.quarter}"
    if letter == "M":
        return period.strftime("%b %Y")
    if letter == "Y":
        return f"{fiscal}{period.year}"
    return str(period)


_US_PER_DAY = 86_400_000_000
_TO_US = {"s": 1_000_000, "ms": 1_000, "us": 1}


def micros(values: pd.Series) -> np.ndarray:
    """Microseconds since the epoch (UTC) of a date or timestamp column; NAT where missing.

    Read straight from the column's integers (UTC for zoned ones): no copy
    through strings or time zones.
    """
    if not isinstance(values.dtype, pd.DatetimeTZDtype) and values.dtype.kind != "M":
        values = pd.to_datetime(values)
    ints = np.asarray(values.array.asi8)
    unit = values.dt.unit
    if unit == "us":
        return ints
    missing = ints == NAT
    scaled = ints // 1_000 if unit == "ns" else ints * _TO_US[unit]
    return np.where(missing, NAT, scaled)


def day_numbers(values: pd.Series) -> np.ndarray:
    """Days since 1970-01-01 of a date or timestamp column (UTC date); NAT where missing."""
    us = micros(values)
    return np.where(us == NAT, NAT, np.floor_divide(us, _US_PER_DAY))


def snapshot(day: int) -> int:
    """The close of day number ``day`` (24:00 UTC) in microseconds: when states are judged.

    ``NAT`` stays ``NAT`` (no as-of date).

    Examples
    --------
    >>> pd.Timestamp(snapshot(int(day_numbers(pd.Series([pd.Timestamp("2024-04-10")]))[0])),
    ...              unit="us")
    Timestamp('2024-04-11 00:00:00')
    """
    return NAT if day == NAT else (int(day) + 1) * _US_PER_DAY


@dataclass(frozen=True)
class Grid:
    """Consecutive periods with their first and last days as day numbers."""

    periods: pd.PeriodIndex
    first: np.ndarray
    last: np.ndarray

    @classmethod
    def between(cls, start: pd.Period, end: pd.Period) -> Grid:
        """The periods from ``start`` to ``end``, both included (none when end < start)."""
        periods = pd.period_range(start, end, freq=start.freq) if end >= start else pd.PeriodIndex(
            [], freq=start.freq)
        first = day_numbers(pd.Series(periods.start_time))
        last = day_numbers(pd.Series(periods.end_time))
        return cls(periods, first, last)

    def __len__(self) -> int:
        return len(self.periods)

    def locate(self, days: np.ndarray) -> np.ndarray:
        """Position of each day's period in the grid; -1 outside it or missing."""
        pos = np.searchsorted(self.first, days, side="right") - 1
        inside = (pos >= 0) & (days <= (self.last[-1] if len(self) else NAT)) & (days != NAT)
        return np.where(inside, pos, -1)
