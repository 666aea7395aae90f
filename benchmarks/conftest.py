"""Benchmark helpers: every benchmark times the naive baseline in the same run.

Use :func:`median_time` for the baseline and pytest-benchmark's ``benchmark``
fixture for the fast path (warm-up rounds keep JIT compilation out of the
timing), then :func:`record_ratio`; the ratios are printed at the end of the
session, whatever pytest's capture setting.
"""

from __future__ import annotations

import os
import time

import pytest

os.environ.setdefault("COLLAPSE_THEORY_PROGRESS", "0")
os.environ.setdefault("MPLBACKEND", "Agg")

_RESULTS: list[tuple[str, float, float, float | None, str]] = []


def median_time(fn, *, repeat: int = 3, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeat`` calls after ``warmup`` calls, in seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def record_ratio(name: str, fast_s: float, naive_s: float, target: float | None = None, note: str = "") -> float:
    """Record (and print) naive/fast; returns the ratio."""
    ratio = naive_s / fast_s
    _RESULTS.append((name, fast_s, naive_s, target, note))
    tgt = f" (target >= {target:g}x)" if target else ""
    print(f"\n[ratio] {name}: fast {fast_s * 1e3:.3g} ms, baseline {naive_s * 1e3:.3g} ms, speed-up {ratio:.1f}x{tgt} {note}")
    return ratio


def pytest_terminal_summary(terminalreporter):
    if not _RESULTS:
        return
    tr = terminalreporter
    tr.section("speed-up ratios (median times, same run)")
    for name, fast, naive, target, note in _RESULTS:
        ratio = naive / fast
        flag = "" if target is None else ("  OK" if ratio >= target else "  BELOW TARGET")
        tgt = f" target {target:g}x" if target else ""
        tr.write_line(f"{name:55s} fast {fast * 1e3:10.3f} ms  baseline {naive * 1e3:10.3f} ms  {ratio:8.1f}x{tgt}{flag} {note}")


@pytest.fixture
def ratio():
    return record_ratio
