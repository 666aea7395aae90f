"""Tests of the W2^2 estimators against hand-computed values, POT (regulariser
off), high-precision arithmetic, linear programming and quadrature, with the
collapsed regime (variances 1e-8, 1e-12, exact zeros) covered explicitly."""

from __future__ import annotations

import re
import warnings

import numpy as np
import ot
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import collapse_theory.wasserstein as W
from collapse_theory.wasserstein import (
    w2_squared_empirical,
    w2_squared_gaussian,
    w2_squared_gaussian_factors,
    w2_squared_gaussian_logvar,
    w2_squared_gmm,
    w2_squared_sliced,
    w2_squared_to_gaussian,
)

from naive_wasserstein import (
    naive_mixture_quantile,
    naive_w2_squared_1d_quantiles,
    naive_w2_squared_gaussian_mp,
    naive_w2_squared_lp,
    naive_w2_squared_to_normal_quad,
)


def random_cov(rng, d, rank=None, scale=1.0):
    X = rng.standard_normal((d, d if rank is None else rank))
    return scale * (X @ X.T)


def whiten(z):
    """Centre and whiten a sample so its (1/n) covariance is exactly I up to round-off."""
    z = z - z.mean(axis=0)
    L = np.linalg.cholesky(z.T @ z / len(z))
    return z @ np.linalg.inv(L).T


# ---------------------------------------------------------------- Gaussian


@pytest.mark.parametrize(
    "m1, C1, m2, C2, expected",
    [
        (0.0, 4.0, 1.0, 1.0, 2.0),  # (0-1)^2 + (2-1)^2
        (3.0, 0.0, 3.0, 9.0, 9.0),  # point mass vs N(3, 9): sigma^2
        ([0, 0], np.diag([4.0, 9.0]), [1, 1], np.diag([1.0, 1.0]), 2 + 1 + 4),  # commuting: sum (sqrt a - sqrt b)^2
        ([0, 0], [[2.0, 1.0], [1.0, 2.0]], [0, 0], np.eye(2), (np.sqrt(3) - 1) ** 2),  # eigenvalues 3, 1 vs 1, 1
        ([0, 0], np.diag([1.0, 0.0]), [0, 0], np.diag([0.0, 1.0]), 2.0),  # orthogonal lines: no overlap
    ],
)
def test_gaussian_hand_computed(m1, C1, m2, C2, expected):
    assert w2_squared_gaussian(m1, C1, m2, C2) == pytest.approx(expected, rel=1e-13, abs=1e-15)


@pytest.mark.parametrize("d", [1, 2, 3, 6])
def test_gaussian_matches_pot_without_regulariser(d):
    rng = np.random.default_rng(d)
    for _ in range(5):
        m1, m2 = rng.standard_normal(d), rng.standard_normal(d)
        C1, C2 = random_cov(rng, d), random_cov(rng, d)
        pot = float(ot.gaussian.bures_wasserstein_distance(m1, m2, C1, C2)) ** 2  # POT 0.9.7 returns W, not W^2
        assert w2_squared_gaussian(m1, C1, m2, C2) == pytest.approx(pot, rel=1e-10)


def test_gaussian_near_identical_beats_trace_formula():
    """C2 = C1 + tiny: W2^2 ~ 1e-21 is lost by the trace formula (POT) but kept here (60-digit reference)."""
    rng = np.random.default_rng(5)
    C1 = random_cov(rng, 3)
    E = random_cov(rng, 3)
    C2 = C1 + 1e-10 * E
    exact = naive_w2_squared_gaussian_mp(np.zeros(3), C1, np.zeros(3), C2)
    assert 0 < exact < 1e-18
    ours = w2_squared_gaussian(np.zeros(3), C1, np.zeros(3), C2)
    assert ours == pytest.approx(exact, rel=1e-4)
    pot = float(ot.gaussian.bures_wasserstein_distance(np.zeros(3), np.zeros(3), C1, C2)) ** 2
    assert abs(pot - exact) > 100 * abs(ours - exact)


@pytest.mark.parametrize("scale", [1.0, 1e-8, 1e-12, 1e-100, 1e-300])
def test_gaussian_relative_precision_at_every_scale(scale):
    rng = np.random.default_rng(11)
    C1, C2 = random_cov(rng, 3), random_cov(rng, 3)
    exact = naive_w2_squared_gaussian_mp(np.zeros(3), C1, np.zeros(3), C2)
    got = w2_squared_gaussian(np.zeros(3), scale * C1, np.zeros(3), scale * C2)
    assert got / scale == pytest.approx(exact, rel=1e-12)


