"""The GMM generational run: reproducibility, resume, theory, workflows, errors, CLI."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from helpers import assert_consistent
from scipy import stats

import collapse_theory as ct
from collapse_theory._stats import z_test
from collapse_theory.runs import gmm
from collapse_theory.runs.record import GenerationalRun

SMALL = dict(sample_size=60, show_progress=False)
ONE_GAUSSIAN = {"weights": np.ones(1), "means": np.zeros((1, 2)), "covariances": np.eye(2)[None]}


class Interrupt(Exception):
    pass


def _stop_at(t_stop):
    def cb(run, rec):
        if rec.generation == t_stop:
            raise Interrupt

    return cb


def _assert_same_runs(a: GenerationalRun, b: GenerationalRun):
    assert len(a) == len(b)
    for ra, rb in zip(a.generations, b.generations):
        for k in ra.params:
            np.testing.assert_array_equal(ra.params[k], rb.params[k])
        np.testing.assert_array_equal(ra.sample, rb.sample)
        assert ra.metrics.keys() == rb.metrics.keys()
        for k in ra.metrics:
            np.testing.assert_array_equal(ra.metrics[k], rb.metrics[k])
        assert ra.info == rb.info


def test_reproducible_from_seed():
    a = gmm.run(6, rng=11, **SMALL)
    b = gmm.run(6, rng=11, **SMALL)
    c = gmm.run(6, rng=12, **SMALL)
    _assert_same_runs(a, b)
    assert not np.array_equal(a.generations[3].params["means"], c.generations[3].params["means"])
    assert len(a) == 7 and a.kind == "gmm" and a.family == "gmm"
    rec = a.generations[2]
    assert rec.params["covariances"].shape == (2, 2, 2) and rec.sample.shape == (60, 2)
    assert set(rec.metrics) == set(gmm.RUN_METRICS) | {"component_std", "component_min_eigen_std"}
    assert set(rec.timing) == {"fit", "sample", "metrics"} and rec.wall_time >= rec.timing["fit"]


@pytest.mark.parametrize(
    "kw",
    [
        dict(),
        dict(mixing=ct.Mixing.accumulate(real=0.2)),
        dict(mixing=ct.Mixing(0.6, 0.3, 0.1)),
        dict(mixing=ct.Mixing.fresh(real=0.3), warm_start=True, init_params="random_from_data"),
        dict(l2_reference="separate-fit", truth="two-blobs"),
    ],
    ids=["replace", "accumulate", "mixture", "fresh-warm", "separate-fit"],
)
def test_interrupt_and_resume_equals_uninterrupted(tmp_path, kw):
    full = gmm.run(7, rng=5, **SMALL, **kw)
    with pytest.raises(Interrupt):
        gmm.run(7, rng=5, out=tmp_path / "r", callback=_stop_at(3), **SMALL, **kw)
    assert len(GenerationalRun.load(tmp_path / "r")) == 4
    with pytest.raises(FileExistsError):
        gmm.run(7, rng=5, out=tmp_path / "r", **SMALL, **kw)
    resumed = gmm.run(7, rng=5, out=tmp_path / "r", resume=True, **SMALL, **kw)
    _assert_same_runs(full, resumed)
    _assert_same_runs(full, GenerationalRun.load(tmp_path / "r"))
    with pytest.raises(ValueError, match="config"):
        gmm.run(7, rng=5, out=tmp_path / "r", resume=True, tol=1e-3, **SMALL, **kw)


def test_truncated_final_generation_is_redone(tmp_path):
    full = gmm.run(5, rng=2, out=tmp_path / "r", **SMALL)
    p = tmp_path / "r" / "gen-000005" / "data.npz"
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    with pytest.warns(UserWarning, match="generation 5 is not valid"):
        assert len(GenerationalRun.load(tmp_path / "r")) == 5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        resumed = gmm.run(5, rng=2, out=tmp_path / "r", resume=True, **SMALL)
    _assert_same_runs(full, resumed)


def test_replicates_in_processes_equal_sequential(tmp_path):
    par = gmm.run_replicates(3, rng=9, replicates=2, max_workers=2, out=tmp_path / "p", **SMALL)
    seq = gmm.run_replicates(3, rng=9, replicates=2, max_workers=1, **SMALL)
    for a, b in zip(par, seq):
        _assert_same_runs(a, b)
    assert not np.array_equal(par[0].generations[1].params["means"], par[1].generations[1].params["means"])
    assert (tmp_path / "p" / "replicate-01" / "gen-000003" / "COMPLETE").is_file()


@pytest.mark.slow
def test_theory_and_fresh_data_bound_collapse():
    # One component, MLE fit (reg_covar=0; with init 'random' all responsibilities are 1, so EM is
    # exact from the start): E[Sigma_{i+1} | Sigma_i] =
    # (1 - 1/M) Sigma_i, so E[|mu_t - mu_0|^2 | model 0] = tr Sigma_0 (1 - (1 - 1/M)^t) exactly
    # (NOTES: the MLE variance decays by (M-1)/M per generation). z-test over 32 replicates of
    # the normalised shift: a missing (M-1)/M factor (unbiased covariance: t/M tr Sigma_0, 1.9x)
    # is detected with power ~0.99.
    # Under replace the covariance also collapses, so W2^2 to generation 0 grows towards
    # 2 tr Sigma_0; with half of every dataset fresh it stays O(tr Sigma_0 / M): one-sided
    # Mann-Whitney, replace > fresh at generation G (typical p ~ 1e-9). Bounded: under fresh,
    # W2^2 at G/2 and at G come from the same stationary law (two-sided Mann-Whitney, in the
    # Bonferroni family), which a slow drift would break.
    from collapse_theory.wasserstein import w2_squared_gaussian

    M, G, R = 20, 30, 32
    kw = dict(sample_size=M, n_components=1, truth=ONE_GAUSSIAN, reg_covar=0.0, init_params="random", replicates=R, max_workers=2, show_progress=False, metrics=(), sample_keep=0)
    rep = gmm.run_replicates(G, rng=21, **kw)
    fresh = gmm.run_replicates(G, rng=22, mixing=ct.Mixing.fresh(real=0.5), **kw)

    def w2(r, t):
        p0, pt = r.generations[0].params, r.generations[t].params
        return float(w2_squared_gaussian(pt["means"][0], pt["covariances"][0], p0["means"][0], p0["covariances"][0]))

    shift = [np.sum((r.generations[G].params["means"][0] - r.generations[0].params["means"][0]) ** 2) / np.trace(r.generations[0].params["covariances"][0]) for r in rep]
    p_theory = z_test(np.array(shift), 1 - (1 - 1 / M) ** G)
    w_rep = np.array([w2(r, G) for r in rep])
    w_fresh = np.array([w2(r, G) for r in fresh])
    w_fresh_half = np.array([w2(r, G // 2) for r in fresh])
    p_grow = stats.mannwhitneyu(w_rep, w_fresh, alternative="greater").pvalue
    p_stationary = stats.mannwhitneyu(w_fresh, w_fresh_half).pvalue
    assert_consistent([p_theory, p_stationary], what="replace: E|mu_t - mu_0|^2; fresh: stationary W2")
    assert p_grow < 1e-3, f"replace W2^2 {np.median(w_rep):.3g} vs fresh {np.median(w_fresh):.3g}: p = {p_grow:.3g}"


def test_dataset_sizes_follow_the_workflow():
    acc = gmm.run(3, mixing=ct.Mixing.accumulate(), rng=0, metrics=(), **SMALL)
    fresh = gmm.run(3, mixing=ct.Mixing.fresh(real=0.5), rng=0, metrics=(), **SMALL)
    sched = gmm.run(3, rng=0, metrics=(), sample_size=ct.schedules.linear(60, 10), show_progress=False)
    assert [g.info["n_data"] for g in acc.generations] == [60, 120, 180, 240]  # the pool grows by M
    assert [g.info["n_data"] for g in fresh.generations] == [60] * 4
    assert [g.info["n_data"] for g in sched.generations] == [60, 70, 80, 90]
    assert sched.generations[3].sample.shape[0] == 100  # model t draws M_{t+1}
    assert set(acc.generations[1].metrics) == {"component_std", "component_min_eigen_std"}  # metrics=(): no evaluator


@pytest.mark.parametrize("ctype", ["tied", "diag", "spherical"])
def test_covariance_types_give_full_matrices(ctype):
    r = gmm.run(2, covariance_type=ctype, rng=0, **SMALL)
    C = r.generations[1].params["covariances"]
    assert C.shape == (2, 2, 2)
    if ctype == "tied":
        np.testing.assert_array_equal(C[0], C[1])
    else:
        assert C[0, 0, 1] == 0.0
        if ctype == "spherical":
            assert C[0, 0, 0] == C[0, 1, 1]


def test_truth_as_sample_is_generation_zero_data():
    x = np.random.default_rng(0).normal(size=(80, 2)) + np.array([[4.0, 0.0]])
    r = gmm.run(2, truth=x, n_components=1, rng=0, **SMALL)
    np.testing.assert_allclose(r.generations[0].params["means"][0], x.mean(axis=0), rtol=1e-10)
    assert "tail_mass" in r.generations[1].metrics  # thresholds from the generation-0 density


def test_bad_configuration_raises_clear_errors():
    with pytest.raises(ValueError, match="sample_size must be >= n_components"):
        gmm.run(2, sample_size=3, n_components=5)
    with pytest.raises(ValueError, match="covariance_type"):
        gmm.run(2, covariance_type="banana")
    with pytest.raises(ValueError, match="generations must be >= 0"):
        gmm.run(-1)
    with pytest.raises(TypeError, match="generations must be an integer"):
        gmm.run(2.5)
    with pytest.raises(ValueError, match="init_params"):
        gmm.run(2, init_params="best")
    with pytest.raises(ValueError, match="tol"):
        gmm.run(2, tol=0.0)
    with pytest.raises(TypeError, match="mixing"):
        gmm.run(2, mixing=3)
    with pytest.raises(ValueError, match="mixing.*accepted workflows: replace, fresh, mixture, accumulate"):
        gmm.run(2, mixing="accumulate-subsample")
    with pytest.raises(ValueError, match="truth"):
        gmm.run(2, truth="three-blobs")
    with pytest.raises(ValueError, match="l2_reference"):
        gmm.run(2, l2_reference="truth")
    with pytest.raises(ValueError, match="callback"):
        gmm.run_replicates(2, replicates=2, callback=print)
    with pytest.raises(ValueError, match="positive definite"):
        gmm.run(2, truth={"weights": [1.0], "means": [[0.0, 0.0]], "covariances": [[[1.0, 0.0], [0.0, 0.0]]]})
    with pytest.raises(ValueError, match="truth must hold"):
        gmm.run(2, truth={"weights": [1.0]})
    with pytest.raises(ValueError, match="at least n_components"):
        gmm.run(2, truth=np.zeros((1, 2)), n_components=2)
    with pytest.raises(ValueError, match="unknown name"):
        gmm.run(2, metrics=["nope"])


def test_figures_and_tables():
    runs = gmm.run_replicates(4, replicates=2, max_workers=1, rng=1, **SMALL)
    fig = gmm.density_figure(runs, generations=(0, 2, 50))
    assert len(fig.axes) == 2 * 3  # generations 0, 2 and the last (4)
    fig2 = gmm.metric_figure(runs)
    assert len(fig2.axes) == 6
    fig3 = gmm.log_density_figure(runs, generations=(0, 2))
    assert len(fig3.axes[0].lines) == 3  # generations 0, 2 and the last
    tab = gmm.summary_table(runs)
    assert list(tab.generation) == [0, 4, 0, 4]
    assert np.all(tab.w2_squared_to_initial.iloc[[0, 2]] < 1e-12)  # generation 0 against itself
    tim = gmm.timing_table(runs)
    assert np.all(tim.fit_s > 0)
    figs = gmm.figures(runs)
    assert set(figs) == {"densities", "metrics", "std", "log_density"}
    assert all(isinstance(caption, str) and len(caption) > 40 for _, caption in figs.values())


@pytest.mark.slow
def test_cli_writes_run_figures_and_summary(tmp_path, capsys):
    from collapse_theory.cli import main

    out = tmp_path / "gmm"
    code = main(["gmm", "--generations", "3", "--sample-size", "60", "--out", str(out), "--seed", "4"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "w2_squared_to_initial" in printed
    run = GenerationalRun.load(out / "run")
    assert len(run) == 4
    assert (out / "densities.png").is_file() and (out / "metrics.png").is_file() and (out / "std.png").is_file()
    assert (out / "summary.csv").is_file() and (out / "summary.json").is_file()
    # the same command again refuses to overwrite, --resume continues
    assert main(["gmm", "--generations", "3", "--sample-size", "60", "--out", str(out), "--seed", "4"]) == 2
    assert main(["gmm", "--generations", "3", "--sample-size", "50", "--out", str(out), "--seed", "4", "--resume"]) == 2  # config differs
    assert main(["gmm", "--generations", "5", "--sample-size", "60", "--out", str(out), "--seed", "4", "--resume"]) == 0  # extends
    assert len(GenerationalRun.load(out / "run")) == 6


# ---------------------------------------------------------------------------- the paper's setting
def test_default_d0_is_the_papers_blob_and_std_is_the_papers():
    # The authors' notebook: D_0 = make_blobs(1000, centers=[[0, 0]]) (one N(0, I_2) blob),
    # two components fitted; their std of component k is sqrt(tr C_k / 2).
    r = gmm.run(1, rng=3, show_progress=False)
    assert r.config["truth"] == "paper-blob" and r.config["n_components"] == 2
    np.testing.assert_array_equal(r.truth["means"], [[0.0, 0.0]])
    np.testing.assert_array_equal(r.truth["covariances"], [np.eye(2)])
    d0 = r.generations[0].arrays["d0"]
    assert d0.shape == (1000, 2)
    # D_0 is N(0, I_2): each coordinate standard normal (KS), uncorrelated (Fisher z);
    # Bonferroni over 3 tests at 1e-3
    p = [stats.kstest(d0[:, 0], "norm").pvalue, stats.kstest(d0[:, 1], "norm").pvalue]
    p.append(2 * stats.norm.sf(abs(np.arctanh(np.corrcoef(d0.T)[0, 1])) * np.sqrt(len(d0) - 3)))
    assert min(p) > 1e-3 / 3, p
    # the std by hand from the fitted covariances
    for rec in r.generations:
        C = rec.params["covariances"]
        by_hand = [np.sqrt((C[k][0][0] + C[k][1][1]) / 2) for k in range(2)]
        np.testing.assert_allclose(rec.metrics["component_std"], by_hand, rtol=1e-12)
        a, b, c = C[:, 0, 0], C[:, 0, 1], C[:, 1, 1]
        lam_min = (a + c) / 2 - np.sqrt(((a - c) / 2) ** 2 + b**2)  # 2x2 eigenvalue in closed form
        np.testing.assert_allclose(rec.metrics["component_min_eigen_std"], np.sqrt(lam_min), rtol=1e-9)
    tab = gmm.summary_table(r)
    C0 = r.generations[0].params["covariances"]
    assert tab.component_std_min.iloc[0] == pytest.approx(min(np.sqrt((C0[k][0][0] + C0[k][1][1]) / 2) for k in range(2)))
    # generation 0 fits D_0 itself: the fit's overall covariance is D_0's (MLE) covariance
    w, m = r.generations[0].params["weights"], r.generations[0].params["means"]
    mix_cov = sum(w[k] * (C0[k] + np.outer(m[k] - w @ m, m[k] - w @ m)) for k in range(2))
    np.testing.assert_allclose(mix_cov, np.cov(d0.T, bias=True), atol=1e-4)
    two = gmm.run(0, rng=3, truth="two-blobs", show_progress=False, metrics=())
    assert two.config["truth"] == "two-blobs" and abs(two.generations[0].arrays["d0"][:, 0]).mean() > 2


def test_separate_fit_reference_is_a_second_fit_of_d0():
    from collapse_theory.mixture import l2_squared_gmm

    r = gmm.run(2, rng=5, l2_reference="separate-fit", show_progress=False)
    a = r.generations[0].arrays
    ref = (a["reference_weights"], a["reference_means"], a["reference_covariances"])
    for rec in r.generations:
        p = rec.params
        assert rec.metrics["l2_squared_to_separate_fit"] == pytest.approx(l2_squared_gmm(p["weights"], p["means"], p["covariances"], *ref))
    # a fit of the same D_0 (another initialisation): close to generation 0, not the same object
    assert r.generations[0].metrics["l2_squared_to_separate_fit"] < 1e-2
    assert "l2_squared_to_separate_fit" in gmm.summary_table(r).dropna(axis=1).columns


@pytest.mark.slow
def test_our_loop_matches_a_plain_sklearn_loop_in_distribution():
    # tests/naive_gmm.py re-implements the authors' notebook loop with scikit-learn only
    # (make_blobs D_0, GaussianMixture refits with one shared RandomState, gm.sample). Our
    # run draws its D_0, EM seeds and samples differently (per-generation streams, i.i.d.
    # labels), so the two agree in distribution only: two-sample KS over seeds of the smaller
    # component's paper std and of the first component's mean norm at generation G, Bonferroni
    # over 2 tests at 1e-3. M = 500 and G = 25 keep it near 40 s; a 20% shift in the std
    # (which the loop discrepancy in the issue amounted to) is detected with power ~0.9.
    from naive_gmm import naive_gmm_loop, paper_std
    from threadpoolctl import threadpool_limits

    S, G, M = 60, 25, 500
    ours, naive = [], []
    with threadpool_limits(limits=1):
        for s in range(S):
            p = gmm.run(G, M, rng=s, metrics=(), sample_keep=0, show_progress=False).generations[G].params
            ours.append((paper_std(p["covariances"]).min(), np.linalg.norm(p["means"].mean(axis=0))))
            _, m, C = naive_gmm_loop(1000 + s, G, M)[G]
            naive.append((paper_std(C).min(), np.linalg.norm(m.mean(axis=0))))
    ours, naive = np.array(ours), np.array(naive)
    pvals = [stats.ks_2samp(ours[:, j], naive[:, j]).pvalue for j in range(2)]
    assert min(pvals) > 1e-3 / 2, (pvals, np.median(ours, axis=0), np.median(naive, axis=0))
