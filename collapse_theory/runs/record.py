"""The record of a learned generational run, written to disk generation by generation.

A *generational run* refits a model, generation after generation, to data
drawn (wholly or partly) from its predecessor (Shumailov et al., Nature 2024,
eq. 1). Every adapter (``gmm``, ``vae``, ``lm``) writes the same record,
:class:`GenerationalRun`, and the evaluator (:func:`collapse_theory.runs.evaluate`)
reads only this record, so the same estimators measure every model family.

API
---
::

    run = GenerationalRun.open(out, kind="gmm", config={...}, seed=0,
                               resume=False, family="gmm", truth=None,
                               sample_keep=None)
    t0 = run.next_generation              # 0 for a new run, n after n complete ones
    rng = run.generation_rng(t)           # depends on (seed, t) only
    run.append(GenerationRecord(generation=t, params={...}, sample=x,
                                metrics={...}, arrays={...}, wall_time=s,
                                timing={"fit": ..., "sample": ...}, info={...}),
               artifacts={"model.pt": lambda p: torch.save(sd, p)})
    run.generations[t].params["means"]; run.generations[t].artifact_path("model.pt")
    run.save(path); GenerationalRun.load(path)

* ``open(out=None, ...)`` keeps the run in memory (artifacts as bytes).
  ``open(out=DIR, resume=False)`` creates ``DIR`` and refuses (FileExistsError)
  a directory that already holds anything: nothing is silently overwritten.
  ``open(out=DIR, resume=True)`` reloads the complete generations of an
  existing run (or starts a new one if ``DIR`` is absent or empty); ``kind``,
  ``config``, ``seed`` and ``family`` must equal the stored ones (ValueError
  listing the differences otherwise). The adapter continues at
  ``run.next_generation``.
* Randomness of generation ``t`` comes from :meth:`GenerationalRun.generation_seed`,
  ``SeedSequence(entropy, spawn_key=(*spawn_key, t))``, a function of the
  run's seed and ``t`` only, so a resumed run gives exactly the result of an
  uninterrupted one.
* ``sample_keep`` bounds the stored sample: only its first ``sample_keep``
  rows are kept (the rows are i.i.d., so this is a uniform subsample and
  needs no randomness). ``None`` keeps all; ``0`` keeps none.
* ``truth`` (optional): the true distribution ``D_0`` as a dict of arrays,
  either parametric (``{"weights", "means", "covariances"}`` for a Gaussian
  mixture, ``{"mean", "cov"}`` for a Gaussian) or a sample (``{"sample": x}``).

On-disk format (``FORMAT = 2``)
-------------------------------
::

    DIR/run.json                  manifest: format, kind, family, config, seed
                                  {entropy, spawn_key}, sample_keep, provenance,
                                  resumes (one timestamped entry per resume)
    DIR/truth.npz                 optional, the true distribution's arrays
    DIR/gen-000000/               one folder per generation (6+ digits)
        data.npz                  every array of the record, by key:
                                  params/NAME   fitted parameters
                                  arrays/NAME   sample-level arrays (e.g.
                                                per-sample scores)
                                  sample        optional bounded subsample,
                                                shape (k, ...)
        artifacts/NAME            adapter files (state_dict, token arrays ...)
        record.json               generation, wall_time, timing, info,
                                  metrics (floats and nested lists of
                                  floats; non-finite as "nan"/"inf"),
                                  artifact names, and {file: [size, sha256]}
                                  of every file above
        COMPLETE                  written last: sha256 of record.json

A generation is committed atomically: its files are written into a hidden
temporary folder ``DIR/.tmp-gen-NNNNNN-*``, ``COMPLETE`` last, and the folder
is then renamed to ``gen-NNNNNN`` (a rename is atomic on POSIX). A generation
counts as valid only if ``COMPLETE`` matches ``record.json`` and every file's
size and checksum match the ones listed there. ``record.json`` also holds
``content_sha256`` (a digest of the generation's arrays, metrics and
artifacts, independent of time and file layout) and ``parent_sha256`` (that
of generation ``t - 1``). A damaged or missing generation ``t`` does not
discard the valid ones after it: :meth:`GenerationalRun.load` returns the
valid generations before it in ``generations`` and those after it in
``detached`` (with a warning), leaving the directory untouched;
``open(..., resume=True)`` deletes only the damaged folders (and temporary
ones), and when the adapter appends the recomputed generation ``t`` whose
content digest equals what generation ``t + 1`` recorded as its parent, the
stored generations ``t + 1, ...`` are attached again without being
recomputed (``next_generation`` jumps past them; an adapter that recomputes
them anyway gets the stored record back if it is identical). A stored
descendant whose parent does not match is deleted and recomputed.

Artifact and file names in ``record.json`` must be plain names inside the
generation's folder (no absolute path, ``..`` or separator), on writing and
on reading; ``truth.npz`` is checksummed in ``run.json``. A damaged
``run.json`` or ``truth.npz`` raises :class:`RecordError` (a ValueError). Data files are not fsync'ed (an interrupted
*process* cannot leave a partial renamed folder; after an OS crash the
checksums catch what the page cache lost). One process writes a run at a time.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import warnings
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._provenance import provenance as _provenance
from .._provenance import read_json, to_jsonable, write_json
from .._provenance import versions as _versions
from .._rng import seed_sequence
from .._validate import check_int

__all__ = ["GenerationalRun", "GenerationRecord", "RecordError", "FORMAT"]


class RecordError(ValueError):
    """A run record on disk that is damaged or not a record (run.json, truth.npz, a generation)."""

#: Version of the on-disk format.
FORMAT = 2

_GEN_RE = re.compile(r"^gen-(\d{6,})$")
_MANIFEST = "run.json"
_TRUTH = "truth.npz"
_COMPLETE = "COMPLETE"
_RECORD = "record.json"
_DATA = "data.npz"


def _gen_name(t: int) -> str:
    return f"gen-{t:06d}"


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _arrays(name: str, d) -> dict[str, np.ndarray]:
    if d is None:
        return {}
    if not isinstance(d, Mapping):
        raise TypeError(f"{name} must be a dict of name -> array, got {type(d).__name__}")
    out = {}
    for k, v in d.items():
        if not isinstance(k, str) or not k:
            raise TypeError(f"{name} keys must be non-empty strings, got {k!r}")
        a = np.asarray(v)
        if a.dtype == object:
            raise TypeError(f"{name}[{k!r}] must be a numeric array, got an object array")
        out[k] = a
    return out


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        raise RecordError(f"{path}: not a readable .npz file ({type(exc).__name__}: {exc})") from None


def _plain_name(what: str, name) -> str:
    """``name`` if it is a plain file name (stays inside its folder); RecordError otherwise."""
    if (
        not isinstance(name, str)
        or not name
        or name in (".", "..")
        or name.startswith(".")
        or "/" in name
        or "\\" in name
        or "\x00" in name
        or os.path.isabs(name)
    ):
        raise RecordError(f"{what} must be a plain file name (no '/', '\\', '..', not hidden, not absolute), got {name!r}")
    return name


def _file_key(folder: Path, key) -> str:
    """A key of record.json's ``files``: ``data.npz`` or ``artifacts/NAME`` with a plain NAME."""
    if key == _DATA:
        return key
    if isinstance(key, str) and key.startswith("artifacts/"):
        _plain_name(f"{folder.name}: file {key!r}", key[len("artifacts/") :])
        return key
    raise RecordError(f"{folder.name}: record.json lists a file {key!r} outside data.npz and artifacts/")


