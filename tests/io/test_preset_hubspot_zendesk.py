"""The hubspot and zendesk presets on newer exports: primary company, currencies, first replies.

Fixtures: tests/io/fixtures/hubspot_currencies/ and tests/io/fixtures/zendesk_replies/,
each with a README.md that works out the numbers below by hand.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

import repkpi
from repkpi import kpis
from repkpi.errors import DataFileError
from repkpi.io.mapping import read_mapping

FIXTURES = Path(__file__).parent / "fixtures"
HUBSPOT = FIXTURES / "hubspot_currencies"
ZENDESK = FIXTURES / "zendesk_replies"


def _value(result: pd.DataFrame, period: str) -> tuple[float, float, float]:
    row = result.loc[result["period"].astype(str) == period].iloc[0]
    return row["value"], row["numerator"], row["denominator"]


def _without_company_amounts(tmp_path: Path) -> Path:
    """The deals export without its "Amount in company currency" column."""
    folder = Path(shutil.copytree(HUBSPOT, tmp_path / "hubspot"))
    deals = pd.read_csv(folder / "deals.csv", dtype=str, keep_default_na=False)
    deals.drop(columns="Amount in company currency").to_csv(
        folder / "deals.csv", index=False, quoting=1)
    return folder


def test_the_primary_company_and_the_company_currency_amount_are_read():
    data = repkpi.load(HUBSPOT, source="hubspot")
    assert data.summary().set_index("table").loc["deals", ["loaded", "rejected"]].tolist() == [5, 0]
    deals = data.deals.set_index("deal_id")
    assert deals.loc["270402053363", "account_id"] == "4100000102"
    assert deals.loc["270402053363", "amount"] == 4600.0  # not the 5000.0 USD of "Amount"
    assert deals.loc["270402053363", "Associated Company Names (Primary)"] == "Brightwave Media"
    assert _value(kpis.revenue(data, start="2024Q1", end="2024Q1"), "2024Q1")[0] == 17955.0
    assert _value(kpis.win_rate(data, start="2024Q1", end="2024Q1"), "2024Q1") == (0.75, 3, 4)


def test_tickets_read_the_primary_company():
    data = repkpi.load(HUBSPOT, source="hubspot")
    tickets = data.tickets.set_index("ticket_id")
    assert data.summary().set_index("table").loc["tickets", ["loaded", "rejected"]].tolist() == [
        2, 0]
    assert tickets.loc["52563479112", "account_id"] == "4100000101"
    # A web-form ticket with no company and no priority loads with neither.
    assert tickets.loc["52563479113", ["account_id", "priority"]].isna().all()


def test_several_deal_currencies_without_rates_are_refused(tmp_path):
    folder = _without_company_amounts(tmp_path)
    with pytest.raises(DataFileError, match=(
            r"deals\.csv: amounts in several currencies \(EUR, GBP, USD\) and no exchange "
            r"rates\.\nHint: give an \[fx\] table in a mapping file with base = \"hubspot\", "
            r"e\.g\. EUR = 1\.08, or export 'Amount in company currency'")):
        repkpi.load(folder, source="hubspot")


def test_several_deal_currencies_convert_with_rates(tmp_path):
    folder = _without_company_amounts(tmp_path)
    mapping = tmp_path / "mapping.toml"
    mapping.write_text('base = "hubspot"\n[fx]\nEUR = 1\nUSD = 0.92\nGBP = 1.17\n')
    data = repkpi.load(folder, source=mapping)
    # 11015 + 5000 x 0.92 + 2000 x 1.17
    revenue = kpis.revenue(data, start="2024Q1", end="2024Q1")
    assert _value(revenue, "2024Q1")[0] == pytest.approx(17955.0)


def test_the_company_currency_amount_is_not_converted_again(tmp_path):
    mapping = tmp_path / "mapping.toml"
    mapping.write_text('base = "hubspot"\n[fx]\nEUR = 1\nUSD = 0.92\nGBP = 1.17\n')
    data = repkpi.load(HUBSPOT, source=mapping)
    assert data.deals.set_index("deal_id").loc["270402053364", "amount"] == 2340.0


@pytest.fixture(scope="module")
def zendesk() -> repkpi.CrmData:
    return repkpi.load(ZENDESK, source="zendesk")


def test_zendesk_first_replies_are_created_plus_calendar_minutes(zendesk):
    tickets = zendesk.tickets.set_index("ticket_id")
    # 6004: 2024-04-05 16:00 +02:00 = 14:00 UTC, + 1010 min (16 h 50 min) = 04-06 06:50 UTC.
    assert tickets.loc["6004", "first_response_at"] == pd.Timestamp("2024-04-06 06:50", tz="UTC")
    assert pd.isna(tickets.loc["6010", "first_response_at"])  # not answered yet
    assert len(zendesk.tickets) == 10
    assert "first_response_at: Created at + First reply time in minutes" in (
        zendesk.summary().set_index("table").loc["tickets", "source"])
    # The business-hours minutes are not read: an extra column, as exported.
    assert tickets.loc["6004", "First reply time in minutes within business hours"] == "120"


@pytest.mark.parametrize(("kpi", "expected"), [
    ("first_response_sla", (0.625, 5, 8)),
    ("sla_compliance", (0.875, 7, 8)),
])
def test_zendesk_service_ratios_by_hand(zendesk, kpi, expected):
    result = getattr(kpis, kpi)(zendesk, start="2024Q2", end="2024Q2")
    assert _value(result, "2024Q2") == pytest.approx(expected)


def test_zendesk_first_response_median_by_hand(zendesk):
    result = kpis.first_response_hours(zendesk, start="2024Q2", end="2024Q2")
    assert _value(result, "2024Q2")[0] == pytest.approx(4.0)


def test_a_reply_time_that_is_no_number_is_a_bad_cell(tmp_path):
    folder = Path(shutil.copytree(ZENDESK, tmp_path / "zendesk"))
    tickets = folder / "tickets.csv"
    text = tickets.read_text(encoding="utf-8")
    assert text.count(",240,210,") == 1  # ticket 6003, row 3
    tickets.write_text(text.replace(",240,210,", ",four hours,210,"), encoding="utf-8")
    data = repkpi.load(folder, source="zendesk", errors="quarantine")
    bad = data.rejects[data.rejects["table"] == "tickets"]
    assert bad[["row", "column"]].to_numpy().tolist() == [[3, "first_response_at"]]
    assert bad["value"].iloc[0] == (
        "First reply time in minutes = four hours: not a number of minutes")
    assert len(data.tickets) + len(bad) == 10


@pytest.mark.parametrize(("durations", "message"), [
    ('priority = { after = "opened_at", column = "x", unit = "minutes" }',
     "only a timestamp column of the table"),
    ('first_response_at = { after = "opened_at", column = "x", unit = "minutes", by = 1 }',
     "needs exactly 'after'"),
    ('first_response_at = { after = "nowhere", column = "x", unit = "minutes" }',
     "after = 'nowhere' is no timestamp column"),
    ('first_response_at = { after = "opened_at", column = "x", unit = "days" }',
     "unit = 'days'; the units are minutes, hours, hh:mm:ss"),
])
def test_a_bad_durations_rule_is_refused(tmp_path, durations, message):
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(f'base = "zendesk"\n[tables.tickets.durations]\n{durations}\n')
    with pytest.raises(DataFileError, match=message):
        read_mapping(mapping)


def test_a_rule_in_hours_reads_decimal_hours(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "tickets.csv").write_text(
        "Id,Opened,Reply hours\nT1,2024-05-02T08:00:00Z,1.5\nT2,2024-05-03T08:00:00Z,\n")
    mapping = tmp_path / "mapping.toml"
    mapping.write_text('[tables.tickets]\nfile = "tickets.csv"\n[tables.tickets.columns]\n'
                       'ticket_id = "Id"\nopened_at = "Opened"\n[tables.tickets.durations]\n'
                       'first_response_at = { after = "opened_at", column = "Reply hours", '
                       'unit = "hours" }\n')
    replies = repkpi.load(folder, source=mapping).tickets["first_response_at"]
    # 08:00 + 1.5 h = 09:30; T2 not answered.
    assert replies.iloc[0] == pd.Timestamp("2024-05-02 09:30", tz="UTC")
    assert pd.isna(replies.iloc[1])


def test_an_export_without_reply_minutes_reads_no_first_reply():
    # zendesk_split's parts have no "First reply time in minutes": nothing is invented.
    folder = FIXTURES / "zendesk_split"
    data = repkpi.load(folder, source=folder / "mapping.toml")
    assert data.tickets["first_response_at"].isna().all()
    assert "first_response_at:" not in data.summary().set_index("table").loc["tickets", "source"]


def test_a_reply_timestamp_column_wins_over_the_minutes(tmp_path):
    folder = Path(shutil.copytree(ZENDESK, tmp_path / "zendesk"))
    export = pd.read_csv(folder / "tickets.csv", dtype=str, keep_default_na=False)
    export.insert(15, "First reply at", "")
    export.loc[export["Id"] == "6001", "First reply at"] = "2024-04-02 09:05:00 +0200"
    export.to_csv(folder / "tickets.csv", index=False)
    mapping = tmp_path / "mapping.toml"
    mapping.write_text('base = "zendesk"\n[tables.tickets.columns]\n'
                       'first_response_at = "First reply at"\n')
    replies = repkpi.load(folder, source=mapping).tickets.set_index("ticket_id")[
        "first_response_at"]
    # 09:05 +02:00 = 07:05 UTC (not 07:45 from the 45 minutes); the others are empty there.
    assert replies["6001"] == pd.Timestamp("2024-04-02 07:05", tz="UTC")
    assert replies.drop("6001").isna().all()