@pytest.mark.parametrize("scale", [1.0, 1e-12, 1e-300])
def test_gaussian_rank_deficient_precision(scale):
    """At a rank-deficient covariance W2^2 is only Holder-1/2 in C: eigh's round-off eigenvalues
    (eps * |C|) move the answer by about sqrt(eps). Factors avoid the square root entirely."""
    rng = np.random.default_rng(12)
    C1 = random_cov(rng, 3)
    X = np.array([[1.0, 0, 0], [2.0, 0, 0], [2.0, 0, 0]])  # C2 = X X^T = [1,2,2]^T [1,2,2], exact in floats
    C2 = X @ X.T
    exact = naive_w2_squared_gaussian_mp(np.zeros(3), C1, np.zeros(3), C2)
    got = w2_squared_gaussian(np.zeros(3), scale * C1, np.zeros(3), scale * C2)
    assert got / scale == pytest.approx(exact, rel=1e-6)
    L1 = np.linalg.cholesky(C1)
    got = w2_squared_gaussian_factors(np.zeros(3), np.sqrt(scale) * L1, np.zeros(3), np.sqrt(scale) * X)
    assert got / scale == pytest.approx(exact, rel=1e-12)


@pytest.mark.parametrize("rank", [3, 2, 1, 0])
def test_gaussian_zero_on_identical_including_rank_deficient(rank):
    rng = np.random.default_rng(rank)
    C = random_cov(rng, 3, rank=rank) if rank else np.zeros((3, 3))
    m = rng.standard_normal(3)
    scale = max(np.trace(C), 1e-300)
    assert abs(w2_squared_gaussian(m, C, m, C)) <= 1e-14 * scale
    # the same matrix passed as a separate, bitwise equal copy
    assert abs(w2_squared_gaussian(m, C.copy(), m.copy(), C.copy())) <= 1e-14 * scale


def test_gaussian_round_off_negative_eigenvalue_is_clamped():
    v = np.array([1.0, 1.0, 1.0]) / np.sqrt(3)
    C = np.outer(v, v)  # rank one: eigh returns eigenvalues like -1e-17
    assert np.isfinite(w2_squared_gaussian(np.zeros(3), C, np.zeros(3), np.eye(3)))
    assert w2_squared_gaussian(np.zeros(3), C, np.zeros(3), np.eye(3)) == pytest.approx(
        naive_w2_squared_gaussian_mp(np.zeros(3), C, np.zeros(3), np.eye(3)), rel=1e-12
    )


def test_gaussian_batched_broadcast_and_shared_reference():
    rng = np.random.default_rng(3)
    R, G, d = 4, 5, 3
    X = rng.standard_normal((R, G, d, d))
    C = X @ np.swapaxes(X, -1, -2)
    m = rng.standard_normal((R, G, d))
    m0, C0 = rng.standard_normal(d), random_cov(rng, d)
    out = w2_squared_gaussian(m, C, m0, C0)
    assert out.shape == (R, G)
    for r in range(R):
        for g in range(G):
            assert out[r, g] == pytest.approx(w2_squared_gaussian(m[r, g], C[r, g], m0, C0), rel=1e-12)
    # 1-D batches: variances with the shape of the means, scalar reference
    var = rng.random((R, G))
    mu = rng.standard_normal((R, G))
    out1 = w2_squared_gaussian(mu, var, 0.0, 1.0)
    np.testing.assert_allclose(out1, mu**2 + (np.sqrt(var) - 1) ** 2, rtol=1e-14)


def test_gaussian_factor_and_logvar_variants():
    rng = np.random.default_rng(8)
    C1, C2 = random_cov(rng, 3), random_cov(rng, 3)
    m1, m2 = rng.standard_normal(3), rng.standard_normal(3)
    L1, L2 = np.linalg.cholesky(C1), np.linalg.cholesky(C2)
    ref = w2_squared_gaussian(m1, C1, m2, C2)
    assert w2_squared_gaussian_factors(m1, L1, m2, L2) == pytest.approx(ref, rel=1e-12)
    # factors of size 1e-200 (covariances 1e-400 would underflow): W2^2 = 1e-400 * ref too, so compare
    # on a problem whose answer is representable: one side of size 1, the other 1e-200.
    got = w2_squared_gaussian_factors(np.zeros(3), L1, np.zeros(3), 1e-200 * L2)
    assert got == pytest.approx(np.trace(C1), rel=1e-14)
    # batched factors (the Gaussian chain's (R, G+1, d, d) against one reference), column scales far apart
    Ls = np.tril(rng.standard_normal((4, 6, 3, 3))) * 10.0 ** rng.uniform(-200, 0, size=(4, 6, 1, 3))
    ms = rng.standard_normal((4, 6, 3))
    out = w2_squared_gaussian_factors(ms, Ls, m2, L2)
    assert out.shape == (4, 6)
    for r, g in [(0, 0), (3, 5), (2, 1)]:
        C = Ls[r, g] @ Ls[r, g].T
        assert out[r, g] == pytest.approx(naive_w2_squared_gaussian_mp(ms[r, g], C, m2, C2), rel=1e-10)
    assert w2_squared_gaussian_logvar(0.3, np.log(4.0), -0.2, np.log(1e-8)) == pytest.approx(
        0.25 + (2 - 1e-4) ** 2, rel=1e-14
    )
    assert w2_squared_gaussian_logvar(0.0, 0.0, 0.0, -2000.0) == 1.0  # variance e^-2000 underflows float64
    assert w2_squared_gaussian_logvar(1.0, -np.inf, 1.0, -np.inf) == 0.0
    # nearly equal variances: (1 - sqrt(1 + 1e-12))^2 = 2.5e-25 (1 - 1e-12 + ...)
    assert w2_squared_gaussian_logvar(0.0, 0.0, 0.0, np.log1p(1e-12)) == pytest.approx(2.5e-25, rel=1e-6)