def _content_digest(rec: GenerationRecord, artifact_sha: dict) -> str:
    """sha256 of what a generation holds: arrays (dtype, shape, bytes), metrics, artifacts' digests.

    Not of times, ``info`` or the zip layout, so a generation recomputed from
    the same seed and parent gives the same digest.
    """
    h = hashlib.sha256()
    arrays = {f"params/{k}": v for k, v in rec.params.items()}
    arrays.update({f"arrays/{k}": v for k, v in rec.arrays.items()})
    if rec.sample is not None:
        arrays["sample"] = rec.sample
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        h.update(json.dumps([key, a.dtype.str, list(a.shape)]).encode())
        h.update(a.tobytes())
    h.update(json.dumps(to_jsonable(rec.metrics), sort_keys=True).encode())
    h.update(json.dumps(sorted(artifact_sha.items())).encode())
    return h.hexdigest()


@dataclass
class GenerationRecord:
    """What one generation of a run produced.

    Parameters
    ----------
    generation : int
        Index ``t`` (0 is the model fitted to the original data).
    params : dict of str -> ndarray
        Fitted parameters (e.g. ``weights`` (K,), ``means`` (K, d),
        ``covariances`` (K, d, d) for a Gaussian mixture).
    sample : ndarray, shape (k, ...), optional
        A bounded subsample of the data this generation's model produced
        (trimmed to the run's ``sample_keep`` rows on append).
    metrics : dict of str -> float or ndarray
        Per-generation metrics (scalars or small arrays; stored as float64).
    arrays : dict of str -> ndarray
        Sample-level arrays, e.g. ``log_density_under_initial`` (k,): each
        sample scored by the generation-0 model (the evaluator summarises it).
    wall_time : float
        Seconds this generation took.
    timing : dict of str -> float
        Optional breakdown of ``wall_time`` (e.g. ``fit``, ``sample``, ``metrics``).
    info : dict
        JSON-able extra facts (e.g. EM iterations, convergence flag).
    """

    generation: int
    params: dict = field(default_factory=dict)
    sample: np.ndarray | None = None
    metrics: dict = field(default_factory=dict)
    arrays: dict = field(default_factory=dict)
    wall_time: float = float("nan")
    timing: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    # name -> bytes (in-memory run) or Path (committed on disk)
    _artifacts: dict = field(default_factory=dict, repr=False, compare=False)
    # content digest (see _content_digest) and that of the parent, once committed or read
    _content: str | None = field(default=None, repr=False, compare=False)
    _parent: str | None = field(default=None, repr=False, compare=False)

    @property
    def artifacts(self) -> tuple[str, ...]:
        """Names of the generation's artifact files."""
        return tuple(self._artifacts)

    def artifact_path(self, name: str) -> Path:
        """Path of an artifact of a generation stored on disk."""
        where = self._artifact(name)
        if not isinstance(where, Path):
            raise ValueError(
                f"artifact {name!r} of generation {self.generation} is held in memory (the run has no "
                "directory); use read_artifact(name), or save the run first"
            )
        return where

    def read_artifact(self, name: str) -> bytes:
        """The bytes of an artifact (works for in-memory and on-disk runs)."""
        where = self._artifact(name)
        return where.read_bytes() if isinstance(where, Path) else where

    def _artifact(self, name):
        if not isinstance(name, str) or name not in self._artifacts:
            raise KeyError(f"generation {self.generation} has no artifact {name!r}; it has {list(self._artifacts)}")
        _plain_name("artifact name", name)
        where = self._artifacts[name]
        if isinstance(where, Path) and (where.name != name or where.parent.name != "artifacts"):
            raise RecordError(f"artifact {name!r} of generation {self.generation} points outside its folder: {where}")
        return where


