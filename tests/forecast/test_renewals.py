"""renewals: chains worked by hand, chains drawn from a known sBG, groups, refusals and both engines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize
from scipy.special import betaln

import repkpi
from repkpi import CrmData
from repkpi.datasets.generator import generate_sample
from repkpi.errors import AbsentColumnError, ColumnNotFoundError, FitError, MissingTableError, OptionError
from repkpi.forecast import fit_sbg, renewals

SMALL = Path(__file__).parent / "data" / "renewals_small"


def retention(alpha: float, beta: float, t) -> np.ndarray:
    return (beta + np.asarray(t, dtype=float) - 1) / (alpha + beta + np.asarray(t, dtype=float) - 1)


def mle(survivors, censored) -> tuple[float, float]:
    """Maximum likelihood by Nelder-Mead on the likelihood written with S(t) differences."""
    alive, stopped = np.asarray(survivors, float), np.asarray(censored, float)
    stopped[-1] = 0

    def minus(x):
        a, b = np.exp(x)
        s = np.exp(betaln(a, b + np.arange(len(alive))) - betaln(a, b))
        lost = alive[:-1] - stopped[:-1] - alive[1:]
        return -(lost @ np.log(s[:-1] - s[1:]) + stopped[:-1] @ np.log(s[:-1]) + alive[-1] * np.log(s[-1]))

    found = minimize(minus, np.log([3.0, 3.0]), method="Nelder-Mead",
                     options={"xatol": 1e-10, "fatol": 1e-13, "maxiter": 4000})
    return tuple(np.exp(found.x))


@pytest.fixture(scope="module")
def small():
    return renewals(repkpi.load(SMALL, as_of="2026-06-30"), periods=2)


def test_small_chains_counted_by_hand(small):
    # tests/forecast/data/renewals_small/README.md works these out.
    survivors = small.attrs["survivors"]
    assert survivors["after"].tolist() == [0, 1, 2, 3, 4]
    assert survivors["survivors"].tolist() == [8, 5, 2, 1, 0]
    assert survivors["censored"].tolist() == [2, 1, 0, 1, 0]
    fit = small.attrs["fit"].iloc[0]
    assert (fit["chains"], fit["lost"], fit["censored"], fit["truncated"]) == (8, 4, 4, 1)


def test_small_forecast_by_hand(small):
    assert [str(p) for p in small["period"]] == ["2026Q3", "2026Q4"]
    assert small["due"].tolist() == [2, 2]
    assert small["due_arr"].tolist() == [2700.0, 2250.0]
    # Falling retention: no spread across customers, r(t) -> 8 renewals / 12 term ends = 2/3.
    np.testing.assert_allclose(small["expected"], [4 / 3, 4 / 3], atol=1e-3)
    np.testing.assert_allclose(small["renewed_arr"], [1800.0, 1500.0], rtol=1e-3)
    np.testing.assert_allclose(small["renewal_rate"], [2 / 3, 2 / 3], atol=1e-3)
    assert small["expected_low"].tolist() == [0.0, 0.0]
    assert small["expected_high"].tolist() == [2.0, 2.0]
    contracts = small.attrs["contracts"]
    assert contracts["contract_id"].tolist() == ["C17", "C10", "C13", "C4"]
    assert contracts["term"].tolist() == [2, 1, 2, 4]   # C17 renews C0, which the data lacks


def test_small_backtest_by_hand(small):
    backtest = small.attrs["backtest"]
    assert [str(p) for p in backtest["period"]] == ["2025Q3", "2025Q4", "2026Q1", "2026Q2"]
    assert backtest["due"].tolist() == [1, 2, 0, 0]
    assert backtest["actual_due"].tolist() == [1.0, 2.0, 0.0, 1.0]
    assert backtest["renewed"].tolist() == [0.0, 2.0, 0.0, 0.0]
    np.testing.assert_array_equal(backtest["actual"], [0.0, 1.0, np.nan, 0.0])
    alpha, beta = mle([6, 3, 2, 0], [1, 0, 2, 0])
    r1, r3 = retention(alpha, beta, [1, 3])
    np.testing.assert_allclose(backtest["forecast"].iloc[:2], [r3, (r1 + r3) / 2], rtol=1e-4)
    assert backtest["forecast"].iloc[2:].isna().all()
    mae = (abs(r3 - 0) + abs((r1 + r3) / 2 - 1)) / 2 * 100
    assert small.attrs["backtest_mae"] == pytest.approx(mae, rel=1e-4)


def chains_of_a_known_sbg(rng: np.random.Generator, n: int, alpha: float, beta: float,
                          as_of: pd.Timestamp) -> pd.DataFrame:
    """``n`` chains of yearly terms started over 8 years; each customer leaves with its own theta.

    theta ~ beta(alpha, beta) is the chance of leaving at a term's end, T ~ geometric(theta) the term
    lost. The contracts that exist on ``as_of``: terms 1..min(T, terms started by then).
    """
    end = (as_of - pd.Timestamp("1970-01-01")).days
    start = end - rng.integers(0, 8 * 365, n)
    lifetime = rng.geometric(rng.beta(alpha, beta, n))
    started = (end - start) // 365 + 1
    terms = np.minimum(lifetime, started)
    chain = np.repeat(np.arange(n), terms)
    term = np.arange(len(chain)) - np.repeat(np.cumsum(terms) - terms, terms) + 1
    first = start[chain] + 365 * (term - 1)
    ids = np.char.add(np.char.add("C", chain.astype(str)), np.char.add("-", term.astype(str)))
    previous = np.char.add(np.char.add("C", chain.astype(str)), np.char.add("-", (term - 1).astype(str)))
    return pd.DataFrame({
        "contract_id": ids, "account_id": np.char.add("A", chain.astype(str)),
        "start_date": pd.to_datetime(first, unit="D"), "end_date": pd.to_datetime(first + 364, unit="D"),
        "annual_value": 1000.0, "renewal_of": np.where(term > 1, previous, None)})


@pytest.fixture(scope="module")
def drawn():
    as_of = pd.Timestamp("2026-06-30")
    contracts = chains_of_a_known_sbg(np.random.default_rng(7), 5000, 1.3, 3.5, as_of)
    return contracts, renewals(CrmData(contracts=contracts, as_of=as_of), periods=2)


def test_fit_recovers_a_known_sbg_from_5000_chains(drawn):
    _, result = drawn
    fit = result.attrs["fit"].iloc[0]
    assert fit["chains"] == 5000
    assert abs(fit["alpha"] - 1.3) < 3 * fit["alpha_se"]
    assert abs(fit["beta"] - 3.5) < 3 * fit["beta_se"]
    assert fit["converged"]


def test_drawn_chains_due_counted_another_way(drawn):
    contracts, result = drawn
    ends = contracts["end_date"]
    # Every contract of these chains is the latest of its chain or renewed before it ends.
    latest = ~contracts["contract_id"].isin(contracts["renewal_of"])
    q3 = latest & ends.between("2026-07-01", "2026-09-30")
    q4 = latest & ends.between("2026-10-01", "2026-12-31")
    assert result["due"].tolist() == [int(q3.sum()), int(q4.sum())]
    assert result["due_arr"].tolist() == [1000.0 * q3.sum(), 1000.0 * q4.sum()]


def test_drawn_chains_backtest_is_close(drawn):
    _, result = drawn
    backtest = result.attrs["backtest"]
    # Each quarter's actual rate has a standard error of about 2 points (some 300-600 contracts due
    # at 80%); a forecast from the same model errs by that much, not by 5 points on average.
    assert backtest["forecast"].notna().all()
    assert result.attrs["backtest_mae"] < 5


def test_by_groups_add_up_to_the_whole():
    data = repkpi.load_sample()
    whole = renewals(data, periods=2)
    by_segment = renewals(data, periods=2, by="segment")
    summed = by_segment.groupby("period")[["due", "due_arr"]].sum()
    assert summed["due"].tolist() == whole["due"].tolist()
    assert summed["due_arr"].tolist() == whole["due_arr"].tolist()
    # The contracts due, counted on the table itself: end_date in 2026 Q4, after as_of (2026-09-30).
    ends = data.contracts["end_date"]
    assert whole["due"].iloc[0] == int(ends.between("2026-10-01", "2026-12-31").sum())
    assert set(by_segment.attrs["fit"]["segment"]) == {"enterprise", "mid_market", "smb"}


def test_backtest_actual_is_the_renewal_rate_kpi():
    data = repkpi.load_sample()
    backtest = renewals(data, by="segment").attrs["backtest"]
    kpi = repkpi.KPIS["renewal_rate"](data, by="segment", start="2025Q4", end="2026Q3")
    merged = backtest.merge(kpi, on=["segment", "period"])
    assert len(merged) == 12
    np.testing.assert_allclose(merged["actual"], merged["value"])
    np.testing.assert_allclose(merged["actual_due"], merged["denominator"])


def test_already_renewed_contracts_are_sure():
    # C2 renews C1 early: it has started by as_of while C1 still runs; C1 renews with probability 1.
    contracts = pd.read_csv(SMALL / "contracts.csv", dtype=str)
    early = pd.DataFrame({"contract_id": ["X1", "X2"], "account_id": ["B1", "B1"],
                          "start_date": ["2026-01-01", "2026-06-01"],
                          "end_date": ["2026-08-31", "2027-05-31"],
                          "annual_value": ["100", "100"], "renewal_of": [None, "X1"]})
    result = renewals(CrmData(contracts=pd.concat([contracts, early]), as_of="2026-06-30"), periods=1)
    listed = result.attrs["contracts"].set_index("contract_id")
    assert listed.loc["X1", "probability"] == 1.0


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"periods": 0}, OptionError, "periods must be a whole number >= 1, got 0"),
    ({"periods": 1.5}, OptionError, "periods must be a whole number"),
    ({"by": "colour"}, ColumnNotFoundError, "Unknown dimension 'colour' for renewals"),
    ({"freq": "W"}, OptionError, "freq must be"),
])
def test_refused_options(kwargs, error, match):
    data = repkpi.load(SMALL, as_of="2026-06-30")
    with pytest.raises(error, match=match):
        renewals(data, **kwargs)


def test_refused_data():
    accounts = pd.DataFrame({"account_id": ["A1"], "customer_since": ["2024-01-15"]})
    with pytest.raises(MissingTableError, match="renewals needs the contracts table"):
        renewals(CrmData(accounts=accounts))
    contracts = pd.read_csv(SMALL / "contracts.csv", dtype=str)
    with pytest.raises(OptionError, match="renewals needs an as-of date"):
        renewals(CrmData(contracts=contracts))
    typed = repkpi.load(SMALL, as_of="2026-06-30").contracts
    absent = CrmData.trusted(contracts=typed, as_of="2026-06-30", absent={"contracts": ["renewal_of"]})
    with pytest.raises(AbsentColumnError, match="renewals needs contracts.renewal_of"):
        renewals(absent)


def test_a_group_without_renewals_cannot_be_fitted():
    contracts = pd.DataFrame({"contract_id": ["C1", "C2", "C3"], "account_id": ["A1", "A2", "A3"],
                              "start_date": ["2025-01-01"] * 3, "end_date": ["2025-12-31"] * 3,
                              "annual_value": ["1"] * 3, "renewal_of": [None] * 3})
    with pytest.raises(FitError, match="cannot fit the renewal chains of all contracts \\(3 chains\\)"):
        renewals(CrmData(contracts=contracts, as_of="2026-06-30"))


def test_the_fit_is_fit_sbg_of_the_counts(small):
    fit = small.attrs["fit"].iloc[0]
    again = fit_sbg([8, 5, 2, 1, 0], [2, 1, 0, 1, 0])
    assert (fit["alpha"], fit["beta"]) == (again.alpha, again.beta)


@pytest.mark.dask
def test_dask_equals_pandas(small):
    pytest.importorskip("dask.dataframe")
    theirs = renewals(repkpi.load(SMALL, as_of="2026-06-30", engine="dask"), periods=2)
    pd.testing.assert_frame_equal(small, theirs)
    pd.testing.assert_frame_equal(small.attrs["backtest"], theirs.attrs["backtest"])
    pd.testing.assert_frame_equal(small.attrs["contracts"], theirs.attrs["contracts"])


def test_an_as_of_date_inside_a_quarter():
    # As of 2026-08-15 every contract of the fixture exists: the same chains as at 2026-06-30 (README).
    result = renewals(repkpi.load(SMALL, as_of="2026-08-15"), periods=1)
    assert [str(p) for p in result["period"]] == ["2026Q3", "2026Q4"]   # the rest of Q3, then Q4
    assert result["due"].tolist() == [2, 2]                              # C17 and C10; C13 and C4
    backtest = result.attrs["backtest"]
    # A year earlier, 2025-08-15: C9 (started 2025-07-01) and C11 (2025-08-15) exist, C10, C13 and C17
    # do not. Chains: A1 3 terms running, A2 lost after 2, A3 lost after 1, A4 2 running, A6 and A7
    # 1 running, A8 3 running: survivors 7, 4, 2, 0; censored 2, 1, 2. Retention falls (4/5, 2/3),
    # so r(t) -> 6 renewals / 8 term ends = 0.75 for every term.
    assert result.attrs["backtest_note"] == "The backtest fits the chains as they stood on 2025-08-15."
    # The last four complete quarters: 2025 Q3 (its contracts due after 15 August only) to 2026 Q2.
    assert [str(p) for p in backtest["period"]] == ["2025Q3", "2025Q4", "2026Q1", "2026Q2"]
    assert backtest["due"].tolist() == [1, 2, 0, 1]                      # C16; C12, C3; -; C9
    np.testing.assert_allclose(backtest["forecast"].iloc[[0, 1, 3]], 0.75, atol=1e-3)
    np.testing.assert_array_equal(backtest["actual"], [0.0, 1.0, np.nan, 0.0])
    assert result.attrs["backtest_mae"] == pytest.approx((75 + 25 + 75) / 3, abs=0.2)


@pytest.fixture(scope="module")
def generated():
    """The generator's sBG mode (forecast.md): each account's churn chance from beta(0.7, 3.5)."""
    tables = generate_sample(seed=26, accounts=5000, churn="sbg", sbg=(0.7, 3.5))
    return renewals(CrmData(**tables), periods=1)


def test_generated_sbg_data_gives_back_its_alpha_and_beta(generated):
    fit = generated.attrs["fit"].iloc[0]
    assert fit["chains"] == 5000   # one first contract per account, each term renewing the one before
    assert fit["truncated"] == 0
    assert abs(fit["alpha"] - 0.7) < 3 * fit["alpha_se"]
    assert abs(fit["beta"] - 3.5) < 3 * fit["beta_se"]
    assert fit["converged"]


def test_generated_sbg_data_backtest(generated):
    # Hundreds of contracts due a quarter at some 85%: each actual rate has a standard error of
    # 1.1-1.6 points; a forecast from the true model errs by about that, not by 4 points on average.
    backtest = generated.attrs["backtest"]
    assert backtest["forecast"].notna().all()
    assert generated.attrs["backtest_mae"] < 4


@pytest.mark.dask
def test_dask_equals_pandas_by_an_account_column():
    pytest.importorskip("dask.dataframe")
    mine = renewals(repkpi.load_sample(), by="segment", periods=1)
    theirs = renewals(repkpi.load(repkpi.sample_path(), engine="dask"), by="segment", periods=1)
    pd.testing.assert_frame_equal(mine, theirs)
    pd.testing.assert_frame_equal(mine.attrs["fit"], theirs.attrs["fit"])
    pd.testing.assert_frame_equal(mine.attrs["backtest"], theirs.attrs["backtest"])
