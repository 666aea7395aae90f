"""The public testing kit: what the toolkit's own tests use, for researchers' own theorems.

Three parts:

* **Hypothesis strategies** for valid chain parameters, so a property-based
  test of a prediction explores the whole parameter space the chains accept:
  :func:`p0_vectors`, :func:`sample_sizes`, :func:`schedules`,
  :func:`mixings`, :func:`covariances` and :func:`samplers`. Hypothesis is
  imported when a strategy is built (it is in the ``test`` extra), so
  ``import collapse_theory.testing`` works without it.
* **Statistical assertions**: :func:`assert_consistent` compares simulated
  samples with theory by a z-test of the mean, an exact binomial test of a
  frequency or a Kolmogorov–Smirnov test of a whole law, and fails when any
  Holm-adjusted p-value of the family falls below ``level`` (default 1e-3);
  :func:`assert_pvalues` does the same for p-values computed elsewhere.
  With a correct theory a test fails with probability at most ``level``;
  with fixed seeds it is deterministic.
* **User checks**: :func:`register_check` adds a theory function of your own
  to :mod:`collapse_theory.verify`, so ``verify.run(checks=[NAME])`` (Python)
  and ``collapse-theory verify --check NAME`` run it with the built-in checks,
  with the same seeding, correction, tables and QQ plots. :func:`compare`
  builds the outcomes a check returns.

Registering a check
-------------------
From Python (a notebook, a test, a script)::

    from collapse_theory import testing, verify

    @testing.register_check("mine.decay", description="E H_t = H_0 (1 - 1/M)^t")
    def my_check(level, rng):
        ...  # simulate with rng, return [testing.compare(...), ...]

    verify.run(checks=["mine.decay"])

From the command line, a check must come from an *installed* package that
declares it under the entry-point group ``collapse_theory.checks`` (the CLI
never imports a module named on the command line)::

    # pyproject.toml of your package
    [project.entry-points."collapse_theory.checks"]
    "mine.decay" = "my_package.checks:my_check"

then ``collapse-theory verify --check mine.decay`` (``--list`` shows every
registered check). The entry point may also name a module whose import
registers its checks with :func:`register_check`.

References
----------
Holm, S. (1979), Scand. J. Statist. 6, 65-70; the msprime verification
approach (Kelleher et al. 2016, PLoS Comput. Biol. 12, e1004842).
"""

from __future__ import annotations

import math

import numpy as np

from . import _stats
from .process import WORKFLOWS, Mixing, Schedule

__all__ = [
    "p0_vectors",
    "sample_sizes",
    "schedules",
    "mixings",
    "covariances",
    "samplers",
    "assert_consistent",
    "assert_pvalues",
    "consistency_pvalues",
    "compare",
    "register_check",
    "TESTS",
    "LEVEL",
]

#: Default family-wise significance level of the assertions.
LEVEL = 1e-3
#: Tests :func:`assert_consistent` and :func:`compare` can make.
TESTS = ("z", "binomial", "ks")


def _st():
    try:
        from hypothesis import strategies as st
    except ImportError as exc:  # pragma: no cover - hypothesis is in the test extra
        raise ImportError("collapse_theory.testing strategies need Hypothesis: pip install 'collapse_theory[test]'") from exc
    return st


# ----------------------------------------------------------------------------- strategies


def p0_vectors(min_size: int = 1, max_size: int = 10, *, allow_zero: bool = True):
    """Hypothesis strategy: probability vectors the discrete chain accepts.

    Parameters
    ----------
    min_size, max_size : int
        Number of states ``K`` (``1 <= min_size <= max_size``).
    allow_zero : bool
        Whether some states may have probability 0 (at least one is positive).

    Returns
    -------
    hypothesis.strategies.SearchStrategy of ndarray, shape (K,)
        Non-negative float64 vectors summing to 1 to round-off.

    Raises
    ------
    ValueError
        If the sizes are not ``1 <= min_size <= max_size``.

    Examples
    --------
    >>> from hypothesis import given
    >>> @given(p0_vectors(2, 5))
    ... def test_sums_to_one(p0):
    ...     assert abs(p0.sum() - 1) < 1e-12 and 2 <= p0.size <= 5
    >>> test_sums_to_one()
    """
    st = _st()
    if not 1 <= int(min_size) <= int(max_size):
        raise ValueError(f"p0_vectors: need 1 <= min_size <= max_size, got {min_size}, {max_size}")
    low = 0.0 if allow_zero else 1e-3
    weights = st.lists(st.floats(low, 1.0, allow_nan=False), min_size=int(min_size), max_size=int(max_size))
    return weights.filter(lambda w: sum(w) > 1e-3).map(lambda w: np.asarray(w, dtype=np.float64) / np.sum(w))


