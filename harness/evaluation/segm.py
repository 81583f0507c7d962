"""Segment AR (Table 6): class-agnostic COCOeval 'segm' (useCats = 0) on mask proposals.

Keys (prefix 'coco'): segm_AR@<n> for each n of proposal_nums and segm_AR_s/m/l@<last n>, as
fractions; a size bucket without ground truth gives -1 (pycocotools' convention); no mask at all
gives 0.0 everywhere. Each image's masks are kept as one compact record (RLE counts as bytes,
harness/evaluation/compact.py) and evaluated a chunk of images at a time
(harness/evaluation/engine.py), so rank 0 never holds a decoded mask nor 5M mask dicts.
"""
from __future__ import annotations

from typing import Sequence

from .backends import DEFAULT_BACKEND, get_api
from .compact import MaskRecord, mask_anns, pack_masks
from .engine import DEFAULT_CHUNK_IMAGES, average_recall, check_images, group_by_image
from .metrics import BackendMetric


def segm_keys(proposal_nums: Sequence[int]) -> list[str]:
    n1 = proposal_nums[-1]
    return [f"segm_AR@{n}" for n in proposal_nums] + [f"segm_AR_{s}@{n1}" for s in ("s", "m", "l")]


def segment_ar_records(api, gt_loader, records: list, proposal_nums=(10, 100, 1000),
                       chunk_images: int = DEFAULT_CHUNK_IMAGES) -> dict:
    """Segment AR of compact MaskRecords (see the module docstring); gt_loader() returns the
    ground truth (in api's COCO class), called only when there is a mask to evaluate."""
    # mmengine's evaluate() turns every tuple of the gathered results into a plain tuple
    records = [MaskRecord(*r) for r in records]
    keys = segm_keys(proposal_nums)
    if not any(len(r.scores) for r in records):
        return {k: 0.0 for k in keys}
    gt = gt_loader()
    cat = sorted(gt.getCatIds())[0]   # any valid category: useCats = 0 ignores it
    by_image = group_by_image(records)
    check_images(by_image, gt.getImgIds())
    img_ids = sorted(by_image)   # the images tested (as before: params.imgIds = result images)
    ar = average_recall(api, gt, "segm", by_image, img_ids, sorted(gt.getCatIds()), proposal_nums,
                        lambda rec, first: mask_anns(rec, cat, first), chunk_images)
    values = [ar[0, 0], ar[0, 1], ar[0, 2], ar[1, 2], ar[2, 2], ar[3, 2]]
    return dict(zip(keys, (float(v) for v in values)))


def segment_ar(ann_file: str, results: list, proposal_nums=(10, 100, 1000), logger=None,
               backend: str = DEFAULT_BACKEND) -> dict:
    """results: [{img_id, scores, masks (RLE dicts)}]. Returns the segm_AR keys (fractions)."""
    api = get_api(backend)
    records = [pack_masks(r["img_id"], r["scores"], list(r["masks"]))
               for r in results]
    out = segment_ar_records(api, lambda: api.load(ann_file), records, proposal_nums)
    if logger is not None:
        logger.info(f"segment AR ({api.name} {api.version}): "
                    + ", ".join(f"{k} {v:.4f}" for k, v in out.items()))
    return out


class SegmentARMetric(BackendMetric):
    """The metric behind Table 6, registered as SegmentProposalMetric in
    harness/models/segment/metric.py."""

    def __init__(self, ann_file: str, proposal_nums: Sequence[int] = (10, 100, 1000),
                 backend: str = DEFAULT_BACKEND, chunk_images: int = DEFAULT_CHUNK_IMAGES,
                 collect_device: str = "cpu", prefix: str | None = None,
                 backend_args: dict | None = None, **kwargs):
        # **kwargs: what mmdet's base evaluator leaves in a merged config (format_only, metric)
        super().__init__(ann_file, proposal_nums, backend, chunk_images, collect_device, prefix,
                         backend_args)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for ds in data_samples:
            pred = ds["pred_instances"]
            self.results.append(pack_masks(ds["img_id"], pred["scores"], list(pred["masks"])))

    def compute_metrics(self, results: list) -> dict:
        out = segment_ar_records(self.api, self.load_gt, results, self.proposal_nums,
                                 self.chunk_images)
        self._log(out)
        return out
