"""The sample generator's two churn modes: churn at a term's end, the sBG's r(t), the planted hazard."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from repkpi.datasets.generator import (
    generate_sample,
    planted_churn_probability,
    planted_term_hazard,
)

END = pd.Timestamp("2026-09-30")
ALPHA, BETA = 0.7, 3.5  # the documented default of sbg=


@pytest.fixture(scope="module")
def hazard() -> dict[str, pd.DataFrame]:
    """5,000 accounts in the default mode."""
    return generate_sample(seed=5, accounts=5000)


@pytest.fixture(scope="module")
def sbg() -> dict[str, pd.DataFrame]:
    """The same seed and size in the sBG mode."""
    return generate_sample(seed=5, accounts=5000, churn="sbg")


def _terms(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Contracts with their term number (1 = first) and whether a later contract renews them."""
    c = tables["contracts"].sort_values(["account_id", "start_date"]).copy()
    c["term"] = c.groupby("account_id").cumcount() + 1
    c["renewed"] = c["contract_id"].isin(c["renewal_of"].dropna())
    return c


@pytest.mark.parametrize("mode", ["hazard", "sbg"])
def test_churn_only_the_day_after_a_term_ends(mode, hazard, sbg):
    tables = hazard if mode == "hazard" else sbg
    acc = tables["accounts"].set_index("account_id")
    c = _terms(tables)
    last = c.groupby("account_id").tail(1).set_index("account_id")
    churned = acc["churned_on"].dropna()
    assert len(churned) > 500
    # the first day as no customer is the day after the last term's end_date
    assert (churned == last.loc[churned.index, "end_date"] + pd.Timedelta(days=1)).all()
    # ... and that last term is not renewed, while every earlier term is
    assert not last.loc[churned.index, "renewed"].any()
    assert c.loc[c["term"] < c.groupby("account_id")["term"].transform("max"), "renewed"].all()
    # nobody leaves before a term's end, nor after the history
    assert (churned > acc.loc[churned.index, "customer_since"] + pd.Timedelta(days=364)).all()
    assert (churned <= END).all()


@pytest.mark.parametrize("mode", ["hazard", "sbg"])
def test_contracts_end_as_signed(mode, hazard, sbg):
    c = _terms(hazard if mode == "hazard" else sbg)
    # a yearly term ends the day before the anniversary of its start
    year_on = c["start_date"] + pd.DateOffset(years=1)
    feb29 = (c["start_date"].dt.month == 2) & (c["start_date"].dt.day == 29)
    expected = year_on - pd.Timedelta(days=1) - pd.to_timedelta(feb29.astype(int), unit="D")
    assert (c["end_date"] == expected).all()
    # each renewal starts the day after the term it renews ends
    nxt = c.groupby("account_id")["start_date"].shift(-1)
    gap = (nxt - c["end_date"]).dropna()
    assert (gap == pd.Timedelta(days=1)).all()


def test_sbg_renewal_share_per_term_is_r_t(sbg):
    c = _terms(sbg)
    due = c[c["end_date"] < END]  # decided: the term ended before the history's last day
    share = due.groupby("term")["renewed"].agg(["mean", "size"])
    share = share[share["size"] >= 300]
    assert list(share.index) == [1, 2, 3, 4]
    t = share.index.to_numpy()
    r = (BETA + t - 1) / (ALPHA + BETA + t - 1)  # Fader & Hardie (2007), eq. (5)
    se = np.sqrt(r * (1 - r) / share["size"].to_numpy())
    assert np.all(np.abs(share["mean"].to_numpy() - r) < 3 * se), (share, r)
    # the cohort's retention rises with tenure, as heterogeneity makes it
    assert np.all(np.diff(share["mean"].to_numpy()) > 0)


def test_sbg_parameters_are_honoured():
    tables = generate_sample(seed=2, accounts=3000, churn="sbg", sbg=(3.0, 3.0))
    c = _terms(tables)
    first = c[(c["term"] == 1) & (c["end_date"] < END)]
    r1, n = 0.5, len(first)  # beta / (alpha + beta) = 3 / 6
    assert abs(first["renewed"].mean() - r1) < 3 * math.sqrt(r1 * (1 - r1) / n)


