"""Exact theory of the discrete chain under a sampler or curation.

What is exact, and where it comes from:

* **Infinite-population maps** (``M -> infinity``; the model of generation
  ``t + 1`` is the sampled, curated law of generation ``t``):
  temperature composes, :math:`p_t \\propto p_0^{\\tau^{-t}}` (Marchi et al.
  2024, arXiv 2404.02325); top-k cuts once; top-p shrinks the support until
  every surviving state has probability above ``1 - p``, so at most
  :math:`\\lceil 1/(1-p) \\rceil - 1` states survive (Drayson et al. 2025,
  arXiv 2502.15654; derived in :func:`derivations`); best-of-``K`` with
  Bradley–Terry choice maps
  :math:`p_{t+1}(x) = p_t(x)\\, E[K e^{r(x)} / (e^{r(x)} + \\sum_{i<K} e^{r(X_i)})]`,
  :math:`X_i \\sim p_t`, which tends to :math:`p_t e^r / Z` as ``K`` grows and
  raises the expected reward every generation (Ferbach et al., NeurIPS 2024,
  arXiv 2407.09499). The expectation is computed exactly as a one-dimensional
  integral, :math:`1/(a + S) = \\int_0^\\infty e^{-(a+S)u}\\,du`, so
  :math:`E[1/(a+S)] = \\int_0^\\infty e^{-au} \\varphi(u)^{K-1}\\,du` with
  :math:`\\varphi(u) = \\sum_j p_j e^{-u w_j}` (adaptive quadrature,
  ``epsrel = 1e-11``); best-of-``K`` argmax has the closed form
  :math:`F(\\le r_x)^K - F(< r_x)^K` split among equal rewards by ``p``;
  a verifier maps ``p`` to :math:`p v / \\sum p v` (Feng et al. 2024).
* **Finite M**: generation 1 is exact for any sampler (its ``M`` samples are
  i.i.d. from the sampled ``p0``: :func:`first_generation`); a top-k cut
  without temperature is a fixed truncation (every later model has at most
  ``k`` states, so the cut never acts again) and the chain is the plain chain
  started from the truncated law, with :math:`E H_t = H(q)(1 - 1/M)^t` and
  the exact expected support of :mod:`collapse_theory.theory.discrete`
  (:func:`fixed_truncation`); for any other sampler, exact values at small
  ``K`` and ``M`` come from the transition matrix of the ``K``-type count
  chain (:func:`count_chain`; :math:`\\binom{M+K-1}{K-1}` states, a naive,
  obviously-correct computation). Bound: with any sampler and replacement the
  support never grows (a state absent from a model is never sampled), so
  :math:`E|\\text{supp}_t| \\le E|\\text{supp}_1|` (exact).
* **Tale of tails** (Dohmatob et al., ICML 2024, arXiv 2402.07043): a
  memorising learner trained on ``T`` samples of ``q`` errs on a test draw of
  ``p`` when the test state was never seen:
  :math:`E_{test} = \\sum_i p_i (1 - q_i)^T`; clean (``q = p``) and with the
  tail cut at rank ``k`` (:math:`\\sum_{i \\le k} p_i (1 - q_i)^T + \\sum_{i>k} p_i`),
  with the regimes :math:`T^{-(1-1/\\beta)}` and :math:`k^{-(\\beta-1)}` for
  Zipf(:math:`\\beta`), and across the generations of a top-k or top-p chain.

Theory never runs a simulation.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy import special

from .._validate import (
    check_array,
    check_float,
    check_int,
    check_probability_vector,
)
from ..process import Mixing
from ..sampling import BestOfK, Sampler, Verifier
from ._derivation import Derivation

__all__ = [
    "COUNT_CHAIN_MAX_STATES",
    "best_of_k_law",
    "bradley_terry_limit",
    "count_chain",
    "count_chain_matrix",
    "count_chain_states",
    "curated_law",
    "derivations",
    "expected_reward",
    "first_generation",
    "fixed_truncation",
    "infinite_population",
    "memorising_test_error",
    "sampled_law",
    "tail_cut_test_error",
    "tail_test_error_chain",
    "temperature_map",
    "top_p_fixed_point",
    "top_p_max_support",
    "verifier_law",
    "zipf_test_error_asymptotic",
]

#: Largest number of count-chain states :func:`count_chain` builds (the matrix is dense, states^2).
COUNT_CHAIN_MAX_STATES = 6000

#: Relative tolerance of the Bradley–Terry quadrature.
BT_EPSREL = 1e-11


def _sampler(sampler) -> Sampler:
    if sampler is None:
        return Sampler()
    if not isinstance(sampler, Sampler):
        raise TypeError(f"sampler must be a collapse_theory.Sampler, got {type(sampler).__name__}")
    return sampler


def _check_T(T, name="T"):
    arr = check_array(name, T, dtype=np.float64)
    if np.any(arr < 0) or np.any(arr != np.round(arr)):
        raise ValueError(f"{name} must hold non-negative integers (numbers of training samples), got {T!r}")
    return arr


# ----------------------------------------------------------------------------- infinite-population maps


def temperature_map(p0, tau: float, t):
    """The infinite-population chain under temperature alone, :math:`p_t \\propto p_0^{\\tau^{-t}}`.

    Parameters
    ----------
    p0 : array_like, shape (K,)
    tau : float
        Temperature ``> 0``.
    t : int or array_like of int
        Generations ``>= 0``.

    Returns
    -------
    ndarray, shape (K,) or (len(t), K)

    References
    ----------
    Marchi et al. 2024, "Heat death of generative models in closed-loop learning", arXiv 2404.02325.

    Examples
    --------
    >>> from collapse_theory.theory import sampling as ths
    >>> ths.temperature_map([0.75, 0.25], 0.5, 1).round(3).tolist()
    [0.9, 0.1]
    """
    p = check_probability_vector("p0", p0)
    tau = check_float("tau", tau)
    if not tau > 0:
        raise ValueError(f"tau (the temperature) must be > 0, got {tau}")
    tt = np.atleast_1d(np.asarray(t))
    if tt.dtype == bool or np.any(tt < 0) or np.any(tt != np.round(tt)):
        raise ValueError(f"t must hold non-negative integers, got {t!r}")
    out = np.zeros((tt.size, p.size))
    pos = p > 0
    lp = np.log(p[pos])
    for j, s in enumerate(tt.astype(np.int64)):
        e = (lp - lp.max()) * tau ** (-float(s))
        w = np.exp(e)
        out[j, pos] = w / w.sum()
    return out[0] if np.ndim(t) == 0 else out


def sampled_law(p, sampler) -> np.ndarray:
    """The law the model ``p`` is sampled from: temperature and cuts (:meth:`Sampler.apply`), shape (K,).

    Parameters
    ----------
    p : array_like, shape (K,)
        The model's probability vector.
    sampler : Sampler or None
        None: plain ancestral sampling (the law is ``p``).

    Returns
    -------
    ndarray, shape (K,)

    Examples
    --------
    >>> import collapse_theory as ct
    >>> from collapse_theory.theory import sampling as ths
    >>> ths.sampled_law([0.5, 0.3, 0.2], ct.Sampler(top_k=2)).round(3).tolist()
    [0.625, 0.375, 0.0]
    """
    return _sampler(sampler).apply(p)


def best_of_k_law(p, reward, k: int, choice: str = "bradley-terry") -> np.ndarray:
    """Law of one best-of-``k`` sample when candidates are i.i.d. from ``p``, shape (K,).

    Bradley–Terry (Ferbach et al. 2024, eq. of Lemma 2.1):

    .. math:: P(x) = p(x)\\, E\\Big[\\frac{k\\, e^{r(x)}}{e^{r(x)} + \\sum_{i<k} e^{r(X_i)}}\\Big]
              = p(x)\\, k\\, w_x \\int_0^\\infty e^{-w_x u} \\varphi(u)^{k-1}\\,du,

    :math:`w = e^{r - \\max r}`, :math:`\\varphi(u) = \\sum_j p_j e^{-u w_j}`
    (exact identity; adaptive quadrature to relative tolerance
    :data:`BT_EPSREL`; reward spreads over the support up to 700). Argmax: :math:`P(x) = \\frac{p(x)}{F(= r_x)}[F(\\le r_x)^k - F(< r_x)^k]`
    with :math:`F` the ``p``-mass of a reward set.

    Parameters
    ----------
    p : array_like, shape (K,)
    reward : array_like, shape (K,), finite
    k : int, >= 1
    choice : {"bradley-terry", "argmax"}

    Returns
    -------
    ndarray, shape (K,)

    Examples
    --------
    >>> from collapse_theory.theory import sampling as ths
    >>> ths.best_of_k_law([0.5, 0.5], [0.0, 1.0], 2, "argmax").tolist()
    [0.25, 0.75]
    """
    cur = BestOfK(reward, k=k, choice=choice)  # validates reward, k, choice
    p = check_probability_vector("p", p)
    r = cur.reward
    if r.size != p.size:
        raise ValueError(f"curation.reward must have one entry per state (K = {p.size}), got {r.size}")
    k = cur.k
    pos = np.flatnonzero(p > 0)
    out = np.zeros(p.size)
    if k == 1 or pos.size == 1:
        out[pos] = p[pos]
        return out
    q, rr = p[pos], r[pos]
    if cur.choice == "argmax":
        levels, inv = np.unique(rr, return_inverse=True)
        mass = np.bincount(inv, weights=q, minlength=levels.size)
        le = np.cumsum(mass)
        lt = le - mass
        lev = np.clip(le, 0.0, 1.0) ** k - np.clip(lt, 0.0, 1.0) ** k
        out[pos] = q / mass[inv] * lev[inv]
        return out
    from scipy.integrate import quad_vec

    if np.ptp(rr) > 700.0:
        raise ValueError(
            f"curation.reward: the Bradley-Terry law is computed for reward spreads up to 700 (e^-700 is the "
            f"double-precision floor), got max - min = {np.ptp(rr):.4g} over the states p holds"
        )
    w = np.exp(rr - rr.max())

    def f(u):
        phi = np.dot(q, np.exp(-u * w))
        return np.exp(-u * w) * phi ** (k - 1)

    # split at u = 1 / w_min so the quadrature sees the slow tail on its own piece
    cut = 1.0 / w.min()
    i1, _ = quad_vec(f, 0.0, cut, epsabs=0.0, epsrel=BT_EPSREL)
    i2, _ = quad_vec(f, cut, np.inf, epsabs=0.0, epsrel=BT_EPSREL)
    out[pos] = q * k * w * (i1 + i2)
    return out


def bradley_terry_limit(p, reward) -> np.ndarray:
    """The ``K -> infinity`` limit of best-of-K Bradley–Terry curation, :math:`p e^r / Z` (shape (K,)).

    Parameters
    ----------
    p : array_like, shape (K,)
        The law of the candidates.
    reward : array_like, shape (K,), finite
        The reward ``r`` of each state.

    Returns
    -------
    ndarray, shape (K,)

    References
    ----------
    Ferbach et al., NeurIPS 2024, arXiv 2407.09499.

    Examples
    --------
    >>> import numpy as np
    >>> from collapse_theory.theory import sampling as ths
    >>> ths.bradley_terry_limit([0.5, 0.5], [0.0, np.log(3.0)]).round(12).tolist()
    [0.25, 0.75]
    """
    p = check_probability_vector("p", p)
    r = BestOfK(reward).reward
    if r.size != p.size:
        raise ValueError(f"curation.reward must have one entry per state (K = {p.size}), got {r.size}")
    w = p * np.exp(r - r.max())
    return w / w.sum()


def verifier_law(p, accept) -> np.ndarray:
    """Law of the kept samples under a verifier: :math:`p v / \\sum p v` (shape (K,)).

    Parameters
    ----------
    p : array_like, shape (K,)
        The law of the candidates.
    accept : array_like, shape (K,)
        The verifier's acceptance probability ``v`` of each state, in [0, 1].

    Returns
    -------
    ndarray, shape (K,)

    Raises
    ------
    ValueError
        If the verifier accepts none of the states ``p`` holds (``p v = 0``).

    Examples
    --------
    >>> from collapse_theory.theory import sampling as ths
    >>> ths.verifier_law([0.5, 0.25, 0.25], [1.0, 1.0, 0.0]).round(3).tolist()
    [0.667, 0.333, 0.0]
    """
    p = check_probability_vector("p", p)
    v = Verifier(accept).accept
    if v.size != p.size:
        raise ValueError(f"curation.accept must have one entry per state (K = {p.size}), got {v.size}")
    w = p * v
    if not w.sum() > 0:
        raise ValueError("curation.accept: the verifier accepts none of the states p holds")
    return w / w.sum()


def curated_law(p, sampler) -> np.ndarray:
    """The law of one kept sample when the model is ``p``: the sampled law, then the curation (shape (K,)).

    Parameters
    ----------
    p : array_like, shape (K,)
        The model's probability vector.
    sampler : Sampler or None
        Temperature and cuts (:func:`sampled_law`), then its curation
        (:func:`best_of_k_law` or :func:`verifier_law`), if any.

    Returns
    -------
    ndarray, shape (K,)

    Examples
    --------
    >>> import collapse_theory as ct
    >>> from collapse_theory.theory import sampling as ths
    >>> s = ct.Sampler(top_k=2, curation=ct.sampling.Verifier([0.0, 1.0, 1.0]))
    >>> ths.curated_law([0.5, 0.3, 0.2], s).round(3).tolist()
    [0.0, 1.0, 0.0]
    """
    s = _sampler(sampler)
    q = s.apply(p)
    c = s.curation
    if c is None:
        return q
    s.check_states(q.size)
    if isinstance(c, BestOfK):
        return best_of_k_law(q, c.reward, c.k, c.choice)
    return verifier_law(q, c.accept)


def expected_reward(p, reward) -> float:
    """The expected reward of one sample from ``p``, :math:`\\sum_i p_i r(i)`.

    Parameters
    ----------
    p : array_like, shape (K,)
    reward : array_like, shape (K,)

    Returns
    -------
    float

    Examples
    --------
    >>> from collapse_theory.theory import sampling as ths
    >>> ths.expected_reward([0.5, 0.25, 0.25], [1.0, 2.0, 4.0])
    2.0
    """
    p = check_probability_vector("p", p)
    r = check_array("reward", reward, ndim=1)
    if r.size != p.size:
        raise ValueError(f"reward must have one entry per state (K = {p.size}), got {r.size}")
    return float(p @ r)


def infinite_population(p0, sampler, generations: int) -> np.ndarray:
    """The infinite-population chain :math:`p_{t+1} = C(S(p_t))`, shape (G + 1, K) (row 0 is ``p0``).

    ``S`` is the sampler's temperature and cuts, ``C`` its curation; this is
    the ``M -> infinity`` limit of the replace chain with that sampler.

    Parameters
    ----------
    p0 : array_like, shape (K,)
    sampler : Sampler or None
    generations : int, >= 0
        ``G``.

    Returns
    -------
    ndarray, shape (G + 1, K)

    Examples
    --------
    >>> import collapse_theory as ct
    >>> from collapse_theory.theory import sampling as ths
    >>> p0 = [0.5, 0.3, 0.15, 0.05]
    >>> int((ths.infinite_population(p0, ct.Sampler(top_p=0.9), 5)[-1] > 0).sum())
    3
    """
    p = check_probability_vector("p0", p0)
    G = check_int("generations", generations, min=0)
    s = _sampler(sampler)
    s.check_states(p.size)
    out = np.empty((G + 1, p.size))
    out[0] = p
    for t in range(G):
        q = curated_law(out[t], s)
        out[t + 1] = q / q.sum()
    return out


def top_p_max_support(top_p: float) -> int:
    """Most states a top-p fixed point can hold: the largest ``n`` with ``n (1 - p) < 1``, :math:`\\lceil 1/(1-p) \\rceil - 1`.

    At a fixed point every state has probability above ``1 - p`` (otherwise
    the others already reach ``p`` and the state is cut), and ``n`` such
    states need ``n (1 - p) < 1``. ``p`` is read as the decimal it prints as
    (0.9 is 9/10, not the nearest binary double). ``top_p = 1`` gives no
    bound: ``math.inf``.

    Parameters
    ----------
    top_p : float in (0, 1]

    Returns
    -------
    int (or ``math.inf`` for ``top_p = 1``)

    Examples
    --------
    >>> from collapse_theory.theory import sampling as ths
    >>> ths.top_p_max_support(0.95), ths.top_p_max_support(0.9), ths.top_p_max_support(0.5)
    (19, 9, 1)
    """
    p = check_float("top_p", top_p, min=0.0, max=1.0, min_inclusive=False)
    if p == 1.0:
        return math.inf
    from fractions import Fraction

    gap = 1 - Fraction(repr(p))  # the decimal the user wrote
    n = math.ceil(1 / gap) - 1
    return int(n)


def top_p_fixed_point(p0, top_p: float, *, max_generations: int = 10000) -> tuple:
    """Iterate the top-p map from ``p0`` to its fixed point.

    Parameters
    ----------
    p0 : array_like, shape (K,)
    top_p : float in (0, 1]
    max_generations : int, >= 1
        RuntimeError if no fixed point is reached in this many generations.

    Returns
    -------
    (ndarray shape (K,), int)
        The fixed point and the number of generations that reached it.

    Examples
    --------
    >>> from collapse_theory.theory import sampling as ths
    >>> q, t = ths.top_p_fixed_point([0.4, 0.3, 0.2, 0.1], 0.8)  # 0.4 + 0.3 < 0.8: three states stay
    >>> q.round(3).tolist(), t
    ([0.444, 0.333, 0.222, 0.0], 1)
    """
    p = check_probability_vector("p0", p0)
    s = Sampler(top_p=top_p)
    for t in range(check_int("max_generations", max_generations, min=1)):
        q = s.apply(p)
        if np.count_nonzero(q) == np.count_nonzero(p):
            return q, t
        p = q
    raise RuntimeError(f"top-p map did not reach a fixed point in {max_generations} generations")


# ----------------------------------------------------------------------------- finite M


def first_generation(p0, M: int, sampler=None, *, mixing: Mixing | None = None) -> dict:
    """Exact generation-1 values for any sampler: its ``M`` samples are i.i.d. from ``q = C(S(p0))``.

    .. math:: E|\\text{supp}_1| = \\sum_i [1 - (1 - q_i)^M],\\quad E H_1 = (1 - 1/M)(1 - \\sum_i q_i^2),
              \\quad E\\,\\text{alive}_1 = \\sum_i p_{0,i} [1 - (1 - q_i)^M].

    With ``mixing=Mixing.fresh(real=g)`` the law is ``(1 - g) q + g p0``.

    Parameters
    ----------
    p0 : array_like, shape (K,)
    M : int, >= 1
        Sample size of generation 1.
    sampler : Sampler, optional
    mixing : Mixing, optional
        replace (default) or fresh.

    Returns
    -------
    dict
        ``support``, ``heterozygosity``, ``alive_mass`` (floats) and ``law`` (shape (K,)).

    Examples
    --------
    >>> import collapse_theory as ct
    >>> from collapse_theory.theory import sampling as ths
    >>> round(ths.first_generation([0.5, 0.5], 2, ct.Sampler(top_k=1))["support"], 12)
    1.0
    """
    p = check_probability_vector("p0", p0)
    M = check_int("M", M, min=1)
    s = _sampler(sampler)
    s.check_states(p.size)
    q = curated_law(p, s)
    g = _fresh_share(mixing)
    q = (1 - g) * q + g * p
    with np.errstate(divide="ignore"):
        alive = -np.expm1(M * np.log1p(-np.minimum(q, 1.0)))
    return {
        "support": float(alive.sum()),
        "heterozygosity": float((1 - 1 / M) * (1 - np.sum(q**2))),
        "alive_mass": float(p @ alive),
        "law": q,
    }


def _fresh_share(mixing) -> float:
    if mixing is None:
        return 0.0
    if not isinstance(mixing, Mixing):
        raise TypeError(f"mixing must be a collapse_theory.Mixing, got {type(mixing).__name__}")
    if mixing.workflow not in ("replace", "fresh"):
        raise ValueError(
            f"mixing: exact sampler theory covers the replace and fresh workflows, got {mixing.workflow!r}; "
            "accepted workflows: replace, fresh"
        )
    return mixing.real


def fixed_truncation(p0, M: int, t, sampler) -> dict:
    """Exact finite-``M`` values under a top-k cut without temperature (replace workflow).

    The first generation is drawn from :math:`q = \\text{top-k}(p_0)`; every
    later model holds at most ``k`` states, so the cut never acts again and
    the chain is the plain neutral chain started from ``q``:
    :math:`E H_t = H(q)(1 - 1/M)^t` and the expected support and alive mass
    are those of :func:`collapse_theory.theory.discrete.expected_support`
    started from ``q`` (alive mass weighted by ``p0``). ``t = 0`` gives ``p0``'s own values.

    Parameters
    ----------
    p0 : array_like, shape (K,)
    M : int
    t : int or array_like of int
    sampler : Sampler
        Only ``top_k`` set (a curation or another cut: ValueError naming ``sampler``).

    Returns
    -------
    dict of ndarray, shape of ``t``
        ``support``, ``heterozygosity``, ``alive_mass``.

    Examples
    --------
    >>> import collapse_theory as ct
    >>> from collapse_theory.theory import sampling as ths
    >>> ex = ths.fixed_truncation([0.4, 0.3, 0.2, 0.1], 10, [0, 1, 5], ct.Sampler(top_k=2))
    >>> ex["support"].round(3).tolist()
    [4.0, 1.996, 1.76]
    """
    from . import discrete as thd

    s = _sampler(sampler)
    if s.top_k is None or s.tau != 1.0 or s.curation is not None or (s.top_p is not None and s.top_p < 1) or s.min_p is not None:
        raise ValueError(
            f"sampler: fixed_truncation is exact for a top-k cut alone, got {s.label()}; use count_chain for small K, M"
        )
    p = check_probability_vector("p0", p0)
    M = check_int("M", M, min=1)
    q = s.apply(p)
    tt = np.atleast_1d(np.asarray(t)).astype(np.int64)
    ext = thd.extinction_probability(q, M, tt)  # (K, len(t)); 1 for states outside the cut
    alive = 1.0 - ext
    sup = alive.sum(axis=0)
    mass = p @ alive
    het = (1 - np.sum(q**2)) * (1 - 1 / M) ** tt.astype(float)
    z = tt == 0
    sup[z] = np.count_nonzero(p)
    mass[z] = 1.0
    het[z] = 1 - np.sum(p**2)
    if np.ndim(t) == 0:
        return {"support": float(sup[0]), "heterozygosity": float(het[0]), "alive_mass": float(mass[0])}
    return {"support": sup, "heterozygosity": het, "alive_mass": mass}


def count_chain_states(K: int, M: int) -> np.ndarray:
    """Every count vector of ``M`` samples over ``K`` states (compositions), shape (C(M+K-1, K-1), K).

    Parameters
    ----------
    K, M : int, >= 1
        ValueError above :data:`COUNT_CHAIN_MAX_STATES` states.

    Returns
    -------
    ndarray of int64, shape (C(M+K-1, K-1), K)
        Every row sums to ``M``.

    Examples
    --------
    >>> from collapse_theory.theory import sampling as ths
    >>> ths.count_chain_states(2, 2).tolist()
    [[0, 2], [1, 1], [2, 0]]
    """
    K = check_int("K", K, min=1)
    M = check_int("M", M, min=1)
    n = math.comb(M + K - 1, K - 1)
    if n > COUNT_CHAIN_MAX_STATES:
        raise ValueError(
            f"K = {K}, M = {M}: the count chain has C(M+K-1, K-1) = {n} states, above COUNT_CHAIN_MAX_STATES = "
            f"{COUNT_CHAIN_MAX_STATES}; use smaller K or M"
        )
    out = np.empty((n, K), dtype=np.int64)
    for row, bars in enumerate(itertools.combinations(range(M + K - 1), K - 1)):
        prev = -1
        for j, b in enumerate(bars):
            out[row, j] = b - prev - 1
            prev = b
        out[row, K - 1] = M + K - 2 - prev
    return out


def _multinomial_rows(states: np.ndarray, laws: np.ndarray, M: int) -> np.ndarray:
    """``P[a, b] = Multinomial(M, laws[a]).pmf(states[b])``."""
    with np.errstate(divide="ignore"):
        L = np.where(laws > 0, np.log(np.where(laws > 0, laws, 1.0)), -1e30)
    logc = special.gammaln(M + 1) - special.gammaln(states + 1).sum(axis=1)
    return np.exp(logc[None, :] + L @ states.T.astype(np.float64))


def count_chain_matrix(p0, M: int, sampler=None, *, mixing: Mixing | None = None):
    """Transition matrix of the ``K``-type count chain under a sampler.

    The state is the count vector ``c`` of the current dataset (``M``
    samples); the next one is :math:`\\text{Multinomial}(M, (1-g)\\,C(S(c/M)) + g\\,p_0)`
    (``g`` the fresh share). Every row is computed from the multinomial pmf.

    Parameters
    ----------
    p0 : array_like, shape (K,)
    M : int, >= 1
    sampler : Sampler, optional
    mixing : Mixing, optional
        replace (default) or fresh.

    Returns
    -------
    states : ndarray, shape (n, K)
        :func:`count_chain_states`.
    P : ndarray, shape (n, n)
        Row-stochastic.

    Examples
    --------
    >>> from collapse_theory.theory import sampling as ths
    >>> states, P = ths.count_chain_matrix([0.5, 0.5], 2)
    >>> P.round(3).tolist()  # the fixed counts [0, 2] and [2, 0] are absorbing
    [[1.0, 0.0, 0.0], [0.25, 0.5, 0.25], [0.0, 0.0, 1.0]]
    """
    p = check_probability_vector("p0", p0)
    M = check_int("M", M, min=1)
    s = _sampler(sampler)
    s.check_states(p.size)
    g = _fresh_share(mixing)
    states = count_chain_states(p.size, M)
    laws = np.array([(1 - g) * curated_law(c / M, s) + g * p for c in states])
    return states, _multinomial_rows(states, laws, M)


def count_chain(p0, M: int, generations: int, sampler=None, *, mixing: Mixing | None = None, reward=None) -> dict:
    """Exact expected statistics of the sampled chain at small ``K`` and ``M`` (replace or fresh).

    The law of the count vector is propagated with :func:`count_chain_matrix`
    (generation 1: :math:`\\text{Multinomial}(M, C(S(p_0)))`); the expected
    statistic is its average over that law. Exact up to floating point (and
    the quadrature tolerance of a Bradley–Terry curation). With ``K = 2`` the
    chain has ``M + 1`` states, so any sampler is exact up to
    ``M = COUNT_CHAIN_MAX_STATES - 1``.

    Parameters
    ----------
    p0 : array_like, shape (K,)
    M, generations : int
    sampler : Sampler, optional
    mixing : Mixing, optional
        replace (default) or fresh.
    reward : array_like, shape (K,), optional
        Defaults to the BestOfK curation's reward, if any.

    Returns
    -------
    dict of ndarray, shape (G + 1,)
        ``support``, ``entropy``, ``heterozygosity``, ``alive_mass`` and
        ``reward`` (NaN without a reward vector); index 0 is ``p0``.

    Examples
    --------
    >>> import collapse_theory as ct
    >>> from collapse_theory.theory import sampling as ths
    >>> ex = ths.count_chain([0.5, 0.5], 4, 2)
    >>> round(float(ex["heterozygosity"][2]), 6) == round(0.5 * (3 / 4) ** 2, 6)
    True
    """
    p = check_probability_vector("p0", p0)
    G = check_int("generations", generations, min=0)
    s = _sampler(sampler)
    states, P = count_chain_matrix(p, M, s, mixing=mixing)
    g = _fresh_share(mixing)
    if reward is None and isinstance(s.curation, BestOfK):
        reward = s.curation.reward
    r = None if reward is None else check_array("reward", reward, ndim=1)
    if r is not None and r.size != p.size:
        raise ValueError(f"reward must have one entry per state (K = {p.size}), got {r.size}")
    f = states / M
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.sum(np.where(f > 0, f * np.log(np.where(f > 0, f, 1.0)), 0.0), axis=1)
    stats = {
        "support": (states > 0).sum(axis=1).astype(float),
        "entropy": ent,
        "heterozygosity": 1 - np.sum(f**2, axis=1),
        "alive_mass": (states > 0) @ p,
        "reward": f @ r if r is not None else np.full(len(states), np.nan),
    }
    out = {k: np.empty(G + 1) for k in stats}
    pos = p[p > 0]
    out["support"][0] = pos.size
    out["entropy"][0] = -np.sum(pos * np.log(pos))
    out["heterozygosity"][0] = 1 - np.sum(p**2)
    out["alive_mass"][0] = 1.0
    out["reward"][0] = float(p @ r) if r is not None else np.nan
    if G >= 1:
        q1 = (1 - g) * curated_law(p, s) + g * p
        pi = _multinomial_rows(states, q1[None, :], M)[0]
        for t in range(1, G + 1):
            for k, v in stats.items():
                out[k][t] = pi @ v
            pi = pi @ P
    return out


# ----------------------------------------------------------------------------- tale of tails


def memorising_test_error(p, T, q=None):
    """Test error of a memorising learner: :math:`\\sum_i p_i (1 - q_i)^T` (``q = p``: clean data).

    The learner memorises the states seen in ``T`` training samples from
    ``q`` and errs on a test state from ``p`` it has never seen (Dohmatob et
    al., ICML 2024, "A tale of tails", arXiv 2402.07043).

    Parameters
    ----------
    p : array_like, shape (K,)
        Test distribution.
    T : int or array_like of int
        Training samples.
    q : array_like, shape (K,), optional
        Training distribution (default ``p``).

    Returns
    -------
    float or ndarray, shape of ``T``

    Examples
    --------
    >>> from collapse_theory.theory import sampling as ths
    >>> float(ths.memorising_test_error([0.5, 0.5], 1))
    0.5
    """
    p = check_probability_vector("p", p)
    q = p if q is None else check_probability_vector("q", q)
    if q.size != p.size:
        raise ValueError(f"q must have one entry per state (K = {p.size}), got {q.size}")
    Ta = _check_T(T)
    miss = np.clip(1.0 - q, 0.0, 1.0)
    out = p @ (miss[:, None] ** Ta.ravel()[None, :])
    return float(out[0]) if Ta.ndim == 0 else out.reshape(Ta.shape)


def tail_cut_test_error(p, k: int, T):
    """Test error when the training data's tail is cut at rank ``k``.

    .. math:: E_{test} = \\sum_{i \\le k} p_i (1 - q_i)^T + \\sum_{i > k} p_i,\\qquad q = p_{\\le k} / \\sum_{i\\le k} p_i

    (ranks by decreasing ``p``, ties by index; Dohmatob et al. 2024).

    Parameters
    ----------
    p : array_like, shape (K,)
        Test distribution.
    k : int, >= 1
        The training data keep the ``k`` most probable states.
    T : int or array_like of int
        Training samples.

    Returns
    -------
    float or ndarray, shape of ``T``

    Examples
    --------
    >>> from collapse_theory.theory import sampling as ths
    >>> float(ths.tail_cut_test_error([0.5, 0.3, 0.2], 2, 10**6))  # only the cut tail is missed
    0.2
    """
    p = check_probability_vector("p", p)
    k = check_int("k", k, min=1)
    q = Sampler(top_k=k).apply(p)
    return memorising_test_error(p, T, q)


def zipf_test_error_asymptotic(beta: float, T, k=None):
    """Leading-order test error on an infinite Zipf(:math:`\\beta`) law, :math:`p_i = i^{-\\beta}/\\zeta(\\beta)`.

    .. math:: E_{test}(T) \\simeq \\frac{\\Gamma(1 - 1/\\beta)}{\\beta\\, \\zeta(\\beta)^{1/\\beta}} T^{-(1-1/\\beta)},
              \\qquad \\sum_{i>k} p_i \\simeq \\frac{k^{-(\\beta-1)}}{(\\beta - 1)\\zeta(\\beta)},

    and with the tail cut at ``k`` the sum of the two (the ``T`` term is the
    clean one: the head's renormalisation changes it at higher order). From
    :math:`\\sum_i p_i e^{-T p_i} \\approx \\int_0^\\infty` with the substitution
    :math:`y = T x^{-\\beta}/\\zeta` (:func:`derivations`, ``tale_of_tails``).
    Needs ``beta > 1``.

    Parameters
    ----------
    beta : float, > 1
    T : int or array_like of int
        Training samples.
    k : int, optional
        Rank at which the training data's tail is cut (default: no cut).

    Returns
    -------
    float or ndarray, shape of ``T``

    Examples
    --------
    >>> from collapse_theory.theory import sampling as ths
    >>> round(ths.zipf_test_error_asymptotic(2.0, 10**4), 5)
    0.00691
    """
    beta = check_float("beta", beta, min=1.0, min_inclusive=False)
    Ta = _check_T(T)
    z = special.zeta(beta)
    clean = special.gamma(1 - 1 / beta) / (beta * z ** (1 / beta)) * np.power(np.maximum(Ta, 1e-300), -(1 - 1 / beta))
    if k is not None:
        k = check_int("k", k, min=1)
        clean = clean + k ** (-(beta - 1)) / ((beta - 1) * z)
    return float(clean) if np.ndim(clean) == 0 else clean


def tail_test_error_chain(p0, sampler, T, generations: int) -> np.ndarray:
    """Test error on ``p0`` of a memorising learner trained on ``T`` samples of each generation of the infinite-population chain.

    Generation ``t`` trains on :math:`q_t` = row ``t`` of
    :func:`infinite_population` (``t = 0`` is clean data), so a top-k chain
    gives the tail-cut error from ``t = 1`` on and a top-p chain an error that
    grows as its support shrinks to the fixed point.

    Parameters
    ----------
    p0 : array_like, shape (K,)
    sampler : Sampler or None
    T : int or array_like of int
        Training samples per generation.
    generations : int, >= 0
        ``G``.

    Returns
    -------
    ndarray, shape (G + 1,) or (G + 1, len(T))

    Examples
    --------
    >>> import collapse_theory as ct
    >>> from collapse_theory.theory import sampling as ths
    >>> ths.tail_test_error_chain([0.5, 0.3, 0.2], ct.Sampler(top_k=2), 10**6, 2).round(6).tolist()
    [0.0, 0.2, 0.2]
    """
    p = check_probability_vector("p0", p0)
    chain = infinite_population(p, sampler, generations)
    return np.array([memorising_test_error(p, T, q / q.sum()) for q in chain])


# ----------------------------------------------------------------------------- derivations


def derivations() -> dict:
    """SymPy derivations of the formulas in this module.

    Returns
    -------
    dict of str to Derivation
        ``temperature`` (exponent recursion), ``top_p_support`` (the fixed-point
        bound), ``top_k`` (the plain chain after one cut), ``bradley_terry``
        (the integral identity and the large-K limit), ``best_of_k_argmax``,
        ``verifier``, ``first_generation``, ``tale_of_tails`` (the Zipf
        integral and the tail mass).

    Examples
    --------
    >>> from collapse_theory.theory import sampling as ths
    >>> d = ths.derivations()
    >>> type(d["top_p_support"]).__name__, "tale_of_tails" in d
    ('Derivation', True)
    """
    import sympy as sp

    out = {}
    t = sp.Symbol("t", integer=True, nonnegative=True)
    tau = sp.Symbol("tau", positive=True)
    e = sp.Function("e")
    sol = sp.rsolve(e(t + 1) - e(t) / tau, e(t), {e(0): 1})
    out["temperature"] = Derivation(
        "temperature composes: p_t ∝ p_0^(tau^-t)",
        [
            ("one generation: p_{t+1} ∝ p_t^(1/tau), so with p_t ∝ p_0^(e_t)", sp.Eq(e(t + 1), e(t) / tau)),
            ("e_0 = 1, solved", sp.Eq(e(t), sol)),
        ],
        sp.simplify(sol),
        source="Marchi et al. 2024, arXiv 2404.02325",
    )
    n, p = sp.symbols("n p", positive=True)
    q_min = sp.Symbol("q_min", positive=True)
    out["top_p_support"] = Derivation(
        "top-p fixed point: every state above 1 - p, at most ceil(1/(1-p)) - 1 states",
        [
            ("a state of probability q_min <= 1 - p leaves the others mass 1 - q_min >= p, so it is cut", sp.Ge(1 - q_min, p)),
            ("n surviving states, each above 1 - p, sum to 1", sp.Lt(n * (1 - p), 1)),
            ("largest such n", sp.ceiling(1 / (1 - p)) - 1),
        ],
        sp.ceiling(1 / (1 - p)) - 1,
        source="Drayson et al. 2025, arXiv 2502.15654; derived here",
    )
    M, Hq = sp.symbols("M H_q", positive=True)
    H = sp.Function("H")
    hsol = sp.rsolve(H(t + 1) - (1 - 1 / M) * H(t), H(t), {H(1): (1 - 1 / M) * Hq})
    out["top_k"] = Derivation(
        "top-k without temperature cuts once: the plain chain from q = top-k(p0)",
        [
            ("generation 1 ~ Multinomial(M, q): E H_1", (1 - 1 / M) * Hq),
            ("support of every later model <= k, so top-k keeps all: E H_{t+1} = (1 - 1/M) E H_t", sp.Eq(H(t + 1), (1 - 1 / M) * H(t))),
        ],
        sp.simplify(hsol),
        source="theory.discrete.heterozygosity applied to q",
    )
    a, S, u, K = sp.symbols("a S u K", positive=True)
    w, c = sp.symbols("w c", positive=True)
    identity = sp.integrate(sp.exp(-(a + S) * u), (u, 0, sp.oo))
    # K -> infinity: (1/K) sum_{i<K} e^{r(X_i)} -> c = E e^{r(X)}, so K w / (w + S) -> w / c
    limit = sp.limit(K * w / (w + (K - 1) * c), K, sp.oo)
    out["bradley_terry"] = Derivation(
        "best-of-K with Bradley-Terry choice",
        [
            ("P(x) = p(x) E[K w_x / (w_x + S)], S = sum_{i<K} w(X_i), w = e^r", sp.Symbol("p_x") * K * w * sp.Symbol("E[1/(w_x+S)]")),
            ("1/(a + S) as an integral", sp.Eq(1 / (a + S), identity)),
            ("so E[1/(a+S)] = int_0^oo e^{-a u} phi(u)^(K-1) du, phi(u) = E e^{-u w(X)}", sp.Integral(sp.exp(-a * u) * sp.Function("phi")(u) ** (K - 1), (u, 0, sp.oo))),
            ("law of large numbers in S: K w/(w + (K-1) c) as K -> oo, c = E e^{r(X)}", limit),
        ],
        sp.Eq(sp.Symbol("p_{t+1}(x)"), sp.Symbol("p_t(x)") * w / c),
        source="Ferbach et al., NeurIPS 2024, arXiv 2407.09499",
    )
    Fle, Flt, Kk = sp.symbols("F_le F_lt K", positive=True)
    out["best_of_k_argmax"] = Derivation(
        "best-of-K argmax: the law of the largest reward among K i.i.d. candidates",
        [
            ("P(max reward <= r) = F(<= r)^K for K independent candidates", Fle**Kk),
            ("P(max reward = r) = F(<= r)^K - F(< r)^K, split among states of reward r in proportion to p", Fle**Kk - Flt**Kk),
        ],
        sp.Symbol("p_x") / (Fle - Flt) * (Fle**Kk - Flt**Kk),
        source="Ferbach et al., NeurIPS 2024, arXiv 2407.09499 (best-of-K selection); derived here",
    )
    v, qx = sp.symbols("v_x q_x", positive=True)
    acc = sp.Symbol("a", positive=True)  # P(accept) = sum_j q_j v_j
    nn = sp.Symbol("n", integer=True, nonnegative=True)
    geo = sp.Sum((1 - acc) ** nn * qx * v, (nn, 0, sp.oo))
    geo_value = sp.simplify(sp.summation((1 - acc) ** nn, (nn, 0, sp.oo)).args[0][0]) * qx * v  # the branch |1 - a| < 1
    out["verifier"] = Derivation(
        "verifier: the first accepted sample of a rejection loop",
        [
            ("P(first accepted sample is x): n rejections, then x drawn and accepted; a = sum_j q_j v_j in (0, 1]", geo),
            ("geometric series, |1 - a| < 1", geo_value),
        ],
        geo_value,
        source="Feng et al. 2024, arXiv 2406.07515; derived here",
    )
    qi = sp.Symbol("q_i", positive=True)
    out["first_generation"] = Derivation(
        "generation 1 under any sampler: M i.i.d. draws from q = C(S(p0))",
        [("P(state i seen)", 1 - (1 - qi) ** M), ("E H_1 = (1 - 1/M)(1 - sum q_i^2)", (1 - 1 / M) * (1 - sp.Symbol("S_q")))],
        sp.Sum(1 - (1 - sp.Indexed("q", sp.Symbol("i"))) ** M, (sp.Symbol("i"), 1, sp.Symbol("K"))),
        source="derived here",
    )
    beta, T, x, y, z, k = sp.symbols("beta T x y zeta k", positive=True)
    integrand = (x**-beta / z) * sp.exp(-T * x**-beta / z)
    # y = T x^-beta / zeta  =>  x = (T / (zeta y))^(1/beta), |dx/dy| = (1/beta) (T/zeta)^(1/beta) y^(-1/beta - 1)
    sub = (y / T) * sp.exp(-y) * (1 / beta) * (T / z) ** (1 / beta) * y ** (-1 / beta - 1)
    val = sp.simplify(sp.gamma(1 - 1 / beta) * sp.simplify(sub / (y ** (-1 / beta) * sp.exp(-y))))
    tail = sp.integrate(x**-beta / z, (x, k, sp.oo), conds="none")
    out["tale_of_tails"] = Derivation(
        "tale of tails: memorising learner on Zipf(beta)",
        [
            ("E_test = sum_i p_i (1 - p_i)^T ~ int p(x) e^{-T p(x)} dx, p(x) = x^-beta / zeta", integrand),
            ("substitute y = T x^-beta / zeta", sub),
            ("int_0^oo y^(-1/beta) e^-y dy = Gamma(1 - 1/beta)", val),
            ("tail mass beyond rank k", sp.simplify(tail)),
        ],
        sp.Eq(sp.Symbol("E_test"), val + sp.simplify(tail)),
        source="Dohmatob et al., ICML 2024, arXiv 2402.07043",
    )
    return out
