"""Look at a report page the way a reader's browser does: headless Chromium, no network.

:func:`inspect_page` loads a copy of ``index.html`` with a probe script that,
after the load event, measures the page with its tables collapsed, then opens
every ``<details>`` and checks what a reader would notice: figures without a
numbered caption, tables wider than their frame without a scrolling frame and
a frozen first column, a page wider than the window, table-of-contents links
that lead nowhere, resources fetched from anywhere, Content-Security-Policy
violations. Chromium's own network log (``--log-net-log``) is read as well, so
a request the page made is seen even if the probe missed it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
]

_PROBE = r"""
<script>
window.__csp = [];
document.addEventListener('securitypolicyviolation', function(e){ window.__csp.push(e.violatedDirective + ' ' + e.blockedURI); });
window.addEventListener('load', function(){
  var r = {};
  var de = document.documentElement;
  r.width = de.clientWidth;
  r.height_collapsed = Math.max(de.scrollHeight, document.body.scrollHeight);
  r.section_heights = {};
  document.querySelectorAll('main > section').forEach(function(s){ r.section_heights[s.id] = s.getBoundingClientRect().height; });
  r.parts = {figures: 0, tables: 0, captions: 0};
  r.tblocks = {};
  document.querySelectorAll('.tblock').forEach(function(x){ r.tblocks[x.id] = Math.round(x.getBoundingClientRect().height); });
  r.table_grids = 0;
  document.querySelectorAll('.tables').forEach(function(x){ r.table_grids += x.getBoundingClientRect().height; });
  document.querySelectorAll('.figs').forEach(function(x){ r.parts.figures += x.getBoundingClientRect().height; });
  document.querySelectorAll('p.caption').forEach(function(x){ r.parts.captions += x.getBoundingClientRect().height; });
  document.querySelectorAll('main > section h3, main > section .preview, main > section details.table, main > section p.legend').forEach(function(x){ r.parts.tables += x.getBoundingClientRect().height; });
  r.details = document.querySelectorAll('details').length;
  r.details_open_before = document.querySelectorAll('details[open]').length;
  var bad = [];
  document.querySelectorAll('#toc a[href^="#"]').forEach(function(a){
    var id = a.getAttribute('href').slice(1); if (!document.getElementById(id)) bad.push(id); });
  r.toc_links = document.querySelectorAll('#toc a[href^="#"]').length; r.toc_broken = bad;
  var linked = {};
  document.querySelectorAll('#toc a[href^="#"]').forEach(function(a){ linked[a.getAttribute('href').slice(1)] = true; });
  r.figures_not_in_toc = Array.prototype.filter.call(document.querySelectorAll('figure[id]'), function(f){ return !linked[f.id]; })
    .map(function(f){ return f.id; });
  r.toc_sticky = getComputedStyle(document.getElementById('toc')).position === 'sticky';
  document.querySelectorAll('details').forEach(function(d){ d.open = true; });
  r.height_open = Math.max(de.scrollHeight, document.body.scrollHeight);
  r.page_scroll_width = de.scrollWidth; r.page_client_width = de.clientWidth;
  var figs = [], uncaptioned = [];
  document.querySelectorAll('img[data-file]').forEach(function(im){
    var f = im.closest('figure'), c = f ? f.querySelector('figcaption') : null;
    var text = c ? c.textContent.trim() : '';
    var missing = !c || !/^Figure \d+\./.test(text) || text.replace(/^Figure \d+\.\s*/, '').length < 10 || (c.querySelector('.caption-missing') !== null);
    if (missing) uncaptioned.push(im.getAttribute('data-file'));
    figs.push([im.getAttribute('data-file'), im.complete, im.naturalWidth, im.naturalHeight, im.getBoundingClientRect().width]);
  });
  r.figures = figs; r.uncaptioned = uncaptioned;
  r.math = Array.prototype.map.call(document.querySelectorAll('img.math'), function(im){ return [im.complete, im.naturalWidth]; });
  var tables = [];
  document.querySelectorAll('table').forEach(function(t){
    var fr = t.closest('.frame'), cs = fr ? getComputedStyle(fr) : null;
    var first = t.querySelector('tbody td, thead th');
    var mainRight = document.querySelector('main').getBoundingClientRect().right;
    tables.push({
      name: t.getAttribute('data-file') || t.getAttribute('data-preview') || t.getAttribute('data-table'),
      table_width: t.scrollWidth,
      frame_width: fr ? fr.clientWidth : -1,
      frame_right: fr ? fr.getBoundingClientRect().right : 1e9,
      main_right: mainRight,
      frame_scrolls: cs ? (cs.overflowX === 'auto' || cs.overflowX === 'scroll') : false,
      frame_border: cs ? parseFloat(cs.borderLeftWidth) : 0,
      first_sticky: first ? getComputedStyle(first).position === 'sticky' : false
    });
  });
  r.tables = tables;
  // the page's script: filter the first long table, sort the first numeric column of a full table
  var f = document.querySelector('input[data-filter-for]');
  if (f) {
    var tb = document.getElementById(f.getAttribute('data-filter-for')).tBodies[0];
    var word = tb.rows[tb.rows.length - 1].cells[0].textContent;
    f.value = word; f.dispatchEvent(new Event('input', {bubbles: true}));
    var shown = Array.prototype.filter.call(tb.rows, function(x){ return !x.hidden; });
    r.filter_check = {rows: tb.rows.length, shown: shown.length, all_match: shown.every(function(x){ return x.textContent.indexOf(word) >= 0; })};
    f.value = ''; f.dispatchEvent(new Event('input', {bubbles: true}));
  }
  var sorted = null;
  document.querySelectorAll('table[data-file]').forEach(function(t){
    if (sorted || t.tBodies[0].rows.length < 3) return;
    var ths = t.tHead.rows[0].cells;
    for (var i = 0; i < ths.length && !sorted; i++) {
      var vals = Array.prototype.map.call(t.tBodies[0].rows, function(x){ return parseFloat(x.cells[i].getAttribute('data-v')); });
      if (vals.some(isNaN) || new Set(vals).size < 3) continue;
      ths[i].click(); ths[i].click();  // ascending, then descending
      var after = Array.prototype.map.call(t.tBodies[0].rows, function(x){ return parseFloat(x.cells[i].getAttribute('data-v')); });
      var desc = after.every(function(v, k){ return k === 0 || after[k - 1] >= v; });
      sorted = {table: t.getAttribute('data-file'), column: i, descending: desc};
    }
  });
  r.sort_check = sorted;
  r.resources = performance.getEntriesByType('resource').map(function(e){ return e.name; });
  r.csp_violations = window.__csp;
  var p = document.createElement('pre'); p.id = 'probe-result'; p.textContent = JSON.stringify(r); document.body.appendChild(p);
});
</script>
"""


class _Pre(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.inside, self.text = False, ""

    def handle_starttag(self, tag, attrs):
        if tag == "pre" and dict(attrs).get("id") == "probe-result":
            self.inside = True

    def handle_endtag(self, tag):
        if tag == "pre":
            self.inside = False

    def handle_data(self, data):
        if self.inside:
            self.text += data


def _net_requests(netlog: Path) -> list:
    """URLs the page asked the network for, from a Chromium net log (http, https, ws, ftp).

    Chromium's own background requests (component updates, clock, sign-in)
    have no initiating origin ("not an origin") and are left out: a request a
    page makes carries the page's origin (``null`` for a file).
    """
    if not netlog.exists():
        return []
    try:
        log = json.loads(netlog.read_text(errors="replace"))
    except ValueError as exc:
        raise RuntimeError(f"unreadable Chromium net log {netlog}: {exc}") from None
    start = log.get("constants", {}).get("logEventTypes", {}).get("URL_REQUEST_START_JOB")
    urls = set()
    for ev in log.get("events", []):
        params = ev.get("params") or {}
        url = params.get("url")
        if ev.get("type") != start or not isinstance(url, str):
            continue
        if params.get("initiator") == "not an origin":
            continue
        if url.split(":", 1)[0] in ("http", "https", "ws", "wss", "ftp"):
            urls.add(url)
    return sorted(urls)


def inspect_page(index: Path, workdir: Path, *, width: int = 1400, height: int = 1000, screenshot: Path | None = None) -> dict:
    """Load ``index`` in headless Chromium with the probe; returns its findings (see the module docstring).

    The keys are those the probe fills plus ``net_requests`` (from Chromium's
    network log) and, when ``screenshot`` is given, the PNG of the top of the
    page at ``width`` x ``height`` is written there.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    text = index.read_text()
    probe = index.with_name("_probe_" + index.name)  # beside index.html: same relative paths
    probe.write_text(text.replace("<head>", "<head>" + _PROBE, 1))
    netlog = workdir / "netlog.json"
    try:
        res = subprocess.run(
            [CHROMIUM, *FLAGS, f"--user-data-dir={workdir / 'profile1'}", f"--window-size={width},{height}",
             f"--log-net-log={netlog}", "--virtual-time-budget=15000", "--dump-dom", probe.resolve().as_uri()],
            capture_output=True, text=True, timeout=180,
        )
    finally:
        probe.unlink()
    if res.returncode != 0:
        raise RuntimeError(f"chromium failed ({res.returncode}): {res.stderr[-2000:]}")
    pre = _Pre()
    pre.feed(res.stdout)
    if not pre.text:
        raise RuntimeError("the probe did not report (the page's load event never came?)")
    found = json.loads(pre.text)
    found["net_requests"] = _net_requests(netlog)
    if screenshot is not None:
        shot = subprocess.run(
            [CHROMIUM, *FLAGS, f"--user-data-dir={workdir / 'profile2'}", f"--window-size={width},{height}",
             f"--screenshot={screenshot}", index.resolve().as_uri()],
            capture_output=True, text=True, timeout=180,
        )
        if shot.returncode != 0 or not Path(screenshot).exists():
            raise RuntimeError(f"chromium screenshot failed: {shot.stderr[-2000:]}")
    return found


