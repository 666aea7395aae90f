"""PyTorch helpers shared by the VAE and language-model adapters (extras ``[vae]``, ``[lm]``).

One home for what both adapters need: resolving a device name (``"auto"``
picks CUDA when available), turning a :class:`numpy.random.SeedSequence` into a
torch seed, seeding torch for one generation without leaking global state,
and serialising a model's weights reproducibly (so they can be checksummed
by :mod:`collapse_theory.runs.record`). Importing this module imports torch.
"""

from __future__ import annotations

import contextlib
import io
import os

import numpy as np
import torch

__all__ = ["resolve_device", "torch_seed", "torch_state", "state_bytes", "load_state_bytes"]


def resolve_device(device=None) -> "torch.device":
    """``None`` or ``"auto"``: CUDA if available, else CPU; otherwise ``torch.device(device)``.

    Raises ValueError naming ``device`` for a name torch does not know, and for
    a CUDA device on a machine without one.
    """
    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}: {exc}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} asks for CUDA, but torch sees no CUDA device here; use 'cpu' or 'auto'")
    return dev


def torch_seed(ss: np.random.SeedSequence) -> int:
    """A 63-bit torch seed drawn from ``ss`` (the same for the same sequence)."""
    return int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


@contextlib.contextmanager
def torch_state(seed: int, device, threads: int | None = None):
    """Seed torch for one block of work without leaking global state.

    The global torch RNG (CPU, and CUDA on ``device``) is forked and seeded
    with ``seed``; the CPU thread count is fixed when ``threads`` is given
    (CPU kernels' reductions depend on it) and deterministic algorithms are
    requested (warn only); everything is restored on exit.
    """
    device = torch.device(device)
    old_threads = torch.get_num_threads()
    old_det = torch.are_deterministic_algorithms_enabled()
    old_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    devices = [device] if device.type == "cuda" else []
    if devices:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    with torch.random.fork_rng(devices=devices, device_type=device.type if devices else "cuda"):
        torch.manual_seed(int(seed))
        if threads is not None:
            torch.set_num_threads(int(threads))
        torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            yield
        finally:
            torch.set_num_threads(old_threads)
            torch.use_deterministic_algorithms(old_det, warn_only=old_warn)


def state_bytes(model_or_state) -> bytes:
    """The weights (a module or a state dict) as ``torch.save`` bytes, on the CPU."""
    state = model_or_state.state_dict() if hasattr(model_or_state, "state_dict") else model_or_state
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in state.items()}, buf)
    return buf.getvalue()


def load_state_bytes(model, data: bytes):
    """Load weights written by :func:`state_bytes` into ``model`` (on its device); returns ``model``."""
    device = next(model.parameters()).device
    model.load_state_dict(torch.load(io.BytesIO(bytes(data)), map_location=device, weights_only=True))
    return model
