"""Render the report's ``index.html``: one self-contained page (figures inlined)."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["render_index", "format_value"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{border-bottom:2px solid #444}h2{margin-top:2em;border-bottom:1px solid #bbb}
img{max-width:100%;border:1px solid #ddd;margin:.5em 0}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
th,td{border:1px solid #ccc;padding:.2em .5em;text-align:right}th{background:#f3f3f3}
td:first-child{text-align:left}
.caption{background:#f8f8f8;padding:.6em;border-left:4px solid #888}
code{background:#f1f1f1;padding:.1em .3em}
.failed{color:#a00}.skipped{color:#a60}.fail-row{background:#fdd}
nav li{display:inline;margin-right:1em}
"""


def format_value(v) -> str:
    """How a table value appears in the page (6 significant digits)."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.6g}"
    return html.escape(str(v))


def _table_html(df: pd.DataFrame, name: str) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for _, r in df.iterrows():
        cls = ""
        if "p_adjusted" in df.columns and pd.notna(r["p_adjusted"]) and r["p_adjusted"] < 1e-3:
            cls = ' class="fail-row"'
        rows.append(f"<tr{cls}>" + "".join(f"<td>{format_value(v)}</td>" for v in r.tolist()) + "</tr>")
    return f'<table data-table="{html.escape(name)}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _img(out: Path, rel: str, alt: str) -> str:
    data = base64.b64encode((out / rel).read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" data-file="{html.escape(rel)}" src="data:image/png;base64,{data}">'


def render_index(out, records) -> str:
    """The page for the section records (dicts as written to ``data/KEY.json``)."""
    out = Path(out)
    nav = "".join(f'<li><a href="#{html.escape(r["key"])}">{html.escape(r.get("title", r["key"]))}</a></li>' for r in records)
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>collapse_theory: reproduce</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Model collapse, reproduced</h1>",
        "<p>Shumailov et al., <i>AI models collapse when trained on recursively generated data</i>, "
        "Nature 631 (2024). Each section puts simulation beside exact theory; p-values test "
        "simulated = predicted (two-sided), Bonferroni-adjusted within a table; rows with an "
        "adjusted p-value below 1e-3 are highlighted.</p>",
        f"<nav><ul>{nav}</ul></nav>",
    ]
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
                parts.append(_table_html(pd.read_csv(out / rel), f"{r['key']}_{name}"))
        if r.get("command"):
            parts.append(f"<p>Regenerate: <code>{html.escape(r['command'])}</code></p>")
        if status == "ok":
            parts.append(f"<p><small>wall time {r.get('wall_time_s', 0):.1f} s; seed {r.get('seed')}; "
                         f"data: <code>data/{key}.json</code></small></p>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)
