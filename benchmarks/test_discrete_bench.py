"""Discrete chain: the Numba kernels against the vectorised NumPy loop a researcher would write.

The baseline draws ``Generator.multinomial(M, p)`` for all live replicates at
once (2-D ``pvals``), generation after generation, until all are absorbed (or
for G generations); the fast path is :class:`DiscreteChain`. Both run in the
same session; the ratio is printed (``make bench``).
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import collapse_theory as ct
from conftest import one_thread_time, user_call_ratio


def numpy_absorb(p0, M, R, rng):
    """Absorption times by a vectorised NumPy loop over all live replicates."""
    rng = np.random.default_rng(rng)
    p = np.tile(p0, (R, 1))
    live = np.arange(R)
    times = np.zeros(R, dtype=np.int64)
    t = 0
    while live.size:
        t += 1
        counts = rng.multinomial(M, p)
        p = counts / M
        done = (counts == M).any(axis=1)
        times[live[done]] = t
        live = live[~done]
        p = p[~done]
    return times


def numpy_support(p0, M, G, R, rng):
    """Support per replicate and generation by a vectorised NumPy loop."""
    rng = np.random.default_rng(rng)
    p = np.tile(p0, (R, 1))
    support = np.empty((R, G + 1), dtype=np.int64)
    support[:, 0] = np.count_nonzero(p0)
    for g in range(1, G + 1):
        counts = rng.multinomial(M, p)
        p = counts / M
        support[:, g] = np.count_nonzero(counts, axis=1)
    return support


def test_absorb_k10_m1000(benchmark, ratio):
    K, M, R = 10, 1000, 2000
    chain = ct.DiscreteChain(np.full(K, 1.0 / K), sample_size=M)
    res = benchmark.pedantic(lambda: chain.absorb(R, rng=1), rounds=3, warmup_rounds=1, iterations=1)
    fast = benchmark.stats.stats.median
    t0 = time.perf_counter()
    naive_times = numpy_absorb(np.full(K, 1.0 / K), M, R, rng=2)
    naive = time.perf_counter() - t0
    # the two agree in distribution (same mean within 5 standard errors)
    se = np.sqrt(res.time.var() / R + naive_times.var() / R)
    assert abs(res.time.mean() - naive_times.mean()) < 5 * se
    rep_gens = int(res.time.sum())
    # each generation updates every live state: one conditional binomial each
    # (the last state takes the remainder; states with <= SMALL copies are
    # resampled copy by copy instead)
    state_gens = int(np.where(res.extinction < 0, res.time[:, None], res.extinction).sum())
    draws = state_gens - rep_gens  # about one binomial per live state but the last
    from collapse_theory.chains._kernels_discrete import binomial_sample

    n_bare = 1_000_000
    g = np.random.default_rng(0)
    pp = g.uniform(0.05, 0.5, n_bare)
    t0 = time.perf_counter()
    g.binomial(M, pp)
    numpy_per_draw = (time.perf_counter() - t0) / n_bare
    binomial_sample(1, M, 0.3, 10)
    t0 = time.perf_counter()
    binomial_sample(1, M, 0.3, n_bare)
    ours_per_draw = (time.perf_counter() - t0) / n_bare
    note = (
        f"| {rep_gens / fast:.3g} replicate-generations/s; ~{draws:.3g} binomial draws -> {draws / fast:.3g} draws/s "
        f"(all threads); bare single-thread cost of as many draws: NumPy binomial({M}, varying p) "
        f"{draws * numpy_per_draw:.3g} s ({1 / numpy_per_draw:.3g}/s), this package's BTRS {draws * ours_per_draw:.3g} s "
        f"({1 / ours_per_draw:.3g}/s)"
    )
    ratio("absorb K=10 uniform, M=1000, R=2000 vs NumPy multinomial loop", fast, naive, target=3, note=note)
    user_call_ratio("absorb", lambda: chain.absorb(R, rng=1), naive, target=3)
    ratio("  same, kernel on one thread (per-core speed-up)", one_thread_time(lambda: chain.absorb(R, rng=1)), naive)


@pytest.fixture(scope="module")
def zipf_p0():
    w = np.arange(1, 10_001, dtype=np.float64) ** -1.1
    return w / w.sum()


def test_simulate_zipf_support(benchmark, ratio, zipf_p0):
    M, G, R = 10_000, 200, 100
    chain = ct.DiscreteChain(zipf_p0, sample_size=M)
    run = benchmark.pedantic(lambda: chain.simulate(G, R, rng=1, record=("support",)), rounds=3, warmup_rounds=1, iterations=1)
    fast = benchmark.stats.stats.median
    t0 = time.perf_counter()
    sup = numpy_support(zipf_p0, M, G, R, rng=2)
    naive = time.perf_counter() - t0
    se = np.sqrt(run.support[:, G].var() / R + sup[:, G].var() / R)
    assert abs(run.support[:, G].mean() - sup[:, G].mean()) < 5 * se + 1e-9
    note = f"| {R * G / fast:.3g} replicate-generations/s"
    ratio("simulate K=10k Zipf(1.1), M=10k, G=200, R=100, support vs NumPy loop", fast, naive, target=10, note=note)
    user_call_ratio("simulate (default record)", lambda: chain.simulate(G, R, rng=1), naive, target=10)
    ratio("  same, kernel on one thread (per-core speed-up)", one_thread_time(lambda: chain.simulate(G, R, rng=1, record=("support",))), naive)
