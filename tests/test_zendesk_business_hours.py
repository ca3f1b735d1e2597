"""A Zendesk export's business-hours columns against repkpi's business clock.

tests/io/fixtures/zendesk_business/tickets.csv is a hand-made Zendesk export whose
"... in minutes" and "... in minutes within business hours" columns were
worked out by hand for the schedule of calendar.toml (Europe/Berlin; Monday to
Thursday 09:00-12:00 and 13:00-17:00, Friday 09:00-15:00; Good Friday, Easter
Monday and 1 May 2024 closed), ticket by ticket:

====  ===============================  ===============================  ====================
Id    created (local)                  solved (local)                   full resolution, min
====  ===============================  ===============================  ====================
5201  Tue 5 Mar 10:00                  Tue 5 Mar 15:30                  120 + 150 = 270
5202  Thu 28 Mar 16:30 (+01:00)        Tue 2 Apr 10:15 (+02:00)         30 + 75 = 105
5203  Sat 30 Mar 11:00 (+01:00)        Wed 3 Apr 09:30 (+02:00)         420 + 30 = 450
5204  Tue 30 Apr 16:00                 Thu 2 May 09:45                  60 + 45 = 105
5205  Fri 3 May 14:00                  Mon 6 May 12:30                  60 + 180 = 240
5206  Mon 6 May 12:10 (lunch)          Mon 6 May 12:50                  0
5207  Tue 7 May 09:00                  (open)                           empty
5208  Sat 11 May 10:00                 Mon 13 May 09:30                 30
====  ===============================  ===============================  ====================

(5202 and 5203 wait over Good Friday, the weekend when Berlin moves to
summer time, and Easter Monday.) The first replies, by hand: 45, 30 + 20,
120, 40, 60 + 10, 0, 180 + 30 and 5 business minutes.

repkpi does not read the business-hours columns (the zendesk preset documents
them as a cross-check only, docs/mappings.md): it computes from ``Created at``
and ``Solved at`` with the calendar, and must find the same minutes. The
export has no first-reply timestamp; the preset reads one as ``Created at``
plus "First reply time in minutes" (calendar minutes), which checks the
first-reply columns too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import repkpi

FOLDER = Path(__file__).parent / "io" / "fixtures" / "zendesk_business"
CALENDAR = FOLDER / "calendar.toml"
PERIODS = ["2024Q1", "2024Q2"]


@pytest.fixture(scope="module")
def export() -> pd.DataFrame:
    frame = pd.read_csv(FOLDER / "tickets.csv", dtype=str)
    return frame.set_index("Id")


@pytest.fixture(scope="module")
def data() -> repkpi.CrmData:
    return repkpi.load(FOLDER, source="zendesk")


def minutes(data: repkpi.CrmData, kpi: str, **options) -> pd.Series:
    """Each ticket's hours in ``kpi``'s drill-down, in minutes, by ticket id."""
    rows = pd.concat([repkpi.detail(data, kpi, period=p, **options) for p in PERIODS])
    return (rows.set_index("ticket_id")["hours"] * 60).round(9)


def column(export: pd.DataFrame, name: str) -> pd.Series:
    return export[name].dropna().astype(float)


def test_full_resolution_minutes_agree_with_the_export(data, export):
    business = minutes(data, "resolution_hours", clock="business", calendar=CALENDAR)
    want = column(export, "Full resolution time in minutes within business hours")
    assert list(want) == [270, 105, 450, 105, 240, 0, 30]  # by hand, see above
    pd.testing.assert_series_equal(business.sort_index(), want.sort_index(), check_names=False,
                                   check_index_type=False)
    calendar = minutes(data, "resolution_hours")
    pd.testing.assert_series_equal(
        calendar.sort_index(), column(export, "Full resolution time in minutes").sort_index(),
        check_names=False, check_index_type=False)


def test_first_reply_minutes_agree_with_the_export(data, export):
    # The preset's reply instant is created + the calendar minutes.
    business = minutes(data, "first_response_hours", clock="business", calendar=CALENDAR)
    want = column(export, "First reply time in minutes within business hours")
    assert list(want) == [45, 50, 120, 40, 70, 0, 210, 5]
    pd.testing.assert_series_equal(business.sort_index(), want.sort_index(), check_names=False,
                                   check_index_type=False)


def test_the_preset_maps_no_business_hours_column(data, export):
    # The business-hours metrics map to no canonical column (repkpi computes its own); they
    # ride along as the export's extra columns, for a cross-check like the one above. The
    # first reply is the calendar minutes: 5201 created 10:00 +01:00 = 09:00 UTC, + 45 min.
    replies = data.tickets.set_index("ticket_id")["first_response_at"]
    assert replies["5201"] == pd.Timestamp("2024-03-05 09:45", tz="UTC")
    assert replies.notna().all()
    extra = data.tickets.set_index("ticket_id")[
        "Full resolution time in minutes within business hours"]
    assert extra.dropna().astype(float).to_dict() == column(
        export, "Full resolution time in minutes within business hours").to_dict()
    # The SLA on the business clock: 5203 (urgent, 4 h) took 450 business minutes, 7.5 h.
    rows = repkpi.detail(data, "sla_compliance", period="2024Q1", clock="business",
                         calendar=CALENDAR)
    late = rows.set_index("ticket_id")["hours_late"]
    assert np.isclose(late["5203"], 7.5 - 4)
