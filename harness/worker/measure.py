"""What the worker measures about its own run, besides the metrics: the environment it ran in,
the inference time per image (from MMEngine's test-loop timer), and for a preflight run
(outcome.json's `preflight`) seconds per training iteration and the process's peak memory.

MMEngine's IterTimerHook puts each iteration's wall time (data loading included) into the message
hub as `<phase>/time`; the first iterations (allocations, cuDNN autotuning, data loader start) are
left out."""
from __future__ import annotations


def environment() -> dict:
    import torch
    from mmengine.dist import get_world_size
    world = get_world_size()
    if torch.cuda.is_available():
        return {"device": f"cuda: {torch.cuda.get_device_name(0)}", "num_gpus": world,
                "world_size": world, "torch_threads": torch.get_num_threads()}
    return {"device": "cpu", "num_gpus": 0, "world_size": world,
            "torch_threads": torch.get_num_threads()}


def inference_time(runner, warmup: int = 2) -> dict | None:
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

import resource


def iteration_seconds(runner, phase: str, warmup: int = 2) -> tuple[float, int, int] | None:
    """(mean seconds per iteration, iterations timed, iterations left out) of `phase`."""
    import numpy as np
    try:
        times = np.asarray(runner.message_hub.get_scalar(f"{phase}/time").data[0], dtype=float)
    except (KeyError, AttributeError):
        return None
    if len(times) == 0:
        return None
    warmup = max(0, min(warmup, len(times) - 1))   # keep at least one iteration
    return float(times[warmup:].mean()), int(len(times) - warmup), warmup


def peak_memory(device: str) -> dict:
    """This process's peak memory: GPU memory the caching allocator handed out on CUDA, the
    resident set size on a CPU."""
    if device.startswith("cuda"):
        import torch
        return {"peak_memory_mb": round(torch.cuda.max_memory_allocated(device) / 2**20, 1),
                "peak_memory_reserved_mb": round(torch.cuda.max_memory_reserved(device) / 2**20, 1),
                "memory_kind": "GPU (torch.cuda.max_memory_allocated)"}
    # Linux reports ru_maxrss in KiB
    return {"peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "memory_kind": "RSS (ru_maxrss)"}


def preflight_measures(runner, cfg, device: str) -> dict | None:
    """Only for preflight configs (harness/config/resolve.py: stop_early)."""
    spec = (cfg.get("harness") or {}).get("preflight")
    if not spec:
        return None
    train = iteration_seconds(runner, "train") if not (cfg.get("harness") or {}).get("test_only") else None
    out = {"iterations": int(spec["iterations"]), "full_max_iters": int(spec["full_max_iters"]),
           "seconds_per_iter": train[0] if train else None,
           "iterations_timed": train[1] if train else 0,
           "warmup_iterations_excluded": train[2] if train else 0,
           "device": device}
    out.update(peak_memory(device))
    return out


# The highest LR over the optimizer's parameter groups before each training iteration. MMEngine
# logs only the first group's ('train/lr', the log's `lr:`), which in Table 5's steps 3-4 is the
# frozen FPN's (lr_mult 0, the frozen backbone has no group): 0.0 while the heads train at lr.
TRAINED_LR = "train/trained_lr"


def track_trained_lr(runner) -> None:
    """Log TRAINED_LR beside MMEngine's 'train/lr', at the same point (before the iteration, as
    RuntimeInfoHook does). In the message hub, so a resumed run restores the earlier iterations'
    history from its checkpoint, and the log shows it as `trained_lr:`."""
    from mmengine.hooks import Hook

    class TrainedLr(Hook):
        def before_train_iter(self, runner, batch_idx, data_batch=None):
            lrs = [lr for group in runner.optim_wrapper.get_lr().values() for lr in group]
            runner.message_hub.update_scalar(TRAINED_LR, max(lrs))

    runner.register_hook(TrainedLr(), priority="VERY_HIGH")


def lr_used(runner) -> dict | None:
    """The learning rate MMEngine actually trained with (TRAINED_LR's history), for the record
    beside the configured LR, so that the two cannot silently disagree (a warm-up that never
    ramps trains at 0.001 x lr: harness/config/schedule.py)."""
    try:
        history = runner.message_hub.get_scalar(TRAINED_LR).data[0]
    except (KeyError, AttributeError):
        return None
    values = [float(v) for v in history]
    if not values:
        return None
    return {"first": values[0], "peak": max(values), "last": values[-1]}
