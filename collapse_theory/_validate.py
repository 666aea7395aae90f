"""Input checks shared by the public API.

Each check raises :class:`TypeError` (wrong kind of value) or
:class:`ValueError` (right kind, out of range) with a message that names the
parameter, the value received and what is accepted. Kernels never validate:
their public wrappers call these first. No ``assert`` (gone under ``-O``).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable

import numpy as np

__all__ = [
    "check_int",
    "check_float",
    "check_choice",
    "check_names",
    "check_array",
    "check_probability_vector",
    "check_weights",
    "check_covariance",
    "finite_result",
    "check_pvalues",
    "check_str",
    "check_instance",
    "check_path",
    "check_int_array",
    "check_runs",
    "check_vector",
    "check_contamination",
    "check_count_array",
]


def _short(value, limit=60):
    if isinstance(value, np.generic):  # 1.1, not np.float64(1.1)
        value = value.item()
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_int(name: str, value, *, min: int | None = None, max: int | None = None) -> int:
    """An integer (Python or NumPy, not bool, not float) within [min, max]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {_short(value)} of type {type(value).__name__}")
    value = int(value)
    if min is not None and value < min:
        raise ValueError(f"{name} must be >= {min}, got {value}")
    if max is not None and value > max:
        raise ValueError(f"{name} must be <= {max}, got {value}")
    return value


