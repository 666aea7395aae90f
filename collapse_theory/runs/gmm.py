"""The paper's Gaussian-mixture experiment: a GMM refitted to its own samples.

Generation ``t`` fits scikit-learn's :class:`~sklearn.mixture.GaussianMixture`
to a dataset ``D_t`` of ``M_t`` points and draws ``M_{t+1}`` points from the
fit; the next dataset mixes those with fresh original data and kept previous
data as :class:`collapse_theory.Mixing` says (Shumailov et al., Nature 2024,
supplementary "Gaussian mixture" experiment; the authors' settings: two
components, full covariance, ``tol=1e-5``, up to 2000 EM iterations, M = 1000,
about 2000 generations). The run is a :class:`~collapse_theory.runs.GenerationalRun`
of family ``"gmm"`` written generation by generation, measured as it goes by
:class:`~collapse_theory.runs.evaluate.Evaluator`.

Per generation ``t`` (randomness from ``run.generation_seed(t)`` only, split
into three independent streams, so resuming reproduces an uninterrupted run):

1. stream 0 assembles ``D_t``: ``t = 0``: ``M_0`` truth draws (or the given
   sample array); ``t >= 1``: multinomial counts ``(n_syn, n_prev, n_real)`` of
   ``M_t`` with probabilities (synthetic, previous, real); the first
   ``n_syn`` draws of model ``t-1``, ``n_prev`` rows of ``D_{t-1}`` (without
   replacement), ``n_real`` truth draws. Accumulate (``mixing.pooled``): the new
   rows are appended to ``D_{t-1}``.
2. stream 1 seeds the EM initialisation (``random_state``); ``warm_start``
   initialises EM from model ``t-1``'s parameters instead.
3. stream 2 draws ``M_{t+1}`` points from model ``t``: the record's sample
   (trimmed to ``sample_keep``) and the synthetic part of ``D_{t+1}``.

The mixture helpers (:func:`gmm_log_density`, :func:`gmm_sample`,
:func:`l2_squared_gmm`) are shared with the evaluator. The closed-form L2
distance is the one the paper's GMM notebook plotted, via the Gaussian
product integral :math:`\\int N(x; a, A) N(x; b, B)\\,dx = N(a; b, A + B)`
(Petersen & Pedersen, *The Matrix Cookbook*, sec. 8.1.8).
"""

from __future__ import annotations

import hashlib
import os
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from .._rng import seed_sequence
from .._validate import check_array, check_choice, check_covariance, check_float, check_int, check_probability_vector
from ..process import Mixing, as_schedule
from .record import GenerationalRun, GenerationRecord

__all__ = [
    "run",
    "GMMDensity",
    "default_truth",
    "gmm_log_density",
    "gmm_sample",
    "l2_squared_gmm",
    "SNAPSHOTS",
    "RUN_METRICS",
    "density_figure",
    "metric_figure",
    "log_density_figure",
    "summary_table",
    "timing_table",
    "write_outputs",
]

#: Metrics computed during a run by default (``w2_squared_to_truth`` is left to ``evaluate``).
RUN_METRICS = (
    "w2_squared_to_initial",
    "l2_squared_to_initial",
    "log_density_under_initial",
    "tail_mass",
    "cov_trace",
    "cov_logdet",
)
#: Generations shown in the paper's supplementary GMM figure.
SNAPSHOTS = (0, 50, 100, 150, 200, 350, 2000)
_COV_TYPES = ("full", "tied", "diag", "spherical")
_INITS = ("kmeans", "k-means++", "random", "random_from_data")
_LOG2PI = np.log(2.0 * np.pi)


# ---------------------------------------------------------------------------- mixture math
def default_truth() -> dict:
    """D_0 by default: two well-separated 2-D Gaussians, equal weights.

    Means (-3, 0) and (3, 0) (six units apart, about six standard deviations),
    covariances ``[[1, .3], [.3, .6]]`` and ``[[.6, -.2], [-.2, 1]]``.
    """
    return {
        "weights": np.array([0.5, 0.5]),
        "means": np.array([[-3.0, 0.0], [3.0, 0.0]]),
        "covariances": np.array([[[1.0, 0.3], [0.3, 0.6]], [[0.6, -0.2], [-0.2, 1.0]]]),
    }


