r"""Exact theory of recursive Gaussian fitting (Theorem 3.1 of Shumailov et al. 2024).

The chain: ``mu_{t}`` and ``sigma_{t}^2`` are the sample mean and variance of
``M_t`` points drawn from ``N(mu_{t-1}, sigma_{t-1}^2)``, generation 0 being
``D_0 = N(mu_0, sigma_0^2)``. By Cochran's theorem the two are independent and

.. math:: \mu_t = \mu_{t-1} + \sigma_{t-1} Z_t / \sqrt{M_t}, \qquad
          \sigma_t^2 = \sigma_{t-1}^2 W_t, \qquad W_t = \chi^2_{k_t} / D_t,

with ``k_t = M_t - 1`` and ``D_t = M_t - 1`` (unbiased estimator) or ``D_t = M_t``
(maximum likelihood). So ``sigma_n^2 = sigma_0^2 prod_t W_t`` is a product of
independent scaled chi-squares and every quantity below is exact at finite
``M`` (for constant ``M`` and for any schedule ``M_1, M_2, ...``):

* moments ``E sigma_n^{2r} = sigma_0^{2r} prod_t (2/D_t)^r Gamma(k_t/2 + r)/Gamma(k_t/2)``
  (``r = 1/2`` gives ``E sigma_n = sigma_0 prod c4(M_t)`` for the unbiased
  estimator, Bertrand et al. 2024), ``Var sigma_n^2``;
* ``E log sigma_n^2 = log sigma_0^2 + sum_t [psi(k_t/2) + log(2/D_t)]`` and
  ``Var log sigma_n^2 = sum_t psi'(k_t/2)`` (the cumulants of ``log chi2``);
* ``E (mu_n - mu_0)^2 = sum_t E sigma_{t-1}^2 / M_t`` (a martingale);
* ``E W2^2(N(mu_n, sigma_n^2), D_0) = E(mu_n - mu_0)^2 + E sigma_n^2 - 2 sigma_0 E sigma_n + sigma_0^2``,
  for the unbiased estimator ``sigma_0^2 (sum_t 1/M_t + 2 - 2 prod_t c4(M_t))``.
  Its first-order term in ``1/M`` is the paper's ``(3/2) sigma_0^2 sum_t 1/M_t``
  (arXiv 2305.17493, Theorem 3.1's derivation), recovered by SymPy in
  :func:`derivations`;
* the schedule criterion: for ``M_t = M_0 t^a`` the limit of ``E W2^2`` is
  finite exactly when ``a > 1``;
* d dimensions: ``(D_t) Sigma_t ~ Wishart_d(k_t, Sigma_{t-1})``; by the Bartlett
  decomposition ``det W ~ prod_{j=0}^{d-1} chi2_{k-j}``, giving ``E tr``,
  ``E det``, ``E log det`` and ``Var log det`` exactly;
* fresh data (each point from ``D_0`` with probability ``gamma``) and
  accumulation (the model is fitted to the pool of every point so far): the
  pair ``(E sigma_t^2, E (mu_t - mu_0)^2)`` follows an exact linear recursion
  (:func:`moment_recursion`), with stationary values for fresh data
  (:func:`stationary_moments`). ``E sigma_t`` has no closed form there (the
  sample variance of a two-Gaussian mixture is not a scaled chi-square), so
  ``E W2^2`` is enclosed by a two-sided bracket from the exact moments
  ``E sigma_t^{2j}`` (:func:`workflow_moments`: fresh, mixture, accumulate,
  augment); accumulate-subsample has Jensen's band only (its state is the
  whole pool).

References: Shumailov et al., Nature 631 (2024), Theorem 3.1; Bertrand et al.,
"On the stability of iterative retraining of generative models on their own
data", ICLR 2024; Gerstgrasser et al., "Is model collapse inevitable?" (2024);
Muirhead, *Aspects of Multivariate Statistical Theory* (1982), Thm 3.2.14
(Bartlett decomposition).
"""

from __future__ import annotations

from dataclasses import dataclass
import numbers
from functools import lru_cache

import numpy as np
from numba import njit
from scipy.special import bernoulli, comb, digamma, gammaln, poch, polygamma, zeta

from .._validate import (
    check_array,
    check_choice,
    check_count_array,
    check_covariance,
    check_float,
    check_int,
    finite_result,
)
from ..process import WORKFLOWS, Schedule, as_schedule, check_mixing

__all__ = [
    "GOLDEN_RATIO_WEIGHT",
    "MomentPath",
    "WorkflowMoments",
    "accumulate_limits",
    "augment_contraction",
    "augment_stability_threshold",
    "augment_stationary_mean_variance",
    "c4",
    "derivations",
    "expected_det",
    "expected_log_det",
    "expected_log_variance",
    "expected_mean_squared_error",
    "expected_mean_squared_error_mv",
    "expected_std",
    "expected_trace",
    "expected_variance",
    "expected_variance_power",
    "expected_w2_squared",
    "expected_w2_squared_bounds",
    "fresh_stability_threshold",
    "golden_ratio_weight",
    "log_det_variance",
    "log_variance_drift",
    "log_variance_variance",
    "long_run_moments",
    "moment_factor",
    "moment_recursion",
    "paper_w2_squared",
    "schedule_is_bounded",
    "schedule_limit",
    "stationary_moments",
    "variance_of_variance",
    "w2_squared_lower_bound",
    "weighted_mean_stationary_error",
    "workflow_moments",
]

_ESTIMATORS = ("unbiased", "mle")


# --------------------------------------------------------------------------- inputs
def _estimator(estimator):
    return check_choice("estimator", estimator, _ESTIMATORS)


def _n_array(n):
    """``n`` as an int64 array (any shape) of non-negative generation counts, and its maximum."""
    arr, n_max = check_count_array("n", n)
    from . import discrete as _td  # one memory limit for the theory modules (read at call time)

    need = _BYTES_PER_GENERATION * n_max
    if need > _td.MEMORY_LIMIT_BYTES:
        raise ValueError(
            f"n = {n_max}: the moments per generation would need about {need / 2**30:.3g} GiB, above "
            f"theory.discrete.MEMORY_LIMIT_BYTES = {_td.MEMORY_LIMIT_BYTES / 2**30:.3g} GiB; use a smaller n"
        )
    return arr, n_max


#: Working memory per generation of the recursions here (a few float64 arrays of length n_max; generous).
_BYTES_PER_GENERATION = 96


def _sizes(M, n_max, *, minimum=2):
    """``M_1 .. M_{n_max}`` as float64 for an int, a Schedule or an int array."""
    if isinstance(M, numbers.Integral) and not isinstance(M, bool) and M < minimum:  # before allocating n_max sizes
        raise ValueError(f"M: every sample size must be >= {minimum} here, got {int(M)}")
    if isinstance(M, numbers.Integral) and not isinstance(M, bool) and M > np.iinfo(np.int64).max:
        raise ValueError(f"M: sample sizes must be below 2^63, got {int(M)}")
    sched = M if isinstance(M, Schedule) else as_schedule(M, "M")
    sizes = sched.sizes(n_max).astype(np.float64)
    if sizes.size and sizes.min() < minimum:
        raise ValueError(f"M: every sample size must be >= {minimum} here, got a minimum of {int(sizes.min())}")
    return sizes


def _sigma0(sigma0):
    return check_float("sigma0", sigma0, min=0.0, min_inclusive=False)


def _scale_by_sigma0(value, sigma0, power, *, finite=True):
    """``value * sigma0**power``: a moment computed at sigma0 = 1, at scale ``sigma0`` (``power`` may be an array).

    Never NaN (0 times an overflowing power is 0: in log space where the power
    leaves float64's range) and no overflow warnings. Where the product itself
    leaves the range: a ValueError naming ``sigma0`` (``finite``), else inf.
    """
    value = np.asarray(value, dtype=np.float64)
    power = np.asarray(power, dtype=np.float64)
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        scale = np.float64(sigma0) ** power
        ok = np.isfinite(scale) & (scale > 0.0)
        out = np.where(ok, value * np.where(ok, scale, 1.0),
                       np.sign(value) * np.exp(np.log(np.abs(value)) + power * np.log(sigma0)))
    if finite and np.any(np.isinf(out) & np.isfinite(value)):
        raise ValueError(f"sigma0 = {sigma0!r}: the result (sigma0^{float(np.max(power)):g} times its value at "
                         "sigma0 = 1) exceeds float64's range; rescale the data (these moments scale as powers of sigma0)")
    return out if out.ndim else float(out)


def _denominator(sizes, estimator):
    return sizes - 1.0 if estimator == "unbiased" else sizes


def _take(cum, n):
    """``cum`` has shape (n_max + 1,) (value after t generations); index it with n."""
    out = cum[n]
    return float(out) if np.ndim(out) == 0 else out


# --------------------------------------------------------------------------- 1-D moments
def c4(M):
    r"""The bias-correction constant :math:`c_4(M) = E s / \sigma` of a normal sample of size M.

    .. math:: c_4(M) = \sqrt{\frac{2}{M-1}} \frac{\Gamma(M/2)}{\Gamma((M-1)/2)}

    Parameters
    ----------
    M : int or array_like of int, each >= 2

    Returns
    -------
    float or ndarray

    Raises
    ------
    ValueError, TypeError
        ``M`` below 2 or not integral (named).

    Examples
    --------
    :math:`c_4(2) = \sqrt{2/\pi}` (``Gamma(1) = 1``, ``Gamma(1/2) = sqrt(pi)``):

    >>> import math
    >>> print(f"{c4(2):.6f}", f"{math.sqrt(2 / math.pi):.6f}")
    0.797885 0.797885
    >>> c4([2, 3]).round(6)
    array([0.797885, 0.886227])
    """
    m = _int_sizes("M", M)
    if np.any(m < 2) or np.any(m != np.floor(m)):
        raise ValueError(f"M must be integers >= 2, got {M!r}")
    out = np.exp(_log_moment_factor(m, 0.5, "unbiased"))  # E sqrt(chi2_{M-1} / (M-1)), no cancellation
    return float(out) if out.ndim == 0 else out


_SERIES_TERMS = 14
_BERNOULLI = bernoulli(_SERIES_TERMS + 1)  # B_0 .. B_15 (B_1 = -1/2)


def _log_gamma_ratio_excess(x, r):
    """``log Gamma(x + r) - log Gamma(x) - r log x`` without cancellation (x > 0, x + r > 0).

    For ``x >= 20`` the asymptotic series (Abramowitz & Stegun 6.1.47; Tricomi & Erdelyi 1951)

    .. math:: \\sum_{n\\ge1} \\frac{(-1)^{n+1} (B_{n+1}(r) - B_{n+1})}{n (n+1) x^n}

    (Bernoulli polynomials; 14 terms, error below 1e-17 relative); below, SciPy's ``poch``.
    """
    x = np.asarray(x, dtype=np.float64)
    r = float(r)
    # the series' terms grow like (r / x)^n: it holds for |r| <= x / 20 only (there 14 terms reach 1e-18);
    # beyond, log Gamma differences (their rounding is small against a value of order r^2 / x)
    big = (x >= 20.0) & (abs(r) <= x / 20.0)
    series = np.zeros_like(x)
    if np.any(big):
        xs = np.where(big, x, 20.0 * max(abs(r), 1.0))
        for n in range(1, _SERIES_TERMS + 1):
            m = n + 1
            bpoly = sum(comb(m, k, exact=True) * _BERNOULLI[k] * r ** (m - k) for k in range(m + 1))
            with np.errstate(over="ignore"):  # x^n beyond float64 (x past ~1e22): the term is 0, as it should be
                series = series + (-1) ** (n + 1) * (bpoly - _BERNOULLI[m]) / (n * (n + 1) * xs**n)
    small = x < 20.0
    xsmall = np.where(small, x, 1.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        direct = np.log(poch(xsmall, r)) - r * np.log(xsmall)
        xl = np.where(small | big, 20.0, x)
        large_r = gammaln(xl + r) - gammaln(xl) - r * np.log(xl)
    # inf - inf only where r is beyond about 1e306: there the true value, about r log(r / x), overflows to +inf
    large_r = np.where(np.isnan(large_r) & (r > 0), np.inf, large_r)
    return np.where(big, series, np.where(small, direct, large_r))


def _log_moment_factor(sizes, r, estimator):
    """log E W^r per generation, W = chi2_{M-1} / D; +inf where (M-1)/2 + r <= 0."""
    k = sizes - 1.0
    x = k / 2.0
    # r log(2/D) + log Gamma(x + r) - log Gamma(x) = r log(k/D) + excess
    base = 0.0 if estimator == "unbiased" else r * np.log1p(-1.0 / sizes)
    ok = x + r > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        val = base + _log_gamma_ratio_excess(np.where(ok, x, 1.0), r)
    return np.where(ok, val, np.inf)


def moment_factor(M, r=1.0, estimator="unbiased"):
    r"""One generation's factor :math:`E W^r`, :math:`W = \chi^2_{M-1} / D` (D = M - 1 or M).

    .. math:: E W^r = (2/D)^r \, \Gamma\!\left(\tfrac{M-1}{2} + r\right) / \Gamma\!\left(\tfrac{M-1}{2}\right)

    Infinite where ``(M - 1)/2 + r <= 0``.

    Parameters
    ----------
    M : int or int array (>= 2)
    r : float (finite)
    estimator : {'unbiased', 'mle'}

    Returns
    -------
    float or ndarray

    Raises
    ------
    ValueError, TypeError
        ``M`` below 2 or not integral, ``r`` not finite (named).

    Examples
    --------
    >>> moment_factor(10, 1.0)
    1.0
    """
    estimator = _estimator(estimator)
    r = check_float("r", r)
    m = _int_sizes("M", M)
    with np.errstate(over="ignore"):  # a factor beyond float64 is +inf, as documented
        out = np.exp(_log_moment_factor(m, r, estimator))
    return float(out) if out.ndim == 0 else out


def _int_sizes(name, M, minimum=2):
    """Integer sample sizes (an int or an int array) as float64; bools, floats and strings refused."""
    if isinstance(M, (bool, np.bool_, str, bytes)):
        raise TypeError(f"{name} must be an int or an int array, got {M!r}")
    arr = np.asarray(M)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr)) and np.all(arr == np.floor(arr)):
            arr = arr.astype(np.int64)
        else:
            raise TypeError(f"{name} must be integers (sample sizes), got {M!r}")
    if arr.size and arr.min() < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got a minimum of {int(arr.min())}")
    return arr.astype(np.float64)


