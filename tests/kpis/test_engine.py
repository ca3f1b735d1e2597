"""What every KPI shares: periods and fiscal calendars, start/end, the grid, `by`, errors, compute()."""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
import pydoc
import re
from pathlib import Path
from typing import get_args

import numpy as np
import pandas as pd
import pytest

import repkpi
from repkpi import kpis
from repkpi.kpis import KpiSpec, declaration
from repkpi.kpis.declaration import At, Scope
from repkpi.kpis.registry import Route
from repkpi.periods import Calendar, Grid, day_numbers, pandas_freq, to_period

nan = float("nan")

# Every KPI that docs/kpis.md (the spec's definitions) has a row for.
SPEC_KPIS = set(re.findall(r"^\| `(\w+)` \|", (Path(__file__).parents[2] / "docs" / "kpis.md")
                           .read_text(encoding="utf-8"), flags=re.MULTILINE))


def test_the_registry_holds_every_kpi_of_the_spec():
    assert len(SPEC_KPIS) >= 27  # the table rows were read
    assert set(repkpi.KPIS) == SPEC_KPIS
    for name in SPEC_KPIS:
        assert repkpi.KPIS[name] is getattr(kpis, name)


def test_each_kpi_is_its_spec_and_reads_as_a_function():
    spec = repkpi.KPIS["retention_rate"]
    assert isinstance(spec, KpiSpec)
    assert (spec.__name__, spec.__module__) == ("retention_rate", "repkpi.kpis.customers")
    params = inspect.signature(spec).parameters
    assert list(params) == ["data", "freq", "by", "start", "end", "fiscal_year_start", "window",
                            "method", "ci"]
    assert (params["data"].kind, params["method"].default) == (params["data"].POSITIONAL_ONLY,
                                                               "standard")
    assert spec.__doc__.startswith("Share of the customers kept over the period.")
    assert "ci : float, optional" in spec.__doc__
    assert "Returns\n-------" in spec.__doc__
    shown = pydoc.render_doc(spec, renderer=pydoc.plaintext)
    assert "retention_rate(data, /, *, freq='Q'" in shown  # help() shows the call, as for a function
    assert inspect.isroutine(spec)
    assert callable(spec)


DECLARING = (Path(__file__).parents[2] / "docs" / "declaring-kpis.md").read_text(encoding="utf-8")


def test_the_guide_to_declaring_kpis_names_what_exists():
    for method in set(re.findall(r"\bs\.(\w+)\(", DECLARING)):
        assert hasattr(Scope, method), f"s.{method}"
    for name in set(re.findall(r"`(?:[A-Z]\w+)\(", DECLARING)) | {"Scope", "Formula", "Request"}:
        assert hasattr(declaration, name.strip("`(")), name
    (choices,) = re.findall(r'at=("[\w"\\|]+)', DECLARING)  # at="open"\|"last"
    assert set(re.findall(r'"(\w+)"', choices)) == set(get_args(At))
    assert set(re.findall(r'`"(\w+)"` KPI', DECLARING)) == set(get_args(Route))
    fields = {f.name for f in dataclasses.fields(KpiSpec)}
    assert set(re.findall(r"`(\w+)=`", DECLARING)) - {"ci", "columns", "show"} <= fields


# -- periods and fiscal calendars ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("freq", "fiscal_year_start", "expected"),
    [
        ("M", 1, "M"), ("M", 4, "M"),           # months ignore the fiscal calendar
        ("Q", 1, "Q-DEC"), ("Y", 1, "Y-DEC"),
        ("Q", 4, "Q-MAR"), ("Y", 4, "Y-MAR"),   # a year from April ends in March
        ("Y", 10, "Y-SEP"), ("Q", 12, "Q-NOV"),
    ],
)
def test_pandas_freq(freq, fiscal_year_start, expected):
    assert pandas_freq(freq, fiscal_year_start) == expected