@given(seed=st.integers(0, 2**32 - 1), d=st.integers(1, 4), a=st.floats(0.01, 100), logscale=st.floats(-30, 3))
def test_gaussian_properties(seed, d, a, logscale):
    """Symmetry, translation invariance, W2^2(aX, aY) = a^2 W2^2(X, Y), triangle inequality on W2."""
    rng = np.random.default_rng(seed)
    s = 10.0**logscale
    ms = [rng.standard_normal(d) * np.sqrt(s) for _ in range(3)]
    Cs = [random_cov(rng, d, rank=int(rng.integers(0, d + 1)), scale=s) for _ in range(3)]
    w12 = w2_squared_gaussian(ms[0], Cs[0], ms[1], Cs[1])
    w21 = w2_squared_gaussian(ms[1], Cs[1], ms[0], Cs[0])
    # Rank-deficient draws: the map C -> W2^2 is Holder-1/2 there, so round-off of size eps |C|
    # (from forming a^2 C, or from eigh) moves W2^2 by ~sqrt(eps) |C|: tolerance 1e-6 relative.
    tol = 1e-6 * s * d
    assert abs(w12 - w21) <= tol + 1e-6 * w12
    v = rng.standard_normal(d)
    assert w2_squared_gaussian(ms[0] + v, Cs[0], ms[1] + v, Cs[1]) == pytest.approx(w12, rel=1e-6, abs=tol + 1e-14 * v @ v)
    assert w2_squared_gaussian(a * ms[0], a * a * Cs[0], a * ms[1], a * a * Cs[1]) == pytest.approx(a * a * w12, rel=1e-6, abs=a * a * tol)
    w13 = w2_squared_gaussian(ms[0], Cs[0], ms[2], Cs[2])
    w23 = w2_squared_gaussian(ms[1], Cs[1], ms[2], Cs[2])
    assert np.sqrt(w13) <= np.sqrt(w12) + np.sqrt(w23) + 1e-6 * np.sqrt(s)


# ------------------------------------------------------ collapsed regime


def test_collapsed_samples_exact_where_pot_default_is_wrong():
    """Whitened samples: covariances exactly v I (collapsed) and 4e-8 I, so every estimator's target
    is known: W2^2 between the moment-matched Gaussians = d (sqrt(v) - sqrt(4e-8))^2. POT's default
    empirical Bures estimator adds reg = 1e-6 to both covariances, and so returns
    d (sqrt(v + 1e-6) - sqrt(4e-8 + 1e-6))^2 instead: wrong by the factor asserted below."""
    rng = np.random.default_rng(0)
    d, target_var, reg = 2, 4e-8, 1e-6
    y_white = whiten(rng.standard_normal((300, d)))
    x_white = whiten(rng.standard_normal((200, d)))
    for v in (1e-8, 1e-12, 0.0):
        x = np.sqrt(v) * x_white
        yt = np.sqrt(target_var) * y_white
        exact = d * (np.sqrt(v) - np.sqrt(target_var)) ** 2
        ours = w2_squared_to_gaussian(x, np.zeros(d), target_var * np.eye(d), method="gelbrich")
        assert ours == pytest.approx(exact, rel=1e-9)
        pot = float(ot.gaussian.empirical_bures_wasserstein_distance(x, yt)) ** 2
        pot_predicted = d * (np.sqrt(v + reg) - np.sqrt(target_var + reg)) ** 2
        assert pot == pytest.approx(pot_predicted, rel=1e-6)
        factor = exact / pot
        assert factor > 25  # 45x at v = 1e-8, 101x at 1e-12 and at 0
        # and with the regulariser off POT agrees with us
        assert float(ot.gaussian.empirical_bures_wasserstein_distance(x, yt, reg=0)) ** 2 == pytest.approx(exact, rel=1e-6)


@pytest.mark.parametrize("v", [1e-8, 1e-12, 0.0])
def test_collapsed_gaussian_closed_form(v):
    # 1-D: collapsed variance v against the original N(0, 1)
    assert w2_squared_gaussian(0.0, v, 0.0, 1.0) == (1 - np.sqrt(v)) ** 2
    # d-D, collapsed in every direction, and in one direction only
    for C in (v * np.eye(3), np.diag([1.0, 1.0, v])):
        expected = np.sum((np.sqrt(np.diag(C)) - 1) ** 2)
        assert w2_squared_gaussian(np.zeros(3), C, np.zeros(3), np.eye(3)) == pytest.approx(expected, rel=1e-13, abs=1e-300)
    # two collapsed Gaussians: the answer is of size v, kept to full relative precision
    got = w2_squared_gaussian(np.zeros(2), v * np.diag([1.0, 4.0]), np.zeros(2), v * np.diag([9.0, 1.0]))
    assert got == pytest.approx(v * (4 + 1), rel=1e-13, abs=0)


