"""Reader for the IDX files MNIST is distributed in (private to the VAE run).

The format (LeCun, Cortes and Burges, "The MNIST database of handwritten
digits", http://yann.lecun.com/exdb/mnist/): a big-endian header of two zero
bytes, one type byte, one byte ``ndim``, then ``ndim`` big-endian 32-bit
dimension sizes, then the data in C order. Files may be gzipped (recognised by
their magic bytes, whatever their name). A file shorter or longer than its
header says is rejected with the byte counts, never read as valid.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

__all__ = ["read_idx", "write_idx", "find_mnist_file", "load_mnist"]

#: IDX type byte -> NumPy dtype (big-endian where it matters).
_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as fh:
        raw = fh.read()
    if raw[:2] == _GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise ValueError(f"IDX file {str(path)!r}: gzip data is truncated or corrupt ({exc})") from None
    return raw


def read_idx(path) -> np.ndarray:
    """Read one IDX file (plain or gzipped).

    Parameters
    ----------
    path : path-like
        The file.

    Returns
    -------
    ndarray, shape given by the header
        In native byte order; ``uint8`` for MNIST images and labels.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the header is malformed or the data are shorter or longer than the
        header says (a truncated download).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file {str(path)!r} does not exist")
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise ValueError(f"IDX file {str(path)!r} is truncated: {len(raw)} bytes, not even a 4-byte header")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise ValueError(
            f"IDX file {str(path)!r} has no IDX header: magic bytes {raw[:4].hex()}, "
            f"expected 0000TTNN with type TT in {sorted(hex(t) for t in _DTYPES)}"
        )
    dtype = _DTYPES[raw[2]]
    ndim = raw[3]
    head = 4 + 4 * ndim
    if len(raw) < head:
        raise ValueError(f"IDX file {str(path)!r} is truncated inside its header ({len(raw)} of {head} bytes)")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = head + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "longer than its header says"
        raise ValueError(
            f"IDX file {str(path)!r} is {what}: {len(raw)} bytes (uncompressed), "
            f"expected {expected} for shape {shape} of {dtype.name}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=head).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def write_idx(path, array, *, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file (gzipped if ``compress``, default: name ends in ``.gz``)."""
    path = Path(path)
    arr = np.asarray(array)
    codes = {v.kind + str(v.itemsize): k for k, v in _DTYPES.items()}
    code = codes.get(arr.dtype.kind + str(arr.dtype.itemsize))
    if code is None:
        raise TypeError(f"array: IDX cannot hold dtype {arr.dtype}; accepted: uint8, int8, int16, int32, float32, float64")
    header = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(arr, dtype=_DTYPES[code]).tobytes()
    if compress is None:
        compress = path.suffix == ".gz"
    path.write_bytes(gzip.compress(payload) if compress else payload)
    return path


#: The standard names, and the variants (dot instead of dash) some mirrors use.
_STEMS = {
    ("train", "images"): ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    ("train", "labels"): ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    ("test", "images"): ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    ("test", "labels"): ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}


def find_mnist_file(directory, split: str = "train", kind: str = "images") -> Path | None:
    """The MNIST file of ``split`` ('train'/'test') and ``kind`` ('images'/'labels') in ``directory``, or None."""
    directory = Path(directory)
    for stem in _STEMS[(split, kind)]:
        for name in (stem, stem + ".gz"):
            if (directory / name).is_file():
                return directory / name
    return None


def load_mnist(directory, split: str = "train") -> tuple[np.ndarray, np.ndarray | None]:
    """MNIST images scaled to [0, 1] and their labels (None if the label file is absent).

    Parameters
    ----------
    directory : path-like
        A directory holding ``train-images-idx3-ubyte`` (or ``.gz``), and for
        ``split='test'`` ``t10k-images-idx3-ubyte``; labels are optional.
    split : {'train', 'test'}

    Returns
    -------
    images : ndarray, shape (n, 28, 28), float32 in [0, 1]
    labels : ndarray, shape (n,), int64, or None
    """
    from .._validate import check_choice

    split = check_choice("split", split, ("train", "test"))
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"mnist: directory {str(directory)!r} does not exist")
    img_path = find_mnist_file(directory, split, "images")
    if img_path is None:
        names = ", ".join(f"{s}[.gz]" for s in _STEMS[(split, "images")])
        raise FileNotFoundError(f"mnist: no {split} image file in {str(directory)!r}; expected one of {names}")
    images = read_idx(img_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"mnist: {str(img_path)!r} holds {images.dtype} of shape {images.shape}, expected uint8 (n, rows, cols)")
    labels = None
    lab_path = find_mnist_file(directory, split, "labels")
    if lab_path is not None:
        labels = read_idx(lab_path).astype(np.int64)
        if labels.shape != (images.shape[0],):
            raise ValueError(f"mnist: {str(lab_path)!r} has shape {labels.shape}, expected ({images.shape[0]},) to match the images")
    return images.astype(np.float32) / 255.0, labels
