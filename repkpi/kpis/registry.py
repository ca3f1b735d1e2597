"""The KPI registry: one declaration per KPI, and everything derived from it.

A KPI is declared once, with :func:`kpi` on a function of a
:class:`~repkpi.kpis.declaration.Scope` that returns the KPI's
:class:`~repkpi.kpis.declaration.Formula` (the rows of its numerator and
denominator, and their weights). The decorator records a :class:`KpiSpec`,
which is the KPI's public function: called on data it runs the KPI, with its
signature (``data, /, *, freq, by, start, end, fiscal_year_start`` and the
KPI's own options), its docstring (the shared sections added to the
declaration's) and its option checks; it is the KPI's entry in
:data:`KPIS`. The units table, the chart titles, the interval and what-if
sets and the Dask routes are read from the specs, never listed by name
elsewhere.

A KPI runs on an *executor*, looked up by the data's type along its MRO (as
pandera looks up backends): the pandas executor registers itself for
:class:`~repkpi.io.loading.CrmData`; the Dask executor is registered by the
lookup itself, on its first miss (:func:`register_default_executors`).
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MethodType
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd

from repkpi.errors import (
    AbsentColumnError,
    ColumnNotFoundError,
    MissingTableError,
    OptionError,
    RepkpiError,
)
from repkpi.periods import Calendar, in_progress, period_label

__all__ = ["COMMON", "COMMON_DEFAULTS", "EXPECTED", "KPIS", "By", "Call", "Executor", "KpiSpec",
           "SpecView", "Window", "call_key", "check_by", "check_needs", "check_options",
           "check_window", "executor_for", "kpi", "normalise_by", "observed", "refuse_absent",
           "refuse_after_as_of", "register_default_executors", "register_executor", "run_one",
           "stale_attrs", "time_attrs", "window_lag"]

Unit = Literal["count", "percent", "points", "money", "hours", "score", "rank"]
Kind = Literal["count", "sum", "ratio", "median", "difference", "rank"]
Timing = Literal["events", "state", "window", "compare"]
Route = Literal["partition", "by_account", "market"]
Pace = Literal["scale", "as_is", "growth", "churn", "retention"]
Call = tuple[str, dict[str, Any]]
"""A KPI name and its keyword arguments (freq, by, start, end, fiscal_year_start, options)."""

By = str | Sequence[str] | None
"""The ``by`` of a KPI call: a column, several, or None (ungrouped)."""
Window = Literal["period", "ytd", "qtd"] | int
"""The span a KPI's value at P covers: P itself, the (fiscal) year or quarter to date, or N periods."""


def check_window(window: Any, freq: str) -> None:
    """Raise :class:`OptionError` for a ``window`` that names no span of ``freq``'s periods.

    Examples
    --------
    >>> check_window(12, "M"), check_window("ytd", "Q")
    (None, None)
    >>> check_window("qtd", "Q")
    Traceback (most recent call last):
    ...
    repkpi.errors.OptionError: window='qtd' (quarter to date) needs freq='M', got freq='Q'...
    >>> check_window(0, "M")
    Traceback (most recent call last):
    ...
    repkpi.errors.OptionError: window must be 'period', 'ytd', 'qtd' or a whole number of periods...
    """
    whole = isinstance(window, int | np.integer) and not isinstance(window, bool | np.bool_)
    if not (window in ("period", "ytd", "qtd") if isinstance(window, str) else whole and window >= 1):
        raise OptionError(
            f"window must be 'period', 'ytd', 'qtd' or a whole number of periods >= 1, got "
            f"{window!r}.\nHint: window='ytd' for the (fiscal) year to date, window=12 with "
            "freq='M' for the trailing twelve months."
        )
    if window == "qtd" and freq != "M":
        raise OptionError(
            f"window='qtd' (quarter to date) needs freq='M', got freq={freq!r}.\nHint: with "
            "freq='Q' a period is a whole quarter already (window='period'); use freq='M', "
            "window='qtd' for each month's quarter to date."
        )


