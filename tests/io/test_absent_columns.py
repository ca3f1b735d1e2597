"""Columns an export does not have (data-model.md): ``data.absent``, and the KPIs that refuse.

An optional column absent from a file (or not mapped) loads as an empty
column and is listed in ``data.absent``; a column present but empty on some
rows is not absent. A KPI whose declaration needs an absent column, a ``by``
on one (or on the id that leads to it) and ``kinds=`` without ``kind``
refuse with :class:`repkpi.AbsentColumnError`, naming the column and where
it could come from; ``compute`` skips such a KPI with the reason, and the
report scores its goal "no data" with that reason.
"""

from __future__ import annotations

import csv
import functools
import re
from pathlib import Path

import pandas as pd
import pytest

import repkpi
from repkpi import kpis
from repkpi.datasets import doctest_data
from repkpi.kpis import KPIS

FIXTURES = Path(__file__).parent / "fixtures"

# Every table with every column, one or two rows each (text, as an export gives it).
FULL = {
    "accounts": {"account_id": ["A1", "A2"], "account_name": ["Acme", "Borealis"],
                 "rep_id": ["R1", "R1"], "region": ["north", "south"], "segment": ["smb", "smb"],
                 "customer_since": ["2024-01-10", "2024-02-01"],
                 "churned_on": [None, "2024-03-01"]},
    "contracts": {"contract_id": ["C1", "C2"], "account_id": ["A1", "A1"],
                  "start_date": ["2023-01-01", "2024-01-01"],
                  "end_date": ["2023-12-31", "2024-12-31"], "annual_value": ["100", "120"],
                  "renewal_of": [None, "C1"]},
    "deals": {"deal_id": ["D1"], "account_id": ["A1"], "rep_id": ["R1"],
              "created_on": ["2024-01-05"], "closed_on": ["2024-02-01"], "stage": ["won"],
              "amount": ["1000"], "deal_type": ["upsell"], "channel": ["direct"]},
    "tickets": {"ticket_id": ["T1"], "account_id": ["A1"], "rep_id": ["R1"],
                "opened_at": ["2024-02-01T10:00:00Z"], "first_response_at": ["2024-02-01T11:00:00Z"],
                "resolved_at": ["2024-02-02T10:00:00Z"], "priority": ["high"],
                "kind": ["question"]},
    "surveys": {"response_id": ["S1"], "account_id": ["A1"], "rep_id": ["R1"],
                "responded_at": ["2024-02-05T10:00:00Z"], "csat": ["5"], "nps": ["9"]},
    "activities": {"activity_id": ["X1"], "account_id": ["A1"], "occurred_on": ["2024-02-10"],
                   "kind": ["webinar"]},
    "market": {"period": ["2024Q1"], "region": ["north"], "company": ["Rival"],
               "revenue": ["5000"]},
    "reps": {"rep_id": ["R1"], "name": ["Ana"], "team": ["east"], "region": ["north"],
             "hired_on": ["2019-01-01"], "left_on": [None]},
}
NEEDS = [(name, need) for name, spec in KPIS.items() for need in spec.needs]


def crm(*, without: tuple[str, str] | None = None, empty: tuple[str, str] | None = None,
        **options) -> repkpi.CrmData:
    """FULL as CrmData, the column ``without`` left out, or ``empty`` present with no value."""
    frames = {t: pd.DataFrame(columns) for t, columns in FULL.items()}
    if without is not None:
        frames[without[0]] = frames[without[0]].drop(columns=without[1])
    if empty is not None:
        frames[empty[0]][empty[1]] = None
    return repkpi.CrmData(**frames, **options)


