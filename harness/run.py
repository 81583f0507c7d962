"""Run rows: validate inputs, resolve the config, launch the worker, write the record.

Everything that can be checked before training is checked first, so bad input costs seconds and
leaves no record behind."""
from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import provenance
from .configs import config_hash, resolve_config
from .data.validate import annotation_fingerprint, check_data_root
from .errors import HarnessError
from .paths import ROOT, synthetic_data_dir
from .profiles import Profile
from .rows import Row, load_tables
from .store import RECORD_SCHEMA, Store


@dataclass
class RunOptions:
    profile: Profile
    data_root: Path | None = None
    force: bool = False
    seed: int = 0
    pretrained: str | None = None
    cfg_options: dict = field(default_factory=dict)


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def prepare_data_root(profile: Profile, data_root: Path | None, log=print) -> Path:
    """The data a run uses: the user's, or the embedded synthetic set (made on first use)."""
    if data_root is None:
        if profile.needs_data_root:
            raise HarnessError(
                f"the {profile.name} profile needs COCO 2017: pass --data-root PATH (a folder with "
                "annotations/instances_{train,val}2017.json, train2017/ and val2017/)")
        from .data.synth import make_synthetic
        data_root = synthetic_data_dir()
        if not (data_root / "SYNTH.json").exists():
            log(f"making the synthetic data set in {data_root}")
        make_synthetic(data_root)
    data_root = Path(data_root).expanduser().resolve()
    check_data_root(data_root, known_classes=coco_classes())
    return data_root


def coco_classes() -> tuple[str, ...]:
    from mmdet.datasets import CocoDataset
    return tuple(CocoDataset.METAINFO["classes"])


# MMEngine's log lines: "Iter(train) [ 5/8]  ... eta: 0:00:12 ... loss: 1.2345 ..."
_ITER = re.compile(r"Iter\((train|test)\)\s*\[\s*(\d+)/(\d+)\]")
_ETA = re.compile(r"eta: (\S+)")
_LOSS = re.compile(r"\bloss: (\S+)")


def _launch(cmd: list[str], log_path: Path, label: str, env: dict, log=print) -> int:
    """Run the worker with its output in log_path; show one progress line per step change
    (at most every 5 s for long runs)."""
    last_shown, last_key = 0.0, None
    with open(log_path, "w", encoding="utf-8") as logf:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=env, cwd=log_path.parent, bufsize=1)
        assert proc.stdout is not None
        for line in proc.stdout:
            logf.write(line)
            m = _ITER.search(line)
            if not m:
                continue
            phase, i, n = m.group(1), int(m.group(2)), int(m.group(3))
            key = (phase, i)
            t = time.monotonic()
            if key != last_key and (t - last_shown >= 5 or i == n or phase == "test" and i == 1):
                eta = _ETA.search(line)
                loss = _LOSS.search(line)
                extra = (f", loss {loss.group(1)}" if loss else "") + \
                        (f", ETA {eta.group(1)}" if eta else "")
                log(f"  {label} {phase} {i}/{n}{extra}")
                last_shown, last_key = t, key
        return proc.wait()


