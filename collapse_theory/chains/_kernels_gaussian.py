"""Numba kernels of the Gaussian refit chain (private; no validation here).

The kernels do arithmetic only (the 1-D replace chain, two cumulative sums,
is vectorised NumPy in ``gaussian.py``, faster than a scalar loop): every random variate (normals, chi-squares,
binomial splits) is drawn beforehand with NumPy's ``Generator`` by
:mod:`collapse_theory.chains.gaussian`, so a result depends only on the seed,
never on the number of threads. ``prange`` runs over replicates.

State representation (so that collapse to 1e-300 and below neither underflows
nor produces NaN):

* 1-D: a dataset's sufficient statistics are ``(n, mean, log_scatter)`` with
  ``scatter = sum (x - mean)^2``; the model is ``(mu, log_var)``.
* d-D model: ``Sigma = C diag(exp(2 s)) C^T`` with ``C`` unit lower triangular
  and ``s`` (d,) one log-scale per column (an LDL^T form): under replacement
  ``C`` converges and ``s_j`` performs the random walk of the Bartlett
  log-chi-squares, so even an anisotropic collapse (directions shrinking at
  different exponential rates, ratios far beyond 1e308) stays finite.
* d-D datasets (scatter of a batch or of the pool, which do not collapse):
  ``scatter = exp(2 c) L L^T`` with ``L`` lower triangular normalised to
  ``max |L_ij| = 1`` and ``c`` a scalar log-scale.

Two datasets' statistics pool exactly (Chan, Golub & LeVeque 1979):

.. math:: n = n_1 + n_2,\\quad \\bar x = (n_1 \\bar x_1 + n_2 \\bar x_2)/n,\\quad
          S = S_1 + S_2 + \\frac{n_1 n_2}{n} (\\bar x_1 - \\bar x_2)(\\bar x_1 - \\bar x_2)^T.

A Wishart matrix ``W ~ W_d(k, I)`` is drawn through the Bartlett decomposition
``W = A A^T`` with ``A`` lower triangular, ``A_jj^2 ~ chi2_{k-j}`` (j = 0..d-1),
``A_ij ~ N(0, 1)`` below the diagonal; for ``k < d`` (singular) the columns
``j >= k`` are zero (QR of a k x d Gaussian matrix).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["warm"]

_NEG_INF = -np.inf


@njit(cache=True)
def _logaddexp(a, b):
    if a == _NEG_INF:
        return b
    if b == _NEG_INF:
        return a
    if a > b:
        return a + np.log1p(np.exp(b - a))
    return b + np.log1p(np.exp(a - b))


@njit(cache=True)
def _combine_1d(n1, m1, ls1, n2, m2, ls2):
    """Pool two 1-D datasets' (n, mean, log scatter); an empty part (n = 0) is ignored."""
    if n1 == 0:
        return n2, m2, ls2
    if n2 == 0:
        return n1, m1, ls1
    n = n1 + n2
    m = (n1 * m1 + n2 * m2) / n
    diff = abs(m1 - m2)
    ls = _logaddexp(ls1, ls2)
    if diff > 0.0:
        ls = _logaddexp(ls, np.log(n1 * n2 / n) + 2.0 * np.log(diff))
    return n, m, ls


@njit(cache=True)
def _part_1d(n, mean, lv, z, c):
    """(n, mean, log scatter) of ``n`` points from N(mean, e^lv), given their standard normal ``z`` and chi2_{n-1} ``c``.

    An empty part (``n = 0``) is (0, 0, -inf).
    """
    if n <= 0:
        return 0.0, 0.0, _NEG_INF
    nf = float(n)
    return nf, mean + np.exp(0.5 * lv) * z / np.sqrt(nf), lv + np.log(c) if c > 0.0 else _NEG_INF


@njit(cache=True)
def _pool_1d(pool, r, n, m, ls):
    """Pool a batch's (n, mean, log scatter) into replicate ``r``'s running pool (B, 3); returns the pool."""
    n, m, ls = _combine_1d(pool[r, 0], pool[r, 1], pool[r, 2], n, m, ls)
    pool[r, 0] = n
    pool[r, 1] = m
    pool[r, 2] = ls
    return n, m, ls


