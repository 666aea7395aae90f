"""The toolkit's estimators applied to any generational run.

``evaluate(run)`` measures every generation of a :class:`~collapse_theory.runs.GenerationalRun`
with the same estimators the toy chains use (:mod:`collapse_theory.wasserstein`;
nothing is re-implemented here) and returns a tidy table. The per-generation
work lives in :class:`Evaluator`, which adapters also call *during* a run so
that each record carries its metrics as it is written.

Dispatch on the model family happens in one place, :meth:`Evaluator.__call__`
(through :func:`_as_gmm`):

* ``"gaussian"`` (params ``mean`` (d,), ``cov`` (d, d)) and ``"gmm"``
  (params ``weights`` (K,), ``means`` (K, d), ``covariances`` (K, d, d)): the
  density is known, so W2 is closed form (Gaussians) or the mixture
  Wasserstein distance between GMMs (Delon & Desolneux 2020, ``w2_squared_gmm``),
  log-densities are exact and tail masses are Monte Carlo integrals of the
  model with a fixed seed.
* any other family (``"vae"``, ``"lm"``, ...): no density. Metrics come from
  what the adapter stored: ``record.sample`` (float rows: sample-based W2,
  fraction of the sample in the truth's tails, sample covariance) and
  ``record.arrays["log_density_under_initial"]`` (per-sample scores under the
  generation-0 model, e.g. sequence log-likelihoods, whose distribution is the
  paper's Fig. 1b,c).

Metrics (names are the ``metrics=`` choices and the table's ``metric`` column):

``w2_squared_to_initial``
    :math:`W_2^2(p_{\\theta_t}, p_{\\theta_0})`.
``w2_squared_to_truth``
    :math:`W_2^2(p_{\\theta_t}, D_0)` against ``reference`` or ``run.truth``
    (parametric: closed form / mixture W2; a sample: ``w2_squared_to_gaussian``
    for a Gaussian model, otherwise exact empirical W2 between the model's
    sample and the truth's sample).
``l2_squared_to_initial``
    :math:`\\int (f_t - f_0)^2\\,dx`, closed form between mixtures
    (:func:`collapse_theory.mixture.l2_squared_gmm`), the quantity plotted by
    the paper's GMM notebook.
``log_density_under_initial``
    Quantiles (levels ``quantiles``) of :math:`\\log f_0(x)` over the
    generation's sample :math:`x \\sim p_{\\theta_t}` (the record's sample,
    or ``n_mc`` model draws if none is stored); histograms with common bins
    from :func:`log_density_histograms`. Lost tails raise the low quantiles;
    the growing tail of errors lowers them.
``tail_mass``
    :math:`P_{\\theta_t}(\\log f_{D_0}(X) \\le \\tau_q)` for each level ``q`` in
    ``tail_levels``, where :math:`\\tau_q` is the ``q``-quantile of
    :math:`\\log f_{D_0}(Y)`, :math:`Y \\sim D_0`: the mass the model gives to
    the region where the truth has its lowest-density ``q``. :math:`\\tau_q` is
    estimated once from ``n_truth`` truth draws; the mass from the first
    ``n_mc`` rows of the generation's sample if it has that many (adapters
    pass the model's full draws during a run), otherwise from ``n_mc`` fresh
    model draws with one fixed seed for all generations (common random
    numbers, so differences between generations are not seed noise); standard
    error :math:`\\sqrt{q(1-q)/n_{mc}}`. If the truth is only a sample, its density
    is taken to be the generation-0 model's. Families without a density use
    the fraction of the stored sample.
``cov_trace``, ``cov_logdet``
    Trace and log-determinant of each component's covariance, shape (K,);
    families without parameters use the stored sample's covariance (K = 1,
    log-determinant only when the sample has more rows than dimensions).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._rng import seed_sequence
from .._validate import check_array, check_int, check_names, check_str
from ..mixture import GMMDensity, gmm_sample, l2_squared_gmm

__all__ = ["evaluate", "Evaluator", "log_density_histograms", "LogDensityHistograms", "METRICS", "DEFAULT_QUANTILES", "DEFAULT_TAIL_LEVELS"]

#: Every metric the evaluator knows.
METRICS = (
    "w2_squared_to_initial",
    "w2_squared_to_truth",
    "l2_squared_to_initial",
    "log_density_under_initial",
    "tail_mass",
    "cov_trace",
    "cov_logdet",
)
DEFAULT_QUANTILES = (0.001, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
DEFAULT_TAIL_LEVELS = (0.01, 0.05, 0.1)
_DENSITY_FAMILIES = ("gaussian", "gmm")


def _as_gmm(family: str, params: dict):
    """(weights (K,), means (K, d), covariances (K, d, d)) of a Gaussian or GMM, else None."""
    if family == "gmm":
        return (np.asarray(params["weights"], float), np.asarray(params["means"], float), np.asarray(params["covariances"], float))
    if family == "gaussian":
        m = np.atleast_1d(np.asarray(params["mean"], float))
        C = np.asarray(params["cov"], float).reshape(m.size, m.size)
        return np.ones(1), m[None], C[None]
    return None


def _truth_gmm(truth: dict | None):
    """Parametric truth as (w, m, C), or None if absent / a sample."""
    if truth is None:
        return None
    if "weights" in truth:
        return _as_gmm("gmm", truth)
    if "mean" in truth:
        return _as_gmm("gaussian", truth)
    return None


def _normalise_reference(reference):
    """``reference``: None, a sample array (n, d), or a dict of arrays (GMM / Gaussian / {'sample'})."""
    if reference is None:
        return None
    if isinstance(reference, dict):
        ok = {"weights", "means", "covariances"} <= set(reference) or {"mean", "cov"} <= set(reference) or "sample" in reference
        if not ok:
            raise ValueError(
                "reference must hold 'weights', 'means', 'covariances' (a GMM), 'mean' and 'cov' (a Gaussian) "
                f"or 'sample'; got keys {sorted(reference)}"
            )
        return {k: np.asarray(v) for k, v in reference.items()}
    x = check_array("reference", reference, ndim=(1, 2))
    return {"sample": x.reshape(len(x), -1)}


class Evaluator:
    """Per-generation metrics of one run, with everything generation-independent precomputed.

    Parameters
    ----------
    family : str
        Model family (see the module docstring).
    initial : dict
        Generation-0 parameters (density families) — ignored otherwise.
    initial_sample : ndarray, shape (n, d), optional
        Generation-0 sample (used by families without a density).
    truth : dict, optional
        The true distribution (GMM / Gaussian parameters or ``{"sample": x}``).
    metrics : sequence of str, optional
        Metrics to compute; None: all that apply to this family and truth.
    quantiles, tail_levels : sequence of float
        Levels for ``log_density_under_initial`` and ``tail_mass``.
    n_mc, n_truth : int
        Model draws per generation, truth draws for the tail thresholds.
    rng : None, int, SeedSequence or Generator
        Seed of the Monte Carlo draws (one fixed stream reused every generation).
    """

    def __init__(
        self,
        family: str,
        initial: dict | None = None,
        *,
        initial_sample=None,
        truth: dict | None = None,
        metrics=None,
        quantiles=DEFAULT_QUANTILES,
        tail_levels=DEFAULT_TAIL_LEVELS,
        n_mc: int = 10_000,
        n_truth: int = 100_000,
        rng=0,
    ):
        self.family = check_str("family", family, empty=False)
        self.initial = _as_gmm(family, initial) if initial is not None else None
        self.has_density = family in _DENSITY_FAMILIES
        if self.has_density and self.initial is None:
            raise ValueError(f"family {family!r} needs the generation-0 parameters (initial=...)")
        self.initial_sample = None if initial_sample is None else np.asarray(initial_sample)
        self.truth = truth
        self.truth_gmm = _truth_gmm(truth)
        self.truth_sample = None if truth is None or "sample" not in truth else np.asarray(truth["sample"], float)
        self.quantiles = np.asarray(check_array("quantiles", quantiles, ndim=1, min_size=1), float)
        self.tail_levels = np.asarray(check_array("tail_levels", tail_levels, ndim=1, min_size=1), float)
        for name, arr in (("quantiles", self.quantiles), ("tail_levels", self.tail_levels)):
            if np.any((arr <= 0) | (arr >= 1)):
                raise ValueError(f"{name} must lie strictly between 0 and 1, got {arr.tolist()}")
        self.n_mc = check_int("n_mc", n_mc, min=1)
        self.n_truth = check_int("n_truth", n_truth, min=10)
        self._ss = seed_sequence(rng)
        self._f0 = GMMDensity(*self.initial) if self.has_density else None
        self._ftruth = GMMDensity(*self.truth_gmm) if self.truth_gmm is not None else self._f0
        applicable = self.applicable()
        if metrics is None:
            self.metrics = applicable
        else:
            self.metrics = check_names("metrics", metrics, METRICS)
            missing = [m for m in self.metrics if m not in applicable]
            if missing:
                raise ValueError(
                    f"metrics {missing} do not apply to this run (family {family!r}, "
                    f"truth {'known' if truth is not None else 'unknown'}); applicable: {applicable}"
                )
        self._tail_threshold = self._thresholds() if "tail_mass" in self.metrics else None

    # -------------------------------------------------------------- set-up
    def applicable(self) -> tuple[str, ...]:
        """Metrics this family and truth allow (samples permitting, for sample-only families)."""
        out = ["w2_squared_to_initial"]
        if self.truth is not None:
            out.append("w2_squared_to_truth")
        if self.has_density:
            out.append("l2_squared_to_initial")
        out.append("log_density_under_initial")
        if self.truth_gmm is not None or (self.truth_sample is not None and self.has_density):
            out.append("tail_mass")
        out += ["cov_trace", "cov_logdet"]
        return tuple(out)

    def _rng(self, j: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence(self._ss.entropy, spawn_key=(*self._ss.spawn_key, j)))

    def _truth_log_density(self, x):
        return self._ftruth(x)

    def _thresholds(self) -> np.ndarray:
        """tau_q: q-quantiles of log f_truth(Y), Y ~ truth (n_truth draws, or the truth sample)."""
        if self.truth_gmm is not None:
            y = gmm_sample(*self.truth_gmm, self.n_truth, rng=self._rng(0))
        else:
            y = self.truth_sample
        return np.quantile(self._truth_log_density(y), self.tail_levels)

    # -------------------------------------------------------------- per generation
    def scores(self, params: dict | None, sample=None, arrays: dict | None = None) -> np.ndarray | None:
        """log f_0 of the generation's sample (computed for density families, else stored)."""
        if self.has_density:
            x = sample if sample is not None else gmm_sample(*_as_gmm(self.family, params), self.n_mc, rng=self._rng(2))
            return self._f0(np.asarray(x, float).reshape(len(x), -1))
        if arrays and "log_density_under_initial" in arrays:
            return np.asarray(arrays["log_density_under_initial"], float).ravel()
        return None

    def __call__(self, params: dict | None, sample=None, arrays: dict | None = None) -> dict:
        """Metrics of one generation: name -> float or ndarray (omitted when the data lack it).

        Parameters
        ----------
        params : dict
            The generation's fitted parameters.
        sample : ndarray, shape (n, ...), optional
            Samples of the generation's model.
        arrays : dict, optional
            The record's sample-level arrays (``log_density_under_initial``).
        """
        from .. import wasserstein as W

        out = {}
        g = _as_gmm(self.family, params) if self.has_density else None
        x = None if sample is None else np.asarray(sample)
        xf = x.reshape(len(x), -1).astype(float) if x is not None and np.issubdtype(x.dtype, np.floating) else None
        x0 = self.initial_sample
        x0f = x0.reshape(len(x0), -1).astype(float) if x0 is not None and np.issubdtype(x0.dtype, np.floating) else None
        want = self.metrics

        if "w2_squared_to_initial" in want:
            if g is not None:
                out["w2_squared_to_initial"] = self._w2_param(g, self.initial)
            elif xf is not None and x0f is not None:
                out["w2_squared_to_initial"] = float(W.w2_squared_empirical(xf, x0f))
        if "w2_squared_to_truth" in want:
            if g is not None and self.truth_gmm is not None:
                out["w2_squared_to_truth"] = self._w2_param(g, self.truth_gmm)
            elif g is not None and self.family == "gaussian":
                out["w2_squared_to_truth"] = float(W.w2_squared_to_gaussian(self.truth_sample, g[1][0], g[2][0]))
            else:
                y = self.truth_sample
                if y is None and self.truth_gmm is not None and xf is not None:
                    y = gmm_sample(*self.truth_gmm, len(xf), rng=self._rng(3))
                if xf is None and g is not None:
                    xf = gmm_sample(*g, self.n_mc, rng=self._rng(2))
                if xf is not None and y is not None:
                    out["w2_squared_to_truth"] = float(W.w2_squared_empirical(xf, y))
        if "l2_squared_to_initial" in want and g is not None:
            out["l2_squared_to_initial"] = l2_squared_gmm(*g, *self.initial)
        if "log_density_under_initial" in want:
            s = self.scores(params, x, arrays)
            if s is not None and s.size:
                out["log_density_under_initial"] = np.quantile(s, self.quantiles)
        if "tail_mass" in want:
            if g is not None and xf is not None and len(xf) >= self.n_mc:
                y = xf[: self.n_mc]  # the generation's own draws suffice
            elif g is not None:
                y = gmm_sample(*g, self.n_mc, rng=self._rng(1))
            else:
                y = xf
            if y is not None:
                ld = self._truth_log_density(y)
                out["tail_mass"] = (ld[:, None] <= self._tail_threshold[None, :]).mean(axis=0)
        if "cov_trace" in want or "cov_logdet" in want:
            if g is not None:
                C = g[2]
            elif xf is not None and len(xf) > 1:
                C = np.atleast_2d(np.cov(xf, rowvar=False))[None]
            else:
                C = None
            if C is not None:
                if "cov_trace" in want:
                    out["cov_trace"] = np.trace(C, axis1=1, axis2=2)
                if "cov_logdet" in want and (g is not None or len(xf) > xf.shape[1]):
                    sign, logdet = np.linalg.slogdet(C)
                    out["cov_logdet"] = np.where(sign > 0, logdet, -np.inf)
        return out

    def _w2_param(self, g, h) -> float:
        from .. import wasserstein as W

        if len(g[0]) == 1 and len(h[0]) == 1:
            return float(W.w2_squared_gaussian(g[1][0], g[2][0], h[1][0], h[2][0]))
        return float(W.w2_squared_gmm(g[0], g[1], g[2], h[0], h[1], h[2]))


