"""Smoke test of the SQL reference on a tiny hand-made data folder.

Every expected number below was worked out by hand from the CSVs and the
definitions in spec/kpis.md (the reasoning is in the comments).
"""

import datetime as dt
import math

import pytest

import repkpi
from benchmarks import sql_reference as ref

CSV = {
    # A2 churns on the first day of 2024Q2 (in Q2's opening book on 03-31, so Q2's churn);
    # A3 is acquired and churns inside 2024Q1; A5 has no region and churns on 2024Q3's
    # first day; A4, acquired on 2024Q1's first day, is not in Q1's opening book; A4 no rep.
    "accounts": """account_id,account_name,rep_id,region,segment,customer_since,churned_on
A1,One,R1,north,smb,2023-11-15,
A2,Two,R1,north,smb,2023-12-01,2024-04-01
A3,Three,R2,south,smb,2024-02-10,2024-03-20
A4,Four,,south,smb,2024-01-01,
A5,Five,R2,,smb,2024-05-05,2024-07-01
A6,Six,R1,north,smb,2023-10-01,2024-02-15
""",
    # T1 opened 2024-03-31 23:30 -05:00 = 2024-04-01 04:30 UTC (Q2);
    # T2 opened 2024-04-01 01:00 +02:00 = 2024-03-31 23:00 UTC (Q1), unresolved;
    # T4 unresolved: past its deadline at the close of as_of, pending at the close of 2024-05-01.
    "tickets": """ticket_id,account_id,rep_id,opened_at,first_response_at,resolved_at,priority,kind
T1,A1,R1,2024-03-31T23:30:00-05:00,2024-04-01T05:30:00Z,2024-04-01T07:00:00Z,urgent,complaint
T2,A2,R1,2024-04-01T01:00:00+02:00,2024-03-31T23:30:00Z,,high,question
T3,A4,,2024-04-10T12:00:00,,2024-05-01T00:00:00Z,low,request
T4,A1,R1,2024-04-30T20:00:00Z,,,normal,
T5,A3,R2,2024-02-01T10:00:00+00:00,2024-02-01T13:00:00+01:00,2024-02-02T10:00:00Z,normal,complaint
T6,A4,R2,2024-04-20T00:00:00Z,,2024-04-20T10:00:00Z,high,question
""",
    "deals": """deal_id,account_id,rep_id,created_on,closed_on,stage,amount,deal_type,channel
D1,A1,R1,2024-01-05,2024-02-01,won,60000,new_business,direct
D2,A1,R1,2024-01-10,2024-03-01,won,50000,upsell,direct
D3,A2,R2,2024-02-01,2024-03-15,lost,10000,cross_sell,partner
D4,A4,,2024-03-01,,open,5000,new_business,direct
D5,A4,R2,2024-04-01,2024-05-01,won,20000,cross_sell,partner
D6,A1,R1,2024-07-01,2024-07-15,won,1000,renewal,direct
""",
    "contracts": """contract_id,account_id,start_date,end_date,annual_value,renewal_of
C1,A1,2023-01-01,2023-12-31,1000,
C2,A1,2024-01-01,2024-12-31,1200,C1
C3,A2,2023-07-01,2024-06-30,500,
C4,A4,2024-02-01,2025-01-31,800,
C5,A1,2024-03-01,2024-12-31,300,
""",
    # S1 responded 2024-03-31 22:30 -03:00 = 2024-04-01 01:30 UTC (Q2)
    "surveys": """response_id,account_id,rep_id,responded_at,csat,nps
S1,A1,R1,2024-03-31T22:30:00-03:00,5,10
S2,A2,R1,2024-01-15T10:00:00Z,3,6
S3,A4,,2024-02-01T00:00:00,4,
S4,A1,R1,2024-02-20T12:00:00Z,,8
""",
    "activities": """activity_id,account_id,occurred_on,kind
X1,A2,2024-03-10,event
X2,A5,2024-06-01,webinar
""",
    "reps": """rep_id,name,team,region,hired_on,left_on
R1,Ann,a,north,2020-02-29,
R2,Bob,b,south,2021-06-15,2024-07-10
R3,Cid,a,north,2023-01-01,
""",
    "market": """period,region,company,revenue
2024Q1,north,Acme,100000
2024Q1,north,Beta,5000
2024Q1,south,Acme,1000
2024Q2,north,Acme,10000
2024Q2,south,Beta,30000
""",
}

