"""harness/evaluation without torch: backend selection, compact records, the synthetic masks, and
the chunked COCOeval procedure against one plain pycocotools COCOeval over every image (random
and adversarial inputs, both backends). The metric classes themselves: tests/component/
test_eval_parity.py."""
from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from pycocotools import mask as mask_util
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from harness.errors import HarnessError
from harness.evaluation import synthetic as S
from harness.evaluation.backends import BACKENDS, describe, get_api, set_backend
from harness.evaluation.compact import (box_anns, mask_anns, nbytes, pack_boxes, pack_masks,
                                        rle_areas)
from harness.evaluation.engine import average_precision, average_recall, group_by_image

TOL = 1e-4     # the parity tolerance; in fact AR is bit-identical here and AP within 3e-16


# ------------------------------------------------------------------ backend selection
def _cfg(**evaluators) -> dict:
    """An mmengine Config is a dict for what set_backend and describe read and write."""
    return dict(evaluators)


def test_set_backend_switches_every_harness_metric_and_nothing_else():
    cfg = _cfg(test_evaluator={"type": "HarnessCocoMetric", "metric": "proposal"},
               val_evaluator=[{"type": "SegmentProposalMetric"}, {"type": "CocoMetric"}])
    set_backend(cfg, "pycocotools")
    assert cfg["test_evaluator"]["backend"] == "pycocotools"
    assert cfg["val_evaluator"][0]["backend"] == "pycocotools"
    assert "backend" not in cfg["val_evaluator"][1]         # mmdet's own: always pycocotools
    with pytest.raises(HarnessError, match="unknown evaluation backend 'cocoapi'; use one of"):
        set_backend(cfg, "cocoapi")


def test_describe_names_metric_backend_and_installed_version():
    from importlib import metadata
    fce, pyc = metadata.version("faster-coco-eval"), metadata.version("pycocotools")
    assert describe(_cfg(test_evaluator={"type": "HarnessCocoMetric"})) == \
        f"HarnessCocoMetric (faster-coco-eval {fce} COCOeval_faster)"        # the default
    assert describe(_cfg(test_evaluator={"type": "SegmentProposalMetric",
                                         "backend": "pycocotools"})) == \
        f"SegmentProposalMetric (pycocotools {pyc} COCOeval)"
    assert describe(_cfg(test_evaluator={"type": "CocoMetric"})) == \
        f"MMDetection CocoMetric (pycocotools {pyc} COCOeval)"
    assert describe(_cfg(test_evaluator=None)) == "none"


def test_hashed_evaluator_drops_how_a_metric_computes_and_keeps_what_it_computes():
    """The config hash (harness/config/resolve.py) sees HarnessCocoMetric as the CocoMetric it
    replaced and no backend: runs made before it keep their hash (tests/component/
    test_config_hash.py resolves every row)."""
    from harness.evaluation.backends import hashed_evaluator
    base = {"ann_file": "a.json", "metric": "proposal", "format_only": False,
            "backend_args": None, "proposal_nums": (100, 300, 1000)}
    for backend in BACKENDS:
        ours = dict(base, type="HarnessCocoMetric", backend=backend, chunk_images=7)
        hashed_evaluator(ours)
        assert ours == dict(base, type="CocoMetric")
        segm = {"type": "SegmentProposalMetric", "ann_file": "a.json", "backend": backend}
        hashed_evaluator(segm)
        assert segm == {"type": "SegmentProposalMetric", "ann_file": "a.json"}
    mmdet = dict(base, type="CocoMetric", backend="x")    # not ours: hashed as written
    hashed_evaluator(mmdet)
    assert mmdet["backend"] == "x"
    changed = dict(base, type="HarnessCocoMetric", metric="bbox")  # what it computes still counts
    hashed_evaluator(changed)
    assert changed != dict(base, type="CocoMetric")


