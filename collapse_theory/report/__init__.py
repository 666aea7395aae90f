"""``collapse-theory reproduce``: every study and run in one self-contained report.

Each section is built by a function ``build(*, quick, seed) -> Section`` in
``collapse_theory.report.sections``; :data:`SECTIONS` lists them in page
order. :func:`reproduce` runs the selected sections, writes each one's
figures (``figures/KEY_NAME.png``), tables (``data/KEY_NAME.csv``) and a JSON
record (``data/KEY.json``: settings, captions, the SHA-256 of every file,
provenance with the packages the section imported and the machine) as soon as
it finishes, and rewrites ``index.html`` before and after every section, so
the page can be opened while the rest runs (the running section is marked as
such). While a section runs, a heartbeat line with its name and elapsed time
is printed every :data:`HEARTBEAT_S` seconds.

A section already finished with the same settings is reused, so an
interrupted reproduce resumes, but only if every file its record names is
inside the report directory and still has the recorded SHA-256; otherwise it
is recomputed. ``force`` recomputes sections whatever is on disk. A section
that fails is recorded with its error and the others still run.

The page opens with a summary table (``data/summary.csv``): every section of
:data:`SECTIONS`, its status, settings, wall time, the number of
simulation-vs-theory tests in its tables and those failing at adjusted
p < 1e-3 (Holm within each table, see :data:`._html.P_ADJUSTMENT`). It shows
every section on disk, so ``--only KEY`` re-runs one section and the page
still holds the others; a footer gives provenance.

Module map
----------
``_section.py``  :class:`Section`: what a section builder returns
``_html.py``     ``index.html``: one self-contained page that works offline
``sections/``    the section builders, one module per topic
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import os
import shlex
import sys
import time
import traceback
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .._progress import heartbeat, progress_enabled
from .._provenance import atomic_write, provenance, read_json, write_json
from .._validate import check_path
from ._html import FAIL_LEVEL, adjusted_pvalues, render_index, safe_relpath
from ._section import Section

__all__ = ["SECTIONS", "Section", "reproduce", "ReproduceResult", "summary_table", "write_index", "machine_info", "HEARTBEAT_S"]

#: Seconds between the heartbeat lines printed while a section runs.
HEARTBEAT_S = 10.0

#: key -> "module:function" of the section builder, in page order.
SECTIONS: dict[str, str] = {
    "discrete": "collapse_theory.report.sections.discrete:build",
    "gaussian": "collapse_theory.report.sections.gaussian:build",
    "wasserstein": "collapse_theory.report.sections.wasserstein:build",
    "gmm": "collapse_theory.report.sections.gmm:build",
    "vae": "collapse_theory.report.sections.vae:build",
    "lm": "collapse_theory.report.sections.lm:build",
    # after lm: it places the language model's measured vocabulary beside the chain under a sampler
    "sampling": "collapse_theory.report.sections.sampling:build",
    "mitigation": "collapse_theory.report.sections.mitigation:build",
    "regression": "collapse_theory.report.sections.regression:build",
    "verify": "collapse_theory.report.sections.verify:build",
}



@dataclass
class ReproduceResult:
    out: Path
    index: Path
    ran: list = field(default_factory=list)
    reused: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    #: Sections recomputed because their files on disk did not match their record: key -> why.
    rejected: dict = field(default_factory=dict)
    #: Seconds from the start until index.html was first written with a finished section.
    first_index_s: float | None = None

    @property
    def ok(self) -> bool:
        return not self.failed


def _cpu_time() -> float:
    """CPU seconds of this process (all threads) and of the child processes it has waited for."""
    import resource

    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + kids.ru_utime + kids.ru_stime


def _builder(key: str):
    module, func = SECTIONS[key].split(":")
    return getattr(importlib.import_module(module), func)


def _record_path(out: Path, key: str) -> Path:
    return out / "data" / f"{key}.json"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_record(out: Path, key: str, quick: bool, seed: int) -> str | None:
    """Why the section on disk cannot be reused (None if it can).

    Reusable: status ok or skipped with the same settings and seed, and every
    figure and table it names is inside ``out`` and has the SHA-256 recorded.
    """
    path = _record_path(out, key)
    if not path.exists():
        return "no record"
    try:
        rec = read_json(path)
    except (OSError, ValueError) as exc:
        return f"unreadable record: {exc}"
    if not isinstance(rec, dict) or rec.get("status") not in ("ok", "skipped"):
        return "not finished"
    if rec.get("quick") != quick or rec.get("seed") != seed:
        return "other settings"
    hashes = rec.get("sha256")
    if not isinstance(hashes, dict):
        return "no checksums in the record"
    for kind in ("figures", "tables"):
        items = rec.get(kind) or {}
        if not isinstance(items, dict):
            return f"malformed {kind}"
        for rel in items.values():
            full = safe_relpath(out, rel)
            if full is None:
                return f"file name {rel!r} leaves the report directory"
            if not full.is_file():
                return f"{rel} is missing"
            if hashes.get(rel) != _sha256(full):
                return f"{rel} does not match its recorded SHA-256"
    return None


def _is_done(out: Path, key: str, quick: bool, seed: int) -> bool:
    return _check_record(out, key, quick, seed) is None


# ----------------------------------------------------------------------------- provenance


def machine_info() -> dict:
    """The machine behind the numbers: CPU model, cores, GPU (if PyTorch is loaded and sees one), thread counts.

    PyTorch is not imported for this: the GPU and its thread count are
    reported only when a section has already imported it.
    """
    import platform

    info = {"cpu": platform.processor() or platform.machine(), "logical_cores": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        info["usable_cores"] = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        info["usable_cores"] = os.cpu_count()
    threads = {v: os.environ[v] for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS") if v in os.environ}
    if "numba" in sys.modules:
        try:
            threads["numba"] = int(sys.modules["numba"].get_num_threads())
        except Exception:  # numba not fully initialised: leave it out
            pass
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            threads["torch"] = int(torch.get_num_threads())
            if torch.cuda.is_available():
                info["gpu"] = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
            else:
                info["gpu"] = "none seen by torch"
        except Exception:  # a broken CUDA install: report the CPU only
            info["gpu"] = "unknown (torch could not query CUDA)"
    info["threads"] = threads
    return info


@lru_cache(maxsize=1)
def _owners() -> dict:
    """Top-level module -> the distributions providing it (scanned once per process)."""
    from importlib import metadata

    try:
        return metadata.packages_distributions()
    except Exception:  # a broken installation: nothing to map
        return {}


def _distributions(modules) -> dict:
    """{distribution: version} of the top-level modules given (those from no distribution left out)."""
    from importlib import metadata

    owners = _owners()
    out = {}
    for top in sorted({m.split(".")[0] for m in modules}):
        for dist in owners.get(top, ()):
            try:
                out[dist] = metadata.version(dist)
            except metadata.PackageNotFoundError:
                continue
    return dict(sorted(out.items(), key=lambda kv: kv[0].lower()))


def _section_provenance(key: str, quick: bool, seed: int, before: set) -> dict:
    prov = provenance({"section": key, "quick": quick}, seed=seed)
    now = set(sys.modules)
    prov["imported_by_section"] = _distributions(now - before)
    prov["packages_loaded"] = _distributions(now)
    prov["machine"] = machine_info()
    return prov


# ----------------------------------------------------------------------------- writing


def _regenerate(out: Path, key: str, quick: bool, seed: int) -> str:
    """The command that recomputes this one section in place."""
    cmd = ["collapse-theory", "reproduce", "--out", str(out), "--only", key, "--force", key]
    if quick:
        cmd.append("--quick")
    cmd += ["--seed", str(seed)]
    return " ".join(shlex.quote(c) for c in cmd)


def _normalised(df):
    """The table with its ``p_adjusted`` recomputed by the page's one method (Holm within the table)."""
    if "p_value" not in df.columns:
        return df
    df = df.copy()
    df["p_adjusted"] = adjusted_pvalues(df)
    return df