NAN = float("nan")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    for table, text in CSV.items():
        (folder / f"{table}.csv").write_text(text)
    return folder


@pytest.fixture(scope="module")
def con(folder):
    return ref.connect(folder)


def rows(df, by=None):
    """{(period[, group]): (numerator, denominator, value)}"""
    out = {}
    for r in df.itertuples(index=False):
        key = r.period if by is None else (r.period, getattr(r, by))
        out[key] = (r.numerator, r.denominator, r.value)
    return out


def same(a, b):
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return b == pytest.approx(a, rel=1e-12, abs=1e-12)


def check(df, expected, by=None):
    got = rows(df, by)
    for key, exp in expected.items():
        assert key in got, (key, sorted(got))
        for e, g in zip(exp, got[key], strict=True):
            assert same(e, g), (key, exp, got[key])


def test_loading_types_and_utc(con):
    ts = dict(con.execute("SELECT ticket_id, CAST(opened_at AS VARCHAR) FROM tickets").fetchall())
    assert ts["T1"] == "2024-04-01 04:30:00"
    assert ts["T2"] == "2024-03-31 23:00:00"
    assert ts["T3"] == "2024-04-10 12:00:00"
    types = dict(
        con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'tickets'"
        ).fetchall()
    )
    assert types["opened_at"] == "TIMESTAMP"
    # empty string -> NULL
    assert con.execute("SELECT count(*) FROM accounts WHERE rep_id IS NULL").fetchone()[0] == 1
    assert set(ref.KPI_NAMES) == set(repkpi.KPIS)


def test_customer_kpis(con):
    k = lambda name, **kw: ref.kpi(con, name, **kw)  # noqa: E731
    assert list(k("new_customers")["period"]) == ["2023Q4", "2024Q1", "2024Q2", "2024Q3"]
    check(
        k("new_customers"),
        {"2023Q4": (3, 1, 3), "2024Q1": (2, 1, 2), "2024Q2": (1, 1, 1), "2024Q3": (0, 1, 0)},
    )
    check(
        k("new_customer_growth"),
        {
            "2023Q4": (NAN, NAN, NAN),
            "2024Q1": (-1, 3, -1 / 3),
            "2024Q2": (-1, 2, -0.5),
            "2024Q3": (-1, 1, -1.0),
        },
    )
    check(
        k("active_customers"),
        {"2023Q4": (3, 1, 3), "2024Q1": (3, 1, 3), "2024Q2": (3, 1, 3), "2024Q3": (2, 1, 2)},
    )
    # S = the opening book, active on P.open (the day before P.first):
    # S(Q4 2023, on 09-30) = none; S(Q1, on 12-31) = A1 A2 A6 (A4 starts 01-01), C = A6;
    # S(Q2, on 03-31) = A1 A2 A4 (A2 churns 04-01, inside Q2), C = A2;
    # S(Q3, on 06-30) = A1 A4 A5, C = A5 (churns 07-01, inside Q3). A3 was never in S.
    check(
        k("churn_rate"),
        {"2023Q4": (0, 0, NAN), "2024Q1": (1, 3, 1 / 3), "2024Q2": (1, 3, 1 / 3),
         "2024Q3": (1, 3, 1 / 3)},
    )
    # (E - N) / S: Q4 2023: E = A1 A2 A6 = N, S = 0; Q1: E = A1 A2 A4 = 3, N = A3 A4 = 2, S = 3;
    # Q2: E = A1 A4 A5, N = A5, S = 3; Q3: E = A1 A4, N = none, S = 3.
    check(
        k("retention_rate"),
        {"2023Q4": (0, 0, NAN), "2024Q1": (1, 3, 1 / 3), "2024Q2": (2, 3, 2 / 3),
         "2024Q3": (2, 3, 2 / 3)},
    )
    by = k("churn_rate", by="region")
    assert list(by["region"][:3]) == ["north", "south", None]
    check(
        by,
        {("2024Q1", "north"): (1, 3, 1 / 3), ("2024Q1", "south"): (0, 0, NAN), ("2024Q1", None): (0, 0, NAN)},
        by="region",
    )
    # south in Q1: E = A4 (A3 left), N = A3 A4, S = none on 12-31
    check(k("retention_rate", by="region"), {("2024Q1", "south"): (-1, 0, NAN)}, by="region")
    check(
        k("active_customers", by="rep_id"),
        {("2024Q2", "R1"): (1, 1, 1), ("2024Q2", "R2"): (1, 1, 1), ("2024Q2", None): (1, 1, 1)},
        by="rep_id",
    )
    # engagement: Q1 A1 (survey S4), A2 (X1, S2), A4 (S3) all engaged; Q2 active A1 A4 A5,
    # engaged A1 (S1 lands in Q2 in UTC) and A5 (X2)
    check(
        k("engagement_rate"),
        {"2023Q4": (0, 3, 0.0), "2024Q1": (3, 3, 1.0), "2024Q2": (2, 3, 2 / 3), "2024Q3": (0, 2, 0.0)},
    )
    # key accounts: A1 won 60000 + 50000 in Feb/Mar 2024
    check(
        k("key_accounts"),
        {"2023Q4": (0, 1, 0), "2024Q1": (1, 1, 1), "2024Q2": (1, 1, 1), "2024Q3": (1, 1, 1)},
    )
    check(k("key_accounts", freq="M"), {"2024-02": (0, 1, 0), "2024-03": (1, 1, 1)})