@njit(cache=True, parallel=True)
def mixed_1d(mu, lv, pool, k, zr, cr, zs, cs, sizes, ddof_denom, mu0, lv0, pooled, t0):
    """Fresh data and/or accumulation, 1-D, exact sufficient statistics, in place.

    pool : (B, 3) running (n, mean, log scatter) of the pooled data (accumulate).
    k : (B, Gc) int, real points in each generation's batch (Binomial(M_t, gamma)).
    zr, cr : real part's standard normal and chi2_{k-1} (0 where k <= 1).
    zs, cs : synthetic part's standard normal and chi2_{M-k-1}.
    ddof_denom : 1 (unbiased, divide by n - 1) or 0 (MLE, divide by n).
    """
    B, gc = k.shape
    for r in prange(B):
        for j in range(gc):
            t = t0 + j
            m = sizes[t]
            kr = k[r, j]
            n1, m1, l1 = _part_1d(kr, mu0, lv0, zr[r, j], cr[r, j])
            n2, m2, l2 = _part_1d(m - kr, mu[r, t], lv[r, t], zs[r, j], cs[r, j])
            nb, mb, lb = _combine_1d(n1, m1, l1, n2, m2, l2)
            if pooled:
                nb, mb, lb = _pool_1d(pool, r, nb, mb, lb)
            mu[r, t + 1] = mb
            lv[r, t + 1] = lb - np.log(nb - ddof_denom)


@njit(cache=True)
def _bartlett(chi, off, kdof, out):
    """Lower-triangular Bartlett factor of W_d(kdof, I) into ``out`` (d, d)."""
    d = out.shape[0]
    q = 0
    for i in range(d):
        for j in range(d):
            out[i, j] = 0.0
    for i in range(d):
        out[i, i] = np.sqrt(chi[i]) if i < kdof else 0.0
        for j in range(i):
            if j < kdof:
                out[i, j] = off[q]
            q += 1


@njit(cache=True)
def _lower_matmul(a, b, out):
    """out = a @ b for lower-triangular a, b."""
    d = a.shape[0]
    for i in range(d):
        for j in range(d):
            acc = 0.0
            if j <= i:
                for q in range(j, i + 1):
                    acc += a[i, q] * b[q, j]
            out[i, j] = acc


@njit(cache=True)
def _normalise(mat):
    """Scale ``mat`` in place to max |entry| = 1; returns log of the factor removed (-inf if 0)."""
    d = mat.shape[0]
    mx = 0.0
    for i in range(d):
        for j in range(d):
            v = abs(mat[i, j])
            mx = max(mx, v)
    if mx == 0.0:
        return _NEG_INF
    for i in range(d):
        for j in range(d):
            mat[i, j] /= mx
    return np.log(mx)


@njit(cache=True)
def _cholesky(a, out):
    """Lower Cholesky factor of a symmetric PSD matrix; a zero pivot gives a zero column."""
    d = a.shape[0]
    for i in range(d):
        for j in range(d):
            out[i, j] = 0.0
    for j in range(d):
        s = a[j, j]
        for q in range(j):
            s -= out[j, q] * out[j, q]
        if s <= 0.0:
            continue
        ljj = np.sqrt(s)
        out[j, j] = ljj
        for i in range(j + 1, d):
            s2 = a[i, j]
            for q in range(j):
                s2 -= out[i, q] * out[j, q]
            out[i, j] = s2 / ljj


