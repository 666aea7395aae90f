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
:func:`register` (a user's own theory function: with
:func:`collapse_theory.testing.register_check`, or declared by an installed
package under the ``collapse_theory.checks`` entry-point group, which
``collapse-theory verify --check NAME`` loads); ``level`` is ``"quick"`` (seconds, used by the report and
the tests) or ``"full"`` (a larger grid and more replicates). Checks whose
modules are not importable are reported as skipped, not failed.

Module map
----------
``_framework.py``         registry, outcomes, :func:`run`, :class:`VerifyResult`
``_checks_discrete.py``   checks of :mod:`collapse_theory.theory.discrete`
``_checks_gaussian.py``   checks of :mod:`collapse_theory.theory.gaussian`
``_checks_sampling.py``   checks of :mod:`collapse_theory.theory.sampling`
``_checks_regression.py`` checks of :mod:`collapse_theory.theory.regression`

A new chain family adds ``_checks_<family>.py`` and one import line below.

References
----------
Shumailov et al., Nature 631 (2024), and the formulas in
``collapse_theory.theory`` (Wright–Fisher: Kimura & Ohta 1969, Feller 1951;
Gaussian chain: Bertrand et al. 2024). Holm, S. (1979) "A simple sequentially
rejective multiple test procedure", Scand. J. Statist. 6, 65–70.
"""

from __future__ import annotations

from ._framework import (  # noqa: F401  (_z_outcome: used by the tests of verify itself)
    CHECKS, CORRECTIONS, ENTRY_POINT_GROUP, LEVELS, Check, Outcome, VerifyResult, _z_outcome, adjust, holm,
    load_entry_points, register, run, unregister,
)

# Importing a checks module registers its checks, in page order.
from . import _checks_discrete, _checks_gaussian  # noqa: E402,F401
from . import _checks_sampling  # noqa: E402,F401
from . import _checks_regression  # noqa: E402,F401

__all__ = [
    "run",                # run the checks: VerifyResult with p-values, tables, QQ plots
    "register",           # decorator adding a check func(level, rng) -> list of Outcome
    "unregister",         # remove a check (a user's, after a notebook or test)
    "load_entry_points",  # register installed packages' checks (group collapse_theory.checks)
    "CHECKS",             # name -> Check, in report order
    "Check",              # a registered check
    "Outcome",            # one comparison: quantity, params, p-value, simulated, theory, test
    "VerifyResult",       # the result of run()
    "holm",               # Holm-adjusted p-values (from collapse_theory._stats)
    "adjust",             # Holm or Bonferroni adjustment (from collapse_theory._stats)
    "LEVELS",             # ("quick", "full")
    "CORRECTIONS",        # ("holm", "bonferroni")
    "ENTRY_POINT_GROUP",  # "collapse_theory.checks"
]
