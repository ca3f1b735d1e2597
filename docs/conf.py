"""Sphinx configuration of repkpi's documentation site (``python3 tasks.py docs`` builds it into site/).

The site works offline: the theme (furo) ships its styles and scripts, uses
the system's fonts, and search is Sphinx's own index; no intersphinx (it would
fetch other projects' inventories), so a reference to pandas or numpy stays
text. The notebooks are executed when the site is built (``nb_execution_mode
= "force"``); a cell that raises fails the build.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))

import repkpi  # noqa: E402

project = "repkpi"
release = version = repkpi.__version__
copyright = "repkpi's authors"

extensions = [
    "sphinx.ext.autodoc",
    "numpydoc",
    "myst_nb",
    "repkpi_site",
]

root_doc = "index"
exclude_patterns = ["_build", "_ext", "**/.ipynb_checkpoints", "jupyter_execute"]
suppress_warnings = []

# Every reference must resolve: a missing one fails the build (with -W). Names of other
# libraries are not cross-referenced (no intersphinx: the site is built offline).
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(pd|pandas|np|numpy|matplotlib|plt|pa|pyarrow|dask|dd|datetime|os|pathlib|"
               r"collections|typing|types|enum|inspect|concurrent|distributed|fsspec)(\..*)?"),
]

# Docstrings are numpydoc; their types are written for a reader, not cross-referenced.
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
numpydoc_class_members_toctree = False
autodoc_typehints = "none"
autodoc_member_order = "bysource"
autodoc_default_options = {"exclude-members": "__init__, __new__"}

# Markdown (MyST) and notebooks (MyST-NB).
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
nb_execution_mode = "force"
nb_execution_timeout = 300
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True

# Formulas as MathML, drawn by the browser (docs/_ext/repkpi_site.py): MathJax, Sphinx's default,
# would load its script from a CDN.
html_math_renderer = "mathml"

html_theme = "furo"
html_title = f"repkpi {release}"
html_static_path: list[str] = []
html_show_sourcelink = False
html_copy_source = False
