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