def _evaluator_for(run, metrics, reference, **kw) -> Evaluator:
    from .record import GenerationalRun

    if not isinstance(run, GenerationalRun):
        raise TypeError(f"run must be a GenerationalRun (GenerationalRun.load(path) reads one), got {type(run).__name__}")
    if not run.generations:
        raise ValueError("the run has no complete generation to evaluate")
    truth = _normalise_reference(reference) if reference is not None else run.truth
    g0 = run.generations[0]
    initial = g0.params if run.family in _DENSITY_FAMILIES else None
    return Evaluator(run.family, initial, initial_sample=g0.sample, truth=truth, metrics=metrics, **kw)


def _label(metric: str, i: int, ev: Evaluator) -> str:
    if metric == "log_density_under_initial":
        return f"q={ev.quantiles[i]:g}"
    if metric == "tail_mass":
        return f"level={ev.tail_levels[i]:g}"
    if metric in ("cov_trace", "cov_logdet"):
        return f"component={i}"
    return ""


def evaluate(
    run,
    metrics=None,
    reference=None,
    *,
    quantiles=DEFAULT_QUANTILES,
    tail_levels=DEFAULT_TAIL_LEVELS,
    n_mc: int = 10_000,
    n_truth: int = 100_000,
    rng=0,
    show_progress: bool | None = None,
):
    """Measure every generation of a run with the toolkit's estimators.

    Parameters
    ----------
    run : GenerationalRun
        Any run (its ``family`` selects the estimators, see the module docstring).
    metrics : sequence of str, optional
        Names from :data:`METRICS`; None computes every one that applies.
        Asking for one that does not apply (e.g. ``w2_squared_to_truth``
        without a truth) raises ValueError.
    reference : dict or ndarray, shape (n, d), optional
        The true distribution D_0, overriding ``run.truth``: GMM parameters
        (``weights``, ``means``, ``covariances``), Gaussian (``mean``, ``cov``)
        or a sample.
    quantiles, tail_levels, n_mc, n_truth, rng
        See :class:`Evaluator`.

    Returns
    -------
    pandas.DataFrame
        Tidy: one row per (generation, metric, label) with columns
        ``generation`` (int), ``metric`` (str), ``label`` (str: ``""`` for a
        scalar, ``"q=0.01"`` for a quantile, ``"level=0.05"`` for a tail
        level, ``"component=0"`` for a component) and ``value`` (float). The
        run is not modified; its own stored metrics are in
        ``run.metrics_frame()``.

    Examples
    --------
    >>> import numpy as np, collapse_theory as ct
    >>> run = ct.runs.GenerationalRun.open(None, kind="demo", family="gaussian", seed=0)
    >>> for t, s in enumerate([1.0, 2.0]):
    ...     _ = run.append(ct.runs.GenerationRecord(t, params={"mean": np.zeros(1), "cov": np.eye(1) * s**2}))
    >>> df = ct.runs.evaluate(run, metrics=["w2_squared_to_initial"])
    >>> float(df.value.iloc[1])  # (2 - 1)^2
    1.0
    """
    import pandas as pd

    from .._progress import progress

    ev = _evaluator_for(run, metrics, reference, quantiles=quantiles, tail_levels=tail_levels, n_mc=n_mc, n_truth=n_truth, rng=rng)
    rows = []
    for rec in progress(run.generations, total=len(run.generations), desc=f"evaluate {run.kind}", show=show_progress):
        for name, v in ev(rec.params, rec.sample, rec.arrays).items():
            a = np.ravel(np.asarray(v, dtype=float))
            for i, val in enumerate(a):
                label = _label(name, i, ev) if a.size > 1 or name in ("log_density_under_initial", "tail_mass", "cov_trace", "cov_logdet") else ""
                rows.append((rec.generation, name, label, float(val)))
    return pd.DataFrame(rows, columns=["generation", "metric", "label", "value"])


