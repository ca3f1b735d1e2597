"""whatif.what_it_takes on a small book worked out by hand, on both engines.

The book is declared as of Wednesday 15 May 2024: 2024Q2 (1 April - 30 June,
91 days) is in progress with 45 days done, and the year 2024 too.

Accounts (customer_since, churned_on):
    A1 2022-01-10   A2 2022-03-01   A3 2023-02-01, churned 2024-04-20
    A4 2023-06-01   A5 2023-11-15   A6 2024-02-10   A10 2024-01-20
    A7 2024-04-05   A8 and A9 prospects (no customer_since)
New customers: 2024Q1 A6, A10 (2); 2024Q2 so far A7 (1).
Opening book of 2024Q2 (active on 31 March): A1 A2 A3 A4 A5 A6 A10 = 7; A3 has churned.

Deals closed in the last four complete quarters (2023Q2-2024Q1):
    won D02 (A1 2023-09-01 60 000), D03 (A1 2024-01-15 50 000), D04 (A2 2024-02-01 85 000),
        D05 (A5 2023-06-10 95 000), D09 (A4 2023-12-01 79 000)
    lost D06 (2023-05-20), D07 (2023-11-10), D08 (2024-03-01)
    -> win rate 5 / 8 = 62.5%. D01 (won 2023-02-10) is before the four quarters.
2024Q2 so far: D10 won 2024-04-10, 60 000 on A1: one large deal.
Open deals: D11 A1 80 000 expected 2024-06-01, D12 A2 55 000 expected 2024-06-20 (large, in
    2024Q2); D13 A4 20 000 expected 2024-05-30 (small); D14 A5 90 000 expected 2024-08-01 and D16
    A9 expected 2024-07-15 (after 2024Q2); D15 A8 (a prospect) 30 000 expected 2024-06-10; D17 A6
    with no expected close date.

Won in the 12 months to 15 May 2024: A1 60 000 + 50 000 + 60 000 = 170 000 (key), A5 95 000 and A2
85 000 (within 20% of 100 000), A4 79 000 (not within).

Contracts: C1 A1 ends 2024-05-31, C4 A4 ends 2024-06-19 (due, not renewed); C2 A2 ends 2024-06-14
renewed by C3; C5 A3 (churned) ends 2024-06-24; C6 A7 (not on the books at the open) ends
2024-06-30; C7 A5 ended 2024-04-30; C8 A6 ends 2024-09-30. Due in the rest of 2024Q2, not
renewed, of accounts on the books and active: C1, C4 = 2.

Surveys: 6 responses in each quarter 2023Q2-2024Q1 (24 over 91 + 92 + 92 + 91 = 366 days), 2 in
2023Q1; 2024Q2 so far 4 responses, 3 of them 4 or 5. Expected in 2024Q2: 24 x 91 / 366 = 5.97,
less the 4 so far: about 2 more.

Market: 2024Q1 in the north, Acme 400 000, Bolt 250 000, Core 210 000, Dyna 100 000.

Reps (hired_on, left_on): R1 2019-01-01, R2 2020-06-01 (senior), R3 2021-07-01 (senior on
2024-07-01), R4 2021-10-20 (on 2024-10-20), R5 2022-01-01 (on 2025-01-01: not within six
months), R6 2018-01-01 left 2024-03-01.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import repkpi
from repkpi import Goal, OptionError, whatif
from repkpi.cli import main
from repkpi.whatif import (
    TAKES_COLUMNS,
    attainment_probability,
    goal_seek,
    required_successes,
    what_it_takes,
)

AS_OF = "2024-05-15"

ACCOUNTS = pd.DataFrame({
    "account_id": ["A1", "A2", "A3", "A4", "A5", "A6", "A7", "A8", "A9", "A10"],
    "account_name": ["Alder", "Birch", "Cedar", "Dogwood", "Elm", "Fir", "Gum", "Hazel", "Ivy",
                     "Juniper"],
    "rep_id": ["R1"] * 10,
    "region": ["north"] * 10,
    "customer_since": ["2022-01-10", "2022-03-01", "2023-02-01", "2023-06-01", "2023-11-15",
                       "2024-02-10", "2024-04-05", "", "", "2024-01-20"],
    "churned_on": ["", "", "2024-04-20", "", "", "", "", "", "", ""],
})

DEALS = pd.DataFrame([
    # deal_id, account_id, created_on, closed_on, stage, amount
    ("D01", "A1", "2023-01-10", "2023-02-10", "won", 10_000),
    ("D02", "A1", "2023-08-01", "2023-09-01", "won", 60_000),
    ("D03", "A1", "2023-12-01", "2024-01-15", "won", 50_000),
    ("D04", "A2", "2024-01-05", "2024-02-01", "won", 85_000),
    ("D05", "A5", "2023-05-01", "2023-06-10", "won", 95_000),
    ("D06", "A4", "2023-05-01", "2023-05-20", "lost", 5_000),
    ("D07", "A4", "2023-10-01", "2023-11-10", "lost", 5_000),
    ("D08", "A6", "2024-02-01", "2024-03-01", "lost", 5_000),
    ("D09", "A4", "2023-11-01", "2023-12-01", "won", 79_000),
    ("D10", "A1", "2024-04-01", "2024-04-10", "won", 60_000),
    ("D11", "A1", "2024-04-01", "2024-06-01", "open", 80_000),
    ("D12", "A2", "2024-04-15", "2024-06-20", "open", 55_000),
    ("D13", "A4", "2024-05-01", "2024-05-30", "open", 20_000),
    ("D14", "A5", "2024-05-02", "2024-08-01", "open", 90_000),
    ("D15", "A8", "2024-05-03", "2024-06-10", "open", 30_000),
    ("D16", "A9", "2024-05-04", "2024-07-15", "open", 40_000),
    ("D17", "A6", "2024-03-10", "", "open", 15_000),
], columns=["deal_id", "account_id", "created_on", "closed_on", "stage", "amount"]).assign(
    rep_id="R1", deal_type="new_business", channel="direct")

CONTRACTS = pd.DataFrame([
    ("C1", "A1", "2023-06-01", "2024-05-31", 1000, ""),
    ("C2", "A2", "2023-06-15", "2024-06-14", 1000, ""),
    ("C3", "A2", "2024-06-15", "2025-06-14", 1000, "C2"),
    ("C4", "A4", "2023-06-20", "2024-06-19", 1000, ""),
    ("C5", "A3", "2023-06-25", "2024-06-24", 1000, ""),
    ("C6", "A7", "2024-04-05", "2024-06-30", 1000, ""),
    ("C7", "A5", "2023-05-01", "2024-04-30", 1000, ""),
    ("C8", "A6", "2024-02-10", "2024-09-30", 1000, ""),
], columns=["contract_id", "account_id", "start_date", "end_date", "annual_value", "renewal_of"])

_HISTORY_DAYS = ["2023-02-10", "2023-03-10",                                     # 2023Q1
                 *[f"2023-{m:02d}-1{d}" for m in (4, 5, 6) for d in (1, 2)],       # 2023Q2
                 *[f"2023-{m:02d}-1{d}" for m in (7, 8, 9) for d in (1, 2)],       # 2023Q3
                 *[f"2023-{m:02d}-1{d}" for m in (10, 11, 12) for d in (1, 2)],    # 2023Q4
                 *[f"2024-{m:02d}-1{d}" for m in (1, 2, 3) for d in (1, 2)]]       # 2024Q1
SURVEYS = pd.DataFrame({
    "responded_at": [*_HISTORY_DAYS, "2024-04-02", "2024-04-20", "2024-05-01", "2024-05-10"],
    "csat": [5] * len(_HISTORY_DAYS) + [5, 4, 4, 2],
}).assign(response_id=lambda f: [f"S{i:02d}" for i in range(len(f))], account_id="A1",
          rep_id="R1")

REPS = pd.DataFrame({
    "rep_id": ["R1", "R2", "R3", "R4", "R5", "R6"],
    "name": ["Ann", "Bo", "Cy", "Di", "Ed", "Flo"],
    "team": ["t"] * 6,
    "hired_on": ["2019-01-01", "2020-06-01", "2021-07-01", "2021-10-20", "2022-01-01",
                 "2018-01-01"],
    "left_on": ["", "", "", "", "", "2024-03-01"],
})

MARKET = pd.DataFrame({"period": "2024Q1", "region": "north",
                       "company": ["Acme", "Bolt", "Core", "Dyna"],
                       "revenue": [400_000, 250_000, 210_000, 100_000]})

GOALS = [
    Goal("new_customer_growth", "Q", 0.5, "at_least"),
    Goal("csat", "Q", 0.6, "at_least"),
    Goal("large_deals", "Q", 2, "at_least"),
    Goal("retention_rate", "Q", 0.7, "at_least"),
    Goal("churn_rate", "Q", 0.3, "at_most"),
    Goal("key_accounts", "Y", 2, "at_least"),
    Goal("senior_reps", "Y", 3, "at_least"),
    Goal("market_rank", "Y", 2, "at_most"),
]


def write_book(folder: Path) -> Path:
    for name, frame in {"accounts": ACCOUNTS, "deals": DEALS, "contracts": CONTRACTS,
                        "surveys": SURVEYS, "reps": REPS, "market": MARKET}.items():
        frame.to_csv(folder / f"{name}.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> Path:
    return write_book(tmp_path_factory.mktemp("book"))


@pytest.fixture(scope="module")
def takes(book) -> pd.DataFrame:
    return what_it_takes(repkpi.load(book, as_of=AS_OF), GOALS).set_index("kpi")


def test_one_row_per_goal_in_the_period_in_progress(takes):
    assert sorted(takes.reset_index().columns) == sorted(TAKES_COLUMNS)
    assert takes["period_label"].to_dict() == {
        "new_customer_growth": "2024 Q2", "csat": "2024 Q2", "large_deals": "2024 Q2",
        "retention_rate": "2024 Q2", "churn_rate": "2024 Q2", "key_accounts": "2024",
        "senior_reps": "2024", "market_rank": "2024"}


def test_a_count_from_the_open_deals_expected_to_close(takes):
    row = takes.loc["large_deals"]
    # 1 large deal so far (D10), 2 wanted: 1 more from D11 and D12 (80 000 + 55 000): 1 / 2.
    assert (row["so_far"], row["needed"], row["status"]) == (1, 1, "open")
    assert (row["pipeline_deals"], row["pipeline_amount"]) == (2, 135_000)
    assert row["undated_deals"] == 1                       # D17
    assert row["needed_win_rate"] == pytest.approx(0.5)
    assert row["current_win_rate"] == pytest.approx(5 / 8)
    assert row["lever"] == ("1 more large deal from 2 open deals expected to close ($135,000): "
                            "a 50.0% win rate, against 62.5% over the last four quarters.")


def test_growth_out_of_reach_of_the_pipeline(takes):
    row = takes.loc["new_customer_growth"]
    # 2 new customers in 2024Q1: +50% is 3; 1 so far (A7), 2 more; only A8's deal D15 can add one.
    assert (row["previous"], row["count_target"], row["needed"]) == (2, 3, 2)
    assert row["so_far"] == pytest.approx(-0.5)           # (1 - 2) / 2 so far
    assert (row["pipeline_deals"], row["pipeline_amount"]) == (1, 30_000)
    assert row["needed_win_rate"] == pytest.approx(2.0)
    assert row["status"] == "out of reach"
    assert "which needs 200.0% of the open pipeline" in row["lever"]
    assert row["lever"].startswith("3 new customers make 50.0% on 2024 Q1's 2.")


def test_a_share_among_the_expected_observations(takes):
    row = takes.loc["csat"]
    # 3 of 4 so far, about 2 more: (3 + k) / 6 >= 60% -> k = 1; 1 response below 4 allowed.
    assert (row["so_far"], row["expected_more"], row["needed"], row["allowed"]) == (0.75, 2, 1, 1)
    assert row["lever"] == ("CSAT 75.0% so far (3 of 4): at most 1 more response below 4 in about 2 "
                            "more responses (1 must go well) to end 2024 Q2 at 60.0% or above.")


def test_churn_and_the_renewals_that_decide_it(takes):
    row = takes.loc["churn_rate"]
    # 7 on the books, 30% allows floor(2.1) = 2 churns, A3 is 1: 1 more; C1 and C4 due: 1 must renew.
    assert (row["book"], row["allowed"], row["due"], row["needed_renewals"]) == (7, 1, 2, 1)
    assert row["so_far"] == pytest.approx(1 / 7)
    assert row["lever"].startswith("At most 1 more churn in 2024 Q2: 1 of the 7 accounts")
    assert "2 contracts of active accounts are due by 30 June 2024" in row["lever"]


def test_retention_through_renewals(takes):
    row = takes.loc["retention_rate"]
    # E - N = 7 active on 15 May less A7 = 6; 70% of 7 keeps ceil(4.9) = 5: 1 more may go.
    assert (row["book"], row["allowed"], row["due"], row["needed_renewals"]) == (7, 1, 2, 1)
    assert row["so_far"] == pytest.approx(6 / 7)


def test_the_renewals_due_are_found_once_for_churn_and_retention(book, monkeypatch):
    # Both goals play 2024Q2, quarterly, over every account: the same contracts are due (C1 and
    # C4, worked out in the module's docstring), so renewal_rate's drill-down runs once.
    drills = []
    real = whatif._goal_detail
    monkeypatch.setattr(whatif, "_goal_detail",
                        lambda play, name, *a, **k: drills.append(name) or real(play, name, *a, **k))
    got = what_it_takes(repkpi.load(book, as_of=AS_OF),
                        [Goal("retention_rate", "Q", 0.7, "at_least"),
                         Goal("churn_rate", "Q", 0.3, "at_most"),
                         Goal("churn_rate", "Q", 0.3, "at_most", where={"region": "north"})])
    # Every account of the book is in the north: the third goal's due is C1 and C4 too, but its
    # scope differs, so its drill-down runs on its own.
    assert got["due"].tolist() == [2, 2, 2]
    assert drills == ["renewal_rate", "renewal_rate"]


def test_a_state_with_its_candidates_by_name(takes):
    key = takes.loc["key_accounts"]
    assert (key["so_far"], key["needed"]) == (1, 1)
    assert key["candidates"] == "Elm; Birch"               # 95 000 then 85 000; Dogwood is 79 000
    assert "Elm ($5,000 to go), Birch ($15,000 to go)" in key["lever"]
    senior = takes.loc["senior_reps"]
    assert (senior["so_far"], senior["needed"]) == (2, 1)
    assert senior["candidates"] == "Cy; Di"
    assert "Cy (senior on 2024-07-01), Di (senior on 2024-10-20) (2 of them by the end of 2024)" \
        in senior["lever"]


def test_market_rank_names_the_competitors_to_pass(takes):
    row = takes.loc["market_rank"]
    # Ours in 2024 to date: D03 50 000 + D04 85 000 + D10 60 000 = 195 000; Acme, Bolt and Core
    # are ahead (rank 4); at most 2nd: pass the two closest, Core (+15 000) and Bolt (+55 000).
    assert (row["so_far"], row["needed"], row["candidates"]) == (4, 2, "Core; Bolt")
    assert row["lever"] == ("2 places to climb: rank 4 in 2024 to date, against a target of at "
                            "most 2; pass Core ($15,000 ahead), Bolt ($55,000 ahead) in revenue.")


def test_goals_already_met_and_out_of_reach(book):
    data = repkpi.load(book, as_of=AS_OF)
    got = what_it_takes(data, [Goal("large_deals", "Q", 1, "at_least"),
                               Goal("csat", "Q", 0.95, "at_least"),
                               Goal("churn_rate", "Q", 0.1, "at_most"),
                               Goal("key_accounts", "Y", 1, "at_least")]).set_index("kpi")
    assert got.loc["large_deals", "status"] == "met"
    assert got.loc["large_deals", "lever"].startswith("Met: 1 large deal so far in 2024 Q2")
    # (3 + 2) / 6 = 83% < 95% even if both responses to come are 4 or 5.
    assert got.loc["csat", "status"] == "out of reach"
    # 10% of 7 allows no churn; A3 already left.
    assert (got.loc["churn_rate", "status"], got.loc["churn_rate", "allowed"]) == ("out of reach", -1)
    assert got.loc["key_accounts", "status"] == "met"


def test_a_period_already_over_is_decided(book):
    data = repkpi.load(book, as_of=AS_OF)
    # 2024Q1's large deals: D03 (50 000) and D04 (85 000).
    row = what_it_takes(data, [Goal("large_deals", "Q", 2, "at_least")], period="2024Q1").iloc[0]
    assert (row["so_far"], row["status"]) == (2, "met")
    assert row["lever"] == "2024 Q1 is over: Large deals 2 against a target of at least 2, met."


def test_current_is_the_period_in_progress_and_a_later_one_is_refused(book):
    data = repkpi.load(book, as_of=AS_OF)
    goals = [Goal("large_deals", "Q", 2, "at_least")]
    pd.testing.assert_frame_equal(what_it_takes(data, goals, period="current"),
                                  what_it_takes(data, goals))
    with pytest.raises(OptionError, match=r"2024 Q2, not 2024 Q3, which begins later"):
        what_it_takes(data, goals, period="2024Q3")


def test_the_next_period_when_as_of_ends_one(book):
    data = repkpi.load(book, as_of="2024-03-31")
    row = what_it_takes(data, [Goal("churn_rate", "Q", 0.3, "at_most")]).iloc[0]
    # 2024Q2 has not begun: its book is the 7 active on 31 March, none lost yet: floor(2.1) = 2.
    assert (row["period_label"], row["book"], row["allowed"]) == ("2024 Q2", 7, 2)


@pytest.mark.dask
def test_dask_gives_the_same_rows(book, takes, tmp_path):
    for name in ("accounts", "deals", "contracts", "surveys", "reps", "market"):
        raw = pd.read_csv(book / f"{name}.csv", dtype="str", keep_default_na=False, na_values=[""])
        (tmp_path / name).mkdir()
        for part in range(2):
            raw.iloc[part::2].to_csv(tmp_path / name / f"part-{part}.csv", index=False)
    got = what_it_takes(repkpi.load(tmp_path, engine="dask", as_of=AS_OF), GOALS).set_index("kpi")
    pd.testing.assert_frame_equal(got, takes, check_dtype=False)


def test_goal_seek_says_the_numbers_in_words():
    with pytest.raises(OptionError, match=r"The target 150,000 is not bracketed: the function "
                                          r"gives 0 at 0 and 40,000 at 0\.1"):
        goal_seek(lambda rate: 10 * rate * 40_000, 150_000, lo=0.0, hi=0.1)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(lambda: goal_seek(lambda r: 10 * r * 40_000, 150_000, lo=0.0, hi=0.1,
                                       unit="money"),
                     r"The target \$150,000 is not bracketed: the function gives \$0 at 0 and "
                     r"\$40,000 at 0\.1", id="goal-seek-money"),
        pytest.param(lambda: goal_seek(lambda r: np.float64(r) / 2, np.float64(0.9), lo=0.0,
                                       hi=1.0, unit="percent"),
                     r"The target 90\.0% is not bracketed: the function gives 0\.0% at 0 and "
                     r"50\.0% at 1,", id="goal-seek-percent"),
        pytest.param(lambda: required_successes(3, 10, np.float64(1.5), remaining=5),
                     r"target must be a ratio in \[0, 1\], got 1\.5\.", id="ratio"),
        pytest.param(lambda: attainment_probability(repkpi.load_sample(), "csat", target=0.9,
                                                    draws=np.float64(2.5)),
                     r"draws must be a whole number >= 1, got 2\.5\.", id="draws"),
    ],
)
def test_what_if_errors_read_as_words(call, message):
    with pytest.raises(OptionError, match=message) as caught:
        call()
    assert "np." not in str(caught.value)


# -- the command line ---------------------------------------------------------------------------

GOALS_TOML = """
[[goal]]
kpi = "large_deals"
freq = "Q"
target = 2
direction = "at_least"
label = "Two large deals"