def test_evaluator_option_takes_package_names_and_refuses_others_in_one_line(capsys):
    from harness.cli.main import build_parser, main
    parser = build_parser()
    assert parser.parse_args(["run", "table1.c"]).evaluator == "faster_coco_eval"   # the default
    for text, backend in (("pycocotools", "pycocotools"), ("faster-coco-eval", "faster_coco_eval"),
                          ("faster_coco_eval", "faster_coco_eval")):
        assert parser.parse_args(["run", "table1.c", "--evaluator", text]).evaluator == backend
    assert main(["run", "table1.c", "--profile", "smoke", "--evaluator", "cocoapi"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(
        "harness: error: argument --evaluator: 'cocoapi' is not a COCO evaluation backend; use "
        "one of: faster-coco-eval, pycocotools")


def test_evaluator_option_refuses_a_backend_that_is_not_installed(capsys, monkeypatch):
    from harness.cli.main import main
    from harness.evaluation import backends
    real = backends.backend_version
    monkeypatch.setattr(backends, "backend_version",
                        lambda name: None if name == "faster_coco_eval" else real(name))
    assert main(["run", "table1.c", "--profile", "smoke"]) == 2        # the default, missing
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "argument --evaluator: faster-coco-eval is not installed" in err[0] \
        and "--evaluator pycocotools" in err[0]


# ------------------------------------------------------------------ synthetic masks, compact form
def _raster(h, w, cx, cy, rx, ry):
    yy, xx = np.mgrid[0:h, 0:w]
    m = np.zeros((h, w), np.uint8)
    for x in range(w):
        dx = (x + 0.5 - cx) / rx
        if abs(dx) < 1:
            half = ry * np.sqrt(1 - dx * dx)
            a, b = int(np.clip(np.round(cy - half), 0, h)), int(np.clip(np.round(cy + half), 0, h))
            m[a:b, x] = 1
    return m


@pytest.mark.parametrize("ellipse", [(20, 15, 6, 4), (0, 0, 10, 30), (40, 30, 100, 100),
                                     (39.5, 10, 3, 40), (-5, -5, 2, 2)])
def test_run_lengths_of_synthetic_masks_equal_pycocotools_encode(ellipse):
    h, w = 30, 40        # (40, 30, 100, 100) covers every pixel: full columns merge into one run
    counts = S.ellipse_rle(h, w, *ellipse)
    rle = mask_util.frPyObjects({"counts": counts, "size": [h, w]}, h, w)
    want = mask_util.encode(np.asfortranarray(_raster(h, w, *ellipse)))
    assert rle["counts"] == want["counts"] and sum(counts) == h * w


def test_mask_records_keep_rle_bytes_and_areas_and_rebuild_the_same_annotations():
    gt = S.ground_truth(3, seed=1)
    rec = next(S.masks(gt, 300, seed=2))          # 300 > 255: pycocotools' area() slices
    rles = [{"size": [rec.height, rec.width], "counts": c.decode()} for c in rec.counts]
    packed = pack_masks(rec.img_id, rec.scores, rles)
    assert packed.blob == b"".join(rec.counts) and packed.scores.dtype == np.float32
    assert packed.areas.tolist() == [int(mask_util.area(r)) for r in rles]
    anns = mask_anns(packed, 7, first_id=11)
    assert [a["segmentation"]["counts"] for a in anns] == rec.counts
    assert [a["id"] for a in anns[:2]] == [11, 12] and {a["category_id"] for a in anns} == {7}
    assert nbytes([packed]) == len(packed.blob) + 300 * (4 + 4 + 4) + 3 * 8
    with pytest.raises(ValueError, match="masks of sizes"):
        pack_masks(1, [0.5, 0.4], [rles[0], {"size": [5, 5], "counts": rles[1]["counts"]}])
    with pytest.raises(ValueError, match="compressed RLE"):
        pack_masks(1, [0.5], [{"size": [2, 2], "counts": [0, 4]}])
    assert rle_areas([]).shape == (0,)


def test_box_annotations_are_what_mmdet_cocometric_writes():
    boxes = np.array([[1.1, 2.2, 10.7, 5.3], [0, 0, 640, 480]], np.float32)
    rec = pack_boxes(5, boxes, np.array([0.9, 0.1], np.float32), np.array([1, 0]))
    anns = box_anns(rec, [3, 8], first_id=1)
    b = boxes[0].tolist()                       # CocoMetric.xyxy2xywh: float32 -> Python floats
    assert anns[0]["bbox"] == [b[0], b[1], b[2] - b[0], b[3] - b[1]]
    assert anns[0]["area"] == (b[2] - b[0]) * (b[3] - b[1]) and anns[0]["score"] == float(np.float32(0.9))
    assert [a["category_id"] for a in anns] == [8, 3]


# ------------------------------------------------------------------ COCOeval parity
def _write(tmp_path, gt) -> str:
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(gt))
    return str(path)


def _reference(ann_file, dets, iou_type, max_dets, use_cats, img_ids=None) -> np.ndarray:
    """One plain pycocotools COCOeval over everything (as mmdet's CocoMetric / the old code)."""
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(ann_file)
        ev = COCOeval(gt, gt.loadRes([dict(d) for d in dets]) if dets else COCO(), iou_type)
        ev.params.maxDets = list(max_dets)
        ev.params.useCats = use_cats
        if img_ids is not None:
            ev.params.imgIds = img_ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats[:12])