def test_every_kpi_that_reads_an_optional_column_declares_it():
    # From kpis.md's definitions: the column each KPI measures or weighs.
    expected = {
        "revenue": ("deals.closed_on", "deals.amount"),
        "large_deals": ("deals.closed_on", "deals.amount"),
        "average_deal_size": ("deals.closed_on", "deals.amount"),
        "win_rate": ("deals.closed_on",),
        "cross_sell_rate": ("deals.closed_on", "deals.deal_type"),
        "cross_sell_wins": ("deals.closed_on", "deals.deal_type"),
        "key_accounts": ("accounts.customer_since", "accounts.churned_on", "deals.closed_on",
                         "deals.amount"),
        "market_share": ("deals.closed_on", "deals.amount"),
        "new_customers": ("accounts.customer_since",),
        # End dates: empty is "not ended" for that row; absent is "cannot tell who left".
        "churn_rate": ("accounts.customer_since", "accounts.churned_on"),
        "retention_rate": ("accounts.customer_since", "accounts.churned_on"),
        "active_customers": ("accounts.customer_since", "accounts.churned_on"),
        "engagement_rate": ("accounts.customer_since", "accounts.churned_on"),
        "net_revenue_retention": ("contracts.end_date",),
        "gross_revenue_retention": ("contracts.end_date",),
        "senior_reps": ("reps.left_on",),
        "renewal_rate": ("contracts.end_date", "contracts.renewal_of"),
        "sla_compliance": ("tickets.resolved_at", "tickets.priority"),
        "first_response_sla": ("tickets.first_response_at", "tickets.priority"),
        "first_response_hours": ("tickets.first_response_at",),
        "resolution_hours": ("tickets.resolved_at",),
        "csat": ("surveys.csat",), "csat_mean": ("surveys.csat",), "nps": ("surveys.nps",),
    }
    for name, needs in expected.items():
        assert KPIS[name].needs == needs, name
    # Needs name real optional columns.
    from repkpi.schemas import COLUMNS
    optional = {f"{t}.{c.name}" for t, cols in COLUMNS.items() for c in cols if not c.required}
    assert {need for _, need in NEEDS} <= optional


def test_the_full_data_has_nothing_absent_and_every_kpi_runs():
    data = crm()
    assert data.absent == {}
    for name, _ in NEEDS:
        assert len(KPIS[name](data)) > 0, name


@functools.cache
def quarantined(*, without: tuple[str, str] | None = None,
                empty: tuple[str, str] | None = None) -> repkpi.CrmData:
    """:func:`crm` with ``errors="quarantine"``, built once per column for the KPIs that need it."""
    return crm(without=without, empty=empty, errors="quarantine")


@pytest.mark.parametrize(("name", "need"), NEEDS, ids=[f"{n}-{c}" for n, c in NEEDS])
def test_a_kpi_refuses_a_column_the_data_does_not_have(name, need):
    table, column = need.split(".")
    # Quarantine: a won deal without closed_on is a bad row (set aside), whichever the reason.
    data = quarantined(without=(table, column))
    assert column in data.absent[table]
    with pytest.raises(repkpi.AbsentColumnError,
                       match=rf"^{name} needs {table}\.{column}; the {table} table "
                             r"\(<DataFrame>\) has no such column\.\nHint: ") as info:
        KPIS[name](data)
    assert isinstance(info.value, repkpi.MissingTableError)  # handled as a missing table is
    # Present but empty on every row: the KPI computes (an empty cell is "not yet" or "unknown").
    present = quarantined(empty=(table, column))
    assert present.absent == {}
    KPIS[name](present)


def test_an_empty_amount_adds_nothing_while_an_absent_one_refuses():
    # D1, won on 2024-02-01 with no amount: revenue 2024Q1 = 0 (data-model.md: a won deal
    # without an amount adds nothing), and the win rate counts it: 1 of 1.
    data = crm(empty=("deals", "amount"))
    assert kpis.revenue(data)[["period", "value"]].astype(str).to_numpy().tolist() == [
        ["2024Q1", "0.0"]]
    absent = crm(without=("deals", "amount"))
    assert absent.absent["deals"] == ["amount"]
    assert kpis.win_rate(absent)["value"].tolist() == [1.0]
    with pytest.raises(repkpi.AbsentColumnError, match=r"revenue needs deals\.amount"):
        kpis.revenue(absent)


@pytest.mark.parametrize(
    ("name", "without", "options", "named"),
    [
        ("revenue", ("deals", "channel"), {"by": "channel"}, "revenue by 'channel' needs deals.channel"),
        ("revenue", ("accounts", "region"), {"by": "region"}, "revenue by 'region' needs accounts.region"),
        ("revenue", ("deals", "rep_id"), {"by": "team"}, "revenue by 'team' needs deals.rep_id"),
        ("sla_compliance", ("tickets", "account_id"), {"by": "segment"},
         "sla_compliance by 'segment' needs tickets.account_id"),
        ("churn_rate", ("accounts", "rep_id"), {"by": "team"},
         "churn_rate by 'team' needs accounts.rep_id"),
        ("win_rate", ("reps", "team"), {"by": "team"}, "win_rate by 'team' needs reps.team"),
        ("sla_compliance", ("tickets", "kind"), {"kinds": "complaint"},
         "sla_compliance with kinds= needs tickets.kind"),
    ],
)
def test_a_by_or_kinds_on_an_absent_column_refuses(name, without, options, named):
    data = crm(without=without)
    with pytest.raises(repkpi.AbsentColumnError, match="^" + named.replace(".", r"\.")):
        KPIS[name](data, **options)
    # The same call on the column present but empty runs: its rows form the group of NA.
    KPIS[name](crm(empty=without), **options)


