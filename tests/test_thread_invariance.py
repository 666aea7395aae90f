"""Same rng, same result, whatever the number of Numba threads: checked across processes.

``NUMBA_NUM_THREADS`` is read once, when Numba starts, so comparing one and
two threads inside one test process compares one thread with one thread on a
machine (or CI job) started with ``NUMBA_NUM_THREADS=1``. Here each thread
count runs in its own interpreter, which reports the count it really used and
writes its results; the arrays must be identical.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import sys
import numba
import numpy as np
import collapse_theory as ct

out = {"threads": np.array(numba.get_num_threads())}
for name, mixing in (("replace", ct.Mixing.replace()), ("fresh", ct.Mixing.fresh(0.1)), ("accumulate", ct.Mixing.accumulate(0.05))):
    run = ct.DiscreteChain(np.full(20, 0.05), sample_size=60, mixing=mixing).simulate(30, 64, rng=5, record=("probs", "support"))
    out[f"discrete_{name}_probs"] = run.probs
    out[f"discrete_{name}_support"] = run.support
tail = np.arange(1, 301, dtype=float) ** -1.1
ab = ct.DiscreteChain(tail / tail.sum(), sample_size=40).absorb(64, rng=6)
out["absorb_time"], out["absorb_state"], out["absorb_extinction"] = ab.time, ab.state, ab.extinction
for method in ("exact", "sample"):
    g = ct.GaussianChain(0.0, 1.0, sample_size=7, method=method, mixing=ct.Mixing.fresh(0.2)).simulate(12, 64, rng=3)
    out[f"gauss_{method}_mean"], out[f"gauss_{method}_log_var"] = g.mean, g.log_var
g = ct.GaussianChain(np.zeros(2), np.eye(2), sample_size=7).simulate(5, 64, rng=4)
out["gauss_2d_mean"], out["gauss_2d_log_det"] = g.mean, g.log_det
np.savez(sys.argv[1], **out)
"""


def _run(threads: int, path: Path) -> dict:
    env = {**os.environ, "NUMBA_NUM_THREADS": str(threads), "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env.pop("NUMBA_DISABLE_JIT", None)
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(path)], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


@pytest.mark.slow
def test_one_and_two_threads_give_identical_results(tmp_path):
    one = _run(1, tmp_path / "one.npz")
    two = _run(2, tmp_path / "two.npz")
    assert int(one.pop("threads")) == 1
    assert int(two.pop("threads")) == 2, "the second process did not run with two threads"
    assert one.keys() == two.keys()
    for key in one:
        np.testing.assert_array_equal(one[key], two[key], err_msg=key)
    # and the comparison is not vacuous: replicates differ from each other
    assert not np.array_equal(one["discrete_fresh_probs"][0], one["discrete_fresh_probs"][1])