def _cum_log_moment(n, M, r, estimator):
    n_arr, n_max = _n_array(n)
    sizes = _sizes(M, n_max, minimum=2 if estimator == "unbiased" else 1)
    if estimator == "mle" and sizes.size and sizes.min() < 2:
        raise ValueError("M: the MLE variance of one point is 0; sizes must be >= 2 for its moments")
    cum = np.concatenate([[0.0], np.cumsum(_log_moment_factor(sizes, r, estimator))])
    return cum, n_arr


def expected_variance_power(n, M, r=1.0, sigma0=1.0, estimator="unbiased"):
    r"""Exact :math:`E \sigma_n^{2r}` after ``n`` generations.

    .. math:: E \sigma_n^{2r} = \sigma_0^{2r} \prod_{t=1}^{n} (2/D_t)^r
              \frac{\Gamma(k_t/2 + r)}{\Gamma(k_t/2)}, \qquad k_t = M_t - 1

    Parameters
    ----------
    n : int or array_like of int
        Generations (0 gives ``sigma0^{2r}``).
    M : int, Schedule or int array
        Sample sizes ``M_t`` (constant, ``ct.schedules.*``, or ``M_1 .. M_n``).
    r : float
        Any real power with ``k_t/2 + r > 0`` (otherwise ``inf``).
    sigma0 : float
    estimator : {'unbiased', 'mle'}

    Returns
    -------
    float or ndarray, shape of ``n``

    Raises
    ------
    ValueError, TypeError
        ``n`` negative, a sample size below 2, ``r`` not finite, a non-positive
        ``sigma0`` or an unknown ``estimator`` (each named).

    Examples
    --------
    For ``M = 3`` (``k = D = 2``) one generation gives
    :math:`E\sigma_1^4 = \Gamma(3)/\Gamma(1) = 2`:

    >>> print(f"{expected_variance_power(1, 3, r=2.0):.6f}")
    2.000000
    """
    estimator = _estimator(estimator)
    sigma0 = _sigma0(sigma0)
    r = check_float("r", r)
    cum, n_arr = _cum_log_moment(n, M, r, estimator)
    # in log space: sigma0^(2r) may under- or overflow where the product does not (0 * inf = NaN)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        direct = np.power(np.float64(sigma0), 2.0 * r) * np.exp(cum)  # exact for n = 0 (variance_of_variance cancels)
        # in log space where a factor under- or overflows and the product need not (0 * inf = NaN)
        log_out = 2.0 * r * np.log(sigma0) + cum
        logspace = np.where(np.isposinf(cum), np.inf, np.exp(np.nan_to_num(log_out, nan=np.inf)))
    return _take(np.where(np.isfinite(direct) & (direct > 0), direct, logspace), n_arr)


def expected_variance(n, M, sigma0=1.0, estimator="unbiased"):
    r"""Exact :math:`E \sigma_n^2`: ``sigma0^2`` (unbiased, a martingale) or ``sigma0^2 prod (M_t-1)/M_t`` (MLE).

    .. math:: E \sigma_n^2 = \sigma_0^2 \prod_t (M_t - 1)/D_t

    Parameters
    ----------
    n : int or array_like of int
        Generations (non-negative; 0 gives the starting value).
    M : int, Schedule or int array
        Sample sizes ``M_t`` (constant, ``ct.schedules.*``, or ``M_1 .. M_n``), each >= 2.
    sigma0 : float
        Standard deviation of generation 0 (> 0).
    estimator : {'unbiased', 'mle'}
        Variance estimator refitted each generation (divisor ``D_t = M_t - 1`` or ``M_t``).

    Returns
    -------
    float or ndarray
        E sigma_n^2; a float for a scalar ``n``, else an array of the shape of ``n``.

    Raises
    ------
    ValueError, TypeError
        ``n`` negative or too large for memory, a sample size below 2, a
        non-positive ``sigma0`` (or one whose result exceeds float64's range) or an unknown ``estimator`` (each named).

    Examples
    --------
    Unbiased refits keep the expected variance; MLE ones shrink it by
    ``(M - 1)/M`` a generation, here ``0.9^3``:

    >>> expected_variance(3, 10)
    1.0
    >>> print(f"{expected_variance(3, 10, estimator='mle'):.6f}")
    0.729000
    """
    sigma0 = _sigma0(sigma0)
    return _scale_by_sigma0(expected_variance_power(n, M, 1.0, 1.0, estimator), sigma0, 2)


def variance_of_variance(n, M, sigma0=1.0, estimator="unbiased"):
    r"""Exact :math:`\operatorname{Var} \sigma_n^2 = E\sigma_n^4 - (E\sigma_n^2)^2`.

    .. math:: \operatorname{Var}\sigma_n^2 = \sigma_0^4 \Bigl(\prod_t \frac{k_t (k_t+2)}{D_t^2}
              - \prod_t \frac{k_t^2}{D_t^2}\Bigr)

    Parameters
    ----------
    n : int or array_like of int
        Generations (non-negative; 0 gives the starting value).
    M : int, Schedule or int array
        Sample sizes ``M_t`` (constant, ``ct.schedules.*``, or ``M_1 .. M_n``), each >= 2.
    sigma0 : float
        Standard deviation of generation 0 (> 0).
    estimator : {'unbiased', 'mle'}
        Variance estimator refitted each generation (divisor ``D_t = M_t - 1`` or ``M_t``).

    Returns
    -------
    float or ndarray
        Var sigma_n^2 (never below 0; inf where it exceeds float64's range); a float for a scalar ``n``, else an
        array of the shape of ``n``.

    Raises
    ------
    ValueError, TypeError
        ``n`` negative or too large for memory, a sample size below 2, a
        non-positive ``sigma0`` or an unknown ``estimator`` (each named).

    Examples
    --------
    One unbiased generation: :math:`\operatorname{Var} s^2 = 2\sigma_0^4/(M-1)`, here ``2/4``:

    >>> print(f"{variance_of_variance(1, 5):.6f}")
    0.500000
    """
    sigma0 = _sigma0(sigma0)
    # at sigma0 = 1, then scaled: E s^4 and (E s^2)^2 may each overflow where their difference is 0 (n = 0)
    e2 = expected_variance_power(n, M, 2.0, 1.0, estimator)
    e1 = expected_variance_power(n, M, 1.0, 1.0, estimator)
    # a variance: round-off in E s^4 - (E s^2)^2 (both 1 at n = 0) is not below 0; inf beyond float64's range
    return _scale_by_sigma0(np.maximum(e2 - np.square(e1), 0.0), sigma0, 4, finite=False)


def expected_std(n, M, sigma0=1.0, estimator="unbiased"):
    r"""Exact :math:`E \sigma_n`; unbiased: :math:`\sigma_0 \prod_t c_4(M_t)`.

    .. math:: E \sigma_n = \sigma_0 \prod_t \sqrt{2/D_t}\, \Gamma(M_t/2) / \Gamma((M_t-1)/2)

    (Bertrand et al., ICLR 2024, for constant M and the unbiased estimator.)

    Parameters
    ----------
    n : int or array_like of int
        Generations (non-negative; 0 gives the starting value).
    M : int, Schedule or int array
        Sample sizes ``M_t`` (constant, ``ct.schedules.*``, or ``M_1 .. M_n``), each >= 2.
    sigma0 : float
        Standard deviation of generation 0 (> 0).
    estimator : {'unbiased', 'mle'}
        Variance estimator refitted each generation (divisor ``D_t = M_t - 1`` or ``M_t``).

    Returns
    -------
    float or ndarray
        E sigma_n; a float for a scalar ``n``, else an array of the shape of ``n``.

    Raises
    ------
    ValueError, TypeError
        ``n`` negative or too large for memory, a sample size below 2, a
        non-positive ``sigma0`` or an unknown ``estimator`` (each named).

    Examples
    --------
    One unbiased generation of ``M = 2``: :math:`c_4(2) = \sqrt{2/\pi}`:

    >>> print(f"{expected_std(1, 2):.6f}")
    0.797885
    """
    return expected_variance_power(n, M, 0.5, sigma0, estimator)


def expected_log_variance(n, M, sigma0=1.0, estimator="unbiased"):
    r"""Exact :math:`E \log \sigma_n^2`.

    .. math:: E \log\sigma_n^2 = \log\sigma_0^2 + \sum_t \bigl[\psi(k_t/2) + \log(2/D_t)\bigr]

    Parameters
    ----------
    n : int or array_like of int
        Generations (non-negative; 0 gives the starting value).
    M : int, Schedule or int array
        Sample sizes ``M_t`` (constant, ``ct.schedules.*``, or ``M_1 .. M_n``), each >= 2.
    sigma0 : float
        Standard deviation of generation 0 (> 0).
    estimator : {'unbiased', 'mle'}
        Variance estimator refitted each generation (divisor ``D_t = M_t - 1`` or ``M_t``).

    Returns
    -------
    float or ndarray
        E log sigma_n^2; a float for a scalar ``n``, else an array of the shape of ``n``.

    Raises
    ------
    ValueError, TypeError
        ``n`` negative or too large for memory, a sample size below 2, a
        non-positive ``sigma0`` or an unknown ``estimator`` (each named).

    Examples
    --------
    ``M = 3``, unbiased: :math:`\psi(1) + \log(2/2) = -\gamma` (Euler's constant):

    >>> import numpy as np
    >>> print(f"{expected_log_variance(1, 3):.6f}", f"{-np.euler_gamma:.6f}")
    -0.577216 -0.577216
    """
    estimator = _estimator(estimator)
    sigma0 = check_float("sigma0", sigma0, min=0.0, min_inclusive=False)
    n_arr, n_max = _n_array(n)
    sizes = _sizes(M, n_max)
    cum = np.concatenate([[0.0], np.cumsum(log_variance_drift(sizes.astype(np.int64), estimator))])
    return _take(2.0 * np.log(sigma0) + cum, n_arr)


def log_variance_variance(n, M, estimator="unbiased"):
    r"""Exact :math:`\operatorname{Var} \log \sigma_n^2 = \sum_t \psi'(k_t/2)` (any estimator).

    .. math:: \operatorname{Var}\log\sigma_n^2 = \sum_{t=1}^n \psi'\bigl((M_t - 1)/2\bigr)

    Parameters
    ----------
    n : int or array_like of int
        Generations (non-negative; 0 gives the starting value).
    M : int, Schedule or int array
        Sample sizes ``M_t`` (constant, ``ct.schedules.*``, or ``M_1 .. M_n``), each >= 2.
    estimator : {'unbiased', 'mle'}
        Validated only: the value does not depend on it (the divisor shifts
        :math:`\log\sigma^2` by a constant).

    Returns
    -------
    float or ndarray
        Var log sigma_n^2; a float for a scalar ``n``, else an array of the shape of ``n``.

    Raises
    ------
    ValueError, TypeError
        ``n`` negative, a sample size below 2 or an unknown ``estimator`` (named).

    Examples
    --------
    ``M = 3``: :math:`\psi'(1) = \pi^2/6`:

    >>> import math
    >>> print(f"{log_variance_variance(1, 3):.6f}", f"{math.pi**2 / 6:.6f}")
    1.644934 1.644934
    """
    _estimator(estimator)
    n_arr, n_max = _n_array(n)
    sizes = _sizes(M, n_max)
    cum = np.concatenate([[0.0], np.cumsum(polygamma(1, (sizes - 1.0) / 2.0))])
    return _take(cum, n_arr)


def log_variance_drift(M, estimator="unbiased"):
    r"""Drift of :math:`\log\sigma^2` per generation, :math:`E \log W` (negative: a.s. collapse).

    .. math:: E \log W = \psi\bigl(\tfrac{M-1}{2}\bigr) + \log\frac{2}{D} \approx -\frac{1}{M-1}
              \quad (\text{unbiased}),

    so :math:`\log\sigma_n^2 \to -\infty` almost surely (strong law) while
    :math:`E\sigma_n^2 = \sigma_0^2`.

    Parameters
    ----------
    M : int or int array (>= 2)
    estimator : {'unbiased', 'mle'}

    Returns
    -------
    float or ndarray

    Raises
    ------
    ValueError, TypeError
        ``M`` below 2, not integral, or a Schedule (named).

    Examples
    --------
    ``M = 3``: :math:`\psi(1) = -\gamma`, so :math:`\log\sigma^2` drifts down by
    0.577 a generation:

    >>> print(f"{log_variance_drift(3):.6f}")
    -0.577216
    """
    estimator = _estimator(estimator)
    if isinstance(M, Schedule):
        raise TypeError("log_variance_drift takes M as an int or an int array; use expected_log_variance for schedules")
    m = np.asarray(M)
    if m.dtype == bool or not np.issubdtype(m.dtype, np.integer):
        raise TypeError(f"M must be an int or an int array, got {M!r}")
    m = m.astype(np.float64)
    if np.any(m < 2):
        raise ValueError(f"M must be >= 2, got a minimum of {int(m.min())}")
    out = digamma((m - 1.0) / 2.0) + np.log(2.0 / _denominator(m, estimator))
    return float(out) if out.ndim == 0 else out


