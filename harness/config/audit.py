"""`harness audit TABLE`: the paper's settings against each row's resolved config.

The rule (paper_configs/README.md): a setting the paper states is the paper's; one it does not
state follows py-faster-rcnn (Sec. 5: "Our code is a reimplementation of py-faster-rcnn"); anything
else is a declared deviation. Every setting names the paper section that states it, or the
py-faster-rcnn config key it follows. A mismatch is flagged unless the row config declares it,
`paper_deviations = {'<setting>': '<one-line reason>'}` (a child row withdraws an inherited
declaration with None). The smoke profile's overrides are shown in their own column, as an
overlay, never as mismatches of the paper profile."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from harness.config.anchors import count_anchors, humanize
from harness.config.audit_values import (anchor_sizes, box_coders, frozen, lateral_top_down,
                                         min_size, pre_nms, resize_sides, roi_iou, schedule,
                                         train_split, warmup)
from harness.config.profiles import get_profile
from harness.config.resolve import declared_deviations, resolve_config
from harness.paper.constants import PAPER_GPUS
from harness.paper.constants import PROPOSALS_PER_IMAGE as SPLIT_PROPOSALS
from harness.paper.constants import PAPER_IMAGES_PER_BATCH
from harness.paper.rows import Row, load_tables

FEATURE_STRIDES = {"C4": [16], "C5": [32], "{P_k}": [4, 8, 16, 32, 64], "P2": [4]}
PROPOSAL_SOURCE = {"RPN, {P_k}": "table1.c", "RPN, C4": "table1.a", "RPN, C5": "table1.b"}
# Rows of Tables 4-5 (and the 4-step steps) have no Table 1/2 columns: they are full FPN models.
ROW_DEFAULTS = {"feature": "{P_k}", "lateral": True, "top_down": True, "head": "2fc", "anchors": "200k"}
# Whose proposals the rows without a "proposals" column train and test on.
PRODUCERS = {"table5.r50_no": "table1.c", "table4.ours": "table5.r101_rpn", "table5.r101_no": "table5.r101_rpn",
             "table5.r50_step4": "table5.r50_step3", "table5.r101_step4": "table5.r101_step3"}


def col(row: Row, key: str):
    """A row's column value, or the full-FPN default for rows that do not state it."""
    value = row.columns.get(key)
    return ROW_DEFAULTS.get(key) if value is None else value


def _expected_producer(row: Row) -> str | None:
    return PROPOSAL_SOURCE[row.columns["proposals"]] if row.columns.get("proposals") \
        else PRODUCERS.get(row.id)


@dataclass(frozen=True)
class Setting:
    name: str
    section: str
    expected: Callable[[Row], Any]        # the paper's value for this row
    actual: Callable[[Any, Row], Any]     # the value in a resolved config


PF = "py-faster-rcnn"
PF_RCNN_BOXES = "bbox_transform: +1 px sizes, no clamp"
TRAINING = [  # every trained row
    Setting("training split", "5 (trainval35k), Table 6",
            lambda r: "train2014" if r.table == "table6" else "train2017",
            lambda c, r: train_split(c)),
    Setting("warm-up", f"{PF} solver (lr_policy step)", lambda r: "none", lambda c, r: warmup(c)),
]
MAX_SIZE = Setting("input max size (px)", f"{PF} TRAIN/TEST.MAX_SIZE", lambda r: [1000],
                   lambda c, r: resize_sides(c, max))
BOX_CODER = Setting("box coder", f"{PF} bbox_transform", lambda r: PF_RCNN_BOXES,
                    lambda c, r: ", ".join(box_coders(c)))
