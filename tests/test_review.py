"""The review's scorecards: every goal scored in one call, as goal by goal."""

from __future__ import annotations

import pandas as pd
import pytest

import repkpi
from repkpi.goals import DEFAULT_GOALS, Goal, plan_goals, scorecard
from repkpi.review import review


@pytest.fixture(scope="module")
def sample():
    return repkpi.load_sample()  # as of 30 September 2026: 2026Q3 complete, 2026 in progress


def _goal_by_goal(data, goals, period):
    plan, _, others = plan_goals(goals)
    return pd.concat([scorecard(data, [goal], period=period) for goal in [*plan, *others]],
                     ignore_index=True)


@pytest.mark.parametrize("goals", [
    DEFAULT_GOALS,  # the plan's nine, yearly ones among them (in progress: compared a year back)
    [Goal("revenue", "Y", 1e6, "at_least"), Goal("csat", "Q", 0.8, "at_least"),
     Goal("csat", "Q", 0.9, "at_least", where={"region": "EMEA"}), *DEFAULT_GOALS[:3]],
])
def test_the_review_scores_every_goal_in_one_call_as_goal_by_goal(sample, goals):
    seen = review(sample, goals)
    pd.testing.assert_frame_equal(seen.card, _goal_by_goal(sample, goals, seen.period))
    current = _goal_by_goal(sample, goals, "current")
    current = current[current["status"] == "in progress"].reset_index(drop=True)
    pd.testing.assert_frame_equal(seen.in_progress, current)
    assert len(seen.in_progress)
    assert (seen.in_progress["status"] == "in progress").all()


def test_a_goal_whose_table_is_missing_is_no_data_beside_the_others(sample):
    # Without a tickets table, the SLA goal cannot be scored: the one call fails, and the
    # goals are scored one by one, the SLA goal as "no data" with its reason.
    data = repkpi.CrmData(**{name: frame for name, frame in sample.tables.items()
                             if name not in ("tickets", "ticket_events")})
    goals = [Goal("csat", "Q", 0.8, "at_least"), Goal("sla_compliance", "Q", 0.9, "at_least")]
    card = review(data, goals, period="2026Q2").card.set_index("kpi")
    assert card.loc["sla_compliance", "status"] == "no data"
    assert "tickets" in card.loc["sla_compliance", "reason"]
    expected = scorecard(data, [goals[0]], period="2026Q2").iloc[0]
    assert card.loc["csat", "value"] == expected["value"]
    assert card.loc["csat", "status"] == expected["status"]
