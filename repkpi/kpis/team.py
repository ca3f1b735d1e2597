"""Team KPIs, from the reps table.

>>> examples.reps().reps.shape[0] > 0
True
"""

from __future__ import annotations

import pandas as pd

from repkpi.errors import OptionError
from repkpi.kpis.declaration import Formula, Scope
from repkpi.kpis.registry import kpi

__all__ = ["senior_reps"]


@kpi(title="Senior representatives", table="reps", unit="count", kind="count", timing="state",
     needs=("reps.left_on",))
def senior_reps(s: Scope, *, years: int = 3) -> Formula:
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
    reps = s.frame
    return s.formula("count", s.active(reps["hired_on"] + pd.DateOffset(years=years),
                                     reps["left_on"], at="last"),
                     show=("hired_on", "left_on"))