def _box_dets(records, cat_ids):
    return [{k: a[k] for k in ("image_id", "category_id", "bbox", "score")}
            for r in records for a in box_anns(r, cat_ids, 1)]


def _check_boxes(tmp_path, gt, records, metric, chunks=(1, 3, 250)):
    ann = _write(tmp_path, gt)
    cat_ids = [c["id"] for c in gt["categories"]]
    img_ids = [i["id"] for i in gt["images"]]
    nums = (2, 10, 1000) if metric == "proposal" else (100, 300, 1000)
    want = _reference(ann, _box_dets(records, cat_ids), "bbox", nums, 0 if metric == "proposal" else 1)
    by_image = group_by_image(records)
    for name in BACKENDS:
        api = get_api(name)
        gt_api = api.load(ann)
        to_anns = lambda rec, first: box_anns(rec, cat_ids, first)   # noqa: E731
        if metric == "bbox":
            got = average_precision(api, gt_api, by_image, img_ids, cat_ids, nums, to_anns)
            np.testing.assert_allclose(got, want, rtol=0, atol=TOL, err_msg=name)
            continue
        for chunk in chunks:
            ar = average_recall(api, gt_api, "bbox", by_image, img_ids, cat_ids, nums, to_anns, chunk)
            got = [ar[0, 0], ar[0, 1], ar[0, 2], ar[1, 2], ar[2, 2], ar[3, 2]]
            np.testing.assert_allclose(got, want[6:12], rtol=0, atol=TOL, err_msg=f"{name} {chunk}")
    return want


def _image(i, w=64, h=48):
    return {"id": i, "width": w, "height": h, "file_name": f"{i}.jpg"}


