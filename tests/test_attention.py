"""``repkpi.needs_attention``: the report's to-do lists, on a small book worked out by hand.

The book (no declared cut-off): its latest recorded date is T7's first
response, 2024-10-15 12:00 UTC, so ``data.as_of`` is 2024-10-15, 2024Q4 is in
progress and the reviewed period defaults to 2024Q3. Open tickets are judged
at the close of that day, 2024-10-16 00:00 UTC (kpis.md, "Snapshot time").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import repkpi
from repkpi.attention import COLUMNS

KEYS = ["churned", "open_sla_breaches", "renewals_due", "largest_open_deals", "at_risk"]

ACCOUNTS = pd.DataFrame({
    "account_id": ["A1", "A2", "A3", "A4", "A5", "A6", "A7"],
    "account_name": ["Alpha", "Beta", "Gamma", "Delta", "Epsilon", "Zeta", "Eta"],
    "rep_id": ["R1", "R2", None, "R1", "R2", "R3", "R3"],
    "segment": ["smb", "enterprise", "smb", "smb", "mid_market", "smb", None],
    # A1 churns in August, A2 on 1 July (inside Q3), A6 on Q3's last day; A3 in Q4;
    # A4 joins and churns inside Q3 (not in Q3's opening book); A7 is a prospect.
    "customer_since": ["2023-01-01", "2023-02-01", "2023-03-01", "2024-08-01", "2023-01-01",
                       "2023-05-01", None],
    "churned_on": ["2024-08-10", "2024-07-01", "2024-10-01", "2024-09-01", None, "2024-09-30", None],
})
REPS = pd.DataFrame({"rep_id": ["R1", "R2", "R3"], "name": ["Rep One", "Rep Two", None],
                     "hired_on": ["2020-01-01", "2020-01-01", "2021-01-01"]})
CONTRACTS = pd.DataFrame({
    "contract_id": ["C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9"],
    "account_id": ["A1", "A1", "A2", "A5", "A5", "A5", "A3", "A5", "A1"],
    "start_date": ["2023-07-01", "2024-07-01", "2024-01-01", "2023-11-01", "2023-10-01", "2024-11-01",
                   "2024-01-01", "2024-01-01", "2024-02-01"],
    "end_date": ["2024-06-30", "2025-06-30", None, "2024-11-15", "2024-10-31", "2025-10-31",
                 "2024-10-05", "2024-10-05", "2025-01-31"],
    "annual_value": [1200.0, 1500.0, 500.0, 3000.0, 800.0, 900.0, 2000.0, 2500.0, 100.0],
    "renewal_of": [None, "C1", None, None, None, "C5", None, None, None],
})
TICKETS = pd.DataFrame({
    "ticket_id": ["T1", "T2", "T3", "T4", "T5", "T6", "T7"],
    "account_id": ["A1", "A5", "A5", "A2", None, "A3", "A5"],
    "rep_id": ["R1", "R2", "R2", "R1", "R3", None, "R2"],
    "priority": ["urgent", "normal", "high", "low", None, "high", "normal"],
    "kind": ["complaint", "question", "question", "request", "question", "complaint", "question"],
    "opened_at": ["2024-10-15T06:00:00Z", "2024-10-10T12:00:00Z", "2024-10-15T00:00:00Z",
                  "2024-10-01T00:00:00Z", "2024-09-01T00:00:00Z", "2024-10-13T12:00:00Z",
                  "2024-10-14T12:00:00Z"],
    "first_response_at": [None, None, None, None, None, None, "2024-10-15T12:00:00Z"],
    "resolved_at": [None, None, None, "2024-10-08T00:00:00Z", None, None, None],
})
DEALS = pd.DataFrame({
    "deal_id": ["D1", "D2", "D3", "D4", "D5", "D6", "D7"],
    "account_id": ["A1", "A5", "A5", "A3", "A2", "A5", "A7"],
    "rep_id": ["R1", "R2", "R2", None, "R1", "R2", "R3"],
    "created_on": ["2024-09-01", "2024-09-05", "2024-08-01", "2024-10-01", "2024-07-01", "2024-06-01",
                   "2024-10-10"],
    "closed_on": ["2024-12-01", "2024-11-01", "2025-01-15", "2024-11-20", "2024-10-02", "2024-09-15", None],
    "stage": ["open", "open", "open", "open", "won", "lost", "open"],
    "amount": [50_000, None, 80_000, 50_000, 90_000, 1_000, 10_000],
    "deal_type": ["upsell", "new_business", "cross_sell", "renewal", "upsell", "new_business", None],
})
TABLES = {"accounts": ACCOUNTS, "reps": REPS, "contracts": CONTRACTS, "tickets": TICKETS, "deals": DEALS}


def book(**options) -> repkpi.CrmData:
    return repkpi.CrmData(**TABLES, **options)


def column(lists, key: str, name: str) -> list:
    return [None if pd.isna(v) else v for v in lists[key].rows[name]]


@pytest.fixture(scope="module")
def lists():
    return repkpi.needs_attention(book())


def test_the_five_lists_in_order_with_their_columns(lists):
    assert list(lists) == KEYS
    for key in KEYS:
        assert list(lists[key].rows.columns) == COLUMNS[key]
        assert lists[key].reason is None
    assert lists["churned"].period == pd.Period("2024Q3", "Q")
    assert lists["renewals_due"].period == pd.Period("2024Q4", "Q")
    assert lists["churned"].title == "Accounts churned in 2024 Q3"
    assert lists["renewals_due"].title == "Contracts due in 2024 Q4 not yet renewed"


def test_churned_accounts_of_the_opening_book_largest_arr_first(lists):
    # A1 (ARR on 30 June: C1's 1200 + C9's 100; C2 starts 1 July), A2 (evergreen C3: 500), A6 (none: 0).
    # A4 joined inside Q3 (not in its opening book), A3 churns in Q4.
    churned = lists["churned"]
    assert column(lists, "churned", "account_id") == ["A1", "A2", "A6"]
    assert column(lists, "churned", "arr") == [1300.0, 500.0, 0.0]
    assert column(lists, "churned", "rep_id") == ["R1", "R2", "R3"]
    assert column(lists, "churned", "rep_name") == ["Rep One", "Rep Two", None]
    assert column(lists, "churned", "account_name") == ["Alpha", "Beta", "Zeta"]
    assert column(lists, "churned", "segment") == ["smb", "enterprise", "smb"]
    assert [str(d.date()) for d in churned.rows["churned_on"]] == ["2024-08-10", "2024-07-01",
                                                                   "2024-09-30"]
    assert (churned.total, churned.rest) == (3, 0)


def test_open_breaches_most_overdue_first(lists):
    # At 2024-10-16 00:00: T2 (normal, 72 h) was due 10-13 12:00: 60 h over; T6 (high, 24 h) due
    # 10-14 12:00: 36 h; T1 (urgent, 4 h) due 10-15 10:00: 14 h. T3 is due at that very moment
    # (not past it) and T7 later, T4 was resolved (late: a breach, but closed), T5 has no
    # priority (no agreed time).
    breaches = lists["open_sla_breaches"]
    assert column(lists, "open_sla_breaches", "ticket_id") == ["T2", "T6", "T1"]
    assert column(lists, "open_sla_breaches", "hours_overdue") == [60.0, 36.0, 14.0]
    assert list(breaches.rows["deadline"]) == [pd.Timestamp("2024-10-13T12:00:00Z"),
                                                pd.Timestamp("2024-10-14T12:00:00Z"),
                                                pd.Timestamp("2024-10-15T10:00:00Z")]
    assert column(lists, "open_sla_breaches", "rep_name") == ["Rep Two", None, "Rep One"]
    assert column(lists, "open_sla_breaches", "account_name") == ["Epsilon", "Gamma", "Alpha"]
    assert breaches.total == 3
    assert breaches.title == "SLA breaches still open"


def test_renewals_due_next_quarter_not_renewed_by_end_date(lists):
    # Due in 2024Q4: C7 and C8 (5 Oct; C8 is worth more), C5 (renewed by C6), C4 (15 Nov).
    assert column(lists, "renewals_due", "contract_id") == ["C8", "C7", "C4"]
    assert column(lists, "renewals_due", "annual_value") == [2500.0, 2000.0, 3000.0]
    assert column(lists, "renewals_due", "rep_id") == ["R2", None, "R2"]
    assert column(lists, "renewals_due", "rep_name") == ["Rep Two", None, "Rep Two"]
    assert lists["renewals_due"].total == 3


def test_largest_open_deals_then_earliest_expected_close(lists):
    # D4 and D1 tie at 50 000: D4 is expected first; D2 has no amount, last. D5, D6 are closed.
    deals = lists["largest_open_deals"]
    assert column(lists, "largest_open_deals", "deal_id") == ["D3", "D4", "D1", "D7", "D2"]
    assert column(lists, "largest_open_deals", "amount") == [80_000, 50_000, 50_000, 10_000, None]
    assert [None if pd.isna(d) else str(d.date()) for d in deals.rows["expected_close_on"]] == [
        "2025-01-15", "2024-11-20", "2024-12-01", None, "2024-11-01"]
    assert column(lists, "largest_open_deals", "rep_name") == ["Rep Two", None, "Rep One", None,
                                                               "Rep Two"]
    assert deals.total == 5


@pytest.mark.parametrize(("limit", "shown"), [(1, 1), (2, 2), (0, 0), (None, None)])
def test_the_limit_caps_the_rows_and_counts_the_rest(limit, shown):
    totals = {"churned": 3, "open_sla_breaches": 3, "renewals_due": 3, "largest_open_deals": 5}
    capped = repkpi.needs_attention(book(), limit=limit)
    for key, total in totals.items():
        rows = total if shown is None else shown
        assert len(capped[key].rows) == rows
        assert capped[key].total == total
        assert capped[key].rest == total - rows
    assert column(capped, "largest_open_deals", "deal_id") == ["D3", "D4", "D1", "D7", "D2"][:shown]


def test_a_month_reviews_that_month_and_the_next_ones_renewals():
    # September 2024: A4 (a customer since August, in September's opening book) and A6 churn.
    # Due in October: C8 and C7 (C5 is renewed).
    lists = repkpi.needs_attention(book(), "2024-09")
    assert column(lists, "churned", "account_id") == ["A4", "A6"]
    assert column(lists, "renewals_due", "contract_id") == ["C8", "C7"]
    assert lists["churned"].period == pd.Period("2024-09", "M")
    assert lists["renewals_due"].title == "Contracts due in Oct 2024 not yet renewed"


def test_freq_chooses_the_latest_complete_month():
    lists = repkpi.needs_attention(book(), freq="M")  # as_of 2024-10-15: September
    assert lists["churned"].period == pd.Period("2024-09", "M")


def test_a_fiscal_quarter_names_the_same_months():
    # FY2025 Q2 of a year starting in April is July-September 2024.
    lists = repkpi.needs_attention(book(), "2025Q2", fiscal_year_start=4)
    assert column(lists, "churned", "account_id") == ["A1", "A2", "A6"]
    assert lists["churned"].title == "Accounts churned in FY2025 Q2"
    assert column(lists, "renewals_due", "contract_id") == ["C8", "C7", "C4"]


def test_a_declared_cut_off_judges_tickets_and_deals_on_that_day():
    # Cut-off 2024-10-13: open tickets are judged at its end, 10-14 00:00: T2 (due 10-13 12:00) is
    # 12 h over; T6 is due 10-14 12:00; T1, T3, T7 were not opened yet; T4 was resolved 10-08.
    lists = repkpi.needs_attention(book(as_of="2024-10-13"))
    assert column(lists, "open_sla_breaches", "ticket_id") == ["T2"]
    assert column(lists, "open_sla_breaches", "hours_overdue") == [12.0]
    assert column(lists, "largest_open_deals", "deal_id") == ["D3", "D4", "D1", "D7", "D2"]
    # Cut-off 2024-10-01: D5 (won 10-02) was still open, and reads so; D7 (created 10-10) was
    # not there yet.
    cut = repkpi.needs_attention(book(as_of="2024-10-01"))
    assert column(cut, "largest_open_deals", "deal_id") == ["D5", "D3", "D4", "D1", "D2"]
    assert column(cut, "largest_open_deals", "stage") == ["open"] * 5
    assert cut["open_sla_breaches"].total == 0  # at 10-02 00:00, T4 (low) is due 10-06


def test_sla_targets_change_the_deadlines():
    # 30 days for tickets with no priority: T5 (opened 09-01) was due 10-01 00:00, 360 h before
    # the snapshot (10-16 00:00); normal tickets get 60 h: T2 was due 10-13 00:00, 72 h before.
    lists = repkpi.needs_attention(book(), sla_targets={None: 720, "normal": 60})
    assert column(lists, "open_sla_breaches", "ticket_id") == ["T5", "T2", "T6", "T1"]
    assert column(lists, "open_sla_breaches", "hours_overdue") == [360.0, 72.0, 36.0, 14.0]


def test_missing_tables_give_empty_lists_with_a_reason():
    # The accounts alone record nothing after 2024-08-01: declare the quarter's end as the cut-off.
    lists = repkpi.needs_attention(repkpi.CrmData(accounts=ACCOUNTS, as_of="2024-09-30"))
    assert column(lists, "churned", "account_id") == ["A1", "A2", "A6"]
    assert column(lists, "churned", "rep_name") == [None, None, None]  # no reps table
    assert np.isnan(lists["churned"].rows["arr"]).all()  # no contracts: ARR unknown
    for key, table in [("open_sla_breaches", "tickets"), ("renewals_due", "contracts"),
                       ("largest_open_deals", "deals")]:
        assert (lists[key].total, lists[key].rest, len(lists[key].rows)) == (0, 0, 0)
        assert list(lists[key].rows.columns) == COLUMNS[key]
        assert lists[key].reason == f"No {table} table is loaded."
    tickets_only = repkpi.needs_attention(repkpi.CrmData(tickets=TICKETS))
    assert column(tickets_only, "open_sla_breaches", "ticket_id") == ["T2", "T6", "T1"]
    assert column(tickets_only, "open_sla_breaches", "account_name") == [None, None, None]
    assert tickets_only["churned"].reason == "No accounts table is loaded."
    assert tickets_only["at_risk"].reason == "No accounts table is loaded."
    # the accounts alone still train the risk model (tenure, segment); on 2023-05-15 no
    # quarter since the first customer (2023Q1) has had its next quarter end
    assert lists["at_risk"].reason is None
    early = repkpi.needs_attention(repkpi.CrmData(accounts=ACCOUNTS, as_of="2023-05-15"))
    assert early["at_risk"].reason.startswith("risk has no past to learn from")


def test_a_list_that_needs_an_absent_column_is_empty_with_the_reason():
    # Tickets without a priority column: the export cannot tell which agreed time applies, so
    # the list is not computed as if no ticket had one (data-model.md, "Columns an export
    # does not have"); present and empty, every ticket has no agreed time and none is listed.
    lists = repkpi.needs_attention(repkpi.CrmData(**{**TABLES,
                                                     "tickets": TICKETS.drop(columns="priority")}))
    breaches = lists["open_sla_breaches"]
    assert (breaches.total, breaches.reason) == (0, (
        "the list of open SLA breaches needs tickets.priority; the tickets table (<DataFrame>) "
        "has no such column."))
    assert list(breaches.rows.columns) == COLUMNS["open_sla_breaches"]
    assert lists["churned"].reason is None
    empty = repkpi.needs_attention(repkpi.CrmData(**{**TABLES,
                                                     "tickets": TICKETS.assign(priority=None)}))
    assert (empty["open_sla_breaches"].total, empty["open_sla_breaches"].reason) == (0, None)
    # Accounts without churned_on: nobody can be named as churned.
    lists = repkpi.needs_attention(repkpi.CrmData(**{**TABLES,
                                                     "accounts": ACCOUNTS.drop(columns="churned_on")}))
    assert lists["churned"].reason == ("churn_rate needs accounts.churned_on; the accounts table "
                                       "(<DataFrame>) has no such column.")
    assert lists["churned"].total == 0
    # Contracts without end_date: nothing is due, and a churned account's ARR is unknown.
    lists = repkpi.needs_attention(repkpi.CrmData(**{**TABLES,
                                                     "contracts": CONTRACTS.drop(columns="end_date")}))
    assert lists["renewals_due"].reason == ("renewal_rate needs contracts.end_date; the contracts "
                                            "table (<DataFrame>) has no such column.")
    assert column(lists, "churned", "account_id") == ["A1", "A2", "A6"]
    assert np.isnan(lists["churned"].rows["arr"]).all()


def test_data_with_no_date_has_no_period_to_review():
    lists = repkpi.needs_attention(repkpi.CrmData(contracts=CONTRACTS))  # contract dates are scheduled
    assert lists["renewals_due"].reason == "The data records no date: there is no period to review."
    assert lists["churned"].reason == "No accounts table is loaded."
    assert lists["renewals_due"].total == 0


@pytest.mark.parametrize("limit", [-1, 2.5, "3", True])
def test_a_bad_limit_is_refused(limit):
    with pytest.raises(repkpi.OptionError, match="limit must be a non-negative integer"):
        repkpi.needs_attention(book(), limit=limit)


def test_an_unknown_priority_in_the_targets_is_refused():
    with pytest.raises(repkpi.OptionError, match=r"unknown priorities \['critical'\]"):
        repkpi.needs_attention(book(), sla_targets={"critical": 1})


def test_an_unreadable_period_is_refused():
    with pytest.raises(repkpi.OptionError, match="Cannot tell the period length"):
        repkpi.needs_attention(book(), "soon")


def test_a_period_after_as_of_is_refused():
    data = book()
    later = data.as_of.to_period("Q") + 1
    with pytest.raises(repkpi.OptionError, match=r"(?s)needs_attention cannot take .*as_of.*--as-of"):
        repkpi.needs_attention(data, later)


# -- the sample: every total from the raw tables ------------------------------------------------

@pytest.fixture(scope="module")
def sample():
    return repkpi.load_sample()


def test_sample_totals_match_the_raw_tables(sample):
    lists = repkpi.needs_attention(sample, limit=5)
    quarter = repkpi.latest_complete_period(sample, "Q")
    opening, last = quarter.start_time - pd.Timedelta(days=1), quarter.end_time.normalize()
    a = sample.accounts
    churned = ((a["customer_since"] <= opening) & ~(a["churned_on"] <= opening)
               & (a["churned_on"] <= last))
    assert lists["churned"].total == churned.sum()
    assert set(lists["churned"].rows["account_id"]) <= set(a.loc[churned, "account_id"])

    t = sample.tickets
    now = (sample.as_of + pd.Timedelta(days=1)).tz_localize("UTC")  # the close of as_of
    hours = {"urgent": 4, "high": 24, "normal": 72, "low": 120}
    deadline = t["opened_at"] + pd.to_timedelta(t["priority"].map(hours), unit="h")
    still_open = t["resolved_at"].isna() | (t["resolved_at"] > now)
    breaches = still_open & (deadline < now)
    assert lists["open_sla_breaches"].total == breaches.sum()
    worst = ((now - deadline[breaches]) / pd.Timedelta(hours=1)).max()
    assert lists["open_sla_breaches"].rows["hours_overdue"].iloc[0] == pytest.approx(worst)

    c = sample.contracts
    following = quarter + 1
    due = (c["end_date"] >= following.start_time) & (c["end_date"] <= following.end_time.normalize())
    renewed = c["contract_id"].isin(c["renewal_of"].dropna())
    assert lists["renewals_due"].total == (due & ~renewed).sum()

    d = sample.deals
    assert lists["largest_open_deals"].total == (d["stage"] == "open").sum()
    assert lists["largest_open_deals"].rows["amount"].iloc[0] == d.loc[d["stage"] == "open",
                                                                        "amount"].max()
    for key in KEYS:
        assert len(lists[key].rows) == min(5, lists[key].total)
        assert lists[key].rest == lists[key].total - len(lists[key].rows)


def test_open_breaches_are_the_breached_unresolved_tickets_of_the_drill_down(sample):
    # Every open breach opened in 2026Q3 is a breached ticket in sla_compliance's drill-down,
    # unresolved, with as many hours late.
    lists = repkpi.needs_attention(sample, limit=None)
    rows = repkpi.detail(sample, "sla_compliance", period="2026Q3")
    late = rows[rows["in_denominator"] & ~rows["in_numerator"] & rows["resolved_at"].isna()]
    mine = lists["open_sla_breaches"].rows
    mine = mine[mine["opened_at"].dt.tz_localize(None).dt.to_period("Q") == pd.Period("2026Q3", "Q")]
    assert sorted(mine["ticket_id"]) == sorted(late["ticket_id"])
    both = mine.merge(late, on="ticket_id")
    np.testing.assert_allclose(both["hours_overdue"], both["hours_late"])


# -- Dask ---------------------------------------------------------------------------------------

def _split_sample(folder: Path) -> None:
    """The sample's tables, each as a folder of two part files (every other row)."""
    for file in sorted(Path(repkpi.sample_path()).glob("*.csv")):
        raw = pd.read_csv(file, dtype="str", keep_default_na=False, na_values=[""])
        (folder / file.stem).mkdir()
        for part in range(2):
            raw.iloc[part::2].to_csv(folder / file.stem / f"part-{part:04d}.csv", index=False)


