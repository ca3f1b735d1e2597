"""Where the shipped sample data lives, and loading it.

The sample is the output of ``repkpi sample`` with its defaults. A wheel
carries it inside the package (``repkpi/_sample``); a source checkout reads
it from ``data/sample``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from repkpi.errors import DataFileError
from repkpi.io.loading import CrmData, Errors, load

__all__ = ["load_sample", "sample_path"]


def sample_path() -> Path:
    """Return the folder that holds the sample exports and their ``goals.toml``.

    Raises
    ------
    DataFileError
        When neither the installed package nor the checkout has the sample.

    Examples
    --------
    >>> (sample_path() / "accounts.csv").is_file()
    True
    """
    shipped = Path(str(resources.files("repkpi") / "_sample"))
    checkout = Path(__file__).resolve().parents[2] / "data" / "sample"
    for folder in (shipped, checkout):
        if (folder / "accounts.csv").is_file():
            return folder
    raise DataFileError(
        f"The sample data is missing: looked in {shipped} and {checkout}.\n"
        "Hint: regenerate it with 'repkpi sample data/sample'."
    )


def load_sample(errors: Errors = "strict") -> CrmData:
    """Load the shipped sample data, as :func:`repkpi.load` would.

    Examples
    --------
    >>> data = load_sample()
    >>> len(data.rejects)
    0
    """
    return load(sample_path(), errors=errors)
