"""``repkpi.forecast.risk`` (forecast.md, "Who is at risk"): features, rows, leakage, backtest."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import repkpi
from repkpi import CrmData
from repkpi.errors import AbsentColumnError, MissingTableError, OptionError, RepkpiError
from repkpi.forecast import risk
from repkpi.forecast.features import gather, measure
from repkpi.forecast.risk import backtest_rows, evaluate, training_rows


def _tiny() -> CrmData:
    """Two accounts scored on 2024-06-30; every feature below is worked out by hand in the test."""
    return CrmData(
        accounts=pd.DataFrame({"account_id": ["A1", "A2"], "rep_id": ["R1", "R2"],
                               "segment": ["enterprise", "smb"],
                               "customer_since": ["2024-01-01", "2024-03-01"], "churned_on": [None, None]}),
        reps=pd.DataFrame({"rep_id": ["R1", "R2"], "hired_on": ["2020-01-01", "2020-01-01"],
                           "left_on": ["2024-05-01", None]}),
        contracts=pd.DataFrame({
            "contract_id": ["C1", "C2", "C3", "C4"], "account_id": ["A1", "A1", "A2", "A1"],
            "start_date": ["2024-01-01", "2024-03-01", "2024-03-01", "2025-01-01"],
            "end_date": ["2024-12-31", "2024-08-31", None, "2025-12-31"],
            "annual_value": [1200, 600, 500, 1300], "renewal_of": [None, None, None, "C1"]}),
        tickets=pd.DataFrame({
            "ticket_id": ["T1", "T2", "T3", "T4", "T5", "T6"],
            "account_id": ["A1", "A1", "A1", "A1", "A2", "A2"],
            "opened_at": ["2024-04-10T10:00Z", "2024-06-29T12:00Z", "2024-06-30T22:00Z",
                          "2024-03-01T00:00Z", "2024-05-01T00:00Z", "2024-06-30T20:00Z"],
            "resolved_at": ["2024-04-12T10:00Z", None, None, "2024-04-05T00:00Z",
                            "2024-05-01T06:00Z", "2024-07-02T00:00Z"],
            "priority": ["high", "urgent", "urgent", "normal", "normal", "low"]}),
        surveys=pd.DataFrame({
            "response_id": ["S1", "S2", "S3", "S4"], "account_id": ["A1", "A1", "A1", "A2"],
            "responded_at": ["2024-02-01T12:00Z", "2024-05-15T12:00Z", "2024-07-05T00:00Z",
                             "2024-06-01T00:00Z"],
            "csat": [4, 2, 1, None], "nps": [9, None, None, 3]}),
        activities=pd.DataFrame({"activity_id": ["E1", "E2"], "account_id": ["A1", "A1"],
                                 "occurred_on": ["2024-06-30", "2024-04-01"]}),
        deals=pd.DataFrame({
            "deal_id": ["D1", "D2", "D3", "D4"], "account_id": ["A1", "A1", "A2", "A2"],
            "created_on": ["2024-01-05", "2023-05-01", "2024-06-01", "2024-05-01"],
            "closed_on": ["2024-02-01", "2023-07-02", "2024-07-15", "2024-06-01"],
            "stage": ["won", "lost", "won", "open"]}))


# Scored at the close of 2024-06-30: windows of 90 days hold 2024-04-02..06-30, of 365 days
# 2023-07-02..2024-06-30.
# A1: a customer since 2024-01-01 (181 days); C1 + C2 active (1200 + 600), C2 ends first, on 08-31
# (62 days); C4 starts later (unknown). Tickets opened in the window: T1, T2, T3 (T4 on 03-01 is
# not). Breaches dated at the deadline missed: T1 (high, 24 h, resolved after 48 h: deadline
# 04-11), T2 (urgent, 4 h, open past 06-29 16:00); T3's deadline is 07-01 02:00, after the close.
# Resolved in the window: T1 in 48 h and T4 in 35 days = 840 h: median 444. Surveys: S2 in the
# window (46.5 days before the close); last CSAT 2 (S2), the one before 4: change -2; last NPS 9
# (S1), no NPS before it; S3 is after. Activities: E1 on the day (0 days since); E2 on 04-01 is
# 91 days back, out of the window. Deals: D1 won (02-01) and D2 lost (2023-07-02) in 12 months.
# R1 left on 05-01: the rep has left.
# A2: 121 days a customer; C3 evergreen (500): 3650 days to an end. Tickets T5 and T6 opened;
# T5 resolved in 6 h (no breach); T6 resolved after the close. NPS 3 (S4, 30 days ago), no CSAT.
# No activity: days since = its tenure, 121. D3 is won after the day, D4 open: no deals.
EXPECTED = {
    "tenure_days": [181, 121], "arr": [1800, 500], "days_to_contract_end": [62, 3650],
    "tickets_90d": [3, 2], "sla_breaches_90d": [2, 0], "resolution_hours_90d": [444, 6],
    "surveys_90d": [1, 1], "days_since_survey": [46.5, 30], "csat_last": [2, np.nan],
    "csat_change": [-2, np.nan], "nps_last": [9, 3], "nps_change": [np.nan, np.nan],
    "activities_90d": [1, 0], "days_since_activity": [0, 121], "deals_won_12m": [1, 0],
    "deals_lost_12m": [1, 0], "rep_left": [1, 0], "segment=enterprise": [1, 0], "segment=smb": [0, 1],
}


def _pairs(day: str, accounts: tuple[str, ...] = ("A1", "A2")) -> pd.DataFrame:
    return pd.DataFrame({"account_id": list(accounts), "day": pd.Timestamp(day)})


def test_features_worked_by_hand() -> None:
    found = measure(gather(_tiny()), _pairs("2024-06-30"))
    assert sorted(found.columns) == sorted(EXPECTED)
    pd.testing.assert_frame_equal(found, pd.DataFrame(EXPECTED, dtype=np.float64), check_like=True)


@pytest.mark.parametrize("table", ["tickets", "surveys", "activities", "deals", "reps", "contracts"])
def test_a_missing_table_drops_its_features(table: str) -> None:
    tables = {name: getattr(_tiny(), name) for name in ("accounts", "reps", "contracts", "tickets",
                                                          "surveys", "activities", "deals")}
    tables.pop(table)
    found = measure(gather(CrmData(**tables)), _pairs("2024-06-30"))
    dropped = {"tickets": {"tickets_90d", "sla_breaches_90d", "resolution_hours_90d"},
               "surveys": {"surveys_90d", "days_since_survey", "csat_last", "csat_change",
                           "nps_last", "nps_change"},
               "activities": {"activities_90d", "days_since_activity"},
               "deals": {"deals_won_12m", "deals_lost_12m"}, "reps": {"rep_left"},
               "contracts": {"arr", "days_to_contract_end"}}[table]
    assert set(found.columns) == set(EXPECTED) - dropped
    pd.testing.assert_frame_equal(found, pd.DataFrame(EXPECTED, dtype=np.float64)[found.columns])


def test_an_absent_column_drops_its_features() -> None:
    tiny = _tiny()
    tickets = tiny.tickets.drop(columns=["priority"])
    found = measure(gather(CrmData(accounts=tiny.accounts, tickets=tickets)), _pairs("2024-06-30"))
    assert "sla_breaches_90d" not in found
    assert found["tickets_90d"].tolist() == [3, 2]


def test_training_rows_and_labels_with_horizon_two() -> None:
    # A1 from 2024-01-10, A2 from 2024-02-01 churned on 2024-07-01, A3 a prospect, A4 from
    # 2024-05-01 churned on 2024-06-30. Active at the close of 2024Q1 (03-31): A1, A2; of 2024Q2
    # (06-30): A1, A2 (A4 churned on 06-30 is gone). With horizon=2 the label window of 2024Q1
    # is (03-31, 09-30]: A2 churns in it; of 2024Q2 (06-30, 12-31]: A2 again.
    accounts = pd.DataFrame({"account_id": ["A1", "A2", "A3", "A4"],
                             "customer_since": pd.to_datetime(["2024-01-10", "2024-02-01", None,
                                                               "2024-05-01"]),
                             "churned_on": pd.to_datetime([None, "2024-07-01", None, "2024-06-30"])})
    rows = training_rows(accounts, pd.period_range("2024Q1", "2024Q2", freq="Q"), horizon=2)
    assert rows["account_id"].tolist() == ["A1", "A2", "A1", "A2"]
    assert rows["churned"].tolist() == [False, True, False, True]
    assert rows["day"].tolist() == [pd.Timestamp("2024-03-31")] * 2 + [pd.Timestamp("2024-06-30")] * 2


@pytest.mark.parametrize("horizon", [1, 2, 3])
def test_no_backtest_training_label_window_overlaps_the_scored_one(horizon: int) -> None:
    # The rows themselves: every training row's label window (t.last, (t + h).last] ends on or
    # before t*.last, where the scored window (t*.last, (t* + h).last] begins; and the periods
    # just allowed (t = t* - h) are kept, so nothing more is left out than the rule says.
    accounts = repkpi.load_sample().accounts
    periods = pd.period_range("2022Q1", "2026Q1", freq="Q")
    last = periods[-1]
    rows = training_rows(accounts, periods, horizon)
    train, scored = backtest_rows(rows["period"], last, horizon)
    windows_end = (rows["period"][train] + horizon).dt.end_time.dt.normalize()
    assert windows_end.max() == last.end_time.normalize()  # t* - h's window ends at t*.last
    assert (rows["period"][train] <= last - horizon).all()
    assert rows["period"][scored].eq(last).all()
    assert scored.sum() == rows["period"].eq(last).sum() > 0
    assert not (train & scored).any()
    # and the labels of the training rows: churned_on inside their own window only
    churned = rows[train].merge(accounts[["account_id", "churned_on"]], on="account_id")
    inside = (churned["churned_on"] > churned["day"]) & (churned["churned_on"] <= windows_end.to_numpy())
    assert churned["churned"].tolist() == inside.tolist()


@pytest.mark.parametrize(("as_of", "horizon", "scored", "trained_to"), [
    # as_of ends 2026Q3: the last period whose horizon has passed is 2026Q3 - h; the backtest
    # trains on periods whose label windows end by its close: t + h <= t*.
    ("2026-09-30", 1, "2026Q2", "2026Q1"),
    ("2026-09-30", 2, "2026Q1", "2025Q3"),
    # as_of inside 2026Q3: 2026Q2 is the last period ended.
    ("2026-08-15", 2, "2025Q4", "2025Q2"),
])
def test_backtest_rows_never_overlap_the_scored_window(as_of: str, horizon: int, scored: str,
                                                       trained_to: str) -> None:
    data = repkpi.load(repkpi.sample_path(), as_of=as_of)
    scores = risk(data, horizon=horizon)
    test = scores.attrs["backtest"]
    assert test["period"] == pd.Period(scored, "Q")
    assert test["training_periods"][1] == pd.Period(trained_to, "Q")
    # the latest training label window ends where the scored window begins
    assert (test["training_periods"][1] + horizon).end_time.normalize() == \
        test["period"].end_time.normalize()
    # the final model's last training period: its label window ends by the scoring date
    last = scores.attrs["training_periods"][1]
    assert last == pd.Period(scored, "Q")
    assert (last + horizon).end_time.normalize() <= pd.Timestamp(as_of)


def _after(data: CrmData, day: str) -> CrmData:
    """The data with rows dated after ``day`` that would change every feature if read."""
    later = pd.Timestamp(day) + pd.Timedelta(days=10)
    accounts = data.accounts.copy()
    active = accounts["customer_since"].le(day) & accounts["churned_on"].isna()
    churning = accounts.index[active][:40]
    accounts.loc[churning, "churned_on"] = later
    ids = accounts.loc[active, "account_id"].iloc[:200].to_numpy()
    n = len(ids)
    stamp = pd.Timestamp(later, tz="UTC")
    tickets = pd.concat([data.tickets, pd.DataFrame({
        "ticket_id": [f"TX{i}" for i in range(n)], "account_id": ids, "rep_id": None,
        "opened_at": stamp, "first_response_at": None, "resolved_at": None, "priority": "urgent",
        "kind": "complaint"})], ignore_index=True)
    surveys = pd.concat([data.surveys, pd.DataFrame({
        "response_id": [f"SX{i}" for i in range(n)], "account_id": ids, "rep_id": None,
        "responded_at": stamp, "csat": 1, "nps": 0})], ignore_index=True)
    activities = pd.concat([data.activities, pd.DataFrame({
        "activity_id": [f"EX{i}" for i in range(n)], "account_id": ids, "occurred_on": later,
        "kind": "meeting"})], ignore_index=True)
    deals = pd.concat([data.deals, pd.DataFrame({
        "deal_id": [f"DX{i}" for i in range(n)], "account_id": ids, "rep_id": None,
        "created_on": later, "closed_on": later, "stage": "lost", "amount": 100.0,
        "deal_type": "upsell", "channel": "direct"})], ignore_index=True)
    contracts = pd.concat([data.contracts, pd.DataFrame({
        "contract_id": [f"CX{i}" for i in range(n)], "account_id": ids, "start_date": later,
        "end_date": later + pd.Timedelta(days=30), "annual_value": 99_000.0,
        "renewal_of": None})], ignore_index=True)
    reps = data.reps.copy()
    reps.loc[reps["left_on"].isna() & reps["hired_on"].lt(later), "left_on"] = later
    return CrmData(accounts=accounts, contracts=contracts, deals=deals, tickets=tickets,
                   surveys=surveys, activities=activities, reps=reps, as_of=data.as_of)


def test_no_feature_or_score_at_t_reads_a_row_dated_after_t() -> None:
    data = repkpi.load_sample()
    leaked = _after(data, "2025-12-31")
    pairs = pd.DataFrame({"account_id": data.accounts["account_id"], "day": pd.Timestamp("2025-12-31")})
    before = measure(gather(data), pairs)
    pd.testing.assert_frame_equal(measure(gather(leaked), pairs), before)
    # the rows do change what is measured once their day has come
    later = pairs.assign(day=pd.Timestamp("2026-02-28"))
    assert not measure(gather(leaked), later).equals(measure(gather(data), later))
    # and the scores of 2025Q4 (trained on labels that end by its close) are the same
    expected, found = risk(data, period="2025Q4"), risk(leaked, period="2025Q4")
    pd.testing.assert_frame_equal(found, expected)
    assert found.attrs["backtest"]["auc"] == expected.attrs["backtest"]["auc"]


def test_scores_bands_and_arr_at_risk() -> None:
    scores = risk(repkpi.load_sample())
    n = len(scores)
    data = repkpi.load_sample()
    as_of = data.as_of
    active = data.accounts["customer_since"].le(as_of) & ~data.accounts["churned_on"].le(as_of)
    assert n == int(active.sum())
    assert scores["probability"].between(0, 1).all()
    high, medium = int(np.ceil(0.1 * n)), int(np.ceil(0.3 * n)) - int(np.ceil(0.1 * n))
    assert scores["band"].tolist() == ["high"] * high + ["medium"] * medium + ["low"] * (n - high - medium)
    np.testing.assert_allclose(scores["arr_at_risk"], scores["probability"] * scores["arr"])
    assert scores["drivers"].str.split("; ").str.len().max() <= 3
    test = scores.attrs["backtest"]
    assert set(test["calibration"].columns) == {"decile", "rows", "predicted", "observed"}
    assert test["calibration"]["rows"].sum() == test["rows"]


def test_evaluate_against_counted_pairs() -> None:
    # AUC as the share of (churn, stay) pairs in order, counted pair by pair (ties count half)
    rng = np.random.default_rng(1)
    p = rng.random(60).round(1)
    y = rng.random(60) < p
    churn, stay = p[y], p[~y]
    pairs = (churn[:, None] > stay[None, :]).sum() + 0.5 * (churn[:, None] == stay[None, :]).sum()
    found = evaluate(p, y)
    assert found["auc"] == pytest.approx(pairs / (len(churn) * len(stay)))
    assert found["brier"] == pytest.approx(((p - y) ** 2).mean())
    assert found["calibration"]["rows"].tolist() == [6] * 10


def test_errors() -> None:
    data = repkpi.load_sample()
    with pytest.raises(OptionError, match="horizon must be a positive whole number"):
        risk(data, horizon=0)
    with pytest.raises(OptionError, match="begins after the as-of date"):
        risk(data, period="2027Q1")
    with pytest.raises(MissingTableError, match="risk needs the accounts table"):
        risk(CrmData(deals=data.deals))
    with pytest.raises(AbsentColumnError, match="risk needs accounts.churned_on"):
        risk(CrmData(accounts=data.accounts.drop(columns=["churned_on"])))
    with pytest.raises(RepkpiError, match="risk has no past to learn from"):
        risk(CrmData(accounts=_tiny().accounts, as_of="2024-05-15"))  # 2024Q1 has no horizon
    nobody = data.accounts.assign(churned_on=pd.NaT)
    with pytest.raises(RepkpiError, match="training rows that all stayed"):
        risk(CrmData(accounts=nobody))


def test_dask_data_gives_the_same_scores() -> None:
    pytest.importorskip("dask.dataframe")
    on_dask = repkpi.load(repkpi.sample_path(), engine="dask")
    found, expected = risk(on_dask), risk(repkpi.load_sample())
    pd.testing.assert_frame_equal(found, expected)
    assert found.attrs["backtest"]["auc"] == expected.attrs["backtest"]["auc"]


def test_training_rows_beyond_the_limit_are_sampled(monkeypatch) -> None:
    import importlib

    module = importlib.import_module("repkpi.forecast.risk")  # the module, not the function
    data = repkpi.load_sample()
    whole = risk(data)
    monkeypatch.setattr(module, "MAX_TRAINING_ROWS", 3000)
    sampled = risk(data)
    assert sampled.attrs["training_rows_available"] == whole.attrs["training_rows_available"] > 3000
    assert sampled.attrs["training_rows"] == 3000
    # the backtest fits the sampled rows of its own periods, and scores every row of t*
    test = sampled.attrs["backtest"]
    assert test["training_rows"] < 3000
    assert test["rows"] == whole.attrs["backtest"]["rows"]
    assert sampled["account_id"].sort_values().tolist() == whole["account_id"].sort_values().tolist()


def _model(train: pd.DataFrame, coefficients: list[float]) -> Any:
    """The risk pipeline with its imputer and scaler fitted on ``train``, its coefficients given."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    imputer = SimpleImputer(strategy="mean", keep_empty_features=True).fit(train)
    scaler = StandardScaler().fit(imputer.transform(train))
    fitted = LogisticRegression()
    fitted.coef_, fitted.intercept_ = np.array([coefficients]), np.array([0.0])
    fitted.classes_ = np.array([False, True])
    return Pipeline([("impute", imputer), ("scale", scaler), ("fit", fitted)])


