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
# # 10 — How the next generation is sampled: temperature, top-k, top-p, curation
#
# The paper's discrete chain resamples its fitted model as it is. Language
# models are decoded with a temperature and a truncation (top-k, top-p,
# min-p), and their outputs are curated. `ct.Sampler` applies these operators
# to the discrete chain's model before each generation's `M` samples are
# drawn, in the order Hugging Face `transformers` applies its warpers
# (temperature, top-k, top-p, min-p), ties to the lower state index.
#
# Exact theory (`ct.theory.sampling`): the infinite-population maps
# (temperature composes to `p_t ∝ p_0^(τ^-t)`, top-p stops at a fixed point of
# at most `⌈1/(1-p)⌉ - 1` states, best-of-K Bradley–Terry tilts towards
# `p e^r / Z`), exact finite-M values for a top-k cut and for generation 1,
# and the K-type count chain for small K and M.

# %%
import os

import numpy as np

import collapse_theory as ct
from collapse_theory.plotting import SIM_COLOR, THEORY_COLOR, new_figure
from collapse_theory.theory import sampling as ths

SMALL = os.environ.get("COLLAPSE_THEORY_NOTEBOOK_SIZE", "full") == "small"
K, M, G = (200, 200, 8) if SMALL else (1000, 1000, 20)
R = 30 if SMALL else 300

# %% [markdown]
# ## The sampler as a map
# Top-p keeps the smallest set of most probable states whose mass reaches `p`;
# iterated, it stops once every state is above `1 - p`.

# %%
w = np.arange(1, K + 1, dtype=float) ** -1.1
p0 = w / w.sum()
for top_p in (0.9, 0.95):
    fp, steps = ths.top_p_fixed_point(p0, top_p)
    print(f"top-p {top_p}: fixed point with {np.count_nonzero(fp)} states after {steps} generations "
          f"(bound {ths.top_p_max_support(top_p)})")

# %% [markdown]
# ## Simulation beside theory
# Pure resampling and top-k have exact finite-M curves (dashed); every sampler
# has its exact generation-1 value (crosses) and its infinite-population map
# (dotted).

# %%
res = ct.studies.sampling_curation("zipf", M, K=K, generations=G, replicates=R, rng=0)
res.figure()

# %%
res.table().query("p_value == p_value")[["quantity", "simulated", "theory", "p_value"]].head(12)

# %% [markdown]
# ## Curation raises the expected reward
# Best-of-4 with Bradley–Terry choice: simulated expected reward against the
# infinite-population map of Ferbach et al.

# %%
from collapse_theory.studies.sampling import reward_figure

reward_figure(res)

# %% [markdown]
# ## Exact small-M values from the count chain
# Three states, `M = 6`: the exact expected heterozygosity of the temperature-0.6
# chain against simulation.

# %%
small = np.array([0.5, 0.3, 0.2])
smp = ct.Sampler(temperature=0.6)
ex = ths.count_chain(small, 6, 6, smp)
run = ct.DiscreteChain(small, 6, sampler=smp).simulate(6, 2000 if not SMALL else 400, rng=1, record=("heterozygosity",))
fig, ax = new_figure(1, 1)
ax.plot(run.heterozygosity.mean(axis=0), "o", color=SIM_COLOR, label="simulated mean")
ax.plot(ex["heterozygosity"], "--", color=THEORY_COLOR, label="exact (count chain)")
ax.set(xlabel="generation t", ylabel="E H_t", title="temperature 0.6, K = 3, M = 6")
ax.legend()

# %% [markdown]
# ## A tale of tails
# A memorising learner trained on `T` samples errs on every test state it has
# not seen. Cutting the training law at rank `k` leaves an error floor equal to
# the tail mass beyond `k` (Dohmatob et al. 2024).

# %%
T = np.unique(np.geomspace(10, 1e5, 30).astype(int))
fig, ax = new_figure(1, 1)
ax.loglog(T, ths.memorising_test_error(p0, T), label="clean")
for k in (10, 50):
    ax.loglog(T, ths.tail_cut_test_error(p0, k, T), label=f"tail cut at k = {k}")
ax.set(xlabel="training samples T", ylabel="test error", title=f"memorising learner, Zipf(1.1), K = {K}")
ax.legend()
