"""Fuzzing the public constructors and theory functions with arbitrary input (``make fuzz``).

Each target is called with arguments drawn, one by one, from a plausible
strategy (two times in three) or from anything (floats with NaN and inf,
huge integers, booleans, None, short strings, lists, NumPy arrays). The
contract (issue 17):

* the call returns a result that is finite (no NaN; +-inf only where a
  log of a vanishing variance is the right answer) and in range (a
  probability in [0, 1], a squared distance or a variance >= 0, ...); or
* it raises ValueError or TypeError whose message names one of the
  target's parameters;
* never another exception (MemoryError, ZeroDivisionError, IndexError, a
  Numba SystemError, ...), never longer than :data:`TIME_LIMIT_S` seconds.

Skipped unless ``CT_FUZZ=1`` (so ``make test`` does not run it).
``CT_FUZZ_EXAMPLES`` sets the examples per target (default 200),
``CT_FUZZ_MEMORY_GB`` caps this process's address space so that an
unguarded allocation fails here instead of swapping the machine, and
``CT_FUZZ_REPORT`` names a JSON file where the count of examples tried and
the contract violations found per target are written, and ``CT_FUZZ_FINDINGS``
a file where each violation is appended (a JSON line with its arguments)
before it is raised.
"""

from __future__ import annotations

import json
import os
import re
import signal
from dataclasses import fields, is_dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

pytestmark = pytest.mark.skipif(os.environ.get("CT_FUZZ") != "1", reason="fuzzing runs with `make fuzz` (CT_FUZZ=1)")

import collapse_theory as ct
from collapse_theory import wasserstein as w
from collapse_theory.theory import discrete as td
from collapse_theory.theory import gaussian as tg

