"""Table 1's #anchors column, computed from each row's own anchor generator.

A level of stride s over an H x W input has ceil(H/s) x ceil(W/s) positions (ResNet's stride-2
convs and P6's stride-2 subsampling all round up), each with the generator's base anchors.
The input is the largest one the row's own test Resize makes, unpadded: shorter side 800 px
(Sec. 5.1) by the longer side's cap, py-faster-rcnn's MAX_SIZE 1000 (the paper is silent on it;
Sec. 5: its code reimplements py-faster-rcnn). This gives 47k / 12k / 200k / 750k for rows
(a) / (b) / (c) / (f), exactly the published column; mmdet's 1333 cap would not.
"""
from __future__ import annotations

import math

from harness.errors import HarnessError

PAPER_INPUT = (800, 1000)  # (h, w): what every row's Resize must make of a wide image


def resize_input(cfg) -> tuple[int, int]:
    """(h, w) of the largest input the test pipeline's Resize makes: (shorter side, long cap)."""
    from harness.config.resolve import _transforms
    scales = [s["scale"] for s in _transforms(cfg.test_dataloader.dataset.pipeline)
              if s.get("type") == "Resize"]
    if not scales:
        raise HarnessError("the row's test pipeline has no Resize: its #anchors input is undefined")
    return min(scales[0]), max(scales[0])


def featmap_sizes(strides, img_hw=PAPER_INPUT) -> list[tuple[int, int]]:
    h, w = img_hw
    return [(math.ceil(h / s), math.ceil(w / s)) for s in strides]


def count_anchors(cfg, img_hw: tuple[int, int] | None = None) -> int:
    """Anchors one image gets from cfg's RPN head at img_hw (default: the row's own input,
    resize_input): per level, one anchor per scale x ratio at every position (mmdet's
    AnchorGenerator without octave scales). Plain arithmetic on the config, so `harness list`
    and the report never import torch; tests/component checks it against mmdet's own generator
    (count_anchors_mmdet) for every row."""
    img_hw = img_hw or resize_input(cfg)
    gen = cfg.model.rpn_head.anchor_generator
    if gen.get("type", "AnchorGenerator") != "AnchorGenerator" or gen.get("octave_base_scale"):
        return count_anchors_mmdet(cfg, img_hw)
    strides = [s[0] if isinstance(s, (tuple, list)) else s for s in gen.strides]
    per_position = len(gen.scales) * len(gen.ratios)
    return sum(per_position * h * w for h, w in featmap_sizes(strides, img_hw))


def count_anchors_mmdet(cfg, img_hw: tuple[int, int] | None = None) -> int:
    """The same count from mmdet's own generator (it decides per level)."""
    img_hw = img_hw or resize_input(cfg)
    from mmdet.registry import TASK_UTILS
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    gen = TASK_UTILS.build(cfg.model.rpn_head.anchor_generator)
    strides = [s[0] if isinstance(s, (tuple, list)) else s for s in gen.strides]
    sizes = featmap_sizes(strides, img_hw)
    return sum(n * h * w for n, (h, w) in zip(gen.num_base_priors, sizes))


def humanize(n: int) -> str:
    return f"{n / 1000:.0f}k" if n >= 1000 else str(n)


def table_anchors(table) -> dict[str, str]:
    """Table 1's #anchors column, humanised, from each runnable row's own config (parsed, never
    built: no torch; cached per config tree by harness/config/row_facts.py)."""
    if "anchors" not in table.columns:
        return {}
    from harness.config.row_facts import row_facts
    return {r.id: row_facts(r)["anchors"] for r in table.runnable_rows}
