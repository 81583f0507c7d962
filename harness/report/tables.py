"""The paper's tables in the report: one row per paper row and profile, each cell
`published / measured / delta verdict`.

Cells read `published / measured / delta verdict`. The verdict is `within` when |delta| <= the
tolerance (harness/report/verdict.py) and `outside` otherwise, but only
for reproductions: a smoke number reads `smoke (not judged)` and is labelled a pipeline
check; a paper-profile run that is not a reproduction (shortened, a subset, other weights: its
record's `reproduction.reasons`) reads `not judged [n]`, note [n] giving its first reason. A run
judged anyway (--allow-deviations) has its reasons in a note beside every verdict. CocoMetric's -1 (no objects in a size bucket) is `n/a`; a row without a record is
`not run`, never a number. Unreadable records are reported by name and skipped."""
from __future__ import annotations

from harness.config.anchors import table_anchors
from harness.config.profiles import PROFILES
from harness.paper.constants import DEFAULT_TOLERANCE, PAPER_GPUS
from harness.paper.constants import PAPER_IMAGES_PER_BATCH as PAPER_BATCH
from harness.paper.others import Others, load_others
from harness.paper.rows import Table, load_tables
from harness.report.aggregate import Cell, Group, get, group_records, lines as str_list
from harness.report.doc import Bullets, Heading, Para, TableBlock, to_markdown
from harness.report.fidelity_notes import deviation_footnotes
from harness.report.verdict import Verdict, judge, tolerance_for

TITLE = "FPN reproduction report"
SERVER = str(Verdict.SERVER)


# ---- cells ----------------------------------------------------------------------------------

def _num(v) -> str:
    return f"{v:.1f}"


# A verdict's shade in the table (harness/report/doc.py: SHADES); None: unshaded.
SHADE = {Verdict.WITHIN: "within", Verdict.OUTSIDE: "outside", Verdict.NOT_RUN: "not_run",
         Verdict.NOT_JUDGED: "not_judged", Verdict.FAILED: "failed"}


def cell_verdict(published, cell: Cell | None, group: Group, tol: float) -> tuple[Verdict, str]:
    """(verdict, its words in the cell)."""
    if cell is None:
        return Verdict.NOT_RUN, str(Verdict.NOT_RUN)
    if cell.na:
        return Verdict.NA, str(Verdict.NA)
    if published is None:
        return Verdict.NOT_PUBLISHED, str(Verdict.NOT_PUBLISHED)
    if not group.judged:
        return Verdict.NOT_JUDGED, str(Verdict.NOT_JUDGED) if group.reproduction_profile \
            else f"{group.profile} (not judged)"
    verdict = judge(published, cell.mean, tol)
    words = str(verdict)
    if cell.std is not None and abs(abs(cell.mean - published) - tol) < cell.std:
        words += f" (hinges on a margin < spread ±{cell.std:.1f})"
    return verdict, words


def _cell_text(published, cell: Cell, verdict: str) -> str:
    pub = "-" if published is None else _num(published)
    if cell.na or cell.mean is None:
        return f"{pub} / n/a"
    meas = _num(cell.mean) + (f" ±{cell.std:.1f} (n={cell.n})" if cell.n > 1 else "")
    if published is None:
        return f"{pub} / {meas}"
    return f"{pub} / {meas} / {cell.mean - published:+.1f} {verdict}"


def _profile_note(profile: str) -> str:
    p = PROFILES.get(profile)
    if p is None:
        return f"profile '{profile}' (unknown: not judged)"
    return "as published (reproduction)" if p.is_reproduction else \
        f"{profile}: pipeline check, not a reproduction"


def _judgement_note(g: Group, row, notes: list[str]) -> str:
    """A paper-profile group that is not a reproduction: its first reason in a note, the mark
    its cells carry ("not judged [n]"); judged anyway (--allow-deviations): every reason, beside
    every verdict. "" for reproductions and pipeline checks (their profile says it)."""
    found = g.reasons
    if not g.reproduction_profile or not found or not g.done:
        return ""
    if g.judged:
        notes.append(f"[{len(notes) + 1}] ({row.letter}) {g.profile}: judged with deviations "
                     "(--allow-deviations), not a reproduction: "
                     + "; ".join(r["text"] for r in found))
    else:
        more = f" (and {len(found) - 1} more in its record)" if len(found) > 1 else ""
        notes.append(f"[{len(notes) + 1}] ({row.letter}) {g.profile}: not judged, not a "
                     f"reproduction: {found[0]['text']}{more}")
    return f" [{len(notes)}]"