RPN_TEST = [  # the RPN of every RPN row and of a merged Faster R-CNN
    Setting("RPN pre-NMS boxes, test proposals", f"{PF} TEST.RPN_PRE_NMS_TOP_N", lambda r: 6000,
            lambda c, r: pre_nms(c)),
    Setting("RPN min proposal size", f"{PF} RPN_MIN_SIZE", lambda r: "16 px (original image)",
            lambda c, r: min_size(c)),
]
DETECTOR_TEST = [
    Setting("detector test NMS IoU", f"{PF} TEST.NMS", lambda r: 0.3,
            lambda c, r: c.model.test_cfg.rcnn.nms.iou_threshold),
    Setting("detector score thr, max detections", f"{PF} test_net", lambda r: (0.05, 100),
            lambda c, r: (c.model.test_cfg.rcnn.score_thr, c.model.test_cfg.rcnn.max_per_img)),
]


def _roi_strides(cfg) -> list[int]:
    return list(cfg.model.roi_head.bbox_roi_extractor.featmap_strides)


def _pipeline_proposals(cfg, loader: str):
    steps = [s for s in cfg[loader].dataset.pipeline if s.get("type") == "LoadProposals"]
    return steps[0].get("num_max_proposals") if steps else None


def _is_conv5(row: Row) -> bool:
    return col(row, "head") == "conv5"


