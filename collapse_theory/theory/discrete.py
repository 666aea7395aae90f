"""Exact theory of the discrete collapse chain (neutral Wright–Fisher drift).

The model of generation ``t`` is the empirical distribution of ``M`` samples
from (a mixture with) the model of generation ``t - 1``; generation 0 is
``p0`` (Shumailov et al. 2024, section "Discrete distributions with exact
approximation"). Under replacement this is the neutral Wright–Fisher model with
``M`` copies and ``K`` types, and the results below are exact at finite ``M``:

* fixation at state ``i`` with probability ``p0_i`` (the frequencies are a
  bounded martingale), loss with probability ``1 - p0_i``;
* :math:`E H_t = H_0 (1 - 1/M)^t` for :math:`H = 1 - \\sum_i p_i^2`, from the
  multinomial second moments (Ewens 2004, *Mathematical Population Genetics*,
  ch. 3); with fresh data and with accumulation the same moments give exact
  linear recursions (derived in :func:`derivations`);
* each state's count is itself a two-type binomial chain (its first step is
  ``Binomial(M, p0_i)``), so survival, expected support and the absorption time
  reduce to the ``(M + 1)``-state binomial transition matrix: the chain is
  absorbed by ``t`` iff some state has all ``M`` copies, and these events are
  disjoint, so :math:`P(T \\le t) = \\sum_i P(X_i(t) = M)` and
  :math:`E T^k = \\sum_i E[T_i^k; X_i \\text{ fixes}]` for any ``K``, each term
  from the fundamental matrix :math:`N = (I - Q)^{-1}` (Kemeny & Snell 1960);
* diffusion approximations: Kimura & Ohta (1969) for two types,
  :math:`-2M \\sum_i (1 - p_i) \\ln(1 - p_i)` for ``K`` types (Littler 1975);
* eigenvalues of the transition matrix :math:`\\prod_{i<j}(1 - i/M)` (Feller 1951).

Sparse transition rows keep binomial probabilities within 10 standard
deviations (plus 10) of the mean; the mass dropped is below 1e-15 per row.
Theory never runs a simulation.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy import sparse, special, stats

from .._validate import (
    _short,
    check_array,
    check_broadcast,
    check_choice,
    check_int,
    check_probability_vector,
)
from ..process import Mixing, as_schedule, check_mixing
from ._derivation import Derivation

__all__ = [
    "fixation_probability",
    "loss_probability",
    "heterozygosity",
    "stationary_heterozygosity",
    "absorption_time",
    "absorption_time_cdf",
    "AbsorptionTime",
    "survival_probability",
    "extinction_probability",
    "expected_support",
    "expected_alive_mass",
    "transition_matrix",
    "eigenvalues",
    "derivations",
    "Derivation",
    "EXACT_MAX_M",
    "MEMORY_LIMIT_BYTES",
    "MAX_RECURSION_STEPS",
    "MAX_TABLE_OPERATIONS",
]

#: Largest ``M`` for which :func:`absorption_time` solves the fundamental matrix (dense, ``(M-1)^2``).
EXACT_MAX_M = 2000

#: Largest working memory the exact computations here allocate (8 GiB); above it they
#: refuse with a ValueError that names the parameter and gives the estimate.
MEMORY_LIMIT_BYTES = 8 * 1024**3

#: Most steps a recursion without constant coefficients is iterated (accumulate, or a
#: varying schedule); constant-coefficient recursions are evaluated in closed form at any ``t``.
MAX_RECURSION_STEPS = 10**7

_WINDOW = 10.0


def _check_M(M, name="M") -> int:
    # at most 2^53: counts above it are not exact in float64, and the kernels' int64 arithmetic would overflow
    return check_int(name, M, min=1, max=2**53)


def _check_memory(where: str, need: float, culprit: str) -> None:
    if need > MEMORY_LIMIT_BYTES:
        raise ValueError(
            f"{where}: {culprit} would need about {need / 2**30:.3g} GiB of working memory, above "
            f"MEMORY_LIMIT_BYTES = {MEMORY_LIMIT_BYTES / 2**30:.3g} GiB; use a smaller {culprit}"
        )


def _check_t(t, name="t"):
    """Non-negative integer generations, scalar or array; returns (int64 array, was_scalar)."""
    if isinstance(t, numbers.Integral) and not isinstance(t, bool):
        return np.array([check_int(name, t, min=0, max=2**62)], dtype=np.int64), True  # int64 without overflow
    arr = np.asarray(t)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"{name} must be a non-negative integer or an array of them, got {_short(t)}")
    arr = check_array(name, arr, dtype=np.float64)
    if np.any(arr != np.round(arr)) or np.any(arr < 0):
        raise ValueError(f"{name} must hold non-negative integers (generations), got {_short(t)}")
    if arr.size and arr.max() > 2**62:
        raise ValueError(f"{name} must be <= 2^62 generations, got {float(arr.max()):g}")
    return arr.astype(np.int64), arr.ndim == 0


# ----------------------------------------------------------------------------- fixation


def fixation_probability(p0) -> np.ndarray:
    """Probability that the chain is absorbed at each state: ``p0`` itself.

    The frequency of a state is a bounded martingale that ends at 0 or 1, so
    :math:`P(\\text{fix at } i) = p_{0,i}` (replace workflow, any ``M``).

    Parameters
    ----------
    p0 : array_like, shape (K,)

    Returns
    -------
    ndarray, shape (K,)

    Raises
    ------
    ValueError
        If ``p0`` is not a probability vector.

    Examples
    --------
    >>> fixation_probability([0.2, 0.8]).tolist()
    [0.2, 0.8]
    """
    return check_probability_vector("p0", p0).copy()


def loss_probability(p0) -> np.ndarray:
    """Probability that each state is eventually lost, :math:`1 - p_{0,i}` (shape (K,)).

    Parameters
    ----------
    p0 : array_like, shape (K,)

    Returns
    -------
    ndarray, shape (K,)

    Raises
    ------
    ValueError
        If ``p0`` is not a probability vector.

    Examples
    --------
    >>> loss_probability([0.2, 0.8]).round(12).tolist()
    [0.8, 0.2]
    """
    return 1.0 - check_probability_vector("p0", p0)


# ----------------------------------------------------------------------------- heterozygosity


#: Workflows with an exact heterozygosity recursion here (subsampled accumulation
#: and augmentation have none yet: they raise ValueError naming ``mixing``).
MIXING_WORKFLOWS = ("replace", "fresh", "mixture", "accumulate")


def _mixing(mixing, where: str) -> Mixing:
    return check_mixing(mixing, MIXING_WORKFLOWS, where=f"theory.discrete.{where}")


def heterozygosity(p0, M, t, *, mixing: Mixing | None = None):
    """Exact expected heterozygosity :math:`E H_t`, :math:`H = 1 - \\sum_i p_i^2`.

    Replace: :math:`E H_t = H_0 (1 - 1/M)^t`. Otherwise, with
    :math:`F = \\sum_i p_{0,i}^2`, :math:`\\alpha, \\beta, \\gamma` the mixing
    shares and :math:`Q_t = E \\sum_i q_{t,i}^2` for the sampling distribution
    :math:`q_t = \\alpha m_t + \\beta q_{t-1} + \\gamma p_0` (:math:`q_0 = p_0`):

    .. math:: E H_t = (1 - 1/M_t)(1 - Q_{t-1}),\\quad
              Q_t = [\\alpha^2 (1 - 1/M_t) + \\beta^2 + 2\\alpha\\beta] Q_{t-1}
                    + \\alpha^2/M_t + \\gamma(2 - \\gamma) F.

    With fresh data (:math:`\\beta = 0`) this is
    :math:`E H_{t+1} = (1 - 1/M)[(1-\\gamma)^2 E H_t + (1 - (1-\\gamma)^2) H_0]`.
    Accumulate (pool of all data, model :math:`m_t`, pool size :math:`S_t`,
    :math:`w = S_t / S_{t+1}`, :math:`U_t = E \\sum_i m_{t,i}^2`):

    .. math:: U_{t+1} = w^2 U_t + 2w(1-w)[(1-\\gamma) U_t + \\gamma F]
              + (1-w)^2 [1/M + (1 - 1/M)((1-\\gamma)^2 U_t + (2\\gamma - \\gamma^2) F)].

    All follow from :math:`E[\\sum_i (n_i/M)^2 \\mid q] = 1/M + (1 - 1/M) \\sum_i q_i^2`
    and :math:`E m_t = p_0` (see :func:`derivations`).

    Parameters
    ----------
    p0 : array_like, shape (K,)
    M : int, Schedule or array of int
        Sample size per generation (or a schedule ``M_1, M_2, ...``).
    t : int or array_like of int
        Generations (0 is ``p0`` itself).
    mixing : Mixing, optional
        Default replace.

    Returns
    -------
    float or ndarray, shape of ``t``

    Raises
    ------
    ValueError
        If ``p0`` is not a probability vector, ``M < 1``, ``t`` is not a
        non-negative integer, or ``mixing`` is a workflow without an exact
        recursion here (accepted: :data:`MIXING_WORKFLOWS`).
    TypeError
        If ``mixing`` is not a Mixing, spec string, dict or None.

    References
    ----------
    Ewens, W. J. (2004), *Mathematical Population Genetics*, ch. 3
    (replacement); the fresh-data and pooled recursions are derived in
    :func:`derivations`.

    Examples
    --------
    >>> heterozygosity([0.5, 0.5], 10, [0, 1, 2]).round(12).tolist()   # H0 (1 - 1/M)^t
    [0.5, 0.45, 0.405]
    >>> round(float(heterozygosity([0.5, 0.5], 10, 2, mixing="fresh:0.1")), 5)
    0.41355
    """
    p0 = check_probability_vector("p0", p0)
    schedule = as_schedule(M, "M")
    mixing = _mixing(mixing, "heterozygosity")
    t_arr, scalar = _check_t(t)
    tmax = int(t_arr.max()) if t_arr.size else 0
    F = float(np.sum(p0**2))
    a, b, g = mixing.synthetic, mixing.previous, mixing.real
    if schedule.kind == "constant" and not mixing.pooled:
        # constant coefficients: Q_s = A Q_{s-1} + B, Q_0 = F, solved in closed form (any t)
        m = float(schedule.m0)
        A = a * a * (1.0 - 1.0 / m) + b * b + 2 * a * b
        B = a * a / m + g * (2 - g) * F
        s_ = np.maximum(t_arr - 1, 0).astype(np.float64)
        if A < 1.0:  # 1 - Q_s = (1 - Q*)(1 - A^s) + (1 - F) A^s, Q* = B / (1 - A)
            w = g * (2 - g)  # 1 - A - B = w (1 - F), 1 - A = w + a^2/m, as a + b = 1 - g
            one_minus_qs = w * (1.0 - F) / (w + a * a / m)
            As = np.power(A, s_)
            one_minus_q = one_minus_qs * (1.0 - As) + (1.0 - F) * As
        else:  # A = 1 only when the data never change (previous = 1)
            one_minus_q = (1.0 - F) - B * s_
        out = np.where(t_arr == 0, 1.0 - F, np.clip((1.0 - 1.0 / m) * one_minus_q, 0.0, 1.0))
        return float(out.ravel()[0]) if scalar else out
    if tmax > MAX_RECURSION_STEPS:
        raise ValueError(
            f"heterozygosity: t = {tmax} would iterate the recursion {tmax} times (accumulate, or a varying "
            f"schedule M, has no closed form here); at most MAX_RECURSION_STEPS = {MAX_RECURSION_STEPS}"
        )
    sizes = schedule.sizes(tmax).astype(np.float64)
    H = np.empty(tmax + 1)
    H[0] = 1.0 - F
    if mixing.pooled:
        if tmax >= 1:
            U = 1.0 / sizes[0] + (1.0 - 1.0 / sizes[0]) * F
            S = sizes[0]
            H[1] = 1.0 - U
            for s in range(1, tmax):
                m = sizes[s]
                w = S / (S + m)
                cross = (1 - g) * U + g * F
                fresh2 = 1.0 / m + (1.0 - 1.0 / m) * ((1 - g) ** 2 * U + (2 * g - g * g) * F)
                U = w * w * U + 2 * w * (1 - w) * cross + (1 - w) ** 2 * fresh2
                S += m
                H[s + 1] = 1.0 - U
    else:
        Q = F
        for s in range(tmax):
            m = sizes[s]
            H[s + 1] = (1.0 - 1.0 / m) * (1.0 - Q)
            Q = (a * a * (1.0 - 1.0 / m) + b * b + 2 * a * b) * Q + a * a / m + g * (2 - g) * F
    out = H[t_arr]
    return float(out.ravel()[0]) if scalar else out


def stationary_heterozygosity(p0, M: int, *, mixing: Mixing) -> float:
    """Limit of :math:`E H_t` as ``t`` grows, for constant ``M`` without pooling.

    Fixed point of :func:`heterozygosity`'s recursion; with fresh data
    (:math:`\\beta = 0`, :math:`\\gamma > 0`):

    .. math:: H^* = \\frac{(1 - 1/M)\\,(1 - (1-\\gamma)^2)\\,H_0}{1 - (1 - 1/M)(1-\\gamma)^2}.

    0 under replace. Accumulation has no closed-form limit here (the pool's
    weights tend to 1 slowly): evaluate :func:`heterozygosity` at large ``t``.

    Returns
    -------
    float

    Parameters
    ----------
    p0 : array_like, shape (K,)
    M : int
    mixing : Mixing, spec string or dict
        A workflow with fresh data and no pooling.

    Raises
    ------
    ValueError
        For pooled mixings (no stationary value) and workflows outside
        :data:`MIXING_WORKFLOWS`.

    Examples
    --------
    >>> import collapse_theory as ct
    >>> round(stationary_heterozygosity([0.5, 0.5], 10, mixing=ct.Mixing.fresh(0.1)), 6)
    0.315498
    """
    p0 = check_probability_vector("p0", p0)
    M = _check_M(M)
    mixing = _mixing(mixing, "stationary_heterozygosity")
    if mixing.pooled:
        raise ValueError("stationary_heterozygosity: no closed form under accumulation; use heterozygosity(p0, M, t) at large t")
    a, b, g = mixing.synthetic, mixing.previous, mixing.real
    F = float(np.sum(p0**2))
    if g == 0.0:  # without fresh data the chain is absorbed: Q* = 1
        return 0.0
    # 1 - Q* = (1 - A - B) / (1 - A) with 1 - A - B = g(2-g)(1-F) and 1 - A = g(2-g) + a^2/M
    # (a + b = 1 - g): no cancellation, so H* >= 0 in floating point too
    w = g * (2 - g)
    return float((1.0 - 1.0 / M) * w * (1.0 - F) / (w + a * a / M))


# ----------------------------------------------------------------------------- transition matrix


def transition_matrix(M: int, *, sparse_output: bool = False):
    """Binomial transition matrix of one state's count, shape (M + 1, M + 1).

    .. math:: P_{jk} = \\binom{M}{k} (j/M)^k (1 - j/M)^{M-k}.

    With ``sparse_output`` the rows are truncated to 10 standard deviations
    (plus 10) around ``j``; the dropped mass is below 1e-15 per row.

    Parameters
    ----------
    M : int
        Sample size (states 0..M copies of one type).
    sparse_output : bool
        Return a SciPy sparse matrix.

    Returns
    -------
    ndarray or scipy.sparse matrix, shape (M + 1, M + 1)
        Row ``i``: Binomial(M, i / M) probabilities.

    Raises
    ------
    ValueError
        If ``M < 1``.

    Examples
    --------
    >>> transition_matrix(2).round(12).tolist()
    [[1.0, 0.0, 0.0], [0.25, 0.5, 0.25], [0.0, 0.0, 1.0]]
    """
    M = _check_M(M)
    if not isinstance(sparse_output, (bool, np.bool_)):
        raise TypeError(f"sparse_output must be True or False, got {_short(sparse_output)}")
    if not sparse_output:
        _check_memory("transition_matrix", 8.0 * (M + 1) ** 2 * 3, "M (or pass sparse_output=True)")
        j = np.arange(M + 1)
        return _binom_pmf(j[None, :], M, j[:, None] / M)
    _check_memory("transition_matrix", 60.0 * (M + 1) * min(M + 1.0, 2 * _WINDOW * 0.5 * np.sqrt(M) + 2 * _WINDOW + 1), "M")
    return _sparse_binomial_rows(M, np.arange(M + 1) / M, M + 1)


def _binom_pmf(k, M: int, p):
    """Binomial(M, p) pmf at ``k`` (broadcast); SciPy's, or from logs where SciPy overflows (subnormal p)."""
    try:
        return stats.binom.pmf(k, M, p)
    except OverflowError:
        k, p = np.broadcast_arrays(np.asarray(k, dtype=np.float64), np.asarray(p, dtype=np.float64))
        with np.errstate(divide="ignore", invalid="ignore"):
            logc = special.gammaln(M + 1.0) - special.gammaln(k + 1.0) - special.gammaln(M - k + 1.0)
            lp = np.where(k == 0, 0.0, k * np.log(p))
            lq = np.where(k == M, 0.0, (M - k) * np.log1p(-p))
            return np.exp(logc + lp + lq)


