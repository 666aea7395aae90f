"""``collapse-theory reproduce``: every study and run in one self-contained report.

Each section is built by a function ``build(*, quick, seed) -> Section`` in
``collapse_theory.report.sections``; :data:`SECTIONS` lists them in page
order. :func:`reproduce` runs the selected sections, writes each one's
figures (``figures/KEY_NAME.png``), tables (``data/KEY_NAME.csv``) and a JSON
record with provenance (``data/KEY.json``) as soon as it finishes, then
renders ``index.html`` from what is on disk. A section already finished with
the same settings is not run again, so an interrupted reproduce resumes; a
section that fails is recorded with its error and the others still run.

The page opens with a summary table (``data/summary.csv``): every section of
:data:`SECTIONS`, its status, settings, wall time, the number of
simulation-vs-theory tests in its tables and those failing at adjusted
p < 1e-3. It shows every section on disk, so ``--only KEY`` re-runs one
section and the page still holds the others; a footer gives provenance.
"""

from __future__ import annotations

import importlib
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from .._progress import progress_enabled
from .._provenance import atomic_write, provenance, read_json, write_json
from ._html import FAIL_LEVEL, adjusted_pvalues, render_index
from ._section import Section

__all__ = ["SECTIONS", "Section", "reproduce", "ReproduceResult", "summary_table", "write_index"]

