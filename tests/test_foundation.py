"""The foundation: rng handling, input validation, the process, the report frame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import collapse_theory as ct
from collapse_theory import _rng, _validate
from collapse_theory.process import as_schedule


def test_replicate_seeds_deterministic_and_distinct():
    a = _rng.replicate_seeds(123, 10_000)
    b = _rng.replicate_seeds(123, 10_000)
    assert a.dtype == np.uint32 and a.shape == (10_000,)
    np.testing.assert_array_equal(a, b)
    assert np.unique(a).size == a.size
    assert not np.array_equal(a, _rng.replicate_seeds(124, 10_000))
    # many replicates: collisions among 2^32 seeds are resolved
    big = _rng.replicate_seeds(7, 300_000)
    assert np.unique(big).size == big.size


def test_seed_sequence_from_generator_advances():
    g = np.random.default_rng(5)
    s1 = _rng.seed_sequence(g).generate_state(2)
    s2 = _rng.seed_sequence(g).generate_state(2)
    assert not np.array_equal(s1, s2)


@pytest.mark.parametrize("bad, exc", [(-1, ValueError), (1.5, TypeError), ("x", TypeError), (True, TypeError)])
def test_rng_rejects_bad_values(bad, exc):
    with pytest.raises(exc, match="rng"):
        _rng.default_rng(bad)


def test_check_int_and_float_messages():
    with pytest.raises(TypeError, match="generations must be an integer"):
        _validate.check_int("generations", 2.0)
    with pytest.raises(ValueError, match="M must be >= 1, got 0"):
        _validate.check_int("M", 0, min=1)
    with pytest.raises(ValueError, match="real must be finite"):
        _validate.check_float("real", float("nan"))


def test_check_probability_vector():
    np.testing.assert_allclose(_validate.check_probability_vector("p0", [0.25, 0.75]), [0.25, 0.75])
    with pytest.raises(ValueError, match="p0 must be non-negative"):
        _validate.check_probability_vector("p0", [-0.1, 1.1])
    with pytest.raises(ValueError, match="p0 must sum to 1"):
        _validate.check_probability_vector("p0", [0.2, 0.2])
    with pytest.raises(ValueError, match="p0 must be finite"):
        _validate.check_probability_vector("p0", [np.nan, 1.0])


def test_check_covariance():
    with pytest.raises(ValueError, match="cov must be symmetric"):
        _validate.check_covariance("cov", [[1.0, 0.5], [0.0, 1.0]])
    with pytest.raises(ValueError, match="cov must be positive semidefinite"):
        _validate.check_covariance("cov", [[1.0, 2.0], [2.0, 1.0]])
    # rank-deficient PSD with round-off is accepted
    v = np.array([1.0, 2.0, 3.0])
    _validate.check_covariance("cov", np.outer(v, v))


def test_mixing_workflows_and_validation():
    assert ct.Mixing.replace().workflow == "replace"
    f = ct.Mixing.fresh(real=0.2)
    assert f.workflow == "fresh" and f.synthetic == pytest.approx(0.8) and f.real == 0.2
    a = ct.Mixing.accumulate()
    assert a.workflow == "accumulate" and a.pooled
    assert ct.Mixing(0.5, 0.5, 0.0).workflow == "mixture"
    with pytest.raises(ValueError, match="sum to 1"):
        ct.Mixing(0.5, 0.2, 0.2)
    with pytest.raises(ValueError, match="mixing.real must be >= 0"):
        ct.Mixing(1.0, 0.1, -0.1)


def test_schedules():
    np.testing.assert_array_equal(ct.schedules.constant(7).sizes(3), [7, 7, 7])
    np.testing.assert_array_equal(ct.schedules.linear(10, 5).sizes(3), [10, 15, 20])
    np.testing.assert_array_equal(ct.schedules.power(10, 2).sizes(3), [10, 40, 90])
    np.testing.assert_array_equal(as_schedule(np.array([3, 4, 5])).sizes(2), [3, 4])
    with pytest.raises(ValueError, match="gives 3 sizes but 4 generations"):
        as_schedule([3, 4, 5]).sizes(4)
    with pytest.raises(TypeError, match="sample_size"):
        as_schedule(10.0)
    with pytest.raises(ValueError, match="sample_size must be >= 1"):
        as_schedule(0)


def test_report_frame_resumes_and_reports_failures(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    from collapse_theory import report

    calls = []

    def good(*, quick, seed):
        calls.append("good")
        fig = Figure()
        fig.subplots().plot([0, 1], [1, 0])
        table = pd.DataFrame({"quantity": ["x"], "simulated": [1.0], "theory": [1.0]})
        return report.Section("Good", caption="c", command="cmd", figures={"f": fig}, tables={"t": table})

    def bad(*, quick, seed):
        calls.append("bad")
        raise RuntimeError("boom")

    import sys
    import types

    mod = types.ModuleType("_fake_sections")
    mod.good, mod.bad = good, bad
    monkeypatch.setitem(sys.modules, "_fake_sections", mod)
    monkeypatch.setattr(report, "SECTIONS", {"good": "_fake_sections:good", "bad": "_fake_sections:bad"})
    r1 = report.reproduce(tmp_path, quick=True, show_progress=False)
    assert r1.ran == ["good"] and r1.failed == ["bad"]
    page = (tmp_path / "index.html").read_text()
    assert "data:image/png;base64," in page and "boom" in page
    r2 = report.reproduce(tmp_path, quick=True, show_progress=False)
    assert r2.reused == ["good"] and r2.failed == ["bad"]
    assert calls == ["good", "bad", "bad"]