def _write_section(out: Path, key: str, section: Section, *, quick: bool, seed: int, wall: float, cpu: float = float("nan"),
                   modules_before: set | None = None) -> dict:
    from ..plotting import figure_png

    figures, tables, hashes = {}, {}, {}
    for name, fig in section.figures.items():
        rel = f"figures/{key}_{name}.png"
        data = figure_png(fig)
        atomic_write(out / rel, data)
        figures[name] = rel
        hashes[rel] = hashlib.sha256(data).hexdigest()
    for name, df in section.tables.items():
        rel = f"data/{key}_{name}.csv"
        data = _normalised(df).to_csv(index=False).encode("utf-8")
        atomic_write(out / rel, data)
        tables[name] = rel
        hashes[rel] = hashlib.sha256(data).hexdigest()
    rec = {
        "key": key,
        "title": section.title,
        "caption": section.caption,
        "captions": {name: section.captions.get(name, "") for name in section.figures},
        "command": section.command,
        "regenerate": _regenerate(out, key, quick, seed),
        "status": "skipped" if section.skipped else "ok",
        "skipped": section.skipped,
        "figures": figures,
        "tables": tables,
        "sha256": hashes,
        "notes": section.notes,
        "settings": section.settings,
        "data": section.data,
        "quick": quick,
        "seed": seed,
        "wall_time_s": wall,
        "cpu_time_s": cpu,
        "provenance": _section_provenance(key, quick, seed, modules_before if modules_before is not None else set(sys.modules)),
    }
    write_json(_record_path(out, key), rec)
    return rec


