"""``repkpi.detail``: the rows behind a KPI's number add up to that number, for every KPI.

The contract (api.md, "Drill-down"): one row per entity that counts in the
numerator or the denominator of a period P, with ``in_numerator``,
``in_denominator``, ``numerator_weight`` and ``denominator_weight``. Summing
the weights per (period, by group) gives the KPI's numerator and denominator
as ``repkpi.KPIS[name](data, freq=..., by=..., start=P, end=P)`` returns them:

* a ratio: both sides;
* a count or a sum (denominator 1 by convention): the numerator only, and
  every ``denominator_weight`` is 0;
* a median: numerator and denominator are NaN; the median of ``hours`` per
  group is the value;
* ``market_share_delta`` (a difference of two shares): the market_share rows
  of P and P-1, told apart by ``from_period``, add up to market_share's
  numerator and denominator of each;
* a growth (``new_customer_growth``): P-1's rows are listed under P with
  ``from_period`` = P-1.

The first part checks this on every KPI of ``repkpi.KPIS`` (none is named
here except to say which kind it is), by None, region and rep, on a quarter
and a month, on the shipped sample and on a generated data set. Each KPI
result and each detail is computed once (a module-wide cache). Then come
tiny books worked out by hand, the errors, and the Dask engine.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import distributed
import numpy as np
import pandas as pd
import pytest
from test_dask import budgeted

import repkpi
from repkpi.datasets.generator import generate_sample

# -- the kinds of KPI, from kpis.md ---------------------------------------------

SPECS = repkpi.KPIS
COUNTS_AND_SUMS = {n for n, s in SPECS.items() if s.kind in ("count", "sum", "rank")}
"""value = numerator, denominator = 1 by convention: only the numerator adds up."""
MEDIANS = {n for n, s in SPECS.items() if s.kind == "median"}
DIFFERENCES = {n for n, s in SPECS.items() if s.kind == "difference"}
COMPARED_WITH_PREVIOUS = {n for n, s in SPECS.items() if s.timing == "compare"}
"""KPIs whose rows carry ``from_period``: P-1's rows are listed too."""
MARKET = {n for n, s in SPECS.items() if s.route == "market"}
# The kinds come from the declarations; kpis.md's own classification of the KPIs it
# defines is checked against them below, so a declaration cannot drift from the spec.
SPEC_KINDS = {
    "count or sum": {"new_customers", "active_customers", "key_accounts", "revenue",
                     "cross_sell_wins", "large_deals", "market_rank", "senior_reps"},
    "median": {"first_response_hours", "resolution_hours"},
    "difference": {"market_share_delta"},
    "compared with the previous period": {"new_customer_growth", "market_share_delta"},
    "market": {"market_share", "market_share_delta", "market_rank"},
}

FLAGS = ["in_numerator", "in_denominator", "numerator_weight", "denominator_weight"]
IDS = {"accounts": ["account_id"], "contracts": ["contract_id"], "deals": ["deal_id"],
       "tickets": ["ticket_id"], "surveys": ["response_id"], "activities": ["activity_id"],
       "market": ["company", "region"], "reps": ["rep_id"]}
"""The column(s) that name a row of each table."""

PERIODS = {"Q": "2025Q3", "M": "2025-08"}
"""One period of each frequency that both data sets cover in full."""
BYS = {"none": None, "region": "region", "rep": "rep_id"}
DATASETS = ["sample", "generated"]


def test_the_declared_kinds_are_those_of_kpis_md():
    declared = {"count or sum": COUNTS_AND_SUMS, "median": MEDIANS, "difference": DIFFERENCES,
                "compared with the previous period": COMPARED_WITH_PREVIOUS, "market": MARKET}
    documented = set().union(*SPEC_KINDS.values())
    for kind, names in SPEC_KINDS.items():
        assert names <= set(repkpi.KPIS), kind
        # Among the KPIs kpis.md classifies, the declarations agree with it.
        assert declared[kind] & documented == names, kind


