"""results/results.csv: one row per run x paper metric with the run's parameters and provenance,
readable by pandas.read_csv as is (plain header, empty cells for missing values, one value
per cell). Per-run verdicts use the same rule as the report's cells."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from harness.report.aggregate import get, lines
from harness.config.profiles import PROFILES
from harness.paper.rows import load_tables
from harness.store.records import write_text_atomic

TIDY_COLUMNS = [
    "row", "table", "row_name", "profile", "is_reproduction", "seed", "status", "reason",
    "metric", "published", "measured", "delta", "verdict", "tolerance", "same_as",
    "config_hash", "git_commit", "git_dirty", "mmdet", "mmcv", "mmengine", "torch",
    "device", "num_gpus", "world_size", "launcher", "images_per_batch", "iterations", "resumed",
    "deviations", "seconds_per_image", "wall_time_s", "gpu_hours", "data_root",
    "ann_train_sha256_16", "ann_test_sha256_16", "started_at", "finished_at"]


def _judged(r: dict) -> bool:
    p = PROFILES.get(r.get("profile"))
    return bool(p and p.is_reproduction and r.get("is_reproduction", True) is not False)


def _verdict(r, metric, pub, meas, tol) -> str:
    if r.get("status") != "done":
        return "failed"
    if meas is None:
        return "n/a"
    if pub is None:
        return "not published"
    if not _judged(r):
        return "not judged"
    return "within" if abs(meas - pub) <= tol + 1e-9 else "outside"


def tidy_rows(records: list[dict], tolerance: float = 0.5) -> list[dict]:
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
            "is_reproduction": _judged(r), "seed": r.get("seed", 0), "status": r.get("status"),
            "reason": r.get("reason"), "tolerance": tolerance, "same_as": r.get("same_as"),
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
            out.append(dict(base, metric=m, published=pub, measured=meas,
                            delta=None if pub is None or meas is None else round(meas - pub, 6),
                            verdict=_verdict(r, m, pub, meas, tolerance)))
    return out


def write_tidy_csv(records: list[dict], path: Path, tolerance: float = 0.5) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=TIDY_COLUMNS, lineterminator="\n")
    w.writeheader()
    for row in tidy_rows(records, tolerance):
        w.writerow({k: "" if row[k] is None else row[k] for k in TIDY_COLUMNS})
    write_text_atomic(path, buf.getvalue())
