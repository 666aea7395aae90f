"""The report as a person sees it: ``collapse-theory reproduce --quick`` end to end.

One quick reproduce runs per session (the fixture below, about 2-3 minutes);
the tests then look at what it wrote the way a reader would: the page is
rendered by headless Chromium (every figure must decode and the page must not
be blank) and every number in the page's tables is checked against the CSV
file it claims to come from.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from collapse_theory import cli, report

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class _Page(HTMLParser):
    """Collects <img> attributes and every <table> (attributes, header, rows of cell text)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.images, self.tables, self.pre = [], [], {}
        self._table = self._row = self._cell = None
        self._pre_id = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs)
        elif tag == "table":
            self._table = {"attrs": attrs, "header": [], "rows": []}
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "pre" and "id" in attrs:
            self._pre_id = attrs["id"]
            self.pre[self._pre_id] = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(("".join(self._cell), tag))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row and all(kind == "th" for _, kind in self._row):
                self._table["header"] = [text for text, _ in self._row]
            else:
                self._table["rows"].append([text for text, _ in self._row])
            self._row = None
        elif tag == "table" and self._table is not None:
            self.tables.append(self._table)
            self._table = None
        elif tag == "pre":
            self._pre_id = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._pre_id is not None:
            self.pre[self._pre_id] += data


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    page.close()
    return page


@pytest.fixture(scope="session")
def quick_report(tmp_path_factory):
    """``collapse-theory reproduce --quick`` run once, through ``cli.main``."""
    out = tmp_path_factory.mktemp("report")
    rc = cli.main(["reproduce", "--quick", "--out", str(out)])
    return out, rc


def _records(out: Path) -> list:
    return [json.loads((out / "data" / f"{k}.json").read_text()) for k in report.SECTIONS if (out / "data" / f"{k}.json").exists()]


@pytest.mark.slow
def test_quick_reproduce_runs_every_section(quick_report):
    out, rc = quick_report
    recs = {r["key"]: r for r in _records(out)}
    assert set(recs) == set(report.SECTIONS), "every section leaves a record, whatever happened to it"
    failed = {k: r.get("error") for k, r in recs.items() if r["status"] == "failed"}
    assert not failed, f"sections failed: {failed}"
    assert rc == 0
    for key, rec in recs.items():
        assert rec["quick"] is True and rec["seed"] == 0
        assert rec["provenance"]["versions"]["numpy"] == np.__version__
        if rec["status"] == "ok":
            assert rec["figures"] or rec["tables"], f"section {key} shows nothing"
            assert rec["command"].startswith("collapse-theory"), f"section {key}: no command to regenerate it"
            for rel in [*rec["figures"].values(), *rec["tables"].values()]:
                assert (out / rel).is_file()
        else:
            assert rec["status"] == "skipped" and rec["skipped"], f"section {key}: skipped without a reason"
    summary = pd.read_csv(out / "data" / "summary.csv")
    assert list(summary["section"]) == list(report.SECTIONS)
    failing = summary[~summary["status"].isin(["ok", "skipped"])]
    assert failing.empty, f"sections with failing checks or errors: {failing[['section', 'status', 'failing_checks']].to_dict('records')}"