def _validate_record(rec: GenerationRecord) -> None:
    if not isinstance(rec, GenerationRecord):
        raise TypeError(f"record must be a GenerationRecord, got {type(rec).__name__}")
    rec.generation = check_int("record.generation", rec.generation, min=0)
    rec.params = _arrays("record.params", rec.params)
    rec.arrays = _arrays("record.arrays", rec.arrays)
    metrics = {}
    for k, v in (rec.metrics or {}).items():
        a = np.asarray(v)
        if not np.issubdtype(a.dtype, np.number) and a.dtype != np.bool_:
            raise TypeError(f"record.metrics[{k!r}] must be a number or numeric array, got {v!r}")
        metrics[str(k)] = float(a) if a.ndim == 0 else a.astype(float)
    rec.metrics = metrics
    if rec.sample is not None:
        rec.sample = np.asarray(rec.sample)
        if rec.sample.ndim == 0:
            raise ValueError("record.sample must have at least one dimension (rows are samples)")
    rec.wall_time = float(rec.wall_time)
    rec.timing = {str(k): float(v) for k, v in (rec.timing or {}).items()}
    rec.info = dict(rec.info or {})


def _store_artifact(name: str, src, dst: Path) -> None:
    """Write artifact ``name`` at ``dst`` from bytes, an existing file's path, or a callable(path)."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        dst.write_bytes(bytes(src))
    elif isinstance(src, (str, os.PathLike)):
        shutil.copyfile(src, dst)
    elif callable(src):
        src(dst)
        if not dst.is_file():
            raise ValueError(f"artifact writer for {name!r} did not create a file at the path it was given")
    else:
        raise TypeError(
            f"artifact {name!r} must be bytes, a path to an existing file, or a callable(path) that "
            f"writes it; got {type(src).__name__}"
        )


def _artifact_bytes(name: str, src) -> bytes:
    """The bytes of an artifact (for runs held in memory)."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        return bytes(src)
    with tempfile.TemporaryDirectory() as tmp:
        dst = Path(tmp) / name
        _store_artifact(name, src, dst)
        return dst.read_bytes()


