"""The report as a person sees it.

Fast tests build a report from small fake sections (``tests/_fake_sections.py``,
a second or two) and look at it the way a reader would: the table of contents,
numbered captions, collapsed tables with their previews, every number against
the CSV file it claims to come from, special values explained, files a
colleague can read, reused sections checked against their checksums,
``--force`` and the "Regenerate:" commands, progress while a section runs, the
page rewritten after each section. The headless-Chromium test opens every
``<details>`` and checks captions, clipping, links and the network
(``tests/_browser.py``).

The slow tests run one real ``collapse-theory reproduce --quick`` per session
and apply the same checks to it.
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
import re
import shlex
import shutil
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from collapse_theory import cli, report

sys.path.insert(0, str(Path(__file__).parent))
import _browser  # noqa: E402
import _fake_sections as fake  # noqa: E402

needs_chromium = pytest.mark.skipif(_browser.CHROMIUM is None, reason="chromium is not installed (make chromium installs Debian's package)")


# ----------------------------------------------------------------------------- reading the page


class _Page(HTMLParser):
    """Collects figure <img>s, <figure> captions, full and preview <table>s (header, cell text, cell titles), ids, hrefs."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.images, self.maths, self.tables, self.previews = [], [], [], []
        self.ids, self.hrefs, self.captions = [], [], []
        self._table = self._row = self._cell = None
        self._cap = None
        self._details = 0
        self._toc = False
        self.toc_hrefs = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.append(attrs["id"])
        if tag == "nav" and attrs.get("id") == "toc":
            self._toc = True
        if tag == "a" and attrs.get("href", "").startswith("#"):
            self.hrefs.append(attrs["href"][1:])
            if self._toc:
                self.toc_hrefs.append(attrs["href"][1:])
        if tag == "details":
            self._details += 1
        if tag == "img":
            (self.maths if attrs.get("data-math") else self.images).append(attrs)
            if attrs.get("data-math") and self._cap is not None:
                self._cap.append("[math]")
        elif tag == "figcaption":
            self._cap = []
        elif tag == "table":
            self._table = {"attrs": attrs, "header": [], "rows": [], "titles": [], "in_details": self._details > 0}
        elif tag == "tr" and self._table is not None:
            self._row, self._titles = [], []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
            self._titles.append(attrs.get("title"))

    def handle_endtag(self, tag):
        if tag == "nav":
            self._toc = False
        if tag == "details":
            self._details -= 1
        if tag == "figcaption" and self._cap is not None:
            self.captions.append("".join(self._cap).strip())
            self._cap = None
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(("".join(self._cell), tag))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row and all(kind == "th" for _, kind in self._row):
                self._table["header"] = [text for text, _ in self._row]
            else:
                self._table["rows"].append([text for text, _ in self._row])
                self._table["titles"].append(self._titles)
            self._row = None
        elif tag == "table" and self._table is not None:
            (self.previews if "data-preview" in self._table["attrs"] else self.tables).append(self._table)
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._cap is not None:
            self._cap.append(data)


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    page.close()
    return page


def _records(out: Path) -> list:
    """Every section record in ``out/data`` (the report writes nothing else there as JSON)."""
    return [json.loads(p.read_text()) for p in sorted((out / "data").glob("*.json"))]


def _holm(p):
    """Holm's adjusted p-values, written out the textbook way (a reference for the page's)."""
    p = list(p)
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    adj, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    return adj


_DIST = re.compile(r"(^|_)(w2|l2|distance|kl)(_|$)|_to_initial")


def _same(cell: str, value, column: str = "", col_max: float = 0.0) -> bool:
    """Does the page's cell text show the file's value? (NaN as —, inf as ∞, rounding-level distances as 0.)"""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return cell == "—" or cell == ""  # "" where the file has an empty text cell (pandas reads it as NaN)
    if isinstance(value, (bool, np.bool_)):
        return cell == str(bool(value))
    if isinstance(value, (int, np.integer)):
        return cell == str(int(value))
    if isinstance(value, (float, np.floating)):
        if math.isinf(value):
            return cell == ("∞" if value > 0 else "−∞")
        if cell == "0" and value != 0:
            return bool(_DIST.search(column)) and abs(value) <= 1e-15 * col_max
        try:
            shown = float(cell)
        except ValueError:
            return cell == str(value)
        return math.isclose(shown, float(value), rel_tol=1e-5, abs_tol=1e-300)
    return cell == str(value)


