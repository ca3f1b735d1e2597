"""Groups out of line: a funnel plot's reading of a share of counts, group by group.

Each group's value (its reps' churn, its team's win rate) is set against the
whole's value p0 and the control limits a group of its size would stay
within by chance alone (Spiegelhalter 2005, Statistics in Medicine
24:1185): p0 +- z x sqrt(p0 (1 - p0) / n), at 95% (z = 1.96) and 99.8%
(z = 3.09). A group outside the 99.8% limits is out of line; one with fewer
than :data:`repkpi.goals.LOW_DATA` observations is never flagged.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from repkpi.errors import OptionError, RepkpiError
from repkpi.goals import LOW_DATA
from repkpi.io.loading import CrmData
from repkpi.kpis import KPIS, KpiSpec
from repkpi.kpis.detail import period_freq
from repkpi.kpis.registry import By, check_options, normalise_by, refuse_after_as_of
from repkpi.periods import Calendar, Freq, PeriodLike, period_label

__all__ = ["COLUMNS", "LIMITS", "control_limits", "outliers"]

LIMITS: dict[str, tuple[float, str]] = {"95": (1.96, "95%"), "998": (3.09, "99.8%")}
"""The funnel's limits: name (the columns ``low_<name>``, ``high_<name>``) -> (z, level as printed)."""

COLUMNS = ("value", "n", "p0", "low_95", "high_95", "low_998", "high_998", "flag", "low_data")
"""The columns of :func:`outliers` after the ``by`` columns."""


