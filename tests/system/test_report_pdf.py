"""The PDF and markdown report from a store of smoke runs of several tables (plus one corrupt
record): the PDF renders to PNG pages with poppler's pdftoppm and shows the tables, plots and
claims; the markdown shows the same."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from PIL import Image

from harness.report.pdf import text_width, wrap
from harness.report.write import write_report
from harness.paper.rows import load_tables
from harness.store import Store

from tests.report_records import smoke_store_records

POPPLER = ("pdftoppm", "pdftotext", "pdfinfo")


@pytest.fixture(scope="session")
def poppler():
    """pdftoppm, pdftotext and pdfinfo (Debian: poppler-utils). ./run_tests.sh's set-up installs
    them (tools/host_packages.sh); tests never install packages. Without them the PDF cannot be
    checked, and that is a failure, not a skip."""
    missing = [t for t in POPPLER if shutil.which(t) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: run ./run_tests.sh (its set-up installs "
                    "poppler-utils) or apt-get install poppler-utils")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    store = Store(root / "results")
    for rec in smoke_store_records():
        if rec["row"] != "table1.f":   # one runnable row left unrun
            store.write(rec)
    corrupt = store.record_path("table1.a", "smoke", 1)
    corrupt.parent.mkdir(parents=True)
    corrupt.write_text('{"schema": 1, "row": "table1.a", ')
    written = write_report(store, root / "reports", "fpn_reproduction")
    return written, corrupt


@pytest.fixture(scope="module")
def pdf_text(report, poppler):
    pdf = report[0].pdf
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    n = int(re.search(r"Pages:\s+(\d+)", info.stdout).group(1))
    # -raw keeps the content stream's order: one table cell's lines stay together
    pages = [subprocess.run(["pdftotext", "-raw", "-f", str(i), "-l", str(i), str(pdf), "-"],
                            capture_output=True, text=True, check=True).stdout
             for i in range(1, n + 1)]
    return pages


def test_pdf_renders_to_png_pages_that_are_not_blank(report, poppler, tmp_path):
    pdf = report[0].pdf
    assert pdf.exists() and pdf.read_bytes().startswith(b"%PDF")
    # 72 dpi: a page of 5.5 pt footnotes has no fully dark pixel at 40 dpi
    subprocess.run(["pdftoppm", "-r", "72", "-png", str(pdf), str(tmp_path / "p")], check=True,
                   timeout=120)
    pngs = sorted(tmp_path.glob("p-*.png"))
    assert len(pngs) >= 12, len(pngs)   # summary, claims, 6 tables, 8 figures, provenance
    for png in pngs:
        lo, hi = Image.open(png).convert("L").getextrema()
        assert lo < 100 and hi > 200, f"{png.name} looks blank"
    # no leftovers of the atomic write next to the outputs
    assert not [p for p in pdf.parent.iterdir() if p.name.endswith(".tmp")]


def test_pdf_shows_the_tables_claims_plots_and_provenance(pdf_text):
    text = "\n".join(pdf_text)
    flat = " ".join(text.split())
    for t in load_tables().values():   # every paper table, in its own layout
        assert t.title.split(" (")[0][:40] in flat, t.id
    assert "Claims" in text and "not enough data" in text
    assert "smoke only: measured delta" in flat
    assert "Placing FPN in RPN improves AR1k to 56.3" in flat
    for fig in ("table1: published vs measured, per row", "Every published number against its "
                "measurement", "table1: AR by object size, pyramid variants",
                "Inference time per image, per row"):
        assert fig in flat, fig
    assert "Provenance: every run" in flat and "432e3f93646ac411" in flat
    assert "(not judged)" in flat   # smoke is never judged: no cell reads within/outside
    assert not re.search(r"[+-]\d+\.\d\s+(within|outside)", flat)
    assert "No reproduction runs yet" in flat
    # a figure is a page of its own, with the report's footer
    assert any("published vs measured, per row" in p and "page" in p for p in pdf_text)


def test_rows_without_runs_say_not_run_in_both_outputs(report, pdf_text):
    flat = " ".join("\n".join(pdf_text).split())
    md = report[0].text
    line = next(ln for ln in md.splitlines() if ln.startswith("| (f) only finest level"))
    assert line.count("/ not run") == 5 and "smoke" not in line
    assert "51.3 / not run" in flat and "38.4 / not run" in flat
    assert "table1.f" not in " ".join(r for r in report[0].path.parent.parent.joinpath(
        "results", "results.csv").read_text().splitlines())
    # Table 5's ResNet-101 rows have no runs: published numbers followed by 'not run'
    line = next(ln for ln in md.splitlines() if ln.startswith("| (r101_no)"))
    assert "58.0 / not run" in line and "smoke" not in line
    assert "58.0 / not run" in flat
    # Table 4's test-dev columns are the COCO server's, never a local measurement or 'not run'
    line = next(ln for ln in md.splitlines() if ln.startswith("| (ours)"))
    assert "35.6 / not run" in line and "59.1 / COCO server only" in line
    assert "36.2 / COCO server only" in flat
    # Table 4's literature rows are literature, never measured
    assert "35.7 / literature" in md and "35.7 / literature" in flat


def test_corrupt_record_is_named_and_skipped_in_both_outputs(report, pdf_text):
    written, corrupt = report
    assert len(written.problems) == 1 and str(corrupt) in written.problems[0]
    flat = " ".join("\n".join(pdf_text).split())
    assert "Skipped records" in written.text and str(corrupt) in written.text
    assert "Skipped records" in flat and "unreadable" in flat


def test_markdown_shows_the_same_and_links_existing_figures(report, pdf_text):
    written = report[0]
    md = written.path.read_text()
    assert md == written.text
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(links) == len(written.figures) >= 8
    for link in links:
        f = written.path.parent / link
        assert f.exists() and f.read_bytes()[:4] == b"\x89PNG", link
        assert link.startswith("_figures/")   # git-ignored by /reports/_*/
    flat = " ".join("\n".join(pdf_text).split())
    for heading in re.findall(r"^#+ (.+)$", md, flags=re.M):
        if heading != "Plots across tables":   # figure pages carry their own titles
            assert heading.replace("*", "") in flat, heading
    assert md.count("not enough data") >= 20


def test_wrap_keeps_every_line_inside_its_width():
    for text in ("/work/main/results/runs/table1.c/smoke/seed0/record.json is unreadable",
                 "a b c " * 40, "x" * 300):
        for size in (5.0, 7.0):
            lines = wrap(text, 90.0, size)
            assert all(text_width(ln, size) <= 90.0 for ln in lines), (text, lines)
            assert "".join(lines).replace(" ", "") == text.replace(" ", "")
