"""fit_sbg: Fader & Hardie's Table 1, the standard errors, censoring, refusals, recovery and coverage."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize
from statsmodels.tools.numdiff import approx_hess3

from repkpi.errors import FitError
from repkpi.forecast import SbgFit, fit_sbg
from repkpi.forecast.renewals import renewal_interval

# Fader & Hardie (2007), "How to project customer retention", Table 1: customers alive in years 0-7.
REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241]
HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491]


def loglik(alpha: float, beta: float, survivors, censored=None) -> float:
    """The sBG log-likelihood written another way: P(T = t) by its recursion, S(t) = 1 - sum P.

    P(T = 1) = alpha / (alpha + beta), P(T = t) = P(T = t - 1) (beta + t - 2) / (alpha + beta + t - 1)
    (Fader & Hardie, equation 7); no beta function anywhere.
    """
    alive = np.asarray(survivors, dtype=float)
    stopped = np.zeros_like(alive) if censored is None else np.asarray(censored, dtype=float)
    horizon = len(alive) - 1
    p = np.empty(horizon + 1)
    p[0] = 0.0
    p[1] = alpha / (alpha + beta)
    for t in range(2, horizon + 1):
        p[t] = p[t - 1] * (beta + t - 2) / (alpha + beta + t - 1)
    survival = 1 - np.cumsum(p)
    lost = alive[:-1] - stopped[:-1] - alive[1:]
    return float(lost @ np.log(p[1:]) + stopped[:-1] @ np.log(survival[:-1])
                 + alive[-1] * np.log(survival[-1]))


def independent_fit(survivors, censored=None) -> np.ndarray:
    """Nelder-Mead on the recursion's log-likelihood, from another start: (alpha, beta)."""
    found = minimize(lambda x: -loglik(*np.exp(x), survivors, censored), np.log([2.0, 5.0]),
                     method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 5000})
    return np.exp(found.x)


@pytest.mark.parametrize(("survivors", "alpha", "beta"),
                         [(REGULAR, 0.704, 1.182), (HIGH_END, 0.668, 3.806)])
def test_fader_hardie_table_1(survivors, alpha, beta):
    fit = fit_sbg(survivors)
    assert (round(fit.alpha, 3), round(fit.beta, 3)) == (alpha, beta)
    assert fit.converged


@pytest.mark.parametrize("survivors", [REGULAR, HIGH_END])
def test_standard_errors_match_a_finite_difference_hessian(survivors):
    fit = fit_sbg(survivors)
    # statsmodels' central-difference Hessian of the recursion's log-likelihood, inverted.
    hessian = approx_hess3(np.array([fit.alpha, fit.beta]), lambda x: loglik(*x, survivors))
    se = np.sqrt(np.diag(np.linalg.inv(-hessian)))
    np.testing.assert_allclose([fit.alpha_se, fit.beta_se], se, rtol=1e-4)
    assert fit.loglik == pytest.approx(loglik(fit.alpha, fit.beta, survivors), rel=1e-12)


def test_censored_customers_count_as_survivors_only():
    # Customers whose observation stopped early: the fit agrees with Nelder-Mead on the same likelihood.
    survivors = [1000, 700, 540, 450, 400]
    censored = [100, 60, 40, 0, 0]   # losses: 1000-100-700 = 200, 700-60-540 = 100, 540-40-450 = 50, 50
    fit = fit_sbg(survivors, censored)
    np.testing.assert_allclose([fit.alpha, fit.beta], independent_fit(survivors, censored), rtol=1e-4)
    # The censored ones are not losses: fitting them as lost gives a lower retention.
    assert fit.retention(1) > fit_sbg(survivors).retention(1)


def test_the_last_censored_count_is_ignored():
    plain = fit_sbg(REGULAR)
    marked = fit_sbg(REGULAR, [0, 0, 0, 0, 0, 0, 0, 241])
    assert (marked.alpha, marked.beta) == (plain.alpha, plain.beta)


def test_the_input_is_not_modified():
    censored = np.array([0.0, 0.0, 5.0])
    fit_sbg([100, 60, 40], censored)
    assert censored.tolist() == [0.0, 0.0, 5.0]


def test_survival_and_retention_by_hand():
    fit = SbgFit(alpha=2.0, beta=3.0, alpha_se=0.0, beta_se=0.0, loglik=0.0, converged=True)
    # S(1) = B(2, 4) / B(2, 3) = beta / (alpha + beta) = 3/5; S(2) = 3/5 * 4/6 = 0.4
    np.testing.assert_allclose(fit.survival([0, 1, 2]), [1.0, 0.6, 0.4])
    # r(t) = (3 + t - 1) / (5 + t - 1): 3/5, 4/6, 5/7
    np.testing.assert_allclose(fit.retention([1, 2, 3]), [3 / 5, 4 / 6, 5 / 7])


