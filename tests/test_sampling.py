"""Samplers and curation on the discrete chain: definitions, kernels, exact theory, bad input.

Statistical tests: fixed seeds, Bonferroni over the checks of a test at
LEVEL = 1e-3. Exact comparisons are against the naive references in
``naive_sampling.py`` (written from the definitions) or against theory.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
from helpers import assert_consistent
from hypothesis import given
from hypothesis import strategies as st
from naive_discrete import naive_expectation
from naive_sampling import naive_best_of_k_law, naive_chain, naive_sampler_map
from scipy import stats

import collapse_theory as ct
from collapse_theory._stats import z_test
from collapse_theory.chains import _kernels_sampling as ks
from collapse_theory.sampling import BestOfK, Sampler, Verifier
from collapse_theory.theory import sampling as ths


@pytest.fixture(scope="module", autouse=True)
def _warm():
    ks.warm()


def zipf(K, s=1.1):
    w = np.arange(1, K + 1, dtype=float) ** -s
    return w / w.sum()


P0 = np.array([0.4, 0.25, 0.15, 0.1, 0.06, 0.04])

# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": -1.0}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"top_k": 0}, "top_k"),
        ({"min_p": 0.0}, "min_p"),
        ({"min_p": 2.0}, "min_p"),
    ],
)
def test_sampler_bad_input(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Sampler(**kwargs)


def test_curation_bad_input():
    with pytest.raises(ValueError, match="curation.k"):
        BestOfK([0.0, 1.0], k=0)
    with pytest.raises(ValueError, match="curation.reward"):
        BestOfK([0.0, np.inf], k=2)
    with pytest.raises(ValueError, match="curation.reward"):
        BestOfK([0.0, np.nan], k=2)
    with pytest.raises(ValueError, match="curation.choice"):
        BestOfK([0.0, 1.0], choice="softmax")
    with pytest.raises(ValueError, match="curation.accept"):
        Verifier([0.5, 1.2])
    with pytest.raises(ValueError, match="curation.accept"):
        Verifier([-0.1, 1.0])
    with pytest.raises(ValueError, match="curation.reward"):
        ct.DiscreteChain(P0, 10, sampler=Sampler(curation=BestOfK([0.0, 1.0])))
    with pytest.raises(ValueError, match="curation.accept"):
        ct.DiscreteChain(P0, 10, sampler=Sampler(curation=Verifier([1.0, 1.0])))
    with pytest.raises(TypeError, match="curation"):
        Sampler(curation="best")
    with pytest.raises(TypeError, match="sampler"):
        ct.DiscreteChain(P0, 10, sampler={"top_k": 2})


def test_mixture_with_sampler_and_absorb_refused():
    with pytest.raises(ValueError, match="mixing"):
        ct.DiscreteChain(P0, 10, mixing=ct.Mixing(0.5, 0.5, 0.0), sampler=Sampler(top_k=2))
    for mix, word in ((ct.Mixing.accumulate(subsample=True), "accumulate-subsample"), (ct.Mixing.augment(2.0), "augment")):
        with pytest.raises(ValueError, match=word):
            ct.DiscreteChain(P0, 10, mixing=mix).absorb(3, rng=0)
    with pytest.raises(ValueError, match="sampler"):
        ct.DiscreteChain(P0, 10, sampler=Sampler(top_k=2)).absorb(3, rng=0)
    with pytest.raises(ValueError, match="reward"):
        ct.DiscreteChain(P0, 10).simulate(2, 2, rng=0, record=("reward",))


def test_verifier_that_rejects_the_model_raises():
    accept = np.zeros(P0.size)
    accept[-1] = 1.0  # only the rarest state; top-k 2 never keeps it
    chain = ct.DiscreteChain(P0, 10, sampler=Sampler(top_k=2, curation=Verifier(accept)))
    with pytest.raises(ValueError, match="curation.accept"):
        chain.simulate(3, 4, rng=0)


def test_theory_bad_input():
    with pytest.raises(ValueError, match="temperature"):
        ths.temperature_map(P0, 0.0, 1)
    with pytest.raises(ValueError, match="top_p"):
        ths.top_p_max_support(0.0)
    with pytest.raises(ValueError, match="curation.reward"):
        ths.best_of_k_law(P0, [0.0, 1.0], 2)
    with pytest.raises(ValueError, match="sampler"):
        ths.fixed_truncation(P0, 10, 3, Sampler(top_p=0.9))
    with pytest.raises(ValueError, match="mixing"):
        ths.count_chain(P0[:3] / P0[:3].sum(), 4, 2, mixing=ct.Mixing.accumulate())
    with pytest.raises(ValueError, match="COUNT_CHAIN_MAX_STATES"):
        ths.count_chain_states(20, 50)


# ----------------------------------------------------------------------------- the map


probs = st.lists(st.integers(0, 20), min_size=1, max_size=12).filter(lambda x: sum(x) > 0).map(
    lambda x: np.asarray(x, dtype=float) / sum(x)
)
samplers = st.builds(
    dict,
    temperature=st.one_of(st.none(), st.floats(0.2, 3.0)),
    top_k=st.one_of(st.none(), st.integers(1, 6)),
    top_p=st.one_of(st.none(), st.floats(0.05, 1.0)),
    min_p=st.one_of(st.none(), st.floats(0.01, 1.0)),
)


@given(probs, samplers)
def test_apply_matches_naive_and_kernel(p, kw):
    s = Sampler(**kw)
    q = s.apply(p)
    # integer-count laws create exact ties and exact threshold hits: the three agree on the kept set
    np.testing.assert_allclose(q, naive_sampler_map(p, **kw), rtol=1e-12, atol=1e-15)
    qk = ks.sampler_map_kernel(p, s.tau, s.top_k or 0, s.top_p if s.top_p is not None else 1.0, s.min_p or 0.0)
    np.testing.assert_allclose(qk, q, rtol=1e-9, atol=1e-15)
    assert abs(q.sum() - 1) < 1e-12
    assert np.all(q[p == 0] == 0)


@given(probs, samplers)
def test_top_p_never_removes_the_most_probable_state(p, kw):
    q = Sampler(**kw).apply(p)
    top = int(np.lexsort((np.arange(p.size), -p))[0])  # most probable, lowest index among ties
    assert q[top] > 0
    assert q[top] == q.max()


def test_ties_go_to_the_lower_index():
    p = np.array([0.2, 0.3, 0.2, 0.3])
    assert np.flatnonzero(Sampler(top_k=1).apply(p)).tolist() == [1]
    assert np.flatnonzero(Sampler(top_k=3).apply(p)).tolist() == [0, 1, 3]
    # top-p 0.7: 0.3 + 0.3 = 0.6 < 0.7, so one of the 0.2 states: the lower index
    assert np.flatnonzero(Sampler(top_p=0.7).apply(p)).tolist() == [0, 1, 3]


def test_hf_order_temperature_before_top_p():
    p = np.array([0.5, 0.3, 0.2])
    # temperature 0.5 first: (25, 9, 4)/38, so 0.658 + 0.237 = 0.895 < 0.9 keeps all three
    assert np.count_nonzero(Sampler(temperature=0.5, top_p=0.9).apply(p)) == 3
    # top-k before top-p: top-p sees the renormalised top-2 law (0.625, 0.375)
    assert np.count_nonzero(Sampler(top_k=2, top_p=0.6).apply(p)) == 1


# ----------------------------------------------------------------------------- chain = plain chain


@pytest.mark.parametrize("mixing", [ct.Mixing.replace(), ct.Mixing.fresh(0.2), ct.Mixing.accumulate()])
def test_identity_sampler_is_the_plain_chain_draw_for_draw(mixing):
    p0 = zipf(40)
    rec = ("support", "entropy", "heterozygosity", "alive_mass")
    plain = ct.DiscreteChain(p0, 30, mixing=mixing).simulate(15, 20, rng=7, record=rec)
    for s in (Sampler(), Sampler(temperature=1.0), Sampler(top_p=1.0)):
        run = ct.DiscreteChain(p0, 30, mixing=mixing, sampler=s).simulate(15, 20, rng=7, record=rec)
        for name in rec:
            np.testing.assert_array_equal(getattr(run, name), getattr(plain, name))


def test_same_seed_same_result_whatever_the_thread_count():
    p0 = zipf(200)
    chains = [
        ct.DiscreteChain(p0, 100, sampler=Sampler(temperature=0.8, top_p=0.9)),
        ct.DiscreteChain(p0, 100, sampler=Sampler(curation=BestOfK(np.linspace(0, 1, 200), k=3))),
        ct.DiscreteChain(p0, 100, mixing=ct.Mixing.accumulate(subsample=True)),
        ct.DiscreteChain(p0, 100, mixing=ct.Mixing.augment(1.5), sampler=Sampler(min_p=0.05)),
    ]
    before = numba.get_num_threads()
    try:
        for chain in chains:
            a = chain.simulate(20, 16, rng=3, record=("support", "probs"))
            numba.set_num_threads(1)
            b = chain.simulate(20, 16, rng=3, record=("support", "probs"))
            numba.set_num_threads(before)
            np.testing.assert_array_equal(a.probs, b.probs)
    finally:
        numba.set_num_threads(before)


def test_top_k_never_exceeds_k_and_probs_are_counts():
    run = ct.DiscreteChain(zipf(100), 50, sampler=Sampler(top_k=7)).simulate(10, 30, rng=1, record=("support", "probs"))
    assert run.support[:, 1:].max() <= 7
    np.testing.assert_allclose(run.probs.sum(axis=2), 1.0)
    np.testing.assert_allclose(np.round(run.probs[:, 1:] * 50), run.probs[:, 1:] * 50, atol=1e-9)


# ----------------------------------------------------------------------------- exact small-M theory vs kernel

SMALL = np.array([0.5, 0.3, 0.2])
REWARD = np.array([0.0, 1.0, 2.0])
SMALL_SAMPLERS = {
    "temperature 0.6": Sampler(temperature=0.6),
    "temperature 1.5": Sampler(temperature=1.5),
    "top-p 0.7": Sampler(top_p=0.7),
    "min-p 0.5": Sampler(min_p=0.5),
    "temp 1.3 + top-k 2 + top-p 0.9": Sampler(temperature=1.3, top_k=2, top_p=0.9),
    "best-of-3 BT": Sampler(curation=BestOfK(REWARD, k=3)),
    "best-of-2 argmax": Sampler(curation=BestOfK(REWARD, k=2, choice="argmax")),
    "verifier": Sampler(curation=Verifier([0.3, 1.0, 0.6])),
}


@pytest.mark.parametrize("name", list(SMALL_SAMPLERS))
def test_kernel_matches_the_exact_count_chain(name):
    # R = 4000: E support and E H to ~1% s.e.; a wrong tie rule or a cut off by one state moves them 5-30%.
    s = SMALL_SAMPLERS[name]
    M, G, R = 6, 5, 4000
    rec = ("support", "heterozygosity", "entropy") + (("reward",) if isinstance(s.curation, BestOfK) else ())
    run = ct.DiscreteChain(SMALL, M, sampler=s).simulate(G, R, rng=11, record=rec)
    ex = ths.count_chain(SMALL, M, G, s)
    pv = []
    for t in range(1, G + 1):
        for key in rec:
            x = getattr(run, key)[:, t].astype(float)
            if np.ptp(x) == 0:
                assert abs(x[0] - ex[key][t]) < 1e-9
                continue
            pv.append(z_test(x, ex[key][t]))
    assert_consistent(pv, what=name)


def test_count_chain_fresh_matches_kernel():
    s = Sampler(temperature=0.7, top_p=0.8)
    mix = ct.Mixing.fresh(0.25)
    run = ct.DiscreteChain(SMALL, 5, mixing=mix, sampler=s).simulate(4, 4000, rng=5, record=("support", "heterozygosity"))
    ex = ths.count_chain(SMALL, 5, 4, s, mixing=mix)
    pv = [z_test(run.support[:, t].astype(float), ex["support"][t]) for t in range(1, 5)]
    pv += [z_test(run.heterozygosity[:, t], ex["heterozygosity"][t]) for t in range(1, 5)]
    assert_consistent(pv, what="fresh + sampler")


def test_count_chain_identity_equals_naive_and_closed_form():
    M, G = 5, 4
    ex = ths.count_chain(SMALL, M, G)
    H0 = 1 - np.sum(SMALL**2)
    np.testing.assert_allclose(ex["heterozygosity"], H0 * (1 - 1 / M) ** np.arange(G + 1), rtol=1e-12)
    for t in range(1, G + 1):
        naive = naive_expectation(SMALL, M, t, lambda c: np.count_nonzero(c))
        assert abs(naive - ex["support"][t]) < 1e-10


def test_fixed_truncation_equals_count_chain_and_first_generation():
    s = Sampler(top_k=2)
    M, G = 6, 5
    ex = ths.count_chain(SMALL, M, G, s)
    fx = ths.fixed_truncation(SMALL, M, np.arange(G + 1), s)
    for key in ("support", "heterozygosity", "alive_mass"):
        np.testing.assert_allclose(fx[key], ex[key], rtol=1e-10, atol=1e-12)
    for name, smp in SMALL_SAMPLERS.items():
        f1 = ths.first_generation(SMALL, M, smp)
        e1 = ths.count_chain(SMALL, M, 1, smp)
        for key in ("support", "heterozygosity", "alive_mass"):
            assert abs(f1[key] - e1[key][1]) < 1e-10, (name, key)


# ----------------------------------------------------------------------------- curation laws


@pytest.mark.parametrize("choice", ["bradley-terry", "argmax"])
@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_best_of_k_law_equals_enumeration(choice, k):
    q = np.array([0.35, 0.25, 0.2, 0.2, 0.0])
    r = np.array([0.3, -1.0, 2.0, 0.3, 5.0])  # a tie in reward, and a state with no mass
    np.testing.assert_allclose(ths.best_of_k_law(q, r, k, choice), naive_best_of_k_law(q, r, k, choice), rtol=1e-9, atol=1e-14)


def test_constant_reward_curation_is_no_curation():
    q = zipf(20)
    for choice in ("bradley-terry", "argmax"):
        np.testing.assert_allclose(ths.best_of_k_law(q, np.full(20, 0.7), 6, choice), q, rtol=1e-9)
    # and in distribution on the chain: the law of E H_t and of the support at t = 8
    M, G, R = 20, 8, 3000
    plain = ct.DiscreteChain(q, M).simulate(G, R, rng=1, record=("support", "heterozygosity"))
    pv = []
    for i, choice in enumerate(("bradley-terry", "argmax")):
        cur = ct.DiscreteChain(q, M, sampler=Sampler(curation=BestOfK(np.full(20, 0.7), k=4, choice=choice)))
        run = cur.simulate(G, R, rng=100 + i, record=("support", "heterozygosity"))
        th = (1 - np.sum(q**2)) * (1 - 1 / M) ** np.arange(G + 1)
        pv += [z_test(run.heterozygosity[:, t], th[t]) for t in (1, 4, 8)]
        pv.append(stats.ks_2samp(run.support[:, G], plain.support[:, G]).pvalue)
    assert_consistent(pv, what="constant reward")


@given(st.lists(st.floats(-3, 3), min_size=2, max_size=8), st.integers(2, 6), st.integers(0, 2**31))
def test_bradley_terry_raises_expected_reward(r, k, seed):
    r = np.asarray(r)
    p = np.random.default_rng(seed).dirichlet(np.ones(r.size))
    q = ths.best_of_k_law(p, r, k)
    assert abs(q.sum() - 1) < 1e-9
    assert q @ r >= p @ r - 1e-9
    lim = ths.bradley_terry_limit(p, r)
    assert q @ r <= lim @ r + 1e-9 or np.ptp(r) < 1e-12


@pytest.mark.slow
def test_bradley_terry_tends_to_the_tilted_law():
    p, r = zipf(10), np.linspace(-1, 1, 10)
    lim = ths.bradley_terry_limit(p, r)
    errs = [np.abs(ths.best_of_k_law(p, r, k) - lim).max() for k in (4, 64, 1024)]
    assert errs[0] > errs[1] > errs[2] and errs[2] < 2e-3


def test_infinite_population_reward_increases():
    p, r = zipf(30), np.linspace(0, 1, 30)
    chain = ths.infinite_population(p, Sampler(curation=BestOfK(r, k=4)), 10)
    er = chain @ r
    assert np.all(np.diff(er) > 0)


# ----------------------------------------------------------------------------- infinite-population maps


def test_temperature_map_composes():
    p = zipf(25)
    for tau in (0.7, 1.3):
        chain = ths.infinite_population(p, Sampler(temperature=tau), 6)
        np.testing.assert_allclose(ths.temperature_map(p, tau, np.arange(7)), chain, rtol=1e-9, atol=1e-300)


@given(probs, st.floats(0.3, 0.99))
def test_top_p_fixed_point_bound(p, top_p):
    fp, _ = ths.top_p_fixed_point(p, top_p)
    pos = fp[fp > 0]
    assert pos.size <= ths.top_p_max_support(top_p)
    assert pos.size == 1 or np.all(pos > 1 - top_p - 1e-12)


def test_top_p_max_support_values():
    assert ths.top_p_max_support(0.95) == 19
    assert ths.top_p_max_support(0.9) == 9
    assert ths.top_p_max_support(0.75) == 3
    assert ths.top_p_max_support(1.0) == float("inf")


def test_top_k_cuts_once():
    chain = ths.infinite_population(zipf(50), Sampler(top_k=5), 4)
    np.testing.assert_allclose(chain[1], chain[4])
    assert np.count_nonzero(chain[1]) == 5


# ----------------------------------------------------------------------------- tale of tails


def test_memorising_test_error_against_monte_carlo():
    # the learner errs when the test state was never among T training draws
    p = zipf(30, 1.5)
    q = Sampler(top_k=8).apply(p)
    T, N = 20, 4000
    rng = np.random.default_rng(4)
    miss = np.empty(N)
    for i in range(N):
        seen = np.zeros(30, bool)
        seen[rng.choice(30, size=T, p=q)] = True
        miss[i] = not seen[rng.choice(30, p=p)]
    assert_consistent([z_test(miss, ths.tail_cut_test_error(p, 8, T))], what="tale of tails")
    assert ths.tail_cut_test_error(p, 8, T) == pytest.approx(ths.memorising_test_error(p, T, q))


def test_tale_of_tails_regimes():
    beta = 2.0
    p = zipf(2_000_000, beta)
    T = np.array([1e3, 1e4])
    ratio = ths.memorising_test_error(p, T) / ths.zipf_test_error_asymptotic(beta, T)
    np.testing.assert_allclose(ratio, 1.0, rtol=0.05)
    # the cut dominates when T is large: error -> tail mass beyond k ~ k^-(beta - 1)
    k = 100
    big = ths.tail_cut_test_error(p, k, 10**7)
    assert big == pytest.approx(p[k:].sum(), rel=1e-3)
    assert p[k:].sum() == pytest.approx(k ** (1 - beta) / ((beta - 1) * np.pi**2 / 6), rel=0.02)


def test_tail_test_error_chain_grows_under_top_p():
    p = zipf(200)
    err = ths.tail_test_error_chain(p, Sampler(top_p=0.9), 1000, 8)
    assert err[0] == pytest.approx(ths.memorising_test_error(p, 1000))
    assert np.all(np.diff(err) >= -1e-15) and err[-1] > err[0]


@pytest.mark.slow
def test_derivations_latex():
    d = ths.derivations()
    assert {"temperature", "top_p_support", "bradley_terry", "tale_of_tails", "top_k"} <= set(d)
    for v in d.values():
        assert v.source and v.latex()


# ----------------------------------------------------------------------------- workflows against the naive chain


@pytest.mark.parametrize(
    "mixing, naive_kw, sampler, naive_sampler",
    [
        (ct.Mixing.accumulate(subsample=True), {"workflow": "accumulate-subsample"}, None, None),
        (ct.Mixing.augment(1.5), {"workflow": "augment", "ratio": 1.5}, None, None),
        (ct.Mixing.accumulate(subsample=True), {"workflow": "accumulate-subsample"}, Sampler(top_p=0.8), {"top_p": 0.8}),
        (ct.Mixing.augment(2.0), {"workflow": "augment", "ratio": 2.0}, Sampler(temperature=0.6), {"temperature": 0.6}),
        (ct.Mixing.accumulate(), {"workflow": "accumulate"}, Sampler(top_k=3), {"top_k": 3}),
        (ct.Mixing.fresh(0.3), {"workflow": "replace", "real": 0.3}, Sampler(min_p=0.4), {"min_p": 0.4}),
    ],
)
def test_workflows_match_the_naive_chain(mixing, naive_kw, sampler, naive_sampler):
    # two-sample z-tests on E H_t and E support_t (R = 1500 kernel, 400 naive): power ~0.9 for a 10% shift.
    p0 = np.array([0.35, 0.25, 0.15, 0.1, 0.08, 0.07])
    M, G = 8, 6
    run = ct.DiscreteChain(p0, M, mixing=mixing, sampler=sampler).simulate(G, 1500, rng=2, record=("probs",))
    ref = naive_chain(p0, M, G, 400, 9, sampler=naive_sampler, **naive_kw)
    pv = []
    for t in (1, 3, G):
        for f in (lambda P: 1 - np.sum(P**2, axis=-1), lambda P: np.count_nonzero(P, axis=-1).astype(float)):
            a, b = f(run.probs[:, t]), f(ref[:, t])
            se = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
            if se == 0:
                assert a.mean() == b.mean()
                continue
            pv.append(2 * stats.norm.sf(abs(a.mean() - b.mean()) / se))
    assert_consistent(pv, what=mixing.workflow)


def test_curation_matches_the_naive_chain():
    p0 = np.array([0.35, 0.25, 0.15, 0.1, 0.08, 0.07])
    r = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 2.5])
    M, G = 8, 4
    pv = []
    for i, (cur, naive_cur) in enumerate([
        (BestOfK(r, k=3), ("best", r, 3, "bradley-terry")),
        (BestOfK(r, k=2, choice="argmax"), ("best", r, 2, "argmax")),
        (Verifier([0.2, 0.4, 0.6, 0.8, 1.0, 1.0]), ("verifier", np.array([0.2, 0.4, 0.6, 0.8, 1.0, 1.0]))),
    ]):
        run = ct.DiscreteChain(p0, M, sampler=Sampler(curation=cur)).simulate(G, 1500, rng=20 + i, record=("probs",))
        ref = naive_chain(p0, M, G, 400, 30 + i, curation=naive_cur)
        for t in (1, G):
            a, b = run.probs[:, t] @ r, ref[:, t] @ r
            se = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
            pv.append(2 * stats.norm.sf(abs(a.mean() - b.mean()) / se))
    assert_consistent(pv, what="curation vs naive")


def test_augment_keeps_d0_and_subsample_keeps_size():
    p0 = zipf(50)
    run = ct.DiscreteChain(p0, 40, mixing=ct.Mixing.augment(1.0)).simulate(10, 10, rng=0, record=("probs",))
    # every model holds D_0 (the generation-1 data): its states never vanish, its mass is at least 1/2
    d0 = run.probs[:, 1] > 0
    assert np.all(run.probs[:, 2:][np.broadcast_to(d0[:, None], run.probs[:, 2:].shape)] > 0)
    sub = ct.DiscreteChain(p0, 40, mixing=ct.Mixing.accumulate(subsample=True)).simulate(10, 10, rng=0, record=("probs",))
    np.testing.assert_allclose(np.round(sub.probs[:, 1:] * 40), sub.probs[:, 1:] * 40, atol=1e-9)


def test_reward_record_equals_probs():
    r = np.linspace(0, 1, 30)
    run = ct.DiscreteChain(zipf(30), 50, sampler=Sampler(curation=BestOfK(r, k=4))).simulate(6, 8, rng=0, record=("probs", "reward"))
    np.testing.assert_allclose(run.reward, run.probs @ r, rtol=1e-12)


def test_lazy_exports():
    assert ct.Sampler is Sampler
    assert ct.sampling.BestOfK is BestOfK
    s = Sampler(temperature=0.7, top_p=0.95, curation=BestOfK([0.0, 1.0], k=2))
    assert Sampler.from_dict(s.to_dict()).to_dict() == s.to_dict()
    assert s.label() == "temperature 0.7, top-p 0.95, best-of-2 (bradley-terry)"


@given(probs, st.integers(1, 40), st.integers(0, 6), st.integers(0, 2**32 - 1), st.sampled_from([None, 0.0, 0.3]))
def test_temperature_one_is_the_plain_chain_draw_for_draw_property(p, M, G, seed, real):
    mixing = ct.Mixing.fresh(real) if real else ct.Mixing.replace()
    rec = ("support", "heterozygosity", "probs")
    plain = ct.DiscreteChain(p, M, mixing=mixing).simulate(G, 3, rng=seed, record=rec)
    same = ct.DiscreteChain(p, M, mixing=mixing, sampler=Sampler(temperature=1.0, top_p=1.0)).simulate(G, 3, rng=seed, record=rec)
    np.testing.assert_array_equal(same.probs, plain.probs)


@given(probs, st.floats(-5, 5), st.integers(1, 6), st.sampled_from(["bradley-terry", "argmax"]))
def test_constant_reward_law_is_the_sampled_law(p, c, k, choice):
    q = ths.curated_law(p, Sampler(top_p=0.9, curation=BestOfK(np.full(p.size, c), k=k, choice=choice)))
    np.testing.assert_allclose(q, Sampler(top_p=0.9).apply(p), rtol=1e-8, atol=1e-12)


def test_bradley_terry_is_shift_invariant_at_extreme_rewards():
    # rewards 5000 below zero: the kernel's candidate weights are relative to the best candidate, so no underflow
    p = np.array([0.4, 0.3, 0.2, 0.1])
    r = np.array([0.0, -1.0, 0.5, 2.0])
    law = ths.best_of_k_law(p, r, 3)
    run = ct.DiscreteChain(p, 200, sampler=Sampler(curation=BestOfK(r - 5000.0, k=3))).simulate(1, 500, rng=8, record=("probs",))
    counts = np.rint(run.probs[:, 1] * 200).sum(axis=0)
    assert_consistent([stats.chisquare(counts, law * counts.sum()).pvalue], what="shifted rewards")
    np.testing.assert_allclose(ths.best_of_k_law(p, r - 5000.0, 3), law, rtol=1e-12)
    with pytest.raises(ValueError, match="curation.reward"):
        ths.best_of_k_law(p, np.array([0.0, -1000.0, 0.0, 0.0]), 3)