@pytest.mark.parametrize(
    ("calendar", "label", "expected"),
    [
        (Calendar("Q"), "2026Q3", pd.Period("2026Q3", "Q-DEC")),
        (Calendar("Q", 4), "2027Q2", pd.Period("2027Q2", "Q-MAR")),   # July-September 2026
        (Calendar("M", 4), "2027Q2", pd.Period("2026-07", "M")),      # the fiscal quarter's first month
        (Calendar("Q", 4), "2027", pd.Period("2027Q1", "Q-MAR")),     # FY2027 Q1: April-June 2026
        (Calendar("Y", 4), "2026-08-15", pd.Period("2027", "Y-MAR")),
    ],
)
def test_calendar_reads_a_label(calendar, label, expected):
    assert calendar.period(label) == expected


def test_calendar_holds_the_pair_and_a_date():
    calendar = Calendar("Q", 4)
    assert (calendar.freq, calendar.fiscal_year_start, calendar.pfreq) == ("Q", 4, "Q-MAR")
    assert calendar.holding(pd.Timestamp("2026-03-31")) == pd.Period("2026Q4", "Q-MAR")
    assert calendar.at("Y") == Calendar("Y", 4)
    assert calendar.period("2027", how="end") == pd.Period("2027Q4", "Q-MAR")   # January-March 2027


@pytest.mark.parametrize(
    ("args", "match"),
    [
        pytest.param(("W",), r"freq must be 'M', 'Q' or 'Y', got 'W'", id="freq"),
        pytest.param(("Q", 13), r"fiscal_year_start must be a month number 1\.\.12, got 13", id="fiscal"),
    ],
)
def test_calendar_refuses_what_names_no_calendar(args, match):
    with pytest.raises(repkpi.OptionError, match=match):
        Calendar(*args)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"freq": "W"}, r"freq must be 'M', 'Q' or 'Y', got 'W'", id="freq"),
        pytest.param({"fiscal_year_start": 0}, r"fiscal_year_start must be a month number 1\.\.12, got 0",
                     id="fiscal_0"),
        pytest.param({"fiscal_year_start": 13}, r"fiscal_year_start must be a month number 1\.\.12, got 13",
                     id="fiscal_13"),
        pytest.param({"fiscal_year_start": "4"}, r"fiscal_year_start must be a month number 1\.\.12, got '4'",
                     id="fiscal_text"),
        pytest.param({"start": "soon"}, r"Cannot read 'soon' as a period", id="start"),
        pytest.param({"end": "2024Q5"}, r"Cannot read '2024Q5' as a period", id="end"),
    ],
)
def test_bad_period_options(crm, kwargs, match):
    data = crm(accounts={"customer_since": ["2024-01-15"]})
    with pytest.raises(repkpi.OptionError, match=match):
        kpis.new_customers(data, **kwargs)


@pytest.mark.parametrize(
    ("value", "pfreq", "expected"),
    [
        ("2024Q1", "Q-DEC", pd.Period("2024Q1", "Q-DEC")),
        ("2024-02-15", "Q-DEC", pd.Period("2024Q1", "Q-DEC")),
        ("2024-05", "Q-DEC", pd.Period("2024Q2", "Q-DEC")),
        (dt.date(2024, 4, 15), "Q-MAR", pd.Period("2025Q1", "Q-MAR")),
        (pd.Timestamp("2024-03-31"), "Q-MAR", pd.Period("2024Q4", "Q-MAR")),
        (pd.Period("2024-07", "M"), "Q-DEC", pd.Period("2024Q3", "Q-DEC")),
        ("2024", "Y-DEC", pd.Period("2024", "Y-DEC")),
    ],
)
def test_to_period(value, pfreq, expected):
    assert to_period(value, pfreq) == expected


def test_day_numbers_take_the_utc_date():
    stamps = pd.Series(pd.to_datetime(["2024-03-31T23:30:00-02:00", "2024-04-01T00:30:00+02:00"],
                                      utc=True, format="ISO8601"))
    days = day_numbers(stamps)
    # 01:30 UTC on 1 April, and 22:30 UTC on 31 March
    epoch = dt.date(1970, 1, 1)
    assert days.tolist() == [(dt.date(2024, 4, 1) - epoch).days, (dt.date(2024, 3, 31) - epoch).days]


