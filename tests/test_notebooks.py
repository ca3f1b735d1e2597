"""Every notebook in notebooks/ runs top to bottom without an error, on any data.

Notebooks 01 and 02 read their data folder from ``REPKPI_DATA`` and their
goals from ``REPKPI_GOALS`` (api.md, "Command line"): they run on the shipped
sample and on small generated data sets that end mid-quarter, on a quarter's
(and a year's) last day, and with a fiscal year starting in April. Each run
is a fresh kernel with its own working folder (a test's ``tmp_path``), 120 s
at most per cell. Notebook 03 walks through ``data/messy`` and runs from
notebooks/, the folder it finds it from, as nbmake and Jupyter run it. The
committed outputs are not compared: the notebooks are executed, not diffed.
"""

from __future__ import annotations

import re
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest

import repkpi
from repkpi.datasets.generator import write_sample

if TYPE_CHECKING:
    import nbformat

pytestmark = pytest.mark.notebooks

# nbformat and nbclient are imported by the tests that run, not when the file is collected: every
# pytest-xdist worker collects it, and importing nbformat costs about 2 s of CPU (jsonschema's
# format checkers build a grammar).
if find_spec("nbformat") is None or find_spec("nbclient") is None:
    pytest.skip("the notebook tests need nbformat and nbclient", allow_module_level=True)

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
ON_ANY_DATA = ["01_quarterly_review", "02_what_if"]

# Name -> (last day of the history, where the goals come from). 300 accounts each.
GENERATED = {
    # A quarter in progress; no goals.toml in the folder: the team's default goals.
    "mid_quarter": ("2026-05-14", "none"),
    # The last day of a quarter and of a year: no goal's period is in progress.
    "quarter_end": ("2025-12-31", "folder"),
    # REPKPI_GOALS names a goals file outside the folder that starts the fiscal year in April:
    # FY2027 Q2 (July-September 2026) in progress.
    "fiscal_april": ("2026-08-20", "fiscal"),
}
DATASETS = ["sample", *GENERATED]


@pytest.fixture(scope="session")
def environments(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """Data set name -> the environment variables that point the notebooks at it (generated once)."""
    root = tmp_path_factory.mktemp("notebook-data")
    envs: dict[str, dict[str, str]] = {"sample": {}}
    for name, (end, goals) in GENERATED.items():
        folder = write_sample(root / name, accounts=300, end=end)
        goals_file = folder / "goals.toml"
        envs[name] = {"REPKPI_DATA": str(folder)}
        if goals == "none":
            goals_file.unlink()
        elif goals == "fiscal":
            elsewhere = root / f"{name}-goals.toml"
            elsewhere.write_text("fiscal_year_start = 4\n" + goals_file.read_text())
            goals_file.unlink()
            envs[name]["REPKPI_GOALS"] = str(elsewhere)
    return envs


def execute(path: Path, cwd: Path) -> nbformat.NotebookNode:
    """Run the notebook on a fresh kernel in ``cwd``; fail on an error or on anything written to stderr."""
    import nbclient
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(cwd)}})
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as error:
        pytest.fail(f"{path.name} failed:\n{error}", pytrace=False)
    outputs = [output for cell in notebook.cells if cell.cell_type == "code"
               for output in cell.get("outputs", [])]
    assert [output for output in outputs if output.get("output_type") == "error"] == []
    warnings = [output["text"] for output in outputs
                if output.get("output_type") == "stream" and output.get("name") == "stderr"]
    assert warnings == [], f"{path.name} wrote to stderr: {warnings}"
    return notebook


def printed(notebook: nbformat.NotebookNode) -> str:
    """Everything the notebook's cells printed to stdout."""
    return "".join(output["text"] for cell in notebook.cells if cell.cell_type == "code"
                   for output in cell.get("outputs", [])
                   if output.get("output_type") == "stream" and output.get("name") == "stdout")


def test_there_are_notebooks():
    assert {f"{name}.ipynb" for name in ON_ANY_DATA} | {"03_data_quality.ipynb"} <= {p.name for p in PATHS}


@pytest.mark.parametrize("name", ON_ANY_DATA)
def test_notebook_states_no_date_of_one_data_set(name):
    # A year (alone or in a period such as 2026Q3) or a month's name written in a cell is true
    # of one data set only: the cells compute the periods they speak of.
    import nbformat

    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    months = "|".join(pd.date_range("2026-01-01", periods=12, freq="MS").strftime("%B"))
    dated = re.compile(rf"(?<!\d)(19|20)\d\d(?!\d)|\b({months})\b")
    found = [match.group(0) for cell in notebook.cells for match in dated.finditer(cell.source)]
    assert found == []


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("name", ON_ANY_DATA)
def test_notebook_runs_on_any_data(name, dataset, environments, monkeypatch, tmp_path):
    for variable in ("REPKPI_DATA", "REPKPI_GOALS"):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in environments[dataset].items():
        monkeypatch.setenv(variable, value)  # the kernel inherits the environment
    notebook = execute(NOTEBOOKS / f"{name}.ipynb", tmp_path)
    folder = Path(environments[dataset].get("REPKPI_DATA") or repkpi.sample_path())
    end = GENERATED[dataset][0] if dataset in GENERATED else "2026-09-30"
    # The first printed line names the folder read and its as-of date: the data asked for was read.
    assert f"Data: {folder.name}, to {pd.Timestamp(end):%d %b %Y}." in printed(notebook)


def test_data_quality_notebook_runs_on_the_messy_exports():
    execute(NOTEBOOKS / "03_data_quality.ipynb", NOTEBOOKS)
