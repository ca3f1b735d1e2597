"""Satisfaction KPIs, from the surveys table (a response belongs to the period of its UTC date).

Examples use these responses:

>>> examples.surveys().surveys.shape[0] > 0
True
"""

from __future__ import annotations

from repkpi.kpis.declaration import Formula, Scope
from repkpi.kpis.registry import kpi

__all__ = ["csat", "csat_mean", "nps"]

_SHOW = ("account_id", "responded_at", "csat", "nps")


@kpi(title="CSAT", table="surveys", unit="percent", kind="ratio", interval="wilson",
     needs=("surveys.csat",))
def csat(s: Scope) -> Formula:
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
    scores = s.frame["csat"]
    return s.formula("ratio", s.events(s.frame["responded_at"], where=scores >= 4),
                     s.events(s.frame["responded_at"], where=scores.notna()), show=_SHOW)


@kpi(title="Mean CSAT score", label="Mean CSAT", table="surveys", unit="score", kind="ratio",
     counted=True, needs=("surveys.csat",))
def csat_mean(s: Scope) -> Formula:
    """Mean ``csat`` of the period's responses (numerator sum, denominator count).

    Examples
    --------
    >>> data = examples.surveys()
    >>> csat_mean(data)[["period", "numerator", "denominator", "value"]]
      period  numerator  denominator  value
    0 2024Q1       12.0          3.0    4.0
    1 2024Q2        4.0          1.0    4.0
    """
    scores = s.frame["csat"]
    present = scores.notna()
    return s.formula("ratio",
                     s.events(s.frame["responded_at"], where=present, weights=scores.fillna(0)),
                     s.events(s.frame["responded_at"], where=present), show=_SHOW)


@kpi(title="NPS", table="surveys", unit="score", kind="ratio", counted=True, scale=100.0,
     needs=("surveys.nps",))
def nps(s: Scope) -> Formula:
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
    scores, when = s.frame["nps"], s.frame["responded_at"]
    return s.formula("ratio", s.events(when, where=scores >= 9) - s.events(when, where=scores <= 6),
                     s.events(when, where=scores.notna()), scale=100.0, show=_SHOW)