_PER_YEAR = {"M": 12, "Q": 4, "Y": 1}


def window_lag(window: Window, freq: str) -> int:
    """How many periods back the span a windowed value is compared with ends.

    The span of the same length just before (1 for ``"period"``, N for N
    periods); for ``"ytd"`` and ``"qtd"`` the same span a year earlier.

    Examples
    --------
    >>> window_lag("period", "Q"), window_lag(12, "M"), window_lag("ytd", "Q"), window_lag("qtd", "M")
    (1, 12, 4, 12)
    """
    if window == "period":
        return 1
    return _PER_YEAR[freq] if isinstance(window, str) else int(window)


COMMON_DEFAULTS: dict[str, Any] = {"freq": "Q", "by": None, "start": None, "end": None,
                                   "fiscal_year_start": 1, "window": "period"}
"""The keyword arguments every KPI takes, with their defaults."""
COMMON = tuple(COMMON_DEFAULTS)
"""The keyword arguments every KPI takes."""

EXPECTED = (MissingTableError, ColumnNotFoundError, OptionError)
"""What a KPI raises when the data or ``by`` cannot support it: compute skips such KPIs."""


@dataclass(frozen=True)
class KpiSpec:
    """Everything repkpi knows about one KPI, and the KPI itself: call it on data.

    ``spec(data, /, *, freq="Q", by=None, ...)`` runs the KPI on the data's
    executor (see :func:`run_one`). A spec reads as the function it stands
    for: its ``__name__``, ``__module__``, signature and docstring (the
    shared sections added to the declaration's) are the KPI's, so
    ``help()``, :func:`inspect.signature` and doctest read them; like a
    function, it binds as a method when set on a class.

    Attributes
    ----------
    name : str
    title : str
        The KPI in words, as a chart's title reads it ("Net revenue retention
        (NRR)").
    label : str
        A short name of the value, as a chart's legend shows it beside the
        title ("NRR"); the title when none is declared.
    table : str
        The KPI's own table: its rows (entities) are what ``by`` groups and
        what :func:`repkpi.detail` lists.
    unit : {"count", "percent", "points", "money", "hours", "score", "rank"}
        How the value reads: ``points`` is a difference of two shares, in
        share points (0.012 reads "+1.2 pts", not "1.2%").
    kind : {"count", "sum", "ratio", "median", "difference", "rank"}
        How the value comes from the declaration's formula: the numerator
        (count, sum, rank), numerator / denominator (ratio), the median of
        the rows' values, or the change of a ratio over the previous period.
    declare : callable
        ``declare(scope, **options) -> Formula``.
    interval : {"wilson"} or None
        ``"wilson"`` for a share of counted cases: the KPI takes ``ci=``.
    counted : bool
        The denominator counts observations (responses, deals, customers):
        the scorecard flags low data by it.
    timing : {"events", "state", "window", "compare"}
        ``"events"``: rows dated inside P, so a quarter's numerator and
        denominator are the sums of its months'; ``"state"``: entities
        measured on a day of P; ``"window"``: a trailing window;
        ``"compare"``: against the previous period.
    route : {"partition", "by_account", "market"}
        How the KPI splits over the partitions of Dask data, always on the
        workers: ``"partition"``, per partition of its table (additive
        subtotals, or the rows of a median; on buckets of accounts when
        ``by`` reads the account's columns); ``"by_account"``, on buckets of
        accounts (every table it reads split by ``account_id`` alike: an
        account's rows together, for a KPI that looks at all of them, as
        engagement, key accounts, NRR and GRR do); ``"market"``, our revenue
        per (period, region) summed over the deals, the market table whole.
    reads : tuple of str
        Other tables it reads (a missing one is an error).
    any_of : tuple of str
        Tables of which at least one must be loaded.
    scale : float
        Factor of the ratio (100 for NPS).
    by_columns : tuple of str, optional
        The only columns it can be grouped by (None: any column).
    pace : {"scale", "as_is", "growth", "churn", "retention"}, optional
        How a period in progress projects to its end (see :attr:`pace_rule`).
    options : tuple of str
        Its own keyword options.
    forward : bool
        Its rows in a period after the as-of date are a forward view of what
        is scheduled (the contracts due then: the renewal pipeline), which
        :func:`repkpi.detail` lists; for the other KPIs such a period is refused.
    subset_when : tuple of (str, object) pairs
        For a proportion, the options under which its numerator counts a
        subset of its denominator's cases (``(("method", "cohort"),)`` for
        retention, whose default E - N is not one); empty: always. See
        :meth:`share_of_counts`.
    needs : tuple of str
        The optional columns it reads, as ``table.column`` (``"deals.amount"``):
        when the data does not have one (``data.absent``), the KPI refuses
        (:func:`check_needs`) rather than read every row as empty.
    """

    name: str
    title: str
    table: str
    unit: Unit
    kind: Kind
    declare: Callable[..., Any] = field(repr=False, compare=False)
    label: str = ""
    interval: Literal["wilson"] | None = None
    counted: bool = False
    timing: Timing = "events"
    route: Route = "partition"
    reads: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()
    scale: float = 1.0
    by_columns: tuple[str, ...] | None = None
    pace: Pace | None = None
    options: tuple[str, ...] = ()
    forward: bool = False
    subset_when: tuple[tuple[str, Any], ...] = ()
    needs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.label:
            object.__setattr__(self, "label", self.title)
        reads_as = {"__name__": self.name, "__qualname__": self.name,
                    "__module__": self.declare.__module__,
                    "__doc__": _document(self.declare.__doc__, self.proportion),
                    "__signature__": _signature(self.declare, self.proportion)}
        for attribute, value in reads_as.items():
            object.__setattr__(self, attribute, value)

    def __call__(self, data: Any, /, **kwargs: Any) -> pd.DataFrame:
        """The KPI on ``data`` (see the spec's own docstring, ``help(repkpi.kpis.<name>)``)."""
        return run_one(self, data, kwargs)

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        """The spec bound to ``instance``, as a function set on a class binds."""
        return self if instance is None else MethodType(self, instance)

    @property
    def proportion(self) -> bool:
        """Whether the value is a share of counted cases (it takes ``ci=``)."""
        return self.interval == "wilson"

    def share_of_counts(self, options: Mapping[str, Any] | None = None) -> bool:
        """Whether the value, with the KPI's own ``options``, is a share of counted cases.

        A proportion (declared with a Wilson interval) whose numerator counts
        a subset of its denominator's cases under these options (the
        declaration's ``subset_when``, the options left out at their
        defaults): the change of such a value has a Newcombe interval
        (:func:`repkpi.kpis.intervals.change_interval`) and its groups a
        funnel plot (:func:`repkpi.outliers`).

        Examples
        --------
        >>> import repkpi
        >>> spec = repkpi.KPIS["retention_rate"]
        >>> spec.share_of_counts(), spec.share_of_counts({"method": "cohort"})
        (False, True)
        >>> repkpi.KPIS["churn_rate"].share_of_counts(), repkpi.KPIS["nps"].share_of_counts()
        (True, False)
        """
        if not self.proportion:
            return False
        defaults = {p.name: p.default for p in inspect.signature(self.declare).parameters.values()
                    if p.kind is inspect.Parameter.KEYWORD_ONLY}
        chosen = {**defaults, **(options or {})}
        return all(chosen.get(name) == wanted for name, wanted in self.subset_when)

    @property
    def pace_rule(self) -> Pace:
        """How the value of a period in progress projects to the period's end.

        ``"scale"``: counts and sums of events, scaled by the share of days
        elapsed; ``"growth"``: the growth of the scaled count; ``"churn"`` and
        ``"retention"``: the churned count scaled against the opening book;
        ``"as_is"``: ratios of events, medians and states, as they stand.
        """
        if self.pace is not None:
            return self.pace
        if self.timing == "events" and self.kind in ("count", "sum"):
            return "scale"
        if self.timing == "compare" and self.kind == "ratio":
            return "growth"
        return "as_is"

    @property
    def adds_over_time(self) -> bool:
        """Whether a period's numerator and denominator are the sums of its months'."""
        return self.timing == "events" and self.kind in ("count", "sum", "ratio")


