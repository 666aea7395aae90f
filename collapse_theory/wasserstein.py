"""Wasserstein-2 estimators that stay exact when distributions collapse.

Every part of the toolkit (the Gaussian theorem, the GMM / VAE / language-model
runs, the sweeps) measures the distance to the original distribution with the
functions of this module. Collapse drives variances towards zero, which is
where common estimators break:

* a regulariser added to covariances (POT's
  ``empirical_bures_wasserstein_distance`` adds ``reg=1e-6`` by default, so a
  collapsed variance of 1e-10 is read as 1e-6);
* the trace formula ``tr C1 + tr C2 - 2 tr (C2^1/2 C1 C2^1/2)^1/2`` subtracts
  numbers of size ``tr C`` and loses everything below ``1e-16 tr C``;
* the matrix square root of a slightly negative (round-off) eigenvalue is NaN;
* an exact optimal-transport solver that stops at its iteration cap returns a
  wrong number with only a warning;
* a squared-distance matrix computed as ``|x|^2 + |y|^2 - 2 x.y`` cancels
  catastrophically for samples tightly clustered away from the origin.

Here none of these happen: there is no regulariser; Gaussian distances are
computed as the squared Frobenius norm of the residual
``C1^1/2 - C2^1/2 U`` with ``U`` the optimal rotation (a sum of squares, no
cancellation), after rescaling each problem to unit size; square roots clamp
round-off negative eigenvalues; the OT solver's status is checked; costs are
computed from coordinate differences after centring.

Every function returns the **squared** distance :math:`W_2^2` and says so in
its name.

Formulas
--------
Gaussian closed form (Dowson & Landau 1982; Olkin & Pukelsheim 1982;
Peyre & Cuturi 2019, Computational Optimal Transport, Remark 2.31):

.. math:: W_2^2 = \\lVert m_1 - m_2 \\rVert^2 + \\min_{U^\\top U = I}
          \\lVert C_1^{1/2} - C_2^{1/2} U \\rVert_F^2
          = \\lVert m_1 - m_2 \\rVert^2 + \\operatorname{tr} C_1 + \\operatorname{tr} C_2
          - 2 \\operatorname{tr}(C_2^{1/2} C_1 C_2^{1/2})^{1/2}.

1-D optimal transport by quantile functions (Villani 2003, Thm 2.18;
Peyre & Cuturi 2019, Remark 2.30): :math:`W_2^2 = \\int_0^1 (Q_x(u) - Q_y(u))^2 du`.
Gelbrich lower bound (Gelbrich 1990). Mixture-Wasserstein distance (Delon &
Desolneux 2020, SIAM J. Imaging Sci. 13(2), "A Wasserstein-type distance in
the space of Gaussian mixture models").
"""

from __future__ import annotations

import os
import warnings

import numpy as np
from scipy.special import ndtri

from ._rng import default_rng
from ._validate import (
    check_array,
    check_choice,
    check_covariance,
    check_int,
    check_probability_vector,
    check_weights,
    finite_result,
)

__all__ = [
    "w2_squared_gaussian",
    "w2_squared_gaussian_factors",
    "w2_squared_gaussian_logvar",
    "w2_squared_empirical",
    "w2_squared_sliced",
    "w2_squared_to_gaussian",
    "w2_squared_gmm",
    "MAX_OT_BYTES",
]


def _physical_memory() -> int:
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 8 * 2**30


