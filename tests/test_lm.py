"""The language-model generational run (``collapse_theory.runs.lm``), at toy sizes on the CPU.

A tiny OPT model and word-level tokenizer are built here and saved to a
temporary folder to exercise the local-folder path (``--model``/``--corpus``);
the embedded ground-truth setting runs with a one-layer model on a few dozen
16-token blocks.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from collapse_theory.runs import lm  # noqa: E402
from collapse_theory.runs._language import GroundTruthLanguage  # noqa: E402

torch.set_num_threads(1)

#: A ground-truth setting small enough for a test (seconds per generation on one core).
TINY = dict(vocab_size=30, branching=3, train_blocks=24, valid_blocks=8, test_blocks=8, pretrain_tokens=3000,
            pretrain_steps=30, layers=1, hidden=16, heads=2, batch_size=8, generation_batch_size=64)
TINY_RUN = dict(setting=TINY, block_size=16, new_tokens=16, epochs=2, num_beams=3, show_progress=False)


def _tiny_model(vocab=12, seed=0):
    return lm.tiny_opt(vocab, layers=1, hidden=16, heads=2, max_positions=128, seed=seed)


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


def test_mix_original_replaces_exactly_the_requested_share():
    syn = np.zeros((50, 4), dtype=np.int64)
    org = np.arange(200).reshape(50, 4) + 1
    blocks, is_org = lm.mix_original(syn, org, 0.1, rng=0)
    assert is_org.sum() == 5
    np.testing.assert_array_equal(blocks[is_org], org[is_org])
    np.testing.assert_array_equal(blocks[~is_org], syn[~is_org])
    # reproducible from the seed, and a different seed picks another subset
    np.testing.assert_array_equal(lm.mix_original(syn, org, 0.1, rng=0)[1], is_org)
    assert not np.array_equal(lm.mix_original(syn, org, 0.1, rng=1)[1], is_org)
    assert not lm.mix_original(syn, org, 0.0, rng=0)[1].any()
    assert lm.mix_original(syn, org, 1.0, rng=0)[1].all()
    # every block is equally likely to be kept: over many draws each index is kept ~10% of the time
    counts = sum(lm.mix_original(syn, org, 0.1, rng=s)[1].astype(int) for s in range(400))
    assert counts.sum() == 400 * 5
    with pytest.raises(ValueError, match="keep_original"):
        lm.mix_original(syn, org, 1.5)
    with pytest.raises(ValueError, match="shape"):
        lm.mix_original(syn[:3], org, 0.1)


def test_regimes_set_epochs_and_original_share():
    cfg = lm._resolve(3, model=None, corpus=None, block_size=None, new_tokens=None, num_beams=5, repetition_penalty=1.0,
                      epochs=None, keep_original=None, lr=None, lr_min=None, batch_size=None, generation_batch_size=None,
                      regime="paper-10ep-10pct", quick=True, prompt_tokens=None, save_checkpoints=True, setting=None)
    assert cfg["epochs"] == 10 and cfg["keep_original"] == 0.1
    with pytest.raises(ValueError, match="regime"):
        lm.run(1, regime="paper-5ep", epochs=3)
    with pytest.raises(ValueError, match="regime"):
        lm.run(1, regime="nope")


def test_beam_search_continuation_has_exactly_the_requested_new_tokens():
    model = _tiny_model()
    eos = model.config.eos_token_id
    x = np.random.default_rng(0).integers(3, 12, size=(5, 6))
    # make end-of-sequence by far the most likely next token everywhere (constant final hidden
    # state aligned with its embedding): plain beam search stops at once, so only
    # min_new_tokens = max_new_tokens can give 64 new tokens
    with torch.no_grad():
        emb = model.model.decoder.embed_tokens.weight
        emb[eos] *= 20
        ln = model.model.decoder.final_layer_norm
        ln.weight.zero_()
        ln.bias.copy_(emb[eos])
    early = model.generate(input_ids=torch.as_tensor(x), num_beams=5, max_new_tokens=64, do_sample=False, pad_token_id=0)
    assert early.shape[1] - x.shape[1] < 64  # the unconstrained search stops early
    out = lm.continue_blocks(model, x, new_tokens=64, num_beams=5, batch_size=2, pad_token_id=0)
    assert out.shape == (5, 64) and out.dtype == np.int64
    assert not (out == eos).any()
    # deterministic, and the batch size does not change the result
    np.testing.assert_array_equal(out, lm.continue_blocks(model, x, new_tokens=64, num_beams=5, batch_size=5, pad_token_id=0))


def test_sequence_nll_is_the_mean_token_nll():
    model = _tiny_model(seed=1)
    x = np.random.default_rng(1).integers(0, 12, size=(3, 7))
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=torch.as_tensor(x)).logits, -1).numpy()
    naive = np.array([-np.mean([logp[i, k - 1, x[i, k]] for k in range(1, 7)]) for i in range(3)])
    np.testing.assert_allclose(lm.sequence_nll(model, x, batch_size=2), naive, rtol=1e-5)
    assert lm.perplexity(model, x) == pytest.approx(np.exp(naive.mean()), rel=1e-5)


def test_best_checkpoint_keeps_the_lowest_validation_loss():
    model = _tiny_model()
    best = lm.BestCheckpoint()
    w = model.model.decoder.embed_tokens.weight
    snapshots = {}
    for step, loss in enumerate([3.0, 1.0, 2.0, 1.0]):
        with torch.no_grad():
            w.add_(1.0)
        snapshots[step] = w.detach().clone()
        best.update(loss, model, step)
    assert best.step == 1 and best.loss == 1.0  # ties keep the earlier one
    torch.testing.assert_close(best.state["model.decoder.embed_tokens.weight"], snapshots[1])


def test_fine_tune_returns_the_best_epoch_weights():
    # a large learning rate makes the validation loss go up and down between epochs
    rng = np.random.default_rng(0)
    train = rng.integers(3, 12, size=(16, 8))
    valid = rng.integers(3, 12, size=(8, 8))
    model = _tiny_model(seed=2)
    res = lm.fine_tune(model, train, valid, epochs=6, lr=0.3, lr_min=0.3, batch_size=4, rng=0)
    assert res.valid_loss.shape == (6,)
    assert res.best_epoch == int(np.argmin(res.valid_loss)) + 1
    assert res.best_epoch != 6, "the test needs a run whose last epoch is not its best"
    # the returned model scores the validation set as the best epoch did
    assert np.mean(lm.sequence_nll(res.model, valid)) == pytest.approx(res.valid_loss.min(), rel=1e-5)


def test_truth_metrics_on_constructed_text():
    lang = GroundTruthLanguage(vocab_size=10, branching=2, rng=0)
    good = lang.sample(41, rng=1)
    ctx, states = good[:1], good[1:][None, :]
    m = lm._truth_metrics(lang, states, ctx)
    assert m["impossible_token_share"] == 0.0
    assert m["true_nll_per_token"] == pytest.approx(-lang.log_prob(states[0], context=int(ctx[0])) / 40)
    assert m["vocab_share"] == len(set(states[0][states[0] >= 1].tolist())) / 10
    # one impossible transition and one unknown token among 40
    i, j = np.argwhere(~lang.bigrams[1:, 1:])[0] + 1
    bad = states.copy()
    bad[0, 10], bad[0, 11] = i, j
    bad[0, 20] = -1
    m2 = lm._truth_metrics(lang, bad, ctx)
    lp = lang.token_log_probs(bad[0], context=int(ctx[0]))
    assert m2["impossible_token_share"] == pytest.approx(np.mean(~np.isfinite(lp)))
    assert m2["impossible_token_share"] >= 2 / 40


# ----------------------------------------------------------------------------- whole runs
def _same_runs(a, b):
    assert len(a.record.generations) == len(b.record.generations)
    for ga, gb in zip(a.record.generations, b.record.generations):
        assert ga.metrics == gb.metrics
        np.testing.assert_array_equal(ga.arrays["perplexity_under_initial"], gb.arrays["perplexity_under_initial"])
        assert ga.read_artifact("synthetic.npy") == gb.read_artifact("synthetic.npy")
        assert ga.info["example"] == gb.info["example"]


def test_ground_truth_run_is_reproducible_and_resumes(tmp_path):
    a = lm.run(2, rng=3, out=tmp_path / "a", keep_original=0.25, **TINY_RUN)
    assert list(a.generation) == [0, 1, 2]
    rec = a.record.generations
    syn = lm._npy_load(rec[1].read_artifact("synthetic.npy"))
    assert syn.shape == (TINY["train_blocks"], 16)
    assert rec[1].metrics["original_share"] == 0.25 and rec[0].metrics["original_share"] == 1.0
    assert np.all(np.isfinite(a.test_perplexity)) and np.all(a.test_perplexity > 1)
    for k in ("true_nll_per_token", "vocab_share", "bigram_share", "support", "theory_expected_support"):
        assert a.truth[k].shape == (3,)
    # the resampling chain's expected support never exceeds the real data's support
    assert np.all(a.truth["theory_expected_support"] <= a.reference["support"] + 1e-9)
    assert a.reference["impossible_token_share"] == 0.0
    assert "base.pt" in rec[0].artifacts and "model.pt" in rec[2].artifacts
    # the same seed gives the same run (in memory this time)
    _same_runs(a, lm.run(2, rng=3, out=None, keep_original=0.25, **TINY_RUN))
    # interrupt: drop the last generation (as if killed during it) and resume
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    shutil.rmtree(tmp_path / "b" / "gen-000002")
    with pytest.raises(FileExistsError):
        lm.run(2, rng=3, out=tmp_path / "b", keep_original=0.25, **TINY_RUN)
    b = lm.run(2, rng=3, out=tmp_path / "b", resume=True, keep_original=0.25, **TINY_RUN)
    _same_runs(a, b)
    # the record works with the toolkit's evaluator and the result draws its figures
    from collapse_theory.runs.evaluate import evaluate

    table = evaluate(a.record, metrics=("log_density_under_initial",))
    assert set(table["generation"]) == {0, 1, 2}
    assert set(a.figures()) == {"perplexity", "histograms", "tails"}


def test_local_model_and_corpus_folders(tmp_path):
    from collapse_theory.cli import main

    lang = GroundTruthLanguage(vocab_size=20, branching=3, rng=0)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, name in enumerate(("wiki.train.raw", "wiki.valid.raw", "wiki.test.raw")):
        lines = lm._sentences(lang, lang.sample([400, 150, 150][i], rng=i))
        (corpus / name).write_text("\n".join(lines) + "\n")
    tok = lm.train_word_tokenizer((corpus / "wiki.train.raw").read_text().splitlines())
    model = lm.tiny_opt(len(tok), layers=1, hidden=16, heads=2, max_positions=64, pad_token_id=tok.pad_token_id,
                        eos_token_id=tok.eos_token_id)
    folder = tmp_path / "tiny-opt"
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    out = tmp_path / "out"
    argv = ["lm", "--model", str(folder), "--corpus", str(corpus), "--generations", "1", "--block-size", "8",
            "--new-tokens", "8", "--epochs", "1", "--batch-size", "8", "--lr", "1e-3", "--num-beams", "2",
            "--device", "cpu", "--out", str(out), "--replicates", "2", "--no-save-checkpoints"]
    assert main(argv) == 0
    from collapse_theory.runs import GenerationalRun

    run, run1 = GenerationalRun.load(out / "run-0"), GenerationalRun.load(out / "run-1")
    assert run.seed.spawn_key != run1.seed.spawn_key  # independent replicate seeds
    import pandas as pd

    spread = pd.read_csv(out / "test_perplexity_runs.csv")
    ppl = np.array([[g.metrics["test_perplexity"] for g in r.generations] for r in (run, run1)])
    np.testing.assert_allclose(spread.test_perplexity_mean, ppl.mean(axis=0))
    np.testing.assert_allclose(spread.test_perplexity_std, ppl.std(axis=0, ddof=1))
    assert run.config["model"] == str(folder.resolve())
    n_train = run.generations[0].arrays["perplexity_under_initial"].size
    assert lm._npy_load(run.generations[1].read_artifact("synthetic.npy")).shape == (n_train, 8)
    # --no-save-checkpoints keeps only generation 0's model (scoring and resuming need it)
    assert "model.pt" in run.generations[0].artifacts and "model.pt" not in run.generations[1].artifacts
    assert (out / "figures" / "lm_perplexity.png").is_file() and (out / "summary.json").is_file()
    assert "true_nll_per_token" not in run.generations[0].metrics  # no ground truth for a user's corpus
    # running again into the same folder without --resume is refused, not overwritten
    assert main(argv) == 2
    assert main(argv + ["--resume"]) == 0


def test_missing_model_or_corpus_explains_what_to_place_where(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        lm.read_corpus(tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match="wiki.train.raw"):
        lm.read_corpus(tmp_path)
    with pytest.raises(FileNotFoundError, match="config.json"):
        lm.load_local_model(tmp_path)
    with pytest.raises(ValueError, match="both"):
        lm.run(1, model=tmp_path)
    with pytest.raises(ValueError, match="setting has unknown keys"):
        lm.run(1, setting={"layerz": 2})


def test_report_section_says_it_was_skipped_without_the_extra(monkeypatch):
    import sys

    from collapse_theory.report.sections import lm as section

    monkeypatch.setitem(sys.modules, "transformers", None)  # makes `import transformers` raise ImportError
    sec = section.build(quick=True, seed=0)
    assert sec.skipped == "the [lm] extra is not installed: pip install collapse_theory[lm]"
    assert not sec.figures
