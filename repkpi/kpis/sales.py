"""Sales KPIs, from the deals table.

A deal *closed in P* has its ``closed_on`` in P; won and lost deals are
closed, open ones are not. ``revenue`` by ``channel`` splits direct from
partner sales.

Examples use these deals:

>>> from repkpi.datasets import doctest_data as examples
>>> examples.deals().deals.shape[0] > 0
True
"""

from __future__ import annotations

import pandas as pd

from repkpi.datasets import doctest_data as examples  # noqa: F401 (the doctests use it)
from repkpi.kpis._engine import By, Scope, kpi
from repkpi.io.loading import CrmData
from repkpi.periods import Freq, PeriodLike

__all__ = [
    "average_deal_size",
    "cross_sell_rate",
    "cross_sell_wins",
    "large_deals",
    "revenue",
    "win_rate",
]

_EXPANSION = ["cross_sell", "upsell"]


def _deals(name: str, data: CrmData, *args: object) -> tuple[Scope, pd.DataFrame, pd.Series, pd.Series]:
    s = Scope(data, name, "deals", *args)
    deals = s.frame
    return s, deals, deals["stage"] == "won", deals["stage"].isin(["won", "lost"])


@kpi
def revenue(data: CrmData, /, *, freq: Freq = "Q", by: By = None, start: PeriodLike | None = None,
            end: PeriodLike | None = None, fiscal_year_start: int = 1) -> pd.DataFrame:
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
    s, deals, won, _ = _deals("revenue", data, freq, by, start, end, fiscal_year_start)
    return s.count(s.events(deals["closed_on"], where=won, weights=deals["amount"]))


@kpi
def win_rate(data: CrmData, /, *, freq: Freq = "Q", by: By = None, start: PeriodLike | None = None,
             end: PeriodLike | None = None, fiscal_year_start: int = 1) -> pd.DataFrame:
    """Won / (won + lost), deals closed in the period.

    Examples
    --------
    >>> data = examples.deals()
    >>> win_rate(data)[["period", "numerator", "denominator", "value"]]
      period  numerator  denominator     value
    0 2024Q1        2.0          3.0  0.666667
    1 2024Q2        1.0          1.0  1.000000
    """
    s, deals, won, closed = _deals("win_rate", data, freq, by, start, end, fiscal_year_start)
    return s.ratio(s.events(deals["closed_on"], where=won),
                   s.events(deals["closed_on"], where=closed))


@kpi
def cross_sell_rate(data: CrmData, /, *, freq: Freq = "Q", by: By = None,
                    start: PeriodLike | None = None, end: PeriodLike | None = None,
                    fiscal_year_start: int = 1) -> pd.DataFrame:
    """Won / (won + lost) among ``cross_sell`` and ``upsell`` deals closed in the period.

    Examples
    --------
    >>> data = examples.deals()
    >>> cross_sell_rate(data)[["period", "numerator", "denominator", "value"]]
      period  numerator  denominator  value
    0 2024Q1        1.0          2.0    0.5
    1 2024Q2        1.0          1.0    1.0
    """
    s, deals, won, closed = _deals("cross_sell_rate", data, freq, by, start, end, fiscal_year_start)
    expansion = deals["deal_type"].isin(_EXPANSION)
    return s.ratio(s.events(deals["closed_on"], where=won & expansion),
                   s.events(deals["closed_on"], where=closed & expansion))


@kpi
def cross_sell_wins(data: CrmData, /, *, freq: Freq = "Q", by: By = None,
                    start: PeriodLike | None = None, end: PeriodLike | None = None,
                    fiscal_year_start: int = 1) -> pd.DataFrame:
    """Won ``cross_sell`` and ``upsell`` deals closed in the period (a count).

    Examples
    --------
    >>> data = examples.deals()
    >>> cross_sell_wins(data, freq="Y")[["period", "value"]]
      period  value
    0   2024    2.0
    """
    s, deals, won, _ = _deals("cross_sell_wins", data, freq, by, start, end, fiscal_year_start)
    return s.count(s.events(deals["closed_on"], where=won & deals["deal_type"].isin(_EXPANSION)))


@kpi
def large_deals(data: CrmData, /, *, freq: Freq = "Q", by: By = None,
                start: PeriodLike | None = None, end: PeriodLike | None = None,
                fiscal_year_start: int = 1, threshold: float = 50_000) -> pd.DataFrame:
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
    s, deals, won, _ = _deals("large_deals", data, freq, by, start, end, fiscal_year_start)
    return s.count(s.events(deals["closed_on"], where=won & (deals["amount"] >= threshold)))


@kpi
def average_deal_size(data: CrmData, /, *, freq: Freq = "Q", by: By = None,
                      start: PeriodLike | None = None, end: PeriodLike | None = None,
                      fiscal_year_start: int = 1) -> pd.DataFrame:
    """Mean ``amount`` of won deals closed in the period (numerator sum, denominator count).

    Examples
    --------
    >>> data = examples.deals()
    >>> average_deal_size(data)[["period", "numerator", "denominator", "value"]]
      period  numerator  denominator    value
    0 2024Q1    80000.0          2.0  40000.0
    1 2024Q2    10000.0          1.0  10000.0
    """
    s, deals, won, _ = _deals("average_deal_size", data, freq, by, start, end, fiscal_year_start)
    return s.ratio(s.events(deals["closed_on"], where=won, weights=deals["amount"]),
                   s.events(deals["closed_on"], where=won))
