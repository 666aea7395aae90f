"""Parameter sweeps of the studies, from a laptop to a Dask cluster.

A sweep runs one study of :mod:`collapse_theory.studies` on every cell of a
grid (the Cartesian product of the values given for some of its parameters),
and gathers the cells' tables and curves into one :class:`xarray.Dataset`
stored in Zarr (format 3), which the PyData ecosystem opens directly
(``xarray.open_zarr``).

The grid is a TOML file (or the same structure as a dict)::

    study = "mitigation"          # a function of collapse_theory.studies,
                                  # or an importable "module:function"
    seed = 0                      # the sweep seed
    replicates = 400              # passed to the study's ``replicates``

    [fixed]                       # parameters shared by every cell
    generations = 60

    [axes]                        # one dimension per parameter, in order
    M = [10, 20, 50]
    gamma = [0.0, 0.1, 0.3]

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
``cells/<key>`` (a small Zarr group, marked ``done`` last). A sweep started
again on the same store skips the finished cells and ends with the same
dataset as an uninterrupted run; a store made by another grid is refused.
On a Dask cluster, a cell whose worker dies is rescheduled on another worker
(and retried ``retries`` times if it raises inside Dask); a cell whose study
raises records the error (variable ``error``) and the other cells finish.

Execution is in-process for one worker, on a :class:`distributed.LocalCluster`
of ``workers`` processes otherwise (default: the machine's cores), or on an
existing cluster given by its scheduler address (``tcp://host:port``) or
scheduler file. Extra ``[sweep]``: dask, distributed, xarray, zarr.
"""

from __future__ import annotations

import importlib
import inspect
import json
import math
import numbers
import os
import re
import time
import tomllib
import traceback
import uuid
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._progress import progress
from ._provenance import provenance, to_jsonable

__all__ = ["Grid", "load_grid", "resolve_study", "available_studies", "cell_seed", "run", "open_sweep", "failed_cells", "TABLE_VARIABLES"]

#: Table columns stored as variables with dimensions (axes..., quantity).
TABLE_VARIABLES = ("simulated", "ci_low", "ci_high", "theory", "p_value", "p_adjusted")

_TOP_KEYS = ("study", "seed", "replicates", "fixed", "axes", "description")
_RESERVED = set(TABLE_VARIABLES) | {"quantity", "generation", "error", "ok"}
_SCALARS = (bool, numbers.Integral, numbers.Real, str)
_EXTRA_PACKAGES = ("dask", "distributed", "xarray", "zarr")


# --------------------------------------------------------------------- grid


@dataclass(frozen=True)
class Grid:
    """A validated sweep grid.

    Attributes
    ----------
    study : str
        Name of a function of :mod:`collapse_theory.studies`, or ``"module:function"``.
    axes : dict of str to tuple
        Parameter name -> its values, in dimension order.
    fixed : dict
        Parameters shared by every cell.
    seed : int
        The sweep seed.
    replicates : int or None
        Passed as the study's ``replicates`` (None: the study's default).
    description : str
    """

    study: str
    axes: dict
    fixed: dict = field(default_factory=dict)
    seed: int = 0
    replicates: int | None = None
    description: str = ""

    @property
    def shape(self) -> tuple[int, ...]:
        """Number of values along each axis."""
        return tuple(len(v) for v in self.axes.values())

    @property
    def size(self) -> int:
        """Number of cells."""
        return math.prod(self.shape)

    def cells(self):
        """Yield ``(index, params)`` for every cell, in C order; ``params`` holds fixed and axis values."""
        names = list(self.axes)
        for index in np.ndindex(*self.shape):
            params = dict(self.fixed)
            if self.replicates is not None:
                params["replicates"] = self.replicates
            for name, i in zip(names, index):
                params[name] = self.axes[name][i]
            yield tuple(int(i) for i in index), params

    def to_dict(self) -> dict:
        """The grid as JSON-able data (the TOML structure)."""
        out = {"study": self.study, "seed": self.seed}
        if self.replicates is not None:
            out["replicates"] = self.replicates
        out["fixed"] = to_jsonable(self.fixed)
        out["axes"] = {k: to_jsonable(list(v)) for k, v in self.axes.items()}
        if self.description:
            out["description"] = self.description
        return out