def test_grid_locates_days_in_their_period():
    grid = Grid.between(pd.Period("2024Q1", "Q"), pd.Period("2024Q2", "Q"))
    days = day_numbers(pd.Series(pd.to_datetime(["2023-12-31", "2024-01-01", "2024-03-31",
                                                 "2024-04-01", "2024-06-30", "2024-07-01", None])))
    assert grid.locate(days).tolist() == [-1, 0, 0, 1, 1, -1, -1]
    assert len(Grid.between(pd.Period("2024Q2", "Q"), pd.Period("2024Q1", "Q"))) == 0


# customer_since on 2024-03-31, 2024-04-15 and 2024-07-01
FISCAL = {"customer_since": ["2024-03-31", "2024-04-15", "2024-07-01"]}


@pytest.mark.parametrize(
    ("freq", "fiscal_year_start", "start", "dtype", "expected"),
    [
        # April start: Jan-Mar 2024 is fiscal 2024Q4; 2024-04-15 fiscal 2025Q1; July 2025Q2.
        pytest.param("Q", 4, None, "Q-MAR", [("2024Q4", 1), ("2025Q1", 1), ("2025Q2", 1)], id="q_april"),
        # start is read in the fiscal calendar: "2025Q1" is April-June 2024.
        pytest.param("Q", 4, "2025Q1", "Q-MAR", [("2025Q1", 1), ("2025Q2", 1)], id="q_april_start"),
        # fiscal 2024 = 2023-04 .. 2024-03; fiscal 2025 = 2024-04 .. 2025-03
        pytest.param("Y", 4, None, "Y-MAR", [("2024", 1), ("2025", 2)], id="y_april"),
        # October start: all three dates in fiscal 2024 (2023-10 .. 2024-09)
        pytest.param("Y", 10, None, "Y-SEP", [("2024", 3)], id="y_october"),
        pytest.param("Q", 1, None, "Q-DEC", [("2024Q1", 1), ("2024Q2", 1), ("2024Q3", 1)], id="calendar"),
        pytest.param("M", 4, None, "M", [("2024-03", 1), ("2024-04", 1), ("2024-05", 0), ("2024-06", 0),
                                         ("2024-07", 1)], id="months"),
    ],
)
def test_fiscal_calendars(crm, rows, expect, freq, fiscal_year_start, start, dtype, expected):
    data = crm(accounts=FISCAL)
    result = kpis.new_customers(data, freq=freq, fiscal_year_start=fiscal_year_start, start=start)
    assert result["period"].dtype == pd.PeriodDtype(dtype)
    assert rows(result, ["period", "value"]) == expect(expected)


def test_fiscal_quarter_label_is_pandas_q_mar(crm):
    result = kpis.new_customers(crm(accounts=FISCAL), fiscal_year_start=4)
    april = result["period"].iloc[1]
    assert april == pd.Period("2025Q1", freq="Q-MAR")
    assert april.start_time == pd.Timestamp("2024-04-01")
    assert april.end_time.normalize() == pd.Timestamp("2024-06-30")


# -- start, end and the grid --------------------------------------------------------------------
# new customers: 2024Q1 two (01-10, 02-10), 2024Q2 one (05-01)
GROWING = {"customer_since": ["2024-01-10", "2024-02-10", "2024-05-01"],
           "churned_on": [None, None, None]}  # nobody has left