@njit(cache=True)
def _combine_nd(n1, m1, s1, l1, n2, m2, s2, l2, m_out, l_out, work):
    """Pool two d-D datasets (n, mean, log-scale s, normalised Cholesky L of the scatter).

    Writes the pooled mean and normalised factor; returns (n, s).
    """
    d = m1.shape[0]
    if n1 == 0.0:
        m_out[:] = m2
        l_out[:, :] = l2
        return n2, s2
    if n2 == 0.0:
        m_out[:] = m1
        l_out[:, :] = l1
        return n1, s1
    n = n1 + n2
    w = n1 * n2 / n
    dist2 = 0.0
    for i in range(d):
        m_out[i] = (n1 * m1[i] + n2 * m2[i]) / n
        dist2 += (m1[i] - m2[i]) ** 2
    c = max(s1, s2)
    if dist2 > 0.0:
        c = max(c, 0.5 * np.log(w * dist2))
    if c == _NEG_INF:
        for i in range(d):
            for j in range(d):
                l_out[i, j] = 0.0
        return n, _NEG_INF
    f1 = np.exp(2.0 * (s1 - c)) if s1 != _NEG_INF else 0.0
    f2 = np.exp(2.0 * (s2 - c)) if s2 != _NEG_INF else 0.0
    fb = w * np.exp(-2.0 * c)
    for i in range(d):
        for j in range(i + 1):
            a1 = 0.0
            a2 = 0.0
            for q in range(j + 1):
                a1 += l1[i, q] * l1[j, q]
                a2 += l2[i, q] * l2[j, q]
            v = f1 * a1 + f2 * a2 + fb * (m1[i] - m2[i]) * (m1[j] - m2[j])
            work[i, j] = v
            work[j, i] = v
    _cholesky(work, l_out)
    return n, c + _normalise(l_out)


@njit(cache=True)
def _to_scaled(lc, s, out):
    """(C, s) -> (c, L): L = C diag(exp(s - c)), c = max s; returns c."""
    d = lc.shape[0]
    c = s[0]
    for j in range(1, d):
        c = max(c, s[j])
    for i in range(d):
        for j in range(d):
            out[i, j] = lc[i, j] * np.exp(s[j] - c) if s[j] != _NEG_INF else 0.0
    return c


@njit(cache=True)
def _from_scaled(c, l, half_log_denom, lc_out, s_out):
    """(c, L) of a scatter -> unit-lower C and per-column log-scales of scatter / denom."""
    d = l.shape[0]
    for j in range(d):
        ljj = l[j, j]
        if ljj > 0.0 and c != _NEG_INF:
            s_out[j] = c + np.log(ljj) - half_log_denom
            for i in range(d):
                lc_out[i, j] = l[i, j] / ljj if i > j else (1.0 if i == j else 0.0)
        else:
            s_out[j] = _NEG_INF
            for i in range(d):
                lc_out[i, j] = 1.0 if i == j else 0.0


@njit(cache=True)
def _ldl_scratch(d):
    """Per-replicate scratch of the LDL refit: the factor ``A`` (d, d), ``e`` (d,) and ``B`` (d, d)."""
    return np.empty((d, d)), np.empty(d), np.empty((d, d))


@njit(cache=True)
def _mean_step(mu_t, lc_t, ls_t, z, mult, div, e, mu_next):
    """``mu_next = mu_t + C diag(e^s) z * mult / div``: model t's mean moved by its own scaled normals.

    Fills ``e`` with ``e^s`` (which may underflow: it only scales the step).
    """
    d = mu_t.size
    for q in range(d):
        e[q] = np.exp(ls_t[q])
    for i in range(d):
        acc = 0.0
        for q in range(i + 1):
            acc += lc_t[i, q] * e[q] * z[q]
        mu_next[i] = mu_t[i] + acc * mult / div


@njit(cache=True)
def _part_nd(n, mean, lhat, s, z, chi, off, a, m_out, l_out):
    """Mean and scatter factor of ``n`` points from N(mean, e^{2s} lhat lhat^T) (``n >= 1``).

    ``z``: the standard normal of the mean; ``chi``, ``off``: the Bartlett
    variates of the scatter (chi2_{n-1-j} and normals). Writes the mean into
    ``m_out`` and the normalised factor into ``l_out``; returns its log scale.
    """
    d = m_out.size
    sc = np.exp(s) / np.sqrt(float(n))
    for i in range(d):
        acc = 0.0
        for q in range(i + 1):
            acc += lhat[i, q] * z[q]
        m_out[i] = mean[i] + sc * acc
    _bartlett(chi, off, n - 1, a)
    _lower_matmul(lhat, a, l_out)
    return s + _normalise(l_out)


