"""Render the report's ``index.html``: one self-contained page that works offline.

Layout: a sticky table of contents on the left (the summary, every section
and every figure, numbered), the summary table first, then one ``<section>``
per report section: its status, caption, a grid of numbered figures (each
with its caption from ``Section.captions``; a figure without one shows a
visible "caption missing" marker), and its tables. Every table is collapsed
behind a ``<details>``: a short preview stays visible (its first rows and
every row that fails), the full table opens on a click, sortable by any
column, with a filter box when it has more than :data:`FILTER_ROWS` rows,
inside a frame that scrolls sideways with its first column frozen.

Figures are inlined as base64 PNG (``<img data-file="figures/...">`` names the
file they came from); full tables (``<table data-file="data/...">``) are
rendered from the CSV files in ``data/`` with :func:`format_value`, so every
number on the page can be traced to a data file; previews carry
``data-preview`` instead. Math (``$...$`` in captions) is typeset offline:
matplotlib's mathtext renders it to SVG, inlined as a data URI. The little
script the page has (sorting, filtering, enlarging a figure) is inline, and a
Content-Security-Policy forbids any fetch: the page needs no network.

Cells that are not plain numbers are explained where they stand: ``inf`` is
shown as ∞ and NaN as —, each with a tooltip and a legend under its table
(from the section's ``notes`` or a default per column); a value of a distance
column within floating-point rounding of zero (below 1e-15 of the column's
largest) is shown as 0, its file value in the tooltip.
"""

from __future__ import annotations

import base64
import html
import io
import re
import struct
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "render_index",
    "format_value",
    "adjusted_pvalues",
    "rich_text",
    "math_image",
    "safe_relpath",
    "FAIL_LEVEL",
    "P_ADJUSTMENT",
    "CI_NOTE",
    "PREVIEW_ROWS",
    "FILTER_ROWS",
    "CAPTION_MISSING",
]

#: Adjusted p-values below this are highlighted and counted as failing checks.
FAIL_LEVEL = 1e-3
#: The one p-value adjustment of the page (named once, in the introduction).
P_ADJUSTMENT = (
    "Holm's step-down adjustment over the p-values of the same table (family-wise error rate; for the "
    "verify section the table holds the whole run)"
)
#: How the page explains the interval columns.
CI_NOTE = (
    "ci_low and ci_high are 95% confidence intervals of the simulated mean: the normal (CLT) interval, "
    "except for quantities that cannot be negative (variances, W2^2, squared errors), which get the "
    "log-scale interval m exp(±1.96 se/m) of collapse_theory._stats.positive_mean_ci, so they never "
    "cross zero"
)
#: Rows of a table shown before it is opened (plus every failing row).
PREVIEW_ROWS = 1
#: Tables with more rows than this get a filter box.
FILTER_ROWS = 20
#: What a figure without a caption shows (and what the tests look for).
CAPTION_MISSING = "caption missing"

_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"

