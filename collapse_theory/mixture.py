"""Gaussian-mixture maths shared by the GMM adapter and the evaluator.

A mixture is three arrays: ``weights`` (K,), ``means`` (K, d) and
``covariances`` (K, d, d). This module holds what both
:mod:`collapse_theory.runs.gmm` (the paper's refitted mixture) and
:mod:`collapse_theory.runs.evaluate` (the estimators applied to any run) need,
so that neither imports the other:

* :class:`GMMDensity` / :func:`gmm_log_density`: the log-density, with the
  Cholesky factors computed once (log-sum-exp over components);
* :func:`gmm_sample`: i.i.d. draws, component labels drawn per row (so any
  prefix of the rows is itself an i.i.d. sample); a singular (collapsed)
  covariance is sampled through its symmetric square root;
* :func:`l2_squared_gmm`: the closed-form squared L2 distance between two
  mixtures, the quantity plotted by the paper's GMM notebook, via the
  Gaussian product integral :math:`\\int N(x; a, A) N(x; b, B)\\,dx = N(a; b, A + B)`
  (Petersen & Pedersen, *The Matrix Cookbook*, sec. 8.1.8);
* :func:`component_std` (the paper's per-component standard deviation,
  :math:`\\sqrt{\\operatorname{tr} C_k / d}`) and
  :func:`component_min_eigen_std` (the square root of the smallest
  eigenvalue, the narrowest direction).

Only NumPy is imported.
"""

from __future__ import annotations

import numpy as np

from ._rng import default_rng
from ._validate import check_array, check_probability_vector

__all__ = ["GMMDensity", "gmm_log_density", "gmm_sample", "l2_squared_gmm", "component_std", "component_min_eigen_std"]

_LOG2PI = np.log(2.0 * np.pi)


def _mixture_args(wn, mn, Cn, w, m, C):
    """Validated mixture parameters: weights (K,) summing to 1, means (K, d), symmetric covariances (K, d, d)."""
    w = check_probability_vector(wn, w, atol=1e-6)
    m = check_array(mn, m, ndim=2)
    C = check_array(Cn, C, ndim=3)
    K, d = m.shape
    if K != w.size or C.shape != (K, d, d):
        raise ValueError(f"{wn}, {mn}, {Cn} must have shapes (K,), (K, d), (K, d, d); got {w.shape}, {m.shape}, {C.shape}")
    if not np.allclose(C, np.swapaxes(C, 1, 2), rtol=1e-8, atol=1e-12 * float(np.max(np.abs(C), initial=0.0))):
        raise ValueError(f"{Cn} must be symmetric")
    return w, m, C