def _windows(M: int, p: np.ndarray):
    mu = M * p
    sd = np.sqrt(M * p * (1.0 - p))
    lo = np.maximum(0, np.floor(mu - _WINDOW * sd - _WINDOW)).astype(np.int64)
    hi = np.minimum(M, np.ceil(mu + _WINDOW * sd + _WINDOW)).astype(np.int64)
    return lo, hi


def _sparse_binomial_rows(M: int, p: np.ndarray, ncols: int):
    """CSR matrix whose row ``i`` is the Binomial(M, p_i) pmf on 0..M (truncated windows)."""
    lo, hi = _windows(M, p)
    lengths = hi - lo + 1
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    rows = np.repeat(np.arange(p.size), lengths)
    cols = np.arange(indptr[-1]) - np.repeat(indptr[:-1], lengths) + np.repeat(lo, lengths)
    vals = _binom_pmf(cols, M, p[rows])
    return sparse.csr_matrix((vals, cols, indptr), shape=(p.size, ncols))


#: Entries of the extinction table below this are treated as 0 (each step adds at most this much error).
_TOL = 1e-20
#: Transition-row entries cached across the steps of the extinction recursion (8 bytes each: 200 MB).
_ROW_BUDGET = 25_000_000


#: Most multiply-adds the extinction recursion may take (about 10 minutes on one core); above it
#: the functions that need it refuse with a ValueError naming ``t`` instead of running for hours.
MAX_TABLE_OPERATIONS = 2e10