KPIS: dict[str, KpiSpec] = {}
"""Every KPI: name -> its spec, which is its public function."""


class SpecView(Mapping[str, Any]):
    """A read-only mapping KPI name -> one attribute of its spec, always up to date.

    Examples
    --------
    >>> import repkpi
    >>> repkpi.kpis.UNITS["revenue"]
    'money'
    """

    def __init__(self, attribute: str) -> None:
        self._attribute = attribute

    def __getitem__(self, name: str) -> Any:
        return getattr(KPIS[name], self._attribute)

    def __iter__(self) -> Iterator[str]:
        return iter(KPIS)

    def __len__(self) -> int:
        return len(KPIS)


def normalise_by(by: By) -> list[str]:
    """``by`` as a list of column names (None -> [])."""
    if by is None:
        return []
    if isinstance(by, str):
        return [by]
    return list(by)


# -- executors ----------------------------------------------------------------------------------
class Executor(Protocol):
    """Runs KPIs on one kind of data (pandas frames, Dask frames...)."""

    def run(self, data: Any, calls: Sequence[Call]) -> list[pd.DataFrame | RepkpiError]:
        """Each call's result, or the :data:`EXPECTED` error it raised, in order."""

    def prefetch(self, data: Any, calls: Sequence[Call]) -> None:
        """Prepare the results of ``calls`` at once, for later calls to find (when it pays)."""

    def detail(self, data: Any, spec: KpiSpec, kwargs: dict[str, Any],
               period: pd.Period) -> pd.DataFrame:
        """The rows behind the KPI's value of ``period`` (see :func:`repkpi.detail`)."""

    def gather(self, data: Any, wanted: Mapping[str, Any]) -> dict[str, Any]:
        """``wanted`` (tables of ``data``, their rows, columns or reductions) as pandas objects.

        All at once (on Dask, one pass), text in pandas' default ``str``
        dtype: for the few rows or values a caller lists or looks up.
        """

    def by_account(self, data: Any, tables: Mapping[str, Any], rows: pd.DataFrame,
                   function: Callable[[dict[str, pd.DataFrame], pd.DataFrame], pd.DataFrame],
                   ) -> list[pd.DataFrame]:
        """``function(tables, rows)`` run on parts of disjoint accounts, each part's result.

        ``tables`` (of ``data``) with an ``account_id`` column are split by
        account, the others (the reps) given whole; ``rows`` (in memory, with
        ``account_id``) are split alike. A part holds all the rows of its
        accounts. On Dask the parts are worked on the workers, in one pass,
        and only their results are gathered.
        """


