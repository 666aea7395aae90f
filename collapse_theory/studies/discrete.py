"""Studies of the discrete collapse chain: simulation and exact theory in one result.

* :func:`absorption`: absorption time (mean, variance, distribution) and
  fixation frequencies against the exact fundamental-matrix results and the
  diffusion approximation;
* :func:`tail_loss`: how many states survive, and how much of ``p0``'s mass
  they carry, against the exact expected support;
* :func:`heterozygosity`: decay :math:`H_0 (1 - 1/M)^t` under replacement, the
  exact recursion and stationary value with fresh data, and accumulation.

Every function takes JSON-able keyword parameters (a sweep calls
``ct.studies.NAME(**cell, replicates=R, rng=seed)``): ``p0`` is an array, or
``"uniform"`` / ``"zipf"`` with ``K`` (and ``exponent``), or omitted with
``K`` given (uniform). ``mixing`` is anything
:meth:`Mixing.from_spec <collapse_theory.Mixing.from_spec>` reads: a
:class:`~collapse_theory.Mixing`, a spec string (``"fresh:0.1"``,
``"accumulate"``, ``"mixture:0.6,0.3,0.1"``) or a dict of Mixing fields; the
discrete studies accept the workflows in :data:`MIXING_WORKFLOWS` (``tail_loss``: every workflow). Formulas:
:mod:`collapse_theory.theory.discrete`.
"""

from __future__ import annotations

import time

import numpy as np

from .._stats import mean_ci, proportion_test, z_test
from .._validate import check_choice, check_float, check_int, check_probability_vector
from ..process import WORKFLOWS, check_mixing
from ._base import StudyResult, band as _band, checkpoints as _checkpoints, finish, generation_rows, make_row
from ._base import seed_of as _seed_of  # noqa: F401  (studies.gaussian imports it from here until it switches to _base)

__all__ = ["absorption", "tail_loss", "heterozygosity", "resolve_p0", "MIXING_WORKFLOWS", "english_words"]


def resolve_p0(p0=None, K=None, exponent: float = 1.1) -> np.ndarray:
    """The initial distribution from a study's parameters.

    Parameters
    ----------
    p0 : array_like, shape (K,), {'uniform', 'zipf', 'english-words'} or None
        None means uniform over ``K`` states; 'english-words' is the relative
        frequency of the ``K`` most frequent English words of the ``wordfreq``
        package (:func:`english_words`; extra ``[words]``), a real Zipf-like law.
    K : int, optional
        Number of states for 'uniform' / 'zipf' / 'english-words' / None.
    exponent : float
        Zipf exponent ``s``: :math:`p_{0,k} \\propto k^{-s}`, ``k = 1..K``.

    Returns
    -------
    ndarray, shape (K,)

    Raises
    ------
    ValueError
        If ``p0`` is not a probability vector or a known name, ``K`` is
        missing or disagrees with ``p0``, or ``exponent < 0``.

    Examples
    --------
    >>> resolve_p0(K=4).tolist()
    [0.25, 0.25, 0.25, 0.25]
    >>> resolve_p0("zipf", K=3, exponent=1.0).round(4).tolist()
    [0.5455, 0.2727, 0.1818]
    """
    if p0 is None or isinstance(p0, str):
        kind = check_choice("p0", "uniform" if p0 is None else p0, ("uniform", "zipf", "english-words"))
        if K is None:
            raise ValueError(f"p0={kind!r} needs K (the number of states)")
        K = check_int("K", K, min=1)
        if kind == "uniform":
            return np.full(K, 1.0 / K)
        if kind == "english-words":
            return english_words(K)[1]
        s = check_float("exponent", exponent, min=0.0)
        w = np.arange(1, K + 1, dtype=np.float64) ** -s
        return w / w.sum()
    p = check_probability_vector("p0", p0)
    if K is not None and check_int("K", K, min=1) != p.size:
        raise ValueError(f"K = {K} does not match the length of p0 ({p.size})")
    return p


#: Workflows the discrete studies (and the discrete chain's theory) accept.
MIXING_WORKFLOWS = ("replace", "fresh", "mixture", "accumulate")


