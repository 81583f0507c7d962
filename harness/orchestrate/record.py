"""The record of a run (store/record.py's schema), built from what its worker reported and what
the orchestrator knows: the resolved config, its hash, the data, the proposals, the producers'
records, the reproduction judgement (reproduction.py) and the provenance."""
from __future__ import annotations

from pathlib import Path

from harness.config.resolve import declared_deviations, load_config
from harness.evaluation import describe
from harness.orchestrate.options import RunOptions, now
from harness.orchestrate.proposals import ProposalState, file_sha256
from harness.orchestrate.reproduction import judge_run
from harness.paper.rows import Row, load_tables, paper_metrics
from harness.paths import ROOT
from harness.store import Record, RunDir, WorkerOutcome, provenance
from harness.store.atomic import save_torch_atomic


def build_record(row: Row, opts: RunOptions, run: RunDir, resolved, chash: str, annotations: dict,
                 outcome: WorkerOutcome, proposals: ProposalState | None, data_root: Path,
                 started: str, wall: float, producers: dict[str, dict] | None = None) -> Record:
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
            slim(Path(ckpt))
    env = outcome.environment or {}
    per_step = int(cfg.train_dataloader.batch_size) * int(env.get("world_size", launch.processes))
    own = cfg.get("harness") or {}
    schedule, deviations = resolved.ran(per_step)      # what ran, after --cfg-options
    reproduction = judge_run(
        row, profile, resolved, cfg_options=opts.cfg_options, annotations=annotations,
        images_per_step=per_step, loaded=outcome.pretrained, producers=producers or {},
        allow_deviations=opts.allow_deviations, pretrained_equivalent=opts.pretrained_equivalent)
    return Record(
        row=row.id, table=row.table, row_name=row.name, profile=profile.name,
        is_reproduction=profile.is_reproduction and not reproduction["reasons"],
        reproduction=reproduction, seed=opts.seed, status=status, reason=reason,
        metrics=metrics, metrics_na=na, raw_metrics=outcome.metrics,
        metric_source=metric_source(run, cfg),
        config={"row_config": str(row.config_path.relative_to(ROOT))
                if row.config_path.is_relative_to(ROOT) else str(row.config_path),
                "resolved": str(run.config), "hash": chash},
        schedule=schedule, deviations=deviations, paper_deviations=declared_deviations(cfg),
        cfg_options={k: repr(v) for k, v in opts.cfg_options.items()},
        proposals=None if proposals is None else {
            "producer": row.proposals_from, "checkpoint_sha256": proposals.checkpoint_sha256,
            "files": proposals.files},
        init_from=own.get("init_from"), merged_from=own.get("merged_from"),
        test_dev=outcome.test_dev,      # Table 4: the COCO test-dev result file to submit
        iterations=outcome.iterations,
        # inference time per image on this run's device (a number for the record on a CPU)
        runtime=dict(outcome.runtime, device=env.get("device")) if outcome.runtime else None,
        preflight=outcome.preflight,    # s/iter and peak memory (preflight profile)
        resumed=bool(outcome.resumed_from_iteration),
        resumed_from_iteration=outcome.resumed_from_iteration, lr_used=outcome.lr_used,
        images_per_batch=per_step * int(cfg.optim_wrapper.get("accumulative_counts", 1)),
        images_per_step=per_step,
        checkpoint=ckpt, checkpoint_sha256=file_sha256(Path(ckpt)) if ckpt else None,
        pretrained=outcome.pretrained,
        data={"root": str(data_root), "annotations": annotations},
        code=provenance.git_state(), packages=provenance.package_versions(),
        host=provenance.host(), environment=env, launcher=launch.launcher,
        processes=launch.processes, work_dir=str(run.work), started_at=started,
        finished_at=now(), wall_time_s=round(wall, 2),
        gpu_hours=round(wall * env.get("num_gpus", 0) / 3600, 4))


def metric_source(run: RunDir, cfg) -> str:
    """The metric and the COCO API (with version) that computed the numbers: those of the config
    the worker ran, the run dir's (a resumed run tests with the --evaluator of the re-run: the
    config hash leaves the backend out, and the config is written again on a resume)."""
    return describe(load_config(run.config) if run.config.is_file() else cfg)


def slim(path: Path) -> None:
    """Weights and meta only (what dumps, init_from and merges read): a finished run is never
    resumed, so its optimizer state is dead weight. Atomic, like every write of the store."""
    import torch
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    if set(ckpt) <= {"state_dict", "meta"}:
        return
    try:
        save_torch_atomic({k: ckpt[k] for k in ("state_dict", "meta") if k in ckpt}, path)
    except OSError:
        pass    # no room for the slim copy (a full disk): the full checkpoint stays, as good
