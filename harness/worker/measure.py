"""What the worker measures about its own run, besides the metrics: the environment it ran in
and the inference time per image (from MMEngine's test-loop timer)."""
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