_EXECUTORS: dict[type, Executor] = {}

_ON_DEMAND = {"repkpi.io.loading": "repkpi.kpis.pandas_engine",
              "repkpi.dask.reader": "repkpi.dask.executor"}
"""The engines loaded when first needed: the module that makes their data -> their executor's.

The executor's module is named, not imported: it builds on the KPIs, which
build on this module. Its ``EXECUTORS`` maps each data type it runs to the
executor. The pandas engine's data (:class:`~repkpi.io.loading.CrmData`)
exists as soon as ``repkpi`` is imported; Dask's once its reader is loaded.
"""


def call_key(call: Call) -> str:
    """A call's KPI name and options as text: equal for calls that give the same result.

    Examples
    --------
    Options left out count as their defaults, and ``by="team"`` as ``by=["team"]``:

    >>> call_key(("csat", {"freq": "Q", "by": None})) == call_key(("csat", {"by": None, "freq": "Q"}))
    True
    >>> call_key(("csat", {})) == call_key(("csat", {"freq": "Q", "by": None, "fiscal_year_start": 1}))
    True
    >>> call_key(("csat", {"by": "team"})) == call_key(("csat", {"by": ["team"]}))
    True
    """
    name, kwargs = call
    full = {**COMMON_DEFAULTS, **kwargs}
    full["by"] = normalise_by(full["by"]) if isinstance(full["by"], str | list | tuple) else full["by"]
    return repr((name, sorted((k, repr(v)) for k, v in full.items())))