_CSS = """
*{box-sizing:border-box}
html{scroll-behavior:smooth;scroll-padding-top:.5em}
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#222;line-height:1.4;
 display:grid;grid-template-columns:15rem minmax(0,1fr)}
#toc{position:sticky;top:0;align-self:start;height:100vh;overflow-y:auto;padding:.8em .7em;border-right:1px solid #ccc;
 background:#fafafa;font-size:.8em}
#toc ol{padding-left:1.1em;margin:.2em 0}#toc li{margin:.15em 0}#toc a{text-decoration:none;color:#124}
#toc a:hover{text-decoration:underline}#toc .figs-toc{font-size:.92em;color:#555}
#toc .badge{font-size:.85em;padding:0 .3em;border-radius:3px;margin-left:.3em}
main{padding:0 1.2em 3em;max-width:76rem;min-width:0}
h1{border-bottom:2px solid #444;margin-top:.6em}h2{margin:1.2em 0 .4em;border-bottom:1px solid #bbb}
h3{margin:.8em 0 .2em;font-size:1em}
.intro{font-size:.9em;color:#333}
.caption{background:#f6f6f6;padding:.4em .7em;border-left:4px solid #888;font-size:.86em;line-height:1.35}
.figs{display:grid;grid-template-columns:repeat(auto-fill,minmax(16.5rem,1fr));grid-auto-flow:row dense;gap:.7em;margin:.6em 0}
figure{margin:0;border:1px solid #ddd;padding:.3em;background:#fff;min-width:0}
figure.wide{grid-column:span 2}figure.full,figure.zoom{grid-column:1/-1}
figure>img{width:100%;height:auto;display:block;cursor:zoom-in}figure.zoom>img{cursor:zoom-out}
figcaption{font-size:.76em;color:#333;margin-top:.2em;line-height:1.25}
figcaption b{color:#000}.caption-missing{background:#fdd;color:#a00;font-weight:bold;padding:.2em}
img.math{vertical-align:middle;max-width:100%;display:inline}
code{background:#f1f1f1;padding:.1em .3em;overflow-wrap:anywhere}
.frame{overflow-x:auto;border:1px solid #bbb;max-width:100%;margin:.3em 0;background:#fff}
table{border-collapse:collapse;font-size:.8em;width:auto}
th,td{border:1px solid #ccc;padding:.15em .4em;text-align:right;vertical-align:top}
th{background:#f0f0f0;font-weight:600;max-width:11em;overflow-wrap:normal;text-align:center}
th.sortable{cursor:pointer}th[data-sort=asc]::after{content:" \\25B2"}th[data-sort=desc]::after{content:" \\25BC"}
td.t{text-align:left;max-width:28em;overflow-wrap:break-word}td.num{white-space:nowrap}
th:first-child,td:first-child{position:sticky;left:0;background:#fff;z-index:1;box-shadow:1px 0 0 #bbb}
th:first-child{background:#f0f0f0;z-index:2}
tr.fail-row td{background:#fdd}td.special{color:#666;cursor:help}
.status-ok td,.badge.status-ok{background:#e6f4e6}.status-failed td,.status-checks-failing td,.badge.status-failed,
.badge.status-checks-failing{background:#fdd}.status-skipped td,.status-not-run td,.status-queued td,.badge.status-skipped,
.badge.status-not-run,.badge.status-queued{background:#fff3d6}.status-running td,.badge.status-running{background:#dde8ff}
details.table{margin:0}details.table>summary{cursor:pointer;font-size:.8em;color:#124}
.tables{display:grid;grid-template-columns:repeat(auto-fill,minmax(30rem,1fr));gap:.3em 1em;margin:.5em 0;align-items:start}
.tblock{min-width:0}.tblock:not(.small):has(details[open]){grid-column:1/-1}details.table[open]+.preview-wrap{display:none}
.preview table{font-size:.75em}
.preview{opacity:.95}.legend{font-size:.72em;color:#555;margin:.1em 0 .3em}
.filter{margin:.3em 0;font-size:.85em}.filter input{width:18em}
.failed{color:#a00}.skipped{color:#a60}.running{color:#124}
.meta{font-size:.8em;color:#555}.top{font-size:.55em;font-weight:normal;float:right;margin-top:.6em}
.regen{font-size:.8em;margin:.5em 0 .2em;color:#444}
footer{margin-top:3em;border-top:1px solid #bbb;font-size:.8em;color:#555}
"""

# Sorting by a column (click its header), filtering the rows of a long table,
# enlarging a figure (click it). Nothing is fetched.
_JS = """
(function(){
function val(c){var v=c.getAttribute('data-v');if(v===null)v=c.textContent;var n=parseFloat(v);return isNaN(n)?v.toLowerCase():n}
document.addEventListener('click',function(e){
 var th=e.target.closest('th.sortable');
 if(th){var tr=th.parentNode,i=Array.prototype.indexOf.call(tr.children,th),tb=th.closest('table').tBodies[0];
  var asc=th.getAttribute('data-sort')!=='asc';
  Array.prototype.forEach.call(tr.children,function(h){h.removeAttribute('data-sort')});th.setAttribute('data-sort',asc?'asc':'desc');
  var rows=Array.prototype.slice.call(tb.rows);
  rows.sort(function(a,b){var x=val(a.cells[i]),y=val(b.cells[i]);var r;
   if(typeof x==='number'&&typeof y==='number')r=x-y;else if(typeof x==='number')r=-1;else if(typeof y==='number')r=1;else r=x<y?-1:(x>y?1:0);
   return asc?r:-r});
  rows.forEach(function(r){tb.appendChild(r)});return}
 if(e.target.tagName==='IMG'&&e.target.parentNode.tagName==='FIGURE'&&!e.target.classList.contains('math')){e.target.parentNode.classList.toggle('zoom')}
});
document.addEventListener('input',function(e){var f=e.target,id=f.getAttribute('data-filter-for');if(!id)return;
 var q=f.value.toLowerCase(),tb=document.getElementById(id).tBodies[0],n=0;
 Array.prototype.forEach.call(tb.rows,function(r){var s=!q||r.textContent.toLowerCase().indexOf(q)>=0;r.hidden=!s;if(s)n++});
 f.parentNode.querySelector('.count').textContent=n+' of '+tb.rows.length+' rows';});
})();
"""

