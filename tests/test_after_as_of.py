"""Periods after the as-of date are not observed (kpis.md, api.md "Time" and "Drill-down").

A small book, worked out by hand. Accounts (rep, region, customer since, churned on):

    A1  Alpha  R1 north  2024-01-10  -
    A2  Beta   R2 south  2024-06-01  2026-02-01   (a scheduled churn, after the data)
    A3  Gamma  R1 north  2025-11-15  -

Contracts (account, start .. end, annual value, renewal of):

    C1  A1  2024-01-10 .. 2025-12-31  1 000         due 2025Q4, renewed by C3
    C2  A2  2025-01-01 .. 2026-03-31    500         due 2026Q1, renewed by C4
    C3  A1  2026-01-01 .. 2026-12-31  1 000  C1
    C4  A2  2026-04-01 .. 2027-03-31    500  C2
    C5  A3  2025-11-15 .. 2026-02-28    200         due 2026Q1, not renewed

A survey answered by A1 on 2025-10-05 (CSAT 5). The latest recorded date is A3's
``customer_since``: as of 2025-11-15, inside 2025Q4 (in progress). The book that ends
on a quarter's last day adds A2's answer on 2025-12-31 (CSAT 2): as of 2025-12-31.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import repkpi
from repkpi import Goal, OptionError
from repkpi.cli import main
from repkpi.whatif import attainment_probability, current_period

NA = float("nan")

ACCOUNTS = """\
account_id,account_name,rep_id,region,customer_since,churned_on
A1,Alpha,R1,north,2024-01-10,
A2,Beta,R2,south,2024-06-01,2026-02-01
A3,Gamma,R1,north,2025-11-15,
"""
CONTRACTS = """\
contract_id,account_id,start_date,end_date,annual_value,renewal_of
C1,A1,2024-01-10,2025-12-31,1000,
C2,A2,2025-01-01,2026-03-31,500,
C3,A1,2026-01-01,2026-12-31,1000,C1
C4,A2,2026-04-01,2027-03-31,500,C2
C5,A3,2025-11-15,2026-02-28,200,
"""
REPS = """\
rep_id,name,team,hired_on
R1,Rosa Petrov,a,2020-01-01
R2,Yara Garcia,b,2020-01-01
"""
SURVEYS = """\
response_id,account_id,responded_at,csat
S1,A1,2025-10-05T12:00:00Z,5
"""
LAST_DAY_SURVEY = "S2,A2,2025-12-31T12:00:00Z,2\n"


def book_folder(folder, *, last_day: bool = False) -> Path:
    """The book's CSV files; ``last_day`` adds the answer of 2025-12-31 (as of a quarter's end)."""
    return folder(accounts=ACCOUNTS, contracts=CONTRACTS, reps=REPS,
                  surveys=SURVEYS + (LAST_DAY_SURVEY if last_day else ""))


@pytest.fixture
def mid(folder, engine):
    """The book as of 2025-11-15, inside 2025Q4, loaded with ``engine``."""
    return repkpi.load(book_folder(folder), engine=engine)


@pytest.fixture
def mid_path(folder) -> Path:
    return book_folder(folder)


def values(result: pd.DataFrame, columns=("period", "numerator", "denominator", "value")) -> list:
    """The result's rows as tuples, periods as text, missing numbers as NaN (compare with approx)."""
    frame = result[list(columns)].astype({"period": "str"})
    return [tuple(row) for row in frame.itertuples(index=False)]


def same(got: list, expected: list) -> bool:
    """Rows equal, numbers to 1e-9, NaN equal to NaN."""
    return len(got) == len(expected) and all(
        g[0] == e[0] and pytest.approx(list(e[1:]), nan_ok=True) == list(g[1:])
        for g, e in zip(got, expected, strict=True))


# -- a KPI asked beyond as_of --------------------------------------------------------------------
def test_the_book_is_as_of_mid_quarter(mid):
    assert mid.as_of == pd.Timestamp("2025-11-15")


