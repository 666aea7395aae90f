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

from ._validate import check_array, check_choice, check_float, check_int

__all__ = ["Mixing", "WORKFLOWS", "check_mixing", "Schedule", "schedules", "as_schedule"]


#: Every workflow name :attr:`Mixing.workflow` can return, in the order the docs list them.
WORKFLOWS = ("replace", "fresh", "mixture", "accumulate", "accumulate-subsample", "augment")


@dataclass(frozen=True)
class Mixing:
    """Where each generation's data come from: the one vocabulary of the toolkit.

    Chains, theory functions, studies, learned runs, sweeps and the command
    line all take a ``Mixing``; nothing else says where data come from.

    Parameters
    ----------
    synthetic, previous, real : float
        ``alpha``, ``beta``, ``gamma`` of the paper's mixture; non-negative,
        summing to 1 (within 1e-12). Each of a generation's ``M`` new samples
        independently comes from the new model, the previous generation's
        distribution or the original distribution with these probabilities.
    pooled : bool
        If True (the accumulate workflows), new samples are added to the pool
        of all data so far instead of replacing the previous dataset.
    subsample : bool
        Only with ``pooled``: each model is fitted to a uniform random subset
        of size ``M`` of the pool, drawn without replacement (Kazdan et al.
        2024, "Collapse or thrive?"), instead of to the whole pool.
    synthetic_ratio : float or None
        The augmentation workflow (Bertrand et al., ICLR 2024; Alemohammad et
        al., ICLR 2024): every generation is fitted to the same original
        sample ``D_0`` plus ``round(synthetic_ratio * |D_0|)`` fresh draws from
        the current model. ``None`` for every other workflow; when set,
        ``synthetic`` is 1 and ``pooled`` False.

    Examples
    --------
    >>> from collapse_theory import Mixing
    >>> Mixing.fresh(real=0.1).workflow
    'fresh'
    >>> Mixing.from_spec("accumulate-subsample") == Mixing.accumulate(subsample=True)
    True
    >>> Mixing.from_spec("augment:2").synthetic_ratio
    2.0
    >>> Mixing.fresh(0.25).to_spec()
    'fresh:0.25'
    """

    synthetic: float = 1.0
    previous: float = 0.0
    real: float = 0.0
    pooled: bool = False
    subsample: bool = False
    synthetic_ratio: float | None = None

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
        for name in ("pooled", "subsample"):
            v = getattr(self, name)
            if not isinstance(v, (bool, np.bool_)):
                raise TypeError(f"mixing.{name} must be a bool, got {v!r}")
            object.__setattr__(self, name, bool(v))
        if self.subsample and not self.pooled:
            raise ValueError(
                "mixing.subsample=True needs pooled=True: subsampling draws from the pool of all data "
                "(use Mixing.accumulate(subsample=True))"
            )
        if self.pooled and self.previous > 0:
            raise ValueError(
                "mixing: previous > 0 has no meaning with pooled=True (the pool already keeps every "
                "previous dataset); use Mixing.accumulate(real=...) or previous = 0"
            )
        if self.synthetic_ratio is not None:
            r = check_float("mixing.synthetic_ratio", self.synthetic_ratio)
            if not r > 0:
                raise ValueError(f"mixing.synthetic_ratio must be > 0 (synthetic draws per original sample), got {r}")
            object.__setattr__(self, "synthetic_ratio", r)
            if self.pooled or self.synthetic != 1.0:
                raise ValueError(
                    "mixing.synthetic_ratio (augmentation) cannot be combined with pooled=True or with "
                    "previous/real shares; use Mixing.augment(synthetic_ratio=...)"
                )

    @classmethod
    def replace(cls) -> "Mixing":
        """alpha = 1: each generation is trained only on its predecessor's samples (the paper's theory)."""
        return cls(1.0, 0.0, 0.0)

    @classmethod
    def fresh(cls, real: float = 0.1) -> "Mixing":
        """A share ``real`` of every dataset is drawn afresh from ``p0`` (each sample independently)."""
        real = check_float("real", real, min=0.0, max=1.0)
        return cls(1.0 - real, 0.0, real)

    @classmethod
    def accumulate(cls, real: float = 0.0, *, subsample: bool = False) -> "Mixing":
        """The pool of all data drawn so far is kept (Gerstgrasser et al. 2024).

        Each generation draws ``M`` new samples (a share ``real`` of them fresh
        original data, the rest from the current model) and adds them to the
        pool; the next model is fitted to the whole pool, or, with
        ``subsample=True``, to a uniform random subset of size ``M`` of it
        drawn without replacement (Kazdan et al. 2024).
        """
        real = check_float("real", real, min=0.0, max=1.0)
        return cls(1.0 - real, 0.0, real, pooled=True, subsample=subsample)

    @classmethod
    def augment(cls, synthetic_ratio: float = 1.0) -> "Mixing":
        """Fixed real data plus fresh synthetic data (Bertrand et al., ICLR 2024).

        Every generation is fitted to the original sample ``D_0`` (kept fixed)
        plus ``round(synthetic_ratio * |D_0|)`` new draws from the current model.
        """
        return cls(1.0, 0.0, 0.0, synthetic_ratio=synthetic_ratio)

    @property
    def workflow(self) -> str:
        """One of :data:`WORKFLOWS`: 'replace', 'fresh', 'mixture' (beta > 0 without
        accumulation), 'accumulate', 'accumulate-subsample' or 'augment'."""
        if self.synthetic_ratio is not None:
            return "augment"
        if self.pooled:
            return "accumulate-subsample" if self.subsample else "accumulate"
        if self.previous > 0:
            return "mixture"
        if self.real > 0:
            return "fresh"
        return "replace"

    @classmethod
    def from_spec(cls, spec) -> "Mixing":
        """Parse the one text form used by grids, flags and records.

        Accepted: ``"replace"``, ``"fresh"`` (share 0.1) or ``"fresh:G"``,
        ``"accumulate"`` or ``"accumulate:G"`` (fresh share ``G`` added to the
        pool), ``"accumulate-subsample"`` (or ``"accumulate-subsample:G"``),
        ``"augment:R"`` (``R`` synthetic draws per original sample; ``"augment"``
        alone is ``R = 1``) and ``"mixture:A,B,G"`` (synthetic, previous, real).
        A ``Mixing`` is returned as is, and a dict is passed to the constructor
        (as :meth:`to_dict` writes it).
        """
        if isinstance(spec, Mixing):
            return spec
        if isinstance(spec, dict):
            d = {k: v for k, v in spec.items() if k != "workflow"}
            unknown = set(d) - {"synthetic", "previous", "real", "pooled", "subsample", "synthetic_ratio"}
            if unknown:
                raise ValueError(f"mixing: unknown keys {sorted(unknown)} in {spec!r}")
            return cls(**d)
        if not isinstance(spec, str):
            raise TypeError(f"mixing must be a ct.Mixing, a dict or a spec string such as 'fresh:0.1', got {type(spec).__name__}")
        name, _, arg = spec.strip().partition(":")
        name = name.strip().lower()
        accepted = "'replace', 'fresh[:G]', 'accumulate[:G]', 'accumulate-subsample[:G]', 'augment[:R]' or 'mixture:A,B,G'"

        def num(text, what):
            try:
                return float(text)
            except ValueError:
                raise ValueError(f"mixing: {what} in {spec!r} must be a number, got {text!r}") from None

        if name == "replace" and not arg:
            return cls.replace()
        if name == "fresh":
            return cls.fresh(num(arg, "the fresh share") if arg else 0.1)
        if name in ("accumulate", "accumulate-subsample"):
            return cls.accumulate(num(arg, "the fresh share") if arg else 0.0, subsample=name == "accumulate-subsample")
        if name == "augment":
            return cls.augment(num(arg, "the synthetic ratio") if arg else 1.0)
        if name == "mixture" and arg:
            parts = [p for p in arg.split(",")]
            if len(parts) != 3:
                raise ValueError(f"mixing: 'mixture:' takes three shares A,B,G (synthetic, previous, real), got {spec!r}")
            a, b, g = (num(p, "a share") for p in parts)
            return cls(a, b, g)
        raise ValueError(f"mixing: unknown workflow {spec!r}; accepted: {accepted}")

    def to_spec(self) -> str:
        """The text form read by :meth:`from_spec` (round trip: ``from_spec(m.to_spec()) == m``)."""
        wf = self.workflow
        if wf == "replace":
            return "replace"
        if wf == "augment":
            return f"augment:{self.synthetic_ratio!r}"
        if wf == "mixture":
            return f"mixture:{self.synthetic!r},{self.previous!r},{self.real!r}"
        if wf == "fresh":
            return f"fresh:{self.real!r}"
        return wf if self.real == 0 else f"{wf}:{self.real!r}"

    def to_dict(self) -> dict:
        return {
            "synthetic": self.synthetic,
            "previous": self.previous,
            "real": self.real,
            "pooled": self.pooled,
            "subsample": self.subsample,
            "synthetic_ratio": self.synthetic_ratio,
            "workflow": self.workflow,
        }


