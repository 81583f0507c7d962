"""How every model-running process is started: one process, `torchrun`, or srun inside a SLURM job.

Every process that runs a model (a row's train + test, the merged Table 5 model's test, the
test-dev pass, each proposal dump) is `python -m harness.worker RUN_DIR ...` started by
`command()` with the row's launcher and process count, and MMEngine's matching launcher
(`none`, `pytorch`, `slurm`). Its output goes to a log the harness follows for progress.

With `--launcher slurm` the harness process that calls `command()` is itself a SLURM job (see
harness/orchestrate/slurm_sweep.py: one job per row and per dump, SLURM holding the DAG), so the
worker is an `srun` step of that job's allocation, one task per process."""
from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError

LAUNCHERS = ("local", "torchrun", "slurm")
MMENGINE_LAUNCHER = {"local": "none", "torchrun": "pytorch", "slurm": "slurm"}


@dataclass(frozen=True)
class Launch:
    launcher: str = "local"
    processes: int = 1                 # processes (GPUs) per row
    slurm_args: tuple[str, ...] = field(default_factory=tuple)  # e.g. --partition=gpu --gres=gpu:8
    inside_job: bool = False           # slurm: this process runs inside the row's SLURM job

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


def command(run_dir: Path, launch: Launch, extra: list[str] | None = None) -> list[str]:
    """The command that starts the worker for run_dir with `launch`; its stdout and stderr are the
    worker's log (the caller sends them to the log file it follows)."""
    extra = extra or []
    py = sys.executable
    if launch.launcher == "local":
        return [py, *worker_argv(run_dir, launch, extra)]
    if launch.launcher == "torchrun":
        # torchrun's own `-m`: each process runs `python -m harness.worker ...`
        return [py, "-m", "torch.distributed.run", "--standalone", "--nnodes=1",
                f"--nproc-per-node={launch.processes}", *worker_argv(run_dir, launch, extra)]
    if not launch.inside_job:
        raise HarnessError("--launcher slurm starts workers inside SLURM jobs only; the sweep "
                           "submits them (harness/orchestrate/slurm_sweep.py)")
    # One task per process; a task that fails ends the step, so no rank waits forever for it.
    return ["srun", f"--ntasks={launch.processes}", "--kill-on-bad-exit=1",
            py, *worker_argv(run_dir, launch, extra)]
