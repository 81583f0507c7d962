"""Table 6's slots (one MLP on one pyramid level) and target assignment (Appendix A), pure
functions of boxes and shapes: harness/models/segment/__init__.py states the rules."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np
from torch import Tensor

LEVELS = (2, 3, 4, 5, 6)                  # P2..P6
MLP_KERNELS = {"5x5": 5, "7x7": 7}
BASE_SCALE = 32.0                          # canonical 5x5 scale on P2
PADDING = 1.25                             # 25 % padding around the canonical object size



@dataclass(frozen=True)
class Slot:
    """One (MLP, pyramid level) pair: the unit a ground-truth object is assigned to."""
    mlp: str        # '5x5' or '7x7'
    level: int      # k of P_k

    @property
    def stride(self) -> int:
        return 2 ** self.level

    @property
    def scale(self) -> float:
        """Canonical object scale, max(w, h) in input pixels."""
        s = BASE_SCALE * 2.0 ** (self.level - 2)
        return s * math.sqrt(2.0) if self.mlp == "7x7" else s

    @property
    def window(self) -> float:
        """Side of the image region the mask covers (25 % padding)."""
        return PADDING * self.scale


def make_slots(mlps: Sequence[str] = ("5x5", "7x7"), levels: Sequence[int] = LEVELS) -> list[Slot]:
    """The slots of the active MLPs, in (mlp, level) order."""
    for m in mlps:
        if m not in MLP_KERNELS:
            raise ValueError(f"unknown MLP {m!r}; valid: {', '.join(MLP_KERNELS)}")
    if len(set(mlps)) != len(mlps) or not mlps:
        raise ValueError(f"mlps must be a non-empty list of distinct MLPs, got {mlps!r}")
    return [Slot(m, k) for m in mlps for k in levels]


class Assignment(NamedTuple):
    mlp: str
    level: int
    y: int
    x: int
    gt: int


def featmap_size(img_shape: tuple[int, int], stride: int) -> tuple[int, int]:
    return (int(math.ceil(img_shape[0] / stride)), int(math.ceil(img_shape[1] / stride)))


def slot_of_scale(scale: float, slots: Sequence[Slot]) -> int:
    """Index of the slot whose canonical scale is nearest to `scale` in log2 space."""
    logs = np.log2([s.scale for s in slots])
    d = np.abs(logs - math.log2(max(float(scale), 1e-6)))
    best = np.flatnonzero(np.isclose(d, d.min(), rtol=0, atol=1e-9))
    return int(min(best, key=lambda i: slots[i].scale))


def assign_targets(gt_boxes, img_shape: tuple[int, int], slots: Sequence[Slot],
                   featmap_sizes: dict[int, tuple[int, int]] | None = None) -> list[Assignment]:
    """Positive cells of each ground-truth object (see the module docstring for the rules).

    gt_boxes: (N, 4) x1, y1, x2, y2 in network-input pixels. img_shape: (h, w) of the network
    input (padded batch shape); the map of level k is ceil(h / 2^k) x ceil(w / 2^k) unless
    featmap_sizes gives it. Returns one Assignment per positive (slot, cell), sorted.
    """
    boxes = np.asarray(gt_boxes.detach().cpu() if isinstance(gt_boxes, Tensor) else gt_boxes,
                       dtype=np.float64).reshape(-1, 4)
    claims: dict[tuple[str, int, int, int], tuple[float, int]] = {}
    for gi, (x1, y1, x2, y2) in enumerate(boxes):
        w, h = x2 - x1, y2 - y1
        if w <= 0 or h <= 0:
            continue
        slot = slots[slot_of_scale(max(w, h), slots)]
        s = slot.stride
        fh, fw = (featmap_sizes or {}).get(slot.level) or featmap_size(img_shape, s)
        cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
        # cells whose centre (i + 0.5) * s lies within s of the object centre (inclusive)
        eps = 1e-9
        xs = range(max(0, math.ceil((cx - s) / s - 0.5 - eps)),
                   min(fw - 1, math.floor((cx + s) / s - 0.5 + eps)) + 1)
        ys = range(max(0, math.ceil((cy - s) / s - 0.5 - eps)),
                   min(fh - 1, math.floor((cy + s) / s - 0.5 + eps)) + 1)
        for y in ys:
            for x in xs:
                d = math.hypot((x + 0.5) * s - cx, (y + 0.5) * s - cy)
                key = (slot.mlp, slot.level, y, x)
                if key not in claims or (d, gi) < claims[key]:
                    claims[key] = (d, gi)
    return sorted(Assignment(*key, gt=gi) for key, (_, gi) in claims.items())