def sample_sizes(min_value: int = 1, max_value: int = 200):
    """Hypothesis strategy: a constant sample size ``M`` (int in ``min_value..max_value``).

    Parameters
    ----------
    min_value, max_value : int
        Closed range, ``1 <= min_value <= max_value`` (ValueError otherwise).

    Returns
    -------
    hypothesis.strategies.SearchStrategy of int

    Examples
    --------
    >>> from hypothesis import given
    >>> @given(sample_sizes(2, 9))
    ... def test_range(M):
    ...     assert 2 <= M <= 9
    >>> test_range()
    """
    if not 1 <= int(min_value) <= int(max_value):
        raise ValueError(f"sample_sizes: need 1 <= min_value <= max_value, got {min_value}, {max_value}")
    return _st().integers(int(min_value), int(max_value))


def schedules(min_m0: int = 1, max_m0: int = 100, *, generations: int = 20):
    """Hypothesis strategy: sample-size schedules of every kind (constant, linear, power, array).

    Parameters
    ----------
    min_m0, max_m0 : int
        Range of ``M_1``.
    generations : int
        Length of the 'array' schedules drawn (the others are unbounded).

    Returns
    -------
    hypothesis.strategies.SearchStrategy of :class:`~collapse_theory.Schedule`

    Examples
    --------
    >>> from hypothesis import given
    >>> @given(schedules(1, 10, generations=5))
    ... def test_sizes(s):
    ...     assert (s.sizes(5) >= 1).all()
    >>> test_sizes()
    """
    from .process import schedules as sch

    st = _st()
    if not 1 <= int(min_m0) <= int(max_m0):
        raise ValueError(f"schedules: need 1 <= min_m0 <= max_m0, got {min_m0}, {max_m0}")
    m0 = st.integers(int(min_m0), int(max_m0))
    return st.one_of(
        m0.map(sch.constant),
        st.builds(sch.linear, m0, st.floats(0.0, 5.0)),
        st.builds(sch.power, m0, st.floats(0.0, 2.5)),
        st.lists(m0, min_size=int(generations), max_size=int(generations)).map(
            lambda v: Schedule("array", values=tuple(v))
        ),
    )


def mixings(workflows=WORKFLOWS):
    """Hypothesis strategy: valid :class:`~collapse_theory.Mixing` values of the given workflows.

    Parameters
    ----------
    workflows : sequence of str
        Any of :data:`collapse_theory.process.WORKFLOWS` (default: all);
        pass the workflows the chain or theory under test accepts.

    Returns
    -------
    hypothesis.strategies.SearchStrategy of Mixing
        Every drawn value has ``.workflow`` in ``workflows``.

    Raises
    ------
    ValueError
        If a workflow is unknown.

    Examples
    --------
    >>> from hypothesis import given
    >>> @given(mixings(("fresh", "accumulate")))
    ... def test_wf(m):
    ...     assert m.workflow in ("fresh", "accumulate")
    >>> test_wf()
    """
    st = _st()
    workflows = tuple(workflows)
    bad = [w for w in workflows if w not in WORKFLOWS]
    if bad or not workflows:
        raise ValueError(f"mixings: unknown workflows {bad}; accepted: {', '.join(WORKFLOWS)}")
    share = st.floats(0.0, 1.0, allow_nan=False)
    positive = st.floats(1e-3, 1.0, allow_nan=False)
    makers = {
        "replace": st.just(Mixing.replace()),
        "fresh": positive.map(lambda g: Mixing.fresh(real=g)),
        "accumulate": share.map(lambda g: Mixing.accumulate(real=g)),
        "accumulate-subsample": share.map(lambda g: Mixing.accumulate(real=g, subsample=True)),
        "augment": st.floats(0.05, 8.0).map(lambda r: Mixing.augment(synthetic_ratio=r)),
        "mixture": st.tuples(positive, positive, share).map(lambda w: Mixing(*(v / sum(w) for v in w))),
    }
    return st.one_of(*(makers[w] for w in workflows)).filter(lambda m: m.workflow in workflows)


