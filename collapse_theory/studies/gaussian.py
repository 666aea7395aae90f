"""Studies of recursive Gaussian fitting (Theorem 3.1): exact simulation against exact theory.

* :func:`variance_decay`: almost-sure collapse of :math:`\\sigma_n^2` (the mean of
  :math:`\\log\\sigma_n^2` falls linearly, the median of :math:`\\sigma_n^2`
  falls) while :math:`E\\sigma_n^2` stays :math:`\\sigma_0^2` (unbiased estimator);
* :func:`w2_growth`: :math:`E W_2^2` to ``D_0`` against the exact finite-M value
  and the paper's :math:`\\tfrac32\\sigma_0^2\\sum_t 1/M_t`;
* :func:`schedules`: :math:`M_t = M_0 t^a`, bounded only for ``a > 1``;
* :func:`mitigation`: fresh data (share ``gamma``) and accumulation against the
  exact moment recursion.

Every function takes JSON-able scalar keyword parameters (a sweep calls
``ct.studies.NAME(**cell, replicates=R, rng=seed)``) and puts arrays in
``result.curves`` with a ``generation`` axis. Formulas:
:mod:`collapse_theory.theory.gaussian`.

Statistical tests: z-tests of simulated means against exact expectations,
made only for quantities with light tails. A Monte Carlo mean of
:math:`\\sigma_n^2` is unreliable once ``n`` is comparable to ``M`` under
replacement (its distribution is log-normal-like with a heavy right tail), so
its rows carry no p-value there; log-variances, :math:`E\\sigma_n` and
:math:`W_2^2` are tested instead.
"""

from __future__ import annotations

import time

import numpy as np

from .._provenance import provenance
from .._stats import mean_ci, positive_mean_ci, z_test
from .._validate import check_choice, check_float, check_int
from ..process import Mixing, schedules as _schedules
from ._base import StudyResult, make_row
from .discrete import _checkpoints, _seed_of

__all__ = ["variance_decay", "w2_growth", "schedules", "mitigation"]


def _rows(label, values, theory, points, test=True):
    rows = []
    for t in points:
        x = values[:, t]
        m, lo, hi, _ = _ci(x)
        th = float(theory[t]) if theory is not None else np.nan
        p = z_test(x, th) if (test and np.isfinite(th)) else np.nan
        rows.append(make_row(f"{label}, generation {t}", m, lo, hi, th, p))
    return rows


def _ci(x, axis=0):
    """mean_ci, or the log-scale interval where the values cannot be negative (variances, W2^2, squares)."""
    x = np.asarray(x, dtype=np.float64)
    return positive_mean_ci(x, axis=axis) if np.all(x >= 0) else mean_ci(x, axis=axis)


def _band(values):
    m, lo, hi, _ = _ci(values)
    return {"mean": m, "low": lo, "high": hi}


def _finish(name, rows, curves, params, rng, t0, plot):
    return StudyResult(
        name=name,
        rows=rows,
        curves=curves,
        params=params,
        provenance=provenance(params, seed=_seed_of(rng), wall_time_s=time.perf_counter() - t0),
        plot=plot,
    )


