"""Theory of the discrete chain: against brute-force exact references and against simulation.

Exact references (``tests/naive_discrete.py``) enumerate the full K-type count
chain at tiny M and K, so agreement there is to round-off. Statistical tests
compare simulation (the Numba chain) with theory at fixed seeds, two-sided,
at family-wise level LEVEL = 1e-3 with Bonferroni over the checks of a test.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from helpers import assert_consistent
from naive_discrete import (
    naive_absorption_moments,
    naive_binomial_matrix,
    naive_expectation,
    naive_expected_support,
)
from scipy import stats

import collapse_theory as ct
from collapse_theory._stats import z_test
from collapse_theory.theory import discrete as th

# ----------------------------------------------------------------------------- exact against brute force


@pytest.mark.parametrize("p0, M", [([0.5, 0.3, 0.2], 6), ([0.25] * 4, 5), ([0.7, 0.3], 9), ([0.1, 0.6, 0.3], 4)])
def test_absorption_time_matches_multitype_count_chain(p0, M):
    mean, var = naive_absorption_moments(p0, M)
    got = th.absorption_time(p0, M)
    assert got.method == "exact"
    np.testing.assert_allclose([got.mean, got.variance], [mean, var], rtol=1e-9)
    np.testing.assert_allclose(got.per_state_mean.sum(), got.mean, rtol=1e-12)


@pytest.mark.slow
def test_absorption_time_known_values_and_diffusion_error():
    # values from the fundamental matrix quoted in NOTES.md (independent computation)
    assert th.absorption_time([0.5, 0.5], 50).mean == pytest.approx(67.52, abs=0.005)
    assert th.absorption_time([0.5, 0.5], 100).mean == pytest.approx(136.60, abs=0.005)
    assert th.absorption_time([0.5, 0.5], 50, method="diffusion").mean == pytest.approx(100 * np.log(2))
    # K types: -2M sum (1 - p) ln(1 - p)
    p = np.array([0.5, 0.25, 0.25])
    assert th.absorption_time(p, 80, "diffusion").mean == pytest.approx(-160 * np.sum((1 - p) * np.log(1 - p)))
    # the diffusion is accurate to O(1/M) relatively, for the variance too
    for M in (200, 1000):
        ex, di = th.absorption_time(np.full(10, 0.1), M), th.absorption_time(np.full(10, 0.1), M, "diffusion")
        assert abs(di.mean / ex.mean - 1) < 2.0 / M
        assert abs(di.variance / ex.variance - 1) < 3.0 / M
    assert th.absorption_time([1.0, 0.0], 10).mean == 0.0


def test_absorption_time_cdf_matches_count_chain():
    p0, M = [0.5, 0.3, 0.2], 5
    for t in (0, 1, 2, 5, 12):
        exact = naive_expectation(p0, M, t, lambda p: float(np.max(p) == 1.0))
        assert th.absorption_time_cdf(p0, M, t) == pytest.approx(exact, abs=1e-12)
    # the mean is the sum of the survival function
    t = np.arange(0, 4000)
    assert np.sum(1 - th.absorption_time_cdf(p0, 30, t)) == pytest.approx(th.absorption_time(p0, 30).mean, rel=1e-9)


def test_eigenvalues_of_transition_matrix():
    for M in (3, 8, 15):
        ev = np.sort(np.linalg.eigvals(naive_binomial_matrix(M)).real)[::-1]
        np.testing.assert_allclose(th.eigenvalues(M), ev, atol=1e-10)
    np.testing.assert_allclose(th.transition_matrix(12), naive_binomial_matrix(12), atol=1e-14)
    np.testing.assert_allclose(th.transition_matrix(12, sparse_output=True).toarray(), naive_binomial_matrix(12), atol=1e-14)


@pytest.mark.parametrize("real", [0.0, 0.15])
def test_heterozygosity_matches_count_chain(real):
    p0, M = np.array([0.5, 0.3, 0.2]), 5
    mixing = ct.Mixing.fresh(real) if real else ct.Mixing.replace()
    t = np.arange(0, 7)
    exact = [naive_expectation(p0, M, s, lambda p: 1 - np.sum(p**2), real=real) for s in t]
    np.testing.assert_allclose(th.heterozygosity(p0, M, t, mixing=mixing), exact, rtol=1e-12)
    if not real:
        np.testing.assert_allclose(exact, (1 - np.sum(p0**2)) * (1 - 1 / M) ** t, rtol=1e-12)


def test_stationary_heterozygosity_is_the_fixed_point():
    p0, M = np.full(5, 0.2), 40
    for g in (0.05, 0.3, 1.0):
        mix = ct.Mixing.fresh(g)
        hstar = th.stationary_heterozygosity(p0, M, mixing=mix)
        closed = (1 - 1 / M) * (1 - (1 - g) ** 2) * 0.8 / (1 - (1 - 1 / M) * (1 - g) ** 2)
        assert hstar == pytest.approx(closed, rel=1e-12)
        assert th.heterozygosity(p0, M, 5000, mixing=mix) == pytest.approx(hstar, rel=1e-9)
    assert th.stationary_heterozygosity(p0, M, mixing=ct.Mixing.replace()) == 0.0
    with pytest.raises(ValueError, match="accumulation"):
        th.stationary_heterozygosity(p0, M, mixing=ct.Mixing.accumulate())


def test_expected_support_and_survival_match_dense_matrix_powers():
    p0, M = np.array([0.6, 0.25, 0.1, 0.05, 0.0]), 12
    t = np.array([0, 1, 2, 7, 20])
    np.testing.assert_allclose(th.expected_support(p0, M, t), [naive_expected_support(p0, M, s) for s in t], rtol=1e-10)
    assert th.expected_support(p0, M, 3) == pytest.approx(naive_expected_support(p0, M, 3), rel=1e-10)
    Pt = np.linalg.matrix_power(naive_binomial_matrix(M), 4)
    np.testing.assert_allclose(th.survival_probability(np.arange(M + 1), M, 4), 1 - Pt[:, 0], atol=1e-13)
    assert th.survival_probability(0, M, 0) == 0.0 and th.survival_probability(3, M, 0) == 1.0
    # support by brute force over the 3-type count chain
    q = np.array([0.5, 0.3, 0.2])
    assert th.expected_support(q, 5, 4) == pytest.approx(naive_expectation(q, 5, 4, lambda p: np.count_nonzero(p)), rel=1e-10)
    np.testing.assert_allclose(th.fixation_probability(q), q)
    np.testing.assert_allclose(th.loss_probability(q), 1 - q)


@pytest.mark.slow
def test_truncated_sparse_propagation_matches_dense_powers():
    # the sparse path keeps only the rows a rare state can reach; compare with dense powers
    M = 300
    w = np.arange(1, 51) ** -1.5
    p0 = w / w.sum()
    P = th.transition_matrix(M)  # dense, untruncated
    for t in (1, 3, 8):
        Pt = np.linalg.matrix_power(P, t - 1)
        b = stats.binom.pmf(np.arange(M + 1)[None, :], M, p0[:, None])
        np.testing.assert_allclose(th.extinction_probability(p0, M, t), b @ Pt[:, 0], atol=1e-12)
    Pt = np.linalg.matrix_power(P, 6)
    np.testing.assert_allclose(th.survival_probability([1, 4, 30], M, 6), 1 - Pt[[1, 4, 30], 0], atol=1e-12)
    cdf = sum(stats.binom.pmf(np.arange(M + 1), M, q) @ np.linalg.matrix_power(P, 4)[:, M] for q in p0)
    assert th.absorption_time_cdf(p0, M, 5) == pytest.approx(cdf, abs=1e-12)


@pytest.mark.slow
def test_derivations_agree_with_numeric_functions():
    d = th.derivations()
    M, H0, g, x, t = sp.symbols("M H_0 gamma x t", positive=True)
    sub = {sp.Symbol("M", positive=True): 20, sp.Symbol("H_0", positive=True): 0.8, sp.Symbol("t", integer=True, nonnegative=True): 7}
    p0 = np.full(5, 0.2)
    assert float(d["heterozygosity"].result.subs(sub)) == pytest.approx(th.heterozygosity(p0, 20, 7), rel=1e-12)
    fresh = d["fresh"].result
    sub[sp.Symbol("gamma", positive=True)] = 0.3
    assert float(fresh["solution"].subs(sub)) == pytest.approx(th.heterozygosity(p0, 20, 7, mixing=ct.Mixing.fresh(0.3)), rel=1e-10)
    assert float(fresh["stationary"].subs(sub)) == pytest.approx(th.stationary_heterozygosity(p0, 20, mixing=ct.Mixing.fresh(0.3)), rel=1e-10)
    ko = d["kimura_ohta"].result.subs({sp.Symbol("M", positive=True): 50, sp.Symbol("x", positive=True): sp.Rational(1, 2)})
    assert float(ko) == pytest.approx(th.absorption_time([0.5, 0.5], 50, "diffusion").mean, rel=1e-12)
    fw = d["fixation_weighted_time"].result.subs({sp.Symbol("M", positive=True): 50, sp.Symbol("x", positive=True): sp.Rational(1, 4)})
    assert float(fw) == pytest.approx(th.absorption_time([0.25, 0.75], 50, "diffusion").per_state_mean[0], rel=1e-12)
    lam = d["eigenvalues"].steps[1][1].subs(sp.Symbol("M", positive=True), 9)
    assert float(lam) == pytest.approx(th.eigenvalues(9)[2])
    assert "H_0" in str(d["heterozygosity"]) and d["kimura_ohta"].latex()


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: th.heterozygosity([0.5, 0.6], 10, 1), ValueError, "p0 must sum to 1"),
        (lambda: th.heterozygosity([0.5, 0.5], 0, 1), ValueError, "M must be >= 1"),
        (lambda: th.heterozygosity([0.5, 0.5], 10, 1.5), ValueError, "t must hold non-negative integers"),
        (lambda: th.heterozygosity([0.5, 0.5], 10, -1), ValueError, "t must be >= 0"),
        (lambda: th.expected_support([np.nan, 1.0], 10, 1), ValueError, "p0 must be finite"),
        (lambda: th.survival_probability(11, 10, 1), ValueError, "count must hold integers in 0..M"),
        (lambda: th.absorption_time([0.5, 0.5], 10, method="fast"), ValueError, "method must be one of"),
        (lambda: th.absorption_time([0.5, 0.5], th.EXACT_MAX_M + 1), ValueError, "EXACT_MAX_M"),
        (lambda: th.heterozygosity([0.5, 0.5], 10, 1, mixing=0.1), TypeError, "mixing must be"),
        (lambda: th.heterozygosity([0.5, 0.5], 10, 1, mixing="augment:2"), ValueError, "theory.discrete.heterozygosity cannot honour"),
        (lambda: th.stationary_heterozygosity([0.5, 0.5], 10, mixing="accumulate-subsample"), ValueError, "accepted workflows"),
    ],
)
def test_theory_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# ----------------------------------------------------------------------------- theory against simulation


def test_fixation_frequencies_and_mean_absorption_time_vs_simulation():
    # Power: R = 4000 absorptions. The chi-square over 4 states detects a shift
    # of 0.03 in one fixation probability with power > 0.9; the z-test on the
    # mean (sd/E T ~ 0.6, se ~ 1% of E T) detects a 4% error with power > 0.9.
    p0, M, R = np.array([0.4, 0.3, 0.2, 0.1]), 40, 4000
    ab = ct.DiscreteChain(p0, sample_size=M).absorb(R, rng=11)
    assert not ab.censored.any()
    counts = np.bincount(ab.state, minlength=4)
    p_fix = stats.chisquare(counts, R * th.fixation_probability(p0)).pvalue
    exact = th.absorption_time(p0, M)
    T = ab.time.astype(float)
    p_mean = z_test(T, exact.mean)
    p_var = z_test((T - exact.mean) ** 2, exact.variance)
    # loss: state i is lost iff it is not the one fixed
    lost = (ab.extinction >= 0).mean(axis=0)
    p_loss = [z_test((ab.extinction[:, i] >= 0).astype(float), th.loss_probability(p0)[i]) for i in range(4)]
    assert_consistent([p_fix, p_mean, p_var, *p_loss], what="fixation / absorption time")
    np.testing.assert_allclose(lost + counts / R, 1.0)


def test_absorption_time_distribution_vs_exact_cdf():
    # Chi-square of R = 3000 times over 10 bins of equal exact probability.
    # Power: a 10% scale error in T moves the outer bins' counts by ~25%, detected
    # with power > 0.9 at 1e-3.
    p0, M, R = np.array([0.5, 0.5]), 30, 3000
    T = ct.DiscreteChain(p0, sample_size=M).absorb(R, rng=5).time
    grid = np.arange(0, 2000)
    cdf = th.absorption_time_cdf(p0, M, grid)
    edges = [int(np.searchsorted(cdf, q)) for q in np.linspace(0.1, 0.9, 9)]
    bins = np.concatenate([[-1], edges, [grid[-1] + 10**6]])
    obs = np.histogram(T, bins=bins + 0.5)[0]
    probs = np.diff(np.concatenate([[0.0], cdf[edges], [1.0]]))
    assert_consistent([stats.chisquare(obs, R * probs).pvalue], what="absorption time distribution")


@pytest.mark.parametrize("real", [0.0, 0.2])
def test_heterozygosity_decay_vs_simulation(real):
    # Power: R = 3000 replicates, sd(H_t) ~ 0.05-0.15, so se ~ 0.002; a decay
    # rate off by 1/M (e.g. (1 - 2/M)^t instead of (1 - 1/M)^t) moves E H_10 by
    # 0.08 and is detected with power ~1.
    p0, M, R, G = np.array([0.4, 0.3, 0.2, 0.1]), 25, 3000, 30
    mix = ct.Mixing.fresh(real) if real else ct.Mixing.replace()
    run = ct.DiscreteChain(p0, sample_size=M, mixing=mix).simulate(G, R, rng=3, record=("heterozygosity",))
    t = np.array([1, 2, 5, 10, 30])
    theory = th.heterozygosity(p0, M, t, mixing=mix)
    assert_consistent(z_test(run.heterozygosity[:, t], theory), what=f"heterozygosity real={real}")


def test_fresh_data_stationary_heterozygosity_vs_simulation():
    # Power: per-replicate averages over generations 100..200, R = 1000, se ~ 0.001;
    # the stationary value moves by ~0.02 if gamma's cross term were dropped (power ~1).
    p0, M, R, G, g = np.full(6, 1 / 6), 30, 1000, 200, 0.1
    mix = ct.Mixing.fresh(g)
    run = ct.DiscreteChain(p0, sample_size=M, mixing=mix).simulate(G, R, rng=8, record=("heterozygosity",))
    avg = run.heterozygosity[:, 100:].mean(axis=1)
    hstar = th.stationary_heterozygosity(p0, M, mixing=mix)
    # by generation 100 the recursion is within 1e-6 of its limit
    assert abs(th.heterozygosity(p0, M, 100, mixing=mix) - hstar) < 1e-6
    assert_consistent([z_test(avg, hstar)], what="fresh stationary heterozygosity")


def test_accumulate_and_mixture_heterozygosity_vs_simulation():
    # Power: R = 2000, se ~ 0.002 at each checkpoint; the pooled recursion and
    # the replace decay differ by > 0.05 by generation 20 (power ~1).
    p0, M, R, G = np.array([0.5, 0.3, 0.2]), 20, 2000, 20
    pvals = []
    for mix in (ct.Mixing.accumulate(), ct.Mixing.accumulate(real=0.3), ct.Mixing(0.6, 0.3, 0.1)):
        run = ct.DiscreteChain(p0, sample_size=M, mixing=mix).simulate(G, R, rng=4, record=("heterozygosity",))
        t = np.array([1, 3, 10, 20])
        pvals += list(z_test(run.heterozygosity[:, t], th.heterozygosity(p0, M, t, mixing=mix)))
    assert_consistent(pvals, what="accumulate / mixture heterozygosity")


def test_expected_support_and_alive_mass_vs_simulation():
    # Power: Zipf(1.1) over 300 states, M = 150, R = 600: se of the support
    # ~ 0.3 states at t = 1 (E ~ 90); an error of one state is detected with power > 0.9.
    K, M, R, G = 300, 150, 600, 60
    w = np.arange(1, K + 1) ** -1.1
    p0 = w / w.sum()
    run = ct.DiscreteChain(p0, sample_size=M).simulate(G, R, rng=21, record=("support", "alive_mass"))
    t = np.array([1, 5, 20, 60])
    p1 = z_test(run.support[:, t].astype(float), th.expected_support(p0, M, t))
    p2 = z_test(run.alive_mass[:, t], th.expected_alive_mass(p0, M, t))
    assert_consistent([*p1, *p2], what="expected support / alive mass")


def test_survival_probability_vs_simulation():
    # survival_probability(c, M, t) is conditional on the current count c: given the
    # generation-1 count, 1{alive at 1 + t} - s(c, t) has mean 0. Power: R = 4000 binary outcomes,
    # se ~ 0.008; an error of 0.03 in the survival probability is detected (power > 0.9).
    M, R = 50, 4000
    p0 = np.array([2 / M, 1 - 2 / M])
    run = ct.DiscreteChain(p0, sample_size=M).simulate(12, R, rng=9, record=("probs",))
    count1 = np.rint(run.probs[:, 1, 0] * M).astype(int)
    pv = []
    for t in (1, 4, 11):
        alive = (run.probs[:, 1 + t, 0] > 0).astype(float)
        expect = th.survival_probability(count1, M, t)  # conditional on the generation-1 count
        pv.append(z_test(alive - expect, 0.0))
    # unconditionally: survival to generation 12 from p0 (binomial first step)
    pv.append(z_test((run.probs[:, 12, 0] > 0).astype(float), 1 - th.extinction_probability(p0, M, 12)[0]))
    assert_consistent(pv, what="survival probability")


def test_eigenvalues_at_most_one_for_large_M():
    """lambda_j = prod_{i<j} (1 - i/M) <= 1 (a fuzz run found 1 + 2e-9 at M = 2724379 from log-Gamma differences)."""
    import mpmath

    from collapse_theory.theory import discrete as td

    M = 2724379
    lam = td.eigenvalues(M)
    assert lam.max() <= 1.0 and lam[0] == lam[1] == 1.0
    for j in (2, 10, 1000):
        want = mpmath.fprod(1 - mpmath.mpf(i) / M for i in range(j))
        assert lam[j] == pytest.approx(float(want), rel=1e-12)
