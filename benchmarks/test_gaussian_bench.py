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


# ----------------------------------------------------------------------------- one mitigation-map cell's theory
def _old_long_run_moments(M, gamma, workflow, generations=2000):
    """The baseline: the pre-issue-14 ``theory.gaussian.long_run_moments`` (moment recursion run for
    4 * generations steps and Richardson-extrapolated; kept here verbatim in behaviour)."""
    n = 4 * generations
    s2, ddof = 1.0, 1.0
    v = np.empty(n + 1)
    e = np.empty(n + 1)
    v[0], e[0] = s2, 0.0
    N, S = 0.0, 0.0
    pooled = workflow == "accumulate"
    g = gamma
    for t in range(n):
        m = float(M)
        Vbar = g * s2 + (1 - g) * v[t] + g * (1 - g) * e[t]
        Np = N if pooled else 0.0
        Sp = S if pooled else 0.0
        Nn = Np + m
        e[t + 1] = ((Np + m * (1 - g)) ** 2 * e[t] + m * Vbar) / Nn**2
        S = Sp + (m - 1) * Vbar + (Np * m / Nn) * (g * g * e[t] + Vbar / m)
        N = Nn
        v[t + 1] = S / (N - ddof)
    G = generations
    return (4 * v[4 * G] - v[G]) / 3, (4 * e[4 * G] - e[G]) / 3


def _cell_theory(G, M, spec):
    from collapse_theory.theory import gaussian as th

    path = th.moment_recursion(G, M, mixing=spec)
    lim = th.stationary_moments(M, mixing=spec)
    return path.variance[G], path.mean_squared_error[G], lim


def test_cell_theory_speed(benchmark):
    # one cell of the mitigation map (M = 20, accumulate with 10% fresh data, 1000 generations): exact
    # E sigma_G^2, E (mu_G - mu_0)^2 and the long-run values, against the old long_run_moments
    G, M = 1000, 20
    out = benchmark.pedantic(lambda: _cell_theory(G, M, "accumulate:0.1"), rounds=7, warmup_rounds=1)
    assert np.all(np.isfinite(out[:2]))
    fast = benchmark.stats.stats.median
    old = median_time(lambda: _old_long_run_moments(M, 0.1, "accumulate"), repeat=3, warmup=0)
    record_ratio("mitigation cell theory (moments + long run, M=20, accumulate:0.1, G=1000) vs old long_run_moments",
                 fast, old, target=100)
    from collapse_theory.theory import gaussian as th

    for spec in ("fresh:0.1", "augment:1", "accumulate"):
        t = median_time(lambda spec=spec: th.workflow_moments(G, M, mixing=spec, order=4, at=[G]), repeat=3, warmup=1)
        record_ratio(f"E W2^2 bracket (order 4, M=20, {spec}, G=1000) vs old long_run_moments", t, old,
                     note="(the bracket is new: the old code had only a lower bound)")
