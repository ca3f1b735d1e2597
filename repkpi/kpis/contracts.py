"""Contract KPIs: renewals and revenue retention.

A contract is *active on day d* when ``start_date <= d <= end_date``. An
account's ARR on day d is the sum of ``annual_value`` of its contracts active
on d.

Examples use these contracts: C1 (1 200 a year) was renewed by C2 at 1 500;
C3 (1 000) was not renewed; C4 (400) started in 2024Q2.

>>> examples.contracts().contracts.shape[0] > 0
True
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from repkpi.kpis.declaration import Formula, Matrix, Scope, running
from repkpi.kpis.groups import compact, positions
from repkpi.kpis.registry import kpi
from repkpi.periods import NAT, day_numbers

__all__ = ["gross_revenue_retention", "net_revenue_retention", "renewal_rate", "renewal_value_rate"]


_SHOW = ("account_id", "start_date", "end_date", "annual_value")


def _renewals(s: Scope, *, by_value: bool) -> Formula:
    contracts = s.frame
    renewals = s.fact(("renewals",), lambda: contracts.loc[contracts["renewal_of"].notna(),
                                                           ["contract_id", "renewal_of"]])
    first = renewals.drop_duplicates("renewal_of")  # the contract that renews each one
    where = positions(contracts["contract_id"], first["renewal_of"])
    renewed = where >= 0
    renewed_by = first["contract_id"].reset_index(drop=True).reindex(where).where(renewed)
    weights = contracts["annual_value"] if by_value else None
    columns = {"renewed_by": renewed_by.reset_index(drop=True)}
    return s.formula("ratio",
                     s.events(contracts["end_date"], where=renewed, weights=weights, columns=columns),
                     s.events(contracts["end_date"], weights=weights, columns=columns), show=_SHOW)


@kpi(title="Renewal rate", table="contracts", unit="percent", kind="ratio", interval="wilson",
     forward=True, needs=("contracts.end_date", "contracts.renewal_of"))
def renewal_rate(s: Scope) -> Formula:
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
    return _renewals(s, by_value=False)


@kpi(title="Renewal rate by value", table="contracts", unit="percent", kind="ratio",
     forward=True, needs=("contracts.end_date", "contracts.renewal_of"))
def renewal_value_rate(s: Scope) -> Formula:
    """Annual value of the renewed contracts over that of the contracts due in the period.

    Examples
    --------
    >>> data = examples.contracts()
    >>> renewal_value_rate(data, freq="Y", start="2024", end="2024")[
    ...     ["period", "numerator", "denominator", "value"]]
      period  numerator  denominator     value
    0   2024     1200.0       2200.0  0.545455
    """
    return _renewals(s, by_value=True)


def _arr(s: Scope) -> tuple[Matrix, Matrix, Matrix]:
    """ARR on P.open and on P.last of each account in the cohort, and their minimum."""
    return s.shared(("arr", *s.key), lambda: _arr_terms(s))


def _arr_terms(s: Scope) -> tuple[Matrix, Matrix, Matrix]:
    """ARR on P.open and on P.last of each account in the cohort, and their minimum.

    The cohort of P is the accounts with ARR on P.open > 0. Accounts are
    taken within their ``by`` group (a contract's own column may split one).
    """
    contracts = s.frame
    # An entity is an account within a group: a contract's own column may split an account.
    ids = contracts["account_id"].drop_duplicates()
    account = positions(contracts["account_id"], ids)
    keys, entity = compact(account * s.n_groups + s.codes)
    group = keys % s.n_groups
    entities = pd.DataFrame({"account_id": ids.to_numpy()[keys // s.n_groups]})
    # ARR in whole cents: the running sums over contract starts and ends are then exact,
    # so an account whose contracts have all ended has ARR 0, not a rounding residue.
    cents = np.round(contracts["annual_value"].to_numpy(np.float64) * 100)
    begin = day_numbers(contracts["start_date"])
    end = day_numbers(contracts["end_date"])
    end = np.where(end == NAT, np.iinfo(np.int64).max, end + 1)  # active on its end date

    def arr(bounds: np.ndarray) -> np.ndarray:
        return running(bounds, begin, end, begin != NAT, entity, len(keys), cents) / 100

    arr_open, arr_last = arr(s.bounds("open")), arr(s.bounds("last"))
    # Outside the cohort ARR on P.open is 0 (ARR is never negative), and so is the minimum.
    arr_last *= arr_open > 0
    return tuple(Matrix(s, matrix, codes=group, frame=entities, table="accounts")
                 for matrix in (arr_open, arr_last, np.minimum(arr_open, arr_last)))


@kpi(title="Net revenue retention (NRR)", label="NRR", table="contracts", unit="percent",
     kind="ratio", timing="state", route="by_account", needs=("contracts.end_date",))
def net_revenue_retention(s: Scope) -> Formula:
    """ARR on P.last over ARR on P.open, for the accounts with ARR on P.open.

    Notes
    -----
    cohort = accounts with ARR(a, P.open) > 0; numerator = sum ARR(a, P.last),
    denominator = sum ARR(a, P.open), over the cohort. Expansion raises it,
    contraction and churn lower it.

    Examples
    --------
    2024Q2 opens on 31 March: A1 goes 1 200 -> 1 500 (C1 ends on 31 March and
    C2 renews it at a higher value from 1 April: expansion in Q2); A2 goes
    1 000 -> 400 (C3 ended, C4 started).

    >>> data = examples.contracts()
    >>> net_revenue_retention(data, start="2024Q2", end="2024Q2")[
    ...     ["period", "numerator", "denominator", "value"]]
      period  numerator  denominator     value
    0 2024Q2     1900.0       2200.0  0.863636
    """
    arr_open, arr_last, _ = _arr(s)
    return s.formula("ratio", arr_last, arr_open)


@kpi(title="Gross revenue retention (GRR)", label="GRR", table="contracts", unit="percent",
     kind="ratio", timing="state", route="by_account", needs=("contracts.end_date",))
def gross_revenue_retention(s: Scope) -> Formula:
    """Sum of min(ARR on P.last, ARR on P.open) over ARR on P.open, same cohort as NRR.

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
    arr_open, _, kept = _arr(s)
    return s.formula("ratio", kept, arr_open)
