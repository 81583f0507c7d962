"""Tables 4 and 5: the ResNet-101 entry with its test-dev result file, and the 4-step training
(RPN -> Fast R-CNN -> RPN frozen -> Fast R-CNN frozen -> one merged Faster R-CNN).

These check the registry, the merge and that the merged model loads strictly; the real runs are
in tests/integration/test_four_step_runs.py."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from harness.errors import HarnessError
from harness.orchestrate.four_step import merge_checkpoints, shared_differences
from harness.paper.rows import get_row, load_tables, resolve
from harness.orchestrate.sweep import plan


def test_registry_has_25_runnable_rows_and_the_steps_stay_out_of_the_tables():
    tables = load_tables()
    runnable = [r for t in tables.values() for r in t.runnable_rows]
    assert len(runnable) == 25
    assert [r.id for r in resolve(["table5"])] == ["table5.r50_no", "table5.r50_yes",
                                                   "table5.r101_no", "table5.r101_yes"]
    assert "r50_step3" not in tables["table5"].rows and get_row("table5.r50_step3").step
    assert resolve(["table5.r50_step3"]) == [get_row("table5.r50_step3")]   # runnable by id
    # the paper's inference times (Sec. 5.2.2 "Running time", Table 6's column) are data too
    assert [get_row(r).paper_time_s for r in ("table5.r50_yes", "table5.r101_yes", "table3.a",
                                               "table6.c")] == [0.148, 0.172, 0.32, 0.24]


def test_plan_runs_the_four_steps_in_order_before_the_merge():
    order = [s.row.id for s in plan([get_row("table5.r50_yes")])]
    assert order == ["table1.c", "table2.c", "table5.r50_step3", "table5.r50_step4", "table5.r50_yes"]
    order = [s.row.id for s in plan([get_row("table4.ours"), get_row("table5.r101_yes")])]
    assert order == ["table5.r101_rpn", "table4.ours", "table5.r101_no", "table5.r101_step3",
                     "table5.r101_step4", "table5.r101_yes"]
    step4 = get_row("table5.r101_step4")
    assert (step4.init_from, step4.proposals_from) == ("table5.r101_no", "table5.r101_step3")


def _save(tmp: Path, name: str, state: dict) -> str:
    path = tmp / f"{name}.pth"
    torch.save({"state_dict": state, "meta": {}}, path)
    return str(path)


def _states():
    g = torch.Generator().manual_seed(0)
    shared = {"backbone.conv1.weight": torch.randn(4, 3, generator=g),
              "neck.lateral_convs.0.conv.weight": torch.randn(2, 4, generator=g)}
    rpn = dict(shared, **{"bbox_head.rpn_cls.weight": torch.randn(3, 2, generator=g)})
    det = dict(shared, **{"roi_head.bbox_head.fc_cls.weight": torch.randn(81, 2, generator=g)})
    return rpn, det


def test_merge_renames_the_rpn_head_and_takes_shared_layers_once(tmp_path):
    rpn, det = _states()
    out = merge_checkpoints({"rpn": _save(tmp_path, "rpn", rpn), "detector": _save(tmp_path, "det", det)},
                            tmp_path / "merged.pth")
    merged = torch.load(out, weights_only=False)["state_dict"]
    assert sorted(merged) == ["backbone.conv1.weight", "neck.lateral_convs.0.conv.weight",
                              "roi_head.bbox_head.fc_cls.weight", "rpn_head.rpn_cls.weight"]
    assert torch.equal(merged["rpn_head.rpn_cls.weight"], rpn["bbox_head.rpn_cls.weight"])
    assert torch.equal(merged["roi_head.bbox_head.fc_cls.weight"], det["roi_head.bbox_head.fc_cls.weight"])


def test_merge_refuses_heads_that_do_not_share_backbone_and_fpn(tmp_path):
    rpn, det = _states()
    det = dict(det, **{"neck.lateral_convs.0.conv.weight": det["neck.lateral_convs.0.conv.weight"] + 1e-6})
    with pytest.raises(HarnessError, match=r"do not share their backbone and FPN \(1 tensors differ, "
                                           r"e.g. neck.lateral_convs.0.conv.weight\)"):
        merge_checkpoints({"rpn": _save(tmp_path, "rpn", rpn), "detector": _save(tmp_path, "det", det)},
                          tmp_path / "merged.pth")
    assert not (tmp_path / "merged.pth").exists()
    with pytest.raises(HarnessError, match="no 'bbox_head.\\*' weights: it is not the rpn step"):
        merge_checkpoints({"rpn": _save(tmp_path, "det2", _states()[1]),
                           "detector": _save(tmp_path, "det3", _states()[1])}, tmp_path / "m.pth")


def _model(row_id: str):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    from harness.config.resolve import resolve_config
    from harness.config.profiles import get_profile
    register_all_modules()
    cfg = resolve_config(get_row(row_id), get_profile("smoke"), Path("/data"), Path("/tmp/w")).cfg
    return MODELS.build(cfg.model)


def test_merged_checkpoint_loads_strictly_into_the_table5_model_with_one_backbone(tmp_path):
    """The step configs and the merged Faster R-CNN config describe the same layers: a merge of
    step-3/step-4 weights fills every parameter of the r50_yes model, and nothing is left over."""
    from mmengine.runner import load_checkpoint
    from mmdet.models.backbones import ResNet
    from mmdet.models.necks import FPN
    step3, step4 = _model("table5.r50_step3"), _model("table5.r50_step4")
    step3.backbone.load_state_dict(step4.backbone.state_dict())   # as if both came from step 2
    step3.neck.load_state_dict(step4.neck.state_dict())
    out = merge_checkpoints({"rpn": _save(tmp_path, "s3", step3.state_dict()),
                             "detector": _save(tmp_path, "s4", step4.state_dict())},
                            tmp_path / "merged.pth")
    faster = _model("table5.r50_yes")
    load_checkpoint(faster, str(out), map_location="cpu", strict=True)
    assert torch.equal(faster.rpn_head.rpn_cls.weight, step3.bbox_head.rpn_cls.weight)
    assert torch.equal(faster.roi_head.bbox_head.fc_cls.weight, step4.roi_head.bbox_head.fc_cls.weight)
    # one backbone and one FPN feed both heads
    assert sum(isinstance(m, ResNet) for m in faster.modules()) == 1
    assert sum(isinstance(m, FPN) for m in faster.modules()) == 1
    assert not shared_differences({k: v for k, v in faster.state_dict().items()},
                                  {k: v for k, v in step4.state_dict().items()})
