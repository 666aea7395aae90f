"""verify checks of the regression collapse chain: collapse_theory.theory.regression, one check per function.

Each check simulates :class:`~collapse_theory.RegressionChain` (exact path
unless stated) and z-tests the mean error against the theory function. With
R replicates the mean error of d = 10, T = 100 is estimated to about
1.5 / sqrt(R) of itself (R = 4000: 2.4%), enough to reject T - d instead of
T - d - 1 at T = 30, sum 1/i instead of sum 1/i^2 (60% at n = 12), or a
missing cross term in the fresh-design recursion.
"""

from __future__ import annotations

import numpy as np

from ._framework import _sizes, _z_outcome, register

_REG = ("collapse_theory.chains.regression", "collapse_theory.theory.regression")
_SRC = "Gerstgrasser et al. 2024; Dohmatob, Feng & Kempe 2024; Dohmatob et al. 2025; theory.regression"


def _chain(*args, **kw):
    from ..chains.regression import RegressionChain

    return RegressionChain(*args, **kw)


@register("regression.expected_error", description="E||w_n - w*||^2 for replace, accumulate (fixed design), fresh design with fresh rows, and given designs (ridge, fresh rows, augmentation)",
          source=_SRC, requires=_REG)
def _check_expected_error(level, rng):
    from ..theory import regression as th

    # A fixed design costs one Numba recursion per replicate (cheap: 12000 replicates, 30 generations at the
    # full level); a fresh design redraws its Wishart Gram matrices every generation (10 to 40 times the cost), so
    # at the full level it keeps the quick level's 12 generations (by n = 12 the exact transient is within 0.7%
    # (d = 10, fresh 0.2) and 1e-5 (d = 20, fresh 0.5) of its stationary value, which regression.stationary_error
    # tests) and 6000 replicates: a relative s.e. of about 0.6% (d = 20) to 1% (d = 10), so a formula 5% off is
    # still rejected at z > 5 after Holm's correction.
    R = _sizes(level, 4000, 12000)
    G = _sizes(level, 12, 30)
    R_fresh, G_fresh = _sizes(level, (4000, 12), (6000, 12))
    cases = [{"d": 10, "T": 100, "mixing": "replace", "design": "fixed"}, {"d": 10, "T": 100, "mixing": "accumulate", "design": "fixed"},
             {"d": 10, "T": 30, "mixing": "replace", "design": "fixed"}, {"d": 10, "T": 100, "mixing": "fresh:0.2", "design": "fresh"}]
    if level == "full":
        cases += [{"d": 3, "T": 8, "mixing": "accumulate", "design": "fixed"}, {"d": 20, "T": 60, "mixing": "fresh:0.5", "design": "fresh"}]
    out = []
    for c in cases:
        Rc, Gc = (R_fresh, G_fresh) if c["design"] == "fresh" else (R, G)
        ns = (1, 2, Gc)
        run = _chain(c["d"], c["T"], mixing=c["mixing"], design=c["design"]).simulate(Gc, Rc, rng=rng)
        exp = th.expected_error(list(ns), c["T"], c["d"], mixing=c["mixing"], design=c["design"])
        for n, e in zip(ns, exp):
            out.append(_z_outcome("E||w_n - w*||^2", {**c, "n": n}, run.error[:, n], e))
    ns = (1, 2, G)
    X = np.random.default_rng(0).standard_normal((30, 4))
    for mix, ridge in (("replace", 0.2), ("fresh:0.3", 0.0), ("augment:1.5", 0.1)):
        run = _chain(4, 30, mixing=mix, ridge=ridge, design_matrix=X).simulate(G, R, rng=rng)
        exp = th.expected_error(list(ns), 30, 4, mixing=mix, ridge=ridge, design_matrix=X)
        for n, e in zip(ns, exp):
            out.append(_z_outcome("E||w_n - w*||^2 given X", {"mixing": mix, "ridge": ridge, "n": n}, run.error[:, n], e))
    return out


@register("regression.expected_test_error", description="E test error on fresh real data = sigma^2 + E||w_n - w*||^2",
          source=_SRC, requires=_REG)
def _check_test_error(level, rng):
    from ..theory import regression as th

    R = _sizes(level, 3000, 20000)
    out = []
    for noise in (0.5, 2.0):
        run = _chain(10, 100, noise=noise, mixing="accumulate").simulate(5, R, rng=rng)
        for n in (1, 5):
            out.append(_z_outcome("E test error", {"noise": noise, "n": n}, run.test_error[:, n],
                                  th.expected_test_error(n, 100, 10, noise=noise, mixing="accumulate")))
    return out


@register("regression.accumulate_limit", description="the pi^2/6 limit of accumulation, against a long chain",
          source=_SRC + "; Dey & Donoho 2024", requires=_REG)
def _check_accumulate_limit(level, rng):
    from ..theory import regression as th

    # The tail beyond G is added exactly, so a longer chain adds nothing but cost: G = 500 at the full level (the
    # tail is then 0.2% of the limit, 0.4 s.e.); R = 10000 gives a relative s.e. of about 0.5%, against a 1/i
    # instead of 1/i^2 recursion (a log G divergence) or a limit off by the first term.
    R = _sizes(level, 3000, 10000)
    G = _sizes(level, 400, 500)
    run = _chain(10, 100, mixing="accumulate").simulate(G, R, rng=rng)
    # the remaining tail sum_{i>G} 1/i^2 < 1/G is added to the simulated path's expectation, not ignored
    lim = th.accumulate_limit(100, 10)
    tail = th.ols_variance(100, 10) * sum(1.0 / i**2 for i in range(G + 1, 100 * G))
    return [_z_outcome("E||w_G - w*||^2 + tail -> pi^2/6 limit", {"G": G}, run.error[:, G] + tail, lim)]