@pytest.mark.parametrize(
    ("kpi", "start", "end", "expected"),
    [
        # periods before the data are included, with 0 for counts; as_of is 2024-05-01 (the last
        # customer_since), so 2024Q3 and 2024Q4 are not lived yet: NA, never 0
        pytest.param("new_customers", "2023Q3", "2024Q4", [
            ("2023Q3", 0, 1, 0), ("2023Q4", 0, 1, 0), ("2024Q1", 2, 1, 2), ("2024Q2", 1, 1, 1),
            ("2024Q3", nan, nan, nan), ("2024Q4", nan, nan, nan),
        ], id="counts_padded"),
        pytest.param("new_customers", "2024Q2", "2024Q2", [("2024Q2", 1, 1, 1)], id="inside"),
        # growth of the first period returned reads 2024Q1 before start: (1 - 2) / 2
        pytest.param("new_customer_growth", "2024Q2", None, [("2024Q2", -1, 2, -0.5)], id="growth_start"),
        # no data before 2024Q1: the grid's first period is NaN
        pytest.param("new_customer_growth", "2024Q1", None, [
            ("2024Q1", nan, nan, nan), ("2024Q2", -1, 2, -0.5),
        ], id="growth_first_period"),
        # start before the data: 2023Q4 is the grid's first period (NaN); 2024Q1 compares with a
        # quarter of no new customers: numerator 2 - 0, denominator 0 -> NaN, not infinity.
        pytest.param("new_customer_growth", "2023Q4", "2024Q3", [
            ("2023Q4", nan, nan, nan), ("2024Q1", 2, 0, nan), ("2024Q2", -1, 2, -0.5),
            ("2024Q3", nan, nan, nan),   # after as_of (2024-05-01): not -100%
        ], id="growth_padded"),
        # active on P.last: Q1 two, Q2 three (on as_of); Q3 is after as_of
        pytest.param("active_customers", "2023Q4", "2024Q3", [
            ("2023Q4", 0, 1, 0), ("2024Q1", 2, 1, 2), ("2024Q2", 3, 1, 3), ("2024Q3", nan, nan, nan),
        ], id="state_padded"),
        # churn: Q4 2023 S = 0 -> NaN; Q3 is after as_of: NA, not 0 / 3
        pytest.param("churn_rate", "2023Q4", "2024Q3", [
            ("2023Q4", 0, 0, nan), ("2024Q1", 0, 0, nan), ("2024Q2", 0, 2, 0.0), ("2024Q3", nan, nan, nan),
        ], id="ratio_padded"),
    ],
)
def test_start_and_end(crm, rows, expect, kpi, start, end, expected):
    data = crm(accounts=GROWING)
    result = repkpi.KPIS[kpi](data, start=start, end=end)
    assert rows(result) == expect(expected)


@pytest.mark.parametrize(
    "start",
    [
        pytest.param("2024Q2", id="quarter_text"),
        pytest.param("2024-05", id="month_text"),
        pytest.param("2024-05-17", id="date_text"),
        pytest.param(dt.date(2024, 5, 17), id="date"),
        pytest.param(pd.Timestamp("2024-04-01"), id="timestamp"),
        pytest.param(pd.Period("2024Q2", "Q"), id="period"),
    ],
)
def test_start_is_period_like(crm, rows, expect, start):
    # any of these means 2024Q2; end is the data's last quarter (2024Q2)
    result = kpis.new_customers(crm(accounts=GROWING), start=start)
    assert rows(result, ["period", "value"]) == expect([("2024Q2", 1)])


def test_grid_spans_every_date_column_of_the_tables_read(crm, rows, expect):
    # one deal created 2023-11-20 and won 2024-04-03: the creation alone makes 2023Q4 and 2024Q1 rows
    data = crm(deals={"created_on": ["2023-11-20"], "closed_on": ["2024-04-03"], "amount": ["500"]})
    assert rows(kpis.revenue(data), ["period", "value"]) == expect([
        ("2023Q4", 0), ("2024Q1", 0), ("2024Q2", 500),
    ])


def test_grid_ignores_tables_only_used_for_by(crm, rows, expect):
    # the account's customer_since (2020) does not stretch the deals' grid when by reads accounts
    data = crm(accounts={"customer_since": ["2020-01-01"], "region": ["north"]},
               deals={"closed_on": ["2024-02-01"], "amount": ["500"]})
    assert rows(kpis.revenue(data, by="region")) == expect([("2024Q1", "north", 500, 1, 500)])


