"""How long customers stay: the Kaplan-Meier estimate of account lifetimes, with Greenwood intervals.

:func:`survival` gives the life table (forecast.md, "How long customers
stay"); :func:`repkpi.plot.survival` draws its curves with their bands.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from repkpi.cohorts import account_frame
from repkpi.errors import MissingTableError, OptionError
from repkpi.io.loading import CrmData
from repkpi.kpis.registry import By, normalise_by, refuse_absent
from repkpi.periods import NAT, Calendar, Freq, day_numbers

__all__ = ["COLUMNS", "Z", "survival"]

COLUMNS = ("t", "at_risk", "events", "censored", "survival", "std_err", "lower", "upper")
"""The life table's columns after the ``by`` columns."""

Z = 1.96
"""The normal quantile of the 95% interval, as forecast.md writes it."""


def survival(data: CrmData, /, *, freq: Freq = "M", by: By = None) -> pd.DataFrame:
    r"""Kaplan-Meier estimate of how long accounts stay customers, with its 95% interval.

    Parameters
    ----------
    data : CrmData
        Loaded data, or Dask data (the accounts' few columns are gathered).
    freq : {"M", "Q", "Y"}
        The unit of the durations: months, quarters or calendar years.
    by : str or list of str, optional
        Accounts' (or their rep's) columns: one curve per group; an empty
        value is a group of its own.

    Returns
    -------
    DataFrame
        One row per group and observed duration ``t`` (the durations at
        which some account churned or was censored), sorted by group and
        ``t``: the ``by`` columns, ``t``, ``at_risk`` (accounts whose
        duration is ``t`` or more), ``events`` (churned at ``t``),
        ``censored`` (still customers at ``as_of``, with duration ``t``),
        ``survival`` (the estimate S(t)), ``std_err`` (Greenwood's standard
        error of S(t)), ``lower`` and ``upper`` (the 95% interval).
        ``attrs["median"]``: the median lifetime, the smallest ``t`` with
        ``survival <= 0.5`` (None when the curve never gets there); a
        number without ``by``, else a dict: group (its value, a tuple of
        values for several ``by`` columns, None for an empty one) -> median.
        Plain values, so that results stay comparable (``pd.concat``
        compares the ``attrs`` of what it joins).
        ``attrs["as_of"]`` and ``attrs["freq"]`` say what the durations
        were measured to and in.

    Raises
    ------
    MissingTableError
        No accounts table.
    AbsentColumnError
        The export has no ``customer_since``, ``churned_on`` or ``by``
        column (``data.absent``).
    ColumnNotFoundError
        A ``by`` column neither the accounts nor their reps have.
    OptionError
        An unknown ``freq``, or a ``by`` column named as a column of the
        table (``t``, ``events``...).

    Notes
    -----
    An account's duration is the number of periods from the one holding its
    ``customer_since`` to the one holding its ``churned_on`` (an event), or
    holding ``data.as_of`` while it is still a customer (censored):
    ``t = Period(end) - Period(customer_since)``. Won in January and lost in
    March is 2 months; lost in the month it was won is 0. A churn date after
    ``as_of`` has not happened: the account is censored at ``as_of``.
    Prospects (no ``customer_since``) are left out.

    With :math:`n_s` accounts at risk and :math:`d_s` events at duration s:

    .. math::

        S(t) = \prod_{s \le t} (1 - d_s / n_s), \qquad
        G(t) = \sum_{s \le t} \frac{d_s}{n_s (n_s - d_s)}, \qquad
        \mathrm{se}(t) = S(t) \sqrt{G(t)}

    and the exponential-Greenwood interval (on the log(-log) scale) with
    :math:`V = G / (\log S)^2`: lower, upper =
    :math:`\exp(-\exp(\log(-\log S) \pm 1.96 \sqrt{V}))`. The interval
    is undefined where S is 1 (no churn yet) or 0 (every account at risk
    churned): there it is the point itself. ``std_err`` is NaN where S is 0.

    Examples
    --------
    The example accounts, as of 15 April 2024: A1 (won in November 2023)
    and A3 (February 2024) are still customers, censored after 5 and 2
    months; A2, won in January and lost in March, lived 2 months; A4, won
    on the as-of date, is censored at 0:

    >>> from repkpi.datasets import doctest_data as examples
    >>> table = survival(examples.accounts())
    >>> table[["t", "at_risk", "events", "censored", "survival"]]
       t  at_risk  events  censored  survival
    0  0        4       0         1  1.000000
    1  2        3       1         1  0.666667
    2  5        1       0         1  0.666667
    >>> table.attrs["median"] is None   # the curve never falls to one half
    True
    >>> survival(examples.accounts(), by="region").attrs["median"]
    {'north': 2, 'south': None}
    """
    calendar = Calendar(freq)
    if data.accounts is None:
        raise MissingTableError("survival needs the accounts table, which was not loaded.\n"
                                "Hint: load a folder with accounts.csv.")
    columns = normalise_by(by)
    clash = [c for c in columns if c in (*COLUMNS, "event", "seen")]
    if clash:
        raise OptionError(f"survival cannot group by {clash}: the life table has columns of "
                          f"those names ({', '.join(COLUMNS)}).\nHint: rename the column in "
                          "the export, or group by another.")
    refuse_absent(data, "survival", "accounts", ["customer_since", "churned_on", *columns])
    accounts = account_frame(data, columns, who="survival", noun="group")
    won = accounts[accounts["customer_since"].notna()].reset_index(drop=True)
    as_of = data.as_of
    table = _life_table(_lives(won, columns, as_of, calendar.pfreq), columns)
    table.attrs.update(median=_medians(table, columns), as_of=as_of, freq=freq)
    return table


