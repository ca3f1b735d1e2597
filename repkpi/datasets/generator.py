"""Deterministic, vectorised generator of realistic CRM sample data.

The generator produces the eight canonical tables of the data model
(``accounts``, ``contracts``, ``deals``, ``tickets``, ``surveys``,
``activities``, ``market`` and ``reps``) for a fictional company whose
customer-representative team is followed over almost five years. The data
is shaped so that the default goals are met in some periods and missed in
others: acquisitions grow with a first-quarter peak, churn, satisfaction and
service levels drift around their targets, a few very large accounts make
"large deals" and "key accounts" borderline, and our rank in the market
climbs over the years.

:func:`generate_sample` returns the tables as pandas DataFrames;
:func:`write_sample` writes them as CSV files (plus a ``goals.toml`` giving
every KPI a target) in the shape a CRM export has, including a few
timestamps with a UTC offset or without any zone.

Everything is drawn from ``numpy.random.default_rng(seed)``: the same seed
and arguments give byte-identical files.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from repkpi.datasets.churn import (
    SBG,
    ChurnMode,
    Events,
    day_of,
    decide,
    group_rank,
    hazard_logit,
    planted_churn_probability,
    planted_term_hazard,
    term_features,
)
from repkpi.schemas import COLUMNS as SCHEMA_COLUMNS

__all__ = [
    "COLUMNS",
    "GOALS",
    "generate_sample",
    "planted_churn_probability",
    "planted_term_hazard",
    "write_sample",
]

#: Columns of each table, in the order of the data model, with their type
#: (``str``, ``date``, ``datetime``, ``money`` or ``int``), from :mod:`repkpi.schemas`.
COLUMNS: dict[str, dict[str, str]] = {
    table: {column.name: column.kind for column in columns}
    for table, columns in SCHEMA_COLUMNS.items()
}

_NA = np.iinfo(np.int64).min  # missing day / second in the internal int arrays
_DAY = 86_400  # seconds
_TICKETS_PER_ACCOUNT = 12.5  # over the whole history as if no account churned
_FRICTION_SLA = 0.35  # how far an account's friction moves its resolution times (log)

_REGIONS = np.array(["north", "south", "east", "west"])
_REGION_P = np.array([0.30, 0.24, 0.26, 0.20])
_TEAMS = np.array(["alpha", "bravo", "charlie"])
_SEGMENTS = np.array(["smb", "mid_market", "enterprise"])
_SEGMENT_P = np.array([0.66, 0.26, 0.08])
_PRIORITIES = np.array(["urgent", "high", "normal", "low"])
_PRIORITY_P = np.array([0.05, 0.20, 0.55, 0.20])
_SLA_HOURS = np.array([4.0, 24.0, 72.0, 120.0])
_FIRST_RESPONSE_HOURS = np.array([0.3, 1.2, 4.0, 9.0])
_TICKET_KINDS = np.array(["complaint", "question", "request", "feedback"])
_TICKET_KIND_P = np.array([0.18, 0.42, 0.30, 0.10])
_ACTIVITY_KINDS = np.array(["meeting", "webinar", "training", "event"])
_ACTIVITY_KIND_P = np.array([0.42, 0.28, 0.20, 0.10])
_DEAL_TYPES = np.array(["new_business", "cross_sell", "upsell", "renewal"])
_STAGES = np.array(["open", "won", "lost"])
_CHANNELS = np.array(["direct", "partner"])

_FIRST_NAMES = np.array(
    [
        "Anna", "Ben", "Carla", "David", "Elena", "Farid", "Grace", "Hugo", "Ines",
        "Jonas", "Keiko", "Liam", "Maya", "Noah", "Olga", "Pedro", "Quinn", "Rosa",
        "Sven", "Tara", "Umar", "Vera", "Wei", "Yara", "Zoe",
    ]
)
_LAST_NAMES = np.array(
    [
        "Andersen", "Brooks", "Castro", "Dubois", "Eriksen", "Fischer", "Garcia",
        "Hansen", "Ivanova", "Jensen", "Kowalski", "Lopez", "Moreau", "Novak",
        "Okafor", "Petrov", "Rossi", "Schmidt", "Tanaka", "Varga", "Weber", "Young",
    ]
)
_NAME_HEADS = np.array(
    [
        "Acorn", "Alder", "Apex", "Arbor", "Aurora", "Beacon", "Birch", "Blue Fin",
        "Bright", "Canyon", "Cedar", "Cobalt", "Coral", "Crest", "Delta", "Ember",
        "Evergreen", "Falcon", "Fern", "Firefly", "Granite", "Harbor", "Hazel",
        "Horizon", "Iris", "Juniper", "Keystone", "Lakeside", "Lumen", "Maple",
        "Meadow", "Meridian", "Nimbus", "North Star", "Oak", "Orchid", "Pioneer",
        "Quarry", "Redwood", "Ridge", "River", "Sage", "Silver", "Summit", "Tidal",
        "Timber", "Vista", "Willow",
    ]
)
_NAME_TAILS = np.array(
    [
        "Analytics", "Bakery", "Builders", "Clinic", "Consulting", "Dental",
        "Design", "Electric", "Energy", "Engineering", "Farms", "Fitness", "Foods",
        "Freight", "Furniture", "Health", "Hotels", "Industries", "Insurance",
        "Labs", "Legal", "Logistics", "Media", "Medical", "Motors", "Outfitters",
        "Partners", "Pharma", "Printing", "Realty", "Retail", "Robotics",
        "Security", "Software", "Solutions", "Studios", "Systems", "Telecom",
        "Textiles", "Travel", "Ventures", "Wholesale",
    ]
)
_NAME_FORMS = np.array(["Inc", "LLC", "Ltd", "Group", "Co", "GmbH", "AG", "BV", "SA", "Corp"])

#: Competitors: name, regions where present, size relative to our recent
#: revenue in the region, and yearly growth.
_COMPETITORS: list[tuple[str, tuple[str, ...], float, float]] = [
    ("Altavia", ("north", "south", "east", "west"), 1.30, 0.02),
    ("Brightwell", ("north", "south", "east", "west"), 1.04, 0.06),
    ("Corvanta", ("north", "east", "west"), 1.17, 0.11),
    ("Dunmore", ("north",), 0.55, 0.00),
    ("Everpine", ("east", "west"), 0.85, 0.04),
    ("Falkner", ("east",), 1.35, 0.03),
    ("Greystone", ("south", "east"), 0.70, -0.02),
    ("Halcyon", ("west",), 0.45, 0.08),
]

#: The (competitor, region, size, growth) rows of the market table.
_MARKET_PAIRS = np.array(
    [
        (c, int(np.flatnonzero(_REGIONS == r)[0]), size, growth)
        for c, (_, regions, size, growth) in enumerate(_COMPETITORS)
        for r in regions
    ]
)

#: Targets of ``goals.toml``: (kpi, freq, target, direction, label). The nine
#: default goals come first, with their exact targets; the other targets are
#: set so that each chart of the default sample shows quarters or years that
#: meet the goal and others that miss it.
GOALS: list[tuple[str, str, float, str, str]] = [
    ("new_customer_growth", "Q", 0.20, "at_least", "New customers +20% q/q"),
    ("csat", "Q", 0.90, "at_least", "CSAT >= 90%"),
    ("large_deals", "Q", 2, "at_least", "At least 2 large deals a quarter"),
    ("retention_rate", "Q", 0.95, "at_least", "Retention >= 95%"),
    ("churn_rate", "Q", 0.05, "at_most", "Churn <= 5%"),
    ("cross_sell_rate", "Y", 0.10, "at_least", "Cross-sell success >= 10%"),
    ("key_accounts", "Y", 5, "at_least", "At least 5 key accounts"),
    ("market_rank", "Y", 3, "at_most", "Top three in the market"),
    ("senior_reps", "Y", 10, "at_least", "10 senior representatives"),
    ("new_customers", "Q", 100, "at_least", "{:,} new customers a quarter"),
    ("active_customers", "Q", 1000, "at_least", "{:,} active customers"),
    ("engagement_rate", "Q", 0.55, "at_least", "55% of customers engaged"),
    ("revenue", "Q", 2_500_000, "at_least", "Revenue of {:,} a quarter"),
    ("win_rate", "Q", 0.58, "at_least", "Win rate >= 58%"),
    ("cross_sell_wins", "Q", 12, "at_least", "{:,} cross-sell and upsell wins a quarter"),
    ("average_deal_size", "Q", 8000, "at_least", "Average deal >= 8,000"),
    ("renewal_rate", "Q", 0.80, "at_least", "Renewal rate >= 80%"),
    ("renewal_value_rate", "Q", 0.85, "at_least", "Renewed value >= 85%"),
    ("net_revenue_retention", "Q", 0.98, "at_least", "NRR >= 98% a quarter"),
    ("gross_revenue_retention", "Q", 0.96, "at_least", "GRR >= 96% a quarter"),
    ("sla_compliance", "Q", 0.90, "at_least", "SLA met for 90% of tickets"),
    ("first_response_hours", "Q", 3.5, "at_most", "Median first response <= 3.5 h"),
    ("resolution_hours", "Q", 16.0, "at_most", "Median resolution <= 16 h"),
    ("csat_mean", "Q", 4.4, "at_least", "Mean CSAT >= 4.4"),
    ("nps", "Q", 35, "at_least", "NPS >= 35"),
    ("market_share", "Y", 0.165, "at_least", "Market share >= 16.5%"),
    ("market_share_delta", "Y", 0.02, "at_least", "Market share +2 points a year"),
]

#: KPIs whose targets are counts or sums that grow with the number of accounts
#: (their labels have a ``{}`` for the target).
_SCALED_GOALS = frozenset({"new_customers", "active_customers", "revenue", "cross_sell_wins"})


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------


def _months(days: np.ndarray) -> np.ndarray:
    """Return months since 1970-01 of days since 1970-01-01."""
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


def _weekday(days: np.ndarray) -> np.ndarray:
    """Return the weekday (Monday = 0) of days since 1970-01-01."""
    return (days + 3) % 7


def _to_weekday(rng: np.random.Generator, days: np.ndarray, share: float) -> np.ndarray:
    """Move a ``share`` of weekend days to the Friday before or the Monday after."""
    wd = _weekday(days)
    move = (wd >= 5) & (rng.random(days.size) < share)
    shift = np.where(wd == 5, -1, 1)
    return np.where(move, days + shift, days)


def _anniversary(days: np.ndarray, years: np.ndarray) -> np.ndarray:
    """Return ``days`` moved by whole calendar ``years`` (29 February becomes the 28th)."""
    d = days.astype("datetime64[D]")
    month_start = d.astype("datetime64[M]")
    dom = (d - month_start.astype("datetime64[D]")).astype(np.int64)
    month = month_start.astype(np.int64) + 12 * years
    feb = (month % 12) == 1
    dom = np.where(feb & (dom == 28), 27, dom)
    return month.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64) + dom


def _uniform_days(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Draw one day uniformly in each closed interval ``[lo, hi]``."""
    return lo + np.floor(rng.random(lo.size) * (hi - lo + 1)).astype(np.int64)


