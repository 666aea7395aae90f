"""GaussianChain: exact path vs sample path vs naive sample-and-refit, collapse, reproducibility, errors.

Two-sample comparisons use Kolmogorov–Smirnov tests at family-wise level
LEVEL = 1e-3 (Bonferroni over the checks of a test). With 1000 replicates per
side, a KS test at the per-check level detects a shift of 0.15 standard
deviations (or a 10% change of scale) with power > 0.8, so a wrong variance
factor (e.g. M instead of M - 1), a missing between-group term in the pooled
scatter or a wrong real/synthetic split is caught.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_consistent
from naive_gaussian import naive_chain

import collapse_theory as ct
from collapse_theory._stats import ks_test, z_test

MIXINGS = {
    "replace": (ct.Mixing.replace(), 0.0, False),
    "fresh": (ct.Mixing.fresh(0.3), 0.3, False),
    "accumulate": (ct.Mixing.accumulate(), 0.0, True),
    "accumulate_real": (ct.Mixing.accumulate(0.25), 0.25, True),
}


@pytest.mark.parametrize("name", list(MIXINGS))
def test_exact_1d_matches_naive(name):
    mixing, real, pooled = MIXINGS[name]
    M, G, R = 6, 4, 1000
    run = ct.GaussianChain(0.5, 2.0, M, mixing=mixing).simulate(G, R, rng=11)
    assert run.method == "exact" and run.workflow == mixing.workflow
    means, variances = naive_chain(0.5, 2.0, M, G, R, rng=12, real=real, pooled=pooled)
    pv = []
    for t in (1, 2, G):
        pv.append(ks_test(run.log_var[:, t], np.log(variances[:, t])))
        pv.append(ks_test(run.mean[:, t], means[:, t]))
    assert_consistent(pv, what=f"exact vs naive, 1-D {name}")


@pytest.mark.parametrize("name", ["replace", "fresh", "accumulate_real"])
def test_exact_nd_matches_naive(name):
    mixing, real, pooled = MIXINGS[name]
    mean = np.array([1.0, -1.0, 0.0])
    cov = np.array([[2.0, 0.6, 0.0], [0.6, 1.0, -0.3], [0.0, -0.3, 0.5]])
    M, G, R = 6, 3, 800
    run = ct.GaussianChain(mean, cov, M, mixing=mixing).simulate(G, R, rng=21)
    means, covs = naive_chain(mean, cov, M, G, R, rng=22, real=real, pooled=pooled)
    pv = []
    for t in (1, G):
        pv.append(ks_test(run.log_det[:, t], np.linalg.slogdet(covs[:, t])[1]))
        pv.append(ks_test(run.cov[:, t, 0, 1], covs[:, t, 0, 1]))
        pv.append(ks_test(run.mean[:, t, 2], means[:, t, 2]))
    assert_consistent(pv, what=f"exact vs naive, 3-D {name}")
    # the stored Cholesky form reproduces the trace
    np.testing.assert_allclose(run.trace, np.trace(run.cov, axis1=2, axis2=3), rtol=1e-10)


@pytest.mark.parametrize("name", list(MIXINGS))
@pytest.mark.parametrize("d", [1, 2])
def test_exact_matches_sample_path(name, d):
    mixing, _, _ = MIXINGS[name]
    mean, cov = (0.0, 1.5) if d == 1 else (np.zeros(2), np.array([[1.0, 0.4], [0.4, 0.7]]))
    M, G, R = 5, 6, 1000
    ex = ct.GaussianChain(mean, cov, M, mixing=mixing, method="exact").simulate(G, R, rng=31)
    sa = ct.GaussianChain(mean, cov, M, mixing=mixing, method="sample").simulate(G, R, rng=32)
    assert (ex.method, sa.method) == ("exact", "sample")
    pv = []
    for t in (1, G):
        if d == 1:
            pv.append(ks_test(ex.log_var[:, t], sa.log_var[:, t]))
            pv.append(ks_test(ex.mean[:, t], sa.mean[:, t]))
        else:
            pv.append(ks_test(ex.log_det[:, t], sa.log_det[:, t]))
            pv.append(ks_test(ex.mean[:, t, 1], sa.mean[:, t, 1]))
        pv.append(ks_test(ex.w2_squared_to_initial[:, t], sa.w2_squared_to_initial[:, t]))
    assert_consistent(pv, what=f"exact vs sample path, d={d}, {name}")


def test_mle_estimator_matches_naive():
    M, G, R = 5, 3, 1000
    run = ct.GaussianChain(0.0, 1.0, M, estimator="mle").simulate(G, R, rng=41)
    _, variances = naive_chain(0.0, 1.0, M, G, R, rng=42, ddof=0)
    assert_consistent([ks_test(run.log_var[:, t], np.log(variances[:, t])) for t in (1, G)], what="MLE")


def test_schedule_sizes_used():
    sizes = np.array([3, 50, 4, 200])
    run = ct.GaussianChain(0.0, 1.0, sizes).simulate(4, 1500, rng=5)
    np.testing.assert_array_equal(run.sample_sizes, sizes)
    # Var log W = psi'((M-1)/2): a big M shrinks the step; the t=2 step (M=50) has
    # log-variance increments with sd ~ 0.2, the t=3 step (M=4) ~ 1.1
    inc = np.diff(run.log_var, axis=1).std(axis=0)
    assert inc[1] < 0.3 < 0.8 < inc[2]


# ----------------------------------------------------------------------------- collapse far below 1e-300
def test_deep_collapse_stays_finite_1d():
    run = ct.GaussianChain(3.0, 1.0, 4).simulate(20000, 4, rng=0)
    assert np.all(np.isfinite(run.log_var))
    assert run.log_var[:, -1].max() < np.log(1e-300)  # far below the smallest normal double
    assert np.all(np.isfinite(run.w2_squared_to_initial)) and np.all(np.isfinite(run.mean))
    # W2^2 of a collapsed model: (mu - mu0)^2 + sigma0^2
    np.testing.assert_allclose(run.w2_squared_to_initial[:, -1], (run.mean[:, -1] - 3.0) ** 2 + 1.0, rtol=1e-12)


def test_deep_collapse_stays_finite_nd():
    run = ct.GaussianChain(np.zeros(2), np.eye(2), 4).simulate(6000, 3, rng=0)
    assert np.all(np.isfinite(run.log_det)) and np.all(np.isfinite(run.log_scale))
    assert run.log_det[:, -1].max() < -1400
    assert np.all(np.isfinite(run.w2_squared_to_initial))
    np.testing.assert_allclose(run.w2_squared_to_initial[:, -1], np.sum(run.mean[:, -1] ** 2, axis=-1) + 2.0, rtol=1e-9)


def test_sample_path_collapse_stays_finite():
    run = ct.GaussianChain(0.0, 1.0, 3, method="sample").simulate(1500, 3, rng=0)
    assert np.all(np.isfinite(run.log_var)) and run.log_var[:, -1].max() < -500


# ----------------------------------------------------------------------------- reproducibility
def test_same_seed_same_result():
    # thread-count invariance: tests/test_thread_invariance.py (one process per thread count)
    chain = ct.GaussianChain(np.zeros(2), np.eye(2), 7, mixing=ct.Mixing.fresh(0.2))
    a = chain.simulate(5, 50, rng=3)
    b = chain.simulate(5, 50, rng=3)
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_array_equal(a.log_det, b.log_det)
    c = chain.simulate(5, 50, rng=4)
    assert not np.array_equal(a.mean, c.mean)


def test_rng_forms_and_blocks():
    chain = ct.GaussianChain(0.0, 1.0, 9)
    a = chain.simulate(10, 5, rng=8)
    b = chain.simulate(10, 5, rng=np.random.SeedSequence(8))
    np.testing.assert_array_equal(a.log_var, b.log_var)  # an int seed is its SeedSequence
    gen = np.random.default_rng(8)
    c, d = chain.simulate(10, 5, rng=gen), chain.simulate(10, 5, rng=gen)
    assert not np.array_equal(c.log_var, d.log_var)  # a Generator advances
    np.testing.assert_array_equal(a.log_var[:, 0], 0.0)
    # replicates beyond one block (BLOCK) come from their own streams, all distinct
    from collapse_theory.chains.gaussian import BLOCK

    big = chain.simulate(2, BLOCK + 3, rng=1)
    assert np.unique(big.log_var[:, 1]).size == BLOCK + 3


# ----------------------------------------------------------------------------- non-Gaussian D_0
def test_initial_data_first_generation_is_its_fit():
    data = np.random.default_rng(0).exponential(size=40)
    chain = ct.GaussianChain(None, None, 10, initial=data)
    assert chain.method == "sample"
    run = chain.simulate(3, 20, rng=1)
    assert run.method == "sample"
    np.testing.assert_allclose(run.mean[:, 1], data.mean(), rtol=1e-12)
    np.testing.assert_allclose(run.var[:, 1], data.var(ddof=1), rtol=1e-10)
    assert run.sample_sizes[0] == 40 and run.sample_sizes[1] == 10
    np.testing.assert_allclose(run.reference_mean, data.mean())


def test_w2_to_non_gaussian_data():
    from collapse_theory.wasserstein import w2_squared_to_gaussian

    x = np.random.default_rng(3).exponential(size=500)
    run = ct.GaussianChain(None, None, 10, initial=x).simulate(400, 3, rng=4)
    w = run.w2_squared_to_data(x, generations=[0, 1, 400])
    # generation 0 is N(mean(x), var(x)), not D_0 itself: a positive distance
    np.testing.assert_allclose(w[:, 0], w2_squared_to_gaussian(x, x.mean(), x.var(ddof=1)), rtol=1e-12)
    assert np.all(w[:, 0] > 0.01)
    # collapsed models (variance -> 0) are point masses: W2^2 -> E (x - mu)^2
    collapsed = run.log_var[:, 400] < np.log(1e-12)
    mu = run.mean[collapsed, 400]
    np.testing.assert_allclose(w[collapsed, 2], ((x[None, :] - mu[:, None]) ** 2).mean(axis=1), rtol=1e-5)
    assert collapsed.any()


def test_callable_initial_martingale_holds_for_non_gaussian_d0():
    # Theorem 3.1 allows any D_0: the unbiased mean is a martingale, so
    # E (mu_n - mu_0)^2 = sigma0^2 sum 1/M_t for D_0 = Exp(1) (mu_0 = sigma_0 = 1);
    # z-tests on 4000 replicates detect a 7% error with power > 0.8.
    M, G, R = 8, 3, 4000
    chain = ct.GaussianChain(1.0, 1.0, M, initial=lambda rng, n: rng.exponential(size=n))
    run = chain.simulate(G, R, rng=2)
    pv = [z_test((run.mean[:, t] - 1.0) ** 2, t / M) for t in (1, G)]
    pv.append(z_test(run.var[:, 1], 1.0))
    assert_consistent(pv, what="non-Gaussian D_0")


# ----------------------------------------------------------------------------- errors
def test_errors_are_clear():
    with pytest.raises(ValueError, match="sample_size"):
        ct.GaussianChain(np.zeros(3), np.eye(3), 3).simulate(2, 2, rng=0)  # M <= d
    with pytest.raises(ValueError, match="at least 2 points"):
        ct.GaussianChain(0.0, 1.0, 1).simulate(2, 2, rng=0)
    ct.GaussianChain(0.0, 1.0, 1, estimator="mle").simulate(2, 2, rng=0)  # allowed: variance 0
    with pytest.raises(ValueError, match="positive semidefinite"):
        ct.GaussianChain(np.zeros(2), [[1.0, 2.0], [2.0, 1.0]], 5)
    with pytest.raises(ValueError, match="positive definite"):
        ct.GaussianChain(np.zeros(2), [[1.0, 1.0], [1.0, 1.0]], 5)
    with pytest.raises(ValueError, match="finite"):
        ct.GaussianChain(np.nan, 1.0, 5)
    with pytest.raises(ValueError, match="cov must be > 0"):
        ct.GaussianChain(0.0, 0.0, 5)
    with pytest.raises(ValueError, match="Gaussian D_0"):
        ct.GaussianChain(0.0, 1.0, 5, method="exact", initial=np.arange(5.0))
    with pytest.raises(ValueError, match="shape"):
        ct.GaussianChain(np.zeros(2), np.eye(2), 5, initial=np.zeros((10, 3)))
    with pytest.raises(ValueError, match="mean must have shape"):
        ct.GaussianChain(np.zeros(3), np.eye(2), 5)
    with pytest.raises(ValueError, match="estimator"):
        ct.GaussianChain(0.0, 1.0, 5, estimator="biased")
    with pytest.raises(TypeError, match="replicates"):
        ct.GaussianChain(0.0, 1.0, 5).simulate(3, 2.5, rng=0)
    with pytest.raises(ValueError, match="mean and cov"):
        ct.GaussianChain(None, 1.0, 5)


# ----------------------------------------------------------------------------- studies and CLI
def test_studies_are_consistent_and_plot(tmp_path):
    for res in (
        ct.studies.variance_decay(M=10, generations=30, replicates=1500, rng=1),
        ct.studies.w2_growth(M=10, generations=10, replicates=1500, rng=2),
        ct.studies.w2_growth(M=8, generations=5, d=2, replicates=800, rng=3),
        ct.studies.schedules(M0=5, exponent=1.5, generations=40, replicates=1500, rng=4),
        ct.studies.mitigation(M=10, mixing="fresh:0.2", generations=30, replicates=1500, rng=5),
        ct.studies.mitigation(M=10, mixing="accumulate", generations=30, replicates=1500, rng=6),
    ):
        t = res.table()
        assert t["p_value"].notna().sum() >= 4, res.name
        assert res.passed(), (res.name, t)
        assert "generation" in res.curves
        res.figure()
    paths = res.save(tmp_path)
    assert paths["figure"].exists()


def test_cli_gaussian(tmp_path, capsys):
    from collapse_theory.cli import main

    code = main(["gaussian", "w2", "--M", "10", "--generations", "5", "--replicates", "300", "--out", str(tmp_path)])
    assert code == 0
    assert (tmp_path / "w2_growth.csv").exists() and (tmp_path / "w2_growth.png").exists()
    assert "w2_growth" in capsys.readouterr().out


# ----------------------------------------------------------------------------- every workflow (issue 14)
from naive_gaussian import naive_workflow_chain

NEW_WORKFLOWS = {
    "mixture": ("mixture:0.5,0.3,0.2", "mixture", {"real": 0.2, "previous": 0.3}),
    "subsample": ("accumulate-subsample", "subsample", {}),
    "augment": ("augment:1.5", "augment", {"ratio": 1.5}),
}


@pytest.mark.parametrize("name", list(NEW_WORKFLOWS))
@pytest.mark.parametrize("d", [1, 2])
@pytest.mark.slow
def test_new_workflows_match_naive(name, d):
    # the chain (exact path where there is one, else the sample path) against the naive sample-and-refit
    # of tests/naive_gaussian.py; KS tests at level 1e-3 with Bonferroni over the checks
    spec, workflow, kw = NEW_WORKFLOWS[name]
    mean, cov = (0.5, 2.0) if d == 1 else (np.array([1.0, -1.0]), np.array([[1.5, 0.4], [0.4, 0.8]]))
    M, G, Rc, Rn = 6, 4, 1500, 700
    run = ct.GaussianChain(mean, cov, M, mixing=spec).simulate(G, Rc, rng=61)
    means, covs = naive_workflow_chain(M, G, Rn, rng=62, workflow=workflow, mean=mean, cov=cov, **kw)
    pv = []
    for t in (1, 2, G):
        if d == 1:
            pv.append(ks_test(run.log_var[:, t], np.log(covs[:, t])))
            pv.append(ks_test(run.mean[:, t], means[:, t]))
        else:
            pv.append(ks_test(run.log_det[:, t], np.linalg.slogdet(covs[:, t])[1]))
            pv.append(ks_test(run.cov[:, t, 0, 1], covs[:, t, 0, 1]))
            pv.append(ks_test(run.mean[:, t, 0], means[:, t, 0]))
    assert_consistent(pv, what=f"{name} vs naive, d={d}")


@pytest.mark.parametrize("d", [1, 3])
def test_augment_exact_matches_sample_path(d):
    mean, cov = (0.0, 1.5) if d == 1 else (np.zeros(3), np.diag([1.0, 0.5, 2.0]))
    M, G, Rc = 7, 6, 1500
    ex = ct.GaussianChain(mean, cov, M, mixing="augment:2", method="exact").simulate(G, Rc, rng=71)
    sa = ct.GaussianChain(mean, cov, M, mixing="augment:2", method="sample").simulate(G, Rc, rng=72)
    assert (ex.method, sa.method) == ("exact", "sample")
    pv = []
    for t in (1, G):
        pv.append(ks_test(ex.w2_squared_to_initial[:, t], sa.w2_squared_to_initial[:, t]))
        if d == 1:
            pv.append(ks_test(ex.log_var[:, t], sa.log_var[:, t]))
        else:
            pv.append(ks_test(ex.log_det[:, t], sa.log_det[:, t]))
    assert_consistent(pv, what=f"augment exact vs sample, d={d}")


def test_augment_keeps_d0_and_subsample_pool_semantics():
    # augmentation: generation 1 is D_0's fit, and with initial data every generation sees the same D_0
    data = np.random.default_rng(5).normal(size=30)
    run = ct.GaussianChain(None, None, 30, mixing="augment:1", initial=data).simulate(5, 4, rng=1)
    np.testing.assert_allclose(run.mean[:, 1], data.mean(), rtol=1e-12)
    np.testing.assert_allclose(run.var[:, 1], data.var(ddof=1), rtol=1e-10)
    # fitted to D_0 plus 30 model points: the mean stays within the convex hull of D_0 and the model
    assert np.all(np.abs(run.mean[:, 2:] - data.mean()) < 3 * data.std())
    # accumulate-subsample: generation 1 is the whole (first) pool
    d2 = ct.GaussianChain(None, None, 30, mixing="accumulate-subsample", initial=data).simulate(3, 4, rng=2)
    np.testing.assert_allclose(d2.mean[:, 1], data.mean(), rtol=1e-12)
    assert ct.GaussianChain(0.0, 1.0, 10, mixing="accumulate-subsample").method == "sample"
    assert ct.GaussianChain(0.0, 1.0, 10, mixing="mixture:0.5,0.5,0").method == "sample"
    assert ct.GaussianChain(0.0, 1.0, 10, mixing="augment:2").method == "exact"


def test_chain_is_a_frozen_dataclass_like_discrete_chain():
    import dataclasses

    chain = ct.GaussianChain(0.0, 1.0, 10, mixing="fresh:0.1")
    assert dataclasses.is_dataclass(chain)
    assert isinstance(chain.sample_size, ct.process.Schedule)
    with pytest.raises(dataclasses.FrozenInstanceError):
        chain.estimator = "mle"
    run = chain.simulate(2, 3, rng=0)  # show_progress defaults to False
    names = {f.name for f in dataclasses.fields(run) if f.init}
    assert not any(n.startswith("_") for n in names)


# ----------------------------------------------------------------------------- d-D sample path (issue 17.1)
@pytest.mark.slow
def test_issue_17_reproducer_stays_finite_and_matches_exact():
    # GaussianChain(np.zeros(5), np.eye(5), 6, method="sample").simulate(1000, 16, rng=8) used to reach
    # log-scales of -inf and traces of 7e46 (exact path: about 201 at most)
    sa = ct.GaussianChain(np.zeros(5), np.eye(5), 6, method="sample").simulate(1000, 16, rng=8)
    assert np.all(np.isfinite(sa.log_scale)) and np.all(np.isfinite(sa.log_det))
    assert np.all(np.isfinite(sa.trace)) and sa.trace.max() < 1e3
    assert np.all(np.diff(sa.log_det, axis=1).max() < 40)  # no jump back from -inf


@pytest.mark.parametrize("d, M, G, Rc", [pytest.param(2, 3, 1500, 400, marks=pytest.mark.slow),
                                          pytest.param(5, 6, 1000, 200, marks=pytest.mark.slow),
                                          pytest.param(50, 52, 1000, 10, marks=pytest.mark.slow)])
def test_dd_sample_path_matches_exact_in_deep_collapse(d, M, G, Rc):
    # KS on log det Sigma_t (far below 1e-300 at the end: deep, anisotropic collapse) and on the
    # sorted log-scale spread, sample path against exact path; level 1e-3, Bonferroni
    ex = ct.GaussianChain(np.zeros(d), np.eye(d), M, method="exact").simulate(G, Rc, rng=81)
    sa = ct.GaussianChain(np.zeros(d), np.eye(d), M, method="sample").simulate(G, Rc, rng=82)
    assert np.all(np.isfinite(sa.log_det)) and np.all(np.isfinite(sa.log_scale))
    assert np.all(np.isfinite(sa.w2_squared_to_initial))
    assert np.median(sa.log_det[:, -1]) < -700
    pv = []
    for t in (G // 10, G // 2, G):
        # and both against the exact E log det (Bartlett): powerful even with few replicates
        pv.append(z_test(sa.log_det[:, t], ct.theory.gaussian.expected_log_det(t, M, np.eye(d))))
        pv.append(z_test(ex.log_det[:, t], ct.theory.gaussian.expected_log_det(t, M, np.eye(d))))
        pv.append(ks_test(ex.log_det[:, t], sa.log_det[:, t]))
        pv.append(ks_test(np.ptp(ex.log_scale[:, t], axis=-1), np.ptp(sa.log_scale[:, t], axis=-1)))
    assert_consistent(pv, what=f"d-D sample vs exact, d={d}")


BAD_CHAIN = [
    (lambda: ct.GaussianChain(0.0, 1.0, 10, mixing="mixture:0.5,0.5,0", method="exact"), ValueError, "method"),
    (lambda: ct.GaussianChain(0.0, 1.0, 10, mixing="accumulate-subsample", method="exact"), ValueError, "method"),
    (lambda: ct.GaussianChain(0.0, 1.0, ct.schedules.linear(5, 1), mixing="augment:1"), ValueError, "sample_size"),
    (lambda: ct.GaussianChain(0.0, 1.0, 10, mixing="augment:0.01").simulate(2, 2, rng=0), ValueError, "synthetic_ratio"),
    (lambda: ct.GaussianChain(0.0, 1.0, 10, mixing="augment:0"), ValueError, "synthetic_ratio"),
    (lambda: ct.GaussianChain(0.0, 1.0, 10, mixing=ct.Mixing(1.0, 0.0, 0.0, pooled=False, subsample=True)), ValueError, "subsample"),
    (lambda: ct.GaussianChain(0.0, 1.0, 10, mixing=0.3), TypeError, "mixing"),
    (lambda: ct.GaussianChain(0.0, 1.0, 10, mixing="bogus"), ValueError, "mixing"),
    (lambda: ct.GaussianChain(0, "1", 10), TypeError, "cov"),
    (lambda: ct.GaussianChain([True, False], np.eye(2), 10), TypeError, "mean"),
    (lambda: ct.GaussianChain(0.0, 1.0, True), TypeError, "sample_size"),
    (lambda: ct.GaussianChain(0.0, 1.0, 10).simulate(2, 2, rng=0, show_progress="yes"), TypeError, "show_progress"),
    (lambda: ct.GaussianChain(0.0, 1.0, 10, initial=lambda rng, n: np.full(n, np.inf)).simulate(2, 2, rng=0), ValueError, "initial"),
    (lambda: ct.GaussianChain(0.0, 1.0, 10, mixing="accumulate-subsample").simulate(10**6, 2000, rng=0), ValueError, "generations"),
    (lambda: ct.GaussianChain(np.zeros(0), np.zeros((0, 0)), 10), ValueError, "cov"),
]


@pytest.mark.parametrize("call, exc, name", BAD_CHAIN, ids=[f"case{i}" for i in range(len(BAD_CHAIN))])
def test_bad_input_table(call, exc, name):
    with pytest.raises(exc, match=name):
        call()


@pytest.mark.parametrize("d, method, G, R", [(1, "exact", 100_000, 10), (1, "sample", 100_000, 10), (2, "exact", 50_000, 4),
                                             (3, "sample", 20_000, 5), (5, "exact", 20_000, 10), (1, "exact", 400_000, 1),
                                             (3, "exact", 100_000, 1)])
def test_memory_guard_estimate_covers_the_measured_peak(monkeypatch, d, method, G, R):
    # the guard's estimate was 3x (1-D) to 7x (d = 3) below the peak of simulate and the first access to
    # w2_squared_to_initial, so a call it let through at 8 GiB could need 24 to 55 GiB; the peak here is measured
    # with tracemalloc (which counts NumPy's buffers) and set against the estimate the guard states
    import re
    import tracemalloc

    from collapse_theory.chains import gaussian as cg

    mean, cov = (0.0, 1.0) if d == 1 else (np.zeros(d), np.eye(d))
    chain = ct.GaussianChain(mean, cov, 8, method=method)
    chain.simulate(3, 2, rng=0, show_progress=False).w2_squared_to_initial  # compiled and warm
    monkeypatch.setattr(cg, "MEMORY_LIMIT_BYTES", 0)
    with pytest.raises(ValueError, match="GiB") as info:
        chain.simulate(G, R, rng=0, show_progress=False)
    need = float(re.search(r"about ([0-9.e+-]+) GiB", str(info.value)).group(1)) * 2**30
    monkeypatch.setattr(cg, "MEMORY_LIMIT_BYTES", 8 * 2**30)
    tracemalloc.start()
    try:
        run = chain.simulate(G, R, rng=0, show_progress=False)
        w2 = run.w2_squared_to_initial
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert np.isfinite(w2).all()
    assert peak <= need, f"peak {peak / 2**20:.1f} MiB above the estimate {need / 2**20:.1f} MiB"
    assert need < 3 * peak  # and not so loose that it refuses what fits (its fixed part is 16 MiB of temporaries)
