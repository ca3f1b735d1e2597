"""Every KPI at once, in long format."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from repkpi.errors import OptionError
from repkpi.io.loading import CrmData
from repkpi.kpis.registry import KPIS, By, Window, check_window, executor_for, observed, stale_attrs
from repkpi.periods import Freq, PeriodLike

__all__ = ["compute"]


def compute(data: CrmData, kpis: Iterable[str] | None = None, *, freq: Freq = "Q", by: By = None,
            start: PeriodLike | None = None, end: PeriodLike | None = None,
            fiscal_year_start: int = 1, window: Window = "period") -> pd.DataFrame:
    """Compute several KPIs (all by default) into one long frame.

    Parameters
    ----------
    data : CrmData
    kpis : iterable of str, optional
        KPI names (keys of ``repkpi.KPIS``). By default every KPI that the
        loaded tables and ``by`` allow; the others are listed, with the
        reason, in ``result.attrs["skipped"]``.
    freq, by, start, end, fiscal_year_start, window
        As each KPI takes them; KPI options keep their defaults. ``window``
        gives every value over the period's span: ``"ytd"``, ``"qtd"``
        (``freq="M"``) or the N periods ending with it.

    Returns
    -------
    DataFrame
        Columns ``kpi``, ``period``, the ``by`` columns, ``numerator``,
        ``denominator``, ``value``; NA for the periods after the data's as-of
        date, which ``attrs["after_as_of"]`` lists (see
        :func:`~repkpi.kpis.registry.observed`); ``attrs["stale"]`` names the
        stale tables the KPIs read (table -> last recorded date).

    Raises
    ------
    OptionError
        An unknown KPI name, a window that names no span of ``freq``'s periods.
    MissingTableError, ColumnNotFoundError
        A KPI asked for by name cannot be computed on this data.

    Examples
    --------
    >>> import repkpi
    >>> data = repkpi.load_sample()
    >>> result = repkpi.compute(data, ["churn_rate", "csat"], freq="Y")
    >>> list(result.columns), sorted(result["kpi"].unique())
    (['kpi', 'period', 'numerator', 'denominator', 'value'], ['churn_rate', 'csat'])

    The trailing twelve months of every KPI, month by month:

    >>> ttm = repkpi.compute(data, ["revenue"], freq="M", window=12, start="2025-12", end="2025-12")
    >>> year = repkpi.compute(data, ["revenue"], freq="Y", start="2025", end="2025")
    >>> bool(abs(ttm["value"].iloc[0] - year["value"].iloc[0]) < 1e-6)
    True
    """
    explicit = kpis is not None
    names = list(KPIS) if kpis is None else [kpis] if isinstance(kpis, str) else list(kpis)
    unknown = [n for n in names if n not in KPIS]
    if unknown:
        raise OptionError(f"Unknown KPI(s) {unknown}.\nHint: the KPIs are {sorted(KPIS)}.")
    check_window(window, freq)
    common = dict(freq=freq, by=by, start=start, end=end, fiscal_year_start=fiscal_year_start,
                  window=window)
    # One run for all: the KPIs share grids and groups (and, on Dask, one pass over the data).
    results = executor_for(data).run(data, [(name, common) for name in names])
    frames, skipped = [], {}
    for name, result in zip(names, results, strict=True):
        if isinstance(result, Exception):
            if explicit:
                raise result
            skipped[name] = str(result).split("\n")[0]
            continue
        frames.append(result.assign(kpi=name))
    if not frames:
        out = pd.DataFrame(columns=["kpi", "period", "numerator", "denominator", "value"])
    else:
        out = pd.concat(frames, ignore_index=True)
        out = out[["kpi", *[c for c in out.columns if c != "kpi"]]]
    out = observed(out, data, common)
    out.attrs["skipped"] = skipped
    out.attrs.update(stale_attrs(data, [n for n in names if n not in skipped]))
    return out
