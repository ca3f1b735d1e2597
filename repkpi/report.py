"""The monthly report: charts, a scorecard and a self-contained HTML page.

:func:`write_report` writes into one folder:

* ``<kpi>.png``: each KPI by period, with its goal line where a goal names it;
* ``dashboard.png``: every goal's KPI in small multiples;
* ``scorecard.csv``: :func:`repkpi.scorecard` for the reviewed period;
* ``rejects.csv``: the rows set aside (quarantine mode);
* ``report.html``: all of it on one page, images embedded, with a data-quality section.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable, Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from repkpi.errors import ColumnNotFoundError, MissingTableError, OptionError  # noqa: E402
from repkpi.goals import (  # noqa: E402
    DEFAULT_GOALS,
    Goal,
    fiscal_start_of,
    latest_complete_period,
    scorecard,
    scorecard_calls,
)
from repkpi.io.loading import CrmData  # noqa: E402
from repkpi.kpis import KPIS, UNITS  # noqa: E402
from repkpi.kpis.registry import executor_for  # noqa: E402
from repkpi.periods import Freq, PeriodLike, pandas_freq, to_period  # noqa: E402
from repkpi.plot import dashboard, format_value, period_label, trend  # noqa: E402

__all__ = ["write_report"]

Progress = Callable[[str], None]


def _png(fig: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()


def write_report(data: CrmData, out: str | Path, *, goals: Iterable[Goal] | None = None,
                 freq: Freq = "Q", period: PeriodLike | None = None,
                 progress: Progress | None = None, fiscal_year_start: int | None = None) -> Path:
    """Write the charts, the scorecard and ``report.html`` for ``data`` into ``out``.

    Parameters
    ----------
    data : CrmData
    out : path
        The folder to write (created when missing; files of the same names
        are replaced).
    goals : list of Goal, optional
        Default :data:`repkpi.DEFAULT_GOALS`.
    freq : {"M", "Q", "Y"}
        The charts' periods.
    period : period-like or "current", optional
        The period under review; default the latest complete one. The
        period in progress on ``data.as_of`` is shown beside it, with the
        pace and outlook of each goal.
    progress : callable, optional
        Called with a message before each step.
    fiscal_year_start : int, optional
        Default: the goals file's, else 1 (calendar years).

    Returns
    -------
    Path
        The path of ``report.html``.

    Examples
    --------
    >>> import repkpi, tempfile
    >>> page = write_report(repkpi.load_sample(), tempfile.mkdtemp(), period="2026Q2")
    >>> page.name, (page.parent / "dashboard.png").is_file()
    ('report.html', True)
    """
    say = progress or (lambda message: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    goals = DEFAULT_GOALS if goals is None else goals
    fiscal = fiscal_start_of(goals, fiscal_year_start)
    goals = list(goals)
    pfreq = pandas_freq(freq, fiscal)
    as_of = data.as_of
    current = None if as_of is None else as_of.to_period(pfreq)
    if period == "current":
        end = current
    elif period is not None:
        end = to_period(period, pfreq, fiscal_year_start=fiscal)
    else:
        end = latest_complete_period(data, freq, fiscal_year_start=fiscal)

    if executor_for(data).batches:
        say("Computing the KPIs in one pass")
        _warm(data, goals, freq, end, fiscal)
    say("Scoring the goals")
    card = _scorecard(data, goals, end, fiscal)
    # Beside the review, the goals whose period is in progress (unless that is the review).
    pace = _in_progress(data, goals, fiscal) if current is not None and period != "current" \
        else None
    card.to_csv(out / "scorecard.csv", index=False)
    if len(data.rejects):
        data.rejects.to_csv(out / "rejects.csv", index=False)
    else:  # a rejects.csv of an earlier run would tell of rows this data does not have
        (out / "rejects.csv").unlink(missing_ok=True)

    say("Drawing the dashboard")
    images = {"dashboard": _png(dashboard(data, goals, freq=freq, fiscal_year_start=fiscal))}
    (out / "dashboard.png").write_bytes(images["dashboard"])
    goal_of = {}
    for goal in goals:
        if not goal.where and goal.freq == freq:
            goal_of.setdefault(goal.kpi, goal)
    skipped = {}
    for number, name in enumerate(KPIS, start=1):
        say(f"Charting {name} ({number}/{len(KPIS)})")
        try:
            # To the period under review, or on to the one in progress ("to date").
            result = KPIS[name](data, freq=freq, fiscal_year_start=fiscal,
                                end=end if period is not None else None)
        except (MissingTableError, ColumnNotFoundError, OptionError) as exc:
            skipped[name] = str(exc).splitlines()[0]
            (out / f"{name}.png").unlink(missing_ok=True)  # an earlier run's chart
            continue
        fig, ax = plt.subplots(figsize=(7, 3.4))
        fig.subplots_adjust(left=0.11, right=0.98, top=0.9, bottom=0.22)
        trend(result, goal=goal_of.get(name), ax=ax)
        images[name] = _png(fig)
        (out / f"{name}.png").write_bytes(images[name])

    say("Writing report.html")
    page = out / "report.html"
    page.write_text(_html(data, card, images, skipped, end, freq, pace), encoding="utf-8")
    return page


def _warm(data: object, goals: list[Goal], freq: str, end: pd.Period | None, fiscal: int) -> None:
    """Compute every KPI this report draws or scores in one pass (on Dask data)."""
    wanted = [(name, {"freq": freq, "end": end, "fiscal_year_start": fiscal}) for name in KPIS]
    executor_for(data).prefetch(data, [*wanted, *scorecard_calls(data, goals, end, fiscal)])


def _in_progress(data: CrmData, goals: list[Goal], fiscal: int) -> pd.DataFrame:
    """The goals whose period is in progress on the as-of date, with pace and outlook."""
    cards = []
    for goal in goals:
        try:
            cards.append(scorecard(data, [goal], period="current", fiscal_year_start=fiscal))
        except MissingTableError:
            continue
    card = pd.concat(cards, ignore_index=True) if cards else pd.DataFrame(columns=["status"])
    return card[card["status"] == "in progress"].reset_index(drop=True)


def _scorecard(data: CrmData, goals: list[Goal], end: pd.Period | None,
               fiscal: int) -> pd.DataFrame:
    """:func:`scorecard`, with "no data" for a goal whose KPI needs a table that was not loaded."""
    cards = []
    for goal in goals:
        try:
            cards.append(scorecard(data, [goal], period=end, fiscal_year_start=fiscal))
        except MissingTableError:
            cards.append(pd.DataFrame({
                "goal": [goal.label], "kpi": goal.kpi, "freq": goal.freq, "period": "",
                "value": float("nan"), "target": float(goal.target), "direction": goal.direction,
                "attainment": float("nan"), "status": "no data", "previous": float("nan"),
                "change": float("nan"), "observations": float("nan"), "low_data": False}))
    return pd.concat(cards, ignore_index=True) if cards else pd.DataFrame(
        columns=["goal", "kpi", "freq", "period", "value", "target", "direction", "attainment",
                 "status", "previous", "change", "observations", "low_data"])


def _img(png: bytes, alt: str) -> str:
    encoded = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{encoded}" alt="{html.escape(alt)}">'


_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { margin-bottom: 0.2rem; } .muted { color: #666; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.35rem 0.7rem; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.met { color: #1e8449; font-weight: 600; } .missed { color: #c0392b; font-weight: 600; }
.nodata, .low { color: #b9770e; }
.inprogress, .ontrack { color: #2471a3; font-weight: 600; } .atrisk { color: #c0392b; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr)); gap: 1rem; }
img { max-width: 100%; }
"""


