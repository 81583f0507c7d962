"""A run's outcome -> its record: the one finalisation, whoever sees the worker end.

Before the worker starts, the row's process writes RUN_DIR/attempt.json (`Attempt.begin`): what
the record needs that the run directory does not already hold (the options, the config hash,
the data's fingerprints, the proposals, when it started, the SLURM job). `finalize()` reads it
back with the worker's outcome.json and the resolved config, builds the record
(harness/orchestrate/row.py: build_record) and writes it atomically.

The process that launched the worker calls it: a local sweep, or, under SLURM, the job around
the worker, so a SLURM row finalises itself. A later `harness run/sweep/status` calls it for a
SLURM job that ended without its record (its batch step was killed after the worker wrote the
outcome, or ran out of time), so a finished run is neither lost nor run again."""
from __future__ import annotations

import ast
import json
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from harness.orchestrate.launch import Launch
from harness.orchestrate.options import RunOptions, now
from harness.orchestrate.proposals import ProposalState
from harness.store import RunDir, Store, WorkerOutcome, write_json_atomic


@dataclass
class Attempt:
    row: str
    profile: str
    seed: int
    data_root: str
    launcher: str
    processes: int
    config_hash: str
    annotations: dict
    cfg_options: dict = field(default_factory=dict)   # key -> repr(value): Python literals
    pretrained: dict | None = None
    schedule: dict | None = None                      # ScheduleChange.as_dict()
    deviations: list = field(default_factory=list)
    proposals: dict | None = None                     # a ProposalState's fields
    started_at: str = ""
    started: float = 0.0                              # time.time() when the attempt began
    slurm_job: str | None = None                      # the SLURM job it runs in

    @classmethod
    def begin(cls, run: RunDir, row, opts: RunOptions, resolved, chash: str, annotations: dict,
              proposals: ProposalState | None, data_root: Path) -> "Attempt":
        launch = opts.launch
        attempt = cls(
            row=row.id, profile=opts.profile.name, seed=opts.seed, data_root=str(data_root),
            launcher=launch.launcher, processes=launch.processes, config_hash=chash,
            annotations=annotations, cfg_options={k: repr(v) for k, v in opts.cfg_options.items()},
            pretrained=opts.pretrained,
            schedule=resolved.schedule.as_dict() if resolved.schedule else None,
            deviations=list(resolved.deviations),
            proposals=asdict(proposals) if proposals is not None else None,
            started_at=now(), started=time.time(),
            slurm_job=os.environ.get("SLURM_JOB_ID") if launch.inside_job else None)
        write_json_atomic(run.attempt, asdict(attempt))
        return attempt

    @classmethod
    def read(cls, run: RunDir) -> "Attempt | None":
        try:
            data = json.loads(run.attempt.read_text())
            known = {f.name for f in fields(cls)}
            return cls(**{k: v for k, v in data.items() if k in known})
        except (OSError, ValueError, TypeError):
            return None

    def options(self) -> RunOptions:
        from harness.config.profiles import get_profile
        return RunOptions(
            profile=get_profile(self.profile), data_root=Path(self.data_root), seed=self.seed,
            pretrained=self.pretrained,
            cfg_options={k: ast.literal_eval(v) for k, v in self.cfg_options.items()},
            launch=Launch(self.launcher, self.processes, inside_job=self.slurm_job is not None))


def finalize(store: Store, run: RunDir, exit_code: int, *, ended: float | None = None,
             no_outcome: str | None = None) -> dict:
    """Write the record of the attempt in `run` from the worker's outcome and exit code; return
    it. `ended`: when the worker ended (default: now); `no_outcome`: the failure reason to give
    when the worker left no outcome (default: WorkerOutcome's, from the exit code)."""
    from mmengine.config import Config

    from harness.config.resolve import Resolved
    from harness.config.schedule import ScheduleChange
    from harness.orchestrate.row import build_record
    from harness.paper.rows import get_row

    attempt = Attempt.read(run)
    if attempt is None:
        raise FileNotFoundError(f"{run.attempt} is missing or unreadable")
    outcome = WorkerOutcome.read(run.outcome, exit_code)
    if no_outcome and not run.outcome.exists():
        outcome.reason = no_outcome
    resolved = Resolved(cfg=Config.fromfile(str(run.config), import_custom_modules=False),
                        schedule=ScheduleChange(**attempt.schedule) if attempt.schedule else None,
                        deviations=attempt.deviations)
    proposals = ProposalState(**attempt.proposals) if attempt.proposals else None
    wall = (time.time() if ended is None else ended) - attempt.started
    record = build_record(get_row(attempt.row), attempt.options(), run, resolved,
                          attempt.config_hash, attempt.annotations, outcome, proposals,
                          Path(attempt.data_root), attempt.started_at, wall)
    record.slurm_job = attempt.slurm_job
    store.write(record)
    return record.to_dict()
