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
# # 07 — Mitigation: how much original data keeps a model from collapsing?
#
# The paper ends with a warning: the value of data from genuine human
# interactions grows as generated content spreads, and access to the original
# distribution must be preserved. It gives no amount. With exact theory the
# question has answers:
#
# * **fresh data** — each new dataset takes a share `gamma` of its points from
#   the original distribution: the discrete chain keeps a stationary diversity
#   `H* > 0` for any `gamma > 0`; the Gaussian chain's moments stay bounded iff
#   `gamma M (2 - gamma) > 1 - gamma` (roughly `gamma > 1/(2M)`);
# * **accumulation** — fit each model to all data gathered so far
#   (Gerstgrasser et al. 2024): errors stay bounded even with no fresh data;
# * **growing samples** — `M_t = M_0 t^a` keeps `E W2^2` bounded iff `a > 1`
#   (notebook 02).

# %%
import os

import numpy as np

import collapse_theory as ct
from collapse_theory.plotting import SIM_COLOR, THEORY_COLOR, new_figure

SMALL = os.environ.get("COLLAPSE_THEORY_NOTEBOOK_SIZE", "full") == "small"
R = 200 if SMALL else 2000
G = 50 if SMALL else 300
thd, thg = ct.theory.discrete, ct.theory.gaussian

# %% [markdown]
# ## Discrete chain: stationary diversity with fresh data
#
# `H* / H_0 = (1 - 1/M)(1 - (1-gamma)^2) / (1 - (1 - 1/M)(1 - gamma)^2)`,
# exact. Even 1% of fresh data keeps a positive share of the diversity, and
# the share grows with `gamma M`.

# %%
p0 = np.full(10, 0.1)
H0 = 1 - np.sum(p0**2)
gammas = np.logspace(-3, 0, 60)
fig, ax = new_figure(1, 1)
for M, style in ((10, ":"), (100, "--"), (1000, "-")):
    ratio = [thd.stationary_heterozygosity(p0, M, mixing=ct.Mixing.fresh(real=float(g))) / H0 for g in gammas]
    ax.semilogx(gammas, ratio, style, color=THEORY_COLOR, label=f"M = {M}")
ax.set_xlabel("share of fresh original data gamma")
ax.set_ylabel("H* / H_0 (exact)")
ax.legend()
fig

# %% [markdown]
# The simulated chain settles where the theory says:

# %%
het = ct.studies.heterozygosity(p0, M=20, generations=G, replicates=R, rng=0, mixing="fresh:0.05")
assert het.passed(), het.table()
het.table()

# %%
het.figure()

# %% [markdown]
# ## Gaussian chain: every workflow
#
# Every joint moment of the chain's state follows an exact linear recursion,
# so `E sigma_t^2`, `E (mu_t - mu_0)^2` are exact and `E W2^2` is enclosed by
# an exact two-sided bracket (`theory.gaussian.workflow_moments`). With fresh
# data a stationary state exists above `fresh_stability_threshold(M)`;
# accumulation converges for any share, including 0 (Dey & Donoho's pi^2/6).

# %%
for M in (5, 20, 100):
    print(f"M = {M:3d}: stationary moments for gamma > {thg.fresh_stability_threshold(M):.4f} (about 1/(2M) = {1 / (2 * M):.4f})")
print("accumulate, M = 20: long-run (E sigma^2, E (mu - mu_0)^2) =",
      np.round(thg.long_run_moments(20, mixing=ct.Mixing.accumulate()), 4))
print("accumulate: exact limit of E(mu_t - mu0)^2 / E(mu_1 - mu0)^2, M = 20:",
      round(thg.accumulate_limits(20)["ratio"], 4), "(pi^2/6 =", round(np.pi**2 / 6, 4), ")")

# %%
specs = {"replace": "replace", "fresh 10%": "fresh:0.1", "accumulate": "accumulate",
         "accumulate-subsample": "accumulate-subsample", "augment": "augment:1"}
runs = {name: ct.studies.mitigation(M=20, mixing=spec, generations=G, replicates=R, rng=0) for name, spec in specs.items()}
fig, ax = new_figure(1, 1, width=6)
for (name, st), color in zip(runs.items(), (THEORY_COLOR, SIM_COLOR, "tab:green", "tab:purple", "tab:orange")):
    c = st.curves
    ax.plot(c["generation"], c["w2_mean"], color=color, label=f"{name}: simulated E W2^2")
    ax.fill_between(c["generation"], c["w2_theory_low"], c["w2_theory_high"], color=color, alpha=0.25, lw=0)
ax.set_yscale("log")
ax.set_xlabel("generation")
ax.set_ylabel("E W2^2 to D_0 (bands: exact theory)")
ax.legend(fontsize=8)
fig

# %%
runs["fresh 10%"].table()

# %% [markdown]
# ## A map over (M, gamma) with a sweep
#
# `collapse_theory.sweep` runs a study over a grid (here in this process; on a
# Dask cluster with `scheduler=...`), each cell with its own seed, and
# returns an `xarray.Dataset`. Here: discrete heterozygosity after `G`
# generations over sample size and fresh share.

# %%
grid = {
    "study": "heterozygosity",
    "seed": 0,
    "replicates": 100 if SMALL else 1000,
    "fixed": {"generations": G, "K": 10, "checkpoints": [G]},
    "axes": {"M": [10, 100] if SMALL else [10, 30, 100, 300],
             "mixing": ["fresh:0.01", "fresh:0.1"] if SMALL else ["fresh:0.003", "fresh:0.01", "fresh:0.03", "fresh:0.1", "fresh:0.3"]},
}
ds = ct.sweep.run(grid, workers=1, show_progress=False)
ds

# %%
quantity = [q for q in ds["quantity"].values if str(q).endswith(f"generation {G}")][0]
sim = ds["simulated"].sel(quantity=quantity)
theory = ds["theory"].sel(quantity=quantity)
import pandas as pd

pd.concat({"simulated E H_G": sim.to_pandas(), "exact E H_G": theory.to_pandas()}, axis=1).round(4)
