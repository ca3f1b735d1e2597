"""Confidence intervals for KPIs that are shares of counted cases."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pandas as pd

from repkpi.errors import OptionError

__all__ = ["wilson_interval"]


def wilson_interval(successes: np.ndarray | pd.Series, trials: np.ndarray | pd.Series,
                    ci: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a proportion; NaN where there are no trials.

    Examples
    --------
    >>> lower, upper = wilson_interval(np.array([8]), np.array([10]))
    >>> round(float(lower[0]), 4), round(float(upper[0]), 4)
    (0.4902, 0.9433)
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
        lower = np.where(n > 0, np.clip(centre - half, 0, 1), np.nan)
        upper = np.where(n > 0, np.clip(centre + half, 0, 1), np.nan)
    return lower, upper
