"""The ground-truth language of the language-model run: exact probabilities.

Checked against brute force: the probabilities of all texts of a given length
sum to one, the log-likelihood equals a naive product over the text's words,
and texts drawn by ``sample`` occur with the frequencies ``log_prob`` gives.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from collapse_theory.runs._language import BOUNDARY, GroundTruthLanguage
from helpers import LEVEL, assert_consistent


def naive_log_prob(lang, text: str, context_word: str = BOUNDARY) -> float:
    """Probability of a text as a product of transition probabilities, looked up word by word."""
    P = lang.transition
    prev = lang.words.index(context_word)
    total = 0.0
    for w in text.split():
        j = lang.words.index(w)
        if P[prev, j] == 0:
            return -math.inf
        total += math.log(P[prev, j])
        prev = j
    return total


languages = st.builds(
    GroundTruthLanguage,
    vocab_size=st.integers(2, 5),
    branching=st.integers(1, 2),
    zipf=st.floats(0.5, 2.0),
    end_probability=st.floats(0.05, 0.9),
    rng=st.integers(0, 2**16),
)


@given(lang=languages, n=st.integers(1, 3), context=st.integers(0, 5))
def test_probabilities_of_all_texts_of_a_length_sum_to_one(lang, n, context):
    context = min(context, lang.vocab_size)
    texts = np.array(list(itertools.product(range(lang.n_states), repeat=n)))
    total = np.exp(lang.token_log_probs(texts, context=context).sum(axis=1)).sum()
    assert total == pytest.approx(1.0, abs=1e-12)


@given(lang=languages, seed=st.integers(0, 2**16), n=st.integers(1, 12))
def test_log_prob_matches_naive_product(lang, seed, n):
    states = lang.sample(n, rng=seed)
    text = lang.decode(states)
    assert lang.log_prob(lang.encode(text)) == pytest.approx(naive_log_prob(lang, text), rel=1e-12, abs=1e-12)
    # a continuation: the context is the previous word
    ctx = int(states[0])
    if n > 1:
        rest = lang.decode(states[1:])
        assert lang.log_prob(states[1:], context=ctx) == pytest.approx(naive_log_prob(lang, rest, lang.words[ctx]), rel=1e-12)


def test_impossible_text_has_log_prob_minus_infinity():
    lang = GroundTruthLanguage(vocab_size=20, branching=2, rng=3)
    i, j = np.argwhere(~lang.bigrams)[0]
    assert lang.log_prob([j], context=int(i)) == -np.inf
    assert naive_log_prob(lang, lang.words[j], lang.words[i]) == -np.inf
    assert np.isneginf(lang.token_log_probs([-1, 1])[0])  # an unknown token


def test_sampled_two_word_texts_follow_log_prob():
    # 4000 independent two-token texts from the boundary; chi-square over the
    # possible texts (cells with expected count < 5 pooled). At level 1e-3 a
    # 20% error in one common transition is detected with power > 0.99.
    lang = GroundTruthLanguage(vocab_size=8, branching=2, rng=1)
    gen = np.random.default_rng(7)
    n = 4000
    draws = np.array([lang.sample(2, rng=gen) for _ in range(n)])
    texts = np.array(list(itertools.product(range(lang.n_states), repeat=2)))
    p = np.exp(lang.token_log_probs(texts).sum(axis=1))
    assert p.sum() == pytest.approx(1.0)
    obs = np.zeros(len(texts))
    np.add.at(obs, draws[:, 0] * lang.n_states + draws[:, 1], 1)
    assert obs[p == 0].sum() == 0  # nothing impossible is ever drawn
    exp = n * p
    big = exp >= 5
    o = np.append(obs[big], obs[~big].sum())
    e = np.append(exp[big], exp[~big].sum())
    keep = e > 0
    pval = stats.chisquare(o[keep], e[keep]).pvalue
    assert_consistent([pval], level=LEVEL, what="two-word text frequencies vs exact probabilities")


def test_structure():
    lang = GroundTruthLanguage(vocab_size=300, branching=6, rng=0)
    P = lang.transition
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-12)
    assert (P[1:, 0] == lang.end_probability).all()
    assert (P[:, 1:].sum(axis=0) > 0).all()  # every word can be produced
    np.testing.assert_allclose(lang.stationary @ P, lang.stationary, atol=1e-12)
    assert lang.stationary.sum() == pytest.approx(1.0)
    # Zipf-like: the 10 most frequent words hold far more than 10/300 of the mass
    assert np.sort(lang.word_frequencies())[::-1][:10].sum() > 0.2
    rare = lang.rare_words(0.1)
    freq = lang.word_frequencies()
    assert freq[rare - 1].sum() <= 0.1 + 1e-12
    assert freq[rare - 1].max() <= np.delete(freq, rare - 1).min()
    assert len(set(lang.words)) == lang.n_states  # names are unique
    # a long text's word frequencies approach the stationary ones
    s = lang.sample(50_000, rng=2)
    emp = np.bincount(s, minlength=lang.n_states) / s.size
    assert np.abs(emp - lang.stationary).max() < 0.01


def test_same_seed_same_language_and_text():
    a = GroundTruthLanguage(vocab_size=40, rng=5)
    b = GroundTruthLanguage(vocab_size=40, rng=5)
    np.testing.assert_array_equal(a.transition, b.transition)
    np.testing.assert_array_equal(a.sample(100, rng=1), b.sample(100, rng=1))
    assert not np.array_equal(a.transition, GroundTruthLanguage(vocab_size=40, rng=6).transition)


def test_bad_input():
    with pytest.raises(ValueError, match="vocab_size"):
        GroundTruthLanguage(vocab_size=1)
    with pytest.raises(ValueError, match="branching"):
        GroundTruthLanguage(vocab_size=5, branching=6)
    with pytest.raises(ValueError, match="end_probability"):
        GroundTruthLanguage(end_probability=1.0)
    with pytest.raises(ValueError, match="zipf"):
        GroundTruthLanguage(zipf=0.0)
    with pytest.raises(TypeError, match="vocab_size"):
        GroundTruthLanguage(vocab_size=5.0)
    lang = GroundTruthLanguage(vocab_size=5, branching=2)
    with pytest.raises(ValueError, match="not a word"):
        lang.encode("hello")