@pytest.mark.parametrize(
    ("kpi", "kwargs", "expected"),
    [
        # A count: A3 is new in 2025Q4; 2026Q1 and 2026Q2 are not lived: NA, not 0.
        pytest.param("new_customers", {"start": "2025Q4", "end": "2026Q2"}, [
            ("2025Q4", 1, 1, 1), ("2026Q1", NA, NA, NA), ("2026Q2", NA, NA, NA)], id="count"),
        # A ratio: A1's 5 of 5 in 2025Q4; nobody can have answered in 2026Q1 yet.
        pytest.param("csat", {"start": "2025Q4", "end": "2026Q1"}, [
            ("2025Q4", 1, 1, 1.0), ("2026Q1", NA, NA, NA)], id="ratio"),
        # Churn by year: 2025 opens with A1 and A2 (on 2024-12-31), nobody churned by as_of: 0 / 2.
        # 2026 is a year not lived: NA, not 0% (nor A2's scheduled churn read as 1 of 3).
        pytest.param("churn_rate", {"freq": "Y", "start": "2025", "end": "2026"}, [
            ("2025", 0, 2, 0.0), ("2026", NA, NA, NA)], id="churn_year_not_lived"),
        # Renewals: C1, due in 2025Q4, is renewed by C3: 1 / 1. 2026Q1's contracts (C2, C5) are
        # not due yet: NA, not a renewal rate of 1 / 2.
        pytest.param("renewal_rate", {"start": "2025Q4", "end": "2026Q1"}, [
            ("2025Q4", 1, 1, 1.0), ("2026Q1", NA, NA, NA)], id="renewals_not_due"),
        # NRR: 2025Q4 opens on 09-30 with A1 1 000 and A2 500, the same on as_of: 1 500 / 1 500.
        pytest.param("net_revenue_retention", {"start": "2025Q4", "end": "2026Q1"}, [
            ("2025Q4", 1500, 1500, 1.0), ("2026Q1", NA, NA, NA)], id="nrr"),
    ],
)
def test_a_period_after_as_of_is_na_and_listed(mid, kpi, kwargs, expected):
    result = repkpi.KPIS[kpi](mid, **kwargs)
    assert same(values(result), expected)
    after = [pd.Period(p, freq=result["period"].iloc[0].freqstr) for p, *rest in expected
             if pd.isna(rest[-1])]
    assert result.attrs["after_as_of"] == after
    assert result.attrs["as_of"] == pd.Timestamp("2025-11-15")


def test_a_period_after_as_of_by_region_and_with_intervals(mid):
    # 2025Q4 opens (09-30) with A1 in the north and A2 in the south, neither churned by as_of.
    result = repkpi.kpis.churn_rate(mid, by="region", start="2025Q4", end="2026Q1", ci=0.95)
    assert values(result, ["period", "region", "numerator", "denominator"])[:2] == [
        ("2025Q4", "north", 0, 1), ("2025Q4", "south", 0, 1)]
    later = result[result["period"] == pd.Period("2026Q1", "Q")]
    assert len(later) == 2
    assert later[["numerator", "denominator", "value", "lower", "upper"]].isna().all(axis=None)


def test_no_period_after_as_of_is_an_empty_list(mid):
    result = repkpi.kpis.new_customers(mid)
    assert result.attrs["after_as_of"] == []
    assert result.attrs["in_progress"] == pd.Period("2025Q4", "Q")   # in progress, not after


def test_compute_marks_the_periods_after_as_of(mid):
    result = repkpi.compute(mid, ["new_customers", "churn_rate"], start="2025Q4", end="2026Q1")
    assert same(values(result, ["period", "numerator", "denominator", "value"]), [
        ("2025Q4", 1, 1, 1), ("2026Q1", NA, NA, NA),         # new customers
        ("2025Q4", 0, 2, 0.0), ("2026Q1", NA, NA, NA),       # churn: A1, A2 on 09-30
    ])
    assert result.attrs["after_as_of"] == [pd.Period("2026Q1", "Q")]


# -- refusals ------------------------------------------------------------------------------------
AS_OF_HINT = r"(?s)after the as-of date \(as_of\) 2025-11-15.*load\(\.\.\., as_of=\.\.\.\) or --as-of"


def test_explain_refuses_a_period_after_as_of(mid):
    with pytest.raises(OptionError, match=r"(?s)explain cannot take 2026 Q1.*" + AS_OF_HINT[4:]):
        repkpi.explain(mid, "new_customers", period="2026Q1", by="region")
    with pytest.raises(OptionError, match=AS_OF_HINT):
        repkpi.explain(mid, "new_customers", period="2025Q3", against="2026Q1", by="region")


def test_scorecard_and_review_refuse_a_period_after_as_of(mid):
    from repkpi.review import review

    with pytest.raises(OptionError, match=AS_OF_HINT):
        repkpi.scorecard(mid, period="2026Q1")
    with pytest.raises(OptionError, match=r"review cannot take 2026 Q1"):
        review(mid, period="2026Q1")


def test_detail_refuses_a_period_after_as_of_for_a_kpi_with_no_forward_view(mid):
    with pytest.raises(OptionError, match=r"(?s)detail of churn_rate cannot take 2026 Q1.*"
                                          r"renewal_rate and renewal_value_rate"):
        repkpi.detail(mid, "churn_rate", period="2026Q1")


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["report", "--period", "2026-Q1"], "review cannot take 2026 Q1"),
        (["explain", "--kpi", "new_customers", "--period", "2026Q1", "--by", "region"],
         "explain cannot take 2026 Q1"),
        (["detail", "--kpi", "churn_rate", "--period", "2026Q1"], "detail of churn_rate"),
    ],
    ids=["report", "explain", "detail"],
)
def test_the_cli_refuses_a_period_after_as_of_with_exit_2(mid_path, tmp_path_factory, capsys,
                                                          argv, says):
    command, *rest = argv
    out = tmp_path_factory.mktemp("report") / "out"
    extra = ["--out", str(out)] if command == "report" else []
    assert main([command, str(mid_path), *rest, *extra]) == 2
    err = capsys.readouterr().err
    assert says in err
    assert "as-of date (as_of) 2025-11-15" in err
    assert "--as-of" in err
    assert not out.exists()   # nothing written