def _ordinals(days: np.ndarray, pfreq: str) -> np.ndarray:
    """The ordinal of the period of ``pfreq`` that holds each day number (consecutive periods differ by 1)."""
    return pd.DatetimeIndex(days.astype("datetime64[D]")).to_period(pfreq).asi8


def _lives(won: pd.DataFrame, columns: list[str], as_of: pd.Timestamp | None,
           pfreq: str) -> pd.DataFrame:
    """Each customer's ``by`` columns, duration ``t`` and whether it ended in churn (``event``).

    Data without an as-of date has no dated row, hence no customer.
    """
    limit = day_numbers(pd.Series([as_of], dtype="datetime64[us]"))[0]
    churn = day_numbers(won["churned_on"])
    event = (churn != NAT) & (churn <= limit)
    end = _ordinals(np.where(event, churn, limit), pfreq)
    start = _ordinals(day_numbers(won["customer_since"]), pfreq)
    return won[columns].assign(t=end - start, event=event)


def _life_table(lives: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The Kaplan-Meier table of ``lives``: per group and observed duration, counts, S and its interval."""
    counts = (lives.assign(events=lives["event"].astype(np.int64), seen=np.int64(1))
              .groupby([*columns, "t"], dropna=False, sort=True)[["events", "seen"]].sum()
              .reset_index())
    counts["t"] = counts["t"].astype(np.int64)
    keys = [counts[c] for c in columns] or [pd.Series(0, index=counts.index)]
    by_group = counts.groupby(keys, dropna=False, sort=False)
    seen, events = counts["seen"], counts["events"]
    at_risk = by_group["seen"].transform("sum") - by_group["seen"].cumsum() + seen
    n, d = at_risk.to_numpy(dtype=np.float64), events.to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        step = np.where(d > 0, d / (n * (n - d)), 0.0)  # inf where every account at risk churns
    s = pd.Series(1.0 - d / n).groupby(keys, dropna=False, sort=False).cumprod().to_numpy()
    greenwood = pd.Series(step).groupby(keys, dropna=False, sort=False).cumsum().to_numpy()
    lower, upper, std_err = _interval(s, greenwood)
    return pd.DataFrame({**{c: counts[c] for c in columns}, "t": counts["t"],
                         "at_risk": at_risk.astype(np.int64), "events": events,
                         "censored": seen - events, "survival": s, "std_err": std_err,
                         "lower": lower, "upper": upper})


def _interval(s: np.ndarray, greenwood: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The exponential-Greenwood 95% bounds of S, and Greenwood's standard error of S."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_s = np.log(s)
        half = Z * np.sqrt(greenwood / log_s**2)
        centre = np.log(-log_s)
        lower = np.exp(-np.exp(centre + half))
        upper = np.exp(-np.exp(centre - half))
        std_err = np.where(s > 0, s * np.sqrt(greenwood), np.nan)
    edge = (s == 1.0) | (s == 0.0)  # log(-log S) is undefined: the interval is the point
    return np.where(edge, s, lower), np.where(edge, s, upper), std_err


def _medians(table: pd.DataFrame, columns: list[str]) -> object:
    """The smallest ``t`` with ``survival <= 0.5`` per group (None when never): a number without groups."""
    reached = table["t"].where(table["survival"] <= 0.5)
    if not columns:
        return None if reached.isna().all() else int(reached.min())
    first = reached.groupby([table[c] for c in columns], dropna=False, sort=True).min()
    return {_plain(key): None if np.isnan(value) else int(value)
            for key, value in zip(first.index.tolist(), first.to_numpy(), strict=True)}


def _plain(key: object) -> object:
    """A group's key with None for an empty value (NaN is equal to nothing, not even itself)."""
    if isinstance(key, tuple):
        return tuple(None if pd.isna(part) else part for part in key)
    return None if pd.isna(key) else key
