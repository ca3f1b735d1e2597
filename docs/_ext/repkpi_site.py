"""Sources of the documentation site that are read from the package, written when the site is built.

Nothing here lists a name by hand: the API reference is every name of
``repkpi.__all__`` and of each public submodule's ``__all__`` (a submodule is
public when ``repkpi.__all__`` names it), one page per name, its text the
object's docstring; the KPI catalogue is every entry of :data:`repkpi.KPIS`
(definition, unit, kind, options and example, from the KPI's declaration);
the user guide's table of contents is every page of ``docs/``, the known
topics in reading order, then any other page by name. A public name or a page
added later appears in the next build without an edit here.

``python3 tasks.py docs`` builds the site; the Sphinx extension at the end
writes the generated sources into ``docs/reference/`` and
``docs/catalogue.rst`` (both ignored by git) before the pages are read.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import re
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

DOCS = Path(__file__).resolve().parents[1]
REFERENCE = "reference"
CATALOGUE = "catalogue"

# The user guide's topics in reading order (docs/<name>.md); a page of docs/ not named here
# and not one of the site's own pages follows them, by name.
GUIDE_ORDER = (
    "data-model", "mappings", "kpis", "declaring-kpis", "time", "goals", "goals-and-report",
    "drill-down", "windows-and-cohorts", "business-hours", "forecasts", "dask", "api",
)
SITE_PAGES = ("index", "getting-started", "guide", "notebooks", CATALOGUE)
GUIDE_MARK = "<!-- the guide's pages: written by docs/_ext/repkpi_site.py -->"


def namespaces() -> dict[str, ModuleType]:
    """``"repkpi"``, each public submodule (one ``repkpi.__all__`` names), and each module the guide uses.

    A module the user guide's examples import a name from (``from
    repkpi.checks import needs_a_look``) is a namespace too, holding only the
    names the guide uses.
    """
    import repkpi

    spaces = {"repkpi": repkpi}
    for name in repkpi.__all__:
        value = getattr(repkpi, name)
        if isinstance(value, ModuleType):
            spaces[f"repkpi.{name}"] = value
    for dotted in sorted(guide_names()):
        space = dotted.rsplit(".", 1)[0]
        if space not in spaces and isinstance(module := _resolve(space), ModuleType):
            spaces[space] = module
    return spaces


def public_names() -> dict[str, Any]:
    """Every public name, dotted (``"repkpi.load"``, ``"repkpi.kpis.churn_rate"``), and its object.

    A namespace's names are its ``__all__``; a submodule named there is a
    namespace of its own, not a name. The names the user guide's examples
    use from another module of the package follow (see :func:`namespaces`).
    """
    names: dict[str, Any] = {}
    spaces = namespaces()
    for space, module in spaces.items():
        for name in module.__all__ if space == "repkpi" or space in _listed_modules() else ():
            value = getattr(module, name)
            if not isinstance(value, ModuleType):
                names[f"{space}.{name}"] = value
    for dotted in sorted(guide_names()):
        value = _resolve(dotted)
        if dotted not in names and dotted not in spaces and value is not _MISSING:
            names[dotted] = value
    return names


def _listed_modules() -> set[str]:
    """The submodules that ``repkpi.__all__`` names: all of their ``__all__`` is public."""
    import repkpi

    return {f"repkpi.{name}" for name in repkpi.__all__ if isinstance(getattr(repkpi, name), ModuleType)}


def guide_names(docs: Path = DOCS) -> set[str]:
    """The dotted names of the package that the code of the user guide's pages (docs/*.md) uses."""
    found: set[str] = set()
    for page in docs.glob("*.md"):
        found |= code_names(page.read_text(encoding="utf-8"))
    return found


def page_of(dotted: str) -> str:
    """The reference page of a public name or namespace, as a document name (no suffix)."""
    if dotted in namespaces():
        return f"{REFERENCE}/{dotted}"
    space, name = dotted.rsplit(".", 1)
    return f"{REFERENCE}/{space}/{name}"


