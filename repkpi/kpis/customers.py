"""Customer KPIs, from the accounts table.

An account is *active on day d* when ``customer_since <= d`` and
(``churned_on`` is empty or ``d < churned_on``).

Examples use this small book of accounts:

>>> examples.accounts().accounts.shape[0] > 0
True
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from repkpi.errors import OptionError
from repkpi.kpis.declaration import Active, Events, Formula, Pairs, Scope, Shifted
from repkpi.kpis.groups import compact, lookups, positions
from repkpi.kpis.registry import kpi
from repkpi.periods import NAT, day_numbers

__all__ = [
    "active_customers",
    "churn_rate",
    "engagement_rate",
    "key_accounts",
    "new_customer_growth",
    "new_customers",
    "retention_rate",
]


_SHOW = ("rep_id", "customer_since", "churned_on")


def _active(s: Scope, at: str) -> Active:
    accounts = s.frame
    return s.active(accounts["customer_since"], accounts["churned_on"], at=at)


def _new(s: Scope) -> Events:
    return s.events(s.frame["customer_since"])


def _churned(s: Scope) -> Events:
    """C: accounts of P's opening book (active on P.open) whose ``churned_on`` is in P."""
    accounts = s.frame
    churned = day_numbers(accounts["churned_on"])
    pos = s.grid.locate(churned)
    last = s.bounds("last")  # empty when no account has a date: then no row is in a period
    end = np.where(pos >= 0, last[np.maximum(pos, 0)], NAT) if last.size else np.full(pos.shape, NAT)
    since = day_numbers(accounts["customer_since"])
    # Active on P.open = customer by then (``opening``) and not yet churned: churned_on >=
    # P.first holds. In a period in progress, a churn after the as-of date has not happened
    # yet. A prospect (no customer_since) is never a customer.
    return s.events(accounts["churned_on"], where=(pos >= 0) & (since != NAT) & (churned <= end),
                    opening=accounts["customer_since"])


@kpi(title="New customers", table="accounts", unit="count", kind="count",
     needs=("accounts.customer_since",))
def new_customers(s: Scope) -> Formula:
    """Accounts whose ``customer_since`` falls in the period (a count).

    Examples
    --------
    >>> data = examples.accounts()
    >>> new_customers(data, freq="Q")[["period", "value"]]
      period  value
    0 2023Q4    1.0
    1 2024Q1    2.0
    2 2024Q2    1.0
    """
    return s.formula("count", _new(s), show=_SHOW)


@kpi(title="New customer growth", table="accounts", unit="percent", kind="ratio", counted=True,
     timing="compare", needs=("accounts.customer_since",))
def new_customer_growth(s: Scope) -> Formula:
    """Growth of new customers over the previous period.

    Notes
    -----
    value = (new(P) - new(P-1)) / new(P-1), numerator = new(P) - new(P-1),
    denominator = new(P-1); NaN for the first period of the data and where
    new(P-1) = 0. The previous period is read from the data even before ``start``.

    Examples
    --------
    >>> data = examples.accounts()
    >>> new_customer_growth(data, freq="Q")[["period", "numerator", "denominator", "value"]]
      period  numerator  denominator  value
    0 2023Q4        NaN          NaN    NaN
    1 2024Q1        1.0          1.0    1.0
    2 2024Q2       -1.0          2.0   -0.5
    """
    new = _new(s)
    previous = Shifted(new)
    return s.formula("ratio", new - previous, previous, show=_SHOW)


@kpi(title="Active customers", table="accounts", unit="count", kind="count", timing="state",
     needs=("accounts.customer_since", "accounts.churned_on"))
def active_customers(s: Scope) -> Formula:
    """Accounts active on the period's last day (a count).

    Examples
    --------
    >>> data = examples.accounts()
    >>> active_customers(data, freq="Q", by="region")[["period", "region", "value"]]
      period region  value
    0 2023Q4  north    1.0
    1 2023Q4  south    0.0
    2 2024Q1  north    1.0
    3 2024Q1  south    1.0
    4 2024Q2  north    1.0
    5 2024Q2  south    2.0
    """
    return s.formula("count", _active(s, "last"), show=_SHOW)


