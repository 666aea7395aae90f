"""Bad input to every public callable: one table of case -> expected exception and the parameter it names.

Every public function and class (the callables in ``__all__`` of each public
module, :data:`PUBLIC_MODULES`) has at least one case here
(:func:`test_every_public_callable_has_a_case`), so a new public function
without one fails the suite. A case passes when the call raises the expected
class (ValueError or TypeError; RecordError and SweepStoreError are
ValueErrors) and the message names the parameter (a regular expression),
quickly and before any long computation. Ids are ``function-label`` (the
label defaults to the parameter named), so they do not shift when cases are
added.
"""

from __future__ import annotations

import contextlib
import importlib
import re
import signal
from dataclasses import dataclass

import numpy as np
import pytest

import collapse_theory as ct
from collapse_theory import process, wasserstein
from collapse_theory.chains import discrete as cdisc
from collapse_theory.chains import gaussian as cgauss
from collapse_theory.theory import discrete as tdisc
from collapse_theory.theory import gaussian as tgauss

#: Modules whose ``__all__`` is the public API checked here (optional extras are skipped if absent).
PUBLIC_MODULES = (
    "collapse_theory",
    "collapse_theory.process",
    "collapse_theory.sampling",
    "collapse_theory.mixture",
    "collapse_theory.testing",
    "collapse_theory.theory.sampling",
    "collapse_theory.studies.sampling",
    "collapse_theory.chains",
    "collapse_theory.chains.discrete",
    "collapse_theory.chains.gaussian",
    "collapse_theory.chains.regression",
    "collapse_theory.theory.discrete",
    "collapse_theory.theory.gaussian",
    "collapse_theory.theory.regression",
    "collapse_theory.wasserstein",
    "collapse_theory.studies",
    "collapse_theory.runs",
    "collapse_theory.runs.record",
    "collapse_theory.runs.evaluate",
    "collapse_theory.runs.gmm",
    "collapse_theory.runs.vae",
    "collapse_theory.runs.lm",
    "collapse_theory.sweep",
    "collapse_theory.verify",
    "collapse_theory.report",
    "collapse_theory.plotting",
    "collapse_theory.cli",
)


@dataclass(frozen=True)
class Case:
    target: object  # the public callable this case covers
    call: object  # a function of tmp_path that makes the bad call
    error: type  # the exception class expected
    names: str  # regular expression: the parameter (or flag) the message must name
    label: str = ""  # short words for the id; by default the parameter the message must name


def _m(fn):
    """A call that does not need a temporary directory."""
    return lambda tmp_path: fn()


def _lazy(module, name):
    """A public object of a module that may need an optional extra (None if the extra is missing).

    A name the module does not have is an error here, not a skip: a case for a
    renamed or removed function must be updated.
    """
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return None
    return getattr(mod, name)


P = [0.5, 0.5]
OK_SAMPLE = np.zeros((5, 2))
E2 = np.eye(2)


def _gmm(name):
    return _lazy("collapse_theory.runs.gmm", name)


def _vae(name):
    return _lazy("collapse_theory.runs.vae", name)


def _lm(name):
    return _lazy("collapse_theory.runs.lm", name)


def _sw(name):
    return _lazy("collapse_theory.sweep", name)


def _ts(name):
    return _lazy("collapse_theory.theory.sampling", name)


def _tk(name):
    return _lazy("collapse_theory.testing", name)


def _record():
    from collapse_theory.runs.record import GenerationalRun, GenerationRecord

    return GenerationalRun, GenerationRecord


def _small_run():
    GenerationalRun, GenerationRecord = _record()
    run = GenerationalRun.open(None, kind="toy", family="gaussian", seed=0)
    run.append(GenerationRecord(0, params={"mean": np.zeros(1), "cov": np.eye(1)}))
    return run


def _cli(*argv, out_file=False):
    """Run the command line; exit code 2 becomes a ValueError carrying what it printed on stderr."""
    import contextlib
    import io

    from collapse_theory.cli import main

    def call(tmp_path):
        args = [a.replace("TMP", str(tmp_path)) for a in argv]
        (tmp_path / "a_file").write_text("x")
        if out_file:
            args += ["--out", str(tmp_path / "a_file")]
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = main(args)
        if code == 2:
            raise ValueError(err.getvalue())
        raise AssertionError(f"exit code {code}, not 2; stderr: {err.getvalue()}")

    return call


R = ct.GaussianChain  # short names for the table
D = ct.DiscreteChain