@pytest.mark.parametrize("v", [1e-8, 1e-12, 0.0])
def test_collapsed_empirical_exact(v):
    rng = np.random.default_rng(4)
    mean = np.array([5.0, -3.0])  # far from the origin: |x|^2 + |y|^2 - 2xy would cancel
    x = mean + np.sqrt(v) * rng.standard_normal((40, 2))
    y = mean + np.sqrt(4 * v) * rng.standard_normal((30, 2))
    ours = w2_squared_empirical(x, y)
    ref = naive_w2_squared_lp(x - mean, y - mean)  # shifted to 0 by hand: no cancellation in the reference
    assert ours == pytest.approx(ref, rel=1e-7, abs=0)
    pot = ot.emd2([], [], ot.dist(x, y))  # POT's default cost matrix: |x|^2 + |y|^2 - 2 x.y
    if v > 0:
        assert abs(pot - ref) > 1e3 * abs(ours - ref)


# ------------------------------------------------------------- empirical


@pytest.mark.parametrize("n, m", [(7, 7), (7, 5), (1, 4), (12, 9)])
def test_empirical_1d_equals_lp_with_weights(n, m):
    rng = np.random.default_rng(n * 31 + m)
    x, y = rng.standard_normal(n), rng.standard_normal(m) + 0.5
    a, b = rng.random(n), rng.random(m)
    a /= a.sum()
    b /= b.sum()
    assert w2_squared_empirical(x, y) == pytest.approx(naive_w2_squared_lp(x, y), rel=1e-9)
    assert w2_squared_empirical(x, y, a, b) == pytest.approx(naive_w2_squared_lp(x, y, a, b), rel=1e-9)
    # zero weights and ties
    a[0] = 0.0 if n > 1 else 1.0
    a /= a.sum()
    xt = np.round(x, 0)
    assert w2_squared_empirical(xt, y, a, b) == pytest.approx(naive_w2_squared_lp(xt, y, a, b), rel=1e-9, abs=1e-12)


@given(
    x=hnp.arrays(np.float64, st.integers(1, 8), elements=st.integers(-3, 3).map(float)),
    y=hnp.arrays(np.float64, st.integers(1, 8), elements=st.integers(-3, 3).map(float)),
    seed=st.integers(0, 2**32 - 1),
    weighted=st.booleans(),
)
@settings(max_examples=40)
def test_empirical_1d_against_lp_with_ties(x, y, seed, weighted):
    """Ties in values and in cumulative weights (e.g. sizes 2 and 4 share the breakpoint 1/2)."""
    a = b = None
    if weighted:
        rng = np.random.default_rng(seed)
        a = rng.integers(0, 3, x.size).astype(float)  # integer weights: zeros and equal partial sums
        b = rng.integers(0, 3, y.size).astype(float)
        a[0] += 1
        b[-1] += 1
        a /= a.sum()
        b /= b.sum()
    assert w2_squared_empirical(x, y, a, b) == pytest.approx(naive_w2_squared_lp(x, y, a, b), rel=1e-9, abs=1e-12)


def test_empirical_1d_equals_dd_exact_ot():
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal(25), rng.exponential(size=18)
    one_d = w2_squared_empirical(x, y)
    # the same measures embedded in 2-D (second coordinate 0) go through the exact OT solver
    two_d = w2_squared_empirical(np.c_[x, np.zeros(25)], np.c_[y, np.zeros(18)])
    assert one_d == pytest.approx(two_d, rel=1e-10)
    assert one_d == pytest.approx(float(ot.emd2([], [], (x[:, None] - y[None]) ** 2)), rel=1e-10)
    assert w2_squared_empirical(x[:, None], y[:, None]) == one_d


def test_empirical_dd_weighted_against_lp():
    rng = np.random.default_rng(9)
    x, y = rng.standard_normal((9, 3)), rng.standard_normal((6, 3)) + 1
    a, b = rng.random(9), rng.random(6)
    a /= a.sum()
    b /= b.sum()
    assert w2_squared_empirical(x, y, a, b) == pytest.approx(naive_w2_squared_lp(x, y, a, b), rel=1e-9)


@given(
    x=hnp.arrays(np.float64, st.integers(1, 12), elements=st.floats(-1e3, 1e3)),
    y=hnp.arrays(np.float64, st.integers(1, 12), elements=st.floats(-1e3, 1e3)),
    z=hnp.arrays(np.float64, st.integers(1, 12), elements=st.floats(-1e3, 1e3)),
    shift=st.floats(-1e3, 1e3),
    a=st.floats(1e-3, 1e3),
)
@settings(max_examples=60)
def test_empirical_1d_properties(x, y, z, shift, a):
    wxy = w2_squared_empirical(x, y)
    scale = 1e-12 * (1 + np.max(np.abs(np.r_[x, y, z])) ** 2)
    assert w2_squared_empirical(x, x) == 0.0
    assert w2_squared_empirical(y, x) == pytest.approx(wxy, rel=1e-12, abs=scale)
    assert w2_squared_empirical(x + shift, y + shift) == pytest.approx(wxy, rel=1e-9, abs=scale * (1 + shift**2))
    assert w2_squared_empirical(a * x, a * y) == pytest.approx(a * a * wxy, rel=1e-9, abs=a * a * scale)
    tri = np.sqrt(w2_squared_empirical(x, y)) <= np.sqrt(w2_squared_empirical(x, z)) + np.sqrt(w2_squared_empirical(z, y)) + 1e-6
    assert tri


