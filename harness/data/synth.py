"""A tiny, seeded, COCO-format data set of coloured shapes, laid out exactly like COCO 2017.

    root/annotations/instances_train2017.json   root/train2017/000000000001.jpg ...
    root/annotations/instances_val2017.json     root/val2017/000000100001.jpg ...
    root/SYNTH.json                             parameters + content hash (idempotence check)

Every image plants at least one small (area < 32^2), one medium and one large (area > 96^2)
object, so all COCO size buckets are non-empty in every split by construction. Each image draws
from its own RNG stream (seed, split, index), so the first images do not change when the split
sizes do, and the output is byte-for-byte identical for a given seed.
"""

from __future__ import annotations

import io
import math
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from harness.data.coco import COCO_CATEGORIES
from harness.data.publish import publish_dir, read_manifest, tree_hash, write_json
from harness.errors import HarnessError
from harness.store.fs import renamed

GENERATOR = "harness.data.synth"
# Bump whenever the drawing changes, so an old tree is not mistaken for a current one.
GENERATOR_VERSION = 3
MANIFEST = "SYNTH.json"
SPLITS = ("train2017", "val2017")
# Image ids per split start at these bases, so val ids do not depend on n_train.
_ID_BASE = {"train2017": 0, "val2017": 100_000}
_MAX_PER_SPLIT = 99_999
_ANNS_PER_IMAGE_BASE = 100  # annotation id = image_id * 100 + k

# COCO's evaluation buckets (COCOeval.Params.areaRng).
SMALL_MAX = 32.0**2
LARGE_MIN = 96.0**2
# Sampled areas keep well away from the bucket edges, so a rasterised mask (a few % off the
# polygon area) still lands in the same bucket.
_TARGET_AREA = {"small": (50.0, 850.0), "medium": (1250.0, 8000.0), "large": (10600.0, 24000.0)}
_ACCEPT_AREA = {"small": (40.0, 0.92 * SMALL_MAX), "medium": (1.08 * SMALL_MAX, 0.92 * LARGE_MIN),
                "large": (1.08 * LARGE_MIN, math.inf)}
_MAX_SIDE = 200.0
_MAX_OVERLAP = 0.10  # of the smaller bbox: objects may touch, each stays mostly visible

# Shapes (internal ids 1..4) are labelled with real COCO categories (name and id), so the paper's
# 80-class configs and mmdet's CocoDataset (which keeps only COCO class names) run unchanged.
_SHAPES = {1: "square", 2: "disc", 3: "triangle", 4: "bar"}
CATEGORIES = (
    {"id": 84, "name": "book", "supercategory": "indoor", "shape": "square"},
    {"id": 37, "name": "sports ball", "supercategory": "sports", "shape": "disc"},
    {"id": 38, "name": "kite", "supercategory": "sports", "shape": "triangle"},
    {"id": 42, "name": "surfboard", "supercategory": "sports", "shape": "bar"},
)
_COCO_ID = {shape_id: CATEGORIES[shape_id - 1]["id"] for shape_id in _SHAPES}

def _category_list() -> list[dict]:
    used = {c["id"]: c for c in CATEGORIES}
    return [dict(used.get(cid, {"id": cid, "name": name, "supercategory": "coco"}))
            for cid, name in COCO_CATEGORIES]
_COLOURS = {1: (205, 45, 40), 2: (40, 80, 210), 3: (35, 175, 60), 4: (230, 195, 35)}


@dataclass(frozen=True)
class _Obj:
    category_id: int
    polygon: list[float]  # x1, y1, x2, y2, ... (rounded to 0.01 px)
    area: float
    bbox: tuple[float, float, float, float]


def size_bucket(area: float) -> str:
    """COCO's size bucket for an annotation area."""
    if area < SMALL_MAX:
        return "small"
    return "medium" if area <= LARGE_MIN else "large"


