"""Reference implementation of every repkpi KPI in plain DuckDB SQL.

This module is an *independent* second implementation of the contract in
``spec/data-model.md`` and ``spec/kpis.md``. It deliberately shares no code
with the ``repkpi`` package: it is used

* to cross-check the pandas library (both must agree to 1e-9 relative), and
* as the baseline of the benchmarks.

Each KPI is one SQL query built from common table expressions (CTEs):

``bounds`` / ``months`` / ``grid`` / ``periods``
    the period grid: every calendar month between the first and the last
    non-null date of all the date/datetime columns of all the tables the KPI
    reads (``generate_series`` over months), truncated to the frequency.
    Market KPIs use the market table's periods instead.
``keyed``
    the KPI's main table with one extra column ``__grp``: the value of the
    ``by`` dimension (own column, else ``accounts`` via ``account_id``, else
    ``reps`` via the row's ``rep_id`` or the account's ``rep_id``).
``groups`` / ``frame``
    every distinct ``__grp`` seen in the main table (NULL is a group) crossed
    with every period: the output has exactly one row per (period, group).
``agg``
    the KPI itself, aggregated per (period, group) and LEFT JOINed on
    ``frame`` (counts default to 0, medians to NULL).

Windows (analysis.md, "Windows"; ``window=`` of ``kpi`` and ``compute_all``):
each row of ``periods`` also holds ``s_first``, the first day of the span
that the value at P covers (P's own first day; the year's or the quarter's
for ``"ytd"`` and ``"qtd"``; N - 1 periods earlier for a number N), and
``c_first``, the first day of the period whose span P is compared with
(growth, deltas: N periods back, a year back for ``"ytd"`` and ``"qtd"``).
Events join P when their period lies between ``s_first`` and P (so a row
meets every span that holds it), states are taken on the day before
``s_first`` and on ``p_last``, medians over the rows so joined, engaged
accounts counted once per span, and the market's rows summed over the
span's periods, a (span, region) covered only when each of its periods is.

Conventions (shared with the pandas library):

* timestamps are normalised to UTC and belong to the period of their UTC date;
* counts and sums: ``value = numerator``, ``denominator = 1``;
* ratios: ``value = numerator / denominator``, NaN when the denominator is 0;
* medians: numerator and denominator NaN, ``value`` = ``quantile_cont(0.5)``;
* ``nps``: ``value = 100 * numerator / denominator``.

Interpretation notes (where the spec leaves room, this is what is done):

* the grid of a KPI uses only the tables the KPI itself reads (``KPIS``
  below), never a table consulted just to look up the ``by`` column;
* every table of ``KPIS[name]`` must be loaded (``engagement_rate`` needs
  accounts, activities *and* surveys), else ``MissingTableError``;
* ``new_customer_growth`` when new(P-1) = 0: numerator = new(P),
  denominator = 0, value NaN;
* market: the grid runs from the first to the last market period (gaps are
  filled), converted to ``freq``; a deal counts when its period *at freq*
  is in that grid (so at ``freq="Y"`` a year only half covered by market rows
  still gets the whole year of our revenue). By region, deals of accounts
  whose region is not a market region (or is empty) are left out;
* the opening state of P (churn's and retention's S, NRR's and GRR's ARR
  at the start) is taken on P.open, the day before P.first: an account whose
  ``churned_on`` is P.first is in P's S and churns in P;
* a declared as-of date (``connect(folder, as_of="2025-11-14")``) cuts the
  tables as kpis.md's "The as-of date is a cut-off" says, in SQL (``DELETE``
  the rows dated after it, ``UPDATE`` the later dates to NULL and the deals
  won or lost after it to ``open``), and is then the data's as-of date;
* states that depend on "now" (an open ticket past its deadline) are judged
  at the close of the as-of date, 24:00 UTC (kpis.md, "Snapshot time");
* only the spec defaults are implemented (no ``fiscal_year_start``,
  ``start``/``end``, ``method``, ``kinds``, ``targets`` options),
  except the service KPIs' ``clock="business"`` with a ``calendar`` (below);
  input is assumed valid (unique ids, enum values), CSV only.

The business clock (kpis.md, "Business hours and pauses"; no ``pause``):
the calendar becomes, in Python, a table ``openings`` of its open
intervals in UTC (``cal``, ``o_start``, ``o_end`` in microseconds), one
local opening range of one local day at a time, holidays left out, each
range cut where the zone's UTC offset changes (``zoneinfo``; a day has at
most one change), one set of rows per combination of ``by`` overrides
(``cal`` = ``"region=apac"``, ``""`` for the base schedule). SQL then

* sums, per ticket, the overlap of ``[opened_at, t]`` with the ticket's
  intervals (joined on the UTC day an interval starts on, for the days the
  ticket spans): the business hours to ``first_response_at`` and
  ``resolved_at``;
* finds the deadline with running sums of interval lengths (``before``,
  ``upto``): the business time before ``opened_at`` is ``before`` of the
  last interval starting by then plus the part of it elapsed; the deadline
  is in the first interval whose ``upto`` reaches that plus the target
  (an ``ASOF`` join), NULL when the calendar never gets there.

Public API::

    con = connect("data/sample")                 # or connect(folder, as_of="2025-11-14")
    df = kpi(con, "churn_rate", freq="Q", by="region")
    long = compute_all(con, freq="M", by="rep_id")
    ttm = compute_all(con, freq="M", window=12)   # or window="ytd", "qtd", 4 (quarters)...
    df = kpi(con, "sla_compliance", clock="business", calendar={"timezone": ..., "hours": ...})
    rows = ticket_clock(con, calendar)   # each ticket's business hours and deadlines
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import zoneinfo
from pathlib import Path

import duckdb
import pandas as pd

# --------------------------------------------------------------------------
# Canonical tables (data-model.md)
# --------------------------------------------------------------------------

SCHEMA: dict[str, dict[str, str]] = {
    "accounts": {
        "account_id": "str",
        "account_name": "str",
        "rep_id": "str",
        "region": "str",
        "segment": "str",
        "customer_since": "date",
        "churned_on": "date",
    },
    "contracts": {
        "contract_id": "str",
        "account_id": "str",
        "start_date": "date",
        "end_date": "date",
        "annual_value": "money",
        "renewal_of": "str",
    },
    "deals": {
        "deal_id": "str",
        "account_id": "str",
        "rep_id": "str",
        "created_on": "date",
        "closed_on": "date",
        "stage": "str",
        "amount": "money",
        "deal_type": "str",
        "channel": "str",
    },
    "tickets": {
        "ticket_id": "str",
        "account_id": "str",
        "rep_id": "str",
        "opened_at": "datetime",
        "first_response_at": "datetime",
        "resolved_at": "datetime",
        "priority": "str",
        "kind": "str",
    },
    "surveys": {
        "response_id": "str",
        "account_id": "str",
        "rep_id": "str",
        "responded_at": "datetime",
        "csat": "int",
        "nps": "int",
    },
    "activities": {
        "activity_id": "str",
        "account_id": "str",
        "occurred_on": "date",
        "kind": "str",
    },
    "market": {
        "period": "str",
        "region": "str",
        "company": "str",
        "revenue": "money",
    },
    "reps": {
        "rep_id": "str",
        "name": "str",
        "team": "str",
        "region": "str",
        "hired_on": "date",
        "left_on": "date",
    },
}

DATE_COLUMNS = {
    table: [c for c, t in cols.items() if t in ("date", "datetime")] for table, cols in SCHEMA.items()
}

# --------------------------------------------------------------------------
# KPI parameters (spec defaults)
# --------------------------------------------------------------------------

KEY_ACCOUNT_THRESHOLD = 100_000
LARGE_DEAL_THRESHOLD = 50_000
SLA_TARGET_HOURS = {"urgent": 4, "high": 24, "normal": 72, "low": 120}
RESPONSE_TARGET_HOURS = {"urgent": 1, "high": 4, "normal": 24, "low": 48}
SENIOR_YEARS = 3

FREQ_UNIT = {"M": "month", "Q": "quarter", "Y": "year"}
FREQ_MONTHS = {"M": 1, "Q": 3, "Y": 12}

# KPI name -> (tables it reads, first one = main table; kind of result)
# kind: count | ratio | median | nps | growth | delta
KPIS: dict[str, tuple[list[str], str]] = {
    "new_customers": (["accounts"], "count"),
    "new_customer_growth": (["accounts"], "growth"),
    "active_customers": (["accounts"], "count"),
    "churn_rate": (["accounts"], "ratio"),
    "retention_rate": (["accounts"], "ratio"),
    "engagement_rate": (["accounts", "activities", "surveys"], "ratio"),
    "key_accounts": (["accounts", "deals"], "count"),
    "revenue": (["deals"], "count"),
    "win_rate": (["deals"], "ratio"),
    "cross_sell_rate": (["deals"], "ratio"),
    "cross_sell_wins": (["deals"], "count"),
    "large_deals": (["deals"], "count"),
    "average_deal_size": (["deals"], "ratio"),
    "renewal_rate": (["contracts"], "ratio"),
    "renewal_value_rate": (["contracts"], "ratio"),
    "net_revenue_retention": (["contracts"], "ratio"),
    "gross_revenue_retention": (["contracts"], "ratio"),
    "sla_compliance": (["tickets"], "ratio"),
    "first_response_sla": (["tickets"], "ratio"),
    "first_response_hours": (["tickets"], "median"),
    "resolution_hours": (["tickets"], "median"),
    "csat": (["surveys"], "ratio"),
    "csat_mean": (["surveys"], "ratio"),
    "nps": (["surveys"], "nps"),
    "market_share": (["market", "deals"], "ratio"),
    "market_share_delta": (["market", "deals"], "delta"),
    "market_rank": (["market", "deals"], "count"),
    "senior_reps": (["reps"], "count"),
}

KPI_NAMES: list[str] = list(KPIS)
MARKET_KPIS = {"market_share", "market_share_delta", "market_rank"}


class MissingTableError(LookupError):
    """A KPI needs a table that is not loaded."""


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------

_SQL_TYPE = {
    "str": "VARCHAR",
    "date": "DATE",
    "datetime": "TIMESTAMP",
    "money": "DOUBLE",
    "int": "INTEGER",
}


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _cast(expr: str, typ: str) -> str:
    """SQL casting a VARCHAR expression (empty string = NULL) to a canonical type."""
    v = f"NULLIF({expr}, '')"
    if typ == "datetime":
        # mixed naive / Z / +hh:mm values: parse as TIMESTAMPTZ (session time
        # zone is UTC, so naive = UTC), then drop the zone: a plain UTC TIMESTAMP
        return f"CAST(CAST({v} AS TIMESTAMPTZ) AS TIMESTAMP)"
    return f"CAST({v} AS {_SQL_TYPE[typ]})"


def connect(data_dir: str | os.PathLike, *, as_of: str | None = None) -> duckdb.DuckDBPyConnection:
    """Load every ``<table>.csv`` of ``data_dir`` into typed DuckDB tables.

    Columns of the data model missing from a file load as NULL columns of the
    right type; extra columns are kept as VARCHAR. Absent tables stay absent.
    ``as_of`` (``"YYYY-MM-DD"``) declares the cut-off: the tables are read as
    they stood at its close (see :data:`CUT`).
    """
    data_dir = Path(data_dir)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for table, columns in SCHEMA.items():
        path = data_dir / f"{table}.csv"
        if not path.exists():
            continue
        source = (
            f"read_csv({_quote_str(str(path))}, header = true, all_varchar = true, "
            "delim = ',', quote = '\"', escape = '\"')"
        )
        file_cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
        select = []
        for col, typ in columns.items():
            if col in file_cols:
                select.append(f"{_cast(_quote_ident(col), typ)} AS {_quote_ident(col)}")
            else:
                select.append(f"CAST(NULL AS {_SQL_TYPE[typ]}) AS {_quote_ident(col)}")
        for col in file_cols:
            if col not in columns:
                select.append(f"NULLIF({_quote_ident(col)}, '') AS {_quote_ident(col)}")
        con.execute(f"CREATE TABLE {table} AS SELECT {', '.join(select)} FROM {source}")
    if as_of is not None:
        loaded = _tables(con)
        for table, statement in CUT:
            if table in loaded:
                con.execute(statement.format(table=table, d=f"DATE {_quote_str(as_of)}"))
    _create_as_of(con, as_of)
    return con


CUT = [
    ("accounts", "UPDATE {table} SET customer_since = NULL WHERE customer_since > {d}"),
    ("accounts", "UPDATE {table} SET churned_on = NULL WHERE churned_on > {d}"),
    ("deals", "DELETE FROM {table} WHERE created_on > {d}"),
    ("deals", "UPDATE {table} SET stage = 'open' WHERE stage IN ('won', 'lost') AND closed_on > {d}"),
    ("tickets", "DELETE FROM {table} WHERE CAST(opened_at AS DATE) > {d}"),
    ("tickets", "UPDATE {table} SET first_response_at = NULL "
                "WHERE CAST(first_response_at AS DATE) > {d}"),
    ("tickets", "UPDATE {table} SET resolved_at = NULL WHERE CAST(resolved_at AS DATE) > {d}"),
    ("surveys", "DELETE FROM {table} WHERE CAST(responded_at AS DATE) > {d}"),
    ("activities", "DELETE FROM {table} WHERE occurred_on > {d}"),
    ("reps", "DELETE FROM {table} WHERE hired_on > {d}"),
    ("reps", "UPDATE {table} SET left_on = NULL WHERE left_on > {d}"),
]
"""The cut-off at a declared as-of date ``d`` (kpis.md): what had not happened by its close.