def test_a_plain_folder_lists_what_its_files_lack(folder):
    # amount present but empty on D2: not absent. rep_id, deal_type and channel: absent.
    path = folder(deals="""\
        deal_id,account_id,created_on,closed_on,stage,amount
        D1,A1,2024-01-05,2024-02-01,won,1000
        D2,A1,2024-01-06,2024-02-03,won,
        D3,A2,2024-01-07,2024-03-01,lost,500
        """)
    data = repkpi.load(path)
    assert data.absent == {"deals": ["rep_id", "deal_type", "channel"]}
    assert data.deals["deal_type"].isna().all()  # loaded as an empty column
    # Revenue 2024Q1: D1 1000 + D2 nothing = 1000; win rate 2 of 3.
    assert kpis.revenue(data)["value"].tolist() == [1000.0]
    assert kpis.win_rate(data)[["numerator", "denominator"]].to_numpy().tolist() == [[2.0, 3.0]]
    file = str(path / "deals.csv")
    with pytest.raises(repkpi.AbsentColumnError) as info:
        kpis.cross_sell_rate(data)
    assert str(info.value).startswith(
        f"cross_sell_rate needs deals.deal_type; the deals table ({file}) has no such column.")


def test_compute_skips_a_kpi_that_needs_an_absent_column_with_the_reason(folder):
    path = folder(deals="""\
        deal_id,account_id,created_on,closed_on,stage
        D1,A1,2024-01-05,2024-02-01,won
        """)
    result = repkpi.compute(repkpi.load(path))
    skipped = result.attrs["skipped"]
    assert skipped["revenue"].startswith("revenue needs deals.amount; the deals table (")
    assert skipped["cross_sell_rate"].startswith("cross_sell_rate needs deals.deal_type;")
    assert "win_rate" not in skipped
    assert result.loc[result["kpi"] == "win_rate", "value"].tolist() == [1.0]
    with pytest.raises(repkpi.AbsentColumnError, match=r"^revenue needs deals\.amount"):
        repkpi.compute(repkpi.load(path), ["win_rate", "revenue"])  # asked for by name


def test_a_preset_says_where_its_export_gives_the_column(tmp_path):
    # A Zendesk ticket export without "First reply time in minutes" (as the fixture's rows,
    # that column removed): first_response_sla cannot tell, and says where it would come from.
    with (FIXTURES / "zendesk" / "tickets.csv").open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    drop = rows[0].index("First reply time in minutes")
    with (tmp_path / "tickets.csv").open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([r[:drop] + r[drop + 1:] for r in rows])
    data = repkpi.load(tmp_path, source="zendesk", errors="quarantine")
    assert "first_response_at" in data.absent["tickets"]
    with pytest.raises(repkpi.AbsentColumnError) as info:
        kpis.first_response_sla(data)
    assert str(info.value).startswith(
        "first_response_sla needs tickets.first_response_at; the zendesk export gives it as "
        "'First reply time in minutes'.")


def test_a_mapped_column_the_export_lacks_names_the_export_header(tmp_path):
    # The Pipedrive export without "Deal - Value": revenue names the header it reads.
    text = (FIXTURES / "pipedrive" / "deals.csv").read_text(encoding="utf-8")
    frame = pd.read_csv(FIXTURES / "pipedrive" / "deals.csv", dtype=str, keep_default_na=False)
    assert text.count("Deal - Value") == 1
    frame.drop(columns="Deal - Value").to_csv(tmp_path / "deals.csv", index=False)
    data = repkpi.load(tmp_path, source="pipedrive")
    assert data.absent == {"deals": ["amount", "deal_type", "channel"]}
    with pytest.raises(repkpi.AbsentColumnError, match=(
            r"^large_deals needs deals\.amount; the pipedrive export gives it as "
            r"'Deal - Value'\.")):
        kpis.large_deals(data)


