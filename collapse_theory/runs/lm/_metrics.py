"""Metrics of a language-model generation: likelihood, diversity, and truth.

* Likelihood: per-sequence negative log-likelihood per predicted token
  (:func:`sequence_nll`) and perplexity (:func:`perplexity`), the paper's
  Fig. 1b,c quantities.
* Diversity of the generated text, by the libraries made for them:
  self-BLEU with ``sacrebleu`` (Zhu et al. 2018, "Texygen": BLEU of each
  sequence against all the others as references, averaged); type-token
  ratio and MTLD (McCarthy & Jarvis 2010, threshold 0.72) with
  ``lexicalrichness``; distinct-n (Li et al. 2016: distinct n-grams over all
  n-grams, n = 1, 2, 3), which no maintained library computes on its own,
  is counted here directly (a set of tuples).
* Truth (the ground-truth language only): exact NLL per word of the
  generated text, share of transitions that are impossible in the language,
  vocabulary and bigram survival, rare-word frequency, and the discrete
  resampling chain's exact expected support for the same number of words
  (:func:`collapse_theory.theory.discrete.expected_support`).
"""

from __future__ import annotations

import numpy as np

from ..._progress import progress
from ..._validate import check_int

__all__ = ["sequence_nll", "perplexity", "distinct_n", "self_bleu", "lexical_diversity", "diversity_metrics"]


def sequence_nll(model, blocks, *, batch_size: int = 32, show_progress=False) -> np.ndarray:
    """Mean negative log-likelihood per predicted token of each block (nats).

    Token ``k >= 1`` of a block is predicted from tokens ``0..k-1``:

    .. math:: \\mathrm{nll}_i = -\\frac{1}{L-1}\\sum_{k=1}^{L-1} \\log p(x_{ik} \\mid x_{i,<k})

    Parameters
    ----------
    model : transformers causal LM
    blocks : array_like of int, shape (n, L), L >= 2
    batch_size : int

    Returns
    -------
    ndarray, shape (n,)
        ``exp(nll)`` is the per-sequence perplexity of the paper's Fig. 1b,c.

    Examples
    --------
    >>> from collapse_theory.runs.lm._models import tiny_opt
    >>> nll = sequence_nll(tiny_opt(10, layers=1, hidden=8, heads=2), np.ones((2, 5), dtype=int))
    >>> nll.shape, bool(np.all(nll > 0))
    ((2,), True)
    """
    import torch

    batch_size = check_int("batch_size", batch_size, min=1)
    x = torch.as_tensor(np.asarray(blocks, dtype=np.int64))
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValueError(f"blocks must have shape (n, L) with L >= 2, got {tuple(x.shape)}")
    dev = next(model.parameters()).device
    out = np.empty(x.shape[0])
    model.eval()
    with torch.no_grad():
        for i in progress(range(0, x.shape[0], batch_size), desc="score", show=show_progress):
            xb = x[i:i + batch_size].to(dev)
            logits = model(input_ids=xb).logits[:, :-1].float()
            lp = torch.log_softmax(logits, dim=-1).gather(-1, xb[:, 1:, None])[..., 0]
            out[i:i + batch_size] = (-lp.mean(dim=1)).cpu().numpy()
    return out


def perplexity(model, blocks, *, batch_size: int = 32, show_progress=False) -> float:
    """Perplexity over all predicted tokens of equal-length blocks: ``exp(mean nll)``.

    Parameters
    ----------
    model : transformers causal LM
    blocks : array_like of int, shape (n, L), L >= 2
        Token ids, each row one block.
    batch_size : int, keyword-only
        Blocks scored at once (>= 1).
    show_progress : bool or None, keyword-only
        One progress step per scored batch.

    Returns
    -------
    float
        ``exp`` of the mean of :func:`sequence_nll` (equal-length blocks: the
        mean over all predicted tokens).

    Raises
    ------
    ValueError, TypeError
        ``blocks`` not of shape (n, L) with L >= 2, or ``batch_size`` below 1.

    Examples
    --------
    With zero (tied) embeddings every next token is uniform over the vocabulary,
    so the perplexity is the vocabulary size:

    >>> import numpy as np
    >>> import torch
    >>> from collapse_theory.runs.lm._models import tiny_opt
    >>> model = tiny_opt(10, layers=1, hidden=8, heads=2)
    >>> with torch.no_grad():
    ...     _ = model.get_input_embeddings().weight.zero_()
    ...     _ = model.get_output_embeddings().weight.zero_()
    >>> print(f"{perplexity(model, np.ones((2, 5), dtype=int)):.6f}")
    10.000000
    """
    return float(np.exp(np.mean(sequence_nll(model, blocks, batch_size=batch_size, show_progress=show_progress))))


