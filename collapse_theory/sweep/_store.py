"""The Zarr store of a sweep: one group per finished cell, each with a checksum.

Layout (Zarr format 3)::

    OUT/                  root: the gathered dataset, attributes grid, seeds,
                          versions, ..., and ``sha256`` of its arrays
    OUT/cells/cell_i_j    one group per finished cell: its table and curves,
                          attributes index, params, seed, status, error,
                          ``sha256`` of its arrays, and ``done`` (written last)

A cell counts as finished only if it is marked ``done`` and its arrays read
back whole with the checksum written beside them: a deleted, truncated or
altered chunk makes the cell unfinished, so :func:`~collapse_theory.sweep.run`
recomputes it, and :func:`open_sweep` reports it (:class:`SweepStoreError`)
rather than publish it.
"""

from __future__ import annotations

import hashlib
import json
import numbers
import shutil
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .._provenance import provenance, to_jsonable
from ._grid import TABLE_VARIABLES, Grid, _cell_key

_EXTRA_PACKAGES = ("dask", "distributed", "xarray", "zarr")


class SweepStoreError(ValueError):
    """A sweep store whose content does not match its checksums (or cannot be read back)."""


def dataset_digest(ds) -> str:
    """sha256 of a Dataset's variables and coordinates: names, dimensions, dtypes and values.

    Independent of the chunking and compression on disk, and of how strings
    come back (object or fixed width): text is hashed as JSON.
    """
    h = hashlib.sha256()
    for name in sorted(map(str, ds.variables)):
        var = ds.variables[name]
        arr = np.asarray(var.values)
        h.update(json.dumps([name, list(map(str, var.dims)), list(arr.shape)]).encode())
        if arr.dtype.kind in "biuf":
            h.update(arr.dtype.newbyteorder("<").str.encode())
            h.update(np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes())
        else:
            h.update(b"text")
            h.update(json.dumps([str(v) for v in arr.ravel()]).encode())
    return h.hexdigest()


def _load(ds_open, what: str):
    """Load a lazily opened dataset; a chunk that cannot be decoded becomes a SweepStoreError."""
    try:
        with _quiet():
            return ds_open().load()
    except SweepStoreError:
        raise
    except Exception as exc:  # noqa: BLE001 - zstd, zarr and xarray each raise their own kinds
        raise SweepStoreError(f"{what} cannot be read back ({type(exc).__name__}: {exc})") from None