# -- cached inputs and results ----------------------------------------------------


@functools.cache
def dataset(name: str) -> repkpi.CrmData:
    if name == "sample":
        return repkpi.load_sample()
    return repkpi.CrmData(**generate_sample(seed=7, accounts=300))


@functools.cache
def kpi_result(data: str, kpi: str, freq: str, by: str | None, period: str
               ) -> pd.DataFrame | Exception:
    """The KPI on ``period`` alone, or the error with which it refuses ``freq`` or ``by``."""
    try:
        return repkpi.KPIS[kpi](dataset(data), freq=freq, by=by, start=period, end=period)
    except (repkpi.OptionError, repkpi.ColumnNotFoundError) as exc:
        return exc


@functools.cache
def detail_result(data: str, kpi: str, freq: str, by: str | None) -> pd.DataFrame:
    return repkpi.detail(dataset(data), kpi, period=PERIODS[freq], by=by)


def by_columns(by: str | None) -> list[str]:
    return [] if by is None else [by]


def key_text(value: object) -> str:
    return "<NA>" if pd.isna(value) else str(value)


def sums(frame: pd.DataFrame, keys: list[str], columns: list[str]) -> pd.DataFrame:
    """``columns`` summed per ``keys``, the keys as text (periods as labels, missing as <NA>)."""
    out = frame.groupby(keys, dropna=False, observed=True)[columns].sum().reset_index()
    for key in keys:
        out[key] = out[key].map(key_text) if len(out) else out[key].astype("str")
    return out


def compare(got: pd.DataFrame, want: pd.DataFrame, keys: list[str], pairs: dict[str, str],
            what: str) -> None:
    """``got[g]`` equals ``want[w]`` for each ``g: w`` of ``pairs``, on every key of either side.

    A group that the rows do not reach has sums 0; a group the KPI does not
    show (or shows as NaN) is not compared unless the rows give it a weight.
    """
    want = want.copy()
    for key in keys:
        want[key] = want[key].map(key_text) if len(want) else want[key].astype("str")
    both = want.merge(got, on=keys, how="outer", indicator=True)
    for g, w in pairs.items():
        both[g] = both[g].fillna(0.0)
        checked = both[both[w].notna() | (both[g] != 0)]
        bad = checked[~np.isclose(checked[g], checked[w].astype("float"), rtol=1e-9, atol=1e-6)]
        assert bad.empty, f"{what}: sum of {g} != {w}:\n{bad[[*keys, g, w]].to_string()}"


def refused(data: str, kpi: str, freq: str, by: str | None) -> Exception | None:
    result = kpi_result(data, kpi, freq, by, PERIODS[freq])
    return result if isinstance(result, Exception) else None


CASES = [pytest.param(data, kpi, freq, by, id=f"{data}-{kpi}-{freq}-{by_id}",
                      marks=pytest.mark.slow if data == "generated" else ())
         for data in DATASETS for freq in PERIODS for by_id, by in BYS.items()
         for kpi in repkpi.KPIS]
"""Every KPI, frequency and grouping; on the generated data a ``slow`` sweep."""
CASE_NAMES = ("data", "kpi", "freq", "by")


# -- every KPI: the shape of the rows -----------------------------------------------


