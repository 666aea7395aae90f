"""One mitigation-map cell's theory, every workflow, against the pre-issue-14 ``long_run_moments``.

Target (issue 14): any theory value of one grid cell (one M, one mixing, up to
1000 generations, 1-D) in at most 50 ms, E W2^2 included, and >= 100x faster
than the old ``long_run_moments`` that each map cell used to call. The
baseline below is that function as it was (commit 82fd4c0: the accumulation
recursion in Python, run for 1000, 4000, 16000, ... generations until the
extrapolated tail is below 1e-10, at most 10^6 generations), timed in the same
run. The fast side is what ``studies.mitigation_cell`` now computes: exact
moments and the two-sided E W2^2 bracket at every generation t = 0..1000
(``workflow_moments``, the cell's default order 6; the cell needs no long-run
extrapolation any more).
"""

from __future__ import annotations

import numpy as np
import pytest

from collapse_theory.theory import gaussian as th
from conftest import median_time, record_ratio

G, M = 1000, 20
ORDER = 6  # studies.mitigation_cell's default
CASES = ("replace", "fresh:0.1", "mixture:0.5,0.3,0.2", "accumulate", "accumulate:0.1",
         "accumulate-subsample", "augment:1")


def _old_moment_recursion(n, M, g, pooled, ddof=1.0):
    v = np.empty(n + 1)
    e = np.empty(n + 1)
    v[0], e[0] = 1.0, 0.0
    N, S = 0.0, 0.0
    for t in range(n):
        m = float(M)
        Vbar = g + (1 - g) * v[t] + g * (1 - g) * e[t]
        Np = N if pooled else 0.0
        Sp = S if pooled else 0.0
        Nn = Np + m
        e[t + 1] = ((Np + m * (1 - g)) ** 2 * e[t] + m * Vbar) / Nn**2
        S = Sp + (m - 1) * Vbar + (Np * m / Nn) * (g * g * e[t] + Vbar / m)
        N = Nn
        v[t + 1] = S / (N - ddof)
    return v, e


def _old_long_run_moments(M, gamma, rtol=1e-10, max_generations=1_000_000):
    """The accumulation branch of the old ``long_run_moments`` (commit 82fd4c0), reproduced in behaviour."""
    n = 1000
    while True:
        v, e = _old_moment_recursion(n, M, gamma, True)
        tail_v = (v[-1] - v[-2]) * n
        tail_e = (e[-1] - e[-2]) * n
        if abs(tail_v) <= rtol * abs(v[-1]) and abs(tail_e) <= rtol * max(abs(e[-1]), 1e-300) or n >= max_generations:
            return float(v[-1] + tail_v), float(e[-1] + tail_e)
        n *= 4


def _cell(spec):
    return th.workflow_moments(G, M, mixing=spec, order=ORDER)


@pytest.fixture(scope="module")
def old_time():
    return median_time(lambda: _old_long_run_moments(M, 0.1), repeat=3, warmup=0)


@pytest.mark.parametrize("spec", CASES)
def test_cell_theory_speed(benchmark, old_time, spec):
    w = benchmark.pedantic(lambda: _cell(spec), rounds=5, warmup_rounds=1)
    assert np.all(w.w2_squared_low[1:] <= w.w2_squared_high[1:])
    assert np.all(np.isfinite(w.variance))
    fast = benchmark.stats.stats.median
    record_ratio(f"mitigation cell theory ({spec}, M={M}, G={G}, E W2^2 bracket order {ORDER} at every t) "
                 "vs old long_run_moments(accumulate:0.1)", fast, old_time, target=100,
                 note=f"[{w.method}; cell <= 50 ms: {'yes' if fast <= 0.05 else 'NO'}]")
