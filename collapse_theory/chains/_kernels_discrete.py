"""Numba kernels of the discrete collapse chain (private; arithmetic only).

The public wrapper (:mod:`collapse_theory.chains.discrete`) validates the
input, normalises the rng into one 32-bit seed per replicate and shapes the
result. Here every replicate is one ``prange`` iteration that seeds Numba's
generator with its own seed first, so a replicate's path depends only on its
seed, never on the number of threads.

A multinomial draw is a sequence of conditional binomials on integer counts,
``x_k ~ Binomial(n_left, c_k / c_left)`` (``np.random.multinomial`` inside
Numba fails on floating-point drift, numba#3426). Each replicate keeps a
compact list of the indices of its live states, so a state that has vanished
costs nothing afterwards; a draw stops as soon as all ``n`` samples are placed.
Draws from ``p0`` visit the states in decreasing ``p0`` order with the exact
remaining mass (``suffix``), so a draw of ``n`` samples from a long-tailed
``p0`` stops after the few states that receive them.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["simulate_kernel", "absorb_kernel", "warm"]


@njit(cache=True)
def _draw_p0(n, p0, order, suffix, out, live, nlive, inlive):
    """Add ``n`` samples from ``p0`` to ``out``; append newly present states to ``live``."""
    n_left = n
    m = order.size
    for j in range(m):
        if n_left == 0:
            break
        k = order[j]
        pk = p0[k]
        rem = suffix[j]
        if j == m - 1 or pk >= rem:
            x = n_left
        else:
            x = np.random.binomial(n_left, pk / rem)
        if x > 0:
            if not inlive[k]:
                inlive[k] = True
                live[nlive] = k
                nlive += 1
            out[k] += x
            n_left -= x
    return nlive


@njit(cache=True)
def _draw_counts(n, counts, total, live, nlive, out):
    """Add ``n`` samples from the empirical distribution ``counts / total`` (live states only) to ``out``."""
    n_left = n
    c_left = total
    for j in range(nlive):
        if n_left == 0:
            break
        k = live[j]
        c = counts[k]
        if c >= c_left:
            x = n_left
        else:
            x = np.random.binomial(n_left, c / c_left)
        out[k] += x
        n_left -= x
        c_left -= c


@njit(cache=True)
def _draw_float(n, q, out):
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
            x = np.random.binomial(n_left, q[k] / rem)
        out[k] += x
        n_left -= x
        rem -= q[k]


@njit(cache=True)
def _record(t, cur, total, live, nlive, p0, rs, sup, ent, het, mass, probs, r):
    inv = 1.0 / total
    if rs[0]:
        sup[r, t] = nlive
    if rs[1] or rs[2] or rs[3]:
        e = 0.0
        s2 = 0.0
        pm = 0.0
        for j in range(nlive):
            k = live[j]
            x = cur[k] * inv
            e -= x * np.log(x)
            s2 += x * x
            pm += p0[k]
        if rs[1]:
            ent[r, t] = e
        if rs[2]:
            het[r, t] = 1.0 - s2
        if rs[3]:
            mass[r, t] = pm
    if rs[4]:
        for j in range(nlive):
            k = live[j]
            probs[r, t, k] = cur[k] * inv


@njit(cache=True, parallel=True)
def simulate_kernel(p0, order, suffix, sizes, alpha, beta, gamma, pooled, seeds, rs, sup, ent, het, mass, probs):
    """Run ``R = seeds.size`` replicates for ``G = sizes.size`` generations.

    ``rs`` (bool, 5): record support, entropy, heterozygosity, alive mass,
    probs; outputs have shape (R, G + 1[, K]) and column 0 is filled by the
    caller. ``pooled``: accumulate (counts are the pool of all data so far).
    ``beta > 0`` (not pooled): the sampling distribution is carried as a float
    vector ``q_t = alpha m_t + beta q_{t-1} + gamma p0`` over all states.
    """
    R = seeds.size
    G = sizes.size
    K = p0.size
    for r in prange(R):
        np.random.seed(np.uint32(seeds[r]))
        cur = np.zeros(K, dtype=np.int64)
        nxt = np.zeros(K, dtype=np.int64)
        live = np.empty(K, dtype=np.int64)
        inlive = np.zeros(K, dtype=np.bool_)
        q = np.empty(0, dtype=np.float64)
        if beta > 0.0:
            q = p0.copy()
        # generation 1: M_1 samples from p0 itself
        nlive = _draw_p0(sizes[0], p0, order, suffix, cur, live, 0, inlive)
        total = sizes[0]
        if G >= 1:
            _record(1, cur, total, live, nlive, p0, rs, sup, ent, het, mass, probs, r)
        for t in range(1, G):
            M = sizes[t]
            if beta > 0.0:
                for k in range(K):
                    q[k] = alpha * cur[k] / total + beta * q[k] + gamma * p0[k]
                _draw_float(M, q, nxt)
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
                    n_real = np.random.binomial(M, gamma)
                _draw_counts(M - n_real, cur, total, live, nlive, nxt)
                if n_real > 0:
                    nlive = _draw_p0(n_real, p0, order, suffix, nxt, live, nlive, inlive)
                if pooled:
                    for j in range(nlive):
                        k = live[j]
                        cur[k] += nxt[k]
                        nxt[k] = 0
                    total += M
                else:
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
                    nlive = keep
                    total = M
            _record(t + 1, cur, total, live, nlive, p0, rs, sup, ent, het, mass, probs, r)


@njit(cache=True, parallel=True)
def absorb_kernel(p0, order, suffix, sizes, seeds, time, state, extinction):
    """Replace workflow until one state holds all mass or ``sizes.size`` generations.

    ``extinction`` (R, K) must be filled with -1 by the caller; states with
    ``p0 = 0`` get 0. ``state`` is -1 for a censored replicate.
    """
    R = seeds.size
    G = sizes.size
    K = p0.size
    for r in prange(R):
        np.random.seed(np.uint32(seeds[r]))
        for k in range(K):
            if p0[k] <= 0.0:
                extinction[r, k] = 0
        if order.size == 1:
            time[r] = 0
            state[r] = order[0]
            continue
        cur = np.zeros(K, dtype=np.int64)
        nxt = np.zeros(K, dtype=np.int64)
        live = np.empty(K, dtype=np.int64)
        inlive = np.zeros(K, dtype=np.bool_)
        t = 0
        nlive = 0
        total = 0
        if G >= 1:
            nlive = _draw_p0(sizes[0], p0, order, suffix, cur, live, 0, inlive)
            total = sizes[0]
            t = 1
            for j in range(order.size):
                k = order[j]
                if not inlive[k]:
                    extinction[r, k] = 1
        while nlive > 1 and t < G:
            M = sizes[t]
            _draw_counts(M, cur, total, live, nlive, nxt)
            t += 1
            keep = 0
            for j in range(nlive):
                k = live[j]
                cur[k] = nxt[k]
                nxt[k] = 0
                if cur[k] > 0:
                    live[keep] = k
                    keep += 1
                else:
                    extinction[r, k] = t
            nlive = keep
            total = M
        time[r] = t
        state[r] = live[0] if nlive == 1 else -1


def warm() -> None:
    """Compile (or load from the cache) every kernel on tiny inputs."""
    p0 = np.array([0.5, 0.3, 0.2])
    order = np.array([0, 1, 2], dtype=np.int64)
    suffix = np.array([1.0, 0.5, 0.2])
    sizes = np.array([4, 4, 4], dtype=np.int64)
    seeds = np.array([1, 2], dtype=np.uint32)
    rs = np.ones(5, dtype=np.bool_)
    sup = np.zeros((2, 4), dtype=np.int64)
    f = np.zeros((2, 4))
    probs = np.zeros((2, 4, 3))
    simulate_kernel(p0, order, suffix, sizes, 1.0, 0.0, 0.0, False, seeds, rs, sup, f, f.copy(), f.copy(), probs)
    time = np.zeros(2, dtype=np.int64)
    state = np.zeros(2, dtype=np.int64)
    ext = np.full((2, 3), -1, dtype=np.int64)
    absorb_kernel(p0, order, suffix, sizes, seeds, time, state, ext)
