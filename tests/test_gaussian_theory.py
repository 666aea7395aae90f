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
from naive_gaussian import (
    naive_mixture_chain_1d,
    naive_chi2_moment,
    naive_expected_w2_squared,
    naive_log_chi2_moments,
)
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
    path = th.moment_recursion(G, M, mixing=mixing, sigma0=sigma0, estimator=estimator)
    pv = []
    for t in (1, 5, G):
        pv.append(z_test((run.mean[:, t] - 0.4) ** 2, path.mean_squared_error[t]))
        pv.append(z_test(run.var[:, t], path.variance[t]))
    assert_consistent(pv, what=f"moment recursion, {workflow} gamma={gamma} {estimator}")
    # E W2^2 is bounded below by the Jensen bound
    assert np.all(run.w2_squared_to_initial.mean(axis=0)[1:] > path.w2_squared_lower_bound[1:])


@settings(max_examples=25)
@given(st.integers(2, 200), st.floats(0.0, 1.0), st.sampled_from(["unbiased", "mle"]))
def test_stationary_moments_are_the_recursion_limit(M, gamma, estimator):
    mix = ct.Mixing.fresh(gamma)
    v, e = th.stationary_moments(M, mixing=mix, estimator=estimator)
    if not np.isfinite(e):
        # no fixed point: the recursion keeps growing
        path = th.moment_recursion(4000, M, mixing=mix, estimator=estimator)
        assert path.mean_squared_error[-1] > path.mean_squared_error[2000]
        return
    # the fixed point attracts at the rate of A's spectral radius; stay where 20000 steps converge
    q = (M - 1) / (M - 1 if estimator == "unbiased" else M)
    A = np.array([[q * (1 - gamma), q * gamma * (1 - gamma)], [(1 - gamma) / M, (1 - gamma) ** 2 + gamma * (1 - gamma) / M]])
    rho = np.max(np.abs(np.linalg.eigvals(A)))
    n = int(min(20000, 40 / max(1 - rho, 1e-9)))
    if n == 20000:
        return
    path = th.moment_recursion(n, M, mixing=mix, estimator=estimator)
    np.testing.assert_allclose([path.variance[-1], path.mean_squared_error[-1]], [v, e], rtol=1e-5, atol=1e-12)
    if estimator == "unbiased" and gamma > 0:
        # the closed form in the docstring
        vbar = gamma / (gamma - (1 - gamma) / (M * (2 - gamma)))
        np.testing.assert_allclose([v, e], [vbar, vbar / (M * gamma * (2 - gamma))], rtol=1e-9)


def test_fresh_data_needs_gamma_above_about_one_over_2m():
    M = 50
    b = th.fresh_stability_threshold(M)
    assert np.isinf(th.stationary_moments(M, mixing=ct.Mixing.fresh(b * 0.98))[0])
    assert np.isfinite(th.stationary_moments(M, mixing=ct.Mixing.fresh(b * 1.02))[0])
    assert abs(b - 1 / (2 * M)) < 0.2 / M
    path = th.moment_recursion(3000, M, mixing=ct.Mixing.fresh(0.005))
    assert path.variance[-1] > 2 * path.variance[1000]


@given(st.integers(2, 60), st.integers(1, 15), st.sampled_from(["unbiased", "mle"]))
def test_replace_recursion_equals_closed_forms(M, n, estimator):
    path = th.moment_recursion(n, M, mixing=None, sigma0=1.7, estimator=estimator)
    t = np.arange(n + 1)
    np.testing.assert_allclose(path.variance, th.expected_variance(t, M, 1.7, estimator), rtol=1e-12)
    np.testing.assert_allclose(path.mean_squared_error, th.expected_mean_squared_error(t, M, 1.7, estimator), rtol=1e-12)


def test_accumulation_long_run_is_bounded():
    v, e = th.long_run_moments(20, mixing=ct.Mixing.accumulate())
    path = th.moment_recursion(20000, 20, mixing=ct.Mixing.accumulate())
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
@pytest.mark.slow
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
@pytest.mark.slow
def test_sympy_expressions_match_numeric(M, n, sigma0, data):
    D = th.derivations()
    Ms, ns, s0, k, r, Dd = sp.symbols("M n sigma_0 k r D", positive=True)
    sub = {sp.Symbol("M", positive=True): M, sp.Symbol("n", positive=True): n, sp.Symbol("sigma_0", positive=True): sigma0}
    np.testing.assert_allclose(float(D["c4"].result.subs(sub).evalf(30)), th.c4(M), rtol=1e-12)
    np.testing.assert_allclose(float(D["w2_exact"].result.subs(sub).evalf(30)), th.expected_w2_squared(n, M, sigma0), rtol=1e-9, atol=1e-15)
    rr = data.draw(st.sampled_from([0.5, 1.0, 1.5, 2.0, -0.25]))
    est = data.draw(st.sampled_from(["unbiased", "mle"]))
    Dval = M - 1 if est == "unbiased" else M
    f = D["moment_factor"].result.subs({sp.Symbol("k", positive=True): M - 1, sp.Symbol("D", positive=True): Dval,
                                 sp.Symbol("r", positive=True): rr})
    np.testing.assert_allclose(float(f.evalf(30)), th.moment_factor(M, rr, est), rtol=1e-10)
    lm = D["log_moment_mean"].result.subs({sp.Symbol("k", positive=True): M - 1, sp.Symbol("D", positive=True): Dval})
    np.testing.assert_allclose(float(lm.evalf(30)), th.log_variance_drift(M, est), rtol=1e-10, atol=1e-14)
    lv = D["log_moment_variance"].result.subs({sp.Symbol("k", positive=True): M - 1})
    np.testing.assert_allclose(float(lv.evalf(30)), th.log_variance_variance(1, M, est), rtol=1e-10)


