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
# # 08 — Testing a new closed form with `collapse_theory.testing`
#
# A researcher derives a new result about the discrete collapse chain and
# wants to know whether it is right before writing it up. The toolkit's own
# tests compare every formula with exact simulation at a stated significance
# level; `collapse_theory.testing` gives the same tools to anyone:
#
# * Hypothesis strategies for valid chain parameters (`p0_vectors`,
#   `sample_sizes`, `schedules`, `mixings`, `covariances`, `samplers`);
# * `assert_consistent(simulated, theory, level=1e-3, test="z" | "binomial" | "ks")`,
#   Holm-corrected over the family of comparisons;
# * `register_check`, which adds the formula to `collapse-theory verify`.
#
# **The claim.** Under replacement, how far has the chain drifted from
# where it started? Take the squared distance
# $D_t = \sum_i (p_{t,i} - p_{0,i})^2$. Because $p_t$ is a martingale,
# $E \sum_i p_{t,i}^2 = \sum_i p_{0,i}^2 + E D_t$, and
# $E H_t = H_0 (1 - 1/M)^t$ for the heterozygosity $H = 1 - \sum_i p_i^2$, so
#
# $$E D_t = H_0 \left(1 - (1 - 1/M)^t\right).$$
#
# A tempting slip is to count the $M$ samples plus the parent as $M + 1$
# draws, giving $H_0 (1 - (1 - 1/(M+1))^t)$: 6% low at $M = t = 10$. We test
# both; the wrong one must fail.

# %%
import os

import numpy as np
from hypothesis import given, settings

import collapse_theory as ct
from collapse_theory import testing, verify
from collapse_theory.plotting import SIM_COLOR, THEORY_COLOR, new_figure

SMALL = os.environ.get("COLLAPSE_THEORY_NOTEBOOK_SIZE", "full") == "small"
R = 3000 if SMALL else 20000


def drift_right(p0, M, t):
    H0 = 1.0 - np.sum(np.asarray(p0) ** 2)
    return H0 * (1.0 - (1.0 - 1.0 / M) ** np.asarray(t))


def drift_wrong(p0, M, t):
    H0 = 1.0 - np.sum(np.asarray(p0) ** 2)
    return H0 * (1.0 - (1.0 - 1.0 / (M + 1)) ** np.asarray(t))


def simulated_drift(p0, M, G, replicates, rng):
    """D_t for t = 0..G, shape (replicates, G + 1), from the exact chain."""
    run = ct.DiscreteChain(p0, sample_size=M).simulate(G, replicates, rng=rng, record=("probs",))
    return ((run.probs - np.asarray(p0)) ** 2).sum(axis=-1)


# %% [markdown]
# ## One setting, by eye and by test
#
# `assert_consistent` takes replicates along axis 0 and one column per
# comparison (here: generations 1..G), z-tests each column's mean against the
# formula and fails if any Holm-adjusted p-value is below `level`. With a
# correct formula and a fixed seed it fails with probability at most
# `level = 1e-3`; with $R = 3000$ replicates a 6% error at $t = 10$ is about
# 8 standard errors, so the wrong formula fails essentially always.

# %%
p0, M, G = np.array([0.5, 0.5]), 10, 10
D = simulated_drift(p0, M, G, R, rng=0)
t = np.arange(1, G + 1)

testing.assert_consistent(D[:, 1:], drift_right(p0, M, t), what="E D_t, right formula")
print("right formula: consistent at level 1e-3 over", G, "generations")

try:
    testing.assert_consistent(D[:, 1:], drift_wrong(p0, M, t), what="E D_t, M + 1 formula")
except AssertionError as exc:
    print("wrong formula rejected:", exc)
else:
    raise RuntimeError("the deliberately wrong formula passed: the test has no power here")