def _box_gt(images, objects, cats=(1, 2, 3)):
    """objects: (image_id, category_id, x, y, w, h, iscrowd)."""
    anns = []
    for k, (img, cat, x, y, w, h, crowd) in enumerate(objects, start=1):
        anns.append({"id": k, "image_id": img, "category_id": cat, "bbox": [x, y, w, h],
                     "area": float(w * h), "iscrowd": crowd,
                     "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]]})
    return {"images": images, "annotations": anns,
            "categories": [{"id": c, "name": f"c{c}"} for c in cats]}


def _rand_boxes(rng, img, n, w=64, h=48, labels=1, score_levels=None):
    xy = rng.uniform(0, [w, h], size=(n, 2))
    wh = rng.uniform(1, [w / 2, h / 2], size=(n, 2))
    s = rng.random(n) if score_levels is None else rng.integers(0, score_levels, n) / score_levels
    return pack_boxes(img, np.concatenate([xy, np.minimum(xy + wh, [w, h])], 1).astype(np.float32),
                      s.astype(np.float32), rng.integers(0, labels, n))


@pytest.mark.parametrize("metric", ["proposal", "bbox"])
def test_random_coco_like_boxes_match_one_pycocotools_cocoeval(tmp_path, metric):
    gt = S.ground_truth(12, seed=4)
    records = S.boxes(gt, 60, seed=5, class_aware=metric == "bbox")
    records = [pack_boxes(r.img_id, r.bboxes, r.scores, r.labels) for r in records]
    want = _check_boxes(tmp_path, gt, records, metric)
    assert 0 < want[0 if metric == "bbox" else 8] < 1


@pytest.mark.parametrize("metric", ["proposal", "bbox"])
def test_adversarial_boxes_match_one_pycocotools_cocoeval(tmp_path, metric):
    rng = np.random.default_rng(0)
    images = [_image(i) for i in (1, 2, 3, 4, 5)]
    objects = [
        (1, 1, 2, 2, 5, 5, 0), (1, 2, 30, 20, 20, 20, 0), (1, 1, 0, 0, 64, 48, 1),  # crowd region
        (2, 3, 10, 10, 4, 4, 0), (2, 3, 10, 10, 4, 4, 0),      # two identical objects
        (2, 1, 40, 8, 6, 6, 0), (2, 2, 40, 8, 6, 6, 0),        # same box, two categories
        # image 3: no ground truth at all; image 5: one object without predictions
        (4, 1, 50, 30, 14, 18, 0), (5, 2, 5, 5, 30, 30, 0),
        (5, 1, 30, 10, 32, 32, 0),                              # area 32^2: small and medium
    ]
    gt = _box_gt(images, objects)
    records = [
        # image 1: dets on the crowd region and near the objects, duplicate scores
        pack_boxes(1, np.array([[0, 0, 64, 48], [2, 2, 7, 7], [2.5, 2, 7, 7], [30, 20, 50, 40],
                                [31, 21, 50, 40]], np.float32),
                   np.array([0.5, 0.5, 0.5, 0.9, 0.9], np.float32), np.array([0, 0, 1, 1, 0])),
        # image 2: one det ties two identical objects, another equally good for both categories
        pack_boxes(2, np.array([[10, 10, 14, 14], [10, 10, 14, 14], [40, 8, 46, 14]], np.float32),
                   np.array([0.7, 0.7, 0.7], np.float32), np.array([2, 2, 0])),
        _rand_boxes(rng, 3, 40, labels=3, score_levels=4),   # no ground truth: all false
        _rand_boxes(rng, 4, 3, labels=3),                    # fewer than maxDets
        pack_boxes(5, np.array([[30, 10, 62, 42]], np.float32), np.array([0.3], np.float32), [0]),
    ]
    _check_boxes(tmp_path, gt, records, metric)


def test_empty_size_buckets_give_minus_one_and_no_predictions_give_zero(tmp_path):
    gt = _box_gt([_image(1), _image(2)], [(1, 1, 2, 2, 5, 5, 0), (2, 1, 10, 10, 8, 8, 0)])
    rng = np.random.default_rng(1)
    want = _check_boxes(tmp_path, gt, [_rand_boxes(rng, 1, 20)], "proposal")
    assert want[10] == want[11] == -1 and want[9] >= 0               # only small objects
    (tmp_path / "b").mkdir()
    ann = _write(tmp_path / "b", gt)
    for name in BACKENDS:
        api = get_api(name)
        ar = average_recall(api, api.load(ann), "bbox", {}, [1, 2], [1, 2, 3], (1, 10, 100),
                            lambda r, f: box_anns(r, [1], f))
        assert ar[0].tolist() == [0.0, 0.0, 0.0] and ar[2:].tolist() == [[-1.0] * 3] * 2
        ap = average_precision(api, api.load(ann), {}, [1, 2], [1, 2, 3], (1, 10, 100),
                               lambda r, f: box_anns(r, [1], f))
        assert ap[:3].tolist() == [0.0] * 3 and ap[4:6].tolist() == [-1.0, -1.0]


def _mask_gt(tmp_path, h=40, w=56):
    """Polygons (one touching every border), a crowd RLE, an image without objects."""
    images = [_image(i, w, h) for i in (1, 2, 3)]
    crowd = S.column_rle(h, w, np.arange(30, 56), np.full(26, 0), np.full(26, 40))
    anns = [
        {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": float(w * h),
         "segmentation": [[0, 0, w, 0, w, h, 0, h]], "bbox": [0, 0, w, h]},
        {"id": 2, "image_id": 1, "category_id": 2, "iscrowd": 0, "area": 36.0,
         "segmentation": [[3, 3, 9, 3, 9, 9, 3, 9]], "bbox": [3, 3, 6, 6]},
        {"id": 3, "image_id": 2, "category_id": 1, "iscrowd": 1, "area": float(sum(crowd[1::2])),
         "segmentation": {"counts": crowd, "size": [h, w]}, "bbox": [30, 0, 26, 40]},
        {"id": 4, "image_id": 2, "category_id": 1, "iscrowd": 0, "area": 120.0,
         "segmentation": [[0, 28, 12, 28, 12, 40, 0, 40]], "bbox": [0, 28, 12, 12]},
    ]
    return _write(tmp_path, {"images": images, "annotations": anns,
                             "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]})


def _mask_record(img, ellipses, scores, h=40, w=56):
    rles = mask_util.frPyObjects([{"counts": S.ellipse_rle(h, w, *e), "size": [h, w]}
                                  for e in ellipses], h, w)
    return pack_masks(img, np.asarray(scores, np.float64), rles)


def test_segment_ar_matches_one_pycocotools_cocoeval_on_masks_at_the_borders(tmp_path):
    ann = _mask_gt(tmp_path)
    rng = np.random.default_rng(3)
    records = [
        _mask_record(1, [(28, 20, 40, 40), (6, 6, 3, 3), (0, 0, 8, 8), (56, 40, 9, 9)],
                     [0.9, 0.9, 0.2, 0.2]),                   # full image, corners; tied scores
        _mask_record(2, [(43, 20, 14, 25), (6, 34, 7, 7)] + [
            tuple(rng.uniform([0, 0, 1, 1], [56, 40, 20, 20])) for _ in range(30)],
            rng.integers(0, 3, 32) / 3),                       # crowd hit; duplicate scores
        _mask_record(3, [(10, 10, 5, 5)], [1.0]),              # no ground truth
    ]
    dets = [{"image_id": a["image_id"], "category_id": 1, "score": a["score"],
             "segmentation": a["segmentation"]} for r in records for a in mask_anns(r, 1, 1)]
    want = _reference(ann, dets, "segm", (1, 3, 100), 0, img_ids=[1, 2, 3])
    assert want[8] > 0 and want[9] >= 0
    for name in BACKENDS:
        api = get_api(name)
        gt = api.load(ann)
        for chunk in (1, 2, 250):
            ar = average_recall(api, gt, "segm", group_by_image(records), [1, 2, 3], [1, 2],
                                (1, 3, 100), lambda r, f: mask_anns(r, 1, f), chunk)
            got = [ar[0, 0], ar[0, 1], ar[0, 2], ar[1, 2], ar[2, 2], ar[3, 2]]
            np.testing.assert_allclose(got, want[6:12], rtol=0, atol=TOL, err_msg=f"{name} {chunk}")


def test_chunking_refuses_recall_that_is_not_a_count(tmp_path, monkeypatch):
    """The consistency check between a chunk's recall and its own count of ground truth."""
    import harness.evaluation.engine as engine
    gt = _box_gt([_image(1)], [(1, 1, 2, 2, 5, 5, 0), (1, 1, 20, 20, 5, 5, 0)])
    ann = _write(tmp_path, gt)
    rec = pack_boxes(1, np.array([[2, 2, 7, 7]], np.float32), np.array([1.0], np.float32), [0])
    monkeypatch.setattr(engine, "_ignored_free_gt",
                        lambda *a: np.array([3, 3, 0, 0]))     # 1/2 recall is not k/3
    api = get_api("pycocotools")
    with pytest.raises(RuntimeError, match="is not a count over"):
        average_recall(api, api.load(ann), "bbox", {1: [rec]}, [1], [1], (1, 10, 100),
                       lambda r, f: box_anns(r, [1], f))
