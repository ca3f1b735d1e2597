"""Architecture guards for ``repkpi``, read from the source with :mod:`ast` (nothing is imported).

1. The import graph has no cycle. It counts every explicit import of a ``repkpi`` module, also
   inside functions; ``from pkg import sub`` is an edge to ``pkg.sub`` when that is a module, else to
   ``pkg/__init__.py``. Importing ``repkpi.a.b`` does not add the implicit edge to ``repkpi/a/__init__.py``.
2. Each module imports only modules of its own or a lower layer (``LAYERS``).
3. An engine (``ENGINES``) is loaded only when first needed, by the modules that pick it: its
   reader by ``load``, its executor by the executor lookup (by name: the executor builds on the
   KPIs, which build on the lookup). Nothing else imports or names it.
4. No module uses another module's private names (``from x import _y``, ``imported._y``).
5. ``import repkpi`` (in a fresh interpreter) loads neither Dask, matplotlib nor pandera.
6. The checks find a planted cycle, private use and layer breach in a fake package.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# A module may import modules of its own layer or a lower one; the longest matching prefix wins.
LAYERS: dict[str, int] = {
    # 0: the ground floor
    "repkpi.errors": 0, "repkpi.schemas": 0, "repkpi.periods": 0, "repkpi._vector": 0,
    "repkpi._threads": 0,
    "repkpi.intervals": 0,
    "repkpi.io": 1,  # loading, mapping and presets, the rules (pandera), the Dask reader
    "repkpi.outputs": 1,  # formula-safe CSV and Excel, whole-or-nothing files and folders
    "repkpi.datasets": 2,  # shipped sample, generator, doctest data: may read with io
    "repkpi.kpis": 3,
    "repkpi.dask": 4,  # an engine: reads with io, runs the KPIs (loaded as ENGINES says)
    "repkpi.goals": 4, "repkpi.whatif": 4, "repkpi.explain": 4, "repkpi.attention": 4,
    "repkpi.outliers": 4,  # groups out of line (funnel plots)
    "repkpi.review": 4,  # the numbers of a review, section by section
    "repkpi.cohorts": 4,  # cohort triangles
    "repkpi.forecast": 4,  # survival, renewals, risk: from the as-of date on
    "repkpi.checks": 4,  # the morning check: findings, most important first
    "repkpi.plot": 5, "repkpi.report": 5,
    "repkpi.cli": 6, "repkpi.__main__": 6,
    "repkpi": 7,  # repkpi/__init__.py may import anything
}

# Each engine package, and the modules that may load it (inside a function, when first needed):
# ``load`` imports the reader, the executor lookup names the executor (``_ON_DEMAND``).
ENGINES: dict[str, tuple[str, ...]] = {"repkpi.dask": ("repkpi.io.loading", "repkpi.kpis.registry")}

# Neither ``import repkpi`` nor anything it imports may load these (or their submodules):
# the engines and charts load when used, pandera when a table is first validated.
HEAVY = ("dask", "distributed", "matplotlib", "pandera")


@dataclass(frozen=True)
class Import:
    """One explicit import: ``importer`` (in ``file``) imports package module ``target`` at ``line``.

    ``name`` is the imported name when it is not itself a module (``from target import name``);
    ``bound`` is the name the statement binds in the importer.
    """

    importer: str
    file: str
    line: int
    target: str
    bound: str
    name: str | None = None


def is_private(name: str) -> bool:
    """``_x`` and ``__x`` are private; dunders such as ``__version__`` are not."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def longest_prefix(names: Iterable[str], dotted: str) -> str | None:
    """The longest dotted prefix of ``dotted`` (itself included) found in ``names``, if any."""
    parts, names = dotted.split("."), set(names)
    return next((p for end in range(len(parts), 0, -1) if (p := ".".join(parts[:end])) in names), None)


def find_modules(root: Path, package: str) -> dict[str, Path]:
    """The dotted name of each module of ``package`` under ``root`` -> its path relative to ``root``."""
    modules = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path.relative_to(root)
    return modules