def _table_operations(M: int, smax: int) -> float:
    """Multiply-adds of the extinction recursion to step ``smax``: rows 0..J_s (J_s ~ 20 s), each ~20 sd wide."""
    if smax > 10**7:
        return float("inf")
    s = np.arange(1, smax + 1, dtype=np.float64)
    J = np.minimum(20.0 * s + 20.0, M)
    mid = 0.5 * J  # the rows 0..J_s are about as wide, on average, as the middle one
    width = np.minimum(M + 1.0, 2 * _WINDOW * np.sqrt(mid * np.maximum(1.0 - mid / M, 0.0)) + 2 * _WINDOW + 1)
    return float(np.sum(J * width))


def _z_table(M: int, steps: np.ndarray):
    """The extinction table ``Z_s`` for the sorted, unique steps ``s`` in ``steps``; see _kernels_extinction."""
    from . import _kernels_extinction as kx

    smax = int(steps.max())
    ops = _table_operations(M, smax)
    if ops > MAX_TABLE_OPERATIONS:
        raise ValueError(
            f"t = {smax + 1} at M = {M} needs the exact extinction recursion to step {smax}, about {ops:.2g} "
            f"multiply-adds (minutes to hours), above MAX_TABLE_OPERATIONS = {MAX_TABLE_OPERATIONS:.0e}; use a smaller t "
            "(or the diffusion approximation)"
        )
    keep = np.zeros(smax + 1, dtype=np.bool_)
    keep[steps] = True
    return kx.extinction_table(M, smax, keep, _TOL, _WINDOW, _ROW_BUDGET)