def _read_records(out: Path, transient: dict | None = None) -> list:
    """The records of every section on disk, in page order (unreadable ones as failed).

    ``transient`` maps keys to records that replace what is on disk (a section running now, or queued).
    """
    transient = transient or {}
    records = []
    for key in SECTIONS:
        path = _record_path(out, key)
        if key in transient:
            rec = dict(transient[key])
            if path.exists():
                try:
                    rec.setdefault("title", read_json(path).get("title") or key)
                except (OSError, ValueError, AttributeError):
                    pass
            rec.setdefault("title", key)
            records.append(rec)
            continue
        if not path.exists():
            continue
        try:
            rec = read_json(path)
            if not isinstance(rec, dict):
                raise ValueError("not a JSON object")
            rec["key"] = key
            records.append(rec)
        except (OSError, ValueError) as exc:
            records.append({"key": key, "title": key, "status": "failed", "error": f"unreadable record {path}: {exc}"})
    return records


def _table_checks(out: Path, rec: dict) -> tuple[int, list]:
    """Number of p-values in a section's tables and the rows failing at FAIL_LEVEL.

    Uses :func:`._html.adjusted_pvalues` (Holm within each table).
    """
    import numpy as np
    import pandas as pd

    n, failing = 0, []
    if rec.get("status") in ("running", "queued"):
        return 0, []
    tables = rec.get("tables") or {}
    for name, rel in (tables.items() if isinstance(tables, dict) else ()):
        path = safe_relpath(out, rel)
        if path is None or not path.is_file():
            continue
        try:
            df = pd.read_csv(path)
        except (ValueError, OSError, UnicodeDecodeError):  # a damaged CSV: the page says so; nothing to count
            continue
        adj = adjusted_pvalues(df)
        label_cols = [c for c in ("check", "quantity", "params") if c in df.columns]
        for i, a in enumerate(adj):
            if np.isnan(a):
                continue
            n += 1
            if a < FAIL_LEVEL:
                label = " ".join(str(df[c].iloc[i]) for c in label_cols) or f"row {i}"
                failing.append(f"{name}: {label}")
    return n, failing


