"""A mask proposal's S x S mask pasted into its window of the image, binarised and RLE-encoded,
one full-size mask at a time (1000 proposals x full-size masks never sit in memory)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from harness.models.segment.assign import Slot

def window_boxes(slot: Slot, ys: Tensor, xs: Tensor) -> Tensor:
    """(N, 4) windows x1, y1, x2, y2 (input pixels) of cells (ys, xs) of a slot."""
    s, half = float(slot.stride), slot.window / 2.0
    cx = (xs.to(torch.float32) + 0.5) * s
    cy = (ys.to(torch.float32) + 0.5) * s
    return torch.stack([cx - half, cy - half, cx + half, cy + half], dim=1)


def paste_rles(mask_probs: Tensor, boxes, img_h: int, img_w: int, thr: float = 0.5,
               chunk: int = 64) -> list[dict]:
    """Paste S x S masks (probabilities, (N, S, S)) into their windows `boxes` ((N, 4) x1, y1,
    x2, y2 in image pixels, may extend past the image) of an img_h x img_w image, binarise at
    `thr` and return their COCO RLEs (`counts` as str). Windows of one size are upsampled
    together, `chunk` at a time; one full-size mask exists at a time, for encoding."""
    import pycocotools.mask as mask_util
    boxes = [[float(v) for v in box] for box in
             (boxes.tolist() if isinstance(boxes, Tensor) else boxes)]
    groups: dict[tuple[int, int], list[int]] = {}
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        groups.setdefault((max(1, int(round(y2 - y1))), max(1, int(round(x2 - x1)))), []).append(i)
    out: list = [None] * len(boxes)
    full = np.zeros((img_h, img_w), dtype=np.uint8, order="F")
    for (bh, bw), idx in groups.items():
        for c in range(0, len(idx), chunk):
            ids = idx[c:c + chunk]
            up = F.interpolate(mask_probs[ids][:, None].float(), size=(bh, bw), mode="bilinear",
                               align_corners=False)[:, 0] >= thr
            up = up.cpu().numpy()
            for k, i in enumerate(ids):
                ox, oy = int(round(boxes[i][0])), int(round(boxes[i][1]))
                # the part of the window inside the image, in window pixels
                wx0, wy0 = max(0, -ox), max(0, -oy)
                wx1, wy1 = min(bw, img_w - ox), min(bh, img_h - oy)
                inside = wx1 > wx0 and wy1 > wy0
                if inside:
                    full[oy + wy0:oy + wy1, ox + wx0:ox + wx1] = up[k, wy0:wy1, wx0:wx1]
                rle = mask_util.encode(full)
                if inside:
                    full[oy + wy0:oy + wy1, ox + wx0:ox + wx1] = 0
                counts = rle["counts"]
                rle["counts"] = counts.decode() if isinstance(counts, bytes) else counts
                out[i] = rle
    return out


def paste_rle(mask_prob: Tensor, box: Sequence[float], img_h: int, img_w: int,
              thr: float = 0.5) -> dict:
    """paste_rles for one mask."""
    return paste_rles(mask_prob[None], [box], img_h, img_w, thr)[0]


