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
# # 06 — A language model trained on its predecessor's text
#
# The paper's Fig. 1 (needs the `[lm]` extra: PyTorch and transformers): OPT
# is fine-tuned on wikitext-2; each later generation fine-tunes the
# pretrained model again on text written by the previous generation (every
# training block continued by 5-way beam search). Perplexity on real text
# rises; generated text, scored by the generation-0 model, piles up at low
# perplexity while a tail of errors grows.
#
# Nothing can be downloaded here, so by default the run uses a
# **ground-truth language**: a random first-order Markov language whose
# probability of every text is known, and a small OPT model pretrained on it.
# Then the tails that collapse removes are measured exactly, beside the
# discrete resampling chain's expected support. A local Hugging Face model
# and corpus folder (`model=`, `corpus=`) give the paper's setting.

# %%
import os

import collapse_theory as ct

lm = ct.runs.lm  # imports PyTorch and transformers

SMALL = os.environ.get("COLLAPSE_THEORY_NOTEBOOK_SIZE", "full") == "small"
if SMALL:  # seconds: a tiny language, a one-layer model, one epoch, two generations
    settings = dict(
        generations=1, quick=True, epochs=1, num_beams=2,
        setting=dict(vocab_size=60, train_blocks=24, valid_blocks=8, test_blocks=8, pretrain_tokens=2000,
                     pretrain_steps=20, layers=1, hidden=32, heads=2, block_size=16, new_tokens=16),
    )
else:  # the quick ground-truth preset, ten generations (minutes on two CPU cores)
    settings = dict(generations=9, quick=True)

# %% [markdown]
# ## The run
#
# Each generation is written as it finishes when `out=DIR` is given (and
# `resume=True` continues an interrupted run).

# %%
result = lm.run(rng=0, show_progress=not SMALL, **settings)
result.table()

# %% [markdown]
# ## Perplexity of real text, and of generated text under generation 0

# %%
figs = result.figures()
figs["perplexity"]

# %%
figs["histograms"]

# %% [markdown]
# ## What the language model forgets
#
# Distinct words produced per generation, beside what pure resampling of the
# same number of tokens would keep (the discrete chain's exact expected
# support), and the rare words (the rarest 10% of the language's mass).

# %%
figs.get("tails")

# %% [markdown]
# ## The same prompt, continued by each generation (the paper's Example 1)

# %%
print("prompt:", result.prompt)
for g, text in zip(result.generation, result.examples):
    print(f"generation {g}: {text}")
