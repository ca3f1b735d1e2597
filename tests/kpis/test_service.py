"""Service KPIs (tickets), worked out by hand from spec/kpis.md.

Default SLA targets: urgent 4 h, high 24 h, normal 72 h, low 120 h. A ticket
belongs to the period of its opened_at's UTC date.

    id  rep  opened_at (UTC)            first response   resolved         prio    kind       period
    T1  R1   2024-03-01 08:00           +1 h             +3 h             urgent  complaint  Q1
    T2  R2   2024-03-02 08:00           +4 h             +96 h            normal  question   Q1
    T3  R1   2024-04-01 01:30 (a)       -                -                high    complaint  Q2
    T4  R2   2024-03-31 22:30 (b)       +1.5 h           +48 h (04-02 22:30)  high  complaint  Q1
    T5  -    2024-04-10 00:00           +2 h             +120 h           low     feedback   Q2
    T6  R1   2024-04-20 00:00           -                +264 h (05-01)   normal  question   Q2

    (a) written 2024-03-31T23:30:00-02:00: a March date locally, Q2 in UTC.
    (b) written 2024-04-01T00:30:00+02:00: an April date locally, Q1 in UTC.

Deadlines: T1 03-01 12:00, T2 03-05 08:00, T3 04-02 01:30, T4 04-01 22:30,
T5 04-15 00:00 (met exactly on it), T6 04-23 00:00. The data's as-of date is
T6's resolution day, 2024-05-01; states are judged at its close (05-02 00:00
UTC). A declared as-of date D cuts the data (tickets opened after D left out,
answers and resolutions after D blanked) and judges at the close of D.
"""

from __future__ import annotations

import pandas as pd
import pytest

import repkpi
from repkpi import kpis

nan = float("nan")

TICKETS = {
    "ticket_id": ["T1", "T2", "T3", "T4", "T5", "T6"],
    "account_id": ["A1", "A1", "A2", "A2", "A1", "A2"],
    "rep_id": ["R1", "R2", "R1", "R2", None, "R1"],
    "opened_at": ["2024-03-01T08:00:00Z", "2024-03-02T08:00:00Z", "2024-03-31T23:30:00-02:00",
                  "2024-04-01T00:30:00+02:00", "2024-04-10T00:00:00Z", "2024-04-20T00:00:00Z"],
    "first_response_at": ["2024-03-01T09:00:00Z", "2024-03-02T12:00:00Z", None,
                          "2024-04-01T00:00:00Z", "2024-04-10T02:00:00Z", None],
    "resolved_at": ["2024-03-01T11:00:00Z", "2024-03-06T08:00:00Z", None,
                    "2024-04-02T22:30:00Z", "2024-04-15T00:00:00Z", "2024-05-01T00:00:00Z"],
    "priority": ["urgent", "normal", "high", "high", "low", "normal"],
    "kind": ["complaint", "question", "complaint", "complaint", "feedback", "question"],
}
REPS = {"rep_id": ["R1", "R2"], "team": ["a", "b"], "hired_on": ["2015-01-01", "2015-01-01"]}


@pytest.fixture
def tickets(loaded):
    return loaded(tickets=TICKETS)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        # Judged at 05-02 00:00: Q1 T1 met, T2 breached (96 h > 72), T4 breached (48 h > 24);
        # Q2 T3 breached (unresolved past 04-02 01:30), T5 met (120 h <= 120), T6 breached.
        pytest.param({}, [("2024Q1", 1, 3, 1 / 3), ("2024Q2", 1, 3, 1 / 3)], id="default_as_of"),
        # Complaints only: Q1 T1 met, T4 breached; Q2 T3 breached.
        pytest.param({"kinds": "complaint"},
                     [("2024Q1", 1, 2, 0.5), ("2024Q2", 0, 1, 0.0)], id="kinds_str"),
        # Questions and feedback: Q1 T2 breached; Q2 T5 met, T6 breached.
        pytest.param({"kinds": ["question", "feedback"]},
                     [("2024Q1", 0, 1, 0.0), ("2024Q2", 1, 2, 0.5)], id="kinds_list"),
        # normal 96 h: T2 (96 h) now met, T6 (264 h) still breached; others keep their default.
        pytest.param({"targets": {"normal": 96}},
                     [("2024Q1", 2, 3, 2 / 3), ("2024Q2", 1, 3, 1 / 3)], id="targets_normal"),
        # high 48 h: T4 (48 h) met; T3 unresolved, deadline 04-03 01:30 < as_of: breached.
        pytest.param({"targets": {"high": 48}},
                     [("2024Q1", 2, 3, 2 / 3), ("2024Q2", 1, 3, 1 / 3)], id="targets_high"),
    ],
)
def test_sla_compliance(tickets, rows, expect, options, expected):
    result = kpis.sla_compliance(tickets, **options)
    assert rows(result) == expect(expected)