@pytest.mark.slow
def test_every_figure_is_embedded_and_decodes(quick_report):
    """Each <img> is an inline PNG equal to its file in figures/, and a real picture."""
    from PIL import Image

    out, _ = quick_report
    page = _parse((out / "index.html").read_text())
    expected = sorted(rel for r in _records(out) for rel in r.get("figures", {}).values())
    assert expected, "the report has no figure at all"
    assert sorted(img["data-file"] for img in page.images) == expected
    for img in page.images:
        prefix = "data:image/png;base64,"
        assert img["src"].startswith(prefix), "figures must be inlined (the page is self-contained)"
        raw = base64.b64decode(img["src"][len(prefix):], validate=True)
        assert raw == (out / img["data-file"]).read_bytes()
        pic = Image.open(io.BytesIO(raw))
        pic.load()
        arr = np.asarray(pic.convert("L"), dtype=float)
        assert arr.shape[0] > 100 and arr.shape[1] > 100
        assert arr.std() > 1.0, f"{img['data-file']} is a blank picture"
    text = (out / "index.html").read_text()
    assert "http://" not in text.replace("http://www.w3.org", "") and "https://" not in text, "the page must not need the network"


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make chromium installs Debian's package)")
@pytest.mark.slow
def test_page_renders_in_chromium(quick_report, tmp_path):
    """Headless Chromium loads every figure (no broken image) and the page is not blank."""
    from PIL import Image

    out, _ = quick_report
    index = out / "index.html"
    text = index.read_text()
    n_img = len(_parse(text).images)

    # 1. What the browser made of every <img>: a probe copy of the page records,
    # after the load event, each image's decoded size (0 x 0 when broken).
    probe_script = (
        "<script>window.addEventListener('load',function(){var o=[];"
        "for(const im of document.images){o.push([im.getAttribute('data-file'),im.complete,im.naturalWidth,im.naturalHeight].join('|'))}"
        "var p=document.createElement('pre');p.id='img-probe';p.textContent=o.join('\\n');document.body.appendChild(p);});</script>"
    )
    probe = out / "probe.html"  # beside index.html: same relative paths
    probe.write_text(text.replace("</body>", probe_script + "</body>"))
    try:
        dom = subprocess.run(
            [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile1'}", "--virtual-time-budget=10000", "--dump-dom", probe.resolve().as_uri()],
            capture_output=True, text=True, timeout=120,
        )
    finally:
        probe.unlink()
    assert dom.returncode == 0, dom.stderr[-2000:]
    lines = [ln.split("|") for ln in _parse(dom.stdout).pre.get("img-probe", "").strip().splitlines() if ln]
    assert len(lines) == n_img and n_img > 0, f"browser saw {len(lines)} images, page has {n_img}"
    from PIL import Image as _Image

    for rel, complete, width, height in lines:
        assert complete == "true", f"{rel} did not finish loading"
        assert int(width) > 0 and int(height) > 0, f"{rel} is a broken image in the browser"
        assert (int(width), int(height)) == _Image.open(out / rel).size, f"{rel}: browser decoded another size"

    # 2. The page as a reader sees it.
    shot = tmp_path / "page.png"
    res = subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile2'}", f"--screenshot={shot}", "--window-size=1200,5000",
         "--hide-scrollbars", index.resolve().as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert res.returncode == 0 and shot.exists(), res.stderr[-2000:]
    img = np.asarray(Image.open(shot).convert("RGB"), dtype=np.int16)
    assert img.shape[:2] == (5000, 1200)
    ink = np.any(img < 235, axis=2)
    assert ink.mean() > 0.02, f"page looks blank: {ink.mean():.2%} of pixels are not white"
    # figures put colour on the page (text and table borders are grey)
    colour = (img.max(axis=2) - img.min(axis=2)) > 60
    assert colour.sum() > 2000, "no coloured pixels: the figures did not render"


def _same(cell: str, value) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return cell == ""
    if isinstance(value, (bool, np.bool_)):
        return cell == str(bool(value))
    if isinstance(value, (int, np.integer)):
        return cell == str(int(value))
    if isinstance(value, (float, np.floating)):
        try:
            shown = float(cell)
        except ValueError:
            return cell == str(value)
        if math.isinf(value):
            return shown == value
        return math.isclose(shown, float(value), rel_tol=1e-5, abs_tol=1e-300)
    return cell == str(value)


@pytest.mark.slow
def test_every_table_value_matches_its_data_file(quick_report):
    out, _ = quick_report
    page = _parse((out / "index.html").read_text())
    assert page.tables, "the report has no table"
    expected = {"data/summary.csv"} | {rel for r in _records(out) for rel in r.get("tables", {}).values()}
    shown = [t["attrs"].get("data-file") for t in page.tables]
    assert None not in shown, "every table in the page names its data file"
    assert sorted(shown) == sorted(expected)
    checked = 0
    for t in page.tables:
        df = pd.read_csv(out / t["attrs"]["data-file"])
        assert t["header"] == [str(c) for c in df.columns], t["attrs"]["data-file"]
        assert len(t["rows"]) == len(df), t["attrs"]["data-file"]
        for i, (cells, values) in enumerate(zip(t["rows"], df.itertuples(index=False))):
            for col, cell, value in zip(df.columns, cells, values):
                assert _same(cell, value), f"{t['attrs']['data-file']} row {i} column {col}: page shows {cell!r}, file has {value!r}"
                checked += 1
    assert checked > 20


@pytest.mark.slow
def test_summary_lists_failing_checks_from_the_tables(quick_report):
    """The summary's counts are recomputed from the section tables."""
    out, _ = quick_report
    summary = pd.read_csv(out / "data" / "summary.csv").set_index("section")
    for rec in _records(out):
        n = 0
        for rel in rec.get("tables", {}).values():
            df = pd.read_csv(out / rel)
            if "p_adjusted" in df.columns:
                n += int(df["p_adjusted"].notna().sum())
            elif "p_value" in df.columns:
                n += int(df["p_value"].notna().sum())
        assert summary.loc[rec["key"], "tests"] == n
        assert summary.loc[rec["key"], "wall_time_s"] == pytest.approx(rec.get("wall_time_s", 0.0), abs=0.01)


@pytest.mark.slow
def test_resume_and_only(quick_report, tmp_path):
    """A rerun reuses finished sections; ``--only`` reruns one and the page keeps the others."""
    out, _ = quick_report
    copy = tmp_path / "r"
    shutil.copytree(out, copy)
    recs = {r["key"]: r for r in _records(copy) if r["status"] == "ok"}
    cheapest = min(recs, key=lambda k: recs[k].get("wall_time_s", 0.0))
    (copy / "data" / f"{cheapest}.json").unlink()  # as if interrupted before it finished
    before = (copy / "index.html").read_text()
    # (sections that did not finish would rerun too: leave them out)
    res = report.reproduce(copy, quick=True, only=list(recs), show_progress=False)
    assert res.ran + res.skipped == [cheapest] and not res.failed
    assert sorted(res.reused) == sorted(k for k in recs if k != cheapest)
    res = report.reproduce(copy, quick=True, only=[cheapest], show_progress=False)
    assert res.reused == [cheapest]
    after = _parse((copy / "index.html").read_text())
    assert len(after.images) == len(_parse(before).images)
    page = (copy / "index.html").read_text()
    for rec in _records(out):
        assert f'<section id="{rec["key"]}">' in page


def test_page_shows_failed_and_missing_sections(tmp_path, monkeypatch):
    """A failing section is on the page with its error; a section never run is listed as such."""
    import sys
    import types

    from matplotlib.figure import Figure

    def good(*, quick, seed):
        fig = Figure()
        fig.subplots().plot([0, 1], [0, 1])
        table = pd.DataFrame({"quantity": ["a", "b"], "simulated": [1.0, 2.0], "theory": [1.0, 3.0], "p_value": [0.5, 1e-9]})
        return report.Section("Good", caption="c", command="collapse-theory x", figures={"f": fig}, tables={"t": table})

    def bad(*, quick, seed):
        raise RuntimeError("kaboom")

    mod = types.ModuleType("_fake_report_sections")
    mod.good, mod.bad = good, bad
    monkeypatch.setitem(sys.modules, "_fake_report_sections", mod)
    monkeypatch.setattr(
        report, "SECTIONS", {"good": "_fake_report_sections:good", "bad": "_fake_report_sections:bad", "never": "_fake_report_sections:good"}
    )
    rc = cli.main(["reproduce", "--quick", "--out", str(tmp_path), "--only", "good", "bad"])
    assert rc == 1
    summary = pd.read_csv(tmp_path / "data" / "summary.csv").set_index("section")
    assert summary.loc["good", "status"] == "checks failing"
    assert summary.loc["good", "tests"] == 2 and summary.loc["good", "failing"] == 1
    assert "b" in summary.loc["good", "failing_checks"] and "a" not in summary.loc["good", "failing_checks"].split(": ")[1]
    assert summary.loc["bad", "status"] == "failed" and "kaboom" in summary.loc["bad", "failing_checks"]
    assert summary.loc["never", "status"] == "not run"
    text = (tmp_path / "index.html").read_text()
    assert "kaboom" in text
    good_table = _parse(text.split('<section id="good">')[1].split("</section>")[0])
    assert len(good_table.tables) == 1
    fail_rows = text.split('data-table="good_t"')[1].split("</table>")[0].count('class="fail-row"')
    assert fail_rows == 1, "the row with adjusted p < 1e-3 is highlighted, the other is not"
    assert html.escape("collapse-theory x") in text
