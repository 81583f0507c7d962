"""A consistent tiny subset of a real COCO 2017 tree, in the same layout (for quick real-data runs).

    out/annotations/instances_<split>.json   only the chosen images and their annotations;
                                             all categories kept, so category ids stay COCO's
    out/<split>/<file_name>                  symlinks to (or copies of) the chosen images
    out/SUBSET.json                          parameters, source fingerprints, content hash
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zlib
from pathlib import Path

import numpy as np

from harness.data.publish import publish_dir, read_manifest, tree_hash, write_json
from harness.data.validate import SPLITS, annotation_fingerprint, annotation_path, load_annotations
from harness.errors import HarnessError

MANIFEST = "SUBSET.json"


def _pick(data: dict, n: int, seed: int, split: str, path: Path) -> list[int]:
    """n image ids, sorted, drawn without replacement from the images with a non-crowd annotation."""
    known = {im["id"] for im in data["images"]}
    candidates = sorted({a["image_id"] for a in data["annotations"]
                         if not a.get("iscrowd", 0) and a.get("image_id") in known})
    if n > len(candidates):
        raise HarnessError(f"subset: asked for {n} images per split but {path} has only {len(candidates)} "
                           f"images with non-crowd annotations; ask for at most {len(candidates)}")
    # The stream depends on the split's name, not its position, so reordering splits changes nothing.
    rng = np.random.default_rng([seed, zlib.crc32(split.encode())])
    return sorted(int(candidates[i]) for i in rng.choice(len(candidates), size=n, replace=False))


def _place_image(src: Path, dst: Path, link: bool) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if link:
        os.symlink(src.resolve(), dst)
    else:
        shutil.copyfile(src, dst)


def _write_split(coco_root: Path, tmp: Path, split: str, n: int, seed: int, link: bool) -> dict:
    path = annotation_path(coco_root, split)
    data = load_annotations(path)
    picked = set(_pick(data, n, seed, split, path))
    images = [im for im in data["images"] if im["id"] in picked]
    anns = [a for a in data["annotations"] if a.get("image_id") in picked]
    for im in images:
        src = coco_root / split / im["file_name"]
        if not src.is_file():
            raise HarnessError(f"subset: image {src} (listed in {path.name}) is missing; complete the COCO "
                               f"download of {split} or pick another seed")
        _place_image(src, tmp / split / im["file_name"], link)
    info = dict(data.get("info") or {})
    info["fpn_repro_subset"] = {"of": str(path), "images": n, "seed": seed}
    write_json(annotation_path(tmp, split), {**data, "info": info, "images": images, "annotations": anns})
    return {"images": len(images), "annotations": len(anns), "available": len(data["images"])}


def _check_source(coco_root: Path, splits: tuple[str, ...], images: int) -> None:
    if images < 1:
        raise HarnessError(f"subset: images={images} must be at least 1 per split")
    if not coco_root.is_dir():
        raise HarnessError(f"subset: COCO root {coco_root} does not exist or is not a folder; download COCO "
                           "2017 there or pass the path of the tree that holds annotations/ and train2017/")
    for split in splits:
        if not annotation_path(coco_root, split).is_file():
            raise HarnessError(f"subset: {annotation_path(coco_root, split)} not found; the COCO root needs "
                               f"annotations/instances_{split}.json (from annotations_trainval2017.zip)")


def make_subset(coco_root: Path, out: Path, images: int, seed: int = 0,
                splits: tuple[str, ...] = SPLITS, link: bool = True, force: bool = False) -> dict:
    """Write an `images`-per-split subset of coco_root under out (atomic, idempotent).

    Returns the manifest (params, source annotation fingerprints, per-split counts
    {"images", "annotations", "available"}, content hash) plus "root" and "created".
    """
    coco_root, out = Path(coco_root), Path(out)
    _check_source(coco_root, tuple(splits), images)
    params = {"coco_root": str(coco_root.resolve()), "images": int(images), "seed": int(seed),
              "splits": list(splits), "link": bool(link)}
    sources = {s: annotation_fingerprint(annotation_path(coco_root, s)) for s in splits}

    existing = read_manifest(out, MANIFEST) if out.is_dir() else None
    if (existing is not None and existing.get("params") == params and existing.get("sources") == sources
            and existing.get("content_sha256") == tree_hash(out, exclude=(MANIFEST,))):
        return {**existing, "root": str(out), "created": False}
    if out.exists() and not force and not (out.is_dir() and not any(out.iterdir())):
        raise HarnessError(f"{out} already exists with other content; pick an empty path or pass --force "
                           "to replace it")

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        counts = {s: _write_split(coco_root, tmp, s, images, seed, link) for s in splits}
        manifest = {"params": params, "sources": sources, "splits": counts,
                    "content_sha256": tree_hash(tmp, exclude=(MANIFEST,))}
        write_json(tmp / MANIFEST, manifest)
        tmp.chmod(0o755)  # mkdtemp makes it 0700
        publish_dir(tmp, out, force)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {**manifest, "root": str(out), "created": True}