@pytest.mark.parametrize(
    ("as_of", "options", "expected"),
    [
        # At the close of 03-31 (04-01 00:00 UTC): T3 (opened 04-01 01:30 UTC), T5, T6 not
        # opened yet; T4's answer (04-01 00:00) and resolution are after it: unresolved,
        # deadline 04-01 22:30 ahead: pending. Q1 = T1 met, T2 breached.
        pytest.param("2024-03-31", {}, [("2024Q1", 1, 2, 0.5)], id="quarter_end"),
        # At 04-02 00:00: T4 (resolved 04-02 22:30, after the cut) is unresolved past its
        # deadline 04-01 22:30: breached. T3's deadline 04-02 01:30 is ahead: pending.
        pytest.param("2024-04-01", {}, [("2024Q1", 1, 3, 1 / 3), ("2024Q2", 0, 0, nan)],
                     id="resolved_after_as_of"),
        # At 04-03 00:00: T4 resolved after 48 h: breached; T3 unresolved past 04-02 01:30.
        pytest.param("2024-04-02", {}, [("2024Q1", 1, 3, 1 / 3), ("2024Q2", 0, 1, 0.0)],
                     id="deadline_passed"),
        # Complaints with high at 48 h, at 04-03 00:00: Q1 T1 met, T4 met (48 h <= 48);
        # Q2 T3's deadline 04-03 01:30 ahead: pending.
        pytest.param("2024-04-02", {"kinds": ["complaint"], "targets": {"high": 48}},
                     [("2024Q1", 2, 2, 1.0), ("2024Q2", 0, 0, nan)], id="all_options"),
    ],
)
def test_sla_compliance_judged_at_the_close_of_a_declared_as_of(loaded, rows, expect, as_of, options,
                                                                  expected):
    result = kpis.sla_compliance(loaded(tickets=TICKETS, as_of=as_of), **options)
    assert rows(result) == expect(expected)


@pytest.mark.parametrize("name", ["sla_compliance", "first_response_sla"])
def test_the_kpis_take_no_as_of_of_their_own(tickets, name):
    with pytest.raises(repkpi.OptionError, match=f"{name} takes no option 'as_of'"):
        repkpi.KPIS[name](tickets, as_of="2024-04-01")


def test_sla_compliance_by_team_via_the_tickets_rep(loaded, rows, expect):
    # team through reps by the ticket's rep_id: a = T1 T3 T6, b = T2 T4, NA = T5.
    data = loaded(tickets=TICKETS, reps=REPS)
    result = kpis.sla_compliance(data, by="team")
    assert rows(result) == expect([
        ("2024Q1", "a", 1, 1, 1.0),     # T1 met
        ("2024Q1", "b", 0, 2, 0.0),     # T2, T4 breached
        ("2024Q1", None, 0, 0, nan),    # no ticket
        ("2024Q2", "a", 0, 2, 0.0),     # T3, T6 breached
        ("2024Q2", "b", 0, 0, nan),
        ("2024Q2", None, 1, 1, 1.0),    # T5 met
    ])


def test_sla_compliance_rejects_unknown_priorities(tickets):
    with pytest.raises(repkpi.OptionError, match=r"targets name unknown priorities \['critical'\]"):
        kpis.sla_compliance(tickets, targets={"critical": 1})


@pytest.mark.parametrize(
    ("kpi", "by", "expected"),
    [
        # first response: Q1 T1 1 h, T2 4 h, T4 1.5 h -> 1.5; Q2 only T5 has one: 2 h.
        pytest.param("first_response_hours", None, [("2024Q1", 1.5), ("2024Q2", 2.0)], id="fr"),
        # resolution: Q1 3, 96, 48 -> 48; Q2 T5 120, T6 264 (T3 unresolved): even count,
        # median = (120 + 264) / 2 = 192.
        pytest.param("resolution_hours", None, [("2024Q1", 48.0), ("2024Q2", 192.0)], id="res"),
        # by team: a = T1 T3 T6, b = T2 T4, NA = T5.
        pytest.param("first_response_hours", "team", [
            ("2024Q1", "a", 1.0),       # T1
            ("2024Q1", "b", 2.75),      # T2 4 h, T4 1.5 h: even count, (4 + 1.5) / 2
            ("2024Q1", None, nan),      # no ticket
            ("2024Q2", "a", nan),       # T3, T6 have no response
            ("2024Q2", "b", nan),
            ("2024Q2", None, 2.0),      # T5
        ], id="fr_by_team"),
        pytest.param("resolution_hours", "team", [
            ("2024Q1", "a", 3.0), ("2024Q1", "b", 72.0),   # (96 + 48) / 2
            ("2024Q1", None, nan),
            ("2024Q2", "a", 264.0),     # T6 (T3 unresolved)
            ("2024Q2", "b", nan), ("2024Q2", None, 120.0),
        ], id="res_by_team"),
    ],
)
def test_median_hours(loaded, rows, expect, kpi, by, expected):
    data = loaded(tickets=TICKETS, reps=REPS)
    result = repkpi.KPIS[kpi](data, by=by)
    columns = ["period", "value"] if by is None else ["period", by, "value"]
    assert rows(result, columns) == expect(expected)
    # a median does not re-aggregate: numerator and denominator are NA
    assert result["numerator"].isna().all()
    assert result["denominator"].isna().all()


