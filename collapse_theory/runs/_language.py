"""A ground-truth language: a sparse Markov chain over a Zipf vocabulary.

The language-model run of Shumailov et al. (Nature 2024, Fig. 1) measures
collapse on wikitext-2, whose true distribution nobody knows, so tail loss can
only be seen through a model. This module defines a language whose
probability of every text is known exactly, so the run can also measure
what the generated text *truly* is: its exact negative log-likelihood, which
words and which true word pairs it still uses, and how fast rare words die
out compared with pure resampling (the discrete chain,
``ct.theory.discrete.expected_support``).

The source is a first-order Markov chain on ``V + 1`` states: state 0 is the
sentence boundary, written ``"."``, and states ``1..V`` are words. Each word
is followed by one of ``branching`` successor words, or by the boundary with
probability ``end_probability``; after a boundary a new sentence starts with
one of ``4 * branching`` words. Successors are drawn (without replacement)
with probability proportional to Zipf weights :math:`w_j \\propto j^{-s}`, so
a frequent word follows many states and the stationary word frequencies
follow roughly a Zipf law; within a state the successors get probabilities
proportional to :math:`1/r` for a random rank :math:`r = 1..k`. Every word is
made a successor of at least one state, so every word has positive
probability.

A text :math:`x_1 \\dots x_n` that follows the context state :math:`x_0`
(by default the boundary: a text starts a sentence) has probability

.. math:: P(x_{1:n} \\mid x_0) = \\prod_{k=1}^{n} P_{x_{k-1} x_k},

so the exact log-likelihood of any text, and of any continuation of a
prompt (the context is the prompt's last token), is a sum of table look-ups.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._rng import default_rng
from .._validate import check_float, check_int

__all__ = ["GroundTruthLanguage", "BOUNDARY"]

#: The written form of the sentence boundary, state 0.
BOUNDARY = "."

_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"


def _word(index: int) -> str:
    """A pronounceable, unique name for word ``index`` (0-based): two or more syllables."""
    n_syll = len(_CONSONANTS) * len(_VOWELS)
    k = index + n_syll  # at least two syllables
    out = []
    while k > 0:
        k, r = divmod(k, n_syll)
        out.append(_CONSONANTS[r // len(_VOWELS)] + _VOWELS[r % len(_VOWELS)])
    return "".join(reversed(out))


@dataclass(frozen=True, eq=False)
class GroundTruthLanguage:
    """A stochastic source of text whose probabilities are known exactly.

    Parameters
    ----------
    vocab_size : int
        Number of words ``V`` (the boundary ``"."`` is extra), >= 2.
    branching : int
        Number of successor words of each word (>= 1, <= ``vocab_size``).
        A sentence may start with any of ``min(4 * branching, V)`` words.
    zipf : float
        Zipf exponent ``s`` > 0 of the word weights :math:`w_j \\propto j^{-s}`.
    end_probability : float
        Probability that a word ends its sentence, in (0, 1). The mean
        sentence length is ``1 / end_probability`` words.
    rng : None, int, SeedSequence or Generator
        Draws the successor sets (the language itself, not its texts).

    Attributes
    ----------
    words : tuple of str, length ``V + 1``
        Written form of each state; ``words[0] == "."``.
    transition : ndarray, shape (V + 1, V + 1)
        :math:`P_{ij}`, rows sum to one; most entries are zero.
    stationary : ndarray, shape (V + 1,)
        Stationary distribution of the chain (token frequencies of a long text).

    Examples
    --------
    >>> lang = GroundTruthLanguage(vocab_size=50, branching=4, rng=0)
    >>> states = lang.sample(20, rng=1)
    >>> text = lang.decode(states)
    >>> bool(np.isclose(lang.log_prob(lang.encode(text)), lang.log_prob(states)))
    True
    """

    vocab_size: int = 500
    branching: int = 8
    zipf: float = 1.1
    end_probability: float = 0.1
    rng: object = 0
    words: tuple = field(init=False, repr=False)
    transition: np.ndarray = field(init=False, repr=False)
    stationary: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        V = check_int("vocab_size", self.vocab_size, min=2)
        b = check_int("branching", self.branching, min=1, max=V)
        s = check_float("zipf", self.zipf, min=0.0)
        if s <= 0:
            raise ValueError(f"zipf must be > 0, got {self.zipf}")
        end = check_float("end_probability", self.end_probability, min=0.0, max=1.0)
        if not 0.0 < end < 1.0:
            raise ValueError(f"end_probability must be in (0, 1), got {self.end_probability}")
        gen = default_rng(self.rng)
        weights = np.arange(1, V + 1, dtype=float) ** (-s)
        weights /= weights.sum()
        P = np.zeros((V + 1, V + 1))
        for state in range(V + 1):
            k = min(4 * b, V) if state == 0 else b
            succ = gen.choice(V, size=k, replace=False, p=weights) + 1
            P[state, succ] = 1.0 / (1.0 + gen.permutation(k))
        # every word reachable: a word no state leads to becomes a rare successor of a random word
        missing = np.flatnonzero(P[:, 1:].sum(axis=0) == 0) + 1
        hosts = gen.integers(1, V + 1, size=missing.size)
        P[hosts, missing] = 1.0 / (1.0 + b)
        P[0] /= P[0].sum()
        P[1:] *= (1.0 - end) / P[1:].sum(axis=1, keepdims=True)
        P[1:, 0] = end
        object.__setattr__(self, "transition", P)
        object.__setattr__(self, "words", (BOUNDARY,) + tuple(_word(j) for j in range(V)))
        # stationary distribution: left eigenvector for eigenvalue 1 (the chain is irreducible)
        A = P.T - np.eye(V + 1)
        A[-1] = 1.0
        rhs = np.zeros(V + 1)
        rhs[-1] = 1.0
        pi = np.linalg.solve(A, rhs)
        pi = np.clip(pi, 0.0, None)
        object.__setattr__(self, "stationary", pi / pi.sum())

    # -- structure -----------------------------------------------------------------
    @property
    def n_states(self) -> int:
        """``V + 1``: the words and the boundary."""
        return self.vocab_size + 1

    @property
    def bigrams(self) -> np.ndarray:
        """Boolean matrix, shape (V + 1, V + 1): which transitions have positive probability."""
        return self.transition > 0

    def word_frequencies(self) -> np.ndarray:
        """Stationary frequency of each word among words, shape (V,) (the boundary excluded)."""
        w = self.stationary[1:]
        return w / w.sum()

    def rare_words(self, mass: float = 0.1) -> np.ndarray:
        """States of the least frequent words that together hold at most ``mass`` of word frequency.

        Returns
        -------
        ndarray of int, shape (k,)
            Word states (1..V), rarest first.
        """
        mass = check_float("mass", mass, min=0.0, max=1.0)
        freq = self.word_frequencies()
        order = np.argsort(freq, kind="stable")
        keep = np.cumsum(freq[order]) <= mass
        return order[keep] + 1

    # -- text <-> states ---------------------------------------------------------
    def decode(self, states) -> str:
        """The text of a sequence of states (words separated by spaces)."""
        return " ".join(self.words[int(s)] for s in np.asarray(states).ravel())

    def encode(self, text: str) -> np.ndarray:
        """States of a whitespace-separated text; an unknown word raises ValueError."""
        index = self._index()
        try:
            return np.array([index[w] for w in text.split()], dtype=np.int64)
        except KeyError as exc:
            raise ValueError(f"text contains {exc.args[0]!r}, which is not a word of this language") from None

    def _index(self) -> dict:
        cached = self.__dict__.get("_word_index")
        if cached is None:
            cached = {w: i for i, w in enumerate(self.words)}
            object.__setattr__(self, "_word_index", cached)
        return cached

    # -- sampling and probabilities --------------------------------------------
    def sample(self, n_tokens: int, *, rng=None, start: int = 0) -> np.ndarray:
        """A text of ``n_tokens`` states following the context state ``start``.

        Returns
        -------
        ndarray of int64, shape (n_tokens,)
        """
        n = check_int("n_tokens", n_tokens, min=0)
        start = check_int("start", start, min=0, max=self.vocab_size)
        gen = default_rng(rng)
        cdf = np.cumsum(self.transition, axis=1)
        cdf[:, -1] = 1.0
        u = gen.random(n)
        out = np.empty(n, dtype=np.int64)
        s = start
        for k in range(n):
            s = int(np.searchsorted(cdf[s], u[k], side="right"))
            out[k] = s
        return out

    def log_prob(self, states, *, context: int = 0) -> float:
        """Exact natural-log probability of ``states`` following the state ``context``.

        .. math:: \\log P(x_{1:n} \\mid x_0) = \\sum_k \\log P_{x_{k-1} x_k}

        Returns ``-inf`` for a text containing a transition of probability zero.
        """
        return float(self.token_log_probs(states, context=context).sum())

    def token_log_probs(self, states, *, context=0) -> np.ndarray:
        """Per-token exact log-probabilities, same shape as ``states``.

        Parameters
        ----------
        states : array_like of int, shape (n,) or (m, n)
            States; a negative state (an unknown token) gets ``-inf``.
        context : int or array_like of int, shape () or (m,)
            The state before the first token of each row.
        """
        x = np.asarray(states, dtype=np.int64)
        squeeze = x.ndim == 1
        x2 = np.atleast_2d(x)
        ctx = np.broadcast_to(np.asarray(context, dtype=np.int64), (x2.shape[0],))
        prev = np.concatenate([ctx[:, None], x2[:, :-1]], axis=1)
        bad = (x2 < 0) | (prev < 0) | (x2 > self.vocab_size) | (prev > self.vocab_size)
        p = self.transition[np.where(bad, 0, prev), np.where(bad, 0, x2)]
        with np.errstate(divide="ignore"):
            lp = np.where(bad, -np.inf, np.log(p))
        return lp[0] if squeeze else lp
