"""The sampling study, its report section, the LM record reader and the CLI command."""

from __future__ import annotations

import json

import numpy as np
import pytest

import collapse_theory as ct
from collapse_theory.studies.sampling import lm_comparison, lm_record, lm_sampler


def _lm_json(tmp_path, **over):
    data = {
        "config": {"ground_truth": {"vocab_size": 200, "zipf": 1.1}, "num_beams": 5},
        "reference": {"tokens_per_generation": 300.0, "support": 150},
        "support": {"paper-5ep": [121.0, 60.0, 37.0]},
        "theory_expected_support": [121.0, 100.0, 89.0],
    }
    data.update(over)
    rec = {"key": "lm", "status": "ok", "data": data}
    (tmp_path / "data").mkdir(parents=True, exist_ok=True)
    path = tmp_path / "data" / "lm.json"
    path.write_text(json.dumps(rec))
    return path


def test_lm_record_validates(tmp_path):
    rec, why = lm_record(tmp_path / "data" / "lm.json")
    assert rec is None and "has not run" in why
    path = _lm_json(tmp_path)
    rec, why = lm_record(path)
    assert why is None and rec["decoding"] == {"method": "beam", "width": 5} and rec["tokens_per_generation"] == 300
    for bad in (
        {"support": {"x": [1.0, "__import__('os')"]}},
        {"support": {"x": [1.0, -3.0]}},
        {"config": {"ground_truth": {"vocab_size": "200", "zipf": 1.1}}},
        {"reference": {"tokens_per_generation": float("inf")}},
    ):
        rec, why = lm_record(_lm_json(tmp_path, **bad))
        assert rec is None and "lm.json" in why
    path.write_text("{not json")
    assert lm_record(path)[0] is None


def test_lm_sampler_maps_decoding():
    smps, note = lm_sampler({"method": "sample", "temperature": 0.8, "top_p": 0.9})
    (s,) = smps.values()
    assert s.temperature == 0.8 and s.top_p == 0.9 and "sampled" in note
    smps, note = lm_sampler({"method": "beam", "width": 5})
    assert "not a sampler" in note and "pure resampling" in smps


def test_lm_comparison_shapes(tmp_path):
    rec, _ = lm_record(_lm_json(tmp_path))
    cmp = lm_comparison(rec, replicates=200, rng=0)
    assert cmp["chain_p0"]["calibrated"]
    for d in cmp["chain"].values():
        assert len(d["mean"]) == 3
    # calibrated so that M samples of p0 hold the LM record's 121 distinct words: pure resampling's generation 1
    d = cmp["chain"]["pure resampling"]
    assert d["low"][0] - 1 < 121.0 < d["high"][0] + 1


def test_study_rows_are_consistent_with_exact_theory():
    res = ct.studies.sampling_curation(K=200, M=200, generations=6, replicates=300, rng=3)
    tab = res.table()
    assert tab["p_value"].notna().sum() >= 10
    assert res.passed()
    assert set(res.curves) >= {"generation", "pure resampling", "top-p 0.95"}
    c = res.curves["top-k 20"]
    assert np.all(np.isfinite(c["support_exact"]))


def test_english_words_p0():
    pytest.importorskip("wordfreq")
    from collapse_theory.studies.discrete import english_words, resolve_p0

    words, p = english_words(50)
    assert words[0] == "the" and p.size == 50 and abs(p.sum() - 1) < 1e-12 and np.all(np.diff(p) <= 0)
    np.testing.assert_array_equal(resolve_p0("english-words", 50), p)


@pytest.mark.slow
def test_section_builds_with_captions(tmp_path):
    from collapse_theory.report.sections import sampling

    _lm_json(tmp_path)
    sec = sampling.build(quick=True, seed=0, out=tmp_path)
    assert sec.skipped is None
    assert set(sec.figures) == set(sec.captions) and "lm_vocabulary" in sec.figures
    assert "Support after 20 generations" in sec.caption and "LM vocabulary survival" in sec.caption
    sec2 = sampling.build(quick=True, seed=0, out=tmp_path / "none")
    assert "has not run" in sec2.caption and "lm_vocabulary" not in sec2.figures


def test_cli_sampling(tmp_path, capsys):
    from collapse_theory.cli import main

    rc = main(["sampling", "--K", "60", "--M", "60", "--generations", "3", "--replicates", "10", "--top-k", "6",
               "--mixing", "accumulate-subsample", "--out", str(tmp_path)])
    assert rc == 0 and (tmp_path / "sampling_curation.csv").exists()
    assert main(["sampling", "--temperature", "0", "--out", str(tmp_path), "--force"]) == 2  # --out holds files: --force
    assert "temperature" in capsys.readouterr().err


_THREAD_SCRIPT = r"""
import sys
import numba
import numpy as np
import collapse_theory as ct
from collapse_theory.sampling import BestOfK, Verifier

p = np.arange(1, 101, dtype=float) ** -1.1
p /= p.sum()
r = np.linspace(0, 1, 100)
out = {"threads": np.array(numba.get_num_threads())}
cases = {
    "temp_top_p": (ct.Mixing.replace(), ct.Sampler(temperature=0.8, top_p=0.9)),
    "bt_fresh": (ct.Mixing.fresh(0.1), ct.Sampler(curation=BestOfK(r, k=3))),
    "verifier_sub": (ct.Mixing.accumulate(subsample=True), ct.Sampler(min_p=0.05, curation=Verifier(0.2 + 0.8 * r))),
    "augment": (ct.Mixing.augment(2.0), ct.Sampler(top_k=20)),
}
for name, (mix, smp) in cases.items():
    out[name] = ct.DiscreteChain(p, 80, mixing=mix, sampler=smp).simulate(15, 48, rng=9, record=("probs",)).probs
np.savez(sys.argv[1], **out)
"""


@pytest.mark.slow
def test_sampled_chains_identical_with_one_and_two_threads(tmp_path):
    # NUMBA_NUM_THREADS is read once per process: each count runs in its own interpreter
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    res = {}
    for n in (1, 2):
        env = {**os.environ, "NUMBA_NUM_THREADS": str(n), "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
        env.pop("NUMBA_DISABLE_JIT", None)
        path = tmp_path / f"{n}.npz"
        proc = subprocess.run([sys.executable, "-c", _THREAD_SCRIPT, str(path)], env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        with np.load(path) as f:
            res[n] = {k: f[k] for k in f.files}
    assert int(res[1].pop("threads")) == 1 and int(res[2].pop("threads")) == 2
    for key in res[1]:
        np.testing.assert_array_equal(res[1][key], res[2][key], err_msg=key)
    assert not np.array_equal(res[1]["temp_top_p"][0], res[1]["temp_top_p"][1])