def check_float(
    name: str,
    value,
    *,
    min: float | None = None,
    max: float | None = None,
    min_inclusive: bool = True,
    max_inclusive: bool = True,
) -> float:
    """A finite real number within the given bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {_short(value)} of type {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if min is not None and (value < min or (value == min and not min_inclusive)):
        op = ">=" if min_inclusive else ">"
        raise ValueError(f"{name} must be {op} {min}, got {value}")
    if max is not None and (value > max or (value == max and not max_inclusive)):
        op = "<=" if max_inclusive else "<"
        raise ValueError(f"{name} must be {op} {max}, got {value}")
    return value


def check_choice(name: str, value, choices: Iterable[str]) -> str:
    """One of a fixed set of strings."""
    choices = tuple(choices)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {choices}, got {_short(value)}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def check_names(name: str, values, allowed: Iterable[str]) -> tuple[str, ...]:
    """A string or a sequence of strings, each in ``allowed``; duplicates dropped, order kept."""
    allowed = tuple(allowed)
    if isinstance(values, str):
        values = (values,)
    try:
        values = tuple(values)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of names from {allowed}, got {_short(values)}") from None
    out = []
    for v in values:
        if not isinstance(v, str):
            raise TypeError(f"{name} must contain names (str) from {allowed}, got {_short(v)}")
        if v not in allowed:
            raise ValueError(f"{name}: unknown name {v!r}; accepted: {allowed}")
        if v not in out:
            out.append(v)
    return tuple(out)


def check_array(
    name: str,
    value,
    *,
    ndim: int | tuple[int, ...] | None = None,
    min_size: int = 0,
    finite: bool = True,
    dtype=np.float64,
) -> np.ndarray:
    """Convert to an array of ``dtype``, checking dimension, size and finiteness.

    Booleans and strings are not numbers here (``[True, False]`` and ``'1'``
    are refused with a TypeError, as NumPy would silently convert them), nor
    are complex values.
    """
    _reject_non_numbers(name, value)
    try:
        arr = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError, OverflowError) as exc:
        raise TypeError(f"{name} must be array-like of numbers, got {_short(value)}: {exc}") from None
    if ndim is not None:
        dims = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in dims:
            raise ValueError(f"{name} must have {' or '.join(map(str, dims))} dimension(s), got shape {arr.shape}")
    if arr.size < min_size:
        raise ValueError(f"{name} must have at least {min_size} element(s), got {arr.size}")
    if finite and arr.size and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return arr


def _reject_non_numbers(name: str, value) -> None:
    """TypeError if ``value`` is, or holds, booleans, strings, bytes or complex numbers."""
    if isinstance(value, (str, bytes, bool, np.bool_)):
        raise TypeError(f"{name} must be a number or an array of numbers, got {_short(value)} of type {type(value).__name__}")
    if isinstance(value, np.ndarray):
        kind = value.dtype.kind
    else:
        try:
            kind = np.asarray(value).dtype.kind
        except Exception:  # noqa: BLE001 - ragged or exotic input: judged by the conversion that follows
            return
    if kind in "bUSc":
        what = {"b": "booleans", "U": "strings", "S": "bytes", "c": "complex numbers"}[kind]
        raise TypeError(f"{name} must hold real numbers, got {what}: {_short(value)}")
    if kind == "O":
        flat = np.asarray(value, dtype=object).ravel()
        for v in flat[:10000]:
            if isinstance(v, (str, bytes, bool, np.bool_, complex)):
                raise TypeError(f"{name} must hold real numbers, got {_short(v)} of type {type(v).__name__}")


def check_probability_vector(name: str, p, *, atol: float = 1e-8) -> np.ndarray:
    """A 1-D non-negative vector summing to 1 within ``atol``; returned renormalised."""
    arr = check_array(name, p, ndim=1, min_size=1)
    if np.any(arr < 0):
        raise ValueError(f"{name} must be non-negative, got a minimum of {float(arr.min()):g}")
    total = arr.sum()
    if abs(total - 1.0) > atol:
        raise ValueError(f"{name} must sum to 1 (within {atol:g}), got a sum of {float(total):.17g}")
    return arr / total


def check_weights(name: str, w, n: int, *, atol: float = 1e-8) -> np.ndarray:
    """Sample weights: ``None`` (uniform) or ``n`` non-negative values summing to 1."""
    if w is None:
        return np.full(n, 1.0 / n)
    arr = check_array(name, w, ndim=1)
    if arr.shape[0] != n:
        raise ValueError(f"{name} must have one weight per sample ({n}), got {arr.shape[0]}")
    return check_probability_vector(name, arr, atol=atol)


def check_covariance(name: str, C, *, d: int | None = None, rtol: float = 1e-10) -> np.ndarray:
    """A symmetric positive-semidefinite matrix, shape ``(d, d)`` (or a non-negative scalar).

    Eigenvalues down to ``-rtol * max|eigenvalue|`` count as round-off.
    Returns the symmetrised matrix.
    """
    arr = check_array(name, C, ndim=(0, 2))
    if arr.ndim == 0 and d is not None and d != 1:
        raise ValueError(f"{name} must have shape ({d}, {d}), got a scalar")
    if arr.ndim == 0:
        if arr < 0:
            raise ValueError(f"{name} must be non-negative, got {float(arr)}")
        return arr
    if arr.shape[0] != arr.shape[1]:
        raise ValueError(f"{name} must be square, got shape {arr.shape}")
    if d is not None and arr.shape[0] != d:
        raise ValueError(f"{name} must have shape ({d}, {d}), got {arr.shape}")
    scale = np.max(np.abs(arr)) if arr.size else 0.0
    if not np.allclose(arr, arr.T, rtol=1e-8, atol=1e-12 * scale):
        raise ValueError(f"{name} must be symmetric")
    sym = 0.5 * arr + 0.5 * arr.T  # not 0.5 * (arr + arr.T): entries near 1.8e308 would overflow
    # eigenvalues of the matrix scaled to unit size (LAPACK's squares over- or underflow otherwise)
    ev = np.linalg.eigvalsh(sym / scale) if scale > 0 else np.zeros(arr.shape[0])
    if ev.size and ev[0] < -rtol * max(abs(ev[-1]), np.finfo(float).tiny):
        raise ValueError(f"{name} must be positive semidefinite, smallest eigenvalue {ev[0] * scale:.3g}")
    return sym


def finite_result(where: str, out, names: str):
    """``out`` (a float, or an array left as it is) if finite; else ValueError naming ``names``.

    For functions that compute without cancellation or intermediate overflow,
    so that a non-finite result from finite, validated input means the true
    value exceeds float64 (about 1.8e308).
    """
    if np.all(np.isfinite(out)):
        return float(out) if np.ndim(out) == 0 else out
    raise ValueError(
        f"{where}: the result for these {names} exceeds the largest float64 ({np.finfo(float).max:.3g}); "
        "express them in a larger unit"
    )


def check_pvalues(name: str, p, *, allow_nan: bool = False) -> np.ndarray:
    """An array of p-values in [0, 1] (NaN allowed, meaning "no p-value", if ``allow_nan``)."""
    arr = check_array(name, p, finite=False)
    if np.any(np.isinf(arr)) or (not allow_nan and np.any(np.isnan(arr))):
        raise ValueError(f"{name} must be p-values in [0, 1]{' or NaN' if allow_nan else ''}, got non-finite values")
    have = arr[~np.isnan(arr)]
    if have.size and (have.min() < 0 or have.max() > 1):
        raise ValueError(f"{name} must be p-values in [0, 1], got values from {float(have.min()):g} to {float(have.max()):g}")
    return arr


def check_str(name: str, value, *, empty: bool = True) -> str:
    """A string (non-empty unless ``empty``)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {_short(value)} of type {type(value).__name__}")
    if not empty and not value:
        raise ValueError(f"{name} must be a non-empty string")
    return value


