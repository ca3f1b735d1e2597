"""The KPIs on Dask data: additive pieces per partition, summed, then finished.

Two passes over the data at most:

1. **Facts of the whole data** (once per data object, then cached): the
   first and last value of every date column (the period grids), every
   label of the ``by`` columns (group codes that mean the same in every
   partition), the latest ticket timestamp (the default ``as_of``), the
   renewed contract ids, and the small tables that ``by`` looks columns up
   in (accounts' ids, dates and dimensions; reps; market).
2. **The KPIs**, all requested at once in one ``dask.compute``:

   * *additive* KPIs (route ``"partition"``) run on each partition of their
     own table, with a :class:`~repkpi.kpis.engine.Whole` describing the
     whole data, and return :class:`~repkpi.kpis.engine.Piece` arrays that
     are summed in a tree;
   * the medians (kind ``"median"``) are
     **exact**: each partition gives the (period, group, hours) of its
     tickets, the rows are shuffled by (period, group), and each group's
     median is taken whole, as pandas does;
   * KPIs that need all rows of an account together (routes ``"touches"``,
     ``"won_deals"``, ``"contracts"``) and the market KPIs gather only what
     they read: the distinct
     (account, period) pairs of activities and surveys, the won deals'
     account, date and amount, the contracts' account, dates and value.
     They are then computed by the pandas code on the period grid of the
     whole data.

Every route gives the numbers of the pandas engine; ``tests/test_dask.py``
checks that on a local cluster. The executor registers itself for
:class:`~repkpi.io.dask.DaskCrmData`; importing this module does not import
Dask (the data's loader does).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from repkpi.errors import OptionError, RepkpiError
from repkpi.io.dask import DaskCrmData, broadcast, require_dask, sorted_labels
from repkpi.io.loading import CrmData
from repkpi.kpis.business import read_calendar
from repkpi.kpis.engine import (
    Piece,
    Scope,
    Whole,
    as_of_day,
    detail_frame,
    evaluate,
    positions,
    run_spec,
    scope_for,
    tidy,
)
from repkpi.kpis.registry import (
    EXPECTED,
    KPIS,
    Call,
    KpiSpec,
    call_key,
    normalise_by,
    register_executor,
)
from repkpi.periods import NAT, day_numbers, micros
from repkpi.schemas import COLUMNS

__all__ = ["DaskExecutor"]

_TOUCHES = {"activities": "occurred_on", "surveys": "responded_at"}



def _spec(name: str) -> KpiSpec:
    return KPIS[name].spec  # type: ignore[attr-defined]


def _by(kwargs: dict[str, Any]) -> list[str]:
    """The columns a call looks up: its ``by``, and the dimensions its calendar differs by."""
    columns = normalise_by(kwargs.get("by"))
    if kwargs.get("calendar") is not None:
        columns += [c for c in read_calendar(kwargs["calendar"]).columns if c not in columns]
    return columns


# -- pass 1: facts of the whole data ------------------------------------------------------------
def _facts(data: Any, columns: Sequence[str]) -> dict[str, Any]:
    """Spans, labels, lookups and other facts of the whole data (computed once, then cached)."""
    dask = require_dask()
    cache = data.cache.setdefault("facts", {})
    wanted: dict[str, Any] = {}
    if "spans" not in cache:
        wanted["spans"] = {(t, c.name): (frame[c.name].min(), frame[c.name].max())
                           for t, frame in data.tables.items()
                           for c in COLUMNS[t] if c.kind in ("date", "datetime")}
        if data.contracts is not None:
            wanted["renewals"] = data.contracts[["contract_id", "renewal_of"]].dropna(
                subset=["renewal_of"])
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
            cache["renewals"] = found.get("renewals")
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


def _context(facts: dict[str, Any], *, pieces: bool) -> Whole:
    """The :class:`Whole` of the data (made once per data object)."""
    if ("context", pieces) not in facts:
        facts[("context", pieces)] = _make_context(facts, pieces=pieces)
    return facts[("context", pieces)]


def _make_context(facts: dict[str, Any], *, pieces: bool) -> Whole:
    spans = {}
    for key, (lo, hi) in facts["spans"].items():
        days = day_numbers(pd.Series([lo, hi]))
        spans[key] = tuple(np.datetime64("NaT") if d == NAT else np.datetime64(int(d), "D")
                           for d in days)
    values: dict[tuple, Any] = {("as_of",): facts["as_of_day"]}
    latest = [facts["spans"][("tickets", c)][1] for c in ("opened_at", "first_response_at",
                                                          "resolved_at")
              if ("tickets", c) in facts["spans"]]
    if latest:
        stamps = micros(pd.Series(latest).astype("datetime64[us, UTC]"))
        values[("latest", "tickets")] = max((s for s in stamps if s != NAT), default=NAT)
    if facts.get("renewals") is not None:
        values[("renewals",)] = _plain(facts["renewals"]).reset_index(drop=True)
    return Whole(spans=spans, labels=facts["labels"], facts=values, pieces=pieces)


def _lookups(facts: dict[str, Any]) -> dict[str, pd.DataFrame]:
    return {t: facts[t] for t in ("accounts", "reps", "market") if t in facts}


def _empty(data: Any, facts: dict[str, Any]) -> CrmData:
    """The data with no rows (the lookups whole): enough to build a KPI's scope."""
    tables = {t: frame._meta for t, frame in data.tables.items()}
    return CrmData.trusted(**{**tables, **_lookups(facts)})


