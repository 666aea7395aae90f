"""``GenerationalRun.open(extra_packages=...)``: the packages an adapter imports are in run.json's provenance."""

from __future__ import annotations

import json
from importlib import metadata

import numpy as np
import pytest

from collapse_theory.runs.record import GenerationalRun, GenerationRecord

ABSENT = "no-such-distribution-for-collapse-theory"


def _one_generation(run):
    run.append(GenerationRecord(generation=run.next_generation, metrics={"x": 1.0}, sample=np.zeros((2, 1))))


def test_extra_packages_are_written_to_run_json_and_kept_on_reload(tmp_path):
    out = tmp_path / "run"
    run = GenerationalRun.open(out, kind="toy", config={"a": 1}, seed=0, extra_packages=("pytest", ABSENT))
    _one_generation(run)
    stored = json.loads((out / "run.json").read_text())["provenance"]["versions"]
    # expected values read independently, through importlib.metadata
    assert stored["pytest"] == metadata.version("pytest") == pytest.__version__
    assert stored[ABSENT] is None
    assert stored["numpy"] == metadata.version("numpy")  # the toolkit's own packages stay
    assert GenerationalRun.load(out).provenance["versions"] == stored


def test_in_memory_runs_record_extra_packages_and_duplicates_are_dropped():
    run = GenerationalRun.open(kind="toy", seed=0, extra_packages=["pytest", "pytest"])
    assert run.provenance["versions"]["pytest"] == metadata.version("pytest")
    assert "pytest" not in GenerationalRun.open(kind="toy", seed=0).provenance["versions"]


def test_resume_keeps_the_original_versions_and_adds_the_resumed_ones(tmp_path):
    out = tmp_path / "run"
    run = GenerationalRun.open(out, kind="toy", config={"a": 1}, seed=0, extra_packages=(ABSENT,))
    _one_generation(run)
    first = dict(run.provenance["versions"])
    again = GenerationalRun.open(out, kind="toy", config={"a": 1}, seed=0, resume=True, extra_packages=("pytest",))
    assert again.provenance["versions"] == first  # what made generation 0 is not rewritten
    assert again.provenance["resumed_versions"][-1]["pytest"] == metadata.version("pytest")
    on_disk = json.loads((out / "run.json").read_text())["provenance"]
    assert on_disk["resumed_versions"] == again.provenance["resumed_versions"]


@pytest.mark.parametrize("bad", ["torch", [1], ("",), None])
def test_bad_extra_packages_are_named(bad):
    with pytest.raises(TypeError, match="extra_packages"):
        GenerationalRun.open(kind="toy", seed=0, extra_packages=bad)