def test_the_report_scores_such_a_goal_no_data_with_the_reason(tmp_path):
    # doctest_data's accounts and deals, the deals without their amount column: the
    # large_deals goal (a default goal) cannot be scored, and says why; revenue is not
    # computed, with the same kind of reason.
    from repkpi.report import write_report

    deals = doctest_data.deals().deals.drop(columns="amount")
    data = repkpi.CrmData(accounts=doctest_data.accounts().accounts, deals=deals)
    assert data.absent["deals"] == ["amount"]
    page = write_report(data, tmp_path / "out", freq="Q")
    card = pd.read_csv(page.parent / "scorecard.csv", dtype=str, keep_default_na=False)
    large = card[card["kpi"] == "large_deals"]
    assert large["status"].tolist() == ["no data"]
    assert large["reason"].tolist() == [
        "large_deals needs deals.amount; the deals table (<DataFrame>) has no such column."]
    html = page.read_text(encoding="utf-8")
    assert "no data <span class=\"muted\">(large_deals needs deals.amount; " in html
    assert "<li>revenue: revenue needs deals.amount; the deals table (&lt;DataFrame&gt;)" in html


def test_dask_lists_the_absent_columns_and_refuses_alike(folder):
    pytest.importorskip("dask.dataframe")
    path = folder(deals="""\
        deal_id,account_id,created_on,closed_on,stage,deal_type
        D1,A1,2024-01-05,2024-02-01,won,upsell
        D2,A1,2024-01-06,2024-02-03,lost,
        """)
    data = repkpi.load(path, engine="dask")
    assert data.absent == {"deals": ["rep_id", "amount", "channel"]}
    with pytest.raises(repkpi.AbsentColumnError, match=r"^revenue needs deals\.amount; the deals "):
        kpis.revenue(data)
    with pytest.raises(repkpi.AbsentColumnError, match=r"^win_rate by 'channel' needs deals\.channel"):
        kpis.win_rate(data, by="channel")
    # cross_sell_rate reads deal_type, present (empty on D2): D1 won of 1 expansion deal.
    assert kpis.cross_sell_rate(data)[["numerator", "denominator"]].to_numpy().tolist() == [
        [1.0, 1.0]]
    assert "revenue" in repkpi.compute(data).attrs["skipped"]


def test_a_part_file_without_the_column_makes_it_absent_on_dask(tmp_path):
    # Part 2 has no amount: its rows cannot tell, so the table's amount is absent.
    pytest.importorskip("dask.dataframe")
    parts = tmp_path / "deals"
    parts.mkdir()
    (parts / "part-1.csv").write_text(
        "deal_id,account_id,created_on,closed_on,stage,amount\nD1,A1,2024-01-05,2024-02-01,won,10\n",
        encoding="utf-8")
    (parts / "part-2.csv").write_text(
        "deal_id,account_id,created_on,closed_on,stage\nD2,A1,2024-01-05,2024-02-01,won\n",
        encoding="utf-8")
    data = repkpi.load(tmp_path, engine="dask")
    assert data.absent == {"deals": ["rep_id", "amount", "deal_type", "channel"]}
    with pytest.raises(repkpi.AbsentColumnError, match=r"^revenue needs deals\.amount"):
        kpis.revenue(data)
    assert kpis.win_rate(data)["value"].tolist() == [1.0]  # D1 and D2 won


def test_docs_kpis_md_shows_each_kpis_needs():
    # docs/kpis.md, "Columns each KPI needs": one row per KPI, read from nowhere but the
    # declarations; a KPI added or changed without its row fails here.
    text = (Path(__file__).parents[2] / "docs" / "kpis.md").read_text(encoding="utf-8")
    section = text.split("## Columns each KPI needs", 1)[1].split("\n## ", 1)[0]
    shown = {}
    for line in section.splitlines():
        if line.startswith("| `"):
            name, needs = (cell.strip() for cell in line.strip("|").split("|"))
            shown[name.strip("`")] = tuple(n.strip().strip("`") for n in needs.split(",")
                                           if n.strip() != "-")
    assert shown == {name: spec.needs for name, spec in KPIS.items()}


