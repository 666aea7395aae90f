"""Report section: accuracy of the W2^2 estimators as distributions collapse.

Model collapse drives variances towards zero, and every distance the report
shows is a Wasserstein-2 distance, so the estimators must stay right there.
For collapsed variances v = 1e-2 ... 1e-10, three situations the runs meet
are computed three ways: with :mod:`collapse_theory.wasserstein`, with POT
called with its defaults, and exactly.

* ``bures``: moment-matched (Bures) W2^2 between two collapsed generations,
  samples whitened so their covariances are exactly v I and 4 v I
  (d = 2): exact d v. POT: ``ot.gaussian.empirical_bures_wasserstein_distance``
  (adds ``reg=1e-6`` to each covariance). Ours: the Gelbrich bound of
  :func:`~collapse_theory.wasserstein.w2_squared_to_gaussian`, which is this
  Bures distance.
* ``closed_form``: Gaussians collapsed in one direction only (eigenvalues
  1, 2, v against 1, 2, 4v, in a rotated basis): exact by the trace formula in
  60-digit arithmetic for the very floats given. POT:
  ``ot.gaussian.bures_wasserstein_distance`` (the trace formula in float64).
* ``exact_ot``: samples collapsed around a mean far from the origin
  (n points each, d = 2): exact is v times the optimum of the same problem at
  v = 1 (every cost is v |z_i - 2 z'_j|^2). POT: ``ot.emd2`` on ``ot.dist`` (``|x|^2 + |y|^2 - 2 x.y``).

:func:`accuracy_table` is also what the benchmark prints.
"""

from __future__ import annotations

import warnings

import numpy as np

from .._section import Section

VARIANCES = tuple(10.0 ** -k for k in range(2, 11))
_REG = 1e-6  # POT's default regulariser in empirical_bures_wasserstein_distance


def _whiten(z: np.ndarray) -> np.ndarray:
    z = z - z.mean(axis=0)
    L = np.linalg.cholesky(z.T @ z / len(z))
    return z @ np.linalg.inv(L).T


def _rotation(d: int, rng) -> np.ndarray:
    Q, R = np.linalg.qr(rng.standard_normal((d, d)))
    return Q * np.sign(np.diag(R))


def _bures_mp(C1: np.ndarray, C2: np.ndarray, dps: int = 60) -> float:
    """tr C1 + tr C2 - 2 tr (C2^1/2 C1 C2^1/2)^1/2 in ``dps``-digit arithmetic (exact for these floats)."""
    import mpmath

    def sqrt_psd(A):
        ev, V = mpmath.eigsy((A + A.T) / 2)
        return V * mpmath.diag([mpmath.sqrt(max(e, 0)) for e in ev]) * V.T

    with mpmath.workdps(dps):
        A = mpmath.matrix(C1.tolist())
        B = mpmath.matrix(C2.tolist())
        r = sqrt_psd(B)
        cross = sqrt_psd(r * A * r)
        return float(sum(A[i, i] + B[i, i] - 2 * cross[i, i] for i in range(A.rows)))


