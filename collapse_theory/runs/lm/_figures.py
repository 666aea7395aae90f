"""Tables, figures and files of a language-model run (read from its :class:`GenerationalRun` only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["summary_table", "figures", "write_outputs", "examples"]

_DIVERSITY = ("distinct_1", "distinct_2", "distinct_3", "self_bleu", "ttr", "mtld")
_TRUTH = ("ks_to_generation0", "ks_pvalue_to_generation0", "true_nll_per_word", "impossible_share", "vocab_share", "bigram_share", "support", "theory_expected_support",
          "rare_words_present", "theory_rare_words_present", "rare_word_frequency")
_TIMING = ("fine_tune", "generate", "evaluate")
_CPU_TIMING = ("fine_tune_cpu", "generate_cpu", "evaluate_cpu")


def _runs(run) -> list:
    runs = list(run) if isinstance(run, (list, tuple)) else [run]
    if not runs or any(getattr(r, "kind", None) != "lm" for r in runs):
        raise TypeError("run must be a GenerationalRun of kind 'lm' (from collapse_theory.runs.lm.run), or a list of them")
    if any(len(r.generations) == 0 for r in runs):
        raise ValueError("the run has no complete generation")
    return runs


def _label(run) -> str:
    c = run.config
    model = c["model"] or "tiny OPT (ground-truth language)"
    return f"{model}, {c['mixing']}, {run.generations[0].info.get('decoding', '')}"


def summary_table(run):
    """One row per generation: perplexities, diversity, truth metrics and timings (pandas DataFrame).

    ``run`` is a GenerationalRun of kind ``"lm"`` or a list of them (a
    ``replicate`` column is added). ``ks_pvalue_to_generation0`` is the
    two-sample KS p-value of each generation's per-sequence perplexities
    under the generation-0 model against generation 0's own, and
    ``ks_pvalue_holm`` the same Holm-adjusted over generations 1..G of the
    run (NaN at generation 0). Row ``"real"`` values of generation 0's
    reference metrics are in columns prefixed ``real_`` of the first row.

    Parameters
    ----------
    run : GenerationalRun or list of GenerationalRun
        A run of kind ``"lm"`` (:func:`run`, or its record read back).

    Returns
    -------
    pandas.DataFrame
        One row per generation (per replicate and generation for a list):
        ``generation``, ``test_perplexity``, the under-initial perplexity
        quantiles, the diversity and truth metrics present, ``<step>_s``
        timings and ``wall_time_s``.

    Raises
    ------
    TypeError
        ``run`` is not an ``"lm"`` run or a list of them.
    ValueError
        The run has no complete generation.

    Examples
    --------
    A tiny run (a 1-layer OPT of width 16 on a 50-word ground-truth language, 8 blocks of 8 tokens,
    1 epoch; the first call in a process also pays the import of transformers):

    >>> from collapse_theory.runs import lm
    >>> tiny = dict(train_blocks=8, valid_blocks=4, test_blocks=4, pretrain_tokens=2000, pretrain_steps=10,
    ...             layers=1, hidden=16, heads=2, vocab_size=50)
    >>> r = lm.run(1, quick=True, setting=tiny, block_size=8, new_tokens=8, epochs=1, show_progress=False)
    >>> lm.summary_table(r)["generation"].tolist()
    [0, 1]
    """
    import pandas as pd

    frames = []
    for r, one in enumerate(_runs(run)):
        rows = []
        for g in one.generations:
            row = {"generation": g.generation, "test_perplexity": g.metrics["test_perplexity"],
                   "median_perplexity_under_initial": g.metrics.get("median_perplexity_under_initial"),
                   "p95_perplexity_under_initial": g.metrics.get("p95_perplexity_under_initial"),
                   "original_share": g.metrics.get("original_share")}
            row.update({k: g.metrics[k] for k in _DIVERSITY + _TRUTH if k in g.metrics})
            row.update({f"{k}_s": g.timing.get(k, np.nan) for k in _TIMING + _CPU_TIMING})
            row["wall_time_s"] = g.wall_time
            rows.append(row)
        df = pd.DataFrame(rows)
        if "ks_pvalue_to_generation0" in df:  # one family per run: generations 1..G against generation 0
            from ..._stats import adjust

            df["ks_pvalue_holm"] = adjust(df["ks_pvalue_to_generation0"].to_numpy(dtype=float), "holm")
        if isinstance(run, (list, tuple)):
            df.insert(0, "replicate", r)
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def reference(run) -> dict:
    """Metrics of the real training text, measured as the generated text is (``real_*`` of generation 0).

    Parameters
    ----------
    run : GenerationalRun or list of GenerationalRun
        A run of kind ``"lm"`` (:func:`run`, or its record read back); for a list, the first one.

    Returns
    -------
    dict of str -> float
        Generation 0's ``real_*`` metrics without the prefix (``distinct_1``,
        ``self_bleu``, ``ttr``, ``mtld`` and, on the ground-truth language,
        ``support``, ``true_nll_per_word``...).

    Raises
    ------
    TypeError
        ``run`` is not an ``"lm"`` run or a list of them.
    ValueError
        The run has no complete generation.

    Examples
    --------
    A tiny run (a 1-layer OPT of width 16 on a 50-word ground-truth language, 8 blocks of 8 tokens,
    1 epoch; the first call in a process also pays the import of transformers):

    >>> from collapse_theory.runs import lm
    >>> tiny = dict(train_blocks=8, valid_blocks=4, test_blocks=4, pretrain_tokens=2000, pretrain_steps=10,
    ...             layers=1, hidden=16, heads=2, vocab_size=50)
    >>> r = lm.run(1, quick=True, setting=tiny, block_size=8, new_tokens=8, epochs=1, show_progress=False)
    >>> ref = lm.reference(r)
    >>> 0 < ref["distinct_1"] <= 1, 0 < ref["support"] <= 50
    (True, True)
    """
    m = _runs(run)[0].generations[0].metrics
    return {k[5:]: float(v) for k, v in m.items() if k.startswith("real_")}


def examples(run) -> tuple:
    """``(prompt, [continuation of generation t for each t])`` (the paper's Example 1).

    Parameters
    ----------
    run : GenerationalRun or list of GenerationalRun
        A run of kind ``"lm"`` (:func:`run`, or its record read back); for a list, the first one.

    Returns
    -------
    prompt : str
        The fixed prompt (first test block), decoded.
    continuations : list of str
        Its continuation by each generation's model, generation 0 first.

    Raises
    ------
    TypeError
        ``run`` is not an ``"lm"`` run or a list of them.
    ValueError
        The run has no complete generation.

    Examples
    --------
    A tiny run (a 1-layer OPT of width 16 on a 50-word ground-truth language, 8 blocks of 8 tokens,
    1 epoch; the first call in a process also pays the import of transformers):

    >>> from collapse_theory.runs import lm
    >>> tiny = dict(train_blocks=8, valid_blocks=4, test_blocks=4, pretrain_tokens=2000, pretrain_steps=10,
    ...             layers=1, hidden=16, heads=2, vocab_size=50)
    >>> r = lm.run(1, quick=True, setting=tiny, block_size=8, new_tokens=8, epochs=1, show_progress=False)
    >>> prompt, continuations = lm.examples(r)
    >>> isinstance(prompt, str), len(continuations)
    (True, 2)
    """
    gens = _runs(run)[0].generations
    return gens[0].info.get("prompt", ""), [g.info.get("example", "") for g in gens]


def figures(run) -> dict:
    """Figures of a run: ``{key: (Figure, caption)}``.

    Keys: ``perplexity`` (real test perplexity per generation; every
    replicate for a list), ``histograms`` (per-sequence perplexity of each
    generation's text under the generation-0 model, the paper's Fig. 1b),
    ``diversity`` (distinct-n, self-BLEU, MTLD) and, on the ground-truth
    language, ``tails`` (distinct and rare words beside the resampling chain).

    Parameters
    ----------
    run : GenerationalRun or list of GenerationalRun
        A run of kind ``"lm"`` (:func:`run`, or its record read back); for a list, the first one's figures and every replicate's perplexity.

    Returns
    -------
    dict of str -> (matplotlib.figure.Figure, str)
        Each figure with its caption.

    Raises
    ------
    TypeError
        ``run`` is not an ``"lm"`` run or a list of them.
    ValueError
        The run has no complete generation.

    Examples
    --------
    A tiny run (a 1-layer OPT of width 16 on a 50-word ground-truth language, 8 blocks of 8 tokens,
    1 epoch; the first call in a process also pays the import of transformers):

    >>> from collapse_theory.runs import lm
    >>> tiny = dict(train_blocks=8, valid_blocks=4, test_blocks=4, pretrain_tokens=2000, pretrain_steps=10,
    ...             layers=1, hidden=16, heads=2, vocab_size=50)
    >>> r = lm.run(1, quick=True, setting=tiny, block_size=8, new_tokens=8, epochs=1, show_progress=False)
    >>> sorted(lm.figures(r))
    ['diversity', 'histograms', 'perplexity', 'tails']
    """
    import matplotlib
    from matplotlib.ticker import MaxNLocator

    from ...plotting import SIM_COLOR, THEORY_COLOR, new_figure

    runs = _runs(run)
    one = runs[0]
    gens = one.generations
    G = np.array([g.generation for g in gens])
    label = _label(one)
    ref = reference(one)
    figs = {}

    fig, ax = new_figure()
    for i, r in enumerate(runs):
        ax.plot([g.generation for g in r.generations], r.metric("test_perplexity"), "o-", color=SIM_COLOR,
                alpha=1.0 if len(runs) == 1 else 0.5, label=f"run {i}" if len(runs) > 1 else "language model")
    if "true_nll_per_word" in ref and one.config["model_kind"] == "ground-truth":
        ax.axhline(np.exp(ref["true_nll_per_word"]), color="k", ls=":", lw=0.8,
                   label="true perplexity of the language's text")
    ax.set_xlabel("generation")
    ax.set_ylabel("perplexity on the real test set")
    ax.set_title(f"Test perplexity per generation\n{label}", fontsize="small")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize="small")
    figs["perplexity"] = (fig, f"Perplexity on the real test blocks of the model of each generation ({label}). "
                               "Look for: a rise from generation to generation (the paper: 34 at generation 0, "
                               "rising over ten generations).")

    real = np.log(gens[0].arrays["real_perplexity_under_initial"])
    logs = [np.log(g.arrays["perplexity_under_initial"]) for g in gens]
    allv = np.concatenate([real] + logs)
    lo, hi = float(np.quantile(allv, 0.002)), float(allv.max())
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, 26)
    cmap = matplotlib.colormaps["viridis"]
    fig, ax = new_figure()
    d = np.histogram(np.clip(real, edges[0], edges[-1]), bins=edges, density=True)[0]
    ax.stairs(d, np.exp(edges), color="k", linestyle="--", label="real test data")
    for i, (g, lv) in enumerate(zip(G, logs)):
        d = np.histogram(np.clip(lv, edges[0], edges[-1]), bins=edges, density=True)[0]
        ax.stairs(d, np.exp(edges), color=cmap(i / max(len(G) - 1, 1)), label=f"generation {g}")
    ax.set_xscale("log")
    ax.set_xlabel("per-sequence perplexity under the generation-0 model")
    ax.set_ylabel("density (per unit of log perplexity)")
    ax.set_title(f"Generated text scored by the generation-0 model\n{label}", fontsize="small")
    ax.legend(fontsize="x-small")
    figs["histograms"] = (fig, "Histogram of the perplexity, under the generation-0 model, of each 64-token (or "
                               "block-size) continuation written by each generation's model (paper Fig. 1b), beside "
                               f"the real test blocks ({label}). Look for: the histograms moving from generation to "
                               "generation, towards low perplexity (likely text) with a tail of high-perplexity "
                               "errors.")

    keys = [k for k in ("distinct_1", "distinct_2", "distinct_3", "self_bleu", "mtld") if k in gens[0].metrics]
    fig, axes = new_figure(1, len(keys), width=3.0, height=3.0)
    for ax, k in zip(np.atleast_1d(axes), keys):
        ax.plot(G, one.metric(k), "o-", color=SIM_COLOR, label="generated")
        if k in ref:
            ax.axhline(ref[k], color="k", ls=":", lw=0.8, label="real text")
        ax.set_xlabel("generation")
        ax.set_title(k.replace("_", "-"), fontsize="small")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    np.atleast_1d(axes)[0].legend(fontsize="x-small")
    fig.suptitle(f"Diversity of the generated text ({label})", fontsize="small")
    figs["diversity"] = (fig, "Diversity of each generation's text: distinct-n (distinct n-grams over n-grams), "
                              "self-BLEU (sacrebleu; high = repetitive) and MTLD (lexicalrichness), beside the "
                              f"real training text measured the same way ({label}). Look for: distinct-n and "
                              "MTLD falling, self-BLEU rising as the text loses variety.")

    if "support" in gens[0].metrics:
        fig, axes = new_figure(1, 2)
        panels = (("support", "theory_expected_support", "distinct words"),
                  ("rare_words_present", "theory_rare_words_present", "distinct rare words (rarest 10% of mass)"))
        for ax, (key, theory, ylabel) in zip(axes, panels):
            ax.plot(G, one.metric(key), "o-", color=SIM_COLOR, label="language model")
            if theory in gens[0].metrics:
                ax.plot(G, one.metric(theory), "s--", color=THEORY_COLOR, label="resampling chain (exact)")
            if key in ref:
                ax.axhline(ref[key], color="k", lw=0.8, ls=":", label="real training text")
            ax.set_xlabel("generation")
            ax.set_ylabel(ylabel)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.legend(fontsize="x-small")
        fig.suptitle(f"Words still produced ({label})", fontsize="small")
        figs["tails"] = (fig, "Distinct words (left) and distinct rare words (right, the rarest words holding 10% of "
                              "the language's mass) in each generation's text, beside the discrete resampling "
                              "chain's exact expected support for the same number of words (theory.discrete."
                              f"expected_support, survival_probability) and the real training text ({label}). Look "
                              "for: whether the language model forgets the tails faster or slower than pure "
                              "resampling.")
    return figs


def write_outputs(run, out) -> dict:
    """Write figures (PNG), the per-generation table (CSV), examples and a summary with provenance.

    Every file is written atomically (:func:`collapse_theory._provenance.atomic_write`).

    Parameters
    ----------
    run : GenerationalRun or list of them
    out : PathLike
        Folder (created if needed).

    Returns
    -------
    dict of str -> pathlib.Path
        ``table``, ``examples``, ``summary`` and ``figure:<key>`` for each figure.

    Raises
    ------
    TypeError
        ``run`` is not an ``"lm"`` run or a list of them.
    ValueError
        The run has no complete generation.

    Examples
    --------
    A tiny run (a 1-layer OPT of width 16 on a 50-word ground-truth language, 8 blocks of 8 tokens,
    1 epoch; the first call in a process also pays the import of transformers):

    >>> import tempfile
    >>> from collapse_theory.runs import lm
    >>> tiny = dict(train_blocks=8, valid_blocks=4, test_blocks=4, pretrain_tokens=2000, pretrain_steps=10,
    ...             layers=1, hidden=16, heads=2, vocab_size=50)
    >>> r = lm.run(1, quick=True, setting=tiny, block_size=8, new_tokens=8, epochs=1, show_progress=False)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     print(sorted(lm.write_outputs(r, d)))
    ['examples', 'figure:diversity', 'figure:histograms', 'figure:perplexity', 'figure:tails', 'summary', 'table']
    """
    from ..._provenance import atomic_write, provenance, write_json
    from ...plotting import figure_png
    from ._pipeline import _PACKAGES

    runs = _runs(run)
    out = Path(out)
    paths = {}
    figs = figures(run)
    for key, (fig, _caption) in figs.items():
        paths[f"figure:{key}"] = atomic_write(out / "figures" / f"lm_{key}.png", figure_png(fig))
    table = summary_table(run)
    paths["table"] = atomic_write(out / "generations.csv", table.to_csv(index=False))
    prompt, conts = examples(run)
    text = "\n".join([f"prompt: {prompt}", ""] + [f"generation {g}: {e}" for g, e in enumerate(conts)]) + "\n"
    paths["examples"] = atomic_write(out / "examples.txt", text)
    first = runs[0]
    summary = {
        "config": first.config,
        "test_perplexity": [r.metric("test_perplexity") for r in runs],
        "reference": reference(first),
        "timing_s": {k: [[g.timing.get(k) for g in r.generations] for r in runs] for k in _TIMING + _CPU_TIMING},
        "examples": {"prompt": prompt, "continuations": conts},
        "captions": {k: c for k, (_, c) in figs.items()},
        "provenance": provenance(first.config, seed=first.seed, extra_packages=_PACKAGES,
                                 device=first.generations[0].info.get("device")),
    }
    paths["summary"] = write_json(out / "summary.json", summary)
    return paths
