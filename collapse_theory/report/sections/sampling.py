"""Report section: sampling and curation on the discrete chain.

Real pipelines do not resample a fitted model as it is: language models are
decoded with a temperature, top-k or top-p truncation, and outputs are
curated. This section composes :func:`collapse_theory.studies.sampling_curation`
(simulation with CI beside exact and infinite-population theory from
:mod:`collapse_theory.theory.sampling`) and, when the language-model section
has run, places its measured vocabulary survival beside the discrete chain
under the same sampler (:func:`collapse_theory.studies.sampling.lm_comparison`;
the record ``report/data/lm.json`` is read as data and validated).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from .._section import Section

TITLE = "Sampling and curation: temperature, top-k, top-p and best-of-K in the loop"


def _lm_path(out=None) -> Path:
    """``OUT/data/lm.json``: OUT from the argument, else ``COLLAPSE_THEORY_REPORT_DIR``, else ``report``."""
    base = Path(out) if out is not None else Path(os.environ.get("COLLAPSE_THEORY_REPORT_DIR", "report"))
    return base / "data" / "lm.json"


def _lm_figure(cmp: dict):
    from ...plotting import new_figure

    fig, ax = new_figure(1, 1)
    g = np.asarray(cmp["generations"])
    for i, (regime, v) in enumerate(cmp["lm"].items()):
        ax.plot(np.arange(len(v)), v, "o-", color=f"C{i}", label=f"LM ({regime}): distinct words")
    for j, (lab, d) in enumerate(cmp["chain"].items()):
        col = f"C{j + 3}"
        ax.plot(g, d["mean"], ls="--", color=col, label=f"discrete chain, {lab}")
        ax.fill_between(g, d["low"], d["high"], color=col, alpha=0.2, lw=0)
    th = cmp.get("lm_theory_expected_support") or []
    if th:
        ax.plot(np.arange(len(th)), th, color="k", ls=":", label="LM section: exact E support on the language's word law")
    ax.set(xlabel="generation", ylabel="distinct words", yscale="log", title="LM vocabulary vs the discrete chain")
    ax.legend(fontsize=7)
    return fig


def build(*, quick: bool, seed: int, out=None) -> Section:
    """Samplers and curation at K = 1000 Zipf(1.1), M = 1000, 20 generations (quick <= ~20 s), and the LM comparison."""
    from ... import studies
    from ..._rng import child
    from ...studies.sampling import lm_comparison, lm_record, reward_figure

    ss = np.random.SeedSequence(seed)
    K, M, G = 1000, 1000, 20
    R = 100 if quick else 1000
    res = studies.sampling_curation("zipf", M, K=K, exponent=1.1, generations=G, replicates=R, rng=child(ss, 1))
    figures = {"support_tail_entropy": res.figure(), "curated_reward": reward_figure(res)}
    tables = {"sampling_curation": res.table()}
    summ = res.params["summary"]
    rows = []
    for lab, d in summ.items():
        rows.append({"sampler": lab, "support_simulated": d["support_simulated"], "ci_low": d["support_ci"][0],
                     "ci_high": d["support_ci"][1], "support_exact": d["support_exact"],
                     "support_infinite_population": d["support_infinite_population"]})
    tables["support_after_20"] = pd.DataFrame(rows)
    captions = {
        "support_tail_entropy": (
            f"Discrete chain on Zipf(1.1) over K = {K} states, M = {M} samples per generation, replace workflow, "
            f"{R} replicates per sampler; each model is sampled with the sampler named in the legend before the next M "
            "samples are drawn. Left: states alive (log scale); middle: p0-mass of the surviving states (tail mass "
            "kept); right: entropy of the model. Solid lines with bands: simulated mean and 95% CI; dashed lines: exact "
            "finite-M expectations (pure resampling and top-k, which cuts once); crosses: exact generation-1 values "
            "(every sampler); dotted: the infinite-population map (M = infinity), where temperature 0.7 drives all but "
            "the top state below double precision and top-p settles at its fixed point. Look for: every truncation and "
            "temperature below 1 loses the tail faster than pure resampling; temperature 1.3 keeps more states."
        ),
        "curated_reward": (
            f"Expected reward E_p_t[r] of the best-of-4 Bradley-Terry curated chain (reward: i.i.d. standard normal "
            f"per state, fixed seed), K = {K}, M = {M}, {R} replicates: simulated mean with 95% CI, the exact values at "
            "generations 0 and 1 (crosses), and the infinite-population map of Ferbach et al. (dashed), under which the "
            "expected reward increases every generation. Look for: the finite chain follows the map until finite-sample "
            "loss of the high-reward states bends it below."
        ),
    }
    words_text = " The English-words panel is not shown: the wordfreq package (extra [words]) is not installed."
    try:
        import wordfreq
    except ImportError:
        wordfreq = None
    if wordfreq is not None:
        Rw = 50 if quick else 300
        smp_w = {k: v for k, v in studies.sampling.default_samplers(K).items() if not k.startswith("best-of")}
        ew = studies.sampling_curation("english-words", M, K=K, generations=G, replicates=Rw, samplers=smp_w, rng=child(ss, 3))
        figures["english_words"] = ew.figure()
        tables["english_words"] = ew.table()
        captions["english_words"] = (
            f"The same chains on a real Zipf-like law: the relative frequencies of the {K} most frequent English words "
            f"(wordfreq, shipped in its wheel; p0 = 'english-words'), M = {M}, {Rw} replicates per sampler; lines as in "
            "the first figure. Look for: the same ordering of samplers as on Zipf(1.1), with the head of real English "
            "(the, to, and, of, a) holding more mass."
        )
        ws = ew.params["summary"]
        words_text = (
            f" On the {K} most frequent English words (wordfreq) the support after {G} generations is "
            + ", ".join(f"{lab} {d['support_simulated']:.1f}" for lab, d in ws.items())
            + "."
        )
    lm_path = _lm_path(out)
    rec, why = lm_record(lm_path)
    lm_data = {"path": str(lm_path), "status": why or "ok"}
    lm_text = f" The LM comparison is not shown: {why}."
    if rec is not None:
        cmp = lm_comparison(rec, replicates=50 if quick else 200, rng=child(ss, 2))
        lm_data.update(cmp)
        if cmp["chain"]:
            figures["lm_vocabulary"] = _lm_figure(cmp)
            captions["lm_vocabulary"] = (
                f"Distinct words in the text each LM generation decodes (report/data/lm.json; ground-truth language of "
                f"{rec['vocab_size']} words, {rec['tokens_per_generation']} tokens per generation) beside the distinct "
                f"words in the data each sampled model of the discrete chain produces (chain generation t + 1 at LM "
                f"generation t), the chain on Zipf({cmp['chain_p0']['exponent']:.3g}) over {rec['vocab_size']} states "
                + ("(exponent chosen so that M samples hold the LM section's exact expected number of distinct words of "
                   "the real data) " if cmp["chain_p0"]["calibrated"] else "")
                + f"with M = {rec['tokens_per_generation']}, simulated mean and 95% CI; dotted: the LM section's own "
                f"exact expected support of pure resampling on the language's word law. {cmp['note']}. Look for: how "
                "much of the LM's loss of vocabulary the sampler alone reproduces."
            )
            last = {lab: d["mean"][-1] for lab, d in cmp["chain"].items()}
            lm_last = {reg: v[-1] for reg, v in cmp["lm"].items()}
            lm_text = (
                f" LM vocabulary survival: {cmp['note']}; the LM ended with "
                + ", ".join(f"{v:.0f} words ({reg})" for reg, v in lm_last.items())
                + " against "
                + ", ".join(f"{v:.1f} ({lab})" for lab, v in last.items())
                + " for the discrete chain."
            )
    sup = ", ".join(
        f"{lab} {d['support_simulated']:.1f}"
        + (f" (exact {d['support_exact']:.1f})" if np.isfinite(d["support_exact"]) else f" (M = inf: {d['support_infinite_population']:.0f})")
        for lab, d in summ.items()
    )
    caption = (
        "Real pipelines sample their models with a temperature or a truncation and curate outputs (Marchi et al. 2024; "
        "Drayson et al. 2025; Ferbach et al. 2024; Feng et al. 2024). Here the discrete chain's fitted model is passed "
        "through each sampler (transformers' order: temperature, top-k, top-p, min-p; ties to the lower state index) "
        f"before the next M samples are drawn. Support after {G} generations at K = {K} Zipf(1.1), M = {M}: {sup}. "
        "Exact rows (pure resampling, top-k, every sampler at generation 1) carry p-values; the others are compared "
        "with the infinite-population map without a test." + words_text + lm_text
    )
    data = {"seed": seed, "quick": quick, "K": K, "M": M, "generations": G, "replicates": R, "summary": summ,
            "passed": res.passed(), "lm": lm_data}
    return Section(
        title=TITLE,
        caption=caption,
        command="collapse-theory reproduce --only sampling" + (" --quick" if quick else "") + f" --seed {seed}",
        figures=figures,
        captions=captions,
        tables=tables,
        data=data,
    )
