"""The evaluator against closed forms and naive references, on constructed runs."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.integrate
import scipy.linalg
from helpers import assert_consistent
from scipy import stats

from collapse_theory.mixture import gmm_log_density, gmm_sample, l2_squared_gmm
from collapse_theory.runs.evaluate import (
    DEFAULT_QUANTILES,
    Evaluator,
    evaluate,
    log_density_histograms,
)
from collapse_theory.runs.record import GenerationalRun, GenerationRecord


def naive_w2_squared_gaussian(m1, C1, m2, C2):
    """Textbook formula (Dowson & Landau 1982) with scipy's sqrtm."""
    r2 = scipy.linalg.sqrtm(C2)
    cross = scipy.linalg.sqrtm(r2 @ C1 @ r2)
    return float(np.sum((m1 - m2) ** 2) + np.trace(C1) + np.trace(C2) - 2 * np.real(np.trace(cross)))


def naive_gmm_log_density(x, w, m, C):
    return np.log(sum(wk * stats.multivariate_normal(mk, Ck).pdf(x) for wk, mk, Ck in zip(w, m, C)))


def _random_spd(rng, d, scale=1.0):
    A = rng.normal(size=(d, d))
    return scale * (A @ A.T / d + 0.2 * np.eye(d))


def _gaussian_run(rng, G=6, d=3):
    run = GenerationalRun.open(None, kind="constructed", family="gaussian", seed=0)
    for t in range(G):
        run.append(GenerationRecord(t, params={"mean": rng.normal(size=d), "cov": _random_spd(rng, d, 0.5 + t)}))
    return run


def test_gaussian_run_w2_equals_closed_form():
    rng = np.random.default_rng(1)
    run = _gaussian_run(rng)
    ref = {"mean": rng.normal(size=3), "cov": _random_spd(rng, 3)}
    df = evaluate(run, metrics=["w2_squared_to_initial", "w2_squared_to_truth", "cov_trace", "cov_logdet"], reference=ref)
    p0 = run.generations[0].params
    for rec in run.generations:
        p = rec.params
        got = df[(df.generation == rec.generation)].set_index("metric").value
        assert got["w2_squared_to_initial"] == pytest.approx(naive_w2_squared_gaussian(p["mean"], p["cov"], p0["mean"], p0["cov"]), rel=1e-8, abs=1e-10)
        assert got["w2_squared_to_truth"] == pytest.approx(naive_w2_squared_gaussian(p["mean"], p["cov"], ref["mean"], ref["cov"]), rel=1e-8)
        assert got["cov_trace"] == pytest.approx(np.trace(p["cov"]))
        assert got["cov_logdet"] == pytest.approx(np.log(np.linalg.det(p["cov"])))
    assert set(df.columns) == {"generation", "metric", "label", "value"}
    assert df.loc[df.metric == "cov_trace", "label"].iloc[0] == "component=0"


def test_gmm_log_density_and_sampling_match_references():
    rng = np.random.default_rng(2)
    w = np.array([0.2, 0.5, 0.3])
    m = rng.normal(size=(3, 2)) * 3
    C = np.stack([_random_spd(rng, 2) for _ in range(3)])
    x = rng.normal(size=(50, 2)) * 3
    np.testing.assert_allclose(gmm_log_density(x, w, m, C), naive_gmm_log_density(x, w, m, C), rtol=1e-10)
    # sampling: the mean and each coordinate's second moment against the mixture's (z-tests);
    # n = 40000 detects a 2% error in a component weight with power > 0.99
    y = gmm_sample(w, m, C, 40_000, rng=3)
    mean = w @ m
    second = sum(wk * (Ck + np.outer(mk, mk)) for wk, mk, Ck in zip(w, m, C))
    from collapse_theory._stats import z_test

    p = [z_test(y[:, j], mean[j]) for j in range(2)] + [z_test(y[:, i] * y[:, j], second[i, j]) for i in range(2) for j in range(i, 2)]
    assert_consistent(p, what="GMM sample moments")
    # any prefix is i.i.d.: labels are not grouped by component
    first = y[:1000, 0]
    assert abs(first.mean() - mean[0]) < 5 * y[:, 0].std() / np.sqrt(1000)


