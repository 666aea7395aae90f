"""Slow, obviously-correct references for the Gaussian refit chain and its theory.

``naive_chain`` draws every point and refits with ``np.mean`` / ``np.var`` /
``np.cov``, one replicate at a time, keeping the whole pool of points under
accumulation. The moment references integrate the chi-square density
numerically (``scipy.integrate.quad``) instead of using Gamma-function
identities.
"""

from __future__ import annotations

import numpy as np
from scipy import integrate, stats


def naive_chain(mean, cov, M, G, R, *, rng, real=0.0, pooled=False, ddof=1):
    """Sample-and-refit, replicate by replicate.

    Returns ``(means, covs)`` of shapes (R, G+1[, d]) and (R, G+1[, d, d]).
    Each of the ``M`` points of a generation is real (from N(mean, cov)) with
    probability ``real``; the model is refitted to the newest dataset, or to
    all points so far when ``pooled``.
    """
    gen = np.random.default_rng(rng)
    one_d = np.ndim(cov) == 0
    mean0 = np.atleast_1d(np.asarray(mean, dtype=float))
    cov0 = np.atleast_2d(np.asarray(cov, dtype=float))
    d = mean0.size
    means = np.empty((R, G + 1, d))
    covs = np.empty((R, G + 1, d, d))
    for r in range(R):
        mu, C = mean0.copy(), cov0.copy()
        means[r, 0], covs[r, 0] = mu, C
        pool = np.empty((0, d))
        for t in range(G):
            synthetic = gen.multivariate_normal(mu, C, size=M)
            original = gen.multivariate_normal(mean0, cov0, size=M)
            is_real = gen.random(M) < real
            data = np.where(is_real[:, None], original, synthetic)
            pool = np.vstack([pool, data]) if pooled else data
            mu = pool.mean(axis=0)
            C = np.atleast_2d(np.cov(pool, rowvar=False, ddof=ddof))
            means[r, t + 1], covs[r, t + 1] = mu, C
    if one_d:
        return means[..., 0], covs[..., 0, 0]
    return means, covs


def _quad_chi2(f, k):
    """Integral of f(x) chi2_k(x) dx over the whole mass (the density is split at its bulk)."""
    hi = k + 40 * np.sqrt(2 * k) + 60
    pts = [max(k - 2.0, 0.0) / 2, k, (k + hi) / 2]
    val, _ = integrate.quad(lambda x: f(x) * stats.chi2.pdf(x, k), 0, hi, points=pts, limit=500, epsabs=0, epsrel=1e-11)
    return val


def naive_chi2_moment(k, r):
    """E (chi2_k)^r by numerical integration of the density."""
    return _quad_chi2(lambda x: x**r, k)


def naive_log_chi2_moments(k):
    """(E log chi2_k, Var log chi2_k) by numerical integration."""
    m1 = _quad_chi2(np.log, k)
    m2 = _quad_chi2(lambda x: (np.log(x) - m1) ** 2, k)
    return m1, m2


def naive_expected_w2_squared(sizes, sigma0=1.0, ddof=1):
    """E W2^2 after len(sizes) generations from the moments of each generation's factor.

    sigma_n^2 = sigma0^2 prod W_t, W_t = chi2_{M_t-1} / (M_t - ddof), independent;
    E (mu_n - mu0)^2 = sum_t E sigma_{t-1}^2 / M_t.
    """
    e_var, e_std, mean_sq = sigma0**2, sigma0, 0.0
    for m in sizes:
        mean_sq += e_var / m
        D = m - ddof
        e_var *= naive_chi2_moment(m - 1, 1.0) / D
        e_std *= naive_chi2_moment(m - 1, 0.5) / np.sqrt(D)
    return mean_sq + e_var - 2 * sigma0 * e_std + sigma0**2


