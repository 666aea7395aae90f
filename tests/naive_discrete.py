"""Slow, obviously-correct reference implementations for the discrete chain.

* ``naive_simulate`` / ``naive_absorb``: the process as the paper states it,
  one NumPy ``Generator.multinomial`` per replicate and generation;
* ``naive_count_chain``: the full multi-type count chain (every composition of
  ``M`` into ``K`` parts, multinomial transition probabilities), for exact
  expectations at tiny ``M`` and ``K`` by brute force;
* ``naive_binomial_matrix``: the dense two-type transition matrix.
"""

from __future__ import annotations

import itertools
import math

import numpy as np


def naive_simulate(p0, M, generations, replicates, rng, *, real=0.0, pooled=False):
    """Per replicate and generation, the model's distribution; shape (R, G + 1, K)."""
    rng = np.random.default_rng(rng)
    p0 = np.asarray(p0, dtype=float)
    K = p0.size
    out = np.zeros((replicates, generations + 1, K))
    for r in range(replicates):
        out[r, 0] = p0
        pool = None
        model = p0
        for t in range(1, generations + 1):
            if t == 1:
                data = rng.multinomial(M, p0)
            else:
                q = (1 - real) * model + real * p0
                data = rng.multinomial(M, q / q.sum())
            pool = data if (pool is None or not pooled) else pool + data
            model = pool / pool.sum()
            out[r, t] = model
    return out


def naive_absorb(p0, M, replicates, rng, max_generations=100_000):
    """Absorption time and fixed state of the replace chain, one replicate at a time."""
    rng = np.random.default_rng(rng)
    p0 = np.asarray(p0, dtype=float)
    times = np.zeros(replicates, dtype=np.int64)
    states = np.zeros(replicates, dtype=np.int64)
    for r in range(replicates):
        p = p0
        t = 0
        while np.count_nonzero(p) > 1 and t < max_generations:
            p = rng.multinomial(M, p / p.sum()) / M
            t += 1
        times[r] = t
        states[r] = int(np.argmax(p))
    return times, states


def compositions(M, K):
    """All count vectors of K non-negative integers summing to M."""
    out = []
    for bars in itertools.combinations(range(M + K - 1), K - 1):
        prev = -1
        c = []
        for b in bars:
            c.append(b - prev - 1)
            prev = b
        c.append(M + K - 1 - prev - 1)
        out.append(tuple(c))
    return out


def multinomial_pmf(c, q):
    M = sum(c)
    logp = math.lgamma(M + 1)
    for ci, qi in zip(c, q):
        if ci:
            if qi <= 0:
                return 0.0
            logp += ci * math.log(qi) - math.lgamma(ci + 1)
    return math.exp(logp)


def naive_count_chain(p0, M, *, real=0.0):
    """States, initial distribution (generation 1) and transition matrix of the K-type count chain."""
    p0 = np.asarray(p0, dtype=float)
    states = compositions(M, p0.size)
    start = np.array([multinomial_pmf(c, p0) for c in states])
    P = np.zeros((len(states), len(states)))
    for a, c in enumerate(states):
        q = (1 - real) * np.asarray(c) / M + real * p0
        for b, d in enumerate(states):
            P[a, b] = multinomial_pmf(d, q)
    return states, start, P


def naive_expectation(p0, M, t, fn, *, real=0.0):
    """Exact E fn(model at generation t) by propagating the count chain's distribution."""
    p0 = np.asarray(p0, dtype=float)
    if t == 0:
        return fn(p0)
    states, dist, P = naive_count_chain(p0, M, real=real)
    for _ in range(t - 1):
        dist = dist @ P
    return float(sum(w * fn(np.asarray(c) / M) for w, c in zip(dist, states)))


def naive_absorption_moments(p0, M):
    """Exact mean and variance of the absorption time from the K-type count chain (fundamental matrix)."""
    states, start, P = naive_count_chain(p0, M)
    absorbing = np.array([max(c) == M for c in states])
    tr = ~absorbing
    Q = P[np.ix_(tr, tr)]
    N = np.linalg.inv(np.eye(Q.shape[0]) - Q)
    t1 = N @ np.ones(Q.shape[0])  # expected further steps from a transient state
    t2 = (2 * N - np.eye(Q.shape[0])) @ t1  # E steps^2
    m1 = np.zeros(len(states))
    m2 = np.zeros(len(states))
    m1[tr] = t1
    m2[tr] = t2
    # generation 1 is one step from p0: T = 1 + T'
    mean = float(start @ (1 + m1))
    second = float(start @ (1 + 2 * m1 + m2))
    return mean, second - mean**2


def naive_binomial_matrix(M):
    """Dense (M+1, M+1) binomial transition matrix, entry by entry."""
    P = np.zeros((M + 1, M + 1))
    for j in range(M + 1):
        for k in range(M + 1):
            P[j, k] = math.comb(M, k) * (j / M) ** k * (1 - j / M) ** (M - k)
    return P


def naive_expected_support(p0, M, t):
    """sum_i P(count_i(t) > 0) by dense matrix powers, one state at a time."""
    if t == 0:
        return float(np.count_nonzero(p0))
    P = naive_binomial_matrix(M)
    Pt = np.linalg.matrix_power(P, t - 1)
    total = 0.0
    for p in p0:
        b = np.array([math.comb(M, j) * p**j * (1 - p) ** (M - j) for j in range(M + 1)])
        total += 1 - float(b @ Pt[:, 0])
    return total
