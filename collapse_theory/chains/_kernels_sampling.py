"""Numba kernels of the discrete chain with a sampler, curation, accumulate-subsample and augmentation.

Private, arithmetic only; :mod:`collapse_theory.chains.discrete` validates and
shapes. The random streams, binomials and alias tables are those of
:mod:`._kernels_discrete` (xoshiro256** per replicate, seeded inside the
``prange`` iteration, so results do not depend on the thread count).

The sampler map (see :mod:`collapse_theory.sampling` for the definition and
its NumPy form :meth:`~collapse_theory.sampling.Sampler.apply`): the model's
live states are ordered by decreasing count (a counting sort when the largest
count is small against the number of live states, otherwise a sort on the
key ``(largest - count) K + index``); the temperature, top-k, top-p and min-p
cuts each keep a prefix; only the group of tied states that a cut splits is
put in index order, so ties go to the lower index. Mass sums are sequential
in that order, as ``numpy.cumsum`` takes them.

Draws from the sampled law are conditional binomials in decreasing order of
probability (they stop when every sample is placed), one per group of equal
counts, whose samples then pick a member of the group uniformly (the model's
many states with one or two copies cost one binomial, not one each; the
temperature is evaluated once per distinct count); best-of-``k`` draws the
``k`` candidates of each kept sample from a Walker alias table; the verifier
draws ``M`` samples from the accepted law :math:`\\propto q_i v_i` (the law of
the first ``M`` accepted samples of a rejection loop, without the loop).

Accumulate-subsample keeps the pool as a list of labels; the model is the
first ``M`` labels after a partial Fisher–Yates shuffle (a uniform subset
without replacement: a multivariate hypergeometric draw of the pool's counts).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._kernels_discrete import _binomial, _bounded, _chain_buffers, _record, _uniform, _xoshiro_seed, build_alias

__all__ = ["sampled_kernel", "sampler_map_kernel", "warm"]

#: Curation codes.
CUR_NONE, CUR_ARGMAX, CUR_BT, CUR_VERIFIER = 0, 1, 2, 3


@njit(cache=True, error_model="numpy")
def _cut(wt, n, tau, top_k, top_p, min_p):
    """Temper the sorted weights ``wt[:n]`` in place and return how many the cuts keep (>= 1)."""
    if tau != 1.0:
        l0 = np.log(wt[0])
        raw = np.nan
        val = 0.0
        for j in range(n):
            if wt[j] != raw:  # sorted: equal weights are adjacent, temper each value once
                raw = wt[j]
                val = np.exp((np.log(raw) - l0) / tau)
            wt[j] = val
    nk = n
    if top_k > 0 and top_k < nk:
        nk = top_k
    if top_p < 1.0:
        W = 0.0
        for j in range(nk):
            W += wt[j]
        cum = 0.0
        j = 0
        while j < nk and cum < top_p:
            cum += wt[j] / W
            j += 1
        nk = j
    if min_p > 0.0:
        thr = min_p * wt[0]
        j = 0
        while j < nk and wt[j] >= thr:
            j += 1
        nk = j
    nk = max(nk, 1)
    return nk


@njit(cache=True, error_model="numpy")
def sampler_map_kernel(p, tau, top_k, top_p, min_p):
    """The sampled law of a probability vector ``p`` (for tests against the NumPy definition)."""
    K = p.size
    keys = np.empty(K)
    for i in range(K):
        keys[i] = -p[i]
    order = np.argsort(keys, kind="mergesort")  # stable: ties by index
    n = 0
    for i in range(K):
        if p[order[i]] > 0:
            n += 1
    ks = order[:n].copy()
    wt = np.empty(n)
    for j in range(n):
        wt[j] = p[ks[j]]
    nk = _cut(wt, n, tau, top_k, top_p, min_p)
    W = 0.0
    for j in range(nk):
        W += wt[j]
    out = np.zeros(K)
    for j in range(nk):
        out[ks[j]] = wt[j] / W
    return out


@njit(cache=True, error_model="numpy")
def _sort_live(cur, live, nlive, K, hist, ks):
    """Live states by decreasing count into ``ks[:nlive]``; returns True if ties are in index order."""
    cmax = 0
    for j in range(nlive):
        c = cur[live[j]]
        cmax = max(cmax, c)
    if cmax < hist.size and cmax <= 4 * nlive + 64:
        for c in range(cmax + 1):
            hist[c] = 0
        for j in range(nlive):
            hist[cur[live[j]]] += 1
        # start offsets, largest count first
        pos = 0
        for c in range(cmax, -1, -1):
            h = hist[c]
            hist[c] = pos
            pos += h
        for j in range(nlive):
            k = live[j]
            c = cur[k]
            ks[hist[c]] = k
            hist[c] += 1
        return False
    keys = np.empty(nlive, dtype=np.int64)
    for j in range(nlive):
        k = live[j]
        keys[j] = (cmax - cur[k]) * K + k
    idx = np.argsort(keys)
    tmp = np.empty(nlive, dtype=np.int64)
    for j in range(nlive):
        tmp[j] = live[idx[j]]
    for j in range(nlive):
        ks[j] = tmp[j]
    return True


@njit(cache=True, error_model="numpy")
def _tie_fix(ks, nk, n, cur):
    """Put the tied group that the cut at ``nk`` splits in increasing index order."""
    if nk >= n or nk <= 0:
        return
    c = cur[ks[nk - 1]]
    if cur[ks[nk]] != c:
        return
    a = nk - 1
    while a > 0 and cur[ks[a - 1]] == c:
        a -= 1
    b = nk
    while b < n and cur[ks[b]] == c:
        b += 1
    grp = np.sort(ks[a:b])
    for j in range(b - a):
        ks[a + j] = grp[j]


@njit(cache=True, error_model="numpy")
def _draw_list(n, ks, wt, nk, W, out, touched, nt, mark, xs):
    """Add ``n`` samples from the law ``wt[:nk] / W`` over states ``ks[:nk]`` to ``out``; list new states in ``touched``."""
    n_left = n
    rem = W
    for j in range(nk):
        if n_left == 0:
            break
        w = wt[j]
        if j == nk - 1 or w >= rem:
            x = n_left
        elif w <= 0.0:
            x = 0
        else:
            x = _binomial(xs, n_left, w / rem)
        rem -= w
        if x > 0:
            k = ks[j]
            if not mark[k]:
                mark[k] = True
                touched[nt] = k
                nt += 1
            out[k] += x
            n_left -= x
    return nt


@njit(cache=True, error_model="numpy")
def _draw_grouped(n, ks, wt, nk, out, touched, nt, mark, xs):
    """As :func:`_draw_list` for weights sorted so that equal weights are adjacent.

    One conditional binomial per group of equal weights, then each of the
    group's samples picks a member uniformly (a multinomial split into groups,
    and within a group the equal-probability multinomial it is).
    """
    W = 0.0
    for j in range(nk):
        W += wt[j]
    n_left = n
    rem = W
    a = 0
    while a < nk and n_left > 0:
        b = a + 1
        gm = wt[a]
        while b < nk and wt[b] == wt[a]:
            gm += wt[b]
            b += 1
        if b >= nk or gm >= rem:
            x = n_left
        else:
            x = _binomial(xs, n_left, gm / rem)
        rem -= gm
        n_left -= x
        size = b - a
        if x > 0 and (size == 1 or x > 4 * size):
            # few members for many samples: equal-probability conditional binomials
            left = x
            for i in range(size):
                if left == 0:
                    break
                y = left if i == size - 1 else _binomial(xs, left, 1.0 / (size - i))
                if y > 0:
                    k = ks[a + i]
                    if not mark[k]:
                        mark[k] = True
                        touched[nt] = k
                        nt += 1
                    out[k] += y
                    left -= y
        else:
            for _ in range(x):
                k = ks[a + _bounded(xs, size)]
                if not mark[k]:
                    mark[k] = True
                    touched[nt] = k
                    nt += 1
                out[k] += 1
        a = b
    return nt


@njit(cache=True, error_model="numpy")
def _draw_curated(n, ks, wt, nk, W, cur_kind, cur_k, reward, bt_w, accept, vbuf, out, touched, nt, mark, xs):
    """Add ``n`` curated samples of the sampled law to ``out``; returns (nt, ok)."""
    if cur_kind == CUR_NONE or n == 0:
        return _draw_list(n, ks, wt, nk, W, out, touched, nt, mark, xs), True
    if cur_kind == CUR_VERIFIER:
        V = 0.0
        for j in range(nk):
            vbuf[j] = wt[j] * accept[ks[j]]
            V += vbuf[j]
        if not V > 0.0:
            return nt, False
        return _draw_list(n, ks, vbuf, nk, V, out, touched, nt, mark, xs), True
    if nk == 1 or cur_k == 1:
        return _draw_list(n, ks, wt, nk, W, out, touched, nt, mark, xs), True
    aprob, alias = build_alias(wt[:nk].copy())
    cand = np.empty(cur_k, dtype=np.int64)
    ew = np.empty(cur_k)
    for _ in range(n):
        for c in range(cur_k):
            i = _bounded(xs, nk)
            if _uniform(xs) >= aprob[i]:
                i = alias[i]
            cand[c] = ks[i]
        if cur_kind == CUR_ARGMAX:
            best = cand[0]
            for c in range(1, cur_k):
                if reward[cand[c]] > reward[best]:
                    best = cand[c]
        else:
            # weights relative to the best candidate, so no candidate set underflows to zero
            mr = reward[cand[0]]
            for c in range(1, cur_k):
                mr = max(mr, reward[cand[c]])
            S = 0.0
            for c in range(cur_k):
                ew[c] = np.exp(reward[cand[c]] - mr)
                S += ew[c]
            u = _uniform(xs) * S
            best = cand[cur_k - 1]
            acc = 0.0
            for c in range(cur_k):
                acc += ew[c]
                if u < acc:
                    best = cand[c]
                    break
        if not mark[best]:
            mark[best] = True
            touched[nt] = best
            nt += 1
        out[best] += 1
    return nt, True


@njit(cache=True, error_model="numpy")
def _add_touched(cur, nxt, touched, nt, live, nlive, inlive):
    """Add the new samples ``nxt`` of the states ``touched[:nt]`` to ``cur`` (``nxt`` back to 0).

    A touched state that was not live joins ``live`` (in touched order);
    returns the new ``nlive``.
    """
    for j in range(nt):
        k = touched[j]
        cur[k] += nxt[k]
        nxt[k] = 0
        if not inlive[k]:
            inlive[k] = True
            live[nlive] = k
            nlive += 1
    return nlive


@njit(cache=True, parallel=True, error_model="numpy")
def sampled_kernel(
    p0, order, sizes, gamma, pooled, subsample, n_aug,
    tau, top_k, top_p, min_p, identity,
    cur_kind, cur_k, reward, bt_w, accept,
    seeds, rs, sup, ent, het, mass, probs, rew, status,
):
    """Run ``R = seeds.size`` replicates for ``G = sizes.size`` generations.

    Workflows: replace/fresh (``pooled`` False, ``n_aug < 0``; ``gamma`` the
    fresh share), accumulate (``pooled``), accumulate-subsample (``pooled``
    and ``subsample``), augment (``n_aug >= 0`` synthetic draws per generation
    beside the fixed first dataset). Under replace and fresh the first dataset
    is drawn from the sampled ``p0``; under the other workflows it is the
    original data, drawn from ``p0`` itself. ``identity``: the sampler leaves
    the model unchanged (no sort). ``status[r]`` is set to 1 if the verifier
    could not keep any sample (the replicate stops there).
    ``order``: the states with ``p0 > 0`` by decreasing ``p0``, ties by index.
    """
    R = seeds.size
    G = sizes.size
    K = p0.size
    nord = order.size
    mmax = 0
    pool_cap = 0
    for t in range(G):
        mmax = max(mmax, sizes[t])
        pool_cap += sizes[t]
    hist_size = min(mmax + max(n_aug, 0), 4 * K + 64) + 1
    if not subsample:
        pool_cap = 0
    for r in prange(R):
        xs = _xoshiro_seed(seeds[r])
        cur, nxt, live, inlive = _chain_buffers(K)
        touched = np.empty(K, dtype=np.int64)
        mark = np.zeros(K, dtype=np.bool_)
        ks = np.empty(K, dtype=np.int64)
        wt = np.empty(K)
        vbuf = np.empty(K)
        hist = np.zeros(hist_size, dtype=np.int64)
        pool = np.empty(pool_cap, dtype=np.int32)
        npool = 0
        d0 = np.zeros(K if n_aug >= 0 else 0, dtype=np.int64)
        d0live = np.empty(K if n_aug >= 0 else 0, dtype=np.int64)
        nd0 = 0
        p0w = np.empty(nord)
        for j in range(nord):
            p0w[j] = p0[order[j]]
        ok = True
        # ---- generation 1
        M = sizes[0]
        nt = 0
        if pooled or n_aug >= 0:
            nt = _draw_list(M, order, p0w, nord, 1.0, nxt, touched, nt, mark, xs)
        else:
            n_real = _binomial(xs, M, gamma) if gamma > 0.0 else 0
            for j in range(nord):
                ks[j] = order[j]
                wt[j] = p0w[j]
            nk = nord
            W = 1.0
            if not identity:
                nk = _cut(wt, nord, tau, top_k, top_p, min_p)
                W = 0.0
                for j in range(nk):
                    W += wt[j]
            nt, ok = _draw_curated(M - n_real, ks, wt, nk, W, cur_kind, cur_k, reward, bt_w, accept, vbuf,
                                   nxt, touched, nt, mark, xs)
            if n_real > 0:
                nt = _draw_list(n_real, order, p0w, nord, 1.0, nxt, touched, nt, mark, xs)
        for j in range(nt):
            mark[touched[j]] = False
        nlive = _add_touched(cur, nxt, touched, nt, live, 0, inlive)
        total = M
        if subsample:
            for j in range(nlive):
                k = live[j]
                for _ in range(cur[k]):
                    pool[npool] = k
                    npool += 1
        if n_aug >= 0:
            for j in range(nlive):
                k = live[j]
                d0[k] = cur[k]
                d0live[j] = k
            nd0 = nlive
        if not ok:
            status[r] = 1
        elif G >= 1:
            _record(1, cur, total, live, nlive, p0, reward, rs, sup, ent, het, mass, probs, rew, r)
        for t in range(1, G if ok else 0):
            M = sizes[t]
            n_new = n_aug if n_aug >= 0 else M
            n_real = _binomial(xs, n_new, gamma) if gamma > 0.0 else 0
            # the sampled law of the current model
            if identity:
                for j in range(nlive):
                    ks[j] = live[j]
                    wt[j] = cur[live[j]]
                nk = nlive
                W = float(total)
            else:
                by_index = _sort_live(cur, live, nlive, K, hist, ks)
                for j in range(nlive):
                    wt[j] = cur[ks[j]]
                nk = _cut(wt, nlive, tau, top_k, top_p, min_p)
                if not by_index:
                    _tie_fix(ks, nk, nlive, cur)
                W = 0.0
                for j in range(nk):
                    W += wt[j]
            nt = 0
            if cur_kind == CUR_NONE and not identity:
                nt = _draw_grouped(n_new - n_real, ks, wt, nk, nxt, touched, nt, mark, xs)
            else:
                nt, ok = _draw_curated(n_new - n_real, ks, wt, nk, W, cur_kind, cur_k, reward, bt_w, accept, vbuf,
                                       nxt, touched, nt, mark, xs)
            if not ok:
                status[r] = 1
                break
            if n_real > 0:
                nt = _draw_list(n_real, order, p0w, nord, 1.0, nxt, touched, nt, mark, xs)
            for j in range(nt):
                mark[touched[j]] = False
            if pooled and not subsample:
                nlive = _add_touched(cur, nxt, touched, nt, live, nlive, inlive)
                total += n_new
            else:
                for j in range(nlive):
                    k = live[j]
                    cur[k] = 0
                    inlive[k] = False
                nlive = 0
                if subsample:
                    for j in range(nt):
                        k = touched[j]
                        for _ in range(nxt[k]):
                            pool[npool] = k
                            npool += 1
                        nxt[k] = 0
                    # a uniform subset of size M of the pool: partial Fisher-Yates
                    for i in range(M):
                        jj = i + _bounded(xs, npool - i)
                        a = pool[i]
                        pool[i] = pool[jj]
                        pool[jj] = a
                        k = pool[i]
                        cur[k] += 1
                        if not inlive[k]:
                            inlive[k] = True
                            live[nlive] = k
                            nlive += 1
                    total = M
                elif n_aug >= 0:
                    for j in range(nd0):
                        k = d0live[j]
                        cur[k] = d0[k]
                        inlive[k] = True
                        live[nlive] = k
                        nlive += 1
                    nlive = _add_touched(cur, nxt, touched, nt, live, nlive, inlive)
                    total = sizes[0] + n_new
                else:
                    nlive = _add_touched(cur, nxt, touched, nt, live, nlive, inlive)
                    total = M
            _record(t + 1, cur, total, live, nlive, p0, reward, rs, sup, ent, het, mass, probs, rew, r)


def warm() -> None:
    """Compile (or load from the cache) the kernels on tiny inputs."""
    p0 = np.array([0.5, 0.3, 0.2])
    order = np.array([0, 1, 2], dtype=np.int64)
    sizes = np.array([4, 4, 4], dtype=np.int64)
    seeds = np.array([1, 2], dtype=np.uint32)
    rs = np.ones(6, dtype=np.bool_)
    f = np.zeros((2, 4))
    z = np.zeros(3)
    sampled_kernel(p0, order, sizes, 0.0, False, False, -1, 0.9, 2, 0.9, 0.1, False, CUR_BT, 2, z, np.ones(3), np.ones(3),
                   seeds, rs, np.zeros((2, 4), dtype=np.int64), f, f.copy(), f.copy(), np.zeros((2, 4, 3)), f.copy(),
                   np.zeros(2, dtype=np.int64))
    sampler_map_kernel(p0, 1.0, 0, 1.0, 0.0)