def test_the_cli_lists_the_kpi_as_skipped_with_the_reason(folder):
    import contextlib
    import io

    from repkpi.cli import main

    path = folder(deals="""\
        deal_id,account_id,created_on,closed_on,stage
        D1,A1,2024-01-05,2024-02-01,won
        """)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["kpis", str(path)]) == 0
    printed = out.getvalue()
    assert "skipped revenue: revenue needs deals.amount; the deals table (" in printed
    assert re.search(r"^\s*win_rate 2024 Q1\s+100", printed, re.MULTILINE)  # D1 won of 1


def test_an_export_without_churned_on_refuses_churn_instead_of_reporting_none(folder):
    # Two customers since January 2024; the file has no churned_on column. Read as empty,
    # churn for 2024Q2 would be 0 of 2 (nobody left): a wrong number, not a missing one.
    path = folder(accounts="""\
        account_id,customer_since
        A1,2024-01-10
        A2,2024-02-01
        """)
    data = repkpi.load(path)
    assert data.absent == {"accounts": ["account_name", "rep_id", "region", "segment",
                                        "churned_on"]}
    for name in ("churn_rate", "retention_rate", "active_customers"):
        with pytest.raises(repkpi.AbsentColumnError,
                           match=rf"^{name} needs accounts\.churned_on; the accounts table "):
            KPIS[name](data)
    kpis.new_customers(data)  # new customers read customer_since alone
    # The column present and empty: nobody has left. A3 (since 15 April, the latest date, so
    # 2024Q2 is in progress) is not in Q2's opening book of 31 March (A1, A2): 0 of 2.
    path = folder(accounts="""\
        account_id,customer_since,churned_on
        A1,2024-01-10,
        A2,2024-02-01,
        A3,2024-04-15,
        """)
    result = kpis.churn_rate(repkpi.load(path), freq="Q", start="2024Q2", end="2024Q2")
    assert result[["numerator", "denominator"]].to_numpy().tolist() == [[0.0, 2.0]]


@pytest.mark.parametrize("preset", ["hubspot", "salesforce"])
def test_a_preset_says_its_churn_date_is_a_custom_field(tmp_path, preset):
    # The accounts export without the custom churn date column: churn names where it comes from.
    source = FIXTURES / preset / ("companies.csv" if preset == "hubspot" else "accounts.csv")
    frame = pd.read_csv(source, dtype=str, keep_default_na=False)
    header = next(h for h in ("Churn Date", "Churn_Date__c") if h in frame.columns)
    frame.drop(columns=header).to_csv(tmp_path / source.name, index=False)
    data = repkpi.load(tmp_path, source=preset, errors="quarantine")
    assert "churned_on" in data.absent["accounts"]
    label = {"hubspot": "HubSpot", "salesforce": "Salesforce"}[preset]
    with pytest.raises(repkpi.AbsentColumnError) as info:
        kpis.churn_rate(data)
    assert str(info.value).startswith(
        f"churn_rate needs accounts.churned_on; {label} has no standard churn date; the "
        f"{preset} preset reads it from a custom date ")


def test_freshdesk_first_response_sla_says_the_export_counts_business_hours():
    # The freshdesk preset reads no first reply (its only figure is in business hours):
    # first_response_sla refuses with where the figure is and how to read it.
    data = repkpi.load(FIXTURES / "freshdesk", source="freshdesk")
    assert "first_response_at" in data.absent["tickets"]
    with pytest.raises(repkpi.AbsentColumnError) as info:
        kpis.first_response_sla(data)
    assert str(info.value).splitlines()[0] == (
        "first_response_sla needs tickets.first_response_at; the freshdesk export gives it only "
        "as 'First response time (in hrs)', in business hours; a mapping file can read it as "
        "calendar time for a 24/7 helpdesk (docs/mappings.md).")
    # The 24/7 mapping file reads it: nothing absent there.
    timed = repkpi.load(FIXTURES / "freshdesk", source=FIXTURES / "freshdesk_24x7.toml")
    assert "first_response_at" not in timed.absent.get("tickets", [])


def test_validate_prints_the_absent_columns_and_the_kpis_they_stop(folder):
    import contextlib
    import io

    from repkpi.cli import main

    path = folder(reps="""\
        rep_id,hired_on
        R1,2019-01-01
        """)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["validate", str(path)]) == 0
    assert ("Absent: reps has no name, team, region, left_on column(s); stops senior_reps."
            in out.getvalue())
