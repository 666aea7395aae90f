"""verify checks of the discrete chain (neutral Wright–Fisher): collapse_theory.theory.discrete."""

from __future__ import annotations

import math

import numpy as np

from ._framework import (
    _QQ_POINTS, Outcome, register, _z_outcome, _binomial_outcome, _sizes,
)


# ---- discrete chain (neutral Wright–Fisher): collapse_theory.theory.discrete

_DISCRETE = ("collapse_theory.chains.discrete", "collapse_theory.theory.discrete")

#: p0 grid of the discrete checks: two types, a skewed three-type law, and a
#: ten-type law with a long tail (the states the paper says are lost first).
_P0 = {
    "two": [0.5, 0.5],
    "skewed3": [0.2, 0.3, 0.5],
    "tail10": [0.3, 0.2, 0.15, 0.1, 0.08, 0.06, 0.05, 0.03, 0.02, 0.01],
}


@register(
    "discrete.heterozygosity",
    description="E[H_t] = H_0 (1 - 1/M)^t under replacement, and along a linear sample-size schedule",
    source="Ewens 2004 ch. 3; theory.discrete.heterozygosity",
    requires=_DISCRETE,
)
def _check_heterozygosity(level, rng):
    # R = 4000 (quick): relative s.e. of the mean about 1-2% for t <= M, so a
    # wrong decay rate such as (1 - 1/(M+1))^t at M = 10, t = 10 (5% off) is
    # found with power > 0.9. R = 10000 (full) halves the s.e. again (0.5-1%);
    # the added M = 5 is where an off-by-one is largest ((4/5)^10 against
    # (5/6)^10: 34% apart at t = 10).
    from ..chains.discrete import DiscreteChain
    from ..process import schedules
    from ..theory import discrete as th

    R = _sizes(level, 4000, 10000)
    Ms = _sizes(level, (10, 50), (5, 10, 50, 200))
    ts = np.array(_sizes(level, (1, 3, 10, 30), (1, 2, 5, 10, 30, 100)))
    out = []
    sizes = [(M, M) for M in Ms] + [(schedules.linear(10, 2.0), "linear(10, 2)")]
    for key in _sizes(level, ("two", "tail10"), tuple(_P0)):
        p0 = _P0[key]
        for M, label in sizes:
            run = DiscreteChain(p0, sample_size=M).simulate(int(ts.max()), R, rng=rng, record=("heterozygosity",))
            theory = np.atleast_1d(th.heterozygosity(p0, M, ts))
            for t, e in zip(ts, theory):
                out.append(_z_outcome("E[H_t]", {"p0": key, "M": label, "t": int(t)}, run.heterozygosity[:, t], e, bounds=(0.0, 1.0)))
    return out


@register(
    "discrete.heterozygosity_mixing",
    description="E[H_t] with fresh data and with accumulation (exact recursions); stationary H* with fresh data",
    source="theory.discrete.heterozygosity, stationary_heterozygosity",
    requires=_DISCRETE,
)
def _check_heterozygosity_mixing(level, rng):
    # Fresh data holds H near H* instead of 0: a recursion with the wrong
    # weight (e.g. gamma instead of 1 - (1 - gamma)^2) is 10-40% off, far
    # beyond the ~1-2% standard error at R = 2000 (quick); R = 10000 (full):
    # 0.5-1%, so an error of 3% is found too.
    from ..chains.discrete import DiscreteChain
    from ..process import Mixing
    from ..theory import discrete as th

    R = _sizes(level, 2000, 10000)
    M = 20
    ts = np.array(_sizes(level, (1, 5, 20), (1, 2, 5, 10, 20, 50)))
    tstat = 100  # distance to H*: [(1 - 1/M)(1 - gamma)^2]^t < 1e-11 at gamma >= 0.1
    out = []
    # labelled by their spec (Mixing.to_spec), the one text form of records, grids and flags
    specs = ["fresh:0.1", "fresh:0.5", "accumulate"] + (["accumulate:0.1"] if level == "full" else [])
    mixings = {spec: Mixing.from_spec(spec) for spec in specs}
    for key in ("two", "tail10"):
        p0 = _P0[key]
        for name, mix in mixings.items():
            G = tstat if mix.workflow == "fresh" else int(ts.max())
            run = DiscreteChain(p0, sample_size=M, mixing=mix).simulate(G, R, rng=rng, record=("heterozygosity",))
            theory = np.atleast_1d(th.heterozygosity(p0, M, ts, mixing=mix))
            for t, e in zip(ts, theory):
                out.append(_z_outcome("E[H_t]", {"p0": key, "M": M, "mixing": name, "t": int(t)}, run.heterozygosity[:, t], e, bounds=(0.0, 1.0)))
            if mix.workflow == "fresh":
                hstar = th.stationary_heterozygosity(p0, M, mixing=mix)
                out.append(_z_outcome("H* (stationary)", {"p0": key, "M": M, "mixing": name, "t": tstat}, run.heterozygosity[:, tstat], hstar))
    return out