# ----------------------------------------------------------------------------- variance decay
def variance_decay(
    M: int = 100,
    generations: int | None = None,
    *,
    sigma0: float = 1.0,
    estimator: str = "unbiased",
    replicates: int = 2000,
    rng=None,
    checkpoints=None,
    show_progress: bool = False,
) -> StudyResult:
    """Almost-sure collapse of the variance while its mean stays constant.

    Rows at a few generations: mean of :math:`\\log\\sigma_t^2` (exact
    digamma drift), :math:`E(\\log\\sigma_t^2 - E\\log\\sigma_t^2)^2` (exact
    trigamma sum), :math:`E\\sigma_t` (exact, products of :math:`c_4`), the
    median of :math:`\\sigma_t^2` (no closed form; shown falling) and the mean
    of :math:`\\sigma_t^2` against :math:`\\sigma_0^2` (tested only while
    ``t <= M / 4``: heavy tail; :math:`E\\sigma_t` only while ``t <= M``).

    Parameters
    ----------
    M : int
        Sample size per generation (>= 2).
    generations : int, optional
        Default ``4 M`` (far into the collapse).
    sigma0 : float
    estimator : {'unbiased', 'mle'}
    replicates : int
    rng : None, int, SeedSequence or Generator
    checkpoints : sequence of int, optional
    show_progress : bool

    Returns
    -------
    StudyResult
        ``curves``: generation, log_var_{mean,low,high}, log_var_theory,
        var_median, var_mean, var_theory, std_mean, std_theory, paths (20
        replicates' log-variances).
    """
    from ..chains.gaussian import GaussianChain
    from ..theory import gaussian as th

    t0 = time.perf_counter()
    M = check_int("M", M, min=2)
    G = 4 * M if generations is None else check_int("generations", generations, min=1)
    R = check_int("replicates", replicates, min=2)
    sigma0 = check_float("sigma0", sigma0, min=0.0, min_inclusive=False)
    estimator = check_choice("estimator", estimator, ("unbiased", "mle"))
    run = GaussianChain(0.0, sigma0**2, M, estimator=estimator).simulate(G, R, rng=rng, show_progress=show_progress)
    gen = np.arange(G + 1)
    lv_th = th.expected_log_variance(gen, M, sigma0, estimator)
    lv_var_th = th.log_variance_variance(gen, M, estimator)
    std_th = th.expected_std(gen, M, sigma0, estimator)
    var_th = th.expected_variance(gen, M, sigma0, estimator)
    pts = _checkpoints(G, checkpoints)
    lv = run.log_var
    std = run.std
    rows = _rows("mean log variance", lv, lv_th, pts)
    rows += _rows("variance of log variance", (lv - lv_th) ** 2, lv_var_th, pts)
    for t in pts:  # sigma_t is log-normal-like with log-sd ~ sqrt(t / 2M): skewed beyond t ~ M
        rows += _rows("E sigma" + ("" if t <= M else " (skewed, not tested)"), std, std_th, [t], test=t <= M)
    for t in pts:
        med = float(np.exp(np.median(lv[:, t])))
        rows.append(make_row(f"median variance, generation {t}", med, theory=np.nan))
    var = run.var
    for t in pts:
        rows += _rows("mean variance" + ("" if t <= M / 4 else " (heavy tail, not tested)"), var, var_th, [t], test=t <= M / 4)
    b = _band(lv)
    sb = _band(std)
    curves = {
        "generation": gen,
        "log_var_mean": b["mean"], "log_var_low": b["low"], "log_var_high": b["high"],
        "log_var_theory": lv_th,
        "log_var_sd_theory": np.sqrt(lv_var_th),
        "var_median": np.exp(np.median(lv, axis=0)),
        "var_mean": var.mean(axis=0),
        "var_theory": var_th,
        "std_mean": sb["mean"], "std_low": sb["low"], "std_high": sb["high"],
        "std_theory": std_th,
        "paths": lv[: min(R, 20)],
    }
    params = {"M": M, "generations": G, "sigma0": sigma0, "estimator": estimator, "replicates": R, "method": run.method}
    return _finish("variance_decay", rows, curves, params, rng, t0, _plot_variance_decay)


def _plot_variance_decay(res):
    from ..plotting import SIM_COLOR, THEORY_COLOR, band, new_figure

    c = res.curves
    fig, (a1, a2) = new_figure(1, 2)
    g = c["generation"]
    for k, p in enumerate(c["paths"]):
        a1.plot(g, p, color="gray", lw=0.4, alpha=0.5, label=f"{len(c['paths'])} replicate paths" if k == 0 else None)
    band(a1, g, c["log_var_mean"], c["log_var_low"], c["log_var_high"], label="simulated mean")
    a1.plot(g, c["log_var_theory"], color=THEORY_COLOR, ls="--", label="exact E log sigma^2")
    a1.set(xlabel="generation t", ylabel="log sigma_t^2", title=f"log-variance, M = {res.params['M']}")
    a1.legend(fontsize=8)
    a2.semilogy(g, c["var_median"], color=SIM_COLOR, label="median sigma_t^2 (simulated)")
    a2.semilogy(g, c["var_mean"], color=SIM_COLOR, ls=":", label="mean sigma_t^2 (simulated)")
    a2.semilogy(g, c["var_theory"], color=THEORY_COLOR, ls="--", label="exact E sigma_t^2")
    a2.semilogy(g, c["std_mean"] ** 2, color="tab:green", lw=0.8, label="(mean sigma_t)^2 (simulated)")
    a2.semilogy(g, c["std_theory"] ** 2, color="tab:olive", ls="--", lw=0.8, label="(exact E sigma_t)^2")
    a2.set(xlabel="generation t", ylabel="variance", title="a.s. collapse, constant mean")
    a2.legend(fontsize=7)
    return fig


