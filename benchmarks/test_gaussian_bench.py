"""GaussianChain exact path against explicit sample-and-refit and against the bare cost of its variates.

Targets (issue 4): 1-D, M = 1000, R = 1000, G = 200: the exact path is at
least 300x faster than drawing M points per replicate and generation and
refitting them with NumPy, and within 2x of the bare cost of drawing one
normal and one chi-square per replicate-generation with NumPy's Generator;
d = 10, M = 1000: the exact (Bartlett-Wishart) path is at least 50x faster
than sample-and-refit.
"""

from __future__ import annotations

import numpy as np

import collapse_theory as ct
from collapse_theory.chains import _kernels_gaussian
from conftest import median_time, record_ratio, user_call_ratio


def _naive_refit_1d(M, G, R, seed):
    rng = np.random.default_rng(seed)
    mu = np.zeros(R)
    sd = np.ones(R)
    for _ in range(G):
        x = mu[:, None] + sd[:, None] * rng.standard_normal((R, M))
        mu = x.mean(axis=1)
        sd = x.std(axis=1, ddof=1)
    return mu, sd


def _naive_refit_nd(M, G, R, d, seed):
    rng = np.random.default_rng(seed)
    mu = np.zeros((R, d))
    L = np.broadcast_to(np.eye(d), (R, d, d)).copy()
    for _ in range(G):
        # batched BLAS products: the fastest plain-NumPy way to draw and refit
        x = mu[:, None, :] + rng.standard_normal((R, M, d)) @ np.swapaxes(L, 1, 2)
        mu = x.mean(axis=1)
        xc = x - mu[:, None, :]
        C = np.swapaxes(xc, 1, 2) @ xc / (M - 1)
        L = np.linalg.cholesky(C)
    return mu, L


def _bare_variates(M, G, R, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((R, G)), rng.chisquare(M - 1, size=(R, G))


def test_exact_1d_speed(benchmark):
    _kernels_gaussian.warm()
    M, R, G = 1000, 1000, 200
    chain = ct.GaussianChain(0.0, 1.0, M)
    run = benchmark.pedantic(lambda: chain.simulate(G, R, rng=0, show_progress=False), rounds=7, warmup_rounds=2)
    assert run.method == "exact" and np.all(np.isfinite(run.log_var))
    fast = benchmark.stats.stats.median
    naive = median_time(lambda: _naive_refit_1d(M, G, R, 1), repeat=1, warmup=0)
    bare = median_time(lambda: _bare_variates(M, G, R, 2), repeat=7, warmup=1)
    record_ratio("gaussian 1-D exact vs NumPy sample-and-refit (M=1000,R=1000,G=200)", fast, naive, target=300)
    record_ratio("gaussian 1-D exact vs bare variates (ratio >= 0.5 = within 2x)", fast, bare, target=0.5)
    user_call_ratio("gaussian 1-D simulate", lambda: chain.simulate(G, R, rng=0), naive, target=300)


def test_exact_wishart_speed(benchmark):
    M, R, G, d = 1000, 200, 20, 10
    chain = ct.GaussianChain(np.zeros(d), np.eye(d), M)
    run = benchmark.pedantic(lambda: chain.simulate(G, R, rng=0, show_progress=False), rounds=5, warmup_rounds=1)
    assert np.all(np.isfinite(run.log_det))
    fast = benchmark.stats.stats.median
    naive = median_time(lambda: _naive_refit_nd(M, G, R, d, 1), repeat=1, warmup=0)
    record_ratio(f"gaussian d={d} exact (Bartlett) vs NumPy sample-and-refit (M=1000,R=200,G=20)", fast, naive, target=50)
    user_call_ratio(f"gaussian d={d} simulate", lambda: chain.simulate(G, R, rng=0), naive, target=50)

# (one mitigation-map cell's theory: benchmarks/test_mitigation_bench.py)
