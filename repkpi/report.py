"""The monthly report a manager acts on: what changed, why, and who needs attention.

:func:`repkpi.review.review` gathers the review of one period from the
library's own calls, each KPI computed once for the whole run.
:func:`write_report` writes it into one folder, whole or not at all
(:func:`~repkpi.outputs.staged_folder`):

* ``report.html``: one self-contained page, in the order a manager reads it:
  the headline, the plan's nine goals, the quarter's focus, the drivers of
  each missed or at-risk goal, the "needs attention" lists, the teams and
  reps, the other goals, every KPI's chart once, and the data's quality last;
* ``report.xlsx``: the scorecard, every KPI by period and the attention
  lists, numbers formatted by unit;
* ``scorecard.csv`` and, when rows were set aside, ``rejects.csv``;
* ``<kpi>.png``: each KPI's chart, with its goal line where a goal names it
  (:func:`repkpi.plot.dashboard` draws the goals' charts together).

Text from the data (names, labels, values) is escaped in the page, drawn
literally in the charts and written formula-safe in CSV and Excel. The
charts are drawn on figures of their own, to pixels with Agg: importing or
writing a report leaves the process's matplotlib backend and pyplot's
figures as they were.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from repkpi.errors import ColumnNotFoundError, MissingTableError, OptionError, RepkpiError
from repkpi.explain import top_drivers
from repkpi.forecast import renewals
from repkpi.forecast.risk import backtest_line
from repkpi.goals import Goal, goal_result
from repkpi.io.loading import CrmData
from repkpi.kpis import KPIS, UNITS
from repkpi.kpis.business import describe
from repkpi.kpis.shared import shared_results
from repkpi.kpis.units import format_change
from repkpi.outputs import sheet_name, staged_folder, write_csv, write_xlsx
from repkpi.periods import Calendar, Freq, PeriodLike, period_label
from repkpi.plot import (
    format_value,
    goal_series,
    png_bytes,
    title,
    trend,
    window,
)
from repkpi.review import LEADERBOARDS, LISTED, Progress, Review, clock_of, review

__all__ = ["LEADERBOARDS", "ChartJob", "Review", "draw_chart", "review", "write_report"]

_CHART_PERIODS = 12  # quarters (or the review's periods) every chart spans
_DRIVERS = 3  # top groups shown per driver table
_SHOWN = 10  # rows per attention list and leaderboard on the page


def write_report(data: CrmData, out: str | os.PathLike[str], *, goals: Iterable[Goal] | None = None,
                 freq: Freq = "Q", period: PeriodLike | None = None,
                 progress: Progress | None = None, fiscal_year_start: int | None = None,
                 data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Write the report of one period into the folder ``out``, whole or not at all.

    Parameters
    ----------
    data : CrmData
    out : path
        The output folder: new, empty, or an earlier report's, which is
        replaced whole (see :func:`repkpi.outputs.staged_folder`). Until the
        report is complete, the earlier one stays as it was.
    goals, freq, period, fiscal_year_start, progress
        As :func:`review` takes them.
    data_dir : path, optional
        The data folder, which ``out`` may not be, be inside or hold.

    Returns
    -------
    Path
        The path of ``report.html``.

    Examples
    --------
    >>> import repkpi, tempfile
    >>> page = write_report(repkpi.load_sample(), tempfile.mkdtemp() + "/out", period="2026Q2")
    >>> page.name, sorted(p.name for p in page.parent.glob("*.xlsx"))
    ('report.html', ['report.xlsx'])
    """
    say = progress or (lambda message: None)
    data = shared_results(data)  # the review's results, kept for the charts and the page
    with staged_folder(out, data_dir=data_dir) as folder:
        seen = review(data, goals, freq=freq, period=period, fiscal_year_start=fiscal_year_start,
                      progress=say)
        jobs, unchartable = _chart_jobs(data, seen)
        seen.skipped.update(unchartable)
        images = _draw(jobs, say)
        for name, png in images.items():
            (folder / f"{name}.png").write_bytes(png)
        say("Writing scorecard.csv and report.xlsx")
        write_csv(_card_file(seen.card, seen), folder / "scorecard.csv")
        if len(data.rejects):
            write_csv(data.rejects, folder / "rejects.csv")
        _write_workbook(seen, folder / "report.xlsx")
        say("Writing report.html")
        (folder / "report.html").write_text(_page(data, seen, images), encoding="utf-8")
    return Path(out) / "report.html"


# -- charts ---------------------------------------------------------------------------------------
ChartJob = tuple[pd.DataFrame, Goal | None, pd.PeriodIndex | None]
"""What one chart draws: the KPI by period, its goal (or None) and the time range."""


def _chart_jobs(data: CrmData, seen: Review) -> tuple[dict[str, ChartJob], dict[str, str]]:
    """Every KPI's chart, ready to draw (with its goal where a goal names it), and those that can't be."""
    goal_of: dict[str, Goal] = {}
    for goal in [*seen.plan, *seen.others]:
        if not goal.where:
            goal_of.setdefault(goal.kpi, goal)
    end, fiscal = seen.chart_end, seen.fiscal_year_start
    span = None if end is None else window(data, freq=seen.freq, periods=_CHART_PERIODS, end=end,
                                           fiscal_year_start=fiscal)
    values = seen.kpi_values
    jobs: dict[str, ChartJob] = {}
    unchartable: dict[str, str] = {}
    for name in KPIS:
        if name in seen.skipped:
            continue
        if name in goal_of:
            try:
                result, goal_span = goal_series(data, goal_of[name], periods=_CHART_PERIODS, end=end,
                                                freq=seen.freq, fiscal_year_start=fiscal)
            except (MissingTableError, ColumnNotFoundError, OptionError) as exc:
                unchartable[name] = str(exc).splitlines()[0]
                continue
            jobs[name] = (result, goal_of[name], goal_span)
        else:
            result = values[values["kpi"] == name].drop(columns="kpi").reset_index(drop=True)
            result.attrs.update(values.attrs, kpi=name)
            jobs[name] = (result, None, span)
    return jobs, unchartable