@register(
    "discrete.fixation",
    description="P(absorbed at state i) = p0_i (chi-square over states)",
    source="martingale argument; theory.discrete.fixation_probability",
    requires=_DISCRETE,
)
def _check_fixation(level, rng):
    # Chi-square over K states with R = 3000: a 3-point shift of probability
    # between two states of p0 = (0.2, 0.3, 0.5) is detected with power ~0.9.
    from scipy import stats

    from ..chains.discrete import DiscreteChain
    from ..theory import discrete as th

    R = _sizes(level, 3000, 20000)
    out = []
    for key in ("two", "skewed3", "tail10"):
        p0 = _P0[key]
        for M in _sizes(level, (10, 40), (5, 10, 40, 100)):
            ab = DiscreteChain(p0, sample_size=M).absorb(R, rng=rng)
            if ab.censored.any():
                raise RuntimeError(f"{int(ab.censored.sum())} censored replicates at M={M}")
            counts = np.bincount(ab.state, minlength=len(p0))
            expected = R * th.fixation_probability(p0)
            p = float(stats.chisquare(counts, expected).pvalue)
            out.append(Outcome("P(fix at i)", {"p0": key, "M": M}, p, float(counts[-1] / R), float(expected[-1] / R), "chi2", R))
    return out


def _discrete_quantiles(cdf_values, probs):
    """Quantiles of a law on 0, 1, 2, ... from its cdf at 0..n: smallest t with cdf(t) >= q."""
    return np.searchsorted(cdf_values, probs, side="left").astype(np.float64)


def _binned_chi2(samples, cdf_values, nbins=20):
    """Chi-square goodness of fit of integer samples to a law given by its cdf at 0..n.

    Bins are runs of consecutive values holding about 1/nbins of the mass each
    (so expected counts are large); the last bin takes the tail beyond n.
    """
    from scipy import stats

    cdf_values = np.asarray(cdf_values, dtype=np.float64)
    edges = np.unique(_discrete_quantiles(cdf_values, np.arange(1, nbins) / nbins).astype(np.int64))
    edges = edges[edges < cdf_values.size - 1]
    upper = np.concatenate([cdf_values[edges], [1.0]])
    probs = np.diff(np.concatenate([[0.0], upper]))
    x = np.asarray(samples, dtype=np.int64)
    idx = np.searchsorted(edges, x, side="left")
    counts = np.bincount(idx, minlength=probs.size)[: probs.size]
    keep = probs > 0
    expected = probs[keep] / probs[keep].sum() * x.size
    return float(stats.chisquare(counts[keep], expected).pvalue)


@register(
    "discrete.absorption_time",
    description="Mean, variance and law of the absorption time: fundamental matrix (exact) and its cdf",
    source="Kemeny & Snell 1960; theory.discrete.absorption_time, absorption_time_cdf",
    requires=_DISCRETE,
)
def _check_absorption_time(level, rng):
    # R = 3000: s.e. of the mean about 1.3% (T has cv about 0.7), so the
    # diffusion value (2.6% high at M = 50, p = 1/2) is rejected with power
    # ~0.5 per point and an error of 5% or more with power near 1.
    from ..chains.discrete import DiscreteChain
    from ..theory import discrete as th

    R = _sizes(level, 3000, 20000)
    probs = np.arange(1, _QQ_POINTS + 1) / (_QQ_POINTS + 1)
    out = []
    for key in _sizes(level, ("two", "skewed3", "tail10"), tuple(_P0)):
        p0 = _P0[key]
        for M in _sizes(level, (10, 50), (5, 10, 50, 100)):
            ab = DiscreteChain(p0, sample_size=M).absorb(R, rng=rng)
            if ab.censored.any():
                raise RuntimeError(f"{int(ab.censored.sum())} censored replicates at M={M}")
            T = ab.time.astype(np.float64)
            at = th.absorption_time(p0, M, method="exact")
            params = {"p0": key, "M": M}
            out.append(_z_outcome("E[T]", params, T, at.mean))
            out.append(_z_outcome("Var[T]", params, (T - at.mean) ** 2, at.variance))
            tmax = int(max(T.max(), 1))
            cdf = np.asarray(th.absorption_time_cdf(p0, M, np.arange(tmax + 1)))
            qq = (np.quantile(T, probs), _discrete_quantiles(cdf, probs))
            out.append(Outcome("law of T", params, _binned_chi2(T, cdf), math.nan, math.nan, "chi2", R, qq))
    return out


