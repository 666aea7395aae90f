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
from functools import cached_property

import numpy as np

from .._progress import progress
from .._rng import seed_sequence
from .._validate import check_array, check_choice, check_covariance, check_int
from ..process import WORKFLOWS, Mixing, Schedule, as_schedule, check_mixing
from ..wasserstein import _w2_squared_logvar_core, w2_squared_gaussian_factors
from . import _kernels_gaussian as _k
from ._result import _Paths

__all__ = ["ACCEPTED_WORKFLOWS", "BLOCK", "EXACT_WORKFLOWS", "MEMORY_LIMIT_BYTES", "POOL_LIMIT_BYTES", "W2_CHUNK", "GaussianChain",
           "GaussianChainResult"]

#: Replicates drawn from one random stream (fixed, so results do not depend on R).
BLOCK = 1024
#: Doubles of pre-drawn variates held at once per block (bounds memory).
_CHUNK_DOUBLES = 2**21


@dataclass
class GaussianChainResult(_Paths):
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

    _PATHS = "mean"

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

    @cached_property
    def w2_squared_to_initial(self) -> np.ndarray:
        """W2^2 to the generation-0 Gaussian, shape (R, G+1) (computed on first access, then cached).

        Computed in chunks of :data:`W2_CHUNK` entries (over 16 d^2 in d-D), so that its temporaries
        (dozens of arrays of the chunk's size in d-D, one SVD per entry) stay
        small beside the paths; each entry is independent, so chunking does not
        change a bit.
        """
        R, G1 = self.mean.shape[:2]
        n = R * G1
        out = np.empty((R, G1))
        flat_mean = self.mean.reshape((n,) + self.mean.shape[2:])
        if self.log_var is not None:
            m0, l0 = float(self.reference_mean), float(np.log(self.reference_cov))
            flat_lv = self.log_var.reshape(-1)
            step = W2_CHUNK

            def part(a, b):  # exact near sigma0 and no underflow far below it (lv = -inf gives sigma0^2)
                return _w2_squared_logvar_core(flat_mean[a:b], flat_lv[a:b], m0, l0)
        else:
            L0 = np.linalg.cholesky(self.reference_cov)
            d = self.mean.shape[2]
            flat_cf = self.chol_factor.reshape(n, d, d)
            flat_ls = self.log_scale.reshape(n, d)
            step = max(1, W2_CHUNK // (16 * d * d))  # about 240 d^2 floats of temporaries per entry (the SVDs)

            def part(a, b):
                with np.errstate(under="ignore"):
                    chol = flat_cf[a:b] * np.exp(flat_ls[a:b])[..., None, :]
                return w2_squared_gaussian_factors(flat_mean[a:b], chol, self.reference_mean, L0)
        flat_out = out.reshape(-1)
        for a in range(0, n, step):
            flat_out[a:a + step] = part(a, min(a + step, n))
        return out

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


#: Workflows whose datasets' sufficient statistics can be drawn exactly (method='exact').
EXACT_WORKFLOWS = ("replace", "fresh", "accumulate", "augment")
#: Every workflow GaussianChain honours (method='sample' runs all of them).
ACCEPTED_WORKFLOWS = WORKFLOWS
#: Largest working memory :meth:`GaussianChain.simulate` may allocate (8 GiB).
MEMORY_LIMIT_BYTES = 8 * 2**30
#: Entries of ``w2_squared_to_initial`` computed at a time, 1-D (d-D: this over 16 d^2; bounds its temporaries).
W2_CHUNK = 2**16
#: Bound on those temporaries (1-D: about 6 floats per entry; d-D: about 240 d^2), counted by the memory guard.
W2_TEMP_BYTES = 16 * 2**20
#: Largest pool (accumulate-subsample, sample path) held per block of replicates, in bytes.
POOL_LIMIT_BYTES = 2 * 1024**3


@dataclass(frozen=True, init=False, eq=False)
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
        ``M_t``, the number of new points of dataset ``t`` (``ct.schedules.*``).
    estimator : {'unbiased', 'mle'}
        Covariance estimator: divide the scatter by ``n - 1`` or by ``n``.
    method : {'auto', 'exact', 'sample'}
        'exact' draws sufficient statistics, 'sample' draws points; 'auto'
        takes 'exact' wherever it is exact (Gaussian ``D_0`` and a workflow in
        :data:`EXACT_WORKFLOWS`), 'sample' otherwise.
    mixing : Mixing, spec string or None
        Every workflow of :data:`collapse_theory.process.WORKFLOWS`:

        * replace, fresh (``real = g``): each of the ``M_t`` points comes from
          ``D_0`` with probability ``g``, otherwise from the current model;
        * mixture (``previous = beta > 0``): a point comes from the
          distribution the previous dataset was drawn from with probability
          ``beta`` (``q_t = alpha N(theta_t) + beta q_{t-1} + gamma p0``,
          ``q_0 = p0``: a geometric mixture of all earlier models). Sample
          path only: a dataset then mixes up to ``t + 1`` Gaussians, whose
          split is not a fixed number of sufficient statistics;
        * accumulate: the model is fitted to the pool of every point so far;
        * accumulate-subsample: the pool grows by ``M_t`` points a generation
          and each model is fitted to a uniform subset of ``M_t`` points drawn
          without replacement from it (Kazdan et al. 2024). Sample path only
          (successive subsets overlap, so the pool's points are kept); the
          pool is held in absolute coordinates;
        * augment (``synthetic_ratio = lam``): every model is fitted to the
          fixed ``D_0`` (``M_1`` points, or the ``initial`` data) plus
          ``round(lam |D_0|)`` fresh draws from the current model (Bertrand et
          al. 2024); generation 1 is fitted to ``D_0`` alone. Needs a constant
          ``sample_size``.
    initial : array_like, shape (N,) or (N, d), or callable, optional
        Non-Gaussian ``D_0``. An array is the generation-0 dataset itself
        (generation 1 is fitted to it, so ``M_1 = N``; fresh real points are
        resampled from it). A callable ``initial(rng, n)`` returns ``n`` finite
        points drawn from ``D_0`` (shape (n,) or (n, d)). Requires
        ``method='sample'`` (or 'auto').

    Attributes
    ----------
    sample_size : Schedule
    dim : int
    method : {'exact', 'sample'}
        The method that runs ('auto' resolved).

    Raises
    ------
    ValueError
        ``M_t <= d`` (singular scatter), ``M_t < 2`` with the unbiased
        estimator, a covariance that is not positive definite, NaN,
        ``method='exact'`` with ``initial`` data or with a workflow outside
        :data:`EXACT_WORKFLOWS`, augmentation with a non-constant schedule.
    TypeError
        ``mixing`` of another type; booleans or strings as numbers.

    Examples
    --------
    >>> import collapse_theory as ct
    >>> run = ct.GaussianChain(0.0, 1.0, sample_size=10).simulate(50, 200, rng=0)
    >>> run.log_var.shape, run.method
    ((200, 51), 'exact')
    >>> ct.GaussianChain(0.0, 1.0, 10, mixing="accumulate-subsample").method
    'sample'
    """

    mean0: object
    cov0: object
    sample_size: Schedule
    estimator: str
    method: str
    mixing: Mixing
    dim: int
    initial: object

    def __init__(self, mean, cov, sample_size, estimator="unbiased", method="auto", mixing=None, initial=None):
        estimator = check_choice("estimator", estimator, ("unbiased", "mle"))
        method = check_choice("method", method, ("auto", "exact", "sample"))
        mixing = check_mixing(mixing, ACCEPTED_WORKFLOWS, where="GaussianChain")
        schedule = as_schedule(sample_size, "sample_size")
        initial_data = initial_fn = None
        if initial is not None:
            if callable(initial):
                initial_fn = initial
            else:
                initial_data = check_array("initial", initial, ndim=(1, 2), min_size=2)
                initial_data.setflags(write=False)
        for name, v in (("mean", mean), ("cov", cov)):
            _no_bool_or_str(name, v)
        if mean is None or cov is None:
            if initial_data is None:
                raise ValueError("mean and cov may be None only when initial is an array of data")
            data = initial_data
            ddof = 1 if estimator == "unbiased" else 0
            mean = data.mean(axis=0) if mean is None else mean
            if cov is None:
                cov = float(np.var(data, ddof=ddof)) if data.ndim == 1 else np.cov(data, rowvar=False, ddof=ddof)
        cov = check_covariance("cov", cov)
        if cov.ndim == 0:
            if cov <= 0:
                raise ValueError(f"cov must be > 0, got {float(cov)}")
            dim = 1
            mean0 = float(check_array("mean", mean, ndim=0))
            cov0 = float(cov)
        else:
            d = cov.shape[0]
            if d == 0:
                raise ValueError("cov must be a scalar or a (d, d) matrix with d >= 1, got shape (0, 0)")
            try:
                np.linalg.cholesky(cov)
            except np.linalg.LinAlgError:
                raise ValueError("cov must be positive definite (its Cholesky factorisation failed)") from None
            dim = d
            m = check_array("mean", mean, ndim=1)
            if m.shape != (d,):
                raise ValueError(f"mean must have shape ({d},) to match cov, got {m.shape}")
            mean0 = m
            cov0 = cov
            mean0.setflags(write=False)
            cov0.setflags(write=False)
        if initial_data is not None:
            ok = (initial_data.ndim == 1 and dim == 1) or (initial_data.ndim == 2 and initial_data.shape[1] == dim)
            if not ok:
                raise ValueError(f"initial must have shape (N,) for a 1-D chain or (N, {dim}) for d = {dim}; got {initial_data.shape}")
        gaussian_d0 = initial is None
        exact_ok = mixing.workflow in EXACT_WORKFLOWS
        if method == "exact" and not gaussian_d0:
            raise ValueError(
                "method='exact' draws sufficient statistics of Gaussian samples, which requires a Gaussian D_0; "
                "with initial data (a non-Gaussian D_0) use method='sample' or 'auto'"
            )
        if method == "exact" and not exact_ok:
            raise ValueError(
                f"method='exact' is not available for the {mixing.workflow!r} workflow (its datasets have no fixed set "
                f"of sufficient statistics); exact workflows: {', '.join(EXACT_WORKFLOWS)}; use method='sample' or 'auto'"
            )
        if mixing.workflow == "augment" and schedule.kind != "constant":
            raise ValueError("sample_size: the augment workflow needs a constant sample size (|D_0| = M), got a "
                             f"{schedule.kind} schedule")
        resolved = "exact" if (method == "exact" or (method == "auto" and gaussian_d0 and exact_ok)) else "sample"
        for k, v in (("mean0", mean0), ("cov0", cov0), ("sample_size", schedule), ("estimator", estimator),
                     ("method", resolved), ("mixing", mixing), ("dim", dim), ("initial", initial),
                     ("method_requested", method), ("_initial_data", initial_data), ("_initial_fn", initial_fn)):
            object.__setattr__(self, k, v)

    def __repr__(self):
        return (f"GaussianChain(dim={self.dim}, sample_size={self.sample_size.to_dict()}, estimator={self.estimator!r}, "
                f"method={self.method!r}, mixing={self.mixing.to_spec()!r})")

    # ------------------------------------------------------------------ helpers
    def _synthetic_count(self, n0):
        lam = self.mixing.synthetic_ratio
        m = int(round(lam * n0))
        if m < 1:
            raise ValueError(f"mixing.synthetic_ratio = {lam} gives round({lam} * {n0}) = 0 synthetic draws per "
                             "generation; use a ratio of at least 0.5 / |D_0|")
        return m

    def _scaled_factor0(self):
        """``(L0, s0, L0 / e^s0)``: the Cholesky factor of ``cov0``, its log scale and the normalised factor."""
        l0 = np.linalg.cholesky(self.cov0)
        s0 = float(np.log(np.abs(l0).max()))
        return l0, s0, l0 / np.exp(s0)

    def _sizes(self, generations):
        sizes = self.sample_size.sizes(generations).copy()
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
            "sample_size": self.sample_size.to_dict(),
            "estimator": self.estimator,
            "method": self.method,
            "mixing": self.mixing.to_dict(),
            "initial": None if (self._initial_data is None and self._initial_fn is None) else (
                "array" if self._initial_data is not None else "callable"),
        }

    def simulate(self, generations, replicates, *, rng=None, show_progress=False) -> GaussianChainResult:
        """Run ``replicates`` independent chains for ``generations`` generations.

        Parameters
        ----------
        generations : int
            ``G >= 0``.
        replicates : int
            ``R >= 1``.
        rng : None, int, SeedSequence or Generator
            Randomness (SPEC 7).
        show_progress : bool
            Progress bar (default off).

        Returns
        -------
        GaussianChainResult

        Raises
        ------
        ValueError
            Invalid sizes; an ``initial`` callable returning non-finite points
            or a wrong shape; a subsample pool above :data:`POOL_LIMIT_BYTES`.
        """
        G = check_int("generations", generations, min=0)
        R = check_int("replicates", replicates, min=1)
        if not isinstance(show_progress, (bool, np.bool_)):
            raise TypeError(f"show_progress must be a bool, got {show_progress!r}")
        sizes = self._sizes(G)
        d = self.dim
        nblocks = -(-R // BLOCK)
        # refuse before allocating: float64 entries per replicate and generation at the peak, measured with
        # tracemalloc (1-D: mean, log-variance, W2^2 on access, and the kernel's outputs before they are
        # reordered; d-D: mean d, trace, log-det, factors d^2, log-scales d and W2^2 kept, while the kernel's
        # outputs, d^2 + 2d - 1 more, are reordered), per-generation buffers (up to 16 entries in 1-D, one
        # replicate's worth in d-D), W2^2's chunk temporaries and, on the sample path, one block's draws of
        # the largest generation
        per_rg = 4 if d == 1 else 2 * d * d + 4 * d + 2
        need = (G + 1) * (R * per_rg + (16 if d == 1 else per_rg)) * 8 + W2_TEMP_BYTES
        if self.method == "sample" and sizes.size:
            need += min(R, BLOCK) * int(sizes.max()) * (d + 1) * 8
        if need > MEMORY_LIMIT_BYTES:
            culprit = "replicates" if R * (G + 1) * per_rg * 8 > MEMORY_LIMIT_BYTES / 2 else (
                "sample_size" if self.method == "sample" else "generations")
            raise ValueError(
                f"{culprit}: simulate({G}, {R}) would need about {need / 2**30:.3g} GiB of memory "
                f"(d = {d}, method {self.method!r}), above the limit MEMORY_LIMIT_BYTES = "
                f"{MEMORY_LIMIT_BYTES / 2**30:.0f} GiB; use fewer replicates or generations, or simulate in batches"
            )
        if self.mixing.workflow == "accumulate-subsample":
            need = min(R, BLOCK) * int(sizes.sum()) * (d + 1) * 8
            if need > POOL_LIMIT_BYTES:
                raise ValueError(f"generations: the accumulate-subsample pool of {int(sizes.sum())} points per replicate "
                                 f"needs about {need / 2**30:.1f} GiB per block of {min(R, BLOCK)} replicates "
                                 f"(limit {POOL_LIMIT_BYTES / 2**30:.0f} GiB); use fewer generations or a smaller sample_size")
        ss = seed_sequence(rng)
        gens = [np.random.default_rng(s) for s in ss.spawn(nblocks)]
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
        wf = self.mixing.workflow
        if self.method == "exact":
            run = self._run_augment_exact if wf == "augment" else self._run_exact
        else:
            run = {"augment": self._run_augment_sample, "accumulate-subsample": self._run_subsample}.get(wf, self._run_sample)
        bar = progress(total=nblocks * max(G, 1), desc=f"gaussian chain ({self.method})", show=bool(show_progress))
        for b in range(nblocks if G > 0 else 0):
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
            pool = _empty_pool_1d(B)
        else:
            mu, lc, ls = state
            _, s0, l0 = self._scaled_factor0()
            pool_n, pool_m, pool_s, pool_l = _empty_pool_nd(B, d)
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
            x = self._initial_fn(gen, B * n)
            try:
                x = np.asarray(x, dtype=np.float64)
            except (TypeError, ValueError):
                raise TypeError(f"initial(rng, n) must return an array of numbers, got {type(x).__name__}") from None
            want = (B * n,) if self.dim == 1 else (B * n, self.dim)
            if x.shape != want:
                raise ValueError(f"initial(rng, n) must return an array of shape {want}, got {x.shape}")
            if not np.all(np.isfinite(x)):
                raise ValueError("initial(rng, n) returned NaN or inf; D_0's points must be finite")
            return x.reshape((B, n) if self.dim == 1 else (B, n, self.dim))
        z = gen.standard_normal((B, n) if self.dim == 1 else (B, n, self.dim))
        if self.dim == 1:
            return self.mean0 + np.sqrt(self.cov0) * z
        return self.mean0 + z @ np.linalg.cholesky(self.cov0).T

    def _sources(self, gen, B, n, t):
        """Per point: the generation whose model it is drawn from, or -1 for D_0 (real).

        Replace / fresh / accumulate: t or -1 (probability ``real``). Mixture: a
        point goes back ``L`` generations with probability ``beta^L`` and is then
        drawn from that model (``alpha``) or from D_0 (``gamma``); ``q_0 = p0``.
        Returns None when every point comes from model t.
        """
        m = self.mixing
        if m.previous > 0:
            lag = gen.geometric(1.0 - m.previous, size=(B, n)) - 1 if m.previous < 1 else np.full((B, n), t + 1)
            keep = gen.random((B, n)) * (m.synthetic + m.real) < m.synthetic
            src = t - lag
            return np.where((src >= 1) & keep, src, -1)
        if m.real > 0 and t > 0:
            return np.where(gen.random((B, n)) < m.real, -1, t)
        return None

    def _points_1d(self, gen, mu, lv, src, t, n):
        """Points of dataset t+1 in units of sigma_t around mu_t, shape (B, n)."""
        B = mu.shape[0]
        z = gen.standard_normal((B, n))
        if src is None:
            return z
        rows = np.arange(B)[:, None]
        s = np.where(src >= 0, src, t)
        half = 0.5 * (lv[rows, s] - lv[:, t, None])
        with np.errstate(over="ignore"):
            y = (mu[rows, s] - mu[:, t, None]) * np.exp(-0.5 * lv[:, t, None]) + np.exp(half) * z
        real = src < 0
        if real.any():
            xr = self._real_points(gen, (B, n), t)
            y = np.where(real, (xr - mu[:, t, None]) * np.exp(-0.5 * lv[:, t, None]), y)
        return y

    def _points_nd(self, gen, mu, lc, ls, src, t, n, lmod, cmod):
        """Points of dataset t+1 in units of exp(c_t) around mu_t, shape (B, n, d)."""
        B, _, d = mu.shape
        z = gen.standard_normal((B, n, d))
        _k.to_scaled(np.ascontiguousarray(lc[:, t]), np.ascontiguousarray(ls[:, t]), lmod, cmod)
        if src is None or np.all(src == t):
            return np.einsum("rij,rpj->rpi", lmod, z)
        rows = np.arange(B)[:, None]
        s = np.where(src >= 0, src, t)
        # model s's factor in units of exp(c_t): C_s diag(exp(s_s - c_t))
        with np.errstate(over="ignore", under="ignore"):
            fac = lc[rows, s] * np.exp(ls[rows, s] - cmod[:, None, None])[..., None, :]
            y = (mu[rows, s] - mu[:, t, None, :]) * np.exp(-cmod)[:, None, None] + np.einsum("rpij,rpj->rpi", fac, z)
        real = src < 0
        if real.any():
            xr = self._real_points(gen, (B, n), t)
            y = np.where(real[..., None], (xr - mu[:, t, None, :]) * np.exp(-cmod)[:, None, None], y)
        return y

    def _run_sample(self, gen, state, sizes, ddof_denom, bar):
        G = sizes.size
        d = self.dim
        B = state[0].shape[0]
        pooled = self.mixing.pooled
        non_gaussian = self._initial_data is not None or self._initial_fn is not None
        if d == 1:
            mu, lv = state
            pool = _empty_pool_1d(B)
        else:
            mu, lc, ls = state
            pool_nd = _empty_pool_nd(B, d)
        for t in range(G):
            n = int(sizes[t])
            if t == 0 and non_gaussian:  # generation 1 is fitted to D_0 itself
                src = np.full((B, n), -1)
            else:
                src = self._sources(gen, B, n, t)
            if d == 1:
                _refit_1d(self._points_1d(gen, mu, lv, src, t, n), mu, lv, t, pool, pooled, ddof_denom)
            elif src is None and not pooled:
                # every point from the model: refit in the model's own basis (no underflow, issue 17.1)
                z = gen.standard_normal((B, n, d))
                _k.refit_model_points_nd(mu, lc, ls, z, 0.5 * np.log(n - ddof_denom), t)
            else:
                self._refit_nd(gen, state, src, t, n, pool_nd, pooled, ddof_denom)
            bar.update(1)

    def _refit_nd(self, gen, state, src, t, n, pool, pooled, ddof_denom):
        """Fit model t+1 to the ``n`` points of dataset t+1 (sources ``src``), d-D, pooled into ``pool`` if ``pooled``.

        The points are drawn in units of model t's scale (:meth:`_points_nd`);
        ``pool`` is (n, mean, log scale, factor) per replicate.
        """
        mu, lc, ls = state
        B, _, d = mu.shape
        lmod = np.empty((B, d, d))
        cmod = np.empty(B)
        mean_y = np.empty((B, d))
        lb = np.empty((B, d, d))
        sb = np.empty(B)
        y = self._points_nd(gen, mu, lc, ls, src, t, n, lmod, cmod)
        _k.scatter_factor(np.ascontiguousarray(y), cmod, mean_y, lb, sb)
        mb = mu[:, t] + np.exp(cmod)[:, None] * mean_y
        mu_next = np.empty((B, d))
        lc_next = np.empty((B, d, d))
        ls_next = np.empty((B, d))
        _k.pool_update_nd(*pool, np.full(B, float(n)), mb, sb, lb, pooled, ddof_denom, mu_next, lc_next, ls_next)
        mu[:, t + 1] = mu_next
        lc[:, t + 1] = lc_next
        ls[:, t + 1] = ls_next

    # ---------------------------------------------------------------- augment
    def _d0_points(self, gen, B, n0):
        """D_0 per replicate, shape (B, n0[, d]) (the same array for every replicate with initial data)."""
        if self._initial_data is not None:
            return np.broadcast_to(self._initial_data, (B,) + self._initial_data.shape)
        return self._real_points(gen, (B, n0), 1)

    def _augment_sizes(self, state, sizes):
        """(G, d, B, |D_0|, synthetic draws per generation) of an augmentation block."""
        n0 = int(sizes[0])
        return sizes.size, self.dim, state[0].shape[0], n0, self._synthetic_count(n0)

    def _run_augment_exact(self, gen, state, sizes, ddof_denom, bar):
        G, d, B, n0, m = self._augment_sizes(state, sizes)
        if d == 1:
            mu, lv = state
            fixed = np.empty((B, 3))
            fixed[:, 0] = n0
            fixed[:, 1] = self.mean0 + np.sqrt(self.cov0) * gen.standard_normal(B) / np.sqrt(n0)
            with np.errstate(divide="ignore"):
                fixed[:, 2] = np.log(self.cov0) + np.log(_chisq(gen, np.full(B, n0 - 1)))
        else:
            mu, lc, ls = state
            l0, s0, l0n = self._scaled_factor0()
            jj = np.arange(d)
            noff = d * (d - 1) // 2
            fix_n = np.full(B, float(n0))
            fix_m = self.mean0 + gen.standard_normal((B, d)) @ l0.T / np.sqrt(n0)
            chi0 = _chisq(gen, np.broadcast_to(n0 - 1 - jj, (B, d)))
            off0 = gen.standard_normal((B, noff))
            fix_l = np.empty((B, d, d))
            fix_s = np.empty(B)
            for r in range(B):  # D_0's scatter factor L0 A (Bartlett), normalised
                a = np.zeros((d, d))
                a[jj, jj] = np.sqrt(chi0[r])
                a[np.tril_indices(d, -1)] = off0[r]
                f = l0n @ a
                mx = np.abs(f).max()
                fix_l[r] = f / mx
                fix_s[r] = s0 + np.log(mx)
        per_gen = 2 if d == 1 else (d * (d + 1) // 2 + d)
        gc = max(1, min(G, _CHUNK_DOUBLES // (B * per_gen)))
        for t0 in range(0, G, gc):
            n = min(G, t0 + gc) - t0
            if d == 1:
                zs = gen.standard_normal((B, n))
                cs = _chisq(gen, np.full((B, n), m - 1))
                _k.augment_1d(mu, lv, fixed, zs, cs, m, ddof_denom, t0)
            else:
                zs = gen.standard_normal((B, n, d))
                chis = _chisq(gen, np.broadcast_to(m - 1 - jj, (B, n, d)))
                offs = gen.standard_normal((B, n, noff))
                _k.augment_nd(mu, lc, ls, fix_n, fix_m, fix_s, fix_l, zs, chis, offs, m, ddof_denom, t0)
            bar.update(n)

    def _run_augment_sample(self, gen, state, sizes, ddof_denom, bar):
        G, d, B, n0, m = self._augment_sizes(state, sizes)
        x0 = self._d0_points(gen, B, n0)
        if d == 1:
            mu, lv = state
            fixed = np.empty((B, 3))
            fixed[:, 0] = n0
            fixed[:, 1], fixed[:, 2] = _fit_1d(x0, mu, lv, 0, ddof_denom)
            bar.update(1)
            for t in range(1, G):
                # pooled with D_0, which stays fixed
                _refit_1d(gen.standard_normal((B, m)), mu, lv, t, fixed.copy(), True, ddof_denom)
                bar.update(1)
            return
        fix_n = np.full(B, float(n0))
        fix_m, fix_l, fix_s = _fit_nd(x0, state, 0, ddof_denom)
        bar.update(1)
        for t in range(1, G):
            # pooled with D_0, which stays fixed
            self._refit_nd(gen, state, None, t, m, (fix_n.copy(), fix_m.copy(), fix_s.copy(), fix_l.copy()), True,
                           ddof_denom)
            bar.update(1)

    # ------------------------------------------------------ accumulate-subsample
    def _run_subsample(self, gen, state, sizes, ddof_denom, bar):
        G = sizes.size
        d = self.dim
        B = state[0].shape[0]
        total = int(sizes.sum())
        shape = (B, total) if d == 1 else (B, total, d)
        pool = np.empty(shape)
        marker = np.full((B, total), -1, dtype=np.int64)
        n0 = int(sizes[0])
        pool[:, :n0] = self._d0_points(gen, B, n0)  # generation 1 is fitted to D_0 (the whole pool)
        N = n0
        idx = np.empty((B, n0), dtype=np.int64)
        idx[:] = np.arange(n0)
        rows = np.arange(B)[:, None]
        g = self.mixing.real
        for t in range(G):
            m = int(sizes[t])
            if t > 0:
                # m new points (a share `real` from D_0) join the pool; fit to m of the pool
                if d == 1:
                    new = self._points_1d(gen, state[0], state[1], self._sources(gen, B, m, t), t, m)
                    new = state[0][:, t, None] + np.exp(0.5 * state[1][:, t, None]) * new
                else:
                    mu, lc, ls = state
                    with np.errstate(under="ignore"):
                        lf = lc[:, t] * np.exp(ls[:, t])[:, None, :]
                    new = mu[:, t, None, :] + np.einsum("rij,rpj->rpi", lf, gen.standard_normal((B, m, d)))
                    if g > 0:
                        real = gen.random((B, m)) < g
                        if real.any():
                            new = np.where(real[..., None], self._real_points(gen, (B, m), t), new)
                pool[:, N:N + m] = new
                N += m
                u = gen.random((B, m))
                idx = np.empty((B, m), dtype=np.int64)
                _k.floyd_subset(u, N, marker, t, idx)
            x = pool[rows, idx]
            if d == 1:
                _fit_1d(x, state[0], state[1], t, ddof_denom)
            else:
                _fit_nd(x, state, t, ddof_denom)
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


def _empty_pool_1d(B):
    """An empty running pool (n, mean, log scatter) per replicate, shape (B, 3)."""
    pool = np.zeros((B, 3))
    pool[:, 2] = -np.inf
    return pool


def _empty_pool_nd(B, d):
    """An empty running pool per replicate: n (B,), mean (B, d), log scale (B,), factor (B, d, d)."""
    return np.zeros(B), np.zeros((B, d)), np.full(B, -np.inf), np.zeros((B, d, d))


def _refit_1d(y, mu, lv, t, pool, pooled, ddof_denom):
    """Fit model t+1 to points ``y`` (B, n) given in units of sigma_t around mu_t, pooled into ``pool`` if ``pooled``."""
    B, n = y.shape
    ybar = y.mean(axis=1)
    with np.errstate(divide="ignore"):
        lb = lv[:, t] + np.log(((y - ybar[:, None]) ** 2).sum(axis=1))
    mb = mu[:, t] + np.exp(0.5 * lv[:, t]) * ybar
    _k.pool_update_1d(pool, np.full(B, float(n)), mb, lb, pooled, ddof_denom, mu[:, t + 1], lv[:, t + 1])


def _fit_1d(x, mu, lv, t, ddof_denom):
    """Fit model t+1 to the points ``x`` (B, n) alone; returns their mean and log scatter, each (B,)."""
    xbar = x.mean(axis=1)
    with np.errstate(divide="ignore"):
        log_scatter = np.log(((x - xbar[:, None]) ** 2).sum(axis=1))
    mu[:, t + 1] = xbar
    lv[:, t + 1] = log_scatter - np.log(x.shape[1] - ddof_denom)
    return xbar, log_scatter


def _fit_nd(x, state, t, ddof_denom):
    """Fit model t+1 to the points ``x`` (B, n, d) alone; returns their mean, normalised scatter factor and its log scale."""
    mu, lc, ls = state
    B, n, d = x.shape
    mean = np.empty((B, d))
    lhat = np.empty((B, d, d))
    s = np.empty(B)
    _k.scatter_factor(np.ascontiguousarray(x), np.zeros(B), mean, lhat, s)
    lc_next = np.empty((B, d, d))
    ls_next = np.empty((B, d))
    _k.from_scaled_batch(s, lhat, 0.5 * np.log(n - ddof_denom), lc_next, ls_next)
    mu[:, t + 1] = mean
    lc[:, t + 1] = lc_next
    ls[:, t + 1] = ls_next
    return mean, lhat, s


def _no_bool_or_str(name, value):
    """Booleans and strings are not numbers (issue 17.6)."""
    if value is None:
        return
    arr = np.asarray(value) if not isinstance(value, str) else None
    if isinstance(value, (bool, np.bool_, str, bytes)) or arr is None or arr.dtype == bool or arr.dtype.kind in "USO":
        if arr is not None and arr.dtype.kind == "O":
            try:
                arr = np.asarray(value, dtype=np.float64)
                return
            except (TypeError, ValueError):
                pass
        raise TypeError(f"{name} must be a real number or an array of real numbers, got {value!r}")


def _chisq(gen, df):
    """Chi-square variates with integer degrees of freedom ``df`` (array); 0 where ``df <= 0``."""
    df = np.asarray(df)
    out = gen.chisquare(np.maximum(df, 1))
    return np.where(df > 0, out, 0.0)