def _title(text: str, underline: str = "=") -> str:
    return f"{text}\n{underline * len(text)}\n"


def _is_data(value: Any) -> bool:
    """A value rather than a function or class: a constant, a mapping, a type alias (``tuple[...]``)."""
    if inspect.isclass(value) or inspect.ismodule(value):
        return False
    return not callable(value) or getattr(value, "__origin__", None) is not None


def _data_doc(dotted: str, value: Any) -> str:
    """A value's docstring: the string under its assignment, in the module of the package that binds it."""
    from sphinx.errors import PycodeError
    from sphinx.pycode import ModuleAnalyzer

    name = dotted.rsplit(".", 1)[1]
    for modname, module in sorted(sys.modules.items()):
        if modname.split(".")[0] != "repkpi" or vars(module).get(name, object()) is not value:
            continue
        try:
            docs = ModuleAnalyzer.for_module(modname).find_attr_docs()
        except PycodeError:
            continue
        if ("", name) in docs:
            return "\n".join(docs[("", name)]).strip()
    return ""


def _summary(dotted: str, value: Any) -> str:
    """The first line of the docstring of a public name (empty for a value without one)."""
    doc = _data_doc(dotted, value) if _is_data(value) else inspect.getdoc(value)
    return doc.strip().splitlines()[0].strip() if doc and doc.strip() else ""


def _directive(dotted: str, value: Any) -> str:
    """The directive that documents ``value`` under its public name, from its docstring."""
    space, name = dotted.rsplit(".", 1)
    head = f".. currentmodule:: {space}\n\n"
    if inspect.isclass(value):
        return head + f".. autoclass:: {name}\n   :members:\n   :show-inheritance:\n"
    if not _is_data(value):
        return head + f".. autofunction:: {name}\n"
    shown = repr(value)
    value_line = f"   :value: {shown}\n" if len(shown) <= 80 and "\n" not in shown else ""
    doc = _data_doc(dotted, value) or f"A ``{type(value).__name__}``."
    return head + f".. py:data:: {name}\n{value_line}\n" + textwrap.indent(doc, "   ") + "\n"


def reference_pages() -> dict[str, str]:
    """The reference's pages, document name -> reStructuredText: an index, each namespace, each name."""
    spaces = namespaces()
    names = public_names()
    pages: dict[str, str] = {}
    for space in spaces:
        own = sorted((dotted for dotted in names if dotted.rsplit(".", 1)[0] == space), key=str.lower)
        rows = "".join(f"   * - :py:obj:`~{dotted}`\n     - {_summary(dotted, names[dotted]) or ' '}\n"
                       for dotted in own)
        inner = [s for s in spaces if space == "repkpi" and s != space]  # the top lists the modules
        subs = "".join(f"   * - :py:mod:`{s}`\n     - {_summary(s, spaces[s])}\n" for s in inner)
        table = (".. list-table::\n   :widths: 30 70\n\n" + subs + rows) if subs or rows else ""
        toc = "".join(f"   {page_of(d).removeprefix(REFERENCE + '/')}\n" for d in own)
        pages[page_of(space)] = (
            _title(space) + f"\n.. automodule:: {space}\n\n" + table
            + ("\n.. toctree::\n   :hidden:\n\n" + toc if toc else "")
        )
        for dotted in own:
            pages[page_of(dotted)] = _title(dotted) + "\n" + _directive(dotted, names[dotted])
    listing = "".join(f"   {page_of(space).removeprefix(REFERENCE + '/')}\n" for space in spaces)
    pages[f"{REFERENCE}/index"] = (
        _title("API reference")
        + "\nEvery public name of repkpi, one page each, written from its docstring: the names of\n"
        "``repkpi`` and of its public modules (each module's ``__all__``).\n\n"
        ".. toctree::\n   :maxdepth: 1\n\n" + listing
    )
    return pages


def _options(spec: Any) -> list[str]:
    """The KPI's own keyword options: its signature's, less the data and the options every KPI takes."""
    from repkpi.kpis.registry import COMMON

    parameters = list(inspect.signature(spec).parameters.values())[1:]
    return [p.name for p in parameters if p.name not in COMMON]


