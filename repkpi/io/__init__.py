"""Files to validated tables: discovery, parsing, validation and CRM mappings.

The modules import one way, each only those below it:

- :mod:`repkpi.io.files`: which file holds which table; reading one file.
- :mod:`repkpi.io.parsing`: text to typed columns; failure records.
- :mod:`repkpi.io.validation`: the data model's checks, references to
  accounts, unique keys, reports of failures.
- :mod:`repkpi.io.mapping`: a CRM's own exports translated into the tables.
- :mod:`repkpi.io.loading`: :class:`CrmData` and :func:`load`, which picks
  the reader (the Dask reader, :mod:`repkpi.dask.reader`, builds on these
  modules and is imported by :func:`load` when first needed).
"""

from __future__ import annotations

from repkpi.io.files import TABLES
from repkpi.io.loading import CrmData, load
from repkpi.io.validation import Errors

__all__ = ["TABLES", "CrmData", "Errors", "load"]
