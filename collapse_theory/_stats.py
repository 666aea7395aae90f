"""The one home of the statistical rules shared by studies, ``verify``, the report and the tests.

Tests of simulation against theory are two-sided, at a stated significance
level, with a family-wise correction (Holm or Bonferroni) over the checks made
together. The rules here are used everywhere a p-value is made or adjusted:

* :func:`z_test`, :func:`proportion_test`, :func:`ks_test`: the three tests;
* :func:`z_testable`: whether a Monte Carlo mean of a log-normal-like
  quantity may be z-tested at all;
* :func:`holm`, :func:`bonferroni`, :func:`adjust`: family-wise adjustment,
  and :func:`adjusted_column`, the adjusted p-values of a table with the
  one row schema (a ``p_value`` column, optionally a ``p_adjusted`` column).

References
----------
Holm, S. (1979) "A simple sequentially rejective multiple test procedure",
Scand. J. Statist. 6, 65-70.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = [
    "mean_ci",
    "positive_mean_ci",
    "z_test",
    "proportion_test",
    "ks_test",
    "z_testable",
    "constant_sample_test",
    "bonferroni",
    "holm",
    "adjust",
    "adjusted_column",
    "CORRECTIONS",
]

#: Multiple-testing corrections accepted by :func:`adjust`.
CORRECTIONS = ("holm", "bonferroni")


def mean_ci(x, level: float = 0.95, axis: int = 0):
    """Sample mean and its normal-approximation confidence interval.

    Parameters
    ----------
    x : array_like
        Samples; reduced over ``axis``.
    level : float
        Coverage of the interval (default 0.95).
    axis : int
        Axis of the samples.

    Returns
    -------
    mean, low, high, standard_error : ndarray or float
        Each of the shape of ``x`` without ``axis``; the standard error is
        NaN for a single sample.

    Examples
    --------
    >>> m, lo, hi, se = mean_ci([1.0, 2.0, 3.0])
    >>> float(m), round(float(se), 4)
    (2.0, 0.5774)
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

    Parameters
    ----------
    x : array_like
        Samples, reduced over ``axis``.
    expected : float or array_like
        The mean under the null hypothesis (broadcast against the reduced shape).
    axis : int

    Returns
    -------
    float or ndarray
        The p-value(s).

    Examples
    --------
    >>> z_test([0.9, 1.1, 1.0, 1.0], 1.0)
    1.0
    >>> z_test([5.0, 5.0], 1.0)
    0.0
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
    """Exact two-sided binomial p-value that ``k`` successes in ``n`` trials have probability ``p``.

    Examples
    --------
    >>> round(proportion_test(5, 10, 0.5), 6)
    1.0
    """
    return float(stats.binomtest(int(k), int(n), float(p)).pvalue)


def ks_test(x, y) -> float:
    """Two-sample Kolmogorov–Smirnov p-value (both samples flattened).

    Examples
    --------
    >>> ks_test([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    1.0
    """
    return float(stats.ks_2samp(np.ravel(x), np.ravel(y)).pvalue)


def constant_sample_test(value: float, expected: float, n: int, bounds) -> float:
    r"""p-value for a sample of ``n`` values that all equal ``value``, of a statistic known to lie in ``bounds``.

    A sample without spread (e.g. every chain already absorbed, so every
    heterozygosity is 0) has no standard error, so a z-test cannot judge it.
    For a statistic in ``bounds = (lo, hi)``,
    :math:`|E X - v| \le (hi - lo) P(X 
e v)`, so under the theory
    :math:`P(	ext{all } n 	ext{ equal } v) \le (1 - |	heta - v|/(hi - lo))^n`,
    which is the p-value (exact, conservative).

    Parameters
    ----------
    value : float
        The common value ``v`` of the sample.
    expected : float
        The theory's mean :math:`	heta`.
    n : int
        Sample size.
    bounds : tuple of two floats
        ``(lo, hi)`` with ``lo < hi``.

    Returns
    -------
    float

    Examples
    --------
    >>> constant_sample_test(0.0, 1e-9, 1000, (0.0, 1.0)) > 0.99
    True
    >>> constant_sample_test(0.0, 0.1, 1000, (0.0, 1.0)) < 1e-40
    True
    """
    lo, hi = (float(b) for b in bounds)
    if not hi > lo:
        raise ValueError(f"bounds must be (lo, hi) with lo < hi, got {bounds!r}")
    return max(0.0, 1.0 - abs(float(expected) - float(value)) / (hi - lo)) ** int(n)