@pytest.fixture(scope="module")
def fresh_stationary_fns():
    D = th.derivations()
    args = (sp.Symbol("M", positive=True), sp.Symbol("gamma", nonnegative=True), sp.Symbol("q", nonnegative=True),
            sp.Symbol("sigma_0", positive=True))
    fs = D["fresh_stationary"].result
    return sp.lambdify(args, fs["variance"], "math"), sp.lambdify(args, fs["mean_squared_error"], "math")


@given(st.integers(2, 300), st.floats(1e-6, 1.0), st.sampled_from(["unbiased", "mle"]), st.floats(0.1, 3.0))
def test_sympy_fresh_stationary_matches_numeric(fresh_stationary_fns, M, gamma, estimator, sigma0):
    v_num, e_num = th.stationary_moments(M, mixing=ct.Mixing.fresh(gamma), sigma0=sigma0, estimator=estimator)
    if not np.isfinite(v_num):
        return
    q = 1.0 if estimator == "unbiased" else (M - 1) / M
    fv, fe = fresh_stationary_fns
    np.testing.assert_allclose([fv(M, gamma, q, sigma0), fe(M, gamma, q, sigma0)], [v_num, e_num], rtol=1e-8)


@given(st.integers(2, 100), st.floats(0.0, 1.0), st.integers(1, 6))
@pytest.mark.slow
def test_sympy_accumulate_step_matches_recursion(M, gamma, steps):
    D = th.derivations()
    path = th.moment_recursion(steps, M, mixing=ct.Mixing.accumulate(gamma))
    e_expr, s_expr = D["accumulate_step"].result["mean_squared_error"], D["accumulate_step"].result["scatter"]
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
    expr = D["det_factor"].result.subs({sp.Symbol("d", positive=True, integer=True): d, sp.Symbol("k", positive=True): M - 1,
                                 sp.Symbol("D", positive=True): M - 1}).doit()
    np.testing.assert_allclose(float(expr), th.expected_det(1, M, np.eye(d)), rtol=1e-12)


def test_paper_first_order_term(D):
    assert D["first_order_matches_paper"].result
    assert D["c4_comparison_limit"].result == sp.Rational(1, 4)
    M, n, s0 = sp.symbols("M n sigma_0", positive=True)
    assert sp.simplify(D["w2_second_order"].result - n * s0**2 * (8 - n) / (16 * M**2)) == 0
    # numerically: exact - (first + second order) = O(M^-3) at fixed n
    for nn in (1, 5):
        errs = []
        for MM in (10**3, 10**4, 10**5):
            series = float(D["w2_series"].result.subs({M: MM, n: nn, s0: 1}))
            errs.append(abs(th.expected_w2_squared(nn, MM) - series))
        assert errs[1] < errs[0] / 100 and errs[2] < errs[1] / 100 + 1e-16
    # the relative gap to the paper's term is about (8 - n) / (24 M)
    np.testing.assert_allclose(th.expected_w2_squared(3, 10**4) / th.paper_w2_squared(3, 10**4) - 1, 5 / (24 * 10**4), rtol=1e-3)


# ----------------------------------------------------------------------------- schedules
def test_schedule_criterion(D):
    assert D["schedule_convergent"].result == {"1/2": False, "1": False, "11/10": True, "3/2": True, "2": True}
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


@pytest.mark.slow
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
    with pytest.raises(TypeError, match="mixing"):
        th.moment_recursion(3, 10, mixing=0.2)
    with pytest.raises(ValueError, match="mixing"):
        th.moment_recursion(3, 10, mixing="mixture:0.5")
    with pytest.raises(ValueError, match="at least|>= 4|must be"):
        th.expected_log_det(2, 3, np.eye(3))  # M <= d
    with pytest.raises(ValueError, match="sizes"):
        th.expected_w2_squared(5, [3, 4])  # schedule shorter than n
    out = th.expected_w2_squared(np.array([[0, 1], [2, 3]]), 10)
    assert out.shape == (2, 2) and out[0, 0] == 0.0


# ----------------------------------------------------------------------------- every workflow (issue 14)
from naive_gaussian import naive_e_sqrt_gamma, naive_workflow_chain

from collapse_theory.theory import _gaussian_moments as gm

WORKFLOW_SPECS = ["replace", "fresh:0.3", "mixture:0.5,0.3,0.2", "accumulate", "accumulate:0.2",
                  "accumulate-subsample", "augment:1.5"]