@njit(cache=True)
def _pool_nd(pool_n, pool_m, pool_s, pool_l, r, n, m, s, l, m_new, l_new, work):
    """Pool a batch (n, mean, log scale, factor) into replicate ``r``'s running pool.

    The pooled mean and factor go to ``m_new``, ``l_new`` and the pool; returns (n, log scale).
    """
    n, s = _combine_nd(pool_n[r], pool_m[r], pool_s[r], pool_l[r], n, m, s, l, m_new, l_new, work)
    pool_n[r] = n
    pool_s[r] = s
    pool_m[r, :] = m_new
    pool_l[r, :, :] = l_new
    return n, s


@njit(cache=True, parallel=True)
def replace_nd(mu, lc, ls, z, chi, off, inv_sqrt_m, half_log_denom, kdof, t0):
    """Replace workflow, d-D: mean and LDL^T factor of Sigma via Bartlett, in place.

    mu : (B, G+1, d); lc : (B, G+1, d, d) unit lower triangular; ls : (B, G+1, d)
    log-scales, Sigma_t = lc diag(exp(2 ls)) lc^T. z : (B, Gc, d);
    chi : (B, Gc, d) chi2_{k_t - j}; off : (B, Gc, d(d-1)/2) normals; kdof : (G,) M_t - 1.

    With L = C diag(e^s) and the Bartlett factor A, the new factor is
    L A / sqrt(D) = C B diag(e^s A_jj / sqrt(D)) with B_ij = A_ij e^{s_i - s_j} / A_jj
    (unit diagonal); only ratios e^{s_i - s_j}, i > j, enter, which shrink.
    """
    B, gc, d = z.shape
    for r in prange(B):
        a, e, bm = _ldl_scratch(d)
        for j in range(gc):
            t = t0 + j
            _mean_step(mu[r, t], lc[r, t], ls[r, t], z[r, j], inv_sqrt_m[t], 1.0, e, mu[r, t + 1])
            _bartlett(chi[r, j], off[r, j], kdof[t], a)
            _ldl_step(lc[r, t], ls[r, t], a, half_log_denom[t], lc[r, t + 1], ls[r, t + 1], e, bm)


@njit(cache=True, parallel=True)
def mixed_nd(mu, lc, ls, pool_n, pool_m, pool_s, pool_l, k, zr, chir, offr, zs, chis, offs,
             sizes, ddof_denom, mu0, lhat0, ls0, pooled, t0):
    """Fresh data and/or accumulation, d-D, exact sufficient statistics, in place.

    Each batch is split into k real points (from N(mu0, Sigma0)) and M - k synthetic
    points; each part's mean and Wishart scatter are drawn, the parts pooled, and
    (accumulate) the batch pooled with the running pool (pool_n, pool_m, pool_s, pool_l).
    """
    B, gc, d = zr.shape
    for r in prange(B):
        a, e, bm = _ldl_scratch(d)
        lr = np.empty((d, d))
        lsy = np.empty((d, d))
        mr = np.empty(d)
        msy = np.empty(d)
        mb = np.empty(d)
        lb = np.empty((d, d))
        work = np.empty((d, d))
        m_new = np.empty(d)
        l_new = np.empty((d, d))
        lmod = np.empty((d, d))
        for j in range(gc):
            t = t0 + j
            m = sizes[t]
            kr = k[r, j]
            ks = m - kr
            if kr == 0 and not pooled:
                # the whole batch comes from the model: the LDL step keeps every direction
                # finite however anisotropic the collapse (as replace_nd)
                _mean_step(mu[r, t], lc[r, t], ls[r, t], zs[r, j], 1.0, np.sqrt(float(m)), e, mu[r, t + 1])
                _bartlett(chis[r, j], offs[r, j], m - 1, a)
                _ldl_step(lc[r, t], ls[r, t], a, 0.5 * np.log(m - ddof_denom), lc[r, t + 1], ls[r, t + 1], e, bm)
                continue
            smod = _to_scaled(lc[r, t], ls[r, t], lmod)
            n1 = 0.0
            s1 = _NEG_INF
            if kr > 0:
                n1 = float(kr)
                s1 = _part_nd(kr, mu0, lhat0, ls0, zr[r, j], chir[r, j], offr[r, j], a, mr, lr)
            else:
                mr[:] = 0.0
                lr[:, :] = 0.0
            n2 = 0.0
            s2 = _NEG_INF
            if ks > 0:
                n2 = float(ks)
                s2 = _part_nd(ks, mu[r, t], lmod, smod, zs[r, j], chis[r, j], offs[r, j], a, msy, lsy)
            else:
                msy[:] = 0.0
                lsy[:, :] = 0.0
            nb, sb = _combine_nd(n1, mr, s1, lr, n2, msy, s2, lsy, mb, lb, work)
            if pooled:
                nb, sb = _pool_nd(pool_n, pool_m, pool_s, pool_l, r, nb, mb, sb, lb, m_new, l_new, work)
                mb[:] = m_new
                lb[:, :] = l_new
            mu[r, t + 1, :] = mb
            _from_scaled(sb, lb, 0.5 * np.log(nb - ddof_denom), lc[r, t + 1], ls[r, t + 1])


