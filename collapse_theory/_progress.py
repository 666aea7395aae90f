"""Progress bars for long work (tqdm, on stderr).

Set ``COLLAPSE_THEORY_PROGRESS=0`` to silence them (the tests do not need to:
pytest captures stderr).
"""

from __future__ import annotations

import os

from tqdm.auto import tqdm

__all__ = ["progress", "progress_enabled", "heartbeat"]


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


class heartbeat:
    """Print ``"[desc] still running, N s elapsed"`` every ``interval`` seconds while a block runs.

    A daemon thread prints the line (to stdout, flushed), so work that prints
    nothing of its own for minutes, a neural-network epoch or a Numba kernel,
    still shows that it is alive. Used as a context manager::

        with heartbeat("vae", interval=10):
            build_section()

    Parameters
    ----------
    desc : str
        What is running (printed in brackets).
    interval : float
        Seconds between lines (> 0; at most 10 keeps the toolkit's promise of
        a sign of life every 10 s).
    show : bool, optional
        Print at all (default: unless ``COLLAPSE_THEORY_PROGRESS=0``).
    stream : file, optional
        Where to print (default ``sys.stdout``).

    Attributes
    ----------
    beats : int
        Lines printed so far.
    """

    def __init__(self, desc: str, interval: float = 10.0, *, show: bool | None = None, stream=None):
        if not isinstance(interval, (int, float)) or isinstance(interval, bool) or not interval > 0:
            raise ValueError(f"interval must be a positive number of seconds, got {interval!r}")
        self.desc, self.interval, self.show, self.stream = str(desc), float(interval), progress_enabled(show), stream
        self.beats = 0
        self._stop = None
        self._thread = None

    def _run(self, t0):
        import sys
        import time

        while not self._stop.wait(self.interval):
            stream = self.stream or sys.stdout
            # on a terminal, clear the line first: a progress bar may have left it half written
            clear = "\r\x1b[2K" if getattr(stream, "isatty", lambda: False)() else ""
            print(f"{clear}[{self.desc}] still running, {time.perf_counter() - t0:.0f} s elapsed", file=stream, flush=True)
            self.beats += 1

    def __enter__(self):
        import threading
        import time

        self._stop = threading.Event()
        if self.show:
            self._thread = threading.Thread(target=self._run, args=(time.perf_counter(),), name=f"heartbeat-{self.desc}", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return False