def _archive(run_dir: Path, store: Store) -> None:
    """--force keeps the previous run (record, config, logs) under results/archive/."""
    if not run_dir.exists():
        return
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    dest = store.root / "archive" / run_dir.relative_to(store.root / "runs")
    dest = dest.with_name(f"{dest.name}-{stamp}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(run_dir), str(dest))


def _annotation_files(cfg) -> dict:
    files = {}
    for split, loader in (("train", cfg.get("train_dataloader")), ("test", cfg.get("test_dataloader"))):
        if loader is None:
            continue
        ds = loader.dataset
        path = Path(ds.data_root) / ds.ann_file
        files[split] = {"path": str(path), "sha256_16": annotation_fingerprint(path)}
    return files


def run_row(row: Row, opts: RunOptions, store: Store, data_root: Path, log=print) -> dict:
    """Run one row end to end and return its record (an existing one if already done)."""
    profile = opts.profile
    run_dir = store.run_dir(row.id, profile.name, opts.seed)
    resolved = resolve_config(row, profile, data_root, run_dir / "work", seed=opts.seed,
                              pretrained=opts.pretrained)
    cfg = resolved.cfg
    if opts.cfg_options:
        cfg.merge_from_dict(opts.cfg_options)
    chash = config_hash(cfg)
    existing = store.get(row.id, profile.name, opts.seed)
    if existing and existing.get("status") == "done" and not opts.force:
        where = store.record_path(row.id, profile.name, opts.seed)
        old = existing.get("config", {}).get("hash")
        if old == chash:
            log(f"{row.id} [{profile.name}]: already done ({where}); use --force to run it again")
        else:
            log(f"{row.id} [{profile.name}]: a record from a different config exists (hash {old}, "
                f"now {chash}: {where}); kept it; use --force to replace it")
        return existing
    _archive(run_dir, store)
    run_dir.mkdir(parents=True)
    cfg.dump(str(run_dir / "config.py"))
    table = load_tables()[row.table]

    env = dict(os.environ, TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1", PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "harness.worker", str(run_dir)]
    label = f"{row.id} [{profile.name}]"
    log(f"{label}: training and testing ({row.name}); log: {run_dir / 'worker.log'}")
    started, t0 = now(), time.time()
    rc = _launch(cmd, run_dir / "worker.log", label, env, log)
    wall = time.time() - t0

    outcome_path = run_dir / "outcome.json"
    import json
    try:
        outcome = json.loads(outcome_path.read_text())
    except (OSError, ValueError):
        outcome = {"status": "failed",
                   "reason": f"worker exited with code {rc} without an outcome (killed?)"}
    if rc != 0 and outcome.get("status") == "done":
        outcome = {"status": "failed", "reason": f"worker exited with code {rc}"}

    raw = outcome.get("metrics", {})
    metrics, na = {}, []
    if outcome["status"] == "done":
        for col, key in table.metrics.items():
            if key not in raw:
                outcome = {"status": "failed",
                           "reason": f"the evaluator reported no '{key}' (got {sorted(raw)})"}
                metrics = {}
                break
            value = raw[key]
            # CocoMetric reports -1 for a size bucket with no objects: undefined, not a number.
            if value < 0:
                metrics[col] = None
                na.append(col)
            else:
                metrics[col] = round(100.0 * value, 4)
    env_info = outcome.get("environment", {})
    world = env_info.get("world_size", 1)
    record = {
        "schema": RECORD_SCHEMA,
        "row": row.id,
        "table": row.table,
        "row_name": row.name,
        "profile": profile.name,
        "is_reproduction": profile.is_reproduction,
        "seed": opts.seed,
        "status": outcome["status"],
        "reason": outcome.get("reason"),
        "metrics": metrics,
        "metrics_na": na,
        "raw_metrics": raw,
        "metric_source": "MMDetection CocoMetric (pycocotools COCOeval)",
        "config": {
            "row_config": str(row.config_path.relative_to(ROOT)),
            "resolved": str(run_dir / "config.py"),
            "hash": chash,
        },
        "schedule": resolved.schedule.as_dict() if resolved.schedule else None,
        "cfg_options": {k: repr(v) for k, v in opts.cfg_options.items()},
        "iterations": outcome.get("iterations"),
        "images_per_batch": int(cfg.train_dataloader.batch_size) * int(world),
        "data": {"root": str(data_root), "annotations": _annotation_files(cfg)},
        "code": provenance.git_state(),
        "packages": provenance.package_versions(),
        "host": provenance.host(),
        "environment": env_info,
        "launcher": "local",
        "work_dir": str(run_dir / "work"),
        "started_at": started,
        "finished_at": now(),
        "wall_time_s": round(wall, 2),
        "gpu_hours": round(wall * env_info.get("num_gpus", 0) / 3600, 4),
    }
    store.write(record)
    return record