@njit(cache=True, parallel=True)
def pool_update_1d(pool, nb, mb, lb, pooled, ddof_denom, mu_out, lv_out):
    """Sample path, 1-D: pool each replicate's batch statistics and set the next model."""
    for r in prange(nb.shape[0]):
        n, m, ls = nb[r], mb[r], lb[r]
        if pooled:
            n, m, ls = _pool_1d(pool, r, n, m, ls)
        mu_out[r] = m
        lv_out[r] = ls - np.log(n - ddof_denom)


@njit(cache=True, parallel=True)
def pool_update_nd(pool_n, pool_m, pool_s, pool_l, nb, mb, sb, lb, pooled, ddof_denom, mu_out, lc_out, ls_out):
    """Sample path, d-D: pool each replicate's batch statistics and set the next model."""
    R, d = mb.shape
    for r in prange(R):
        work = np.empty((d, d))
        m_new = np.empty(d)
        l_new = np.empty((d, d))
        n = nb[r]
        s = sb[r]
        m_new[:] = mb[r]
        l_new[:, :] = lb[r]
        if pooled:
            n, s = _pool_nd(pool_n, pool_m, pool_s, pool_l, r, nb[r], mb[r], sb[r], lb[r], m_new, l_new, work)
        mu_out[r, :] = m_new
        _from_scaled(s, l_new, 0.5 * np.log(n - ddof_denom), lc_out[r], ls_out[r])


@njit(cache=True, parallel=True)
def scatter_factor(y, ls_in, mean_out, lhat_out, ls_out):
    """Sample path, d-D: mean and normalised Cholesky of the scatter of points y (R, M, d).

    The points are in units of exp(ls_in[r]) around an offset; ls_out = ls_in + log-scale of L.
    """
    R, m, d = y.shape
    for r in prange(R):
        work = np.zeros((d, d))
        for i in range(d):
            acc = 0.0
            for p in range(m):
                acc += y[r, p, i]
            mean_out[r, i] = acc / m
        for p in range(m):
            for i in range(d):
                di = y[r, p, i] - mean_out[r, i]
                for j in range(i + 1):
                    work[i, j] += di * (y[r, p, j] - mean_out[r, j])
        for i in range(d):
            for j in range(i):
                work[j, i] = work[i, j]
        _cholesky(work, lhat_out[r])
        ls_out[r] = ls_in[r] + _normalise(lhat_out[r])


@njit(cache=True, parallel=True)
def to_scaled(lc, ls, l_out, c_out):
    """Batch of (C, s) model factors -> (c, L) with L = C diag(exp(s - c)), c = max s."""
    for r in prange(lc.shape[0]):
        c_out[r] = _to_scaled(lc[r], ls[r], l_out[r])