def _chol(C: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.cholesky(C)
    except np.linalg.LinAlgError:
        # singular (collapsed) covariance: a symmetric square root still samples it
        vals, vecs = np.linalg.eigh(C)
        return vecs * np.sqrt(np.clip(vals, 0.0, None))[..., None, :]


class GMMDensity:
    """A Gaussian mixture's log-density with its Cholesky factors computed once.

    Evaluators score every generation under the same generation-0 and truth
    mixtures; factoring them once keeps that cost to a matrix product.
    """

    def __init__(self, weights, means, covariances):
        self.means = np.asarray(means, float)
        L = np.linalg.cholesky(np.asarray(covariances, float))
        d = self.means.shape[1]
        eye = np.broadcast_to(np.eye(d), L.shape)
        self.linv_t = np.swapaxes(np.linalg.solve(L, eye), -1, -2)  # (L^{-1})^T per component
        with np.errstate(divide="ignore"):
            logw = np.log(np.asarray(weights, float))
        self.const = logw - np.log(np.diagonal(L, axis1=1, axis2=2)).sum(axis=1) - 0.5 * d * _LOG2PI

    def __call__(self, x) -> np.ndarray:
        x = np.asarray(x, float)
        comp = np.empty((len(x), len(self.means)))
        for k in range(len(self.means)):
            z = (x - self.means[k]) @ self.linv_t[k]
            comp[:, k] = self.const[k] - 0.5 * np.einsum("ij,ij->i", z, z)
        mx = comp.max(axis=1)
        mx = np.where(np.isfinite(mx), mx, 0.0)
        return mx + np.log(np.exp(comp - mx[:, None]).sum(axis=1))


def gmm_log_density(x, weights, means, covariances) -> np.ndarray:
    """Log-density of a Gaussian mixture.

    .. math:: \\log f(x) = \\log \\sum_k w_k\\, N(x; \\mu_k, \\Sigma_k)

    Parameters
    ----------
    x : array_like, shape (n, d)
    weights : array_like, shape (K,)
    means : array_like, shape (K, d)
    covariances : array_like, shape (K, d, d)
        Positive definite.

    Returns
    -------
    ndarray, shape (n,)
    """
    return GMMDensity(weights, means, covariances)(x)


def gmm_sample(weights, means, covariances, n: int, *, rng) -> np.ndarray:
    """``n`` i.i.d. draws of a Gaussian mixture, rows in random order.

    Component labels are drawn i.i.d. (not grouped as scikit-learn's
    ``sample`` does), so any prefix of the rows is itself an i.i.d. sample.
    A singular covariance is sampled through its symmetric square root.

    Returns
    -------
    ndarray, shape (n, d)
    """
    from .._rng import default_rng

    rng = default_rng(rng)
    w = np.asarray(weights, float)
    means = np.asarray(means, float)
    L = _chol(np.asarray(covariances, float))
    cw = np.cumsum(w)
    labels = np.minimum(np.searchsorted(cw, rng.random(n) * cw[-1], side="right"), len(w) - 1)
    z = rng.standard_normal((n, means.shape[1]))
    # every component transforms every z (K small), then each row keeps its own
    y = np.matmul(z[None], np.swapaxes(L, 1, 2)) + means[:, None, :]
    return y[labels, np.arange(n)]


def _overlaps(m1, C1, m2, C2) -> np.ndarray:
    """(K1, K2) Gaussian product integrals N(m1_i; m2_j, C1_i + C2_j)."""
    S = C1[:, None] + C2[None, :]
    diff = m1[:, None, :] - m2[None, :, :]
    L = np.linalg.cholesky(S)
    z = np.linalg.solve(L, diff[..., None])[..., 0]
    d = m1.shape[1]
    logdet = 2.0 * np.log(np.diagonal(L, axis1=-2, axis2=-1)).sum(-1)
    return np.exp(-0.5 * (z**2).sum(-1) - 0.5 * logdet - 0.5 * d * _LOG2PI)


def l2_squared_gmm(w1, m1, C1, w2, m2, C2) -> float:
    """Closed-form squared L2 distance between two Gaussian mixtures.

    .. math:: \\int (f - g)^2 dx = \\sum_{ij} w_i w_j N(\\mu_i; \\mu_j, \\Sigma_i + \\Sigma_j)
              + \\sum_{ij} v_i v_j N(\\nu_i; \\nu_j, \\Gamma_i + \\Gamma_j)
              - 2 \\sum_{ij} w_i v_j N(\\mu_i; \\nu_j, \\Sigma_i + \\Gamma_j)

    (Gaussian product integral, Petersen & Pedersen, *The Matrix Cookbook*,
    8.1.8). The quantity plotted by the paper's GMM notebook.

    Parameters
    ----------
    w1 : array_like, shape (K1,)
    m1 : array_like, shape (K1, d)
    C1 : array_like, shape (K1, d, d)
    w2, m2, C2 : the second mixture, shapes (K2,), (K2, d), (K2, d, d)

    Returns
    -------
    float
        Non-negative (clipped at 0 against round-off).
    """
    w1, m1, C1, w2, m2, C2 = (np.asarray(a, float) for a in (w1, m1, C1, w2, m2, C2))
    ff = w1 @ _overlaps(m1, C1, m1, C1) @ w1
    gg = w2 @ _overlaps(m2, C2, m2, C2) @ w2
    fg = w1 @ _overlaps(m1, C1, m2, C2) @ w2
    return float(max(ff + gg - 2.0 * fg, 0.0))


# ---------------------------------------------------------------------------- configuration
def _check_truth(truth, n_components: int):
    """(truth dict for the record, parametric (w, m, C) or None, sample or None)."""
    if truth is None:
        truth = default_truth()
    if isinstance(truth, dict):
        missing = {"weights", "means", "covariances"} - set(truth)
        if missing:
            raise ValueError(f"truth must hold 'weights', 'means' and 'covariances' (a GMM); missing {sorted(missing)}")
        w = check_probability_vector("truth['weights']", truth["weights"])
        m = check_array("truth['means']", truth["means"], ndim=2)
        C = check_array("truth['covariances']", truth["covariances"], ndim=3)
        if m.shape[0] != w.size or C.shape != (w.size, m.shape[1], m.shape[1]):
            raise ValueError(
                f"truth: weights {w.shape}, means {m.shape} and covariances {C.shape} must have shapes (K,), (K, d), (K, d, d)"
            )
        for k in range(w.size):
            check_covariance(f"truth['covariances'][{k}]", C[k])
            if np.linalg.eigvalsh(C[k])[0] <= 0:
                raise ValueError(f"truth['covariances'][{k}] must be positive definite (the tail metrics need a density)")
        return {"weights": w, "means": m, "covariances": C}, (w, m, C), None
    x = check_array("truth", truth, ndim=(1, 2))
    x = x.reshape(len(x), -1)
    if len(x) < max(n_components, 2):
        raise ValueError(f"truth: a sample needs at least n_components={n_components} rows (and 2), got {len(x)}")
    return {"sample": x}, None, x


def _digest(d: dict) -> str:
    h = hashlib.sha256()
    for k in sorted(d):
        h.update(k.encode())
        h.update(np.ascontiguousarray(d[k], dtype=float).tobytes())
    return h.hexdigest()[:16]


def _to_full(gm, covariance_type: str, d: int) -> np.ndarray:
    K = gm.n_components
    c = gm.covariances_
    if covariance_type == "full":
        return np.array(c, float)
    if covariance_type == "tied":
        return np.repeat(np.asarray(c, float)[None], K, axis=0)
    if covariance_type == "diag":
        return np.stack([np.diag(v) for v in np.asarray(c, float)])
    return np.asarray(c, float)[:, None, None] * np.eye(d)[None]


def _precisions_init(C: np.ndarray, covariance_type: str):
    P = np.linalg.inv(C)
    if covariance_type == "full":
        return P
    if covariance_type == "tied":
        return np.linalg.inv(C.mean(axis=0))
    if covariance_type == "diag":
        return 1.0 / np.diagonal(C, axis1=1, axis2=2)
    return 1.0 / (np.trace(C, axis1=1, axis2=2) / C.shape[1])


# ---------------------------------------------------------------------------- one replicate
class _Chain:
    """The data-generating part of one replicate (the same code live and on replay)."""

    def __init__(self, run: GenerationalRun, spec: dict, truth_gmm, truth_sample):
        self.run = run
        self.spec = spec
        self.mixing = spec["mixing"]
        self.sizes = spec["sizes"]
        self.truth_gmm = truth_gmm
        self.truth_sample = truth_sample

    def streams(self, t: int):
        return [np.random.default_rng(s) for s in self.run.generation_seed(t).spawn(3)]

    def _truth_draws(self, n: int, rng) -> np.ndarray:
        if self.truth_gmm is not None:
            return gmm_sample(*self.truth_gmm, n, rng=rng)
        idx = rng.choice(len(self.truth_sample), size=n, replace=n > len(self.truth_sample))
        return self.truth_sample[idx]

    def assemble(self, t: int, rng, prev_data, prev_draws) -> np.ndarray:
        if t == 0:
            if self.truth_sample is not None:
                return self.truth_sample
            return self._truth_draws(int(self.sizes[0]), rng)
        mx = self.mixing
        n = int(self.sizes[t])
        c_syn, c_prev, c_real = rng.multinomial(n, [mx.synthetic, mx.previous, mx.real])
        parts = [prev_draws[:c_syn]]
        if c_prev:
            parts.append(prev_data[rng.choice(len(prev_data), size=c_prev, replace=c_prev > len(prev_data))])
        if c_real:
            parts.append(self._truth_draws(int(c_real), rng))
        new = np.concatenate(parts)
        return np.concatenate([prev_data, new]) if mx.pooled else new

    def fit(self, data, rng, prev_params):
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.mixture import GaussianMixture

        s = self.spec
        kw = {}
        if s["warm_start"] and prev_params is not None:
            kw = dict(
                weights_init=prev_params["weights"],
                means_init=prev_params["means"],
                precisions_init=_precisions_init(prev_params["covariances"], s["covariance_type"]),
            )
        gm = GaussianMixture(
            n_components=s["n_components"],
            covariance_type=s["covariance_type"],
            tol=s["tol"],
            max_iter=s["max_iter"],
            reg_covar=s["reg_covar"],
            init_params=s["init_params"],
            random_state=int(rng.integers(2**31 - 1)),
            **kw,
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            try:
                gm.fit(data)
            except ValueError as exc:
                raise ValueError(f"GaussianMixture failed on a dataset of {len(data)} points: {exc}") from exc
        params = {
            "weights": np.array(gm.weights_, float),
            "means": np.array(gm.means_, float),
            "covariances": _to_full(gm, s["covariance_type"], data.shape[1]),
        }
        info = {"n_iter": int(gm.n_iter_), "converged": bool(gm.converged_), "lower_bound": float(gm.lower_bound_), "n_data": int(len(data))}
        if any(issubclass(w.category, ConvergenceWarning) for w in caught):
            info["warning"] = "EM did not converge"
        return params, info

    def draws(self, t: int, params, rng) -> np.ndarray:
        return gmm_sample(params["weights"], params["means"], params["covariances"], int(self.sizes[t + 1]), rng=rng)

    def replay(self, upto: int):
        """(D_{upto-1}, draws of model upto-1) rebuilt from stored parameters, without refitting."""
        gens = self.run.generations
        need_data = self.mixing.previous > 0 or self.mixing.pooled
        data = draws = None
        for t in range(0 if need_data else upto - 1, upto):
            s = self.streams(t)
            if need_data:
                data = self.assemble(t, s[0], data, draws)
            s[1].integers(2**31 - 1)  # the EM seed, consumed as in the live loop
            draws = self.draws(t, gens[t].params, s[2])
        return data, draws


def _run_one(spec: dict, seed, out, resume, label: str, show_progress, callback=None) -> GenerationalRun:
    from threadpoolctl import threadpool_limits

    from sklearn.mixture import GaussianMixture  # noqa: F401  (loaded before the thread limit applies)

    from .. import wasserstein
    from .._progress import progress
    from .evaluate import Evaluator

    truth_rec, truth_gmm, truth_sample = spec["truth"]
    run = GenerationalRun.open(
        out, kind="gmm", family="gmm", config=spec["config"], seed=seed, resume=resume, truth=truth_rec, sample_keep=spec["sample_keep"]
    )
    chain = _Chain(run, spec, truth_gmm, truth_sample)
    G = spec["generations"]
    t0 = run.next_generation
    data, draws = chain.replay(t0) if t0 > 0 else (None, None)
    prev_params = run.generations[-1].params if t0 > 0 else None
    ev_seed = np.random.SeedSequence(run.seed.entropy, spawn_key=(*run.seed.spawn_key, 2**62))
    evaluator = None
    if spec["metrics"]:
        # the first call loads POT (seconds): keep that out of generation 0's metric time
        wasserstein.w2_squared_gmm([0.5, 0.5], [0.0, 1.0], [1.0, 1.0], [0.5, 0.5], [0.0, 1.0], [1.0, 1.0])
    if spec["metrics"] and t0 > 0:
        evaluator = Evaluator("gmm", run.generations[0].params, truth=truth_rec, metrics=spec["metrics"], n_mc=spec["n_mc"], rng=ev_seed)
    with threadpool_limits(limits=1):  # EM on 1000 points: threads only add overhead (and oversubscribe replicates)
        for t in progress(range(t0, G + 1), total=G + 1 - t0, desc=f"gmm {label}", show=show_progress, unit="gen"):
            start = time.perf_counter()
            s = chain.streams(t)
            data = chain.assemble(t, s[0], data, draws)
            t_assemble = time.perf_counter()
            params, info = chain.fit(data, s[1], prev_params)
            t_fit = time.perf_counter()
            draws = chain.draws(t, params, s[2])
            t_sample = time.perf_counter()
            if evaluator is None and spec["metrics"]:
                evaluator = Evaluator("gmm", params, truth=truth_rec, metrics=spec["metrics"], n_mc=spec["n_mc"], rng=ev_seed)
            metrics = evaluator(params, draws) if evaluator is not None else {}
            t_metrics = time.perf_counter()
            timing = {
                "fit": t_fit - t_assemble,
                "sample": (t_assemble - start) + (t_sample - t_fit),
                "metrics": t_metrics - t_sample,
            }
            rec = GenerationRecord(t, params=params, sample=draws, metrics=metrics, wall_time=t_metrics - start, timing=timing, info=info)
            run.append(rec)
            prev_params = params
            if callback is not None:
                callback(run, rec)
    return run


def _run_one_star(args):
    return _run_one(*args)


# ---------------------------------------------------------------------------- public entry point
def run(
    generations: int = 2000,
    sample_size=1000,
    n_components: int = 2,
    *,
    rng=0,
    out=None,
    resume: bool = False,
    mixing: Mixing | None = None,
    replicates: int = 1,
    truth=None,
    covariance_type: str = "full",
    tol: float = 1e-5,
    max_iter: int = 2000,
    reg_covar: float = 1e-6,
    init_params: str = "kmeans",
    warm_start: bool = False,
    sample_keep: int | None = 250,
    metrics="default",
    n_mc: int | None = None,
    show_progress: bool | None = None,
    max_workers: int | None = None,
    callback=None,
):
    """Refit a Gaussian mixture to its own samples, generation after generation.

    Parameters
    ----------
    generations : int
        Last generation ``G``; models ``0..G`` are fitted (``G + 1`` records).
    sample_size : int, Schedule or int array
        ``M``: points per dataset (``ct.as_schedule``; dataset ``t`` has
        ``sizes(G + 2)[t]`` points). Must be >= ``n_components``.
    n_components : int
        Mixture components (the paper: 2).
    rng : None, int or SeedSequence
        Seed. Replicate ``r`` of ``R > 1`` uses the child ``r`` of its
        SeedSequence; a single replicate uses the seed itself. Pass an int or
        SeedSequence to be able to resume.
    out : str or PathLike, optional
        Directory written generation by generation (``out/replicate-RR`` when
        ``replicates > 1``); None keeps the run in memory.
    resume : bool
        Continue the run(s) in ``out`` from the last complete generation (same
        arguments required; the result equals an uninterrupted run).
    mixing : Mixing
        ``Mixing.replace()`` (default), ``Mixing.fresh(real=g)``,
        ``Mixing.accumulate()`` (the pool grows by ``M`` per generation, so EM
        time grows linearly with ``t``).
    replicates : int
        Independent runs, in parallel processes (at most ``max_workers``,
        default ``os.cpu_count()``).
    truth : dict or array_like, optional
        ``D_0``: GMM parameters (``weights`` (K,), ``means`` (K, d),
        ``covariances`` (K, d, d)) or a sample (n, d) which is used as ``D_0``
        itself and resampled for fresh data. Default :func:`default_truth`.
    covariance_type, tol, max_iter, reg_covar, init_params, warm_start
        GaussianMixture settings (defaults as the paper: full, 1e-5, 2000).
        ``warm_start=True`` initialises EM from the previous generation's fit.
    sample_keep : int or None
        Rows of each generation's sample stored in the record (None: all).
    metrics : "default", None or sequence of str
        Metrics computed during the run and stored on each record (see
        :mod:`collapse_theory.runs.evaluate`). "default": :data:`RUN_METRICS`,
        the cheap ones (closed forms and the generation's own draws; together
        well under the EM fit's time); ``w2_squared_to_truth`` (a second
        mixture-W2 optimal-transport problem) is deferred: compute it
        afterwards with ``ct.runs.evaluate``. None: every metric; ``()``: none.
    n_mc : int, optional
        Model draws per generation for ``tail_mass``; None (default) uses the
        generation's own ``M`` draws (no extra sampling).
    show_progress : bool, optional
        A progress bar per replicate (default: on unless ``COLLAPSE_THEORY_PROGRESS=0``).
    callback : callable(run, record), optional
        Called after each committed generation (single process only).

    Returns
    -------
    GenerationalRun, or list of GenerationalRun if ``replicates > 1``
    """
    G = check_int("generations", generations, min=0)
    K = check_int("n_components", n_components, min=1)
    R = check_int("replicates", replicates, min=1)
    schedule = as_schedule(sample_size)
    sizes = schedule.sizes(G + 2)
    if sizes.min() < K:
        raise ValueError(f"sample_size must be >= n_components={K} (EM needs at least one point per component), got a minimum of {sizes.min()}")
    covariance_type = check_choice("covariance_type", covariance_type, _COV_TYPES)
    init_params = check_choice("init_params", init_params, _INITS)
    tol = check_float("tol", tol, min=0.0, min_inclusive=False)
    reg_covar = check_float("reg_covar", reg_covar, min=0.0)
    max_iter = check_int("max_iter", max_iter, min=1)
    if not isinstance(warm_start, (bool, np.bool_)):
        raise TypeError(f"warm_start must be a bool, got {warm_start!r}")
    mixing = Mixing.replace() if mixing is None else mixing
    if not isinstance(mixing, Mixing):
        raise TypeError(f"mixing must be a ct.Mixing (e.g. ct.Mixing.replace()), got {type(mixing).__name__}")
    if mixing.pooled and mixing.previous > 0:
        raise ValueError("mixing: accumulate already keeps all previous data; previous must be 0")
    if sample_keep is not None:
        sample_keep = check_int("sample_keep", sample_keep, min=0)
    n_mc = int(sizes.min()) if n_mc is None else check_int("n_mc", n_mc, min=1)
    if isinstance(rng, np.random.Generator) and (out is not None or resume):
        warnings.warn("rng is a Generator: the run can be written but not resumed; pass an int seed", stacklevel=2)
    truth_rec, truth_gmm, truth_sample = _check_truth(truth, K)
    d = truth_gmm[1].shape[1] if truth_gmm is not None else truth_sample.shape[1]
    if truth_sample is not None and len(truth_sample) < K:
        raise ValueError(f"truth sample has {len(truth_sample)} rows, fewer than n_components={K}")
    from .._validate import check_names
    from .evaluate import METRICS

    if isinstance(metrics, str) and metrics == "default":
        metrics = RUN_METRICS
    elif metrics is None:
        metrics = METRICS
    else:
        metrics = check_names("metrics", metrics, METRICS)
    # the number of generations is not part of the config: resuming with a larger G extends a run
    config = {
        "sample_size": schedule.to_dict(),
        "n_components": K,
        "dimension": d,
        "mixing": mixing.to_dict(),
        "truth": "default" if truth is None else ("gmm" if truth_gmm is not None else "sample"),
        "truth_digest": _digest(truth_rec),
        "covariance_type": covariance_type,
        "tol": tol,
        "max_iter": max_iter,
        "reg_covar": reg_covar,
        "init_params": init_params,
        "warm_start": bool(warm_start),
        "sample_keep": sample_keep,
        "metrics": list(metrics),
        "n_mc": n_mc,
    }
    spec = {
        "config": config,
        "generations": G,
        "sizes": sizes,
        "n_components": K,
        "mixing": mixing,
        "covariance_type": covariance_type,
        "tol": tol,
        "max_iter": max_iter,
        "reg_covar": reg_covar,
        "init_params": init_params,
        "warm_start": bool(warm_start),
        "sample_keep": sample_keep,
        "metrics": metrics,
        "n_mc": n_mc,
        "truth": (truth_rec, truth_gmm, truth_sample),
    }
    ss = seed_sequence(rng)
    if R == 1:
        return _run_one(spec, ss, out, resume, "", show_progress, callback)
    if callback is not None:
        raise ValueError("callback is supported for a single replicate only (replicates run in other processes)")
    seeds = [np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, r)) for r in range(R)]
    outs = [None if out is None else Path(out) / f"replicate-{r:02d}" for r in range(R)]
    jobs = [(spec, seeds[r], outs[r], resume, f"replicate {r}", show_progress) for r in range(R)]
    workers = min(R, check_int("max_workers", max_workers, min=1) if max_workers is not None else (os.cpu_count() or 1))
    import multiprocessing

    if multiprocessing.current_process().daemon:  # a daemonic worker may not start processes of its own
        workers = 1
    if workers == 1:
        return [_run_one_star(j) for j in jobs]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_run_one_star, jobs))


