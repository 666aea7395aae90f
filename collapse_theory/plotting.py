"""Matplotlib figures without pyplot state.

Figures are created as :class:`matplotlib.figure.Figure` objects, never
through ``pyplot``, so building one leaks no global state and needs no
display. Save with ``fig.savefig(path)``; embed with :func:`figure_png`.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.figure import Figure

__all__ = ["new_figure", "figure_png", "band", "SIM_COLOR", "THEORY_COLOR"]

SIM_COLOR = "#1f77b4"
THEORY_COLOR = "#d62728"


def new_figure(nrows: int = 1, ncols: int = 1, *, width: float = 5.0, height: float = 3.6, **subplot_kw):
    """A Figure and its axes (squeezed like ``pyplot.subplots``)."""
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=True, **subplot_kw)
    return fig, axes


def figure_png(fig: Figure, dpi: int = 110) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def band(ax, x, mean, low, high, *, label=None, color=SIM_COLOR):
    """A simulated mean with its confidence band."""
    x = np.asarray(x)
    ax.plot(x, mean, color=color, label=label)
    ax.fill_between(x, low, high, color=color, alpha=0.25, linewidth=0)
