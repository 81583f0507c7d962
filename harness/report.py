"""`harness report`: the paper's tables, claims, plots and provenance from the results store
(no re-running), written as reports/<name>.md, reports/<name>.pdf and results/results.csv.

Cells read `published / measured / delta verdict`. The verdict is `within` when |delta| <= the
tolerance (default 0.5 points, the usual COCO regression band) and `outside` otherwise, but only
for reproduction profiles: a smoke number reads `smoke (not judged)` and is labelled a pipeline
check. CocoMetric's -1 (no objects in a size bucket) is `n/a`; a row without a record is
`not run`, never a number. Unreadable records are reported by name and skipped."""
from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

from . import plots
from .aggregate import Cell, Group, get, group_records, lines as str_list
from .claims import FAILS, HOLDS, NOT_ENOUGH, ClaimResult, evaluate_all
from .doc import Bullets, FigureBlock, Heading, Para, TableBlock, to_markdown
from .errors import HarnessError
from .fidelity_notes import claim_text, claims_intro, deviation_footnotes, paper_delta_text
from .others import Others, load_others
from .profiles import PROFILES
from .rows import Table, load_tables
from .store import Store, atomic_file, write_text_atomic
from .tidy import TIDY_COLUMNS, tidy_rows, write_tidy_csv  # noqa: F401  (public API)

DEFAULT_TOLERANCE = 0.5
PAPER_GPUS, PAPER_BATCH = 8, 16
TITLE = "FPN reproduction report"
# A column only the COCO evaluation server scores (Table 4's test-dev): never a local measurement.
SERVER = "COCO server only"


# ---- cells ----------------------------------------------------------------------------------

def _num(v) -> str:
    return f"{v:.1f}"


def cell_verdict(published, cell: Cell | None, group: Group, tol: float) -> tuple[str, str | None]:
    """(verdict words, shade key)."""
    if cell is None:
        return "not run", "not_run"
    if cell.na:
        return "n/a", None
    if published is None:
        return "not published", None
    if not group.judged:
        return f"{group.profile} (not judged)", "not_judged"
    delta = cell.mean - published
    words = "within" if abs(delta) <= tol + 1e-9 else "outside"
    if cell.std is not None and abs(abs(delta) - tol) < cell.std:
        words += f" (hinges on a margin < spread ±{cell.std:.1f})"
    return words, words.split(" ")[0]


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

_ANCHORS: dict[tuple, dict[str, str]] = {}


def _anchors(table: Table) -> dict[str, str]:
    """Table 1's computed #anchors: loading the row configs takes seconds, so once a process
    per table and set of row configs."""
    from .listing import computed_anchors
    key = (table.id, tuple((r.id, r.config) for r in table.rows.values()))
    if key not in _ANCHORS:
        _ANCHORS[key] = computed_anchors(table)
    return _ANCHORS[key]