def accuracy_table(variances=VARIANCES, *, n: int = 200, seed: int = 0):
    """Our value, POT-with-defaults and the exact value of W2^2 at collapsed variances.

    Parameters
    ----------
    variances : sequence of float
        Collapsed variances v.
    n : int
        Sample size of each side in the sample-based scenarios.
    seed : int

    Returns
    -------
    pandas.DataFrame
        Columns: scenario, variance, exact, ours, pot_default, ours_rel_error,
        pot_rel_error, pot_over_exact (NaN where POT returns NaN).
    """
    import ot
    import pandas as pd

    from ... import wasserstein as W

    rng = np.random.default_rng(seed)
    d = 2
    x_white, y_white = _whiten(rng.standard_normal((n, d))), _whiten(rng.standard_normal((n, d)))
    zx, zy = rng.standard_normal((n, d)), rng.standard_normal((n, d))
    far = np.array([5.0, -3.0])
    R = _rotation(3, rng)
    unit_cost = ((zx[:, None, :] - 2.0 * zy[None, :, :]) ** 2).sum(-1)  # O(1) entries: no cancellation
    unit_ot = float(ot.emd2(np.full(n, 1 / n), np.full(n, 1 / n), unit_cost, numItermax=10**7))
    rows = []
    for v in variances:
        # bures: covariances exactly v I and 4v I
        x, y = np.sqrt(v) * x_white, np.sqrt(4 * v) * y_white
        exact = d * v
        ours = W.w2_squared_to_gaussian(x, np.zeros(d), 4 * v * np.eye(d), method="gelbrich")
        pot = float(ot.gaussian.empirical_bures_wasserstein_distance(x, y)) ** 2  # POT returns W
        rows.append(("bures", v, exact, ours, pot))
        # closed form, one collapsed direction in a rotated basis
        C1 = R @ np.diag([1.0, 2.0, v]) @ R.T
        C2 = R @ np.diag([1.0, 2.0, 4 * v]) @ R.T
        C1, C2 = 0.5 * (C1 + C1.T), 0.5 * (C2 + C2.T)
        exact = _bures_mp(C1, C2)
        ours = W.w2_squared_gaussian(np.zeros(3), C1, np.zeros(3), C2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # POT's sqrt of a negative number
            pot = float(ot.gaussian.bures_wasserstein_distance(np.zeros(3), np.zeros(3), C1, C2)) ** 2
        rows.append(("closed_form", v, exact, ours, pot))
        # exact OT, samples collapsed far from the origin
        x, y = far + np.sqrt(v) * zx, far + np.sqrt(4 * v) * zy
        exact = v * unit_ot  # every cost is v |zx_i - 2 zy_j|^2: the optimum scales exactly with v
        ours = W.w2_squared_empirical(x, y)
        pot = float(ot.emd2([], [], ot.dist(x, y)))
        rows.append(("exact_ot", v, exact, ours, pot))
    df = pd.DataFrame(rows, columns=["scenario", "variance", "exact", "ours", "pot_default"])
    df["ours_rel_error"] = (df["ours"] - df["exact"]).abs() / df["exact"]
    df["pot_rel_error"] = (df["pot_default"] - df["exact"]).abs() / df["exact"]
    df["pot_over_exact"] = df["pot_default"] / df["exact"]
    return df


def _figure(df):
    from ...plotting import SIM_COLOR, THEORY_COLOR, new_figure

    titles = {
        "bures": "moment-matched (Bures), v I vs 4v I",
        "closed_form": "closed form, one collapsed direction",
        "exact_ot": "exact OT, samples far from 0",
    }
    fig, axes = new_figure(1, 3, width=4.2, height=3.4)
    floor, ceiling = 1e-17, 1e1
    for ax, (key, title) in zip(axes, titles.items()):
        sub = df[df["scenario"] == key]
        v = sub["variance"].to_numpy()
        for col, color, label in (("ours_rel_error", SIM_COLOR, "collapse_theory"), ("pot_rel_error", THEORY_COLOR, "POT defaults")):
            err = sub[col].to_numpy(dtype=float)
            nan = ~np.isfinite(err)
            shown = np.clip(np.where(nan, ceiling, err), floor, ceiling)
            ax.plot(v[~nan], shown[~nan], "o-", color=color, label=label)
            if nan.any():
                ax.plot(v[nan], shown[nan], "x", color=color, markersize=9)
                for vv in v[nan]:
                    ax.annotate("NaN", (vv, ceiling), textcoords="offset points", xytext=(-8, -14), fontsize=7, color=color)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(floor / 2, ceiling * 3)
        ax.invert_xaxis()
        ax.set_xlabel("collapsed variance v")
        ax.set_title(title, fontsize=9)
    axes[0].set_ylabel("|estimate - exact| / exact")
    axes[0].legend(fontsize=7, loc="upper left")
    return fig


def _fmt_factor(x: float) -> str:
    if not np.isfinite(x):
        return "NaN"
    if x == 0:
        return "0"
    return f"{1 / x:.3g}x too small" if x < 1 else f"{x:.3g}x too large"


def build(*, quick: bool, seed: int) -> Section:
    """The W2 accuracy section (about 1 s; ``quick`` uses 100 samples instead of 200)."""
    n = 100 if quick else 200
    df = accuracy_table(VARIANCES, n=n, seed=seed)

    def at(key, v, col):
        sub = df[(df["scenario"] == key) & np.isclose(df["variance"], v, rtol=1e-9, atol=0.0)]
        return float(sub[col].iloc[0])

    cf = df[df["scenario"] == "closed_form"]
    broken = cf[~np.isfinite(cf["pot_default"]) | (cf["pot_rel_error"] > 0.5)]
    first_broken = f"{broken['variance'].max():.0e}" if len(broken) else "none"
    ours_max = df.groupby("scenario")["ours_rel_error"].max()
    caption = (
        "Collapse drives variances to zero, so the W2 distances every section reports must stay exact there. "
        "Three situations at collapsed variance v from 1e-2 to 1e-10, each computed with collapse_theory, with POT "
        "called with its defaults, and exactly. (1) Moment-matched (Bures) W2^2 between two collapsed generations "
        "(covariances v I and 4v I, exact 2v): POT's empirical_bures_wasserstein_distance adds reg=1e-6 to both "
        f"covariances and is {_fmt_factor(at('bures', 1e-6, 'pot_over_exact'))} at v=1e-6, "
        f"{_fmt_factor(at('bures', 1e-8, 'pot_over_exact'))} at v=1e-8 and "
        f"{_fmt_factor(at('bures', 1e-10, 'pot_over_exact'))} at v=1e-10 (the factor grows like 1e-6/v). "
        "(2) Closed form for Gaussians collapsed in one direction only (eigenvalues 1, 2, v vs 1, 2, 4v, rotated; "
        "exact = 60-digit trace formula for the same floats): POT's float64 trace formula cancels to zero or to "
        f"the square root of a negative number (NaN) from v = {first_broken} down; ours, the residual norm at the "
        f"optimal rotation, stays within {ours_max['closed_form']:.1e} relative, of the order of eps |C| / v, the "
        "uncertainty that rounding the rotated matrices to float64 already puts on the collapsed eigenvalue "
        "(square-root factors avoid even that: w2_squared_gaussian_factors). "
        "(3) Exact OT between samples collapsed around (5, -3): POT's cost matrix |x|^2 + |y|^2 - 2x.y loses "
        f"{at('exact_ot', 1e-10, 'pot_rel_error'):.1e} relative at v=1e-10; ours (centred differences) "
        f"{ours_max['exact_ot']:.1e}. Moment-matched: ours within {ours_max['bures']:.1e} relative throughout."
    )
    captions = {
        "accuracy": (
            f"Relative error |estimate - exact| / exact of W2^2 (log scale) against the collapsed variance v (log scale, "
            f"decreasing to the right: further into collapse), for collapse_theory (blue) and POT called with its defaults "
            f"(red); a cross marked NaN is a NaN result. Panels: moment-matched (Bures) W2^2 between samples with "
            f"covariances v I and 4v I (d = 2, {n} points each); the closed-form trace formula for Gaussians collapsed in "
            "one direction only (d = 3, rotated); exact optimal transport between samples collapsed around (5, -3). "
            "Look for the blue points staying near machine precision at every v while the red ones grow like 1e-6/v "
            "(POT's regulariser), cancel to NaN, or lose digits to |x|^2 + |y|^2 - 2x.y."
        ),
    }
    return Section(
        title="Wasserstein-2 estimators in the collapsed regime",
        caption=caption,
        command="collapse-theory reproduce --only wasserstein --force wasserstein" + (" --quick" if quick else "") + f" --seed {seed}",
        captions=captions,
        notes={"accuracy": {
            "pot_default": {"nan": "NaN: POT's float64 trace formula takes the square root of a negative number"},
            "pot_rel_error": {"nan": "NaN: POT returned NaN"},
            "pot_over_exact": {"nan": "NaN: POT returned NaN"},
        }},
        figures={"accuracy": _figure(df)},
        tables={"accuracy": df},
        data={"n": n, "seed": seed, "variances": list(VARIANCES), "pot_regulariser": _REG, "rows": df.to_dict(orient="records")},
    )
