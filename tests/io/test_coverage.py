"""Coverage (kpis.md, "Coverage"): each table's recorded dates, stale tables, churn dates after as_of.

Exports taken on different days, worked out by hand:

    table       recorded dates               last         days before as_of (2025-12-31)
    accounts    customer_since               2025-12-31   0
    deals       created_on, won/lost closed  2025-12-23   8  -> stale (more than 7)
    tickets     opened, answered, resolved   2025-11-30   31 -> stale
    surveys     responded_at                 2025-12-24   7  -> not stale (7 is not more)
    contracts   (none)                       -            never stale

D3 is open: its closed_on (2026-01-20) is an expected close date, not recorded.
A3's churned_on 2026-01-01 and A4's 2026-02-01 lie after as_of: read as
scheduled, 2 churn dates said in words.
"""

from __future__ import annotations

import pandas as pd
import pytest

import repkpi

ACCOUNTS = {"account_id": ["A1", "A2", "A3", "A4"],
            "customer_since": ["2025-01-10", "2025-03-01", "2025-06-01", "2025-12-31"],
            "churned_on": [None, "2025-09-01", "2026-01-01", "2026-02-01"]}
DEALS = {"deal_id": ["D1", "D2", "D3"], "account_id": ["A1", "A2", "A3"],
         "created_on": ["2025-02-01", "2025-12-01", "2025-12-10"],
         "closed_on": ["2025-03-05", "2025-12-23", "2026-01-20"], "stage": ["won", "lost", "open"],
         "amount": [100.0, 50.0, 70.0]}
TICKETS = {"ticket_id": ["T1", "T2"], "account_id": ["A1", "A2"],
           "opened_at": ["2025-04-01T10:00:00Z", "2025-11-29T22:00:00-05:00"],
           "first_response_at": ["2025-04-01T11:00:00Z", None],
           "resolved_at": ["2025-04-02T10:00:00Z", None], "priority": ["high", "normal"]}
SURVEYS = {"response_id": ["S1", "S2"], "account_id": ["A1", "A2"],
           "responded_at": ["2025-05-05T08:00:00Z", "2025-12-24T23:00:00Z"], "csat": [5, 4]}
CONTRACTS = {"contract_id": ["C1"], "account_id": ["A1"], "start_date": ["2025-01-10"],
             "end_date": ["2026-01-09"], "annual_value": [1200.0]}


def book(**options) -> repkpi.CrmData:
    return repkpi.CrmData(accounts=pd.DataFrame(ACCOUNTS), deals=pd.DataFrame(DEALS),
                          tickets=pd.DataFrame(TICKETS), surveys=pd.DataFrame(SURVEYS),
                          contracts=pd.DataFrame(CONTRACTS), **options)


def day(text: str | None) -> pd.Timestamp:
    return pd.NaT if text is None else pd.Timestamp(text)


def test_each_table_its_first_and_last_recorded_dates_rows_and_staleness():
    data = book()
    assert data.as_of == pd.Timestamp("2025-12-31")
    # T2, opened at 22:00 at -05:00, is 30 November 03:00 UTC: its UTC date counts.
    expected = pd.DataFrame({
        "table": ["accounts", "contracts", "deals", "tickets", "surveys"],
        "first": [day("2025-01-10"), day(None), day("2025-02-01"), day("2025-04-01"),
                  day("2025-05-05")],
        "last": [day("2025-12-31"), day(None), day("2025-12-23"), day("2025-11-30"),
                 day("2025-12-24")],
        "rows": [4, 1, 3, 2, 2],
        "stale": [False, False, True, True, False]})
    pd.testing.assert_frame_equal(data.coverage, expected, check_dtype=False)


def test_the_coverage_in_words():
    assert book().coverage_notes() == [
        "deals end on 2025-12-23, 8 days before the as-of date 2025-12-31",
        "tickets end on 2025-11-30, 31 days before the as-of date 2025-12-31",
        "2 churn dates after the as-of date are read as scheduled; if the export is newer, "
        "declare its date with `--as-of`",
    ]


@pytest.mark.parametrize(("kpi", "stale"), [
    ("sla_compliance", {"tickets": pd.Timestamp("2025-11-30")}),
    ("win_rate", {"deals": pd.Timestamp("2025-12-23")}),
    ("csat", {}),
    ("new_customers", {}),
    ("net_revenue_retention", {}),
])
def test_a_result_names_the_stale_tables_it_read(kpi, stale):
    assert repkpi.KPIS[kpi](book()).attrs["stale"] == stale


