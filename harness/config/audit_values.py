"""What a resolved MMDetection config does, read back in the paper's and py-faster-rcnn's terms
(for `harness audit`: harness/config/audit.py). Each reader takes a resolved config and returns a
plain value to compare with the paper's; mmdet semantics that decide the value are noted."""
from __future__ import annotations

from pathlib import Path

from harness.config.resolve import _pipelines, _transforms


def frozen(cfg) -> str:
    """Steps 3-4 of the 4-step training keep backbone and FPN fixed (Ren et al. [29])."""
    backbone = cfg.model.backbone.get("frozen_stages", -1) >= 4
    keys = (cfg.optim_wrapper.get("paramwise_cfg") or {}).get("custom_keys") or {}
    neck = keys.get("neck", {}).get("lr_mult", 1) == 0 and keys.get("neck", {}).get("decay_mult", 1) == 0
    return "frozen" if backbone and neck else "trained" if not (backbone or neck) else \
        f"backbone {'frozen' if backbone else 'trained'}, FPN {'frozen' if neck else 'trained'}"


def resize_sides(cfg, side=min) -> list[int]:
    """The shorter (side=min) or the capped longer side (max) of every Resize, train and test."""
    return sorted({side(s["scale"]) for p in _pipelines(cfg) for s in _transforms(p)
                   if s.get("type") == "Resize"})


# ---- settings the paper leaves to py-faster-rcnn (lib/fast_rcnn/config.py, unless named) --------

def rpn_levels(cfg) -> int:
    return len(cfg.model.rpn_head.anchor_generator.strides)


def pre_nms(cfg):
    """mmdet's nms_pre is per level (RPNHead._predict_by_feat_single); <= 0 keeps every box.
    Both proposal dumps use the one test_cfg.rpn (harness/worker/dump.py: dump_in_worker)."""
    n = cfg.model.test_cfg.rpn.get("nms_pre", -1)
    if n is None or n <= 0:
        return "all"
    return f"{n} per level" if rpn_levels(cfg) > 1 else n


def min_size(cfg) -> str:
    """mmdet filters w, h > min_bbox_size after rescaling to the original image when predicting
    with rescale=True (an RPN's test and dumps), at the network input in a two-stage detector
    (it calls the RPN with rescale=False). py-faster-rcnn: >= 16 px of the original image."""
    n = cfg.model.test_cfg.rpn.get("min_bbox_size", -1)
    where = "original image" if cfg.model.type == "RPN" else "network input"
    return "none" if n is None or n < 0 else f"{n:g} px ({where})"


def roi_iou(cfg) -> tuple[str, str]:
    """(foreground, background) IoU of the RoI assigner. mmdet's MaxIoUAssigner marks max IoU in
    [lo, hi) negative for a tuple, [0, x) for a float, and none at all for anything else."""
    a = cfg.model.train_cfg.rcnn.assigner
    fg = f">= {a.pos_iou_thr:g}"
    if a.get("match_low_quality", True) and a.get("min_pos_iou", 0.0) < a.pos_iou_thr:
        fg += f" or a box's best >= {a.min_pos_iou:g}"
    neg = a.neg_iou_thr
    if isinstance(neg, tuple) and len(neg) == 2:
        return fg, f"[{neg[0]:g}, {neg[1]:g})"
    if isinstance(neg, (int, float)):
        return fg, f"[0, {neg:g})"
    return fg, f"{neg!r}: no negatives (mmdet takes a float or a tuple)"


def box_coders(cfg) -> list[str]:
    heads = [cfg.model.get("rpn_head"), (cfg.model.get("roi_head") or {}).get("bbox_head")]
    return sorted({h.bbox_coder.type for h in heads if h and h.get("bbox_coder")})


def warmup(cfg) -> str:
    ramps = [s for s in cfg.param_scheduler if s.get("type") == "LinearLR"]
    return "none" if not ramps else ", ".join(
        f"linear, {r.end - r.get('begin', 0)} iterations from {r.start_factor:g} x lr" for r in ramps)


def train_split(cfg) -> str:
    return Path(cfg.train_dataloader.dataset.ann_file).stem.removeprefix("instances_")


def lateral_top_down(cfg) -> tuple[bool, bool]:
    neck = cfg.model.get("neck")
    if neck is None:
        return (False, False)
    if neck.type == "FPN":
        return (True, True)
    defaults = {"PaperFPN": (True, True), "BottomUpPyramid": (True, False),
                "TopDownNoLateral": (False, True)}[neck.type]
    return (neck.get("lateral", defaults[0]), neck.get("top_down", defaults[1]))


def anchor_sizes(cfg) -> list[int]:
    g = cfg.model.rpn_head.anchor_generator
    return sorted({int(s * sc) for s in g.strides for sc in g.scales}) if len(g.strides) > 1 or \
        len(g.scales) > 1 else [int(g.strides[0] * g.scales[0])]


def _iters(n: int) -> str:
    return f"{n / 1000:g}k" if n >= 1000 else str(n)


def schedule(cfg) -> str:
    """Iterations per LR, counted in SGD updates as the paper counts them: k accumulated steps
    (harness/config/schedule.py fit_to_batch) are one update. An LR step past the last
    iteration never happens and is not part of the schedule (a shortened run: "2 iterations")."""
    k = int(cfg.optim_wrapper.get("accumulative_counts", 1) or 1)
    end = cfg.train_cfg.max_iters
    steps = [m for s in cfg.param_scheduler if "milestones" in s for m in s["milestones"] if m < end]
    bounds = [0, *steps, end]
    phases = [b - a for a, b in zip(bounds, bounds[1:])]
    if any(p % k for p in phases):
        return " + ".join(map(_iters, phases)) + f" iterations, {k} per update"
    return " + ".join(_iters(p // k) for p in phases)
