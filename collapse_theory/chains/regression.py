"""The regression collapse chain: linear models refitted on their own labels.

Generation 0 is real data: a design ``X`` (``T x d``, rows ``x ~ N(0, Sigma)``)
labelled ``y_0 = X w* + eps``, ``eps ~ N(0, sigma^2 I)``. Generation ``t >= 1``
fits ``w_t`` (OLS, or ridge with per-sample penalty ``lambda``: on ``N`` rows,
``w = (X^T X + N lambda I)^{-1} X^T y``) to the data of generation ``t - 1``;
the next labels are ``X' w_t`` plus fresh noise, where ``X'`` is the same
``X`` (``design="fixed"``, Gerstgrasser et al. 2024) or a fresh draw
(``design="fresh"``, Dohmatob, Feng & Kempe 2024). So ``w_1`` is the fit on
real labels and column 0 of every result is the truth (error 0).

Where the rows' labels come from is a :class:`~collapse_theory.Mixing`:

* replace: every row of dataset ``t`` is labelled by ``w_t``;
* fresh (``Mixing.fresh(real=g)``): each row of every later dataset is
  labelled by ``w*`` with probability ``g`` (otherwise by ``w_t``);
* accumulate: every label set is kept and the fit is on all of them stacked
  (``Mixing.accumulate(real=g)`` adds the fresh share to each new set);
* accumulate-subsample: the fit is on ``T`` rows drawn uniformly without
  replacement from that stack (Kazdan et al. 2024);
* augment (``Mixing.augment(synthetic_ratio=r)``): the real dataset is kept and
  ``round(r T)`` synthetic rows labelled by ``w_t`` are added (with a fixed
  design they cycle through the rows of ``X``).

``contamination=(p, w_s)`` labels the first ``round(p T)`` rows of every
dataset (and ``round(p r T)`` of an augmentation block) by a wrong model ``w_s``
(strong model collapse, Dohmatob et al. 2025).

Two methods, equal in distribution (tested):

* ``"exact"`` draws sufficient statistics instead of rows: a dataset enters a
  fit only through its Gram matrix ``A = X^T X`` and moment ``X^T y =
  sum_groups A_j w_j + X^T eps`` with ``X^T eps | X ~ N(0, sigma^2 A)``, so one
  step costs ``d`` normals and a few ``d x d`` products (with a fixed design,
  ``A``, its square root and the fit's inverse are computed once per
  replicate); with a fresh design each group's Gram matrix is a
  ``Wishart_d(m, Sigma)`` draw (Bartlett decomposition; raw rows when ``m < d``),
  its noise ``L z`` for the factor ``L`` drawn with it.
* ``"sample"`` draws every row and label and refits explicitly (normal
  equations of the stacked data). It is the only method for
  accumulate-subsample (the subset mixes rows of different label sets).

Randomness: replicates are run in blocks of :data:`BLOCK`, each block from its
own stream ``child(seed, block)``; the Numba kernel only does arithmetic on
pre-drawn variates, so results do not depend on the number of threads.
"""

from __future__ import annotations

import math
from dataclasses import KW_ONLY, dataclass, field

import numpy as np

from .._progress import progress
from .._rng import child, seed_sequence
from .._validate import (
    check_array,
    check_choice,
    check_contamination,
    check_covariance,
    check_float,
    check_int,
    check_vector,
)
from ..process import check_mixing
from ._result import _Paths

__all__ = ["BLOCK", "DESIGNS", "WORKFLOWS", "RegressionChain", "RegressionRun"]

#: Designs offered.
DESIGNS = ("fixed", "fresh")
#: Workflows (``Mixing.workflow``) the chain honours.
WORKFLOWS = ("replace", "fresh", "accumulate", "accumulate-subsample", "augment")
#: Replicates drawn from one random stream.
BLOCK = 1024
#: Generations whose noises are drawn in one call (bounds memory: BLOCK * _GCHUNK * d doubles).
_GCHUNK = 128


