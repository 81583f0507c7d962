"""What a worker hands back to the orchestrator: RUN_DIR/outcome.json, written by rank 0.

The worker writes it atomically when it ends, done or failed; the orchestrator turns it into the
run's record. A worker that dies without one (killed, out of memory) is reported by the
orchestrator from its exit code."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from harness.errors import HarnessError
from harness.store.atomic import write_json_atomic

# A worker whose environment cannot run the row (harness/worker/device_check.py): reported as a
# one-line error, never as a record of the row.
SETUP_FAILED = "setup_failed"


@dataclass
class WorkerOutcome:
    status: str                                  # "done", "failed" or SETUP_FAILED
    reason: str | None = None                    # one line, when failed
    metrics: dict = field(default_factory=dict)  # the evaluator's keys, fractions
    test_dev: dict | None = None
    iterations: int | None = None
    resumed_from_iteration: int | None = None
    environment: dict = field(default_factory=dict)
    runtime: dict | None = None
    train_test_seconds: float | None = None
    lr_used: dict | None = None                  # first / peak / last LR MMEngine used
    preflight: dict | None = None                # --preflight: s/iter, peak memory
    pretrained: list | None = None               # checkpoints init loaded: source, path, sha256
    diverged_at_iteration: int | None = None     # a NaN/inf loss or weights: resume refused

    def write(self, path: Path) -> None:
        write_json_atomic(path, asdict(self))

    @classmethod
    def read(cls, path: Path, exit_code: int) -> "WorkerOutcome":
        """The outcome the worker left; a missing or broken one, or a non-zero exit code after a
        `done`, becomes a failure that says so."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError):
            if exit_code < 0:
                return cls("failed", f"worker killed by signal {-exit_code} before it wrote an outcome")
            return cls("failed", f"worker exited with code {exit_code} without an outcome "
                       "(killed, or it could not write one: see its log)")
        known = {f.name for f in fields(cls)}
        outcome = cls(**{k: v for k, v in data.items() if k in known}) \
            if isinstance(data, dict) and isinstance(data.get("status"), str) \
            else cls("failed", f"{path} is not a worker outcome")
        if outcome.status == SETUP_FAILED:   # the environment, not the row: no record
            raise HarnessError(f"set-up failed: {outcome.reason} (log: {Path(path).parent / 'worker.log'})")
        if exit_code != 0 and outcome.status == "done":
            return cls("failed", f"worker exited with code {exit_code}")
        return outcome