def _seeds(recs: list[dict]) -> str:
    return ",".join(str(r.get("seed", 0)) for r in recs)


def run_notes(g: Group) -> list[str]:
    """How these runs depart from the paper's setup (and resumes), one line each, deduplicated
    over seeds. Smoke groups list only their own deviations: the profile says the rest."""
    by_text: dict[str, list[dict]] = {}
    for r in g.records:
        lines = str_list(r.get("deviations"))
        if g.judged:
            gpus = get(r, "environment", "num_gpus")
            if isinstance(gpus, int) and gpus != PAPER_GPUS and not any("GPU" in d for d in lines):
                lines.append(f"{gpus} GPUs instead of the paper's {PAPER_GPUS}")
            ipb = r.get("images_per_batch")
            if isinstance(ipb, int) and ipb != PAPER_BATCH and not any("batch" in d for d in lines):
                lines.append(f"{ipb} images per batch instead of {PAPER_BATCH}")
        if r.get("resumed"):
            lines.append(f"resumed from iteration {r.get('resumed_from_iteration', '?')}")
        if r.get("status") != "done" and g.done:   # an all-failed row says why in its status
            lines.append(f"failed: {r.get('reason') or 'no reason recorded'}")
        for ln in lines:
            by_text.setdefault(ln, []).append(r)
    return [f"seed {_seeds(rs)}: {t}" for t, rs in by_text.items()]


# ---- tables ---------------------------------------------------------------------------------

def _row_columns(table: Table, row, anchors: dict[str, str]) -> list[str]:
    cols = [("yes" if v else "no") if isinstance(v, bool) else str("-" if v is None else v)
            for v in row.columns.values()]
    if anchors:  # published / computed from the row's anchor generator
        i = table.columns.index("anchors")
        cols[i] = f"{cols[i]} / {anchors.get(row.id, '-')}"
    return cols


def _unrun(table: Table, row) -> tuple[list[str], list, str]:
    """Cells, shades and status of a row without runs: its published numbers only."""
    status = "literature" if row.literature else ("not run" if row.runnable else "not runnable yet")
    cells = [f"{_num(row.published[m])} / {status if table.metrics[m] or row.literature else SERVER}"
             if row.published[m] is not None else "-" for m in table.metrics]
    return cells, ["literature" if row.literature else "not_run"] * len(cells), status


def _group_status(g: Group, row, notes: list[str]) -> str:
    """The status column of one profile's runs of a row; its run notes go to `notes`."""
    status = _profile_note(g.profile)
    if g.reproduction_profile and g.reasons:
        status = ("paper profile with deviations (judged: --allow-deviations)" if g.judged else
                  "paper profile, not a reproduction: not judged")
    elif g.reproduction_profile and not g.judged:
        status = "paper profile, not judged (its record says it is not a reproduction)"
    source = g.alias_of or next((r["same_as"] for r in g.records if r.get("same_as")), None)
    if source:   # the paper's 3(c) is 2(c)'s model: same runs, not an extra replication
        status += f"; the runs of {source} (same model)"
    lines = run_notes(g)
    if lines:
        notes.append(f"[{len(notes) + 1}] ({row.letter}) {g.profile}: " + "; ".join(lines))
        status += f"; see note [{len(notes)}]"
    failed = [r for r in g.records if r.get("status") != "done"]
    if not g.done:
        return f"failed: {failed[-1].get('reason') or 'failed'}"
    if failed:
        status += f"; {len(failed)} of {len(g.records)} runs failed"
    merged = next((r["merged_from"] for r in g.done if r.get("merged_from")), None)
    if merged:
        status += "; one model merged from " + " + ".join(   # rpn first, as trained
            f"{part} of {merged[part]['row']}" for part in sorted(merged, reverse=True))
    test_dev = [r["test_dev"]["result_file"] for r in g.done if isinstance(r.get("test_dev"), dict)]
    if test_dev:
        status += f"; test-dev results for the COCO server: {test_dev[-1]}"
    return status


def _metric_cells(table: Table, row, g: Group, tol: float, mark: str = "") -> tuple[list[str], list]:
    if not g.done:
        return ([f"{_num(row.published[m])} / failed" if row.published[m] is not None else "-"
                 for m in table.metrics], ["failed"] * len(table.metrics))
    cells, shades = [], []
    for m, key in table.metrics.items():
        pub = row.published[m]
        if not key:          # scored by the COCO server only
            cells.append("-" if pub is None else f"{_num(pub)} / {SERVER}")
            shades.append(None)
            continue
        verdict, words = cell_verdict(pub, g.cell(m), g, tolerance_for(table, row, m, tol))
        if verdict in (Verdict.WITHIN, Verdict.OUTSIDE, Verdict.NOT_JUDGED):
            words += mark
        cells.append(_cell_text(pub, g.cell(m), words))
        shades.append(SHADE.get(verdict))
    return cells, shades


