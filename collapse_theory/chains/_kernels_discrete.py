"""Numba kernels of the discrete collapse chain (private; arithmetic only).

The public wrapper (:mod:`collapse_theory.chains.discrete`) validates the
input, normalises the rng into one 32-bit seed per replicate and shapes the
result. Kernels use ``error_model="numpy"`` (no division-by-zero checks; the
wrappers have validated every input) and never ``fastmath``. Every replicate
is one ``prange`` iteration that seeds its own generator from its own seed
first, so a replicate's path depends only on its seed, never on the number
of threads.

A multinomial draw is a sequence of conditional binomials on integer counts,
``x_k ~ Binomial(n_left, c_k / c_left)`` (``np.random.multinomial`` inside
Numba fails on floating-point drift, numba#3426). Each replicate keeps a
compact list of the indices of its live states, so a state that has vanished
costs nothing afterwards; a draw stops as soon as all ``n`` samples are placed.
Draws from ``p0`` visit the states in decreasing ``p0`` order with the exact
remaining mass (``suffix``), so a draw of ``n`` samples from a long-tailed
``p0`` stops after the few states that receive them.

Two exact shortcuts replace binomials where they are cheaper (a binomial
draw costs as much as some tens of uniform integers):

* states holding at most ``SMALL`` copies are drawn together: one binomial
  gives how many of the ``n`` samples fall on them, and each of those picks
  one of their copies uniformly (a multinomial split into a binomial between
  two groups and a multinomial within the group, the latter drawn as the
  sampling-with-replacement it is);
* ``n`` samples from ``p0`` over many more states than ``n`` are drawn one by
  one with Walker's alias table instead of one binomial per state.

Every replicate draws from its own xoshiro256** stream (Blackman & Vigna
2018) seeded by SplitMix64 from the replicate's seed: uniform integers
bounded without bias by Lemire's method, binomials by inversion for
``n min(p, 1 - p) < 10`` and otherwise by Hörmann's transformed rejection
with squeeze (BTRS; W. Hörmann, "The generation of binomial random
variates", J. Stat. Comput. Simul. 46, 1993), which accepts most draws after
two uniforms and a few flops (BTPE, NumPy's choice, needs more set-up per
call, and in this chain the probability changes at every call).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

__all__ = ["simulate_kernel", "absorb_kernel", "build_alias", "binomial_sample", "warm"]

#: Counts at or below this are drawn by resampling copies rather than by binomials.
SMALL = 32

#: Draw from p0 by the alias table when n * ALIAS_RATIO < number of states.
ALIAS_RATIO = 8

_U32 = np.uint64(0xFFFFFFFF)

#: log(k!) for k = 0.._LOGFACT_N - 1 (a compile-time constant of the kernels): the
#: rejection step of BTRS needs four log-factorials, which cost more than the
#: rest of a draw when computed by lgamma.
_LOGFACT_N = 1 << 16
_LOGFACT = np.array([math.lgamma(k + 1.0) for k in range(_LOGFACT_N)])


@njit(inline="always", error_model="numpy")
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@njit(error_model="numpy")
def _xoshiro_next(s):
    result = _rotl(s[1] * np.uint64(5), 7) * np.uint64(9)
    t = s[1] << np.uint64(17)
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl(s[3], 45)
    return result


@njit(error_model="numpy")
def _xoshiro_seed(seed):
    s = np.empty(4, dtype=np.uint64)
    z = np.uint64(seed)
    for i in range(4):
        z += np.uint64(0x9E3779B97F4A7C15)
        x = z
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        s[i] = x ^ (x >> np.uint64(31))
    return s


@njit(error_model="numpy")
def _bounded(s, bound):
    """Uniform integer in [0, bound), bound < 2**32, without bias (Lemire 2019)."""
    b = np.uint64(bound)
    m = (_xoshiro_next(s) >> np.uint64(32)) * b
    low = m & _U32
    if low < b:
        t = (np.uint64(0x100000000) - b) % b
        while low < t:
            m = (_xoshiro_next(s) >> np.uint64(32)) * b
            low = m & _U32
    return np.int64(m >> np.uint64(32))


@njit(error_model="numpy")
def _uniform(s):
    return np.float64(_xoshiro_next(s) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(error_model="numpy")
def _binomial_inversion(s, n, p):
    q = 1.0 - p
    qn = np.exp(n * np.log(q))
    np_ = n * p
    bound = min(n, np_ + 10.0 * np.sqrt(np_ * q + 1))
    x = 0
    px = qn
    u = _uniform(s)
    while u > px:
        x += 1
        if x > bound:
            x = 0
            px = qn
            u = _uniform(s)
        else:
            u -= px
            px = ((n - x + 1) * p * px) / (x * q)
    return x


@njit(error_model="numpy")
def _binomial_btrs(s, n, p):
    """Transformed rejection with squeeze (Hörmann 1993, BTRS) for ``n p >= 10``, ``p <= 1/2``.

    About 80% of draws need two uniforms and a few flops; the rest are
    accepted or rejected against the exact log-pmf (with the ``log v`` the
    paper's listing omits).
    """
    spq = np.sqrt(n * p * (1.0 - p))
    b = 1.15 + 2.53 * spq
    a = -0.0873 + 0.0248 * b + 0.01 * p
    c = n * p + 0.5
    vr = 0.92 - 4.2 / b
    ready = False
    alpha = 0.0
    lpq = 0.0
    m = 0.0
    h = 0.0
    while True:
        u = _uniform(s) - 0.5
        us = 0.5 - abs(u)
        if us <= 0.0:
            continue
        kf = np.floor((2.0 * a / us + b) * u + c)
        if kf < 0.0 or kf > n:
            continue
        v = _uniform(s)
        if us >= 0.07 and v <= vr:
            return np.int64(kf)
        if not ready:
            alpha = (2.83 + 5.1 / b) * spq
            lpq = np.log(p / (1.0 - p))
            m = np.floor((n + 1) * p)
            if n < _LOGFACT_N:
                h = _LOGFACT[np.int64(m)] + _LOGFACT[np.int64(n - m)]
            else:
                h = math.lgamma(m + 1.0) + math.lgamma(n - m + 1.0)
            ready = True
        v *= alpha / (a / (us * us) + b)
        if v <= 0.0:
            continue
        if n < _LOGFACT_N:
            lk = _LOGFACT[np.int64(kf)] + _LOGFACT[np.int64(n - kf)]
        else:
            lk = math.lgamma(kf + 1.0) + math.lgamma(n - kf + 1.0)
        if np.log(v) <= h - lk + (kf - m) * lpq:
            return np.int64(kf)


@njit(error_model="numpy")
def _binomial(s, n, p):
    """Binomial(n, p) from the xoshiro stream ``s``: inversion for n min(p, 1-p) < 10, BTRS otherwise."""
    if n <= 0 or p <= 0.0:
        return 0
    if p >= 1.0:
        return n
    if p <= 0.5:
        if p * n < 10.0:
            return _binomial_inversion(s, n, p)
        return _binomial_btrs(s, n, p)
    q = 1.0 - p
    if q * n < 10.0:
        return n - _binomial_inversion(s, n, q)
    return n - _binomial_btrs(s, n, q)


@njit(cache=True, error_model="numpy")
def binomial_sample(seed, n, p, size):
    """``size`` Binomial(n, p) draws from a fresh stream seeded with ``seed`` (for tests and benchmarks)."""
    xs = _xoshiro_seed(seed)
    out = np.empty(size, dtype=np.int64)
    for i in range(size):
        out[i] = _binomial(xs, n, p)
    return out


@njit(inline="always", error_model="numpy")
def _chain_buffers(K):
    """A replicate's counts, next counts, live-state list and live flags over ``K`` states.

    Inlined, so the compiler still sees four fresh, unaliased allocations.
    """
    return (np.zeros(K, dtype=np.int64), np.zeros(K, dtype=np.int64), np.empty(K, dtype=np.int64),
            np.zeros(K, dtype=np.bool_))


@njit(inline="always", error_model="numpy")
def _alias_push(i, scaled, small, ns, large, nl):
    """Put index ``i`` on the alias table's small or large stack; returns the stack sizes."""
    if scaled[i] < 1.0:
        small[ns] = i
        return ns + 1, nl
    large[nl] = i
    return ns, nl + 1


@njit(cache=True, error_model="numpy")
def build_alias(w):
    """Walker/Vose alias table for the probability vector ``w`` (positive entries)."""
    n = w.size
    prob = np.empty(n)
    alias = np.zeros(n, dtype=np.int64)
    scaled = w * (n / w.sum())
    small = np.empty(n, dtype=np.int64)
    large = np.empty(n, dtype=np.int64)
    ns = 0
    nl = 0
    for i in range(n):
        ns, nl = _alias_push(i, scaled, small, ns, large, nl)
    while ns > 0 and nl > 0:
        ns -= 1
        a = small[ns]
        nl -= 1
        g = large[nl]
        prob[a] = scaled[a]
        alias[a] = g
        scaled[g] = (scaled[g] + scaled[a]) - 1.0
        ns, nl = _alias_push(g, scaled, small, ns, large, nl)
    while nl > 0:
        nl -= 1
        prob[large[nl]] = 1.0
    while ns > 0:  # round-off leftovers
        ns -= 1
        prob[small[ns]] = 1.0
    return prob, alias


@njit(cache=True, error_model="numpy")
def _draw_p0(n, p0, order, suffix, aprob, alias, xs, out, live, nlive, inlive):
    """Add ``n`` samples from ``p0`` to ``out``; append newly present states to ``live``.

    ``aprob``, ``alias``: alias table over ``order`` (used when ``n`` is small
    against the number of states).
    """
    m = order.size
    if n * ALIAS_RATIO < m:
        for _ in range(n):
            i = _bounded(xs, m)
            if _uniform(xs) >= aprob[i]:
                i = alias[i]
            k = order[i]
            if not inlive[k]:
                inlive[k] = True
                live[nlive] = k
                nlive += 1
            out[k] += 1
        return nlive
    n_left = n
    for j in range(m):
        if n_left == 0:
            break
        k = order[j]
        pk = p0[k]
        rem = suffix[j]
        if j == m - 1 or pk >= rem:
            x = n_left
        else:
            x = _binomial(xs, n_left, pk / rem)
        if x > 0:
            if not inlive[k]:
                inlive[k] = True
                live[nlive] = k
                nlive += 1
            out[k] += x
            n_left -= x
    return nlive


@njit(cache=True, error_model="numpy")
def _draw_counts(n, counts, total, live, nlive, out, xs, labels):
    """Add ``n`` samples from the empirical distribution ``counts / total`` (live states only) to ``out``.

    States with at most ``SMALL`` copies share one binomial and are then
    resampled copy by copy; the others get a conditional binomial each.
    """
    m_small = 0
    for j in range(nlive):
        c = counts[live[j]]
        if c <= SMALL:
            m_small += c
    n_small = 0
    if m_small > labels.size:
        m_small = 0  # no room to list the copies (pooled data): binomials throughout
    elif m_small == total:
        n_small = n
    elif m_small > 0:
        n_small = _binomial(xs, n, m_small / total)
    n_left = n - n_small
    c_left = total - m_small
    pos = 0
    for j in range(nlive):
        k = live[j]
        c = counts[k]
        if m_small > 0 and c <= SMALL:
            for _ in range(c):
                labels[pos] = k
                pos += 1
            continue
        if n_left == 0:
            continue
        if c >= c_left:
            x = n_left
        else:
            x = _binomial(xs, n_left, c / c_left)
        out[k] += x
        n_left -= x
        c_left -= c
    if n_small > 0:
        # Lemire's bounded integers, two per 64-bit output; t = 2^32 mod pos
        b = np.uint64(pos)
        t = (np.uint64(0x100000000) - b) % b
        i = 0
        while i < n_small:
            x = _xoshiro_next(xs)
            m = (x >> np.uint64(32)) * b
            if (m & _U32) >= t:
                out[labels[np.int64(m >> np.uint64(32))]] += 1
                i += 1
            if i < n_small:
                m = (x & _U32) * b
                if (m & _U32) >= t:
                    out[labels[np.int64(m >> np.uint64(32))]] += 1
                    i += 1


@njit(cache=True, error_model="numpy")
def _draw_float(n, q, out, xs):
    """Add ``n`` samples from the probability vector ``q`` (all states) to ``out``."""
    n_left = n
    rem = 1.0
    K = q.size
    last = K - 1
    while last > 0 and q[last] <= 0.0:
        last -= 1
    for k in range(last + 1):
        if n_left == 0:
            break
        if k == last or q[k] >= rem:
            x = n_left
        elif q[k] <= 0.0:
            x = 0
        else:
            x = _binomial(xs, n_left, q[k] / rem)
        out[k] += x
        n_left -= x
        rem -= q[k]


@njit(cache=True, error_model="numpy")
def _record(t, cur, total, live, nlive, p0, reward, rs, sup, ent, het, mass, probs, rew, r):
    """Write generation ``t`` of replicate ``r`` into the outputs that ``rs`` selects.

    ``rs`` (bool, 5 or 6): support, entropy, heterozygosity, alive mass, probs
    and, with a sixth entry, the mean reward (``reward`` per state into
    ``rew``); without it ``reward`` and ``rew`` are not read (0-size dummies).
    """
    inv = 1.0 / total
    want_rew = rs.size > 5 and rs[5]
    if rs[0]:
        sup[r, t] = nlive
    if rs[1] or rs[2] or rs[3] or want_rew:
        e = 0.0
        s2 = 0.0
        pm = 0.0
        rw = 0.0
        for j in range(nlive):
            k = live[j]
            x = cur[k] * inv
            e -= x * np.log(x)
            s2 += x * x
            pm += p0[k]
            if want_rew:
                rw += x * reward[k]
        if rs[1]:
            ent[r, t] = e
        if rs[2]:
            het[r, t] = 1.0 - s2
        if rs[3]:
            mass[r, t] = pm
        if want_rew:
            rew[r, t] = rw
    if rs[4]:
        for j in range(nlive):
            k = live[j]
            probs[r, t, k] = cur[k] * inv


@njit(cache=True, error_model="numpy")
def _replace_step(cur, nxt, live, nlive, inlive, gone, t):
    """The replace step over the live states: ``cur <- nxt``, ``nxt <- 0``; returns the new ``nlive``.

    States that received no sample leave ``live`` (order kept) and ``inlive``;
    where ``gone`` has room (shape (K,)) it records ``t`` for them, the
    generation they went extinct (a 0-size ``gone`` records nothing).
    """
    keep = 0
    for j in range(nlive):
        k = live[j]
        cur[k] = nxt[k]
        nxt[k] = 0
        if cur[k] > 0:
            live[keep] = k
            keep += 1
        else:
            inlive[k] = False
            if gone.size > 0:
                gone[k] = t
    return keep


@njit(cache=True, parallel=True, error_model="numpy")
def simulate_kernel(p0, order, suffix, aprob, alias, sizes, alpha, beta, gamma, pooled, seeds, rs, sup, ent, het, mass, probs):
    """Run ``R = seeds.size`` replicates for ``G = sizes.size`` generations.

    ``rs`` (bool, 5): record support, entropy, heterozygosity, alive mass,
    probs; outputs have shape (R, G + 1[, K]) and column 0 is filled by the
    caller. ``pooled``: accumulate (counts are the pool of all data so far).
    ``beta > 0`` (not pooled): the sampling distribution is carried as a float
    vector ``q_t = alpha m_t + beta q_{t-1} + gamma p0`` over all states.
    ``aprob``, ``alias``: alias table of ``p0[order]``.
    """
    R = seeds.size
    G = sizes.size
    K = p0.size
    nlab = 0
    if not pooled:
        for t in range(G):
            nlab = max(nlab, sizes[t])
    no_reward = np.empty(0)  # rs has no reward entry: never read
    no_rew = np.empty((0, 0))
    for r in prange(R):
        xs = _xoshiro_seed(seeds[r])
        labels = np.empty(nlab, dtype=np.int64)
        cur, nxt, live, inlive = _chain_buffers(K)
        no_gone = np.empty(0, dtype=np.int64)
        q = np.empty(0, dtype=np.float64)
        if beta > 0.0:
            q = p0.copy()
        # generation 1: M_1 samples from p0 itself
        nlive = _draw_p0(sizes[0], p0, order, suffix, aprob, alias, xs, cur, live, 0, inlive)
        total = sizes[0]
        if G >= 1:
            _record(1, cur, total, live, nlive, p0, no_reward, rs, sup, ent, het, mass, probs, no_rew, r)
        for t in range(1, G):
            M = sizes[t]
            if beta > 0.0:
                for k in range(K):
                    q[k] = alpha * cur[k] / total + beta * q[k] + gamma * p0[k]
                _draw_float(M, q, nxt, xs)
                nlive = 0
                for k in range(K):
                    cur[k] = nxt[k]
                    nxt[k] = 0
                    inlive[k] = cur[k] > 0
                    if inlive[k]:
                        live[nlive] = k
                        nlive += 1
                total = M
            else:
                n_real = 0
                if gamma > 0.0:
                    n_real = _binomial(xs, M, gamma)
                _draw_counts(M - n_real, cur, total, live, nlive, nxt, xs, labels)
                if n_real > 0:
                    nlive = _draw_p0(n_real, p0, order, suffix, aprob, alias, xs, nxt, live, nlive, inlive)
                if pooled:
                    for j in range(nlive):
                        k = live[j]
                        cur[k] += nxt[k]
                        nxt[k] = 0
                    total += M
                else:
                    nlive = _replace_step(cur, nxt, live, nlive, inlive, no_gone, t)
                    total = M
            _record(t + 1, cur, total, live, nlive, p0, no_reward, rs, sup, ent, het, mass, probs, no_rew, r)


@njit(cache=True, parallel=True, error_model="numpy")
def absorb_kernel(p0, order, suffix, aprob, alias, sizes, seeds, time, state, extinction):
    """Replace workflow until one state holds all mass or ``sizes.size`` generations.

    ``extinction`` (R, K) must be filled with -1 by the caller; states with
    ``p0 = 0`` get 0. ``state`` is -1 for a censored replicate.
    """
    R = seeds.size
    G = sizes.size
    K = p0.size
    nlab = 0
    for t in range(G):
        nlab = max(nlab, sizes[t])
    for r in prange(R):
        xs = _xoshiro_seed(seeds[r])
        for k in range(K):
            if p0[k] <= 0.0:
                extinction[r, k] = 0
        if order.size == 1:
            time[r] = 0
            state[r] = order[0]
            continue
        cur, nxt, live, inlive = _chain_buffers(K)
        labels = np.empty(nlab, dtype=np.int64)
        t = 0
        nlive = 0
        total = 0
        if G >= 1:
            nlive = _draw_p0(sizes[0], p0, order, suffix, aprob, alias, xs, cur, live, 0, inlive)
            total = sizes[0]
            t = 1
            for j in range(order.size):
                k = order[j]
                if not inlive[k]:
                    extinction[r, k] = 1
        while nlive > 1 and t < G:
            M = sizes[t]
            if nlive == 2:
                # the endgame, where most of the time is spent: one binomial per generation
                a = live[0]
                x = _binomial(xs, M, cur[a] / total)
                nxt[a] = x
                nxt[live[1]] = M - x
            else:
                _draw_counts(M, cur, total, live, nlive, nxt, xs, labels)
            t += 1
            nlive = _replace_step(cur, nxt, live, nlive, inlive, extinction[r], t)
            total = M
        time[r] = t
        state[r] = live[0] if nlive == 1 else -1


def warm() -> None:
    """Compile (or load from the cache) every kernel on tiny inputs."""
    p0 = np.array([0.5, 0.3, 0.2])
    order = np.array([0, 1, 2], dtype=np.int64)
    suffix = np.array([1.0, 0.5, 0.2])
    aprob, alias = build_alias(p0[order])
    sizes = np.array([4, 4, 4], dtype=np.int64)
    seeds = np.array([1, 2], dtype=np.uint32)
    rs = np.ones(5, dtype=np.bool_)
    sup = np.zeros((2, 4), dtype=np.int64)
    f = np.zeros((2, 4))
    probs = np.zeros((2, 4, 3))
    simulate_kernel(p0, order, suffix, aprob, alias, sizes, 1.0, 0.0, 0.0, False, seeds, rs, sup, f, f.copy(), f.copy(), probs)
    time = np.zeros(2, dtype=np.int64)
    state = np.zeros(2, dtype=np.int64)
    ext = np.full((2, 3), -1, dtype=np.int64)
    absorb_kernel(p0, order, suffix, aprob, alias, sizes, seeds, time, state, ext)
    binomial_sample(1, 10, 0.5, 2)
