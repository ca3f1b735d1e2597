"""How the sample generator decides churn, and the planted truth for checks.

An account churns only at the end of a contract term: it does not renew,
and ``churned_on`` is the day after the term's ``end_date`` (its first day
as no customer). Two modes decide whether it renews:

``"hazard"``
    At each term end E the account does not renew with probability
    ``p = 1 / (1 + exp(-z))``, ``z`` a linear function (:data:`HAZARD`) of
    what the canonical tables show at the close of E (24:00 UTC):

    - ``sla_breaches_90d``: tickets opened in the 90 days E - 89 .. E whose
      resolution deadline (``opened_at`` + 4, 24, 72 or 120 hours for an
      urgent, high, normal or low ticket) passed by the close of E with no
      resolution by the deadline (kpis.md's breaches, judged at 24:00 of E);
    - ``last_csat``, ``last_nps``: the account's latest CSAT and NPS answer
      by the close of E (none: the term is 0);
    - ``activities_90d``, ``answers_90d``: activities and survey answers in
      those 90 days; ``engaged_90d``: at least one of either;
    - ``rep_left``: the account's rep (``accounts.rep_id``) has a
      ``left_on`` on or before E;
    - ``segment``, ``term`` (1 for the first term) and ``annual_value`` of
      the ending term.

    ::

        z = c0 + c_segment + 0.5 breaches + 0.45 (4 - csat) + 0.12 (7 - nps)
            + 0.9 [not engaged] - 0.15 activities + 0.7 [rep left]
            - 0.2 (term - 1) - 0.3 log10(annual_value / 10000)

    with :data:`HAZARD`'s numbers. Deals are left out: the deals around a
    churn are its consequences (the lost renewal, a cross-sell lost when
    the account leaves).
``"sbg"``
    Fader and Hardie's shifted-beta-geometric model: each account draws a
    churn chance ``theta ~ beta(alpha, beta)`` once and does not renew at
    each term end with that chance, so the share of term-t contracts that
    renew is ``r(t) = (beta + t - 1) / (alpha + beta + t - 1)``.

:func:`planted_term_hazard` and :func:`planted_churn_probability` compute
the hazard mode's truth from the tables alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

__all__ = ["HAZARD", "SBG", "ChurnMode", "planted_churn_probability", "planted_term_hazard"]

ChurnMode = Literal["hazard", "sbg"]

#: Coefficients of the planted hazard's logit ``z`` (see the module's docstring).
HAZARD: dict[str, float] = {
    "intercept": -1.8,
    "segment_mid_market": -0.35,
    "segment_enterprise": -0.7,
    "sla_breaches_90d": 0.5,
    "csat_below_4": 0.45,
    "nps_below_7": 0.12,
    "not_engaged_90d": 0.9,
    "activities_90d": -0.15,
    "rep_left": 0.7,
    "term_after_first": -0.2,
    "log10_value_over_10000": -0.3,
}

#: Default ``(alpha, beta)`` of the sBG mode: a mean churn chance of
#: 0.7 / 4.2 = 1/6 at the first term end.
SBG: tuple[float, float] = (0.7, 3.5)

#: SLA resolution targets in hours per priority (kpis.md's defaults).
SLA_HOURS: dict[str, float] = {"urgent": 4.0, "high": 24.0, "normal": 72.0, "low": 120.0}

_DAY = 86_400
_WINDOW = 90  # days
_SHIFT = np.int64(1) << np.int64(36)  # account index * _SHIFT + seconds (or days) since 1970
_SEGMENTS = ("smb", "mid_market", "enterprise")


@dataclass(frozen=True)
class Events:
    """The event arrays the hazard reads, each with ``acct`` (account index 0..n-1).

    Tickets: ``opened``, ``resolved`` (negative = not resolved) and
    ``deadline`` in seconds since 1970; surveys: ``responded`` in seconds,
    ``csat`` and ``nps`` as float (NaN = not asked); activities: ``day`` in
    days since 1970.
    """

    tickets: dict[str, np.ndarray]
    surveys: dict[str, np.ndarray]
    activities: dict[str, np.ndarray]


def _count(keys: np.ndarray, acct: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Count sorted ``keys`` of account ``acct`` with a time in ``[lo, hi)``."""
    base = acct.astype(np.int64) * _SHIFT
    return np.searchsorted(keys, base + hi) - np.searchsorted(keys, base + lo)


