"""Study of the discrete chain under samplers and curation: simulation with CI beside exact theory.

:func:`sampling_curation` runs the chain under each sampler of a set (by
default pure resampling, temperature 0.7 and 1.3, top-k, top-p 0.9 and 0.95,
best-of-4 Bradley–Terry curation) and sets support, tail mass kept and
entropy per generation beside theory: exact finite-``M`` values where they
exist (pure resampling and top-k at every generation; every sampler at
generation 1), and the infinite-population map (``M = infinity``) otherwise,
as a reference line without a test. The curated chain's expected reward
comes with its infinite-population map (Ferbach et al. 2024: it increases
every generation). Formulas: :mod:`collapse_theory.theory.sampling`.

:func:`lm_record` reads and validates the language-model section's record
(``report/data/lm.json``): data, not code.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from .._provenance import provenance
from .._stats import mean_ci, z_test
from .._validate import check_instance, check_int, check_path
from ..process import check_mixing
from ..sampling import BestOfK, Sampler
from ._base import StudyResult, make_row
from ._base import seed_of as _seed_of
from .discrete import resolve_p0

__all__ = [
    "SAMPLING_WORKFLOWS", "default_reward", "default_samplers", "lm_comparison", "lm_record", "lm_sampler",
    "sampling_curation",
]

#: Workflows the sampled chain runs (exact theory rows: replace).
SAMPLING_WORKFLOWS = ("replace", "fresh", "accumulate", "accumulate-subsample", "augment")

#: The statistics of the figure, in panel order.
STATISTICS = ("support", "alive_mass", "entropy")


def default_reward(K: int) -> np.ndarray:
    """The study's reward: i.i.d. standard normal per state from a fixed seed (``default_rng(0)``), shape (K,).

    Fixed across study seeds, so the reward is part of the setting; it is not
    tied to the states' frequencies.
    """
    return np.random.default_rng(0).standard_normal(check_int("K", K, min=1))


def default_samplers(K: int, *, top_k: int | None = None, curation_k: int = 4) -> dict:
    """The samplers of the report's figure, by label (``top_k`` defaults to ``K // 10``)."""
    K = check_int("K", K, min=1)
    curation_k = check_int("curation_k", curation_k, min=1)
    k = max(1, K // 10) if top_k is None else check_int("top_k", top_k, min=1)
    return {
        "pure resampling": Sampler(),
        "temperature 0.7": Sampler(temperature=0.7),
        "temperature 1.3": Sampler(temperature=1.3),
        f"top-k {k}": Sampler(top_k=k),
        "top-p 0.9": Sampler(top_p=0.9),
        "top-p 0.95": Sampler(top_p=0.95),
        f"best-of-{curation_k} (Bradley-Terry)": Sampler(curation=BestOfK(default_reward(K), k=curation_k)),
    }


def _entropy(p):
    q = p[p > 0]
    return float(-np.sum(q * np.log(q)))


def _theory(p, M, G, smp: Sampler) -> dict:
    """Per statistic: exact finite-M curve (NaN where none) and the infinite-population curve."""
    from ..theory import discrete as thd
    from ..theory import sampling as ths

    gens = np.arange(G + 1)
    exact = {s: np.full(G + 1, np.nan) for s in (*STATISTICS, "reward")}
    if smp.is_identity:
        alive = 1.0 - thd.extinction_probability(p, M, gens)
        exact["support"] = alive.sum(axis=0)
        exact["alive_mass"] = p @ alive
    elif smp.top_k is not None and smp.tau == 1.0 and not (smp.top_p or smp.min_p or smp.curation):
        fx = ths.fixed_truncation(p, M, gens, smp)
        exact["support"], exact["alive_mass"] = fx["support"], fx["alive_mass"]
    if G >= 1:
        f1 = ths.first_generation(p, M, smp)
        exact["support"][1] = f1["support"]
        exact["alive_mass"][1] = f1["alive_mass"]
        if isinstance(smp.curation, BestOfK):
            exact["reward"][1] = float(f1["law"] @ smp.curation.reward)  # E of the empirical mean is the law's mean
    exact["support"][0] = np.count_nonzero(p)
    exact["alive_mass"][0] = 1.0
    exact["entropy"][0] = _entropy(p)
    chain = ths.infinite_population(p, smp, G)
    inf = {
        "support": (chain > 0).sum(axis=1).astype(float),
        "alive_mass": (chain > 0) @ p,
        "entropy": np.array([_entropy(q) for q in chain]),
        "reward": chain @ smp.curation.reward if isinstance(smp.curation, BestOfK) else np.full(G + 1, np.nan),
    }
    if isinstance(smp.curation, BestOfK):
        exact["reward"][0] = float(p @ smp.curation.reward)
    return {"exact": exact, "infinite": inf}


def sampling_curation(
    p0=None,
    M: int = 1000,
    *,
    K: int | None = 1000,
    exponent: float = 1.1,
    generations: int = 20,
    replicates: int = 200,
    samplers: dict | None = None,
    top_k: int | None = None,
    mixing=None,
    rng=None,
    checkpoints=None,
    show_progress: bool = False,
) -> StudyResult:
    """Support, tail mass kept and entropy per generation under each sampler, simulation beside theory.

    Parameters
    ----------
    p0 : array_like, 'zipf', 'uniform', 'english-words' or None (Zipf with ``K``)
    M : int
        Samples per generation.
    K, exponent : see :func:`~collapse_theory.studies.discrete.resolve_p0`
    generations, replicates : int
    samplers : dict of str to Sampler, optional
        Default :func:`default_samplers`.
    top_k : int, optional
        The default set's top-k (``K // 10``).
    mixing : Mixing or spec, optional
        Default replace; exact theory rows are computed for replace only.
    rng : None, int, SeedSequence or Generator
        Each sampler's chain gets its own stream (``child(rng, i)``).
    checkpoints : sequence of int, optional
        Generations tabulated (default 1, G/4, G/2, G).

    Returns
    -------
    StudyResult
        Rows per sampler and checkpoint (theory and p-value where exact:
        pure resampling and top-k throughout, every sampler at generation 1);
        ``curves[label]`` holds ``STAT_mean/low/high``, ``STAT_exact`` and
        ``STAT_infinite`` for ``STAT`` in support, alive_mass, entropy (and
        reward for a best-of-K curation).

    Examples
    --------
    >>> import collapse_theory as ct
    >>> res = ct.studies.sampling_curation(K=50, M=50, generations=3, replicates=10, rng=0)  # doctest: +SKIP
    >>> sorted(res.curves)[:2]  # doctest: +SKIP
    ['best-of-4 (Bradley-Terry)', 'generation']
    """
    from .._rng import child, seed_sequence
    from ..chains.discrete import DiscreteChain

    t0 = time.perf_counter()
    M = check_int("M", M, min=1)
    if p0 is None:
        p0 = "zipf"
    p = resolve_p0(p0, K, exponent)
    G = check_int("generations", generations, min=1)
    R = check_int("replicates", replicates, min=2)
    mix = check_mixing(mixing, SAMPLING_WORKFLOWS, where="sampling_curation")
    smps = default_samplers(p.size, top_k=top_k) if samplers is None else dict(samplers)
    for label, smp in smps.items():
        if not isinstance(smp, Sampler):
            raise TypeError(f"samplers[{label!r}] must be a collapse_theory.Sampler, got {type(smp).__name__}")
    pts = sorted({1, max(1, G // 4), max(1, G // 2), G} if checkpoints is None else {check_int("checkpoints", int(c), min=1, max=G) for c in checkpoints})
    ss = seed_sequence(rng)
    rows, curves = [], {"generation": np.arange(G + 1)}
    summary = {}
    for i, (label, smp) in enumerate(smps.items()):
        rec = STATISTICS + (("reward",) if isinstance(smp.curation, BestOfK) else ())
        run = DiscreteChain(p, sample_size=M, mixing=mix, sampler=smp).simulate(
            G, R, rng=child(ss, i), record=rec, show_progress=show_progress
        )
        th = _theory(p, M, G, smp) if mix.workflow == "replace" else None
        c = {}
        for stat in rec:
            x = getattr(run, stat).astype(np.float64)
            m, lo, hi, _ = mean_ci(x)
            c[f"{stat}_mean"], c[f"{stat}_low"], c[f"{stat}_high"] = m, lo, hi
            c[f"{stat}_exact"] = th["exact"][stat] if th else np.full(G + 1, np.nan)
            c[f"{stat}_infinite"] = th["infinite"][stat] if th else np.full(G + 1, np.nan)
            for t in pts:
                e = float(c[f"{stat}_exact"][t])
                pv = np.nan
                if np.isfinite(e):
                    pv = 1.0 if np.ptp(x[:, t]) == 0 and abs(x[0, t] - e) < 1e-9 else z_test(x[:, t], e)
                ref = e if np.isfinite(e) else float(c[f"{stat}_infinite"][t])
                tag = "exact" if np.isfinite(e) else ("M = infinity, no test" if th else "simulation only")
                rows.append(make_row(f"{label}: {stat}, generation {t} ({tag})", m[t], lo[t], hi[t], ref, pv))
        curves[label] = c
        summary[label] = {
            "support_simulated": float(c["support_mean"][G]),
            "support_ci": [float(c["support_low"][G]), float(c["support_high"][G])],
            "support_exact": float(c["support_exact"][G]),
            "support_infinite_population": float(c["support_infinite"][G]),
            "sampler": smp.to_dict() if smp.curation is None else {**smp.to_dict(), "curation": {"kind": "best-of-k", "k": smp.curation.k, "choice": smp.curation.choice, "reward": "default_reward(K)"}},
        }
    params = {"p0": p0 if isinstance(p0, str) else p.tolist(), "K": int(p.size), "exponent": exponent, "M": M,
              "generations": G, "replicates": R, "mixing": mix.to_dict(), "samplers": list(smps), "checkpoints": pts,
              "summary": summary}
    return StudyResult(
        name="sampling_curation",
        rows=rows,
        curves=curves,
        params=params,
        provenance=provenance({k: v for k, v in params.items() if k != "summary"}, seed=_seed_of(rng), wall_time_s=time.perf_counter() - t0),
        plot=_plot,
    )


def _plot(res: StudyResult):
    from ..plotting import new_figure

    c = res.curves
    g = c["generation"]
    labels = [k for k in c if k != "generation"]
    fig, axes = new_figure(1, 3, width=4.2, height=3.6)
    colors = {lab: f"C{i}" for i, lab in enumerate(labels)}
    names = {"support": "states alive", "alive_mass": "p0-mass of surviving states", "entropy": "entropy (nats)"}
    for ax, stat in zip(axes, STATISTICS):
        for lab in labels:
            d = c[lab]
            col = colors[lab]
            ax.plot(g, d[f"{stat}_mean"], color=col, lw=1.3, label=lab)
            ax.fill_between(g, d[f"{stat}_low"], d[f"{stat}_high"], color=col, alpha=0.2, lw=0)
            ex = d[f"{stat}_exact"]
            if np.isfinite(ex[2:]).any():
                ax.plot(g, ex, color=col, ls="--", lw=0.9)
            else:
                ok = np.isfinite(ex)
                ax.plot(g[ok], ex[ok], "x", color=col, ms=5)
            ax.plot(g, d[f"{stat}_infinite"], color=col, ls=":", lw=0.9)
        ax.set(xlabel="generation t", ylabel=names[stat])
        if stat == "support":
            ax.set_yscale("log")
    p0 = res.params["p0"]
    law = {"zipf": f"Zipf({res.params['exponent']:g})", "english-words": "English words", "uniform": "uniform"}.get(p0, "p0") if isinstance(p0, str) else "p0"
    axes[0].set_title(f"support, {law}, K={res.params['K']}, M={res.params['M']}")
    axes[1].set_title("tail mass kept")
    axes[2].set_title("entropy")
    axes[0].legend(fontsize=6, loc="lower left")
    axes[2].text(0.98, 0.98, "solid: simulated (95% CI)\ndashed/x: exact finite M\ndotted: M = infinity",
                 transform=axes[2].transAxes, ha="right", va="top", fontsize=6)
    return fig


def reward_figure(res: StudyResult):
    """Expected reward per generation of the curated chains: simulation with CI beside the infinite-population map."""
    from ..plotting import SIM_COLOR, THEORY_COLOR, band, new_figure

    fig, ax = new_figure(1, 1)
    g = res.curves["generation"]
    for lab, d in res.curves.items():
        if lab == "generation" or "reward_mean" not in d:
            continue
        band(ax, g, d["reward_mean"], d["reward_low"], d["reward_high"], label=f"{lab}: simulated", color=SIM_COLOR)
        ax.plot(g, d["reward_infinite"], color=THEORY_COLOR, ls="--", label="M = infinity (Ferbach et al. map)")
        ok = np.isfinite(d["reward_exact"])
        ax.plot(g[ok], d["reward_exact"][ok], "x", color="k", label="exact, generations 0-1")
    ax.set(xlabel="generation t", ylabel="expected reward E_p_t[r]",
           title=f"curated chain, K={res.params['K']}, M={res.params['M']}")
    ax.legend(fontsize=7)
    return fig


# ----------------------------------------------------------------------------- the LM section's record


def lm_record(path) -> tuple:
    """Read and validate the language-model section's record (``report/data/lm.json``).

    Only plain JSON is read (never code); every field used is checked for
    type and range. Returns ``(data, None)`` with the validated fields
    (``decoding``, ``vocab_size``, ``zipf``, ``tokens_per_generation``,
    ``support`` per regime, ``theory_expected_support``) or
    ``(None, reason)`` when the file is missing, did not finish, or is malformed.
    """
    path = Path(check_path("path", path))
    if not path.is_file():
        return None, "the LM section has not run (no report/data/lm.json)"
    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return None, f"report/data/lm.json is unreadable ({type(exc).__name__})"
    if not isinstance(rec, dict) or rec.get("status") != "ok" or not isinstance(rec.get("data"), dict):
        return None, f"the LM section did not finish (status {rec.get('status') if isinstance(rec, dict) else None!r})"
    d = rec["data"]

    def num(x, lo=0.0):
        return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x >= lo

    cfg = d.get("config")
    gt = cfg.get("ground_truth") if isinstance(cfg, dict) else None
    if not isinstance(gt, dict) or not isinstance(gt.get("vocab_size"), int) or not 1 <= gt["vocab_size"] <= 10**6:
        return None, "report/data/lm.json: config.ground_truth.vocab_size missing or out of range"
    if not num(gt.get("zipf"), 0.0):
        return None, "report/data/lm.json: config.ground_truth.zipf missing or not a finite number"
    ref = d.get("reference")
    if not isinstance(ref, dict) or not num(ref.get("tokens_per_generation"), 1.0) or ref["tokens_per_generation"] > 10**8:
        return None, "report/data/lm.json: reference.tokens_per_generation missing or out of range"
    sup = d.get("support")
    if not isinstance(sup, dict) or not sup:
        return None, "report/data/lm.json: support per regime missing"
    support = {}
    for k, v in sup.items():
        if not isinstance(k, str) or len(k) > 100 or not isinstance(v, list) or not 1 <= len(v) <= 1000 or not all(num(x) for x in v):
            return None, f"report/data/lm.json: support[{k!r}] is not a list of non-negative numbers"
        support[k] = [float(x) for x in v]
    th = d.get("theory_expected_support", [])
    theory = [float(x) for x in th] if isinstance(th, list) and all(num(x) for x in th) else []
    decoding = d.get("decoding", cfg.get("decoding"))
    if decoding is None:
        nb = cfg.get("num_beams")
        decoding = {"method": "beam", "width": nb} if isinstance(nb, int) and nb >= 1 else None
    if not isinstance(decoding, dict) or not isinstance(decoding.get("method"), str):
        return None, "report/data/lm.json: no decoding setting (config.decoding or config.num_beams)"
    return {
        "decoding": {str(k): v for k, v in decoding.items() if isinstance(v, (str, int, float)) and not isinstance(v, bool)},
        "vocab_size": int(gt["vocab_size"]),
        "zipf": float(gt["zipf"]),
        "tokens_per_generation": int(round(ref["tokens_per_generation"])),
        "support": support,
        "theory_expected_support": theory,
    }, None


def lm_sampler(decoding: dict) -> tuple:
    """The discrete chain's sampler for an LM decoding setting, and a note.

    ``{"method": "sample", "temperature": t, "top_k": k, "top_p": p, "min_p": m}``
    maps to the same :class:`Sampler`; beam search and greedy decoding are not
    samplers (they pick the most probable continuations), so the nearest
    mode-seeking samplers are returned with a note saying so.
    """
    check_instance("decoding", decoding, dict, "a dict of decoding settings (method, temperature, top_k, top_p, min_p)")
    method = str(decoding.get("method", "")).lower()
    if method in ("sample", "sampling", "multinomial"):
        kw = {}
        for k in ("temperature", "top_k", "top_p", "min_p"):
            v = decoding.get(k)
            if v is not None:
                kw[k] = int(v) if k == "top_k" else float(v)
        return {"LM's sampler": Sampler(**kw)}, f"the LM sampled with {Sampler(**kw).label()}"
    return (
        {"pure resampling": Sampler(), "temperature 0.7": Sampler(temperature=0.7), "top-p 0.9": Sampler(top_p=0.9)},
        (f"the LM decoded by {method or 'an unknown method'} (width {decoding.get('width', decoding.get('num_beams', '?'))}), "
         "which is not a sampler: the chain is shown under pure resampling and two mode-seeking samplers"),
    )


def _calibrated_exponent(V: int, M: int, target: float, default: float) -> tuple:
    """Zipf exponent over ``V`` words whose ``M`` samples hold ``target`` distinct words in expectation (or ``default``)."""
    from scipy.optimize import brentq

    def distinct(s):
        w = np.arange(1, V + 1, dtype=np.float64) ** -s
        p = w / w.sum()
        return float(np.sum(-np.expm1(M * np.log1p(-p))))

    if not (np.isfinite(target) and 1.0 < target < min(V, M)):
        return default, False
    lo, hi = 0.0, 20.0
    if not distinct(hi) < target < distinct(lo):
        return default, False
    return float(brentq(lambda s: distinct(s) - target, lo, hi, xtol=1e-10)), True


def lm_comparison(rec: dict, *, replicates: int = 100, rng=None) -> dict:
    """Distinct words: the LM's measured counts beside the discrete chain under the same sampler.

    The chain's ``p0`` is Zipf over the language's ``vocab_size`` words with
    the exponent that makes ``M = tokens_per_generation`` samples hold, in
    expectation, as many distinct words as the LM section's exact value for
    the real data (its ``theory_expected_support[0]``); without that value,
    Zipf(``zipf``). The chain's generation ``t + 1`` (the data the sampled
    model of generation ``t`` produces) is set beside the LM's generation ``t``
    (the text its generation-``t`` model decodes).
    """
    from .._rng import child, seed_sequence
    from ..chains.discrete import DiscreteChain

    check_instance("rec", rec, dict, "the data dict of lm_record(path)[0]")
    missing = [k for k in ("vocab_size", "tokens_per_generation", "theory_expected_support", "zipf", "support", "decoding") if k not in rec]
    if missing:
        raise ValueError(f"rec lacks {', '.join(missing)}: pass the data dict of lm_record(path)[0]")
    V, M = rec["vocab_size"], rec["tokens_per_generation"]
    th = rec["theory_expected_support"]
    s, calibrated = _calibrated_exponent(V, M, th[0] if th else float("nan"), rec["zipf"])
    n_lm = max(len(v) for v in rec["support"].values())
    p = resolve_p0("zipf", V, s)
    smps, note = lm_sampler(rec["decoding"])
    ss = seed_sequence(rng)
    out = {"note": note, "generations": list(range(n_lm)), "lm": rec["support"], "chain": {},
           "lm_theory_expected_support": th, "chain_p0": {"law": "zipf", "K": V, "exponent": s, "calibrated": calibrated},
           "M": M}
    for i, (lab, smp) in enumerate(smps.items()):
        run = DiscreteChain(p, sample_size=M, sampler=smp).simulate(n_lm, replicates, rng=child(ss, i), record=("support",))
        m, lo, hi, _ = mean_ci(run.support[:, 1:].astype(float))
        out["chain"][lab] = {"mean": m.tolist(), "low": lo.tolist(), "high": hi.tolist()}
    return out