def _zero_by(p: np.ndarray, M: int, flat: np.ndarray, where: str = "extinction_probability") -> np.ndarray:
    """``P(X(t) = 0)`` for counts starting ``Binomial(M, p_i)`` at generation 1; shape (p.size, flat.size), t >= 1.

    Memory: the output plus the kept rows of the extinction table (about
    ``20 t`` entries per requested ``t``), independent of ``M``.
    """
    from . import _kernels_extinction as kx

    need = np.unique(flat)
    _check_memory(where, 8.0 * p.size * need.size + 8.0 * 20 * float(need.sum()), "t or K = len(p0)")
    J, off, Z = _z_table(M, need - 1)
    vals = kx.state_extinction(M, np.ascontiguousarray(p, dtype=np.float64), need - 1, J, off, Z, _WINDOW)
    return vals[:, np.searchsorted(need, flat)]


def _zero_by_total(p: np.ndarray, weights: np.ndarray, M: int, flat: np.ndarray) -> np.ndarray:
    """``sum_i weights_i P(X_i(t) = 0)`` for ``t`` in ``flat`` (t >= 1), without a (K, T) array.

    The first-step laws of all states are added once into one vector
    ``w_k = sum_i weights_i Binomial(M, p_i)(k)``; each ``t`` is then one dot
    product with the extinction table, so the cost is that of the table plus
    one pass over the states' binomial windows.
    """
    from . import _kernels_extinction as kx

    need = np.unique(flat)
    J, off, Z = _z_table(M, need - 1)
    jmax = int(J[need - 1].max())
    w = kx.weighted_first_step(
        M, np.ascontiguousarray(p, dtype=np.float64), np.ascontiguousarray(weights, dtype=np.float64), jmax, _WINDOW
    )
    vals = np.array([w[: J[s] + 1] @ Z[off[s] : off[s] + J[s] + 1] for s in need - 1])
    return vals[np.searchsorted(need, flat)]


