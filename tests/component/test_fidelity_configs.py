"""Paper fidelity of every row's resolved config, and the audit that watches it: where the paper
is silent the rows follow py-faster-rcnn, and everything else is a declared deviation that the
audit and the report show (paper_configs/README.md). Builds configs and one assigner; no training."""
from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from harness.config.anchors import PAPER_INPUT, count_anchors, humanize, resize_input
from harness.config.audit import SETTINGS, audit_row
from harness.config.audit_values import train_split
from harness.config.resolve import (_pipelines, _transforms, declared_deviations, load_row_config,
                                     resolve_config)
from harness.report.fidelity_notes import deviation_footnotes, row_deviations
from harness.config.profiles import get_profile
from harness.paper.rows import Row, all_rows, get_row, load_tables
from harness.config.table6_split import apply_paper_train_split
from tests.conftest import ROOT, run_cli

ROWS = [r for r in all_rows() if r.runnable]


def paper_cfg(row: Row, data_root: Path = Path("/data/coco")):
    return resolve_config(row, get_profile("paper"), data_root, Path("/tmp/w"), processes=8).cfg


@pytest.fixture(scope="module")
def resolved() -> dict:
    return {r.id: paper_cfg(r) for r in ROWS}


def test_every_resize_of_every_row_caps_the_long_side_at_1000(resolved):
    for rid, cfg in resolved.items():
        scales = [s["scale"] for p in _pipelines(cfg) for s in _transforms(p) if s["type"] == "Resize"]
        assert len(scales) >= (1 if rid.startswith("table5.r") and "yes" in rid else 2), rid
        assert all(max(s) == 1000 and min(s) == 800 for s in scales), (rid, scales)   # MAX_SIZE
        assert resize_input(cfg) == PAPER_INPUT, rid


def test_table1_anchor_column_needs_the_1000_cap():
    t1 = load_tables()["table1"]
    for letter, published in (("a", "47k"), ("b", "12k"), ("c", "200k"), ("f", "750k")):
        cfg = load_row_config(t1.rows[letter])
        assert humanize(count_anchors(cfg)) == published == t1.rows[letter].columns["anchors"]
        for step in _transforms(cfg.test_dataloader.dataset.pipeline):   # mmdet's cap would not
            if step["type"] == "Resize":
                step["scale"] = (1333, 800)
        assert humanize(count_anchors(cfg)) != published


def test_every_detector_tests_with_py_faster_rcnn_nms(resolved):
    detectors = {rid: c for rid, c in resolved.items() if c.model.get("roi_head")}
    assert len(detectors) == 16   # Tables 2-5 and the two step-4 detectors
    for rid, cfg in detectors.items():
        rcnn = cfg.model.test_cfg.rcnn
        assert (rcnn.nms.iou_threshold, rcnn.score_thr, rcnn.max_per_img) == (0.3, 0.05, 100), rid


def test_every_rpn_cuts_and_filters_as_py_faster_rcnn(resolved):
    rpns = {rid: c for rid, c in resolved.items() if c.model.get("rpn_head")}
    assert len(rpns) == 11   # Table 1, the R-101 RPN, two step-3 RPNs, two shared models
    for rid, cfg in rpns.items():
        rpn = cfg.model.test_cfg.rpn
        single = len(cfg.model.rpn_head.anchor_generator.strides) == 1
        assert rpn.nms_pre == (6000 if single else 2000), rid   # TEST.RPN_PRE_NMS_TOP_N / level
        assert (rpn.nms.iou_threshold, rpn.min_bbox_size, rpn.max_per_img) == (0.7, 16, 1000), rid


@pytest.mark.parametrize("yes", ["table5.r50_yes", "table5.r101_yes"])
def test_table5_shared_rpn_cuts_like_the_rpns_behind_its_no_row(resolved, yes):
    """"yes" vs "no" must differ in sharing only: its RPN makes proposals as its producers do."""
    row = get_row(yes)
    no = get_row(yes.replace("yes", "no"))
    producers = [row.merge["rpn"], no.proposals_from, get_row(row.merge["detector"]).proposals_from]
    keys = lambda c: (c.nms_pre, c.nms.iou_threshold, c.min_bbox_size, c.max_per_img)  # noqa: E731
    for producer in producers:
        assert keys(resolved[yes].model.test_cfg.rpn) == keys(resolved[producer].model.test_cfg.rpn), producer


