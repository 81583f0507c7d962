"""Synthetic COCO-scale ground truth and predictions: the input of `benchmarks/eval_speed.py` and
of the backend parity tests.

Realistic in what drives evaluation cost and memory: COCO 2017 val's common image sizes, about
7.3 objects per image with a long tail and 1 % of images without any, its small / medium / large
mix (41 / 34 / 25 %), 1 % crowd regions (uncompressed RLE, as COCO stores them), polygon masks;
predictions at the counts the harness produces (100 detections, 1000 proposals, 1000 RLE masks
per image), part jittered copies of the ground truth (true positives over a spread of IoUs), the
rest clutter. Masks are built as run lengths directly (never as pixel arrays), so 5M of them are
made in minutes. Everything is drawn from one seeded generator: same arguments, same data.
"""
from __future__ import annotations

import math
from typing import Iterator, NamedTuple

import numpy as np

from harness.data.synth import COCO_CATEGORIES, polygon_area, polygon_bbox

# (width, height) of COCO 2017 val images, roughly in proportion to how often they occur.
IMAGE_SIZES = ((640, 480), (640, 427), (480, 640), (640, 426), (427, 640), (500, 375),
               (640, 424), (612, 612), (640, 360), (375, 500))
_SIZE_P = np.array([30, 14, 10, 8, 6, 5, 5, 3, 3, 2], dtype=np.float64)
BUCKET_P = (0.41, 0.34, 0.25)          # small, medium, large (COCO val2017 instances)
CROWD_FRACTION = 0.01
EMPTY_IMAGE_FRACTION = 0.01
MEAN_OBJECTS = 7.3
TP_FRACTION = 0.3                      # of each image's predictions: jittered ground truth


class Boxes(NamedTuple):
    """One image's box predictions as a detector returns them (x1, y1, x2, y2; label index)."""
    img_id: int
    bboxes: np.ndarray                 # (N, 4) float32
    scores: np.ndarray                 # (N,) float32
    labels: np.ndarray                 # (N,) int64, index into the category list


class Masks(NamedTuple):
    """One image's mask proposals: compressed COCO RLE counts (bytes) at the image's size."""
    img_id: int
    height: int
    width: int
    scores: np.ndarray                 # (N,) float32
    counts: list                       # N x bytes


def column_rle(h: int, w: int, xs: np.ndarray, top: np.ndarray, bottom: np.ndarray) -> list[int]:
    """Uncompressed COCO RLE (column-major run lengths, starting with zeros) of a mask that covers
    rows [top, bottom) of each column in xs (ascending); runs that meet across columns merge."""
    keep = (bottom > top) & (xs >= 0) & (xs < w)
    xs, top, bottom = xs[keep].astype(np.int64), top[keep].astype(np.int64), bottom[keep].astype(np.int64)
    if len(xs) == 0:
        return [h * w]
    start, end = xs * h + top, xs * h + bottom
    brk = np.flatnonzero(start[1:] != end[:-1])
    s = np.concatenate([start[:1], start[1:][brk]])
    e = np.concatenate([end[:-1][brk], end[-1:]])
    counts = np.empty(2 * len(s) + 1, dtype=np.int64)
    counts[0] = s[0]
    counts[1::2] = e - s
    counts[2:-1:2] = s[1:] - e[:-1]
    counts[-1] = h * w - e[-1]
    return counts[:-1].tolist() if counts[-1] == 0 else counts.tolist()


def ellipse_rle(h: int, w: int, cx: float, cy: float, rx: float, ry: float) -> list[int]:
    """Uncompressed RLE of a filled ellipse, clipped to the image."""
    xs = np.arange(max(0, math.floor(cx - rx)), min(w, math.ceil(cx + rx)))
    dx = (xs + 0.5 - cx) / max(rx, 1e-6)
    xs, dx = xs[np.abs(dx) < 1], dx[np.abs(dx) < 1]
    half = ry * np.sqrt(1 - dx * dx)
    return column_rle(h, w, xs, np.clip(np.round(cy - half), 0, h), np.clip(np.round(cy + half), 0, h))