Deals created, tickets opened, surveys, activities and reps hired after it do
not exist yet; a customer since, a churn, a first response, a resolution or a
leaving after it has not happened (NULL); a deal won or lost after it is
still open. Contracts and market rows are read as they are (UTC dates of
timestamps)."""


RECORDED = {
    "accounts": ["customer_since"],
    "deals": ["created_on", "closed_on"],
    "tickets": ["opened_at", "first_response_at", "resolved_at"],
    "surveys": ["responded_at"],
    "activities": ["occurred_on"],
}
"""Columns that record what has happened (kpis.md, "Complete periods")."""


def _create_as_of(con, declared: str | None = None) -> None:
    """The view ``as_of(d)``: the declared date, else the latest recorded date (UTC; only won
    or lost deals' closed_on)."""
    if declared is not None:
        con.execute(f"CREATE VIEW as_of AS SELECT DATE {_quote_str(declared)} AS d")
        return
    loaded = _tables(con)
    parts = []
    for table, columns in RECORDED.items():
        if table not in loaded:
            continue
        for col in columns:
            where = " AND stage IN ('won', 'lost')" if col == "closed_on" else ""
            parts.append(f"SELECT CAST({col} AS DATE) AS d FROM {table} WHERE {col} IS NOT NULL{where}")
    body = " UNION ALL ".join(parts) if parts else "SELECT CAST(NULL AS DATE) AS d"
    con.execute(f"CREATE VIEW as_of AS SELECT max(d) AS d FROM ({body})")


def _tables(con) -> set[str]:
    return {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}


def _columns(con, table: str) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = ? ORDER BY column_index",
            [table],
        ).fetchall()
    ]


# --------------------------------------------------------------------------
# SQL building blocks
# --------------------------------------------------------------------------


SNAPSHOT = "SELECT CAST((SELECT d FROM as_of) + INTERVAL 1 DAY AS TIMESTAMP) AS as_of"
"""When states are judged: the close of the as-of date (24:00 UTC)."""


def _trunc(expr: str, freq: str) -> str:
    """First day of the period (at ``freq``) containing the date ``expr``."""
    return f"CAST(date_trunc('{FREQ_UNIT[freq]}', {expr}) AS DATE)"


_OPEN = "CAST(p.s_first - INTERVAL 1 DAY AS DATE)"
"""The span's opening, the day before its first day (P.open, the day before P.first, for a
period alone): the opening state of P is the closing state of P-1."""


