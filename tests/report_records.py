"""Records shaped like the ones `harness run` writes, for the report tests (no training)."""
from __future__ import annotations

from harness.paper.rows import load_tables
from harness.store import Record


def published(row_id: str) -> dict:
    tid, _, letter = row_id.partition(".")
    return dict(load_tables()[tid].rows[letter].published)


def full_record(row_id: str, profile: str = "smoke", seed: int = 0, metrics: dict | None = None,
                **extra) -> dict:
    """A done record; metrics default to the row's published numbers (a perfect reproduction).
    Like a real record it holds only the columns a run measures: never Table 4's test-dev
    columns, which the COCO server scores (sweep._paper_metrics skips them)."""
    tid = row_id.split(".")[0]
    table = load_tables()[tid]
    metrics = published(row_id) if metrics is None else metrics
    paper = profile == "paper"
    fields = {
        "row": row_id, "table": tid,
        "row_name": table.rows[row_id.split(".")[1]].name, "profile": profile,
        "is_reproduction": paper, "seed": seed, "status": "done", "reason": None,
        "metrics": {m: metrics.get(m) for m in table.local_metrics}, "metrics_na": [],
        "raw_metrics": {}, "config": {"row_config": f"paper_configs/{tid}/x.py",
                                      "resolved": "/tmp/x/config.py", "hash": "0123456789abcdef"},
        "schedule": None, "cfg_options": {}, "proposals": None,
        "iterations": 40000 if paper else 8, "images_per_batch": 16 if paper else 2,
        "checkpoint": None,
        "data": {"root": "/data/coco" if paper else "/work/main/data/synth",
                 "annotations": {"train": {"path": "a/train.json", "sha256_16": "432e3f93646ac411"},
                                 "test": {"path": "a/val.json", "sha256_16": "bfc32e80e2bb9684"}}},
        "code": {"commit": "f3ef52f75f72c4e8e775682059bb2159984fee18", "dirty": False},
        "packages": {"mmdet": "3.3.0", "mmcv": "2.1.0", "mmengine": "0.10.7", "torch": "2.14.1"},
        "host": {"hostname": "vm"},
        "environment": {"device": "cuda" if paper else "cpu", "num_gpus": 8 if paper else 0,
                        "world_size": 8 if paper else 1},
        "launcher": "torchrun" if paper else "local", "work_dir": "/tmp/x/work",
        "started_at": "2026-11-25T22:20:47+00:00", "finished_at": "2026-11-25T22:21:04+00:00",
        "wall_time_s": 28800.0 if paper else 17.0, "gpu_hours": 64.0 if paper else 0.0,
    }
    return Record(**{**fields, **extra}).to_dict()   # the schema's one definition


def smoke_store_records() -> list[dict]:
    """Smoke runs of Tables 1, 2, 3 and 6 (3(c) as the alias of 2(c)), numbers like a real
    8-iteration CPU sweep: low AR, zero AP, Table 6 with its inference time."""
    out = []
    for i, letter in enumerate("abcdef"):
        out.append(full_record(f"table1.{letter}", metrics={
            "AR@100": 2.0 + i, "AR@1k": 8.0 + 2 * i, "AR_s@1k": 1.0 * i, "AR_m@1k": 10.0 + i,
            "AR_l@1k": 30.0 - 3 * i}))
        out.append(full_record(f"table2.{letter}", metrics={m: 0.0 for m in published("table2.a")}))
    for letter in "ab":
        out.append(full_record(f"table3.{letter}", metrics={m: 0.0 for m in published("table3.a")}))
    out.append(full_record("table3.c", metrics={m: 0.0 for m in published("table3.a")},
                           same_as="table2.c"))
    for i, letter in enumerate("abcde"):
        out.append(full_record(f"table6.{letter}", metrics={m: 0.1 * i for m in published("table6.a")},
                               deviations=[], resumed=False,
                               runtime={"seconds_per_image": 0.27 + 0.05 * i, "batch_size": 1,
                                        "device": "cpu", "with_data_loading": True}))
    return out
