"""The paper's Gaussian-mixture experiment: a GMM refitted to its own samples.

Generation ``t`` fits scikit-learn's :class:`~sklearn.mixture.GaussianMixture`
to a dataset ``D_t`` of ``M_t`` points and draws ``M_{t+1}`` points from the
fit; the next dataset mixes those with fresh original data and kept previous
data as :class:`collapse_theory.Mixing` says (Shumailov et al., Nature 2024,
supplementary "Gaussian mixture" experiment).

The authors' notebook, followed by default: ``D_0`` is
``make_blobs(1000, centers=[[0, 0]])``, i.e. 1000 draws of a single
:math:`N(0, I_2)` blob (``truth="paper-blob"``), fitted with two components,
full covariances, ``tol=1e-5``, up to 2000 EM iterations, k-means
initialisation with a fresh seed per fit, no warm start, scikit-learn's
default ``reg_covar=1e-6``, about 2000 generations. Their reported standard
deviation of component ``k`` is :math:`\\sqrt{\\operatorname{tr} C_k / 2}`
(:func:`collapse_theory.mixture.component_std`); the square root of the
smallest eigenvalue (the narrowest direction) is kept beside it under its
own name. Their L2 curve is measured against a *separate* EM fit of ``D_0``
(``l2_reference="separate-fit"``); by default the L2 reference is our own
generation-0 fit (the same data, one fit fewer). The two-blob setting used
before (two Gaussians at (+-3, 0)) stays available as ``truth="two-blobs"``.

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

The mixture maths (density, sampling, closed-form L2, component standard
deviations) lives in :mod:`collapse_theory.mixture`. The module follows the
adapter contract of :mod:`collapse_theory.runs`: :func:`run` (one run),
:func:`run_replicates`, :func:`summary_table`, :func:`figures`,
:func:`write_outputs`.
"""

from __future__ import annotations

import hashlib
import os
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from .._rng import child, seed_sequence
from .._validate import (
    check_array,
    check_choice,
    check_covariance,
    check_float,
    check_int,
    check_probability_vector,
    check_runs,
)
from ..mixture import (
    component_min_eigen_std,
    component_std,
    gmm_log_density,
    gmm_sample,
    l2_squared_gmm,
)
from ..process import Mixing, as_schedule, check_mixing
from .record import GenerationalRun, GenerationRecord