def register_executor(data_type: type, executor: Executor) -> None:
    """Run the KPIs of ``data_type`` (and its subclasses) on ``executor``."""
    _EXECUTORS[data_type] = executor


def register_default_executors() -> None:
    """Register the executors of the engines loaded when first needed: pandas', then Dask's.

    :func:`executor_for` calls it on a miss, then looks again, as pandera's
    ``get_backend`` calls ``register_default_backends``. An engine's data is
    made by its reader alone: until the reader is loaded (``load(...,
    engine="dask")``) there is no such data to run, and nothing of the engine
    is imported.
    """
    for reader, module in _ON_DEMAND.items():
        if reader in sys.modules:
            for data_type, executor in importlib.import_module(module).EXECUTORS.items():
                _EXECUTORS.setdefault(data_type, executor)


def _registered(data_type: type) -> Executor | None:
    """The executor registered for ``data_type`` or the nearest of its bases, if any."""
    return next((_EXECUTORS[k] for k in data_type.__mro__ if k in _EXECUTORS), None)


def executor_for(data: Any) -> Executor:
    """The executor registered for the type of ``data``, looked up along its MRO.

    On a miss, the engines loaded when first needed register their executors
    (:func:`register_default_executors`), and the lookup runs again.
    """
    found = _registered(type(data))
    if found is None:
        register_default_executors()
        found = _registered(type(data))
    if found is not None:
        return found
    raise OptionError(f"KPIs take the data of repkpi.load or repkpi.CrmData, got "
                      f"{type(data).__name__}.\nHint: wrap your DataFrames in "
                      "repkpi.CrmData(accounts=..., deals=...).")


# -- the decorator ------------------------------------------------------------------------------
_COMMON_DOC = """\
data : CrmData
    Loaded data (``repkpi.load``, ``repkpi.CrmData``), or Dask data.
freq : {"M", "Q", "Y"}
    Period length: month, quarter or year.
by : str or list of str, optional
    Columns to group by: the KPI's table's, then accounts', then reps'.
start, end : period-like, optional
    First and last period returned (``"2024Q1"``, ``"2024-01"``, a date).
fiscal_year_start : int
    Month the (fiscal) year starts in; quarters and years follow it.
window : {"period", "ytd", "qtd"} or int
    The span each value covers: the period (default), the (fiscal) year to
    date, the quarter to date (``freq="M"``), or the N periods ending with it
    (``freq="M", window=12``: the trailing twelve months)."""
_CI_DOC = """\
ci : float, optional
    Confidence level of a Wilson score interval: adds ``lower`` and ``upper``."""
_RETURNS_DOC = """\
DataFrame
    ``period``, one column per ``by`` column, ``numerator``, ``denominator``
    and ``value``; ``attrs["kpi"]`` names the KPI, ``attrs["stale"]`` the
    stale tables it read (table -> last recorded date). A period that begins
    after the data's as-of date has not been lived: its numerator,
    denominator and value are NA, and ``attrs["after_as_of"]`` lists it."""
_SECTION = re.compile(r"^(\w[\w ]*)\n-+\n", re.MULTILINE)


def _sections(doc: str) -> tuple[str, dict[str, str]]:
    """The text before the first numpydoc section, and each section's body by title."""
    doc = inspect.cleandoc(doc or "")
    found = list(_SECTION.finditer(doc))
    head = doc[:found[0].start()] if found else doc
    bodies = {}
    for i, match in enumerate(found):
        stop = found[i + 1].start() if i + 1 < len(found) else len(doc)
        bodies[match.group(1)] = doc[match.end():stop].strip("\n")
    return head.rstrip() + "\n", bodies


