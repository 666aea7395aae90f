"""verify checks of the sampled and curated discrete chain: collapse_theory.theory.sampling."""

from __future__ import annotations

import numpy as np

from ._framework import Outcome, _binomial_outcome, _sizes, _z_outcome, register

_SAMPLING = ("collapse_theory.chains.discrete", "collapse_theory.theory.sampling", "collapse_theory.sampling")

_SMALL = np.array([0.5, 0.3, 0.2])
_REWARD3 = np.array([0.0, 1.0, 2.0])


def _zipf(K, s=1.1):
    w = np.arange(1, K + 1, dtype=np.float64) ** -s
    return w / w.sum()


def _samplers_small():
    from ..sampling import BestOfK, Sampler, Verifier

    return {
        "temperature 0.6": Sampler(temperature=0.6),
        "top-p 0.7": Sampler(top_p=0.7),
        "min-p 0.5": Sampler(min_p=0.5),
        "temperature 1.3, top-k 2, top-p 0.9": Sampler(temperature=1.3, top_k=2, top_p=0.9),
        "best-of-3 BT": Sampler(curation=BestOfK(_REWARD3, k=3)),
        "best-of-2 argmax": Sampler(curation=BestOfK(_REWARD3, k=2, choice="argmax")),
        "verifier": Sampler(curation=Verifier([0.3, 1.0, 0.6])),
    }


@register(
    "sampling.count_chain",
    description="E support, E H_t and E reward of the sampled chain against the exact K-type count chain (K = 3, M = 6)",
    source="theory.sampling.count_chain (multinomial transition matrix over all compositions)",
    requires=_SAMPLING,
)
def _check_count_chain(level, rng):
    # R = 3000: s.e. about 1% of E H_t; cutting one state too many or too few
    # moves E support by 10-30%, a tie rule reversed moves it by ~5%.
    from ..chains.discrete import DiscreteChain
    from ..sampling import BestOfK
    from ..theory import sampling as ths

    R = _sizes(level, 3000, 20000)
    M, G = 6, _sizes(level, 4, 8)
    out = []
    for name, smp in _samplers_small().items():
        rec = ("support", "heterozygosity") + (("reward",) if isinstance(smp.curation, BestOfK) else ())
        run = DiscreteChain(_SMALL, M, sampler=smp).simulate(G, R, rng=rng, record=rec)
        ex = ths.count_chain(_SMALL, M, G, smp)
        for t in range(1, G + 1, _sizes(level, 3, 1)):
            for key in rec:
                bounds = {"support": (1.0, 3.0), "heterozygosity": (0.0, 1.0), "reward": (0.0, 2.0)}[key]
                out.append(_z_outcome(f"E {key}_t", {"sampler": name, "M": M, "t": t}, getattr(run, key)[:, t], ex[key][t], bounds=bounds))
    return out


@register(
    "sampling.first_generation",
    description="Generation 1 under any sampler: E support, E alive mass, E H_1 from the sampled law (K = 300 Zipf(1.1))",
    source="theory.sampling.first_generation, sampled_law, best_of_k_law",
    requires=_SAMPLING,
)
def _check_first_generation(level, rng):
    # R = 1000: s.e. of E support_1 about 0.3%; a sampled law off by one kept
    # state or a temperature applied as p^tau instead of p^(1/tau) is far outside.
    from ..chains.discrete import DiscreteChain
    from ..sampling import BestOfK, Sampler
    from ..theory import sampling as ths

    K, M = 300, 200
    p = _zipf(K)
    R = _sizes(level, 1000, 5000)
    reward = np.random.default_rng(0).standard_normal(K)
    samplers = {
        "temperature 0.7": Sampler(temperature=0.7),
        "temperature 1.3": Sampler(temperature=1.3),
        "top-p 0.9": Sampler(top_p=0.9),
        "min-p 0.02": Sampler(min_p=0.02),
        "best-of-4 BT": Sampler(curation=BestOfK(reward, k=4)),
    }
    out = []
    for name, smp in samplers.items():
        run = DiscreteChain(p, M, sampler=smp).simulate(1, R, rng=rng, record=("support", "alive_mass", "heterozygosity"))
        f1 = ths.first_generation(p, M, smp)
        for key in ("support", "alive_mass", "heterozygosity"):
            out.append(_z_outcome(f"E {key}_1", {"sampler": name, "K": K, "M": M}, getattr(run, key)[:, 1], f1[key]))
    return out


