"""``collapse_theory.verify``: the correction, the output, and that it catches wrong theory.

The quick verification runs once (module fixture, ~10-20 s). The power tests
replace one theory function by a plausible mistake (E sigma_n of the other
estimator, a heterozygosity decay with M + 1 for M, fixation probabilities of the
wrong states) and require the run to fail: a verification that passes
everything would pass these too.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from collapse_theory import cli, verify
from collapse_theory._stats import bonferroni


def naive_holm(p):
    """Holm (1979) as written: step through the sorted p-values, reject while p_(j) <= alpha / (m - j + 1)."""
    p = list(map(float, p))
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    adj = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    return np.array(adj)


@given(st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=40))
def test_holm_matches_its_definition_and_is_between_raw_and_bonferroni(p):
    adj = verify.holm(p)
    np.testing.assert_allclose(adj, naive_holm(p), rtol=1e-12, atol=0)
    assert np.all(adj >= np.asarray(p) - 1e-15)
    assert np.all(adj <= bonferroni(p) + 1e-15)
    order = np.argsort(p, kind="stable")
    assert np.all(np.diff(adj[order]) >= 0)


def test_holm_known_values():
    # m = 4: sorted 0.01, 0.02, 0.03, 0.5 -> 0.04, 0.06, 0.06, 0.5
    np.testing.assert_allclose(verify.holm([0.03, 0.5, 0.01, 0.02]), [0.06, 0.5, 0.04, 0.06])
    assert verify.adjust([0.3, 0.4], "bonferroni").tolist() == [0.6, 0.8]


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("verify")
    return verify.run("quick", out=out, rng=0, show_progress=False), out


@pytest.mark.slow
def test_quick_verification_passes_and_covers_every_theory_module(quick):
    res, _ = quick
    assert not res.errors, {k: res.status[k]["reason"] for k in res.errors}
    assert not res.skipped, {k: res.status[k]["reason"] for k in res.skipped}
    assert res.passed, res.table().sort_values("p_adjusted").head(5).to_string()
    checked = {name.split(".")[0] for name, _ in res.outcomes}
    assert checked >= {"discrete", "gaussian"}
    assert len(res.outcomes) >= 100
    p = np.array([o.p_value for _, o in res.outcomes])
    assert np.all((p >= 0) & (p <= 1))
    # Under the theory the raw p-values are (close to) uniform: not all near 1
    # (a test with no power) and not piled near 0.
    assert 0.3 < np.median(p) < 0.7


@pytest.mark.slow
def test_json_records_pvalues_correction_and_qq(quick):
    res, out = quick
    rec = json.loads((out / "verify.json").read_text())
    assert rec["correction"] == "holm" and rec["alpha"] == 1e-3 and rec["level"] == "quick"
    assert rec["passed"] is True and rec["n_tests"] == len(rec["results"]) == len(res.outcomes)
    raw = [r["p_value"] for r in rec["results"]]
    np.testing.assert_allclose([r["p_adjusted"] for r in rec["results"]], naive_holm(raw), rtol=1e-12)
    assert rec["qq"], "distribution checks keep their quantiles"
    for q in rec["qq"]:
        assert len(q["simulated"]) == len(q["theoretical"]) == 99
        assert np.all(np.diff(q["theoretical"]) >= 0)
    assert rec["provenance"]["seed"] == 0 and "numpy" in rec["provenance"]["versions"]
    table = pd.read_csv(out / "verify.csv")
    assert len(table) == rec["n_tests"]
    np.testing.assert_allclose(table["p_value"], raw)
    from PIL import Image

    for name in ("qq_pvalues.png", "qq_distributions.png"):
        img = Image.open(out / name)
        img.load()
        assert np.asarray(img.convert("L")).std() > 1.0


@pytest.mark.slow
def test_a_subset_reproduces_the_full_run(quick):
    """Each check's stream depends on the seed and its name only."""
    res, _ = quick
    sub = verify.run("quick", rng=0, checks=["discrete.fixation"], show_progress=False)
    full = [o.p_value for n, o in res.outcomes if n == "discrete.fixation"]
    assert [o.p_value for _, o in sub.outcomes] == full
    other = verify.run("quick", rng=1, checks=["discrete.fixation"], show_progress=False)
    assert [o.p_value for _, o in other.outcomes] != full


