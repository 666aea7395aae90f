"""The GMM generational run: reproducibility, resume, theory, workflows, errors, CLI."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats

import collapse_theory as ct
from collapse_theory._stats import z_test
from collapse_theory.runs import gmm
from collapse_theory.runs.record import GenerationalRun
from helpers import assert_consistent

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
    assert set(rec.metrics) == set(gmm.RUN_METRICS)
    assert set(rec.timing) == {"fit", "sample", "metrics"} and rec.wall_time >= rec.timing["fit"]


@pytest.mark.parametrize(
    "kw",
    [
        dict(),
        dict(mixing=ct.Mixing.accumulate(real=0.2)),
        dict(mixing=ct.Mixing(0.6, 0.3, 0.1)),
        dict(mixing=ct.Mixing.fresh(real=0.3), warm_start=True, init_params="random_from_data"),
    ],
    ids=["replace", "accumulate", "mixture", "fresh-warm"],
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
    par = gmm.run(3, rng=9, replicates=2, max_workers=2, out=tmp_path / "p", **SMALL)
    seq = gmm.run(3, rng=9, replicates=2, max_workers=1, **SMALL)
    for a, b in zip(par, seq):
        _assert_same_runs(a, b)
    assert not np.array_equal(par[0].generations[1].params["means"], par[1].generations[1].params["means"])
    assert (tmp_path / "p" / "replicate-01" / "gen-000003" / "COMPLETE").is_file()


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
    rep = gmm.run(G, rng=21, **kw)
    fresh = gmm.run(G, rng=22, mixing=ct.Mixing.fresh(real=0.5), **kw)

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
    assert acc.generations[1].metrics == {}


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
        gmm.run(2, mixing="replace")
    with pytest.raises(ValueError, match="positive definite"):
        gmm.run(2, truth={"weights": [1.0], "means": [[0.0, 0.0]], "covariances": [[[1.0, 0.0], [0.0, 0.0]]]})
    with pytest.raises(ValueError, match="truth must hold"):
        gmm.run(2, truth={"weights": [1.0]})
    with pytest.raises(ValueError, match="at least n_components"):
        gmm.run(2, truth=np.zeros((1, 2)), n_components=2)
    with pytest.raises(ValueError, match="unknown name"):
        gmm.run(2, metrics=["nope"])


def test_figures_and_tables():
    runs = gmm.run(4, replicates=2, max_workers=1, rng=1, **SMALL)
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


def test_cli_writes_run_figures_and_summary(tmp_path, capsys):
    from collapse_theory.cli import main

    out = tmp_path / "gmm"
    code = main(["gmm", "--generations", "3", "--sample-size", "60", "--out", str(out), "--seed", "4"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "w2_squared_to_initial" in printed
    run = GenerationalRun.load(out / "run")
    assert len(run) == 4
    assert (out / "densities.png").is_file() and (out / "metrics.png").is_file()
    assert (out / "summary.csv").is_file() and (out / "summary.json").is_file()
    # the same command again refuses to overwrite, --resume continues
    assert main(["gmm", "--generations", "3", "--sample-size", "60", "--out", str(out), "--seed", "4"]) == 2
    assert main(["gmm", "--generations", "3", "--sample-size", "50", "--out", str(out), "--seed", "4", "--resume"]) == 2  # config differs
    assert main(["gmm", "--generations", "5", "--sample-size", "60", "--out", str(out), "--seed", "4", "--resume"]) == 0  # extends
    assert len(GenerationalRun.load(out / "run")) == 6