@pytest.mark.dask
def test_dask_data_gives_the_same_lists(sample, tmp_path):
    pytest.importorskip("dask")
    _split_sample(tmp_path)
    got = repkpi.needs_attention(repkpi.load(tmp_path, engine="dask"), limit=None)
    want = repkpi.needs_attention(sample, limit=None)
    for key in KEYS:
        assert got[key].total == want[key].total
        pd.testing.assert_frame_equal(got[key].rows, want[key].rows, check_dtype=False)


# -- the SLA's clock ----------------------------------------------------------------------------
WEEKDAYS_UTC = {"timezone": "UTC", "hours": {d: "09:00-17:00" for d in ("mon", "tue", "wed", "thu",
                                                                         "fri")}}


def test_the_business_clock_judges_open_tickets_in_opening_hours():
    # Snapshot Wed 2024-10-16 00:00 UTC; 09:00-17:00 UTC on weekdays. On the clock at the
    # snapshot: T1 (opened Tue 06:00) 8 h, T2 (Thu 10-10 12:00) 5 + 8 + 8 + 8 = 29 h, T3 (Tue
    # 00:00) 8 h, T6 (Sun 10-13 12:00) 8 + 8 = 16 h, T7 (Mon 12:00) 5 + 8 = 13 h: only T1 is
    # past its default target (4, 72, 24, 24, 72 h), due Tue 13:00, 4 h over, where the
    # calendar clock finds three.
    lists = repkpi.needs_attention(book(), clock="business", calendar=WEEKDAYS_UTC)
    assert column(lists, "open_sla_breaches", "ticket_id") == ["T1"]
    assert column(lists, "open_sla_breaches", "hours_overdue") == [4.0]
    # With 20 h for normal and 10 h for high tickets: T2 reached 20 h on Mon 10-14 at 16:00 (9 h
    # over), T6 10 h on Tue at 11:00 (6 h over); T7 (13 h of 20) and T3 (8 h of 10) are in time.
    lists = repkpi.needs_attention(book(), clock="business", calendar=WEEKDAYS_UTC,
                                   sla_targets={"normal": 20, "high": 10})
    assert column(lists, "open_sla_breaches", "ticket_id") == ["T2", "T6", "T1"]
    assert column(lists, "open_sla_breaches", "hours_overdue") == [9.0, 6.0, 4.0]
    assert list(lists["open_sla_breaches"].rows["deadline"]) == [
        pd.Timestamp("2024-10-14T16:00:00Z"), pd.Timestamp("2024-10-15T11:00:00Z"),
        pd.Timestamp("2024-10-15T13:00:00Z")]


