"""Learned generational runs: one record, one evaluator, adapters with one contract.

``GenerationalRun`` (record.py) holds a run generation by generation on disk;
``evaluate`` (evaluate.py) applies the toolkit's estimators to any run;
adapters: ``gmm`` (scikit-learn), ``vae`` (PyTorch, extra ``[vae]``), ``lm``
(Hugging Face, extra ``[lm]``). Adapters are imported on first access, so the
extras are needed only by the adapters that use them. The Gaussian-mixture
maths the GMM adapter and the evaluator share lives in
:mod:`collapse_theory.mixture`; the torch helpers the VAE and LM adapters
share live in ``_torch.py``.

The adapter contract
--------------------
Every adapter module ``A`` provides the same four functions:

``A.run(...) -> GenerationalRun``
    One run, always (never a list). Keyword-only ``rng``; ``out`` (a
    directory written generation by generation) and ``resume``; ``mixing``
    (a :class:`collapse_theory.Mixing` or spec, checked with
    :func:`collapse_theory.process.check_mixing`) is the only way to say where
    data come from. Independent replicates, where an adapter offers them,
    come from a separately named ``A.run_replicates(..., replicates=R) ->
    list[GenerationalRun]``.
``A.summary_table(run) -> pandas.DataFrame``
    One row per (replicate and) reported generation; computed once and
    reused by ``write_outputs`` and the report.
``A.figures(run) -> dict[str, tuple[Figure, str]]``
    Figure key -> (matplotlib figure, caption: what is plotted, the setting,
    what to look for).
``A.write_outputs(run, out) -> dict[str, Path]``
    Writes every figure (``<key>.png``), ``summary.csv`` and ``summary.json``
    (with provenance) through :func:`collapse_theory._provenance.atomic_write`
    and returns name -> path.

Dependencies: ``evaluate`` imports NumPy, :mod:`collapse_theory.mixture`,
:mod:`collapse_theory.wasserstein` and the record, never an adapter; no
adapter imports another.

Module map
----------
``record.py``     :class:`GenerationalRun`, :class:`GenerationRecord`: a run on disk
``evaluate.py``   :func:`evaluate`: the toolkit's estimators on any run
``gmm.py``        the paper's Gaussian-mixture run (scikit-learn)
``vae.py``        the paper's VAE run (PyTorch, extra ``[vae]``)
``lm/``           the paper's language-model run (extra ``[lm]``)
``_torch.py``     torch helpers shared by ``vae`` and ``lm``
``_language.py``  the ground-truth language of the ``lm`` run
``_idx.py``       the IDX reader for MNIST files (``vae``)
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
# so bind the function now (cheap: evaluate.py imports NumPy, the mixture maths
# and the record, and loads the Wasserstein estimators only when called).
from .evaluate import evaluate  # noqa: E402
