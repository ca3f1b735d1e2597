"""Files to validated tables: discovery, parsing, validation, CRM mappings and the Dask reader.

The modules import one way, each only those below it:

- :mod:`repkpi.io.files`: which file holds which table; reading one file.
- :mod:`repkpi.io.parsing`: text to typed columns; failure records.
- :mod:`repkpi.io.validation`: the data model's checks, references to
  accounts, unique keys, reports of failures.
- :mod:`repkpi.io.mapping`: a CRM's own exports translated into the tables.
- :mod:`repkpi.io.dask`: the Dask reader (imports Dask only when called).
- :mod:`repkpi.io.loading`: :class:`CrmData` and :func:`load`, which picks
  the reader.
"""

from __future__ import annotations

from repkpi.io.files import TABLES
from repkpi.io.loading import CrmData, load
from repkpi.io.validation import Errors

__all__ = ["TABLES", "CrmData", "Errors", "load"]
