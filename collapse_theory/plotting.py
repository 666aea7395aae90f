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
    from ._validate import check_float, check_int

    nrows, ncols = check_int("nrows", nrows, min=1), check_int("ncols", ncols, min=1)
    width, height = check_float("width", width, min=0.0, min_inclusive=False), check_float("height", height, min=0.0, min_inclusive=False)
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=True, **subplot_kw)
    return fig, axes


def figure_png(fig: Figure, dpi: int = 110) -> bytes:
    """The figure as PNG bytes."""
    from ._validate import check_instance, check_int

    check_instance("fig", fig, Figure, "a matplotlib Figure")
    dpi = check_int("dpi", dpi, min=1)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def band(ax, x, mean, low, high, *, label=None, color=SIM_COLOR):
    """A simulated mean with its confidence band."""
    from ._validate import check_array

    x = check_array("x", x, ndim=1, finite=False)
    for name, v in (("mean", mean), ("low", low), ("high", high)):
        if np.shape(check_array(name, v, finite=False)) != x.shape:
            raise ValueError(f"{name} must have the shape of x {x.shape}, got {np.shape(v)}")
    if not hasattr(ax, "plot") or not hasattr(ax, "fill_between"):
        raise TypeError(f"ax must be a matplotlib Axes, got {type(ax).__name__}")
    ax.plot(x, mean, color=color, label=label)
    ax.fill_between(x, low, high, color=color, alpha=0.25, linewidth=0)