@pytest.mark.parametrize("spec", WORKFLOW_SPECS)
def test_workflow_moments_against_simulation(spec):
    # exact moments z-tested, E W2^2 tested to lie in the exact bracket (distance from the
    # band in standard errors); R replicates, level 1e-3 with Bonferroni over the checks
    M, G, sigma0 = 10, 8, 1.3
    mixing = ct.Mixing.from_spec(spec)
    Rw = 20000 if ct.GaussianChain(0.0, 1.0, M, mixing=mixing).method == "exact" else 6000
    run = ct.GaussianChain(0.4, sigma0**2, M, mixing=mixing).simulate(G, Rw, rng=17)
    w = th.workflow_moments(G, M, mixing=mixing, sigma0=sigma0)
    path = th.moment_recursion(G, M, mixing=mixing, sigma0=sigma0)
    np.testing.assert_allclose(w.variance, path.variance, rtol=1e-10)
    np.testing.assert_allclose(w.mean_squared_error, path.mean_squared_error, rtol=1e-10)
    pv = []
    for t in (1, 3, G):
        pv.append(z_test((run.mean[:, t] - 0.4) ** 2, path.mean_squared_error[t]))
        pv.append(z_test(run.var[:, t], path.variance[t]))
        x = run.w2_squared_to_initial[:, t]
        m = x.mean()
        lo, hi = w.w2_squared_low[t], w.w2_squared_high[t]
        assert lo <= hi
        pv.append(1.0 if lo <= m <= hi else z_test(x, lo if m < lo else hi))
        if w.variance_moments is not None:
            pv.append(z_test(run.var[:, t] ** 2, w.variance_moments[t, 2]))
            pv.append(z_test(run.std[:, t], 0.5 * (w.std_low[t] + w.std_high[t])) if w.std_high[t] - w.std_low[t] < 1e-3 else 1.0)
    assert_consistent(pv, what=f"workflow moments, {spec}")


@pytest.mark.parametrize("spec, workflow, kw", [
    ("fresh:0.3", "fresh", {"real": 0.3}),
    ("mixture:0.5,0.3,0.2", "mixture", {"real": 0.2, "previous": 0.3}),
    ("accumulate:0.2", "accumulate", {"real": 0.2}),
    ("accumulate-subsample", "subsample", {}),
    ("augment:1.5", "augment", {"ratio": 1.5}),
])
@pytest.mark.slow
def test_moment_recursion_against_naive_monte_carlo(spec, workflow, kw):
    # the naive chain of tests/naive_gaussian.py draws every point from the workflow's definition
    M, G, Rn = 6, 5, 800
    means, variances = naive_workflow_chain(M, G, Rn, rng=99, workflow=workflow, **kw)
    path = th.moment_recursion(G, M, mixing=spec)
    pv = []
    for t in (1, 3, G):
        pv.append(z_test(means[:, t] ** 2, path.mean_squared_error[t]))
        pv.append(z_test(variances[:, t], path.variance[t]))
    assert_consistent(pv, what=f"naive Monte Carlo, {spec}")


@pytest.mark.parametrize("estimator", ["unbiased", "mle"])
def test_engine_reproduces_closed_forms_under_replacement(estimator):
    # the moment engine (fresh transition with no fresh data) against the product formulas
    M, n, order = 12, 30, 8
    mons, T = gm.fresh_transition(M, 0.0, order, 1.0 if estimator == "unbiased" else 0.0)
    idx = {mo: i for i, mo in enumerate(mons)}
    x = np.array([1.0 if mo[0] == 0 else 0.0 for mo in mons])
    for _ in range(n):
        x = T @ x
    for j in range(order + 1):
        np.testing.assert_allclose(x[idx[(0, j)]], th.expected_variance_power(n, M, float(j), 1.0, estimator), rtol=1e-9)
    np.testing.assert_allclose(x[idx[(2, 0)]], th.expected_mean_squared_error(n, M, 1.0, estimator), rtol=1e-10)
    # E delta^4 = 3 E (sum of independent Gaussian steps)^2 = 3 (sum_t E sigma_{t-1}^2 / M)^2 + ... : check
    # against the law of total expectation by Monte Carlo-free recursion: E d^4_{t+1} = E d^4 + 6 E d^2 s2 / M + 3 E s2^2/M^2
    d4, d2s, s4 = 0.0, 0.0, 1.0
    q = (M - 1) / (M - 1 if estimator == "unbiased" else M)
    for _ in range(n):
        f2 = (M - 1) * (M + 1) / (M - 1 if estimator == "unbiased" else M) ** 2  # E W^2
        d4, d2s, s4 = d4 + 6 * d2s / M + 3 * s4 / M**2, q * (d2s + s4 / M), f2 * s4
    np.testing.assert_allclose(x[idx[(4, 0)]], d4, rtol=1e-10)


@pytest.mark.parametrize("spec", ["fresh:0.25", "accumulate", "augment:2"])
def test_engine_degree_one_equals_first_moment_recursion(spec):
    # two independent derivations of E sigma^2 and E (mu - mu0)^2 (the engine's dense polynomial
    # expansion and the scalar recursions of moment_recursion) agree
    mixing = ct.Mixing.from_spec(spec)
    hi = th._engine_moments(25, 9, mixing, "unbiased", 3)
    if mixing.workflow == "augment":
        return  # moment_recursion uses the engine itself for augmentation: see the simulation tests
    v, e, _ = th._first_moments(25, 9, mixing, "unbiased")
    np.testing.assert_allclose(hi["var"][:, 1], v, rtol=1e-10)
    np.testing.assert_allclose(hi["msq"], e, rtol=1e-10)


@pytest.mark.parametrize("shape", [1.5, 4.5, 49.5])
def test_sqrt_bracket_encloses_quadrature(shape):
    # X ~ Gamma(shape, 1/shape): E X^j closed form; E sqrt X by quadrature of the density
    scale = 1.0 / shape
    truth = naive_e_sqrt_gamma(shape, scale)
    widths = []
    for order in (2, 4, 6, 8):
        mom = [np.exp(sum(np.log(shape + i) for i in range(j)) + j * np.log(scale)) for j in range(order + 1)]
        lo, hi = gm.sqrt_bracket(mom)
        assert lo - 1e-12 <= truth <= hi + 1e-12, (order, lo, truth, hi)
        widths.append(hi - lo)
    assert widths[-1] < widths[0] / 3