@pytest.mark.parametrize(CASE_NAMES, CASES)
def test_columns_and_flags(data, kpi, freq, by):
    refusal = refused(data, kpi, freq, by)
    if refusal is not None:
        # detail refuses what the KPI refuses, with the same error.
        with pytest.raises(type(refusal)):
            repkpi.detail(dataset(data), kpi, period=PERIODS[freq], by=by)
        return
    rows = detail_result(data, kpi, freq, by)
    columns = list(rows.columns)

    # period, [from_period], table, ..., the by columns, the four flags (and hours for a median).
    head = ["period", "from_period", "table"] if kpi in COMPARED_WITH_PREVIOUS else ["period", "table"]
    assert columns[:len(head)] == head
    if kpi not in COMPARED_WITH_PREVIOUS:
        assert "from_period" not in columns
    tail = [c for c in columns if c != "hours"]
    assert tail[-4:] == FLAGS
    assert ("hours" in columns) == (kpi in MEDIANS)
    assert set(by_columns(by)) <= set(columns)
    assert not pd.Index(columns).duplicated().any()

    assert isinstance(rows["period"].dtype, pd.PeriodDtype)
    assert (rows["period"].astype("str") == PERIODS[freq]).all()
    if kpi in COMPARED_WITH_PREVIOUS and len(rows):
        this = pd.Period(PERIODS[freq], freq=rows["period"].dtype.freq)
        assert set(rows["from_period"]) <= {this - 1, this}
    for flag in FLAGS[:2]:
        assert pd.api.types.is_bool_dtype(rows[flag]), flag
    for weight in FLAGS[2:]:
        assert pd.api.types.is_float_dtype(rows[weight]), weight

    # Each row names its table and its entity, once per period (and from_period) and group.
    assert set(rows["table"]) <= set(repkpi.TABLES)
    for table, part in rows.groupby("table"):
        ids = IDS[table]
        assert set(ids) <= set(columns), f"{table} rows without {ids}"
        named = part.dropna(subset=ids, how="any")
        entity = [c for c in ["period", "from_period", "table", *ids, *by_columns(by)]
                  if c in columns]
        assert not named.duplicated(subset=list(dict.fromkeys(entity))).any(), f"{table}: repeated"

    if kpi in MEDIANS:
        assert rows["hours"].notna().all()
        return
    # Every row counts somewhere; a side it is not in gets 0.
    assert (rows["in_numerator"] | rows["in_denominator"]).all()
    assert (rows.loc[~rows["in_numerator"], "numerator_weight"] == 0).all()
    assert (rows.loc[~rows["in_denominator"], "denominator_weight"] == 0).all()
    if kpi in COUNTS_AND_SUMS:
        assert (rows["denominator_weight"] == 0).all()


# -- every KPI: the invariant ----------------------------------------------------------


@pytest.mark.parametrize(CASE_NAMES, CASES)
def test_weights_add_up_to_the_kpi(data, kpi, freq, by):
    if refused(data, kpi, freq, by) is not None:
        pytest.skip("the KPI refuses this combination (test_columns_and_flags checks detail does)")
    period = PERIODS[freq]
    want = kpi_result(data, kpi, freq, by, period)
    rows = detail_result(data, kpi, freq, by)
    keys = ["period", *by_columns(by)]
    what = f"{kpi} {period} by {by}"
    assert len(want), f"{what}: the KPI gives no row; choose a period with data"

    if kpi in MEDIANS:
        medians = rows.groupby(keys, dropna=False)["hours"].median().reset_index()
        for key in keys:
            medians[key] = medians[key].map(key_text)
        compare(medians.rename(columns={"hours": "median"}), want, keys, {"median": "value"}, what)
        return

    if kpi in MARKET:  # no market data for (P, region): NaN, and no rows there
        empty = want.loc[want["value"].isna(), keys].map(key_text)
        listed = rows[keys].map(key_text).drop_duplicates()
        assert listed.merge(empty, on=keys).empty, f"{what}: rows where the KPI has no value"

    if kpi in DIFFERENCES:
        # The rows of P and of P-1 add up to market_share's parts of each;
        # the delta is the difference of the two shares.
        this = pd.Period(period, freq=want["period"].dtype.freq)
        groups = by_columns(by) or ["whole"]
        shares = []
        for when in (this - 1, this):
            share = kpi_result(data, "market_share", freq, by, str(when)).assign(whole="all")
            part = rows[rows["from_period"] == when].assign(whole="all")
            compare(sums(part, groups, FLAGS[2:]), share, groups,
                    {"numerator_weight": "numerator", "denominator_weight": "denominator"},
                    f"{what}, the market_share rows of {when}")
            shares.append(share.set_index(groups)["value"])
        delta = want.assign(whole="all").set_index(groups)["value"]
        expected = (shares[1] - shares[0]).reindex(delta.index)
        assert np.allclose(delta, expected, equal_nan=True), f"{what}: delta != share(P) - share(P-1)"
        return

    got = sums(rows, keys, FLAGS[2:])
    compare(got, want, keys, {"numerator_weight": "numerator"}, what)
    if kpi not in COUNTS_AND_SUMS:
        compare(got, want, keys, {"denominator_weight": "denominator"}, what)


