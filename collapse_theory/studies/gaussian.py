"""Studies of recursive Gaussian fitting (Theorem 3.1): exact simulation against exact theory.

* :func:`variance_decay`: almost-sure collapse of :math:`\\sigma_n^2` (the mean of
  :math:`\\log\\sigma_n^2` falls linearly, the median of :math:`\\sigma_n^2`
  falls) while :math:`E\\sigma_n^2` stays :math:`\\sigma_0^2` (unbiased estimator);
* :func:`w2_growth`: :math:`E W_2^2` to ``D_0`` against the exact finite-M value
  and the paper's :math:`\\tfrac32\\sigma_0^2\\sum_t 1/M_t`;
* :func:`schedules`: :math:`M_t = M_0 t^a`, bounded only for ``a > 1``;
* :func:`mitigation`: any workflow (a ``Mixing``: fresh data, mixtures,
  accumulation, accumulate-subsample, augmentation) against the exact moments
  and the exact bracket on :math:`E W_2^2`; :func:`mitigation_cell`, one cell
  of a map; :func:`known_results`, the field's known results (Dey & Donoho,
  Bertrand et al., He, Xu & Cheng) against simulation.

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

from .._stats import mean_ci, positive_mean_ci, z_test, z_testable
from .._validate import check_choice, check_float, check_int
from ..process import Mixing
from ..process import schedules as _schedules
from ._base import StudyResult, make_row
from ._base import band as _base_band
from ._base import checkpoints as _checkpoints
from ._base import finish as _finish
from ._base import generation_rows as _base_rows

__all__ = ["known_results", "mitigation", "mitigation_cell", "schedules", "variance_decay", "w2_growth"]


def _rows(label, values, theory, points, test=True):
    """generation_rows, with intervals that stay >= 0 for the non-negative quantities of this module."""
    return _base_rows(label, values, theory, points, test, positive=True)


def _band(values):
    """band, with the log-scale interval where every value is >= 0 (W2^2, variances, squared errors)."""
    return _base_band(values, positive=True)


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

    Examples
    --------
    >>> res = variance_decay(M=10, generations=20, replicates=200, rng=0)
    >>> res.table()["quantity"].iloc[0], res.passed()
    ('mean log variance, generation 1', True)
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
    for t in pts:  # sigma_t is log-normal-like: the shared rule of _stats.z_testable
        ok = z_testable(lv_var_th[t], 0.5)
        rows += _rows("E sigma" + ("" if ok else " (skewed, not tested)"), std, std_th, [t], test=ok)
    for t in pts:
        med = float(np.exp(np.median(lv[:, t])))
        rows.append(make_row(f"median variance, generation {t}", med, theory=np.nan))
    var = run.var
    for t in pts:
        ok = z_testable(lv_var_th[t], 1.0)
        rows += _rows("mean variance" + ("" if ok else " (heavy tail, not tested)"), var, var_th, [t], test=ok)
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

    Examples
    --------
    >>> res = w2_growth(M=10, generations=10, replicates=200, rng=0)
    >>> res.table()["quantity"].iloc[0], res.passed()
    ('E W2^2 (exact), generation 1', True)
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

    Examples
    --------
    >>> res = schedules(M0=5, exponent=2.0, generations=20, replicates=200, rng=0)
    >>> res.curves["sizes"][1:5].tolist(), res.passed()  # M_t = round(5 t^2)
    ([5, 20, 45, 80], True)
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
def _band_p(x, low, high):
    """Two-sided p-value that the mean of ``x`` lies in the exact band [low, high] (1 inside it).

    The distance from the band in standard errors is z-tested against the
    nearer end, the conservative test of "the expectation is in the band".
    """
    m = float(np.mean(x))
    if not (np.isfinite(low) and np.isfinite(high)):
        return np.nan
    if low <= m <= high:
        return 1.0
    edge = low if m < low else high
    return z_test(x, edge)


def _light(mixing, M, t, estimator="unbiased"):
    r"""Whether Monte Carlo means of sigma_t^2, (mu_t - mu_0)^2 and W2^2 may be z-tested.

    Replacement and fresh data near the stability boundary give log-normal-
    or Kesten-type tails (the mean is carried by rare excursions); tested:
    pooled workflows and augmentation (their fits average over a growing or
    fixed real pool), early generations (t <= M / 4), and fresh / mixture data
    whose third moment of the variance recursion stays bounded,
    :math:`(1-\gamma)^3 E W^3 < 1` (for the mixture with :math:`\alpha` in place of :math:`1-\gamma`).
    """
    from ..theory import gaussian as th

    wf = mixing.workflow
    if wf in ("accumulate", "accumulate-subsample", "augment"):
        return True
    if wf == "replace":  # the shared rule for log-normal-like quantities
        return z_testable(th.log_variance_variance(t, M, estimator), 1.0)
    if t <= M / 4:
        return True
    keep = 1.0 - mixing.real
    return bool(keep**3 * th.moment_factor(M, 3.0, estimator) < 1)


def mitigation(
    M: int = 20,
    mixing="fresh:0.1",
    generations: int = 100,
    *,
    sigma0: float = 1.0,
    estimator: str = "unbiased",
    replicates: int = 1000,
    rng=None,
    checkpoints=None,
    show_progress: bool = False,
) -> StudyResult:
    """Any workflow (``Mixing``): simulated moments and :math:`E W_2^2` against the exact theory.

    Rows at a few generations: :math:`E(\\mu_t-\\mu_0)^2` and :math:`E\\sigma_t^2`
    against :func:`~collapse_theory.theory.gaussian.moment_recursion` (exact),
    and :math:`E W_2^2` against the exact bracket of
    :func:`~collapse_theory.theory.gaussian.workflow_moments` (the p-value tests
    "the expectation lies in the bracket"; exact under replacement), each
    z-tested only where the tails are light (see ``_light``); and the
    long-run values (:func:`~collapse_theory.theory.gaussian.stationary_moments`).

    Parameters
    ----------
    M : int
        New points per generation (augment: ``|D_0|``).
    mixing : Mixing or spec
        Any workflow (``"replace"``, ``"fresh:0.1"``, ``"mixture:A,B,G"``,
        ``"accumulate"``, ``"accumulate-subsample"``, ``"augment:2"``).
    generations : int
    sigma0, estimator, replicates, rng, checkpoints, show_progress : see :func:`variance_decay`

    Returns
    -------
    StudyResult
        ``curves``: generation, w2_{mean,low,high}, w2_theory_{low,high} (the
        exact bracket; ``w2_lower_bound`` is its lower side), w2_theory,
        mean_sq_{mean,low,high,theory}, var_{mean,theory}, log_var_mean;
        scalars long_run_var, long_run_mean_sq, long_run_w2_lower_bound.

    Examples
    --------
    >>> import collapse_theory as ct
    >>> res = ct.studies.mitigation(10, "accumulate", 5, replicates=200, rng=0)
    >>> res.params["mixing"], bool(res.passed())
    ('accumulate', True)
    """
    from ..chains.gaussian import GaussianChain
    from ..process import check_mixing
    from ..theory import gaussian as th

    t0 = time.perf_counter()
    M = check_int("M", M, min=2)
    mixing = check_mixing(mixing, where="studies.mitigation")
    G = check_int("generations", generations, min=1)
    R = check_int("replicates", replicates, min=2)
    sigma0 = check_float("sigma0", sigma0, min=0.0, min_inclusive=False)
    estimator = check_choice("estimator", estimator, ("unbiased", "mle"))
    run = GaussianChain(0.0, sigma0**2, M, estimator=estimator, mixing=mixing).simulate(
        G, R, rng=rng, show_progress=show_progress
    )
    wm = th.workflow_moments(G, M, mixing=mixing, sigma0=sigma0, estimator=estimator)
    pts = _checkpoints(G, checkpoints)
    msq = run.mean**2
    var = run.var
    w2 = run.w2_squared_to_initial
    rows = []
    for t in pts:
        ok = _light(mixing, M, t, estimator)
        tag = "" if ok else " (heavy tail, not tested)"
        rows += _rows("E (mu - mu0)^2" + tag, msq, wm.mean_squared_error, [t], test=ok)
        rows += _rows("E sigma^2" + tag, var, wm.variance, [t], test=ok)
        m, lo, hi, _ = positive_mean_ci(w2[:, t]) if np.all(w2[:, t] >= 0) else mean_ci(w2[:, t])
        kind = "exact" if wm.method == "closed form" else f"exact bracket [{wm.w2_squared_low[t]:.4g}, {wm.w2_squared_high[t]:.4g}]"
        p = _band_p(w2[:, t], wm.w2_squared_low[t], wm.w2_squared_high[t]) if ok else np.nan
        rows.append(make_row(f"E W2^2 ({kind}){tag}, generation {t}", m, lo, hi, wm.w2_squared[t], p))
    lr_v, lr_e = th.stationary_moments(M, mixing=mixing, sigma0=sigma0, estimator=estimator)
    lr_w2 = th.w2_squared_lower_bound(lr_v, lr_e, sigma0) if np.isfinite(lr_e) and np.isfinite(lr_v) else np.inf
    rows.append(make_row(f"long-run E (mu - mu0)^2 (simulated: generation {G})", np.mean(msq[:, G]), theory=lr_e))
    rows.append(make_row(f"long-run E sigma^2 (simulated: generation {G})", np.mean(var[:, G]), theory=lr_v))
    b = _band(w2)
    mb = _band(msq)
    curves = {
        "generation": np.arange(G + 1),
        "w2_mean": b["mean"], "w2_low": b["low"], "w2_high": b["high"],
        "w2_theory": wm.w2_squared, "w2_theory_low": wm.w2_squared_low, "w2_theory_high": wm.w2_squared_high,
        "w2_lower_bound": wm.w2_squared_low,
        "mean_sq_mean": mb["mean"], "mean_sq_low": mb["low"], "mean_sq_high": mb["high"],
        "mean_sq_theory": wm.mean_squared_error,
        "var_mean": var.mean(axis=0),
        "var_theory": wm.variance,
        "log_var_mean": run.log_var.mean(axis=0),
        "long_run_var": np.asarray(lr_v),
        "long_run_mean_sq": np.asarray(lr_e),
        "long_run_w2_lower_bound": np.asarray(lr_w2),
    }
    params = {"M": M, "mixing": mixing.to_spec(), "workflow": mixing.workflow, "generations": G, "sigma0": sigma0,
              "estimator": estimator, "replicates": R, "method": run.method, "theory_method": wm.method}
    return _finish("mitigation", rows, curves, params, rng, t0, _plot_mitigation)


def _plot_mitigation(res):
    from ..plotting import SIM_COLOR, THEORY_COLOR, band, new_figure

    c = res.curves
    fig, (a1, a2) = new_figure(1, 2)
    g = c["generation"]
    band(a1, g, c["w2_mean"], c["w2_low"], c["w2_high"], label="simulated E W2^2")
    a1.fill_between(g, c["w2_theory_low"], c["w2_theory_high"], color=THEORY_COLOR, alpha=0.3, lw=0, label="exact theory (bracket)")
    a1.plot(g, c["w2_theory"], color=THEORY_COLOR, ls="--", lw=0.8)
    p = res.params
    a1.set(xlabel="generation t", ylabel="E W2^2", title=f"{p['mixing']}, M = {p['M']}")
    a1.legend(fontsize=8)
    a2.plot(g, c["mean_sq_mean"], color=SIM_COLOR, label="E (mu - mu0)^2 simulated")
    a2.plot(g, c["mean_sq_theory"], color=THEORY_COLOR, ls="--", label="exact")
    a2.plot(g, c["var_mean"], color="tab:green", label="E sigma^2 simulated")
    a2.plot(g, c["var_theory"], color="tab:olive", ls="--", label="exact")
    a2.set(xlabel="generation t", title="moments (exact recursion)")
    a2.legend(fontsize=8)
    return fig


def mitigation_cell(
    M: int,
    mixing="fresh:0.1",
    generations: int = 100,
    *,
    replicates: int = 300,
    rng=None,
    order: int | None = None,
) -> StudyResult:
    """One cell of a mitigation map: the chain at generation ``G`` against the exact theory (sigma0 = 1).

    Rows 'E W2^2' (theory: the midpoint of the exact bracket of
    :func:`~collapse_theory.theory.gaussian.workflow_moments`, its ends in
    the ``w2_theory_low/high`` curves), 'E (mu - mu0)^2' and 'E sigma^2'
    (exact; z-tested only where the tails are light). The theory of a cell
    costs milliseconds (no long-run extrapolation).

    Parameters
    ----------
    M : int
    mixing : Mixing or spec
    generations : int
    replicates : int
    rng : None, int, SeedSequence or Generator
    order : int, optional
        Moments behind the E W2^2 bracket (see
        :func:`~collapse_theory.theory.gaussian.workflow_moments`). Default 6
        (every workflow's theory for 1000 generations in tens of milliseconds;
        order 8 tightens the bracket at about four times the cost).

    Returns
    -------
    StudyResult

    Examples
    --------
    >>> import collapse_theory as ct
    >>> ct.studies.mitigation_cell(10, "fresh:0.2", 20, replicates=100, rng=0).rows[0]["quantity"]
    'E W2^2'
    """
    from ..chains.gaussian import GaussianChain
    from ..process import check_mixing
    from ..theory import gaussian as th

    t0 = time.perf_counter()
    M = check_int("M", M, min=2)
    mixing = check_mixing(mixing, where="studies.mitigation_cell")
    G = check_int("generations", generations, min=1)
    R = check_int("replicates", replicates, min=2)
    run = GaussianChain(0.0, 1.0, M, mixing=mixing).simulate(G, R, rng=rng, show_progress=False)
    if order is None:
        order = _CELL_ORDER
    order = check_int("order", order, min=2, max=12)
    wm = th.workflow_moments(G, M, mixing=mixing, order=order)
    w2 = run.w2_squared_to_initial[:, G]
    msq = run.mean[:, G] ** 2
    var = np.exp(run.log_var[:, G])
    light = _light(mixing, M, G)
    lo, hi = float(wm.w2_squared_low[G]), float(wm.w2_squared_high[G])
    e, v = float(wm.mean_squared_error[G]), float(wm.variance[G])
    rows = [
        make_row("E W2^2", *mean_ci(w2)[:3], theory=0.5 * (lo + hi), p_value=_band_p(w2, lo, hi) if light else np.nan),
        make_row("E (mu - mu0)^2", *mean_ci(msq)[:3], e, z_test(msq, e) if light else np.nan),
        make_row("E sigma^2", *mean_ci(var)[:3], v, z_test(var, v) if light else np.nan),
    ]
    curves = {"generation": np.arange(G + 1), "w2_mean": run.w2_squared_to_initial.mean(axis=0),
              "w2_theory_low": wm.w2_squared_low, "w2_theory_high": wm.w2_squared_high}
    params = {"M": M, "mixing": mixing.to_spec(), "generations": G, "replicates": R, "theory_method": wm.method,
              "order": order}
    return _finish("mitigation_cell", rows, curves, params, rng, t0, None)


#: Moments behind a map cell's E sigma bracket (the full studies use the default, 8).
_CELL_ORDER = 6


# ----------------------------------------------------------------------------- known results
def known_results(
    M: int = 50,
    *,
    synthetic_ratio: float = 2.0,
    generations: int = 200,
    replicates: int = 4000,
    rng=None,
    show_progress: bool = False,
) -> StudyResult:
    """The field's known mitigation results, each against simulation (sigma0 = 1).

    * Dey & Donoho (2024): under accumulation :math:`E(\\mu_t-\\mu_0)^2/E(\\mu_1-\\mu_0)^2`
      has the exact finite-M limit of :func:`~collapse_theory.theory.gaussian.accumulate_limits`
      (both estimators; :math:`\\pi^2/6` as M grows); tested at generation ``G``
      against the exact finite-t value, the limit beside it;
    * Bertrand et al. (2024), augmentation with ``lam = synthetic_ratio``: the
      contraction :math:`\\lambda/(1+\\lambda)` of :math:`\\mu_t - \\bar x_{\\text{real}}`
      (regression slope over generations ``G/2..G``), the stationary
      :math:`\\operatorname{Var}(\\mu - \\bar x_{\\text{real}}) = \\lambda\\sigma^2/(M(1+2\\lambda))`
      (first order) and the exact chain's value, and the stability threshold
      of their theorem (a sufficient condition; the chain contracts beyond it);
    * He, Xu & Cheng (2025): the weighted real/synthetic mean's stationary error
      :math:`V(w)` at :math:`w^* = (\\sqrt5-1)/2` and two other weights, by a
      direct simulation of that estimator (``M`` real and ``M`` synthetic points a generation).

    Parameters
    ----------
    M : int
    synthetic_ratio : float (> 0)
    generations : int (>= 20)
    replicates : int
    rng : None, int, SeedSequence or Generator
    show_progress : bool

    Returns
    -------
    StudyResult
        Rows (quantity, simulated, CI, theory, p-value); ``curves`` holds the
        golden-ratio curve ``weight``, ``V_theory``, ``V_simulated``.

    Examples
    --------
    >>> import collapse_theory as ct
    >>> res = ct.studies.known_results(20, generations=40, replicates=300, rng=0)
    >>> len(res.rows) >= 8
    True
    """
    from .._rng import child, seed_sequence
    from ..chains.gaussian import GaussianChain
    from ..theory import gaussian as th

    t0 = time.perf_counter()
    M = check_int("M", M, min=2)
    lam = check_float("synthetic_ratio", synthetic_ratio, min=0.0, min_inclusive=False)
    G = check_int("generations", generations, min=20)
    R = check_int("replicates", replicates, min=10)
    ss = seed_sequence(rng)
    rows = []
    # Dey & Donoho: accumulation, both estimators
    for j, est in enumerate(("unbiased", "mle")):
        run = GaussianChain(0.0, 1.0, M, estimator=est, mixing=Mixing.accumulate()).simulate(
            G, R, rng=child(ss, 0, j), show_progress=show_progress)
        path = th.moment_recursion(G, M, mixing="accumulate", estimator=est)
        ratio_t = path.mean_squared_error[G] * M
        lim = th.accumulate_limits(M, estimator=est)
        x = M * run.mean[:, G] ** 2
        rows.append(make_row(f"accumulate ({est}): E(mu_G - mu0)^2 / E(mu_1 - mu0)^2, G = {G}", *mean_ci(x)[:3],
                             ratio_t, z_test(x, ratio_t)))
        rows.append(make_row(f"accumulate ({est}): its limit (Dey & Donoho; pi^2/6 = {np.pi**2 / 6:.4f} as M grows)",
                             np.mean(x), theory=lim["ratio"]))
    # Bertrand et al.: augmentation
    aug = Mixing.augment(lam)
    run = GaussianChain(0.0, 1.0, M, mixing=aug).simulate(G, R, rng=child(ss, 1), show_progress=show_progress)
    u = run.mean[:, 1:] - run.mean[:, 1, None]  # mu_t - real-sample mean (generation 1 is D_0's fit)
    half = u.shape[1] // 2
    a = th.augment_contraction(lam)
    num = (u[:, half + 1:] * u[:, half:-1]).mean(axis=1)
    den = (u[:, half:-1] ** 2).mean(axis=1)
    d = num - a * den  # mean 0 under the theory
    ahat = num.mean() / den.mean()
    se = d.std(ddof=1) / np.sqrt(R) / den.mean()
    rows.append(make_row(f"augment lam = {lam:g}: contraction of mu - real mean (Bertrand et al.)", ahat,
                         ahat - 1.96 * se, ahat + 1.96 * se, a, z_test(d, 0.0)))
    uG = u[:, -1] ** 2
    bert = th.augment_stationary_mean_variance(M, lam)
    _, e_inf = th.stationary_moments(M, mixing=aug)
    exact_u = e_inf - 1.0 / M  # E(mu - mu0)^2 = E(mu - xbar)^2 + Var(xbar), independent parts
    rows.append(make_row(f"augment: stationary Var(mu - real mean), exact chain, G = {G}", *mean_ci(uG)[:3], exact_u,
                         z_test(uG, exact_u)))
    rows.append(make_row("augment: lam sigma^2 / (M (1 + 2 lam)) (Bertrand et al., first order in 1/M)",
                         *mean_ci(uG)[:3], bert, z_test(uG, bert)))
    rows.append(make_row("augment: stability threshold lam < 1 (Bertrand et al.'s theorem as recalled, formula unverified; "
                         "sufficient only)",
                         float(ahat < 1), theory=th.augment_stability_threshold()))
    # He, Xu & Cheng: weighted mean with fresh real and synthetic samples (known variance)
    gen = np.random.default_rng(child(ss, 2))
    weights = np.array([0.3, th.golden_ratio_weight(), 0.9])
    Vsim = []
    for w in weights:
        mu = np.zeros(R)
        acc = []
        for t in range(G):
            real = gen.standard_normal(R) / np.sqrt(M)
            syn = mu + gen.standard_normal(R) / np.sqrt(M)
            mu = w * real + (1 - w) * syn
            if t >= G // 2:
                acc.append(mu**2)
        x = np.mean(acc, axis=0)  # each replicate's average over the stationary half (one value per replicate)
        V = th.weighted_mean_stationary_error(w, M)
        Vsim.append(x.mean())
        rows.append(make_row(f"weighted mean w = {w:.4f}: stationary E(mu - mu0)^2 (He, Xu & Cheng)", *mean_ci(x)[:3],
                             V, z_test(x, V)))
    curves = {"weight": np.linspace(0.05, 1.0, 96)}
    curves["V_theory"] = np.array([th.weighted_mean_stationary_error(w, M) for w in curves["weight"]])
    curves["V_weights"] = weights
    curves["V_simulated"] = np.array(Vsim)
    params = {"M": M, "synthetic_ratio": lam, "generations": G, "replicates": R}
    return _finish("known_results", rows, curves, params, rng, t0, None)
