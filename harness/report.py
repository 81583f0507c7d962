"""`harness report`: published vs measured, per table, from the results store (no re-running).

Cells read `published / measured / delta`. A smoke-profile number is shown for completeness and
labelled as a pipeline check: it is never called a reproduction. CocoMetric's -1 (no objects in a
size bucket) is `n/a`; a row without a record is `not run`."""
from __future__ import annotations

import csv
import io
import statistics
from collections import defaultdict
from pathlib import Path

from .profiles import PROFILES
from .rows import Table, load_tables
from .store import Store, write_text_atomic

TIDY_COLUMNS = ["row", "table", "profile", "seed", "status", "metric", "published", "measured",
                "delta", "config_hash", "git_commit", "device", "num_gpus", "images_per_batch",
                "iterations", "wall_time_s", "data_root", "finished_at"]


def _num(v) -> str:
    return f"{v:.1f}"


def _delta(v) -> str:
    return f"{v:+.1f}"


def _cell(published, values: list[float | None], na: bool) -> str:
    pub = "-" if published is None else _num(published)
    if na:
        return f"{pub} / n/a"
    vals = [v for v in values if v is not None]
    if not vals:
        return f"{pub} / n/a"
    mean = statistics.fmean(vals)
    meas = _num(mean) + (f" ±{statistics.stdev(vals):.1f} (n={len(vals)})" if len(vals) > 1 else "")
    if published is None:
        return f"{pub} / {meas}"
    return f"{pub} / {meas} / {_delta(mean - published)}"


def _profile_note(profile: str) -> str:
    p = PROFILES.get(profile)
    if p is None:
        return f"profile '{profile}'"
    return "as published (reproduction)" if p.is_reproduction else \
        f"{profile}: pipeline check, not a reproduction"


def render_table(table: Table, records: list[dict]) -> str:
    by_row: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for rec in records:
        if rec.get("table") == table.id:
            by_row[(rec["row"], rec["profile"])].append(rec)
    metrics = list(table.metrics)
    from .listing import computed_anchors
    anchors = computed_anchors(table)
    lines = [f"### {table.title} (Sec. {table.section})", ""]
    if table.note:
        lines += [table.note, ""]
    lines += ["Cells: published / measured / delta (measured - published), in percent." +
              (" #anchors: published / computed from the row's anchor generator at the paper's "
               "800 x 1000 input." if anchors else ""), ""]
    lines.append("| row | " + " | ".join(table.columns + metrics) + " | profile | status |")
    lines.append("|" + "---|" * (len(table.columns) + len(metrics) + 3))
    for row in table.rows.values():
        cols = [("yes" if v else "no") if isinstance(v, bool) else str(v or "-")
                for v in row.columns.values()]
        if anchors:  # published / computed from the row's anchor generator
            i = table.columns.index("anchors")
            cols[i] = f"{cols[i]} / {anchors.get(row.id, '-')}"
        label = f"({row.letter}) {row.name}"
        groups = {p: recs for (rid, p), recs in by_row.items() if rid == row.id}
        if not groups:
            status = "literature" if row.literature else ("not run" if row.runnable else
                                                          "not runnable yet")
            cells = [f"{_num(row.published[m])} / {status}" if row.published[m] is not None
                     else "-" for m in metrics]
            lines.append(f"| {label} | " + " | ".join(cols + cells) + f" | - | {status} |")
            continue
        for profile, recs in sorted(groups.items()):
            done = [r for r in recs if r["status"] == "done"]
            if not done:
                reason = recs[-1].get("reason") or "failed"
                cells = [f"{_num(row.published[m])} / failed" for m in metrics]
                lines.append(f"| {label} | " + " | ".join(cols + cells) +
                             f" | {profile} | failed: {reason} |")
                continue
            cells = []
            for m in metrics:
                na = all(m in r.get("metrics_na", []) for r in done)
                cells.append(_cell(row.published[m], [r["metrics"].get(m) for r in done], na))
            lines.append(f"| {label} | " + " | ".join(cols + cells) +
                         f" | {profile} | {_profile_note(profile)} |")
    return "\n".join(lines)


def render_runs(records: list[dict]) -> str:
    lines = ["### Runs", "",
             "| row | profile | seed | status | device | images/batch | iterations | wall (s) | "
             "commit | config hash | data root |", "|" + "---|" * 11]
    for r in sorted(records, key=lambda r: (r["row"], r["profile"], r.get("seed", 0))):
        env = r.get("environment", {})
        commit = (r.get("code", {}).get("commit") or "unknown")[:10] + \
            ("+dirty" if r.get("code", {}).get("dirty") else "")
        lines.append(f"| {r['row']} | {r['profile']} | {r.get('seed', 0)} | {r['status']} | "
                     f"{env.get('device', '?')} | {r.get('images_per_batch', '?')} | "
                     f"{r.get('iterations', '?')} | {r.get('wall_time_s', '?')} | {commit} | "
                     f"{r.get('config', {}).get('hash', '?')} | {r.get('data', {}).get('root', '?')} |")
    return "\n".join(lines)


def tidy_rows(records: list[dict]) -> list[dict]:
    """One row per run x metric: what pandas reads without cleaning."""
    tables = load_tables()
    out = []
    for r in records:
        table = tables.get(r.get("table"))
        if table is None:
            continue
        row = table.rows.get(r["row"].split(".", 1)[1])
        for m in table.metrics:
            pub = row.published.get(m) if row else None
            meas = r["metrics"].get(m) if r["status"] == "done" else None
            out.append({
                "row": r["row"], "table": r["table"], "profile": r["profile"],
                "seed": r.get("seed", 0), "status": r["status"], "metric": m,
                "published": pub, "measured": meas,
                "delta": None if pub is None or meas is None else meas - pub,
                "config_hash": r.get("config", {}).get("hash"),
                "git_commit": r.get("code", {}).get("commit"),
                "device": r.get("environment", {}).get("device"),
                "num_gpus": r.get("environment", {}).get("num_gpus"),
                "images_per_batch": r.get("images_per_batch"),
                "iterations": r.get("iterations"), "wall_time_s": r.get("wall_time_s"),
                "data_root": r.get("data", {}).get("root"), "finished_at": r.get("finished_at"),
            })
    return out


def write_tidy_csv(records: list[dict], path: Path) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=TIDY_COLUMNS, lineterminator="\n")
    w.writeheader()
    for row in tidy_rows(records):
        w.writerow({k: "" if v is None else v for k, v in row.items()})
    write_text_atomic(path, buf.getvalue())


def write_report(store: Store, reports_dir: Path, name: str) -> tuple[str, Path, list[str]]:
    records, bad = store.scan()
    problems = [f"skipped unreadable record {b.path}: {b.reason}" for b in bad]
    tables = load_tables()
    parts = ["# FPN reproduction report", "",
             "Lin et al., *Feature Pyramid Networks for Object Detection*, CVPR 2017, against "
             "runs of this harness. Only numbers from the `paper` profile are reproductions; "
             "`smoke` numbers check the pipeline on synthetic data and are not comparable.", ""]
    for table in tables.values():
        parts += [render_table(table, records), ""]
    parts += [render_runs(records), ""]
    if problems:
        parts += ["### Skipped records", ""] + [f"- {p}" for p in problems] + [""]
    text = "\n".join(parts)
    path = Path(reports_dir) / f"{name}.md"
    write_text_atomic(path, text)
    write_tidy_csv(records, store.root / "results.csv")
    return text, path, problems