TIME_LIMIT_S = 150  # a valid call may take up to about 2 minutes (theory.discrete.MAX_TABLE_OPERATIONS)
EXAMPLES = int(os.environ.get("CT_FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=False,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)

if os.environ.get("CT_FUZZ_MEMORY_GB"):
    import resource

    from collapse_theory.chains import discrete as _cd
    from collapse_theory.chains import gaussian as _cg

    _cap = int(float(os.environ["CT_FUZZ_MEMORY_GB"]) * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (_cap, _cap))
    # the memory guards refuse above 1 GiB here, so an estimate that is several times too low
    # still shows up as a MemoryError under the cap instead of passing unnoticed
    # (the Gaussian chain's guard was left at 8 GiB, above the cap: a run it let through died of a MemoryError
    # while pytest formatted the failure, and the log showed no example)
    _cd.MEMORY_LIMIT_BYTES = _cg.MEMORY_LIMIT_BYTES = td.MEMORY_LIMIT_BYTES = w.MAX_OT_BYTES = 2**30

STATS: dict = {}


# ------------------------------------------------------------------ strategies

_wild_floats = st.floats(allow_nan=True, allow_infinity=True)
ANY = st.one_of(
    _wild_floats,
    st.integers(-(2**70), 2**70),
    st.booleans(),
    st.none(),
    st.text(max_size=6),
    st.lists(_wild_floats, max_size=5),
    arrays(np.float64, array_shapes(min_dims=0, max_dims=3, max_side=4), elements=_wild_floats),
)


def arg(plausible):
    """Plausible two times in three, anything otherwise (a flat one_of would weigh ANY's seven branches)."""
    return st.integers(0, 2).flatmap(lambda k: ANY if k == 2 else plausible)


def _prob_vector(max_k=6):
    return st.lists(st.floats(0, 1), min_size=1, max_size=max_k).filter(lambda v: sum(v) > 1e-6).map(
        lambda v: list(np.asarray(v) / np.sum(v))
    )


PROB = _prob_vector()
M_SMALL = st.integers(1, 60)
M = st.one_of(st.integers(1, 2000), st.integers(1, 10**13))
T = st.one_of(st.integers(0, 300), st.lists(st.integers(0, 300), min_size=1, max_size=4), st.integers(0, 10**13))
N = st.integers(0, 300)
POS = st.floats(1e-6, 1e6)
SHARE = st.floats(0, 1)
EST = st.sampled_from(["unbiased", "mle"])
MIXING = st.one_of(
    st.just(None),
    st.builds(ct.Mixing.fresh, SHARE),
    st.builds(ct.Mixing.accumulate, SHARE),
    st.sampled_from(["replace", "fresh:0.1", "accumulate", "mixture:0.5,0.3,0.2", "augment:2"]).map(ct.Mixing.from_spec),
)
SAMPLE = arrays(np.float64, st.tuples(st.integers(1, 30), st.integers(1, 3)), elements=st.floats(-1e3, 1e3))
COV2 = st.floats(0.01, 100).map(lambda s: s * np.eye(2))


# ------------------------------------------------------------------ the contract


class _Hang(Exception):
    pass


def _alarm(signum, frame):
    raise _Hang(f"no answer within {TIME_LIMIT_S} s")


def _values(x, depth=0):
    """Numeric leaves of a result (floats, arrays, dataclass fields, dicts, tuples)."""
    if depth > 4 or x is None or isinstance(x, (str, bytes, bool, np.bool_)):
        return
    if isinstance(x, (int, float, np.number)):
        yield float(x)
    elif isinstance(x, np.ndarray):
        if x.dtype.kind in "fiu":
            yield x.astype(float)
    elif is_dataclass(x):
        for f in fields(x):
            yield from _values(getattr(x, f.name), depth + 1)
    elif isinstance(x, dict):
        for v in x.values():
            yield from _values(v, depth + 1)
    elif isinstance(x, (list, tuple)):
        for v in x:
            yield from _values(v, depth + 1)


def _finite_input(args) -> bool:
    for v in _values(args):
        if not np.all(np.isfinite(v)):
            return False
    return True


def _finding(name, message, args):
    """Append a contract violation to ``CT_FUZZ_FINDINGS`` (one JSON line) before it is raised.

    The file keeps what the log can lose: a failure on a result of a gigabyte left a
    process at its address-space cap, and pytest then failed with a MemoryError while
    formatting the traceback, printing nothing of the example.
    """
    path = os.environ.get("CT_FUZZ_FINDINGS")
    if path:
        with open(path, "a") as fh:
            fh.write(json.dumps({"target": name, "message": message, "args": repr(args)[:2000]}) + "\n")
    return message


def _violation(name, out, args, *, low, high, allow_inf):
    """The first breach of the contract by a returned value, or None."""
    finite_in = _finite_input(args)
    for v in _values(out):
        v = np.asarray(v, dtype=float)
        if finite_in and np.any(np.isnan(v)):
            return f"{name}: NaN from finite input"
        if not allow_inf and np.any(np.isinf(v)):
            return f"{name}: infinite result"
        vv = v[np.isfinite(v)]
        if low is not None and vv.size and not np.all(vv >= low - 1e-9):
            return f"{name}: result below {low}: {vv.min()}"
        if high is not None and vv.size and not np.all(vv <= high + 1e-9):
            return f"{name}: result above {high}: {vv.max()}"
    return None


def check(name, func, params, args, *, low=None, high=None, allow_inf=False):
    """Call ``func(**args)`` and assert the contract; ``params`` are the names an error may give."""
    rec = STATS.setdefault(name, {"examples": 0, "refused": 0, "returned": 0})
    rec["examples"] += 1
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT_S)
    failure = refused = None
    try:
        out = func(**args)
    except (ValueError, TypeError) as exc:
        refused = str(exc)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - every other exception breaks the contract
        # keep only the text: the frames may hold the very allocation that failed
        failure = f"{name}: raised {type(exc).__name__} (not ValueError/TypeError): {str(exc)[:300]}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    if failure is not None:
        out = None
        raise AssertionError(_finding(name, failure, args))
    if refused is not None:
        rec["refused"] += 1
        named = [p for p in params if re.search(rf"(?<![A-Za-z0-9_]){re.escape(p)}(?![A-Za-z0-9_])", refused)]
        if not named:
            raise AssertionError(_finding(name, f"{name}: the error does not name a parameter of {params}: {refused[:300]!r}", args))
        if "np.float64(" in refused:
            raise AssertionError(_finding(name, f"{name}: a NumPy repr leaks into the message: {refused[:300]!r}", args))
        return None
    rec["returned"] += 1
    breach = _violation(name, out, args, low=low, high=high, allow_inf=allow_inf)
    if breach is not None:
        out = None  # the result may be large: not kept alive by the traceback
        raise AssertionError(_finding(name, breach, args))
    return out


def teardown_module(module):
    """Add this process's counts to the report (``make fuzz`` runs each test in its own process)."""
    path = os.environ.get("CT_FUZZ_REPORT")
    if not path or not STATS:
        return
    try:
        with open(path) as fh:
            targets = json.load(fh)["targets"]
    except (OSError, ValueError, KeyError):
        targets = {}
    for name, rec in STATS.items():
        old = targets.setdefault(name, {"examples": 0, "refused": 0, "returned": 0})
        for k, v in rec.items():  # examples, refused, returned (and too_heavy where a target counts it)
            old[k] = old.get(k, 0) + v
    with open(path, "w") as fh:
        json.dump({"examples": sum(r["examples"] for r in targets.values()), "targets": targets}, fh, indent=1)


# ------------------------------------------------------------------ the process


_SHARES = st.tuples(SHARE, SHARE).map(lambda ab: (ab[0], (1 - ab[0]) * ab[1], (1 - ab[0]) * (1 - ab[1])))


@FUZZ
@given(abg=_SHARES, a=arg(SHARE), b=arg(SHARE), g=arg(SHARE), which=st.integers(0, 3))
def test_mixing(abg, a, b, g, which):
    a, b, g = [(a, b, g)[i] if i == which else abg[i] for i in range(3)]
    check("Mixing", ct.Mixing, ("synthetic", "previous", "real", "mixing"), {"synthetic": a, "previous": b, "real": g}, low=0, high=1)


@FUZZ
@given(spec=st.one_of(st.text(max_size=20), st.from_regex(r"(fresh|accumulate|augment|mixture|replace)(:[-0-9.,e]{0,12})?", fullmatch=True)))
def test_mixing_from_spec(spec):
    check("Mixing.from_spec", ct.Mixing.from_spec, ("mixing", "spec", "real", "synthetic", "previous", "synthetic_ratio"), {"spec": spec}, low=0)


# ------------------------------------------------------------------ chains


@FUZZ
@given(p0=arg(PROB), M=arg(M_SMALL), G=arg(st.integers(0, 30)), R=arg(st.integers(1, 30)), mixing=MIXING)
def test_discrete_chain(p0, M, G, R, mixing):
    def go(p0, sample_size, mixing, generations, replicates):
        return ct.DiscreteChain(p0, sample_size, mixing=mixing).simulate(generations, replicates, rng=0, record=("support", "heterozygosity", "alive_mass"))

    run = check(
        "DiscreteChain.simulate", go, ("p0", "sample_size", "mixing", "generations", "replicates"),
        {"p0": p0, "sample_size": M, "mixing": mixing, "generations": G, "replicates": R}, low=0,
    )
    if run is not None:
        assert np.all(run.heterozygosity <= 1) and np.all(run.alive_mass <= 1 + 1e-12)


@FUZZ
@given(p0=arg(PROB), M=arg(M_SMALL), R=arg(st.integers(1, 20)), G=arg(st.one_of(st.none(), st.integers(0, 2000))))
def test_discrete_absorb(p0, M, R, G):
    def go(p0, sample_size, replicates, max_generations):
        return ct.DiscreteChain(p0, sample_size).absorb(replicates, max_generations, rng=0)

    check("DiscreteChain.absorb", go, ("p0", "sample_size", "replicates", "max_generations"),
          {"p0": p0, "sample_size": M, "replicates": R, "max_generations": G}, low=-1)


#: Draws (generations x replicates x sample size x dimension) past which a sampled GaussianChain run is valid
#: and slow, not hung: the sample path draws about 2e7 normal variates a second here (1e6 generations of 15
#: replicates of 50 points took 35 s), so a fuzzed G = 8.8e6 ran past the time bound while showing progress.
#: Such examples are rejected (counted as ``too_heavy``); the exact path and every refusal are still checked.
SAMPLE_DRAWS_LIMIT = 10**9


def _too_heavy(mean, cov, M, G, R, est, method) -> bool:
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in (M, G, R)):
        return False
    try:
        chain = ct.GaussianChain(mean, cov, M, estimator=est, method=method)
    except (ValueError, TypeError):
        return False  # the call itself checks the refusal
    return chain.method == "sample" and int(G) * int(R) * int(M) * chain.dim > SAMPLE_DRAWS_LIMIT