def test_hazard_churns_as_planted(hazard):
    terms = planted_term_hazard(hazard)
    acc = hazard["accounts"]
    # every churn is one of the decisions the truth lists, and it says so
    assert terms["churned"].sum() == acc["churned_on"].notna().sum()
    # calibration: within each decile of the planted probability, the share that
    # did not renew is its mean probability within 3 standard errors
    decile = pd.qcut(terms["probability"], 10, labels=False)
    by = terms.groupby(decile).agg(p=("probability", "mean"), seen=("churned", "mean"),
                                   n=("churned", "size"))
    se = np.sqrt(by["p"] * (1 - by["p"]) / by["n"])
    assert ((by["seen"] - by["p"]).abs() < 3 * se).all(), by


def test_more_breaches_churn_more_as_the_formula_says(hazard):
    terms = planted_term_hazard(hazard)
    breaches = terms["sla_breaches_90d"].clip(upper=2)
    by = terms.groupby(breaches).agg(p=("probability", "mean"), seen=("churned", "mean"),
                                     n=("churned", "size"))
    assert list(by.index) == [0, 1, 2]
    assert by["n"].min() >= 80
    assert by["p"].is_monotonic_increasing
    any_breach = terms.groupby(terms["sla_breaches_90d"] > 0)["churned"].mean()
    assert any_breach[True] > any_breach[False] + 0.05
    se = np.sqrt(by["p"] * (1 - by["p"]) / by["n"])
    assert ((by["seen"] - by["p"]).abs() < 3 * se).all(), by


def test_the_logit_is_the_documented_formula(hazard):
    t = planted_term_hazard(hazard)
    seg = t["segment"].map({"smb": 0.0, "mid_market": -0.35, "enterprise": -0.7})
    z = (
        -1.8 + seg + 0.5 * t["sla_breaches_90d"] + 0.45 * (4 - t["last_csat"]).fillna(0)
        + 0.12 * (7 - t["last_nps"]).fillna(0) + 0.9 * ~t["engaged_90d"]
        - 0.15 * t["activities_90d"] + 0.7 * t["rep_left"] - 0.2 * (t["term"] - 1)
        - 0.3 * np.log10(t["annual_value"] / 10_000)
    )
    assert np.allclose(t["z"], z)
    assert np.allclose(t["probability"], 1 / (1 + np.exp(-z)))
    assert (t["engaged_90d"] == (t["activities_90d"] + t["answers_90d"] > 0)).all()


def test_churn_has_its_own_random_stream(hazard, sbg):
    """Tickets, surveys and activities before an account leaves are the same in both modes."""
    last = pd.concat(
        [t["accounts"].set_index("account_id")["churned_on"].fillna(END + pd.Timedelta(days=1))
         for t in (hazard, sbg)], axis=1).min(axis=1)
    assert hazard["accounts"]["churned_on"].ne(sbg["accounts"]["churned_on"]).any()
    for table, column in [("tickets", "opened_at"), ("surveys", "responded_at"),
                          ("activities", "occurred_on")]:  # the three tables the hazard reads
        kept = []
        for tables in (hazard, sbg):
            df = tables[table]
            when = pd.to_datetime(df[column]).dt.tz_localize(None).dt.normalize()
            kept.append(df.loc[when < df["account_id"].map(last).to_numpy(),
                               df.columns.drop(df.columns[0])].reset_index(drop=True))
        assert len(kept[0]) > 1000
        pd.testing.assert_frame_equal(kept[0], kept[1])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"churn": "weekly"}, "churn must be 'hazard' or 'sbg', got 'weekly'"),
        ({"churn": "sbg", "sbg": (0.0, 2.0)}, r"sbg must be two positive numbers \(alpha, beta\)"),
        ({"sbg": (1.0,)}, "sbg must be two positive numbers"),
    ],
)
def test_refusals(kwargs, match):
    with pytest.raises(ValueError, match=match):
        generate_sample(accounts=10, **kwargs)


# --------------------------------------------------------------------------
# the truth on two hand-made accounts
# --------------------------------------------------------------------------


