"""Rows coded by their ``by`` groups, and ids looked up in other tables.

A KPI groups the rows of its table by columns of the table itself, or of
the accounts (through ``account_id``), or of the reps (through ``rep_id``,
or the account's rep): :func:`dimensions` codes each row, :func:`positions`
finds each id among another table's ids (cached per data object by
:func:`lookups`), and :func:`compact` ranks small integer codes. The scope
of a KPI (:class:`~repkpi.kpis.declaration.Scope`) builds its groups from
these; the declarations use them to relate tables.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from repkpi._vector import to_arrow
from repkpi.errors import ColumnNotFoundError
from repkpi.io.loading import CrmData
from repkpi.kpis.registry import refuse_absent

__all__ = ["available_dimensions", "compact", "dimension", "dimensions", "lookups", "positions",
           "with_missing"]


def with_missing(labels: pd.Series) -> pd.Series:
    """``labels`` with a missing value appended, in a dtype that can hold it."""
    try:
        missing = pd.Series([None], dtype=labels.dtype)
    except (TypeError, ValueError):  # e.g. bool
        labels, missing = labels.astype(object), pd.Series([None], dtype=object)
    return pd.concat([labels, missing], ignore_index=True)


def _factorize(values: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Codes in sorted order of the values, with missing values last; and the labels."""
    codes, uniques = pd.factorize(values, sort=True)
    labels = pd.Series(uniques, dtype=values.dtype)
    if (codes < 0).any():
        codes = np.where(codes < 0, len(labels), codes)
        labels = with_missing(labels)
    return codes.astype(np.int64), labels


def _through(ids: pd.Series, keys: pd.Series, column: pd.Series,
             memo: dict) -> tuple[np.ndarray, pd.Series]:
    """Codes and labels of ``column`` looked up for each of ``ids`` in ``keys`` (a unique id)."""
    codes, labels = _factorize(column)
    position = positions(ids, keys, memo=memo)
    if (position < 0).any():
        na = len(labels)
        if not labels.isna().any():
            labels = with_missing(labels)
        else:
            na = len(labels) - 1
        return np.where(position >= 0, codes[np.maximum(position, 0)], na), labels
    return codes[position], labels


def dimensions(data: CrmData, table: str, frame: pd.DataFrame, by: list[str],
               kpi_name: str) -> list[tuple[np.ndarray, pd.Series]]:
    """Codes and labels of each ``by`` column for the rows of ``frame``.

    A column is looked up in the table itself, then in accounts (by
    ``account_id``), then in reps (by ``rep_id``, or the account's ``rep_id``).
    A column the data does not have (``data.absent``), or one of the ids
    that lead to it, is refused (:class:`~repkpi.errors.AbsentColumnError`):
    every row would fall in the group of missing values.
    """
    accounts, reps = data.accounts, data.reps
    memo = lookups(data)
    out = []
    for column in by:
        who = f"{kpi_name} by {column!r}"
        if column in frame.columns:
            refuse_absent(data, who, table, [column])
            out.append(_factorize(frame[column]))
            continue
        if accounts is not None and "account_id" in frame.columns and column in accounts.columns:
            refuse_absent(data, who, table, ["account_id"])
            refuse_absent(data, who, "accounts", [column])
            out.append(_through(frame["account_id"], accounts["account_id"], accounts[column],
                                memo))
            continue
        if reps is not None and column in reps.columns:
            refuse_absent(data, who, "reps", [column])
            rep_ids = None
            if "rep_id" in frame.columns:
                refuse_absent(data, who, table, ["rep_id"])
                rep_ids = frame["rep_id"]
            elif accounts is not None and "account_id" in frame.columns:
                refuse_absent(data, who, table, ["account_id"])
                refuse_absent(data, who, "accounts", ["rep_id"])
                where = positions(frame["account_id"], accounts["account_id"], memo=memo)
                rep_ids = accounts["rep_id"].reset_index(drop=True).reindex(where)
            if rep_ids is not None:
                out.append(_through(rep_ids, reps["rep_id"], reps[column], memo))
                continue
        available = available_dimensions(data, frame.columns)
        raise ColumnNotFoundError(
            f"Unknown dimension {column!r} for {kpi_name}. Available: {sorted(available)}.\n"
            f"Hint: dimensions come from the KPI's table ({table}), then accounts, then reps "
            "(load those tables to use their columns)."
        )
    return out


