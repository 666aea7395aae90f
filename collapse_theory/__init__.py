"""collapse_theory: theory and exact, fast simulation of model collapse.

Shumailov et al., "AI models collapse when trained on recursively generated
data", Nature 631, 755-759 (2024).

The public API is listed once, in ``__all__`` below, with one line on each
name. Subpackages and the chain classes are imported on first access, so
``import collapse_theory`` stays light and the optional extras (PyTorch,
transformers, Dask) are only needed by the parts that use them.

Module map
----------
``process.py``      Mixing (where data come from) and sample-size schedules
``sampling.py``     Sampler (temperature, top-k, top-p, min-p) and curation (best-of-K, verifier)
``mixture.py``      Gaussian-mixture maths shared by the GMM adapter and the evaluator
``chains/``         the collapse chains (DiscreteChain, GaussianChain, RegressionChain) and their Numba kernels
``theory/``         closed forms and their SymPy derivations (Derivation)
``wasserstein.py``  W2 estimators (every function returning W2^2 says so: w2_squared_*)
``studies/``        Monte Carlo studies: simulation and theory in one StudyResult
``runs/``           learned generational runs (GMM, VAE, language model), one record format
``verify/``         every theory function against simulation, with p-values
``testing.py``      the public testing kit: Hypothesis strategies, assert_consistent, user checks
``sweep/``          parameter grids, locally or on Dask, into a Zarr store
``report/``         the ``reproduce`` report (sections compose and caption only)
``plotting.py``     matplotlib helpers (no pyplot state)
``cli.py``          the ``collapse-theory`` command line
``_rng.py``         private: seeding, ``child`` (the one way to derive a sub-stream)
``_stats.py``       private: the statistical rules (z, binomial and KS tests, Holm)
``_validate.py``    private: input checks shared by the public API
``_provenance.py``  private: provenance, atomic writes
``_progress.py``    private: progress bars and heartbeats
"""

from __future__ import annotations

import importlib
from importlib import metadata as _metadata

from .process import Mixing, Schedule, schedules

try:
    __version__ = _metadata.version("collapse_theory")
except _metadata.PackageNotFoundError:  # pragma: no cover
    __version__ = "0+unknown"

_SUBMODULES = ("theory", "wasserstein", "studies", "runs", "report", "sweep", "plotting", "chains", "verify", "testing", "sampling", "mixture")
_LAZY_ATTRS = {
    "DiscreteChain": "collapse_theory.chains",
    "GaussianChain": "collapse_theory.chains",
    "Sampler": "collapse_theory.sampling",
    "RegressionChain": "collapse_theory.chains",
}

__all__ = [
    "Mixing",         # where each generation's data come from (replace, fresh, accumulate, ...)
    "Schedule",       # sample sizes M_t per generation
    "schedules",      # constructors: schedules.constant / linear / power
    "DiscreteChain",  # multinomial resampling chain (neutral Wright-Fisher)
    "GaussianChain",  # recursive Gaussian refit chain (Theorem 3.1)
    "RegressionChain",  # linear models refitted on their own labels
    "Sampler",        # temperature / top-k / top-p / min-p and curation before each resampling
    "sampling",       # Sampler, BestOfK, Verifier
    "mixture",        # Gaussian-mixture density, sampling, L2 distance, component std
    "theory",         # closed forms: theory.discrete, .gaussian, .regression; Derivation
    "wasserstein",    # W2^2 estimators that stay right as variances collapse
    "studies",        # simulation against theory: StudyResult with table() and figure()
    "runs",           # learned generational runs: gmm, vae, lm; GenerationalRun
    "verify",         # every theory function against simulation (p-values, QQ plots)
    "testing",        # testing kit: strategies, assert_consistent, register_check
    "sweep",          # parameter grids into a Zarr store, locally or on Dask
    "report",         # the reproduce report
    "plotting",       # matplotlib helpers
    "chains",         # the chain classes and their result types
    "__version__",    # the installed version
]


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"collapse_theory.{name}")
    if name in _LAZY_ATTRS:
        return getattr(importlib.import_module(_LAZY_ATTRS[name]), name)
    raise AttributeError(f"module 'collapse_theory' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
