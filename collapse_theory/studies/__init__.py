"""Monte Carlo studies that put simulation and theory in one result.

Every study returns a :class:`StudyResult` with ``.table()`` (pandas:
quantity, simulated, ci_low, ci_high, theory, p_value, p_adjusted) and
``.figure()``; a sweep calls the functions listed in ``__all__`` by name.

Module map
----------
``_base.py``
    :class:`StudyResult`, the row schema, and the helpers every study shares
    (checkpoints, per-generation rows, bands, provenance).
``discrete.py``
    :func:`absorption`, :func:`tail_loss`, :func:`heterozygosity` (discrete chain).
``gaussian.py``
    :func:`variance_decay`, :func:`w2_growth`, :func:`schedules`,
    :func:`mitigation` (any workflow), :func:`mitigation_cell` (one map cell),
    :func:`known_results` (Dey & Donoho, Bertrand et al., He, Xu & Cheng) (Gaussian chain, Theorem 3.1).
``regression.py``
    :func:`regression_error` (regression chain).
``sampling.py``
    :func:`sampling_curation` (discrete chain under samplers and curation).
``wasserstein.py``
    :func:`~collapse_theory.studies.wasserstein.w2_accuracy`: the W2^2
    estimators at collapsed variances against POT's defaults and exact values
    (returns a DataFrame, not a sweepable study, so not in ``__all__``).
"""

from . import wasserstein  # noqa: F401  (studies.wasserstein.w2_accuracy)
from ._base import StudyResult
from .discrete import absorption, heterozygosity, tail_loss
from .gaussian import known_results, mitigation, mitigation_cell, schedules, variance_decay, w2_growth
from .regression import regression_error
from .sampling import sampling_curation

__all__ = ["StudyResult", "absorption", "tail_loss", "heterozygosity", "variance_decay", "w2_growth", "schedules", "mitigation",
           "mitigation_cell", "known_results", "regression_error", "sampling_curation"]
