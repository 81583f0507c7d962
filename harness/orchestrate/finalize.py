"""The record of a SLURM job that ended without writing it.

A row's SLURM job runs the row as a local sweep would (harness/orchestrate/job.py -> run_row)
and writes its record itself. When the job ends without it (its batch step was killed after the
worker wrote its outcome, or it ran out of time), a later `harness run/sweep/status` makes it
here (harness/orchestrate/adopt.py: settle), under the row's lock, from what the job left:
its attempt (harness/orchestrate/ownership.py: the config hash, when it started, the options it
ran with) and the worker's outcome. The config is resolved again from those options, exactly as
the job did, and the record is built by the same code (row.py: record_attempt), so a finished
run is neither lost nor run again, and no second way of making a record exists."""
from __future__ import annotations

import ast
from dataclasses import asdict, replace
from pathlib import Path

from harness.orchestrate.launch import Launch
from harness.orchestrate.options import RunOptions
from harness.orchestrate.ownership import Attempt
from harness.orchestrate.proposals import ProposalState
from harness.store import RunDir, Store, WorkerOutcome


def attempt_options(opts: RunOptions, proposals: ProposalState | None) -> dict:
    """What an attempt keeps of its options: enough to resolve its config again elsewhere."""
    launch = opts.launch
    return {"data_root": str(opts.data_root), "pretrained": opts.pretrained,
            # values are Python literals (mmengine's DictAction): repr round-trips
            "cfg_options": {k: repr(v) for k, v in opts.cfg_options.items()},
            "launcher": launch.launcher, "processes": launch.processes,
            "inside_job": launch.inside_job, "allow_deviations": opts.allow_deviations,
            "pretrained_equivalent": opts.pretrained_equivalent, "evaluator": opts.evaluator,
            "stop_after_iters": opts.profile.stop_after_iters,    # --preflight-iters
            "proposals": asdict(proposals) if proposals is not None else None}


def _options(profile: str, seed: int, kept: dict) -> tuple[RunOptions, ProposalState | None]:
    from harness.config.profiles import get_profile
    opts = RunOptions(
        profile=replace(get_profile(profile), stop_after_iters=kept.get("stop_after_iters")),
        data_root=Path(kept["data_root"]), seed=seed,
        pretrained=kept.get("pretrained"),
        cfg_options={k: ast.literal_eval(v) for k, v in (kept.get("cfg_options") or {}).items()},
        launch=Launch(kept["launcher"], int(kept["processes"]),
                      inside_job=bool(kept.get("inside_job"))),
        allow_deviations=bool(kept.get("allow_deviations")),
        pretrained_equivalent=bool(kept.get("pretrained_equivalent")),
        evaluator=kept.get("evaluator"))
    proposals = ProposalState(**kept["proposals"]) if kept.get("proposals") else None
    return opts, proposals


def finalize_ended(store: Store, run: RunDir, row_id: str, profile: str, seed: int,
                   attempt: Attempt, no_outcome: str) -> dict | None:
    """Write the record of `attempt` (its worker's outcome, or `no_outcome` as the failure when
    the worker left none) and return it; None when the attempt cannot be made a record here (it
    kept no options, or the row's config has changed since it ran: a re-run decides)."""
    from harness.orchestrate.row import record_attempt
    from harness.paper.rows import get_row
    if not attempt.options:
        return None
    opts, proposals = _options(profile, seed, attempt.options)
    if run.outcome.exists():
        outcome = WorkerOutcome.read(run.outcome, 0)
        ended = run.outcome.stat().st_mtime
    else:
        outcome = WorkerOutcome.read(run.outcome, 1)
        outcome.reason = no_outcome
        ended = max(attempt.t0, run.log.stat().st_mtime if run.log.exists() else attempt.t0)
    return record_attempt(get_row(row_id), opts, store, proposals, attempt, outcome,
                          wall=max(0.0, ended - attempt.t0))
