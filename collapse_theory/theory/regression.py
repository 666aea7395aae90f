r"""Exact theory of the regression collapse chain: linear models refitted on their own labels.

The chain (:class:`collapse_theory.RegressionChain`): generation 0 is real
data, a design ``X`` (``T x d``, rows ``x ~ N(0, Sigma)``) labelled
``y = X w* + eps``, ``eps ~ N(0, sigma^2 I)``. Generation ``t >= 1`` fits
``w_t`` (OLS, or ridge with per-sample penalty ``lambda``:
``w = (X^T X + N lambda I)^{-1} X^T y`` on ``N`` rows) to the data of
generation ``t - 1``, whose labels come from ``w_{t-1}`` plus fresh noise.
Every result below is for ``e_t = w_t - w*`` in the ``Sigma``-norm,
``E ||w_t - w*||^2_Sigma`` (the excess test error; the test error on fresh
real data adds ``sigma^2``).

Closed forms averaged over the Gaussian design (OLS; ``Sigma`` arbitrary, since
OLS is equivariant: whitening ``x -> Sigma^{-1/2} x`` maps the problem to
``Sigma = I`` and the ``Sigma``-norm to the Euclidean norm):

* replace, fixed design (Gerstgrasser et al. 2024, arXiv 2404.01413):
  ``e_n = sum_i xi_i`` with ``xi_i ~ N(0, sigma^2 (X^T X)^{-1})`` independent,
  so :math:`E\|e_n\|^2 = n\sigma^2 d/(T-d-1)` (inverse-Wishart mean); given
  the design :math:`n\sigma^2 \operatorname{tr}(\Sigma (X^TX)^{-1})`;
* accumulate (every label set kept and stacked), fixed design: ``e_t = e_{t-1} + xi_t / t``,
  :math:`E\|e_n\|^2 = \sigma^2 d/(T-d-1)\sum_{i\le n} 1/i^2 \to (\pi^2/6)\,\sigma^2 d/(T-d-1)`
  (Gerstgrasser et al. 2024; Dey & Donoho 2024, arXiv 2410.22812);
* fresh design each generation (Dohmatob, Feng & Kempe 2024, arXiv 2402.07712):
  with a share of the rows labelled by ``w*`` (``Mixing.fresh``) and a share
  ``p`` by a wrong model ``w_s`` (``contamination``, Dohmatob et al. 2025,
  arXiv 2410.04840), each fit is ``e' = P_c delta + P_s e + A^{-1} X^T eps``
  with ``P_j = A^{-1} A_j`` the share of the Gram matrix ``A = X^T X`` held by
  the rows of group ``j``, ``delta = w_s - w*``. From the Haar moments of the
  left singular vectors of ``X`` (independent of its singular values) and
  :math:`E[\operatorname{tr}A\,\operatorname{tr}A^{-1}] = d(Td-2)/(T-d-1)`,

  .. math:: E[P_m^T P_m] = c(m) I,\quad c(m) = \frac{m(m+2)}{T(T+2)} + \frac{m(T-m)(T+1)(d-1)}{T(T-1)(T+2)(T-d-1)},

  .. math:: E[P_{m_1}^T P_{m_2}] = \kappa(m_1, m_2) I,\quad \kappa = \frac{m_1 m_2}{T(T+2)}\Bigl(1 - \frac{(T+1)(d-1)}{(T-1)(T-d-1)}\Bigr)

  for disjoint groups of ``m``, ``m_1``, ``m_2`` rows, which gives an exact
  scalar recursion for :math:`(E\|e_t\|^2, E e_t)` (:func:`expected_error`),
  its stationary value (:func:`stationary_error`) and the downstream error
  :math:`\sigma^2 d/(T_d-d-1) + E\|e_n\|^2` (:func:`downstream_error`; for
  replace, ridgeless, isotropic this is Dohmatob et al.'s
  :math:`\sigma^2 d/(T-d-1) + n\sigma_0^2 d/(T_0-d-1)`; a ridge downstream fit
  with any ``Sigma`` is exact given the downstream design);
* strong collapse: one fit on data of which ``m = round(p T)`` rows are
  labelled by ``w_s``: :math:`c(m)\|w_s-w^*\|^2_\Sigma + \sigma^2 d/(T-d-1)`,
  tending to the floor :math:`p^2\|w_s - w^*\|^2_\Sigma` as ``T -> inf``
  (:func:`strong_collapse_floor`).

Given the design (``design_matrix=X``, the fixed design of every dataset,
ridge or not): ``e_t`` follows an affine recursion ``e' = N e + beta + zeta``
whose coefficients depend only on ``X``; with fresh real rows (each row
labelled by ``w*`` with probability ``gamma``) ``N`` is random, and its
second moment needs the rows' fourth moments
:math:`\sum_i x_i x_i^T S x_i x_i^T`. The first two moments of ``e_t`` are
propagated exactly (for augmentation jointly with the real data's noise
``X^T eps_0``, which every generation reuses), and stationary values solve
the fixed-point (Stein) equation. Exact numerical evaluation, no
approximation.

Not covered by a closed form (raise ``ValueError`` naming the parameter and
the alternative): ridge, or augmentation, or fresh real rows with a fixed
design, averaged over a random design (the expectation of a nonlinear
function of a Wishart matrix; pass ``design_matrix`` for the exact value
given the design); accumulation with a fresh design; accumulate-subsample
(simulated only).

Theory never runs a simulation and never imports ``collapse_theory.chains``.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from .._validate import (
    check_array,
    check_choice,
    check_contamination,
    check_count_array,
    check_covariance,
    check_float,
    check_int,
    check_int_array,
    check_vector,
)
from ..process import check_mixing
from ._derivation import Derivation

__all__ = [
    "accumulate_limit",
    "derivations",
    "downstream_error",
    "expected_error",
    "expected_test_error",
    "ols_variance",
    "projection_cross_moment",
    "projection_moment",
    "stationary_error",
    "strong_collapse_floor",
]

#: Designs the chain and the theory offer.
DESIGNS = ("fixed", "fresh")
#: Workflows (``Mixing.workflow``) with an exact expectation here.
THEORY_WORKFLOWS = ("replace", "fresh", "accumulate", "augment")

_SOURCES = {
    "gerstgrasser": "Gerstgrasser et al. 2024, 'Is model collapse inevitable?', arXiv 2404.01413, Thm 1 and 2",
    "dohmatob": "Dohmatob, Feng & Kempe 2024, 'Model collapse demystified: the case of regression', arXiv 2402.07712, Thm 4.1",
    "strong": "Dohmatob, Feng, Subramonian & Kempe 2025, 'Strong model collapse', arXiv 2410.04840, Cor. 1",
    "dey": "Dey & Donoho 2024, arXiv 2410.22812 (the pi^2/6 bound under accumulation)",
    "here": "derived here (Haar moments of the singular vectors of a Gaussian design)",
}


# --------------------------------------------------------------------------- inputs
class _Setting:
    """Validated parameters shared by the functions of this module."""

    def __init__(self, sample_size, dim, *, noise, mixing, design, ridge, cov, w_star, contamination, design_matrix):
        self.d = check_int("dim", dim, min=1)
        self.T = check_int("sample_size", sample_size, min=1)
        self.sigma = check_float("noise", noise, min=0.0)
        self.ridge = check_float("ridge", ridge, min=0.0)
        self.design = check_choice("design", design, DESIGNS)
        self.mixing = check_mixing(mixing, ("replace", "fresh", "accumulate", "accumulate-subsample", "augment"),
                                   where="theory.regression")
        d = self.d
        if cov is None:
            self.cov = np.eye(d)
        else:
            c = check_covariance("cov", cov, d=d if np.ndim(cov) == 2 else None)
            self.cov = float(c) * np.eye(d) if c.ndim == 0 else c
            ev = np.linalg.eigvalsh(self.cov)
            if ev[0] <= 1e-12 * max(ev[-1], 1e-300):
                raise ValueError(f"cov must be positive definite (smallest eigenvalue {ev[0]:.3g}): a singular "
                                 "covariance gives a rank-deficient design")
        if w_star is None:
            self.w_star = np.full(d, 1.0 / math.sqrt(d))
        else:
            self.w_star = check_vector("w_star", w_star, d)
        self.p, self.w_s, self.m_c = _contamination(contamination, d, self.T)
        self.delta = None if self.w_s is None else self.w_s - self.w_star
        self.delta_sq = 0.0 if self.w_s is None else float(self.delta @ self.cov @ self.delta)
        self.X = None
        if design_matrix is not None:
            if self.design != "fixed":
                raise ValueError("design_matrix gives the fixed design of every dataset; it needs design='fixed'")
            X = check_array("design_matrix", design_matrix, ndim=2)
            if X.shape != (self.T, d):
                raise ValueError(f"design_matrix must have shape (sample_size, dim) = ({self.T}, {d}), got {X.shape}")
            if self.ridge == 0 and np.linalg.matrix_rank(X) < d:
                raise ValueError("design_matrix must have rank dim for OLS (ridge=0): X^T X is singular")
            self.X = X

    @property
    def gamma(self) -> float:
        return self.mixing.real

    def require_ols_average(self, what: str):
        """The design-averaged closed forms: OLS and T >= d + 2 (else the expectation is infinite)."""
        if self.ridge != 0:
            raise ValueError(
                f"ridge = {self.ridge}: {what} has no finite-sample closed form averaged over a random design "
                "(a nonlinear function of a Wishart matrix); pass design_matrix=X for the exact value given the "
                "design, or ridge=0"
            )
        if self.T <= self.d + 1:
            raise ValueError(
                f"sample_size: OLS needs T >= d + 2 for a finite expected error averaged over a Gaussian design "
                f"(E tr (X^T X)^-1 = d/(T-d-1) is infinite for T <= d + 1); got T = {self.T}, d = {self.d}"
            )


def _contamination(contamination, d, T):
    """``None`` or ``(p, w_s)``: share ``p`` in [0, 1) of every dataset's rows labelled by ``w_s``."""
    checked = check_contamination(contamination, d)
    if checked is None:
        return 0.0, None, 0
    p, w_s = checked
    return p, w_s, round(p * T)


