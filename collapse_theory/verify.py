"""Every theory function checked against simulation: ``collapse-theory verify``.

This is the toolkit's counterpart of msprime's ``verification.py``: each
closed form in :mod:`collapse_theory.theory` is compared with the chains of
:mod:`collapse_theory.chains` over a grid of parameters, and each comparison
gives a two-sided p-value for "simulation = theory". Means are tested with a
z-test (CLT, sample variance), probabilities with an exact binomial test,
whole distributions with a Kolmogorov–Smirnov test against the known law.

The p-values of one run are corrected together for multiple testing (Holm's
step-down method by default, which controls the family-wise error rate as
Bonferroni does but rejects at least as often), and the run passes at level
``alpha`` when no adjusted p-value falls below it. With a correct toolkit the
run fails with probability at most ``alpha``; each check's comment states
the size of error it is meant to detect.

A check is a function ``(level, rng) -> list of Outcome`` registered with
:func:`register`; ``level`` is ``"quick"`` (seconds, used by the report and
the tests) or ``"full"`` (a larger grid and more replicates). Checks whose
modules are not importable are reported as skipped, not failed.

References
----------
Shumailov et al., Nature 631 (2024), and the formulas in
``collapse_theory.theory`` (Wright–Fisher: Kimura & Ohta 1969, Feller 1951;
Gaussian chain: Bertrand et al. 2024). Holm, S. (1979) "A simple sequentially
rejective multiple test procedure", Scand. J. Statist. 6, 65–70.
"""

from __future__ import annotations

import importlib
import math
import time
import traceback
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from . import _rng
from ._validate import check_choice, check_float, check_names

__all__ = [
    "CHECKS",
    "Check",
    "Outcome",
    "VerifyResult",
    "register",
    "run",
    "holm",
    "adjust",
    "LEVELS",
    "CORRECTIONS",
]

#: Sizes of a verification run.
LEVELS = ("quick", "full")
#: Multiple-testing corrections across all the p-values of a run.
CORRECTIONS = ("holm", "bonferroni")
#: Number of quantiles kept for a QQ plot.
_QQ_POINTS = 99


@dataclass(frozen=True)
class Outcome:
    """One statistical comparison of simulation with theory.

    Attributes
    ----------
    quantity : str
        What was compared (e.g. ``"E[H_t]"``).
    params : dict
        The grid point (JSON-able scalars).
    p_value : float
        Two-sided p-value for "simulation = theory".
    simulated, theory : float
        The simulated estimate and the predicted value (NaN for a
        distribution test).
    test : str
        ``"z"``, ``"binomial"``, ``"ks"``, ``"chi2"`` or ``"bound"`` (a
        sample without spread, see :func:`_z_outcome`).
    replicates : int
        Number of simulated replicates behind the estimate.
    qq : tuple of two ndarray, shape (99,), optional
        Simulated and theoretical quantiles, for a distribution test.
    """

    quantity: str
    params: dict
    p_value: float
    simulated: float = math.nan
    theory: float = math.nan
    test: str = "z"
    replicates: int = 0
    qq: tuple | None = None


@dataclass(frozen=True)
class Check:
    """A registered comparison of a theory function with simulation."""

    name: str
    func: Callable
    description: str
    source: str
    requires: tuple = ()


#: name -> Check, in registration (and report) order.
CHECKS: dict[str, Check] = {}