def _time_of_day(rng: np.random.Generator, n: int) -> np.ndarray:
    """Draw seconds after midnight, mostly in business hours."""
    busy = np.clip(rng.normal(12.5 * 3600, 2.8 * 3600, n), 6 * 3600, 21 * 3600)
    anytime = rng.random(n) * _DAY
    return np.where(rng.random(n) < 0.88, busy, anytime).astype(np.int64)


def _choice_rows(rng: np.random.Generator, probs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Draw a category per row from the probability table ``probs[rows]``."""
    cum = np.cumsum(probs, axis=1)[rows]
    u = rng.random(rows.size)[:, None] * cum[:, -1:]
    return (u >= cum).sum(axis=1)


def _ids(prefix: str, n: int, width: int) -> np.ndarray:
    """Return ``n`` sequential ids ``prefix`` + zero-padded number, as an object array."""
    width = max(width, len(str(n)))
    numbers = pc.cast(pa.array(np.arange(1, n + 1, dtype=np.int64)), pa.string())
    padded = pc.utf8_lpad(numbers, width=width, padding="0")
    return pc.binary_join_element_wise(prefix, padded, "").to_numpy(zero_copy_only=False)


def _str_col(values: np.ndarray, codes: np.ndarray | None = None) -> pd.Series:
    """Return a pandas default-string Series, from labels (and codes; -1 = missing)."""
    if codes is not None:
        arr = pa.array(values).take(pa.array(codes, mask=codes < 0))
        return pd.Series(arr, dtype="str")
    return pd.Series(values, dtype="str")


def _date_col(days: np.ndarray) -> pd.Series:
    """Return naive ``datetime64[us]`` midnights from days (``_NA`` = missing)."""
    out = days.astype("datetime64[D]").astype("datetime64[us]")
    out[days == _NA] = np.datetime64("NaT")
    return pd.Series(out)


def _datetime_col(seconds: np.ndarray) -> pd.Series:
    """Return UTC ``datetime64[us, UTC]`` from seconds since the epoch (``_NA`` = missing)."""
    out = seconds.astype("datetime64[s]").astype("datetime64[us]")
    out[seconds == _NA] = np.datetime64("NaT")
    return pd.Series(out).dt.tz_localize("UTC")


def _money_col(values: np.ndarray) -> pd.Series:
    """Return money as float64 rounded to cents."""
    return pd.Series(np.round(np.asarray(values, dtype=np.float64), 2))


def _int_col(values: np.ndarray, missing: np.ndarray) -> pd.Series:
    """Return a nullable ``Int64`` Series."""
    return pd.Series(pd.arrays.IntegerArray(values.astype(np.int64), missing.copy()))


# --------------------------------------------------------------------------
# the generator
# --------------------------------------------------------------------------


class _Timeline:
    """Days and quarters of the history, from 1 January four years before ``end``."""

    def __init__(self, end: str) -> None:
        self.end = day_of(end)
        year = int(np.datetime64(self.end, "D").astype("datetime64[Y]").astype(np.int64)) + 1970
        self.start = day_of(f"{year - 4}-01-01")
        self.end_s = (self.end + 1) * _DAY  # first second after the history
        m0 = int(_months(np.array([self.start]))[0])
        m1 = int(_months(np.array([self.end]))[0])
        self.q0 = m0 // 3
        self.nq = m1 // 3 - self.q0 + 1
        q_months = (self.q0 + np.arange(self.nq + 1)) * 3
        bounds = q_months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
        self.q_first = bounds[:-1]
        self.q_full_len = np.diff(bounds)
        self.q_last = np.minimum(bounds[1:] - 1, self.end)
        self.q_len = self.q_last - self.q_first + 1
        self.q_of_year = (self.q0 + np.arange(self.nq)) % 4  # 0 = Q1
        self.year_frac = np.arange(self.nq) / 4.0

    def quarter(self, days: np.ndarray) -> np.ndarray:
        """Return the quarter index (0 = first quarter of the history) of days."""
        return _months(days) // 3 - self.q0


class _Reps:
    """The representatives, and a vectorised picker of the rep handling an event."""

    def __init__(self, rng: np.random.Generator, tl: _Timeline, accounts: int) -> None:
        n = int(np.clip(round(20 * (max(accounts, 1) / 2000) ** 0.15), 4, 60))
        lo = tl.end - int(8 * 365.25)
        hi = tl.end - 75
        frac = (np.arange(n) + 0.5 + rng.uniform(-0.3, 0.3, n)) / n
        hired = np.sort(lo + (np.clip(frac, 0, 1) ** 1.2 * (hi - lo)).astype(np.int64))
        hired = _to_weekday(rng, hired, 1.0)
        region = rng.choice(len(_REGIONS), size=n, p=_REGION_P)
        region[:4] = rng.permutation(4)  # one founder per region, never leaves
        left = np.full(n, _NA, dtype=np.int64)
        may_leave = np.flatnonzero((np.arange(n) >= 4) & (hired <= tl.end - 550))
        n_leave = min(may_leave.size, int(round(0.15 * n)))
        leavers = rng.choice(may_leave, size=n_leave, replace=False)
        left[leavers] = _uniform_days(
            rng, hired[leavers] + 365, np.full(n_leave, tl.end - 30, dtype=np.int64)
        )
        self.n = n
        self.hired = hired
        self.left = left
        self.left_cmp = np.where(left == _NA, np.iinfo(np.int64).max, left)
        self.region = region
        self.team = rng.permutation(np.arange(n) % len(_TEAMS))
        pairs = rng.choice(_FIRST_NAMES.size * _LAST_NAMES.size, size=n, replace=False)
        self.name = np.char.add(
            np.char.add(_FIRST_NAMES[pairs // _LAST_NAMES.size], " "),
            _LAST_NAMES[pairs % _LAST_NAMES.size],
        )
        self.ids = _ids("R", n, 3)
        order = np.argsort(region, kind="stable")
        self._by_region = order
        self._count = np.bincount(region, minlength=len(_REGIONS))
        self._offset = np.r_[0, np.cumsum(self._count)[:-1]]
        founders = np.zeros(len(_REGIONS), dtype=np.int64)
        founders[region[:4]] = np.arange(4)
        self._founder = founders

    def employed(self, rep: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Return whether each rep (index, -1 = none) is employed on each day."""
        r = np.maximum(rep, 0)
        return (rep >= 0) & (self.hired[r] <= day) & (day < self.left_cmp[r])

    def pick(
        self,
        rng: np.random.Generator,
        day: np.ndarray,
        region: np.ndarray,
        owner: np.ndarray | None = None,
        p_owner: float = 0.85,
        p_none: float = 0.0,
    ) -> np.ndarray:
        """Pick a rep employed on ``day``: the owner mostly, else one of the region."""
        n = day.size
        out = np.full(n, -1, dtype=np.int64)
        if owner is not None:
            keep = self.employed(owner, day) & (rng.random(n) < p_owner)
            out[keep] = owner[keep]
        todo = np.flatnonzero(out < 0)
        for _ in range(25):  # rejection rounds, each vectorised
            if todo.size == 0:
                break
            g = region[todo]
            k = np.floor(rng.random(todo.size) * self._count[g]).astype(np.int64)
            cand = self._by_region[self._offset[g] + k]
            ok = self.employed(cand, day[todo])
            out[todo[ok]] = cand[ok]
            todo = todo[~ok]
        out[todo] = self._founder[region[todo]]
        if p_none:
            out[rng.random(n) < p_none] = -1
        return out


def _month_start(days: np.ndarray, months: int = 0) -> np.ndarray:
    """Day number of the first day of each day's month (``months`` later)."""
    month = days.astype("datetime64[D]").astype("datetime64[M]") + months
    return month.astype("datetime64[D]").astype(np.int64)


def _accounts(rng: np.random.Generator, tl: _Timeline, reps: _Reps, n: int,
              first_of_month: float = 0.0) -> dict:
    """Draw the accounts: acquisition day, segment, region, owner and friction.

    A share ``first_of_month`` of them are dated as many CRMs date them: won,
    renewed and lost on the first of a month. Churn is decided later, at the
    ends of their contract terms. ``friction`` (standard normal) makes some
    accounts wait longer for resolutions and rate lower throughout.
    """
    season = np.array([1.40, 1.0, 0.85, 1.0])[tl.q_of_year]
    weight = 1.17**tl.year_frac * season * np.exp(rng.normal(0, 0.10, tl.nq))
    weight = weight * tl.q_len / tl.q_full_len
    q = rng.choice(tl.nq, size=n, p=weight / weight.sum())
    since = tl.q_first[q] + np.floor(rng.random(n) * tl.q_len[q]).astype(np.int64)
    moved = _to_weekday(rng, since, 0.9)
    since = np.where((moved >= tl.start) & (moved <= tl.end), moved, since)
    # Drawn only when asked for, so that the default data stays the same for a seed.
    snap = rng.random(n) < first_of_month if first_of_month > 0 else np.zeros(n, dtype=bool)
    since = np.where(snap, _month_start(since), since)
    order = np.argsort(np.maximum(since, tl.start + 1), kind="stable")
    since = np.maximum(since, tl.start + 1)[order]  # nobody on day one
    segment = rng.choice(_SEGMENTS.size, size=n, p=_SEGMENT_P)
    # a handful of strategic enterprise accounts make the key accounts
    enterprise = np.flatnonzero(segment == 2)
    n_strategic = min(enterprise.size, int(round(0.005 * n)))
    strategic = np.zeros(n, dtype=bool)
    strategic[rng.choice(enterprise, size=n_strategic, replace=False)] = True
    region = rng.choice(_REGIONS.size, size=n, p=_REGION_P)

    # owner: the rep who won the account; when that rep leaves, half of the
    # accounts go to a colleague employed then, the others stay with the leaver
    pick_region = np.where(
        rng.random(n) < 0.04, rng.integers(0, _REGIONS.size, n), region
    )
    owner = reps.pick(rng, since, pick_region, p_none=0.025)
    left = np.where(owner >= 0, reps.left[np.maximum(owner, 0)], _NA)
    handed = (left != _NA) & (rng.random(n) < 0.5)
    successor = reps.pick(rng, np.where(left != _NA, left, since), pick_region)
    owner = np.where(handed, successor, owner)

    name_idx = rng.integers(0, [_NAME_HEADS.size, _NAME_TAILS.size, _NAME_FORMS.size], (n, 3))
    name = pc.binary_join_element_wise(
        pa.array(_NAME_HEADS).take(pa.array(name_idx[:, 0])),
        pa.array(_NAME_TAILS).take(pa.array(name_idx[:, 1])),
        pa.array(_NAME_FORMS).take(pa.array(name_idx[:, 2])),
        " ",
    )
    return {
        "n": n,
        "ids": _ids("A", n, 6),
        "name": name,
        "since": since,
        "segment": segment,
        "region": region,
        "owner": owner,
        "partner": rng.random(n) < 0.24,
        "strategic": strategic,
        "friction": rng.standard_normal(n),
    }


def _contracts(rng: np.random.Generator, tl: _Timeline, acc: dict) -> dict:
    """Draw yearly contract terms with renewals, expansion and contraction.

    Every account gets the terms it would have if it never churned, sorted
    by account and term; :func:`_signed` keeps those it lived to start.
    """
    n = acc["n"]
    since, seg = acc["since"], acc["segment"]
    n_try = (tl.end - since) // 365 + 2
    acct = np.repeat(np.arange(n), n_try)
    k = group_rank(acct)
    start = _anniversary(since[acct], k)
    keep = start <= tl.end
    acct, k, start = acct[keep], k[keep], start[keep]
    end = _anniversary(since[acct], k + 1) - 1

    median = np.array([3_500.0, 9_000.0, 15_000.0])[seg]
    sigma = np.array([0.5, 0.5, 0.6])[seg]
    base = median * np.exp(sigma * rng.standard_normal(n))
    tail = np.minimum(75_000.0 * rng.random(n) ** (-1 / 1.6), 350_000.0)
    base = np.where(acc["strategic"], tail, base)
    m = acct.size
    kind = rng.choice(3, size=m, p=[0.26, 0.56, 0.18])
    factor = np.select(
        [kind == 0, kind == 1],
        [rng.uniform(1.08, 1.45, m), rng.uniform(1.0, 1.06, m)],
        rng.uniform(0.7, 0.95, m),
    )
    log_f = np.where(k == 0, 0.0, np.log(factor))
    cum = np.cumsum(log_f)
    first_row = np.flatnonzero(k == 0)
    cum = cum - np.repeat(cum[first_row], np.diff(np.r_[first_row, m]))
    value = np.round(base[acct] * np.exp(cum), 0)
    return {"acct": acct, "k": k, "start": start, "end": end, "value": value, "base": base}


def _signed(con: dict, last: np.ndarray) -> dict:
    """Keep the terms that start by each account's last active day; number them."""
    keep = con["start"] <= last[con["acct"]]
    out = {key: v[keep] for key, v in con.items() if key != "base"}
    m = keep.sum()
    order = np.lexsort((out["acct"], out["start"]))
    rank = np.empty(m, dtype=np.int64)
    rank[order] = np.arange(m)
    ids = _ids("C", m, 6)[rank]
    prev = np.where(out["k"] > 0, np.arange(m) - 1, -1)
    out["natural_end"] = out["end"]
    out["order"] = order
    out["ids"] = ids
    out["renewal_of"] = np.where(prev >= 0, ids[np.maximum(prev, 0)], None)
    out["base"] = con["base"]
    return out


def _churn(rng: np.random.Generator, tl: _Timeline, acc: dict, con: dict, reps: _Reps,
           events: tuple[dict, dict, dict], mode: ChurnMode, sbg: tuple[float, float]) -> None:
    """Decide at which term end each account leaves; set its ``churned`` and ``last`` days.

    ``con`` and ``events`` (tickets, surveys, activities) are drawn as if no
    account churned; a term ending on the history's last day is not decided.
    """
    acct, end = con["acct"], con["end"]
    decided = end < tl.end
    logit = None
    if mode == "hazard":
        tix, srv, act = events
        owner = acc["owner"]
        left = np.where(owner >= 0, reps.left[np.maximum(owner, 0)], _NA)
        left = np.where(left == _NA, np.inf, left)
        seen = Events(
            {
                "acct": tix["acct"],
                "opened": tix["opened"],
                "resolved": tix["resolved"],
                "deadline": tix["opened"] + (_SLA_HOURS[tix["prio"]] * 3600).astype(np.int64),
            },
            {
                "acct": srv["acct"],
                "responded": srv["responded"],
                "csat": np.where(srv["csat_na"], np.nan, srv["csat"]),
                "nps": np.where(srv["nps_na"], np.nan, srv["nps"]),
            },
            {"acct": act["acct"], "day": act["day"]},
        )
        rows = np.flatnonzero(decided)
        a = acct[rows]
        features = term_features(
            seen, a, end[rows], segment=acc["segment"][a], rep_left_day=left[a],
            term=con["k"][rows] + 1, value=con["value"][rows],
        )
        logit = np.zeros(acct.size)
        logit[rows] = hazard_logit(features)
    churned = decide(mode, rng, acct, end, decided, acc["n"], logit=logit, sbg=sbg)
    acc["churned"] = np.where(churned < 0, _NA, churned)
    acc["last"] = np.where(churned < 0, tl.end, churned - 1)


def _cut(table: dict, keep: np.ndarray, prefix: str, width: int) -> dict:
    """Keep the rows of a table of arrays; number them ``prefix`` + 1, 2, ..."""
    out = {key: v[keep] for key, v in table.items()}
    out["ids"] = _ids(prefix, int(keep.sum()), width)
    return out


def _deals(rng: np.random.Generator, tl: _Timeline, acc: dict, con: dict, reps: _Reps) -> dict:
    """Draw new-business, renewal, cross-sell and upsell opportunities."""
    since, last, churned, seg = acc["since"], acc["last"], acc["churned"], acc["segment"]
    n = acc["n"]
    blocks: list[dict] = []

    def block(acct, created, closed, stage, amount, dtype):
        blocks.append(
            {
                "acct": acct,
                "created": created,
                "closed": closed,
                "stage": np.broadcast_to(stage, acct.shape),
                "amount": amount,
                "type": np.broadcast_to(dtype, acct.shape),
            }
        )

    cycle_scale = np.array([18.0, 30.0, 55.0])
    # won new business: the first contract
    first = con["k"] == 0
    a = con["acct"][first]
    cyc = rng.gamma(2.0, cycle_scale[seg[a]])
    created = since[a] - cyc.astype(np.int64)
    early = created < tl.start  # the CRM starts with the history: redraw inside it
    created = np.where(early, _uniform_days(rng, np.full(a.size, tl.start), since[a]), created)
    block(a, created, since[a], 1, con["value"][first], 0)

    # lost new business: earlier attempts on the same account
    tries = rng.poisson(0.55, n)
    a = np.repeat(np.arange(n), tries)
    hi = since[a] - 25
    lo = np.maximum(since[a] - 420, tl.start)
    ok = hi >= lo
    a, lo, hi = a[ok], lo[ok], hi[ok]
    created = _uniform_days(rng, lo, hi)
    closed = np.minimum(created + rng.gamma(2.0, cycle_scale[seg[a]]).astype(np.int64), hi)
    amount = _proposal_amount(rng, con["base"][a])
    block(a, created, closed, 2, amount, 0)

    # won renewals: every renewed term
    ren = con["k"] > 0
    a = con["acct"][ren]
    closed = con["start"][ren] - rng.integers(0, 22, a.size)
    created = np.maximum(closed - rng.integers(14, 76, a.size), tl.start)
    block(a, created, closed, 1, con["value"][ren], 3)

    # lost renewals: most churned accounts
    a = np.flatnonzero((churned != _NA) & (rng.random(n) < 0.6))
    closed = np.maximum(churned[a] - rng.integers(1, 15, a.size), since[a])
    created = np.maximum(closed - rng.integers(10, 60, a.size), since[a])
    last_term = np.r_[np.flatnonzero(np.diff(con["acct"])), con["acct"].size - 1]
    value_last = np.zeros(n)
    value_last[con["acct"][last_term]] = con["value"][last_term]
    block(a, created, closed, 2, value_last[a], 3)

    # open renewals: current terms ending within the next four months
    cur = last_term[(churned[con["acct"][last_term]] == _NA)]
    due = con["natural_end"][cur]
    created = due - rng.integers(40, 120, cur.size)
    ok = (due > tl.end) & (created <= tl.end)
    a = con["acct"][cur][ok]
    amount = np.round(con["value"][cur][ok] * rng.uniform(0.95, 1.2, a.size), 0)
    block(a, created[ok], due[ok], 0, amount, 3)  # an open deal's closed_on: its expected close

    # cross-sell and upsell, with a success rate that improves over the years
    years = (last - since + 1) / 365.25
    rate = np.array([0.35, 0.7, 1.3])[seg] * years
    a = np.repeat(np.arange(n), rng.poisson(rate))
    lo = since[a] + 30
    ok = lo <= last[a]
    a, lo = a[ok], lo[ok]
    created = _uniform_days(rng, lo, last[a])
    expected = created + rng.gamma(2.0, 20.0, a.size).astype(np.int64)
    ending = expected > last[a]
    open_ = ending & (churned[a] == _NA)
    closed = np.minimum(expected, last[a])
    q = tl.quarter(np.minimum(closed, tl.end))
    p_win = np.clip(0.078 + 0.012 * tl.year_frac + rng.normal(0, 0.015, tl.nq), 0.03, 0.3)
    won = (rng.random(a.size) < p_win[q]) & ~ending
    stage = np.where(open_, 0, np.where(won, 1, 2))
    upsell = rng.random(a.size) < 0.5
    share = np.where(upsell, rng.uniform(0.1, 0.45, a.size), rng.uniform(0.15, 0.7, a.size))
    amount = np.round(con["base"][a] * share, 2)
    block(a, created, np.where(open_, expected, closed), stage, amount, np.where(upsell, 2, 1))

    # win-back attempts after churn: lost or still open
    a = np.flatnonzero((churned != _NA) & (rng.random(n) < 0.3))
    created = churned[a] + rng.integers(30, 400, a.size)
    ok = created <= tl.end
    a, created = a[ok], created[ok]
    closed = created + rng.gamma(2.0, 30.0, a.size).astype(np.int64)
    open_ = closed > tl.end
    amount = _proposal_amount(rng, con["base"][a])
    block(a, created, closed, np.where(open_, 0, 2), amount, 0)  # open: the expected close

    d = {key: np.concatenate([b[key] for b in blocks]) for key in blocks[0]}
    order = np.lexsort((d["acct"], d["created"]))
    d = {key: v[order] for key, v in d.items()}
    a = d["acct"]
    partner = np.where(acc["partner"][a], rng.random(a.size) < 0.85, rng.random(a.size) < 0.05)
    partner = np.where(d["type"] == 0, acc["partner"][a], partner)
    d["channel"] = partner.astype(np.int64)
    d["rep"] = reps.pick(rng, d["created"], acc["region"][a], acc["owner"][a], p_none=0.01)
    d["ids"] = _ids("D", a.size, 6)
    return d


def _proposal_amount(rng: np.random.Generator, base: np.ndarray) -> np.ndarray:
    """Return a proposal amount near an account's first contract value."""
    return np.round(base * rng.uniform(0.7, 1.3, base.size), 0)


def _drift(rng: np.random.Generator, tl: _Timeline, mean: float, wave: float, sd: float):
    """Return a level per quarter: ``mean``, a slow wave of random phase, and noise."""
    phase = rng.uniform(0, 2 * np.pi)
    cycle = np.sin(2 * np.pi * tl.year_frac / 1.75 + phase)  # one cycle in seven quarters
    return mean + wave * cycle + sd * rng.standard_normal(tl.nq)


def _tickets(rng: np.random.Generator, tl: _Timeline, acc: dict, reps: _Reps) -> dict:
    """Draw about ten tickets per account with SLA compliance drifting around 90%.

    Accounts with more ``friction`` wait longer for a resolution.
    """
    since, last, n = acc["since"], acc["last"], acc["n"]
    friction = acc["friction"]
    weight = (last - since + 1) * np.array([1.0, 1.6, 2.6])[acc["segment"]]
    lam = weight * (_TICKETS_PER_ACCOUNT * n / max(weight.sum(), 1))
    a = np.repeat(np.arange(n), rng.poisson(lam))
    m = a.size
    day = _uniform_days(rng, since[a], last[a])
    moved = _to_weekday(rng, day, 0.7)
    day = np.where((moved >= since[a]) & (moved <= last[a]), moved, day)
    opened = day * _DAY + _time_of_day(rng, m)
    prio = rng.choice(_PRIORITY_P.size, size=m, p=_PRIORITY_P)
    kind = rng.choice(_TICKET_KIND_P.size, size=m, p=_TICKET_KIND_P)

    q = tl.quarter(day)
    # log(resolution / SLA target) ~ N(mu, 1 + s^2) over accounts of friction
    # f ~ N(0, 1) shifted by s f: P(met) = Phi(-mu), about 0.86..0.94
    mu = np.clip(_drift(rng, tl, -1.31, 0.13, 0.11), -2.0, -0.9)
    s = _FRICTION_SLA
    log_ratio = np.sqrt(1 + s**2) * mu[q] + s * friction[a] + rng.standard_normal(m)
    hours = _SLA_HOURS[prio] * np.exp(log_ratio)
    resolved = opened + np.maximum(np.round(hours * 3600), 60).astype(np.int64)
    speed = np.exp(0.2 - 0.06 * tl.year_frac + rng.normal(0, 0.08, tl.nq))  # gets faster
    first_h = speed[q] * _FIRST_RESPONSE_HOURS[prio] * np.exp(0.9 * rng.standard_normal(m))
    first = opened + np.round(np.minimum(first_h, hours) * 3600).astype(np.int64)
    stale = (day > tl.end - 60) & (rng.random(m) < 0.05)
    resolved = np.where((resolved >= tl.end_s) | stale, _NA, resolved)
    first = np.where(
        (first >= tl.end_s) | ((resolved != _NA) & (rng.random(m) < 0.012)), _NA, first
    )
    order = np.lexsort((a, opened))
    a, opened, first, resolved = a[order], opened[order], first[order], resolved[order]
    prio, kind = prio[order], kind[order]
    rep = reps.pick(rng, opened // _DAY, acc["region"][a], acc["owner"][a], 0.8, 0.02)
    return {
        "acct": a,
        "rep": rep,
        "opened": opened,
        "first": first,
        "resolved": resolved,
        "prio": prio,
        "kind": kind,
    }


def _surveys(rng: np.random.Generator, tl: _Timeline, acc: dict, tix: dict, reps: _Reps) -> dict:
    """Draw post-ticket CSAT surveys and relationship NPS surveys."""
    since, last, n = acc["since"], acc["last"], acc["n"]
    # post-ticket surveys
    res = tix["resolved"]
    t = np.flatnonzero((res != _NA) & (rng.random(res.size) < 0.2))
    delay = np.round(np.exp(np.log(5.0) + 1.2 * rng.standard_normal(t.size)) * 3600)
    responded_t = res[t] + np.minimum(delay, 14 * _DAY).astype(np.int64)
    ok = responded_t // _DAY <= last[tix["acct"][t]]  # a customer still, and not after end
    t, responded_t = t[ok], responded_t[ok]
    late = (res[t] - tix["opened"][t]) > _SLA_HOURS[tix["prio"][t]] * 3600
    # relationship surveys
    years = (last - since + 1) / 365.25
    a_r = np.repeat(np.arange(n), rng.poisson(0.45 * years))
    day = _to_weekday(rng, _uniform_days(rng, since[a_r], last[a_r]), 0.8)
    day = np.clip(day, since[a_r], last[a_r])
    responded_r = day * _DAY + _time_of_day(rng, a_r.size)

    nt, nr = t.size, a_r.size
    acct = np.r_[tix["acct"][t], a_r]
    responded = np.r_[responded_t, responded_r]
    is_ticket = np.r_[np.ones(nt, bool), np.zeros(nr, bool)]
    late = np.r_[late, np.zeros(nr, bool)]
    has_csat = np.r_[np.ones(nt, bool), rng.random(nr) < 0.25]
    has_nps = np.r_[rng.random(nt) < 0.3, np.ones(nr, bool)]

    q = tl.quarter(responded // _DAY)
    good_q = np.clip(_drift(rng, tl, 0.902, 0.02, 0.018), 0.8, 0.98)
    # a late ticket lowers the odds of a good score; the quarter's level is kept
    late_effect = np.where(is_ticket, 0.3 * ((late[:nt].mean() if nt else 0.0) - late), 0.0)
    p_good = np.clip(good_q[q] + late_effect - 0.04 * acc["friction"][acct], 0.05, 0.995)
    m = acct.size
    good = rng.random(m) < p_good
    csat = np.where(
        good,
        np.where(rng.random(m) < 0.62, 5, 4),
        3 - _choice_rows(rng, np.array([[0.6, 0.25, 0.15]]), np.zeros(m, dtype=np.int64)),
    )
    # nps follows csat when both are asked, else promoters / passives / detractors
    nps_by_csat = np.array(
        [
            [0.25, 0.2, 0.2, 0.15, 0.1, 0.05, 0.05, 0, 0, 0, 0],
            [0.1, 0.1, 0.15, 0.2, 0.2, 0.15, 0.1, 0, 0, 0, 0],
            [0, 0, 0.02, 0.05, 0.13, 0.25, 0.25, 0.2, 0.1, 0, 0],
            [0, 0, 0, 0, 0, 0.03, 0.07, 0.3, 0.35, 0.15, 0.1],
            [0, 0, 0, 0, 0, 0, 0.03, 0.07, 0.2, 0.3, 0.4],
            [0.01, 0.01, 0.01, 0.02, 0.02, 0.04, 0.06, 0.12, 0.18, 0.25, 0.28],
        ]
    )
    row = np.where(has_csat, csat - 1, 5)
    nps = _choice_rows(rng, nps_by_csat, row)
    rep_t = tix["rep"][t]
    rep_r = reps.pick(rng, responded_r // _DAY, acc["region"][a_r], acc["owner"][a_r], 0.9)
    rep = np.r_[rep_t, rep_r]
    order = np.lexsort((acct, responded))
    return {
        "acct": acct[order],
        "rep": rep[order],
        "responded": responded[order],
        "csat": csat[order],
        "csat_na": ~has_csat[order],
        "nps": nps[order],
        "nps_na": ~has_nps[order],
    }


def _activities(rng: np.random.Generator, tl: _Timeline, acc: dict) -> dict:
    """Draw engagement activities: meetings, webinars, trainings and events."""
    since, last, n = acc["since"], acc["last"], acc["n"]
    years = (last - since + 1) / 365.25
    rate = np.array([1.5, 2.6, 4.5])[acc["segment"]] * years
    a = np.repeat(np.arange(n), rng.poisson(rate))
    m = a.size
    kind = rng.choice(_ACTIVITY_KIND_P.size, size=m, p=_ACTIVITY_KIND_P)
    day = _uniform_days(rng, since[a], last[a])
    # webinars on fortnightly Tuesdays, events on a few Thursdays a quarter
    first_tue = tl.start - 100 + (1 - _weekday(np.array([tl.start - 100]))[0]) % 7
    webinar = first_tue + 14 * np.round((day - first_tue) / 14).astype(np.int64)
    event = first_tue + 2 + 42 * np.round((day - first_tue - 2) / 42).astype(np.int64)
    snapped = np.select([kind == 1, kind == 3], [webinar, event], _to_weekday(rng, day, 1.0))
    day = np.where((snapped >= since[a]) & (snapped <= last[a]), snapped, day)
    order = np.lexsort((a, day))
    return {"acct": a[order], "day": day[order], "kind": kind[order]}


def _market(rng: np.random.Generator, tl: _Timeline, acc: dict, deals: dict) -> dict:
    """Estimate competitors' revenue per quarter and region, scaled to ours."""
    won = (deals["stage"] == 1) & (deals["closed"] != _NA)
    q = tl.quarter(deals["closed"][won])
    g = acc["region"][deals["acct"][won]]
    nr = _REGIONS.size
    ours = np.bincount(
        q * nr + g, weights=deals["amount"][won], minlength=tl.nq * nr
    ).reshape(tl.nq, nr)
    kernel = np.array([1.0, 2.0, 3.0, 2.0, 1.0])
    num = np.apply_along_axis(np.convolve, 0, ours, kernel, "same")
    den = np.convolve(np.ones(tl.nq), kernel, "same")[:, None]
    smooth = num / den
    ref = smooth[-4:].mean(axis=0)
    ref = np.maximum(ref, max(float(ref.mean()), 1000.0) * 0.25)
    level = ref * np.maximum(smooth / ref, 0.05) ** 0.7  # the market grows slower than us
    years_to_end = (tl.nq - 1 - np.arange(tl.nq)) / 4.0
    comp, region, size, growth = _MARKET_PAIRS.T
    comp, region = comp.astype(np.int64), region.astype(np.int64)
    k = comp.size
    drift = np.exp(np.cumsum(rng.normal(0, 0.04, (k, tl.nq)), axis=1))
    noise = np.exp(rng.normal(0, 0.07, (k, tl.nq)))
    trend = (1 + growth[:, None]) ** (-years_to_end[None, :])
    rev = size[:, None] * level.T[region] * trend * drift * noise  # (pair, quarter)
    qq = np.tile(np.arange(tl.nq), k)
    rr, cc = np.repeat(region, tl.nq), np.repeat(comp, tl.nq)
    order = np.lexsort((cc, rr, qq))
    first = pd.Period(np.int64(tl.q_first[0]).astype("datetime64[D]"), freq="Q")
    periods = pd.period_range(first, periods=tl.nq, freq="Q").astype(str).to_numpy()
    return {
        "period": periods[qq[order]],
        "region": rr[order],
        "company": cc[order],
        "revenue": np.maximum(np.round(rev.ravel()[order], -2), 0.0),
    }


def generate_sample(
    *,
    seed: int = 0,
    accounts: int = 2000,
    end: str = "2026-09-30",
    first_of_month: float = 0.0,
    churn: ChurnMode = "hazard",
    sbg: tuple[float, float] = SBG,
) -> dict[str, pd.DataFrame]:
    r"""Generate realistic CRM sample data for the eight canonical tables.

    The history runs from 1 January four years before ``end`` up to ``end``
    (no event after it, except the end dates of contract terms that are
    still running and the expected close dates of open deals, their
    ``closed_on``). About 20 reps in 3 teams and 4 regions look after
    ``accounts`` accounts that each raise about ten tickets over the history.

    Contracts are yearly terms from the account's ``customer_since``, each
    renewing the one before, and end as signed. An account churns only at
    a term's end: it does not renew, and its ``churned_on`` is the day after
    that term's ``end_date`` (a term that ends on ``end`` is not decided).
    Tickets, surveys and activities are drawn for every account as if it
    never churned and cut at its last day as a customer; churn draws come
    from their own random stream (``numpy.random.default_rng([seed, 2])``)
    and deals and market from another (``[seed, 3]``), so a seed's tickets,
    surveys and activities before an account's churn do not depend on
    ``churn`` or ``sbg``.

    Parameters
    ----------
    seed : int, default 0
        Seed of ``numpy.random.default_rng``; the same seed and arguments
        give the same data.
    accounts : int, default 2000
        Number of accounts; the other tables scale with it (100 000
        accounts give about a million tickets).
    end : str, default "2026-09-30"
        Last day of the history, normally the last day of a quarter.
    first_of_month : float, default 0.0
        Share of the accounts dated on the first of a month, as real CRMs
        date most of them: acquired, churned and (their contract terms
        following the acquisition day) renewed on the 1st. 0 keeps the data
        of a seed as it has always been.
    churn : {"hazard", "sbg"}, default "hazard"
        How accounts decide not to renew. ``"hazard"``: at a term end E the
        account leaves with probability :math:`p = 1 / (1 + e^{-z})`,

        .. math::

            z = -1.8 - 0.35\,[mid\_market] - 0.7\,[enterprise]
                + 0.5\,b + 0.45\,(4 - c) + 0.12\,(7 - s)
                + 0.9\,[a + r = 0] - 0.15\,a + 0.7\,[left]
                - 0.2\,(t - 1) - 0.3 \log_{10}(v / 10\,000)

        measured from the tables at the close of E: ``b`` tickets opened in
        the 90 days E - 89 .. E whose SLA deadline (4, 24, 72, 120 hours by
        priority) passed by then with no resolution by the deadline (the
        breaches of kpis.md judged at 24:00 of E); ``c``, ``s`` the account's
        latest CSAT and NPS answers (a term is 0 when there is none); ``a``
        activities and ``r`` survey answers in those 90 days; ``left`` the
        account's rep has left by E; ``t`` the term's number (1 = first);
        ``v`` its ``annual_value``. The coefficients are
        :data:`repkpi.datasets.churn.HAZARD`;
        :func:`planted_term_hazard` and :func:`planted_churn_probability`
        give the truth from the tables. ``"sbg"``: each account draws a
        churn chance :math:`\theta \sim Beta(\alpha, \beta)` (Fader and
        Hardie's shifted-beta-geometric model) and leaves at each term end
        with that chance, so the share of term-t contracts due that renew
        is :math:`r(t) = (\beta + t - 1) / (\alpha + \beta + t - 1)`.
    sbg : tuple of float, default (0.7, 3.5)
        ``(alpha, beta)`` of the ``"sbg"`` mode; the default gives
        r(1) = 3.5 / 4.2 = 83%.

    Raises
    ------
    ValueError
        When ``accounts`` is less than 1, ``churn`` is neither mode or
        ``sbg`` is not two positive numbers.

    Returns
    -------
    dict of str to pandas.DataFrame
        Table name to table, with the columns of the data model in their
        order: text as the default string dtype, dates as naive
        ``datetime64[us]``, timestamps as ``datetime64[us, UTC]``, money as
        float64 rounded to cents, ``csat`` and ``nps`` as ``Int64``.

    Examples
    --------
    >>> tables = generate_sample(seed=1, accounts=50)
    >>> sorted(tables)
    ['accounts', 'activities', 'contracts', 'deals', 'market', 'reps', 'surveys', 'tickets']
    >>> len(tables["accounts"]), tables["accounts"]["account_id"].iloc[0]
    (50, 'A000001')
    >>> tables["tickets"]["opened_at"].dtype
    datetime64[us, UTC]
    """
    if accounts < 1:
        raise ValueError(f"accounts must be at least 1, got {accounts}")
    if not 0.0 <= first_of_month <= 1.0:
        raise ValueError(f"first_of_month must be a share between 0 and 1, got {first_of_month}")
    if churn not in ("hazard", "sbg"):
        raise ValueError(f"churn must be 'hazard' or 'sbg', got {churn!r}")
    if len(sbg) != 2 or not all(np.isfinite(v) and v > 0 for v in sbg):
        raise ValueError(f"sbg must be two positive numbers (alpha, beta), got {sbg!r}")
    rng = np.random.default_rng(seed)
    tl = _Timeline(end)
    reps = _Reps(rng, tl, accounts)
    acc = _accounts(rng, tl, reps, int(accounts), first_of_month)
    con = _contracts(rng, tl, acc)
    life = dict(acc, last=np.full(acc["n"], tl.end))  # as if no account churned
    tix = _tickets(rng, tl, life, reps)
    srv = _surveys(rng, tl, life, tix, reps)
    act = _activities(rng, tl, life)
    _churn(np.random.default_rng([seed, 2]), tl, acc, con, reps, (tix, srv, act), churn, sbg)
    last = acc["last"]
    con = _signed(con, last)
    tix = _cut(tix, tix["opened"] // _DAY <= last[tix["acct"]], "T", 7)
    srv = _cut(srv, srv["responded"] // _DAY <= last[srv["acct"]], "S", 6)
    act = _cut(act, act["day"] <= last[act["acct"]], "E", 6)
    rng_deals = np.random.default_rng([seed, 3])
    dls = _deals(rng_deals, tl, acc, con, reps)
    mkt = _market(rng_deals, tl, acc, dls)

    rep_ids = reps.ids
    acc_ids = acc["ids"]
    o = con["order"]
    tables = {
        "accounts": pd.DataFrame(
            {
                "account_id": _str_col(acc_ids),
                "account_name": pd.Series(acc["name"], dtype="str"),
                "rep_id": _str_col(rep_ids, acc["owner"]),
                "region": _str_col(_REGIONS, acc["region"]),
                "segment": _str_col(_SEGMENTS, acc["segment"]),
                "customer_since": _date_col(acc["since"]),
                "churned_on": _date_col(acc["churned"]),
            }
        ),
        "contracts": pd.DataFrame(
            {
                "contract_id": _str_col(con["ids"][o]),
                "account_id": _str_col(acc_ids, con["acct"][o]),
                "start_date": _date_col(con["start"][o]),
                "end_date": _date_col(con["end"][o]),
                "annual_value": _money_col(con["value"][o]),
                "renewal_of": _str_col(con["renewal_of"][o]),
            }
        ),
        "deals": pd.DataFrame(
            {
                "deal_id": _str_col(dls["ids"]),
                "account_id": _str_col(acc_ids, dls["acct"]),
                "rep_id": _str_col(rep_ids, dls["rep"]),
                "created_on": _date_col(dls["created"]),
                "closed_on": _date_col(dls["closed"]),
                "stage": _str_col(_STAGES, dls["stage"]),
                "amount": _money_col(dls["amount"]),
                "deal_type": _str_col(_DEAL_TYPES, dls["type"]),
                "channel": _str_col(_CHANNELS, dls["channel"]),
            }
        ),
        "tickets": pd.DataFrame(
            {
                "ticket_id": _str_col(tix["ids"]),
                "account_id": _str_col(acc_ids, tix["acct"]),
                "rep_id": _str_col(rep_ids, tix["rep"]),
                "opened_at": _datetime_col(tix["opened"]),
                "first_response_at": _datetime_col(tix["first"]),
                "resolved_at": _datetime_col(tix["resolved"]),
                "priority": _str_col(_PRIORITIES, tix["prio"]),
                "kind": _str_col(_TICKET_KINDS, tix["kind"]),
            }
        ),
        "surveys": pd.DataFrame(
            {
                "response_id": _str_col(srv["ids"]),
                "account_id": _str_col(acc_ids, srv["acct"]),
                "rep_id": _str_col(rep_ids, srv["rep"]),
                "responded_at": _datetime_col(srv["responded"]),
                "csat": _int_col(srv["csat"], srv["csat_na"]),
                "nps": _int_col(srv["nps"], srv["nps_na"]),
            }
        ),
        "activities": pd.DataFrame(
            {
                "activity_id": _str_col(act["ids"]),
                "account_id": _str_col(acc_ids, act["acct"]),
                "occurred_on": _date_col(act["day"]),
                "kind": _str_col(_ACTIVITY_KINDS, act["kind"]),
            }
        ),
        "market": pd.DataFrame(
            {
                "period": _str_col(mkt["period"]),
                "region": _str_col(_REGIONS, mkt["region"]),
                "company": _str_col(np.array([c[0] for c in _COMPETITORS]), mkt["company"]),
                "revenue": _money_col(mkt["revenue"]),
            }
        ),
        "reps": pd.DataFrame(
            {
                "rep_id": _str_col(rep_ids),
                "name": _str_col(reps.name),
                "team": _str_col(_TEAMS, reps.team),
                "region": _str_col(_REGIONS, reps.region),
                "hired_on": _date_col(reps.hired),
                "left_on": _date_col(reps.left),
            }
        ),
    }
    return tables


# --------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------

_OFFSETS = np.array(["+02:00", "+01:00", "-05:00", "+05:30", "-03:00"])
_OFFSET_SECONDS = np.array([7200, 3600, -18000, 19800, -10800])


def _format_datetimes(
    seconds: list[np.ndarray], missing: list[np.ndarray], style: np.ndarray, offset: np.ndarray
) -> list[pa.Array]:
    """Format UTC seconds as ISO 8601 text in the per-row style of an export.

    ``style`` 0 writes ``2025-03-04T09:15:00Z``, 1 the same instant with a
    UTC offset (``2025-03-04T11:15:00+02:00``) and 2 a naive
    ``2025-03-04 09:15:00`` taken as UTC.
    """
    suffix = np.where(style == 0, "Z", np.where(style == 1, _OFFSETS[offset], ""))
    shift = np.where(style == 1, _OFFSET_SECONDS[offset], 0)
    naive = pa.array(style == 2)
    out = []
    for sec, na in zip(seconds, missing, strict=True):  # the datetime columns of one table
        local = pa.array(np.where(na, 0, sec + shift), type=pa.int64(), mask=na)
        local = local.cast(pa.timestamp("s"))
        text = pc.strftime(local, format="%Y-%m-%dT%H:%M:%S")
        text = pc.if_else(naive, pc.utf8_replace_slice(text, 10, 11, " "), text)
        out.append(pc.binary_join_element_wise(text, pa.array(suffix), ""))
    return out


def _format_money(values: pd.Series) -> pa.Array:
    """Format money with exactly two decimals."""
    cents = np.round(values.to_numpy(dtype=np.float64) * 100).astype(np.int64)
    whole, frac = np.divmod(cents, 100)
    return pc.binary_join_element_wise(
        pc.cast(pa.array(whole), pa.string()),
        pc.utf8_lpad(pc.cast(pa.array(frac), pa.string()), width=2, padding="0"),
        ".",
    )


def _to_arrow(name: str, df: pd.DataFrame, rng: np.random.Generator) -> pa.Table:
    """Convert a generated table to the Arrow table written as its CSV export."""
    kinds = COLUMNS[name]
    n = len(df)
    dt_cols = [c for c, k in kinds.items() if k == "datetime"]
    style = rng.choice(3, size=n, p=[0.86, 0.10, 0.04])
    offset = rng.integers(0, _OFFSETS.size, n)
    secs, nas = [], []
    for c in dt_cols:  # at most three columns
        values = df[c]
        nas.append(values.isna().to_numpy())
        us = values.to_numpy(dtype="datetime64[us]", na_value=np.datetime64("NaT"))
        secs.append(us.astype("datetime64[s]").astype(np.int64))
    texts = dict(zip(dt_cols, _format_datetimes(secs, nas, style, offset), strict=True))
    arrays = []
    for c, kind in kinds.items():  # the columns of one table
        s = df[c]
        if kind == "str":
            arrays.append(pa.array(s).cast(pa.string()))
        elif kind == "date":
            arrays.append(pa.array(s).cast(pa.date32()))
        elif kind == "datetime":
            arrays.append(texts[c])
        elif kind == "money":
            arrays.append(_format_money(s))
        else:
            arrays.append(pa.array(s).cast(pa.int64()))
    return pa.table(arrays, names=list(kinds))


def _goals_toml(accounts: int) -> str:
    """Return the goals file of the sample: a target for every KPI.

    Count and sum targets other than the default goals are scaled from the
    2000-account default sample to ``accounts`` (two significant digits).
    """
    lines = [
        "# Goals of the customer-representative team, for the sample data.",
        "# The first nine are the team's default goals; the others give every",
        "# other KPI a target so that each trend chart has a goal line.",
        "",
    ]
    for kpi, freq, target, direction, label in GOALS:  # 27 goals
        if kpi in _SCALED_GOALS and accounts != 2000:
            scaled = target * accounts / 2000
            digits = 1 - int(np.floor(np.log10(scaled)))
            target = max(int(round(scaled, digits)), 1)
        label = label.format(target)
        value = repr(float(target)) if isinstance(target, float) else str(target)
        lines += [
            "[[goal]]",
            f'kpi = "{kpi}"',
            f'freq = "{freq}"',
            f"target = {value}",
            f'direction = "{direction}"',
            f'label = "{label}"',
            "",
        ]
    return "\n".join(lines)


def write_sample(
    out: str | os.PathLike,
    *,
    seed: int = 0,
    accounts: int = 2000,
    end: str = "2026-09-30",
    first_of_month: float = 0.0,
    churn: ChurnMode = "hazard",
    sbg: tuple[float, float] = SBG,
    progress: Callable[[str], None] | None = None,
) -> pathlib.Path:
    """Write the sample data as one CSV per table, plus a ``goals.toml``.

    The files look like CRM exports: dates as ``YYYY-MM-DD``, money with two
    decimals, an empty field for a missing value, and timestamps in
    ISO 8601, mostly in UTC (``2025-03-04T09:15:00Z``) but about one in ten
    with a UTC offset (``2025-03-04T11:15:00+02:00``, the same instant) and
    a few without a zone (``2025-03-04 09:15:00``, meant as UTC).

    Parameters
    ----------
    out : str or os.PathLike
        Folder to write into; created if needed, files in it are replaced.
    seed : int, default 0
        Seed, as for :func:`generate_sample`; the same arguments give
        byte-identical files.
    accounts : int, default 2000
        Number of accounts, as for :func:`generate_sample`.
    end : str, default "2026-09-30"
        Last day of the history, as for :func:`generate_sample`.
    first_of_month : float, default 0.0
        Share of accounts dated on the first of a month, as for
        :func:`generate_sample`.
    churn : {"hazard", "sbg"}, default "hazard"
        How accounts decide not to renew, as for :func:`generate_sample`.
    sbg : tuple of float, default (0.7, 3.5)
        ``(alpha, beta)`` of the ``"sbg"`` mode, as for :func:`generate_sample`.
    progress : callable, optional
        Called with a short message after each table is written.

    Returns
    -------
    pathlib.Path
        The folder written.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     folder = write_sample(tmp, seed=1, accounts=50)
    ...     names = sorted(p.name for p in folder.iterdir())
    ...     header = (folder / "accounts.csv").read_text().splitlines()[0]
    >>> names  # doctest: +NORMALIZE_WHITESPACE
    ['accounts.csv', 'activities.csv', 'contracts.csv', 'deals.csv', 'goals.toml',
     'market.csv', 'reps.csv', 'surveys.csv', 'tickets.csv']
    >>> header
    'account_id,account_name,rep_id,region,segment,customer_since,churned_on'
    """
    folder = pathlib.Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    tables = generate_sample(
        seed=seed, accounts=accounts, end=end, first_of_month=first_of_month, churn=churn, sbg=sbg
    )
    rng = np.random.default_rng([seed, 1])
    options = pacsv.WriteOptions(quoting_style="none", quoting_header="none", batch_size=65536)
    for name, df in tables.items():  # the eight tables
        table = _to_arrow(name, df, rng)
        path = folder / f"{name}.csv"
        pacsv.write_csv(table, path, write_options=options)
        if progress is not None:
            progress(f"wrote {path.name} ({table.num_rows:,} rows)")
    (folder / "goals.toml").write_text(_goals_toml(accounts), encoding="utf-8")
    return folder