def _generations(generations):
    return check_count_array("generations", generations)


def _take(path, n):
    out = np.asarray(path)[n]
    return float(out) if np.ndim(out) == 0 else out


# --------------------------------------------------------------------------- building blocks
def ols_variance(sample_size, dim, noise=1.0):
    r"""One OLS fit's expected excess error on a Gaussian design, :math:`\sigma^2 d/(T-d-1)`.

    .. math:: E\|\hat w - w^*\|^2_\Sigma = \sigma^2 E\operatorname{tr}(\Sigma (X^TX)^{-1}) = \sigma^2 d/(T-d-1)

    (mean of the inverse Wishart distribution, Muirhead 1982, Thm 3.2.12).

    Parameters
    ----------
    sample_size : int
        ``T >= d + 2`` (the expectation is infinite otherwise).
    dim : int
        ``d``.
    noise : float
        Label-noise standard deviation ``sigma``.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        ``T <= d + 1`` or a negative ``noise``.

    Examples
    --------
    >>> from collapse_theory.theory import regression as th
    >>> round(th.ols_variance(100, 10), 5)
    0.11236
    """
    d = check_int("dim", dim, min=1)
    T = check_int("sample_size", sample_size, min=1)
    s = check_float("noise", noise, min=0.0)
    if T <= d + 1:
        raise ValueError(f"sample_size: OLS needs T >= d + 2 for a finite expected error, got T = {T}, d = {d}")
    return s * s * d / (T - d - 1)


def projection_moment(m, sample_size, dim):
    r"""``c(m)``: :math:`E[P^T P] = c(m) I` for :math:`P = (X^TX)^{-1} X_m^T X_m`, the Gram share of ``m`` rows.

    .. math:: c(m) = \frac{m(m+2)}{T(T+2)} + \frac{m(T-m)(T+1)(d-1)}{T(T-1)(T+2)(T-d-1)}

    ``X`` is ``T x d`` with i.i.d. ``N(0, I)`` rows and ``X_m`` any ``m`` of
    them; ``c(0) = 0``, ``c(T) = 1`` and ``c(pT) -> p^2`` as ``T -> inf``
    (derivation: :func:`derivations` ``['projection_moments']``).

    Parameters
    ----------
    m : int or array_like
        ``0 <= m <= T`` (floats are accepted: the formula is a polynomial in ``m``).
    sample_size, dim : int
        ``T >= d + 2``, ``d``.

    Returns
    -------
    float or ndarray

    Examples
    --------
    >>> from collapse_theory.theory import regression as th
    >>> th.projection_moment(100, 100, 10), th.projection_moment(0, 100, 10)
    (1.0, 0.0)
    """
    T, d = _Td(sample_size, dim)
    m = check_int_array("m", m, min=0, max=int(T))
    out = m * (m + 2) / (T * (T + 2)) + m * (T - m) * (T + 1) * (d - 1) / (T * (T - 1) * (T + 2) * (T - d - 1))
    return float(out) if out.ndim == 0 else out