def test_fast_rcnn_background_floor_survives_the_dump_and_assigns_as_py_faster_rcnn(resolved, tmp_path):
    """BG_THRESH_LO 0.1: a RoI below 0.1 IoU is ignored, [0.1, 0.5) is background. mmdet needs a
    tuple for that (a list would make no negatives), so check it after the run dir's dump too."""
    import torch
    from mmengine.config import Config
    from mmengine.structures import InstanceData
    from mmdet.registry import TASK_UTILS
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    resolved["table2.c"].dump(str(tmp_path / "config.py"))
    cfg = Config.fromfile(str(tmp_path / "config.py"))
    assigner = TASK_UTILS.build(cfg.model.train_cfg.rcnn.assigner)
    gt = InstanceData(bboxes=torch.tensor([[0., 0., 100., 100.]]), labels=torch.tensor([3]))
    shifts = [90.5, 54.0, 33.0, 17.0]               # IoU 0.050, 0.299, 0.504, 0.709 with gt
    rois = InstanceData(priors=torch.tensor([[x, 0., x + 100., 100.] for x in shifts]))
    assert assigner.assign(rois, gt).gt_inds.tolist() == [-1, 0, 1, 1]


def _planted(tmp_path: Path, edit) -> Row:
    """A temp copy of row 2(c)'s config, edited."""
    base = get_row("table2.c")
    path = tmp_path / "planted.py"
    text = base.config_path.read_text().replace("'../_base_/", f"'{base.config_path.parent.parent}/_base_/")
    path.write_text(edit(text))
    return Row(table="table2", letter="c", name="planted", published=base.published,
               columns=base.columns, config=str(path), proposals_from="table1.c")


def test_audit_flags_a_planted_deviation_and_accepts_it_once_declared(tmp_path):
    def plant(text):
        text, n = re.subn(r"iou_threshold=0\.3", "iou_threshold=0.5", text)
        text, m = re.subn(r"scale=\(1000, 800\)", "scale=(1333, 800)", text)
        assert n == 1 and m == 2
        return text

    found = {f.setting: f for f in audit_row(_planted(tmp_path, plant), with_smoke=False)}
    nms, size = found["detector test NMS IoU"], found["input max size (px)"]
    assert (nms.verdict, nms.config, nms.paper) == ("MISMATCH", 0.5, 0.3)
    assert (size.verdict, size.config, size.paper) == ("MISMATCH", [1333], [1000])
    assert found["warm-up"].verdict.startswith("deviation: mmdet's linear warm-up")

    declared = lambda t: plant(t) + ("\npaper_deviations = {'detector test NMS IoU': 'as mmdet', "  # noqa: E731
                                     "'input max size (px)': 'as mmdet'}\n")   # merged with _base_'s
    found = {f.setting: f for f in audit_row(_planted(tmp_path, declared), with_smoke=False)}
    assert found["detector test NMS IoU"].verdict == "deviation: as mmdet"
    assert found["input max size (px)"].verdict == "deviation: as mmdet"
    assert found["warm-up"].verdict.startswith("deviation: mmdet's")   # the base's still count
    assert not [f for f in found.values() if f.verdict == "MISMATCH"]


def test_every_row_audits_clean_and_declares_nothing_stale_or_unknown():
    for row in ROWS:
        findings = audit_row(row, with_smoke=False)
        names = {s.name for s in SETTINGS["merged" if row.merge else
                                           row.task or load_tables()[row.table].task]}
        assert {f.setting for f in findings} == names
        assert not [f for f in findings if f.verdict == "MISMATCH"], row.id
        declared = declared_deviations(paper_cfg(row))
        assert set(declared) <= names, (row.id, set(declared) - names)   # a typo names nothing
        verdicts = {f.setting: f.verdict for f in findings}
        assert all(verdicts[k].startswith("deviation: ") for k in declared), row.id  # none stale
    # every setting the issue lists is audited for every row kind it applies to
    for kind, required in (("proposals", ["input max size (px)", "training split", "warm-up",
                                          "RPN NMS IoU, train / test proposals",
                                          "RPN pre-NMS boxes, train proposals",
                                          "RPN pre-NMS boxes, test proposals",
                                          "RPN post-NMS proposals, train / test",
                                          "RPN min proposal size"]),
                           ("detection", ["detector test NMS IoU", "RoI foreground / background IoU",
                                          "RoI operation", "RoI output size", "training split",
                                          "warm-up", "input max size (px)"]),
                           ("merged", ["detector test NMS IoU", "RPN pre-NMS boxes, test proposals",
                                       "RPN min proposal size", "input max size (px)"]),
                           ("segment_proposals", ["training split", "warm-up", "input max size (px)"])):
        assert set(required) <= {s.name for s in SETTINGS[kind]}, kind


