"""Files to validated tables: discovery, parsing, validation, CRM mappings and the Dask reader."""

from __future__ import annotations

from repkpi.io.loading import TABLES, CrmData, Errors, load

__all__ = ["TABLES", "CrmData", "Errors", "load"]
