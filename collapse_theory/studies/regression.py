"""Study of the regression collapse chain: exact simulation against exact finite-sample theory.

:func:`regression_error` runs :class:`~collapse_theory.RegressionChain` and
puts its mean error per generation beside
:func:`collapse_theory.theory.regression.expected_error` (Gerstgrasser et al.
2024 for replace and accumulate, Dohmatob, Feng & Kempe 2024 for a fresh
design and the downstream fit, Dohmatob et al. 2025 for contamination), with
the limits (the pi^2/6 bound of accumulation, stationary values of fresh
data and augmentation).

Every parameter is a JSON-able scalar or string (a sweep calls
``ct.studies.regression_error(**cell, replicates=R, rng=seed)``; ``mixing``
is a spec string such as ``"fresh:0.2"`` or a :class:`~collapse_theory.Mixing`).

Statistical tests: z-tests of the simulated mean errors against the exact
expectations. The error of one OLS fit is a quadratic form in Gaussian noise
with an inverse-Wishart covariance (all moments finite for ``T > d + 5``), so
a mean over thousands of replicates is close to normal.
"""

from __future__ import annotations

import math
import time

import numpy as np

from .._provenance import provenance
from .._stats import mean_ci, z_test
from .._validate import check_float, check_int
from ..process import Mixing
from ._base import StudyResult, make_row
from .discrete import _checkpoints, _seed_of

__all__ = ["regression_error"]


