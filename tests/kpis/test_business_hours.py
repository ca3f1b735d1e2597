"""Business hours, calendars and paused clocks (kpis.md, "Business hours and pauses").

Part 1 works cases out by hand: the deadline of a ticket opened at closing
time, on a weekend, before a holiday, on a split day, across both daylight-
saving changes of Europe/Berlin in 2026 (29 March: 02:00 -> 03:00; 25
October: 03:00 -> 02:00), and in a region whose override moves it to
Asia/Singapore.

Part 2 generates 300 tickets over eight months (nights, weekends,
holidays, both DST changes, overrides, status changes) and compares the
library with a count written here in plain Python: every UTC minute of the
span is open or not by ``zoneinfo``'s local time, and a ticket's business
minutes, pauses and deadline are read off those flags, one ticket at a time.

Part 3 checks pauses by hand on both clocks, first_response_sla by hand, the
options of the service KPIs in detail, and every error.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

import numpy as np
import pandas as pd
import pytest

import repkpi
from repkpi import kpis
from repkpi.errors import MissingTableError, OptionError
from repkpi.goals import goal_result
from repkpi.kpis.business import FAR, read_calendar
from repkpi.kpis.clocks import TicketClock
from repkpi.periods import NAT, micros

WEEKDAYS = {d: "09:00-17:00" for d in ("mon", "tue", "wed", "thu", "fri")}
BERLIN = {"timezone": "Europe/Berlin", "hours": WEEKDAYS}


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_convert("UTC") if pd.Timestamp(text).tzinfo else pd.Timestamp(
        text, tz="UTC")


def tickets_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame.insert(0, "ticket_id", [f"T{i + 1}" for i in range(len(frame))])
    return frame


def clock_of(rows: list[dict], *, calendar=BERLIN, clock="business", pause=None, events=None,
             **tables) -> tuple[TicketClock, repkpi.CrmData]:
    data = repkpi.CrmData(tickets=tickets_frame(rows), ticket_events=events, **tables)
    return TicketClock(data, data.tickets, "sla_compliance", clock=clock,
                       calendar=calendar if clock == "business" else None, pause=pause), data


def stamps(values: np.ndarray, zone: str = "Europe/Berlin") -> list[str]:
    return ["never" if v == FAR else ("NaT" if v == NAT else
            pd.Timestamp(v, unit="us", tz="UTC").tz_convert(zone).strftime("%a %Y-%m-%d %H:%M"))
            for v in values]


def hours_at(clock: TicketClock, times: list[str]) -> list[float]:
    return list(np.round(clock.hours(micros(pd.Series([utc(t) for t in times]))), 9))


# -- part 1: by hand ----------------------------------------------------------------------------
def test_friday_closing_time_plus_24_business_hours_is_wednesday_closing_time():
    # Fri 6 March 2026 17:00 Berlin is closing time: nothing more on Friday, the weekend is
    # closed, then Mon 9-17 (8 h), Tue 9-17 (16 h), Wed 9-17 (24 h): Wed 11 March 17:00.
    clock, _ = clock_of([{"opened_at": "2026-03-06T17:00:00+01:00"}])
    assert stamps(clock.deadline(np.array([24.0]))) == ["Wed 2026-03-11 17:00"]
    # Four hours: Monday 13:00. A target reached exactly at closing time is due then, not at
    # the next opening: 8 hours is Monday 17:00.
    assert stamps(clock.deadline(np.array([4.0]))) == ["Mon 2026-03-09 13:00"]
    assert stamps(clock.deadline(np.array([8.0]))) == ["Mon 2026-03-09 17:00"]
    # At Wednesday 12:00: Mon 8 + Tue 8 + Wed 3 = 19 hours on the clock.
    assert hours_at(clock, ["2026-03-11T12:00:00+01:00"]) == [19.0]


def test_a_ticket_opened_on_saturday_starts_on_monday_at_nine():
    # Sat 7 March 10:00: the clock starts Mon 09:00. Resolved Mon 08:30: 0 business hours;
    # Mon 10:15: 1.25 hours. Two hours: Mon 11:00.
    clock, _ = clock_of([{"opened_at": "2026-03-07T10:00:00+01:00"}])
    assert hours_at(clock, ["2026-03-09T08:30:00+01:00"]) == [0.0]
    assert hours_at(clock, ["2026-03-09T10:15:00+01:00"]) == [1.25]
    assert stamps(clock.deadline(np.array([2.0]))) == ["Mon 2026-03-09 11:00"]


def test_a_holiday_is_closed_all_day():
    # Thu 2 April 16:00, Good Friday 3 April and Easter Monday 6 April holidays: Thu 1 h, then
    # Tue 7 April 9-17 (8 h) and Wed 8 April 9-12 (3 h): 12 hours fall on Wed 12:00.
    calendar = {**BERLIN, "holidays": ["2026-04-03", "2026-04-06"]}
    clock, _ = clock_of([{"opened_at": "2026-04-02T16:00:00+02:00"}], calendar=calendar)
    assert stamps(clock.deadline(np.array([12.0]))) == ["Wed 2026-04-08 12:00"]
    assert hours_at(clock, ["2026-04-07T09:00:00+02:00"]) == [1.0]


def test_a_split_day_leaves_the_lunch_break_out():
    # Mon 09:00-12:30 and 13:30-17:30. Opened Mon 9 March 11:00: 1.5 h to 12:30, lunch, then
    # 13:30 + 2.5 h = 16:00 for 4 hours. Resolved at 13:00 (during lunch): 1.5 hours.
    calendar = {"timezone": "Europe/Berlin", "hours": {"mon": "09:00-12:30,13:30-17:30"}}
    clock, _ = clock_of([{"opened_at": "2026-03-09T11:00:00+01:00"}], calendar=calendar)
    assert stamps(clock.deadline(np.array([4.0]))) == ["Mon 2026-03-09 16:00"]
    assert hours_at(clock, ["2026-03-09T13:00:00+01:00"]) == [1.5]
    # 6 hours: 1.5 + 4 left in the afternoon = 5.5, then the next Monday 09:30.
    assert stamps(clock.deadline(np.array([6.0]))) == ["Mon 2026-03-16 09:30"]


@pytest.mark.parametrize(
    ("hours", "opened", "target", "due", "length"),
    [
        # Spring forward, Sun 29 March 2026: local 02:00 jumps to 03:00. Open 00:00-06:00 that
        # Sunday is 5 real hours (00:00 CET = 23:00 UTC Sat to 06:00 CEST = 04:00 UTC).
        pytest.param("00:00-06:00", "2026-03-28T23:00:00Z", 5.0, "Sun 2026-03-29 06:00", 5.0,
                     id="spring-forward-day-is-short"),
        # Open 01:00-05:00: 1 hour to 02:00, then 03:00-05:00; 2 hours end at 03:00 local.
        pytest.param("01:00-05:00", "2026-03-29T00:00:00Z", 2.0, "Sun 2026-03-29 04:00", 3.0,
                     id="spring-forward-skips-an-hour"),
        # Fall back, Sun 25 October 2026: local 03:00 CEST returns to 02:00 CET; 00:00-06:00
        # that Sunday is 7 real hours (22:00 UTC Sat to 05:00 UTC).
        pytest.param("00:00-06:00", "2026-10-24T22:00:00Z", 7.0, "Sun 2026-10-25 06:00", 7.0,
                     id="fall-back-day-is-long"),
        # Open 02:30-04:00: 02:30-03:00 CEST (00:30-01:00 UTC), then 02:30-03:00 again in
        # CET (01:30-02:00 UTC) and 03:00-04:00 CET (02:00-03:00 UTC): 2 hours, due 04:00 CET.
        pytest.param("02:30-04:00", "2026-10-24T22:00:00Z", 2.0, "Sun 2026-10-25 04:00", 2.0,
                     id="fall-back-repeats-an-hour"),
    ],
)
def test_daylight_saving_days_count_real_hours(hours, opened, target, due, length):
    calendar = {"timezone": "Europe/Berlin", "hours": {"sun": hours}}
    clock, _ = clock_of([{"opened_at": opened}], calendar=calendar)
    assert stamps(clock.deadline(np.array([target]))) == [due]
    day_end = pd.Timestamp(due[4:14]).tz_localize("Europe/Berlin") + pd.Timedelta(hours=12)
    assert hours_at(clock, [str(day_end)]) == [length]


def test_a_region_override_changes_only_the_time_zone():
    # APAC tickets follow Asia/Singapore (UTC+8) with Berlin's hours and holidays; the others
    # Berlin (UTC+1 in March). Both opened Mon 9 March 00:00 UTC and need 2 business hours:
    # Singapore opens 09:00 local = 01:00 UTC (due 03:00 UTC); Berlin 08:00 UTC (due 10:00 UTC).
    calendar = {**BERLIN, "holidays": ["2026-03-10"],
                "by": {"region": {"apac": {"timezone": "Asia/Singapore"}}}}
    rows = [{"opened_at": "2026-03-09T00:00:00Z", "account_id": "A1"},
            {"opened_at": "2026-03-09T00:00:00Z", "account_id": "A2"}]
    accounts = pd.DataFrame({"account_id": ["A1", "A2"], "region": ["apac", "emea"]})
    clock, _ = clock_of(rows, calendar=calendar, accounts=accounts)
    assert stamps(clock.deadline(np.array([2.0, 2.0])), "UTC") == ["Mon 2026-03-09 03:00",
                                                                    "Mon 2026-03-09 10:00"]
    # The holiday is inherited: 10 hours run past Tuesday 10 March to Wednesday, local 11:00.
    due = clock.deadline(np.array([10.0, 10.0]))
    assert stamps(due[:1], "Asia/Singapore") == ["Wed 2026-03-11 11:00"]
    assert stamps(due[1:], "Europe/Berlin") == ["Wed 2026-03-11 11:00"]


def test_an_override_replaces_hours_and_keeps_the_rest():
    cal = read_calendar({**BERLIN, "holidays": ["2026-12-24"],
                         "by": {"team": {"night": {"hours": {"sat": "22:00-24:00"}}}}})
    night = cal.schedule(("night",))
    assert night.timezone == "Europe/Berlin"
    assert night.holidays == (dt.date(2026, 12, 24),)
    assert night.hours[5] == ((79200, 86400),)
    assert night.hours[0] == ()


def test_a_calendar_file_and_a_goals_style_mapping_read_the_same(tmp_path):
    file = tmp_path / "team.toml"
    file.write_text('[calendar]\ntimezone = "Europe/Berlin"\n'
                    'hours = { mon = "09:00-12:30,13:30-17:30", fri = "09:00-16:00" }\n'
                    'holidays = [2026-12-24, "2026-12-25"]\n'
                    '[calendar.by.region.apac]\ntimezone = "Asia/Singapore"\n', encoding="utf-8")
    mapping = {"calendar": {"timezone": "Europe/Berlin",
                            "hours": {"mon": "09:00-12:30,13:30-17:30", "fri": "09:00-16:00"},
                            "holidays": ["2026-12-24", "2026-12-25"],
                            "by": {"region": {"apac": {"timezone": "Asia/Singapore"}}}}}
    assert read_calendar(file) == read_calendar(str(file)) == read_calendar(mapping)


# -- part 2: generated tickets against a count minute by minute ----------------------------------
CALENDAR = {
    "timezone": "Europe/Berlin",
    "hours": {"mon": "09:00-12:30,13:30-17:30", "tue": "09:00-17:30", "wed": "09:00-17:30",
              "thu": "08:00-17:30", "fri": "09:00-16:00",
              # Sunday ranges that meet both DST changes: 02:30 falls in the skipped hour in
              # March and in the repeated hour in October.
              "sun": "01:00-02:30,22:00-24:00"},
    "holidays": ["2026-04-03", "2026-04-06", "2026-05-01", "2026-05-14", "2026-10-03",
                 "2026-10-26"],
    "by": {"region": {"apac": {"timezone": "Asia/Singapore",
                               "hours": {d: "08:00-18:00" for d in ("mon", "tue", "wed", "thu",
                                                                    "fri")}},
                      "south": {"holidays": ["2026-06-02"]}}},
}
SPAN = (dt.datetime(2026, 2, 20, tzinfo=dt.UTC), dt.datetime(2027, 1, 31, tzinfo=dt.UTC))
PAUSE = ["pending", "on_hold"]


def open_minutes(schedule: dict) -> np.ndarray:
    """Whether each UTC minute of SPAN is inside opening hours, by its local time (zoneinfo)."""
    zone = zoneinfo.ZoneInfo(schedule["timezone"])
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    ranges = {}
    for index, day in enumerate(days):
        found = []
        for part in filter(None, schedule["hours"].get(day, "").split(",")):
            start, end = part.split("-")
            found.append(tuple(int(t[:2]) * 60 + int(t[3:]) for t in (start, end)))
        ranges[index] = found
    holidays = {dt.date.fromisoformat(d) for d in schedule.get("holidays", [])}
    minutes = int((SPAN[1] - SPAN[0]).total_seconds() // 60)
    flags = np.zeros(minutes, dtype=bool)
    for m in range(minutes):
        local = (SPAN[0] + dt.timedelta(minutes=m)).astimezone(zone)
        if local.date() in holidays:
            continue
        now = local.hour * 60 + local.minute
        flags[m] = any(a <= now < b for a, b in ranges[local.weekday()])
    return flags


def schedule_of(region: str | None) -> dict:
    merged = {k: v for k, v in CALENDAR.items() if k != "by"}
    if region in CALENDAR["by"]["region"]:
        merged.update(CALENDAR["by"]["region"][region])
    return merged


@pytest.fixture(scope="module")
def generated():
    rng = np.random.default_rng(2026)
    n = 300
    start = pd.Timestamp("2026-03-01", tz="UTC")
    opened = start + pd.to_timedelta(rng.integers(0, 255 * 24 * 60, n), unit="min")
    resolved = opened + pd.to_timedelta(rng.integers(0, 400 * 60, n), unit="min")
    region = rng.choice(["apac", "south", "north", None], n)
    tickets = pd.DataFrame({
        "ticket_id": [f"T{i:03d}" for i in range(n)],
        "opened_at": opened.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "resolved_at": resolved.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "priority": rng.choice(["urgent", "high", "normal", "low"], n),
        "region": region,
    })
    count = rng.integers(0, 5, n)
    which = np.repeat(np.arange(n), count)
    after = rng.integers(-120, 300 * 60, len(which))  # some before opening
    events = pd.DataFrame({
        "ticket_id": tickets["ticket_id"].to_numpy()[which],
        "changed_at": (opened[which] + pd.to_timedelta(after, unit="min")).strftime(
            "%Y-%m-%dT%H:%M:%SZ"),
        "status": rng.choice(["new", "open", "pending", "on_hold", "solved"], len(which)),
    }).sample(frac=1.0, random_state=3)  # in no particular order: the clock sorts them
    data = repkpi.CrmData(tickets=tickets, ticket_events=events)
    flags = {r: open_minutes(schedule_of(r)) for r in ("apac", "south", "north")}
    return data, flags


def minute_of(stamp: pd.Timestamp) -> int:
    return int((stamp - pd.Timestamp(SPAN[0])).total_seconds() // 60)


def reference(data, flags, *, business: bool, pause: bool, target_hours: np.ndarray):
    """Per ticket, one at a time: minutes on the clock to resolved_at, and the deadline."""
    tickets, events = data.tickets, data.ticket_events
    hours, deadlines = [], []
    for i, ticket in enumerate(tickets.itertuples()):
        o = minute_of(ticket.opened_at)
        region = ticket.region if ticket.region in ("apac", "south") else "north"
        on = flags[region][o:].copy() if business else np.ones(len(flags["north"]) - o, bool)
        if pause:
            mine = events[events["ticket_id"] == ticket.ticket_id].sort_values(
                "changed_at", kind="stable")
            times = [minute_of(t) for t in mine["changed_at"]]
            for k, status in enumerate(mine["status"]):
                if status in PAUSE:
                    end = times[k + 1] if k + 1 < len(times) else len(flags["north"])
                    on[max(times[k] - o, 0):max(end - o, 0)] = False
        counted = np.concatenate([[0], np.cumsum(on)])
        hours.append(counted[minute_of(ticket.resolved_at) - o] / 60)
        need = round(target_hours[i] * 60)
        reached = np.flatnonzero(counted >= need)
        last_paused = pause and len(mine) and mine["status"].iloc[-1] in PAUSE
        if len(reached) == 0:
            assert last_paused, "the span is too short for this ticket's deadline"
            deadlines.append(FAR)
        else:
            deadlines.append(micros(pd.Series([ticket.opened_at + pd.Timedelta(
                minutes=int(reached[0]))]))[0])
    return np.array(hours), np.array(deadlines, dtype=np.int64)


@pytest.mark.parametrize(("business", "pause"), [(True, False), (True, True), (False, True)],
                         ids=["business", "business-paused", "calendar-paused"])
def test_generated_tickets_agree_with_a_minute_by_minute_count(generated, business, pause):
    data, flags = generated
    rng = np.random.default_rng(7)
    target = rng.choice([0.0, 1.0, 4.0, 8.5, 24.0, 72.0, 120.0], len(data.tickets))
    clock = TicketClock(data, data.tickets, "sla_compliance",
                        clock="business" if business else "calendar",
                        calendar=CALENDAR if business else None,
                        pause=PAUSE if pause else None)
    want_hours, want_due = reference(data, flags, business=business, pause=pause,
                                     target_hours=target)
    got_hours = clock.hours(micros(data.tickets["resolved_at"]))
    np.testing.assert_allclose(got_hours, want_hours, rtol=0, atol=1e-9)
    got_due = clock.deadline(target)
    bad = np.flatnonzero(got_due != want_due)
    assert not len(bad), (data.tickets.iloc[bad[:5]], stamps(got_due[bad[:5]], "UTC"),
                          stamps(want_due[bad[:5]], "UTC"))


def test_generated_tickets_in_detail_show_the_same_hours(generated):
    data, flags = generated
    want_hours, _ = reference(data, flags, business=True, pause=False,
                              target_hours=np.zeros(len(data.tickets)))
    rows = repkpi.detail(data, "resolution_hours", period="2026Q2", clock="business",
                         calendar=CALENDAR)
    expected = pd.Series(want_hours, index=data.tickets["ticket_id"])
    got = rows.set_index("ticket_id")
    np.testing.assert_allclose(got["hours"], expected[got.index], atol=1e-9)
    np.testing.assert_allclose(got["hours_to_resolve"], got["hours"], atol=0)
    quarter = data.tickets["opened_at"].dt.quarter.eq(2) & data.tickets["opened_at"].dt.year.eq(2026)
    assert len(rows) == quarter.sum()


# -- part 3: pauses, first_response_sla, detail and errors --------------------------------------
EVENTS = pd.DataFrame({
    "ticket_id": ["T1", "T1", "T1", "T2"],
    "changed_at": ["2026-03-09T10:00:00+01:00", "2026-03-09T12:00:00+01:00",
                   "2026-03-10T16:00:00+01:00", "2026-03-09T09:30:00+01:00"],
    "status": ["pending", "open", "on_hold", "pending"],
})


def test_a_pause_stops_the_calendar_clock():
    # T1 opened Mon 9 March 09:00 Berlin, pending 10:00-12:00 and on hold from Tue 16:00 on.
    # Calendar clock, pause pending: at Mon 15:00, 6 h less 2 h paused = 4 h; 8 hours fall at
    # Mon 19:00. With on_hold too, the clock stops for good on Tue 16:00 after 29 hours: a
    # 24 hour target falls on Tue 11:00, a 48 hour one never.
    rows = [{"opened_at": "2026-03-09T09:00:00+01:00"}, {"opened_at": "2026-03-09T09:00:00+01:00"}]
    clock, _ = clock_of(rows, clock="calendar", pause="pending", events=EVENTS)
    assert hours_at(clock, ["2026-03-09T15:00:00+01:00"] * 2) == [4.0, 0.5]
    assert stamps(clock.deadline(np.array([8.0, 8.0]))) == ["Mon 2026-03-09 19:00", "never"]
    clock, _ = clock_of(rows, clock="calendar", pause=["pending", "on_hold"], events=EVENTS)
    assert stamps(clock.deadline(np.array([24.0, 48.0]))) == ["Tue 2026-03-10 11:00", "never"]
    assert hours_at(clock, ["2026-03-12T09:00:00+01:00"] * 2) == [29.0, 0.5]


def test_a_pause_stops_the_business_clock():
    # Business 09:00-17:00: T1 runs 09-10 (1 h), pending 10-12, runs 12-17 (5 h), Tue 09-16
    # (7 h), then on hold. 8 hours: Mon 6 h, then Tue 11:00. At Tue 17:00: 13 hours with only
    # pending paused, 6 + 8 = 14 without.
    rows = [{"opened_at": "2026-03-09T09:00:00+01:00"}]
    events = EVENTS[EVENTS["ticket_id"] == "T1"]
    clock, _ = clock_of(rows, pause=["pending"], events=events)
    assert stamps(clock.deadline(np.array([8.0]))) == ["Tue 2026-03-10 11:00"]
    assert hours_at(clock, ["2026-03-10T17:00:00+01:00"]) == [14.0]
    clock, _ = clock_of(rows, pause=["pending", "on_hold"], events=events)
    assert hours_at(clock, ["2026-03-10T17:00:00+01:00"]) == [13.0]
    # 13 hours are reached at Tue 16:00, as the pause begins: due then.
    assert stamps(clock.deadline(np.array([13.0]))) == ["Tue 2026-03-10 16:00"]
    assert stamps(clock.deadline(np.array([13.5]))) == ["never"]


TICKETS = pd.DataFrame({
    "ticket_id": ["T1", "T2", "T3", "T4"],
    "opened_at": ["2026-03-06T16:00:00+01:00", "2026-03-07T10:00:00+01:00",
                  "2026-03-09T09:00:00+01:00", "2026-03-09T09:00:00+01:00"],
    "first_response_at": ["2026-03-09T09:30:00+01:00", "2026-03-09T12:30:00+01:00",
                          "2026-03-09T13:00:00+01:00", None],
    "resolved_at": ["2026-03-09T17:30:00+01:00", "2026-03-11T09:00:00+01:00",
                    "2026-03-09T11:00:00+01:00", None],
    "priority": ["urgent", "high", "high", "normal"],
    "region": ["north", "north", "north", "north"],
    "kind": [None, None, None, None],  # no complaint: a goal on complaints has no data
})


def sla_data(as_of="2026-03-31", **tables):
    return repkpi.CrmData(tickets=TICKETS, as_of=as_of, **tables)


def values(result: pd.DataFrame) -> list[tuple]:
    return [(str(r.period), r.numerator, r.denominator) for r in result.itertuples()]


def test_first_response_sla_by_hand():
    # Response targets urgent 1 h, high 4 h, normal 24 h, judged at the close of the as-of
    # date (31 March, then 10 March: 24:00 UTC, 01:00 in Berlin).
    # Calendar clock: T1 answered after 65.5 h (> 1): breached; T2 after 50.5 h (> 4):
    # breached; T3 after 4 h (= 4, met exactly); T4 unanswered, past its 24 h: breached.
    data = sla_data()
    assert values(kpis.first_response_sla(data, freq="M")) == [("2026-03", 1, 4)]
    # Business clock 09:00-17:00: T1 1 h on Friday, answered Mon 09:30: 1.5 h (> 1): breached.
    # T2 (Saturday) answered Mon 12:30: 3.5 h (<= 4): met. T3 4 h: met. T4, opened Mon 09:00,
    # is due after 24 business hours, Wed 11 March 17:00: breached by 31 March, and pending
    # at the close of 10 March (Wed 01:00 in Berlin).
    business = kpis.first_response_sla(data, freq="M", clock="business", calendar=BERLIN)
    assert values(business) == [("2026-03", 2, 4)]
    data = sla_data(as_of="2026-03-10")
    business = kpis.first_response_sla(data, freq="M", clock="business", calendar=BERLIN)
    assert values(business) == [("2026-03", 2, 3)]
    rows = repkpi.detail(data, "first_response_sla", period="2026-03", clock="business",
                         calendar=BERLIN).set_index("ticket_id").sort_index()
    assert list(rows.index) == ["T1", "T2", "T3"]
    assert list(rows["hours_to_respond"]) == [1.5, 3.5, 4.0]
    assert list(rows["hours_late"]) == [0.5, -0.5, 0.0]
    assert list(rows["in_numerator"]) == [False, True, True]
    assert [d.tz_convert("Europe/Berlin").strftime("%a %H:%M") for d in rows["deadline"]] == [
        "Fri 17:00", "Mon 13:00", "Mon 13:00"]


def test_sla_compliance_on_the_business_clock_shows_deadlines_and_hours_in_detail():
    # Resolution targets urgent 4, high 24. Business 09:00-17:00:
    # T1 Fri 16:00 + 4 h = Mon 12:00; resolved Mon 17:30, after closing (8 business hours
    # on the clock at 17:00 = 1 + 8 = 9 hours): breached, 5 hours late.
    # T2 Sat + 24 h = Wed 17:00; resolved Wed 09:00 (16 h): met, 8 to spare.
    # T3 Mon 09:00 + 24 h = Wed 17:00; resolved Mon 11:00: met (2 h).
    # T4 no target of its own (normal 72 h): unresolved, due in 72 business hours (Thu 19
    # March 17:00): pending at the close of the as-of date, 11 March.
    data = sla_data(as_of="2026-03-11")
    result = kpis.sla_compliance(data, freq="M", clock="business", calendar=BERLIN)
    assert values(result) == [("2026-03", 2, 3)]
    rows = repkpi.detail(data, "sla_compliance", period="2026-03", clock="business",
                         calendar=BERLIN).set_index("ticket_id").sort_index()
    assert list(rows["hours_to_resolve"]) == [9.0, 16.0, 2.0]
    assert list(rows["hours_late"]) == [5.0, -8.0, -22.0]
    assert [d.tz_convert("Europe/Berlin").strftime("%a %d %H:%M") for d in rows["deadline"]] == [
        "Mon 09 12:00", "Wed 11 17:00", "Wed 11 17:00"]
    # The medians on the business clock: resolution 2, 9, 16 -> 9; response 1.5, 3.5, 4 -> 3.5.
    assert kpis.resolution_hours(data, freq="M", clock="business", calendar=BERLIN)[
        "value"].tolist() == [9.0]
    assert kpis.first_response_hours(data, freq="M", clock="business", calendar=BERLIN)[
        "value"].tolist() == [3.5]


def test_pause_on_the_sla_judged_at_as_of():
    # Calendar clock, pause "pending". T3 is pending Mon 10:00-10:30; T4 pending from Mon 12:00
    # with no later event, so its clock stops for good after 3 hours.
    events = pd.DataFrame({"ticket_id": ["T3", "T3", "T4"],
                           "changed_at": ["2026-03-09T10:00:00+01:00", "2026-03-09T10:30:00+01:00",
                                          "2026-03-09T12:00:00+01:00"],
                           "status": ["pending", "open", "pending"]})
    data = sla_data(ticket_events=events)
    # Resolution (urgent 4, high 24, normal 72): T1 73.5 h breached, T2 95 h breached, T3
    # 2 h less the half hour paused: met. T4 never reaches its 72 hours: pending, left out.
    rows = repkpi.detail(data, "sla_compliance", period="2026-03", pause="pending")
    rows = rows.set_index("ticket_id").sort_index()
    assert list(rows.index) == ["T1", "T2", "T3"]
    assert list(rows["hours_to_resolve"]) == [73.5, 95.0, 1.5]
    assert list(rows["in_numerator"]) == [False, False, True]
    # Response (urgent 1, high 4, normal 24): T1, T2 breached; T3 answered after 4 h less 0.5
    # paused (due 13:30): met; T4, unanswered, would breach its 24 hours on Tue 09:00 but its
    # clock stopped after 3: pending instead of breached.
    assert values(kpis.first_response_sla(data, freq="M")) == [("2026-03", 1, 4)]
    assert values(kpis.first_response_sla(data, freq="M", pause="pending")) == [("2026-03", 1, 3)]
    # Declared as of Sunday 8 March (judged at 24:00 UTC, Mon 01:00 in Berlin): T3 and T4 are
    # not opened yet, T1 (due Fri 17:00) and T2 (due Sat 14:00) not answered yet: breached.
    early = kpis.first_response_sla(sla_data(as_of="2026-03-08", ticket_events=events),
                                    freq="M", pause="pending")
    assert values(early) == [("2026-03", 0, 2)]
    with pytest.raises(repkpi.OptionError, match="takes no option 'as_of'"):
        kpis.first_response_sla(data, as_of="2026-03-09")


def test_compute_runs_the_new_kpi_and_the_clock_options_default_to_calendar():
    data = sla_data()
    assert "first_response_sla" in repkpi.KPIS
    assert set(repkpi.compute(data, freq="M")["kpi"]) >= {"first_response_sla", "sla_compliance"}
    plain = kpis.sla_compliance(data, freq="M")
    assert values(plain) == values(kpis.sla_compliance(data, freq="M", clock="calendar"))


# -- errors -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["sla_compliance", "first_response_sla", "first_response_hours",
                                  "resolution_hours"])
def test_the_business_clock_needs_a_calendar(name):
    with pytest.raises(OptionError, match=r"clock='business'\) needs a calendar.*\n.*Hint"):
        repkpi.KPIS[name](sla_data(), clock="business")


@pytest.mark.parametrize("name", ["sla_compliance", "first_response_sla", "first_response_hours",
                                  "resolution_hours"])
def test_pause_needs_ticket_events(name):
    with pytest.raises(MissingTableError, match="needs the ticket_events table.*\n.*Hint"):
        repkpi.KPIS[name](sla_data(), pause=["pending"])


@pytest.mark.parametrize(
    ("calendar", "match"),
    [
        pytest.param({**BERLIN, "hours": {"mon": "9-17"}}, r"hours.mon: '9-17' is not a range",
                     id="bad-hours"),
        pytest.param({**BERLIN, "hours": {"mon": "17:00-09:00"}}, "not a range of one day",
                     id="backwards-range"),
        pytest.param({**BERLIN, "hours": {"mon": "09:00-12:00,11:00-13:00"}}, "overlap",
                     id="overlapping-ranges"),
        pytest.param({**BERLIN, "hours": {"monday": "09:00-17:00"}}, "unknown day",
                     id="unknown-day"),
        pytest.param({**BERLIN, "timezone": "Europe/Berln"}, "unknown time zone 'Europe/Berln'",
                     id="unknown-timezone"),
        pytest.param({"hours": WEEKDAYS}, "missing timezone", id="no-timezone"),
        pytest.param({**BERLIN, "holidays": ["2026-02-30"]}, "holiday '2026-02-30' is not a date",
                     id="bad-holiday"),
        pytest.param({**BERLIN, "week": 1}, r"unknown key\(s\) \['week'\]", id="unknown-key"),
        pytest.param({**BERLIN, "by": {"region": {"apac": {"zone": "UTC"}}}},
                     r"by.region.apac: unknown key", id="unknown-override-key"),
        pytest.param(42, "calendar must be a mapping or the path", id="not-a-mapping"),
    ],
)
def test_a_bad_calendar_is_refused_clearly(calendar, match):
    with pytest.raises(OptionError, match=match):
        kpis.sla_compliance(sla_data(), clock="business", calendar=calendar)


def test_other_clock_option_errors():
    data = sla_data()
    with pytest.raises(OptionError, match="clock must be 'calendar' or 'business', got 'work'"):
        kpis.resolution_hours(data, clock="work")
    with pytest.raises(OptionError, match="calendar= with clock='calendar'"):
        kpis.resolution_hours(data, calendar=BERLIN)
    with pytest.raises(OptionError, match=r"unknown status\(es\) \['waiting'\]"):
        kpis.sla_compliance(data, pause=["waiting"])
    with pytest.raises(OptionError, match="first_response_sla's targets name unknown priorities"):
        kpis.first_response_sla(data, targets={"p1": 2})
    with pytest.raises(repkpi.ColumnNotFoundError, match="calendar differs by 'tier'"):
        kpis.sla_compliance(data, clock="business",
                            calendar={**BERLIN, "by": {"tier": {"gold": {"timezone": "UTC"}}}})


def test_a_missing_calendar_file_is_refused(tmp_path):
    with pytest.raises(OptionError, match="cannot read the calendar file"):
        kpis.sla_compliance(sla_data(), clock="business", calendar=tmp_path / "none.toml")
    file = tmp_path / "goals.toml"
    file.write_text("[[goal]]\nkpi = 'csat'\n", encoding="utf-8")
    with pytest.raises(OptionError, match=r"no \[calendar\] table"):
        kpis.sla_compliance(sla_data(), clock="business", calendar=file)


def test_an_event_of_an_unknown_ticket_is_rejected_with_its_file_row_and_column(tmp_path):
    TICKETS.to_csv(tmp_path / "tickets.csv", index=False)
    (tmp_path / "ticket_events.csv").write_text(
        "ticket_id,changed_at,status\nT1,2026-03-09T10:00:00Z,pending\n"
        "T9,2026-03-09T11:00:00Z,open\nT2,2026-03-09T12:00:00Z,waiting\n", encoding="utf-8")
    with pytest.raises(repkpi.DataValidationError, match="ticket_events"):
        repkpi.load(tmp_path)
    data = repkpi.load(tmp_path, errors="quarantine")
    rejects = data.rejects[["table", "row", "column", "check", "value"]]
    assert rejects.to_numpy().tolist() == [
        ["ticket_events", 2, "ticket_id", "reference: ticket_id not in tickets", "T9"],
        ["ticket_events", 3, "status", "allowed: one of new, open, pending, on_hold, solved, "
                                       "closed", "waiting"],
    ]
    assert data.ticket_events["ticket_id"].tolist() == ["T1"]
    assert data.sources["ticket_events"].endswith("ticket_events.csv")


def test_events_of_a_rejected_ticket_are_rejected_too():
    tickets = TICKETS.assign(priority=["urgent", "p9", "high", "normal"])
    events = pd.DataFrame({"ticket_id": ["T2", "T1"], "status": ["pending", "open"],
                           "changed_at": ["2026-03-09T10:00:00Z", "2026-03-09T10:00:00Z"]})
    data = repkpi.CrmData(tickets=tickets, ticket_events=events, errors="quarantine")
    assert data.rejects[["table", "row", "check"]].to_numpy().tolist() == [
        ["tickets", 2, "allowed: one of urgent, high, normal, low"],
        ["ticket_events", 1, "reference: the ticket was rejected"],
    ]


# -- goals --------------------------------------------------------------------------------------
GOALS = """\
[calendar]
timezone = "Europe/Berlin"
[calendar.hours]
mon = "09:00-17:00"
tue = "09:00-17:00"
wed = "09:00-17:00"
thu = "09:00-17:00"
fri = "09:00-17:00"

