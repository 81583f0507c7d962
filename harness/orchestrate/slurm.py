"""SLURM's own tools, the only place that calls them: sbatch (a job script with `afterok`
dependencies), squeue and sacct (what became of a job), scancel. A tool that fails is one
HarnessError line quoting SLURM.

Why sbatch scripts written here, and not submitit: submitit pickles a Python callable and runs
it in every task of the job, and follows its jobs from the submitting process (or from sacct,
which needs SLURM's accounting database). The harness needs the opposite: a job script a user can
read and resubmit by hand (RUN_DIR/slurm/row.sbatch), one process per job that finalises the
record after its `srun` step (harness/orchestrate/job.py), native `--dependency=afterok` edges
with `--kill-on-invalid-dep`, and state queries that also work where accounting is off (squeue
remembers recent jobs; `sacct -c` reads the job completion log). That is a few lines of sbatch
options, without a new dependency."""
from __future__ import annotations

import hashlib
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.store import write_text_atomic

# States of a job that has not ended (SLURM's squeue/sacct names).
LIVE = frozenset({"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED",
                  "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED",
                  "RESV_DEL_HOLD"})


@dataclass(frozen=True)
class JobState:
    job_id: str
    state: str            # SLURM's (PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, ...),
    reason: str = ""      # or UNKNOWN once SLURM has forgotten the job
    name: str = ""
    exit_code: str = ""

    @property
    def live(self) -> bool:
        return self.state in LIVE


def _tool(cmd: list[str], timeout: int = 120) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError) as exc:
        raise HarnessError(f"{cmd[0]} could not run: {exc}") from None


def _said(proc: subprocess.CompletedProcess) -> str:
    lines = (proc.stderr or proc.stdout or "").strip().splitlines()
    return lines[-1].strip() if lines else f"exit code {proc.returncode}"


def job_name(store_root: Path, kind: str, row: str, profile: str, seed: int) -> str:
    """Unique per results store, so a sweep can find its jobs by name in squeue (a job whose id
    was never written, because the submitting process died right after sbatch answered)."""
    store = hashlib.sha256(str(Path(store_root).resolve()).encode()).hexdigest()[:6]
    return f"fpn-{row}-{'' if kind == 'row' else kind + '-'}{profile}-s{seed}-{store}"


def write_script(path: Path, name: str, tasks: int, output: Path, slurm_args: tuple[str, ...],
                 command: list[str]) -> None:
    options = [f"--job-name={name}", f"--ntasks={tasks}", f"--output={output}",
               "--open-mode=append", *slurm_args]
    lines = ["#!/bin/bash", *(f"#SBATCH {o}" for o in options),
             "# Written by the harness; its dependencies are on sbatch's command line",
             "# (slurm_job.json next to this file says which).",
             "export TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 PYTHONUNBUFFERED=1",
             # as torchrun does: one thread per task unless SLURM gave the task more CPUs
             "export OMP_NUM_THREADS=${OMP_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}",
             'export MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
             'export MASTER_PORT=$((20000 + SLURM_JOB_ID % 20000))',
             "exec " + shlex.join(command), ""]
    write_text_atomic(path, "\n".join(lines))


def sbatch(script: Path, after: list[str]) -> str:
    """Submit script; it starts only once every job in `after` completed successfully, and
    SLURM cancels it if one of them fails. Returns the job id."""
    deps = [f"--dependency=afterok:{':'.join(after)}"] if after else []
    proc = _tool(["sbatch", "--parsable", "--kill-on-invalid-dep=yes", *deps, str(script)])
    job_id = proc.stdout.strip().split(";")[0]     # --parsable: "<id>[;<cluster>]"
    if proc.returncode != 0 or not job_id.isdigit():
        raise HarnessError(f"sbatch refused {script}: {_said(proc)}")
    return job_id


def query(job_ids: list[str]) -> dict[str, JobState]:
    """The state of every job of this user that squeue knows (queued, running, or ended in the
    last minutes) and of each of job_ids, from sacct where squeue has forgotten it: SLURM's
    accounting if it has one, else its job completion log (`sacct -c`)."""
    proc = _tool(["squeue", "--me", "-h", "-t", "all", "-o", "%i|%j|%T|%r"])
    if proc.returncode != 0:
        raise HarnessError(f"squeue failed: {_said(proc)}")
    out: dict[str, JobState] = {}
    for line in proc.stdout.splitlines():
        job_id, name, state, reason = (line.split("|", 3) + ["", "", ""])[:4]
        out[job_id.strip()] = JobState(job_id.strip(), state.strip(), reason.strip(), name.strip())
    missing = [j for j in job_ids if j not in out]
    for completion_log in ([], ["-c"]) if missing else ():
        proc = _tool(["sacct", *completion_log, "-n", "-P", "-X", "-j", ",".join(missing),
                      "-o", "JobIDRaw,State,ExitCode,JobName"])
        if proc.returncode != 0:
            continue                       # no accounting: try the completion log
        for line in proc.stdout.splitlines():
            job_id, state, code, name = (line.split("|", 3) + ["", "", ""])[:4]
            if job_id in missing:          # a requeued job has several lines: the last counts
                out[job_id] = JobState(job_id, (state.split() or ["UNKNOWN"])[0], "", name, code)
        break
    for job_id in job_ids:
        out.setdefault(job_id, JobState(job_id, "UNKNOWN"))
    return out


def scancel(job_ids: list[str]) -> None:
    proc = _tool(["scancel", *job_ids])
    if proc.returncode != 0:
        raise HarnessError(f"scancel {' '.join(job_ids)} failed: {_said(proc)}")