def test_deal_kpis(con):
    k = lambda name, **kw: ref.kpi(con, name, **kw)  # noqa: E731
    check(
        k("revenue"), {"2024Q1": (110000, 1, 110000), "2024Q2": (20000, 1, 20000), "2024Q3": (1000, 1, 1000)}
    )
    check(k("win_rate"), {"2024Q1": (2, 3, 2 / 3), "2024Q2": (1, 1, 1.0)})
    check(k("cross_sell_rate"), {"2024Q1": (1, 2, 0.5), "2024Q2": (1, 1, 1.0), "2024Q3": (0, 0, NAN)})
    check(k("cross_sell_wins"), {"2024Q1": (1, 1, 1), "2024Q2": (1, 1, 1)})
    check(k("large_deals"), {"2024Q1": (2, 1, 2), "2024Q2": (0, 1, 0)})
    check(k("average_deal_size"), {"2024Q1": (110000, 2, 55000.0), "2024Q2": (20000, 1, 20000.0)})
    check(
        k("revenue", by="region"),
        {
            ("2024Q1", "north"): (110000, 1, 110000),
            ("2024Q1", "south"): (0, 1, 0),
            ("2024Q2", "south"): (20000, 1, 20000),
        },
        by="region",
    )
    # deals by rep_id use the deal's own rep_id
    check(
        k("win_rate", by="rep_id"),
        {("2024Q1", "R1"): (2, 2, 1.0), ("2024Q1", "R2"): (0, 1, 0.0), ("2024Q1", None): (0, 0, NAN)},
        by="rep_id",
    )


def test_contract_kpis(con):
    k = lambda name, **kw: ref.kpi(con, name, **kw)  # noqa: E731
    df = k("renewal_rate")
    assert df["period"].iloc[0] == "2023Q1"
    # Contract dates are scheduled: results stop at the as-of date's quarter (2024-07-15).
    assert df["period"].iloc[-1] == "2024Q3"
    check(df, {"2023Q4": (1, 1, 1.0), "2024Q2": (0, 1, 0.0), "2024Q3": (0, 0, NAN), "2024Q1": (0, 0, NAN)})
    check(k("renewal_value_rate"), {"2023Q4": (1000, 1000, 1.0), "2024Q2": (0, 500, 0.0)})
    # 2024Q1 opens on 2023-12-31: cohort A1 (C1, 1000) + A2 (C3, 500); on 03-31 A1 has
    # C2 1200 (renewing C1 from 01-01: expansion in Q1) + C5 300, A2 still 500.
    # GRR: min(1500, 1000) + min(500, 500) = 1500.
    # 2024Q3, in progress, opens on 06-30 with A1 1500, A2 500 (C3 active on its end date),
    # A4 800, and is measured on the as-of date 07-15: A1 1500, A2 0, A4 800.
    check(k("net_revenue_retention"),
          {"2024Q1": (2000, 1500, 2000 / 1500), "2024Q3": (2300, 2800, 2300 / 2800)})
    check(k("gross_revenue_retention"), {"2024Q1": (1500, 1500, 1.0), "2024Q3": (2300, 2800, 2300 / 2800)})
    check(k("net_revenue_retention", by="rep_id"), {("2024Q1", "R1"): (2000, 1500, 2000 / 1500)}, by="rep_id")


