"""Slow, obviously-correct references for samplers and curation, written from the definitions.

* ``naive_sampler_map``: temperature, top-k, top-p, min-p in transformers'
  order, one Python loop per operator, ties by lower index;
* ``naive_best_of_k_law``: the law of a best-of-K sample by brute-force
  enumeration of every tuple of K candidates (tiny K and support only);
* ``naive_chain``: the sampled chain, one replicate and generation at a time,
  sampling each kept sample literally (K candidates, then the choice; a
  verifier loop that draws until M samples are accepted), with every workflow.

The vectorised NumPy baseline of the benchmark is in ``benchmarks/test_sampling_bench.py``.
"""

from __future__ import annotations

import itertools

import numpy as np


def naive_sampler_map(p, temperature=None, top_k=None, top_p=None, min_p=None):
    p = [float(x) for x in p]
    K = len(p)
    states = sorted((i for i in range(K) if p[i] > 0), key=lambda i: (-p[i], i))
    w = {i: p[i] for i in states}
    if temperature is not None and temperature != 1.0:
        top = max(w.values())
        w = {i: float(np.exp((np.log(w[i]) - np.log(top)) / temperature)) for i in states}
    if top_k is not None:
        states = states[:top_k]
    if top_p is not None and top_p < 1.0:
        total = 0.0
        for i in states:
            total += w[i]
        kept, before = [], 0.0
        for i in states:
            if before < top_p:
                kept.append(i)
                before += w[i] / total
        states = kept
    if min_p is not None:
        top = w[states[0]]
        states = [i for i in states if w[i] >= min_p * top]
    total = 0.0
    for i in states:
        total += w[i]
    out = np.zeros(K)
    for i in states:
        out[i] = w[i] / total
    return out


def naive_best_of_k_law(q, reward, k, choice):
    """Enumerate all ordered K-tuples of candidates (support^K terms)."""
    q = np.asarray(q, dtype=float)
    r = np.asarray(reward, dtype=float)
    sup = [i for i in range(q.size) if q[i] > 0]
    out = np.zeros(q.size)
    for tup in itertools.product(sup, repeat=k):
        pr = float(np.prod([q[i] for i in tup]))
        if choice == "argmax":
            best = tup[0]
            for i in tup[1:]:
                if r[i] > r[best]:
                    best = i
            out[best] += pr
        else:
            e = np.exp(np.array([r[i] for i in tup]))
            for j, i in enumerate(tup):
                out[i] += pr * e[j] / e.sum()
    return out


def _kept_sample(rng, q, curation):
    if curation is None:
        return rng.choice(q.size, p=q)
    kind = curation[0]
    if kind == "verifier":
        accept = curation[1]
        while True:
            x = rng.choice(q.size, p=q)
            if rng.random() < accept[x]:
                return x
    _, reward, k, choice = curation
    cand = rng.choice(q.size, size=k, p=q)
    if choice == "argmax":
        best = cand[0]
        for x in cand[1:]:
            if reward[x] > reward[best]:
                best = x
        return best
    e = np.exp(reward[cand])
    return cand[rng.choice(k, p=e / e.sum())]


def naive_chain(p0, M, generations, replicates, rng, *, sampler=None, curation=None, workflow="replace",
                real=0.0, ratio=1.0):
    """Models per replicate and generation, shape (R, G + 1, K).

    ``sampler``: dict of naive_sampler_map keywords; ``curation``: None,
    ('verifier', accept) or ('best', reward, k, choice). Workflows: 'replace'
    (fresh share ``real``), 'accumulate', 'accumulate-subsample', 'augment'
    (``ratio`` synthetic draws per original sample).
    """
    rng = np.random.default_rng(rng)
    p0 = np.asarray(p0, dtype=float)
    K = p0.size
    sampler = sampler or {}
    out = np.zeros((replicates, generations + 1, K))
    for rep in range(replicates):
        out[rep, 0] = p0
        model = p0
        pool = []
        d0 = None
        for t in range(1, generations + 1):
            first = t == 1
            if first and workflow != "replace":
                data = list(rng.choice(K, size=M, p=p0))
            else:
                q = naive_sampler_map(model, **sampler)
                n = M if workflow != "augment" else int(round(ratio * M))
                data = []
                for _ in range(n):
                    if real > 0 and rng.random() < real:
                        data.append(rng.choice(K, p=p0))
                    else:
                        data.append(_kept_sample(rng, q, curation))
            if workflow == "replace":
                fit = data
            elif workflow == "accumulate":
                pool += data
                fit = pool
            elif workflow == "accumulate-subsample":
                pool += data
                fit = list(rng.choice(np.array(pool), size=M, replace=False))
            else:
                if first:
                    d0 = data
                    fit = d0
                else:
                    fit = d0 + data
            model = np.bincount(np.asarray(fit, dtype=np.int64), minlength=K) / len(fit)
            out[rep, t] = model
    return out
