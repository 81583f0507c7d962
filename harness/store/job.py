"""The SLURM job a run was handed to, kept next to the run (RunDir.job, RunDir.dump_job).

Written atomically right after `sbatch` answers, so any later `harness run/sweep/status/cancel`
can ask SLURM about the job instead of submitting the row again; a job that `harness cancel`
stopped says so (`cancelled_at`), which tells a stopped row from one SLURM cancelled itself."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from harness.store.atomic import write_json_atomic


@dataclass
class SubmittedJob:
    job_id: str
    kind: str                      # "row" (train + test) or "dump" (the RPN's proposals)
    name: str                      # SLURM's job name: unique per store, row, profile and seed
    row: str
    profile: str
    seed: int
    submitted_at: str
    script: str
    after: list = field(default_factory=list)     # job ids it waits for (afterok)
    cancelled_at: str | None = None                # set by `harness cancel`

    def write(self, path: Path) -> None:
        write_json_atomic(path, asdict(self))

    @classmethod
    def read(cls, path: Path) -> "SubmittedJob | None":
        """The job, or None when there is none (or the file is not one: then it is ignored, as a
        run without a job, and the next submission replaces it)."""
        try:
            data = json.loads(Path(path).read_text())
            known = {f.name for f in fields(cls)}
            return cls(**{k: v for k, v in data.items() if k in known})
        except (OSError, ValueError, TypeError):
            return None