def projection_cross_moment(m1, m2, sample_size, dim):
    r""":math:`\kappa(m_1, m_2)`: :math:`E[P_1^T P_2] = \kappa I` for the Gram shares of two disjoint row groups.

    .. math:: \kappa = \frac{m_1 m_2}{T(T+2)}\Bigl(1 - \frac{(T+1)(d-1)}{(T-1)(T-d-1)}\Bigr)

    so that ``c(m) + kappa(m, T - m) = m / T`` (the shares sum to ``I``).

    Parameters
    ----------
    m1, m2 : int or array_like
        Sizes of the two groups, ``m1 + m2 <= T``.
    sample_size, dim : int
        ``T >= d + 2``, ``d``.

    Returns
    -------
    float or ndarray

    Examples
    --------
    >>> from collapse_theory.theory import regression as th
    >>> T, d = 100, 10
    >>> round(th.projection_moment(30, T, d) + th.projection_cross_moment(30, 70, T, d), 12)
    0.3
    """
    T, d = _Td(sample_size, dim)
    m1 = check_int_array("m1", m1, min=0, max=int(T))
    m2 = check_int_array("m2", m2, min=0, max=int(T))
    try:
        total = m1 + m2
    except ValueError:
        raise ValueError(f"m1 and m2 must broadcast, got shapes {m1.shape} and {m2.shape}") from None
    if total.size and total.max() > T:
        raise ValueError(f"m1 + m2 must be <= sample_size = {int(T)} (disjoint row groups), got {float(total.max()):g}")
    return _cross_moment(m1, m2, T, d)


def _cross_moment(m1, m2, T, d):
    """:func:`projection_cross_moment` unvalidated; linear in ``m2``, so an expected count may stand for it."""
    out = np.multiply(m1, m2) / (T * (T + 2)) * (1 - (T + 1) * (d - 1) / ((T - 1) * (T - d - 1)))
    return float(out) if np.ndim(out) == 0 else out


def _Td(sample_size, dim):
    d = check_int("dim", dim, min=1)
    T = check_int("sample_size", sample_size, min=1)
    if T <= d + 1:
        raise ValueError(f"sample_size: needs T >= d + 2, got T = {T}, d = {d}")
    return float(T), float(d)


# --------------------------------------------------------------------------- design-averaged paths
def _fresh_design_path(s: _Setting, n_max: int):
    """(E||e_t||^2_Sigma, a_t with E e_t = a_t delta) for t = 0..n_max, fresh Gaussian design, OLS."""
    T, d = s.T, s.d
    v = s.sigma**2 * d / (T - d - 1)
    mc = s.m_c
    n_u = T - mc  # rows that follow the mixing
    q_syn = 1.0 - s.gamma  # each of them synthetic with this probability (t >= 1)
    Em = n_u * q_syn
    Em2 = n_u * q_syn * (1 - q_syn) + Em**2
    # c(m) is quadratic in m: E c(m_s) from the first two binomial moments
    k2 = (T + 1) * (d - 1) / (T * (T - 1) * (T + 2) * (T - d - 1))
    c_syn = (Em2 + 2 * Em) / (T * (T + 2)) + k2 * (T * Em - Em2)
    c_con = projection_moment(mc, T, d)
    k_cs = _cross_moment(mc, Em, T, d)  # linear in m2: E kappa(mc, m_s) = kappa(mc, E m_s)
    D2 = s.delta_sq
    q = np.zeros(n_max + 1)
    a = np.zeros(n_max + 1)
    for t in range(n_max):
        if t == 0:  # dataset 0 is real: no synthetic rows
            q[1] = c_con * D2 + v
            a[1] = mc / T
        else:
            q[t + 1] = c_syn * q[t] + c_con * D2 + 2 * k_cs * a[t] * D2 + v
            a[t + 1] = mc / T + (Em / T) * a[t]
    return q, a, (c_syn, c_con, k_cs, Em, v)


def _fixed_design_average(s: _Setting, n_max: int):
    T, d = s.T, s.d
    v = s.sigma**2 * d / (T - d - 1)
    t = np.arange(n_max + 1, dtype=np.float64)
    wf = s.mixing.workflow
    if s.m_c and n_max >= 2:
        raise ValueError(
            "contamination: with a fixed design the contaminated rows are the same every generation and the "
            "expected error after two or more generations has no closed form averaged over the design; pass "
            "design_matrix=X (exact given the design), design='fresh', or generations <= 1"
        )
    if s.m_c:
        return np.array([0.0, projection_moment(s.m_c, T, d) * s.delta_sq + v])[: n_max + 1]
    if wf == "replace":
        return t * v
    if wf == "accumulate" and s.gamma == 0:
        return v * np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, n_max + 1) ** 2)])
    if n_max <= 1:
        return t * v
    raise ValueError(
        f"mixing: the {s.mixing.to_spec()!r} workflow with a fixed design has no closed form averaged over the "
        "design; pass design_matrix=X for the exact value given the design, or use design='fresh'"
    )


# --------------------------------------------------------------------------- given the design
def _second_moment(lead, m_mu, b, *extra):
    """E[e' e'^T] for e' = M e + b + noise: ``lead`` (E[M e e^T M^T]) + the shift's terms + ``extra``.

    The shift adds ``(M mu) b^T + b (M mu)^T + b b^T``; ``extra`` are the noise
    terms, added in order. The stationary equations pass ``lead = 0``.
    """
    cross = np.outer(m_mu, b)
    out = lead + cross + cross.T + np.outer(b, b)
    for term in extra:
        out = out + term
    return out


def _unstable(M) -> bool:
    """True if the linear map ``M`` has spectral radius 1 or more (no stationary law: the error diverges)."""
    return bool(np.max(np.abs(np.linalg.eigvals(M))) >= 1 - 1e-12)


