"""The data's as-of date: the latest date of what has happened, or the one declared."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from repkpi.errors import OptionError
from repkpi.schemas import RECORDED

__all__ = ["AsOfLike", "as_of_date", "from_days", "latest_recorded"]

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
    latest = _NAT
    for column in RECORDED.get(table, ()):
        if column not in frame.columns:
            continue
        days = _days(frame[column])
        if column == "closed_on" and "stage" in frame.columns:
            days = days[frame["stage"].isin(["won", "lost"]).to_numpy(dtype=bool)]
        if len(days):
            latest = max(latest, int(days.max()))
    return None if latest == _NAT else latest


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
    return stamp.normalize()


def from_days(days: int | None) -> pd.Timestamp | None:
    """The day of a day number (None stays None)."""
    return None if days is None else pd.Timestamp(days, unit="D")