@kpi(title="Churn rate", table="accounts", unit="percent", kind="ratio", interval="wilson",
     timing="state", pace="churn", needs=("accounts.customer_since", "accounts.churned_on"))
def churn_rate(s: Scope) -> Formula:
    """Share of the opening book (accounts active on P.open) that churned by P.last.

    Notes
    -----
    value = C / S, S = accounts active on P.open, C = those of S whose
    ``churned_on <= P.last`` (the as-of date in a period in progress). An
    account acquired inside P is not in S.

    Examples
    --------
    >>> data = examples.accounts()
    >>> churn_rate(data, freq="M", end="2024-03")[["period", "numerator", "denominator"]]
        period  numerator  denominator
    0  2023-11        0.0          0.0
    1  2023-12        0.0          1.0
    2  2024-01        0.0          1.0
    3  2024-02        0.0          2.0
    4  2024-03        1.0          3.0

    A2 churns on 1 March, the first day of a month: it is still a customer on
    29 February (P.open of March), so it is in March's opening book, and its
    churn counts in March. A1, a customer from 1 November, is not in
    November's opening book (31 October).
    """
    return s.formula("ratio", _churned(s), _active(s, "open"), show=_SHOW)


@kpi(title="Retention rate", table="accounts", unit="percent", kind="ratio", interval="wilson",
     timing="state", pace="retention", subset_when={"method": "cohort"},
     needs=("accounts.customer_since", "accounts.churned_on"))
def retention_rate(s: Scope, *, method: Literal["standard", "cohort"] = "standard") -> Formula:
    """Share of the customers kept over the period.

    Parameters
    ----------
    method : {"standard", "cohort"}
        ``"standard"``: (E - N) / S with E = accounts active on P.last, N =
        accounts with ``customer_since`` in P, S = accounts active on P.open.
        ``"cohort"``: (S - C) / S, which equals 1 - ``churn_rate``.

    Notes
    -----
    The two differ when a customer acquired inside P also churns inside P:
    the standard formula counts that loss against the period, the cohort one
    does not see it.

    Examples
    --------
    >>> data = examples.accounts()
    >>> retention_rate(data, freq="Q", start="2024Q1", end="2024Q1")[
    ...     ["period", "numerator", "denominator", "value"]]
      period  numerator  denominator  value
    0 2024Q1        0.0          1.0    0.0
    >>> retention_rate(data, freq="Q", start="2024Q1", end="2024Q1", method="cohort")["value"]
    0    1.0
    Name: value, dtype: float64
    """
    if method not in ("standard", "cohort"):
        raise OptionError(f"retention_rate's method must be 'standard' or 'cohort', got {method!r}.\n"
                          "Hint: 'cohort' gives 1 - churn_rate.")
    starting = _active(s, "open")
    if method == "cohort":
        return s.formula("ratio", starting - _churned(s), starting, show=_SHOW)
    return s.formula("ratio", _active(s, "last") - _new(s), starting, show=_SHOW)


@kpi(title="Engagement rate", table="accounts", unit="percent", kind="ratio", interval="wilson",
     timing="state", route="by_account", any_of=("activities", "surveys"),
     needs=("accounts.customer_since", "accounts.churned_on"))
