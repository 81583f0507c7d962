"""The dense mask-proposal head on P2..P6 (Appendix A): per MLP, a k x k conv to 512 + ReLU and
sibling 1x1 convs to the window's score and S x S mask; its training loss and its test-time top-k
proposals."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torch import Tensor, nn

from mmdet.registry import MODELS
from mmdet.structures.bbox import get_box_tensor
from mmdet.structures.mask import BitmapMasks

from harness.models.segment.assign import LEVELS, MLP_KERNELS, assign_targets, make_slots
from harness.models.segment.paste import paste_rles, window_boxes

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
                slot, (_, fw) = self.slots[i], sizes[i]
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


