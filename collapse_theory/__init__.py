"""collapse_theory: theory and exact, fast simulation of model collapse.

Shumailov et al., "AI models collapse when trained on recursively generated
data", Nature 631, 755-759 (2024).

Subpackages ``theory``, ``wasserstein``, ``studies``, ``runs``, ``report`` and
``sweep`` are imported on first access, so ``import collapse_theory`` stays
light and the optional extras (PyTorch, transformers, Dask) are only needed
by the parts that use them.
"""

from __future__ import annotations

import importlib
from importlib import metadata as _metadata

from .process import Mixing, Schedule, schedules

try:
    __version__ = _metadata.version("collapse_theory")
except _metadata.PackageNotFoundError:  # pragma: no cover
    __version__ = "0+unknown"

_SUBMODULES = ("theory", "wasserstein", "studies", "runs", "report", "sweep", "plotting", "chains", "verify")
_LAZY_ATTRS = {
    "DiscreteChain": "collapse_theory.chains",
    "GaussianChain": "collapse_theory.chains",
    "RegressionChain": "collapse_theory.chains",
}

__all__ = ["Mixing", "Schedule", "schedules", "__version__", *_LAZY_ATTRS, *_SUBMODULES]


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"collapse_theory.{name}")
    if name in _LAZY_ATTRS:
        return getattr(importlib.import_module(_LAZY_ATTRS[name]), name)
    raise AttributeError(f"module 'collapse_theory' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