# ----------------------------------------------------------------------------- W2 growth
def w2_growth(
    M: int = 100,
    generations: int | None = None,
    *,
    sigma0: float = 1.0,
    estimator: str = "unbiased",
    d: int = 1,
    replicates: int = 2000,
    rng=None,
    checkpoints=None,
    show_progress: bool = False,
) -> StudyResult:
    """:math:`E W_2^2` to ``D_0`` against the exact value and the paper's first-order term.

    1-D: rows test the simulated mean of :math:`W_2^2` and of
    :math:`(\\mu_t-\\mu_0)^2` against :func:`~collapse_theory.theory.gaussian.expected_w2_squared`
    and :func:`~collapse_theory.theory.gaussian.expected_mean_squared_error`;
    the paper's :math:`\\tfrac32\\sigma_0^2 t/M` is shown beside them (no test:
    it is an approximation). d-D (``Sigma_0 = sigma0^2 I``): rows test
    :math:`E\\lVert\\mu_t-\\mu_0\\rVert^2` and :math:`E\\log\\det\\Sigma_t`
    (Bartlett); :math:`W_2^2` is simulated only (no closed form).

    Parameters
    ----------
    M : int
    generations : int, optional
        Default ``M`` (the exact value and the first-order term part there).
    sigma0 : float
    estimator : {'unbiased', 'mle'}
    d : int
        Dimension.
    replicates : int
    rng, checkpoints, show_progress : see :func:`variance_decay`

    Returns
    -------
    StudyResult
        ``curves``: generation, w2_{mean,low,high}, w2_exact (NaN in d-D),
        w2_paper, mean_sq_{mean,theory}.
    """
    from ..chains.gaussian import GaussianChain
    from ..theory import gaussian as th

    t0 = time.perf_counter()
    M = check_int("M", M, min=2)
    d = check_int("d", d, min=1)
    G = M if generations is None else check_int("generations", generations, min=1)
    R = check_int("replicates", replicates, min=2)
    sigma0 = check_float("sigma0", sigma0, min=0.0, min_inclusive=False)
    estimator = check_choice("estimator", estimator, ("unbiased", "mle"))
    cov0 = sigma0**2 if d == 1 else sigma0**2 * np.eye(d)
    mean0 = 0.0 if d == 1 else np.zeros(d)
    run = GaussianChain(mean0, cov0, M, estimator=estimator).simulate(G, R, rng=rng, show_progress=show_progress)
    gen = np.arange(G + 1)
    pts = _checkpoints(G, checkpoints)
    w2 = run.w2_squared_to_initial
    # the paper's first-order term is a 1-D result
    paper = th.paper_w2_squared(gen, M, sigma0) if d == 1 else np.full(G + 1, np.nan)
    if d == 1:
        exact = th.expected_w2_squared(gen, M, sigma0, estimator)
        msq = run.mean**2
        msq_th = th.expected_mean_squared_error(gen, M, sigma0, estimator)
        # light enough tails for a z-test while t <= M (sigma_t^2 has log-sd ~ sqrt(t / M))
        rows = []
        for t in pts:
            ok = t <= M
            tag = "" if ok else " (heavy tail, not tested)"
            rows += _rows("E W2^2 (exact)" + tag, w2, exact, [t], test=ok)
            rows += _rows("E (mu - mu0)^2" + tag, msq, msq_th, [t], test=ok)
    else:
        exact = np.full(G + 1, np.nan)
        msq = np.sum(run.mean**2, axis=-1)
        msq_th = th.expected_mean_squared_error_mv(gen, M, cov0, estimator)
        rows = _rows("E W2^2 (simulated only)", w2, None, pts, test=False)
        rows += _rows("E ||mu - mu0||^2", msq, msq_th, pts)
        rows += _rows("E log det Sigma", run.log_det, th.expected_log_det(gen, M, cov0, estimator), pts)
    if d == 1:
        for t in pts:
            rows.append(make_row(f"paper's (3/2) sigma0^2 sum 1/M_i (approximation), generation {t}", np.mean(w2[:, t]), theory=paper[t]))
    b = _band(w2)
    curves = {
        "generation": gen,
        "w2_mean": b["mean"], "w2_low": b["low"], "w2_high": b["high"],
        "w2_exact": exact,
        "w2_paper": paper,
        "mean_sq_mean": msq.mean(axis=0),
        "mean_sq_theory": msq_th,
    }
    params = {"M": M, "generations": G, "sigma0": sigma0, "estimator": estimator, "d": d, "replicates": R, "method": run.method}
    return _finish("w2_growth", rows, curves, params, rng, t0, _plot_w2_growth)