def catalogue_page() -> str:
    """The KPI catalogue: for each KPI of :data:`repkpi.KPIS`, read from its declaration."""
    from numpydoc.docscrape import NumpyDocString

    import repkpi

    parts = [
        _title("KPI catalogue"),
        "\nEvery KPI of ``repkpi.KPIS``, as its declaration states it: what it measures, how its\n"
        "value reads (unit) and comes from its formula (kind), its own options beside the ones\n"
        "every KPI takes (``freq``, ``by``, ``start``, ``end``, ``fiscal_year_start``, ``window``),\n"
        "and the example its docstring runs as a doctest. The definitions in full are in\n"
        ":doc:`kpis`.\n\n"
        ".. currentmodule:: repkpi.kpis\n\n",
    ]
    for name, spec in sorted(repkpi.KPIS.items()):
        doc = NumpyDocString(inspect.getdoc(spec) or "")
        described = {p.name: p for p in doc["Parameters"]}
        parts.append(f".. _kpi-{name}:\n\n" + _title(f"{name}: {spec.title}", "-") + "\n")
        parts.append(" ".join(doc["Summary"]) + "\n\n")
        if doc["Extended Summary"]:
            parts.append("\n".join(doc["Extended Summary"]) + "\n\n")
        fields = [("Function", f":py:func:`repkpi.kpis.{name}`"), ("Unit", spec.unit),
                  ("Kind", spec.kind), ("Table", spec.table)]
        parts.append("".join(f":{label}: {value}\n" for label, value in fields) + "\n")
        if doc["Notes"]:
            parts.append("**Definition**\n\n" + "\n".join(doc["Notes"]) + "\n\n")
        options = _options(spec)
        parts.append("**Options**\n\n")
        if not options:
            parts.append("None beyond the ones every KPI takes.\n\n")
        for option in options:
            param = described.get(option)
            kind = f" ({param.type})" if param and param.type else ""
            text = " ".join(param.desc) if param else ""
            parts.append(f"- ``{option}``{kind}: {text}\n")
        parts.append("\n" if options else "")
        if doc["Examples"]:
            parts.append("**Example**\n\n" + "\n".join(doc["Examples"]) + "\n\n")
    return "".join(parts)


def _write_if_changed(path: Path, text: str) -> None:
    """Write ``text`` unless the file holds it already (Sphinx then keeps the page's last reading)."""
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def write_sources(docs: Path = DOCS) -> list[Path]:
    """Write the reference and the catalogue under ``docs``; remove reference pages of names gone."""
    written = []
    pages = {**reference_pages(), CATALOGUE: catalogue_page()}
    for docname, text in pages.items():
        path = docs / f"{docname}.rst"
        _write_if_changed(path, text)
        written.append(path)
    for stale in set((docs / REFERENCE).rglob("*.rst")) - set(written):
        stale.unlink()
    return written


def guide_pages(found: set[str]) -> list[str]:
    """The user guide's pages among the documents ``found``: the known topics first, then the rest."""
    top = sorted(d for d in found if "/" not in d and d not in SITE_PAGES and d not in GUIDE_ORDER)
    return [d for d in GUIDE_ORDER if d in found] + top


def _fill_guide(app: Any, docname: str, source: list[str]) -> None:
    if docname == "guide":
        entries = "\n".join(guide_pages(set(app.env.found_docs)))
        source[0] = source[0].replace(GUIDE_MARK, entries)


def _generate(app: Any) -> None:
    write_sources(Path(app.srcdir))


_MISSING = object()


def _resolve(dotted: str) -> Any:
    """The object a dotted name of the package names (importing its modules), or ``_MISSING``."""
    parts = dotted.split(".")
    if parts[0] != "repkpi":
        return _MISSING
    for cut in range(len(parts), 0, -1):
        try:
            value: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            value = getattr(value, attribute, _MISSING)
            if value is _MISSING:
                return _MISSING
        return value
    return _MISSING