class _Conditional:
    """Exact first and second moments of e_t given the fixed design X (any ridge)."""

    def __init__(self, s: _Setting):
        self.s = s
        X = s.X
        T, d = X.shape
        self.T, self.d = T, d
        lam = s.ridge
        mc = s.m_c
        self.A = X.T @ X
        Xc, Xu = X[:mc], X[mc:]
        self.Ac = Xc.T @ Xc
        self.Au = Xu.T @ Xu
        self.Xu = Xu
        self.R = np.linalg.inv(self.A + T * lam * np.eye(d))
        delta = np.zeros(d) if s.delta is None else s.delta
        self.delta = delta
        # e' = R A_c delta + R A_syn e - T lam R w* + R g,  g ~ N(0, sigma^2 A)
        self.b = self.R @ (self.Ac @ delta) - T * lam * (self.R @ s.w_star)
        self.Q = s.sigma**2 * self.R @ self.A @ self.R
        # E[M S M^T] = R [(1-g)^2 Au S Au + g(1-g) sum_i x_i x_i^T S x_i x_i^T] R
        self.g = s.gamma

    def _EM(self, gamma):
        """E[M] for a share ``gamma`` of real rows: (1 - gamma) R A_u."""
        return (1 - gamma) * self.R @ self.Au

    def EMSM(self, S, gamma):
        R, Au = self.R, self.Au
        out = (1 - gamma) ** 2 * (Au @ S @ Au)
        if 0 < gamma < 1:
            quad = np.einsum("ij,jk,ik->i", self.Xu, S, self.Xu)
            out = out + gamma * (1 - gamma) * (self.Xu.T * quad) @ self.Xu
        return R @ out @ R

    def _step(self, mu, S, gamma):
        EM = self._EM(gamma)
        b = self.b
        mu2 = EM @ mu + b
        S2 = _second_moment(self.EMSM(S, gamma), EM @ mu, b, self.Q)
        return mu2, S2

    def path(self, n_max):
        """E||e_t||^2_Sigma for t = 0..n_max."""
        s = self.s
        wf = s.mixing.workflow
        d = self.d
        cov = s.cov
        out = np.zeros(n_max + 1)
        mu = np.zeros(d)
        S = np.zeros((d, d))
        if wf == "augment":
            return self._augment_path(n_max)
        for t in range(n_max):
            gamma = 1.0 if t == 0 else self.g  # dataset 0 is real
            if wf == "accumulate" and t > 0:
                # e_{t+1} = (t e_t + v_t) / (t + 1), v_t = M e_t + b + R g: Markov in e_t
                k = t + 1
                mu_v, S_v = self._step(mu, S, gamma)  # moments of v alone
                EvE = self._EM(gamma) @ S + np.outer(self.b, mu)  # E[v e^T]
                mu = (t * mu + mu_v) / k
                S = (t * t * S + t * (EvE + EvE.T) + S_v) / (k * k)
            else:
                mu, S = self._step(mu, S, gamma)
            out[t + 1] = float(np.trace(cov @ S))
        return out

    # augmentation: the real data (X, y_0) are kept; a block of n_s synthetic rows cycles through X
    def _augment_parts(self):
        s = self.s
        X = s.X
        T, d = self.T, self.d
        lam = s.ridge
        ns = round(s.mixing.synthetic_ratio * T)
        XB = X[np.arange(ns) % T]
        mb = round(s.p * ns)
        ABc = XB[:mb].T @ XB[:mb]
        ABs = XB[mb:].T @ XB[mb:]
        AB = ABc + ABs
        Ra = np.linalg.inv(self.A + AB + (T + ns) * lam * np.eye(d))
        M = Ra @ ABs
        beta = Ra @ ((self.Ac + ABc) @ self.delta) - (T + ns) * lam * (Ra @ s.w_star)
        K = Ra  # coefficient of the persistent real noise g_0
        Qz = s.sigma**2 * Ra @ AB @ Ra
        Sg = s.sigma**2 * self.A
        return M, beta, K, Qz, Sg

    @staticmethod
    def _augment_extra(M, C, K, Sg, Qz):
        """The terms of E[e e^T] that the persistent real noise ``g_0`` and the fresh noise add (augmentation)."""
        MCK = M @ C @ K.T
        return MCK, MCK.T, K @ Sg @ K.T, Qz

    def _augment_path(self, n_max):
        M, beta, K, Qz, Sg = self._augment_parts()
        cov = self.s.cov
        out = np.zeros(n_max + 1)
        if n_max == 0:
            return out
        R0 = self.R
        beta0 = self.b  # generation 1 is the fit to the real data alone
        mu = beta0.copy()
        C = R0 @ Sg  # E[e g0^T]
        S = R0 @ Sg @ R0 + np.outer(beta0, beta0)
        out[1] = float(np.trace(cov @ S))
        for t in range(1, n_max):
            Mmu = M @ mu
            S = _second_moment(M @ S @ M.T, Mmu, beta, *self._augment_extra(M, C, K, Sg, Qz))
            C = M @ C + K @ Sg
            mu = Mmu + beta
            out[t + 1] = float(np.trace(cov @ S))
        return out

    def stationary(self):
        s = self.s
        wf = s.mixing.workflow
        d = self.d
        cov = s.cov
        if wf == "augment":
            from scipy.linalg import solve_discrete_lyapunov

            M, beta, K, Qz, Sg = self._augment_parts()
            if _unstable(M):
                return math.inf
            I = np.eye(d)
            mu = np.linalg.solve(I - M, beta)
            C = np.linalg.solve(I - M, K @ Sg)
            Q = _second_moment(np.zeros((d, d)), M @ mu, beta, *self._augment_extra(M, C, K, Sg, Qz))
            S = solve_discrete_lyapunov(M, Q)
            return float(np.trace(cov @ S))
        if wf == "accumulate":
            raise ValueError("stationary_error: under accumulation use accumulate_limit (the pooled fit converges)")
        g = self.g
        EM = self._EM(g)
        if _unstable(EM):
            return math.inf
        I = np.eye(d)
        mu = np.linalg.solve(I - EM, self.b)
        # vec(E[M S M^T]) = L vec(S): L = (1-g)^2 (R Au) (x) (R Au) + g(1-g) sum_i (R x x^T) (x) (R x x^T)
        RA = self.R @ self.Au
        L = (1 - g) ** 2 * np.kron(RA, RA)
        if 0 < g < 1:
            RX = self.Xu @ self.R  # rows: (R x_i)^T
            for i in range(self.Xu.shape[0]):
                P = np.outer(RX[i], self.Xu[i])
                L += g * (1 - g) * np.kron(P, P)
        if _unstable(L):
            return math.inf
        Q = _second_moment(np.zeros((d, d)), EM @ mu, self.b, self.Q)
        S = np.linalg.solve(np.eye(d * d) - L, Q.reshape(-1)).reshape(d, d)
        return float(np.trace(cov @ S))


# --------------------------------------------------------------------------- public
def _setting(sample_size, dim, noise, mixing, design, ridge, cov, w_star, contamination, design_matrix):
    return _Setting(sample_size, dim, noise=noise, mixing=mixing, design=design, ridge=ridge, cov=cov, w_star=w_star,
                    contamination=contamination, design_matrix=design_matrix)