# ---------------------------------------------------------------------------- figures and table
def _as_list(runs):
    return [runs] if isinstance(runs, GenerationalRun) else list(runs)


def density_figure(runs, generations=SNAPSHOTS, *, grid: int = 150):
    """Density contours of the fitted mixtures at the snapshot generations (paper's supplementary figure).

    One row per replicate (at most 3), one column per snapshot generation that
    the run reached (and the last); contours of the log-density at the same
    levels in every panel (generation 0's, at Mahalanobis radii 0.5 to 3 from
    its peak), component means as crosses, the stored sample as dots.
    """
    from ..plotting import new_figure

    runs = _as_list(runs)[:3]
    G = min(len(r) for r in runs) - 1
    gens = [g for g in generations if g <= G]
    if G not in gens:
        gens.append(G)
    fig, axes = new_figure(len(runs), len(gens), width=2.4, height=2.4)
    axes = np.asarray(axes).reshape(len(runs), len(gens))
    w0, m0, C0 = (runs[0].generations[0].params[k] for k in ("weights", "means", "covariances"))
    if m0.shape[1] != 2:
        for ax in axes.ravel():
            ax.text(0.5, 0.5, f"{m0.shape[1]}-D mixture: first two coordinates", ha="center", transform=ax.transAxes)
    sd = np.sqrt(np.max(np.diagonal(C0, axis1=1, axis2=2), axis=0))
    lo = m0[:, :2].min(axis=0) - 3.5 * sd[:2]
    hi = m0[:, :2].max(axis=0) + 3.5 * sd[:2]
    xs, ys = np.linspace(lo[0], hi[0], grid), np.linspace(lo[1], hi[1], grid)
    X, Y = np.meshgrid(xs, ys)
    pts = np.column_stack([X.ravel(), Y.ravel()])
    # the same absolute levels in every panel: those of generation 0 at Mahalanobis radii 0.5..3
    # from its peak, so a collapsing component shows as a tightening bundle
    peak = gmm_log_density(m0[:, :2], w0, m0[:, :2], C0[:, :2, :2]).max()
    levels = peak - 0.5 * np.array([3.0, 2.5, 2.0, 1.5, 1.0, 0.5]) ** 2
    for i, r in enumerate(runs):
        for j, g in enumerate(gens):
            ax = axes[i, j]
            p = r.generations[g].params
            w, m, C = p["weights"], p["means"][:, :2], p["covariances"][:, :2, :2]
            logf = gmm_log_density(pts, w, m, C).reshape(X.shape)
            ax.contour(X, Y, logf, levels=levels, linewidths=0.8, cmap="viridis")
            ax.plot(m[:, 0], m[:, 1], "+", color="k", ms=5, mew=0.8)
            smp = r.generations[g].sample
            if smp is not None and len(smp):
                ax.scatter(smp[:, 0], smp[:, 1], s=1.5, color="0.4", alpha=0.5, linewidths=0)
            ax.set_xlim(lo[0], hi[0])
            ax.set_ylim(lo[1], hi[1])
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"generation {g}", fontsize=9)
        if len(runs) > 1:
            axes[i, 0].set_ylabel(f"replicate {i}", fontsize=9)
    return fig