def table_blocks(table: Table, groups: dict, tol: float, others: Others | None = None) -> list:
    anchors = _anchors(table)
    metrics = list(table.metrics)
    others = others or Others({}, {}, {})
    sources = others.for_table(table.id)
    # The paper's inference times (Sec. 5.2.2 "Running time"; Table 6 has its own time column)
    paper_rt = {} if "time_s" in table.columns else \
        {r.id: r.paper_time_s for r in table.rows.values() if r.paper_time_s is not None}
    has_rt = bool(paper_rt) or any(g.runtime() for r in table.rows.values()
                                   for g in groups.get(r.id, {}).values())
    rt_head = "s/img: paper (M40) / measured (device)" if paper_rt else "measured s/img (device)"
    header = (["row"] + table.columns + metrics + ([rt_head] if has_rt else [])
              + [f"{s} (other repro.)" for s in sources] + ["profile", "status"])
    rows, shades, notes = [], [], []

    def add(row_id, label, cols, cells, cell_shades, rt, profile, status):
        extra = [others.cell(row_id, s) for s in sources]
        rows.append([label] + cols + cells + ([rt] if has_rt else []) + extra + [profile, status])
        shades.append([None] * (1 + len(cols)) + cell_shades + [None] * (int(has_rt) + len(extra) + 2))

    for row in table.rows.values():
        cols = [("yes" if v else "no") if isinstance(v, bool) else str("-" if v is None else v)
                for v in row.columns.values()]
        if anchors:  # published / computed from the row's anchor generator
            i = table.columns.index("anchors")
            cols[i] = f"{cols[i]} / {anchors.get(row.id, '-')}"
        label = f"({row.letter}) {row.name}"
        gs = sorted(groups.get(row.id, {}).values(), key=lambda g: (not g.judged, g.profile))
        if not gs:
            status = "literature" if row.literature else ("not run" if row.runnable else
                                                          "not runnable yet")
            shade = "literature" if row.literature else "not_run"
            cells = [f"{_num(row.published[m])} / "
                     f"{status if table.metrics[m] or row.literature else SERVER}"
                     if row.published[m] is not None else "-" for m in metrics]
            rt_text = f"{paper_rt[row.id]:.3f} / not run" if row.id in paper_rt else "-"
            add(row.id, label, cols, cells, [shade] * len(metrics), rt_text, "-", status)
            continue
        for g in gs:
            status = _profile_note(g.profile)
            source = g.alias_of or next((r["same_as"] for r in g.records if r.get("same_as")), None)
            if source:   # the paper's 3(c) is 2(c)'s model: same runs, not an extra replication
                status += f"; the runs of {source} (same model)"
            failed = [r for r in g.records if r.get("status") != "done"]
            lines = run_notes(g)
            if lines:
                notes.append(f"[{len(notes) + 1}] ({row.letter}) {g.profile}: " + "; ".join(lines))
                status += f"; see note [{len(notes)}]"
            if not g.done:
                reason = failed[-1].get("reason") or "failed"
                cells = [f"{_num(row.published[m])} / failed" if row.published[m] is not None
                         else "-" for m in metrics]
                add(row.id, label, cols, cells, ["failed"] * len(metrics), "-", g.profile,
                    f"failed: {reason}")
                continue
            if failed:
                status += f"; {len(failed)} of {len(g.records)} runs failed"
            merged = next((r["merged_from"] for r in g.done if r.get("merged_from")), None)
            if merged:
                status += "; one model merged from " + " + ".join(   # rpn first, as trained
                    f"{part} of {merged[part]['row']}" for part in sorted(merged, reverse=True))
            test_dev = [r["test_dev"]["result_file"] for r in g.done
                        if isinstance(r.get("test_dev"), dict)]
            if test_dev:
                status += f"; test-dev results for the COCO server: {test_dev[-1]}"
            cells, cell_shades = [], []
            for m in metrics:
                if not table.metrics[m]:
                    pub = row.published[m]
                    cells.append("-" if pub is None else f"{_num(pub)} / {SERVER}")
                    cell_shades.append(None)
                    continue
                c = g.cell(m)
                words, shade = cell_verdict(row.published[m], c, g, tol)
                cells.append(_cell_text(row.published[m], c, words))
                cell_shades.append(shade)
            rt = g.runtime()
            rt_text = "-" if rt is None else f"{rt[0]:.3f} ({rt[1]})"
            if row.id in paper_rt:   # a CPU time is for the record, never judged against an M40's
                rt_text = f"{paper_rt[row.id]:.3f} / {rt_text}"
            add(row.id, label, cols, cells, cell_shades, rt_text, g.profile, status)

    intro = ("Cells: published / measured / delta (measured - published) and the verdict: within "
             f"±{tol:g} points, outside, not run, n/a, or not judged for non-reproduction "
             "profiles. In percent; several runs show mean ±std (n).")
    if anchors:
        intro += (" #anchors: published / computed from the row's anchor generator at the "
                  "paper's 800 x 1000 input.")
    blocks = [Heading(f"{table.title} (Sec. {table.section})", 3)]
    if table.note:
        blocks.append(Para(table.note, small=True))
    blocks += [Para(intro, small=True), TableBlock(header, rows, shades)]
    unjudged = {g.profile for r in table.rows.values() for g in groups.get(r.id, {}).values()
                if not g.judged}
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


# ---- claims ---------------------------------------------------------------------------------

def _short(row_id: str) -> str:
    """table1.c -> 1(c), as the paper writes it."""
    tid, _, letter = row_id.partition(".")
    return f"{tid.removeprefix('table')}({letter})"


