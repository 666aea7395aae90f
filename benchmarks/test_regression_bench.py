"""RegressionChain exact path against explicit refitting with NumPy ``lstsq``.

Target (issue 15): d = 10, T = 100, 100 generations, 1000 replicates: the
exact path (Wishart draws of the Gram matrices, one Gaussian moment vector per
generation, a Numba affine recursion) is at least 100x faster than drawing
the design and the labels and refitting with ``np.linalg.lstsq``, replicate by
replicate and generation by generation, as the public Collapse-or-Thrive
scripts do. The baseline is timed on a fifth of the replicates and scaled
(its cost is linear in the replicates), both in the same run.
"""

from __future__ import annotations

import numpy as np

import collapse_theory as ct
from collapse_theory.chains import _kernels_regression
from conftest import median_time, record_ratio, user_call_ratio

D, T, G, R = 10, 100, 100, 1000


def _naive_lstsq(R, seed, accumulate=False):
    rng = np.random.default_rng(seed)
    w_star = np.full(D, 1 / np.sqrt(D))
    err = np.zeros((R, G + 1))
    for r in range(R):
        X = rng.standard_normal((T, D))
        w = w_star
        Xs, ys = [], []
        for t in range(G):
            y = X @ w + rng.standard_normal(T)
            if accumulate:
                Xs.append(X)
                ys.append(y)
                w = np.linalg.lstsq(np.vstack(Xs), np.concatenate(ys), rcond=None)[0]
            else:
                w = np.linalg.lstsq(X, y, rcond=None)[0]
            err[r, t + 1] = np.sum((w - w_star) ** 2)
    return err


def test_exact_vs_lstsq_replace(benchmark):
    _kernels_regression.warm()
    chain = ct.RegressionChain(D, T)
    run = benchmark.pedantic(lambda: chain.simulate(G, R, rng=0, show_progress=False), rounds=7, warmup_rounds=2)
    assert run.method == "exact" and np.all(np.isfinite(run.error))
    fast = benchmark.stats.stats.median
    naive = median_time(lambda: _naive_lstsq(R // 5, 1), repeat=1, warmup=0) * 5
    record_ratio(f"regression replace exact vs lstsq refits (d={D},T={T},G={G},R={R})", fast, naive, target=100)
    user_call_ratio("regression replace simulate", lambda: ct.RegressionChain(D, T).simulate(G, R, rng=0), naive, target=100)


def test_exact_vs_lstsq_accumulate(benchmark):
    # accumulate: the naive pool grows (t T rows per fit, O(G^2 T d^2)); timed on 5 replicates and scaled
    _kernels_regression.warm()
    chain = ct.RegressionChain(D, T, mixing="accumulate")
    run = benchmark.pedantic(lambda: chain.simulate(G, R, rng=0, show_progress=False), rounds=5, warmup_rounds=1)
    assert np.all(np.isfinite(run.error))
    fast = benchmark.stats.stats.median
    naive = median_time(lambda: _naive_lstsq(5, 2, accumulate=True), repeat=1, warmup=0) * (R / 5)
    record_ratio(f"regression accumulate exact vs lstsq refits of the stack (d={D},T={T},G={G},R={R})", fast, naive, target=100)
    user_call_ratio("regression accumulate simulate", lambda: ct.RegressionChain(D, T, mixing="accumulate").simulate(G, R, rng=0),
                    naive, target=100)
