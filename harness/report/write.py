"""`harness report`: the whole report from the results store (no re-running), written as
reports/<name>.md, reports/<name>.pdf (with figures) and results/results.csv."""
from __future__ import annotations

import math
import os
import sys
from collections import Counter
from pathlib import Path

from harness.config.profiles import PROFILES
from harness.errors import HarnessError
from harness.paper.constants import DEFAULT_TOLERANCE
from harness.paper.others import load_others
from harness.paper.rows import Table, load_tables
from harness.report import plots
from harness.report.aggregate import group_records
from harness.report.claims import FAILS, HOLDS, NOT_ENOUGH, SERVER_ONLY, evaluate_all
from harness.report.doc import Bullets, FigureBlock, Heading, Para, to_markdown
from harness.report.sections import claim_blocks, runs_blocks
from harness.report.tables import TITLE, cell_verdict, table_blocks
from harness.report.tidy import write_tidy_csv
from harness.report.verdict import Verdict, may_judge, reasons, tolerance_for
from harness.store.record import REASON_KINDS
from harness.store import Store, atomic_file, write_text_atomic


# ---- the whole report -------------------------------------------------------------------------

def _apart(records) -> list[str]:
    """Finished paper-profile runs that are not reproductions, counted apart by their first
    reason ("3 paper-profile runs not judged: schedule changed"), and those judged anyway."""
    unjudged, allowed = Counter(), 0
    for r in records:
        p = PROFILES.get(r["profile"])
        if not (p and p.is_reproduction) or r.get("status") != "done" or r.get("same_as"):
            continue   # an alias row is its source's run: counted once
        found = reasons(r)
        if may_judge([r]):
            allowed += bool(found)
        else:
            unjudged[REASON_KINDS.get(found[0]["kind"], found[0]["kind"]) if found
                     else "their records say they are not reproductions"] += 1
    out = []
    if unjudged:
        n = sum(unjudged.values())
        why = next(iter(unjudged)) if len(unjudged) == 1 else \
            ", ".join(f"{k} {c}" for k, c in unjudged.most_common())
        out.append(f"{n} paper-profile run{'s' * (n != 1)} not judged: {why} (their numbers are "
                   "shown, marked not judged; the notes under each table say why).")
    if allowed:
        out.append(f"{allowed} paper-profile run{'s' * (allowed != 1)} judged with deviations "
                   "(--allow-deviations): not reproductions; their reasons are beside each verdict.")
    return out