def english_words(K: int) -> tuple:
    """The ``K`` most frequent English words and their renormalised frequencies (``wordfreq``, no download).

    Frequencies are those of ``wordfreq.word_frequency(word, "en")`` for the
    words of ``wordfreq.top_n_list("en", K)`` (the package's "best" list,
    frequencies rounded to about three significant figures, so the tail has
    ties), divided by their sum. Needs the ``wordfreq`` package (extra
    ``[words]``); its data ship inside its wheel.

    Returns
    -------
    (list of str, ndarray shape (K,))

    Raises
    ------
    ImportError
        wordfreq is not installed.
    ValueError
        ``K`` exceeds the number of words wordfreq lists.
    """
    K = check_int("K", K, min=1)
    try:
        import wordfreq
    except ImportError:
        raise ImportError("p0='english-words' needs the wordfreq package: pip install collapse_theory[words]") from None
    words = wordfreq.top_n_list("en", K)
    if len(words) < K:
        raise ValueError(f"K = {K}: wordfreq lists only {len(words)} English words")
    f = np.array([wordfreq.word_frequency(w, "en") for w in words], dtype=np.float64)
    if not np.all(np.isfinite(f)) or np.any(f <= 0):
        raise ValueError("wordfreq returned a non-positive or non-finite frequency")
    return list(words), f / f.sum()


def _p0_param(p0, p) -> object:
    """How a study records ``p0``: the name (or None) it was given, else the vector."""
    return p0 if isinstance(p0, str) or p0 is None else p.tolist()


def _generational_run(where, p0, K, exponent, M, generations, replicates, mixing, rng, record, show_progress,
                      accepted=MIXING_WORKFLOWS):
    """Check a generational study's parameters and run its chain.

    Returns ``(p, mix, run, params)``: the initial distribution, the Mixing
    (one of ``accepted``), the :class:`DiscreteRun` and the
    parameters every such study records.
    """
    from ..chains.discrete import DiscreteChain

    p = resolve_p0(p0, K, exponent)
    M = check_int("M", M, min=1)
    G = check_int("generations", generations, min=1)
    R = check_int("replicates", replicates, min=1)
    mix = check_mixing(mixing, accepted, where=f"studies.{where}")
    run = DiscreteChain(p, sample_size=M, mixing=mix).simulate(G, R, rng=rng, record=record, show_progress=show_progress)
    params = {"p0": _p0_param(p0, p), "K": int(p.size), "exponent": exponent, "M": M, "generations": G,
              "replicates": R, "mixing": mix.to_dict()}
    return p, mix, run, params


# ----------------------------------------------------------------------------- absorption


