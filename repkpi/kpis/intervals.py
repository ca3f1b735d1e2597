"""Confidence intervals for KPIs that are shares of counted cases, and for their changes."""

from __future__ import annotations

from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from repkpi.errors import OptionError

ArrayLike = np.ndarray | pd.Series | list[Any]
"""Counts, one per pair: an array, a Series or a list."""

__all__ = ["change_interval", "newcombe_interval", "wilson_interval"]


def wilson_interval(successes: np.ndarray | pd.Series, trials: np.ndarray | pd.Series,
                    ci: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a proportion; NaN where there are no trials.

    The bounds lie in the proportion's range [0, 1]: the lower bound is
    exactly 0 when there is no success, the upper exactly 1 when every
    trial is one (the formula gives them only to rounding).

    Examples
    --------
    >>> lower, upper = wilson_interval(np.array([8, 0, 5]), np.array([10, 5, 5]))
    >>> [round(float(v), 4) for v in lower], [round(float(v), 4) for v in upper]
    ([0.4902, 0.0, 0.5655], [0.9433, 0.4345, 1.0])
    >>> float(lower[1]), float(upper[2])
    (0.0, 1.0)
    """
    if not 0 < ci < 1:
        raise OptionError(f"ci must be between 0 and 1, got {ci!r}.\nHint: ci=0.95.")
    x = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    z = NormalDist().inv_cdf(1 - (1 - ci) / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        lower = np.where(x <= 0, 0.0, np.clip(centre - half, 0, 1))
        upper = np.where(x >= n, 1.0, np.clip(centre + half, 0, 1))
    lower = np.where(n > 0, lower, np.nan)
    upper = np.where(n > 0, upper, np.nan)
    return lower, upper


def newcombe_interval(successes: ArrayLike, trials: ArrayLike, successes_before: ArrayLike,
                      trials_before: ArrayLike, ci: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's hybrid score interval of the change of a proportion, p1 - p0, pair by pair.

    The two proportions, p1 = ``successes`` / ``trials`` and p0 =
    ``successes_before`` / ``trials_before``, are independent samples (two
    periods, or a period and the same period a year earlier). NaN where
    either side has no trials.

    Parameters
    ----------
    successes, trials : array-like
        The counts behind p1 (this period), one pair per element.
    successes_before, trials_before : array-like
        The counts behind p0 (the period compared with), as many.
    ci : float
        Confidence level.

    Returns
    -------
    tuple of ndarray
        The lower and upper bounds of p1 - p0.

    Notes
    -----
    Method 10 of Newcombe (1998), Statistics in Medicine 17:873, built on
    the Wilson score intervals [l1, u1] of p1 and [l0, u0] of p0
    (:func:`wilson_interval`):

    - lower = (p1 - p0) - sqrt((p1 - l1)^2 + (u0 - p0)^2)
    - upper = (p1 - p0) + sqrt((u1 - p1)^2 + (p0 - l0)^2)

    It agrees with statsmodels' ``confint_proportions_2indep(...,
    method="newcomb", compare="diff")``.

    Examples
    --------
    Newcombe's example (a): 56/70 against 48/80, a change of 0.2:

    >>> lower, upper = newcombe_interval([56, 9], [70, 10], [48, 3], [80, 10])
    >>> [round(float(v), 4) for v in lower], [round(float(v), 4) for v in upper]
    ([0.0524, 0.1705], [0.3339, 0.809])
    >>> newcombe_interval([1], [4], [0], [0])[0]
    array([nan])
    """
    x1, n1, x0, n0 = (_floats(v) for v in (successes, trials, successes_before, trials_before))
    low1, high1 = wilson_interval(x1, n1, ci)
    low0, high0 = wilson_interval(x0, n0, ci)
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p0 = x1 / n1, x0 / n0
    change = p1 - p0
    lower = change - np.sqrt((p1 - low1) ** 2 + (high0 - p0) ** 2)
    upper = change + np.sqrt((high1 - p1) ** 2 + (p0 - low0) ** 2)
    return lower, upper


def change_interval(successes: ArrayLike, trials: ArrayLike, successes_before: ArrayLike,
                    trials_before: ArrayLike, *, share: bool, suffix: str = "",
                    ci: float = 0.95) -> pd.DataFrame:
    """Whether a change is real: ``change<suffix>_low``, ``change<suffix>_high``, ``significant<suffix>``.

    The bounds are :func:`newcombe_interval`'s; ``significant`` is True when
    the interval excludes 0, False when it holds 0, NA without one. A KPI
    that is no share of counts (``share=False``: a sum, a median, NPS, a
    value-weighted ratio) has NA in all three.

    Parameters
    ----------
    successes, trials, successes_before, trials_before : array-like
        As :func:`newcombe_interval`'s.
    share : bool
        Whether the value is a share of counted cases
        (:meth:`repkpi.kpis.KpiSpec.share_of_counts`).
    suffix : str
        Added to the column names: ``""`` against the period before,
        ``"_yoy"`` against a year ago.
    ci : float
        Confidence level.

    Returns
    -------
    DataFrame
        One row per pair, in order, with a default index.

    Examples
    --------
    >>> change_interval([9, 5], [10, 10], [3, 5], [10, 10], share=True)
       change_low  change_high  significant
    0    0.170523     0.809018         True
    1   -0.372514     0.372514        False
    >>> change_interval([9], [10], [3], [10], share=False, suffix="_yoy")["significant_yoy"].tolist()
    [<NA>]
    """
    lower, upper = newcombe_interval(successes, trials, successes_before, trials_before, ci)
    if not share:
        lower = upper = np.full(len(lower), np.nan)
    known = ~np.isnan(lower) & ~np.isnan(upper)
    significant = pd.array((lower > 0) | (upper < 0), dtype="boolean")
    significant[~known] = pd.NA
    return pd.DataFrame({f"change{suffix}_low": lower, f"change{suffix}_high": upper,
                         f"significant{suffix}": significant})


def _floats(values: ArrayLike) -> np.ndarray:
    """``values`` as a float array, NaN for a missing value (NaN, None or pd.NA)."""
    return pd.array(np.asarray(values, dtype=object).ravel(), dtype="Float64").to_numpy(
        dtype=np.float64, na_value=np.nan)