def summary_table(out, records=None):
    """One row per section of :data:`SECTIONS`: status, settings, wall time, tests, failing checks.

    Returns
    -------
    pandas.DataFrame
        Columns: section, title, status, settings, wall_time_s, cpu_time_s (CPU seconds of
        this process, all threads, and of the processes it ran, such as the pretrained
        LM's), tests, failing, failing_checks.
        ``status`` is "ok", "checks failing", "skipped", "failed", "running", "queued" or "not run".
    """
    import pandas as pd

    out = Path(check_path("out", out))
    if records is None and not out.is_dir():
        raise FileNotFoundError(f"out: no report directory at {out} (run `collapse-theory reproduce --out {out}` first)")
    by_key = {r["key"]: r for r in (records if records is not None else _read_records(out))}
    rows = []
    for key in SECTIONS:
        rec = by_key.get(key)
        if rec is None:
            rows.append({"section": key, "title": "", "status": "not run", "settings": "", "wall_time_s": float("nan"), "cpu_time_s": float("nan"),
                         "tests": 0, "failing": 0, "failing_checks": ""})
            continue
        n, failing = _table_checks(out, rec)
        status = rec.get("status", "failed")
        if status == "ok" and failing:
            status = "checks failing"
        note = "; ".join(failing)
        if status == "skipped":
            note = rec.get("skipped") or ""
        elif status == "failed":
            note = rec.get("error", "")
        elif status == "running":
            note = f"running since {rec.get('started', '')}"
        transient = status in ("running", "queued")
        rows.append(
            {
                "section": key,
                "title": rec.get("title", key),
                "status": status,
                "settings": rec.get("settings") or ("quick" if rec.get("quick") else "full"),
                "wall_time_s": float("nan") if transient else round(float(rec.get("wall_time_s") or 0.0), 2),
                "cpu_time_s": float("nan") if transient else round(float(rec.get("cpu_time_s", float("nan"))), 2),
                "tests": n,
                "failing": len(failing),
                "failing_checks": note,
            }
        )
    return pd.DataFrame(rows, columns=["section", "title", "status", "settings", "wall_time_s", "cpu_time_s", "tests", "failing", "failing_checks"])


def write_index(out, *, running: str | None = None, queued=(), quick: bool | None = None, seed: int | None = None) -> Path:
    """Render ``OUT/index.html`` (and ``OUT/data/summary.csv``) from the sections on disk.

    Parameters
    ----------
    out : path
    running : str, optional
        A section running now: shown as running whatever is on disk.
    queued : sequence of str
        Sections this run will compute later: shown as queued.
    quick, seed : optional
        Their settings (shown for the running and queued ones).
    """
    out = Path(check_path("out", out))
    transient = {}
    stamp = time.strftime("%H:%M:%S")
    for k in queued:
        transient[k] = {"key": k, "status": "queued", "quick": quick, "seed": seed}
    if running is not None:
        transient[running] = {"key": running, "status": "running", "started": stamp, "quick": quick, "seed": seed}
    records = _read_records(out, transient)
    summary = summary_table(out, records)
    atomic_write(out / "data" / "summary.csv", summary.to_csv(index=False))
    prov = provenance({"sections": [r["key"] for r in records]})
    prov["machine"] = machine_info()
    page = render_index(out, records, summary=summary, summary_file="data/summary.csv", provenance=prov)
    return atomic_write(out / "index.html", page)


