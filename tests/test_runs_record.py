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


# ---------------------------------------------------------------- hardening (issue 17, items 4 and 5)


def _counting_run(out, generations, *, resume=False, calls=None, bias=0.0, seed=3):
    """The toy adapter written as adapters should be: it continues from ``run.next_generation``, which
    may jump past generations reattached from disk, and counts the generations it computes."""
    run = GenerationalRun.open(out, kind="toy", config={"G": 99, "name": "walk"}, seed=seed, resume=resume, family="gaussian", sample_keep=10)
    while run.next_generation < generations:
        t = run.next_generation
        prev = np.zeros(2) if t == 0 else run.generations[-1].params["mean"]
        rec, m = _toy_step(run, t, prev + bias)
        if calls is not None:
            calls.append(t)
        run.append(rec, artifacts={"state.bin": m.tobytes(), "note.txt": lambda p, t=t: p.write_text(f"gen {t}")})
    return run


def _flip(path):
    b = bytearray(path.read_bytes())
    b[len(b) // 2] ^= 0xFF
    path.write_bytes(bytes(b))


def _rewrite_record(folder, edit):
    """Change record.json as an attacker would, with a matching COMPLETE marker."""
    import hashlib

    meta = json.loads((folder / "record.json").read_text())
    edit(meta)
    text = json.dumps(meta, indent=1) + "\n"
    (folder / "record.json").write_text(text)
    (folder / "COMPLETE").write_text(hashlib.sha256(text.encode()).hexdigest() + "\n")


@pytest.mark.parametrize("damage", ["flip", "delete"])
def test_one_damaged_generation_keeps_the_later_valid_ones(tmp_path, damage):
    full = _counting_run(tmp_path / "full", 12)
    _counting_run(tmp_path / "r", 12)
    g4 = tmp_path / "r" / "gen-000004"
    if damage == "flip":
        _flip(g4 / "data.npz")
    else:
        import shutil

        shutil.rmtree(g4)
    with pytest.warns(UserWarning, match="generation 4"):
        loaded = GenerationalRun.load(tmp_path / "r")
    assert len(loaded) == 4 and sorted(loaded.detached) == list(range(5, 12))
    later = {p.name: (p / "record.json").stat().st_mtime_ns for p in (tmp_path / "r").glob("gen-*") if p.name > "gen-000004"}
    calls = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        resumed = _counting_run(tmp_path / "r", 12, resume=True, calls=calls)
    assert calls == [4]  # only the damaged generation was computed again
    _same(full, resumed)
    assert {p.name: (p / "record.json").stat().st_mtime_ns for p in (tmp_path / "r").glob("gen-*") if p.name > "gen-000004"} == later
    _same(full, GenerationalRun.load(tmp_path / "r"))


def test_reattached_generations_recomputed_by_a_plain_loop_are_accepted(tmp_path):
    """An adapter that loops over range(next_generation, G) recomputes the reattached ones: the same records pass."""
    full = _toy_run(tmp_path / "full", 8)
    _toy_run(tmp_path / "r", 8)
    _flip(tmp_path / "r" / "gen-000003" / "data.npz")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = GenerationalRun.open(tmp_path / "r", kind="toy", config={"G": 99, "name": "walk"}, seed=3, resume=True, family="gaussian", sample_keep=10)
        prev = run.generations[-1].params["mean"]
        for t in range(run.next_generation, 8):
            rec, prev = _toy_step(run, t, prev)
            run.append(rec, artifacts={"state.bin": prev.tobytes(), "note.txt": lambda p, t=t: p.write_text(f"gen {t}")})
    _same(full, run)


def test_a_different_history_is_recomputed_not_reattached(tmp_path):
    _counting_run(tmp_path / "r", 8)
    _flip(tmp_path / "r" / "gen-000003" / "data.npz")
    calls = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = _counting_run(tmp_path / "r", 8, resume=True, calls=calls, bias=1.0)  # generation 3 now differs
    assert calls == [3, 4, 5, 6, 7]
    _same(run, GenerationalRun.load(tmp_path / "r"))
    for t in range(1, 8):  # every stored generation descends from the one before it
        assert run.generations[t]._parent == run.generations[t - 1]._content


@pytest.mark.parametrize("name", ["../../outside.txt", "/etc/passwd", "a/b", "..", ".hidden"])
def test_artifact_names_from_record_json_never_leave_the_folder(tmp_path, name):
    _counting_run(tmp_path / "r", 2)
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    g1 = tmp_path / "r" / "gen-000001"

    def edit(meta):
        meta["artifacts"].append(name)
        meta["files"][f"artifacts/{name}"] = [6, "0" * 64]

    _rewrite_record(g1, edit)
    with pytest.warns(UserWarning, match="plain file name"):
        run = GenerationalRun.load(tmp_path / "r")
    assert len(run) == 1  # the tampered generation is not trusted
    with pytest.raises((KeyError, ValueError)):
        run.generations[0].read_artifact(name)
    # saving what was loaded writes only inside the destination
    run.save(tmp_path / "copy" / "r")
    assert outside.read_text() == "secret" and not (tmp_path / "copy" / "outside.txt").exists()
    # a record whose artifact map was forged in memory does not read outside either
    rec = GenerationRecord(generation=0, _artifacts={name: outside})
    with pytest.raises((KeyError, ValueError)):
        rec.read_artifact(name)
    with pytest.raises(ValueError):
        GenerationalRun.open(None, kind="toy").append(GenerationRecord(0), artifacts={name: b"x"})


def test_truth_npz_is_checksummed_and_damage_is_a_record_error(tmp_path):
    from collapse_theory.runs.record import RecordError

    def make(out, scale):
        run = GenerationalRun.open(out, kind="toy", seed=1, truth={"mean": np.zeros(2), "cov": scale * np.eye(2)})
        run.append(GenerationRecord(0, params={"mean": np.zeros(2)}))
        return run

    make(tmp_path / "a", 1.0)
    make(tmp_path / "b", 50.0)
    assert GenerationalRun.load(tmp_path / "a").truth["cov"][0, 0] == 1.0
    (tmp_path / "a" / "truth.npz").write_bytes((tmp_path / "b" / "truth.npz").read_bytes())  # a swapped, valid file
    with pytest.raises(RecordError, match="truth.npz"):
        GenerationalRun.load(tmp_path / "a")
    make(tmp_path / "c", 1.0)
    _flip(tmp_path / "c" / "truth.npz")
    for verify in (True, False):
        with pytest.raises(RecordError, match="truth.npz"):
            GenerationalRun.load(tmp_path / "c", verify=verify)
    (tmp_path / "c" / "truth.npz").unlink()
    with pytest.raises(RecordError, match="missing"):
        GenerationalRun.load(tmp_path / "c")


@pytest.mark.parametrize("content", ["{not json", "[]", '{"format": 2}', '{"format": 2, "seed": {"entropy": "x"}}', ""])
def test_damaged_run_json_is_a_record_error(tmp_path, content):
    from collapse_theory.runs.record import RecordError

    _counting_run(tmp_path / "r", 1)
    (tmp_path / "r" / "run.json").write_text(content)
    with pytest.raises(RecordError, match="run.json|format"):
        GenerationalRun.load(tmp_path / "r")
    with pytest.raises(ValueError):  # RecordError is a ValueError: the CLI reports it cleanly
        GenerationalRun.open(tmp_path / "r", kind="toy", resume=True)
