"""Report section: accuracy of the W2^2 estimators as distributions collapse.

Model collapse drives variances towards zero, and every distance the report
shows is a Wasserstein-2 distance, so the estimators must stay right there.
The section shows the table of
:func:`collapse_theory.studies.wasserstein.w2_accuracy` (the three situations, ``bures``,
``closed_form`` and ``exact_ot``, and how each is computed exactly, are described there), with its
figure and caption.
"""

from __future__ import annotations

import numpy as np

from ...studies.wasserstein import POT_REGULARISER as _REG, VARIANCES, w2_accuracy
from .._section import Section

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
    df = w2_accuracy(VARIANCES, n=n, seed=seed)

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
