"""Table 6 (segmentation proposals, Appendix A): target assignment, metric, model, smoke run.

"+-1 cell" as implemented (harness/models/segment/): an object is a positive of every cell of
its slot's level whose centre ((x + 0.5) * 2^k, (y + 0.5) * 2^k) lies within 2^k pixels of the
object's box centre in x and in y (inclusive), clipped to the feature map."""
from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.models.segment import (Assignment, FPNMaskProposalHead, SegmentProposalMetric,
                                    assign_targets, make_slots, paste_rle, segment_ar)
from harness.paper.rows import Row

IMG = (800, 1216)  # (h, w) network input, divisible by 64
DUAL = make_slots(("5x5", "7x7"))
ROW_FILES = {"a": "a_segprop_r50_fpn_mlp5x5.py", "b": "b_segprop_r50_fpn_mlp7x7.py",
             "c": "c_segprop_r50_fpn_dual_mlp.py", "d": "d_segprop_r50_fpn_dual_mlp_mask28.py",
             "e": "e_segprop_r50_fpn_dual_mlp_mask28_2x.py"}


def row(letter: str) -> Row:
    return Row(table="table6", letter=letter, name=letter, published={},
               config=f"table6/{ROW_FILES[letter]}")


def box_at(cx: float, cy: float, size: float, h: float | None = None):
    h = size if h is None else h
    return [cx - size / 2, cy - h / 2, cx + size / 2, cy + h / 2]


def cell_centre(level: int, y: int, x: int) -> tuple[float, float]:
    s = 2 ** level
    return (x + 0.5) * s, (y + 0.5) * s


def slots_of(assigned) -> set[tuple[str, int]]:
    return {(a.mlp, a.level) for a in assigned}


# ---------------------------------------------------------------- (i) target assignment
def test_slots_state_appendix_a_scales_and_windows():
    five = [s for s in DUAL if s.mlp == "5x5"]
    seven = [s for s in DUAL if s.mlp == "7x7"]
    assert [s.scale for s in five] == [32, 64, 128, 256, 512]
    assert [s.window for s in five] == [40, 80, 160, 320, 640]          # 25 % padding
    assert [s.stride for s in five] == [4, 8, 16, 32, 64]
    assert all(math.isclose(b.window, a.window * math.sqrt(2)) for a, b in zip(five, seven))


def test_64px_object_centred_on_p3_cell_is_the_3x3_block_of_the_5x5_mlp_on_p3():
    cx, cy = cell_centre(3, 20, 30)
    got = assign_targets([box_at(cx, cy, 64)], IMG, DUAL)
    assert got == sorted(Assignment("5x5", 3, y, x, 0) for y in (19, 20, 21) for x in (29, 30, 31))


def test_91px_object_goes_to_the_7x7_mlp_on_p3():
    cx, cy = cell_centre(3, 20, 30)
    got = assign_targets([box_at(cx, cy, 91, h=40)], IMG, DUAL)  # scale = max(w, h)
    assert slots_of(got) == {("7x7", 3)} and len(got) == 9


def test_32px_object_goes_to_the_5x5_mlp_on_p2():
    cx, cy = cell_centre(2, 50, 60)
    got = assign_targets([box_at(cx, cy, 32)], IMG, DUAL)
    assert slots_of(got) == {("5x5", 2)} and len(got) == 9


def test_large_objects_go_to_the_top_slots():
    # 600 px is nearer 512 than 512 * sqrt(2) = 724 in log2 space (0.23 vs 0.27 octaves)
    assert slots_of(assign_targets([box_at(600, 400, 600)], IMG, DUAL)) == {("5x5", 6)}
    # beyond the largest canonical scale: the largest slot (7x7 on P6)
    assert slots_of(assign_targets([box_at(600, 400, 1100, h=700)], IMG, DUAL)) == {("7x7", 6)}
    # below the smallest: the smallest slot
    assert slots_of(assign_targets([box_at(100, 100, 8)], IMG, DUAL)) == {("5x5", 2)}


def test_single_5x5_mlp_snaps_to_the_nearest_octave_in_log_space():
    five = make_slots(("5x5",))
    # log2(91) = 6.508: 0.492 octaves from 128, 0.508 from 64
    assert slots_of(assign_targets([box_at(400, 400, 91)], IMG, five)) == {("5x5", 4)}
    assert slots_of(assign_targets([box_at(400, 400, 90)], IMG, five)) == {("5x5", 3)}
    seven = make_slots(("7x7",))
    # 64 px is exactly half an octave from 45 and 91: the tie goes to the smaller scale
    assert slots_of(assign_targets([box_at(400, 400, 64)], IMG, seven)) == {("7x7", 2)}