CASES = [
    # ---------------------------------------------------------------- process
    Case(process.Mixing, _m(lambda: process.Mixing(1.5, -0.5, 0.0)), ValueError, "synthetic|previous"),
    Case(process.Mixing, _m(lambda: process.Mixing.fresh(real="0.1")), TypeError, "real"),
    Case(process.Mixing, _m(lambda: process.Mixing.from_spec("fresh:2")), ValueError, "real|mixing|fresh"),
    Case(process.Mixing, _m(lambda: process.Mixing.from_spec("nonsense")), ValueError, "mixing|spec"),
    Case(process.check_mixing, _m(lambda: process.check_mixing("fresh:0.1", accepted=("replace",), where="x")), ValueError, "mixing", label="workflow not accepted"),
    Case(process.check_mixing, _m(lambda: process.check_mixing(3)), TypeError, "mixing", label="not a spec"),
    Case(process.Schedule, _m(lambda: process.Schedule("wobbly", m0=3)), ValueError, "kind"),
    Case(process.Schedule, _m(lambda: process.Schedule("array", values=(1.5, 2.7)).sizes(2)), (TypeError, ValueError), "values|sample_size"),
    Case(process.schedules, _m(lambda: process.schedules.constant(0)), ValueError, "M"),
    Case(process.schedules, _m(lambda: process.schedules.power(10, float("nan"))), ValueError, "exponent"),
    Case(process.as_schedule, _m(lambda: process.as_schedule(2.5)), TypeError, "sample_size", label="float"),
    Case(process.as_schedule, _m(lambda: process.as_schedule(True)), TypeError, "sample_size", label="bool"),
    # ---------------------------------------------------------------- discrete chain
    Case(D, _m(lambda: D([True, False], 10)), TypeError, "p0", label="booleans"),
    Case(D, _m(lambda: D(["0.5", "0.5"], 10)), TypeError, "p0", label="strings"),
    Case(D, _m(lambda: D([0.5, 0.6], 10)), ValueError, "p0", label="sum not 1"),
    Case(D, _m(lambda: D([0.5, float("nan")], 10)), ValueError, "p0", label="NaN"),
    Case(D, _m(lambda: D(P, 0)), ValueError, "sample_size"),
    Case(D, _m(lambda: D(P, 10, mixing="fresh")), TypeError, "mixing"),
    Case(D, _m(lambda: D(P, 10).simulate(3, 2, record=[])), ValueError, "record", label="empty record"),
    Case(D, _m(lambda: D(P, 10).simulate(3, 2, record=["nope"])), ValueError, "record", label="unknown record"),
    Case(D, _m(lambda: D(P, 10).simulate(3, 2, show_progress="yes")), TypeError, "show_progress", label="simulate show_progress"),
    Case(D, _m(lambda: D(P, 10).simulate(-1, 2)), ValueError, "generations"),
    Case(D, _m(lambda: D(P, 10).simulate(3, 2.0)), TypeError, "replicates"),
    Case(D, _m(lambda: D(P, 10).simulate(10**12, 10)), ValueError, r"generations.*GiB"),
    Case(D, _m(lambda: D(P, 2**32).simulate(3, 2, rng=0)), ValueError, r"sample_size.*GiB", label="M>=2^32"),
    Case(D, _m(lambda: D(P, 10**12).absorb(2, rng=0)), ValueError, r"max_generations.*GiB", label="absorb default horizon"),
    Case(D, _m(lambda: D(P, 10).absorb(2, show_progress=1)), TypeError, "show_progress", label="absorb show_progress"),
    Case(D, _m(lambda: D(P, 10, mixing=ct.Mixing.fresh(0.1)).absorb(2)), ValueError, "mixing|absorb"),
    Case(cdisc.DiscreteRun, _m(lambda: D(P, 10).simulate(2, 2, record=("support", 3))), TypeError, "record"),
    Case(cdisc.Absorption, _m(lambda: D(P, 10).absorb(0)), ValueError, "replicates"),
    # ---------------------------------------------------------------- Gaussian chain (helper mitigation)
    Case(R, _m(lambda: R(0, "1", 10)), TypeError, "cov", label="cov string"),
    Case(R, _m(lambda: R(True, 1.0, 10)), TypeError, "mean"),
    Case(R, _m(lambda: R(0.0, -1.0, 10)), ValueError, "cov", label="negative cov"),
    Case(R, _m(lambda: R(np.zeros(0), np.zeros((0, 0)), 10)), ValueError, "mean|cov|d"),
    Case(R, _m(lambda: R(0.0, 1.0, 10).simulate(3, 10**12)), ValueError, r"replicates.*GiB", label="huge"),
    Case(R, _m(lambda: R(0.0, 1.0, 10, initial=lambda rng, n: np.full(n, np.nan)).simulate(2, 2, rng=0)), ValueError, "initial", label="initial NaN"),
    Case(R, _m(lambda: R(0.0, 1.0, 10, initial=lambda rng, n: np.full(n, np.inf)).simulate(2, 2, rng=0)), ValueError, "initial", label="initial inf"),
    Case(R, _m(lambda: R(np.zeros(2), np.eye(2), 10, initial=lambda rng, n: np.full((n, 2), -np.inf)).simulate(2, 2, rng=0)), ValueError, "initial", label="initial inf d-D"),
    Case(R, _m(lambda: R(0.0, 1.0, 10, initial=lambda rng, n: "points").simulate(2, 2, rng=0)), TypeError, "initial", label="initial not numbers"),
    Case(R, _m(lambda: R(np.zeros(2), np.eye(2), 10**11, method="sample").simulate(3, 10)), ValueError, r"sample_size.*GiB", label="huge sample"),
    Case(cgauss.GaussianChainResult, _m(lambda: R(0.0, 1.0, 10).simulate(2, 0)), ValueError, "replicates"),
    # ---------------------------------------------------------------- discrete theory
    Case(tdisc.fixation_probability, _m(lambda: tdisc.fixation_probability([True, False])), TypeError, "p0"),
    Case(tdisc.loss_probability, _m(lambda: tdisc.loss_probability([0.2, 0.2])), ValueError, "p0"),
    Case(tdisc.heterozygosity, _m(lambda: tdisc.heterozygosity(P, 2.5, 3)), TypeError, "M"),
    Case(tdisc.heterozygosity, _m(lambda: tdisc.heterozygosity(P, 10, -1)), ValueError, "t", label="negative t"),
    Case(tdisc.heterozygosity, _m(lambda: tdisc.heterozygosity(P, 10, 10**12, mixing=ct.Mixing.accumulate())), ValueError, "t", label="huge t accumulate"),
    Case(tdisc.stationary_heterozygosity, _m(lambda: tdisc.stationary_heterozygosity(P, 10, mixing=ct.Mixing.accumulate())), ValueError, "accumulat"),
    Case(tdisc.absorption_time, _m(lambda: tdisc.absorption_time(P, 10, method="magic")), ValueError, "method"),
    Case(tdisc.absorption_time_cdf, _m(lambda: tdisc.absorption_time_cdf(P, 10, 1.5)), ValueError, "t"),
    Case(tdisc.AbsorptionTime, _m(lambda: tdisc.absorption_time(P, 0)), ValueError, "M"),
    Case(tdisc.survival_probability, _m(lambda: tdisc.survival_probability(11, 10, 3)), ValueError, "count"),
    Case(tdisc.survival_probability, _m(lambda: tdisc.survival_probability(1, 10**9, 10**6)), ValueError, r"\bt = "),
    Case(tdisc.survival_probability, _m(lambda: tdisc.survival_probability(0, 2**63, 0)), ValueError, r"\bM\b", label="M beyond 2^53"),
    Case(tdisc.survival_probability, _m(lambda: tdisc.survival_probability([], 1, [0, 0])), ValueError, r"count and t", label="shapes do not broadcast"),
    Case(tdisc.extinction_probability, _m(lambda: tdisc.extinction_probability([1.0], 1, 2**63)), ValueError, r"\bt\b", label="t beyond int64"),
    Case(tdisc.extinction_probability, _m(lambda: tdisc.extinction_probability(P, 10, "3")), TypeError, "t"),
    Case(tdisc.expected_support, _m(lambda: tdisc.expected_support(np.full(10**5, 1e-5), 10**9, 10**6)), ValueError, r"\bt\b"),
    Case(tdisc.expected_alive_mass, _m(lambda: tdisc.expected_alive_mass(P, True, 3)), TypeError, "M"),
    Case(tdisc.transition_matrix, _m(lambda: tdisc.transition_matrix(10**6)), ValueError, r"M.*GiB"),
    Case(tdisc.eigenvalues, _m(lambda: tdisc.eigenvalues(10**12)), ValueError, r"M.*GiB"),
    Case(tdisc.eigenvalues, _m(lambda: tdisc.eigenvalues(0)), ValueError, "M"),
    Case(tdisc.derivations, _m(lambda: tdisc.derivations(1)), TypeError, "argument"),
    Case(tdisc.Derivation, _m(lambda: tdisc.Derivation()), TypeError, "name"),
    # ---------------------------------------------------------------- Gaussian theory (helper mitigation)
    Case(tgauss.c4, _m(lambda: tgauss.c4(1)), ValueError, "M"),
    Case(tgauss.c4, _m(lambda: tgauss.c4("")), TypeError, r"\bM\b", label="string"),
    Case(tgauss.expected_mean_squared_error_mv, _m(lambda: tgauss.expected_mean_squared_error_mv(353328128, 10, E2)), ValueError, r"\bn\b.*GiB", label="huge n"),
    Case(tgauss.moment_factor, _m(lambda: tgauss.moment_factor(10, r=float("nan"))), ValueError, "r"),
    Case(tgauss.moment_factor, _m(lambda: tgauss.moment_factor(1)), ValueError, "M", label="M=1"),
    Case(tgauss.moment_factor, _m(lambda: tgauss.moment_factor(2.5)), TypeError, "M", label="M float"),
    Case(tgauss.expected_variance_power, _m(lambda: tgauss.expected_variance_power(3, 10, r="1")), TypeError, "r"),
    Case(tgauss.expected_variance_power, _m(lambda: tgauss.expected_variance_power(0, 2**63)), ValueError, r"\bM\b", label="M beyond int64"),
    Case(tgauss.expected_variance, _m(lambda: tgauss.expected_variance(-1, 10)), ValueError, "n"),
    Case(tgauss.variance_of_variance, _m(lambda: tgauss.variance_of_variance(3, 10, sigma0=-1.0)), ValueError, "sigma0"),
    Case(tgauss.expected_std, _m(lambda: tgauss.expected_std(3, 10, estimator="robust")), ValueError, "estimator"),
    Case(tgauss.expected_log_variance, _m(lambda: tgauss.expected_log_variance(3, 1)), ValueError, "M"),
    Case(tgauss.log_variance_variance, _m(lambda: tgauss.log_variance_variance(3, 0)), ValueError, "M"),
    Case(tgauss.log_variance_drift, _m(lambda: tgauss.log_variance_drift(True)), TypeError, "M"),
    Case(tgauss.expected_mean_squared_error, _m(lambda: tgauss.expected_mean_squared_error(3, 10, sigma0=float("inf"))), ValueError, "sigma0"),
    Case(tgauss.expected_w2_squared, _m(lambda: tgauss.expected_w2_squared(3, 1)), ValueError, "M"),
    Case(tgauss.paper_w2_squared, _m(lambda: tgauss.paper_w2_squared(5, 1)), ValueError, "M"),
    # fuzz findings: a finite sigma0 whose square (or the result) leaves float64's range
    Case(tgauss.paper_w2_squared, _m(lambda: tgauss.paper_w2_squared(3, 2, sigma0=1e155)), ValueError, "sigma0", label="result overflows"),
    Case(tgauss.expected_variance, _m(lambda: tgauss.expected_variance(0, 2, sigma0=1.340780792994282e154)), ValueError, "sigma0", label="result overflows"),
    Case(tgauss.moment_recursion, _m(lambda: tgauss.moment_recursion(3, 5, sigma0=1e200)), ValueError, "sigma0", label="result overflows"),
    Case(tgauss.stationary_moments, _m(lambda: tgauss.stationary_moments(5, mixing="fresh:0.2", sigma0=1e200)), ValueError, "sigma0", label="result overflows"),
    Case(tgauss.schedule_is_bounded, _m(lambda: tgauss.schedule_is_bounded(float("nan"))), ValueError, "exponent"),
    Case(tgauss.schedule_limit, _m(lambda: tgauss.schedule_limit(10, 2.0, terms=0)), ValueError, "terms"),
    Case(tgauss.expected_mean_squared_error_mv, _m(lambda: tgauss.expected_mean_squared_error_mv(3, 10, [[1, 2], [3, 4]])), ValueError, "cov0"),
    Case(tgauss.expected_trace, _m(lambda: tgauss.expected_trace(3, 10, "eye")), TypeError, "cov0"),
    Case(tgauss.expected_det, _m(lambda: tgauss.expected_det(3, 10, -E2)), ValueError, "cov0"),
    Case(tgauss.expected_log_det, _m(lambda: tgauss.expected_log_det(3, 2, E2)), ValueError, "M"),
    Case(tgauss.log_det_variance, _m(lambda: tgauss.log_det_variance(3, 10, 0)), ValueError, "d"),
    Case(tgauss.MomentPath, _m(lambda: tgauss.moment_recursion(3, 10, mixing="fresh:1.5")), ValueError, "gamma|real|mixing"),
    Case(tgauss.moment_recursion, _m(lambda: tgauss.moment_recursion(-3, 10)), ValueError, "n"),
    Case(tgauss.stationary_moments, _m(lambda: tgauss.stationary_moments(10, mixing=0.1)), TypeError, "mixing"),
    Case(tgauss.long_run_moments, _m(lambda: tgauss.long_run_moments(10, mixing="fresh:0.1", sigma0=-1.0)), ValueError, "sigma0"),
    *[
        Case(getattr(tgauss, name, None), _m(call), err, names)
        for name, call, err, names in (
            ("WorkflowMoments", lambda: tgauss.workflow_moments(3, 10, mixing="fresh:0.1", order=-1), ValueError, "order"),
            ("workflow_moments", lambda: tgauss.workflow_moments(-1, 10), ValueError, r"\bn\b"),
            ("accumulate_limits", lambda: tgauss.accumulate_limits(1), ValueError, r"\bM\b"),
            ("augment_contraction", lambda: tgauss.augment_contraction(-1.0), ValueError, "synthetic_ratio"),
            ("augment_stability_threshold", lambda: tgauss.augment_stability_threshold(float("nan")), ValueError, "lipschitz_ratio"),
            ("augment_stationary_mean_variance", lambda: tgauss.augment_stationary_mean_variance(10, -2.0), ValueError, "synthetic_ratio"),
            ("expected_w2_squared_bounds", lambda: tgauss.expected_w2_squared_bounds(3, 10, sigma0=-1.0), ValueError, "sigma0"),
            ("fresh_stability_threshold", lambda: tgauss.fresh_stability_threshold(1), ValueError, r"\bM\b"),
            ("golden_ratio_weight", lambda: tgauss.golden_ratio_weight(1), TypeError, "argument"),
            ("weighted_mean_stationary_error", lambda: tgauss.weighted_mean_stationary_error(1.5, 10), ValueError, "weight"),
        )
    ],
    Case(tgauss.w2_squared_lower_bound, _m(lambda: tgauss.w2_squared_lower_bound(1.0, -1.0)), ValueError, "mean_squared_error"),
    Case(tgauss.w2_squared_lower_bound, _m(lambda: tgauss.w2_squared_lower_bound(np.ones(3), np.ones(2))), ValueError, "variance|mean_squared_error"),
    Case(tgauss.derivations, _m(lambda: tgauss.derivations("all")), TypeError, "argument"),
    # ---------------------------------------------------------------- samplers and their theory (helper sampling)
    Case(_lazy("collapse_theory.sampling", "Sampler"), _m(lambda: ct.Sampler(temperature=-1.0)), ValueError, "temperature"),
    Case(_lazy("collapse_theory.sampling", "Sampler"), _m(lambda: ct.Sampler(top_k=True)), TypeError, "top_k"),
    Case(_lazy("collapse_theory.sampling", "BestOfK"), _m(lambda: _lazy("collapse_theory.sampling", "BestOfK")(np.ones(3), k=0)), ValueError, r"\bk\b"),
    Case(_lazy("collapse_theory.sampling", "Verifier"), _m(lambda: _lazy("collapse_theory.sampling", "Verifier")([1.5, 0.0])), ValueError, "accept"),
    *[
        Case(_lazy("collapse_theory.theory.sampling", name), _m(call), err, names)
        for name, call, err, names in (
            ("best_of_k_law", lambda: _ts("best_of_k_law")(P, [1.0, 0.0], 0), ValueError, r"\bk\b"),
            ("bradley_terry_limit", lambda: _ts("bradley_terry_limit")(P, [1.0]), ValueError, "reward"),
            ("count_chain", lambda: _ts("count_chain")(P, 0, 3), ValueError, r"\bM\b"),
            ("count_chain_matrix", lambda: _ts("count_chain_matrix")([True, False], 5), TypeError, "p0"),
            ("count_chain_states", lambda: _ts("count_chain_states")(0, 5), ValueError, r"\bK\b"),
            ("curated_law", lambda: _ts("curated_law")(P, "greedy"), TypeError, "sampler"),
            ("derivations", lambda: _ts("derivations")(1), TypeError, "argument"),
            ("expected_reward", lambda: _ts("expected_reward")(P, [1.0, 2.0, 3.0]), ValueError, "reward"),
            ("first_generation", lambda: _ts("first_generation")(P, -1), ValueError, r"\bM\b"),
            ("fixed_truncation", lambda: _ts("fixed_truncation")(P, 10, -1, ct.Sampler(top_k=1)), ValueError, r"\bt\b"),
            ("infinite_population", lambda: _ts("infinite_population")(P, ct.Sampler(), -1), ValueError, "generations"),
            ("memorising_test_error", lambda: _ts("memorising_test_error")(P, -1), ValueError, r"\bT\b"),
            ("sampled_law", lambda: _ts("sampled_law")([0.5, 0.6], ct.Sampler()), ValueError, r"\bp\b"),
            ("tail_cut_test_error", lambda: _ts("tail_cut_test_error")(P, 0, 10), ValueError, r"\bk\b"),
            ("tail_test_error_chain", lambda: _ts("tail_test_error_chain")(P, ct.Sampler(), 10, -1), ValueError, "generations"),
            ("temperature_map", lambda: _ts("temperature_map")(P, 0.0, 3), ValueError, "tau"),
            ("top_p_fixed_point", lambda: _ts("top_p_fixed_point")(P, 1.5), ValueError, "top_p"),
            ("top_p_max_support", lambda: _ts("top_p_max_support")(float("nan")), ValueError, "top_p"),
            ("verifier_law", lambda: _ts("verifier_law")(P, [0.0, 0.0]), ValueError, "accept"),
            ("zipf_test_error_asymptotic", lambda: _ts("zipf_test_error_asymptotic")(0.5, 10), ValueError, "beta"),
        )
    ],
    Case(_lazy("collapse_theory.studies.sampling", "sampling_curation"), _m(lambda: ct.studies.sampling_curation(P, 0)), ValueError, r"\bM\b"),
    Case(_lazy("collapse_theory.studies.sampling", "default_reward"), _m(lambda: _lazy("collapse_theory.studies.sampling", "default_reward")(0)), ValueError, r"\bK\b"),
    Case(_lazy("collapse_theory.studies.sampling", "default_samplers"), _m(lambda: _lazy("collapse_theory.studies.sampling", "default_samplers")(10, curation_k=0)), ValueError, "curation_k"),
    Case(_lazy("collapse_theory.studies.sampling", "lm_comparison"), _m(lambda: _lazy("collapse_theory.studies.sampling", "lm_comparison")("rec")), TypeError, "rec"),
    # a missing record is documented to give (None, reason), not an error; a path that is not a path is refused
    Case(_lazy("collapse_theory.studies.sampling", "lm_record"), _m(lambda: _lazy("collapse_theory.studies.sampling", "lm_record")(3)), TypeError, "path", label="not a path"),
    Case(_lazy("collapse_theory.studies.sampling", "lm_sampler"), _m(lambda: _lazy("collapse_theory.studies.sampling", "lm_sampler")("beam")), TypeError, "decoding"),
    # ---------------------------------------------------------------- the testing kit (helper vocab)
    *[
        Case(_lazy("collapse_theory.testing", name), _m(call), err, names)
        for name, call, err, names in (
            ("p0_vectors", lambda: _tk("p0_vectors")(min_size=0), ValueError, "min_size"),
            ("sample_sizes", lambda: _tk("sample_sizes")(min_value=0), ValueError, "min_value"),
            ("schedules", lambda: _tk("schedules")(min_m0=5, max_m0=2), ValueError, "max_m0|min_m0"),
            ("mixings", lambda: _tk("mixings")(("sideways",)), ValueError, "workflows"),
            ("covariances", lambda: _tk("covariances")(min_eigenvalue=-1.0), ValueError, "min_eigenvalue"),
            ("samplers", lambda: _tk("samplers")(temperature=(2.0, 1.0)), ValueError, "temperature"),
            ("assert_consistent", lambda: _tk("assert_consistent")([1.0, 2.0], 1.0, level=2.0), ValueError, "level"),
            ("assert_pvalues", lambda: _tk("assert_pvalues")([1.5]), ValueError, "pvalues"),
            ("consistency_pvalues", lambda: _tk("consistency_pvalues")([1.0, 2.0], 1.0, test="t-test"), ValueError, "test"),
            ("compare", lambda: _tk("compare")("x", [1.0, 2.0], 1.0, test="magic"), ValueError, "test"),
            ("register_check", lambda: _tk("register_check")("", lambda **k: []), ValueError, "name"),
        )
    ],
    Case(_lazy("collapse_theory.verify", "load_entry_points"), _m(lambda: ct.verify.load_entry_points(1)), TypeError, "argument"),
    Case(_lazy("collapse_theory.verify", "unregister"), _m(lambda: ct.verify.unregister("no.such.check")), (ValueError, KeyError), "name|no.such.check"),
    # ---------------------------------------------------------------- regression chain and theory (helper regression)
    Case(_lazy("collapse_theory.chains.regression", "RegressionChain"), _m(lambda: _lazy("collapse_theory.chains.regression", "RegressionChain")(0, 10)), ValueError, "dim"),
    Case(_lazy("collapse_theory.chains.regression", "RegressionChain"), _m(lambda: _lazy("collapse_theory.chains.regression", "RegressionChain")(2, True)), TypeError, "sample_size"),
    Case(_lazy("collapse_theory.chains.regression", "RegressionChain"), _m(lambda: _lazy("collapse_theory.chains.regression", "RegressionChain")(2, 10, noise="1")), TypeError, "noise"),
    Case(_lazy("collapse_theory.chains.regression", "RegressionRun"), _m(lambda: _lazy("collapse_theory.chains.regression", "RegressionChain")(2, 10).simulate(3, 0)), ValueError, "replicates"),
    Case(_lazy("collapse_theory.studies", "regression_error"), _m(lambda: ct.studies.regression_error(dim=0)), ValueError, "dim"),
    Case(_lazy("collapse_theory.theory.regression", "accumulate_limit"), _m(lambda: _lazy("collapse_theory.theory.regression", "accumulate_limit")(3, 5)), ValueError, "sample_size|dim"),
    Case(_lazy("collapse_theory.theory.regression", "derivations"), _m(lambda: _lazy("collapse_theory.theory.regression", "derivations")(1)), TypeError, "argument"),
    Case(_lazy("collapse_theory.theory.regression", "downstream_error"), _m(lambda: _lazy("collapse_theory.theory.regression", "downstream_error")(-1, 10, 2)), ValueError, "generations"),
    Case(_lazy("collapse_theory.theory.regression", "expected_error"), _m(lambda: _lazy("collapse_theory.theory.regression", "expected_error")(3, 10, 2, noise=-1.0)), ValueError, "noise"),
    Case(_lazy("collapse_theory.theory.regression", "expected_test_error"), _m(lambda: _lazy("collapse_theory.theory.regression", "expected_test_error")(3, 10, 2, design="tilted")), ValueError, "design"),
    Case(_lazy("collapse_theory.theory.regression", "ols_variance"), _m(lambda: _lazy("collapse_theory.theory.regression", "ols_variance")(2, 5)), ValueError, "sample_size|dim"),
    Case(_lazy("collapse_theory.theory.regression", "projection_cross_moment"), _m(lambda: _lazy("collapse_theory.theory.regression", "projection_cross_moment")(-1, 1, 10, 2)), ValueError, "m1"),
    Case(_lazy("collapse_theory.theory.regression", "projection_moment"), _m(lambda: _lazy("collapse_theory.theory.regression", "projection_moment")(1.5, 10, 2)), (TypeError, ValueError), r"\bm\b"),
    Case(_lazy("collapse_theory.theory.regression", "stationary_error"), _m(lambda: _lazy("collapse_theory.theory.regression", "stationary_error")(10, 2, mixing="sideways")), ValueError, "mixing"),
    Case(_lazy("collapse_theory.theory.regression", "strong_collapse_floor"), _m(lambda: _lazy("collapse_theory.theory.regression", "strong_collapse_floor")(1.5, [1.0])), ValueError, "share"),
    # ---------------------------------------------------------------- Wasserstein
    Case(wasserstein.w2_squared_gaussian, _m(lambda: wasserstein.w2_squared_gaussian(np.zeros(3), np.ones(3), np.zeros(2), np.ones(2))), ValueError, "m1.*m2|C1.*C2"),
    Case(wasserstein.w2_squared_gaussian, _m(lambda: wasserstein.w2_squared_gaussian(np.zeros((3, 2)), np.tile(E2, (3, 1, 1)), np.zeros((4, 2)), np.tile(E2, (4, 1, 1)))), ValueError, "m1.*m2"),
    Case(wasserstein.w2_squared_gaussian, _m(lambda: wasserstein.w2_squared_gaussian(0.0, -1.0, 0.0, 1.0)), ValueError, "C1", label="negative variance"),
    Case(wasserstein.w2_squared_gaussian, _m(lambda: wasserstein.w2_squared_gaussian(0.0, True, 0.0, 1.0)), TypeError, "C1", label="boolean variance"),
    Case(wasserstein.w2_squared_gaussian_factors, _m(lambda: wasserstein.w2_squared_gaussian_factors(np.zeros((3, 2)), np.tile(E2, (3, 1, 1)), np.zeros((4, 2)), np.tile(E2, (4, 1, 1)))), ValueError, "m1.*m2"),
    Case(wasserstein.w2_squared_gaussian_logvar, _m(lambda: wasserstein.w2_squared_gaussian_logvar(np.zeros(3), np.zeros(3), np.zeros(2), np.zeros(2))), ValueError, "log_var1.*log_var2"),
    Case(wasserstein.w2_squared_gaussian_logvar, _m(lambda: wasserstein.w2_squared_gaussian_logvar(0.0, np.inf, 0.0, 0.0)), ValueError, "log_var1"),
    Case(wasserstein.w2_squared_empirical, _m(lambda: wasserstein.w2_squared_empirical(np.zeros((20000, 2)), np.zeros((20000, 2)))), ValueError, r"x and y.*GiB", label="POT memory guard"),
    Case(wasserstein.w2_squared_empirical, _m(lambda: wasserstein.w2_squared_empirical(OK_SAMPLE, np.zeros((5, 3)))), ValueError, "x and y"),
    Case(wasserstein.w2_squared_empirical, _m(lambda: wasserstein.w2_squared_empirical([0.0, 1.0], [1.0], x_weights=[0.7, 0.7])), ValueError, "x_weights"),
    Case(wasserstein.w2_squared_sliced, _m(lambda: wasserstein.w2_squared_sliced(OK_SAMPLE, OK_SAMPLE, projections=0)), ValueError, "projections"),
    Case(wasserstein.w2_squared_sliced, _m(lambda: wasserstein.w2_squared_sliced(OK_SAMPLE, OK_SAMPLE, projections=10**12)), ValueError, r"projections.*GiB", label="huge projections"),
    Case(wasserstein.w2_squared_to_gaussian, _m(lambda: wasserstein.w2_squared_to_gaussian(OK_SAMPLE, np.zeros(2), E2, method="guess")), ValueError, "method"),
    Case(wasserstein.w2_squared_to_gaussian, _m(lambda: wasserstein.w2_squared_to_gaussian(np.zeros((1, 3)), np.zeros(3), 1.0)), ValueError, r"\bC\b", label="scalar C for 3-D samples"),
    Case(wasserstein.w2_squared_gmm, _m(lambda: wasserstein.w2_squared_gmm([0.5, 0.6], [0.0, 1.0], [1.0, 1.0], [1.0], [0.0], [1.0])), ValueError, "w1"),
    # ---------------------------------------------------------------- studies (the discrete ones: helper vocab; gaussian: mitigation)
    Case(ct.studies.StudyResult, _m(lambda: ct.studies.StudyResult("x", []).passed(level=2.0)), (ValueError, TypeError), "level"),
    Case(ct.studies.absorption, _m(lambda: ct.studies.absorption(P, 0, replicates=10)), ValueError, "M|sample_size"),
    Case(ct.studies.tail_loss, _m(lambda: ct.studies.tail_loss(P, 10, replicates=0)), ValueError, "replicates"),
    Case(ct.studies.heterozygosity, _m(lambda: ct.studies.heterozygosity(P, 10, mixing="sideways")), ValueError, "mixing"),
    Case(ct.studies.variance_decay, _m(lambda: ct.studies.variance_decay(1)), ValueError, "M"),
    Case(ct.studies.w2_growth, _m(lambda: ct.studies.w2_growth(10, d=0)), ValueError, "d"),
    Case(ct.studies.schedules, _m(lambda: ct.studies.schedules(10, float("nan"))), ValueError, "exponent"),
    Case(ct.studies.mitigation, _m(lambda: ct.studies.mitigation(20, 1.5)), TypeError, "mixing"),
    Case(_lazy("collapse_theory.studies", "mitigation_cell"), _m(lambda: ct.studies.mitigation_cell(20, "fresh:1.5")), ValueError, "mixing|real"),
    Case(_lazy("collapse_theory.studies", "known_results"), _m(lambda: ct.studies.known_results(1)), ValueError, r"\bM\b"),
    # ---------------------------------------------------------------- run records
    Case(_record()[0], _m(lambda: _record()[0].open(None, kind="")), TypeError, "kind"),
    Case(_record()[0], lambda tmp_path: _record()[0].load(tmp_path), FileNotFoundError, "run.json"),
    Case(_record()[0], _m(lambda: _record()[0].open(None, kind="toy", sample_keep=-1)), ValueError, "sample_keep"),
    Case(_record()[1], _m(lambda: _record()[0].open(None, kind="toy").append(_record()[1](0), artifacts={"../x": b""})), ValueError, "artifact"),
    Case(_record()[1], _m(lambda: _record()[0].open(None, kind="toy").append(_record()[1]("0"))), TypeError, "generation"),
    Case(_lazy("collapse_theory.runs.record", "RecordError"), lambda tmp_path: (tmp_path / "run.json").write_text("{") and _record()[0].load(tmp_path), ValueError, "run.json"),
    # ---------------------------------------------------------------- evaluation (helper vaegmm)
    Case(ct.runs.evaluate, _m(lambda: ct.runs.evaluate("notarun")), TypeError, "run"),
    Case(ct.runs.evaluate, _m(lambda: ct.runs.evaluate(_small_run(), n_mc=0)), ValueError, "n_mc"),
    # any family name is accepted (one without a density gets sample-based metrics); a non-string is not
    Case(_lazy("collapse_theory.runs.evaluate", "Evaluator"), _m(lambda: _lazy("collapse_theory.runs.evaluate", "Evaluator")(3)), TypeError, "family", label="family not a string"),
    Case(_lazy("collapse_theory.runs.evaluate", "Evaluator"), _m(lambda: _lazy("collapse_theory.runs.evaluate", "Evaluator")("gmm")), ValueError, "initial", label="density family without initial"),
    Case(_lazy("collapse_theory.runs.evaluate", "log_density_histograms"), _m(lambda: _lazy("collapse_theory.runs.evaluate", "log_density_histograms")(_small_run(), bins=0)), ValueError, "bins"),
    Case(_lazy("collapse_theory.runs.evaluate", "LogDensityHistograms"), _m(lambda: _lazy("collapse_theory.runs.evaluate", "log_density_histograms")("notarun")), TypeError, "run"),
    # ---------------------------------------------------------------- GMM adapter (helper vaegmm)
    Case(_gmm("run"), _m(lambda: _gmm("run")(5, 0)), ValueError, "sample_size"),
    Case(_gmm("run"), _m(lambda: _gmm("run")(5, 100, covariance_type="round")), ValueError, "covariance_type"),
    Case(_lazy("collapse_theory.mixture", "GMMDensity"), _m(lambda: _lazy("collapse_theory.mixture", "GMMDensity")([0.5, 0.6], np.zeros((2, 1)), np.ones((2, 1, 1)))), ValueError, "weights"),
    Case(_gmm("paper_blob_truth"), _m(lambda: _gmm("paper_blob_truth")("big")), TypeError, "argument"),
    Case(_gmm("two_blobs_truth"), _m(lambda: _gmm("two_blobs_truth")("big")), TypeError, "argument"),
    Case(_gmm("run_replicates"), _m(lambda: _gmm("run_replicates")(5, 100, replicates=0)), ValueError, "replicates"),
    Case(_gmm("figures"), _m(lambda: _gmm("figures")(3)), TypeError, "runs"),
    Case(_gmm("std_figure"), _m(lambda: _gmm("std_figure")(3)), TypeError, "runs"),
    Case(_lazy("collapse_theory.mixture", "component_std"), _m(lambda: _lazy("collapse_theory.mixture", "component_std")(np.ones(3))), ValueError, "covariances"),
    Case(_lazy("collapse_theory.mixture", "component_min_eigen_std"), _m(lambda: _lazy("collapse_theory.mixture", "component_min_eigen_std")("C")), TypeError, "covariances"),
    Case(_gmm("gmm_log_density"), _m(lambda: _gmm("gmm_log_density")(np.zeros((3, 2)), [1.0], np.zeros((1, 3)), np.eye(3)[None])), ValueError, "x|means"),
    Case(_gmm("gmm_sample"), _m(lambda: _gmm("gmm_sample")([1.0], np.zeros((1, 2)), E2[None], -1, rng=0)), ValueError, "n"),
    Case(_gmm("l2_squared_gmm"), _m(lambda: _gmm("l2_squared_gmm")([0.5, 0.6], np.zeros((2, 1)), np.ones((2, 1, 1)), [1.0], np.zeros((1, 1)), np.ones((1, 1, 1)))), ValueError, "w1"),
    Case(_gmm("density_figure"), _m(lambda: _gmm("density_figure")("notaruns")), TypeError, "runs"),
    Case(_gmm("metric_figure"), _m(lambda: _gmm("metric_figure")(3)), TypeError, "runs"),
    Case(_gmm("log_density_figure"), _m(lambda: _gmm("log_density_figure")(3)), TypeError, "run"),
    Case(_gmm("summary_table"), _m(lambda: _gmm("summary_table")(3)), TypeError, "runs"),
    Case(_gmm("timing_table"), _m(lambda: _gmm("timing_table")(3)), TypeError, "runs"),
    Case(_gmm("write_outputs"), lambda tmp_path: _gmm("write_outputs")(3, tmp_path), TypeError, "runs"),
    # ---------------------------------------------------------------- sweeps
    Case(_sw("Grid"), _m(lambda: _sw("load_grid")({"study": "logging:basicConfig", "axes": {"x": [1]}})), ValueError, "study", label="module:function"),
    Case(_sw("load_grid"), _m(lambda: _sw("load_grid")({"study": "heterozygosity", "axes": {"mixing": ["fresh:2"]}})), ValueError, "axes.mixing"),
    Case(_sw("load_grid"), _m(lambda: _sw("load_grid")(3)), TypeError, "grid"),
    Case(_sw("resolve_study"), _m(lambda: _sw("resolve_study")("os:system")), ValueError, "study"),
    Case(_sw("available_studies"), _m(lambda: _sw("available_studies")("x")), TypeError, "argument"),
    Case(_sw("register_study"), _m(lambda: _sw("register_study")("a:b", print)), ValueError, "name"),
    Case(_sw("register_study"), _m(lambda: _sw("register_study")("fine", 3)), TypeError, "func"),
    Case(_sw("cell_seed"), _m(lambda: _sw("cell_seed")(-1, (0,))), ValueError, "entropy|seed|negative"),
    Case(_sw("run"), _m(lambda: _sw("run")({"study": "heterozygosity", "axes": {"M": [10]}}, workers=0)), ValueError, "workers"),
    Case(_sw("open_sweep"), lambda tmp_path: _sw("open_sweep")(tmp_path), ValueError, "sweep store"),
    Case(_sw("failed_cells"), _m(lambda: _sw("failed_cells")(3)), TypeError, "ds|subscript"),
    Case(_sw("dataset_digest"), _m(lambda: _sw("dataset_digest")(3)), (TypeError, AttributeError), "ds|variables"),
    Case(_sw("SweepStoreError"), lambda tmp_path: _sw("open_sweep")(tmp_path / "none"), ValueError, "sweep store"),
    # ---------------------------------------------------------------- verify (helper vocab)
    Case(ct.verify.Check, _m(lambda: ct.verify.register("x", description=3)), TypeError, "description"),
    Case(ct.verify.Outcome, _m(lambda: ct.verify.holm([0.5, 1.5])), ValueError, "pvalues"),
    Case(ct.verify.VerifyResult, _m(lambda: ct.verify.run("medium")), ValueError, "level"),
    Case(ct.verify.register, _m(lambda: ct.verify.register("", description="x")), ValueError, "name"),
    Case(ct.verify.run, _m(lambda: ct.verify.run("quick", alpha=2.0)), ValueError, "alpha"),
    Case(ct.verify.holm, _m(lambda: ct.verify.holm([np.nan])), ValueError, "pvalues"),
    Case(ct.verify.adjust, _m(lambda: ct.verify.adjust([0.1], correction="sidak")), ValueError, "correction"),
    # ---------------------------------------------------------------- report (helper report)
    Case(ct.report.Section, _m(lambda: ct.report.Section(3)), TypeError, "title"),
    Case(ct.report.reproduce, _m(lambda: ct.report.reproduce(only=["nosuchsection"])), ValueError, "only|section"),
    Case(ct.report.ReproduceResult, lambda tmp_path: ct.report.reproduce(tmp_path, seed=-1), ValueError, "seed"),
    Case(ct.report.summary_table, lambda tmp_path: ct.report.summary_table(tmp_path / "nothing"), (ValueError, FileNotFoundError), "out|report"),
    Case(ct.report.write_index, lambda tmp_path: ct.report.write_index(3), TypeError, "out"),
    # ---------------------------------------------------------------- plotting (helper report)
    Case(ct.plotting.new_figure, _m(lambda: ct.plotting.new_figure(0)), ValueError, "nrows"),
    Case(ct.plotting.figure_png, _m(lambda: ct.plotting.figure_png("fig")), TypeError, "fig"),
    Case(ct.plotting.band, _m(lambda: ct.plotting.band(None, [0, 1], [0, 1], [0], [0, 1])), ValueError, "low|x"),
    # ---------------------------------------------------------------- command line (issue 17, item 9)
    Case(_lazy("collapse_theory.cli", "get_parser"), _m(lambda: _lazy("collapse_theory.cli", "get_parser")(3)), TypeError, "argument"),
    Case(_lazy("collapse_theory.cli", "main"), _cli("absorb", "--M", "0", "--out", "TMP/x"), ValueError, r"\bM\b"),
    Case(_lazy("collapse_theory.cli", "main"), _cli("absorb", "--p0", "0.5,0.6", "--out", "TMP/x"), ValueError, r"p0 must sum to 1.*1\.1"),
    Case(_lazy("collapse_theory.cli", "main"), _cli("absorb", out_file=True), ValueError, "--out .*not a directory", label="absorb"),
    Case(_lazy("collapse_theory.cli", "main"), _cli("tails", out_file=True), ValueError, "--out .*not a directory", label="tails"),
    Case(_lazy("collapse_theory.cli", "main"), _cli("gaussian", out_file=True), ValueError, "--out .*not a directory", label="gaussian"),
    Case(_lazy("collapse_theory.cli", "main"), _cli("gmm", "--generations", "2", "--sample-size", "20", out_file=True), ValueError, "--out .*not a directory", label="gmm"),
    Case(_lazy("collapse_theory.cli", "main"), _cli("verify", out_file=True), ValueError, "--out .*not a directory", label="verify"),
    Case(_lazy("collapse_theory.cli", "main"), _cli("sampling", out_file=True), ValueError, "--out .*not a directory", label="sampling"),
    Case(_lazy("collapse_theory.cli", "main"), _cli("regression", out_file=True), ValueError, "--out .*not a directory", label="regression"),
    Case(_lazy("collapse_theory.cli", "main"), _cli("reproduce", out_file=True), ValueError, "--out .*not a directory", label="reproduce"),
    Case(_lazy("collapse_theory.cli", "main"), _cli("gaussian", "--out", "TMP/a_file/run"), ValueError, "--out .*is a file", label="file as parent"),
    Case(_lazy("collapse_theory.cli", "main"), _cli("gmm", "--resume", "--force", "--out", "TMP/x"), ValueError, "--resume.*--force", label="resume and force"),
    # ---------------------------------------------------------------- VAE adapter (helper vaegmm; extra [vae])
    Case(_vae("VAE"), _m(lambda: _vae("VAE")(latent_dim=0)), ValueError, "latent_dim"),
    Case(_vae("vae_loss"), _m(lambda: _vae("vae_loss")(np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(3))), TypeError, "recon|tensor"),
    Case(_vae("digits_images"), _m(lambda: _vae("digits_images")(0)), ValueError, "image_size"),
    Case(_vae("load_images"), lambda tmp_path: _vae("load_images")(mnist=tmp_path / "nowhere"), (ValueError, FileNotFoundError), "mnist"),
    Case(_vae("train_generation"), _m(lambda: _vae("train_generation")(np.zeros((4, 28, 28), np.float32), make_model=lambda: None, epochs=0, seed=0)), ValueError, "epochs"),
    Case(_vae("latent_means"), _m(lambda: _vae("latent_means")(None, None, np.zeros(3), batch_size=0)), ValueError, "batch_size"),
    Case(_vae("latent_summary"), _m(lambda: _vae("latent_summary")(np.zeros((3, 2)), np.zeros((3, 4)))), ValueError, "codes|initial"),
    Case(_vae("LatentSummary"), _m(lambda: _vae("latent_summary")([[True]], [[0.0]])), TypeError, "codes"),
    Case(_vae("elbo_under"), _m(lambda: _vae("elbo_under")(None, np.zeros((2, 28, 28)), batch_size=0)), ValueError, "batch_size"),
    Case(_vae("synthetic_set"), _m(lambda: _vae("synthetic_set")(None, 0)), ValueError, r"\bn\b"),
    Case(_vae("synthetic_set"), _m(lambda: _vae("synthetic_set")(None, 5, pixels="grey")), ValueError, "pixels"),
    Case(_vae("synthetic_set"), _m(lambda: _vae("synthetic_set")(None, 5, real_fraction=0.5)), ValueError, "real_fraction|real", label="real_fraction without real"),
    Case(_vae("synthetic_set"), _m(lambda: _vae("synthetic_set")(None, 5, batch_size=0)), ValueError, "batch_size"),
    Case(_vae("run"), _m(lambda: _vae("run")(-1)), ValueError, "generations"),
    Case(_vae("DigitJudge"), _m(lambda: _vae("DigitJudge")(None, 0)), ValueError, "n_classes"),
    Case(_vae("MLPVAE"), _m(lambda: _vae("MLPVAE")(latent_dim=0)), ValueError, "latent_dim"),
    Case(_vae("fit_judge"), _m(lambda: _vae("fit_judge")(np.zeros((4, 8, 8)), np.zeros(3), rng=0)), ValueError, "labels|images"),
    Case(_vae("prdc_metrics"), _m(lambda: _vae("prdc_metrics")(np.zeros((10, 2)), np.zeros((10, 3)))), ValueError, "real_features|fake_features"),
    Case(_vae("quality_figure"), _m(lambda: _vae("quality_figure")("notarun")), TypeError, "run"),
    Case(_vae("summary_table"), _m(lambda: _vae("summary_table")("notarun")), TypeError, "run"),
    Case(_vae("write_outputs"), lambda tmp_path: _vae("write_outputs")("notarun", tmp_path), TypeError, "run"),
    Case(_vae("figures"), _m(lambda: _vae("figures")("notarun")), TypeError, "run"),
    Case(_vae("latent_density_figure"), _m(lambda: _vae("latent_density_figure")("notarun")), TypeError, "run"),
    Case(_vae("latent_std_figure"), _m(lambda: _vae("latent_std_figure")("notarun")), TypeError, "run"),
    Case(_vae("sample_grid_figure"), _m(lambda: _vae("sample_grid_figure")("notarun", n=0)), (TypeError, ValueError), "run|n"),
    # ---------------------------------------------------------------- LM adapter (helper lm; extra [lm])
    Case(_lm("run"), _m(lambda: _lm("run")(-1)), ValueError, "generations"),
    Case(_lm("cut_blocks"), _m(lambda: _lm("cut_blocks")([1, 2, 3], 0)), ValueError, "block_size"),
    Case(_lm("sequence_nll"), _m(lambda: _lm("sequence_nll")(None, np.zeros((2, 3), np.int64), batch_size=0)), ValueError, "batch_size"),
    Case(_lm("perplexity"), _m(lambda: _lm("perplexity")(None, np.zeros((2, 3), np.int64), batch_size=0)), ValueError, "batch_size"),
    Case(_lm("fine_tune"), _m(lambda: _lm("fine_tune")(None, np.zeros((2, 3), np.int64), np.zeros((2, 3), np.int64), epochs=0)), ValueError, "epochs"),
    Case(_lm("fine_tune"), _m(lambda: _lm("fine_tune")(None, np.zeros((2, 3), np.int64), np.zeros((2, 3), np.int64), lr=-1.0)), ValueError, "lr", label="negative lr"),
    Case(_lm("read_corpus"), lambda tmp_path: _lm("read_corpus")(tmp_path / "nowhere"), (ValueError, FileNotFoundError), "corpus"),
    Case(_lm("write_outputs"), lambda tmp_path: _lm("write_outputs")(3, tmp_path), TypeError, r"\brun\b"),
    Case(_lm("Decoding"), _m(lambda: _lm("Decoding")(method="psychic")), ValueError, "method"),
    Case(_lm("distinct_n"), _m(lambda: _lm("distinct_n")([[1, 2]], 0)), ValueError, r"\bn\b"),
    Case(_lm("examples"), _m(lambda: _lm("examples")("notarun")), TypeError, "run"),
    Case(_lm("figures"), _m(lambda: _lm("figures")("notarun")), TypeError, "run"),
    Case(_lm("generate"), _m(lambda: _lm("generate")(None, np.zeros((2, 3), np.int64), new_tokens=0)), ValueError, "new_tokens"),
    Case(_lm("lexical_diversity"), _m(lambda: _lm("lexical_diversity")(3)), TypeError, "words"),
    Case(_lm("mix_blocks"), _m(lambda: _lm("mix_blocks")(np.zeros((2, 3)), np.zeros((2, 3)), "sideways")), ValueError, "mixing"),
    Case(_lm("reference"), _m(lambda: _lm("reference")("notarun")), TypeError, "run"),
    Case(_lm("resolve_model"), _m(lambda: _lm("resolve_model")("no-such-model")), (ValueError, FileNotFoundError), "model|name"),
    Case(_lm("self_bleu"), _m(lambda: _lm("self_bleu")(["a b"], max_texts=0)), ValueError, "max_texts"),
    Case(_lm("summary_table"), _m(lambda: _lm("summary_table")("notarun")), TypeError, "run"),
    Case(_lazy("collapse_theory.report", "machine_info"), _m(lambda: ct.report.machine_info(1)), TypeError, "argument"),
]