def _chol(C: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.cholesky(C)
    except np.linalg.LinAlgError:
        # singular (collapsed) covariance: a symmetric square root still samples it
        vals, vecs = np.linalg.eigh(C)
        return vecs * np.sqrt(np.clip(vals, 0.0, None))[..., None, :]


class GMMDensity:
    """A Gaussian mixture's log-density with its Cholesky factors computed once.

    Evaluators score every generation under the same generation-0 and truth
    mixtures; factoring them once keeps that cost to a matrix product.

    Parameters
    ----------
    weights : array_like, shape (K,)
    means : array_like, shape (K, d)
    covariances : array_like, shape (K, d, d)
        Positive definite.

    Examples
    --------
    >>> import numpy as np
    >>> f = GMMDensity([1.0], [[0.0]], [[[1.0]]])
    >>> round(float(f([[0.0]])[0]), 6)  # log N(0; 0, 1) = -log(2 pi) / 2
    -0.918939
    """

    def __init__(self, weights, means, covariances):
        weights, means, covariances = _mixture_args("weights", "means", "covariances", weights, means, covariances)
        self.means = means
        try:
            L = np.linalg.cholesky(covariances)
        except np.linalg.LinAlgError:
            raise ValueError("covariances must be positive definite (a Cholesky factor failed)") from None
        d = self.means.shape[1]
        eye = np.broadcast_to(np.eye(d), L.shape)
        self.linv_t = np.swapaxes(np.linalg.solve(L, eye), -1, -2)  # (L^{-1})^T per component
        with np.errstate(divide="ignore"):
            logw = np.log(np.asarray(weights, float))
        self.const = logw - np.log(np.diagonal(L, axis1=1, axis2=2)).sum(axis=1) - 0.5 * d * _LOG2PI

    def __call__(self, x) -> np.ndarray:
        x = check_array("x", x, ndim=2)
        if x.shape[1] != self.means.shape[1]:
            raise ValueError(f"x must have shape (n, {self.means.shape[1]}) (the means' dimension), got {x.shape}")
        comp = np.empty((len(x), len(self.means)))
        for k in range(len(self.means)):
            z = (x - self.means[k]) @ self.linv_t[k]
            comp[:, k] = self.const[k] - 0.5 * np.einsum("ij,ij->i", z, z)
        mx = comp.max(axis=1)
        mx = np.where(np.isfinite(mx), mx, 0.0)
        return mx + np.log(np.exp(comp - mx[:, None]).sum(axis=1))


def gmm_log_density(x, weights, means, covariances) -> np.ndarray:
    """Log-density of a Gaussian mixture.

    .. math:: \\log f(x) = \\log \\sum_k w_k\\, N(x; \\mu_k, \\Sigma_k)

    Parameters
    ----------
    x : array_like, shape (n, d)
    weights : array_like, shape (K,)
    means : array_like, shape (K, d)
    covariances : array_like, shape (K, d, d)
        Positive definite.

    Returns
    -------
    ndarray, shape (n,)

    Examples
    --------
    >>> import numpy as np
    >>> v = gmm_log_density([[0.0, 0.0]], [0.5, 0.5], [[0.0, 0.0], [0.0, 0.0]], [np.eye(2), np.eye(2)])
    >>> round(float(v[0]), 6)  # log N(0; 0, I_2) = -log(2 pi)
    -1.837877
    """
    return GMMDensity(weights, means, covariances)(x)


def gmm_sample(weights, means, covariances, n: int, *, rng) -> np.ndarray:
    """``n`` i.i.d. draws of a Gaussian mixture, rows in random order.

    Component labels are drawn i.i.d. (not grouped as scikit-learn's
    ``sample`` does), so any prefix of the rows is itself an i.i.d. sample.
    A singular covariance is sampled through its symmetric square root.

    Parameters
    ----------
    weights : array_like, shape (K,)
    means : array_like, shape (K, d)
    covariances : array_like, shape (K, d, d)
    n : int
    rng : None, int, SeedSequence or Generator

    Returns
    -------
    ndarray, shape (n, d)

    Examples
    --------
    >>> x = gmm_sample([1.0], [[2.0]], [[[1e-12]]], 3, rng=0)
    >>> x.shape, bool(abs(x - 2.0).max() < 1e-5)
    ((3, 1), True)
    """
    rng = default_rng(rng)
    w = np.asarray(weights, float)
    means = np.asarray(means, float)
    L = _chol(np.asarray(covariances, float))
    cw = np.cumsum(w)
    labels = np.minimum(np.searchsorted(cw, rng.random(n) * cw[-1], side="right"), len(w) - 1)
    z = rng.standard_normal((n, means.shape[1]))
    # every component transforms every z (K small), then each row keeps its own
    y = np.matmul(z[None], np.swapaxes(L, 1, 2)) + means[:, None, :]
    return y[labels, np.arange(n)]


def _overlaps(m1, C1, m2, C2) -> np.ndarray:
    """(K1, K2) Gaussian product integrals N(m1_i; m2_j, C1_i + C2_j)."""
    S = C1[:, None] + C2[None, :]
    diff = m1[:, None, :] - m2[None, :, :]
    L = np.linalg.cholesky(S)
    z = np.linalg.solve(L, diff[..., None])[..., 0]
    d = m1.shape[1]
    logdet = 2.0 * np.log(np.diagonal(L, axis1=-2, axis2=-1)).sum(-1)
    return np.exp(-0.5 * (z**2).sum(-1) - 0.5 * logdet - 0.5 * d * _LOG2PI)


def l2_squared_gmm(w1, m1, C1, w2, m2, C2) -> float:
    """Closed-form squared L2 distance between two Gaussian mixtures.

    .. math:: \\int (f - g)^2 dx = \\sum_{ij} w_i w_j N(\\mu_i; \\mu_j, \\Sigma_i + \\Sigma_j)
              + \\sum_{ij} v_i v_j N(\\nu_i; \\nu_j, \\Gamma_i + \\Gamma_j)
              - 2 \\sum_{ij} w_i v_j N(\\mu_i; \\nu_j, \\Sigma_i + \\Gamma_j)

    (Gaussian product integral, Petersen & Pedersen, *The Matrix Cookbook*,
    8.1.8). The quantity plotted by the paper's GMM notebook.

    Parameters
    ----------
    w1 : array_like, shape (K1,)
    m1 : array_like, shape (K1, d)
    C1 : array_like, shape (K1, d, d)
    w2, m2, C2 : the second mixture, shapes (K2,), (K2, d), (K2, d, d)

    Returns
    -------
    float
        Non-negative (clipped at 0 against round-off).

    Examples
    --------
    >>> import numpy as np
    >>> # two unit 1-D Gaussians one apart: 2 (N(0; 0, 2) - N(1; 0, 2))
    >>> v = l2_squared_gmm([1.0], [[0.0]], [[[1.0]]], [1.0], [[1.0]], [[[1.0]]])
    >>> bool(np.isclose(v, 2 * (1 - np.exp(-0.25)) / np.sqrt(4 * np.pi)))
    True
    """
    w1, m1, C1 = _mixture_args("w1", "m1", "C1", w1, m1, C1)
    w2, m2, C2 = _mixture_args("w2", "m2", "C2", w2, m2, C2)
    if m1.shape[1] != m2.shape[1]:
        raise ValueError(f"m1 and m2 must have the same dimension, got {m1.shape[1]} and {m2.shape[1]}")
    ff = w1 @ _overlaps(m1, C1, m1, C1) @ w1
    gg = w2 @ _overlaps(m2, C2, m2, C2) @ w2
    fg = w1 @ _overlaps(m1, C1, m2, C2) @ w2
    return float(max(ff + gg - 2.0 * fg, 0.0))


def component_std(covariances) -> np.ndarray:
    """The paper's standard deviation of each component: ``sqrt(tr C_k / d)``.

    The authors' GMM notebook reports ``sqrt(trace(C_k) / 2)`` for its 2-D
    components (the root mean variance over the coordinates); here ``d`` is
    the dimension, so the definition is the same in 2-D.

    Parameters
    ----------
    covariances : array_like, shape (K, d, d)

    Returns
    -------
    ndarray, shape (K,)

    Examples
    --------
    >>> component_std([[[1.0, 0.5], [0.5, 0.44]]]).round(3).tolist()
    [0.849]
    """
    C = check_array("covariances", covariances)
    if C.ndim != 3 or C.shape[1] != C.shape[2]:
        raise ValueError(f"covariances must have shape (K, d, d), got {C.shape}")
    return np.sqrt(np.clip(np.trace(C, axis1=1, axis2=2) / C.shape[1], 0.0, None))


def component_min_eigen_std(covariances) -> np.ndarray:
    """Square root of each component's smallest covariance eigenvalue (its narrowest direction).

    Parameters
    ----------
    covariances : array_like, shape (K, d, d)

    Returns
    -------
    ndarray, shape (K,)

    Examples
    --------
    >>> component_min_eigen_std([[[4.0, 0.0], [0.0, 0.25]]]).tolist()
    [0.5]
    """
    C = check_array("covariances", covariances)
    if C.ndim != 3 or C.shape[1] != C.shape[2]:
        raise ValueError(f"covariances must have shape (K, d, d), got {C.shape}")
    return np.sqrt(np.clip(np.linalg.eigvalsh(C)[:, 0], 0.0, None))