def _in_span(expr: str, freq: str, alias: str = "p") -> str:
    """The date ``expr`` lies in the span of period ``alias``: its period from s_first to P."""
    return f"{_trunc(expr, freq)} BETWEEN {alias}.s_first AND {alias}.p_first"


def _span_sql(freq: str, window) -> tuple[str, str]:
    """SQL of ``s_first`` and ``c_first`` from a period's ``p_first`` (see the module's docstring)."""
    step = FREQ_MONTHS[freq]
    if window == "period":
        return "p_first", f"CAST(p_first - INTERVAL {step} MONTH AS DATE)"
    if window in ("ytd", "qtd"):
        if window == "qtd" and freq != "M":
            raise ValueError(f"window='qtd' needs freq='M', got {freq!r}")
        unit = "year" if window == "ytd" else "quarter"
        return (f"CAST(date_trunc('{unit}', p_first) AS DATE)",
                "CAST(p_first - INTERVAL 12 MONTH AS DATE)")
    n = int(window)
    if n < 1:
        raise ValueError(f"window must be 'period', 'ytd', 'qtd' or a number >= 1, got {window!r}")
    return (f"CAST(p_first - INTERVAL {(n - 1) * step} MONTH AS DATE)",
            f"CAST(p_first - INTERVAL {n * step} MONTH AS DATE)")


def _active_on(a: str, day: str) -> str:
    """Account alias ``a`` is a customer on ``day``."""
    return f"({a}.customer_since <= {day} AND ({a}.churned_on IS NULL OR {day} < {a}.churned_on))"


def _label(freq: str) -> str:
    if freq == "M":
        return "strftime(p_first, '%Y-%m')"
    if freq == "Q":
        return "strftime(p_first, '%Y') || 'Q' || CAST(quarter(p_first) AS VARCHAR)"
    return "strftime(p_first, '%Y')"


def _periods_ctes(freq: str, months_sql: str, window="period") -> str:
    """``grid``/``periods`` CTEs from a ``months`` CTE body (column ``m``)."""
    step = FREQ_MONTHS[freq]
    s_first, c_first = _span_sql(freq, window)
    return f"""
months AS ({months_sql}),
grid AS (
    SELECT DISTINCT {_trunc("m", freq)} AS p_first FROM months
),
period_ends AS (
    SELECT p_first, CAST(p_first + INTERVAL {step} MONTH - INTERVAL 1 DAY AS DATE) AS p_end
    FROM grid
),
periods AS (  -- in the period in progress, the end is the as-of date
    SELECT p_first,
           CASE WHEN (SELECT d FROM as_of) >= p_first AND (SELECT d FROM as_of) < p_end
                THEN (SELECT d FROM as_of) ELSE p_end END AS p_last,
           {_label(freq)} AS period,
           {s_first} AS s_first,
           {c_first} AS c_first
    FROM period_ends
)"""


def _grid_ctes(tables: list[str], freq: str, window="period") -> str:
    """Period grid spanned by all date/datetime columns of ``tables``."""
    parts = [
        f"SELECT CAST({col} AS DATE) AS d FROM {table}" for table in tables for col in DATE_COLUMNS[table]
    ]
    union = "\n        UNION ALL ".join(parts)
    months = """
    SELECT unnest(generate_series(
               CAST(date_trunc('month', lo) AS TIMESTAMP),
               CAST(date_trunc('month', hi) AS TIMESTAMP),
               INTERVAL 1 MONTH)) AS m
    FROM bounds
    WHERE lo IS NOT NULL"""
    return f"""
bounds AS (  -- from the first date of the KPI's tables to the as-of date of the whole data
    SELECT least(min(d), (SELECT d FROM as_of)) AS lo,
           coalesce((SELECT d FROM as_of), max(d)) AS hi FROM (
        {union}
    ) WHERE d IS NOT NULL
),{_periods_ctes(freq, months, window)}"""


def _by_expr(con, name: str, main: str, by: str | None) -> tuple[str, str]:
    """(FROM clause producing the main table rows as ``t``, SQL of the group)."""
    if by is None:
        return f"{main} AS t", "CAST(NULL AS VARCHAR)"
    loaded = _tables(con)
    main_cols = _columns(con, main)
    if by in main_cols:
        return f"{main} AS t", f"CAST(t.{_quote_ident(by)} AS VARCHAR)"
    if "accounts" in loaded and "account_id" in main_cols and main != "accounts":
        if by in _columns(con, "accounts"):
            return (
                f"{main} AS t LEFT JOIN accounts AS by_a ON by_a.account_id = t.account_id",
                f"CAST(by_a.{_quote_ident(by)} AS VARCHAR)",
            )
    if "reps" in loaded and by in _columns(con, "reps") and main != "reps":
        if "rep_id" in main_cols:
            return (
                f"{main} AS t LEFT JOIN reps AS by_r ON by_r.rep_id = t.rep_id",
                f"CAST(by_r.{_quote_ident(by)} AS VARCHAR)",
            )
        if "accounts" in loaded and "account_id" in main_cols:
            return (
                f"{main} AS t LEFT JOIN accounts AS by_a ON by_a.account_id = t.account_id "
                f"LEFT JOIN reps AS by_r ON by_r.rep_id = by_a.rep_id",
                f"CAST(by_r.{_quote_ident(by)} AS VARCHAR)",
            )
    available = set(main_cols)
    if "account_id" in main_cols and "accounts" in loaded:
        available |= set(_columns(con, "accounts"))
    if "reps" in loaded and ("rep_id" in main_cols or "account_id" in main_cols):
        available |= set(_columns(con, "reps"))
    raise ValueError(f"{name}: unknown by column {by!r}; available: {', '.join(sorted(available))}")


def _keyed_ctes(con, name: str, main: str, by: str | None) -> str:
    """``keyed`` (main table + ``__grp``), ``groups`` and ``frame`` CTEs."""
    source, grp = _by_expr(con, name, main, by)
    return f"""
keyed AS (
    SELECT t.*, {grp} AS __grp FROM {source}
),
groups AS (
    SELECT DISTINCT __grp FROM keyed
),
frame AS (
    SELECT periods.*, groups.__grp FROM periods CROSS JOIN groups
)"""


def _final(kind: str) -> str:
    """Final SELECT over ``frame`` LEFT JOIN ``agg`` (columns num, den / med)."""
    join = "FROM frame f LEFT JOIN agg a ON a.p_first = f.p_first AND a.__grp IS NOT DISTINCT FROM f.__grp"
    if kind == "count":
        cols = """CAST(coalesce(a.num, 0) AS DOUBLE) AS numerator,
       CAST(1 AS DOUBLE) AS denominator,
       CAST(coalesce(a.num, 0) AS DOUBLE) AS value"""
    elif kind in ("ratio", "nps"):
        scale = "100.0 * " if kind == "nps" else ""
        cols = f"""CAST(coalesce(a.num, 0) AS DOUBLE) AS numerator,
       CAST(coalesce(a.den, 0) AS DOUBLE) AS denominator,
       CASE WHEN coalesce(a.den, 0) = 0 THEN NULL
            ELSE {scale}CAST(coalesce(a.num, 0) AS DOUBLE) / CAST(a.den AS DOUBLE) END AS value"""
    elif kind == "median":
        cols = """CAST(NULL AS DOUBLE) AS numerator,
       CAST(NULL AS DOUBLE) AS denominator,
       CAST(a.med AS DOUBLE) AS value"""
    else:  # pragma: no cover
        raise ValueError(kind)
    return f"""
SELECT f.period, f.__grp, {cols}
{join}
ORDER BY f.p_first, f.__grp NULLS LAST"""


# --------------------------------------------------------------------------
# The KPIs: each returns the ``agg`` CTE(s) (and optionally its own final SELECT)
# --------------------------------------------------------------------------