def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "-", text.replace(r"\b", "")).strip("-")


def _case_id(case: Case) -> str:
    """``function-label``: stable under insertions and reordering (no index); unique (checked below)."""
    target = case.target
    name = getattr(target, "__qualname__", getattr(target, "__name__", None)) or "missing"
    module = (getattr(target, "__module__", None) or "").removeprefix("collapse_theory").lstrip(".")
    public = [part for part in module.split(".") if part and not part.startswith("_")]
    module = public[-1] if public else ""  # e.g. gmm, vae, lm, discrete (names repeat across modules)
    return f"{module}.{name}-{_slug(case.label or case.names)}" if module else f"{name}-{_slug(case.label or case.names)}"


def _ids():
    ids = [_case_id(c) for c in CASES]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:  # give those cases a label
        raise RuntimeError(f"bad-input case ids are not unique: {dup}")
    return ids


def _params():
    out = []
    for cid, case in zip(_ids(), CASES):
        marks = []
        if case.target is None:
            marks.append(pytest.mark.skip(reason="optional extra not installed"))
        out.append(pytest.param(case, id=cid, marks=marks))
    return out


#: Seconds a bad call may take before it is refused (it must not start the computation).
TIME_LIMIT_S = 30


class _Hang(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: float):
    """Raise _Hang in this thread if the block runs longer than ``seconds`` (SIGALRM; POSIX)."""

    def alarm(signum, frame):
        raise _Hang(f"no answer within {seconds} s: the bad input was not refused before the work started")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("case", _params())
