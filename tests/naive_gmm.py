"""A plain scikit-learn loop of the paper's GMM experiment, written apart from ``runs.gmm``.

It follows the authors' notebook step by step: ``D_0 = make_blobs(M,
centers=[[0, 0]])`` (one N(0, I_2) blob), then for each generation fit
``GaussianMixture(n_components, tol, covariance_type="full", max_iter)`` and
replace the data by ``gmm.sample(M)`` (scikit-learn's own sampler, rows
grouped by component). All randomness comes from one ``RandomState`` shared
by the data, the EM initialisations and the sampler, as the notebook's global
NumPy state was. Nothing from ``collapse_theory`` is used.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import make_blobs
from sklearn.mixture import GaussianMixture


def naive_gmm_loop(seed: int, generations: int, sample_size: int = 1000, n_components: int = 2, tol: float = 1e-5, max_iter: int = 2000):
    """Fits of generations 0..G as a list of (weights, means, covariances)."""
    rs = np.random.RandomState(seed)
    X, _ = make_blobs(n_samples=sample_size, n_features=2, centers=[[0.0, 0.0]], cluster_std=1.0, random_state=rs)
    fits = []
    for _ in range(generations + 1):
        gm = GaussianMixture(n_components=n_components, tol=tol, covariance_type="full", max_iter=max_iter, random_state=rs).fit(X)
        fits.append((gm.weights_.copy(), gm.means_.copy(), gm.covariances_.copy()))
        X = gm.sample(sample_size)[0]
    return fits


def paper_std(covariances) -> np.ndarray:
    """The notebook's per-component std: sqrt(trace(C_k) / 2), written out for 2-D."""
    C = np.asarray(covariances)
    return np.sqrt((C[:, 0, 0] + C[:, 1, 1]) / 2.0)
