"""Market KPIs: our won-deal revenue against the competitors in the market table.

Our revenue in (P, region) is ``revenue`` by the account's region; the market
total is ours plus every competitor's ``revenue`` for (P, region). ``by`` is
None (all regions together) or ``"region"`` (the market table's regions).
``freq`` is the market table's granularity or coarser: quarters sum to years.
Where the market table has no row for (P, region), share, change and rank are
NaN: without competitors' figures there is no market to compare with.

Examples use two regions with two competitors each:

>>> examples.market().market.shape[0] > 0
True
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from repkpi.errors import OptionError
from repkpi.kpis.declaration import Formula, Pairs, Scope, Term
from repkpi.kpis.groups import lookups, positions
from repkpi.kpis.registry import kpi
from repkpi.periods import day_numbers

__all__ = ["OURS", "market_rank", "market_share", "market_share_delta", "our_revenue"]

_ORDER = {"M": 0, "Q": 1, "Y": 2}
OURS = ("market", "ours")
"""Key of :attr:`WholeFacts.known <repkpi.kpis.declaration.WholeFacts.known>` that gives our revenue per
(period, group) of the market grid, found on the whole data (the Dask executor sums it over
the partitions): the market KPIs then read no deals."""


class _Market:
    """Our won deals, the competitors' rows and the companies' revenue per (period, group)."""

    def __init__(self, s: Scope) -> None:
        name, data, request = s.name, s.data, s.request
        freq, pfreq = request.freq, request.pfreq
        market = data.market
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
                              f"{request.fiscal_year_start}.\nHint: with quarterly market data, fiscal "
                              "years must start in January, April, July or October.")
        needs = ["deals", "accounts"] if request.by else ["deals"]
        s = Scope(data, name, "market", request, reads=needs, grid_dates=[starts],
                  whole=s.whole, cache=s.cache)
        deals = data.deals
        if request.by:
            accounts = data.accounts
            account = positions(deals["account_id"], accounts["account_id"], memo=lookups(data))
            region = positions(accounts["region"], s.keys["region"])  # market region of each account
            codes = np.where(account >= 0, region[np.maximum(account, 0)], -1).astype(np.float64)
            codes[codes < 0] = np.nan
        else:
            codes = np.zeros(len(deals), dtype=np.int64)
        self.scope = s
        self.ours = s.events(deals["closed_on"], where=deals["stage"] == "won",
                             weights=deals["amount"].fillna(0.0), codes=codes, frame=deals,
                             table="deals")
        given = s.whole.known.get(OURS) if s.whole is not None else None
        if given is not None:  # summed over the partitions of Dask data: the term's array
            self.ours.__dict__["_array"] = given
        self.theirs = s.events(starts, weights=market["revenue"])
        # Over a window, a span is covered when each of its periods is.
        self.covered = s.throughout(s.events(starts).per_period() > 0)
        row, pos = s.place(s.grid.locate(day_numbers(starts)))  # each row in every span
        self.companies = (pd.DataFrame({"pos": pos, "group": s.codes[row],
                                        "company": market["company"].to_numpy()[row],
                                        "revenue": market["revenue"].to_numpy()[row]})
                          .groupby(["pos", "group", "company"], sort=False)["revenue"].sum()
                          .reset_index())

    def share(self, kind: str) -> Formula:
        """Our revenue over ours plus the competitors', where the market table covers the cell."""
        ours: Term = self.ours
        return self.scope.formula(kind, ours, ours + self.theirs, defined=self.covered,
                                  show=("revenue",))


def our_revenue(s: Scope) -> np.ndarray:
    """Our won-deal revenue per (period, group) of the market grid (the scope of a market KPI).

    Additive over the deals: on Dask data, the sum over partitions is what
    :data:`OURS` gives the market KPIs.
    """
    return _Market(s).ours.cached_array()


@kpi(title="Market share", table="market", unit="percent", kind="ratio", route="market",
     reads=("deals",), by_columns=("region",), needs=("deals.closed_on", "deals.amount"))
def market_share(s: Scope) -> Formula:
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
    return _Market(s).share("ratio")


@kpi(title="Market share change (points)", label="Share change", table="market", unit="points",
     kind="difference", timing="compare", route="market", reads=("deals",), by_columns=("region",),
     needs=("deals.closed_on", "deals.amount"))
def market_share_delta(s: Scope) -> Formula:
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
    return _Market(s).share("difference")


@kpi(title="Market rank", table="market", unit="rank", kind="rank", route="market",
     reads=("deals",), by_columns=("region",), needs=("deals.closed_on", "deals.amount"))
def market_rank(s: Scope) -> Formula:
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
    market = _Market(s)
    s, rivals = market.scope, market.companies
    pos, group = rivals["pos"].to_numpy(), rivals["group"].to_numpy()
    ours = market.ours.cached_array()
    ahead = rivals[rivals["revenue"].to_numpy() > ours[pos, group]]
    # Rank = 1 + rivals ahead: a row per rival ahead, and our own row, weigh 1 each.
    cell, code = np.nonzero(np.ones_like(ours, dtype=bool))
    us = pd.DataFrame({"pos": cell, "group": code, "company": "(us)", "revenue": ours[cell, code]})
    rows = pd.concat([ahead, us], ignore_index=True)
    rows = rows[rows["pos"] >= 0].reset_index(drop=True)
    # Ranked over all regions together, a company's row holds its total: no one region.
    region = (s.keys["region"].take(rows["group"]).to_numpy() if s.keys is not None
              else pd.Series(pd.NA, index=rows.index, dtype="str"))
    shown = pd.DataFrame({"region": region, "company": rows["company"], "revenue": rows["revenue"]})
    term = Pairs(s, np.arange(len(rows)), rows["pos"].to_numpy(), codes=rows["group"].to_numpy(),
                 frame=shown, table="market")
    return s.formula("rank", term, defined=market.covered, show=("revenue",))
