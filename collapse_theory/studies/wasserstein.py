"""Accuracy of the W2^2 estimators as distributions collapse: ours, POT with its defaults, exact.

Model collapse drives variances towards zero, and every distance the toolkit
reports is a Wasserstein-2 distance, so the estimators must stay right there.
:func:`w2_accuracy` computes three situations the runs meet, for collapsed
variances v, three ways: with :mod:`collapse_theory.wasserstein`, with POT
called with its defaults, and exactly.

* ``bures``: moment-matched (Bures) W2^2 between two collapsed generations,
  samples whitened so their covariances are exactly v I and 4 v I
  (d = 2): exact d v. POT: ``ot.gaussian.empirical_bures_wasserstein_distance``
  (adds ``reg=1e-6`` to each covariance). Ours: the Gelbrich bound of
  :func:`~collapse_theory.wasserstein.w2_squared_to_gaussian`, which is this
  Bures distance.
* ``closed_form``: Gaussians collapsed in one direction only (eigenvalues
  1, 2, v against 1, 2, 4v, in a rotated basis): exact by the trace formula in
  60-digit arithmetic for the very floats given. POT:
  ``ot.gaussian.bures_wasserstein_distance`` (the trace formula in float64).
* ``exact_ot``: samples collapsed around a mean far from the origin
  (n points each, d = 2): exact is v times the optimum of the same problem at
  v = 1 (every cost is v |z_i - 2 z'_j|^2). POT: ``ot.emd2`` on ``ot.dist``.

The report's Wasserstein section, the notebook ``03_wasserstein`` and the
benchmark ``test_wasserstein_bench.py`` all show this table.
"""

from __future__ import annotations

import warnings

import numpy as np

from .._validate import check_float, check_int

__all__ = ["w2_accuracy", "VARIANCES", "POT_REGULARISER"]

#: Collapsed variances v of the default table, 1e-2 ... 1e-10.
VARIANCES = tuple(10.0 ** -k for k in range(2, 11))
#: POT's default regulariser in ``ot.gaussian.empirical_bures_wasserstein_distance``.
POT_REGULARISER = 1e-6


def _whiten(z: np.ndarray) -> np.ndarray:
    z = z - z.mean(axis=0)
    L = np.linalg.cholesky(z.T @ z / len(z))
    return z @ np.linalg.inv(L).T


def _rotation(d: int, rng) -> np.ndarray:
    Q, R = np.linalg.qr(rng.standard_normal((d, d)))
    return Q * np.sign(np.diag(R))


def _bures_mp(C1: np.ndarray, C2: np.ndarray, dps: int = 60) -> float:
    """tr C1 + tr C2 - 2 tr (C2^1/2 C1 C2^1/2)^1/2 in ``dps``-digit arithmetic (exact for these floats)."""
    import mpmath

    def sqrt_psd(A):
        ev, V = mpmath.eigsy((A + A.T) / 2)
        return V * mpmath.diag([mpmath.sqrt(max(e, 0)) for e in ev]) * V.T

    with mpmath.workdps(dps):
        A = mpmath.matrix(C1.tolist())
        B = mpmath.matrix(C2.tolist())
        r = sqrt_psd(B)
        cross = sqrt_psd(r * A * r)
        return float(sum(A[i, i] + B[i, i] - 2 * cross[i, i] for i in range(A.rows)))


def w2_accuracy(variances=VARIANCES, *, n: int = 200, seed: int = 0):
    """Our value, POT-with-defaults and the exact value of W2^2 at collapsed variances.

    Parameters
    ----------
    variances : sequence of float
        Collapsed variances v.
    n : int
        Sample size of each side in the sample-based scenarios.
    seed : int

    Returns
    -------
    pandas.DataFrame, 3 rows per variance
        Columns: scenario (``"bures"``, ``"closed_form"``, ``"exact_ot"``),
        variance, exact, ours, pot_default, ours_rel_error, pot_rel_error,
        pot_over_exact (NaN where POT returns NaN).

    Raises
    ------
    ValueError
        If a variance is not positive, ``n < 2`` or ``seed < 0``.

    References
    ----------
    Gelbrich, M. (1990), "On a formula for the L2 Wasserstein metric between
    measures on Euclidean and Hilbert spaces", Math. Nachr. 147; Flamary et
    al. (2021), "POT: Python Optimal Transport", JMLR 22.

    Examples
    --------
    >>> df = w2_accuracy([1e-8], n=20)  # doctest: +SKIP
    >>> sorted(df["scenario"])  # doctest: +SKIP
    ['bures', 'closed_form', 'exact_ot']
    """
    import ot
    import pandas as pd

    from .. import wasserstein as W

    variances = [check_float("variances", v, min=0.0, min_inclusive=False) for v in np.atleast_1d(variances)]
    n = check_int("n", n, min=2)
    seed = check_int("seed", seed, min=0)

    rng = np.random.default_rng(seed)
    d = 2
    x_white, y_white = _whiten(rng.standard_normal((n, d))), _whiten(rng.standard_normal((n, d)))
    zx, zy = rng.standard_normal((n, d)), rng.standard_normal((n, d))
    far = np.array([5.0, -3.0])
    R = _rotation(3, rng)
    unit_cost = ((zx[:, None, :] - 2.0 * zy[None, :, :]) ** 2).sum(-1)  # O(1) entries: no cancellation
    unit_ot = float(ot.emd2(np.full(n, 1 / n), np.full(n, 1 / n), unit_cost, numItermax=10**7))
    rows = []
    for v in variances:
        # bures: covariances exactly v I and 4v I
        x, y = np.sqrt(v) * x_white, np.sqrt(4 * v) * y_white
        exact = d * v
        ours = W.w2_squared_to_gaussian(x, np.zeros(d), 4 * v * np.eye(d), method="gelbrich")
        pot = float(ot.gaussian.empirical_bures_wasserstein_distance(x, y)) ** 2  # POT returns W
        rows.append(("bures", v, exact, ours, pot))
        # closed form, one collapsed direction in a rotated basis
        C1 = R @ np.diag([1.0, 2.0, v]) @ R.T
        C2 = R @ np.diag([1.0, 2.0, 4 * v]) @ R.T
        C1, C2 = 0.5 * (C1 + C1.T), 0.5 * (C2 + C2.T)
        exact = _bures_mp(C1, C2)
        ours = W.w2_squared_gaussian(np.zeros(3), C1, np.zeros(3), C2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # POT's sqrt of a negative number
            pot = float(ot.gaussian.bures_wasserstein_distance(np.zeros(3), np.zeros(3), C1, C2)) ** 2
        rows.append(("closed_form", v, exact, ours, pot))
        # exact OT, samples collapsed far from the origin
        x, y = far + np.sqrt(v) * zx, far + np.sqrt(4 * v) * zy
        exact = v * unit_ot  # every cost is v |zx_i - 2 zy_j|^2: the optimum scales exactly with v
        ours = W.w2_squared_empirical(x, y)
        pot = float(ot.emd2([], [], ot.dist(x, y)))
        rows.append(("exact_ot", v, exact, ours, pot))
    df = pd.DataFrame(rows, columns=["scenario", "variance", "exact", "ours", "pot_default"])
    df["ours_rel_error"] = (df["ours"] - df["exact"]).abs() / df["exact"]
    df["pot_rel_error"] = (df["pot_default"] - df["exact"]).abs() / df["exact"]
    df["pot_over_exact"] = df["pot_default"] / df["exact"]
    return df
