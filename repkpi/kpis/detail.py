"""Drill-down: the rows behind a KPI's value, from the same declaration as the value."""

from __future__ import annotations

import re
from typing import Any, Literal

import pandas as pd

from repkpi._vector import rows_among
from repkpi.errors import OptionError
from repkpi.io.loading import CrmData
from repkpi.kpis.groups import positions
from repkpi.kpis.registry import (
    KPIS,
    By,
    Window,
    check_options,
    check_window,
    executor_for,
    refuse_after_as_of,
)
from repkpi.periods import Calendar, Freq, PeriodLike

__all__ = ["Only", "detail", "period_freq"]

Only = Literal["numerator", "rest"]
"""Which rows :func:`detail` keeps: those in the numerator, or the rest of the denominator."""

_NAMES = (("account_id", "accounts", "account_name", "account_name"),
          ("rep_id", "reps", "name", "rep_name"))
"""Names a person reads beside an id: (id column, table, its name column, the column shown)."""

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
           only: Only | None = None, freq: Freq | None = None, fiscal_year_start: int = 1,
           window: Window = "period", **options: Any) -> pd.DataFrame:
    """The rows behind a KPI's value in one period: which accounts, deals, tickets, contracts.

    Parameters
    ----------
    data : CrmData
        Loaded data (or Dask data: the rows of one period are gathered).
    kpi : str
        A name of :data:`repkpi.KPIS`.
    period : period-like
        ``"2026Q3"``, ``"2026-07"``, ``"2026"`` (fiscal labels with
        ``fiscal_year_start``), or a pandas Period. A period that begins after
        the data's as-of date gives the forward view of what is scheduled for
        the KPIs that have one (``renewal_rate``, ``renewal_value_rate``: the
        contracts due then, ``in_numerator`` for those a recorded contract
        already renews); the other KPIs refuse it.
    by : str or list of str, optional
        Columns to label each row with, as the KPI groups by them.
    only : {"numerator", "rest"}, optional
        ``"numerator"`` keeps the rows in the numerator; ``"rest"`` those in
        the denominator but not in the numerator (the accounts kept, the
        contracts due and not renewed, the tickets that breached).
    freq : {"M", "Q", "Y"}, optional
        The period length, when ``period`` is a date.
    fiscal_year_start : int
    window : {"period", "ytd", "qtd"} or int
        The span of the value, as the KPI takes it: the rows dated in the
        period's span (the year to date, the trailing N periods), the states
        at the span's opening and at ``P.last``.
    **options
        The KPI's own options (``threshold=``, ``targets=``...).

    Returns
    -------
    DataFrame
        One row per entity that counts in the period's numerator or
        denominator: ``period``, ``from_period`` (KPIs that compare with the
        previous period), ``table``, the row's id and the columns that decide
        it (``account_name`` beside ``account_id``, the rep's ``name`` as
        ``rep_name`` beside ``rep_id``), the ``by`` columns,
        ``in_numerator``, ``in_denominator``, ``numerator_weight`` and
        ``denominator_weight`` (what the row adds to each side); ``hours``
        for a median KPI.

    Raises
    ------
    OptionError
        An unknown KPI, an option it does not take, a bad ``only``, or a
        period after the as-of date for a KPI with no forward view.

    Notes
    -----
    Summed per (period, ``by`` group), ``numerator_weight`` gives the KPI's
    numerator and ``denominator_weight`` its denominator (0 for counts and
    sums, whose denominator is 1 by convention). For a median the rows are
    those that enter the median, and the median of ``hours`` is the value.
    The invariant holds for the periods up to the as-of date's: a forward
    view's KPI value is NA (the period is not lived).

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
    >>> kept = detail(data, "churn_rate", period="2025Q3", only="rest")
    >>> len(churned) + len(kept) == len(detail(data, "churn_rate", period="2025Q3"))
    True
    >>> list(kept.columns[kept.columns.get_loc("account_id"):][:2])
    ['account_id', 'account_name']

    Over a window, the rows of the span add up to the windowed value:

    >>> won = detail(data, "revenue", period="2025-09", window="ytd")
    >>> ytd = repkpi.kpis.revenue(data, freq="M", window="ytd", start="2025-09", end="2025-09")
    >>> bool(abs(won["numerator_weight"].sum() - ytd["numerator"].iloc[0]) < 1e-6)
    True
    >>> won["closed_on"].min() >= pd.Timestamp("2025-01-01")
    True
    """
    if kpi not in KPIS:
        raise OptionError(f"Unknown KPI {kpi!r}.\nHint: the KPIs are {sorted(KPIS)}.")
    spec = KPIS[kpi]
    check_options(spec, options, allowed=())
    if only not in (None, "numerator", "rest"):
        raise OptionError(f"only must be 'numerator' or 'rest', got {only!r}.\nHint: 'rest' keeps "
                          "the rows in the denominator but not in the numerator.")
    freq = freq or period_freq(period)
    check_window(window, freq)
    wanted = Calendar(freq, fiscal_year_start).period(period)
    if not spec.forward:
        ahead = " and ".join(name for name, s in KPIS.items() if s.forward)
        refuse_after_as_of(data, wanted, what=f"detail of {kpi}",
                           instead=f"the forward view of what is scheduled is {ahead}'s; ")
    kwargs = dict(options, freq=freq, by=by, start=wanted, end=wanted,
                  fiscal_year_start=fiscal_year_start, window=window)
    result = executor_for(data).detail(data, spec, kwargs, wanted)
    if only == "numerator":
        result = result[result["in_numerator"]].reset_index(drop=True)
    elif only == "rest":
        result = result[result["in_denominator"] & ~result["in_numerator"]].reset_index(drop=True)
    result = _with_names(data, result)
    result.attrs["kpi"] = kpi
    return result


def _with_names(data: Any, rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with the names a person reads beside their ids (missing where none is recorded).

    Only the names of the ids listed are gathered (on Dask data, in one pass).
    """
    found = [(id_column, table, name, shown) for id_column, table, name, shown in _NAMES
             if id_column in rows.columns and shown not in rows.columns]
    wanted = {}
    for id_column, table, name, _ in found:
        frame = getattr(data, table, None)
        if frame is not None and name in frame.columns:
            ids = rows[id_column].dropna().unique()
            wanted[table] = frame.loc[rows_among(frame[id_column], ids), [id_column, name]]
    gathered = executor_for(data).gather(data, wanted) if wanted else {}
    rows = rows.copy(deep=False)  # copy on write: the name columns are added, nothing copied
    for id_column, table, name, shown in found:
        names = gathered.get(table)
        if names is None:
            names = pd.DataFrame({id_column: pd.Series(dtype="str"), name: pd.Series(dtype="str")})
        names = names.drop_duplicates(id_column)
        # Looked up on the Arrow arrays (no Python string per id): -1, a missing name
        at = positions(rows[id_column], names[id_column])
        shown_names = names[name].astype("str").array.take(at, allow_fill=True)
        rows.insert(rows.columns.get_loc(id_column) + 1, shown,
                    pd.Series(shown_names, index=rows.index, dtype="str"))
    return rows