def covariances(dim=None, *, min_dim: int = 1, max_dim: int = 4, min_eigenvalue: float = 1e-3, max_eigenvalue: float = 1e3):
    """Hypothesis strategy: symmetric positive-definite covariance matrices.

    Built as :math:`Q \\operatorname{diag}(\\lambda) Q^T` with a random
    orthogonal ``Q`` and eigenvalues log-uniform in
    ``[min_eigenvalue, max_eigenvalue]``, so ill-conditioned matrices are
    drawn as often as round ones.

    Parameters
    ----------
    dim : int, optional
        Fixed dimension ``d``; otherwise ``d`` is drawn in ``min_dim..max_dim``.
    min_dim, max_dim : int
    min_eigenvalue, max_eigenvalue : float
        ``0 < min_eigenvalue <= max_eigenvalue``.

    Returns
    -------
    hypothesis.strategies.SearchStrategy of ndarray, shape (d, d)

    Examples
    --------
    >>> from hypothesis import given
    >>> @given(covariances(3))
    ... def test_spd(C):
    ...     assert C.shape == (3, 3) and np.linalg.eigvalsh(C).min() > 0
    >>> test_spd()
    """
    st = _st()
    if not 0 < min_eigenvalue <= max_eigenvalue:
        raise ValueError(f"covariances: need 0 < min_eigenvalue <= max_eigenvalue, got {min_eigenvalue}, {max_eigenvalue}")
    dims = st.just(int(dim)) if dim is not None else st.integers(int(min_dim), int(max_dim))
    lo, hi = math.log(min_eigenvalue), math.log(max_eigenvalue)

    @st.composite
    def build(draw):
        d = draw(dims)
        if d < 1:
            raise ValueError(f"covariances: dim must be >= 1, got {d}")
        logs = draw(st.lists(st.floats(lo, hi), min_size=d, max_size=d))
        seed = draw(st.integers(0, 2**32 - 1))
        Z = np.random.default_rng(seed).standard_normal((d, d))
        Q, R = np.linalg.qr(Z)
        Q = Q * np.sign(np.diag(R))
        C = (Q * np.exp(logs)) @ Q.T
        return 0.5 * (C + C.T)

    return build()


def samplers(*, temperature=(0.25, 4.0), top_k=(1, 50), top_p=(0.05, 1.0), min_p=(0.01, 0.5)):
    """Hypothesis strategy: decoding samplers :class:`collapse_theory.sampling.Sampler`.

    Each of ``temperature``, ``top_k``, ``top_p``, ``min_p`` is left at None
    (off) or drawn in the given closed range. Needs
    :mod:`collapse_theory.sampling`; raises ImportError naming it if this
    installation has none.

    Parameters
    ----------
    temperature, top_p, min_p : (float, float)
        Closed ranges of the float settings.
    top_k : (int, int)
        Closed range of ``top_k``.

    Returns
    -------
    hypothesis.strategies.SearchStrategy of Sampler

    Examples
    --------
    >>> from hypothesis import given
    >>> @given(samplers(top_k=(1, 3)))
    ... def test_t(s):
    ...     assert s.temperature is None or s.temperature > 0
    ...     assert s.top_k is None or 1 <= s.top_k <= 3
    >>> test_t()
    """
    for name, rng_ in (("temperature", temperature), ("top_k", top_k), ("top_p", top_p), ("min_p", min_p)):
        _range(name, rng_, integer=name == "top_k")
    try:
        from .sampling import Sampler
    except ImportError as exc:
        raise ImportError(f"testing.samplers needs collapse_theory.sampling.Sampler ({exc})") from exc
    st = _st()

    def maybe(strategy):
        return st.none() | strategy

    return st.builds(
        Sampler,
        temperature=maybe(st.floats(*temperature)),
        top_k=maybe(st.integers(*top_k)),
        top_p=maybe(st.floats(*top_p)),
        min_p=maybe(st.floats(*min_p)),
    )


