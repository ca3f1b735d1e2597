"""Contract KPIs: renewals and revenue retention.

A contract is *active on day d* when ``start_date <= d <= end_date``. An
account's ARR on day d is the sum of ``annual_value`` of its contracts active
on d.

Examples use these contracts: C1 (1 200 a year) was renewed by C2 at 1 500;
C3 (1 000) was not renewed; C4 (400) started in 2024Q2.

>>> from repkpi.datasets import doctest_data as examples
>>> examples.contracts().contracts.shape[0] > 0
True
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from repkpi.datasets import doctest_data as examples  # noqa: F401 (the doctests use it)
from repkpi._vector import isin
from repkpi.kpis._engine import By, Scope, compact, kpi, partial_value, positions, shared
from repkpi.io.loading import CrmData
from repkpi.periods import Freq, PeriodLike

__all__ = ["gross_revenue_retention", "net_revenue_retention", "renewal_rate", "renewal_value_rate"]


def _renewals(name: str, data: CrmData, args: tuple, *, by_value: bool) -> pd.DataFrame:
    s = Scope(data, name, "contracts", *args)
    contracts = s.frame
    renewed = shared(("renewed", id(data)), lambda: isin(
        contracts["contract_id"], partial_value(("renewal_of",), lambda: contracts["renewal_of"])))
    weights = contracts["annual_value"] if by_value else None
    return s.ratio(s.events(contracts["end_date"], where=renewed, weights=weights),
                   s.events(contracts["end_date"], weights=weights))


@kpi
def renewal_rate(data: CrmData, /, *, freq: Freq = "Q", by: By = None,
                 start: PeriodLike | None = None, end: PeriodLike | None = None,
                 fiscal_year_start: int = 1) -> pd.DataFrame:
    """Share of the contracts due in the period that were renewed.

    Notes
    -----
    renewed / due: due = contracts with ``end_date`` in P; renewed = those of
    them whose ``contract_id`` some contract names in ``renewal_of``.

    Examples
    --------
    >>> data = examples.contracts()
    >>> renewal_rate(data, start="2024Q1", end="2024Q2")[["period", "numerator", "denominator"]]
      period  numerator  denominator
    0 2024Q1        1.0          1.0
    1 2024Q2        0.0          1.0
    """
    return _renewals("renewal_rate", data, (freq, by, start, end, fiscal_year_start), by_value=False)


@kpi
def renewal_value_rate(data: CrmData, /, *, freq: Freq = "Q", by: By = None,
                       start: PeriodLike | None = None, end: PeriodLike | None = None,
                       fiscal_year_start: int = 1) -> pd.DataFrame:
    """Annual value of the renewed contracts over that of the contracts due in the period.

    Examples
    --------
    >>> data = examples.contracts()
    >>> renewal_value_rate(data, freq="Y", start="2024", end="2024")[
    ...     ["period", "numerator", "denominator", "value"]]
      period  numerator  denominator     value
    0   2024     1200.0       2200.0  0.545455
    """
    return _renewals("renewal_value_rate", data, (freq, by, start, end, fiscal_year_start),
                     by_value=True)


def _arr(s: Scope) -> tuple[np.ndarray, ...]:
    """Per-period sums of ARR at P.first and P.last over the cohort, and of their minimum."""
    return shared(("arr", *s.key), lambda: _arr_sums(s))


def _arr_sums(s: Scope) -> tuple[np.ndarray, ...]:
    """Per-period sums of ARR at P.first and P.last over the cohort, and of their minimum.

    The cohort of P is the accounts with ARR on P.first > 0. Accounts are
    taken within their ``by`` group (a contract's own column may split one).
    """
    contracts = s.frame
    # An entity is an account within a group: a contract's own column may split an account.
    account = positions(contracts["account_id"], contracts["account_id"].drop_duplicates())
    keys, entity = compact(account * s.n_groups + s.codes)
    n = len(keys)
    group = keys % s.n_groups
    # ARR in whole cents: the running sums over contract starts and ends are then exact,
    # so an account whose contracts have all ended has ARR 0, not a rounding residue.
    cents = np.round(contracts["annual_value"].to_numpy(np.float64) * 100)

    def arr(at: str) -> np.ndarray:
        return s.active(contracts["start_date"], contracts["end_date"], at=at,
                        end_inclusive=True, codes=entity, n_groups=n, weights=cents) / 100

    arr_first, arr_last = arr("first"), arr("last")
    cohort = arr_first > 0
    slot = (np.arange(len(s.grid))[:, None] * s.n_groups + group[None, :]).reshape(-1)
    size = len(s.grid) * s.n_groups
    return tuple(
        np.bincount(slot, np.where(cohort, matrix, 0.0).reshape(-1), minlength=size)
        .reshape(len(s.grid), s.n_groups)
        for matrix in (arr_first, arr_last, np.minimum(arr_first, arr_last))
    )


@kpi
def net_revenue_retention(data: CrmData, /, *, freq: Freq = "Q", by: By = None,
                          start: PeriodLike | None = None, end: PeriodLike | None = None,
                          fiscal_year_start: int = 1) -> pd.DataFrame:
    """ARR on P.last over ARR on P.first, for the accounts with ARR on P.first.

    Notes
    -----
    cohort = accounts with ARR(a, P.first) > 0; numerator = sum ARR(a, P.last),
    denominator = sum ARR(a, P.first), over the cohort. Expansion raises it,
    contraction and churn lower it.

    Examples
    --------
    2024Q2: A1 goes 1 500 -> 1 500; A2 1 000 -> 400 (C3 ended, C4 started).

    >>> data = examples.contracts()
    >>> net_revenue_retention(data, start="2024Q2", end="2024Q2")[
    ...     ["period", "numerator", "denominator", "value"]]
      period  numerator  denominator  value
    0 2024Q2     1900.0       2500.0   0.76
    """
    s = Scope(data, "net_revenue_retention", "contracts", freq, by, start, end, fiscal_year_start)
    arr_first, arr_last, _ = _arr(s)
    return s.ratio(arr_last, arr_first)


@kpi
def gross_revenue_retention(data: CrmData, /, *, freq: Freq = "Q", by: By = None,
                            start: PeriodLike | None = None, end: PeriodLike | None = None,
                            fiscal_year_start: int = 1) -> pd.DataFrame:
    """Sum of min(ARR on P.last, ARR on P.first) over ARR on P.first, same cohort as NRR.

    Examples
    --------
    Over 2024: A1 goes 1 200 -> 1 500 (the expansion counts as 1 200) and
    A2 1 000 -> 400, so GRR = 1 600 / 2 200 while NRR = 1 900 / 2 200.

    >>> data = examples.contracts()
    >>> gross_revenue_retention(data, freq="Y", start="2024", end="2024")[
    ...     ["period", "numerator", "denominator", "value"]]
      period  numerator  denominator     value
    0   2024     1600.0       2200.0  0.727273
    """
    s = Scope(data, "gross_revenue_retention", "contracts", freq, by, start, end, fiscal_year_start)
    arr_first, _, kept = _arr(s)
    return s.ratio(kept, arr_first)