@pytest.mark.parametrize(("survivors", "censored", "match"), [
    ([1000, 631], None, "at least two terms"),
    ([1000], None, "at least two terms"),
    ([1000, 631, 700, 500], None, "rises: 700 customers after term 2, more than the 631 after term 1"),
    ([1000, 631, 468], [0, 200, 0], "rises: 468 customers after term 2, more than the 631 after term 1 "
                                    "less the 200 censored"),
    ([1000, 631, np.nan], None, "numbers >= 0"),
    ([1000, -1, -2], None, "numbers >= 0"),
    ([1000, 631, 468], [0, 0], "censored has 2 counts and survivors 3"),
    ([0, 0, 0], None, "survivors\\[0\\] is 0"),
    ([500, 500, 500], None, "No customer was lost"),
])
def test_refusals(survivors, censored, match):
    with pytest.raises(FitError, match=match):
        fit_sbg(survivors, censored)


def draw_chains(rng: np.random.Generator, n: int, alpha: float, beta: float,
                horizon: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` customers of a known sBG, each observed for 1..horizon term ends.

    theta ~ beta(alpha, beta) is a customer's chance of leaving at each term end; T ~ geometric(theta).
    Returns the survivors and censored counts (built here, not by the package) and each customer's theta.
    """
    theta = rng.beta(alpha, beta, n)
    lifetime = rng.geometric(theta)            # the term in which the customer is lost
    seen = rng.integers(1, horizon + 1, n)     # term ends observed
    lost = lifetime <= seen
    alive_after = np.where(lost, lifetime - 1, seen)   # term ends survived: before the loss, or all seen
    survivors = np.array([(alive_after >= t).sum() for t in range(horizon + 1)])
    censored = np.bincount(alive_after[~lost], minlength=horizon + 1)
    return survivors, censored, theta


def test_fit_recovers_alpha_and_beta_of_5000_chains():
    rng = np.random.default_rng(26)
    survivors, censored, _ = draw_chains(rng, 5000, alpha=1.3, beta=3.5, horizon=8)
    fit = fit_sbg(survivors, censored)
    assert fit.converged
    assert abs(fit.alpha - 1.3) < 3 * fit.alpha_se
    assert abs(fit.beta - 3.5) < 3 * fit.beta_se
    assert fit.alpha_se < 0.5   # a fit that says something
    assert fit.beta_se < 1.5


def test_the_80_percent_interval_holds_the_renewals_in_70_to_90_of_100_seeds():
    # The interval is that of the draws alone (forecast.md), not of alpha and beta: as in a real
    # quarter, the contracts due are a share of the chains fitted (here a quarter of those still there).
    held = 0
    for seed in range(100):
        rng = np.random.default_rng(seed)
        n, alpha, beta = 2000, 1.0, 2.5
        theta = rng.beta(alpha, beta, n)
        lifetime = rng.geometric(theta)
        seen = rng.integers(1, 6, n)
        lost = lifetime <= seen
        alive_after = np.where(lost, lifetime - 1, seen)
        survivors = np.array([(alive_after >= t).sum() for t in range(6)])
        censored = np.bincount(alive_after[~lost], minlength=6)
        fit = fit_sbg(survivors, censored)
        # Due: customers still there whose term seen + 1 ends next; they renew when T > seen + 1.
        due = ~lost & (rng.random(n) < 0.25)
        term = seen[due] + 1
        renewed = int((lifetime[due] > term).sum())
        low, high, _, _ = renewal_interval(fit.retention(term), np.ones(due.sum()), seed=seed)
        held += low <= renewed <= high
    assert 70 <= held <= 90, held


def test_renewal_interval_of_sure_and_impossible_renewals():
    # 3 sure renewals worth 10, 20, 30 and one that never renews: exactly 3 and 60.
    assert renewal_interval(np.array([1.0, 1.0, 1.0, 0.0]), np.array([10.0, 20.0, 30.0, 40.0])) == (
        3.0, 3.0, 60.0, 60.0)


def test_renewal_interval_of_two_even_chances():
    # Binomial(2, 1/2): P(0) = 1/4, P(1) = 1/2, P(2) = 1/4: the 10% and 90% quantiles are 0 and 2.
    low, high, _, _ = renewal_interval(np.array([0.5, 0.5]), np.ones(2))
    assert (low, high) == (0.0, 2.0)