# %%
fig, ax = new_figure(1, 1)
m, lo, hi, _ = ct._stats.mean_ci(D)
ax.fill_between(np.arange(G + 1), lo, hi, color=SIM_COLOR, alpha=0.3, label=f"simulated, 95% CI (R = {R})")
ax.plot(np.arange(G + 1), m, color=SIM_COLOR)
ax.plot(np.arange(G + 1), drift_right(p0, M, np.arange(G + 1)), color=THEORY_COLOR, ls="--", label="H0 (1 - (1 - 1/M)^t)")
ax.plot(np.arange(G + 1), drift_wrong(p0, M, np.arange(G + 1)), color="gray", ls=":", label="H0 (1 - (1 - 1/(M+1))^t) (wrong)")
ax.set(xlabel="generation t", ylabel="E sum_i (p_t,i - p0_i)^2", title=f"drift from p0 = (0.5, 0.5), M = {M}")
ax.legend(fontsize=8)
fig

# %% [markdown]
# ## Over the whole parameter space: a property-based test
#
# One setting proves little. `testing.p0_vectors` and `testing.sample_sizes`
# draw valid parameters (including states of probability 0); Hypothesis runs
# the same statistical test at each. The seed is fixed per example and
# Hypothesis is derandomised, so the test is deterministic. Hypothesis finds
# the corners too: a state of probability 1e-115 is never sampled, so every
# replicate has the same $D_t$ and a z-test has nothing to work with; the
# `bounds` argument turns such a column into an exact test.

# %%
n_examples = 5 if SMALL else 30


@settings(max_examples=n_examples, deadline=None, derandomize=True, database=None)
@given(p0=testing.p0_vectors(2, 6), M=testing.sample_sizes(2, 40))
def test_drift_formula(p0, M):
    G = 8
    D = simulated_drift(p0, M, G, 2000, rng=1)
    # D_t lies in [0, 2]: where no replicate ever moves (a state of probability 1e-100, say)
    # the sample has no spread, and bounds= gives the exact test a z-test cannot make
    testing.assert_consistent(D[:, 1:], drift_right(p0, M, np.arange(1, G + 1)), bounds=(0.0, 2.0),
                              what=f"p0={np.round(p0, 3)}, M={M}")


test_drift_formula()
print(f"property test: {n_examples} random (p0, M) settings consistent with the formula")

# %% [markdown]
# ## The formula as a `verify` check
#
# `register_check` adds it to `collapse_theory.verify`: it then runs with
# the built-in checks, gets its own seed derived from the run's seed and its
# name, and is corrected for multiple testing with them. From Python:
# `verify.run(checks=[...])`. From the command line
# (`collapse-theory verify --check discrete.drift`), a check must come from an
# installed package that declares it under the entry-point group
# `collapse_theory.checks` (see the `collapse_theory.testing` docstring): the
# command line never imports a module named on it.

# %%
@testing.register_check("discrete.drift", description="E sum (p_t - p0)^2 = H0 (1 - (1 - 1/M)^t) under replacement",
                        source="notebook 08", replace=True)
def check_drift(level, rng):
    reps = 2000 if level == "quick" else 20000
    out = []
    for p0, M in (([0.5, 0.5], 10), ([0.2, 0.3, 0.5], 25)):
        D = simulated_drift(p0, M, 10, reps, rng=rng)
        for t in (1, 3, 10):
            out.append(testing.compare("E D_t", D[:, t], float(drift_right(p0, M, t)), params={"K": len(p0), "M": M, "t": t}))
    return out


res = verify.run("quick", checks=["discrete.drift", "discrete.heterozygosity"], rng=0, show_progress=False)
print(res.summary()[["check", "status", "tests", "min_p_adjusted"]].to_string(index=False))
assert res.passed

# %% [markdown]
# The same check with the wrong formula is reported as failing, with the
# offending rows in `res.table()`.

# %%
@testing.register_check("discrete.drift_wrong", description="the M + 1 slip", replace=True)
def check_drift_wrong(level, rng):
    D = simulated_drift([0.5, 0.5], 10, 10, 3000, rng=rng)
    return [testing.compare("E D_t", D[:, t], float(drift_wrong([0.5, 0.5], 10, t)), params={"t": t}) for t in (3, 10)]


bad = verify.run("quick", checks=["discrete.drift_wrong"], rng=0, show_progress=False)
print(bad.table()[["quantity", "params", "simulated", "theory", "p_adjusted", "passed"]].to_string(index=False))
assert not bad.passed and bad.failed == ["discrete.drift_wrong"]

for name in ("discrete.drift", "discrete.drift_wrong"):
    verify.unregister(name)