def test_ticket_kpis(con):
    k = lambda name, **kw: ref.kpi(con, name, **kw)  # noqa: E731
    # Judged at the close of as_of (2024-07-15, D6 won): 07-16 00:00 UTC. Q1: T2 breached, T5
    # met. Q2: T1 met, T3 breached, T4 breached (unresolved, deadline 05-03 20:00), T6 met.
    check(k("sla_compliance"), {"2024Q1": (1, 2, 0.5), "2024Q2": (2, 4, 0.5)})
    check(k("first_response_hours"), {"2024Q1": (NAN, NAN, 1.25), "2024Q2": (NAN, NAN, 1.0)})
    check(k("resolution_hours"), {"2024Q1": (NAN, NAN, 24.0), "2024Q2": (NAN, NAN, 10.0)})
    check(
        k("sla_compliance", by="rep_id"),
        {
            ("2024Q1", "R1"): (0, 1, 0.0),
            ("2024Q1", "R2"): (1, 1, 1.0),
            ("2024Q1", None): (0, 0, NAN),
            ("2024Q2", "R1"): (1, 2, 0.5),
            ("2024Q2", "R2"): (1, 1, 1.0),
            ("2024Q2", None): (0, 1, 0.0),
        },
        by="rep_id",
    )
    # Months run to the as-of date's, 2024-07 (D6 won on 07-15), though tickets stop in May.
    m = k("sla_compliance", freq="M")
    assert list(m["period"]) == ["2024-02", "2024-03", "2024-04", "2024-05", "2024-06", "2024-07"]
    check(m, {"2024-03": (0, 1, 0.0), "2024-04": (2, 4, 0.5), "2024-05": (0, 0, NAN),
              "2024-07": (0, 0, NAN)})
    check(k("resolution_hours", freq="M"), {"2024-03": (NAN, NAN, NAN)})


def test_a_declared_as_of_cuts_the_tables_and_judges_at_its_close(folder):
    # As of 2024-05-01 (judged at 05-02 00:00): D6 and the later events are cut; T3,
    # resolved at 05-01 00:00, is resolved (breached: 492 h > 120), T4 (deadline 05-03 20:00)
    # pending. Q2: T1, T6 met.
    cut = ref.connect(folder, as_of="2024-05-01")
    assert cut.execute("SELECT d FROM as_of").fetchone()[0] == dt.date(2024, 5, 1)
    check(ref.kpi(cut, "sla_compliance"), {"2024Q1": (1, 2, 0.5), "2024Q2": (2, 3, 2 / 3)})
    # A5 (a customer since 05-05) is a prospect yet, and its churn on 07-01 has not happened.
    assert cut.execute("SELECT customer_since, churned_on FROM accounts WHERE account_id = 'A5'"
                       ).fetchone() == (None, None)


def test_survey_kpis(con):
    k = lambda name, **kw: ref.kpi(con, name, **kw)  # noqa: E731
    check(k("csat"), {"2024Q1": (1, 2, 0.5), "2024Q2": (1, 1, 1.0)})
    check(k("csat_mean"), {"2024Q1": (7, 2, 3.5), "2024Q2": (5, 1, 5.0)})
    check(k("nps"), {"2024Q1": (-1, 2, -50.0), "2024Q2": (1, 1, 100.0)})


