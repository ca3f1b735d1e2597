"""Cohorts: of the customers won in a period, how many (or how much ARR) are left n periods on.

:func:`cohorts` gives the triangle as a long table (analysis.md, "Cohorts");
:func:`repkpi.plot.cohort_retention` draws it with each cell's value.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from repkpi.errors import ColumnNotFoundError, MissingTableError, OptionError
from repkpi.io.loading import CrmData
from repkpi.kpis.groups import available_dimensions
from repkpi.kpis.registry import By, executor_for, normalise_by, refuse_absent
from repkpi.periods import NAT, Calendar, Freq, day_numbers, in_progress

__all__ = ["Measure", "account_frame", "cohorts"]

Measure = Literal["customers", "revenue"]
_COUNTED = {"customers": "active", "revenue": "arr"}


def cohorts(data: CrmData, /, *, freq: Freq = "Q", measure: Measure = "customers", by: By = None,
            fiscal_year_start: int = 1) -> pd.DataFrame:
    """Each acquisition cohort's customers (or ARR) still there 0, 1, 2... periods on.

    Parameters
    ----------
    data : CrmData
        Loaded data, or Dask data (the accounts' and contracts' few columns
        are gathered, then counted as for pandas data).
    freq : {"M", "Q", "Y"}
        The cohorts' period length, and the step of ``age``.
    measure : {"customers", "revenue"}
        ``"customers"``: the share of the cohort's accounts active;
        ``"revenue"``: the cohort's ARR kept (net revenue retention by cohort).
    by : str or list of str, optional
        Accounts' (or their rep's) columns: one triangle per group.
    fiscal_year_start : int
        Month the (fiscal) year starts in.

    Returns
    -------
    DataFrame
        One row per cohort (and group) and age: ``cohort`` (the period of
        ``customer_since``), the ``by`` columns, ``age``, ``size``, then
        ``active`` (customers) or ``arr`` (revenue), ``value`` and
        ``in_progress``. Rows are sorted by cohort, group and age.

    Raises
    ------
    MissingTableError
        No accounts table, or no contracts table for ``measure="revenue"``.
    AbsentColumnError
        The export has no column the cohorts need (``customer_since``,
        ``churned_on`` for customers, contracts' ``end_date`` for revenue, a
        ``by`` column): ``data.absent``.
    OptionError
        An unknown ``measure`` or ``by`` column.

    Notes
    -----
    The close of cell (c, age) is the last day of period c + age, or
    ``data.as_of`` for the period that holds it (unless ``as_of`` is its
    last day): that cell is flagged ``in_progress``. Cells of periods that
    begin after ``as_of`` are absent. An account is active on a day d when
    ``customer_since <= d`` and (no ``churned_on`` or ``d < churned_on``); a
    contract is active when ``start_date <= d`` and (no ``end_date`` or
    ``d <= end_date``). With ``measure="customers"``: ``size`` = accounts
    whose ``customer_since`` falls in c (prospects are in no cohort),
    ``active`` = those active at the close, ``value`` = active / size.
    With ``measure="revenue"``: ``size`` = the cohort's ARR (``annual_value``
    of its accounts' active contracts) at the close of c, ``arr`` = the same
    at the close of the cell, ``value`` = arr / size (NaN when size is 0).

    Examples
    --------
    A2, won on 10 January 2024 and gone on 1 March, is January's cohort:
    active on 31 January and 29 February, not on 31 March nor on the as-of
    date, 15 April (April's cell, in progress):

    >>> from repkpi.datasets import doctest_data as examples
    >>> table = cohorts(examples.accounts(), freq="M")
    >>> january = table[table["cohort"] == pd.Period("2024-01", "M")].reset_index(drop=True)
    >>> january[["age", "size", "active", "in_progress"]]
       age  size  active  in_progress
    0    0     1       1        False
    1    1     1       1        False
    2    2     1       0        False
    3    3     1       0         True
    """
    if measure not in _COUNTED:
        raise OptionError(f"measure must be 'customers' or 'revenue', got {measure!r}.\n"
                          "Hint: measure='revenue' keeps the cohort's ARR.")
    if data.accounts is None:
        raise MissingTableError("cohorts needs the accounts table, which was not loaded.")
    if measure == "revenue" and data.contracts is None:
        raise MissingTableError("cohorts with measure='revenue' needs the contracts table, "
                                "which was not loaded.")
    columns = normalise_by(by)
    own = ["customer_since", "churned_on"] if measure == "customers" else ["customer_since"]
    refuse_absent(data, "cohorts", "accounts", [*own, *columns])
    if measure == "revenue":
        refuse_absent(data, "cohorts with measure='revenue'", "contracts", ["end_date"])
    accounts = account_frame(data, columns)
    calendar = Calendar(freq, fiscal_year_start)
    as_of = data.as_of
    won = accounts[accounts["customer_since"].notna()]
    if as_of is None or won.empty:
        return _empty(columns, measure, calendar)
    first = calendar.holding(won["customer_since"].min())
    last = calendar.holding(as_of)
    periods = pd.period_range(first, last, freq=calendar.pfreq)
    closes = day_numbers(pd.Series(periods.end_time))
    flagged = in_progress(as_of, calendar.pfreq) == last
    if flagged:  # the period in progress is measured on as_of
        closes[-1] = day_numbers(pd.Series([as_of]))[0]
    cohort = np.searchsorted(closes, day_numbers(won["customer_since"]), side="left")
    groups, group = _groups(won, columns)
    key = group * len(periods) + cohort
    won_count = np.bincount(key, minlength=len(groups) * len(periods))
    size_of = won_count.astype(np.float64)
    if measure == "customers":
        stop = _searchsorted(closes, day_numbers(won["churned_on"]), side="left")  # closes < churn
        kept = _spans(key, cohort, cohort, stop, np.ones(len(won)), len(groups), len(periods))
    else:
        kept, size_of = _revenue(data, won, key, cohort, closes, len(groups), len(periods))
    return _long(kept, size_of, won_count, groups, columns, periods, measure, flagged)


def account_frame(data: CrmData, columns: list[str], *, who: str = "cohorts",
                  noun: str = "cohort") -> pd.DataFrame:
    """The accounts' id, dates and ``by`` columns (a rep's from reps), as a pandas frame.

    On Dask data only these columns are gathered. ``who`` (the function) and
    ``noun`` name the caller in the error for an unknown column.
    """
    own = ["account_id", "customer_since", "churned_on"]
    accounts = data.accounts
    available = available_dimensions(data, accounts.columns)
    unknown = [c for c in columns if c not in available or c in ("customer_since", "churned_on")]
    if unknown:
        raise ColumnNotFoundError(f"Unknown {noun} column(s) {unknown} for {who}. Available: "
                          f"{sorted(set(available) - {'customer_since', 'churned_on'})}.\n"
                          f"Hint: {who} groups by the accounts' columns and their rep's.")
    from_reps = [c for c in columns if c not in accounts.columns]
    wanted = {"accounts": accounts[[*own, *[c for c in columns if c in accounts.columns],
                                    *(["rep_id"] if from_reps and "rep_id" not in columns else [])]]}
    if from_reps:
        wanted["reps"] = data.reps[["rep_id", *from_reps]]
    found = executor_for(data).gather(data, wanted)
    table = found["accounts"]
    if from_reps:
        reps = found["reps"].drop_duplicates("rep_id")
        table = table.merge(reps, on="rep_id", how="left", suffixes=("", "_rep"))
    return table.reset_index(drop=True)


def _groups(won: pd.DataFrame, columns: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """The distinct ``by`` groups (an empty value is a group of its own) and each row's code."""
    if not columns:
        return pd.DataFrame(index=[0]), np.zeros(len(won), dtype=np.int64)
    keys = won[columns].reset_index(drop=True)
    codes = keys.groupby(columns, dropna=False, sort=True).ngroup().to_numpy(dtype=np.int64)
    groups = keys.assign(code=codes).drop_duplicates("code").sort_values("code")
    return groups.drop(columns="code").reset_index(drop=True), codes