def test_empty_table_gives_rows_only_between_start_and_end(crm, rows, expect):
    data = crm(deals={"closed_on": [], "amount": []})
    assert rows(kpis.revenue(data, start="2024Q1", end="2024Q2")) == expect([
        ("2024Q1", 0, 1, 0), ("2024Q2", 0, 1, 0),
    ])
    assert rows(kpis.win_rate(data, start="2024Q1", end="2024Q1")) == expect([("2024Q1", 0, 0, nan)])
    empty = kpis.revenue(data)
    assert list(empty.columns) == ["period", "numerator", "denominator", "value"]
    assert len(empty) == 0


def test_result_shape_and_types(crm):
    data = crm(accounts={"customer_since": ["2024-01-15", "2024-05-01"], "region": ["north", "south"]})
    result = kpis.new_customers(data, by="region")
    assert list(result.columns) == ["period", "region", "numerator", "denominator", "value"]
    assert result["period"].dtype == pd.PeriodDtype("Q-DEC")
    assert result["period"].iloc[0] == pd.Period("2024Q1", "Q")
    for column in ("numerator", "denominator", "value"):
        assert result[column].dtype == np.float64
    assert result.index.tolist() == [0, 1, 2, 3]


# -- by -----------------------------------------------------------------------------------------
ACCOUNTS = {
    "account_id": ["A1", "A2", "A3"],
    "rep_id": ["R1", "R2", None],
    "region": ["north", "south", "north"],
    "tier": ["gold", None, "gold"],
    "customer_since": ["2024-01-15", "2024-02-15", "2024-05-01"],
    "churned_on": [None, None, None],
}
REPS = {"rep_id": ["R1", "R2"], "team": ["a", "b"], "region": ["east", "west"],
        "hired_on": ["2015-01-01", "2015-01-01"], "left_on": [None, None]}


@pytest.mark.parametrize(
    ("by", "expected"),
    [
        # accounts have rep_id: team comes from the account's own rep; A3 has none -> NA
        pytest.param("team", [
            ("2024Q1", "a", 1), ("2024Q1", "b", 1), ("2024Q1", None, 0),
            ("2024Q2", "a", 0), ("2024Q2", "b", 0), ("2024Q2", None, 1),
        ], id="team_via_the_accounts_rep"),
        # an extra column of the export, NA as its own group, sorted last
        pytest.param("tier", [
            ("2024Q1", "gold", 1), ("2024Q1", None, 1),
            ("2024Q2", "gold", 1), ("2024Q2", None, 0),
        ], id="extra_column"),
        # the table's own region wins over the reps' region
        pytest.param("region", [
            ("2024Q1", "north", 1), ("2024Q1", "south", 1),
            ("2024Q2", "north", 1), ("2024Q2", "south", 0),
        ], id="own_column_first"),
    ],
)
def test_new_customers_by(crm, rows, expect, by, expected):
    data = crm(accounts=ACCOUNTS, reps=REPS)
    assert rows(kpis.new_customers(data, by=by), ["period", by, "value"]) == expect(expected)


