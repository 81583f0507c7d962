"""Rescaling an iteration schedule: to fewer images per batch, or to a smoke-sized run.

One mechanism for both: learning rate scales linearly with images per batch (Goyal et al.), and
every iteration count in the schedule (max_iters, warm-up end, LR steps) scales by the same
factor, so a shortened run keeps the paper's shape (e.g. 30k/40k -> the step at 75%).

A warm-up never shrinks below MIN_WARMUP_ITERS. MMEngine's LinearLR (by_epoch=False) is active
on iterations begin <= i < end (end exclusive) and ramps over total_iters = end - begin - 1
steps: iteration `begin` runs at start_factor x lr and iteration end - 1 at the full lr. With
end - begin == 1 there is no step to ramp over, so the LR stays at start_factor (0.001 x lr)
for the whole run: the paper's 500-iteration warm-up scaled to an 8-iteration smoke run
(500 x 8/40000 = 0.1) would do exactly that. A scaled warm-up is therefore kept at 2 or more
iterations (one at start_factor, then the full lr), the shortest ramp LinearLR steps through;
a run too short for that (max_iters < 2) drops the warm-up. Either way ScheduleChange says
so (paper_warmup_iters / warmup_iters), and the record carries it."""
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
    paper_warmup_iters: int | None = None   # LinearLR length in the row's config (None: none)
    warmup_iters: int | None = None         # this run's (None: no warm-up, or dropped)

    def as_dict(self) -> dict:
        return asdict(self)


# The shortest LinearLR that reaches its end factor (see the module docstring).
MIN_WARMUP_ITERS = 2


def _scaled(n: int, factor: float) -> int:
    return max(1, round(n * factor))


def _is_warmup(sched) -> bool:
    return sched.get("type") == "LinearLR"


def _rescale_warmup(sched, factor: float, max_iters: int) -> tuple[int, int | None]:
    """Scale a LinearLR warm-up, never below MIN_WARMUP_ITERS; None: dropped (run too short)."""
    begin = int(sched.get("begin", 0))
    paper_len = int(sched["end"]) - begin
    begin = _scaled(begin, factor) if begin else 0
    length = max(MIN_WARMUP_ITERS, _scaled(paper_len, factor))
    if begin + length > max_iters:
        return paper_len, None
    sched["begin"], sched["end"] = begin, begin + length
    return paper_len, length


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
    warmup: tuple[int | None, int | None] = (None, None)
    for sched in list(cfg.param_scheduler):
        if _is_warmup(sched) and sched.get("end") is not None:
            warmup = _rescale_warmup(sched, factor, max_iters)
            if warmup[1] is None:
                cfg.param_scheduler.remove(sched)
            continue
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
                          paper_lr, lr, milestones, *warmup)


def fit_to_batch(cfg, images_per_step: int, paper_images_per_batch: int = 16) -> tuple[ScheduleChange | None, str | None]:
    """Keep the paper's optimisation when a run has fewer images per step than its 16.

    Preferred: accumulate gradients over k = 16 / images_per_step steps. Every row freezes
    BatchNorm (caffe-style ResNet, norm_eval), so k accumulated steps of 16/k images *are* the
    paper's SGD step on 16 images: same LR, same number of updates, not an approximation.
    Iteration counts (which MMEngine counts in forward passes) grow by k. When 16 is not a
    multiple of images_per_step, fall back to linear LR scaling with inversely scaled iterations.
    Returns the change and a one-line deviation for the record (None when nothing changed)."""
    if images_per_step == paper_images_per_batch:
        return None, None
    if images_per_step < paper_images_per_batch and paper_images_per_batch % images_per_step == 0:
        k = paper_images_per_batch // images_per_step
        change = rescale(cfg, images_per_batch=paper_images_per_batch,
                         max_iters=int(cfg.train_cfg.max_iters) * k)
        cfg.optim_wrapper.accumulative_counts = k
        return change, fit_deviation(cfg, images_per_step, paper_images_per_batch)
    change = rescale(cfg, images_per_batch=images_per_step, paper_images_per_batch=paper_images_per_batch)
    return change, fit_deviation(cfg, images_per_step, paper_images_per_batch)


def _accumulated(cfg) -> int:
    return int(cfg.optim_wrapper.get("accumulative_counts", 1) or 1)


def _updates(iters: int, k: int, images_per_step: int) -> str:
    """MMEngine's OptimWrapper also updates at the last iteration when k does not divide it."""
    full, rest = divmod(iters, k)
    text = f"{full} update{'s' * (full != 1)} of {images_per_step * k} images" if full else ""
    if rest:
        text += f" and 1 of {images_per_step * rest}" if full else f"1 update of {images_per_step * rest}"
    return text + (" images" if rest else "")


def fit_deviation(cfg, images_per_step: int, paper_images_per_batch: int = 16) -> str:
    """The record's line for a schedule fitted to fewer images per step, read from the config as
    it stands (after --cfg-options): what the run does, never what the fitting projected."""
    k, iters = _accumulated(cfg), int(cfg.train_cfg.max_iters)
    images = f"{images_per_step} image{'s' * (images_per_step != 1)}"
    if k > 1:
        exact = "the paper's update, exact with frozen BatchNorm" \
            if images_per_step * k == paper_images_per_batch else \
            f"{images_per_step * k} images per update, not the paper's {paper_images_per_batch}"
        return (f"{images} per step instead of {paper_images_per_batch}: gradients accumulated "
                f"over {k} steps ({exact}); {iters} iterations = {_updates(iters, k, images_per_step)}")
    return (f"{images} per batch instead of {paper_images_per_batch}: lr scaled "
            f"linearly to {float(cfg.optim_wrapper.optimizer.lr):g}, {iters} iterations")


def schedule_ran(cfg, images_per_step: int, paper_images_per_batch: int = 16) -> dict:
    """The schedule a run's final config trains (after schedule fitting, --cfg-options and every
    override), for its record: iterations (MMEngine's, forward passes), the LR steps it reaches,
    the images per step and per SGD update. LR steps past the last iteration never happen and
    are not listed."""
    k, iters = _accumulated(cfg), int(cfg.train_cfg.max_iters)
    steps = sorted(m for s in cfg.param_scheduler if "milestones" in s for m in s["milestones"]
                   if m < iters)
    lr = float(cfg.optim_wrapper.optimizer.lr)
    text = f"{iters} iterations of {images_per_step} images"
    if k > 1:
        text += f", {k} per update ({_updates(iters, k, images_per_step)})"
    text += f"; lr {lr:g}, " + (f"stepped at iteration {', '.join(map(str, steps))}" if steps
                               else "no LR step reached")
    return {"max_iters": iters, "milestones": steps, "lr": lr, "images_per_step": images_per_step,
            "accumulative_counts": k, "images_per_batch": images_per_step * k,
            "paper_images_per_batch": paper_images_per_batch, "text": text}
