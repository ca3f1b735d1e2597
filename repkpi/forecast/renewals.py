"""What renews next: renewal chains, the sBG model fitted to them, and the contracts due.

A *chain* is a first contract and the contracts that renew it
(``renewal_of``), each with its *term* number (the first contract is term
1). Seen at the close of a day D, where a contract exists from its
``start_date``, a chain counts once in the survivors of its ``by`` group:
lost after its latest term t when term t ended on or before D and nothing
renews it, or censored after t - 1 renewals when term t has not ended (or
is evergreen). :func:`~repkpi.forecast.sbg.fit_sbg` fits each group, and
each contract due after D renews with the chance of its term, r(t).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from repkpi.errors import FitError, MissingTableError, OptionError
from repkpi.forecast.sbg import SbgFit, fit_sbg
from repkpi.io.loading import CrmData
from repkpi.kpis import KPIS
from repkpi.kpis.groups import dimensions, positions
from repkpi.kpis.registry import By, executor_for, normalise_by, refuse_absent
from repkpi.periods import NAT, Calendar, Freq, Grid, day_numbers, year_before

__all__ = ["COLUMNS", "renewal_interval", "renewals"]

COLUMNS = ["period", "due", "due_arr", "expected", "expected_low", "expected_high", "renewed_arr",
           "renewed_arr_low", "renewed_arr_high", "renewal_rate"]
"""The columns of :func:`renewals` after the ``by`` columns."""

_LEVEL = 0.8
_DRAWS = 1000
_SEED = 0
_CHUNK = 4096


def renewal_interval(probability: np.ndarray, value: np.ndarray, *, level: float = _LEVEL,
                     draws: int = _DRAWS, seed: int = _SEED) -> tuple[float, float, float, float]:
    """The ``level`` interval of the renewals and of the renewed value, from independent draws.

    Each contract renews with its ``probability`` on its own; ``draws``
    simulated outcomes (a fixed ``seed``: the same answer every run) give the
    count's and the value's quantiles at (1 - level) / 2 and (1 + level) / 2.

    Returns
    -------
    tuple of float
        The count's low and high bounds (counts of contracts: the
        ``inverted_cdf`` quantiles), then the value's.

    Examples
    --------
    Ten contracts sure to renew and ten that never do:

    >>> renewal_interval(np.r_[np.ones(10), np.zeros(10)], np.full(20, 100.0))
    (10.0, 10.0, 1000.0, 1000.0)
    """
    probability = np.asarray(probability, dtype=np.float64)
    value = np.asarray(value, dtype=np.float64)
    rng = np.random.default_rng(seed)
    count = np.zeros(draws)
    total = np.zeros(draws)
    for begin in range(0, len(probability), _CHUNK):  # blocks of contracts: bounded memory
        p, v = probability[begin:begin + _CHUNK], value[begin:begin + _CHUNK]
        renewed = rng.random((draws, len(p))) < p
        count += renewed.sum(axis=1)
        total += renewed.astype(np.float64) @ v
    tails = [(1 - level) / 2, (1 + level) / 2]
    low, high = np.quantile(count, tails, method="inverted_cdf")
    value_low, value_high = np.quantile(total, tails)
    return float(low), float(high), float(value_low), float(value_high)


def renewals(data: Any, /, *, periods: int = 4, freq: Freq = "Q", by: By = None,
             fiscal_year_start: int = 1) -> pd.DataFrame:
    """Forecast the renewals of the contracts due after the as-of date with the sBG model.

    Parameters
    ----------
    data : CrmData
        Loaded data with contracts (``end_date`` and ``renewal_of``), or Dask
        data (only the contracts' few columns, and the ``by`` columns, are
        gathered).
    periods : int
        The periods after the one that holds the as-of date to forecast; the
        rest of that one comes first when the as-of date is not its last day.
    freq : {"M", "Q", "Y"}
        Period length.
    by : str or list of str, optional
        Fit and forecast each group on its own: columns of the contracts,
        then the accounts, then the reps. A chain is in the group of its
        first contract.
    fiscal_year_start : int
        Month the (fiscal) year starts in.

    Returns
    -------
    DataFrame
        One row per ``by`` group and period: ``period``, ``due`` (contracts
        that exist at the as-of date whose ``end_date`` falls in the period
        after it: renewals not signed yet are not counted), ``due_arr`` (their
        ``annual_value``), ``expected`` renewals with their 80% interval
        ``expected_low`` and ``expected_high``, ``renewed_arr`` (the expected
        renewed value) with ``renewed_arr_low`` and ``renewed_arr_high``, and
        ``renewal_rate`` = expected / due (NaN when nothing is due).
        ``attrs``: ``"as_of"``; ``"contracts"`` the contracts due (``period``,
        ``contract_id``, ``account_id``, the ``by`` columns, ``end_date``,
        ``annual_value``, ``term`` and ``probability``); ``"fit"`` each
        group's chains (``chains``, ``lost``, ``censored``, ``truncated``:
        chains whose first contract renews one the data lacks, left out of
        the fit) and its ``alpha``, ``beta``, standard errors, ``loglik``
        and ``converged``; ``"survivors"`` the counts fitted (``after`` t
        terms: ``survivors``, ``censored``); ``"backtest"`` and
        ``"backtest_mae"`` (see Notes).

    Raises
    ------
    MissingTableError
        The contracts were not loaded.
    AbsentColumnError
        The export has no ``end_date`` or ``renewal_of``.
    OptionError
        ``periods`` is not a whole number >= 1, or the data has no as-of date.
    FitError
        A group's chains cannot be fitted (see :func:`~repkpi.forecast.fit_sbg`).

    Notes
    -----
    A contract of term t due after the as-of date renews with probability
    r(t) = (beta + t - 1) / (alpha + beta + t - 1), or 1 when a contract
    that renews it has already started; a chain whose first contract renews
    one the data lacks has at least one earlier term: its contracts count
    one term more. The interval is that of the sum of independent draws
    (:func:`renewal_interval`); it leaves out the uncertainty of alpha and beta.

    The backtest fits the chains as they stood a year before the as-of date
    (a contract exists from its ``start_date``: later renewals are unknown
    to the fit) and forecasts the last four complete quarters: per quarter,
    ``due`` and the ``forecast`` renewal rate of the contracts due after
    that day, the ``actual`` renewal rate as ``renewal_rate`` gives it
    (``actual_due`` contracts, ``renewed``), and ``error`` = forecast -
    actual in points; ``attrs["backtest_mae"]`` is the mean absolute error
    in points, NaN when nothing could be compared (``attrs["backtest_note"]``
    says why).

    Examples
    --------
    >>> import repkpi
    >>> from repkpi.periods import period_label
    >>> data = repkpi.load_sample()
    >>> ahead = renewals(data, periods=2)
    >>> [period_label(p) for p in ahead["period"]]
    ['2026 Q4', '2027 Q1']
    >>> bool((ahead["expected_low"] <= ahead["expected"]).all() and
    ...      (ahead["expected"] <= ahead["expected_high"]).all())
    True
    >>> ahead.attrs["backtest"].columns.tolist()
    ['period', 'due', 'forecast', 'actual_due', 'renewed', 'actual', 'error']
    """
    if not isinstance(periods, int | np.integer) or isinstance(periods, bool) or periods < 1:
        raise OptionError(f"periods must be a whole number >= 1, got {periods!r}.\n"
                          "Hint: periods=4 forecasts the next four periods.")
    calendar = Calendar(freq, fiscal_year_start)
    columns = normalise_by(by)
    as_of = data.as_of
    if as_of is None or pd.isna(as_of):
        raise OptionError("renewals needs an as-of date, and the data records no date.\n"
                          "Hint: declare one: load(..., as_of='2026-09-30').")
    contracts, groups = _contracts(data, columns)
    chains = _chains(contracts)
    today = int(day_numbers(pd.Series([as_of]))[0])
    first = calendar.holding(as_of)
    if as_of.normalize() == first.end_time.normalize():
        first += 1  # nothing of the period holding the as-of date is left
    grid = Grid.between(first, calendar.holding(as_of) + periods)
    counts = _survivors(chains, today, len(groups))
    fits = [_fit(counts, g, groups, raise_error=True) for g in range(len(groups))]
    due, result = _forecast(chains, fits, today, grid, groups)
    result.attrs["as_of"] = as_of
    result.attrs["contracts"] = due
    result.attrs["fit"] = _fit_table(counts, fits, groups)
    result.attrs["survivors"] = _survivor_table(counts, groups)
    backtest, note = _backtest(data, chains, groups, as_of, columns, fiscal_year_start)
    result.attrs["backtest"] = backtest
    result.attrs["backtest_mae"] = float((backtest["error"].abs().mean()) if len(backtest) else np.nan)
    result.attrs["backtest_note"] = note
    return result


def _contracts(data: Any, columns: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The contracts' few columns as a pandas frame with each row's ``group`` code, and the groups."""
    if data.contracts is None:
        raise MissingTableError("renewals needs the contracts table, which was not loaded.\n"
                                "Hint: load a folder with a contracts file.")
    refuse_absent(data, "renewals", "contracts", ["end_date", "renewal_of"])
    own = ["contract_id", "account_id", "start_date", "end_date", "annual_value", "renewal_of"]
    wanted = {"contracts": data.contracts[[*own, *[c for c in columns
                                                   if c in data.contracts.columns and c not in own]]]}
    looked_up = [c for c in columns if c not in data.contracts.columns]
    if looked_up and data.accounts is not None:
        keep = ["account_id", *[c for c in ["rep_id", *looked_up] if c in data.accounts.columns]]
        wanted["accounts"] = data.accounts[list(dict.fromkeys(keep))]
    if looked_up and data.reps is not None:
        wanted["reps"] = data.reps[["rep_id", *[c for c in looked_up if c in data.reps.columns]]]
    found = executor_for(data).gather(data, wanted)
    small = CrmData.trusted(as_of=data.as_of, absent=data.absent, absent_hints=data.absent_hints,
                            **found)
    contracts = found["contracts"].reset_index(drop=True)
    for column, (codes, labels) in zip(columns, dimensions(small, "contracts", contracts, columns,
                                                           "renewals"), strict=True):
        contracts[column] = labels.iloc[codes].to_numpy()
    if not columns:
        return contracts.assign(group=0), pd.DataFrame(index=[0])
    group = contracts.groupby(columns, dropna=False, sort=True).ngroup().to_numpy(dtype=np.int64)
    groups = contracts[columns].assign(group=group).drop_duplicates("group").sort_values("group")
    return contracts.assign(group=group), groups.drop(columns="group").reset_index(drop=True)