def available_dimensions(data: CrmData, columns: Iterable[str]) -> set[str]:
    """The columns that rows with ``columns`` can be grouped by: theirs, then accounts', then reps'.

    As :func:`dimensions` looks them up: accounts' columns through
    ``account_id``, reps' through ``rep_id`` or the account's rep, each when
    that table is loaded.

    Examples
    --------
    >>> from repkpi.datasets import doctest_data as examples
    >>> sorted(available_dimensions(examples.accounts(), ["deal_id", "account_id"]))[:4]
    ['account_id', 'account_name', 'churned_on', 'customer_since']
    """
    available = set(columns)
    accounts, reps = data.accounts, data.reps
    if "account_id" in available and accounts is not None:
        available |= set(accounts.columns)
    if reps is not None and ("rep_id" in available or "account_id" in available):
        available |= set(reps.columns)
    return available


def dimension(data: CrmData, table: str, frame: pd.DataFrame, column: str,
              kpi_name: str) -> tuple[np.ndarray, pd.Series]:
    """The dimension ``column`` of each row of ``frame``: codes, and the labels they index.

    Looked up as ``by`` looks it up: in the table, then in accounts, then in
    reps; a row with none has the code of a missing label.
    """
    ((codes, labels),) = dimensions(data, table, frame, [column], kpi_name)
    return codes, labels.reset_index(drop=True)


def lookups(data: CrmData) -> dict:
    """The data's cache of id lookups (see :func:`positions`)."""
    return data.__dict__.setdefault("lookups_cache", {})


def compact(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct codes in order, and each code's rank among them (like ``np.unique``).

    Codes are small non-negative integers, so counting beats sorting.

    Examples
    --------
    >>> compact(np.array([7, 2, 7, 5]))
    (array([2, 5, 7]), array([2, 0, 2, 1]))
    """
    if len(codes) == 0:
        return codes.astype(np.int64), codes.astype(np.int64)
    top = int(codes.max()) + 1
    if top > 4 * len(codes) + 1_000_000:
        seen, rank = np.unique(codes, return_inverse=True)
        return seen, rank.astype(np.int64)
    present = np.bincount(codes, minlength=top) > 0
    rank = np.cumsum(present) - 1
    return np.flatnonzero(present), rank[codes]


def _arrow_of(values: pd.Series) -> object:
    """The Arrow array behind a pyarrow-backed column (None for other columns).

    Arrow arrays are immutable: a column edited in place gets a new one, so
    the identity of this object tells whether a cached lookup is still good.
    """
    export = getattr(values.array, "__arrow_array__", None)
    return export() if export is not None else None


def positions(ids: pd.Series, keys: pd.Series, *, memo: dict | None = None) -> np.ndarray:
    """Position of each id among ``keys`` (unique), -1 where it is missing or unknown.

    With ``memo`` (a dict kept by the data), the answer for the same two
    Arrow arrays is computed once: every KPI by region looks up the same
    million ticket accounts.
    """
    source, target = _arrow_of(ids), _arrow_of(keys)
    key = (id(source), id(target))
    if memo is not None and source is not None and target is not None:
        hit = memo.get(key)
        if hit is not None and hit[0] is source and hit[1] is target:
            return hit[2]
    found = pc.index_in(to_arrow(ids.astype("str")), value_set=to_arrow(keys.astype("str")))
    result = np.asarray(pc.fill_null(found, -1), dtype=np.int64)
    if memo is not None and source is not None and target is not None:
        result.setflags(write=False)
        memo[key] = (source, target, result)
    return result

