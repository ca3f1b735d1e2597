"""The KPIs on Dask data: computed on the workers, the client keeps what it returns.

Two passes over the data at most:

1. **Facts of the whole data** (once per data object, then cached): the
   first and last value of every date column (the period grids), every
   label of the ``by`` columns (group codes that mean the same in every
   partition), the as-of date and the small tables (reps, market). Nothing that grows with the rows: the
   client never holds the accounts, the contracts or any other table.
2. **The KPIs**, all requested at once in one ``dask.compute``, each on
   *units* of the data, each unit a :class:`~repkpi.io.loading.CrmData`
   that the pandas engine runs on, told the
   :class:`~repkpi.kpis.declaration.WholeFacts` of the whole data; the units'
   :class:`~repkpi.kpis.pandas_engine.Subtotal` arrays (numerators,
   denominators: groups x periods) are summed in a tree:

   * a KPI that reads only its own table's rows (the reps and the market
     looked up whole) runs on each partition of that table;
   * a KPI that needs all the rows of an account together (engagement,
     key accounts, NRR and GRR: route ``"by_account"``), or the account's
     columns (``by="region"`` on tickets), runs on *aligned* units: every table it reads split by a
     hash of ``account_id`` into the same ``n`` buckets, bucket ``i`` of
     each table together (a shuffle between the workers). An account's
     rows are then all in one unit, and each unit's arrays are those of a
     disjoint set of accounts: counts, sums and ratios of sums add up;
   * a service KPI with ``pause=`` reads each ticket's ``ticket_events``
     beside the ticket: tickets and events split by a hash of
     ``ticket_id`` into aligned buckets; when the call also looks up the
     accounts (``by="region"``, a calendar that differs by an account's
     column), the buckets are the accounts' instead, each event sent to
     its ticket's account's bucket (its ``account_id`` found by a join of
     the events and the tickets' (ticket, account) pairs, both bucketed by
     ``ticket_id``, on the workers);
   * the renewal KPIs know which contract renews which through a join on
     the workers (the renewals bucketed by the contract they renew, then
     matched against each unit's contracts);
   * the medians (kind ``"median"``) are **exact**: each unit gives the
     (period, group, hours) of its tickets, the rows are shuffled by
     (period, group), and each group's median is taken whole, as pandas
     does;
   * the market KPIs need our won revenue per (period, region), which the
     units sum; the market table is small, and the KPI is finished on the
     client with that sum (:data:`~repkpi.kpis.market.OURS`).

:func:`repkpi.detail` runs on the same units and gathers only the rows it
lists; :meth:`DaskExecutor.gather` brings a caller the few rows or values it
lists or looks up (the attention lists, the reps' names) in one pass. Every
route gives the numbers of the pandas engine; ``tests/test_dask.py`` checks
that on a local cluster and ``tests/test_dask_cluster.py`` on a scheduler
and workers started as separate processes.

The executor lookup loads this module on its first miss, once Dask data
exists (:func:`~repkpi.kpis.registry.register_default_executors`), and
registers :data:`EXECUTORS`: :class:`DaskExecutor` for
:class:`~repkpi.dask.reader.DaskCrmData`, each result kept on the data by a
:class:`~repkpi.kpis.shared.SharedExecutor`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import dask
import numpy as np
import pandas as pd

from repkpi.dask.reader import DaskCrmData, broadcast, sorted_labels
from repkpi.errors import RepkpiError
from repkpi.io.loading import CrmData
from repkpi.kpis.business import read_calendar
from repkpi.kpis.declaration import Scope, WholeFacts, as_of_day
from repkpi.kpis.market import OURS, our_revenue
from repkpi.kpis.pandas_engine import (
    Subtotal,
    detail_frame,
    evaluate,
    run_spec,
    scope_for,
    tidy,
)
from repkpi.kpis.registry import EXPECTED, KPIS, Call, Executor, KpiSpec, normalise_by
from repkpi.kpis.shared import SharedExecutor
from repkpi.periods import NAT, day_numbers
from repkpi.schemas import COLUMNS

__all__ = ["EXECUTORS", "DaskExecutor"]


def _spec(name: str) -> KpiSpec:
    return KPIS[name]


def _by(kwargs: dict[str, Any]) -> list[str]:
    """The columns a call looks up: its ``by``, and the dimensions its calendar differs by."""
    columns = normalise_by(kwargs.get("by"))
    if kwargs.get("calendar") is not None:
        columns += [c for c in read_calendar(kwargs["calendar"]).columns if c not in columns]
    return columns


# -- pass 1: facts of the whole data ------------------------------------------------------------
def _facts(data: Any, columns: Sequence[str]) -> dict[str, Any]:
    """Spans, labels, the small tables and as-of of the whole data (computed once, then cached)."""
    cache = data.cache.setdefault("facts", {})
    wanted: dict[str, Any] = {}
    if "spans" not in cache:
        wanted["spans"] = {(t, c.name): (frame[c.name].min(), frame[c.name].max())
                           for t, frame in data.tables.items()
                           for c in COLUMNS[t] if c.kind in ("date", "datetime")}
        small = {t: getattr(data, t) for t in ("reps", "market") if getattr(data, t) is not None}
        wanted["small"] = small
    if "as_of_day" not in cache:
        cache["as_of_day"] = as_of_day(data)
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
            cache.update({t: _plain(f) for t, f in found["small"].items()})
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


def _context(facts: dict[str, Any], *, subtotals: bool) -> WholeFacts:
    """The :class:`WholeFacts` of the data (made once per data object)."""
    if ("context", subtotals) not in facts:
        facts[("context", subtotals)] = _make_context(facts, subtotals=subtotals)
    return facts[("context", subtotals)]


def _make_context(facts: dict[str, Any], *, subtotals: bool) -> WholeFacts:
    spans = {}
    for key, (lo, hi) in facts["spans"].items():
        days = day_numbers(pd.Series([lo, hi]))
        spans[key] = tuple(np.datetime64("NaT") if d == NAT else np.datetime64(int(d), "D")
                           for d in days)
    values: dict[tuple, Any] = {("as_of",): facts["as_of_day"]}
    return WholeFacts(spans=spans, labels=facts["labels"], known=values, subtotals=subtotals)


def _lookups(facts: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """The small tables, whole: sent to every worker."""
    return {t: facts[t] for t in ("reps", "market") if t in facts}


def _empty(data: Any, facts: dict[str, Any]) -> CrmData:
    """The data with no rows (the lookups whole): enough to build a KPI's scope."""
    tables = {t: frame._meta for t, frame in data.tables.items()}
    return CrmData.trusted(**{**tables, **_lookups(facts)})