def _path(s: _Setting, n_max: int) -> np.ndarray:
    wf = s.mixing.workflow
    if wf not in THEORY_WORKFLOWS:
        raise ValueError(
            f"mixing: no exact expectation for the {wf!r} workflow (a uniform subsample of the pool: simulate it "
            f"with RegressionChain); accepted workflows: {', '.join(THEORY_WORKFLOWS)}"
        )
    if s.X is not None:
        return _Conditional(s).path(n_max)
    s.require_ols_average("the expected error")
    if s.design == "fresh":
        if wf in ("accumulate", "augment") and n_max >= 2:
            raise ValueError(
                f"mixing: the {wf!r} workflow with a fresh design has no closed form (the pooled Gram matrices are "
                "random weights); use design='fixed' with design_matrix=X, or simulate it"
            )
        return _fresh_design_path(s, n_max)[0]
    return _fixed_design_average(s, n_max)


def expected_error(generations, sample_size, dim, *, noise=1.0, mixing=None, design="fixed", ridge=0.0, cov=None,
                   w_star=None, contamination=None, design_matrix=None):
    r"""Exact :math:`E\|\hat w_n - w^*\|^2_\Sigma` after ``n`` generations (0 at ``n = 0``).

    Averaged over the Gaussian design (OLS, ``T >= d + 2``):

    * replace, fixed design: :math:`n\sigma^2 d/(T-d-1)` (Gerstgrasser et al. 2024);
    * accumulate, fixed design: :math:`\sigma^2 d/(T-d-1)\sum_{i=1}^n 1/i^2`;
    * fresh design (replace or fresh real rows, optionally contaminated): the
      exact recursion :math:`q_{t+1} = \bar c_s q_t + c(m_c)\|\delta\|^2_\Sigma + 2\kappa(m_c, \bar m_s) a_t\|\delta\|^2_\Sigma + \sigma^2 d/(T-d-1)`,
      :math:`a_{t+1} = m_c/T + (\bar m_s/T) a_t` (module docstring); with no
      fresh rows and no contamination it is :math:`n\sigma^2 d/(T-d-1)`, Dohmatob et al. (2024);
    * one generation with contamination: :math:`c(m_c)\|w_s - w^*\|^2_\Sigma + \sigma^2 d/(T-d-1)`
      (Dohmatob et al. 2025), either design.

    Given the design (``design_matrix=X``): exact for every workflow but
    accumulate-subsample, any ridge (e.g. replace OLS: :math:`n\sigma^2\operatorname{tr}(\Sigma(X^TX)^{-1})`).

    Parameters
    ----------
    generations : int or array_like of int
        ``n >= 0``.
    sample_size : int
        ``T``, rows of every dataset.
    dim : int
        ``d``.
    noise : float
        Label-noise standard deviation ``sigma`` (>= 0).
    mixing : Mixing or spec string, optional
        'replace' (default), 'fresh:G' (each row of every later dataset labelled
        by ``w*`` with probability ``G``), 'accumulate' (all label sets stacked),
        'augment:R' (the real dataset kept plus ``round(R T)`` synthetic rows).
    design : {'fixed', 'fresh'}
        The same ``X`` every generation, or a fresh Gaussian design.
    ridge : float
        Per-sample penalty ``lambda >= 0`` (``(X^TX + N lambda I)^{-1} X^T y`` on ``N`` rows).
    cov : array_like, shape (d, d), optional
        ``Sigma``, positive definite (default ``I``).
    w_star : array_like, shape (d,), optional
        The true weights (default ``(1, ..., 1)/sqrt(d)``); matters only with ridge or contamination.
    contamination : (float, array_like) or None
        ``(p, w_s)``: ``round(p T)`` rows of every dataset (the first ones)
        are labelled by the wrong model ``w_s`` (strong collapse).
    design_matrix : array_like, shape (T, d), optional
        The fixed design; the result is then the exact expectation given it.

    Returns
    -------
    float or ndarray
        Same shape as ``generations``.

    Raises
    ------
    ValueError
        ``T <= d + 1`` for OLS averaged over the design, negative ``noise`` or
        ``ridge``, a ``cov`` that is not positive definite, an unknown
        ``design``, or a setting without a closed form (the message names the
        parameter and the alternative).

    References
    ----------
    Gerstgrasser et al. (2024) arXiv 2404.01413; Dohmatob, Feng & Kempe (2024)
    arXiv 2402.07712; Dohmatob et al. (2025) arXiv 2410.04840. Derivations:
    :func:`derivations`.

    Examples
    --------
    >>> from collapse_theory.theory import regression as th
    >>> round(th.expected_error(12, 100, 10), 3)
    1.348
    >>> round(th.expected_error(12, 100, 10, mixing="accumulate"), 3)
    0.176
    """
    n, n_max = _generations(generations)
    s = _setting(sample_size, dim, noise, mixing, design, ridge, cov, w_star, contamination, design_matrix)
    return _take(_path(s, n_max), n)


def expected_test_error(generations, sample_size, dim, *, noise=1.0, **kwargs):
    r"""Expected test error on fresh real data, :math:`\sigma^2 + E\|\hat w_n - w^*\|^2_\Sigma`.

    Parameters
    ----------
    generations, sample_size, dim, noise, **kwargs
        As for :func:`expected_error`.

    Returns
    -------
    float or ndarray
        Same shape as ``generations``.

    Examples
    --------
    >>> from collapse_theory.theory import regression as th
    >>> round(th.expected_test_error(0, 100, 10), 3)
    1.0
    """
    e = expected_error(generations, sample_size, dim, noise=noise, **kwargs)
    return check_float("noise", noise, min=0.0) ** 2 + e


def accumulate_limit(sample_size, dim, *, noise=1.0, design_matrix=None, cov=None):
    r"""The limit of the accumulate error, :math:`(\pi^2/6)\,\sigma^2 d/(T-d-1)` (OLS, fixed design).

    Given the design: :math:`(\pi^2/6)\,\sigma^2\operatorname{tr}(\Sigma(X^TX)^{-1})`.
    Dey & Donoho (2024): accumulation inflates the first generation's variance
    by at most :math:`\pi^2/6 \approx 1.645`.

    Parameters
    ----------
    sample_size, dim : int
        ``T >= d + 2`` (averaged over the design), ``d``.
    noise : float
        ``sigma``.
    design_matrix : array_like, shape (T, d), optional
        The fixed design (then the value given it).
    cov : array_like, shape (d, d), optional
        ``Sigma`` (the value averaged over the design does not depend on it).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        ``T <= d + 1`` without a design, a ``cov`` that is not positive definite.

    Examples
    --------
    >>> from collapse_theory.theory import regression as th
    >>> round(th.accumulate_limit(100, 10), 3)
    0.185
    """
    s = _setting(sample_size, dim, noise, None, "fixed", 0.0, cov, None, None, design_matrix)
    if s.X is not None:
        return math.pi**2 / 6 * s.sigma**2 * float(np.trace(s.cov @ np.linalg.inv(s.X.T @ s.X)))
    s.require_ols_average("the accumulate limit")
    return math.pi**2 / 6 * ols_variance(s.T, s.d, s.sigma)


