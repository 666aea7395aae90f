"""theory.gaussian: every closed form against simulation, naive numerical references and SymPy.

Simulation checks are z-tests of Monte Carlo means (exact chain, fixed seeds)
against exact expectations, at family-wise level LEVEL = 1e-3 (Bonferroni
over the checks of a test). With 20000 replicates a z-test at the per-check
level (about 4.2 standard errors after correction) detects a bias of 3.5% of
a standard deviation with power > 0.8: a 1/M-sized error in a drift, a
missing factor (M-1)/M or a wrong degree of freedom. Means of
sigma_n^2 are only tested at small n, where their tails are light; the
collapse itself is tested through log-variances, E sigma_n and W2.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from helpers import assert_consistent
from hypothesis import given, settings
from hypothesis import strategies as st
from naive_gaussian import naive_chi2_moment, naive_expected_w2_squared, naive_log_chi2_moments
from scipy.special import zeta

import collapse_theory as ct
from collapse_theory._stats import z_test
from collapse_theory.theory import gaussian as th

R = 20000


def _chain(M, G, *, sigma0=1.3, estimator="unbiased", mixing=None, rng=0):
    return ct.GaussianChain(0.4, sigma0**2, M, estimator=estimator, mixing=mixing).simulate(G, R, rng=rng)


# ----------------------------------------------------------------------------- 1-D, against simulation
@pytest.mark.parametrize("estimator", ["unbiased", "mle"])
@pytest.mark.parametrize("sizes", [8, np.array([5, 9, 3, 20, 6, 12, 7, 4, 30, 5, 8, 6])])
def test_moments_against_simulation(estimator, sizes):
    sigma0, G = 1.3, 12
    run = _chain(sizes, G, sigma0=sigma0, estimator=estimator, rng=1)
    pv = []
    for t in (1, 4, G):
        lv = run.log_var[:, t]
        e_lv = th.expected_log_variance(t, sizes, sigma0, estimator)
        pv.append(z_test(lv, e_lv))
        pv.append(z_test((lv - e_lv) ** 2, th.log_variance_variance(t, sizes, estimator)))
        pv.append(z_test(run.std[:, t], th.expected_std(t, sizes, sigma0, estimator)))
        pv.append(z_test((run.mean[:, t] - 0.4) ** 2, th.expected_mean_squared_error(t, sizes, sigma0, estimator)))
        pv.append(z_test(run.w2_squared_to_initial[:, t], th.expected_w2_squared(t, sizes, sigma0, estimator)))
    for t in (1, 2):  # light tails only at small n
        pv.append(z_test(run.var[:, t], th.expected_variance(t, sizes, sigma0, estimator)))
        pv.append(z_test(run.var[:, t] ** 2, th.expected_variance_power(t, sizes, 2.0, sigma0, estimator)))
        pv.append(z_test(run.std[:, t] ** -1, th.expected_variance_power(t, sizes, -0.5, sigma0, estimator)))
    v1 = th.variance_of_variance(1, sizes, sigma0, estimator)
    pv.append(z_test((run.var[:, 1] - th.expected_variance(1, sizes, sigma0, estimator)) ** 2, v1))
    assert_consistent(pv, what=f"1-D moments, {estimator}, M={sizes}")


def test_almost_sure_collapse_while_mean_variance_constant():
    # the median of sigma_n^2 falls like exp(n E log W) while E sigma_n^2 = sigma0^2
    M, G = 10, 200
    run = ct.GaussianChain(0.0, 1.0, M).simulate(G, 4000, rng=2)
    med = np.median(run.log_var, axis=0)
    drift = th.log_variance_drift(M)
    assert drift < 0
    assert np.all(np.diff(med[::20]) < 0)  # falls steadily
    assert med[G] < np.log(1e-5)
    assert np.mean(run.var[:, G] < 1e-2) > 0.99  # almost every path collapsed
    np.testing.assert_allclose(th.expected_variance(np.arange(G + 1), M), 1.0, rtol=1e-12)
    pv = [z_test(run.var[:, t], 1.0) for t in (1, 2)]
    pv.append(z_test(run.log_var[:, G], th.expected_log_variance(G, M)))
    assert_consistent(pv, what="a.s. collapse with constant mean")


@given(st.integers(2, 10**6))
def test_log_variance_drift_is_negative_and_about_minus_one_over_m(M):
    d = th.log_variance_drift(M)
    assert d < 0
    if M > 50:
        assert abs(d * (M - 1) + 1) < 2.0 / M  # psi(x) - log(x) = -1/(2x) - 1/(12 x^2) + ...
    assert th.log_variance_drift(M, "mle") < d


# ----------------------------------------------------------------------------- d-D (Bartlett)
@pytest.mark.parametrize("estimator", ["unbiased", "mle"])
def test_multivariate_against_simulation(estimator):
    rng = np.random.default_rng(3)
    A = rng.normal(size=(3, 3))
    cov0 = A @ A.T + 0.5 * np.eye(3)
    M, G = 9, 6
    run = ct.GaussianChain(np.ones(3), cov0, M, estimator=estimator).simulate(G, R, rng=4)
    pv = []
    for t in (1, 3, G):
        pv.append(z_test(np.sum((run.mean[:, t] - 1.0) ** 2, axis=-1), th.expected_mean_squared_error_mv(t, M, cov0, estimator)))
        ld = run.log_det[:, t]
        e_ld = th.expected_log_det(t, M, cov0, estimator)
        pv.append(z_test(ld, e_ld))
        pv.append(z_test((ld - e_ld) ** 2, th.log_det_variance(t, M, 3, estimator)))
    for t in (1, 2):
        pv.append(z_test(run.trace[:, t], th.expected_trace(t, M, cov0, estimator)))
        pv.append(z_test(np.exp(run.log_det[:, t]), th.expected_det(t, M, cov0, estimator)))
    assert_consistent(pv, what=f"multivariate, {estimator}")


# ----------------------------------------------------------------------------- fresh data, accumulation
@pytest.mark.parametrize(
    "workflow, gamma, estimator",
    [("fresh", 0.2, "unbiased"), ("fresh", 0.15, "mle"), ("accumulate", 0.0, "unbiased"), ("accumulate", 0.3, "unbiased"),
     ("accumulate", 0.0, "mle")],
)
def test_moment_recursion_against_simulation(workflow, gamma, estimator):
    M, G, sigma0 = 10, 30, 1.3
    mixing = ct.Mixing.fresh(gamma) if workflow == "fresh" else ct.Mixing.accumulate(gamma)
    run = _chain(M, G, sigma0=sigma0, estimator=estimator, mixing=mixing, rng=5)
    path = th.moment_recursion(G, M, gamma, workflow, sigma0, estimator)
    pv = []
    for t in (1, 5, G):
        pv.append(z_test((run.mean[:, t] - 0.4) ** 2, path.mean_squared_error[t]))
        pv.append(z_test(run.var[:, t], path.variance[t]))
    assert_consistent(pv, what=f"moment recursion, {workflow} gamma={gamma} {estimator}")
    # E W2^2 is bounded below by the Jensen bound
    assert np.all(run.w2_squared_to_initial.mean(axis=0)[1:] > path.w2_squared_lower_bound[1:])


@given(st.integers(2, 200), st.floats(0.0, 1.0), st.sampled_from(["unbiased", "mle"]))
def test_stationary_moments_are_the_recursion_limit(M, gamma, estimator):
    v, e = th.stationary_moments(M, gamma, 1.0, estimator)
    A, b = th._fresh_system(float(M), gamma, 1.0, estimator)
    rho = np.max(np.abs(np.linalg.eigvals(A)))
    if not np.isfinite(v):
        assert rho >= 1.0
        return
    n = int(min(200000, 50 / max(1 - rho, 1e-9)))
    path = th.moment_recursion(n, M, gamma, "fresh", 1.0, estimator)
    np.testing.assert_allclose([path.variance[-1], path.mean_squared_error[-1]], [v, e], rtol=1e-6, atol=1e-12)
    if estimator == "unbiased" and gamma > 0:
        # the closed form in the docstring
        vbar = gamma / (gamma - (1 - gamma) / (M * (2 - gamma)))
        np.testing.assert_allclose([v, e], [vbar, vbar / (M * gamma * (2 - gamma))], rtol=1e-9)


def test_fresh_data_needs_gamma_above_about_one_over_2m():
    M = 50
    assert np.isinf(th.stationary_moments(M, 0.005)[0])  # gamma M (2 - gamma) < 1 - gamma
    assert np.isfinite(th.stationary_moments(M, 0.02)[0])
    path = th.moment_recursion(3000, M, 0.005, "fresh")
    assert path.variance[-1] > 2 * path.variance[1000]


@given(st.lists(st.integers(2, 60), min_size=1, max_size=15), st.sampled_from(["unbiased", "mle"]))
def test_replace_recursion_equals_closed_forms(sizes, estimator):
    sizes = np.array(sizes)
    n = sizes.size
    path = th.moment_recursion(n, sizes, 0.0, "replace", 1.7, estimator)
    t = np.arange(n + 1)
    np.testing.assert_allclose(path.variance, th.expected_variance(t, sizes, 1.7, estimator), rtol=1e-12)
    np.testing.assert_allclose(path.mean_squared_error, th.expected_mean_squared_error(t, sizes, 1.7, estimator), rtol=1e-12)


def test_accumulation_long_run_is_bounded():
    v, e = th.long_run_moments(20, 0.0, "accumulate")
    path = th.moment_recursion(20000, 20, 0.0, "accumulate")
    np.testing.assert_allclose([path.variance[-1], path.mean_squared_error[-1]], [v, e], rtol=1e-4)
    # accumulated errors stay of order 1/M; replacing data grows them without bound
    assert e < 2.0 / 20 and th.expected_mean_squared_error(20000, 20) > 900


# ----------------------------------------------------------------------------- naive numerical references
@settings(max_examples=15)
@given(st.integers(2, 300), st.sampled_from([-0.4, 0.5, 1.0, 2.0, 3.0]), st.sampled_from(["unbiased", "mle"]))
def test_moment_factor_against_quadrature(M, r, estimator):
    k = M - 1
    if k / 2 + r <= 0:
        assert np.isinf(th.moment_factor(M, r, estimator))
        return
    D = k if estimator == "unbiased" else M
    np.testing.assert_allclose(th.moment_factor(M, r, estimator), naive_chi2_moment(k, r) / D**r, rtol=1e-7)


@settings(max_examples=15)
@given(st.integers(2, 400))
def test_log_moments_against_quadrature(M):
    m1, var = naive_log_chi2_moments(M - 1)
    np.testing.assert_allclose(th.log_variance_drift(M), m1 - np.log(M - 1), rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(th.log_variance_variance(1, M), var, rtol=1e-6)


@settings(max_examples=12)
@given(st.lists(st.integers(2, 40), min_size=1, max_size=6), st.sampled_from(["unbiased", "mle"]))
def test_expected_w2_against_naive(sizes, estimator):
    sizes = np.array(sizes)
    ddof = 1 if estimator == "unbiased" else 0
    np.testing.assert_allclose(th.expected_w2_squared(sizes.size, sizes, 0.7, estimator),
                               naive_expected_w2_squared(sizes, 0.7, ddof), rtol=1e-7)


def test_c4_known_values_and_large_m():
    # c4(2) = sqrt(2/pi), c4(3) = sqrt(pi)/2
    np.testing.assert_allclose(th.c4(np.array([2, 3])), [np.sqrt(2 / np.pi), np.sqrt(np.pi) / 2], rtol=1e-14)
    # 1 - c4(M) ~ 1/(4M) + 7/(32 M^2): no cancellation at huge M
    M = 10**9
    np.testing.assert_allclose(1 - th.c4(M), 1 / (4 * M) + 7 / (32 * M**2), rtol=1e-6)
    np.testing.assert_allclose(th.expected_w2_squared(1, M), 1 / M + 2 * (1 / (4 * M) + 7 / (32 * M**2)), rtol=1e-6)


# ----------------------------------------------------------------------------- SymPy against the numeric functions
@pytest.fixture(scope="module")
def D():
    return th.derivations()


@given(st.integers(2, 500), st.integers(0, 50), st.floats(0.1, 3.0), st.data())
def test_sympy_expressions_match_numeric(M, n, sigma0, data):
    D = th.derivations()
    Ms, ns, s0, k, r, Dd = sp.symbols("M n sigma_0 k r D", positive=True)
    sub = {sp.Symbol("M", positive=True): M, sp.Symbol("n", positive=True): n, sp.Symbol("sigma_0", positive=True): sigma0}
    np.testing.assert_allclose(float(D["c4"].subs(sub).evalf(30)), th.c4(M), rtol=1e-12)
    np.testing.assert_allclose(float(D["w2_exact"].subs(sub).evalf(30)), th.expected_w2_squared(n, M, sigma0), rtol=1e-9, atol=1e-15)
    rr = data.draw(st.sampled_from([0.5, 1.0, 1.5, 2.0, -0.25]))
    est = data.draw(st.sampled_from(["unbiased", "mle"]))
    Dval = M - 1 if est == "unbiased" else M
    f = D["moment_factor"].subs({sp.Symbol("k", positive=True): M - 1, sp.Symbol("D", positive=True): Dval,
                                 sp.Symbol("r", positive=True): rr})
    np.testing.assert_allclose(float(f.evalf(30)), th.moment_factor(M, rr, est), rtol=1e-10)
    lm = D["log_moment_mean"].subs({sp.Symbol("k", positive=True): M - 1, sp.Symbol("D", positive=True): Dval})
    np.testing.assert_allclose(float(lm.evalf(30)), th.log_variance_drift(M, est), rtol=1e-10, atol=1e-14)
    lv = D["log_moment_variance"].subs({sp.Symbol("k", positive=True): M - 1})
    np.testing.assert_allclose(float(lv.evalf(30)), th.log_variance_variance(1, M, est), rtol=1e-10)


@pytest.fixture(scope="module")
def fresh_stationary_fns():
    D = th.derivations()
    args = (sp.Symbol("M", positive=True), sp.Symbol("gamma", nonnegative=True), sp.Symbol("q", nonnegative=True),
            sp.Symbol("sigma_0", positive=True))
    fs = D["fresh_stationary"]
    return sp.lambdify(args, fs["variance"], "math"), sp.lambdify(args, fs["mean_squared_error"], "math")


@given(st.integers(2, 300), st.floats(1e-6, 1.0), st.sampled_from(["unbiased", "mle"]), st.floats(0.1, 3.0))
def test_sympy_fresh_stationary_matches_numeric(fresh_stationary_fns, M, gamma, estimator, sigma0):
    v_num, e_num = th.stationary_moments(M, gamma, sigma0, estimator)
    if not np.isfinite(v_num):
        return
    q = 1.0 if estimator == "unbiased" else (M - 1) / M
    fv, fe = fresh_stationary_fns
    np.testing.assert_allclose([fv(M, gamma, q, sigma0), fe(M, gamma, q, sigma0)], [v_num, e_num], rtol=1e-8)


@given(st.integers(2, 100), st.floats(0.0, 1.0), st.integers(1, 6))
def test_sympy_accumulate_step_matches_recursion(M, gamma, steps):
    D = th.derivations()
    path = th.moment_recursion(steps, M, gamma, "accumulate", 1.0)
    e_expr, s_expr = D["accumulate_step"]["mean_squared_error"], D["accumulate_step"]["scatter"]
    syms = {name: sp.Symbol(name, nonnegative=True) for name in ("gamma", "v", "e", "N", "S")}
    Msym, s0 = sp.Symbol("M", positive=True), sp.Symbol("sigma_0", positive=True)
    v, e, N, S = 1.0, 0.0, 0.0, 0.0
    for t in range(steps):
        sub = {syms["gamma"]: gamma, syms["v"]: v, syms["e"]: e, syms["N"]: N, syms["S"]: S, Msym: M, s0: 1.0}
        e = float(e_expr.subs(sub))
        S = float(s_expr.subs(sub))
        N += M
        v = S / (N - 1)
    np.testing.assert_allclose([v, e], [path.variance[-1], path.mean_squared_error[-1]], rtol=1e-10)


@given(st.integers(2, 6), st.integers(0, 40))
def test_sympy_bartlett_det_matches_numeric(d, extra):
    D = th.derivations()
    M = d + 1 + extra
    expr = D["det_factor"].subs({sp.Symbol("d", positive=True, integer=True): d, sp.Symbol("k", positive=True): M - 1,
                                 sp.Symbol("D", positive=True): M - 1}).doit()
    np.testing.assert_allclose(float(expr), th.expected_det(1, M, np.eye(d)), rtol=1e-12)


def test_paper_first_order_term(D):
    assert D["first_order_matches_paper"]
    assert D["c4_comparison_limit"] == sp.Rational(1, 4)
    M, n, s0 = sp.symbols("M n sigma_0", positive=True)
    assert sp.simplify(D["w2_second_order"] - n * s0**2 * (8 - n) / (16 * M**2)) == 0
    # numerically: exact - (first + second order) = O(M^-3) at fixed n
    for nn in (1, 5):
        errs = []
        for MM in (10**3, 10**4, 10**5):
            series = float(D["w2_series"].subs({M: MM, n: nn, s0: 1}))
            errs.append(abs(th.expected_w2_squared(nn, MM) - series))
        assert errs[1] < errs[0] / 100 and errs[2] < errs[1] / 100 + 1e-16
    # the relative gap to the paper's term is about (8 - n) / (24 M)
    np.testing.assert_allclose(th.expected_w2_squared(3, 10**4) / th.paper_w2_squared(3, 10**4) - 1, 5 / (24 * 10**4), rtol=1e-3)


# ----------------------------------------------------------------------------- schedules
def test_schedule_criterion(D):
    assert D["schedule_convergent"] == {"1/2": False, "1": False, "11/10": True, "3/2": True, "2": True}
    for a, bounded in ((0.0, False), (0.5, False), (1.0, False), (1.05, True), (2.0, True)):
        assert th.schedule_is_bounded(a) is bounded
        lim = th.schedule_limit(10, a)
        assert bool(np.isfinite(lim)) is bounded
    # the limit is approached from below by the exact values along the schedule
    sched = ct.schedules.power(10, 2.0)
    w = th.expected_w2_squared(np.array([100, 1000, 10000]), sched)
    lim = th.schedule_limit(10, 2.0)
    # the tail after 10^4 generations is about (3/2) sum_{t > 10^4} 1 / (10 t^2) = 1.5e-5
    assert np.all(np.diff(w) > 0) and w[-1] < lim < w[-1] + 2e-5
    # without rounding the sum part is zeta(a) / M0
    lim_u = th.schedule_limit(10, 2.0, rounded=False)
    # reference: log c4 in 30-digit arithmetic for t <= 3000, then -log c4(M) ~ 1/(4M) (M > 9e7)
    import mpmath as mp

    with mp.workdps(30):
        log_prod = mp.fsum(mp.log(2 / mp.mpf(10 * t * t - 1)) / 2 + mp.loggamma(mp.mpf(10 * t * t) / 2)
                           - mp.loggamma(mp.mpf(10 * t * t - 1) / 2) for t in range(1, 3001))
    log_prod = float(log_prod) - zeta(2.0, 3001) / 40
    np.testing.assert_allclose(lim_u, zeta(2.0) / 10 + 2 * (1 - np.exp(log_prod)), rtol=1e-9)
    # a <= 1: grows without bound (logarithmically at a = 1)
    lin = ct.schedules.power(10, 1.0)
    w1 = th.expected_w2_squared(np.array([10**3, 10**5]), lin)
    assert w1[1] - w1[0] > 0.15 * np.log(100) * 0.9


def test_schedule_limit_against_simulation():
    # E W2^2 at generation 300 of M_t = 5 t^2 is within 1e-3 of the limit; 20000 replicates
    run = ct.GaussianChain(0.0, 1.0, ct.schedules.power(5, 2.0)).simulate(300, R, rng=6)
    w = run.w2_squared_to_initial[:, -1]
    assert_consistent([z_test(w, th.expected_w2_squared(300, ct.schedules.power(5, 2.0)))], what="schedule")
    assert abs(th.schedule_limit(5, 2.0) - th.expected_w2_squared(300, ct.schedules.power(5, 2.0))) < 1e-3


# ----------------------------------------------------------------------------- input checks
def test_theory_input_errors():
    with pytest.raises(ValueError, match="n must be >= 0"):
        th.expected_w2_squared(-1, 10)
    with pytest.raises(TypeError, match="n must be"):
        th.expected_w2_squared(1.5, 10)
    with pytest.raises(ValueError, match="M"):
        th.expected_w2_squared(3, 1)
    with pytest.raises(ValueError, match="estimator"):
        th.expected_std(3, 10, estimator="ddof")
    with pytest.raises(ValueError, match="gamma"):
        th.moment_recursion(3, 10, 0.2, "replace")
    with pytest.raises(ValueError, match="workflow"):
        th.moment_recursion(3, 10, 0.2, "mixture")
    with pytest.raises(ValueError, match="at least|>= 4|must be"):
        th.expected_log_det(2, 3, np.eye(3))  # M <= d
    with pytest.raises(ValueError, match="sizes"):
        th.expected_w2_squared(5, [3, 4])  # schedule shorter than n
    out = th.expected_w2_squared(np.array([[0, 1], [2, 3]]), 10)
    assert out.shape == (2, 2) and out[0, 0] == 0.0
