"""The paper's VAE generational run (PyTorch, extra ``[vae]``).

Shumailov et al. (Nature 2024, Supplementary "VAE" experiment): a
convolutional variational autoencoder is trained on handwritten digits; each
descendant is trained *from scratch* on images its predecessor's decoder
produces from fresh latent draws :math:`z \\sim N(0, I)`. Seen through the
original (generation-0) encoder, the latent codes of generated images lose
their tails and contract towards the mean: on MNIST the standard deviation of
the latent means of 100 decoded draws fell 0.674, 0.608, 0.527, 0.468, 0.433
over five generations.

Architecture and training follow the authors' code (all configurable):

* encoder: Conv(1->64, k4 s2 p1), ReLU, Conv(64->128, k4 s2 p1), ReLU,
  linear heads 128*7*7 = 6272 -> latent mean and log-variance;
* decoder (mirrored): linear latent -> 6272, ConvTranspose(128->64, k4 s2 p1),
  ReLU, ConvTranspose(64->1, k4 s2 p1), sigmoid;
* loss: summed binary cross-entropy plus the Gaussian KL term
  (Kingma and Welling, "Auto-Encoding Variational Bayes", ICLR 2014, eq. 10)

  .. math:: \\mathcal{L} = -\\sum_{p} [x_p \\log \\hat x_p + (1-x_p)\\log(1-\\hat x_p)]
            - \\tfrac12 \\sum_{j} (1 + \\log\\sigma_j^2 - \\mu_j^2 - \\sigma_j^2);

* Adam, learning rate 1e-3, weight decay 1e-5, batch 256; 30 epochs per
  generation in the paper (20 by default on the small digits set).

Data: by default scikit-learn's bundled digits (1797 real handwritten 8x8
digits, no download), upsampled x3 bilinearly and padded to 28x28 in [0, 1];
``mnist=DIR`` reads the standard MNIST IDX files for the paper's setting.
Workflows: ``Mixing.replace()`` (the paper) and ``Mixing.fresh(real=g)`` (each
training image of a descendant is real with probability ``g``).

Each generation's encoder and decoder weights are stored as per-generation
artifacts of a :class:`~collapse_theory.runs.record.GenerationalRun`, so a run
is written generation by generation and ``resume=True`` continues it, with the
same result as an uninterrupted run (generation ``t`` draws all its randomness
from the record's per-generation seed).
"""

from __future__ import annotations

import contextlib
import os
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

from .._validate import check_array, check_int, check_float
from ..process import Mixing

__all__ = [
    "VAE",
    "vae_loss",
    "digits_images",
    "load_images",
    "train_generation",
    "latent_means",
    "latent_summary",
    "LatentSummary",
    "elbo_under",
    "run",
    "figures",
    "latent_density_figure",
    "latent_std_figure",
    "sample_grid_figure",
    "PAPER_LATENT_STD",
]

#: The paper's MNIST latent standard deviations over five generations (Supplementary).
PAPER_LATENT_STD = (0.674, 0.608, 0.527, 0.468, 0.433)

_EPOCHS_DIGITS = 20
_EPOCHS_MNIST = 30


