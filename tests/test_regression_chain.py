"""RegressionChain: shapes and contract, exact path = explicit refitting in distribution, bad input.

Distribution tests: two-sample Kolmogorov–Smirnov tests (fixed seeds) of the
error at a few generations between ``method='exact'`` (sufficient
statistics) and ``method='sample'`` (rows drawn and refitted), and between the
exact path and the independent naive chain of ``naive_regression``;
Bonferroni over the tests of one function at LEVEL = 1e-3. With 2000
replicates per side the KS test detects a shift of about 8% of a standard
deviation in the error's law (e.g. a missing 1/t in the pooled fit, or a
Wishart with T - 1 degrees of freedom, ~1% in the mean, is seen through the
tests of theory; the KS tests catch wrong shapes of the law).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from helpers import assert_consistent
from naive_regression import naive_chain

import collapse_theory as ct
from collapse_theory._stats import ks_test

CASES = [
    {"mixing": "replace"},
    {"mixing": "accumulate"},
    {"mixing": "fresh:0.3"},
    {"mixing": "augment:1.5"},
    {"mixing": "accumulate:0.2", "ridge": 0.05},
    {"mixing": "replace", "ridge": 0.2, "contamination": (0.25, np.zeros(4))},
    {"mixing": "augment:0.5", "contamination": (0.25, np.zeros(4))},
]


@pytest.mark.parametrize("design", ["fixed", "fresh"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c["mixing"] + ("+ridge" if "ridge" in c else "") + ("+cont" if "contamination" in c else ""))
def test_exact_equals_sample_in_distribution(case, design):
    cov = np.diag([2.0, 1.0, 0.5, 0.25])
    rc = ct.RegressionChain(4, 20, design=design, cov=cov, noise=0.8, **case)
    a = rc.simulate(4, 2000, rng=1, method="exact")
    b = rc.simulate(4, 2000, rng=2, method="sample")
    assert a.method == "exact" and b.method == "sample"
    p = [ks_test(a.error[:, t], b.error[:, t]) for t in (1, 2, 4)]
    if design == "fresh":
        p += [ks_test(a.downstream_error[:, t], b.downstream_error[:, t]) for t in (0, 4)]
    assert_consistent(p, what=f"exact vs sample {case['mixing']} {design}")


def test_exact_equals_sample_with_a_given_ridge_downstream_design():
    Xd = np.random.default_rng(0).standard_normal((9, 4))
    rc = ct.RegressionChain(4, 20, design="fresh", mixing="fresh:0.2", downstream_ridge=0.3, downstream_design=Xd)
    a = rc.simulate(3, 2000, rng=1, method="exact")
    b = rc.simulate(3, 2000, rng=2, method="sample")
    assert_consistent([ks_test(a.downstream_error[:, t], b.downstream_error[:, t]) for t in (0, 3)], what="downstream design")


def test_exact_vs_independent_naive_chain():
    p = []
    for wf, mix, kw in (("replace", "replace", {}), ("accumulate", "accumulate", {}), ("fresh", "fresh:0.3", {"real": 0.3}),
                        ("augment", "augment:1", {"ratio": 1.0})):
        for design in ("fixed", "fresh"):
            a = ct.RegressionChain(3, 12, design=design, mixing=mix).simulate(3, 1500, rng=7)
            b = naive_chain(3, 12, 3, 600, rng=8, design=design, workflow=wf, **kw)
            p += [ks_test(a.error[:, t], b[:, t]) for t in (1, 3)]
    assert_consistent(p, what="exact vs naive")


def test_subsample_runs_and_lies_between_replace_and_accumulate():
    rc = ct.RegressionChain(5, 30, mixing=ct.Mixing.accumulate(subsample=True))
    run = rc.simulate(6, 1500, rng=3)
    assert run.method == "sample"
    rep = ct.RegressionChain(5, 30).simulate(6, 1500, rng=4).error[:, 6].mean()
    acc = ct.RegressionChain(5, 30, mixing="accumulate").simulate(6, 1500, rng=5).error[:, 6].mean()
    # subsampling T of the pooled rows: noisier than the full pool, far below replace
    assert acc < run.error[:, 6].mean() < rep
    with pytest.raises(ValueError, match="method"):
        rc.simulate(2, 10, rng=0, method="exact")


def test_contract():
    rc = ct.RegressionChain(3, 10, noise=0.5, design="fresh", mixing="replace")
    run = rc.simulate(4, 7, rng=0, return_weights=True)
    assert run.error.shape == (7, 5) and run.test_error.shape == (7, 5) and run.weights.shape == (7, 5, 3)
    assert run.downstream_error.shape == (7, 5)
    np.testing.assert_array_equal(run.error[:, 0], 0.0)
    np.testing.assert_array_equal(run.weights[:, 0], np.broadcast_to(rc.w_star, (7, 3)))
    np.testing.assert_allclose(run.test_error, 0.25 + run.error)
    e = run.weights - rc.w_star
    np.testing.assert_allclose(run.error, np.sum(e * e, axis=-1))
    again = rc.simulate(4, 7, rng=0)
    np.testing.assert_array_equal(again.error, run.error)
    assert not np.array_equal(rc.simulate(4, 7, rng=1).error, run.error)
    assert run.generations == 4 and run.replicates == 7
    assert ct.RegressionChain(3, 10).simulate(3, 2, rng=0).downstream_error is None
    assert ct.RegressionChain(3, 10).simulate(0, 2, rng=0).error.shape == (2, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rc.noise = 2.0


def test_more_than_one_block():
    from collapse_theory.chains.regression import BLOCK

    rc = ct.RegressionChain(3, 10, mixing="accumulate")
    run = rc.simulate(2, BLOCK + 3, rng=9)
    assert run.error.shape == (BLOCK + 3, 3)
    # the first block's stream does not depend on later blocks
    np.testing.assert_array_equal(run.error[:BLOCK], rc.simulate(2, BLOCK, rng=9).error)


def test_noise_free_ols_stays_at_the_truth():
    run = ct.RegressionChain(4, 10, noise=0.0).simulate(5, 3, rng=0)
    assert np.max(run.error) < 1e-20


def test_mixing_spec_strings_and_objects_agree():
    a = ct.RegressionChain(3, 10, mixing="fresh:0.2").simulate(3, 20, rng=0).error
    b = ct.RegressionChain(3, 10, mixing=ct.Mixing.fresh(0.2)).simulate(3, 20, rng=0).error
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "kwargs, exc, name",
    [
        ({"sample_size": 11}, ValueError, "sample_size"),
        ({"noise": -1.0}, ValueError, "noise"),
        ({"ridge": -0.5}, ValueError, "ridge"),
        ({"cov": np.diag([1.0] * 9 + [-1.0])}, ValueError, "cov"),
        ({"cov": np.zeros((10, 10))}, ValueError, "cov"),
        ({"design": "random"}, ValueError, "design"),
        ({"mixing": "mixture:0.5,0.5,0"}, ValueError, "mixing"),
        ({"mixing": 3}, TypeError, "mixing"),
        ({"w_star": np.zeros(3)}, ValueError, "w_star"),
        ({"contamination": (1.0, np.zeros(10))}, ValueError, "contamination"),
        ({"contamination": 0.1}, TypeError, "contamination"),
        ({"design_matrix": np.zeros((5, 10))}, ValueError, "design_matrix"),
        ({"design_matrix": np.zeros((100, 10))}, ValueError, "design_matrix"),
        ({"downstream_size": 50}, ValueError, "downstream_size"),
        ({"downstream_design": np.ones((20, 10))}, ValueError, "downstream_design"),
        ({"design": "fresh", "downstream_design": np.ones((20, 10))}, ValueError, "downstream_design"),
        ({"design": "fresh", "downstream_ridge": -1.0}, ValueError, "downstream_ridge"),
        ({"dim": 0}, ValueError, "dim"),
    ],
)
def test_bad_input(kwargs, exc, name):
    args = {"dim": 10, "sample_size": 100}
    args.update(kwargs)
    with pytest.raises(exc, match=name):
        ct.RegressionChain(args.pop("dim"), args.pop("sample_size"), **args)


def test_bad_simulate_input():
    rc = ct.RegressionChain(3, 10)
    with pytest.raises(ValueError, match="method"):
        rc.simulate(2, 2, rng=0, method="fast")
    with pytest.raises(ValueError, match="replicates"):
        rc.simulate(2, 0, rng=0)
    with pytest.raises(TypeError, match="generations"):
        rc.simulate(2.5, 2, rng=0)
    # ridge allows T <= d + 1 (and even T < d)
    run = ct.RegressionChain(10, 5, ridge=0.1).simulate(3, 4, rng=0)
    assert np.all(np.isfinite(run.error))


# ----------------------------------------------------------------------------- study, command line, sweep
def test_study_table_and_figure():
    st = ct.studies.regression_error(10, 100, 6, mixing="accumulate", replicates=1500, rng=0)
    tab = st.table()
    assert list(tab.columns[:6]) == ["quantity", "simulated", "ci_low", "ci_high", "theory", "p_value"]
    tested = tab["p_value"].notna()
    assert tested.sum() >= 6 and st.passed()
    assert float(st.curves["limit"]) == pytest.approx(ct.theory.regression.accumulate_limit(100, 10))
    assert st.figure().axes
    # a spec string and a Mixing give the same study; no closed form -> theory NaN beyond generation 1
    st2 = ct.studies.regression_error(5, 30, 4, mixing="accumulate-subsample", replicates=200, rng=0, checkpoints=[1, 4])
    t2 = st2.table().set_index("quantity")
    assert np.isfinite(t2.loc["E ||w - w*||^2, generation 1", "theory"])
    assert np.isnan(t2.loc["E ||w - w*||^2, generation 4", "theory"]) and st2.params["theory_note"]
    with pytest.raises(ValueError, match="mixing"):
        ct.studies.regression_error(mixing="mixture:0.5,0.5,0", replicates=10)


def test_study_detects_wrong_theory(monkeypatch):
    # the study's p-values have power: a theory off by T-d instead of T-d-1 at T = 20 (11%) fails
    from collapse_theory.theory import regression as th

    real = th.expected_error
    monkeypatch.setattr(th, "expected_error", lambda n, T, d, **kw: real(n, T, d, **kw) * (T - d - 1) / (T - d))
    st = ct.studies.regression_error(5, 20, 6, replicates=4000, rng=0)
    assert not st.passed()


def test_cli_regression(tmp_path, capsys):
    from collapse_theory.cli import main

    rc = main(["regression", "--mixing", "fresh:0.2", "--design", "fresh", "--replicates", "300", "--generations", "4",
               "--out", str(tmp_path)])
    assert rc == 0
    assert (tmp_path / "regression_error.csv").exists() and (tmp_path / "regression_error.png").exists()
    assert "consistent with theory" in capsys.readouterr().out
    # --out holds the first run's files now: --force (the one overwrite rule) lets bad input be reached
    assert main(["regression", "--mixing", "bogus", "--out", str(tmp_path), "--force"]) == 2
    assert main(["regression", "--T", "11", "--out", str(tmp_path), "--force"]) == 2
    assert "sample_size" in capsys.readouterr().err


def test_sweep_grid_of_regression(tmp_path):
    from collapse_theory import sweep

    toml = tmp_path / "regression.toml"
    toml.write_text('study = "regression_error"\nseed = 0\nreplicates = 100\n[fixed]\ndim = 3\nsample_size = 10\n'
                    'generations = 2\ngiven_design = true\nridge = 0.1\n[axes]\nmixing = ["augment:1", "fresh:0.5"]\n')
    g = sweep.load_grid(toml)
    ds = sweep.run(g, None, workers=1, show_progress=False)
    assert int(ds.attrs["failed_cells"]) == 0
    assert np.all(np.isfinite(ds.sel(quantity="E ||w - w*||^2, generation 2")["theory"].values))

    assert "regression_error" in sweep.available_studies()
    grid = {"study": "regression_error", "seed": 1, "replicates": 200,
            "fixed": {"dim": 4, "sample_size": 20, "generations": 3, "checkpoints": [3]},
            "axes": {"mixing": ["replace", "accumulate", "fresh:0.3"], "design": ["fixed", "fresh"]}}
    ds = sweep.run(grid, None, workers=1, show_progress=False)
    assert int(ds.attrs["failed_cells"]) == 0
    cell = ds.sel(mixing="accumulate", design="fixed", quantity="E ||w - w*||^2, generation 3")
    assert float(cell["theory"]) == pytest.approx(ct.theory.regression.expected_error(3, 20, 4, mixing="accumulate"))


def test_edge_settings_stay_finite():
    # ridge with fewer rows than features (fresh design: Wishart draws below full rank), all rows contaminated
    for kw in ({"ridge": 0.5, "design": "fresh"}, {"ridge": 0.5, "design": "fixed"}, {"contamination": (0.999, np.zeros(10))}):
        T = 6 if "ridge" in kw else 100
        for method in ("exact", "sample"):
            run = ct.RegressionChain(10, T, **kw).simulate(3, 50, rng=0, method=method)
            assert np.all(np.isfinite(run.error)) and np.all(run.error >= 0)