def _mean_sq_cum(sizes, estimator):
    """E (mu_t - mu_0)^2 / sigma0^2 for t = 0 .. n: sum_t E sigma_{t-1}^2 / M_t."""
    ev = np.concatenate([[1.0], np.cumprod((sizes - 1.0) / _denominator(sizes, estimator))])
    return np.concatenate([[0.0], np.cumsum(ev[:-1] / sizes)]), ev


def expected_mean_squared_error(n, M, sigma0=1.0, estimator="unbiased"):
    r"""Exact :math:`E(\mu_n - \mu_0)^2` (a martingale's variance).

    .. math:: E(\mu_n - \mu_0)^2 = \sum_{t=1}^n \frac{E\sigma_{t-1}^2}{M_t}
              = \sigma_0^2 \sum_{t=1}^n \frac{1}{M_t} \prod_{s<t} \frac{M_s - 1}{D_s}

    Parameters
    ----------
    n : int or array_like of int
        Generations (non-negative; 0 gives the starting value).
    M : int, Schedule or int array
        Sample sizes ``M_t`` (constant, ``ct.schedules.*``, or ``M_1 .. M_n``), each >= 2.
    sigma0 : float
        Standard deviation of generation 0 (> 0).
    estimator : {'unbiased', 'mle'}
        Variance estimator refitted each generation (divisor ``D_t = M_t - 1`` or ``M_t``).

    Returns
    -------
    float or ndarray
        E (mu_n - mu_0)^2; a float for a scalar ``n``, else an array of the shape of ``n``.

    Raises
    ------
    ValueError, TypeError
        ``n`` negative or too large for memory, a sample size below 2, a
        non-positive ``sigma0`` (or one whose result exceeds float64's range) or an unknown ``estimator`` (each named).

    Examples
    --------
    Unbiased: :math:`\sigma_0^2 \sum_t 1/M_t = 2/10`; MLE: :math:`1/10 + 0.9/10`:

    >>> print(f"{expected_mean_squared_error(2, 10):.6f}")
    0.200000
    >>> print(f"{expected_mean_squared_error(2, 10, estimator='mle'):.6f}")
    0.190000
    """
    estimator = _estimator(estimator)
    sigma0 = _sigma0(sigma0)
    n_arr, n_max = _n_array(n)
    sizes = _sizes(M, n_max)
    cum, _ = _mean_sq_cum(sizes, estimator)
    return _take(_scale_by_sigma0(cum, sigma0, 2), n_arr)


def expected_w2_squared(n, M, sigma0=1.0, estimator="unbiased"):
    r"""Exact :math:`E W_2^2(N(\mu_n, \sigma_n^2), N(\mu_0, \sigma_0^2))` at finite M.

    .. math:: E W_2^2 = E(\mu_n-\mu_0)^2 + E\sigma_n^2 - 2\sigma_0 E\sigma_n + \sigma_0^2
              \overset{\text{unbiased}}{=} \sigma_0^2 \Bigl(\sum_{t=1}^n \frac{1}{M_t}
              + 2 - 2\prod_{t=1}^n c_4(M_t)\Bigr)

    MLE: :math:`\sigma_0^2\bigl(\sum_t \frac{1}{M_t}\prod_{s<t} q_s + \prod_t q_t + 1
    - 2 \prod_t c_4(M_t) \sqrt{q_t}\bigr)`, :math:`q = (M-1)/M`. To first order in
    ``1/M`` the unbiased value is the paper's :math:`\tfrac32 \sigma_0^2 \sum_t 1/M_t`
    (:func:`paper_w2_squared`; see :func:`derivations`).

    Parameters
    ----------
    n : int or array_like of int
    M : int, Schedule or int array (>= 2)
    sigma0 : float
    estimator : {'unbiased', 'mle'}

    Returns
    -------
    float or ndarray, shape of ``n``

    Raises
    ------
    ValueError, TypeError
        ``n`` negative, a sample size below 2, a non-positive ``sigma0`` (or one whose result exceeds float64's range) or an
        unknown ``estimator`` (each named).

    Examples
    --------
    One generation of ``M = 2``: :math:`1/2 + 2 - 2\sqrt{2/\pi}`:

    >>> import math
    >>> print(f"{expected_w2_squared(1, 2):.6f}", f"{2.5 - 2 * math.sqrt(2 / math.pi):.6f}")
    0.904231 0.904231
    """
    estimator = _estimator(estimator)
    sigma0 = _sigma0(sigma0)
    n_arr, n_max = _n_array(n)
    sizes = _sizes(M, n_max)
    mean_cum, ev = _mean_sq_cum(sizes, estimator)
    log_es = np.concatenate([[0.0], np.cumsum(_log_moment_factor(sizes, 0.5, estimator))])
    # 2 - 2 prod c4 computed as -2 expm1(log prod) keeps precision for large M
    out = _scale_by_sigma0(mean_cum + (ev - 1.0) - 2.0 * np.expm1(log_es), sigma0, 2)
    return _take(out, n_arr)


def paper_w2_squared(n, M, sigma0=1.0):
    r"""The paper's first-order approximation :math:`\tfrac32 \sigma_0^2 \sum_{t=1}^n 1/M_t`.

    .. math:: E W_2^2 \approx \frac{3}{2} \sigma_0^2 \sum_{t=1}^n \frac{1}{M_t}

    (Shumailov et al. 2024, arXiv 2305.17493 v3, derivation of Theorem 3.1.)

    Parameters
    ----------
    n : int or array_like of int
        Generations (non-negative; 0 gives the starting value).
    M : int, Schedule or int array
        Sample sizes ``M_t`` (constant, ``ct.schedules.*``, or ``M_1 .. M_n``), each >= 2.
    sigma0 : float
        Standard deviation of generation 0 (> 0).

    Returns
    -------
    float or ndarray
        the approximation of E W_2^2; a float for a scalar ``n``, else an array of the shape of ``n``.

    Raises
    ------
    ValueError, TypeError
        ``n`` negative, a sample size below 2 or a non-positive ``sigma0`` (or one whose result exceeds float64's range) (named).

    Examples
    --------
    Four generations of ``M = 10``: ``1.5 * 4/10``:

    >>> print(f"{paper_w2_squared(4, 10):.6f}")
    0.600000
    """
    sigma0 = _sigma0(sigma0)
    n_arr, n_max = _n_array(n)
    sizes = _sizes(M, n_max, minimum=2)  # as its siblings: the unbiased variance needs M >= 2
    cum = np.concatenate([[0.0], np.cumsum(1.0 / sizes)])
    return _take(_scale_by_sigma0(1.5 * cum, sigma0, 2), n_arr)


# --------------------------------------------------------------------------- schedules
def schedule_is_bounded(exponent) -> bool:
    r"""Whether :math:`\lim_n E W_2^2` is finite for :math:`M_t = M_0 t^a` (decided by SymPy).

    .. math:: \lim_{n\to\infty} E W_2^2 < \infty \iff \sum_t t^{-a} < \infty \iff a > 1

    ``E W2^2 = sigma0^2 (sum 1/M_t + 2 - 2 prod c4(M_t))``; ``-log c4(M) ~ 1/(4M)``
    (limit comparison, see :func:`derivations`), so both the sum and the
    product converge exactly when ``sum t^{-a}`` does; SymPy's
    ``Sum.is_convergent`` decides that for the given exponent.

    Parameters
    ----------
    exponent : float
        The growth exponent ``a >= 0`` of ``M_t = M_0 t^a``.

    Returns
    -------
    bool
        True when the limit of ``E W_2^2`` is finite (``a > 1``).

    Raises
    ------
    ValueError, TypeError
        ``exponent`` negative or not a finite number (named).

    Examples
    --------
    >>> schedule_is_bounded(2.0), schedule_is_bounded(1.0)
    (True, False)
    """
    import sympy as sp

    a = check_float("exponent", exponent, min=0.0)
    t = sp.Symbol("t", positive=True, integer=True)
    return bool(sp.Sum(1 / t ** sp.nsimplify(a), (t, 1, sp.oo)).is_convergent())


def _zeta_tail(s, q):
    """Hurwitz zeta ``sum_{t >= q} t^-s`` (q >= 2); 0 where ``q^-s`` underflows (SciPy returns NaN for s ~ 1e13)."""
    if s * np.log(q) > 750.0:
        return 0.0
    return float(zeta(s, q))


def schedule_limit(M0, exponent, sigma0=1.0, estimator="unbiased", *, rounded=True, terms=200_000):
    r""":math:`\lim_{n\to\infty} E W_2^2` for :math:`M_t = M_0 t^a` (``inf`` unless ``a > 1``).

    .. math:: \lim_n E W_2^2 = \sigma_0^2\Bigl(\sum_{t\ge1} \frac{1}{M_t} + 2 - 2\prod_{t\ge1} c_4(M_t)\Bigr)
              \quad(\text{unbiased; } \sum_t 1/M_t = \zeta(a)/M_0 \text{ without rounding})

    The first ``terms`` generations are summed exactly (with ``M_t`` rounded to
    integers as :func:`ct.schedules.power` does when ``rounded``); the tail
    uses ``1/M_t`` and ``-log c4(M) ~ 1/(4M) + 1/(4M^2)`` with the Hurwitz zeta
    function, an error below ``1e-12`` relative for the defaults.

    Parameters
    ----------
    M0 : int
        Sample size of the first generation (>= 2).
    exponent : float
        Growth exponent ``a >= 0`` of ``M_t = M_0 t^a``.
    sigma0 : float
        Standard deviation of generation 0 (> 0).
    estimator : {'unbiased', 'mle'}
        Variance estimator refitted each generation.
    rounded : bool, keyword-only
        Round ``M_t`` to integers (as the simulated schedules do).
    terms : int, keyword-only
        Generations summed exactly before the zeta-function tail (>= 100).

    Returns
    -------
    float
        The limit, ``inf`` unless ``a > 1``.

    Raises
    ------
    ValueError, TypeError
        ``M0`` below 2, a negative ``exponent``, ``terms`` below 100, a
        non-positive ``sigma0`` (or one whose result exceeds float64's range), an unknown ``estimator`` or a non-bool
        ``rounded`` (each named).

    Examples
    --------
    ``a = 1`` diverges (harmonic series); for ``a = 2`` the limit is close to
    the first-order :math:`\tfrac32\zeta(2)/M_0 = 0.2467`:

    >>> schedule_limit(10, 1.0)
    inf
    >>> round(schedule_limit(10, 2.0), 2)
    0.25
    """
    estimator = _estimator(estimator)
    M0 = check_int("M0", M0, min=2)
    a = check_float("exponent", exponent, min=0.0)
    sigma0 = _sigma0(sigma0)
    terms = check_int("terms", terms, min=100)
    if not isinstance(rounded, (bool, np.bool_)):
        raise TypeError(f"rounded must be a bool, got {rounded!r}")
    if not schedule_is_bounded(a):
        return float("inf")
    from . import discrete as _td  # one memory limit for the theory modules (read at call time)

    need = _BYTES_PER_GENERATION * terms
    if need > _td.MEMORY_LIMIT_BYTES:
        raise ValueError(
            f"terms = {terms}: the exact sum would need about {need / 2**30:.3g} GiB, above "
            f"theory.discrete.MEMORY_LIMIT_BYTES = {_td.MEMORY_LIMIT_BYTES / 2**30:.3g} GiB; use fewer terms "
            "(the zeta-function tail is exact to rounding beyond the default 200000)"
        )
    t = np.arange(1, terms + 1, dtype=np.float64)
    with np.errstate(over="ignore"):
        sizes = np.rint(M0 * t**a) if rounded else M0 * t**a
    # sizes beyond 1e300 (t^a overflows for large a) contribute below 1e-300: capped, not inf (inf/inf is NaN)
    sizes = np.clip(sizes, 2.0, 1e300)
    tail_inv = _zeta_tail(a, terms + 1) / M0  # sum_{t > terms} 1 / (M0 t^a)
    tail_inv2 = _zeta_tail(2 * a, terms + 1) / M0**2
    D = _denominator(sizes, estimator)
    ev = np.cumprod((sizes - 1.0) / D)
    mean_sq = np.sum(np.concatenate([[1.0], ev[:-1]]) / sizes)
    log_es = np.sum(_log_moment_factor(sizes, 0.5, estimator))
    if estimator == "unbiased":
        mean_sq += tail_inv
        log_es += -0.25 * tail_inv - 0.25 * tail_inv2
        var_term = 0.0
    else:
        # MLE: E sigma^2 -> prod (1 - 1/M_t) and E sigma -> prod c4 sqrt(1 - 1/M)
        log_ev_tail = -tail_inv - 0.5 * tail_inv2
        mean_sq += ev[-1] * tail_inv
        log_es += -0.75 * tail_inv
        var_term = np.expm1(np.log(ev[-1]) + log_ev_tail)
    return float(_scale_by_sigma0(mean_sq + var_term - 2.0 * np.expm1(log_es), sigma0, 2))


# --------------------------------------------------------------------------- d dimensions
def _cov0(cov0):
    C = check_covariance("cov0", cov0)
    if C.ndim == 0:
        C = C.reshape(1, 1)
    return C


