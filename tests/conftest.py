"""Shared test set-up (the Hypothesis profile is in the root conftest.py).

Statistical tests compare simulation with theory at a stated significance
level (``LEVEL`` in ``helpers.py``, Bonferroni-corrected over the checks of a
test), with fixed seeds: a correct implementation fails essentially never, a
wrong one reliably.

Numba kernels are compiled lazily, by the first test that calls them (and
cached on disk, ``cache=True``): no session fixture compiles every kernel up
front, since on a cold cache compiling the kernels that ``make test-fast``
never calls would cost more than the fast tests themselves. A test that
wants a module's kernels compiled before its body runs asks for the
``warm_kernels`` fixture.
"""

from __future__ import annotations

import importlib
import os

import pytest

os.environ.setdefault("COLLAPSE_THEORY_PROGRESS", "0")
os.environ.setdefault("MPLBACKEND", "Agg")

#: Modules whose ``warm()`` compiles all their Numba kernels (for the ``warm_kernels`` fixture).
KERNEL_MODULES = (
    "collapse_theory.chains._kernels_discrete",
    "collapse_theory.chains._kernels_gaussian",
)


@pytest.fixture(scope="session")
def warm_kernels():
    """Compile (or load from cache) every kernel of :data:`KERNEL_MODULES`; opt-in, not autouse."""
    for name in KERNEL_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        module.warm()
    yield