def check(data: Any, name: str, kwargs: dict[str, Any]) -> None:
    """Raise what the pandas engine would: a missing table, an unknown column, a bad option.

    The KPI runs on the data's empty frames, which is instant.
    """
    facts = _facts(data, _by(kwargs))
    tables = {t: frame._meta for t, frame in data.tables.items()}
    small = {t: facts[t] for t in ("reps", "market") if t in facts}  # market's grain matters
    evaluate(run_spec(_spec(name), CrmData.trusted(**{**tables, **small}, absent=data.absent,
                                                   absent_hints=data.absent_hints), kwargs,
                      whole=_context(facts, subtotals=False)))


# -- pass 2: the KPIs ---------------------------------------------------------------------------
Unit = dict[str, Any]
"""The tables of one unit: table name -> a partition (a delayed frame)."""


def _unit_data(tables: dict[str, pd.DataFrame], lookups: dict[str, pd.DataFrame]) -> CrmData:
    return CrmData.trusted(**{**lookups, **tables})


def _with_renewals(whole: WholeFacts, renewals: pd.DataFrame | None) -> WholeFacts:
    """``whole``, knowing which contract renews each of the unit's contracts."""
    if renewals is None:
        return whole
    return replace(whole, known={**whole.known, ("renewals",): renewals})


def _subtotals(tables: dict[str, pd.DataFrame], calls: list[tuple[int, Call]],
               shared: tuple[WholeFacts, dict[str, pd.DataFrame]],
               renewals: pd.DataFrame | None = None) -> dict[int, Subtotal]:
    """Every additive KPI of ``calls`` on one unit."""
    whole, lookups = shared
    whole = _with_renewals(whole, renewals)
    data = _unit_data(tables, lookups)
    cache: dict = {}
    return {index: evaluate(run_spec(_spec(name), data, kwargs, whole=whole, cache=cache))
            for index, (name, kwargs) in calls}


