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
# # 05 — A VAE trained on its predecessor's images
#
# The paper's VAE experiment (needs the `[vae]` extra, PyTorch): a VAE is
# trained on handwritten digits; each descendant is trained from scratch on
# as many images as the real set, drawn from its predecessor's model: fresh
# latent draws `z ~ N(0, I)` decoded into pixel probabilities, each pixel then
# drawn 0 or 1.
# Seen through the original encoder, the latent codes of generated images
# contract towards the mean: on MNIST the standard deviation of the latent
# means of 100 fresh draws was 0.674, 0.608, 0.527, 0.468, 0.433 at
# descendants 1 to 5.
#
# By default the data are scikit-learn's bundled 8x8 digits (no download)
# and the network is an MLP VAE suited to 8x8 images; pass `mnist=DIR` for
# the paper's convolutional VAE on MNIST. An independent judge (a
# scikit-learn classifier trained on the real digits and on non-digits) and
# precision / recall / density / coverage measure the samples.

# %%
import os

import collapse_theory as ct

vae = ct.runs.vae  # imports PyTorch

SMALL = os.environ.get("COLLAPSE_THEORY_NOTEBOOK_SIZE", "full") == "small"
if SMALL:  # seconds: tiny network, few images, one epoch
    settings = dict(generations=2, epochs=1, n_train=300, latent_draws=64, n_samples=100, hidden=(16, 8), latent_dim=4, batch_size=64)
else:  # about 70 s of CPU (the report's full setting)
    settings = dict(generations=5)

# %% [markdown]
# ## Five descendants
#
# Each generation's weights are stored with the run (`out=DIR` writes them
# generation by generation, and `resume=True` continues an interrupted run
# with the same result).

# %%
run = vae.run(rng=0, show_progress=not SMALL, **settings)
summary = vae.summary_table(run)
summary

# %% [markdown]
# ## The latent codes contract
#
# A fresh probe of 100 latent draws is decoded by every generation and
# encoded by the generation-0 encoder (as the authors; `probe="fixed"` reuses
# one set); the spread of those codes is the paper's metric.

# %%
vae.latent_std_figure(run)

# %%
vae.latent_density_figure(run)

# %% [markdown]
# ## What the generations draw

# %%
vae.sample_grid_figure(run, n=16 if SMALL else 36)

# %% [markdown]
# ## Are they digits?
#
# The judge's share of samples it calls digits, and precision / recall /
# density / coverage in the judge's feature space, per generation.

# %%
vae.quality_figure(run)

# %% [markdown]
# ## Samples or decoder means?
#
# Training each descendant on the decoder means (`pixels="mean"`) instead of
# samples of the model feeds it an average over its parent's pixel noise:
# smoother images, a latent code that carries less, and a collapse that
# compounds within a few generations.

# %%
means = vae.run(rng=0, pixels="mean", show_progress=not SMALL, **settings)
summary[["generation", "latent_std", "judge_share"]].merge(
    vae.summary_table(means)[["generation", "latent_std", "judge_share"]], on="generation", suffixes=("_samples", "_means")
)

# %% [markdown]
# ## Fresh data
#
# With a share of real images in every descendant's training set, the
# contraction slows down.

# %%
fresh = vae.run(rng=0, mixing=ct.Mixing.fresh(real=0.2), show_progress=not SMALL, **settings)
both = summary[["generation", "latent_std"]].merge(
    vae.summary_table(fresh)[["generation", "latent_std"]], on="generation", suffixes=("_replace", "_fresh20")
)
both
