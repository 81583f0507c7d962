"""`harness audit TABLE`: the paper's stated settings against each row's resolved config.

Every setting names the paper section that states it. A mismatch is flagged unless the row config
declares it a deliberate deviation, `paper_deviations = {'<setting>': '<one-line reason>'}`. The
smoke profile's overrides are shown in their own column, as an overlay, never as mismatches of
the paper profile."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from harness.config.anchors import count_anchors, humanize
from harness.config.resolve import resolve_config
from harness.config.profiles import get_profile
from harness.paper.constants import PAPER_IMAGES_PER_BATCH
from harness.paper.rows import Row, load_tables

FEATURE_STRIDES = {"C4": [16], "C5": [32], "{P_k}": [4, 8, 16, 32, 64], "P2": [4]}
PROPOSAL_SOURCE = {"RPN, {P_k}": "table1.c", "RPN, C4": "table1.a", "RPN, C5": "table1.b"}
PAPER_GPUS = 8  # Sec. 5.1, 5.2: synchronized SGD on 8 GPUs
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


def _frozen(cfg) -> str:
    """Steps 3-4 of the 4-step training keep backbone and FPN fixed (Ren et al. [29])."""
    backbone = cfg.model.backbone.get("frozen_stages", -1) >= 4
    keys = (cfg.optim_wrapper.get("paramwise_cfg") or {}).get("custom_keys") or {}
    neck = keys.get("neck", {}).get("lr_mult", 1) == 0 and keys.get("neck", {}).get("decay_mult", 1) == 0
    return "frozen" if backbone and neck else "trained" if not (backbone or neck) else \
        f"backbone {'frozen' if backbone else 'trained'}, FPN {'frozen' if neck else 'trained'}"


@dataclass(frozen=True)
class Setting:
    name: str
    section: str
    expected: Callable[[Row], Any]        # the paper's value for this row
    actual: Callable[[Any, Row], Any]     # the value in a resolved config


def _resize_short_sides(cfg) -> list[int]:
    from harness.config.resolve import _pipelines, _transforms
    return sorted({min(s["scale"]) for p in _pipelines(cfg) for s in _transforms(p)
                   if s.get("type") == "Resize"})


def _lateral_top_down(cfg) -> tuple[bool, bool]:
    neck = cfg.model.get("neck")
    if neck is None:
        return (False, False)
    if neck.type == "FPN":
        return (True, True)
    defaults = {"PaperFPN": (True, True), "BottomUpPyramid": (True, False),
                "TopDownNoLateral": (False, True)}[neck.type]
    return (neck.get("lateral", defaults[0]), neck.get("top_down", defaults[1]))


def _anchor_sizes(cfg) -> list[int]:
    g = cfg.model.rpn_head.anchor_generator
    return sorted({int(s * sc) for s in g.strides for sc in g.scales}) if len(g.strides) > 1 or \
        len(g.scales) > 1 else [int(g.strides[0] * g.scales[0])]


def _iters(n: int) -> str:
    return f"{n / 1000:g}k" if n >= 1000 else str(n)


def _schedule(cfg) -> str:
    """Iterations per LR, counted in SGD updates as the paper counts them: k accumulated steps
    (harness/config/schedule.py fit_to_batch) are one update. An LR step past the last
    iteration never happens and is not part of the schedule (a shortened run: "2 iterations")."""
    k = int(cfg.optim_wrapper.get("accumulative_counts", 1) or 1)
    end = cfg.train_cfg.max_iters
    steps = [m for s in cfg.param_scheduler if "milestones" in s for m in s["milestones"] if m < end]
    bounds = [0, *steps, end]
    phases = [b - a for a, b in zip(bounds, bounds[1:])]
    if any(p % k for p in phases):
        return " + ".join(map(_iters, phases)) + f" iterations, {k} per update"
    return " + ".join(_iters(p // k) for p in phases)


def _roi_strides(cfg) -> list[int]:
    return list(cfg.model.roi_head.bbox_roi_extractor.featmap_strides)


def _pipeline_proposals(cfg, loader: str):
    steps = [s for s in cfg[loader].dataset.pipeline if s.get("type") == "LoadProposals"]
    return steps[0].get("num_max_proposals") if steps else None


def _is_conv5(row: Row) -> bool:
    return col(row, "head") == "conv5"


COMMON = [
    Setting("input shorter side (px)", "5.1/5.2", lambda r: [800], lambda c, r: _resize_short_sides(c)),
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
            lambda r: "frozen" if r.step and r.init_from else "trained", lambda c, r: _frozen(c)),
]
RPN = COMMON + [
    Setting("schedule (iterations per LR)", "5.1", lambda r: "30k + 10k", lambda c, r: _schedule(c)),
    Setting("feature strides", "4.1, 5.1.1", lambda r: FEATURE_STRIDES[col(r, "feature")],
            lambda c, r: list(c.model.rpn_head.anchor_generator.strides)),
    Setting("lateral, top-down", "Table 1", lambda r: (col(r, "lateral"), col(r, "top_down")),
            lambda c, r: _lateral_top_down(c)),
    Setting("feature channels d", "3", lambda r: 256 if col(r, "feature") in ("{P_k}", "P2") else None,
            lambda c, r: c.model.neck.out_channels if c.model.get("neck") else None),
    Setting("anchor sizes (px)", "4.1, 5.1.1", lambda r: [32, 64, 128, 256, 512],
            lambda c, r: _anchor_sizes(c)),
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
    Setting("proposals per image at test", "5.2", lambda r: 1000,
            lambda c, r: c.model.test_cfg.rpn.max_per_img),
    Setting("metric", "5.1", lambda r: "proposal AR (pycocotools)",
            lambda c, r: "proposal AR (pycocotools)" if c.test_evaluator.get("metric") == "proposal"
            else c.test_evaluator.get("metric")),
]
DETECTOR = COMMON + [
    Setting("schedule (iterations per LR)", "5.2, 5.2.3",
            lambda r: "120k + 40k" if r.schedule == "2x" else "60k + 20k", lambda c, r: _schedule(c)),
    Setting("proposals from", "5.2.1, 5.2.2", _expected_producer, lambda c, r: r.proposals_from),
    Setting("RoI features from strides", "4.2, 5.2.1",
            lambda r: [s for s in FEATURE_STRIDES[col(r, "feature")] if s != 64],
            lambda c, r: _roi_strides(c)),
    Setting("lateral, top-down", "Table 2", lambda r: (col(r, "lateral"), col(r, "top_down")),
            lambda c, r: _lateral_top_down(c)),
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
    Setting("input shorter side (px)", "A", lambda r: [800], lambda c, r: _resize_short_sides(c)),
    Setting("images per GPU (x8 GPUs = 16)", "A", lambda r: 2,
            lambda c, r: c.train_dataloader.batch_size),
    Setting("learning rate", "A", lambda r: 0.03, lambda c, r: c.optim_wrapper.optimizer.lr),
    *COMMON[3:],
    Setting("schedule (iterations per LR)", "A, Table 6(e)",
            lambda r: "120k + 40k" if r.schedule == "2x" else "60k + 20k", lambda c, r: _schedule(c)),
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
_names = ("feature strides", "anchor sizes (px)", "anchor aspect ratios", "proposals per image at test")
_detector = ("RoI features from strides", "RoI operation", "RoI output size", "head",
             "RoI level mapping (Eq. 1, k0 = 4)", "metric")
MERGED = [COMMON[0], COMMON[5],
          Setting("one backbone + FPN for both heads", "5.2.2", lambda r: "shared (FasterRCNN)",
                  lambda c, r: "shared (FasterRCNN)" if c.model.type == "FasterRCNN" else c.model.type),
          *[s for s in RPN if s.name in _names], *[s for s in DETECTOR if s.name in _detector]]
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
    paper_cfg = cfg
    deviations = dict(paper_cfg.get("paper_deviations", {}) or {})
    settings = SETTINGS["merged" if row.merge else row.task or table.task]
    if images_per_step is not None and not row.merge:
        settings = [*settings, _update_setting(images_per_step)]
    out = []
    for s in settings:
        expected, actual = s.expected(row), _safe(s.actual, paper_cfg, row)
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
    lines = []
    current = None
    for f in findings:
        if f.row != current:
            current = f.row
            lines.append(f"\n{f.row}")
            lines.append(f"  {'setting':36} {'sec.':21} {'paper':26} {'config (paper profile)':26} "
                         f"{'verdict':10} smoke overlay")
        smoke = "" if f.smoke is None else f"{f.smoke}"
        lines.append(f"  {f.setting:36} {f.section:21} {str(f.paper):26} {str(f.config):26} "
                     f"{f.verdict:10} {smoke}".rstrip())
    return "\n".join(lines).lstrip("\n")