#: What — (NaN) and ∞ mean in a column, when the section says nothing more specific.
_NAN_NOTES = {
    "p_value": "no test in this row: no exact value to test against, or a heavy-tailed quantity whose Monte Carlo mean cannot be z-tested (its label says so)",
    "p_adjusted": "no test in this row (see p_value)",
    "ci_low": "no interval: a single number (a count, a median, an approximation row) or no spread",
    "ci_high": "no interval: a single number (a count, a median, an approximation row) or no spread",
    "theory": "no closed form for this quantity",
    "simulated": "not simulated (a theory-only row)",
}
_INF_NOTES = {
    "theory": "infinite: the quantity diverges (it has no finite limit in this setting)",
}
_DISTANCE_COLUMN = re.compile(r"(^|_)(w2|l2|distance|kl)(_|$)|_to_initial", re.IGNORECASE)
_ROUNDING = 1e-15


def format_value(v) -> str:
    """How a table value appears in the page: floats to 6 significant digits, missing as empty.

    (The page shows NaN as — and inf as ∞ with an explanation; this is the plain text of a value.)
    """
    if v is None or (np.isscalar(v) and not isinstance(v, str) and pd.isna(v)):
        return ""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.6g}"
    return html.escape(str(v))


def adjusted_pvalues(df: pd.DataFrame) -> np.ndarray:
    """A table's adjusted p-values, shape (rows,): Holm over its ``p_value`` column.

    One method for every table of the report (:data:`P_ADJUSTMENT`): the
    ``p_adjusted`` column a section writes is recomputed from ``p_value`` by
    this function before its CSV is written. A table with no ``p_value`` but
    a ``p_adjusted`` column keeps that column. NaN for rows without a
    p-value (all NaN when the table has neither column).
    """
    from .._stats import adjust

    if "p_value" in df.columns:
        return adjust(pd.to_numeric(df["p_value"], errors="coerce").to_numpy(dtype=float), "holm")
    if "p_adjusted" in df.columns:
        return pd.to_numeric(df["p_adjusted"], errors="coerce").to_numpy(dtype=float)
    return np.full(len(df), np.nan)


# ----------------------------------------------------------------------------- math and text


@lru_cache(maxsize=512)
def math_image(latex: str, size: float = 11.0) -> str | None:
    """``<img>`` of a LaTeX formula typeset by matplotlib's mathtext (inline SVG data URI), or None.

    None when mathtext cannot parse it (it knows a subset of LaTeX); the
    caller then shows the source.
    """
    from matplotlib import mathtext
    from matplotlib.font_manager import FontProperties

    src = latex.strip().replace(r"\le ", r"\leq ").replace(r"\ge ", r"\geq ")
    buf = io.BytesIO()
    try:
        mathtext.math_to_image(f"${src}$", buf, prop=FontProperties(size=size), format="svg")
    except Exception:  # mathtext's parser raises ValueError and others for LaTeX it lacks
        return None
    svg = re.sub(rb"<metadata>.*?</metadata>", b"", buf.getvalue(), flags=re.S)
    data = base64.b64encode(svg).decode("ascii")
    return f'<img class="math" alt="{html.escape(latex)}" data-math="1" src="data:image/svg+xml;base64,{data}">'


def rich_text(text: str) -> str:
    """Escape plain text and typeset its ``$...$`` spans (see :func:`math_image`)."""
    parts = re.split(r"(?<!\\)\$(.+?)(?<!\\)\$", str(text))
    out = []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            out.append(html.escape(part.replace("\\$", "$")))
        else:
            img = math_image(part)
            out.append(img if img is not None else f"<code>{html.escape(part)}</code>")
    return "".join(out)


