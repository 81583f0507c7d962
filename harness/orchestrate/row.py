"""One row, end to end: resolve its config, resume or start over, launch the worker, and turn
the worker's outcome into the run's record (harness/orchestrate/finalize.py, which also
finalises a SLURM job that ended without its record).

Holds the row's lock throughout, so a second sweep that reaches the row waits, then finds the
record. A finished row is never run again unless --force (which archives the old run)."""
from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from harness.config.resolve import config_hash, harness_keys, resolve_config
from harness.data.validate import annotation_fingerprint
from harness.orchestrate.four_step import merge_checkpoints, producer_checkpoint
from harness.orchestrate.finalize import Attempt, finalize
from harness.orchestrate.launch import command
from harness.orchestrate.locks import row_lock
from harness.orchestrate.options import RunOptions, now
from harness.orchestrate.progress import launch_and_follow
from harness.data.coco import TEST_DEV
from harness.orchestrate.proposals import ProposalState, file_sha256
from harness.paper.rows import Row, load_tables, paper_metrics
from harness.paths import ROOT
from harness.store import Record, RunDir, Store, WorkerOutcome, atomic_file
from harness.store import provenance


def run_row(row: Row, opts: RunOptions, store: Store, data_root: Path, log=print,
            proposals: ProposalState | None = None) -> dict:
    """Run one row and return its record (an existing one if already done)."""
    with row_lock(store.root, row.id, opts.profile.name, opts.seed, log):
        return _run_row_locked(row, opts, store, data_root, log, proposals)


def _run_row_locked(row, opts, store, data_root, log, proposals) -> dict:
    profile, launch = opts.profile, opts.launch
    run = store.run(row.id, profile.name, opts.seed)
    resolved = resolve_config(row, profile, data_root, run.work, seed=opts.seed,
                              pretrained=opts.pretrained, processes=launch.processes)
    cfg = resolved.cfg
    sources = _wire_dependencies(cfg, row, opts, store, run, proposals)
    if opts.cfg_options:
        cfg.merge_from_dict(opts.cfg_options)
    chash = config_hash(cfg)
    annotations = _annotation_files(cfg)
    existing = store.get(row.id, profile.name, opts.seed)
    if existing and existing.get("status") == "done" and not opts.force:
        same = _same_run(existing, chash, annotations)
        log(f"{row.id} [{profile.name}]: " + (
            f"already done ({run.record}); use --force to run it again" if same else
            f"kept a record made with another config, data or proposals ({run.record}); use "
            "--force to replace it"))
        return existing
    resume = not opts.force and _resumable(run, chash, existing)
    if not resume:
        archive_run(run, store, keep_slurm=launch.inside_job)
        run.path.mkdir(parents=True, exist_ok=True)
        if sources:
            log(f"{row.id} [{profile.name}]: merging {', '.join(f'{p} of {r}' for p, r in row.merge.items())}")
            merge_checkpoints(sources, Path(cfg.load_from))
        cfg.dump(str(run.config))

    label = f"{row.id} [{profile.name}]"
    what = ("testing the merged model" if row.merge else
            "resuming from its last checkpoint" if resume else "training and testing")
    log(f"{label}: {what} ({row.name}, {launch.launcher} x{launch.processes}); log: {run.log}")
    run.outcome.unlink(missing_ok=True)
    Attempt.begin(run, row, opts, resolved, chash, annotations, proposals, data_root)
    rc = launch_and_follow(command(run.path, launch), run.log, label, log, opts.worker_threads)
    return finalize(store, run, rc)


def _wire_dependencies(cfg, row: Row, opts: RunOptions, store: Store, run: RunDir,
                       proposals: ProposalState | None) -> dict[str, str]:
    """Point the config at what its producers made: proposals, an init checkpoint, or the parts
    of a merged model (returned: part -> checkpoint). Each by sha256 under cfg.harness, so in the
    config hash: a detector on other proposals, or from another checkpoint, is another run."""
    if proposals is not None:
        cfg.train_dataloader.dataset.proposal_file = proposals.files["train2017"]
        cfg.test_dataloader.dataset.proposal_file = proposals.files["val2017"]
        if cfg.get("test_dev") is not None and TEST_DEV in proposals.files:
            cfg.test_dev.proposal_file = proposals.files[TEST_DEV]
        harness_keys(cfg).proposals_checkpoint_sha256 = proposals.checkpoint_sha256
    profile, seed = opts.profile.name, opts.seed
    if row.init_from:
        cfg.load_from, sha = producer_checkpoint(store, row.init_from, profile, seed)
        harness_keys(cfg).init_from = dict(row=row.init_from, checkpoint_sha256=sha)
    sources = {}
    if row.merge:
        merged_from = {}
        for part, source in row.merge.items():
            sources[part], sha = producer_checkpoint(store, source, profile, seed)
            merged_from[part] = dict(row=source, checkpoint_sha256=sha)
        harness_keys(cfg).merged_from = merged_from
        harness_keys(cfg).test_only = True    # the worker tests the merged model, never trains it
        cfg.load_from = str(run.merged)
    return sources


