"""Slow, obviously-correct references for the regression collapse chain and its theory.

``naive_chain`` draws every row and label and refits with ``np.linalg.lstsq``
(ridge as least squares on rows augmented by ``sqrt(N lambda) I``), one
replicate and one generation at a time, keeping every label set under
accumulation.

``naive_conditional_error`` computes the exact expectation given a fixed
design by unrolling the chain: ``w_t - w*`` is an affine function
``a_t + sum_k L_{t,k} eps_k`` of the label noises ``eps_k`` of every dataset
so far (each a T-vector), so ``E||w_t - w*||^2_Sigma = a^T Sigma a +
sigma^2 sum_k tr(L^T Sigma L)``. Fresh real rows make the map random: every
mask sequence is enumerated with its probability (tiny ``T`` only). No
moment recursion, no Haar moments: an independent route to the same numbers.
"""

from __future__ import annotations

import itertools

import numpy as np


def _fit(X, y, lam):
    N, d = X.shape
    if lam > 0:
        X = np.vstack([X, np.sqrt(N * lam) * np.eye(d)])
        y = np.concatenate([y, np.zeros(d)])
    return np.linalg.lstsq(X, y, rcond=None)[0]


def naive_chain(d, T, G, R, *, rng, noise=1.0, ridge=0.0, design="fixed", workflow="replace", real=0.0,
                ratio=1.0, share=0.0, w_s=None, w_star=None, X=None, cov=None, downstream_size=None,
                downstream_ridge=None, downstream_design=None):
    """Errors ``||w_t - w*||^2_Sigma``, shape (R, G + 1), by explicit refits.

    With ``downstream_size``, also returns the downstream errors (R, G + 1):
    an OLS/ridge fit (penalty ``downstream_ridge``, default ``ridge``) on that
    many fresh rows (or on ``downstream_design``) labelled by ``w_t`` plus noise.

    ``workflow``: 'replace', 'fresh' (each later row real with probability
    ``real``), 'accumulate', 'augment' (real data kept plus ``round(ratio T)``
    synthetic rows; with a fixed design they cycle through ``X``).
    ``share``: the first ``round(share n)`` rows of every dataset of ``n``
    rows are labelled by ``w_s``.
    """
    gen = np.random.default_rng(rng)
    w_star = np.full(d, 1 / np.sqrt(d)) if w_star is None else np.asarray(w_star, float)
    cov = np.eye(d) if cov is None else np.asarray(cov, float)
    Lc = np.linalg.cholesky(cov)
    out = np.zeros((R, G + 1))
    down = np.zeros((R, G + 1))

    def downstream(w):
        Xd = gen.standard_normal((downstream_size, d)) @ Lc.T if downstream_design is None else downstream_design
        lam = ridge if downstream_ridge is None else downstream_ridge
        e = _fit(Xd, Xd @ w + noise * gen.standard_normal(downstream_size), lam) - w_star
        return e @ cov @ e

    for r in range(R):
        X0 = (gen.standard_normal((T, d)) @ Lc.T) if X is None else X
        w = w_star.copy()
        stack_X, stack_y = [], []
        Xr = yr = None  # the real dataset (generation 0), kept by augmentation
        ns = round(ratio * T)
        for t in range(G):
            if workflow == "augment" and t > 0:
                Xs = X0[np.arange(ns) % T] if design == "fixed" else gen.standard_normal((ns, d)) @ Lc.T
                src = np.tile(w, (ns, 1))
                mb = round(share * ns)
                src[:mb] = w_s
                ys = np.einsum("ni,ni->n", Xs, src) + noise * gen.standard_normal(ns)
                w = _fit(np.vstack([Xr, Xs]), np.concatenate([yr, ys]), ridge)
            else:
                Xt = X0 if design == "fixed" else gen.standard_normal((T, d)) @ Lc.T
                src = np.tile(w_star if t == 0 else w, (T, 1))
                if workflow in ("fresh", "accumulate") and t > 0 and real > 0:
                    is_real = gen.random(T) < real
                    src[is_real] = w_star
                mc = round(share * T)
                src[:mc] = w_s
                y = np.einsum("ni,ni->n", Xt, src) + noise * gen.standard_normal(T)
                if t == 0:
                    Xr, yr = Xt, y
                if workflow == "accumulate":
                    stack_X.append(Xt)
                    stack_y.append(y)
                    w = _fit(np.vstack(stack_X), np.concatenate(stack_y), ridge)
                else:
                    w = _fit(Xt, y, ridge)
            e = w - w_star
            out[r, t + 1] = e @ cov @ e
            if downstream_size:
                down[r, t + 1] = downstream(w)
        if downstream_size:
            down[r, 0] = downstream(w_star)
    return (out, down) if downstream_size else out


def _fit_operator(X, lam):
    N, d = X.shape
    return np.linalg.inv(X.T @ X + N * lam * np.eye(d)) @ X.T  # w = F y


