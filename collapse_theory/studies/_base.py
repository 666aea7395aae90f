"""The result every study returns, and the helpers every study uses.

:class:`StudyResult` holds simulation and theory in one object; its table has
the one row schema of the toolkit (:data:`TABLE_COLUMNS` plus ``p_adjusted``,
computed by :func:`collapse_theory._stats.adjusted_column`). The helpers
below (:func:`seed_of`, :func:`checkpoints`, :func:`generation_rows`,
:func:`band`, :func:`finish`) are the loops the study modules of every chain
family share; they live here once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .._provenance import atomic_write, provenance, write_json
from .._stats import adjusted_column, mean_ci, z_test
from .._validate import check_int

__all__ = ["StudyResult", "TABLE_COLUMNS", "make_row", "seed_of", "checkpoints", "generation_rows", "band", "finish"]

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
        df["p_adjusted"] = adjusted_column(df, "bonferroni")
        return df

    def passed(self, level: float | None = None) -> bool:
        """True if no Bonferroni-adjusted p-value falls below ``level`` (default: ``self.level``)."""
        from .._validate import check_float

        level = self.level if level is None else check_float("level", level, min=0.0, max=1.0, min_inclusive=False, max_inclusive=False)
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


# ----------------------------------------------------------------------------- shared study helpers


def seed_of(rng):
    """What a study records as its seed: the int (or None) itself, else ``repr(rng)``.

    Examples
    --------
    >>> seed_of(3), seed_of(None)
    (3, None)
    """
    return rng if isinstance(rng, (int, np.integer)) or rng is None else repr(rng)


def checkpoints(G: int, points=None) -> list:
    """The generations a study tabulates: ``points`` (validated, in 0..G) or 1, G/10, G/2, G.

    Parameters
    ----------
    G : int
        Last generation.
    points : sequence of int, optional
        Requested generations; each must lie in ``0..G``.

    Returns
    -------
    list of int
        Sorted, without repeats.

    Raises
    ------
    ValueError
        If a point is not an integer in ``0..G``.

    Examples
    --------
    >>> checkpoints(100)
    [1, 10, 50, 100]
    >>> checkpoints(10, [10, 0, 10])
    [0, 10]
    """
    if points is None:
        pts = {1, max(1, G // 10), max(1, G // 2), G}
    else:
        pts = {check_int("checkpoints", int(c) if float(c).is_integer() else c, min=0, max=G) for c in points}
    return sorted(p for p in pts if 0 <= p <= G and G >= 1)


def _interval(x, positive: bool):
    """mean_ci, or positive_mean_ci (log scale, never below 0) when asked and every value is >= 0."""
    from .._stats import positive_mean_ci

    x = np.asarray(x, dtype=np.float64)
    return positive_mean_ci(x) if positive and np.all(x >= 0) else mean_ci(x)


def generation_rows(label: str, values: np.ndarray, theory, points, test=True, *, positive: bool = False) -> list:
    """One table row per generation in ``points``: mean of ``values[:, t]``, its CI, theory, z-test p-value.

    Parameters
    ----------
    label : str
        Quantity name; rows are called ``"LABEL, generation t"``.
    values : ndarray, shape (R, G + 1)
        Simulated replicates.
    theory : ndarray, shape (G + 1,), or None
        Expected values; None (or a non-finite entry) gives no p-value.
    points : sequence of int
    test : bool
        False to tabulate without a p-value (e.g. a heavy-tailed quantity,
        see :func:`collapse_theory._stats.z_testable`).
    positive : bool
        For a quantity that cannot be negative (a variance, W2^2, a squared
        error): the interval of :func:`collapse_theory._stats.positive_mean_ci`,
        which respects the support, when every value is >= 0.

    Returns
    -------
    list of dict
        Rows of :data:`TABLE_COLUMNS`.

    Examples
    --------
    >>> rows = generation_rows("x", np.ones((3, 2)), np.ones(2), [1])
    >>> rows[0]["quantity"], rows[0]["p_value"]
    ('x, generation 1', 1.0)
    """
    rows = []
    for t in points:
        x = values[:, t]
        m, lo, hi, _ = _interval(x, positive)
        th = np.nan if theory is None else float(theory[t])
        p = z_test(x, th) if (test and np.isfinite(th)) else np.nan
        rows.append(make_row(f"{label}, generation {t}", m, lo, hi, th, p))
    return rows


def band(values: np.ndarray, *, positive: bool = False) -> dict:
    """Mean and 95% CI over replicates (axis 0): ``{"mean", "low", "high"}``, each shape ``values.shape[1:]``.

    ``positive``: as in :func:`generation_rows` (the log-scale interval for non-negative values).

    Examples
    --------
    >>> sorted(band(np.ones((4, 3))))
    ['high', 'low', 'mean']
    """
    m, lo, hi, _ = _interval(values, positive)
    return {"mean": m, "low": lo, "high": hi}


def finish(name: str, rows: list, curves: dict, params: dict, rng, t0: float, plot) -> StudyResult:
    """The :class:`StudyResult` of a study started at ``time.perf_counter() == t0``, with provenance.

    Examples
    --------
    >>> res = finish("demo", [make_row("x", 1.0)], {}, {"M": 1}, 0, time.perf_counter(), None)
    >>> res.name, res.provenance["seed"]
    ('demo', 0)
    """
    return StudyResult(
        name=name,
        rows=rows,
        curves=curves,
        params=params,
        provenance=provenance(params, seed=seed_of(rng), wall_time_s=time.perf_counter() - t0),
        plot=plot,
    )