def claim_blocks(results: list[ClaimResult], tol: float) -> list:
    header = ["claim (the paper's words)", "Sec.", "A vs B", "metric", "paper delta",
              "measured delta", "holds if", "runs A / B", "verdict", "note"]
    rows, shades = [], []
    for r in results:
        c = r.claim
        meas = (f"{r.measured_delta:+.1f}" if r.measured_delta is not None else
                f"({r.info_delta:+.1f} smoke)" if r.info_delta is not None else "-")
        rows.append([claim_text(c), c.section, f"{_short(c.a)} vs {_short(c.b)}", c.metric,
                     paper_delta_text(c),
                     meas, r.rule, r.runs, r.verdict, r.note])
        shades.append([None] * 8 + [{HOLDS: "holds", FAILS: "fails"}.get(r.verdict, "not_enough"),
                                    None])
    intro = claims_intro(tol)
    return [Heading("Claims", 2), Para(intro, small=True),
            TableBlock(header, rows, shades, widths=[4, .5, 1.2, 1, 1, 1, 1, 1, 1, 3])]


# ---- provenance -----------------------------------------------------------------------------

def _prov_row(r: dict) -> list[str]:
    code = r.get("code") if isinstance(r.get("code"), dict) else {}
    commit = str(code.get("commit") or "unknown")[:10] + ("+dirty" if code.get("dirty") else "")
    pk = r.get("packages") if isinstance(r.get("packages"), dict) else {}
    packages = ", ".join(f"{k} {pk[k]}" for k in ("mmdet", "mmcv", "mmengine", "torch") if pk.get(k))
    env = r.get("environment") if isinstance(r.get("environment"), dict) else {}
    device = (f"{env.get('device', '?')}, {env.get('num_gpus', '?')} GPUs, world "
              f"{env.get('world_size', '?')}, {r.get('launcher', '?')}")
    ann = get(r, "data", "annotations", default={})
    fp = " / ".join(f"{k} {get(ann, k, 'sha256_16', default='?')}" for k in ("train", "test")) \
        if isinstance(ann, dict) and ann else "?"
    wall = r.get("wall_time_s")
    gpu_h = r.get("gpu_hours")
    extra = str_list(r.get("deviations"))
    if r.get("resumed"):
        extra.append(f"resumed from iteration {r.get('resumed_from_iteration', '?')}")
    if r.get("same_as"):
        extra.append(f"= {r['same_as']}'s run")
    if r.get("status") != "done":
        extra.append(f"reason: {r.get('reason')}")
    return [f"{r['row']} {r['profile']} seed {r.get('seed', 0)}", str(r.get("status")), commit,
            packages or "?", device, str(get(r, "data", "root", default="?")), fp,
            str(get(r, "config", "hash", default="?")),
            f"{r.get('iterations', '?')} x {r.get('images_per_batch', '?')}",
            "?" if not isinstance(wall, (int, float)) else f"{wall:.0f}",
            "?" if not isinstance(gpu_h, (int, float)) else f"{gpu_h:.2f}",
            "; ".join(extra) or "-"]


def runs_blocks(records: list[dict]) -> list:
    header = ["run (row profile seed)", "status", "commit", "packages", "device, GPUs, world size, "
              "launcher", "data root", "annotations sha256[:16] (train / test)", "config hash",
              "iterations x images/batch", "wall (s)", "GPU-hours", "deviations, notes"]
    recs = sorted(records, key=lambda r: (r["row"], r["profile"], str(r.get("seed", 0))))
    return [Heading("Provenance: every run", 2),
            Para("One line per record in the store. The annotation fingerprint is the first 16 hex "
                 "digits of each file's sha256; `+dirty`: the code had uncommitted changes.",
                 small=True),
            TableBlock(header, [_prov_row(r) for r in recs],
                       widths=[1.4, .6, 1, 2, 1.6, 1.6, 1.6, 1, 1, .6, .6, 2.5])]


def render_runs(records: list[dict]) -> str:
    return to_markdown(runs_blocks(records))


# ---- the whole report -------------------------------------------------------------------------