# -- by hand: tiny books -------------------------------------------------------------------


def frame(**columns: list) -> pd.DataFrame:
    """A table as an export gives it: every cell text (or missing)."""
    return pd.DataFrame({name: pd.Series(values, dtype=object) for name, values in columns.items()})


def cells(rows: pd.DataFrame, columns: list[str]) -> list[tuple]:
    """The rows' ``columns`` as plain tuples, sorted (None last): dates as ISO text, missing as None."""
    def plain(value: object) -> object:
        if isinstance(value, pd.Period):
            return str(value)
        if isinstance(value, pd.Timestamp):
            return value.isoformat() if value != value.normalize() else value.strftime("%Y-%m-%d")
        if value is None or value is pd.NA or value is pd.NaT:
            return None
        if isinstance(value, bool | np.bool_):
            return bool(value)
        if isinstance(value, float | np.floating):
            return None if math.isnan(value) else round(float(value), 9) + 0.0
        return value

    return sorted((tuple(plain(v) for v in record)
                   for record in rows[columns].astype(object).itertuples(index=False)),
                  key=lambda row: tuple((v is None, str(v)) for v in row))


# The book of accounts for churn, 2024Q3 (P.open = 2024-06-30, P.last = 2024-09-30).
# No date falls on the first day of a quarter, where the old and the new
# opening rule (kpis.md, "Opening and closing state") would differ.
#
#   id  rep  customer_since  churned_on   active on 2024-06-30?   churned by 2024-09-30?
#   A1  R1   2024-01-15      2024-08-10   yes                      yes  -> numerator and denominator
#   A2  R2   2024-02-10      -            yes                      no   -> denominator
#   A3  R1   2024-07-20      2024-09-05   no (won inside P)        -    -> not listed
#   A4  R2   2023-05-05      2024-05-20   no (gone before P)       -    -> not listed
#   A5  -    2024-03-03      2024-10-15   yes                      no (after P.last) -> denominator
#
# S = {A1, A2, A5} = 3, C = {A1} = 1: churn_rate = 1/3. The export is declared as of
# 2024-09-30, so 2024Q3 is complete (its latest recorded date is A3's 2024-07-20).
CHURN_BOOK = frame(
    account_id=["A1", "A2", "A3", "A4", "A5"],
    rep_id=["R1", "R2", "R1", "R2", None],
    region=["north", "north", "south", "south", "south"],
    customer_since=["2024-01-15", "2024-02-10", "2024-07-20", "2023-05-05", "2024-03-03"],
    churned_on=["2024-08-10", None, "2024-09-05", "2024-05-20", "2024-10-15"],
)


@pytest.fixture(scope="module")
def churn_book():
    return repkpi.CrmData(accounts=CHURN_BOOK, as_of="2024-09-30")