def _summary(records, groups, tables, results, tol, problems) -> list:
    by_profile = Counter((r["profile"], r.get("status")) for r in records)
    judged_runs = sum(1 for r in records if may_judge([r]))
    verdicts = Counter()
    for t in tables.values():
        for row in t.rows.values():
            if row.literature:
                continue
            g = next((g for g in groups.get(row.id, {}).values() if g.judged), None)
            # measured by a paper-profile run that is not a reproduction: not judged, not "not run"
            apart = any(g.reproduction_profile and g.done for g in groups.get(row.id, {}).values())
            for m in t.local_metrics:
                if row.published[m] is None:
                    continue
                verdicts[cell_verdict(row.published[m], g.cell(m), g,
                                      tolerance_for(t, row, m, tol))[0]
                         if g else Verdict.NOT_JUDGED if apart else Verdict.NOT_RUN] += 1
    claims = Counter(r.verdict for r in results)
    runs = ", ".join(f"{n} {p} {s}" for (p, s), n in sorted(by_profile.items())) or "none"
    gpu_h = sum(r.get("gpu_hours") or 0 for r in records
                if isinstance(r.get("gpu_hours"), (int, float)) and not r.get("same_as"))
    out = [Heading(TITLE, 1),
           Para("Lin et al., *Feature Pyramid Networks for Object Detection*, CVPR 2017, against "
                "runs of this harness (MMDetection 3.3.0). Only `paper`-profile runs whose "
                "records say they are reproductions (full schedule, full COCO, the published "
                "ImageNet weights, no undeclared change: the README's \"What its numbers "
                "mean\") are judged; `smoke` numbers check the pipeline on synthetic data and are "
                "never judged against the paper.")]
    if judged_runs == 0:
        out.append(Para("**No reproduction runs yet: every measured number below comes from a "
                        "run that is not a reproduction (smoke: a pipeline check; paper-profile "
                        "runs whose notes say why). No cell and no claim is judged on it.**"))
    out.append(Heading("At a glance", 2))
    out.append(Bullets([
        f"Claims: {claims.get(HOLDS, 0)} hold, {claims.get(FAILS, 0)} fail, "
        f"{claims.get(NOT_ENOUGH, 0)} not enough data, {claims.get(SERVER_ONLY, 0)} COCO server "
        f"only (of {len(results)}).",
        f"Published numbers (reproduction runs): {verdicts[Verdict.WITHIN]} within ±{tol:g}, "
        f"{verdicts[Verdict.OUTSIDE]} outside, {verdicts[Verdict.NOT_RUN]} not run, "
        f"{verdicts[Verdict.NA]} n/a"
        + (f", {verdicts[Verdict.NOT_JUDGED]} measured but not judged" if verdicts[Verdict.NOT_JUDGED]
           else "") + ".",
        *_apart(records),
        f"Runs in the store: {runs}; GPU-hours {gpu_h:.1f} (aliases not counted twice).",
        f"Tolerance: ±{tol:g} points per number (`harness report --tolerance`).",
    ] + ([f"{len(problems)} record(s) skipped: see 'Skipped records' at the end."]
         if problems else []), small=False))
    return out


class Written(tuple):
    """(text, markdown path, problems), as write_report always returned; plus .pdf (None if not
    written), .csv and .figures."""

    def __new__(cls, text, path, problems, pdf=None, csv=None, figures=()):
        self = super().__new__(cls, (text, path, problems))
        self.text, self.path, self.problems = text, path, problems
        self.pdf, self.csv, self.figures = pdf, csv, list(figures)
        return self


def _save_png(fig, path: Path) -> None:
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)


def _save_pngs(figures: list[FigureBlock], beside: bool):
    """Save the markdown's PNGs; with `beside`, in a forked child while this process draws the
    PDF: the two renderings of each figure (Agg, PDF) are the report's slowest parts and need
    nothing from each other. The child inherits the figures (nothing is pickled). Returns a
    function that waits for it; if the child failed, the PNGs are saved here, so that any error
    is raised here."""
    def here():
        for fb in figures:
            _save_png(fb.figure, fb.path)
    if not (beside and figures and hasattr(os, "fork")):
        here()
        return lambda retry=True: None
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:   # the child: save, and leave without running the parent's exit handlers
        code = 1
        try:
            here()
            code = 0
        finally:
            os._exit(code)

    def wait(retry: bool = True):
        _, status = os.waitpid(pid, 0)
        if retry and os.waitstatus_to_exitcode(status) != 0:
            here()
    return wait


def _usable(records: list[dict], tables: dict[str, Table]) -> tuple[list[dict], list[str]]:
    """Records of rows the registry knows; the others are reported by name and skipped."""
    good, problems = [], []
    for r in records:
        tid, _, letter = r["row"].partition(".")
        if tid in tables and letter in tables[tid].steps:
            continue   # a 4-step intermediate model: in the tidy CSV, not in the paper's tables
        if tid not in tables or letter not in tables[tid].rows:
            problems.append(f"skipped record {r.get('_path', r['row'])}: row '{r['row']}' is not "
                            "in published.yaml")
            continue
        if r.get("table") not in (None, tid):
            problems.append(f"skipped record {r.get('_path', r['row'])}: table '{r.get('table')}' "
                            f"does not match row '{r['row']}'")
            continue
        good.append(dict(r, table=tid))
    return good, problems