def draw_chart(job: ChartJob) -> bytes:
    """One chart of the report as PNG bytes: :func:`repkpi.plot.trend` of a :data:`ChartJob`.

    Drawn on a figure of its own (no pyplot, whatever the process's backend).
    A service KPI's title ends with its clock (the goal's, else calendar hours).
    """
    result, goal, span = job
    fig = Figure(figsize=(6.4, 3.1))
    fig.subplots_adjust(left=0.12, right=0.98, top=0.88, bottom=0.24)
    ax = trend(result, goal=goal, window=span, ax=fig.add_subplot())
    clock = clock_of(goal.kpi if goal is not None else str(result.attrs.get("kpi")),
                     goal.options if goal is not None else None)
    if clock:  # a service KPI says the clock it is counted on
        ax.title.set_text(f"{ax.title.get_text()} ({clock})")
    return png_bytes(fig)


def _draw(jobs: dict[str, ChartJob], say: Progress) -> dict[str, bytes]:
    images = {}
    for number, (name, job) in enumerate(jobs.items(), start=1):
        say(f"Charting {name} ({number}/{len(jobs)})")
        images[name] = draw_chart(job)
    return images


# -- files ----------------------------------------------------------------------------------------
def _card_file(card: pd.DataFrame, seen: Review) -> pd.DataFrame:
    """The scorecard as a file holds it: the period as text and as printed, each service goal's clock."""
    goals = {goal.label: goal for goal in [*seen.plan, *seen.others]}
    clocks = {label: clock_of(goal.kpi, goal.options) for label, goal in goals.items()}
    return _readable(card, card["goal"].map(clocks))


def _readable(frame: pd.DataFrame, clocks: pd.Series) -> pd.DataFrame:
    """``frame`` with ``period`` as text, ``period_label`` beside it and ``clock`` after ``kpi``."""
    periods = frame["period"]
    labels = {p: _label(p) for p in pd.unique(periods)}
    out = frame.drop(columns="period_label", errors="ignore").assign(period=periods.astype("str"))
    out.insert(out.columns.get_loc("period") + 1, "period_label", periods.map(labels))
    out.insert(out.columns.get_loc("kpi") + 1, "clock", clocks.astype(object))
    return out


def _write_workbook(seen: Review, path: Path) -> None:
    """``report.xlsx``: scorecard, in progress, every KPI by period, the attention lists."""
    card = _card_file(seen.card, seen)
    units = card["kpi"].map(UNITS)
    sheets = {"scorecard": card}
    formats: dict[str, dict[str, object]] = {
        "scorecard": {c: units for c in ("value", "target", "previous", "change", "change_low",
                                         "change_high", "year_ago", "change_yoy",
                                         "change_yoy_low", "change_yoy_high")}}
    if len(seen.in_progress):
        pace = _card_file(seen.in_progress, seen)
        sheets["in progress"] = pace
        pace_units = pace["kpi"].map(UNITS)
        formats["in progress"] = {c: pace_units for c in ("value", "target", "pace")}
        formats["in progress"]["elapsed"] = "percent"
    names = seen.kpi_values["kpi"]
    clocks = {name: clock_of(name, seen.options.get(name)) for name in pd.unique(names)}
    values = _readable(seen.kpi_values, names.map(clocks))
    sheets["kpis"] = values
    formats["kpis"] = {"value": values["kpi"].map(UNITS)}
    lists = list(seen.attention.values())
    names: list[str] = []
    for listed in lists:
        names.append(sheet_name(listed.title, taken=[*sheets, "attention", *names]))
    if lists:  # each list's size and sheet, then its rows (the first 1,000) on that sheet
        sheets["attention"] = pd.DataFrame({
            "list": [listed.title for listed in lists],
            "total": [listed.total for listed in lists],
            "rows in this workbook": [len(listed.rows) for listed in lists],
            "sheet": names})
    for name, listed in zip(names, lists, strict=True):
        sheets[name] = listed.rows
    write_xlsx(sheets, path, units=formats)


# -- the page -------------------------------------------------------------------------------------
_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222;
       line-height: 1.4; padding: 0 1rem; }
