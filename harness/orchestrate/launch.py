"""How a row's worker is started: one process, `torchrun`, or a SLURM job (sbatch + srun).

Every launcher ends in `python -m harness.worker RUN_DIR` with MMEngine's matching launcher
(`none`, `pytorch`, `slurm`) and writes the worker's output to RUN_DIR/worker.log, which the
harness follows for progress. SLURM is driven through its own tools: the harness writes an
sbatch script per row and waits for it with `sbatch --wait` (the sweep's own waiting stands in
for SLURM dependencies, so a producer's proposals are dumped before its consumers start)."""
from __future__ import annotations

import shlex
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError
from harness.store import write_text_atomic

LAUNCHERS = ("local", "torchrun", "slurm")
MMENGINE_LAUNCHER = {"local": "none", "torchrun": "pytorch", "slurm": "slurm"}


@dataclass(frozen=True)
class Launch:
    launcher: str = "local"
    processes: int = 1                 # processes (GPUs) per row
    slurm_args: tuple[str, ...] = field(default_factory=tuple)  # e.g. --partition=gpu --gres=gpu:8

    def check(self) -> None:
        if self.launcher not in LAUNCHERS:
            raise HarnessError(f"unknown launcher '{self.launcher}'; valid launchers: "
                               f"{', '.join(LAUNCHERS)}")
        if self.processes < 1:
            raise HarnessError(f"--gpus must be at least 1 (got {self.processes})")
        if self.launcher == "local" and self.processes > 1:
            raise HarnessError("the local launcher runs one process; use --launcher torchrun "
                               f"or slurm for --gpus {self.processes}")
        if self.launcher == "slurm" and shutil.which("sbatch") is None:
            raise HarnessError("--launcher slurm needs SLURM's sbatch on PATH; run on a SLURM "
                               "login node or use --launcher torchrun")


def worker_argv(run_dir: Path, launch: Launch, extra: list[str]) -> list[str]:
    return ["-m", "harness.worker", str(run_dir), "--launcher",
            MMENGINE_LAUNCHER[launch.launcher], *extra]


def command(run_dir: Path, launch: Launch, log_path: Path, job_name: str,
            extra: list[str] | None = None) -> tuple[list[str], bool]:
    """The command to run, and whether its stdout is the worker's output (else it is a SLURM
    job that writes log_path itself)."""
    extra = extra or []
    py = sys.executable
    if launch.launcher == "local":
        return [py, *worker_argv(run_dir, launch, extra)], True
    if launch.launcher == "torchrun":
        # torchrun's own `-m`: each process runs `python -m harness.worker ...`
        return [py, "-m", "torch.distributed.run", "--standalone", "--nnodes=1",
                f"--nproc-per-node={launch.processes}", *worker_argv(run_dir, launch, extra)], True
    script = log_path.with_suffix(".sbatch")
    options = [f"--job-name={job_name}", f"--ntasks={launch.processes}",
               f"--output={log_path}", "--open-mode=append", *launch.slurm_args]
    lines = ["#!/bin/bash", *(f"#SBATCH {o}" for o in options),
             "export TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 PYTHONUNBUFFERED=1",
             # as torchrun does: one thread per task unless SLURM gave the task more CPUs
             "export OMP_NUM_THREADS=${OMP_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}",
             'export MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
             'export MASTER_PORT=$((20000 + SLURM_JOB_ID % 20000))',
             "srun " + shlex.join([py, *worker_argv(run_dir, launch, extra)]), ""]
    write_text_atomic(script, "\n".join(lines))
    return ["sbatch", "--wait", "--parsable", str(script)], False
