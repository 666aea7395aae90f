"""Small, fast fake report sections for the page tests (no study runs: a second or two in all)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from collapse_theory.report import Section

CALLS: dict = {}


def _fig(kind: str, width: float = 5.0, height: float = 3.6) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    ax = fig.subplots()
    x = np.linspace(0, 1, 50)
    for j, c in enumerate(("tab:blue", "tab:red", "tab:green")):
        ax.plot(x, x ** (j + 1), color=c, label=f"{kind} replicate {j}")
    ax.set_title(kind)
    ax.legend()
    return fig


def alpha(*, quick, seed):
    CALLS["alpha"] = CALLS.get("alpha", 0) + 1
    rng = np.random.default_rng(seed)
    long = pd.DataFrame({
        "quantity": [f"E X at generation {t}" for t in range(40)],
        "simulated": rng.normal(size=40),
        "ci_low": rng.normal(size=40) - 2,
        "ci_high": rng.normal(size=40) + 2,
        "theory": np.r_[np.zeros(39), np.inf],
        "p_value": np.r_[np.full(30, 0.5), np.full(9, np.nan), 1e-12],
    })
    wide = pd.DataFrame({f"a_rather_long_column_name_{i}": rng.normal(size=4) for i in range(14)})
    wide.insert(0, "workflow", ["replace", "fresh:0.1", "accumulate", "accumulate-subsample"])
    distances = pd.DataFrame({"generation": [0, 1, 2], "w2_squared_to_initial": [1.27e-31, 0.05, 0.11]})
    return Section(
        "Alpha: a section with every kind of table",
        caption="What the paper claims and what was measured, with math: $\\frac{\\sigma_0^2 (n - 8)}{16 M^2}$.",
        command="collapse-theory alpha",
        figures={"curves": _fig("curves"), "panels": _fig("three panels", width=13.0, height=3.4)},
        captions={"curves": "Curves of $x^k$ for k = 1, 2, 3, one colour and legend entry each; look for the order.",
                  "panels": "A wide figure of three panels; look for nothing in particular."},
        tables={"long": long, "wide": wide, "distances": distances},
        notes={"long": {"theory": {"inf": "infinite: E X diverges at the last generation"}}},
    )


def beta(*, quick, seed):
    CALLS["beta"] = CALLS.get("beta", 0) + 1
    table = pd.DataFrame({"quantity": ["a", "b"], "simulated": [1.0, 2.0], "theory": [1.0, 3.0], "p_value": [0.5, 1e-9]})
    return Section("Beta", caption="c", command="collapse-theory beta", figures={"f": _fig("beta")},
                   captions={"f": "One line per replicate."}, tables={"t": table})


def uncaptioned(*, quick, seed):
    return Section("Uncaptioned", figures={"g": _fig("no caption")}, tables={})


def slow(*, quick, seed):
    """Sleeps, and looks at the page meanwhile (what a reader would see while it runs)."""
    import collapse_theory.report as report

    out = CALLS["out"]
    CALLS["page_while_running"] = (out / "index.html").read_text()
    CALLS["summary_while_running"] = pd.read_csv(out / "data" / "summary.csv")
    time.sleep(CALLS.get("sleep", 0.5))
    return Section("Slow", caption="slow", figures={"s": _fig("slow")}, captions={"s": "Slow curves."},
                   tables={"t": pd.DataFrame({"x": [1, 2]})}, data={"heartbeat_s": report.HEARTBEAT_S})


def broken(*, quick, seed):
    raise RuntimeError("kaboom")


def importer(*, quick, seed):
    """Imports a third-party package not loaded before (named in CALLS['import'])."""
    import importlib

    importlib.import_module(CALLS["import"])
    return Section("Importer", tables={"t": pd.DataFrame({"x": [1]})})