def test_empirical_solver_cap_is_checked(monkeypatch):
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((8, 2)), rng.standard_normal((8, 2))
    exact = w2_squared_empirical(x, y)
    calls = []
    real = ot.emd2

    def capped_then_ok(a, b, M, numItermax, log):
        calls.append(numItermax)
        cost, lg = real(a, b, M, numItermax=numItermax, log=True)
        if len(calls) == 1:  # pretend the first run hit its cap: a wrong cost with code 3
            return cost * 1.5, {**lg, "result_code": 3, "warning": "numItermax reached before optimality."}
        return cost, lg

    monkeypatch.setattr(ot, "emd2", capped_then_ok)
    assert w2_squared_empirical(x, y) == pytest.approx(exact, rel=1e-14)
    assert calls[1] == 10 * calls[0] and calls[0] >= 100_000

    def always_capped(a, b, M, numItermax, log):
        cost, lg = real(a, b, M, numItermax=numItermax, log=True)
        return cost * 1.5, {**lg, "result_code": 3, "warning": "numItermax reached before optimality."}

    monkeypatch.setattr(ot, "emd2", always_capped)
    with pytest.raises(RuntimeError, match="did not reach optimality"):
        w2_squared_empirical(x, y)


def test_empirical_refuses_huge_problem(monkeypatch):
    monkeypatch.setattr(W, "MAX_OT_BYTES", 10_000)
    x = np.zeros((30, 2))
    with pytest.raises(ValueError, match="w2_squared_sliced") as info:
        w2_squared_empirical(x, x[:25])
    assert "30 x 25" in str(info.value)
    # 1-D never builds a cost matrix
    assert w2_squared_empirical(np.zeros(10_000), np.ones(9_000)) == 1.0


# --------------------------------------------------------------- sliced


def test_sliced_equals_pot_with_same_directions_and_1d_mean():
    rng = np.random.default_rng(12)
    x, y = rng.standard_normal((300, 4)), rng.standard_normal((300, 4)) * 1.5 + 0.3
    theta = rng.standard_normal((20, 4))
    theta /= np.linalg.norm(theta, axis=1, keepdims=True)
    ours = w2_squared_sliced(x, y, projections=theta)
    pot = float(ot.sliced_wasserstein_distance(x, y, projections=theta.T)) ** 2  # POT returns the square root
    assert ours == pytest.approx(pot, rel=1e-10)
    per_direction = np.mean([w2_squared_empirical(x @ t, y @ t) for t in theta])
    assert ours == pytest.approx(per_direction, rel=1e-10)
    # unequal sizes and weights take other code paths: same definition
    yy = y[:170]
    per_direction = np.mean([w2_squared_empirical(x @ t, yy @ t) for t in theta])
    assert w2_squared_sliced(x, yy, projections=theta) == pytest.approx(per_direction, rel=1e-10)
    b = rng.random(170)
    b /= b.sum()
    per_direction = np.mean([w2_squared_empirical(x @ t, yy @ t, None, b) for t in theta])
    assert w2_squared_sliced(x, yy, projections=theta, y_weights=b) == pytest.approx(per_direction, rel=1e-10)


def test_sliced_reproducible_and_1d():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((100, 3)), rng.standard_normal((80, 3))
    assert w2_squared_sliced(x, y, 50, rng=7) == w2_squared_sliced(x, y, 50, rng=7)
    x1, y1 = rng.standard_normal(50), rng.standard_normal(60)
    assert w2_squared_sliced(x1, y1, 5, rng=0) == pytest.approx(w2_squared_empirical(x1, y1), rel=1e-12)
    # isotropic shift by v: every direction sees (theta.v)^2, whose mean over the sphere is |v|^2 / d
    z = rng.standard_normal((200, 3))
    v = np.array([1.0, 2.0, 2.0])
    est = w2_squared_sliced(z, z + v, 4000, rng=1)
    assert est == pytest.approx(9.0 / 3, rel=0.05)  # Monte Carlo over 4000 directions: sd ~ 2.5%/sqrt(...) << 5%


# ---------------------------------------------------------- to Gaussian