def _label(period: object) -> str:
    """A scorecard period as the report prints it (``FY2027 Q2`` for a fiscal quarter)."""
    return period_label(period) if isinstance(period, pd.Period) else str(period)


def _pace_section(data: CrmData, pace: pd.DataFrame | None) -> str:
    """The goals of the period in progress: value to date, pace and outlook."""
    if pace is None or pace.empty:
        return ""
    rows = []
    for rec in pace.itertuples(index=False):
        unit = UNITS.get(rec.kpi, "score")
        outlook = rec.outlook if isinstance(rec.outlook, str) else "no data"
        rows.append(
            f'<tr class="pace"><td>{html.escape(rec.goal)}</td>'
            f"<td>{html.escape(period_label(rec.period))}</td>"
            f'<td class="num">{rec.elapsed:.0%}</td>'
            f'<td class="num">{format_value(rec.value, unit)}</td>'
            f'<td class="num">{format_value(rec.pace, unit)}</td>'
            f'<td class="num">{format_value(rec.target, unit)}</td>'
            f'<td class="{outlook.replace(" ", "")}">{html.escape(outlook)}</td></tr>')
    as_of = data.as_of.strftime("%d %b %Y")
    return f"""<h2>In progress, to {as_of}</h2>
<p class="muted">Periods not over yet: the value so far, and its pace (where it ends if the rest
goes like the elapsed part). They are never scored met or missed.</p>
<table id="in-progress"><thead><tr><th>Goal</th><th>Period</th><th>Elapsed</th><th>To date</th>
<th>Pace</th><th>Target</th><th>Outlook</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"""


