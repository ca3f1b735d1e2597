"""The KPIs on Dask data: additive pieces per partition, summed, then finished.

Two passes over the data at most:

1. **Facts of the whole data** (once per data object, then cached): the
   first and last value of every date column (the period grids), every
   label of the ``by`` columns (group codes that mean the same in every
   partition), the latest ticket timestamp (the default ``as_of``), the
   renewed contract ids, and the small tables that ``by`` looks columns up
   in (accounts' ids, dates and dimensions; reps; market).
2. **The KPIs**, all requested at once in one ``dask.compute``:

   * *additive* KPIs run on each partition of their own table, inside a
     :class:`~repkpi.kpis._engine.Partial` context, and return
     :class:`~repkpi.kpis._engine.Piece` arrays that are summed in a tree;
   * the medians (``first_response_hours``, ``resolution_hours``) are
     **exact**: each partition gives the (period, group, hours) of its
     tickets, the rows are shuffled by (period, group), and each group's
     median is taken whole, as pandas does;
   * KPIs that need all rows of an account together (``engagement_rate``,
     ``key_accounts``, ``net_revenue_retention``, ``gross_revenue_retention``)
     and the market KPIs gather only what they read: the distinct
     (account, period) pairs of activities and surveys, the won deals'
     account, date and amount, the contracts' account, dates and value.
     They are then computed by the pandas code on the period grid of the
     whole data.

Every route gives the numbers of the pandas engine; ``tests/test_dask.py``
checks that on a local cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from repkpi.io.dask import broadcast, require_dask, sorted_labels
from repkpi.kpis._engine import KPIS, Partial, Piece, Scope, finish, partial, sharing
from repkpi.io.loading import CrmData
from repkpi.periods import NAT, day_numbers, micros
from repkpi.schemas import COLUMNS

__all__ = ["Call", "cached_run", "check", "is_dask", "latest_day", "run"]

ADDITIVE = {
    **dict.fromkeys(["new_customers", "new_customer_growth", "active_customers", "churn_rate",
                     "retention_rate"], "accounts"),
    **dict.fromkeys(["revenue", "win_rate", "cross_sell_rate", "cross_sell_wins", "large_deals",
                     "average_deal_size"], "deals"),
    **dict.fromkeys(["csat", "csat_mean", "nps"], "surveys"),
    **dict.fromkeys(["sla_compliance", "first_response_hours", "resolution_hours"], "tickets"),
    **dict.fromkeys(["renewal_rate", "renewal_value_rate"], "contracts"),
}
"""KPIs computed per partition of their table, and that table."""
_WON_DEALS = ("key_accounts", "market_share", "market_share_delta", "market_rank")
_CONTRACTS = ("net_revenue_retention", "gross_revenue_retention")
_TOUCHES = {"activities": "occurred_on", "surveys": "responded_at"}

Call = tuple[str, dict[str, Any]]
"""A KPI name and its keyword arguments (freq, by, start, end, fiscal_year_start, options)."""


def _by(kwargs: dict[str, Any]) -> list[str]:
    by = kwargs.get("by")
    return [by] if isinstance(by, str) else list(by or [])


# -- pass 1: facts of the whole data ------------------------------------------------------------
def _facts(data: Any, columns: Sequence[str]) -> dict[str, Any]:
    """Spans, labels, lookups and other facts of the whole data (computed once, then cached)."""
    dask = require_dask()
    cache = data._cache.setdefault("facts", {})
    wanted: dict[str, Any] = {}
    if "spans" not in cache:
        wanted["spans"] = {(t, c.name): (frame[c.name].min(), frame[c.name].max())
                           for t, frame in data.tables.items()
                           for c in COLUMNS[t] if c.kind in ("date", "datetime")}
        if data.contracts is not None:
            wanted["renewal_of"] = data.contracts["renewal_of"].dropna().unique()
        small = {t: getattr(data, t) for t in ("reps", "market") if getattr(data, t) is not None}
        wanted["small"] = small
    accounts = data.accounts
    if accounts is not None:
        keep = ["account_id", "rep_id", "customer_since", "churned_on"]
        have = cache.get("accounts_columns", [])
        need = list(dict.fromkeys([*keep, *have, *(c for c in columns if c in accounts.columns)]))
        if need != have:
            wanted["accounts"] = accounts[need]
            cache["accounts_columns"] = need
    labels = cache.setdefault("labels", {})
    for column in columns:
        if column in labels:
            continue
        wanted.setdefault("labels", {})[column] = [
            frame[column].dropna().unique() for frame in data.tables.values()
            if column in frame.columns]
    if wanted:
        (found,) = dask.compute(wanted, scheduler=data.client)
        if "spans" in found:
            cache["spans"] = found["spans"]
            cache["renewal_of"] = found.get("renewal_of")
            cache.update({t: _plain(f) for t, f in found["small"].items()})
        if "accounts" in found:
            cache["accounts"] = _plain(found["accounts"])
        for column, values in found.get("labels", {}).items():
            labels[column] = sorted_labels(values)
    return cache


def _nullable_string(dtype: object) -> bool:
    """Whether ``dtype`` is a string dtype whose missing value is ``pd.NA`` (not pandas' ``str``)."""
    return isinstance(dtype, pd.StringDtype) and dtype.na_value is pd.NA


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with pandas' default ``str`` columns where Dask may have made Arrow strings."""
    text = [c for c, t in frame.dtypes.items() if _nullable_string(t)]
    return frame.astype(dict.fromkeys(text, "str")) if text else frame


def _context(facts: dict[str, Any], *, pieces: bool) -> Partial:
    """The :class:`Partial` context of the whole data (made once per data object)."""
    if ("context", pieces) not in facts:
        facts[("context", pieces)] = _make_context(facts, pieces=pieces)
    return facts[("context", pieces)]


def _make_context(facts: dict[str, Any], *, pieces: bool) -> Partial:
    spans = {}
    for key, (lo, hi) in facts["spans"].items():
        days = day_numbers(pd.Series([lo, hi]))
        spans[key] = tuple(np.datetime64("NaT") if d == NAT else np.datetime64(int(d), "D")
                           for d in days)
    values = {}
    latest = [facts["spans"][("tickets", c)][1] for c in ("opened_at", "first_response_at",
                                                          "resolved_at")
              if ("tickets", c) in facts["spans"]]
    if latest:
        stamps = micros(pd.Series(latest).astype("datetime64[us, UTC]"))
        values[("latest", "tickets")] = max((s for s in stamps if s != NAT), default=NAT)
    if facts.get("renewal_of") is not None:
        values[("renewal_of",)] = pd.Series(facts["renewal_of"], dtype="str")
    return Partial(spans=spans, labels=facts["labels"], facts=values, pieces=pieces)


def latest_day(data: Any, columns: dict[str, Sequence[str]]) -> int | None:
    """The latest day number among ``columns`` (table -> date columns) of Dask data."""
    spans = _facts(data, [])["spans"]
    days = [day_numbers(pd.Series([spans[(t, c)][1]]))[0] for t, cols in columns.items()
            for c in cols if (t, c) in spans]
    days = [d for d in days if d != NAT]
    return max(days) if days else None


def _lookups(facts: dict[str, Any]) -> dict[str, pd.DataFrame]:
    return {t: facts[t] for t in ("accounts", "reps", "market") if t in facts}


def _empty(data: Any, facts: dict[str, Any]) -> CrmData:
    """The data with no rows (the lookups whole): enough to build a KPI's scope."""
    tables = {t: frame._meta for t, frame in data.tables.items()}
    return CrmData._trusted(**{**tables, **_lookups(facts)})


def check(data: Any, name: str, kwargs: dict[str, Any]) -> None:
    """Raise what the pandas engine would: a missing table, an unknown column, a bad option.

    The KPI runs on the data's empty frames, which is instant.
    """
    facts = _facts(data, _by(kwargs))
    tables = {t: frame._meta for t, frame in data.tables.items()}
    small = {t: facts[t] for t in ("reps", "market") if t in facts}  # market's grain matters
    with partial(_context(facts, pieces=False)), sharing():
        KPIS[name].__wrapped__(CrmData._trusted(**{**tables, **small}), **kwargs)


# -- pass 2: the KPIs ---------------------------------------------------------------------------
def _pieces(part: pd.DataFrame, table: str, calls: list[tuple[int, Call]],
            shared: tuple[Partial, dict[str, pd.DataFrame]]) -> dict[int, Piece]:
    """Every additive KPI of ``calls`` on one partition of ``table``."""
    context, lookups = shared
    data = CrmData._trusted(**{**lookups, table: part})
    out = {}
    with partial(context), sharing():
        for index, (name, kwargs) in calls:
            out[index] = KPIS[name].__wrapped__(data, **kwargs)
    return out


def _add(*pieces: dict[int, Piece]) -> dict[int, Piece]:
    total = {}
    for piece in pieces:
        for key, value in piece.items():
            total[key] = value if key not in total else total[key] + value
    return total


def _tree_sum(dask: Any, parts: list[Any]) -> Any:
    while len(parts) > 1:
        parts = [dask.delayed(_add)(*parts[i:i + 8]) for i in range(0, len(parts), 8)]
    return parts[0]


def _split(pieces: dict[int, Piece], index: int, n: int) -> list[pd.DataFrame]:
    """A median KPI's rows of one partition, in ``n`` buckets by their (period, group) key."""
    rows = pieces[index].rows
    bucket = rows["key"].to_numpy() % n
    return [rows[bucket == i] for i in range(n)]


def _medians(buckets: list[pd.DataFrame]) -> pd.Series:
    """The median of each key over one bucket of every partition: all of the key's rows."""
    return pd.concat(buckets).groupby("key")["value"].median()


def _won(part: pd.DataFrame) -> pd.DataFrame:
    won = part.loc[part["stage"] == "won", ["account_id", "closed_on", "amount", "stage"]]
    return won


def _pairs(part: pd.DataFrame, column: str, shared: tuple[Partial, dict[str, pd.DataFrame]],
           first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Distinct (account position, period position) of one partition's touches, as one number."""
    from repkpi.kpis._engine import positions

    account = positions(part["account_id"], shared[1]["accounts"]["account_id"])
    days = day_numbers(part[column])
    pos = np.searchsorted(first, days, side="right") - 1
    ok = (account >= 0) & (pos >= 0) & (days != NAT) & (days <= (last[-1] if len(last) else NAT))
    return pd.unique(account[ok] * len(first) + pos[ok])


def run(data: Any, calls: Sequence[Call], *, checked: bool = False) -> list[pd.DataFrame]:
    """The result of each KPI call on Dask ``data``, in order; one ``dask.compute`` for all.

    ``checked``: the calls went through :func:`check` already.
    """
    dask = require_dask()
    columns = list(dict.fromkeys(c for _, kwargs in calls for c in _by(kwargs)))
    facts = _facts(data, columns)
    context = _context(facts, pieces=True)
    plain = _context(facts, pieces=False)
    lookups = _lookups(facts)
    empty = _empty(data, facts)
    for name, kwargs in [] if checked else calls:
        check(data, name, kwargs)
    shared = broadcast(dask, (context, lookups), data.client)
    wanted: dict[str, Any] = {}
    by_table: dict[str, list[tuple[int, Call]]] = {}
    gathered = []
    for index, (name, kwargs) in enumerate(calls):
        if name in ADDITIVE:
            by_table.setdefault(ADDITIVE[name], []).append((index, (name, kwargs)))
        else:
            gathered.append((index, (name, kwargs)))
    medians = {}
    for table, table_calls in by_table.items():
        parts = [dask.delayed(_pieces)(p, table, table_calls, shared)
                 for p in getattr(data, table).to_delayed()]
        wanted[f"pieces:{table}"] = _tree_sum(dask, parts)
        for index, (name, _) in table_calls:
            if name in ("first_response_hours", "resolution_hours"):
                # Rows of one key meet in one bucket, so each median is taken over all its rows.
                n = min(len(parts), 64)
                split = [dask.delayed(_split, nout=n)(p, index, n) for p in parts]
                buckets = [dask.delayed(_medians)([s[i] for s in split]) for i in range(n)]
                medians[index] = dask.delayed(pd.concat)(buckets)
    wanted.update({f"median:{i}": m for i, m in medians.items()})
    names = {name for _, (name, _) in gathered}
    if names & set(_WON_DEALS) and data.deals is not None:
        wanted["won"] = [dask.delayed(_won)(p) for p in data.deals.to_delayed()]
    if names & set(_CONTRACTS) and data.contracts is not None:
        own = [c for c in columns if c in data.contracts.columns]
        keep = list(dict.fromkeys(["account_id", "start_date", "end_date", "annual_value", *own]))
        wanted["contracts"] = [p[keep] for p in data.contracts.to_delayed()]
    engagement = [(i, c) for i, c in gathered if c[0] == "engagement_rate"]
    for index, (_, kwargs) in engagement:
        with partial(plain):
            scope = Scope(empty, "engagement_rate", "accounts", **_scope_args(kwargs),
                          reads=[t for t in _TOUCHES if getattr(data, t) is not None])
        for table, column in _TOUCHES.items():
            frame = getattr(data, table)
            if frame is not None:
                parts = [dask.delayed(_pairs)(p, column, shared, scope.grid.first,
                                              scope.grid.last)
                         for p in frame.to_delayed()]
                wanted[f"pairs:{index}:{table}"] = parts
    (found,) = dask.compute(wanted, scheduler=data.client)
    # Gathered pieces are put together here, not on a worker: the client keeps them anyway.
    for key in ("won", "contracts"):
        if key in found:
            found[key] = _plain(pd.concat(found[key]))
    for key in [k for k in found if k.startswith("pairs:")]:
        found[key] = _union(found[key])
    results: dict[int, pd.DataFrame] = {}
    for table, table_calls in by_table.items():
        total = found[f"pieces:{table}"]
        for index, (name, kwargs) in table_calls:
            with partial(context), sharing():
                scope = Scope(CrmData._trusted(**{**lookups, table: empty.tables[table]}), name,
                              table, **_scope_args(kwargs))
            values = None
            if total[index].kind == "median":
                values = np.full(total[index].numerator.shape, np.nan).reshape(-1)
                found_medians = found[f"median:{index}"]
                values[found_medians.index.to_numpy(dtype=np.int64)] = found_medians.to_numpy()
                values = values.reshape(total[index].numerator.shape)
            results[index] = finish(scope, total[index], values)
    tables = dict(lookups)
    if "won" in found:
        tables["deals"] = found["won"]
    if "contracts" in found:
        tables["contracts"] = found["contracts"]
    common = CrmData._trusted(**tables)  # one object: the KPIs share their grids and ARR sums
    with partial(plain), sharing():
        for index, (name, kwargs) in gathered:
            on = common
            if name == "engagement_rate":
                scope = Scope(empty, "engagement_rate", "accounts", **_scope_args(kwargs),
                              reads=[t for t in _TOUCHES if getattr(data, t) is not None])
                touches = {table: _touches(found[f"pairs:{index}:{table}"],
                                           lookups["accounts"]["account_id"], scope.grid.first,
                                           column, table)
                           for table, column in _TOUCHES.items()
                           if f"pairs:{index}:{table}" in found}
                on = CrmData._trusted(**tables, **touches)
            results[index] = KPIS[name].__wrapped__(on, **kwargs)
    return [results[i] for i in range(len(calls))]


def _scope_args(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: kwargs[k] for k in ("freq", "by", "start", "end", "fiscal_year_start") if k in kwargs}


def _union(parts: list[np.ndarray]) -> np.ndarray:
    return pd.unique(np.concatenate(parts)) if parts else np.array([], dtype=np.int64)


def _touches(pairs: np.ndarray, accounts: pd.Series, first: np.ndarray, column: str,
             table: str) -> pd.DataFrame:
    """One touch per distinct (account, period): what engagement reads of activities or surveys."""
    width = len(first)
    account, pos = pairs // width, pairs % width
    days = first[pos].astype("datetime64[D]").astype("datetime64[us]")
    when = pd.Series(days)
    if table == "surveys":
        when = when.dt.tz_localize("UTC")
    return pd.DataFrame({"account_id": accounts.to_numpy()[account], column: when})


def is_dask(data: Any) -> bool:
    """Whether ``data`` holds Dask tables (made by ``load(..., engine="dask")``)."""
    return type(data).__name__ == "DaskCrmData"


def cached_run(data: Any, calls: Sequence[Call], *, checked: bool = False) -> list[pd.DataFrame]:
    """:func:`run`, keeping each result on ``data`` for the same call later (scorecard's goals)."""
    store = data._cache.setdefault("results", {})
    keys = [_key(call) for call in calls]
    todo = [(key, call) for key, call in zip(keys, calls, strict=True) if key not in store]
    todo = list(dict((key, call) for key, call in todo).items())
    if todo:
        for (key, _), result in zip(todo, run(data, [c for _, c in todo], checked=checked), strict=True):
            store[key] = result
    return [store[key].copy() for key in keys]


def _key(call: Call) -> str:
    name, kwargs = call
    return repr((name, sorted((k, repr(v)) for k, v in kwargs.items())))
