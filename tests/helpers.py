"""Helpers for statistical assertions in tests: the public testing kit's, at the suite's level."""

from __future__ import annotations

from collapse_theory import testing

#: Family-wise significance level of every statistical test in the suite.
LEVEL = testing.LEVEL


def assert_consistent(pvalues, level: float = LEVEL, what: str = "") -> None:
    """Fail if any Holm-adjusted p-value of the family is below ``level`` (:func:`collapse_theory.testing.assert_pvalues`).

    With a correct implementation this fails with probability at most
    ``level`` per test; p-values are computed by tests that compare simulation
    with theory (or with a naive reference) at fixed seeds. (Holm rejects a
    family exactly when Bonferroni does; it only adjusts the other p-values less.)
    """
    testing.assert_pvalues(pvalues, level=level, what=what)