def check(data: Any, name: str, kwargs: dict[str, Any]) -> None:
    """Raise what the pandas engine would: a missing table, an unknown column, a bad option.

    The KPI runs on the data's empty frames, which is instant.
    """
    if kwargs.get("pause") is not None:
        raise OptionError(f"{name}(pause=...) is not available on Dask data yet: the clock's "
                          "pauses need each ticket's events beside it.\nHint: load the data "
                          "with engine='pandas' to pause the clock.")
    facts = _facts(data, _by(kwargs))
    tables = {t: frame._meta for t, frame in data.tables.items()}
    small = {t: facts[t] for t in ("reps", "market") if t in facts}  # market's grain matters
    evaluate(run_spec(_spec(name), CrmData.trusted(**{**tables, **small}), kwargs,
                      whole=_context(facts, pieces=False)))


# -- pass 2: the KPIs ---------------------------------------------------------------------------
def _pieces(part: pd.DataFrame, table: str, calls: list[tuple[int, Call]],
            shared: tuple[Whole, dict[str, pd.DataFrame]]) -> dict[int, Piece]:
    """Every additive KPI of ``calls`` on one partition of ``table``."""
    whole, lookups = shared
    data = CrmData.trusted(**{**lookups, table: part})
    cache: dict = {}
    return {index: evaluate(run_spec(_spec(name), data, kwargs, whole=whole, cache=cache))
            for index, (name, kwargs) in calls}


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
    """The won deals of one partition, with the columns the gathered KPIs read and show."""
    return part.loc[part["stage"] == "won", ["deal_id", "account_id", "closed_on", "amount", "stage"]]