# ----------------------------------------------------------------------------- assertions


def _range(name, pair, *, integer=False):
    """A closed range ``(low, high)`` with ``low <= high``: ValueError/TypeError naming ``name`` otherwise."""
    from ._validate import check_float, check_int

    if isinstance(pair, (str, bytes)) or not hasattr(pair, "__len__") or len(pair) != 2:
        raise TypeError(f"{name} must be a (low, high) pair, got {pair!r}")
    lo, hi = ((check_int if integer else check_float)(name, v) for v in pair)
    if lo > hi:
        raise ValueError(f"{name} must be a (low, high) range with low <= high, got {tuple(pair)!r}")
    return lo, hi


def _level(level):
    from ._validate import check_float

    return check_float("level", level, min=0.0, max=1.0, min_inclusive=False, max_inclusive=False)


def _columns(simulated) -> np.ndarray:
    x = np.asarray(simulated)
    if x.ndim == 0 or x.size == 0:
        raise ValueError(f"simulated must hold samples along axis 0, got shape {x.shape}")
    return x.reshape(x.shape[0], -1)


def consistency_pvalues(simulated, theory, *, test: str = "z", bounds=None) -> np.ndarray:
    """Raw two-sided p-values of "simulation = theory", one per column of ``simulated``.

    Parameters
    ----------
    simulated : array_like, shape (R,) or (R, k)
        Replicates along axis 0; each column is one comparison. For
        ``test="binomial"``, 0/1 (or bool) outcomes of an event.
    theory : float, array_like of shape (k,), callable or sequence of callables
        ``"z"``: the expected mean(s); ``"binomial"``: the event
        probability(ies); ``"ks"``: a cdf callable (one-sample test), a
        sequence of ``k`` cdfs, or a reference sample array of shape (n,)
        or (n, k) (two-sample test).
    test : {"z", "binomial", "ks"}
    bounds : (lo, hi), optional
        ``"z"`` only: an interval the statistic cannot leave. A column
        without spread (every replicate equal, e.g. every chain absorbed)
        then gets the exact bound test
        (:func:`collapse_theory._stats.constant_sample_test`) instead of a
        z-test, which cannot judge it (p = 0 unless the mean equals the
        theory to round-off).

    Returns
    -------
    ndarray, shape (k,)

    Raises
    ------
    ValueError
        On an unknown test, mismatched shapes or non-binary binomial data.

    Examples
    --------
    >>> consistency_pvalues(np.ones((5, 2)), [1.0, 1.0]).tolist()
    [1.0, 1.0]
    """
    from scipy import stats

    from ._validate import check_choice

    test = check_choice("test", test, TESTS)
    X = _columns(simulated)
    R, k = X.shape
    if test == "ks":
        if callable(theory):
            cdfs = [theory] * k
        elif isinstance(theory, (list, tuple)) and theory and all(callable(c) for c in theory):
            cdfs = list(theory)
        else:
            ref = _columns(theory)
            if ref.shape[1] not in (1, k):
                raise ValueError(f"theory: a reference sample needs 1 or {k} columns, got {ref.shape[1]}")
            return np.array([_stats.ks_test(X[:, j], ref[:, j if ref.shape[1] > 1 else 0]) for j in range(k)])
        if len(cdfs) != k:
            raise ValueError(f"theory: {len(cdfs)} cdfs for {k} columns of simulated")
        return np.array([float(stats.kstest(X[:, j].astype(np.float64), cdfs[j]).pvalue) for j in range(k)])
    th = np.asarray(theory, dtype=np.float64).ravel()
    if np.ndim(theory) > 1 or th.size not in (1, k):
        raise ValueError(f"theory must be a scalar or have one value per column of simulated ({k}), got shape {np.shape(theory)}")
    th = np.broadcast_to(th, (k,))
    if test == "z":
        X = X.astype(np.float64)
        p = np.atleast_1d(_stats.z_test(X, th))
        if bounds is not None:
            flat = np.all(X == X[:1], axis=0)
            for j in np.flatnonzero(flat):
                p[j] = _stats.constant_sample_test(X[0, j], th[j], R, bounds)
        return p
    B = X.astype(np.float64)
    if not np.all((B == 0) | (B == 1)):
        raise ValueError("simulated must hold 0/1 (or bool) outcomes for test='binomial'")
    if np.any((th < 0) | (th > 1)):
        raise ValueError(f"theory must hold probabilities in [0, 1] for test='binomial', got {th}")
    return np.array([_stats.proportion_test(int(B[:, j].sum()), R, float(th[j])) for j in range(k)])


