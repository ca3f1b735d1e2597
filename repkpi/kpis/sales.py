"""Sales KPIs, from the deals table.

A deal *closed in P* has its ``closed_on`` in P; won and lost deals are
closed, open ones are not. ``revenue`` by ``channel`` splits direct from
partner sales.

Examples use these deals:

>>> examples.deals().deals.shape[0] > 0
True
"""

from __future__ import annotations

import pandas as pd

from repkpi.kpis.declaration import Formula, Scope
from repkpi.kpis.registry import kpi

__all__ = [
    "average_deal_size",
    "cross_sell_rate",
    "cross_sell_wins",
    "large_deals",
    "revenue",
    "win_rate",
]

_EXPANSION = ["cross_sell", "upsell"]


_SHOW = ("account_id", "stage", "closed_on", "amount", "deal_type", "channel")


def _amount(deals: pd.DataFrame) -> pd.Series:
    """The deals' amounts, 0 where a deal has none: it adds nothing to a sum."""
    return deals["amount"].fillna(0.0)


def _deals(s: Scope) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    deals = s.frame
    return deals, deals["stage"] == "won", deals["stage"].isin(["won", "lost"])


@kpi(title="Revenue", table="deals", unit="money", kind="sum",
     needs=("deals.closed_on", "deals.amount"))
def revenue(s: Scope) -> Formula:
    """Sum of the ``amount`` of won deals closed in the period.

    Examples
    --------
    >>> data = examples.deals()
    >>> revenue(data, by="channel")[["period", "channel", "value"]]
      period  channel    value
    0 2024Q1   direct  60000.0
    1 2024Q1  partner  20000.0
    2 2024Q2   direct  10000.0
    3 2024Q2  partner      0.0
    """
    deals, won, _ = _deals(s)
    return s.formula("sum", s.events(deals["closed_on"], where=won, weights=_amount(deals)),
                     show=_SHOW)


@kpi(title="Win rate", table="deals", unit="percent", kind="ratio", interval="wilson",
     needs=("deals.closed_on",))
def win_rate(s: Scope) -> Formula:
    """Won / (won + lost), deals closed in the period.

    Examples
    --------
    >>> data = examples.deals()
    >>> win_rate(data)[["period", "numerator", "denominator", "value"]]
      period  numerator  denominator     value
    0 2024Q1        2.0          3.0  0.666667
    1 2024Q2        1.0          1.0  1.000000
    """
    deals, won, closed = _deals(s)
    return s.formula("ratio", s.events(deals["closed_on"], where=won),
                     s.events(deals["closed_on"], where=closed), show=_SHOW)


@kpi(title="Cross-sell and upsell success rate", label="Cross-sell rate", table="deals",
     unit="percent", kind="ratio", interval="wilson", needs=("deals.closed_on", "deals.deal_type"))
def cross_sell_rate(s: Scope) -> Formula:
    """Won / (won + lost) among ``cross_sell`` and ``upsell`` deals closed in the period.

    Examples
    --------
    >>> data = examples.deals()
    >>> cross_sell_rate(data)[["period", "numerator", "denominator", "value"]]
      period  numerator  denominator  value
    0 2024Q1        1.0          2.0    0.5
    1 2024Q2        1.0          1.0    1.0
    """
    deals, won, closed = _deals(s)
    expansion = deals["deal_type"].isin(_EXPANSION)
    return s.formula("ratio", s.events(deals["closed_on"], where=won & expansion),
                     s.events(deals["closed_on"], where=closed & expansion), show=_SHOW)


@kpi(title="Cross-sell and upsell wins", label="Cross-sell wins", table="deals", unit="count",
     kind="count", needs=("deals.closed_on", "deals.deal_type"))
def cross_sell_wins(s: Scope) -> Formula:
    """Won ``cross_sell`` and ``upsell`` deals closed in the period (a count).

    Examples
    --------
    >>> data = examples.deals()
    >>> cross_sell_wins(data, freq="Y")[["period", "value"]]
      period  value
    0   2024    2.0
    """
    deals, won, _ = _deals(s)
    return s.formula("count", s.events(deals["closed_on"],
                                     where=won & deals["deal_type"].isin(_EXPANSION)), show=_SHOW)


@kpi(title="Large deals", table="deals", unit="count", kind="count",
     needs=("deals.closed_on", "deals.amount"))
def large_deals(s: Scope, *, threshold: float = 50_000) -> Formula:
    """Won deals closed in the period with ``amount >= threshold`` (default 50 000; a count).

    Examples
    --------
    >>> data = examples.deals()
    >>> large_deals(data)[["period", "value"]]
      period  value
    0 2024Q1    1.0
    1 2024Q2    0.0
    >>> large_deals(data, threshold=10_000)["value"].tolist()
    [2.0, 1.0]
    """
    deals, won, _ = _deals(s)
    return s.formula("count", s.events(deals["closed_on"], where=won & (deals["amount"] >= threshold)),
                     show=_SHOW)


@kpi(title="Average deal size", table="deals", unit="money", kind="ratio", counted=True,
     needs=("deals.closed_on", "deals.amount"))
def average_deal_size(s: Scope) -> Formula:
    """Mean ``amount`` of won deals closed in the period that have one (sum over count).

    Examples
    --------
    >>> data = examples.deals()
    >>> average_deal_size(data)[["period", "numerator", "denominator", "value"]]
      period  numerator  denominator    value
    0 2024Q1    80000.0          2.0  40000.0
    1 2024Q2    10000.0          1.0  10000.0
    """
    deals, won, _ = _deals(s)
    priced = won & deals["amount"].notna()
    return s.formula("ratio", s.events(deals["closed_on"], where=priced, weights=_amount(deals)),
                     s.events(deals["closed_on"], where=priced), show=_SHOW)
