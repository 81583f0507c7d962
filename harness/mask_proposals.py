"""Segmentation proposals on an FPN (Lin et al. 2017, Sec. 6 and Appendix A; Table 6).

A dense, fully convolutional DeepMask-style proposer on P2..P6 (d = 128):

    for each MLP m in {5x5, 7x7} (shared by all levels) and each level P_k (stride 2^k):
        h      = ReLU(conv_{m x m}(P_k) -> 512)          the "5x5 kernel with 512 outputs"
        score  = conv1x1(h) -> 1                          objectness of the window at each cell
        mask   = conv1x1(h) -> S*S  (S = 14, or 28)       the mask of that window

A *slot* is one (MLP, level) pair. Its canonical object scale is 32 * 2^(k-2) px for the 5x5 MLP
(32..512 on P2..P6) and sqrt(2) times that for the 7x7 MLP (half octaves); its window (the image
region its mask covers) is 1.25x the canonical scale (25 % padding: 40..640 px, and sqrt(2)
larger for 7x7). The window of cell (y, x) on level k is centred on the cell centre
((x + 0.5) * 2^k, (y + 0.5) * 2^k) in network-input pixels.

Target assignment (``assign_targets``, pure and unit-tested):
  * an object's scale is max(w, h) of its box, snapped to the nearest canonical scale in log2
    space over the slots of the active MLPs (ties go to the smaller scale; objects outside
    32..512*sqrt(2) go to the smallest / largest slot);
  * "+-1 cell" (Appendix A: "whose center falls within 2^k pixels of that location"): the
    object is a positive of every cell of its slot's level whose centre is within 2^k pixels of
    the object's box centre in both x and y (Chebyshev distance <= stride, inclusive). An object
    centred exactly on a cell centre thus owns the 3x3 block around it (fewer at the map border);
    an object centred elsewhere owns 2 or 3 cells per axis;
  * a cell claimed by two objects of the same slot keeps the one whose centre is nearer
    (Euclidean; then the lower ground-truth index);
  * every other cell of every slot is a negative (also cells near the centre of an object whose
    scale maps to another slot): negatives train only the score branch.

Training: 128 sampled cells per image over all slots and levels, at most 25 % positives (1:3),
filled with negatives (as mmdet's RandomSampler); score loss BCE over the samples, mask loss
per-pixel BCE over the positive samples only, weighted x10. The mask target is the object's
mask cropped to the cell's window and resized to S x S (RoIAlign, binarised at 0.5).

Test: scores at every cell of every slot; the 1000 highest over all slots and levels; their
masks (computed only for those cells), pasted into their windows in ORIGINAL image coordinates
(the Resize undone with scale_factor), thresholded at 0.5 and RLE-encoded one at a time inside the
head, so 1000 full-size masks never sit in memory together. No NMS.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torch import Tensor, nn

from mmdet.models.detectors.base import BaseDetector
from mmdet.registry import METRICS, MODELS
from mmdet.structures.bbox import get_box_tensor
from mmdet.structures.mask import BitmapMasks

from harness.evaluation.segm import SegmentARMetric, segment_ar  # noqa: F401 (segment_ar: API)

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


class _MLP(nn.Module):
    """conv k x k -> 512 + ReLU, sibling 1x1 convs to the score (1) and the mask (S*S)."""

    def __init__(self, in_channels: int, kernel: int, hidden: int, mask_size: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, hidden, kernel, padding=kernel // 2)
        self.score = nn.Conv2d(hidden, 1, 1)
        self.mask = nn.Conv2d(hidden, mask_size * mask_size, 1)

    def hidden(self, x: Tensor) -> Tensor:
        return F.relu(self.conv(x))

    def mask_at(self, h: Tensor) -> Tensor:
        """Mask logits of (N, hidden) gathered hidden vectors: the 1x1 conv as a linear layer."""
        w = self.mask.weight.view(self.mask.out_channels, -1)
        return F.linear(h, w, self.mask.bias)


@MODELS.register_module()
class FPNMaskProposalHead(BaseModule):
    """Dense mask-proposal head on FPN P2..P6 (Appendix A). See the module docstring."""

    def __init__(self,
                 in_channels: int = 128,
                 mlps: Sequence[str] = ("5x5", "7x7"),
                 mask_size: int = 14,
                 hidden: int = 512,
                 samples_per_image: int = 128,
                 pos_fraction: float = 0.25,
                 mask_loss_weight: float = 10.0,
                 max_per_img: int = 1000,
                 mask_thr: float = 0.5,
                 train_cfg: dict | None = None,
                 test_cfg: dict | None = None,
                 init_cfg=dict(type="Normal", layer="Conv2d", std=0.01)):
        super().__init__(init_cfg=init_cfg)
        self.mlp_names = tuple(mlps)
        self.slots = make_slots(self.mlp_names)
        self.mask_size = mask_size
        self.samples_per_image = samples_per_image
        self.pos_fraction = pos_fraction
        self.mask_loss_weight = mask_loss_weight
        self.max_per_img = max_per_img
        self.mask_thr = mask_thr
        for key, value in dict(train_cfg or {}).items():
            if key not in ("samples_per_image", "pos_fraction", "mask_loss_weight"):
                raise ValueError(f"unknown train_cfg key {key!r} for FPNMaskProposalHead")
            setattr(self, key, value)
        for key, value in dict(test_cfg or {}).items():
            if key not in ("max_per_img", "mask_thr"):
                raise ValueError(f"unknown test_cfg key {key!r} for FPNMaskProposalHead")
            setattr(self, key, value)
        self.mlps = nn.ModuleDict({m: _MLP(in_channels, MLP_KERNELS[m], hidden, mask_size)
                                   for m in self.mlp_names})

    # ------------------------------------------------------------------ forward
    def forward(self, feats: Sequence[Tensor]) -> dict:
        """feats: P2..P6. Returns {slot: (hidden (B, 512, h, w), score logits (B, h, w))}."""
        if len(feats) != len(LEVELS):
            raise ValueError(f"FPNMaskProposalHead needs the 5 levels P2..P6, got {len(feats)}")
        out = {}
        for slot in self.slots:
            mlp = self.mlps[slot.mlp]
            h = mlp.hidden(feats[slot.level - LEVELS[0]])
            out[slot] = (h, mlp.score(h)[:, 0])
        return out

    # ------------------------------------------------------------------ training
    def loss(self, feats: Sequence[Tensor], batch_data_samples) -> dict:
        out = self.forward(feats)
        device = feats[0].device
        pad_h, pad_w = batch_data_samples[0].metainfo.get(
            "batch_input_shape", tuple(4 * n for n in feats[0].shape[-2:]))
        sizes = {slot.level: tuple(out[slot][1].shape[-2:]) for slot in self.slots}
        slot_index = {(s.mlp, s.level): i for i, s in enumerate(self.slots)}
        offsets = np.cumsum([0] + [sizes[s.level][0] * sizes[s.level][1] for s in self.slots])
        total = int(offsets[-1])

        score_logits, score_labels = [], []
        mask_logits, mask_targets = [], []
        for b, sample in enumerate(batch_data_samples):
            gt = sample.gt_instances
            boxes = get_box_tensor(gt.bboxes)
            assigned = assign_targets(boxes, (pad_h, pad_w), self.slots, sizes)
            # flat index of each positive over all slots and cells
            flat_pos = np.array([offsets[slot_index[(a.mlp, a.level)]]
                                 + a.y * sizes[a.level][1] + a.x for a in assigned], dtype=np.int64)
            n_pos_max = int(self.samples_per_image * self.pos_fraction)
            pick = torch.randperm(len(assigned))[:n_pos_max].tolist()
            chosen = [assigned[i] for i in pick]
            is_pos = torch.zeros(total, dtype=torch.bool)
            is_pos[torch.from_numpy(flat_pos)] = True
            neg_pool = torch.nonzero(~is_pos, as_tuple=False)[:, 0]
            n_neg = min(len(neg_pool), self.samples_per_image - len(chosen))
            neg = neg_pool[torch.randperm(len(neg_pool))[:n_neg]]
            flat_logits = torch.cat([out[s][1][b].reshape(-1) for s in self.slots])
            idx = torch.cat([torch.from_numpy(flat_pos[pick]).long(), neg]).to(device)
            score_logits.append(flat_logits[idx])
            score_labels.append(torch.cat([torch.ones(len(chosen)), torch.zeros(n_neg)]).to(device))
            if not chosen:
                continue
            # mask branch: positives only
            masks = gt.masks
            if not isinstance(masks, BitmapMasks):
                masks = BitmapMasks(masks.to_ndarray(), masks.height, masks.width)
            rois, inds = [], []
            for a in chosen:
                slot = self.slots[slot_index[(a.mlp, a.level)]]
                h = out[slot][0][b, :, a.y, a.x]
                mask_logits.append(self.mlps[a.mlp].mask_at(h[None])[0])
                rois.append(window_boxes(slot, torch.tensor([a.y]), torch.tensor([a.x]))[0])
                inds.append(a.gt)
            target = masks.crop_and_resize(torch.stack(rois).to(device),
                                           (self.mask_size, self.mask_size),
                                           torch.tensor(inds, device=device), device=device)
            mask_targets.append(torch.as_tensor(target.masks, dtype=torch.float32,
                                                device=device).reshape(len(chosen), -1))

        logits = torch.cat(score_logits)
        labels = torch.cat(score_labels)
        loss_score = F.binary_cross_entropy_with_logits(logits, labels, reduction="mean") \
            if len(logits) else logits.sum() * 0
        if mask_logits:
            loss_mask = F.binary_cross_entropy_with_logits(
                torch.stack(mask_logits), torch.cat(mask_targets), reduction="mean")
        else:  # zero positives: no mask loss (kept in the graph for DDP)
            loss_mask = sum(p.sum() for p in self.mlps.parameters()) * 0.0
        return dict(loss_score=loss_score, loss_mask=self.mask_loss_weight * loss_mask,
                    num_pos=torch.tensor(float(len(mask_logits)), device=device))

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def predict(self, feats: Sequence[Tensor], batch_data_samples) -> list[InstanceData]:
        out = self.forward(feats)
        results = []
        for b, sample in enumerate(batch_data_samples):
            meta = sample.metainfo
            flat, owners = [], []
            for i, slot in enumerate(self.slots):
                s = out[slot][1][b]
                flat.append(s.reshape(-1))
                owners.append(torch.full((s.numel(),), i, dtype=torch.long, device=s.device))
            scores_all = torch.cat(flat)
            owner = torch.cat(owners)
            k = min(self.max_per_img, scores_all.numel())
            top_logits, top = scores_all.topk(k)
            sizes = [tuple(out[slot][1].shape[-2:]) for slot in self.slots]
            starts = torch.tensor(np.cumsum([0] + [h * w for h, w in sizes])[:-1],
                                  device=top.device)
            local = top - starts[owner[top]]
            ori_h, ori_w = meta.get("ori_shape", meta.get("img_shape"))[:2]
            sf = meta.get("scale_factor", (1.0, 1.0))
            sx, sy = float(sf[0]), float(sf[1])
            boxes, rles = [], []
            for i in range(len(self.slots)):
                sel = torch.nonzero(owner[top] == i, as_tuple=False)[:, 0]
                if len(sel) == 0:
                    continue
                slot, (fh, fw) = self.slots[i], sizes[i]
                ys, xs = local[sel] // fw, local[sel] % fw
                hid = out[slot][0][b][:, ys, xs].t()
                probs = self.mlps[slot.mlp].mask_at(hid).sigmoid().view(
                    -1, self.mask_size, self.mask_size)
                win = window_boxes(slot, ys, xs).to(probs.device)
                win = win / win.new_tensor([sx, sy, sx, sy])
                pasted = paste_rles(probs, win, int(ori_h), int(ori_w), self.mask_thr)
                for j, box, rle in zip(sel.tolist(), win, pasted):
                    boxes.append((j, box))
                    rles.append((j, rle))
            order_boxes = torch.stack([bx for _, bx in sorted(boxes, key=lambda t: t[0])]) \
                if boxes else torch.zeros((0, 4))
            res = InstanceData()
            res.scores = top_logits.sigmoid()
            res.bboxes = order_boxes.to(res.scores.device)
            res.labels = torch.zeros(k, dtype=torch.long, device=res.scores.device)
            res.masks = [r for _, r in sorted(rles, key=lambda t: t[0])]
            results.append(res)
        return results


@MODELS.register_module()
class FPNSegmentProposer(BaseDetector):
    """Backbone + FPN + FPNMaskProposalHead: Table 6's segmentation-proposal model."""

    def __init__(self, backbone: dict, neck: dict, head: dict, train_cfg: dict | None = None,
                 test_cfg: dict | None = None, data_preprocessor: dict | None = None,
                 init_cfg=None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck)
        head = dict(head)
        if train_cfg:
            head["train_cfg"] = dict(head.get("train_cfg") or {}, **train_cfg)
        if test_cfg:
            head["test_cfg"] = dict(head.get("test_cfg") or {}, **test_cfg)
        self.head = MODELS.build(head)
        self.train_cfg, self.test_cfg = train_cfg, test_cfg

    def extract_feat(self, batch_inputs: Tensor):
        return self.neck(self.backbone(batch_inputs))

    def loss(self, batch_inputs: Tensor, batch_data_samples) -> dict:
        return self.head.loss(self.extract_feat(batch_inputs), batch_data_samples)

    def predict(self, batch_inputs: Tensor, batch_data_samples, rescale: bool = True):
        results = self.head.predict(self.extract_feat(batch_inputs), batch_data_samples)
        for sample, res in zip(batch_data_samples, results):
            sample.pred_instances = res
        return batch_data_samples

    def _forward(self, batch_inputs: Tensor, batch_data_samples=None):
        out = self.head.forward(self.extract_feat(batch_inputs))
        return tuple(score for _, score in out.values())


@METRICS.register_module()
class SegmentProposalMetric(SegmentARMetric):
    """Class-agnostic segment AR (COCOeval 'segm', useCats = 0) with faster-coco-eval or
    pycocotools (`backend=`): harness/evaluation/segm.py.

    Keys (prefix 'coco'): segm_AR@<n> for each n of proposal_nums, and segm_AR_s/m/l@<last n>.
    A size bucket with no ground truth gives -1 (pycocotools' convention)."""
