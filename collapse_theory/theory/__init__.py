"""Closed forms for the collapse chains, with their SymPy derivations.

Theory never runs a simulation and never imports ``chains``, so a test can
compare the two independently. Each module exposes numeric functions and
``derivations() -> dict[str, Derivation]``.

Module map
----------
``_derivation.py``  :class:`Derivation`: steps, result, source, ``.latex()``
``_gaussian_moments.py``  private engine: exact joint moments of the 1-D
                    Gaussian chain under every workflow (used by ``gaussian.py``)
``_kernels_extinction.py``  private @njit kernels: the extinction recursion
                    of one state's count (used by ``discrete.py``)
``discrete.py``     neutral Wright–Fisher: fixation, heterozygosity, exact
                    absorption time, survival, support
``gaussian.py``     Theorem 3.1: exact moments and E W2^2 for every workflow,
                    schedules, stationary values
``regression.py``   linear models refitted on their own labels: exact
                    expected error for every workflow, strong-collapse floor
``sampling.py``     samplers and curation: infinite-population maps, exact
                    finite-M values (top-k, generation 1, count chain),
                    tale-of-tails test error
"""

import importlib

from ._derivation import Derivation

_MODULES = ("discrete", "gaussian", "regression", "sampling")

__all__ = [
    "Derivation",  # one derivation: named steps (SymPy expressions), result, source, .latex()
    "discrete",    # closed forms of the discrete chain
    "gaussian",    # closed forms of the Gaussian chain
    "regression",  # closed forms of the regression chain
    "sampling",    # samplers, curation and the tale of tails on the discrete chain
]


def __getattr__(name):
    if name in _MODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
