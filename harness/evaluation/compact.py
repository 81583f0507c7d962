"""Per-image predictions in the compact form a metric keeps and gathers to rank 0.

mmengine's `BaseMetric.evaluate` gathers `self.results` once (collect_results: each rank pickles
its list, rank 0 unpickles all), so what a metric's `process()` appends is what crosses the
collective and what rank 0 holds. Here that is one small tuple of numpy arrays per image, never a
Python object per box or mask:

  boxes  BoxRecord(img_id, bboxes (N, 4), scores (N,), labels (N,) int32), dtypes as predicted
         (float32 from the model): 24 bytes per box.
  masks  MaskRecord(img_id, height, width, scores (N,), areas (N,) uint32, ends (N,) uint32, blob)
         with every mask's compressed COCO RLE counts concatenated in `blob` (bytes) and mask i
         at blob[ends[i-1]:ends[i]]: ~8 bytes per mask plus its RLE string (~230 bytes for the
         synthetic minival set of benchmarks/eval_speed.py). Masks are never decoded here.

Per-annotation dicts for the COCO API are built from these only while a chunk of images is
evaluated (harness/evaluation/engine.py).
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np


class BoxRecord(NamedTuple):
    img_id: int
    bboxes: np.ndarray      # (N, 4) x1, y1, x2, y2
    scores: np.ndarray      # (N,)
    labels: np.ndarray      # (N,) int32, index into the metric's category list


class MaskRecord(NamedTuple):
    img_id: int
    height: int
    width: int
    scores: np.ndarray      # (N,)
    areas: np.ndarray       # (N,) uint32, pixels (pycocotools.mask.area)
    ends: np.ndarray        # (N,) uint32, end of each mask's counts in blob
    blob: bytes


def _numpy(x) -> np.ndarray:
    """A tensor or sequence as numpy, keeping its dtype (float32 scores stay float32 and Python
    floats stay float64: a score rounded to another precision could reorder ties)."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def pack_boxes(img_id, bboxes, scores, labels) -> BoxRecord:
    b = _numpy(bboxes).reshape(-1, 4)
    s, lab = _numpy(scores).reshape(-1), _numpy(labels).reshape(-1).astype(np.int32)
    if not len(b) == len(s) == len(lab):
        raise ValueError(f"image {img_id}: {len(b)} boxes, {len(s)} scores, {len(lab)} labels")
    return BoxRecord(int(img_id), b, s, lab)


def rle_areas(rles: list[dict]) -> np.ndarray:
    """Areas (pixels) of compressed RLEs with pycocotools (installed with mmdet whatever the
    backend; an exact count, the same in faster-coco-eval, which takes ~10 us per mask against
    ~2). pycocotools 2.0.x's area() fails for 256 or more masks at once under numpy 2 (it sizes
    a uint8 array by the count): slices of 255."""
    from pycocotools import mask as mask_util
    parts = [mask_util.area(rles[i:i + 255]) for i in range(0, len(rles), 255)]
    return np.concatenate(parts).astype(np.uint32) if parts else np.zeros(0, np.uint32)


def pack_masks(img_id, scores, masks: Sequence[dict]) -> MaskRecord:
    """masks: COCO RLE dicts of one image (counts as str or bytes, all of one size)."""
    s = _numpy(scores).reshape(-1)
    if len(s) != len(masks):
        raise ValueError(f"image {img_id}: {len(s)} scores but {len(masks)} masks")
    if not masks:
        return MaskRecord(int(img_id), 0, 0, s, np.zeros(0, np.uint32), np.zeros(0, np.uint32), b"")
    h, w = (int(v) for v in masks[0]["size"])
    counts = []
    for m in masks:
        if m["size"][0] != h or m["size"][1] != w:
            raise ValueError(f"image {img_id}: masks of sizes {masks[0]['size']} and {m['size']}")
        c = m["counts"]
        if not isinstance(c, (str, bytes)):
            raise ValueError(f"image {img_id}: mask counts must be compressed RLE (str or bytes), "
                             f"got {type(c).__name__}")
        counts.append(c.encode() if isinstance(c, str) else c)
    rles = [{"size": [h, w], "counts": c} for c in counts]
    ends = np.cumsum([len(c) for c in counts], dtype=np.uint64)
    if ends[-1] >= 2**32:
        raise ValueError(f"image {img_id}: more than 4 GB of RLE counts")
    return MaskRecord(int(img_id), h, w, s, rle_areas(rles),
                      ends.astype(np.uint32), b"".join(counts))


def box_anns(rec: BoxRecord, cat_ids: Sequence[int], first_id: int) -> list[dict]:
    """COCO result annotations of one image, exactly as mmdet's CocoMetric writes them
    (xyxy2xywh on the float32 box as Python floats; area = w * h as COCO.loadRes sets it)."""
    b = rec.bboxes.astype(np.float64)
    xywh = np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1)
    area = xywh[:, 2] * xywh[:, 3]
    cats = np.asarray(cat_ids, dtype=np.int64)[rec.labels]
    return [{"id": first_id + i, "image_id": rec.img_id, "category_id": c, "bbox": bb,
             "score": s, "area": a, "iscrowd": 0}
            for i, (bb, s, a, c) in enumerate(zip(xywh.tolist(), rec.scores.tolist(),
                                                  area.tolist(), cats.tolist()))]


def mask_anns(rec: MaskRecord, cat_id: int, first_id: int) -> list[dict]:
    """COCO result annotations of one image's masks (segmentation + area; no bbox: segm
    evaluation does not read it)."""
    size = [rec.height, rec.width]
    ends = rec.ends.tolist()
    starts = [0] + ends[:-1]
    blob = rec.blob
    return [{"id": first_id + i, "image_id": rec.img_id, "category_id": cat_id, "score": s,
             "area": a, "segmentation": {"size": size, "counts": blob[b:e]}, "iscrowd": 0}
            for i, (s, a, b, e) in enumerate(zip(rec.scores.tolist(), rec.areas.tolist(),
                                                 starts, ends))]


def nbytes(records) -> int:
    """Payload bytes of a list of records (numpy buffers and blobs), what rank 0 holds."""
    total = 0
    for r in records:
        for v in r:
            total += v.nbytes if isinstance(v, np.ndarray) else len(v) if isinstance(v, bytes) else 8
    return total