[[goal]]
kpi = "churn_rate"
freq = "Q"
target = 0.3
direction = "at_most"
label = "Churn <= 30%"
"""


def test_the_command_prints_the_sentences_and_writes_them(book, tmp_path, capsys):
    goals = tmp_path / "goals.toml"
    goals.write_text(GOALS_TOML, encoding="utf-8")
    out = tmp_path / "takes.csv"
    code = main(["what-it-takes", str(book), "--as-of", AS_OF, "--goals", str(goals),
                 "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert ("Two large deals (2024 Q2, open): 1 more large deal from 2 open deals expected to "
            "close ($135,000)") in printed
    assert "Churn <= 30% (2024 Q2, open): At most 1 more churn in 2024 Q2" in printed
    written = pd.read_csv(out)
    assert written["goal"].tolist() == ["Two large deals", "Churn <= 30%"]
    assert written["needed_win_rate"].tolist()[0] == pytest.approx(0.5)
    assert written["due"].tolist()[1] == 2


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        pytest.param(["--out", "takes.txt"], 2, "--out must end in .csv or .xlsx", id="out"),
        pytest.param(["--period", "2024Q3"], 2, "which begins later", id="later-period"),
        pytest.param(["--goals", "nowhere.toml"], 2, "nowhere.toml", id="goals-file"),
    ],
)
def test_the_command_refuses_without_a_traceback(book, tmp_path, capsys, args, code, message):
    got = main(["what-it-takes", str(book), "--as-of", AS_OF,
                *[str(tmp_path / a) if a.endswith((".txt", ".toml")) else a for a in args]])
    err = capsys.readouterr().err
    assert got == code
    assert message in err
    assert "Traceback" not in err


def test_bad_data_is_exit_1(tmp_path, capsys):
    write_book(tmp_path)
    (tmp_path / "deals.csv").write_text("deal_id,account_id,created_on,stage\nD1,A1,someday,won\n",
                                        encoding="utf-8")
    assert main(["what-it-takes", str(tmp_path)]) == 1
    assert "Traceback" not in capsys.readouterr().err


def test_the_report_opens_its_in_progress_part_with_the_sentences(book, tmp_path):
    from repkpi.report import write_report

    page = write_report(repkpi.load(book, as_of=AS_OF), tmp_path / "out", goals=GOALS)
    part = page.read_text(encoding="utf-8").split("<h3>In progress</h3>", 1)[1]
    assert part.index('id="what-it-takes"') < part.index('id="in-progress"')
    assert ("<strong>large_deals &gt;= 2</strong> (2024 Q2): 1 more large deal from 2 open deals "
            "expected to close ($135,000): a 50.0% win rate") in part


def test_cross_sell_wins_are_set_against_the_cross_sell_win_rate(tmp_path):
    """The book with D03 (won), D07 and D08 (lost) as cross-sell deals and the open D11 ($80,000)
    and D13 ($20,000) as upsells: no cross-sell win so far in 2024Q2 (D10 is new business), one
    needed from 2 open deals ($100,000): a 50% win rate, against the cross-sell deals' own 1 of 3
    (33.3%) over 2023Q2-2024Q1, not every deal's 5 of 8 (62.5%)."""
    kinds = {"D03": "cross_sell", "D07": "cross_sell", "D08": "cross_sell", "D11": "upsell",
             "D13": "upsell"}
    write_book(tmp_path)
    DEALS.assign(deal_type=DEALS["deal_id"].map(kinds).fillna("new_business")).to_csv(
        tmp_path / "deals.csv", index=False)
    row = what_it_takes(repkpi.load(tmp_path, as_of=AS_OF),
                        [Goal("cross_sell_wins", "Q", 1, "at_least")]).iloc[0]
    assert (row["so_far"], row["needed"], row["pipeline_deals"], row["pipeline_amount"]) == \
        (0, 1, 2, 100_000)
    assert row["needed_win_rate"] == pytest.approx(0.5)
    assert row["current_win_rate"] == pytest.approx(1 / 3)
    assert row["lever"] == ("1 more cross-sell win from 2 open deals expected to close "
                            "($100,000): a 50.0% win rate, against 33.3% for cross-sell and "
                            "upsell deals over the last four quarters.")