COMMON = [
    Setting("input shorter side (px)", "5.1/5.2", lambda r: [800], lambda c, r: resize_sides(c)),
    Setting("images per GPU (x8 GPUs = 16)", "5.1/5.2", lambda r: 2,
            lambda c, r: c.train_dataloader.batch_size),
    Setting("learning rate", "5.1/5.2", lambda r: 0.02, lambda c, r: c.optim_wrapper.optimizer.lr),
    Setting("weight decay", "5.1/5.2", lambda r: 0.0001,
            lambda c, r: c.optim_wrapper.optimizer.weight_decay),
    Setting("momentum", "5.1/5.2", lambda r: 0.9, lambda c, r: c.optim_wrapper.optimizer.momentum),
    Setting("backbone", "5, 5.2.2-5.2.3", lambda r: "ResNet-101" if "ResNet-101" in
            (str(r.columns.get("backbone")), r.name.split(",")[0].split(" FPN")[0]) else "ResNet-50",
            lambda c, r: f"ResNet-{c.model.backbone.depth}"),
    Setting("backbone + FPN", "5.2.2; [29] steps 3-4",
            lambda r: "frozen" if r.step and r.init_from else "trained", lambda c, r: frozen(c)),
    MAX_SIZE, *TRAINING,
]
RPN = COMMON + [
    Setting("schedule (iterations per LR)", "5.1", lambda r: "30k + 10k", lambda c, r: schedule(c)),
    Setting("feature strides", "4.1, 5.1.1", lambda r: FEATURE_STRIDES[col(r, "feature")],
            lambda c, r: list(c.model.rpn_head.anchor_generator.strides)),
    Setting("lateral, top-down", "Table 1", lambda r: (col(r, "lateral"), col(r, "top_down")),
            lambda c, r: lateral_top_down(c)),
    Setting("feature channels d", "3", lambda r: 256 if col(r, "feature") in ("{P_k}", "P2") else None,
            lambda c, r: c.model.neck.out_channels if c.model.get("neck") else None),
    Setting("anchor sizes (px)", "4.1, 5.1.1", lambda r: [32, 64, 128, 256, 512],
            lambda c, r: anchor_sizes(c)),
    Setting("anchor aspect ratios", "4.1", lambda r: [0.5, 1.0, 2.0],
            lambda c, r: list(c.model.rpn_head.anchor_generator.ratios)),
    Setting("#anchors per image", "Table 1", lambda r: col(r, "anchors"),
            lambda c, r: humanize(count_anchors(c))),
    Setting("positive / negative IoU", "4.1", lambda r: (0.7, 0.3),
            lambda c, r: (c.model.train_cfg.rpn.assigner.pos_iou_thr,
                          c.model.train_cfg.rpn.assigner.neg_iou_thr)),
    Setting("sampled anchors per image", "5.1", lambda r: 256,
            lambda c, r: c.model.train_cfg.rpn.sampler.num),
    Setting("anchors outside the image", "5.1", lambda r: "included",
            lambda c, r: "included" if c.model.train_cfg.rpn.allowed_border < 0 else "ignored"),
    Setting("RPN head conv width", "3 (d = 256); C4, C5: not stated",
            lambda r: 256 if col(r, "feature") in ("{P_k}", "P2") else "not stated",
            lambda c, r: c.model.rpn_head.feat_channels),
    Setting("RPN NMS IoU, train / test proposals", f"{PF} TRAIN/TEST.RPN_NMS_THRESH",
            lambda r: (0.7, 0.7), lambda c, r: (c.model.test_cfg.rpn.nms.iou_threshold,) * 2),
    Setting("RPN pre-NMS boxes, train proposals", f"{PF} alt-opt rpn_generate", lambda r: "all",
            lambda c, r: pre_nms(c)),
    *RPN_TEST,
    Setting("RPN post-NMS proposals, train / test", "5.2", lambda r: (2000, 1000),
            lambda c, r: (SPLIT_PROPOSALS["train2017"], c.model.test_cfg.rpn.max_per_img)),
    BOX_CODER,
    Setting("metric", "5.1", lambda r: "proposal AR (pycocotools)",
            lambda c, r: "proposal AR (pycocotools)" if c.test_evaluator.get("metric") == "proposal"
            else c.test_evaluator.get("metric")),
]
DETECTOR = COMMON + [
    Setting("schedule (iterations per LR)", "5.2, 5.2.3",
            lambda r: "120k + 40k" if r.schedule == "2x" else "60k + 20k", lambda c, r: schedule(c)),
    Setting("proposals from", "5.2.1, 5.2.2", _expected_producer, lambda c, r: r.proposals_from),
    Setting("RoI features from strides", "4.2, 5.2.1",
            lambda r: [s for s in FEATURE_STRIDES[col(r, "feature")] if s != 64],
            lambda c, r: _roi_strides(c)),
    Setting("lateral, top-down", "Table 2", lambda r: (col(r, "lateral"), col(r, "top_down")),
            lambda c, r: lateral_top_down(c)),
    Setting("RoI operation", "4.2, 5.2.1", lambda r: "RoI pooling",
            lambda c, r: "RoI pooling" if c.model.roi_head.bbox_roi_extractor.roi_layer.type in
            ("RoIPool", "DeviceRoIPool") else c.model.roi_head.bbox_roi_extractor.roi_layer.type),
    Setting("RoI output size", "4.2, 5.2.1", lambda r: 14 if _is_conv5(r) else 7,
            lambda c, r: c.model.roi_head.bbox_roi_extractor.roi_layer.output_size),
    Setting("head", "4.2, 5.2.1", lambda r: "conv5" if _is_conv5(r) else "2 x 1024 fc",
            lambda c, r: "conv5" if c.model.roi_head.get("shared_head", {}).get("type") == "ResLayer"
            else (f"2 x {c.model.roi_head.bbox_head.fc_out_channels} fc"
                  if c.model.roi_head.bbox_head.type == "Shared2FCBBoxHead"
                  else c.model.roi_head.bbox_head.type)),
    Setting("RoI level mapping (Eq. 1, k0 = 4)", "4.2",
            lambda r: "k0=4" if len(FEATURE_STRIDES[col(r, "feature")]) > 1 else "single level",
            lambda c, r: ("k0=4" if c.model.roi_head.bbox_roi_extractor.finest_scale == 56
                          else f"finest_scale={c.model.roi_head.bbox_roi_extractor.finest_scale}")
            if len(_roi_strides(c)) > 1 else "single level"),
    Setting("RoIs per image (fg fraction)", "5.2", lambda r: (512, 0.25),
            lambda c, r: (c.model.train_cfg.rcnn.sampler.num, c.model.train_cfg.rcnn.sampler.pos_fraction)),
    Setting("RoI foreground / background IoU", f"{PF} FG_THRESH, BG_THRESH_LO/HI",
            lambda r: (">= 0.5", "[0.1, 0.5)"), lambda c, r: roi_iou(c)),
    *DETECTOR_TEST, BOX_CODER,
    Setting("proposals per image, train / test", "5.2", lambda r: (2000, 1000),
            lambda c, r: (_pipeline_proposals(c, "train_dataloader"),
                          _pipeline_proposals(c, "test_dataloader"))),
    Setting("metric", "5.2", lambda r: "bbox AP (pycocotools)",
            lambda c, r: "bbox AP (pycocotools)" if c.test_evaluator.get("metric") == "bbox"
            else c.test_evaluator.get("metric")),
]
# Table 6 (segmentation proposals, Appendix A). Rows: (a) 5x5 MLP only, (b) 7x7 only, (c) both,
# (d) = (c) with 28x28 masks, (e) = (d) with the schedule doubled.
def _segment_metric(cfg) -> str:
    ev = cfg.test_evaluator
    return "segment AR (pycocotools, class-agnostic)" if ev.get("type") == "SegmentProposalMetric" \
        else ev.get("type")