def test_bad_input_is_refused_naming_the_parameter(case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a call that writes by default writes here
    monkeypatch.setenv("COLLAPSE_THEORY_PROGRESS", "0")
    with _time_limit(TIME_LIMIT_S), pytest.raises(case.error) as info:
        case.call(tmp_path)
    message = str(info.value)
    assert re.search(case.names, message), f"the message does not name {case.names!r}: {message}"
    assert "np.float64(" not in message and "np.int64(" not in message, f"a NumPy repr leaks: {message}"


def _public_callables():
    found = {}
    for name in PUBLIC_MODULES:
        try:
            mod = importlib.import_module(name)
        except ImportError:  # an optional extra that is not installed
            continue
        for attr in getattr(mod, "__all__", ()):
            obj = getattr(mod, attr, None)
            if obj is None or not callable(obj) or isinstance(obj, type(importlib)):
                continue
            if not (getattr(obj, "__module__", "") or "").startswith("collapse_theory"):
                continue
            found.setdefault(id(obj), f"{name}.{attr}")
    return found


def test_every_public_callable_has_a_case():
    covered = {id(c.target) for c in CASES if c.target is not None}
    missing = sorted(qual for key, qual in _public_callables().items() if key not in covered)
    assert not missing, f"public callables without a bad-input case: {missing}"


# ------------------------------------------------------------------ the command line's rules (issue 17, item 9)


def _main(argv, capsys):
    from collapse_theory.cli import main

    code = main([str(a) for a in argv])
    return code, capsys.readouterr()


def test_cli_checks_out_before_computing(tmp_path, capsys, monkeypatch):
    from collapse_theory import studies

    def no_work(*a, **k):
        raise AssertionError("the study ran although --out was unusable")

    monkeypatch.setattr(studies, "absorption", no_work)
    monkeypatch.setattr(studies, "w2_growth", no_work)
    (tmp_path / "f").write_text("x")
    for argv in (["absorb", "--out", tmp_path / "f"], ["gaussian", "--out", tmp_path / "f" / "sub"]):
        code, cap = _main(argv, capsys)
        assert code == 2 and "--out" in cap.err and "Traceback" not in cap.err


@pytest.mark.slow
def test_cli_one_overwrite_rule_with_force(tmp_path, capsys):
    out = tmp_path / "a"
    argv = ["absorb", "--M", "8", "--K", "2", "--replicates", "50", "--seed", "1", "--out", out]
    # exit 0 or 1 (1: a test of the study against theory failed at 50 replicates); 2 would be a refusal
    assert _main(argv, capsys)[0] in (0, 1) and any(out.iterdir())
    stamp = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    code, cap = _main(argv, capsys)
    assert code == 2 and "--force" in cap.err  # refused, nothing written
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamp
    assert _main([*argv, "--force"], capsys)[0] in (0, 1)
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} != stamp  # written over
    # the generational runs follow the same rule, and name the flags, not the API keywords
    gargv = ["gmm", "--generations", "1", "--sample-size", "30", "--out", tmp_path / "g", "--seed", "2"]
    assert _main(gargv, capsys)[0] == 0
    code, cap = _main(gargv, capsys)
    assert code == 2 and "--force" in cap.err and "--resume" in cap.err and "resume=True" not in cap.err
    assert _main([*gargv, "--force"], capsys)[0] == 0