def test_a_pause_moves_an_open_tickets_deadline():
    # T2 waits on the customer (pending) for 24 h from 10-11 12:00: its 72 calendar hours end
    # on 10-14 12:00, 36 h before the snapshot (10-16 00:00); T6 and T1 as without pauses.
    events = pd.DataFrame({"ticket_id": ["T2", "T2"], "status": ["pending", "open"],
                           "changed_at": ["2024-10-11T12:00:00Z", "2024-10-12T12:00:00Z"]})
    lists = repkpi.needs_attention(book(ticket_events=events), pause="pending")
    assert column(lists, "open_sla_breaches", "ticket_id") == ["T2", "T6", "T1"]
    assert column(lists, "open_sla_breaches", "hours_overdue") == [36.0, 36.0, 14.0]
    assert lists["open_sla_breaches"].rows["deadline"].iloc[0] == pd.Timestamp(
        "2024-10-14T12:00:00Z")


def test_bad_clock_options_are_refused():
    with pytest.raises(repkpi.OptionError, match="needs a calendar"):
        repkpi.needs_attention(book(), clock="business")
    with pytest.raises(repkpi.errors.MissingTableError, match="needs the ticket_events table"):
        repkpi.needs_attention(book(), pause="pending")


def test_sla_options_come_from_the_sla_goal():
    from repkpi.attention import sla_options

    goals = [repkpi.Goal("csat", "Q", 0.9, "at_least"),
             repkpi.Goal("sla_compliance", "Q", 0.9, "at_least", where={"region": "north"},
                         options={"clock": "calendar"}),
             repkpi.Goal("sla_compliance", "Q", 0.9, "at_least",
                         options={"clock": "business", "calendar": WEEKDAYS_UTC,
                                  "targets": {"normal": 20}, "kinds": "complaint"})]
    assert sla_options(goals) == {"clock": "business", "calendar": WEEKDAYS_UTC,
                                  "sla_targets": {"normal": 20}}
    assert sla_options(goals[:1]) == {}