@pytest.mark.parametrize("n, m, var, weighted", [(1, 0.0, 1.0, False), (5, 0.3, 2.0, False), (40, -1.0, 0.25, True), (400, 0.0, 1.0, False)])
def test_to_gaussian_1d_matches_quadrature(n, m, var, weighted):
    rng = np.random.default_rng(n)
    x = m + np.sqrt(var) * rng.standard_normal(n) * 1.1 + 0.05
    w = None
    if weighted:
        w = rng.random(n)
        w /= w.sum()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # quad's round-off notes on the log singularities at 0 and 1
        ref = naive_w2_squared_to_normal_quad(x, m, np.sqrt(var), w)
    got = w2_squared_to_gaussian(x, m, var, x_weights=w)
    assert got == pytest.approx(ref, rel=1e-9)


@pytest.mark.parametrize("v", [1e-8, 1e-12, 0.0])
def test_to_gaussian_1d_collapsed(v):
    rng = np.random.default_rng(3)
    x = np.sqrt(v) * rng.standard_normal(50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = naive_w2_squared_to_normal_quad(x, 0.0, 1.0)
    assert w2_squared_to_gaussian(x, 0.0, 1.0) == pytest.approx(ref, rel=1e-9)
    # and the reverse: a sample against a collapsed Gaussian (point mass when v = 0)
    y = rng.standard_normal(50)
    ref = naive_w2_squared_to_normal_quad(y, 0.2, np.sqrt(v)) if v else np.mean((y - 0.2) ** 2)
    assert w2_squared_to_gaussian(y, 0.2, v) == pytest.approx(ref, rel=1e-9)


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 30))
@settings(max_examples=30)
def test_gelbrich_is_a_lower_bound_1d(seed, n):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n) * rng.exponential() + rng.standard_normal()
    exact = w2_squared_to_gaussian(x, 0.0, 1.0, method="exact")
    bound = w2_squared_to_gaussian(x, 0.0, 1.0, method="gelbrich")
    assert bound <= exact * (1 + 1e-12) + 1e-15


def test_to_gaussian_dd_methods():
    rng = np.random.default_rng(5)
    d = 2
    C = np.array([[1.0, 0.3], [0.3, 0.5]])
    x = whiten(rng.standard_normal((300, d))) @ np.linalg.cholesky(C).T + 1.0
    # Gelbrich: the sample's moments are exactly (1, C), so the bound is exactly |1|^2 * d
    assert w2_squared_to_gaussian(x, np.zeros(d), C) == pytest.approx(2.0, rel=1e-10)
    s1 = w2_squared_to_gaussian(x, np.zeros(d), C, method="sample", rng=3)
    assert s1 == w2_squared_to_gaussian(x, np.zeros(d), C, method="sample", rng=3)
    # A point mass at p: W2^2(delta_p, N(m, C)) = |p - m|^2 + tr C exactly; Gelbrich is tight there and
    # the sample method (one Gaussian sample of 3000) is within its sampling error: the sd of
    # |p - ybar|^2 + tr(cov_y) is about tr(C) sqrt(2/3000) ~ 4%, so 20% is > 4 sd.
    p = np.array([[0.5, -1.0]])
    exact = 0.25 + 1.0 + np.trace(C)
    assert w2_squared_to_gaussian(p, np.zeros(d), C) == pytest.approx(exact, rel=1e-12)
    assert w2_squared_to_gaussian(p, np.zeros(d), C, method="sample", n_samples=3000, rng=0) == pytest.approx(exact, rel=0.2)
    # 1-D: the sample method converges to the exact value (200000 Gaussian draws: error ~ 1e-3)
    y = np.random.default_rng(1).standard_normal(30)
    assert w2_squared_to_gaussian(y, 0.0, 1.0, method="sample", n_samples=200_000, rng=2) == pytest.approx(
        w2_squared_to_gaussian(y, 0.0, 1.0), rel=0.02
    )
    with pytest.raises(ValueError, match="method"):
        w2_squared_to_gaussian(x, np.zeros(d), C, method="exact")


# ------------------------------------------------------------------ GMM


def test_gmm_one_component_is_exact_and_permutation_invariant():
    rng = np.random.default_rng(4)
    m1, m2 = rng.standard_normal((1, 3)), rng.standard_normal((1, 3))
    C1, C2 = random_cov(rng, 3)[None], random_cov(rng, 3)[None]
    assert w2_squared_gmm([1.0], m1, C1, [1.0], m2, C2) == w2_squared_gaussian(m1[0], C1[0], m2[0], C2[0])
    ms = rng.standard_normal((3, 2))
    Cs = np.stack([random_cov(rng, 2) for _ in range(3)])
    w = np.array([0.2, 0.3, 0.5])
    perm = [2, 0, 1]
    assert w2_squared_gmm(w, ms, Cs, w[perm], ms[perm], Cs[perm]) == pytest.approx(0.0, abs=1e-12)


