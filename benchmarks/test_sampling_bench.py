"""Sampled discrete chain: the Numba kernels against a vectorised NumPy implementation of the same sampler.

The baseline runs all replicates at once per generation: a stable sort of
each row (ties to the lower index), temperature in log space, the top-k /
top-p / min-p masks on the sorted rows, and ``Generator.multinomial(M, q)``
with 2-D ``pvals``. The fast path is ``DiscreteChain(..., sampler=...)``.
Both run in the same session; the ratio is printed (target >= 5x at
K = M = 10^4, 200 generations, 100 replicates).
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import collapse_theory as ct
from conftest import one_thread_time, user_call_ratio


def numpy_sampled_support(p0, M, G, R, rng, *, temperature=None, top_k=None, top_p=None, min_p=None):
    """Support per replicate and generation of the sampled replace chain, shape (R, G + 1)."""
    rng = np.random.default_rng(rng)
    K = p0.size
    P = np.tile(p0, (R, 1))
    support = np.empty((R, G + 1), dtype=np.int64)
    support[:, 0] = np.count_nonzero(p0)
    rows = np.arange(R)[:, None]
    for t in range(1, G + 1):
        order = np.argsort(-P, axis=1, kind="stable")
        w = np.take_along_axis(P, order, axis=1)
        keep = w > 0
        if temperature is not None and temperature != 1.0:
            with np.errstate(divide="ignore"):
                w = np.where(keep, np.exp((np.log(w) - np.log(w[:, :1])) / temperature), 0.0)
        if top_k is not None:
            keep[:, top_k:] = False
        if top_p is not None and top_p < 1.0:
            wk = np.where(keep, w, 0.0)
            c = np.cumsum(wk / wk.sum(axis=1, keepdims=True), axis=1)
            before = np.concatenate([np.zeros((R, 1)), c[:, :-1]], axis=1)
            keep &= before < top_p
        if min_p is not None:
            keep &= w >= min_p * w[:, :1]
        w = np.where(keep, w, 0.0)
        q = np.zeros((R, K))
        q[rows, order] = w / w.sum(axis=1, keepdims=True)
        counts = rng.multinomial(M, q)
        P = counts / M
        support[:, t] = np.count_nonzero(counts, axis=1)
    return support


@pytest.fixture(scope="module")
def zipf_p0():
    w = np.arange(1, 10_001, dtype=np.float64) ** -1.1
    return w / w.sum()


@pytest.mark.parametrize("kw", [{"temperature": 0.9, "top_p": 0.95}, {"temperature": 1.3}, {"top_k": 1000}])
def test_sampled_chain_vs_numpy(benchmark, ratio, zipf_p0, kw):
    M, G, R = 10_000, 200, 100
    chain = ct.DiscreteChain(zipf_p0, sample_size=M, sampler=ct.Sampler(**kw))
    run = benchmark.pedantic(lambda: chain.simulate(G, R, rng=1, record=("support",)), rounds=2, warmup_rounds=1, iterations=1)
    fast = benchmark.stats.stats.median
    t0 = time.perf_counter()
    sup = numpy_sampled_support(zipf_p0, M, G, R, 2, **kw)
    naive = time.perf_counter() - t0
    for t in (1, 20, G):  # same law: means within 5 standard errors
        se = np.sqrt(run.support[:, t].var() / R + sup[:, t].var() / R)
        assert abs(run.support[:, t].mean() - sup[:, t].mean()) <= 5 * se + 1e-9
    label = ct.Sampler(**kw).label()
    ratio(f"sampled chain ({label}) K=M=10k, G=200, R=100 vs NumPy", fast, naive, target=5,
          note=f"| {R * G / fast:.3g} replicate-generations/s")
    user_call_ratio("sampled chain simulate (default record)", lambda: chain.simulate(G, R, rng=1), naive, target=5)
    ratio("  same, kernel on one thread (per-core speed-up)", one_thread_time(lambda: chain.simulate(G, R, rng=1, record=("support",))), naive)
