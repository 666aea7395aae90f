"""The generational-run record: round trips, atomic commits, resume, corruption."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from collapse_theory.runs.record import GenerationalRun, GenerationRecord


def _toy_step(run, t, prev):
    """A toy adapter step: a Gaussian random walk of a 2-D mean, driven by generation_rng(t)."""
    rng = run.generation_rng(t)
    x = rng.normal(prev, 1.0, size=(50, 2))
    m = x.mean(axis=0)
    return GenerationRecord(
        generation=t,
        params={"mean": m, "cov": np.cov(x.T)},
        sample=x,
        metrics={"norm": float(np.linalg.norm(m)), "pair": np.array([t, 2.0 * t]), "odd": np.array([[np.nan, -np.inf], [1 / 3, t]])},
        arrays={"score": -0.5 * (x**2).sum(axis=1)},
        wall_time=0.01 * t,
        timing={"fit": 0.005 * t},
        info={"converged": True, "n_iter": t},
    ), m


def _toy_run(out, generations, *, resume=False, stop_at=None, seed=3):
    run = GenerationalRun.open(out, kind="toy", config={"G": 99, "name": "walk"}, seed=seed, resume=resume, family="gaussian", sample_keep=10)
    prev = np.zeros(2) if run.next_generation == 0 else run.generations[-1].params["mean"]
    for t in range(run.next_generation, generations):
        if stop_at is not None and t == stop_at:
            raise KeyboardInterrupt("simulated interruption")
        rec, prev = _toy_step(run, t, prev)
        run.append(rec, artifacts={"state.bin": prev.tobytes(), "note.txt": lambda p, t=t: p.write_text(f"gen {t}")})
    return run


def _same(a: GenerationalRun, b: GenerationalRun):
    assert len(a) == len(b)
    assert a.config == b.config and a.kind == b.kind and a.family == b.family
    for ra, rb in zip(a.generations, b.generations):
        assert ra.generation == rb.generation
        assert ra.params.keys() == rb.params.keys()
        for k in ra.params:
            np.testing.assert_array_equal(ra.params[k], rb.params[k])
        np.testing.assert_array_equal(ra.sample, rb.sample)
        assert ra.metrics.keys() == rb.metrics.keys()
        for k in ra.metrics:
            np.testing.assert_array_equal(ra.metrics[k], rb.metrics[k])
        for k in ra.arrays:
            np.testing.assert_array_equal(ra.arrays[k], rb.arrays[k])
        assert ra.info == rb.info
        assert ra.artifacts == rb.artifacts
        for n in ra.artifacts:
            assert ra.read_artifact(n) == rb.read_artifact(n)


def test_round_trip_memory_and_disk(tmp_path):
    mem = _toy_run(None, 6)
    assert mem.path is None and len(mem) == 6
    assert mem.generations[3].sample.shape == (10, 2)  # sample_keep trims to the first rows
    disk = _toy_run(tmp_path / "a", 6)
    _same(mem, disk)  # in memory and written as it goes: identical
    loaded = GenerationalRun.load(tmp_path / "a")
    _same(mem, loaded)
    assert loaded.generations[2].metrics["norm"] == mem.generations[2].metrics["norm"]
    assert loaded.generations[4].timing == {"fit": 0.005 * 4} and loaded.generations[4].wall_time == pytest.approx(0.04)
    assert loaded.generations[5].artifact_path("note.txt").read_text() == "gen 5"
    np.testing.assert_array_equal(loaded.metric("pair")[:, 1], 2.0 * np.arange(6))
    # save an in-memory run, and copy an on-disk one elsewhere
    mem.save(tmp_path / "b")
    _same(mem, GenerationalRun.load(tmp_path / "b"))
    loaded.save(tmp_path / "c")
    _same(mem, GenerationalRun.load(tmp_path / "c"))
    man = json.loads((tmp_path / "c" / "run.json").read_text())
    assert man["kind"] == "toy" and "versions" in man["provenance"]
    df = loaded.metrics_frame()
    assert set(df.columns) == {"generation", "metric", "index", "value"} and len(df) == 6 * 7


def test_generation_seed_depends_on_seed_and_t_only():
    a = GenerationalRun.open(None, kind="toy", seed=11)
    b = GenerationalRun.open(None, kind="toy", seed=np.random.SeedSequence(11))
    assert a.generation_rng(5).integers(1 << 30) == b.generation_rng(5).integers(1 << 30)
    draws = {int(a.generation_rng(t).integers(1 << 62)) for t in range(20)}
    assert len(draws) == 20  # distinct streams per generation


def test_interrupt_and_resume_equals_uninterrupted(tmp_path):
    full = _toy_run(None, 9)
    with pytest.raises(KeyboardInterrupt):
        _toy_run(tmp_path / "r", 9, stop_at=4)
    assert len(GenerationalRun.load(tmp_path / "r")) == 4  # nothing committed is lost
    resumed = _toy_run(tmp_path / "r", 9, resume=True)
    _same(full, resumed)
    _same(full, GenerationalRun.load(tmp_path / "r"))
    assert len(GenerationalRun.load(tmp_path / "r").resumes) == 1


@pytest.mark.parametrize("damage", ["truncate", "flip", "no_marker", "bad_marker", "tmp_folder"])
def test_damaged_last_generation_is_detected_and_redone(tmp_path, damage):
    full = _toy_run(tmp_path / "r", 5)
    last = tmp_path / "r" / "gen-000004"
    if damage == "truncate":
        p = last / "data.npz"
        p.write_bytes(p.read_bytes()[:-7])
    elif damage == "flip":
        p = last / "data.npz"
        b = bytearray(p.read_bytes())
        b[-1] ^= 0xFF
        p.write_bytes(bytes(b))
    elif damage == "no_marker":
        (last / "COMPLETE").unlink()
    elif damage == "bad_marker":
        (last / "COMPLETE").write_text("0" * 64)
    else:  # an interrupted commit: the data sit in a temporary folder, never renamed
        last.rename(tmp_path / "r" / ".tmp-gen-000004-abc")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore" if damage == "tmp_folder" else "error")
        if damage != "tmp_folder":
            with pytest.raises(UserWarning, match="generation 4"):
                GenerationalRun.load(tmp_path / "r")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert len(GenerationalRun.load(tmp_path / "r")) == 4
        resumed = _toy_run(tmp_path / "r", 5, resume=True)
    _same(full, resumed)
    assert not list((tmp_path / "r").glob(".tmp-*"))
    _same(full, GenerationalRun.load(tmp_path / "r"))


def test_gap_stops_reading(tmp_path):
    _toy_run(tmp_path / "r", 5)
    import shutil

    shutil.rmtree(tmp_path / "r" / "gen-000002")
    with pytest.warns(UserWarning, match="generation 2 is missing"):
        assert len(GenerationalRun.load(tmp_path / "r")) == 2


def test_refuses_overwrite_and_mismatched_resume(tmp_path):
    _toy_run(tmp_path / "r", 2)
    with pytest.raises(FileExistsError, match="resume=True"):
        _toy_run(tmp_path / "r", 3)
    with pytest.raises(ValueError, match=r"config\['G'\]"):
        GenerationalRun.open(tmp_path / "r", kind="toy", config={"G": 100, "name": "walk"}, seed=3, resume=True, family="gaussian")
    with pytest.raises(ValueError, match="seed"):
        GenerationalRun.open(tmp_path / "r", kind="toy", config={"G": 99, "name": "walk"}, seed=4, resume=True, family="gaussian")
    with pytest.raises(ValueError, match="kind"):
        GenerationalRun.open(tmp_path / "r", kind="gmm", config={"G": 99, "name": "walk"}, seed=3, resume=True, family="gaussian")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "x").write_text("x")
    with pytest.raises(FileExistsError, match="not a generational run"):
        GenerationalRun.open(tmp_path / "junk", kind="toy", resume=True)
    with pytest.raises(FileExistsError):
        _toy_run(None, 2).save(tmp_path / "r")
    # resume on an absent directory starts a new run
    assert len(_toy_run(tmp_path / "new", 2, resume=True)) == 2


def test_append_validation(tmp_path):
    run = GenerationalRun.open(tmp_path / "r", kind="toy", seed=0)
    with pytest.raises(ValueError, match="must be 0"):
        run.append(GenerationRecord(generation=1))
    with pytest.raises(TypeError, match="record.params"):
        run.append(GenerationRecord(generation=0, params={"a": [object()]}))
    with pytest.raises(ValueError, match="plain file names"):
        run.append(GenerationRecord(generation=0), artifacts={"../x": b""})
    with pytest.raises(TypeError, match="artifact"):
        run.append(GenerationRecord(generation=0), artifacts={"x": 3})
    assert len(run) == 0 and not list((tmp_path / "r").glob("gen-*")) and not list((tmp_path / "r").glob(".tmp-*"))
    run.append(GenerationRecord(generation=0, metrics={"a": 1}))
    with pytest.raises(KeyError, match="no artifact"):
        run.generations[0].artifact_path("x")
    with pytest.raises(ValueError, match="in memory"):
        GenerationalRun.open(None, kind="toy").generation_dir(0)
    with pytest.raises(ValueError, match="out=DIRECTORY"):
        GenerationalRun.open(None, kind="toy", resume=True)  # nothing to resume from