def _dates(*values: str | None) -> pd.Series:
    return pd.Series(pd.to_datetime(list(values)), dtype="datetime64[us]")


def _stamps(*values: str | None) -> pd.Series:
    return pd.Series(pd.to_datetime(list(values), utc=True), dtype="datetime64[us, UTC]")


@pytest.fixture
def two_accounts() -> dict[str, pd.DataFrame]:
    """A1 (smb) leaves after its first term; A2 (mid_market) renews twice.

    A1's term ends E = 2025-01-09 (window of 90 days: 2024-10-12 .. 2025-01-09,
    close = 2025-01-10 00:00 UTC):
    - tickets: T1 high (24 h) opened 2024-12-01 10:00, resolved after 48 h: a breach;
      T2 urgent (4 h) opened 2025-01-09 20:00, unresolved: deadline = the close,
      not passed yet; T3 opened 2024-10-11 (day E - 90): outside; T4 met. Breaches 1.
    - surveys: csat 5 / nps 9 on 2024-06-01, csat 2 on 2024-11-20 (in the window),
      csat 5 / nps 10 on 2025-01-10 01:00 (after the close): last csat 2, last nps 9,
      1 answer in the window; no activity in it (one on 2024-09-01): engaged.
    - rep R1 left on 2024-12-01; value 10,000; term 1.
      z = -1.8 + 0.5 * 1 + 0.45 * (4 - 2) + 0.12 * (7 - 9) + 0.7 = 0.06
      p = 1 / (1 + e^-0.06) = 0.514996
    A2: C2 ends 2024-02-29 (leap day): no events, value 8,000, term 1:
      z = -1.8 - 0.35 + 0.9 - 0.3 * log10(0.8) = -1.220927, p = 0.227773
    C3 ends 2025-02-28: activities on 2025-02-10 and 2025-02-20, value 20,000, term 2:
      z = -1.8 - 0.35 - 0.15 * 2 - 0.2 - 0.3 * log10(2) = -2.740309, p = 0.060636
    C4 ends 2026-02-28, after the data's last day (a deal created 2025-06-30): undecided.
    """
    return {
        "accounts": pd.DataFrame({
            "account_id": ["A1", "A2"], "account_name": ["One", "Two"],
            "rep_id": ["R1", "R2"], "region": ["north", "south"],
            "segment": ["smb", "mid_market"],
            "customer_since": _dates("2024-01-10", "2023-03-01"),
            "churned_on": _dates("2025-01-10", None),
        }),
        "contracts": pd.DataFrame({
            "contract_id": ["C1", "C2", "C3", "C4"], "account_id": ["A1", "A2", "A2", "A2"],
            "start_date": _dates("2024-01-10", "2023-03-01", "2024-03-01", "2025-03-01"),
            "end_date": _dates("2025-01-09", "2024-02-29", "2025-02-28", "2026-02-28"),
            "annual_value": [10_000.0, 8_000.0, 20_000.0, 21_000.0],
            "renewal_of": pd.Series([None, None, "C2", "C3"], dtype="str"),
        }),
        "tickets": pd.DataFrame({
            "ticket_id": ["T1", "T2", "T3", "T4"], "account_id": ["A1"] * 4,
            "rep_id": ["R1"] * 4,
            "opened_at": _stamps("2024-12-01 10:00", "2025-01-09 20:00", "2024-10-11 09:00",
                                 "2025-01-02 09:00"),
            "first_response_at": _stamps(None, None, None, None),
            "resolved_at": _stamps("2024-12-03 10:00", None, "2024-10-20 09:00",
                                   "2025-01-02 19:00"),
            "priority": ["high", "urgent", "low", "normal"],
            "kind": ["question"] * 4,
        }),
        "surveys": pd.DataFrame({
            "response_id": ["S1", "S2", "S3"], "account_id": ["A1"] * 3, "rep_id": ["R1"] * 3,
            "responded_at": _stamps("2024-06-01 12:00", "2024-11-20 12:00", "2025-01-10 01:00"),
            "csat": pd.array([5, 2, 5], dtype="Int64"),
            "nps": pd.array([9, None, 10], dtype="Int64"),
        }),
        "activities": pd.DataFrame({
            "activity_id": ["E1", "E2", "E3"], "account_id": ["A1", "A2", "A2"],
            "occurred_on": _dates("2024-09-01", "2025-02-10", "2025-02-20"),
            "kind": ["meeting"] * 3,
        }),
        "deals": pd.DataFrame({
            "deal_id": ["D1"], "account_id": ["A2"], "rep_id": ["R2"],
            "created_on": _dates("2025-06-30"), "closed_on": _dates(None), "stage": ["open"],
            "amount": [1000.0], "deal_type": ["upsell"], "channel": ["direct"],
        }),
        "reps": pd.DataFrame({
            "rep_id": ["R1", "R2"], "name": ["Rep One", "Rep Two"], "team": ["alpha"] * 2,
            "region": ["north", "south"], "hired_on": _dates("2020-01-01", "2020-01-01"),
            "left_on": _dates("2024-12-01", None),
        }),
    }


