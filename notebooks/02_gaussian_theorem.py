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
# # 02 — The Gaussian theorem (Theorem 3.1)
#
# Fit a Gaussian to `M` samples (sample mean, unbiased sample variance), draw
# the next `M` samples from the fit, and repeat. Shumailov et al. prove that
# the distance to the original grows without bound,
# `E W2^2(N(mu_n, sigma_n^2), D_0) -> infinity`, while `sigma_n -> 0` almost
# surely — even though `E sigma_n^2 = sigma_0^2` for every `n`.
#
# Everything here is exact at finite `M`: `sigma_n^2 / sigma_0^2` is a product
# of independent `chi2_{M-1} / (M-1)` variables, so the chain can be simulated
# by drawing sufficient statistics (`method="exact"`, cost independent of `M`)
# and its moments have closed forms (`collapse_theory.theory.gaussian`).

# %%
import os

import numpy as np

import collapse_theory as ct
from collapse_theory.plotting import SIM_COLOR, THEORY_COLOR, new_figure

SMALL = os.environ.get("COLLAPSE_THEORY_NOTEBOOK_SIZE", "full") == "small"
R = 300 if SMALL else 4000
G = 100 if SMALL else 1000
th = ct.theory.gaussian

# %% [markdown]
# ## Almost-sure collapse with a constant mean variance
#
# The mean of `log sigma_n^2` falls by `psi((M-1)/2) + log(2/(M-1)) ~ -1/(M-1)`
# per generation, so the typical (median) variance goes to 0, while the mean
# variance is held up by ever rarer, ever larger values.

# %%
M = 20
print(f"log-variance drift per generation at M = {M}: {th.log_variance_drift(M):.5f} (about -1/(M-1) = {-1 / (M - 1):.5f})")
decay = ct.studies.variance_decay(M=M, generations=G, replicates=R, rng=0)
decay.table()

# %%
decay.figure()

# %% [markdown]
# ## `E W2^2`: exact, and the paper's first-order formula
#
# For the unbiased estimator
# `E W2^2 = sigma_0^2 (sum_t 1/M_t + 2 - 2 prod_t c4(M_t))`, with `c4` the
# classical bias constant of the sample standard deviation. Its first-order
# term in `1/M` is the paper's `(3/2) sigma_0^2 sum_t 1/M_t`; SymPy checks it.

# %%
d = th.derivations()
print("exact E W2^2 (constant M):", d["w2_exact"].result)
print("first-order term equals the paper's:", d["first_order_matches_paper"].result)

# %%
n = np.array([1, 10, 100])
for M in (5, 20, 100):
    exact = th.expected_w2_squared(n, M)
    paper = th.paper_w2_squared(n, M)
    print(f"M = {M:3d}: exact {np.round(exact, 4)}  paper {np.round(paper, 4)}  ratio {np.round(exact / paper, 3)}")

# %%
w2 = ct.studies.w2_growth(M=20, generations=min(G, 200), replicates=R, rng=0)
w2.table()

# %%
w2.figure()

# %% [markdown]
# ## Growing the sample size: bounded only when growth is superlinear
#
# With `M_t = M_0 t^a` the error `E W2^2` converges iff `sum_t 1/M_t` does,
# that is iff `a > 1`.

# %%
for a in (0.5, 1.0, 1.5, 2.0):
    print(f"a = {a}: bounded = {th.schedule_is_bounded(a)}", end="")
    print(f", limit of E W2^2 = {th.schedule_limit(10, a):.4f}" if th.schedule_is_bounded(a) else "")

# %%
sched = ct.studies.schedules(M0=10, exponent=2.0, generations=min(G, 200), replicates=R, rng=0)
sched.figure()

# %% [markdown]
# ## Exact simulation against point sampling
#
# The exact path draws `(mean, scatter)` instead of points; refitting drawn
# points gives the same law. A two-sample KS test compares `sigma_5^2` from
# both at `M = 10`.

# %%
from scipy import stats

a = ct.GaussianChain(0.0, 1.0, sample_size=10, method="exact").simulate(5, R, rng=1, show_progress=False)
b = ct.GaussianChain(0.0, 1.0, sample_size=10, method="sample").simulate(5, R, rng=2, show_progress=False)
p = stats.ks_2samp(a.log_var[:, 5], b.log_var[:, 5]).pvalue
print(f"KS p-value, exact vs sampled log sigma_5^2: {p:.3f}")
fig, ax = new_figure(1, 1)
q = np.linspace(0.01, 0.99, 99)
ax.plot(np.quantile(b.log_var[:, 5], q), np.quantile(a.log_var[:, 5], q), ".", color=SIM_COLOR)
lim = [a.log_var[:, 5].min(), a.log_var[:, 5].max()]
ax.plot(lim, lim, color=THEORY_COLOR)
ax.set_xlabel("point sampling: quantiles of log sigma_5^2")
ax.set_ylabel("exact path: quantiles")
fig