def engagement_rate(s: Scope) -> Formula:
    """Share of the accounts active on P.last that engaged during P (an account counts once).

    Notes
    -----
    engaged / active, active = accounts active on P.last, engaged = those of
    them with at least one ``activities`` row or ``surveys`` response in P.
    Needs accounts and at least one of activities and surveys.

    Examples
    --------
    >>> data = examples.accounts()
    >>> engaged = CrmData(accounts=data.accounts, activities=pd.DataFrame({
    ...     "activity_id": ["E1", "E2", "E3"], "account_id": ["A1", "A1", "A3"],
    ...     "occurred_on": ["2024-05-02", "2024-06-20", "2024-06-30"]}))
    >>> engagement_rate(engaged, freq="Q", start="2024Q2")[["period", "numerator", "denominator"]]
      period  numerator  denominator
    0 2024Q2        2.0          3.0
    """
    accounts, data = s.frame, s.data
    touches = [(data.activities, "occurred_on"), (data.surveys, "responded_at")]
    width = len(s.grid)
    pairs = []  # (account position, period position) of every touch, as one number
    for table, column in touches:
        if table is not None:
            account = positions(table["account_id"], accounts["account_id"], memo=lookups(data))
            pos = s.grid.locate(day_numbers(table[column]))
            inside = (account >= 0) & (pos >= 0)
            pairs.append(account[inside] * width + pos[inside])
    pairs = compact(np.concatenate(pairs))[0]
    account, pos = s.spread(pairs // width, pairs % width)  # an account once in each span
    last = s.bounds("last")[pos]
    since = day_numbers(accounts["customer_since"])[account]
    churned = day_numbers(accounts["churned_on"])[account]
    active = (since != NAT) & (since <= last) & ((churned == NAT) | (last < churned))
    engaged = Pairs(s, account[active], pos[active], codes=s.codes[account[active]])
    return s.formula("ratio", engaged, _active(s, "last"), show=_SHOW)


@kpi(title="Key accounts", table="accounts", unit="count", kind="count", timing="window",
     route="by_account", reads=("deals",),
     needs=("accounts.customer_since", "accounts.churned_on", "deals.closed_on", "deals.amount"))
def key_accounts(s: Scope, *, threshold: float = 100_000) -> Formula:
    """Accounts active on P.last whose won deals of the last 12 months reach ``threshold``.

    Notes
    -----
    Count of accounts active on P.last whose won deals with ``closed_on`` in
    (P.last - 12 months, P.last] sum to at least ``threshold`` (default 100 000).

    Examples
    --------
    >>> data = examples.accounts()
    >>> sales = CrmData(accounts=data.accounts, deals=pd.DataFrame({
    ...     "deal_id": ["D1", "D2", "D3"], "account_id": ["A1", "A1", "A3"],
    ...     "created_on": ["2023-12-01", "2024-04-01", "2024-04-01"],
    ...     "closed_on": ["2023-12-15", "2024-05-01", "2024-05-01"],
    ...     "stage": ["won", "won", "won"], "amount": [60_000, 50_000, 90_000],
    ...     "deal_type": "new_business", "channel": "direct"}))
    >>> key_accounts(sales, freq="Q")[["period", "value"]]
      period  value
    0 2023Q4    0.0
    1 2024Q1    0.0
    2 2024Q2    1.0
    """
    accounts, deals = s.frame, s.data.deals
    won = deals[deals["stage"] == "won"]
    account = positions(won["account_id"], accounts["account_id"])
    day = day_numbers(won["closed_on"])
    last = s.bounds("last")
    lower = day_numbers(pd.Series(pd.to_datetime(last.astype("datetime64[D]"))
                                  - pd.DateOffset(months=12)))
    # A deal closed on day d counts in the windows (P.last - 12 months, P.last] that hold d:
    # the periods from the first with P.last >= d to the last with lower bound < d.
    k0 = np.searchsorted(last, day, side="left")
    k1 = np.searchsorted(lower, day, side="left")
    ok = (account >= 0) & (day != NAT) & (k0 < k1)
    width = len(last) + 1
    # Whole cents, so that sums are exact; a won deal without an amount adds nothing.
    cents = np.nan_to_num(np.round(won["amount"].to_numpy(np.float64, na_value=np.nan) * 100))[ok]
    size = len(accounts) * width
    diff = (np.bincount(account[ok] * width + k0[ok], cents, minlength=size)
            - np.bincount(account[ok] * width + k1[ok], cents, minlength=size))
    total = np.cumsum(diff.reshape(len(accounts), width), axis=1)[:, :-1]
    since = day_numbers(accounts["customer_since"])[:, None]
    churned = day_numbers(accounts["churned_on"])[:, None]
    active = (since != NAT) & (since <= last[None, :]) & ((churned == NAT) | (last[None, :] < churned))
    hit = active & (total >= round(threshold * 100))
    who, pos = np.nonzero(hit)
    won_12m = total[who, pos] / 100
    return s.formula("count", Pairs(s, who, pos, codes=s.codes[who], columns={"won_12m": won_12m}),
                     show=_SHOW)
