"""Service KPIs, from the tickets table (a ticket belongs to the period it was opened in, UTC).

SLA targets are resolution times in calendar hours per priority. A ticket's
deadline is ``opened_at + target``. At ``as_of`` a ticket has **met** its SLA
if it was resolved by its deadline, has **breached** it if it was resolved
later or is unresolved with ``as_of`` past the deadline, and is otherwise
**pending** (in neither count). A ticket resolved after ``as_of`` is
unresolved at ``as_of``.

Examples use these tickets (``as_of`` defaults to the latest timestamp, here
2024-04-10 09:00 UTC):

>>> examples.tickets().tickets.shape[0] > 0
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from repkpi._vector import isin
from repkpi.errors import OptionError
from repkpi.kpis.engine import Parts, Scope, positions
from repkpi.kpis.registry import kpi
from repkpi.periods import NAT, micros
from repkpi.schemas import PRIORITIES

__all__ = ["DEFAULT_SLA_HOURS", "first_response_hours", "resolution_hours", "sla_compliance"]

_HOUR = 3_600_000_000  # microseconds
_SHOW = ("account_id", "kind", "priority", "opened_at", "first_response_at", "resolved_at")
DEFAULT_SLA_HOURS: dict[str, float] = {"urgent": 4, "high": 24, "normal": 72, "low": 120}
"""Resolution targets in calendar hours per priority."""


def _utc(value: str | pd.Timestamp) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _hours(targets: Mapping[str | None, float] | None) -> dict[str | None, float]:
    """Hours per priority; ``None`` (no priority set) has none unless ``targets`` gives one."""
    hours: dict[str | None, float] = dict(DEFAULT_SLA_HOURS)
    hours[None] = np.nan
    if targets is not None:
        unknown = sorted(map(str, set(targets) - {*PRIORITIES, None}))
        if unknown:
            raise OptionError(f"sla_compliance's targets name unknown priorities {unknown}.\n"
                              f"Hint: the priorities are {PRIORITIES} (and None for tickets "
                              f"with no priority); missing ones keep their default "
                              f"{DEFAULT_SLA_HOURS}.")
        hours.update(targets)
    return hours


@kpi(table="tickets", unit="percent", kind="ratio", interval="wilson")
def sla_compliance(s: Scope, *, targets: Mapping[str, float] | None = None,
                   kinds: str | Sequence[str] | None = None,
                   as_of: str | pd.Timestamp | None = None) -> Parts:
    """Share of the period's tickets that met their SLA: met / (met + breached).

    Parameters
    ----------
    targets : mapping, optional
        Hours per priority replacing the defaults ``urgent: 4, high: 24,
        normal: 72, low: 120`` (priorities left out keep their default). A
        ticket with no priority has no agreed time and counts in neither
        side, unless ``targets`` gives one for ``None``.
    kinds : str or list of str, optional
        Only tickets of these kinds (e.g. ``"complaint"``).
    as_of : timestamp, optional
        When the states are judged (naive = UTC); default: the latest
        timestamp in the tickets table.

    Examples
    --------
    T1 met (3 h <= 4 h), T2 breached (96 h > 72 h); T3, opened at 02:00 UTC
    on 1 April, is unresolved past its 24 h; T4 met (25 h <= 120 h).

    >>> data = examples.tickets()
    >>> sla_compliance(data)[["period", "numerator", "denominator"]]
      period  numerator  denominator
    0 2024Q1        1.0          2.0
    1 2024Q2        1.0          2.0

    At noon on 1 April, T3 is still pending:

    >>> sla_compliance(data, as_of="2024-04-01T12:00:00Z", kinds="complaint")[
    ...     ["period", "numerator", "denominator"]]
      period  numerator  denominator
    0 2024Q1        1.0          1.0
    1 2024Q2        0.0          0.0
    """
    tickets = s.frame
    hours = _hours(targets)
    opened, resolved = micros(tickets["opened_at"]), micros(tickets["resolved_at"])
    if as_of is None:
        as_of = s.fact(("latest", "tickets"), lambda: _latest(tickets))
    else:
        as_of = micros(pd.Series([_utc(as_of)]))[0]
    # Hours allowed per ticket: a ticket with no priority has no agreed time (NaN), unless
    # targets gives one for None; an unknown position (-1) picks that last entry.
    allowed = np.array([*(hours[p] for p in PRIORITIES), hours[None]], dtype=np.float64) * _HOUR
    allowed = allowed[positions(tickets["priority"], pd.Series(PRIORITIES))]
    agreed = ~np.isnan(allowed)
    deadline = np.where(agreed, opened + np.round(np.nan_to_num(allowed)).astype(np.int64), NAT)
    known = (resolved != NAT) & (resolved <= as_of)
    on_time = (resolved != NAT) & (resolved <= deadline)
    met = agreed & known & on_time
    breached = agreed & ((known & ~on_time) | (~known & (deadline < as_of)))
    if kinds is not None:
        chosen = isin(tickets["kind"], pd.Series([kinds] if isinstance(kinds, str) else list(kinds)))
        met, breached = met & chosen, breached & chosen
    # Hours past the deadline when resolved (or, unresolved, at as_of); negative: to spare.
    stop = np.where(known, resolved, as_of)
    columns = {"deadline": pd.Series(deadline.astype("datetime64[us]")).dt.tz_localize("UTC"),
               "hours_late": np.where(agreed, (stop - deadline) / _HOUR, np.nan)}
    return s.parts("ratio", s.events(tickets["opened_at"], where=met, columns=columns),
                   s.events(tickets["opened_at"], where=met | breached, columns=columns),
                   show=_SHOW)


def _latest(tickets: pd.DataFrame) -> int:
    """The latest timestamp of the tickets, in microseconds (``NAT`` when there is none)."""
    latest = [micros(tickets[c]) for c in ("opened_at", "first_response_at", "resolved_at")]
    return max((x[x != NAT].max() for x in latest if (x != NAT).any()), default=NAT)


def _median_hours(s: Scope, later: str) -> Parts:
    tickets = s.frame
    start, stop = micros(tickets["opened_at"]), micros(tickets[later])
    hours = np.where(stop != NAT, (stop - start) / _HOUR, np.nan)
    return s.parts("median", s.events(tickets["opened_at"], where=~np.isnan(hours), weights=hours),
                   show=_SHOW)


@kpi(table="tickets", unit="hours", kind="median")
def first_response_hours(s: Scope) -> Parts:
    """Median hours from ``opened_at`` to ``first_response_at``, tickets opened in P with a response.

    Examples
    --------
    >>> data = examples.tickets()
    >>> first_response_hours(data)[["period", "value"]]
      period  value
    0 2024Q1    2.5
    1 2024Q2    NaN
    """
    return _median_hours(s, "first_response_at")


@kpi(table="tickets", unit="hours", kind="median")
def resolution_hours(s: Scope) -> Parts:
    """Median hours from ``opened_at`` to ``resolved_at``, tickets opened in P that are resolved.

    Examples
    --------
    >>> data = examples.tickets()
    >>> resolution_hours(data)[["period", "value"]]
      period  value
    0 2024Q1   49.5
    1 2024Q2   25.0
    """
    return _median_hours(s, "resolved_at")