def _document(doc: str | None, proportion: bool) -> str:
    """The public docstring: the declaration's, with the shared Parameters and Returns."""
    head, bodies = _sections(doc or "")
    parameters = [_COMMON_DOC, *([_CI_DOC] if proportion else []),
                  *([bodies.pop("Parameters")] if "Parameters" in bodies else [])]
    bodies.pop("Returns", None)
    out = [head, _block("Parameters", "\n".join(parameters)), _block("Returns", _RETURNS_DOC)]
    out += [_block(title, body) for title, body in bodies.items()]
    return "\n".join(out)


def _block(title: str, body: str) -> str:
    return f"{title}\n{'-' * len(title)}\n{body}\n"


def _signature(declare: Callable[..., Any], proportion: bool) -> inspect.Signature:
    """``(data, /, *, freq, by, start, end, fiscal_year_start, window, <own options>[, ci])``."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    params = [inspect.Parameter("data", inspect.Parameter.POSITIONAL_ONLY)]
    params += [inspect.Parameter(name, keyword, default=default)
               for name, default in COMMON_DEFAULTS.items()]
    params += [p for p in inspect.signature(declare).parameters.values() if p.kind is keyword]
    if proportion:
        params.append(inspect.Parameter("ci", keyword, default=None))
    return inspect.Signature(params, return_annotation="pd.DataFrame")


def kpi(*, title: str, table: str, unit: Unit, kind: Kind, label: str = "",
        interval: Literal["wilson"] | None = None, counted: bool | None = None,
        timing: Timing = "events", route: Route = "partition", reads: Sequence[str] = (),
        any_of: Sequence[str] = (), scale: float = 1.0, by_columns: Sequence[str] | None = None,
        pace: Pace | None = None, forward: bool = False,
        subset_when: Mapping[str, Any] | None = None, needs: Sequence[str] = (),
        ) -> Callable[[Callable[..., Any]], KpiSpec]:
    """Declare a KPI: register its spec, which is its public function.

    ``counted`` defaults to True for proportions. See :class:`KpiSpec` for
    the other fields (``subset_when`` as a mapping of option to value).
    """

    def register(declare: Callable[..., Any]) -> KpiSpec:
        own = tuple(p.name for p in inspect.signature(declare).parameters.values()
                    if p.kind is inspect.Parameter.KEYWORD_ONLY)
        spec = KpiSpec(name=declare.__name__, title=title, label=label, table=table, unit=unit,
                       kind=kind, declare=declare, interval=interval,
                       counted=interval == "wilson" if counted is None else counted,
                       timing=timing, route=route, reads=tuple(reads), any_of=tuple(any_of),
                       scale=scale, options=own,
                       by_columns=None if by_columns is None else tuple(by_columns),
                       pace=pace, forward=forward,
                       subset_when=tuple(sorted((subset_when or {}).items())),
                       needs=tuple(needs))
        KPIS[spec.name] = spec
        return spec

    return register


def check_options(spec: KpiSpec, kwargs: Mapping[str, Any], *, allowed: Sequence[str] = COMMON,
                  ) -> None:
    """Raise :class:`OptionError` for a keyword the KPI does not take."""
    options = [*allowed, *spec.options, *(("ci",) if spec.proportion else ())]
    unknown = sorted(set(kwargs) - set(options))
    if unknown:
        raise OptionError(
            f"{spec.name} takes no option {', '.join(map(repr, unknown))}. "
            f"It takes {', '.join(options)}.\nHint: its own options are "
            f"{list(spec.options) or 'none'}; see help(repkpi.kpis.{spec.name})."
        )


def check_by(spec: KpiSpec, by: str | Sequence[str] | None) -> None:
    """Raise :class:`OptionError` when the KPI cannot be grouped by ``by``."""
    extra = [c for c in normalise_by(by) if c not in (spec.by_columns or ())]
    if spec.by_columns is not None and extra:
        allowed = " or ".join(f"by={c!r}" for c in spec.by_columns)
        raise OptionError(f"{spec.name} takes by=None or {allowed}, got by={by!r}.\n"
                          f"Hint: its {spec.table} table gives figures per "
                          f"{', '.join(spec.by_columns)} only.")


def refuse_absent(data: Any, who: str, table: str, columns: Sequence[str]) -> None:
    """Raise :class:`AbsentColumnError` when one of ``columns`` of ``table`` is absent from the data.

    An absent column is one the export does not have (``data.absent``): it
    loaded as an empty column, and reading it would count every row as empty.
    The message names the column and where it could come from: the preset's
    or mapping's hint (``data.absent_hints``), else the table's file.

    Examples
    --------
    >>> import pandas as pd
    >>> from repkpi import CrmData
    >>> data = CrmData(deals=pd.DataFrame({"deal_id": ["D1"], "account_id": ["A1"],
    ...     "created_on": ["2024-01-02"], "closed_on": ["2024-02-01"], "stage": ["won"]}))
    >>> refuse_absent(data, "revenue", "deals", ["amount"])
    Traceback (most recent call last):
    ...
    repkpi.errors.AbsentColumnError: revenue needs deals.amount; the deals table (<DataFrame>) ...
    Hint: ...
    """
    absent = (getattr(data, "absent", None) or {}).get(table, ())
    column = next((c for c in columns if c in absent), None)
    if column is None:
        return
    hint = (getattr(data, "absent_hints", None) or {}).get(table, {}).get(column)
    if hint is None:
        source = (getattr(data, "sources", None) or {}).get(table, "")
        source = ", ".join(source) if isinstance(source, list | tuple) else str(source)
        hint = f"the {table} table{f' ({source})' if source else ''} has no such column"
    raise AbsentColumnError(
        f"{who} needs {table}.{column}; {hint}.\nHint: an export without the column cannot "
        "tell, which is not the same as empty cells: add the column to the export (empty "
        "where a row has no value). data.absent lists the columns the data does not have.")


def check_needs(spec: KpiSpec, data: Any) -> None:
    """Raise :class:`AbsentColumnError` when the data lacks an optional column the KPI needs.

    See :attr:`KpiSpec.needs` and :func:`refuse_absent`.
    """
    for need in spec.needs:
        table, column = need.split(".")
        refuse_absent(data, spec.name, table, [column])


def time_attrs(data: Any, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``as_of`` (the data's as-of date) and ``in_progress`` (its period, unless it ends there)."""
    as_of = getattr(data, "as_of", None)
    calendar = Calendar(kwargs.get("freq", "Q"), kwargs.get("fiscal_year_start", 1))
    return {"as_of": as_of, "in_progress": in_progress(as_of, calendar.pfreq)}