@FUZZ
@given(mean=arg(st.floats(-10, 10)), cov=arg(POS), M=arg(st.integers(2, 50)), G=arg(st.integers(0, 20)), R=arg(st.integers(1, 20)),
       est=arg(EST), method=arg(st.sampled_from(["auto", "exact", "sample"])))
def test_gaussian_chain(mean, cov, M, G, R, est, method):
    if _too_heavy(mean, cov, M, G, R, est, method):
        rec = STATS.setdefault("GaussianChain.simulate", {"examples": 0, "refused": 0, "returned": 0})
        rec["too_heavy"] = rec.get("too_heavy", 0) + 1
        reject()

    def go(mean, cov, sample_size, estimator, method, generations, replicates):
        return ct.GaussianChain(mean, cov, sample_size, estimator=estimator, method=method).simulate(generations, replicates, rng=0)

    check("GaussianChain.simulate", go, ("mean", "cov", "sample_size", "estimator", "method", "generations", "replicates"),
          {"mean": mean, "cov": cov, "sample_size": M, "estimator": est, "method": method, "generations": G, "replicates": R},
          allow_inf=True)


# ------------------------------------------------------------------ discrete theory

_PT = ("p0", "M", "t", "mixing")


@FUZZ
@given(p0=arg(PROB), M=arg(M), t=arg(T), mixing=MIXING)
def test_heterozygosity(p0, M, t, mixing):
    check("heterozygosity", td.heterozygosity, _PT, {"p0": p0, "M": M, "t": t, "mixing": mixing}, low=0, high=1)