def _runtime_text(row, g: Group | None, paper_rt: dict) -> str:
    if g is not None and not g.done:
        return "-"
    rt = g.runtime() if g is not None else None
    text = ("not run" if g is None else "-") if rt is None else f"{rt[0]:.3f} ({rt[1]})"
    if row.id in paper_rt:   # a CPU time is for the record, never judged against an M40's
        return f"{paper_rt[row.id]:.3f} / {text}"
    return "-" if rt is None else text


def table_blocks(table: Table, groups: dict, tol: float, others: Others | None = None) -> list:
    anchors = table_anchors(table)
    others = others or Others({}, {}, {})
    sources = others.for_table(table.id)
    # The paper's inference times (Sec. 5.2.2 "Running time"; Table 6 has its own time column)
    paper_rt = {} if "time_s" in table.columns else \
        {r.id: r.paper_time_s for r in table.rows.values() if r.paper_time_s is not None}
    has_rt = bool(paper_rt) or any(g.runtime() for r in table.rows.values()
                                   for g in groups.get(r.id, {}).values())
    rt_head = "s/img: paper (M40) / measured (device)" if paper_rt else "measured s/img (device)"
    header = (["row"] + table.columns + list(table.metrics) + ([rt_head] if has_rt else [])
              + [f"{s} (other repro.)" for s in sources] + ["profile", "status"])
    rows, shades, notes = [], [], []
    for row in table.rows.values():
        cols, label = _row_columns(table, row, anchors), f"({row.letter}) {row.name}"
        extra = [others.cell(row.id, s) for s in sources]
        gs = sorted(groups.get(row.id, {}).values(), key=lambda g: (not g.judged, g.profile))
        for g in gs or [None]:
            if g is None:
                (cells, cell_shades, status), profile = _unrun(table, row), "-"
            else:
                mark = _judgement_note(g, row, notes)
                status, profile = _group_status(g, row, notes), g.profile
                cells, cell_shades = _metric_cells(table, row, g, tol, mark)
            rt = [_runtime_text(row, g, paper_rt)] if has_rt else []
            rows.append([label] + cols + cells + rt + extra + [profile, status])
            shades.append([None] * (1 + len(cols)) + cell_shades + [None] * (len(rt) + len(extra) + 2))
    return _table_frame(table, groups, tol, anchors, others, sources, header, rows, shades, notes)


def _table_frame(table, groups, tol, anchors, others, sources, header, rows, shades, notes) -> list:
    """The table with its heading, legend and notes."""
    intro = ("Cells: published / measured / delta (measured - published) and the verdict: within "
             f"±{tol:g} points, outside, not run, n/a, or not judged for runs that are not "
             "reproductions (a smoke profile, or a paper-profile run that its record says is "
             "not one: the note gives why). In percent; several runs show mean ±std (n).")
    if anchors:
        intro += (" #anchors: published / computed from the row's anchor generator at the "
                  "paper's 800 x 1000 input.")
    blocks = [Heading(f"{table.title} (Sec. {table.section})", 3)]
    if table.note:
        blocks.append(Para(table.note, small=True))
    blocks += [Para(intro, small=True), TableBlock(header, rows, shades)]
    unjudged = {g.profile for r in table.rows.values() for g in groups.get(r.id, {}).values()
                if not g.judged and not g.reproduction_profile}
    notes += [f"{p} profile, on every {p} number above: "
              f"{PROFILES[p].description if p in PROFILES else 'unknown profile'}"
              for p in sorted(unjudged)]
    if sources:
        notes.append("Other reproductions: " + "; ".join(
            f"{s}: {others.sources[s].get('title', s)}" for s in sources) +
            " (sources at the end of the report). Shown for context, never judged.")
    notes += deviation_footnotes(table, groups)
    if notes:
        blocks.append(Bullets(notes))
    return blocks


def render_table(table: Table, records: list[dict], tolerance: float = DEFAULT_TOLERANCE) -> str:
    """One table as markdown (no figures)."""
    groups = group_records(records, load_tables())
    return to_markdown(table_blocks(table, groups, tolerance, load_others()))
