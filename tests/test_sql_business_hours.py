"""The business clock agrees with the SQL reference's on every ticket (kpis.md, "Business hours").

The SQL reference (benchmarks/sql_reference.py) lays the calendar out as a
table of UTC opening intervals built one local day at a time with
``zoneinfo``, sums each ticket's overlap with them in SQL and finds
deadlines with running sums: a second implementation of the clock, sharing
no code with repkpi's (searchsorted on the schedule's cumulative opening
time).

Checked on the shipped sample and on generated data with a region
override, a holiday, a lunch break and night ranges that cross both
daylight-saving changes of their zones, on:

* every ticket: the business hours to the first response and to the
  resolution, both deadlines, met and breached, from :func:`repkpi.detail`
  (every ticket met or breached at the close of the as-of date), against
  the SQL's per-ticket values;
* the four service KPIs by quarter and month, overall and by region.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import repkpi
from benchmarks import sql_reference
from benchmarks.agreement import mismatches
from repkpi.datasets.generator import write_sample

WEEK = ("mon", "tue", "wed", "thu", "fri")
SAMPLE_CALENDAR = {
    "timezone": "Europe/London",
    "hours": {day: "08:00-18:00" for day in WEEK},
    "holidays": ["2024-12-25", "2024-12-26", "2025-01-01", "2025-12-25", "2025-12-26"],
}
# Night ranges on Sundays (when Europe/Berlin and America/New_York change their clocks),
# a lunch break, a Saturday morning, and one region on another zone with other holidays.
GENERATED_CALENDAR = {
    "timezone": "Europe/Berlin",
    "hours": {**{day: "09:00-12:30,13:30-17:30" for day in WEEK},
              "sat": "10:00-14:00", "sun": "00:00-04:00,22:00-24:00"},
    "holidays": ["2024-03-29", "2024-12-24", "2024-12-25"],
    "by": {"region": {"west": {"timezone": "America/New_York",
                               "holidays": ["2024-07-04", "2024-11-28"]},
                      "south": {"hours": {day: "07:00-19:00" for day in WEEK}}}},
}
SERVICE = ["sla_compliance", "first_response_sla", "first_response_hours", "resolution_hours"]


@pytest.fixture(scope="module", params=["sample", "generated"])
def case(request, tmp_path_factory):
    if request.param == "sample":
        folder, calendar = repkpi.sample_path(), SAMPLE_CALENDAR
    else:
        folder = write_sample(tmp_path_factory.mktemp("business"), seed=16, accounts=250)
        calendar = GENERATED_CALENDAR
    return repkpi.load(folder), sql_reference.connect(folder), calendar


def ours_per_ticket(data: repkpi.CrmData, name: str, calendar: dict) -> pd.DataFrame:
    """repkpi.detail's deadlines, hours and states of the tickets ``name`` judges, year by year."""
    years = sorted(data.tickets["opened_at"].dt.year.unique())
    return pd.concat([repkpi.detail(data, name, period=str(year), clock="business",
                                    calendar=calendar) for year in years],
                     ignore_index=True).set_index("ticket_id")


@pytest.mark.parametrize(("name", "what"), [("sla_compliance", "resolve"),
                                            ("first_response_sla", "respond")])
def test_every_ticket_has_the_sql_references_hours_and_deadlines(case, name, what):
    data, con, calendar = case
    ours = ours_per_ticket(data, name, calendar)
    theirs = sql_reference.ticket_clock(con, calendar).set_index("ticket_id")
    met, breached = (theirs[f"{state}_{what}"].fillna(False).astype(bool)
                     for state in ("met", "breached"))
    # Judged at the close of the as-of date, both sides: detail shows the met and the breached;
    # the tickets with a priority it leaves out are pending on the SQL's side (few: the last days).
    assert set(ours.index) == set(theirs.index[met | breached])
    agreed = set(data.tickets.loc[data.tickets["priority"].notna(), "ticket_id"])
    pending = agreed - set(ours.index)
    assert len(pending) < 0.05 * len(agreed)
    theirs = theirs.loc[ours.index]
    for column in ("hours_to_respond", "hours_to_resolve"):
        np.testing.assert_allclose(ours[column].to_numpy(), theirs[column].to_numpy(dtype=float),
                                   rtol=0, atol=1e-9, err_msg=column)
    column = f"due_{what}"
    differ = ours["deadline"].ne(theirs[column]) & ~(ours["deadline"].isna() & theirs[column].isna())
    assert not differ.any(), pd.concat([ours["deadline"], theirs[column]], axis=1)[differ].head()
    assert ours["in_numerator"].astype(bool).equals(met.loc[ours.index])
    # The business clock really differs from the calendar clock on these tickets.
    tickets = data.tickets.set_index("ticket_id").loc[ours.index]
    calendar_hours = (tickets["resolved_at"] - tickets["opened_at"]) / pd.Timedelta(hours=1)
    assert (ours["hours_to_resolve"] < calendar_hours - 1).mean() > 0.2


@pytest.mark.parametrize("freq", ["Q", "M"])
@pytest.mark.parametrize("by", [None, "region"])
def test_the_service_kpis_agree_by_period(case, freq, by):
    data, con, calendar = case
    ours = pd.concat([repkpi.KPIS[name](data, freq=freq, by=by, clock="business",
                                        calendar=calendar).assign(kpi=name)
                      for name in SERVICE], ignore_index=True)
    theirs = pd.concat([sql_reference.kpi(con, name, freq=freq, by=by, clock="business",
                                          calendar=calendar).assign(kpi=name)
                        for name in SERVICE], ignore_index=True)
    bad = mismatches(ours, theirs, by=by)
    assert bad.empty, bad.head(10).to_string()
    # Not a vacuous check: the SLAs have values and breaches.
    sla = ours[ours["kpi"] == "sla_compliance"]
    assert sla["denominator"].sum() > sla["numerator"].sum() > 0


def test_a_ticket_opened_on_a_berlin_sunday_night_across_the_dst_change(tmp_path):
    # Sunday 31 March 2024, Berlin goes from 02:00 to 03:00 (01:00 UTC). The night range
    # 00:00-04:00 is 3 real hours: 23:00-01:00 UTC (+01:00), then 01:00-02:00 UTC (+02:00).
    # Opened 23:30 UTC on Saturday, resolved 03:00 UTC on Sunday: 2.5 business hours.
    (tmp_path / "tickets.csv").write_text(
        "ticket_id,account_id,rep_id,opened_at,first_response_at,resolved_at,priority,kind\n"
        "T1,,,2024-03-30T23:30:00Z,2024-03-31T00:30:00Z,2024-03-31T03:00:00Z,urgent,question\n",
        encoding="utf-8")
    calendar = {"timezone": "Europe/Berlin", "hours": {"sun": "00:00-04:00"}}
    theirs = sql_reference.ticket_clock(sql_reference.connect(tmp_path), calendar)
    assert theirs["hours_to_resolve"].tolist() == [2.5]
    assert theirs["hours_to_respond"].tolist() == [1.0]
    # 4 hours (urgent): 2.5 this Sunday, 1.5 the next (00:00-01:30 +02:00 = 22:00-23:30 UTC).
    assert theirs["due_resolve"].tolist() == [pd.Timestamp("2024-04-06T23:30:00Z")]
    data = repkpi.load(tmp_path)
    rows = repkpi.detail(data, "sla_compliance", period="2024Q1", clock="business",
                         calendar=calendar)
    assert rows["deadline"].tolist() == theirs["due_resolve"].tolist()
    assert rows["hours_to_resolve"].tolist() == [2.5]