@register(
    "sampling.fixed_truncation",
    description="top-k cuts once: exact E support and E H_t of the plain chain from top-k(p0) (K = 100 Zipf(1.1), M = 50)",
    source="theory.sampling.fixed_truncation; theory.discrete.expected_support",
    requires=_SAMPLING,
)
def _check_fixed_truncation(level, rng):
    # R = 2000: s.e. about 1% of E support_t; the cut applied again each
    # generation (support <= k) or a wrong start law shifts it by > 5%.
    from ..chains.discrete import DiscreteChain
    from ..sampling import Sampler
    from ..theory import sampling as ths

    p = _zipf(100)
    M = 50
    R = _sizes(level, 2000, 10000)
    ts = np.array(_sizes(level, (1, 5, 20), (1, 2, 5, 10, 20, 50)))
    out = []
    for k in _sizes(level, (10,), (3, 10, 30)):
        smp = Sampler(top_k=k)
        run = DiscreteChain(p, M, sampler=smp).simulate(int(ts.max()), R, rng=rng, record=("support", "heterozygosity", "alive_mass"))
        fx = ths.fixed_truncation(p, M, ts, smp)
        for i, t in enumerate(ts):
            for key in ("support", "heterozygosity", "alive_mass"):
                out.append(_z_outcome(f"E {key}_t", {"top_k": k, "M": M, "t": int(t)}, getattr(run, key)[:, t], fx[key][i],
                                      bounds={"support": (1.0, float(k)), "heterozygosity": (0.0, 1.0), "alive_mass": (0.0, 1.0)}[key]))
    return out


@register(
    "sampling.curated_law",
    description="Law of a kept sample under best-of-K (Bradley-Terry, argmax) and a verifier: chi-square of pooled generation-1 counts",
    source="Ferbach et al. 2024 (best-of-K); Feng et al. 2024 (verifier); theory.sampling.best_of_k_law, verifier_law",
    requires=_SAMPLING,
)
def _check_curated_law(level, rng):
    # Pooled counts of R * M = 2e5 kept samples over 8 states: a law off by
    # 0.005 in one state (e.g. K e^r / sum over K instead of K - 1 others) is
    # found with power near 1.
    from scipy import stats

    from ..chains.discrete import DiscreteChain
    from ..sampling import BestOfK, Sampler, Verifier
    from ..theory import sampling as ths

    p = _zipf(8, 1.0)
    r = np.linspace(-1.0, 1.5, 8)
    v = np.linspace(0.2, 1.0, 8)
    R, M = _sizes(level, 2000, 10000), 100
    out = []
    cases = {
        "best-of-4 BT": (Sampler(curation=BestOfK(r, k=4)), ths.best_of_k_law(p, r, 4)),
        "best-of-3 argmax": (Sampler(curation=BestOfK(r, k=3, choice="argmax")), ths.best_of_k_law(p, r, 3, "argmax")),
        "verifier": (Sampler(curation=Verifier(v)), ths.verifier_law(p, v)),
        "top-p 0.8 then best-of-2 BT": (Sampler(top_p=0.8, curation=BestOfK(r, k=2)), ths.curated_law(p, Sampler(top_p=0.8, curation=BestOfK(r, k=2)))),
    }
    for name, (smp, law) in cases.items():
        run = DiscreteChain(p, M, sampler=smp).simulate(1, R, rng=rng, record=("probs",))
        counts = np.rint(run.probs[:, 1] * M).sum(axis=0)
        keep = law > 0
        pv = float(stats.chisquare(counts[keep], law[keep] * counts.sum()).pvalue)
        out.append(Outcome("law of a kept sample", {"curation": name}, pv, float(counts[-1] / counts.sum()), float(law[-1]), "chi2", R))
    return out


@register(
    "sampling.tale_of_tails",
    description="Test error of a memorising learner, clean and with the tail cut at rank k: binomial test of simulated learners",
    source="Dohmatob et al., ICML 2024, arXiv 2402.07043; theory.sampling.memorising_test_error, tail_cut_test_error",
    requires=("collapse_theory.theory.sampling",),
)
def _check_tale_of_tails(level, rng):
    # N = 20000 learner/test pairs: s.e. of an error near 0.3 about 0.003; a
    # missing tail-mass term (sum_{i>k} p_i, here 0.2) is far outside.
    # A learner errs when its T training draws from q hold no copy of the test
    # item i ~ p; the count of i among them is one margin of Multinomial(T, q),
    # Binomial(T, q_i), so that margin is drawn alone (O(N) instead of the
    # N x K count table).
    from ..sampling import Sampler
    from ..theory import sampling as ths

    K = 200
    p = _zipf(K, 1.5)
    N = _sizes(level, 20000, 100000)
    out = []
    for T in _sizes(level, (10, 100), (10, 30, 100, 300)):
        for k in (None, 20):
            q = p if k is None else Sampler(top_k=k).apply(p)
            test = rng.choice(K, size=N, p=p)
            errors = int(np.count_nonzero(rng.binomial(T, q[test]) == 0))
            th = ths.memorising_test_error(p, T) if k is None else ths.tail_cut_test_error(p, k, T)
            out.append(_binomial_outcome("E_test", {"T": T, "k": "none" if k is None else k}, errors, N, th))
    return out