def warm():
    """Compile every kernel on tiny inputs (called once per test session)."""
    B, G = 2, 2
    mu = np.zeros((B, G + 1))
    lv = np.zeros((B, G + 1))
    z = np.ones((B, G))
    c = np.ones((B, G))
    v = np.ones(G)
    pool = np.zeros((B, 3))
    pool[:, 2] = -np.inf
    k = np.ones((B, G), dtype=np.int64)
    sizes = np.full(G, 3, dtype=np.int64)
    mixed_1d(mu, lv, pool, k, z, c, z, c, sizes, 1, 0.0, 0.0, True, 0)
    pool_update_1d(pool, np.full(B, 3.0), np.zeros(B), np.zeros(B), True, 1, np.zeros(B), np.zeros(B))
    d = 2
    mun = np.zeros((B, G + 1, d))
    lh = np.zeros((B, G + 1, d, d))
    lh[:, 0] = np.eye(d)
    lsn = np.zeros((B, G + 1, d))
    zn = np.ones((B, G, d))
    off = np.ones((B, G, 1))
    kd = np.full(G, 4, dtype=np.int64)
    replace_nd(mun, lh, lsn, zn, zn, off, v, np.zeros(G), kd, 0)
    pn = np.zeros(B)
    pm = np.zeros((B, d))
    ps = np.full(B, -np.inf)
    pl = np.zeros((B, d, d))
    sizes5 = np.full(G, 5, dtype=np.int64)
    mixed_nd(mun, lh, lsn, pn, pm, ps, pl, k, zn, zn, off, zn, zn, off, sizes5, 1, np.zeros(d), np.eye(d), 0.0, True, 0)
    pool_update_nd(pn, pm, ps, pl, np.full(B, 5.0), np.zeros((B, d)), np.zeros(B), np.stack([np.eye(d)] * B), True, 1,
                   np.zeros((B, d)), np.zeros((B, d, d)), np.zeros((B, d)))
    to_scaled(np.stack([np.eye(d)] * B), np.zeros((B, d)), np.zeros((B, d, d)), np.zeros(B))
    scatter_factor(np.ones((B, 3, d)) + np.arange(3.0)[None, :, None] * np.array([1.0, -1.0]), np.zeros(B),
                   np.zeros((B, d)), np.zeros((B, d, d)), np.zeros(B))


# --------------------------------------------------------------------------- new workflows, stable d-D refit
@njit(cache=True)
def _ldl_step(lc_t, ls_t, a, half_log_denom, lc_next, ls_next, e, bm):
    """One LDL^T refit: Sigma' = L A A^T L^T / D with L = C diag(e^s), A lower triangular.

    ``A`` is a Bartlett factor (exact path) or the Cholesky factor of the scatter
    of standard-normal points in the model's own basis (sample path). Only the
    ratios e^{s_i - s_j}, i > j, enter, so no scale under- or overflows.
    """
    d = a.shape[0]
    lo = ls_t[0]
    hi = ls_t[0]
    for q in range(d):
        lo = min(lo, ls_t[q])
        hi = max(hi, ls_t[q])
    fast = hi - lo < 460.0
    if fast:
        for q in range(d):
            e[q] = np.exp(ls_t[q] - hi)
    for i in range(d):
        for q in range(d):
            if q < i:
                ratio = e[i] / e[q] if fast else np.exp(ls_t[i] - ls_t[q])
                bm[i, q] = a[i, q] * ratio / a[q, q]
            elif q == i:
                bm[i, q] = 1.0
            else:
                bm[i, q] = 0.0
        ls_next[i] = ls_t[i] + np.log(a[i, i]) - half_log_denom
    _lower_matmul(lc_t, bm, lc_next)


@njit(cache=True, parallel=True)
def refit_model_points_nd(mu, lc, ls, z, half_log_denom, t):
    """Sample path, d-D, a batch drawn wholly from model t (replace): refit in the model's basis.

    z : (B, M, d) standard normals; the points are x = mu_t + L_t z. Their mean is
    mu_t + L_t zbar and their scatter L_t W L_t^T with W the scatter of z, so the
    refit is the LDL step with A = chol(W): no point is ever formed in absolute
    coordinates, and a direction collapsed far below the others stays finite.
    """
    B, m, d = z.shape
    for r in prange(B):
        zbar = np.zeros(d)
        w = np.zeros((d, d))
        a, e, bm = _ldl_scratch(d)
        for p in range(m):
            for i in range(d):
                zbar[i] += z[r, p, i]
        for i in range(d):
            zbar[i] /= m
        for p in range(m):
            for i in range(d):
                di = z[r, p, i] - zbar[i]
                for j in range(i + 1):
                    w[i, j] += di * (z[r, p, j] - zbar[j])
        for i in range(d):
            for j in range(i):
                w[j, i] = w[i, j]
        _cholesky(w, a)
        _mean_step(mu[r, t], lc[r, t], ls[r, t], zbar, 1.0, 1.0, e, mu[r, t + 1])
        _ldl_step(lc[r, t], ls[r, t], a, half_log_denom, lc[r, t + 1], ls[r, t + 1], e, bm)


