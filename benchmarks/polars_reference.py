"""The deals KPIs that polars' lazy API expresses in a few lines, on the same CSV files.

A third side for the end-to-end benchmark (``bench_end_to_end``): polars
scans ``deals.csv`` (and ``accounts.csv`` for the region), casts the
columns it needs and computes, per quarter of ``closed_on`` (and region),
what the spec defines for the deals closed in a period: ``revenue`` (won
amount), ``win_rate`` (won / won or lost), ``average_deal_size`` (won
amount / won deals with an amount), ``large_deals`` (won, amount at least
50,000) and ``cross_sell_rate`` (won / closed among cross-sell and upsell
deals). Only won and lost deals are read: an open deal's ``closed_on`` is
its expected close date, after the data's end. It validates nothing and
keeps no period without a closed deal: it is
the work a hand-written query does, not a loader. The results are in the
long form of ``repkpi.compute`` for :func:`benchmarks.agreement.mismatches`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import polars as pl

KPIS = ("revenue", "win_rate", "average_deal_size", "large_deals", "cross_sell_rate")
LARGE_DEAL = 50_000


def _deals(folder: Path, by: str | None) -> pl.LazyFrame:
    deals = pl.scan_csv(folder / "deals.csv", schema_overrides={"amount": pl.Float64},
                        infer_schema=False).with_columns(
        pl.col("amount").cast(pl.Float64),
        pl.col("closed_on").str.to_date("%Y-%m-%d", strict=False))
    if by is not None:
        accounts = pl.scan_csv(folder / "accounts.csv", infer_schema=False).select(
            "account_id", by)
        deals = deals.join(accounts, on="account_id", how="left")
    # An open deal's closed_on is its expected close date (data-model.md): no close happened.
    return deals.filter(pl.col("closed_on").is_not_null() & pl.col("stage").is_in(["won", "lost"]))


def compute(folder: str | os.PathLike[str], *, by: str | None = None) -> pd.DataFrame:
    """The five deals KPIs, quarterly (and by ``by``, an accounts column), in long form."""
    won = pl.col("stage") == "won"
    closed = pl.col("stage").is_in(["won", "lost"])
    xsell = pl.col("deal_type").is_in(["cross_sell", "upsell"])
    amount = pl.col("amount")
    keys = ["period", *([by] if by else [])]
    sums = (_deals(Path(folder), by)
            .with_columns(period=pl.format("{}Q{}", pl.col("closed_on").dt.year(),
                                           pl.col("closed_on").dt.quarter()))
            .group_by(keys)
            .agg(won_amount=amount.filter(won).sum(),
                 won=won.sum().cast(pl.Float64),
                 closed=closed.sum().cast(pl.Float64),
                 won_with_amount=(won & amount.is_not_null()).sum().cast(pl.Float64),
                 large=(won & (amount >= LARGE_DEAL)).sum().cast(pl.Float64),
                 xsell_won=(won & xsell).sum().cast(pl.Float64),
                 xsell_closed=(closed & xsell).sum().cast(pl.Float64))
            .collect()
            .to_pandas())
    one = pd.Series(1.0, index=sums.index)
    parts = {"revenue": (sums["won_amount"], one),
             "win_rate": (sums["won"], sums["closed"]),
             "average_deal_size": (sums["won_amount"], sums["won_with_amount"]),
             "large_deals": (sums["large"], one),
             "cross_sell_rate": (sums["xsell_won"], sums["xsell_closed"])}
    frames = []
    for name, (numerator, denominator) in parts.items():
        ratio = denominator is not one
        value = (numerator / denominator.where(denominator != 0)) if ratio else numerator
        frames.append(sums[keys].assign(kpi=name, numerator=numerator, denominator=denominator,
                                        value=value))
    return pd.concat(frames, ignore_index=True)[["kpi", *keys, "numerator", "denominator", "value"]]
