"""Every KPI at once, in long format."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from repkpi.errors import ColumnNotFoundError, MissingTableError, OptionError
from repkpi.kpis._dask import cached_run, check, is_dask
from repkpi.kpis._engine import KPIS, By, sharing
from repkpi.io.loading import CrmData
from repkpi.periods import Freq, PeriodLike

__all__ = ["compute"]


def compute(data: CrmData, kpis: Iterable[str] | None = None, *, freq: Freq = "Q", by: By = None,
            start: PeriodLike | None = None, end: PeriodLike | None = None,
            fiscal_year_start: int = 1) -> pd.DataFrame:
    """Compute several KPIs (all by default) into one long frame.

    Parameters
    ----------
    data : CrmData
    kpis : iterable of str, optional
        KPI names (keys of ``repkpi.KPIS``). By default every KPI that the
        loaded tables and ``by`` allow; the others are listed, with the
        reason, in ``result.attrs["skipped"]``.
    freq, by, start, end, fiscal_year_start
        As each KPI takes them; KPI options keep their defaults.

    Returns
    -------
    DataFrame
        Columns ``kpi``, ``period``, the ``by`` columns, ``numerator``,
        ``denominator``, ``value``.

    Raises
    ------
    OptionError
        An unknown KPI name.
    MissingTableError, ColumnNotFoundError
        A KPI asked for by name cannot be computed on this data.

    Examples
    --------
    >>> import repkpi
    >>> data = repkpi.load_sample()
    >>> result = repkpi.compute(data, ["churn_rate", "csat"], freq="Y")
    >>> list(result.columns), sorted(result["kpi"].unique())
    (['kpi', 'period', 'numerator', 'denominator', 'value'], ['churn_rate', 'csat'])
    """
    explicit = kpis is not None
    names = list(KPIS) if kpis is None else [kpis] if isinstance(kpis, str) else list(kpis)
    unknown = [n for n in names if n not in KPIS]
    if unknown:
        raise OptionError(f"Unknown KPI(s) {unknown}.\nHint: the KPIs are {sorted(KPIS)}.")
    frames, skipped = [], {}
    if is_dask(data):
        frames, skipped = _on_dask(data, names, explicit, dict(
            freq=freq, by=by, start=start, end=end, fiscal_year_start=fiscal_year_start))
    else:
        frames, skipped = _on_pandas(data, names, explicit, freq, by, start, end,
                                     fiscal_year_start)
    if not frames:
        out = pd.DataFrame(columns=["kpi", "period", "numerator", "denominator", "value"])
    else:
        out = pd.concat(frames, ignore_index=True)
        out = out[["kpi", *[c for c in out.columns if c != "kpi"]]]
    out.attrs["skipped"] = skipped
    return out


def _on_pandas(data: CrmData, names: list[str], explicit: bool, freq: Freq, by: By,
               start: PeriodLike | None, end: PeriodLike | None,
               fiscal_year_start: int) -> tuple[list[pd.DataFrame], dict[str, str]]:
    frames, skipped = [], {}
    with sharing():  # the KPIs share grids, groups and intermediate results
        for name in names:
            try:
                result = KPIS[name](data, freq=freq, by=by, start=start, end=end,
                                    fiscal_year_start=fiscal_year_start)
            except (MissingTableError, ColumnNotFoundError, OptionError) as exc:
                if explicit:
                    raise
                skipped[name] = str(exc).split("\n")[0]
                continue
            frames.append(result.assign(kpi=name))
    return frames, skipped


def _on_dask(data: object, names: list[str], explicit: bool,
             kwargs: dict) -> tuple[list[pd.DataFrame], dict[str, str]]:
    """The KPIs of Dask data, in one pass; KPIs the data cannot support are skipped first."""
    usable, skipped = [], {}
    for name in names:
        try:
            check(data, name, kwargs)
        except (MissingTableError, ColumnNotFoundError, OptionError) as exc:
            if explicit:
                raise
            skipped[name] = str(exc).split("\n")[0]
            continue
        usable.append(name)
    results = cached_run(data, [(name, kwargs) for name in usable], checked=True)
    return [r.assign(kpi=name) for name, r in zip(usable, results, strict=True)], skipped