def _mv_workflow(n, M, C, estimator, mixing, which):
    """d-D first and second moments of any workflow: the 1-D recursion (sigma0 = 1) times tr Sigma_0.

    Every step of the recursions is linear in the second-moment matrices (E Wishart_d(k, S) = k S, the
    between-group terms are outer products of mean differences, subsets are drawn without replacement):
    E Sigma_t = v_t Sigma_0 and E (mu_t - mu_0)(mu_t - mu_0)^T = e_t Sigma_0 exactly.
    """
    n_arr, n_max = _n_array(n)
    path = moment_recursion(n_max, M, mixing=mixing, estimator=estimator)
    arr = path.variance if which == "trace" else path.mean_squared_error
    return _take(arr * float(np.trace(C)), n_arr)


def expected_mean_squared_error_mv(n, M, cov0, estimator="unbiased", *, mixing=None):
    r"""Exact :math:`E\lVert\mu_n - \mu_0\rVert^2` in d dimensions, any workflow.

    .. math:: E\lVert\mu_n-\mu_0\rVert^2 = \operatorname{tr}\Sigma_0 \sum_{t=1}^n \frac{1}{M_t}
              \prod_{s<t}\frac{M_s-1}{D_s} \quad(\text{replace}),

    and :math:`e_n \operatorname{tr}\Sigma_0` with :math:`e_n` from :func:`moment_recursion`
    (sigma0 = 1) for every other workflow: the recursions are linear in the
    second-moment matrices, so :math:`E(\mu_n-\mu_0)(\mu_n-\mu_0)^T = e_n\Sigma_0`.

    Parameters
    ----------
    n : int or array_like of int
    M : int, Schedule or int array (other workflows: an int)
    cov0 : array_like, shape (d, d)
    estimator : {'unbiased', 'mle'}
    mixing : Mixing or spec, optional

    Returns
    -------
    float or ndarray

    Examples
    --------
    >>> import numpy as np
    >>> round(expected_mean_squared_error_mv(1, 10, np.eye(3), mixing="accumulate"), 6)
    0.3
    """
    C = _cov0(cov0)
    mixing = _mix(mixing)
    if mixing.workflow != "replace":
        return _mv_workflow(n, M, C, _estimator(estimator), mixing, "msq")
    return expected_mean_squared_error(n, M, 1.0, estimator) * float(np.trace(C))


def expected_trace(n, M, cov0, estimator="unbiased", *, mixing=None):
    r"""Exact :math:`E \operatorname{tr}\Sigma_n`, any workflow (replace: :math:`\operatorname{tr}\Sigma_0 \prod_t (M_t-1)/D_t`).

    .. math:: E\,\Sigma_n = \Sigma_0 \prod_t (M_t - 1)/D_t \quad (E\,\mathrm{Wishart}_d(k, \Sigma) = k\Sigma);

    other workflows: :math:`E\Sigma_n = v_n \Sigma_0` with :math:`v_n` from :func:`moment_recursion`
    (see :func:`expected_mean_squared_error_mv`).

    Parameters
    ----------
    n : int or array_like of int
    M : int, Schedule or int array (other workflows: an int)
    cov0 : array_like, shape (d, d)
    estimator : {'unbiased', 'mle'}
    mixing : Mixing or spec, optional

    Returns
    -------
    float or ndarray

    Examples
    --------
    >>> import numpy as np
    >>> expected_trace(3, 10, np.eye(2))
    2.0
    """
    C = _cov0(cov0)
    mixing = _mix(mixing)
    if mixing.workflow != "replace":
        return _mv_workflow(n, M, C, _estimator(estimator), mixing, "trace")
    return expected_variance(n, M, 1.0, estimator) * float(np.trace(C))


def _det_factors(n, M, d, estimator, r=1.0):
    n_arr, n_max = _n_array(n)
    sizes = _sizes(M, n_max, minimum=d + 1)
    k = sizes - 1.0
    D = _denominator(sizes, estimator)
    j = np.arange(d)[None, :]
    return n_arr, sizes, k[:, None] - j, D


def expected_det(n, M, cov0, estimator="unbiased"):
    r"""Exact :math:`E\det\Sigma_n` through the Bartlett decomposition.

    .. math:: E\det\Sigma_n = \det\Sigma_0 \prod_{t=1}^n D_t^{-d} \prod_{j=0}^{d-1} (k_t - j)

    since :math:`\det \mathrm{Wishart}_d(k, I) \sim \prod_{j=0}^{d-1}\chi^2_{k-j}`
    (independent; Muirhead 1982, Thm 3.2.14).

    Parameters
    ----------
    n : int or array_like of int
        Generations (non-negative; 0 gives the starting value).
    M : int, Schedule or int array
        Sample sizes ``M_t``, each >= d + 1.
    cov0 : array_like, shape (d, d)
        Covariance of generation 0 (symmetric positive definite).
    estimator : {'unbiased', 'mle'}
        Variance estimator refitted each generation (divisor ``D_t = M_t - 1`` or ``M_t``).

    Returns
    -------
    float or ndarray
        E det Sigma_n; a float for a scalar ``n``, else an array of the shape of ``n``.

    Raises
    ------
    ValueError, TypeError
        ``n`` negative, a sample size below ``d + 1``, a ``cov0`` that is not a
        covariance matrix or an unknown ``estimator`` (each named).

    Examples
    --------
    ``d = 2``, ``M = 3`` (``k = D = 2``): :math:`2 \cdot 1 / 2^2`:

    >>> import numpy as np
    >>> print(f"{expected_det(1, 3, np.eye(2)):.6f}")
    0.500000
    """
    estimator = _estimator(estimator)
    C = _cov0(cov0)
    d = C.shape[0]
    n_arr, sizes, kj, D = _det_factors(n, M, d, estimator)
    log_f = np.sum(np.log(kj), axis=1) - d * np.log(D)
    sign, logdet0 = np.linalg.slogdet(C)
    cum = np.concatenate([[0.0], np.cumsum(log_f)])
    return _take(sign * np.exp(logdet0 + cum) if sign > 0 else np.zeros_like(cum), n_arr)


def expected_log_det(n, M, cov0, estimator="unbiased"):
    r"""Exact :math:`E\log\det\Sigma_n`.

    .. math:: E\log\det\Sigma_n = \log\det\Sigma_0 + \sum_{t=1}^n\Bigl[\sum_{j=0}^{d-1}
              \bigl(\psi(\tfrac{k_t-j}{2}) + \log 2\bigr) - d\log D_t\Bigr]

    Parameters
    ----------
    n : int or array_like of int
        Generations (non-negative; 0 gives the starting value).
    M : int, Schedule or int array
        Sample sizes ``M_t``, each >= d + 1.
    cov0 : array_like, shape (d, d)
        Covariance of generation 0 (symmetric positive definite).
    estimator : {'unbiased', 'mle'}
        Variance estimator refitted each generation (divisor ``D_t = M_t - 1`` or ``M_t``).

    Returns
    -------
    float or ndarray
        E log det Sigma_n; a float for a scalar ``n``, else an array of the shape of ``n``.

    Raises
    ------
    ValueError, TypeError
        ``n`` negative, a sample size below ``d + 1``, a ``cov0`` that is not
        positive definite or an unknown ``estimator`` (each named).

    Examples
    --------
    ``d = 2``, ``M = 4`` (``k = D = 3``): :math:`\psi(3/2) + \psi(1) + 2\log 2 - 2\log 3
    = 2 - 2\gamma - 2\log 3`:

    >>> import math
    >>> import numpy as np
    >>> print(f"{expected_log_det(1, 4, np.eye(2)):.6f}", f"{2 - 2 * np.euler_gamma - 2 * math.log(3):.6f}")
    -1.351656 -1.351656
    """
    estimator = _estimator(estimator)
    C = _cov0(cov0)
    d = C.shape[0]
    n_arr, sizes, kj, D = _det_factors(n, M, d, estimator)
    f = np.sum(digamma(kj / 2.0) + np.log(2.0), axis=1) - d * np.log(D)
    sign, logdet0 = np.linalg.slogdet(C)
    if sign <= 0:
        raise ValueError("cov0 must be positive definite")
    return _take(logdet0 + np.concatenate([[0.0], np.cumsum(f)]), n_arr)


def log_det_variance(n, M, d, estimator="unbiased"):
    r"""Exact :math:`\operatorname{Var}\log\det\Sigma_n = \sum_t\sum_{j=0}^{d-1}\psi'\bigl(\tfrac{k_t-j}{2}\bigr)`.

    .. math:: \operatorname{Var}\log\det\Sigma_n = \sum_{t=1}^n \sum_{j=0}^{d-1} \psi'\bigl((M_t-1-j)/2\bigr)

    Parameters
    ----------
    n : int or array_like of int
        Generations (non-negative; 0 gives the starting value).
    M : int, Schedule or int array
        Sample sizes ``M_t``, each >= d + 1.
    d : int
        Dimension (>= 1).
    estimator : {'unbiased', 'mle'}
        Validated only: the value does not depend on it.

    Returns
    -------
    float or ndarray
        Var log det Sigma_n; a float for a scalar ``n``, else an array of the shape of ``n``.

    Raises
    ------
    ValueError, TypeError
        ``n`` negative, ``d`` below 1, a sample size below ``d + 1`` or an
        unknown ``estimator`` (each named).

    Examples
    --------
    ``d = 2``, ``M = 4``: :math:`\psi'(3/2) + \psi'(1) = (\pi^2/2 - 4) + \pi^2/6`:

    >>> import math
    >>> print(f"{log_det_variance(1, 4, 2):.6f}", f"{2 * math.pi**2 / 3 - 4:.6f}")
    2.579736 2.579736
    """
    _estimator(estimator)
    d = check_int("d", d, min=1)
    n_arr, sizes, kj, D = _det_factors(n, M, d, estimator)
    return _take(np.concatenate([[0.0], np.cumsum(np.sum(polygamma(1, kj / 2.0), axis=1))]), n_arr)


# --------------------------------------------------------------------------- every workflow
_ORDER = 8  # moments of sigma^2 behind the E sigma bracket (see WorkflowMoments)
#: The mixture workflow's state has one moment per partition of a weight <= 2 order (272 at
#: order 6, 915 at order 8): its default order is 6, at most 8.
_MIXTURE_ORDER = 6
_MIXTURE_MAX_ORDER = 8
#: A constant-transition moment path stops iterating once every moment's relative change per
#: generation is at most this (a fixed point to rounding); later generations repeat it.
_FIXED_RTOL = 1e-15


def _mix(mixing):
    return check_mixing(mixing, WORKFLOWS, where="theory.gaussian")


def _const_M(M):
    if isinstance(M, Schedule):
        if M.kind != "constant":
            raise ValueError(f"M: this function needs a constant sample size, got a {M.kind} schedule")
        return int(M.m0)
    return check_int("M", M, min=2)


def _ddof(estimator):
    return 1.0 if estimator == "unbiased" else 0.0


@dataclass(frozen=True)
class MomentPath:
    """Exact first and second moments along a chain under any workflow (1-D, or per unit of tr Sigma_0).

    Attributes
    ----------
    variance : ndarray, shape (n+1,)
        :math:`E\\sigma_t^2`, t = 0..n (in d dimensions :math:`E\\operatorname{tr}\\Sigma_t
        = \\text{variance}_t \\operatorname{tr}\\Sigma_0 / \\sigma_0^2`).
    mean_squared_error : ndarray, shape (n+1,)
        :math:`E(\\mu_t-\\mu_0)^2` (d-D: :math:`E\\lVert\\mu_t-\\mu_0\\rVert^2` likewise).
    pool_size : ndarray, shape (n+1,)
        Points the model of generation t was fitted to (0 at t = 0).
    mixing : str
        The workflow's spec (:meth:`Mixing.to_spec`).
    """

    variance: np.ndarray
    mean_squared_error: np.ndarray
    pool_size: np.ndarray
    mixing: str = "replace"

    @property
    def w2_squared_lower_bound(self) -> np.ndarray:
        """Jensen lower bound on E W2^2 (see :func:`w2_squared_lower_bound`), sigma0 = sqrt(variance[0])."""
        return w2_squared_lower_bound(self.variance, self.mean_squared_error, float(np.sqrt(self.variance[0])))


def _first_moments(n, M, mixing, estimator):
    """(v, e, pool) for sigma0 = 1, t = 0..n: exact first and second moments for every workflow."""
    wf = mixing.workflow
    if wf == "augment":  # exact through the moment engine at degree 1
        mom = _engine_moments(n, M, mixing, estimator, 1)
        pool = np.zeros(n + 1)
        m = int(round(mixing.synthetic_ratio * M))
        pool[1:] = M + m
        pool[1:2] = M
        return mom["var"][:, 1].copy(), mom["msq"].copy(), pool
    kind = {"replace": 0, "fresh": 0, "mixture": 0, "accumulate": 1, "accumulate-subsample": 2}[wf]
    return _first_moments_kernel(int(n), float(M), kind, float(mixing.synthetic), float(mixing.previous),
                                 float(mixing.real), _ddof(estimator))