def control_limits(p0: float, n: np.ndarray | pd.Series | float, z: float,
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The funnel's limits for groups of ``n`` observations: p0 +- z sqrt(p0 (1 - p0) / n).

    Clipped to [0, 1]; NaN where ``n`` is 0 (no observation, no limit).

    Examples
    --------
    >>> low, high = control_limits(0.2, [100, 0], 1.96)   # 0.2 +- 1.96 x 0.04
    >>> [round(float(v), 4) for v in low], [round(float(v), 4) for v in high]
    ([0.1216, nan], [0.2784, nan])
    """
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = z * np.sqrt(p0 * (1 - p0) / n)
    spread = np.where(n > 0, spread, np.nan)
    return np.clip(p0 - spread, 0.0, 1.0), np.clip(p0 + spread, 0.0, 1.0)


def outliers(data: CrmData, kpi: str, /, *, period: PeriodLike, by: By,
             freq: Freq | None = None, fiscal_year_start: int = 1, **options: Any) -> pd.DataFrame:
    """The groups whose share lies out of line with the whole's, for one period.

    Parameters
    ----------
    data : CrmData
        Loaded data (or Dask data).
    kpi : str
        A name of :data:`repkpi.KPIS` whose value is a share of counted
        cases (churn, win rate, CSAT, SLA...: see
        :meth:`~repkpi.kpis.KpiSpec.share_of_counts`).
    period : period-like
        The period: ``"2026Q3"``, ``"2026-07"``, ``"2026"`` (fiscal labels
        with ``fiscal_year_start``) or a pandas Period; its length is the
        KPI's ``freq``.
    by : str or list of str
        The columns whose groups are compared (``"rep_id"``, ``"team"``).
    freq : {"M", "Q", "Y"}, optional
        The period length, when ``period`` is a date.
    fiscal_year_start : int
        Month the (fiscal) year starts in.
    **options
        The KPI's own options (``method="cohort"``, ``clock=``...).

    Returns
    -------
    DataFrame
        One row per group, in the KPI's order: the ``by`` columns, ``value``,
        ``n`` (its denominator), ``p0`` (the whole's value, computed without
        ``by``), ``low_95``, ``high_95``, ``low_998``, ``high_998`` (the
        limits for its ``n``, clipped to [0, 1]; NaN for n = 0), ``flag``
        (``"high"`` or ``"low"`` when the value lies outside the 99.8%
        limits, else ``""``) and ``low_data`` (fewer than 30 observations:
        never flagged). ``attrs`` holds ``kpi``, ``period`` and ``by``.

    Raises
    ------
    OptionError
        An unknown KPI, one that is no share of counts (a count, a sum, a
        median, NPS, ``csat_mean``, NRR, retention's default method), no
        ``by``, an option the KPI does not take, or a period that begins
        after the data's as-of date.
    RepkpiError
        The KPI has no value for the whole in the period.

    Notes
    -----
    With p0 the whole's value and n a group's denominator, the limits are
    p0 +- z x sqrt(p0 (1 - p0) / n) with z = 1.96 (95%) and z = 3.09
    (99.8%): the funnel plot of Spiegelhalter (2005), Statistics in
    Medicine 24:1185, whose limits narrow as n grows.

    Examples
    --------
    >>> import repkpi
    >>> data = repkpi.load_sample()
    >>> table = repkpi.outliers(data, "win_rate", period="2026Q2", by="team")
    >>> list(table.columns) == ["team", *COLUMNS]
    True
    >>> bool((table["low_998"] <= table["low_95"]).all())
    True
    """
    spec = _share(kpi, options)
    if not normalise_by(by):
        raise OptionError(f"outliers needs by= for {kpi}: the groups to set against the whole.\n"
                          "Hint: by='rep_id', by='team', by='region'...")
    check_options(spec, options, allowed=())
    if "ci" in options:
        raise OptionError(f"outliers takes no ci= for {kpi}: its limits are the funnel's.\n"
                          "Hint: leave ci= out; low_95 and high_95 are the 95% limits.")
    freq = freq or period_freq(period)
    chosen = Calendar(freq, fiscal_year_start).period(period)
    refuse_after_as_of(data, chosen, what="outliers")
    kwargs = dict(options, freq=freq, fiscal_year_start=fiscal_year_start, start=chosen, end=chosen)
    groups = KPIS[kpi](data, by=by, **kwargs)
    groups = groups[groups["period"] == chosen].reset_index(drop=True)
    whole = KPIS[kpi](data, **kwargs)
    whole = whole[whole["period"] == chosen]
    p0 = float(whole["value"].iloc[0]) if len(whole) else np.nan
    if np.isnan(p0):
        raise RepkpiError(f"{kpi} has no value in {period_label(chosen)} (nothing to count there), "
                          "so no group can be out of line with it.\nHint: choose a period with "
                          "data.")
    table = groups[normalise_by(by)].copy()
    value = groups["value"].astype(np.float64)
    n = groups["denominator"].astype(np.float64).fillna(0.0)
    table["value"], table["n"], table["p0"] = value, n, p0
    for name, (z, _) in LIMITS.items():
        table[f"low_{name}"], table[f"high_{name}"] = control_limits(p0, n, z)
    low_data = n < LOW_DATA
    firm = ~low_data & value.notna()
    table["flag"] = np.select([firm & (value > table["high_998"]), firm & (value < table["low_998"])],
                              ["high", "low"], default="")
    table["low_data"] = low_data
    table.attrs.update(kpi=kpi, period=chosen, by=normalise_by(by))
    return table


def _share(kpi: str, options: dict[str, Any]) -> KpiSpec:
    """The spec of ``kpi``; :class:`OptionError` when it is unknown or no share of counts."""
    if kpi not in KPIS:
        raise OptionError(f"Unknown KPI {kpi!r}.\nHint: the KPIs are {sorted(KPIS)}.")
    spec: KpiSpec = KPIS[kpi]
    if not spec.share_of_counts(options):
        shares = sorted(name for name, s in KPIS.items() if s.share_of_counts())
        why = ("with method='standard' its numerator (E - N) is not a subset of its denominator"
               if spec.proportion else "its value is not a share of counted cases")
        raise OptionError(f"outliers cannot take {kpi}: {why}, so the funnel's binomial limits "
                          f"do not hold for it.\nHint: outliers takes a share of counts: "
                          f"{', '.join(shares)}, or retention_rate with method='cohort'.")
    return spec
