"""Small statistical helpers shared by studies, ``verify`` and the tests.

Tests of simulation against theory are two-sided, at a stated significance
level, with Bonferroni correction over the checks made together.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["mean_ci", "z_test", "proportion_test", "bonferroni", "ks_test"]


def mean_ci(x, level: float = 0.95, axis: int = 0):
    """Sample mean and its normal-approximation confidence interval.

    Returns ``(mean, low, high, standard_error)``, each reduced over ``axis``.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[axis]
    m = x.mean(axis=axis)
    se = x.std(axis=axis, ddof=1) / np.sqrt(n) if n > 1 else np.full_like(m, np.nan)
    z = stats.norm.ppf(0.5 + level / 2)
    return m, m - z * se, m + z * se, se


def z_test(x, expected, axis: int = 0):
    """Two-sided p-value that the mean of ``x`` equals ``expected`` (CLT, sample variance).

    A sample with zero spread gives p = 1 if its mean equals ``expected`` to
    round-off and p = 0 otherwise.
    """
    m, _, _, se = mean_ci(x, axis=axis)
    expected = np.asarray(expected, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (m - expected) / se
    p = 2 * stats.norm.sf(np.abs(z))
    exact = np.isclose(m, expected, rtol=1e-12, atol=0.0)
    p = np.where(se > 0, p, np.where(exact, 1.0, 0.0))
    return p if p.ndim else float(p)


def proportion_test(k: int, n: int, p: float) -> float:
    """Exact two-sided binomial p-value that ``k`` successes in ``n`` trials have probability ``p``."""
    return float(stats.binomtest(int(k), int(n), float(p)).pvalue)


def ks_test(x, y) -> float:
    """Two-sample Kolmogorov–Smirnov p-value."""
    return float(stats.ks_2samp(np.ravel(x), np.ravel(y)).pvalue)


def bonferroni(pvalues) -> np.ndarray:
    """Bonferroni-adjusted p-values, capped at 1."""
    p = np.asarray(pvalues, dtype=np.float64)
    return np.minimum(p * p.size, 1.0)
