"""The generational process: how each dataset is drawn, and how large it is.

Generation ``i`` holds ``M_i`` samples from ``p_i``; a model is fitted to them
and the next dataset is drawn from the mixture (Shumailov et al. 2024, eq. 1)

.. math:: p_{i+1} = \\alpha\\, p_{\\theta_{i+1}} + \\beta\\, p_i + \\gamma\\, p_0,

``alpha`` (``synthetic``): the newly fitted model, ``beta`` (``previous``): the
distribution the previous dataset was drawn from, ``gamma`` (``real``): the
original distribution. Each of the ``M`` samples independently comes from one
of the three with these probabilities.

Workflows:

* ``Mixing.replace()`` (alpha = 1): the paper's theory.
* ``Mixing.fresh(real=g)``: a share ``g`` of every dataset is fresh original data.
* ``Mixing.accumulate()``: every generation's new samples are *added* to the
  pool; the model of generation ``t`` is fitted to the original data and all
  synthetic data drawn so far (Gerstgrasser et al. 2024). ``real`` may be
  combined with it (fresh original samples added to the pool each generation).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from ._validate import check_array, check_float, check_int

__all__ = ["Mixing", "Schedule", "schedules", "as_schedule"]


@dataclass(frozen=True)
class Mixing:
    """Where each generation's data come from.

    Parameters
    ----------
    synthetic, previous, real : float
        ``alpha``, ``beta``, ``gamma`` of the paper's mixture; non-negative,
        summing to 1 (within 1e-12).
    pooled : bool
        If True (the accumulate workflow), new samples are added to the pool
        of all data so far instead of replacing the previous dataset.
    """

    synthetic: float = 1.0
    previous: float = 0.0
    real: float = 0.0
    pooled: bool = False

    def __post_init__(self):
        for name in ("synthetic", "previous", "real"):
            v = check_float(f"mixing.{name}", getattr(self, name), min=0.0, max=1.0)
            object.__setattr__(self, name, v)
        total = self.synthetic + self.previous + self.real
        if abs(total - 1.0) > 1e-12:
            raise ValueError(
                f"mixing: synthetic + previous + real must sum to 1, got "
                f"{self.synthetic} + {self.previous} + {self.real} = {total}"
            )
        if not isinstance(self.pooled, (bool, np.bool_)):
            raise TypeError(f"mixing.pooled must be a bool, got {self.pooled!r}")
        object.__setattr__(self, "pooled", bool(self.pooled))

    @classmethod
    def replace(cls) -> "Mixing":
        """alpha = 1: each generation is trained only on its predecessor's samples."""
        return cls(1.0, 0.0, 0.0)

    @classmethod
    def fresh(cls, real: float = 0.1) -> "Mixing":
        """A share ``real`` of every dataset is drawn afresh from ``p0``."""
        real = check_float("real", real, min=0.0, max=1.0)
        return cls(1.0 - real, 0.0, real)

    @classmethod
    def accumulate(cls, real: float = 0.0) -> "Mixing":
        """The pool of all data drawn so far is kept (Gerstgrasser et al. 2024).

        Each generation draws ``M`` new samples (a share ``real`` of them fresh
        original data, the rest from the current model) and adds them to the
        pool; the next model is fitted to the whole pool.
        """
        real = check_float("real", real, min=0.0, max=1.0)
        return cls(1.0 - real, 0.0, real, pooled=True)

    @property
    def workflow(self) -> str:
        """'replace', 'fresh', 'accumulate' or 'mixture' (beta > 0 without accumulation)."""
        if self.pooled:
            return "accumulate"
        if self.previous > 0:
            return "mixture"
        if self.real > 0:
            return "fresh"
        return "replace"

    def to_dict(self) -> dict:
        return {
            "synthetic": self.synthetic,
            "previous": self.previous,
            "real": self.real,
            "pooled": self.pooled,
            "workflow": self.workflow,
        }


@dataclass(frozen=True)
class Schedule:
    """Sample sizes ``M_t`` for generations ``t = 1, 2, ...``.

    ``kind`` is 'constant' (``M_t = M0``), 'linear' (``M_t = round(M0 + slope (t-1))``),
    'power' (``M_t = round(M0 t^exponent)``) or 'array' (given values).
    """

    kind: str
    m0: int = 0
    slope: float = 0.0
    exponent: float = 0.0
    values: tuple = ()

    def sizes(self, generations: int) -> np.ndarray:
        """``M_1, ..., M_G`` as an int64 array of shape ``(generations,)``."""
        generations = check_int("generations", generations, min=0)
        t = np.arange(1, generations + 1, dtype=np.float64)
        if self.kind == "constant":
            out = np.full(generations, self.m0, dtype=np.int64)
        elif self.kind == "linear":
            out = np.rint(self.m0 + self.slope * (t - 1)).astype(np.int64)
        elif self.kind == "power":
            out = np.rint(self.m0 * t**self.exponent).astype(np.int64)
        else:
            if len(self.values) < generations:
                raise ValueError(
                    f"sample_size: the array gives {len(self.values)} sizes but "
                    f"{generations} generations were asked for"
                )
            out = np.asarray(self.values[:generations], dtype=np.int64)
        if out.size and out.min() < 1:
            raise ValueError(f"sample_size: schedule {self} gives a size below 1 ({out.min()})")
        return out

    def to_dict(self) -> dict:
        d = {"kind": self.kind}
        if self.kind == "array":
            d["values"] = list(self.values)
        else:
            d.update(m0=self.m0, slope=self.slope, exponent=self.exponent)
        return d


class schedules:  # noqa: N801  (a namespace, as in the public API ct.schedules.*)
    """Sample-size schedules ``M_t``."""

    @staticmethod
    def constant(M: int) -> Schedule:
        """``M_t = M`` for every generation."""
        return Schedule("constant", m0=check_int("M", M, min=1))

    @staticmethod
    def linear(M0: int, slope: float) -> Schedule:
        """``M_t = round(M0 + slope (t - 1))``, so ``M_1 = M0``."""
        return Schedule("linear", m0=check_int("M0", M0, min=1), slope=check_float("slope", slope, min=0.0))

    @staticmethod
    def power(M0: int, exponent: float) -> Schedule:
        """``M_t = round(M0 t^exponent)``; the paper's criterion: bounded E W2^2 iff exponent > 1."""
        return Schedule(
            "power", m0=check_int("M0", M0, min=1), exponent=check_float("exponent", exponent, min=0.0)
        )


def as_schedule(sample_size, name: str = "sample_size") -> Schedule:
    """Normalise an int, a :class:`Schedule` or an int array of ``M_t`` to a Schedule."""
    if isinstance(sample_size, Schedule):
        return sample_size
    if isinstance(sample_size, numbers.Integral) and not isinstance(sample_size, bool):
        return schedules.constant(check_int(name, sample_size, min=1))
    if isinstance(sample_size, (list, tuple, np.ndarray)):
        arr = np.asarray(sample_size)
        if arr.ndim != 1 or arr.size == 0 or not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"{name} must be an int, a ct.schedules.* schedule or a 1-D int array, got {arr.dtype} of shape {arr.shape}")
        arr = check_array(name, arr, ndim=1, dtype=np.int64)
        if arr.min() < 1:
            raise ValueError(f"{name} must be >= 1 everywhere, got a minimum of {arr.min()}")
        return Schedule("array", values=tuple(int(v) for v in arr))
    raise TypeError(
        f"{name} must be an int, a ct.schedules.* schedule or a 1-D int array, got {type(sample_size).__name__}"
    )