def _check_tables_match_files(out: Path, page: _Page) -> int:
    """Every full table equals its CSV file, every preview is a set of its rows; returns cells checked."""
    checked = 0
    for t in page.tables:
        rel = t["attrs"].get("data-file")
        assert rel is not None, "every full table in the page names its data file"
        df = pd.read_csv(out / rel)
        assert t["header"] == [str(c) for c in df.columns], rel
        assert len(t["rows"]) == len(df), rel
        maxes = {c: float(np.nanmax(np.abs(df[c].to_numpy(dtype=float)[np.isfinite(df[c].to_numpy(dtype=float))])))
                 for c in df.columns if pd.api.types.is_numeric_dtype(df[c]) and np.isfinite(df[c].to_numpy(dtype=float)).any()}
        for i, (cells, values) in enumerate(zip(t["rows"], df.itertuples(index=False))):
            for col, cell, value in zip(df.columns, cells, values):
                assert _same(cell, value, str(col), maxes.get(col, 0.0)), f"{rel} row {i} column {col}: page shows {cell!r}, file has {value!r}"
                checked += 1
    full = {t["attrs"]["data-table"]: t for t in page.tables}
    for pv in page.previews:
        rows = full[pv["attrs"]["data-preview"]]["rows"]
        assert pv["header"] == full[pv["attrs"]["data-preview"]]["header"]
        for r in pv["rows"]:
            assert r in rows, f"preview row {r} is not a row of its table"
    return checked


# ----------------------------------------------------------------------------- the fake report


@pytest.fixture
def fake_sections(monkeypatch):
    """Put the fake sections in place of the real ones (returns a function selecting them)."""
    monkeypatch.setitem(sys.modules, "_fake_sections", fake)
    fake.CALLS.clear()

    def use(*keys):
        monkeypatch.setattr(report, "SECTIONS", {k: f"_fake_sections:{k}" for k in keys})

    return use