@njit(cache=True)
def _first_moments_kernel(n, Mf, kind, a, b, g, ddof):
    """The scalar recursions of :func:`moment_recursion` (compiled: 1000 generations in microseconds)."""
    v = np.empty(n + 1)
    e = np.empty(n + 1)
    pool = np.zeros(n + 1)
    v[0] = 1.0
    e[0] = 0.0
    qf = (Mf - 1.0) / (Mf - ddof)
    if kind == 0:
        # q_t = a N(theta_t) + b q_{t-1} + g p0; D_t = mean offset of q_t, Q_t = its second moment about mu0
        Dsq = 0.0
        Q = 1.0
        for t in range(n):
            EV = Q - Dsq  # E Var(q_t)
            e[t + 1] = Dsq + EV / Mf
            v[t + 1] = qf * EV
            Dsq = (a + b) ** 2 * Dsq + a * a * EV / Mf
            Q = a * (v[t + 1] + e[t + 1]) + b * Q + g
            pool[t + 1] = Mf
    elif kind == 1:
        N = 0.0
        S = 0.0
        for t in range(n):
            Vbar = g + (1 - g) * v[t] + g * (1 - g) * e[t]
            Nn = N + Mf
            e[t + 1] = ((N + Mf * (1 - g)) ** 2 * e[t] + Mf * Vbar) / Nn**2
            S = S + (Mf - 1) * Vbar + (N * Mf / Nn) * (g * g * e[t] + Vbar / Mf)
            N = Nn
            v[t + 1] = S / (N - ddof)
            pool[t + 1] = N
    else:
        # pool P_t (N_t = t M points: mean offset Pbar, scatter S_P); model t = a uniform M-subset's fit:
        # E xbar_sub = Pbar, Var(xbar_sub | pool) = (N - M) S_P / (N M (N - 1)), E S_sub = (M - 1) S_P / (N - 1)
        A = 1.0 / Mf
        S = Mf - 1.0
        N = Mf  # pool 1 = D_0
        for t in range(n):
            fpc = (N - Mf) / (N * Mf * (N - 1.0)) if N > 1 else 0.0
            e[t + 1] = A + fpc * S
            v[t + 1] = (Mf - 1.0) / (Mf - ddof) * S / (N - 1.0)
            pool[t + 1] = Mf
            EV = (1 - g) * v[t + 1] + g + (1 - g) * g * e[t + 1]
            Eb2 = (1 - g) ** 2 * e[t + 1] + EV / Mf  # new batch mean, squared
            EPb = (1 - g) * A  # E[Pbar bbar]
            Nn = N + Mf
            S = S + (Mf - 1.0) * EV + (N * Mf / Nn) * (A - 2 * EPb + Eb2)
            A = (N * N * A + 2 * N * Mf * EPb + Mf * Mf * Eb2) / Nn**2
            N = Nn
    return v, e, pool


def moment_recursion(n, M, *, mixing=None, sigma0=1.0, estimator="unbiased") -> MomentPath:
    r"""Exact :math:`(E\sigma_t^2, E(\mu_t-\mu_0)^2)`, ``t = 0..n``, under any workflow (constant M).

    Linear recursions of first and second moments (only means and variances of
    sample means and sample variances of i.i.d. or finite-population samples enter):

    * replace / fresh / mixture: the data of generation ``t+1`` are i.i.d. from
      :math:`q_t = \alpha N(\mu_t, \sigma_t^2) + \beta q_{t-1} + \gamma D_0`
      (:math:`q_0 = D_0`). With :math:`D_t` the mean offset of :math:`q_t` and
      :math:`Q_t` its second moment about :math:`\mu_0`:
      :math:`e_{t+1} = E D_t^2 + E V_t/M`, :math:`v_{t+1} = \tfrac{M-1}{D} E V_t`,
      :math:`E V_t = E Q_t - E D_t^2`, :math:`E D_{t+1}^2 = (\alpha+\beta)^2 E D_t^2 + \alpha^2 E V_t / M`,
      :math:`E Q_{t+1} = \alpha(v_{t+1} + e_{t+1}) + \beta E Q_t + \gamma\sigma_0^2`;
    * accumulate: the pool recursion of Gerstgrasser et al. (2024) with fresh
      share :math:`\gamma` (see :func:`derivations`, ``accumulate_step``);
    * accumulate-subsample: a uniform subset of ``M`` of the pool's ``N_t``
      points has :math:`E\bar x = \bar P`, :math:`\operatorname{Var}(\bar x\mid P)
      = \frac{N-M}{N M} \frac{S_P}{N-1}` and :math:`E S = (M-1) S_P/(N-1)`
      (sampling without replacement, Cochran 1977, §2.5);
    * augment: the degree-1 moment engine (:func:`workflow_moments`).

    Parameters
    ----------
    n : int
        Generations.
    M : int (>= 2)
        Points per generation (augment: :math:`|D_0|`).
    mixing : Mixing or spec, optional
        Default replace.
    sigma0 : float (> 0)
    estimator : {'unbiased', 'mle'}

    Returns
    -------
    MomentPath

    Raises
    ------
    ValueError, TypeError
        Invalid parameters (named).

    Examples
    --------
    >>> import collapse_theory as ct
    >>> p = ct.theory.gaussian.moment_recursion(3, 10, mixing=ct.Mixing.fresh(0.2))
    >>> round(float(p.variance[0]), 6), p.mixing
    (1.0, 'fresh:0.2')
    """
    estimator = _estimator(estimator)
    mixing = _mix(mixing)
    n = check_int("n", n, min=0)
    M = _const_M(M)
    sigma0 = check_float("sigma0", sigma0, min=0.0, min_inclusive=False)
    v, e, pool = _first_moments(n, M, mixing, estimator)
    s2 = _scale_by_sigma0(1.0, sigma0, 2)
    return MomentPath(variance=v * s2, mean_squared_error=e * s2, pool_size=pool, mixing=mixing.to_spec())