# -- the forward view ------------------------------------------------------------------------------
def test_detail_of_renewals_after_as_of_is_the_pipeline(mid):
    # 2026Q1: C2 (renewed by C4, already recorded) and C5 (not renewed) are due.
    rows = repkpi.detail(mid, "renewal_rate", period="2026Q1").sort_values("contract_id")
    columns = ["contract_id", "account_id", "account_name", "in_numerator", "in_denominator"]
    assert [tuple(r) for r in rows[columns].itertuples(index=False)] == [
        ("C2", "A2", "Beta", True, True), ("C5", "A3", "Gamma", False, True)]
    assert rows["renewed_by"].iloc[0] == "C4"
    assert pd.isna(rows["renewed_by"].iloc[1])
    rest = repkpi.detail(mid, "renewal_value_rate", period="2026Q1", only="rest")
    assert list(rest["contract_id"]) == ["C5"]
    assert list(rest["denominator_weight"]) == [200.0]
    renewed = repkpi.detail(mid, "renewal_rate", period="2026Q1", only="numerator")
    assert list(renewed["contract_id"]) == ["C2"]


def test_the_cli_lists_the_contracts_due_and_not_renewed(mid_path, tmp_path, capsys):
    out = tmp_path / "pipeline.csv"
    assert main(["detail", str(mid_path), "--kpi", "renewal_rate", "--period", "2026Q1",
                 "--only", "rest", "--out", str(out)]) == 0
    written = pd.read_csv(out)
    assert list(written["contract_id"]) == ["C5"]
    assert list(written["account_name"]) == ["Gamma"]


# -- names and only= -------------------------------------------------------------------------------
def test_detail_names_beside_the_ids_and_only(mid):
    # 2025Q4 opens (09-30) with A1 and A2, neither churned by as_of: both are "the rest".
    rows = repkpi.detail(mid, "churn_rate", period="2025Q4", by="region").sort_values("account_id")
    columns = list(rows.columns)
    assert columns[columns.index("account_id") + 1] == "account_name"
    assert columns[columns.index("rep_id") + 1] == "rep_name"
    assert [tuple(r) for r in rows[["account_id", "account_name", "rep_id", "rep_name", "region"]]
            .itertuples(index=False)] == [("A1", "Alpha", "R1", "Rosa Petrov", "north"),
                                          ("A2", "Beta", "R2", "Yara Garcia", "south")]
    rest = repkpi.detail(mid, "churn_rate", period="2025Q4", only="rest")
    assert sorted(rest["account_id"]) == ["A1", "A2"]
    assert repkpi.detail(mid, "churn_rate", period="2025Q4", only="numerator").empty


def test_only_takes_numerator_or_rest(mid):
    with pytest.raises(OptionError, match=r"only must be 'numerator' or 'rest', got 'all'"):
        repkpi.detail(mid, "churn_rate", period="2025Q4", only="all")


# -- what-if: the period in progress, or the next one when as_of ends a period ------------------------
def test_current_period_mid_quarter_and_on_its_last_day(folder):
    mid = repkpi.load(book_folder(folder))
    assert current_period(mid, "Q") == pd.Period("2025Q4", "Q")
    assert current_period(mid, "M") == pd.Period("2025-11", "M")
    end = repkpi.load(book_folder(folder, last_day=True))
    assert end.as_of == pd.Timestamp("2025-12-31")
    assert current_period(end, "Q") == pd.Period("2026Q1", "Q")
    assert current_period(end, "Y") == pd.Period("2026", "Y")


def test_attainment_probability_takes_the_next_period_only_when_as_of_ends_one(folder):
    goal = Goal("churn_rate", "Q", 0.05, "at_most")
    mid = repkpi.load(book_folder(folder))
    with pytest.raises(OptionError, match=r"(?s)2025 Q4, not 2026 Q1.*--as-of"):
        attainment_probability(mid, goal, period="2026Q1")
    end = repkpi.load(book_folder(folder, last_day=True))
    # 2026Q1 begins the day after as_of: all of it drawn. It opens with A1, A2 and A3 (active on
    # 2025-12-31), none lost yet; no month of the history lost anyone, so no draw does: churn 0.
    # (A2's scheduled churn on 2026-02-01 is not read as happened.)
    assert attainment_probability(end, goal, period="2026Q1", draws=500) == 1.0
    assert attainment_probability(end, Goal("retention_rate", "Q", 1.0, "at_least"),
                                  period="2026Q1", draws=500) == 1.0
    with pytest.raises(OptionError, match=r"(?s)as_of\) 2025-12-31.*2026 Q1, not 2026 Q2"):
        attainment_probability(end, goal, period="2026Q2")
