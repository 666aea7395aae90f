"""The discrete collapse chain: a model that is the empirical distribution of its data.

Section "Discrete distributions with exact approximation" of Shumailov et al.
(Nature 631, 2024). Generation 0 is the true distribution ``p0`` over ``K``
states (not data). Generation ``t >= 1`` is the empirical distribution of
``M_t`` samples drawn i.i.d. from the mixture that :class:`~collapse_theory.Mixing`
names:

* replace (``alpha = 1``): from the generation ``t - 1`` model; this is
  neutral Wright–Fisher drift with ``M`` copies and ``K`` types;
* fresh (``real = gamma > 0``): each sample comes from ``p0`` with
  probability ``gamma``, otherwise from the current model;
* mixture (``previous = beta > 0``): a sample comes from the distribution the
  previous dataset was drawn from with probability ``beta``
  (``q_t = alpha m_t + beta q_{t-1} + gamma p0``, ``q_0 = p0``);
* accumulate (``pooled``): the model is the empirical distribution of all data
  drawn so far (generation 1 is fitted to ``M_1`` samples of ``p0``; each later
  generation adds ``M_t`` new samples, a share ``real`` from ``p0``);
* accumulate-subsample (``pooled`` and ``subsample``; Kazdan et al. 2024): the
  pool grows by ``M_t`` samples per generation as under accumulate, and the
  model is the empirical distribution of a uniform subset of ``M_t`` samples
  of the pool drawn without replacement (a multivariate hypergeometric draw
  of the pool's counts);
* augment (``synthetic_ratio = lambda``; Bertrand et al. 2024): the model is
  the empirical distribution of the original sample ``D_0`` (the ``M_1``
  samples of generation 1, kept fixed) plus ``round(lambda M_1)`` new draws
  from the current model.

A :class:`~collapse_theory.sampling.Sampler` (temperature, top-k, top-p,
min-p, curation) is applied to every model before its samples are drawn,
``p0`` included under replace and fresh (so the infinite-population limit is
``p_t = S^t(p0)``); under accumulate, accumulate-subsample and augment the
first dataset is the original data, drawn from ``p0`` itself. Fresh samples
from ``p0`` are never passed through the sampler.

The kernels are in :mod:`._kernels_discrete` (plain chain) and
:mod:`._kernels_sampling` (sampler, curation, accumulate-subsample, augment);
this module validates and shapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._rng import replicate_seeds
from .._validate import _short, check_int, check_names, check_probability_vector
from ..process import Mixing, as_schedule
from ..sampling import BestOfK, Sampler, Verifier

__all__ = ["DiscreteChain", "DiscreteRun", "Absorption", "RECORDABLE", "PROBS_LIMIT_BYTES", "MEMORY_LIMIT_BYTES"]

#: Statistics :meth:`DiscreteChain.simulate` can record.
RECORDABLE = ("support", "entropy", "heterozygosity", "alive_mass", "probs", "reward")

#: Largest ``probs`` record allowed, ``R (G + 1) K * 8`` bytes (2 GiB).
PROBS_LIMIT_BYTES = 2 * 1024**3

#: Largest working memory :meth:`DiscreteChain.simulate` and :meth:`DiscreteChain.absorb`
#: may allocate (outputs, the schedule and the per-thread sample buffers), 8 GiB: above it
#: they refuse with a ValueError giving the estimate instead of failing part-way.
MEMORY_LIMIT_BYTES = 8 * 1024**3

#: Replicates per kernel call when a progress bar is shown.
_CHUNK = 256


def _check_bool(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {_short(value)} of type {type(value).__name__}")
    return bool(value)


def _gib(n: float) -> str:
    return f"{n / 2**30:.3g} GiB"


def _check_memory(where: str, parts: dict, culprit: str, hint: str = "") -> None:
    """Refuse (ValueError naming ``culprit`` and the estimate) when the summed ``parts`` exceed the limit."""
    need = float(sum(parts.values()))
    if need > MEMORY_LIMIT_BYTES:
        detail = ", ".join(f"{k} {_gib(v)}" for k, v in parts.items() if v)
        raise ValueError(
            f"{where}: {culprit} would need about {_gib(need)} of memory ({detail}), above "
            f"MEMORY_LIMIT_BYTES = {_gib(MEMORY_LIMIT_BYTES)}; " + (hint or f"use a smaller {culprit}")
        )


def _threads() -> int:
    import numba

    return int(numba.get_num_threads())


def _p0_order(p0: np.ndarray):
    """States with ``p0 > 0`` by decreasing ``p0``, the mass from each onward, and their alias table."""
    from ._kernels_discrete import build_alias

    order = np.flatnonzero(p0 > 0)
    order = order[np.argsort(-p0[order], kind="stable")].astype(np.int64)
    suffix = np.cumsum(p0[order][::-1])[::-1].copy()
    aprob, alias = build_alias(np.ascontiguousarray(p0[order]))
    return order, suffix, aprob, alias


@dataclass
class DiscreteRun:
    """Per-replicate, per-generation statistics of :meth:`DiscreteChain.simulate`.

    Column 0 is generation 0 (``p0`` itself); column ``t`` the model of
    generation ``t``. Only the recorded statistics are arrays, the others None.

    Attributes
    ----------
    generation : ndarray, shape (G + 1,)
        ``0, 1, ..., G``.
    sample_sizes : ndarray, shape (G,)
        ``M_1, ..., M_G``.
    support : ndarray of int64, shape (R, G + 1) or None
        Number of states with positive probability.
    entropy : ndarray, shape (R, G + 1) or None
        Shannon entropy in nats, :math:`-\\sum_i p_i \\ln p_i`.
    heterozygosity : ndarray, shape (R, G + 1) or None
        :math:`1 - \\sum_i p_i^2`.
    alive_mass : ndarray, shape (R, G + 1) or None
        :math:`\\sum_{i\\,\\text{alive}} p_{0,i}`, the original mass of the states still present.
    probs : ndarray, shape (R, G + 1, K) or None
        The distributions themselves.
    reward : ndarray, shape (R, G + 1) or None
        :math:`\\sum_i p_i r(i)`, the model's expected reward (only with a
        :class:`~collapse_theory.sampling.BestOfK` curation, whose reward it uses).
    """

    generation: np.ndarray
    sample_sizes: np.ndarray
    support: np.ndarray | None = None
    entropy: np.ndarray | None = None
    heterozygosity: np.ndarray | None = None
    alive_mass: np.ndarray | None = None
    probs: np.ndarray | None = None
    reward: np.ndarray | None = None
    params: dict = field(default_factory=dict)

    @property
    def replicates(self) -> int:
        for name in RECORDABLE:
            v = getattr(self, name)
            if v is not None:
                return v.shape[0]
        return 0


@dataclass
class Absorption:
    """Result of :meth:`DiscreteChain.absorb`.

    Attributes
    ----------
    time : ndarray of int64, shape (R,)
        Generation at which one state first held all mass (0 if ``p0`` is a
        point mass); ``max_generations`` for a censored replicate.
    state : ndarray of int64, shape (R,)
        The fixed state; -1 if censored.
    extinction : ndarray of int64, shape (R, K)
        Generation at which each state vanished; -1 if it never did (the fixed
        state, and live states of a censored replicate); 0 if ``p0_i = 0``.
    censored : ndarray of bool, shape (R,)
        True if the replicate was not absorbed within ``max_generations``.
    max_generations : int
    """

    time: np.ndarray
    state: np.ndarray
    extinction: np.ndarray
    censored: np.ndarray
    max_generations: int
    params: dict = field(default_factory=dict)


@dataclass(frozen=True, init=False, eq=False)
class DiscreteChain:
    """Recursive fitting of the empirical distribution (neutral Wright–Fisher drift).

    Parameters
    ----------
    p0 : array_like, shape (K,)
        The true distribution (generation 0); non-negative, summing to 1.
    sample_size : int, Schedule or array of int
        ``M``, the number of samples each generation is fitted to, or a
        schedule ``M_1, M_2, ...`` (:mod:`collapse_theory.process`).
    mixing : Mixing, optional
        Where the samples come from (default: replace, the paper's theory).
        Every workflow is simulated; the mixture workflow (``previous > 0``)
        does not take a sampler.
    sampler : Sampler, optional
        How each model is sampled (temperature, top-k, top-p, min-p,
        curation; :mod:`collapse_theory.sampling`). None or an identity
        sampler is the plain chain, draw for draw.

    Examples
    --------
    >>> import collapse_theory as ct
    >>> chain = ct.DiscreteChain([0.5, 0.5], sample_size=10)
    >>> ab = chain.absorb(replicates=4, rng=0)
    >>> ab.time.shape, bool(ab.censored.any())
    ((4,), False)
    >>> hot = ct.DiscreteChain([0.6, 0.3, 0.1], sample_size=50, sampler=ct.Sampler(top_k=2))
    >>> int(hot.simulate(5, 3, rng=0).support[:, 1:].max())
    2
    """

    p0: np.ndarray
    sample_size: object
    mixing: Mixing
    sampler: Sampler | None

    def __init__(self, p0, sample_size, mixing: Mixing | None = None, sampler: Sampler | None = None):
        p0 = check_probability_vector("p0", p0)
        p0.setflags(write=False)
        schedule = as_schedule(sample_size, "sample_size")
        if mixing is None:
            mixing = Mixing.replace()
        if not isinstance(mixing, Mixing):
            raise TypeError(f"mixing must be a collapse_theory.Mixing, got {type(mixing).__name__}")
        if mixing.pooled and mixing.previous > 0:
            raise ValueError(
                "mixing: pooled (accumulate) with previous > 0 is not defined for the discrete chain; "
                "use Mixing.accumulate(real=...) or previous = 0"
            )
        if schedule.kind == "constant" and schedule.m0 >= 2**62:
            raise ValueError(f"sample_size must be below 2**62 (the counts are int64), got {schedule.m0}")
        object.__setattr__(self, "p0", p0)
        object.__setattr__(self, "sample_size", schedule)
        if sampler is not None:
            if not isinstance(sampler, Sampler):
                raise TypeError(f"sampler must be a collapse_theory.Sampler, got {type(sampler).__name__}")
            sampler.check_states(p0.size)
            if mixing.workflow == "mixture" and not sampler.is_identity:
                raise ValueError(
                    "mixing: the mixture workflow (previous > 0) does not take a sampler; accepted workflows with a "
                    "sampler: replace, fresh, accumulate, accumulate-subsample, augment"
                )
        object.__setattr__(self, "mixing", mixing)
        object.__setattr__(self, "sampler", sampler)

    @property
    def K(self) -> int:
        """Number of states."""
        return self.p0.size

    def _params(self, **more) -> dict:
        smp = None if self.sampler is None else self.sampler.to_dict()
        return {"K": self.K, "sample_size": self.sample_size.to_dict(), "mixing": self.mixing.to_dict(), "sampler": smp, **more}

    @property
    def _plain(self) -> bool:
        """True if the plain kernel runs this chain (no active sampler, a workflow it knows)."""
        return (self.sampler is None or self.sampler.is_identity) and self.mixing.workflow in (
            "replace", "fresh", "mixture", "accumulate")

    def simulate(
        self,
        generations: int,
        replicates: int,
        *,
        rng=None,
        record=("support", "entropy", "heterozygosity"),
        show_progress: bool = False,
    ) -> DiscreteRun:
        """Run ``replicates`` independent chains for ``generations`` generations.

        Parameters
        ----------
        generations : int
            ``G >= 0``.
        replicates : int
            ``R >= 1``.
        rng : None, int, SeedSequence or Generator
            One seed per replicate is derived from it; results do not depend on
            the number of Numba threads.
        record : str or sequence of str
            Any of :data:`RECORDABLE`. ``probs`` needs ``R (G + 1) K * 8`` bytes
            and is refused above :data:`PROBS_LIMIT_BYTES` (2 GiB). ``reward``
            needs a :class:`~collapse_theory.sampling.BestOfK` curation.
        show_progress : bool
            Show a progress bar (replicates are run in chunks; the result is the same).

        Returns
        -------
        DiscreteRun
            Recorded arrays of shape (R, G + 1) (``probs``: (R, G + 1, K)).

        Raises
        ------
        ValueError
            Bad sizes or names; ``reward`` without a best-of-K curation; a
            verifier that accepts none of the states a model still holds.
        """
        from ._kernels_discrete import simulate_kernel

        G = check_int("generations", generations, min=0)
        R = check_int("replicates", replicates, min=1)
        rec = check_names("record", record, RECORDABLE)
        if not rec:
            raise ValueError(f"record must name at least one statistic of {RECORDABLE}, got {record!r}")
        show_progress = _check_bool("show_progress", show_progress)
        K = self.K
        _check_memory(
            "simulate",
            {"outputs": R * (G + 1) * 8.0 * len([r for r in rec if r != "probs"]), "schedule": 8.0 * G},
            "generations" if G >= R else "replicates",
        )
        if "probs" in rec:
            need = R * (G + 1) * K * 8
            if need > PROBS_LIMIT_BYTES:
                raise ValueError(
                    f"record='probs' would need R*(G+1)*K*8 = {R}*{G + 1}*{K}*8 = {need / 2**30:.2f} GiB, "
                    f"above the limit PROBS_LIMIT_BYTES = {PROBS_LIMIT_BYTES / 2**30:.0f} GiB; "
                    "record 'support', 'entropy', 'heterozygosity' or 'alive_mass' instead, or fewer replicates"
                )
        if "reward" in rec and not (self.sampler is not None and isinstance(self.sampler.curation, BestOfK)):
            raise ValueError("record: 'reward' needs a sampler with a BestOfK curation (its reward vector)")
        seeds = replicate_seeds(rng, R)
        sizes = self.sample_size.sizes(G)
        m = self.mixing
        if G > 0 and not m.pooled:  # one buffer of max(M_t) sample labels per thread
            _check_memory("simulate", {"sample buffers": 8.0 * int(sizes.max()) * min(R, _threads())}, "sample_size")
        p0 = np.ascontiguousarray(self.p0, dtype=np.float64)
        order, suffix, aprob, alias = _p0_order(p0)
        rs = np.array([name in rec for name in RECORDABLE], dtype=np.bool_)
        sup = np.zeros((R, G + 1) if rs[0] else (1, 1), dtype=np.int64)
        ent = np.zeros((R, G + 1) if rs[1] else (1, 1))
        het = np.zeros((R, G + 1) if rs[2] else (1, 1))
        mass = np.zeros((R, G + 1) if rs[3] else (1, 1))
        probs = np.zeros((R, G + 1, K) if rs[4] else (1, 1, 1))
        rew = np.zeros((R, G + 1) if rs[5] else (1, 1))
        if G > 0:
            from .._progress import progress

            if not self._plain:
                from . import _kernels_sampling as ks

                smp = self.sampler if self.sampler is not None else Sampler()
                cur = smp.curation
                reward = np.zeros(K)
                bt_w = np.ones(K)
                accept = np.ones(K)
                cur_kind, cur_k = ks.CUR_NONE, 1
                if isinstance(cur, BestOfK):
                    reward = np.ascontiguousarray(cur.reward, dtype=np.float64)
                    bt_w = np.exp(reward - reward.max())
                    cur_kind, cur_k = (ks.CUR_ARGMAX if cur.choice == "argmax" else ks.CUR_BT), cur.k
                elif isinstance(cur, Verifier):
                    accept = np.ascontiguousarray(cur.accept, dtype=np.float64)
                    cur_kind = ks.CUR_VERIFIER
                n_aug = int(round(m.synthetic_ratio * sizes[0])) if m.workflow == "augment" else -1
                status = np.zeros(R, dtype=np.int64)
            chunk = _CHUNK if show_progress else R
            bar = progress(total=R, desc="discrete chain", show=show_progress, unit="replicate")
            for lo in range(0, R, chunk):
                hi = min(R, lo + chunk)
                s = slice(lo, hi)
                if self._plain:
                    simulate_kernel(
                        p0, order, suffix, aprob, alias, sizes, m.synthetic, m.previous, m.real, m.pooled, seeds[s], rs[:5],
                        sup[s] if rs[0] else sup, ent[s] if rs[1] else ent, het[s] if rs[2] else het,
                        mass[s] if rs[3] else mass, probs[s] if rs[4] else probs,
                    )
                else:
                    ks.sampled_kernel(
                        p0, order, sizes, m.real, m.pooled, m.subsample, n_aug,
                        smp.tau, smp.top_k or 0, smp.top_p if smp.top_p is not None else 1.0, smp.min_p or 0.0,
                        not (smp.tau != 1.0 or smp.truncates),
                        cur_kind, cur_k, reward, bt_w, accept, seeds[s], rs,
                        sup[s] if rs[0] else sup, ent[s] if rs[1] else ent, het[s] if rs[2] else het,
                        mass[s] if rs[3] else mass, probs[s] if rs[4] else probs, rew[s] if rs[5] else rew, status[s],
                    )
                bar.update(hi - lo)
            bar.close()
            if not self._plain and status.any():
                raise ValueError(
                    f"curation.accept: in {int(status.sum())} of {R} replicates the verifier accepts none of the states "
                    "the sampled model still holds, so no generation of M samples can be kept; give every state a "
                    "positive acceptance probability or a sampler that keeps accepted states"
                )
        # generation 0 is p0 itself
        pos = p0[p0 > 0]
        if rs[0]:
            sup[:, 0] = pos.size
        if rs[1]:
            ent[:, 0] = -np.sum(pos * np.log(pos))
        if rs[2]:
            het[:, 0] = 1.0 - np.sum(p0**2)
        if rs[3]:
            mass[:, 0] = 1.0
        if rs[4]:
            probs[:, 0, :] = p0
        if rs[5]:
            rew[:, 0] = float(p0 @ self.sampler.curation.reward)
        return DiscreteRun(
            generation=np.arange(G + 1),
            sample_sizes=sizes,
            support=sup if rs[0] else None,
            entropy=ent if rs[1] else None,
            heterozygosity=het if rs[2] else None,
            alive_mass=mass if rs[3] else None,
            probs=probs if rs[4] else None,
            reward=rew if rs[5] else None,
            params=self._params(generations=G, replicates=R, record=list(rec)),
        )

    def absorb(
        self, replicates: int, max_generations: int | None = None, *, rng=None, show_progress: bool = False
    ) -> Absorption:
        """Run each replicate until one state holds all mass.

        Only the replace workflow is absorbed: with fresh data (``real > 0``)
        every state of ``p0`` keeps coming back, under accumulation the pool
        keeps every state it ever held, and with ``previous > 0`` the sampling
        distribution never loses a state; these raise ``ValueError``.

        Parameters
        ----------
        replicates : int
            ``R >= 1``.
        max_generations : int, optional
            Censoring horizon; default ``50 M_1 + 1000`` (the probability that
            a chain with constant ``M`` is still unabsorbed after ``50 M``
            generations is about ``exp(-50)``).
        rng : None, int, SeedSequence or Generator
        show_progress : bool
            Show a progress bar (replicates are run in chunks; the result is the same).

        Returns
        -------
        Absorption
            ``time`` (R,), ``state`` (R,), ``extinction`` (R, K), ``censored`` (R,).
        """
        from ._kernels_discrete import absorb_kernel

        m = self.mixing
        if self.sampler is not None and not self.sampler.is_identity:
            raise ValueError(
                f"sampler: absorb() runs the plain chain only (got {self.sampler.label()}); use simulate() with a "
                "sampler, or sampler=None"
            )
        if m.workflow != "replace":
            why = {
                "fresh": f"with fresh data (real = {m.real}) every state of p0 is resampled with positive probability",
                "accumulate": "under accumulation the pool keeps every state it ever held",
                "accumulate-subsample": "under accumulate-subsample the pool keeps every state it ever held, and "
                "any of them can return to the subsample",
                "augment": "under augmentation the fixed original sample keeps its states in every model",
                "mixture": f"with previous = {m.previous} the sampling distribution never loses a state",
            }[m.workflow]
            raise ValueError(
                f"absorb: the chain is never absorbed under the {m.workflow!r} workflow ({why}); "
                "use simulate() to study it, or mixing=Mixing.replace()"
            )
        R = check_int("replicates", replicates, min=1)
        show_progress = _check_bool("show_progress", show_progress)
        sizes0 = self.sample_size.sizes(1)
        default = max_generations is None
        if default:
            max_generations = int(50 * sizes0[0] + 1000)
        G = check_int("max_generations", max_generations, min=0)
        hint = (
            f"the default max_generations = 50 M_1 + 1000 = {G} follows from sample_size; pass a smaller "
            "max_generations (replicates not absorbed by then are censored)" if default else ""
        )
        _check_memory("absorb", {"schedule": 8.0 * G, "outputs": 8.0 * R * (self.K + 2)}, "max_generations", hint)
        sizes = self.sample_size.sizes(G)
        buffers = 8.0 * int(sizes.max(initial=1)) * min(R, _threads())
        _check_memory("absorb", {"sample buffers": buffers}, "sample_size")
        seeds = replicate_seeds(rng, R)
        p0 = np.ascontiguousarray(self.p0, dtype=np.float64)
        order, suffix, aprob, alias = _p0_order(p0)
        time = np.zeros(R, dtype=np.int64)
        state = np.zeros(R, dtype=np.int64)
        extinction = np.full((R, self.K), -1, dtype=np.int64)
        from .._progress import progress

        chunk = _CHUNK if show_progress else R
        bar = progress(total=R, desc="absorb", show=show_progress, unit="replicate")
        for lo in range(0, R, chunk):
            s = slice(lo, min(R, lo + chunk))
            absorb_kernel(p0, order, suffix, aprob, alias, sizes, seeds[s], time[s], state[s], extinction[s])
            bar.update(s.stop - lo)
        bar.close()
        return Absorption(
            time=time,
            state=state,
            extinction=extinction,
            censored=state < 0,
            max_generations=G,
            params=self._params(replicates=R, max_generations=G),
        )
