"""Why a number changed: a KPI's change between two periods, split over the groups of ``by``.

For a ratio (numerator / denominator, times the KPI's ``scale``) the whole
value is the denominator-weighted mean of the groups' values, so its change
splits exactly into each group's *rate effect* (its own value moved) and
*mix effect* (its share of the denominator moved, counted as far as its
value lies above or below the whole's). For a count or a sum the whole is
the groups' sum and a group's contribution is its own change.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from repkpi.errors import OptionError, RepkpiError
from repkpi.io.loading import CrmData
from repkpi.kpis import KPIS, KpiSpec
from repkpi.kpis.detail import period_freq
from repkpi.kpis.intervals import change_interval
from repkpi.kpis.registry import (
    By,
    Window,
    check_options,
    check_window,
    normalise_by,
    refuse_after_as_of,
    window_lag,
)
from repkpi.periods import Calendar, Freq, PeriodLike, in_progress, year_before

__all__ = ["COLUMNS", "explain", "top_drivers"]

COLUMNS = ("numerator_previous", "denominator_previous", "value_previous",
           "numerator_current", "denominator_current", "value_current",
           "rate_effect", "mix_effect", "contribution")
"""The columns of :func:`explain` after the ``by`` columns."""

_PARTS = ("numerator", "denominator", "value")
_TOTAL = "total"


def explain(data: CrmData, kpi: str, /, *, period: PeriodLike, by: By,
            against: PeriodLike | None = None, freq: Freq | None = None,
            fiscal_year_start: int = 1, window: Window = "period", **options: Any) -> pd.DataFrame:
    """Why a KPI's value changed between two periods: each group's contribution.

    Parameters
    ----------
    data : CrmData
        Loaded data (or Dask data).
    kpi : str
        A name of :data:`repkpi.KPIS` whose value decomposes over groups: a
        ratio, a count or a sum.
    period : period-like
        The period explained: ``"2026Q3"``, ``"2026-07"``, ``"2026"`` (fiscal
        labels with ``fiscal_year_start``) or a pandas Period; its length
        (month, quarter, year) is the KPI's ``freq``.
    by : str or list of str
        The columns whose groups share out the change, as the KPI's ``by``.
    against : period-like or "year_ago", optional
        The period compared with, of the same length; default the one before
        ``period`` (over a window, the one whose span the KPI compares with:
        the span of the same length just before, or for ``"ytd"`` and
        ``"qtd"`` the same span a year earlier). ``"year_ago"``: the same
        period a year earlier; for a period in progress on ``data.as_of``,
        the same span cut at the same day a year earlier (29 February reads
        as 28 February), as the scorecard's ``change_yoy``.
    freq : {"M", "Q", "Y"}, optional
        The period length, when ``period`` is a date.
    fiscal_year_start : int
        Month the (fiscal) year starts in.
    window : {"period", "ytd", "qtd"} or int
        The span of both values, as the KPI takes it (the year to date
        against the same span a year earlier, the trailing twelve months...).
    **options
        The KPI's own options (``threshold=``, ``targets=``...).

    Returns
    -------
    DataFrame
        One row per group, then a last row whose ``by`` columns read
        ``"total"``: the ``by`` columns, ``numerator_previous``,
        ``denominator_previous``, ``value_previous`` (in ``against``),
        ``numerator_current``, ``denominator_current``, ``value_current`` (in
        ``period``), ``rate_effect``, ``mix_effect`` and ``contribution``;
        then ``change_low``, ``change_high`` and ``significant``, on the total
        row only: the 95% interval of the whole's change by Newcombe's
        method, for a KPI that is a share of counts (NA for the others, and
        on the groups' rows; :func:`repkpi.kpis.intervals.change_interval`).
        Groups are sorted by the size of their contribution, largest first;
        the total's contribution is the whole KPI's change (computed without
        ``by``), and the groups' contributions add up to it. A group absent
        from one period has NA there. ``attrs`` holds ``kpi``, ``period`` and
        ``against`` (pandas Periods).

    Raises
    ------
    OptionError
        An unknown KPI, a KPI whose value does not decompose (a median, a
        rank, a difference of ratios, a growth over the previous period), no
        ``by``, an option the KPI does not take, an ``against`` of another
        length, or a period (either) that begins after the data's as-of date.
    RepkpiError
        The KPI has no value in one of the two periods, or its groups do not
        add up to the whole.

    Notes
    -----
    For a ratio, with w the group's share of the whole denominator, r its
    value (``scale`` x numerator / denominator) and R the whole KPI's value,
    in ``against`` (0) and ``period`` (1):

    - ``rate_effect`` = (r1 - r0) x (w0 + w1) / 2
    - ``mix_effect`` = (w1 - w0) x ((r0 + r1) / 2 - (R0 + R1) / 2)
    - ``contribution`` = rate_effect + mix_effect
      = w1 r1 - w0 r0 - (w1 - w0) (R0 + R1) / 2

    The mix effect is centred on the whole's value: a group whose weight
    grows adds to the change only as far as its value lies above the
    whole's, and one whose weight shrinks only as far as it lies below.
    Since the whole value is sum(w r) and the weights' changes sum to 0, the
    contributions add up to the whole's change, and the mix effects to the
    whole mix change, as they would uncentred. A group present in one period
    only (or with a denominator of 0, whose value is NaN) has no rate effect:
    its missing rate is taken equal to the other's, and its contribution is
    all mix. For a count or a sum (denominator 1 by convention) the
    contribution is the group's own change of numerator, put in
    ``rate_effect``; ``mix_effect`` is 0.

    Examples
    --------
    >>> import repkpi
    >>> data = repkpi.load_sample()
    >>> why = repkpi.explain(data, "csat", period="2026Q2", by="region")
    >>> list(why.columns[:2]), why["region"].iloc[-1]
    (['region', 'numerator_previous'], 'total')
    >>> whole = repkpi.kpis.csat(data, start="2026Q1", end="2026Q2")["value"]
    >>> bool(np.isclose(why["contribution"].iloc[:-1].sum(), whole.iloc[1] - whole.iloc[0]))
    True

    The year to date against the same months a year earlier:

    >>> ytd = repkpi.explain(data, "win_rate", period="2026-06", by="region", window="ytd")
    >>> str(ytd.attrs["against"])
    '2025-06'
    """
    spec = _decomposable(kpi)
    _check_options(spec, by, options)
    freq = freq or period_freq(period)
    check_window(window, freq)
    current, previous = _periods(period, against, Calendar(freq, fiscal_year_start),
                                 window_lag(window, freq))
    for asked in (current, previous):
        refuse_after_as_of(data, asked, what="explain")
    columns = normalise_by(by)
    kwargs = dict(options, freq=freq, fiscal_year_start=fiscal_year_start, window=window,
                  start=min(current, previous), end=max(current, previous))
    earlier = _earlier_data(data, current, against)
    groups = _side_by_side(_values(data, earlier, kpi, kwargs, previous, current, by=by),
                           columns, previous, current)
    whole = _side_by_side(_values(data, earlier, kpi, kwargs, previous, current),
                          [], previous, current).iloc[0]
    _check_whole(spec, groups, whole, previous, current)
    effects = _ratio_effects(groups, whole, spec.scale) if spec.kind == "ratio" else _sum_effects(groups)
    result = _with_change_interval(_with_total(effects, whole, columns), spec, options)
    result.attrs.update(kpi=kpi, period=current, against=previous)
    return result


# -- checks --------------------------------------------------------------------------------------
def _decomposable(kpi: str) -> KpiSpec:
    """The spec of ``kpi``; :class:`OptionError` when it is unknown or does not decompose."""
    if kpi not in KPIS:
        raise OptionError(f"Unknown KPI {kpi!r}.\nHint: the KPIs are {sorted(KPIS)}.")
    spec: KpiSpec = KPIS[kpi]
    reason = _refusal(spec)
    if reason:
        raise OptionError(f"explain cannot split {kpi}: {reason}")
    return spec


def _refusal(spec: KpiSpec) -> str | None:
    """Why the change of ``spec``'s value does not split over groups (None when it does)."""
    if spec.kind == "median":
        return ("it is a median, and a median of the whole is not made of its groups' "
                "medians.\nHint: compare its value per group with by=, or list the rows "
                "behind it with repkpi.detail.")
    if spec.kind == "rank":
        return ("it is a rank, which does not add up over groups.\nHint: explain "
                "market_share, the share the rank comes from.")
    if spec.kind == "difference":
        return ("it is a difference of two ratios (this period's minus the previous "
                "one's), with no numerator or denominator to share out.\nHint: explain the "
                "ratio itself (market_share) between the two periods, with against=.")
    if spec.timing == "compare":
        return ("it is a growth over the previous period, so its denominator is the "
                "previous period's count: a group with none there has no growth rate, and "
                "a change of growth spans three periods.\nHint: explain the count itself "
                "(new_customers), whose contributions are each group's own change.")
    return None


def _check_options(spec: KpiSpec, by: By, options: dict[str, Any]) -> None:
    """:class:`OptionError` for a missing ``by`` or an option the KPI does not take."""
    if not normalise_by(by):
        raise OptionError(f"explain needs by= for {spec.name}: the groups whose contributions "
                          "make up the change.\nHint: by='region', by='team', by='rep_id'...")
    check_options(spec, options, allowed=())
    if "ci" in options:
        raise OptionError(f"explain takes no ci= for {spec.name}: intervals do not split "
                          "over groups.\nHint: leave ci= out.")


def _periods(period: PeriodLike, against: PeriodLike | None, calendar: Calendar,
             lag: int = 1) -> tuple[pd.Period, pd.Period]:
    """``period`` and ``against`` (default: ``lag`` periods before) as periods of ``calendar``."""
    current = calendar.period(period)
    if against == "year_ago":
        return current, year_before(current)
    if against is None:
        return current, current - lag
    if _length(against) not in (None, calendar.freq):
        raise OptionError(f"against={against!r} is not a period of the same length as "
                          f"period={period!r} (freq {calendar.freq!r}).\nHint: compare a quarter with "
                          "a quarter, a month with a month, a year with a year.")
    return current, calendar.period(against)


def _length(value: PeriodLike) -> Freq | None:
    """The period length a label names, or None for a date."""
    try:
        return period_freq(value)
    except OptionError:
        return None


def _check_whole(spec: KpiSpec, groups: pd.DataFrame, whole: pd.Series, previous: pd.Period,
                 current: pd.Period) -> None:
    """:class:`RepkpiError` when the KPI has no value, or its groups do not add up to it."""
    for suffix, label in (("previous", previous), ("current", current)):
        if pd.isna(whole[f"value_{suffix}"]):
            raise RepkpiError(f"{spec.name} has no value in {label} (nothing to count "
                              "there, or no data), so its change cannot be explained.\n"
                              "Hint: choose periods with data, with period= and against=.")
        sides = ("numerator", "denominator") if spec.kind == "ratio" else ("numerator",)
        for side in sides:
            total = groups[f"{side}_{suffix}"].sum()
            if not np.isclose(total, whole[f"{side}_{suffix}"], rtol=1e-9, atol=1e-9):
                raise RepkpiError(
                    f"The groups of {spec.name} do not add up to the whole in {label}: "
                    f"their {side}s sum to {total}, the whole's is {whole[f'{side}_{suffix}']}."
                    "\nHint: some rows fall in no group of this by (a market region missing "
                    "from the market table, say); explain it by another column.")


def _earlier_data(data: CrmData, current: pd.Period, against: PeriodLike | None) -> CrmData:
    """The data the compared period is read from: as it stood a year before, for a year-ago to date."""
    if against != "year_ago" or in_progress(data.as_of, current.freqstr) != current:
        return data
    return data.cut_at(year_before(data.as_of))


def _values(data: CrmData, earlier: CrmData, kpi: str, kwargs: dict[str, Any],
            previous: pd.Period, current: pd.Period, *, by: By = None) -> pd.DataFrame:
    """The KPI in both periods: ``previous`` read from ``earlier`` when that is other data."""
    if earlier is data:
        return KPIS[kpi](data, by=by, **kwargs)
    return pd.concat([KPIS[kpi](earlier, by=by, **{**kwargs, "start": previous, "end": previous}),
                      KPIS[kpi](data, by=by, **{**kwargs, "start": current, "end": current})],
                     ignore_index=True)


# -- the split -----------------------------------------------------------------------------------
def _side_by_side(result: pd.DataFrame, columns: list[str], previous: pd.Period,
                  current: pd.Period) -> pd.DataFrame:
    """One row per group: its numerator, denominator and value in ``previous`` and ``current``."""
    before = _at(result, previous, columns, "previous")
    after = _at(result, current, columns, "current")
    if not columns:
        return pd.concat([before, after], axis=1)
    # merge matches NA keys with each other: the group of rows with no value is kept.
    return before.merge(after, on=columns, how="outer", sort=False)


def _at(result: pd.DataFrame, period: pd.Period, columns: list[str], suffix: str,
        ) -> pd.DataFrame:
    """The rows of ``period``: the ``by`` columns and the parts, named ``<part>_<suffix>``."""
    rows = result.loc[result["period"] == period, [*columns, *_PARTS]]
    rows = rows.rename(columns={part: f"{part}_{suffix}" for part in _PARTS})
    if columns:
        return rows.reset_index(drop=True)
    if rows.empty:  # no row for the period: its value is missing
        return pd.DataFrame({f"{part}_{suffix}": [np.nan] for part in _PARTS})
    return rows.reset_index(drop=True)


def _ratio_effects(groups: pd.DataFrame, whole: pd.Series, scale: float) -> pd.DataFrame:
    """Rate, mix and contribution of each group of a ratio (see :func:`explain`, Notes)."""
    weight, share, rate = {}, {}, {}
    for suffix in ("previous", "current"):
        numerator = groups[f"numerator_{suffix}"].astype("float64").fillna(0.0)
        denominator = groups[f"denominator_{suffix}"].astype("float64").fillna(0.0)
        total = whole[f"denominator_{suffix}"]
        weight[suffix] = denominator / total
        share[suffix] = scale * numerator / total  # w x r, also where r is undefined
        rate[suffix] = (scale * numerator / denominator).where(denominator > 0)
    both = rate["previous"].notna() & rate["current"].notna()
    rate_effect = ((rate["current"] - rate["previous"])
                   * (weight["previous"] + weight["current"]) / 2).where(both, 0.0)
    # w1 r1 - w0 r0, less the weight's move valued at the whole's mean value: the weights'
    # moves sum to 0, so the contributions still add up to the whole's change.
    centre = (float(whole["value_previous"]) + float(whole["value_current"])) / 2
    uncentred = share["current"] - share["previous"]
    contribution = uncentred - (weight["current"] - weight["previous"]) * centre
    present = rate["previous"].notna() | rate["current"].notna() | (uncentred != 0)
    out = groups.assign(rate_effect=rate_effect, mix_effect=contribution - rate_effect,
                        contribution=contribution)
    return out[present]


def _sum_effects(groups: pd.DataFrame) -> pd.DataFrame:
    """A count's or a sum's groups: the contribution is the group's own change."""
    change = (groups["numerator_current"].astype("float64").fillna(0.0)
              - groups["numerator_previous"].astype("float64").fillna(0.0))
    return groups.assign(rate_effect=change, mix_effect=0.0, contribution=change)


def _with_total(effects: pd.DataFrame, whole: pd.Series, columns: list[str]) -> pd.DataFrame:
    """The groups, largest contribution first, and the ``total`` row last."""
    ordered = effects.sort_values("contribution", key=abs, ascending=False, kind="stable")
    total = {column: _TOTAL for column in columns}
    total.update({key: whole[key] for key in COLUMNS[:6]})
    total.update(rate_effect=ordered["rate_effect"].sum(), mix_effect=ordered["mix_effect"].sum(),
                 contribution=whole["value_current"] - whole["value_previous"])
    return pd.concat([ordered[[*columns, *COLUMNS]], pd.DataFrame([total])], ignore_index=True)


def _with_change_interval(result: pd.DataFrame, spec: KpiSpec, options: dict[str, Any],
                          ) -> pd.DataFrame:
    """``change_low``, ``change_high`` and ``significant`` of the whole's change, on the total row.

    The groups' rows have NA there: the interval is of the whole's change.
    """
    real = change_interval(result["numerator_current"], result["denominator_current"],
                           result["numerator_previous"], result["denominator_previous"],
                           share=spec.share_of_counts(options))
    total = np.arange(len(real)) == len(real) - 1
    return pd.concat([result, real.where(pd.Series(total, index=real.index), axis=0)], axis=1)


# -- what a reader sees first --------------------------------------------------------------------
def top_drivers(why: pd.DataFrame, /, *, shown: int = 3) -> pd.DataFrame:
    """The first groups of an :func:`explain` table, the others summed in one row, and the total.

    Parameters
    ----------
    why : DataFrame
        A table of :func:`explain` (its ``attrs`` name the KPI).
    shown : int
        The groups kept as they are.

    Returns
    -------
    DataFrame
        The same columns: the ``shown`` groups whose contributions have the
        sign of the whole's change first, then the others, each kind by size
        of contribution, largest first; then, when groups are left out, one
        row whose first ``by`` column reads ``"2 more teams"`` (the number
        and the column's name) with their summed parts and effects, and the
        value of those parts (NA when ``attrs`` names no KPI); then the
        ``total`` row. The rows before the total add up to it.
        ``attrs`` as ``why``'s, with ``left_out``, the number of groups in
        the summed row.

    Examples
    --------
    >>> why = pd.DataFrame({"team": ["a", "b", "c", "d", "total"],
    ...                     "contribution": [0.3, -0.2, -0.1, 0.05, -0.05]})
    >>> top_drivers(why, shown=2)[["team", "contribution"]]
             team  contribution
    0           b         -0.20
    1           c         -0.10
    2  2 more teams          0.35
    3       total         -0.05
    """
    groups, total = why.iloc[:-1], why.iloc[[-1]]
    change = float(total["contribution"].iloc[0])
    against = ~(np.sign(groups["contribution"].astype("float64")) == np.sign(change))
    order = pd.DataFrame({"against": against if change else False,
                          "size": -groups["contribution"].astype("float64").abs()})
    ranked = groups.loc[order.sort_values(["against", "size"], kind="stable").index]
    first, rest = ranked.iloc[:shown], ranked.iloc[shown:]
    frames = [first]
    if len(rest):
        column = why.columns[0]
        parts = [c for c in COLUMNS if c in rest.columns and not c.startswith("value_")]
        summed = rest[parts].astype("float64").sum().to_frame().T
        summed.insert(0, column, _more(len(rest), str(column)))
        spec = KPIS.get(why.attrs.get("kpi", ""))
        if spec is not None and set(COLUMNS) <= set(why.columns):  # the rest's own value
            for suffix in ("previous", "current"):
                numerator = summed[f"numerator_{suffix}"]
                denominator = summed[f"denominator_{suffix}"]
                summed[f"value_{suffix}"] = numerator if spec.kind != "ratio" else (
                    spec.scale * numerator / denominator).where(denominator > 0)
        frames.append(summed)
    out = pd.concat([*frames, total], ignore_index=True)[list(why.columns)]
    out.attrs.update(why.attrs, left_out=len(rest))
    return out


def _more(count: int, column: str) -> str:
    """``"2 more teams"``: the groups left out, named by their column."""
    noun = column.removesuffix("_id").replace("_", " ")
    if count != 1:
        noun = noun[:-1] + "ies" if noun.endswith("y") and noun[-2:-1] not in "aeiou" else noun + "s"
    return f"{count} more {noun}"