def _plot_w2_growth(res):
    from ..plotting import THEORY_COLOR, band, new_figure

    c = res.curves
    fig, ax = new_figure(1, 1)
    g = c["generation"]
    band(ax, g, c["w2_mean"], c["w2_low"], c["w2_high"], label="simulated E W2^2")
    if np.all(np.isfinite(c["w2_exact"])):
        ax.plot(g, c["w2_exact"], color=THEORY_COLOR, ls="--", label="exact E W2^2")
    if np.all(np.isfinite(c["w2_paper"])):
        ax.plot(g, c["w2_paper"], color="gray", ls=":", label="paper: (3/2) sigma0^2 sum 1/M_i")
    p = res.params
    ax.set(xlabel="generation n", ylabel="E W2^2 to D_0", title=f"W2 growth, M = {p['M']}, d = {p['d']} ({p['estimator']})")
    ax.legend(fontsize=8)
    return fig


# ----------------------------------------------------------------------------- schedules
def schedules(
    M0: int = 10,
    exponent: float = 2.0,
    generations: int = 200,
    *,
    sigma0: float = 1.0,
    estimator: str = "unbiased",
    replicates: int = 2000,
    rng=None,
    checkpoints=None,
    show_progress: bool = False,
) -> StudyResult:
    """:math:`E W_2^2` under the schedule :math:`M_t = \\mathrm{round}(M_0 t^a)`.

    Rows: the simulated mean of :math:`W_2^2` against the exact value at a
    few generations (z-test), the limit :math:`\\lim_n E W_2^2`
    (:func:`~collapse_theory.theory.gaussian.schedule_limit`, ``inf`` unless
    ``a > 1``) beside the last simulated value, and whether SymPy finds the
    series convergent.

    Parameters
    ----------
    M0 : int
    exponent : float
        ``a >= 0``.
    generations : int
    sigma0, estimator, replicates, rng, checkpoints, show_progress : see :func:`variance_decay`

    Returns
    -------
    StudyResult
        ``curves``: generation, sizes, w2_{mean,low,high}, w2_exact, w2_paper, limit.
    """
    from ..chains.gaussian import GaussianChain
    from ..theory import gaussian as th

    t0 = time.perf_counter()
    M0 = check_int("M0", M0, min=2)
    a = check_float("exponent", exponent, min=0.0)
    G = check_int("generations", generations, min=1)
    R = check_int("replicates", replicates, min=2)
    sigma0 = check_float("sigma0", sigma0, min=0.0, min_inclusive=False)
    estimator = check_choice("estimator", estimator, ("unbiased", "mle"))
    sched = _schedules.power(M0, a)
    run = GaussianChain(0.0, sigma0**2, sched, estimator=estimator).simulate(G, R, rng=rng, show_progress=show_progress)
    gen = np.arange(G + 1)
    exact = th.expected_w2_squared(gen, sched, sigma0, estimator)
    paper = th.paper_w2_squared(gen, sched, sigma0)
    limit = th.schedule_limit(M0, a, sigma0, estimator)
    bounded = th.schedule_is_bounded(a)
    pts = _checkpoints(G, checkpoints)
    w2 = run.w2_squared_to_initial
    rows = _rows("E W2^2 (exact)", w2, exact, pts)
    rows.append(make_row(f"limit of E W2^2 (simulated: generation {G})", np.mean(w2[:, G]), theory=limit))
    rows.append(make_row("bounded (1 = yes): a > 1", float(bounded), theory=float(a > 1)))
    b = _band(w2)
    curves = {
        "generation": gen,
        "sizes": np.concatenate([[0], run.sample_sizes]),
        "w2_mean": b["mean"], "w2_low": b["low"], "w2_high": b["high"],
        "w2_exact": exact,
        "w2_paper": paper,
        "limit": np.asarray(limit),
    }
    params = {"M0": M0, "exponent": a, "generations": G, "sigma0": sigma0, "estimator": estimator,
              "replicates": R, "bounded": bounded, "method": run.method}
    return _finish("schedules", rows, curves, params, rng, t0, _plot_schedules)