def check_mixing(mixing, accepted=WORKFLOWS, *, where: str = "") -> Mixing:
    """Normalise ``mixing`` (a Mixing, spec string, dict or None for replace) and check its workflow.

    Parameters
    ----------
    mixing : Mixing, str, dict or None
        Anything :meth:`Mixing.from_spec` reads; None is ``Mixing.replace()``.
    accepted : tuple of str
        The workflows the caller can honour (default: all of :data:`WORKFLOWS`).
    where : str
        The caller's name, for the error message (e.g. ``"GaussianChain"``).

    Returns
    -------
    Mixing

    Raises
    ------
    ValueError
        Naming ``mixing`` and the workflows ``where`` accepts, when the
        workflow is not among ``accepted`` (or the spec is malformed).
    TypeError
        For a ``mixing`` of another type.

    Examples
    --------
    >>> from collapse_theory.process import check_mixing
    >>> check_mixing("fresh:0.1").to_spec()
    'fresh:0.1'
    >>> check_mixing(None).workflow
    'replace'
    >>> check_mixing("accumulate", accepted=("replace", "fresh"), where="f")
    Traceback (most recent call last):
    ...
    ValueError: mixing: f cannot honour the 'accumulate' workflow (accumulate); accepted workflows: replace, fresh
    """
    if mixing is None:
        return Mixing.replace()
    m = Mixing.from_spec(mixing)
    if m.workflow not in accepted:
        place = f"{where} " if where else ""
        raise ValueError(
            f"mixing: {place}cannot honour the {m.workflow!r} workflow ({m.to_spec()}); "
            f"accepted workflows: {', '.join(accepted)}"
        )
    return m


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

    def __post_init__(self):
        kind = check_choice("kind", self.kind, ("constant", "linear", "power", "array"))
        if kind == "array":
            vals = self.values
            if isinstance(vals, (str, bytes)) or not isinstance(vals, (tuple, list, np.ndarray)):
                raise TypeError(f"values must be a sequence of sample sizes (int >= 1), got {type(vals).__name__}")
            # each an int >= 1: 1.5 would be truncated silently by an int conversion
            object.__setattr__(self, "values", tuple(check_int("values", v, min=1) for v in np.ravel(np.asarray(vals, dtype=object))))
        else:
            object.__setattr__(self, "m0", check_int("m0", self.m0, min=1))
            object.__setattr__(self, "slope", check_float("slope", self.slope))
            object.__setattr__(self, "exponent", check_float("exponent", self.exponent))

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
    """Normalise an int, a :class:`Schedule` or an int array of ``M_t`` to a Schedule.

    Parameters
    ----------
    sample_size : int, Schedule or 1-D int array_like
        An int ``M`` is the constant schedule; an array gives ``M_1, M_2, ...``.
    name : str
        The parameter's name in error messages.

    Returns
    -------
    Schedule

    Raises
    ------
    ValueError
        If a size is below 1.
    TypeError
        For any other type (a float, a 2-D array).

    Examples
    --------
    >>> from collapse_theory.process import as_schedule
    >>> as_schedule(100).kind, as_schedule([10, 20, 40]).values
    ('constant', (10, 20, 40))
    """
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
