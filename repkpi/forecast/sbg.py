"""The shifted-beta-geometric (sBG) model of contract renewals (Fader & Hardie, 2007).

Each customer renews at the end of each term with a probability ``theta``
of its own, constant over its terms; across customers ``theta`` follows a
beta(alpha, beta) distribution. A cohort's survival after ``t`` terms is
``S(t) = B(alpha, beta + t) / B(alpha, beta)`` and the share of the
customers alive at term ``t`` who renew at its end is
``r(t) = (beta + t - 1) / (alpha + beta + t - 1)``: it rises with ``t``
because the customers least likely to renew leave first.

Reference: P. S. Fader and B. G. S. Hardie, "How to project customer
retention", Journal of Interactive Marketing 21(1), 2007, 76-90.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from repkpi.errors import FitError

__all__ = ["SbgFit", "fit_sbg"]


@dataclass(frozen=True)
class SbgFit:
    """A fitted sBG model: alpha and beta with their standard errors, and what follows from them.

    Attributes
    ----------
    alpha, beta : float
        The beta distribution of the customers' renewal chances.
    alpha_se, beta_se : float
        Their standard errors: the square roots of the diagonal of the
        inverse of the observed information (minus the Hessian of the
        log-likelihood in alpha and beta) at the optimum.
    loglik : float
        The log-likelihood at the optimum.
    converged : bool
        The optimiser reported success, or the gradient of the
        log-likelihood per customer (in log alpha, log beta) has a norm
        below 1e-6.
    """

    alpha: float
    beta: float
    alpha_se: float
    beta_se: float
    loglik: float
    converged: bool

    def survival(self, t: int | Sequence[int] | np.ndarray) -> np.ndarray:
        """The share of a cohort still a customer after ``t`` terms: B(alpha, beta + t) / B(alpha, beta).

        Examples
        --------
        >>> fit = SbgFit(alpha=1.0, beta=1.0, alpha_se=0.1, beta_se=0.1, loglik=0.0, converged=True)
        >>> fit.survival([0, 1, 2, 3]).round(4).tolist()   # 1 / (t + 1) when alpha = beta = 1
        [1.0, 0.5, 0.3333, 0.25]
        """
        from scipy.special import betaln  # scipy loads when a model is used, not with ``import repkpi``

        t = np.asarray(t, dtype=np.float64)
        return np.exp(betaln(self.alpha, self.beta + t) - betaln(self.alpha, self.beta))

    def retention(self, t: int | Sequence[int] | np.ndarray) -> np.ndarray:
        """The chance that a customer in its term ``t`` (1 = the first) renews at its end.

        r(t) = (beta + t - 1) / (alpha + beta + t - 1) = S(t) / S(t - 1).

        Examples
        --------
        >>> fit = SbgFit(alpha=1.0, beta=1.0, alpha_se=0.1, beta_se=0.1, loglik=0.0, converged=True)
        >>> fit.retention([1, 2, 3]).round(4).tolist()   # S(t) / S(t - 1) = t / (t + 1)
        [0.5, 0.6667, 0.75]
        """
        t = np.asarray(t, dtype=np.float64)
        return (self.beta + t - 1) / (self.alpha + self.beta + t - 1)


def _counts(survivors: Sequence[float] | np.ndarray,
            censored: Sequence[float] | np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The losses in each term 1..T and the customers censored after 0..T terms, checked."""
    alive = np.asarray(survivors, dtype=np.float64)
    if alive.ndim != 1 or len(alive) < 3:
        raise FitError(f"fit_sbg needs the customers alive at the start and after at least two terms "
                       f"(three counts or more), got {np.atleast_1d(alive).tolist()!r}.\nHint: with one "
                       "term the model cannot tell alpha from beta; wait for a second renewal.")
    stopped = np.zeros_like(alive) if censored is None else np.array(censored, dtype=np.float64)
    if stopped.shape != alive.shape:
        raise FitError(f"censored has {stopped.size} counts and survivors {alive.size}.\n"
                       "Hint: give one count per entry of survivors (after 0, 1, 2, ... terms).")
    for name, values in (("survivors", alive), ("censored", stopped)):
        if not np.isfinite(values).all() or (values < 0).any():
            raise FitError(f"{name} must be counts of customers (numbers >= 0), got "
                           f"{values.tolist()!r}.\nHint: leave out missing values.")
    if alive[0] <= 0:
        raise FitError("fit_sbg needs customers at the start: survivors[0] is 0.\n"
                       "Hint: survivors[0] is the size of the cohort.")
    stopped[-1] = 0.0  # everyone alive at the last count is censored there anyway
    lost = alive[:-1] - stopped[:-1] - alive[1:]
    if (lost < 0).any():
        t = int(np.flatnonzero(lost < 0)[0])
        raise FitError(f"The survivor curve rises: {alive[t + 1]:g} customers after term {t + 1}, "
                       f"more than the {alive[t]:g} after term {t}"
                       + (f" less the {stopped[t]:g} censored there" if stopped[t] else "")
                       + ".\nHint: survivors[t] counts the customers of one cohort still there after "
                       "t terms; it never grows.")
    if not lost.any():
        raise FitError("No customer was lost: every count of survivors equals the first, so the "
                       "renewal rate is 100% and the model has no finite fit.\nHint: fit the model "
                       "once some customers have left.")
    return lost, stopped, alive


