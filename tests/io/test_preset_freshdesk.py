"""The freshdesk preset on a hand-written ticket export (tests/io/fixtures/freshdesk/).

The export's headers come from Freshdesk's own export code; its twin
(canonical/) and every number below were worked out by hand in the fixture's
README.md.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

import repkpi
from repkpi import kpis

FOLDER = Path(__file__).parent / "fixtures" / "freshdesk"
ALL_HOURS = Path(__file__).parent / "fixtures" / "freshdesk_24x7.toml"


@pytest.fixture(scope="module")
def data() -> repkpi.CrmData:
    """The export read with its first-reply hours as calendar time (a 24/7 helpdesk)."""
    return repkpi.load(FOLDER, source=ALL_HOURS)


def test_the_preset_alone_reads_no_first_reply():
    # Freshdesk counts "First response time (in hrs)" in business hours
    # (first_res_time_bhrs): no calendar instant is made from it by default.
    data = repkpi.load(FOLDER, source="freshdesk")
    assert data.tickets["first_response_at"].isna().all()
    assert "First response time (in hrs)" in data.tickets.columns
    assert data.tickets["resolved_at"].notna().sum() == 7


def _value(result: pd.DataFrame) -> tuple[float, float, float]:
    row = result.loc[result["period"].astype(str) == "2024Q2"].iloc[0]
    return row["value"], row["numerator"], row["denominator"]


def test_every_row_of_the_file_is_accounted_for(data):
    summary = data.summary().set_index("table")
    assert (summary.loc["tickets", "loaded"], summary.loc["tickets", "rejected"]) == (8, 0)
    # 5 rated tickets loaded as surveys, 3 without a survey result set aside: 8 rows.
    assert summary.loc["surveys", "loaded"] == 5
    assert "3 rows set aside by Survey results (empty: 3 rows)" in summary.loc["surveys", "source"]
    assert "first_response_at: Created time + First response time (in hrs)" in (
        summary.loc["tickets", "source"])
    assert data.accounts is None  # no public header list of a companies export


def test_the_first_reply_is_created_time_plus_the_hours(data):
    replies = data.tickets.set_index("ticket_id")["first_response_at"]
    # 104: 04-15 16:30 + 50:00:00 = 04-17 18:30; 106: empty cell, no reply yet.
    assert replies["104"] == pd.Timestamp("2024-04-17 18:30", tz="UTC")
    assert pd.isna(replies["106"])


@pytest.mark.parametrize(("kpi", "expected"), [
    ("sla_compliance", (0.625, 5, 8)),
    ("first_response_sla", (0.5, 4, 8)),
    ("csat", (0.6, 3, 5)),
])
def test_service_ratios_by_hand(data, kpi, expected):
    result = getattr(kpis, kpi)(data, start="2024Q2", end="2024Q2")
    assert _value(result) == pytest.approx(expected)


@pytest.mark.parametrize(("kpi", "median"), [("resolution_hours", 44.0),
                                             ("first_response_hours", 2.0)])
def test_medians_by_hand(data, kpi, median):
    result = getattr(kpis, kpi)(data, start="2024Q2", end="2024Q2")
    assert _value(result)[0] == pytest.approx(median)


def test_a_duration_not_written_hh_mm_ss_is_a_bad_cell(tmp_path):
    folder = Path(shutil.copytree(FOLDER, tmp_path / "freshdesk"))
    tickets = folder / "tickets.csv"
    text = tickets.read_text(encoding="utf-8")
    assert text.count(",05:15:00,") == 1  # ticket 102, row 2
    tickets.write_text(text.replace(",05:15:00,", ",5h15,"), encoding="utf-8")
    data = repkpi.load(folder, source=ALL_HOURS, errors="quarantine")
    bad = data.rejects[data.rejects["table"] == "tickets"]
    assert bad[["row", "column"]].to_numpy().tolist() == [[2, "first_response_at"]]
    assert bad["value"].iloc[0] == "First response time (in hrs) = 5h15: not written hh:mm:ss"
    assert len(data.tickets) + len(bad) == 8
    with pytest.raises(repkpi.DataValidationError, match="tickets: row 2, column 'first_response_at'"):
        repkpi.load(folder, source=ALL_HOURS)