def test_churn_lists_the_opening_book_and_who_churned_with_their_owner(churn_book):
    rows = repkpi.detail(churn_book, "churn_rate", period="2024Q3")

    assert set(rows["table"]) == {"accounts"}
    assert cells(rows, ["period", "account_id", "rep_id", "churned_on", *FLAGS]) == [
        ("2024Q3", "A1", "R1", "2024-08-10", True, True, 1.0, 1.0),
        ("2024Q3", "A2", "R2", None, False, True, 0.0, 1.0),
        # A5's churn on 2024-10-15, after the as-of date, has not happened: blanked at load.
        ("2024Q3", "A5", None, None, False, True, 0.0, 1.0),
    ]
    churned = rows.query("in_numerator")[["account_id", "rep_id", "churned_on"]]
    assert cells(churned, ["account_id", "rep_id"]) == [("A1", "R1")]
    # The KPI agrees: 1 / 3.
    assert cells(repkpi.kpis.churn_rate(churn_book, start="2024Q3", end="2024Q3"),
                 ["numerator", "denominator"]) == [(1.0, 3.0)]


def test_churn_by_rep_keeps_the_unassigned_account_in_its_own_group(churn_book):
    rows = repkpi.detail(churn_book, "churn_rate", period="2024Q3", by="rep_id")
    # R1: S = {A1}, C = {A1}; R2: S = {A2}; unassigned: S = {A5}.
    assert cells(rows, ["rep_id", "account_id", "in_numerator"]) == [
        ("R1", "A1", True), ("R2", "A2", False), (None, "A5", False)]
    assert cells(sums(rows, ["rep_id"], FLAGS[2:]), ["rep_id", *FLAGS[2:]]) == [
        ("<NA>", 0.0, 1.0), ("R1", 1.0, 1.0), ("R2", 0.0, 1.0)]


def test_the_period_can_be_a_month_a_year_or_a_pandas_period(churn_book):
    # 2024-08: opening book on 2024-07-31 = A1, A2, A3, A5; A1 churns on 2024-08-10.
    month = repkpi.detail(churn_book, "churn_rate", period="2024-08")
    assert cells(month, ["period", "account_id", "in_numerator"]) == [
        ("2024-08", "A1", True), ("2024-08", "A2", False), ("2024-08", "A3", False),
        ("2024-08", "A5", False)]
    # 2024: opening book on 2023-12-31 = A4 alone, which churns on 2024-05-20.
    year = repkpi.detail(churn_book, "churn_rate", period="2024")
    assert cells(year, ["period", "account_id", "in_numerator"]) == [("2024", "A4", True)]
    as_period = repkpi.detail(churn_book, "churn_rate", period=pd.Period("2024Q3", freq="Q"))
    pd.testing.assert_frame_equal(as_period,
                                  repkpi.detail(churn_book, "churn_rate", period="2024Q3"))


def test_fiscal_labels_name_fiscal_periods(churn_book):
    # Fiscal years from April: FY2025 Q2 is July-September 2024, calendar 2024Q3.
    rows = repkpi.detail(churn_book, "new_customers", period="2025Q2", fiscal_year_start=4)
    # customer_since in July-September 2024: A3 alone.
    assert cells(rows, ["account_id", "in_numerator", "numerator_weight"]) == [("A3", True, 1.0)]
    assert list(rows["period"]) == [pd.Period("2025Q2", freq="Q-MAR")]


def test_growth_lists_last_periods_new_customers_under_this_period():
    # new(2024Q2) = A1, A2; new(2024Q3) = A3, A4, A5; A6 is older.
    # growth = (3 - 2) / 2: numerator 1, denominator 2.
    # P-1's rows: numerator_weight -1 (they are subtracted), denominator_weight 1;
    # P's rows: numerator_weight 1, denominator_weight 0.
    data = repkpi.CrmData(accounts=frame(
        account_id=["A1", "A2", "A3", "A4", "A5", "A6"],
        customer_since=["2024-04-10", "2024-05-20", "2024-07-15", "2024-08-20", "2024-09-09",
                        "2024-01-20"]))
    rows = repkpi.detail(data, "new_customer_growth", period="2024Q3")

    assert list(rows.columns[:3]) == ["period", "from_period", "table"]
    assert cells(rows, ["period", "from_period", "account_id", *FLAGS]) == [
        ("2024Q3", "2024Q2", "A1", True, True, -1.0, 1.0),
        ("2024Q3", "2024Q2", "A2", True, True, -1.0, 1.0),
        ("2024Q3", "2024Q3", "A3", True, False, 1.0, 0.0),
        ("2024Q3", "2024Q3", "A4", True, False, 1.0, 0.0),
        ("2024Q3", "2024Q3", "A5", True, False, 1.0, 0.0),
    ]
    last = rows[rows["from_period"] == pd.Period("2024Q2", freq="Q")]
    assert sorted(last["account_id"]) == ["A1", "A2"]
    assert (rows["numerator_weight"].sum(), rows["denominator_weight"].sum()) == (1.0, 2.0)