# --------------------------------------------------------------------- model
class VAE(nn.Module):
    """The paper's convolutional VAE.

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


def vae_loss(recon, x, mu, logvar):
    """Summed binary cross-entropy plus KL to N(0, I) (see the module docstring), a scalar tensor."""
    bce = F.binary_cross_entropy(recon, x, reduction="sum")
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kl


# ---------------------------------------------------------------------- data
def digits_images(image_size: int = 28) -> np.ndarray:
    """scikit-learn's bundled digits brought to the network's input size.

    The 8x8 images (grey levels 0..16) are scaled to [0, 1], upsampled x3
    bilinearly to 24x24 and zero-padded to ``image_size`` (28: as MNIST's
    20x20 digits sit in a 28x28 frame).

    Returns
    -------
    ndarray, shape (1797, image_size, image_size), float32 in [0, 1]
    """
    from sklearn.datasets import load_digits

    image_size = check_int("image_size", image_size, min=24)
    x = torch.from_numpy(load_digits().images.astype(np.float32) / 16.0)[:, None]
    x = F.interpolate(x, scale_factor=3, mode="bilinear", align_corners=False).clamp(0.0, 1.0)
    lo = (image_size - 24) // 2
    x = F.pad(x, (lo, image_size - 24 - lo, lo, image_size - 24 - lo))
    return x[:, 0].numpy().copy()


def load_images(data=None, mnist=None) -> tuple[np.ndarray, str]:
    """The generation-0 training images and a short description of where they came from.

    Parameters
    ----------
    data : array_like, shape (n, s, s) or (n, 1, s, s), optional
        Images in [0, 1] with ``s`` a multiple of 4 (28 for the default network).
    mnist : path-like, optional
        A directory with the MNIST IDX files (``train-images-idx3-ubyte`` or
        ``.gz``). At most one of ``data`` and ``mnist``; with neither, the
        digits of :func:`digits_images`.

    Returns
    -------
    images : ndarray, shape (n, s, s), float32
    source : str
    """
    if data is not None and mnist is not None:
        raise ValueError("give at most one of data and mnist")
    if mnist is not None:
        from ._idx import load_mnist

        images, _ = load_mnist(mnist, "train")
        source = f"MNIST IDX files in {str(Path(mnist))!r}"
    elif data is not None:
        images = check_array("data", data, ndim=(3, 4), min_size=1, dtype=np.float32)
        source = "user images"
    else:
        images = digits_images()
        source = "scikit-learn digits (8x8, upsampled and padded to 28x28)"
    if images.ndim == 4:
        if images.shape[1] != 1:
            raise ValueError(f"data must have one channel, shape (n, 1, s, s); got shape {images.shape}")
        images = images[:, 0]
    n, h, w = images.shape
    if n < 1:
        raise ValueError("data must hold at least one image")
    if h != w or h % 4 or h < 4:
        raise ValueError(
            f"data: images must be square with a side that is a multiple of 4 (28 for MNIST), got {h}x{w}"
        )
    if images.min() < 0 or images.max() > 1:
        raise ValueError(
            f"data: pixel values must lie in [0, 1] (binary cross-entropy), got range [{images.min()}, {images.max()}]"
        )
    return np.ascontiguousarray(images, dtype=np.float32), source


# ------------------------------------------------------------------ training
@contextlib.contextmanager
def _torch_state(seed: int, device, threads: int):
    """Seed torch for one generation without leaking global state.

    The global torch RNG (CPU, and CUDA on ``device``) is forked and seeded
    with ``seed``; the thread count is fixed (CPU kernels' reductions depend
    on it) and deterministic algorithms are requested; all restored on exit.
    """
    old_threads = torch.get_num_threads()
    old_det = torch.are_deterministic_algorithms_enabled()
    old_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    devices = [device] if device.type == "cuda" else []
    if devices:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    with torch.random.fork_rng(devices=devices, device_type=device.type if devices else "cuda"):
        torch.manual_seed(int(seed))
        torch.set_num_threads(int(threads))
        torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            yield
        finally:
            torch.set_num_threads(old_threads)
            torch.use_deterministic_algorithms(old_det, warn_only=old_warn)


def _batch_sizes(n: int, batch_size: int) -> list[int]:
    full, rest = divmod(n, batch_size)
    return [batch_size] * full + ([rest] if rest else [])


def train_generation(
    real,
    *,
    parent=None,
    real_share: float = 0.0,
    epochs: int,
    batch_size: int = 256,
    lr: float = 1e-3,
    weight_decay: float = 1e-5,
    latent_dim: int = 20,
    channels: tuple = (64, 128),
    seed: int,
    device=None,
    threads: int = 2,
    progress_bar=None,
):
    """Train one generation from scratch.

    Generation 0 (``parent=None``) sees the real images, reshuffled every
    epoch. A descendant sees, in every batch, fresh images of ``parent``'s
    decoder at :math:`z \\sim N(0, I)`; each image of the batch is instead a
    uniformly drawn real image with probability ``real_share`` (the fresh
    workflow). Every epoch has as many images as the real set.

    Parameters
    ----------
    real : Tensor, shape (n, 1, s, s)
        The real images, on ``device``.
    parent : VAE, optional
        The previous generation (its decoder is the data source).
    seed : int
        All of this generation's randomness (initialisation, batches, latent
        draws, reparameterisation noise) comes from it.

    Returns
    -------
    model : VAE
        Trained, in eval mode.
    losses : ndarray, shape (epochs,)
        Mean loss per image of each epoch.
    """
    device = real.device if device is None else torch.device(device)
    n, _, s, _ = real.shape
    with _torch_state(seed, device, threads):
        model = VAE(latent_dim, channels, s).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
        sizes = _batch_sizes(n, batch_size)
        losses = np.empty(epochs)
        for epoch in range(epochs):
            model.train()
            total = 0.0
            perm = torch.randperm(n, device=device) if parent is None else None
            start = 0
            for size in sizes:
                if parent is None:
                    batch = real[perm[start : start + size]]
                    start += size
                else:
                    batch = _descendant_batch(real, parent, size, real_share, device)
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


@torch.no_grad()
def _descendant_batch(real, parent, size, real_share, device):
    n_real = int(torch.binomial(torch.tensor(float(size)), torch.tensor(float(real_share))).item()) if real_share > 0 else 0
    z = torch.randn(size - n_real, parent.latent_dim, device=device)
    synthetic = parent.decode(z)
    if n_real == 0:
        return synthetic
    idx = torch.randint(real.shape[0], (n_real,), device=device)
    return torch.cat([real[idx], synthetic])


# ------------------------------------------------------------------- metrics
@torch.no_grad()
def latent_means(decoder, encoder, z, *, batch_size: int = 1024) -> np.ndarray:
    """Latent means, under ``encoder``, of the images ``decoder`` makes of ``z``.

    The paper's latent metric: a fixed set of latent draws is decoded by
    generation ``t`` and encoded by the generation-0 encoder.

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
    """
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
    model : VAE
    images : Tensor, shape (n, 1, s, s)

    Returns
    -------
    ndarray, shape (n,), float64
    """
    out = []
    for i in range(0, images.shape[0], batch_size):
        x = images[i : i + batch_size]
        mu, logvar = model.encode(x)
        recon = model.decode(mu)
        bce = F.binary_cross_entropy(recon, x, reduction="none").flatten(1).sum(1)
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)
        out.append((-(bce + kl)).double().cpu().numpy())
    return np.concatenate(out)


