"""Satisfaction KPIs, from the surveys table (a response belongs to the period of its UTC date).

Examples use these responses:

>>> from repkpi.datasets import doctest_data as examples
>>> examples.surveys().surveys.shape[0] > 0
True
"""

from __future__ import annotations

import pandas as pd

from repkpi.datasets import doctest_data as examples  # noqa: F401 (the doctests use it)
from repkpi.kpis._engine import By, Scope, kpi
from repkpi.io.loading import CrmData
from repkpi.periods import Freq, PeriodLike

__all__ = ["csat", "csat_mean", "nps"]


@kpi
def csat(data: CrmData, /, *, freq: Freq = "Q", by: By = None, start: PeriodLike | None = None,
         end: PeriodLike | None = None, fiscal_year_start: int = 1) -> pd.DataFrame:
    """Share of the period's responses with a ``csat`` of 4 or 5, among those with a ``csat``.

    Examples
    --------
    The response at 23:30 on 31 March at -02:00 is 01:30 UTC on 1 April (Q2):

    >>> data = examples.surveys()
    >>> csat(data)[["period", "numerator", "denominator", "value"]]
      period  numerator  denominator     value
    0 2024Q1        2.0          3.0  0.666667
    1 2024Q2        1.0          1.0  1.000000
    """
    s = Scope(data, "csat", "surveys", freq, by, start, end, fiscal_year_start)
    scores = s.frame["csat"]
    return s.ratio(s.events(s.frame["responded_at"], where=scores >= 4),
                   s.events(s.frame["responded_at"], where=scores.notna()))


@kpi
def csat_mean(data: CrmData, /, *, freq: Freq = "Q", by: By = None,
              start: PeriodLike | None = None, end: PeriodLike | None = None,
              fiscal_year_start: int = 1) -> pd.DataFrame:
    """Mean ``csat`` of the period's responses (numerator sum, denominator count).

    Examples
    --------
    >>> data = examples.surveys()
    >>> csat_mean(data)[["period", "numerator", "denominator", "value"]]
      period  numerator  denominator  value
    0 2024Q1       12.0          3.0    4.0
    1 2024Q2        4.0          1.0    4.0
    """
    s = Scope(data, "csat_mean", "surveys", freq, by, start, end, fiscal_year_start)
    scores = s.frame["csat"]
    present = scores.notna()
    return s.ratio(s.events(s.frame["responded_at"], where=present, weights=scores.fillna(0)),
                   s.events(s.frame["responded_at"], where=present))


@kpi
def nps(data: CrmData, /, *, freq: Freq = "Q", by: By = None, start: PeriodLike | None = None,
        end: PeriodLike | None = None, fiscal_year_start: int = 1) -> pd.DataFrame:
    """Net promoter score: 100 x (promoters - detractors) / responses with an ``nps``.

    Notes
    -----
    Promoters score 9-10, detractors 0-6. numerator = promoters - detractors,
    denominator = responses with an ``nps``; value in -100..100.

    Examples
    --------
    >>> data = examples.surveys()
    >>> nps(data)[["period", "numerator", "denominator", "value"]]
      period  numerator  denominator  value
    0 2024Q1        0.0          3.0    0.0
    1 2024Q2        1.0          1.0  100.0
    """
    s = Scope(data, "nps", "surveys", freq, by, start, end, fiscal_year_start)
    scores, when = s.frame["nps"], s.frame["responded_at"]
    return s.ratio(s.events(when, where=scores >= 9) - s.events(when, where=scores <= 6),
                   s.events(when, where=scores.notna()), scale=100.0)