def test_drivers_worked_by_hand() -> None:
    # Training values 0 and 2 (mean 1, sd 1) standardise x to x - 1; segment 0 and 1 (mean 0.5,
    # sd 0.5) to 2x - 1. Weights = coefficient x standardised value, a missing value weighs 0:
    #   row 0: tickets 4 -> 2 x 3 = 6, CSAT 1 -> 0, activities 0 -> -0.5 x -1 = 0.5, smb -> 0.25:
    #          the three above 0, strongest first;
    #   row 1: tickets 0 -> -2, CSAT missing -> 0, activities 2 -> -0.5, not smb -> -0.25: none;
    #   row 2: tickets 1 -> 0, CSAT 0 -> -1 x -1 = 1, activities 1 -> 0, not smb: CSAT alone;
    #   row 3: as row 0 (the same words); row 4: all four raise it, the weakest (smb) is left out.
    from repkpi.forecast.risk import _drivers

    columns = ["tickets_90d", "csat_last", "activities_90d", "segment=smb"]
    train = pd.DataFrame([[0, 0, 0, 0], [2, 2, 2, 1]], columns=columns, dtype=np.float64)
    features = pd.DataFrame([[4, 1, 0, 1], [0, np.nan, 2, 0], [1, 0, 1, 0], [4, 1, 0, 1],
                             [4, 0, 0, 1]], columns=columns, dtype=np.float64)
    found = _drivers(features, _model(train, [2.0, -1.0, -0.5, 0.25]))
    every = "4 tickets in 90 days; no activities in 90 days; segment smb"
    assert found.tolist() == [every, "", "last CSAT 0", every,
                              "4 tickets in 90 days; last CSAT 0; no activities in 90 days"]