def _pairs(part: pd.DataFrame, column: str, shared: tuple[Whole, dict[str, pd.DataFrame]],
           first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Distinct (account position, period position) of one partition's touches, as one number."""
    account = positions(part["account_id"], shared[1]["accounts"]["account_id"])
    days = day_numbers(part[column])
    pos = np.searchsorted(first, days, side="right") - 1
    ok = (account >= 0) & (pos >= 0) & (days != NAT) & (days <= (last[-1] if len(last) else NAT))
    return pd.unique(account[ok] * len(first) + pos[ok])


def _gathered(data: Any, calls: Sequence[tuple[int, Call]], columns: list[str]) -> dict[str, Any]:
    """What the gathered KPIs of ``calls`` read, as delayed objects to compute."""
    dask = require_dask()
    routes = {_spec(name).route for _, (name, _) in calls}
    wanted: dict[str, Any] = {}
    if routes & {"won_deals", "market"} and data.deals is not None:
        wanted["won"] = [dask.delayed(_won)(p) for p in data.deals.to_delayed()]
    if "contracts" in routes and data.contracts is not None:
        own = [c for c in columns if c in data.contracts.columns]
        keep = list(dict.fromkeys(["account_id", "start_date", "end_date", "annual_value", *own]))
        wanted["contracts"] = [p[keep] for p in data.contracts.to_delayed()]
    return wanted


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
        spec = _spec(name)
        if spec.route == "partition":
            by_table.setdefault(spec.table, []).append((index, (name, kwargs)))
        else:
            gathered.append((index, (name, kwargs)))
    medians = {}
    for table, table_calls in by_table.items():
        parts = [dask.delayed(_pieces)(p, table, table_calls, shared)
                 for p in getattr(data, table).to_delayed()]
        wanted[f"pieces:{table}"] = _tree_sum(dask, parts)
        for index, (name, _) in table_calls:
            if _spec(name).kind == "median":
                # Rows of one key meet in one bucket, so each median is taken over all its rows.
                n = min(len(parts), 64)
                split = [dask.delayed(_split, nout=n)(p, index, n) for p in parts]
                buckets = [dask.delayed(_medians)([s[i] for s in split]) for i in range(n)]
                medians[index] = dask.delayed(pd.concat)(buckets)
    wanted.update({f"median:{i}": m for i, m in medians.items()})
    wanted.update(_gathered(data, gathered, columns))
    touching = [(i, c) for i, c in gathered if _spec(c[0]).route == "touches"]
    for index, (name, kwargs) in touching:
        scope = scope_for(_spec(name), empty, kwargs, whole=plain)
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
        part = CrmData.trusted(**{**lookups, table: empty.tables[table]})
        for index, (name, kwargs) in table_calls:
            scope = scope_for(_spec(name), part, kwargs, whole=context)
            values = None
            if total[index].kind == "median":
                values = np.full(total[index].numerator.shape, np.nan).reshape(-1)
                found_medians = found[f"median:{index}"]
                values[found_medians.index.to_numpy(dtype=np.int64)] = found_medians.to_numpy()
                values = values.reshape(total[index].numerator.shape)
            results[index] = finish(scope, total[index], values)
    common = _common(lookups, found)  # one object: the KPIs share their grids and ARR sums
    cache: dict = {}
    for index, (name, kwargs) in gathered:
        on = common
        spec = _spec(name)
        if spec.route == "touches":
            scope = scope_for(spec, empty, kwargs, whole=plain)
            touches = {table: _touches(found[f"pairs:{index}:{table}"],
                                       lookups["accounts"]["account_id"], scope.grid.first,
                                       column, table)
                       for table, column in _TOUCHES.items()
                       if f"pairs:{index}:{table}" in found}
            on = CrmData.trusted(**common.tables, **touches)
        results[index] = evaluate(run_spec(spec, on, kwargs, whole=plain, cache=cache))
    return [results[i] for i in range(len(calls))]


def _common(lookups: dict[str, pd.DataFrame], found: dict[str, Any]) -> CrmData:
    tables = dict(lookups)
    if "won" in found:
        tables["deals"] = found["won"]
    if "contracts" in found:
        tables["contracts"] = found["contracts"]
    return CrmData.trusted(**tables)


def finish(scope: Scope, piece: Piece, medians: np.ndarray | None = None) -> pd.DataFrame:
    """The KPI's frame from the sum of its pieces, as the pandas executor gives it.

    ``scope`` is the KPI's scope on any part of the data, with the same
    :class:`Whole`; ``medians`` the values of a ``"median"`` piece.
    """
    present = np.flatnonzero(piece.seen > 0) if scope.keys is not None else np.array([0])
    num, den = piece.numerator[:, present], piece.denominator[:, present]
    if piece.kind == "count":
        value, den = num, np.ones_like(num)
    elif piece.kind == "ratio":
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.where(den != 0, piece.scale * num / np.where(den != 0, den, 1.0), np.nan)
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


def cached_run(data: Any, calls: Sequence[Call], *, checked: bool = False) -> list[pd.DataFrame]:
    """:func:`run`, keeping each result on ``data`` for the same call later (scorecard's goals)."""
    store = data.cache.setdefault("results", {})
    keys = [call_key(call) for call in calls]
    todo = [(key, call) for key, call in zip(keys, calls, strict=True) if key not in store]
    todo = list(dict((key, call) for key, call in todo).items())
    if todo:
        for (key, _), result in zip(todo, run(data, [c for _, c in todo], checked=checked), strict=True):
            store[key] = result
    return [store[key].copy() for key in keys]


# -- the executor -------------------------------------------------------------------------------
def _detail_part(part: pd.DataFrame, table: str, spec: KpiSpec, kwargs: dict[str, Any],
                 period: pd.Period, shared: tuple[Whole, dict[str, pd.DataFrame]]) -> pd.DataFrame:
    """The rows behind ``period`` in one partition of ``table`` (codes of the whole data)."""
    whole, lookups = shared
    plain = Whole(whole.spans, whole.labels, whole.facts, pieces=True)
    data = CrmData.trusted(**{**lookups, table: part})
    return detail_frame(run_spec(spec, data, kwargs, whole=plain), period,
                        normalise_by(kwargs.get("by")))


class DaskExecutor:
    """Runs KPIs on :class:`~repkpi.io.dask.DaskCrmData`: on the workers, one pass for all."""

    batches = True

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
        results = cached_run(data, [calls[i] for i in usable], checked=True)
        for index, result in zip(usable, results, strict=True):
            out[index] = result
        return out

    def prefetch(self, data: Any, calls: Sequence[Call]) -> None:
        """Compute every call the data supports in one pass; later calls find the results."""
        self.run(data, calls)

    def detail(self, data: Any, spec: KpiSpec, kwargs: dict[str, Any],
               period: pd.Period) -> pd.DataFrame:
        """The rows behind ``period``: small, so gathered from the workers."""
        dask = require_dask()
        check(data, spec.name, kwargs)
        by = normalise_by(kwargs.get("by"))
        facts = _facts(data, _by(kwargs))
        context, plain = _context(facts, pieces=True), _context(facts, pieces=False)
        lookups = _lookups(facts)
        if spec.route == "partition":
            shared = broadcast(dask, (context, lookups), data.client)
            parts = [dask.delayed(_detail_part)(p, spec.table, spec, kwargs, period, shared)
                     for p in getattr(data, spec.table).to_delayed()]
            (frames,) = dask.compute(parts, scheduler=data.client)
            return pd.concat(frames, ignore_index=True)
        call = [(0, (spec.name, kwargs))]
        wanted = _gathered(data, call, by)
        if spec.route == "touches":
            for table in _TOUCHES:
                if getattr(data, table) is not None:
                    wanted[table] = getattr(data, table)
        (found,) = dask.compute(wanted, scheduler=data.client)
        for key in ("won", "contracts"):
            if key in found:
                found[key] = _plain(pd.concat(found[key]))
        common = _common(lookups, found)
        tables = {t: _plain(found[t]) for t in _TOUCHES if t in found}
        on = CrmData.trusted(**common.tables, **tables)
        return detail_frame(run_spec(spec, on, kwargs, whole=plain), period, by)


register_executor(DaskCrmData, DaskExecutor())