def _candidates(node: Any) -> list[str]:
    """Where a docstring's short reference may point: as written, then in each scope it was written in.

    A docstring names its own module's helpers by their short name; the
    module is the one the docstring was read from (``docstring of
    repkpi.goals.scorecard``), or the page's current module and class.
    """
    target = node["reftarget"].lstrip("~.")
    scopes = [node.get("py:module"), ".".join(filter(None, [node.get("py:module"), node.get("py:class")]))]
    source = re.search(r"docstring of ([\w.]+)", str(node.source or ""))
    if source:
        parts = source.group(1).split(".")
        scopes += [".".join(parts[:cut]) for cut in range(len(parts), 0, -1)]
    return [target] + [f"{scope}.{target}" for scope in scopes if scope]


@functools.cache
def _public_ids() -> dict[int, str]:
    """The public name of each object the reference documents, by the object's id (once per build)."""
    public = {id(value): dotted for dotted, value in reversed(public_names().items())}
    public.update({id(module): dotted for dotted, module in namespaces().items()})
    return public


def _missing_reference(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """A reference to a real name of the package that the reference has no page for.

    A public name reached by another path (a KPI named from its topic
    module, ``write_report`` from ``repkpi.review``) links to its page; a
    name of the package's internals (a helper a docstring mentions) is shown
    as code, unlinked. A name that exists nowhere is left unresolved, and
    the build (warnings as errors) fails on it.
    """
    if node.get("refdomain") != "py":
        return None
    public = _public_ids()
    for candidate in _candidates(node):
        value = _resolve(candidate)
        if value is _MISSING:
            continue
        if id(value) in public:
            domain = env.get_domain("py")
            return domain.resolve_xref(env, node["refdoc"], app.builder, "obj", public[id(value)],
                                       node, contnode)
        return contnode
    return None


def _mathml(self: Any, node: Any, display: str) -> None:
    """A formula as MathML, which browsers draw themselves (MathJax would be a script from a CDN).

    A formula latex2mathml cannot read is a warning (so an error of the
    build), naming the formula; the page then shows its source.
    """
    from docutils import nodes
    from latex2mathml.converter import convert
    from sphinx.util import logging

    latex = node.astext()
    try:
        markup = convert(latex, display=display)
    except Exception as error:  # latex2mathml raises several kinds for what it cannot read
        logging.getLogger(__name__).warning("cannot write the formula %r as MathML: %s", latex, error,
                                            location=node)
        markup = f"<code>{self.encode(latex)}</code>"
    self.body.append(markup if display == "inline" else f'<div class="math">{markup}</div>\n')
    raise nodes.SkipNode


def setup(app: Any) -> dict[str, Any]:
    """Write the generated sources when the build starts; fill the guide's table of contents.

    Formulas (``:math:``, ``.. math::``) are written as MathML
    (``html_math_renderer = "mathml"`` in conf.py).
    """
    app.add_html_math_renderer(
        "mathml",
        inline_renderers=(lambda self, node: _mathml(self, node, "inline"), None),
        block_renderers=(lambda self, node: _mathml(self, node, "block"), None),
    )
    app.connect("builder-inited", _generate)
    app.connect("source-read", _fill_guide)
    app.connect("missing-reference", _missing_reference)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def code_names(text: str) -> set[str]:
    """The dotted names of the package that the code blocks of a markdown text call, read or import.

    ``repkpi.kpis.churn_rate(...)`` and ``from repkpi.checks import
    needs_a_look`` (``repkpi.checks.needs_a_look``); ``repkpi.kpis.<name>``
    (a placeholder) gives ``repkpi.kpis``, and the attributes of a result
    (``data.as_of``) are no names of the package.
    """
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)
    found = set()
    for block in blocks:
        found.update(re.findall(r"\brepkpi(?:\.[A-Za-z_]\w*)+", block))
        for module, imported in re.findall(r"from (repkpi[\w.]*) import ([\w, ]+)", block):
            found.update(f"{module}.{name.strip()}" for name in imported.split(",") if name.strip())
    return found