@dataclass
class LogDensityHistograms:
    """Histograms of log f_0 over each generation's sample, on common bins.

    Attributes
    ----------
    generations : ndarray, shape (G,)
    edges : ndarray, shape (B + 1,)
    counts : ndarray, shape (G, B)
        Counts per bin; values outside the bins are clipped into the end bins.
    density : ndarray, shape (G, B)
        ``counts`` normalised to unit area per generation.
    """

    generations: np.ndarray
    edges: np.ndarray
    counts: np.ndarray

    @property
    def density(self) -> np.ndarray:
        width = np.diff(self.edges)
        tot = self.counts.sum(axis=1, keepdims=True)
        return self.counts / np.where(tot > 0, tot, 1) / width


def log_density_histograms(run, *, generations=None, bins: int = 40, range=None, reference=None, n_mc: int = 10_000, rng=0) -> LogDensityHistograms:
    """Distribution of log f_0(x) over each generation's sample (paper, Fig. 1b,c analogue).

    Parameters
    ----------
    run : GenerationalRun
    generations : sequence of int, optional
        Which generations (default: all).
    bins : int
        Number of common bins.
    range : (float, float), optional
        Bin range; default: from the 0.1% quantile of all scores to their maximum.
    reference, n_mc, rng
        The true distribution D_0 (default ``run.truth``) and the Monte Carlo
        settings, as in :func:`evaluate`.

    Returns
    -------
    LogDensityHistograms
        ``counts`` of shape (len(generations), bins); every sample value is counted.

    Raises
    ------
    ValueError
        If a generation has neither a sample nor stored scores.

    Examples
    --------
    >>> import numpy as np, collapse_theory as ct
    >>> from collapse_theory.runs.evaluate import log_density_histograms
    >>> run = ct.runs.GenerationalRun.open(None, kind="demo", family="gaussian", seed=0)
    >>> rng = np.random.default_rng(0)
    >>> for t, s in enumerate([1.0, 0.5]):
    ...     _ = run.append(ct.runs.GenerationRecord(t, params={"mean": np.zeros(1), "cov": np.eye(1) * s**2},
    ...                                             sample=rng.normal(0.0, s, (500, 1))))
    >>> h = log_density_histograms(run, bins=10, range=(-5.0, 0.0))
    >>> h.counts.sum(axis=1).tolist(), h.counts[:, -1].tolist()  # log f_0 <= -log(2 pi) / 2 < -0.5
    ([500, 500], [0, 0])
    """
    bins = check_int("bins", bins, min=1)
    ev = _evaluator_for(run, ["log_density_under_initial"], reference, n_mc=n_mc, rng=rng)
    gens = np.arange(len(run.generations)) if generations is None else np.asarray(generations, dtype=int)
    scores = []
    for t in gens:
        rec = run.generations[int(t)]
        s = ev.scores(rec.params, rec.sample, rec.arrays)
        if s is None:
            raise ValueError(f"generation {t} has no sample or stored log_density_under_initial to histogram")
        scores.append(s[np.isfinite(s)])
    if range is None:
        allv = np.concatenate(scores)
        range = (float(np.quantile(allv, 0.001)), float(allv.max()))
        if range[0] == range[1]:
            range = (range[0] - 0.5, range[1] + 0.5)
    edges = np.linspace(range[0], range[1], bins + 1)
    counts = np.stack([np.histogram(np.clip(s, edges[0], edges[-1]), bins=edges)[0] for s in scores])
    return LogDensityHistograms(gens, edges, counts)