# ------------------------------------------------------------------ higher moments, E sigma, E W2^2
def _engine_moments(n, M, mixing, estimator, order):
    """Joint moments (sigma0 = 1) through the exact engine: dict var (n+1, order+1), msq (n+1,)."""
    from . import _gaussian_moments as gm

    ddof = _ddof(estimator)
    wf = mixing.workflow
    var = np.empty((n + 1, order + 1))
    msq = np.empty(n + 1)
    var[0] = 1.0
    msq[0] = 0.0
    if n == 0:
        return {"var": var, "msq": msq}
    def path(T, x, deg, cols, t0):
        T = np.ascontiguousarray(T.reshape((-1,) + T.shape[-2:]), dtype=np.float64)
        return gm.moment_path(T, np.ascontiguousarray(x, dtype=np.float64), np.asarray(deg, dtype=np.int64),
                              np.asarray(cols, dtype=np.int64), n, t0, _FIXED_RTOL)

    if wf in ("replace", "fresh"):
        mons, T = gm.fresh_transition(M, mixing.real, order, ddof)
        idx = {mo: i for i, mo in enumerate(mons)}
        x = np.array([1.0 if mo[0] == 0 else 0.0 for mo in mons])
        cols = [idx[(0, j)] for j in range(order + 1)]
        deg = np.array([mo[0] // 2 + mo[1] for mo in mons])
        X = path(T, x, deg, cols + [idx[(2, 0)]], 0)
        var[1:] = X[1:, :-1]
        msq[1:] = X[1:, -1]
    elif wf == "accumulate":
        # state (f, sigma^2) of the pool; per-step matrices interpolated exactly in 1/(N + M - ddof/2)
        mons, L, Tj = gm.accumulate_step_matrices(n, M, mixing.real, order, ddof)
        idx = {mo: i for i, mo in enumerate(mons)}
        f = gm._dfact(np.arange(2 * order + 1)) * float(M) ** (-np.arange(2 * order + 1) / 2.0)
        c = gm._chi2_moments(np.array(M - 1.0), order)
        # pool 1 = D_0: f ~ N(0, 1/M), sigma^2 = chi2_{M-1} / (M - ddof)
        x = np.array([f[p] * c[q] / (M - ddof) ** q for (p, q) in mons])
        cols = [idx[(0, j)] for j in range(order + 1)]
        deg = np.array([mo[0] // 2 + mo[1] for mo in mons])
        X = gm.moment_path_interp(np.ascontiguousarray(L), np.ascontiguousarray(Tj), x, deg.astype(np.int64),
                                  np.array(cols + [idx[(2, 0)]], dtype=np.int64), n, 1)
        var[1:] = X[1:, :-1]
        msq[1:] = X[1:, -1]
    elif wf == "augment":
        m = int(round(mixing.synthetic_ratio * M))
        if m < 1:
            raise ValueError(f"mixing.synthetic_ratio = {mixing.synthetic_ratio} gives round(ratio * M) = 0 synthetic draws")
        mons, T = gm.augment_transition(M, m, order, ddof)
        idx = {mo: i for i, mo in enumerate(mons)}
        x = gm.augment_initial(mons, M, ddof)
        cols = [idx[(0, 0, j, 0)] for j in range(order + 1)]
        deg = np.array([(mo[0] + mo[1]) // 2 + mo[2] + mo[3] for mo in mons])
        X = path(T, x, deg, cols + [idx[(2, 0, 0, 0)]], 1)
        var[1:] = X[1:, :-1]
        msq[1:] = X[1:, -1]
    elif wf == "mixture":
        # state: the partition moments E prod_j c_j(q_t)^{e_j} of q_t's raw moments (weight <= 2 order);
        # the fit of generation t + 1 is a linear functional of the state at t
        parts, T, x0, E = gm.mixture_system(M, mixing.synthetic, mixing.previous, mixing.real, order, ddof)
        R = np.stack([E[0, j] for j in range(order + 1)] + [E[2, 0]])  # E[s2^j | c], E[xbar^2 | c]
        P, K = T.shape[0], R.shape[0]
        Ta = np.zeros((P + K, P + K))  # outputs y_{t+1} = R x_t carried as extra components
        Ta[:P, :P] = T
        Ta[P:, :P] = R
        deg = [sum(lam) for lam in parts] + [2 * j for j in range(order + 1)] + [2]
        X = path(Ta, np.concatenate([x0, np.zeros(K)]), deg, np.arange(P, P + K), 0)
        var[1:] = X[1:, :-1]
        msq[1:] = X[1:, -1]
    else:
        raise ValueError(f"mixing: no moment engine for the {wf!r} workflow")
    return {"var": var, "msq": msq}



@dataclass(frozen=True)
class WorkflowMoments:
    """Exact moments and :math:`E W_2^2` (with its bracket) along a 1-D chain under a workflow.

    :math:`E W_2^2 = e_t + v_t + \\sigma_0^2 - 2\\sigma_0 E\\sigma_t`; ``E sigma_t`` is
    exact under replacement (products of :math:`c_4`) and otherwise enclosed by
    the Gauss (upper) and Gauss–Radau (lower) rules of the exact moments
    :math:`E\\sigma_t^{2j}`, ``j <= order`` (see :func:`workflow_moments`).

    Attributes
    ----------
    mixing : str
    order : int
        Moments of :math:`\\sigma_t^2` used (0 where the bracket is the crude one).
    method : str
        'closed form' (replace), 'moment bracket' (fresh, mixture, accumulate,
        augment) or 'bounds only' (accumulate-subsample: Jensen below,
        :math:`E\\sigma \\ge 0` above; the chain's state is the whole pool).
    mean_squared_error, variance : ndarray, shape (n+1,)
    variance_moments : ndarray, shape (n+1, order+1) or None
        :math:`E\\sigma_t^{2j}`.
    std_low, std_high : ndarray, shape (n+1,)
        Bounds on :math:`E\\sigma_t` (equal where exact).
    w2_squared_low, w2_squared_high : ndarray, shape (n+1,)
    """

    mixing: str
    order: int
    method: str
    mean_squared_error: np.ndarray
    variance: np.ndarray
    variance_moments: np.ndarray | None
    std_low: np.ndarray
    std_high: np.ndarray
    w2_squared_low: np.ndarray
    w2_squared_high: np.ndarray

    @property
    def w2_squared(self) -> np.ndarray:
        """Midpoint of the bracket (the exact value where ``method == 'closed form'``)."""
        return 0.5 * (self.w2_squared_low + self.w2_squared_high)

    @property
    def tolerance(self) -> np.ndarray:
        """Half-width of the bracket: ``|w2_squared - E W2^2| <= tolerance``."""
        return 0.5 * (self.w2_squared_high - self.w2_squared_low)


def workflow_moments(n, M, *, mixing=None, sigma0=1.0, estimator="unbiased", order=None, at=None) -> WorkflowMoments:
    r"""Exact moments and :math:`E W_2^2` with a two-sided bracket, ``t = 0..n``, any workflow (1-D).

    Every joint moment :math:`E[(\mu_t-\mu_0)^{2a}\sigma_t^{2b}]` (and, for
    accumulation and augmentation, the moments of the pool's or ``D_0``'s
    statistics) of degree ``<= order`` follows an exact linear recursion
    (Gaussian means and chi-square scatters, pooled exactly; private engine
    ``theory._gaussian_moments``). From :math:`m_j = E\sigma_t^{2j}`, the
    ``ceil(order/2)``-node Gauss rule bounds :math:`E\sigma_t = E\sqrt{\sigma_t^2}`
    from above and the Gauss–Radau rule with a node at 0 from below (all even
    derivatives of :math:`\sqrt x` are negative, all odd ones positive: the
    quadrature remainders have a sign; Golub & Meurant 2010, ch. 6). The
    bracket tightens with ``order`` (default 8); its half-width is
    :attr:`WorkflowMoments.tolerance` (about 1e-3 sigma0^2 at M = 10, 1e-7 at
    M = 100 for one generation). The engine costs about 10 ms (order 4) to
    0.2 s (order 8) for 1000 generations, every workflow, M up to a few
    hundred: the binomial split of fresh data is averaged by an exact Gauss
    rule, accumulation's step matrices are interpolated exactly between
    Chebyshev nodes in ``1/N`` and constant transitions stop at their fixed
    point (``theory._gaussian_moments``). Under
    replacement the values are exact (closed forms).

    Mixture (``previous > 0``): dataset ``t+1`` is i.i.d. from
    :math:`q_t = \alpha N(\mu_t, \sigma_t^2) + \beta q_{t-1} + \gamma D_0`, a
    geometric mixture of every earlier model, so no fixed set of model
    parameters is a state; the raw moments :math:`c_j = E_{q_t} x^j` are. The
    fitted mean and variance of ``M`` i.i.d. draws have conditional joint
    moments that are polynomials in the :math:`c_j`
    (:math:`E e^{sP_1 + uP_2} = \phi(s, u)^M`, :math:`P_1, P_2` the power sums),
    and :math:`c_j(q_{t+1}) = \alpha G_j(\mu_{t+1}, \sigma^2_{t+1}) + \beta c_j(q_t)
    + \gamma c_j(D_0)` (:math:`G_j` the Gaussian raw moments): the moments
    :math:`E\prod_j c_j^{e_j}` of weight :math:`\sum_j j e_j \le 2\,\text{order}`
    follow an exact linear recursion (one per even-weight partition: 160 at order
    6, the mixture's default, 526 at order 8, its maximum; about 25 ms for 1000
    generations at order 6). The same Gauss / Gauss–Radau bracket then applies.

    Accumulate-subsample has exact first and second moments
    (:func:`moment_recursion`) but no moment engine: each model is fitted to a
    subset drawn from the whole pool, so the chain's state is the pool itself
    (every point kept, not a fixed number of statistics) and the joint moments
    of the subset's mean and variance involve ever more pool statistics. Its
    bracket is Jensen's lower bound and the upper bound from :math:`E\sigma_t \ge 0`.
    The brackets are 1-D; in d dimensions only the exact first and second
    moments are given (:func:`expected_trace`, :func:`expected_mean_squared_error_mv`).

    Parameters
    ----------
    n : int
    M : int (>= 2)
    mixing : Mixing or spec, optional
    sigma0 : float (> 0)
    estimator : {'unbiased', 'mle'}
    order : int, optional
        2..12 (mixture: 2..8, default 6; every other workflow default 8).
    at : int or sequence of int, optional
        Generations where the bracket on ``E sigma_t`` is computed (default all;
        elsewhere ``std_*`` and ``w2_squared_*`` are NaN). The moments are always
        computed for every generation.

    Returns
    -------
    WorkflowMoments

    Examples
    --------
    >>> import collapse_theory as ct
    >>> w = ct.theory.gaussian.workflow_moments(5, 10, mixing="fresh:0.2")
    >>> bool(w.w2_squared_low[5] <= w.w2_squared_high[5]), w.method
    (True, 'moment bracket')
    """
    from . import _gaussian_moments as gm

    estimator = _estimator(estimator)
    mixing = _mix(mixing)
    n = check_int("n", n, min=0)
    M = _const_M(M)
    sigma0 = check_float("sigma0", sigma0, min=0.0, min_inclusive=False)
    wf = mixing.workflow
    if order is None:
        order = _MIXTURE_ORDER if wf == "mixture" else _ORDER
    order = check_int("order", order, min=2, max=_MIXTURE_MAX_ORDER if wf == "mixture" else 12)
    s2 = _scale_by_sigma0(1.0, sigma0, 2)
    gen = np.arange(n + 1)
    if wf == "replace":
        e = expected_mean_squared_error(gen, M, 1.0, estimator)
        v = expected_variance(gen, M, 1.0, estimator)
        es = expected_std(gen, M, 1.0, estimator)
        w2 = expected_w2_squared(gen, M, 1.0, estimator)
        vm = np.stack([expected_variance_power(gen, M, float(j), 1.0, estimator) for j in range(order + 1)], axis=1)
        vm = _scale_by_sigma0(vm, sigma0, 2 * np.arange(order + 1), finite=False)
        return WorkflowMoments(mixing.to_spec(), order, "closed form", e * s2, v * s2, vm, es * sigma0, es * sigma0,
                               w2 * s2, w2 * s2)
    if wf == "accumulate-subsample":
        v, e, _ = _first_moments(n, M, mixing, estimator)
        lo = np.zeros(n + 1)
        hi = np.sqrt(v)
        w_lo = e + (hi - 1.0) ** 2
        w_hi = e + v + 1.0
        w_lo[0] = w_hi[0] = 0.0
        lo[0] = 1.0
        return WorkflowMoments(mixing.to_spec(), 0, "bounds only", e * s2, v * s2, None, lo * sigma0, hi * sigma0,
                               w_lo * s2, w_hi * s2)
    with np.errstate(over="ignore", invalid="ignore"):
        mom = _engine_moments(n, M, mixing, estimator, order)
    var, msq = mom["var"], mom["msq"]
    ts = np.arange(n + 1) if at is None else np.unique(np.clip(np.asarray(at, dtype=np.int64), 0, n))
    lo = np.full(n + 1, np.nan)
    hi = np.full(n + 1, np.nan)
    lo[ts], hi[ts] = gm.sqrt_brackets(np.ascontiguousarray(var[ts]))
    hi[ts] = np.minimum(hi[ts], np.sqrt(var[ts, 1]))
    v = var[:, 1]
    # E W2^2 = e + v + 1 - 2 E sigma: the upper bound on E sigma gives the lower bound on W2^2
    w_lo = np.maximum(msq + v + 1.0 - 2.0 * hi, msq + (np.sqrt(v) - 1.0) ** 2)
    w_hi = msq + v + 1.0 - 2.0 * lo
    return WorkflowMoments(mixing.to_spec(), order, "moment bracket", msq * s2, v * s2,
                           _scale_by_sigma0(var, sigma0, 2 * np.arange(order + 1), finite=False), lo * sigma0, hi * sigma0, w_lo * s2, w_hi * s2)


def expected_w2_squared_bounds(n, M, *, mixing=None, sigma0=1.0, estimator="unbiased"):
    r"""Lower and upper bounds on :math:`E W_2^2(N(\mu_n,\sigma_n^2), D_0)` for any workflow (equal under replace).

    See :func:`workflow_moments` for the method and its tolerance.

    Parameters
    ----------
    n : int or array_like of int
    M : int (>= 2)
    mixing : Mixing or spec, optional
    sigma0 : float
    estimator : {'unbiased', 'mle'}

    Returns
    -------
    (low, high) : floats or ndarrays, shape of ``n``

    Examples
    --------
    >>> import collapse_theory as ct
    >>> lo, hi = ct.theory.gaussian.expected_w2_squared_bounds(100, 100, mixing="accumulate")
    >>> bool(0 < lo <= hi < 0.05)
    True
    """
    n_arr, n_max = _n_array(n)
    w = workflow_moments(n_max, M, mixing=mixing, sigma0=sigma0, estimator=estimator, at=np.ravel(n_arr))
    return _take(w.w2_squared_low, n_arr), _take(w.w2_squared_high, n_arr)


def _fresh_threshold(M, estimator):
    Mf = float(M)
    if estimator == "unbiased":
        # gamma M (2 - gamma) > 1 - gamma  <=>  M g^2 - (2M + 1) g + 1 < 0: above the smaller root
        return float(((2 * Mf + 1) - np.sqrt((2 * Mf + 1) ** 2 - 4 * Mf)) / (2 * Mf))
    from scipy.optimize import brentq

    return float(brentq(lambda g: _fresh_den(Mf, g, estimator), 1e-15, 1.0 - 1e-15)) if _fresh_den(Mf, 1e-15, estimator) > 0 else 0.0


def _fresh_den(Mf, g, estimator):
    one_minus_q = 0.0 if estimator == "unbiased" else 1.0 / Mf
    q = 1.0 - one_minus_q
    return Mf * g * g * q - 3 * Mf * g * q + Mf * g - 2 * Mf * one_minus_q - g + 1


def fresh_stability_threshold(M, estimator="unbiased"):
    r"""Smallest fresh share :math:`\gamma` above which the fresh-data chain has stationary moments.

    Unbiased estimator: :math:`\gamma M(2-\gamma) > 1-\gamma`, i.e. :math:`\gamma` above the smaller root
    of :math:`M\gamma^2 - (2M+1)\gamma + 1 = 0` (about :math:`1/(2M)`; the spectral radius of the
    recursion of :func:`stationary_moments` crosses 1 there). MLE: every :math:`\gamma \ge 0`
    (``0.0``: the variance contracts by :math:`(M-1)/M` anyway).

    Parameters
    ----------
    M : int (>= 2)
    estimator : {'unbiased', 'mle'}

    Returns
    -------
    float

    Examples
    --------
    >>> round(fresh_stability_threshold(10), 4)
    0.0488
    """
    estimator = _estimator(estimator)
    M = check_int("M", M, min=2)
    return _fresh_threshold(M, estimator)


def stationary_moments(M, *, mixing, sigma0=1.0, estimator="unbiased"):
    r"""Stationary :math:`(E\sigma^2, E(\mu-\mu_0)^2)` of a workflow (constant M); ``(inf, inf)`` if none.

    * fresh: the recursion of :func:`moment_recursion` is :math:`x_{t+1} = A x_t + b`,
      :math:`x = (v, e)`,

      .. math:: A = \begin{pmatrix} q(1-\gamma) & q\gamma(1-\gamma)\\ (1-\gamma)/M & (1-\gamma)^2 + \gamma(1-\gamma)/M\end{pmatrix},
                \quad b = \gamma\sigma_0^2 \begin{pmatrix} q \\ 1/M \end{pmatrix},

      :math:`q = (M-1)/D`, fixed point :math:`(I-A)^{-1}b` when the spectral radius
      of ``A`` is below 1 (:func:`fresh_stability_threshold`);
    * mixture: the fixed point of the four-dimensional linear recursion of
      :func:`moment_recursion` (same criterion, by Perron–Frobenius);
    * accumulate, accumulate-subsample: :func:`long_run_moments`;
    * augment: the fixed point of the degree-1 engine (contraction
      :math:`\lambda/(1+\lambda)`, always stationary);
    * replace: :math:`(\lim E\sigma_t^2, \infty)`.

    Parameters
    ----------
    M : int (>= 2)
    mixing : Mixing or spec
    sigma0 : float (> 0)
    estimator : {'unbiased', 'mle'}

    Returns
    -------
    (float, float)

    Examples
    --------
    >>> import collapse_theory as ct
    >>> v, e = stationary_moments(20, mixing=ct.Mixing.fresh(0.1))
    >>> bool(0 < e < v)
    True
    """
    estimator = _estimator(estimator)
    mixing = _mix(mixing)
    M = check_int("M", M, min=2)
    sigma0 = check_float("sigma0", sigma0, min=0.0, min_inclusive=False)
    s2 = _scale_by_sigma0(1.0, sigma0, 2)
    wf = mixing.workflow
    g = mixing.real
    if wf == "replace":
        return (s2 if estimator == "unbiased" else 0.0), float("inf")
    if wf == "fresh":
        Mf = float(M)
        den = _fresh_den(Mf, g, estimator)
        q = 1.0 - (0.0 if estimator == "unbiased" else 1.0 / Mf)
        if not den < 0:
            return float("inf"), float("inf")
        return float(Mf * g * q * s2 * (g - 2) / den), float(-s2 / den)
    if wf == "mixture":
        a, b = mixing.synthetic, mixing.previous
        Mf = float(M)
        qf = (Mf - 1.0) / (Mf - _ddof(estimator))
        # state (ED^2, EQ): EV = EQ - ED^2; v' = qf EV, e' = ED^2 + EV/M
        # rows written out: ED2' = ((a+b)^2 - a^2/M) ED2 + (a^2/M) EQ
        #                   EQ'  = a (qf + 1/M) (EQ - ED2) + a ED2 + b EQ + g
        A = np.array([[(a + b) ** 2 - a * a / Mf, a * a / Mf],
                      [a - a * (qf + 1 / Mf), a * (qf + 1 / Mf) + b]])
        c = np.array([0.0, g])
        if np.max(np.abs(np.linalg.eigvals(A))) >= 1:
            return float("inf"), float("inf")
        Dsq, Q = np.linalg.solve(np.eye(2) - A, c)
        EV = Q - Dsq
        return float(qf * EV * s2), float((Dsq + EV / Mf) * s2)
    if wf == "augment":
        from . import _gaussian_moments as gm

        m = int(round(mixing.synthetic_ratio * M))
        if m < 1:
            raise ValueError(f"mixing.synthetic_ratio = {mixing.synthetic_ratio} gives round(ratio * M) = 0 synthetic draws")
        mons, T = gm.augment_transition(M, m, 1, _ddof(estimator))
        idx = {mo: i for i, mo in enumerate(mons)}
        x0 = gm.augment_initial(mons, M, _ddof(estimator))
        # f0^2, F0 (and the constant) are invariant; solve for (delta^2, delta f0, s2)
        free = [i for i, mo in enumerate(mons) if mo[0] > 0 or mo[2] > 0]
        fixed = [i for i in range(len(mons)) if i not in free]
        Tf = T[np.ix_(free, free)]
        rhs = T[np.ix_(free, fixed)] @ x0[fixed]
        x = x0.copy()
        x[free] = np.linalg.solve(np.eye(len(free)) - Tf, rhs)
        return float(x[idx[(0, 0, 1, 0)]] * s2), float(x[idx[(2, 0, 0, 0)]] * s2)
    return long_run_moments(M, mixing=mixing, sigma0=sigma0, estimator=estimator)


def long_run_moments(M, *, mixing, sigma0=1.0, estimator="unbiased", generations=2000):
    r"""``lim_t (E sigma_t^2, E(mu_t - mu_0)^2)`` for any workflow (constant M).

    Accumulate-subsample without fresh data has no finite positive variance
    limit (``inf`` for the unbiased estimator, where :math:`E\sigma_t^2` grows
    like :math:`t^{1/M}`, 0 for the MLE, :math:`t^{-1/M^2}`; from
    :math:`v_{t+1}/v_t = 1 \pm O(1/(tM))` in :func:`moment_recursion`); its mean error converges.
    Pooled workflows (accumulate, accumulate-subsample): the recursion of
    :func:`moment_recursion` run for ``generations`` and ``4 generations``,
    extrapolated (Richardson: the increments decay like ``1/t^2`` for
    accumulation without fresh data and faster otherwise; relative error
    about 1e-8 at the default). Accumulation without fresh data has the
    exact closed forms of :func:`accumulate_limits`, used instead. The other
    workflows: :func:`stationary_moments` (``generations`` is then checked
    but not needed: their limits are exact fixed points).

    Parameters
    ----------
    M : int (>= 2)
    mixing : Mixing or spec
    sigma0 : float (> 0)
    estimator : {'unbiased', 'mle'}
    generations : int (>= 10)

    Returns
    -------
    (float, float)

    Examples
    --------
    >>> import collapse_theory as ct
    >>> v, e = long_run_moments(20, mixing=ct.Mixing.accumulate())
    >>> bool(0.9 < v < 1.0 and 0.05 < e < 0.09)
    True
    """
    estimator = _estimator(estimator)
    mixing = _mix(mixing)
    M = check_int("M", M, min=2)
    sigma0 = check_float("sigma0", sigma0, min=0.0, min_inclusive=False)
    n = check_int("generations", generations, min=10)
    if mixing.workflow not in ("accumulate", "accumulate-subsample"):
        return stationary_moments(M, mixing=mixing, sigma0=sigma0, estimator=estimator)
    if mixing.workflow == "accumulate" and mixing.real == 0:
        lim = accumulate_limits(M, sigma0=sigma0, estimator=estimator)
        return lim["variance"], lim["mean_squared_error"]
    v, e, _ = _first_moments(4 * n, M, mixing, estimator)
    s2 = _scale_by_sigma0(1.0, sigma0, 2)
    e_lim = float((4 * e[4 * n] - e[n]) / 3 * s2)
    if mixing.workflow == "accumulate-subsample" and mixing.real == 0:
        # E sigma_t^2 has no finite positive limit: for a pool of N = tM points the recursion gives
        # v_{t+1} / v_t = 1 + 1/(N + M - 1) + O(1/N^2) (unbiased: v ~ t^{1/M}, unbounded) and
        # 1 - 1/(M (N + M - 1)) + O(1/N^2) (MLE: v ~ t^{-1/M^2} -> 0); the mean error converges
        return (float("inf") if estimator == "unbiased" else 0.0), e_lim
    return float((4 * v[4 * n] - v[n]) / 3 * s2), e_lim


def w2_squared_lower_bound(variance, mean_squared_error, sigma0=1.0):
    r"""Exact lower bound on :math:`E W_2^2` from :math:`E\sigma^2` and :math:`E(\mu-\mu_0)^2`.

    .. math:: E W_2^2 = e + v + \sigma_0^2 - 2\sigma_0 E\sigma \ \ge\ e + (\sqrt{v} - \sigma_0)^2

    (Jensen: :math:`E\sigma \le \sqrt{E\sigma^2}`). Superseded by the two-sided
    bracket of :func:`workflow_moments`; kept for d-D, where
    :math:`e + (\sqrt{v}-1)^2` per unit of :math:`\operatorname{tr}\Sigma_0` bounds the Bures term the same way.

    Parameters
    ----------
    variance, mean_squared_error : float or array_like (>= 0, broadcastable)
    sigma0 : float (> 0)

    Returns
    -------
    float or ndarray

    Examples
    --------
    >>> w2_squared_lower_bound(1.0, 0.5)
    0.5
    """
    for name, x in (("variance", variance), ("mean_squared_error", mean_squared_error)):
        if isinstance(x, (bool, str, bytes)):
            raise TypeError(f"{name} must be a real number or an array of them, got {x!r}")
    v = check_array("variance", variance)
    e = check_array("mean_squared_error", mean_squared_error)
    if np.any(v < 0) or np.any(e < 0):
        raise ValueError("variance and mean_squared_error must be >= 0 (they are expectations of squares)")
    try:
        v, e = np.broadcast_arrays(v, e)
    except ValueError:
        raise ValueError(f"variance and mean_squared_error must broadcast, got shapes {v.shape} and {e.shape}") from None
    sigma0 = check_float("sigma0", sigma0, min=0.0, min_inclusive=False)
    with np.errstate(over="ignore"):
        out = e + (np.sqrt(v) - sigma0) ** 2
    return finite_result("w2_squared_lower_bound", out, "variance, mean_squared_error, sigma0")


# --------------------------------------------------------------------------- known results
def accumulate_limits(M, *, sigma0=1.0, estimator="unbiased", tol=1e-12):
    r"""Exact long-run moments of accumulation without fresh data, and the π²/6 ratio (Dey & Donoho 2024).

    With the pool of :math:`tM` points after ``t`` generations, :math:`v_t = E\sigma_t^2`
    and :math:`e_t = E(\mu_t-\mu_0)^2` satisfy exactly

    .. math:: v_{t+1} = v_t\Bigl(1 - \frac{1}{(t+1)((t+1)M - 1)}\Bigr)\ (\text{unbiased}),\quad
              v_{t+1} = v_t\Bigl(1 - \frac{1}{(t+1)^2 M}\Bigr)\ (\text{MLE}),\quad
              e_{t+1} = e_t + \frac{v_t}{(t+1)^2 M},

    :math:`v_1 = \sigma_0^2` (unbiased) or :math:`\sigma_0^2(M-1)/M`, :math:`e_1 = \sigma_0^2/M`. So

    .. math:: \lim_t \frac{E(\mu_t-\mu_0)^2}{E(\mu_1-\mu_0)^2} = 1 + \sum_{s\ge1}\frac{v_s/\sigma_0^2}{(s+1)^2}
              \ \xrightarrow[M\to\infty]{}\ \sum_{s \ge 1} \frac{1}{s^2} = \frac{\pi^2}{6}

    for both estimators (Dey & Donoho, "Universality of the π²/6 pathway in
    avoiding model collapse", arXiv 2410.22812). The series is summed for
    :math:`10^6` terms and its tail bounded by :math:`v_S \psi'(S+2)` (``tol``).

    Parameters
    ----------
    M : int (>= 2)
    sigma0 : float (> 0)
    estimator : {'unbiased', 'mle'}
    tol : float
        Required bound on the truncation error (relative).

    Returns
    -------
    dict
        ``ratio`` (the limit above), ``variance`` (:math:`\lim E\sigma_t^2`),
        ``mean_squared_error`` (:math:`\lim E(\mu_t-\mu_0)^2`), ``tolerance``.

    Examples
    --------
    >>> lim = accumulate_limits(10**6)
    >>> round(lim["ratio"], 5), round(float(np.pi**2 / 6), 5)
    (1.64493, 1.64493)
    """
    estimator = _estimator(estimator)
    M = check_int("M", M, min=2)
    sigma0 = check_float("sigma0", sigma0, min=0.0, min_inclusive=False)
    tol = check_float("tol", tol, min=0.0, min_inclusive=False)
    S = 10**6
    s = np.arange(1, S + 1, dtype=np.float64)  # v_s for s = 1..S
    Mf = float(M)
    if estimator == "unbiased":
        f = 1.0 - 1.0 / ((s[1:]) * (s[1:] * Mf - 1.0))  # v_{s} / v_{s-1}, s = 2..S
        v1 = 1.0
    else:
        f = 1.0 - 1.0 / (s[1:] ** 2 * Mf)
        v1 = (Mf - 1.0) / Mf
    v = v1 * np.concatenate([[1.0], np.exp(np.cumsum(np.log(f)))])
    body = np.sum(v / (s + 1.0) ** 2)
    tail = float(v[-1] * polygamma(1, S + 2.0))  # v is decreasing: the tail lies in [v_inf, v_S] * psi'(S+2)
    # log v_inf - log v_S = sum_{s > S} log(1 - ~1/(s^2 M)) >= -1/(S M) (roughly): bound the variance limit too
    v_inf = v[-1] * np.exp(-1.0 / (S * Mf))
    ratio = 1.0 + body + tail
    err = tail * (1.0 - np.exp(-1.0 / (S * Mf))) + 1e-15 * ratio
    if err > tol * ratio:
        raise ValueError(f"tol = {tol} is below the attainable truncation error {err / ratio:.2g}")
    e1 = 1.0 / Mf
    s2 = _scale_by_sigma0(1.0, sigma0, 2)
    return {
        "ratio": float(ratio),
        "variance": float(0.5 * (v_inf + v[-1]) * s2),
        "mean_squared_error": float(ratio * e1 * s2),
        "tolerance": float(max(err / ratio, (v[-1] - v_inf) / v[-1])),
    }


def augment_contraction(synthetic_ratio):
    r"""Per-generation contraction of the mean around the real-sample mean under augmentation: :math:`\lambda/(1+\lambda)`.

    Fitted to the fixed real sample (``n`` points, mean :math:`\bar x`) plus
    :math:`\lambda n` draws from :math:`N(\mu_t, \sigma_t^2)`:
    :math:`\mu_{t+1} - \bar x = \tfrac{\lambda}{1+\lambda}(\mu_t - \bar x + \sigma_t Z/\sqrt{\lambda n})`
    (Bertrand et al., "On the stability of iterative retraining of generative
    models on their own data", ICLR 2024, the well-specified Gaussian case).

    Parameters
    ----------
    synthetic_ratio : float (> 0)

    Returns
    -------
    float

    Examples
    --------
    >>> augment_contraction(2.0)
    0.6666666666666666
    """
    lam = check_float("synthetic_ratio", synthetic_ratio, min=0.0, min_inclusive=False)
    return lam / (1.0 + lam)


def augment_stationary_mean_variance(M, synthetic_ratio, sigma0=1.0):
    r"""Stationary :math:`\operatorname{Var}(\mu_\infty - \bar x_{\text{real}}) = \lambda\sigma^2/(M(1+2\lambda))`.

    From :func:`augment_contraction`: :math:`V = a^2(V + \sigma^2/(\lambda M))`,
    :math:`a = \lambda/(1+\lambda)` (Bertrand et al., ICLR 2024), taking the
    model's variance as :math:`\sigma^2 = \sigma_0^2`; the chain's own
    :math:`E\sigma^2_\infty` differs at order :math:`1/M` (exact value:
    ``stationary_moments(M, mixing=Mixing.augment(lam))``, which adds the real
    sample's own :math:`\sigma_0^2/M`). E.g. M = 50, λ = 2: 0.008.

    Parameters
    ----------
    M : int (>= 2)
    synthetic_ratio : float (> 0)
    sigma0 : float (> 0)

    Returns
    -------
    float

    Examples
    --------
    >>> round(augment_stationary_mean_variance(50, 2.0), 6)
    0.008
    """
    M = check_int("M", M, min=2)
    lam = check_float("synthetic_ratio", synthetic_ratio, min=0.0, min_inclusive=False)
    sigma0 = check_float("sigma0", sigma0, min=0.0, min_inclusive=False)
    return lam * _scale_by_sigma0(1.0, sigma0, 2) / (M * (1.0 + 2.0 * lam))


def augment_stability_threshold(lipschitz_ratio=0.0):
    r"""Largest synthetic ratio :math:`\lambda` covered by Bertrand et al.'s sufficient stability condition (as recalled).

    Source: Q. Bertrand, A. J. Bose, A. Duplessis, M. Jiralerspong and
    G. Gidel, "On the Stability of Iterative Retraining of Generative Models
    on their own Data", ICLR 2024, arXiv:2310.00429: the theorem on iterative
    retraining on a mixed dataset (a fixed real sample plus :math:`\lambda` times
    as many draws from the current model). What the available material
    confirms (the paper's abstract, in the project's stored pages) is its
    qualitative content: the iterative retraining is stable when the initial
    model approximates the data distribution well enough and the proportion
    of clean data (relative to synthetic data) is large enough. The
    quantitative form used here, :math:`\lambda(1 + L\epsilon/\alpha) < 1`
    (``lipschitz_ratio`` :math:`= L\epsilon/\alpha`: :math:`L` the Lipschitz
    constant of the likelihood's Hessian, :math:`\epsilon` the distance of the
    optimal parameter from the data, :math:`\alpha` the strong concavity; the
    threshold :math:`1/(1 + L\epsilon/\alpha)`, 1 in the well-specified case),
    is written from memory of that theorem and could NOT be checked against
    its statement: neither ``/work/shared/paper/NOTES.md`` nor the searchable
    corpora hold the theorem's text. Treat the formula as unverified.

    What is checked (tests, by simulation of the exact Gaussian chain): the
    condition is sufficient, not necessary, in the well-specified Gaussian
    case. The mean's deviation from the real-sample mean contracts at
    :math:`\lambda/(1+\lambda) < 1` (:func:`augment_contraction`) and the
    chain settles to the stationary law of
    :func:`augment_stationary_mean_variance` for every :math:`\lambda`, above
    the threshold 1 as well as below it.

    Parameters
    ----------
    lipschitz_ratio : float (>= 0)

    Returns
    -------
    float

    Raises
    ------
    ValueError
        ``lipschitz_ratio`` negative or not finite.

    References
    ----------
    Bertrand et al., ICLR 2024, arXiv:2310.00429 (the stability theorem; formula unverified, see above).

    Examples
    --------
    >>> augment_stability_threshold()
    1.0
    """
    r = check_float("lipschitz_ratio", lipschitz_ratio, min=0.0)
    return 1.0 / (1.0 + r)


#: The golden-ratio weight (He, Xu & Cheng 2025).
GOLDEN_RATIO_WEIGHT = float((np.sqrt(5.0) - 1.0) / 2.0)


def weighted_mean_stationary_error(weight, M, sigma0=1.0):
    r"""Stationary :math:`E(\mu-\mu_0)^2` of the weighted real/synthetic mean (He, Xu & Cheng 2025).

    Each generation estimates :math:`\mu_{t+1} = w \bar x_{\text{real}} + (1-w)\bar x_{\text{syn}}`
    from ``M`` fresh real and ``M`` synthetic points (from :math:`N(\mu_t, \sigma^2)`):
    :math:`e' = w^2\sigma^2/M + (1-w)^2(e + \sigma^2/M)`, so

    .. math:: V(w) = \frac{\sigma^2}{M}\,\frac{w^2 + (1-w)^2}{w(2-w)},

    minimised at :math:`w^* = (\sqrt5-1)/2` with :math:`V(w^*) = w^*\sigma^2/M`
    ("Golden ratio weighting prevents model collapse", arXiv 2502.18049).

    Parameters
    ----------
    weight : float in (0, 1]
    M : int (>= 1)
    sigma0 : float (> 0)

    Returns
    -------
    float

    Examples
    --------
    >>> round(weighted_mean_stationary_error(GOLDEN_RATIO_WEIGHT, 1) / GOLDEN_RATIO_WEIGHT, 12)
    1.0
    """
    w = check_float("weight", weight, min=0.0, max=1.0, min_inclusive=False)
    M = check_int("M", M, min=1)
    sigma0 = check_float("sigma0", sigma0, min=0.0, min_inclusive=False)
    return float(_scale_by_sigma0(1.0, sigma0, 2) / M * (w * w + (1 - w) ** 2) / (w * (2 - w)))


def golden_ratio_weight():
    r"""The optimal real-data weight :math:`w^* = (\sqrt5-1)/2` of :func:`weighted_mean_stationary_error`.

    :math:`dV/dw = 0 \iff w^2 + w - 1 = 0` (He, Xu & Cheng 2025).

    Returns
    -------
    float

    Examples
    --------
    >>> round(golden_ratio_weight(), 6)
    0.618034
    """
    return float(GOLDEN_RATIO_WEIGHT)


# --------------------------------------------------------------------------- SymPy
@lru_cache(maxsize=1)
def derivations() -> dict:
    r"""The SymPy derivation of every closed form above.

    Returns
    -------
    dict of str to Derivation
        Name -> :class:`~collapse_theory.theory._derivation.Derivation` whose
        ``result`` is the SymPy expression (or bool / dict for decisions), among them:

        ``chi2_moment``: :math:`E(\chi^2_k)^r` by integrating the density;
        ``moment_factor``: :math:`E W^r`; ``c4``, ``c4_mle``: :math:`E\sqrt W`;
        ``log_moment_mean``, ``log_moment_variance``: first two cumulants of
        :math:`\log W` (derivatives of :math:`\log E W^r` at ``r = 0``);
        ``w2_exact``: :math:`E W_2^2` for constant M after n generations;
        ``log_c4_series``: :math:`\log c_4` in powers of :math:`\epsilon = 1/M`;
        ``w2_series``: :math:`E W_2^2` to second order in ``1/M``;
        ``w2_first_order``: its first-order term (the paper's :math:`\tfrac32 n \sigma_0^2/M`);
        ``w2_second_order``: the next term (the size of the difference);
        ``c4_comparison_limit``: :math:`\lim_{M\to\infty} -\log c_4(M) / (1/M) = 1/4`;
        ``schedule_convergent``: exponent -> bool from ``Sum(1/t^a).is_convergent()``;
        ``schedule_limit_unrounded``: :math:`\zeta(a)/M_0` part of the limit;
        ``det_factor``: :math:`E\det W` via Bartlett; ``log_det_mean``;
        ``fresh_matrix``, ``fresh_offset``, ``fresh_stationary``: the fresh-data
        recursion and its fixed point; ``accumulate_step``: one step of the
        accumulation recursion.
    """
    import sympy as sp

    x, k, r = sp.symbols("x k r", positive=True)
    M, D, eps, n, sigma0 = sp.symbols("M D epsilon n sigma_0", positive=True)
    out = {}
    density = x ** (k / 2 - 1) * sp.exp(-x / 2) / (2 ** (k / 2) * sp.gamma(k / 2))
    chi2_moment = sp.simplify(sp.integrate(x**r * density, (x, 0, sp.oo), conds="none"))
    out["chi2_moment"] = chi2_moment
    factor = chi2_moment / D**r
    out["moment_factor"] = factor
    c4_expr = sp.gammasimp(factor.subs({k: M - 1, D: M - 1, r: sp.Rational(1, 2)}))
    out["c4"] = c4_expr
    out["c4_mle"] = sp.gammasimp(factor.subs({k: M - 1, D: M, r: sp.Rational(1, 2)}))
    log_mgf = r * sp.log(2 / D) + sp.loggamma(k / 2 + r) - sp.loggamma(k / 2)
    out["log_moment_mean"] = sp.diff(log_mgf, r).subs(r, 0)
    out["log_moment_variance"] = sp.diff(log_mgf, r, 2).subs(r, 0)
    # exact W2 for constant M (unbiased): E(mu-mu0)^2 + E sigma^2 - 2 sigma0 E sigma + sigma0^2
    mean_sq = n * sigma0**2 / M
    ev = sigma0**2 * sp.gammasimp(factor.subs({k: M - 1, D: M - 1, r: 1})) ** n
    es = sigma0 * c4_expr**n
    out["w2_exact"] = mean_sq + ev - 2 * sigma0 * es + sigma0**2
    log_c4 = sp.log(2 / (M - 1)) / 2 + sp.loggamma(M / 2) - sp.loggamma((M - 1) / 2)
    log_c4_series = sp.series(log_c4.subs(M, 1 / eps), eps, 0, 4).removeO()
    const = sp.simplify(sp.expand_log(log_c4_series.subs(eps, 0), force=True))  # log(2 pi)/2 - log(pi)/2 - log(2)/2 = 0
    log_c4_series = sp.expand(log_c4_series - log_c4_series.subs(eps, 0) + const)
    out["log_c4_series"] = log_c4_series
    # exp(n log c4) to third order in epsilon = 1/M (log c4 = O(epsilon))
    y = n * log_c4_series
    w2_eps = sp.expand(sigma0**2 * (n * eps + 2 - 2 * (1 + y + y**2 / 2 + y**3 / 6)))
    first, second = w2_eps.coeff(eps, 1), w2_eps.coeff(eps, 2)
    out["w2_series"] = first / M + second / M**2
    out["w2_first_order"] = first / M
    out["w2_second_order"] = sp.factor(second) / M**2
    out["paper_first_order"] = sp.Rational(3, 2) * sigma0**2 * n / M
    out["first_order_matches_paper"] = bool(sp.expand(out["w2_first_order"] - out["paper_first_order"]) == 0)
    out["c4_comparison_limit"] = sp.limit(-log_c4_series / eps, eps, 0)
    t = sp.Symbol("t", positive=True, integer=True)
    out["schedule_convergent"] = {
        str(a): bool(sp.Sum(1 / t**a, (t, 1, sp.oo)).is_convergent())
        for a in (sp.Rational(1, 2), sp.Integer(1), sp.Rational(11, 10), sp.Rational(3, 2), sp.Integer(2))
    }
    a_sym, M0 = sp.symbols("a M_0", positive=True)
    out["schedule_limit_unrounded"] = sp.zeta(a_sym) / M0 * sigma0**2 + sigma0**2 * (
        2 - 2 * sp.Product(c4_expr.subs(M, M0 * t**a_sym), (t, 1, sp.oo))
    )
    # Bartlett: det Wishart_d(k, I) = prod_j chi2_{k-j}
    d, j = sp.symbols("d j", positive=True, integer=True)
    det_factor_j = chi2_moment.subs({r: 1, k: k - j})
    out["det_factor"] = sp.Product(sp.gammasimp(det_factor_j), (j, 0, d - 1)) / D**d
    out["log_det_mean"] = sp.Sum(sp.digamma((k - j) / 2) + sp.log(2), (j, 0, d - 1)) - d * sp.log(D)
    # fresh data: (v, e) linear recursion from E[sample mean], E[sample variance] of mixture data
    g, v, e, q = sp.symbols("gamma v e q", nonnegative=True)
    Vbar = g * sigma0**2 + (1 - g) * v + g * (1 - g) * e
    v_next = q * Vbar
    e_next = (1 - g) ** 2 * e + Vbar / M
    A = sp.Matrix([[sp.diff(v_next, v), sp.diff(v_next, e)], [sp.diff(e_next, v), sp.diff(e_next, e)]])
    b = sp.Matrix([v_next.subs({v: 0, e: 0}), e_next.subs({v: 0, e: 0})])
    out["fresh_matrix"] = A.applyfunc(sp.factor)
    out["fresh_offset"] = b.applyfunc(sp.factor)
    fixed = sp.solve([sp.Eq(v, v_next), sp.Eq(e, e_next)], [v, e], dict=True)[0]
    out["fresh_stationary"] = {"variance": sp.factor(fixed[v]), "mean_squared_error": sp.factor(fixed[e])}
    # accumulation: one step with pool size N
    N = sp.Symbol("N", nonnegative=True)
    Sp = sp.Symbol("S", nonnegative=True)
    out["accumulate_step"] = {
        "mean_squared_error": ((N + M * (1 - g)) ** 2 * e + M * Vbar) / (N + M) ** 2,
        "scatter": Sp + (M - 1) * Vbar + (N * M / (N + M)) * (g**2 * e + Vbar / M),
    }
    # known mitigation results
    lam, w, V, sig2 = sp.symbols("lambda w V sigma^2", positive=True)
    a_aug = lam / (1 + lam)
    out["augment_contraction"] = a_aug
    out["augment_stationary_mean_variance"] = sp.factor(sp.solve(sp.Eq(V, a_aug**2 * (V + sig2 / (lam * M))), V)[0])
    Vw = (w**2 * sig2 / M + (1 - w) ** 2 * sig2 / M) / (1 - (1 - w) ** 2)
    out["weighted_mean_stationary_error"] = sp.factor(Vw)
    wstar = [r for r in sp.solve(sp.diff(Vw, w), w) if r.is_positive and (r - 1).is_negative][0]
    out["golden_ratio_weight"] = sp.simplify(wstar)
    out["golden_ratio_error"] = sp.simplify(Vw.subs(w, wstar))
    s_ = sp.Symbol("s", positive=True, integer=True)
    out["accumulate_variance_step"] = {
        "unbiased": 1 - 1 / ((s_ + 1) * ((s_ + 1) * M - 1)),
        "mle": 1 - 1 / ((s_ + 1) ** 2 * M),
    }
    out["accumulate_ratio_large_M"] = sp.Sum(1 / s_**2, (s_, 1, sp.oo)).doit()
    return _as_derivations(out)


_DERIVATION_NAMES = {
    "chi2_moment": ("E (chi2_k)^r by integrating the chi-square density", ""),
    "moment_factor": ("one generation's factor E W^r, W = chi2_k / D", ""),
    "c4": ("c4(M) = E s / sigma", ""),
    "w2_exact": ("exact E W2^2 for constant M (unbiased)", "Shumailov et al. 2024, Theorem 3.1"),
    "w2_first_order": ("first-order term of E W2^2 in 1/M", "Shumailov et al. 2024, Theorem 3.1"),
    "first_order_matches_paper": ("the first-order term equals the paper's (3/2) sigma0^2 n / M", "Shumailov et al. 2024"),
    "fresh_stationary": ("stationary moments with fresh data", ""),
    "accumulate_step": ("one accumulation step (pool of N points)", "Gerstgrasser et al. 2024"),
    "augment_contraction": ("contraction of the mean under augmentation", "Bertrand et al., ICLR 2024"),
    "augment_stationary_mean_variance": ("stationary Var(mu - real mean) under augmentation", "Bertrand et al., ICLR 2024"),
    "weighted_mean_stationary_error": ("stationary error of the weighted real/synthetic mean", "He, Xu & Cheng 2025"),
    "golden_ratio_weight": ("the optimal weight solves dV/dw = 0", "He, Xu & Cheng 2025"),
    "golden_ratio_error": ("V at the golden-ratio weight", "He, Xu & Cheng 2025"),
    "accumulate_variance_step": ("accumulation without fresh data: v_{s+1} / v_s", "Dey & Donoho 2024"),
    "accumulate_ratio_large_M": ("the M -> infinity limit of the mean-error ratio under accumulation", "Dey & Donoho 2024"),
}


def _as_derivations(out):
    """Wrap every derived expression in a :class:`~collapse_theory.theory._derivation.Derivation`."""
    from ._derivation import Derivation

    steps = {
        "w2_exact": ["chi2_moment", "moment_factor", "c4"],
        "w2_first_order": ["log_c4_series", "w2_series"],
        "fresh_stationary": ["fresh_matrix", "fresh_offset"],
        "golden_ratio_weight": ["weighted_mean_stationary_error"],
        "golden_ratio_error": ["weighted_mean_stationary_error", "golden_ratio_weight"],
        "augment_stationary_mean_variance": ["augment_contraction"],
    }
    res = {}
    for key, expr in out.items():
        name, source = _DERIVATION_NAMES.get(key, (key.replace("_", " "), ""))
        st = [(k.replace("_", " "), out[k]) for k in steps.get(key, [])]
        res[key] = Derivation(name, st + [(name, expr)], expr, source)
    return res