def _sql_customers(name: str, freq: str) -> tuple[str, str]:
    in_p = lambda col: _in_span(col, freq)  # noqa: E731
    if name == "new_customers":
        return (
            f"""
agg AS (
    SELECT p.p_first, k.__grp, count(*) AS num
    FROM keyed k JOIN periods p ON {in_p("k.customer_since")}
    GROUP BY ALL
)""",
            _final("count"),
        )
    if name == "new_customer_growth":
        return (
            f"""
new_in_p AS (
    SELECT p.p_first, k.__grp, count(*) AS n
    FROM keyed k JOIN periods p ON {in_p("k.customer_since")}
    GROUP BY ALL
),
counts AS (
    SELECT f.p_first, f.c_first, f.period, f.__grp, coalesce(n.n, 0) AS n
    FROM frame f LEFT JOIN new_in_p n
      ON n.p_first = f.p_first AND n.__grp IS NOT DISTINCT FROM f.__grp
),
series AS (  -- against the span compared with (none before the grid: NULL)
    SELECT c.*, b.n AS prev
    FROM counts c LEFT JOIN counts b
      ON b.p_first = c.c_first AND b.__grp IS NOT DISTINCT FROM c.__grp
)""",
            """
SELECT period, __grp,
       CAST(n - prev AS DOUBLE) AS numerator,
       CAST(prev AS DOUBLE) AS denominator,
       CASE WHEN prev IS NULL OR prev = 0 THEN NULL
            ELSE CAST(n - prev AS DOUBLE) / CAST(prev AS DOUBLE) END AS value
FROM series
ORDER BY p_first, __grp NULLS LAST""",
        )
    if name == "active_customers":
        return (
            f"""
agg AS (
    SELECT p.p_first, k.__grp, count(*) AS num
    FROM periods p JOIN keyed k ON {_active_on("k", "p.p_last")}
    GROUP BY ALL
)""",
            _final("count"),
        )
    if name == "churn_rate":
        return (
            f"""
agg AS (  -- S = active on P.open (the day before P.first); C = those of S churned by P.last
    SELECT p.p_first, k.__grp,
           count(*) FILTER (WHERE k.churned_on <= p.p_last) AS num,
           count(*) AS den
    FROM periods p JOIN keyed k ON {_active_on("k", _OPEN)}
    GROUP BY ALL
)""",
            _final("ratio"),
        )
    if name == "retention_rate":
        return (
            f"""
e AS (  -- active on P.last
    SELECT p.p_first, k.__grp, count(*) AS e
    FROM periods p JOIN keyed k ON {_active_on("k", "p.p_last")}
    GROUP BY ALL
),
n AS (  -- acquired in P
    SELECT p.p_first, k.__grp, count(*) AS n
    FROM keyed k JOIN periods p ON {in_p("k.customer_since")}
    GROUP BY ALL
),
s AS (  -- active on P.open
    SELECT p.p_first, k.__grp, count(*) AS s
    FROM periods p JOIN keyed k ON {_active_on("k", _OPEN)}
    GROUP BY ALL
),
agg AS (
    SELECT f.p_first, f.__grp,
           coalesce(e.e, 0) - coalesce(n.n, 0) AS num,
           coalesce(s.s, 0) AS den
    FROM frame f
    LEFT JOIN e ON e.p_first = f.p_first AND e.__grp IS NOT DISTINCT FROM f.__grp
    LEFT JOIN n ON n.p_first = f.p_first AND n.__grp IS NOT DISTINCT FROM f.__grp
    LEFT JOIN s ON s.p_first = f.p_first AND s.__grp IS NOT DISTINCT FROM f.__grp
)""",
            _final("ratio"),
        )
    if name == "engagement_rate":
        return (
            f"""
engagements AS (
    SELECT account_id, occurred_on AS d FROM activities
    UNION ALL
    SELECT account_id, CAST(responded_at AS DATE) AS d FROM surveys
),
engaged_on AS (
    SELECT DISTINCT account_id, d FROM engagements WHERE d IS NOT NULL
),
engaged AS (  -- (account, period) pairs with at least one engagement in the period's span
    SELECT DISTINCT e.account_id, p.p_first
    FROM engaged_on e JOIN periods p ON {_in_span("e.d", freq)}
),
agg AS (
    SELECT p.p_first, k.__grp,
           count(g.account_id) AS num,
           count(*) AS den
    FROM periods p
    JOIN keyed k ON {_active_on("k", "p.p_last")}
    LEFT JOIN engaged g ON g.account_id = k.account_id AND g.p_first = p.p_first
    GROUP BY ALL
)""",
            _final("ratio"),
        )
    if name == "key_accounts":
        return (
            f"""
won AS (
    SELECT account_id, closed_on, amount FROM deals
    WHERE stage = 'won' AND closed_on IS NOT NULL
),
won_12m AS (  -- won amount per account over (P.last - 12 months, P.last]
    SELECT p.p_first, w.account_id, sum(w.amount) AS total
    FROM periods p
    JOIN won w ON w.closed_on > CAST(p.p_last - INTERVAL 12 MONTH AS DATE)
              AND w.closed_on <= p.p_last
    GROUP BY ALL
),
agg AS (
    SELECT p.p_first, k.__grp, count(*) AS num
    FROM periods p
    JOIN keyed k ON {_active_on("k", "p.p_last")}
    JOIN won_12m w ON w.account_id = k.account_id AND w.p_first = p.p_first
    WHERE w.total >= {KEY_ACCOUNT_THRESHOLD}
    GROUP BY ALL
)""",
            _final("count"),
        )
    raise KeyError(name)


def _sql_deals(name: str, freq: str) -> tuple[str, str]:
    xsell = "k.deal_type IN ('cross_sell', 'upsell')"
    won = "k.stage = 'won'"
    closed = "k.stage IN ('won', 'lost')"
    num_den, kind = {
        "revenue": (f"sum(k.amount) FILTER (WHERE {won}) AS num", "count"),
        "win_rate": (
            f"count(*) FILTER (WHERE {won}) AS num, count(*) FILTER (WHERE {closed}) AS den",
            "ratio",
        ),
        "cross_sell_rate": (
            f"count(*) FILTER (WHERE {won} AND {xsell}) AS num, "
            f"count(*) FILTER (WHERE {closed} AND {xsell}) AS den",
            "ratio",
        ),
        "cross_sell_wins": (f"count(*) FILTER (WHERE {won} AND {xsell}) AS num", "count"),
        "large_deals": (
            f"count(*) FILTER (WHERE {won} AND k.amount >= {LARGE_DEAL_THRESHOLD}) AS num",
            "count",
        ),
        "average_deal_size": (
            f"coalesce(sum(k.amount) FILTER (WHERE {won}), 0) AS num, "
            f"count(k.amount) FILTER (WHERE {won}) AS den",  # won deals that have an amount
            "ratio",
        ),
    }[name]
    return (
        f"""
agg AS (  -- deals closed in P
    SELECT p.p_first, k.__grp, {num_den}
    FROM keyed k JOIN periods p ON {_in_span("k.closed_on", freq)}
    GROUP BY ALL
)""",
        _final(kind),
    )


def _sql_contracts(name: str, freq: str) -> tuple[str, str]:
    if name in ("renewal_rate", "renewal_value_rate"):
        if name == "renewal_rate":
            num_den = "count(r.contract_id) AS num, count(*) AS den"
        else:
            num_den = (
                "coalesce(sum(k.annual_value) FILTER (WHERE r.contract_id IS NOT NULL), 0) AS num, "
                "sum(k.annual_value) AS den"
            )
        return (
            f"""
renewed AS (  -- contracts that some contract names in renewal_of
    SELECT DISTINCT renewal_of AS contract_id FROM contracts WHERE renewal_of IS NOT NULL
),
agg AS (  -- due = end_date in P
    SELECT p.p_first, k.__grp, {num_den}
    FROM keyed k
    JOIN periods p ON {_in_span("k.end_date", freq)}
    LEFT JOIN renewed r ON r.contract_id = k.contract_id
    GROUP BY ALL
)""",
            _final("ratio"),
        )
    if name in ("net_revenue_retention", "gross_revenue_retention"):
        if name == "net_revenue_retention":
            num = "sum(arr_end)"
        else:
            num = "sum(least(arr_end, arr_start))"
        return (
            f"""
arr AS (  -- ARR(a, P.open) and ARR(a, P.last) per account
    SELECT p.p_first, k.account_id, k.__grp,
           coalesce(sum(k.annual_value) FILTER (
               WHERE k.start_date <= {_OPEN}
                 AND (k.end_date IS NULL OR {_OPEN} <= k.end_date)), 0) AS arr_start,
           coalesce(sum(k.annual_value) FILTER (
               WHERE k.start_date <= p.p_last
                 AND (k.end_date IS NULL OR p.p_last <= k.end_date)), 0) AS arr_end
    FROM periods p  -- a contract with no end_date is evergreen: active from its start on
    JOIN keyed k ON k.start_date <= p.p_last AND (k.end_date IS NULL OR k.end_date >= {_OPEN})
    GROUP BY ALL
),
agg AS (  -- cohort = accounts with ARR(a, P.open) > 0
    SELECT p_first, __grp, {num} AS num, sum(arr_start) AS den
    FROM arr WHERE arr_start > 0
    GROUP BY ALL
)""",
            _final("ratio"),
        )
    raise KeyError(name)


