"""Run rows: validate inputs, resolve the config, launch the worker, write the record.

Everything that can be checked before training is checked first, so bad input costs seconds and
leaves no record behind."""
from __future__ import annotations

import datetime as dt
import json
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
from .proposals import ProposalState, check, dump, file_sha256
from .rows import Row, get_row, load_tables
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


def _launch(cmd: list[str], log_path: Path, label: str, log=print) -> int:
    """Run the worker with its output in log_path; show one progress line per step change
    (at most every 5 s for long runs)."""
    env = dict(os.environ, TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1", PYTHONUNBUFFERED="1")
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


def _same_run(rec: dict, chash: str, annotations: dict) -> bool:
    fingerprints = {k: v["sha256_16"] for k, v in rec.get("data", {}).get("annotations", {}).items()}
    return rec.get("config", {}).get("hash") == chash and \
        fingerprints == {k: v["sha256_16"] for k, v in annotations.items()}


def _read_outcome(run_dir: Path, rc: int) -> dict:
    try:
        outcome = json.loads((run_dir / "outcome.json").read_text())
    except (OSError, ValueError):
        return {"status": "failed", "reason": f"worker exited with code {rc} without an outcome (killed?)"}
    if rc != 0 and outcome.get("status") == "done":
        return {"status": "failed", "reason": f"worker exited with code {rc}"}
    return outcome


def _paper_metrics(table, raw: dict) -> tuple[dict, list, str | None]:
    """The table's columns in percent; CocoMetric's -1 (no objects of a size) becomes None."""
    metrics, na = {}, []
    for col, key in table.metrics.items():
        if key not in raw:
            return {}, [], f"the evaluator reported no '{key}' (got {sorted(raw)})"
        if raw[key] < 0:
            metrics[col] = None
            na.append(col)
        else:
            metrics[col] = round(100.0 * raw[key], 4)
    return metrics, na, None


def _checkpoint(work_dir: Path) -> str | None:
    try:
        path = (work_dir / "last_checkpoint").read_text().strip()
    except OSError:
        return None
    return path if Path(path).exists() else None


def run_row(row: Row, opts: RunOptions, store: Store, data_root: Path, log=print,
            proposals: ProposalState | None = None) -> dict:
    """Run one row end to end and return its record (an existing one if already done)."""
    profile = opts.profile
    run_dir = store.run_dir(row.id, profile.name, opts.seed)
    resolved = resolve_config(row, profile, data_root, run_dir / "work", seed=opts.seed,
                              pretrained=opts.pretrained)
    cfg = resolved.cfg
    if proposals is not None:
        cfg.train_dataloader.dataset.proposal_file = proposals.files["train2017"]
        cfg.test_dataloader.dataset.proposal_file = proposals.files["val2017"]
        # In the config (and so in its hash): a detector on other proposals is another run.
        cfg.proposals_checkpoint_sha256 = proposals.checkpoint_sha256
    if opts.cfg_options:
        cfg.merge_from_dict(opts.cfg_options)
    chash = config_hash(cfg)
    annotations = _annotation_files(cfg)
    existing = store.get(row.id, profile.name, opts.seed)
    if existing and existing.get("status") == "done" and not opts.force:
        where = store.record_path(row.id, profile.name, opts.seed)
        if _same_run(existing, chash, annotations):
            log(f"{row.id} [{profile.name}]: already done ({where}); use --force to run it again")
        else:
            log(f"{row.id} [{profile.name}]: kept a record made with another config, data or "
                f"proposals ({where}); use --force to replace it")
        return existing
    _archive(run_dir, store)
    run_dir.mkdir(parents=True)
    cfg.dump(str(run_dir / "config.py"))
    table = load_tables()[row.table]

    label = f"{row.id} [{profile.name}]"
    log(f"{label}: training and testing ({row.name}); log: {run_dir / 'worker.log'}")
    started, t0 = now(), time.time()
    rc = _launch([sys.executable, "-m", "harness.worker", str(run_dir)], run_dir / "worker.log",
                 label, log)
    wall = time.time() - t0

    outcome = _read_outcome(run_dir, rc)
    raw = outcome.get("metrics", {})
    metrics, na = {}, []
    if outcome["status"] == "done":
        metrics, na, problem = _paper_metrics(table, raw)
        if problem:
            outcome = {"status": "failed", "reason": problem}
    ckpt = _checkpoint(run_dir / "work") if outcome["status"] == "done" else None
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
        "proposals": None if proposals is None else {
            "producer": row.proposals_from, "checkpoint_sha256": proposals.checkpoint_sha256,
            "files": proposals.files},
        "iterations": outcome.get("iterations"),
        "images_per_batch": int(cfg.train_dataloader.batch_size) * int(world),
        "checkpoint": ckpt,
        "checkpoint_sha256": file_sha256(Path(ckpt)) if ckpt else None,
        "data": {"root": str(data_root), "annotations": annotations},
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


# --- dependencies -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    row: Row
    requested: bool     # asked for by the user (vs. pulled in as a dependency)


def plan(rows: list[Row]) -> list[Step]:
    """Rows in an order where every producer (RPN for proposals, same_as source) comes first."""
    out: list[Step] = []
    seen: dict[str, int] = {}

    def visit(row: Row, requested: bool, chain: tuple[str, ...]) -> None:
        if row.id in chain:
            raise HarnessError(f"published.yaml has a dependency cycle: {' -> '.join(chain + (row.id,))}")
        for dep in (row.proposals_from, row.same_as):
            if dep:
                visit(get_row(dep), False, chain + (row.id,))
        if row.id in seen:
            if requested:
                out[seen[row.id]] = Step(row, True)
            return
        seen[row.id] = len(out)
        out.append(Step(row, requested))

    for r in rows:
        visit(r, True, ())
    return out


def _blocked(row: Row, profile: str, reason: str) -> dict:
    """Not a record (nothing is written): what a row that could not start reports."""
    return {"row": row.id, "table": row.table, "profile": profile, "status": "blocked",
            "reason": reason, "metrics": {}}


def _alias(row: Row, source: dict, store: Store) -> dict:
    """A row whose run is another row's (the paper's 3(c) is 2(c)): same numbers, its own record."""
    rec = {k: v for k, v in source.items() if not k.startswith("_")}
    rec.update(row=row.id, table=row.table, row_name=row.name, same_as=source["row"],
               same_as_record=str(store.record_path(source["row"], source["profile"],
                                                    source.get("seed", 0))))
    table = load_tables()[row.table]
    if source["status"] == "done":
        rec["metrics"], rec["metrics_na"], problem = _paper_metrics(table, source["raw_metrics"])
        if problem:
            rec.update(status="failed", reason=problem, metrics={})
    store.write(rec)
    return rec


def execute(rows: list[Row], opts: RunOptions, store: Store, data_root: Path, log=print) -> list[dict]:
    """Run rows with their dependencies; one result per step (a record, or a blocked notice)."""
    steps = plan(rows)
    results: dict[str, dict] = {}
    t0 = time.monotonic()
    profile = opts.profile.name
    for i, step in enumerate(steps, 1):
        row = step.row
        elapsed = time.monotonic() - t0
        eta = f", ETA {elapsed / (i - 1) * (len(steps) - i + 1):.0f} s" if i > 1 else ""
        why = "" if step.requested else " (dependency)"
        log(f"[{i}/{len(steps)}] {row.id} ({row.name}){why}, profile {profile}; "
            f"{i - 1}/{len(steps)} steps done{eta}")
        dep = row.same_as or row.proposals_from
        if dep and results.get(dep, {}).get("status") != "done":
            prior = results.get(dep) or store.get(dep, profile, opts.seed) or {}
            reason = prior.get("reason") or "it did not finish"
            results[row.id] = _blocked(row, profile, f"needs {dep}, which failed: {reason}")
            continue
        if row.same_as:
            results[row.id] = _alias(row, results[row.same_as], store)
            continue
        proposals = None
        if row.proposals_from:
            proposals = check(store, row.proposals_from, profile, opts.seed, data_root)
            if proposals.status != "fresh":
                log(f"  proposals of {row.proposals_from}: {proposals.status} ({proposals.reason})")
                try:
                    proposals = dump(store, row.proposals_from, profile, opts.seed, data_root,
                                     lambda cmd, path, label: _launch(cmd, path, label, log), log)
                except HarnessError as exc:
                    results[row.id] = _blocked(row, profile, str(exc))
                    continue
        results[row.id] = run_row(row, opts, store, data_root, log, proposals)
    return [results[s.row.id] for s in steps]
