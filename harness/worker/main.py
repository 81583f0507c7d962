"""The process a launcher starts for one row: build MMEngine's Runner, train, test.

    python -m harness.worker RUN_DIR [--launcher none|pytorch|slurm]
    python -m harness.worker RUN_DIR --dump-proposals DIR --checkpoint CKPT [--data-root D] [--launcher ...]

Reads RUN_DIR/config.py (resolved by the orchestrator) and writes RUN_DIR/outcome.json
atomically (rank 0): the test metrics and environment, or a one-line failure reason. An
unfinished earlier attempt (a checkpoint in RUN_DIR/work) is resumed, not restarted."""
from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path

# torch >= 2.6 loads checkpoints with weights_only=True, which refuses MMEngine's checkpoints
# (they pickle the message hub and its history): resume and load_from need the old default.
os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")

from harness.store import RunDir, WorkerOutcome  # noqa: E402


def one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return " ".join(text.split())[:500]


def run(run: RunDir, launcher: str) -> int:
    from mmengine.config import Config
    from mmengine.runner import Runner

    from harness.store.outcome import SETUP_FAILED
    from harness.worker.device_check import SetupFailed, check_device
    from harness.worker.distributed import setup_distributed
    from harness.worker.measure import (environment, inference_time, lr_used, preflight_measures,
                                        track_trained_lr)
    from harness.worker.test_dev import run_test_dev
    from harness.worker.weights import hashed, record_init_loads

    t0 = time.time()
    rank = int(os.environ.get("RANK", os.environ.get("SLURM_PROCID", "0")))
    try:
        cfg = Config.fromfile(str(run.config))
        test_only = bool((cfg.get("harness") or {}).get("test_only"))
        resumed_from = None if test_only else run.checkpoint_iteration()
        cfg.resume = resumed_from is not None  # MMEngine then loads work_dir/last_checkpoint
        if cfg.resume:
            cfg.load_from = None  # else MMEngine would "resume" from an init_from checkpoint
        device = check_device(cfg)   # seconds, not hours into the queue: mmcv ops, GPU driver
        setup_distributed(cfg, launcher)
        runner = Runner.from_cfg(cfg)
        rank = runner.rank
        loaded = record_init_loads(runner)
        if test_only:
            # A merged model (Table 5): every weight must come from the merge, none left at init.
            runner.load_checkpoint(cfg.load_from, strict=True)
        else:
            track_trained_lr(runner)
            runner.train()
        lr = None if test_only else lr_used(runner)
        metrics = runner.test()
        runtime = inference_time(runner)   # before a test-dev pass adds its own timings
        test_dev = run_test_dev(runner, cfg, run)
        if rank == 0:
            WorkerOutcome(status="done", metrics={k: float(v) for k, v in metrics.items()},
                          test_dev=test_dev, iterations=runner.iter,
                          resumed_from_iteration=resumed_from, environment=environment(),
                          runtime=runtime, lr_used=lr,
                          preflight=preflight_measures(runner, cfg, device),
                          train_test_seconds=time.time() - t0,
                          pretrained=hashed(loaded)).write(run.outcome)
        return 0
    except BaseException as exc:  # noqa: BLE001 - every failure must reach the record
        setup = isinstance(exc, SetupFailed)   # its message is the one line, fix included
        if setup:
            print(f"harness.worker: set-up failed: {exc}", file=sys.stderr)
        else:
            traceback.print_exc()
        if rank == 0:
            write_failure(run, WorkerOutcome(
                status=SETUP_FAILED if setup else "failed",
                reason=str(exc) if setup else one_line(exc), train_test_seconds=time.time() - t0,
                diverged_at_iteration=getattr(exc, "diverged_at_iteration", None)))
        return 1


def write_failure(run: RunDir, outcome: WorkerOutcome) -> None:
    """The failed outcome, or, when even that cannot be written (the disk that failed the run is
    full), one line in the log saying so: the orchestrator then reports the missing outcome."""
    try:
        outcome.write(run.outcome)
    except OSError as exc:
        from harness.store.fs import describe
        print(f"harness.worker: cannot write the outcome: {describe(exc)}; the run failed with "
              f"{outcome.reason}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="harness.worker")
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--launcher", default="none", choices=["none", "pytorch", "slurm"])
    ap.add_argument("--dump-proposals", type=Path, metavar="DIR",
                    help="instead of training: dump the RPN's proposals on train and val to DIR")
    ap.add_argument("--checkpoint", help="with --dump-proposals: the RPN checkpoint")
    ap.add_argument("--data-root", type=Path,
                    help="with --dump-proposals: the images to dump for (default: the run's own)")
    args = ap.parse_args(argv)
    rundir = RunDir(args.run_dir)
    if args.dump_proposals:
        from mmengine.config import Config

        from harness.config.resolve import apply_data_root
        from harness.worker.dump import dump_in_worker
        cfg = Config.fromfile(str(rundir.config))
        # The producer's record is reused for any data root (the root is not in the config
        # hash), so the dump reads the data root the consumer asks for, not the one it trained on.
        if args.data_root is not None:
            apply_data_root(cfg, args.data_root)
        dump_in_worker(cfg, args.dump_proposals, args.checkpoint, args.launcher)
        return 0
    return run(rundir, args.launcher)


if __name__ == "__main__":
    sys.exit(main())