def _ours(tables: dict[str, pd.DataFrame], calls: list[tuple[int, Call]],
          shared: tuple[WholeFacts, dict[str, pd.DataFrame]]) -> dict[int, np.ndarray]:
    """Our won revenue per (period, group) of each market KPI of ``calls``, on one unit.

    ``shared`` holds the WholeFacts without subtotals: the groups are the market
    table's, which every unit holds whole, so the arrays add up.
    """
    whole, lookups = shared
    data = _unit_data(tables, lookups)
    cache: dict = {}
    return {index: our_revenue(scope_for(_spec(name), data, kwargs, whole=whole, cache=cache))
            for index, (name, kwargs) in calls}


def _add(*sums: dict[int, Any]) -> dict[int, Any]:
    total = {}
    for found in sums:
        for key, value in found.items():
            total[key] = value if key not in total else total[key] + value
    return total


def _tree_sum(parts: list[Any]) -> Any:
    while len(parts) > 1:
        parts = [dask.delayed(_add)(*parts[i:i + 8]) for i in range(0, len(parts), 8)]
    return parts[0]


def _split(subtotals: dict[int, Subtotal], index: int, n: int) -> list[pd.DataFrame]:
    """A median KPI's rows of one partition, in ``n`` buckets by their (period, group) key."""
    rows = subtotals[index].rows
    bucket = rows["key"].to_numpy() % n
    return [rows[bucket == i] for i in range(n)]


def _medians(buckets: list[pd.DataFrame]) -> pd.Series:
    """The median of each key over one bucket of every partition: all of the key's rows."""
    return pd.concat(buckets).groupby("key")["value"].median()


# -- units: partitions, or buckets of accounts --------------------------------------------------
def _aligned_tables(data: Any, spec: KpiSpec, kwargs: dict[str, Any]) -> tuple[str, ...]:
    """The tables a call must see aligned on ``account_id``; none: its table's partitions do.

    Aligned: the KPIs that need all the rows of an account together, and
    those whose ``by`` (or calendar) columns are looked up in accounts
    (the account's column, or the account's rep).
    """
    tables = data.tables
    if spec.route == "by_account":
        names = [spec.table, *spec.reads, *spec.any_of, "accounts"]
        return tuple(t for t in dict.fromkeys(names) if t in tables)
    table = "deals" if spec.route == "market" else spec.table
    own = tables[table].columns
    if table == "accounts" or "account_id" not in own or "accounts" not in tables:
        return ()
    accounts = tables["accounts"].columns
    for column in _by(kwargs):
        if column not in own and (column in accounts or "rep_id" not in own):
            return (table, "accounts")
    return ()


def _alignment(data: Any, spec: KpiSpec,
               kwargs: dict[str, Any]) -> tuple[str | None, tuple[str, ...]]:
    """The column a call's units are aligned on, and the tables aligned (None: no alignment).

    A paused clock reads each ticket's events: tickets and ``ticket_events``
    aligned on ``ticket_id``, or on ``account_id`` with the accounts when the
    call looks them up too (see :func:`_aligned_tables`).
    """
    tables = _aligned_tables(data, spec, kwargs)
    if (kwargs.get("pause") is not None and spec.table == "tickets"
            and "ticket_events" in data.tables):
        if tables:
            return "account_id", (*tables, "ticket_events")
        return "ticket_id", ("tickets", "ticket_events")
    return ("account_id", tables) if tables else (None, ())


def _bucket_of(ids: pd.Series, n: int) -> np.ndarray:
    """The bucket of each id: a hash of its text, the same in every table and process."""
    hashed = pd.util.hash_pandas_object(ids.astype("str"), index=False).to_numpy()
    return (hashed % np.uint64(n)).astype(np.int64)


def _bucketed(part: pd.DataFrame, n: int, column: str = "account_id") -> list[pd.DataFrame]:
    """The rows of one partition in ``n`` buckets by ``column``, in their order."""
    bucket = _bucket_of(part[column], n)
    return [part[bucket == i] for i in range(n)]


def _concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """One bucket of a table: its rows from every partition, in partition order."""
    return pd.concat(parts, ignore_index=True)