@FUZZ
@given(p0=arg(PROB), M=arg(M), mixing=MIXING)
def test_stationary_heterozygosity(p0, M, mixing):
    check("stationary_heterozygosity", td.stationary_heterozygosity, _PT, {"p0": p0, "M": M, "mixing": mixing}, low=0, high=1)


@FUZZ
@given(p0=arg(PROB))
def test_fixation_and_loss(p0):
    check("fixation_probability", td.fixation_probability, ("p0",), {"p0": p0}, low=0, high=1)
    check("loss_probability", td.loss_probability, ("p0",), {"p0": p0}, low=0, high=1)


@FUZZ
@given(p0=arg(PROB), M=arg(st.integers(1, 300)), method=arg(st.sampled_from(["exact", "diffusion"])))
def test_absorption_time(p0, M, method):
    check("absorption_time", td.absorption_time, ("p0", "M", "method"), {"p0": p0, "M": M, "method": method}, low=0)


@FUZZ
@given(p0=arg(PROB), M=arg(st.integers(1, 300)), t=arg(T))
def test_absorption_time_cdf(p0, M, t):
    check("absorption_time_cdf", td.absorption_time_cdf, ("p0", "M", "t"), {"p0": p0, "M": M, "t": t}, low=0, high=1)


@FUZZ
@given(count=arg(st.integers(0, 300)), M=arg(st.integers(1, 300)), t=arg(T))
def test_survival_probability(count, M, t):
    check("survival_probability", td.survival_probability, ("count", "M", "t"), {"count": count, "M": M, "t": t}, low=0, high=1)


@FUZZ
@given(p0=arg(PROB), M=arg(st.integers(1, 500)), t=arg(T))
def test_extinction_support_alive_mass(p0, M, t):
    check("extinction_probability", td.extinction_probability, ("p0", "M", "t"), {"p0": p0, "M": M, "t": t}, low=0, high=1)
    check("expected_support", td.expected_support, ("p0", "M", "t"), {"p0": p0, "M": M, "t": t}, low=0)
    check("expected_alive_mass", td.expected_alive_mass, ("p0", "M", "t"), {"p0": p0, "M": M, "t": t}, low=0, high=1)


@FUZZ
@given(M=arg(st.integers(1, 200)), sparse=arg(st.booleans()))
def test_transition_matrix_and_eigenvalues(M, sparse):
    check("transition_matrix", lambda M, sparse_output: td.transition_matrix(M, sparse_output=sparse_output),
          ("M", "sparse_output"), {"M": M, "sparse_output": sparse}, low=0, high=1)
    check("eigenvalues", td.eigenvalues, ("M",), {"M": M}, low=0, high=1)