def problems(found: dict) -> list:
    """What a reader would complain about, from :func:`inspect_page`'s findings (empty: none)."""
    out = []
    if found["toc_broken"]:
        out.append(f"table-of-contents links lead nowhere: {found['toc_broken']}")
    if found["figures_not_in_toc"]:
        out.append(f"figures the table of contents does not link to (more than one click away): {found['figures_not_in_toc']}")
    if not found["toc_sticky"]:
        out.append("the table of contents does not stay in view (not sticky)")
    if found["uncaptioned"]:
        out.append(f"figures without a numbered caption: {found['uncaptioned']}")
    for rel, complete, w, h, shown in found["figures"]:
        if not complete or w == 0 or h == 0:
            out.append(f"figure {rel} is broken in the browser")
    for complete, w in found["math"]:
        if not complete or w == 0:
            out.append("a typeset formula did not render")
    if found["page_scroll_width"] > found["page_client_width"] + 1:
        out.append(f"the page is wider than the window: {found['page_scroll_width']} > {found['page_client_width']} px")
    for t in found["tables"]:
        if t["frame_width"] < 0:
            out.append(f"table {t['name']} is not in a frame")
            continue
        if t["frame_right"] > t["main_right"] + 1:
            out.append(f"table {t['name']}: its frame runs out of the page")
        if t["table_width"] > t["frame_width"] + 1 and not (t["frame_scrolls"] and t["frame_border"] > 0 and t["first_sticky"]):
            out.append(f"table {t['name']} is clipped: {t['table_width']} px in a {t['frame_width']} px frame that does not scroll "
                       "with a visible border and a frozen first column")
    fetched = [u for u in found["resources"] if not u.startswith("data:")]
    if fetched:
        out.append(f"the page fetched resources: {fetched[:5]}")
    fc = found.get("filter_check")
    if fc is not None and not (0 < fc["shown"] < fc["rows"] and fc["all_match"]):
        out.append(f"the table filter does not work: {fc}")
    sc = found.get("sort_check")
    if sc is not None and not sc["descending"]:
        out.append(f"sorting by a column does not work: {sc}")
    if found["csp_violations"]:
        out.append(f"the page tried to fetch what its Content-Security-Policy forbids: {found['csp_violations'][:5]}")
    if found["net_requests"]:
        out.append(f"Chromium made network requests: {found['net_requests'][:5]}")
    return out