def test_cli_messages_name_flags_and_leak_no_reprs():
    from collapse_theory.cli import _message

    assert _message(FileExistsError("out='x' already holds files; pass resume=True to continue")) == (
        "--out 'x' already holds files; pass --resume to continue"
    )
    assert _message(ValueError("p0 must sum to 1, got a sum of np.float64(1.1)")) == "p0 must sum to 1, got a sum of 1.1"
    assert "--n-mc" in _message(ValueError("n_mc must be >= 1"))


@pytest.mark.parametrize(("command", "module", "extra"), [("sweep", "zarr", "sweep"), ("lm", "transformers", "lm"),
                                                         pytest.param("vae", "torch", "vae", marks=pytest.mark.slow)])
def test_cli_missing_extra_says_what_to_install(tmp_path, capsys, monkeypatch, command, module, extra):
    import sys

    monkeypatch.setitem(sys.modules, module, None)  # as if the extra were not installed
    for name in [m for m in sys.modules if m.startswith(("collapse_theory.runs.lm", "collapse_theory.runs.vae"))]:
        monkeypatch.delitem(sys.modules, name)
    grid = tmp_path / "g.toml"
    grid.write_text('study = "heterozygosity"\nreplicates = 10\n[fixed]\nK = 2\ngenerations = 2\n[axes]\nM = [5]\n')
    argv = {"sweep": ["sweep", grid, "--out", tmp_path / "s.zarr", "--workers", "1"],
            "lm": ["lm", "--quick", "--out", tmp_path / "lm"], "vae": ["vae", "--quick", "--out", tmp_path / "vae"]}[command]
    code, cap = _main(argv, capsys)
    assert code == 2 and f"collapse_theory[{extra}]" in cap.err and "Traceback" not in cap.err
