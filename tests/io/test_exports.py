"""Real export shapes through the presets: stages, catch-alls, dates, time zones, currencies.

The fixtures' canonical twins are checked in tests/io/test_presets.py; here the
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
# has an open deal whose expected close date falls in 2024Q1: it counts in neither. A
# prospect's lost deal and a lost deal with no deal type count like any other.
@pytest.mark.parametrize(("folder", "won", "closed"), [
    # Y1a won 2024-02-15, Y1b won 2024-03-20 (its stage "Closed - Signed" is the org's
    # own: IsWon decides), Y1c lost 2024-03-05, Y1f lost 2024-02-22 (Tern Robotics, a
    # prospect: no Customer_Since__c); Y1d open ("Verbal Commit"), expected 03-29, and
    # Y1g open ("Qualification", no Amount, Type or LeadSource), expected 03-15.
    # won = 2 (Y1a, Y1b); closed = 2 + 2 lost (Y1c, Y1f) = 4.
    ("salesforce_api", 2, 4),
    # ...01 won 02-20, ...02 lost 03-01, ...03 won 03-28 ("Renewed", second pipeline),
    # ...04 lost 02-10 ("Churned"), ...07 lost 03-14 (no Deal Type); ...05 open
    # ("Contract Sent"), expected 03-31, ...08 open (no Amount), expected 03-22.
    # won = 2 (...01, ...03); closed = 2 + 3 lost (...02, ...04, ...07) = 5.
    ("hubspot_labels", 2, 5),
    # ...01 won 01-30, ...02 lost 02-14, ...03 won 03-12 (stage id 422982643),
    # ...06 lost 03-08 (no Deal Type); ...04 open (stage id 422982642), expected 03-30,
    # ...07 open (no Amount), expected 03-27.
    # won = 2 (...01, ...03); closed = 2 + 2 lost (...02, ...06) = 4.
    ("hubspot_pipelines", 2, 4),
])
def test_win_rate_counts_closed_deals_only(folder, won, closed):
    result = kpis.win_rate(_load(folder), start="2024Q1", end="2024Q1")
    assert _ratio(result, "2024Q1") == (won, closed)


def _preset(folder: str, **options) -> repkpi.CrmData:
    """A fixture read with its preset (salesforce/, hubspot/) or its own mapping file."""
    mapping = FIXTURES / folder / "mapping.toml"
    return repkpi.load(FIXTURES / folder, source=mapping if mapping.exists() else folder,
                       **options)


@pytest.mark.parametrize(("folder", "won", "closed"), [
    # Closed in 2024Q1: 20200000002 won 01-05, 20200000001 won 02-28, 20200000008 lost
    # 03-19 (Juniper Labs, lifecycle stage Lead, no Became a Customer Date: a prospect).
    # 20200000009 (Juniper, open, no Amount or Deal Type) expected 03-29: in neither.
    # won = 2; closed = 2 + 1 = 3.
    ("hubspot", 2, 3),
    # Closed in 2024Q1: ...AaIAJ won 1/15, ...AdIAJ won 03/04, ...AbIAJ won 3/28,
    # ...AiIAJ lost 2/14 (Gull Point Marine, Type Prospect, no Customer Since). ...AcIAJ
    # lost 4/2 is Q2, ...AgIAJ lost 12/29/2023 is Q4; ...AjIAJ (Gull Point, open, no Amount)
    # expected 3/22: in neither. won = 3; closed = 3 + 1 = 4.
    ("salesforce", 3, 4),
    # Closed in 2024Q1: D-102 won 28/02, D-103 lost 12/03, D-107 lost 20/02 (O-5, no
    # "Client since": a prospect). D-101 won 03/04 is Q2; D-108 (O-5, open, no Value)
    # has no date. won = 1; closed = 1 + 2 = 3.
    ("custom", 1, 3),
])
def test_a_prospects_lost_deal_counts_in_the_win_rate(folder, won, closed):
    result = kpis.win_rate(_preset(folder), start="2024Q1", end="2024Q1")
    assert _ratio(result, "2024Q1") == (won, closed)


@pytest.mark.parametrize(("folder", "customers", "new"), [
    # Harbor Mills (since 2022-05-01), Nordic Pulp (2023-09-15), Quill & Ink (2023-02-01)
    # are active on 2024-03-31, none new in 2024Q1; Tern Robotics is a prospect: in neither.
    ("salesforce_api", 3, 0),
    # 15100000001 (2023-02-14), ...02 (2023-08-01, churns 2024-05-31), ...03 (2024-01-09),
    # ...04 (2022-06-30), ...05 (2024-03-01) active on 2024-03-31: 5; new in 2024Q1:
    # ...03 and ...05 = 2. ...06 (Juniper Labs, a Lead) is a prospect: in neither.
    ("hubspot", 5, 2),
    # Acme (2021-01-15), Blue Harbor (2022-06-03, churns 2024-09-30), Cedar & Pine
    # (2023-11-20), Delta Forge (2024-03-04), Fjord (2023-07-15): 5; Evergreen churned
    # 2024-01-01. New in 2024Q1: Delta Forge = 1. Gull Point Marine: a prospect.
    ("salesforce", 5, 1),
    # O-2 (2022-06-15), O-4 (2023-02-12): 2; O-1 starts 2024-04-03, O-3 churned
    # 2023-12-31. New in 2024Q1: none. O-5 (no "Client since"): a prospect.
    ("custom", 2, 0),
])
def test_a_prospect_is_no_customer(folder, customers, new):
    data = _preset(folder)
    active = kpis.active_customers(data, start="2024Q1", end="2024Q1")
    assert _ratio(active, "2024Q1") == (customers, 1)
    assert _ratio(kpis.new_customers(data, start="2024Q1", end="2024Q1"), "2024Q1") == (new, 1)


@pytest.mark.parametrize(("folder", "revenue", "cross_sell"), [
    # Won in 2024Q1: Y1a 50 000 USD + Y1b 10 000 EUR x 1.1 = 61 000 (Y1g, open with no
    # Amount, adds nothing). Cross-sell and upsell deals closed in 2024Q1: Y1a
    # ("Existing Business" -> cross_sell) won; Y1g has no Type and is open: (1, 1).
    ("salesforce_api", 61_000, (1, 1)),
    # Won in 2024Q1: ...01 24 000 + ...03 12 000 = 36 000. Cross-sell/upsell closed:
    # ...02 ("Existing Business") lost; ...07 (no Deal Type, lost) counts in the win
    # rate only: (0, 1).
    ("hubspot_labels", 36_000, (0, 1)),
    # Won in 2024Q1: ...01 15 000 + ...03 9 900 = 24 900. Cross-sell/upsell closed:
    # ...02 (existingbusiness) lost; ...06 (no Deal Type, lost) is in neither: (0, 1).
    ("hubspot_pipelines", 24_900, (0, 1)),
])
def test_deals_without_amount_or_type(folder, revenue, cross_sell):
    data = _load(folder)
    assert _ratio(kpis.revenue(data, start="2024Q1", end="2024Q1"), "2024Q1") == (
        pytest.approx(revenue), 1)
    assert _ratio(kpis.cross_sell_rate(data, start="2024Q1", end="2024Q1"), "2024Q1") == cross_sell


def _groups(result: pd.DataFrame, column: str) -> dict:
    """{group: (numerator, denominator)}, the empty group as None."""
    return {(None if pd.isna(group) else group): (num, den)
            for group, num, den in result[[column, "numerator", "denominator"]].itertuples(
                index=False)}


def test_empty_deal_type_and_segment_are_their_own_group_in_the_win_rate():
    # hubspot_labels, closed in 2024Q1: new_business ...01 won; cross_sell ...02 lost;
    # renewal ...03 won, ...04 lost; no Deal Type: ...07 lost. ...08 (no type) is open.
    labels = kpis.win_rate(_load("hubspot_labels"), by="deal_type", start="2024Q1",
                           end="2024Q1")
    assert _groups(labels, "deal_type") == {"new_business": (1, 1), "cross_sell": (0, 1),
                                            "renewal": (1, 2), None: (0, 1)}
    # salesforce_api, closed in 2024Q1, by the account's segment: Y1a (Harbor, enterprise)
    # won; Y1b (Nordic, smb) won; Y1c (Quill, mid_market) lost; Y1f (Tern, a prospect
    # with no segment) lost.
    api = kpis.win_rate(_load("salesforce_api"), by="segment", start="2024Q1", end="2024Q1")
    assert _groups(api, "segment") == {"enterprise": (1, 1), "smb": (1, 1),
                                       "mid_market": (0, 1), None: (0, 1)}


def test_revenue_is_converted_with_the_rates():
    # Won in 2024Q1: 50 000 USD x 1 + 10 000 EUR x 1.1 = 61 000.
    data = _load("salesforce_api")
    won = data.deals[data.deals["stage"] == "won"]
    assert won["amount"].sum() == pytest.approx(61_000)


def test_csat_counts_good_and_bad_only():
    # Responses: 5001 Good (solved 2024-03-04), 5003 Bad (2024-04-02), 5008 Good (2024-06-24,
    # a ticket with no priority), 5005 Good (2024-10-28). 5002 Offered, 5004 Not Offered,
    # 5006 (empty) and 5007 Offered (no organization) are no response.
    # Q1: 5001 -> (1, 1); Q2: 5003 bad, 5008 good -> (1, 2); Q3: none; Q4: 5005 -> (1, 1).
    result = kpis.csat(_load("zendesk_split"), start="2024Q1", end="2024Q4")
    assert [_ratio(result, p) for p in ("2024Q1", "2024Q2", "2024Q3", "2024Q4")] == [
        (1, 1), (1, 2), (0, 0), (1, 1)]


def test_the_summary_lists_what_rules_read():
    data = _load("hubspot_labels")
    deals = data.summary().set_index("table").loc["deals", "source"]
    # Inbound: ...04, ...06; Direct: ...02, ...03. ...08 has no Sales Channel: the
    # catch-all reads values, not empty cells, so it stays empty (its own NA group).
    assert "Inbound: 2 rows read as direct" in deals
    assert "Direct: 2 rows read as direct" in deals
    assert "stage from Is Closed Won and Is Deal Closed?" in deals
    channels = _load("hubspot_labels").deals.set_index("deal_id")["channel"]
    assert channels.isna().to_dict() == {f"3010000000{i}": i == 8 for i in range(1, 9)}
    # direct: ...02, ...03, ...04, ...06 = 4; partner: ...01, ...05, ...07 = 3.
    assert channels.value_counts().to_dict() == {"direct": 4, "partner": 3}
    surveys = _load("zendesk_split").summary().set_index("table").loc["surveys"]
    # 8 tickets, 4 rated (5001, 5003, 5005, 5008); set aside: 5002 and 5007 Offered,
    # 5004 Not Offered, 5006 empty.
    assert surveys["rows"] == 4
    assert ("4 rows set aside by Satisfaction Score (Not Offered: 1 row, Offered: 2 rows, "
            "empty: 1 row)") in surveys["source"]


# Data rows of each export file (header excluded), per table; zendesk_split's surveys are
# its 8 tickets less the 4 set aside as no response.
ROWS = {
    "salesforce_api": {"accounts": 4, "deals": 7},
    "hubspot_labels": {"deals": 8, "tickets": 4},
    "hubspot_pipelines": {"deals": 7},
    "zendesk_split": {"tickets": 3 + 4 + 1, "surveys": 4},
    "hubspot": {"accounts": 6, "deals": 9, "tickets": 6},
    "salesforce": {"accounts": 7, "deals": 10},
    "custom": {"accounts": 5, "deals": 8},
}


@pytest.mark.parametrize("errors", ["strict", "quarantine"])
@pytest.mark.parametrize("folder", sorted(ROWS))
def test_every_row_is_loaded_or_rejected(folder, errors):
    # Prospects, blank amounts, deal types and channels, tickets without an organization
    # or a priority are valid rows: all loaded, none rejected.
    data = _preset(folder, errors=errors)
    summary = data.summary().set_index("table")
    assert summary["rows"].to_dict() == ROWS[folder]
    assert (summary["loaded"] + summary["rejected"]).to_dict() == ROWS[folder]
    assert summary["rejected"].sum() == 0
    assert len(data.rejects) == 0


def test_tickets_without_organization_or_priority():
    data = _load("zendesk_split")
    tickets = data.tickets.set_index("ticket_id")
    assert pd.isna(tickets.loc["5007", "account_id"])  # no Organization
    assert pd.isna(tickets.loc["5008", "priority"])  # no Priority
    # Opened in 2024Q2 (UTC; Berlin is +02:00 in summer):
    #   5004 normal, 2024-04-05 08:00, unresolved: deadline 04-08 08:00 < as_of -> breached;
    #   5007 normal, no organization, 06-10 12:00 -> 06-11 07:30 = 19.5 h <= 72 -> met;
    #   5008 no priority, 06-20 08:00 -> 06-24 10:00 = 98 h: no target, in neither.
    # met = 1, met + breached = 2.
    sla = kpis.sla_compliance(data, start="2024Q2", end="2024Q2")
    assert _ratio(sla, "2024Q2") == (1, 2)
    # Resolved tickets opened in 2024Q2: 5007 19.5 h, 5008 98 h -> median (19.5 + 98) / 2.
    hours = kpis.resolution_hours(data, start="2024Q2", end="2024Q2")
    assert hours.loc[hours["period"].astype(str) == "2024Q2", "value"].iloc[0] == (
        pytest.approx(58.75))
    # By account: Solaris Retail has 5004 (breached) and 5008 (no priority): (0, 1);
    # 5007 forms the NA group: (1, 1).
    by = kpis.sla_compliance(data, by="account_id", start="2024Q2", end="2024Q2")
    groups = _groups(by, "account_id")
    assert groups["Solaris Retail"] == (0, 1)
    assert groups[None] == (1, 1)


def test_a_hubspot_ticket_without_company_or_priority():
    data = _load("hubspot_labels")
    # Opened in 2024Q3 (UTC; New York is -04:00 in summer):
    #   30300000102 urgent, 07-02 02:15 -> 14:00 = 11.75 h > 4 -> breached; first reply
    #     02:40 = 25 min;
    #   30300000104 no priority, no company, 08-12 13:00 -> 15:30 = 2.5 h: no target, in
    #     neither; first reply 13:20 = 20 min.
    sla = kpis.sla_compliance(data, start="2024Q3", end="2024Q3")
    assert _ratio(sla, "2024Q3") == (0, 1)
    hours = kpis.resolution_hours(data, start="2024Q3", end="2024Q3")
    # median (11.75 + 2.5) / 2 = 7.125
    assert hours["value"].iloc[0] == pytest.approx(7.125)
    first = kpis.first_response_hours(data, start="2024Q3", end="2024Q3")
    # median (25 + 20) / 2 min = 22.5 min = 0.375 h
    assert first["value"].iloc[0] == pytest.approx(0.375)


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
    # Row 1 of part-0002.csv: rows are numbered within their part file (data-model.md).
    assert bad[["row", "column", "value"]].to_numpy().tolist() == [
        [1, "opened_at", "2024-03-31 02:30:00 (no such time in Europe/Berlin)"]]
    assert bad["file"].tolist() == [str(part)]


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
    ('base = "copper"\n', "base = 'copper' is no preset"),  # pipedrive is a preset now
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
