"""The churn-risk model against the generator's planted hazard (forecast.md, "Who is at risk", Check).

``generate_sample(churn="hazard")`` decides each renewal with a documented
logistic in what the tables show at the term's end
(:mod:`repkpi.datasets.churn`); :func:`~repkpi.datasets.churn.planted_churn_probability`
gives, from the tables alone, each account's true chance of churning in the
backtest's window. The model sees only what the tables held at the close of
the scored quarter, the truth also what happens up to each term's end: the
model's AUC on the backtest's rows must reach 95% of the truth's on the same
rows, and each calibration decile must lie within 5 points of the share
that churned.
"""

from __future__ import annotations

import pytest
from sklearn.metrics import roc_auc_score

from repkpi import CrmData
from repkpi.datasets.churn import planted_churn_probability
from repkpi.datasets.generator import generate_sample
from repkpi.forecast import risk


@pytest.fixture(scope="module")
def generated():
    # 5,000 accounts: about 3,400 active at the scored quarter's close, 340 per decile, so the
    # share that churned in a decile near 25% has a standard error of about 2.3 points.
    tables = generate_sample(seed=1, accounts=5000, churn="hazard")
    return tables, risk(CrmData(**tables))


def test_backtest_auc_reaches_95_percent_of_the_planted_hazard(generated):
    tables, scores = generated
    test = scores.attrs["backtest"]
    truth = planted_churn_probability(tables, period=test["period"], horizon=1, freq="Q")
    # the same rows: the accounts active at the close of the scored quarter
    assert len(truth) == test["rows"]
    assert int(truth["churned"].sum()) == test["churns"] > 30
    planted = roc_auc_score(truth["churned"], truth["probability"])
    assert test["auc"] >= 0.95 * planted


def test_calibration_deciles_within_5_points_of_what_happened(generated):
    _, scores = generated
    calibration = scores.attrs["backtest"]["calibration"]
    assert len(calibration) == 10
    assert (calibration["predicted"] - calibration["observed"]).abs().max() <= 0.05


def test_drivers_name_known_values(generated):
    _, scores = generated
    assert not scores["drivers"].str.contains("nan", case=False).any()  # no CSAT yet: no reason