def _searchsorted(closes: np.ndarray, days: np.ndarray, side: Literal["left", "right"],
                  ) -> np.ndarray:
    """Closes before ``days`` (``"left"``) or on or before (``"right"``); all of them when NAT."""
    found = np.searchsorted(closes, days, side=side)
    return np.where(days == NAT, len(closes), found)


def _spans(key: np.ndarray, cohort: np.ndarray, begin: np.ndarray, stop: np.ndarray,
           weight: np.ndarray, groups: int, periods: int) -> np.ndarray:
    """Weights summed per cohort cell: each row counts at the closes ``begin`` <= k < ``stop``.

    Row ``key`` (group x periods + cohort), k indexing the closes; only
    k >= the row's cohort counts. Returns a (groups x periods, periods)
    matrix whose column k is the close of period k.
    """
    begin = np.maximum(begin, cohort)
    live = stop > begin
    steps = np.zeros((groups * periods, periods + 1))
    np.add.at(steps, (key[live], begin[live]), weight[live])
    np.add.at(steps, (key[live], stop[live]), -weight[live])
    return steps.cumsum(axis=1)[:, :periods]


def _revenue(data: CrmData, won: pd.DataFrame, key: np.ndarray, cohort: np.ndarray,
             closes: np.ndarray, groups: int, periods: int) -> tuple[np.ndarray, np.ndarray]:
    """The cohorts' ARR at each close, and each cohort's ARR at the close of its own period."""
    contracts = executor_for(data).gather(data, {"contracts": data.contracts[
        ["account_id", "start_date", "end_date", "annual_value"]]})["contracts"]
    place = pd.Series(np.arange(len(won)), index=won["account_id"].to_numpy())
    row = contracts["account_id"].map(place)
    ours = row.notna().to_numpy()
    contracts, row = contracts[ours], row[ours].to_numpy(dtype=np.int64)
    begin = np.searchsorted(closes, day_numbers(contracts["start_date"]), side="left")
    stop = _searchsorted(closes, day_numbers(contracts["end_date"]), side="right")
    value = contracts["annual_value"].to_numpy(dtype=np.float64)
    arr = _spans(key[row], cohort[row], begin, stop, value, groups, periods)
    own = np.arange(groups * periods) % periods  # each cohort cell's own period
    return arr, arr[np.arange(groups * periods), own]


