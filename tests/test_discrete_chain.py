"""The discrete chain simulator: reference agreement, properties, errors, studies, CLI.

Statistical comparisons with the naive NumPy reference (tests/naive_discrete.py)
are two-sample tests at family-wise level LEVEL = 1e-3 (Bonferroni).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import assert_consistent
from hypothesis import given
from hypothesis import strategies as st
from naive_discrete import naive_absorb, naive_absorption_moments, naive_simulate
from scipy import stats

import collapse_theory as ct
from collapse_theory import testing
from collapse_theory.studies.discrete import MIXING_WORKFLOWS
from collapse_theory.chains.discrete import PROBS_LIMIT_BYTES

# ----------------------------------------------------------------------------- against the naive reference


def _chi2_two_sample(a, b, max_bins=12):
    """Two-sample chi-square on integer-valued samples, bins of the pooled quantiles."""
    pooled = np.concatenate([a, b])
    if np.unique(pooled).size == 1:  # both samples constant and equal
        return 1.0
    edges = np.unique(np.quantile(pooled, np.linspace(0, 1, max_bins + 1)))
    edges[-1] += 1
    ca = np.histogram(a, bins=edges)[0]
    cb = np.histogram(b, bins=edges)[0]
    keep = (ca + cb) > 0
    return stats.chi2_contingency(np.vstack([ca[keep], cb[keep]]))[1]


@pytest.mark.parametrize("n, p", [(7, 0.3), (50, 0.2), (1000, 0.02), (200, 0.45), (1000, 0.8), (10_000, 0.3), (3, 0.999)])
def test_binomial_sampler_matches_pmf(n, p):
    # Chi-square of 40,000 draws against the exact pmf over bins of >= 1% mass;
    # covers inversion (n p <= 30), BTPE's four regions and its Stirling squeeze
    # (n p q = 2100), and the p > 1/2 reflection. Power: a 2% error in the
    # variance moves the outer bins by > 5 standard errors.
    from collapse_theory.chains._kernels_discrete import binomial_sample

    x = binomial_sample(12345, n, p, 40_000)
    assert x.min() >= 0 and x.max() <= n
    pmf = stats.binom.pmf(np.arange(n + 1), n, p) * x.size
    obs = np.bincount(x, minlength=n + 1).astype(float)
    # bins: values with expected count >= 5 alone, the rest pooled (into the smallest bin if still < 5)
    big = pmf >= 5
    o, e = list(obs[big]), list(pmf[big])
    rest_o, rest_e = obs[~big].sum(), pmf[~big].sum()
    if rest_e >= 5:
        o.append(rest_o)
        e.append(rest_e)
    else:
        i = int(np.argmin(e))
        o[i] += rest_o
        e[i] += rest_e
    o, e = np.array(o), np.array(e)
    if len(o) > 200:  # merge neighbours for large n
        cuts = np.linspace(0, len(o), 61).astype(int)
        o = np.add.reduceat(o, cuts[:-1])
        e = np.add.reduceat(e, cuts[:-1])
    assert_consistent([stats.chisquare(o, e * o.sum() / e.sum()).pvalue], what=f"binomial({n}, {p})")


@pytest.mark.parametrize("p0, M, R", [([0.5, 0.3, 0.2], 20, 1500), ([0.7, 0.25, 0.05], 120, 500)])
def test_absorb_matches_naive_in_distribution(p0, M, R):
    # Power: 1500 (500) replicates each; a 5% (10%) shift in the absorption-time
    # distribution or 0.05 in a fixation probability is detected with power > 0.8
    # at 1e-3. M = 20 draws every count by resampling copies; M = 120 mixes
    # binomials (counts > 32) with resampling.
    p0 = np.asarray(p0)
    ab = ct.DiscreteChain(p0, sample_size=M).absorb(R, rng=1)
    tn, sn = naive_absorb(p0, M, R, rng=2)
    p_time = _chi2_two_sample(ab.time, tn)
    p_state = stats.chi2_contingency(np.vstack([np.bincount(ab.state, minlength=3), np.bincount(sn, minlength=3)]))[1]
    assert_consistent([p_time, p_state], what="absorb vs naive")


ZIPF400 = np.arange(1, 401) ** -1.1 / np.sum(np.arange(1, 401) ** -1.1)


@pytest.mark.parametrize(
    "p0, M, real, pooled",
    [
        ([0.4, 0.3, 0.2, 0.1], 15, 0.0, False),
        ([0.4, 0.3, 0.2, 0.1], 15, 0.25, False),
        ([0.4, 0.3, 0.2, 0.1], 15, 0.0, True),
        ([0.4, 0.3, 0.2, 0.1], 15, 0.2, True),
        ([0.4, 0.3, 0.2, 0.1], 150, 0.1, False),
        (ZIPF400, 30, 0.0, False),
        (ZIPF400, 30, 0.3, False),
    ],
)
def test_simulate_matches_naive_in_distribution(p0, M, real, pooled):
    # Power: 1000 replicates each, chi-square of the first state's probability at
    # generations 1, 3 and 8 and of the support at 8; a 10% error in the
    # variance of the drift is detected with power > 0.8. M = 150 exercises the
    # binomials, Zipf over 400 states with M = 30 the alias draws from p0.
    p0, R, G = np.asarray(p0), 1000, 8
    mix = ct.Mixing.accumulate(real) if pooled else (ct.Mixing.fresh(real) if real else ct.Mixing.replace())
    run = ct.DiscreteChain(p0, sample_size=M, mixing=mix).simulate(G, R, rng=7, record=("probs", "support"))
    ref = naive_simulate(p0, M, G, R, rng=8, real=real, pooled=pooled)
    # compare integer counts: x * (1/n) and x / n may differ in the last bit
    size = (lambda t: t * M) if pooled else (lambda t: M)
    pv = [_chi2_two_sample(np.rint(run.probs[:, t, 0] * size(t)), np.rint(ref[:, t, 0] * size(t))) for t in (1, 3, 8)]
    pv.append(_chi2_two_sample(run.support[:, G], np.count_nonzero(ref[:, G], axis=1)))
    assert_consistent(pv, what=f"simulate vs naive (real={real}, pooled={pooled})")


def test_recorded_statistics_agree_with_probs():
    mix = ct.Mixing.fresh(0.3)
    run = ct.DiscreteChain([0.5, 0.25, 0.125, 0.125], sample_size=9, mixing=mix).simulate(
        6, 50, rng=3, record=("probs", "support", "entropy", "heterozygosity", "alive_mass")
    )
    P = run.probs
    np.testing.assert_array_equal(run.support, np.count_nonzero(P, axis=2))
    np.testing.assert_allclose(run.heterozygosity, 1 - np.sum(P**2, axis=2), atol=1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.sum(np.where(P > 0, P * np.log(P), 0.0), axis=2)
    np.testing.assert_allclose(run.entropy, ent, atol=1e-12)
    np.testing.assert_allclose(run.alive_mass, (P > 0) @ np.array([0.5, 0.25, 0.125, 0.125]), atol=1e-12)
    np.testing.assert_array_equal(run.generation, np.arange(7))
    assert run.replicates == 50


# ----------------------------------------------------------------------------- properties

# the public testing kit's strategies: every valid p0 (zeros included) and every
# workflow the discrete chain honours
p0_strategy = testing.p0_vectors(1, 8)
mixing_strategy = testing.mixings(MIXING_WORKFLOWS)


@given(p0=p0_strategy, M=st.integers(1, 30), mixing=mixing_strategy, seed=st.integers(0, 2**32 - 1))
def test_counts_sum_to_sample_size(p0, M, mixing, seed):
    G = 5
    run = ct.DiscreteChain(p0, sample_size=M, mixing=mixing).simulate(G, 3, rng=seed, record=("probs",))
    pool = np.arange(1, G + 1) * M if mixing.pooled else np.full(G, M)
    counts = run.probs[:, 1:, :] * pool[None, :, None]
    np.testing.assert_allclose(counts, np.rint(counts), atol=1e-9)
    np.testing.assert_array_equal(np.rint(counts).sum(axis=2), np.broadcast_to(pool, (3, G)))
    assert np.all(counts >= 0)
    if mixing.real == 0 and mixing.previous == 0:  # no state appears that p0 lacks or the pool lost
        assert np.all(run.probs[:, :, p0 == 0] == 0)


def test_schedule_sample_sizes():
    sched = ct.schedules.linear(5, 3)
    run = ct.DiscreteChain([0.5, 0.5], sample_size=sched).simulate(4, 2, rng=0, record=("probs",))
    counts = run.probs[:, 1:, :] * sched.sizes(4)[None, :, None]
    np.testing.assert_allclose(counts.sum(axis=2), np.broadcast_to(sched.sizes(4), (2, 4)))
    np.testing.assert_array_equal(run.sample_sizes, [5, 8, 11, 14])


@given(p0=p0_strategy, M=st.integers(1, 12), seed=st.integers(0, 2**32 - 1))
def test_absorbed_stays_absorbed(p0, M, seed):
    run = ct.DiscreteChain(p0, sample_size=M).simulate(25, 4, rng=seed, record=("probs", "support"))
    for r in range(4):
        fixed = np.flatnonzero(run.support[r] == 1)
        if fixed.size:
            t = fixed[0]
            assert np.all(run.support[r, t:] == 1)
            assert np.all(run.probs[r, t:] == run.probs[r, t])
        # under replacement the support never grows
        assert np.all(np.diff(run.support[r]) <= 0)


@given(p0=p0_strategy, M=st.integers(1, 25), seed=st.integers(0, 2**32 - 1))
def test_absorb_result_is_consistent(p0, M, seed):
    ab = ct.DiscreteChain(p0, sample_size=M).absorb(5, rng=seed)
    assert not ab.censored.any()
    for r in range(5):
        s = ab.state[r]
        assert p0[s] > 0 and ab.extinction[r, s] == -1
        others = np.delete(ab.extinction[r], s)
        assert np.all(others >= 0) and np.all(others <= ab.time[r])
        if ab.time[r] > 0:
            assert others.max() == ab.time[r]
        np.testing.assert_array_equal(ab.extinction[r, p0 == 0], 0)


@given(seed=st.integers(0, 2**32 - 1), mixing=mixing_strategy)
def test_same_rng_same_result(seed, mixing):
    chain = ct.DiscreteChain([0.3, 0.3, 0.2, 0.2], sample_size=10, mixing=mixing)
    a = chain.simulate(6, 5, rng=seed, record=("probs",))
    b = chain.simulate(6, 5, rng=seed, record=("probs",))
    np.testing.assert_array_equal(a.probs, b.probs)
    # progress chunks do not change the streams
    c = chain.simulate(6, 5, rng=np.random.SeedSequence(seed), record=("probs",), show_progress=True)
    np.testing.assert_array_equal(a.probs, c.probs)


# thread-count invariance: tests/test_thread_invariance.py (one process per thread count)


def test_edge_cases():
    ab = ct.DiscreteChain([0.0, 1.0, 0.0], sample_size=5).absorb(3, rng=0)
    np.testing.assert_array_equal(ab.time, 0)
    np.testing.assert_array_equal(ab.state, 1)
    np.testing.assert_array_equal(ab.extinction, [[0, -1, 0]] * 3)
    ab = ct.DiscreteChain([0.5, 0.5], sample_size=1).absorb(3, rng=0)
    np.testing.assert_array_equal(ab.time, 1)
    cens = ct.DiscreteChain(np.full(5, 0.2), sample_size=1000).absorb(4, max_generations=3, rng=0)
    assert cens.censored.all() and np.all(cens.state == -1) and np.all(cens.time == 3)
    run = ct.DiscreteChain([0.5, 0.5], sample_size=4).simulate(0, 2, rng=0)
    assert run.support.shape == (2, 1) and run.heterozygosity[0, 0] == 0.5


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "make, exc, match",
    [
        (lambda: ct.DiscreteChain([-0.1, 1.1], sample_size=5), ValueError, "p0 must be non-negative"),
        (lambda: ct.DiscreteChain([np.nan, 1.0], sample_size=5), ValueError, "p0 must be finite"),
        (lambda: ct.DiscreteChain([0.5, 0.4], sample_size=5), ValueError, "p0 must sum to 1"),
        (lambda: ct.DiscreteChain([0.5, 0.5], sample_size=0), ValueError, "sample_size must be >= 1"),
        (lambda: ct.DiscreteChain([0.5, 0.5], sample_size=2.5), TypeError, "sample_size"),
        (lambda: ct.DiscreteChain([0.5, 0.5], sample_size=5).simulate(2.0, 3), TypeError, "generations must be an integer"),
        (lambda: ct.DiscreteChain([0.5, 0.5], sample_size=5).simulate(-1, 3), ValueError, "generations must be >= 0"),
        (lambda: ct.DiscreteChain([0.5, 0.5], sample_size=5).simulate(2, 0), ValueError, "replicates must be >= 1"),
        (lambda: ct.DiscreteChain([0.5, 0.5], sample_size=5).simulate(2, 3, record=("suport",)), ValueError, "record: unknown name 'suport'"),
        (lambda: ct.DiscreteChain([0.5, 0.5], sample_size=5).simulate(2, 3, rng=-1), ValueError, "rng"),
        (lambda: ct.DiscreteChain([0.5, 0.5], sample_size=5, mixing="fresh"), TypeError, "mixing must be"),
        (lambda: ct.DiscreteChain([0.5, 0.5], sample_size=5).absorb(3, max_generations=1.5), TypeError, "max_generations"),
    ],
)
def test_bad_input(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_probs_memory_limit_is_named():
    chain = ct.DiscreteChain(np.full(10_000, 1e-4), sample_size=10)
    R = PROBS_LIMIT_BYTES // (10_000 * 8 * 101) + 1
    with pytest.raises(ValueError, match="PROBS_LIMIT_BYTES"):
        chain.simulate(100, R, record=("support", "probs"))


@pytest.mark.parametrize("mixing, word", [(ct.Mixing.fresh(0.1), "fresh"), (ct.Mixing.accumulate(), "accumulate"), (ct.Mixing(0.8, 0.2, 0.0), "mixture")])
def test_absorb_refuses_when_there_is_no_absorption(mixing, word):
    with pytest.raises(ValueError, match=f"never absorbed under the '{word}' workflow"):
        ct.DiscreteChain([0.5, 0.5], sample_size=5, mixing=mixing).absorb(3)


# ----------------------------------------------------------------------------- studies, CLI, report


def test_studies_return_tables_figures_and_curves(tmp_path):
    ab = ct.studies.absorption(K=3, M=20, replicates=400, rng=0)
    df = ab.table()
    assert {"quantity", "simulated", "ci_low", "ci_high", "theory", "p_value", "p_adjusted"} <= set(df.columns)
    # the study's theory column is the exact mean, from the brute-force multitype chain of naive_discrete.py
    assert df.loc[0, "theory"] == pytest.approx(naive_absorption_moments(np.full(3, 1 / 3), 20)[0], rel=1e-9)
    assert ab.passed()
    tl = ct.studies.tail_loss(K=200, M=100, generations=30, replicates=100, rng=1)
    assert tl.curves["generation"].shape == (31,) and tl.passed()
    np.testing.assert_allclose(tl.curves["support_theory"][1], ct.theory.discrete.expected_support(
        ct.studies.discrete.resolve_p0("zipf", 200), 100, 1))
    he = ct.studies.heterozygosity(K=5, M=30, generations=60, replicates=200, rng=2, mixing="fresh:0.2")
    assert any("stationary" in q for q in he.table()["quantity"]) and he.passed()
    he2 = ct.studies.heterozygosity(p0="zipf", K=5, M=30, generations=10, replicates=50, rng=2, mixing="accumulate")
    assert he2.params["mixing"]["workflow"] == "accumulate"
    paths = tl.save(tmp_path)
    data = json.loads(paths["data"].read_text())
    assert data["params"]["M"] == 100 and "versions" in data["provenance"]
    for res in (ab, tl, he):
        res.figure()
    with pytest.raises(ValueError, match="needs K"):
        ct.studies.absorption(p0="zipf", M=10, replicates=5)
    with pytest.raises(ValueError, match="mixing: unknown workflow 'pooled'"):
        ct.studies.heterozygosity(K=3, M=5, generations=2, replicates=5, mixing="pooled")
    with pytest.raises(ValueError, match="mixing: studies.heterozygosity cannot honour the 'augment' workflow"):
        ct.studies.heterozygosity(K=3, M=5, generations=2, replicates=5, mixing="augment:2")
    # the share is part of the Mixing spec; the old real= argument is gone
    res = ct.studies.heterozygosity(K=3, M=5, generations=2, replicates=5, rng=0, mixing="accumulate:0.2")
    assert res.params["mixing"] == ct.Mixing.accumulate(0.2).to_dict()
    for study in (ct.studies.heterozygosity, ct.studies.tail_loss):
        with pytest.raises(TypeError, match="real"):
            study(K=3, M=5, generations=2, replicates=5, mixing="fresh", real=0.2)


def test_cli_absorb_and_tails(tmp_path, capsys):
    from collapse_theory.cli import main

    assert main(["absorb", "--M", "15", "--K", "3", "--replicates", "200", "--seed", "1", "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "mean absorption time" in out
    assert {p.name for p in (tmp_path / "a").iterdir()} >= {"absorption.csv", "absorption.json", "absorption.png"}
    assert main(["tails", "--M", "50", "--K", "100", "--generations", "10", "--replicates", "50", "--out", str(tmp_path / "t")]) == 0
    assert "expected support" in capsys.readouterr().out
    rec = json.loads((tmp_path / "t" / "tail_loss.json").read_text())
    assert rec["provenance"]["seed"] == 0
    assert main(["absorb", "--M", "0", "--out", str(tmp_path / "x")]) == 2


@pytest.mark.slow  # end to end: the report section
def test_report_section_quick():
    from collapse_theory.report.sections.discrete import build

    sec = build(quick=True, seed=0)
    assert sec.skipped is None and sec.figures and sec.tables
    assert "collapse-theory" in sec.command
    json.dumps(sec.data)
