"""MMDetection metrics of the harness, computed with a selectable COCO API backend.

`HarnessCocoMetric` (registered in mmdet's METRICS) replaces mmdet's `CocoMetric` in the row
configs for box AP (metric='bbox', Tables 2-5) and proposal AR (metric='proposal', Table 1): the
same keys (bbox_mAP, bbox_mAP_50, ..., AR@100, AR@300, AR@1000, AR_s@1000, ...) with the same
values, rounded to 3 decimals as CocoMetric rounds them, but
  * computed with `backend` = 'faster_coco_eval' (C++ matching; default) or 'pycocotools';
  * from compact per-image records (harness/evaluation/compact.py), not one dict per box;
  * proposal AR a chunk of images at a time (harness/evaluation/engine.py: exact);
  * no JSON round trip of the predictions (CocoMetric dumps and reloads them).
The ground truth is loaded on rank 0 only, when the metric is computed.
Segment AR (Table 6) is `SegmentProposalMetric` (harness/models/segment/metric.py), built on
`SegmentARMetric` (harness/evaluation/segm.py).
"""
from __future__ import annotations

import os
from typing import Sequence

from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mmdet.registry import METRICS

from .backends import DEFAULT_BACKEND, check_name, get_api
from .compact import BoxRecord, box_anns, pack_boxes
from .engine import (DEFAULT_CHUNK_IMAGES, average_precision, average_recall, check_images,
                     group_by_image)

# COCOeval.summarize's stats, as CocoMetric names them
AP_KEYS = ("mAP", "mAP_50", "mAP_75", "mAP_s", "mAP_m", "mAP_l")


class BackendMetric(BaseMetric):
    """Shared by the harness's metrics: backend choice, annotation file, maxDets."""

    default_prefix = "coco"

    def __init__(self, ann_file: str, proposal_nums: Sequence[int], backend: str = DEFAULT_BACKEND,
                 chunk_images: int = DEFAULT_CHUNK_IMAGES, collect_device: str = "cpu",
                 prefix: str | None = None, backend_args: dict | None = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.backend = check_name(backend)
        self.api = get_api(self.backend)     # fails here, before any test, if not installed
        # backend_args: mmengine's file backend for ann_file (mmdet's base configs set None)
        if not ann_file or (backend_args is None and not os.path.isfile(ann_file)):
            raise FileNotFoundError(f"{type(self).__name__}: annotation file {ann_file!r} not found")
        self.ann_file = ann_file
        self.backend_args = backend_args
        nums = tuple(int(n) for n in proposal_nums)
        if len(nums) != 3 or list(nums) != sorted(set(nums)) or nums[0] < 1:
            raise ValueError(f"proposal_nums must be 3 increasing counts (COCOeval's maxDets), "
                             f"got {tuple(proposal_nums)}")
        self.proposal_nums = nums
        self.chunk_images = int(chunk_images)

    def load_gt(self):
        """The ground truth, in the backend's COCO class (on rank 0, when computing)."""
        from mmengine.fileio import get_local_path
        with get_local_path(self.ann_file, backend_args=self.backend_args) as path:
            return self.api.load(path)

    def _log(self, keys_values: dict) -> None:
        MMLogger.get_current_instance().info(
            f"{type(self).__name__} ({self.api.name} {self.api.version}): "
            + ", ".join(f"{k} {v:.4f}" for k, v in keys_values.items()))


@METRICS.register_module()
class HarnessCocoMetric(BackendMetric):
    """Box AP (metric='bbox') or class-agnostic proposal AR (metric='proposal') on COCO."""

    def __init__(self, ann_file: str, metric: str = "bbox",
                 proposal_nums: Sequence[int] = (100, 300, 1000), format_only: bool = False,
                 backend: str = DEFAULT_BACKEND, chunk_images: int = DEFAULT_CHUNK_IMAGES,
                 collect_device: str = "cpu", prefix: str | None = None,
                 backend_args: dict | None = None):
        super().__init__(ann_file, proposal_nums, backend, chunk_images, collect_device, prefix,
                         backend_args)
        if metric not in ("bbox", "proposal"):
            raise ValueError(f"HarnessCocoMetric: metric must be 'bbox' or 'proposal', got "
                             f"{metric!r} (mmdet's CocoMetric has the others)")
        if format_only:
            raise ValueError("HarnessCocoMetric does not write result files; use mmdet's "
                             "CocoMetric(format_only=True)")
        self.metric = metric

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for ds in data_samples:
            pred = ds["pred_instances"]
            self.results.append(pack_boxes(ds["img_id"], pred["bboxes"], pred["scores"],
                                           pred["labels"]))

    def compute_metrics(self, results: list) -> dict:
        logger = MMLogger.get_current_instance()
        gt = self.load_gt()
        classes = (self.dataset_meta or {}).get("classes")
        # as CocoMetric: label i is the i-th category (in the file's order) named in classes
        cat_ids = gt.getCatIds(catNms=list(classes)) if classes else sorted(gt.getCatIds())
        img_ids = gt.getImgIds()
        # mmengine's evaluate() turns every tuple of the gathered results into a plain tuple
        by_image = group_by_image(BoxRecord(*r) for r in results)
        check_images(by_image, img_ids)

        def to_anns(rec, first_id):
            return box_anns(rec, cat_ids, first_id)

        if self.metric == "proposal":
            ar = average_recall(self.api, gt, "bbox", by_image, img_ids, cat_ids,
                                self.proposal_nums, to_anns, self.chunk_images)
            n = self.proposal_nums
            raw = {f"AR@{n[0]}": ar[0, 0], f"AR@{n[1]}": ar[0, 1], f"AR@{n[2]}": ar[0, 2],
                   f"AR_s@{n[2]}": ar[1, 2], f"AR_m@{n[2]}": ar[2, 2], f"AR_l@{n[2]}": ar[3, 2]}
            out = {k: float(f"{v:.3f}") for k, v in raw.items()}           # as CocoMetric
        else:
            stats = average_precision(self.api, gt, by_image, img_ids, cat_ids,
                                      self.proposal_nums, to_anns, logger)
            out = {f"bbox_{k}": float(f"{round(v, 3)}") for k, v in zip(AP_KEYS, stats)}
        self._log(out)
        return out