def _write_generation(folder: Path, rec: GenerationRecord, artifacts: dict, parent: str | None) -> str:
    """Write a generation's files into ``folder`` (which must exist), COMPLETE last; returns its content digest."""
    for name in artifacts:
        _plain_name("artifact name", name)
    files = {}
    # one in-memory npz: a single file to open and a checksum without reading it back
    arrays = {f"params/{k}": v for k, v in rec.params.items()}
    arrays.update({f"arrays/{k}": v for k, v in rec.arrays.items()})
    if rec.sample is not None:
        arrays["sample"] = rec.sample
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    data = buf.getvalue()
    (folder / _DATA).write_bytes(data)
    files[_DATA] = [len(data), hashlib.sha256(data).hexdigest()]
    names = []
    if artifacts:
        (folder / "artifacts").mkdir()
    for name, src in artifacts.items():
        _store_artifact(name, src, folder / "artifacts" / name)
        names.append(f"artifacts/{name}")
    for name in names:  # artifacts: hashed from disk (they may be large files written by a callable)
        p = folder / name
        files[name] = [p.stat().st_size, _sha256_file(p)]
    content = _content_digest(rec, {n: files[f"artifacts/{n}"][1] for n in artifacts})
    meta = {
        "format": FORMAT,
        "generation": rec.generation,
        "wall_time": to_jsonable(rec.wall_time),  # non-finite values as strings: strict JSON
        "timing": to_jsonable(rec.timing),
        "info": to_jsonable(rec.info),
        "metrics": to_jsonable(rec.metrics),  # floats round-trip exactly through JSON (repr)
        "artifacts": list(artifacts),
        "files": files,
        "content_sha256": content,
        "parent_sha256": parent,
    }
    text = json.dumps(meta, indent=1) + "\n"
    (folder / _RECORD).write_text(text)
    (folder / _COMPLETE).write_text(hashlib.sha256(text.encode()).hexdigest() + "\n")
    return content


def _read_generation(folder: Path, t: int, verify: bool) -> GenerationRecord:
    """Read a committed generation; raise ValueError if it is not valid."""
    try:
        text = (folder / _RECORD).read_text()
        marker = (folder / _COMPLETE).read_text().strip()
    except OSError as exc:
        raise ValueError(f"{folder.name}: missing {exc.filename}") from None
    if hashlib.sha256(text.encode()).hexdigest() != marker:
        raise ValueError(f"{folder.name}: COMPLETE marker does not match record.json")
    meta = json.loads(text)
    if meta.get("generation") != t:
        raise ValueError(f"{folder.name}: record says generation {meta.get('generation')}, expected {t}")
    for name in meta["artifacts"]:
        _plain_name(f"{folder.name}: artifact name", name)
        if f"artifacts/{name}" not in meta["files"]:
            raise ValueError(f"{folder.name}: artifact {name!r} has no size and checksum in record.json")
    for name, (size, digest) in meta["files"].items():
        _file_key(folder, name)
        p = folder / name
        if not p.is_file() or p.stat().st_size != size:
            raise ValueError(f"{folder.name}: {name} is missing or has the wrong size")
        if verify and _sha256_file(p) != digest:
            raise ValueError(f"{folder.name}: checksum of {name} does not match")
    data = _load_npz(folder / _DATA)

    def part(prefix):
        return {k[len(prefix) + 1 :]: v for k, v in data.items() if k.startswith(prefix + "/")}

    metrics = {k: (np.array(v, dtype=float) if isinstance(v, list) else float(v)) for k, v in meta["metrics"].items()}
    return GenerationRecord(
        generation=t,
        params=part("params"),
        sample=data.get("sample"),
        metrics=metrics,
        arrays=part("arrays"),
        wall_time=float(meta["wall_time"]),
        timing={k: float(v) for k, v in meta["timing"].items()},
        info=meta["info"],
        _artifacts={name: folder / "artifacts" / name for name in meta["artifacts"]},
        _content=meta.get("content_sha256"),
        _parent=meta.get("parent_sha256"),
    )


def _scan(path: Path, verify: bool):
    """(valid generations contiguous from 0, damaged folders, later valid generations by index).

    A generation after a damaged or missing one is kept (in the third item)
    when it is valid itself; whether it still belongs to the run is decided
    when the damaged one is recomputed (its parent digest must match).
    """
    found = {}
    for p in path.iterdir():
        m = _GEN_RE.match(p.name)
        if m and p.is_dir():
            found[int(m.group(1))] = p
    records, bad, later = [], [], {}
    first_bad = None
    for t in sorted(found):
        try:
            rec = _read_generation(found[t], t, verify)
        except (ValueError, OSError, KeyError, TypeError, json.JSONDecodeError) as exc:
            bad.append(found[t])
            if first_bad is None:
                first_bad = t
                warnings.warn(
                    f"run {path}: generation {t} is not valid ({exc}); it will be recomputed on resume", stacklevel=4
                )
            continue
        if first_bad is None and t == len(records):
            records.append(rec)
        else:
            later[t] = rec
    missing = len(records)
    if later and first_bad is None or (first_bad is not None and first_bad > missing):
        warnings.warn(f"run {path}: generation {missing} is missing; later generations are detached", stacklevel=4)
    if later:
        warnings.warn(
            f"run {path}: {len(later)} valid generation(s) after generation {missing} ({min(later)}..{max(later)}) "
            "are kept in run.detached; open(..., resume=True) recomputes what is damaged and reattaches them",
            stacklevel=4,
        )
    return records, bad, later