def write_report(store: Store, reports_dir: Path, name: str, *,
                 tolerance: float = DEFAULT_TOLERANCE, pdf: bool = True,
                 figures: bool = True) -> Written:
    """Markdown, PDF (+ PNG figures under reports/_figures/<name>/) and results/results.csv.
    figures=False leaves the figures out (drawing them is most of the time of a report)."""
    if not (isinstance(tolerance, (int, float)) and math.isfinite(tolerance) and tolerance >= 0):
        raise HarnessError(f"tolerance must be a number >= 0 (points), got {tolerance!r}")
    reports_dir = Path(reports_dir)
    records, bad = store.scan()
    scanned = records   # the tidy CSV also keeps runs the tables do not show (4-step steps)
    problems = [f"skipped unreadable record {b.path}: {b.reason}" for b in bad]
    tables = load_tables()
    records, unknown = _usable(records, tables)
    problems += unknown
    groups = group_records(records, tables)
    others = load_others()
    results = evaluate_all(tables, groups, tolerance)

    figdir = reports_dir / "_figures" / name   # git-ignored (/reports/_*/), one per report
    drawn: list[FigureBlock] = []

    def figure(plot, *args, key: str, caption: str) -> list:
        fig = plot(*args) if figures else None
        if fig is None:
            return []
        fb = FigureBlock(figdir / f"{key}.png", caption, fig)
        drawn.append(fb)
        return [fb]

    blocks = _summary(records, groups, tables, results, tolerance, problems)
    blocks += claim_blocks(results, tolerance)
    blocks.append(Heading("The paper's tables", 2))
    for table in tables.values():
        blocks += table_blocks(table, groups, tolerance, others)
        blocks += figure(plots.table_bars, table, groups, key=f"bars_{table.id}",
                         caption=f"{table.id}: published vs measured per row")
    blocks.append(Heading("Plots across tables", 2))
    blocks += figure(plots.scatter, tables, groups, tolerance, key="scatter",
                     caption=f"every (published, measured) pair, y = x and the ±{tolerance:g} band")
    for table in tables.values():
        blocks += figure(plots.sizes, table, groups, key=f"sizes_{table.id}",
                         caption=f"{table.id}: by object size, pyramid variants")
    blocks += figure(plots.runtime, tables, groups, key="runtime",
                     caption="inference time per image, per row")
    if not drawn and figures:
        blocks.append(Para("No finished runs yet: nothing to plot."))
    blocks += runs_blocks(records)
    blocks += [Heading("Other reproductions: sources", 2),
               Bullets([f"{s}: {v.get('title', s)}, {v.get('url', '')}"
                        for s, v in others.sources.items()]),
               Para("Run-to-run noise on COCO is about 0.3 AP; OpenMMLab's regression tolerance "
                    "is 0.5 AP. The model zoos train end to end with NMS 0.5 and a box-regression "
                    "fix, which is why they beat the paper (Detectron issue 298).", small=True)]
    if problems:
        blocks += [Heading("Skipped records", 2), Bullets(problems)]

    pngs_saved = _save_pngs(drawn, beside=pdf)
    try:
        text = to_markdown(blocks, base=reports_dir)
        path = reports_dir / f"{name}.md"
        write_text_atomic(path, text)
        pdf_path = None
        if pdf:
            from harness.report.pdf import write_pdf
            pdf_path = write_pdf(blocks, reports_dir / f"{name}.pdf", f"{TITLE} ({name})")
    except BaseException:
        pngs_saved(retry=False)   # the first error is the one to report
        raise
    pngs_saved()
    keep = {fb.path.name for fb in drawn}
    for old in figdir.glob("*.png") if figdir.is_dir() else []:
        if old.name not in keep:   # a plot this store no longer has
            old.unlink()
    csv_path = store.root / "results.csv"
    write_tidy_csv(scanned, csv_path, tolerance)
    return Written(text, path, problems, pdf_path, csv_path, [fb.path for fb in drawn])
