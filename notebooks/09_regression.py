# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 09 — Regression collapse: linear models refitted on their own labels
#
# After the paper, the theory of model collapse moved to linear regression,
# where every generation's error has a closed form. Generation 0 is real data
# `y = X w* + eps` (`X` is `T x d`, Gaussian rows, noise variance `sigma^2`);
# generation `t` fits OLS to the labels of generation `t - 1` and relabels
# with its own prediction plus fresh noise.
#
# * **replace** (Gerstgrasser et al. 2024): `E||w_n - w*||^2 = n sigma^2 d/(T-d-1)`, growing without bound;
# * **accumulate** (every label set kept): `sigma^2 d/(T-d-1) sum_{i<=n} 1/i^2`, bounded by the `pi^2/6` factor;
# * **fresh design, downstream fit** (Dohmatob, Feng & Kempe 2024);
# * **strong collapse** (Dohmatob et al. 2025): a share `p` of labels from a
#   wrong model leaves a floor `p^2 ||w_s - w*||^2` that more data does not remove.
#
# The chain is simulated exactly from sufficient statistics (Gram matrices
# and Gaussian moment vectors), not by refitting rows.

# %%
import os

import numpy as np

import collapse_theory as ct
from collapse_theory._stats import mean_ci
from collapse_theory.plotting import SIM_COLOR, THEORY_COLOR, band, new_figure

SMALL = os.environ.get("COLLAPSE_THEORY_NOTEBOOK_SIZE", "full") == "small"
R = 500 if SMALL else 10000
G = 12 if SMALL else 40
d, T = 10, 100
th = ct.theory.regression

# %% [markdown]
# ## The numbers at d = 10, T = 100, sigma^2 = 1
#
# One OLS fit has `d/(T-d-1) = 0.11236`. Replace at `n = 12`: 1.348;
# accumulate at `n = 12`: 0.176; the accumulate limit: 0.185.

# %%
for n in (1, 2, 12):
    print(f"n = {n:2d}: replace {th.expected_error(n, T, d):.4f}, accumulate {th.expected_error(n, T, d, mixing='accumulate'):.4f}")
print(f"accumulate limit (pi^2/6) d/(T-d-1) = {th.accumulate_limit(T, d):.4f}")

# %% [markdown]
# ## Simulation against theory
#
# The exact path and explicit refitting agree in distribution (tested in
# `tests/test_regression_chain.py`); here the exact path's means are set
# against the closed forms.

# %%
fig, ax = new_figure(1, 1, width=6.5, height=4.2)
for mix, col in (("replace", SIM_COLOR), ("accumulate", "tab:green")):
    run = ct.RegressionChain(d, T, mixing=mix).simulate(G, R, rng=1)
    m, lo, hi, _ = mean_ci(run.error)
    band(ax, np.arange(G + 1), m, lo, hi, color=col, label=f"{mix}: simulated")
    ax.plot(np.arange(G + 1), th.expected_error(np.arange(G + 1), T, d, mixing=mix), color=THEORY_COLOR, ls="--", lw=1)
    print(mix, "n = 12:", round(float(run.error[:, min(12, G)].mean()), 4), "exact", round(th.expected_error(min(12, G), T, d, mixing=mix), 4))
ax.axhline(th.accumulate_limit(T, d), color="k", ls=":", label="pi^2/6 limit")
ax.set(xlabel="generation", ylabel="E ||w_t - w*||^2", title="replace vs accumulate (dashed: exact)")
ax.legend(fontsize=8)
fig  # noqa: B018  (a notebook cell shows its last value)

# %% [markdown]
# ## Fresh real data and a fresh design
#
# With a share of every dataset labelled by `w*` and a fresh Gaussian design,
# the error follows an exact recursion (moments of the Gram share of the
# real rows) and settles at a stationary value.

# %%
study = ct.studies.regression_error(d, T, G, mixing="fresh:0.2", design="fresh", replicates=R, rng=2)
print(study.table()[["quantity", "simulated", "theory", "p_value"]].to_string(index=False))
study.figure()

# %% [markdown]
# ## Strong collapse
#
# A share `p` of labels from a wrong model `w_s`: the exact error
# `c(pT) ||w_s - w*||^2 + sigma^2 d/(T-d-1)` falls with `T` only to `p^2 ||w_s - w*||^2`.

# %%
ws = np.zeros(d)
for TT in (50, 200, 1000, 10000):
    print(f"T = {TT:5d}: exact {th.expected_error(1, TT, d, contamination=(0.2, ws)):.4f}, floor {th.strong_collapse_floor(0.2, ws):.4f}")