def _sql_tickets(name: str, freq: str) -> tuple[str, str]:
    opened_in_p = _in_span("CAST(k.opened_at AS DATE)", freq)
    if name in ("sla_compliance", "first_response_sla"):
        # first_response_sla: the same rule on first_response_at, with the response targets.
        hours_of = SLA_TARGET_HOURS if name == "sla_compliance" else RESPONSE_TARGET_HOURS
        done = "resolved_at" if name == "sla_compliance" else "first_response_at"
        target = (
            "CASE k.priority "
            + " ".join(f"WHEN '{prio}' THEN {hours}" for prio, hours in hours_of.items())
            + " END"
        )
        return (
            f"""
ticket_as_of AS (  -- the close of the as-of date: 24:00 UTC
    {SNAPSHOT}
),
sla AS (
    SELECT k.*,
           k.opened_at + to_hours(CAST({target} AS BIGINT)) AS deadline,
           (k.{done} IS NOT NULL AND k.{done} <= as_of.as_of) AS is_resolved,
           as_of.as_of
    FROM keyed k CROSS JOIN ticket_as_of AS as_of
),
status AS (
    SELECT *,
           (is_resolved AND {done} <= deadline) AS met,
           ((is_resolved AND {done} > deadline)
            OR (NOT is_resolved AND as_of > deadline)) AS breached
    FROM sla
),
agg AS (
    SELECT p.p_first, k.__grp,
           count(*) FILTER (WHERE k.met) AS num,
           count(*) FILTER (WHERE k.met OR k.breached) AS den
    FROM status k JOIN periods p ON {opened_in_p}
    GROUP BY ALL
)""",
            _final("ratio"),
        )
    if name in ("first_response_hours", "resolution_hours"):
        col = "first_response_at" if name == "first_response_hours" else "resolved_at"
        return (
            f"""
agg AS (
    SELECT p.p_first, k.__grp,
           quantile_cont((epoch_us(k.{col}) - epoch_us(k.opened_at)) / 3600e6, 0.5) AS med
    FROM keyed k JOIN periods p ON {opened_in_p}
    WHERE k.{col} IS NOT NULL
    GROUP BY ALL
)""",
            _final("median"),
        )
    raise KeyError(name)


def _sql_surveys(name: str, freq: str) -> tuple[str, str]:
    num_den, kind = {
        "csat": ("count(*) FILTER (WHERE k.csat IN (4, 5)) AS num, count(k.csat) AS den", "ratio"),
        "csat_mean": ("coalesce(sum(k.csat), 0) AS num, count(k.csat) AS den", "ratio"),
        "nps": (
            "count(*) FILTER (WHERE k.nps >= 9) - count(*) FILTER (WHERE k.nps <= 6) AS num, "
            "count(k.nps) AS den",
            "nps",
        ),
    }[name]
    return (
        f"""
agg AS (  -- responses in P
    SELECT p.p_first, k.__grp, {num_den}
    FROM keyed k
    JOIN periods p ON {_in_span("CAST(k.responded_at AS DATE)", freq)}
    GROUP BY ALL
)""",
        _final(kind),
    )


def _sql_reps(name: str, freq: str) -> tuple[str, str]:
    return (
        f"""
agg AS (  -- employed on P.last and hired at least {SENIOR_YEARS} years before
    SELECT p.p_first, k.__grp, count(*) AS num
    FROM periods p
    JOIN keyed k ON (k.left_on IS NULL OR k.left_on > p.p_last)
                AND k.hired_on + INTERVAL {SENIOR_YEARS} YEAR <= p.p_last
    GROUP BY ALL
)""",
        _final("count"),
    )


# ------------------------------- market ----------------------------------


def _market_granularity(con) -> str | None:
    rows = con.execute(
        r"""
        SELECT DISTINCT CASE
            WHEN regexp_full_match(period, '\d{4}Q[1-4]') THEN 'Q'
            WHEN regexp_full_match(period, '\d{4}-(0[1-9]|1[0-2])') THEN 'M'
            ELSE 'bad' END
        FROM market
        """
    ).fetchall()
    kinds = {r[0] for r in rows}
    if "bad" in kinds or len(kinds) > 1:
        raise ValueError(
            "market: period values must all be quarters (2026Q3) or all months (2026-07), "
            f"got {sorted(kinds)}"
        )
    return kinds.pop() if kinds else None


