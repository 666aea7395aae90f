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
\sigma^2, F_0)` with ``D_0``'s fixed mean offset and scatter; mixture: the
moments :math:`E\prod_j c_j^{e_j}` of the sampling distribution's raw moments
:math:`c_j = E_{q_t} x^j` (one per partition of weight ``<= 2n``; the
fitted mean and variance of ``M`` i.i.d. draws from ``q_t`` have conditional
moments polynomial in the :math:`c_j`, from :math:`E e^{sP_1 + uP_2} =
\phi(s, u)^M`; :func:`mixture_system`).

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
from numba import njit
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


def _chi2_moments(df, qmax, poly=False):
    r"""E (chi2_df)^b for b = 0..qmax, shape df.shape + (qmax+1,); 0 (b >= 1) where df <= 0.

    ``poly=True``: the moment polynomials :math:`\prod_{i<b} (df + 2i)` for every real ``df`` (no
    guard), as the binomial-quadrature evaluation at non-integer group sizes needs.
    """
    df = np.asarray(df, dtype=np.float64)
    out = np.ones(df.shape + (qmax + 1,))
    for b in range(1, qmax + 1):
        out[..., b] = out[..., b - 1] * (df + 2.0 * (b - 1))
    if not poly:
        out[..., 1:] = np.where((df > 0)[..., None], out[..., 1:], 0.0)
    return out


def binomial_rule(M, g, n):
    r"""Nodes and weights that average the order-``n`` transition over ``k ~ Bin(M, g)`` exactly.

    Every transition entry is a polynomial in the real-group size ``k`` (the
    chi-square moments :math:`\prod_i (k-1+2i)` are polynomials; the real
    group's mean enters through :math:`\sqrt k` only in even powers; the
    synthetic group's mean variance :math:`\sigma^2/m` always meets a factor
    ``m``; and at ``k = 0`` or ``k = M`` the empty group's terms cancel as
    polynomial identities, :math:`\chi^2_{-1} + \chi^2_1 \equiv \chi^2_0`),
    of degree at most ``3n``. So the ``r``-node Gauss rule of the binomial law
    (exact for degree ``<= 2r - 1``; nodes in ``(0, M)``, from the Jacobi
    matrix by the discrete Stieltjes procedure, Gautschi 2004, §2.2.3)
    replaces the sum over the ``M + 1`` sizes when ``r`` is smaller.
    Returns ``(ks, w, poly)``: ``poly`` says the nodes are not integers (the
    engine then uses the unguarded polynomial forms).

    The rule is used only where the law's support (sizes of probability above
    ``1e-17`` of the mode's) has more than ``2 r`` points: nearer ``r``, the
    Stieltjes recurrence breaks down in floating point (at M = 20, g = 0.01,
    n = 6, 12 sizes for 11 nodes, the smallest node came out as -6.5e-17 and
    every moment from generation 1 on as inf). A rule whose nodes leave the
    support's range or whose weights are not positive is refused the same way;
    the sum over the integer sizes is exact in both cases.
    """
    from scipy.stats import binom

    r = (3 * n) // 2 + 2
    ks = np.arange(M + 1)
    w = binom.pmf(ks, M, g)
    keep = w > 1e-17 * w.max()
    ks, w = ks[keep], w[keep]
    if ks.size <= 2 * r:
        return ks, w, False
    # Stieltjes: orthonormal polynomials of the discrete measure, three-term recurrence
    x = ks.astype(np.float64)
    a = np.zeros(r)
    b = np.zeros(r)
    p_prev = np.zeros_like(x)
    p = np.ones_like(x) / np.sqrt(w.sum())
    for j in range(r):
        a[j] = np.sum(w * x * p * p)
        q = (x - a[j]) * p - (b[j - 1] if j else 0.0) * p_prev
        bj = np.sqrt(np.sum(w * q * q))
        b[j] = bj
        p_prev, p = p, q / bj
    from scipy.linalg import eigh_tridiagonal

    nodes, vec = eigh_tridiagonal(a, b[:-1])
    wq = w.sum() * vec[0] ** 2
    if not (np.all(np.isfinite(nodes)) and nodes.min() >= ks[0] and nodes.max() <= ks[-1] and np.all(wq > 0.0)):
        return ks, w, False
    return nodes, wq, True


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
def _fresh_expectations(M, ks, n, ddof, poly=False):
    r"""E[X^p W^{2e}] over the noise, as polynomials in (delta, s2).

    X = (m/M) u + (sqrt(k)/M) z, W = z - sqrt(k) u with u = delta + y, y ~ N(0, s2/m), z ~ N(0, 1):
    the products are built as polynomials in (u, z) only, z is averaged out, and
    :math:`E u^j = \sum_l \binom{j}{2l} (2l-1)!! \delta^{j-2l} (s_2/m)^l`.
    Returns dict (p, e) -> array (K, 2n+1 [delta], n+1 [s2]).
    """
    from scipy.special import comb

    K = ks.size
    m = M - np.asarray(ks, dtype=np.float64)
    sk = np.sqrt(np.asarray(ks, dtype=np.float64))
    D = 2 * n + 1
    Dz = D if np.any(np.asarray(ks) > 0) else 1  # no real group: no z axis
    base = np.zeros((K, D, Dz))  # axes: u, z
    base[:, 0, 0] = 1.0
    X = [(0, m / M)] + ([(1, sk / M)] if Dz > 1 else [])
    W = [(0, -sk)] + ([(1, np.ones(K))] if Dz > 1 else [])
    zmom = _dfact(np.arange(Dz))
    msafe = m if poly else np.maximum(m, 1.0)
    # H[k, j, i, l]: coefficient of delta^i (s2)^l in E u^j (i = j - 2l)
    H = np.zeros((K, D, D, n + 1))
    for j in range(D):
        for l in range(j // 2 + 1):
            if l <= n:
                H[:, j, j - 2 * l, l] = comb(j, 2 * l) * _dfact(np.array([2 * l]))[0] * msafe ** (-l)
    out = {}
    wpow = base
    for e in range(n + 1):
        cur = wpow
        for p in range(2 * n - 2 * e + 1):
            ez = np.tensordot(cur, zmom, axes=([2], [0]))  # (K, u)
            out[(p, e)] = np.einsum("kj,kjil->kil", ez, H)
            cur = _mul_lin(cur, X, 1)
        wpow = _mul_lin(_mul_lin(wpow, W, 1), W, 1)
    return out


def batch_moments(M, real, n, ddof):
    r"""E[X^p S^q | delta, s2] of one batch of ``M`` points, averaged over ``k ~ Bin(M, real)``, ``p/2 + q <= n``.

    The batch has ``k`` points from :math:`N(0, 1)` and ``m = M - k`` from
    :math:`N(\delta, s_2)`; ``X`` is its mean and ``S`` its scatter
    (:math:`S = C_r + s_2 C_s + (k m / M)(\bar r - \bar s)^2`, chi-square
    ``C``'s; Chan, Golub & LeVeque 1979). Returns dict ``(p, q) -> array
    (2n+1 [delta exponent], n+1 [s2 exponent])``: the polynomial coefficients.
    """
    if real > 0:
        ks, w, poly = binomial_rule(M, real, n)
    else:
        ks, w, poly = np.array([0]), np.array([1.0]), False
    m = M - np.asarray(ks, dtype=np.float64)
    ex = _fresh_expectations(M, ks, n, ddof, poly)
    cr = _chi2_moments(ks - 1.0, n, poly)
    cs = _chi2_moments(m - 1, n, poly)
    c = m / M if poly else np.where(ks > 0, m / M, 0.0)  # between term: (k m / M)(rbar - sbar)^2 = (m / M) W^2 (none if k = 0)
    from math import factorial

    out = {}
    for (p, q) in [(p, q) for q in range(n + 1) for p in range(2 * n - 2 * q + 1)]:  # odd p too
        acc = np.zeros((ks.size, 2 * n + 1, n + 1))
        for a in range(q + 1):
            for b in range(q - a + 1):
                e = q - a - b
                coef = factorial(q) / (factorial(a) * factorial(b) * factorial(e)) * cr[:, a] * cs[:, b] * c**e
                acc[:, :, b:] += ex[(p, e)][:, :, : n + 1 - b] * coef[:, None, None]
        out[(p, q)] = np.tensordot(w, acc, axes=(0, 0))
    return out


def fresh_transition(M, real, n, ddof):
    """Transition matrix T (nmon x nmon) of the moment vector for replace / fresh, constant M."""
    mons = _monomials(n, 1, 1)
    ci = np.array([mo[0] for mo in mons])
    cj = np.array([mo[1] for mo in mons])
    bm = batch_moments(M, real, n, ddof)
    Dn = float(M - ddof)
    T = np.zeros((len(mons), len(mons)))
    for row, (p, q) in enumerate(mons):
        T[row] = bm[(p, q)][ci, cj] / Dn**q
    return mons, T


# --------------------------------------------------------------------------- accumulate
def accumulate_transitions(Ns, M, real, n, ddof):
    r"""Transition matrices for accumulation from pools of ``Ns`` points, state ``(f, sigma^2)``.

    A pool of ``N`` points (mean offset ``f``, model variance
    :math:`\sigma^2 = F/(N - \mathrm{ddof})`) takes a batch of ``M`` (``k ~
    Bin(M, real)`` real points, the rest from the model) with mean ``X`` and
    scatter ``S``: with :math:`d = X - f` and :math:`\omega = M/(N+M)`,
    :math:`f' = f + \omega d` and :math:`\sigma'^2 = [(N-\mathrm{ddof})\sigma^2 + S + N\omega d^2]
    / (N + M - \mathrm{ddof})`. The law of ``(d, S)`` given the state does not
    involve ``N``: its moments (:func:`batch_moments`, shifted by ``-f``) are
    computed once and every ``N`` only reweights them. ``Ns`` may be any
    positive reals. Returns (mons, T), T of shape (len(Ns), nmon, nmon).
    """
    from math import comb

    mons = _monomials(n, 1, 1)
    nm = len(mons)
    Ns = np.asarray(Ns, dtype=np.float64)
    S_ = Ns.size
    T = np.zeros((S_, nm, nm))
    if S_ == 0:
        return mons, T
    D = 2 * n + 1
    bm = batch_moments(M, real, n, ddof)
    # E[d^a S^b] = sum_i C(a, i) (-f)^(a-i) E[X^i S^b]: shift the f (delta) axis by a - i
    dm = {}
    for (a, b) in bm:  # odd a too: d has mean -(k/M) f when there are real points
        acc = np.zeros((D, n + 1))
        for i in range(a + 1):
            sh = a - i
            acc[sh:] += comb(a, i) * (-1.0) ** sh * bm[(i, b)][: D - sh]
        dm[(a, b)] = acc
    om = M / (Ns + M)
    beta = 1.0 / (Ns + M - ddof)
    Nd = Ns - ddof
    dma = np.zeros((D, n + 1, D, n + 1))  # dm[(a, b)] as a dense array (zero where a + 2b > 2n)
    for (a, b), arr in dm.items():
        dma[a, b] = arr
    E = np.array(mons, dtype=np.int64)
    colidx = -np.ones((D, n + 1), dtype=np.int64)
    colidx[E[:, 0], E[:, 1]] = np.arange(nm)
    _accumulate_rows(T, E, dma, colidx, om, Ns, Nd, beta, n)
    return mons, T


@njit(cache=True)
def _accumulate_rows(T, E, dma, colidx, om, Ns, Nd, beta, n):
    """Rows of :func:`accumulate_transitions`: E[f'^p s'^{2q}] = sum over the binomial/multinomial
    expansion of (f + om d)^p [(Nd s2 + S + N om d^2) beta]^q of coef(N) f^(p-i) s2^c0 E[d^(i+2c2) S^c1]."""
    D = dma.shape[2]
    Q = dma.shape[3]
    S_ = Ns.size
    for row in range(E.shape[0]):
        p = E[row, 0]
        q = E[row, 1]
        for i in range(p + 1):
            cp = 1.0
            for r in range(i):
                cp = cp * (p - r) / (r + 1)  # C(p, i)
            for c0 in range(q + 1):
                for c2 in range(q - c0 + 1):
                    c1 = q - c0 - c2
                    a = i + 2 * c2
                    if a >= D or c1 >= Q:
                        continue
                    # multinomial q! / (c0! c1! c2!)
                    mult = 1.0
                    for r in range(1, q + 1):
                        mult *= r
                    for r in range(1, c0 + 1):
                        mult /= r
                    for r in range(1, c1 + 1):
                        mult /= r
                    for r in range(1, c2 + 1):
                        mult /= r
                    sh_f = p - i
                    for s in range(S_):
                        coef = cp * mult * om[s] ** (i + c2) * Ns[s] ** c2 * Nd[s] ** c0 * beta[s] ** q
                        for u in range(D - sh_f):
                            for v in range(Q - c0):
                                val = dma[a, c1, u, v]
                                if val != 0.0:
                                    col = colidx[u + sh_f, v + c0]
                                    if col >= 0:
                                        T[s, row, col] += coef * val


# --------------------------------------------------------------------------- augment
def augment_transition(n0, m, n, ddof):
    """Transition for augmentation: state (delta, f0, s2, F0); D_0 has n0 points, m synthetic draws.

    ``D_0``'s statistics (f0, F0) are constants of the chain, so the row of
    :math:`\\delta'^{p_1} f_0^{p_2} s'^{2q_1} F_0^{q_2}` is the row of
    :math:`\\delta'^{p_1} s'^{2q_1}` shifted by ``(p2, q2)`` in the (f0, F0)
    exponents: one polynomial per ``(p1, q1)``, rows filled by gathering.
    """
    mons = _monomials(n, 2, 2)
    nm = len(mons)
    E = np.array(mons, dtype=np.int64)  # (nm, 4)
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

    # E over y of every ex[(p, e)]: y^{2l} -> (2l-1)!! (s2/m)^l, as (delta, f0, s2-exponent l)
    ey = {}
    L = np.arange(n + 1)
    yw = ymom[2 * L[2 * L < D]] / float(m) ** L[2 * L < D]
    for key, poly in ex.items():
        out = np.zeros((D, D, n + 1))
        out[:, :, : yw.size] = poly[:, :, 2 * L[2 * L < D]] * yw
        ey[key] = out
    T = np.zeros((nm, nm))
    pad = np.zeros((D + D, D + D, n + 1 + n + 1, n + 1 + n + 1))
    flat = pad.reshape(-1)  # a view: writes to pad show here
    st = np.array(pad.strides) // pad.itemsize
    # column (i1, i2, j1, j2) of row (p1, p2, q1, q2) reads acc[i1, i2 - p2, j1, j2 - q2] (0 below 0)
    col_flat = (D + E[:, 0]) * st[0] + (D + E[:, 1]) * st[1] + (n + 1 + E[:, 2]) * st[2] + (n + 1 + E[:, 3]) * st[3]
    row_shift = E[:, 1] * st[1] + E[:, 3] * st[3]
    for p1 in range(2 * n + 1):
        for q1 in range(n + 1 - (p1 + 1) // 2):
            # delta'^p1 s2'^q1 with s2' = (F0 + s2 Cs + cB W^2) / Dn: poly in (delta, f0, s2, F0)
            acc = np.zeros((D, D, n + 1, n + 1))
            for a0 in range(q1 + 1):
                for a1 in range(q1 - a0 + 1):
                    e = q1 - a0 - a1
                    if (p1, e) not in ey:
                        continue
                    coef = factorial(q1) / (factorial(a0) * factorial(a1) * factorial(e)) * cs[a1] * cB**e / Dn**q1
                    sl = ey[(p1, e)]  # (delta, f0, l)
                    k = n + 1 - a1
                    acc[:, :, a1:, a0] += coef * sl[:, :, :k]
            rows = np.flatnonzero((E[:, 0] == p1) & (E[:, 2] == q1))
            if rows.size == 0:
                continue
            pad[D:, D:, n + 1:, n + 1:] = acc  # the rest of pad stays 0
            T[rows, :] = flat.take(col_flat[None, :] - row_shift[rows][:, None])
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


# --------------------------------------------------------------------------- accumulate, all steps
def accumulate_step_matrices(G, M, real, n, ddof, nodes=None):
    r"""Transition matrices of steps ``t = 1..G-1`` for accumulation, state ``(f, sigma^2)`` (not the scatter).

    In the state :math:`(f, \sigma^2 = F/(N-\mathrm{ddof}))` every entry is a
    polynomial in :math:`\alpha = 1/(N+M)` and :math:`\beta = 1/(N+M-\mathrm{ddof})`
    (each power of the pool size ``N`` in a numerator comes with one of these),
    so a function of :math:`u = 1/(N + M - \mathrm{ddof}/2)` analytic in
    :math:`|u| < 2`, and a polynomial of degree ``<= 2n`` when ``ddof = 0``.
    The steps' ``u`` lie in ``(0, 1/(2M - 1/2)]``: the matrices are built at
    ``nodes`` Chebyshev points of that interval (default ``2n + 2`` for
    ``ddof = 0``, exact; for ``ddof = 1`` ``2n + 8``, or ``2n + 12`` when
    ``M = 2``, where the row-relative interpolation error measured against
    the matrices built directly is below 1e-13 for every order to 8, tested)
    and interpolated (barycentric formula) at each step instead of being built
    per step. Returns ``(mons, L, Tj)``: the step-``t`` matrix (generation
    ``t`` to ``t + 1``) is ``sum_j L[t - 1, j] Tj[j]`` (:func:`moment_path_interp`).
    """
    mons = _monomials(n, 1, 1)
    nm = len(mons)
    if G <= 1:
        return mons, np.zeros((0, 1)), np.zeros((1, nm, nm))
    Nt = np.arange(1, G, dtype=np.float64) * M
    if nodes is None:
        nodes = 2 * n + 2 if ddof == 0 else (2 * n + 8 if M >= 3 else 2 * n + 12)
    if G - 1 <= nodes:  # few steps: build them directly
        _, T = accumulate_transitions(Nt, M, real, n, ddof)
        return mons, np.eye(G - 1), T
    umax = 1.0 / (2.0 * M - 0.5 * ddof)
    j = np.arange(nodes)
    theta = (2 * j + 1) * np.pi / (2 * nodes)
    uj = 0.5 * umax * (1.0 - np.cos(theta))  # Chebyshev points of the first kind on (0, umax)
    Nj = 1.0 / uj - M + 0.5 * ddof
    _, Tj = accumulate_transitions(Nj, M, real, n, ddof)
    # barycentric weights of first-kind Chebyshev points: (-1)^j sin(theta_j)
    bw = (-1.0) ** j * np.sin(theta)
    ut = 1.0 / (Nt + M - 0.5 * ddof)
    d = ut[:, None] - uj[None, :]
    hit = d == 0.0
    d[hit] = 1.0
    L = bw[None, :] / d
    L /= L.sum(axis=1, keepdims=True)
    rows = hit.any(axis=1)
    if rows.any():
        L[rows] = hit[rows].astype(np.float64)
    return mons, L, Tj


# --------------------------------------------------------------------------- compiled moment path
@njit(cache=True)
def _matvec_guarded(T, x, deg):
    """y = T x; where the moments overflowed (heavy tails), every degree from the first overflow is inf.

    T is block lower-triangular in the degree, so the lower-degree moments stay exact; an overflowed
    entry of x is read as 0 (inf * 0 would be NaN) and its degree and all above are set to inf.
    """
    nm = x.size
    y = np.zeros(nm)
    finite = True
    for i in range(nm):
        s = 0.0
        for j in range(nm):
            s += T[i, j] * x[j]
        y[i] = s
        if not np.isfinite(s):
            finite = False
    if finite:
        return y
    dmin = 1 << 30
    for j in range(nm):
        if not np.isfinite(x[j]) and deg[j] < dmin:
            dmin = deg[j]
    for i in range(nm):
        s = 0.0
        for j in range(nm):
            if np.isfinite(x[j]):
                s += T[i, j] * x[j]
        y[i] = s
        if not np.isfinite(s) and deg[i] < dmin:
            dmin = deg[i]
    for i in range(nm):
        if deg[i] >= dmin:
            y[i] = np.inf
    return y


@njit(cache=True)
def moment_path(T, x, deg, cols, n, t0, tol):
    """Moments ``x[cols]`` at generations t0..n from x at t0; T of shape (S, nm, nm), S = 1 (constant) or n - t0.

    A constant transition stops once every component's relative change is at most ``tol`` (a fixed
    point to rounding) and repeats it. Returns an array (n + 1, len(cols)); rows before t0 are 0.
    """
    out = np.zeros((n + 1, cols.size))
    for c in range(cols.size):
        out[t0, c] = x[cols[c]]
    const = T.shape[0] == 1
    for t in range(t0 + 1, n + 1):
        y = _matvec_guarded(T[0] if const else T[t - t0 - 1], x, deg)
        for c in range(cols.size):
            out[t, c] = y[cols[c]]
        if const:
            done = True
            for i in range(y.size):
                if not (abs(y[i] - x[i]) <= tol * abs(y[i])):
                    done = False
                    break
            if done:
                for s in range(t + 1, n + 1):
                    for c in range(cols.size):
                        out[s, c] = y[cols[c]]
                break
        x = y
    return out


@njit(cache=True)
def _gauss_rule_nb(mu, r):
    """Compiled :func:`_gauss_rule` on mu[0..2r-1]: (ok, nodes, weights)."""
    nodes = np.zeros(r)
    wts = np.zeros(r)
    H = np.empty((r, r))
    H1 = np.empty((r, r))
    for i in range(r):
        for j in range(r):
            H[i, j] = mu[i + j]
            H1[i, j] = mu[i + j + 1]
            if not (np.isfinite(H[i, j]) and np.isfinite(H1[i, j])):
                return False, nodes, wts
    # Cholesky H = L L^T (fails: not a positive definite Hankel matrix)
    L = np.zeros((r, r))
    for j in range(r):
        s = H[j, j]
        for k in range(j):
            s -= L[j, k] * L[j, k]
        if not s > 0.0:
            return False, nodes, wts
        L[j, j] = np.sqrt(s)
        for i in range(j + 1, r):
            s = H[i, j]
            for k in range(j):
                s -= L[i, k] * L[j, k]
            L[i, j] = s / L[j, j]
    # J = L^-1 H1 L^-T by forward substitution on both sides
    A = np.empty((r, r))
    for c in range(r):  # A = L^-1 H1
        for i in range(r):
            s = H1[i, c]
            for k in range(i):
                s -= L[i, k] * A[k, c]
            A[i, c] = s / L[i, i]
    J = np.empty((r, r))
    for c in range(r):  # J^T = L^-1 A^T
        for i in range(r):
            s = A[c, i]
            for k in range(i):
                s -= L[i, k] * J[c, k]
            J[c, i] = s / L[i, i]
    for i in range(r):
        for j in range(i + 1, r):
            a = 0.5 * (J[i, j] + J[j, i])
            J[i, j] = a
            J[j, i] = a
    ev, vec = np.linalg.eigh(J)
    for i in range(r):
        if not np.isfinite(ev[i]) or ev[i] < 0.0:
            return False, nodes, wts
        nodes[i] = ev[i]
        wts[i] = (L[0, 0] * vec[0, i]) ** 2
    # keep the rule only if it reproduces every moment it was built from
    for k in range(2 * r):
        s = 0.0
        for i in range(r):
            s += wts[i] * nodes[i] ** k
        if not abs(s - mu[k]) <= 1e-9 * max(abs(mu[k]), 1.0):
            return False, nodes, wts
    return True, nodes, wts


@njit(cache=True)
def sqrt_brackets(var):
    """:func:`sqrt_bracket` for every row of ``var`` (shape (T, n+1), rows m_0..m_n); returns (low, high)."""
    T = var.shape[0]
    lo_out = np.zeros(T)
    hi_out = np.zeros(T)
    for t in range(T):
        m_all = var[t]
        if not (m_all[0] > 0.0) or not (m_all[1] > 0.0) or not np.isfinite(m_all[1]):
            lo_out[t] = 0.0
            hi_out[t] = np.sqrt(m_all[1]) if (np.isfinite(m_all[1]) and m_all[1] > 0.0) else np.inf
            continue
        size = m_all.size
        for j in range(m_all.size):
            if not np.isfinite(m_all[j]) or m_all[j] <= 0.0:
                size = j
                break
        scale = m_all[1] / m_all[0]
        mu = np.empty(size)
        for j in range(size):
            mu[j] = m_all[j] / m_all[0] / scale**j
        n = size - 1
        hi = np.sqrt(mu[1])
        lo = mu[1] / np.sqrt(mu[2]) if (n >= 2 and mu[2] > 0.0) else 0.0
        for r in range(2, n // 2 + 2):
            if 2 * r - 1 <= n and 2 * r <= size:
                ok, nodes, wts = _gauss_rule_nb(mu, r)
                if ok:
                    s = 0.0
                    for i in range(r):
                        s += wts[i] * np.sqrt(max(nodes[i], 0.0))
                    hi = min(hi, s)
            if 2 * r <= n:
                mu1 = mu[1:2 * r + 1] / mu[1]
                ok, nodes, wts = _gauss_rule_nb(mu1, r)
                if ok:
                    pos = True
                    for i in range(r):
                        if not nodes[i] > 0.0:
                            pos = False
                    if pos:
                        s = 0.0
                        for i in range(r):
                            s += wts[i] / np.sqrt(nodes[i])
                        lo = max(lo, mu[1] * s)
        sc = np.sqrt(scale) * m_all[0]
        lo_out[t] = lo * sc
        hi_out[t] = hi * sc
    return lo_out, hi_out


@njit(cache=True)
def moment_path_interp(L, Tj, x, deg, cols, n, t0):
    """:func:`moment_path` with step matrices ``sum_j L[s, j] Tj[j]`` (s = t - t0 - 1), built one at a time."""
    out = np.zeros((n + 1, cols.size))
    for c in range(cols.size):
        out[t0, c] = x[cols[c]]
    J, nm = Tj.shape[0], Tj.shape[1]
    T = np.empty((nm, nm))
    for t in range(t0 + 1, n + 1):
        s = t - t0 - 1
        for i in range(nm):
            for k in range(nm):
                T[i, k] = 0.0
        for j in range(J):
            a = L[s, j]
            if a != 0.0:
                for i in range(nm):
                    for k in range(nm):
                        T[i, k] += a * Tj[j, i, k]
        x = _matvec_guarded(T, x, deg)
        for c in range(cols.size):
            out[t, c] = x[cols[c]]
    return out


# --------------------------------------------------------------------------- mixture (previous > 0)
# The mixture workflow samples dataset t+1 i.i.d. from q_t = a N(theta_t) + b q_{t-1} + g p0 (q_0 = p0):
# a geometric mixture of every earlier model. The state is the vector of raw moments
# c_j = E_{q_t} x^j, j <= 2n (random through the models): the fitted (mean, variance) of M i.i.d.
# draws from q_t have conditional joint moments that are polynomials in c (E exp(s P1 + u P2) =
# phi(s, u)^M with phi = sum c_{i+2j} s^i u^j / (i! j!)), and c_j(q_{t+1}) = a G_j(theta_{t+1})
# + b c_j(q_t) + g h_j (G_j: the Gaussian raw moments, h_j = c_j(p0)). A monomial prod c_j^{e_j}
# is a partition (e_j parts of size j); its weight sum j e_j scales as x^weight, and every map keeps
# weight <= 2n: the moments of weight <= 2n follow an exact linear recursion on the partitions.
def _partitions(W):
    """All partitions of weight <= W as descending tuples, ordered by weight (the empty one first)."""
    out = []

    def rec(prefix, rest, maxpart):
        if rest == 0:
            out.append(prefix)
            return
        for p in range(min(rest, maxpart), 0, -1):
            rec(prefix + (p,), rest - p, p)

    for w in range(W + 1):
        rec((), w, w)
    return out


_MIX_TABLES = {}


def _mixture_tables(n):
    """Order-n tables (cached): partitions, union table, extended monomials, the series K_k of psi^k."""
    if n in _MIX_TABLES:
        return _MIX_TABLES[n]
    from math import factorial

    W = 2 * n
    parts = _partitions(W)
    P = len(parts)
    pidx = {lam: i for i, lam in enumerate(parts)}
    wt = np.array([sum(lam) for lam in parts], dtype=np.int64)
    U = -np.ones((P, P), dtype=np.int64)  # index of lam u mu (weight <= W), else -1
    for i, a in enumerate(parts):
        for j, b in enumerate(parts):
            if wt[i] + wt[j] <= W:
                U[i, j] = pidx[tuple(sorted(a + b, reverse=True))]
    single = np.array([pidx[(j,)] if j >= 1 else 0 for j in range(W + 1)], dtype=np.int64)
    # extended monomials xbar^p (sigma^2)^q c^mu, weight p + 2q + |mu| <= W
    ext = -np.ones((W + 1, n + 1, P), dtype=np.int64)
    ne = 0
    for p in range(W + 1):
        for q in range((W - p) // 2 + 1):
            for i in range(P):
                if p + 2 * q + wt[i] <= W:
                    ext[p, q, i] = ne
                    ne += 1
    ext_pq = np.zeros((ne, 3), dtype=np.int64)
    for p in range(W + 1):
        for q in range(n + 1):
            for i in range(P):
                if ext[p, q, i] >= 0:
                    ext_pq[ext[p, q, i]] = (p, q, i)
    # parent of each partition (one largest part removed) and that part
    parent = np.zeros(P, dtype=np.int64)
    lead = np.zeros(P, dtype=np.int64)
    for i, lam in enumerate(parts[1:], start=1):
        parent[i] = pidx[lam[1:]]
        lead[i] = lam[0]
    # K[k, A, B, :] = [s^A u^B] psi^k as a polynomial in c (homogeneous of weight A + 2B)
    K = np.zeros((W + 1, W + 1, n + 1, P))
    K[0, 0, 0, 0] = 1.0
    terms = [(i, j) for j in range(n + 1) for i in range(W + 1 - 2 * j) if (i, j) != (0, 0)]
    for k in range(W):
        src = K[k]
        for (i2, j2) in terms:
            col = single[i2 + 2 * j2]
            f = 1.0 / (factorial(i2) * factorial(j2))
            for A in range(W + 1 - i2):
                for B in range((W - A - i2) // 2 + 1 - j2):
                    v = src[A, B]
                    nz = np.flatnonzero(v)
                    if nz.size == 0:
                        continue
                    tgt = U[nz, col]
                    np.add.at(K[k + 1, A + i2, B + j2], tgt, f * v[nz])
    h = _dfact(np.arange(W + 1))
    x0 = np.array([np.prod(h[list(lam)]) for lam in parts])
    out = dict(parts=parts, P=P, wt=wt, U=U, single=single, ext=ext, ext_pq=ext_pq, parent=parent, lead=lead,
               K=K, h=h, x0=x0)
    _MIX_TABLES[n] = out
    return out


def mixture_fit_moments(M, n, ddof, tabs=None):
    r"""E[xbar^p (sigma^2)^q | c] for M i.i.d. points, ``p + 2q <= 2n``, as vectors over the partitions.

    :math:`\bar x^p S^q = \sum_k \binom{q}{k}(-1)^k M^{-p-k} P_1^{p+2k} P_2^{q-k}` with the power sums
    :math:`P_1, P_2`, and :math:`E P_1^A P_2^B = A!\,B! \sum_k \binom{M}{k} [s^A u^B] \psi^k`.
    Returns an array (2n+1, n+1, P).
    """
    from math import comb, factorial

    from scipy.special import binom as gbinom

    t = _mixture_tables(n) if tabs is None else tabs
    W = 2 * n
    K = t["K"]
    bM = gbinom(float(M), np.arange(W + 1))
    EP = np.tensordot(bM, K, axes=(0, 0))  # [A, B, P]: sum_k C(M, k) K_k
    for A in range(W + 1):
        for B in range(n + 1):
            EP[A, B] *= factorial(A) * factorial(B)
    E = np.zeros((W + 1, n + 1, t["P"]))
    for p in range(W + 1):
        for q in range((W - p) // 2 + 1):
            acc = np.zeros(t["P"])
            for k in range(q + 1):
                acc += comb(q, k) * (-1.0) ** k * float(M) ** (-p - k) * EP[p + 2 * k, q - k]
            E[p, q] = acc / (M - ddof) ** q
    return E


def mixture_system(M, a, b, g, n, ddof):
    r"""Order-n moment system of the mixture workflow (synthetic ``a``, previous ``b``, real ``g``).

    Returns ``(parts, T, x0, E)``: the even-weight partitions (the state's monomials
    :math:`\prod_j c_j^{e_j}` of q_t's raw moments), the transition ``T`` (state at t to t + 1),
    the state at t = 0 (:math:`q_0 = N(0, 1)`) and ``E`` (2n+1, n+1, len(parts)): the fit
    moments :math:`E[\bar x^p (\sigma^2)^q \mid c]` of generation t + 1 as functionals of the state at t.
    """
    t = _mixture_tables(n)
    E = mixture_fit_moments(M, n, ddof, t)
    ne = int(t["ext_pq"].shape[0])
    Q = _mixture_rows(float(a), float(b), float(g), n, t["h"], t["ext"], t["ext_pq"], t["parent"], t["lead"],
                      t["U"], t["single"], ne)
    T = _mixture_apply(Q, E, t["ext_pq"], t["U"])
    # the chain is symmetric about mu_0 = 0: odd-weight moments are 0 at t = 0 and T keeps the weight's
    # parity (the only weight change is g h_j with h_j = 0 for odd j), so they stay 0 and are dropped
    keep = np.flatnonzero(t["wt"] % 2 == 0)
    parts = [t["parts"][i] for i in keep]
    return parts, np.ascontiguousarray(T[np.ix_(keep, keep)]), t["x0"][keep], np.ascontiguousarray(E[:, :, keep])


@njit(cache=True)
def _mixture_rows(a, b, g, n, h, ext, ext_pq, parent, lead, U, single, ne):
    """Q[lam] = Q[parent] * (a G_j(xbar, s2) + b c_j + g h_j), j the removed part (extended monomials)."""
    P = parent.size
    Q = np.zeros((P, ne))
    Q[0, ext[0, 0, 0]] = 1.0
    for i in range(1, P):
        pi = parent[i]
        j = lead[i]
        cj = single[j]
        for e in range(ne):
            val = Q[pi, e]
            if val == 0.0:
                continue
            p = ext_pq[e, 0]
            q = ext_pq[e, 1]
            mu = ext_pq[e, 2]
            # a G_j: sum_l C(j, 2l) (2l-1)!! xbar^(j-2l) s2^l
            c = 1.0  # C(j, 2l) (2l - 1)!!
            for l in range(j // 2 + 1):
                if l > 0:
                    c = c * (j - 2 * l + 2) * (j - 2 * l + 1) / (2.0 * l)  # C(j,2l)(2l-1)!! from l-1
                Q[i, ext[p + j - 2 * l, q + l, mu]] += a * c * val
            if b != 0.0:
                Q[i, ext[p, q, U[mu, cj]]] += b * val
            if g != 0.0 and h[j] != 0.0:
                Q[i, e] += g * h[j] * val
    return Q


@njit(cache=True)
def _mixture_apply(Q, E, ext_pq, U):
    """T[lam, :] = sum_e Q[lam, e] E[p_e, q_e] c^(mu_e): the conditional fit moments, times the carried monomial."""
    P, ne = Q.shape
    W1, N1 = E.shape[0], E.shape[1]
    # nonzero support of every E[p, q]
    cnt = np.zeros((W1, N1), dtype=np.int64)
    sup = np.zeros((W1, N1, P), dtype=np.int64)
    for p in range(W1):
        for q in range(N1):
            for v in range(P):
                if E[p, q, v] != 0.0:
                    sup[p, q, cnt[p, q]] = v
                    cnt[p, q] += 1
    T = np.zeros((P, P))
    for i in range(P):
        for e in range(ne):
            val = Q[i, e]
            if val == 0.0:
                continue
            p = ext_pq[e, 0]
            q = ext_pq[e, 1]
            mu = ext_pq[e, 2]
            for k in range(cnt[p, q]):
                v = sup[p, q, k]
                T[i, U[v, mu]] += val * E[p, q, v]
    return T