def test_term_hazard_by_hand(two_accounts):
    t = planted_term_hazard(two_accounts).set_index("contract_id")
    assert list(t.index) == ["C2", "C1", "C3"]  # by end date; C4 is not decided yet
    a1 = t.loc["C1"]
    assert (a1["sla_breaches_90d"], a1["last_csat"], a1["last_nps"]) == (1, 2.0, 9.0)
    assert (a1["activities_90d"], a1["answers_90d"], a1["engaged_90d"]) == (0, 1, True)
    assert (a1["rep_left"], a1["term"], a1["churned"]) == (True, 1, True)
    assert t.loc["C3", "term"] == 2
    assert not t.loc["C3", "churned"]
    assert np.isnan(t.loc["C2", "last_csat"])
    assert not t.loc["C2", "engaged_90d"]
    assert t["z"].to_dict() == pytest.approx({"C1": 0.06, "C2": -1.220927, "C3": -2.740309},
                                             abs=1e-6)
    assert t["probability"].to_dict() == pytest.approx(
        {"C1": 0.514996, "C2": 0.227773, "C3": 0.060636}, abs=1e-6)


def test_churn_probability_of_a_window_by_hand(two_accounts):
    # 2024Q4 closes on 2024-12-31; the window (2024-12-31, 2025-03-31] holds the
    # days after A1's C1 (2025-01-10) and A2's C3 (2025-03-01)
    out = planted_churn_probability(two_accounts, period="2024Q4")
    assert out["probability"].to_dict() == pytest.approx({"A1": 0.514996, "A2": 0.060636},
                                                         abs=1e-6)
    assert out["churned"].to_dict() == {"A1": True, "A2": False}
    # 2024Q1 (closes 2024-03-31): A1's term and A2's C3 end after the window ends 2024-06-30
    # and A2's C2 was decided on 2024-02-29, before the close
    early = planted_churn_probability(two_accounts, period="2024Q1")
    assert early["probability"].to_dict() == {"A1": 0.0, "A2": 0.0}
    # two quarters after 2024Q3 (closes 2024-09-30): both term ends, as above
    two = planted_churn_probability(two_accounts, period="2024Q3", horizon=2)
    assert two["probability"].to_dict() == pytest.approx({"A1": 0.514996, "A2": 0.060636},
                                                         abs=1e-6)


def test_churn_probability_refuses_a_window_after_the_data(two_accounts):
    with pytest.raises(ValueError, match="ends on 2025-09-30, after the data's last recorded day "
                                         "2025-06-30"):
        planted_churn_probability(two_accounts, period="2025Q2")


def test_term_hazard_without_any_survey(two_accounts):
    # no answer at all: the CSAT and NPS terms are 0 and A1 is not engaged in C1's window,
    # z = -1.8 + 0.5 * 1 + 0.9 + 0.7 = 0.3
    two_accounts["surveys"] = two_accounts["surveys"].iloc[:0]
    t = planted_term_hazard(two_accounts).set_index("contract_id")
    assert t["last_csat"].isna().all()
    assert t["last_nps"].isna().all()
    assert t.loc["C1", "z"] == pytest.approx(0.3)
    assert t.loc["C2", "z"] == pytest.approx(-1.220927, abs=1e-6)  # as before: it had none