def absorption(
    p0=None,
    M: int = 100,
    *,
    K: int | None = None,
    exponent: float = 1.1,
    replicates: int = 1000,
    rng=None,
    max_generations: int | None = None,
    show_progress: bool = False,
) -> StudyResult:
    """Absorption time and fixation frequencies of the replace chain against exact theory.

    Table rows: mean and variance of the absorption time ``T`` against the
    exact values (fundamental matrix, ``M <= EXACT_MAX_M``; the diffusion
    value otherwise, marked), the diffusion mean for comparison (no p-value:
    it is biased by about two generations), and the fixation frequency of the
    (up to) five most likely states against ``p0_i`` (exact binomial test).
    The variance is tested as the mean of :math:`(T - E T)^2` with the exact
    :math:`E T`. Censored replicates (not absorbed by ``max_generations``)
    are counted in a row and left out of the time statistics.

    Parameters
    ----------
    p0 : array_like, shape (K,), 'uniform', 'zipf' or None
    M : int
    K, exponent : see :func:`resolve_p0`
    replicates : int
    rng : None, int, SeedSequence or Generator
    max_generations : int, optional
    show_progress : bool

    Returns
    -------
    StudyResult
        ``curves``: ``generation`` (t grid), ``survival_simulated`` and
        ``survival_theory`` (:math:`P(T > t)`), ``p0``, ``fixation_simulated``,
        ``time`` (the simulated absorption times).

    Raises
    ------
    ValueError
        On invalid ``p0``, ``M``, ``replicates`` or ``max_generations``
        (messages name the parameter).

    References
    ----------
    Kemeny & Snell (1960), *Finite Markov Chains* (fundamental matrix);
    Kimura & Ohta (1969), Genetics 61, 763 (diffusion mean); formulas in
    :func:`collapse_theory.theory.discrete.absorption_time`.

    Examples
    --------
    >>> res = absorption([0.5, 0.5], 10, replicates=200, rng=0)
    >>> res.table()["quantity"].iloc[0]
    'mean absorption time (exact)'
    >>> res.passed()
    True
    """
    from ..chains.discrete import DiscreteChain
    from ..theory import discrete as th

    t0 = time.perf_counter()
    p = resolve_p0(p0, K, exponent)
    M = check_int("M", M, min=1)
    R = check_int("replicates", replicates, min=1)
    chain = DiscreteChain(p, sample_size=M)
    ab = chain.absorb(R, max_generations, rng=rng, show_progress=show_progress)
    ok = ~ab.censored
    T = ab.time[ok].astype(np.float64)
    exact = M <= th.EXACT_MAX_M
    theory = th.absorption_time(p, M, "exact" if exact else "diffusion")
    diff = th.absorption_time(p, M, "diffusion")
    tag = "exact" if exact else "diffusion"
    rows = []
    if T.size >= 2:
        m, lo, hi, _ = mean_ci(T)
        rows.append(make_row(f"mean absorption time ({tag})", m, lo, hi, theory.mean, z_test(T, theory.mean) if exact else np.nan))
        d2 = (T - theory.mean) ** 2
        m2, lo2, hi2, _ = mean_ci(d2)
        rows.append(make_row(f"variance of absorption time ({tag})", m2, lo2, hi2, theory.variance, z_test(d2, theory.variance) if exact else np.nan))
        rows.append(make_row("mean absorption time (diffusion approximation)", m, lo, hi, diff.mean))
    rows.append(make_row("censored replicates", int(ab.censored.sum()), theory=0.0))
    fix = np.bincount(ab.state[ok], minlength=p.size) if ok.any() else np.zeros(p.size, dtype=np.int64)
    n_ok = int(ok.sum())
    for i in np.argsort(-p, kind="stable")[: min(5, p.size)]:
        k = int(fix[i])
        if n_ok:
            frac = k / n_ok
            se = np.sqrt(max(frac * (1 - frac), 1e-300) / n_ok)
            rows.append(make_row(f"fixation frequency, state {i}", frac, frac - 1.96 * se, frac + 1.96 * se, p[i], proportion_test(k, n_ok, p[i])))
    tmax = int(ab.time.max()) if ab.time.size else 0
    grid = np.unique(np.linspace(0, tmax, num=min(tmax + 1, 400)).round().astype(np.int64))
    surv_sim = (ab.time[:, None] > grid[None, :]).mean(axis=0)
    surv_th = 1.0 - th.absorption_time_cdf(p, M, grid) if exact else np.full(grid.size, np.nan)
    curves = {
        "generation": grid,
        "survival_simulated": surv_sim,
        "survival_theory": surv_th,
        "p0": p,
        "fixation_simulated": fix / max(n_ok, 1),
        "time": ab.time,
        "mean_theory": np.asarray(theory.mean),
        "mean_diffusion": np.asarray(diff.mean),
    }
    params = {"p0": _p0_param(p0, p), "K": int(p.size), "exponent": exponent,
              "M": M, "replicates": R, "max_generations": ab.max_generations}
    return finish("absorption", rows, curves, params, rng, t0, _plot_absorption)


def _plot_absorption(res: StudyResult):
    from ..plotting import SIM_COLOR, THEORY_COLOR, new_figure

    c = res.curves
    fig, (a1, a2) = new_figure(1, 2)
    a1.step(c["generation"], c["survival_simulated"], where="post", color=SIM_COLOR, label="simulated")
    if np.all(np.isfinite(c["survival_theory"])):
        a1.plot(c["generation"], c["survival_theory"], color=THEORY_COLOR, ls="--", label="exact")
    a1.axvline(c["mean_theory"], color=THEORY_COLOR, lw=0.8, ls=":", label="E T")
    a1.axvline(c["mean_diffusion"], color="gray", lw=0.8, ls=":", label="diffusion E T")
    a1.set(xlabel="generation t", ylabel="P(T > t)", title=f"absorption, K={res.params['K']}, M={res.params['M']}")
    a1.legend(fontsize=8)
    p, f = c["p0"], c["fixation_simulated"]
    n = max(1, int(res.params["replicates"]))
    show = np.argsort(-p, kind="stable")[:50]
    a2.errorbar(p[show], f[show], yerr=1.96 * np.sqrt(p[show] * (1 - p[show]) / n), fmt="o", ms=3, color=SIM_COLOR, label="simulated")
    lim = [0, max(p.max(), f.max()) * 1.05]
    a2.plot(lim, lim, color=THEORY_COLOR, ls="--", label="theory: P(fix) = p0")
    a2.set(xlabel="p0_i", ylabel="fixation frequency", title="fixation")
    a2.legend(fontsize=8)
    return fig


# ----------------------------------------------------------------------------- tail loss


