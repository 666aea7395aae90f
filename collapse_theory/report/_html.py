"""Render the report's ``index.html``: one self-contained page.

Figures are inlined as base64 PNG (``<img data-file="figures/...">`` names the
file they came from), tables are rendered from the CSV files in ``data/``
(``<table data-file="data/...">``) with :func:`format_value`, so every number
on the page can be traced to, and checked against, a data file. The page
needs no network and no script to be read.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["render_index", "format_value", "adjusted_pvalues", "FAIL_LEVEL"]

#: Adjusted p-values below this are highlighted and counted as failing checks.
FAIL_LEVEL = 1e-3

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{border-bottom:2px solid #444}h2{margin-top:2em;border-bottom:1px solid #bbb}
img{max-width:100%;border:1px solid #ddd;margin:.5em 0}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0;display:block;overflow-x:auto;max-width:100%}
th,td{border:1px solid #ccc;padding:.2em .5em;text-align:right}th{background:#f3f3f3}
td:first-child,td.t{text-align:left}
.caption{background:#f8f8f8;padding:.6em;border-left:4px solid #888}
code{background:#f1f1f1;padding:.1em .3em}
.failed{color:#a00}.skipped{color:#a60}.fail-row{background:#fdd}
.status-ok{background:#e6f4e6}.status-failed,.status-checks-failing{background:#fdd}
.status-skipped,.status-not-run{background:#fff3d6}
nav li{display:inline;margin-right:1em}
footer{margin-top:3em;border-top:1px solid #bbb;font-size:.8em;color:#555}
"""


def format_value(v) -> str:
    """How a table value appears in the page: floats to 6 significant digits, missing as empty."""
    if v is None or (np.isscalar(v) and not isinstance(v, str) and pd.isna(v)):
        return ""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.6g}"
    return html.escape(str(v))


def adjusted_pvalues(df: pd.DataFrame) -> np.ndarray:
    """A table's adjusted p-values, shape (rows,).

    Its ``p_adjusted`` column if it has one, else Bonferroni over its
    ``p_value`` column; NaN for rows without a p-value (all NaN when the
    table has neither column).
    """
    from .._stats import adjusted_column

    return adjusted_column(df, "bonferroni")


def _status_class(status: str) -> str:
    return "status-" + status.split(":")[0].split(" (")[0].strip().replace(" ", "-").lower()


def _td(v) -> str:
    """A table cell; text is left-aligned, numbers right-aligned."""
    text = format_value(v)
    if isinstance(v, str):
        return f'<td class="t">{text}</td>'
    return f"<td>{text}</td>"


def _table_html(df: pd.DataFrame, name: str, rel: str | None = None, *, status_column: str | None = None) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    adj = adjusted_pvalues(df)
    for i, (_, r) in enumerate(df.iterrows()):
        cls = ""
        if adj[i] < FAIL_LEVEL:
            cls = ' class="fail-row"'
        elif status_column is not None:
            cls = f' class="{_status_class(str(r[status_column]))}"'
        rows.append(f"<tr{cls}>" + "".join(_td(v) for v in r.tolist()) + "</tr>")
    file_attr = f' data-file="{html.escape(rel)}"' if rel else ""
    return (
        f'<table data-table="{html.escape(name)}"{file_attr}><thead><tr>{head}</tr></thead>'
        f'<tbody>{"".join(rows)}</tbody></table>'
    )


