"""Monte Carlo studies that put simulation and theory in one result.

Every study returns a :class:`StudyResult` with ``.table()`` (pandas:
quantity, simulated, ci_low, ci_high, theory, p_value) and ``.figure()``.
"""

from ._base import StudyResult
from .discrete import absorption, heterozygosity, tail_loss
from .gaussian import mitigation, schedules, variance_decay, w2_growth
from .regression import regression_error

__all__ = ["StudyResult", "absorption", "tail_loss", "heterozygosity", "variance_decay", "w2_growth", "schedules", "mitigation", "regression_error"]
