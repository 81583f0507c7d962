"""Synthetic data, COCO subsets and data-root validation (fast; no mmdet)."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

from harness.data.subset import make_subset
from harness.data.synth import CATEGORIES, make_synthetic, polygon_area
from harness.data.validate import annotation_fingerprint, check_data_root
from harness.errors import HarnessError

SPLITS = ("train2017", "val2017")


def coco_bucket(area: float) -> str:
    # COCOeval.Params.areaRng: small [0, 32^2], medium [32^2, 96^2], large [96^2, inf)
    return "small" if area < 32**2 else ("medium" if area <= 96**2 else "large")


def ann_path(root: Path, split: str) -> Path:
    return root / "annotations" / f"instances_{split}.json"


def load(root: Path, split: str) -> dict:
    return json.loads(ann_path(root, split).read_text())


def files_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth") / "coco"
    make_synthetic(root, seed=0)
    return root


@pytest.fixture
def root(synth: Path, tmp_path: Path) -> Path:
    """A private copy of the synthetic tree, free to corrupt."""
    return Path(shutil.copytree(synth, tmp_path / "root"))


# --- synthetic data --------------------------------------------------------------------------

def test_layout_matches_coco_2017(synth: Path) -> None:
    for split in SPLITS:
        data = load(synth, split)
        assert data["images"] and data["annotations"]
        # all 80 COCO categories, in COCO order; the shapes use four of them
        assert len(data["categories"]) == 80 and data["categories"][0]["name"] == "person"
        assert {a["category_id"] for a in data["annotations"]} == {c["id"] for c in CATEGORIES}
        assert all(c["supercategory"] and c["name"] for c in data["categories"])
        for im in data["images"]:
            with Image.open(synth / split / im["file_name"]) as img:
                assert img.format == "JPEG" and img.size == (im["width"], im["height"]) == (320, 256)
    ids = [a["id"] for s in SPLITS for a in load(synth, s)["annotations"]]
    assert len(ids) == len(set(ids)), "annotation ids must be unique"


def test_same_seed_is_byte_identical_other_seed_differs(synth: Path, tmp_path: Path) -> None:
    make_synthetic(tmp_path / "again", seed=0)
    make_synthetic(tmp_path / "other", seed=1)
    same, other = files_of(tmp_path / "again"), files_of(tmp_path / "other")
    assert files_of(synth) == same
    assert same["annotations/instances_val2017.json"] != other["annotations/instances_val2017.json"]
    jpgs = [k for k in same if k.endswith(".jpg")]
    assert all(same[k] != other[k] for k in jpgs)


def test_every_size_bucket_in_every_split(synth: Path) -> None:
    for split in SPLITS:
        data = load(synth, split)
        per_image: dict[int, set[str]] = {}
        for a in data["annotations"]:
            per_image.setdefault(a["image_id"], set()).add(coco_bucket(a["area"]))
        # Guaranteed per image, hence per split.
        assert all(b == {"small", "medium", "large"} for b in per_image.values()), split
        assert len(per_image) == len(data["images"])


def test_object_sizes_span_8_to_200_px(synth: Path) -> None:
    """The README promises objects from 8 to 200 px (an object's size: the longer side of its
    box), for the embedded default set (seed 0); both ends of the range are used."""
    sides = [max(a["bbox"][2:]) for s in SPLITS for a in load(synth, s)["annotations"]]
    assert 8 <= min(sides) < 16, min(sides)
    assert 100 < max(sides) <= 200, max(sides)


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # pycocotools vs numpy 2
def test_pycocotools_masks_match_area_and_bucket(synth: Path) -> None:
    for split in SPLITS:
        coco = COCO(str(ann_path(synth, split)))
        assert len(coco.getCatIds()) == 80
        assert set(coco.getCatIds(catNms=[c["name"] for c in CATEGORIES])) == {c["id"] for c in CATEGORIES}
        for a in coco.loadAnns(coco.getAnnIds()):
            mask = coco.annToMask(a)
            assert mask.shape == (256, 320)
            pixels = float(mask.sum())
            assert abs(pixels - a["area"]) <= 0.12 * a["area"] + 6, a["id"]
            assert coco_bucket(pixels) == coco_bucket(a["area"]), a["id"]


def test_area_and_bbox_agree_with_polygon(synth: Path) -> None:
    for split in SPLITS:
        for a in load(synth, split)["annotations"]:
            (poly,) = a["segmentation"]
            xy = np.asarray(poly).reshape(-1, 2)
            x, y, w, h = a["bbox"]
            assert a["iscrowd"] == 0
            assert a["area"] == pytest.approx(polygon_area(poly), abs=0.01)
            assert np.all(xy >= [x - 1e-6, y - 1e-6]) and np.all(xy <= [x + w + 1e-6, y + h + 1e-6])
            # tight: the polygon touches every side of its box
            assert xy.min(axis=0) == pytest.approx([x, y], abs=0.011)
            assert xy.max(axis=0) == pytest.approx([x + w, y + h], abs=0.011)
            assert 0 <= x and 0 <= y and x + w <= 320 and y + h <= 256


def test_summary_counts_match_files(synth: Path, tmp_path: Path) -> None:
    summary = make_synthetic(synth)  # already there: returns the manifest
    for split in SPLITS:
        data = load(synth, split)
        counts = summary["splits"][split]
        assert counts["images"] == len(data["images"])
        assert counts["annotations"] == len(data["annotations"])
        assert counts["small"] + counts["medium"] + counts["large"] == len(data["annotations"])
        assert counts["large"] == sum(coco_bucket(a["area"]) == "large" for a in data["annotations"])
    assert summary["params"] == {"seed": 0, "n_train": 16, "n_val": 8, "image_size": [320, 256]}


def test_rerun_is_a_no_op(root: Path) -> None:
    stamps = {p: p.stat().st_mtime_ns for p in root.rglob("*")}
    result = make_synthetic(root, seed=0)
    assert result["created"] is False
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*")} == stamps
    assert sorted(p.name for p in root.parent.iterdir()) == ["root"], "no temp dirs left behind"


def test_existing_other_content_needs_force(root: Path, tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="other parameters"):
        make_synthetic(root, seed=1)
    assert load(root, "val2017")["info"]["seed"] == 0, "the refused call must not touch root"
    made = make_synthetic(root, seed=1, n_train=2, n_val=1, force=True)
    assert made["created"] and load(root, "val2017")["info"]["seed"] == 1
    assert len(list((root / "train2017").iterdir())) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["root"]

    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    with pytest.raises(HarnessError, match="other content"):
        make_synthetic(stranger)
    assert (stranger / "notes.txt").read_text() == "mine"


def test_tampered_tree_is_not_taken_as_complete(root: Path) -> None:
    (root / "val2017" / sorted(p.name for p in (root / "val2017").iterdir())[0]).unlink()
    with pytest.raises(HarnessError):
        make_synthetic(root, seed=0)
    assert make_synthetic(root, seed=0, force=True)["created"] is True
    check_data_root(root, need_masks=True)


def test_empty_existing_dir_is_filled(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    assert make_synthetic(tmp_path / "d", n_train=1, n_val=1)["created"] is True
    check_data_root(tmp_path / "d")


@pytest.mark.parametrize("kwargs", [{"n_train": 0}, {"n_val": -1}, {"image_size": (64, 64)}])
def test_bad_parameters_are_refused(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(HarnessError):
        make_synthetic(tmp_path / "d", **kwargs)
    assert not (tmp_path / "d").exists()


# --- subset ----------------------------------------------------------------------------------

def test_subset_keeps_only_chosen_images_and_links_them(synth: Path, tmp_path: Path) -> None:
    out = tmp_path / "mini"
    summary = make_subset(synth, out, images=3, seed=0)
    for split in SPLITS:
        src, sub = load(synth, split), load(out, split)
        ids = {im["id"] for im in sub["images"]}
        assert len(ids) == 3 and summary["splits"][split]["images"] == 3
        assert ids <= {im["id"] for im in src["images"]}
        assert sub["annotations"] == [a for a in src["annotations"] if a["image_id"] in ids]
        assert sub["categories"] == src["categories"]
        for im in sub["images"]:
            link = out / split / im["file_name"]
            assert link.is_symlink() and link.resolve() == (synth / split / im["file_name"]).resolve()
        assert len(list((out / split).iterdir())) == 3
    check_data_root(out, need_masks=True)
    assert make_subset(synth, out, images=3, seed=0)["created"] is False


def test_dangling_subset_link_counts_as_missing(synth: Path, tmp_path: Path) -> None:
    source = tmp_path / "source"
    shutil.copytree(synth, source)
    make_subset(source, tmp_path / "mini", images=2, splits=("val2017",))
    gone = load(tmp_path / "mini", "val2017")["images"][0]["file_name"]
    (source / "val2017" / gone).unlink()
    with pytest.raises(HarnessError, match=f"1 of 2 .*first: {gone}"):
        check_data_root(tmp_path / "mini", splits=("val2017",))


def test_subset_is_deterministic_and_seed_dependent(synth: Path, tmp_path: Path) -> None:
    def picks(name: str, seed: int) -> list[int]:
        make_subset(synth, tmp_path / name, images=4, seed=seed, splits=("train2017",))
        return [im["id"] for im in load(tmp_path / name, "train2017")["images"]]

    assert picks("a", 0) == picks("b", 0)
    assert picks("a", 0) != picks("c", 7)


def test_subset_copies_when_not_linking(synth: Path, tmp_path: Path) -> None:
    out = tmp_path / "copy"
    make_subset(synth, out, images=2, link=False)
    files = list((out / "val2017").iterdir())
    assert len(files) == 2
    for f in files:
        assert not f.is_symlink() and f.read_bytes() == (synth / "val2017" / f.name).read_bytes()


def test_subset_only_picks_images_with_non_crowd_annotations(root: Path, tmp_path: Path) -> None:
    data = load(root, "val2017")
    first, second = data["images"][0]["id"], data["images"][1]["id"]
    for a in data["annotations"]:
        if a["image_id"] == first:
            a["iscrowd"] = 1
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] != second]
    ann_path(root, "val2017").write_text(json.dumps(data))
    usable = len(data["images"]) - 2

    make_subset(root, tmp_path / "sub", images=usable, splits=("val2017",))
    picked = {im["id"] for im in load(tmp_path / "sub", "val2017")["images"]}
    assert len(picked) == usable and first not in picked and second not in picked
    with pytest.raises(HarnessError, match=f"only {usable} images"):
        make_subset(root, tmp_path / "sub2", images=usable + 1, splits=("val2017",))


@pytest.mark.parametrize("case", ["no_root", "no_annotations", "zero", "too_many"])
def test_subset_errors_are_one_line(root: Path, tmp_path: Path, case: str) -> None:
    coco, n, needle = root, 3, None
    if case == "no_root":
        coco, needle = tmp_path / "absent", str(tmp_path / "absent")
    elif case == "no_annotations":
        ann_path(root, "val2017").unlink()
        needle = "instances_val2017.json"
    elif case == "zero":
        n, needle = 0, "images=0"
    else:
        n, needle = 17, "only 16 images"
    with pytest.raises(HarnessError) as err:
        make_subset(coco, tmp_path / "out", images=n)
    assert "\n" not in str(err.value) and needle in str(err.value)
    assert not (tmp_path / "out").exists()


# --- validation ------------------------------------------------------------------------------

def test_valid_roots_pass(synth: Path) -> None:
    check_data_root(synth)
    check_data_root(synth, splits=("val2017",), need_masks=True)


def edit(root: Path, split: str, change) -> None:
    data = load(root, split)
    change(data)
    ann_path(root, split).write_text(json.dumps(data))


def first_ann(data: dict) -> dict:
    return data["annotations"][0]


def drop_masks(data: dict) -> None:
    for a in data["annotations"][1:3]:
        del a["segmentation"]


VAL = "annotations/instances_val2017.json"
CASES = {
    # name: (corrupt(root) -> None, kwargs, substrings the message must contain)
    "root_missing": (lambda r: shutil.rmtree(r), {}, ["does not exist", "{root}"]),
    "root_empty": (lambda r: [shutil.rmtree(r), r.mkdir()], {}, ["is empty", "{root}"]),
    "ann_missing": (lambda r: (r / VAL).unlink(), {}, ["not found", f"{{root}}/{VAL}"]),
    "bad_json": (lambda r: (r / VAL).write_text('{"images": [] "annotations": []}'), {},
                 ["not valid JSON", "Expecting ',' delimiter: line 1 column 15", f"{{root}}/{VAL}",
                  "harness data synth"]),
    "not_object": (lambda r: (r / VAL).write_text("[1, 2]"), {}, ["JSON list", VAL]),
    "no_categories": (lambda r: edit(r, "val2017", lambda d: d.pop("categories")), {},
                      ["'categories' list", VAL]),
    "images_not_list": (lambda r: edit(r, "val2017", lambda d: d.update(images={})), {},
                        ["'images' list", VAL]),
    "bbox_negative": (lambda r: edit(r, "val2017", lambda d: first_ann(d).update(bbox=[1, 2, -3, 4])), {},
                      ["annotation id 10000101 ", "bbox", VAL]),
    "bbox_short": (lambda r: edit(r, "val2017", lambda d: first_ann(d).update(bbox=[1, 2, 3])), {},
                   ["annotation id 10000101 ", "bbox"]),
    "bbox_nan": (lambda r: edit(r, "val2017", lambda d: first_ann(d).update(bbox=[1, 2, math.nan, 4])), {},
                 ["annotation id 10000101 ", "finite"]),
    "bbox_string": (lambda r: edit(r, "val2017", lambda d: first_ann(d).update(bbox=[1, 2, "3", 4])), {},
                    ["annotation id 10000101 "]),
    "bad_image_id": (lambda r: edit(r, "val2017", lambda d: first_ann(d).update(image_id=424242)), {},
                     ["annotation id 10000101 ", "image_id 424242"]),
    "bad_category": (lambda r: edit(r, "val2017", lambda d: first_ann(d).update(category_id=99)), {},
                     ["annotation id 10000101 ", "category_id 99"]),
    "no_annotations": (lambda r: edit(r, "val2017", lambda d: d.update(annotations=[])), {},
                       ["no annotations", VAL]),
    "images_missing": (lambda r: [(r / "train2017" / f"00000000000{i}.jpg").unlink() for i in (3, 5)], {},
                       ["2 of 16", "000000000003.jpg", "train2017"]),
    "image_dir_missing": (lambda r: shutil.rmtree(r / "val2017"), {}, ["8 of 8", "folder missing"]),
    "masks_missing": (lambda r: edit(r, "train2017", drop_masks), {"need_masks": True},
                      ["2 annotation(s)", "annotation id 102", "instances_train2017.json"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_validation_errors_are_one_actionable_line(root: Path, case: str) -> None:
    corrupt, kwargs, needles = CASES[case]
    corrupt(root)
    with pytest.raises(HarnessError) as err:
        check_data_root(root, **kwargs)
    msg = str(err.value)
    assert "\n" not in msg
    for needle in needles:
        assert needle.format(root=root) in msg, (needle, msg)


def test_masks_only_required_when_asked(root: Path) -> None:
    edit(root, "train2017", lambda d: first_ann(d).pop("segmentation"))
    check_data_root(root)  # detection rows do not need masks
    with pytest.raises(HarnessError, match="annotation id 101"):
        check_data_root(root, need_masks=True)


def test_split_selection_skips_other_splits(root: Path) -> None:
    (root / VAL).write_text("not json")
    check_data_root(root, splits=("train2017",))
    with pytest.raises(HarnessError, match="instances_val2017.json"):
        check_data_root(root)


def test_annotation_fingerprint(root: Path) -> None:
    path = root / VAL
    fp = annotation_fingerprint(path)
    assert fp == hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    path.write_bytes(path.read_bytes() + b" ")
    assert annotation_fingerprint(path) != fp and len(annotation_fingerprint(path)) == 16


def test_categories_unknown_to_the_dataset_class_are_rejected(root: Path) -> None:
    path = root / "annotations" / "instances_train2017.json"
    data = json.loads(path.read_text())
    for c in data["categories"]:
        c["name"] = "blob-" + str(c["id"])
    path.write_text(json.dumps(data))
    with pytest.raises(HarnessError) as err:
        check_data_root(root, known_classes=("book", "kite"))
    assert "incomplete categories" in str(err.value) and "'book'" in str(err.value)
    assert "\n" not in str(err.value)
    check_data_root(root, splits=("val2017",), known_classes=("book", "kite"))