def _market_sql(con, name: str, freq: str, by: str | None, window="period") -> str:
    if by not in (None, "region"):
        raise ValueError(f"{name}: by must be None or 'region', got {by!r}")
    gran = _market_granularity(con) or freq
    if FREQ_MONTHS[freq] < FREQ_MONTHS[gran]:
        raise ValueError(f"{name}: freq {freq!r} is finer than the market table's granularity {gran!r}")
    m_first = (
        "CASE WHEN contains(period, 'Q') "
        "THEN make_date(CAST(split_part(period, 'Q', 1) AS INTEGER), "
        "3 * CAST(split_part(period, 'Q', 2) AS INTEGER) - 2, 1) "
        "ELSE CAST(period || '-01' AS DATE) END"
    )
    months = f"""
    SELECT unnest(generate_series(
               CAST(least(min(m_first), date_trunc('month', (SELECT d FROM as_of))) AS TIMESTAMP),
               coalesce(CAST(date_trunc('month', (SELECT d FROM as_of)) AS TIMESTAMP),
                        CAST(max(m_first) AS TIMESTAMP) + INTERVAL {FREQ_MONTHS[gran] - 1} MONTH),
               INTERVAL 1 MONTH)) AS m
    FROM mkt
    HAVING min(m_first) IS NOT NULL"""
    if by is None:
        deals_from, deals_grp = "deals AS t", "CAST(NULL AS VARCHAR)"
        groups = "SELECT CAST(NULL AS VARCHAR) AS __grp"
        mkt_grp = "CAST(NULL AS VARCHAR)"
    else:
        deals_from, deals_grp = _by_expr(con, name, "deals", "region")
        groups = "SELECT DISTINCT region AS __grp FROM mkt"
        mkt_grp = "region"
    ctes = f"""
mkt AS (
    SELECT {m_first} AS m_first, region, company, revenue FROM market
),{_periods_ctes(freq, months, window)},
groups AS ({groups}),
frame AS (
    SELECT periods.*, groups.__grp FROM periods CROSS JOIN groups
),
keyed AS (
    SELECT t.*, {deals_grp} AS __grp FROM {deals_from}
),
ours AS (  -- our revenue: won deals closed in P's span
    SELECT f.p_first, f.__grp, sum(k.amount) AS ours
    FROM keyed k
    JOIN frame f ON {_in_span("k.closed_on", freq, "f")}
                AND k.__grp IS NOT DISTINCT FROM f.__grp
    WHERE k.stage = 'won'
    GROUP BY ALL
),
per_period AS (  -- each company's revenue in (period, group)
    SELECT {_trunc("m_first", freq)} AS p_first, {mkt_grp} AS __grp, company,
           sum(revenue) AS revenue
    FROM mkt
    GROUP BY ALL
),
competitors AS (  -- each company's revenue over (P's span, group)
    SELECT f.p_first, c.__grp, c.company, sum(c.revenue) AS revenue
    FROM periods f JOIN per_period c ON c.p_first BETWEEN f.s_first AND f.p_first
    GROUP BY ALL
),
totals AS (
    SELECT f.p_first, f.c_first, f.period, f.__grp,
           coalesce(o.ours, 0) AS ours,
           coalesce(o.ours, 0) + coalesce(
               (SELECT sum(c.revenue) FROM competitors c
                WHERE c.p_first = f.p_first AND c.__grp IS NOT DISTINCT FROM f.__grp), 0) AS total,
           1 + (SELECT count(*) FROM competitors c
                WHERE c.p_first = f.p_first AND c.__grp IS NOT DISTINCT FROM f.__grp
                  AND c.revenue > coalesce(o.ours, 0)) AS rank
    FROM frame f
    LEFT JOIN ours o ON o.p_first = f.p_first AND o.__grp IS NOT DISTINCT FROM f.__grp
),
covered AS (  -- (P, group) with market rows in each period of P's span: elsewhere there is
               -- no market to compare with
    SELECT f.p_first, c.__grp
    FROM periods f JOIN per_period c ON c.p_first BETWEEN f.s_first AND f.p_first
    GROUP BY ALL
    HAVING count(DISTINCT c.p_first)
           = datediff('month', any_value(f.s_first), any_value(f.p_first)) / {FREQ_MONTHS[freq]} + 1
),
shares AS (
    SELECT t.p_first, t.c_first, t.period, t.__grp,
           CASE WHEN c.p_first IS NULL THEN NULL ELSE t.ours END AS ours,
           CASE WHEN c.p_first IS NULL THEN NULL ELSE t.total END AS total,
           CASE WHEN c.p_first IS NULL THEN NULL ELSE t.rank END AS rank,
           CASE WHEN c.p_first IS NULL OR t.total = 0 THEN NULL
                ELSE CAST(t.ours AS DOUBLE) / t.total END AS share
    FROM totals t
    LEFT JOIN covered c ON c.p_first = t.p_first AND c.__grp IS NOT DISTINCT FROM t.__grp
)"""
    if name == "market_share":
        final = """
SELECT period, __grp,
       CAST(ours AS DOUBLE) AS numerator,
       CAST(total AS DOUBLE) AS denominator,
       share AS value"""
    elif name == "market_share_delta":
        final = """
SELECT period, __grp,
       CAST(NULL AS DOUBLE) AS numerator,
       CAST(NULL AS DOUBLE) AS denominator,
       share - (SELECT b.share FROM shares b
                WHERE b.p_first = shares.c_first
                  AND b.__grp IS NOT DISTINCT FROM shares.__grp) AS value"""
    elif name == "market_rank":
        final = """
SELECT period, __grp,
       CAST(rank AS DOUBLE) AS numerator,
       CAST(1 AS DOUBLE) AS denominator,
       CAST(rank AS DOUBLE) AS value"""
    else:  # pragma: no cover
        raise KeyError(name)
    return f"WITH {ctes}\n{final}\nFROM shares\nORDER BY p_first, __grp NULLS LAST"


# ------------------------------ business clock ------------------------------

SERVICE_KPIS = ("sla_compliance", "first_response_sla", "first_response_hours", "resolution_hours")
DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _seconds(text: str) -> int:
    hours, minutes = text.strip().split(":")
    return int(hours) * 3600 + int(minutes) * 60


def _ranges(text: str) -> list[tuple[int, int]]:
    """``"09:00-12:30,13:30-17:30"`` as (start, end) seconds after local midnight."""
    out = []
    for part in text.split(","):
        if part.strip():
            start, end = part.split("-")
            out.append((_seconds(start), _seconds(end)))
    return out


def schedules(calendar: dict) -> tuple[list[str], dict[str, dict]]:
    """The override columns and every schedule: key (``"region=apac"``; ``""``: base) -> settings.

    ``calendar`` is the ``[calendar]`` table as written (or a document holding one). A
    ticket matching overrides of several columns takes them in the order written.
    """
    if "hours" not in calendar and "calendar" in calendar:
        calendar = calendar["calendar"]
    base = {"timezone": calendar["timezone"], "hours": calendar["hours"],
            "holidays": list(calendar.get("holidays", []))}
    by = calendar.get("by", {})
    columns = list(by)
    out = {}
    for combo in itertools.product(*[[None, *by[c]] for c in columns]):
        settings = dict(base)
        for column, value in zip(columns, combo, strict=True):
            if value is not None:
                settings.update(by[column][value])
        out[_key(columns, combo)] = settings
    return columns, out


def _key(columns: list[str], values) -> str:
    return "|".join(f"{c}={v}" for c, v in zip(columns, values, strict=True) if v is not None)


def _epoch_us(moment: dt.datetime) -> int:
    return (moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)


def _offset_us(zone: zoneinfo.ZoneInfo, us: int) -> int:
    moment = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=us)
    return moment.astimezone(zone).utcoffset() // dt.timedelta(microseconds=1)


def _pieces(zone: zoneinfo.ZoneInfo, day_us: int) -> list[tuple[int, int, int]]:
    """(from, to, offset) in UTC µs of the offsets in force around the local day at ``day_us``.

    One piece, or two when the zone changes its offset within a day of it (found to the
    second by bisection).
    """
    lo, hi = day_us - DAY_US, day_us + 2 * DAY_US
    first, last = _offset_us(zone, lo), _offset_us(zone, hi)
    if first == last:
        return [(-(2 ** 62), 2 ** 62, first)]
    while hi - lo > 1_000_000:  # the first second with the new offset
        mid = lo + (hi - lo) // 2_000_000 * 1_000_000
        if _offset_us(zone, mid) == first:
            lo = mid
        else:
            hi = mid
    return [(-(2 ** 62), hi, first), (hi, 2 ** 62, last)]


def opening_intervals(settings: dict, lo: dt.date, hi: dt.date) -> list[tuple[int, int]]:
    """Open intervals ``[start, end)`` in UTC µs of the local days ``lo`` .. ``hi``.

    A local range maps onto the UTC instants whose local time lies in it: for each
    offset in force that day, ``[start - offset, end - offset)`` where that offset holds.
    """
    zone = zoneinfo.ZoneInfo(settings["timezone"])
    hours = {day: _ranges(settings["hours"].get(day, "")) for day in _DAYS}
    holidays = {dt.date.fromisoformat(str(h)[:10]) for h in settings["holidays"]}
    out = []
    day = lo
    while day <= hi:
        ranges = hours[_DAYS[day.weekday()]]
        if ranges and day not in holidays:
            midnight = _epoch_us(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC))
            pieces = _pieces(zone, midnight)
            for start, end in ranges:
                for seg_from, seg_to, offset in pieces:
                    u0 = max(midnight + start * 1_000_000 - offset, seg_from)
                    u1 = min(midnight + end * 1_000_000 - offset, seg_to)
                    if u1 > u0:
                        out.append((u0, u1))
        day += dt.timedelta(days=1)
    return sorted(out)