def reproduce(out="report", *, quick: bool = False, only=None, seed: int = 0, show_progress: bool | None = None, force=None):
    """Run the report's sections and write ``OUT/index.html``.

    Parameters
    ----------
    out : path
        Output directory (created).
    quick : bool
        Small settings (about three minutes in all).
    only : sequence of str, optional
        Section keys to run (default: all of :data:`SECTIONS`).
    seed : int
        Base seed; each section derives its own from it.
    show_progress : bool, optional
        Print a line per section and a heartbeat every :data:`HEARTBEAT_S`
        seconds while one runs (default: on unless COLLAPSE_THEORY_PROGRESS=0).
    force : bool or sequence of str, optional
        Recompute instead of reusing what is on disk: True for every selected
        section, or the keys of the sections to recompute.

    Returns
    -------
    ReproduceResult
        Paths and which sections ran, were reused, failed or were skipped,
        and which finished sections on disk were rejected (and why).

    Raises
    ------
    ValueError, TypeError
        For an unknown section name in ``only`` or ``force``, a negative seed,
        or an ``out`` that is an existing file.
    """
    from .._validate import check_int, check_names

    seed = check_int("seed", seed, min=0)
    keys = check_names("only", only, SECTIONS) if only else tuple(SECTIONS)
    if force is None or force is False:
        forced = set()
    elif force is True:
        forced = set(keys)
    else:
        forced = set(check_names("force", force, SECTIONS)) if len(tuple(force)) else set(keys)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out must be a directory, got the existing file {str(out)!r}")
    (out / "data").mkdir(parents=True, exist_ok=True)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    show = progress_enabled(show_progress)
    result = ReproduceResult(out=out, index=out / "index.html")
    t_start = time.perf_counter()
    for i, key in enumerate(keys, 1):
        prefix = f"[{i}/{len(keys)}] {key}"
        why = "forced" if key in forced else _check_record(out, key, quick, seed)
        if why is None:
            result.reused.append(key)
            if show:
                print(f"{prefix}: already done, reused (checksums match)", flush=True)
            continue
        if why not in ("no record", "not finished", "other settings", "forced"):
            result.rejected[key] = why
        if show:
            reason = f" ({why})" if why not in ("no record",) else ""
            print(f"{prefix}: running{reason}...", flush=True)
        write_index(out, running=key, queued=[k for k in keys[i:] if k in forced or not _is_done(out, k, quick, seed)],
                    quick=quick, seed=seed)
        t0, c0 = time.perf_counter(), _cpu_time()
        before = set(sys.modules)
        try:
            with heartbeat(key, HEARTBEAT_S, show=show):
                builder = _builder(key)
                # a builder that reads other sections' records (sampling reads lm's) is told where they are
                extra = {"out": out} if "out" in inspect.signature(builder).parameters else {}
                section = builder(quick=quick, seed=seed, **extra)
                rec = _write_section(out, key, section, quick=quick, seed=seed, wall=time.perf_counter() - t0,
                                     cpu=_cpu_time() - c0, modules_before=before)
            (result.skipped if rec["status"] == "skipped" else result.ran).append(key)
            status = f"skipped ({section.skipped})" if section.skipped else "done"
        except Exception as exc:  # a failing section is reported, the others still run
            result.failed.append(key)
            write_json(
                _record_path(out, key),
                {
                    "key": key,
                    "title": key,
                    "status": "failed",
                    "error": f"{type(exc).__name__}: {exc}",
                    "traceback": traceback.format_exc(),
                    "regenerate": _regenerate(out, key, quick, seed),
                    "quick": quick,
                    "seed": seed,
                    "wall_time_s": time.perf_counter() - t0,
                    "cpu_time_s": _cpu_time() - c0,
                    "provenance": _section_provenance(key, quick, seed, before),
                },
            )
            status = f"FAILED: {type(exc).__name__}: {exc}"
        write_index(out, queued=[k for k in keys[i:] if k in forced or not _is_done(out, k, quick, seed)], quick=quick, seed=seed)
        if result.first_index_s is None:
            result.first_index_s = time.perf_counter() - t_start
        if show:
            print(f"{prefix}: {status} ({time.perf_counter() - t0:.1f} s, CPU {_cpu_time() - c0:.1f} s); "
                  f"{result.index} updated", flush=True)
    write_index(out)
    if result.first_index_s is None:
        result.first_index_s = time.perf_counter() - t_start
    if show:
        print(f"report written to {result.index}", flush=True)
    return result
