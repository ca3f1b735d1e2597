"""Who is at risk: each active account's chance of churning soon, its reasons, and a track record.

:func:`risk` trains a regularised logistic regression on the data's own past
(forecast.md, "Who is at risk"): one row per account active at the close of
a past period, its features (:mod:`repkpi.forecast.features`) measured on
that day, its label whether it churned within the next ``horizon`` periods.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from repkpi.errors import HistoryError, MissingTableError, OptionError
from repkpi.forecast.features import describe, measure_on, selected
from repkpi.kpis.registry import executor_for, refuse_absent, refuse_after_as_of
from repkpi.periods import Calendar, Freq, PeriodLike, period_label

__all__ = ["MAX_TRAINING_ROWS", "backtest_line", "backtest_rows", "evaluate", "risk",
           "training_rows"]

MAX_TRAINING_ROWS = 100_000
"""Training rows beyond this many are sampled (with a fixed seed) before their features are measured."""
_HIGH, _MEDIUM = 0.1, 0.3  # the top 10% are high, the next 20% medium
_COLUMNS = ["account_id", "account_name", "segment", "rep_id", "probability", "band", "arr",
            "arr_at_risk", "drivers"]


def risk(data: Any, /, *, horizon: int = 1, freq: Freq = "Q", period: PeriodLike | None = None,
         fiscal_year_start: int = 1) -> pd.DataFrame:
    """Each active account's probability of churning within ``horizon`` periods, with its drivers.

    Parameters
    ----------
    data : CrmData
        Loaded data, or Dask data (the features are measured on the workers,
        each bucket of accounts apart; the client gathers the accounts' few
        columns and the feature matrix).
        Needs accounts with ``customer_since`` and ``churned_on``; every
        other table adds its features.
    horizon : int
        Whole periods after the one that holds the scoring date: the
        probability is that of churning by the last day of that period.
    freq : {"M", "Q", "Y"}
        The period length of the horizon and of the training periods.
    period : period-like, optional
        Score the accounts active at the close of this period (default: at
        the data's as-of date; a period in progress closes on it).
    fiscal_year_start : int
        Month the (fiscal) year starts in.

    Returns
    -------
    DataFrame
        One row per account active on the scoring date, most at risk first:
        ``account_id``, ``account_name``, ``segment``, ``rep_id``,
        ``probability``, ``band`` (``"high"``: the top 10%, ``"medium"``: the
        next 20%, else ``"low"``), ``arr`` (its active contracts' annual value;
        NaN without contracts), ``arr_at_risk`` (probability x arr) and
        ``drivers`` (up to three features that raise its risk most, in words,
        joined by "; "). ``attrs``: ``scored_on``, ``until`` (the last day of
        the horizon), ``horizon``, ``freq``, ``features``, ``coefficients``
        (per standardised feature), ``training_periods``, ``training_rows``
        (rows fitted), ``training_rows_available`` (before sampling) and
        ``backtest``.

    Raises
    ------
    MissingTableError
        No accounts table.
    AbsentColumnError
        The accounts have no ``customer_since`` or ``churned_on`` column.
    OptionError
        A ``horizon`` that is not a positive integer, a bad ``freq`` or
        ``period``, a period after the as-of date.
    HistoryError
        The data has no as-of date, no period whose horizon has passed, or no
        churn (or only churn) among the training rows: nothing to learn from.

    Notes
    -----
    Scoring date ``S``: the as-of date, or the close of ``period``. Training
    rows: each account active at the close of a period ``t`` with
    ``(t + horizon).last <= S``, its features measured at ``t.last`` and
    its label ``churned_on`` in ``(t.last, (t + horizon).last]``; beyond
    :data:`MAX_TRAINING_ROWS` they are sampled (with a fixed seed), and the
    backtest's model fits the sampled rows of its periods. The model: missing values
    set to the training mean, features standardised, an L2-regularised
    logistic regression (``C=1``) fitted on one BLAS thread (the same
    coefficients whatever the machine's cores). A driver's weight is its coefficient x
    the account's standardised value; only those above 0 raise the risk.

    ``attrs["backtest"]``: the last labelled period ``t*`` (the last ``t``
    above) scored by a model trained on the periods ``t <= t* - horizon``
    only, so that no training label reaches past ``t*.last``. ``auc``,
    ``capture`` (the share of ``t*``'s churns among the top 10% most at
    risk: ``ceil(0.1 n)`` accounts), ``precision`` (churns among them /
    their number), ``brier`` (mean squared error of the probabilities),
    ``calibration`` (ten equal-sized groups by probability: ``predicted``
    and ``observed`` shares), ``rows``, ``churns``, ``training_rows``;
    ``reason`` says why the values are NaN when the model could not be
    trained (too little history).

    Examples
    --------
    >>> import repkpi
    >>> scores = risk(repkpi.load_sample())
    >>> list(scores.columns[:6])
    ['account_id', 'account_name', 'segment', 'rep_id', 'probability', 'band']
    >>> bool(scores["probability"].is_monotonic_decreasing)
    True
    >>> scores["band"].value_counts().reindex(["high", "medium", "low"]).tolist() == [
    ...     math.ceil(0.1 * len(scores)), math.ceil(0.3 * len(scores)) - math.ceil(0.1 * len(scores)),
    ...     len(scores) - math.ceil(0.3 * len(scores))]
    True
    """
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer) or horizon < 1:
        raise OptionError(f"horizon must be a positive whole number of periods, got {horizon!r}.\n"
                          "Hint: horizon=1 is the period after the one that holds the scoring date.")
    calendar = Calendar(freq, fiscal_year_start)
    if getattr(data, "accounts", None) is None:
        raise MissingTableError("risk needs the accounts table, which was not loaded.")
    refuse_absent(data, "risk", "accounts", ["customer_since", "churned_on"])
    scored_on = _scoring_date(data, period, calendar)
    holding = calendar.holding(scored_on)
    last_labelled = (holding if scored_on == holding.end_time.normalize() else holding - 1) - horizon
    accounts = executor_for(data).gather(data, {"accounts": selected(data)["accounts"]})["accounts"]
    # In account order, whatever the partitions' order: the sample of training rows and the
    # fit are then the same on both engines.
    accounts = accounts.sort_values("account_id", kind="stable", ignore_index=True)
    first = accounts["customer_since"].min()
    if pd.isna(first) or calendar.holding(first) > last_labelled:
        raise HistoryError(
            f"risk has no past to learn from: no period with {horizon} more {freq} period(s) "
            f"ended by {scored_on:%Y-%m-%d} since the first customer.\nHint: a longer history, "
            "a shorter freq or horizon=1.")
    periods = pd.period_range(calendar.holding(first), last_labelled, freq=calendar.pfreq)
    rows = training_rows(accounts, periods, horizon)
    available = len(rows)
    fitted = rows.sample(MAX_TRAINING_ROWS, random_state=0) if available > MAX_TRAINING_ROWS else rows
    rows = rows[rows.index.isin(fitted.index) | (rows["period"] == last_labelled)]  # + t*'s all
    now = _active(accounts, scored_on)
    pairs = pd.concat([rows[["account_id", "day"]],
                       pd.DataFrame({"account_id": now["account_id"].array, "day": scored_on})],
                      ignore_index=True)
    features = measure_on(data, pairs)
    if "days_to_contract_end" in features:  # a term ends inside the window: the only time to leave
        until = (holding + horizon).end_time.normalize()
        reach = np.concatenate([((rows["period"] + horizon).dt.end_time.dt.normalize()
                                 - rows["day"]).dt.days.to_numpy(),
                                np.full(len(now), (until - scored_on).days)])
        features["contract_ends_in_horizon"] = (features["days_to_contract_end"].to_numpy()
                                                <= reach).astype(np.float64)
    past, present = features.iloc[:len(rows)], features.iloc[len(rows):]
    label = rows["churned"].to_numpy()
    in_fit = rows.index.isin(fitted.index)
    before, scored = backtest_rows(rows["period"], last_labelled, horizon)
    train = before & in_fit
    model = _fit(past[in_fit], label[in_fit])
    backtest = _backtest(past, label, train, scored, last_labelled)
    backtest["training_periods"] = (periods[0], last_labelled - horizon)
    probability = model.predict_proba(present)[:, 1]
    out = _scores(now, present, probability, model)
    out.attrs.update({
        "scored_on": scored_on, "until": (holding + horizon).end_time.normalize(),
        "horizon": horizon, "freq": freq, "features": list(features.columns),
        "coefficients": pd.Series(model[-1].coef_[0], index=features.columns),
        "training_periods": (periods[0], last_labelled), "training_rows": int(in_fit.sum()),
        "training_rows_available": available, "backtest": backtest})
    return out


def training_rows(accounts: pd.DataFrame, periods: pd.PeriodIndex, horizon: int) -> pd.DataFrame:
    """One row per account active at the close of each period, with its label.

    Returns ``account_id``, ``period``, ``day`` (the period's last day, where
    the features are measured) and ``churned`` (``churned_on`` in
    ``(day, (period + horizon).last]``), period by period.

    Examples
    --------
    >>> accounts = pd.DataFrame({"account_id": ["A1", "A2"],
    ...     "customer_since": pd.to_datetime(["2024-01-10", "2024-02-01"]),
    ...     "churned_on": pd.to_datetime([None, "2024-07-01"])})
    >>> rows = training_rows(accounts, pd.period_range("2024Q1", "2024Q2", freq="Q"), horizon=1)
    >>> rows[["account_id", "period", "churned"]].to_dict("list")  # doctest: +NORMALIZE_WHITESPACE
    {'account_id': ['A1', 'A2', 'A1', 'A2'],
     'period': [Period('2024Q1', 'Q-DEC'), Period('2024Q1', 'Q-DEC'), Period('2024Q2', 'Q-DEC'),
                Period('2024Q2', 'Q-DEC')],
     'churned': [False, False, False, True]}
    """
    days = periods.end_time.normalize()
    ends = (periods + horizon).end_time.normalize()
    since = accounts["customer_since"].to_numpy()
    churned = accounts["churned_on"].to_numpy()
    # accounts x periods, then the active pairs: customer_since <= day < churned_on
    active = (since[:, None] <= days.to_numpy()[None, :]) & ~(churned[:, None] <= days.to_numpy()[None, :])
    account, k = np.nonzero(active.T)[::-1]
    order = np.lexsort((account, k))
    account, k = account[order], k[order]
    label = churned[account] <= ends.to_numpy()[k]  # NaT compares False: never churned
    return pd.DataFrame({"account_id": accounts["account_id"].array.take(account),
                         "period": periods[k], "day": days[k], "churned": label})


def backtest_rows(period: pd.Series, last: pd.Period, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """The training rows the backtest fits on, and the rows it scores: of ``period``, by row.

    It scores the rows of ``last`` (t*), the last period whose horizon has
    passed, and trains on the periods t <= t* - horizon: their label windows
    (t.last, (t + horizon).last] end by t*.last, where the scored one begins.

    Examples
    --------
    >>> period = pd.Series(pd.period_range("2025Q1", "2025Q4", freq="Q"))
    >>> train, scored = backtest_rows(period, pd.Period("2025Q4", "Q"), horizon=2)
    >>> train.tolist(), scored.tolist()
    ([True, True, False, False], [False, False, False, True])
    """
    return (period <= last - horizon).to_numpy(), (period == last).to_numpy()


def backtest_line(scores: pd.DataFrame) -> str:
    """The backtest in one line: "last quarter, the 10% most at risk held 46% of the churns; AUC 0.81".

    The period named is the one whose churns were caught: the window after
    the backtest's scored period ``t*``.

    Examples
    --------
    >>> frame = pd.DataFrame()
    >>> frame.attrs.update(freq="Q", horizon=1, backtest={"capture": 0.456, "auc": 0.8123,
    ...                    "churns": 13, "period": pd.Period("2026Q2", "Q")})
    >>> backtest_line(frame)
    'last quarter (2026 Q3), the 10% most at risk held 46% of the churns; AUC 0.81'
    >>> frame.attrs.update(horizon=2, backtest={**frame.attrs["backtest"],
    ...                                         "period": pd.Period("2026Q1", "Q")})
    >>> backtest_line(frame)
    'the 2 quarters 2026 Q2 to 2026 Q3 (scored at the end of 2026 Q1), the 10% most at risk held 46% ...'
    """
    test = scores.attrs["backtest"]
    if test.get("reason"):
        return f"no backtest: {test['reason']}"
    unit = {"M": "month", "Q": "quarter", "Y": "year"}[scores.attrs["freq"]]
    horizon = scores.attrs.get("horizon", 1)
    first, last = test["period"] + 1, test["period"] + horizon
    when = (f"last {unit} ({period_label(last)})" if horizon == 1 else
            f"the {horizon} {unit}s {period_label(first)} to {period_label(last)} (scored at the "
            f"end of {period_label(test['period'])})")
    if not test["churns"]:
        return f"{when} had no churn to catch"
    auc = "NA" if pd.isna(test["auc"]) else f"{test['auc']:.2f}"
    return f"{when}, the 10% most at risk held {test['capture']:.0%} of the churns; AUC {auc}"


def _scoring_date(data: Any, period: PeriodLike | None, calendar: Calendar) -> pd.Timestamp:
    """The as-of date, or the close of ``period`` (the as-of date when it is in progress)."""
    as_of = getattr(data, "as_of", None)
    if as_of is None or pd.isna(as_of):
        raise HistoryError("risk needs a date to score on, and the data records none.\n"
                          "Hint: declare it with load(..., as_of=...).")
    as_of = as_of.normalize()
    if period is None:
        return as_of
    chosen = calendar.period(period)
    refuse_after_as_of(data, chosen, what="risk")
    return min(chosen.end_time.normalize(), as_of)


def _active(accounts: pd.DataFrame, day: pd.Timestamp) -> pd.DataFrame:
    """The accounts active at the close of ``day``."""
    since, churned = accounts["customer_since"], accounts["churned_on"]
    return accounts[(since <= day) & ~(churned <= day)].reset_index(drop=True)


def _fit(features: pd.DataFrame, label: np.ndarray) -> Any:
    """The pipeline: mean imputation, standardisation, L2 logistic regression."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    if label.all() or not label.any():
        raise HistoryError(
            f"risk cannot learn from {len(label):,} training rows that all "
            f"{'churned' if label.all() else 'stayed'}.\nHint: a longer history, or a longer "
            "horizon, gives both outcomes to learn from.")
    model = Pipeline([("impute", SimpleImputer(strategy="mean", keep_empty_features=True)),
                      ("scale", StandardScaler()),
                      ("fit", LogisticRegression(C=1.0, solver="newton-cholesky", max_iter=200))])
    # BLAS splits the solver's sums over the training rows by thread, and each thread count
    # gives other last digits. One thread: the same model on any machine, and half the CPU.
    with threadpool_limits(limits=1, user_api="blas"):
        return model.fit(features, label)


def _backtest(features: pd.DataFrame, label: np.ndarray, train: np.ndarray, scored: np.ndarray,
              period: pd.Period) -> dict[str, Any]:
    """The scores of ``period``'s rows by a model trained on the rows of ``train`` only."""
    test = {"period": period, "rows": int(scored.sum()), "churns": int(label[scored].sum()),
            "training_rows": int(train.sum()), "auc": np.nan, "capture": np.nan,
            "precision": np.nan, "brier": np.nan,
            "calibration": pd.DataFrame(columns=["decile", "rows", "predicted", "observed"]),
            "reason": None}
    try:
        if not train.any():
            raise HistoryError(f"no period ends {period_label(period)}'s horizon earlier")
        model = _fit(features[train], label[train])
    except HistoryError as exc:
        test["reason"] = f"too little history to train on the periods before: {str(exc).splitlines()[0]}"
        return test
    return {**test, **evaluate(model.predict_proba(features[scored])[:, 1], label[scored])}


def evaluate(probability: np.ndarray, churned: np.ndarray) -> dict[str, Any]:
    """AUC, top-10% capture and precision, Brier score and calibration deciles of ``probability``.

    Examples
    --------
    Ten accounts, the two churns ranked 1st and 4th: the top 10% (one
    account) holds one churn of two; of the 2 x 8 churn/stay pairs, the
    4th ranks below two stays: 14 of 16 in order (AUC 0.875).

    >>> p = np.array([.9, .8, .7, .6, .5, .4, .3, .2, .1, .05])
    >>> y = np.array([1, 0, 0, 1, 0, 0, 0, 0, 0, 0], dtype=bool)
    >>> found = evaluate(p, y)
    >>> found["capture"], found["precision"], found["auc"]
    (0.5, 1.0, 0.875)
    """
    from sklearn.metrics import roc_auc_score

    n = len(probability)
    order = np.lexsort((np.arange(n), -probability))
    top = order[:math.ceil(_HIGH * n)]
    churns = int(churned.sum())
    rank = np.empty(n, dtype=np.int64)
    rank[np.lexsort((np.arange(n), probability))] = np.arange(n)
    decile = rank * 10 // max(n, 1)
    table = pd.DataFrame({"decile": decile + 1, "p": probability, "y": churned.astype(float)})
    calibration = table.groupby("decile").agg(rows=("p", "size"), predicted=("p", "mean"),
                                              observed=("y", "mean")).reset_index()
    both = 0 < churns < n
    return {"auc": float(roc_auc_score(churned, probability)) if both else np.nan,
            "capture": float(churned[top].sum() / churns) if churns else np.nan,
            "precision": float(churned[top].mean()) if len(top) else np.nan,
            "brier": float(np.mean((probability - churned) ** 2)) if n else np.nan,
            "calibration": calibration}


def _scores(now: pd.DataFrame, features: pd.DataFrame, probability: np.ndarray,
            model: Any) -> pd.DataFrame:
    """The accounts scored, with bands, ARR at risk and drivers, most at risk first.

    ``now`` is in account order (:func:`risk` sorts the accounts): ties in probability keep it.
    """
    n = len(now)
    order = np.lexsort((np.arange(n), -probability))
    place = np.empty(n, dtype=np.int64)
    place[order] = np.arange(n)
    band = np.where(place < math.ceil(_HIGH * n), "high",
                    np.where(place < math.ceil(_MEDIUM * n), "medium", "low"))
    arr = features["arr"].to_numpy() if "arr" in features else np.full(n, np.nan)
    out = pd.DataFrame({c: now[c].array if c in now else pd.array([pd.NA] * n, dtype="str")
                        for c in _COLUMNS[:4]})
    out["probability"] = probability
    out["band"] = band
    out["arr"] = arr
    out["arr_at_risk"] = probability * arr
    out["drivers"] = _drivers(features, model)
    return out.take(order).reset_index(drop=True)


def _drivers(features: pd.DataFrame, model: Any) -> np.ndarray:
    """Each row's three features that raise its risk most (coefficient x standardised value > 0).

    A missing value (no CSAT answer yet) is set to the training mean: it is no reason either way.
    """
    standard = model[:-1].transform(features)
    values = features.to_numpy(dtype=np.float64)
    weight = np.where(np.isnan(values), 0.0, standard * model[-1].coef_[0])  # unknown: no reason
    strongest = np.argsort(-weight, axis=1, kind="stable")[:, :3]
    rows = np.arange(len(features))[:, None]
    raising = weight[rows, strongest] > 0  # True first: the weights fall along a row
    # the drivers row by row, strongest first, each distinct (feature, value) put in words once
    feature, value = strongest[raising], values[rows, strongest][raising]
    _, first, which = np.unique(pd.factorize(value)[0] * features.shape[1] + feature,
                                       return_index=True, return_inverse=True)
    said = np.array([describe(features.columns[f], v)
                     for f, v in zip(feature[first], value[first], strict=True)], dtype=object)
    ends = np.concatenate([[0], np.cumsum(raising.sum(axis=1))]).astype(np.int64)
    words = pa.LargeListArray.from_arrays(pa.array(ends), pa.array(said[which], type=pa.large_string()))
    return pc.binary_join(words, pa.scalar("; ", pa.large_string())).to_numpy(zero_copy_only=False)