#: key -> "module:function" of the section builder, in page order.
SECTIONS: dict[str, str] = {
    "discrete": "collapse_theory.report.sections.discrete:build",
    "sampling": "collapse_theory.report.sections.sampling:build",
    "gaussian": "collapse_theory.report.sections.gaussian:build",
    "wasserstein": "collapse_theory.report.sections.wasserstein:build",
    "gmm": "collapse_theory.report.sections.gmm:build",
    "vae": "collapse_theory.report.sections.vae:build",
    "lm": "collapse_theory.report.sections.lm:build",
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

    @property
    def ok(self) -> bool:
        return not self.failed


def _builder(key: str):
    module, func = SECTIONS[key].split(":")
    return getattr(importlib.import_module(module), func)


def _record_path(out: Path, key: str) -> Path:
    return out / "data" / f"{key}.json"


def _is_done(out: Path, key: str, quick: bool, seed: int) -> bool:
    path = _record_path(out, key)
    if not path.exists():
        return False
    try:
        rec = read_json(path)
    except (OSError, ValueError):
        return False
    if rec.get("status") != "ok" or rec.get("quick") != quick or rec.get("seed") != seed:
        return False
    files = [out / f for f in rec.get("figures", {}).values()] + [out / f for f in rec.get("tables", {}).values()]
    return all(f.exists() for f in files)


def _write_section(out: Path, key: str, section: Section, *, quick: bool, seed: int, wall: float, cpu: float = float("nan")) -> dict:
    from ..plotting import figure_png

    figures = {}
    for name, fig in section.figures.items():
        rel = f"figures/{key}_{name}.png"
        atomic_write(out / rel, figure_png(fig))
        figures[name] = rel
    tables = {}
    for name, df in section.tables.items():
        rel = f"data/{key}_{name}.csv"
        atomic_write(out / rel, df.to_csv(index=False))
        tables[name] = rel
    rec = {
        "key": key,
        "title": section.title,
        "caption": section.caption,
        "command": section.command,
        "status": "skipped" if section.skipped else "ok",
        "skipped": section.skipped,
        "figures": figures,
        "tables": tables,
        "data": section.data,
        "quick": quick,
        "seed": seed,
        "wall_time_s": wall,
        "cpu_time_s": cpu,
        "provenance": provenance({"section": key, "quick": quick}, seed=seed),
    }
    write_json(_record_path(out, key), rec)
    return rec


def _read_records(out: Path) -> list:
    """The records of every section on disk, in page order (unreadable ones as failed)."""
    records = []
    for key in SECTIONS:
        path = _record_path(out, key)
        if not path.exists():
            continue
        try:
            records.append(read_json(path))
        except (OSError, ValueError) as exc:
            records.append({"key": key, "title": key, "status": "failed", "error": f"unreadable record {path}: {exc}"})
    return records


def _table_checks(out: Path, rec: dict) -> tuple[int, list]:
    """Number of p-values in a section's tables and the rows failing at FAIL_LEVEL.

    Uses a table's ``p_adjusted`` column, or Bonferroni over its ``p_value``
    column when it has none (:func:`._html.adjusted_pvalues`).
    """
    import numpy as np
    import pandas as pd

    n, failing = 0, []
    for name, rel in rec.get("tables", {}).items():
        path = out / rel
        if not path.exists():
            continue
        df = pd.read_csv(path)
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
        this process, all threads), tests, failing, failing_checks.
        ``status`` is "ok", "checks failing", "skipped", "failed" or "not run".
    """
    import pandas as pd

    out = Path(out)
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
        rows.append(
            {
                "section": key,
                "title": rec.get("title", key),
                "status": status,
                "settings": "quick" if rec.get("quick") else "full",
                "wall_time_s": round(float(rec.get("wall_time_s") or 0.0), 2),
                "cpu_time_s": round(float(rec.get("cpu_time_s", float("nan"))), 2),
                "tests": n,
                "failing": len(failing),
                "failing_checks": note,
            }
        )
    return pd.DataFrame(rows, columns=["section", "title", "status", "settings", "wall_time_s", "cpu_time_s", "tests", "failing", "failing_checks"])


def write_index(out) -> Path:
    """Render ``OUT/index.html`` (and ``OUT/data/summary.csv``) from the sections on disk."""
    out = Path(out)
    records = _read_records(out)
    summary = summary_table(out, records)
    atomic_write(out / "data" / "summary.csv", summary.to_csv(index=False))
    page = render_index(
        out,
        records,
        summary=summary,
        summary_file="data/summary.csv",
        provenance=provenance({"sections": [r["key"] for r in records]}),
    )
    return atomic_write(out / "index.html", page)


def reproduce(out="report", *, quick: bool = False, only=None, seed: int = 0, show_progress: bool | None = None):
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
        Print a line per section (default: on unless COLLAPSE_THEORY_PROGRESS=0).

    Returns
    -------
    ReproduceResult
        Paths and which sections ran, were reused, failed or were skipped.
    """
    from .._validate import check_int, check_names

    seed = check_int("seed", seed, min=0)
    keys = check_names("only", only, SECTIONS) if only else tuple(SECTIONS)
    out = Path(out)
    (out / "data").mkdir(parents=True, exist_ok=True)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    show = progress_enabled(show_progress)
    result = ReproduceResult(out=out, index=out / "index.html")
    for i, key in enumerate(keys, 1):
        prefix = f"[{i}/{len(keys)}] {key}"
        if _is_done(out, key, quick, seed):
            result.reused.append(key)
            if show:
                print(f"{prefix}: already done, reused", flush=True)
            continue
        if show:
            print(f"{prefix}: running...", flush=True)
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            section = _builder(key)(quick=quick, seed=seed)
            rec = _write_section(out, key, section, quick=quick, seed=seed, wall=time.perf_counter() - t0, cpu=time.process_time() - c0)
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
                    "quick": quick,
                    "seed": seed,
                    "wall_time_s": time.perf_counter() - t0,
                    "cpu_time_s": time.process_time() - c0,
                    "provenance": provenance({"section": key, "quick": quick}, seed=seed),
                },
            )
            status = f"FAILED: {type(exc).__name__}: {exc}"
        if show:
            print(f"{prefix}: {status} ({time.perf_counter() - t0:.1f} s, CPU {time.process_time() - c0:.1f} s)", flush=True)
    write_index(out)
    if show:
        print(f"report written to {result.index}", flush=True)
    return result
