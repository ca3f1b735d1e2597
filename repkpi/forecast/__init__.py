"""Forecasts: what the data says about the time after its as-of date (forecast.md).

>>> from repkpi.forecast import fit_sbg
>>> round(fit_sbg([1000, 869, 743, 653, 593, 551, 517, 491]).beta, 3)
3.806
"""

from __future__ import annotations

from repkpi.forecast.renewals import renewals
from repkpi.forecast.risk import backtest_line, risk
from repkpi.forecast.sbg import SbgFit, fit_sbg
from repkpi.forecast.survival import survival

__all__ = [
    "SbgFit",
    "backtest_line",
    "fit_sbg",
    "renewals",
    "risk",
    "survival",
]