def create_openings(con, calendar: dict) -> list[str]:
    """Create the table ``openings`` for the span of the tickets; return the override columns.

    The span runs from two days before the first ticket timestamp to far enough after
    the last one for any default target (120 business hours) to fall inside it.
    """
    columns, found = schedules(calendar)
    lo, hi = con.execute("""
        SELECT min(ts), max(ts) FROM (
            SELECT opened_at AS ts FROM tickets UNION ALL SELECT first_response_at FROM tickets
            UNION ALL SELECT resolved_at FROM tickets)""").fetchall()[0]
    frames = []
    if lo is not None:
        for key, settings in found.items():
            weekly = sum(e - s for day in _DAYS for s, e in _ranges(settings["hours"].get(day, "")))
            weeks = 0 if weekly == 0 else -(-max(SLA_TARGET_HOURS.values()) * 3600 // weekly)
            days = 7 * (weeks + 1) + 60  # the targets' weeks, and room for holidays
            rows = opening_intervals(settings, lo.date() - dt.timedelta(days=2),
                                     hi.date() + dt.timedelta(days=days))
            frames.append(pd.DataFrame({"cal": key, "o_start": [r[0] for r in rows],
                                        "o_end": [r[1] for r in rows]},
                                       columns=["cal", "o_start", "o_end"]))
    intervals = (pd.concat(frames, ignore_index=True) if frames else
                 pd.DataFrame({"cal": pd.Series(dtype=str), "o_start": pd.Series(dtype="int64"),
                               "o_end": pd.Series(dtype="int64")}))
    intervals = intervals.astype({"cal": str, "o_start": "int64", "o_end": "int64"})
    con.register("__intervals", intervals)
    con.execute(f"""
        CREATE OR REPLACE TABLE openings AS
        SELECT cal, o_start, o_end, o_start // {DAY_US} AS o_day,
               CAST(sum(o_end - o_start) OVER w - (o_end - o_start) AS BIGINT) AS before,
               CAST(sum(o_end - o_start) OVER w AS BIGINT) AS upto
        FROM __intervals
        WINDOW w AS (PARTITION BY cal ORDER BY o_start ROWS UNBOUNDED PRECEDING)""")
    con.unregister("__intervals")
    return columns


def _target_sql(hours_of: dict[str, float]) -> str:
    return ("CASE c.priority " + " ".join(f"WHEN '{p}' THEN {h}" for p, h in hours_of.items())
            + " END")


def _clock_ctes(con, columns: list[str]) -> str:
    """CTEs ``clocked``: each ticket with its business hours, deadlines and SLA states.

    Columns: ``hours_to_respond``, ``hours_to_resolve`` (NULL without the timestamp),
    ``due_resolve``, ``due_respond`` (TIMESTAMP; NULL: no agreed time or never),
    ``as_of``, and ``met_resolve``, ``breached_resolve``, ``met_respond``,
    ``breached_respond``.
    """
    joins, keys = [], []
    for i, column in enumerate(columns):
        source, expr = _by_expr(con, "calendar", "tickets", column)
        joins.append(f"LEFT JOIN (SELECT t.ticket_id, {expr} AS v FROM {source}) ov{i} "
                     f"ON ov{i}.ticket_id = t.ticket_id")
        values = con.execute("SELECT DISTINCT cal FROM openings").fetchall()
        mine = sorted({part.split("=", 1)[1] for (key,) in values for part in key.split("|")
                       if part.startswith(f"{column}=")})
        listed = ", ".join(_quote_str(v) for v in mine) or "NULL"
        keys.append(f"CASE WHEN ov{i}.v IN ({listed}) THEN {_quote_str(column + '=')} || ov{i}.v END")
    key = f"concat_ws('|', {', '.join(keys)})" if keys else "''"
    states = []
    for what, done in (("resolve", "resolved_at"), ("respond", "first_response_at")):
        states.append(f"""
           (c.{done} IS NOT NULL AND c.{done} <= a.as_of
            AND (d_{what}.due IS NULL OR c.{done} <= d_{what}.due)) AS met_{what},
           (d_{what}.due IS NOT NULL AND (
               (c.{done} IS NOT NULL AND c.{done} <= a.as_of AND c.{done} > d_{what}.due)
               OR ((c.{done} IS NULL OR c.{done} > a.as_of) AND a.as_of > d_{what}.due)
           )) AS breached_{what}""")
    dues = []
    for what, hours_of in (("resolve", SLA_TARGET_HOURS), ("respond", RESPONSE_TARGET_HOURS)):
        dues.append(f"""
due_{what} AS (  -- the first instant with the target's business time since opened_at
    SELECT s.ticket_id,
           make_timestamp(greatest(o.o_start + (s.need - o.before), s.t0)) AS due
    FROM (SELECT c.ticket_id, c.cal, c.t0,
                 c.c_open + CAST(round({_target_sql(hours_of)} * {HOUR_US}) AS BIGINT) AS need
          FROM started c WHERE {_target_sql(hours_of)} IS NOT NULL) s
    ASOF LEFT JOIN openings o ON o.cal = s.cal AND s.need <= o.upto
),""")
    return f"""
ticket_cal AS (  -- the schedule each ticket is on
    SELECT t.*, {key} AS cal, epoch_us(t.opened_at) AS t0
    FROM tickets t {' '.join(joins)}
),
ends AS (  -- the instants measured to
    SELECT ticket_id, cal, t0, 'respond' AS what, epoch_us(first_response_at) AS t1
    FROM ticket_cal WHERE first_response_at IS NOT NULL
    UNION ALL
    SELECT ticket_id, cal, t0, 'resolve', epoch_us(resolved_at)
    FROM ticket_cal WHERE resolved_at IS NOT NULL
),
ends_days AS (  -- each UTC day an interval overlapping [t0, t1] may start on
    SELECT e.*, unnest(generate_series(t0 // {DAY_US} - 2, greatest(t1, t0) // {DAY_US})) AS o_day
    FROM ends e
),
spent AS (  -- business µs: the overlap of [t0, t1] with each open interval, summed
    SELECT d.ticket_id, d.what,
           sum(greatest(0, least(o.o_end, d.t1) - greatest(o.o_start, d.t0))) AS us
    FROM ends_days d JOIN openings o ON o.cal = d.cal AND o.o_day = d.o_day
    GROUP BY ALL
),
started AS (  -- business µs of the schedule before opened_at
    SELECT c.*, coalesce(o.before + least(c.t0 - o.o_start, o.o_end - o.o_start), 0) AS c_open
    FROM ticket_cal c ASOF LEFT JOIN openings o ON o.cal = c.cal AND c.t0 >= o.o_start
),{''.join(dues)}
ticket_as_of AS (  -- the close of the as-of date: 24:00 UTC
    {SNAPSHOT}
),
clocked AS (
    SELECT c.*,
           CASE WHEN c.first_response_at IS NULL THEN NULL
                ELSE coalesce(r.us, 0) / {float(HOUR_US)!r} END AS hours_to_respond,
           CASE WHEN c.resolved_at IS NULL THEN NULL
                ELSE coalesce(v.us, 0) / {float(HOUR_US)!r} END AS hours_to_resolve,
           d_resolve.due AS due_resolve, d_respond.due AS due_respond, a.as_of,{','.join(states)}
    FROM ticket_cal c
    LEFT JOIN spent r ON r.ticket_id = c.ticket_id AND r.what = 'respond'
    LEFT JOIN spent v ON v.ticket_id = c.ticket_id AND v.what = 'resolve'
    LEFT JOIN due_resolve d_resolve ON d_resolve.ticket_id = c.ticket_id
    LEFT JOIN due_respond d_respond ON d_respond.ticket_id = c.ticket_id
    CROSS JOIN ticket_as_of a
)"""


def _business_sql(con, name: str, freq: str, by: str | None, columns: list[str],
                  window="period") -> str:
    """The service KPI ``name`` on the business clock (``openings`` created)."""
    source, grp = _by_expr(con, name, "tickets", by)
    body = source.replace("tickets AS t", "clocked AS t", 1)
    keyed = f"""
keyed AS (
    SELECT t.*, {grp} AS __grp FROM {body}
),
groups AS (
    SELECT DISTINCT __grp FROM keyed
),
frame AS (
    SELECT periods.*, groups.__grp FROM periods CROSS JOIN groups
),"""
    opened_in_p = _in_span("CAST(k.opened_at AS DATE)", freq)
    if name in ("sla_compliance", "first_response_sla"):
        what = "resolve" if name == "sla_compliance" else "respond"
        agg = f"""
agg AS (
    SELECT p.p_first, k.__grp,
           count(*) FILTER (WHERE k.met_{what}) AS num,
           count(*) FILTER (WHERE k.met_{what} OR k.breached_{what}) AS den
    FROM keyed k JOIN periods p ON {opened_in_p}
    GROUP BY ALL
)"""
        kind = "ratio"
    else:
        column = "hours_to_respond" if name == "first_response_hours" else "hours_to_resolve"
        agg = f"""
agg AS (
    SELECT p.p_first, k.__grp, quantile_cont(k.{column}, 0.5) AS med
    FROM keyed k JOIN periods p ON {opened_in_p}
    WHERE k.{column} IS NOT NULL
    GROUP BY ALL
)"""
        kind = "median"
    return (f"WITH {_grid_ctes(['tickets'], freq, window)},{_clock_ctes(con, columns)},{keyed}{agg}\n"
            f"{_final(kind)}")


def ticket_clock(con, calendar: dict) -> pd.DataFrame:
    """Each ticket on the business clock of ``calendar``.

    Columns: ``ticket_id``, ``hours_to_respond``, ``hours_to_resolve``,
    ``due_resolve``, ``due_respond`` (UTC, NaT: no agreed time or never), and the SLA
    states ``met_resolve``, ``breached_resolve``, ``met_respond``, ``breached_respond``
    judged at the close of the as-of date (24:00 UTC).
    """
    columns = create_openings(con, calendar)
    df = con.execute(f"WITH {_clock_ctes(con, columns)}\n"
                     "SELECT ticket_id, hours_to_respond, hours_to_resolve, due_resolve, "
                     "due_respond, met_resolve, breached_resolve, met_respond, breached_respond "
                     "FROM clocked ORDER BY ticket_id").df()
    for column in ("due_resolve", "due_respond"):
        df[column] = pd.to_datetime(df[column]).dt.tz_localize("UTC")
    return df


# --------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------

_BUILDERS = {
    "accounts": _sql_customers,
    "deals": _sql_deals,
    "contracts": _sql_contracts,
    "tickets": _sql_tickets,
    "surveys": _sql_surveys,
    "reps": _sql_reps,
}


def kpi_sql(con, name: str, *, freq: str = "Q", by: str | None = None, clock: str = "calendar",
            calendar: dict | None = None, window="period") -> str:
    """The SQL text computing KPI ``name`` (for inspection and benchmarks).

    ``clock="business"`` (service KPIs only) needs ``calendar`` and creates the
    table ``openings`` from it. ``window``: ``"period"``, ``"ytd"``, ``"qtd"``
    (monthly) or a number of periods (calendar years only).
    """
    if name not in KPIS:
        raise KeyError(f"unknown KPI {name!r}; known: {', '.join(KPI_NAMES)}")
    if freq not in FREQ_UNIT:
        raise ValueError(f"freq must be one of M, Q, Y, got {freq!r}")
    tables, _kind = KPIS[name]
    loaded = _tables(con)
    needed = list(tables)
    if name in MARKET_KPIS and by is not None:
        needed.append("accounts")
    for table in needed:
        if table not in loaded:
            raise MissingTableError(f"KPI {name!r} needs table {table!r}, which is not loaded")
    if name in MARKET_KPIS:
        return _market_sql(con, name, freq, by, window)
    if clock != "calendar":
        if clock != "business" or name not in SERVICE_KPIS or calendar is None:
            raise ValueError(f"{name}: clock={clock!r} needs a service KPI and a calendar")
        return _business_sql(con, name, freq, by, create_openings(con, calendar), window)
    main = tables[0]
    agg, final = _BUILDERS[main](name, freq)
    return (f"WITH {_grid_ctes(tables, freq, window)},{_keyed_ctes(con, name, main, by)},{agg}\n"
            f"{final}")


def kpi(con, name: str, *, freq: str = "Q", by: str | None = None, clock: str = "calendar",
        calendar: dict | None = None, window="period") -> pd.DataFrame:
    """One KPI: columns period, [by], numerator, denominator, value."""
    sql = kpi_sql(con, name, freq=freq, by=by, clock=clock, calendar=calendar, window=window)
    df = con.execute(sql).df()
    out = pd.DataFrame({"period": df["period"].astype(str)})
    if by is not None:
        out[by] = df["__grp"].astype(object).where(df["__grp"].notna(), None)
    for col in ("numerator", "denominator", "value"):
        out[col] = df[col].astype("float64")
    return out.reset_index(drop=True)


def compute_all(con, *, freq: str = "Q", by: str | None = None, kpis=None,
                window="period") -> pd.DataFrame:
    """Every KPI (or those of ``kpis``) in long format with a ``kpi`` column first.

    With ``kpis=None``, KPIs whose tables are not loaded are skipped, and so
    are market KPIs when ``by`` is neither None nor ``region`` or when ``freq``
    is finer than the market table's granularity.
    """
    names = list(kpis) if kpis is not None else KPI_NAMES
    loaded = _tables(con)
    frames = []
    for name in names:
        if kpis is None:
            tables = KPIS[name][0] + (["accounts"] if name in MARKET_KPIS and by else [])
            if not set(tables) <= loaded:
                continue
            if name in MARKET_KPIS and by not in (None, "region"):
                continue
            if name in MARKET_KPIS and FREQ_MONTHS[freq] < FREQ_MONTHS[_market_granularity(con) or freq]:
                continue
        df = kpi(con, name, freq=freq, by=by, window=window)
        df.insert(0, "kpi", name)
        frames.append(df)
    cols = ["kpi", "period"] + ([by] if by else []) + ["numerator", "denominator", "value"]
    if not frames:
        return pd.DataFrame(columns=cols)
    return pd.concat(frames, ignore_index=True)[cols]


def cohorts(con, *, freq: str = "Q", measure: str = "customers") -> pd.DataFrame:
    """Acquisition cohorts (analysis.md, "Cohorts"), calendar periods, no ``by``.

    Cohort = the period of ``customer_since``; a cell (cohort, age) is the
    period ``age`` steps after it, kept while it begins on or before the
    as-of date; its close is its last day, or the as-of date for the period
    holding it (``in_progress`` unless the as-of date is its last day).
    ``customers``: size = accounts won in the cohort, active = those active
    at the close. ``revenue``: size = the ARR (annual_value of active
    contracts) of the cohort's accounts at the close of the cohort period,
    arr = the same at the cell's close. value = active (arr) / size.
    """
    step = FREQ_MONTHS[freq]
    counted = "active" if measure == "customers" else "arr"
    cells = f"""
        WITH cut_day AS (SELECT d FROM as_of),
        won AS (SELECT *, {_trunc('customer_since', freq)} AS cohort
                FROM accounts WHERE customer_since IS NOT NULL),
        raw AS (
            SELECT c.cohort, k.age,
                   CAST(c.cohort + to_months(CAST(k.age * {step} AS INTEGER)) AS DATE) AS p_first
            FROM (SELECT DISTINCT cohort FROM won) c, range(0, 2000) k(age)),
        cells AS (
            SELECT cohort, age,
                   CAST(p_first + to_months({step}) - INTERVAL 1 DAY AS DATE) AS p_last,
                   LEAST(CAST(p_first + to_months({step}) - INTERVAL 1 DAY AS DATE),
                         (SELECT d FROM cut_day)) AS close
            FROM raw WHERE p_first <= (SELECT d FROM cut_day))"""
    if measure == "customers":
        sql = cells + f"""
        SELECT x.cohort, x.age,
               (SELECT count(*) FROM won w WHERE w.cohort = x.cohort) AS size,
               (SELECT count(*) FROM won w WHERE w.cohort = x.cohort
                  AND {_active_on('w', 'x.close')}) AS active,
               x.close < x.p_last AS in_progress
        FROM cells x"""
    else:
        arr_on = ("(SELECT coalesce(sum(k.annual_value), 0) FROM contracts k JOIN won w "
                  "ON w.account_id = k.account_id WHERE w.cohort = x.cohort "
                  "AND k.start_date <= {day} AND (k.end_date IS NULL OR {day} <= k.end_date))")
        own_close = "(SELECT y.close FROM cells y WHERE y.cohort = x.cohort AND y.age = 0)"
        sql = cells + f"""
        SELECT x.cohort, x.age, {arr_on.format(day=own_close)} AS size,
               {arr_on.format(day='x.close')} AS arr, x.close < x.p_last AS in_progress
        FROM cells x"""
    df = con.execute(sql + " ORDER BY cohort, age").df()
    size = df["size"].astype("float64")
    value = (df[counted].astype("float64") / size).where(size > 0)
    return pd.DataFrame({"cohort": pd.to_datetime(df["cohort"]), "age": df["age"].astype("int64"),
                         "size": size, counted: df[counted].astype("float64"),
                         "value": value, "in_progress": df["in_progress"].astype(bool)})
