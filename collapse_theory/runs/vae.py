"""The paper's VAE generational run (PyTorch, extra ``[vae]``).

Shumailov et al. (Nature 2024, Supplementary "VAE" experiment): a variational
autoencoder is trained on handwritten digits; each descendant is trained
*from scratch* on images its predecessor's decoder produces from fresh latent
draws :math:`z \\sim N(0, I)`. Seen through the original (generation-0)
encoder, the latent codes of generated images lose their tails and contract
towards the mean: on MNIST, the standard deviation of the latent means of 100
decoded draws was 0.674, 0.608, 0.527, 0.468, 0.433 for descendants 1 to 5
(the authors' notebook draws a fresh 100-point probe per generation).

Generations: ``run(generations=G)`` trains model 0 on the real images and
``G`` descendants (``G + 1`` records); the paper's five numbers sit at
descendants 1..5.

A descendant's training set (:func:`synthetic_set`): as many images as the
real training set (the paper's descendants each saw 60,000 generated MNIST
images), drawn once from the parent's model: latent draws decoded into pixel
probabilities, then each pixel drawn 0 or 1 (``pixels="bernoulli"``, the
default; a sample of the distribution the parent's binary cross-entropy
fitted). ``pixels="mean"`` trains on the decoder means instead, which are
smoother than any sample of the model; the collapse then compounds (on the
8x8 digits the judged share of digits falls to 0 by descendant 3).

Two architectures (:data:`ARCHITECTURES`):

* ``"mlp"`` (default for scikit-learn's bundled 8x8 digits, no download):
  encoder 64 -> 256 -> 128 (ReLU) -> latent mean and log-variance (8-D);
  decoder mirrored, sigmoid output. A convolutional net built for 28x28 does
  not suit 8x8 images (two stride-2 convolutions leave a 2x2 map).
* ``"conv"`` (the authors' network, the choice for ``mnist=DIR``):
  Conv(1->64, k4 s2 p1), ReLU, Conv(64->128, k4 s2 p1), ReLU, linear heads
  128*7*7 = 6272 -> 20-D latent; decoder mirrored with transposed
  convolutions and a sigmoid.

Loss (both): summed binary cross-entropy plus the Gaussian KL term (Kingma
and Welling, "Auto-Encoding Variational Bayes", ICLR 2014, eq. 10)

.. math:: \\mathcal{L} = -\\sum_{p} [x_p \\log \\hat x_p + (1-x_p)\\log(1-\\hat x_p)]
          - \\tfrac12 \\sum_{j} (1 + \\log\\sigma_j^2 - \\mu_j^2 - \\sigma_j^2),

Adam (learning rate 1e-3, weight decay 1e-5, as the authors).

Independent measures of sample quality, per generation, on ``n_samples``
fresh decoded images:

* a **judge** (:class:`DigitJudge`): a scikit-learn multilayer perceptron
  trained on the real digits *and* on a "not a digit" class (pixel-shuffled
  digits, uniform noise, grey noise around the mean image), so that a
  confident digit label means the image looks like a digit. Its
  ``judge_share`` is the share of samples given a digit class with
  probability above 0.5 (held-out real digits: above 0.9; pixel-shuffled
  digits and noise: below 0.01);
* **precision, recall, density, coverage** (Naeem et al., "Reliable
  Fidelity and Diversity Metrics for Generative Models", ICML 2020; the
  ``prdc`` package) of the samples against the real digits in a fixed
  feature space: the judge's hidden layer (fitted on real digits only once).

Each generation's weights are stored as an artifact of a
:class:`~collapse_theory.runs.record.GenerationalRun`, so a run is written
generation by generation and ``resume=True`` continues it with the same
result as an uninterrupted run (generation ``t`` draws all its randomness
from the record's per-generation seed). The module follows the adapter
contract of :mod:`collapse_theory.runs`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

try:
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "collapse_theory.runs.vae needs PyTorch, the [vae] extra: pip install collapse_theory[vae]"
    ) from exc

from .._rng import child
from .._validate import check_array, check_choice, check_float, check_int, check_runs
from ..process import Mixing, check_mixing
from ._torch import (
    load_state_bytes,
    resolve_device,
    state_bytes,
    torch_seed,
    torch_state,
)

__all__ = [
    "run",
    "summary_table",
    "figures",
    "write_outputs",
    "VAE",
    "MLPVAE",
    "ARCHITECTURES",
    "PROBES",
    "vae_loss",
    "digits_images",
    "load_images",
    "train_generation",
    "synthetic_set",
    "PIXELS",
    "latent_means",
    "latent_summary",
    "LatentSummary",
    "elbo_under",
    "DigitJudge",
    "fit_judge",
    "prdc_metrics",
    "latent_density_figure",
    "latent_std_figure",
    "quality_figure",
    "sample_grid_figure",
    "PAPER_LATENT_STD",
    "PAPER_LATENT_STD_GENERATIONS",
    "JUDGE_THRESHOLD",
]

#: The paper's MNIST latent standard deviations (Supplementary) ...
PAPER_LATENT_STD = (0.674, 0.608, 0.527, 0.468, 0.433)
#: ... and the descendants they belong to (the model trained on real data is not among them).
PAPER_LATENT_STD_GENERATIONS = (1, 2, 3, 4, 5)
#: Judge criterion: a sample "is a digit" when a digit class gets probability above this.
JUDGE_THRESHOLD = 0.5
ARCHITECTURES = ("mlp", "conv")
#: How a descendant's training images are drawn from the parent's decoder (:func:`synthetic_set`).
PIXELS = ("bernoulli", "mean")
#: ``"fresh"``: new latent draws each generation (the authors); ``"fixed"``: one set for all.
PROBES = ("fresh", "fixed")

#: Defaults per architecture: the conv net as the paper (MNIST, 30 epochs, batch 256, 20-D latent);
#: the MLP for the 1797 8x8 digits (150 epochs of batch 64: generation-0 samples are digits).
_DEFAULTS = {
    "conv": {"epochs": 30, "batch_size": 256, "latent_dim": 20, "hidden": (64, 128)},
    "mlp": {"epochs": 150, "batch_size": 64, "latent_dim": 8, "hidden": (256, 128)},
}
_QUICK = {"epochs": 20, "n_samples": 300}


# --------------------------------------------------------------------- models
class VAE(nn.Module):
    """The paper's convolutional VAE (for 28x28 MNIST).

    Parameters
    ----------
    latent_dim : int
        Dimension of the latent space (20 in the paper).
    channels : tuple of two ints
        Channels of the two convolutions (64, 128).
    image_size : int
        Side of the square input images; a multiple of 4 (28 for MNIST).
    """

    def __init__(self, latent_dim: int = 20, channels: tuple = (64, 128), image_size: int = 28):
        super().__init__()
        latent_dim = check_int("latent_dim", latent_dim, min=1)
        image_size = check_int("image_size", image_size, min=4)
        if image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4 (two stride-2 convolutions), got {image_size}")
        if len(tuple(channels)) != 2:
            raise ValueError(f"channels must be two ints (first, second convolution), got {channels!r}")
        c1, c2 = (check_int("channels", c, min=1) for c in channels)
        self.latent_dim, self.image_size, self.channels = latent_dim, image_size, (c1, c2)
        side = image_size // 4
        flat = c2 * side * side
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c1, 4, 2, 1), nn.ReLU(), nn.Conv2d(c1, c2, 4, 2, 1), nn.ReLU(), nn.Flatten()
        )
        self.fc_mu = nn.Linear(flat, latent_dim)
        self.fc_logvar = nn.Linear(flat, latent_dim)
        self.fc_decode = nn.Linear(latent_dim, flat)
        self.decoder = nn.Sequential(
            nn.Unflatten(1, (c2, side, side)),
            nn.ConvTranspose2d(c2, c1, 4, 2, 1),
            nn.ReLU(),
            nn.ConvTranspose2d(c1, 1, 4, 2, 1),
            nn.Sigmoid(),
        )

    def encode(self, x):
        """Latent mean and log-variance, each shape ``(n, latent_dim)``, of images ``(n, 1, s, s)``."""
        h = self.encoder(x)
        return self.fc_mu(h), self.fc_logvar(h)

    def decode(self, z):
        """Pixel means in (0, 1), shape ``(n, 1, s, s)``, of latent points ``(n, latent_dim)``."""
        return self.decoder(self.fc_decode(z))

    def forward(self, x):
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decode(z), mu, logvar


class MLPVAE(nn.Module):
    """A fully connected VAE for small images (the default for the 8x8 digits).

    Parameters
    ----------
    latent_dim : int
        Dimension of the latent space (default 8).
    hidden : tuple of ints
        Widths of the encoder's hidden layers (the decoder mirrors them); default (256, 128).
    image_size : int
        Side of the square images (8 for scikit-learn's digits).
    """

    def __init__(self, latent_dim: int = 8, hidden: tuple = (256, 128), image_size: int = 8):
        super().__init__()
        latent_dim = check_int("latent_dim", latent_dim, min=1)
        image_size = check_int("image_size", image_size, min=1)
        hidden = tuple(check_int("hidden", h, min=1) for h in hidden)
        if not hidden:
            raise ValueError("hidden must hold at least one layer width")
        self.latent_dim, self.image_size, self.channels = latent_dim, image_size, hidden
        d = image_size * image_size
        enc, width = [nn.Flatten()], d
        for h in hidden:
            enc += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.encoder = nn.Sequential(*enc)
        self.fc_mu = nn.Linear(width, latent_dim)
        self.fc_logvar = nn.Linear(width, latent_dim)
        dec, width = [], latent_dim
        for h in reversed(hidden):
            dec += [nn.Linear(width, h), nn.ReLU()]
            width = h
        dec += [nn.Linear(width, d), nn.Sigmoid(), nn.Unflatten(1, (1, image_size, image_size))]
        self.decoder = nn.Sequential(*dec)

    def encode(self, x):
        """Latent mean and log-variance, each shape ``(n, latent_dim)``, of images ``(n, 1, s, s)``."""
        h = self.encoder(x)
        return self.fc_mu(h), self.fc_logvar(h)

    def decode(self, z):
        """Pixel means in (0, 1), shape ``(n, 1, s, s)``, of latent points ``(n, latent_dim)``."""
        return self.decoder(z)

    def forward(self, x):
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decode(z), mu, logvar


def _make_model(config: dict):
    if config["architecture"] == "conv":
        return VAE(config["latent_dim"], tuple(config["hidden"]), config["image_size"])
    return MLPVAE(config["latent_dim"], tuple(config["hidden"]), config["image_size"])


def vae_loss(recon, x, mu, logvar):
    """Summed binary cross-entropy plus KL to N(0, I) (see the module docstring), a scalar tensor.

    Parameters
    ----------
    recon : Tensor, shape (n, ...)
        Decoded pixel probabilities in [0, 1].
    x : Tensor, shape of ``recon``
        Target images in [0, 1].
    mu, logvar : Tensor, shape (n, d)
        Mean and log-variance of the encoder's Gaussian.

    Returns
    -------
    Tensor, shape ()
        The loss summed over the batch (nats).

    Raises
    ------
    TypeError
        An argument is not a torch tensor (named).

    Examples
    --------
    Pixel probabilities 1/2 cost ``log 2`` each; a posterior equal to the prior
    costs no KL:

    >>> import math
    >>> import torch
    >>> half, zeros = torch.full((1, 4), 0.5), torch.zeros(1, 2)
    >>> print(f"{float(vae_loss(half, torch.ones(1, 4), zeros, zeros)):.6f}", f"{4 * math.log(2):.6f}")
    2.772589 2.772589
    """
    for _name, _v in (("recon", recon), ("x", x), ("mu", mu), ("logvar", logvar)):
        if not isinstance(_v, torch.Tensor):
            raise TypeError(f"{_name} must be a torch tensor, got {type(_v).__name__}")
    bce = F.binary_cross_entropy(recon, x, reduction="sum")
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kl


# ---------------------------------------------------------------------- data
def digits_images(image_size: int = 8) -> np.ndarray:
    """scikit-learn's bundled digits (1797 images), grey levels scaled to [0, 1].

    ``image_size=8`` (default) keeps the native 8x8 images; a size of 24 or
    more upsamples them x3 bilinearly to 24x24 and zero-pads to
    ``image_size`` (28: as MNIST's 20x20 digits sit in a 28x28 frame), for the
    convolutional network.

    Returns
    -------
    ndarray, shape (1797, image_size, image_size), float32 in [0, 1]

    Parameters
    ----------
    image_size : int
        8 (native) or at least 24 (upsampled x3 and zero-padded).

    Raises
    ------
    ValueError, TypeError
        ``image_size`` below 8, between 9 and 23, or not an int (named).

    Examples
    --------
    >>> x = digits_images()
    >>> x.shape, x.dtype, float(x.min()), float(x.max())
    ((1797, 8, 8), dtype('float32'), 0.0, 1.0)
    >>> digits_images(28).shape
    (1797, 28, 28)
    """
    from sklearn.datasets import load_digits

    image_size = check_int("image_size", image_size, min=8)
    x = load_digits().images.astype(np.float32) / 16.0
    if image_size == 8:
        return x
    if image_size < 24:
        raise ValueError(f"image_size must be 8 (native) or at least 24 (upsampled x3 and padded), got {image_size}")
    t = F.interpolate(torch.from_numpy(x)[:, None], scale_factor=3, mode="bilinear", align_corners=False).clamp(0.0, 1.0)
    lo = (image_size - 24) // 2
    t = F.pad(t, (lo, image_size - 24 - lo, lo, image_size - 24 - lo))
    return t[:, 0].numpy().copy()


def load_images(data=None, mnist=None, *, image_size: int = 8):
    """The generation-0 training images, their labels (if known) and where they came from.

    Parameters
    ----------
    data : array_like, shape (n, s, s) or (n, 1, s, s), optional
        Images in [0, 1].
    mnist : path-like, optional
        A directory with the MNIST IDX files (``train-images-idx3-ubyte`` or
        ``.gz``; labels optional). At most one of ``data`` and ``mnist``; with
        neither, the digits of :func:`digits_images` at ``image_size``.

    Returns
    -------
    images : ndarray, shape (n, s, s), float32
    labels : ndarray, shape (n,), int64, or None
    source : str

    Raises
    ------
    ValueError
        Both ``data`` and ``mnist`` given, or images that are not square, not
        one-channel, empty or outside [0, 1].

    Examples
    --------
    >>> images, labels, source = load_images()
    >>> images.shape, labels[:3].tolist(), source
    ((1797, 8, 8), [0, 1, 2], 'scikit-learn digits (8x8)')
    >>> import numpy as np
    >>> images, labels, source = load_images(np.zeros((5, 1, 4, 4)))
    >>> images.shape, labels, source
    ((5, 4, 4), None, 'user images')
    """
    from sklearn.datasets import load_digits

    if data is not None and mnist is not None:
        raise ValueError("give at most one of data and mnist")
    labels = None
    if mnist is not None:
        from ._idx import load_mnist

        images, labels = load_mnist(mnist, "train")
        source = f"MNIST IDX files in {str(Path(mnist))!r}"
    elif data is not None:
        images = check_array("data", data, ndim=(3, 4), min_size=1, dtype=np.float32)
        source = "user images"
    else:
        images = digits_images(image_size)
        labels = load_digits().target.astype(np.int64)
        source = "scikit-learn digits (8x8)" if image_size == 8 else f"scikit-learn digits (8x8, upsampled and padded to {image_size}x{image_size})"
    if images.ndim == 4:
        if images.shape[1] != 1:
            raise ValueError(f"data must have one channel, shape (n, 1, s, s); got shape {images.shape}")
        images = images[:, 0]
    n, h, w = images.shape
    if n < 1:
        raise ValueError("data must hold at least one image")
    if h != w:
        raise ValueError(f"data: images must be square, got {h}x{w}")
    if images.min() < 0 or images.max() > 1:
        raise ValueError(
            f"data: pixel values must lie in [0, 1] (binary cross-entropy), got range [{images.min()}, {images.max()}]"
        )
    return np.ascontiguousarray(images, dtype=np.float32), labels, source


# ------------------------------------------------------------------ training
def _batch_sizes(n: int, batch_size: int) -> list[int]:
    full, rest = divmod(n, batch_size)
    return [batch_size] * full + ([rest] if rest else [])


def train_generation(
    real,
    *,
    make_model,
    parent=None,
    mixing=None,
    pixels: str = "bernoulli",
    n_synthetic: int | None = None,
    epochs: int,
    batch_size: int = 128,
    lr: float = 1e-3,
    weight_decay: float = 1e-5,
    seed: int,
    device=None,
    threads: int = 2,
    progress_bar=None,
):
    """Train one generation from scratch.

    Generation 0 (``parent=None``) is trained on the real images. A
    descendant is trained on one synthetic set of ``n_synthetic`` images
    (default: as many as the real set, as the paper's descendants, each
    trained on as many generated images as MNIST has), drawn once from
    ``parent`` by :func:`synthetic_set`; under ``Mixing.fresh(real=g)`` each
    image of that set is instead a uniformly drawn real image with
    probability ``g``. The training set is reshuffled every epoch.

    Parameters
    ----------
    real : Tensor, shape (n, 1, s, s)
        The real images, on ``device``.
    make_model : callable () -> nn.Module
        Builds a fresh network (called inside the seeded block).
    parent : nn.Module, optional
        The previous generation (its decoder is the data source).
    mixing : Mixing or spec, optional
        ``"replace"`` (default) or ``"fresh:G"``.
    pixels : {"bernoulli", "mean"}
        How a descendant's images are drawn from the parent's decoder (see
        :func:`synthetic_set`).
    n_synthetic : int, optional
        Size of a descendant's training set (default ``n``).
    seed : int
        All of this generation's randomness (initialisation, synthetic set,
        batches, reparameterisation noise) comes from it.

    Returns
    -------
    model : nn.Module
        Trained, in eval mode.
    losses : ndarray, shape (epochs,)
        Mean loss per image of each epoch.

    Raises
    ------
    ValueError, TypeError
        ``epochs`` or ``batch_size`` below 1, ``make_model`` not callable, a
        workflow other than replace or fresh, or an unknown ``pixels`` (named).

    Examples
    --------
    Two epochs of a tiny MLP VAE on 64 digits, then a descendant on its images:

    >>> import torch
    >>> real = torch.from_numpy(digits_images()[:64, None])
    >>> tiny = lambda: MLPVAE(2, (16,), 8)
    >>> model0, losses = train_generation(real, make_model=tiny, epochs=2, seed=0)
    >>> model1, _ = train_generation(real, make_model=tiny, parent=model0, epochs=2, seed=1)
    >>> losses.shape, model1.training
    ((2,), False)
    """
    epochs = check_int("epochs", epochs, min=1)
    batch_size = check_int("batch_size", batch_size, min=1)
    if not callable(make_model):
        raise TypeError(f"make_model must be a callable returning a model, got {type(make_model).__name__}")
    mixing = check_mixing(mixing, ("replace", "fresh"), where="the VAE run")
    pixels = check_choice("pixels", pixels, PIXELS)
    device = real.device if device is None else torch.device(device)
    with torch_state(seed, device, threads):
        if parent is None:
            data = real
        else:
            size = real.shape[0] if n_synthetic is None else check_int("n_synthetic", n_synthetic, min=1)
            data = synthetic_set(parent, size, pixels=pixels, real=real, real_fraction=mixing.real)
        n = data.shape[0]
        model = make_model().to(device)
        opt = _adam(model.parameters(), lr=lr, weight_decay=weight_decay)
        sizes = _batch_sizes(n, batch_size)
        losses = np.empty(epochs)
        for epoch in range(epochs):
            model.train()
            total = 0.0
            perm = torch.randperm(n, device=device)
            start = 0
            for size in sizes:
                batch = data[perm[start : start + size]]
                start += size
                recon, mu, logvar = model(batch)
                loss = vae_loss(recon, batch, mu, logvar)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += float(loss.detach())
            losses[epoch] = total / n
            if progress_bar is not None:
                progress_bar.update(1)
                progress_bar.set_postfix(loss=f"{losses[epoch]:.1f}")
        model.eval()
    return model, losses


def _adam(params, **kw):
    """Adam, fused where this torch has a fused CPU kernel (torch >= 2.4: same update, fewer passes)."""
    params = list(params)
    try:
        return torch.optim.Adam(params, fused=True, **kw)
    except (RuntimeError, TypeError, ValueError):  # older torch: no fused CPU Adam
        return torch.optim.Adam(params, **kw)


@torch.no_grad()
def synthetic_set(parent, n: int, *, pixels: str = "bernoulli", real=None, real_fraction: float = 0.0, batch_size: int = 4096):
    """``n`` images generated by ``parent``: the training set of its descendant.

    Latent points :math:`z \\sim N(0, I)` are decoded into pixel
    probabilities :math:`\\hat x(z)`. With ``pixels="bernoulli"`` (default)
    each pixel is then drawn, :math:`x_p \\sim \\mathrm{Bernoulli}(\\hat x_p(z))`:
    a draw from the parent's generative model
    :math:`p(x) = \\int N(z; 0, I) \\prod_p \\hat x_p(z)^{x_p} (1-\\hat x_p(z))^{1-x_p} dz`,
    whose likelihood the parent's loss (binary cross-entropy) maximised.
    With ``pixels="mean"`` the image is :math:`\\hat x(z)` itself, the decoder
    mean: an average over the model's pixel noise, smoother than any draw of
    the model. Trained on such averages, each descendant learns a smoother
    distribution than its parent, encodes less in its latent code (the KL
    term outweighs what is left to reconstruct) and blurs further, so the
    collapse compounds (measured in the report's VAE section: the judged
    share of digits falls to 0 by generation 3, against a gradual decline
    with Bernoulli pixels).

    Parameters
    ----------
    parent : VAE or MLPVAE
    n : int
        Number of images.
    pixels : {"bernoulli", "mean"}
    real : Tensor, shape (m, 1, s, s), optional
        Real images; with ``real_fraction = g > 0`` a Binomial(n, g) number of
        the ``n`` images are real ones drawn uniformly with replacement.
    real_fraction : float in [0, 1]

    Returns
    -------
    Tensor, shape (n, 1, s, s), values in [0, 1] (in {0, 1} for Bernoulli pixels, except real images)

    Raises
    ------
    ValueError
        ``n`` below 1, ``pixels`` not in :data:`PIXELS`, ``real_fraction``
        outside [0, 1] or above 0 without ``real``.

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> parent = MLPVAE(latent_dim=2, hidden=(8,)).eval()
    >>> x = synthetic_set(parent, 5)
    >>> tuple(x.shape), set(x.unique().tolist()) <= {0.0, 1.0}
    ((5, 1, 8, 8), True)
    >>> bool(((synthetic_set(parent, 5, pixels="mean") > 0) & (synthetic_set(parent, 5, pixels="mean") < 1)).all())
    True
    """
    n = check_int("n", n, min=1)
    pixels = check_choice("pixels", pixels, PIXELS)
    real_fraction = check_float("real_fraction", real_fraction, min=0.0, max=1.0)
    batch_size = check_int("batch_size", batch_size, min=1)
    if real_fraction > 0 and real is None:
        raise ValueError("real_fraction > 0 needs the real images (real=...)")
    device = next(parent.parameters()).device
    n_real = 0
    if real_fraction > 0:
        n_real = int(torch.binomial(torch.tensor(float(n)), torch.tensor(float(real_fraction))).item())
    parts = []
    for i in range(0, n - n_real, batch_size):
        z = torch.randn(min(batch_size, n - n_real - i), parent.latent_dim, device=device)
        x = parent.decode(z)
        parts.append(torch.bernoulli(x) if pixels == "bernoulli" else x)
    if n_real:
        parts.append(real[torch.randint(real.shape[0], (n_real,), device=device)])
    return torch.cat(parts)


# ------------------------------------------------------------------- metrics
@torch.no_grad()
def latent_means(decoder, encoder, z, *, batch_size: int = 1024) -> np.ndarray:
    """Latent means, under ``encoder``, of the images ``decoder`` makes of ``z``.

    The paper's latent metric: latent draws are decoded by generation ``t``
    and encoded by the generation-0 encoder.

    Parameters
    ----------
    decoder : callable
        Latent points ``(n, d)`` -> images (``VAE.decode``).
    encoder : callable
        Images -> ``(mean, log_variance)`` (``VAE.encode``).
    z : Tensor or array_like, shape (n, d)

    Returns
    -------
    ndarray, shape (n, d_latent), float64

    Raises
    ------
    ValueError, TypeError
        ``batch_size`` below 1 (named).

    Examples
    --------
    >>> import numpy as np
    >>> model = MLPVAE(2, (16,), 8).eval()
    >>> latent_means(model.decode, model.encode, np.zeros((3, 2))).shape
    (3, 2)
    """
    batch_size = check_int("batch_size", batch_size, min=1)
    z = torch.as_tensor(np.asarray(z, dtype=np.float32) if not torch.is_tensor(z) else z)
    out = []
    for i in range(0, z.shape[0], batch_size):
        mu, _ = encoder(decoder(z[i : i + batch_size]))
        out.append(mu.detach().cpu().double().numpy())
    return np.concatenate(out)


@dataclass(frozen=True)
class LatentSummary:
    """The latent metric of one generation.

    Attributes
    ----------
    std : float
        Standard deviation of all latent-mean coordinates pooled (the paper's number).
    std_per_dim : ndarray, shape (d,)
    w2_squared_to_initial : float
        W2 squared between this generation's latent means and generation 0's
        (exact optimal transport between the two point sets).
    """

    std: float
    std_per_dim: np.ndarray
    w2_squared_to_initial: float


def latent_summary(codes, initial) -> LatentSummary:
    """Summarise a generation's latent means against generation 0's.

    Parameters
    ----------
    codes, initial : array_like, shape (n, d)
        Latent means of this generation and of generation 0.

    Returns
    -------
    LatentSummary
        .. math:: \\mathrm{std} = \\sqrt{\\tfrac{1}{nd}\\sum_{i,j}(\\mu_{ij} - \\bar\\mu)^2},
                  \\quad W_2^2(\\hat P_t, \\hat P_0) \\text{ (exact OT)}.

    Raises
    ------
    ValueError
        ``codes`` or ``initial`` not 2-D and non-empty, or of different dimensions.

    Examples
    --------
    Codes shrunk by half against the initial ones (std 1/2, W2 squared
    ``(1 - 1/2)^2`` per coordinate, 2 coordinates):

    >>> import numpy as np
    >>> initial = np.array([[-1.0, -1.0], [1.0, 1.0]])
    >>> s = latent_summary(initial / 2, initial)
    >>> print(f"{s.std:.6f} {s.w2_squared_to_initial:.6f}")
    0.500000 0.500000
    """
    from ..wasserstein import w2_squared_empirical

    codes = check_array("codes", codes, ndim=2, min_size=1)
    initial = check_array("initial", initial, ndim=2, min_size=1)
    if codes.shape[1] != initial.shape[1]:
        raise ValueError(f"codes and initial must have the same dimension, got {codes.shape} and {initial.shape}")
    return LatentSummary(
        std=float(np.std(codes)),
        std_per_dim=np.std(codes, axis=0),
        w2_squared_to_initial=float(w2_squared_empirical(codes, initial)),
    )


@torch.no_grad()
def elbo_under(model, images, *, batch_size: int = 1024) -> np.ndarray:
    """Per-image evidence lower bound of ``model``, in nats, evaluated at the posterior mean.

    .. math:: \\log p(x) \\ge \\log p(x \\mid z=\\mu(x)) - \\mathrm{KL}(q(z\\mid x) \\,\\|\\, N(0, I)),

    with the Bernoulli log-likelihood of the pixel means (the summed binary
    cross-entropy, negated). Evaluating the reconstruction at the posterior
    mean instead of averaging over :math:`q` makes the score deterministic;
    it plays the role of the paper's per-sequence perplexity under model 0.

    Parameters
    ----------
    model : VAE or MLPVAE
    images : Tensor, shape (n, 1, s, s)

    Returns
    -------
    ndarray, shape (n,), float64

    Raises
    ------
    ValueError, TypeError
        ``batch_size`` below 1 (named).

    Examples
    --------
    >>> import torch
    >>> model = MLPVAE(2, (16,), 8).eval()
    >>> scores = elbo_under(model, torch.from_numpy(digits_images()[:5, None]))
    >>> scores.shape, bool((scores < 0).all())
    ((5,), True)
    """
    batch_size = check_int("batch_size", batch_size, min=1)
    out = []
    for i in range(0, images.shape[0], batch_size):
        x = images[i : i + batch_size]
        mu, logvar = model.encode(x)
        recon = model.decode(mu)
        bce = F.binary_cross_entropy(recon, x, reduction="none").flatten(1).sum(1)
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)
        out.append((-(bce + kl)).double().cpu().numpy())
    return np.concatenate(out)


def _negatives(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Images that are not digits (3n rows): pixel-shuffled digits, uniform noise, grey noise around the mean image."""
    n = len(x)
    shuffled = rng.permuted(x, axis=1)
    noise = rng.random(x.shape) * rng.random((n, 1))
    grey = np.clip(x.mean(axis=0) + 0.1 * rng.standard_normal(x.shape), 0.0, 1.0)
    return np.concatenate([shuffled, noise, grey]).astype(np.float32)


class DigitJudge:
    """An independent judge of generated digits: a scikit-learn classifier with a "not a digit" class.

    Fitted by :func:`fit_judge` on the real images (their labels) and on
    images that are not digits (:func:`_negatives`: pixel-shuffled digits,
    uniform noise, noise around the mean image) labelled as an extra class:
    a plain classifier gives one of its classes probability above 0.5 for
    almost any input (98% of uniform-noise images, all grey ones), the
    extra class makes a confident digit label mean that the image looks like
    a digit. A generated image counts as a digit when some digit class gets
    probability above :data:`JUDGE_THRESHOLD`. Its hidden layer is the fixed
    feature space of :func:`prdc_metrics`.

    Attributes
    ----------
    classifier : sklearn.neural_network.MLPClassifier
    n_classes : int
        Digit classes (the extra class is ``n_classes``).
    """

    def __init__(self, classifier, n_classes: int):
        self.classifier = classifier
        self.n_classes = check_int("n_classes", n_classes, min=1)

    @staticmethod
    def _flat(images) -> np.ndarray:
        x = np.asarray(images, dtype=np.float64)
        return x.reshape(len(x), -1)

    def digit_probabilities(self, images) -> np.ndarray:
        """Probabilities of the digit classes, shape (n, n_classes) (the rest is "not a digit")."""
        p = self.classifier.predict_proba(self._flat(images))
        cols = [list(self.classifier.classes_).index(k) for k in range(self.n_classes)]
        return p[:, cols]

    def share(self, images, threshold: float = JUDGE_THRESHOLD) -> float:
        """Share of ``images`` given a digit class with probability above ``threshold``."""
        return float((self.digit_probabilities(images).max(axis=1) > threshold).mean())

    def class_counts(self, images, threshold: float = JUDGE_THRESHOLD) -> np.ndarray:
        """How many images each digit class receives (among those judged digits), shape (n_classes,)."""
        p = self.digit_probabilities(images)
        ok = p.max(axis=1) > threshold
        return np.bincount(p[ok].argmax(axis=1), minlength=self.n_classes).astype(float)

    def features(self, images) -> np.ndarray:
        """The first hidden layer's ReLU activations, shape (n, hidden): the fixed feature space."""
        c = self.classifier
        return np.maximum(self._flat(images) @ c.coefs_[0] + c.intercepts_[0], 0.0)


def fit_judge(images, labels, *, rng, hidden: int = 64, max_iter: int = 100) -> DigitJudge:
    """Fit the :class:`DigitJudge` on real images and their labels.

    Parameters
    ----------
    images : array_like, shape (n, s, s)
    labels : array_like, shape (n,), int in 0..C-1
    rng : None, int, SeedSequence or Generator
        Seeds the negatives and the classifier's initialisation.
    hidden : int
        Width of the classifier's hidden layer.
    max_iter : int
        Adam epochs of the classifier (100: held-out real digits 97% judged
        digits, pixel-shuffled digits and uniform noise 0%, in 1.4 s of CPU;
        200 buys 99% for twice the time).

    Returns
    -------
    DigitJudge

    Raises
    ------
    ValueError, TypeError
        ``labels`` not of one label per image, or ``hidden`` below 1 (named).

    Examples
    --------
    A quick judge (300 digits, 20 epochs; the defaults give the accuracy quoted
    above):

    >>> images, labels, _ = load_images()
    >>> judge = fit_judge(images[:300], labels[:300], rng=0, hidden=16, max_iter=20)
    >>> judge.n_classes, judge.digit_probabilities(images[:4]).shape
    (10, (4, 10))
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    from threadpoolctl import threadpool_limits

    from .._rng import default_rng

    rng = default_rng(rng)
    x = DigitJudge._flat(images)
    y = np.asarray(labels, dtype=np.int64).ravel()
    if y.shape != (len(x),):
        raise ValueError(f"labels must have shape ({len(x)},) to match the images, got {y.shape}")
    n_classes = int(y.max()) + 1
    neg = _negatives(x, rng)
    clf = MLPClassifier((check_int("hidden", hidden, min=1),), max_iter=max_iter, random_state=int(rng.integers(2**31 - 1)))
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(np.concatenate([x, neg]), np.concatenate([y, np.full(len(neg), n_classes)]))
    return DigitJudge(clf, n_classes)


def prdc_metrics(real_features, fake_features, *, nearest_k: int = 5) -> dict:
    """Precision, recall, density and coverage of generated samples against real ones.

    Naeem, Oh, Uh, Choi and Yoo, "Reliable Fidelity and Diversity Metrics for
    Generative Models", ICML 2020 (the ``prdc`` package): k-nearest-neighbour
    balls around real (precision, density, coverage) or fake (recall) points.

    Parameters
    ----------
    real_features : array_like, shape (n_real, f)
    fake_features : array_like, shape (n_fake, f)
    nearest_k : int

    Returns
    -------
    dict with float ``precision``, ``recall``, ``density``, ``coverage``

    Raises
    ------
    ValueError, TypeError
        Feature arrays not 2-D and non-empty, of different widths, or
        ``nearest_k`` below 1 (named).

    Examples
    --------
    Fake points equal to the real ones: every real ball holds its own point:

    >>> import numpy as np
    >>> x = np.random.default_rng(0).standard_normal((50, 3))
    >>> m = prdc_metrics(x, x, nearest_k=3)
    >>> m["precision"], m["recall"], m["coverage"]
    (1.0, 1.0, 1.0)
    """
    _r = check_array("real_features", real_features, ndim=2, min_size=1)
    _f = check_array("fake_features", fake_features, ndim=2, min_size=1)
    if _r.shape[1] != _f.shape[1]:
        raise ValueError(f"real_features and fake_features must have the same number of features, got {_r.shape[1]} and {_f.shape[1]}")
    from prdc import compute_prdc

    with contextlib.redirect_stdout(io.StringIO()):  # the package prints the set sizes
        out = compute_prdc(np.asarray(real_features, np.float32), np.asarray(fake_features, np.float32), check_int("nearest_k", nearest_k, min=1))
    return {k: float(v) for k, v in out.items()}


# ----------------------------------------------------------------------- run
_MODEL_FILE = "model.pt"
#: the packages behind the numbers, beyond the toolkit's own (recorded in the provenance)
_PACKAGES_USED = ("torch", "scikit-learn", "prdc")
#: spawn-key suffixes of the run's side streams, outside the range of generation indices
_PROBE_KEY = 0x7E57_0000_0000
_JUDGE_KEY = 0x7E57_0000_0001
#: sub-streams of generation t's seed
_TRAIN, _SAMPLES, _FRESH_PROBE = 0, 1, 2


def _load_model(record, config, device):
    model = _make_model(config).to(device)
    return load_state_bytes(model, record.read_artifact(_MODEL_FILE)).eval()


def _configure(
    *, generations, data, mnist, mixing, pixels, n_synthetic, architecture, epochs, batch_size, lr, weight_decay,
    latent_dim, hidden, n_train, latent_draws, probe, n_samples, metrics, device, threads, quick,
) -> dict:
    """Validate every setting and load the images: the spec one run starts (or resumes) from."""
    from .evaluate import METRICS

    generations = check_int("generations", generations, min=0)
    lr = check_float("lr", lr, min=0.0, min_inclusive=False)
    weight_decay = check_float("weight_decay", weight_decay, min=0.0)
    mixing = check_mixing(mixing, ("replace", "fresh"), where="the VAE run")
    probe = check_choice("probe", probe, PROBES)
    pixels = check_choice("pixels", pixels, PIXELS)
    images, labels, source = load_images(data, mnist, image_size=8)
    if architecture == "auto":
        architecture = "conv" if images.shape[1] >= 28 else "mlp"
    architecture = check_choice("architecture", architecture, ARCHITECTURES)
    if architecture == "conv" and images.shape[1] % 4:
        raise ValueError(f"data: the conv architecture needs a side that is a multiple of 4 (28 for MNIST), got {images.shape[1]}")
    defaults = _DEFAULTS[architecture]
    threads = check_int("threads", (1 if architecture == "mlp" else 2) if threads is None else threads, min=1)
    epochs = (_QUICK["epochs"] if quick else defaults["epochs"]) if epochs is None else epochs
    epochs = check_int("epochs", epochs, min=1)
    batch_size = check_int("batch_size", defaults["batch_size"] if batch_size is None else batch_size, min=1)
    latent_dim = check_int("latent_dim", defaults["latent_dim"] if latent_dim is None else latent_dim, min=1)
    if hidden is None:
        hidden = defaults["hidden"]
    try:
        hidden = tuple(check_int("hidden", h, min=1) for h in hidden)
    except TypeError:
        raise TypeError(f"hidden must be a sequence of ints (layer widths or conv channels), got {hidden!r}") from None
    if architecture == "conv" and len(hidden) != 2:
        raise ValueError(f"hidden: the conv architecture takes two channel counts, got {hidden!r}")
    if n_train is not None:
        n_train = check_int("n_train", n_train, min=1)
        images = images[:n_train]
        labels = None if labels is None else labels[:n_train]
    n_synthetic = int(images.shape[0]) if n_synthetic is None else check_int("n_synthetic", n_synthetic, min=1)
    latent_draws = check_int("latent_draws", latent_draws, min=2)
    n_samples = (_QUICK["n_samples"] if quick else 1000) if n_samples is None else n_samples
    n_samples = check_int("n_samples", n_samples, min=2)
    device = resolve_device(device)
    if metrics is not None:
        from .._validate import check_names

        metrics = check_names("metrics", metrics, METRICS)
    judge = labels is not None and len(np.unique(labels)) > 1
    config = {
        "data": source,
        "data_sha256": hashlib.sha256(images.tobytes()).hexdigest(),
        "n_train": int(images.shape[0]),
        "image_size": int(images.shape[1]),
        "architecture": architecture,
        "mixing": mixing.to_dict(),
        "pixels": pixels,
        "n_synthetic": n_synthetic,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "weight_decay": weight_decay,
        "latent_dim": latent_dim,
        "hidden": list(hidden),
        "latent_draws": latent_draws,
        "probe": probe,
        "n_samples": n_samples,
        "judge": bool(judge),
        "metrics": None if metrics is None else list(metrics),
    }
    return {"config": config, "generations": generations, "images": images, "labels": labels, "mixing": mixing, "device": device, "threads": threads, "metrics": metrics}


class _State:
    """Everything a generation needs: the record, real images, judge, generation-0 and parent models."""

    def __init__(self, spec, record):
        self.spec, self.record, self.config = spec, record, spec["config"]
        self.device, self.threads = spec["device"], spec["threads"]
        self.real = torch.from_numpy(spec["images"])[:, None].to(self.device)
        self.initial = self.parent = None
        self.latent0 = self.evaluator = None
        self.judge = self.real_features = None
        if self.config["judge"]:
            self.judge = fit_judge(spec["images"], spec["labels"], rng=child(record.seed, _JUDGE_KEY))
            self.real_features = self.judge.features(spec["images"])
        self.fixed_probe = None
        if self.config["probe"] == "fixed":
            g = np.random.default_rng(child(record.seed, _PROBE_KEY))
            self.fixed_probe = torch.from_numpy(g.standard_normal((self.config["latent_draws"], self.config["latent_dim"]), dtype=np.float32)).to(self.device)

    def make_evaluator(self, sample0):
        from .evaluate import Evaluator

        if self.spec["metrics"] == ():
            return None
        return Evaluator("vae", initial_sample=sample0, metrics=self.spec["metrics"])

    def probe(self, t: int):
        if self.fixed_probe is not None:
            return self.fixed_probe
        g = np.random.default_rng(child(self.record.generation_seed(t), _FRESH_PROBE))
        return torch.from_numpy(g.standard_normal((self.config["latent_draws"], self.config["latent_dim"]), dtype=np.float32)).to(self.device)


def _resume(spec: dict, rng, out, resume: bool) -> _State:
    """Open (or reopen) the record; rebuild generation 0's and the parent's models from their artifacts."""
    from .record import GenerationalRun

    record = GenerationalRun.open(
        out, kind="vae", family="vae", config=spec["config"], seed=rng, resume=resume, extra_packages=_PACKAGES_USED
    )
    state = _State(spec, record)
    start = record.next_generation
    if start > 0:
        state.initial = _load_model(record.generations[0], spec["config"], state.device)
        state.parent = _load_model(record.generations[start - 1], spec["config"], state.device)
        state.latent0 = record.generations[0].arrays["latent_means"]
        state.evaluator = state.make_evaluator(record.generations[0].sample)
    return state


def _generation(state: _State, t: int, bar=None):
    """Train generation ``t`` on its parent's images and measure it: (record, artifacts)."""
    from .record import GenerationRecord

    cfg = state.config
    t0 = time.perf_counter()
    ss = state.record.generation_seed(t)
    seed = torch_seed(child(ss, _TRAIN))
    model, losses = train_generation(
        state.real,
        make_model=lambda: _make_model(cfg),
        parent=state.parent,
        mixing=state.spec["mixing"] if t > 0 else None,
        pixels=cfg["pixels"],
        n_synthetic=cfg["n_synthetic"],
        epochs=cfg["epochs"],
        batch_size=cfg["batch_size"],
        lr=cfg["lr"],
        weight_decay=cfg["weight_decay"],
        seed=seed,
        device=state.device,
        threads=state.threads,
        progress_bar=bar,
    )
    t_fit = time.perf_counter()
    if t == 0:
        state.initial = model
    with torch_state(torch_seed(child(ss, _SAMPLES)), state.device, state.threads), torch.no_grad():
        samples = model.decode(torch.randn(cfg["n_samples"], cfg["latent_dim"], device=state.device))
        codes = latent_means(model.decode, state.initial.encode, state.probe(t))
        scores = elbo_under(state.initial, samples)
    sample = samples.flatten(1).cpu().numpy().astype(np.float32)
    arrays = {"latent_means": codes, "log_density_under_initial": scores}
    if state.latent0 is None:
        state.latent0 = codes
        state.evaluator = state.make_evaluator(sample)
    summary = latent_summary(codes, state.latent0)
    metrics = {
        "latent_std": summary.std,
        "latent_std_per_dim": summary.std_per_dim,
        "w2_squared_latent_to_initial": summary.w2_squared_to_initial,
        "train_loss": losses,
        "final_loss": float(losses[-1]),
    }
    if state.judge is not None:
        metrics["judge_share"] = state.judge.share(sample)
        metrics["judge_class_counts"] = state.judge.class_counts(sample)
        metrics.update(prdc_metrics(state.real_features, state.judge.features(sample)))
    if state.evaluator is not None:
        metrics.update(state.evaluator(None, sample, arrays))
    rec = GenerationRecord(
        generation=t,
        sample=sample,
        metrics=metrics,
        arrays=arrays,
        wall_time=time.perf_counter() - t0,
        timing={"fit": t_fit - t0, "metrics": time.perf_counter() - t_fit},
        info={"device": str(state.device), "threads": state.threads, "seed": seed},
    )
    state.parent = model
    return rec, {_MODEL_FILE: state_bytes(model)}


def run(
    generations: int = 5,
    *,
    rng=0,
    out=None,
    resume: bool = False,
    data=None,
    mnist=None,
    mixing=None,
    pixels: str = "bernoulli",
    n_synthetic: int | None = None,
    architecture: str = "auto",
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float = 1e-3,
    weight_decay: float = 1e-5,
    latent_dim: int | None = None,
    hidden=None,
    n_train: int | None = None,
    latent_draws: int = 100,
    probe: str = "fresh",
    n_samples: int | None = None,
    metrics=None,
    device="auto",
    threads: int | None = None,
    quick: bool = False,
    show_progress: bool | None = None,
):
    """Run the paper's VAE experiment: a VAE on real digits, then ``generations`` descendants on their parents' images.

    Generation 0 is trained on the real images; generation ``t >= 1`` from
    scratch on ``n_synthetic`` images (default: as many as the real set)
    drawn once from generation ``t-1``'s model at :math:`z \\sim N(0, I)`,
    with Bernoulli pixels by default (:func:`synthetic_set`; a share
    ``mixing.real`` of them real under the fresh workflow). Each generation then decodes the *probe* (latent draws:
    fresh ones per generation, as the authors, or one fixed set) and the
    generation-0 encoder encodes the images; the standard deviation of those
    latent means is the paper's metric (0.674, 0.608, 0.527, 0.468, 0.433
    at descendants 1..5 on MNIST). ``n_samples`` further decoded images are
    scored by the :class:`DigitJudge` and by precision / recall / density /
    coverage in the judge's feature space.

    Parameters
    ----------
    generations : int
        Number of descendants ``G`` (models 0 .. G, ``G + 1`` records); >= 0.
    rng : None, int, SeedSequence or Generator
        Root seed; generation ``t`` uses the record's per-generation seed
        (a function of ``rng`` and ``t`` only).
    out : path-like, optional
        Directory written generation by generation (each generation's weights
        are an artifact ``model.pt``). None keeps the run in memory.
    resume : bool
        Continue the run in ``out`` from its last complete generation.
    data : array_like, shape (n, s, s) or (n, 1, s, s), optional
        Training images in [0, 1] (no judge: no labels).
    mnist : path-like, optional
        A directory with the MNIST IDX files (the paper's setting; the judge
        is trained when the label file is there).
    mixing : Mixing or spec, optional
        ``"replace"`` (default, the paper) or ``"fresh:G"``.
    pixels : {"bernoulli", "mean"}
        A descendant's images are Bernoulli draws of the parent decoder's
        pixel probabilities (default: samples of the parent's model) or the
        decoder means themselves (smoother than any sample; the collapse then
        compounds within three generations on the digits).
    n_synthetic : int, optional
        Size of each descendant's synthetic training set (default: the
        number of real training images, as the paper).
    architecture : {"auto", "mlp", "conv"}
        "auto": the paper's conv net for images of side 28 or more (MNIST),
        the MLP otherwise (the 8x8 digits).
    epochs, batch_size, latent_dim, hidden : optional
        Defaults per architecture: MLP 150 epochs (20 under ``quick``),
        batch 64, 8-D latent, hidden (256, 128); conv as the paper: 30
        epochs, batch 256, 20-D latent, channels (64, 128).
    lr, weight_decay : float
        Adam settings (1e-3, 1e-5, as in the paper).
    n_train : int, optional
        Use only the first ``n_train`` images (default all).
    latent_draws : int
        Size of the probe (100, as the authors).
    probe : {"fresh", "fixed"}
        Fresh latent draws per generation (default, the authors) or the same
        draws for every generation (less noise between generations).
    n_samples : int, optional
        Decoded images per generation for the judge, prdc and the evaluator
        (default 1000; 300 under ``quick``); stored as the record's sample.
    metrics : sequence of str, optional
        The evaluator's metrics (:mod:`collapse_theory.runs.evaluate`) stored
        with each generation; None: all that apply to a sample-only family;
        ``()``: none.
    device : str or torch.device
        "auto" (default): CUDA when available, else CPU.
    threads : int, optional
        CPU threads used by PyTorch during the run (restored afterwards).
        Default: 1 for the MLP (its small matrix products gain nothing from a
        second thread, which only spins on a loaded machine), 2 for the conv net.
    quick : bool
        Fewer epochs and samples for a smoke run.
    show_progress : bool, optional
        Progress bar over epochs (default: on unless COLLAPSE_THEORY_PROGRESS=0).

    Returns
    -------
    GenerationalRun
        ``kind="vae"``, ``family="vae"``; per generation ``sample`` (n_samples,
        s*s) float32 decoded images; ``arrays``: ``latent_means``
        (latent_draws, latent_dim) under the generation-0 encoder and
        ``log_density_under_initial`` (n_samples,), the generation-0 ELBO of
        each sample (:func:`elbo_under`); ``metrics``: ``latent_std``,
        ``latent_std_per_dim``, ``w2_squared_latent_to_initial``,
        ``judge_share``, ``judge_class_counts`` (10,), ``precision``,
        ``recall``, ``density``, ``coverage`` (when labels are known),
        ``train_loss`` (epochs,), ``final_loss`` and the evaluator's metrics;
        artifact ``model.pt``.

    Raises
    ------
    ValueError, TypeError
        Bad settings or images (wrong size, values outside [0, 1]).
    FileNotFoundError
        ``mnist`` directory or its image file is missing.

    Examples
    --------
    A tiny run (64 digits, 2 epochs, a 2-D latent; no judge without labels):

    >>> r = run(1, rng=0, data=digits_images()[:64], epochs=2, hidden=(16,), latent_dim=2,
    ...         latent_draws=16, n_samples=16, metrics=(), show_progress=False)
    >>> len(r.generations), r.config["architecture"]
    (2, 'mlp')
    >>> r.metric("latent_std").shape
    (2,)
    """
    from .._progress import progress

    spec = _configure(
        generations=generations, data=data, mnist=mnist, mixing=mixing, pixels=pixels, n_synthetic=n_synthetic,
        architecture=architecture, epochs=epochs,
        batch_size=batch_size, lr=lr, weight_decay=weight_decay, latent_dim=latent_dim, hidden=hidden, n_train=n_train,
        latent_draws=latent_draws, probe=probe, n_samples=n_samples, metrics=metrics, device=device, threads=threads,
        quick=quick,
    )
    state = _resume(spec, rng, out, resume)
    record, start = state.record, state.record.next_generation
    G = spec["generations"]
    bar = progress(total=max(G + 1 - start, 0) * spec["config"]["epochs"], desc="vae", show=show_progress, unit="epoch")
    try:
        for t in range(start, G + 1):
            rec, artifacts = _generation(state, t, bar)
            record.append(rec, artifacts=artifacts)
    finally:
        bar.close()
    return record


# ------------------------------------------------------------------- figures
def _generation_colors(n):
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(x) for x in np.linspace(0.0, 0.9, max(n, 1))]


def latent_density_figure(run):
    """Density of the latent means (all coordinates pooled), one curve per generation.

    The paper's supplementary figure: generated images, encoded by the
    generation-0 encoder, lose their tails and concentrate over generations.
    Densities are Gaussian kernel estimates (Scott's bandwidth).

    Parameters
    ----------
    run : GenerationalRun
        A VAE run (:func:`run`, or a record of one read back).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    TypeError, ValueError
        ``run`` is not a single VAE run (named).

    Examples
    --------
    >>> r = run(1, rng=0, data=digits_images()[:64], epochs=2, hidden=(16,), latent_dim=2,
    ...         latent_draws=16, n_samples=16, metrics=(), show_progress=False)
    >>> len(latent_density_figure(r).axes[0].lines)
    2
    """
    check_runs("run", run, kind="vae", single=True)
    from scipy.stats import gaussian_kde

    from ..plotting import new_figure

    fig, ax = new_figure()
    gens = run.generations
    pooled = [np.ravel(g.arrays["latent_means"]) for g in gens]
    lo = min(v.min() for v in pooled)
    hi = max(v.max() for v in pooled)
    grid = np.linspace(lo, hi, 300)
    for g, v, color in zip(gens, pooled, _generation_colors(len(gens))):
        ax.plot(grid, gaussian_kde(v)(grid), color=color, label=f"generation {g.generation}")
    ax.set_xlabel("latent mean (generation-0 encoder), all coordinates")
    ax.set_ylabel("density")
    ax.set_title("Latent codes of generated images")
    ax.legend(fontsize="small")
    return fig


def latent_std_figure(run, *, paper: bool = True):
    """Standard deviation of the latent means against generation, with the paper's MNIST values at descendants 1-5.

    Parameters
    ----------
    run : GenerationalRun
        A VAE run (:func:`run`, or a record of one read back).
    paper : bool, keyword-only
        Also plot the paper's MNIST values at descendants 1-5.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    TypeError, ValueError
        ``run`` is not a single VAE run (named).

    Examples
    --------
    >>> r = run(1, rng=0, data=digits_images()[:64], epochs=2, hidden=(16,), latent_dim=2,
    ...         latent_draws=16, n_samples=16, metrics=(), show_progress=False)
    >>> len(latent_std_figure(r).axes[0].lines), len(latent_std_figure(r, paper=False).axes[0].lines)
    (2, 1)
    """
    check_runs("run", run, kind="vae", single=True)
    from matplotlib.ticker import MaxNLocator

    from ..plotting import SIM_COLOR, THEORY_COLOR, new_figure

    fig, ax = new_figure()
    gens = np.array([g.generation for g in run.generations])
    ax.plot(gens, run.metric("latent_std"), "o-", color=SIM_COLOR, label="this run")
    if paper:
        ax.plot(PAPER_LATENT_STD_GENERATIONS, PAPER_LATENT_STD, "s--", color=THEORY_COLOR, label="paper (MNIST, descendants 1-5)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("generation (0: trained on real digits)")
    ax.set_ylabel("std of latent means")
    ax.legend(fontsize="small")
    return fig


def quality_figure(run):
    """The judge's share of digits and precision / recall / density / coverage against generation.

    Parameters
    ----------
    run : GenerationalRun
        A VAE run (:func:`run`, or a record of one read back).

    Returns
    -------
    matplotlib.figure.Figure
        One curve per score present in every generation, and the 70% line.

    Raises
    ------
    TypeError, ValueError
        ``run`` is not a single VAE run (named).

    Examples
    --------
    Without a judge (images without labels) only the 70% line is drawn:

    >>> r = run(1, rng=0, data=digits_images()[:64], epochs=2, hidden=(16,), latent_dim=2,
    ...         latent_draws=16, n_samples=16, metrics=(), show_progress=False)
    >>> len(quality_figure(r).axes[0].lines)
    1
    """
    check_runs("run", run, kind="vae", single=True)
    from matplotlib.ticker import MaxNLocator

    from ..plotting import new_figure

    fig, ax = new_figure()
    gens = np.array([g.generation for g in run.generations])
    styles = (("judge_share", "judge: share judged digits", "k", "o-"), ("precision", "precision", "C0", "s-"),
              ("recall", "recall", "C1", "^-"), ("density", "density", "C2", "v-"), ("coverage", "coverage", "C3", "d-"))
    for key, label, color, style in styles:
        if all(key in g.metrics for g in run.generations):
            ax.plot(gens, run.metric(key), style, color=color, label=label, ms=4)
    ax.axhline(0.7, color="0.5", lw=0.8, ls=":", label="criterion: 70% at generation 0")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("generation")
    ax.set_ylabel("share / score")
    ax.legend(fontsize="x-small")
    return fig


def _mosaic(images, cols):
    n, s, _ = images.shape
    rows = -(-n // cols)
    canvas = np.full((rows * (s + 1) + 1, cols * (s + 1) + 1), 0.3, dtype=np.float32)  # light grey grid lines
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        canvas[1 + r * (s + 1) : 1 + r * (s + 1) + s, 1 + c * (s + 1) : 1 + c * (s + 1) + s] = im
    return canvas


def sample_grid_figure(run, *, n: int = 36, generations=None):
    """Decoded samples (fresh latent draws), one panel per generation.

    Parameters
    ----------
    run : GenerationalRun
        A VAE run (:func:`run`, or a record of one read back).
    n : int, keyword-only
        Samples shown per generation (>= 1; at most those stored).
    generations : sequence of int, optional
        Indices of the generations shown (default all).

    Returns
    -------
    matplotlib.figure.Figure
        One panel per generation shown.

    Raises
    ------
    TypeError, ValueError
        ``run`` is not a single VAE run (named).

    Examples
    --------
    >>> r = run(1, rng=0, data=digits_images()[:64], epochs=2, hidden=(16,), latent_dim=2,
    ...         latent_draws=16, n_samples=16, metrics=(), show_progress=False)
    >>> len(sample_grid_figure(r, n=9, generations=[1]).axes)
    1
    """
    check_runs("run", run, kind="vae", single=True)
    n = check_int("n", n, min=1)
    from ..plotting import new_figure

    gens = run.generations if generations is None else [run.generations[t] for t in generations]
    s = int(run.config["image_size"])
    fig, axes = new_figure(1, len(gens), width=2.6, height=2.9)
    axes = np.atleast_1d(axes)
    cols = int(np.ceil(np.sqrt(n)))
    for ax, g in zip(axes, gens):
        imgs = np.asarray(g.sample[:n], dtype=np.float32).reshape(-1, s, s)
        ax.imshow(_mosaic(imgs, cols), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(f"generation {g.generation}", fontsize="small")
        ax.set_axis_off()
    return fig


def _setting(run) -> str:
    c = run.config
    return (
        f"{c['data']}, {c['n_train']} images, {c['architecture']} VAE with a {c['latent_dim']}-D latent, "
        f"{c['epochs']} epochs of batch {c['batch_size']} per generation, mixing "
        f"{Mixing.from_spec(c['mixing']).to_spec()}, {c['probe']} probe of {c['latent_draws']} latent draws, "
        f"{c['n_samples']} samples per generation"
    )


def figures(run) -> dict:
    """The run's figures with captions: ``latent_std``, ``latent_density``, ``quality`` (with a judge), ``samples``.

    Returns
    -------
    dict of str to (matplotlib Figure, str caption)

    Parameters
    ----------
    run : GenerationalRun
        A VAE run (:func:`run`, or a record of one read back).

    Raises
    ------
    TypeError, ValueError
        ``run`` is not a single VAE run (named).

    Examples
    --------
    A tiny run (64 digits, 2 epochs, a 2-D latent; no judge without labels):

    >>> r = run(1, rng=0, data=digits_images()[:64], epochs=2, hidden=(16,), latent_dim=2,
    ...         latent_draws=16, n_samples=16, metrics=(), show_progress=False)
    >>> sorted(figures(r))
    ['latent_density', 'latent_std', 'samples']
    """
    check_runs("run", run, kind="vae", single=True)
    s = _setting(run)
    shown = None
    if len(run.generations) > 6:
        shown = sorted(set(np.linspace(0, len(run.generations) - 1, 6).round().astype(int).tolist()))
    out = {
        "latent_std": (
            latent_std_figure(run),
            f"Standard deviation of the latent means (all coordinates pooled) of decoded probe draws, encoded by the "
            f"generation-0 encoder, against generation ({s}); squares: the paper's MNIST values at descendants 1-5 "
            "(conv VAE, 20-D latent, 30 epochs). Look for the standard deviation falling generation after generation.",
        ),
        "latent_density": (
            latent_density_figure(run),
            f"Kernel density of the same latent means, one curve per generation ({s}). Look for the tails thinning "
            "and the mass concentrating near the mean.",
        ),
        "samples": (
            sample_grid_figure(run, generations=shown),
            f"36 decoded samples per generation at fresh latent draws ({s}). Look for digits at generation 0 and "
            "their blurring and loss of variety in later generations.",
        ),
    }
    if all("judge_share" in g.metrics for g in run.generations):
        out["quality"] = (
            quality_figure(run),
            f"Independent measures of the samples per generation ({s}): the share judged a digit (a scikit-learn "
            f"classifier trained on the real digits and on a 'not a digit' class; probability above {JUDGE_THRESHOLD}), "
            "and precision, recall, density and coverage (Naeem et al. 2020, k = 5) against the real digits in the "
            "judge's hidden-layer feature space. The dotted line is the 70% criterion for generation 0. Look for "
            "recall and coverage (variety) falling while precision stays high: a sampler collapsed onto one "
            "plausible image keeps its precision but loses recall, coverage and, through the judge, its digits.",
        )
    return out


# ------------------------------------------------------------------- outputs
def summary_table(run):
    """One row per generation: latent std, judge share, prdc, distances, loss, ELBO under model 0, time.

    Returns
    -------
    pandas.DataFrame
        Columns ``generation``, ``latent_std``, ``judge_share``,
        ``precision``, ``recall``, ``density``, ``coverage`` (NaN without a
        judge), ``w2_squared_latent_to_initial``,
        ``w2_squared_images_to_initial`` (the evaluator's sample-based W2
        squared between decoded samples, NaN if not computed),
        ``final_loss`` (mean loss per image, last epoch),
        ``elbo_under_initial_mean`` and ``_q01`` (mean and 1% quantile of the
        generation-0 ELBO of the samples, nats), ``wall_time_s``.

    Parameters
    ----------
    run : GenerationalRun
        A VAE run (:func:`run`, or a record of one read back).

    Raises
    ------
    TypeError, ValueError
        ``run`` is not a single VAE run (named).

    Examples
    --------
    A tiny run (64 digits, 2 epochs, a 2-D latent; no judge without labels):

    >>> r = run(1, rng=0, data=digits_images()[:64], epochs=2, hidden=(16,), latent_dim=2,
    ...         latent_draws=16, n_samples=16, metrics=(), show_progress=False)
    >>> table = summary_table(r)
    >>> table["generation"].tolist(), bool(table["judge_share"].isna().all())
    ([0, 1], True)
    """
    check_runs("run", run, kind="vae", single=True)
    import pandas as pd

    rows = []
    for g in run.generations:
        scores = np.asarray(g.arrays["log_density_under_initial"])
        m = g.metrics
        rows.append(
            {
                "generation": g.generation,
                "latent_std": m["latent_std"],
                **{k: m.get(k, np.nan) for k in ("judge_share", "precision", "recall", "density", "coverage")},
                "w2_squared_latent_to_initial": m["w2_squared_latent_to_initial"],
                "w2_squared_images_to_initial": m.get("w2_squared_to_initial", np.nan),
                "final_loss": m["final_loss"],
                "elbo_under_initial_mean": float(scores.mean()),
                "elbo_under_initial_q01": float(np.quantile(scores, 0.01)),
                "wall_time_s": g.wall_time,
            }
        )
    return pd.DataFrame(rows)


def write_outputs(run, out, *, summary=None) -> dict:
    """Write every figure (``<key>.png``), ``summary.csv`` and ``summary.json`` (with provenance), atomically.

    Parameters
    ----------
    run : GenerationalRun
    out : path-like
        Directory (created if absent).
    summary : pandas.DataFrame, optional
        :func:`summary_table` of ``run`` if already computed.

    Returns
    -------
    dict of str to Path
        ``<figure key>``, ``summary_csv``, ``json``.

    Raises
    ------
    TypeError, ValueError
        ``run`` is not a single VAE run (named).

    Examples
    --------
    >>> import tempfile
    >>> r = run(1, rng=0, data=digits_images()[:64], epochs=2, hidden=(16,), latent_dim=2,
    ...         latent_draws=16, n_samples=16, metrics=(), show_progress=False)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     paths = write_outputs(r, d)
    ...     print(sorted(p.name for p in paths.values()))
    ['latent_density.png', 'latent_std.png', 'samples.png', 'summary.csv', 'summary.json']
    """
    check_runs("run", run, kind="vae", single=True)
    from .._provenance import atomic_write, provenance, write_json
    from ..plotting import figure_png

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = summary_table(run) if summary is None else summary
    paths, captions = {}, {}
    for key, (fig, caption) in figures(run).items():
        paths[key] = atomic_write(out / f"{key}.png", figure_png(fig))
        captions[key] = caption
    paths["summary_csv"] = atomic_write(out / "summary.csv", summary.to_csv(index=False))
    paths["json"] = write_json(
        out / "summary.json",
        {
            "summary": summary.to_dict(orient="list"),
            "captions": captions,
            "paper_latent_std_mnist": {"generations": PAPER_LATENT_STD_GENERATIONS, "std": PAPER_LATENT_STD},
            "run": str(run.path) if run.path is not None else None,
            "provenance": provenance(run.config, seed=run.seed, kind="vae", extra_packages=_PACKAGES_USED),
        },
    )
    return paths