def naive_conditional_error(X, G, *, noise=1.0, ridge=0.0, workflow="replace", real=0.0, ratio=1.0, share=0.0,
                            w_s=None, w_star=None, cov=None):
    """Exact ``E||w_t - w*||^2_Sigma`` given the fixed design ``X``, t = 0..G, by unrolling.

    State: ``w_t = a + sum_k L_k eps_k`` (``a`` a d-vector, ``L_k`` d x n_k).
    Fresh real rows ('fresh', or 'accumulate' with ``real``): every mask of
    every generation after the first is enumerated (2^(T (G-1)) terms).
    """
    d = X.shape[1]
    T = X.shape[0]
    w_star = np.full(d, 1 / np.sqrt(d)) if w_star is None else np.asarray(w_star, float)
    cov = np.eye(d) if cov is None else np.asarray(cov, float)
    w_s = w_star if w_s is None else np.asarray(w_s, float)
    mc = round(share * T)
    random_masks = workflow in ("fresh", "accumulate") and real > 0
    n_free = T - mc
    masks_per_gen = list(itertools.product((False, True), repeat=n_free)) if random_masks else [None]
    total = np.zeros(G + 1)
    for seq in itertools.product(masks_per_gen, repeat=max(G - 1, 0)):
        prob = 1.0
        if random_masks:
            for mk in seq:
                k = sum(mk)
                prob *= real**k * (1 - real) ** (n_free - k)
        total += prob * _unrolled(X, G, seq, noise, ridge, workflow, ratio, share, w_s, w_star, cov)
    return total


def _unrolled(X, G, masks, noise, ridge, workflow, ratio, share, w_s, w_star, cov):
    """One mask sequence: the chain is affine in the label noises; its exact error path."""
    T, _d = X.shape
    mc = round(share * T)
    ns = round(ratio * T)
    sizes = []  # length of each noise vector introduced so far
    a, L = w_star.copy(), []  # w_t = a + sum_k L[k] eps_k

    def dataset(Xd, sources):
        """Labels y = c + sum_k Y[k] eps_k; sources[i] is 's' (w_s), 'r' (w*) or 'm' (the current model)."""
        n = Xd.shape[0]
        c = np.empty(n)
        Y = [np.zeros((n, s)) for s in sizes] + [np.eye(n)]
        for i in range(n):
            if sources[i] == "s":
                c[i] = Xd[i] @ w_s
            elif sources[i] == "r":
                c[i] = Xd[i] @ w_star
            else:
                c[i] = Xd[i] @ a
                for k, blk in enumerate(L):
                    Y[k][i] = Xd[i] @ blk
        sizes.append(n)
        return [Xd, c, Y]

    out = np.zeros(G + 1)
    kept = []
    for t in range(G):
        if t == 0:
            real = dataset(X, ["s"] * mc + ["r"] * (T - mc))
            kept = [real]
        elif workflow == "augment":
            XB = X[np.arange(ns) % T]
            mb = round(share * ns)
            kept = [real, dataset(XB, ["s"] * mb + ["m"] * (ns - mb))]
        else:
            src = ["s"] * mc + [("r" if (masks[t - 1] is not None and masks[t - 1][i]) else "m") for i in range(T - mc)]
            new = dataset(X, src)
            kept = kept + [new] if workflow == "accumulate" else [new]
        Xall = np.vstack([k[0] for k in kept])
        F = _fit_operator(Xall, ridge)
        call = np.concatenate([k[1] for k in kept])
        blocks = []
        for j, s in enumerate(sizes):
            blocks.append(F @ np.vstack([k[2][j] if j < len(k[2]) else np.zeros((k[0].shape[0], s)) for k in kept]))
        a, L = F @ call, blocks
        e = a - w_star
        out[t + 1] = e @ cov @ e + noise**2 * sum(float(np.trace(b.T @ cov @ b)) for b in L)
    return out


def naive_projection_moment(m, T, d, R, *, rng):
    """Monte Carlo samples of ``||P_1 u||^2`` and ``(P_1 u) . (P_2 u)`` for a fixed unit ``u``.

    ``P_1 = (X^T X)^{-1} X_1^T X_1`` for the first ``m`` rows, ``P_2`` for the
    other ``T - m``: their means are ``c(m)`` and ``kappa(m, T - m)``.
    """
    gen = np.random.default_rng(rng)
    u = np.zeros(d)
    u[0] = 1.0
    x = np.empty(R)
    y = np.empty(R)
    for r in range(R):
        X = gen.standard_normal((T, d))
        X1, X2 = X[:m], X[m:]
        p1 = np.linalg.solve(X.T @ X, X1.T @ (X1 @ u))
        p2 = np.linalg.solve(X.T @ X, X2.T @ (X2 @ u))
        x[r] = p1 @ p1
        y[r] = p1 @ p2
    return x, y