def test_accumulate_limits_pi_squared_over_six():
    for est in ("unbiased", "mle"):
        lims = [th.accumulate_limits(M, estimator=est)["ratio"] for M in (2, 10, 100, 10**4)]
        assert np.all(np.diff(lims) > 0) and lims[-1] < np.pi**2 / 6
        assert abs(lims[-1] - np.pi**2 / 6) < 1e-3
        # the exact recursion approaches the limit from below
        path = th.moment_recursion(20000, 10, mixing="accumulate", estimator=est)
        lim = th.accumulate_limits(10, estimator=est)
        assert path.mean_squared_error[-1] * 10 < lim["ratio"] < path.mean_squared_error[-1] * 10 + 2e-4
        np.testing.assert_allclose(path.variance[-1], lim["variance"], rtol=1e-4)


@pytest.mark.slow
def test_accumulate_limit_against_simulation():
    # M (mu_G - mu0)^2 / sigma0^2 at G = 1000 against the limit (the remaining gap is ~1e-3, far
    # below the 2.5e-2 standard error of 8000 replicates)
    M, G = 10, 1000
    for est in ("unbiased", "mle"):
        run = ct.GaussianChain(0.0, 1.0, M, estimator=est, mixing=ct.Mixing.accumulate()).simulate(G, 8000, rng=23)
        lim = th.accumulate_limits(M, estimator=est)
        assert_consistent([z_test(M * run.mean[:, G] ** 2, lim["ratio"]), z_test(run.var[:, G], lim["variance"])],
                          what=f"pi^2/6 limit, {est}")


def test_augmentation_results():
    # contraction lam / (1 + lam) and the stationary variance, against the exact chain and SymPy
    assert th.augment_contraction(2.0) == pytest.approx(2 / 3)
    D = th.derivations()
    lam, M_, s2 = sp.Symbol("lambda", positive=True), sp.Symbol("M", positive=True), sp.Symbol("sigma^2", positive=True)
    assert sp.simplify(D["augment_stationary_mean_variance"].result - lam * s2 / (M_ * (1 + 2 * lam))) == 0
    np.testing.assert_allclose(th.augment_stationary_mean_variance(50, 2.0), 0.008)
    # the exact chain's stationary Var(mu - real mean) tends to Bertrand et al.'s value as M grows
    for M in (20, 200, 2000):
        _, e = th.stationary_moments(M, mixing=ct.Mixing.augment(2.0))
        rel = (e - 1.0 / M) / th.augment_stationary_mean_variance(M, 2.0) - 1
        assert abs(rel) < 3.0 / M
    assert th.augment_stability_threshold() == 1.0 and th.augment_stability_threshold(1.0) == 0.5


def test_golden_ratio_weight_minimises_the_stationary_error():
    from scipy.optimize import minimize_scalar

    res = minimize_scalar(lambda w: th.weighted_mean_stationary_error(w, 7, 1.3), bounds=(1e-6, 1.0), method="bounded",
                          options={"xatol": 1e-10})
    np.testing.assert_allclose(res.x, th.golden_ratio_weight(), rtol=1e-6)
    np.testing.assert_allclose(th.weighted_mean_stationary_error(th.golden_ratio_weight(), 7, 1.3),
                               th.golden_ratio_weight() * 1.3**2 / 7, rtol=1e-12)
    # the recursion e' = w^2 s2/M + (1-w)^2 (e + s2/M) iterated to its fixed point (independent of the formula)
    for w in (0.2, 0.618, 1.0):
        e = 0.0
        for _ in range(2000):
            e = w * w / 7 + (1 - w) ** 2 * (e + 1 / 7)
        np.testing.assert_allclose(th.weighted_mean_stationary_error(w, 7), e, rtol=1e-10)


def test_known_results_study_is_consistent():
    res = ct.studies.known_results(30, generations=120, replicates=3000, rng=4)
    t = res.table()
    assert t["p_value"].notna().sum() >= 7
    assert res.passed(), t


@pytest.mark.slow
def test_mitigation_study_every_workflow():
    for spec in ("fresh:0.3", "accumulate", "accumulate-subsample", "augment:1", "mixture:0.6,0.2,0.2"):
        res = ct.studies.mitigation(10, spec, 20, replicates=1500, rng=8)
        assert res.passed(), (spec, res.table())
        c = res.curves
        assert np.all(c["w2_theory_low"] <= c["w2_theory_high"])