def _chains(contracts: pd.DataFrame) -> pd.DataFrame:
    """Each contract's chain (``root``, a row position), ``term`` and whether the chain is truncated.

    The renewals form a forest (``renewal_of`` names an earlier term); each
    contract's root and depth are found by pointer jumping: every round
    doubles the distance jumped, one vectorised lookup each, so
    log2(rows) rounds reach every root (loaded data has no loop of renewals:
    the rounds are bounded all the same).
    """
    n = len(contracts)
    parent = positions(contracts["renewal_of"], contracts["contract_id"])
    named = contracts["renewal_of"].notna().to_numpy()
    top = np.where(parent >= 0, parent, np.arange(n))
    depth = (parent >= 0).astype(np.int64)
    for _ in range(max(n, 1).bit_length()):
        if (top == top[top]).all():
            break
        depth = depth + depth[top]
        top = top[top]
    truncated = (named & (parent < 0))[top]  # the first contract renews one the data lacks
    return contracts.assign(root=top, term=depth + 1, truncated=truncated, parent=parent,
                            start=day_numbers(contracts["start_date"]),
                            end=day_numbers(contracts["end_date"]))


def _survivors(chains: pd.DataFrame, day: int, n_groups: int) -> dict[str, np.ndarray]:
    """Per group, the chains alive after t terms and those censored there, seen at the close of ``day``.

    Returns ``survivors`` and ``censored`` as (groups, T + 1) arrays, and per
    group the chains, lost, censored and truncated ones.
    """
    seen = chains[chains["start"].to_numpy() <= day]
    root = seen["root"].to_numpy()
    term = seen["term"].to_numpy()
    last = np.zeros(len(chains), dtype=np.int64)
    np.maximum.at(last, root, term)  # each chain's latest term
    end = seen["end"].to_numpy()
    running = (term == last[root]) & ((end == NAT) | (end > day))
    censored = np.zeros(len(chains), dtype=bool)
    censored[root[running]] = True
    is_root = np.zeros(len(chains), dtype=bool)
    is_root[root] = True
    truncated = is_root & chains["truncated"].to_numpy()
    fitted = is_root & ~truncated
    group = chains["group"].to_numpy()
    k = last[fitted]
    width = int(k.max()) + 1 if k.size else 2
    slot = group[fitted] * width
    ended = np.bincount(slot + k, minlength=n_groups * width).reshape(n_groups, width)
    # after t terms: the chains with more than t terms; censored after t - 1 renewals in term t
    alive = ended[:, ::-1].cumsum(axis=1)[:, ::-1]
    survivors = np.c_[alive[:, 1:], np.zeros(n_groups, dtype=np.int64)]
    stopped = np.bincount(slot[censored[fitted]] + k[censored[fitted]] - 1,
                          minlength=n_groups * width).reshape(n_groups, width)
    return {"survivors": survivors, "censored": stopped, "last": _latest(group[fitted], k, n_groups),
            "chains": np.bincount(group[fitted], minlength=n_groups),
            "lost": np.bincount(group[fitted & ~censored], minlength=n_groups),
            "kept": np.bincount(group[fitted & censored], minlength=n_groups),
            "truncated": np.bincount(group[truncated], minlength=n_groups)}