def test_estimator_mix_up_is_rejected(monkeypatch):
    """E sigma_n of the MLE chain reported for the unbiased one (and back): ((M-1)/M)^(n/2) off, 28% at M = 5, n = 3."""
    from collapse_theory.theory import gaussian as th

    right = th.expected_std

    def swapped(n, M, sigma0=1.0, estimator="unbiased"):
        return right(n, M, sigma0, "mle" if estimator == "unbiased" else "unbiased")

    monkeypatch.setattr(th, "expected_std", swapped)
    res = verify.run("quick", checks=["gaussian.moments", "gaussian.sample_method"], show_progress=False)
    assert not res.passed and res.failed == ["gaussian.moments", "gaussian.sample_method"]
    bad = res.table().query("not passed")
    assert set(bad["quantity"]) == {"E sigma_n"}
    assert set(bad["params"].str.extract(r"estimator=(\w+)")[0]) == {"unbiased", "mle"}


def test_off_by_one_heterozygosity_is_rejected(monkeypatch, tmp_path):
    """Decay (1 - 1/(M+1))^t instead of (1 - 1/M)^t: 10% off at M = 10, t = 10."""
    from collapse_theory.theory import discrete as th

    right = th.heterozygosity

    def off_by_one(p0, M, t, *, mixing=None):
        return right(p0, M + 1 if isinstance(M, int) else M, t, mixing=mixing)

    monkeypatch.setattr(th, "heterozygosity", off_by_one)
    rc = cli.main(["verify", "--out", str(tmp_path), "--check", "discrete.heterozygosity"])
    assert rc == 1
    rec = json.loads((tmp_path / "verify.json").read_text())
    assert rec["passed"] is False and rec["failed"] == ["discrete.heterozygosity"]


@pytest.mark.slow
def test_cli_exit_codes_and_files(monkeypatch, tmp_path):
    assert cli.main(["verify", "--out", str(tmp_path / "ok"), "--check", "discrete.fixation", "--correction", "bonferroni"]) == 0
    rec = json.loads((tmp_path / "ok" / "verify.json").read_text())
    assert rec["correction"] == "bonferroni"
    np.testing.assert_allclose([r["p_adjusted"] for r in rec["results"]], bonferroni([r["p_value"] for r in rec["results"]]))

    from collapse_theory.theory import discrete as th

    monkeypatch.setattr(th, "fixation_probability", lambda p0: np.asarray(p0, dtype=float)[::-1].copy())
    assert cli.main(["verify", "--out", str(tmp_path / "bad"), "--check", "discrete.fixation"]) == 1


def test_errors_fail_and_missing_modules_skip(monkeypatch):
    def broken(level, rng):
        raise RuntimeError("no luck")

    def fine(level, rng):
        return [verify.Outcome("x", {"a": 1}, 0.5, 1.0, 1.0)]

    monkeypatch.setitem(verify.CHECKS, "fake.broken", verify.Check("fake.broken", broken, "d", "s"))
    monkeypatch.setitem(verify.CHECKS, "fake.fine", verify.Check("fake.fine", fine, "d", "s"))
    monkeypatch.setitem(verify.CHECKS, "fake.absent", verify.Check("fake.absent", fine, "d", "s", ("no_such_module_xyz",)))
    res = verify.run(checks=["fake.fine", "fake.absent"], show_progress=False)
    assert res.passed and res.skipped == ["fake.absent"] and len(res.outcomes) == 1
    assert "no_such_module_xyz" in res.status["fake.absent"]["reason"]
    res = verify.run(checks=["fake.fine", "fake.broken"], show_progress=False)
    assert not res.passed and res.failed == ["fake.broken"]
    assert "no luck" in res.status["fake.broken"]["reason"]
    assert res.summary().set_index("check").loc["fake.broken", "status"] == "error"


def test_bad_input():
    with pytest.raises(ValueError, match="level"):
        verify.run("medium")
    with pytest.raises(TypeError, match="level"):
        verify.run(3)
    with pytest.raises(ValueError, match="alpha"):
        verify.run(alpha=0.0)
    with pytest.raises(ValueError, match="checks"):
        verify.run(checks=["no.such.check"])
    with pytest.raises(ValueError, match="correction"):
        verify.run(correction="fdr")
    with pytest.raises(ValueError, match="rng"):
        verify.run(rng=-1, checks=[])


def test_sample_without_spread_gets_the_exact_bound():
    """All R chains absorbed (H = 0): consistent with E H = 1e-5, not with E H = 1e-2."""
    zeros = np.zeros(20_000)
    ok = verify._z_outcome("E[H_t]", {}, zeros, 1e-5, bounds=(0.0, 1.0))
    assert ok.test == "bound" and ok.p_value == pytest.approx((1 - 1e-5) ** 20_000)
    bad = verify._z_outcome("E[H_t]", {}, zeros, 1e-2, bounds=(0.0, 1.0))
    assert bad.p_value < 1e-80
    assert verify._z_outcome("x", {}, zeros, 1e-5).p_value == 0.0  # no bounds: a z-test cannot explain it