#: Most memory (bytes) an exact d-D OT problem may take: half the machine, at most 4 GiB
#: (beyond that the network simplex also runs for hours).
MAX_OT_BYTES: int = min(_physical_memory() // 2, 4 * 2**30)

#: Bytes per pair of samples of an exact OT problem: the cost matrix and the plan
#: (two doubles) and the network simplex's arrays per arc (source, target, cost,
#: flow, state: about 40 bytes in POT's ``emd_c``).
_OT_BYTES_PER_PAIR = 56

_SYM_RTOL = 1e-8  # as _validate.check_covariance
_SYM_ATOL = 1e-12
_PSD_RTOL = 1e-10


# ---------------------------------------------------------------------------
# Gaussian closed form
# ---------------------------------------------------------------------------


def _check_cov_batch(name: str, C: np.ndarray) -> np.ndarray:
    """Symmetry check of a stack of matrices (..., d, d); returns the symmetrised stack.

    Positive semidefiniteness is checked on the eigenvalues, in :func:`_sqrtm_psd`.
    """
    if C.ndim == 2:
        return check_covariance(name, C)
    if C.shape[-1] != C.shape[-2]:
        raise ValueError(f"{name} must be a stack of square matrices (..., d, d), got shape {C.shape}")
    if C.size == 0:
        return C
    CT = np.swapaxes(C, -1, -2)
    scale = np.max(np.abs(C), axis=(-2, -1), keepdims=True)
    bad = np.abs(C - CT) > _SYM_ATOL * scale + _SYM_RTOL * np.abs(CT)
    if np.any(bad):
        where = np.argwhere(np.any(bad, axis=(-2, -1)))[0]
        raise ValueError(f"{name} must be symmetric; the matrix at batch index {tuple(int(i) for i in where)} is not")
    return 0.5 * C + 0.5 * CT  # not 0.5 * (C + CT), which overflows near 1.8e308


def _sqrtm_psd(name: str, C: np.ndarray) -> np.ndarray:
    """Symmetric PSD square root of a stack (..., d, d), via a vectorised ``eigh``.

    Each matrix is divided by its largest entry first, so covariances as small
    as 1e-300 keep full relative precision (LAPACK's intermediate squares would
    underflow otherwise). Eigenvalues above ``-1e-10 * max|eigenvalue|`` count
    as round-off and are clamped to zero; more negative ones raise.
    """
    scale = np.max(np.abs(C), axis=(-2, -1), keepdims=True)
    safe = np.where(scale > 0, scale, 1.0)
    w, V = np.linalg.eigh(C / safe)
    top = np.max(np.abs(w), axis=-1, keepdims=True)
    neg = w < -_PSD_RTOL * np.maximum(top, np.finfo(float).tiny)
    if np.any(neg):
        idx = np.argwhere(np.any(neg, axis=-1))[0]
        where = "" if C.ndim == 2 else f" at batch index {tuple(int(i) for i in idx)}"
        raise ValueError(
            f"{name} must be positive semidefinite; the matrix{where} has eigenvalue "
            f"{float(w[tuple(idx)].min() * safe[tuple(idx)].squeeze()):.3g}"
        )
    root = np.sqrt(np.clip(w, 0.0, None))
    return (V * root[..., None, :]) @ np.swapaxes(V, -1, -2) * np.sqrt(safe)


def _bures_squared_factors(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    r"""Squared Bures distance between ``A A^T`` and ``B B^T``, batched.

    .. math:: \min_{U^\top U = I} \lVert A - B U \rVert_F^2, \quad
              U = Q P^\top \text{ where } A^\top B = P S Q^\top.

    The residual is formed explicitly and its squared norm summed: a sum of
    squares, so no cancellation; an error in ``U`` only enters at second order
    (the objective is stationary at the optimum). Each problem is rescaled to
    unit size first.
    """
    sa = np.max(np.abs(A), axis=(-2, -1), keepdims=True)
    sb = np.max(np.abs(B), axis=(-2, -1), keepdims=True)
    s = np.maximum(sa, sb)
    safe = np.where(s > 0, s, 1.0)
    A = A / safe
    B = B / safe
    M = np.swapaxes(A, -1, -2) @ B
    P, _, QT = np.linalg.svd(M)
    U = np.swapaxes(P @ QT, -1, -2)
    R = A - B @ U
    out = np.sum(R * R, axis=(-2, -1))
    s = safe[..., 0, 0]
    return out * s * s  # not out * s**2: s**2 overflows (inf * 0 = NaN) where the product does not


def _broadcast(where: str, **arrays) -> tuple:
    """Batch shape of named arrays (their shapes broadcast); ValueError naming them otherwise."""
    try:
        return np.broadcast_shapes(*(np.shape(a) for a in arrays.values()))
    except ValueError:
        shapes = ", ".join(f"{k} {np.shape(a)}" for k, a in arrays.items())
        raise ValueError(f"{where}: the batch shapes of {', '.join(arrays)} do not broadcast together ({shapes})") from None


def _unit(*arrays) -> float:
    """A power of two at least the largest magnitude in ``arrays`` (1.0 for all zeros).

    Dividing by it is exact (bar underflow of subnormals), so a problem that
    overflowed can be solved in this unit and its W2^2 multiplied back by
    ``unit * unit``.
    """
    top = max((float(np.max(np.abs(a))) for a in arrays if np.size(a)), default=0.0)
    if not top > 0.0:
        return 1.0
    return float(np.ldexp(1.0, min(int(np.frexp(top)[1]), 1023)))  # 2^1024 is inf: top / unit < 2 then


def _gaussian_args(m1, C1, m2, C2):
    """Validate and classify: returns (mode, m1, C1, m2, C2) with mode 'scalar' or 'matrix'."""
    arrs = []
    for name, v in (("m1", m1), ("C1", C1), ("m2", m2), ("C2", C2)):
        arrs.append(check_array(name, v))
    m1, C1, m2, C2 = arrs
    modes = []
    for mn, Cn, m, C in (("m1", "C1", m1, C1), ("m2", "C2", m2, C2)):
        if C.ndim == m.ndim or m.ndim == 0:
            modes.append("scalar")
        elif C.ndim == m.ndim + 1 and m.ndim >= 1:
            if C.shape[-1] != C.shape[-2]:
                raise ValueError(f"{Cn} must end in a square (d, d) block, got shape {C.shape}")
            if m.shape[-1] != C.shape[-1]:
                raise ValueError(f"{mn} has dimension {m.shape[-1]} but {Cn} is {C.shape[-2]}x{C.shape[-1]}")
            modes.append("matrix")
        else:
            raise ValueError(
                f"{Cn} (shape {C.shape}) does not match {mn} (shape {m.shape}): give variances with the "
                f"shape of the means (1-D), or (..., d, d) covariances for (..., d) means"
            )
    if modes[0] != modes[1]:
        raise ValueError(
            f"m1/C1 describe {'1-D' if modes[0] == 'scalar' else 'd-D'} Gaussians but m2/C2 describe "
            f"{'1-D' if modes[1] == 'scalar' else 'd-D'} ones"
        )
    if modes[0] == "matrix" and m1.shape[-1] != m2.shape[-1]:
        raise ValueError(f"m1 has dimension {m1.shape[-1]} but m2 has dimension {m2.shape[-1]}")
    if modes[0] == "scalar":
        _broadcast("w2_squared_gaussian", m1=m1, C1=C1, m2=m2, C2=C2)
    else:
        _broadcast("w2_squared_gaussian", m1=m1[..., 0], C1=C1[..., 0, 0], m2=m2[..., 0], C2=C2[..., 0, 0])
    return modes[0], m1, C1, m2, C2


def w2_squared_gaussian(m1, C1, m2, C2) -> np.ndarray | float:
    r"""Squared 2-Wasserstein distance between Gaussians, in closed form.

    .. math:: W_2^2 = \lVert m_1 - m_2 \rVert^2 + \operatorname{tr} C_1 + \operatorname{tr} C_2
              - 2 \operatorname{tr}\bigl(C_2^{1/2} C_1 C_2^{1/2}\bigr)^{1/2}

    (Dowson & Landau 1982; Peyre & Cuturi 2019, Remark 2.31). In 1-D this is
    :math:`(m_1 - m_2)^2 + (\sigma_1 - \sigma_2)^2`.

    Computed without cancellation and without a regulariser: 1-D as written
    above; d-D as :math:`\min_U \lVert C_1^{1/2} - C_2^{1/2} U \rVert_F^2`
    (residual at the optimal rotation, from one SVD), each problem rescaled
    to unit size, with square roots by ``eigh`` clamping round-off negative
    eigenvalues. Identical or rank-deficient inputs give 0 up to round-off
    relative to the input scale; covariances down to about 1e-300 keep full
    relative precision. For variances that underflow float64, use
    :func:`w2_squared_gaussian_logvar` (1-D) or
    :func:`w2_squared_gaussian_factors` (square-root factors, d-D).

    Parameters
    ----------
    m1, m2 : array_like, shape (..., d) or (...)
        Means. Leading axes are batch axes and broadcast against each other.
    C1, C2 : array_like, shape (..., d, d) or (...)
        Covariances (symmetric positive semidefinite) matching ``(..., d)``
        means, or variances (non-negative) with the shape of 1-D means.
        For example ``m1`` (R, G, d), ``C1`` (R, G, d, d) against ``m2``
        (d,), ``C2`` (d, d) gives shape (R, G); ``sqrt(C2)`` is then
        computed once.

    Returns
    -------
    float or ndarray, shape (...)
        :math:`W_2^2` (squared), the broadcast batch shape.

    Examples
    --------
    >>> float(w2_squared_gaussian(0.0, 4.0, 1.0, 1.0))  # (0-1)^2 + (2-1)^2
    2.0
    >>> float(w2_squared_gaussian([0, 0], [[1e-12, 0], [0, 0]], [0, 0], [[1e-12, 0], [0, 0]]))
    0.0
    """
    return _w2_squared_gaussian(m1, C1, m2, C2, "w2_squared_gaussian")


def _w2_squared_gaussian(m1, C1, m2, C2, where: str):
    """:func:`w2_squared_gaussian`, its overflow error naming the public function ``where``."""
    mode, m1, C1, m2, C2 = _gaussian_args(m1, C1, m2, C2)
    if mode == "scalar":
        for name, C in (("C1", C1), ("C2", C2)):
            if np.any(C < 0):
                raise ValueError(f"{name} (variances) must be non-negative, got a minimum of {float(C.min()):g}")
        with np.errstate(over="ignore"):
            dm = m1 - m2
            ds = np.sqrt(C1) - np.sqrt(C2)
            out = dm * dm + ds * ds
        return finite_result(where, out, "m1, C1, m2, C2")
    C1 = _check_cov_batch("C1", C1)
    C2 = _check_cov_batch("C2", C2)
    A = _sqrtm_psd("C1", C1)
    B = A if (C2 is C1) else _sqrtm_psd("C2", C2)
    with np.errstate(over="ignore", invalid="ignore"):
        dm = m1 - m2
        out = np.sum(dm * dm, axis=-1) + _bures_squared_factors(A, B)
    return finite_result(where, out, "m1, C1, m2, C2")


def w2_squared_gaussian_factors(m1, L1, m2, L2) -> np.ndarray | float:
    r"""Squared W2 between Gaussians given square-root factors of their covariances.

    .. math:: W_2^2 = \lVert m_1 - m_2 \rVert^2 + \min_{U^\top U = I} \lVert L_1 - L_2 U \rVert_F^2,
              \qquad C_k = L_k L_k^\top .

    Any square factor works (Cholesky, symmetric square root, ``V diag(sqrt(w))``):
    a different factor of the same covariance is the same factor times an
    orthogonal matrix, which the minimisation absorbs. Use this when the
    covariance itself would underflow (a chain that keeps a Cholesky factor
    of size 1e-200 has a covariance of 1e-400): the factors are only rescaled,
    never squared.

    Parameters
    ----------
    m1, m2 : array_like, shape (..., d)
    L1, L2 : array_like, shape (..., d, d)
        Factors, ``C = L L^T``. Batch axes broadcast.

    Returns
    -------
    float or ndarray, shape (...)
        :math:`W_2^2` (squared).

    Examples
    --------
    >>> L = [[1e-200, 0.0], [0.0, 2e-200]]
    >>> float(w2_squared_gaussian_factors([0, 0], L, [0, 0], L))
    0.0
    """
    m1 = check_array("m1", m1)
    m2 = check_array("m2", m2)
    L1 = check_array("L1", L1)
    L2 = check_array("L2", L2)
    for mn, Ln, m, L in (("m1", "L1", m1, L1), ("m2", "L2", m2, L2)):
        if m.ndim < 1 or L.ndim != m.ndim + 1 or L.shape[-1] != L.shape[-2] or L.shape[-1] != m.shape[-1]:
            raise ValueError(f"{Ln} must have shape (..., d, d) matching {mn} of shape (..., d); got {L.shape} and {m.shape}")
    if m1.shape[-1] != m2.shape[-1]:
        raise ValueError(f"m1 has dimension {m1.shape[-1]} but m2 has dimension {m2.shape[-1]}")
    _broadcast("w2_squared_gaussian_factors", m1=m1[..., 0], L1=L1[..., 0, 0], m2=m2[..., 0], L2=L2[..., 0, 0])
    with np.errstate(over="ignore", invalid="ignore"):
        dm = m1 - m2
        out = np.sum(dm * dm, axis=-1) + _bures_squared_factors(L1, L2)
    return finite_result("w2_squared_gaussian_factors", out, "m1, L1, m2, L2")


def w2_squared_gaussian_logvar(m1, log_var1, m2, log_var2) -> np.ndarray | float:
    r"""Squared W2 between 1-D Gaussians given log-variances (no underflow).

    .. math:: W_2^2 = (m_1 - m_2)^2 + e^{\ell_{\max}} \bigl(\operatorname{expm1}(-|\ell_1 - \ell_2|/2)\bigr)^2,
              \qquad \ell_k = \log \sigma_k^2 ,

    which equals :math:`(m_1-m_2)^2 + (\sigma_1 - \sigma_2)^2` and is accurate
    both for nearly equal variances and for log-variances far below
    ``log(1e-308)``. ``-inf`` (a variance of exactly 0) is accepted.

    Parameters
    ----------
    m1, m2 : array_like, shape (...)
    log_var1, log_var2 : array_like, shape (...)
        Natural logarithms of the variances; broadcast with the means.

    Returns
    -------
    float or ndarray, shape (...)
        :math:`W_2^2` (squared).

    Examples
    --------
    >>> float(w2_squared_gaussian_logvar(0.0, -2000.0, 0.0, -2000.0))
    0.0
    """
    m1 = check_array("m1", m1)
    m2 = check_array("m2", m2)
    lv = []
    for name, v in (("log_var1", log_var1), ("log_var2", log_var2)):
        a = check_array(name, v, finite=False)
        if np.any(np.isnan(a)) or np.any(a == np.inf):
            raise ValueError(f"{name} must be real and below +inf (-inf means a variance of 0)")
        lv.append(a)
    _broadcast("w2_squared_gaussian_logvar", m1=m1, log_var1=lv[0], m2=m2, log_var2=lv[1])
    out = _w2_squared_logvar_core(m1, lv[0], m2, lv[1])
    return finite_result("w2_squared_gaussian_logvar", out, "m1, log_var1, m2, log_var2")


def _w2_squared_logvar_core(m1, l1, m2, l2):
    r"""The unvalidated core of :func:`w2_squared_gaussian_logvar` (arrays broadcast; used by the chains).

    :math:`(\sigma_1 - \sigma_2)^2 = \exp(\ell_{\max} + 2 \log(-\operatorname{expm1}(-g/2)))`,
    :math:`g = |\ell_1 - \ell_2|`, evaluated in log space: finite whenever the
    value is (log-variances above 709 included), +inf only where it exceeds float64.
    """
    l1, l2 = np.broadcast_arrays(np.asarray(l1, dtype=np.float64), np.asarray(l2, dtype=np.float64))
    top = np.maximum(l1, l2)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        gap = np.abs(l1 - l2)  # inf - inf (both -inf) is NaN: handled below; a finite gap may overflow to +inf
        gap = np.where(np.isneginf(top), 0.0, gap)  # both variances exactly 0
        # -expm1(-g/2) is in (0, 1]: its log is finite and <= 0 (-inf only for equal variances)
        log_ds2 = top + 2.0 * np.log(-np.expm1(-0.5 * gap))
        log_ds2 = np.where(gap == 0, -np.inf, log_ds2)
        ds2 = np.exp(log_ds2)
        dm = np.subtract(m1, m2)
        return dm * dm + ds2


# ---------------------------------------------------------------------------
# Empirical (samples)
# ---------------------------------------------------------------------------


def _samples(name: str, x) -> np.ndarray:
    arr = check_array(name, x, ndim=(1, 2))
    if arr.shape[0] == 0 or arr.size == 0:
        raise ValueError(f"{name} must hold at least one sample, got shape {arr.shape}")
    return arr[:, None] if arr.ndim == 1 else arr


def _quantile_grid(cwx: np.ndarray, cwy: np.ndarray):
    """Merged breakpoints of two cumulative weight vectors: (interval lengths, index into x, index into y).

    On the interval (t_{k-1}, t_k] of the merged breakpoints, the x quantile is
    x_(i) with i the number of x breakpoints at or below t_{k-1}, i.e. among
    the first k merged entries. Both inputs are sorted runs, so the stable
    (merge) sort is linear. Zero-length intervals (ties) get weight 0.
    """
    n = cwx.size
    cw = np.concatenate((cwx, cwy))
    order = np.argsort(cw, kind="stable")
    t = cw[order]
    from_x = order < n
    before_x = np.cumsum(from_x)
    ix = np.empty(t.size, dtype=np.intp)
    ix[0] = 0
    ix[1:] = before_x[:-1]
    iy = np.arange(t.size) - ix  # entries before k that came from y
    delta = np.diff(t, prepend=0.0)
    np.minimum(ix, n - 1, out=ix)
    np.minimum(iy, cwy.size - 1, out=iy)
    return delta, ix, iy


def _uniform_cw(n: int) -> np.ndarray:
    return np.arange(1, n + 1, dtype=float) / n


def _w2_1d(x: np.ndarray, y: np.ndarray, wx: np.ndarray | None, wy: np.ndarray | None) -> float:
    """Exact 1-D W2^2 by quantile functions; ``None`` weights mean uniform."""
    n, m = x.size, y.size
    if wx is None and wy is None and n == m:
        d = np.sort(x) - np.sort(y)
        return float(np.dot(d, d) / n)
    if wx is None:
        xs, cwx = np.sort(x), _uniform_cw(n)
    else:
        order = np.argsort(x, kind="stable")
        xs, cwx = x[order], np.cumsum(wx[order])
    if wy is None:
        ys, cwy = np.sort(y), _uniform_cw(m)
    else:
        order = np.argsort(y, kind="stable")
        ys, cwy = y[order], np.cumsum(wy[order])
    delta, ix, iy = _quantile_grid(cwx, cwy)
    d = xs[ix] - ys[iy]
    return float(np.dot(delta, d * d))


def _emd2_checked(a: np.ndarray, b: np.ndarray, M: np.ndarray) -> float:
    """``ot.emd2`` with an iteration cap scaled to the problem and its status checked.

    Retries once with ten times the cap; raises rather than return the cost
    of a plan that is not optimal.
    """
    import ot

    n, m = M.shape
    cap = max(100_000, 20 * n * m)
    u = _unit(M)  # costs near 1.8e308 overflow inside the solver: solve in a unit of the largest (exact: a power of 2)
    M = M / u
    for _ in range(2):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="numItermax reached", category=UserWarning)
            cost, log = ot.emd2(a, b, M, numItermax=cap, log=True)
        code = int(log.get("result_code", -1))
        if code == 1:  # OPTIMAL
            with np.errstate(over="ignore"):
                return float(cost) * u
        if code != 3:  # not MAX_ITER_REACHED: infeasible or unbounded
            raise RuntimeError(f"exact OT (ot.emd2) failed on a {n} x {m} problem: {log.get('warning')}")
        cap *= 10
    raise RuntimeError(
        f"exact OT (ot.emd2) did not reach optimality on a {n} x {m} problem within numItermax={cap // 10}; "
        "its cost would be wrong, so none is returned. Use w2_squared_sliced or subsample."
    )


def _check_ot_size(n: int, m: int, names: str = "x and y") -> None:
    need = _OT_BYTES_PER_PAIR * n * m
    if need > MAX_OT_BYTES or n * m >= 2**31:  # POT indexes arcs with 32-bit integers
        raise ValueError(
            f"{names}: exact OT between {n} and {m} samples needs a {n} x {m} cost matrix, plan and solver arcs, about "
            f"{need / 2**30:.1f} GiB, more than the {MAX_OT_BYTES / 2**30:.1f} GiB allowed "
            "(collapse_theory.wasserstein.MAX_OT_BYTES); use w2_squared_sliced, or subsample"
        )


def w2_squared_empirical(x, y, x_weights=None, y_weights=None) -> float:
    r"""Exact squared W2 between two (weighted) empirical distributions.

    .. math:: W_2^2 = \min_{\pi \in \Pi(a, b)} \sum_{ij} \pi_{ij} \lVert x_i - y_j \rVert^2

    In 1-D (shape (n,) or (n, 1)) by quantile functions, O((n + m) log(n + m)):
    :math:`W_2^2 = \int_0^1 (Q_x(u) - Q_y(u))^2 du` over the merged cumulative
    weights (Peyre & Cuturi 2019, Remark 2.30). In d-D by the network simplex
    (POT ``ot.emd2``) on costs computed from coordinate differences after
    centring (no ``|x|^2 + |y|^2 - 2 x.y`` cancellation), with an iteration
    cap scaled to the problem; the solver status is checked, a capped run is
    retried with ten times the cap, then an error is raised: a wrong number
    is never returned.

    Parameters
    ----------
    x : array_like, shape (n,) or (n, d)
    y : array_like, shape (m,) or (m, d)
    x_weights : array_like, shape (n,), optional
        Non-negative, summing to 1 (within 1e-8). Uniform if omitted.
    y_weights : array_like, shape (m,), optional

    Returns
    -------
    float
        :math:`W_2^2` (squared).

    Raises
    ------
    ValueError
        Bad input, or a d-D problem whose cost matrix and plan would need more
        than :data:`MAX_OT_BYTES` (use :func:`w2_squared_sliced`).
    RuntimeError
        The exact solver did not reach optimality.

    Examples
    --------
    >>> w2_squared_empirical([0.0, 1.0], [1.0, 2.0])
    1.0
    >>> w2_squared_empirical([0.0], [0.0, 3.0], y_weights=[0.75, 0.25])
    2.25
    """
    x = _samples("x", x)
    y = _samples("y", y)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same dimension, got x {x.shape[1]} and y {y.shape[1]}")
    wx = None if x_weights is None else check_weights("x_weights", x_weights, x.shape[0])
    wy = None if y_weights is None else check_weights("y_weights", y_weights, y.shape[0])
    if x.shape[1] != 1:
        _check_ot_size(x.shape[0], y.shape[0])
    out = _w2_empirical(x, y, wx, wy)
    if not np.isfinite(out):  # an overflow on the way (samples near 1e154 and beyond): redo in a larger unit
        u = _unit(x, y)
        out = _w2_empirical(x / u, y / u, wx, wy) * u * u
    return finite_result("w2_squared_empirical", out, "x, y")


def _centre(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The mean of the pooled samples, summed in parts that cannot overflow."""
    k = x.shape[0] + y.shape[0]
    return (x / k).sum(axis=0) + (y / k).sum(axis=0)


def _w2_empirical(x, y, wx, wy) -> float:
    """:func:`w2_squared_empirical` on validated (n, d) samples; inf where an intermediate overflows."""
    with np.errstate(over="ignore", invalid="ignore"):
        if x.shape[1] == 1:
            return _w2_1d(x[:, 0], y[:, 0], wx, wy)
        from scipy.spatial.distance import cdist

        n, m = x.shape[0], y.shape[0]
        centre = _centre(x, y)
        M = cdist(x - centre, y - centre, "sqeuclidean")
    if not np.all(np.isfinite(M)):
        return np.inf
    a = np.full(n, 1.0 / n) if wx is None else wx
    b = np.full(m, 1.0 / m) if wy is None else wy
    return _emd2_checked(a, b, M)


def _directions(projections, d: int, rng) -> np.ndarray:
    if isinstance(projections, (int, np.integer)) and not isinstance(projections, bool):
        P = check_int("projections", projections, min=1)
        need = 8 * 3 * P * d  # the directions, their norms and the normalised copy
        if need > MAX_OT_BYTES:
            raise ValueError(
                f"projections = {P} directions in {d}-D need about {need / 2**30:.1f} GiB, more than the "
                f"{MAX_OT_BYTES / 2**30:.1f} GiB allowed (collapse_theory.wasserstein.MAX_OT_BYTES); use fewer"
            )
        theta = default_rng(rng).standard_normal((P, d))
    else:
        theta = check_array("projections", projections, ndim=2, min_size=1)
        if theta.shape[1] != d:
            raise ValueError(f"projections given as directions must have shape (P, {d}), got {theta.shape}")
    norms = np.linalg.norm(theta, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError("projections must not contain a zero direction")
    return theta / norms


def w2_squared_sliced(x, y, projections=100, *, rng=None, x_weights=None, y_weights=None) -> float:
    r"""Sliced squared W2: the mean over random unit directions of the exact 1-D W2^2.

    .. math:: SW_2^2(\mu, \nu) = \frac{1}{P} \sum_{p=1}^{P}
              W_2^2\bigl(\theta_p{}_\# \mu, \theta_p{}_\# \nu\bigr),
              \quad \theta_p \sim \mathrm{Unif}(S^{d-1})

    (Rabin et al. 2011; Bonneel et al. 2015). A Monte Carlo estimate of the
    sliced distance, which is not W2 itself: projections are 1-Lipschitz, so
    :math:`SW_2^2 \le W_2^2`, and for a pure shift by :math:`v` in d-D,
    :math:`SW_2^2 = \lVert v \rVert^2 / d`. Each 1-D term is exact (sorted
    projections). Directions are projected and sorted in fixed blocks, run on
    threads; the result does not depend on the number of threads.

    Parameters
    ----------
    x : array_like, shape (n,) or (n, d)
    y : array_like, shape (m,) or (m, d)
    projections : int or array_like, shape (P, d)
        Number of random directions, or the directions themselves (normalised here).
    rng : None, int, SeedSequence or Generator, keyword-only
        Draws the directions.
    x_weights, y_weights : array_like, shape (n,) / (m,), optional, keyword-only

    Returns
    -------
    float
        Sliced :math:`W_2^2` (squared). Note ``ot.sliced_wasserstein_distance``
        returns its square root.

    Examples
    --------
    >>> w2_squared_sliced([[0.0, 0.0]], [[3.0, 4.0]], projections=[[1.0, 0.0], [0.0, 1.0]])
    12.5
    """
    x = _samples("x", x)
    y = _samples("y", y)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same dimension, got x {x.shape[1]} and y {y.shape[1]}")
    n, m, d = x.shape[0], y.shape[0], x.shape[1]
    wx = None if x_weights is None else check_weights("x_weights", x_weights, n)
    wy = None if y_weights is None else check_weights("y_weights", y_weights, m)
    theta = _directions(projections, d, rng)
    with np.errstate(over="ignore", invalid="ignore"):
        out = _w2_sliced(x, y, wx, wy, theta)
        if not np.isfinite(out):  # an overflow on the way: redo in a larger unit
            u = _unit(x, y)
            out = _w2_sliced(x / u, y / u, wx, wy, theta) * u * u
    return finite_result("w2_squared_sliced", out, "x, y")


def _w2_sliced(x, y, wx, wy, theta) -> float:
    """:func:`w2_squared_sliced` on validated samples and unit directions (P, d)."""
    n, m = x.shape[0], y.shape[0]
    centre = _centre(x, y)  # keeps projected differences exact
    xc, yc = x - centre, y - centre
    P = theta.shape[0]
    if wx is not None or wy is not None:
        return float(np.mean([_w2_1d(xc @ t, yc @ t, wx, wy) for t in theta]))
    grid = None if n == m else _quantile_grid(_uniform_cw(n), _uniform_cw(m))

    def block(th):
        px = th @ xc.T
        py = th @ yc.T
        px.sort(axis=-1)  # in place: the projections are fresh arrays
        py.sort(axis=-1)
        if grid is None:
            px -= py
            return float(np.vdot(px, px)) / n
        delta, ix, iy = grid
        diff = px[:, ix] - py[:, iy]
        return float(np.sum((diff * diff) @ delta))

    # Fixed blocks of directions (independent of the thread count, so the sum
    # is the same however many threads run them); numpy's sort releases the GIL.
    size = max(1, min(-(-P // 8), int(4e6 // max(n, m))))
    blocks = [theta[i : i + size] for i in range(0, P, size)]
    workers = min(len(blocks), os.cpu_count() or 1)
    if workers > 1 and n * P > 10**6:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers) as pool:
            totals = list(pool.map(block, blocks))
    else:
        totals = [block(b) for b in blocks]
    return sum(totals) / P


# ---------------------------------------------------------------------------
# Samples against a Gaussian
# ---------------------------------------------------------------------------


def _w2_1d_to_normal(x: np.ndarray, w: np.ndarray | None, m: float, s: float) -> float:
    r"""Exact W2^2 between a weighted 1-D empirical measure and N(m, s^2).

    With :math:`z_i = \Phi^{-1}(c_i)` at the cumulative weights, slice i of
    the quantile integral is, after :math:`u = \Phi(z)`,
    :math:`\int_{z_{i-1}}^{z_i} (d_i - s z)^2 \varphi(z) dz
    = w_i (d_i - s\mu_i)^2 + s^2 w_i \operatorname{Var}_i(z)`
    with :math:`\mu_i = (\varphi(z_{i-1}) - \varphi(z_i)) / w_i`, and the
    within-slice variances sum to :math:`1 - \sum_i w_i \mu_i^2`.
    """
    n = x.size
    if w is None:
        xs = np.sort(x)
        w = np.full(n, 1.0 / n)
    else:
        order = np.argsort(x, kind="stable")
        xs, w = x[order], w[order]
    d = xs - m
    if s == 0.0:
        return float(np.dot(w, d * d))
    # Breakpoints from whichever end is nearer, so tail quantiles stay accurate.
    lower = np.cumsum(w)[:-1]
    upper = np.cumsum(w[::-1])[::-1][1:]
    z = np.where(lower <= 0.5, ndtri(np.minimum(lower, 1.0)), -ndtri(np.minimum(upper, 1.0)))
    phi = np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi)
    phi = np.concatenate(([0.0], phi, [0.0]))
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = np.where(w > 0, (phi[:-1] - phi[1:]) / w, 0.0)
    between = np.dot(w, (d - s * mu) ** 2)
    within = max(1.0 - float(np.dot(w, mu * mu)), 0.0)
    return float(between + s * s * within)


def w2_squared_to_gaussian(x, m, C, *, method="auto", x_weights=None, n_samples=None, rng=None) -> float:
    r"""Squared W2 between a sample (its empirical distribution) and a Gaussian N(m, C).

    * ``"exact"`` (1-D only; the default there): exact, no Monte Carlo. The
      quantile integral :math:`\int_0^1 (Q_x(u) - m - s\Phi^{-1}(u))^2 du` is
      done slice by slice in closed form with normal partial moments
      (:math:`\int z\varphi = -\varphi`, :math:`\int z^2 \varphi = \Phi - z\varphi`):

      .. math:: W_2^2 = \sum_i w_i (x_{(i)} - m - s\mu_i)^2
                + s^2 \Bigl(1 - \sum_i w_i \mu_i^2\Bigr),
                \quad \mu_i = \frac{\varphi(z_{i-1}) - \varphi(z_i)}{w_i},
                \ z_i = \Phi^{-1}(c_i).

    * ``"gelbrich"`` (the default in d-D): a **lower bound**, the W2^2
      between N(m, C) and the Gaussian with the sample's (weighted, 1/n)
      mean and covariance (Gelbrich 1990): :math:`W_2^2(\hat\mu, N) \ge
      W_2^2(N(\hat m, \hat C), N(m, C))`.
    * ``"sample"``: an **estimate**: exact OT (:func:`w2_squared_empirical`)
      between ``x`` and ``n_samples`` points drawn from N(m, C) with ``rng``.
      Random, and biased upward for the empirical-to-Gaussian distance at
      finite ``n_samples``.

    Parameters
    ----------
    x : array_like, shape (n,) or (n, d)
    m : float or array_like, shape (d,)
    C : float or array_like, shape (d, d)
        Variance (1-D) or covariance (symmetric PSD).
    method : {"auto", "exact", "gelbrich", "sample"}, keyword-only
        ``"auto"``: ``"exact"`` in 1-D, ``"gelbrich"`` in d-D.
    x_weights : array_like, shape (n,), optional, keyword-only
    n_samples : int, optional, keyword-only
        Gaussian sample size for ``"sample"``; default ``n``.
    rng : None, int, SeedSequence or Generator, keyword-only
        Only used by ``"sample"``.

    Returns
    -------
    float
        :math:`W_2^2` (squared), exact, a lower bound, or an estimate as above.

    Examples
    --------
    >>> round(w2_squared_to_gaussian([0.0], 0.0, 1.0), 12)  # a point mass at the mean: W2^2 = var
    1.0
    """
    x = _samples("x", x)
    n, d = x.shape
    method = check_choice("method", method, ("auto", "exact", "gelbrich", "sample"))
    w = None if x_weights is None else check_weights("x_weights", x_weights, n)
    m_arr = check_array("m", m, ndim=(0, 1))
    C_arr = check_array("C", C, ndim=(0, 2))
    if d == 1:
        if m_arr.size != 1:
            raise ValueError(f"m must be a scalar (or shape (1,)) for 1-D samples, got shape {m_arr.shape}")
        C_arr = check_covariance("C", C_arr.reshape(()) if C_arr.size == 1 else C_arr, d=None if C_arr.size == 1 else 1)
        m_arr, C_arr = m_arr.reshape(()), C_arr.reshape(())
    else:
        if m_arr.shape != (d,):
            raise ValueError(f"m must have shape ({d},) for {d}-D samples, got {m_arr.shape}")
        C_arr = check_covariance("C", C_arr, d=d)
    if method == "auto":
        method = "exact" if d == 1 else "gelbrich"
    if method == "exact" and d != 1:
        raise ValueError(f"method='exact' needs 1-D samples (got d={d}); use 'gelbrich' (a lower bound) or 'sample'")
    z = None
    if method == "sample":
        k = n if n_samples is None else check_int("n_samples", n_samples, min=1)
        if d > 1:
            _check_ot_size(n, k, "x and n_samples")
        z = default_rng(rng).standard_normal((k, d))  # drawn once: the same draws if the problem is rescaled
    out = _to_gaussian(x, w, m_arr, C_arr, method, z)
    if not np.isfinite(out):  # an overflow on the way (values near 1e154 and beyond): redo in a larger unit
        u = _unit(x, m_arr, np.sqrt(np.max(np.abs(C_arr))))
        out = _to_gaussian(x / u, w, m_arr / u, C_arr / u / u, method, z) * u * u
    return finite_result("w2_squared_to_gaussian", out, "x, m, C")


def _to_gaussian(x, w, m, C, method, z) -> float:
    """:func:`w2_squared_to_gaussian` on validated input (``z``: the standard normals for ``"sample"``).

    Returns inf (or NaN) where an intermediate overflows; the caller rescales.
    """
    n, d = x.shape
    with np.errstate(over="ignore", invalid="ignore"):
        if method == "exact":
            return _w2_1d_to_normal(x[:, 0], w, float(m), float(np.sqrt(C)))
        if method == "gelbrich":
            ww = np.full(n, 1.0 / n) if w is None else w
            mean = ww @ x
            xc = x - mean
            cov = (xc * ww[:, None]).T @ xc
            if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(cov))):
                return np.inf
            dm = mean - np.reshape(m, (d,))
            if d == 1:
                ds = np.sqrt(cov[0, 0]) - np.sqrt(float(C))
                return float(dm @ dm + ds * ds)
            A = _sqrtm_psd("x (its covariance)", 0.5 * cov + 0.5 * cov.T)
            return float(dm @ dm + _bures_squared_factors(A, _sqrtm_psd("C", C)))
        if d == 1:
            y = float(m) + np.sqrt(float(C)) * z[:, 0]
        else:
            y = m + z @ _sqrtm_psd("C", C).T
        if not np.all(np.isfinite(y)):
            return np.inf
        return _w2_empirical(x, y[:, None] if y.ndim == 1 else y, w, None)


# ---------------------------------------------------------------------------
# Gaussian mixtures
# ---------------------------------------------------------------------------


def w2_squared_gmm(w1, m1, C1, w2, m2, C2) -> float:
    r"""Mixture-Wasserstein distance MW2^2 between Gaussian mixtures (squared).

    Discrete optimal transport between the components, with the Gaussian
    :math:`W_2^2` as cost (Delon & Desolneux 2020, eq. 4.1):

    .. math:: MW_2^2 = \min_{\pi \in \Pi(w_1, w_2)} \sum_{kl} \pi_{kl}\,
              W_2^2\bigl(N(m_{1k}, C_{1k}), N(m_{2l}, C_{2l})\bigr) \;\ge\; W_2^2 .

    An **upper bound** on :math:`W_2^2` between the two mixtures (the optimal
    plan between mixtures need not map Gaussians to Gaussians), exact when
    each mixture has one component.

    Parameters
    ----------
    w1 : array_like, shape (K1,)
        Component weights (non-negative, summing to 1).
    m1 : array_like, shape (K1, d) or (K1,)
        Component means; (K1,) for 1-D mixtures.
    C1 : array_like, shape (K1, d, d) or (K1,)
        Component covariances, or variances for 1-D mixtures.
    w2, m2, C2 : as above, with K2 components.

    Returns
    -------
    float
        :math:`MW_2^2` (squared).

    Examples
    --------
    >>> w2_squared_gmm([0.5, 0.5], [0.0, 10.0], [1.0, 1.0], [0.5, 0.5], [10.0, 0.0], [1.0, 1.0])
    0.0
    """
    w1 = check_probability_vector("w1", w1)
    w2 = check_probability_vector("w2", w2)
    m1 = check_array("m1", m1, ndim=(1, 2))
    m2 = check_array("m2", m2, ndim=(1, 2))
    C1 = check_array("C1", C1, ndim=(1, 3))
    C2 = check_array("C2", C2, ndim=(1, 3))
    for wn, mn, Cn, w, m, C in (("w1", "m1", "C1", w1, m1, C1), ("w2", "m2", "C2", w2, m2, C2)):
        if m.shape[0] != w.size or C.shape[0] != w.size:
            raise ValueError(f"{mn} and {Cn} must have one entry per weight in {wn} ({w.size}); got {m.shape} and {C.shape}")
        if C.ndim != m.ndim + (m.ndim - 1):
            raise ValueError(f"{Cn} must have shape (K,) for means (K,) or (K, d, d) for means (K, d); got {C.shape} and {m.shape}")
    if m1.ndim != m2.ndim:
        raise ValueError("the two mixtures must both be 1-D (means (K,)) or both d-D (means (K, d))")
    if m1.ndim == 1:
        cost = _w2_squared_gaussian(m1[:, None], C1[:, None], m2[None, :], C2[None, :], "w2_squared_gmm")
    else:
        cost = _w2_squared_gaussian(m1[:, None, :], C1[:, None, :, :], m2[None, :, :], C2[None, :, :], "w2_squared_gmm")
    cost = np.asarray(cost, dtype=float)
    if cost.size == 1:
        return float(cost[0, 0])
    return finite_result("w2_squared_gmm", _emd2_checked(w1, w2, np.ascontiguousarray(cost)), "w1, m1, C1, w2, m2, C2")