@pytest.mark.parametrize("kpi", ["new_customers", "revenue"])
def test_by_a_numeric_extra_column_with_empty_values(rows, expect, kpi):
    # Regression: this crashed with a TypeError in _engine._factorize (an NA label appended to a
    # float64 Series). An extra column typed as numbers (as an in-memory frame or a Parquet file
    # gives it), empty for A2: A2 forms the NA group, sorted last (data-model: extra columns can be
    # `by` dimensions; kpis.md: rows whose dimension is empty form their own group).
    # new_customers (own column): Q1 A1 (10) and A2 (NA); Q2 A3 (10).
    # revenue (through accounts): D1 A1 100 and D2 A2 200, both won in Q1; D3 A3 50 in Q2.
    accounts = pd.DataFrame({"account_id": ["A1", "A2", "A3"],
                             "customer_since": ["2024-01-15", "2024-02-01", "2024-05-01"],
                             "employees": [10.0, None, 10.0]})
    deals = pd.DataFrame({"deal_id": ["D1", "D2", "D3"], "account_id": ["A1", "A2", "A3"],
                          "created_on": ["2024-01-20", "2024-02-20", "2024-05-20"],
                          "closed_on": ["2024-01-20", "2024-02-20", "2024-05-20"], "stage": "won",
                          "amount": [100.0, 200.0, 50.0], "deal_type": "new_business", "channel": "direct"})
    data = repkpi.CrmData(accounts=accounts, deals=deals)
    result = repkpi.KPIS[kpi](data, by="employees")
    a1, a2, a3 = (1, 1, 1) if kpi == "new_customers" else (100, 200, 50)
    assert rows(result, ["period", "employees", "value"]) == expect([
        ("2024Q1", 10.0, a1), ("2024Q1", None, a2),
        ("2024Q2", 10.0, a3), ("2024Q2", None, 0),
    ])


def test_by_two_columns_through_two_tables(crm, rows, expect):
    data = crm(accounts=ACCOUNTS, reps=REPS)
    result = kpis.new_customers(data, by=["team", "tier"])
    assert list(result.columns) == ["period", "team", "tier", "numerator", "denominator", "value"]
    # combinations seen: (a, gold) A1, (b, NA) A2, (NA, gold) A3
    assert rows(result, ["period", "team", "tier", "value"]) == expect([
        ("2024Q1", "a", "gold", 1), ("2024Q1", "b", None, 1), ("2024Q1", None, "gold", 0),
        ("2024Q2", "a", "gold", 0), ("2024Q2", "b", None, 0), ("2024Q2", None, "gold", 1),
    ])


def test_by_region_of_tickets_looks_in_accounts_before_reps(crm, rows, expect):
    # T1 is A1's (north) handled by R2 (west): accounts come first -> north.
    # by team the ticket's own rep_id is used -> b.
    # The data's as_of is 2024-05-01 (A3's customer_since, the latest recorded date of any table;
    # hired_on is scheduled), so the tickets' KPI runs to 2024Q2, where there is no ticket: met 0,
    # breached 0 -> 0/0 = NaN, for the one group seen.
    data = crm(accounts=ACCOUNTS, reps=REPS,
               tickets={"account_id": ["A1"], "rep_id": ["R2"], "opened_at": ["2024-02-01T10:00:00Z"],
                        "resolved_at": ["2024-02-01T11:00:00Z"]})
    assert rows(kpis.sla_compliance(data, by="region")) == expect([
        ("2024Q1", "north", 1, 1, 1.0), ("2024Q2", "north", 0, 0, nan)])
    assert rows(kpis.sla_compliance(data, by="team")) == expect([
        ("2024Q1", "b", 1, 1, 1.0), ("2024Q2", "b", 0, 0, nan)])


@pytest.mark.parametrize(
    ("tables", "kpi", "by", "match"),
    [
        # lists what it could use: the deals' own columns, the accounts' and the reps'
        pytest.param(("accounts", "deals", "reps"), "revenue", "colour",
                     r"Unknown dimension 'colour' for revenue\. Available: "
                     r"\[.*'channel'.*'hired_on'.*'region'.*'team'.*\]", id="deals"),
        # without reps loaded, their columns are not offered
        pytest.param(("accounts",), "churn_rate", "team",
                     r"Unknown dimension 'team' for churn_rate\. Available: \['account_id', 'account_name', "
                     r"'churned_on', 'customer_since', 'region', 'rep_id', 'segment', 'tier'\]",
                     id="no_reps"),
        pytest.param(("accounts", "reps"), "new_customers", ["region", "colour"],
                     r"Unknown dimension 'colour' for new_customers", id="one_of_a_list"),
        # reps have no account_id: accounts' columns are not reachable from them
        pytest.param(("accounts", "reps"), "senior_reps", "segment",
                     r"Unknown dimension 'segment' for senior_reps\. Available: \['hired_on', 'left_on', "
                     r"'name', 'region', 'rep_id', 'team'\]", id="reps"),
    ],
)
def test_unknown_by_lists_what_is_available(crm, tables, kpi, by, match):
    given = {"accounts": ACCOUNTS, "reps": REPS, "deals": {"closed_on": ["2024-02-01"]}}
    data = crm(**{t: given[t] for t in tables})
    with pytest.raises(repkpi.ColumnNotFoundError, match=match) as info:
        repkpi.KPIS[kpi](data, by=by)
    assert isinstance(info.value, KeyError)


