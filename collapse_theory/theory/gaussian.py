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
  ``E W2^2`` is bounded below exactly (:func:`w2_squared_lower_bound`, by
  Jensen's inequality) and otherwise covered by simulation.

References: Shumailov et al., Nature 631 (2024), Theorem 3.1; Bertrand et al.,
"On the stability of iterative retraining of generative models on their own
data", ICLR 2024; Gerstgrasser et al., "Is model collapse inevitable?" (2024);
Muirhead, *Aspects of Multivariate Statistical Theory* (1982), Thm 3.2.14
(Bartlett decomposition).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.special import bernoulli, comb, digamma, poch, polygamma, zeta

from .._validate import check_choice, check_covariance, check_float, check_int
from ..process import Schedule, as_schedule

__all__ = [
    "c4",
    "moment_factor",
    "expected_variance_power",
    "expected_variance",
    "variance_of_variance",
    "expected_std",
    "expected_log_variance",
    "log_variance_variance",
    "log_variance_drift",
    "expected_mean_squared_error",
    "expected_w2_squared",
    "paper_w2_squared",
    "schedule_is_bounded",
    "schedule_limit",
    "expected_mean_squared_error_mv",
    "expected_trace",
    "expected_det",
    "expected_log_det",
    "log_det_variance",
    "MomentPath",
    "moment_recursion",
    "stationary_moments",
    "long_run_moments",
    "w2_squared_lower_bound",
    "derivations",
]

_ESTIMATORS = ("unbiased", "mle")


# --------------------------------------------------------------------------- inputs
def _estimator(estimator):
    return check_choice("estimator", estimator, _ESTIMATORS)


def _n_array(n):
    """``n`` as an int64 array (any shape) of non-negative generation counts, and its maximum."""
    arr = np.asarray(n)
    if isinstance(n, bool) or arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"n must be a non-negative int or an int array, got {n!r}")
    arr = arr.astype(np.int64)
    if arr.size and arr.min() < 0:
        raise ValueError(f"n must be >= 0, got a minimum of {arr.min()}")
    return arr, int(arr.max()) if arr.size else 0


def _sizes(M, n_max, *, minimum=2):
    """``M_1 .. M_{n_max}`` as float64 for an int, a Schedule or an int array."""
    sched = M if isinstance(M, Schedule) else as_schedule(M, "M")
    sizes = sched.sizes(n_max).astype(np.float64)
    if sizes.size and sizes.min() < minimum:
        raise ValueError(f"M: every sample size must be >= {minimum} here, got a minimum of {int(sizes.min())}")
    return sizes


