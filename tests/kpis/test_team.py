"""Team KPIs (reps), worked out by hand from spec/kpis.md.

senior_reps counts reps employed on P.last (left_on empty or after P.last)
with hired_on + years <= P.last.

    id  team  hired_on    left_on      hired_on + 3 years
    R1  a     2021-06-30  -            2024-06-30 (= 2024Q2.last)
    R2  b     2021-07-01  -            2024-07-01
    R3  -     2020-01-01  2024-06-30   2023-01-01   leaves on 2024Q2.last
    R4  a     2020-03-01  2024-07-01   2023-03-01
"""

from __future__ import annotations

import pytest

import repkpi
from repkpi import kpis

REPS = {
    "rep_id": ["R1", "R2", "R3", "R4"],
    "team": ["a", "b", None, "a"],
    "hired_on": ["2021-06-30", "2021-07-01", "2020-01-01", "2020-03-01"],
    "left_on": [None, None, "2024-06-30", "2024-07-01"],
}


@pytest.fixture
def team(loaded):
    return loaded(reps=REPS)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        pytest.param({}, [
            ("2024Q1", 2),  # 03-31: R3, R4 (R1 senior only from 06-30, R2 from 07-01)
            ("2024Q2", 2),  # 06-30: R1 (exactly 3 years), R4; R3's left_on = P.last: not employed
            ("2024Q3", 2),  # 09-30: R1, R2; R4 left on 07-01
        ], id="three_years"),
        pytest.param({"years": 4}, [
            ("2024Q1", 2),  # R3 (2024-01-01), R4 (2024-03-01)
            ("2024Q2", 1),  # R4; R3 left
            ("2024Q3", 0),  # R4 left; R1, R2 senior only in 2025
        ], id="four_years"),
        pytest.param({"years": 0}, [
            ("2024Q1", 4),  # everyone employed on 03-31
            ("2024Q2", 3),  # R3 leaves on 06-30 itself
            ("2024Q3", 2),  # R1, R2
        ], id="zero_years"),
    ],
)
def test_senior_reps(team, rows, expect, options, expected):
    result = kpis.senior_reps(team, start="2024Q1", end="2024Q3", **options)
    assert rows(result, ["period", "value"]) == expect(expected)
    assert (result["denominator"] == 1).all()


def test_senior_reps_by_team(team, rows, expect):
    result = kpis.senior_reps(team, by="team", start="2024Q1", end="2024Q3")
    assert rows(result, ["period", "team", "value"]) == expect([
        ("2024Q1", "a", 1), ("2024Q1", "b", 0), ("2024Q1", None, 1),     # R4 | - | R3
        ("2024Q2", "a", 2), ("2024Q2", "b", 0), ("2024Q2", None, 0),     # R1 R4 | - | R3 left
        ("2024Q3", "a", 1), ("2024Q3", "b", 1), ("2024Q3", None, 0),     # R1 | R2 | -
    ])


def test_senior_reps_monthly_around_the_boundaries(team, rows, expect):
    result = kpis.senior_reps(team, freq="M", by="team", start="2024-05", end="2024-07")
    assert rows(result, ["period", "team", "value"]) == expect([
        # 05-31: R4 (a), R3 (NA); R1 reaches 3 years only on 06-30
        ("2024-05", "a", 1), ("2024-05", "b", 0), ("2024-05", None, 1),
        # 06-30: R1 (3 years that very day) and R4; R3 leaves that day: no longer employed
        ("2024-06", "a", 2), ("2024-06", "b", 0), ("2024-06", None, 0),
        # 07-31: R1; R2 (3 years on 07-01); R4 left on 07-01
        ("2024-07", "a", 1), ("2024-07", "b", 1), ("2024-07", None, 0),
    ])


@pytest.mark.parametrize(
    ("years", "match"),
    [
        pytest.param(-1, r"years must be a whole number >= 0, got -1", id="negative"),
        pytest.param(2.5, r"years must be a whole number >= 0, got 2\.5", id="fraction"),
        pytest.param("3", r"years must be a whole number >= 0, got '3'", id="text"),
    ],
)
def test_senior_reps_rejects_bad_years(team, years, match):
    with pytest.raises(repkpi.OptionError, match=match):
        kpis.senior_reps(team, years=years)


def test_senior_reps_needs_reps(loaded):
    data = loaded(accounts={"customer_since": ["2024-01-01"]})
    with pytest.raises(repkpi.MissingTableError, match=r"senior_reps needs the reps table"):
        kpis.senior_reps(data)