@register(
    "discrete.survival",
    description="Survival of a state with c of M copies after t generations, and per-state extinction by t",
    source="theory.discrete.survival_probability, extinction_probability",
    requires=_DISCRETE,
)
def _check_survival(level, rng):
    # Exact binomial tests on R = 3000 chains: a survival probability off by
    # 0.04 (e.g. the rough 1 - exp(-c/k) rule against the exact value) is
    # found with power > 0.9.
    from ..chains.discrete import DiscreteChain
    from ..theory import discrete as th

    R = _sizes(level, 3000, 20000)
    out = []
    M = 20
    ts = _sizes(level, (1, 5, 20), (1, 2, 5, 10, 20, 40))
    for c in _sizes(level, (1, 4), (1, 2, 4, 10)):
        p0 = [c / M, 1 - c / M]
        ab = DiscreteChain(p0, sample_size=M).absorb(R, rng=rng)
        e = ab.extinction[:, 0]
        for t in ts:
            alive = int(np.sum((e == -1) | (e > t)))
            out.append(_binomial_outcome("P(state survives to t)", {"c": c, "M": M, "t": t}, alive, R, th.survival_probability(c, M, t)))
    p0 = _P0["tail10"]
    ab = DiscreteChain(p0, sample_size=M).absorb(R, rng=rng)
    ext = th.extinction_probability(p0, M, np.array(ts))
    for i in _sizes(level, (0, 5, 9), range(len(p0))):
        e = ab.extinction[:, i]
        for j, t in enumerate(ts):
            gone = int(np.sum((e >= 0) & (e <= t)))
            out.append(_binomial_outcome("P(state i extinct by t)", {"p0": "tail10", "i": i, "M": M, "t": t}, gone, R, ext[i, j]))
    return out


@register(
    "discrete.support",
    description="Expected support (states still present) and expected alive mass at generation t",
    source="theory.discrete.expected_support, expected_alive_mass",
    requires=_DISCRETE,
)
def _check_support(level, rng):
    # Support of the ten-type law falls from 10 to ~2 within 50 generations at
    # M = 20; R = 3000 gives a s.e. of about 0.02 states, so a 1% error is found
    # (R = 10000 at the full level: 0.01 states).
    from ..chains.discrete import DiscreteChain
    from ..theory import discrete as th

    R = _sizes(level, 3000, 10000)
    ts = np.array(_sizes(level, (1, 5, 20, 50), (1, 2, 5, 10, 20, 50, 100)))
    out = []
    # Grid points where (nearly) every replicate keeps every state, e.g.
    # p0 = (0.2, 0.3, 0.5) at M = 100, t = 1 (a loss has probability 2e-10),
    # are left out: a sample without spread only gets the weak bound test.
    grid = [("skewed3", 10), ("tail10", 20), ("tail10", 100)]
    if level == "full":
        grid += [("skewed3", 5), ("tail10", 10), ("tail10", 500)]
    for key, M in grid:
        p0 = _P0[key]
        run = DiscreteChain(p0, sample_size=M).simulate(int(ts.max()), R, rng=rng, record=("support", "alive_mass"))
        sup = np.atleast_1d(th.expected_support(p0, M, ts))
        mass = np.atleast_1d(th.expected_alive_mass(p0, M, ts))
        for t, s, a in zip(ts, sup, mass):
            params = {"p0": key, "M": M, "t": int(t)}
            out.append(_z_outcome("E[support_t]", params, run.support[:, t], s, bounds=(1.0, float(len(p0)))))
            out.append(_z_outcome("E[alive mass_t]", params, run.alive_mass[:, t], a, bounds=(0.0, 1.0)))
    return out


# ---- Gaussian chain (Theorem 3.1): collapse_theory.theory.gaussian