def test_market_kpis(con):
    k = lambda name, **kw: ref.kpi(con, name, **kw)  # noqa: E731
    share = k("market_share")
    # The grid runs to the as-of date's quarter, 2024Q3, where the market table has no row:
    # no market to compare with, so no share (kpis.md, Market).
    assert list(share["period"]) == ["2024Q1", "2024Q2", "2024Q3"]
    check(share, {"2024Q1": (110000, 216000, 110 / 216), "2024Q2": (20000, 60000, 1 / 3)})
    assert math.isnan(share["value"].iloc[-1])
    check(k("market_rank"), {"2024Q1": (1, 1, 1), "2024Q2": (2, 1, 2)})
    check(k("market_share_delta"), {"2024Q1": (NAN, NAN, NAN), "2024Q2": (NAN, NAN, 1 / 3 - 110 / 216)})
    check(
        k("market_share", by="region"),
        {
            ("2024Q1", "north"): (110000, 215000, 110 / 215),
            ("2024Q1", "south"): (0, 1000, 0.0),
            ("2024Q2", "north"): (0, 10000, 0.0),
            ("2024Q2", "south"): (20000, 50000, 0.4),
        },
        by="region",
    )
    check(
        k("market_rank", by="region"),
        {
            ("2024Q1", "north"): (1, 1, 1),
            ("2024Q1", "south"): (2, 1, 2),
            ("2024Q2", "north"): (2, 1, 2),
            ("2024Q2", "south"): (2, 1, 2),
        },
        by="region",
    )
    # freq Y: the grid is {2024}, so D6 (2024-07-15) counts although the market rows stop at Q2
    check(k("market_share", freq="Y"), {"2024": (131000, 277000, 131 / 277)})
    with pytest.raises(ValueError, match="finer"):
        k("market_share", freq="M")
    with pytest.raises(ValueError, match="by must be"):
        k("market_share", by="rep_id")


def test_senior_reps(con):
    k = lambda name, **kw: ref.kpi(con, name, **kw)  # noqa: E731
    # R1 hired 2020-02-29 -> senior from 2023-02-28; R2 senior from 2024-06-15, left 2024-07-10
    check(
        k("senior_reps"),
        {
            "2022Q4": (0, 1, 0),
            "2023Q1": (1, 1, 1),
            "2024Q1": (1, 1, 1),
            "2024Q2": (2, 1, 2),
            "2024Q3": (1, 1, 1),
        },
    )
    check(k("senior_reps", freq="M"), {"2023-01": (0, 1, 0), "2023-02": (1, 1, 1)})
    check(
        k("senior_reps", by="region"),
        {("2024Q2", "north"): (1, 1, 1), ("2024Q2", "south"): (1, 1, 1)},
        by="region",
    )


@pytest.mark.parametrize("freq", ["M", "Q", "Y"])
@pytest.mark.parametrize("by", [None, "region", "rep_id"])
def test_compute_all_shape(con, freq, by):
    df = ref.compute_all(con, freq=freq, by=by)
    assert list(df.columns[:2]) == ["kpi", "period"]
    expected = set(ref.KPI_NAMES) - (ref.MARKET_KPIS if by == "rep_id" or freq == "M" else set())
    if freq == "M":
        with pytest.raises(ValueError, match="finer|by must be"):
            ref.compute_all(con, freq=freq, by=by, kpis=["market_share"])
        expected = set(ref.KPI_NAMES) - ref.MARKET_KPIS
        df = ref.compute_all(con, freq=freq, by=by, kpis=sorted(expected))
    assert set(df["kpi"]) == expected
    for name, part in df.groupby("kpi"):
        keys = ["period"] + ([by] if by else [])
        assert not part.duplicated(keys).any(), name
        n_groups = part[by].nunique(dropna=False) if by else 1
        assert len(part) == part["period"].nunique() * n_groups, name


def test_missing_table(tmp_path):
    (tmp_path / "deals.csv").write_text(CSV["deals"])
    con = ref.connect(tmp_path)
    with pytest.raises(ref.MissingTableError, match="accounts"):
        ref.kpi(con, "churn_rate")
    df = ref.compute_all(con)
    assert set(df["kpi"]) == {
        "revenue",
        "win_rate",
        "cross_sell_rate",
        "cross_sell_wins",
        "large_deals",
        "average_deal_size",
    }
