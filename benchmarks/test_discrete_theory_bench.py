"""Exact tail theory at large K and M: the shared extinction recursion against the first version.

The baseline is the first version's computation (``tests/reference_extinction.py``:
every transition row a state can reach, as a sparse matrix propagated
``t`` times); the fast path is :func:`collapse_theory.theory.discrete.expected_support`
as a user calls it. Both run in this session on the same inputs and must agree
to 1e-9. The issue's absolute targets (K = 10^5 Zipf(1.1), M = 10^5, t <= 200
in under 5 s; M = 10^6 in under 60 s) are timed too, where the baseline takes
minutes (M = 10^5) or does not fit in memory (M = 10^6); their "ratio" is
target time / measured time.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import pytest

from collapse_theory.theory import discrete as th

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
import reference_extinction as ref


def zipf(K, s=1.1):
    w = np.arange(1, K + 1, dtype=np.float64) ** -s
    return w / w.sum()


def test_expected_support_vs_first_version(benchmark, ratio):
    p0, M, t = zipf(10**4), 10**4, np.arange(201)
    fast_out = benchmark.pedantic(lambda: th.expected_support(p0, M, t), rounds=3, warmup_rounds=1, iterations=1)
    fast = benchmark.stats.stats.median
    t0 = time.perf_counter()
    slow_out = ref.expected_support(p0, M, t)
    naive = time.perf_counter() - t0
    np.testing.assert_allclose(fast_out, slow_out, rtol=0, atol=1e-9)
    ratio("expected_support K=10^4 Zipf, M=10^4, t=0..200 vs first version", fast, naive, target=10)


@pytest.mark.parametrize("M, target_s", [(10**5, 5.0), (10**6, 60.0)])
def test_expected_support_issue_sizes(benchmark, ratio, M, target_s):
    p0, t = zipf(10**5), np.arange(201)
    benchmark.pedantic(lambda: th.expected_support(p0, M, t), rounds=3, warmup_rounds=1, iterations=1)
    fast = benchmark.stats.stats.median
    ratio(f"expected_support K=10^5 Zipf, M={M:.0e}, t=0..200 vs the {target_s:g} s target", fast, target_s, target=1,
          note="(baseline column = target time)")