def naive_workflow_chain(M, G, R, *, rng, workflow="replace", real=0.0, previous=0.0, ratio=1.0, mean=0.0, cov=1.0,
                         ddof=1):
    """Sample-and-refit for every workflow, written from the definitions, one replicate at a time.

    workflow: 'replace' / 'fresh' / 'mixture' (each of the M points: from the newest model with
    probability 1 - real - previous, from the distribution the previous dataset was drawn from with
    probability previous, from N(mean, cov) with probability real), 'accumulate' (the pool of all
    points), 'subsample' (the pool grows by M points; the fit uses M of them drawn without
    replacement), 'augment' (D_0 of M points kept; round(ratio M) new model points each generation).
    Returns (means, covs), shapes (R, G+1[, d]) and (R, G+1[, d, d]).
    """
    gen = np.random.default_rng(rng)
    one_d = np.ndim(cov) == 0
    mean0 = np.atleast_1d(np.asarray(mean, dtype=float))
    cov0 = np.atleast_2d(np.asarray(cov, dtype=float))
    d = mean0.size
    means = np.empty((R, G + 1, d))
    covs = np.empty((R, G + 1, d, d))
    m_aug = int(round(ratio * M))
    for r in range(R):
        models = [(mean0.copy(), cov0.copy())]
        means[r, 0], covs[r, 0] = mean0, cov0
        pool = np.empty((0, d))
        d0 = None
        for t in range(G):
            if workflow == "augment":
                if t == 0:
                    d0 = gen.multivariate_normal(mean0, cov0, size=M)
                    data = d0
                else:
                    mu, C = models[-1]
                    data = np.vstack([d0, gen.multivariate_normal(mu, C, size=m_aug)])
            else:
                pts = []
                for _ in range(M):
                    # the source of one point: walk back through q_t = a N(theta_t) + b q_{t-1} + g p0
                    s = t
                    while True:
                        if s == 0:
                            src = None
                            break
                        u = gen.random()
                        if u < real:
                            src = None
                            break
                        if u < real + previous:
                            s -= 1
                            continue
                        src = s
                        break
                    mu, C = (mean0, cov0) if src is None else models[src]
                    pts.append(gen.multivariate_normal(mu, C))
                batch = np.array(pts)
                if workflow == "accumulate":
                    pool = np.vstack([pool, batch])
                    data = pool
                elif workflow == "subsample":
                    pool = np.vstack([pool, batch])
                    data = pool[gen.choice(pool.shape[0], size=M, replace=False)]
                else:
                    data = batch
            mu = data.mean(axis=0)
            C = np.atleast_2d(np.cov(data, rowvar=False, ddof=ddof))
            models.append((mu, C))
            means[r, t + 1], covs[r, t + 1] = mu, C
    if one_d:
        return means[..., 0], covs[..., 0, 0]
    return means, covs


def naive_e_sqrt_gamma(shape, scale):
    """E sqrt(X) for X ~ Gamma(shape, scale), by quadrature of the density (no Gamma-function identity)."""
    f = lambda x: np.sqrt(x) * stats.gamma.pdf(x, shape, scale=scale)
    hi = stats.gamma.ppf(1 - 1e-15, shape, scale=scale)
    return integrate.quad(f, 0, hi, limit=500, epsabs=0, epsrel=1e-12)[0]


def naive_mixture_chain_1d(M, G, R, *, rng, synthetic, previous, real, ddof=1):
    """1-D mixture workflow from its definition, vectorised over replicates (mu_0 = 0, sigma_0 = 1).

    Dataset t+1 has M i.i.d. points from q_t = synthetic N(mu_t, s_t^2) + previous q_{t-1}
    + real N(0, 1), q_0 = N(0, 1): each point's source is found by walking back one generation
    at a time (probability ``previous`` each), stopping at the current generation's model
    (``synthetic``) or at N(0, 1) (``real``, or on reaching q_0). The model is the sample mean
    and the scatter divided by M - ddof. Returns (means, variances), shape (R, G+1).
    """
    gen = np.random.default_rng(rng)
    means = np.zeros((R, G + 1))
    variances = np.ones((R, G + 1))
    rows = np.arange(R)[:, None]
    for t in range(G):
        s = np.full((R, M), t)
        src = np.full((R, M), -2)  # -2 undecided, -1 real, else a generation
        while np.any(src == -2):
            und = src == -2
            at0 = und & (s == 0)
            src[at0] = -1
            und &= ~at0
            u = gen.random((R, M))
            src[und & (u < real)] = -1
            back = und & (u >= real) & (u < real + previous)
            s[back] -= 1
            take = und & (u >= real + previous)
            src[take] = s[take]
        g = np.where(src >= 0, src, 0)
        mu = np.where(src >= 0, means[rows, g], 0.0)
        sd = np.where(src >= 0, np.sqrt(variances[rows, g]), 1.0)
        x = mu + sd * gen.standard_normal((R, M))
        means[:, t + 1] = x.mean(axis=1)
        variances[:, t + 1] = ((x - x.mean(axis=1, keepdims=True)) ** 2).sum(axis=1) / (M - ddof)
    return means, variances