def _sigma0(sigma0):
    return check_float("sigma0", sigma0, min=0.0)


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
    """
    m = np.asarray(M, dtype=np.float64)
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
    big = x >= 20.0
    xs = np.where(big, x, 20.0)
    series = np.zeros_like(xs)
    for n in range(1, _SERIES_TERMS + 1):
        m = n + 1
        bpoly = sum(comb(m, k, exact=True) * _BERNOULLI[k] * r ** (m - k) for k in range(m + 1))
        series = series + (-1) ** (n + 1) * (bpoly - _BERNOULLI[m]) / (n * (n + 1) * xs**n)
    xsmall = np.where(big, 1.0, x)
    with np.errstate(divide="ignore", invalid="ignore"):
        direct = np.log(poch(xsmall, r)) - r * np.log(xsmall)
    return np.where(big, series, direct)


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
    """
    estimator = _estimator(estimator)
    m = np.asarray(M, dtype=np.float64)
    out = np.exp(_log_moment_factor(m, float(r), estimator))
    return float(out) if out.ndim == 0 else out


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
    """
    estimator = _estimator(estimator)
    sigma0 = _sigma0(sigma0)
    r = check_float("r", r)
    cum, n_arr = _cum_log_moment(n, M, r, estimator)
    return _take(sigma0 ** (2.0 * r) * np.exp(cum), n_arr)


def expected_variance(n, M, sigma0=1.0, estimator="unbiased"):
    r"""Exact :math:`E \sigma_n^2`: ``sigma0^2`` (unbiased, a martingale) or ``sigma0^2 prod (M_t-1)/M_t`` (MLE).

    .. math:: E \sigma_n^2 = \sigma_0^2 \prod_t (M_t - 1)/D_t
    """
    return expected_variance_power(n, M, 1.0, sigma0, estimator)


def variance_of_variance(n, M, sigma0=1.0, estimator="unbiased"):
    r"""Exact :math:`\operatorname{Var} \sigma_n^2 = E\sigma_n^4 - (E\sigma_n^2)^2`.

    .. math:: \operatorname{Var}\sigma_n^2 = \sigma_0^4 \Bigl(\prod_t \frac{k_t (k_t+2)}{D_t^2}
              - \prod_t \frac{k_t^2}{D_t^2}\Bigr)
    """
    e2 = expected_variance_power(n, M, 2.0, sigma0, estimator)
    e1 = expected_variance_power(n, M, 1.0, sigma0, estimator)
    return e2 - np.square(e1)


def expected_std(n, M, sigma0=1.0, estimator="unbiased"):
    r"""Exact :math:`E \sigma_n`; unbiased: :math:`\sigma_0 \prod_t c_4(M_t)`.

    .. math:: E \sigma_n = \sigma_0 \prod_t \sqrt{2/D_t}\, \Gamma(M_t/2) / \Gamma((M_t-1)/2)

    (Bertrand et al., ICLR 2024, for constant M and the unbiased estimator.)
    """
    return expected_variance_power(n, M, 0.5, sigma0, estimator)


def expected_log_variance(n, M, sigma0=1.0, estimator="unbiased"):
    r"""Exact :math:`E \log \sigma_n^2`.

    .. math:: E \log\sigma_n^2 = \log\sigma_0^2 + \sum_t \bigl[\psi(k_t/2) + \log(2/D_t)\bigr]
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
    """
    estimator = _estimator(estimator)
    sigma0 = _sigma0(sigma0)
    n_arr, n_max = _n_array(n)
    sizes = _sizes(M, n_max)
    cum, _ = _mean_sq_cum(sizes, estimator)
    return _take(sigma0**2 * cum, n_arr)


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
    """
    estimator = _estimator(estimator)
    sigma0 = _sigma0(sigma0)
    n_arr, n_max = _n_array(n)
    sizes = _sizes(M, n_max)
    mean_cum, ev = _mean_sq_cum(sizes, estimator)
    log_es = np.concatenate([[0.0], np.cumsum(_log_moment_factor(sizes, 0.5, estimator))])
    # 2 - 2 prod c4 computed as -2 expm1(log prod) keeps precision for large M
    out = sigma0**2 * (mean_cum + (ev - 1.0) - 2.0 * np.expm1(log_es))
    return _take(out, n_arr)


def paper_w2_squared(n, M, sigma0=1.0):
    r"""The paper's first-order approximation :math:`\tfrac32 \sigma_0^2 \sum_{t=1}^n 1/M_t`.

    .. math:: E W_2^2 \approx \frac{3}{2} \sigma_0^2 \sum_{t=1}^n \frac{1}{M_t}

    (Shumailov et al. 2024, arXiv 2305.17493 v3, derivation of Theorem 3.1.)
    """
    sigma0 = _sigma0(sigma0)
    n_arr, n_max = _n_array(n)
    sizes = _sizes(M, n_max, minimum=1)
    cum = np.concatenate([[0.0], np.cumsum(1.0 / sizes)])
    return _take(1.5 * sigma0**2 * cum, n_arr)


# --------------------------------------------------------------------------- schedules
def schedule_is_bounded(exponent) -> bool:
    r"""Whether :math:`\lim_n E W_2^2` is finite for :math:`M_t = M_0 t^a` (decided by SymPy).

    .. math:: \lim_{n\to\infty} E W_2^2 < \infty \iff \sum_t t^{-a} < \infty \iff a > 1

    ``E W2^2 = sigma0^2 (sum 1/M_t + 2 - 2 prod c4(M_t))``; ``-log c4(M) ~ 1/(4M)``
    (limit comparison, see :func:`derivations`), so both the sum and the
    product converge exactly when ``sum t^{-a}`` does; SymPy's
    ``Sum.is_convergent`` decides that for the given exponent.
    """
    import sympy as sp

    a = check_float("exponent", exponent, min=0.0)
    t = sp.Symbol("t", positive=True, integer=True)
    return bool(sp.Sum(1 / t ** sp.nsimplify(a), (t, 1, sp.oo)).is_convergent())