def test_gmm_against_lp_and_upper_bound_1d():
    w1, m1, v1 = np.array([0.3, 0.7]), np.array([-2.0, 1.0]), np.array([0.5, 1.0])
    w2, m2, v2 = np.array([0.5, 0.25, 0.25]), np.array([0.0, 2.0, -3.0]), np.array([1.0, 0.2, 2.0])
    mw = w2_squared_gmm(w1, m1, v1, w2, m2, v2)
    # naive: component-level LP with the 1-D Gaussian cost written out
    cost = (m1[:, None] - m2[None]) ** 2 + (np.sqrt(v1)[:, None] - np.sqrt(v2)[None]) ** 2
    from scipy.optimize import linprog

    A = np.zeros((5, 6))
    for i in range(2):
        A[i, i * 3 : i * 3 + 3] = 1
    for j in range(3):
        A[2 + j, j::3] = 1
    lp = linprog(cost.ravel(), A_eq=A, b_eq=np.r_[w1, w2], bounds=(0, None), method="highs").fun
    assert mw == pytest.approx(lp, rel=1e-10)
    # exact W2^2 between the 1-D mixtures (quantile functions by bisection): MW2^2 is an upper bound
    exact = naive_w2_squared_1d_quantiles(naive_mixture_quantile(w1, m1, v1), naive_mixture_quantile(w2, m2, v2))
    assert 0 < exact <= mw


# ------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: w2_squared_gaussian(np.nan, 1.0, 0.0, 1.0), "m1"),
        (lambda: w2_squared_gaussian(0.0, -1.0, 0.0, 1.0), "C1"),
        (lambda: w2_squared_gaussian([0, 0], np.eye(2), [0, 0, 0], np.eye(3)), "m1"),
        (lambda: w2_squared_gaussian([0, 0], np.eye(3), [0, 0], np.eye(2)), "m1|C1"),
        (lambda: w2_squared_gaussian([0, 0], [[1, 2], [0, 1]], [0, 0], np.eye(2)), "C1"),
        (lambda: w2_squared_gaussian([0, 0], np.eye(2), [0, 0], [[1, 0], [0, -1]]), "C2"),
        (lambda: w2_squared_gaussian(np.zeros((2, 2)), np.stack([np.eye(2), -np.eye(2)]), [0, 0], np.eye(2)), "C1"),
        (lambda: w2_squared_gaussian(0.0, 1.0, [0, 0], np.eye(2)), "m1|m2"),
        (lambda: w2_squared_empirical([], [1.0]), "x"),
        (lambda: w2_squared_empirical([1.0], np.zeros((0, 2))), "y"),
        (lambda: w2_squared_empirical([1.0, np.nan], [1.0]), "x"),
        (lambda: w2_squared_empirical(np.zeros((3, 2)), np.zeros((3, 3))), "dimension"),
        (lambda: w2_squared_empirical([1.0, 2.0], [1.0], x_weights=[0.5, 0.6]), "x_weights"),
        (lambda: w2_squared_empirical([1.0, 2.0], [1.0], x_weights=[1.5, -0.5]), "x_weights"),
        (lambda: w2_squared_empirical([1.0, 2.0], [1.0], y_weights=[0.5, 0.5]), "y_weights"),
        (lambda: w2_squared_sliced(np.zeros((3, 2)), np.zeros((3, 2)), projections=0), "projections"),
        (lambda: w2_squared_to_gaussian([1.0, 2.0], 0.0, -1.0), "C"),
        (lambda: w2_squared_to_gaussian(np.zeros((4, 2)), np.zeros(3), np.eye(2)), "m"),
        (lambda: w2_squared_to_gaussian(np.zeros((4, 2)), np.zeros(2), [[1, 1], [0, 1]]), "C"),
        (lambda: w2_squared_to_gaussian([1.0], 0.0, 1.0, method="mc"), "method"),
        (lambda: w2_squared_gmm([0.5, 0.6], [0, 1], [1, 1], [1.0], [0], [1]), "w1"),
        (lambda: w2_squared_gmm([0.5, 0.5], [0, 1], [1, 1], [1.0], [0, 1], [1]), "m2"),
        (lambda: w2_squared_gmm([1.0], [[0, 0]], [np.eye(2)], [1.0], [0], [1]), "1-D"),
        (lambda: w2_squared_gmm([1.0], [[0, 0]], [[[1, 0], [0, -1]]], [1.0], [[0, 0]], [np.eye(2)]), "C1"),
    ],
)
def test_bad_input_names_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------------------- overflow (issue 17, fuzz findings)


def test_logvar_above_709_is_finite_where_the_value_is():
    import mpmath

    mpmath.mp.dps = 60
    lo = 720.0
    hi = float(np.nextafter(lo, np.inf) + 4 * np.spacing(lo))  # a few ulps apart: (sigma1 - sigma2)^2 near 1e287
    want = (mpmath.exp(mpmath.mpf(lo) / 2) - mpmath.exp(mpmath.mpf(hi) / 2)) ** 2
    got = w2_squared_gaussian_logvar(0.0, lo, 0.0, hi)
    assert np.isfinite(got) and abs(got / float(want) - 1) < 1e-9
    assert w2_squared_gaussian_logvar(0.0, 800.0, 0.0, 800.0) == 0.0  # exp(800) overflows: was NaN
    assert w2_squared_gaussian_logvar(1.0, 1e300, 3.0, 1e300) == 4.0
    with pytest.raises(ValueError, match="log_var1, m2, log_var2.*exceeds the largest float64"):
        w2_squared_gaussian_logvar(0.0, 800.0, 0.0, 0.0)  # e^800 is beyond float64: refused, not inf