def _summary(records, groups, tables, results, tol, problems) -> list:
    by_profile = Counter((r["profile"], r.get("status")) for r in records)
    judged_runs = sum(n for (p, s), n in by_profile.items()
                      if PROFILES.get(p) and PROFILES[p].is_reproduction)
    verdicts = Counter()
    for t in tables.values():
        for row in t.rows.values():
            if row.literature:
                continue
            g = next((g for g in groups.get(row.id, {}).values() if g.judged), None)
            for m in t.local_metrics:
                if row.published[m] is None:
                    continue
                words, _ = cell_verdict(row.published[m], g.cell(m) if g else None, g, tol) \
                    if g else ("not run", None)
                verdicts[words.split(" ")[0]] += 1
    claims = Counter(r.verdict for r in results)
    runs = ", ".join(f"{n} {p} {s}" for (p, s), n in sorted(by_profile.items())) or "none"
    gpu_h = sum(r.get("gpu_hours") or 0 for r in records
                if isinstance(r.get("gpu_hours"), (int, float)) and not r.get("same_as"))
    out = [Heading(TITLE, 1),
           Para("Lin et al., *Feature Pyramid Networks for Object Detection*, CVPR 2017, against "
                "runs of this harness (MMDetection 3.3.0). Only numbers from the `paper` profile are "
                "reproductions; `smoke` numbers check the pipeline on synthetic data and are "
                "never judged against the paper.")]
    if judged_runs == 0:
        out.append(Para("**No reproduction runs yet: every measured number below comes from a "
                        "non-reproduction profile (smoke: a pipeline check). No cell and no "
                        "claim is judged on it.**"))
    out.append(Heading("At a glance", 2))
    out.append(Bullets([
        f"Claims: {claims.get(HOLDS, 0)} hold, {claims.get(FAILS, 0)} fail, "
        f"{claims.get(NOT_ENOUGH, 0)} not enough data (of {len(results)}).",
        f"Published numbers (reproduction runs): {verdicts.get('within', 0)} within ±{tol:g}, "
        f"{verdicts.get('outside', 0)} outside, {verdicts.get('not', 0)} not run, "
        f"{verdicts.get('n/a', 0)} n/a.",
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
                 tolerance: float = DEFAULT_TOLERANCE, pdf: bool = True) -> Written:
    """Markdown, PDF (+ PNG figures under reports/_figures/<name>/) and results/results.csv."""
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
    figures: list[FigureBlock] = []

    def figure(fig, key, caption) -> list:
        if fig is None:
            return []
        fb = FigureBlock(figdir / f"{key}.png", caption, fig)
        figures.append(fb)
        return [fb]

    blocks = _summary(records, groups, tables, results, tolerance, problems)
    blocks += claim_blocks(results, tolerance)
    blocks.append(Heading("The paper's tables", 2))
    for table in tables.values():
        blocks += table_blocks(table, groups, tolerance, others)
        blocks += figure(plots.table_bars(table, groups), f"bars_{table.id}",
                         f"{table.id}: published vs measured per row")
    blocks.append(Heading("Plots across tables", 2))
    blocks += figure(plots.scatter(tables, groups, tolerance), "scatter",
                     f"every (published, measured) pair, y = x and the ±{tolerance:g} band")
    for table in tables.values():
        blocks += figure(plots.sizes(table, groups), f"sizes_{table.id}",
                         f"{table.id}: by object size, pyramid variants")
    blocks += figure(plots.runtime(tables, groups), "runtime", "inference time per image, per row")
    if not figures:
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

    for fb in figures:
        _save_png(fb.figure, fb.path)
    keep = {fb.path.name for fb in figures}
    for old in figdir.glob("*.png") if figdir.is_dir() else []:
        if old.name not in keep:   # a plot this store no longer has
            old.unlink()
    text = to_markdown(blocks, base=reports_dir)
    path = reports_dir / f"{name}.md"
    write_text_atomic(path, text)
    pdf_path = None
    if pdf:
        from .pdf import write_pdf
        pdf_path = write_pdf(blocks, reports_dir / f"{name}.pdf", f"{TITLE} ({name})")
    csv_path = store.root / "results.csv"
    write_tidy_csv(scanned, csv_path, tolerance)
    return Written(text, path, problems, pdf_path, csv_path, [fb.path for fb in figures])
