"""Drill-down: the rows behind a KPI's value, from the same declaration as the value."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from repkpi.errors import OptionError
from repkpi.io.loading import CrmData
from repkpi.kpis.registry import KPIS, By, check_options, executor_for
from repkpi.periods import Freq, PeriodLike, pandas_freq, to_period

__all__ = ["detail", "period_freq"]

_LABELS = ((re.compile(r"^\d{4}$"), "Y"), (re.compile(r"^\d{4}-?Q[1-4]$", re.IGNORECASE), "Q"),
           (re.compile(r"^\d{4}-\d{1,2}$"), "M"))


def period_freq(period: PeriodLike) -> Freq:
    """The period length a label names: ``"2026"`` a year, ``"2026Q3"`` a quarter, ``"2026-07"`` a month.

    Examples
    --------
    >>> period_freq("2026Q3"), period_freq("2026-07"), period_freq("2026")
    ('Q', 'M', 'Y')
    """
    if isinstance(period, pd.Period):
        letter = period.freqstr[0]
        if letter in ("M", "Q", "Y"):
            return letter  # type: ignore[return-value]
        if letter == "A":
            return "Y"
    if isinstance(period, str):
        for pattern, freq in _LABELS:
            if pattern.match(period.strip()):
                return freq  # type: ignore[return-value]
    raise OptionError(f"Cannot tell the period length of {period!r}.\nHint: give a month "
                      "('2026-07'), a quarter ('2026Q3') or a year ('2026'), or pass freq=.")


def detail(data: CrmData, kpi: str, /, *, period: PeriodLike, by: By = None,
           freq: Freq | None = None, fiscal_year_start: int = 1, **options: Any) -> pd.DataFrame:
    """The rows behind a KPI's value in one period: which accounts, deals, tickets, contracts.

    Parameters
    ----------
    data : CrmData
        Loaded data (or Dask data: the rows of one period are gathered).
    kpi : str
        A name of :data:`repkpi.KPIS`.
    period : period-like
        ``"2026Q3"``, ``"2026-07"``, ``"2026"`` (fiscal labels with
        ``fiscal_year_start``), or a pandas Period. A period after the data's
        last date gives the forward view (the contracts due then).
    by : str or list of str, optional
        Columns to label each row with, as the KPI groups by them.
    freq : {"M", "Q", "Y"}, optional
        The period length, when ``period`` is a date.
    fiscal_year_start : int
    **options
        The KPI's own options (``threshold=``, ``targets=``...).

    Returns
    -------
    DataFrame
        One row per entity that counts in the period's numerator or
        denominator: ``period``, ``from_period`` (KPIs that compare with the
        previous period), ``table``, the row's id and the columns that decide
        it, the ``by`` columns, ``in_numerator``, ``in_denominator``,
        ``numerator_weight`` and ``denominator_weight`` (what the row adds to
        each side); ``hours`` for a median KPI.

    Notes
    -----
    Summed per (period, ``by`` group), ``numerator_weight`` gives the KPI's
    numerator and ``denominator_weight`` its denominator (0 for counts and
    sums, whose denominator is 1 by convention). For a median the rows are
    those that enter the median, and the median of ``hours`` is the value.

    Examples
    --------
    >>> import repkpi
    >>> data = repkpi.load_sample()
    >>> churned = detail(data, "churn_rate", period="2025Q3").query("in_numerator")
    >>> churned[["account_id", "rep_id", "churned_on"]].shape[1]
    3
    >>> value = repkpi.kpis.churn_rate(data, start="2025Q3", end="2025Q3")["numerator"].iloc[0]
    >>> bool(churned["numerator_weight"].sum() == value)
    True
    """
    if kpi not in KPIS:
        raise OptionError(f"Unknown KPI {kpi!r}.\nHint: the KPIs are {sorted(KPIS)}.")
    spec = KPIS[kpi]
    check_options(spec, options, allowed=())
    freq = freq or period_freq(period)
    wanted = to_period(period, pandas_freq(freq, fiscal_year_start),
                       fiscal_year_start=fiscal_year_start)
    kwargs = dict(options, freq=freq, by=by, start=wanted, end=wanted,
                  fiscal_year_start=fiscal_year_start)
    result = executor_for(data).detail(data, spec, kwargs, wanted)
    result.attrs["kpi"] = kpi
    return result