def safe_relpath(out: Path, rel) -> Path | None:
    """``out / rel`` if ``rel`` is a relative path that stays inside ``out``, else None.

    File names come from ``data/KEY.json``, which anyone can edit: an absolute
    path, a ``..`` component or a link out of the report must not be read.
    """
    if not isinstance(rel, str) or not rel or "\x00" in rel:
        return None
    p = Path(rel)
    if p.is_absolute() or rel.startswith(("/", "\\")) or ".." in p.parts or ":" in p.parts[0]:
        return None
    full = Path(out) / p
    try:
        root = Path(out).resolve()
        if not full.resolve().is_relative_to(root):
            return None
    except (OSError, RuntimeError):
        return None
    return full


# ----------------------------------------------------------------------------- tables


def _status_class(status: str) -> str:
    return "status-" + status.split(":")[0].split(" (")[0].strip().replace(" ", "-").lower()


def _header(c) -> str:
    # let long snake_case names wrap at their underscores
    return "<wbr>".join(html.escape(s) for s in re.split(r"(?<=_)", str(c)))


class _Cells:
    """Renders the cells of one table and collects the legend of its special values."""

    def __init__(self, df: pd.DataFrame, notes: dict | None):
        self.notes = notes or {}
        self.used: dict = {}
        self.scale = {}
        for c in df.columns:
            if _DISTANCE_COLUMN.search(str(c)) and pd.api.types.is_numeric_dtype(df[c]):
                v = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float)
                fin = np.abs(v[np.isfinite(v)])
                self.scale[c] = float(fin.max()) if fin.size else 0.0

    def _note(self, col, kind: str) -> str:
        specific = self.notes.get(str(col))
        if isinstance(specific, dict):
            specific = specific.get(kind)
        if specific:
            text = str(specific)
        elif kind == "nan":
            text = _NAN_NOTES.get(str(col), "no value in this row")
        else:
            text = _INF_NOTES.get(str(col), "infinite")
        self.used.setdefault((kind, str(col)), text)
        return text

    def td(self, col, v) -> str:
        if isinstance(v, str):
            return f'<td class="t">{html.escape(v)}</td>'
        if v is None or (np.isscalar(v) and pd.isna(v)):
            note = self._note(col, "nan")
            return f'<td class="special" data-v="" title="{html.escape(note)}">—</td>'
        if isinstance(v, (float, np.floating)) and np.isinf(v):
            note = self._note(col, "inf")
            sign = "−" if v < 0 else ""
            return f'<td class="special" data-v="{float(v)}" title="{html.escape(note)}">{sign}∞</td>'
        if isinstance(v, (float, np.floating)) and v != 0 and col in self.scale and abs(v) <= _ROUNDING * self.scale[col]:
            self.used.setdefault(("zero", str(col)), "within floating-point rounding of an exact 0 (the file value is in the tooltip)")
            return f'<td class="num special" data-v="0" title="file value {float(v):.3g}: within rounding of 0">0</td>'
        return f'<td class="num" data-v="{html.escape(format_value(v))}">{format_value(v)}</td>'

    def legend(self) -> str:
        if not self.used:
            return ""
        sym = {"nan": "—", "inf": "∞", "zero": "0"}
        items = [f"<b>{sym[k]}</b> in {html.escape(c)}: {html.escape(t)}" for (k, c), t in self.used.items()]
        return '<p class="legend">' + "; ".join(items) + ".</p>"


def _rows_html(df: pd.DataFrame, idx, cells: _Cells, adj: np.ndarray, status_column: str | None) -> str:
    rows = []
    cols = list(df.columns)
    for i in idx:
        r = df.iloc[i]
        cls = ""
        if adj[i] < FAIL_LEVEL:
            cls = ' class="fail-row"'
        elif status_column is not None:
            cls = f' class="{_status_class(str(r[status_column]))}"'
        rows.append(f"<tr{cls}>" + "".join(cells.td(c, v) for c, v in zip(cols, r.tolist())) + "</tr>")
    return "".join(rows)


def _table_html(df: pd.DataFrame, name: str, rel: str | None = None, *, status_column: str | None = None, notes=None,
                table_id: str | None = None) -> str:
    """The full table (in a frame), its legend and, for a long one, a filter box."""
    head = "".join(f'<th class="sortable" title="sort">{_header(c)}</th>' for c in df.columns)
    adj = adjusted_pvalues(df)
    cells = _Cells(df, notes)
    body = _rows_html(df, range(len(df)), cells, adj, status_column)
    file_attr = f' data-file="{html.escape(rel)}"' if rel else ""
    tid = table_id or f"t-{name}"
    filt = ""
    if len(df) > FILTER_ROWS:
        filt = (f'<div class="filter">Filter: <input type="search" placeholder="text in any cell" data-filter-for="{html.escape(tid)}">'
                f' <span class="count">{len(df)} rows</span></div>')
    return (
        f'{filt}<div class="frame"><table id="{html.escape(tid)}" data-table="{html.escape(name)}"{file_attr}>'
        f'<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>{cells.legend()}'
    )


