"""Report section: every theory function against simulation (``collapse-theory verify``).

Runs :func:`collapse_theory.verify.run` (the full level in the full report, the quick level with --quick) and shows its
per-check summary, the full table of p-values (Holm-adjusted across the whole
run) and the QQ plots: p-values against the uniform law, and simulated
against theoretical quantiles where a whole distribution is known.
"""

from __future__ import annotations

from .._section import Section


def build(*, quick: bool, seed: int) -> Section:
    """The verify section: the full level in the full report (about 40 s on two idle cores), the quick level with ``quick``."""
    from ... import verify

    res = verify.run("quick" if quick else "full", rng=seed, show_progress=False)
    n_ok = sum(1 for s in res.status.values() if s["status"] == "ok")
    caption = (
        "The paper's results rest on closed forms for the collapse chains (heterozygosity and support loss, "
        "absorption and fixation in the discrete chain; the variance, standard deviation and W2 of the Gaussian "
        "chain of Theorem 3.1). Each is checked here against an independent simulation over a grid of parameters, "
        f"as msprime's verification does: {len(res.outcomes)} two-sided tests from {n_ok} checks, "
        f"{res.correction.capitalize()}-corrected across all of them at family-wise level {res.alpha:g}. "
        + ("All pass." if res.passed else f"Failing: {', '.join(res.failed)}.")
        + (f" Skipped (module not available): {', '.join(res.skipped)}." if res.skipped else "")
        + " If the theory holds, the raw p-values are uniform: the QQ plot shows them against the uniform law."
    )
    figures = {"pvalues": res.pvalue_figure()}
    captions = {
        "pvalues": (
            f"Calibration of the whole run: the {len(res.outcomes)} p-values of the verify run (level {res.level}, the "
            "report's setting in quick and full mode alike) as -log10 p, sorted, against the values expected of as many "
            "uniform p-values (log scale on both axes through -log10), with the 95% band of uniform order statistics "
            "(grey) and the line alpha/m (dashed: a smallest p-value above it fails Holm's adjustment at family-wise level "
            "alpha). They follow the diagonal when every theory function is right "
            "and every test is calibrated. Look for points inside the band and none above the dashed line: points rising "
            "above the band at the right would mean a closed form disagrees with simulation."
        ),
    }
    if any(o.qq is not None for _, o in res.outcomes):
        figures["distributions"] = res.qq_figure()
        captions["distributions"] = (
            "Whole distributions, where theory gives one: each panel plots simulated quantiles against the exact "
            "theoretical quantiles of one check (its parameters in the panel title), e.g. absorption times of the "
            "discrete chain or log-variances of the Gaussian chain. Look for the points on the diagonal over the whole "
            "range, tails included; each panel's test is a row of the tests table."
        )
    return Section(
        title="Verification: every theory function against simulation",
        caption=caption,
        command=f"collapse-theory verify --level {res.level} --seed {seed}",
        captions=captions,
        settings=f"{res.level} verify level",
        figures=figures,
        tables={"checks": res.summary(), "tests": res.table()},
        data={
            "level": res.level,
            "alpha": res.alpha,
            "correction": res.correction,
            "passed": res.passed,
            "failed": res.failed,
            "skipped": res.skipped,
            "n_tests": len(res.outcomes),
            "wall_time_s": res.wall_time_s,
        },
    )
