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
# # 01 — Discrete collapse: the model is the empirical distribution
#
# Shumailov et al. (Nature 631, 2024), section *Discrete distributions with
# exact approximation*: generation 0 is a distribution `p0` over `K` states;
# each later generation is the empirical distribution of `M` samples from the
# one before. No learning error at all, only finite samples, and still:
#
# * the rare states (the tails) disappear first, and once gone never return;
# * the chain is absorbed in a single state with probability 1, state `i` with
#   probability `p0_i`;
# * diversity (heterozygosity `H = 1 - sum p_i^2`) decays exactly as
#   `H_0 (1 - 1/M)^t`.
#
# This is neutral Wright–Fisher drift, so all of it is exact at finite `M`
# (`collapse_theory.theory.discrete`). Set `COLLAPSE_THEORY_NOTEBOOK_SIZE=small`
# for a quick run (the test suite does).

# %%
import os

import numpy as np

import collapse_theory as ct
from collapse_theory.plotting import SIM_COLOR, THEORY_COLOR, new_figure

SMALL = os.environ.get("COLLAPSE_THEORY_NOTEBOOK_SIZE", "full") == "small"
R = 200 if SMALL else 2000  # replicates
G = 40 if SMALL else 200  # generations

# %% [markdown]
# ## One chain, generation by generation
#
# A Zipf-like `p0` over ten states, refitted on `M = 50` samples per
# generation. Each band is one state's probability: the thin ones at the top
# (the tail) vanish within a few dozen generations.

# %%
p0 = ct.studies.discrete.resolve_p0("zipf", K=10)
chain = ct.DiscreteChain(p0, sample_size=50)
one = chain.simulate(G, 1, rng=1, record=("probs", "support"))
fig, ax = new_figure(1, 1, width=7)
ax.stackplot(one.generation, one.probs[0].T)
ax.set_xlabel("generation")
ax.set_ylabel("probability of each state")
ax.set_title(f"one chain, M = 50: support {one.support[0, 0]} -> {one.support[0, -1]} states")
fig

# %% [markdown]
# ## The tails go first
#
# `tail_loss` runs many replicates and puts beside them the exact expected
# support `sum_i P(X_i(t) > 0)`, where each state's count is a two-type
# binomial chain, and the expected original mass still alive.

# %%
tails = ct.studies.tail_loss(K=20, M=100, generations=G, replicates=R, rng=0)
tails.table()

# %%
tails.figure()

# %% [markdown]
# ## Heterozygosity decays as `(1 - 1/M)^t`
#
# The derivation is done symbolically: the multinomial second moment gives
# `E[H_{t+1} | p_t] = (1 - 1/M) H_t`.

# %%
print(ct.theory.discrete.derivations()["heterozygosity"])

# %%
het = ct.studies.heterozygosity(K=10, M=20, generations=G, replicates=R, rng=0)
assert het.passed(), het.table()
het.figure()

# %% [markdown]
# ## Absorption: exact against the diffusion approximation
#
# The time until one state holds everything has an exact mean from the
# fundamental matrix `N = (I - Q)^-1` of the binomial transition matrix; the
# classical diffusion value (Kimura & Ohta 1969) overestimates it by about
# two generations.

# %%
for M in (50, 100):
    exact = ct.theory.discrete.absorption_time([0.5, 0.5], M, method="exact")
    diff = ct.theory.discrete.absorption_time([0.5, 0.5], M, method="diffusion")
    print(f"M = {M}: exact E T = {exact.mean:.2f}, diffusion {diff.mean:.2f}")
assert round(ct.theory.discrete.absorption_time([0.5, 0.5], 50).mean, 2) == 67.52

# %%
ab = ct.studies.absorption([0.2, 0.3, 0.5], M=30, replicates=R, rng=0)
ab.table()

# %%
ab.figure()

# %% [markdown]
# ## Fresh data stops the collapse
#
# If each generation takes a share `gamma` of its samples from `p0`, every
# state keeps coming back and the heterozygosity settles at an exact
# stationary value instead of 0.

# %%
fresh = ct.Mixing.fresh(real=0.1)
H_star = ct.theory.discrete.stationary_heterozygosity(p0, 20, mixing=fresh)
het_fresh = ct.studies.heterozygosity(p0, M=20, generations=G, replicates=R, rng=0, mixing=fresh)
print(f"H_0 = {1 - np.sum(p0**2):.3f}, stationary H* with 10% fresh data = {H_star:.3f}")
het_fresh.figure()

# %%
t = np.arange(G + 1)
fig, ax = new_figure(1, 1)
for name, mix, color in (("replace", ct.Mixing.replace(), THEORY_COLOR), ("fresh 10%", fresh, SIM_COLOR)):
    ax.plot(t, ct.theory.discrete.heterozygosity(p0, 20, t, mixing=mix), color=color, label=name)
ax.set_xlabel("generation")
ax.set_ylabel("E H_t (exact)")
ax.legend()
fig
