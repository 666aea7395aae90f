"""theory.regression against simulation (RegressionChain, and the naive refitting chain) and against naive references.

Statistical tests: fixed seeds, two-sided z-tests of simulated means against
the exact expectations, Bonferroni over the checks of a test at LEVEL = 1e-3.
Replicates are chosen so that the relative standard error is about 1-2%:
confusing T - d - 1 with T - d (1% at T = 100), sum 1/i^2 with sum 1/i, or
dropping the cross term of the fresh-design recursion (5-20%) would fail.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import assert_consistent
from hypothesis import given
from hypothesis import strategies as st
from naive_regression import (
    naive_chain,
    naive_conditional_error,
    naive_projection_moment,
)

import collapse_theory as ct
from collapse_theory._stats import z_test
from collapse_theory.theory import regression as th
from collapse_theory.theory._derivation import Derivation

D, T = 10, 100


def test_paper_numbers():
    # NOTES.md: d = 10, T = 100, sigma^2 = 1: c = 0.11236; replace n = 12 -> 1.348; accumulate 0.176; limit 0.185
    c = 10 / 89
    assert th.ols_variance(T, D) == pytest.approx(c, rel=1e-14)
    assert th.expected_error(12, T, D) == pytest.approx(12 * c, rel=1e-14)
    h = sum(1 / i**2 for i in range(1, 13))
    assert th.expected_error(12, T, D, mixing="accumulate") == pytest.approx(c * h, rel=1e-14)
    assert th.accumulate_limit(T, D) == pytest.approx(c * math.pi**2 / 6, rel=1e-14)
    assert round(th.expected_error(12, T, D), 3) == 1.348
    assert round(th.expected_error(12, T, D, mixing="accumulate"), 3) == 0.176
    assert round(th.accumulate_limit(T, D), 3) == 0.185


def test_replace_and_accumulate_vs_chain():
    ns = [1, 2, 12]
    p = []
    for mix in ("replace", "accumulate"):
        for design in ("fixed", "fresh"):
            if design == "fresh" and mix == "accumulate":
                continue
            run = ct.RegressionChain(D, T, mixing=mix, design=design, noise=1.3).simulate(12, 4000, rng=11)
            exp = th.expected_error(ns, T, D, noise=1.3, mixing=mix, design=design)
            p += [z_test(run.error[:, n], e) for n, e in zip(ns, exp)]
            te = th.expected_test_error(ns, T, D, noise=1.3, mixing=mix, design=design)
            np.testing.assert_allclose(te, 1.69 + exp)
            p += [z_test(run.test_error[:, n], e) for n, e in zip(ns, te)]
    assert_consistent(p, what="replace/accumulate")


def test_anisotropic_ols_is_equivariant():
    # OLS error in the Sigma-norm does not depend on Sigma: same closed form
    rng = np.random.default_rng(0)
    Q = np.linalg.qr(rng.standard_normal((D, D)))[0]
    cov = Q @ np.diag(np.geomspace(0.1, 10, D)) @ Q.T
    run = ct.RegressionChain(D, T, cov=cov, mixing="accumulate").simulate(5, 4000, rng=12)
    exp = th.expected_error([1, 5], T, D, mixing="accumulate", cov=cov)
    assert exp[1] == pytest.approx(th.expected_error(5, T, D, mixing="accumulate"))
    assert_consistent([z_test(run.error[:, 1], exp[0]), z_test(run.error[:, 5], exp[1])], what="anisotropic")


def test_vs_naive_refitting_chain():
    # an independent simulator (lstsq refits, one replicate at a time)
    p = []
    for mix, wf in (("replace", "replace"), ("accumulate", "accumulate")):
        err = naive_chain(D, 40, 3, 600, rng=5, workflow=wf)
        exp = th.expected_error([1, 3], 40, D, mixing=mix)
        p += [z_test(err[:, 1], exp[0]), z_test(err[:, 3], exp[1])]
    err = naive_chain(4, 20, 4, 800, rng=6, design="fresh", workflow="fresh", real=0.3)
    exp = th.expected_error([2, 4], 20, 4, mixing="fresh:0.3", design="fresh")
    p += [z_test(err[:, 2], exp[0]), z_test(err[:, 4], exp[1])]
    assert_consistent(p, what="naive chain")


GIVEN = [
    {"mixing": "replace"},
    {"mixing": "replace", "ridge": 0.1},
    {"mixing": "accumulate"},
    {"mixing": "accumulate:0.3", "ridge": 0.1},
    {"mixing": "fresh:0.3"},
    {"mixing": "fresh:0.3", "ridge": 0.05, "share": 0.34},
    {"mixing": "augment:1.5"},
    {"mixing": "augment:0.5", "ridge": 0.2, "share": 0.34},
    {"mixing": "replace", "share": 0.34},
]


def _naive_kwargs(case):
    mix = ct.Mixing.from_spec(case["mixing"])
    wf = mix.workflow
    kw = {"ridge": case.get("ridge", 0.0), "workflow": wf, "real": mix.real, "share": case.get("share", 0.0)}
    if wf == "augment":
        kw["ratio"] = mix.synthetic_ratio
    return kw


@pytest.mark.parametrize("case", GIVEN, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_given_design_equals_unrolled_naive(case):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((6, 2))
    ws = np.array([1.0, -1.0])
    cov = np.array([[2.0, 0.3], [0.3, 1.0]])
    share = case.get("share", 0.0)
    naive = naive_conditional_error(X, 3, noise=0.7, cov=cov, w_s=ws, **_naive_kwargs(case))
    got = th.expected_error(np.arange(4), 6, 2, noise=0.7, cov=cov, mixing=case["mixing"], ridge=case.get("ridge", 0.0),
                            contamination=(share, ws) if share else None, design_matrix=X)
    np.testing.assert_allclose(got, naive, rtol=1e-10, atol=1e-14)


def test_given_design_replace_is_trace_formula():
    X = np.random.default_rng(1).standard_normal((T, D))
    got = th.expected_error([1, 7], T, D, noise=0.5, design_matrix=X)
    np.testing.assert_allclose(got, 0.25 * np.array([1, 7]) * np.trace(np.linalg.inv(X.T @ X)), rtol=1e-12)


def test_given_design_vs_chain():
    X = np.random.default_rng(2).standard_normal((30, 4))
    ws = np.array([1.0, 0.0, -1.0, 0.5])
    p = []
    for case in GIVEN:
        share = case.get("share", 0.0)
        kw = {"ridge": case.get("ridge", 0.0), "contamination": (share, ws) if share else None, "mixing": case["mixing"]}
        run = ct.RegressionChain(4, 30, design_matrix=X, **kw).simulate(6, 3000, rng=21)
        exp = th.expected_error([1, 3, 6], 30, 4, design_matrix=X, **kw)
        p += [z_test(run.error[:, n], e) for n, e in zip((1, 3, 6), exp)]
    assert_consistent(p, what="given design")


@pytest.mark.slow
def test_fresh_design_recursion_and_contamination_vs_chain():
    ws = np.zeros(D)
    p = []
    for mix, cont in (("fresh:0.2", None), ("replace", (0.2, ws)), ("fresh:0.3", (0.1, ws))):
        run = ct.RegressionChain(D, T, design="fresh", mixing=mix, contamination=cont).simulate(8, 3000, rng=31)
        exp = th.expected_error([1, 2, 8], T, D, design="fresh", mixing=mix, contamination=cont)
        p += [z_test(run.error[:, n], e) for n, e in zip((1, 2, 8), exp)]
    assert_consistent(p, what="fresh design")


def test_fresh_design_without_fresh_rows_is_replace():
    np.testing.assert_allclose(th.expected_error(np.arange(6), T, D, design="fresh"), th.expected_error(np.arange(6), T, D))


def test_stationary_values():
    # fresh design: the recursion converges to the closed-form fixed point
    for mix, cont in (("fresh:0.2", None), ("replace", (0.2, np.zeros(D))), ("fresh:0.5", (0.1, np.ones(D)))):
        path = th.expected_error(np.arange(400), T, D, design="fresh", mixing=mix, contamination=cont)
        assert th.stationary_error(T, D, design="fresh", mixing=mix, contamination=cont) == pytest.approx(path[-1], rel=1e-9)
    assert th.stationary_error(T, D, design="fresh") == math.inf
    # no contamination: sigma^2 d/(T-d-1) / (1 - E c(m_s)), E c from the binomial moments
    g = 0.2
    n, q = T, 1 - g
    Em, Em2 = n * q, n * q * (1 - q) + (n * q) ** 2
    k = (T + 1) * (D - 1) / (T * (T - 1) * (T + 2) * (T - D - 1))
    cbar = (Em2 + 2 * Em) / (T * (T + 2)) + k * (T * Em - Em2)
    assert th.stationary_error(T, D, mixing="fresh:0.2") == pytest.approx(th.ols_variance(T, D) / (1 - cbar), rel=1e-12)
    # given design: Stein / linear fixed point equals the long path
    X = np.random.default_rng(4).standard_normal((20, 3))
    for kw in ({"mixing": "fresh:0.3"}, {"mixing": "augment:1"}, {"mixing": "replace", "ridge": 0.3},
               {"mixing": "augment:2", "ridge": 0.1, "contamination": (0.25, np.ones(3))}):
        path = th.expected_error(np.arange(3000), 20, 3, design_matrix=X, **kw)
        assert th.stationary_error(20, 3, design="fixed", design_matrix=X, **kw) == pytest.approx(path[-1], rel=1e-8)
    assert th.stationary_error(20, 3, design="fixed", design_matrix=X) == math.inf


@pytest.mark.slow
def test_stationary_vs_chain():
    run = ct.RegressionChain(D, T, design="fresh", mixing="fresh:0.3").simulate(60, 3000, rng=41)
    q = th.stationary_error(T, D, mixing="fresh:0.3")
    assert_consistent([z_test(run.error[:, 60], q)], what="stationary")


def test_strong_collapse():
    ws = np.zeros(D)
    wstar = np.full(D, 1 / np.sqrt(D))
    p = 0.2
    floor = th.strong_collapse_floor(p, ws, w_star=wstar)
    assert floor == pytest.approx(p**2 * 1.0)
    # exact finite T: c(pT) ||delta||^2 + sigma^2 d/(T-d-1), decreasing to the floor
    vals = [th.expected_error(1, TT, D, contamination=(p, ws)) for TT in (100, 1000, 10**5)]
    assert vals[0] > vals[1] > vals[2] > floor
    assert vals[2] == pytest.approx(floor, rel=5e-3)  # + sigma^2 d/T + O(d p(1-p)/T)
    for design in ("fixed", "fresh"):
        run = ct.RegressionChain(D, T, design=design, contamination=(p, ws)).simulate(1, 4000, rng=51)
        assert_consistent([z_test(run.error[:, 1], vals[0])], what=f"strong collapse {design}")


@pytest.mark.slow
def test_accumulate_limit_vs_long_chain():
    # generation 300 plus the exact remaining tail sum_{i>300} 1/i^2 against the pi^2/6 limit
    run = ct.RegressionChain(D, T, mixing="accumulate").simulate(300, 3000, rng=71)
    tail = th.ols_variance(T, D) * (math.pi**2 / 6 - sum(1 / i**2 for i in range(1, 301)))
    assert_consistent([z_test(run.error[:, 300] + tail, th.accumulate_limit(T, D))], what="accumulate limit")
    X = np.random.default_rng(0).standard_normal((T, D))
    path = th.expected_error(np.arange(20001), T, D, mixing="accumulate", design_matrix=X)
    assert th.accumulate_limit(T, D, design_matrix=X) == pytest.approx(path[-1], rel=1e-4)


def test_projection_moments_vs_monte_carlo():
    assert th.projection_moment(0, T, D) == 0 and th.projection_moment(T, T, D) == pytest.approx(1.0)
    assert th.projection_moment(0.3 * 10**6, 10**6, D) == pytest.approx(0.09, rel=1e-4)
    p = []
    for m, TT, d in ((5, 20, 3), (12, 20, 3), (30, 40, 6)):
        x, y = naive_projection_moment(m, TT, d, 4000, rng=m)
        p.append(z_test(x, th.projection_moment(m, TT, d)))
        p.append(z_test(y, th.projection_cross_moment(m, TT - m, TT, d)))
    assert_consistent(p, what="c(m)")


def test_downstream_vs_chain():
    p = []
    for Td in (None, 50):
        rc = ct.RegressionChain(D, T, design="fresh", downstream_size=Td)
        run = rc.simulate(4, 4000, rng=61)
        exp = th.downstream_error(np.arange(5), T, D, downstream_size=Td)
        p += [z_test(run.downstream_error[:, n], exp[n]) for n in (0, 2, 4)]
    # Dohmatob et al.: sigma^2 d/(T_d-d-1) + n sigma0^2 d/(T0-d-1)
    assert th.downstream_error(3, T, D, downstream_size=50) == pytest.approx(10 / 39 + 3 * 10 / 89)
    assert_consistent(p, what="downstream")


def test_downstream_vs_naive_chain():
    _, down = naive_chain(4, 20, 3, 1500, rng=62, design="fresh", downstream_size=12)
    exp = th.downstream_error(np.arange(4), 20, 4, downstream_size=12)
    assert_consistent([z_test(down[:, n], exp[n]) for n in (0, 3)], what="downstream naive")


@pytest.mark.slow
def test_limits_vs_unrolled_naive():
    X = np.random.default_rng(8).standard_normal((6, 2))
    # accumulate, OLS, given X: exactly sigma^2 tr(A^-1) sum_{i<=n} 1/i^2, so path + tail = limit
    n = 150
    naive = naive_conditional_error(X, n, workflow="accumulate")
    tail = np.trace(np.linalg.inv(X.T @ X)) * (math.pi**2 / 6 - sum(1 / i**2 for i in range(1, n + 1)))
    assert naive[-1] + tail == pytest.approx(th.accumulate_limit(6, 2, design_matrix=X), rel=1e-10)
    # stationary values given X: the unrolled chain after 150 generations
    for case in ({"mixing": "augment:1"}, {"mixing": "replace", "ridge": 0.3}):
        naive = naive_conditional_error(X, 150, **_naive_kwargs(case))
        stat = th.stationary_error(6, 2, design="fixed", design_matrix=X, mixing=case["mixing"], ridge=case.get("ridge", 0.0))
        assert naive[-1] == pytest.approx(stat, rel=1e-6)  # geometric convergence: ~1e-8 left at 150


@pytest.mark.slow
def test_derivations():
    D_ = th.derivations()
    assert {"replace", "accumulate", "projection_moments", "fresh_design", "strong_collapse", "downstream",
            "given_design", "augment"} <= set(D_)
    for name, der in D_.items():
        assert isinstance(der, Derivation) and der.source, name
        assert der.latex()
    import sympy as sp

    steps = dict(D_["projection_moments"].steps)
    assert steps["matches the stated form"] is True
    assert steps["c(m) + kappa(m, T - m) = m/T"] is True
    p = sp.Symbol("p", positive=True)
    assert sp.simplify(steps["lim_{T->oo} c(pT)"] - p**2) == 0
    sp.Symbol("n", positive=True)
    acc = dict(D_["accumulate"].steps)
    assert "pi**2/6" in str(acc["limit n -> oo"].rhs) or sp.simplify(acc["limit n -> oo"].rhs.subs({sp.Symbol("sigma", positive=True): 1})) != 0


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"sample_size": 11}, "sample_size"),
        ({"noise": -1.0}, "noise"),
        ({"ridge": -0.1}, "ridge"),
        ({"cov": -np.eye(D)}, "cov"),
        ({"design": "random"}, "design"),
        ({"mixing": "mixture:0.5,0.5,0"}, "mixing"),
        ({"ridge": 0.1}, "ridge"),
        ({"mixing": "accumulate-subsample"}, "mixing"),
        ({"mixing": "augment:1"}, "mixing"),
        ({"contamination": (1.5, np.zeros(D))}, "contamination"),
    ],
)
def test_bad_input(kwargs, name):
    args = {"generations": 3, "sample_size": T, "dim": D}
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        th.expected_error(args.pop("generations"), args.pop("sample_size"), args.pop("dim"), **args)


def test_bad_input_other_functions():
    with pytest.raises(ValueError, match="sample_size"):
        th.ols_variance(11, 10)
    with pytest.raises(ValueError, match="downstream_size"):
        th.downstream_error(1, T, D, downstream_size=11)
    with pytest.raises(ValueError, match="cov"):
        th.accumulate_limit(T, D, cov=np.diag([1.0] * 9 + [0.0]))
    with pytest.raises(TypeError, match="generations"):
        th.expected_error(1.5, T, D)



@given(
    seed=st.integers(0, 2**16),
    T=st.integers(3, 6),
    ridge=st.sampled_from([0.0, 0.05, 1.0]),
    mixing=st.sampled_from(["replace", "accumulate", "augment:0.5", "augment:2"]),
    share=st.sampled_from([0.0, 0.2]),
    noise=st.floats(0.0, 3.0),
)
def test_given_design_matches_naive_for_random_settings(seed, T, ridge, mixing, share, noise):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((T, 2))
    ws = rng.standard_normal(2)
    wstar = rng.standard_normal(2)
    case = {"mixing": mixing, "ridge": ridge, "share": share}
    naive = naive_conditional_error(X, 3, noise=noise, w_s=ws, w_star=wstar, **_naive_kwargs(case))
    got = th.expected_error(np.arange(4), T, 2, noise=noise, mixing=mixing, ridge=ridge, w_star=wstar,
                            contamination=(share, ws) if share else None, design_matrix=X)
    assert np.all(np.isfinite(got)) and np.all(got >= -1e-12)
    np.testing.assert_allclose(got, naive, rtol=1e-8, atol=1e-12)


def test_downstream_ridge_anisotropic_given_design_vs_chain():
    rng = np.random.default_rng(9)
    Q = np.linalg.qr(rng.standard_normal((4, 4)))[0]
    cov = Q @ np.diag([3.0, 1.0, 0.5, 0.2]) @ Q.T
    Xd = rng.standard_normal((15, 4)) @ np.linalg.cholesky(cov).T
    p = []
    for lam, mix in ((0.0, "replace"), (0.3, "replace"), (0.3, "fresh:0.3")):
        kw = {"downstream_ridge": lam, "downstream_design": Xd, "cov": cov, "mixing": mix}
        run = ct.RegressionChain(4, 20, design="fresh", **kw).simulate(4, 4000, rng=63)
        exp = th.downstream_error(np.arange(5), 20, 4, **kw)
        p += [z_test(run.downstream_error[:, n], exp[n]) for n in (0, 4)]
    # an OLS downstream design: exactly q_n + sigma^2 tr(Sigma A^-1) when Sigma = I
    X = rng.standard_normal((15, 4))
    got = th.downstream_error(3, 20, 4, downstream_design=X)
    assert got == pytest.approx(th.expected_error(3, 20, 4, design="fresh") + np.trace(np.linalg.inv(X.T @ X)))
    with pytest.raises(ValueError, match="downstream_ridge"):
        th.downstream_error(3, 20, 4, downstream_ridge=0.1)
    assert_consistent(p, what="downstream ridge given design")


def test_downstream_ridge_vs_naive_chain():
    Xd = np.random.default_rng(10).standard_normal((8, 3))
    _, down = naive_chain(3, 12, 2, 1500, rng=64, design="fresh", downstream_size=8, downstream_ridge=0.4,
                          downstream_design=Xd)
    exp = th.downstream_error(np.arange(3), 12, 3, downstream_ridge=0.4, downstream_design=Xd)
    assert_consistent([z_test(down[:, n], exp[n]) for n in (0, 2)], what="downstream ridge naive")


@pytest.mark.parametrize("module", ["collapse_theory.theory.regression", "collapse_theory.chains.regression",
                                    "collapse_theory.studies.regression"])
def test_doctests(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
