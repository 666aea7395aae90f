"""Shared test set-up: Numba warm-up (the Hypothesis profile is in the root conftest.py).

Statistical tests compare simulation with theory at a stated significance
level (``LEVEL`` in ``helpers.py``, Bonferroni-corrected over the checks of a
test), with fixed seeds: a correct implementation fails essentially never, a
wrong one reliably.
"""

from __future__ import annotations

import importlib
import os

import pytest

os.environ.setdefault("COLLAPSE_THEORY_PROGRESS", "0")
os.environ.setdefault("MPLBACKEND", "Agg")

#: Modules whose ``warm()`` compiles their Numba kernels once per session.
KERNEL_MODULES = (
    "collapse_theory.chains._kernels_discrete",
    "collapse_theory.chains._kernels_gaussian",
)


@pytest.fixture(scope="session", autouse=True)
def warm_kernels():
    """Compile (or load from cache) every Numba kernel before the tests time anything."""
    for name in KERNEL_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        module.warm()
    yield
