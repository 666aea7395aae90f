"""Randomness, the SPEC 7 way.

Every public function that draws random numbers takes a keyword-only ``rng``
(None, a non-negative int, a :class:`numpy.random.SeedSequence` or a
:class:`numpy.random.Generator`) and normalises it here. Parallel kernels get
one seed per replicate, derived from the user's seed before the parallel loop
and used to seed *inside* each iteration, so a replicate's result depends only
on its index and the user's seed, never on the number of threads or on how
the replicates were scheduled.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["default_rng", "seed_sequence", "replicate_seeds", "spawn_generators", "child"]

_RNG_TYPES = "None, a non-negative int, a numpy.random.SeedSequence or a numpy.random.Generator"


def _check(rng):
    if rng is None or isinstance(rng, (np.random.SeedSequence, np.random.Generator)):
        return
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        if rng < 0:
            raise ValueError(f"rng must be a non-negative int seed, got {rng}")
        return
    raise TypeError(f"rng must be {_RNG_TYPES}; got {type(rng).__name__}")


def default_rng(rng=None) -> np.random.Generator:
    """Return a Generator for ``rng`` (SPEC 7).

    A Generator is returned as is, so draws continue its stream.
    """
    _check(rng)
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def seed_sequence(rng=None) -> np.random.SeedSequence:
    """Return a SeedSequence for ``rng``.

    An int or SeedSequence gives the same sequence on every call; a Generator
    is advanced (its next draws seed the sequence), so two calls with one
    Generator give different, independent streams, as NumPy's own functions do.
    """
    _check(rng)
    if isinstance(rng, np.random.SeedSequence):
        return rng
    if isinstance(rng, np.random.Generator):
        return np.random.SeedSequence(rng.integers(0, 2**32, size=4, dtype=np.uint64).tolist())
    return np.random.SeedSequence(rng)


def replicate_seeds(rng, n: int) -> np.ndarray:
    """One distinct 32-bit seed per replicate, shape ``(n,)``, dtype uint32.

    Numba's generator is seeded with a 32-bit integer inside each ``prange``
    iteration. Seeds are drawn from the SeedSequence of ``rng`` and made
    distinct (a repeated seed is redrawn deterministically), so no two
    replicates of one call share a stream.
    """
    ss = seed_sequence(rng)
    seeds = ss.generate_state(n, dtype=np.uint32)
    _, first = np.unique(seeds, return_index=True)
    if first.size < n:  # birthday collisions: about n^2 / 2^33 of them
        dup = np.setdiff1d(np.arange(n), first)
        used = set(seeds[first].tolist())
        extra = np.random.SeedSequence(ss.entropy, spawn_key=(2**31,)).generate_state(4 * dup.size + 16, dtype=np.uint32)
        k = 0
        for i in dup:
            while int(extra[k]) in used:
                k += 1
            seeds[i] = extra[k]
            used.add(int(extra[k]))
            k += 1
    return seeds


def spawn_generators(rng, n: int) -> list[np.random.Generator]:
    """``n`` independent Generators spawned from the SeedSequence of ``rng``."""
    return [np.random.default_rng(s) for s in seed_sequence(rng).spawn(n)]


def child(ss, *key: int) -> np.random.SeedSequence:
    """The one way to derive a named sub-stream: ``SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, *key))``.

    ``ss`` is anything :func:`seed_sequence` accepts. The child depends only
    on ``ss`` and ``key`` (non-negative ints), so a generation, a replicate or
    a section can be recomputed alone and gets the same stream.
    """
    ss = seed_sequence(ss)
    for k in key:
        if not isinstance(k, numbers.Integral) or isinstance(k, bool) or k < 0:
            raise ValueError(f"child: every key must be a non-negative int, got {k!r}")
    return np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, *(int(k) for k in key)))