def test_ticket_grid_spans_every_timestamp_column(loaded, rows, expect):
    # Opened 2024-03-30, resolved 2024-07-02: the resolution stretches the grid to 2024Q3, whose
    # rows exist with no tickets (0/0 = NaN, and NaN medians).
    data = loaded(tickets={"opened_at": ["2024-03-30T10:00:00Z"], "resolved_at": ["2024-07-02T10:00:00Z"],
                        "priority": ["low"]})
    assert rows(kpis.sla_compliance(data)) == expect([
        ("2024Q1", 0, 1, 0.0), ("2024Q2", 0, 0, nan), ("2024Q3", 0, 0, nan),
    ])
    assert rows(kpis.resolution_hours(data), ["period", "value"]) == expect([
        ("2024Q1", 94 * 24.0), ("2024Q2", nan), ("2024Q3", nan),    # 03-30 -> 07-02 is 94 days
    ])


@pytest.mark.parametrize("kpi", ["sla_compliance", "first_response_hours", "resolution_hours"])
def test_service_kpis_need_tickets(loaded, kpi):
    data = loaded(reps=REPS)
    with pytest.raises(repkpi.MissingTableError, match=rf"{kpi} needs the tickets table"):
        repkpi.KPIS[kpi](data)


def _pandas(**tables: dict) -> repkpi.CrmData:
    """Loaded pandas data (what shared_results keeps a run's clocks on; Dask keeps its own)."""
    return repkpi.CrmData(**{name: pd.DataFrame(columns) for name, columns in tables.items()})


def test_one_run_makes_each_ticket_clock_once_for_every_grouping_and_target(rows, expect,
                                                                           monkeypatch):
    # The report's path: results kept on the data (shared_results), the tickets' clock and
    # hours made once and shared by every grouping, target and kind, in any order of batches.
    from repkpi.kpis import service
    from repkpi.kpis.shared import shared_results

    made = []
    original = service.TicketClock.__init__

    def counted(self, *args, **kwargs):
        made.append(kwargs.get("as_of"))
        original(self, *args, **kwargs)

    monkeypatch.setattr(service.TicketClock, "__init__", counted)
    data = shared_results(_pandas(tickets=TICKETS, reps=REPS))
    # The same numbers as worked out above (test_sla_compliance, ..._by_team_via_the_tickets_rep).
    assert rows(kpis.sla_compliance(data)) == expect([("2024Q1", 1, 3, 1 / 3),
                                                     ("2024Q2", 1, 3, 1 / 3)])
    assert rows(kpis.sla_compliance(data, by="team")) == expect([
        ("2024Q1", "a", 1, 1, 1.0), ("2024Q1", "b", 0, 2, 0.0), ("2024Q1", None, 0, 0, nan),
        ("2024Q2", "a", 0, 2, 0.0), ("2024Q2", "b", 0, 0, nan), ("2024Q2", None, 1, 1, 1.0)])
    assert rows(kpis.sla_compliance(data, targets={"normal": 96})) == expect(
        [("2024Q1", 2, 3, 2 / 3), ("2024Q2", 1, 3, 1 / 3)])
    assert rows(kpis.sla_compliance(data, kinds="complaint")) == expect(
        [("2024Q1", 1, 2, 0.5), ("2024Q2", 0, 1, 0.0)])
    # first_response_sla judges on the same clock (same as_of): no clock of its own.
    kpis.first_response_sla(data, by="team")
    assert len(made) == 1
    # The medians read the clock without an as-of date: one more clock, then shared.
    assert rows(kpis.resolution_hours(data), ["period", "value"]) == expect(
        [("2024Q1", 48.0), ("2024Q2", 192.0)])
    kpis.first_response_hours(data, by="team")
    assert len(made) == 2
    assert made[1] is None
    # Another data object never reads these: its own clock.
    kpis.sla_compliance(shared_results(_pandas(tickets=TICKETS)))
    assert len(made) == 3


def test_the_kept_clocks_cannot_be_changed_by_a_kpi():
    from repkpi.kpis.shared import shared_results

    data = shared_results(_pandas(tickets=TICKETS))
    kpis.sla_compliance(data)
    kept = [value for value in data.derived.values() if isinstance(value, tuple)
            and len(value) == 3 and isinstance(value[2], dict) and "hours_late" in value[2]]
    met, breached, columns = kept[0]
    with pytest.raises(ValueError, match="read-only"):
        met[0] = not met[0]
    with pytest.raises(ValueError, match="read-only"):
        columns["hours_to_resolve"][0] = 0.0