def _preview_html(df: pd.DataFrame, name: str, *, notes=None) -> tuple[str, int, int]:
    """The first rows and every failing row; returns (html, rows shown, failing rows)."""
    adj = adjusted_pvalues(df)
    failing = [i for i in range(len(df)) if adj[i] < FAIL_LEVEL]
    idx = sorted(set(range(min(PREVIEW_ROWS, len(df)))) | set(failing))
    head = "".join(f"<th>{_header(c)}</th>" for c in df.columns)
    cells = _Cells(df, notes)
    body = _rows_html(df, idx, cells, adj, None)
    return (
        f'<div class="frame preview"><table data-preview="{html.escape(name)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>",  # the legend is under the full table; cells keep their tooltips
        len(idx),
        len(failing),
    )


def _table_block(df: pd.DataFrame, key: str, name: str, rel: str, notes=None) -> str:
    """One table: a summary line that opens the full table, and below it the preview (hidden once opened).

    A table of at most ``PREVIEW_ROWS + 1`` rows is its own preview: it is shown open.
    """
    tid = f"t-{key}-{name}"
    full = _table_html(df, f"{key}_{name}", rel, notes=notes, table_id=tid)
    adj = adjusted_pvalues(df)
    failing = int(np.sum(adj < FAIL_LEVEL))
    fails = f", <b class='failed'>{failing} failing</b>" if failing else ""
    what = f"{len(df)} rows × {len(df.columns)} columns{fails}"
    label = (f"<b>Table: {html.escape(name)}</b> <span class=\"meta\">{what}; <code>{html.escape(rel)}</code>")
    bid = f'tab-{html.escape(key)}-{html.escape(name)}'
    if len(df) <= PREVIEW_ROWS + 1:  # the table is its own preview
        return (f'<div class="tblock small" id="{bid}"><details class="table" open><summary>{label}</span></summary>'
                f"{full}</details></div>")
    preview, shown, _ = _preview_html(df, f"{key}_{name}", notes=notes)
    tip = (f"open all {len(df)} rows (sortable" + (", with a filter" if len(df) > FILTER_ROWS else "")
           + "); the preview below shows the first row" + ("s" if PREVIEW_ROWS > 1 else "") + (" and every failing row" if failing else ""))
    return (
        f'<div class="tblock" id="{bid}"><details class="table"><summary title="{html.escape(tip)}">{label}; '
        f"<u>open all rows</u></span></summary>{full}</details>"
        f'<div class="preview-wrap">{preview}</div></div>'
    )


# ----------------------------------------------------------------------------- figures


def _png_size(data: bytes) -> tuple[int, int]:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    return (0, 0)


def _figure_html(out: Path, rel: str, number: int, key: str, name: str, caption) -> str:
    path = safe_relpath(out, rel)
    data = path.read_bytes()
    w, h = _png_size(data)
    aspect = w / h if h else 1.0
    cls = "full" if aspect > 3.2 else ("wide" if aspect > 1.75 else "")
    b64 = base64.b64encode(data).decode("ascii")
    if caption:
        cap = f"<b>Figure {number}.</b> {rich_text(caption)}"
    else:
        cap = (f'<b>Figure {number}.</b> <span class="caption-missing">{CAPTION_MISSING}: the section gives no caption '
               f"for figure {html.escape(name)!s}</span>")
    return (
        f'<figure id="fig-{html.escape(key)}-{html.escape(name)}" class="{cls}">'
        f'<img alt="Figure {number}: {html.escape(key)} {html.escape(name)}" data-file="{html.escape(rel)}" '
        f'src="data:image/png;base64,{b64}"><figcaption>{cap}</figcaption></figure>'
    )


# ----------------------------------------------------------------------------- page


