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
# # 04 — A Gaussian mixture refitted to its own samples
#
# The paper's supplementary GMM experiment, as the authors' notebook: `D_0`
# is 1000 draws of one N(0, I_2) blob (`make_blobs(1000, centers=[[0, 0]])`);
# fit scikit-learn's `GaussianMixture` (two components, full covariances,
# `tol=1e-5`, up to 2000 EM iterations), draw 1000 points from the fit,
# refit, and so on for 2000 generations. Now all three error sources act:
# finite samples, a model family that cannot represent its own sampling
# noise, and EM's own bias. The authors saw the component standard deviation
# sqrt(tr C_k / 2) fall from about 0.89 to about 0.01. (The earlier two-blob
# setting is `truth="two-blobs"`.)
#
# A run is a `GenerationalRun`, written generation by generation (it can be
# resumed) and measured with the same Wasserstein estimators as the toy
# chains (`collapse_theory.runs.evaluate`).

# %%
import os

import numpy as np

import collapse_theory as ct
from collapse_theory.plotting import SIM_COLOR, THEORY_COLOR, new_figure
from collapse_theory.runs.evaluate import evaluate

SMALL = os.environ.get("COLLAPSE_THEORY_NOTEBOOK_SIZE", "full") == "small"
G = 20 if SMALL else 500
M = 300 if SMALL else 1000
gmm = ct.runs.gmm

# %% [markdown]
# ## The true distribution and one run

# %%
truth = gmm.paper_blob_truth()
truth

# %%
run = gmm.run(generations=G, sample_size=M, rng=0, l2_reference="separate-fit", show_progress=not SMALL)
len(run.generations), run.generations[-1].params["covariances"].round(3)

# %% [markdown]
# Density contours at a few generations, with each generation's stored
# sample as dots:

# %%
snapshots = [g for g in (0, 5, 10, 20, 50, 100, 200, 500) if g <= G]
gmm.density_figure(run, generations=snapshots)

# %%
gmm.metric_figure(run)

# %%
gmm.std_figure(run)

# %% [markdown]
# ## Measured with the toolkit's estimators
#
# `evaluate` returns a tidy table: the mixture-Wasserstein distance to
# generation 0 and to the truth, and the model's mass in the truth's
# lowest-density 1%, 5% and 10% regions (the tails).

# %%
table = evaluate(run, metrics=("w2_squared_to_initial", "w2_squared_to_truth", "tail_mass"), show_progress=False)
table.head(8)

# %%
gmm.summary_table(run, generations=snapshots)

# %%
w2 = table.query("metric == 'w2_squared_to_truth'")
fig, ax = new_figure(1, 1)
ax.plot(w2["generation"], w2["value"], color=SIM_COLOR, label="replace")
ax.set_xlabel("generation")
ax.set_ylabel("MW2^2 to D_0")
ax.set_title(f"GMM refitted on M = {M} points")

# %% [markdown]
# ## Mixing in fresh data
#
# With 10% of each dataset drawn from the truth, the mixture stays close to
# it: the same run with `Mixing.fresh(real=0.1)`.

# %%
fresh = gmm.run(generations=G, sample_size=M, rng=0, mixing=ct.Mixing.fresh(real=0.1), show_progress=not SMALL)
w2f = evaluate(fresh, metrics=("w2_squared_to_truth",), show_progress=False)
ax.plot(w2f["generation"], w2f["value"], color=THEORY_COLOR, label="10% fresh data")
ax.legend()
print(f"final MW2^2 to D_0: replace {w2['value'].iloc[-1]:.3f}, fresh {w2f['value'].iloc[-1]:.3f}")
fig

# %% [markdown]
# ## Component standard deviation
#
# The paper's summary number is sqrt(tr C_k / 2) per component (stored as
# `component_std`); the square root of the smallest eigenvalue, the
# narrowest direction, is stored beside it as `component_min_eigen_std`.

# %%
sd, sd_fresh = run.metric("component_std"), fresh.metric("component_std")
print(f"smaller component's s.d. sqrt(tr C / 2): generation 0 {sd[0].min():.3f}, generation {G} {sd[-1].min():.3f} (fresh data: {sd_fresh[-1].min():.3f})")
