"""The command line: one --mixing SPEC everywhere, and exit codes that say whether a study agrees with theory."""

from __future__ import annotations

import json

import numpy as np
import pytest

import collapse_theory as ct
from collapse_theory import cli
from collapse_theory.studies import StudyResult
from collapse_theory.studies._base import make_row


def test_every_simulating_command_takes_mixing():
    parser = cli.get_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in ("absorb", "tails", "gaussian", "regression", "gmm", "vae", "lm"):
        opts = {o for a in sub.choices[name]._actions for o in a.option_strings}
        assert "--mixing" in opts, name
        assert not opts & {"--real", "--workflow", "--gamma", "--keep-original"}, name


def test_tails_mixing_spec_reaches_the_study(tmp_path):
    code = cli.main(["tails", "--M", "20", "--K", "30", "--generations", "4", "--replicates", "30",
                     "--mixing", "fresh:0.25", "--out", str(tmp_path)])
    assert code == 0
    rec = json.loads((tmp_path / "tail_loss.json").read_text())
    assert rec["params"]["mixing"] == ct.Mixing.fresh(0.25).to_dict()


ALL_WORKFLOW_SPECS = ["replace", "fresh:0.2", "mixture:0.5,0.3,0.2", "accumulate:0.1", "accumulate-subsample",
                      "augment:2"]


@pytest.mark.parametrize("spec", ALL_WORKFLOW_SPECS)
def test_tails_takes_every_workflow(spec, tmp_path):
    code = cli.main(["tails", "--M", "15", "--K", "20", "--generations", "3", "--replicates", "20",
                     "--mixing", spec, "--out", str(tmp_path)])
    assert code == 0
    rec = json.loads((tmp_path / "tail_loss.json").read_text())
    assert rec["params"]["mixing"] == ct.Mixing.from_spec(spec).to_dict()
    assert ct.Mixing.from_spec(spec).workflow in spec.split(":")[0]


@pytest.mark.parametrize("spec", ALL_WORKFLOW_SPECS)
def test_gaussian_mitigation_takes_every_workflow(spec, tmp_path):
    code = cli.main(["gaussian", "mitigation", "--M", "10", "--generations", "3", "--replicates", "200",
                     "--mixing", spec, "--out", str(tmp_path)])
    assert code in (0, 1)  # 1 only if the study is inconsistent with theory (not the point here)
    recs = list(tmp_path.glob("*.json"))
    assert recs
    rec = json.loads(recs[0].read_text())
    assert ct.Mixing.from_spec(rec["params"]["mixing"]) == ct.Mixing.from_spec(spec)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["tails", "--mixing", "pooled"], "unknown workflow 'pooled'"),
        (["absorb", "--mixing", "fresh:0.1"], "accepted workflows: replace"),
        (["gaussian", "w2", "--mixing", "accumulate"], "collapse-theory gaussian w2 cannot honour"),
    ],
)
def test_bad_mixing_is_refused_with_exit_code_2(argv, message, tmp_path, capsys):
    assert cli.main([*argv, "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


def _fake_study(p_values):
    def study(*args, **kwargs):
        rows = [make_row(f"q{i}", 1.0, theory=1.0, p_value=p) for i, p in enumerate(p_values)]
        return StudyResult(name="fake", rows=rows, params={"M": 1})

    return study


@pytest.mark.parametrize("p_values, code", [([0.5, 0.2], 0), ([0.5, 1e-7], 1), ([np.nan], 0)])
def test_study_inconsistent_with_theory_exits_1_after_writing(p_values, code, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(ct.studies, "absorption", _fake_study(p_values))
    assert cli.main(["absorb", "--out", str(tmp_path)]) == code
    assert (tmp_path / "fake.csv").is_file() and (tmp_path / "fake.json").is_file()  # outputs written either way
    err = capsys.readouterr().err
    assert ("INCONSISTENT with theory" in err) == (code == 1)
    if code == 1:
        assert "q1" in err and "q0" not in err  # the failing row is named


def test_vae_pixels_and_n_synthetic_reach_the_run(monkeypatch, tmp_path):
    pytest.importorskip("torch")
    from collapse_theory.runs import vae

    seen = {}

    def fake_run(generations, **kwargs):
        seen.update(kwargs)
        raise ValueError("stop here")  # the CLI turns a ValueError into a message and exit code 2

    monkeypatch.setattr(vae, "run", fake_run)
    code = cli.main(["vae", "--generations", "1", "--pixels", "mean", "--n-synthetic", "50", "--out", str(tmp_path)])
    assert code != 0
    assert seen["pixels"] == "mean" and seen["n_synthetic"] == 50
    with pytest.raises(SystemExit):
        cli.get_parser().parse_args(["vae", "--pixels", "noise"])