def _html(data: CrmData, card: pd.DataFrame, images: dict[str, bytes], skipped: dict[str, str],
          end: pd.Period | None, freq: str, pace: pd.DataFrame | None = None) -> str:
    covered = period_label(end) if end is not None else "no complete period"
    rows = []
    for rec in card.itertuples(index=False):
        unit = UNITS.get(rec.kpi, "score")
        status = rec.status.replace(" ", "")
        note = " (low data)" if rec.low_data else ""
        rows.append(
            f'<tr class="goal"><td>{html.escape(rec.goal)}</td>'
            f"<td>{html.escape(_label(rec.period))}</td>"
            f'<td class="num">{format_value(rec.value, unit)}</td>'
            f'<td class="num">{format_value(rec.target, unit)}</td>'
            f'<td class="{status}">{html.escape(rec.status)}'
            f'<span class="low">{note}</span></td>'
            f'<td class="num">{format_value(rec.previous, unit)}</td></tr>'
        )
    met = int((card["status"] == "met").sum())
    quality = data.summary()
    quality_rows = "".join(
        f"<tr><td>{html.escape(r.table)}</td><td class='num'>{r.rows:,}</td>"
        f"<td class='num'>{r.loaded:,}</td><td class='num'>{r.rejected:,}</td>"
        f"<td class='muted'>{html.escape(Path(r.source).name)}</td></tr>"
        for r in quality.itertuples(index=False)
    )
    charts = "".join(
        f"<figure>{_img(png, name)}</figure>" for name, png in images.items() if name != "dashboard"
    )
    missing = "".join(f"<li>{html.escape(k)}: {html.escape(v)}</li>" for k, v in skipped.items())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>KPI report, {covered}</title>
<style>{_CSS}</style></head><body>
<h1>KPI report</h1>
<p class="muted">Period under review: <strong>{covered}</strong> (charts by
{ {"M": "month", "Q": "quarter", "Y": "year"}[freq] }). {met} of {len(card)} goals met.</p>
<h2>Scorecard</h2>
<table id="scorecard"><thead><tr><th>Goal</th><th>Period</th><th>Value</th><th>Target</th>
<th>Status</th><th>Previous</th></tr></thead><tbody>{''.join(rows)}</tbody></table>
<p class="muted">"low data": the value rests on fewer than 30 observations, so its status is not firm.</p>
{_pace_section(data, pace)}
<h2>Dashboard</h2>
{_img(images["dashboard"], "dashboard")}
<h2>Every KPI</h2>
<div class="charts">{charts}</div>
{f"<h3>Not computed</h3><ul>{missing}</ul>" if missing else ""}
<h2>Data quality</h2>
<table id="quality"><thead><tr><th>Table</th><th>Rows read</th><th>Loaded</th><th>Rejected</th>
<th>File</th></tr></thead><tbody>{quality_rows}</tbody></table>
<p class="muted">{len(data.rejects):,} failure(s) recorded{
    "; see rejects.csv" if len(data.rejects) else ""}.</p>
</body></html>
"""
