"""Progress bars for long work (tqdm, on stderr).

Set ``COLLAPSE_THEORY_PROGRESS=0`` to silence them (the tests do not need to:
pytest captures stderr).
"""

from __future__ import annotations

import os

from tqdm.auto import tqdm

__all__ = ["progress", "progress_enabled"]


def progress_enabled(show: bool | None = None) -> bool:
    if show is not None:
        return bool(show)
    return os.environ.get("COLLAPSE_THEORY_PROGRESS", "1") not in ("0", "false", "no")


def progress(iterable=None, *, total=None, desc: str = "", show: bool | None = None, unit: str = "it"):
    """A tqdm bar over ``iterable`` (or a manual bar of ``total`` steps)."""
    return tqdm(
        iterable,
        total=total,
        desc=desc,
        unit=unit,
        disable=not progress_enabled(show),
        leave=False,
        dynamic_ncols=True,
    )