def test_the_fit_is_the_same_whatever_the_blas_threads() -> None:
    # OpenBLAS splits the solver's sums over rows by thread; on these 5,000 rows, sklearn's own
    # fit gives other last digits with 1, 2 and 4 threads. The risk model's fit must not.
    from threadpoolctl import threadpool_limits

    from repkpi.forecast.risk import _fit

    rng = np.random.default_rng(0)
    features = pd.DataFrame(rng.normal(size=(5000, 20))).add_prefix("f")
    label = rng.random(5000) < 1 / (1 + np.exp(-features["f0"].to_numpy()))
    fitted = []
    for threads in (1, 2, 4):
        with threadpool_limits(limits=threads, user_api="blas"):
            fitted.append(_fit(features, label)[-1].coef_)
    assert all(np.array_equal(fitted[0], other) for other in fitted[1:])


def test_features_do_not_depend_on_the_order_of_the_pairs() -> None:
    # the pairs of test_features_worked_by_hand, reversed and on their own index, with A1 twice
    pairs = pd.DataFrame({"account_id": ["A2", "A1", "A1"], "day": pd.Timestamp("2024-06-30")},
                         index=[7, 3, 5])
    found = measure(gather(_tiny()), pairs)
    expected = pd.DataFrame(EXPECTED, dtype=np.float64).iloc[[1, 0, 0]].set_axis([7, 3, 5])
    pd.testing.assert_frame_equal(found, expected, check_like=True)