BAD_THEORY = [
    (lambda: th.moment_factor(10, r=np.nan), ValueError, "r"),
    (lambda: th.moment_factor(1), ValueError, "M"),
    (lambda: th.moment_factor(2.5), TypeError, "M"),
    (lambda: th.moment_factor(True), TypeError, "M"),
    (lambda: th.w2_squared_lower_bound(1.0, -1.0), ValueError, "mean_squared_error"),
    (lambda: th.w2_squared_lower_bound("1", 1.0), TypeError, "variance"),
    (lambda: th.w2_squared_lower_bound([1.0, 2.0], [1.0, 2.0, 3.0]), ValueError, "broadcast"),
    (lambda: th.long_run_moments(10, mixing="accumulate", generations=3), ValueError, "generations"),
    (lambda: th.long_run_moments(10, mixing="accumulate", sigma0=-1.0), ValueError, "sigma0"),
    (lambda: th.schedule_limit(10, 2.0, terms=0), ValueError, "terms"),
    (lambda: th.paper_w2_squared(5, 1), ValueError, "M"),
    (lambda: th.expected_w2_squared(3, True), TypeError, "M"),
    (lambda: th.expected_w2_squared(3, "10"), TypeError, "M"),
    (lambda: th.expected_std(3, 10, sigma0=True), TypeError, "sigma0"),
    (lambda: th.moment_recursion(3, 2.5, mixing="fresh:0.1"), TypeError, "M"),
    (lambda: th.moment_recursion(3, 10, mixing=ct.schedules.linear(5, 1)), TypeError, "mixing"),
    (lambda: th.workflow_moments(3, 10, mixing="accumulate", order=1), ValueError, "order"),
    (lambda: th.workflow_moments(3, 10, mixing="mixture:0.5,0.3,0.2", order=9), ValueError, "order"),
    (lambda: th.workflow_moments(3, 10, mixing="augment:0.01"), ValueError, "synthetic_ratio"),
    (lambda: th.stationary_moments(10, mixing=3), TypeError, "mixing"),
    (lambda: th.stationary_moments(10, mixing="fresh:1.5"), ValueError, "real"),
    (lambda: th.fresh_stability_threshold(1), ValueError, "M"),
    (lambda: th.accumulate_limits(10, tol=0.0), ValueError, "tol"),
    (lambda: th.augment_contraction(0.0), ValueError, "synthetic_ratio"),
    (lambda: th.augment_contraction(-1.0), ValueError, "synthetic_ratio"),
    (lambda: th.augment_stationary_mean_variance(1, 2.0), ValueError, "M"),
    (lambda: th.augment_stability_threshold(-0.1), ValueError, "lipschitz_ratio"),
    (lambda: th.weighted_mean_stationary_error(0.0, 10), ValueError, "weight"),
    (lambda: th.weighted_mean_stationary_error(1.5, 10), ValueError, "weight"),
    (lambda: th.weighted_mean_stationary_error(np.nan, 10), ValueError, "weight"),
    (lambda: th.weighted_mean_stationary_error(0.5, 0), ValueError, "M"),
    (lambda: th.expected_w2_squared_bounds(3, 10, mixing="replace:1"), ValueError, "mixing"),
]


@pytest.mark.parametrize("call, exc, name", BAD_THEORY, ids=[f"case{i}" for i in range(len(BAD_THEORY))])
def test_bad_input_table(call, exc, name):
    with pytest.raises(exc, match=name):
        call()


@pytest.mark.parametrize("spec", ["fresh:0.3", "accumulate", "augment:1", "accumulate-subsample", "mixture:0.5,0.3,0.2"])
def test_multivariate_workflows_against_simulation(spec):
    # E tr Sigma_t = v_t tr Sigma_0 and E ||mu_t - mu_0||^2 = e_t tr Sigma_0 for every workflow (d = 3)
    cov0 = np.array([[2.0, 0.6, 0.0], [0.6, 1.0, -0.3], [0.0, -0.3, 0.5]])
    M, G = 8, 5
    chain = ct.GaussianChain(np.ones(3), cov0, M, mixing=spec)
    Rm = 8000 if chain.method == "exact" else 3000
    run = chain.simulate(G, Rm, rng=31)
    pv = []
    for t in (1, 3, G):
        pv.append(z_test(run.trace[:, t], th.expected_trace(t, M, cov0, mixing=spec)))
        pv.append(z_test(np.sum((run.mean[:, t] - 1.0) ** 2, axis=-1), th.expected_mean_squared_error_mv(t, M, cov0, mixing=spec)))
    assert_consistent(pv, what=f"multivariate {spec}")


# ----------------------------------------------------------------------------- the fast engine (session 3)
def _full_binomial(M, g, n):
    from scipy.stats import binom

    ks = np.arange(M + 1)
    w = binom.pmf(ks, M, g)
    return ks, w, False


@pytest.mark.parametrize("M, g, n", [(30, 0.1, 3), (60, 0.4, 5), (150, 0.05, 6)])
def test_binomial_gauss_rule_is_exact(monkeypatch, M, g, n):
    # the transition averaged with the r-node Gauss rule of Bin(M, g) at non-integer sizes equals the
    # plain sum over all M + 1 integer sizes (the guarded, non-polynomial form)
    _, T_rule = gm.fresh_transition(M, g, n, 1.0)
    Ns = np.array([M, 3.0 * M, 50.0 * M])
    _, A_rule = gm.accumulate_transitions(Ns, M, g, n, 1.0)
    assert gm.binomial_rule(M, g, n)[2]  # the rule path is the one being tested
    monkeypatch.setattr(gm, "binomial_rule", _full_binomial)
    _, T_full = gm.fresh_transition(M, g, n, 1.0)
    _, A_full = gm.accumulate_transitions(Ns, M, g, n, 1.0)
    np.testing.assert_allclose(T_rule, T_full, rtol=0, atol=1e-12 * np.abs(T_full).max())
    np.testing.assert_allclose(A_rule, A_full, rtol=0, atol=1e-12 * np.abs(A_full).max())