def distinct_n(sequences, n: int) -> float:
    """Distinct-n (Li et al. 2016): distinct n-grams over all n-grams, pooled over ``sequences``.

    Parameters
    ----------
    sequences : iterable of sequences of hashable tokens (words or ids)
    n : int >= 1

    Returns
    -------
    float in [0, 1]; NaN when no sequence has ``n`` tokens.

    Examples
    --------
    >>> distinct_n([["a", "b", "a", "b"]], 1), distinct_n([["a", "b", "a", "b"]], 2)
    (0.5, 0.6666666666666666)
    """
    n = check_int("n", n, min=1)
    seen, total = set(), 0
    for s in sequences:
        s = list(s)
        grams = [tuple(s[i:i + n]) for i in range(len(s) - n + 1)]
        total += len(grams)
        seen.update(grams)
    return len(seen) / total if total else float("nan")


def self_bleu(texts, *, max_texts: int = 100) -> float:
    """Self-BLEU (Zhu et al. 2018): mean sentence BLEU (sacrebleu, 0-100) of each text against all others.

    High self-BLEU means the texts repeat one another (low diversity). The
    first ``max_texts`` texts are used (the cost is quadratic); BLEU uses
    ``effective_order`` so short texts are scored.

    Parameters
    ----------
    texts : sequence of str
    max_texts : int >= 2

    Returns
    -------
    float in [0, 100]; NaN for fewer than two texts.

    Raises
    ------
    ValueError, TypeError
        ``max_texts`` below 2 (named).

    Examples
    --------
    Identical texts repeat one another fully:

    >>> round(self_bleu(["the cat sat on the mat"] * 3), 6)
    100.0
    """
    from sacrebleu.metrics import BLEU

    max_texts = check_int("max_texts", max_texts, min=2)
    texts = [t for t in list(texts)[:max_texts]]
    if len(texts) < 2:
        return float("nan")
    bleu = BLEU(effective_order=True, tokenize="none")
    scores = [bleu.sentence_score(h, texts[:i] + texts[i + 1:]).score for i, h in enumerate(texts)]
    return float(np.mean(scores))


def lexical_diversity(words) -> dict:
    """Type-token ratio and MTLD (threshold 0.72) of a word list, by ``lexicalrichness``.

    Returns
    -------
    dict with ``ttr`` and ``mtld`` (NaN for an empty list).

    Parameters
    ----------
    words : iterable of str
        The words, in order (MTLD depends on the order).

    Raises
    ------
    TypeError
        ``words`` is a string or not iterable.

    Examples
    --------
    Two distinct words in four tokens:

    >>> lexical_diversity(["a", "b", "a", "b"])["ttr"]
    0.5
    >>> lexical_diversity([])
    {'ttr': nan, 'mtld': nan}
    """
    if isinstance(words, (str, bytes)) or not hasattr(words, "__iter__"):
        raise TypeError(f"words must be a list of words (str), got {type(words).__name__}")
    words = [str(w) for w in words]
    if not words:
        return {"ttr": float("nan"), "mtld": float("nan")}
    from lexicalrichness import LexicalRichness  # imports pyplot: only here, never at module import

    lr = LexicalRichness(words, preprocessor=None, tokenizer=None)
    return {"ttr": float(lr.ttr), "mtld": float(lr.mtld(threshold=0.72))}


def diversity_metrics(word_lists, *, max_texts: int = 100) -> dict:
    """Distinct-1/2/3, self-BLEU, TTR and MTLD of generated texts given as lists of words."""
    word_lists = [list(w) for w in word_lists]
    out = {f"distinct_{n}": distinct_n(word_lists, n) for n in (1, 2, 3)}
    out["self_bleu"] = self_bleu([" ".join(w) for w in word_lists if w], max_texts=max_texts)
    out.update(lexical_diversity([w for ws in word_lists for w in ws]))
    return out


