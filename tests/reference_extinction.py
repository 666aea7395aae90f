"""The first version's exact extinction computation, kept as a reference.

It propagates every transition row a state can reach (a sparse matrix of
about ``A^{3/2}`` binomial probabilities, ``A`` up to ``M``): exact up to the
same 1e-15 window truncation, but slow and memory-hungry at large ``M``. The
tests compare the new recursion with it where both run, and the benchmark
times both in one run.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse, stats

_WINDOW = 10.0


def _windows(M, p):
    mu = M * p
    sd = np.sqrt(M * p * (1.0 - p))
    lo = np.maximum(0, np.floor(mu - _WINDOW * sd - _WINDOW)).astype(np.int64)
    hi = np.minimum(M, np.ceil(mu + _WINDOW * sd + _WINDOW)).astype(np.int64)
    return lo, hi


def _rows(M, p, ncols):
    lo, hi = _windows(M, p)
    lengths = hi - lo + 1
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    rows = np.repeat(np.arange(p.size), lengths)
    cols = np.arange(indptr[-1]) - np.repeat(indptr[:-1], lengths) + np.repeat(lo, lengths)
    vals = stats.binom.pmf(cols, M, p[rows])
    return sparse.csr_matrix((vals, cols, indptr), shape=(p.size, ncols))


def extinct_by(M, smax, jmax):
    """``Z[s, j] = P(X_s = 0 | X_0 = j)`` for s = 0..smax, j = 0..jmax."""
    A = np.empty(smax + 1, dtype=np.int64)
    A[smax] = min(M, jmax)
    for s in range(smax, 0, -1):
        A[s - 1] = min(M, int(_windows(M, np.array([A[s] / M]))[1][0]))
    P = _rows(M, np.arange(int(A[0]) + 1) / M, M + 1)
    Z = np.empty((smax + 1, jmax + 1))
    z = np.zeros(M + 1)
    z[0] = 1.0
    Z[0] = z[: jmax + 1]
    for s in range(1, smax + 1):
        z[: A[0] + 1] = P @ z
        z[A[0] + 1 :] = 0.0
        Z[s] = z[: jmax + 1]
    return Z


def zero_by(p, M, flat):
    """``P(X_i(t) = 0)`` for first steps Binomial(M, p_i); shape (K, len(flat)), t >= 1."""
    p = np.asarray(p, dtype=np.float64)
    lo, hi = _windows(M, p)
    jmax = int(hi.max())
    need = np.unique(flat)
    Z = extinct_by(M, int(need.max()) - 1, jmax)
    B = _rows(M, p, jmax + 1)
    vals = np.asarray(B @ Z[need - 1].T)
    return vals[:, np.searchsorted(need, flat)]


def expected_support(p0, M, t):
    t = np.atleast_1d(np.asarray(t, dtype=np.int64))
    p0 = np.asarray(p0, dtype=np.float64)
    out = np.empty(t.size)
    out[t == 0] = np.count_nonzero(p0)
    if np.any(t >= 1):
        out[t >= 1] = np.sum(1.0 - zero_by(p0, M, t[t >= 1]), axis=0)
    return out