def assert_pvalues(pvalues, *, level: float = LEVEL, correction: str = "holm", what: str = "") -> None:
    """Fail if any family-wise adjusted p-value is below ``level`` (or any p-value is NaN).

    Parameters
    ----------
    pvalues : array_like
        Raw p-values of one family (every comparison one test makes).
    level : float
        Family-wise significance level (default 1e-3).
    correction : {"holm", "bonferroni"}
        Both reject the family in exactly the same cases (the smallest
        adjusted p-value is ``m * min p`` for both); Holm's adjusted values
        are smaller for the other comparisons.
    what : str
        Named in the failure message.

    Raises
    ------
    AssertionError
        With the worst comparison's index, raw and adjusted p-value.

    Examples
    --------
    >>> assert_pvalues([0.3, 0.02, 0.9])
    >>> assert_pvalues([1e-6, 0.5], what="demo")
    Traceback (most recent call last):
    ...
    AssertionError: demo: simulation and theory disagree: adjusted p = 2e-06 < 0.001 (comparison 0 of 2, raw p = 1e-06, holm)
    """
    from ._validate import check_choice, check_pvalues

    level = _level(level)
    correction = check_choice("correction", correction, _stats.CORRECTIONS)
    p = np.atleast_1d(check_pvalues("pvalues", pvalues, allow_nan=True)).ravel()
    if p.size == 0:
        raise AssertionError(f"{what}: no p-values to test")
    if np.any(np.isnan(p)):
        raise AssertionError(f"{what}: NaN p-value in {p}")
    adj = _stats.adjust(p, correction)
    worst = int(np.argmin(adj))
    if not adj[worst] >= level:
        raise AssertionError(
            f"{what}: simulation and theory disagree: adjusted p = {adj[worst]:.3g} < {level:g} "
            f"(comparison {worst} of {p.size}, raw p = {p[worst]:.3g}, {correction})"
        )


def assert_consistent(
    simulated, theory, *, level: float = LEVEL, test: str = "z", correction: str = "holm", bounds=None, what: str = ""
) -> None:
    """Assert that simulation agrees with theory, Holm-corrected over the family of columns.

    ``test="z"`` compares the mean of each column with the expected value
    (CLT with the sample variance: use a few hundred replicates or more, and
    see :func:`collapse_theory._stats.z_testable` for heavy-tailed
    quantities); ``"binomial"`` compares an event frequency with its
    probability (exact test); ``"ks"`` compares a whole law (one-sample
    against a cdf, or two-sample against a reference sample). The family
    fails when any adjusted p-value is below ``level``: with a correct theory
    that happens with probability at most ``level``.

    Parameters
    ----------
    simulated, theory, test, bounds
        As in :func:`consistency_pvalues`.
    level : float
        Family-wise significance level (default 1e-3).
    correction : {"holm", "bonferroni"}
    what : str
        Named in the failure message.

    Raises
    ------
    AssertionError
        When the family is rejected.
    ValueError
        On bad input (see :func:`consistency_pvalues`).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.exponential(2.0, size=(4000, 3)) * [1, 2, 3]
    >>> assert_consistent(x, [2.0, 4.0, 6.0])                      # true means: passes
    >>> assert_consistent(x, [2.0, 4.0, 5.0], what="wrong mean")   # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    AssertionError: wrong mean: simulation and theory disagree: ...
    >>> from scipy import stats
    >>> assert_consistent(rng.standard_normal(2000), stats.norm.cdf, test="ks")
    """
    level = _level(level)
    p = consistency_pvalues(simulated, theory, test=test, bounds=bounds)
    assert_pvalues(p, level=level, correction=correction, what=what or f"{test}-test")


