"""Monte Carlo studies that put simulation and theory in one result.

Every study returns a :class:`StudyResult` with ``.table()`` (pandas:
quantity, simulated, ci_low, ci_high, theory, p_value) and ``.figure()``.
"""

from ._base import StudyResult
from .discrete import absorption, heterozygosity, tail_loss
from .gaussian import known_results, mitigation, mitigation_cell, schedules, variance_decay, w2_growth

__all__ = ["StudyResult", "absorption", "tail_loss", "heterozygosity", "variance_decay", "w2_growth", "schedules", "mitigation",
           "mitigation_cell", "known_results"]