def check_instance(name: str, value, types, what: str):
    """``value`` if it is an instance of ``types``; TypeError naming ``name`` and ``what`` is accepted otherwise."""
    if not isinstance(value, types):
        raise TypeError(f"{name} must be {what}, got {_short(value)} of type {type(value).__name__}")
    return value


def check_path(name: str, value):
    """A filesystem path: ``str`` or ``os.PathLike`` (returned as given)."""
    import os

    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (str or os.PathLike), got {_short(value)} of type {type(value).__name__}")
    return value


def check_int_array(name: str, value, *, min: int | None = None, max: int | None = None) -> np.ndarray:
    """Integer-valued numbers (an int or an array of them; 3.0 is accepted, 1.5 is not) within [min, max], as float64."""
    arr = check_array(name, value)
    if arr.size and np.any(arr != np.round(arr)):
        raise TypeError(f"{name} must hold integers, got {_short(value)}")
    if min is not None and arr.size and arr.min() < min:
        raise ValueError(f"{name} must be >= {min}, got a minimum of {float(arr.min()):g}")
    if max is not None and arr.size and arr.max() > max:
        raise ValueError(f"{name} must be <= {max}, got a maximum of {float(arr.max()):g}")
    return arr


def check_runs(name: str, runs, *, kind: str | None = None, single: bool = False) -> list:
    """A :class:`~collapse_theory.runs.record.GenerationalRun` or a non-empty sequence of them, as a list.

    ``kind`` (e.g. ``"gmm"``) is checked when given; ``single`` accepts one run only.
    """
    from .runs.record import GenerationalRun

    what = f"a GenerationalRun{f' of kind {kind!r}' if kind else ''}" + ("" if single else " or a sequence of them")
    if isinstance(runs, GenerationalRun):
        runs = [runs]
    elif single or isinstance(runs, (str, bytes, dict)) or not hasattr(runs, "__iter__"):
        raise TypeError(f"{name} must be {what}, got {_short(runs)} of type {type(runs).__name__}")
    else:
        runs = list(runs)
        if not runs:
            raise ValueError(f"{name} must hold at least one run")
        for r in runs:
            if not isinstance(r, GenerationalRun):
                raise TypeError(f"{name} must be {what}; it holds {_short(r)} of type {type(r).__name__}")
    if kind is not None:
        for r in runs:
            if getattr(r, "kind", None) != kind:
                raise ValueError(f"{name} must be {what}; got a run of kind {getattr(r, 'kind', None)!r}")
    return runs
def check_vector(name: str, value, d: int) -> np.ndarray:
    """A finite float vector of shape ``(d,)``."""
    arr = check_array(name, value, ndim=1)
    if arr.shape != (d,):
        raise ValueError(f"{name} must have shape ({d},), got {arr.shape}")
    return arr


def check_contamination(contamination, d: int):
    """``None`` or a pair ``(p, w_s)``: a share ``p`` in [0, 1) of rows labelled by the wrong model ``w_s`` (shape (d,))."""
    if contamination is None:
        return None
    try:
        p, w_s = contamination
    except (TypeError, ValueError):
        raise TypeError(f"contamination must be None or a pair (share p, wrong model w_s), got {_short(contamination)}") from None
    p = check_float("contamination share", p, min=0.0, max=1.0, max_inclusive=False)
    return p, check_vector("contamination model w_s", w_s, d)


def check_count_array(name: str, value):
    """A non-negative int or int array (any shape; no bool) as int64, and its maximum (0 if empty)."""
    arr = np.asarray(value)
    if isinstance(value, bool) or arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must be a non-negative int or an int array, got {_short(value)}")
    arr = arr.astype(np.int64)
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} must be >= 0, got a minimum of {arr.min()}")
    return arr, int(arr.max()) if arr.size else 0


def check_broadcast(**arrays):
    """Broadcast the named arrays, or raise ValueError naming them and their shapes."""
    try:
        return np.broadcast_arrays(*arrays.values())
    except ValueError:
        shapes = ", ".join(f"{k} {np.shape(v)}" for k, v in arrays.items())
        raise ValueError(f"{' and '.join(arrays)} must broadcast to one shape, got shapes {shapes}") from None
