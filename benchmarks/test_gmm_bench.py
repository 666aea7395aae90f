"""GMM generational run: time per generation and where it goes.

Two figures, both from the same runs:

* per generation, the fit alone (EM) against the whole generation (assemble
  the dataset, fit, draw the next sample, every default metric, write the
  record): the target is whole <= 1.5 x fit, i.e. fit / whole >= 0.67;
* the whole generation against the loop a researcher would write from the
  paper's notebook (``GaussianMixture(...).fit`` then ``.sample(M)``, library
  threading defaults, no metrics, nothing written).
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.mixture import GaussianMixture

from collapse_theory.runs import gmm

G = 60
M = 1000


def naive_loop(generations: int = G, seed: int = 0):
    """The notebook's loop: fit, sample, repeat (no metrics, nothing stored)."""
    truth = gmm.default_truth()
    x = gmm.gmm_sample(truth["weights"], truth["means"], truth["covariances"], M, rng=seed)
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
    run = runs[-1]
    per_gen = np.median([np.sum(r.wall_times) for r in runs[1:]]) / (G + 1)
    fit = np.median([np.sum([g.timing["fit"] for g in r.generations]) for r in runs[1:]]) / (G + 1)
    sample = np.mean([g.timing["sample"] for g in run.generations])
    metrics = np.mean([g.timing["metrics"] for g in run.generations])
    # wall clock of a whole generation including the record's write
    whole = benchmark.stats.stats.median / (G + 1)
    print(
        f"\n[gmm] per generation (M={M}, {G + 1} generations): whole {whole * 1e3:.2f} ms (recorded {per_gen * 1e3:.2f} ms), "
        f"EM fit {fit * 1e3:.2f} ms, sampling {sample * 1e3:.2f} ms, metrics {metrics * 1e3:.2f} ms, "
        f"write {max(whole - per_gen, 0) * 1e3:.2f} ms; bench wall {time.perf_counter() - t0:.1f} s"
    )
    ratio("gmm: whole generation vs EM fit alone (target fit/whole >= 0.67)", whole, fit, target=1 / 1.5)
    naive = []
    for _ in range(3):
        s = time.perf_counter()
        naive_loop()
        naive.append(time.perf_counter() - s)
    ratio("gmm: notebook loop (fit + sample, no metrics) vs whole generation", whole, np.median(naive) / (G + 1))
