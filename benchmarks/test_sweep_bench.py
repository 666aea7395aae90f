"""Sweeps on Dask: speed-up from one to two worker processes, and the scheduler's per-cell overhead.

* Speed-up: the same grid (8 cells of the discrete heterozygosity study, of
  about equal cost, each about 1 s on one core, Numba on one thread per
  worker) on a LocalCluster of one and of two worker processes, both started
  and warmed before timing; target >= 1.6x on a 2-core machine.
* Overhead: a grid of 100 empty cells (:func:`empty_study`: one draw, one
  row) run through a one-worker cluster against the same cells called in a
  plain Python loop; the difference over the number of cells is the per-cell
  cost of scheduling, serialising, converting and gathering.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from collapse_theory import sweep
from conftest import median_time, user_call_ratio

distributed = pytest.importorskip("distributed")

HEAVY = {
    "study": "heterozygosity",
    "seed": 1,
    "replicates": 4000,
    "fixed": {"K": 10, "generations": 200},
    # cells of about equal cost (about 1 s each on one core): the ratio measures the engine, not how unequal
    # cells happen to pack onto two workers (M from 50 to 200 and replace vs fresh ranged 0.3 to 1.9 s)
    "axes": {"M": [100, 110, 120, 130], "mixing": ["fresh:0.1", "fresh:0.2"]},
}


def empty_study(M: int, replicates: int = 1, *, rng=None):
    """A study that does almost nothing: one normal draw, one table row (the cost left is the engine's)."""
    from collapse_theory._rng import default_rng
    from collapse_theory.studies._base import StudyResult, make_row

    x = default_rng(rng).normal()
    return StudyResult("empty", [make_row("draw", x, theory=0.0)], curves={"generation": np.arange(2), "x": np.full(2, x)})


sweep.register_study("bench_empty", empty_study)  # grids name studies from the registry only

LIGHT = {
    "study": "bench_empty",
    "seed": 2,
    "replicates": 1,
    "axes": {"M": list(range(2, 102))},
}


def _user_script(grid_name: str):
    """``sweep.run(grid)`` with its defaults, as a user's own script runs it (a fresh Python process).

    Run apart from this session's clusters (a second LocalCluster started
    beside them hung once); the time includes the imports and starting and
    closing the local cluster of one worker per core.
    """
    code = (f"import sys; sys.path.insert(0, {os.path.dirname(__file__)!r}); import test_sweep_bench as b; "
            f"from collapse_theory import sweep; sweep.run(b.{grid_name})")
    env = {k: v for k, v in os.environ.items() if k != "COLLAPSE_THEORY_PROGRESS"}  # progress at its default (on)
    return lambda: subprocess.run([sys.executable, "-c", code], check=True, timeout=600, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _cluster(n):
    cluster = distributed.LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        env={"NUMBA_NUM_THREADS": "1"},
    )
    return cluster, distributed.Client(cluster)


@pytest.fixture(scope="module")
def clusters():
    made = {}
    try:
        for n in (1, 2):
            made[n] = _cluster(n)
            # warm: imports and Numba (cached) kernels loaded in every worker
            sweep.run({**HEAVY, "replicates": 2}, None, scheduler=made[n][1], show_progress=False)
        yield {n: client for n, (_, client) in made.items()}
    finally:
        for cluster, client in made.values():
            client.close()
            cluster.close()


def test_two_workers_against_one(benchmark, clusters, ratio):
    one = median_time(lambda: sweep.run(HEAVY, None, scheduler=clusters[1], show_progress=False), repeat=2, warmup=0)
    benchmark.pedantic(
        lambda: sweep.run(HEAVY, None, scheduler=clusters[2], show_progress=False), rounds=2, warmup_rounds=0
    )
    ratio("sweep: 8 heavy cells, 2 worker processes vs 1", benchmark.stats.stats.median, one, target=1.6)
    # the user's call: sweep.run(grid) with the defaults (a local cluster of one worker per core, started by the call)
    user_call_ratio("sweep: 8 heavy cells, run(grid) in a script vs 1 warm worker", _user_script("HEAVY"), one, repeat=1,
                    note="(includes Python start, imports, starting and closing the local cluster)")


def test_per_cell_overhead_against_plain_loop(benchmark, clusters, ratio):
    grid = sweep.load_grid(LIGHT)
    cells = list(grid.cells())

    def loop():
        for index, params in cells:
            empty_study(**params, rng=sweep.cell_seed(grid.seed, index)).table()

    loop()
    plain = median_time(loop, warmup=0)
    benchmark.pedantic(lambda: sweep.run(grid, None, scheduler=clusters[1], show_progress=False), rounds=3, warmup_rounds=1)
    dask_s = benchmark.stats.stats.median
    in_process = median_time(lambda: sweep.run(grid, None, workers=1, show_progress=False), warmup=0)
    per_cell = (dask_s - plain) / len(cells)
    ratio(
        "sweep overhead: 100 empty cells, 1-worker cluster vs plain loop",
        dask_s,
        plain,
        note=f"(scheduler overhead {per_cell * 1e3:.1f} ms/cell; in-process engine {in_process * 1e3:.0f} ms total)",
    )
    user_call_ratio("sweep overhead: 100 empty cells, run(grid) in a script vs plain loop", _user_script("LIGHT"), plain, repeat=1,
                    note="(includes Python start, imports, starting and closing the local cluster)")
