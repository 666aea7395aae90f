"""Benchmark helpers: every benchmark times the naive baseline in the same run.

Use :func:`median_time` for the baseline and pytest-benchmark's ``benchmark``
fixture for the fast (tuned) call (warm-up rounds keep JIT compilation out of
the timing), then :func:`record_ratio`. Beside any tuned call, every benchmark
also times *the call a user writes* (defaults, progress bar on) against the
same baseline with :func:`user_call_ratio`, after a warm-up at full size.
Whole-run figures that are not a speed-up of one call (the sweep's second
worker, the GMM's share of time in EM) are recorded with
:func:`record_ratio` like any other.

The ratios are printed at the end of the session as one table, whatever
pytest's capture setting: one row per ratio with its target and ``OK`` or
``BELOW TARGET``, grouped by file, and a line for every collected benchmark
file that recorded no ratio (so a file missing from the table is visible).
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import pytest

os.environ.setdefault("COLLAPSE_THEORY_PROGRESS", "0")
os.environ.setdefault("MPLBACKEND", "Agg")

#: (file, name, fast seconds, baseline seconds, target or None, note)
_RESULTS: list[tuple[str, str, float, float, float | None, str]] = []
_FILES: set[str] = set()


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


def _current_file() -> str:
    current = os.environ.get("PYTEST_CURRENT_TEST", "")
    return Path(current.split("::", 1)[0]).name if current else "?"


def record_ratio(name: str, fast_s: float, naive_s: float, target: float | None = None, note: str = "") -> float:
    """Record (and print) naive/fast; returns the ratio."""
    ratio = naive_s / fast_s
    _RESULTS.append((_current_file(), name, fast_s, naive_s, target, note))
    tgt = f" (target >= {target:g}x)" if target else ""
    print(f"\n[ratio] {name}: fast {fast_s * 1e3:.3g} ms, baseline {naive_s * 1e3:.3g} ms, speed-up {ratio:.1f}x{tgt} {note}")
    return ratio


@contextlib.contextmanager
def progress_on():
    """Progress bars at their default (on), as a user's session has them (this conftest turns them off)."""
    before = os.environ.pop("COLLAPSE_THEORY_PROGRESS", None)
    try:
        yield
    finally:
        if before is not None:
            os.environ["COLLAPSE_THEORY_PROGRESS"] = before


def user_call_time(fn, *, repeat: int = 3, warmup: int = 1) -> float:
    """Median wall time of ``fn()``, the call as a user writes it, with progress bars on.

    ``fn`` must be the full-size call with the library's defaults; ``warmup``
    full-size calls come first (JIT compilation, caches), as for the tuned call.
    """
    with progress_on():
        return median_time(fn, repeat=repeat, warmup=warmup)


def user_call_ratio(name: str, fn, naive_s: float, target: float | None = None, *, repeat: int = 3,
                    warmup: int = 1, note: str = "") -> float:
    """Time the user's call (:func:`user_call_time`) and record it against the same baseline as the tuned call."""
    return record_ratio(f"  {name}, as a user calls it (defaults, progress on)", user_call_time(fn, repeat=repeat, warmup=warmup),
                        naive_s, target, note)


def one_thread_time(fn) -> float:
    """Wall time of one ``fn()`` with Numba limited to one thread (on a loaded machine the per-core ratio is the stable figure)."""
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0
    finally:
        numba.set_num_threads(before)


def pytest_collection_modifyitems(items):
    for item in items:
        _FILES.add(Path(str(item.fspath)).name)


def pytest_terminal_summary(terminalreporter):
    tr = terminalreporter
    if not _RESULTS and not (tr.stats.get("passed") or tr.stats.get("failed") or tr.stats.get("error")):
        return  # nothing ran (e.g. --collect-only)
    tr.section("speed-up ratios (median times, same run)")
    tr.write_line(f"{'benchmark':78s} {'fast ms':>11s} {'baseline ms':>12s} {'ratio':>9s} {'target':>8s}  verdict")
    below = 0
    for file in sorted({r[0] for r in _RESULTS}):
        tr.write_line(f"[{file}]")
        for _, name, fast, naive, target, note in (r for r in _RESULTS if r[0] == file):
            ratio = naive / fast
            verdict = "" if target is None else ("OK" if ratio >= target else "BELOW TARGET")
            below += verdict == "BELOW TARGET"
            tgt = f"{target:g}x" if target else "-"
            tr.write_line(f"{name[:78]:78s} {fast * 1e3:11.3f} {naive * 1e3:12.3f} {ratio:8.2f}x {tgt:>8s}  {verdict} {note[:160]}")
    missing = sorted(_FILES - {r[0] for r in _RESULTS})
    for file in missing:
        tr.write_line(f"[{file}] recorded no ratio (skipped or failed)")
    tr.write_line(f"{len(_RESULTS)} ratios from {len({r[0] for r in _RESULTS})} of {len(_FILES)} files; {below} below target")


@pytest.fixture
def ratio():
    return record_ratio


@pytest.fixture
def user_ratio():
    return user_call_ratio