# ------------------------------------------------------------------ Gaussian theory

_NM = ("n", "M", "sigma0", "estimator", "r")


@FUZZ
@given(n=arg(N), M=arg(st.integers(1, 10**6)), sigma0=arg(POS), est=arg(EST), r=arg(st.floats(-3, 3)))
def test_gaussian_moments(n, M, sigma0, est, r):
    for name, f, kw, low, inf in (
        ("c4", tg.c4, {"M": M}, 0, False),
        ("moment_factor", tg.moment_factor, {"M": M, "r": r, "estimator": est}, 0, True),
        ("expected_variance_power", tg.expected_variance_power, {"n": n, "M": M, "r": r, "sigma0": sigma0, "estimator": est}, 0, True),
        ("expected_variance", tg.expected_variance, {"n": n, "M": M, "sigma0": sigma0, "estimator": est}, 0, False),
        ("variance_of_variance", tg.variance_of_variance, {"n": n, "M": M, "sigma0": sigma0, "estimator": est}, 0, True),
        ("expected_std", tg.expected_std, {"n": n, "M": M, "sigma0": sigma0, "estimator": est}, 0, False),
        ("expected_log_variance", tg.expected_log_variance, {"n": n, "M": M, "sigma0": sigma0, "estimator": est}, None, True),
        ("log_variance_variance", tg.log_variance_variance, {"n": n, "M": M, "estimator": est}, 0, True),
        ("log_variance_drift", tg.log_variance_drift, {"M": M, "estimator": est}, None, True),
        ("expected_mean_squared_error", tg.expected_mean_squared_error, {"n": n, "M": M, "sigma0": sigma0, "estimator": est}, 0, False),
        ("expected_w2_squared", tg.expected_w2_squared, {"n": n, "M": M, "sigma0": sigma0, "estimator": est}, 0, False),
        ("paper_w2_squared", tg.paper_w2_squared, {"n": n, "M": M, "sigma0": sigma0}, 0, False),
    ):
        check(name, f, _NM, kw, low=low, allow_inf=inf)


@FUZZ
@given(M0=arg(st.integers(1, 1000)), exponent=arg(st.floats(-2, 4)), sigma0=arg(POS), terms=arg(st.integers(1, 10**5)))
def test_schedules_theory(M0, exponent, sigma0, terms):
    check("schedule_is_bounded", tg.schedule_is_bounded, ("exponent",), {"exponent": exponent})
    check("schedule_limit", tg.schedule_limit, ("M0", "exponent", "sigma0", "terms", "estimator"),
          {"M0": M0, "exponent": exponent, "sigma0": sigma0, "terms": terms}, low=0, allow_inf=True)


@FUZZ
@given(n=arg(N), M=arg(st.integers(1, 10**4)), cov0=arg(COV2), d=arg(st.integers(1, 5)), est=arg(EST))
def test_gaussian_multivariate(n, M, cov0, d, est):
    for name, f, kw, low, inf in (
        ("expected_mean_squared_error_mv", tg.expected_mean_squared_error_mv, {"n": n, "M": M, "cov0": cov0, "estimator": est}, 0, False),
        ("expected_trace", tg.expected_trace, {"n": n, "M": M, "cov0": cov0, "estimator": est}, 0, False),
        ("expected_det", tg.expected_det, {"n": n, "M": M, "cov0": cov0, "estimator": est}, 0, False),
        ("expected_log_det", tg.expected_log_det, {"n": n, "M": M, "cov0": cov0, "estimator": est}, None, True),
        ("log_det_variance", tg.log_det_variance, {"n": n, "M": M, "d": d, "estimator": est}, 0, True),
    ):
        check(name, f, ("n", "M", "cov0", "d", "estimator"), kw, low=low, allow_inf=inf)


@FUZZ
@given(n=arg(N), M=arg(st.integers(2, 1000)), gamma=arg(SHARE), sigma0=arg(POS), G=arg(st.integers(1, 3000)),
       workflow=arg(st.sampled_from(["fresh", "accumulate", "replace"])))
