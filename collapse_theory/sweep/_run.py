"""Running a sweep: one cell, and the whole grid (in-process or on Dask), resumably."""

from __future__ import annotations

import numbers
import os
import time
import traceback

import numpy as np

from .._progress import progress
from ._dask import _run_dask
from ._grid import (
    _RESERVED,
    TABLE_VARIABLES,
    _cell_key,
    cell_seed,
    load_grid,
    resolve_study,
)
from ._store import SweepStoreError, _attrs, _gather, _Store


def _curve_layout(curves: dict, ngen: int | None) -> dict:
    """name -> (dims, float array) for the numeric curves of a study."""
    out = {}
    for name, value in curves.items():
        if name == "generation":
            continue
        try:
            arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            continue  # not numeric: not part of the dataset
        var = f"curve_{name}" if name in _RESERVED else str(name)
        if arr.ndim >= 1 and ngen is not None and arr.shape[0] == ngen:
            dims = ("generation",) + tuple(f"{var}_dim_{k}" for k in range(1, arr.ndim))
        else:
            dims = tuple(f"{var}_dim_{k}" for k in range(arr.ndim))
        out[var] = (dims, arr)
    return out


def _run_cell(func, params: dict, seed: int, index: tuple) -> dict:
    """Run one cell of study ``func`` (resolved from the registry by the caller); never raises.

    A failure is returned as the record's ``error``.
    """
    import socket

    t0 = time.perf_counter()
    record = {"index": list(index), "status": "ok", "error": "", "host": f"{socket.gethostname()}:{os.getpid()}"}
    try:
        params = dict(params)
        if isinstance(params.get("mixing"), str):
            from ..process import Mixing

            params["mixing"] = Mixing.from_spec(params["mixing"])
        result = func(**params, rng=cell_seed(seed, index))
        table = result.table()
        record["quantities"] = [str(q) for q in table["quantity"]]
        record["table"] = {c: table[c].to_numpy(dtype=float) for c in TABLE_VARIABLES if c in table}
        curves = dict(getattr(result, "curves", {}) or {})
        gen = curves.get("generation")
        record["generation"] = None if gen is None else np.asarray(gen).astype(np.int64).ravel()
        ngen = None if gen is None else record["generation"].size
        record["curves"] = _curve_layout(curves, ngen)
    except Exception as exc:  # noqa: BLE001 - a cell's failure is data
        record["status"] = "error"
        tb = traceback.format_exc().strip().splitlines()
        record["error"] = f"{type(exc).__name__}: {exc} | " + " / ".join(tb[-3:])
    record["wall_s"] = time.perf_counter() - t0
    return record


def run(grid, out=None, *, scheduler=None, workers: int | None = None, retries: int = 2, show_progress=None):
    """Run a sweep and return its Dataset.

    Parameters
    ----------
    grid : str, Path, dict or Grid
        The grid (see :func:`load_grid`); validated before any work.
    out : str or Path, optional
        Zarr store (a directory). Each finished cell is written there at once;
        a store holding part of the same sweep is resumed. None: nothing is
        written (no resume).
    scheduler : str or distributed.Client, optional
        Address (``tcp://host:port``) or scheduler-file path of an existing
        Dask cluster, or a connected Client (left open). None: local.
    workers : int, optional
        Local worker processes (default: the machine's cores); 1 runs the
        cells in this process, without Dask.
    retries : int
        Dask retries of a cell whose task fails inside Dask (a study's own
        exceptions are recorded, not retried; a dead worker's cell is
        rescheduled by the scheduler).
    show_progress : bool, optional
        Progress bar over cells (default: on unless COLLAPSE_THEORY_PROGRESS=0).

    Returns
    -------
    xarray.Dataset
        Dimensions: the grid's axes, ``quantity`` and (where the study has
        one) ``generation``. Variables ``simulated``, ``ci_low``, ``ci_high``,
        ``theory``, ``p_value``, ``p_adjusted`` (axes..., quantity); the
        study's numeric curves (axes..., generation, ...; a curve whose name
        is taken, e.g. ``theory``, becomes ``curve_theory``); ``ok`` and
        ``error`` per cell (a cell never run reads 'not run'). Attributes:
        study, grid, seeds, versions, created, command, failed_cells.

    Examples
    --------
    >>> grid = {"study": "heterozygosity", "seed": 0, "replicates": 50,
    ...         "fixed": {"K": 2, "generations": 5}, "axes": {"M": [10, 20]}}
    >>> ds = run(grid, workers=1, show_progress=False)  # doctest: +SKIP
    >>> ds["theory"].sel(M=10, quantity="E heterozygosity, generation 5")  # doctest: +SKIP
    """
    grid = load_grid(grid)
    func = resolve_study(grid.study)
    if workers is not None:
        if isinstance(workers, bool) or not isinstance(workers, numbers.Integral) or workers < 1:
            raise ValueError(f"workers must be a positive integer, got {workers!r}")
    if isinstance(retries, bool) or not isinstance(retries, numbers.Integral) or retries < 0:
        raise ValueError(f"retries must be a non-negative integer, got {retries!r}")
    store = None if out is None else _Store(out, grid)

    cells = list(grid.cells())
    params_of = {_cell_key(idx): p for idx, p in cells}
    records: dict[str, dict] = {}
    done = store.done() if store is not None else {}
    todo = [(idx, p) for idx, p in cells if _cell_key(idx) not in done]

    def finish(record):
        key = _cell_key(record["index"])
        if store is not None:
            store.write(record, params_of[key])
        else:
            records[key] = record

    bar = progress(total=len(cells), desc=f"sweep {grid.study.rpartition(':')[2]}", unit="cell", show=show_progress)
    bar.update(len(cells) - len(todo))
    failed = 0
    try:
        n_local = workers if workers is not None else (os.cpu_count() or 1)
        if scheduler is None and (n_local <= 1 or len(todo) <= 1):
            for idx, p in todo:
                rec = _run_cell(func, p, grid.seed, idx)
                failed += rec["status"] != "ok"
                finish(rec)
                bar.update(1)
                bar.set_postfix(failed=failed)
        elif todo:
            failed = _run_dask(grid, func, todo, scheduler, n_local, retries, finish, bar)
    finally:
        bar.close()

    if store is not None:
        records = dict(done)
        for k in params_of:
            if k not in records and (store.path / "cells" / k).exists():
                try:
                    records[k] = store.read(k)
                except SweepStoreError:
                    pass  # damaged since it was written: gathered as not run, never published

    n_failed = sum(1 for k in params_of if k not in records or records[k]["status"] != "ok")
    ds = _gather(grid, records, _attrs(grid, n_failed))
    if store is not None:
        store.write_dataset(ds)
    return ds