def eigenvalues(M: int) -> np.ndarray:
    """Eigenvalues of the binomial transition matrix, shape (M + 1,), decreasing.

    .. math:: \\lambda_0 = 1,\\quad \\lambda_j = \\prod_{i=0}^{j-1} (1 - i/M) = \\frac{M!}{(M-j)!\\,M^j}

    (Feller 1951): ``E[(X_{t+1})_j | X_t] = (M)_j (X_t/M)^j`` for the falling
    factorial :math:`(x)_j`, so the transition matrix is triangular in the
    falling-factorial basis. :math:`\\lambda_2 = 1 - 1/M` is the heterozygosity decay.

    Parameters
    ----------
    M : int

    Returns
    -------
    ndarray, shape (M + 1,)

    Raises
    ------
    ValueError
        If ``M < 1``.

    Examples
    --------
    >>> eigenvalues(3).round(6).tolist()   # 1, 1, 1 - 1/M, (1 - 1/M)(1 - 2/M)
    [1.0, 1.0, 0.666667, 0.222222]
    """
    M = _check_M(M)
    _check_memory("eigenvalues", 8.0 * (M + 1) * 6, "M")  # j and the gammaln/log temporaries
    # lambda_j = prod_{i<j} (1 - i/M): a sum of log1p terms (each <= 0), so 1 >= lambda_j exactly; the
    # log-Gamma difference cancelled to 1 + 2e-9 at M = 2.7e6 (a fuzz finding)
    i = np.arange(M, dtype=np.float64)
    return np.exp(np.concatenate(([0.0], np.cumsum(np.log1p(-i / M)))))


# ----------------------------------------------------------------------------- survival and support


def survival_probability(count, M: int, t):
    """Probability that a state with ``count`` of ``M`` copies is still present ``t`` generations later.

    .. math:: s(c, t) = 1 - (P^t)_{c,0}

    for the binomial transition matrix ``P`` (replace workflow, constant ``M``).

    Parameters
    ----------
    count : int or array_like of int, values in 0..M
    M : int
    t : int or array_like of int

    Returns
    -------
    float or ndarray, shape ``broadcast(count, t)``

    Raises
    ------
    ValueError
        If ``count`` is not in ``0..M`` or ``t`` is negative.

    Examples
    --------
    >>> round(float(survival_probability(1, 10, 1)), 6)   # 1 - (1 - 1/10)^10
    0.651322
    """
    M = _check_M(M)
    c = check_array("count", count, dtype=np.float64)
    if np.any(c != np.round(c)) or np.any(c < 0) or np.any(c > M):
        raise ValueError(f"count must hold integers in 0..M = 0..{M}, got {_short(count)}")
    t_arr, _ = _check_t(t)
    c = c.astype(np.int64)
    cb, tb = check_broadcast(count=c, t=t_arr.reshape(np.shape(t)) if np.ndim(t) else t_arr.reshape(()))
    out = np.ones(cb.shape)
    if cb.size:
        need = np.unique(tb)
        _check_memory("survival_probability", 8.0 * cb.size * 3 + 8.0 * 20 * float(need.sum()), "t")
        J, off, Z = _z_table(M, need)
        row = np.searchsorted(need, tb)
        s_of = need[row]
        inside = cb <= J[s_of]
        out[inside] = 1.0 - Z[off[s_of[inside]] + cb[inside]]
    return float(out) if out.ndim == 0 else out


def extinction_probability(p0, M: int, t) -> np.ndarray:
    """Probability that each state has vanished by generation ``t``, shape (K,) + shape of ``t``.

    .. math:: P(X_i(t) = 0) = \\sum_j \\binom{M}{j} p_{0,i}^j (1-p_{0,i})^{M-j} (P^{t-1})_{j,0},\\quad t \\ge 1,

    and :math:`1\\{p_{0,i} = 0\\}` at ``t = 0`` (generation 0 is ``p0``).

    Parameters
    ----------
    p0 : array_like, shape (K,)
    M : int
    t : int or array_like of int

    Returns
    -------
    ndarray, shape (K, len(t))

    Raises
    ------
    ValueError
        On an invalid ``p0``, ``M`` or ``t``.

    Examples
    --------
    >>> extinction_probability([0.5, 0.5], 2, [1]).round(12).tolist()
    [[0.25], [0.25]]
    """
    p0 = check_probability_vector("p0", p0)
    M = _check_M(M)
    t_arr, scalar = _check_t(t)
    flat = t_arr.ravel()
    tmax = int(flat.max()) if flat.size else 0
    out = np.empty((p0.size, flat.size))
    out[:, flat == 0] = (p0 == 0).astype(float)[:, None]
    if tmax >= 1:
        out[:, flat >= 1] = _zero_by(p0, M, flat[flat >= 1])
    np.clip(out, 0.0, 1.0, out=out)
    if scalar:
        return out[:, 0]
    return out.reshape((p0.size,) + t_arr.shape)


def _total_extinct(p0: np.ndarray, weights: np.ndarray, M: int, t):
    """``sum_i weights_i P(X_i(t) = 0)`` with its t = 0 value; returns (flat values, t array, was_scalar)."""
    t_arr, scalar = _check_t(t)
    flat = t_arr.ravel()
    out = np.empty(flat.size)
    out[flat == 0] = float(np.sum(weights[p0 == 0]))
    if np.any(flat >= 1):
        out[flat >= 1] = _zero_by_total(p0, weights, M, flat[flat >= 1])
    return out, t_arr, scalar