def regression_error(
    dim: int = 10,
    sample_size: int = 100,
    generations: int = 12,
    *,
    mixing="replace",
    design: str = "fixed",
    noise: float = 1.0,
    ridge: float = 0.0,
    contamination: float = 0.0,
    shift: float = 1.0,
    downstream_size: int | None = None,
    downstream_ridge: float | None = None,
    given_design: bool = False,
    replicates: int = 2000,
    rng=None,
    checkpoints=None,
    method: str = "auto",
    show_progress: bool = False,
) -> StudyResult:
    """Mean ``||w_t - w*||^2_Sigma`` per generation, simulated and exact.

    Rows at a few generations: the mean error (z-tested against
    :func:`~collapse_theory.theory.regression.expected_error` wherever an
    exact value exists), the mean test error on fresh real data
    (``noise^2`` plus it) and, with ``design='fresh'``, the downstream fit's
    error (:func:`~collapse_theory.theory.regression.downstream_error`);
    then the long-run value: the pi^2/6 limit under accumulation, the
    stationary error of fresh data or augmentation (simulated: the last
    generation; not tested), or for contamination the strong-collapse floor
    ``p^2 ||w_s - w*||^2`` as ``T -> inf``.

    Parameters
    ----------
    dim, sample_size : int
        ``d`` and ``T`` (``T >= d + 2`` for OLS).
    generations : int
        ``G >= 1``.
    mixing : str or Mixing
        'replace', 'accumulate', 'accumulate-subsample', 'fresh:G', 'augment:R'.
    design : {'fixed', 'fresh'}
    noise : float
        Label-noise standard deviation.
    ridge : float
        Per-sample ridge penalty (0: OLS).
    contamination : float
        Share ``p`` of every dataset's rows labelled by the wrong model
        ``w_s = (1 - shift) w*`` (``||w_s - w*|| = shift``, ``w*`` of unit norm).
    shift : float
        ``||w_s - w*||``.
    downstream_size : int, optional
        Rows of the downstream fit (``design='fresh'``; default ``T``).
    downstream_ridge : float, optional
        Penalty of the downstream fit (default ``ridge``); exact theory for 0
        (a ridge downstream fit on a random design has no finite-sample closed form).
    given_design : bool
        Draw one design ``X`` from ``rng`` and use it for every replicate;
        the theory is then the exact expectation given ``X`` (covers ridge,
        fresh data and augmentation with a fixed design).
    replicates : int
    rng : None, int, SeedSequence or Generator
    checkpoints : sequence of int, optional
        Generations with a row (default ``1, G/10, G/2, G``).
    method : {'auto', 'exact', 'sample'}
    show_progress : bool

    Returns
    -------
    StudyResult
        ``curves``: generation, error_{mean,low,high}, error_theory,
        test_error_mean, downstream_{mean,low,high,theory} (fresh design),
        and the scalar ``limit`` with ``limit_kind``.

    Examples
    --------
    >>> import collapse_theory as ct
    >>> st = ct.studies.regression_error(generations=4, replicates=400, rng=0, checkpoints=[2, 4])
    >>> st.table()["quantity"].iloc[0]
    'E ||w - w*||^2, generation 2'
    """
    from ..chains.regression import RegressionChain
    from ..theory import regression as th

    t0 = time.perf_counter()
    d = check_int("dim", dim, min=1)
    T = check_int("sample_size", sample_size, min=1)
    G = check_int("generations", generations, min=1)
    R = check_int("replicates", replicates, min=2)
    mix = Mixing.from_spec(mixing)
    p = check_float("contamination", contamination, min=0.0, max=1.0, max_inclusive=False)
    shift = check_float("shift", shift)
    if not isinstance(given_design, (bool, np.bool_)):
        raise TypeError(f"given_design must be a bool, got {given_design!r}")
    w_star = np.full(d, 1.0 / math.sqrt(d))
    cont = (p, (1.0 - shift) * w_star) if p > 0 else None
    from .._rng import child, seed_sequence

    ss = seed_sequence(rng)
    X = None
    if given_design:
        X = np.random.default_rng(child(ss, 1)).standard_normal((T, d))
    chain = RegressionChain(d, T, noise=noise, ridge=ridge, design=design, mixing=mix, w_star=w_star, contamination=cont,
                            design_matrix=X, downstream_size=downstream_size, downstream_ridge=downstream_ridge)
    run = chain.simulate(G, R, rng=child(ss, 0), method=method, show_progress=show_progress)
    common = {"noise": chain.noise, "mixing": mix, "w_star": w_star, "contamination": cont}
    gen = np.arange(G + 1)
    note = ""
    try:
        theory = np.asarray(th.expected_error(gen, T, d, design=design, ridge=chain.ridge, design_matrix=X, **common))
    except ValueError as exc:
        # generation 1 is one fit on real data whatever the workflow: its value may still exist
        theory = np.full(G + 1, np.nan)
        note = str(exc)
        try:
            theory[:2] = th.expected_error(np.arange(2), T, d, design=design, ridge=chain.ridge, design_matrix=X,
                                           **(common | {"mixing": Mixing.replace()}))
        except ValueError:
            pass
    pts = _checkpoints(G, checkpoints)
    rows = []
    for t in pts:
        x = run.error[:, t]
        m, lo, hi, _ = mean_ci(x)
        th_t = float(theory[t])
        rows.append(make_row(f"E ||w - w*||^2, generation {t}", m, lo, hi, th_t, z_test(x, th_t) if np.isfinite(th_t) else np.nan))
    for t in pts:
        x = run.test_error[:, t]
        m, lo, hi, _ = mean_ci(x)
        th_t = chain.noise**2 + float(theory[t])
        rows.append(make_row(f"E test error, generation {t}", m, lo, hi, th_t, z_test(x, th_t) if np.isfinite(th_t) else np.nan))
    curves = {"generation": gen}
    band = mean_ci(run.error)
    curves.update(error_mean=band[0], error_low=band[1], error_high=band[2], error_theory=theory,
                  test_error_mean=run.test_error.mean(axis=0))
    if run.downstream_error is not None:
        try:
            if chain.ridge != 0:
                raise ValueError("ridge chain")
            dth = np.asarray(th.downstream_error(gen, T, d, downstream_size=downstream_size,
                                                 downstream_ridge=chain.downstream_ridge, **common))
        except ValueError:
            dth = np.full(G + 1, np.nan)
        for t in [0] + pts:
            x = run.downstream_error[:, t]
            m, lo, hi, _ = mean_ci(x)
            rows.append(make_row(f"E downstream error, generation {t}", m, lo, hi, dth[t],
                                 z_test(x, dth[t]) if np.isfinite(dth[t]) else np.nan))
        b = mean_ci(run.downstream_error)
        curves.update(downstream_mean=b[0], downstream_low=b[1], downstream_high=b[2], downstream_theory=dth)
    limit, kind = _limit(th, mix, design, chain, X, common, T, d, p, shift)
    if kind:
        rows.append(make_row(f"{kind} (simulated: generation {G})", float(np.mean(run.error[:, G])), theory=limit))
    curves["limit"] = np.asarray(limit)
    params = {"dim": d, "sample_size": T, "generations": G, "mixing": mix.to_spec(), "design": design,
              "noise": chain.noise, "ridge": chain.ridge, "contamination": p, "shift": shift,
              "downstream_size": chain.downstream_size, "downstream_ridge": chain.downstream_ridge, "given_design": bool(given_design), "replicates": R,
              "method": run.method, "limit_kind": kind, "theory_note": note}
    return StudyResult(
        name="regression_error", rows=rows, curves=curves, params=params,
        provenance=provenance(params, seed=_seed_of(rng), wall_time_s=time.perf_counter() - t0), plot=_plot,
    )