def schedule_limit(M0, exponent, sigma0=1.0, estimator="unbiased", *, rounded=True, terms=200_000):
    r""":math:`\lim_{n\to\infty} E W_2^2` for :math:`M_t = M_0 t^a` (``inf`` unless ``a > 1``).

    .. math:: \lim_n E W_2^2 = \sigma_0^2\Bigl(\sum_{t\ge1} \frac{1}{M_t} + 2 - 2\prod_{t\ge1} c_4(M_t)\Bigr)
              \quad(\text{unbiased; } \sum_t 1/M_t = \zeta(a)/M_0 \text{ without rounding})

    The first ``terms`` generations are summed exactly (with ``M_t`` rounded to
    integers as :func:`ct.schedules.power` does when ``rounded``); the tail
    uses ``1/M_t`` and ``-log c4(M) ~ 1/(4M) + 1/(4M^2)`` with the Hurwitz zeta
    function, an error below ``1e-12`` relative for the defaults.
    """
    estimator = _estimator(estimator)
    M0 = check_int("M0", M0, min=2)
    a = check_float("exponent", exponent, min=0.0)
    sigma0 = _sigma0(sigma0)
    if not schedule_is_bounded(a):
        return float("inf")
    t = np.arange(1, terms + 1, dtype=np.float64)
    sizes = np.rint(M0 * t**a) if rounded else M0 * t**a
    sizes = np.maximum(sizes, 2.0)
    tail_inv = zeta(a, terms + 1) / M0  # sum_{t > terms} 1 / (M0 t^a)
    tail_inv2 = zeta(2 * a, terms + 1) / M0**2
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
    return float(sigma0**2 * (mean_sq + var_term - 2.0 * np.expm1(log_es)))


# --------------------------------------------------------------------------- d dimensions
def _cov0(cov0):
    C = check_covariance("cov0", cov0)
    if C.ndim == 0:
        C = C.reshape(1, 1)
    return C


def expected_mean_squared_error_mv(n, M, cov0, estimator="unbiased"):
    r"""Exact :math:`E\lVert\mu_n - \mu_0\rVert^2` in d dimensions.

    .. math:: E\lVert\mu_n-\mu_0\rVert^2 = \operatorname{tr}\Sigma_0 \sum_{t=1}^n \frac{1}{M_t}
              \prod_{s<t}\frac{M_s-1}{D_s}
    """
    C = _cov0(cov0)
    return expected_mean_squared_error(n, M, 1.0, estimator) * float(np.trace(C))