_OBSERVED = ["numerator", "denominator", "value"]


def observed(result: pd.DataFrame, data: Any, kwargs: Mapping[str, Any]) -> pd.DataFrame:
    """A KPI result as the data has seen it: NA for the periods after ``as_of``, and its time attrs.

    A period that begins after the data's as-of date has no data yet,
    whatever its scheduled rows (contracts due, churn dates ahead): its
    ``numerator``, ``denominator`` and ``value`` are NA, never a 0% renewal
    rate for contracts not yet due nor a 0% churn for a year not yet lived.
    ``attrs["after_as_of"]`` lists those periods (an empty list when the
    result has none); ``attrs["as_of"]`` and ``attrs["in_progress"]`` are
    :func:`time_attrs`'. The period that holds ``as_of`` is in progress, not
    after it. Every KPI result goes through here, on every engine (a KPI
    call and :func:`repkpi.compute`).

    Examples
    --------
    >>> from repkpi.datasets import doctest_data as examples
    >>> data = examples.accounts()   # as of 15 April 2024
    >>> result = observed(pd.DataFrame({"period": pd.period_range("2024Q2", "2024Q3", freq="Q"),
    ...                                 "numerator": [1.0, 0.0], "denominator": [1.0, 1.0],
    ...                                 "value": [1.0, 0.0]}), data, {"freq": "Q"})
    >>> result["value"].tolist(), result.attrs["after_as_of"], result.attrs["in_progress"]
    ([1.0, nan], [Period('2024Q3', 'Q-DEC')], Period('2024Q2', 'Q-DEC'))
    """
    attrs = time_attrs(data, kwargs)
    after: list[pd.Period] = []
    as_of = attrs["as_of"]
    if as_of is not None and not pd.isna(as_of) and len(result):
        periods = pd.PeriodIndex(result["period"])
        late = np.asarray(periods.start_time > as_of.normalize())
        if late.any():
            result = result.copy()
            result.loc[late, _OBSERVED] = np.nan
            after = list(periods[late].unique().sort_values())
    result.attrs.update(attrs, after_as_of=after)
    return result