def stationary_error(sample_size, dim, *, noise=1.0, mixing=None, design="fresh", ridge=0.0, cov=None, w_star=None,
                     contamination=None, design_matrix=None):
    r"""``lim_t E||w_t - w*||^2_Sigma`` for the fresh and augmentation workflows (``inf`` if it diverges).

    Fresh design, OLS: the fixed point of the scalar recursion of
    :func:`expected_error`, :math:`q^* = (c(m_c)\|\delta\|^2 + 2\kappa a^*\|\delta\|^2 + \sigma^2 d/(T-d-1))/(1-\bar c_s)`,
    :math:`a^* = (m_c/T)/(1-\bar m_s/T)`; without contamination
    :math:`\sigma^2 d/((T-d-1)(1-\bar c_s))`. Given the design (fixed
    design, any ridge): the fixed point of the exact moment recursion
    (a Stein equation, solved directly). Replace with OLS and no
    contamination diverges (``inf``); accumulation: :func:`accumulate_limit`.

    Parameters
    ----------
    sample_size, dim, noise, mixing, ridge, cov, w_star, contamination, design_matrix
        As for :func:`expected_error`.
    design : {'fresh', 'fixed'}
        Default 'fresh' (the design-averaged value exists only there; a fixed
        design needs ``design_matrix``).

    Returns
    -------
    float
        ``inf`` when the recursion is not contracting.

    Raises
    ------
    ValueError
        A setting without a closed form (the message names the parameter).

    Examples
    --------
    >>> from collapse_theory.theory import regression as th
    >>> q = th.stationary_error(100, 10, mixing="fresh:0.5")
    >>> bool(0.11236 < q < 2 * 0.11237)
    True
    """
    s = _setting(sample_size, dim, noise, mixing, design, ridge, cov, w_star, contamination, design_matrix)
    wf = s.mixing.workflow
    if wf == "accumulate" and s.X is None:
        if s.m_c or s.gamma:
            raise ValueError("mixing: no closed-form limit for accumulation with fresh rows or contamination")
        return accumulate_limit(s.T, s.d, noise=s.sigma, cov=s.cov)
    if s.X is not None:
        return _Conditional(s).stationary()
    s.require_ols_average("the stationary error")
    if s.design != "fresh":
        raise ValueError("design: the design-averaged stationary value is exact for design='fresh'; for a fixed "
                         "design pass design_matrix=X")
    if wf not in ("replace", "fresh"):
        raise ValueError(f"mixing: no closed-form stationary value for {wf!r} with a fresh design")
    _, _, (c_syn, c_con, k_cs, Em, v) = _fresh_design_path(s, 1)
    if c_syn >= 1.0:
        return math.inf
    a = (s.m_c / s.T) / (1 - Em / s.T)
    return (c_con * s.delta_sq + 2 * k_cs * a * s.delta_sq + v) / (1 - c_syn)


def downstream_error(generations, sample_size, dim, *, downstream_size=None, noise=1.0, downstream_noise=None,
                     mixing=None, cov=None, w_star=None, contamination=None, downstream_ridge=0.0, downstream_design=None):
    r"""Excess test error of a downstream fit on labels made by generation ``n`` (fresh design, OLS chain).

    A model is fitted to ``T_d`` rows labelled by :math:`\hat w_n` plus noise of
    s.d. :math:`\sigma_d`; it is independent of the chain given :math:`\hat w_n`.
    With a fresh Gaussian downstream design and OLS:

    .. math:: E\|\hat w_d - w^*\|^2_\Sigma = \sigma_d^2\, d/(T_d - d - 1) + E\|\hat w_n - w^*\|^2_\Sigma,

    for replace, isotropic: :math:`\sigma_d^2 d/(T_d-d-1) + n\sigma^2 d/(T-d-1)`
    (Dohmatob, Feng & Kempe 2024, Thm 4.1, with :math:`T_0 = T`, :math:`\sigma_0 = \sigma`).

    Ridge downstream fits and any ``Sigma`` (their theorem's general case) are
    evaluated exactly given the downstream design ``X_d``
    (``downstream_design``; :math:`A = X_d^TX_d`, :math:`R = (A + T_d\lambda_d I)^{-1}`):
    the OLS chain's error is rotation invariant in the whitened coordinates,
    :math:`E e_n e_n^T = (q_n/d)\Sigma^{-1}` with :math:`q_n = E\|e_n\|^2_\Sigma`, so

    .. math:: E\|\hat w_d - w^*\|^2_\Sigma = \frac{q_n}{d}\operatorname{tr}(\Sigma R A \Sigma^{-1} A R)
              + T_d^2\lambda_d^2\, w^{*T} R \Sigma R w^* + \sigma_d^2 \operatorname{tr}(\Sigma R A R).

    A ridge downstream fit averaged over a random design has no finite-sample
    closed form (a Wishart spectral integral) and raises ``ValueError``.

    Parameters
    ----------
    generations : int or array_like of int
    sample_size, dim : int
        ``T`` and ``d`` of the chain (``T >= d + 2``).
    downstream_size : int, optional
        ``T_d >= d + 2`` (default ``T``, or the rows of ``downstream_design``).
    noise : float
        ``sigma`` of the chain's labels.
    downstream_noise : float, optional
        ``sigma_d`` of the downstream labels (default ``noise``).
    mixing, cov, w_star, contamination
        As for :func:`expected_error` (fresh design; with ``downstream_design``
        no contamination, which breaks the rotation invariance).
    downstream_ridge : float
        ``lambda_d >= 0``, the downstream fit's per-sample penalty.
    downstream_design : array_like, shape (T_d, d), optional
        The downstream design (then exact given it).

    Returns
    -------
    float or ndarray
        Same shape as ``generations``.

    Raises
    ------
    ValueError
        ``T_d <= d + 1`` for a random OLS downstream design, a ridge without a
        ``downstream_design``, or as :func:`expected_error`.

    Examples
    --------
    >>> from collapse_theory.theory import regression as th
    >>> round(th.downstream_error(2, 100, 10), 5)  # 3 d / (T - d - 1)
    0.33708
    """
    s = _setting(sample_size, dim, noise, mixing, "fresh", 0.0, cov, w_star, contamination, None)
    sd = s.sigma if downstream_noise is None else check_float("downstream_noise", downstream_noise, min=0.0)
    lam = check_float("downstream_ridge", downstream_ridge, min=0.0)
    q = np.asarray(expected_error(generations, s.T, s.d, noise=s.sigma, mixing=s.mixing, design="fresh", cov=s.cov,
                                  w_star=s.w_star, contamination=contamination), dtype=np.float64)
    if downstream_design is None:
        Td = s.T if downstream_size is None else check_int("downstream_size", downstream_size, min=1)
        if lam != 0:
            raise ValueError(
                f"downstream_ridge = {lam}: a ridge downstream fit averaged over a random design has no finite-sample "
                "closed form; pass downstream_design=X_d for the exact value given the downstream design"
            )
        if Td <= s.d + 1:
            raise ValueError(f"downstream_size: OLS needs T_d >= d + 2 for a finite expected error, got {Td}")
        out = q + sd * sd * s.d / (Td - s.d - 1)
        return float(out) if out.ndim == 0 else out
    if s.m_c:
        raise ValueError("contamination: with downstream_design the chain's error must be rotation invariant; "
                         "contamination gives it a direction (use a random downstream design)")
    Xd = check_array("downstream_design", downstream_design, ndim=2)
    if Xd.shape[1] != s.d:
        raise ValueError(f"downstream_design must have {s.d} columns, got shape {Xd.shape}")
    Td = Xd.shape[0]
    if downstream_size is not None and check_int("downstream_size", downstream_size, min=1) != Td:
        raise ValueError(f"downstream_size = {downstream_size} but downstream_design has {Td} rows")
    A = Xd.T @ Xd
    if lam == 0 and np.linalg.matrix_rank(A) < s.d:
        raise ValueError("downstream_design must have rank dim for an OLS downstream fit (downstream_ridge=0)")
    R = np.linalg.inv(A + Td * lam * np.eye(s.d))
    C = s.cov
    RA = R @ A
    chain_part = float(np.trace(C @ RA @ np.linalg.inv(C) @ RA.T)) / s.d
    bias = (Td * lam) ** 2 * float(s.w_star @ R @ C @ R @ s.w_star)
    var = sd * sd * float(np.trace(C @ R @ A @ R))
    out = q * chain_part + bias + var
    return float(out) if out.ndim == 0 else out