# ----------------------------------------------------------------------------- text -> words of the language
def continuation_words(tokenizer, prompts, generated, *, drop_last_partial: bool) -> list:
    """The words written by each continuation, as text, with the prompt word it follows.

    A sub-word tokenizer may cut a word between prompt and continuation, or
    end a continuation in the middle of a word. The prompt and the
    continuation are decoded together and split at the prompt's length in
    characters: a word straddling the cut counts as written by the model
    (it completed it), its context is the last whole word of the prompt;
    with ``drop_last_partial`` the last word of a continuation is dropped
    unless the text ends in whitespace (it may be cut).

    Returns
    -------
    list of (context_word or None, list of str), one per row
    """
    rows = []
    for p, g in zip(np.asarray(prompts), np.asarray(generated)):
        ptext = tokenizer.decode(p, skip_special_tokens=True)
        full = tokenizer.decode(np.concatenate([p, g]), skip_special_tokens=True)
        cut = len(ptext) if full.startswith(ptext) else len(ptext.rstrip())
        head = full[:cut]
        if cut and not head[-1:].isspace() and full[cut:cut + 1] not in ("", " "):  # a word straddles the cut
            head_words = head.split()
            straddle = head_words.pop() if head_words else ""
            tail = straddle + full[cut:]
        else:
            head_words = head.split()
            tail = full[cut:]
        words = tail.split()
        if drop_last_partial and words and not tail[-1:].isspace():
            words = words[:-1]
        rows.append((head_words[-1] if head_words else None, words))
    return rows


def truth_metrics(language, rows) -> dict:
    """Generated text measured against the true language.

    Parameters
    ----------
    language : GroundTruthLanguage
    rows : list of (context word or None, list of words)
        From :func:`continuation_words` (a None context is the sentence boundary).

    Returns
    -------
    dict of float: ``true_nll_per_word`` (over possible transitions),
    ``impossible_share`` (transitions of probability 0, unknown words
    included), ``vocab_share``, ``bigram_share``, ``support`` (distinct
    words), ``rare_word_frequency`` and ``rare_words_present`` (rarest 10% of
    the language's mass), ``word_tokens``.
    """
    index = language._index()
    V = language.vocab_size
    prev, cur = [], []
    for ctx, words in rows:
        states = [index.get(w, -1) for w in words]
        c = 0 if ctx is None else index.get(ctx, -1)
        prev.extend([c] + states[:-1])
        cur.extend(states)
    prev, cur = np.asarray(prev, dtype=np.int64), np.asarray(cur, dtype=np.int64)
    if cur.size == 0:
        return {k: float("nan") for k in ("true_nll_per_word", "impossible_share", "vocab_share", "bigram_share",
                                          "support", "rare_word_frequency", "rare_words_present", "word_tokens")}
    known = (prev >= 0) & (cur >= 0)
    p = np.where(known, language.transition[np.where(known, prev, 0), np.where(known, cur, 0)], 0.0)
    ok = p > 0
    words = cur[cur >= 1]
    present = np.unique(words)
    pairs = np.unique(prev[ok] * (V + 1) + cur[ok])
    rare = language.rare_words(0.1)
    return {
        "true_nll_per_word": float(-np.log(p[ok]).mean()) if ok.any() else float("nan"),
        "impossible_share": float(1.0 - ok.mean()),
        "vocab_share": present.size / V,
        "bigram_share": pairs.size / int(language.bigrams.sum()),
        "support": float(present.size),
        "rare_word_frequency": float(np.isin(words, rare).mean()) if words.size else float("nan"),
        "rare_words_present": float(np.isin(present, rare).sum()),
        "word_tokens": float(words.size),
    }


def resampling_theory(word_counts, M: int, t: int, rare) -> dict:
    """The discrete resampling chain beside the LM: expected distinct words after ``t`` resamplings.

    ``word_counts`` (V,) are the real training text's word counts; the chain
    resamples ``M`` words per generation from the previous generation's
    empirical frequencies (:func:`collapse_theory.theory.discrete.expected_support`),
    and a rare word held by ``c`` of ``M`` words survives with
    ``survival_probability(c, M, t)``.
    """
    from ...theory import discrete

    counts = np.asarray(word_counts, dtype=float)
    p = counts / counts.sum()
    out = {"theory_expected_support": float(discrete.expected_support(p, int(M), int(t)))}
    c = np.round(counts[np.asarray(rare) - 1] * M / counts.sum()).astype(np.int64)
    c = c[c > 0]
    out["theory_rare_words_present"] = float(np.sum(discrete.survival_probability(c, int(M), int(t)))) if c.size else 0.0
    return out