def _footer(records, provenance: dict | None) -> str:
    prov = dict(provenance or {})
    versions = prov.get("versions") or {}
    vers = ", ".join(f"{k} {v}" for k, v in versions.items() if v is not None and k != "platform")
    total = sum(float(r.get("wall_time_s") or 0.0) for r in records if r.get("status") != "running")
    machine = prov.get("machine") or {}
    mach = "; ".join(f"{k}: {v}" for k, v in machine.items() if v not in (None, "", {}))
    lines = [
        f"Generated {html.escape(str(prov.get('created', '')))} by <code>{html.escape(str(prov.get('command') or 'collapse_theory.report.reproduce'))}</code>.",
        f"Sections on disk: {len(records)}; their wall time adds to {total:.1f} s.",
        f"Seeds: {html.escape(', '.join(sorted({str(r.get('seed')) for r in records})) or '-')}; "
        f"settings: {html.escape(', '.join(sorted({('quick' if r.get('quick') else 'full') for r in records})) or '-')}.",
        f"Versions: {html.escape(vers)}." if vers else "",
        f"Platform: {html.escape(str(versions.get('platform', '')))}." if versions.get("platform") else "",
        f"Machine: {html.escape(mach)}." if mach else "",
        "Each section's parameters, seed, the packages it imported (with versions), the machine and its wall time are in "
        "<code>data/SECTION.json</code>; every table is a CSV file in <code>data/</code>, every figure a PNG in "
        "<code>figures/</code>, each with its SHA-256 in the section record.",
    ]
    return "<footer>" + "<br>".join(x for x in lines if x) + "</footer>"


def _section_files(out: Path, rec: dict, kind: str) -> list:
    """(name, rel, path or None) for a record's figures or tables; None marks an unsafe or missing file."""
    items = rec.get(kind) or {}
    if not isinstance(items, dict):
        return []
    res = []
    for name, rel in items.items():
        path = safe_relpath(out, rel)
        res.append((str(name), str(rel), path if path is not None and path.is_file() else None, path is None))
    return res


