"""The verify framework: checks, outcomes, the run and its result (private; see ``collapse_theory.verify``)."""

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

from .. import _rng
from .._stats import CORRECTIONS, adjust, holm  # noqa: F401  (re-exported: the one home is _stats)
from .._validate import check_choice, check_float, check_names, check_str

__all__ = [
    "CHECKS",
    "Check",
    "Outcome",
    "VerifyResult",
    "register",
    "unregister",
    "load_entry_points",
    "ENTRY_POINT_GROUP",
    "run",
    "holm",
    "adjust",
    "LEVELS",
    "CORRECTIONS",
]

#: Sizes of a verification run.
LEVELS = ("quick", "full")
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

    Parameters
    ----------
    name : str
        Unique check name, ``"family.quantity"``.
    description, source : str
        Shown in the summary and the report.
    requires : tuple of str
        Modules the check needs.

    Returns
    -------
    callable
        The decorator (it returns the function unchanged).

    Examples
    --------
    >>> @register("demo.trivial", description="a check that always passes")
    ... def _trivial(level, rng):
    ...     return [Outcome("x", {}, 1.0)]
    >>> run(checks=["demo.trivial"], show_progress=False).passed
    True
    >>> unregister("demo.trivial")
    """

    check_str("name", name, empty=False)
    check_str("description", description)
    check_str("source", source)
    if isinstance(requires, str) or not all(isinstance(r, str) for r in _iterable("requires", requires)):
        raise TypeError(f"requires must be a tuple of module names (str), got {requires!r}")

    def deco(func):
        if not callable(func):
            raise TypeError(f"register({name!r}) decorates a check function func(level, rng), got {type(func).__name__}")
        CHECKS[name] = Check(name, func, description, source, tuple(requires))
        return func

    return deco


def _iterable(name, value):
    try:
        return tuple(value)
    except TypeError:
        raise TypeError(f"{name} must be a tuple of module names (str), got {value!r}") from None


def unregister(name: str) -> None:
    """Remove a check from :data:`CHECKS` (a user's check, e.g. at the end of a notebook or test).

    Raises
    ------
    ValueError
        If no check of that name is registered.

    Parameters
    ----------
    name : str

    Examples
    --------
    >>> unregister("no.such.check")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unregister: no check named 'no.such.check'; ...
    """
    if name not in CHECKS:
        raise ValueError(f"unregister: no check named {name!r}; registered: {', '.join(CHECKS)}")
    del CHECKS[name]


#: Entry-point group under which installed packages declare their own checks.
ENTRY_POINT_GROUP = "collapse_theory.checks"


def load_entry_points() -> list:
    """Register the checks that installed packages declare under :data:`ENTRY_POINT_GROUP`.

    Each entry point names either a check function ``(level, rng) -> list of
    Outcome`` (registered under the entry point's name, described by the
    first line of its docstring) or a module whose import registers checks
    itself. Only installed distributions' metadata is read: nothing named on
    a command line is ever imported. Already registered names are left as
    they are; an entry point that fails to load is registered as a check
    that errors with the reason, so the run reports it.

    Returns
    -------
    list of str
        Names of the entry points seen.
    """
    import inspect
    from importlib import metadata

    try:
        eps = metadata.entry_points(group=ENTRY_POINT_GROUP)
    except TypeError:  # pragma: no cover - Python < 3.10 API
        eps = metadata.entry_points().get(ENTRY_POINT_GROUP, [])
    seen = []
    for ep in eps:
        seen.append(ep.name)
        if ep.name in CHECKS:
            continue
        try:
            obj = ep.load()
        except Exception as exc:  # reported by the run, not raised here
            reason = f"entry point {ep.name} = {ep.value} failed to load: {type(exc).__name__}: {exc}"

            def broken(level, rng, _reason=reason):
                raise RuntimeError(_reason)

            register(ep.name, description=reason, source=ep.value)(broken)
            continue
        if inspect.ismodule(obj):
            continue  # importing it registered its checks
        if not callable(obj):
            raise TypeError(f"entry point {ep.name} = {ep.value} is neither a module nor a callable check")
        doc = ((obj.__doc__ or "").strip().splitlines() or [ep.name])[0]
        register(ep.name, description=doc, source=ep.value)(obj)
    return seen


# ---------------------------------------------------------------- outcomes


def _z_outcome(quantity, params, samples, expected, *, bounds=None, qq=None) -> Outcome:
    r"""z-test of the mean of ``samples`` against ``expected``.

    A sample without spread (e.g. every chain already absorbed, so every
    heterozygosity is 0) has no standard error. For a statistic known to lie
    in ``bounds = (lo, hi)`` the test is then exact instead (test ``"bound"``,
    :func:`collapse_theory._stats.constant_sample_test`).
    """
    from .._stats import constant_sample_test, z_test

    x = np.asarray(samples, dtype=np.float64)
    expected = float(expected)
    if bounds is not None and x.size and np.all(x == x[0]):
        p = constant_sample_test(x[0], expected, x.size, bounds)
        return Outcome(quantity, dict(params), float(p), float(x[0]), expected, "bound", x.size, qq)
    return Outcome(quantity, dict(params), float(z_test(x, expected)), float(x.mean()), expected, "z", x.size, qq)


def _binomial_outcome(quantity, params, successes, n, p) -> Outcome:
    from .._stats import proportion_test

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
    from .._stats import ks_test

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
        "wall_time_s": float, "cpu_time_s": float, "description": str, "source": str}``
        (``cpu_time_s``: this process's CPU time over all its threads).
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
        from .._provenance import to_jsonable

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

        from ..plotting import SIM_COLOR, THEORY_COLOR, new_figure

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
        from ..plotting import SIM_COLOR, THEORY_COLOR, new_figure

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
        from .._provenance import atomic_write, write_json
        from ..plotting import figure_png

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
    return np.random.default_rng(_rng.child(root, zlib.crc32(name.encode())))


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
        Names in :data:`CHECKS` to run (default: all). A user's check is
        added with :func:`collapse_theory.testing.register_check`; names not
        yet registered are looked up among the installed entry points
        (:func:`load_entry_points`).
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
    from .._progress import progress
    from .._provenance import provenance

    level = check_choice("level", level, LEVELS)
    alpha = check_float("alpha", alpha, min=0.0, max=1.0, min_inclusive=False, max_inclusive=False)
    correction = check_choice("correction", correction, CORRECTIONS)
    if checks is not None and any(c not in CHECKS for c in ([checks] if isinstance(checks, str) else checks)):
        load_entry_points()
    names = check_names("checks", checks, CHECKS) if checks is not None else tuple(CHECKS)
    root = _rng.seed_sequence(rng)
    seed = rng if isinstance(rng, (int, np.integer)) else {"entropy": root.entropy, "spawn_key": list(root.spawn_key)}
    result = VerifyResult(level=level, alpha=alpha, correction=correction)
    t_run = time.perf_counter()
    for name in progress(names, desc="verify", show=show_progress, unit="check"):
        chk = CHECKS[name]
        st = {"description": chk.description, "source": chk.source}
        t0, c0 = time.perf_counter(), time.process_time()
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
        # CPU time of this process over all its threads: on a shared machine the stable measure of a check's cost
        st["cpu_time_s"] = time.process_time() - c0
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
