"""Segment AR (Table 6): COCOeval 'segm' with useCats = 0 over the proposals' RLE masks, at
10 / 100 / 1000 proposals per image, with faster-coco-eval (default) or pycocotools (`backend=`).
The procedure (compact per-image mask records, AR a chunk of images at a time, exact) is
harness/evaluation/segm.py, shared with the parity suite and benchmarks/eval_speed.py."""
from __future__ import annotations

from mmdet.registry import METRICS

from harness.evaluation.segm import SegmentARMetric, segment_ar

__all__ = ["SegmentProposalMetric", "segment_ar"]


@METRICS.register_module()
class SegmentProposalMetric(SegmentARMetric):
    """Class-agnostic segment AR (COCOeval 'segm', useCats = 0) with the config's `backend`.

    Keys (prefix 'coco'): segm_AR@<n> for each n of proposal_nums, and segm_AR_s/m/l@<last n>.
    A size bucket with no ground truth gives -1 (pycocotools' convention)."""
