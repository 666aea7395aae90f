"""Every notebook in ``notebooks/`` runs, at small size, without error.

Notebooks are jupytext percent-format ``.py`` files. Each is read with
jupytext and its code cells executed in order in one namespace, as a kernel
would, with ``COLLAPSE_THEORY_NOTEBOOK_SIZE=small``; a failure names the cell.
The VAE and language-model notebooks are skipped only when their extra
(PyTorch, transformers) is not installed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

#: notebook -> modules its extra provides
EXTRAS = {
    "05_vae.py": ("torch",),
    "06_language_model.py": ("torch", "transformers"),
}

EXPECTED = [
    "01_discrete_collapse.py",
    "02_gaussian_theorem.py",
    "03_wasserstein.py",
    "04_gmm.py",
    "05_vae.py",
    "06_language_model.py",
    "07_mitigation.py",
    "08_testing_kit.py",
    "09_regression.py",
    "10_sampling.py",
]


def test_every_chapter_is_there():
    assert sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.py")) == EXPECTED


@pytest.mark.slow  # end to end: every cell of a notebook
@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_runs(name, monkeypatch, tmp_path):
    jupytext = pytest.importorskip("jupytext")
    path = NOTEBOOKS / name
    if not path.exists():
        pytest.fail(f"{name} is missing")
    missing = [m for m in EXTRAS.get(name, ()) if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"{name} needs the optional extra providing {', '.join(missing)}")
    monkeypatch.setenv("COLLAPSE_THEORY_NOTEBOOK_SIZE", "small")
    monkeypatch.setenv("COLLAPSE_THEORY_PROGRESS", "0")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)  # anything a notebook writes lands here
    nb = jupytext.read(path)
    assert nb.metadata.get("jupytext", {}).get("text_representation", {}).get("format_name") == "percent"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert len(code) >= 3 and any(c.cell_type == "markdown" for c in nb.cells), "a notebook explains as it goes"
    namespace = {"__name__": "__main__", "__file__": str(path)}
    for i, cell in enumerate(code):
        try:
            exec(compile(cell.source, f"{name}[cell {i}]", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"{name}: code cell {i} failed: {type(exc).__name__}: {exc}\n--- cell ---\n{cell.source}") from exc
