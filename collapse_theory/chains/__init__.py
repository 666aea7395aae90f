"""The collapse chains: public frozen simulator objects.

``DiscreteChain`` (multinomial resampling, neutral Wright–Fisher drift) and
``GaussianChain`` (recursive mean/covariance refit, Theorem 3.1) and
``RegressionChain`` (linear models refitted on their own labels). Kernels are
private (``_kernels_*.py``); the public classes validate and shape results.
"""

import importlib

_LAZY = {"DiscreteChain": ".discrete", "GaussianChain": ".gaussian", "RegressionChain": ".regression"}

__all__ = list(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
