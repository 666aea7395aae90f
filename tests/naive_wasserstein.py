"""Slow, obviously-correct references for ``collapse_theory.wasserstein``.

Each one follows a textbook definition with no numerical cleverness, at a
cost only small inputs can afford: the transport linear program solved by a
generic LP solver, the Gaussian trace formula in 60-digit arithmetic, the
quantile integral by adaptive quadrature.
"""

from __future__ import annotations

import mpmath
import numpy as np
from scipy import integrate, optimize, special


def naive_w2_squared_lp(x, y, a=None, b=None) -> float:
    """min <P, C> over couplings P of a and b, by scipy's LP solver (HiGHS)."""
    x = np.asarray(x, float).reshape(len(x), -1)
    y = np.asarray(y, float).reshape(len(y), -1)
    n, m = len(x), len(y)
    a = np.full(n, 1 / n) if a is None else np.asarray(a, float)
    b = np.full(m, 1 / m) if b is None else np.asarray(b, float)
    cost = np.zeros((n, m))
    for i in range(n):
        for j in range(m):
            cost[i, j] = sum((x[i, k] - y[j, k]) ** 2 for k in range(x.shape[1]))
    rows = np.zeros((n + m, n * m))
    for i in range(n):
        rows[i, i * m : (i + 1) * m] = 1.0  # sum_j P_ij = a_i
    for j in range(m):
        rows[n + j, j::m] = 1.0  # sum_i P_ij = b_j
    # HiGHS's tolerances are absolute: solve with costs scaled to [0, 1], then scale back.
    top = cost.max() if cost.max() > 0 else 1.0
    res = optimize.linprog(cost.ravel() / top, A_eq=rows, b_eq=np.concatenate([a, b]), bounds=(0, None), method="highs")
    if res.status != 0:
        raise RuntimeError(res.message)
    return float(res.x @ cost.ravel())


def _mp_sqrt_psd(A):
    """Symmetric PSD square root in mp arithmetic: V diag(sqrt(max(l, 0))) V^T."""
    A = (A + A.T) / 2
    ev, V = mpmath.eigsy(A)
    D = mpmath.diag([mpmath.sqrt(max(e, 0)) for e in ev])
    return V * D * V.T


def naive_w2_squared_gaussian_mp(m1, C1, m2, C2, dps: int = 60) -> float:
    """tr C1 + tr C2 - 2 tr (C2^1/2 C1 C2^1/2)^1/2 + |m1 - m2|^2 in ``dps``-digit arithmetic."""
    with mpmath.workdps(dps):
        C1 = mpmath.matrix(np.atleast_2d(C1).tolist())
        C2 = mpmath.matrix(np.atleast_2d(C2).tolist())
        dm = [mpmath.mpf(float(u)) - mpmath.mpf(float(v)) for u, v in zip(np.atleast_1d(m1), np.atleast_1d(m2))]
        r2 = _mp_sqrt_psd(C2)
        cross = _mp_sqrt_psd(r2 * C1 * r2)
        d = C1.rows
        tr = sum(C1[i, i] + C2[i, i] - 2 * cross[i, i] for i in range(d))
        val = sum(u * u for u in dm) + mpmath.re(tr)
        return float(val)


def naive_w2_squared_to_normal_quad(x, m, s, w=None) -> float:
    """int_0^1 (Q_x(u) - m - s Phi^-1(u))^2 du, slice by slice with scipy.integrate.quad."""
    x = np.asarray(x, float)
    order = np.argsort(x)
    xs = x[order]
    w = np.full(len(x), 1 / len(x)) if w is None else np.asarray(w, float)[order]
    edges = np.concatenate([[0.0], np.cumsum(w)])
    edges[-1] = 1.0
    total = 0.0
    for i, xi in enumerate(xs):
        lo, hi = edges[i], edges[i + 1]
        if hi <= lo:
            continue
        val, _ = integrate.quad(lambda u: (xi - m - s * special.ndtri(u)) ** 2, lo, hi, epsabs=0, epsrel=1e-13, limit=500)
        total += val
    return total


def naive_w2_squared_1d_quantiles(qx, qy, grid: int = 5000) -> float:
    """int_0^1 (Qx(u) - Qy(u))^2 du by the midpoint rule on ``grid`` points (Qx, Qy callables)."""
    u = (np.arange(grid) + 0.5) / grid
    return float(np.mean((qx(u) - qy(u)) ** 2))


def naive_mixture_quantile(w, m, v):
    """Quantile function of a 1-D Gaussian mixture, by bisection on its CDF (vectorised)."""
    w, m, s = (np.asarray(a, float) for a in (w, m, np.sqrt(v)))

    def cdf(t):
        return np.sum(w * special.ndtr((t[:, None] - m) / s), axis=1)

    def q(u):
        lo = np.full(u.shape, (m - 40 * s).min())
        hi = np.full(u.shape, (m + 40 * s).max())
        for _ in range(80):  # bracket of width ~1e2 halved 80 times: below float resolution
            mid = 0.5 * (lo + hi)
            below = cdf(mid) < u
            lo = np.where(below, mid, lo)
            hi = np.where(below, hi, mid)
        return 0.5 * (lo + hi)

    return q