@pytest.mark.parametrize("spec", ["fresh:0.01", "accumulate:0.01"])
def test_moments_stay_finite_where_the_support_barely_exceeds_the_rule(monkeypatch, spec):
    # found in the report's mitigation map: Bin(20, 0.01) has 12 sizes above 1e-17 of the mode and the order-6
    # rule 11 nodes; the Stieltjes rule put a node at -6.5e-17 and every moment from generation 1 on was inf,
    # which made the lower bound on E W2^2 NaN
    wm = th.workflow_moments(100, 20, mixing=spec, order=6)
    for name in ("variance", "mean_squared_error", "w2_squared_low", "w2_squared_high"):
        assert np.all(np.isfinite(getattr(wm, name))), name
    assert np.all(wm.w2_squared_low <= wm.w2_squared_high)
    monkeypatch.setattr(gm, "binomial_rule", _full_binomial)  # the plain sum over all 21 sizes
    full = th.workflow_moments(100, 20, mixing=spec, order=6)
    for name in ("variance", "mean_squared_error", "w2_squared_low", "w2_squared_high"):
        np.testing.assert_allclose(getattr(wm, name), getattr(full, name), rtol=1e-10, err_msg=name)


def test_binomial_rule_nodes_stay_inside_the_support():
    # wherever the Gauss rule is used, its nodes lie in the support's range and its weights are positive
    for M in (5, 10, 20, 30, 50, 200):
        for g in (0.001, 0.01, 0.05, 0.5, 0.99):
            for n in (2, 6, 12):
                ks, w, poly = gm.binomial_rule(M, g, n)
                assert np.all(w > 0) and abs(w.sum() - 1.0) < 1e-12, (M, g, n)
                assert 0 <= ks.min() and ks.max() <= M, (M, g, n)


@pytest.mark.parametrize("M, g, n, ddof", [(2, 0.0, 6, 1.0), (2, 0.3, 4, 1.0), (10, 0.2, 8, 1.0), (5, 0.0, 5, 0.0)])
def test_interpolated_accumulation_steps_equal_direct_build(M, g, n, ddof):
    G = 400
    mons, L, Tj = gm.accumulate_step_matrices(G, M, g, n, ddof)
    steps = np.array([1, 2, 3, 10, 97, G - 1])
    _, direct = gm.accumulate_transitions(steps * float(M), M, g, n, ddof)
    interp = np.einsum("sj,jab->sab", L[steps - 1], Tj)
    scale = np.abs(direct).max(axis=2, keepdims=True)
    assert np.max(np.abs(interp - direct) / scale) < 1e-12


def test_accumulation_engine_against_scalar_first_moments_long_run():
    # the interpolated engine at degree 1 against the scalar pool recursion, 1000 generations, with fresh data
    mixing = ct.Mixing.accumulate(real=0.15)
    mom = th._engine_moments(1000, 7, mixing, "unbiased", 2)
    v, e, _ = th._first_moments(1000, 7, mixing, "unbiased")
    np.testing.assert_allclose(mom["var"][:, 1], v, rtol=1e-10)
    np.testing.assert_allclose(mom["msq"], e, rtol=1e-10)


@pytest.mark.parametrize("M", [4, 10, 50])
def test_compiled_brackets_enclose_the_exact_std_under_replacement(M):
    # replacement: E sigma_t^{2j} and E sigma_t are products of closed forms; the moments overflow for
    # small M and large t (heavy tails): the bracket must still hold, and be no wider than the
    # Python reference's
    n, order = 300, 8
    gen = np.arange(n + 1)
    with np.errstate(over="ignore"):
        var = np.stack([th.expected_variance_power(gen, M, float(j), 1.0) for j in range(order + 1)], axis=1)
    truth = th.expected_std(gen, M, 1.0)
    lo, hi = gm.sqrt_brackets(np.ascontiguousarray(var))
    ok = truth > 1e-300
    assert np.all(lo[ok] <= truth[ok] * (1 + 1e-9)) and np.all(truth[ok] <= hi[ok] * (1 + 1e-9))
    ref = np.array([gm.sqrt_bracket(v) for v in var[::25]])
    assert np.all(hi[::25] - lo[::25] <= ref[:, 1] - ref[:, 0] + 1e-12)


@pytest.mark.parametrize("lam", [0.5, 3.0])
def test_augmentation_is_stable_on_both_sides_of_the_recalled_threshold(lam):
    # Bertrand et al.'s condition (as recalled) covers lam < 1 in the well-specified case; the exact
    # Gaussian chain contracts at lam / (1 + lam) and stays at the stationary spread for lam = 3 too
    # (the condition is sufficient only). Slope of d_{t+1} on d_t, d_t = mu_t - (real-sample mean),
    # pooled over replicates and generations 2..G-1; z-tested at the usual level
    M, G, R = 40, 12, 4000
    run = ct.GaussianChain(0.0, 1.0, M, mixing=ct.Mixing.augment(lam)).simulate(G, R, rng=31)
    d = run.mean[:, 1:] - run.mean[:, [1]]  # generation 1 is the fit to D_0 alone
    x, y = d[:, 1:-1].ravel(), d[:, 2:].ravel()
    slope = np.sum(x * y) / np.sum(x * x)
    resid = y - slope * x
    se = np.sqrt(np.sum(resid**2) / (x.size - 1) / np.sum(x * x))
    from scipy.stats import norm

    p = 2 * norm.sf(abs(slope - th.augment_contraction(lam)) / se)
    assert p > 1e-3 / 2, (slope, th.augment_contraction(lam), se)
    stat = np.mean(d[:, -1] ** 2)
    ref = th.augment_stationary_mean_variance(M, lam)  # first order in 1/M
    assert 0.7 * ref < stat < 1.3 * ref
    assert (lam < th.augment_stability_threshold()) == (lam == 0.5)