def _package_names(names) -> tuple:
    """``extra_packages`` checked: a tuple of non-empty distribution names."""
    if isinstance(names, str) or not isinstance(names, (list, tuple, set, frozenset)):
        raise TypeError(f"extra_packages must be a tuple of package names, e.g. ('torch',), got {names!r}")
    bad = [n for n in names if not isinstance(n, str) or not n.strip()]
    if bad:
        raise TypeError(f"extra_packages must hold non-empty package names (str), got {bad!r}")
    return tuple(dict.fromkeys(names))


class GenerationalRun:
    """A learned generational run: configuration, provenance and per-generation records.

    Create one with :meth:`open` (new, resumed or in memory) or :meth:`load`;
    see the module docstring for the on-disk format.

    Attributes
    ----------
    kind : str
        Adapter that produced the run (``"gmm"``, ``"vae"``, ``"lm"``, ...).
    family : str
        Model family of the per-generation parameters, used by the evaluator
        to pick estimators: ``"gmm"`` (``weights`` (K,), ``means`` (K, d),
        ``covariances`` (K, d, d)), ``"gaussian"`` (``mean`` (d,), ``cov``
        (d, d)), anything else = no known density (sample-based metrics and
        adapter-stored scores only).
    config : dict
        JSON-able configuration (compared on resume).
    seed : numpy.random.SeedSequence
        Root of all per-generation randomness.
    provenance : dict
        Parameters, seed, versions and creation time.
    generations : list of GenerationRecord
        Complete generations, ``generations[t].generation == t``.
    path : pathlib.Path or None
        Directory written generation by generation, or None (in memory).
    truth : dict of str -> ndarray or None
        The true distribution ``D_0`` if known (see module docstring).
    sample_keep : int or None
        Rows of each generation's sample kept (None: all).
    """

    def __init__(self, *, kind, config, seed, family=None, truth=None, sample_keep=None, path=None, prov=None,
                 extra_packages=()):
        if not isinstance(kind, str) or not kind:
            raise TypeError(f"kind must be a non-empty string, got {kind!r}")
        self.kind = kind
        self.family = kind if family is None else str(family)
        if config is None:
            config = {}
        if not isinstance(config, Mapping):
            raise TypeError(f"config must be a dict, got {type(config).__name__}")
        self.config = to_jsonable(dict(config))
        self.seed = seed_sequence(seed)
        self.truth = _arrays("truth", truth) or None
        self.sample_keep = None if sample_keep is None else check_int("sample_keep", sample_keep, min=0)
        self.path = None if path is None else Path(path)
        if prov is None:
            prov = _provenance(self.config, seed=self.seed, kind=kind,
                               extra_packages=_package_names(extra_packages))
        self.provenance = prov
        self.resumes: list[str] = []
        self.generations: list[GenerationRecord] = []
        #: Valid generations found after a damaged or missing one, by index (see the module docstring).
        self.detached: dict[int, GenerationRecord] = {}

    # ------------------------------------------------------------------ creation
    @classmethod
    def open(
        cls,
        out=None,
        *,
        kind: str,
        config: dict | None = None,
        seed=None,
        resume: bool = False,
        family: str | None = None,
        truth: dict | None = None,
        sample_keep: int | None = None,
        verify: bool = True,
        extra_packages: tuple[str, ...] = (),
    ) -> GenerationalRun:
        """Start a run (in memory or in directory ``out``), or resume one.

        Parameters
        ----------
        out : str or PathLike, optional
            Directory written generation by generation; None keeps the run in memory.
        kind, config, family, truth, sample_keep
            See the class attributes; on resume they must equal the stored ones
            (``truth`` and ``sample_keep`` are taken from disk).
        seed : None, int, SeedSequence or Generator
            Root seed; None draws fresh entropy, which is recorded (so a
            resumed run continues the same streams).
        resume : bool
            If True and ``out`` holds a run, reload its complete generations
            and continue from :attr:`next_generation`; an invalid tail is
            deleted so it is redone. If False, ``out`` must be absent or empty.
        verify : bool
            Check every file's checksum when reloading (sizes are always checked).
        extra_packages : tuple of str
            Distribution names (as ``pip`` knows them, e.g. ``("torch",
            "transformers")``) of the packages the adapter imports, whose
            versions go into ``provenance["versions"]`` beside the toolkit's
            own (None for one that is not installed). On resume the stored
            provenance is kept, and the versions found now are added under
            ``provenance["resumed_versions"]``.

        Raises
        ------
        FileExistsError
            ``out`` is not empty and ``resume`` is False.
        ValueError
            On resume, the stored kind, family, config or seed differ.
        TypeError
            ``extra_packages`` is not a sequence of strings.

        Examples
        --------
        >>> run = GenerationalRun.open(kind="demo", config={"n": 1}, seed=0,
        ...                            extra_packages=("scipy", "not-installed-anywhere"))
        >>> v = run.provenance["versions"]
        >>> v["scipy"] is not None, v["not-installed-anywhere"]
        (True, None)
        """
        extra_packages = _package_names(extra_packages)
        if out is None:
            if resume:
                raise ValueError("resume=True needs out=DIRECTORY to resume from")
            return cls(kind=kind, config=config, seed=seed, family=family, truth=truth, sample_keep=sample_keep,
                       extra_packages=extra_packages)
        path = Path(out)
        if path.exists() and not path.is_dir():
            raise FileExistsError(f"out={str(path)!r} exists and is not a directory")
        has_content = path.is_dir() and any(path.iterdir())
        if has_content and not resume:
            raise FileExistsError(
                f"out={str(path)!r} already holds files; pass resume=True to continue that run, "
                "or choose a new directory (runs are never overwritten)"
            )
        if has_content:
            if not (path / _MANIFEST).is_file():
                raise FileExistsError(f"out={str(path)!r} holds files but no {_MANIFEST}: not a generational run")
            run = cls._read(path, verify=verify, cleanup=True)
            wanted = cls(kind=kind, config=config, seed=seed, family=family)
            diffs = run._differences(wanted)
            if diffs:
                raise ValueError(
                    f"cannot resume the run in {str(path)!r}: it was started with different settings: "
                    + "; ".join(diffs)
                )
            run.resumes.append(_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
            if extra_packages:
                run.provenance.setdefault("resumed_versions", []).append(_versions(extra_packages))
            run._write_manifest()
            return run
        run = cls(kind=kind, config=config, seed=seed, family=family, truth=truth, sample_keep=sample_keep, path=path,
                  extra_packages=extra_packages)
        path.mkdir(parents=True, exist_ok=True)
        if run.truth is not None:
            _save_npz(path / _TRUTH, run.truth)
        run._write_manifest()
        return run

    def _truth_entry(self):
        p = None if self.path is None else self.path / _TRUTH
        if p is None or not p.is_file():
            return None
        return [p.stat().st_size, _sha256_file(p)]

    @classmethod
    def load(cls, path, *, verify: bool = True) -> GenerationalRun:
        """Read a run from directory ``path`` (read-only: nothing is changed on disk).

        Only complete, valid generations are loaded (contiguous from 0); an
        invalid tail is reported with a warning and left in place.
        """
        path = Path(path)
        if not (path / _MANIFEST).is_file():
            raise FileNotFoundError(f"{str(path)!r} is not a generational run (no {_MANIFEST})")
        return cls._read(path, verify=verify, cleanup=False)

    @classmethod
    def _read(cls, path: Path, *, verify: bool, cleanup: bool) -> GenerationalRun:
        where = path / _MANIFEST
        try:
            man = read_json(where)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RecordError(f"{str(where)!r} is damaged: not readable JSON ({type(exc).__name__}: {exc})") from None
        if not isinstance(man, dict):
            raise RecordError(f"{str(where)!r} is damaged: not a JSON object")
        if man.get("format") != FORMAT:
            raise RecordError(f"{str(path)!r}: unsupported run format {man.get('format')!r} (this version reads {FORMAT})")
        try:
            seed = np.random.SeedSequence(int(man["seed"]["entropy"]), spawn_key=tuple(int(k) for k in man["seed"]["spawn_key"]))
            kind, config, family, sample_keep, prov = man["kind"], man["config"], man["family"], man["sample_keep"], man["provenance"]
            resumes = list(man.get("resumes", []))
        except (KeyError, TypeError, ValueError) as exc:
            raise RecordError(f"{str(where)!r} is damaged: missing or malformed entry ({type(exc).__name__}: {exc})") from None
        truth = None
        want = man.get("truth_sha256")
        tp = path / _TRUTH
        if tp.is_file():
            if want is not None:
                if not (isinstance(want, list) and len(want) == 2):
                    raise RecordError(f"{str(where)!r} is damaged: malformed truth_sha256 {want!r}")
                if tp.stat().st_size != want[0] or _sha256_file(tp) != want[1]:
                    raise RecordError(f"{str(tp)!r} does not match its checksum in {_MANIFEST}: the true distribution was altered or damaged")
            truth = _load_npz(tp)
        elif man.get("has_truth") or want is not None:
            raise RecordError(f"{str(tp)!r} is missing but {_MANIFEST} says the run has one")
        try:
            run = cls(kind=kind, config=config, seed=seed, family=family, truth=truth, sample_keep=sample_keep, path=path, prov=prov)
        except (TypeError, ValueError) as exc:
            raise RecordError(f"{str(where)!r} is damaged: {exc}") from None
        run.resumes = resumes
        run.generations, bad, run.detached = _scan(path, verify)
        if cleanup:
            for p in bad:
                shutil.rmtree(p)
            for p in path.glob(".tmp-gen-*"):
                shutil.rmtree(p, ignore_errors=True)
        return run

    def _differences(self, other: GenerationalRun) -> list[str]:
        diffs = []
        if self.kind != other.kind:
            diffs.append(f"kind {self.kind!r} (stored) vs {other.kind!r}")
        if self.family != other.family:
            diffs.append(f"family {self.family!r} (stored) vs {other.family!r}")
        if (self.seed.entropy, tuple(self.seed.spawn_key)) != (other.seed.entropy, tuple(other.seed.spawn_key)):
            diffs.append(
                f"seed entropy={self.seed.entropy} spawn_key={tuple(self.seed.spawn_key)} (stored) vs "
                f"entropy={other.seed.entropy} spawn_key={tuple(other.seed.spawn_key)}"
            )
        a, b = self.config, other.config
        for k in sorted(set(a) | set(b)):
            if a.get(k, "<absent>") != b.get(k, "<absent>"):
                diffs.append(f"config[{k!r}] {a.get(k, '<absent>')!r} (stored) vs {b.get(k, '<absent>')!r}")
        return diffs

    def _manifest(self) -> dict:
        return {
            "format": FORMAT,
            "kind": self.kind,
            "family": self.family,
            "config": self.config,
            "seed": {"entropy": str(self.seed.entropy), "spawn_key": list(self.seed.spawn_key)},
            "sample_keep": self.sample_keep,
            "has_truth": self.truth is not None,
            "truth_sha256": self._truth_entry(),
            "provenance": self.provenance,
            "resumes": self.resumes,
        }

    def _write_manifest(self) -> None:
        write_json(self.path / _MANIFEST, self._manifest())

    # ------------------------------------------------------------------ randomness
    def generation_seed(self, t: int) -> np.random.SeedSequence:
        """SeedSequence of generation ``t``: a function of the run's seed and ``t`` only.

        ``SeedSequence(entropy, spawn_key=(*spawn_key, t))``; a resumed run
        therefore draws exactly what an uninterrupted one would.
        """
        t = check_int("t", t, min=0)
        return np.random.SeedSequence(self.seed.entropy, spawn_key=(*self.seed.spawn_key, t))

    def generation_rng(self, t: int) -> np.random.Generator:
        """A fresh Generator for generation ``t`` (see :meth:`generation_seed`)."""
        return np.random.default_rng(self.generation_seed(t))

    # ------------------------------------------------------------------ generations
    @property
    def next_generation(self) -> int:
        """Index of the next generation to produce (= number of complete ones)."""
        return len(self.generations)

    def __len__(self) -> int:
        return len(self.generations)

    def generation_dir(self, t: int) -> Path:
        """Folder of committed generation ``t`` (on-disk runs only)."""
        if self.path is None:
            raise ValueError("the run is held in memory (open it with out=DIR to have generation folders)")
        t = check_int("t", t, min=0, max=len(self.generations) - 1)
        return self.path / _gen_name(t)

    def append(self, record: GenerationRecord, artifacts: Mapping | None = None) -> GenerationRecord:
        """Commit the next generation (atomically, if the run has a directory).

        Parameters
        ----------
        record : GenerationRecord
            ``record.generation`` must equal :attr:`next_generation`. Its
            sample is trimmed to ``sample_keep`` rows.
        artifacts : dict of str -> bytes, path or callable, optional
            Files stored with the generation: bytes, the path of an existing
            file (copied), or ``callable(path)`` that writes the file at
            ``path`` (e.g. ``lambda p: torch.save(state_dict, p)``). Names are
            plain file names.

        Returns
        -------
        GenerationRecord
            The committed record (artifacts now refer to the stored copies).
        """
        _validate_record(record)
        artifacts = dict(artifacts or {})
        for name in artifacts:
            try:
                _plain_name("artifact name", name)
            except RecordError as exc:
                raise ValueError(f"artifact names must be plain file names (no '/', not hidden): {exc}") from None
        if record.sample is not None and self.sample_keep is not None:
            record.sample = record.sample[: self.sample_keep].copy()
        t = record.generation
        if t < self.next_generation and self.generations[t]._content is not None:
            # a generation reattached from disk, recomputed by an adapter that did not skip it
            shas = {n: hashlib.sha256(_artifact_bytes(n, src)).hexdigest() for n, src in artifacts.items()}
            if _content_digest(record, shas) == self.generations[t]._content:
                return self.generations[t]
        if t != self.next_generation:
            raise ValueError(f"record.generation must be {self.next_generation} (the next generation), got {t}")
        parent = self.generations[-1]._content if self.generations else None
        if self.path is None:
            record._artifacts = {n: _artifact_bytes(n, src) for n, src in artifacts.items()}
            record._content = _content_digest(record, {n: hashlib.sha256(b).hexdigest() for n, b in record._artifacts.items()})
            record._parent = parent
            self.generations.append(record)
            return record
        final = self.path / _gen_name(t)
        tmp = Path(tempfile.mkdtemp(dir=self.path, prefix=f".tmp-{_gen_name(t)}-"))
        try:
            content = _write_generation(tmp, record, artifacts, parent)
            if final.exists():  # an invalid leftover of an interrupted attempt
                shutil.rmtree(final)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        record._artifacts = {n: final / "artifacts" / n for n in artifacts}
        record._content, record._parent = content, parent
        self.detached.pop(t, None)
        self.generations.append(record)
        self._reattach()
        return record

    def _reattach(self) -> None:
        """Attach the stored generations that follow the last one, while their parent digest matches it."""
        while self.detached:
            t = self.next_generation
            held = self.detached.get(t)
            if held is None:
                return
            if held._parent is not None and held._parent == self.generations[-1]._content:
                self.generations.append(self.detached.pop(t))
                continue
            # another history (or an older format without digests): these are recomputed
            for k in sorted(k for k in self.detached if k >= t):
                del self.detached[k]
                if self.path is not None:
                    shutil.rmtree(self.path / _gen_name(k), ignore_errors=True)
            return

    # ------------------------------------------------------------------ saving
    def save(self, path) -> Path:
        """Write the whole run to directory ``path`` (absent or empty) and return it.

        Saving an on-disk run to its own directory only refreshes the manifest.
        """
        path = Path(path)
        if self.path is not None and path.resolve() == self.path.resolve():
            self._write_manifest()
            return path
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise FileExistsError(f"path={str(path)!r} already holds files; choose a new directory")
        path.mkdir(parents=True, exist_ok=True)
        copy = GenerationalRun(
            kind=self.kind,
            config=self.config,
            seed=self.seed,
            family=self.family,
            truth=self.truth,
            sample_keep=self.sample_keep,
            path=path,
            prov=self.provenance,
        )
        copy.resumes = list(self.resumes)
        if self.truth is not None:
            _save_npz(path / _TRUTH, self.truth)
        copy._write_manifest()
        parent = None
        for rec in self.generations:
            arts = {_plain_name("artifact name", n): rec._artifact(n) for n in rec.artifacts}
            folder = path / _gen_name(rec.generation)
            folder.mkdir()
            parent = _write_generation(folder, rec, arts, parent)
        return path

    # ------------------------------------------------------------------ access
    def metric(self, name: str) -> np.ndarray:
        """Stored metric ``name`` for every generation, shape (G,) or (G, ...); NaN where absent."""
        vals = [rec.metrics.get(name) for rec in self.generations]
        present = [np.asarray(v, dtype=float) for v in vals if v is not None]
        if not present:
            raise KeyError(f"no generation of this run stores metric {name!r}")
        shape = present[0].shape
        return np.stack([np.full(shape, np.nan) if v is None else np.asarray(v, dtype=float) for v in vals])

    def metrics_frame(self):
        """Stored metrics as a tidy pandas DataFrame: generation, metric, index, value.

        ``index`` is the flat position inside an array-valued metric (0 for scalars).
        """
        import pandas as pd

        rows = []
        for rec in self.generations:
            for k, v in rec.metrics.items():
                for i, x in enumerate(np.ravel(np.asarray(v, dtype=float))):
                    rows.append((rec.generation, k, i, float(x)))
        return pd.DataFrame(rows, columns=["generation", "metric", "index", "value"])

    @property
    def wall_times(self) -> np.ndarray:
        """Seconds per generation, shape (G,)."""
        return np.array([rec.wall_time for rec in self.generations], dtype=float)

    def __repr__(self) -> str:
        where = "in memory" if self.path is None else str(self.path)
        return f"GenerationalRun(kind={self.kind!r}, family={self.family!r}, generations={len(self)}, {where})"
