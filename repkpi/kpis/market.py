"""Market KPIs: our won-deal revenue against the competitors in the market table.

Our revenue in (P, region) is ``revenue`` by the account's region; the market
total is ours plus every competitor's ``revenue`` for (P, region). ``by`` is
None (all regions together) or ``"region"`` (the market table's regions).
``freq`` is the market table's granularity or coarser: quarters sum to years.
Where the market table has no row for (P, region), share, change and rank are
NaN: without competitors' figures there is no market to compare with.

Examples use two regions with two competitors each:

>>> from repkpi.datasets import doctest_data as examples
>>> examples.market().market.shape[0] > 0
True
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from repkpi.datasets import doctest_data as examples  # noqa: F401 (the doctests use it)
from repkpi.errors import OptionError
from repkpi.kpis._engine import By, Scope, kpi, lookups, positions, shift
from repkpi.io.loading import CrmData
from repkpi.periods import Freq, PeriodLike, day_numbers, pandas_freq

__all__ = ["market_rank", "market_share", "market_share_delta"]

_ORDER = {"M": 0, "Q": 1, "Y": 2}


class _Market:
    """Our revenue, the competitors' total and the companies' revenue per (period, group)."""

    def __init__(self, name: str, data: CrmData, freq: Freq, by: By, start: PeriodLike | None,
                 end: PeriodLike | None, fiscal_year_start: int) -> None:
        if by not in (None, "region", ["region"], ("region",)):
            raise OptionError(f"{name} takes by=None or by='region', got by={by!r}.\n"
                              "Hint: the market table gives competitors' revenue per region only.")
        pfreq = pandas_freq(freq, fiscal_year_start)
        market = data.market
        if market is None:  # let Scope name the missing table
            Scope(data, name, "market", freq, None, start, end, fiscal_year_start)
        grain = "Q" if len(market) and market["period"].iloc[0].find("Q") > 0 else "M"
        if _ORDER[freq] < _ORDER[grain]:
            raise OptionError(f"{name}: freq={freq!r} is finer than the market table's periods "
                              f"({'quarters' if grain == 'Q' else 'months'}).\n"
                              "Hint: use freq='Q' or 'Y' with quarterly market data.")
        periods = pd.PeriodIndex(market["period"], freq=grain)
        starts = pd.Series(periods.start_time, index=market.index)
        ends = pd.Series(periods.end_time.normalize(), index=market.index)
        split = starts.dt.to_period(pfreq) != ends.dt.to_period(pfreq)
        if split.any():
            raise OptionError(f"{name}: the market period {market['period'][split].iloc[0]} "
                              f"straddles two periods of freq={freq!r} with fiscal_year_start="
                              f"{fiscal_year_start}.\nHint: with quarterly market data, fiscal "
                              "years must start in January, April, July or October.")
        needs = ["deals", "accounts"] if by else ["deals"]
        s = Scope(data, name, "market", freq, by, start, end, fiscal_year_start, reads=needs,
                  grid_dates=[starts])
        deals = data.deals
        if by:
            accounts = data.accounts
            account = positions(deals["account_id"], accounts["account_id"], memo=lookups(data))
            region = positions(accounts["region"], s.keys["region"])  # market region of each account
            codes = np.where(account >= 0, region[np.maximum(account, 0)], -1).astype(np.float64)
            codes[codes < 0] = np.nan
        else:
            codes = np.zeros(len(deals), dtype=np.int64)
        self.scope = s
        self.ours = s.events(deals["closed_on"], where=deals["stage"] == "won",
                             weights=deals["amount"], codes=codes)
        self.theirs = s.events(starts, weights=market["revenue"])
        self.covered = s.events(starts) > 0
        pos = s.grid.locate(day_numbers(starts))
        self.companies = (pd.DataFrame({"pos": pos, "group": s.codes, "company": market["company"],
                                        "revenue": market["revenue"]})
                          .groupby(["pos", "group", "company"], sort=False)["revenue"].sum()
                          .reset_index())

    def share(self) -> tuple[np.ndarray, np.ndarray]:
        total = self.ours + self.theirs
        return np.where(self.covered, self.ours, np.nan), np.where(self.covered, total, np.nan)


def _market_share(name: str, args: tuple) -> tuple[Scope, np.ndarray, np.ndarray]:
    market = _Market(name, *args)
    return (market.scope, *market.share())


@kpi
def market_share(data: CrmData, /, *, freq: Freq = "Q", by: By = None,
                 start: PeriodLike | None = None, end: PeriodLike | None = None,
                 fiscal_year_start: int = 1) -> pd.DataFrame:
    """Our revenue over the market total (ours plus the competitors').

    Examples
    --------
    >>> data = examples.market()
    >>> market_share(data, by="region")[["period", "region", "numerator", "denominator"]]
      period region  numerator  denominator
    0 2024Q1  north      300.0       1000.0
    1 2024Q1  south      100.0        200.0
    2 2024Q2  north      200.0       1000.0
    3 2024Q2  south        0.0        100.0
    >>> market_share(data, freq="Y")[["period", "numerator", "denominator", "value"]]
      period  numerator  denominator  value
    0   2024      600.0       2300.0  0.26087
    """
    s, ours, total = _market_share("market_share", (data, freq, by, start, end, fiscal_year_start))
    return s.ratio(ours, total)


@kpi
def market_share_delta(data: CrmData, /, *, freq: Freq = "Q", by: By = None,
                       start: PeriodLike | None = None, end: PeriodLike | None = None,
                       fiscal_year_start: int = 1) -> pd.DataFrame:
    """Change of market share over the previous period, in share points (0.012 = 1.2 points).

    Notes
    -----
    share(P) - share(P-1); NaN for the first period. Numerator and denominator
    are NA: a difference of ratios does not re-aggregate.

    Examples
    --------
    Q1: 400 / 1 200 = 1/3; Q2: 200 / 1 100 = 2/11.

    >>> data = examples.market()
    >>> market_share_delta(data)[["period", "value"]].round({"value": 6})
      period     value
    0 2024Q1       NaN
    1 2024Q2 -0.151515
    """
    s, ours, total = _market_share("market_share_delta",
                                   (data, freq, by, start, end, fiscal_year_start))
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(total > 0, ours / np.where(total > 0, total, 1.0), np.nan)
    return s.values_only(share - shift(share))


@kpi
def market_rank(data: CrmData, /, *, freq: Freq = "Q", by: By = None,
                start: PeriodLike | None = None, end: PeriodLike | None = None,
                fiscal_year_start: int = 1) -> pd.DataFrame:
    """Our rank in the market: 1 + the number of competitors with more revenue than ours.

    Notes
    -----
    With ``by=None`` each competitor's revenue is its total over the regions.

    Examples
    --------
    In Q2 north, X (500) and Y (300) both beat our 200:

    >>> data = examples.market()
    >>> market_rank(data, by="region")[["period", "region", "value"]]
      period region  value
    0 2024Q1  north    2.0
    1 2024Q1  south    1.0
    2 2024Q2  north    3.0
    3 2024Q2  south    3.0
    >>> market_rank(data)["value"].tolist()
    [2.0, 3.0]
    """
    market = _Market("market_rank", data, freq, by, start, end, fiscal_year_start)
    s, rivals = market.scope, market.companies
    pos, group = rivals["pos"].to_numpy(), rivals["group"].to_numpy()
    ahead = rivals["revenue"].to_numpy() > market.ours[pos, group]
    rank = 1.0 + s.tally(pos, ahead, codes=group)
    return s.count(np.where(market.covered, rank, np.nan))