def strong_collapse_floor(share, w_s, *, w_star=None, cov=None):
    r"""The strong-collapse floor :math:`p^2\|w_s - w^*\|^2_\Sigma`: the OLS error as ``T -> inf`` with a share ``p`` of labels from ``w_s``.

    The exact finite-``T`` value is
    ``expected_error(1, T, d, contamination=(p, w_s))`` =
    :math:`c(pT)\|w_s-w^*\|^2_\Sigma + \sigma^2 d/(T-d-1)`, and
    :math:`c(pT) \to p^2` (Dohmatob et al. 2025, "Strong model collapse").

    Parameters
    ----------
    share : float
        ``p`` in [0, 1).
    w_s : array_like, shape (d,)
        The wrong model.
    w_star : array_like, shape (d,), optional
        The truth (default ``(1, ..., 1)/sqrt(d)``).
    cov : array_like, shape (d, d), optional
        ``Sigma`` (default ``I``).

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from collapse_theory.theory import regression as th
    >>> round(th.strong_collapse_floor(0.1, np.zeros(4), w_star=np.ones(4)), 12)
    0.04
    """
    w_s = check_array("w_s", w_s, ndim=1)
    d = w_s.size
    # the floor depends on neither T nor sigma: any valid setting carries the checks of share, w_star and cov
    s = _setting(d + 2, d, 1.0, None, "fixed", 0.0, cov, w_star, (share, w_s), None)
    return float(s.p**2 * s.delta_sq)