def expected_trace(n, M, cov0, estimator="unbiased"):
    r"""Exact :math:`E \operatorname{tr}\Sigma_n = \operatorname{tr}\Sigma_0 \prod_t (M_t-1)/D_t`.

    .. math:: E\,\Sigma_n = \Sigma_0 \prod_t (M_t - 1)/D_t \quad (E\,\mathrm{Wishart}_d(k, \Sigma) = k\Sigma)
    """
    C = _cov0(cov0)
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
    """
    _estimator(estimator)
    d = check_int("d", d, min=1)
    n_arr, sizes, kj, D = _det_factors(n, M, d, estimator)
    return _take(np.concatenate([[0.0], np.cumsum(np.sum(polygamma(1, kj / 2.0), axis=1))]), n_arr)


# --------------------------------------------------------------------------- fresh data, accumulation
@dataclass(frozen=True)
class MomentPath:
    """Exact first and second moments along a chain with fresh data or accumulation.

    Attributes
    ----------
    variance : ndarray, shape (n+1,)
        :math:`E\\sigma_t^2`, t = 0..n.
    mean_squared_error : ndarray, shape (n+1,)
        :math:`E(\\mu_t-\\mu_0)^2`.
    pool_size : ndarray, shape (n+1,)
        Points the model of generation t was fitted to (0 at t = 0).
    """

    variance: np.ndarray
    mean_squared_error: np.ndarray
    pool_size: np.ndarray

    @property
    def w2_squared_lower_bound(self) -> np.ndarray:
        """Jensen lower bound on E W2^2 (see :func:`w2_squared_lower_bound`), sigma0 = sqrt(variance[0])."""
        return w2_squared_lower_bound(self.variance, self.mean_squared_error, float(np.sqrt(self.variance[0])))


def _workflow(workflow):
    return check_choice("workflow", workflow, ("replace", "fresh", "accumulate"))


def moment_recursion(n, M, gamma=0.0, workflow="fresh", sigma0=1.0, estimator="unbiased") -> MomentPath:
    r"""Exact :math:`(E\sigma_t^2, E(\mu_t-\mu_0)^2)` with fresh data and/or accumulation.

    Each of the ``M_t`` new points comes from ``D_0 = N(mu_0, sigma_0^2)`` with
    probability ``gamma`` and from the current model otherwise. Given the
    model, the points are i.i.d. from a two-Gaussian mixture of mean
    :math:`\mu_0 + (1-\gamma)\delta_t` and variance
    :math:`V_t = \gamma\sigma_0^2 + (1-\gamma)\sigma_t^2 + \gamma(1-\gamma)\delta_t^2`
    (:math:`\delta_t = \mu_t - \mu_0`). With :math:`v = E\sigma_t^2`,
    :math:`e = E\delta_t^2`, :math:`\bar V = \gamma\sigma_0^2 + (1-\gamma)v + \gamma(1-\gamma)e`,
    and the pool of :math:`N_t` points (0 unless accumulating) with scatter
    :math:`S_t`:

    .. math:: e_{t+1} = \frac{(N_t + M(1-\gamma))^2 e_t + M \bar V}{N_{t+1}^2}, \quad
              E S_{t+1} = E S_t + (M-1)\bar V + \frac{N_t M}{N_{t+1}}\Bigl(\gamma^2 e_t + \frac{\bar V}{M}\Bigr),
              \quad v_{t+1} = \frac{E S_{t+1}}{D(N_{t+1})}

    with :math:`N_{t+1} = N_t + M_{t+1}` (accumulate) or :math:`M_{t+1}` (fresh /
    replace). Linear and exact: only first and second moments of the sample
    mean and the sample variance of i.i.d. data enter. ``gamma = 0`` with
    'replace' reproduces :func:`expected_variance` and
    :func:`expected_mean_squared_error`; 'accumulate' with ``gamma = 0`` is
    the workflow of Gerstgrasser et al. (2024), whose errors stay bounded.

    Parameters
    ----------
    n : int
        Generations.
    M : int, Schedule or int array
    gamma : float in [0, 1]
        Share of fresh real data in each new dataset.
    workflow : {'replace', 'fresh', 'accumulate'}
        'replace' and 'fresh' are the same process (the model is fitted to the
        newest dataset only); 'replace' requires ``gamma = 0``.
    sigma0 : float
    estimator : {'unbiased', 'mle'}

    Returns
    -------
    MomentPath
    """
    estimator = _estimator(estimator)
    workflow = _workflow(workflow)
    n = check_int("n", n, min=0)
    g = check_float("gamma", gamma, min=0.0, max=1.0)
    if workflow == "replace" and g != 0.0:
        raise ValueError(f"workflow='replace' has no fresh data; got gamma = {g} (use workflow='fresh')")
    sigma0 = _sigma0(sigma0)
    sizes = _sizes(M, n)
    s2 = sigma0**2
    ddof = 1.0 if estimator == "unbiased" else 0.0
    v = np.empty(n + 1)
    e = np.empty(n + 1)
    pool = np.zeros(n + 1)
    v[0], e[0] = s2, 0.0
    N, S = 0.0, 0.0
    pooled = workflow == "accumulate"
    for t in range(n):
        m = sizes[t]
        Vbar = g * s2 + (1 - g) * v[t] + g * (1 - g) * e[t]
        Np = N if pooled else 0.0
        Sp = S if pooled else 0.0
        Nn = Np + m
        e[t + 1] = ((Np + m * (1 - g)) ** 2 * e[t] + m * Vbar) / Nn**2
        S = Sp + (m - 1) * Vbar + (Np * m / Nn) * (g * g * e[t] + Vbar / m)
        N = Nn
        v[t + 1] = S / (N - ddof)
        pool[t + 1] = N
    return MomentPath(variance=v, mean_squared_error=e, pool_size=pool)


def _fresh_system(M, g, s2, estimator):
    q = (M - 1.0) / (M - 1.0 if estimator == "unbiased" else M)
    A = np.array([[q * (1 - g), q * g * (1 - g)], [(1 - g) / M, (1 - g) ** 2 + g * (1 - g) / M]])
    b = np.array([q * g * s2, g * s2 / M])
    return A, b


def stationary_moments(M, gamma, sigma0=1.0, estimator="unbiased"):
    r"""Stationary :math:`(E\sigma^2, E(\mu-\mu_0)^2)` of the fresh-data chain (constant M).

    The recursion of :func:`moment_recursion` (not pooled) is
    :math:`x_{t+1} = A x_t + b` with :math:`x = (v, e)`,

    .. math:: A = \begin{pmatrix} q(1-\gamma) & q\gamma(1-\gamma)\\ (1-\gamma)/M & (1-\gamma)^2 + \gamma(1-\gamma)/M\end{pmatrix},
              \quad b = \gamma\sigma_0^2 \begin{pmatrix} q \\ 1/M \end{pmatrix},

    :math:`q = (M-1)/D`; the fixed point :math:`(I - A)^{-1} b` is the limit
    when the spectral radius of ``A`` is below 1. For the unbiased estimator
    that holds iff :math:`\gamma M (2-\gamma) > 1-\gamma` (roughly
    :math:`\gamma > 1/(2M)`); otherwise the moments grow without bound and
    ``(inf, inf)`` is returned. Closed form (unbiased):
    :math:`\bar V = \gamma\sigma_0^2 / (\gamma - (1-\gamma)/(M(2-\gamma)))`,
    :math:`v = \bar V`, :math:`e = \bar V / (M\gamma(2-\gamma))`.

    Returns
    -------
    (float, float)
    """
    estimator = _estimator(estimator)
    M = check_int("M", M, min=2)
    g = check_float("gamma", gamma, min=0.0, max=1.0)
    sigma0 = _sigma0(sigma0)
    # fixed point (I - A)^{-1} b in closed form (derivations()["fresh_stationary"]); with
    # b > 0 it is positive exactly when the spectral radius of A is below 1 (Perron-Frobenius)
    Mf = float(M)
    one_minus_q = 0.0 if estimator == "unbiased" else 1.0 / Mf
    q = 1.0 - one_minus_q
    den = Mf * g * g * q - 3 * Mf * g * q + Mf * g - 2 * Mf * one_minus_q - g + 1
    if g == 0.0 or not den < 0:
        return float("inf"), float("inf")
    s2 = sigma0**2
    return float(Mf * g * q * s2 * (g - 2) / den), float(-s2 / den)


def long_run_moments(M, gamma=0.0, workflow="fresh", sigma0=1.0, estimator="unbiased", *, generations=2000):
    r"""``lim_t (E sigma_t^2, E(mu_t - mu_0)^2)`` for fresh data or accumulation (constant M).

    Fresh data: :func:`stationary_moments`. Accumulation: the recursion of
    :func:`moment_recursion` run for ``generations`` and ``4 generations``,
    extrapolated to infinity (Richardson: its increments decay like ``1/t^2``
    for ``gamma = 0`` and faster otherwise; relative error about ``1e-8``).
    'replace' (gamma = 0): ``(E sigma^2 limit, inf)``.
    """
    workflow = _workflow(workflow)
    estimator = _estimator(estimator)
    M = check_int("M", M, min=2)
    g = check_float("gamma", gamma, min=0.0, max=1.0)
    if workflow == "replace":
        if g != 0.0:
            raise ValueError("workflow='replace' has no fresh data (gamma must be 0)")
        return (sigma0**2 if estimator == "unbiased" else 0.0), float("inf")
    if workflow == "fresh":
        return stationary_moments(M, g, sigma0, estimator)
    # the remaining increments decay like c / t^2 (gamma = 0; faster otherwise), so
    # x(n) = L - c/n + O(1/n^2): Richardson extrapolation from n and 4n
    n = check_int("generations", generations, min=10)
    path = moment_recursion(4 * n, M, g, "accumulate", sigma0, estimator)
    v, e = path.variance, path.mean_squared_error
    return float((4 * v[4 * n] - v[n]) / 3), float((4 * e[4 * n] - e[n]) / 3)


def w2_squared_lower_bound(variance, mean_squared_error, sigma0=1.0):
    r"""Exact lower bound on :math:`E W_2^2` from :math:`E\sigma^2` and :math:`E(\mu-\mu_0)^2`.

    .. math:: E W_2^2 = e + v + \sigma_0^2 - 2\sigma_0 E\sigma \ \ge\ e + (\sqrt{v} - \sigma_0)^2

    (Jensen: :math:`E\sigma \le \sqrt{E\sigma^2}`). The gap is
    :math:`2\sigma_0(\sqrt{v} - E\sigma) \approx \sigma_0 \operatorname{Var}\sigma^2 / (4 v^{3/2})`,
    of order ``sigma0^2 / M``. Used where ``E sigma`` has no closed form
    (fresh data, accumulation).
    """
    v = np.asarray(variance, dtype=np.float64)
    e = np.asarray(mean_squared_error, dtype=np.float64)
    out = e + (np.sqrt(v) - sigma0) ** 2
    return float(out) if out.ndim == 0 else out


# --------------------------------------------------------------------------- SymPy
@lru_cache(maxsize=1)
def derivations() -> dict:
    r"""The SymPy derivation of every closed form above.

    Returns
    -------
    dict
        Name -> SymPy expression (or bool / dict for decisions), among them:

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
    return out