[[goal]]
kpi = "first_response_sla"
freq = "M"
target = 0.9
direction = "at_least"
options = { clock = "business" }

[[goal]]
kpi = "sla_compliance"
freq = "M"
target = 0.9
direction = "at_least"
label = "SLA, calendar hours, complaints"
options = { kinds = "complaint", targets = { urgent = 2 } }
"""


def test_a_goal_takes_its_kpis_options_and_the_files_calendar(tmp_path):
    file = tmp_path / "goals.toml"
    file.write_text(GOALS, encoding="utf-8")
    goals = repkpi.load_goals(file)
    assert goals[0].options["calendar"] == goals.calendar
    assert goals[1].options == {"kinds": "complaint", "targets": {"urgent": 2}}
    with pytest.raises(TypeError):
        goals[0].options["clock"] = "calendar"  # read-only
    data = sla_data()
    card = repkpi.scorecard(data, goals, period="2026-03")
    # first_response_sla on the business clock at the close of 31 March, by hand above: 2 of 4.
    assert card.loc[card["kpi"] == "first_response_sla", "value"].tolist() == [2 / 4]
    assert goal_result(data, goals[0])["value"].tolist() == [2 / 4]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        pytest.param(GOALS.split("[[goal]]")[0] + "[[goal]]" + GOALS.split("[[goal]]")[1].replace(
            'clock = "business"', 'clock = "business", colour = "red"'),
            r"goal 1 \(first_response_sla\): first_response_sla takes no option 'colour'",
            id="unknown-option"),
        pytest.param("[[goal]]" + GOALS.split("[[goal]]")[1],
                     r"options say clock = \"business\", but the file has no \[calendar\]",
                     id="business-without-calendar"),
        pytest.param(GOALS.replace('timezone = "Europe/Berlin"', 'timezone = "Berlin"'),
                     "unknown time zone 'Berlin'", id="bad-calendar"),
        pytest.param("[[goal]]" + GOALS.split("[[goal]]")[2].replace(
            'options = {', 'options = 3 #'), "options must be a table", id="options-not-a-table"),
    ],
)
def test_bad_goal_options_and_calendars_are_goals_errors(tmp_path, text, match):
    file = tmp_path / "goals.toml"
    file.write_text(text, encoding="utf-8")
    with pytest.raises(repkpi.GoalsError, match=match):
        repkpi.load_goals(file)