def tail_loss(
    p0=None,
    M: int = 1000,
    *,
    K: int | None = None,
    exponent: float = 1.1,
    generations: int = 100,
    replicates: int = 200,
    rng=None,
    mixing=None,
    checkpoints=None,
    show_progress: bool = False,
) -> StudyResult:
    """Loss of the tails: surviving states and the original mass they carry.

    Under replacement each state's count is a two-type binomial chain, so the
    expected support :math:`\\sum_i P(X_i(t) > 0)` and the expected alive mass
    :math:`\\sum_i p_{0,i} P(X_i(t) > 0)` are exact
    (:func:`~collapse_theory.theory.discrete.expected_support`). Every other
    workflow of :data:`~collapse_theory.process.WORKFLOWS` (fresh, mixture,
    accumulate, accumulate-subsample, augment) is simulated only (theory NaN).

    Parameters
    ----------
    p0 : array_like, 'uniform', 'zipf' or None (default Zipf when K is given)
    M, generations, replicates : int
    K, exponent : see :func:`resolve_p0`
    rng : None, int, SeedSequence or Generator
    mixing : Mixing, spec string or dict, optional
        Where each generation's data come from (default replace); any workflow
        of :data:`~collapse_theory.process.WORKFLOWS`, parsed by
        :meth:`~collapse_theory.Mixing.from_spec` (a fresh share is part of the
        spec: ``"fresh:0.1"``, ``"accumulate:0.1"``).
    checkpoints : sequence of int, optional
        Generations tabulated (default 1, G/10, G/2, G).

    Returns
    -------
    StudyResult
        ``curves``: ``generation``, ``support_mean/low/high``, ``support_theory``,
        ``alive_mass_mean/low/high``, ``alive_mass_theory``.

    Raises
    ------
    ValueError
        On invalid parameters, or a ``mixing`` that is not a workflow.
    TypeError
        An unknown keyword, e.g. the removed ``real=`` (say ``mixing="fresh:0.1"``).

    Examples
    --------
    >>> res = tail_loss(K=50, M=40, generations=5, replicates=50, rng=0)
    >>> res.curves["support_theory"].shape, res.passed()
    ((6,), True)
    """
    from ..theory import discrete as th

    t0 = time.perf_counter()
    if p0 is None and K is not None:
        p0 = "zipf"
    p, mix, run, params = _generational_run("tail_loss", p0, K, exponent, M, generations, replicates, mixing, rng,
                                            ("support", "alive_mass"), show_progress, WORKFLOWS)
    M, G = params["M"], params["generations"]
    gens = np.arange(G + 1)
    if mix.workflow == "replace":
        alive = 1.0 - th.extinction_probability(p, M, gens)  # (K, G + 1)
        sup_th = alive.sum(axis=0)  # = th.expected_support(p, M, gens)
        mass_th = p @ alive  # = th.expected_alive_mass(p, M, gens)
    else:
        sup_th = mass_th = None
    pts = _checkpoints(G, checkpoints)
    rows = generation_rows("expected support", run.support.astype(np.float64), sup_th, pts)
    rows += generation_rows("expected alive mass", run.alive_mass, mass_th, pts)
    sb, mb = _band(run.support.astype(np.float64)), _band(run.alive_mass)
    nan = np.full(G + 1, np.nan)
    curves = {
        "generation": gens,
        "support_mean": sb["mean"], "support_low": sb["low"], "support_high": sb["high"],
        "support_theory": nan if sup_th is None else sup_th,
        "alive_mass_mean": mb["mean"], "alive_mass_low": mb["low"], "alive_mass_high": mb["high"],
        "alive_mass_theory": nan if mass_th is None else mass_th,
    }
    params["checkpoints"] = pts
    return finish("tail_loss", rows, curves, params, rng, t0, _plot_tail_loss)


def _plot_tail_loss(res: StudyResult):
    from ..plotting import THEORY_COLOR, band, new_figure

    c = res.curves
    fig, (a1, a2) = new_figure(1, 2)
    g = c["generation"]
    band(a1, g, c["support_mean"], c["support_low"], c["support_high"], label="simulated")
    band(a2, g, c["alive_mass_mean"], c["alive_mass_low"], c["alive_mass_high"], label="simulated")
    if np.all(np.isfinite(c["support_theory"])):
        a1.plot(g, c["support_theory"], color=THEORY_COLOR, ls="--", label="exact")
        a2.plot(g, c["alive_mass_theory"], color=THEORY_COLOR, ls="--", label="exact")
    a1.set(xlabel="generation t", ylabel="states alive", yscale="log",
           title=f"support, K={res.params['K']}, M={res.params['M']}")
    a2.set(xlabel="generation t", ylabel="p0-mass of surviving states", title="tail mass kept")
    a1.legend(fontsize=8)
    a2.legend(fontsize=8)
    return fig