def test_mitigation_theory(n, M, gamma, sigma0, G, workflow):
    names = ("n", "M", "gamma", "workflow", "sigma0", "estimator", "generations", "mixing", "real")
    check("moment_recursion", tg.moment_recursion, names, {"n": n, "M": M, "gamma": gamma, "workflow": workflow, "sigma0": sigma0}, low=0)
    check("stationary_moments", tg.stationary_moments, names, {"M": M, "gamma": gamma, "sigma0": sigma0}, low=0, allow_inf=True)
    check("long_run_moments", tg.long_run_moments, names, {"M": M, "gamma": gamma, "workflow": workflow, "sigma0": sigma0, "generations": G}, low=0, allow_inf=True)


@FUZZ
@given(v=arg(st.floats(0, 100)), e=arg(st.floats(0, 100)), sigma0=arg(POS))
def test_w2_squared_lower_bound(v, e, sigma0):
    check("w2_squared_lower_bound", tg.w2_squared_lower_bound, ("variance", "mean_squared_error", "sigma0"),
          {"variance": v, "mean_squared_error": e, "sigma0": sigma0}, low=0)


# ------------------------------------------------------------------ Wasserstein

_W = ("m1", "C1", "m2", "C2", "L1", "L2", "log_var1", "log_var2")


@FUZZ
@given(m1=arg(st.floats(-1e3, 1e3)), C1=arg(POS), m2=arg(st.floats(-1e3, 1e3)), C2=arg(POS))
def test_w2_gaussian(m1, C1, m2, C2):
    check("w2_squared_gaussian", w.w2_squared_gaussian, _W, {"m1": m1, "C1": C1, "m2": m2, "C2": C2}, low=0)
    check("w2_squared_gaussian_logvar", w.w2_squared_gaussian_logvar, _W,
          {"m1": m1, "log_var1": C1, "m2": m2, "log_var2": C2}, low=0)


@FUZZ
@given(m1=arg(st.just(np.zeros(2))), C1=arg(COV2), m2=arg(st.just(np.ones(2))), C2=arg(COV2))
def test_w2_gaussian_matrix(m1, C1, m2, C2):
    check("w2_squared_gaussian (d-D)", w.w2_squared_gaussian, _W, {"m1": m1, "C1": C1, "m2": m2, "C2": C2}, low=0)
    check("w2_squared_gaussian_factors", w.w2_squared_gaussian_factors, _W, {"m1": m1, "L1": C1, "m2": m2, "L2": C2}, low=0)


@FUZZ
@given(x=arg(SAMPLE), y=arg(SAMPLE), projections=arg(st.integers(1, 50)))
def test_w2_empirical(x, y, projections):
    names = ("x", "y", "x_weights", "y_weights", "projections", "m", "C")
    check("w2_squared_empirical", w.w2_squared_empirical, names, {"x": x, "y": y}, low=0)
    check("w2_squared_sliced", lambda x, y, projections: w.w2_squared_sliced(x, y, projections, rng=0), names,
          {"x": x, "y": y, "projections": projections}, low=0)


@FUZZ
@given(x=arg(SAMPLE), m=arg(st.floats(-10, 10)), C=arg(POS), method=arg(st.sampled_from(["auto", "exact", "sliced", "quantile"])))
def test_w2_to_gaussian(x, m, C, method):
    check("w2_squared_to_gaussian", lambda x, m, C, method: w.w2_squared_to_gaussian(x, m, C, method=method, rng=0),
          ("x", "m", "C", "method", "n_samples"), {"x": x, "m": m, "C": C, "method": method}, low=0)


@FUZZ
@given(w1=arg(PROB), w2=arg(PROB), s=arg(POS))
def test_w2_gmm(w1, w2, s):
    def variances(k, s):  # s broadcast to k components; passed on as it is where it does not broadcast
        try:
            return np.broadcast_to(s, (k,)).copy()
        except (ValueError, TypeError):
            return s

    def go(w1, w2, s):
        k1, k2 = np.size(w1), np.size(w2)
        return w.w2_squared_gmm(w1, np.arange(k1, dtype=float), variances(k1, s), w2, -np.arange(k2, dtype=float), variances(k2, s))

    # s is the variance of every component, so an error about it names C1 or C2
    check("w2_squared_gmm", go, ("w1", "m1", "C1", "w2", "m2", "C2"), {"w1": w1, "w2": w2, "s": s}, low=0)