@pytest.mark.parametrize(("M", "r"), [(41, 30.0), (100, 50.0), (1000, 600.0), (100, 5.0), (10**6, 0.5), (50, -20.0), (25, 0.3)])
def test_moment_factor_large_r_against_mpmath(M, r):
    """E W^r = (2/k)^r Gamma(k/2 + r) / Gamma(k/2), k = M - 1, in 60-digit arithmetic (issue 17 fuzzing:
    the asymptotic series was used for |r| comparable to k/2, where it diverges: 0.069 for 4.66e6 at M = 41, r = 30)."""
    import mpmath

    mpmath.mp.dps = 60
    k = mpmath.mpf(M - 1)
    want = (2 / k) ** r * mpmath.gamma(k / 2 + r) / mpmath.gamma(k / 2)
    assert th.moment_factor(M, r) == pytest.approx(float(want), rel=1e-12)


def test_moment_factor_beyond_float64_is_inf_not_nan():
    # issue 17 fuzzing: r = 1.4e307 at M = 677700 gave inf - inf = NaN inside log Gamma(x + r) - log Gamma(x) - r log x;
    # the true log factor is about r log(r / x) > 1e309, so the factor is +inf; with mpmath at a smaller r where it is
    # still beyond float64, the log factor exceeds log(max float)
    import mpmath

    assert th.moment_factor(677700, r=1.411803330311466e307) == np.inf
    k = mpmath.mpf(677699)
    r = mpmath.mpf(1e5)
    log_want = r * mpmath.log(2 / k) + mpmath.loggamma(k / 2 + r) - mpmath.loggamma(k / 2)
    assert log_want > mpmath.log(np.finfo(float).max) and th.moment_factor(677700, r=1e5) == np.inf


def test_expected_variance_power_log_space():
    # sigma0^(2r) underflows (3^-680) where E W^r is infinite ((M-1)/2 + r <= 0): inf, not 0 * inf = NaN
    assert th.expected_variance_power(1, 2, r=-340.0, sigma0=3.0) == np.inf
    # 2^(2r) E[W^r]^n with r = 200: 2^400 times a finite factor, computed without overflow of either part
    got = th.expected_variance_power(2, 1000, r=200.0, sigma0=2.0)
    assert np.isfinite(got) and got > 2.0**400


def test_schedule_limit_sizes_beyond_float64():
    # M_t = 2 t^152 exceeds 1.8e308 from t = 108 on (was NaN); from t = 2 on M_t > 1e45, so the limit is
    # generation 1's E W2^2 at M = 2 to far below round-off
    assert th.schedule_limit(2, 152.0, terms=108) == pytest.approx(th.expected_w2_squared(1, 2), rel=1e-14)


def test_variance_of_variance_zero_at_generation_zero():
    # sigma_0 is fixed: Var sigma_0^2 = 0 exactly (a fuzz run found -6e-8 from E sigma^4 - (E sigma^2)^2 in log space)
    for est in ("unbiased", "mle"):
        assert th.variance_of_variance(0, 10, sigma0=144.0, estimator=est) == 0.0
        assert th.variance_of_variance(0, 10, sigma0=181.9082699327264, estimator=est) == 0.0  # rounded to -2e-7
# ----------------------------------------------------------------------------- mixture moment engine (issue 14.2)
def test_mixture_engine_reduces_to_fresh_and_replace():
    # previous = 0: the mixture engine (raw moments of q_t) against the fresh engine (Cochran split)
    # and the closed forms of replacement, every moment E sigma^{2j} to order 6
    from collapse_theory.theory import _gaussian_moments as gm

    for M, a, g in ((10, 0.7, 0.3), (100, 0.8, 0.2), (7, 1.0, 0.0)):
        parts, T, x0, E = gm.mixture_system(M, a, 0.0, g, 6, 1.0)
        x, got = x0, []
        for t in range(8):
            got.append([E[0, j] @ x for j in range(7)] + [E[2, 0] @ x])
            x = T @ x
        got = np.array(got)
        if g > 0:
            ref = th.workflow_moments(8, M, mixing=ct.Mixing.fresh(g), order=6)
            want, msq = ref.variance_moments[1:], ref.mean_squared_error[1:]
        else:
            want = np.stack([th.expected_variance_power(np.arange(1, 9), M, float(j)) for j in range(7)], axis=1)
            msq = th.expected_mean_squared_error(np.arange(1, 9), M)
        np.testing.assert_allclose(got[:, :7], want, rtol=1e-11)
        np.testing.assert_allclose(got[:, 7], msq, rtol=1e-11)


@pytest.mark.parametrize("estimator", ["unbiased", "mle"])
def test_mixture_first_moments_unchanged(estimator):
    # the engine's E sigma^2 and E(mu - mu0)^2 equal the scalar recursion that predates it
    mixing = ct.Mixing.from_spec("mixture:0.5,0.3,0.2")
    w = th.workflow_moments(300, 12, mixing=mixing, estimator=estimator)
    v, e, _ = th._first_moments(300, 12, mixing, estimator)
    np.testing.assert_allclose(w.variance, v, rtol=1e-10)
    np.testing.assert_allclose(w.mean_squared_error, e, rtol=1e-10)
    assert w.method == "moment bracket" and w.order == 6


