"""Learned generational runs: one record, one evaluator, adapters.

``GenerationalRun`` (record.py) holds a run generation by generation on disk;
``evaluate`` (evaluate.py) applies the toolkit's estimators to any run;
adapters: ``gmm`` (scikit-learn), ``vae`` (PyTorch, extra ``[vae]``), ``lm``
(Hugging Face, extra ``[lm]``). Adapters are imported on first access, so the
extras are needed only by the adapters that use them.
"""

import importlib

_LAZY_ATTRS = {"GenerationalRun": ".record", "GenerationRecord": ".record", "evaluate": ".evaluate"}
_SUBMODULES = ("record", "gmm", "vae", "lm")

__all__ = [*_LAZY_ATTRS, *_SUBMODULES]


def __getattr__(name):
    if name in _LAZY_ATTRS:
        return getattr(importlib.import_module(_LAZY_ATTRS[name], __name__), name)
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ``evaluate`` names both a submodule and its function: the first import of the
# submodule (by an adapter, say) would rebind ``runs.evaluate`` to the module,
# so bind the function now (evaluate.py imports only NumPy and the record).
from .evaluate import evaluate  # noqa: E402