class _Terms:
    """The log-likelihood's terms as ``weight * betaln(x, y)``, x = alpha + shift_x, y = beta + shift_y.

    A customer lost in term t contributes log P(T = t) = betaln(alpha + 1,
    beta + t - 1) - betaln(alpha, beta); one censored after t terms log S(t)
    = betaln(alpha, beta + t) - betaln(alpha, beta). The derivatives of
    betaln(x, y) are digamma(x) - digamma(x + y) (and in y), the second ones
    trigamma(x) - trigamma(x + y), and -trigamma(x + y) across.
    """

    def __init__(self, lost: np.ndarray, stopped: np.ndarray, alive: np.ndarray) -> None:
        from scipy import special  # scipy loads when a model is fitted, not with ``import repkpi``

        self.special = special
        kept = stopped.copy()
        kept[-1] = alive[-1]
        self.size = alive[0]
        self.weight = np.r_[lost, kept, -alive[0]]
        self.shift_x = np.r_[np.ones(len(lost)), np.zeros(len(kept)), [0.0]]
        self.shift_y = np.r_[np.arange(len(lost)), np.arange(len(kept)), [0.0]]

    def at(self, alpha: float, beta: float) -> tuple[np.ndarray, np.ndarray]:
        return alpha + self.shift_x, beta + self.shift_y

    def loglik(self, alpha: float, beta: float) -> float:
        """The log-likelihood."""
        return float(self.weight @ self.special.betaln(*self.at(alpha, beta)))

    def gradient(self, alpha: float, beta: float) -> np.ndarray:
        """The log-likelihood's gradient in (alpha, beta)."""
        x, y = self.at(alpha, beta)
        digamma = self.special.digamma
        both = digamma(x + y)
        return np.array([self.weight @ (digamma(x) - both), self.weight @ (digamma(y) - both)])

    def hessian(self, alpha: float, beta: float) -> np.ndarray:
        """The log-likelihood's Hessian in (alpha, beta)."""
        x, y = self.at(alpha, beta)
        trigamma = self.special.polygamma
        both = self.weight @ trigamma(1, x + y)
        return np.array([[self.weight @ trigamma(1, x) - both, -both],
                         [-both, self.weight @ trigamma(1, y) - both]])


def fit_sbg(survivors: Sequence[float] | np.ndarray, censored: Sequence[float] | np.ndarray | None = None,
            ) -> SbgFit:
    """Fit the shifted-beta-geometric model of renewals by maximum likelihood.

    Parameters
    ----------
    survivors : sequence of numbers
        ``survivors[t]``: the customers of a cohort still there after ``t``
        terms (``survivors[0]`` the cohort's size). Those alive at the last
        count are right-censored: their later terms are not seen yet.
    censored : sequence of numbers, optional
        ``censored[t]``: the customers whose observation stopped after ``t``
        terms without a loss (their next term not yet due). They are counted
        in ``survivors[t]`` and not in ``survivors[t + 1]``; the last entry
        is ignored (everyone there is censored).

    Returns
    -------
    SbgFit
        alpha, beta, their standard errors, the log-likelihood, whether the
        fit converged, and ``survival(t)`` and ``retention(t)``.

    Raises
    ------
    FitError
        Fewer than three counts (two terms), a count that is not a number
        >= 0, a cohort of 0, a survivor curve that rises (with the censored
        taken out), ``censored`` of another length, or no customer lost.

    Notes
    -----
    The losses in term t number ``survivors[t - 1] - censored[t - 1] -
    survivors[t]``, each with probability P(T = t) = S(t - 1) - S(t) =
    B(alpha + 1, beta + t - 1) / B(alpha, beta); a censored customer
    contributes S(t). Nelder-Mead maximises the log-likelihood per customer
    over (log alpha, log beta): it needs no gradient and no BLAS (L-BFGS-B's
    line search fails near this optimum, where the log-likelihood's changes
    reach the limits of floating point, and its threads slow it down on a
    busy machine). The standard errors come from the analytic Hessian in
    (alpha, beta) (digamma and trigamma), inverted. When the data show no
    spread across customers (retention that does not rise with the term),
    the likelihood is highest at alpha and beta without bound: the fit
    stops at alpha or beta near exp(12), with r(t) nearly constant and huge
    standard errors.

    Examples
    --------
    Fader and Hardie's "regular" customers (their Table 1):

    >>> fit = fit_sbg([1000, 631, 468, 382, 326, 289, 262, 241])
    >>> round(fit.alpha, 3), round(fit.beta, 3), fit.converged
    (0.704, 1.182, True)
    >>> fit.retention([1, 2, 8]).round(3).tolist()   # (1.182 + t - 1) / (1.886 + t - 1)
    [0.627, 0.756, 0.921]
    """
    from scipy.optimize import minimize  # loads when a model is fitted, not with ``import repkpi``

    terms = _Terms(*_counts(survivors, censored))

    def objective(log_params: np.ndarray) -> float:
        # Per customer, so that the tolerances do not depend on the cohort's size.
        return -terms.loglik(*np.exp(log_params)) / terms.size

    found = minimize(objective, np.zeros(2), method="Nelder-Mead", bounds=[(-12.0, 12.0)] * 2,
                     options={"xatol": 1e-9, "fatol": 1e-15, "maxiter": 4000})
    a, b = np.exp(found.x)
    gradient_norm = float(np.hypot(*(terms.gradient(a, b) * np.array([a, b]) / terms.size)))
    information = -terms.hessian(a, b)
    variance = (np.diag(np.linalg.inv(information)) if np.linalg.det(information) > 0
                else np.full(2, np.nan))  # a flat ridge: alpha and beta not told apart
    se = np.sqrt(np.where(variance > 0, variance, np.nan))
    return SbgFit(alpha=float(a), beta=float(b), alpha_se=float(se[0]), beta_se=float(se[1]),
                  loglik=terms.loglik(a, b), converged=bool(found.success) or gradient_norm < 1e-6)
