"""results/results.csv: one row per run x paper metric with the run's parameters and provenance,
readable by pandas.read_csv as is (plain header, empty cells for missing values, one value
per cell). Per-run verdicts use the same rule as the report's cells."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from harness.report.aggregate import get, lines
from harness.paper.constants import DEFAULT_TOLERANCE
from harness.report.verdict import Verdict, judge, may_judge, reasons, tolerance_for
from harness.paper.rows import load_tables
from harness.store import write_text_atomic

TIDY_COLUMNS = [
    "row", "table", "row_name", "profile", "is_reproduction", "seed", "status", "reason",
    "metric", "published", "measured", "delta", "verdict", "tolerance", "same_as",
    "config_hash", "git_commit", "git_dirty", "mmdet", "mmcv", "mmengine", "torch",
    "device", "num_gpus", "world_size", "launcher", "images_per_batch", "iterations", "resumed",
    "deviations", "seconds_per_image", "wall_time_s", "gpu_hours", "data_root",
    "ann_train_sha256_16", "ann_test_sha256_16", "started_at", "finished_at",
    "judged", "reproduction_reasons"]


def _verdict(r, pub, meas, tol) -> Verdict:
    if r.get("status") != "done":
        return Verdict.FAILED
    if meas is None:
        return Verdict.NA
    if pub is None:
        return Verdict.NOT_PUBLISHED
    if not may_judge([r]):
        return Verdict.NOT_JUDGED
    return judge(pub, meas, tol)


def tidy_rows(records: list[dict], tolerance: float = DEFAULT_TOLERANCE) -> list[dict]:
    tables = load_tables()
    out = []
    for r in records:
        tid, _, letter = r["row"].partition(".")
        table = tables.get(tid)
        if table is None or (letter not in table.rows and letter not in table.steps):
            continue
        row = table.rows.get(letter) or table.steps[letter]
        rt = r.get("runtime") if isinstance(r.get("runtime"), dict) else {}
        base = {
            "row": r["row"], "table": tid, "row_name": row.name, "profile": r["profile"],
            # judged: may enter verdicts; a reproduction: judged with no reason against it
            "is_reproduction": may_judge([r]) and not reasons(r), "judged": may_judge([r]),
            "reproduction_reasons": "; ".join(x["text"] for x in reasons(r)), "seed": r.get("seed", 0), "status": r.get("status"),
            "reason": r.get("reason"), "same_as": r.get("same_as"),
            "config_hash": get(r, "config", "hash"), "git_commit": get(r, "code", "commit"),
            "git_dirty": get(r, "code", "dirty"),
            **{k: get(r, "packages", k) for k in ("mmdet", "mmcv", "mmengine", "torch")},
            "device": get(r, "environment", "device"),
            "num_gpus": get(r, "environment", "num_gpus"),
            "world_size": get(r, "environment", "world_size"), "launcher": r.get("launcher"),
            "images_per_batch": r.get("images_per_batch"), "iterations": r.get("iterations"),
            "resumed": bool(r.get("resumed", False)),
            "deviations": "; ".join(lines(r.get("deviations"))),
            "seconds_per_image": rt.get("seconds_per_image"),
            "wall_time_s": r.get("wall_time_s"), "gpu_hours": r.get("gpu_hours"),
            "data_root": get(r, "data", "root"),
            "ann_train_sha256_16": get(r, "data", "annotations", "train", "sha256_16"),
            "ann_test_sha256_16": get(r, "data", "annotations", "test", "sha256_16"),
            "started_at": r.get("started_at"), "finished_at": r.get("finished_at"),
        }
        # A step row (4-step training) has no paper column: every metric it measured, unjudged.
        for m in sorted(r.get("metrics") or {}) if row.step else table.local_metrics:
            pub = row.published.get(m)
            meas = get(r, "metrics", m) if r.get("status") == "done" and \
                m not in (r.get("metrics_na") or []) else None
            meas = meas if isinstance(meas, (int, float)) else None
            tol = tolerance_for(table, row, m, tolerance)
            out.append(dict(base, metric=m, published=pub, measured=meas, tolerance=tol,
                            delta=None if pub is None or meas is None else round(meas - pub, 6),
                            verdict=str(_verdict(r, pub, meas, tol))))
    return out


def write_tidy_csv(records: list[dict], path: Path, tolerance: float = DEFAULT_TOLERANCE) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=TIDY_COLUMNS, lineterminator="\n")
    w.writeheader()
    for row in tidy_rows(records, tolerance):
        w.writerow({k: "" if row[k] is None else row[k] for k in TIDY_COLUMNS})
    write_text_atomic(path, buf.getvalue())