def render_index(out, records, *, summary: pd.DataFrame | None = None, summary_file: str | None = None, provenance: dict | None = None) -> str:
    """The page for the section records (dicts as written to ``data/KEY.json``).

    Parameters
    ----------
    out : path
        The report directory (figures and CSV files are read from it; a file
        name that leaves it is refused and shown as such).
    records : list of dict
        Section records in page order (a record with status "running" or
        "queued" is shown as such).
    summary : DataFrame, optional
        The status table shown first (one row per section).
    summary_file : str, optional
        Its CSV file, relative to ``out``.
    provenance : dict, optional
        What produced the page (versions, time, command, machine), for the footer.

    Returns
    -------
    str
        The HTML page.
    """
    out = Path(out)
    # figure numbers, in page order
    numbers, n = {}, 0
    for r in records:
        for name, rel, path, unsafe in _section_files(out, r, "figures"):
            if path is not None:
                n += 1
                numbers[(r["key"], name)] = n

    toc = ['<nav id="toc"><b>Contents</b><ol>', '<li><a href="#top">Top</a></li>']
    if summary is not None:
        toc.append('<li><a href="#summary">Summary</a></li>')
    for r in records:
        key = html.escape(r["key"])
        status = str(r.get("status", ""))
        badge = f' <span class="badge {_status_class(status)}">{html.escape(status)}</span>' if status != "ok" else ""
        toc.append(f'<li><a href="#{key}">{html.escape(r.get("title") or r["key"])}</a>{badge}')
        figs = [(name, numbers[(r["key"], name)]) for name, _, path, _ in _section_files(out, r, "figures") if path is not None]
        if figs:
            toc.append('<ol class="figs-toc">' + "".join(
                f'<li><a href="#fig-{key}-{html.escape(nm)}">Fig. {num}: {html.escape(nm.replace("_", " "))}</a></li>' for nm, num in figs
            ) + "</ol>")
        toc.append("</li>")
    toc.append("</ol></nav>")

    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        "<meta name='viewport' content='width=device-width,initial-scale=1'><title>collapse_theory: reproduce</title>",
        f"<style>{_CSS}</style></head><body>",
        "".join(toc),
        '<main id="top">',
        "<h1>Model collapse, reproduced</h1>",
        '<p class="intro">Shumailov et al., <i>AI models collapse when trained on recursively generated data</i>, '
        "Nature 631 (2024). Each section puts simulation beside exact theory. p-values test simulated = predicted "
        f"(two-sided); the column p_adjusted of every table is {html.escape(P_ADJUSTMENT)}; rows with an adjusted "
        f"p-value below {FAIL_LEVEL:g} are highlighted and counted as failing. {html.escape(CI_NOTE)}. Tables are "
        "collapsed: each shows its first row and every failing row; open it for all rows (click a header to sort). "
        "Click a figure to enlarge it.</p>",
    ]
    if summary is not None:
        parts.append('<section id="summary"><h2>Summary</h2>')
        parts.append(
            "<p>One row per section: whether it ran (or is running now), how long it took, how many simulated-vs-theory "
            f"tests its tables hold and which of them fail at adjusted p &lt; {FAIL_LEVEL:g}.</p>"
        )
        parts.append('<details class="table" open><summary>Summary table</summary>')
        unfinished = "the section has not finished: running, queued or not run"
        parts.append(_table_html(summary, "summary", summary_file, status_column="status", table_id="t-summary",
                                 notes={"wall_time_s": unfinished, "cpu_time_s": unfinished}))
        parts.append("</details></section>")
    for r in records:
        key = html.escape(r["key"])
        parts.append(f'<section id="{key}"><h2>{html.escape(r.get("title") or r["key"])} <a class="top" href="#top">back to top ↑</a></h2>')
        status = r.get("status")
        if status == "failed":
            parts.append(f'<p class="failed">This section failed: <code>{html.escape(str(r.get("error", "")))}</code></p>')
            parts.append(f"<details><summary>traceback</summary><pre>{html.escape(str(r.get('traceback', '')))}</pre></details>")
        elif status == "skipped":
            parts.append(f'<p class="skipped">Skipped: {html.escape(str(r.get("skipped") or ""))}</p>')
        elif status == "running":
            parts.append(f'<p class="running">Running now (started {html.escape(str(r.get("started", "")))}); '
                         "this page is rewritten when it finishes.</p>")
        elif status == "queued":
            parts.append('<p class="running">Queued: it runs after the sections above.</p>')
        if r.get("caption"):
            parts.append(f'<p class="caption">{rich_text(r["caption"])}</p>')
        captions = r.get("captions") if isinstance(r.get("captions"), dict) else {}
        figs = []
        for name, rel, path, unsafe in _section_files(out, r, "figures"):
            if path is not None:
                figs.append(_figure_html(out, rel, numbers[(r["key"], name)], r["key"], name, captions.get(name)))
            else:
                why = "refused: the file name leaves the report directory" if unsafe else "missing on disk"
                parts.append(f'<p class="failed">Figure {html.escape(name)} ({html.escape(rel)}): {why}.</p>')
        if figs:
            parts.append('<div class="figs">' + "".join(figs) + "</div>")
        notes = r.get("notes") if isinstance(r.get("notes"), dict) else {}
        blocks = []
        for name, rel, path, unsafe in _section_files(out, r, "tables"):
            if path is None:
                why = "refused: the file name leaves the report directory" if unsafe else "missing on disk"
                parts.append(f'<p class="failed">Table {html.escape(name)} ({html.escape(rel)}): {why}.</p>')
                continue
            tnotes = notes.get(name) if isinstance(notes.get(name), dict) else None
            try:
                df = pd.read_csv(path)
            except (ValueError, OSError, UnicodeDecodeError) as exc:  # pandas' ParserError is a ValueError
                parts.append(f'<p class="failed">Table {html.escape(name)} ({html.escape(rel)}): unreadable: {html.escape(str(exc))}.</p>')
                continue
            blocks.append(_table_block(df, r["key"], name, rel, notes=tnotes))
        if blocks:
            parts.append('<div class="tables">' + "".join(blocks) + "</div>")
        meta = []
        if r.get("regenerate"):
            meta.append(f"Regenerate: <code>{html.escape(r['regenerate'])}</code>")
        if r.get("command") and not str(r["command"]).startswith("collapse-theory reproduce"):
            meta.append(f"the same computation on its own: <code>{html.escape(r['command'])}</code>")
        mode = str(r.get("settings") or ("quick" if r.get("quick") else "full"))
        if status not in ("running", "queued"):
            meta.append(
                f"{html.escape(str(status))}; wall time {float(r.get('wall_time_s') or 0.0):.1f} s; "
                f"{html.escape(mode)} settings; seed {html.escape(str(r.get('seed')))}; data: <code>data/{key}.json</code>"
            )
        if meta:
            parts.append('<p class="regen">' + " · ".join(meta) + "</p>")
        parts.append("</section>")
    parts.append(_footer(records, provenance))
    parts.append(f"</main><script>{_JS}</script></body></html>")
    return "\n".join(parts)
