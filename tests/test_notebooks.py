"""Every notebook in notebooks/ runs top to bottom without an error.

Run with nbclient in notebooks/ (the folder the notebooks find ../data from,
as nbmake and Jupyter run them), on a fresh kernel, 120 s at most per cell.
The committed outputs are not compared: the notebooks are executed, not diffed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))


def test_there_are_notebooks():
    assert {"01_quarterly_review.ipynb", "03_data_quality.ipynb"} <= {p.name for p in PATHS}


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_runs_without_errors(path):
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as error:
        pytest.fail(f"{path.name} failed:\n{error}", pytrace=False)
    errors = [output for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.get("outputs", []) if output.get("output_type") == "error"]
    assert errors == []
    warnings = [output["text"] for cell in notebook.cells if cell.cell_type == "code"
                for output in cell.get("outputs", [])
                if output.get("output_type") == "stream" and output.get("name") == "stderr"]
    assert warnings == [], f"{path.name} wrote to stderr: {warnings}"
