"""The docstring examples are collected (pytest --doctest-modules over collapse_theory) and really run.

pytest's doctest collection would silently collect nothing if the
configuration lost ``--doctest-modules`` or the package path, so this test
checks that the examples of the modules the README points to are found.
"""

from __future__ import annotations

import doctest
import importlib

import pytest

#: Modules whose public classes or functions carry examples (at least this many).
MUST_HAVE_EXAMPLES = {
    "collapse_theory.chains.discrete": 1,
    "collapse_theory.chains.gaussian": 1,
    "collapse_theory.process": 1,
    "collapse_theory.wasserstein": 8,
    "collapse_theory.testing": 8,
    "collapse_theory._stats": 8,
    "collapse_theory.studies._base": 4,
}


def test_doctest_collection_is_configured(pytestconfig):
    assert pytestconfig.getoption("doctestmodules"), "pyproject.toml addopts must keep --doctest-modules"
    assert "collapse_theory" in pytestconfig.getini("testpaths")


@pytest.mark.parametrize("name, at_least", sorted(MUST_HAVE_EXAMPLES.items()))
def test_module_has_examples(name, at_least):
    finder = doctest.DocTestFinder()
    examples = sum(len(t.examples) for t in finder.find(importlib.import_module(name)))
    assert examples >= at_least, f"{name}: {examples} docstring examples, expected at least {at_least}"
