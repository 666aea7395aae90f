"""Recursive Gaussian fitting (Shumailov et al. 2024, Theorem 3.1), simulated exactly.

Generation ``t`` holds a Gaussian model ``N(mu_t, Sigma_t)``. A dataset of
``M_{t+1}`` points is drawn (from the model, and with fresh data a share
``gamma`` of them from the original ``D_0``), the next model is its sample mean
and covariance (unbiased, ``ddof = 1``, or maximum likelihood, ``ddof = 0``),
and under accumulation it is fitted to the pool of every point drawn so far.

Two ways to run the chain:

* ``method="exact"`` draws the *sufficient statistics* of each dataset instead
  of the points: for a Gaussian sample of size ``M`` from ``N(mu, Sigma)`` the
  mean is ``N(mu, Sigma / M)`` and the scatter ``S = sum (x - xbar)(x - xbar)^T``
  is ``sigma^2 chi2_{M-1}`` (1-D) or ``Wishart_d(M - 1, Sigma)`` (drawn by
  the Bartlett decomposition), independent of the mean (Cochran's theorem).
  Fresh data split each dataset into ``K ~ Binomial(M, gamma)`` real and
  ``M - K`` synthetic points; each part's statistics are drawn and pooled
  exactly (between-group term included). Cost: O(d^2) per replicate and
  generation, whatever ``M``.
* ``method="sample"`` draws the points and refits them. It is the only choice
  when generation 0 is not Gaussian (``initial`` data or a callable drawing
  them: Theorem 3.1 allows any ``D_0``).

The state is kept as a log-variance (1-D) or as a log-scale times a normalised
Cholesky factor (d-D), so that collapse to variances of 1e-300 and below
neither underflows to 0 nor produces NaN.

Randomness: every variate is drawn with NumPy's Generator, in blocks of
:data:`BLOCK` replicates, each block from its own stream spawned from ``rng``;
Numba kernels then do the arithmetic with ``prange`` over replicates. A
replicate's path depends only on ``rng`` and its index, not on the number of
threads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._progress import progress
from .._rng import seed_sequence
from .._validate import check_array, check_choice, check_covariance, check_int
from ..process import Mixing, as_schedule
from ..wasserstein import w2_squared_gaussian_factors
from . import _kernels_gaussian as _k

__all__ = ["GaussianChain", "GaussianChainResult", "BLOCK"]

#: Replicates drawn from one random stream (fixed, so results do not depend on R).
BLOCK = 1024
#: Doubles of pre-drawn variates held at once per block (bounds memory).
_CHUNK_DOUBLES = 2**21


@dataclass
class GaussianChainResult:
    """Paths of a Gaussian refit chain.

    Generation 0 is the reference model ``N(mean, cov)`` given to
    :class:`GaussianChain`; generation ``t >= 1`` is the model fitted to the
    ``t``-th dataset.

    Attributes
    ----------
    method : {'exact', 'sample'}
        The method that ran.
    estimator : {'unbiased', 'mle'}
    workflow : {'replace', 'fresh', 'accumulate'}
    sample_sizes : ndarray, shape (G,)
        ``M_1 .. M_G`` (with ``initial`` data, ``M_1`` is their number).
    mean : ndarray, shape (R, G+1) or (R, G+1, d)
        ``mu_t`` per replicate and generation.
    w2_squared_to_initial : ndarray, shape (R, G+1)
        (property, computed on first access; in d-D one SVD per entry)
        ``W2^2(N(mu_t, Sigma_t), N(mean, cov))``: squared 2-Wasserstein distance
        to the generation-0 Gaussian. With Gaussian ``D_0`` this is Theorem
        3.1's ``W2^2`` to ``D_0``; with ``initial`` data it is the distance to the
        Gaussian with ``D_0``'s mean and covariance (a lower bound on ``W2^2`` to
        ``D_0`` plus that Gaussian's own distance to ``D_0``, by the triangle
        inequality).
    log_var : ndarray, shape (R, G+1), or None
        1-D: ``log sigma_t^2`` (finite far below the smallest double).
    trace, log_det : ndarray, shape (R, G+1), or None
        d-D: ``tr Sigma_t`` and ``log det Sigma_t``.
    chol_factor, log_scale : ndarray or None
        d-D: ``Sigma_t = C diag(exp(2 s)) C^T`` with ``C = chol_factor`` (R, G+1,
        d, d) unit lower triangular and ``s = log_scale`` (R, G+1, d): the
        Cholesky factor is ``C diag(exp(s))``, kept in this form so that an
        anisotropic collapse far below 1e-300 stays finite.
    reference_mean, reference_cov : ndarray
        Generation 0's mean and covariance.
    """

    method: str
    estimator: str
    workflow: str
    sample_sizes: np.ndarray
    mean: np.ndarray
    reference_mean: np.ndarray
    reference_cov: np.ndarray
    log_var: np.ndarray | None = None
    trace: np.ndarray | None = None
    log_det: np.ndarray | None = None
    chol_factor: np.ndarray | None = field(default=None, repr=False)
    log_scale: np.ndarray | None = None
    params: dict = field(default_factory=dict)
    _w2: np.ndarray | None = field(default=None, repr=False)

    @property
    def w2_squared_to_initial(self) -> np.ndarray:
        """W2^2 to the generation-0 Gaussian, shape (R, G+1) (d-D: computed on first access)."""
        if self._w2 is None:
            if self.log_var is not None:
                # the formula of wasserstein.w2_squared_gaussian_logvar,
                # (mu - mu0)^2 + sigma0^2 expm1((lv - lv0)/2)^2: exact near sigma0, no underflow
                # far below it (lv = -inf gives sigma0^2); inlined because the generic
                # function's validation costs more than the whole exact simulation
                lv0 = float(np.log(self.reference_cov))
                w2 = self.mean - float(self.reference_mean)
                w2 *= w2
                ds = np.expm1(0.5 * (self.log_var - lv0))
                ds *= np.exp(0.5 * lv0)
                ds *= ds
                w2 += ds
                self._w2 = w2
            else:
                self._w2 = w2_squared_gaussian_factors(
                    self.mean, self.cholesky, self.reference_mean, np.linalg.cholesky(self.reference_cov)
                )
        return self._w2

    def w2_squared_to_data(self, x, generations=None) -> np.ndarray:
        """W2^2 between each model N(mu_t, Sigma_t) and the empirical distribution of ``x``.

        Theorem 3.1 measures the distance to ``D_0`` itself, which need not be
        Gaussian: pass its sample (e.g. the ``initial`` data). Computed by
        :func:`collapse_theory.wasserstein.w2_squared_to_gaussian` (1-D: exact,
        by quantile functions; d-D: its Gelbrich lower bound), one call per
        replicate and generation.

        Parameters
        ----------
        x : array_like, shape (n,) or (n, d)
        generations : sequence of int, optional
            Generations to evaluate (default all).

        Returns
        -------
        ndarray, shape (R, len(generations))
        """
        from ..wasserstein import w2_squared_to_gaussian

        gens = np.arange(self.generations + 1) if generations is None else np.asarray(generations, dtype=np.int64)
        if gens.ndim != 1 or gens.size == 0 or gens.min() < 0 or gens.max() > self.generations:
            raise ValueError(f"generations must be a non-empty sequence of ints in [0, {self.generations}], got {generations!r}")
        out = np.empty((self.replicates, gens.size))
        for r in range(self.replicates):
            for j, t in enumerate(gens):
                if self.log_var is not None:
                    with np.errstate(under="ignore"):
                        C = float(np.exp(self.log_var[r, t]))
                    out[r, j] = w2_squared_to_gaussian(x, float(self.mean[r, t]), C)
                else:
                    L = self.cholesky[r, t]
                    out[r, j] = w2_squared_to_gaussian(x, self.mean[r, t], L @ L.T)
        return out

    @property
    def replicates(self) -> int:
        return self.mean.shape[0]

    @property
    def generations(self) -> int:
        return self.mean.shape[1] - 1

    @property
    def dim(self) -> int:
        return 1 if self.mean.ndim == 2 else self.mean.shape[2]

    @property
    def var(self) -> np.ndarray:
        """1-D: ``sigma_t^2``, shape (R, G+1) (underflows to 0 where log_var < -745)."""
        if self.log_var is None:
            raise AttributeError("var is defined for 1-D chains; use cov, trace or log_det")
        return np.exp(self.log_var)

    @property
    def std(self) -> np.ndarray:
        """1-D: ``sigma_t``, shape (R, G+1)."""
        if self.log_var is None:
            raise AttributeError("std is defined for 1-D chains")
        return np.exp(0.5 * self.log_var)

    @property
    def cov(self) -> np.ndarray:
        """d-D: ``Sigma_t``, shape (R, G+1, d, d) (computed from the Cholesky form)."""
        if self.chol_factor is None:
            raise AttributeError("cov is defined for d-D chains; use var or log_var")
        lf = self.cholesky
        return np.einsum("...ik,...jk->...ij", lf, lf)

    @property
    def cholesky(self) -> np.ndarray:
        """d-D: the Cholesky factor of ``Sigma_t``, shape (R, G+1, d, d) (may underflow; see chol_factor)."""
        if self.chol_factor is None:
            raise AttributeError("cholesky is defined for d-D chains")
        with np.errstate(under="ignore"):
            return self.chol_factor * np.exp(self.log_scale)[..., None, :]


class GaussianChain:
    """Recursive Gaussian fitting, 1-D or d-D (Theorem 3.1 of Shumailov et al. 2024).

    Parameters
    ----------
    mean : float or array_like, shape (d,)
        Mean of generation 0 (``mu_0``). May be None with ``initial`` data (then
        the data's mean).
    cov : float or array_like, shape (d, d)
        Generation 0's variance (scalar: a 1-D chain) or covariance (positive
        definite). May be None with ``initial`` data (then the data's
        covariance with the chosen estimator).
    sample_size : int, Schedule or int array
        ``M_t``, the size of dataset ``t`` (``ct.schedules.*`` for schedules).
    estimator : {'unbiased', 'mle'}
        Covariance estimator: divide the scatter by ``n - 1`` or by ``n``.
    method : {'auto', 'exact', 'sample'}
        'exact' draws sufficient statistics, 'sample' draws points; 'auto'
        takes 'exact' wherever it is valid (Gaussian ``D_0``).
    mixing : Mixing
        ``Mixing.replace()``, ``Mixing.fresh(real=gamma)`` or
        ``Mixing.accumulate(real=gamma)``; ``previous > 0`` is not supported.
    initial : array_like, shape (N,) or (N, d), or callable, optional
        Non-Gaussian ``D_0``. An array is the generation-0 dataset itself
        (generation 1 is fitted to it, so ``M_1 = N``; fresh real points are
        resampled from it). A callable ``initial(rng, n)`` returns ``n`` points
        drawn from ``D_0`` (shape (n,) or (n, d)). Requires ``method='sample'``
        (or 'auto').

    Raises
    ------
    ValueError
        ``M_t <= d`` (singular scatter), ``M_t < 2`` with the unbiased
        estimator, a covariance that is not positive definite, NaN, or
        ``method='exact'`` with ``initial`` data.

    Examples
    --------
    >>> import collapse_theory as ct
    >>> run = ct.GaussianChain(0.0, 1.0, sample_size=10).simulate(50, 200, rng=0)
    >>> run.log_var.shape, run.method
    ((200, 51), 'exact')
    """

    def __init__(self, mean, cov, sample_size, estimator="unbiased", method="auto", mixing=None, initial=None):
        self.estimator = check_choice("estimator", estimator, ("unbiased", "mle"))
        method = check_choice("method", method, ("auto", "exact", "sample"))
        mixing = Mixing.replace() if mixing is None else mixing
        if not isinstance(mixing, Mixing):
            raise TypeError(f"mixing must be a ct.Mixing, got {type(mixing).__name__}")
        if mixing.previous > 0:
            raise ValueError(
                f"mixing.previous = {mixing.previous}: reusing the previous generation's distribution is not "
                "supported by GaussianChain; use Mixing.replace(), .fresh(real=g) or .accumulate(real=g)"
            )
        self.mixing = mixing
        self.schedule = as_schedule(sample_size)
        self._initial_data = None
        self._initial_fn = None
        if initial is not None:
            if callable(initial):
                self._initial_fn = initial
            else:
                data = check_array("initial", initial, ndim=(1, 2), min_size=2)
                self._initial_data = data
        if mean is None or cov is None:
            if self._initial_data is None:
                raise ValueError("mean and cov may be None only when initial is an array of data")
            data = self._initial_data
            ddof = 1 if self.estimator == "unbiased" else 0
            mean = data.mean(axis=0) if mean is None else mean
            if cov is None:
                cov = float(np.var(data, ddof=ddof)) if data.ndim == 1 else np.cov(data, rowvar=False, ddof=ddof)
        cov = check_covariance("cov", cov)
        if cov.ndim == 0:
            if cov <= 0:
                raise ValueError(f"cov must be > 0, got {float(cov)}")
            self.dim = 1
            self.mean0 = float(check_array("mean", mean, ndim=0))
            self.cov0 = float(cov)
        else:
            d = cov.shape[0]
            try:
                np.linalg.cholesky(cov)
            except np.linalg.LinAlgError:
                raise ValueError("cov must be positive definite (its Cholesky factorisation failed)") from None
            self.dim = d
            m = check_array("mean", mean, ndim=1)
            if m.shape != (d,):
                raise ValueError(f"mean must have shape ({d},) to match cov, got {m.shape}")
            self.mean0 = m
            self.cov0 = cov
        if self._initial_data is not None:
            ok = (self._initial_data.ndim == 1 and self.dim == 1) or (
                self._initial_data.ndim == 2 and self._initial_data.shape[1] == self.dim
            )
            if not ok:
                raise ValueError(f"initial must have shape (N,) for a 1-D chain or (N, {self.dim}) for d = {self.dim}; got {self._initial_data.shape}")
        gaussian_d0 = initial is None
        if method == "exact" and not gaussian_d0:
            raise ValueError(
                "method='exact' draws sufficient statistics of Gaussian samples, which requires a Gaussian D_0; "
                "with initial data (a non-Gaussian D_0) use method='sample' or 'auto'"
            )
        self.method_requested = method
        self.method = "exact" if (method == "auto" and gaussian_d0) else ("sample" if method == "auto" else method)

    def _sizes(self, generations):
        sizes = self.schedule.sizes(generations).copy()
        if self._initial_data is not None and generations > 0:
            sizes[0] = self._initial_data.shape[0]
        minimum = max(2 if self.estimator == "unbiased" else 1, self.dim + 1 if self.dim > 1 else 1)
        if sizes.size and sizes.min() < minimum:
            why = (
                f"M_t <= d = {self.dim} gives a singular scatter matrix"
                if self.dim > 1
                else "the unbiased variance needs at least 2 points"
            )
            raise ValueError(f"sample_size: every M_t must be >= {minimum} ({why}); got a minimum of {sizes.min()}")
        return sizes

    def to_dict(self) -> dict:
        return {
            "mean": self.mean0,
            "cov": self.cov0,
            "sample_size": self.schedule.to_dict(),
            "estimator": self.estimator,
            "method": self.method,
            "mixing": self.mixing.to_dict(),
            "initial": None if (self._initial_data is None and self._initial_fn is None) else (
                "array" if self._initial_data is not None else "callable"),
        }

    def simulate(self, generations, replicates, *, rng=None, show_progress=None) -> GaussianChainResult:
        """Run ``replicates`` independent chains for ``generations`` generations.

        Parameters
        ----------
        generations : int
            ``G >= 0``.
        replicates : int
            ``R >= 1``.
        rng : None, int, SeedSequence or Generator
            Randomness (SPEC 7).
        show_progress : bool, optional
            Progress bar (default: on unless ``COLLAPSE_THEORY_PROGRESS=0``).

        Returns
        -------
        GaussianChainResult
        """
        G = check_int("generations", generations, min=0)
        R = check_int("replicates", replicates, min=1)
        sizes = self._sizes(G)
        ss = seed_sequence(rng)
        nblocks = -(-R // BLOCK)
        gens = [np.random.default_rng(s) for s in ss.spawn(nblocks)]
        d = self.dim
        ddof_denom = 1 if self.estimator == "unbiased" else 0
        if d == 1:
            mu = np.empty((R, G + 1))
            lv = np.empty((R, G + 1))
            mu[:, 0] = self.mean0
            lv[:, 0] = np.log(self.cov0)
            state = (mu, lv)
        else:
            mu = np.empty((R, G + 1, d))
            lc = np.empty((R, G + 1, d, d))
            ls = np.empty((R, G + 1, d))
            l0 = np.linalg.cholesky(self.cov0)
            dg = np.diag(l0)
            mu[:, 0] = self.mean0
            lc[:, 0] = l0 / dg[None, :]
            ls[:, 0] = np.log(dg)
            state = (mu, lc, ls)
        run = self._run_exact if self.method == "exact" else self._run_sample
        bar = progress(total=nblocks * max(G, 1), desc=f"gaussian chain ({self.method})", show=show_progress)
        for b in range(nblocks):
            rows = slice(b * BLOCK, min(R, (b + 1) * BLOCK))
            run(gens[b], [s[rows] for s in state], sizes, ddof_denom, bar)
        bar.close()
        return self._result(state, sizes, R, G)

    # ------------------------------------------------------------------ exact
    def _run_exact(self, gen, state, sizes, ddof_denom, bar):
        G = sizes.size
        d = self.dim
        B = state[0].shape[0]
        g = self.mixing.real
        pooled = self.mixing.pooled
        plain = g == 0.0 and not pooled
        denom = (sizes - ddof_denom).astype(np.float64)
        per_gen = (2 if plain else 5) if d == 1 else (d * (d + 1) // 2 + d) * (1 if plain else 2) + 1
        gc = max(1, min(G, _CHUNK_DOUBLES // (B * per_gen)))
        if d == 1:
            mu, lv = state
            pool = np.zeros((B, 3))
            pool[:, 2] = -np.inf
        else:
            mu, lc, ls = state
            l0 = np.linalg.cholesky(self.cov0)
            s0 = float(np.log(np.abs(l0).max()))
            l0 = l0 / np.exp(s0)
            pool_n = np.zeros(B)
            pool_m = np.zeros((B, d))
            pool_s = np.full(B, -np.inf)
            pool_l = np.zeros((B, d, d))
            jj = np.arange(d)
            noff = d * (d - 1) // 2
        for t0 in range(0, G, gc):
            tt = slice(t0, min(G, t0 + gc))
            m = sizes[tt]
            n = m.size
            if d == 1:
                if plain:
                    z = gen.standard_normal((B, n))
                    if m.min() <= 1:  # MLE with M = 1: a zero variance
                        c = _chisq(gen, np.broadcast_to(m - 1, (B, n)))
                    else:  # a scalar df draws about twice as fast as an array of them
                        c = gen.chisquare(int(m[0]) - 1 if np.all(m == m[0]) else m - 1, size=(B, n))
                    # log sigma_{t+1}^2 = log sigma_t^2 + log(chi2 / D);  mu_{t+1} = mu_t + sigma_t z / sqrt(M)
                    # (two cumulative sums over generations, vectorised over replicates)
                    nxt = slice(t0 + 1, t0 + n + 1)
                    with np.errstate(divide="ignore"):
                        inc = np.log(c, out=c)
                    inc -= np.log(denom[tt])
                    np.cumsum(inc, axis=1, out=lv[:, nxt])
                    lv[:, nxt] += lv[:, t0, None]
                    step = np.multiply(lv[:, t0 : t0 + n], 0.5)
                    np.exp(step, out=step)
                    step *= z
                    step *= 1.0 / np.sqrt(m.astype(np.float64))
                    np.cumsum(step, axis=1, out=mu[:, nxt])
                    mu[:, nxt] += mu[:, t0, None]
                else:
                    k = gen.binomial(m, g, size=(B, n)).astype(np.int64)
                    zr = gen.standard_normal((B, n))
                    cr = _chisq(gen, k - 1)
                    zs = gen.standard_normal((B, n))
                    cs = _chisq(gen, m - k - 1)
                    _k.mixed_1d(mu, lv, pool, k, zr, cr, zs, cs, sizes, ddof_denom, float(self.mean0),
                                float(np.log(self.cov0)), pooled, t0)
            else:
                if plain:
                    z = gen.standard_normal((B, n, d))
                    if np.all(m == m[0]):  # scalar degrees of freedom draw about twice as fast
                        chi = np.stack([gen.chisquare(int(m[0]) - 1 - j, size=(B, n)) for j in range(d)], axis=-1)
                    else:
                        chi = gen.chisquare((m - 1)[:, None] - jj[None, :], size=(B, n, d))
                    off = gen.standard_normal((B, n, noff))
                    _k.replace_nd(mu, lc, ls, z, chi, off, 1.0 / np.sqrt(sizes.astype(np.float64)),
                                  0.5 * np.log(denom), sizes - 1, t0)
                else:
                    k = gen.binomial(m, g, size=(B, n)).astype(np.int64)
                    zr = gen.standard_normal((B, n, d))
                    chir = _chisq(gen, (k - 1)[..., None] - jj)
                    offr = gen.standard_normal((B, n, noff))
                    zs = gen.standard_normal((B, n, d))
                    chis = _chisq(gen, (m - k - 1)[..., None] - jj)
                    offs = gen.standard_normal((B, n, noff))
                    _k.mixed_nd(mu, lc, ls, pool_n, pool_m, pool_s, pool_l, k, zr, chir, offr, zs, chis, offs,
                                sizes, ddof_denom, np.asarray(self.mean0, dtype=np.float64), l0, s0, pooled, t0)
            bar.update(n)

    # ----------------------------------------------------------------- sample
    def _real_points(self, gen, shape_n, t):
        """``shape_n = (B, n)`` points from D_0 (for d-D, shape (B, n, d))."""
        B, n = shape_n
        if self._initial_data is not None:
            data = self._initial_data
            if t == 0:
                return np.broadcast_to(data, (B,) + data.shape)
            return data[gen.integers(0, data.shape[0], size=(B, n))]
        if self._initial_fn is not None:
            x = np.asarray(self._initial_fn(gen, B * n), dtype=np.float64)
            want = (B * n,) if self.dim == 1 else (B * n, self.dim)
            if x.shape != want:
                raise ValueError(f"initial(rng, n) must return an array of shape {want}, got {x.shape}")
            return x.reshape((B, n) if self.dim == 1 else (B, n, self.dim))
        z = gen.standard_normal((B, n) if self.dim == 1 else (B, n, self.dim))
        if self.dim == 1:
            return self.mean0 + np.sqrt(self.cov0) * z
        return self.mean0 + z @ np.linalg.cholesky(self.cov0).T

    def _run_sample(self, gen, state, sizes, ddof_denom, bar):
        G = sizes.size
        d = self.dim
        B = state[0].shape[0]
        g = self.mixing.real
        pooled = self.mixing.pooled
        non_gaussian = self._initial_data is not None or self._initial_fn is not None
        if d == 1:
            mu, lv = state
            pool = np.zeros((B, 3))
            pool[:, 2] = -np.inf
        else:
            mu, lc, ls = state
            pool_n = np.zeros(B)
            pool_m = np.zeros((B, d))
            pool_s = np.full(B, -np.inf)
            pool_l = np.zeros((B, d, d))
            mean_y = np.empty((B, d))
            lb = np.empty((B, d, d))
            sb = np.empty(B)
            lmod = np.empty((B, d, d))
            cmod = np.empty(B)
        for t in range(G):
            n = int(sizes[t])
            # generation 1 is fitted to D_0 itself; later real points with probability gamma
            if t == 0 and non_gaussian:
                mask = np.ones((B, n), dtype=bool)
            elif g > 0 and t > 0:
                mask = gen.random((B, n)) < g
            else:
                mask = None
            z = gen.standard_normal((B, n) if d == 1 else (B, n, d))
            if d == 1:
                y = z  # points in units of sigma_t around mu_t
                if mask is not None and mask.any():
                    xr = self._real_points(gen, (B, n), t)
                    yr = (xr - mu[:, t, None]) * np.exp(-0.5 * lv[:, t, None])
                    y = np.where(mask, yr, z)
                ybar = y.mean(axis=1)
                sc = ((y - ybar[:, None]) ** 2).sum(axis=1)
                with np.errstate(divide="ignore"):
                    lb1 = lv[:, t] + np.log(sc)
                mb = mu[:, t] + np.exp(0.5 * lv[:, t]) * ybar
                _k.pool_update_1d(pool, np.full(B, float(n)), mb, lb1, pooled, ddof_denom, mu[:, t + 1], lv[:, t + 1])
            else:
                # points in units of exp(c) around mu_t, c = the largest log-scale of the model
                _k.to_scaled(np.ascontiguousarray(lc[:, t]), np.ascontiguousarray(ls[:, t]), lmod, cmod)
                y = np.einsum("rij,rpj->rpi", lmod, z)
                if mask is not None and mask.any():
                    xr = self._real_points(gen, (B, n), t)
                    yr = (xr - mu[:, t, None, :]) * np.exp(-cmod)[:, None, None]
                    y = np.where(mask[..., None], yr, y)
                _k.scatter_factor(np.ascontiguousarray(y), cmod, mean_y, lb, sb)
                mb = mu[:, t] + np.exp(cmod)[:, None] * mean_y
                mu_next = np.empty((B, d))
                lc_next = np.empty((B, d, d))
                ls_next = np.empty((B, d))
                _k.pool_update_nd(pool_n, pool_m, pool_s, pool_l, np.full(B, float(n)), mb, sb, lb, pooled,
                                  ddof_denom, mu_next, lc_next, ls_next)
                mu[:, t + 1] = mu_next
                lc[:, t + 1] = lc_next
                ls[:, t + 1] = ls_next
            bar.update(1)

    # ----------------------------------------------------------------- result
    def _result(self, state, sizes, R, G):
        common = dict(
            method=self.method,
            estimator=self.estimator,
            workflow=self.mixing.workflow,
            sample_sizes=sizes,
            params=self.to_dict(),
        )
        if self.dim == 1:
            mu, lv = state
            return GaussianChainResult(
                mean=mu, log_var=lv,
                reference_mean=np.asarray(self.mean0), reference_cov=np.asarray(self.cov0), **common,
            )
        mu, lc, ls = state
        res = GaussianChainResult(
            mean=mu, log_det=2.0 * ls.sum(axis=-1),
            chol_factor=lc, log_scale=ls, reference_mean=self.mean0, reference_cov=self.cov0, **common,
        )
        with np.errstate(under="ignore"):
            res.trace = np.einsum("rtij,rtj->rt", lc * lc, np.exp(2.0 * ls))
        return res


def _chisq(gen, df):
    """Chi-square variates with integer degrees of freedom ``df`` (array); 0 where ``df <= 0``."""
    df = np.asarray(df)
    out = gen.chisquare(np.maximum(df, 1))
    return np.where(df > 0, out, 0.0)
