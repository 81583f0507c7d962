"""The harness's metric classes with both backends give the numbers of the metrics they replace.

HarnessCocoMetric (box AP, proposal AR) against mmdet's CocoMetric, SegmentProposalMetric against
one plain pycocotools COCOeval 'segm' (the Table 6 metric before harness/evaluation existed), on
random COCO-like data and adversarial cases, through mmengine's BaseMetric.evaluate as a test loop
calls it; every key the harness reads must agree to 1e-4 (they are in fact identical: AR bit for bit, AP
within 3e-16 before CocoMetric's rounding to 3 decimals). Also: what
crosses the collective is compact, the row configs select these metrics, and --evaluator's
set_backend switches them. The COCOeval procedure itself: tests/unit/test_evaluation.py.
"""
from __future__ import annotations

import contextlib
import io
import json
import pickle
import random

import numpy as np
import pytest
import torch

from harness.evaluation import synthetic as S
from harness.evaluation.backends import BACKENDS, set_backend
from harness.evaluation.compact import BoxRecord, MaskRecord
from harness.evaluation.metrics import HarnessCocoMetric
from harness.models.segment import SegmentProposalMetric
from mmdet.evaluation.metrics import CocoMetric

TOL = 1e-4
CLASSES = tuple(name for _, name in S.COCO_CATEGORIES)


@pytest.fixture(scope="module")
def coco_like(tmp_path_factory):
    """12 COCO-like images, plus three adversarial ones: no objects, only a crowd region and one
    small object (a size bucket without ground truth), objects touching the borders."""
    gt = S.ground_truth(12, seed=7)
    w, h = 64, 48
    extra = [{"id": 900001 + i, "width": w, "height": h, "file_name": f"x{i}.jpg"} for i in range(3)]
    crowd = S.column_rle(h, w, np.arange(0, 64), np.zeros(64), np.full(64, 20))
    anns = [
        {"image_id": 900002, "category_id": 1, "iscrowd": 1, "area": float(sum(crowd[1::2])),
         "segmentation": {"counts": crowd, "size": [h, w]}, "bbox": [0, 0, 64, 20]},
        {"image_id": 900002, "category_id": 3, "iscrowd": 0, "area": 30.0,
         "segmentation": [[40, 30, 46, 30, 46, 35, 40, 35]], "bbox": [40, 30, 6, 5]},
        {"image_id": 900003, "category_id": 1, "iscrowd": 0, "area": float(w * h),
         "segmentation": [[0, 0, 64, 0, 64, 48, 0, 48]], "bbox": [0, 0, 64, 48]},
        {"image_id": 900003, "category_id": 18, "iscrowd": 0, "area": 1600.0,
         "segmentation": [[24, 8, 64, 8, 64, 48, 24, 48]], "bbox": [24, 8, 40, 40]},
    ]
    gt["images"] += extra
    for a in anns:
        gt["annotations"].append(dict(a, id=len(gt["annotations"]) + 1))
    path = tmp_path_factory.mktemp("eval") / "instances_val2017.json"
    path.write_text(json.dumps(gt))
    return gt, str(path)


def _evaluate(metric, samples, shuffle=False):
    metric.dataset_meta = dict(classes=CLASSES)
    for i in range(0, len(samples), 2):
        metric.process({}, samples[i:i + 2])
    if shuffle:   # collect_results interleaves the ranks' parts: the order must not matter
        random.Random(0).shuffle(metric.results)
    with contextlib.redirect_stdout(io.StringIO()):
        return metric.evaluate(len(samples))


def _box_samples(gt, metric: str, seed: int):
    recs = S.boxes(gt, 300 if metric == "proposal" else 100, seed, class_aware=metric == "bbox")
    out = []
    for k, r in enumerate(recs):
        scores = r.scores
        if k % 3 == 0:            # duplicate scores
            scores = np.round(scores * 4) / 4
        n = 5 if k % 4 == 1 else len(scores)     # fewer than maxDets
        out.append({"img_id": r.img_id, "ori_shape": (480, 640), "pred_instances": {
            "bboxes": torch.from_numpy(r.bboxes[:n]), "scores": torch.from_numpy(scores[:n]),
            "labels": torch.from_numpy(r.labels[:n])}})
    return out


def _assert_same(got: dict, want: dict):
    assert set(got) == set(want)
    for k in want:
        assert abs(got[k] - want[k]) <= TOL, (k, got[k], want[k])


