"""The process a launcher starts for one row: build MMEngine's Runner, train, test.

    python -m harness.worker RUN_DIR [--launcher none|pytorch|slurm]

Reads RUN_DIR/config.py (resolved by the orchestrator), writes RUN_DIR/outcome.json atomically
(rank 0): either the test metrics and environment, or a one-line failure reason. An unfinished
earlier attempt (RUN_DIR/work/last_checkpoint) is resumed, not restarted."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # notes §2: mmengine checkpoints

from harness.store.records import write_json_atomic  # noqa: E402


def _environment() -> dict:
    import torch
    from mmengine.dist import get_world_size
    world = get_world_size()
    if torch.cuda.is_available():
        return {"device": f"cuda: {torch.cuda.get_device_name(0)}", "num_gpus": world,
                "world_size": world, "torch_threads": torch.get_num_threads()}
    return {"device": "cpu", "num_gpus": 0, "world_size": world,
            "torch_threads": torch.get_num_threads()}


def _one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return " ".join(text.split())[:500]


def _slurm_env() -> None:
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
    """Multi-process runs. On GPUs, MMEngine's own launchers (nccl). On a CPU they call
    torch.cuda.set_device and fail, so (notes §2) the harness starts a gloo process group first;
    the Runner then finds it initialised and skips its own, and DDP wraps the model without
    device ids."""
    if launcher == "none":
        return
    import torch
    import torch.distributed as dist
    if launcher == "slurm":
        _slurm_env()
    cfg.launcher = launcher
    if torch.cuda.is_available():
        return
    dist.init_process_group(backend="gloo")
    cfg.env_cfg.dist_cfg = dict(backend="gloo")
    cfg.model_wrapper_cfg = dict(type="MMDistributedDataParallel", device_ids=None,
                                 find_unused_parameters=cfg.get("find_unused_parameters", False))


def _runtime(runner, warmup: int = 2) -> dict | None:
    """Inference time per image from the test loop's own timer (MMEngine's IterTimerHook):
    `time` spans a whole iteration (data loading included), `data_time` the loading alone.
    The first `warmup` iterations (allocations, lazy init) are left out."""
    import numpy as np
    hub = runner.message_hub
    try:
        total = np.asarray(hub.get_scalar("test/time").data[0], dtype=float)
        data = np.asarray(hub.get_scalar("test/data_time").data[0], dtype=float)
    except (KeyError, AttributeError):
        return None
    warmup = warmup if len(total) > warmup else 0
    total, data = total[warmup:], data[warmup:]
    if len(total) == 0:
        return None
    batch = int(runner.cfg.test_dataloader.get("batch_size", 1))
    return {"seconds_per_image": float(total.mean() / batch),
            "seconds_per_image_model_only": float((total - data).mean() / batch),
            "batch_size": batch, "images_timed": int(len(total) * batch),
            "warmup_iterations_excluded": warmup}


def _lr_used(runner) -> dict | None:
    """The learning rate MMEngine actually trained with, from its message hub: RuntimeInfoHook
    stores the optimizer's LR (first parameter group, the `lr:` of the log) before every
    training iteration as 'train/lr', and a resumed run restores the earlier iterations' history
    from the checkpoint. The record holds this beside the configured LR, so the two cannot
    silently disagree (a warm-up that never ramps trains at 0.001 x lr: harness/config/schedule.py)."""
    try:
        history = runner.message_hub.get_scalar("train/lr").data[0]
    except (KeyError, AttributeError):
        return None
    values = [float(v) for v in history]
    if not values:
        return None
    return {"first": values[0], "peak": max(values), "last": values[-1]}


def _test_dev(runner, cfg, run_dir: Path) -> dict | None:
    """Table 4: after the minival test, the same model on COCO test-dev with
    CocoMetric(format_only=True): a result file for the COCO server, no local metric. Only when
    the row asks for it (cfg.test_dev) and the data root has test-dev."""
    from harness.orchestrate.proposals import TEST_DEV_ANN, TEST_DEV_IMAGES, has_test_dev
    td = cfg.get("test_dev")
    if td is None or not has_test_dev(Path(cfg.data_root)):
        return None
    loader = cfg.test_dataloader.copy()
    ds = loader.dataset
    ds.ann_file, ds.data_prefix = TEST_DEV_ANN, dict(img=TEST_DEV_IMAGES)
    if ds.get("proposal_file"):
        if not td.get("proposal_file"):
            raise RuntimeError("the data root has test-dev but the RPN's test-dev proposals were "
                               "not dumped; run the row again with --force")
        ds.proposal_file = td.proposal_file
    prefix = run_dir / "test_dev" / "detections_test-dev2017_fpn-repro_results"
    prefix.parent.mkdir(exist_ok=True)
    # Swap the test loop's data and evaluator, then let MMEngine rebuild the loop.
    runner._test_dataloader = loader
    runner._test_evaluator = dict(type="CocoMetric", metric="bbox", format_only=True,
                                  ann_file=str(Path(cfg.data_root) / TEST_DEV_ANN),
                                  outfile_prefix=str(prefix))
    runner._test_loop = dict(type="TestLoop")
    runner.test()
    result = Path(f"{prefix}.bbox.json")
    if not result.is_file():
        raise RuntimeError(f"CocoMetric(format_only=True) wrote no {result}")
    return {"result_file": str(result), "images": len(runner.test_dataloader.dataset),
            "note": "COCO test-dev detections for the evaluation server; not scored locally"}


def _resume_point(work_dir: Path) -> int | None:
    """The iteration of the checkpoint an earlier attempt left, if any."""
    try:
        ckpt = Path((work_dir / "last_checkpoint").read_text().strip())
    except OSError:
        return None
    if not ckpt.exists():
        return None
    stem = ckpt.stem  # iter_4
    return int(stem.split("_")[-1]) if stem.split("_")[-1].isdigit() else 0


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
        from harness.orchestrate.proposals import dump_in_worker
        dump_in_worker(Config.fromfile(str(args.run_dir / "config.py")), args.dump_proposals,
                       args.checkpoint)
        return 0
    out = args.run_dir / "outcome.json"
    t0 = time.time()
    rank = int(os.environ.get("RANK", os.environ.get("SLURM_PROCID", "0")))
    try:
        from mmengine.config import Config
        from mmengine.runner import Runner
        cfg = Config.fromfile(str(args.run_dir / "config.py"))
        test_only = bool(cfg.get("harness_test_only"))
        resumed_from = None if test_only else _resume_point(Path(cfg.work_dir))
        cfg.resume = resumed_from is not None  # MMEngine then loads work_dir/last_checkpoint
        if cfg.resume:
            cfg.load_from = None  # else MMEngine would "resume" from an init_from checkpoint
        setup_distributed(cfg, args.launcher)
        runner = Runner.from_cfg(cfg)
        rank = runner.rank
        if test_only:
            # A merged model (Table 5): every weight must come from the merge, none left at init.
            runner.load_checkpoint(cfg.load_from, strict=True)
        else:
            runner.train()
        lr_used = None if test_only else _lr_used(runner)
        metrics = runner.test()
        runtime = _runtime(runner)   # before a test-dev pass adds its own timings
        test_dev = _test_dev(runner, cfg, Path(args.run_dir))
        if rank == 0:
            write_json_atomic(out, {
                "status": "done",
                "metrics": {k: float(v) for k, v in metrics.items()},
                "test_dev": test_dev,
                "iterations": runner.iter,
                "resumed_from_iteration": resumed_from,
                "lr_used": lr_used,
                "environment": _environment(),
                "runtime": runtime,
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
