"""Who owns a running row, and what a re-run does about a worker whose sweep died.

The row's lock (locks.py) is an flock on an open file. The sweep passes that open file down to
the worker process it starts (local: the worker itself; torchrun: the torchrun agent, which
outlives its workers), so the lock is held as long as *either* lives: a `kill -9` of the sweep
leaves the worker running as an orphan that still holds its row. A re-run then waits for it
(following its log) instead of archiving the live run directory under it; when the orphan has
written its outcome and exited, the re-run turns that outcome into the record (`adoptable`).

SLURM jobs run on other nodes, where an flock taken here means nothing to a submitting process:
each SLURM job takes its row's lock itself, where it runs (harness/orchestrate/job.py), and
adopting a job whose submitting process died is the job id's business, not the lock's
(harness/orchestrate/adopt.py).

The lock file says who holds it, one line: `pid W on HOST (worker of harness pid C)`.
`harness status` shows a held row as `running (pid W)`, and says when C is gone (an orphan)."""
from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from harness.store import RunDir, WorkerOutcome, write_json_atomic

_HOLDER = re.compile(r"pid (\d+) on (\S+)(?: \(worker of harness pid (\d+)\))?")


def inherit(lock) -> tuple[int, ...]:
    """The file descriptors a worker process inherits: its row's lock. The worker needs do
    nothing with it: holding it open until it exits (after writing its outcome) is the point."""
    return () if lock is None else (lock.fileno(),)


def holder_line(pid: int, harness_pid: int | None = None) -> str:
    who = f"pid {pid} on {os.uname().nodename}"
    return who + (f" (worker of harness pid {harness_pid})" if harness_pid else "")


@dataclass(frozen=True)
class Holder:
    pid: int
    host: str
    harness_pid: int | None     # set when the holder is a worker a sweep handed the lock to

    @property
    def orphaned(self) -> bool:
        """A worker (on this host) whose sweep is gone."""
        return (self.harness_pid is not None and self.host == os.uname().nodename
                and not pid_alive(self.harness_pid))


def parse_holder(text: str) -> Holder | None:
    m = _HOLDER.search(text or "")
    if not m:
        return None
    return Holder(int(m.group(1)), m.group(2), int(m.group(3)) if m.group(3) else None)


def read_holder(lock_file: Path) -> Holder | None:
    try:
        return parse_holder(Path(lock_file).read_text())
    except OSError:
        return None


def describe_holder(text: str) -> str:
    holder = parse_holder(text)
    if holder is None:
        return "another process"
    if holder.orphaned:
        return (f"pid {holder.pid} on {holder.host}, a worker whose harness (pid "
                f"{holder.harness_pid}) is gone; its outcome will be recorded")
    return text.strip()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Attempt:
    """RUN_DIR/attempt.json: a worker was launched and its outcome is not yet a record. Written
    before the launch, removed once the record is written: while it exists, an outcome.json
    next to it is one no record has been made from. A SLURM job's attempt also names the job and
    the options it ran with, so a later command can make the record of a job that ended without
    writing it (harness/orchestrate/finalize.py)."""
    config_hash: str
    started_at: str
    t0: float                 # time.time() at the launch, for the wall time of an adopted run
    harness_pid: int
    slurm_job: str | None = None     # the SLURM job the attempt runs in
    options: dict | None = None      # finalize.attempt_options: what the row ran with

    def write(self, run: RunDir) -> None:
        write_json_atomic(run.attempt, asdict(self))

    @classmethod
    def read(cls, run: RunDir) -> "Attempt | None":
        try:
            data = json.loads(run.attempt.read_text())
            return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})
        except (OSError, ValueError, KeyError, TypeError):
            return None


def start_attempt(run: RunDir, config_hash: str, started_at: str, slurm_job: str | None = None,
                  options: dict | None = None) -> Attempt:
    attempt = Attempt(config_hash, started_at, time.time(), os.getpid(), slurm_job, options)
    attempt.write(run)
    return attempt


def end_attempt(run: RunDir) -> None:
    run.attempt.unlink(missing_ok=True)


def adoptable(run: RunDir, config_hash: str) -> tuple[WorkerOutcome, Attempt, float] | None:
    """The outcome an orphaned worker of this same config left without a record: (outcome, its
    attempt, wall seconds from launch to outcome), or None. Called with the row's lock held, so
    the worker is gone."""
    attempt = Attempt.read(run)
    if attempt is None or attempt.config_hash != config_hash or not run.outcome.exists():
        return None
    wall = max(0.0, run.outcome.stat().st_mtime - attempt.t0)
    return WorkerOutcome.read(run.outcome, 0), attempt, wall