def _aligned(data: Any, tables: Sequence[str], n: int,
             column: str = "account_id") -> list[Unit]:
    """``n`` units, unit ``i`` holding bucket ``i`` (by ``column``) of each of ``tables``.

    ``ticket_events`` has no ``account_id``: aligned on it, each event goes
    to the bucket of its ticket's account (see :func:`_events_by_account`).
    """
    splits = {t: ([dask.delayed(_bucketed, nout=n)(p, n, column)
                   for p in getattr(data, t).to_delayed()]
                  if t != "ticket_events" or column == "ticket_id"
                  else _events_by_account(data, n))
              for t in tables}
    return [{t: dask.delayed(_concat)([s[i] for s in splits[t]]) for t in tables}
            for i in range(n)]


def _events_by_account(data: Any, n: int) -> list[Any]:
    """The events in ``n`` buckets by their ticket's ``account_id``: a join on the workers.

    The events and the tickets' (ticket, account) pairs are both split by
    ``ticket_id`` into ``m`` buckets; bucket ``j`` of each meet in one task,
    which splits its events by account. A ticket's events keep their order.
    """
    m = max(data.tickets.npartitions, data.ticket_events.npartitions)
    owners = [dask.delayed(_bucketed, nout=m)(p[["ticket_id", "account_id"]], m, "ticket_id")
              for p in data.tickets.to_delayed()]
    events = [dask.delayed(_bucketed, nout=m)(p, m, "ticket_id")
              for p in data.ticket_events.to_delayed()]
    return [dask.delayed(_events_split, nout=n)([s[j] for s in events], [s[j] for s in owners], n)
            for j in range(m)]


def _events_split(events: list[pd.DataFrame], owners: list[pd.DataFrame],
                  n: int) -> list[pd.DataFrame]:
    """One bucket of events (by ticket) in ``n`` buckets by the account of their ticket."""
    events = _concat(events)
    owners = _concat(owners).drop_duplicates("ticket_id")
    account = events[["ticket_id"]].merge(owners, on="ticket_id", how="left", sort=False)
    bucket = _bucket_of(account["account_id"], n)
    return [events[bucket == i] for i in range(n)]


def _renewal_pairs(part: pd.DataFrame, n: int) -> list[pd.DataFrame]:
    """A partition's (contract, the contract it renews), in ``n`` buckets by the renewed one."""
    pairs = part.loc[part["renewal_of"].notna(), ["contract_id", "renewal_of"]]
    return _bucketed(pairs, n, "renewal_of")