def _keys(acct: np.ndarray, time: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the sorted combined keys of events and the order that sorts them."""
    keys = acct.astype(np.int64) * _SHIFT + time.astype(np.int64)
    order = np.argsort(keys, kind="stable")
    return keys[order], order


def _last_value(acct: np.ndarray, time: np.ndarray, value: np.ndarray,
                q_acct: np.ndarray, q_before: np.ndarray) -> np.ndarray:
    """The latest non-NaN ``value`` of each queried account dated before ``q_before``."""
    has = ~np.isnan(value)
    if not has.any():
        return np.full(q_acct.size, np.nan)
    keys, order = _keys(acct[has], time[has])
    vals = value[has][order]
    idx = np.maximum(np.searchsorted(keys, q_acct.astype(np.int64) * _SHIFT + q_before) - 1, 0)
    ok = (keys[idx] <= q_acct.astype(np.int64) * _SHIFT + q_before - 1) & (keys[idx] // _SHIFT == q_acct)
    return np.where(ok, vals[idx], np.nan)


def term_features(events: Events, acct: np.ndarray, end: np.ndarray, *,
                  segment: np.ndarray, rep_left_day: np.ndarray, term: np.ndarray,
                  value: np.ndarray) -> dict[str, np.ndarray]:
    """Measure the hazard's features of each term end (account ``acct``, day ``end``).

    ``segment`` holds an index into smb, mid_market, enterprise per term;
    ``rep_left_day`` the day the term's account's rep left (``inf`` when
    the rep has not left or the account has none).
    """
    close = (end.astype(np.int64) + 1) * _DAY  # 24:00 of E
    first = (end.astype(np.int64) - (_WINDOW - 1)) * _DAY
    t = events.tickets
    breached = (t["resolved"] < 0) | (t["resolved"] > t["deadline"])
    breaches = np.zeros(acct.size, dtype=np.int64)
    target = t["deadline"] - t["opened"]
    for seconds in np.unique(target):  # one pass per SLA target
        pick = breached & (target == seconds)
        keys, _ = _keys(t["acct"][pick], t["opened"][pick])
        # deadline < close  <=>  opened < close - target
        breaches += _count(keys, acct, first, np.maximum(close - seconds, first))
    s = events.surveys
    s_keys, _ = _keys(s["acct"], s["responded"])
    a = events.activities
    a_keys, _ = _keys(a["acct"], a["day"])
    day = end.astype(np.int64)
    activities = _count(a_keys, acct, day - (_WINDOW - 1), day + 1)
    answers = _count(s_keys, acct, first, close)
    return {
        "sla_breaches_90d": breaches,
        "last_csat": _last_value(s["acct"], s["responded"], s["csat"], acct, close),
        "last_nps": _last_value(s["acct"], s["responded"], s["nps"], acct, close),
        "activities_90d": activities,
        "answers_90d": answers,
        "engaged_90d": (activities + answers) > 0,
        "rep_left": rep_left_day <= day,
        "segment": segment,
        "term": term,
        "annual_value": value,
    }


def hazard_logit(f: Mapping[str, np.ndarray]) -> np.ndarray:
    """The planted hazard's logit ``z`` from :func:`term_features`' columns."""
    c = HAZARD
    seg = np.array([0.0, c["segment_mid_market"], c["segment_enterprise"]])
    return (
        c["intercept"]
        + seg[f["segment"]]
        + c["sla_breaches_90d"] * f["sla_breaches_90d"]
        + c["csat_below_4"] * np.nan_to_num(4.0 - f["last_csat"])
        + c["nps_below_7"] * np.nan_to_num(7.0 - f["last_nps"])
        + c["not_engaged_90d"] * ~f["engaged_90d"]
        + c["activities_90d"] * f["activities_90d"]
        + c["rep_left"] * f["rep_left"]
        + c["term_after_first"] * (f["term"] - 1)
        + c["log10_value_over_10000"] * np.log10(np.maximum(f["annual_value"], 1.0) / 10_000)
    )


def decide(mode: ChurnMode, rng: np.random.Generator, acct: np.ndarray, end: np.ndarray,
           decided: np.ndarray, n: int, *, logit: np.ndarray | None,
           sbg: tuple[float, float]) -> np.ndarray:
    """Return each account's churn day (``-1`` = none) from its term ends.

    ``acct`` and ``end`` list every term end, sorted by account then term;
    only those with ``decided`` can end in churn. The draws come from
    ``rng`` in a fixed order (one uniform per term end, then one beta per
    account), so both modes read the same uniforms.
    """
    u = rng.random(acct.size)
    alpha, beta = sbg
    theta = rng.beta(alpha, beta, n)
    if mode == "sbg":
        p = theta[acct]
    else:
        p = 1.0 / (1.0 + np.exp(-logit))
    leave = decided & (u < p)
    big = np.iinfo(np.int64).max
    first = np.full(n, big, dtype=np.int64)
    np.minimum.at(first, acct[leave], end[leave])
    return np.where(first == big, -1, first + 1)


# --------------------------------------------------------------------------
# the truth, from the canonical tables
# --------------------------------------------------------------------------


def _days(s: pd.Series) -> np.ndarray:
    """Days since 1970 of a date column (NaT -> -1)."""
    v = s.to_numpy(dtype="datetime64[us]", na_value=np.datetime64("NaT"))
    out = v.astype("datetime64[D]").astype(np.int64)
    return np.where(np.isnat(v), -1, out)


def _seconds(s: pd.Series) -> np.ndarray:
    """Seconds since 1970 (UTC) of a timestamp column (NaT -> -1)."""
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
    v = s.to_numpy(dtype="datetime64[us]", na_value=np.datetime64("NaT"))
    return np.where(np.isnat(v), -1, v.astype("datetime64[s]").astype(np.int64))


def _float(s: pd.Series) -> np.ndarray:
    """A numeric column as float64, NA as NaN."""
    return pd.to_numeric(s).astype("float64").to_numpy(na_value=np.nan)


def _latest_day(tables: Mapping[str, pd.DataFrame]) -> int:
    """The latest recorded day in the tables' event columns."""
    cols = {"tickets": "opened_at", "surveys": "responded_at", "activities": "occurred_on",
            "accounts": "customer_since", "deals": "created_on"}
    return int(np.concatenate([_days(tables[t][c]) for t, c in cols.items()]).max())


def planted_term_hazard(tables: Mapping[str, pd.DataFrame], *, end: str | None = None) -> pd.DataFrame:
    """The planted hazard of every renewal decision in generated data.

    Parameters
    ----------
    tables : mapping of str to pandas.DataFrame
        The canonical tables as :func:`repkpi.datasets.generator.generate_sample`
        returns them (``churn="hazard"``).
    end : str, optional
        Last day of the history; default the latest recorded day of the
        tickets, surveys, activities, deals and accounts.

    Returns
    -------
    pandas.DataFrame
        One row per contract term that ends before ``end`` while its account
        is a customer: ``account_id``, ``contract_id``, ``end_date``, the
        features of the module's docstring, ``z``, ``probability`` (of not
        renewing at this end) and ``churned`` (``churned_on`` is the day
        after ``end_date``).

    Examples
    --------
    >>> from repkpi.datasets.generator import generate_sample
    >>> terms = planted_term_hazard(generate_sample(seed=1, accounts=200))
    >>> bool(terms["probability"].between(0, 1).all())
    True
    """
    acc, con = tables["accounts"], tables["contracts"]
    ids = pd.Index(acc["account_id"].astype(str))
    stop = day_of(end) if end is not None else _latest_day(tables)
    since, churned = _days(acc["customer_since"]), _days(acc["churned_on"])
    reps = tables["reps"]
    left = pd.Series(_days(reps["left_on"]), index=reps["rep_id"].astype(str))
    rep_left = left.reindex(acc["rep_id"].astype(str)).to_numpy(dtype=np.float64, na_value=np.nan)
    rep_left = np.where(np.isnan(rep_left) | (rep_left < 0), np.inf, rep_left)
    seg = pd.Index(_SEGMENTS).get_indexer(acc["segment"].astype(str))

    c_acct = ids.get_indexer(con["account_id"].astype(str))
    start, c_end = _days(con["start_date"]), _days(con["end_date"])
    order = np.lexsort((start, c_acct))
    term = np.empty(order.size, dtype=np.int64)
    term[order] = group_rank(c_acct[order]) + 1
    gone = churned[c_acct]
    rows = np.flatnonzero(
        (c_end >= 0) & (c_end < stop) & (since[c_acct] <= c_end) & ((gone < 0) | (c_end < gone))
    )
    a, e = c_acct[rows], c_end[rows]
    f = term_features(
        events_from_tables(tables, ids), a, e, segment=seg[a], rep_left_day=rep_left[a],
        term=term[rows], value=con["annual_value"].to_numpy(dtype=np.float64)[rows],
    )
    z = hazard_logit(f)
    out = pd.DataFrame({
        "account_id": ids[a],
        "contract_id": con["contract_id"].astype(str).to_numpy()[rows],
        "end_date": pd.Series(e.astype("datetime64[D]").astype("datetime64[us]")),
    })
    for name, values in f.items():  # the features' columns
        out[name] = np.asarray(_SEGMENTS)[values] if name == "segment" else values
    out["z"] = z
    out["probability"] = 1.0 / (1.0 + np.exp(-z))
    out["churned"] = churned[a] == e + 1
    return out.sort_values(["end_date", "account_id"], ignore_index=True)


def planted_churn_probability(tables: Mapping[str, pd.DataFrame], *, period: str | pd.Period,
                              horizon: int = 1, freq: str = "Q") -> pd.DataFrame:
    """The planted chance that each account active at a period's close churns soon.

    Parameters
    ----------
    tables : mapping of str to pandas.DataFrame
        The canonical tables of generated data (``churn="hazard"``).
    period : str or pandas.Period
        The scored period, e.g. ``"2025Q2"``, read with ``freq``.
    horizon : int, default 1
        Number of whole periods after ``period`` in the window.
    freq : str, default "Q"
        ``"M"``, ``"Q"`` or ``"Y"``.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``account_id``: the accounts active at the close of
        ``period``'s last day L; ``probability`` = 1 - prod(1 - p) over the
        account's term ends E with E + 1 day in (L, (period + horizon).last]
        (0 with none), ``churned`` = ``churned_on`` in that window.

    Raises
    ------
    ValueError
        When the window ends after the tables' last recorded day.

    Examples
    --------
    >>> from repkpi.datasets.generator import generate_sample
    >>> truth = planted_churn_probability(generate_sample(seed=1, accounts=200), period="2025Q2")
    >>> list(truth.columns)
    ['probability', 'churned']
    """
    p = pd.Period(period, freq=freq)
    lo = day_of(p.end_time.date().isoformat())
    hi = day_of((p + horizon).end_time.date().isoformat())
    stop = _latest_day(tables)
    if hi > stop:
        msg = (f"The window after {p} ends on {np.datetime64(hi, 'D')}, after the data's last "
               f"recorded day {np.datetime64(stop, 'D')}.\nHint: score an earlier period or "
               "a shorter horizon.")
        raise ValueError(msg)
    acc = tables["accounts"]
    since, churned = _days(acc["customer_since"]), _days(acc["churned_on"])
    active = (since >= 0) & (since <= lo) & ((churned < 0) | (churned > lo))
    terms = planted_term_hazard(tables)
    e = _days(terms["end_date"]) + 1
    inside = terms[(e > lo) & (e <= hi)]
    keep = np.log1p(-inside["probability"]).groupby(inside["account_id"]).sum()
    ids = acc["account_id"].astype(str)[active]
    out = pd.DataFrame(index=pd.Index(ids, name="account_id"))
    out["probability"] = -np.expm1(keep.reindex(out.index, fill_value=0.0).to_numpy())
    out["churned"] = (churned[active] > lo) & (churned[active] <= hi)
    return out


def events_from_tables(tables: Mapping[str, pd.DataFrame], ids: pd.Index) -> Events:
    """The hazard's event arrays from canonical tables (rows without a known account left out)."""
    t = tables["tickets"]
    t_acct = ids.get_indexer(t["account_id"].astype(str))
    hours = t["priority"].map(SLA_HOURS).to_numpy(dtype=np.float64, na_value=np.nan)
    ok = (t_acct >= 0) & ~np.isnan(hours)
    opened = _seconds(t["opened_at"])[ok]
    tickets = {
        "acct": t_acct[ok],
        "opened": opened,
        "resolved": _seconds(t["resolved_at"])[ok],
        "deadline": opened + (hours[ok] * 3600).astype(np.int64),
    }
    s = tables["surveys"]
    s_acct = ids.get_indexer(s["account_id"].astype(str))
    ok = s_acct >= 0
    surveys = {
        "acct": s_acct[ok],
        "responded": _seconds(s["responded_at"])[ok],
        "csat": _float(s["csat"])[ok],
        "nps": _float(s["nps"])[ok],
    }
    a = tables["activities"]
    a_acct = ids.get_indexer(a["account_id"].astype(str))
    ok = a_acct >= 0
    activities = {"acct": a_acct[ok], "day": _days(a["occurred_on"])[ok]}
    return Events(tickets, surveys, activities)


def group_rank(group: np.ndarray) -> np.ndarray:
    """Return the position of each row inside its run of equal, sorted ``group``."""
    n = group.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.r_[0, np.flatnonzero(np.diff(group)) + 1]
    return np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))


def day_of(value: str) -> int:
    """Return a calendar day as days since 1970-01-01."""
    return int(np.datetime64(pd.Timestamp(value).date(), "D").astype(np.int64))
