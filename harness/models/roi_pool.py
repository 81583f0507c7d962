"""RoI pooling that runs where the harness runs.

The paper uses RoI (max) pooling (Sec. 4.2, 5.2.1), mmcv's `RoIPool`. mmcv 2.1 ships that kernel
for CUDA only, so a CPU smoke run of a Table 2/3 row would stop. torchvision's `roi_pool` is the
same Caffe Fast R-CNN algorithm (coordinates rounded, bins max-pooled) and has a CPU kernel.

mmdet's RoI extractors look layer types up as attributes of `mmcv.ops`, not in a registry, so the
layer is published there under its own name, `DeviceRoIPool`, which the paper configs use."""
from __future__ import annotations

import mmcv.ops
import torch
from torch import nn
from torchvision.ops import roi_pool as tv_roi_pool


class DeviceRoIPool(nn.Module):
    """mmcv's RoIPool on CUDA; torchvision's identical algorithm on other devices."""

    def __init__(self, output_size, spatial_scale: float = 1.0):
        super().__init__()
        self.mmcv_pool = mmcv.ops.RoIPool(output_size, spatial_scale)
        self.output_size = self.mmcv_pool.output_size
        self.spatial_scale = float(spatial_scale)

    def forward(self, features: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        if features.is_cuda:
            return self.mmcv_pool(features, rois)
        # rois: (K, 5) = (batch index, x1, y1, x2, y2), the layout both kernels take.
        return tv_roi_pool(features, rois.to(features.dtype), self.output_size, self.spatial_scale)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(output_size={self.output_size}, spatial_scale={self.spatial_scale})"


mmcv.ops.DeviceRoIPool = DeviceRoIPool
