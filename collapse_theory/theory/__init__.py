"""Closed forms for the collapse chains, with their SymPy derivations.

``theory.discrete`` (neutral Wright–Fisher) and ``theory.gaussian``
(Theorem 3.1) and ``theory.regression``
(linear models refitted on their own labels). Each module exposes numeric functions and ``derivations()``.
Theory never runs a simulation.
"""

import importlib

__all__ = ["discrete", "gaussian", "regression"]


def __getattr__(name):
    if name in __all__:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