def expected_support(p0, M: int, t):
    """Expected number of states still present at generation ``t`` (replace, constant ``M``).

    .. math:: E|\\{i : p_{t,i} > 0\\}| = \\sum_i [1 - P(X_i(t) = 0)]

    with each state's count a two-type binomial chain (see
    :func:`extinction_probability`). Every state's count follows the same
    chain from a different first step ``Binomial(M, p_i)``, so the extinction
    probabilities ``Z_s(j)`` of that chain are computed once (a backward
    recursion over the banded transition rows, kept only where ``Z_s(j) >=
    1e-20``: about ``20 s`` values of ``j`` whatever ``M`` is), and the states
    enter through one sum of their binomial windows. Exact up to an absolute
    error of ``K t 1e-20`` plus the 1e-15 window truncation per state. Cost:
    about ``13 t J^{3/2}`` operations with ``J`` about ``20 t`` for the
    recursion, plus the states' windows; memory ``O(M + J)``. For example
    ``K = 10^5`` Zipf states, ``M = 10^6``, ``t <= 200``: about a second.

    Parameters
    ----------
    p0 : array_like, shape (K,)
    M : int
    t : int or array_like of int

    Returns
    -------
    float or ndarray, shape of ``t``

    Raises
    ------
    ValueError
        On an invalid ``p0``, ``M`` or ``t``.

    References
    ----------
    Shumailov et al. (2024), the discrete chain; the extinction recursion is
    the backward equation of the Wright–Fisher chain (Ewens 2004, ch. 3).

    Examples
    --------
    >>> from collapse_theory.theory.discrete import expected_support
    >>> round(expected_support([0.5, 0.5], 10, 0), 12)
    2.0
    >>> bool(expected_support([0.5, 0.5], 10, 200) < 1.01)
    True
    >>> float(expected_support([0.5, 0.5], 2, 1))
    1.5
    """
    p0 = check_probability_vector("p0", p0)
    M = _check_M(M)
    ext, t_arr, scalar = _total_extinct(p0, np.ones(p0.size), M, t)
    out = np.clip(p0.size - ext, 0.0, p0.size)
    return float(out[0]) if scalar else out.reshape(t_arr.shape)


def expected_alive_mass(p0, M: int, t):
    """Expected original mass of the states still present, :math:`\\sum_i p_{0,i} P(X_i(t) > 0)`.

    One minus it is the expected share of ``p0``'s probability lost with the
    vanished states (the "tails"). Shape of ``t``. Computed as
    :func:`expected_support` is, with weights ``p_{0,i}``.

    Parameters
    ----------
    p0 : array_like, shape (K,)
    M : int
    t : int or array_like of int

    Returns
    -------
    float or ndarray, shape of ``t``

    Raises
    ------
    ValueError
        On an invalid ``p0``, ``M`` or ``t``.

    Examples
    --------
    >>> from collapse_theory.theory.discrete import expected_alive_mass
    >>> round(expected_alive_mass([0.9, 0.1], 100, 0), 12)
    1.0
    >>> float(expected_alive_mass([0.5, 0.5], 2, 1))
    0.75
    """
    p0v = check_probability_vector("p0", p0)
    M = _check_M(M)
    ext, t_arr, scalar = _total_extinct(p0v, p0v, M, t)
    out = np.clip(1.0 - ext, 0.0, 1.0)
    return float(out[0]) if scalar else out.reshape(t_arr.shape)


# ----------------------------------------------------------------------------- absorption time


@dataclass(frozen=True)
class AbsorptionTime:
    """Mean and variance of the generation at which one state first holds all mass.

    Attributes
    ----------
    mean, variance : float
    method : str
        'exact' or 'diffusion'.
    per_state_mean : ndarray, shape (K,)
        :math:`E[T; \\text{state } i \\text{ fixes}]`; sums to ``mean``.
    """

    mean: float
    variance: float
    method: str
    per_state_mean: np.ndarray = field(repr=False, default=None)

    @property
    def std(self) -> float:
        return float(np.sqrt(self.variance))


@lru_cache(maxsize=8)
def _fix_moments(M: int):
    """For start count j: ``g1[j] = E[T'; fix]``, ``g2[j] = E[T'^2; fix]`` (T' from time 0 at count j)."""
    P = transition_matrix(M)
    Q = P[1:M, 1:M]
    h = np.arange(1, M) / M
    from scipy.linalg import lu_factor, lu_solve

    lu = lu_factor(np.eye(M - 1) - Q)
    a = lu_solve(lu, h)  # N h
    y = lu_solve(lu, a)  # N^2 h
    g2 = 2.0 * (Q @ y) + a  # sum_t (2t+1) Q^t h
    g1f = np.zeros(M + 1)
    g2f = np.zeros(M + 1)
    g1f[1:M] = a
    g2f[1:M] = g2
    return g1f, g2f