def test_mixture_moments_against_naive_monte_carlo():
    # the higher moments E sigma^{2j} (j <= 3) and E(mu - mu0)^2 against the naive chain of
    # tests/naive_gaussian.py (sources walked back one generation at a time); level 1e-3, Holm
    M, G, R = 5, 6, 40000
    means, variances = naive_mixture_chain_1d(M, G, R, rng=2024, synthetic=0.5, previous=0.3, real=0.2)
    w = th.workflow_moments(G, M, mixing="mixture:0.5,0.3,0.2", order=6)
    pv = []
    for t in (1, 2, 4, G):
        pv.append(z_test(means[:, t] ** 2, w.mean_squared_error[t]))
        for j in (1, 2, 3):
            pv.append(z_test(variances[:, t] ** j, w.variance_moments[t, j]))
    assert_consistent(pv, what="mixture moments vs naive Monte Carlo")


@pytest.mark.slow
@pytest.mark.parametrize("M, R", [(10, 4000), (100, 2000)])
def test_mixture_band_contains_simulated_w2(M, R):
    # E W2^2 at t = 100 from GaussianChain(mixture 0.5/0.3/0.2) against the two-sided band: the
    # simulated mean must not be significantly outside [low, high] (level 1e-3)
    G = 100
    mixing = ct.Mixing.from_spec("mixture:0.5,0.3,0.2")
    run = ct.GaussianChain(0.0, 1.0, M, mixing=mixing).simulate(G, R, rng=5)
    w = th.workflow_moments(G, M, mixing=mixing)
    lo, hi = w.w2_squared_low[G], w.w2_squared_high[G]
    assert 0 < lo <= hi
    x = run.w2_squared_to_initial[:, G]
    m = x.mean()
    p = 1.0 if lo <= m <= hi else z_test(x, lo if m < lo else hi)
    assert_consistent([p], what=f"mixture band M={M}: [{lo}, {hi}] vs {m}")
    # the band is much tighter than Jensen's (the old bounds-only band)
    v, e = w.variance[G], w.mean_squared_error[G]
    assert hi - lo < 0.5 * ((e + v + 1.0) - (e + (np.sqrt(v) - 1.0) ** 2))


def test_schedule_limit_fuzz_findings(monkeypatch):
    # issue 17 fuzzing: a growth exponent of 1.3e13 gave NaN (SciPy's zeta(2a, q) is NaN there, its true value
    # underflows to 0); then M_t = inf from t = 2 and only generation 1 (M_1 = 2) counts: the limit is
    # E (mu_1 - mu_0)^2 + E sigma_1^2 - 2 E sigma_1 + 1 with sigma0 = 1, M = 2, unbiased: 1/2 + 1 - 2 c4(2) + 1
    assert th.schedule_limit(2, 12628417800523, 1.0, terms=100) == pytest.approx(2.5 - 2 * np.sqrt(2 / np.pi), rel=1e-12)
    # terms past the memory limit: a ValueError naming terms, not a MemoryError
    from collapse_theory.theory import discrete as td

    monkeypatch.setattr(td, "MEMORY_LIMIT_BYTES", 2**30)
    with pytest.raises(ValueError, match=r"terms = 53563134"):
        th.schedule_limit(285, 3.67, 125863.0, terms=53563134)


def test_huge_and_tiny_sigma0_scale_exactly_or_are_refused():
    # fuzz findings: sigma0 = 1.34e154 gave expected_variance inf, paper_w2_squared a raw OverflowError, and
    # variance_of_variance NaN (inf - inf) at sigma0 = 1.16e77, n = 0, where the exact value is 0
    assert th.variance_of_variance(0, 2, sigma0=1.1579208923731717e77) == 0.0
    assert th.paper_w2_squared(0, 2, sigma0=1e155) == 0.0  # generation 0 is D_0 itself, at any scale
    for s0 in (1e-150, 1e-30, 1e30, 1e150):
        # every moment scales as the power of sigma0 its dimension says (against the unit-scale value)
        assert th.expected_variance(3, 10, sigma0=s0, estimator="mle") == pytest.approx(0.729 * s0**2, rel=1e-13)
        assert th.paper_w2_squared(4, 10, sigma0=s0) == pytest.approx(0.6 * s0**2, rel=1e-13)
        assert th.expected_mean_squared_error(2, 10, sigma0=s0) == pytest.approx(0.2 * s0**2, rel=1e-13)
        assert th.expected_w2_squared(5, 7, sigma0=s0) == pytest.approx(th.expected_w2_squared(5, 7) * s0**2, rel=1e-13)
        assert th.moment_recursion(4, 6, mixing="fresh:0.3", sigma0=s0).variance[-1] == pytest.approx(
            th.moment_recursion(4, 6, mixing="fresh:0.3").variance[-1] * s0**2, rel=1e-13)
    assert th.variance_of_variance(1, 5, sigma0=1e50) == pytest.approx(0.5e200, rel=1e-13)
    assert th.variance_of_variance(1, 5, sigma0=1e100) == np.inf  # 0.5e400: beyond float64, as documented
    for call in (lambda: th.expected_variance(1, 10, sigma0=1e155), lambda: th.paper_w2_squared(1, 10, sigma0=1e155),
                 lambda: th.workflow_moments(3, 5, mixing="fresh:0.2", sigma0=1e200),
                 lambda: th.accumulate_limits(5, sigma0=1e200), lambda: th.schedule_limit(10, 2.0, sigma0=1e200)):
        with pytest.raises(ValueError, match="sigma0"):
            call()
