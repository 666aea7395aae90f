"""GMM generational run: time per generation and where it goes.

Two figures, both from the same runs:

* per generation, the fit alone (EM) against the generation (assemble the
  dataset, fit, draw the next sample, every default metric), from the
  records' own timing of the same runs: the target is generation <= 1.5 x
  fit, i.e. fit / generation >= 0.67; writing the record is shown apart;
* the whole generation against the loop a researcher would write from the
  paper's notebook (``GaussianMixture(...).fit`` then ``.sample(M)``, library
  threading defaults, no metrics, nothing written).
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.mixture import GaussianMixture

from collapse_theory.runs import gmm
from conftest import user_call_ratio

G = 60
M = 1000


def naive_loop(generations: int = G, seed: int = 0):
    """The notebook's loop: fit, sample, repeat (no metrics, nothing stored)."""
    x = np.random.default_rng(seed).standard_normal((M, 2))  # D_0: one N(0, I_2) blob, as the run's default
    for t in range(generations + 1):
        gm = GaussianMixture(2, covariance_type="full", tol=1e-5, max_iter=2000, random_state=seed + t).fit(x)
        x, _ = gm.sample(M)


def test_gmm_generation_time(benchmark, ratio, tmp_path):
    runs = []

    def full():
        out = tmp_path / f"r{len(runs)}"
        runs.append(gmm.run(G, M, 2, rng=0, out=out, show_progress=False))

    t0 = time.perf_counter()
    benchmark.pedantic(full, rounds=3, iterations=1, warmup_rounds=1)
    timed = runs[1:]

    def per_gen(key=None):
        if key is None:
            return np.median([np.mean(r.wall_times[1:]) for r in timed])
        return np.median([np.mean([g.timing[key] for g in r.generations[1:]]) for r in timed])

    generation, fit, sample, metrics = per_gen(), per_gen("fit"), per_gen("sample"), per_gen("metrics")
    whole = benchmark.stats.stats.median / (G + 1)  # everything, including writing the record
    print(
        f"\n[gmm] per generation (M={M}, {G + 1} generations, median of {len(timed)} runs): generation "
        f"{generation * 1e3:.2f} ms = EM fit {fit * 1e3:.2f} + sampling {sample * 1e3:.2f} + metrics "
        f"{metrics * 1e3:.2f}; with the record written {whole * 1e3:.2f} ms; bench wall {time.perf_counter() - t0:.1f} s"
    )
    # a generation with every default metric against its own EM fit (same runs): target <= 1.5x
    ratio("gmm: generation (fit+sample+metrics) vs EM fit alone (target fit/gen >= 0.67)", generation, fit, target=1 / 1.5)
    ratio("gmm: generation incl. record write vs EM fit alone", whole, fit)
    naive = []
    for _ in range(3):
        s = time.perf_counter()
        naive_loop()
        naive.append(time.perf_counter() - s)
    naive_gen = np.median(naive) / (G + 1)
    ratio("gmm: notebook loop (fit + sample, no metrics) vs whole generation", whole, naive_gen)
    # the call a user writes: gmm.run(G, M, 2) with its defaults (nothing written, progress on), per generation
    user_call_ratio("gmm: run(G, M, 2), per generation, vs notebook loop", lambda: gmm.run(G, M, 2, rng=0), naive_gen * (G + 1),
                    repeat=3, warmup=1, note=f"(per generation: divide the times by {G + 1})")
