"""The result every study returns: simulation and theory in one object."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .._provenance import atomic_write, write_json
from .._stats import bonferroni

__all__ = ["StudyResult", "TABLE_COLUMNS", "make_row"]

#: Columns of every study table.
TABLE_COLUMNS = ("quantity", "simulated", "ci_low", "ci_high", "theory", "p_value")


def make_row(quantity: str, simulated, ci_low=np.nan, ci_high=np.nan, theory=np.nan, p_value=np.nan) -> dict:
    """One table row; missing entries are NaN."""
    return {
        "quantity": quantity,
        "simulated": float(simulated),
        "ci_low": float(ci_low),
        "ci_high": float(ci_high),
        "theory": float(theory),
        "p_value": float(p_value),
    }


@dataclass
class StudyResult:
    """Simulation and theory side by side.

    Attributes
    ----------
    name : str
        The study ('absorption', 'tail_loss', ...).
    rows : list of dict
        Table rows with keys :data:`TABLE_COLUMNS` (see :func:`make_row`).
    curves : dict of str to ndarray
        Arrays behind the figure (e.g. generation axis, simulated means, theory).
    params : dict
        The study's parameters.
    provenance : dict
        Parameters, seed, versions, wall time (see ``collapse_theory._provenance``).
    plot : callable
        ``plot(result) -> matplotlib.figure.Figure``.
    """

    name: str
    rows: list
    curves: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)
    plot: Callable | None = None
    level: float = 1e-3

    def table(self) -> pd.DataFrame:
        """pandas DataFrame: quantity, simulated, ci_low, ci_high, theory, p_value.

        ``p_value`` tests simulated = theory (two-sided); ``p_adjusted`` is its
        Bonferroni correction over the rows that have a p-value.
        """
        df = pd.DataFrame(self.rows, columns=list(TABLE_COLUMNS))
        has_p = df["p_value"].notna()
        adj = np.full(len(df), np.nan)
        if has_p.any():
            adj[has_p.to_numpy()] = bonferroni(df.loc[has_p, "p_value"].to_numpy())
        df["p_adjusted"] = adj
        return df

    def passed(self, level: float | None = None) -> bool:
        """True if no Bonferroni-adjusted p-value falls below ``level`` (default: ``self.level``)."""
        level = self.level if level is None else level
        adj = self.table()["p_adjusted"].dropna()
        return bool((adj >= level).all())

    def figure(self):
        """A matplotlib Figure of simulation against theory."""
        if self.plot is None:
            raise ValueError(f"study {self.name!r} has no figure")
        return self.plot(self)

    def save(self, directory, stem: str | None = None) -> dict:
        """Write ``STEM.csv`` (table), ``STEM.json`` (params, provenance, curves) and ``STEM.png``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        stem = stem or self.name
        paths = {"table": directory / f"{stem}.csv", "data": directory / f"{stem}.json"}
        atomic_write(paths["table"], self.table().to_csv(index=False))
        write_json(
            paths["data"],
            {"study": self.name, "params": self.params, "provenance": self.provenance, "curves": self.curves},
        )
        if self.plot is not None:
            from ..plotting import figure_png

            paths["figure"] = directory / f"{stem}.png"
            atomic_write(paths["figure"], figure_png(self.figure()))
        return paths