@njit(cache=True, parallel=True)
def augment_1d(mu, lv, fixed, zs, cs, m, ddof_denom, t0):
    """Augmentation, 1-D, exact: fit to the fixed D_0 statistics plus m model draws, in place.

    fixed : (B, 3) (n0, mean, log scatter) of D_0 per replicate. zs, cs : (B, Gc)
    standard normals and chi2_{m-1} of the synthetic part. Generation 1 (t = 0) is D_0's fit.
    """
    B, gc = zs.shape
    for r in prange(B):
        for j in range(gc):
            t = t0 + j
            if t == 0:
                nb, mb, lb = fixed[r, 0], fixed[r, 1], fixed[r, 2]
            else:
                n2, m2, l2 = _part_1d(m, mu[r, t], lv[r, t], zs[r, j], cs[r, j])
                nb, mb, lb = _combine_1d(fixed[r, 0], fixed[r, 1], fixed[r, 2], n2, m2, l2)
            mu[r, t + 1] = mb
            lv[r, t + 1] = lb - np.log(nb - ddof_denom)


@njit(cache=True, parallel=True)
def augment_nd(mu, lc, ls, fix_n, fix_m, fix_s, fix_l, zs, chis, offs, m, ddof_denom, t0):
    """Augmentation, d-D, exact: D_0's (n0, mean, scaled scatter factor) plus m model draws (Wishart)."""
    B, gc, d = zs.shape
    for r in prange(B):
        a = np.empty((d, d))
        lsy = np.empty((d, d))
        msy = np.empty(d)
        mb = np.empty(d)
        lb = np.empty((d, d))
        work = np.empty((d, d))
        lmod = np.empty((d, d))
        for j in range(gc):
            t = t0 + j
            if t == 0:
                nb = fix_n[r]
                sb = fix_s[r]
                mb[:] = fix_m[r]
                lb[:, :] = fix_l[r]
            else:
                smod = _to_scaled(lc[r, t], ls[r, t], lmod)
                s2 = _part_nd(m, mu[r, t], lmod, smod, zs[r, j], chis[r, j], offs[r, j], a, msy, lsy)
                nb, sb = _combine_nd(fix_n[r], fix_m[r], fix_s[r], fix_l[r], float(m), msy, s2, lsy, mb, lb, work)
            mu[r, t + 1, :] = mb
            _from_scaled(sb, lb, 0.5 * np.log(nb - ddof_denom), lc[r, t + 1], ls[r, t + 1])


@njit(cache=True, parallel=True)
def floyd_subset(u, n_pool, marker, stamp, out):
    """Uniform subsets without replacement (Floyd's algorithm) from pre-drawn uniforms.

    u : (B, m) uniforms in [0, 1); n_pool : pool size N; marker : (B, >= N) int64
    scratch (an index is taken when marker == stamp); out : (B, m) chosen indices.
    """
    B, m = u.shape
    for r in prange(B):
        q = 0
        for j in range(n_pool - m, n_pool):
            c = int(u[r, q] * (j + 1))
            c = min(c, j)
            if marker[r, c] == stamp:
                c = j
            marker[r, c] = stamp
            out[r, q] = c
            q += 1


@njit(cache=True, parallel=True)
def from_scaled_batch(s, l, half_log_denom, lc_out, ls_out):
    """Batch of dataset scatters (c, L) -> model factors (C, s) of scatter / denom."""
    for r in prange(s.shape[0]):
        _from_scaled(s[r], l[r], half_log_denom, lc_out[r], ls_out[r])