def test_a_ticket_resolved_late_breaks_the_sla_by_its_hours_late():
    # Default targets: urgent 4 h, high 24 h, normal 72 h, low 120 h.
    #   T1 high,   opened 07-02 08:00, resolved 07-03 20:00: deadline 07-03 08:00, 12 h late: breached
    #   T2 urgent, opened 07-10 09:00, resolved 07-10 10:30: deadline 13:00, 2.5 h to spare: met
    #   T3 normal, opened 07-11 09:00, resolved 07-12 09:00: deadline 07-14 09:00, 48 h to spare: met
    #   T4 low,    opened 09-30 20:00, open: deadline 10-05 20:00, after the data ends: pending
    #   T5 normal, opened in 2024Q2:                  another period
    # sla_compliance(2024Q3) = met / (met + breached) = 2 / 3.
    data = repkpi.CrmData(tickets=frame(
        ticket_id=["T1", "T2", "T3", "T4", "T5"],
        account_id=["A1"] * 5,
        priority=["high", "urgent", "normal", "low", "normal"],
        opened_at=["2024-07-02T08:00:00Z", "2024-07-10T09:00:00Z", "2024-07-11T09:00:00Z",
                   "2024-09-30T20:00:00Z", "2024-06-03T09:00:00Z"],
        resolved_at=["2024-07-03T20:00:00Z", "2024-07-10T10:30:00Z", "2024-07-12T09:00:00Z",
                     None, "2024-06-04T09:00:00Z"]))
    rows = repkpi.detail(data, "sla_compliance", period="2024Q3")

    assert set(rows["table"]) == {"tickets"}
    assert cells(rows, ["ticket_id", "priority", "deadline", "hours_late", *FLAGS]) == [
        ("T1", "high", "2024-07-03T08:00:00+00:00", 12.0, False, True, 0.0, 1.0),
        ("T2", "urgent", "2024-07-10T13:00:00+00:00", -2.5, True, True, 1.0, 1.0),
        ("T3", "normal", "2024-07-14T09:00:00+00:00", -48.0, True, True, 1.0, 1.0),
    ]
    assert {"opened_at", "resolved_at"} <= set(rows.columns)