def test_l2_squared_gmm_against_quadrature():
    rng = np.random.default_rng(4)
    # 1-D mixtures, embedded as d = 1
    w1, m1, v1 = np.array([0.3, 0.7]), np.array([-1.0, 2.0]), np.array([0.5, 1.5])
    w2, m2, v2 = np.array([0.6, 0.4]), np.array([0.0, 3.0]), np.array([1.0, 0.2])

    def f(x, w, m, v):
        return np.sum(w * stats.norm.pdf(x, m, np.sqrt(v)))

    quad, _ = scipy.integrate.quad(lambda x: (f(x, w1, m1, v1) - f(x, w2, m2, v2)) ** 2, -20, 20, limit=200)
    got = l2_squared_gmm(w1, m1[:, None], v1[:, None, None], w2, m2[:, None], v2[:, None, None])
    assert got == pytest.approx(quad, rel=1e-8)
    # 2-D: a fine grid (trapezoid) is accurate to ~1e-6 for these smooth densities
    C1 = np.stack([_random_spd(rng, 2) for _ in range(2)])
    C2 = np.stack([_random_spd(rng, 2) for _ in range(3)])
    M1, M2 = rng.normal(size=(2, 2)), rng.normal(size=(3, 2))
    W1, W2 = np.array([0.4, 0.6]), np.array([0.2, 0.3, 0.5])
    g = np.linspace(-9, 9, 601)
    X, Y = np.meshgrid(g, g)
    pts = np.column_stack([X.ravel(), Y.ravel()])
    diff = (np.exp(naive_gmm_log_density(pts, W1, M1, C1)) - np.exp(naive_gmm_log_density(pts, W2, M2, C2))).reshape(X.shape)
    grid = np.trapezoid(np.trapezoid(diff**2, g, axis=1), g)
    assert l2_squared_gmm(W1, M1, C1, W2, M2, C2) == pytest.approx(grid, rel=1e-5)
    assert l2_squared_gmm(W1, M1, C1, W1, M1, C1) == pytest.approx(0.0, abs=1e-14)


def test_tail_mass_of_scaled_gaussians_matches_exact():
    # truth N(0, I_2): log f <= tau_q  <=>  |x|^2 >= r^2 = -2 ln q; a model N(0, s^2 I) puts
    # mass exp(-r^2 / (2 s^2)) = q^(1/s^2) there. Variance of the estimate: binomial in the
    # model draws plus the propagated error of the truth quantile. A factor-1.5 error in s^2
    # is detected with power ~1.
    levels = (0.01, 0.05, 0.1)
    truth = {"mean": np.zeros(2), "cov": np.eye(2)}
    n_mc, n_truth = 40_000, 200_000
    p = []
    for s2 in (1.0, 0.5, 2.0):
        ev = Evaluator("gaussian", {"mean": np.zeros(2), "cov": np.eye(2)}, truth=truth, metrics=["tail_mass"], tail_levels=levels, n_mc=n_mc, n_truth=n_truth, rng=5)
        got = ev({"mean": np.zeros(2), "cov": s2 * np.eye(2)})["tail_mass"]
        for q, est in zip(levels, got):
            exact = q ** (1 / s2)
            dpdq = (1 / s2) * q ** (1 / s2 - 1)
            se = np.sqrt(exact * (1 - exact) / n_mc + dpdq**2 * q * (1 - q) / n_truth)
            p.append(2 * stats.norm.sf(abs(est - exact) / se))
    assert_consistent(p, what="tail mass of scaled Gaussians")


def test_log_density_quantiles_and_histograms():
    rng = np.random.default_rng(6)
    w, m, C = np.array([0.5, 0.5]), np.array([[-2.0, 0.0], [2.0, 0.0]]), np.stack([np.eye(2), 0.5 * np.eye(2)])
    run = GenerationalRun.open(None, kind="constructed", family="gmm", seed=0)
    samples = []
    for t in range(3):
        Ct = C * 0.5**t
        x = gmm_sample(w, m, Ct, 300, rng=rng)
        samples.append(x)
        run.append(GenerationRecord(t, params={"weights": w, "means": m, "covariances": Ct}, sample=x))
    df = evaluate(run, metrics=["log_density_under_initial", "l2_squared_to_initial"])
    for t in range(3):
        naive = naive_gmm_log_density(samples[t], w, m, C)
        got = df[(df.generation == t) & (df.metric == "log_density_under_initial")].value.to_numpy()
        np.testing.assert_allclose(got, np.quantile(naive, DEFAULT_QUANTILES), rtol=1e-10)
    # collapse concentrates samples near the modes: their median log f0 rises
    med = df[(df.metric == "log_density_under_initial") & (df.label == "q=0.5")].value.to_numpy()
    assert med[2] > med[0]
    h = log_density_histograms(run, bins=20)
    assert h.counts.shape == (3, 20) and np.all(h.counts.sum(axis=1) == 300)
    np.testing.assert_allclose((h.density * np.diff(h.edges)).sum(axis=1), 1.0)