def _long(kept: np.ndarray, size_of: np.ndarray, won: np.ndarray, groups: pd.DataFrame,
          columns: list[str], periods: pd.PeriodIndex, measure: Measure,
          flagged: bool) -> pd.DataFrame:
    """The matrix of cells as the long table: the cells of each cohort (and group) with accounts won."""
    n = len(periods)
    row, k = _cells(len(groups), n)
    keep = won[row] > 0
    row, k = row[keep], k[keep]
    cohort, group = row % n, row // n
    size, counted = size_of[row], kept[row, k]
    out = pd.DataFrame({"cohort": periods[cohort]})
    for column in columns:
        out[column] = groups[column].to_numpy()[group]
    out["age"] = k - cohort
    counts = np.int64 if measure == "customers" else np.float64  # accounts, or money
    out["size"] = size.astype(counts)
    out[_COUNTED[measure]] = counted.astype(counts)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["value"] = np.where(size > 0, counted / np.where(size > 0, size, 1), np.nan)
    out["in_progress"] = flagged & (k == n - 1)
    order = ["cohort", *columns, "age"]
    return out.sort_values(order, kind="stable", ignore_index=True)


def _cells(groups: int, periods: int) -> tuple[np.ndarray, np.ndarray]:
    """Row (group x periods + cohort) and close index of every cell on or after its cohort."""
    cohort, k = np.triu_indices(periods)
    row = (np.arange(groups)[:, None] * periods + cohort[None, :]).ravel()
    return row, np.tile(k, groups)


def _empty(columns: list[str], measure: Measure, calendar: Calendar) -> pd.DataFrame:
    """The table with no cohort: its columns and dtypes."""
    return pd.DataFrame({"cohort": pd.PeriodIndex([], freq=calendar.pfreq),
                         **{c: pd.Series([], dtype="str") for c in columns},
                         "age": np.array([], dtype=np.int64),
                         "size": np.array([], dtype=np.int64 if measure == "customers" else np.float64),
                         _COUNTED[measure]: np.array([], dtype=np.int64 if measure == "customers"
                                                     else np.float64),
                         "value": np.array([], dtype=np.float64),
                         "in_progress": np.array([], dtype=bool)})