def absorption_time(p0, M: int, method: str = "exact") -> AbsorptionTime:
    """Mean and variance of the absorption time ``T`` (replace workflow, constant ``M``).

    Exact (``M <= EXACT_MAX_M``): ``T <= t`` iff some state holds all ``M``
    copies, disjoint events, so

    .. math:: E T^k = \\sum_i E[T^k;\\ X_i \\text{ fixes}],\\quad
              E[T; \\text{fix}] = \\sum_j b_j (h_j + (N h)_j),\\quad
              E[T^2; \\text{fix}] = \\sum_j b_j (h_j + 2 (N h)_j + ((2 Q N^2 + N) h)_j)

    with :math:`b = \\text{Binomial}(M, p_{0,i})` (the first generation),
    :math:`h_j = j/M`, ``Q`` the transient block of the binomial matrix and
    :math:`N = (I - Q)^{-1}` (Kemeny & Snell 1960). Any ``K``.

    Diffusion (Kimura & Ohta 1969; Littler 1975 for ``K`` types):

    .. math:: E T \\approx -2M \\sum_i (1 - p_i) \\ln(1 - p_i)

    (for ``K = 2`` this is :math:`-2M[p \\ln p + (1-p)\\ln(1-p)]`), the variance
    from the second backward equation solved with the dilogarithm.

    Size of the diffusion error: it overestimates the mean by a few
    generations, growing only like ``ln M``, so the relative error is
    ``O(ln M / M)``. At ``p = 1/2``: ``M = 10``: 12.59 exact vs 13.86;
    ``M = 50``: 67.52 vs 69.31; ``M = 100``: 136.60 vs 138.63 (1.5%);
    ``M = 1000``: 1383.50 vs 1386.29 (0.2%). ``K = 10`` uniform, ``M = 100``:
    187.43 vs 189.65. The standard deviation is overestimated by about 0.54
    generations whatever ``M``.

    Parameters
    ----------
    p0 : array_like, shape (K,)
    M : int
    method : {'exact', 'diffusion'}

    Returns
    -------
    AbsorptionTime

    Raises
    ------
    ValueError
        If ``method`` is unknown, or ``M > EXACT_MAX_M`` with ``method="exact"``.

    Examples
    --------
    >>> at = absorption_time([0.5, 0.5], 2)
    >>> round(at.mean, 9), round(at.variance, 9)
    (2.0, 2.0)
    """
    p0 = check_probability_vector("p0", p0)
    M = _check_M(M)
    method = check_choice("method", method, ("exact", "diffusion"))
    if np.max(p0) >= 1.0:
        return AbsorptionTime(0.0, 0.0, method, np.zeros(p0.size))
    if method == "diffusion":
        p = np.clip(p0, 0.0, 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            l1 = np.where(p < 1, np.log1p(-p), 0.0)
        g1 = -2.0 * M * (1 - p) * l1
        li2 = special.spence(1.0 - p)  # Li2(p)
        g2 = 8.0 * M**2 * ((1 - p) * ((1 - p) * l1 + p) + p * (np.pi**2 / 6 - li2 - 1 + (1 - p) * l1 + p))
        mean = float(g1.sum())
        return AbsorptionTime(mean, float(g2.sum() - mean**2), "diffusion", g1)
    if M > EXACT_MAX_M:
        raise ValueError(
            f"absorption_time: method='exact' solves an (M-1)x(M-1) system and is limited to "
            f"M <= EXACT_MAX_M = {EXACT_MAX_M}, got M = {M}; use method='diffusion'"
        )
    if M == 1:  # one copy: absorbed at generation 1
        return AbsorptionTime(1.0, 0.0, "exact", p0.copy())
    g1, g2 = _fix_moments(M)
    j = np.arange(M + 1)
    B = _binom_pmf(j[None, :], M, p0[:, None])  # (K, M+1)
    h = j / M
    e1 = B @ (h + g1)
    e2 = B @ (h + 2 * g1 + g2)
    mean = float(e1.sum())
    return AbsorptionTime(mean, float(e2.sum() - mean**2), "exact", e1)


def absorption_time_cdf(p0, M: int, t):
    """Exact :math:`P(T \\le t) = \\sum_i P(X_i(t) = M)` (replace workflow, constant ``M``).

    Returns
    -------
    float or ndarray, shape of ``t``

    Parameters
    ----------
    p0 : array_like, shape (K,)
    M : int
        At most :data:`EXACT_MAX_M`.
    t : int or array_like of int

    Returns
    -------
    float or ndarray, shape of ``t``

    Raises
    ------
    ValueError
        On an invalid ``p0``, ``M`` or ``t``.

    Examples
    --------
    >>> absorption_time_cdf([0.5, 0.5], 2, [0, 1, 2]).round(12).tolist()
    [0.0, 0.5, 0.75]
    """
    p0 = check_probability_vector("p0", p0)
    M = _check_M(M)
    t_arr, scalar = _check_t(t)
    flat = t_arr.ravel()
    if np.max(p0) >= 1.0:
        out = np.ones(flat.size)
    else:
        tmax = int(flat.max()) if flat.size else 0
        out = np.zeros(flat.size)
        if tmax >= 1:
            # state i holds all M copies iff the other states' count, which starts
            # Binomial(M, 1 - p_i), is 0
            pos = flat >= 1
            out[pos] = _zero_by_total(1.0 - p0, np.ones(p0.size), M, flat[pos])
    out = np.clip(out, 0.0, 1.0)
    return float(out[0]) if scalar else out.reshape(t_arr.shape)


# ----------------------------------------------------------------------------- derivations


def derivations() -> dict:
    """SymPy derivations of the formulas in this module.

    Returns
    -------
    dict of str to Derivation
        ``heterozygosity`` (multinomial moments -> recursion -> solution),
        ``fresh`` (cross term, recursion, solution, stationary value),
        ``accumulate`` (the pooled recursion), ``kimura_ohta`` (backward
        diffusion equation solved with its boundary conditions),
        ``fixation_weighted_time`` (the ``K``-type diffusion term) and
        ``eigenvalues`` (falling-factorial moments of the binomial).

    Examples
    --------
    >>> d = derivations()
    >>> sorted(d)[:2], type(d["heterozygosity"]).__name__
    (['accumulate', 'eigenvalues'], 'Derivation')
    """
    import sympy as sp

    M, q, s, g, H0, F, x = sp.symbols("M q s gamma H_0 F x", positive=True)
    t = sp.symbols("t", integer=True, nonnegative=True)
    H = sp.Function("H")
    out = {}

    # 1. heterozygosity under replacement
    mgf = (1 - q + q * sp.exp(s)) ** M
    m2 = sp.expand(sp.simplify(sp.diff(mgf, s, 2).subs(s, 0)))  # E n_i^2, n_i ~ Bin(M, q_i)
    per_state = sp.expand(m2 / M**2)  # E (n_i/M)^2 = q/M + (1 - 1/M) q^2
    Sq = sp.symbols("S_q")  # sum_i q_i^2
    # sum over states: sum q_i = 1, sum q_i^2 = S_q
    hom_next = sp.expand(per_state.coeff(q, 1) * 1 + per_state.coeff(q, 2) * Sq)
    het_next = sp.simplify(1 - hom_next)
    sol = sp.rsolve(H(t + 1) - (1 - 1 / M) * H(t), H(t), {H(0): H0})
    out["heterozygosity"] = Derivation(
        "E H_t under replacement",
        [
            ("binomial MGF of one state's count n_i", mgf),
            ("E n_i^2 = d^2/ds^2 MGF at s=0", m2),
            ("E (n_i/M)^2", per_state),
            ("E sum_i (n_i/M)^2 given q (S_q = sum q_i^2)", hom_next),
            ("E[H_{t+1} | q] = 1 - that = (1 - 1/M)(1 - S_q)", sp.factor(het_next)),
            ("recursion", sp.Eq(H(t + 1), (1 - 1 / M) * H(t))),
        ],
        sp.simplify(sol),
    )

    # 2. fresh data: q_t = (1 - gamma) m_t + gamma p0
    C = sp.Function("C")
    Ssym, Csym = sp.symbols("S_t C_t")  # E sum m^2, E sum m p0
    # E sum q^2 = (1-g)^2 S + 2 g (1-g) C + g^2 F
    EQ2 = (1 - g) ** 2 * Ssym + 2 * g * (1 - g) * Csym + g**2 * F
    # the cross term: E[m_{t+1} | q_t] = q_t, so C_{t+1} = (1-g) C_t + g F, with C_0 = F
    Csol = sp.simplify(sp.rsolve(C(t + 1) - (1 - g) * C(t) - g * F, C(t), {C(0): F}))
    Hn = sp.symbols("H_t")
    rec = sp.expand((1 - 1 / M) * (1 - EQ2.subs({Ssym: 1 - Hn, Csym: Csol})))
    rec = sp.collect(sp.simplify(rec.subs(F, 1 - H0)), Hn)
    Hfresh = sp.rsolve(H(t + 1) - rec.subs(Hn, H(t)), H(t), {H(0): H0})
    Hs = sp.symbols("H_*")
    stationary = sp.solve(sp.Eq(Hs, rec.subs(Hn, Hs)), Hs)[0]
    out["fresh"] = Derivation(
        "E H_t with a share gamma of fresh data",
        [
            ("E sum q_t^2 with S_t = E sum m_t^2, C_t = E sum m_t p0", EQ2),
            ("cross term C_{t+1} = (1-gamma) C_t + gamma F, C_0 = F, solved", Csol),
            ("E H_{t+1} = (1 - 1/M) E[1 - sum q_t^2], F = 1 - H_0", sp.Eq(H(t + 1), rec.subs(Hn, H(t)))),
        ],
        {"solution": sp.simplify(Hfresh), "stationary": sp.factor(stationary)},
    )

    # 3. accumulate: m_{t+1} = w m_t + (1 - w) d_t, d_t empirical of M draws from (1-g) m_t + g p0
    U, w = sp.symbols("U_t w")
    q2 = (1 - g) ** 2 * U + 2 * g * (1 - g) * F + g**2 * F
    cross = (1 - g) * U + g * F  # E sum m d = sum m E[d | m], E sum m p0 = F
    d2 = 1 / M + (1 - 1 / M) * q2
    Unext = sp.collect(sp.expand(w**2 * U + 2 * w * (1 - w) * cross + (1 - w) ** 2 * d2), U)
    out["accumulate"] = Derivation(
        "E sum m_t^2 when the model is fitted to the pool of all data (w = S_t / S_{t+1})",
        [
            ("E sum m_t d_t", cross),
            ("E sum d_t^2", d2),
        ],
        sp.Eq(sp.Symbol("U_{t+1}"), Unext),
    )

    # 4. Kimura–Ohta: (x (1 - x) / (2 M)) T'' = -1, T(0) = T(1) = 0 (time in generations)
    C1, C2 = sp.symbols("C1 C2")

    def solve_backward(rhs):
        Tpp = sp.apart(-2 * M * rhs / (x * (1 - x)), x)
        Tp = sp.integrate(Tpp, x) + C1
        T = sp.integrate(Tp, x) + C2
        T = sp.expand(T).subs(sp.log(x - 1), sp.log(1 - x))  # x in (0, 1); constants absorb i*pi
        bc = [sp.limit(T, x, 0, "+"), sp.limit(T, x, 1, "-")]
        consts = sp.solve(bc, [C1, C2], dict=True)[0]
        return Tpp, sp.simplify(T.subs(consts))

    Tpp, T = solve_backward(sp.Integer(1))
    out["kimura_ohta"] = Derivation(
        "mean absorption time, two types (backward diffusion equation)",
        [
            ("backward equation x(1-x)/(2M) T'' = -1, so T''", Tpp),
            ("integrate twice, impose T(0) = T(1) = 0", T),
        ],
        sp.simplify(T),
    )
    Tpp1, T1 = solve_backward(x)
    out["fixation_weighted_time"] = Derivation(
        "E[T; fixation] for one type starting at x (summed over types: -2M sum (1-p_i) ln(1-p_i))",
        [("x(1-x)/(2M) u'' = -x (fixation probability x as the source)", Tpp1)],
        sp.simplify(T1),
    )

    # 5. eigenvalues: falling factorial moments of Bin(M, q): E (n)_j = (M)_j q^j
    j_moments = []
    for j in range(1, 5):
        fall = sp.ff(sp.Symbol("n"), j)
        # E (n)_j from the factorial-moment generating function (1 + q u)^M
        fm = sp.diff((1 + q * sp.Symbol("u")) ** M, sp.Symbol("u"), j).subs(sp.Symbol("u"), 0)
        lam = sp.simplify(fm / (q**j * M**j))
        j_moments.append((f"E {fall} / (M q)^{j} = eigenvalue lambda_{j}", lam))
    out["eigenvalues"] = Derivation(
        "eigenvalues of the binomial transition matrix (Feller 1951)",
        j_moments,
        sp.Product(1 - sp.Symbol("i") / M, (sp.Symbol("i"), 0, sp.Symbol("j") - 1)),
    )
    return out