def find_imports(modules: dict[str, Path], trees: dict[str, ast.Module]) -> list[Import]:
    """Every explicit import of the package, at any depth of each module (``target`` may be missing)."""
    package, found = min(modules, key=len), []
    for module, tree in trees.items():
        path = modules[module]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [(a.name, a.asname or a.name.split(".")[0], None) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: resolve against the package that holds ``module``
                    parent = module.split(".")[: None if path.name == "__init__.py" else -1]
                    base = ".".join(parent[: len(parent) - node.level + 1] + [base] * bool(base))
                targets = [(f"{base}.{a.name}", a.asname or a.name, None) if f"{base}.{a.name}" in modules
                           else (base, a.asname or a.name, a.name) for a in node.names]
            else:
                continue
            found += [Import(module, path.as_posix(), node.lineno, target, bound, name)
                      for target, bound, name in targets
                      if target.split(".")[0] == package and target != module]
    return found


def find_cycles(imports: list[Import]) -> list[list[str]]:
    """Each simple import cycle once, as a chain that starts and ends at its smallest module."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        graph.setdefault(imp.importer, set()).add(imp.target)

    def reach(start: str) -> set[str]:
        seen: set[str] = set()
        todo = [start]
        while todo:
            new = graph.get(todo.pop(), set()) - seen
            seen |= new
            todo += new
        return seen

    reachable = {node: reach(node) for node in graph}
    cycles = []

    def walk(chain: list[str]) -> None:
        for nxt in sorted(graph.get(chain[-1], ())):
            if nxt == chain[0]:
                cycles.append([*chain, nxt])
            elif nxt > chain[0] and nxt not in chain and chain[0] in reachable.get(nxt, ()):
                walk([*chain, nxt])

    for node in sorted(graph):
        walk([node])
    return cycles


def engine_loads(imports: list[Import],
                 engines: dict[str, tuple[str, ...]]) -> tuple[list[Import], list[str]]:
    """The imports of an engine from outside it: by the modules that pick it, and the others.

    The first are exempt from the layers (an engine sits above what loads it); the others are
    breaches, as ``file:line: importer imports target``.
    """
    allowed, breaches = [], []
    for imp in imports:
        engine = longest_prefix(engines, imp.target)
        if engine is None or longest_prefix([engine], imp.importer) is not None:
            continue
        if imp.importer in engines[engine]:
            allowed.append(imp)
        else:
            breaches.append(f"{imp.file}:{imp.line}: {imp.importer} imports {imp.target}")
    return allowed, sorted(breaches)


def names_of_modules(modules: dict[str, Path], trees: dict[str, ast.Module]) -> list[tuple[str, str]]:
    """``(module, named)`` for each text constant that is the dotted name of another package module.

    Such a name may be an import the graph does not see (``importlib.import_module``).
    """
    return sorted({(module, node.value) for module, tree in trees.items() for node in ast.walk(tree)
                   if isinstance(node, ast.Constant) and isinstance(node.value, str)
                   and node.value in modules and node.value != module and "." in node.value})


def private_uses(modules: dict[str, Path], trees: dict[str, ast.Module], imports: list[Import]) -> list[str]:
    """``from other import _name`` and ``imported._name`` (any depth), as ``file:line: code``."""
    found = {(imp.file, imp.line, f"from {imp.target} import {imp.name}")
             for imp in imports if imp.name is not None and is_private(imp.name)}
    for module, tree in trees.items():
        bound = {imp.bound for imp in imports if imp.importer == module}
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and is_private(node.attr):
                base = node.value
                while isinstance(base, ast.Attribute):
                    base = base.value
                if isinstance(base, ast.Name) and base.id in bound:
                    found.add((modules[module].as_posix(), node.lineno, ast.unparse(node)))
    return [f"{file}:{line}: {code}" for file, line, code in sorted(found)]


@dataclass
class Analysis:
    """What the checks read from one package: imports of existing (``imports``) and missing modules."""

    imports: list[Import]
    missing: list[Import]
    cycles: list[list[str]]
    private: list[str]
    named: list[tuple[str, str]]


def analyse(root: Path, package: str) -> Analysis:
    """The imports, import cycles and cross-module private uses of ``package`` under ``root``."""
    modules = find_modules(root, package)
    trees = {name: ast.parse((root / path).read_text(encoding="utf-8"), str(path))
             for name, path in modules.items()}
    imports = find_imports(modules, trees)
    found = [imp for imp in imports if imp.target in modules]
    return Analysis(found, [imp for imp in imports if imp.target not in modules], find_cycles(found),
                    private_uses(modules, trees, imports), names_of_modules(modules, trees))


def layer_violations(imports: list[Import], layers: dict[str, int]) -> list[str]:
    """Imports of a module of a higher layer, as ``file:line: importer (layer) imports target (layer)``."""
    found = set()
    for imp in imports:
        mine, theirs = (layers.get(longest_prefix(layers, m) or "", -1) for m in (imp.importer, imp.target))
        if theirs > mine:
            found.add((imp.file, imp.line, f"{imp.importer} ({mine}) imports {imp.target} ({theirs})"))
    return [f"{file}:{line}: {text}" for file, line, text in sorted(found)]


@pytest.fixture(scope="module")
def repkpi() -> Analysis:
    return analyse(ROOT, "repkpi")


def test_no_import_cycles(repkpi):
    cycles = repkpi.cycles
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_imports_name_existing_modules(repkpi):
    found = sorted({(imp.file, imp.line, imp.target) for imp in repkpi.missing})
    assert not found, "imports of missing repkpi modules:\n" + "\n".join(f"{f}:{n}: {t}" for f, n, t in found)


def test_every_module_has_a_layer():
    missing = [m for m in find_modules(ROOT, "repkpi") if longest_prefix(LAYERS, m) is None]
    assert not missing, f"modules missing from LAYERS: {missing}"


def test_layers_import_downwards_only(repkpi):
    loads, _ = engine_loads(repkpi.imports, ENGINES)
    found = layer_violations([imp for imp in repkpi.imports if imp not in loads], LAYERS)
    assert not found, "imports of a higher layer:\n" + "\n".join(found)


def test_engines_are_loaded_only_by_the_modules_that_pick_them(repkpi):
    loads, breaches = engine_loads(repkpi.imports, ENGINES)
    assert not breaches, "engines imported elsewhere:\n" + "\n".join(breaches)
    assert {imp.importer for imp in loads} <= {m for loaders in ENGINES.values() for m in loaders}
    named = [(module, name) for module, name in repkpi.named
             if (engine := longest_prefix(ENGINES, name)) is not None and module not in ENGINES[engine]]
    assert not named, f"engine modules named outside the engines' loaders: {named}"
    assert ("repkpi.kpis.registry", "repkpi.dask.executor") in repkpi.named


def test_no_private_names_across_modules(repkpi):
    found = repkpi.private
    assert not found, "private names used across modules:\n" + "\n".join(found)


def test_import_repkpi_leaves_out_dask_matplotlib_and_pandera():
    code = "import json, sys; import repkpi; print(json.dumps(sorted(sys.modules)))"
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, f"import repkpi fails:\n{run.stderr[-2000:]}"
    loaded = json.loads(run.stdout)
    offenders = [m for m in loaded if longest_prefix(ENGINES, m) is not None or (
        not m.startswith("repkpi.") and (
            m.split(".")[0] in HEAVY or m.startswith("pandera.typing.dask") or "dask" in m))]
    roots = [m for m in offenders if not any(m.startswith(f"{o}.") for o in offenders)]
    assert not offenders, (f"import repkpi loads {len(offenders)} modules it should not; "
                           f"these and their submodules: {roots}")


FAKE = {  # a/b form the one cycle, b's import of a is inside a function; the rest must pass
    "fake/__init__.py": "from fake.a import public\nfrom fake import sub\n",
    "fake/_util.py": "def helper():\n    return 1\n",
    "fake/sub/__init__.py": "from fake.sub.c import thing\n",
    "fake/sub/c.py": "from fake.sub.d import other as thing\n",
    "fake/sub/d.py": "other = 2\n",
    "fake/b.py": """\
        from fake._util import helper
        from fake.sub import __doc__ as doc
        _hidden = 1
        class Box:
            def __init__(self):
                self._x = helper()
            def peek(self, obj):
                return self._x, obj._y, doc
        def late():
            from fake import a
            return a.public
        """,
}
STYLES = {  # how fake/a.py reaches b's private ``_hidden`` (the one expected private use)
    "from-absolute": ("from fake.b import _hidden", "from fake.b import _hidden"),
    "from-relative": ("from .b import _hidden", "from fake.b import _hidden"),
    "module-attribute": ("import fake.b as b\nprint(b._hidden)", "b._hidden"),
    "relative-module": ("from . import b\nprint(b._hidden)", "b._hidden"),
    "dotted-attribute": ("import fake.b\nprint(fake.b._hidden)", "fake.b._hidden"),
}


@pytest.mark.parametrize("style", STYLES)
def test_checks_find_a_planted_cycle_and_private_use(tmp_path, style):
    statement, shown = STYLES[style]
    files = {**FAKE, "fake/a.py": f"{statement}\npublic = 3\n"}
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(textwrap.dedent(text), encoding="utf-8")
    fake = analyse(tmp_path, "fake")
    assert fake.cycles == [["fake.a", "fake.b", "fake.a"]]
    assert fake.private == [f"fake/a.py:{len(statement.splitlines())}: {shown}"]
    assert not fake.missing
    layers = {"fake._util": 0, "fake.b": 1, "fake.a": 2, "fake.sub": 0, "fake": 3}
    assert layer_violations(fake.imports, layers) == ["fake/b.py:10: fake.b (1) imports fake.a (2)"]
    loads, breaches = engine_loads(fake.imports, {"fake.sub": ("fake",)})
    assert [imp.importer for imp in loads] == ["fake"]
    assert breaches == ["fake/b.py:2: fake.b imports fake.sub"]
