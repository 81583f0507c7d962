"""The process a launcher starts for one row: build MMEngine's Runner, train, test.

    python -m harness.worker RUN_DIR [--launcher none|pytorch|slurm]

Reads RUN_DIR/config.py (resolved by the orchestrator), writes RUN_DIR/outcome.json atomically
(rank 0): either the test metrics and environment, or a one-line failure reason."""
from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path

os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # notes §2: mmengine checkpoints

from .store import write_json_atomic  # noqa: E402


def _environment(runner) -> dict:
    import torch
    from mmengine.dist import get_world_size
    if torch.cuda.is_available():
        device = f"cuda: {torch.cuda.get_device_name(0)}"
        gpus = get_world_size()
    else:
        device = "cpu"
        gpus = 0
    return {"device": device, "num_gpus": gpus, "world_size": get_world_size(),
            "torch_threads": torch.get_num_threads()}


def _one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return " ".join(text.split())[:500]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="harness.worker")
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--launcher", default="none", choices=["none", "pytorch", "slurm"])
    ap.add_argument("--dump-proposals", type=Path, metavar="DIR",
                    help="instead of training: dump the RPN's proposals on train and val to DIR")
    ap.add_argument("--checkpoint", help="with --dump-proposals: the RPN checkpoint")
    args = ap.parse_args(argv)
    if args.dump_proposals:
        from mmengine.config import Config
        from .proposals import dump_in_worker
        dump_in_worker(Config.fromfile(str(args.run_dir / "config.py")), args.dump_proposals,
                       args.checkpoint)
        return 0
    out = args.run_dir / "outcome.json"
    t0 = time.time()
    rank = 0
    try:
        from mmengine.config import Config
        from mmengine.runner import Runner
        cfg = Config.fromfile(str(args.run_dir / "config.py"))
        cfg.launcher = args.launcher
        runner = Runner.from_cfg(cfg)
        rank = runner.rank
        runner.train()
        metrics = runner.test()
        if rank == 0:
            write_json_atomic(out, {
                "status": "done",
                "metrics": {k: float(v) for k, v in metrics.items()},
                "iterations": runner.iter,
                "environment": _environment(runner),
                "train_test_seconds": time.time() - t0,
            })
        return 0
    except BaseException as exc:  # noqa: BLE001 - every failure must reach the record
        traceback.print_exc()
        if rank == 0:
            write_json_atomic(out, {"status": "failed", "reason": _one_line(exc),
                                    "train_test_seconds": time.time() - t0})
        return 1


if __name__ == "__main__":
    sys.exit(main())