@contextmanager
def _quiet():
    """Silence zarr's notes about format-3 extensions (strings, consolidated metadata)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Zarr V3 specification.*")
        warnings.filterwarnings("ignore", message=".*Consolidated metadata.*")
        warnings.filterwarnings("ignore", category=FutureWarning, module="zarr")
        yield


class _Store:
    """The Zarr store of a sweep: grid in the root attributes, one group per finished cell."""

    def __init__(self, path, grid: Grid):
        import zarr

        self.path = Path(path)
        self.grid = grid
        want = json.loads(json.dumps(grid.to_dict()))
        if self.path.exists():
            try:
                root = zarr.open_group(str(self.path), mode="r")
                have = root.attrs.asdict().get("grid")
            except Exception as exc:  # noqa: BLE001
                raise ValueError(f"out {str(self.path)!r} exists and is not a sweep store ({exc})") from None
            if have is None:
                raise ValueError(f"out {str(self.path)!r} exists and is not a sweep store (no 'grid' attribute)")
            if have != want:
                raise ValueError(
                    f"out {str(self.path)!r} holds a sweep of another grid; choose another --out or delete it"
                )
        else:
            root = zarr.open_group(str(self.path), mode="w", zarr_format=3)
            root.attrs.update({"grid": want, "status": "running"})

    def done(self) -> dict:
        """key -> record of the cells finished without error whose checksum matches.

        A cell whose arrays are missing, truncated or altered is deleted here,
        so that it is run again.
        """
        cells = self.path / "cells"
        out = {}
        if not cells.exists():
            return out
        for child in sorted(cells.iterdir()):
            if not child.name.startswith("cell_"):
                continue
            try:
                record = self.read(child.name)
            except SweepStoreError:
                shutil.rmtree(child, ignore_errors=True)  # damaged: recomputed by the caller
                continue
            if record["status"] == "ok":
                out[child.name] = record
        return out

    def write(self, record: dict, params: dict) -> None:
        """Write one cell: arrays first, the ``done`` mark last."""
        import zarr

        key = _cell_key(record["index"])
        ds = _record_to_dataset(record)
        attrs = {
            "index": record["index"],
            "params": to_jsonable(params),
            "seed": {"entropy": self.grid.seed, "spawn_key": record["index"]},
            "status": record["status"],
            "error": record["error"],
            "host": record.get("host", ""),
            "wall_s": record.get("wall_s", float("nan")),
        }
        attrs["sha256"] = dataset_digest(ds)  # written with the arrays, before ``done``
        ds.attrs = to_jsonable(attrs)
        with _quiet():
            ds.to_zarr(str(self.path), group=f"cells/{key}", mode="w", consolidated=False, zarr_format=3)
        zarr.open_group(str(self.path), path=f"cells/{key}", mode="r+").attrs["done"] = True

    def write_dataset(self, ds) -> None:
        """Write the gathered dataset at the root, replacing an earlier one (the cells stay)."""
        import zarr

        root = zarr.open_group(str(self.path), mode="r+")
        for name in list(root.array_keys()):
            del root[name]
        ds = ds.copy()
        ds.attrs["sha256"] = dataset_digest(ds)
        with _quiet():
            ds.to_zarr(str(self.path), mode="a", consolidated=True, zarr_format=3)

    def read(self, key: str) -> dict:
        """The record of finished cell ``key``; SweepStoreError if it is not done or does not match its checksum."""
        import xarray as xr

        what = f"sweep store {str(self.path)!r}, cell {key}"
        ds = _load(lambda: xr.open_zarr(str(self.path), group=f"cells/{key}", consolidated=False), what)
        _check(ds, what)
        return _dataset_to_record(ds)


def _check(ds, what: str) -> None:
    """Raise SweepStoreError unless ``ds`` is marked done and its arrays match its ``sha256``."""
    if not ds.attrs.get("done"):
        raise SweepStoreError(f"{what} is not finished")
    want = ds.attrs.get("sha256")
    if want is None:
        raise SweepStoreError(f"{what} has no checksum (written by an older version, or interrupted)")
    if dataset_digest(ds) != want:
        raise SweepStoreError(f"{what}: the arrays do not match their checksum (a chunk was altered or lost)")


def _record_to_dataset(record: dict):
    import xarray as xr

    if record["status"] != "ok":
        return xr.Dataset()
    coords = {"quantity": np.array(record["quantities"], dtype=object)}
    if record.get("generation") is not None:
        coords["generation"] = np.asarray(record["generation"], dtype=np.int64)
    data = {c: ("quantity", np.asarray(v, dtype=float)) for c, v in record["table"].items()}
    for name, (dims, arr) in record["curves"].items():
        data[name] = (dims, np.asarray(arr, dtype=float))
    return xr.Dataset(data, coords=coords)


def _dataset_to_record(ds) -> dict:
    attrs = dict(ds.attrs)
    record = {
        "index": list(attrs.get("index", [])),
        "status": attrs.get("status", "ok"),
        "error": attrs.get("error", ""),
    }
    if record["status"] != "ok":
        return record
    record["quantities"] = [str(q) for q in ds["quantity"].values]
    record["table"] = {c: ds[c].values for c in TABLE_VARIABLES if c in ds}
    record["generation"] = ds["generation"].values if "generation" in ds.coords else None
    record["curves"] = {
        name: (tuple(ds[name].dims), ds[name].values) for name in ds.data_vars if name not in TABLE_VARIABLES
    }
    return record


def _coord_values(values: tuple) -> np.ndarray:
    if all(isinstance(v, str) for v in values):
        return np.array(values, dtype=object)
    if all(isinstance(v, bool) for v in values):
        return np.array(values, dtype=bool)
    if all(isinstance(v, numbers.Integral) for v in values):
        return np.array(values, dtype=np.int64)
    return np.array(values, dtype=float)


def _gather(grid: Grid, records: dict, attrs: dict):
    """One Dataset from the per-cell records (key -> record), in grid order."""
    import xarray as xr

    axes = list(grid.axes)
    shape = grid.shape
    ordered = [records.get(_cell_key(idx)) for idx, _ in grid.cells()]
    oks = [r for r in ordered if r is not None and r["status"] == "ok"]

    quantities: list[str] = []
    for r in oks:
        for q in r["quantities"]:
            if q not in quantities:
                quantities.append(q)
    qpos = {q: i for i, q in enumerate(quantities)}
    gens = sorted({int(g) for r in oks if r.get("generation") is not None for g in r["generation"]})
    gpos = {g: i for i, g in enumerate(gens)}

    # Curve variables: dims from the first cell that has them, other lengths padded with NaN.
    curve_dims: dict[str, tuple] = {}
    dim_len: dict[str, int] = {}
    for r in oks:
        for name, (dims, arr) in r["curves"].items():
            curve_dims.setdefault(name, tuple(dims))
            for d, n in zip(dims, np.shape(arr)):
                if d != "generation":
                    dim_len[d] = max(dim_len.get(d, 0), n)

    def full(extra):
        return np.full(shape + tuple(extra), np.nan)

    table = {c: full((len(quantities),)) for c in TABLE_VARIABLES}
    curves = {}
    for name, dims in curve_dims.items():
        curves[name] = full(len(gens) if d == "generation" else dim_len[d] for d in dims)
    error = np.full(shape, "", dtype=object)
    ok = np.zeros(shape, dtype=bool)
    for (idx, _), r in zip(grid.cells(), ordered):
        if r is None:
            error[idx] = "not run"
            continue
        if r["status"] != "ok":
            error[idx] = r["error"] or "failed"
            continue
        ok[idx] = True
        qi = [qpos[q] for q in r["quantities"]]
        for c, v in r["table"].items():
            table[c][idx + (qi,)] = v
        gi = None if r.get("generation") is None else [gpos[int(g)] for g in r["generation"]]
        for name, (dims, arr) in r["curves"].items():
            if tuple(dims) != curve_dims[name]:
                continue
            sel = tuple(gi if d == "generation" else slice(0, n) for d, n in zip(dims, np.shape(arr)))
            curves[name][idx + sel] = arr

    coords = {name: _coord_values(values) for name, values in grid.axes.items()}
    coords["quantity"] = np.array(quantities, dtype=object)
    if gens:
        coords["generation"] = np.array(gens, dtype=np.int64)
    data = {c: (tuple(axes) + ("quantity",), v) for c, v in table.items()}
    for name, dims in curve_dims.items():
        data[name] = (tuple(axes) + dims, curves[name])
    data["ok"] = (tuple(axes), ok)
    data["error"] = (tuple(axes), error)
    ds = xr.Dataset(data, coords=coords, attrs=attrs)
    ds["ok"].attrs["description"] = "the cell finished without error"
    ds["error"].attrs["description"] = "the cell's error ('' if none)"
    for c in TABLE_VARIABLES:
        ds[c].attrs["description"] = f"study table column {c!r}, one entry per quantity"
    return ds


def _attrs(grid: Grid, n_failed: int) -> dict:
    rec = provenance(grid.to_dict(), seed=grid.seed, extra_packages=_EXTRA_PACKAGES)
    return to_jsonable(
        {
            "study": grid.study,
            "grid": grid.to_dict(),
            "seeds": {
                "sweep_seed": grid.seed,
                "scheme": "cell (i_1..i_k) runs with numpy.random.SeedSequence(sweep_seed, spawn_key=(i_1..i_k)), "
                "i_j its index along axis j",
                "axes_order": list(grid.axes),
            },
            "versions": rec["versions"],
            "created": rec["created"],
            "command": rec["command"] or "",
            "failed_cells": n_failed,
            "status": "complete" if n_failed == 0 else "complete with failed cells",
        }
    )


def open_sweep(path, *, verify: bool = True):
    """Open a sweep store as an :class:`xarray.Dataset` (with its provenance attributes).

    Parameters
    ----------
    path : str or Path
        The store (the ``out`` of :func:`~collapse_theory.sweep.run`).
    verify : bool
        Read every array and compare it with the checksum written beside it
        (the dataset is then in memory). False opens lazily, unchecked.

    Returns
    -------
    xarray.Dataset

    Raises
    ------
    SweepStoreError
        A chunk is missing, truncated or altered (run the sweep again on the
        same store to recompute what was damaged), or ``path`` is not a store.
    """
    import xarray as xr

    path = Path(path)
    what = f"sweep store {str(path)!r}"
    if not (path / "zarr.json").is_file():
        raise SweepStoreError(f"{what} is not a sweep store (no zarr.json)")
    if not verify:
        with _quiet():
            return xr.open_zarr(str(path), consolidated=True)
    ds = _load(lambda: xr.open_zarr(str(path), consolidated=True), what)
    want = ds.attrs.get("sha256")
    if want is None:
        raise SweepStoreError(f"{what} has no checksum: the sweep did not finish, or an older version wrote it")
    got = dataset_digest(ds)
    if got != want:
        raise SweepStoreError(
            f"{what}: the gathered arrays do not match their checksum (a chunk was altered or lost); "
            "run the sweep again with the same --out to rebuild it from its cells"
        )
    ds.attrs.pop("sha256")
    return ds


def failed_cells(ds):
    """(coordinates, errors) of the cells of ``ds`` that did not finish: two lists of str."""
    err = ds["error"].values
    names = list(ds["error"].dims)
    keys, msgs = [], []
    for idx in zip(*np.nonzero(~ds["ok"].values)):
        keys.append(", ".join(f"{n}={ds[n].values[i]}" for n, i in zip(names, idx)))
        msgs.append(str(err[idx]))
    return keys, msgs
