"""The collapse chains: public frozen simulator objects.

Kernels are private; the public classes validate, normalise the rng and
shape results. ``chains`` never imports ``theory``.

Module map
----------
``discrete.py``           :class:`DiscreteChain` (multinomial resampling,
                          neutral Wright–Fisher drift), its run and absorption results
``gaussian.py``           :class:`GaussianChain` (recursive mean/covariance
                          refit, Theorem 3.1) and its run result
``regression.py``         :class:`RegressionChain` (linear models refitted on
                          their own labels) and its run result
``_kernels_discrete.py``  @njit kernels: xoshiro256** streams, binomials, alias tables
``_kernels_gaussian.py``  @njit kernels of the Gaussian chain
``_kernels_regression.py``  @njit kernels of the regression chain
``_kernels_sampling.py``  @njit kernels of the discrete chain under a sampler,
                          curation, accumulate-subsample and augmentation
``_result.py``            what the Gaussian and regression run results share
"""

import importlib

_LAZY = {"DiscreteChain": ".discrete", "GaussianChain": ".gaussian", "RegressionChain": ".regression"}

__all__ = [
    "DiscreteChain",  # multinomial resampling chain: .simulate(), .absorb()
    "GaussianChain",  # recursive Gaussian refit chain: .simulate()
    "RegressionChain",  # linear models refitted on their own labels: .simulate()
]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
