"""Parameter sweeps of the studies, from a laptop to a Dask cluster.

A sweep runs one study of :mod:`collapse_theory.studies` on every cell of a
grid (the Cartesian product of the values given for some of its parameters),
and gathers the cells' tables and curves into one :class:`xarray.Dataset`
stored in Zarr (format 3), which the PyData ecosystem opens directly
(``xarray.open_zarr``).

The grid is a TOML file (or the same structure as a dict)::

    study = "mitigation"          # a study named in the registry
    seed = 0                      # the sweep seed
    replicates = 400              # passed to the study's ``replicates``

    [fixed]                       # parameters shared by every cell
    generations = 60

    [axes]                        # one dimension per parameter, in order
    M = [10, 20, 50]
    gamma = [0.0, 0.1, 0.3]

Studies come from a registry, never from a string naming code: the
functions of :mod:`collapse_theory.studies`, the studies installed packages
declare in the entry-point group ``collapse_theory.studies``, and those
registered with :func:`register_study` (:func:`available_studies` lists
them). A parameter ``mixing`` may be given as a spec string
(``"fresh:0.1"``, ``"accumulate"``: :meth:`~collapse_theory.process.Mixing.from_spec`).

The grid is validated before any work: the study must exist, every name must
be a parameter of its signature (:func:`inspect.signature`), every axis must
be a non-empty list of distinct scalars whose type fits the parameter, and the
study's required parameters must all be given; the error names the offending
key.

Seeds. Cell ``(i_1, ..., i_k)`` (its indices along the axes) runs with
``rng = numpy.random.SeedSequence(seed, spawn_key=(i_1, ..., i_k))``: its
result depends only on the sweep seed and its position, never on which
worker ran it or in which order.

Nothing is lost. With a store (``out``), the root group's attributes record
the grid when the sweep starts, and each finished cell is written at once to
``cells/<key>`` (a small Zarr group with the sha256 of its arrays, marked
``done`` last). A sweep started again on the same store skips the finished
cells whose arrays match their checksum, recomputes the others (a lost,
truncated or altered chunk), and ends with the same dataset as an
uninterrupted run; a store made by another grid is refused.
:func:`open_sweep` checks the gathered arrays against their checksum and
raises :class:`SweepStoreError` rather than return damaged values.
On a Dask cluster, a cell whose worker dies is rescheduled on another worker
(and retried ``retries`` times if it raises inside Dask); a cell whose study
raises records the error (variable ``error``) and the other cells finish.

Execution is in-process for one worker, on a :class:`distributed.LocalCluster`
of ``workers`` processes otherwise (default: the machine's cores), or on an
existing cluster given by its scheduler address (``tcp://host:port``) or
scheduler file. Extra ``[sweep]``: dask, distributed, xarray, zarr.

Module map
----------
``_grid.py``   the grid, the study registry, cell seeds
``_store.py``  the Zarr store, checksums, gathering
``_dask.py``   Dask clusters (a LocalCluster, or an existing one)
``_run.py``    one cell, and the whole sweep
"""


from __future__ import annotations

from ._grid import (
    ENTRY_POINT_GROUP,
    TABLE_VARIABLES,
    Grid,
    available_studies,
    cell_seed,
    load_grid,
    register_study,
    resolve_study,
)
from ._run import run
from ._store import (
    SweepStoreError,
    _Store,  # noqa: F401 - used by the tests to inspect a store
    dataset_digest,
    failed_cells,
    open_sweep,
)

__all__ = [
    "Grid",
    "load_grid",
    "resolve_study",
    "available_studies",
    "register_study",
    "cell_seed",
    "run",
    "open_sweep",
    "failed_cells",
    "dataset_digest",
    "SweepStoreError",
    "TABLE_VARIABLES",
    "ENTRY_POINT_GROUP",
]