h1 { margin-bottom: 0.2rem; } h2 { margin-top: 2.2rem; border-bottom: 2px solid #eee; }
.muted { color: #666; } .lead { font-size: 1.15rem; }
.banner { background: #fdf2e9; border-left: 4px solid #d35400; padding: 0.6rem 1rem; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.9rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3rem 0.6rem; text-align: left; vertical-align: middle; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.met, .ontrack { color: #1e8449; font-weight: 600; } .missed, .atrisk { color: #c0392b; font-weight: 600; }
.nodata, .low { color: #b9770e; } .inprogress { color: #2471a3; font-weight: 600; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(460px, 1fr)); gap: 1rem; }
.pair { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 1rem; }
figure { margin: 0; } img { max-width: 100%; } svg.spark { vertical-align: middle; }
"""


def _esc(value: object) -> str:
    return html.escape("" if value is None or value is pd.NA else str(value))


def _label(period: object) -> str:
    """A period as the report prints it (``FY2027 Q2`` for a fiscal quarter)."""
    return period_label(period) if isinstance(period, pd.Period) else str(period or "")


def _num(value: object, unit: str, clock: str | None = None) -> str:
    """A number cell: formatted for reading, exact in ``data-value`` (for checks and copying).

    ``clock``: the clock a service figure is counted on, shown under it.
    """
    exact = "" if value is None or pd.isna(value) else repr(float(value))
    return (f'<td class="num" data-value="{exact}">{_esc(format_value(value, unit))}'
            f"{_clock(clock)}</td>")


def _clock(clock: str | None) -> str:
    """The clock of a service figure under it (:func:`repkpi.review.clock_of`); none: nothing."""
    return f'<br><small class="clock">{_esc(clock)}</small>' if clock else ""


def _change(value: object, unit: str) -> str:
    """A change as the report prints it: points for percents, signed otherwise."""
    if value is None or pd.isna(value):
        return '<td class="num" data-value="">n/a</td>'
    value = float(value)
    return f'<td class="num" data-value="{value!r}">{_esc(format_change(value, unit))}</td>'


def _status(row: object) -> str:
    status = str(row.status)
    low = ' <span class="low">(low data)</span>' if bool(getattr(row, "low_data", False)) else ""
    reason = getattr(row, "reason", None)
    why = f' <span class="muted">({_esc(reason)})</span>' if isinstance(reason, str) else ""
    return f'<td class="{status.replace(" ", "")}">{_esc(status)}{low}{why}</td>'


def _spark(values: pd.DataFrame | None, target: float, unit: str, current: object) -> str:
    """A small trend: the last periods' values as an inline SVG line, the target dashed."""
    if values is None:
        return "<td></td>"
    values = values.dropna(subset=["value"]).tail(8)
    if len(values) < 2:
        return "<td></td>"
    y = values["value"].astype(np.float64).to_numpy()
    lo, hi = min(y.min(), target), max(y.max(), target)
    span = (hi - lo) or 1.0
    invert = unit == "rank"
    width, height = 110, 26
    xs = np.linspace(4, width - 4, len(y))

    def ys(v: np.ndarray | float) -> np.ndarray | float:
        share = (v - lo) / span
        return 3 + (share if invert else 1 - share) * (height - 6)

    points = " ".join(f"{x:.1f},{v:.1f}" for x, v in zip(xs, ys(y), strict=True))
    last = values["period"].iloc[-1]
    hollow = current is not None and last == current
    dot = (f'<circle cx="{xs[-1]:.1f}" cy="{ys(y[-1]):.1f}" r="2.6" '
           f'fill="{"white" if hollow else "#2e86c1"}" stroke="#2e86c1"/>')
    labels = ", ".join(f"{_label(p)}: {format_value(v, unit)}" for p, v in zip(values["period"], y,
                                                                                 strict=True))
    return (f'<td><svg class="spark" width="{width}" height="{height}" role="img" '
            f'aria-label="{_esc(labels)}"><line x1="2" x2="{width - 2}" y1="{ys(target):.1f}" '
            f'y2="{ys(target):.1f}" stroke="#888" stroke-dasharray="3,2" stroke-width="1"/>'
            f'<polyline points="{points}" fill="none" stroke="#2e86c1" stroke-width="1.6"/>'
            f"{dot}</svg></td>")


def _goal_rows(card: pd.DataFrame, goals: list[Goal], values: Mapping[str, pd.DataFrame],
               current: Mapping[str, object], notes: Mapping[str, str]) -> str:
    rows = []
    for goal, rec in zip(goals, card.itertuples(index=False), strict=False):
        unit = UNITS.get(rec.kpi, "score")
        rows.append(
            f'<tr class="goal"><td>{_esc(rec.goal)}</td><td>{_esc(_label(rec.period))}</td>'
            f"{_num(rec.value, unit, clock_of(rec.kpi, goal.options))}{_num(rec.target, unit)}"
            f"{_status(rec)}"
            f"{_change(rec.change, unit)}{_change(rec.change_yoy, unit)}"
            f"{_spark(values.get(goal.label), rec.target, unit, current.get(goal.freq))}</tr>")
        if rec.kpi in notes:  # a forecast under its goal, once
            rows.append(f'<tr class="forecast"><td colspan="8">{notes[rec.kpi]}</td></tr>')
            notes = {k: v for k, v in notes.items() if k != rec.kpi}
    return "".join(rows)


def _renewals_ahead(data: CrmData, seen: Review) -> dict[str, str]:
    """The line under the renewal goal: next quarter's renewals forecast and the model's backtest.

    One :func:`repkpi.forecast.renewals` call (the fit on the data and the
    backtest's a year earlier), only when a goal reads ``renewal_rate``.
    """
    if data.contracts is None or not any(g.kpi == "renewal_rate" for g in [*seen.plan, *seen.others]):
        return {}
    try:
        ahead = renewals(data, periods=1, fiscal_year_start=seen.fiscal_year_start)
    except RepkpiError as exc:
        return {"renewal_rate": f"No renewal forecast: {_esc(str(exc).splitlines()[0])}"}
    nxt = ahead.iloc[-1]  # the quarter after the one that holds the as-of date
    line = (f'<span id="renewals-ahead">Next quarter ({_esc(_label(nxt["period"]))}): '
            f'{format_value(nxt["due"], "count")} contracts due '
            f'({format_value(nxt["due_arr"], "money")} ARR); expected renewals '
            f'{format_value(nxt["expected"], "count")} (80%: {format_value(nxt["expected_low"], "count")}'
            f'-{format_value(nxt["expected_high"], "count")}).</span>')
    mae, backtest = ahead.attrs["backtest_mae"], ahead.attrs["backtest"]
    if np.isfinite(mae):
        quarters = int((backtest["forecast"].notna() & backtest["actual"].notna()).sum())
        line += (f' <span id="renewals-backtest" class="muted">Backtest: fitted a year earlier, the '
                 f"forecast renewal rate was off by {mae:.1f} points on average over the last "
                 f"{quarters} quarters.</span>")
    return {"renewal_rate": line}


def _goal_table(table_id: str, card: pd.DataFrame, goals: list[Goal], data: CrmData,
                seen: Review, notes: Mapping[str, str]) -> str:
    values, current = {}, {}
    for goal in goals:
        calendar = Calendar(goal.freq, seen.fiscal_year_start)
        current[goal.freq] = None if seen.as_of is None else calendar.holding(seen.as_of)
        try:
            values[goal.label] = goal_result(data, goal, fiscal_year_start=seen.fiscal_year_start)
        except (MissingTableError, ColumnNotFoundError, OptionError):
            continue
    return (f'<table id="{table_id}"><thead><tr><th>Goal</th><th>Period</th><th class="num">Value'
            '</th><th class="num">Target</th><th>Status</th><th class="num">Change</th>'
            '<th class="num">Against a year ago</th>'
            f"<th>Trend</th></tr></thead><tbody>{_goal_rows(card, goals, values, current, notes)}"
            "</tbody></table>")


def _headline(data: CrmData, seen: Review) -> str:
    covered = _label(seen.period) if seen.period is not None else "no complete period"
    plan = seen.plan_card
    met = int((plan["status"] == "met").sum())
    running = int((plan["status"] == "in progress").sum())
    missed = int((plan["status"] == "missed").sum())
    parts = [f'<p class="lead" id="headline">Period under review: <strong>{_esc(covered)}</strong>. '
             f'<strong id="plan-met">{met} of {len(plan)}</strong> plan goals met, {missed} missed']
    if running:
        parts.append(f", {running} in progress")
    if seen.left_out:
        parts.append(f" ({len(seen.left_out)} of the plan's nine not in the goals file)")
    parts.append(".</p>")
    pace = seen.in_progress
    if len(pace):
        on_track = int((pace["outlook"] == "on track").sum())
        periods = pace.drop_duplicates("period")
        spans = ", ".join(f"{_label(r.period)} ({r.elapsed:.0%} elapsed)"
                          for r in periods.itertuples(index=False))
        as_of = seen.as_of.strftime("%d %b %Y")
        parts.append(
            f'<p id="in-progress-line">In progress, with data to {as_of}: {_esc(spans)}. '
            f"<strong>{on_track} of {len(pace)}</strong> goals on track at their present pace"
            f'{", " + str(len(pace) - on_track) + " at risk" if on_track < len(pace) else ""}.</p>')
    if seen.coverage:  # exports taken on different days, churn dates read as scheduled
        notes = " ".join(f"{note[0].upper()}{note[1:]}." for note in seen.coverage)
        parts.append(f'<p class="banner" id="coverage-line">{_esc(notes)}</p>')
    rejected = _rows_set_aside(data)
    if rejected:
        parts.append(f'<p class="banner" id="quality-banner">{rejected:,} row(s) of the data were '
                     "set aside as invalid and are not in these numbers: see "
                     '<a href="#quality">Data quality</a> and rejects.csv.</p>')
    return "".join(parts)


_FINDINGS_SHOWN = 10
_KIND_WORDS = {"missed": "Missed", "at_risk": "At risk", "change": "Changed",
               "change_yoy": "Changed in a year", "out_of_line": "Out of line",
               "stale": "Note", "scheduled_churn": "Note"}


def _findings(seen: Review) -> str:
    """What needs a look (:func:`repkpi.check`'s list), at most ten lines, most important first."""
    found = seen.findings
    if found.empty:
        return ""
    shown = found.iloc[:_FINDINGS_SHOWN]
    items = "".join(f'<li class="{_esc(r.kind)}"><strong>{_esc(_KIND_WORDS[r.kind])}:</strong> '
                    f"{_esc(r.message)}</li>" for r in shown.itertuples(index=False))
    more = len(found) - len(shown)
    rest = (f'<p class="muted">And {more} more: <code>repkpi check</code> lists them all.</p>'
            if more else "")
    return f'<h2 id="look">What needs a look</h2><ol id="findings">{items}</ol>{rest}'


def _rows_set_aside(data: CrmData) -> int:
    rejects = data.rejects
    if not len(rejects):
        return 0
    return len(rejects[["table", "row"]].drop_duplicates())


def _goal_clock(seen: Review, label: str, kpi: str) -> str | None:
    """The clock of the goal labelled ``label`` (else of the report's ``kpi``), for a service KPI."""
    goal = next((g for g in [*seen.plan, *seen.others] if g.label == label), None)
    return clock_of(kpi, goal.options if goal is not None else seen.options.get(kpi))


def _pace_table(pace: pd.DataFrame, seen: Review) -> str:
    """The "In progress" part: what each goal takes (its sentence), then the pace table."""
    takes = _takes_list(seen.takes)
    if pace.empty and not takes:
        return ""
    rows = []
    for rec in pace.itertuples(index=False):
        unit = UNITS.get(rec.kpi, "score")
        outlook = rec.outlook if isinstance(rec.outlook, str) else "no data"
        clock = _goal_clock(seen, rec.goal, rec.kpi)
        rows.append(
            f'<tr class="pace"><td>{_esc(rec.goal)}</td><td>{_esc(_label(rec.period))}</td>'
            f'<td class="num">{rec.elapsed:.0%}</td>{_num(rec.value, unit, clock)}'
            f"{_num(rec.pace, unit, clock)}"
            f'{_num(rec.target, unit)}<td class="{outlook.replace(" ", "")}">{_esc(outlook)}</td></tr>')
    table = ("<p class=\"muted\">Periods not over yet: the value so far and its "
             "pace (where it ends if the rest goes like the elapsed part). They are never scored met "
             "or missed.</p><table id=\"in-progress\"><thead><tr><th>Goal</th><th>Period</th>"
             '<th class="num">Elapsed</th><th class="num">To date</th><th class="num">Pace</th>'
             f'<th class="num">Target</th><th>Outlook</th></tr></thead><tbody>{"".join(rows)}'
             "</tbody></table>") if rows else ""
    return f"<h3>In progress</h3>{takes}{table}"


def _takes_list(takes: pd.DataFrame) -> str:
    """One sentence a goal: what it takes in the rest of its period (:func:`repkpi.whatif.what_it_takes`)."""
    if takes.empty:
        return ""
    items = "".join(f'<li class="{_esc(str(rec.status).replace(" ", ""))}"><strong>'
                    f"{_esc(rec.goal)}</strong> ({_esc(rec.period_label)}): {_esc(rec.lever)}</li>"
                    for rec in takes.itertuples(index=False))
    return ('<p class="muted">What each goal takes in the rest of its period (the next one '
            "when the data ends a period): the open deals, renewals, tickets and names that "
            f'decide it.</p><ul id="what-it-takes">{items}</ul>')


def _focus(seen: Review, images: Mapping[str, bytes]) -> tuple[str, set[str]]:
    """The focus section, and the KPIs whose charts it shows."""
    if seen.period is None:
        return "", set()
    quarter = _label(seen.period)
    if seen.focus == "all":
        return (f'<h2 id="focus">Focus of {_esc(quarter)}: the year\'s review</h2><p>Every KPI is in '
                "focus: the plan's goals above, the drivers and lists below, and every chart at the "
                "end.</p>"), set()
    names = [n for n in seen.focus if n in KPIS]
    values = seen.kpi_values[(seen.kpi_values["kpi"].isin(names))]
    rows = []
    for name in names:
        mine = values[values["kpi"] == name]
        now = mine[mine["period"] == seen.period]["value"]
        before = mine[mine["period"] == seen.period - 1]["value"]
        unit = UNITS.get(name, "score")
        now_v = now.iloc[0] if len(now) else np.nan
        before_v = before.iloc[0] if len(before) else np.nan
        clock = clock_of(name, seen.options.get(name))
        rows.append(f'<tr class="focus-kpi" data-kpi="{_esc(name)}"><td>{_esc(title(name))}</td>'
                    f"{_num(now_v, unit, clock)}{_num(before_v, unit, clock)}"
                    f"{_change(now_v - before_v, unit)}</tr>")
    shown = [n for n in names if n in images]
    charts = "".join(_figure(images[n], title(n)) for n in shown)
    return (f'<h2 id="focus">Focus of {_esc(quarter)}</h2><p class="muted">The KPIs this quarter\'s '
            "review leads with (the goals file's [focus], else the plan's).</p>"
            '<table id="focus-table"><thead><tr><th>KPI</th><th class="num">'
            f'{_esc(quarter)}</th><th class="num">{_esc(_label(seen.period - 1))}</th>'
            f'<th class="num">Change</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
            f'<div class="charts">{charts}</div>'), set(shown)


def _driver_table(frame: pd.DataFrame, column: str, kpi: str) -> str:
    """The first groups of an :func:`~repkpi.explain` table (:func:`~repkpi.explain.top_drivers`)."""
    unit = UNITS.get(kpi, "score")
    shown = top_drivers(frame, shown=_DRIVERS)
    groups, total = shown.iloc[:-1], shown.iloc[-1]
    rest = shown.attrs["left_out"]
    rows = "".join(
        f'<tr class="{"rest" if rest and at == len(groups) - 1 else "driver"}">'
        f'<td>{_esc("(none)" if pd.isna(r[column]) else r[column])}</td>'
        f"{_num(r['value_previous'], unit)}{_num(r['value_current'], unit)}"
        f"{_change(r['contribution'], unit)}</tr>" for at, (_, r) in enumerate(groups.iterrows()))
    return (f'<table class="drivers" data-by="{_esc(column)}"><thead><tr><th>{_esc(column.title())}'
            '</th><th class="num">Before</th><th class="num">Now</th><th class="num">Contribution'
            f"</th></tr></thead><tbody>{rows}<tr class=\"total\"><td>whole team</td>"
            f"{_num(total['value_previous'], unit)}{_num(total['value_current'], unit)}"
            f"{_change(total['contribution'], unit)}</tr></tbody></table>")


def _drivers_section(seen: Review) -> str:
    if not seen.drivers:
        return ('<h2 id="drivers">Why goals were missed</h2><p>No goal was missed in the period, '
                "and none is at risk.</p>")
    kpi_of = {g.label: g.kpi for g in [*seen.plan, *seen.others]}
    blocks = []
    for label, found in seen.drivers.items():
        kpi = kpi_of.get(label.removesuffix(" (to date)"), "")
        if isinstance(found, str):
            blocks.append(f'<div class="goal-drivers"><h3>{_esc(label)}</h3>'
                          f'<p class="muted">No breakdown: {_esc(found)}</p></div>')
            continue
        tables = "".join(f"<div>{_driver_table(frame, column, kpi)}</div>"
                         for column, frame in found.items())
        clock = _goal_clock(seen, label.removesuffix(" (to date)"), kpi)
        note = f'<p class="muted clock">Counted in {_esc(clock)}.</p>' if clock else ""
        blocks.append(f'<div class="goal-drivers"><h3>{_esc(label)}</h3>{note}'
                      f'<div class="pair">{tables}</div></div>')
    return ('<h2 id="drivers">Why goals were missed or are at risk</h2><p class="muted">The change '
            "from the period before, split over the teams and the regions (repkpi.explain): each "
            "group's contribution, its own value moving and its weight moving (counted as far as "
            "its value lies above or below the whole's). The groups that moved the whole the way "
            "it went come first, the others after; the rows add up to the whole change.</p>"
            f"{''.join(blocks)}")


_WHOLE = frozenset({"amount", "arr", "annual_value"})
"""The money columns of the attention lists: whole units of the reporting currency."""


def _decimals_of(column: pd.Series) -> int:
    """The decimals a list's number column is shown with: none for money or whole numbers, else one.

    One choice for the whole column, so that 402.4 and 376.0 hours overdue read 402.4 and 376.0,
    and $106,548.60 and $46,088 read 106,549 and 46,088.
    """
    if column.name in _WHOLE or not pd.api.types.is_float_dtype(column.dtype):
        return 0
    values = column.dropna().to_numpy(dtype=np.float64)
    return 0 if np.array_equal(values, np.round(values)) else 1


def _cell(value: object, decimals: int = 0) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return "<td></td>"
    if isinstance(value, pd.Timestamp):
        text = value.strftime("%Y-%m-%d") if value == value.normalize() else \
            value.strftime("%Y-%m-%d %H:%M")
        return f"<td>{text}</td>"
    if isinstance(value, float | np.floating):
        if np.isnan(value):
            return "<td></td>"
        return f'<td class="num">{value:,.{decimals}f}</td>'
    return f"<td>{_esc(value)}</td>"


_HEADINGS = {"arr": "ARR", "rep_id": "Rep", "account_id": "Account", "ticket_id": "Ticket",
             "contract_id": "Contract", "deal_id": "Deal"}


def _heading(column: str) -> str:
    """A column name as a heading: ``churned_on`` -> ``Churned on``."""
    return _HEADINGS.get(column, column.replace("_", " ").capitalize())


def _attention_section(seen: Review) -> str:
    if not seen.attention:
        return ""
    blocks = []
    for key, listed in seen.attention.items():
        if key == "at_risk":  # the "At risk" section shows it, with the model's track record
            continue
        if listed.reason:
            blocks.append(f'<h3>{_esc(listed.title)}</h3><p class="muted">{_esc(listed.reason)}</p>')
            continue
        if not listed.total:
            blocks.append(f'<h3>{_esc(listed.title)}</h3><p class="muted">None.</p>')
            continue
        rows = listed.rows.head(_SHOWN)  # the first 1,000 are in report.xlsx
        rest = listed.total - len(rows)
        columns = [c for c in rows.columns if rows[c].notna().any()]
        head = "".join(f"<th>{_esc(_heading(c))}</th>" for c in columns)
        decimals = [_decimals_of(rows[c]) for c in columns]
        body = "".join("<tr>" + "".join(_cell(v, d) for v, d in zip(record, decimals, strict=True))
                       + "</tr>" for record in rows[columns].astype(object).itertuples(index=False))
        more = f'<p class="muted rest">... and {rest:,} more.</p>' if rest else ""
        # The breaches are judged on the SLA goal's clock (attention.sla_options).
        clock = clock_of("sla_compliance", seen.options.get("sla_compliance")) \
            if key == "open_sla_breaches" else None
        note = f'<p class="muted clock">Deadlines and hours overdue in {_esc(clock)}.</p>' \
            if clock else ""
        blocks.append(f'<h3>{_esc(listed.title)} ({listed.total:,})</h3>{note}'
                      f'<table class="attention" id="attention-{_esc(key)}" '
                      f'data-total="{listed.total}"><thead><tr>{head}</tr></thead>'
                      f"<tbody>{body}</tbody></table>{more}")
    return ('<h2 id="attention">Needs attention</h2><p class="muted">Who needs someone today; '
            f"report.xlsx has the first {LISTED:,} rows of each list.</p>{''.join(blocks)}")


def _risk_section(seen: Review) -> str:
    """At risk: the accounts most likely to churn next quarter, their reasons, the track record."""
    scores = seen.risk
    if scores is None:
        return (f'<h2 id="at-risk">At risk</h2><p class="muted">{_esc(seen.risk_reason)}</p>'
                if seen.risk_reason else "")
    high = scores[scores["band"] == "high"]
    rows = "".join(
        f"<tr><td>{_esc(r.account_id)}</td><td>{_esc(r.account_name)}</td><td>{_esc(r.rep_id)}</td>"
        f"{_num(r.probability, 'percent')}{_num(r.arr, 'money')}{_num(r.arr_at_risk, 'money')}"
        f"<td>{_esc(r.drivers)}</td></tr>" for r in high.head(_SHOWN).itertuples(index=False))
    rest = len(high) - min(len(high), _SHOWN)
    more = (f'<p class="muted rest">... and {rest:,} more in report.xlsx '
            '("Accounts most at risk of churning").</p>') if rest else ""
    total = format_value(scores["arr_at_risk"].sum(), "money", compact=False)
    held = format_value(high["arr"].sum(), "money", compact=False)
    return (f'<h2 id="at-risk">At risk</h2><p>{len(scores):,} active accounts scored on '
            f'{scores.attrs["scored_on"]:%Y-%m-%d} for the chance that each churns by '
            f'{scores.attrs["until"]:%Y-%m-%d}. ARR at risk (each account\'s chance x its ARR): '
            f'<strong id="arr-at-risk">{_esc(total)}</strong>; the {len(high):,} most at risk '
            f"(the top 10%) hold {_esc(held)} of ARR.</p>"
            f'<p id="risk-backtest">Track record: {_esc(backtest_line(scores))}.</p>'
            '<table id="at-risk-table"><thead><tr><th>Account</th><th>Account name</th><th>Rep</th>'
            '<th class="num">Chance</th><th class="num">ARR</th><th class="num">ARR at risk</th>'
            f"<th>Why</th></tr></thead><tbody>{rows}</tbody></table>{more}"
            '<p class="muted">A logistic regression trained on this data\'s own past quarters '
            "(docs/forecasts.md, \"Who is at risk\"); the track record scores the last quarter "
            "whose outcome is known with a model trained only on the quarters before it.</p>")


def _teams_section(seen: Review) -> str:
    parts = ['<h2 id="teams">Teams and reps</h2>']
    if len(seen.teams):
        teams = sorted(seen.teams["team"].dropna().unique().tolist())
        has_none = seen.teams["team"].isna().any()
        labels = [*teams, *([None] if has_none else [])]
        head = "".join(f'<th class="num">{_esc(t if t is not None else "(no team)")}</th>'
                       for t in labels) + '<th class="num">Whole team</th>'
        rows = []
        for goal_label, rows_of in seen.teams.groupby("goal", sort=False):
            kpi = rows_of["kpi"].iloc[0]
            unit = UNITS.get(kpi, "score")
            cells = []
            for team in labels:
                hit = rows_of[rows_of["team"].isna()] if team is None else \
                    rows_of[rows_of["team"] == team]
                if not len(hit):
                    cells.append('<td class="num">n/a</td>')
                    continue
                low = ' <span class="low">*</span>' if bool(hit["low_data"].iloc[0]) else ""
                value = hit["value"].iloc[0]
                exact = "" if pd.isna(value) else repr(float(value))
                cells.append(f'<td class="num" data-value="{exact}">'
                             f"{_esc(format_value(value, unit))}{low}</td>")
            clock = _goal_clock(seen, str(goal_label), kpi)
            rows.append(f"<tr><td>{_esc(goal_label)}{_clock(clock)}</td>"
                        f'<td>{_esc(_label(rows_of["period"].iloc[0]))}</td>{"".join(cells)}'
                        f'{_num(rows_of["whole"].iloc[0], unit)}</tr>')
        parts.append(f'<table id="teams-table"><thead><tr><th>Goal</th><th>Period</th>{head}</tr>'
                     f'</thead><tbody>{"".join(rows)}</tbody></table><p class="muted">* low data: '
                     "fewer than 30 observations.</p>")
    for kpi, board in seen.leaderboards.items():
        unit = UNITS.get(kpi, "score")
        interval = "lower" in board.columns
        shown = board.head(_SHOWN)
        clock = clock_of(kpi, seen.options.get(kpi))
        rows = []
        for rank, rec in enumerate(shown.itertuples(index=False), start=1):
            name = rec.rep_name if isinstance(rec.rep_name, str) else ""
            low = ' <span class="low">(low data)</span>' if rec.low_data else ""
            band = (f'<td class="num">{_esc(format_value(rec.lower, unit))} – '
                    f"{_esc(format_value(rec.upper, unit))}</td>") if interval else ""
            rows.append(f'<tr><td class="num">{rank}</td><td>{_esc(rec.rep_id)}</td>'
                        f"<td>{_esc(name)}</td>{_num(rec.value, unit)}{band}"
                        f'<td class="num">{rec.denominator:,.0f}</td><td>{low}</td></tr>'
                        if interval else
                        f'<tr><td class="num">{rank}</td><td>{_esc(rec.rep_id)}</td>'
                        f"<td>{_esc(name)}</td>{_num(rec.value, unit)}<td>{low}</td></tr>")
        extra = ('<th class="num">95% interval</th><th class="num">Observations</th>'
                 if interval else "")
        rows.append(_whole_row(board.attrs.get("whole", {}), unit, interval))
        more = (f'<p class="muted">... and {len(board) - len(shown):,} more rep(s).</p>'
                if len(board) > len(shown) else "")
        parts.append(f'<h3>{_esc(title(kpi))} by rep, {_esc(_label(seen.period))}'
                     f'{" (" + _esc(clock) + ")" if clock else ""}</h3>'
                     f'<table class="leaderboard" data-kpi="{_esc(kpi)}"><thead><tr><th>#</th>'
                     f'<th>Rep</th><th>Name</th><th class="num">Value</th>{extra}<th></th></tr>'
                     f'</thead><tbody>{"".join(rows)}</tbody></table>{more}')
    if len(parts) == 1:
        parts.append('<p class="muted">No team or rep columns in this data.</p>')
    else:
        parts.append('<p class="muted">Reps on fewer than 30 observations are marked "low data" '
                     "and ranked after the others.</p>")
    return "".join(parts)


def _whole_row(whole: Mapping[str, float], unit: str, interval: bool) -> str:
    """A leaderboard's last row: the whole team's value (and interval), as its goal scores it."""
    if not whole:
        return ""
    band = (f'<td class="num">{_esc(format_value(whole["lower"], unit))} – '
            f'{_esc(format_value(whole["upper"], unit))}</td>'
            f'<td class="num">{format_value(whole["denominator"], "count")}</td>') if interval else ""
    return (f'<tr class="whole"><td></td><td colspan="2">Whole team</td>'
            f'{_num(whole["value"], unit)}{band}<td></td></tr>')


def _business_hours(seen: Review) -> str:
    """The calendars of the goals counted in business hours, one line each (none: nothing)."""
    found: dict[str, list[str]] = {}
    for goal in [*seen.plan, *seen.others]:
        if goal.options.get("clock") == "business" and goal.options.get("calendar") is not None:
            found.setdefault(describe(goal.options["calendar"]), []).append(goal.kpi)
    return "".join(f'<p class="muted business-hours">Service levels in business hours '
                   f'({_esc(", ".join(dict.fromkeys(kpis)))}): {_esc(text)}.</p>'
                   for text, kpis in found.items())


def _figure(png: bytes, alt: str) -> str:
    encoded = base64.b64encode(png).decode("ascii")
    return f'<figure><img src="data:image/png;base64,{encoded}" alt="{_esc(alt)}"></figure>'


def _quality(data: CrmData, seen: Review) -> str:
    quality = data.summary()
    rows = "".join(
        f"<tr><td>{_esc(r.table)}</td><td class='num'>{r.rows:,}</td>"
        f"<td class='num'>{r.loaded:,}</td><td class='num'>{r.rejected:,}</td>"
        f"<td class='num'>{r.deleted:,}</td><td class='num'>{r.trailer:,}</td>"
        f"<td class='muted'>{_esc(Path(str(r.source)).name)}</td></tr>"
        for r in quality.itertuples(index=False))
    missing = "".join(f"<li>{_esc(k)}: {_esc(v)}</li>" for k, v in seen.skipped.items())
    rejected = _rows_set_aside(data)
    return (f'<h2 id="quality">Data quality</h2><table id="quality-table"><thead><tr><th>Table</th>'
            '<th class="num">Rows read</th><th class="num">Loaded</th><th class="num">Rejected</th>'
            '<th class="num">Deleted</th><th class="num">Trailer lines</th>'
            f"<th>File</th></tr></thead><tbody>{rows}</tbody></table>"
            f'<p class="muted">{rejected:,} row(s) set aside'
            f'{"; rejects.csv lists each with its reason" if rejected else ""}. As of '
            f'{_esc(seen.as_of.strftime("%d %b %Y") if seen.as_of is not None else "n/a")} (the '
            "latest recorded date).</p>"
            + (f"<h3>Not computed</h3><ul>{missing}</ul>" if missing else ""))


def _page(data: CrmData, seen: Review, images: Mapping[str, bytes]) -> str:
    covered = _label(seen.period) if seen.period is not None else "no complete period"
    focus, shown = _focus(seen, images)
    notes = _renewals_ahead(data, seen)
    left_out = ""
    if seen.left_out:
        names = ", ".join(_esc(g.label) for g in seen.left_out)
        left_out = f'<p class="muted" id="left-out">Not in the goals file: {names}.</p>'
    others = ""
    if seen.others:
        others = ('<h2 id="other-goals">Other goals</h2>'
                  + _goal_table("other-goals-table", seen.other_card, seen.others, data, seen,
                                notes if not any(g.kpi in notes for g in seen.plan) else {}))
    charts = "".join(_figure(png, title(name)) for name, png in images.items()
                     if name not in shown)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>KPI report, {_esc(covered)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{_CSS}</style></head><body>
<h1>KPI report, {_esc(covered)}</h1>
{_headline(data, seen)}
{_findings(seen)}
<h2 id="plan">The plan's goals</h2>
{_goal_table("scorecard", seen.plan_card, seen.plan, data, seen, notes)}
{left_out}
<p class="muted">"low data": fewer than 30 observations behind the value, so its status is not
firm. Change: against the period before; against a year ago: against the same period a year
earlier, to the same day for a period in progress (points for percentages).</p>
{_business_hours(seen)}
{_pace_table(seen.in_progress, seen)}
{focus}
{_drivers_section(seen)}
{_attention_section(seen)}
{_risk_section(seen)}
{_teams_section(seen)}
{others}
<h2 id="charts">Every KPI</h2>
<div class="charts">{charts}</div>
{_quality(data, seen)}
</body></html>
"""