def _ellipse_polygon(x, y, bw, bh, rng) -> list[float]:
    n = int(np.clip(round(math.sqrt(bw * bh) / 4), 8, 40))
    t = rng.uniform(0, 2 * math.pi) + np.arange(n) * 2 * math.pi / n
    r = rng.uniform(0.9, 1.0, size=n)
    px = np.clip(x + bw / 2 + r * bw / 2 * np.cos(t), x, x + bw)
    py = np.clip(y + bh / 2 + r * bh / 2 * np.sin(t), y, y + bh)
    return [round(float(v), 2) for v in np.stack([px, py], axis=1).ravel()]


def _object_box(w: int, h: int, rng) -> tuple[float, float, float, float]:
    bucket = int(rng.choice(3, p=BUCKET_P))
    # box area = mask area / (pi / 4) for the ellipse inside it
    lo, hi = ((12.0, 32.0**2), (32.0**2, 96.0**2), (96.0**2, 0.7 * w * h))[bucket]
    area = math.exp(rng.uniform(math.log(lo), math.log(hi))) * 4 / math.pi
    aspect = math.exp(rng.uniform(math.log(1 / 3), math.log(3)))
    bw, bh = min(w, math.sqrt(area * aspect)), min(h, math.sqrt(area / aspect))
    return float(rng.uniform(0, w - bw)), float(rng.uniform(0, h - bh)), bw, bh


def ground_truth(n_images: int, seed: int = 0) -> dict:
    """A COCO-format annotation dict (instances) of n_images images with all 80 categories."""
    rng = np.random.default_rng(seed)
    ids = np.sort(rng.choice(np.arange(1, 600_000), size=n_images, replace=False))
    sizes = rng.choice(len(IMAGE_SIZES), size=n_images, p=_SIZE_P / _SIZE_P.sum())
    cat_ids = [c for c, _ in COCO_CATEGORIES]
    images, anns = [], []
    for img_id, s in zip(ids.tolist(), sizes.tolist()):
        w, h = IMAGE_SIZES[s]
        images.append({"id": img_id, "width": w, "height": h, "file_name": f"{img_id:012d}.jpg"})
        n = 0 if rng.random() < EMPTY_IMAGE_FRACTION else 1 + int(rng.negative_binomial(
            1.5, 1.5 / (1.5 + MEAN_OBJECTS - 1)))
        for _ in range(n):
            x, y, bw, bh = _object_box(w, h, rng)
            cat = cat_ids[0] if rng.random() < 0.3 else int(rng.choice(cat_ids))
            ann = {"id": len(anns) + 1, "image_id": img_id, "category_id": cat, "iscrowd": 0}
            if rng.random() < CROWD_FRACTION:
                x0, x1 = int(x), max(int(x) + 1, int(x + bw))
                counts = column_rle(h, w, np.arange(x0, x1), np.full(x1 - x0, int(y)),
                                    np.full(x1 - x0, max(int(y) + 1, int(y + bh))))
                ann.update(iscrowd=1, segmentation={"counts": counts, "size": [h, w]},
                           area=float(sum(counts[1::2])), bbox=[x0, int(y), x1 - x0, max(1, int(bh))])
            else:
                poly = _ellipse_polygon(x, y, bw, bh, rng)
                ann.update(segmentation=[poly], area=round(polygon_area(poly), 2),
                           bbox=list(polygon_bbox(poly)))
            anns.append(ann)
    return {"info": {"description": "harness.evaluation.synthetic"}, "images": images,
            "annotations": anns,
            "categories": [{"id": c, "name": n, "supercategory": "coco"} for c, n in COCO_CATEGORIES]}


def _per_image(gt: dict) -> Iterator[tuple[dict, list[dict]]]:
    by_img: dict[int, list[dict]] = {img["id"]: [] for img in gt["images"]}
    for a in gt["annotations"]:
        by_img[a["image_id"]].append(a)
    for img in gt["images"]:
        yield img, [a for a in by_img[img["id"]] if not a["iscrowd"]]