def _limit(th, mix, design, chain, X, common, T, d, p, shift):
    """The long-run value the figure marks, and its name ('' if none)."""
    wf = mix.workflow
    try:
        if p > 0 and wf == "replace" and design == "fixed" and X is None:
            return th.strong_collapse_floor(p, common["contamination"][1], w_star=common["w_star"]), "strong-collapse floor p^2 ||w_s - w*||^2 (T -> inf)"
        if wf == "accumulate" and mix.real == 0 and p == 0 and chain.ridge == 0:
            return th.accumulate_limit(T, d, noise=chain.noise, design_matrix=X), "accumulate limit (pi^2/6) sigma^2 d/(T-d-1)"
        if wf in ("fresh", "augment") or (wf == "replace" and (p > 0 or chain.ridge > 0)):
            val = th.stationary_error(T, d, design=design, ridge=chain.ridge, design_matrix=X, **common)
            return val, "stationary error"
    except ValueError:
        pass
    return math.nan, ""


def _plot(res):
    from ..plotting import THEORY_COLOR, band, new_figure

    c = res.curves
    pr = res.params
    has_down = "downstream_mean" in c
    fig, axes = new_figure(1, 2 if has_down else 1)
    ax = axes[0] if has_down else axes
    g = c["generation"]
    band(ax, g, c["error_mean"], c["error_low"], c["error_high"], label="simulated mean (95% CI)")
    if np.any(np.isfinite(c["error_theory"])):
        ax.plot(g, c["error_theory"], color=THEORY_COLOR, ls="--", label="exact expectation")
    lim = float(c["limit"])
    if np.isfinite(lim) and pr["limit_kind"]:
        ax.axhline(lim, color="k", ls=":", lw=1, label=pr["limit_kind"])
    ax.set(xlabel="generation t", ylabel="E ||w_t - w*||^2_Sigma",
           title=f"{pr['mixing']}, {pr['design']} design, d = {pr['dim']}, T = {pr['sample_size']}")
    ax.legend(fontsize=7)
    if has_down:
        a2 = axes[1]
        band(a2, g, c["downstream_mean"], c["downstream_low"], c["downstream_high"], label="simulated downstream fit")
        if np.any(np.isfinite(c["downstream_theory"])):
            a2.plot(g, c["downstream_theory"], color=THEORY_COLOR, ls="--", label="exact (Dohmatob et al. 2024)")
        a2.set(xlabel="generation t of the labelling model", ylabel="downstream excess test error",
               title=f"downstream fit on T_d = {pr['downstream_size']} fresh rows")
        a2.legend(fontsize=7)
    return fig
