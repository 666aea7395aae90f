"""The public testing kit: strategies give valid parameters, assertions have the stated size and power,
user checks run from Python and from the command line (entry points only)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from scipy import stats

import collapse_theory as ct
from collapse_theory import testing, verify


# ----------------------------------------------------------------------------- strategies


@given(p0=testing.p0_vectors(1, 6), M=testing.sample_sizes(1, 20))
def test_p0_vectors_and_sample_sizes_are_accepted_by_the_chain(p0, M):
    assert p0.ndim == 1 and 1 <= p0.size <= 6 and np.all(p0 >= 0) and abs(p0.sum() - 1) < 1e-12
    run = ct.DiscreteChain(p0, sample_size=M).simulate(2, 2, rng=0, record=("support",))
    assert run.support.shape == (2, 3)


@given(s=testing.schedules(1, 30, generations=6))
def test_schedules_are_valid(s):
    sizes = s.sizes(6)
    assert sizes.shape == (6,) and sizes.min() >= 1
    ct.DiscreteChain([0.5, 0.5], sample_size=s).simulate(6, 1, rng=0)


@given(m=testing.mixings())
def test_mixings_round_trip_and_cover_their_workflow(m):
    assert m.workflow in ct.process.WORKFLOWS
    assert ct.Mixing.from_spec(m.to_spec()) == m


@given(m=testing.mixings(("replace", "fresh", "mixture", "accumulate")))
def test_discrete_mixings_run_in_chain_and_theory(m):
    ct.DiscreteChain([0.3, 0.7], sample_size=5, mixing=m).simulate(2, 2, rng=0)
    assert np.all(np.isfinite(ct.theory.discrete.heterozygosity([0.3, 0.7], 5, [0, 1, 2], mixing=m)))


def test_mixings_rejects_unknown_workflows():
    with pytest.raises(ValueError, match="unknown workflows"):
        testing.mixings(("replace", "pooled"))


@given(C=testing.covariances(min_dim=1, max_dim=3, min_eigenvalue=1e-4, max_eigenvalue=1e2))
def test_covariances_are_spd_and_accepted(C):
    d = C.shape[0]
    assert C.shape == (d, d) and np.allclose(C, C.T)
    ev = np.linalg.eigvalsh(C)
    assert ev.min() > 0 and ev.max() / ev.min() < 1e6 * 1.01
    ct.GaussianChain(np.zeros(d), C, sample_size=d + 2).simulate(1, 2, rng=0)


def test_samplers_need_the_sampling_module():
    try:
        import collapse_theory.sampling  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="collapse_theory.sampling"):
            testing.samplers()
    else:
        from hypothesis import find

        s = find(testing.samplers(), lambda s: s.temperature is not None)
        assert s.temperature > 0


# ----------------------------------------------------------------------------- assertions


def test_assert_consistent_passes_a_true_theory_and_rejects_a_wrong_one():
    rng = np.random.default_rng(0)
    x = rng.exponential(1.0, size=(5000, 4)) * np.array([1.0, 2.0, 3.0, 4.0])
    testing.assert_consistent(x, [1.0, 2.0, 3.0, 4.0])
    # power: a 5% error in one of four means is ~3.5 standard errors... at R = 5000
    # and cv 1 it is 0.05 / (1 / sqrt(5000)) = 3.5 s.e.: not enough after Holm at 1e-3,
    # so the check here uses 10%: 7 s.e., rejected with power near 1
    with pytest.raises(AssertionError, match="comparison 3 of 4"):
        testing.assert_consistent(x, [1.0, 2.0, 3.0, 4.4], what="means")


def test_assert_consistent_binomial_and_ks():
    rng = np.random.default_rng(1)
    events = rng.random((4000, 2)) < np.array([0.1, 0.5])
    testing.assert_consistent(events, [0.1, 0.5], test="binomial")
    with pytest.raises(AssertionError):
        testing.assert_consistent(events, [0.13, 0.5], test="binomial")
    z = rng.standard_normal(3000)
    testing.assert_consistent(z, stats.norm.cdf, test="ks")
    testing.assert_consistent(z, rng.standard_normal(3000), test="ks")  # two-sample
    with pytest.raises(AssertionError):
        testing.assert_consistent(1.3 * z, stats.norm.cdf, test="ks")  # KS distance 0.06 vs 0.036 critical
    with pytest.raises(ValueError, match="0/1"):
        testing.assert_consistent(z, 0.5, test="binomial")
    with pytest.raises(ValueError, match="test must be one of"):
        testing.assert_consistent(z, 0.0, test="t")
    with pytest.raises(ValueError, match="one value per column"):
        testing.assert_consistent(np.ones((5, 2)), [1.0, 1.0, 1.0])


def test_holm_family_has_the_stated_size():
    # 400 families of 10 true comparisons at level 0.05: the family-wise error
    # rate must not exceed 0.05 (binomial test at 1e-3 against 0.05, one-sided)
    rng = np.random.default_rng(2)
    fails = 0
    for _ in range(400):
        try:
            testing.assert_consistent(rng.standard_normal((200, 10)), 0.0, level=0.05)
        except AssertionError:
            fails += 1
    assert stats.binomtest(fails, 400, 0.05, alternative="greater").pvalue > 1e-3


def test_constant_samples_need_bounds():
    zeros = np.zeros((100, 1))
    with pytest.raises(AssertionError):
        testing.assert_consistent(zeros, 1e-9)  # a z-test cannot judge a sample without spread
    testing.assert_consistent(zeros, 1e-9, bounds=(0.0, 1.0))
    with pytest.raises(AssertionError):
        testing.assert_consistent(zeros, 0.2, bounds=(0.0, 1.0))


def test_assert_pvalues_nan_and_empty():
    with pytest.raises(AssertionError, match="NaN"):
        testing.assert_pvalues([0.5, np.nan])
    with pytest.raises(AssertionError, match="no p-values"):
        testing.assert_pvalues([])


# ----------------------------------------------------------------------------- user checks


def _mean_check(shift):
    def check(level, rng):
        """A user's formula: the mean of Exp(1) is 1 (shifted when wrong)."""
        x = rng.exponential(1.0, size=4000)
        return [testing.compare("E X", x, 1.0 + shift, params={"shift": shift})]

    return check