def test_off_centre_object_owns_two_cells_per_axis_and_maps_clip_at_the_border():
    # centre on a P3 cell corner (x = 240, y = 160): cell centres at 236 and 244 are within 8 px
    got = assign_targets([box_at(240, 160, 64)], IMG, DUAL)
    assert {(a.y, a.x) for a in got} == {(19, 29), (19, 30), (20, 29), (20, 30)}
    # centred on the first P3 cell: the map has no row / column -1
    cx, cy = cell_centre(3, 0, 0)
    got = assign_targets([box_at(cx, cy, 64)], IMG, DUAL)
    assert {(a.y, a.x) for a in got} == {(0, 0), (0, 1), (1, 0), (1, 1)}


def test_a_cell_claimed_twice_keeps_the_nearer_object():
    cx, cy = cell_centre(3, 20, 30)
    got = assign_targets([box_at(cx, cy, 64), box_at(cx + 8, cy, 64)], IMG, DUAL)
    owner = {(a.y, a.x): a.gt for a in got}
    assert owner[(20, 30)] == 0 and owner[(20, 31)] == 1 and owner[(20, 32)] == 1
    assert owner[(20, 29)] == 0 and len(got) == 12


# ---------------------------------------------------------------- (ii) the metric
def _square_rle(h, w, x0, y0, x1, y1):
    m = np.zeros((h, w), dtype=np.uint8)
    m[y0:y1, x0:x1] = 1
    import pycocotools.mask as mu
    rle = mu.encode(np.asfortranarray(m))
    rle["counts"] = rle["counts"].decode()
    return rle


def _gt_file(tmp_path: Path) -> Path:
    h, w = 120, 160
    images = [{"id": i, "width": w, "height": h, "file_name": f"{i}.jpg"} for i in (1, 2)]
    boxes = {1: [(10, 10, 30, 30), (40, 20, 110, 100)], 2: [(5, 5, 20, 15), (60, 30, 120, 70)]}
    anns, aid = [], 1
    for img, bs in boxes.items():
        for k, (x0, y0, x1, y1) in enumerate(bs):
            poly = [x0, y0, x1, y0, x1, y1, x0, y1]
            anns.append({"id": aid, "image_id": img, "category_id": 1 + k, "iscrowd": 0,
                         "area": float((x1 - x0) * (y1 - y0)), "segmentation": [poly],
                         "bbox": [x0, y0, x1 - x0, y1 - y0]})
            aid += 1
    path = tmp_path / "gt.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": [
        {"id": 1, "name": "a"}, {"id": 2, "name": "b"}]}))
    return path


def test_metric_equals_pycocotools_called_directly(tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    ann = _gt_file(tmp_path)
    rng = np.random.default_rng(0)
    preds = []
    for img in (1, 2):
        masks, scores = [], []
        for _ in range(25):
            x0, y0 = rng.integers(0, 120), rng.integers(0, 90)
            x1, y1 = x0 + rng.integers(5, 60), y0 + rng.integers(5, 50)
            masks.append(_square_rle(120, 160, x0, y0, x1, y1))
            scores.append(float(rng.random()))
        masks.append(_square_rle(120, 160, 11, 10, 30, 31))  # a near-perfect hit on image 1's small
        scores.append(0.5)
        preds.append({"img_id": img, "scores": scores, "masks": masks})

    metric = SegmentProposalMetric(ann_file=str(ann), proposal_nums=(10, 20, 1000))
    for p in preds:
        metric.process({}, [{"img_id": p["img_id"], "pred_instances": {
            "scores": torch.tensor(p["scores"]), "masks": p["masks"]}}])
    got = metric.evaluate(size=2)

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(ann))
        dt = gt.loadRes([{"image_id": p["img_id"], "category_id": 2, "score": s,
                          "segmentation": m} for p in preds for s, m in zip(p["scores"], p["masks"])])
        ev = COCOeval(gt, dt, iouType="segm")
        ev.params.useCats = 0
        ev.params.maxDets = [10, 20, 1000]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert got["coco/segm_AR@10"] == pytest.approx(ev.stats[6])
    assert got["coco/segm_AR@20"] == pytest.approx(ev.stats[7])
    assert got["coco/segm_AR@1000"] == pytest.approx(ev.stats[8])
    assert got["coco/segm_AR_s@1000"] == pytest.approx(ev.stats[9])
    assert got["coco/segm_AR_m@1000"] == pytest.approx(ev.stats[10])
    assert got["coco/segm_AR_l@1000"] == pytest.approx(ev.stats[11])
    assert 0 < got["coco/segm_AR@1000"] < 1 and got["coco/segm_AR_s@1000"] > 0
    # class-agnostic: a prediction on the right region counts whatever its category
    perfect = [{"img_id": i, "scores": [1.0, 0.9], "masks": [
        _square_rle(120, 160, *b) for b in bs]} for i, bs in
        ((1, [(10, 10, 30, 30), (40, 20, 110, 100)]), (2, [(5, 5, 20, 15), (60, 30, 120, 70)]))]
    assert segment_ar(str(ann), perfect)["segm_AR@1000"] == pytest.approx(1.0)