def _img(out: Path, rel: str, alt: str) -> str:
    data = base64.b64encode((out / rel).read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" data-file="{html.escape(rel)}" src="data:image/png;base64,{data}">'


def _footer(records, provenance: dict | None) -> str:
    prov = dict(provenance or {})
    versions = prov.get("versions") or {}
    vers = ", ".join(f"{k} {v}" for k, v in versions.items() if v is not None and k != "platform")
    total = sum(float(r.get("wall_time_s") or 0.0) for r in records)
    lines = [
        f"Generated {html.escape(str(prov.get('created', '')))} by <code>{html.escape(str(prov.get('command') or 'collapse_theory.report.reproduce'))}</code>.",
        f"Sections on disk: {len(records)}; their wall time adds to {total:.1f} s.",
        f"Seeds: {html.escape(', '.join(sorted({str(r.get('seed')) for r in records})) or '-')}; "
        f"settings: {html.escape(', '.join(sorted({('quick' if r.get('quick') else 'full') for r in records})) or '-')}.",
        f"Versions: {html.escape(vers)}." if vers else "",
        f"Platform: {html.escape(str(versions.get('platform', '')))}." if versions.get("platform") else "",
        "Each section's parameters, seed, versions and wall time are in <code>data/SECTION.json</code>; "
        "every table is a CSV file in <code>data/</code>, every figure a PNG in <code>figures/</code>.",
    ]
    return "<footer>" + "<br>".join(x for x in lines if x) + "</footer>"


def render_index(out, records, *, summary: pd.DataFrame | None = None, summary_file: str | None = None, provenance: dict | None = None) -> str:
    """The page for the section records (dicts as written to ``data/KEY.json``).

    Parameters
    ----------
    out : path
        The report directory (figures and CSV files are read from it).
    records : list of dict
        Section records in page order.
    summary : DataFrame, optional
        The status table shown at the top (one row per section).
    summary_file : str, optional
        Its CSV file, relative to ``out``.
    provenance : dict, optional
        What produced the page (versions, time, command), for the footer.
    """
    out = Path(out)
    nav = "".join(f'<li><a href="#{html.escape(r["key"])}">{html.escape(r.get("title", r["key"]))}</a></li>' for r in records)
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>collapse_theory: reproduce</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Model collapse, reproduced</h1>",
        "<p>Shumailov et al., <i>AI models collapse when trained on recursively generated data</i>, "
        "Nature 631 (2024). Each section puts simulation beside exact theory; p-values test "
        "simulated = predicted (two-sided), Bonferroni-adjusted within a table; rows with an "
        f"adjusted p-value below {FAIL_LEVEL:g} are highlighted.</p>",
    ]
    if summary is not None:
        parts.append('<h2 id="summary">Summary</h2>')
        parts.append(
            "<p>One row per section: whether it ran, how long it took, how many simulated-vs-theory "
            f"tests its tables hold and which of them fail at adjusted p &lt; {FAIL_LEVEL:g}.</p>"
        )
        parts.append(_table_html(summary, "summary", summary_file, status_column="status"))
    parts.append(f"<nav><ul>{nav}</ul></nav>")
    for r in records:
        key = html.escape(r["key"])
        parts.append(f'<section id="{key}"><h2>{html.escape(r.get("title", key))}</h2>')
        status = r.get("status")
        if status == "failed":
            parts.append(f'<p class="failed">This section failed: <code>{html.escape(r.get("error", ""))}</code></p>')
            parts.append(f"<details><summary>traceback</summary><pre>{html.escape(r.get('traceback', ''))}</pre></details>")
        elif status == "skipped":
            parts.append(f'<p class="skipped">Skipped: {html.escape(r.get("skipped") or "")}</p>')
        if r.get("caption"):
            parts.append(f'<p class="caption">{html.escape(r["caption"])}</p>')
        for name, rel in r.get("figures", {}).items():
            if (out / rel).exists():
                parts.append(_img(out, rel, f"{r['key']} {name}"))
        for name, rel in r.get("tables", {}).items():
            if (out / rel).exists():
                parts.append(f"<h3>{html.escape(name)}</h3>")
                parts.append(_table_html(pd.read_csv(out / rel), f"{r['key']}_{name}", rel))
        if r.get("command"):
            parts.append(f"<p>Regenerate: <code>{html.escape(r['command'])}</code></p>")
        mode = "quick" if r.get("quick") else "full"
        parts.append(
            f"<p><small>{html.escape(str(status))}; wall time {float(r.get('wall_time_s') or 0.0):.1f} s; "
            f"{mode} settings; seed {html.escape(str(r.get('seed')))}; data: <code>data/{key}.json</code></small></p>"
        )
        parts.append("</section>")
    parts.append(_footer(records, provenance))
    parts.append("</body></html>")
    return "\n".join(parts)