def z_testable(log_var_variance: float, r: float) -> bool:
    """Whether a Monte Carlo mean of :math:`\\sigma^{2r}` may be z-tested: its log has s.d. at most 1.

    The one rule for log-normal-like quantities (:math:`\\sigma_n^2` of the
    Gaussian chain is a product of scaled chi-squares, nearly log-normal).
    When :math:`r^2 \\operatorname{Var}\\log\\sigma^2` is large the mean is
    carried by rare huge values, and the sample mean of a few thousand
    replicates is not yet normal: a z-test would reject a correct formula.
    At log-s.d. 1 a log-normal has skewness 6.2, so the mean of 2000
    replicates has skewness 0.14 and the normal approximation holds.

    Parameters
    ----------
    log_var_variance : float
        :math:`\\operatorname{Var}\\log\\sigma^2` (the theory's value).
    r : float
        The power: 0.5 for :math:`\\sigma`, 1 for :math:`\\sigma^2` (and for
        quantities as heavy as it, such as :math:`(\\mu_n - \\mu_0)^2`).

    Returns
    -------
    bool
        True when :math:`r^2 \\operatorname{Var}\\log\\sigma^2 \\le 1`.

    Examples
    --------
    >>> z_testable(0.5, 1.0), z_testable(3.0, 1.0), z_testable(3.0, 0.5)
    (True, False, True)
    """
    return bool(r * r * float(log_var_variance) <= 1.0)


def bonferroni(pvalues) -> np.ndarray:
    """Bonferroni-adjusted p-values, shape as ``pvalues``, capped at 1.

    Examples
    --------
    >>> bonferroni([0.01, 0.2]).tolist()
    [0.02, 0.4]
    """
    from ._validate import check_pvalues

    p = check_pvalues("pvalues", pvalues)
    return np.minimum(p * p.size, 1.0)


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values, shape as ``pvalues``, capped at 1.

    .. math:: \\tilde p_{(i)} = \\max_{j \\le i} \\min\\{1, (m - j + 1) p_{(j)}\\}

    Rejecting where :math:`\\tilde p < \\alpha` controls the family-wise error
    rate at :math:`\\alpha` under any dependence (Holm 1979).

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03]).tolist()
    [0.03, 0.06, 0.06]
    """
    from ._validate import check_pvalues

    p = check_pvalues("pvalues", pvalues)
    flat = p.ravel()
    m = flat.size
    if m == 0:
        return p.copy()
    order = np.argsort(flat, kind="stable")
    stepped = np.minimum((m - np.arange(m)) * flat[order], 1.0)
    adj = np.empty(m)
    adj[order] = np.maximum.accumulate(stepped)
    return adj.reshape(p.shape)


def adjust(pvalues, correction: str = "holm") -> np.ndarray:
    """Family-wise adjusted p-values by ``correction``.

    NaN entries (a row without a p-value) stay NaN and are not counted in the
    family; the others are adjusted together.

    Parameters
    ----------
    pvalues : array_like
        Raw p-values, any shape.
    correction : {"holm", "bonferroni"}

    Returns
    -------
    ndarray
        Adjusted p-values, shape as ``pvalues``.

    Raises
    ------
    ValueError
        If ``correction`` is not one of :data:`CORRECTIONS`.

    Examples
    --------
    >>> adjust([0.01, float("nan"), 0.02], "bonferroni").tolist()
    [0.02, nan, 0.04]
    """
    from ._validate import check_choice

    from ._validate import check_pvalues

    correction = check_choice("correction", correction, CORRECTIONS)
    p = check_pvalues("pvalues", pvalues, allow_nan=True)
    out = np.full(p.shape, np.nan)
    has = ~np.isnan(p)
    if has.any():
        out[has] = (holm if correction == "holm" else bonferroni)(p[has])
    return out


def adjusted_column(table, correction: str = "bonferroni") -> np.ndarray:
    """The adjusted p-values of a table with the one row schema, shape (rows,).

    Its ``p_adjusted`` column if it has one, else :func:`adjust` over its
    ``p_value`` column (rows without a p-value are NaN and not counted); all
    NaN when the table has neither column. Study tables
    (:meth:`~collapse_theory.studies.StudyResult.table`), verify tables and
    the report's tables all go through this function.

    Parameters
    ----------
    table : pandas.DataFrame
    correction : {"holm", "bonferroni"}
        Used only when ``table`` has no ``p_adjusted`` column.

    Returns
    -------
    ndarray, shape (len(table),)

    Examples
    --------
    >>> import pandas as pd
    >>> adjusted_column(pd.DataFrame({"p_value": [0.01, None, 0.3]})).tolist()
    [0.02, nan, 0.6]
    """
    import pandas as pd

    if "p_adjusted" in table.columns:
        return pd.to_numeric(table["p_adjusted"], errors="coerce").to_numpy(dtype=float)
    if "p_value" not in table.columns:
        return np.full(len(table), np.nan)
    return adjust(pd.to_numeric(table["p_value"], errors="coerce").to_numpy(dtype=float), correction)


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