def _plot_schedules(res):
    from ..plotting import THEORY_COLOR, band, new_figure

    c = res.curves
    fig, ax = new_figure(1, 1)
    g = c["generation"]
    band(ax, g, c["w2_mean"], c["w2_low"], c["w2_high"], label="simulated E W2^2")
    ax.plot(g, c["w2_exact"], color=THEORY_COLOR, ls="--", label="exact")
    lim = float(c["limit"])
    if np.isfinite(lim):
        ax.axhline(lim, color=THEORY_COLOR, lw=0.8, ls=":", label=f"limit {lim:.3g}")
    p = res.params
    ax.set(xlabel="generation n", ylabel="E W2^2", title=f"M_t = {p['M0']} t^{p['exponent']:g}")
    ax.legend(fontsize=8)
    return fig


# ----------------------------------------------------------------------------- mitigation
def mitigation(
    M: int = 20,
    gamma: float = 0.1,
    workflow: str = "fresh",
    generations: int = 100,
    *,
    sigma0: float = 1.0,
    estimator: str = "unbiased",
    replicates: int = 1000,
    rng=None,
    checkpoints=None,
    show_progress: bool = False,
) -> StudyResult:
    """Fresh data and accumulation: simulated moments and :math:`W_2^2` against the exact recursion.

    Rows at a few generations: :math:`E(\\mu_t-\\mu_0)^2` and
    :math:`E\\sigma_t^2` against :func:`~collapse_theory.theory.gaussian.moment_recursion`
    (tested only where the tails are light: accumulation, fresh data with
    :math:`(1-\\gamma)^3 E W^3 < 1`, or small ``t``), the simulated :math:`E W_2^2` beside its
    exact Jensen lower bound (no closed form exists for :math:`E\\sigma_t` here),
    and the long-run values (:func:`~collapse_theory.theory.gaussian.long_run_moments`).

    Parameters
    ----------
    M : int
        New points per generation.
    gamma : float
        Share of fresh original data among them (0 <= gamma <= 1).
    workflow : {'replace', 'fresh', 'accumulate'}
        'replace' requires gamma = 0; 'fresh' fits each model to the newest
        dataset; 'accumulate' fits it to the pool of every point so far.
    generations : int
    sigma0, estimator, replicates, rng, checkpoints, show_progress : see :func:`variance_decay`

    Returns
    -------
    StudyResult
        ``curves``: generation, w2_{mean,low,high}, w2_lower_bound,
        mean_sq_{mean,theory}, var_{mean,theory}, log_var_mean; scalars
        long_run_var, long_run_mean_sq, long_run_w2_lower_bound.
    """
    from ..chains.gaussian import GaussianChain
    from ..theory import gaussian as th

    t0 = time.perf_counter()
    M = check_int("M", M, min=2)
    g = check_float("gamma", gamma, min=0.0, max=1.0)
    workflow = check_choice("workflow", workflow, ("replace", "fresh", "accumulate"))
    G = check_int("generations", generations, min=1)
    R = check_int("replicates", replicates, min=2)
    sigma0 = check_float("sigma0", sigma0, min=0.0, min_inclusive=False)
    estimator = check_choice("estimator", estimator, ("unbiased", "mle"))
    if workflow == "replace":
        if g != 0.0:
            raise ValueError(f"workflow='replace' has no fresh data; got gamma = {g} (use workflow='fresh')")
        mixing = Mixing.replace()
    elif workflow == "fresh":
        mixing = Mixing.fresh(g)
    else:
        mixing = Mixing.accumulate(g)
    run = GaussianChain(0.0, sigma0**2, M, estimator=estimator, mixing=mixing).simulate(
        G, R, rng=rng, show_progress=show_progress
    )
    path = th.moment_recursion(G, M, g, workflow, sigma0, estimator)
    lb = th.w2_squared_lower_bound(path.variance, path.mean_squared_error, sigma0)
    pts = _checkpoints(G, checkpoints)
    msq = run.mean**2
    var = run.var
    # tails: sigma_{t+1}^2 ~ (1 - gamma) sigma_t^2 W + (fresh part), a Kesten-type recursion whose
    # third moment stays bounded when (1 - gamma)^3 E W^3 < 1; the pooled (accumulate) model averages
    light = workflow == "accumulate" or (g > 0 and (1 - g) ** 3 * th.moment_factor(M, 3.0, estimator) < 1)
    rows = []
    for t in pts:
        tested = light or t <= M
        rows += _rows("E (mu - mu0)^2" + ("" if tested else " (heavy tail, not tested)"), msq, path.mean_squared_error, [t], test=tested)
    for t in pts:
        tested = light or t <= M / 4
        rows += _rows("E sigma^2" + ("" if tested else " (heavy tail, not tested)"), var, path.variance, [t], test=tested)
    w2 = run.w2_squared_to_initial
    for t in pts:
        rows.append(make_row(f"E W2^2 vs exact lower bound, generation {t}", *_ci(w2[:, t])[:3], theory=lb[t]))
    if workflow == "replace":
        lr_v, lr_e = (sigma0**2 if estimator == "unbiased" else 0.0), np.inf
    else:
        lr_v, lr_e = th.long_run_moments(M, g, workflow, sigma0, estimator)
    lr_w2 = th.w2_squared_lower_bound(lr_v, lr_e, sigma0) if np.isfinite(lr_e) else np.inf
    rows.append(make_row(f"long-run E (mu - mu0)^2 (simulated: generation {G})", np.mean(msq[:, G]), theory=lr_e))
    rows.append(make_row(f"long-run E sigma^2 (simulated: generation {G})", np.mean(var[:, G]), theory=lr_v))
    rows.append(make_row(f"long-run E W2^2 lower bound (simulated: generation {G})", np.mean(w2[:, G]), theory=lr_w2))
    b = _band(w2)
    curves = {
        "generation": np.arange(G + 1),
        "w2_mean": b["mean"], "w2_low": b["low"], "w2_high": b["high"],
        "w2_lower_bound": lb,
        "mean_sq_mean": msq.mean(axis=0),
        "mean_sq_theory": path.mean_squared_error,
        "var_mean": var.mean(axis=0),
        "var_theory": path.variance,
        "log_var_mean": run.log_var.mean(axis=0),
        "long_run_var": np.asarray(lr_v),
        "long_run_mean_sq": np.asarray(lr_e),
        "long_run_w2_lower_bound": np.asarray(lr_w2),
    }
    params = {"M": M, "gamma": g, "workflow": workflow, "generations": G, "sigma0": sigma0, "estimator": estimator,
              "replicates": R, "method": run.method}
    return _finish("mitigation", rows, curves, params, rng, t0, _plot_mitigation)


def _plot_mitigation(res):
    from ..plotting import SIM_COLOR, THEORY_COLOR, band, new_figure

    c = res.curves
    fig, (a1, a2) = new_figure(1, 2)
    g = c["generation"]
    band(a1, g, c["w2_mean"], c["w2_low"], c["w2_high"], label="simulated E W2^2")
    a1.plot(g, c["w2_lower_bound"], color=THEORY_COLOR, ls="--", label="exact lower bound")
    p = res.params
    a1.set(xlabel="generation t", ylabel="E W2^2", title=f"{p['workflow']}, gamma = {p['gamma']:g}, M = {p['M']}")
    a1.legend(fontsize=8)
    a2.plot(g, c["mean_sq_mean"], color=SIM_COLOR, label="E (mu - mu0)^2 simulated")
    a2.plot(g, c["mean_sq_theory"], color=THEORY_COLOR, ls="--", label="exact")
    a2.plot(g, c["var_mean"], color="tab:green", label="E sigma^2 simulated")
    a2.plot(g, c["var_theory"], color="tab:olive", ls="--", label="exact")
    a2.set(xlabel="generation t", title="moments (exact recursion)")
    a2.legend(fontsize=8)
    return fig