# ----------------------------------------------------------------------------- user checks


def compare(quantity: str, simulated, theory, *, params=None, test: str = "z", bounds=None):
    """One :class:`~collapse_theory.verify.Outcome` of a check: simulated samples against theory.

    Parameters
    ----------
    quantity : str
        What is compared (shown in the verify tables).
    simulated : array_like, shape (R,)
        Replicates (0/1 outcomes for ``test="binomial"``).
    theory : float or callable
        Expected mean, event probability, or (``"ks"``) a cdf or reference sample.
    params : dict, optional
        The grid point (JSON-able scalars).
    test : {"z", "binomial", "ks"}
    bounds : (lo, hi), optional
        See :func:`consistency_pvalues` (the outcome's test is then ``"bound"``
        when the sample has no spread).

    Returns
    -------
    collapse_theory.verify.Outcome

    Examples
    --------
    >>> o = compare("E X", np.ones(10), 1.0, params={"n": 10})
    >>> o.test, o.p_value, o.replicates
    ('z', 1.0, 10)
    """
    from .verify import Outcome

    x = np.ravel(np.asarray(simulated, dtype=np.float64))
    p = float(consistency_pvalues(x, theory, test=test, bounds=bounds)[0])
    th = float(theory) if test in ("z", "binomial") else math.nan
    kind = "bound" if test == "z" and bounds is not None and np.all(x == x[0]) else test
    return Outcome(quantity, dict(params or {}), p, float(x.mean()) if test != "ks" else math.nan, th, kind, int(x.size))


def register_check(name: str, func=None, *, description: str = "", source: str = "", requires=(), replace: bool = False):
    """Add a user's check ``func(level, rng) -> list of Outcome`` to :mod:`collapse_theory.verify`.

    Usable as ``register_check("mine.x", func, ...)`` or as a decorator
    ``@register_check("mine.x", ...)``. The check is then run by
    ``verify.run(checks=[name])``, in the whole verify run, and (when it is
    declared under the ``collapse_theory.checks`` entry-point group of an
    installed package) by ``collapse-theory verify --check NAME``.

    Parameters
    ----------
    name : str
        Unique name, by convention ``"family.quantity"``.
    func : callable, optional
        ``func(level, rng)``: ``level`` is ``"quick"`` or ``"full"`` (choose
        the replicate count with it), ``rng`` a Generator derived from the
        run's seed and ``name``; returns a list of outcomes, e.g. from
        :func:`compare`.
    description, source : str
        Shown in the verify summary and report (default: the first line of
        ``func``'s docstring).
    requires : tuple of str
        Modules the check imports; if one is missing the check is skipped.
    replace : bool
        Allow replacing a registered check of the same name.

    Returns
    -------
    callable
        ``func`` (or the decorator).

    Raises
    ------
    ValueError
        If ``name`` is already registered and ``replace`` is False, or empty.
    TypeError
        If ``func`` is not callable.

    Examples
    --------
    >>> from collapse_theory import verify
    >>> def check(level, rng):
    ...     x = rng.standard_normal(1000)
    ...     return [compare("E X", x, 0.0)]
    >>> _ = register_check("demo.mean", check, description="mean of N(0, 1)")
    >>> verify.run(checks=["demo.mean"], show_progress=False).passed
    True
    >>> verify.unregister("demo.mean")
    """
    from . import verify

    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"register_check: name must be a non-empty string, got {name!r}")

    def deco(f):
        if not callable(f):
            raise TypeError(f"register_check: func must be callable (level, rng) -> list of Outcome, got {type(f).__name__}")
        if name in verify.CHECKS and not replace:
            raise ValueError(f"register_check: a check named {name!r} is already registered (pass replace=True)")
        desc = description or ((f.__doc__ or "").strip().splitlines() or [name])[0]
        return verify.register(name, description=desc, source=source, requires=tuple(requires))(f)

    return deco if func is None else deco(func)
