"""Closed forms for the collapse chains, with their SymPy derivations.

``theory.discrete`` (neutral Wright–Fisher), ``theory.gaussian``
(Theorem 3.1), ``theory.regression`` (linear models refitted on their own
labels) and ``theory.sampling`` (samplers, curation, tale of tails). Each
module exposes numeric functions and ``derivations()``.
Theory never runs a simulation.
"""

import importlib

__all__ = ["discrete", "gaussian", "regression", "sampling"]


def __getattr__(name):
    if name in __all__:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
