"""Provenance of every output: parameters, seed, versions, time.

Every file the toolkit writes carries the dictionary returned by
:func:`provenance`, and is written through :func:`write_json`, which turns
NumPy scalars and arrays into JSON and writes atomically (a temporary file
renamed into place), so an interrupted write never leaves a half file that
reads as valid.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import sys
import tempfile
from importlib import metadata
from pathlib import Path

import numpy as np

__all__ = ["provenance", "versions", "to_jsonable", "write_json", "read_json", "atomic_write"]

_PACKAGES = ("collapse_theory", "numpy", "scipy", "numba", "sympy", "pandas", "matplotlib", "POT", "scikit-learn")


def versions(extra: tuple[str, ...] = ()) -> dict:
    """Versions of Python and of the packages behind the numbers (None if absent)."""
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in _PACKAGES + tuple(extra):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def provenance(params: dict | None = None, *, seed=None, extra_packages: tuple[str, ...] = (), **more) -> dict:
    """A JSON-able record of what produced an output."""
    rec = {
        "params": to_jsonable(params or {}),
        "seed": to_jsonable(seed),
        "versions": versions(extra_packages),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv) if sys.argv and sys.argv[0] else None,
    }
    rec.update(to_jsonable(more))
    return rec


def to_jsonable(obj):
    """Recursively convert NumPy types, tuples, Paths and dataclass-likes to JSON types."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if np.isfinite(f) else repr(f)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.random.SeedSequence):
        return {"entropy": to_jsonable(obj.entropy), "spawn_key": list(obj.spawn_key)}
    if hasattr(obj, "to_dict"):
        return to_jsonable(obj.to_dict())
    return repr(obj)


def _umask() -> int:
    """The process umask, read without changing it where /proc allows."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # no getter elsewhere: set and restore at once
    os.umask(mask)
    return mask


def atomic_write(path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` through a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp creates the file 0600; give it the mode open() would (0666 less
        # the umask, so 0644 by default) so a shared report can be read by others
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_json(path, obj) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    return atomic_write(path, json.dumps(to_jsonable(obj), indent=2, sort_keys=False) + "\n")


def read_json(path):
    with open(path) as fh:
        return json.load(fh)
