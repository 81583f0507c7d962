"""One row, end to end: resolve its config, resume or start over, launch the worker, and turn
the worker's outcome into the run's record. Under SLURM this runs inside the row's own job
(harness/orchestrate/job.py), which so writes its own record; `record_attempt` makes the record
of a job that ended without it (harness/orchestrate/finalize.py).

Holds the row's lock throughout, and hands it down to the worker (ownership.py), so a second
sweep that reaches the row waits, then finds the record; a worker that outlived its sweep is
waited for and its outcome recorded. A finished row is never run again unless --force (which
archives the old run); what an unfinished one does is resume.py's decision."""
from __future__ import annotations

import copy
import os
import time
from pathlib import Path

from harness.config.resolve import config_hash, harness_keys, resolve_config
from harness.data.validate import annotation_fingerprint
from harness.evaluation import set_backend
from harness.orchestrate.finalize import attempt_options
from harness.orchestrate.four_step import merge_checkpoints, producer_checkpoint
from harness.orchestrate.launch import command
from harness.orchestrate.locks import row_lock
from harness.orchestrate.options import RunOptions, now
from harness.orchestrate.record import build_record
from harness.orchestrate.reproduction import (config_reasons, data_reasons, judge_run,
                                              weightiest_first)
from harness.orchestrate.ownership import Attempt, adoptable, end_attempt, start_attempt
from harness.orchestrate.progress import LogFollower, launch_and_follow
from harness.orchestrate.resume import Decision, archive_run, decide
from harness.data.coco import TEST_DEV
from harness.orchestrate.proposals import ProposalState
from harness.paper.rows import Row
from harness.store import Record, RunDir, Store, WorkerOutcome, write_text_atomic


def run_row(row: Row, opts: RunOptions, store: Store, data_root: Path, log=print,
            proposals: ProposalState | None = None) -> dict:
    """Run one row and return its record (an existing one if already done)."""
    run = store.run(row.id, opts.profile.name, opts.seed)
    # Waiting for another holder (an orphaned worker, or a second sweep): show its progress.
    follower = LogFollower(run.log, f"{row.id} [{opts.profile.name}]", log, from_end=True)
    with row_lock(store.root, row.id, opts.profile.name, opts.seed, log,
                  while_waiting=follower.poll) as lock:
        return _run_row_locked(row, opts, store, data_root, log, proposals, lock)


def _prepare(row, opts, store, data_root, proposals):
    """The row's run dir, resolved config (wired to its producers, --cfg-options applied),
    config hash, annotation fingerprints and the checkpoints to merge."""
    run = store.run(row.id, opts.profile.name, opts.seed)
    resolved = resolve_config(row, opts.profile, data_root, run.work, seed=opts.seed,
                              pretrained=opts.pretrained, processes=opts.launch.processes)
    cfg = resolved.cfg
    if opts.evaluator:   # before --cfg-options, which may still set a metric's backend itself
        set_backend(cfg, opts.evaluator)
    sources = _wire_dependencies(cfg, row, opts, store, run, proposals)
    if opts.cfg_options:   # the audit compares each option with the config it overrides
        resolved.before_options = copy.deepcopy(cfg)
        cfg.merge_from_dict(opts.cfg_options)
    return run, resolved, config_hash(cfg), _annotation_files(cfg), sources


def record_attempt(row: Row, opts: RunOptions, store: Store, proposals: ProposalState | None,
                   attempt: Attempt, outcome: WorkerOutcome, wall: float) -> dict | None:
    """The record of an attempt whose worker ended with nobody left to record it (a SLURM job
    that ended without its record): its config resolved again from its options. None when that
    config is no longer the one the attempt ran (the row or its producers changed since)."""
    run, resolved, chash, annotations, _ = _prepare(row, opts, store, opts.data_root, proposals)
    if chash != attempt.config_hash:
        return None
    return _finish(row, opts, store, run, resolved, chash, annotations, outcome, proposals,
                   opts.data_root, attempt.started_at, wall, attempt.slurm_job)


