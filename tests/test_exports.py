"""Real export shapes through the presets: stages, catch-alls, dates, time zones, currencies.

The fixtures' canonical twins are checked in tests/test_presets.py; here the
rules that decide what a cell means, and KPIs on the fixtures, with numbers
worked out by hand from the export rows.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

import repkpi
from repkpi import kpis
from repkpi.cli import main

FIXTURES = Path(__file__).parent / "fixtures"


def _load(folder: str, **options) -> repkpi.CrmData:
    return repkpi.load(FIXTURES / folder, source=FIXTURES / folder / "mapping.toml", **options)


def _copy(folder: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURES / folder, tmp_path / folder))


def _ratio(result: pd.DataFrame, period: str) -> tuple[float, float]:
    row = result.loc[result["period"].astype(str) == period].iloc[0]
    return row["numerator"], row["denominator"]


# win_rate in 2024Q1 = won / (won + lost) among deals closed in the quarter. Each fixture
# has an open deal whose expected close date falls in 2024Q1: it counts in neither.
@pytest.mark.parametrize(("folder", "won", "closed"), [
    # Y1a won 2024-02-15, Y1b won 2024-03-20 (its stage "Closed - Signed" is the org's
    # own: IsWon decides), Y1c lost 2024-03-05; Y1d open ("Verbal Commit"), expected 03-29.
    ("salesforce_api", 2, 3),
    # ...01 won 02-20, ...02 lost 03-01, ...03 won 03-28 ("Renewed", second pipeline),
    # ...04 lost 02-10 ("Churned"); ...05 open ("Contract Sent"), expected 03-31.
    ("hubspot_labels", 2, 4),
    # ...01 won 01-30, ...02 lost 02-14, ...03 won 03-12 (stage id 422982643);
    # ...04 open (stage id 422982642), expected 03-30.
    ("hubspot_pipelines", 2, 3),
])
def test_win_rate_counts_closed_deals_only(folder, won, closed):
    result = kpis.win_rate(_load(folder), start="2024Q1", end="2024Q1")
    assert _ratio(result, "2024Q1") == (won, closed)


def test_revenue_is_converted_with_the_rates():
    # Won in 2024Q1: 50 000 USD x 1 + 10 000 EUR x 1.1 = 61 000.
    data = _load("salesforce_api")
    won = data.deals[data.deals["stage"] == "won"]
    assert won["amount"].sum() == pytest.approx(61_000)


def test_csat_counts_good_and_bad_only():
    # Responses: 5001 Good (solved 2024-03-04), 5003 Bad (2024-04-02), 5005 Good (2024-10-28).
    # 5002 Offered, 5004 Not Offered and 5006 (empty) are no response.
    result = kpis.csat(_load("zendesk_split"), start="2024Q1", end="2024Q4")
    assert [_ratio(result, p) for p in ("2024Q1", "2024Q2", "2024Q3", "2024Q4")] == [
        (1, 1), (0, 1), (0, 0), (1, 1)]


def test_the_summary_lists_what_rules_read():
    data = _load("hubspot_labels")
    deals = data.summary().set_index("table").loc["deals", "source"]
    assert "Inbound: 2 rows read as direct" in deals
    assert "Direct: 2 rows read as direct" in deals
    assert "stage from Is Closed Won and Is Deal Closed?" in deals
    surveys = _load("zendesk_split").summary().set_index("table").loc["surveys"]
    assert surveys["rows"] == 3
    assert ("3 rows set aside by Satisfaction Score (Not Offered: 1 row, Offered: 1 row, "
            "empty: 1 row)") in surveys["source"]


def test_values_match_in_any_case():
    deals = _load("hubspot_labels").deals.set_index("deal_id")
    assert deals.loc["30100000005", "channel"] == "partner"  # written "partner"
    tickets = _load("zendesk_split").tickets.set_index("ticket_id")
    assert tickets.loc["5003", "priority"] == "urgent"  # written "urgent"
    assert tickets.loc["5005", "kind"] == "question"  # written "question"


def test_an_unknown_stage_names_the_value_and_the_line_to_add(tmp_path):
    folder = _copy("hubspot_pipelines", tmp_path)
    deals = folder / "deals.csv"
    deals.write_text(deals.read_text().replace(",422982642,", ",422982699,"))
    data = repkpi.load(folder, source=folder / "mapping.toml", errors="quarantine")
    bad = data.rejects[data.rejects["table"] == "deals"]
    assert bad[["row", "column"]].to_numpy().tolist() == [[4, "stage"]]
    assert bad["value"].iloc[0] == (
        '422982699 is not in the mapping mapping: add the line "422982699" = "open" or "won" '
        'or "lost" under [tables.deals.values.stage]')
    with pytest.raises(repkpi.DataValidationError, match="422982699"):
        repkpi.load(folder, source=folder / "mapping.toml")


def test_flags_that_say_nothing_leave_the_stage_to_its_column(tmp_path):
    folder = _copy("hubspot_labels", tmp_path)
    deals = folder / "deals.csv"
    # Deal ...06: flags emptied; its stage "Renewal due" is no stage of the preset.
    # Deal ...05: flags emptied; "Contract Sent" is open in the preset.
    text = deals.read_text()
    text = text.replace("Renewal,Inbound,false,false", "Renewal,Inbound,,")
    text = text.replace("partner,false,false", "partner,,")
    deals.write_text(text)
    data = repkpi.load(folder, source=folder / "mapping.toml", errors="quarantine")
    assert data.deals.set_index("deal_id").loc["30100000005", "stage"] == "open"
    assert data.rejects[["row", "column"]].to_numpy().tolist() == [[6, "stage"]]
    assert data.rejects["value"].iloc[0].startswith("Renewal due is not in the mapping mapping")


def _opportunities(tmp_path: Path, mapping: str, rows: str,
                   header: str = "Opportunity ID,Account ID,Stage,Amount Currency,Amount,"
                                 "Created Date,Close Date,Type,Lead Source") -> Path:
    folder = tmp_path / "sf"
    folder.mkdir()
    (folder / "opportunities.csv").write_text(f"{header}\n{rows}")
    (tmp_path / "m.toml").write_text(mapping)
    return tmp_path / "m.toml"


def test_salesforce_report_amount_currency(tmp_path):
    mapping = _opportunities(
        tmp_path, 'base = "salesforce"\n[fx]\nUSD = 1\nJPY = 0.0067\n',
        'O1,A1,Closed Won,JPY,"10,000",1/5/2024,2/1/2024,New Business,Web\n'
        'O2,A1,Closed Won,USD,"$1,500.00",1/6/2024,2/2/2024,New Business,Web\n')
    deals = repkpi.load(tmp_path / "sf", source=mapping).deals.set_index("deal_id")
    # 10 000 JPY x 0.0067 = 67; 1 500 USD x 1.
    assert deals["amount"].to_dict() == {"O1": pytest.approx(67.0), "O2": 1500.0}


def test_salesforce_report_in_several_currencies_needs_rates(tmp_path):
    mapping = _opportunities(tmp_path, 'base = "salesforce"\n',
                             "O1,A1,Closed Won,JPY,100,1/5/2024,2/1/2024,New Business,Web\n"
                             "O2,A1,Closed Won,USD,100,1/6/2024,2/2/2024,New Business,Web\n")
    with pytest.raises(repkpi.DataFileError, match=r"several currencies \(JPY, USD\)"):
        repkpi.load(tmp_path / "sf", source=mapping)


def test_a_date_format_per_column_and_iso_timestamps_in_date_columns(tmp_path):
    mapping = _opportunities(
        tmp_path,
        'base = "salesforce"\n[tables.deals.formats]\nclosed_on = "%d.%m.%Y"\n',
        "O1,A1,Closed Won,,1,2024-01-05T23:30:00.000Z,01.02.2024,New Business,Web\n"
        "O2,A1,Closed Won,,1,2024-01-06T00:30:00.000+0200,02.02.2024,New Business,Web\n"
        "O3,A1,Closed Won,,1,1/7/2024,03.02.2024,New Business,Web\n"
        "O4,A1,Closed Won,,1,1/8/2024,2/4/2024,New Business,Web\n")
    data = repkpi.load(tmp_path / "sf", source=mapping, errors="quarantine")
    deals = data.deals.set_index("deal_id")
    # A timestamp with an offset is its UTC day: 00:30 at +02:00 is 22:30 UTC the day before;
    # a date without time is read with the preset's US format.
    assert deals["created_on"].to_dict() == {
        "O1": pd.Timestamp("2024-01-05"), "O2": pd.Timestamp("2024-01-05"),
        "O3": pd.Timestamp("2024-01-07")}
    assert deals["closed_on"].to_dict() == {
        "O1": pd.Timestamp("2024-02-01"), "O2": pd.Timestamp("2024-02-02"),
        "O3": pd.Timestamp("2024-02-03")}
    # O4: its close date is written the US way, not as the column's format says.
    assert data.rejects[["row", "column", "value"]].to_numpy().tolist() == [
        [4, "closed_on", "2/4/2024"]]


def test_a_local_time_the_clock_skips_is_reported(tmp_path):
    folder = _copy("zendesk_split", tmp_path)
    part = folder / "tickets" / "part-0002.csv"
    # 2024-03-31 02:30 does not exist in Berlin (clocks go from 02:00 to 03:00).
    part.write_text(part.read_text().replace("2024-04-05 10:00:00", "2024-03-31 02:30:00"))
    data = repkpi.load(folder, source=folder / "mapping.toml", errors="quarantine")
    bad = data.rejects[data.rejects["table"] == "tickets"]
    # Row 4: the first row of the second part (rows are numbered on across the parts).
    assert bad[["row", "column", "value"]].to_numpy().tolist() == [
        [4, "opened_at", "2024-03-31 02:30:00 (no such time in Europe/Berlin)"]]


def test_part_files_with_different_headers_are_an_error(tmp_path):
    folder = _copy("zendesk_split", tmp_path)
    part = folder / "tickets" / "part-0002.csv"
    part.write_text(part.read_text().replace("Organization,", "Org,"))
    with pytest.raises(repkpi.DataFileError, match="part-0002.csv: its header differs"):
        repkpi.load(folder, source=folder / "mapping.toml")


@pytest.mark.parametrize(("text", "message"), [
    ('[tables.deals]\nfile = "d.csv"\n[tables.deals.values.stage]\n"*" = "open"\n',
     r'a catch-all \("\*"\) for the stage is refused'),
    ('base = "hubspot"\n[tables.deals.values.stage]\n"*" = "open"\n',
     r'a catch-all \("\*"\) for the stage is refused'),
    ('[options]\ndecimal = ","\nthousands = ","\n[tables.deals]\nfile = "d.csv"\n',
     "the decimal and thousands separators are both ','"),
    ('base = "pipedrive"\n', "base = 'pipedrive' is no preset"),
    ('base = "hubspot"\n[options]\ntimezone = "Eastern"\n', "'Eastern' is no IANA time zone"),
    ('[tables.deals]\nfile = "d.csv"\n[tables.deals.values.channel]\n"Partner" = "partner"\n'
     '"PARTNER" = "direct"\n', "maps 'partner' \\(in any case\\) to both"),
    ('[tables.deals]\nfile = "d.csv"\n[tables.deals.formats]\namount = "%d"\n',
     "hold no dates or times"),
    ('[tables.tickets]\nfile = "t.csv"\n[tables.tickets.stage_flags]\nwon = "W"\nclosed = "C"\n',
     "stage_flags belongs to deals"),
])
def test_bad_mapping_files_are_refused_and_exit_2(tmp_path, text, message):
    (tmp_path / "m.toml").write_text(text)
    with pytest.raises(repkpi.DataFileError, match=message):
        repkpi.load(tmp_path, source=tmp_path / "m.toml")
    assert main(["validate", str(tmp_path), "--source", str(tmp_path / "m.toml")]) == 2


def test_a_mapping_overrides_only_what_differs():
    from repkpi.io.mapping import read_mapping

    preset = read_mapping("hubspot").tables["deals"]
    own = read_mapping(FIXTURES / "hubspot_pipelines" / "mapping.toml").tables["deals"]
    assert own.columns["channel"] == ("Acquisition Channel",)
    assert own.translations["stage"] == {**preset.translations["stage"], "422982642": "open",
                                         "422982643": "won", "422982644": "lost"}
    assert {k: v for k, v in own.columns.items() if k != "channel"} == {
        k: v for k, v in preset.columns.items() if k != "channel"}