__all__ = [
    "run",
    "run_replicates",
    "summary_table",
    "figures",
    "write_outputs",
    "TRUTHS",
    "paper_blob_truth",
    "two_blobs_truth",
    "SNAPSHOTS",
    "RUN_METRICS",
    "PAPER_STD",
    "density_figure",
    "metric_figure",
    "std_figure",
    "log_density_figure",
    "timing_table",
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
#: The authors' component standard deviation at the start and after about 2000 generations.
PAPER_STD = (0.89, 0.01)
#: Workflows the GMM run can honour.
_WORKFLOWS = ("replace", "fresh", "mixture", "accumulate")
_COV_TYPES = ("full", "tied", "diag", "spherical")
_INITS = ("kmeans", "k-means++", "random", "random_from_data")
_L2_REFERENCES = ("generation-0", "separate-fit")
#: spawn keys of the run's side streams, outside the range of generation indices
_EVALUATOR_KEY = 2**62
_REFERENCE_FIT_KEY = 2**62 + 1


# ---------------------------------------------------------------------------- truths
def paper_blob_truth() -> dict:
    """The authors' D_0 law: one 2-D standard normal blob, ``make_blobs(n, centers=[[0, 0]])``.

    Returns
    -------
    dict
        ``weights`` (1,), ``means`` (1, 2), ``covariances`` (1, 2, 2) of
        :math:`N(0, I_2)`.

    Examples
    --------
    >>> paper_blob_truth()["covariances"].tolist()
    [[[1.0, 0.0], [0.0, 1.0]]]
    """
    return {"weights": np.ones(1), "means": np.zeros((1, 2)), "covariances": np.eye(2)[None].copy()}


def two_blobs_truth() -> dict:
    """Two well-separated 2-D Gaussians, equal weights (the setting used before the paper's blob).

    Means (-3, 0) and (3, 0) (six units apart, about six standard deviations),
    covariances ``[[1, .3], [.3, .6]]`` and ``[[.6, -.2], [-.2, 1]]``.

    Returns
    -------
    dict
        ``weights`` (2,), ``means`` (2, 2), ``covariances`` (2, 2, 2).

    Examples
    --------
    >>> two_blobs_truth()["means"].tolist()
    [[-3.0, 0.0], [3.0, 0.0]]
    """
    return {
        "weights": np.array([0.5, 0.5]),
        "means": np.array([[-3.0, 0.0], [3.0, 0.0]]),
        "covariances": np.array([[[1.0, 0.3], [0.3, 0.6]], [[0.6, -0.2], [-0.2, 1.0]]]),
    }


#: Named truths: ``truth=NAME`` in :func:`run` and ``--truth NAME`` on the command line.
TRUTHS = {"paper-blob": paper_blob_truth, "two-blobs": two_blobs_truth}


# ---------------------------------------------------------------------------- configuration
def _check_truth(truth, n_components: int):
    """(name, truth dict for the record, parametric (w, m, C) or None, sample or None)."""
    if truth is None:
        truth = "paper-blob"
    if isinstance(truth, str):
        name = check_choice("truth", truth, tuple(TRUTHS))
        truth = TRUTHS[name]()
    else:
        name = None
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
        return name or "gmm", {"weights": w, "means": m, "covariances": C}, (w, m, C), None
    x = check_array("truth", truth, ndim=(1, 2))
    x = x.reshape(len(x), -1)
    if len(x) < max(n_components, 2):
        raise ValueError(f"truth: a sample needs at least n_components={n_components} rows (and 2), got {len(x)}")
    return "sample", {"sample": x}, None, x


def _digest(d: dict) -> str:
    h = hashlib.sha256()
    for k in sorted(d):
        h.update(k.encode())
        h.update(np.ascontiguousarray(d[k], dtype=float).tobytes())
    return h.hexdigest()[:16]


def _configure(
    generations, sample_size, n_components, *, mixing, truth, l2_reference, covariance_type, tol, max_iter,
    reg_covar, init_params, warm_start, sample_keep, metrics, n_mc,
) -> dict:
    """Validate every setting; return the spec one replicate runs from (its ``config`` is stored)."""
    from .._validate import check_names
    from .evaluate import METRICS

    G = check_int("generations", generations, min=0)
    K = check_int("n_components", n_components, min=1)
    schedule = as_schedule(sample_size)
    sizes = schedule.sizes(G + 2)
    if sizes.min() < K:
        raise ValueError(f"sample_size must be >= n_components={K} (EM needs at least one point per component), got a minimum of {sizes.min()}")
    covariance_type = check_choice("covariance_type", covariance_type, _COV_TYPES)
    init_params = check_choice("init_params", init_params, _INITS)
    l2_reference = check_choice("l2_reference", l2_reference, _L2_REFERENCES)
    tol = check_float("tol", tol, min=0.0, min_inclusive=False)
    reg_covar = check_float("reg_covar", reg_covar, min=0.0)
    max_iter = check_int("max_iter", max_iter, min=1)
    if not isinstance(warm_start, (bool, np.bool_)):
        raise TypeError(f"warm_start must be a bool, got {warm_start!r}")
    mixing = check_mixing(mixing, _WORKFLOWS, where="the GMM run")
    if sample_keep is not None:
        sample_keep = check_int("sample_keep", sample_keep, min=0)
    n_mc = int(sizes.min()) if n_mc is None else check_int("n_mc", n_mc, min=1)
    truth_name, truth_rec, truth_gmm, truth_sample = _check_truth(truth, K)
    d = truth_gmm[1].shape[1] if truth_gmm is not None else truth_sample.shape[1]
    if isinstance(metrics, str) and metrics == "default":
        metrics = RUN_METRICS
    elif metrics is None:
        metrics = METRICS
    else:
        metrics = check_names("metrics", metrics, METRICS)
    em = {
        "n_components": K,
        "covariance_type": covariance_type,
        "tol": tol,
        "max_iter": max_iter,
        "reg_covar": reg_covar,
        "init_params": init_params,
    }
    # the number of generations is not part of the config: resuming with a larger G extends a run
    config = {
        "sample_size": schedule.to_dict(),
        "dimension": d,
        "mixing": mixing.to_dict(),
        "truth": truth_name,
        "truth_digest": _digest(truth_rec),
        **em,
        "warm_start": bool(warm_start),
        "l2_reference": l2_reference,
        "sample_keep": sample_keep,
        "metrics": list(metrics),
        "n_mc": n_mc,
    }
    return {
        "config": config,
        "generations": G,
        "sizes": sizes,
        "mixing": mixing,
        "em": em,
        "warm_start": bool(warm_start),
        "l2_reference": l2_reference,
        "sample_keep": sample_keep,
        "metrics": metrics,
        "n_mc": n_mc,
        "truth": (truth_rec, truth_gmm, truth_sample),
    }


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


def _fit_em(data, em: dict, seed: int, init=None):
    """One GaussianMixture fit: (params with full covariances, info)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    kw = {}
    if init is not None:
        kw = dict(
            weights_init=init["weights"],
            means_init=init["means"],
            precisions_init=_precisions_init(init["covariances"], em["covariance_type"]),
        )
    gm = GaussianMixture(**em, random_state=int(seed), **kw)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        try:
            gm.fit(data)
        except ValueError as exc:
            raise ValueError(f"GaussianMixture failed on a dataset of {len(data)} points: {exc}") from exc
    params = {
        "weights": np.array(gm.weights_, float),
        "means": np.array(gm.means_, float),
        "covariances": _to_full(gm, em["covariance_type"], data.shape[1]),
    }
    info = {"n_iter": int(gm.n_iter_), "converged": bool(gm.converged_), "lower_bound": float(gm.lower_bound_), "n_data": int(len(data))}
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        info["warning"] = "EM did not converge"
    return params, info


# ---------------------------------------------------------------------------- one replicate
class _Chain:
    """The data-generating part of one replicate (the same code live and on replay)."""

    def __init__(self, run: GenerationalRun, spec: dict):
        self.run = run
        self.spec = spec
        self.mixing = spec["mixing"]
        self.sizes = spec["sizes"]
        _, self.truth_gmm, self.truth_sample = spec["truth"]

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
        init = prev_params if self.spec["warm_start"] else None
        return _fit_em(data, self.spec["em"], int(rng.integers(2**31 - 1)), init)

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


class _State:
    """What the next generation needs: previous data, draws and fit, the evaluator, the L2 reference."""

    def __init__(self, chain: _Chain):
        self.chain = chain
        self.data = self.draws = self.prev_params = None
        self.evaluator = None
        self.reference = None  # (w, m, C) of the separate EM fit of D_0, if asked for


def _evaluator(spec, run, params):
    from .evaluate import Evaluator

    if not spec["metrics"]:
        return None
    truth_rec = spec["truth"][0]
    return Evaluator("gmm", params, truth=truth_rec, metrics=spec["metrics"], n_mc=spec["n_mc"], rng=child(run.seed, _EVALUATOR_KEY))


def _resume(spec: dict, seed, out, resume: bool) -> _State:
    """Open (or reopen) the record and rebuild the state after its last complete generation."""
    from .. import wasserstein

    run = GenerationalRun.open(
        out, kind="gmm", family="gmm", config=spec["config"], seed=seed, resume=resume, truth=spec["truth"][0], sample_keep=spec["sample_keep"]
    )
    state = _State(_Chain(run, spec))
    t0 = run.next_generation
    if spec["metrics"]:
        # the first call loads POT (seconds): keep that out of generation 0's metric time
        wasserstein.w2_squared_gmm([0.5, 0.5], [0.0, 1.0], [1.0, 1.0], [0.5, 0.5], [0.0, 1.0], [1.0, 1.0])
    if t0 > 0:
        state.data, state.draws = state.chain.replay(t0)
        state.prev_params = run.generations[-1].params
        state.evaluator = _evaluator(spec, run, run.generations[0].params)
        if spec["l2_reference"] == "separate-fit":
            a = run.generations[0].arrays
            state.reference = (a["reference_weights"], a["reference_means"], a["reference_covariances"])
    return state


def _generation(state: _State, t: int) -> GenerationRecord:
    """Assemble D_t, fit model t, draw from it and measure it: one generation's record."""
    chain, spec = state.chain, state.chain.spec
    start = time.perf_counter()
    s = chain.streams(t)
    state.data = chain.assemble(t, s[0], state.data, state.draws)
    t_assemble = time.perf_counter()
    params, info = chain.fit(state.data, s[1], state.prev_params)
    t_fit = time.perf_counter()
    state.draws = chain.draws(t, params, s[2])
    t_sample = time.perf_counter()
    arrays = {}
    if t == 0:
        arrays["d0"] = state.data
        if spec["l2_reference"] == "separate-fit":
            # the authors' L2 reference: a second EM fit of D_0 with its own initialisation seed
            ref_seed = int(np.random.default_rng(child(chain.run.seed, _REFERENCE_FIT_KEY)).integers(2**31 - 1))
            ref, _ = _fit_em(state.data, spec["em"], ref_seed)
            state.reference = (ref["weights"], ref["means"], ref["covariances"])
            arrays.update({f"reference_{k}": v for k, v in ref.items()})
    if state.evaluator is None:
        state.evaluator = _evaluator(spec, chain.run, params)
    metrics = state.evaluator(params, state.draws) if state.evaluator is not None else {}
    metrics["component_std"] = component_std(params["covariances"])
    metrics["component_min_eigen_std"] = component_min_eigen_std(params["covariances"])
    if state.reference is not None:
        metrics["l2_squared_to_separate_fit"] = l2_squared_gmm(params["weights"], params["means"], params["covariances"], *state.reference)
    t_metrics = time.perf_counter()
    timing = {"fit": t_fit - t_assemble, "sample": (t_assemble - start) + (t_sample - t_fit), "metrics": t_metrics - t_sample}
    state.prev_params = params
    return GenerationRecord(t, params=params, sample=state.draws, metrics=metrics, arrays=arrays, wall_time=t_metrics - start, timing=timing, info=info)


def _run_spec(spec: dict, seed, out, resume, label: str, show_progress, callback=None) -> GenerationalRun:
    from sklearn.mixture import GaussianMixture  # noqa: F401  (loaded before the thread limit applies)
    from threadpoolctl import threadpool_limits

    from .._progress import progress

    state = _resume(spec, seed, out, resume)
    run = state.chain.run
    t0, G = run.next_generation, spec["generations"]
    with threadpool_limits(limits=1):  # EM on 1000 points: threads only add overhead (and oversubscribe replicates)
        for t in progress(range(t0, G + 1), total=G + 1 - t0, desc=f"gmm {label}".strip(), show=show_progress, unit="gen"):
            rec = run.append(_generation(state, t))
            if callback is not None:
                callback(run, rec)
    return run


def _run_spec_star(args):
    return _run_spec(*args)


# ---------------------------------------------------------------------------- public entry points
def run(
    generations: int = 2000,
    sample_size=1000,
    n_components: int = 2,
    *,
    rng=0,
    out=None,
    resume: bool = False,
    mixing=None,
    truth="paper-blob",
    l2_reference: str = "generation-0",
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
    callback=None,
) -> GenerationalRun:
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
        Seed of the run. Pass an int or SeedSequence to be able to resume.
    out : str or PathLike, optional
        Directory written generation by generation; None keeps the run in memory.
    resume : bool
        Continue the run in ``out`` from the last complete generation (same
        arguments required; the result equals an uninterrupted run).
    mixing : Mixing or spec, optional
        Where data come from (:meth:`collapse_theory.Mixing.from_spec`):
        ``"replace"`` (default), ``"fresh:G"``, ``"mixture:A,B,G"``,
        ``"accumulate[:G]"`` (the pool grows by ``M`` per generation, so EM
        time grows linearly with ``t``).
    truth : {"paper-blob", "two-blobs"}, dict or array_like
        ``D_0``'s law. "paper-blob" (default, the authors' notebook):
        :math:`N(0, I_2)`, ``M_0`` draws; "two-blobs": :func:`two_blobs_truth`;
        a dict of GMM parameters (``weights`` (K,), ``means`` (K, d),
        ``covariances`` (K, d, d)); or a sample (n, d), used as ``D_0``
        itself and resampled for fresh data.
    l2_reference : {"generation-0", "separate-fit"}
        What ``l2_squared_to_initial`` is measured against in the summary:
        our generation-0 fit, or (as the authors did) a separate EM fit of
        ``D_0`` with its own seed, stored as ``l2_squared_to_separate_fit``.
    covariance_type, tol, max_iter, reg_covar, init_params, warm_start
        GaussianMixture settings (defaults as the paper: full, 1e-5, 2000,
        scikit-learn's 1e-6, k-means). ``warm_start=True`` initialises EM
        from the previous generation's fit (the authors did not).
    sample_keep : int or None
        Rows of each generation's sample stored in the record (None: all).
    metrics : "default", None or sequence of str
        Evaluator metrics stored on each record (see
        :mod:`collapse_theory.runs.evaluate`). "default": :data:`RUN_METRICS`;
        None: every metric; ``()``: none. ``component_std`` (K,) and
        ``component_min_eigen_std`` (K,) are always stored.
    n_mc : int, optional
        Model draws per generation for ``tail_mass``; None (default) uses the
        generation's own ``M`` draws.
    show_progress : bool, optional
        A progress bar (default: on unless ``COLLAPSE_THEORY_PROGRESS=0``).
    callback : callable(run, record), optional
        Called after each committed generation.

    Returns
    -------
    GenerationalRun
        ``kind="gmm"``, ``family="gmm"``; ``G + 1`` records with ``params``
        (``weights`` (K,), ``means`` (K, d), ``covariances`` (K, d, d)),
        ``sample`` (at most ``sample_keep`` rows of the model's draws),
        ``metrics`` and, at generation 0, ``arrays["d0"]`` (``D_0``).

    Raises
    ------
    ValueError, TypeError
        A setting out of range, naming it and what is accepted.
    FileExistsError
        ``out`` holds files and ``resume`` is False.

    Examples
    --------
    >>> r = run(2, sample_size=50, rng=0, show_progress=False, metrics=())
    >>> len(r), r.generations[0].arrays["d0"].shape
    (3, (50, 2))
    """
    if isinstance(rng, np.random.Generator) and (out is not None or resume):
        warnings.warn("rng is a Generator: the run can be written but not resumed; pass an int seed", stacklevel=2)
    spec = _configure(
        generations, sample_size, n_components, mixing=mixing, truth=truth, l2_reference=l2_reference,
        covariance_type=covariance_type, tol=tol, max_iter=max_iter, reg_covar=reg_covar, init_params=init_params,
        warm_start=warm_start, sample_keep=sample_keep, metrics=metrics, n_mc=n_mc,
    )
    return _run_spec(spec, seed_sequence(rng), out, resume, "", show_progress, callback)


def run_replicates(generations: int = 2000, sample_size=1000, n_components: int = 2, *, replicates: int = 2, rng=0, out=None, max_workers: int | None = None, **kwargs) -> list:
    """Independent replicates of :func:`run`, in parallel processes.

    Replicate ``r`` uses the child ``r`` of ``rng``'s SeedSequence
    (:func:`collapse_theory._rng.child`) and writes ``out/replicate-RR``.

    Parameters
    ----------
    replicates : int
        Number of runs ``R`` (>= 1).
    max_workers : int, optional
        Processes at most (default ``os.cpu_count()``); 1 runs them in turn.
    generations, sample_size, n_components, rng, out, **kwargs
        As for :func:`run` (``callback`` is not accepted: replicates run in
        other processes).

    Returns
    -------
    list of GenerationalRun, length ``R``

    Examples
    --------
    >>> runs = run_replicates(2, sample_size=50, replicates=2, rng=0, max_workers=1, show_progress=False, metrics=())
    >>> [len(r) for r in runs], runs[0].generations[1].params["means"].shape
    ([3, 3], (2, 2))
    """
    R = check_int("replicates", replicates, min=1)
    if "callback" in kwargs:
        raise ValueError("callback is supported by run() only (replicates run in other processes)")
    resume = bool(kwargs.pop("resume", False))
    show_progress = kwargs.pop("show_progress", None)
    spec = _configure(generations, sample_size, n_components, **{**_RUN_DEFAULTS, **kwargs})
    ss = seed_sequence(rng)
    outs = [None if out is None else Path(out) / f"replicate-{r:02d}" for r in range(R)]
    jobs = [(spec, child(ss, r), outs[r], resume, f"replicate {r}", show_progress) for r in range(R)]
    workers = min(R, check_int("max_workers", max_workers, min=1) if max_workers is not None else (os.cpu_count() or 1))
    import multiprocessing

    if multiprocessing.current_process().daemon:  # a daemonic worker may not start processes of its own
        workers = 1
    if workers == 1:
        return [_run_spec_star(j) for j in jobs]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_run_spec_star, jobs))


_RUN_DEFAULTS = dict(
    mixing=None, truth="paper-blob", l2_reference="generation-0", covariance_type="full", tol=1e-5, max_iter=2000,
    reg_covar=1e-6, init_params="kmeans", warm_start=False, sample_keep=250, metrics="default", n_mc=None,
)


# ---------------------------------------------------------------------------- figures and tables
def _as_list(runs, name="runs"):
    return check_runs(name, runs)


def _std_path(r: GenerationalRun, key: str = "component_std") -> np.ndarray:
    """(G+1, K) per-component standard deviations, sorted within each generation.

    EM's component labels are arbitrary from one fit to the next, so column
    ``j`` is the ``j``-th smallest value (the smaller component first), not a
    component followed through time.
    """
    fn = component_std if key == "component_std" else component_min_eigen_std
    return np.sort(np.stack([np.asarray(g.metrics[key]) if key in g.metrics else fn(g.params["covariances"]) for g in r.generations]), axis=1)


def density_figure(runs, generations=SNAPSHOTS, *, grid: int = 150):
    """Density contours of the fitted mixtures at the snapshot generations (paper's supplementary figure).

    One row per replicate (at most 3), one column per snapshot generation that
    the run reached (and the last); contours of the log-density at the same
    levels in every panel (generation 0's, at Mahalanobis radii 0.5 to 3 from
    its peak), component means as crosses, the stored sample as dots.

    Parameters
    ----------
    runs : GenerationalRun or list of GenerationalRun
        Replicates (the first three are drawn).
    generations : sequence of int
        Snapshot generations (those the run reached, and its last).
    grid : int
        Grid points per axis of the contour plot.

    Returns
    -------
    matplotlib.figure.Figure
        One row per replicate, one column per generation shown.

    Examples
    --------
    >>> r = run(2, sample_size=50, rng=0, show_progress=False, metrics=())
    >>> len(density_figure(r, generations=(0, 1), grid=40).axes)  # generations 0, 1 and the last, 2
    3
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
    ("component_std", r"component s.d. $\sqrt{\mathrm{tr}\,C_k/2}$ (paper)", True),
    ("tail_mass", "mass in $D_0$'s lowest-density 10%", False),
    ("log_density_under_initial", r"quantiles of $\log f_0(x)$, $x \sim$ model $t$", False),
    ("timing", "seconds per generation", True),
)


def metric_figure(runs):
    """Metric curves against generation, one thin line per replicate (and per component for the s.d.).

    Parameters
    ----------
    runs : GenerationalRun or list of GenerationalRun

    Returns
    -------
    matplotlib.figure.Figure
        Six panels: W2^2 and L2 to generation 0, component s.d., tail mass,
        quantiles of log f_0, seconds per generation (a metric the run did not
        store leaves its panel empty).

    Examples
    --------
    >>> r = run(2, sample_size=50, rng=0, show_progress=False, metrics=())
    >>> len(metric_figure(r).axes)
    6
    """
    from ..plotting import SIM_COLOR, THEORY_COLOR, new_figure

    runs = _as_list(runs)
    fig, axes = new_figure(2, 3, width=3.6, height=2.8)
    for ax, (name, title, logy) in zip(axes.ravel(), _CURVES):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("generation")
        for i, r in enumerate(runs):
            gens = np.arange(len(r))
            first = i == 0
            if name == "component_std":
                ax.plot(gens, _std_path(r), color=SIM_COLOR, lw=0.8, alpha=0.7)
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


def std_figure(runs, *, paper: bool = True):
    """The paper's component standard deviation sqrt(tr C_k / 2) against generation, with the eigenvalue version.

    Solid: :func:`collapse_theory.mixture.component_std` (the authors'
    definition) of the smaller and of the larger component in each
    generation (EM's labels are arbitrary, so components are ranked, not
    followed); dotted: the square root of the smallest covariance eigenvalue
    of each; markers: the authors' 0.89 at the start and 0.01 after about
    2000 generations.

    Parameters
    ----------
    runs : GenerationalRun or list of GenerationalRun
    paper : bool
        Mark the authors' values.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> r = run(2, sample_size=50, rng=0, show_progress=False, metrics=())
    >>> std_figure(r).axes[0].get_yscale()
    'log'
    """
    from ..plotting import SIM_COLOR, THEORY_COLOR, new_figure

    runs = _as_list(runs)
    fig, ax = new_figure(1, 1, width=5.2, height=3.6)
    for i, r in enumerate(runs):
        gens = np.arange(len(r))
        tr, eig = _std_path(r), _std_path(r, "component_min_eigen_std")
        for k in range(tr.shape[1]):
            first = i == 0
            rank = "smaller" if k == 0 else ("larger" if k == tr.shape[1] - 1 else f"rank {k + 1}")
            color = SIM_COLOR if k == 0 else "C2"
            ax.plot(gens, tr[:, k], color=color, lw=0.9, alpha=0.8, label=rf"$\sqrt{{\mathrm{{tr}}\,C_k/2}}$, {rank} component" if first else None)
            ax.plot(gens, eig[:, k], ":", color=color, lw=0.8, alpha=0.6, label=rf"$\sqrt{{\lambda_{{\min}}(C_k)}}$, {rank}" if first else None)
    if paper:
        G = max(len(r) for r in runs) - 1
        ax.plot([0, min(2000, G)], PAPER_STD if G >= 2000 else PAPER_STD[:1] * 2, "s", color=THEORY_COLOR, label="paper: 0.89 -> 0.01 (2000 gens)")
    ax.set_yscale("log")
    ax.set_xlabel("generation")
    ax.set_ylabel("component standard deviation")
    ax.legend(fontsize=7)
    return fig


def log_density_figure(run, generations=SNAPSHOTS, *, bins: int = 40):
    """Histograms of log f_0(x) over samples of snapshot generations (the paper's Fig. 1b,c analogue).

    Each generation's stored sample is scored by the generation-0 mixture
    (:func:`collapse_theory.runs.evaluate.log_density_histograms`, common
    bins). Collapse moves mass towards the modes (high log f_0) and thins the
    low tail; drift away from the original adds a tail of low scores.

    Parameters
    ----------
    run : GenerationalRun (or a list: its first run)
        Its records must hold samples.
    generations : sequence of int
        Snapshot generations (those the run reached, and its last).
    bins : int
        Common bins of the histograms.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> r = run(2, sample_size=50, rng=0, show_progress=False, metrics=())
    >>> len(log_density_figure(r, generations=(0,), bins=10).axes[0].lines)  # generation 0 and the last
    2
    """
    from ..plotting import new_figure
    from .evaluate import log_density_histograms

    run = check_runs("run", run)[0]  # a run, or a list of them (the first is shown)
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


def _setting(r: GenerationalRun) -> str:
    c = r.config
    return (
        f"truth {c['truth']}, M = {c['sample_size'].get('m0', '?')}, {c['n_components']} components, "
        f"mixing {Mixing.from_spec(c['mixing']).to_spec()}, "
        f"{len(r) - 1} generations"
    )


def figures(runs) -> dict:
    """The run's figures with captions: ``densities``, ``metrics``, ``std``, ``log_density``.

    Parameters
    ----------
    runs : GenerationalRun or list of GenerationalRun (replicates)

    Returns
    -------
    dict of str to (matplotlib Figure, str caption)

    Examples
    --------
    >>> r = run(2, sample_size=50, rng=0, show_progress=False, metrics=())
    >>> sorted(figures(r))
    ['densities', 'log_density', 'metrics', 'std']
    """
    runs = _as_list(runs)
    s = _setting(runs[0]) + (f", {len(runs)} replicates" if len(runs) > 1 else "")
    return {
        "densities": (
            density_figure(runs),
            f"Log-density contours of the fitted mixture at the paper's snapshot generations ({s}); the same contour "
            "levels (generation 0's, Mahalanobis radii 0.5 to 3) in every panel, means as crosses, the generation's "
            "own draws as dots. Look for the contours tightening and drifting as the components shrink.",
        ),
        "metrics": (
            metric_figure(runs),
            f"Per-generation metrics ({s}): W2^2 between mixtures and the closed-form L2 distance to generation 0, "
            "each component's paper s.d. sqrt(tr C_k / 2), the mass the model puts where D_0 has its lowest-density "
            "10%, quantiles of log f_0 over each generation's draws, and the time per generation. Look for distances "
            "growing, s.d. and tail mass falling.",
        ),
        "std": (
            std_figure(runs),
            f"Component standard deviations against generation, log scale ({s}): solid the paper's sqrt(tr C_k / 2) of "
            "the smaller and the larger component of each fit (ranked, since EM's labels are arbitrary), dotted the "
            "square root of the smallest eigenvalue (the narrowest direction); red squares the authors' "
            "0.89 at the start and 0.01 after about 2000 generations. Look for the s.d. falling by orders of magnitude.",
        ),
        "log_density": (
            log_density_figure(runs[0]),
            f"Histograms of log f_0(x) over the draws of snapshot generations, common bins ({s}, first replicate): "
            "the paper's Fig. 1b,c analogue. Look for the low tail thinning and mass piling up where f_0 is high "
            "(or drifting off where it is low).",
        ),
    }


def summary_table(runs, generations=SNAPSHOTS):
    """Per replicate and snapshot generation: distances, the paper's component s.d., tail mass.

    Columns ``replicate``, ``generation``, ``w2_squared_to_initial``,
    ``w2_squared_to_truth`` (computed here by the evaluator where the run did
    not store it), ``l2_squared_to_initial``, ``l2_squared_to_separate_fit``
    (NaN unless the run used ``l2_reference="separate-fit"``),
    ``component_std_min`` and ``component_std_max`` (the paper's
    ``sqrt(tr C_k / 2)``, smallest and largest over components),
    ``min_eigen_std`` (square root of the smallest covariance eigenvalue over
    components), ``tail_mass_10pct``, ``em_iterations``.

    Parameters
    ----------
    runs : GenerationalRun or list of GenerationalRun
    generations : sequence of int
        Snapshot generations (those the run reached, and its last).

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> r = run(3, sample_size=50, rng=0, show_progress=False, metrics=())
    >>> summary_table(r, generations=(0, 2))["generation"].tolist()  # and the last, 3
    [0, 2, 3]
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
            sd = component_std(rec.params["covariances"])
            rows.append(
                {
                    "replicate": i,
                    "generation": g,
                    "w2_squared_to_initial": m.get("w2_squared_to_initial", np.nan),
                    "w2_squared_to_truth": m.get("w2_squared_to_truth", np.nan),
                    "l2_squared_to_initial": m.get("l2_squared_to_initial", np.nan),
                    "l2_squared_to_separate_fit": m.get("l2_squared_to_separate_fit", np.nan),
                    "component_std_min": float(sd.min()),
                    "component_std_max": float(sd.max()),
                    "min_eigen_std": float(component_min_eigen_std(rec.params["covariances"]).min()),
                    "tail_mass_10pct": float(np.asarray(m["tail_mass"])[-1]) if "tail_mass" in m else np.nan,
                    "em_iterations": rec.info.get("n_iter"),
                }
            )
    return pd.DataFrame(rows)


def timing_table(runs):
    """Mean seconds per generation and their split (fit = EM, sample, metrics), per replicate.

    Parameters
    ----------
    runs : GenerationalRun or list of GenerationalRun

    Returns
    -------
    pandas.DataFrame
        Columns ``replicate``, ``generations``, ``wall_per_generation_s``,
        ``fit_s``, ``sample_s``, ``metrics_s``; one row per replicate.

    Examples
    --------
    >>> r = run(2, sample_size=50, rng=0, show_progress=False, metrics=())
    >>> timing_table(r)[["replicate", "generations"]].values.tolist()
    [[0, 3]]
    """
    import pandas as pd

    rows = []
    for i, r in enumerate(_as_list(runs)):
        t = {k: np.mean([g.timing.get(k, np.nan) for g in r.generations]) for k in ("fit", "sample", "metrics")}
        rows.append({"replicate": i, "generations": len(r), "wall_per_generation_s": float(np.mean(r.wall_times)), **{f"{k}_s": v for k, v in t.items()}})
    return pd.DataFrame(rows)


def write_outputs(runs, out, *, params: dict | None = None, summary=None) -> dict:
    """Write every figure (``<key>.png``), ``summary.csv``, ``timing.csv`` and ``summary.json``, atomically.

    Parameters
    ----------
    runs : GenerationalRun or list of GenerationalRun
    out : path-like
        Directory (created if absent).
    params : dict, optional
        Parameters recorded in the provenance (e.g. the command line's).
    summary : pandas.DataFrame, optional
        :func:`summary_table` of ``runs`` if already computed (it is not recomputed).

    Returns
    -------
    dict of str to Path
        ``<figure key>``, ``summary_csv``, ``timing_csv``, ``json``.

    Examples
    --------
    >>> import tempfile
    >>> r = run(2, sample_size=50, rng=0, show_progress=False, metrics=())
    >>> with tempfile.TemporaryDirectory() as d:
    ...     sorted(p.name for p in write_outputs(r, d).values())
    ['densities.png', 'log_density.png', 'metrics.png', 'std.png', 'summary.csv', 'summary.json', 'timing.csv']
    """
    from .._provenance import atomic_write, provenance, write_json
    from ..plotting import figure_png

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    runs = _as_list(runs)
    summary = summary_table(runs) if summary is None else summary
    timing = timing_table(runs)
    paths = {}
    captions = {}
    for key, (fig, caption) in figures(runs).items():
        paths[key] = atomic_write(out / f"{key}.png", figure_png(fig))
        captions[key] = caption
    paths["summary_csv"] = atomic_write(out / "summary.csv", summary.to_csv(index=False))
    paths["timing_csv"] = atomic_write(out / "timing.csv", timing.to_csv(index=False))
    paths["json"] = write_json(
        out / "summary.json",
        {
            "provenance": provenance(params or {}, seed=runs[0].seed, config=runs[0].config, runs=[str(r.path) for r in runs]),
            "captions": captions,
            "summary": summary.to_dict(orient="records"),
            "timing": timing.to_dict(orient="records"),
        },
    )
    return paths