def _latest(group: np.ndarray, k: np.ndarray, n_groups: int) -> np.ndarray:
    """Each group's longest chain, in terms (0 for a group with none)."""
    latest = np.zeros(n_groups, dtype=np.int64)
    np.maximum.at(latest, group, k)
    return latest


def _group_name(groups: pd.DataFrame, g: int) -> str:
    """A group in words: ``segment='smb'``, or ``all contracts`` without ``by``."""
    row = groups.iloc[g]
    return ", ".join(f"{c}={row[c]!r}" for c in groups.columns) or "all contracts"


def _fit(counts: dict[str, np.ndarray], g: int, groups: pd.DataFrame, *,
         raise_error: bool) -> SbgFit | str:
    """Group ``g``'s fit; what stops it (in words) when it cannot be fitted and ``raise_error`` is false."""
    width = int(counts["last"][g]) + 1
    try:
        return fit_sbg(counts["survivors"][g, :width], counts["censored"][g, :width])
    except FitError as exc:
        message = (f"renewals cannot fit the renewal chains of {_group_name(groups, g)} "
                   f"({int(counts['chains'][g])} chains): {exc}")
        if raise_error:
            raise FitError(message) from exc
        return message


def _fit_table(counts: dict[str, np.ndarray], fits: Sequence[SbgFit | str],
               groups: pd.DataFrame) -> pd.DataFrame:
    """Each group's chains and fitted parameters (NaN for a group that could not be fitted)."""
    params = ["alpha", "alpha_se", "beta", "beta_se", "loglik"]
    table = groups.copy()
    table["chains"] = counts["chains"]
    table["lost"] = counts["lost"]
    table["censored"] = counts["kept"]
    table["truncated"] = counts["truncated"]
    for name in params:
        table[name] = [getattr(f, name) if isinstance(f, SbgFit) else np.nan for f in fits]
    table["converged"] = [isinstance(f, SbgFit) and f.converged for f in fits]
    return table


