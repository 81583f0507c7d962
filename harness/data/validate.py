"""Fast sanity checks of a COCO-layout data root, before hours of training find the problem.

Every failure is a HarnessError with one line: what is wrong, where, and what to do. Image files
are listed, then each one's header is read (images.py), never decoded.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

from harness.data.images import check_images_readable
from harness.errors import HarnessError

SPLITS = ("train2017", "val2017")
_FIX = "regenerate it with 'harness data synth' or fix the file"
_LAYOUT = "root/annotations/instances_<split>.json and root/<split>/<images>"


def annotation_path(root: Path, split: str) -> Path:
    return Path(root) / "annotations" / f"instances_{split}.json"


def annotation_fingerprint(path: Path) -> str:
    """First 16 hex chars of the sha256 of the file's bytes (identifies the exact annotation set)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def load_annotations(path: Path) -> dict:
    """Parse a COCO instances file; HarnessError (one line) if unreadable or not COCO-shaped."""
    path = Path(path)
    if not path.is_file():
        raise HarnessError(f"missing annotations: {path} not found; expected {_LAYOUT} "
                           "(make a set with 'harness data synth' or point at a COCO 2017 tree)")
    try:
        with open(path, "rb") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise HarnessError(f"malformed annotations: {path} is not valid JSON "
                           f"({e.msg}: line {e.lineno} column {e.colno}); {_FIX}") from None
    except UnicodeDecodeError as e:
        raise HarnessError(f"malformed annotations: {path} is not valid JSON (not UTF-8 text at byte "
                           f"{e.start}); {_FIX}") from None
    if not isinstance(data, dict):
        raise HarnessError(f"malformed annotations: {path} holds a JSON {type(data).__name__}, not a COCO "
                           f"object with images/annotations/categories; {_FIX}")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise HarnessError(f"malformed annotations: {path} lacks a '{key}' list; {_FIX}")
    return data


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _known(ref: object, ids: set) -> bool:
    return isinstance(ref, (int, str)) and not isinstance(ref, bool) and ref in ids


def _ids(entries: list, kind: str, path: Path) -> set:
    ids = set()
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or not isinstance(e.get("id"), (int, str)) or isinstance(e["id"], bool):
            raise HarnessError(f"malformed annotations: {path}: {kind} entry #{i} has no integer 'id'; "
                               f"{_FIX}")
        ids.add(e["id"])
    return ids


def _check_annotations(data: dict, path: Path, need_masks: bool) -> None:
    image_ids = _ids(data["images"], "images", path)
    cat_ids = _ids(data["categories"], "categories", path)
    no_mask: list = []
    for i, a in enumerate(data["annotations"]):
        if not isinstance(a, dict) or "id" not in a:
            raise HarnessError(f"malformed annotations: {path}: annotations entry #{i} has no 'id'; {_FIX}")
        aid, bbox = a["id"], a.get("bbox")
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(map(_is_number, bbox))
                and bbox[2] >= 0 and bbox[3] >= 0):
            raise HarnessError(f"malformed annotations: {path}: annotation id {aid} has bbox {bbox!r}, "
                               f"need 4 finite numbers [x, y, w, h] with w, h >= 0; {_FIX}")
        if not _known(a.get("image_id"), image_ids):
            raise HarnessError(f"malformed annotations: {path}: annotation id {aid} refers to image_id "
                               f"{a.get('image_id')!r}, which is not in 'images'; {_FIX}")
        if not _known(a.get("category_id"), cat_ids):
            raise HarnessError(f"malformed annotations: {path}: annotation id {aid} refers to category_id "
                               f"{a.get('category_id')!r}, which is not in 'categories'; {_FIX}")
        if need_masks and not a.get("segmentation"):
            no_mask.append(aid)
    if no_mask:
        raise HarnessError(f"missing masks: {path}: {len(no_mask)} annotation(s) lack 'segmentation' "
                           f"(first: annotation id {no_mask[0]}); mask rows need instance masks, use "
                           "COCO instances files or 'harness data synth'")


def _present_files(img_dir: Path) -> set[str]:
    """Names of the regular files (or links to them) in img_dir: one listing, not a stat per image."""
    try:
        with os.scandir(img_dir) as it:
            return {e.name for e in it if e.is_file()}
    except (FileNotFoundError, NotADirectoryError):
        return set()


def _check_images(data: dict, path: Path, img_dir: Path) -> None:
    present = _present_files(img_dir)
    missing = []
    for i, im in enumerate(data["images"]):
        name = im.get("file_name")
        if not isinstance(name, str) or not name:
            raise HarnessError(f"malformed annotations: {path}: image id {im['id']} has no 'file_name'; "
                               f"{_FIX}")
        # Names with a sub-folder are not in the flat listing; stat those.
        if name not in present and not (os.sep in name and (img_dir / name).is_file()):
            missing.append(name)
    if missing:
        where = img_dir if img_dir.is_dir() else f"{img_dir} (folder missing)"
        raise HarnessError(f"missing images: {len(missing)} of {len(data['images'])} image files listed in "
                           f"{path.name} are not in {where} (first: {missing[0]}); copy or link the "
                           "images there, or regenerate the set with 'harness data synth'")


def _check_classes(data: dict, path: Path, known_classes: tuple[str, ...]) -> None:
    """mmdet's CocoDataset keeps only its class names, and CocoMetric maps a label index back to a
    category id through the file's list of those names: it must hold every one of them."""
    names = {c.get("name") for c in data["categories"]}
    missing = [c for c in known_classes if c not in names]
    if missing:
        raise HarnessError(f"incomplete categories: {path} lists {len(known_classes) - len(missing)} of "
                           f"the {len(known_classes)} COCO categories (missing e.g. '{missing[0]}'); keep "
                           "COCO's full category list in the file (as 'harness data subset' and "
                           "'harness data synth' do)")


def check_data_root(root: Path, splits: tuple[str, ...] = SPLITS, need_masks: bool = False,
                    known_classes: tuple[str, ...] | None = None,
                    cache_dir: Path | None = None) -> None:
    """Raise HarnessError (one line) if root is not a usable COCO-layout data root for splits.

    known_classes: the class names the dataset class keeps (mmdet's CocoDataset drops images
    whose categories are not among them, which would leave an empty data set). cache_dir: where
    the image check remembers splits that passed (None: check every time)."""
    root = Path(root)
    if not root.exists():
        raise HarnessError(f"data root {root} does not exist; make one with 'harness data synth' or point "
                           "the data root at a COCO 2017 tree")
    if not root.is_dir():
        raise HarnessError(f"data root {root} is not a directory; point the data root at a folder laid out "
                           f"as {_LAYOUT}")
    if not any(root.iterdir()):
        raise HarnessError(f"data root {root} is empty; fill it with 'harness data synth' or point the data "
                           "root at a COCO 2017 tree")
    for split in splits:
        path = annotation_path(root, split)
        data = load_annotations(path)
        _check_annotations(data, path, need_masks)
        if known_classes is not None:
            _check_classes(data, path, known_classes)
        if not data["annotations"]:
            raise HarnessError(f"empty split: {path} has no annotations, so nothing can be trained or "
                               f"evaluated on {split}; {_FIX}")
        _check_images(data, path, root / split)
        check_images_readable([im["file_name"] for im in data["images"]], root / split, path,
                              annotation_fingerprint(path), cache_dir)