_CURVES = (
    ("w2_squared_to_initial", "$W_2^2$ (mixture) to generation 0", True),
    ("l2_squared_to_initial", r"$\int (f_t - f_0)^2\,dx$ (closed form)", True),
    ("min_sd", "smallest component s.d.", True),
    ("tail_mass", "mass in $D_0$'s lowest-density 10%", False),
    ("log_density_under_initial", r"quantiles of $\log f_0(x)$, $x \sim$ model $t$", False),
    ("timing", "seconds per generation", True),
)


def metric_figure(runs):
    """Metric curves against generation, one thin line per replicate."""
    from ..plotting import SIM_COLOR, THEORY_COLOR, new_figure

    runs = _as_list(runs)
    fig, axes = new_figure(2, 3, width=3.6, height=2.8)
    for ax, (name, title, logy) in zip(axes.ravel(), _CURVES):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("generation")
        for i, r in enumerate(runs):
            gens = np.arange(len(r))
            first = i == 0
            if name == "min_sd":
                v = np.array([np.sqrt(np.linalg.eigvalsh(g.params["covariances"]).min()) for g in r.generations])
                ax.plot(gens, v, color=SIM_COLOR, lw=0.8, alpha=0.7)
                continue
            if name == "timing":
                for key, c in (("fit", SIM_COLOR), ("metrics", THEORY_COLOR)):
                    v = np.array([g.timing.get(key, np.nan) for g in r.generations])
                    ax.plot(gens, v, color=c, lw=0.5, alpha=0.6, label=key if first else None)
                if first:
                    ax.legend(fontsize=7)
                continue
            try:
                v = r.metric(name)
            except KeyError:
                continue
            if name == "tail_mass":
                ax.plot(gens, v[:, -1], color=SIM_COLOR, lw=0.8, alpha=0.7)
            elif name == "log_density_under_initial":
                q = v.shape[1]
                for j, c in zip((1, q // 2), (THEORY_COLOR, SIM_COLOR)):
                    ax.plot(gens, v[:, j], color=c, lw=0.8, alpha=0.7, label=None if not first else ("1% quantile" if j == 1 else "median"))
                if first:
                    ax.legend(fontsize=7)
            else:
                ax.plot(gens[1:], v[1:], color=SIM_COLOR, lw=0.8, alpha=0.7)
        if logy:
            ax.set_yscale("log")
    return fig


def log_density_figure(run, generations=SNAPSHOTS, *, bins: int = 40):
    """Histograms of log f_0(x) over samples of snapshot generations (the paper's Fig. 1b,c analogue).

    Each generation's stored sample is scored by the generation-0 mixture
    (:func:`collapse_theory.runs.evaluate.log_density_histograms`, common
    bins). Collapse moves mass towards the modes (high log f_0) and thins the
    low tail; drift away from the original adds a tail of low scores.
    """
    from ..plotting import new_figure
    from .evaluate import log_density_histograms

    run = _as_list(run)[0]
    G = len(run) - 1
    gens = sorted({g for g in generations if g <= G} | {G})
    h = log_density_histograms(run, generations=gens, bins=bins)
    fig, ax = new_figure(1, 1, width=5.0, height=3.4)
    centres = 0.5 * (h.edges[1:] + h.edges[:-1])
    colours = [f"C{i % 10}" for i in range(len(gens))]
    for g, dens, c in zip(gens, h.density, colours):
        ax.step(centres, dens, where="mid", color=c, lw=1.0, label=f"generation {g}")
    ax.set_yscale("log")
    ax.set_xlabel(r"$\log f_0(x)$, $x \sim$ model $t$")
    ax.set_ylabel("density")
    ax.legend(fontsize=7)
    return fig


def summary_table(runs, generations=SNAPSHOTS):
    """Per replicate and snapshot generation: W2^2 to generation 0 and to D_0, L2^2, smallest s.d., tail mass.

    ``w2_squared_to_truth`` is computed here (by the evaluator) where the run
    did not store it.

    Returns
    -------
    pandas.DataFrame
    """
    import pandas as pd

    from .evaluate import Evaluator

    rows = []
    for i, r in enumerate(_as_list(runs)):
        G = len(r) - 1
        gens = sorted({g for g in generations if g <= G} | {G})
        ev = None
        if r.truth is not None:
            ev = Evaluator(r.family, r.generations[0].params, truth=r.truth, metrics=["w2_squared_to_truth"])
        for g in gens:
            rec = r.generations[g]
            m = dict(rec.metrics)
            if "w2_squared_to_truth" not in m and ev is not None:
                m.update(ev(rec.params))
            rows.append(
                {
                    "replicate": i,
                    "generation": g,
                    "w2_squared_to_initial": m.get("w2_squared_to_initial", np.nan),
                    "w2_squared_to_truth": m.get("w2_squared_to_truth", np.nan),
                    "l2_squared_to_initial": m.get("l2_squared_to_initial", np.nan),
                    "min_component_sd": float(np.sqrt(np.min(np.linalg.eigvalsh(rec.params["covariances"])))),
                    "tail_mass_10pct": float(np.asarray(m["tail_mass"])[-1]) if "tail_mass" in m else np.nan,
                    "em_iterations": rec.info.get("n_iter"),
                }
            )
    return pd.DataFrame(rows)


def timing_table(runs):
    """Mean seconds per generation and their split (fit = EM, sample, metrics), per replicate."""
    import pandas as pd

    rows = []
    for i, r in enumerate(_as_list(runs)):
        t = {k: np.mean([g.timing.get(k, np.nan) for g in r.generations]) for k in ("fit", "sample", "metrics")}
        rows.append({"replicate": i, "generations": len(r), "wall_per_generation_s": float(np.mean(r.wall_times)), **{f"{k}_s": v for k, v in t.items()}})
    return pd.DataFrame(rows)


def write_outputs(runs, out, *, params: dict | None = None) -> dict:
    """Write figures (densities.png, metrics.png), summary.csv, timing.csv and summary.json (with provenance).

    Returns
    -------
    dict
        ``summary`` and ``timing`` DataFrames, and the paths written.
    """
    from .._provenance import provenance, write_json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    runs = _as_list(runs)
    summary = summary_table(runs)
    timing = timing_table(runs)
    paths = {"densities": out / "densities.png", "metrics": out / "metrics.png", "summary_csv": out / "summary.csv", "timing_csv": out / "timing.csv", "json": out / "summary.json"}
    density_figure(runs).savefig(paths["densities"], dpi=110)
    metric_figure(runs).savefig(paths["metrics"], dpi=110)
    summary.to_csv(paths["summary_csv"], index=False)
    timing.to_csv(paths["timing_csv"], index=False)
    write_json(
        paths["json"],
        {
            "provenance": provenance(params or {}, seed=runs[0].seed, config=runs[0].config, runs=[str(r.path) for r in runs]),
            "summary": summary.to_dict(orient="records"),
            "timing": timing.to_dict(orient="records"),
        },
    )
    return {"summary": summary, "timing": timing, **paths}
