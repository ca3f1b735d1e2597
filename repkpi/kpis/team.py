"""Team KPIs, from the reps table.

>>> from repkpi.datasets import doctest_data as examples
>>> examples.reps().reps.shape[0] > 0
True
"""

from __future__ import annotations

import pandas as pd

from repkpi.datasets import doctest_data as examples  # noqa: F401 (the doctests use it)
from repkpi.errors import OptionError
from repkpi.kpis._engine import By, Scope, kpi
from repkpi.io.loading import CrmData
from repkpi.periods import Freq, PeriodLike

__all__ = ["senior_reps"]


@kpi
def senior_reps(data: CrmData, /, *, freq: Freq = "Q", by: By = None,
                start: PeriodLike | None = None, end: PeriodLike | None = None,
                fiscal_year_start: int = 1, years: int = 3) -> pd.DataFrame:
    """Reps employed on P.last with at least ``years`` of service (a count).

    Notes
    -----
    Employed on P.last: ``left_on`` empty or after P.last. Senior:
    ``hired_on + years <= P.last`` (calendar years; 29 February + 1 year is
    28 February).

    Examples
    --------
    >>> data = examples.reps()
    >>> senior_reps(data, freq="Q", start="2023Q1", end="2024Q1")[["period", "value"]]
      period  value
    0 2023Q1    1.0
    1 2023Q2    1.0
    2 2023Q3    1.0
    3 2023Q4    1.0
    4 2024Q1    2.0
    """
    if not isinstance(years, int) or years < 0:
        raise OptionError(f"senior_reps' years must be a whole number >= 0, got {years!r}.\n"
                          "Hint: years=3 counts reps with three years of service or more.")
    s = Scope(data, "senior_reps", "reps", freq, by, start, end, fiscal_year_start)
    reps = s.frame
    return s.count(s.active(reps["hired_on"] + pd.DateOffset(years=years), reps["left_on"],
                            at="last"))