def resolve_study(name: str):
    """The study function called ``name`` (see :class:`Grid`); ValueError if there is none."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"grid key 'study' must be a non-empty string, got {name!r}")
    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            func = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"grid key 'study': cannot import {name!r} ({exc})") from None
    else:
        from . import studies

        func = getattr(studies, name, None)
        if func is None or not inspect.isfunction(func) or name.startswith("_"):
            raise ValueError(f"grid key 'study': unknown study {name!r}; available: {', '.join(available_studies())}")
    if not callable(func):
        raise ValueError(f"grid key 'study': {name!r} is not callable")
    return func


def available_studies() -> list[str]:
    """Names of the study functions in :mod:`collapse_theory.studies`."""
    from . import studies

    names = getattr(studies, "__all__", dir(studies))
    return sorted(n for n in names if not n.startswith("_") and inspect.isfunction(getattr(studies, n, None)))


def _annotation_types(annotation) -> set:
    """Scalar kinds ('int', 'float', 'str', 'bool') named by an annotation; empty set if none is clear."""
    if annotation is inspect.Parameter.empty:
        return set()
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    words = set(re.findall(r"[A-Za-z_][A-Za-z_0-9.]*", text))
    kinds = words & {"int", "float", "str", "bool"}
    # Anything else in the annotation (arrays, objects, schedules) may accept other values: do not judge.
    others = words - kinds - {"None", "Optional", "Union", "numbers", "Integral", "Real"}
    return set() if others else kinds


def _fits(value, kinds: set) -> bool:
    if isinstance(value, bool):
        return "bool" in kinds
    if isinstance(value, numbers.Integral):
        return bool(kinds & {"int", "float"})
    if isinstance(value, numbers.Real):
        return "float" in kinds
    if isinstance(value, str):
        return "str" in kinds
    return False


def _expected_kinds(param: inspect.Parameter) -> set:
    kinds = _annotation_types(param.annotation)
    if kinds or param.annotation is not inspect.Parameter.empty:
        return kinds
    default = param.default
    if default is inspect.Parameter.empty or default is None:
        return set()
    if isinstance(default, bool):
        return {"bool"}
    if isinstance(default, numbers.Integral):
        return {"int"}
    if isinstance(default, numbers.Real):
        return {"float"}
    if isinstance(default, str):
        return {"str"}
    return set()


def _check_value(key: str, value, param: inspect.Parameter | None) -> None:
    if param is None:
        return
    kinds = _expected_kinds(param)
    if not kinds or not isinstance(value, _SCALARS):
        return
    if not _fits(value, kinds):
        raise TypeError(
            f"grid key {key!r}: value {value!r} of type {type(value).__name__} does not fit parameter "
            f"{param.name!r} (expects {' or '.join(sorted(kinds))})"
        )


def load_grid(source) -> Grid:
    """Read and validate a grid before any work.

    Parameters
    ----------
    source : str, Path, dict or Grid
        A TOML file, its parsed content, or a Grid (validated again).

    Returns
    -------
    Grid

    Raises
    ------
    ValueError, TypeError
        Naming the offending key: unknown study or parameter, empty axis,
        repeated value, wrong type, missing required parameter.
    FileNotFoundError
        If the TOML file does not exist.
    """
    if isinstance(source, Grid):
        data = source.to_dict()
    elif isinstance(source, dict):
        data = dict(source)
    elif isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"grid file {str(path)!r} does not exist")
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"grid file {str(path)!r} is not valid TOML: {exc}") from None
    else:
        raise TypeError(f"grid must be a TOML path, a dict or a Grid, got {type(source).__name__}")

    unknown = sorted(set(data) - set(_TOP_KEYS))
    if unknown:
        raise ValueError(f"grid key {unknown[0]!r} is not recognised; accepted top-level keys: {', '.join(_TOP_KEYS)}")
    if "study" not in data:
        raise ValueError("grid key 'study' is missing")
    study = data["study"]
    func = resolve_study(study)
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError) as exc:  # pragma: no cover - builtins only
        raise ValueError(f"grid key 'study': cannot read the signature of {study!r} ({exc})") from None
    params = {n: p for n, p in sig.parameters.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    takes_any = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())

    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"grid key 'seed' must be a non-negative integer, got {seed!r}")
    if seed < 0:
        raise ValueError(f"grid key 'seed' must be a non-negative integer, got {seed}")

    replicates = data.get("replicates")
    if replicates is not None:
        if isinstance(replicates, bool) or not isinstance(replicates, numbers.Integral):
            raise TypeError(f"grid key 'replicates' must be a positive integer, got {replicates!r}")
        if replicates < 1:
            raise ValueError(f"grid key 'replicates' must be a positive integer, got {replicates}")
        if "replicates" not in params and not takes_any:
            raise ValueError(f"grid key 'replicates': study {study!r} has no parameter 'replicates'")

    fixed = data.get("fixed", {})
    axes = data.get("axes", {})
    for key, table in (("fixed", fixed), ("axes", axes)):
        if not isinstance(table, dict):
            raise TypeError(f"grid key {key!r} must be a table of parameter = value, got {type(table).__name__}")
    if not axes:
        raise ValueError("grid key 'axes' must name at least one parameter with its values")

    description = data.get("description", "")
    if not isinstance(description, str):
        raise TypeError(f"grid key 'description' must be a string, got {description!r}")

    def check_name(key: str, name: str) -> inspect.Parameter | None:
        if name == "rng":
            raise ValueError(f"grid key {key!r}: 'rng' is derived from the sweep seed and the cell; set 'seed' instead")
        if name in _RESERVED:
            raise ValueError(f"grid key {key!r}: {name!r} is a reserved name in the sweep dataset")
        if name not in params and not takes_any:
            raise ValueError(
                f"grid key {key!r}: study {study!r} has no parameter {name!r}; its parameters: "
                f"{', '.join(n for n in params if n != 'rng')}"
            )
        if name == "replicates" and replicates is not None:
            raise ValueError(f"grid key {key!r}: 'replicates' is also given at the top level")
        return params.get(name)

    for name, value in fixed.items():
        param = check_name(f"fixed.{name}", name)
        _check_value(f"fixed.{name}", value, param)

    clean_axes = {}
    for name, values in axes.items():
        key = f"axes.{name}"
        if name in fixed:
            raise ValueError(f"grid key {key!r}: {name!r} is also in 'fixed'")
        param = check_name(key, name)
        if not isinstance(values, list):
            raise TypeError(f"grid key {key!r} must be a list of values, got {values!r}")
        if not values:
            raise ValueError(f"grid key {key!r} is an empty axis: give at least one value")
        for v in values:
            if not isinstance(v, _SCALARS):
                raise TypeError(f"grid key {key!r}: axis values must be numbers, strings or booleans, got {v!r}")
            _check_value(key, v, param)
        kinds = {"str" if isinstance(v, str) else "bool" if isinstance(v, bool) else "num" for v in values}
        if len(kinds) > 1:
            raise TypeError(f"grid key {key!r}: mixes values of different types {values!r}")
        if len({(type(v) is str, v) for v in values}) < len(values):
            raise ValueError(f"grid key {key!r}: repeated values in {values!r}")
        clean_axes[name] = tuple(values)

    given = set(fixed) | set(clean_axes) | ({"replicates"} if replicates is not None else set())
    missing = [
        n
        for n, p in params.items()
        if p.default is inspect.Parameter.empty and n != "rng" and n not in given
    ]
    if missing:
        raise ValueError(f"grid key 'fixed.{missing[0]}': required parameter {missing[0]!r} of study {study!r} is not given")
    if "rng" not in params and not takes_any:
        raise ValueError(f"grid key 'study': {study!r} takes no keyword 'rng', so its cells cannot be seeded")

    return Grid(
        study=study,
        axes=clean_axes,
        fixed=dict(fixed),
        seed=int(seed),
        replicates=None if replicates is None else int(replicates),
        description=description,
    )


def cell_seed(seed: int, index) -> np.random.SeedSequence:
    """The SeedSequence of the cell at ``index`` (its positions along the axes).

    .. math:: \\mathrm{rng}_{i_1 \\dots i_k} = \\mathrm{SeedSequence}(s, \\mathrm{spawn\\_key}=(i_1, \\dots, i_k))

    Independent of scheduling: the same sweep seed and position give the same
    stream on any worker.
    """
    return np.random.SeedSequence(int(seed), spawn_key=tuple(int(i) for i in index))


def _cell_key(index) -> str:
    return "cell_" + "_".join(str(int(i)) for i in index)


# ---------------------------------------------------------------- one cell


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


def _run_cell(study: str, params: dict, seed: int, index: tuple) -> dict:
    """Run one cell; never raises (a failure is returned as the record's ``error``)."""
    import socket

    t0 = time.perf_counter()
    record = {"index": list(index), "status": "ok", "error": "", "host": f"{socket.gethostname()}:{os.getpid()}"}
    try:
        func = resolve_study(study)
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


# -------------------------------------------------------------- the store


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
        """key -> record of the cells finished without error."""
        import zarr

        cells = self.path / "cells"
        out = {}
        if not cells.exists():
            return out
        for child in sorted(cells.iterdir()):
            if not child.name.startswith("cell_"):
                continue
            try:
                attrs = zarr.open_group(str(self.path), path=f"cells/{child.name}", mode="r").attrs.asdict()
            except Exception:  # noqa: BLE001 - a half-written cell is simply not done
                continue
            if attrs.get("done") and attrs.get("status") == "ok":
                out[child.name] = attrs
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
        with _quiet():
            ds.to_zarr(str(self.path), mode="a", consolidated=True, zarr_format=3)

    def read(self, key: str) -> dict:
        import xarray as xr

        with _quiet():
            ds = xr.open_zarr(str(self.path), group=f"cells/{key}", consolidated=False).load()
        return _dataset_to_record(ds)


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


# ---------------------------------------------------------------- gathering


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


# ------------------------------------------------------------------ running


def _client(scheduler, workers: int):
    """(client, owned) for a Client, an address / scheduler file, or a new LocalCluster.

    ``owned`` is what to close at the end: False (the caller's Client), None
    (a client of an existing cluster) or the LocalCluster started here.
    """
    from distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        return scheduler, False
    if scheduler is not None:
        if isinstance(scheduler, (str, Path)) and Path(scheduler).is_file():
            return Client(scheduler_file=str(scheduler)), None
        return Client(str(scheduler)), None
    cores = os.cpu_count() or 1
    threads = max(1, cores // workers)
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        env={"NUMBA_NUM_THREADS": str(threads)},
    )
    return Client(cluster), cluster


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
                rec = _run_cell(grid.study, p, grid.seed, idx)
                failed += rec["status"] != "ok"
                finish(rec)
                bar.update(1)
                bar.set_postfix(failed=failed)
        elif todo:
            failed = _run_dask(grid, todo, scheduler, n_local, retries, finish, bar)
    finally:
        bar.close()

    if store is not None:
        records = {k: store.read(k) for k in params_of if (store.path / "cells" / k).exists()}
    n_failed = sum(1 for k in params_of if k not in records or records[k]["status"] != "ok")
    ds = _gather(grid, records, _attrs(grid, n_failed))
    if store is not None:
        store.write_dataset(ds)
    return ds


def _run_dask(grid: Grid, todo, scheduler, n_local: int, retries: int, finish, bar) -> int:
    from distributed import as_completed

    client, cluster = _client(scheduler, n_local)
    # Task keys name the cell (readable on the dashboard) and this call: a key
    # reused by a second sweep of the same grid on the same cluster races the
    # release of the first call's futures, and the scheduler can forget the
    # new task (seen as a hang). Results do not depend on keys: seeds come
    # from the cell's coordinates.
    token = uuid.uuid4().hex[:12]
    failed = 0
    futures = {}
    try:
        for idx, p in todo:
            fut = client.submit(
                _run_cell,
                grid.study,
                p,
                grid.seed,
                idx,
                key=f"sweep-{_cell_key(idx)}-{token}",
                retries=retries,
                pure=False,
            )
            futures[fut] = idx
        # results travel with the completion events (no round trip per cell)
        for fut, rec in as_completed(list(futures), with_results=True, raise_errors=False):
            idx = futures[fut]
            if isinstance(rec, BaseException) or fut.status == "error":
                # e.g. KilledWorker after the cell's workers died repeatedly
                exc = rec if isinstance(rec, BaseException) else fut.exception()
                rec = {"index": list(idx), "status": "error", "error": f"{type(exc).__name__}: {exc}"}
            failed += rec["status"] != "ok"
            finish(rec)
            bar.update(1)
            bar.set_postfix(failed=failed)
    finally:
        for fut in futures:
            if not fut.done():
                fut.cancel()
        if cluster is not False:
            client.close()
        if cluster is not None and cluster is not False:
            cluster.close()
    return failed


def open_sweep(path):
    """Open a sweep store as an :class:`xarray.Dataset` (lazily, with its provenance attributes)."""
    import xarray as xr

    with _quiet():
        return xr.open_zarr(str(path), consolidated=True)


def failed_cells(ds):
    """(coordinates, errors) of the cells of ``ds`` that did not finish: two lists of str."""
    err = ds["error"].values
    names = list(ds["error"].dims)
    keys, msgs = [], []
    for idx in zip(*np.nonzero(~ds["ok"].values)):
        keys.append(", ".join(f"{n}={ds[n].values[i]}" for n, i in zip(names, idx)))
        msgs.append(str(err[idx]))
    return keys, msgs
