"""Root pytest configuration: shared by the test suite (tests/) and the doctests (collapse_theory/).

``pytest`` collects the docstring examples of every module of the package
(``--doctest-modules`` in pyproject.toml), so every example in the
documentation runs. Modules whose optional extra is not installed (PyTorch,
transformers, Dask) are left out of collection here, by name, instead of
failing to import.
"""

from __future__ import annotations

import importlib.util
import os

from hypothesis import HealthCheck, settings

os.environ.setdefault("COLLAPSE_THEORY_PROGRESS", "0")
os.environ.setdefault("MPLBACKEND", "Agg")

# JIT compilation makes first calls slow: no deadline.
settings.register_profile(
    "collapse",
    deadline=None,
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "collapse"))

#: Package paths (globs, relative to this file) -> the optional modules their import needs.
OPTIONAL = {
    "collapse_theory/runs/vae.py": ("torch",),
    "collapse_theory/runs/_torch.py": ("torch",),
    "collapse_theory/runs/lm.py": ("torch", "transformers"),
    "collapse_theory/runs/lm/*": ("torch", "transformers"),
    "collapse_theory/sweep.py": ("dask", "xarray", "zarr"),
    "collapse_theory/sweep/*": ("dask", "xarray", "zarr"),
}


def _missing(modules) -> bool:
    return any(importlib.util.find_spec(m) is None for m in modules)


collect_ignore_glob = [path for path, needs in OPTIONAL.items() if _missing(needs)]
