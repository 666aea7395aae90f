"""Sweep grids: validation against the study's signature, cells and their seeds.

Studies are named from a registry (:func:`available_studies`), never
imported from a string.
"""

from __future__ import annotations

import inspect
import math
import numbers
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tomllib

from .._provenance import to_jsonable

#: Table columns stored as variables with dimensions (axes..., quantity).
TABLE_VARIABLES = ("simulated", "ci_low", "ci_high", "theory", "p_value", "p_adjusted")

_TOP_KEYS = ("study", "seed", "replicates", "fixed", "axes", "description")
_RESERVED = set(TABLE_VARIABLES) | {"quantity", "generation", "error", "ok"}
_SCALARS = (bool, numbers.Integral, numbers.Real, str)


@dataclass(frozen=True)
class Grid:
    """A validated sweep grid.

    Attributes
    ----------
    study : str
        Name of a study in the registry (:func:`available_studies`).
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


#: Entry-point group in which an installed package declares its own studies.
ENTRY_POINT_GROUP = "collapse_theory.studies"

#: Studies registered from Python with :func:`register_study` (name -> function).
_REGISTERED: dict = {}


def _builtin_studies() -> dict:
    """The study functions of :mod:`collapse_theory.studies`, listed from its ``__all__``."""
    from .. import studies

    return {
        name: getattr(studies, name)
        for name in studies.__all__
        if not name.startswith("_") and inspect.isfunction(getattr(studies, name, None))
    }


def _entry_point_studies() -> dict:
    """name -> entry point, for the studies that installed packages declare in :data:`ENTRY_POINT_GROUP`."""
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def register_study(name: str, func) -> None:
    """Make ``func`` available to grids as ``study = name`` (in this process).

    A grid names a study; it never names code to import. The names it may
    use are the functions of :mod:`collapse_theory.studies`, the studies that
    installed packages declare in the entry-point group
    ``collapse_theory.studies`` (``[project.entry-points."collapse_theory.studies"]``
    in their ``pyproject.toml``), and those registered here.

    Parameters
    ----------
    name : str
        A name made of letters, digits, ``_`` and ``-``, not a built-in study's.
    func : callable
        A study: keyword parameters, a keyword ``rng``, returns a StudyResult.

    Raises
    ------
    ValueError
        ``name`` is not a plain name or is a built-in study's.
    TypeError
        ``func`` is not callable.
    """
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]*", name):
        raise ValueError(f"name must be a plain name (letters, digits, '_', '-'), got {name!r}")
    if name in _builtin_studies():
        raise ValueError(f"name {name!r} is a built-in study of collapse_theory.studies; choose another")
    if not callable(func):
        raise TypeError(f"func must be callable, got {type(func).__name__}")
    _REGISTERED[name] = func


def available_studies() -> list[str]:
    """Names a grid may give as ``study``: built-in, declared by installed packages, registered."""
    return sorted(set(_builtin_studies()) | set(_entry_point_studies()) | set(_REGISTERED))


def resolve_study(name: str):
    """The study function called ``name`` (see :func:`register_study`).

    Never imports a module named by the string: only the registry's names
    resolve.

    Raises
    ------
    TypeError
        ``name`` is not a non-empty string.
    ValueError
        ``name`` is not a registered study; the message lists those available.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"grid key 'study' must be a non-empty string, got {name!r}")
    builtin = _builtin_studies()
    if name in builtin:
        return builtin[name]
    if name in _REGISTERED:
        return _REGISTERED[name]
    declared = _entry_point_studies()
    if name in declared:
        try:
            func = declared[name].load()
        except Exception as exc:  # noqa: BLE001 - a broken plug-in is reported, not raised raw
            raise ValueError(
                f"grid key 'study': study {name!r} is declared by an installed package but cannot be loaded "
                f"({type(exc).__name__}: {exc})"
            ) from None
        if not callable(func):
            raise ValueError(f"grid key 'study': the entry point {name!r} is not callable")
        return func
    hint = " (grids name studies; they never import 'module:function')" if ":" in name else ""
    raise ValueError(
        f"grid key 'study': unknown study {name!r}{hint}; available: {', '.join(available_studies())}"
    )


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
    if key.rpartition(".")[2] == "mixing" and isinstance(value, str):
        from ..process import Mixing

        try:
            Mixing.from_spec(value)  # the cell passes Mixing.from_spec(value) to the study
        except (TypeError, ValueError) as exc:
            raise ValueError(f"grid key {key!r}: {exc}") from None
        return
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