def test_renewal_pipeline_of_a_future_quarter_lists_the_contracts_due_then():
    # The data ends on 2024-05-20 (the latest customer_since); 2024Q3 is ahead of it.
    #   C1 A1 2023-08-01 .. 2024-07-31   1 200  due 2024Q3; C3 renews it (signed early)
    #   C2 A2 2023-09-15 .. 2024-09-14   5 000  due 2024Q3; nothing renews it (yet)
    #   C3 A1 2024-08-01 .. 2025-07-31   1 500  renews C1; due 2025Q3
    #   C4 A3 2024-05-20 .. 2025-05-19     800  due 2025Q2
    #   C5 A2 2022-09-15 .. 2023-09-14   4 000  due 2023Q3, renewed by C2
    # renewal_rate(2024Q3) = 1 / 2; renewal_value_rate = 1 200 / 6 200.
    data = repkpi.CrmData(
        accounts=frame(account_id=["A1", "A2", "A3"],
                       customer_since=["2023-08-01", "2022-09-15", "2024-05-20"]),
        contracts=frame(
            contract_id=["C1", "C2", "C3", "C4", "C5"],
            account_id=["A1", "A2", "A1", "A3", "A2"],
            start_date=["2023-08-01", "2023-09-15", "2024-08-01", "2024-05-20", "2022-09-15"],
            end_date=["2024-07-31", "2024-09-14", "2025-07-31", "2025-05-19", "2023-09-14"],
            annual_value=["1200", "5000", "1500", "800", "4000"],
            renewal_of=[None, "C5", "C1", None, None]))
    rows = repkpi.detail(data, "renewal_rate", period="2024Q3")

    assert set(rows["table"]) == {"contracts"}
    assert cells(rows, ["contract_id", "account_id", "end_date", "annual_value", "renewed_by",
                        *FLAGS]) == [
        ("C1", "A1", "2024-07-31", 1200.0, "C3", True, True, 1.0, 1.0),
        ("C2", "A2", "2024-09-14", 5000.0, None, False, True, 0.0, 1.0),
    ]
    value = repkpi.detail(data, "renewal_value_rate", period="2024Q3")
    assert cells(value, ["contract_id", "numerator_weight", "denominator_weight"]) == [
        ("C1", 1200.0, 1200.0), ("C2", 0.0, 5000.0)]


def test_an_nps_detractor_weighs_minus_one():
    # Responses in 2024Q3 with an nps: S1 10 and S2 9 promoters (+1), S3 7 passive (0),
    # S4 3 detractor (-1). S5 has a csat only: no nps response. S6 is in 2024Q2.
    # nps = 100 x (2 - 1) / 4 = 25: numerator 1, denominator 4.
    data = repkpi.CrmData(surveys=frame(
        response_id=["S1", "S2", "S3", "S4", "S5", "S6"],
        account_id=["A1", "A1", "A2", "A2", "A3", "A3"],
        responded_at=["2024-07-05T10:00:00Z", "2024-08-01T09:00:00Z", "2024-08-15T12:00:00Z",
                      "2024-09-30T23:00:00Z", "2024-09-01T08:00:00Z", "2024-06-30T23:00:00Z"],
        csat=[None, None, None, None, "4", None],
        nps=["10", "9", "7", "3", None, "10"]))
    rows = repkpi.detail(data, "nps", period="2024Q3")

    assert cells(rows, ["response_id", *FLAGS]) == [
        ("S1", True, True, 1.0, 1.0),
        ("S2", True, True, 1.0, 1.0),
        ("S3", False, True, 0.0, 1.0),
        ("S4", True, True, -1.0, 1.0),
    ]
    assert cells(repkpi.kpis.nps(data, start="2024Q3", end="2024Q3"),
                 ["numerator", "denominator", "value"]) == [(1.0, 4.0, 25.0)]


def test_the_forward_view_on_the_sample_lists_every_contract_due():
    # The sample ends on 2026-09-30; 2026Q4 is the renewal pipeline.
    data = dataset("sample")
    rows = repkpi.detail(data, "renewal_rate", period="2026Q4")
    contracts = data.contracts
    due = contracts.loc[(contracts["end_date"] >= "2026-10-01") & (contracts["end_date"] <= "2026-12-31"),
                        "contract_id"]
    assert len(due) > 0
    assert sorted(rows["contract_id"]) == sorted(due)
    assert rows["in_denominator"].all()
    assert rows["denominator_weight"].sum() == len(due)
    # in_numerator: the contracts due that a recorded contract already renews.
    renewed = due[due.isin(contracts["renewal_of"])]
    assert sorted(rows.loc[rows["in_numerator"], "contract_id"]) == sorted(renewed)
    assert rows["numerator_weight"].sum() == len(renewed)
    # The KPI itself has no value for a quarter not lived: NA, never a rate of contracts not yet due.
    forward = repkpi.kpis.renewal_rate(data, start="2026Q4", end="2026Q4")
    assert forward[["numerator", "denominator", "value"]].isna().all(axis=None)
    assert forward.attrs["after_as_of"] == [pd.Period("2026Q4", "Q")]