# ----------------------------------------------------------------------------- heterozygosity


def heterozygosity(
    p0=None,
    M: int = 100,
    *,
    K: int | None = None,
    exponent: float = 1.1,
    generations: int = 100,
    replicates: int = 500,
    rng=None,
    mixing=None,
    checkpoints=None,
    show_progress: bool = False,
) -> StudyResult:
    """Heterozygosity :math:`1 - \\sum_i p_i^2` against its exact expectation.

    Replace: :math:`H_0 (1 - 1/M)^t`; fresh data and mixtures: the exact
    recursion and its stationary value; accumulate: the exact pooled
    recursion (:func:`~collapse_theory.theory.discrete.heterozygosity`).
    With a stationary value, one more row compares each replicate's average
    over generations ``G/2..G`` with the exact average of :math:`E H_t` there.

    Parameters
    ----------
    p0 : array_like, 'uniform', 'zipf' or None (uniform over K)
    M, generations, replicates : int
    K, exponent : see :func:`resolve_p0`
    rng : None, int, SeedSequence or Generator
    mixing : Mixing, spec string or dict, optional
        Where each generation's data come from (default replace); one of
        :data:`MIXING_WORKFLOWS`, parsed by :meth:`~collapse_theory.Mixing.from_spec`
        (a fresh share is part of the spec: ``"fresh:0.1"``, ``"accumulate:0.1"``).
    checkpoints : sequence of int, optional

    Returns
    -------
    StudyResult
        ``curves``: ``generation``, ``mean``, ``low``, ``high``, ``theory``, ``stationary``.

    Raises
    ------
    ValueError
        On invalid parameters, or a ``mixing`` outside :data:`MIXING_WORKFLOWS`.
    TypeError
        An unknown keyword, e.g. the removed ``real=`` (say ``mixing="fresh:0.1"``).

    Examples
    --------
    >>> res = heterozygosity(K=3, M=20, generations=10, replicates=200, rng=0, mixing="fresh:0.2")
    >>> res.params["mixing"]["workflow"], res.passed()
    ('fresh', True)
    """
    from ..theory import discrete as th

    t0 = time.perf_counter()
    p, mix, run, params = _generational_run("heterozygosity", p0, K, exponent, M, generations, replicates, mixing,
                                            rng, ("heterozygosity",), show_progress)
    M, G = params["M"], params["generations"]
    gens = np.arange(G + 1)
    theory = th.heterozygosity(p, M, gens, mixing=mix)
    rows = generation_rows("E heterozygosity", run.heterozygosity, theory, _checkpoints(G, checkpoints))
    stationary = np.nan
    if not mix.pooled:
        stationary = th.stationary_heterozygosity(p, M, mixing=mix)
        if mix.workflow != "replace":
            late = slice(max(1, G // 2), G + 1)
            avg = run.heterozygosity[:, late].mean(axis=1)
            m, lo, hi, _ = mean_ci(avg)
            target = float(theory[late].mean())
            rows.append(make_row(f"mean heterozygosity over generations {late.start}..{G}", m, lo, hi, target, z_test(avg, target)))
            rows.append(make_row("stationary heterozygosity (limit)", m, lo, hi, stationary))
    b = _band(run.heterozygosity)
    curves = {"generation": gens, "mean": b["mean"], "low": b["low"], "high": b["high"], "theory": theory, "stationary": np.asarray(stationary)}
    return finish("heterozygosity", rows, curves, params, rng, t0, _plot_heterozygosity)


def _plot_heterozygosity(res: StudyResult):
    from ..plotting import THEORY_COLOR, band, new_figure

    c = res.curves
    fig, ax = new_figure(1, 1)
    band(ax, c["generation"], c["mean"], c["low"], c["high"], label="simulated")
    ax.plot(c["generation"], c["theory"], color=THEORY_COLOR, ls="--", label="exact E H_t")
    if np.isfinite(c["stationary"]) and c["stationary"] > 0:
        ax.axhline(c["stationary"], color="gray", ls=":", label="stationary")
    mix = res.params["mixing"]
    ax.set(xlabel="generation t", ylabel="heterozygosity 1 - sum p^2",
           title=f"{mix['workflow']} (real={mix['real']:g}), K={res.params['K']}, M={res.params['M']}")
    ax.legend(fontsize=8)
    return fig