def test_closed_form_large_covariances_rescaled():
    d = 2
    # per axis (sqrt(1e308) - sqrt(2.5e307))^2 = (1e154 - 5e153)^2 = 2.5e307 (was a LinAlgError)
    got = w2_squared_gaussian(np.zeros(d), 1e308 * np.eye(d), np.zeros(d), 2.5e307 * np.eye(d))
    assert got == pytest.approx(d * 2.5e307, rel=1e-12)
    assert w2_squared_gaussian(np.zeros(d), 1e308 * np.eye(d), np.zeros(d), 1e308 * np.eye(d)) == pytest.approx(0.0, abs=1e293)
    # factors of size 1e300: their product overflowed (inf * 0 = NaN) for identical ones
    assert w2_squared_gaussian_factors(np.zeros(d), 1e300 * np.eye(d), np.zeros(d), 1e300 * np.eye(d)) == 0.0
    with pytest.raises(ValueError, match="m1, C1, m2, C2.*exceeds"):
        w2_squared_gaussian(np.zeros(d), 1e308 * np.eye(d), np.zeros(d), np.zeros((d, d)))  # 2e308
    with pytest.raises(ValueError, match="m1, C1, m2, C2.*exceeds"):
        w2_squared_gaussian(1e200, 1.0, -1e200, 1.0)


def test_samples_near_overflow_rescaled():
    # one point at 1.5e154 and one at 0 against two at 0: W2^2 = (1.5e154)^2 / 2, though the cost (1.5e154)^2 overflows
    x2 = np.array([[1.5e154, 0.0], [0.0, 0.0]])
    want = 1.5e154 * (1.5e154 / 2)
    assert w2_squared_empirical(x2, np.zeros((2, 2))) == pytest.approx(want, rel=1e-12)
    assert w2_squared_empirical(x2[:, 0], np.zeros(2)) == pytest.approx(want, rel=1e-12)
    assert w2_squared_sliced(x2, np.zeros((2, 2)), projections=[[1.0, 0.0]]) == pytest.approx(want, rel=1e-12)
    same = np.array([[1e308, -1e308], [-1e308, 1e308]])
    assert w2_squared_empirical(same, same) == 0.0  # the pooled mean no longer overflows
    with pytest.raises(ValueError, match=r"x, y.*exceeds"):
        w2_squared_empirical(np.array([1e308, -1e308]), np.array([0.0, 1.0]))


def test_to_gaussian_errors_name_its_own_parameters():
    for call in (
        lambda: w2_squared_to_gaussian(np.zeros((3, 2)), np.zeros(2), 1e308 * np.eye(2)),  # gelbrich
        lambda: w2_squared_to_gaussian(np.array([[1e308, 0.0], [-1e308, 0.0]]), np.zeros(2), np.eye(2)),
        lambda: w2_squared_to_gaussian(np.array([1e308, -1e308]), 0.0, 1.0),  # exact 1-D
    ):
        with pytest.raises(ValueError, match=r"w2_squared_to_gaussian.*x, m, C") as info:
            call()
        assert not re.search(r"\b(C1|C2|m1|m2|y)\b", str(info.value)), str(info.value)
    # a Gaussian of variance 1e308 against a point at 0: W2^2 = 1e308 (1-D exact), finite
    assert w2_squared_to_gaussian([0.0], 0.0, 1e308) == pytest.approx(1e308, rel=1e-9)


def test_gmm_scalar_weight_and_overflow_named():
    with pytest.raises(ValueError, match=r"\bw1\b"):
        w2_squared_gmm(1.0, [0.0], [1.0], [1.0], [0.0], [1.0])
    with pytest.raises(ValueError, match=r"\bw2\b"):
        w2_squared_gmm([1.0], [0.0], [1.0], 1.0, [0.0], [1.0])
    with pytest.raises(ValueError, match=r"w2_squared_gmm.*m1, C1, m2, C2"):
        w2_squared_gmm([0.5, 0.5], [1e200, 0.0], [1.0, 1.0], [1.0], [-1e200], [1.0])


# ------------------------------------------------------------- report


def test_report_section_quick():
    from collapse_theory.report.sections.wasserstein import build

    sec = build(quick=True, seed=0)
    df = sec.tables["accuracy"]
    assert set(df["scenario"]) == {"bures", "closed_form", "exact_ot"} and len(df) == 27
    assert (df["ours_rel_error"] < 1e-5).all()
    # POT's default empirical Bures estimator: reg = 1e-6 on covariances v I and 4v I (d = 2)
    bures = df[df["scenario"] == "bures"]
    predicted = 2 * (np.sqrt(4 * bures["variance"] + 1e-6) - np.sqrt(bures["variance"] + 1e-6)) ** 2
    np.testing.assert_allclose(bures["pot_default"], predicted, rtol=1e-6)
    assert "accuracy" in sec.figures
    assert "reg=1e-6" in sec.caption