def test_compute_names_every_stale_table_its_kpis_read():
    data = book()
    assert repkpi.compute(data).attrs["stale"] == {"deals": pd.Timestamp("2025-12-23"),
                                                  "tickets": pd.Timestamp("2025-11-30")}
    assert repkpi.compute(data, ["csat", "new_customers"]).attrs["stale"] == {}


def test_a_declared_as_of_beyond_every_recorded_date_is_said():
    # Declared 2026-01-15: A4's churn on 2026-02-01 has not happened (blanked at load), A3's
    # on 2026-01-01 has; nothing recorded after 2025-12-31, and every table is now stale.
    data = book(as_of="2026-01-15")
    assert data.accounts["churned_on"].isna().tolist() == [True, False, False, True]
    assert data.summary().set_index("table").loc["accounts", "changed"] == 1
    notes = data.coverage_notes()
    assert notes[-1] == "no event recorded after 2025-12-31 (the as-of date is 2026-01-15)"
    assert notes[0] == "accounts end on 2025-12-31, 15 days before the as-of date 2026-01-15"
    assert data.coverage["stale"].tolist() == [True, False, True, True, True]
    # A declared date inside the data is no such warning: events were recorded after it.
    assert not any("no event" in note for note in book(as_of="2025-12-20").coverage_notes())


def test_a_declared_as_of_after_today_is_refused():
    today = pd.Timestamp.now(tz="UTC").date()
    tomorrow = (pd.Timestamp(today) + pd.Timedelta(days=1)).date()
    with pytest.raises(repkpi.OptionError, match=f"after today, {today} \\(UTC\\)"):
        book(as_of=str(tomorrow))
    assert book(as_of=str(today)).as_of == pd.Timestamp(today)


def test_the_cut_at_load_counts_rows_and_cells():
    # As of 2025-12-05: D3 (created 12-10) not created yet; D2 (lost 12-23) was open; A4 not a
    # customer yet and its churn and A3's not happened; S2 not answered yet.
    data = book(as_of="2025-12-05")
    summary = data.summary().set_index("table")
    assert summary.loc[["accounts", "deals", "tickets", "surveys", "contracts"],
                       ["rows", "loaded", "rejected", "after_as_of", "changed"]].to_dict("index") == {
        "accounts": {"rows": 4, "loaded": 4, "rejected": 0, "after_as_of": 0, "changed": 3},
        "deals": {"rows": 3, "loaded": 2, "rejected": 0, "after_as_of": 1, "changed": 1},
        "tickets": {"rows": 2, "loaded": 2, "rejected": 0, "after_as_of": 0, "changed": 0},
        "surveys": {"rows": 2, "loaded": 1, "rejected": 0, "after_as_of": 1, "changed": 0},
        "contracts": {"rows": 1, "loaded": 1, "rejected": 0, "after_as_of": 0, "changed": 0},
    }
    assert data.deals["stage"].tolist() == ["won", "open"]
    assert data.accounts["customer_since"].isna().tolist() == [False, False, False, True]


@pytest.mark.dask
def test_dask_data_has_the_same_coverage(tmp_path):
    pytest.importorskip("dask")
    data = book()
    for name, frame in data.tables.items():
        frame.to_parquet(tmp_path / f"{name}.parquet")
    on_dask = repkpi.load(tmp_path, engine="dask")
    pd.testing.assert_frame_equal(on_dask.coverage, data.coverage)
    assert on_dask.coverage_notes() == data.coverage_notes()
    assert repkpi.kpis.sla_compliance(on_dask).attrs["stale"] == {
        "tickets": pd.Timestamp("2025-11-30")}


def test_the_review_holds_the_notes_and_the_report_says_them_under_the_headline(tmp_path):
    from repkpi.report import write_report
    from repkpi.review import review

    data = book()
    assert review(data).coverage == data.coverage_notes()
    page = write_report(data, tmp_path / "out").read_text(encoding="utf-8")
    line = page[page.index('id="coverage-line"'):]
    line = line[line.index(">") + 1:line.index("</p>")]
    assert line == ("Deals end on 2025-12-23, 8 days before the as-of date 2025-12-31. Tickets end "
                    "on 2025-11-30, 31 days before the as-of date 2025-12-31. 2 churn dates after "
                    "the as-of date are read as scheduled; if the export is newer, declare its "
                    "date with `--as-of`.")
    assert page.index('id="headline"') < page.index('id="coverage-line"')