@pytest.fixture
def user_checks():
    names = []

    def add(name, func, **kw):
        testing.register_check(name, func, **kw)
        names.append(name)

    yield add
    for n in names:
        verify.CHECKS.pop(n, None)


def test_register_check_runs_from_python(user_checks):
    user_checks("user.right", _mean_check(0.0))
    user_checks("user.wrong", _mean_check(0.1))
    assert verify.CHECKS["user.right"].description.startswith("A user's formula")
    assert verify.run(checks=["user.right"], show_progress=False).passed
    res = verify.run(checks=["user.right", "user.wrong"], show_progress=False)
    assert res.failed == ["user.wrong"]
    with pytest.raises(ValueError, match="already registered"):
        testing.register_check("user.right", _mean_check(0.0))
    with pytest.raises(TypeError, match="callable"):
        testing.register_check("user.bad", 3)


class _EntryPoint:
    def __init__(self, name, value, obj):
        self.name, self.value, self._obj = name, value, obj

    def load(self):
        if isinstance(self._obj, Exception):
            raise self._obj
        return self._obj


@pytest.mark.slow
def test_cli_runs_checks_declared_by_installed_packages(monkeypatch, tmp_path, capsys):
    from importlib import metadata

    from collapse_theory import cli

    eps = [
        _EntryPoint("pkg.right", "pkg.checks:right", _mean_check(0.0)),
        _EntryPoint("pkg.wrong", "pkg.checks:wrong", _mean_check(0.1)),
        _EntryPoint("pkg.broken", "pkg.missing:check", ImportError("No module named 'pkg.missing'")),
    ]

    def entry_points(group=None, **kw):
        assert group == verify.ENTRY_POINT_GROUP
        return eps

    monkeypatch.setattr(metadata, "entry_points", entry_points)
    try:
        assert cli.main(["verify", "--out", str(tmp_path / "a"), "--check", "pkg.right"]) == 0
        assert cli.main(["verify", "--out", str(tmp_path / "b"), "--check", "pkg.wrong"]) == 1
        assert cli.main(["verify", "--out", str(tmp_path / "c"), "--check", "pkg.broken"]) == 1
        assert "failed to load" in capsys.readouterr().err
        assert cli.main(["verify", "--list"]) == 0
        assert "pkg.right" in capsys.readouterr().out
        # a name that is neither built in nor an installed entry point is refused, never imported
        assert cli.main(["verify", "--out", str(tmp_path / "d"), "--check", "os.system"]) == 2
    finally:
        for ep in eps:
            verify.CHECKS.pop(ep.name, None)