def test_paste_rle_puts_the_mask_in_its_window_clipped_to_the_image():
    import pycocotools.mask as mu
    rle = paste_rle(torch.ones(14, 14), (-10, 20, 30, 60), 50, 40)
    m = mu.decode(rle)
    assert m.shape == (50, 40) and isinstance(rle["counts"], str)
    assert m.sum() == 30 * 30 and m[20:50, 0:30].all()


# ---------------------------------------------------------------- (iii) the model
@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Row (c)'s model and its smoke-profile dataloaders on the synthetic data."""
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner

    from harness.config.resolve import resolve_config
    from harness.data.synth import make_synthetic
    from harness.config.profiles import get_profile
    from mmdet.registry import MODELS
    root = tmp_path_factory.mktemp("t6") / "synth"
    make_synthetic(root)
    cfg = resolve_config(row("c"), get_profile("smoke"), root, root.parent / "work").cfg
    init_default_scope("mmdet")
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    cfg.test_dataloader.dataset.pipeline[1]["scale"] = (400, 320)  # 1.25x: Resize is undone
    train = Runner.build_dataloader(cfg.train_dataloader, seed=0)
    test = Runner.build_dataloader(cfg.test_dataloader, seed=0)
    return model, next(iter(train)), next(iter(test))


def test_row_configs_state_their_one_change():
    from harness.config.resolve import load_row_config
    heads = {k: load_row_config(row(k)) for k in ROW_FILES}
    assert tuple(heads["c"].model.head.mlps) == ("5x5", "7x7")
    assert tuple(heads["a"].model.head.mlps) == ("5x5",)
    assert tuple(heads["b"].model.head.mlps) == ("7x7",)
    assert heads["c"].model.head.mask_size == 14 and heads["d"].model.head.mask_size == 28
    c, e = heads["c"], heads["e"]
    assert c.model.neck.out_channels == 128 and c.model.neck.num_outs == 5
    assert c.optim_wrapper.optimizer.lr == 0.03 and c.train_cfg.max_iters == 80000
    assert c.param_scheduler[-1].milestones == [60000]
    assert e.train_cfg.max_iters == 160000 and e.param_scheduler[-1].milestones == [120000]
    assert e.model.head.mask_size == 28
    assert c.model.train_cfg == dict(samples_per_image=128, pos_fraction=0.25)
    assert c.model.test_cfg == dict(max_per_img=1000)
    assert c.test_evaluator.type == "SegmentProposalMetric" and c.val_dataloader is None
    load = [s for s in c.train_dataloader.dataset.pipeline if s.type == "LoadAnnotations"]
    assert load[0].with_mask is True