# -- errors -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kpi", "options", "match"),
    [
        pytest.param("revenue", {"threshold": 1}, r"revenue takes no option 'threshold'\. It takes freq, by, "
                     r"start, end, fiscal_year_start", id="revenue"),
        pytest.param("churn_rate", {"method": "cohort"}, r"churn_rate takes no option 'method'", id="churn"),
        pytest.param("new_customers", {"as_of": "2024-01-01", "years": 3},
                     r"new_customers takes no option 'as_of', 'years'", id="two"),
        pytest.param("retention_rate", {"methd": "cohort"}, r"retention_rate takes no option 'methd'\. "
                     r"It takes .*method", id="typo"),
    ],
)
def test_unknown_options(crm, kpi, options, match):
    data = crm(accounts=ACCOUNTS, deals={"closed_on": ["2024-02-01"]})
    with pytest.raises(repkpi.OptionError, match=match) as info:
        repkpi.KPIS[kpi](data, **options)
    assert isinstance(info.value, TypeError)


def test_missing_table(crm):
    data = crm(deals={"closed_on": ["2024-02-01"]})
    with pytest.raises(repkpi.MissingTableError, match=r"churn_rate needs the accounts table") as info:
        kpis.churn_rate(data)
    assert isinstance(info.value, LookupError)


def test_kpis_do_not_modify_their_input(crm):
    # deals.rep_id present but empty: by="team" reads it (an absent one is refused).
    data = crm(accounts=ACCOUNTS, reps=REPS, deals={"closed_on": ["2024-02-01"], "region": ["x"],
                                                    "rep_id": [None]})
    before = {name: frame.copy() for name, frame in data.tables.items()}
    repkpi.compute(data, by="region")
    repkpi.compute(data, ["revenue", "new_customers"], by=["team", "region"], freq="M")
    for name, frame in data.tables.items():
        pd.testing.assert_frame_equal(frame, before[name])


# -- compute ------------------------------------------------------------------------------------
# two accounts: A1 from 2024-01-15, A2 from 2024-02-15 churning 2024-05-10
SMALL = {"account_id": ["A1", "A2"], "region": ["north", "south"],
         "customer_since": ["2024-01-15", "2024-02-15"], "churned_on": [None, "2024-05-10"]}


def test_compute_long_format(crm, rows, expect):
    # Recorded, as_of would be 2024-02-15 (A2's customer_since; churned_on 05-10 is scheduled) and the
    # result would stop at 2024Q1. The export is declared as of 2024-06-30, so 2024Q2 is complete.
    data = crm(accounts=SMALL, as_of="2024-06-30")
    result = repkpi.compute(data, ["new_customers", "churn_rate"])
    assert list(result.columns) == ["kpi", "period", "numerator", "denominator", "value"]
    assert rows(result) == expect([
        ("new_customers", "2024Q1", 2, 1, 2),
        ("new_customers", "2024Q2", 0, 1, 0),
        ("churn_rate", "2024Q1", 0, 0, nan),      # nobody active on Q1.open 2023-12-31
        ("churn_rate", "2024Q2", 1, 2, 0.5),      # A1, A2 on Q2.open 03-31; A2 churned 05-10
    ])
    assert result.attrs["skipped"] == {}