@pytest.mark.parametrize("metric", ["proposal", "bbox"])
def test_harness_coco_metric_reports_what_mmdet_cocometric_reports(coco_like, metric):
    gt, ann = coco_like
    samples = _box_samples(gt, metric, seed=3)
    with contextlib.redirect_stdout(io.StringIO()):
        want = _evaluate(CocoMetric(ann_file=ann, metric=metric), samples)
    assert len(want) == 6 and any(v > 0 for v in want.values())
    for backend in BACKENDS:
        for chunk in (4, 250):
            got = _evaluate(HarnessCocoMetric(ann_file=ann, metric=metric, backend=backend,
                                              chunk_images=chunk), samples, shuffle=True)
            _assert_same(got, want)


def _segm_reference(ann, samples, nums):
    """Table 6's metric as it was: one pycocotools COCOeval 'segm', useCats = 0."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(ann)
        dt = gt.loadRes([dict(image_id=s["img_id"], category_id=1, score=float(sc), segmentation=m)
                         for s in samples for sc, m in zip(s["pred_instances"]["scores"],
                                                          s["pred_instances"]["masks"])])
        ev = COCOeval(gt, dt, "segm")
        ev.params.imgIds = sorted(s["img_id"] for s in samples)
        ev.params.useCats = 0
        ev.params.maxDets = list(nums)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    keys = [f"coco/segm_AR@{n}" for n in nums] + [f"coco/segm_AR_{s}@{nums[-1]}" for s in "sml"]
    return dict(zip(keys, (float(v) for v in ev.stats[6:12])))


def _mask_samples(gt, per_image: int, seed: int):
    out = []
    for k, m in enumerate(S.masks(gt, per_image, seed)):
        scores = np.round(m.scores * 8) / 8 if k % 2 else m.scores      # duplicate scores
        out.append({"img_id": m.img_id, "pred_instances": {
            "scores": torch.from_numpy(scores.astype(np.float32)),
            "masks": [{"size": [m.height, m.width], "counts": c.decode()} for c in m.counts]}})
    return out


def test_segment_proposal_metric_reports_what_one_pycocotools_cocoeval_reports(coco_like):
    gt, ann = coco_like
    samples = _mask_samples(gt, 120, seed=5)      # masks are clipped at the borders
    nums = (10, 50, 1000)                          # fewer masks than maxDets[-1]
    want = _segm_reference(ann, samples, nums)
    assert want["coco/segm_AR@1000"] > 0 and want["coco/segm_AR_s@1000"] >= 0
    for backend in BACKENDS:
        for chunk in (4, 250):
            got = _evaluate(SegmentProposalMetric(ann_file=ann, proposal_nums=nums, backend=backend,
                                                  chunk_images=chunk), samples, shuffle=True)
            _assert_same(got, want)


def test_segment_ar_with_no_masks_is_zero_and_a_bucket_without_objects_is_minus_one(coco_like):
    gt, ann = coco_like
    img = {"img_id": 900002, "pred_instances": {"scores": torch.zeros(0), "masks": []}}
    for backend in BACKENDS:
        assert set(_evaluate(SegmentProposalMetric(ann_file=ann, backend=backend), [img]).values()) == {0.0}
        one = _mask_samples({"images": [i for i in gt["images"] if i["id"] == 900002],
                             "annotations": [a for a in gt["annotations"] if a["image_id"] == 900002],
                             "categories": gt["categories"]}, 30, seed=1)
        got = _evaluate(SegmentProposalMetric(ann_file=ann, backend=backend), one)
        _assert_same(got, _segm_reference(ann, one, (10, 100, 1000)))
        assert got["coco/segm_AR_m@1000"] == got["coco/segm_AR_l@1000"] == -1   # only a small object


def test_results_cross_the_collective_compact_and_evaluate_the_same(coco_like):
    """What process() appends is what collect_results pickles to rank 0: tuples of arrays and one
    bytes blob per image, no per-box or per-mask Python objects."""
    gt, ann = coco_like
    box = _box_samples(gt, "proposal", seed=2)[:4]
    mask = _mask_samples(gt, 200, seed=2)[:4]
    m_box = HarnessCocoMetric(ann_file=ann, metric="proposal")
    m_mask = SegmentProposalMetric(ann_file=ann)
    m_box.process({}, box)
    m_mask.process({}, mask)
    for rec, kind in [(r, BoxRecord) for r in m_box.results] + [(r, MaskRecord) for r in m_mask.results]:
        assert isinstance(rec, kind)
        assert all(isinstance(v, (int, np.ndarray, bytes)) for v in rec)
        assert all(v.dtype != object for v in rec if isinstance(v, np.ndarray))
    blob = pickle.dumps(m_mask.results, protocol=2)            # as collect_results_cpu does
    counts = sum(len(m["counts"]) for s in mask for m in s["pred_instances"]["masks"])
    # the RLE bytes plus 12 bytes per mask (at most doubled: protocol 2 stores a buffer as a
    # latin-1 string, UTF-8 encoded); a dict per mask would add ~100 bytes each
    assert len(blob) < counts + 800 * 24 + 2000
    again = SegmentProposalMetric(ann_file=ann)
    again.results = pickle.loads(blob)
    assert again.compute_metrics(again.results) == m_mask.compute_metrics(m_mask.results)


def test_bad_backend_or_annotation_file_fail_when_the_metric_is_built(coco_like, tmp_path):
    from harness.errors import HarnessError
    _, ann = coco_like
    with pytest.raises(HarnessError, match="unknown evaluation backend 'fast'"):
        HarnessCocoMetric(ann_file=ann, backend="fast")
    with pytest.raises(FileNotFoundError, match="not found"):
        SegmentProposalMetric(ann_file=str(tmp_path / "missing.json"))
    with pytest.raises(ValueError, match="3 increasing counts"):
        HarnessCocoMetric(ann_file=ann, proposal_nums=(1000, 300, 100))
    with pytest.raises(ValueError, match="format_only"):
        HarnessCocoMetric(ann_file=ann, format_only=True)


def test_every_row_config_evaluates_with_faster_coco_eval_and_evaluator_switches_it(coco_like):
    """As resolved (merged with mmdet's base evaluator: backend_args, format_only), each row's
    test metric builds and names its backend."""
    from harness.config.resolve import load_row_config
    from harness.paper.rows import load_tables
    from mmdet.registry import METRICS
    seen = set()
    for table in load_tables().values():
        for row in table.runnable_rows:
            cfg = load_row_config(row)
            ev = cfg.test_evaluator
            assert ev.type in ("HarnessCocoMetric", "SegmentProposalMetric"), row.id
            assert ev.backend == "faster_coco_eval", row.id
            if ev.type == "HarnessCocoMetric":
                assert ev.metric == ("proposal" if table.id == "table1" or "rpn" in str(row.config_path)
                                     else "bbox"), row.id
            set_backend(cfg, "pycocotools")
            assert cfg.test_evaluator.backend == "pycocotools"
            built = METRICS.build(dict(cfg.test_evaluator.to_dict(), ann_file=coco_like[1]))
            assert built.backend == "pycocotools" and len(built.proposal_nums) == 3
            seen.add(ev.type)
    assert seen == {"HarnessCocoMetric", "SegmentProposalMetric"}


def test_the_record_names_the_backend_of_the_config_the_worker_ran(tmp_path):
    """A run resumed with another --evaluator keeps the config it started with (the hash leaves
    the backend out): its record must name that backend, not the one asked for now."""
    from importlib import metadata
    from pathlib import Path

    from harness.config.profiles import get_profile
    from harness.config.resolve import resolve_config
    from harness.orchestrate.record import metric_source
    from harness.paper.rows import get_row
    from harness.store import RunDir
    run = RunDir(tmp_path / "run")
    cfg = resolve_config(get_row("table1.c"), get_profile("smoke"), Path("/data/synth"),
                         run.work).cfg
    fce = (f"HarnessCocoMetric (faster-coco-eval {metadata.version('faster-coco-eval')} "
           "COCOeval_faster)")
    assert metric_source(run, cfg) == fce            # no run config yet: the resolved one
    run.path.mkdir(parents=True)
    set_backend(cfg, "pycocotools")
    run.config.write_text(cfg.pretty_text)            # the worker ran with pycocotools
    set_backend(cfg, "faster_coco_eval")              # the config resolved again says otherwise
    assert metric_source(run, cfg) == \
        f"HarnessCocoMetric (pycocotools {metadata.version('pycocotools')} COCOeval)"
