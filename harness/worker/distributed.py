"""Multi-process runs inside the worker: torchrun's and srun's environments -> torch.distributed.

On GPUs MMEngine's own launchers set up nccl. On a CPU they call torch.cuda.set_device and fail,
so the harness starts a gloo process group itself first; the Runner then finds it initialised and
skips its own, and DDP wraps the model without device ids (how the CPU tests run 2 processes)."""
from __future__ import annotations

import os
import subprocess


def slurm_env() -> None:
    """srun's task variables -> torch.distributed's (what mmengine's slurm launcher also does)."""
    os.environ.setdefault("RANK", os.environ["SLURM_PROCID"])
    os.environ.setdefault("WORLD_SIZE", os.environ["SLURM_NTASKS"])
    os.environ.setdefault("LOCAL_RANK", os.environ.get("SLURM_LOCALID", "0"))
    if "MASTER_ADDR" not in os.environ:
        nodes = subprocess.run(["scontrol", "show", "hostnames", os.environ["SLURM_JOB_NODELIST"]],
                               capture_output=True, text=True).stdout.split()
        os.environ["MASTER_ADDR"] = nodes[0] if nodes else "127.0.0.1"
    os.environ.setdefault("MASTER_PORT", "29500")


def setup_distributed(cfg, launcher: str) -> None:
    """Initialise torch.distributed for `launcher` (none: nothing to do); see the module doc."""
    if launcher == "none":
        return
    import torch
    import torch.distributed as dist
    if launcher == "slurm":
        slurm_env()
    cfg.launcher = launcher
    if torch.cuda.is_available():
        return
    dist.init_process_group(backend="gloo")
    cfg.env_cfg.dist_cfg = dict(backend="gloo")
    cfg.model_wrapper_cfg = dict(type="MMDistributedDataParallel", device_ids=None,
                                 find_unused_parameters=cfg.get("find_unused_parameters", False))


