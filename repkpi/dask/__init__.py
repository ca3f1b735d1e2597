"""The Dask engine: the tables as Dask DataFrames, and the KPIs run on the workers.

- :mod:`repkpi.dask.reader`: ``load(path, engine="dask")``, validation on
  the partitions, :class:`~repkpi.dask.reader.DaskCrmData`.
- :mod:`repkpi.dask.executor`: the KPIs, :func:`repkpi.detail` and the rows
  a caller gathers, on that data.

Both import Dask at their top, and are loaded only when first needed:
:func:`repkpi.load` imports the reader when ``engine="dask"`` asks for it,
and the executor lookup (:func:`repkpi.kpis.registry.executor_for`) loads
the executor on its first miss, once Dask data exists. Nothing else in
``repkpi`` imports this package: ``import repkpi`` costs no Dask.
"""

__all__: list[str] = []