_NOT_LIVED = "a period not yet lived is not scored, explained or reported; "


def refuse_after_as_of(data: Any, period: pd.Period | pd.Timestamp, *, what: str,
                       instead: str = _NOT_LIVED) -> None:
    """Raise :class:`OptionError` when ``period`` begins after the data's as-of date.

    A period not yet lived is never scored, explained, reviewed or listed:
    the message names the as-of date and how to declare a later one; its
    hint begins with ``instead`` (what to do rather).

    Examples
    --------
    >>> from repkpi.datasets import doctest_data as examples
    >>> data = examples.accounts()   # as of 15 April 2024
    >>> refuse_after_as_of(data, pd.Period("2024Q2", "Q"), what="explain")   # in progress
    >>> refuse_after_as_of(data, pd.Period("2024Q3", "Q"), what="explain")
    Traceback (most recent call last):
    ...
    repkpi.errors.OptionError: explain cannot take 2024 Q3: it begins after the as-of date (as_of)...
    """
    as_of = getattr(data, "as_of", None)
    if as_of is None or pd.isna(as_of):
        return
    first = period.start_time if isinstance(period, pd.Period) else pd.Timestamp(period)
    if first.normalize() <= as_of.normalize():
        return
    named = period_label(period) if isinstance(period, pd.Period) else f"{first:%Y-%m-%d}"
    raise OptionError(
        f"{what} cannot take {named}: it begins after the as-of date (as_of) "
        f"{as_of:%Y-%m-%d}, so nothing of it has happened yet.\nHint: {instead}if the data is "
        "newer than that, declare its date with load(..., as_of=...) or --as-of."
    )


def stale_attrs(data: Any, names: Sequence[str]) -> dict[str, Any]:
    """``stale``: {table: its last recorded date} for each stale table the KPIs ``names`` read.

    A table is stale when its last recorded date lies more than 7 days before
    ``as_of`` (``data.coverage``; kpis.md, "Coverage").
    """
    coverage = getattr(data, "coverage", None)
    if coverage is None:
        return {"stale": {}}
    read = {t for name in names for t in (KPIS[name].table, *KPIS[name].reads,
                                          *KPIS[name].any_of)}
    stale = coverage[coverage["stale"] & coverage["table"].isin(sorted(read))]
    return {"stale": dict(zip(stale["table"], stale["last"], strict=True))}


def run_one(spec: KpiSpec, data: Any, kwargs: dict[str, Any]) -> pd.DataFrame:
    """One KPI call: options checked, run on the data's executor, ``ci`` bounds added."""
    check_options(spec, kwargs)
    kwargs = dict(kwargs)
    ci = kwargs.pop("ci", None)
    (result,) = executor_for(data).run(data, [(spec.name, kwargs)])
    if isinstance(result, Exception):
        raise result
    result = observed(result, data, kwargs)
    result.attrs.update(stale_attrs(data, [spec.name]))
    if ci is not None:
        from repkpi.kpis.intervals import wilson_interval

        lower, upper = wilson_interval(result["numerator"], result["denominator"], ci)
        result = result.assign(lower=lower, upper=upper)
    result.attrs["kpi"] = spec.name
    return result