def test_cli_audit_of_all_tables_ends_with_zero_mismatches():
    res = run_cli("audit", "table1", "table2", "table3", "table4", "table5", "table6", timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert re.search(r"\d+ settings checked: 0 mismatches, \d+ declared deviations", res.stdout)
    assert "deviation: COCO 2014 train" in res.stdout and "MISMATCH" not in res.stdout


def _coco2014(root: Path, images: bool = True) -> Path:
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "instances_train2014.json").write_text("{}")
    if images:
        (root / "train2014").mkdir()
    return root


def test_the_report_reads_each_row_declarations_as_mmengine_merges_them():
    """The report parses row configs (no torch); mmengine's own merge is the reference."""
    for row in ROWS:
        assert row_deviations(row) == declared_deviations(load_row_config(row)), row.id


def test_table6_trains_on_train2014_where_the_data_root_has_it(tmp_path):
    row = get_row("table6.c")
    with_2014 = _coco2014(tmp_path / "coco")
    cfg = paper_cfg(row, with_2014)
    assert apply_paper_train_split(cfg, with_2014)
    ds = cfg.train_dataloader.dataset
    assert (ds.ann_file, ds.data_prefix.img) == ("annotations/instances_train2014.json", "train2014/")
    assert train_split(cfg) == "train2014" and "training split" not in declared_deviations(cfg)
    # without the images (or for Tables 1-5) nothing changes and the deviation stays declared
    half = _coco2014(tmp_path / "half", images=False)
    kept = paper_cfg(row, half)
    assert not apply_paper_train_split(kept, half)
    assert train_split(kept) == "train2017"
    assert declared_deviations(kept)["training split"].startswith("COCO 2014 train")
    assert not apply_paper_train_split(paper_cfg(get_row("table2.c"), with_2014), with_2014)
    # the report's footnote follows what each run used (its record keeps its resolved config's
    # declarations, as the orchestrator writes them)
    run = {"switched": [{"profile": "paper", "paper_deviations": declared_deviations(cfg)}],
           "kept": [{"profile": "paper", "paper_deviations": declared_deviations(kept)}]}
    assert "training split" not in row_deviations(row, run["switched"])
    assert row_deviations(row, run["kept"])["training split"].startswith("COCO 2014 train")
    assert "warm-up" in row_deviations(row, run["switched"])


def test_report_tables_carry_their_deviation_footnotes():
    from harness.report.tables import render_table
    tables = load_tables()
    t6 = render_table(tables["table6"], [])
    assert "`harness audit table6` shows each setting): (1) warm-up, all rows: mmdet's" in t6
    assert "; (2) training split, all rows: COCO 2014 train" in t6
    [t5] = deviation_footnotes(tables["table5"])
    assert "RPN min proposal size, rows (r50_yes), (r101_yes): mmdet's two-stage" in t5
    assert "table5.r50_step3 (row (r50_yes)); table5.r50_step4 (row (r50_yes))" in t5
    assert "apply too: table1.c (all rows)." in render_table(tables["table2"], [])
    assert deviation_footnotes(replace(tables["table2"], rows={})) == []


def test_docs_list_every_declared_deviation():
    docs = (ROOT / "README.md").read_text()   # its "Paper fidelity" section
    table_lines = [ln for ln in docs.splitlines() if ln.startswith("| ")]
    for row in ROWS:
        short = f"{row.table.removeprefix('table')}({row.letter})"
        for setting in declared_deviations(paper_cfg(row)):
            assert any(f"| {setting} |" in ln and short in ln for ln in table_lines), (row.id, setting)