def _survivor_table(counts: dict[str, np.ndarray], groups: pd.DataFrame) -> pd.DataFrame:
    """The counts fitted, one row per group and number of terms ``after`` (0 = the chains' start)."""
    width = counts["survivors"].shape[1]
    table = groups.loc[groups.index.repeat(width)].reset_index(drop=True)
    table["after"] = np.tile(np.arange(width), len(groups))
    table["survivors"] = counts["survivors"].ravel()
    table["censored"] = counts["censored"].ravel()
    keep = table["after"].to_numpy() <= np.repeat(counts["last"], width)
    return table[keep].reset_index(drop=True)


def _forecast(chains: pd.DataFrame, fits: Sequence[SbgFit | str], day: int, grid: Grid,
              groups: pd.DataFrame, *, intervals: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The contracts due after ``day`` in ``grid``'s periods, and the forecast per group and period."""
    start, end = chains["start"].to_numpy(), chains["end"].to_numpy()
    seen = start <= day
    renewed = np.zeros(len(chains), dtype=bool)  # a contract that renews it has started by ``day``
    parent = chains["parent"].to_numpy()
    renewed[parent[seen & (parent >= 0)]] = True
    slot = grid.locate(end)
    due = seen & (end != NAT) & (end > day) & (slot >= 0)
    rows = chains[due]
    group = rows["group"].to_numpy()
    term = rows["term"].to_numpy() + rows["truncated"].to_numpy()
    probability = np.full(len(rows), np.nan)
    for g, fit in enumerate(fits):  # one fit per group
        if isinstance(fit, SbgFit):
            probability[group == g] = fit.retention(term[group == g])
    probability = np.where(renewed[due], 1.0, probability)
    value = rows["annual_value"].to_numpy(dtype=np.float64)
    summed = _per_period(group * len(grid) + slot[due], probability, value, grid, groups,
                         intervals=intervals)
    listed = rows[["contract_id", "account_id", *groups.columns, "end_date", "annual_value"]].assign(
        term=term, probability=probability)
    listed.insert(0, "period", grid.periods[slot[due]])
    return listed.sort_values(["period", "end_date", "contract_id"]).reset_index(drop=True), summed


def _per_period(cell: np.ndarray, probability: np.ndarray, value: np.ndarray, grid: Grid,
                groups: pd.DataFrame, *, intervals: bool) -> pd.DataFrame:
    """The contracts due summed per ``cell`` (group x periods + period), with each one's intervals.

    Without ``intervals`` (the backtest reads the rates only) their bounds are NaN.
    """
    n = len(grid)
    size = len(groups) * n
    due = np.bincount(cell, minlength=size)
    out = groups.loc[groups.index.repeat(n)].reset_index(drop=True)
    out["period"] = pd.PeriodIndex(np.tile(np.asarray(grid.periods), len(groups)), freq=grid.periods.freq)
    out["due"] = due
    out["due_arr"] = np.bincount(cell, weights=value, minlength=size)
    out["expected"] = np.bincount(cell, weights=probability, minlength=size)
    out["renewed_arr"] = np.bincount(cell, weights=probability * value, minlength=size)
    bounds = np.zeros((size, 4)) if intervals else np.full((size, 4), np.nan)
    for c in np.flatnonzero(due) if intervals else ():  # one simulation per group and period
        mine = cell == c
        bounds[c] = (np.nan if np.isnan(probability[mine]).any()  # a group without a fit
                     else renewal_interval(probability[mine], value[mine]))
    out["expected_low"], out["expected_high"] = bounds[:, 0], bounds[:, 1]
    out["renewed_arr_low"], out["renewed_arr_high"] = bounds[:, 2], bounds[:, 3]
    out["renewal_rate"] = out["expected"] / out["due"].where(out["due"] > 0)
    return out[[*groups.columns, *COLUMNS]]


def _backtest(data: Any, chains: pd.DataFrame, groups: pd.DataFrame, as_of: pd.Timestamp,
              columns: list[str], fiscal_year_start: int) -> tuple[pd.DataFrame, str]:
    """The forecast made a year before ``as_of`` of the last four complete quarters, against what renewed."""
    quarters = Calendar("Q", fiscal_year_start)
    last = quarters.holding(as_of)
    if as_of.normalize() != last.end_time.normalize():
        last -= 1
    grid = Grid.between(last - 3, last)
    before = year_before(as_of)
    day = int(day_numbers(pd.Series([before]))[0])
    counts = _survivors(chains, day, len(groups))
    fits = [_fit(counts, g, groups, raise_error=False) for g in range(len(groups))]
    _, forecast = _forecast(chains, fits, day, grid, groups, intervals=False)
    actual = KPIS["renewal_rate"](data, freq="Q", by=columns or None, start=grid.periods[0],
                                  end=grid.periods[-1], fiscal_year_start=fiscal_year_start)
    actual = actual.rename(columns={"denominator": "actual_due", "numerator": "renewed",
                                    "value": "actual"})
    table = forecast[[*columns, "period", "due", "renewal_rate"]].rename(
        columns={"renewal_rate": "forecast"}).merge(
        actual[[*columns, "period", "actual_due", "renewed", "actual"]], on=[*columns, "period"],
        how="left")
    table["error"] = (table["forecast"] - table["actual"]) * 100
    failed = [f for f in fits if isinstance(f, str)]
    note = (f"The backtest fits the chains as they stood on {before.date()}. " + " ".join(failed)).strip()
    return table, note