# ----------------------------------------------------------------------- run
_MODEL_FILE = "model.pt"
#: spawn-key suffix of the latent probe's seed, outside the range of generation indices.
_PROBE_KEY = 0x7E57_0000_0000


def _torch_seed(ss: np.random.SeedSequence) -> int:
    return int(ss.generate_state(1, dtype=np.uint64)[0])


def _state_bytes(model) -> bytes:
    import io

    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buf)
    return buf.getvalue()


def _load_model(record, config, device) -> VAE:
    import io

    model = VAE(config["latent_dim"], tuple(config["channels"]), config["image_size"])
    state = torch.load(io.BytesIO(record.read_artifact(_MODEL_FILE)), map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.to(device).eval()


def _resolve_device(device):
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be a torch device such as 'cpu' or 'cuda', got {device!r}: {exc}") from None


def _check_mixing(mixing) -> Mixing:
    if mixing is None:
        return Mixing.replace()
    if not isinstance(mixing, Mixing):
        raise TypeError(f"mixing must be a collapse_theory.Mixing, got {type(mixing).__name__}")
    if mixing.pooled or mixing.previous > 0:
        raise ValueError(
            f"mixing: the VAE run supports the replace and fresh workflows (previous=0, not pooled), got {mixing}"
        )
    return mixing


def run(
    generations: int = 5,
    *,
    rng=0,
    out=None,
    resume: bool = False,
    data=None,
    mnist=None,
    mixing: Mixing | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float = 1e-3,
    weight_decay: float = 1e-5,
    latent_dim: int = 20,
    channels: tuple = (64, 128),
    n_train: int | None = None,
    latent_draws: int | None = None,
    metrics=None,
    device=None,
    threads: int = 2,
    quick: bool = False,
    show_progress: bool | None = None,
):
    """Run the paper's VAE experiment: ``generations`` VAEs, each trained on its predecessor's samples.

    Generation 0 is trained on the real images; generation ``t >= 1`` from
    scratch on fresh images of generation ``t-1``'s decoder at
    :math:`z \\sim N(0, I)` (a share ``mixing.real`` of them real under the
    fresh workflow). Each generation then decodes a fixed set of latent draws
    (the *probe*, the same for all generations) and the generation-0 encoder
    encodes the images; the distribution of those latent means is the
    paper's metric (Shumailov et al. 2024, Supplementary: its standard
    deviation fell 0.674, 0.608, 0.527, 0.468, 0.433 over five generations on
    MNIST).

    Parameters
    ----------
    generations : int
        Number of generations ``G`` (models 0 .. G-1); >= 1.
    rng : None, int, SeedSequence or Generator
        Root seed; generation ``t`` uses the record's per-generation seed
        (a function of ``rng`` and ``t`` only), the probe a seed of its own.
    out : path-like, optional
        Directory written generation by generation (each generation's weights
        are an artifact ``model.pt``). None keeps the run in memory.
    resume : bool
        Continue the run in ``out`` from its last complete generation.
    data : array_like, shape (n, s, s) or (n, 1, s, s), optional
        Training images in [0, 1], ``s`` a multiple of 4.
    mnist : path-like, optional
        A directory with the MNIST IDX files (the paper's setting).
    mixing : Mixing, optional
        ``Mixing.replace()`` (default, the paper) or ``Mixing.fresh(real=g)``.
    epochs : int, optional
        Epochs per generation (default 30 with ``mnist``, as in the paper;
        20 otherwise; 3 under ``quick``).
    batch_size : int, optional
        Batch size (256, as in the paper; 64 under ``quick``, so that the few
        images of a smoke run still give enough optimiser steps).
    lr, weight_decay : float
        Adam settings (1e-3, 1e-5, as in the paper).
    latent_dim : int
        Latent dimension (20).
    channels : tuple of two ints
        Convolution channels (64, 128).
    n_train : int, optional
        Use only the first ``n_train`` images (default all; 400 under ``quick``).
    latent_draws : int, optional
        Size of the probe (default 1000; 300 under ``quick``; the paper used 100).
    metrics : sequence of str, optional
        The evaluator's metrics (:mod:`collapse_theory.runs.evaluate`) stored
        with each generation as it is written; None: all that apply to a
        sample-only family (``w2_squared_to_initial`` between the decoded
        probe images, quantiles of ``log_density_under_initial``,
        ``cov_trace``, ``cov_logdet``); ``()``: none.
    device : str or torch.device, optional
        Default: CUDA when available, else CPU. Results are reproducible on
        CPU for a fixed ``threads``; GPU runs are deterministic where PyTorch
        allows it.
    threads : int
        CPU threads used by PyTorch during the run (restored afterwards).
    quick : bool
        Small settings for a smoke run (well under two minutes on two CPU cores).
    show_progress : bool, optional
        Progress bar over epochs (default: on unless COLLAPSE_THEORY_PROGRESS=0).

    Returns
    -------
    GenerationalRun
        ``kind="vae"``, ``family="vae"``. Per generation: ``sample``, the probe's
        decoded images, shape (latent_draws, s*s), float32; ``arrays``:
        ``latent_means`` (latent_draws, latent_dim) under the generation-0
        encoder and ``log_density_under_initial`` (latent_draws,), the
        generation-0 ELBO of each image (:func:`elbo_under`); ``metrics``:
        ``latent_std``, ``latent_std_per_dim`` (latent_dim,),
        ``w2_squared_latent_to_initial`` (empirical, exact OT),
        ``train_loss`` (epochs,), ``final_loss``, and the evaluator's
        ``metrics`` computed on the sample and scores; artifact ``model.pt``.

    Raises
    ------
    ValueError, TypeError
        Bad settings or images (wrong size, values outside [0, 1]).
    FileNotFoundError
        ``mnist`` directory or its image file is missing.
    """
    from .._progress import progress
    from .evaluate import METRICS, Evaluator
    from .record import GenerationalRun, GenerationRecord

    generations = check_int("generations", generations, min=1)
    latent_dim = check_int("latent_dim", latent_dim, min=1)
    if batch_size is None:
        batch_size = 64 if quick else 256
    batch_size = check_int("batch_size", batch_size, min=1)
    lr = check_float("lr", lr, min=0.0, min_inclusive=False)
    weight_decay = check_float("weight_decay", weight_decay, min=0.0)
    threads = check_int("threads", threads, min=1)
    try:
        channels = tuple(channels)
    except TypeError:
        raise TypeError(f"channels must be a pair of ints, got {channels!r}") from None
    if len(channels) != 2:
        raise ValueError(f"channels must be a pair of ints, got {channels!r}")
    channels = tuple(check_int("channels", c, min=1) for c in channels)
    mixing = _check_mixing(mixing)
    if epochs is None:
        epochs = 3 if quick else (_EPOCHS_MNIST if mnist is not None else _EPOCHS_DIGITS)
    epochs = check_int("epochs", epochs, min=1)
    if n_train is None and quick:
        n_train = 400
    if latent_draws is None:
        latent_draws = 300 if quick else 1000
    latent_draws = check_int("latent_draws", latent_draws, min=2)
    device = _resolve_device(device)
    if metrics is not None:
        from .._validate import check_names

        metrics = check_names("metrics", metrics, METRICS)

    images, source = load_images(data, mnist)
    if n_train is not None:
        n_train = check_int("n_train", n_train, min=1)
        images = images[:n_train]
    import hashlib

    config = {
        "data": source,
        "data_sha256": hashlib.sha256(images.tobytes()).hexdigest(),
        "n_train": int(images.shape[0]),
        "image_size": int(images.shape[1]),
        "mixing": {"synthetic": mixing.synthetic, "real": mixing.real},
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "weight_decay": weight_decay,
        "latent_dim": latent_dim,
        "channels": list(channels),
        "latent_draws": latent_draws,
        "metrics": None if metrics is None else list(metrics),
    }
    record = GenerationalRun.open(out, kind="vae", family="vae", config=config, seed=rng, resume=resume)
    start = record.next_generation
    real = torch.from_numpy(images)[:, None].to(device)
    probe_ss = np.random.SeedSequence(record.seed.entropy, spawn_key=(*record.seed.spawn_key, _PROBE_KEY))
    z_probe = torch.from_numpy(
        np.random.default_rng(probe_ss).standard_normal((latent_draws, latent_dim), dtype=np.float32)
    ).to(device)

    initial = parent = None
    latent0 = evaluator = None

    def make_evaluator(sample0):
        if metrics == ():
            return None
        return Evaluator("vae", initial_sample=sample0, metrics=metrics)

    if start > 0:
        initial = _load_model(record.generations[0], config, device)
        parent = _load_model(record.generations[start - 1], config, device)
        latent0 = record.generations[0].arrays["latent_means"]
        evaluator = make_evaluator(record.generations[0].sample)

    bar = progress(total=max(generations - start, 0) * epochs, desc="vae", show=show_progress, unit="epoch")
    try:
        for t in range(start, generations):
            t0 = time.perf_counter()
            seed = _torch_seed(record.generation_seed(t))
            model, losses = train_generation(
                real,
                parent=parent,
                real_share=mixing.real if t > 0 else 0.0,
                epochs=epochs,
                batch_size=batch_size,
                lr=lr,
                weight_decay=weight_decay,
                latent_dim=latent_dim,
                channels=channels,
                seed=seed,
                device=device,
                threads=threads,
                progress_bar=bar,
            )
            t_fit = time.perf_counter()
            if t == 0:
                initial = model
            with _torch_state(seed, device, threads):
                with torch.no_grad():
                    samples = model.decode(z_probe)
                codes = latent_means(model.decode, initial.encode, z_probe)
                scores = elbo_under(initial, samples)
            sample = samples.flatten(1).cpu().numpy().astype(np.float32)
            arrays = {"latent_means": codes, "log_density_under_initial": scores}
            if latent0 is None:
                latent0 = codes
                evaluator = make_evaluator(sample)
            summary = latent_summary(codes, latent0)
            stored = {
                "latent_std": summary.std,
                "latent_std_per_dim": summary.std_per_dim,
                "w2_squared_latent_to_initial": summary.w2_squared_to_initial,
                "train_loss": losses,
                "final_loss": float(losses[-1]),
            }
            if evaluator is not None:
                stored.update(evaluator(None, sample, arrays))
            rec = GenerationRecord(
                generation=t,
                sample=sample,
                metrics=stored,
                arrays=arrays,
                wall_time=time.perf_counter() - t0,
                timing={"fit": t_fit - t0, "metrics": time.perf_counter() - t_fit},
                info={"device": str(device), "threads": threads, "seed": seed},
            )
            record.append(rec, artifacts={_MODEL_FILE: _state_bytes(model)})
            parent = model
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
    """
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
    """Standard deviation of the latent means against generation (with the paper's MNIST values)."""
    from ..plotting import SIM_COLOR, THEORY_COLOR, new_figure

    fig, ax = new_figure()
    gens = np.array([g.generation for g in run.generations])
    ax.plot(gens, run.metric("latent_std"), "o-", color=SIM_COLOR, label="this run")
    if paper:
        ax.plot(
            np.arange(len(PAPER_LATENT_STD)), PAPER_LATENT_STD, "s--", color=THEORY_COLOR, label="paper (MNIST, 30 epochs)"
        )
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("generation")
    ax.set_ylabel("std of latent means")
    ax.legend(fontsize="small")
    return fig


def _mosaic(images, cols):
    n, s, _ = images.shape
    rows = -(-n // cols)
    canvas = np.ones((rows * (s + 1) + 1, cols * (s + 1) + 1), dtype=np.float32)
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        canvas[1 + r * (s + 1) : 1 + r * (s + 1) + s, 1 + c * (s + 1) : 1 + c * (s + 1) + s] = im
    return canvas


def sample_grid_figure(run, *, n: int = 36, generations=None):
    """Decoded probe images (the same latent draws for every generation), one panel per generation."""
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


def figures(run) -> dict:
    """The run's figures: ``latent_density``, ``latent_std``, ``samples``."""
    shown = None
    if len(run.generations) > 6:
        shown = sorted(set(np.linspace(0, len(run.generations) - 1, 6).round().astype(int).tolist()))
    return {
        "latent_density": latent_density_figure(run),
        "latent_std": latent_std_figure(run),
        "samples": sample_grid_figure(run, generations=shown),
    }


# ------------------------------------------------------------------- outputs
def summary_frame(run):
    """One row per generation: latent std, latent W2 squared to generation 0, loss, ELBO under model 0, time.

    Returns
    -------
    pandas.DataFrame
        Columns ``generation``, ``latent_std``, ``w2_squared_latent_to_initial``,
        ``w2_squared_images_to_initial`` (the evaluator's sample-based W2
        squared between decoded probe images, NaN if not computed),
        ``final_loss`` (mean loss per image, last epoch),
        ``elbo_under_initial_mean`` and ``_q01`` (mean and 1% quantile of the
        generation-0 ELBO of the decoded probe images, nats), ``wall_time_s``.
    """
    import pandas as pd

    rows = []
    for g in run.generations:
        scores = np.asarray(g.arrays["log_density_under_initial"])
        rows.append(
            {
                "generation": g.generation,
                "latent_std": g.metrics["latent_std"],
                "w2_squared_latent_to_initial": g.metrics["w2_squared_latent_to_initial"],
                "w2_squared_images_to_initial": g.metrics.get("w2_squared_to_initial", np.nan),
                "final_loss": g.metrics["final_loss"],
                "elbo_under_initial_mean": float(scores.mean()),
                "elbo_under_initial_q01": float(np.quantile(scores, 0.01)),
                "wall_time_s": g.wall_time,
            }
        )
    return pd.DataFrame(rows)


def write_outputs(run, directory) -> dict:
    """Write the run's figures (PNG) and summary table (CSV, and JSON with provenance) to ``directory``.

    Returns
    -------
    dict
        ``{"figures": {name: path}, "summary_csv": path, "summary_json": path, "summary": DataFrame}``.
    """
    from .._provenance import atomic_write, provenance, write_json

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, fig in figures(run).items():
        p = directory / f"vae_{name}.png"
        fig.savefig(p, dpi=110)
        paths[name] = p
    summary = summary_frame(run)
    csv = atomic_write(directory / "vae_summary.csv", summary.to_csv(index=False))
    js = write_json(
        directory / "vae_summary.json",
        {
            "summary": summary.to_dict(orient="list"),
            "paper_latent_std_mnist": PAPER_LATENT_STD,
            "run": str(run.path) if run.path is not None else None,
            "provenance": provenance(run.config, seed=run.seed, kind="vae", extra_packages=("torch",)),
        },
    )
    return {"figures": paths, "summary_csv": csv, "summary_json": js, "summary": summary}
