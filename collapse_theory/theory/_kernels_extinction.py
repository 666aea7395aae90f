"""Private Numba kernels for the extinction recursion of one state's count (no validation here).

Every state of the discrete chain (replace workflow, constant ``M``) has a
count that is the same binomial chain, ``X_{s+1} ~ Binomial(M, X_s / M)``; only
its first-step law ``Binomial(M, p_i)`` differs between states. So

    Z_s(j) = P(X_s = 0 | X_0 = j),   Z_0 = 1{j = 0},   Z_s = P Z_{s-1},

computed once, serves every state: ``P(X_i(t) = 0) = sum_k Binom(M, p_i)(k)
Z_{t-1}(k)``. ``Z_s`` decreases in ``j`` (the chain is stochastically
monotone) and vanishes fast: for ``M`` large, ``Z_s(j)`` is about
``(1 - 2/s)^j``, so only ``j`` up to ``J_s`` of order ``20 s`` matter, whatever
``M`` is. The recursion keeps ``Z_s`` on ``0..J_s``, where ``J_s`` is the last
``j`` with ``Z_s(j) >= tol``, and treats the rest as 0. Each step adds at most
``tol`` to the error of any entry (transition rows are sub-stochastic), so
after ``s`` steps every entry is within ``s * tol`` plus the row-window
truncation (below 1e-15 per row, as in :func:`..discrete.transition_matrix`).

Binomial probabilities are Loader's saddle-point form (``stirlerr`` and
``bd0``, as in R's ``dbinom``), accurate to a few ulp at ``M = 10^6`` where
``lgamma`` differences lose about 1e-9; a row is filled from its mode outwards
by the ratio recurrence.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_LN_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


@njit(cache=True)
def _stirlerr(n):
    """log(n!) - log(sqrt(2 pi n) (n/e)^n)."""
    if n <= 15.0:
        return math.lgamma(n + 1.0) - (n + 0.5) * math.log(n) + n - _LN_SQRT_2PI
    nn = n * n
    s0 = 1.0 / 12.0
    s1 = 1.0 / 360.0
    s2 = 1.0 / 1260.0
    s3 = 1.0 / 1680.0
    s4 = 1.0 / 1188.0
    if n > 500.0:
        return (s0 - s1 / nn) / n
    if n > 80.0:
        return (s0 - (s1 - s2 / nn) / nn) / n
    if n > 35.0:
        return (s0 - (s1 - (s2 - s3 / nn) / nn) / nn) / n
    return (s0 - (s1 - (s2 - (s3 - s4 / nn) / nn) / nn) / nn) / n


@njit(cache=True)
def _bd0(x, npr):
    """x log(x / np) + np - x, without cancellation near x = np."""
    if abs(x - npr) < 0.1 * (x + npr):
        v = (x - npr) / (x + npr)
        s = (x - npr) * v
        ej = 2.0 * x * v
        v2 = v * v
        j = 1
        while j < 1000:
            ej *= v2
            s1 = s + ej / (2 * j + 1)
            if s1 == s:
                return s1
            s = s1
            j += 1
        return s
    return x * math.log(x / npr) + npr - x


@njit(cache=True)
def _dbinom(k, M, p):
    """Binomial(M, p) probability of ``k`` (Loader 2000)."""
    if p <= 0.0:
        return 1.0 if k == 0 else 0.0
    if p >= 1.0:
        return 1.0 if k == M else 0.0
    if k == 0:
        return math.exp(M * math.log1p(-p))
    if k == M:
        return math.exp(M * math.log(p))
    x = float(k)
    n = float(M)
    q = 1.0 - p
    lc = _stirlerr(n) - _stirlerr(x) - _stirlerr(n - x) - _bd0(x, n * p) - _bd0(n - x, n * q)
    lf = 2.0 * _LN_SQRT_2PI + math.log(x) + math.log1p(-x / n)
    return math.exp(lc - 0.5 * lf)


@njit(cache=True)
def window(M, p, width):
    """Truncation window ``[lo, hi]`` of Binomial(M, p): mean +- (width sd + width)."""
    mu = M * p
    sd = math.sqrt(M * p * (1.0 - p))
    lo = max(0, int(math.floor(mu - width * sd - width)))
    hi = min(M, int(math.ceil(mu + width * sd + width)))
    return lo, hi


@njit(cache=True)
def fill_pmf(M, p, lo, hi, out):
    """``out[k - lo] = Binomial(M, p)(k)`` for ``k = lo..hi`` (mode, then ratios outwards)."""
    if p <= 0.0 or p >= 1.0:
        for k in range(lo, hi + 1):
            out[k - lo] = _dbinom(k, M, p)
        return
    mode = int(math.floor((M + 1) * p))
    if mode > hi:
        mode = hi
    if mode < lo:
        mode = lo
    v0 = _dbinom(mode, M, p)
    out[mode - lo] = v0
    r = p / (1.0 - p)
    v = v0
    for k in range(mode, hi):
        v *= (M - k) / (k + 1.0) * r
        out[k + 1 - lo] = v
    v = v0
    for k in range(mode, lo, -1):
        v *= k / ((M - k + 1.0) * r)
        out[k - 1 - lo] = v


@njit(cache=True)
def extinction_table(M, smax, keep, tol, width, row_budget):
    """``Z_s`` on ``0..J_s`` for ``s = 0..smax``, keeping the rows with ``keep[s]``.

    Returns ``(J, offsets, flat)``: ``J[s]`` the last index held for step ``s``
    (shape ``(smax + 1,)``), and for kept steps ``Z_s = flat[offsets[s]:
    offsets[s] + J[s] + 1]`` (``offsets[s] = -1`` for steps not kept).
    Transition rows are computed once and cached while their total length
    stays within ``row_budget`` entries; rows past it are recomputed per step.
    """
    J = np.zeros(smax + 1, dtype=np.int64)
    offsets = np.full(smax + 1, -1, dtype=np.int64)
    cap = 1024
    prev = np.zeros(cap)
    cur = np.zeros(cap)
    prev[0] = 1.0
    # cached rows j = 1..nrows-1: row_lo[j], values at row_off[j]:row_off[j+1]
    row_lo = np.zeros(cap, dtype=np.int64)
    row_off = np.zeros(cap + 1, dtype=np.int64)
    vals = np.zeros(4096)
    nrows = 1
    store = np.zeros(1024)
    used = 0
    if keep[0]:
        offsets[0] = 0
        store[0] = 1.0
        used = 1
    buf = np.zeros(64)
    for s in range(1, smax + 1):
        jp = J[s - 1]
        j = 0
        while j <= M:
            if j >= cap:
                ncap = 2 * cap
                t1 = np.zeros(ncap)
                t1[:cap] = prev
                prev = t1
                t2 = np.zeros(ncap)
                t2[:cap] = cur
                cur = t2
                t3 = np.zeros(ncap, dtype=np.int64)
                t3[:cap] = row_lo
                row_lo = t3
                t4 = np.zeros(ncap + 1, dtype=np.int64)
                t4[: cap + 1] = row_off
                row_off = t4
                cap = ncap
            if j == 0:
                val = 1.0
            else:
                if j < nrows:
                    lo = row_lo[j]
                    o = row_off[j]
                    hi = lo + (row_off[j + 1] - o) - 1
                    if lo > jp:
                        break
                    top = hi if hi < jp else jp
                    val = 0.0
                    for k in range(lo, top + 1):
                        val += vals[o + k - lo] * prev[k]
                else:
                    lo, hi = window(M, j / M, width)
                    if lo > jp:
                        break
                    n = hi - lo + 1
                    o = row_off[nrows]
                    if j == nrows and o + n <= row_budget:
                        if o + n > vals.size:
                            nv = np.zeros(max(2 * vals.size, o + n))
                            nv[:o] = vals[:o]
                            vals = nv
                        fill_pmf(M, j / M, lo, hi, vals[o : o + n])
                        row_lo[j] = lo
                        row_off[j + 1] = o + n
                        nrows += 1
                        w = vals[o : o + n]
                    else:
                        if n > buf.size:
                            buf = np.zeros(2 * n)
                        fill_pmf(M, j / M, lo, hi, buf)
                        w = buf
                    top = hi if hi < jp else jp
                    val = 0.0
                    for k in range(lo, top + 1):
                        val += w[k - lo] * prev[k]
            if val < tol:
                break
            cur[j] = val if val < 1.0 else 1.0
            j += 1
        J[s] = j - 1
        for k in range(j, jp + 1):
            cur[k] = 0.0
        prev, cur = cur, prev
        if keep[s]:
            need = used + J[s] + 1
            if need > store.size:
                nsz = max(2 * store.size, need)
                ns = np.zeros(nsz)
                ns[:used] = store[:used]
                store = ns
            offsets[s] = used
            store[used:need] = prev[: J[s] + 1]
            used = need
    return J, offsets, store[:used]


@njit(cache=True)
def state_extinction(M, p, steps, J, offsets, flat, width):
    """``out[i, n] = sum_k Binomial(M, p_i)(k) Z_{steps[n]}(k)``, shape ``(K, len(steps))``."""
    K = p.size
    out = np.zeros((K, steps.size))
    jmax = 0
    for n in range(steps.size):
        if J[steps[n]] > jmax:
            jmax = J[steps[n]]
    buf = np.zeros(64)
    for i in range(K):
        lo, hi = window(M, p[i], width)
        if lo > jmax:
            continue
        if hi > jmax:
            hi = jmax
        n_ = hi - lo + 1
        if n_ > buf.size:
            buf = np.zeros(2 * n_)
        fill_pmf(M, p[i], lo, hi, buf)
        for n in range(steps.size):
            s = steps[n]
            top = hi if hi < J[s] else J[s]
            off = offsets[s]
            acc = 0.0
            for k in range(lo, top + 1):
                acc += buf[k - lo] * flat[off + k]
            out[i, n] = acc
    return out


@njit(cache=True)
def weighted_first_step(M, p, weights, jmax, width):
    """``w[k] = sum_i weights_i Binomial(M, p_i)(k)`` for ``k = 0..jmax``: the first-step law, aggregated."""
    w = np.zeros(jmax + 1)
    buf = np.zeros(64)
    for i in range(p.size):
        lo, hi = window(M, p[i], width)
        if lo > jmax:
            continue
        if hi > jmax:
            hi = jmax
        n_ = hi - lo + 1
        if n_ > buf.size:
            buf = np.zeros(2 * n_)
        fill_pmf(M, p[i], lo, hi, buf)
        for k in range(lo, hi + 1):
            w[k] += weights[i] * buf[k - lo]
    return w
