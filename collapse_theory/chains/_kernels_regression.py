"""Numba kernels of the regression chain (arithmetic only; the public wrapper validates and draws).

Every variate is drawn beforehand with NumPy's Generator, so ``prange`` over
replicates does the same arithmetic for a replicate whatever the number of
threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["affine_chunk", "warm"]


@njit(cache=True, parallel=True)
def affine_chunk(M, c, N, Z, W, U, t0, accumulate):
    """Generations ``t0 .. t0 + n - 1`` of ``v_t = M w_t + c + N z_t`` in place.

    Replace: ``w_{t+1} = v_t``. Accumulate: ``U += v_t``, ``w_{t+1} = U / (t + 1)``
    (the pooled fit of ``t + 1`` stacked label sets with one fixed design).

    Parameters
    ----------
    M, N : (B, d, d)
    c : (B, d)
    Z : (B, n, d)   the noises (already scaled by sigma)
    W : (B, G + 1, d)   ``W[:, t0]`` holds ``w_{t0}``; columns ``t0 + 1 .. t0 + n`` are written
    U : (B, d)   running sum (accumulate only)
    """
    B, n, d = Z.shape
    for b in prange(B):
        w = W[b, t0].copy()
        v = np.empty(d)
        for j in range(n):
            for i in range(d):
                s = c[b, i]
                for k in range(d):
                    s += M[b, i, k] * w[k] + N[b, i, k] * Z[b, j, k]
                v[i] = s
            t = t0 + j
            if accumulate:
                for i in range(d):
                    U[b, i] += v[i]
                    w[i] = U[b, i] / (t + 1)
            else:
                for i in range(d):
                    w[i] = v[i]
            for i in range(d):
                W[b, t + 1, i] = w[i]


def warm():
    """Compile every kernel on tiny inputs."""
    M = np.eye(2)[None].copy()
    c = np.zeros((1, 2))
    Z = np.zeros((1, 2, 2))
    W = np.zeros((1, 3, 2))
    U = np.zeros((1, 2))
    affine_chunk(M, c, M, Z, W, U, 0, False)
    affine_chunk(M, c, M, Z, W, U, 0, True)