def _run_row_locked(row, opts, store, data_root, log, proposals, lock) -> dict:
    profile, launch = opts.profile, opts.launch
    label = f"{row.id} [{profile.name}]"
    run, resolved, chash, annotations, sources = _prepare(row, opts, store, data_root, proposals)
    cfg = resolved.cfg
    if not opts.force and (orphan := adoptable(run, chash)) is not None:
        # A worker whose sweep (or SLURM job) died finished this very config: its outcome
        # becomes the record.
        outcome, attempt, wall = orphan
        log(f"{label}: recording the outcome ({outcome.status}) of the worker that ran on after "
            f"its harness (pid {attempt.harness_pid}) stopped")
        return _finish(row, opts, store, run, resolved, chash, annotations, outcome, proposals,
                       data_root, attempt.started_at, wall, attempt.slurm_job)
    existing = store.get_or_bad(row.id, profile.name, opts.seed)
    if isinstance(existing, dict) and existing.get("status") == "done" and not opts.force:
        same = _same_run(existing, chash, annotations)
        if same and _declared(existing) not in (None, (opts.allow_deviations, opts.pretrained_equivalent)):
            return _rejudge(row, opts, store, resolved, annotations, existing, log)
        log(f"{label}: " + (
            f"already done ({run.record}); use --force to run it again" if same else
            f"kept a record made with another config, data or proposals ({run.record}); use "
            "--force to replace it"))
        return existing
    decision = Decision(False) if opts.force else decide(run, chash, existing)
    if decision.refused:   # not a record (nothing is written): the CLI reports it as the row's error
        return dict(existing if isinstance(existing, dict) else {}, row=row.id, table=row.table,
                    profile=profile.name, seed=opts.seed, status="failed", metrics={},
                    reason=decision.refused, work_dir=str(run.work))
    if decision.note:
        log(f"{label}: {decision.note}")
    resume = decision.resume
    if not resume:
        archive_run(run, store, keep_slurm=launch.inside_job)
        run.path.mkdir(parents=True, exist_ok=True)    # a SLURM job's own files may be there
        if sources:
            log(f"{row.id} [{profile.name}]: merging {', '.join(f'{p} of {r}' for p, r in row.merge.items())}")
            merge_checkpoints(sources, Path(cfg.load_from))
    else:
        run.name_last_checkpoint_here()
    # Written on a resume too: the same config (the same hash), but with this store's paths
    # (work_dir, proposal files), for a store moved since the attempt began.
    write_text_atomic(run.config, cfg.pretty_text)

    if gone := run.remove_temp_files():
        log(f"{label}: removed {len(gone)} temp file(s) that a killed writer left "
            f"({sum(gone.values()) / 2**20:.1f} MiB): {', '.join(gone)}")
    _warn_if_not_judged(row, opts, resolved, annotations, label, log)
    what = ("testing the merged model" if row.merge else
            "resuming from its last checkpoint" if resume else "training and testing")
    log(f"{label}: {what} ({row.name}, {launch.launcher} x{launch.processes}); log: {run.log}")
    run.outcome.unlink(missing_ok=True)
    started, t0 = now(), time.time()
    job = os.environ.get("SLURM_JOB_ID") if launch.inside_job else None
    start_attempt(run, chash, started, job, attempt_options(opts, proposals))
    # The worker shares the row's lock (ownership.py). Inside a SLURM job the lock stays with
    # the job's own process: SLURM ends the job's srun steps with it, so no worker outlives it.
    rc = launch_and_follow(command(run.path, launch), run.log, label, log, opts.worker_threads,
                           lock=None if launch.launcher == "slurm" else lock)
    outcome = WorkerOutcome.read(run.outcome, rc)
    return _finish(row, opts, store, run, resolved, chash, annotations, outcome, proposals,
                   data_root, started, time.time() - t0, job)


def _finish(row, opts, store, run, resolved, chash, annotations, outcome, proposals, data_root,
            started, wall, slurm_job=None) -> dict:
    producers = {e.row: store.get(e.row, opts.profile.name, opts.seed) for e in row.edges}
    record = build_record(row, opts, run, resolved, chash, annotations, outcome, proposals,
                          data_root, started, wall, producers)
    record.slurm_job = slurm_job
    store.write(record)
    end_attempt(run)
    return record.to_dict()


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


def _declared(rec: dict) -> tuple[bool, bool] | None:
    rep = rec.get("reproduction")
    return (rep.get("allow_deviations") is True, rep.get("pretrained_equivalent") is True) \
        if isinstance(rep, dict) else None


def _rejudge(row: Row, opts: RunOptions, store: Store, resolved, annotations: dict,
             existing: dict, log) -> dict:
    """A finished run asked for again with other declarations (--allow-deviations,
    --pretrained-equivalent): judged again from what its record holds, not trained again."""
    profile = opts.profile
    per_step = existing.get("images_per_step") or \
        int(resolved.cfg.train_dataloader.batch_size) * opts.launch.processes
    reproduction = judge_run(
        row, profile, resolved, cfg_options=opts.cfg_options, annotations=annotations,
        images_per_step=per_step, loaded=existing.get("pretrained"),
        producers={e.row: store.get(e.row, profile.name, opts.seed) for e in row.edges},
        allow_deviations=opts.allow_deviations, pretrained_equivalent=opts.pretrained_equivalent)
    record = Record.from_dict(dict(existing, reproduction=reproduction, is_reproduction=
                                   profile.is_reproduction and not reproduction["reasons"]))
    store.write(record)
    log(f"{row.id} [{profile.name}]: already done; judged again with the declarations asked for "
        f"({'judged' if reproduction['judged'] else 'not judged'})")
    return record.to_dict()


def _warn_if_not_judged(row: Row, opts: RunOptions, resolved, annotations: dict, label: str,
                        log) -> None:
    """Say before hours of training what the record will say after them: the config and data
    reasons (the weights are known once the worker has loaded them)."""
    if not opts.profile.is_reproduction:
        return
    per_step = int(resolved.cfg.train_dataloader.batch_size) * opts.launch.processes
    found = weightiest_first(config_reasons(row, resolved, opts.cfg_options, per_step)
                             + data_reasons(resolved.cfg, annotations))
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        log(f"{label}: not a reproduction: {found[0]['text']}{more}; its numbers "
            + ("will be judged anyway (--allow-deviations)" if opts.allow_deviations else
               "will not be judged against the paper"))


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