def polygon_area(flat: list[float]) -> float:
    """Shoelace area of a flat [x1, y1, x2, y2, ...] polygon."""
    xy = np.asarray(flat, dtype=np.float64).reshape(-1, 2)
    x, y = xy[:, 0], xy[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def polygon_bbox(flat: list[float]) -> tuple[float, float, float, float]:
    xy = np.asarray(flat, dtype=np.float64).reshape(-1, 2)
    x0, y0 = xy.min(axis=0)
    x1, y1 = xy.max(axis=0)
    return (round(float(x0), 2), round(float(y0), 2), round(float(x1 - x0), 2), round(float(y1 - y0), 2))


# --- shapes, centred on the origin ---------------------------------------------------------------

def _rotate(xy: np.ndarray, theta: float) -> np.ndarray:
    c, s = math.cos(theta), math.sin(theta)
    return xy @ np.array([[c, s], [-s, c]])


def _shape(category_id: int, area: float, rng: np.random.Generator) -> np.ndarray:
    if category_id == 1:  # square, any rotation
        h = math.sqrt(area) / 2
        xy = np.array([[-h, -h], [h, -h], [h, h], [-h, h]])
        return _rotate(xy, rng.uniform(0, math.pi / 2))
    if category_id == 2:  # disc: enough vertices that it looks round at its size
        r = math.sqrt(area / math.pi)
        n = int(np.clip(round(2 * math.pi * r / 4), 12, 48))
        t = rng.uniform(0, 2 * math.pi) + np.arange(n) * 2 * math.pi / n
        return np.stack([r * np.cos(t), r * np.sin(t)], axis=1)
    if category_id == 3:  # equilateral triangle, any rotation
        side = math.sqrt(4 * area / math.sqrt(3))
        t = np.deg2rad([-90.0, 30.0, 150.0])
        xy = side / math.sqrt(3) * np.stack([np.cos(t), np.sin(t)], axis=1)
        return _rotate(xy, rng.uniform(0, 2 * math.pi))
    # bar: elongated rectangle, near-horizontal or near-vertical
    aspect = rng.uniform(2.5, 4.0)
    hh = math.sqrt(area / aspect) / 2
    hw = aspect * hh
    xy = np.array([[-hw, -hh], [hw, -hh], [hw, hh], [-hw, hh]])
    return _rotate(xy, rng.integers(0, 2) * math.pi / 2 + rng.uniform(-0.25, 0.25))


# --- layout ----------------------------------------------------------------------------------

def _overlap_ok(b: tuple[float, float, float, float], placed: list[_Obj]) -> bool:
    for o in placed:
        p = o.bbox
        iw = min(b[0] + b[2], p[0] + p[2]) - max(b[0], p[0])
        ih = min(b[1] + b[3], p[1] + p[3]) - max(b[1], p[1])
        if iw > 0 and ih > 0 and iw * ih > _MAX_OVERLAP * min(b[2] * b[3], p[2] * p[3]):
            return False
    return True


def _try_place(bucket: str, placed: list[_Obj], size: tuple[int, int], rng: np.random.Generator,
               tries: int) -> _Obj | None:
    """Rejection-sample one object of the bucket that fits the image and the placed objects."""
    w, h = size
    lo, hi = _TARGET_AREA[bucket]
    acc_lo, acc_hi = _ACCEPT_AREA[bucket]
    for _ in range(tries):
        cat = int(rng.integers(1, len(CATEGORIES) + 1))
        xy = _shape(cat, float(math.exp(rng.uniform(math.log(lo), math.log(hi)))), rng)
        ext = xy.max(axis=0) - xy.min(axis=0)
        if ext.max() > _MAX_SIDE or ext[0] > w - 2 or ext[1] > h - 2:
            continue
        origin = np.array([rng.uniform(1, w - 1 - ext[0]), rng.uniform(1, h - 1 - ext[1])])
        flat = [round(float(v), 2) for v in (xy - xy.min(axis=0) + origin).ravel()]
        area = polygon_area(flat)
        bbox = polygon_bbox(flat)
        if acc_lo <= area <= acc_hi and _overlap_ok(bbox, placed):
            return _Obj(cat, flat, round(area, 2), bbox)
    return None


def _layout(size: tuple[int, int], rng: np.random.Generator) -> list[_Obj]:
    placed: list[_Obj] = []
    # Largest first: it is the hardest to fit, and every bucket must appear in every image.
    for bucket in ("large", "medium", "small"):
        obj = _try_place(bucket, placed, size, rng, tries=1000)
        if obj is None:
            raise HarnessError(f"synthetic data: cannot fit a {bucket} object into a {size[0]}x{size[1]} "
                               "image; use a larger image_size (at least 160x128)")
        placed.append(obj)
    for _ in range(int(rng.integers(1, 4))):  # a few extras; skipped if the image is full
        bucket = ("small", "medium", "large")[int(rng.choice(3, p=[0.5, 0.35, 0.15]))]
        obj = _try_place(bucket, placed, size, rng, tries=100)
        if obj is not None:
            placed.append(obj)
    return placed


def _render(objs: list[_Obj], size: tuple[int, int], rng: np.random.Generator) -> bytes:
    """Textured background, flat-ish coloured shapes, sensor-like noise; JPEG quality 95."""
    w, h = size
    base = rng.uniform(85, 165) + rng.uniform(-15, 15, size=3)
    grid = (h // 16 + 2, w // 16 + 2)
    # Mostly brightness variation with a little colour, so the shapes' hues stay distinctive.
    texture = rng.normal(0, 20, size=(*grid, 1)) + rng.normal(0, 7, size=(*grid, 3))
    coarse = np.clip(base + texture, 0, 255)
    img = Image.fromarray(coarse.astype(np.uint8), "RGB").resize((w, h), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(img)
    for o in objs:
        colour = np.clip(np.array(_COLOURS[o.category_id]) + rng.integers(-25, 26, size=3), 0, 255)
        draw.polygon(list(zip(o.polygon[0::2], o.polygon[1::2])), fill=tuple(int(c) for c in colour))
    pixels = np.asarray(img, dtype=np.float32) + rng.normal(0, 7, size=(h, w, 3)).astype(np.float32)
    buf = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB").save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def _complete_set(root: Path, params: dict) -> dict | None:
    """root's manifest if root holds an intact set made by this generator with these parameters."""
    existing = read_manifest(root, MANIFEST) if root.is_dir() else None
    if (existing is not None and existing.get("generator_version") == GENERATOR_VERSION
            and existing.get("params") == params
            and existing.get("content_sha256") == tree_hash(root, (MANIFEST,))):
        return existing
    return None


def describe_existing(root: Path, params: dict) -> str:
    """What root holds instead of the set these parameters make, in words (for the error)."""
    manifest = read_manifest(root, MANIFEST) if root.is_dir() else None
    if manifest is None or manifest.get("generator") != GENERATOR:
        return "other content (no synthetic set's SYNTH.json)"
    if manifest.get("generator_version") != GENERATOR_VERSION:
        return (f"a synthetic set drawn by an older generator (version "
                f"{manifest.get('generator_version')}; this harness draws version {GENERATOR_VERSION})")
    if manifest.get("params") != params:
        made = manifest.get("params") or {}
        diff = ", ".join(f"{k} {made.get(k)!r} (wanted {v!r})" for k, v in params.items()
                         if made.get(k) != v)
        return f"a synthetic set made with other parameters: {diff}"
    return ("a synthetic set that was edited by hand after it was made (its files no longer "
            "match the content hash in SYNTH.json)")


def _split_json(split: str, images: list[dict], anns: list[dict], seed: int) -> dict:
    return {
        "info": {"description": f"fpn-repro synthetic shapes ({split})", "version": str(GENERATOR_VERSION),
                 "generator": GENERATOR, "seed": seed},
        "licenses": [],
        "images": images,
        "annotations": anns,
        "categories": _category_list(),
    }


def _write_split(tmp: Path, split: str, n: int, seed: int, size: tuple[int, int]) -> dict:
    (tmp / split).mkdir(parents=True)
    split_idx = SPLITS.index(split)
    images, anns = [], []
    buckets = {"small": 0, "medium": 0, "large": 0}
    for i in range(n):
        rng = np.random.default_rng([seed, split_idx, i])
        image_id = _ID_BASE[split] + i + 1
        file_name = f"{image_id:012d}.jpg"
        objs = _layout(size, rng)
        (tmp / split / file_name).write_bytes(_render(objs, size, rng))
        images.append({"id": image_id, "file_name": file_name, "width": size[0], "height": size[1]})
        for k, o in enumerate(objs, start=1):
            anns.append({"id": image_id * _ANNS_PER_IMAGE_BASE + k, "image_id": image_id,
                         "category_id": _COCO_ID[o.category_id], "segmentation": [o.polygon], "area": o.area,
                         "bbox": list(o.bbox), "iscrowd": 0})
            buckets[size_bucket(o.area)] += 1
    write_json(tmp / "annotations" / f"instances_{split}.json", _split_json(split, images, anns, seed))
    return {"images": len(images), "annotations": len(anns), **buckets}


def _check_params(n_train: int, n_val: int, image_size: tuple[int, int]) -> None:
    for name, n in (("n_train", n_train), ("n_val", n_val)):
        if not 1 <= n <= _MAX_PER_SPLIT:
            raise HarnessError(f"synthetic data: {name}={n} is out of range; use 1..{_MAX_PER_SPLIT}")
    if len(image_size) != 2 or image_size[0] < 160 or image_size[1] < 128:
        raise HarnessError(f"synthetic data: image_size={tuple(image_size)} is too small for large "
                           "(>96^2 px) objects; use at least (160, 128)")


def make_synthetic(root: Path, seed: int = 0, n_train: int = 16, n_val: int = 8,
                   image_size: tuple[int, int] = (320, 256), force: bool = False,
                   fix: str = "pick an empty path or pass --force to replace it") -> dict:
    """Write the synthetic COCO-layout data set under root (idempotent, atomic).

    Returns the manifest: parameters, content hash and per-split counts
    ({"images", "annotations", "small", "medium", "large"}), plus "root" and "created"
    (False when root already held an identical set and nothing was written). `fix`: what the
    error says to do when root holds something else (the command that fixes it, for the caller).
    """
    root = Path(root)
    size = (int(image_size[0]), int(image_size[1]))
    _check_params(n_train, n_val, size)
    params = {"seed": int(seed), "n_train": int(n_train), "n_val": int(n_val), "image_size": list(size)}

    existing = _complete_set(root, params)
    if existing is not None:  # nothing to replace, even with force
        return {**existing, "root": str(root), "created": False}
    if root.exists() and not force and not (root.is_dir() and not any(root.iterdir())):
        raise HarnessError(f"{root} already exists and holds {describe_existing(root, params)}; {fix}")

    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    try:
        splits = {"train2017": _write_split(tmp, "train2017", n_train, seed, size),
                  "val2017": _write_split(tmp, "val2017", n_val, seed, size)}
        manifest = {"generator": GENERATOR, "generator_version": GENERATOR_VERSION, "params": params,
                    "categories": [c["name"] for c in CATEGORIES], "splits": splits,
                    "content_sha256": tree_hash(tmp, (MANIFEST,))}
        write_json(tmp / MANIFEST, manifest)
        tmp.chmod(0o755)  # mkdtemp makes it 0700
        publish_dir(tmp, root, force)
    except HarnessError:
        shutil.rmtree(tmp, ignore_errors=True)
        # A concurrent run may have published the identical set first; that is success.
        if (done := _complete_set(root, params)) is not None:
            return {**done, "root": str(root), "created": False}
        raise
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):    # a full disk: name the set, not a file of the temp tree
            raise renamed(exc, root) from exc
        raise
    return {**manifest, "root": str(root), "created": True}