@pytest.fixture(scope="module")
def fake_report(tmp_path_factory):
    """A report of the fake sections alpha and beta, made once for the tests that only read it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "_fake_sections", fake)
        mp.setattr(report, "SECTIONS", {"alpha": "_fake_sections:alpha", "beta": "_fake_sections:beta"})
        out = tmp_path_factory.mktemp("fake") / "report"
        rc = cli.main(["reproduce", "--quick", "--out", str(out)])
    assert rc == 0
    return out


def test_page_layout_contents_and_captions(fake_report):
    out = fake_report
    text = (out / "index.html").read_text()
    page = _parse(text)
    # the table of contents: top, summary, every section and every figure, all resolving
    assert {"top", "summary", "alpha", "beta", "fig-alpha-curves", "fig-alpha-panels", "fig-beta-f"} <= set(page.toc_hrefs)
    assert not set(page.hrefs) - set(page.ids), "every in-page link leads somewhere"
    assert text.index('id="summary"') < text.index('<section id="alpha"') < text.index('<section id="beta"')
    assert text.count('href="#top"') >= 1 + 2, "a way back to the top from every section"
    # numbered captions, in page order, with the sections' texts; math typeset, not left as $...$
    assert [int(re.match(r"Figure (\d+)\.", c).group(1)) for c in page.captions] == [1, 2, 3]
    assert "one colour and legend entry each" in page.captions[0] and "[math]" in page.captions[0]
    assert report._html.CAPTION_MISSING not in text
    assert page.maths and all(m["src"].startswith("data:image/svg+xml;base64,") for m in page.maths)
    assert "$" not in re.sub(r"<[^>]+>", "", text.split("<style>")[0] + text.split("</style>")[1].split("<script>")[0])
    svg = base64.b64decode(page.maths[0]["src"].split(",", 1)[1]).decode()
    assert "<svg" in svg and "<path" in svg, "formulas are drawn as paths: no font to fetch"


def test_every_table_is_collapsed_with_a_preview_and_matches_its_file(fake_report):
    out = fake_report
    text = (out / "index.html").read_text()
    page = _parse(text)
    shown = sorted(t["attrs"]["data-file"] for t in page.tables)
    expected = sorted({"data/summary.csv"} | {rel for r in _records(out) for rel in r["tables"].values()})
    assert shown == expected
    assert all(t["in_details"] for t in page.tables), "every full table sits in a <details>"
    assert _check_tables_match_files(out, page) > 100
    # the long table: collapsed (no open attribute), previewed by its first rows and its failing row, with a filter
    long = pd.read_csv(out / "data" / "alpha_long.csv")
    block = text.split('id="tab-alpha-long"')[1].split("</details>")[0]
    assert "<details class=\"table\">" in block and "<details class=\"table\" open>" not in block
    (pv,) = [p for p in page.previews if p["attrs"]["data-preview"] == "alpha_long"]
    adj = _holm(long["p_value"].dropna())
    failing = [i for i, a in zip(long.index[long["p_value"].notna()], adj) if a < 1e-3]
    assert failing == [39]
    first = list(range(report._html.PREVIEW_ROWS))
    assert 1 <= len(first) <= 5
    assert [r[0] for r in pv["rows"]] == [long["quantity"][i] for i in [*first, *failing]]
    assert 'data-filter-for="t-alpha-long"' in text
    assert 'data-filter-for="t-alpha-wide"' not in text, "no filter for a table of 4 rows"
    # one adjustment, recomputed the same way in every table and named once
    assert np.allclose(long["p_adjusted"].dropna(), adj)
    assert text.count("step-down adjustment") == 1 and "Bonferroni" not in text


def test_special_values_are_explained_where_they_stand(fake_report):
    page = _parse((fake_report / "index.html").read_text())
    full = {t["attrs"]["data-file"]: t for t in page.tables}
    long = full["data/alpha_long.csv"]
    theory = long["header"].index("theory")
    assert long["rows"][39][theory] == "∞"
    assert long["titles"][39][theory] == "infinite: E X diverges at the last generation", "the section's own note"
    p = long["header"].index("p_value")
    assert long["rows"][30][p] == "—" and "no test in this row" in long["titles"][30][p], "the page's default note"
    dist = full["data/alpha_distances.csv"]
    assert dist["rows"][0][1] == "0" and "1.27e-31" in dist["titles"][0][1]
    assert dist["rows"][1][1] == "0.05"
    text = (fake_report / "index.html").read_text()
    assert "<b>∞</b> in theory: infinite: E X diverges" in text, "and a legend under the table"


def test_caption_missing_is_marked(fake_sections, tmp_path):
    fake_sections("uncaptioned")
    report.reproduce(tmp_path, quick=True, show_progress=False)
    page = _parse((tmp_path / "index.html").read_text())
    assert len(page.captions) == 1 and report._html.CAPTION_MISSING in page.captions[0]


def test_page_is_self_contained(fake_report):
    text = (fake_report / "index.html").read_text()
    assert 'http-equiv="Content-Security-Policy"' in text and "default-src 'none'" in text
    visible = re.sub(r'src="data:[^"]*"', "", text)
    assert "http://" not in visible and "https://" not in visible, "the page must not need the network"
    for img in _parse(text).images:
        assert img["src"].startswith("data:image/png;base64,")
        assert base64.b64decode(img["src"].split(",", 1)[1]) == (fake_report / img["data-file"]).read_bytes()


def test_files_are_shareable_and_honour_the_umask(fake_sections, tmp_path):
    fake_sections("beta")
    old = os.umask(0o022)
    try:
        report.reproduce(tmp_path / "a", quick=True, show_progress=False)
        os.umask(0o027)
        report.reproduce(tmp_path / "b", quick=True, show_progress=False)
    finally:
        os.umask(old)
    for root, file_mode, dir_mode in ((tmp_path / "a", 0o644, 0o755), (tmp_path / "b", 0o640, 0o750)):
        paths = list(root.rglob("*"))
        assert any(p.is_file() for p in paths) and any(p.is_dir() for p in paths)
        for p in paths:
            mode = p.stat().st_mode & 0o777
            assert mode == (file_mode if p.is_file() else dir_mode), f"{p}: {oct(mode)}"


@pytest.mark.slow
def test_reused_sections_are_verified(fake_sections, tmp_path, capsys):
    """A tampered CSV, a truncated PNG or a file name leaving the report: the section is recomputed, not trusted."""
    fake_sections("alpha", "beta")
    out = tmp_path / "r"
    report.reproduce(out, quick=True, show_progress=False)
    assert fake.CALLS == {"alpha": 1, "beta": 1}
    res = report.reproduce(out, quick=True, show_progress=False)
    assert res.reused == ["alpha", "beta"] and fake.CALLS == {"alpha": 1, "beta": 1}

    csv = out / "data" / "alpha_long.csv"
    csv.write_text(csv.read_text().replace("0.5", "0.6", 1))
    png = out / "figures" / "beta_f.png"
    png.write_bytes(png.read_bytes()[:200])
    res = report.reproduce(out, quick=True, show_progress=False)
    assert res.ran == ["alpha", "beta"] and fake.CALLS == {"alpha": 2, "beta": 2}
    assert "SHA-256" in res.rejected["alpha"] and "SHA-256" in res.rejected["beta"]
    assert "0.6" not in csv.read_text().split("\n")[1] or csv.read_text() != ""

    # a record naming files outside the report: never reused, never rendered
    secret = tmp_path / "secret.csv"
    secret.write_text("quantity,simulated\nSECRET-VALUE,1\n")
    rec = json.loads((out / "data" / "beta.json").read_text())
    rec["tables"]["t"] = "../secret.csv"
    rec["figures"]["abs"] = str(secret)
    (out / "data" / "beta.json").write_text(json.dumps(rec))
    report.write_index(out)
    text = (out / "index.html").read_text()
    assert "SECRET-VALUE" not in text and text.count("refused: the file name leaves the report directory") == 2
    assert "leaves the report directory" in report._check_record(out, "beta", True, 0)
    res = report.reproduce(out, quick=True, show_progress=False)
    assert res.ran == ["beta"] and "leaves the report directory" in res.rejected["beta"]
    assert "SECRET-VALUE" not in (out / "index.html").read_text()


@pytest.mark.slow
def test_force_and_regenerate_recompute(fake_sections, tmp_path, monkeypatch):
    fake_sections("alpha", "beta")
    out = tmp_path / "r"
    assert cli.main(["reproduce", "--quick", "--out", str(out)]) == 0
    assert cli.main(["reproduce", "--quick", "--out", str(out)]) == 0
    assert fake.CALLS == {"alpha": 1, "beta": 1}, "reused without --force"
    assert cli.main(["reproduce", "--quick", "--out", str(out), "--force"]) == 0
    assert fake.CALLS == {"alpha": 2, "beta": 2}, "--force alone recomputes every selected section"
    assert cli.main(["reproduce", "--quick", "--out", str(out), "--force", "beta"]) == 0
    assert fake.CALLS == {"alpha": 2, "beta": 3}
    text = (out / "index.html").read_text()
    lines = re.findall(r"Regenerate: <code>([^<]+)</code>", text)
    assert len(lines) == 2
    for key, line in zip(("alpha", "beta"), lines):
        argv = shlex.split(line.replace("&#x27;", "'").replace("&quot;", '"'))
        assert argv[0] == "collapse-theory"
        before = dict(fake.CALLS)
        assert cli.main(argv[1:]) == 0
        assert fake.CALLS[key] == before[key] + 1, f"'{line}' did not recompute {key}"
        assert {k: v for k, v in fake.CALLS.items() if k != key} == {k: v for k, v in before.items() if k != key}
    assert cli.main(["reproduce", "--out", str(out), "--force", "nosuch"]) == 2


@pytest.mark.slow
def test_progress_heartbeat_and_page_while_running(fake_sections, tmp_path, monkeypatch, capsys):
    """A section that prints nothing still shows a heartbeat; the page can be read while it runs."""
    fake_sections("alpha", "slow", "beta")
    monkeypatch.setattr(report, "HEARTBEAT_S", 0.1)
    out = tmp_path / "r"
    fake.CALLS.update(out=out, sleep=0.65)
    res = report.reproduce(out, quick=True, show_progress=True)
    assert res.ran == ["alpha", "slow", "beta"]
    beats = re.findall(r"\[slow\] still running, (\d+) s elapsed", capsys.readouterr().out)
    assert len(beats) >= 3, "a line every HEARTBEAT_S while the section runs"
    summary = fake.CALLS["summary_while_running"].set_index("section")
    assert summary.loc["slow", "status"] == "running"
    assert summary.loc["alpha", "status"] in ("ok", "checks failing")
    assert summary.loc["beta", "status"] == "queued"
    during = _parse(fake.CALLS["page_while_running"])
    assert {img["data-file"] for img in during.images} == {"figures/alpha_curves.png", "figures/alpha_panels.png"}
    assert "Running now" in fake.CALLS["page_while_running"]
    assert 0 < res.first_index_s < 60
    assert report.HEARTBEAT_S <= 10 or True


def test_heartbeat_unit(capsys):
    import time

    from collapse_theory._progress import heartbeat

    with heartbeat("unit", 0.05, show=True) as hb:
        time.sleep(0.32)
    out = capsys.readouterr().out
    assert hb.beats >= 3 and out.count("[unit] still running") == hb.beats
    with heartbeat("quiet", 0.05, show=False) as hb:
        time.sleep(0.12)
    assert hb.beats == 0 and capsys.readouterr().out == ""
    for bad in (0, -1, float("nan"), "10"):
        with pytest.raises(ValueError, match="interval"):
            heartbeat("x", bad)


def test_provenance_lists_imported_packages_and_machine(fake_sections, tmp_path):
    from importlib import metadata

    candidates = ["psutil", "yaml", "idna", "certifi", "packaging", "jinja2", "markupsafe", "pygments", "attr", "toolz"]
    owners = metadata.packages_distributions()
    fresh = [m for m in candidates if m not in sys.modules and owners.get(m)]
    if not fresh:
        pytest.skip("no installed package is left unimported to test with")
    fake.CALLS["import"] = fresh[0]
    fake_sections("importer")
    report.reproduce(tmp_path, quick=True, show_progress=False)
    prov = json.loads((tmp_path / "data" / "importer.json").read_text())["provenance"]
    dist = owners[fresh[0]][0]
    assert dist in prov["imported_by_section"] and prov["imported_by_section"][dist] == metadata.version(dist)
    assert "numpy" in prov["packages_loaded"] and "numpy" not in prov["imported_by_section"]
    m = prov["machine"]
    assert m["logical_cores"] == os.cpu_count() and m["cpu"] and isinstance(m["threads"], dict)


def test_failed_and_missing_sections_are_shown(fake_sections, tmp_path, monkeypatch):
    monkeypatch.setattr(report, "SECTIONS", {"beta": "_fake_sections:beta", "broken": "_fake_sections:broken", "never": "_fake_sections:beta"})
    rc = cli.main(["reproduce", "--quick", "--out", str(tmp_path), "--only", "beta", "broken"])
    assert rc == 1
    summary = pd.read_csv(tmp_path / "data" / "summary.csv").set_index("section")
    assert summary.loc["beta", "status"] == "checks failing"
    assert summary.loc["beta", "tests"] == 2 and summary.loc["beta", "failing"] == 1
    assert summary.loc["beta", "failing_checks"] == "t: b"
    assert summary.loc["broken", "status"] == "failed" and "kaboom" in summary.loc["broken", "failing_checks"]
    assert summary.loc["never", "status"] == "not run"
    text = (tmp_path / "index.html").read_text()
    assert "kaboom" in text
    assert text.split('data-table="beta_t"')[1].split("</table>")[0].count('class="fail-row"') == 1


def test_out_that_is_a_file_is_refused(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ValueError, match="out"):
        report.reproduce(f, quick=True, show_progress=False)


def test_safe_relpath(tmp_path):
    from collapse_theory.report._html import safe_relpath

    (tmp_path / "data").mkdir()
    assert safe_relpath(tmp_path, "data/x.csv") == tmp_path / "data" / "x.csv"
    for bad in ("../x.csv", "/etc/passwd", "data/../../x", "", None, 3, "C:/x", "data/\x00x"):
        assert safe_relpath(tmp_path, bad) is None, bad
    os.symlink("/etc", tmp_path / "data" / "link")
    assert safe_relpath(tmp_path, "data/link/passwd") is None, "a link out of the report is refused"


def test_atomic_write_mode(tmp_path):
    from collapse_theory._provenance import atomic_write

    old = os.umask(0o022)
    try:
        assert atomic_write(tmp_path / "a.txt", "x").stat().st_mode & 0o777 == 0o644
        os.umask(0o077)
        assert atomic_write(tmp_path / "b.txt", b"x").stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)


def test_positive_mean_ci_respects_the_support_and_covers():
    """Never below zero; about nominal coverage for a skewed law (checked against the exact mean)."""
    from scipy import stats

    from collapse_theory._stats import mean_ci, positive_mean_ci

    rng = np.random.default_rng(20240)
    # heavy right tail: the normal interval crosses zero, this one never does
    x = rng.lognormal(0.0, 2.5, size=(4000, 20))
    _, lo_n, _, _ = mean_ci(x, axis=1)
    m, lo, hi, _ = positive_mean_ci(x, axis=1)
    assert (lo_n < 0).mean() > 0.1 and (lo > 0).all() and (hi > m).all() and (lo < m).all()
    # coverage for exponential samples of 30 (mean 1): nominal 0.95. Both large-sample intervals undercover a
    # skewed law by a couple of points at n = 30 (4000 intervals: binomial sd 0.0035); the log-scale one must
    # do no worse than the normal one by more than that, and a wrong interval (a missing exp, se/m swapped
    # for se) falls far outside 0.90..0.97
    e = rng.exponential(1.0, size=(4000, 30))
    _, lo, hi, _ = positive_mean_ci(e, axis=1)
    _, lo_n, hi_n, _ = mean_ci(e, axis=1)
    cover = np.mean((lo <= 1.0) & (1.0 <= hi))
    cover_n = np.mean((lo_n <= 1.0) & (1.0 <= hi_n))
    assert 0.90 <= cover <= 0.97 and cover >= cover_n - 0.015, (cover, cover_n)
    # to first order it is the normal interval
    big = rng.normal(10.0, 1.0, size=100_000)
    a, b = mean_ci(big)[1:3], positive_mean_ci(big)[1:3]
    assert np.allclose(a, b, rtol=1e-5)
    z = positive_mean_ci(np.zeros(5))
    assert z[1] == 0.0 and z[2] == 0.0
    with pytest.raises(ValueError, match="non-negative"):
        positive_mean_ci([1.0, -1.0])
    assert stats.norm.ppf(0.975) > 1.9


def test_exact_vs_paper_has_one_row_per_setting():
    from collapse_theory.report.sections.gaussian import _exact_vs_paper_table

    t = _exact_vs_paper_table((10, 100, 1000), (0.01, 0.1, 1.0, 3.0))
    assert not t.duplicated(["M", "n"]).any()
    assert len(t) == 11, "M = 10 gives n = 1 for both 0.01 and 0.1: one row"


def test_math_is_typeset_or_shown_as_source():
    from collapse_theory.report._html import math_image, rich_text

    assert math_image(r"\frac{\sigma_0^2 (n - 8)}{16 M^2}").startswith('<img class="math"')
    assert math_image(r"\notacommand{x}") is None
    html_ = rich_text(r"a $\gamma M (2-\gamma) \le 1$ and $\notacommand{x}$ <b>")
    assert html_.count('class="math"') == 1 and r"<code>\notacommand{x}</code>" in html_ and "&lt;b&gt;" in html_


# ----------------------------------------------------------------------------- in the browser


@needs_chromium
def test_fake_report_in_chromium(fake_report, tmp_path):
    """Every <details> opened: captions, clipping, links, network; the page height with tables collapsed."""
    shot = tmp_path / "page_top.png"
    found = _browser.inspect_page(fake_report / "index.html", tmp_path / "chromium", width=1400, height=1000, screenshot=shot)
    assert _browser.problems(found) == []
    assert found["details_open_before"] < found["details"], "the long table starts collapsed"
    assert found["filter_check"] and found["sort_check"], "the page's filter and sort were exercised"
    assert found["height_open"] > found["height_collapsed"]
    assert found["height_collapsed"] < 15000
    assert len(found["figures"]) == 3 and all(w > 100 for *_, w in found["figures"])
    wide = [t for t in found["tables"] if t["name"] == "data/alpha_wide.csv"][0]
    assert wide["table_width"] > wide["frame_width"] and wide["first_sticky"], "a wide table scrolls in its frame, first column frozen"
    from PIL import Image

    img = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert img.shape == (1000, 1400) and img.std() > 10, "the screenshot shows the page"
    print(f"\nfake report: page height {found['height_collapsed']} px with tables collapsed at 1400 px; screenshot {shot}")


@needs_chromium
def test_browser_checks_can_fail(fake_sections, tmp_path):
    """The checks above would see an uncaptioned figure, a fetch and a clipped table."""
    fake_sections("uncaptioned")
    report.reproduce(tmp_path / "r", quick=True, show_progress=False)
    index = tmp_path / "r" / "index.html"
    text = index.read_text()
    text = text.replace('<meta http-equiv="Content-Security-Policy"', '<meta name="x"')
    text = text.replace("</main>", '<img src="http://127.0.0.1:9/x.png"><div style="width:300px;overflow:hidden">'
                        '<table><tr><td>' + "x" * 400 + "</td></tr></table></div><a href=\"#nowhere\"></a></main>")
    text = text.replace('<li><a href="#top">Top</a></li>', '<li><a href="#top">Top</a></li><li><a href="#nowhere">x</a></li>')
    index.write_text(text)
    found = _browser.inspect_page(index, tmp_path / "chromium")
    msgs = "\n".join(_browser.problems(found))
    assert "without a numbered caption" in msgs
    assert "127.0.0.1:9" in msgs
    assert "not in a frame" in msgs
    assert "nowhere" in msgs


# ----------------------------------------------------------------------------- the real report (slow)


@pytest.fixture(scope="session")
def quick_report(tmp_path_factory):
    """``collapse-theory reproduce --quick`` run once, through ``cli.main``."""
    out = tmp_path_factory.mktemp("report")
    rc = cli.main(["reproduce", "--quick", "--out", str(out)])
    return out, rc


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
        assert rec["provenance"]["packages_loaded"]["numpy"] == np.__version__
        assert rec["regenerate"].startswith("collapse-theory reproduce") and f"--force {key}" in rec["regenerate"]
        if rec["status"] == "ok":
            assert rec["figures"] or rec["tables"], f"section {key} shows nothing"
            for name in rec["figures"]:
                assert len(rec["captions"].get(name, "")) > 40, f"section {key}: figure {name} has no caption"
            for rel in [*rec["figures"].values(), *rec["tables"].values()]:
                assert (out / rel).is_file()
        else:
            assert rec["status"] == "skipped" and rec["skipped"], f"section {key}: skipped without a reason"
    summary = pd.read_csv(out / "data" / "summary.csv")
    assert list(summary["section"]) == list(report.SECTIONS)
    failing = summary[~summary["status"].isin(["ok", "skipped"])]
    assert failing.empty, f"sections with failing checks or errors: {failing[['section', 'status', 'failing_checks']].to_dict('records')}"


@pytest.mark.slow
def test_quick_report_figures_tables_and_numbers(quick_report):
    from PIL import Image

    out, _ = quick_report
    text = (out / "index.html").read_text()
    page = _parse(text)
    expected = sorted(rel for r in _records(out) for rel in r.get("figures", {}).values())
    assert expected and sorted(img["data-file"] for img in page.images) == expected
    for img in page.images:
        raw = base64.b64decode(img["src"].split(",", 1)[1], validate=True)
        assert raw == (out / img["data-file"]).read_bytes()
        arr = np.asarray(Image.open(io.BytesIO(raw)).convert("L"), dtype=float)
        assert arr.shape[0] > 100 and arr.shape[1] > 100 and arr.std() > 1.0, f"{img['data-file']} is a blank picture"
    assert len(page.captions) == len(expected) and not any(report._html.CAPTION_MISSING in c for c in page.captions)
    assert _check_tables_match_files(out, page) > 20
    visible = re.sub(r'src="data:[^"]*"', "", text)
    assert "http://" not in visible and "https://" not in visible
    for rec in _records(out):
        for rel in rec.get("tables", {}).values():
            df = pd.read_csv(out / rel)
            if {"ci_low", "simulated"} <= set(df.columns) and "quantity" in df.columns:
                nonneg = df["quantity"].astype(str).str.contains(r"W2\^2|sigma\^2|variance, gen|\(mu - mu0\)\^2")
                nonneg &= ~df["quantity"].astype(str).str.contains("log variance")
                assert not (df.loc[nonneg, "ci_low"] < 0).any(), f"{rel}: an interval of a non-negative quantity below 0"


@pytest.mark.slow
def test_quick_report_summary_counts(quick_report):
    out, _ = quick_report
    summary = pd.read_csv(out / "data" / "summary.csv").set_index("section")
    for rec in _records(out):
        n = 0
        for rel in rec.get("tables", {}).values():
            df = pd.read_csv(out / rel)
            if "p_value" in df.columns:
                n += int(df["p_value"].notna().sum())
            elif "p_adjusted" in df.columns:
                n += int(df["p_adjusted"].notna().sum())
        assert summary.loc[rec["key"], "tests"] == n
        assert summary.loc[rec["key"], "wall_time_s"] == pytest.approx(rec.get("wall_time_s", 0.0), abs=0.01)


@pytest.mark.slow
def test_quick_report_resume_and_only(quick_report, tmp_path):
    out, _ = quick_report
    copy = tmp_path / "r"
    shutil.copytree(out, copy)
    recs = {r["key"]: r for r in _records(copy) if r["status"] == "ok"}
    cheapest = min(recs, key=lambda k: recs[k].get("wall_time_s", 0.0))
    (copy / "data" / f"{cheapest}.json").unlink()  # as if interrupted before it finished
    res = report.reproduce(copy, quick=True, only=list(recs), show_progress=False)
    assert res.ran + res.skipped == [cheapest] and not res.failed
    assert sorted(res.reused) == sorted(k for k in recs if k != cheapest)
    page = (copy / "index.html").read_text()
    for rec in _records(out):
        assert f'<section id="{rec["key"]}">' in page


@pytest.mark.slow
@needs_chromium
def test_quick_report_in_chromium(quick_report, tmp_path):
    out, _ = quick_report
    shot = tmp_path / "page_top.png"
    found = _browser.inspect_page(out / "index.html", tmp_path / "chromium", width=1400, height=1000, screenshot=shot)
    print(f"\nreal quick report: page height {found['height_collapsed']} px with tables collapsed at 1400 px "
          f"({found['height_open']} px with every table open); screenshot {shot}")
    assert _browser.problems(found) == []
    assert found["height_collapsed"] < 15000


def test_damaged_records_and_files_still_give_a_page(fake_sections, tmp_path):
    """A record with odd types and an unreadable CSV: the page says so instead of failing."""
    fake_sections("beta")
    report.reproduce(tmp_path, quick=True, show_progress=False)
    rec = json.loads((tmp_path / "data" / "beta.json").read_text())
    rec["captions"], rec["notes"] = ["not", "a", "dict"], "nor this"
    (tmp_path / "data" / "beta.json").write_text(json.dumps(rec))
    (tmp_path / "data" / "beta_t.csv").write_bytes(b'"unclosed\n\x00\xff')
    report.write_index(tmp_path)
    text = (tmp_path / "index.html").read_text()
    assert "unreadable" in text or "Table: t" in text
    assert report._html.CAPTION_MISSING in text, "captions that are not a dict count as missing"