# -- errors ------------------------------------------------------------------------------------


def test_an_unknown_kpi_is_refused():
    with pytest.raises(repkpi.OptionError, match="no_such_kpi"):
        repkpi.detail(dataset("sample"), "no_such_kpi", period="2025Q3")


def test_an_option_the_kpi_does_not_take_is_refused():
    with pytest.raises(repkpi.OptionError, match="threshold"):
        repkpi.detail(dataset("sample"), "churn_rate", period="2025Q3", threshold=10)


def test_a_market_kpi_by_rep_is_refused_as_the_kpi_refuses_it():
    with pytest.raises(repkpi.OptionError, match="rep_id"):
        repkpi.kpis.market_share(dataset("sample"), by="rep_id")
    with pytest.raises(repkpi.OptionError, match="rep_id"):
        repkpi.detail(dataset("sample"), "market_share", period="2025Q3", by="rep_id")


def test_a_kpi_option_reaches_the_kpi():
    data = dataset("sample")
    rows = repkpi.detail(data, "large_deals", period="2025Q3", threshold=10_000)
    want = repkpi.kpis.large_deals(data, start="2025Q3", end="2025Q3", threshold=10_000)
    default = repkpi.kpis.large_deals(data, start="2025Q3", end="2025Q3")
    assert rows["numerator_weight"].sum() == want["numerator"].iloc[0]
    assert want["numerator"].iloc[0] > default["numerator"].iloc[0]


# -- Dask ---------------------------------------------------------------------------------------

DASK_KPIS = ["churn_rate", "sla_compliance", "renewal_rate", "revenue", "resolution_hours",
             "net_revenue_retention"]
"""KPIs of several kinds, checked by region; one KPI of each Dask route is checked ungrouped by
default, every other KPI in the ``slow`` sweep."""
DASK_CASES = [budgeted(kpi, None) for kpi in repkpi.KPIS] + [(kpi, "region") for kpi in DASK_KPIS]


@pytest.fixture(scope="module")
def dask_sample(tmp_path_factory):
    """The sample on a two-worker LocalCluster, each table split in two part files, rows in turn."""
    folder = tmp_path_factory.mktemp("split")
    for file in sorted(Path(repkpi.sample_path()).glob("*.csv")):
        raw = pd.read_csv(file, dtype="str", keep_default_na=False, na_values=[""])
        (folder / file.stem).mkdir()
        for part in range(2):
            raw.iloc[part::2].to_csv(folder / file.stem / f"part-{part:04d}.csv", index=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0", memory_limit="2GiB") as local, \
            distributed.Client(local):
        yield repkpi.load(folder, engine="dask")


def in_order(rows: pd.DataFrame) -> pd.DataFrame:
    if hasattr(rows, "compute"):  # a lazy result: the rows are what it computes to
        rows = rows.compute()
    ids = [c for c in ["table", *{c for ids in IDS.values() for c in ids}] if c in rows.columns]
    return rows.sort_values(["period", *sorted(ids)], kind="stable").reset_index(drop=True)


@pytest.mark.dask
@pytest.mark.parametrize(("kpi", "by"), DASK_CASES)
def test_dask_data_gives_the_same_rows(dask_sample, kpi, by):
    got = repkpi.detail(dask_sample, kpi, period="2025Q3", by=by)
    want = repkpi.detail(dataset("sample"), kpi, period="2025Q3", by=by)
    # The same rows and values; a text column may come back in another string dtype.
    pd.testing.assert_frame_equal(in_order(got), in_order(want), check_dtype=False, rtol=1e-9)