SEGMENT = [
    Setting("input shorter side (px)", "A", lambda r: [800], lambda c, r: resize_sides(c)),
    Setting("images per GPU (x8 GPUs = 16)", "A", lambda r: 2,
            lambda c, r: c.train_dataloader.batch_size),
    Setting("learning rate", "A", lambda r: 0.03, lambda c, r: c.optim_wrapper.optimizer.lr),
    *COMMON[3:],
    Setting("schedule (iterations per LR)", "A, Table 6(e)",
            lambda r: "120k + 40k" if r.schedule == "2x" else "60k + 20k", lambda c, r: schedule(c)),
    Setting("feature channels d", "A", lambda r: 128, lambda c, r: c.model.neck.out_channels),
    Setting("pyramid levels", "A", lambda r: "P2-P6",
            lambda c, r: "P2-P6" if c.model.neck.num_outs == 5 and
            c.model.neck.get("start_level", 0) == 0 else f"{c.model.neck.num_outs} levels"),
    Setting("MLPs", "6, A", lambda r: {"a": ["5x5"], "b": ["7x7"]}.get(r.letter, ["5x5", "7x7"]),
            lambda c, r: list(c.model.head.mlps)),
    Setting("mask output size", "6, A", lambda r: 28 if r.letter in ("d", "e") else 14,
            lambda c, r: c.model.head.mask_size),
    Setting("samples per image (positive fraction)", "A", lambda r: (128, 0.25),
            lambda c, r: (c.model.train_cfg.samples_per_image, c.model.train_cfg.pos_fraction)),
    Setting("mask loss weight", "A", lambda r: 10.0, lambda c, r: c.model.head.mask_loss_weight),
    Setting("proposals per image at test", "A", lambda r: 1000,
            lambda c, r: c.model.test_cfg.max_per_img),
    Setting("metric", "6", lambda r: "segment AR (pycocotools, class-agnostic)",
            lambda c, r: _segment_metric(c)),
]
# Table 5 "yes": one Faster R-CNN merged from steps 3 and 4, tested only (Sec. 5.2.2).
_names = ("feature strides", "anchor sizes (px)", "anchor aspect ratios", "RPN head conv width")
_detector = ("RoI features from strides", "RoI operation", "RoI output size", "head",
             "RoI level mapping (Eq. 1, k0 = 4)", "metric")
MERGED = [COMMON[0], COMMON[5], MAX_SIZE,
          Setting("one backbone + FPN for both heads", "5.2.2", lambda r: "shared (FasterRCNN)",
                  lambda c, r: "shared (FasterRCNN)" if c.model.type == "FasterRCNN" else c.model.type),
          *[s for s in RPN if s.name in _names],
          Setting("RPN NMS IoU, test proposals", f"{PF} TEST.RPN_NMS_THRESH", lambda r: 0.7,
                  lambda c, r: c.model.test_cfg.rpn.nms.iou_threshold),
          *RPN_TEST,
          Setting("proposals per image at test", "5.2", lambda r: 1000,
                  lambda c, r: c.model.test_cfg.rpn.max_per_img),
          *[s for s in DETECTOR if s.name in _detector], *DETECTOR_TEST, BOX_CODER]
