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
# # 03 — Measuring collapse: Wasserstein-2 estimators that stay exact
#
# Every distance in this toolkit is the squared 2-Wasserstein distance
# `W2^2` (functions say `w2_squared_*`). Collapse drives variances to zero,
# exactly where the usual formulas fail: a regulariser added to covariances,
# the trace formula's cancellation, `|x|^2 + |y|^2 - 2 x.y` costs, an OT
# solver stopped at its iteration cap. `collapse_theory.wasserstein` avoids
# all of them; this notebook shows where it matters.

# %%
import os

import numpy as np

import collapse_theory as ct
from collapse_theory import wasserstein as w
from collapse_theory.plotting import SIM_COLOR, THEORY_COLOR, new_figure

SMALL = os.environ.get("COLLAPSE_THEORY_NOTEBOOK_SIZE", "full") == "small"
rng = np.random.default_rng(0)

# %% [markdown]
# ## Gaussians: the closed form without cancellation
#
# In 1-D, `W2^2(N(m1, s1^2), N(m2, s2^2)) = (m1 - m2)^2 + (s1 - s2)^2`. The
# textbook trace form `s1^2 + s2^2 - 2 s1 s2` subtracts numbers of size
# `s^2`: for nearly equal variances it returns round-off.

# %%
for eps in (1e-3, 1e-6, 1e-9):
    s1, s2 = 1.0, 1.0 + eps
    trace_form = s1**2 + s2**2 - 2 * s1 * s2
    ours = w.w2_squared_gaussian(0.0, s1**2, 0.0, s2**2)
    print(f"s2 - s1 = {eps:g}: exact {eps**2:.6e}  ours {ours:.6e}  trace form {trace_form:.6e}")

# %% [markdown]
# A chain that collapses to variances below the smallest double keeps its
# log-variance; the distance is computed from it directly.

# %%
for lv in (-10.0, -700.0, -2000.0):
    print(f"log sigma^2 = {lv}: W2^2 to N(0, 1) = {w.w2_squared_gaussian_logvar(0.0, lv, 0.0, 0.0):.12f}")

# %% [markdown]
# In d dimensions, a covariance collapsed in one direction: ours against the
# trace formula in float64.

# %%
from scipy.linalg import sqrtm

Q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
for v in (1e-4, 1e-8, 1e-12):
    C1 = Q @ np.diag([1.0, 2.0, v]) @ Q.T
    C2 = Q @ np.diag([1.0, 2.0, 4 * v]) @ Q.T
    r = np.real(sqrtm(C2))
    naive = np.trace(C1) + np.trace(C2) - 2 * np.trace(np.real(sqrtm(r @ C1 @ r)))
    ours = w.w2_squared_gaussian(np.zeros(3), C1, np.zeros(3), C2)
    print(f"v = {v:g}: exact {v:.3e}  ours {ours:.6e}  trace formula {naive:.3e}")

# %% [markdown]
# ## Samples: exact optimal transport
#
# `w2_squared_empirical` is exact: by quantile functions in 1-D, by the
# network simplex (with its status checked) in d-D. Between a sample and a
# Gaussian, `w2_squared_to_gaussian` integrates the quantile difference in
# closed form. Here is how fast the empirical distribution of `n` standard
# normal points approaches `N(0, 1)`.

# %%
ns = [10, 30, 100, 300, 1000] if SMALL else [10, 30, 100, 300, 1000, 3000, 10000]
reps = 20 if SMALL else 200
mean_w2 = [np.mean([w.w2_squared_to_gaussian(rng.standard_normal(n), 0.0, 1.0) for _ in range(reps)]) for n in ns]
fig, ax = new_figure(1, 1)
ax.loglog(ns, mean_w2, "o-", color=SIM_COLOR, label="E W2^2(empirical, N(0,1))")
ax.loglog(ns, [mean_w2[0] * ns[0] / n for n in ns], ls="--", color=THEORY_COLOR, label="1/n reference")
ax.set_xlabel("sample size n")
ax.set_ylabel("W2^2")
ax.legend()
fig

# %% [markdown]
# In 2-D, exact OT and its sliced Monte Carlo cousin (which is a different,
# smaller quantity) on samples collapsed around a far-away mean:

# %%
n = 100 if SMALL else 400
for v in (1e-2, 1e-6, 1e-10):
    x = 1e3 + np.sqrt(v) * rng.standard_normal((n, 2))
    y = 1e3 + 2 * np.sqrt(v) * rng.standard_normal((n, 2))
    exact = w.w2_squared_empirical(x, y)
    sliced = w.w2_squared_sliced(x, y, projections=200, rng=0)
    print(f"v = {v:g}: exact OT {exact:.4e} (= {exact / v:.3f} v), sliced {sliced:.4e}")

# %% [markdown]
# ## Gaussian mixtures
#
# For the GMM runs: the mixture-Wasserstein distance (OT between components
# with the Gaussian `W2^2` as cost) is an upper bound on `W2^2` between
# mixtures, exact for single components.

# %%
w0, m0, C0 = [0.5, 0.5], [[-2.0], [2.0]], [[[1.0]], [[1.0]]]
for s in (1.0, 0.5, 0.1, 0.01):
    print(f"component sd {s}: MW2^2 to generation 0 = {w.w2_squared_gmm(w0, m0, C0, w0, m0, [[[s**2]], [[s**2]]]):.4f}")

# %% [markdown]
# ## How the toolkit compares with POT's defaults
#
# The report's Wasserstein section tabulates three collapsed situations,
# computed with this module, with POT called with its defaults, and exactly
# (60-digit arithmetic where needed).

# %%
from collapse_theory.studies.wasserstein import w2_accuracy

w2_accuracy((1e-4, 1e-8) if SMALL else (1e-2, 1e-4, 1e-6, 1e-8, 1e-10), n=50 if SMALL else 200)