def _first_renewals(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The contract that renews each renewed contract of one bucket: the first in the data."""
    return _plain(pd.concat(parts, ignore_index=True).drop_duplicates("renewal_of"))


def _renewals(data: Any, units: list[Unit]) -> list[Any]:
    """Which contract renews each contract of each unit, found by a join on the workers."""
    n = max(data.contracts.npartitions, len(units))
    pairs = [dask.delayed(_renewal_pairs, nout=n)(p, n) for p in data.contracts.to_delayed()]
    firsts = [dask.delayed(_first_renewals)([s[j] for s in pairs]) for j in range(n)]
    # Unit i reads bucket j of the first renewals: each task joins one unit and one bucket.
    out = []
    for unit in units:
        split = dask.delayed(_bucketed, nout=n)(unit["contracts"][["contract_id"]], n,
                                                  "contract_id")
        found = [dask.delayed(_matching)(firsts[j], split[j]) for j in range(n)]
        out.append(dask.delayed(_concat)(found))
    return out


def _matching(firsts: pd.DataFrame, contracts: pd.DataFrame) -> pd.DataFrame:
    return firsts[firsts["renewal_of"].isin(contracts["contract_id"])]


def _needs_renewals(calls: Sequence[tuple[int, Call]]) -> bool:
    """Whether a KPI of ``calls`` reads the renewals (the contracts' own KPIs)."""
    return any(_spec(name).route == "partition" and _spec(name).table == "contracts"
               for _, (name, _) in calls)


def _units(data: Any, key: tuple[str, ...],
           aligned: dict[str, list[Unit]]) -> list[Unit]:
    """The units of a group of calls: a table's partitions, or the aligned buckets."""
    if key[0] == "aligned":
        return aligned[key[1]]
    return [{key[1]: p} for p in getattr(data, key[1]).to_delayed()]


def _plan(data: Any, calls: Sequence[tuple[int, Call]]) -> tuple[dict[tuple[str, ...], list],
                                                                  dict[str, tuple[str, ...]]]:
    """The calls grouped by their units, and the tables to align on each column (see :func:`_alignment`)."""
    groups: dict[tuple[str, ...], list[tuple[int, Call]]] = {}
    aligned: dict[str, list[str]] = {}
    for index, (name, kwargs) in calls:
        spec = _spec(name)
        column, tables = _alignment(data, spec, kwargs)
        if column is not None:
            aligned.setdefault(column, []).extend(tables)
            key = ("aligned", column)
        else:
            key = ("raw", "deals" if spec.route == "market" else spec.table)
        groups.setdefault(key, []).append((index, (name, kwargs)))
    return groups, {c: tuple(dict.fromkeys(t)) for c, t in aligned.items()}


def _all_aligned(data: Any, tables: dict[str, tuple[str, ...]]) -> dict[str, list[Unit]]:
    """The aligned units on each column of ``tables`` (see :func:`_plan`)."""
    return {column: _aligned(data, found, _buckets(data, found), column)
            for column, found in tables.items()}


def _buckets(data: Any, tables: Sequence[str]) -> int:
    return max(getattr(data, t).npartitions for t in tables)


def run(data: Any, calls: Sequence[Call], *, checked: bool = False) -> list[pd.DataFrame]:
    """The result of each KPI call on Dask ``data``, in order; one ``dask.compute`` for all.

    ``checked``: the calls went through :func:`check` already.
    """
    columns = list(dict.fromkeys(c for _, kwargs in calls for c in _by(kwargs)))
    facts = _facts(data, columns)
    context = _context(facts, subtotals=True)
    plain = _context(facts, subtotals=False)
    lookups = _lookups(facts)
    empty = _empty(data, facts)
    for name, kwargs in [] if checked else calls:
        check(data, name, kwargs)
    shared = broadcast((context, lookups), data.client)
    groups, tables = _plan(data, list(enumerate(calls)))
    aligned = _all_aligned(data, tables)
    market = [index for index, (name, _) in enumerate(calls) if _spec(name).route == "market"]
    shared_plain = broadcast((plain, lookups), data.client) if market else None
    wanted: dict[str, Any] = {}
    medians = {}
    for key, group in groups.items():
        units = _units(data, key, aligned)
        mine = [(i, c) for i, c in group if i not in market]
        theirs = [(i, c) for i, c in group if i in market]
        if theirs:
            wanted[f"ours:{key}"] = _tree_sum([dask.delayed(_ours)(u, theirs, shared_plain)
                                               for u in units])
        if not mine:
            continue
        renewals = (_renewals(data, units) if _needs_renewals(mine)
                    else [None] * len(units))
        parts = [dask.delayed(_subtotals)(u, mine, shared, r)
                 for u, r in zip(units, renewals, strict=True)]
        wanted[f"subtotals:{key}"] = _tree_sum(parts)
        for index, (name, _) in mine:
            if _spec(name).kind == "median":
                # Rows of one key meet in one bucket, so each median is taken over all its rows.
                n = min(len(parts), 64)
                split = [dask.delayed(_split, nout=n)(p, index, n) for p in parts]
                buckets = [dask.delayed(_medians)([s[i] for s in split]) for i in range(n)]
                medians[index] = dask.delayed(pd.concat)(buckets)
    wanted.update({f"median:{i}": m for i, m in medians.items()})
    (found,) = dask.compute(wanted, scheduler=data.client)
    results: dict[int, pd.DataFrame] = {}
    for key, group in groups.items():
        for index, (name, kwargs) in group:
            spec = _spec(name)
            if index in market:
                results[index] = _market(spec, kwargs, empty, plain, found[f"ours:{key}"][index])
                continue
            subtotal = found[f"subtotals:{key}"][index]
            scope = scope_for(spec, empty, kwargs, whole=context)
            values = None
            if subtotal.kind == "median":
                values = np.full(subtotal.numerator.shape, np.nan).reshape(-1)
                found_medians = found[f"median:{index}"]
                values[found_medians.index.to_numpy(dtype=np.int64)] = found_medians.to_numpy()
                values = values.reshape(subtotal.numerator.shape)
            results[index] = finish(scope, subtotal, values)
    return [results[i] for i in range(len(calls))]


def _market(spec: KpiSpec, kwargs: dict[str, Any], empty: CrmData, plain: WholeFacts,
            ours: np.ndarray) -> pd.DataFrame:
    """A market KPI on the client: the market table and our revenue summed on the workers."""
    whole = replace(plain, known={**plain.known, OURS: ours})
    return evaluate(run_spec(spec, empty, kwargs, whole=whole))


def finish(scope: Scope, subtotal: Subtotal, medians: np.ndarray | None = None) -> pd.DataFrame:
    """The KPI's frame from the sum of its subtotals, as the pandas executor gives it.

    ``scope`` is the KPI's scope on any part of the data, with the same
    :class:`WholeFacts`; ``medians`` the values of a ``"median"`` subtotal.
    """
    present = np.flatnonzero(subtotal.seen > 0) if scope.keys is not None else np.array([0])
    num, den = subtotal.numerator[:, present], subtotal.denominator[:, present]
    if subtotal.kind == "count":
        value, den = num, np.ones_like(num)
    elif subtotal.kind == "ratio":
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.where(den != 0, subtotal.scale * num / np.where(den != 0, den, 1.0), np.nan)
    else:
        value = medians[:, present]
    keys = None
    if scope.keys is not None:
        keys = scope.keys.take(present).reset_index(drop=True)
        for column in keys.columns:
            whole = scope.whole.labels[column]
            if keys[column].notna().all() and keys[column].dtype != whole.dtype:
                keys[column] = keys[column].astype(whole.dtype)
    keep = scope.keep
    return tidy(scope.grid.periods[keep], keys, num[keep], den[keep], value[keep])


# -- the executor -------------------------------------------------------------------------------
def _detail_part(tables: dict[str, pd.DataFrame], spec: KpiSpec, kwargs: dict[str, Any],
                 period: pd.Period, shared: tuple[WholeFacts, dict[str, pd.DataFrame]],
                 renewals: pd.DataFrame | None = None,
                 only: str | None = None) -> pd.DataFrame:
    """The rows behind ``period`` in one unit (codes of the whole data); ``only``: of that table."""
    whole, lookups = shared
    whole = _with_renewals(whole, renewals)
    rows = detail_frame(run_spec(spec, _unit_data(tables, lookups), kwargs, whole=whole), period,
                        normalise_by(kwargs.get("by")))
    return rows if only is None else rows[rows["table"] == only]


def _joined(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The frames that have rows, one after the other (the first frame when none has)."""
    return pd.concat([f for f in frames if len(f)] or frames[:1], ignore_index=True)


def _listed(frames: list[pd.DataFrame], by: list[str]) -> pd.DataFrame:
    """The units' rows as one frame, its columns in :func:`detail_frame`'s order."""
    out = _joined(frames)
    tail = [c for c in ("in_numerator", "in_denominator", "numerator_weight",
                        "denominator_weight", "hours") if c in out.columns]
    labels = [c for c in by if c in out.columns]
    front = [c for c in out.columns if c not in tail and c not in labels]
    return _plain(out[[*front, *labels, *tail]])


class DaskExecutor:
    """Runs KPIs on :class:`~repkpi.dask.reader.DaskCrmData`: on the workers, one pass for all.

    It keeps nothing: :data:`EXECUTORS` wraps it in a
    :class:`~repkpi.kpis.shared.SharedExecutor`, which keeps the results.
    """

    def run(self, data: Any, calls: Sequence[Call]) -> list[pd.DataFrame | RepkpiError]:
        """Each call's result, or the expected error it raises (checked on empty frames)."""
        out: list[Any] = [None] * len(calls)
        usable = []
        for index, (name, kwargs) in enumerate(calls):
            try:
                check(data, name, kwargs)
            except EXPECTED as exc:
                out[index] = exc
                continue
            usable.append(index)
        results = run(data, [calls[i] for i in usable], checked=True) if usable else []
        for index, result in zip(usable, results, strict=True):
            out[index] = result
        return out

    def prefetch(self, data: Any, calls: Sequence[Call]) -> None:
        """Nothing to keep the results in: the :class:`~repkpi.kpis.shared.SharedExecutor` does."""

    def detail(self, data: Any, spec: KpiSpec, kwargs: dict[str, Any],
               period: pd.Period) -> pd.DataFrame:
        """The rows behind ``period``: found on the units, only they are gathered."""
        check(data, spec.name, kwargs)
        by = normalise_by(kwargs.get("by"))
        facts = _facts(data, _by(kwargs))
        context, plain = _context(facts, subtotals=True), _context(facts, subtotals=False)
        lookups = _lookups(facts)
        call = [(0, (spec.name, kwargs))]
        groups, tables = _plan(data, call)
        (key,) = groups
        units = _units(data, key, _all_aligned(data, tables))
        if spec.route == "market":
            # Our deals of the period from the units; the market's rows, which need our
            # revenue summed (the rank), on the client.
            shared = broadcast((plain, lookups), data.client)
            wanted = {"rows": [dask.delayed(_detail_part)(u, spec, kwargs, period, shared,
                                                          only="deals") for u in units],
                      "ours": _tree_sum([dask.delayed(_ours)(u, call, shared) for u in units])}
            wanted["rows"] = dask.delayed(_joined)(wanted["rows"])  # on a worker
            (found,) = dask.compute(wanted, scheduler=data.client)
            whole = replace(plain, known={**plain.known, OURS: found["ours"][0]})
            market = detail_frame(run_spec(spec, _empty(data, facts), kwargs, whole=whole),
                                  period, by)
            return _listed([found["rows"], market[market["table"] != "deals"]], by)
        shared = broadcast((context, lookups), data.client)
        renewals = _renewals(data, units) if _needs_renewals(call) else [None] * len(units)
        parts = [dask.delayed(_detail_part)(u, spec, kwargs, period, shared, r)
                 for u, r in zip(units, renewals, strict=True)]
        # Put together on a worker: the client receives the listed rows once, not each
        # unit's frame and then their concatenation.
        (rows,) = dask.compute(dask.delayed(_listed)(parts, by), scheduler=data.client)
        return _plain(rows)

    def gather(self, data: Any, wanted: Mapping[str, Any]) -> dict[str, Any]:
        """``wanted`` computed in one pass; frames with pandas' default ``str`` text columns."""
        (found,) = dask.compute(dict(wanted), scheduler=data.client)
        return {key: _plain(value) if isinstance(value, pd.DataFrame) else value
                for key, value in found.items()}

    def by_account(self, data: Any, tables: Mapping[str, Any], rows: pd.DataFrame,
                   function: Callable[[dict[str, pd.DataFrame], pd.DataFrame], pd.DataFrame],
                   ) -> list[pd.DataFrame]:
        """``function`` on ``n`` buckets of accounts, on the workers; only its results come back.

        The tables with ``account_id`` are split by a hash of it into ``n``
        buckets (``n``: their most partitions), bucket ``i`` of each together
        in one task with the bucket's ``rows``; the others (the reps) are
        read whole once and shared by every task.
        """
        keyed = [t for t, frame in tables.items() if "account_id" in frame.columns]
        n = max(tables[t].npartitions for t in keyed)
        units = _aligned(SimpleNamespace(**tables), keyed, n)
        whole = {t: dask.delayed(_concat)(frame.to_delayed())
                 for t, frame in tables.items() if t not in keyed}
        split = _bucketed(rows, n)
        parts = [dask.delayed(_by_account)({**unit, **whole}, split[i], function)
                 for i, unit in enumerate(units)]
        (found,) = dask.compute(parts, scheduler=data.client)
        return found


def _by_account(tables: dict[str, pd.DataFrame], rows: pd.DataFrame,
                function: Callable[[dict[str, pd.DataFrame], pd.DataFrame], pd.DataFrame],
                ) -> pd.DataFrame:
    """One bucket's result: ``function`` on its tables (pandas' ``str`` text) and its rows."""
    return function({t: _plain(frame) for t, frame in tables.items()}, rows)


EXECUTORS: dict[type, Executor] = {DaskCrmData: SharedExecutor(DaskExecutor())}
"""What :func:`~repkpi.kpis.registry.register_default_executors` registers: Dask data's executor."""
