"""Decoding: how a generation's model writes its successor's training data.

The paper continues every training block with 5-way beam search
(``num_beams=5``, no sampling); the authors' public script adds a repetition
penalty of 3.0 and the paper's text reports 2.0 as an ablation. Beam search
is mode-seeking: a small or under-trained model falls into loops ("bebe
bebe ...") from generation 0 on, which is degeneration, not the gradual
tail loss the paper describes. Ancestral sampling (temperature 1, no
truncation) draws from the model's own distribution, which is the
functional-approximation setting of the paper's theory; temperature, top-k
and top-p (nucleus) truncation sit between the two.

Every decoder produces *exactly* ``new_tokens`` tokens per prompt
(``min_new_tokens = max_new_tokens``, end-of-sequence suppressed until then)
and, under a fixed ``rng``, the same tokens every time (torch is seeded per
batch inside :func:`collapse_theory.runs._torch.torch_state`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..._progress import progress
from ..._rng import child, seed_sequence
from ..._validate import check_float, check_int

__all__ = ["Decoding", "DECODERS", "check_decoding", "generate"]

#: The decoding methods a run accepts.
DECODERS = ("beam", "greedy", "sample")


@dataclass(frozen=True)
class Decoding:
    """A decoding setting for :func:`generate` (and ``lm.run(decoding=...)``).

    Parameters
    ----------
    method : {"beam", "greedy", "sample"}
        Beam search (deterministic, ``width`` beams), greedy (``width`` 1),
        or ancestral sampling.
    width : int
        Beam width (the paper's 5); must be 1 unless ``method="beam"``.
    temperature : float
        Sampling temperature (> 0); only with ``method="sample"``.
    top_k : int or None
        Keep only the ``top_k`` most likely tokens before sampling.
    top_p : float or None
        Nucleus sampling: keep the smallest set of tokens holding ``top_p`` of
        the mass, in (0, 1].
    repetition_penalty : float
        CTRL's penalty (Keskar et al. 2019) on tokens already in the
        sequence: 1.0 is none; 3.0 in the authors' script, 2.0 in the paper's
        ablation.

    Examples
    --------
    >>> Decoding.from_spec({"method": "beam", "width": 5}).to_spec()
    'beam:5'
    >>> Decoding.from_spec("sample:0.9").temperature
    0.9
    >>> Decoding.from_spec({"method": "sample", "top_p": 0.95}).to_dict()["top_p"]
    0.95
    """

    method: str = "beam"
    width: int = 5
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    repetition_penalty: float = 1.0

    def __post_init__(self):
        if self.method not in DECODERS:
            raise ValueError(f"decoding.method must be one of {', '.join(DECODERS)}, got {self.method!r}")
        width = check_int("decoding.width", self.width, min=1)
        if self.method != "beam" and width != 1:
            raise ValueError(f"decoding.width={width} needs method='beam' (method={self.method!r} uses width 1)")
        object.__setattr__(self, "width", width)
        t = check_float("decoding.temperature", self.temperature, min=0.0)
        if not t > 0:
            raise ValueError(f"decoding.temperature must be > 0, got {self.temperature}")
        sampling_only = {"temperature": t != 1.0, "top_k": self.top_k is not None, "top_p": self.top_p is not None}
        if self.method != "sample" and any(sampling_only.values()):
            used = [k for k, v in sampling_only.items() if v]
            raise ValueError(f"decoding: {', '.join(used)} apply only to method='sample', got method={self.method!r}")
        object.__setattr__(self, "temperature", t)
        if self.top_k is not None:
            object.__setattr__(self, "top_k", check_int("decoding.top_k", self.top_k, min=1))
        if self.top_p is not None:
            p = check_float("decoding.top_p", self.top_p, min=0.0, max=1.0)
            if not p > 0:
                raise ValueError(f"decoding.top_p must be in (0, 1], got {self.top_p}")
            object.__setattr__(self, "top_p", p)
        rp = check_float("decoding.repetition_penalty", self.repetition_penalty, min=0.0)
        if not rp > 0:
            raise ValueError(f"decoding.repetition_penalty must be > 0, got {self.repetition_penalty}")
        object.__setattr__(self, "repetition_penalty", rp)

    # ------------------------------------------------------------------ conversions
    @classmethod
    def from_spec(cls, spec) -> Decoding:
        """A Decoding from a Decoding, a dict, or a string.

        Strings: ``"beam"`` (width 5), ``"beam:W"``, ``"greedy"``, ``"sample"``
        (temperature 1) or ``"sample:T"``. Dicts: the field names, with
        ``"method"``; ``num_beams`` is accepted for ``width``.
        """
        if isinstance(spec, cls):
            return spec
        if spec is None:
            return cls()
        if isinstance(spec, str):
            name, _, arg = spec.partition(":")
            name = name.strip()
            if name not in DECODERS:
                raise ValueError(f"decoding: unknown method {spec!r}; accepted: {', '.join(DECODERS)} "
                                 "(as 'beam:5', 'greedy', 'sample:0.9' or a dict)")
            try:
                if name == "beam":
                    return cls("beam", width=int(arg) if arg else 5)
                if name == "sample":
                    return cls("sample", width=1, temperature=float(arg) if arg else 1.0)
            except ValueError as exc:
                raise ValueError(f"decoding: cannot read {spec!r}: {exc}") from None
            if arg:
                raise ValueError(f"decoding: 'greedy' takes no argument, got {spec!r}")
            return cls("greedy", width=1)
        if isinstance(spec, dict):
            d = dict(spec)
            if "num_beams" in d:
                d["width"] = d.pop("num_beams")
            method = d.pop("method", "beam")
            fields = {f.name for f in dataclasses.fields(cls)} - {"method"}
            unknown = sorted(set(d) - fields)
            if unknown:
                raise ValueError(f"decoding has unknown keys {unknown}; accepted: method, {', '.join(sorted(fields))}")
            if method != "beam":
                d.setdefault("width", 1)
            return cls(method, **d)
        raise TypeError(f"decoding must be a Decoding, dict or str, got {type(spec).__name__}")

    def to_dict(self) -> dict:
        """JSON-able fields (round trip through :meth:`from_spec`)."""
        return dataclasses.asdict(self)

    def to_spec(self) -> str:
        """A short label, e.g. ``'beam:5'``, ``'greedy+rp2'``, ``'sample:1,top_p=0.95'``."""
        if self.method == "beam":
            s = f"beam:{self.width}"
        elif self.method == "greedy":
            s = "greedy"
        else:
            s = f"sample:{self.temperature:g}"
            if self.top_k is not None:
                s += f",top_k={self.top_k}"
            if self.top_p is not None:
                s += f",top_p={self.top_p:g}"
        if self.repetition_penalty != 1.0:
            s += f"+rp{self.repetition_penalty:g}"
        return s

    def generate_kwargs(self) -> dict:
        """Keyword arguments of ``transformers`` ``model.generate`` for this setting."""
        kw = {"do_sample": self.method == "sample", "num_beams": self.width,
              "repetition_penalty": self.repetition_penalty}
        if self.method == "beam":
            kw["early_stopping"] = False
        if self.method == "sample":
            # transformers' defaults (top_k=50) would silently truncate: state every knob
            kw.update(temperature=self.temperature, top_k=self.top_k if self.top_k is not None else 0,
                      top_p=self.top_p if self.top_p is not None else 1.0)
        return kw


def check_decoding(decoding) -> Decoding:
    """Normalise ``decoding`` (None: the paper's 5-way beam search) into a :class:`Decoding`."""
    return Decoding.from_spec(decoding)


def _batches(n: int, batch_size: int):
    for i in range(0, n, batch_size):
        yield slice(i, min(i + batch_size, n))


def generate(model, prompts, *, new_tokens: int = 64, decoding=None, rng=None, batch_size: int = 32,
             pad_token_id: int | None = None, show_progress=None) -> np.ndarray:
    """Continue every prompt with exactly ``new_tokens`` tokens.

    Parameters
    ----------
    model : transformers causal LM
    prompts : array_like of int, shape (n, L)
        Token ids, all of one length (no padding needed).
    new_tokens : int
        Tokens generated per prompt (the paper's 64).
    decoding : Decoding, dict, str or None
        See :class:`Decoding`; None is 5-way beam search.
    rng : None, int, SeedSequence or Generator
        Seeds torch per batch (batch ``b`` draws from ``child(rng, b)``), so
        the output is the same for the same ``rng`` and ``batch_size``.
    batch_size : int
        Prompts per ``generate`` call (each expands to ``width`` beams).
    pad_token_id : int, optional
        Defaults to the model's pad token, else its end-of-sequence token.
    show_progress : bool or None
        One progress step per generated token of each batch.

    Returns
    -------
    ndarray of int64, shape (n, new_tokens)

    Examples
    --------
    >>> from collapse_theory.runs.lm._models import tiny_opt
    >>> m = tiny_opt(12, layers=1, hidden=16, heads=2)
    >>> generate(m, np.ones((3, 4), dtype=int), new_tokens=5, decoding="sample", rng=0, show_progress=False).shape
    (3, 5)
    """
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    from .._torch import torch_seed, torch_state

    dec = check_decoding(decoding)
    new_tokens = check_int("new_tokens", new_tokens, min=1)
    batch_size = check_int("batch_size", batch_size, min=1)
    x = torch.as_tensor(np.asarray(prompts, dtype=np.int64))
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"prompts must have shape (n, L) with L >= 1, got {tuple(x.shape)}")
    dev = next(model.parameters()).device
    if pad_token_id is None:
        pad_token_id = model.config.pad_token_id if model.config.pad_token_id is not None else model.config.eos_token_id
    ss = seed_sequence(rng)
    out = np.empty((x.shape[0], new_tokens), dtype=np.int64)
    batches = list(_batches(x.shape[0], batch_size))
    bar = progress(total=len(batches) * new_tokens, desc=f"generate ({dec.to_spec()})", show=show_progress, unit="tok")

    class _Tick(StoppingCriteria):  # called once per decoding step: a progress tick that never stops
        def __call__(self, input_ids, scores, **kwargs):
            bar.update(1)
            return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)

    kw = dec.generate_kwargs()
    model.eval()
    try:
        with torch.no_grad():
            for b, sl in enumerate(batches):
                xb = x[sl].to(dev)
                with torch_state(torch_seed(child(ss, b)), dev):
                    seq = model.generate(
                        input_ids=xb, attention_mask=torch.ones_like(xb), min_new_tokens=new_tokens,
                        max_new_tokens=new_tokens, pad_token_id=pad_token_id, num_return_sequences=1,
                        stopping_criteria=StoppingCriteriaList([_Tick()]), **kw,
                    )
                gen = seq[:, xb.shape[1]:]
                if gen.shape[1] != new_tokens:  # min = max makes this impossible; never store a ragged block
                    raise RuntimeError(f"generate returned {gen.shape[1]} new tokens instead of {new_tokens}")
                out[sl] = gen.cpu().numpy()
    finally:
        bar.close()
    return out
