"""Rescaling an iteration schedule: to fewer images per batch, or to a smoke-sized run.

One mechanism for both: learning rate scales linearly with images per batch (Goyal et al.), and
every iteration count in the schedule (max_iters, warm-up end, LR steps) scales by the same
factor, so a shortened run keeps the paper's shape (e.g. 30k/40k -> the step at 75%)."""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ScheduleChange:
    paper_images_per_batch: int
    images_per_batch: int
    paper_max_iters: int
    max_iters: int
    paper_lr: float
    lr: float
    milestones: list[int]

    def as_dict(self) -> dict:
        return asdict(self)


def _scaled(n: int, factor: float) -> int:
    return max(1, round(n * factor))


def rescale(cfg, images_per_batch: int, max_iters: int | None = None,
            paper_images_per_batch: int = 16) -> ScheduleChange:
    """Rescale cfg's IterBasedTrainLoop schedule in place.

    images_per_batch: the run's total batch (per-GPU batch x processes).
    max_iters: an explicit length (smoke); default: inverse to the batch (same epochs as paper).
    """
    loop = cfg.train_cfg
    if loop.get("type") != "IterBasedTrainLoop":
        raise ValueError("rescale() needs an IterBasedTrainLoop schedule")
    paper_iters = int(loop.max_iters)
    if max_iters is None:
        max_iters = _scaled(paper_iters, paper_images_per_batch / images_per_batch)
    factor = max_iters / paper_iters
    loop.max_iters = max_iters
    loop.val_interval = max_iters
    milestones: list[int] = []
    for sched in cfg.param_scheduler:
        for key in ("begin", "end"):
            if key in sched and sched[key] not in (0, None):
                sched[key] = min(_scaled(sched[key], factor), max_iters)
        if "milestones" in sched:
            sched["milestones"] = [_scaled(m, factor) for m in sched["milestones"]]
            milestones = list(sched["milestones"])
    paper_lr = float(cfg.optim_wrapper.optimizer.lr)
    lr = paper_lr * images_per_batch / paper_images_per_batch
    cfg.optim_wrapper.optimizer.lr = lr
    ckpt = cfg.default_hooks.get("checkpoint")
    if ckpt is not None:
        ckpt["interval"] = min(int(ckpt.get("interval", max_iters)), max_iters)
    return ScheduleChange(paper_images_per_batch, images_per_batch, paper_iters, max_iters,
                          paper_lr, lr, milestones)