def _jitter_and_clutter(img: dict, objs: list[dict], n: int, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n boxes (x1, y1, x2, y2) in the image; whether each is a jittered ground truth; and its
    source object's index (-1 for clutter)."""
    w, h = img["width"], img["height"]
    n_tp = int(round(n * TP_FRACTION)) if objs else 0
    src = rng.integers(0, max(1, len(objs)), size=n_tp)
    gt = np.array([o["bbox"] for o in objs], dtype=np.float64).reshape(-1, 4)[src]
    sigma = rng.uniform(0.02, 0.3, size=(n_tp, 1))
    cx = gt[:, 0] + gt[:, 2] / 2 + rng.normal(0, 1, n_tp) * sigma[:, 0] * gt[:, 2]
    cy = gt[:, 1] + gt[:, 3] / 2 + rng.normal(0, 1, n_tp) * sigma[:, 0] * gt[:, 3]
    bw = gt[:, 2] * np.exp(rng.normal(0, 1, n_tp) * sigma[:, 0])
    bh = gt[:, 3] * np.exp(rng.normal(0, 1, n_tp) * sigma[:, 0])
    m = n - n_tp
    side = np.exp(rng.uniform(math.log(8), math.log(max(w, h)), size=m))
    aspect = np.exp(rng.uniform(math.log(1 / 3), math.log(3), size=m))
    cx = np.concatenate([cx, rng.uniform(0, w, m)])
    cy = np.concatenate([cy, rng.uniform(0, h, m)])
    bw = np.concatenate([bw, side * np.sqrt(aspect)])
    bh = np.concatenate([bh, side / np.sqrt(aspect)])
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
    boxes[:, 0::2] = boxes[:, 0::2].clip(0, w)
    boxes[:, 1::2] = boxes[:, 1::2].clip(0, h)
    return boxes, np.arange(n) < n_tp, np.concatenate([src, np.full(m, -1)])


def _scores(is_tp: np.ndarray, rng) -> np.ndarray:
    logit = np.where(is_tp, 1.0, -1.0) + rng.normal(0, 1.0, len(is_tp))
    return (1 / (1 + np.exp(-logit))).astype(np.float32)


def boxes(gt: dict, per_image: int, seed: int = 0, class_aware: bool = True) -> list[Boxes]:
    """per_image box predictions per image: detections (labels mostly the source object's class)
    or, with class_aware=False, proposals (label 0, sorted by score as an RPN returns them)."""
    rng = np.random.default_rng(seed)
    index = {c["id"]: i for i, c in enumerate(gt["categories"])}
    out = []
    for img, objs in _per_image(gt):
        bb, is_tp, src = _jitter_and_clutter(img, objs, per_image, rng)
        scores = _scores(is_tp, rng)
        labels = np.zeros(per_image, dtype=np.int64)
        if class_aware:
            labels = rng.integers(0, len(index), size=per_image)
            own = is_tp & (rng.random(per_image) < 0.8)
            labels[own] = [index[objs[i]["category_id"]] for i in src[own]]
        else:
            order = np.argsort(-scores, kind="stable")
            bb, scores = bb[order], scores[order]
        out.append(Boxes(img["id"], bb.astype(np.float32), scores, labels.astype(np.int64)))
    return out


def masks(gt: dict, per_image: int, seed: int = 0) -> Iterator[Masks]:
    """per_image mask proposals per image, one image at a time: ellipses inside square windows of
    the dense head's sizes (scaled back to the image), centred near objects or anywhere."""
    from pycocotools import mask as mask_util
    rng = np.random.default_rng(seed)
    for img, objs in _per_image(gt):
        h, w = img["height"], img["width"]
        bb, is_tp, _ = _jitter_and_clutter(img, objs, per_image, rng)
        cx, cy = (bb[:, 0] + bb[:, 2]) / 2, (bb[:, 1] + bb[:, 3]) / 2
        # window side: the object's scale for jittered copies, one of the head's window sizes
        # (40 .. 905 px at the 800-px input, here ~0.6x) for clutter
        side = np.where(is_tp, np.maximum(bb[:, 2] - bb[:, 0], bb[:, 3] - bb[:, 1]) * 1.25,
                        0.6 * 40 * 2 ** (rng.integers(0, 10, size=per_image) / 2))
        rx = side / 2 * rng.uniform(0.5, 0.9, per_image)
        ry = side / 2 * rng.uniform(0.5, 0.9, per_image)
        ucs = [{"counts": ellipse_rle(h, w, *args), "size": [h, w]}
               for args in zip(cx.tolist(), cy.tolist(), rx.tolist(), ry.tolist())]
        rles = mask_util.frPyObjects(ucs, h, w)
        yield Masks(img["id"], h, w, _scores(is_tp, rng), [r["counts"] for r in rles])
