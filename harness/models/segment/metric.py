"""Segment AR (Table 6): pycocotools' segm evaluation with useCats=0 over the proposals' RLE
masks, at 10 / 100 / 1000 proposals per image."""
from __future__ import annotations

from typing import Sequence

from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mmdet.registry import METRICS

@METRICS.register_module()
class SegmentProposalMetric(BaseMetric):
    """Class-agnostic segment AR with pycocotools (COCOeval 'segm', useCats = 0).

    Keys (prefix 'coco'): segm_AR@<n> for each n of proposal_nums, and segm_AR_s/m/l@<last n>.
    A size bucket with no ground truth gives -1 (pycocotools' convention)."""

    default_prefix = "coco"

    def __init__(self, ann_file: str, proposal_nums: Sequence[int] = (10, 100, 1000),
                 collect_device: str = "cpu", prefix: str | None = None, **kwargs):
        super().__init__(collect_device=collect_device, prefix=prefix)
        if len(proposal_nums) != 3:
            raise ValueError("proposal_nums must have 3 entries (pycocotools' maxDets)")
        self.ann_file = ann_file
        self.proposal_nums = tuple(int(n) for n in proposal_nums)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for ds in data_samples:
            pred = ds["pred_instances"]
            scores = pred["scores"]
            scores = scores.tolist() if hasattr(scores, "tolist") else list(scores)
            self.results.append(dict(img_id=int(ds["img_id"]), scores=scores,
                                     masks=list(pred["masks"])))

    def compute_metrics(self, results: list) -> dict:
        return segment_ar(self.ann_file, results, self.proposal_nums,
                          logger=MMLogger.get_current_instance())


def segment_ar(ann_file: str, results: list, proposal_nums=(10, 100, 1000), logger=None) -> dict:
    """results: [{img_id, scores, masks (RLE dicts)}]. Returns the segm_AR keys (fractions)."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(ann_file)
    cat = sorted(gt.getCatIds())[0]   # any valid category: useCats = 0 ignores it
    dets = []
    for r in results:
        for score, rle in zip(r["scores"], r["masks"]):
            dets.append(dict(image_id=r["img_id"], category_id=cat, score=float(score),
                             segmentation=rle))
    n1 = proposal_nums[-1]
    keys = [f"segm_AR@{n}" for n in proposal_nums] + \
        [f"segm_AR_{s}@{n1}" for s in ("s", "m", "l")]
    if not dets:
        return {k: 0.0 for k in keys}
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        dt = gt.loadRes(dets)
        ev = COCOeval(gt, dt, "segm")
        ev.params.imgIds = sorted({r["img_id"] for r in results})
        ev.params.useCats = 0
        ev.params.maxDets = list(proposal_nums)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    if logger is not None:
        logger.info("\n" + buf.getvalue())
    # COCOeval.summarize for 'segm': stats[6..8] AR at maxDets[0..2], stats[9..11] AR_s/m/l at
    # maxDets[2].
    return dict(zip(keys, (float(ev.stats[i]) for i in (6, 7, 8, 9, 10, 11))))