def test_sample_only_family_uses_stored_samples_and_scores():
    rng = np.random.default_rng(7)
    run = GenerationalRun.open(None, kind="vae", family="vae", seed=0)
    xs = []
    for t in range(3):
        x = rng.normal(size=(200, 1)) * (1.0 - 0.3 * t)
        xs.append(x)
        run.append(GenerationRecord(t, sample=x, arrays={"log_density_under_initial": -0.5 * x[:, 0] ** 2 - t}))
    truth = {"weights": np.ones(1), "means": np.zeros((1, 1)), "covariances": np.ones((1, 1, 1))}
    df = evaluate(run, reference=truth)
    got = df.set_index(["generation", "metric", "label"]).value
    for t in range(3):
        # equal-size 1-D samples: W2^2 = mean squared difference of the sorted values
        naive = np.mean((np.sort(xs[t][:, 0]) - np.sort(xs[0][:, 0])) ** 2)
        assert got[(t, "w2_squared_to_initial", "")] == pytest.approx(naive, rel=1e-10, abs=1e-14)
        q = np.quantile(-0.5 * xs[t][:, 0] ** 2 - t, DEFAULT_QUANTILES)
        np.testing.assert_allclose([got[(t, "log_density_under_initial", f"q={a:g}")] for a in DEFAULT_QUANTILES], q)
        assert got[(t, "cov_trace", "component=0")] == pytest.approx(np.var(xs[t][:, 0], ddof=1))
        # tail mass = share of the stored sample beyond the truth's two-sided quantile
        r = stats.norm.isf(0.05 / 2)
        assert got[(t, "tail_mass", "level=0.05")] == pytest.approx(np.mean(np.abs(xs[t][:, 0]) >= r), abs=0.02)
    assert "l2_squared_to_initial" not in set(df.metric)


def test_errors():
    run = GenerationalRun.open(None, kind="vae", family="vae", seed=0)
    with pytest.raises(ValueError, match="no complete generation"):
        evaluate(run)
    run.append(GenerationRecord(0, sample=np.zeros((5, 2))))
    with pytest.raises(ValueError, match="do not apply"):
        evaluate(run, metrics=["w2_squared_to_truth"])
    with pytest.raises(ValueError, match="unknown name"):
        evaluate(run, metrics=["w3"])
    with pytest.raises(ValueError, match="reference must hold"):
        evaluate(run, reference={"foo": 1})
    with pytest.raises(ValueError, match="quantiles"):
        evaluate(run, quantiles=(0.5, 1.5))
    with pytest.raises(ValueError, match="generation-0 parameters"):
        Evaluator("gmm", None)


def test_public_name_is_the_function():
    # the docstring examples run as collected doctests (pytest --doctest-modules over collapse_theory)
    import importlib

    import collapse_theory as ct

    module = importlib.import_module("collapse_theory.runs.evaluate")  # importing the submodule must not shadow
    assert callable(ct.runs.evaluate) and ct.runs.evaluate is module.evaluate


def test_evaluator_imports_no_adapter():
    # the mixture maths lives in collapse_theory.mixture: importing the evaluator (or the
    # mixture module) must not load the GMM adapter, so there is no evaluate <-> gmm cycle
    import subprocess
    import sys

    code = (
        "import sys, collapse_theory.mixture, collapse_theory.runs.evaluate; "
        "print(sorted(m for m in sys.modules if m.startswith('collapse_theory.runs.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = eval(out)
    assert not any(m.endswith((".gmm", ".vae", ".lm")) for m in loaded), loaded
