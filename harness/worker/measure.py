"""What a preflight run measures in the worker (outcome.json's `preflight`): seconds per training
iteration from MMEngine's own timer, and the process's peak memory.

MMEngine's IterTimerHook puts each iteration's wall time (data loading included) into the message
hub as `<phase>/time`; the first iterations (allocations, cuDNN autotuning, data loader start) are
left out, as in the test-time measurement of harness/worker/main.py."""
from __future__ import annotations

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
    spec = cfg.get("harness_preflight")
    if not spec:
        return None
    train = iteration_seconds(runner, "train") if not cfg.get("harness_test_only") else None
    out = {"iterations": int(spec["iterations"]), "full_max_iters": int(spec["full_max_iters"]),
           "seconds_per_iter": train[0] if train else None,
           "iterations_timed": train[1] if train else 0,
           "warmup_iterations_excluded": train[2] if train else 0,
           "device": device}
    out.update(peak_memory(device))
    return out