# --------------------------------------------------------------------------- SymPy
@lru_cache(maxsize=1)
def derivations() -> dict:
    r"""SymPy derivations of the closed forms of this module.

    Returns
    -------
    dict of str to Derivation
        ``replace`` (sum of independent OLS noises, inverse-Wishart mean),
        ``accumulate`` (``e_t = e_{t-1} + xi_t/t``, the sum and its pi^2/6
        limit), ``haar_moments`` (fourth moments of a Haar column used
        below), ``projection_moments`` (``c(m)``, ``kappa``, their checks
        and ``lim c(pT) = p^2``), ``fresh_design`` (the scalar recursion and
        its fixed point), ``strong_collapse`` (finite ``T`` and the floor),
        ``downstream`` (Dohmatob et al.'s formula), ``given_design`` (the
        affine moment recursion for a fixed design) and ``augment`` (the same
        with the kept real noise).
    """
    import sympy as sp

    n, T, d, sig, i, _t = sp.symbols("n T d sigma i t", positive=True)
    m, m1, m2, p, D2, q, a, cs, cc, kc, Em = sp.symbols(
        "m m_1 m_2 p Delta^2 q a cbar_s c_c kappa_cs mbar_s", positive=True)
    out = {}
    v = sig**2 * d / (T - d - 1)
    # replace: e_n = sum of n independent N(0, sigma^2 A^{-1}); E A^{-1} = I/(T-d-1)
    xi2 = sp.Symbol("E||xi||^2")
    out["replace"] = Derivation(
        "E||w_n - w*||^2, replace, OLS, fixed Gaussian design",
        [("one step: e_t = e_{t-1} + xi_t, xi_t = A^{-1} X^T eps_t independent", sp.Eq(sp.Symbol("E||e_t||^2"), sp.Symbol("E||e_{t-1}||^2") + xi2)),
         ("inverse-Wishart mean: E tr A^{-1} = d/(T-d-1)", sp.Eq(xi2, v)),
         ("n steps", sp.Sum(v, (i, 1, n)).doit())],
        sp.simplify(n * v), source=_SOURCES["gerstgrasser"])
    # accumulate: e_t = e_{t-1} + xi_t / t
    acc = sp.Sum(v / i**2, (i, 1, n))
    out["accumulate"] = Derivation(
        "E||w_n - w*||^2, accumulate, OLS, fixed design",
        [("pooled fit of t stacked label sets: t e_t = sum_{i<t} (e_i + xi_i), so e_t = e_{t-1} + xi_t / t", sp.Symbol("e_t")),
         ("independent steps", acc),
         ("limit n -> oo", sp.Eq(sp.Limit(acc, n, sp.oo), sp.simplify(acc.subs(n, sp.oo).doit())))],
        acc, source=_SOURCES["gerstgrasser"] + "; " + _SOURCES["dey"])
    # Haar moments of one column u of an orthogonal T x T matrix (Weingarten calculus)
    u4, u22, u22x, ux = 3 / (T * (T + 2)), 1 / (T * (T + 2)), (T + 1) / (T * (T - 1) * (T + 2)), -1 / (T * (T - 1) * (T + 2))
    out["haar_moments"] = Derivation(
        "fourth moments of Haar-orthogonal entries U_ij",
        [("E U_ij^4", u4), ("E U_ij^2 U_i'j^2 = E U_ij^2 U_ik^2", u22),
         ("E U_ij^2 U_i'k^2 (i != i', j != k)", u22x), ("E U_ij U_ik U_i'j U_i'k (i != i', j != k)", ux)],
        u4, source="Collins & Sniady 2006 (Weingarten calculus); standard")
    # c(m): X = U S V^T, B = U^T D U, ||A^{-1} A_m||_F^2 = sum_jk (s_k/s_j)^2 B_jk^2
    diag = m * u4 + m * (m - 1) * u22  # E B_jj^2
    off = m * u22 + m * (m - 1) * ux  # E B_jk^2
    trtr = d * (T * d - 2) / (T - d - 1)  # E tr A tr A^{-1}
    c_expr = sp.factor(sp.simplify((d * diag + off * (trtr - d)) / d))
    kap = sp.factor(sp.simplify((d * m1 * m2 * u22 + m1 * m2 * ux * (trtr - d)) / d))
    c_pub = m * (m + 2) / (T * (T + 2)) + m * (T - m) * (T + 1) * (d - 1) / (T * (T - 1) * (T + 2) * (T - d - 1))
    k_pub = m1 * m2 / (T * (T + 2)) * (1 - (T + 1) * (d - 1) / ((T - 1) * (T - d - 1)))
    out["projection_moments"] = Derivation(
        "E[P_m^T P_m] = c(m) I and E[P_1^T P_2] = kappa I for Gram shares of disjoint row groups",
        [("E B_jj^2 (B = U^T D_m U)", sp.factor(diag)), ("E B_jk^2, j != k", sp.factor(off)),
         ("E tr A tr A^{-1} for A ~ Wishart_d(T, I)", trtr),
         ("c(m) = (d E B_jj^2 + E B_jk^2 (E tr A tr A^{-1} - d)) / d", c_expr),
         ("kappa(m1, m2)", kap),
         ("matches the stated form", sp.simplify(c_expr - c_pub) == 0 and sp.simplify(kap - k_pub) == 0),
         ("c(T) = 1", sp.simplify(c_expr.subs(m, T))),
         ("c(m) + kappa(m, T - m) = m/T", sp.simplify(c_expr + kap.subs({m1: m, m2: T - m}) - m / T) == 0),
         ("lim_{T->oo} c(pT)", sp.limit(c_expr.subs(m, p * T), T, sp.oo))],
        c_expr, source=_SOURCES["here"])
    qn = cs * q + cc * D2 + 2 * kc * a * D2 + v
    an = m / T + (Em / T) * a
    fixed = sp.solve([sp.Eq(q, qn), sp.Eq(a, an)], [q, a], dict=True)[0]
    out["fresh_design"] = Derivation(
        "fresh design each generation: recursion for (E||e_t||^2, a_t), E e_t = a_t delta (m = m_c contaminated rows)",
        [("e' = P_c delta + P_s e + A^{-1} X^T eps", sp.Eq(sp.Symbol("q'"), qn)), ("mean", sp.Eq(sp.Symbol("a'"), an)),
         ("fixed point q*", sp.factor(fixed[q])), ("fixed point a*", sp.factor(fixed[a])),
         ("no contamination", sp.factor(fixed[q].subs({D2: 0})))],
        sp.factor(fixed[q]), source=_SOURCES["dohmatob"] + "; " + _SOURCES["here"])
    sc = c_pub.subs(m, p * T) * D2 + v
    out["strong_collapse"] = Derivation(
        "one OLS fit with a share p of labels from w_s",
        [("e = P_c (w_s - w*) + A^{-1} X^T eps", sc), ("T -> oo", sp.limit(sc, T, sp.oo))],
        sp.limit(sc, T, sp.oo), source=_SOURCES["strong"])
    Td, s0 = sp.symbols("T_d sigma_d", positive=True)
    out["downstream"] = Derivation(
        "downstream OLS fit on T_d fresh rows labelled by generation n",
        [("independent of the chain given w_n", sp.Symbol("E||e_n||^2") + s0**2 * d / (Td - d - 1)),
         ("ridge, any Sigma, given X_d: E e_n e_n^T = (q_n/d) Sigma^{-1} (rotation invariance of the OLS chain)",
          sp.Symbol("q_n/d tr(Sigma R A Sigma^-1 A R) + (T_d lambda)^2 w*^T R Sigma R w* + sigma_d^2 tr(Sigma R A R)")),
         ("replace, ridgeless, isotropic", s0**2 * d / (Td - d - 1) + n * v)],
        s0**2 * d / (Td - d - 1) + n * v, source=_SOURCES["dohmatob"])
    Mx, S, b, Qx, C, K, Sg = (sp.MatrixSymbol(k, 3, 3) for k in ("M", "S", "b b^T", "Q", "C", "K", "Sigma_g"))
    mu = sp.MatrixSymbol("mu", 3, 1)
    bv = sp.MatrixSymbol("b", 3, 1)
    out["given_design"] = Derivation(
        "moments of e' = M e + b + R X^T eps given the design (M = R A_syn random with fresh rows)",
        [("mean", sp.Eq(sp.MatrixSymbol("mu'", 3, 1), sp.MatrixSymbol("E[M]", 3, 3) * mu + bv)),
         ("E[A_syn S A_syn] = (1-g)^2 A_u S A_u + g(1-g) sum_i x_i x_i^T S x_i x_i^T", sp.Symbol("rows' fourth moments")),
         ("second moment", sp.Eq(sp.MatrixSymbol("S'", 3, 3), sp.MatrixSymbol("E[M S M^T]", 3, 3) + b + Qx))],
        sp.MatrixSymbol("E[M S M^T]", 3, 3) + b + Qx, source=_SOURCES["here"])
    out["augment"] = Derivation(
        "augmentation given the design: e' = M e + beta + K g_0 + zeta, g_0 = X^T eps_0 kept",
        [("cross moment", sp.Eq(sp.MatrixSymbol("C'", 3, 3), Mx * C + K * Sg)),
         ("second moment", sp.Eq(sp.MatrixSymbol("S'", 3, 3), Mx * S * Mx.T + Mx * C * K.T + K * C.T * Mx.T + K * Sg * K.T + Qx + b))],
        Mx * S * Mx.T + Mx * C * K.T + K * C.T * Mx.T + K * Sg * K.T + Qx + b, source=_SOURCES["here"])
    return out