def test_loss_is_finite_and_mask_loss_is_weighted_x10_on_positives_only(built):
    model, batch, _ = built
    model.train()
    data = model.data_preprocessor(batch, True)
    torch.manual_seed(1)
    losses = model.loss(data["inputs"], data["data_samples"])
    assert all(torch.isfinite(v).all() for v in losses.values())
    assert losses["num_pos"] > 0 and losses["loss_mask"] > 0
    head = model.head
    head.mask_loss_weight = 1.0
    try:
        torch.manual_seed(1)
        unweighted = model.loss(data["inputs"], data["data_samples"])
    finally:
        head.mask_loss_weight = 10.0
    assert losses["loss_mask"].item() == pytest.approx(10 * unweighted["loss_mask"].item(), rel=1e-5)
    assert losses["loss_score"].item() == pytest.approx(unweighted["loss_score"].item(), rel=1e-5)

    # no objects: no positives, so the mask branch gets neither loss nor gradient
    empty = [s.clone() for s in data["data_samples"]]
    for s in empty:
        s.gt_instances = s.gt_instances[:0]
    model.zero_grad()
    out = model.loss(data["inputs"], empty)
    assert out["loss_mask"].item() == 0.0 and out["num_pos"].item() == 0
    assert torch.isfinite(out["loss_score"]) and out["loss_score"] > 0
    (out["loss_mask"] + out["loss_score"]).backward()
    for m in head.mlps.values():
        assert not m.mask.weight.grad.abs().any()
        assert m.score.weight.grad.abs().sum() > 0


def test_predict_returns_at_most_1000_rle_masks_in_original_image_size(built):
    model, _, batch = built
    model.eval()
    with torch.no_grad():
        samples = model.test_step(batch)
    for s in samples:
        assert s.img_shape == (320, 400) and tuple(s.ori_shape) == (256, 320)
        pred = s.pred_instances
        n = len(pred)
        assert 0 < n <= 1000 and len(pred.masks) == n and pred.bboxes.shape == (n, 4)
        assert (pred.scores[:-1] >= pred.scores[1:]).all()
        assert all(m["size"] == [256, 320] and isinstance(m["counts"], str) for m in pred.masks)


def test_head_rejects_unknown_mlp():
    with pytest.raises(ValueError, match="unknown MLP"):
        FPNMaskProposalHead(mlps=("3x3",))


def test_mask_target_crop_and_paste_use_the_same_window():
    """The training target (crop of the window, resized) pasted back lands on the object."""
    import pycocotools.mask as mu

    from harness.models.segment import window_boxes
    from mmdet.structures.mask import BitmapMasks
    h, w = 256, 320
    gt = np.zeros((1, h, w), dtype=np.uint8)
    cx, cy = cell_centre(3, 15, 20)
    x0, y0 = int(cx - 32), int(cy - 24)
    gt[0, y0:y0 + 48, x0:x0 + 64] = 1
    slot = next(s for s in DUAL if (s.mlp, s.level) == ("5x5", 3))
    win = window_boxes(slot, torch.tensor([15]), torch.tensor([20]))
    ious = {}
    for size in (80, 28):  # 80: one target cell per window pixel, so the round trip is exact
        target = BitmapMasks(gt, h, w).crop_and_resize(win, (size, size), torch.tensor([0])).masks[0]
        back = mu.decode(paste_rle(torch.as_tensor(target, dtype=torch.float32), win[0].tolist(),
                                   h, w))
        ious[size] = (back & gt[0]).sum() / (back | gt[0]).sum()
    assert ious[80] == 1.0 and ious[28] > 0.9   # 28: ~1 px quantisation at the edges


def test_audit_finds_every_table6_row_as_the_paper_states_it():
    from harness.config.audit import audit_row
    from harness.paper.rows import get_row
    findings = [f for k in ROW_FILES for f in audit_row(get_row(f"table6.{k}"), with_smoke=False)]
    assert len({f.setting for f in findings}) >= 12
    # the fidelity rule: every setting is the paper's or a declared deviation (with its reason)
    assert [f"{f.row} {f.setting}: {f.config!r}" for f in findings if f.verdict == "MISMATCH"] == []
    assert all(f.verdict == "ok" or f.verdict.startswith("deviation: ") for f in findings)


def test_batched_paste_equals_one_at_a_time():
    from harness.models.segment import paste_rles
    g = torch.Generator().manual_seed(0)
    probs = torch.rand(7, 14, 14, generator=g)
    boxes = [(-20, -10, 60, 70), (5, 5, 85, 85), (100, 30, 213, 143), (-50, -50, 590, 590),
             (150, 90, 230, 170), (0.4, 0.6, 80.4, 80.6), (300, 300, 340, 340)]
    batched = paste_rles(probs, torch.tensor(boxes), 120, 160, chunk=2)
    assert batched == [paste_rle(p, b, 120, 160) for p, b in zip(probs, boxes)]
    assert batched[-1]["counts"] == paste_rle(torch.zeros(14, 14), boxes[0], 120, 160)["counts"]
