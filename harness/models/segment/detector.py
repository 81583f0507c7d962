"""Backbone + FPN + the mask-proposal head as one mmdet detector (Table 6's model)."""
from __future__ import annotations

from torch import Tensor

from mmdet.models.detectors.base import BaseDetector
from mmdet.registry import MODELS

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


