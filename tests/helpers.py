"""Helpers for statistical assertions in tests."""

from __future__ import annotations

import numpy as np

from collapse_theory._stats import bonferroni

#: Family-wise significance level of every statistical test in the suite.
LEVEL = 1e-3


def assert_consistent(pvalues, level: float = LEVEL, what: str = "") -> None:
    """Fail if any Bonferroni-adjusted p-value is below ``level``.

    With a correct implementation this fails with probability at most
    ``level`` per test; p-values are computed by tests that compare simulation
    with theory (or with a naive reference) at fixed seeds.
    """
    p = np.atleast_1d(np.asarray(pvalues, dtype=float))
    if np.any(np.isnan(p)):
        raise AssertionError(f"{what}: NaN p-value in {p}")
    adj = bonferroni(p)
    worst = int(np.argmin(adj))
    assert adj[worst] >= level, (
        f"{what}: simulation and theory disagree: adjusted p = {adj[worst]:.3g} < {level} "
        f"(check {worst} of {p.size}, raw p = {p[worst]:.3g})"
    )
