"""Small statistical helpers shared by studies, ``verify`` and the tests.

Tests of simulation against theory are two-sided, at a stated significance
level, with Bonferroni correction over the checks made together.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["mean_ci", "positive_mean_ci", "z_test", "proportion_test", "bonferroni", "ks_test"]


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


def positive_mean_ci(x, level: float = 0.95, axis: int = 0):
    """Mean of a non-negative sample and a confidence interval that stays non-negative.

    The normal interval ``m +- z se`` of a variance, a squared distance or any
    other quantity that cannot be negative runs below zero when the sample is
    small or heavy-tailed (the report once showed E sigma^2 in [-0.081, ...]).
    This is the log-scale (delta-method) interval instead:

    .. math:: [\\,m\\, e^{-z\\, se/m},\\; m\\, e^{z\\, se/m}\\,], \\quad se = s/\\sqrt n,

    the normal interval for :math:`\\log m` mapped back: positive, asymmetric
    (longer to the right, as a right-skewed mean's uncertainty is), and equal
    to the normal interval to first order in :math:`se/m`. A mean of exactly
    zero (every value zero) gets the interval [0, 0].

    Parameters
    ----------
    x : array_like
        Non-negative values.
    level : float
        Coverage, in (0, 1).
    axis : int
        Axis of the replicates.

    Returns
    -------
    (mean, low, high, standard_error)
        Each reduced over ``axis``.

    Raises
    ------
    ValueError
        If ``x`` holds a negative value or ``level`` is not in (0, 1).

    References
    ----------
    The delta method for :math:`\\log \\bar x`; e.g. Casella and Berger,
    *Statistical Inference* (2nd ed.), section 5.5.4.

    Examples
    --------
    >>> import numpy as np
    >>> m, lo, hi, se = positive_mean_ci(np.array([0.0, 0.0, 0.0, 4.0]))
    >>> bool(lo > 0), round(float(m), 3)
    (True, 1.0)
    """
    x = np.asarray(x, dtype=np.float64)
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    if np.any(x < 0):
        raise ValueError("x must be non-negative for positive_mean_ci (use mean_ci for signed quantities)")
    m, _, _, se = mean_ci(x, level=level, axis=axis)
    z = stats.norm.ppf(0.5 + level / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.exp(z * np.asarray(se) / m)
        lo, hi = m / f, m * f
    lo = np.where(m > 0, lo, 0.0)
    hi = np.where(m > 0, hi, 0.0)
    if np.ndim(m) == 0:
        lo, hi = float(lo), float(hi)
    return m, lo, hi, se