SETTINGS = {"proposals": RPN, "detection": DETECTOR, "segment_proposals": SEGMENT, "merged": MERGED}


@dataclass
class Finding:
    row: str
    setting: str
    section: str
    paper: Any
    config: Any
    verdict: str          # "ok", "MISMATCH", "deviation: <reason>"
    smoke: Any = None     # the smoke overlay's value where it differs


def _safe(fn, *args):
    try:
        return fn(*args)
    except (AttributeError, KeyError, TypeError, IndexError) as exc:
        return f"<unset: {type(exc).__name__}>"


def audit_row(row: Row, data_root: Path = Path("/data/coco"), with_smoke: bool = True) -> list[Finding]:
    # The row as the paper ran it (8 GPUs); fitting the schedule to fewer GPUs is a property of
    # a run, recorded in its record as a deviation, not of the row's config.
    paper_cfg = resolve_config(row, get_profile("paper"), data_root, Path("/tmp/audit"),
                               processes=PAPER_GPUS).cfg
    smoke_cfg = resolve_config(row, get_profile("smoke"), data_root, Path("/tmp/audit")).cfg \
        if with_smoke else None
    return audit_config(row, paper_cfg, smoke_cfg)


def _update_setting(images_per_step: int) -> Setting:
    """Images per SGD update: a run's (per-GPU batch x processes x accumulated steps), which only
    a run has. The paper's is 16 (Sec. 5.1, 5.2; Appendix A)."""
    return Setting("images per SGD update", "5.1/5.2", lambda r: PAPER_IMAGES_PER_BATCH,
                   lambda c, r: images_per_step * int(c.optim_wrapper.get("accumulative_counts", 1) or 1))


def audit_config(row: Row, cfg, smoke_cfg=None, images_per_step: int | None = None) -> list[Finding]:
    """The paper's settings against one resolved config: a row's paper-profile config
    (audit_row), or a run's own final config after schedule fitting, --cfg-options and every
    override (harness/orchestrate/reproduction.py). A mismatch counts as declared only if the
    config's `paper_deviations` names the setting. images_per_step (a run's per-GPU batch x
    processes) adds the images per SGD update of a training run."""
    table = load_tables()[row.table]
    deviations = declared_deviations(cfg)
    settings = SETTINGS["merged" if row.merge else row.task or table.task]
    if images_per_step is not None and not row.merge:
        settings = [*settings, _update_setting(images_per_step)]
    out = []
    for s in settings:
        expected, actual = s.expected(row), _safe(s.actual, cfg, row)
        if isinstance(actual, tuple) and isinstance(expected, list):
            actual = list(actual)
        if actual == expected:
            verdict = "ok"
        elif s.name in deviations:
            verdict = f"deviation: {deviations[s.name]}"
        else:
            verdict = "MISMATCH"
        smoke = None
        if smoke_cfg is not None:
            sv = _safe(s.actual, smoke_cfg, row)
            smoke = sv if sv != actual else None
        out.append(Finding(row.id, s.name, s.section, expected, actual, verdict, smoke))
    return out


def render(findings: list[Finding]) -> str:
    """One block per row; the verdict comes last, so a declared deviation's reason can run on."""
    head = ("setting", "sec. / py-faster-rcnn key", "paper", "config (paper profile)", "smoke overlay")
    cells = [(f.setting, f.section, str(f.paper), str(f.config), "" if f.smoke is None else str(f.smoke))
             for f in findings]
    widths = [min(40, max([len(h)] + [len(c[i]) for c in cells])) for i, h in enumerate(head)]

    def line(values, verdict):
        return "  " + " ".join(f"{v:{w}}" for v, w in zip(values, widths)) + f" {verdict}"

    lines, current = [], None
    for f, c in zip(findings, cells):
        if f.row != current:
            current = f.row
            lines += ["", f.row, line(head, "verdict")]
        lines.append(line(c, f.verdict))
    return "\n".join(lines).lstrip("\n")
