"""Invariants of the KPIs on random small, valid accounts, deals and surveys (hypothesis).

- ratios that are shares lie in [0, 1] with 0 <= numerator <= denominator; nps in [-100, 100];
- the standard retention is not a share (an account acquired and lost inside P pushes it
  down, even below 0) but its numerator never exceeds its denominator;
- counts, sums and the numerators and denominators of ratios add up over the `by` groups
  to the ungrouped figure of every period;
- every period x group has exactly one row, periods without gaps;
- retention_rate(method="cohort") == 1 - churn_rate wherever S > 0;
- with S measured on P.open (the day before P.first), the standard numerator E - N is the cohort
  numerator S - C less the accounts acquired and lost inside P (by as_of, in the period in
  progress), so with no churn at all both retentions are exactly S / S.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import repkpi
from repkpi import CrmData

SETTINGS = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

DAY0 = dt.date(2023, 1, 1)
SPAN = 700  # days: data over about two years


def day(n: int) -> str:
    return (DAY0 + dt.timedelta(days=n)).isoformat()


# Day numbers of the first days of months (of quarters and years too) up to SPAN + 300: real CRMs
# date most acquisitions and churns there, and P.first is where the opening state is decided.
FIRSTS = [n for n in range(SPAN + 301) if (DAY0 + dt.timedelta(days=n)).day == 1]


ACCOUNT_COLUMNS = ["account_id", "region", "segment", "customer_since", "churned_on"]
DEAL_COLUMNS = ["deal_id", "account_id", "created_on", "closed_on", "stage", "amount", "deal_type",
                "channel"]
SURVEY_COLUMNS = ["response_id", "account_id", "responded_at", "csat", "nps"]


@st.composite
def crm_data(draw: st.DrawFn, churns: bool = True) -> CrmData:
    """Accounts (1-8), deals (0-10) and surveys (0-10) that pass validation (no churn if not ``churns``)."""
    n_accounts = draw(st.integers(1, 8))
    accounts = []
    for i in range(n_accounts):
        since = draw(st.integers(0, SPAN) | st.sampled_from([n for n in FIRSTS if n <= SPAN]))
        later_firsts = [n - since for n in FIRSTS if since < n <= since + 300]
        churn = draw(st.none() | st.integers(1, 300) | st.sampled_from(later_firsts)) if churns else None
        accounts.append({
            "account_id": f"A{i}",
            "region": draw(st.sampled_from(["north", "south", None])),
            "segment": draw(st.sampled_from(["smb", "enterprise"])),
            "customer_since": day(since),
            "churned_on": None if churn is None else day(since + churn),
        })
    ids = [a["account_id"] for a in accounts]
    deals = []
    for i in range(draw(st.integers(0, 10))):
        created = draw(st.integers(0, SPAN))
        stage = draw(st.sampled_from(["won", "won", "lost", "open"]))
        closes = stage != "open" or draw(st.booleans())
        deals.append({
            "deal_id": f"D{i}",
            "account_id": draw(st.sampled_from(ids)),
            "created_on": day(created),
            "closed_on": day(created + draw(st.integers(0, 200))) if closes else None,
            "stage": stage,
            "amount": draw(st.sampled_from(["0", "1000", "49999.99", "50000", "75000.5", "120000"])),
            "deal_type": draw(st.sampled_from(["new_business", "cross_sell", "upsell", "renewal"])),
            "channel": draw(st.sampled_from(["direct", "partner"])),
        })
    surveys = []
    for i in range(draw(st.integers(0, 10))):
        stamp = dt.datetime.combine(DAY0 + dt.timedelta(days=draw(st.integers(0, SPAN))), dt.time())
        stamp += dt.timedelta(minutes=draw(st.integers(0, 24 * 60 - 1)))
        offset = draw(st.sampled_from(["Z", "+02:00", "-02:00", "-05:00"]))
        scores = draw(st.sampled_from(["csat", "nps", "both"]))
        surveys.append({
            "response_id": f"S{i}",
            "account_id": draw(st.sampled_from(ids)),
            "responded_at": stamp.strftime("%Y-%m-%dT%H:%M:%S") + offset,
            "csat": str(draw(st.integers(1, 5))) if scores != "nps" else None,
            "nps": str(draw(st.integers(0, 10))) if scores != "csat" else None,
        })

    def frame(records: list[dict], columns: list[str]) -> pd.DataFrame:
        return pd.DataFrame(records, columns=columns, dtype=object)

    return CrmData(accounts=frame(accounts, ACCOUNT_COLUMNS), deals=frame(deals, DEAL_COLUMNS),
                   surveys=frame(surveys, SURVEY_COLUMNS))


# `by` choices for each KPI table; (kpi, options, its table)
ACCOUNT_BY = ["region", "segment", ["region", "segment"]]
DEAL_BY = ["channel", "deal_type", "region", ["channel", "region"]]
SURVEY_BY = ["region", "segment", ["segment", "region"]]
ADDITIVE = [
    ("new_customers", {}, "accounts"),
    ("new_customer_growth", {}, "accounts"),
    ("active_customers", {}, "accounts"),
    ("churn_rate", {}, "accounts"),
    ("retention_rate", {}, "accounts"),
    ("retention_rate", {"method": "cohort"}, "accounts"),
    ("engagement_rate", {}, "accounts"),
    ("key_accounts", {"threshold": 50_000}, "accounts"),
    ("revenue", {}, "deals"),
    ("win_rate", {}, "deals"),
    ("cross_sell_rate", {}, "deals"),
    ("cross_sell_wins", {}, "deals"),
    ("large_deals", {}, "deals"),
    ("average_deal_size", {}, "deals"),
    ("csat", {}, "surveys"),
    ("csat_mean", {}, "surveys"),
    ("nps", {}, "surveys"),
]
SHARES = [("churn_rate", {}), ("retention_rate", {"method": "cohort"}), ("engagement_rate", {}),
          ("win_rate", {}), ("cross_sell_rate", {}), ("csat", {})]
COUNTS = ["new_customers", "active_customers", "key_accounts", "revenue", "cross_sell_wins", "large_deals"]
FREQS = st.sampled_from(["M", "Q", "Y"])


def defined(result: pd.DataFrame) -> pd.DataFrame:
    return result[result["denominator"] > 0]


@SETTINGS
@given(data=crm_data(), freq=FREQS)
def test_shares_lie_between_0_and_1(data, freq):
    for kpi, options in SHARES:
        result = repkpi.KPIS[kpi](data, freq=freq, **options)
        assert (result["numerator"] >= 0).all(), kpi
        assert (result["numerator"] <= result["denominator"]).all(), kpi
        assert defined(result)["value"].between(0, 1).all(), kpi
        assert result.loc[result["denominator"] == 0, "value"].isna().all(), kpi


@SETTINGS
@given(data=crm_data(), freq=FREQS)
def test_nps_lies_between_minus_100_and_100(data, freq):
    result = repkpi.kpis.nps(data, freq=freq)
    assert (result["numerator"].abs() <= result["denominator"]).all()
    assert defined(result)["value"].between(-100, 100).all()
    assert result.loc[result["denominator"] == 0, "value"].isna().all()


@SETTINGS
@given(data=crm_data(), freq=FREQS)
def test_other_ratios_keep_their_bounds(data, freq):
    # standard retention: E - N = S - C - (acquired and lost in P) <= S, so value <= 1, though it
    # may be negative
    standard = repkpi.kpis.retention_rate(data, freq=freq)
    assert (standard["numerator"] <= standard["denominator"]).all()
    assert (defined(standard)["value"] <= 1).all()
    # growth: new(P) >= 0 so numerator >= -denominator, value >= -1
    growth = repkpi.kpis.new_customer_growth(data, freq=freq)
    assert np.isnan(growth["value"].iloc[0])  # the first period has no previous one
    assert (defined(growth)["value"] >= -1).all()
    # a mean of scores 1..5; a mean of non-negative amounts
    assert defined(repkpi.kpis.csat_mean(data, freq=freq))["value"].between(1, 5).all()
    assert (defined(repkpi.kpis.average_deal_size(data, freq=freq))["value"] >= 0).all()


@SETTINGS
@given(data=crm_data(), freq=FREQS)
def test_counts_and_sums_are_their_numerator(data, freq):
    for kpi in COUNTS:
        result = repkpi.KPIS[kpi](data, freq=freq)
        assert (result["value"] == result["numerator"]).all(), kpi
        assert (result["denominator"] == 1).all(), kpi
        assert (result["numerator"] >= 0).all(), kpi


@SETTINGS
@given(data=crm_data(), freq=FREQS, by_accounts=st.sampled_from(ACCOUNT_BY),
       by_deals=st.sampled_from(DEAL_BY), by_surveys=st.sampled_from(SURVEY_BY))
def test_groups_add_up_to_the_total(data, freq, by_accounts, by_deals, by_surveys):
    chosen = {"accounts": by_accounts, "deals": by_deals, "surveys": by_surveys}
    for kpi, options, table in ADDITIVE:
        by = chosen[table]
        function = repkpi.KPIS[kpi]
        total = function(data, freq=freq, **options).set_index("period")
        grouped = function(data, freq=freq, by=by, **options)
        columns = [by] if isinstance(by, str) else by
        # one row per period x group seen, no gaps
        n_groups = len(grouped[columns].drop_duplicates())
        assert len(grouped) == len(total) * n_groups, kpi
        assert grouped.groupby("period").size().eq(n_groups).all(), kpi
        assert not grouped.duplicated(["period", *columns]).any(), kpi
        # numerators (and the denominators of ratios; a count's is 1) are additive over the groups
        additive = ["numerator"] if kpi in COUNTS else ["numerator", "denominator"]
        sums = grouped.groupby("period", sort=True)[additive].sum(min_count=1)
        assert sums.index.tolist() == total.index.tolist(), kpi
        for column in additive:
            np.testing.assert_allclose(sums[column].to_numpy(), total[column].to_numpy(), rtol=1e-9,
                                       atol=1e-6, equal_nan=True, err_msg=f"{kpi} {column} by {by}")


@SETTINGS
@given(data=crm_data(), freq=FREQS)
def test_periods_run_without_gaps(data, freq):
    result = repkpi.kpis.active_customers(data, freq=freq)
    periods = result["period"]
    assert periods.is_monotonic_increasing
    steps = [(b - a).n for a, b in zip(periods.iloc[:-1], periods.iloc[1:], strict=True)]
    assert set(steps) <= {1}


@SETTINGS
@given(data=crm_data(), freq=FREQS, by=st.sampled_from([None, "region", "segment"]))
def test_cohort_retention_is_one_minus_churn(data, freq, by):
    cohort = repkpi.kpis.retention_rate(data, freq=freq, by=by, method="cohort")
    churn = repkpi.kpis.churn_rate(data, freq=freq, by=by)
    assert cohort["denominator"].tolist() == churn["denominator"].tolist()
    ok = churn["denominator"] > 0
    np.testing.assert_allclose(cohort.loc[ok, "value"].to_numpy(), 1 - churn.loc[ok, "value"].to_numpy(),
                               rtol=0, atol=1e-12)
    assert cohort.loc[~ok, "value"].isna().all()


@SETTINGS
@given(data=crm_data(), freq=FREQS)
def test_standard_retention_is_the_cohort_one_less_those_acquired_and_lost_in_p(data, freq):
    # E = (S - C) + (acquired in P and not lost by P.last) and N = acquired in P, so
    # (E - N) = (S - C) - (acquired in P and lost in P); both share the denominator S.
    # The last period is the one of data.as_of (the latest customer_since, deal or survey date;
    # churned_on is scheduled). When it is in progress, E is measured on as_of and C counts the
    # churns up to as_of only (kpis.md, "Complete periods"), so "lost in P" means lost by as_of:
    # an account acquired in P that churns after as_of is in N and in E, and cancels out.
    standard = repkpi.kpis.retention_rate(data, freq=freq)
    cohort = repkpi.kpis.retention_rate(data, freq=freq, method="cohort")
    accounts = data.accounts
    lost = accounts["churned_on"].notna() & (accounts["churned_on"] <= data.as_of)
    since = accounts.loc[lost, "customer_since"].dt.to_period(freq)
    gone = accounts.loc[lost, "churned_on"].dt.to_period(freq)
    inside = since[since == gone].value_counts()
    expected = [float(inside.get(p, 0)) for p in cohort["period"]]
    assert standard["denominator"].tolist() == cohort["denominator"].tolist()
    assert (cohort["numerator"] - standard["numerator"]).tolist() == expected


@SETTINGS
@given(data=crm_data(churns=False), freq=FREQS, by=st.sampled_from([None, "region", "segment"]))
def test_retention_is_exactly_one_when_nobody_churns(data, freq, by):
    # No churned_on: E = S + N, so E - N = S in every period and group, accounts acquired on
    # P.first included (they are in N, not in S); churn is 0 / S.
    for options in ({}, {"method": "cohort"}):
        result = repkpi.kpis.retention_rate(data, freq=freq, by=by, **options)
        assert (result["numerator"] == result["denominator"]).all(), options
        assert (defined(result)["value"] == 1).all(), options
        assert result.loc[result["denominator"] == 0, "value"].isna().all(), options
    churn = repkpi.kpis.churn_rate(data, freq=freq, by=by)
    assert (churn["numerator"] == 0).all()
