"""How the next generation is sampled from a fitted model: temperature, top-k, top-p, min-p, curation.

A language model is rarely sampled as it is: its next-token distribution is
sharpened or flattened by a temperature and truncated to its head (top-k,
nucleus/top-p, min-p), and its outputs are often curated (a reward model
keeps the best of several, a verifier filters). :class:`Sampler` applies these
operators to the discrete chain's fitted model (the empirical distribution)
before the next ``M`` samples are drawn
(``DiscreteChain(p0, sample_size=M, sampler=Sampler(...))``).

Order of the operators
----------------------
The order is the one Hugging Face ``transformers`` applies its logits
warpers in (``GenerationMixin._get_logits_processor``, read in version 5.24:
``TemperatureLogitsWarper``, then ``TopKLogitsWarper``, ``TopPLogitsWarper``,
``MinPLogitsWarper``), each acting on the renormalised output of the one
before:

1. temperature ``tau``: :math:`w_i = p_i^{1/\\tau}` (computed as
   :math:`\\exp((\\ln p_i - \\ln p_{max})/\\tau)`, so no overflow at small ``tau``);
2. top-k: the ``k`` most probable states;
3. top-p: the smallest set of most probable states whose mass reaches ``p``
   (a state is kept iff the mass of the states before it is ``< p``; this is
   transformers' rule "remove a token if the cumulative mass of it and all
   less probable ones is ``<= 1 - p``");
4. min-p: the states with :math:`w_i \\ge \\text{min\\_p} \\cdot w_{max}`;
5. curation (:class:`BestOfK` or :class:`Verifier`), on the sampled law.

Ties are broken by a stated rule: states are ordered by decreasing
probability and, among equal probabilities, by **increasing state index**;
every cut keeps a prefix of that order (transformers' top-k instead keeps
every state tied with the ``k``-th; ours keeps exactly ``k``). Mass sums are
taken sequentially in that order, in double precision.

Curation (the number of kept samples per generation stays ``M``):

* :class:`BestOfK` (Ferbach et al., NeurIPS 2024, arXiv 2407.09499): each kept
  sample is chosen among ``k`` independent samples of the sampled law, the
  one of largest reward (``choice="argmax"``; ties: the first drawn) or one
  drawn with probability :math:`\\propto e^{r}` (``choice="bradley-terry"``);
* :class:`Verifier` (Feng et al. 2024, arXiv 2406.07515): samples are drawn
  until ``M`` are accepted, each accepted independently with probability
  ``v(i)``; the kept law is :math:`\\propto q_i v_i`.

References
----------
Marchi et al. 2024, "Heat death of generative models in closed-loop learning",
arXiv 2404.02325; Drayson et al. 2025, arXiv 2502.15654; Holtzman et al. 2020,
"The curious case of neural text degeneration" (top-p), ICLR; Nguyen et al.
2024, "Min p sampling", arXiv 2407.01082.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from ._validate import (
    check_array,
    check_choice,
    check_float,
    check_int,
    check_probability_vector,
)

__all__ = ["CHOICES", "BestOfK", "Sampler", "Verifier"]

#: Selection rules of :class:`BestOfK`.
CHOICES = ("bradley-terry", "argmax")


def _freeze(arr: np.ndarray) -> np.ndarray:
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class BestOfK:
    """Best-of-``k`` curation by a reward vector (Ferbach et al., NeurIPS 2024).

    Parameters
    ----------
    reward : array_like, shape (K,)
        Finite reward ``r(i)`` of each state.
    k : int
        Candidates per kept sample, ``>= 1`` (``k = 1`` is no curation).
    choice : {"bradley-terry", "argmax"}
        Bradley–Terry: candidate ``j`` is kept with probability
        :math:`e^{r(X_j)} / \\sum_l e^{r(X_l)}`; argmax: the candidate of
        largest reward (among equal rewards, the first drawn).

    Raises
    ------
    ValueError
        ``reward`` not finite or not 1-D, ``k < 1``, an unknown ``choice``.

    Examples
    --------
    >>> from collapse_theory.sampling import BestOfK
    >>> BestOfK([0.0, 1.0, 2.0], k=4).choice
    'bradley-terry'
    """

    reward: np.ndarray
    k: int = 4
    choice: str = "bradley-terry"

    def __post_init__(self):
        r = check_array("curation.reward", self.reward, ndim=1, min_size=1)
        object.__setattr__(self, "reward", _freeze(r))
        object.__setattr__(self, "k", check_int("curation.k", self.k, min=1))
        object.__setattr__(self, "choice", check_choice("curation.choice", self.choice, CHOICES))

    @property
    def size(self) -> int:
        return self.reward.size

    def to_dict(self) -> dict:
        return {"kind": "best-of-k", "k": self.k, "choice": self.choice, "reward": self.reward.tolist()}


@dataclass(frozen=True, eq=False)
class Verifier:
    """A verifier that accepts a sample of state ``i`` with probability ``accept[i]`` (Feng et al. 2024).

    Samples are drawn until ``M`` are accepted, so the kept samples are i.i.d.
    from :math:`q_i v_i / \\sum_j q_j v_j`. A generation whose sampled law puts
    no mass on accepted states cannot keep ``M`` samples; the chain raises.

    Parameters
    ----------
    accept : array_like, shape (K,)
        Acceptance probabilities in [0, 1].

    Examples
    --------
    >>> from collapse_theory.sampling import Verifier
    >>> Verifier([1.0, 0.5]).accept.tolist()
    [1.0, 0.5]
    """

    accept: np.ndarray

    def __post_init__(self):
        v = check_array("curation.accept", self.accept, ndim=1, min_size=1)
        if np.any(v < 0) or np.any(v > 1):
            raise ValueError(
                f"curation.accept: verifier probabilities must lie in [0, 1], got values in [{v.min()}, {v.max()}]"
            )
        if not np.any(v > 0):
            raise ValueError("curation.accept: the verifier must accept some state (all probabilities are 0)")
        object.__setattr__(self, "accept", _freeze(v))

    @property
    def size(self) -> int:
        return self.accept.size

    def to_dict(self) -> dict:
        return {"kind": "verifier", "accept": self.accept.tolist()}


def _opt_float(name, value, check):
    if value is None:
        return None
    return check(name, value)


@dataclass(frozen=True, eq=False)
class Sampler:
    """Sampling operators applied to the fitted model before the next generation's samples are drawn.

    Parameters
    ----------
    temperature : float, optional
        ``tau > 0``; ``q ∝ p^{1/tau}`` (None or 1: unchanged).
    top_k : int, optional
        Keep the ``k >= 1`` most probable states.
    top_p : float, optional
        In (0, 1]: keep the smallest set of most probable states whose mass reaches ``top_p``.
    min_p : float, optional
        In (0, 1]: keep the states with probability at least ``min_p`` times the largest.
    curation : BestOfK or Verifier, optional
        Applied to the sampled law; the number of kept samples stays ``M``.

    The operators act in the order temperature, top-k, top-p, min-p (that of
    Hugging Face ``transformers``), then curation; ties by increasing state
    index (see the module docstring).

    Raises
    ------
    ValueError
        ``temperature <= 0``, ``top_k < 1``, ``top_p`` or ``min_p`` outside (0, 1], non-finite values.
    TypeError
        ``curation`` not a BestOfK or Verifier.

    Examples
    --------
    >>> import collapse_theory as ct
    >>> s = ct.Sampler(top_p=0.9)
    >>> s.apply([0.5, 0.3, 0.15, 0.05]).round(4).tolist()
    [0.5263, 0.3158, 0.1579, 0.0]
    >>> ct.Sampler().is_identity
    True
    """

    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    min_p: float | None = None
    curation: BestOfK | Verifier | None = None

    def __post_init__(self):
        if self.temperature is not None:
            t = check_float("temperature", self.temperature)
            if not t > 0:
                raise ValueError(f"temperature must be > 0, got {t}")
            object.__setattr__(self, "temperature", t)
        if self.top_k is not None:
            object.__setattr__(self, "top_k", check_int("top_k", self.top_k, min=1))
        for name in ("top_p", "min_p"):
            v = getattr(self, name)
            if v is not None:
                object.__setattr__(self, name, check_float(name, v, min=0.0, max=1.0, min_inclusive=False))
        if self.curation is not None and not isinstance(self.curation, (BestOfK, Verifier)):
            raise TypeError(
                f"curation must be a collapse_theory.sampling.BestOfK or Verifier, got {type(self.curation).__name__}"
            )

    # -- what the kernels read

    @property
    def tau(self) -> float:
        """The temperature, 1.0 when unset."""
        return 1.0 if self.temperature is None else self.temperature

    @property
    def truncates(self) -> bool:
        """True if some cut (top-k, top-p < 1, min-p) is set."""
        return self.top_k is not None or (self.top_p is not None and self.top_p < 1.0) or self.min_p is not None

    @property
    def is_identity(self) -> bool:
        """True if the sampler leaves every model unchanged (temperature 1, no cut, no curation)."""
        return self.tau == 1.0 and not self.truncates and self.curation is None

    def check_states(self, K: int) -> None:
        """Raise ValueError if the curation vector does not have one entry per state."""
        c = self.curation
        if c is not None and c.size != K:
            name = "curation.reward" if isinstance(c, BestOfK) else "curation.accept"
            raise ValueError(f"{name} must have one entry per state (K = {K}), got {c.size}")

    # -- the map, in NumPy (the definition the kernels implement)

    def order(self, p) -> np.ndarray:
        """States by decreasing probability, ties by increasing index (int64, shape (K,))."""
        p = np.asarray(p, dtype=np.float64)
        return np.lexsort((np.arange(p.size), -p)).astype(np.int64)

    def kept(self, p) -> np.ndarray:
        """Indices of the states the sampling operators keep, in the order of :meth:`order` (shape (n,))."""
        p = check_probability_vector("p", p)
        order = self.order(p)
        order = order[p[order] > 0]
        w = self._tempered(p[order])
        n = self._cut(w)
        return order[:n]

    def _tempered(self, w: np.ndarray) -> np.ndarray:
        if self.tau == 1.0:
            return w.copy()
        return np.exp((np.log(w) - np.log(w[0])) / self.tau)

    def _cut(self, w: np.ndarray) -> int:
        n = w.size
        if self.top_k is not None:
            n = min(n, self.top_k)
        if self.top_p is not None and self.top_p < 1.0:
            W = np.cumsum(w[:n])[-1]
            before = np.concatenate([[0.0], np.cumsum(w[:n] / W)[:-1]])
            n = int(np.count_nonzero(before < self.top_p))
        if self.min_p is not None:
            n = int(np.count_nonzero(w[:n] >= self.min_p * w[0]))
        return max(n, 1)

    def apply(self, p) -> np.ndarray:
        """The distribution the model ``p`` is sampled from (temperature and cuts; no curation).

        Parameters
        ----------
        p : array_like, shape (K,)
            A probability vector (the fitted model).

        Returns
        -------
        ndarray, shape (K,)
            The renormalised sampled law; zero outside the kept states.
        """
        p = check_probability_vector("p", p)
        order = self.order(p)
        order = order[p[order] > 0]
        w = self._tempered(p[order])
        n = self._cut(w)
        out = np.zeros(p.size)
        out[order[:n]] = w[:n] / np.cumsum(w[:n])[-1]
        return out

    def to_dict(self) -> dict:
        return {
            "temperature": self.temperature,
            "top_k": self.top_k,
            "top_p": self.top_p,
            "min_p": self.min_p,
            "curation": None if self.curation is None else self.curation.to_dict(),
        }

    def label(self) -> str:
        """A short human-readable name, e.g. ``'temperature 0.7, top-p 0.95'`` (``'pure resampling'`` for the identity)."""
        parts = []
        if self.temperature is not None and self.temperature != 1.0:
            parts.append(f"temperature {self.temperature:g}")
        if self.top_k is not None:
            parts.append(f"top-k {self.top_k}")
        if self.top_p is not None and self.top_p < 1.0:
            parts.append(f"top-p {self.top_p:g}")
        if self.min_p is not None:
            parts.append(f"min-p {self.min_p:g}")
        c = self.curation
        if isinstance(c, BestOfK):
            parts.append(f"best-of-{c.k} ({c.choice})")
        elif isinstance(c, Verifier):
            parts.append("verifier")
        return ", ".join(parts) if parts else "pure resampling"

    @classmethod
    def from_dict(cls, d: dict) -> Sampler:
        """Inverse of :meth:`to_dict` (JSON records, sweep cells)."""
        if not isinstance(d, dict):
            raise TypeError(f"sampler must be a dict as Sampler.to_dict writes it, got {type(d).__name__}")
        unknown = set(d) - {"temperature", "top_k", "top_p", "min_p", "curation"}
        if unknown:
            raise ValueError(f"sampler: unknown keys {sorted(unknown)}")
        cur = d.get("curation")
        if isinstance(cur, dict):
            kind = cur.get("kind")
            if kind == "best-of-k":
                cur = BestOfK(cur["reward"], k=cur.get("k", 4), choice=cur.get("choice", "bradley-terry"))
            elif kind == "verifier":
                cur = Verifier(cur["accept"])
            else:
                raise ValueError(f"sampler.curation: unknown kind {kind!r}; accepted: 'best-of-k', 'verifier'")
        top_k = d.get("top_k")
        if isinstance(top_k, numbers.Real) and not isinstance(top_k, numbers.Integral) and float(top_k).is_integer():
            top_k = int(top_k)
        return cls(d.get("temperature"), top_k, d.get("top_p"), d.get("min_p"), cur)
