r"""Exact joint moments of the 1-D Gaussian refit chain under every workflow (private engine).

Set :math:`\mu_0 = 0`, :math:`\sigma_0 = 1` (results scale with :math:`\sigma_0^2`).
Given the state of generation ``t``, the next fitted dataset is the union of
Gaussian groups: the carried pool (accumulate) or ``D_0`` (augment) with
known statistics, ``k`` real points from :math:`N(0, 1)` and ``m`` model
points. Each group's mean is Gaussian and its scatter a scaled chi-square,
independent (Cochran); the pooled mean and scatter are exact polynomials in
the group statistics (Chan, Golub & LeVeque 1979). So every joint moment
:math:`E[\delta_{t+1}^{2a} (\sigma^2_{t+1})^b]` of the next state is a
polynomial in the current state of no higher degree (a degree counts
:math:`\delta` as 1/2, a variance as 1): the vector of all moments of
degree ``<= n`` follows an exact linear recursion. This module builds its
transition matrices numerically (dense coefficient arrays, expectations over
the Gaussian and chi-square noise taken in closed form: :math:`E z^{2l} =
(2l-1)!!`, :math:`E(\chi^2_\nu)^b = \prod_{i<b} (\nu + 2i)`), averaged over
the binomial split ``k ~ Bin(M, gamma)`` where there is fresh data.

States: replace / fresh: :math:`(\delta, \sigma^2)`; accumulate: the pool's
:math:`(f, F)` (mean offset and scatter, ``N_t`` points, model
:math:`\sigma^2 = F/(N_t - \mathrm{ddof})`); augment: :math:`(\delta, f_0,
\sigma^2, F_0)` with ``D_0``'s fixed mean offset and scatter.

From the moments :math:`m_j = E\sigma_t^{2j}`, ``j <= n``, :func:`sqrt_bracket`
bounds :math:`E\sigma_t = E\sqrt{\sigma_t^2}` on both sides: the Gauss rule of
the moment sequence is an upper bound and the Gauss–Radau rule with a node at
0 a lower bound, because every even derivative of :math:`\sqrt x` is negative
and every odd one positive (the remainders of both rules have a known sign;
Gautschi, *Orthogonal Polynomials*, 2004, §1.4; Golub & Meurant, *Matrices,
Moments and Quadrature*, 2010, ch. 6).
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln

__all__ = []


def _dfact(j):
    """(j - 1)!! for even j (E z^j), 0 for odd j; j is an int array."""
    j = np.asarray(j)
    out = np.zeros(j.shape)
    even = j % 2 == 0
    h = j[even] // 2
    out[even] = np.exp(gammaln(j[even] + 1) - gammaln(h + 1) - h * np.log(2.0))
    return out


def _chi2_moments(df, qmax):
    """E (chi2_df)^b for b = 0..qmax, shape df.shape + (qmax+1,); 0 (b >= 1) where df <= 0."""
    df = np.asarray(df, dtype=np.float64)
    out = np.ones(df.shape + (qmax + 1,))
    for b in range(1, qmax + 1):
        out[..., b] = out[..., b - 1] * (df + 2.0 * (b - 1))
    out[..., 1:] = np.where((df > 0)[..., None], out[..., 1:], 0.0)
    return out


def _mul_lin(arr, terms, nP):
    """Multiply a dense polynomial by a linear form sum_i c_i x_{ax_i}; arr shape P + degrees."""
    out = np.zeros_like(arr)
    for ax, c in terms:
        c = np.asarray(c, dtype=np.float64)
        c = c.reshape(c.shape + (1,) * (arr.ndim - nP))
        src = [slice(None)] * arr.ndim
        dst = [slice(None)] * arr.ndim
        src[nP + ax] = slice(0, -1)
        dst[nP + ax] = slice(1, None)
        out[tuple(dst)] += c * arr[tuple(src)]
    return out


def _monomials(n, n_offsets, n_scales):
    """Exponent tuples (offset exps..., scale exps...) with even offset total and degree <= n."""
    out = []

    def rec(prefix, k, budget2):
        if k == n_offsets + n_scales:
            if sum(prefix[:n_offsets]) % 2 == 0:
                out.append(tuple(prefix))
            return
        step = 1 if k < n_offsets else 2
        for e in range(budget2 // step + 1):
            rec(prefix + [e], k + 1, budget2 - e * step)

    rec([], 0, 2 * n)
    return out


# --------------------------------------------------------------------------- replace / fresh
def _fresh_expectations(M, ks, n, ddof):
    """E[X^p W^{2e}] over the noise, as polynomials in (delta, s2): shape (K, 2n+1, 2n+1... ).

    X = (m/M)(delta + y) + (sqrt(k)/M) z, W = z - sqrt(k) (delta + y), y ~ N(0, s2/m), z ~ N(0, 1).
    Returns dict (p, e) -> array (K, 2n+1 [delta], n+1 [s2]).
    """
    K = ks.size
    m = (M - ks).astype(np.float64)
    sk = np.sqrt(ks.astype(np.float64))
    D = 2 * n + 1
    Dz = D if np.any(ks > 0) else 1  # no real group: no z axis
    base = np.zeros((K, D, D, Dz))  # axes: delta, y, z
    base[:, 0, 0, 0] = 1.0
    X = [(0, m / M), (1, m / M)] + ([(2, sk / M)] if Dz > 1 else [])
    W = [(0, -sk), (1, -sk)] + ([(2, np.ones(K))] if Dz > 1 else [])
    zmom = _dfact(np.arange(Dz))
    msafe = np.maximum(m, 1.0)
    out = {}
    wpow = base
    for e in range(n + 1):
        cur = wpow
        for p in range(2 * n - 2 * e + 1):
            if p % 2 == 0:
                # E over z (axis 3), then y (axis 2): y^{2l} -> (2l-1)!! (s2/m)^l
                ez = np.tensordot(cur, zmom, axes=([3], [0]))  # (K, delta, y)
                res = np.zeros((K, D, n + 1))
                for l in range(n + 1):
                    if 2 * l < D:
                        res[:, :, l] = ez[:, :, 2 * l] * (_dfact(np.array([2 * l]))[0] * msafe ** (-l))[:, None]
                out[(p, e)] = res
            cur = _mul_lin(cur, X, 1)
        wpow = _mul_lin(_mul_lin(wpow, W, 1), W, 1)
    return out


def fresh_transition(M, real, n, ddof):
    """Transition matrix T (nmon x nmon) of the moment vector for replace / fresh, constant M."""
    mons = _monomials(n, 1, 1)
    index = {mo: i for i, mo in enumerate(mons)}
    if real > 0:
        from scipy.stats import binom

        ks = np.arange(M + 1)
        w = binom.pmf(ks, M, real)
        keep = w > 1e-17 * w.max()
        ks, w = ks[keep], w[keep]
    else:
        ks, w = np.array([0]), np.array([1.0])
    m = (M - ks).astype(np.float64)
    ex = _fresh_expectations(M, ks, n, ddof)
    cr = _chi2_moments(ks - 1, n)
    cs = _chi2_moments(m - 1, n)
    c = np.where(ks > 0, m / M, 0.0)  # between term: (k m / M)(rbar - sbar)^2 = (m / M) W^2 (none if k = 0)
    Dn = float(M - ddof)
    T = np.zeros((len(mons), len(mons)))
    from math import factorial

    for (p, q) in mons:
        acc = np.zeros((ks.size, 2 * n + 1, n + 1))
        for a in range(q + 1):
            for b in range(q - a + 1):
                e = q - a - b
                coef = factorial(q) / (factorial(a) * factorial(b) * factorial(e)) * cr[:, a] * cs[:, b] * c**e
                term = ex[(p, e)] * coef[:, None, None]
                if b:
                    term = np.concatenate([np.zeros_like(term[:, :, :b]), term[:, :, : n + 1 - b]], axis=2)
                acc += term
        acc = np.tensordot(w, acc, axes=(0, 0)) / Dn**q
        row = index[(p, q)]
        for (i, j), col in index.items():
            T[row, col] = acc[i, j]
    return mons, T


# --------------------------------------------------------------------------- accumulate
def accumulate_transitions(sizes, real, n, ddof):
    """Per-step transition matrices for accumulation (state: pool mean offset f and scatter F).

    Step t (t >= 1) takes the pool of N_t = sizes[:t].sum() points to N_t + sizes[t].
    Returns (mons, T) with T of shape (len(sizes) - 1, nmon, nmon).
    """
    mons = _monomials(n, 1, 1)
    index = {mo: i for i, mo in enumerate(mons)}
    Ns = np.cumsum(sizes)[:-1].astype(np.float64)  # pool before step t = 1..G-1
    Ms = sizes[1:].astype(np.float64)
    if Ns.size == 0:
        return mons, np.zeros((0, len(mons), len(mons)))
    Mmax = int(Ms.max())
    if real > 0:
        from scipy.stats import binom

        ks = np.arange(Mmax + 1)
        w = binom.pmf(ks[None, :], Ms[:, None], real)  # (S, K)
        keep = (w > 1e-17 * w.max(axis=1, keepdims=True)).any(axis=0)
        ks, w = ks[keep], w[:, keep]
    else:
        ks, w = np.array([0]), np.ones((Ns.size, 1))
    S, K = Ns.size, ks.size
    P = (S, K)
    kf = np.broadcast_to(ks.astype(np.float64)[None, :], P)
    N = np.broadcast_to(Ns[:, None], P)
    Mb = np.broadcast_to(Ms[:, None], P)
    m = np.maximum(Mb - kf, 0.0)
    nn = N + Mb
    sk = np.sqrt(kf)
    D = 2 * n + 1
    Dz = D if real > 0 else 1  # no real group: no z axis
    base = np.zeros(P + (D, D, Dz))  # f, y, z
    base[..., 0, 0, 0] = 1.0
    X = [(0, (N + m) / nn), (1, m / nn)] + ([(2, sk / nn)] if Dz > 1 else [])
    # Q = [N (sqrt(k) f - z)^2 + N m y^2 + m (z - sqrt(k) f - sqrt(k) y)^2] / n
    L1 = [(0, sk)] + ([(2, -np.ones(P))] if Dz > 1 else [])
    L2 = [(1, np.ones(P))]
    L3 = ([(2, np.ones(P))] if Dz > 1 else []) + [(0, -sk), (1, -sk)]

    has_k = kf > 0  # the real group's between terms vanish when it is empty

    def mul_Q(a):
        return (
            _mul_lin(_mul_lin(a, L1, 2), L1, 2) * np.where(has_k, N / nn, 0.0)[..., None, None, None]
            + _mul_lin(_mul_lin(a, L2, 2), L2, 2) * (N * m / nn)[..., None, None, None]
            + _mul_lin(_mul_lin(a, L3, 2), L3, 2) * np.where(has_k, m / nn, 0.0)[..., None, None, None]
        )

    zmom = _dfact(np.arange(Dz))
    dfact_y = _dfact(np.arange(D))
    msafe = np.maximum(m, 1.0)
    tau = 1.0 / ((N - ddof) * msafe)  # var y = s2 / m = F tau
    ex = {}
    qpow = base
    for e in range(n + 1):
        cur = qpow
        for p in range(2 * n - 2 * e + 1):
            if p % 2 == 0:
                ez = np.tensordot(cur, zmom, axes=([4], [0]))  # P + (f, y)
                res = np.zeros(P + (D, n + 1))
                for l in range(n + 1):
                    if 2 * l < D:
                        res[..., l] = ez[..., 2 * l] * (dfact_y[2 * l] * tau**l)[..., None]
                ex[(p, e)] = res  # poly in (f, F)
            cur = _mul_lin(cur, X, 2)
        qpow = mul_Q(qpow)
    cr = _chi2_moments(kf - 1, n)
    cs = _chi2_moments(m - 1, n)
    s2f = 1.0 / (N - ddof)  # s2 = F s2f
    from math import factorial

    T = np.zeros((S, len(mons), len(mons)))
    for (p, q) in mons:
        acc = np.zeros(P + (D, n + 1))
        # S' = F + Cr + s2 Cs + Q: multinomial over (F, Cr, F s2f Cs, Q)
        for a0 in range(q + 1):
            for a1 in range(q - a0 + 1):
                for a2 in range(q - a0 - a1 + 1):
                    e = q - a0 - a1 - a2
                    coef = (factorial(q) / (factorial(a0) * factorial(a1) * factorial(a2) * factorial(e))
                            * cr[..., a1] * cs[..., a2] * s2f**a2)
                    sh = a0 + a2
                    term = ex[(p, e)] * coef[..., None, None]
                    if sh:
                        term = np.concatenate([np.zeros(P + (D, sh)), term[..., : n + 1 - sh]], axis=-1)
                    acc += term
        acc = np.einsum("sk,sk...->s...", w, acc)
        row = index[(p, q)]
        for (i, j), col in index.items():
            T[:, row, col] = acc[:, i, j]
    return mons, T


# --------------------------------------------------------------------------- augment
def augment_transition(n0, m, n, ddof):
    """Transition for augmentation: state (delta, f0, s2, F0); D_0 has n0 points, m synthetic draws."""
    mons = _monomials(n, 2, 2)
    index = {mo: i for i, mo in enumerate(mons)}
    nn = float(n0 + m)
    D = 2 * n + 1
    base = np.zeros((D, D, D))  # delta, f0, y
    base[0, 0, 0] = 1.0
    X = [(0, m / nn), (1, n0 / nn), (2, m / nn)]
    Wf = [(1, 1.0), (0, -1.0), (2, -1.0)]  # f0 - delta - y
    cB = n0 * m / nn
    ymom = _dfact(np.arange(D))
    ex = {}
    wpow = base
    for e in range(n + 1):
        cur = wpow
        for p in range(2 * n - 2 * e + 1):
            ex[(p, e)] = cur
            cur = _mul_lin(cur, X, 0)
        wpow = _mul_lin(_mul_lin(wpow, Wf, 0), Wf, 0)
    cs = _chi2_moments(np.array(m - 1.0), n)
    Dn = nn - ddof
    from math import factorial

    nm = len(mons)
    T = np.zeros((nm, nm))
    for (p1, p2, q1, q2) in mons:
        # target delta'^p1 f0^p2 s2'^q1 F0^q2 with s2' = (F0 + s2 Cs + cB W^2) / Dn
        acc = np.zeros((D, D, n + 1, n + 1))  # delta, f0, s2, F0
        for a0 in range(q1 + 1):
            for a1 in range(q1 - a0 + 1):
                e = q1 - a0 - a1
                coef = factorial(q1) / (factorial(a0) * factorial(a1) * factorial(e)) * cs[a1] * cB**e / Dn**q1
                poly = ex[(p1, e)]  # (delta, f0, y)
                # multiply by f0^p2 (shift), take E over y: y^{2l} -> (2l-1)!! (s2/m)^l
                for l in range(n + 1):
                    if 2 * l >= D:
                        break
                    sl = poly[:, :, 2 * l] * ymom[2 * l] / m**l
                    s2e = a1 + l
                    F0e = a0 + q2
                    if s2e > n or F0e > n:
                        continue
                    if p2:
                        sl = np.concatenate([np.zeros((D, p2)), sl[:, : D - p2]], axis=1)
                    acc[:, :, s2e, F0e] += coef * sl
        row = index[(p1, p2, q1, q2)]
        for (i1, i2, j1, j2), col in index.items():
            T[row, col] = acc[i1, i2, j1, j2]
    return mons, T


def augment_initial(mons, n0, ddof):
    """Moments at generation 1: delta = f0 ~ N(0, 1/n0), F0 ~ chi2_{n0-1}, s2 = F0 / (n0 - ddof)."""
    n = max(sum(mo[:2]) // 2 + mo[2] + mo[3] for mo in mons)
    fm = _dfact(np.arange(2 * n + 1)) * n0 ** (-np.arange(2 * n + 1) / 2.0)
    cm = _chi2_moments(np.array(n0 - 1.0), 2 * n)
    x = np.empty(len(mons))
    for i, (p1, p2, q1, q2) in enumerate(mons):
        x[i] = fm[p1 + p2] * cm[q1 + q2] / (n0 - ddof) ** q1
    return x


# --------------------------------------------------------------------------- brackets
def sqrt_bracket(moments):
    r"""Lower and upper bounds on :math:`E\sqrt X` from :math:`m_j = E X^j`, ``j = 0..n`` (X >= 0).

    Upper: the Gauss rule with ``floor((n+1)/2)`` nodes (uses m_0..m_{2r-1});
    lower: the Gauss–Radau rule with a fixed node at 0 and ``floor(n/2)`` free
    nodes (uses m_0..m_{2r}). Both follow from the Hankel (Golub–Welsch)
    construction on the moments scaled by m_1/m_0; a rule whose Hankel matrix
    is numerically indefinite falls back to fewer moments (never to a one-sided result).
    Returns (low, high).
    """
    m = np.asarray(moments, dtype=np.float64)
    if m[0] <= 0 or not m[1] > 0 or not np.isfinite(m[1]):
        return 0.0, (np.sqrt(m[1]) if np.isfinite(m[1]) and m[1] > 0 else np.inf)
    # moments that overflowed (heavy tails) carry no information: keep the finite prefix
    bad = ~np.isfinite(m) | (m <= 0)
    if bad.any():
        m = m[: int(np.argmax(bad))]
    scale = m[1] / m[0]
    mu = m / m[0] / scale ** np.arange(m.size)
    n = m.size - 1
    hi = np.sqrt(mu[1])  # Jensen (one node)
    lo = mu[1] / np.sqrt(mu[2]) if n >= 2 and mu[2] > 0 else 0.0  # Radau, one free node
    for r in range(2, n // 2 + 2):
        g = _gauss_rule(mu[: 2 * r])
        if g is not None and 2 * r - 1 <= n:
            nodes, wts = g
            hi = min(hi, float(np.sum(wts * np.sqrt(np.maximum(nodes, 0.0)))))
        if 2 * r <= n:
            # Radau with node 0: Gauss rule of the measure x dmu (moments mu[1:]), weights / x
            g = _gauss_rule(mu[1: 2 * r + 1] / mu[1])
            if g is not None:
                nodes, wts = g
                if np.all(nodes > 0):
                    lo = max(lo, float(mu[1] * np.sum(wts / np.sqrt(nodes))))
    s = np.sqrt(scale) * m[0]
    return lo * s, hi * s


def _gauss_rule(mu):
    """Gauss nodes and weights of the measure with moments mu[0..2r-1] (mu[0] = 1), or None."""
    r = mu.size // 2
    # Hankel matrix H = L L^T of <x^i, x^j>; the orthonormal polynomials are L^{-1} (1, x, ..);
    # the Jacobi matrix is L^{-1} H1 L^{-T} with H1 = <x^{i+1}, x^j> (Golub & Welsch 1969)
    Hr = np.array([[mu[i + j] for j in range(r)] for i in range(r)])
    H1 = np.array([[mu[i + j + 1] for j in range(r)] for i in range(r)]) if 2 * r - 1 < mu.size else None
    if H1 is None:
        return None
    if not (np.all(np.isfinite(Hr)) and np.all(np.isfinite(H1))):
        return None
    try:
        L = np.linalg.cholesky(Hr)
        Li = np.linalg.inv(L)
        J = Li @ H1 @ Li.T
        J = 0.5 * (J + J.T)
        nodes, vec = np.linalg.eigh(J)
    except np.linalg.LinAlgError:
        return None
    # weights: mu0 (first component of each normalised eigenvector)^2
    v0 = L[0, 0] * vec[0, :]
    wts = v0**2
    if not np.all(np.isfinite(nodes)) or np.any(wts < 0) or np.any(nodes < 0):
        return None
    # a rule built from an ill-conditioned Hankel matrix may be wrong: keep it only if it
    # reproduces every moment it was built from (so a bound is never silently invalid)
    k = np.arange(2 * r)
    with np.errstate(over="ignore", invalid="ignore"):
        rep = (wts[None, :] * nodes[None, :] ** k[:, None]).sum(axis=1)
    if not np.all(np.abs(rep - mu[: 2 * r]) <= 1e-9 * np.maximum(np.abs(mu[: 2 * r]), 1.0)):
        return None
    return nodes, wts