@dataclass
class RegressionRun(_Paths):
    """Paths of :meth:`RegressionChain.simulate`.

    Attributes
    ----------
    error : ndarray, shape (R, G + 1)
        :math:`\\|\\hat w_t - w^*\\|^2_\\Sigma`, the excess test error; column 0 is the truth (0).
    test_error : ndarray, shape (R, G + 1)
        Expected squared error on a fresh real point, :math:`\\sigma^2 + \\|\\hat w_t - w^*\\|^2_\\Sigma`
        (exact over the test point).
    weights : ndarray, shape (R, G + 1, d), or None
        :math:`\\hat w_t` (``return_weights=True``); ``weights[:, 0]`` is ``w*``.
    downstream_error : ndarray, shape (R, G + 1), or None
        ``design="fresh"`` only: excess test error of a model fitted (penalty
        ``downstream_ridge``) to ``downstream_size`` fresh rows labelled by :math:`\\hat w_t` plus noise
        (Dohmatob, Feng & Kempe 2024).
    method, design, workflow : str
    params : dict
    """

    _PATHS = "error"

    error: np.ndarray
    test_error: np.ndarray
    method: str
    design: str
    workflow: str
    weights: np.ndarray | None = None
    downstream_error: np.ndarray | None = None
    params: dict = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class RegressionChain:
    """Linear regression refitted, generation after generation, on labels made by its predecessor.

    Parameters
    ----------
    dim : int
        ``d``, the number of features.
    sample_size : int
        ``T``, rows per dataset (``T >= d + 2`` for OLS: the expected error is infinite otherwise).
    noise : float
        ``sigma``, the label-noise standard deviation (>= 0).
    cov : array_like, shape (d, d), optional
        ``Sigma``, the covariance of the rows (positive definite; default ``I``).
    ridge : float
        Per-sample ridge penalty ``lambda >= 0`` (0: OLS).
    design : {'fixed', 'fresh'}
        The same design every generation, or a fresh Gaussian design.
    mixing : Mixing or spec string
        One of :data:`WORKFLOWS` (default replace).
    w_star : array_like, shape (d,), optional
        The true weights (default ``(1, ..., 1)/sqrt(d)``).
    contamination : (float, array_like) or None
        ``(p, w_s)``: a share ``p`` in [0, 1) of every dataset's rows (the
        first ``round(p T)``) is labelled by the wrong model ``w_s``.
    design_matrix : array_like, shape (T, d), optional
        ``design="fixed"`` only: this design for every replicate (default: a
        Gaussian design drawn per replicate).
    downstream_size : int, optional
        ``design="fresh"``: rows of the downstream fit (default ``T``).
    downstream_ridge : float, optional
        Per-sample ridge penalty of the downstream fit (default ``ridge``;
        Dohmatob et al. fit the chain by OLS and the downstream model by ridge).
    downstream_design : array_like, shape (T_d, d), optional
        One downstream design for every replicate and generation (default: a
        fresh Gaussian design each time); the theory is then exact given it
        for any ridge and ``Sigma``.

    Raises
    ------
    ValueError
        ``T <= d + 1`` with ``ridge=0``, negative ``ridge`` or ``noise``, a
        ``cov`` that is not positive definite, a ``design`` not offered, a
        workflow not offered (the message names the parameter).

    Examples
    --------
    >>> import collapse_theory as ct
    >>> rc = ct.RegressionChain(10, 100, mixing=ct.Mixing.accumulate())
    >>> run = rc.simulate(5, 200, rng=0)
    >>> run.error.shape, float(run.error[:, 0].max())
    ((200, 6), 0.0)
    """

    dim: int
    sample_size: int
    _: KW_ONLY
    noise: float = 1.0
    cov: object = None
    ridge: float = 0.0
    design: str = "fixed"
    mixing: object = None
    w_star: object = None
    contamination: object = None
    design_matrix: object = None
    downstream_size: int | None = None
    downstream_ridge: float | None = None
    downstream_design: object = None
    show_progress: bool = False

    def __post_init__(self):
        put = lambda k, v: object.__setattr__(self, k, v)
        d = check_int("dim", self.dim, min=1)
        T = check_int("sample_size", self.sample_size, min=1)
        put("dim", d)
        put("sample_size", T)
        put("noise", check_float("noise", self.noise, min=0.0))
        put("ridge", check_float("ridge", self.ridge, min=0.0))
        put("design", check_choice("design", self.design, DESIGNS))
        put("mixing", check_mixing(self.mixing, WORKFLOWS, where="RegressionChain"))
        if self.cov is None:
            cov = np.eye(d)
        else:
            c = check_covariance("cov", self.cov, d=d if np.ndim(self.cov) == 2 else None)
            cov = float(c) * np.eye(d) if c.ndim == 0 else c
        try:
            chol = np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            raise ValueError("cov must be positive definite (its Cholesky factorisation failed)") from None
        cov.setflags(write=False)
        put("cov", cov)
        object.__setattr__(self, "_chol", chol)
        if self.w_star is None:
            w = np.full(d, 1.0 / math.sqrt(d))
        else:
            w = check_vector("w_star", self.w_star, d)
        w.setflags(write=False)
        put("w_star", w)
        if self.contamination is not None:
            p, ws = check_contamination(self.contamination, d)
            ws.setflags(write=False)
            put("contamination", (p, ws))
        if self.design_matrix is not None:
            if self.design != "fixed":
                raise ValueError("design_matrix needs design='fixed' (a fresh design is drawn every generation)")
            X = check_array("design_matrix", self.design_matrix, ndim=2)
            if X.shape != (T, d):
                raise ValueError(f"design_matrix must have shape (sample_size, dim) = ({T}, {d}), got {X.shape}")
            if self.ridge == 0 and np.linalg.matrix_rank(X) < d:
                raise ValueError("design_matrix must have rank dim for OLS (ridge=0): X^T X is singular")
            X.setflags(write=False)
            put("design_matrix", X)
        elif self.ridge == 0 and T <= d + 1:
            raise ValueError(
                f"sample_size: OLS (ridge=0) needs T >= d + 2 rows; with T = {T} <= d + 1 = {d + 1} the expected "
                "error is infinite (E tr (X^T X)^-1 = d/(T-d-1)); use more rows or ridge > 0"
            )
        down_lam = self.ridge if self.downstream_ridge is None else check_float("downstream_ridge", self.downstream_ridge, min=0.0)
        put("downstream_ridge", down_lam if self.design == "fresh" else None)
        if self.downstream_design is not None:
            if self.design != "fresh":
                raise ValueError("downstream_design needs design='fresh' (the downstream fit of Dohmatob et al.)")
            Xd = check_array("downstream_design", self.downstream_design, ndim=2)
            if Xd.shape[1] != d:
                raise ValueError(f"downstream_design must have {d} columns, got shape {Xd.shape}")
            if self.downstream_size is not None and self.downstream_size != Xd.shape[0]:
                raise ValueError(f"downstream_size = {self.downstream_size} but downstream_design has {Xd.shape[0]} rows")
            if down_lam == 0 and np.linalg.matrix_rank(Xd) < d:
                raise ValueError("downstream_design must have rank dim for an OLS downstream fit (downstream_ridge=0)")
            Xd.setflags(write=False)
            put("downstream_design", Xd)
            put("downstream_size", Xd.shape[0])
        elif self.downstream_size is not None:
            if self.design != "fresh":
                raise ValueError("downstream_size needs design='fresh' (the downstream fit of Dohmatob et al.)")
            Td = check_int("downstream_size", self.downstream_size, min=1)
            if down_lam == 0 and Td <= d + 1:
                raise ValueError(f"downstream_size: OLS needs T_d >= d + 2, got {Td}")
            put("downstream_size", Td)
        elif self.design == "fresh":
            put("downstream_size", T)
            if down_lam == 0 and T <= d + 1:
                raise ValueError(f"downstream_size: an OLS downstream fit needs T_d >= d + 2, got the default T = {T}")
        if self.mixing.workflow == "augment":
            ns = round(self.mixing.synthetic_ratio * T)
            if ns < 1:
                raise ValueError(f"mixing.synthetic_ratio = {self.mixing.synthetic_ratio} gives no synthetic row at T = {T}")

    # ----------------------------------------------------------------- helpers
    @property
    def _m_c(self) -> int:
        return 0 if self.contamination is None else round(self.contamination[0] * self.sample_size)

    @property
    def _w_s(self):
        return self.w_star if self.contamination is None else self.contamination[1]

    def _params(self, **more) -> dict:
        return {
            "dim": self.dim, "sample_size": self.sample_size, "noise": self.noise, "ridge": self.ridge,
            "design": self.design, "mixing": self.mixing.to_spec(),
            "contamination": None if self.contamination is None else [self.contamination[0], self.contamination[1].tolist()],
            "design_matrix": self.design_matrix is not None, "downstream_size": self.downstream_size,
            "downstream_ridge": self.downstream_ridge, "downstream_design": self.downstream_design is not None, **more,
        }

    def simulate(self, generations, replicates, *, rng=None, method="auto", return_weights=False,
                 show_progress=None) -> RegressionRun:
        """Run ``replicates`` independent chains for ``generations`` generations.

        Parameters
        ----------
        generations : int
            ``G >= 0``.
        replicates : int
            ``R >= 1``.
        rng : None, int, SeedSequence or Generator
        method : {'auto', 'exact', 'sample'}
            'exact' draws sufficient statistics; 'sample' draws rows and refits;
            'auto' is 'exact' except for accumulate-subsample.
        return_weights : bool
            Keep ``weights`` (R, G + 1, d).
        show_progress : bool, optional
            Default: the chain's ``show_progress``.

        Returns
        -------
        RegressionRun
            ``error``, ``test_error`` (R, G + 1); ``weights``; ``downstream_error`` (fresh design).
        """
        G = check_int("generations", generations, min=0)
        R = check_int("replicates", replicates, min=1)
        method = check_choice("method", method, ("auto", "exact", "sample"))
        wf = self.mixing.workflow
        if method == "exact" and wf == "accumulate-subsample":
            raise ValueError("method='exact' cannot draw a uniform subsample of stacked label sets from sufficient "
                             "statistics; use method='sample' (or 'auto') for accumulate-subsample")
        if method == "auto":
            method = "sample" if wf == "accumulate-subsample" else "exact"
        d = self.dim
        # the weights are kept only when asked: one block at a time otherwise (memory B (G + 1) d)
        W = np.empty((R, G + 1, d)) if return_weights else None
        err = np.empty((R, G + 1))
        down = np.zeros((R, G + 1)) if self.design == "fresh" else None
        ss = seed_sequence(rng)
        nblocks = -(-R // BLOCK)
        show = self.show_progress if show_progress is None else show_progress
        bar = progress(total=nblocks * max(G, 1), desc=f"regression chain ({method})", show=show)
        run = self._run_exact if method == "exact" else self._run_sample
        for b in range(nblocks):
            rows = slice(b * BLOCK, min(R, (b + 1) * BLOCK))
            Wb = W[rows] if W is not None else np.empty((rows.stop - rows.start, G + 1, d))
            Wb[:, 0] = self.w_star
            gen = np.random.default_rng(child(ss, b))
            run(gen, Wb, None if down is None else down[rows], G, bar)
            err[rows] = _sigma_norm_sq(Wb - self.w_star, self.cov)
        bar.close()
        err[:, 0] = 0.0
        return RegressionRun(
            error=err, test_error=self.noise**2 + err, method=method, design=self.design, workflow=wf,
            weights=W, downstream_error=down,
            params=self._params(generations=G, replicates=R, method=method),
        )

    # ----------------------------------------------------------------- exact
    def _wishart(self, gen, m, B):
        """Gram matrices ``A ~ Wishart_d(m, Sigma)`` (``m``: (B,) ints) and noises ``X^T eps ~ N(0, sigma^2 A)``."""
        d = self.dim
        L = self._chol
        m = np.broadcast_to(np.asarray(m, dtype=np.int64), (B,))
        A = np.zeros((B, d, d))
        g = np.zeros((B, d))
        big = m >= d
        if big.any():
            mb = m[big]
            nb = mb.size
            jj = np.arange(d)
            F = np.zeros((nb, d, d))
            F[:, jj, jj] = np.sqrt(gen.chisquare((mb[:, None] - jj[None, :]).astype(np.float64)))
            il = np.tril_indices(d, -1)
            F[:, il[0], il[1]] = gen.standard_normal((nb, il[0].size))
            F = L @ F  # A = F F^T, Bartlett (Muirhead 1982, Thm 3.2.14)
            A[big] = F @ np.swapaxes(F, 1, 2)
            g[big] = self.noise * np.einsum("bij,bj->bi", F, gen.standard_normal((nb, d)))
        small = ~big
        if small.any():
            ms = m[small]
            ns = ms.size
            rows = gen.standard_normal((ns, d, d)) @ L.T  # d candidate rows, the first m kept
            rows *= (np.arange(d)[None, :] < ms[:, None])[..., None]
            A[small] = np.swapaxes(rows, 1, 2) @ rows
            g[small] = self.noise * np.einsum("bri,br->bi", rows, gen.standard_normal((ns, d)))
        return A, g

    def _fixed_parts(self, gen, B):
        """Per-replicate fixed design: rows X (B, T, d)."""
        T, d = self.sample_size, self.dim
        if self.design_matrix is not None:
            return np.broadcast_to(self.design_matrix, (B, T, d))
        return gen.standard_normal((B, T, d)) @ self._chol.T

    @staticmethod
    def _sqrt_psd(A):
        """``S`` with ``S S^T = A`` for PSD ``A`` of shape (..., d, d)."""
        ev, U = np.linalg.eigh(A)
        return U * np.sqrt(np.clip(ev, 0.0, None))[..., None, :]

    def _run_exact(self, gen, W, down, G, bar):
        B, d, T = W.shape[0], self.dim, self.sample_size
        lam, sig, wf = self.ridge, self.noise, self.mixing.workflow
        gam = self.mixing.real
        mc = self._m_c
        ws, wstar = self._w_s, self.w_star
        I = np.eye(d)
        mv = lambda M, v: np.einsum("bij,bj->bi", M, v)
        n_u = T - mc
        if self.design == "fixed":
            if gam == 0 and wf in ("replace", "accumulate") and self.design_matrix is None:
                # only the Gram matrices of the two row groups enter: Wishart draws, no rows
                Ac, _ = self._wishart(gen, np.full(B, mc), B)
                Au, _ = self._wishart(gen, np.full(B, n_u), B)
                A = Ac + Au
                try:
                    SA = np.linalg.cholesky(A)  # X^T eps = SA z
                except np.linalg.LinAlgError:  # T < d (ridge): a singular Gram matrix
                    SA = self._sqrt_psd(A)
            else:
                X = self._fixed_parts(gen, B)
                Xc, Xu = X[:, :mc], X[:, mc:]
                Ac = np.swapaxes(Xc, 1, 2) @ Xc
                Au = np.swapaxes(Xu, 1, 2) @ Xu
                A = Ac + Au
                SA = self._sqrt_psd(A)  # X^T eps = SA z
            Rinv = np.linalg.inv(A + T * lam * I)
            hc = mv(Ac, np.broadcast_to(ws, (B, d)))
            h_real = hc + mv(Au, np.broadcast_to(wstar, (B, d)))

            def dataset(t, w):
                """X^T y of dataset t (labels from w for the synthetic rows)."""
                noise = sig * mv(SA, gen.standard_normal((B, d)))
                if t == 0:
                    return h_real + noise
                if gam > 0:
                    real = gen.random((B, n_u)) < gam
                    Ar = np.swapaxes(Xu * real[..., None], 1, 2) @ Xu
                    return hc + mv(Ar, np.broadcast_to(wstar, (B, d))) + mv(Au - Ar, w) + noise
                return hc + mv(Au, w) + noise

            if wf == "augment":
                ns = round(self.mixing.synthetic_ratio * T)
                XB = X[:, np.arange(ns) % T]
                mb = round((0.0 if self.contamination is None else self.contamination[0]) * ns)
                ABc = np.swapaxes(XB[:, :mb], 1, 2) @ XB[:, :mb]
                ABs = np.swapaxes(XB[:, mb:], 1, 2) @ XB[:, mb:]
                SB = self._sqrt_psd(ABc + ABs)
                Ra = np.linalg.inv(A + ABc + ABs + (T + ns) * lam * I)
                h0 = dataset(0, None)
                hB = h0 + mv(ABc, np.broadcast_to(ws, (B, d)))
                for t in range(G):
                    if t == 0:
                        W[:, 1] = mv(Rinv, h0)
                    else:
                        h = hB + mv(ABs, W[:, t]) + sig * mv(SB, gen.standard_normal((B, d)))
                        W[:, t + 1] = mv(Ra, h)
                    bar.update(1)
                return
            if gam == 0 and wf in ("replace", "accumulate"):
                # every dataset is v_t = R X^T y_t - 0 = M w_t + c + N z_t (dataset 0 too: w_0 = w*),
                # with M, c, N fixed per replicate; the noises of a chunk of generations in one product
                M = Rinv @ Au
                c = mv(Rinv, hc)
                N = Rinv @ SA
                from ._kernels_regression import affine_chunk

                u = np.zeros((B, d))
                M, c, N = (np.ascontiguousarray(a) for a in (M, c, sig * N))
                for t0 in range(0, G, _GCHUNK):
                    n = min(G, t0 + _GCHUNK) - t0
                    affine_chunk(M, c, N, gen.standard_normal((B, n, d)), W, u, t0, wf == "accumulate")
                    bar.update(n)
                return
            H = np.zeros((B, d))
            for t in range(G):
                h = dataset(t, W[:, t])
                if wf == "accumulate":
                    H += h
                    W[:, t + 1] = mv(Rinv, H) / (t + 1)
                else:
                    W[:, t + 1] = mv(Rinv, h)
                bar.update(1)
            return

        # fresh design: every dataset's Gram matrices are new Wishart draws
        def fresh_dataset(t, w, n_rows=T, m_con=mc):
            nu = n_rows - m_con
            k = np.full(B, nu) if t == 0 else (gen.binomial(nu, gam, size=B) if gam > 0 else np.zeros(B, np.int64))
            Ar, gr = self._wishart(gen, k, B)
            As, gs = self._wishart(gen, nu - k, B)
            h = mv(Ar, np.broadcast_to(wstar, (B, d))) + gr + gs
            if w is not None:
                h += mv(As, w)
            Atot = Ar + As
            if m_con:
                Ac_, gc = self._wishart(gen, np.full(B, m_con), B)
                h += mv(Ac_, np.broadcast_to(ws, (B, d))) + gc
                Atot = Atot + Ac_
            return Atot, h

        def downstream(t):
            if down is None:
                return
            Td = self.downstream_size
            if self.downstream_design is not None:
                Xd = self.downstream_design
                Ad = np.broadcast_to(Xd.T @ Xd, (B, d, d))
                gd = sig * mv(np.broadcast_to(self._sqrt_psd(Xd.T @ Xd), (B, d, d)), gen.standard_normal((B, d)))
            else:
                Ad, gd = self._wishart(gen, np.full(B, Td), B)
            wd = np.linalg.solve(Ad + Td * self.downstream_ridge * I, (mv(Ad, W[:, t]) + gd)[..., None])[..., 0]
            down[:, t] = _sigma_norm_sq(wd - wstar, self.cov)

        if wf == "augment":
            ns = round(self.mixing.synthetic_ratio * T)
            mb = round((0.0 if self.contamination is None else self.contamination[0]) * ns)
            A0, h0 = fresh_dataset(0, None)
        Gp = np.zeros((B, d, d))
        Hp = np.zeros((B, d))
        for t in range(G):
            downstream(t)
            if wf == "augment" and t > 0:
                As, hs = fresh_dataset(1, W[:, t], n_rows=ns, m_con=mb)
                # synthetic block: every row labelled by w_t (the mixing has no fresh share)
                Atot, h, N = A0 + As, h0 + hs, T + ns
            elif wf == "augment":
                Atot, h, N = A0, h0, T
            else:
                Atot, h = fresh_dataset(t, None if t == 0 else W[:, t])
                N = T
                if wf == "accumulate":
                    Gp += Atot
                    Hp += h
                    Atot, h, N = Gp, Hp, (t + 1) * T
            W[:, t + 1] = np.linalg.solve(Atot + N * lam * I, h[..., None])[..., 0]
            bar.update(1)
        downstream(G)

    # ----------------------------------------------------------------- sample
    def _run_sample(self, gen, W, down, G, bar):
        B, d, T = W.shape[0], self.dim, self.sample_size
        lam, sig, wf = self.ridge, self.noise, self.mixing.workflow
        gam = self.mixing.real
        mc = self._m_c
        ws, wstar = self._w_s, self.w_star
        L = self._chol
        I = np.eye(d)
        Xfix = self._fixed_parts(gen, B) if self.design == "fixed" else None

        def rows(n):
            return gen.standard_normal((B, n, d)) @ L.T

        def labels(X, t, w, m_con):
            """Labels of one dataset: m_con rows by w_s, the rest by w* (real) or w (synthetic), plus noise."""
            n = X.shape[1]
            if t == 0 or w is None:
                src = np.broadcast_to(wstar, (B, d))
                lab = np.einsum("bni,bi->bn", X, src)
            else:
                syn = np.einsum("bni,bi->bn", X, w)
                if gam > 0:
                    real = gen.random((B, n)) < gam
                    lab = np.where(real, X @ wstar, syn)
                else:
                    lab = syn
            if m_con:
                lab[:, :m_con] = X[:, :m_con] @ ws
            return lab + sig * gen.standard_normal((B, n))

        def fit(X, y, lam=lam):
            N = X.shape[1]
            XtX = np.swapaxes(X, 1, 2) @ X
            Xty = np.einsum("bni,bn->bi", X, y)
            return np.linalg.solve(XtX + N * lam * I, Xty[..., None])[..., 0]

        def design(n=T):
            return Xfix if (self.design == "fixed" and n == T) else rows(n)

        def downstream(t):
            if down is None:
                return
            Xd = rows(self.downstream_size) if self.downstream_design is None else np.broadcast_to(
                self.downstream_design, (B, *self.downstream_design.shape))
            yd = np.einsum("bni,bi->bn", Xd, W[:, t]) + sig * gen.standard_normal((B, self.downstream_size))
            down[:, t] = _sigma_norm_sq(fit(Xd, yd, self.downstream_ridge) - wstar, self.cov)

        if wf == "augment":
            ns = round(self.mixing.synthetic_ratio * T)
            mb = round((0.0 if self.contamination is None else self.contamination[0]) * ns)
            X0 = design()
            y0 = labels(X0, 0, None, mc)
            XB = Xfix[:, np.arange(ns) % T] if self.design == "fixed" else None
            for t in range(G):
                downstream(t)
                if t == 0:
                    W[:, 1] = fit(X0, y0)
                else:
                    Xs = XB if XB is not None else rows(ns)
                    ys = np.einsum("bni,bi->bn", Xs, W[:, t]) + sig * gen.standard_normal((B, ns))
                    if mb:
                        ys[:, :mb] = Xs[:, :mb] @ ws + sig * gen.standard_normal((B, mb))
                    W[:, t + 1] = fit(np.concatenate([X0, Xs], axis=1), np.concatenate([y0, ys], axis=1))
                bar.update(1)
            downstream(G)
            return
        pool_X, pool_y = [], []
        for t in range(G):
            downstream(t)
            X = design()
            y = labels(X, t, W[:, t], mc)
            if wf == "accumulate":
                pool_X.append(X)
                pool_y.append(y)
                W[:, t + 1] = fit(np.concatenate(pool_X, axis=1), np.concatenate(pool_y, axis=1))
            elif wf == "accumulate-subsample":
                pool_X.append(X)
                pool_y.append(y)
                PX = np.concatenate(pool_X, axis=1)
                Py = np.concatenate(pool_y, axis=1)
                idx = np.argsort(gen.random((B, PX.shape[1])), axis=1)[:, :T]
                W[:, t + 1] = fit(np.take_along_axis(PX, idx[..., None], axis=1), np.take_along_axis(Py, idx, axis=1))
            else:
                W[:, t + 1] = fit(X, y)
            bar.update(1)
        downstream(G)


def _sigma_norm_sq(e, cov):
    """``e^T Sigma e`` over the last axis (a plain sum of squares for ``Sigma = I``)."""
    if np.array_equal(cov, np.eye(cov.shape[0])):
        return np.einsum("...i,...i->...", e, e)
    return np.einsum("...i,...i->...", e @ cov, e)
