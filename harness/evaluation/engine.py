"""COCOeval on compact records, with either backend (harness/evaluation/backends.py).

Average precision (box AP, Tables 2-5) needs every image at once (one ranking per category over
the whole set): one COCOeval, as mmdet's CocoMetric runs it.

Average recall (proposal AR, Table 1; segment AR, Table 6; class-agnostic, useCats = 0) is
evaluated a chunk of images at a time. COCOeval's recall at IoU threshold t, area range a and
maxDets m is TP / npig: TP counts ground-truth objects matched by one of the image's m
best-scoring predictions, npig the objects not ignored (not crowd, area inside a), both summed
over images; matching is per image. So a chunk's recall times its npig is an integer count, the
counts add up over chunks, and TP / npig over all chunks is the value one COCOeval over every
image gives, to the last bit (the same float division and mean as pycocotools' accumulate and
summarize). Only one chunk's per-prediction dicts exist at a time: with 1000 RLE masks per image
a one-shot COCOeval held 2-3 MB per image here (measured on 100 images: ~15 GB for 5000),
a chunk of 250 images holds a few hundred MB (README, Evaluation, has the measured peaks).
"""
from __future__ import annotations

import contextlib
import gc
import io
from collections import defaultdict
from typing import Callable, Sequence

import numpy as np

DEFAULT_CHUNK_IMAGES = 250


def group_by_image(records) -> dict[int, list]:
    out: dict[int, list] = defaultdict(list)
    for r in records:
        out[r.img_id].append(r)
    return out


def check_images(by_image: dict, img_ids: Sequence[int]) -> None:
    """COCO.loadRes refuses predictions for images the ground truth does not have: so do we."""
    unknown = set(by_image) - set(img_ids)
    if unknown:
        raise ValueError(f"predictions for {len(unknown)} image(s) not in the annotation file, "
                         f"e.g. {sorted(unknown)[:3]}")


@contextlib.contextmanager
def gc_paused():
    """Python's cyclic GC runs every ~700 new containers and its older generations walk every
    live object: while 10^5-10^6 annotation dicts are built it took a third (faster-coco-eval)
    to three quarters (pycocotools) of the time of building them. Nothing built here forms reference cycles; the GC resumes after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _quiet(fn):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn()


def _params(ev, img_ids, cat_ids, max_dets, use_cats: int) -> None:
    ev.params.imgIds = list(img_ids)
    ev.params.catIds = list(cat_ids)
    ev.params.maxDets = list(max_dets)
    ev.params.useCats = use_cats


def _annotations(by_image: dict, img_ids, to_anns: Callable) -> list[dict]:
    """The result annotations of these images (ids 1..n, in image order then record order)."""
    anns: list[dict] = []
    for img in img_ids:
        for rec in by_image.get(img, ()):
            anns += to_anns(rec, len(anns) + 1)
    return anns


@gc_paused()
def average_precision(api, gt, by_image: dict, img_ids, cat_ids, max_dets, to_anns: Callable,
                      logger=None) -> np.ndarray:
    """COCOeval 'bbox' over all images (useCats = 1); returns its 12 summary stats."""
    anns = _annotations(by_image, img_ids, to_anns)
    ev = api.evaluator(gt, api.results(gt, anns), "bbox")
    _params(ev, img_ids, cat_ids, max_dets, 1)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    if logger is not None and buf.getvalue().strip():
        logger.info("\n" + buf.getvalue())
    return np.asarray(ev.stats[:12], dtype=np.float64)


def _ignored_free_gt(gt, img_ids, cat_ids, area_rngs) -> np.ndarray:
    """npig per area range: ground truth of these images and categories that COCOeval does not
    ignore (iscrowd = 0 and lo <= area <= hi)."""
    cats = set(cat_ids)
    areas = [a["area"] for img in img_ids for a in gt.imgToAnns.get(img, ())
             if a["category_id"] in cats and not a.get("iscrowd", 0)]
    areas = np.asarray(areas, dtype=np.float64)
    return np.array([np.count_nonzero((areas >= lo) & (areas <= hi)) for lo, hi in area_rngs],
                    dtype=np.int64)


def _chunk_recall(api, gt, iou_type, by_image, chunk, cat_ids, max_dets, to_anns):
    """COCOeval's recall (T x A x M) over the images of one chunk, and their npig per area range;
    the chunk's dicts are freed on return."""
    anns = _annotations(by_image, chunk, to_anns)
    ev = api.evaluator(gt, api.results(gt, anns), iou_type)
    _params(ev, chunk, cat_ids, max_dets, 0)
    n = _ignored_free_gt(gt, chunk, cat_ids, ev.params.areaRng)
    if not anns:  # nothing to match: COCOeval's recall is 0 where there is ground truth
        shape = (len(ev.params.iouThrs), len(ev.params.areaRng), len(max_dets))
        return np.where(n[None, :, None] > 0, 0.0, -1.0) * np.ones(shape), n
    _quiet(ev.evaluate)
    _quiet(ev.accumulate)
    return np.asarray(ev.eval["recall"], dtype=np.float64)[:, 0], n      # T x K(=1) x A x M


@gc_paused()
def average_recall(api, gt, iou_type: str, by_image: dict, img_ids, cat_ids, max_dets,
                   to_anns: Callable, chunk_images: int = DEFAULT_CHUNK_IMAGES) -> np.ndarray:
    """Class-agnostic COCOeval average recall, `chunk_images` images at a time (see the module
    docstring). Returns AR[a, m] for COCOeval's area ranges (all, small, medium, large) x
    max_dets; -1 where no ground truth is in the range (pycocotools' convention)."""
    if chunk_images < 1:
        raise ValueError(f"chunk_images must be >= 1, got {chunk_images}")
    img_ids = list(img_ids)
    tp, npig = 0.0, 0
    for c in range(0, max(len(img_ids), 1), chunk_images):
        chunk = img_ids[c:c + chunk_images]
        rec, n = _chunk_recall(api, gt, iou_type, by_image, chunk, cat_ids, max_dets, to_anns)
        counts = rec * n[None, :, None]
        exact = np.rint(counts)
        if np.any((rec == -1) != (n[None, :, None] == 0)) or np.abs(counts - exact).max(initial=0) > 1e-6:
            raise RuntimeError(f"{api.name}: recall of images {chunk[0]}..{chunk[-1]} is not "
                               f"a count over {n.tolist()} ground-truth objects")
        tp, npig = tp + exact, npig + n
    ar = np.full(tp.shape[1:], -1.0)
    for a in range(tp.shape[1]):
        if npig[a] == 0:
            continue
        for m in range(tp.shape[2]):
            # as accumulate (recall = tp_sum / npig) and summarize (mean over thresholds)
            s = (tp[:, a, m] / npig[a]).reshape(-1, 1)
            ar[a, m] = np.mean(s[s > -1])
    return ar