def register(name: str, *, description: str, source: str = "", requires: tuple = ()):
    """Decorator that adds a check ``func(level, rng) -> list of Outcome`` to :data:`CHECKS`.

    ``requires`` lists modules the check imports; if one is missing the
    check is skipped with that reason.
    """

    def deco(func):
        CHECKS[name] = Check(name, func, description, source, tuple(requires))
        return func

    return deco


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values, shape as ``pvalues``, capped at 1.

    .. math:: \\tilde p_{(i)} = \\max_{j \\le i} \\min\\{1, (m - j + 1) p_{(j)}\\}

    Rejecting where :math:`\\tilde p < \\alpha` controls the family-wise error
    rate at :math:`\\alpha` under any dependence (Holm 1979).
    """
    p = np.asarray(pvalues, dtype=np.float64)
    flat = p.ravel()
    m = flat.size
    if m == 0:
        return p.copy()
    order = np.argsort(flat, kind="stable")
    stepped = np.minimum((m - np.arange(m)) * flat[order], 1.0)
    adj = np.empty(m)
    adj[order] = np.maximum.accumulate(stepped)
    return adj.reshape(p.shape)


def adjust(pvalues, correction: str = "holm") -> np.ndarray:
    """Family-wise adjusted p-values by ``correction`` (``"holm"`` or ``"bonferroni"``)."""
    from ._stats import bonferroni

    correction = check_choice("correction", correction, CORRECTIONS)
    return holm(pvalues) if correction == "holm" else bonferroni(pvalues)


# ---------------------------------------------------------------- outcomes


def _z_outcome(quantity, params, samples, expected, *, bounds=None, qq=None) -> Outcome:
    r"""z-test of the mean of ``samples`` against ``expected``.

    A sample without spread (e.g. every chain already absorbed, so every
    heterozygosity is 0) has no standard error. For a statistic known to lie
    in ``bounds = (lo, hi)`` the test is then exact instead: if every one of
    ``R`` values equals ``v``, then :math:`|E X - v| \le (hi - lo) P(X \ne v)`, so
    under the theory :math:`P(\text{all } R \text{ equal } v) \le (1 - |\theta - v|/(hi - lo))^R`,
    which is the p-value (test ``"bound"``).
    """
    from ._stats import z_test

    x = np.asarray(samples, dtype=np.float64)
    expected = float(expected)
    if bounds is not None and x.size and np.all(x == x[0]):
        lo, hi = bounds
        p = max(0.0, 1.0 - abs(expected - x[0]) / (hi - lo)) ** x.size
        return Outcome(quantity, dict(params), float(p), float(x[0]), expected, "bound", x.size, qq)
    return Outcome(quantity, dict(params), float(z_test(x, expected)), float(x.mean()), expected, "z", x.size, qq)


def _binomial_outcome(quantity, params, successes, n, p) -> Outcome:
    from ._stats import proportion_test

    return Outcome(quantity, dict(params), proportion_test(int(successes), int(n), float(p)), successes / n, float(p), "binomial", int(n))


def _ks_outcome(quantity, params, samples, cdf, ppf) -> Outcome:
    """KS test of ``samples`` against a continuous law, with its QQ data."""
    from scipy import stats

    x = np.sort(np.ravel(np.asarray(samples, dtype=np.float64)))
    p = float(stats.kstest(x, cdf).pvalue)
    probs = (np.arange(1, _QQ_POINTS + 1)) / (_QQ_POINTS + 1)
    qq = (np.quantile(x, probs), np.asarray(ppf(probs), dtype=np.float64))
    return Outcome(quantity, dict(params), p, math.nan, math.nan, "ks", x.size, qq)


def _ks2_outcome(quantity, params, samples, reference) -> Outcome:
    """Two-sample KS test of a simulation against an independent reference sample."""
    from ._stats import ks_test

    x = np.ravel(np.asarray(samples, dtype=np.float64))
    y = np.ravel(np.asarray(reference, dtype=np.float64))
    probs = (np.arange(1, _QQ_POINTS + 1)) / (_QQ_POINTS + 1)
    qq = (np.quantile(x, probs), np.quantile(y, probs))
    return Outcome(quantity, dict(params), ks_test(x, y), math.nan, math.nan, "ks", x.size, qq)


def _sizes(level, quick, full):
    return quick if level == "quick" else full


# ---------------------------------------------------------------- result


@dataclass
class VerifyResult:
    """The outcome of :func:`run`.

    Attributes
    ----------
    level : str
    alpha : float
        Family-wise significance level.
    correction : str
        ``"holm"`` or ``"bonferroni"``, applied across every p-value of the run.
    outcomes : list of (check name, Outcome)
    status : dict of str to dict
        Per check: ``{"status": "ok" | "skipped" | "error", "reason": str,
        "wall_time_s": float, "description": str, "source": str}``.
    provenance : dict
    wall_time_s : float
    """

    level: str
    alpha: float
    correction: str
    outcomes: list = field(default_factory=list)
    status: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)
    wall_time_s: float = 0.0

    @property
    def p_adjusted(self) -> np.ndarray:
        """Adjusted p-values, shape (number of outcomes,)."""
        return adjust([o.p_value for _, o in self.outcomes], self.correction)

    @property
    def errors(self) -> list:
        """Checks that raised instead of producing p-values."""
        return [k for k, s in self.status.items() if s["status"] == "error"]

    @property
    def skipped(self) -> list:
        return [k for k, s in self.status.items() if s["status"] == "skipped"]

    @property
    def failed(self) -> list:
        """Names of checks with an adjusted p-value below ``alpha``, then checks that errored."""
        adj = self.p_adjusted
        bad = []
        for (name, _), a in zip(self.outcomes, adj):
            if not a >= self.alpha and name not in bad:  # NaN counts as a failure
                bad.append(name)
        return bad + [k for k in self.errors if k not in bad]

    @property
    def passed(self) -> bool:
        """True when no check failed at ``alpha`` and none errored."""
        return not self.failed

    def table(self):
        """pandas DataFrame, one row per p-value.

        Columns: check, quantity, params, test, replicates, simulated, theory,
        p_value, p_adjusted, passed.
        """
        import pandas as pd

        adj = self.p_adjusted
        rows = [
            {
                "check": name,
                "quantity": o.quantity,
                "params": _params_text(o.params),
                "test": o.test,
                "replicates": o.replicates,
                "simulated": o.simulated,
                "theory": o.theory,
                "p_value": o.p_value,
                "p_adjusted": float(a),
                "passed": bool(a >= self.alpha),
            }
            for (name, o), a in zip(self.outcomes, adj)
        ]
        cols = ["check", "quantity", "params", "test", "replicates", "simulated", "theory", "p_value", "p_adjusted", "passed"]
        return pd.DataFrame(rows, columns=cols)

    def summary(self):
        """pandas DataFrame, one row per check: status, number of tests, smallest adjusted p-value."""
        import pandas as pd

        adj = self.p_adjusted
        rows = []
        for name, st in self.status.items():
            mine = [a for (n, _), a in zip(self.outcomes, adj) if n == name]
            raw = [o.p_value for n, o in self.outcomes if n == name]
            if st["status"] == "ok":
                verdict = "pass" if all(a >= self.alpha for a in mine) else "FAIL"
            else:
                verdict = st["status"]
            rows.append(
                {
                    "check": name,
                    "status": verdict,
                    "tests": len(mine),
                    "min_p_value": min(raw) if raw else math.nan,
                    "min_p_adjusted": min(mine) if mine else math.nan,
                    "wall_time_s": st.get("wall_time_s", math.nan),
                    "note": st.get("reason", "") or st.get("description", ""),
                }
            )
        return pd.DataFrame(rows, columns=["check", "status", "tests", "min_p_value", "min_p_adjusted", "wall_time_s", "note"])

    def to_dict(self) -> dict:
        """JSON-able record of the run (what :meth:`save` writes to ``verify.json``)."""
        from ._provenance import to_jsonable

        adj = self.p_adjusted
        return to_jsonable(
            {
                "level": self.level,
                "alpha": self.alpha,
                "correction": self.correction,
                "passed": self.passed,
                "n_tests": len(self.outcomes),
                "failed": self.failed,
                "skipped": self.skipped,
                "errors": self.errors,
                "checks": self.status,
                "results": [
                    {
                        "check": name,
                        "quantity": o.quantity,
                        "params": o.params,
                        "test": o.test,
                        "replicates": o.replicates,
                        "simulated": o.simulated,
                        "theory": o.theory,
                        "p_value": o.p_value,
                        "p_adjusted": float(a),
                        "passed": bool(a >= self.alpha),
                    }
                    for (name, o), a in zip(self.outcomes, adj)
                ],
                "qq": [
                    {"check": name, "quantity": o.quantity, "params": o.params, "simulated": o.qq[0], "theoretical": o.qq[1]}
                    for name, o in self.outcomes
                    if o.qq is not None
                ],
                "wall_time_s": self.wall_time_s,
                "provenance": self.provenance,
            }
        )

    def pvalue_figure(self):
        """QQ plot of the raw p-values against the uniform law (what they follow if theory holds).

        Plotted as :math:`-\\log_{10}` of the ordered p-values against their
        expected values, with a pointwise 95% band from the Beta order
        statistics and the line below which a p-value fails after correction.
        """
        from scipy import stats

        from .plotting import SIM_COLOR, THEORY_COLOR, new_figure

        fig, ax = new_figure(1, 1, width=5.0, height=4.2)
        p = np.sort(np.array([o.p_value for _, o in self.outcomes], dtype=np.float64))
        m = p.size
        if m == 0:
            ax.text(0.5, 0.5, "no p-values", ha="center", va="center", transform=ax.transAxes)
            return fig
        i = np.arange(1, m + 1)
        expected = -np.log10(i / (m + 1))
        lo = -np.log10(stats.beta.ppf(0.975, i, m - i + 1))
        hi = -np.log10(stats.beta.ppf(0.025, i, m - i + 1))
        ax.fill_between(expected, lo, hi, color="0.85", linewidth=0, label="95% band (uniform)")
        ax.plot(expected, expected, color=THEORY_COLOR, lw=1, label="uniform")
        observed = -np.log10(np.maximum(p, 1e-300))
        ax.plot(expected, observed, "o", ms=3, color=SIM_COLOR, label=f"{m} p-values")
        bonf = -np.log10(self.alpha / m)
        ax.axhline(bonf, color="0.3", ls="--", lw=0.8, label=f"alpha/m = {self.alpha:g}/{m}")
        ax.set_xlabel("expected -log10 p (uniform)")
        ax.set_ylabel("observed -log10 p")
        ax.set_title(f"verify ({self.level}): p-values against uniform")
        ax.legend(fontsize=7, loc="upper left")
        return fig

    def qq_figure(self):
        """Simulated against theoretical quantiles, one panel per distribution test."""
        from .plotting import SIM_COLOR, THEORY_COLOR, new_figure

        items = [(name, o) for name, o in self.outcomes if o.qq is not None]
        n = max(len(items), 1)
        ncols = min(n, 3)
        nrows = -(-n // ncols)
        fig, axes = new_figure(nrows, ncols, width=3.4, height=3.0)
        axes = np.atleast_1d(axes).ravel()
        for ax, (name, o) in zip(axes, items):
            sim, theo = (np.asarray(a, dtype=np.float64) for a in o.qq)
            ax.plot(theo, sim, ".", ms=3, color=SIM_COLOR)
            lims = [np.nanmin([theo.min(), sim.min()]), np.nanmax([theo.max(), sim.max()])]
            ax.plot(lims, lims, color=THEORY_COLOR, lw=1)
            ax.set_title(f"{o.quantity}\n{_params_text(o.params)}", fontsize=7)
            ax.set_xlabel("theoretical quantile", fontsize=7)
            ax.set_ylabel("simulated quantile", fontsize=7)
            ax.tick_params(labelsize=6)
        for ax in axes[len(items):]:
            ax.set_axis_off()
            if not items:
                ax.text(0.5, 0.5, "no distribution tests", ha="center", va="center", transform=ax.transAxes)
        return fig

    def save(self, out) -> dict:
        """Write ``verify.json``, ``verify.csv``, ``verify_summary.csv``, ``qq_pvalues.png``, ``qq_distributions.png``."""
        from ._provenance import atomic_write, write_json
        from .plotting import figure_png

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        paths = {
            "json": out / "verify.json",
            "table": out / "verify.csv",
            "summary": out / "verify_summary.csv",
            "qq_pvalues": out / "qq_pvalues.png",
            "qq_distributions": out / "qq_distributions.png",
        }
        write_json(paths["json"], self.to_dict())
        atomic_write(paths["table"], self.table().to_csv(index=False))
        atomic_write(paths["summary"], self.summary().to_csv(index=False))
        atomic_write(paths["qq_pvalues"], figure_png(self.pvalue_figure()))
        atomic_write(paths["qq_distributions"], figure_png(self.qq_figure()))
        return paths


def _params_text(params: dict) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:g}"
        if isinstance(v, (list, tuple)):
            return "[" + ",".join(fmt(x) for x in v) + "]"
        return str(v)

    return ", ".join(f"{k}={fmt(v)}" for k, v in params.items())


def _check_rng(root: np.random.SeedSequence, name: str) -> np.random.Generator:
    """A generator for one check, derived from the run's seed and the check's name.

    Keyed by name, so running a subset of checks gives each the same draws as
    a full run.
    """
    return np.random.default_rng(np.random.SeedSequence(root.entropy, spawn_key=tuple(root.spawn_key) + (zlib.crc32(name.encode()),)))


def _missing(requires) -> str | None:
    for mod in requires:
        try:
            importlib.import_module(mod)
        except ImportError as exc:
            return f"{mod} is not available ({exc})"
    return None


def run(level: str = "quick", out=None, rng=0, *, alpha: float = 1e-3, correction: str = "holm", checks=None, show_progress=None) -> VerifyResult:
    """Check every theory function against simulation.

    Parameters
    ----------
    level : {"quick", "full"}
        ``"quick"``: a small grid, seconds (the report and the tests use it);
        ``"full"``: a larger grid with more replicates, minutes.
    out : path, optional
        Directory to write ``verify.json`` (p-values, adjusted p-values, the
        correction, QQ quantiles, provenance), ``verify.csv``,
        ``verify_summary.csv`` and the QQ plots ``qq_pvalues.png`` and
        ``qq_distributions.png``.
    rng : None, int, SeedSequence or Generator
        Seed of the run; each check derives its own stream from it and its name.
    alpha : float
        Family-wise significance level (default 1e-3).
    correction : {"holm", "bonferroni"}
        Multiple-testing correction across every p-value of the run.
    checks : sequence of str, optional
        Names in :data:`CHECKS` to run (default: all).
    show_progress : bool, optional
        Progress bar over the checks (default: on unless ``COLLAPSE_THEORY_PROGRESS=0``).

    Returns
    -------
    VerifyResult
        ``.passed``, ``.failed``, ``.table()``, ``.summary()``, ``.save(out)``.

    Examples
    --------
    >>> import collapse_theory as ct
    >>> res = ct.verify.run("quick", checks=["discrete.heterozygosity"], show_progress=False)  # doctest: +SKIP
    >>> res.passed  # doctest: +SKIP
    True
    """
    from ._progress import progress
    from ._provenance import provenance

    level = check_choice("level", level, LEVELS)
    alpha = check_float("alpha", alpha, min=0.0, max=1.0, min_inclusive=False, max_inclusive=False)
    correction = check_choice("correction", correction, CORRECTIONS)
    names = check_names("checks", checks, CHECKS) if checks is not None else tuple(CHECKS)
    root = _rng.seed_sequence(rng)
    seed = rng if isinstance(rng, (int, np.integer)) else {"entropy": root.entropy, "spawn_key": list(root.spawn_key)}
    result = VerifyResult(level=level, alpha=alpha, correction=correction)
    t_run = time.perf_counter()
    for name in progress(names, desc="verify", show=show_progress, unit="check"):
        chk = CHECKS[name]
        st = {"description": chk.description, "source": chk.source}
        t0 = time.perf_counter()
        reason = _missing(chk.requires)
        if reason:
            st.update(status="skipped", reason=reason)
        else:
            try:
                outs = list(chk.func(level, _check_rng(root, name)))
                result.outcomes.extend((name, o) for o in outs)
                st.update(status="ok", reason="")
            except Exception as exc:  # reported as a failure; the other checks still run
                st.update(status="error", reason=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        st["wall_time_s"] = time.perf_counter() - t0
        result.status[name] = st
    result.wall_time_s = time.perf_counter() - t_run
    result.provenance = provenance(
        {"level": level, "alpha": alpha, "correction": correction, "checks": list(names)},
        seed=seed,
        wall_time_s=result.wall_time_s,
    )
    if out is not None:
        result.save(out)
    return result


# ---------------------------------------------------------------- checks
#
# Each check below compares one theory function with an independent
# simulation. Grids are chosen so that each check is informative: at the
# quick level every mean is estimated to about 1-3% relative standard error,
# so a relative error of ~5-10% in a formula is detected at alpha = 1e-3 with
# power near 1 (z of about 4 to 6 after Holm's correction over ~50 tests).

# ---- discrete chain (neutral Wright–Fisher): collapse_theory.theory.discrete

_DISCRETE = ("collapse_theory.chains.discrete", "collapse_theory.theory.discrete")

#: p0 grid of the discrete checks: two types, a skewed three-type law, and a
#: ten-type law with a long tail (the states the paper says are lost first).
_P0 = {
    "two": [0.5, 0.5],
    "skewed3": [0.2, 0.3, 0.5],
    "tail10": [0.3, 0.2, 0.15, 0.1, 0.08, 0.06, 0.05, 0.03, 0.02, 0.01],
}


@register(
    "discrete.heterozygosity",
    description="E[H_t] = H_0 (1 - 1/M)^t under replacement, and along a linear sample-size schedule",
    source="Ewens 2004 ch. 3; theory.discrete.heterozygosity",
    requires=_DISCRETE,
)
def _check_heterozygosity(level, rng):
    # R = 4000 (quick): relative s.e. of the mean about 1-2% for t <= M, so a
    # wrong decay rate such as (1 - 1/(M+1))^t at M = 10, t = 10 (5% off) is
    # found with power > 0.9.
    from .chains.discrete import DiscreteChain
    from .process import schedules
    from .theory import discrete as th

    R = _sizes(level, 4000, 20000)
    Ms = _sizes(level, (10, 50), (5, 10, 50, 200))
    ts = np.array(_sizes(level, (1, 3, 10, 30), (1, 2, 5, 10, 30, 100)))
    out = []
    sizes = [(M, M) for M in Ms] + [(schedules.linear(10, 2.0), "linear(10, 2)")]
    for key in _sizes(level, ("two", "tail10"), tuple(_P0)):
        p0 = _P0[key]
        for M, label in sizes:
            run = DiscreteChain(p0, sample_size=M).simulate(int(ts.max()), R, rng=rng, record=("heterozygosity",))
            theory = np.atleast_1d(th.heterozygosity(p0, M, ts))
            for t, e in zip(ts, theory):
                out.append(_z_outcome("E[H_t]", {"p0": key, "M": label, "t": int(t)}, run.heterozygosity[:, t], e, bounds=(0.0, 1.0)))
    return out


@register(
    "discrete.heterozygosity_mixing",
    description="E[H_t] with fresh data and with accumulation (exact recursions); stationary H* with fresh data",
    source="theory.discrete.heterozygosity, stationary_heterozygosity",
    requires=_DISCRETE,
)
def _check_heterozygosity_mixing(level, rng):
    # Fresh data holds H near H* instead of 0: a recursion with the wrong
    # weight (e.g. gamma instead of 1 - (1 - gamma)^2) is 10-40% off, far
    # beyond the ~1-2% standard error at R = 2000.
    from .chains.discrete import DiscreteChain
    from .process import Mixing
    from .theory import discrete as th

    R = _sizes(level, 2000, 20000)
    M = 20
    ts = np.array(_sizes(level, (1, 5, 20), (1, 2, 5, 10, 20, 50)))
    tstat = 100  # distance to H*: [(1 - 1/M)(1 - gamma)^2]^t < 1e-11 at gamma >= 0.1
    out = []
    mixings = {"fresh(0.1)": Mixing.fresh(real=0.1), "fresh(0.5)": Mixing.fresh(real=0.5), "accumulate": Mixing.accumulate()}
    if level == "full":
        mixings["accumulate(0.1)"] = Mixing.accumulate(real=0.1)
    for key in ("two", "tail10"):
        p0 = _P0[key]
        for name, mix in mixings.items():
            G = tstat if name.startswith("fresh") else int(ts.max())
            run = DiscreteChain(p0, sample_size=M, mixing=mix).simulate(G, R, rng=rng, record=("heterozygosity",))
            theory = np.atleast_1d(th.heterozygosity(p0, M, ts, mixing=mix))
            for t, e in zip(ts, theory):
                out.append(_z_outcome("E[H_t]", {"p0": key, "M": M, "mixing": name, "t": int(t)}, run.heterozygosity[:, t], e, bounds=(0.0, 1.0)))
            if name.startswith("fresh"):
                hstar = th.stationary_heterozygosity(p0, M, mixing=mix)
                out.append(_z_outcome("H* (stationary)", {"p0": key, "M": M, "mixing": name, "t": tstat}, run.heterozygosity[:, tstat], hstar))
    return out


@register(
    "discrete.fixation",
    description="P(absorbed at state i) = p0_i (chi-square over states)",
    source="martingale argument; theory.discrete.fixation_probability",
    requires=_DISCRETE,
)
def _check_fixation(level, rng):
    # Chi-square over K states with R = 3000: a 3-point shift of probability
    # between two states of p0 = (0.2, 0.3, 0.5) is detected with power ~0.9.
    from scipy import stats

    from .chains.discrete import DiscreteChain
    from .theory import discrete as th

    R = _sizes(level, 3000, 20000)
    out = []
    for key in ("two", "skewed3", "tail10"):
        p0 = _P0[key]
        for M in _sizes(level, (10, 40), (5, 10, 40, 100)):
            ab = DiscreteChain(p0, sample_size=M).absorb(R, rng=rng)
            if ab.censored.any():
                raise RuntimeError(f"{int(ab.censored.sum())} censored replicates at M={M}")
            counts = np.bincount(ab.state, minlength=len(p0))
            expected = R * th.fixation_probability(p0)
            p = float(stats.chisquare(counts, expected).pvalue)
            out.append(Outcome("P(fix at i)", {"p0": key, "M": M}, p, float(counts[-1] / R), float(expected[-1] / R), "chi2", R))
    return out


def _discrete_quantiles(cdf_values, probs):
    """Quantiles of a law on 0, 1, 2, ... from its cdf at 0..n: smallest t with cdf(t) >= q."""
    return np.searchsorted(cdf_values, probs, side="left").astype(np.float64)


def _binned_chi2(samples, cdf_values, nbins=20):
    """Chi-square goodness of fit of integer samples to a law given by its cdf at 0..n.

    Bins are runs of consecutive values holding about 1/nbins of the mass each
    (so expected counts are large); the last bin takes the tail beyond n.
    """
    from scipy import stats

    cdf_values = np.asarray(cdf_values, dtype=np.float64)
    edges = np.unique(_discrete_quantiles(cdf_values, np.arange(1, nbins) / nbins).astype(np.int64))
    edges = edges[edges < cdf_values.size - 1]
    upper = np.concatenate([cdf_values[edges], [1.0]])
    probs = np.diff(np.concatenate([[0.0], upper]))
    x = np.asarray(samples, dtype=np.int64)
    idx = np.searchsorted(edges, x, side="left")
    counts = np.bincount(idx, minlength=probs.size)[: probs.size]
    keep = probs > 0
    expected = probs[keep] / probs[keep].sum() * x.size
    return float(stats.chisquare(counts[keep], expected).pvalue)


@register(
    "discrete.absorption_time",
    description="Mean, variance and law of the absorption time: fundamental matrix (exact) and its cdf",
    source="Kemeny & Snell 1960; theory.discrete.absorption_time, absorption_time_cdf",
    requires=_DISCRETE,
)
def _check_absorption_time(level, rng):
    # R = 3000: s.e. of the mean about 1.3% (T has cv about 0.7), so the
    # diffusion value (2.6% high at M = 50, p = 1/2) is rejected with power
    # ~0.5 per point and an error of 5% or more with power near 1.
    from .chains.discrete import DiscreteChain
    from .theory import discrete as th

    R = _sizes(level, 3000, 20000)
    probs = np.arange(1, _QQ_POINTS + 1) / (_QQ_POINTS + 1)
    out = []
    for key in _sizes(level, ("two", "skewed3", "tail10"), tuple(_P0)):
        p0 = _P0[key]
        for M in _sizes(level, (10, 50), (5, 10, 50, 100)):
            ab = DiscreteChain(p0, sample_size=M).absorb(R, rng=rng)
            if ab.censored.any():
                raise RuntimeError(f"{int(ab.censored.sum())} censored replicates at M={M}")
            T = ab.time.astype(np.float64)
            at = th.absorption_time(p0, M, method="exact")
            params = {"p0": key, "M": M}
            out.append(_z_outcome("E[T]", params, T, at.mean))
            out.append(_z_outcome("Var[T]", params, (T - at.mean) ** 2, at.variance))
            tmax = int(max(T.max(), 1))
            cdf = np.asarray(th.absorption_time_cdf(p0, M, np.arange(tmax + 1)))
            qq = (np.quantile(T, probs), _discrete_quantiles(cdf, probs))
            out.append(Outcome("law of T", params, _binned_chi2(T, cdf), math.nan, math.nan, "chi2", R, qq))
    return out


@register(
    "discrete.survival",
    description="Survival of a state with c of M copies after t generations, and per-state extinction by t",
    source="theory.discrete.survival_probability, extinction_probability",
    requires=_DISCRETE,
)
def _check_survival(level, rng):
    # Exact binomial tests on R = 3000 chains: a survival probability off by
    # 0.04 (e.g. the rough 1 - exp(-c/k) rule against the exact value) is
    # found with power > 0.9.
    from .chains.discrete import DiscreteChain
    from .theory import discrete as th

    R = _sizes(level, 3000, 20000)
    out = []
    M = 20
    ts = _sizes(level, (1, 5, 20), (1, 2, 5, 10, 20, 40))
    for c in _sizes(level, (1, 4), (1, 2, 4, 10)):
        p0 = [c / M, 1 - c / M]
        ab = DiscreteChain(p0, sample_size=M).absorb(R, rng=rng)
        e = ab.extinction[:, 0]
        for t in ts:
            alive = int(np.sum((e == -1) | (e > t)))
            out.append(_binomial_outcome("P(state survives to t)", {"c": c, "M": M, "t": t}, alive, R, th.survival_probability(c, M, t)))
    p0 = _P0["tail10"]
    ab = DiscreteChain(p0, sample_size=M).absorb(R, rng=rng)
    ext = th.extinction_probability(p0, M, np.array(ts))
    for i in _sizes(level, (0, 5, 9), range(len(p0))):
        e = ab.extinction[:, i]
        for j, t in enumerate(ts):
            gone = int(np.sum((e >= 0) & (e <= t)))
            out.append(_binomial_outcome("P(state i extinct by t)", {"p0": "tail10", "i": i, "M": M, "t": t}, gone, R, ext[i, j]))
    return out


@register(
    "discrete.support",
    description="Expected support (states still present) and expected alive mass at generation t",
    source="theory.discrete.expected_support, expected_alive_mass",
    requires=_DISCRETE,
)
def _check_support(level, rng):
    # Support of the ten-type law falls from 10 to ~2 within 50 generations at
    # M = 20; R = 3000 gives a s.e. of about 0.02 states, so a 1% error is found.
    from .chains.discrete import DiscreteChain
    from .theory import discrete as th

    R = _sizes(level, 3000, 20000)
    ts = np.array(_sizes(level, (1, 5, 20, 50), (1, 2, 5, 10, 20, 50, 100)))
    out = []
    # Grid points where (nearly) every replicate keeps every state, e.g.
    # p0 = (0.2, 0.3, 0.5) at M = 100, t = 1 (a loss has probability 2e-10),
    # are left out: a sample without spread only gets the weak bound test.
    grid = [("skewed3", 10), ("tail10", 20), ("tail10", 100)]
    if level == "full":
        grid += [("skewed3", 5), ("tail10", 10), ("tail10", 500)]
    for key, M in grid:
        p0 = _P0[key]
        run = DiscreteChain(p0, sample_size=M).simulate(int(ts.max()), R, rng=rng, record=("support", "alive_mass"))
        sup = np.atleast_1d(th.expected_support(p0, M, ts))
        mass = np.atleast_1d(th.expected_alive_mass(p0, M, ts))
        for t, s, a in zip(ts, sup, mass):
            params = {"p0": key, "M": M, "t": int(t)}
            out.append(_z_outcome("E[support_t]", params, run.support[:, t], s, bounds=(1.0, float(len(p0)))))
            out.append(_z_outcome("E[alive mass_t]", params, run.alive_mass[:, t], a, bounds=(0.0, 1.0)))
    return out


# ---- Gaussian chain (Theorem 3.1): collapse_theory.theory.gaussian

_GAUSSIAN = ("collapse_theory.chains.gaussian", "collapse_theory.theory.gaussian")


def _light_tailed(log_var_variance: float, r: float) -> bool:
    """Whether a mean of ``sigma^(2r)`` can be z-tested: its log has s.d. at most 1.

    ``sigma_n^2`` is a product of scaled chi-squares, nearly log-normal; when
    ``r^2 Var log sigma_n^2`` is large its mean is carried by rare huge values
    and the sample mean of a few thousand replicates is not yet normal (the
    test would reject a correct formula), so such grid points are left out.
    At log-s.d. 1 a log-normal has skewness 6.2, so the mean of 2000
    replicates has skewness 0.14: the normal approximation holds.
    """
    return r * r * log_var_variance <= 1.0


@register(
    "gaussian.moments",
    description="E log sigma_n^2 and its variance and drift, E sigma_n, E sigma_n^2, E (mu_n - mu_0)^2, E W2^2 (1-D, both estimators, a schedule)",
    source="Theorem 3.1; Bertrand et al. 2024; theory.gaussian.expected_* , log_variance_*",
    requires=_GAUSSIAN,
)
def _check_gaussian_moments(level, rng):
    # R = 4000: E log sigma_n^2 is estimated to 1.6% of its s.d., E sigma_n
    # and E W2^2 to about 1-2%, so the paper's first-order (3/2) sum 1/M for
    # E W2^2 (8% off at M = 20, n = 3) and an MLE/unbiased mix-up (a drift
    # error of 1/M per generation) are both rejected with power near 1.
    from .chains.gaussian import GaussianChain
    from .process import schedules
    from .theory import gaussian as th

    R = _sizes(level, 4000, 20000)
    ns = np.array(_sizes(level, (1, 3, 10, 30), (1, 2, 3, 5, 10, 30, 100)))
    Ms = _sizes(level, (5, 20, 100), (3, 5, 10, 20, 100, 1000))
    cases = [(M, str(M), est) for M in Ms for est in ("unbiased", "mle")]
    cases.append((schedules.linear(5, 1.0), "linear(5, 1)", "unbiased"))
    out = []
    for M, label, est in cases:
        run = GaussianChain(0.0, 1.0, sample_size=M, estimator=est).simulate(int(ns.max()), R, rng=rng, show_progress=False)
        lv = run.log_var
        e_lv = np.atleast_1d(th.expected_log_variance(ns, M, estimator=est))
        v_lv = np.atleast_1d(th.log_variance_variance(ns, M, estimator=est))
        e_sd = np.atleast_1d(th.expected_std(ns, M, estimator=est))
        e_var = np.atleast_1d(th.expected_variance(ns, M, estimator=est))
        e_mse = np.atleast_1d(th.expected_mean_squared_error(ns, M, estimator=est))
        e_w2 = np.atleast_1d(th.expected_w2_squared(ns, M, estimator=est))
        for i, n in enumerate(ns):
            params = {"M": label, "estimator": est, "n": int(n)}
            out.append(_z_outcome("E log sigma_n^2", params, lv[:, n], e_lv[i]))
            out.append(_z_outcome("Var log sigma_n^2", params, (lv[:, n] - e_lv[i]) ** 2, v_lv[i]))
            if _light_tailed(v_lv[i], 0.5):
                out.append(_z_outcome("E sigma_n", params, run.std[:, n], e_sd[i]))
            if _light_tailed(v_lv[i], 1.0):
                out.append(_z_outcome("E sigma_n^2", params, run.var[:, n], e_var[i]))
                out.append(_z_outcome("E (mu_n - mu_0)^2", params, run.mean[:, n] ** 2, e_mse[i]))
                out.append(_z_outcome("E W2^2(N(mu_n, sigma_n^2), D_0)", params, run.w2_squared_to_initial[:, n], e_w2[i]))
        if isinstance(M, int):
            n = int(ns.max())
            drift = th.log_variance_drift(M, estimator=est)
            out.append(_z_outcome("log-variance drift per generation", {"M": label, "estimator": est, "n": n}, lv[:, n] / n, drift))
    return out


@register(
    "gaussian.sample_method",
    description="The point-sampling chain (refitting drawn points) against the same closed forms",
    source="Theorem 3.1; theory.gaussian",
    requires=_GAUSSIAN,
)
def _check_gaussian_sample_method(level, rng):
    # An independent path through the code: points are drawn and refitted
    # instead of drawing sufficient statistics. R = 2000 gives ~2% relative
    # s.e. on E sigma_n and E W2^2, enough to see a ddof error (10-25% at M = 5).
    from .chains.gaussian import GaussianChain
    from .theory import gaussian as th

    R = _sizes(level, 2000, 10000)
    ns = np.array(_sizes(level, (1, 5), (1, 2, 5, 10)))
    out = []
    for M in _sizes(level, (5, 20), (3, 5, 20, 50)):
        for est in ("unbiased", "mle"):
            run = GaussianChain(0.0, 1.0, sample_size=M, estimator=est, method="sample").simulate(int(ns.max()), R, rng=rng, show_progress=False)
            for n in ns:
                params = {"M": M, "estimator": est, "n": int(n), "method": "sample"}
                out.append(_z_outcome("E log sigma_n^2", params, run.log_var[:, n], th.expected_log_variance(int(n), M, estimator=est)))
                v = th.log_variance_variance(int(n), M, estimator=est)
                if _light_tailed(v, 0.5):
                    out.append(_z_outcome("E sigma_n", params, run.std[:, n], th.expected_std(int(n), M, estimator=est)))
                if _light_tailed(v, 1.0):
                    out.append(_z_outcome("E W2^2(N(mu_n, sigma_n^2), D_0)", params, run.w2_squared_to_initial[:, n], th.expected_w2_squared(int(n), M, estimator=est)))
    return out


@register(
    "gaussian.laws",
    description="Whole laws: (M-1) sigma_1^2 ~ chi2_{M-1}, sqrt(M) mu_1 ~ N(0, 1), and log sigma_n^2 against a direct product of chi-squares",
    source="Cochran's theorem; theory.gaussian module docstring",
    requires=("collapse_theory.chains.gaussian",),
)
def _check_gaussian_laws(level, rng):
    # KS with R = 3000 detects a change of about 0.035 in the cdf (power
    # ~0.9 at alpha / m), e.g. chi2_M instead of chi2_{M-1} at M = 5 (a 25%
    # mean shift) and a 5% scale error of sqrt(M) mu_1.
    from scipy import stats

    from .chains.gaussian import GaussianChain

    R = _sizes(level, 3000, 20000)
    out = []
    for method in ("exact", "sample"):
        for M in _sizes(level, (5, 30), (3, 5, 30, 200)):
            run = GaussianChain(0.0, 1.0, sample_size=M, method=method).simulate(1, R, rng=rng, show_progress=False)
            params = {"M": M, "method": method}
            k = M - 1
            out.append(_ks_outcome("(M-1) sigma_1^2 ~ chi2(M-1)", params, k * run.var[:, 1], stats.chi2(k).cdf, stats.chi2(k).ppf))
            out.append(_ks_outcome("sqrt(M) mu_1 ~ N(0, 1)", params, np.sqrt(M) * run.mean[:, 1], stats.norm.cdf, stats.norm.ppf))
    n = 10
    for M in _sizes(level, (10,), (5, 10, 50)):
        run = GaussianChain(0.0, 1.0, sample_size=M).simulate(n, R, rng=rng, show_progress=False)
        reference = np.log(rng.chisquare(M - 1, size=(R, n)) / (M - 1)).sum(axis=1)
        out.append(_ks2_outcome("log sigma_n^2 vs prod chi2/(M-1) (direct draw)", {"M": M, "n": n}, run.log_var[:, n], reference))
    return out


@register(
    "gaussian.multivariate",
    description="d = 3: E tr Sigma_n, E log det Sigma_n and its variance (Bartlett), E det Sigma_n, E |mu_n - mu_0|^2",
    source="Muirhead 1982 Thm 3.2.14 (Bartlett); theory.gaussian.expected_trace, expected_log_det, ...",
    requires=_GAUSSIAN,
)
def _check_gaussian_multivariate(level, rng):
    # log det has s.d. ~ sqrt(n d * 2/M); R = 2000 estimates its mean to 2%
    # of that, so a Bartlett degree-of-freedom error (chi2_{k} for chi2_{k-j},
    # a shift of ~ n d (d-1) / (2k)) is found with power near 1.
    from .chains.gaussian import GaussianChain
    from .theory import gaussian as th

    R = _sizes(level, 2000, 10000)
    cov0 = np.array([[2.0, 0.6, 0.0], [0.6, 1.0, -0.3], [0.0, -0.3, 0.5]])
    d = cov0.shape[0]
    ns = np.array(_sizes(level, (1, 3, 10), (1, 2, 3, 5, 10, 30)))
    out = []
    for M in _sizes(level, (6, 30), (5, 6, 10, 30, 100)):
        for est in _sizes(level, ("unbiased",), ("unbiased", "mle")):
            run = GaussianChain(np.zeros(d), cov0, sample_size=M, estimator=est).simulate(int(ns.max()), R, rng=rng, show_progress=False)
            for n in ns:
                n = int(n)
                params = {"d": d, "M": M, "estimator": est, "n": n}
                e_ld = th.expected_log_det(n, M, cov0, estimator=est)
                v_ld = th.log_det_variance(n, M, d, estimator=est)
                out.append(_z_outcome("E log det Sigma_n", params, run.log_det[:, n], e_ld))
                out.append(_z_outcome("Var log det Sigma_n", params, (run.log_det[:, n] - e_ld) ** 2, v_ld))
                # trace and the mean error are sums over d directions: use the
                # per-direction log-variance spread as the tail criterion
                v1 = th.log_variance_variance(n, M, estimator=est)
                if _light_tailed(v1, 1.0):
                    out.append(_z_outcome("E tr Sigma_n", params, run.trace[:, n], th.expected_trace(n, M, cov0, estimator=est)))
                    msq = np.sum(run.mean[:, n, :] ** 2, axis=-1)
                    out.append(_z_outcome("E |mu_n - mu_0|^2", params, msq, th.expected_mean_squared_error_mv(n, M, cov0, estimator=est)))
                if _light_tailed(v_ld, 1.0):
                    out.append(_z_outcome("E det Sigma_n", params, np.exp(run.log_det[:, n]), th.expected_det(n, M, cov0, estimator=est)))
    return out


@register(
    "gaussian.mitigation",
    description="Fresh data and accumulation: exact (E sigma_t^2, E (mu_t - mu_0)^2) recursion, stationary moments, Jensen bound on E W2^2",
    source="Gerstgrasser et al. 2024; theory.gaussian.moment_recursion, stationary_moments, w2_squared_lower_bound",
    requires=_GAUSSIAN,
)
def _check_gaussian_mitigation(level, rng):
    # R = 3000 estimates E sigma_t^2 to ~1% and E (mu_t - mu_0)^2 to ~3%;
    # forgetting the between-group term of a fresh/synthetic mixture changes
    # E sigma^2 by gamma (1 - gamma) e, and replacing instead of pooling
    # changes everything by a factor, both found with power near 1.
    from scipy import stats

    from .chains.gaussian import GaussianChain
    from .process import Mixing
    from .theory import gaussian as th

    R = _sizes(level, 3000, 20000)
    M = 20
    ts = np.array(_sizes(level, (1, 5, 20), (1, 2, 5, 10, 20, 50)))
    t_stat = 100  # spectral radius of the fresh-data recursion <= 0.9: 0.9^100 < 3e-5
    cases = {"fresh(0.1)": (0.1, "fresh"), "fresh(0.5)": (0.5, "fresh"), "accumulate": (0.0, "accumulate")}
    if level == "full":
        cases["accumulate(0.1)"] = (0.1, "accumulate")
    out = []
    for name, (g, wf) in cases.items():
        mix = Mixing.fresh(real=g) if wf == "fresh" else Mixing.accumulate(real=g)
        G = t_stat if wf == "fresh" else int(ts.max())
        run = GaussianChain(0.0, 1.0, sample_size=M, mixing=mix).simulate(G, R, rng=rng, show_progress=False)
        path = th.moment_recursion(int(ts.max()), M, gamma=g, workflow=wf)
        for t in ts:
            t = int(t)
            params = {"M": M, "mixing": name, "t": t}
            out.append(_z_outcome("E sigma_t^2", params, run.var[:, t], path.variance[t]))
            out.append(_z_outcome("E (mu_t - mu_0)^2", params, run.mean[:, t] ** 2, path.mean_squared_error[t]))
            # one-sided: the bound holds iff the simulated mean is not below it
            w2 = run.w2_squared_to_initial[:, t]
            lb = float(path.w2_squared_lower_bound[t])
            se = w2.std(ddof=1) / np.sqrt(w2.size)
            p = float(stats.norm.cdf((w2.mean() - lb) / se)) * 2 if se > 0 else 1.0
            out.append(Outcome("E W2^2 >= Jensen bound (one-sided)", params, min(p, 1.0), float(w2.mean()), lb, "z", w2.size))
        if wf == "fresh":
            v, e = th.stationary_moments(M, g)
            params = {"M": M, "mixing": name, "t": t_stat}
            out.append(_z_outcome("stationary E sigma^2", params, run.var[:, t_stat], v))
            out.append(_z_outcome("stationary E (mu - mu_0)^2", params, run.mean[:, t_stat] ** 2, e))
    return out