@pytest.mark.dask
def test_dask_data_gives_the_same_lists_on_the_business_clock(sample, tmp_path):
    pytest.importorskip("dask")
    _split_sample(tmp_path)
    calendar = {**WEEKDAYS_UTC, "by": {"region": {"west": {"timezone": "America/New_York"}}}}
    got = repkpi.needs_attention(repkpi.load(tmp_path, engine="dask"), limit=None,
                                 clock="business", calendar=calendar)["open_sla_breaches"]
    want = repkpi.needs_attention(sample, limit=None, clock="business",
                                  calendar=calendar)["open_sla_breaches"]
    assert want.total > 0
    assert got.total == want.total
    pd.testing.assert_frame_equal(got.rows, want.rows, check_dtype=False)


def test_at_risk_is_the_high_band_of_risk():
    # The churn-risk model's top 10% (forecast.md, "Who is at risk"), most at risk first; the
    # report passes its own scores so that the model is trained once.
    from repkpi.forecast import risk

    data = repkpi.load_sample()
    scores = risk(data)
    listed = repkpi.needs_attention(data, limit=None)["at_risk"]
    high = scores[scores["band"] == "high"]
    assert listed.total == len(high) == int(np.ceil(0.1 * len(scores)))
    assert listed.rows["account_id"].tolist() == high["account_id"].tolist()
    assert listed.rows["drivers"].tolist() == high["drivers"].tolist()
    assert listed.period is None
    given = repkpi.needs_attention(data, limit=None, scores=scores.iloc[::-1].reset_index(drop=True))
    assert given["at_risk"].rows["account_id"].tolist() == high["account_id"].tolist()[::-1]