@register("regression.stationary_error", description="stationary error of fresh rows (fresh design) and of augmentation / ridge given a design",
          source=_SRC, requires=_REG)
def _check_stationary(level, rng):
    from ..theory import regression as th

    # Generation G stands in for the stationary law. By the exact transient (theory.regression.expected_error)
    # the fresh design is within 3e-9 of it (relative) at 30 generations, augmentation given X within 1e-15 and
    # ridge 0.3 given X within 2e-5 at 50, against a relative s.e. of about 1.5% (R = 8000): a longer chain
    # only costs time (the fresh design redraws its Gram matrices every generation).
    R = _sizes(level, 2000, 8000)
    G_fresh, G = 30, 50
    out = []
    run = _chain(10, 100, design="fresh", mixing="fresh:0.3").simulate(G_fresh, R, rng=rng)
    out.append(_z_outcome("stationary error", {"mixing": "fresh:0.3", "design": "fresh", "G": G_fresh}, run.error[:, G_fresh],
                          th.stationary_error(100, 10, mixing="fresh:0.3", design="fresh")))
    X = np.random.default_rng(1).standard_normal((20, 3))
    for kw in ({"mixing": "augment:1"}, {"mixing": "replace", "ridge": 0.3}):
        run = _chain(3, 20, design_matrix=X, **kw).simulate(G, R, rng=rng)
        out.append(_z_outcome("stationary error given X", {**kw, "G": G}, run.error[:, G],
                              th.stationary_error(20, 3, design="fixed", design_matrix=X, **kw)))
    return out


@register("regression.downstream_error", description="downstream OLS fit on labels of generation n (Dohmatob et al. 2024)",
          source=_SRC, requires=_REG)
def _check_downstream(level, rng):
    from ..theory import regression as th

    R = _sizes(level, 3000, 20000)
    out = []
    for Td in (50, 100):
        run = _chain(10, 100, design="fresh", downstream_size=Td).simulate(5, R, rng=rng)
        for n in (0, 5):
            out.append(_z_outcome("downstream excess error", {"T_d": Td, "n": n}, run.downstream_error[:, n],
                                  th.downstream_error(n, 100, 10, downstream_size=Td)))
    # ridge downstream fit, anisotropic Sigma: exact given the downstream design
    cov = np.diag(np.geomspace(0.2, 5.0, 4))
    Xd = np.random.default_rng(2).standard_normal((12, 4)) @ np.sqrt(cov)
    kw = {"downstream_ridge": 0.3, "downstream_design": Xd, "cov": cov}
    run = _chain(4, 20, design="fresh", **kw).simulate(5, R, rng=rng)
    for n in (0, 5):
        out.append(_z_outcome("downstream ridge error given X_d", {"ridge_d": 0.3, "n": n}, run.downstream_error[:, n],
                              th.downstream_error(n, 20, 4, **kw)))
    return out


@register("regression.strong_collapse", description="one fit with a share p of labels from w_s: exact finite T (and its floor p^2||w_s - w*||^2)",
          source=_SRC, requires=_REG)
def _check_strong(level, rng):
    from ..theory import regression as th

    R = _sizes(level, 3000, 20000)
    out = []
    ws = np.zeros(10)
    for p in (0.1, 0.3):
        for T in _sizes(level, (50, 500), (30, 100, 1000, 3000)):
            run = _chain(10, T, contamination=(p, ws)).simulate(1, R, rng=rng)
            out.append(_z_outcome("E||w_1 - w*||^2 with contamination", {"p": p, "T": T}, run.error[:, 1],
                                  th.expected_error(1, T, 10, contamination=(p, ws))))
    # near the floor: at T = 20000 the error is p^2 ||w_s - w*||^2 + O(1/T); its exact value is tested and
    # the floor itself (a limit, deterministic) is compared with it in tests/test_regression_theory.py
    T = _sizes(level, 20000, 100000)
    run = _chain(10, T, contamination=(0.3, ws)).simulate(1, R, rng=rng)
    out.append(_z_outcome("E||w_1 - w*||^2 near the floor p^2||w_s - w*||^2", {"p": 0.3, "T": T,
                          "floor": th.strong_collapse_floor(0.3, ws)}, run.error[:, 1],
                          th.expected_error(1, T, 10, contamination=(0.3, ws))))
    return out


@register("regression.projection_moments", description="c(m) and kappa(m1, m2): Gram-share moments against Wishart draws",
          source="derived here (Haar moments); theory.regression.projection_moment", requires=_REG)
def _check_projection(level, rng):
    from .._rng import default_rng
    from ..theory import regression as th

    gen = default_rng(rng)
    R = _sizes(level, 3000, 20000)
    out = []
    for m, T, d in ((5, 20, 3), (15, 40, 6)):
        X = gen.standard_normal((R, T, d))
        A = np.swapaxes(X, 1, 2) @ X
        Xm, Xr = X[:, :m], X[:, m:2 * m]
        P1 = np.linalg.solve(A, np.swapaxes(Xm, 1, 2) @ Xm)
        P2 = np.linalg.solve(A, np.swapaxes(Xr, 1, 2) @ Xr)
        # E[u^T P1^T P2 u] for a unit u = (E P1^T P2)_{00}
        out.append(_z_outcome("c(m)", {"m": m, "T": T, "d": d}, np.sum(P1[:, :, 0] ** 2, axis=1), th.projection_moment(m, T, d)))
        out.append(_z_outcome("kappa(m, m)", {"m": m, "T": T, "d": d}, np.sum(P1[:, :, 0] * P2[:, :, 0], axis=1),
                              th.projection_cross_moment(m, m, T, d)))
    return out