def build_record(row: Row, opts: RunOptions, run: RunDir, resolved, chash: str, annotations: dict,
                 outcome: WorkerOutcome, proposals: ProposalState | None, data_root: Path,
                 started: str, wall: float) -> Record:
    cfg, profile, launch = resolved.cfg, opts.profile, opts.launch
    status, reason, metrics, na = outcome.status, outcome.reason, {}, []
    if status == "done":
        metrics, na, problem = paper_metrics(load_tables()[row.table], outcome.metrics, row.step)
        if problem:
            status, reason = "failed", problem
    ckpt = None
    if status == "done":
        last = run.last_checkpoint()
        ckpt = cfg.load_from if row.merge else (str(last) if last else None)
        if ckpt and profile.slim_checkpoints:
            _slim(Path(ckpt))
    env = outcome.environment or {}
    per_step = int(cfg.train_dataloader.batch_size) * int(env.get("world_size", launch.processes))
    own = cfg.get("harness") or {}
    return Record(
        row=row.id, table=row.table, row_name=row.name, profile=profile.name,
        is_reproduction=profile.is_reproduction, seed=opts.seed, status=status, reason=reason,
        metrics=metrics, metrics_na=na, raw_metrics=outcome.metrics,
        metric_source=metric_source(cfg),
        config={"row_config": str(row.config_path.relative_to(ROOT))
                if row.config_path.is_relative_to(ROOT) else str(row.config_path),
                "resolved": str(run.config), "hash": chash},
        schedule=resolved.schedule.as_dict() if resolved.schedule else None,
        deviations=resolved.deviations,
        cfg_options={k: repr(v) for k, v in opts.cfg_options.items()},
        proposals=None if proposals is None else {
            "producer": row.proposals_from, "checkpoint_sha256": proposals.checkpoint_sha256,
            "files": proposals.files},
        init_from=own.get("init_from"), merged_from=own.get("merged_from"),
        test_dev=outcome.test_dev,      # Table 4: the COCO test-dev result file to submit
        iterations=outcome.iterations,
        # inference time per image on this run's device (a number for the record on a CPU)
        runtime=dict(outcome.runtime, device=env.get("device")) if outcome.runtime else None,
        resumed=bool(outcome.resumed_from_iteration),
        resumed_from_iteration=outcome.resumed_from_iteration,
        images_per_batch=per_step * int(cfg.optim_wrapper.get("accumulative_counts", 1)),
        images_per_step=per_step,
        checkpoint=ckpt, checkpoint_sha256=file_sha256(Path(ckpt)) if ckpt else None,
        data={"root": str(data_root), "annotations": annotations},
        code=provenance.git_state(), packages=provenance.package_versions(),
        host=provenance.host(), environment=env, launcher=launch.launcher,
        processes=launch.processes, work_dir=str(run.work), started_at=started,
        finished_at=now(), wall_time_s=round(wall, 2),
        gpu_hours=round(wall * env.get("num_gpus", 0) / 3600, 4))


def metric_source(cfg) -> str:
    """Which evaluator produced the numbers (Table 6's metric is the harness's own)."""
    if cfg.test_evaluator.get("type") == "SegmentProposalMetric":
        return "harness SegmentProposalMetric (pycocotools COCOeval, segm, useCats=0)"
    return "MMDetection CocoMetric (pycocotools COCOeval)"


def _annotation_files(cfg) -> dict:
    files = {}
    for split, loader in (("train", cfg.get("train_dataloader")), ("test", cfg.get("test_dataloader"))):
        if loader is None:
            continue
        path = Path(loader.dataset.data_root) / loader.dataset.ann_file
        files[split] = {"path": str(path), "sha256_16": annotation_fingerprint(path)}
    return files


def _same_run(rec: dict, chash: str, annotations: dict) -> bool:
    fingerprints = {k: v["sha256_16"] for k, v in rec.get("data", {}).get("annotations", {}).items()}
    return rec.get("config", {}).get("hash") == chash and \
        fingerprints == {k: v["sha256_16"] for k, v in annotations.items()}


def archive_run(run: RunDir, store: Store, keep_slurm: bool = False) -> None:
    """--force, or starting over an unfinished attempt, keeps the previous run (record, config,
    logs) under results/archive/. keep_slurm: a SLURM job that starts its row over keeps its
    own files (RunDir.slurm: its script, its id, the output SLURM is writing into)."""
    if not run.path.exists():
        return
    own = run.slurm if keep_slurm and run.slurm.exists() else None
    if own is not None and all(p == own for p in run.path.iterdir()):
        return                              # nothing there yet but the job's own files
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    dest = store.root / "archive" / run.path.relative_to(store.root / "runs")
    dest = dest.with_name(f"{dest.name}-{stamp}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(run.path), str(dest))
    if own is not None:   # a rename: the job's open output file moves back with it
        run.path.mkdir(parents=True)
        shutil.move(str(dest / own.name), str(own))


def _slim(path: Path) -> None:
    """Weights and meta only (what dumps, init_from and merges read): a finished run is never
    resumed, so its optimizer state is dead weight. Atomic, like every write of the store."""
    import torch
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    if set(ckpt) <= {"state_dict", "meta"}:
        return
    with atomic_file(path) as tmp:
        torch.save({k: ckpt[k] for k in ("state_dict", "meta") if k in ckpt}, tmp)


def _resumable(run: RunDir, chash: str, existing: dict | None) -> bool:
    """An unfinished attempt of the same config with a checkpoint: continue it, don't restart."""
    if existing is not None and existing.get("status") == "done":
        return False
    try:
        from mmengine.config import Config
        old = config_hash(Config.fromfile(str(run.config), import_custom_modules=False))
    except Exception:  # noqa: BLE001 - no (readable) earlier config: nothing to resume
        return False
    return old == chash and (run.work / "last_checkpoint").exists()