def test_compute_by_and_bounds(crm, rows, expect):
    data = crm(accounts=SMALL, as_of="2024-06-30")  # declared: May is lived (see above)
    result = repkpi.compute(data, "active_customers", by="region", freq="M", start="2024-04", end="2024-05")
    assert list(result.columns) == ["kpi", "period", "region", "numerator", "denominator", "value"]
    assert rows(result) == expect([
        ("active_customers", "2024-04", "north", 1, 1, 1), ("active_customers", "2024-04", "south", 1, 1, 1),
        ("active_customers", "2024-05", "north", 1, 1, 1), ("active_customers", "2024-05", "south", 0, 1, 0),
    ])


def test_compute_matches_each_kpi(crm):
    data = crm(accounts=SMALL)
    result = repkpi.compute(data, fiscal_year_start=4, freq="Y")
    for name, part in result.groupby("kpi", sort=False):
        alone = repkpi.KPIS[name](data, freq="Y", fiscal_year_start=4)
        pd.testing.assert_frame_equal(part.drop(columns="kpi").reset_index(drop=True), alone)


def test_compute_skips_what_the_tables_do_not_allow(crm):
    data = crm(accounts=SMALL)
    result = repkpi.compute(data)
    computed = {"new_customers", "new_customer_growth", "active_customers", "churn_rate", "retention_rate"}
    assert list(dict.fromkeys(result["kpi"])) == [k for k in repkpi.KPIS if k in computed]
    skipped = result.attrs["skipped"]
    assert set(skipped) == set(repkpi.KPIS) - computed
    assert skipped["revenue"] == "revenue needs the deals table(s), which were not loaded."
    assert skipped["engagement_rate"].startswith("engagement_rate needs the activities table")
    assert skipped["senior_reps"] == "senior_reps needs the reps table(s), which were not loaded."


def test_compute_skips_an_unknown_by_when_not_asked_by_name(crm):
    data = crm(accounts=SMALL, deals={"account_id": ["A1"], "closed_on": ["2024-02-01"]})
    result = repkpi.compute(data, by="channel")
    # channel is a deals column: every deals KPI runs; the accounts KPIs cannot split by it
    assert set(result["kpi"]) == {n for n, s in repkpi.KPIS.items()
                                  if s.table == "deals" and s.route == "partition"}
    assert "revenue" in set(result["kpi"])
    assert result.attrs["skipped"]["churn_rate"].startswith("Unknown dimension 'channel' for churn_rate.")


def test_compute_with_nothing_computable_is_empty(crm):
    data = crm(market={"period": ["2024Q1"], "region": ["n"], "company": ["X"], "revenue": ["1"]})
    result = repkpi.compute(data)
    assert list(result.columns) == ["kpi", "period", "numerator", "denominator", "value"]
    assert len(result) == 0
    assert set(result.attrs["skipped"]) == set(repkpi.KPIS)


@pytest.mark.parametrize(
    ("kpis_", "options", "error", "match"),
    [
        pytest.param(["churn_rate", "bogus"], {}, repkpi.OptionError, r"Unknown KPI\(s\) \['bogus'\]",
                     id="unknown"),
        pytest.param("revenue", {}, repkpi.MissingTableError, r"revenue needs the deals table",
                     id="missing_table"),
        pytest.param(["churn_rate"], {"by": "channel"}, repkpi.ColumnNotFoundError,
                     r"Unknown dimension 'channel' for churn_rate", id="unknown_by"),
        pytest.param(["churn_rate"], {"freq": "W"}, repkpi.OptionError, r"freq must be 'M', 'Q' or 'Y'",
                     id="bad_freq"),
    ],
)
def test_compute_raises_for_kpis_asked_by_name(crm, kpis_, options, error, match):
    data = crm(accounts=SMALL)
    with pytest.raises(error, match=match):
        repkpi.compute(data, kpis_, **options)
