"""Whether a run is the paper's experiment, decided when its record is written and stored in
it (`reproduction`): the one place that says why a run's numbers are not judged.

A run is judged against the paper only if all of these hold (README: "What its numbers mean"):
  - its profile is `paper`;
  - the audit of its own final config (after schedule fitting, --cfg-options and every
    override) finds no mismatch the row config does not declare in `paper_deviations`, and no
    --cfg-options key changes something the audit does not check;
  - its data is COCO at full size: the annotation files have the split's image and annotation
    counts (harness/data/coco.py SPLIT_SIZES) and COCO's 80 categories;
  - the ImageNet weights it loaded are the config's published file (by the sha256 prefix the
    published file name carries, torch.hub's convention), or the user declared the file
    equivalent (--pretrained-equivalent);
  - every run it builds on (proposals, init checkpoint, merged parts) is a reproduction.
Each failure is a reason {kind, text}; --allow-deviations has the run judged anyway, and the
report prints its reasons beside every verdict it enters."""
from __future__ import annotations

import copy
import importlib.util
import json
import re
from functools import lru_cache
from pathlib import Path

from harness.config.audit import audit_config
from harness.config.profiles import Profile
from harness.data.coco import COCO_CATEGORIES, SPLIT_SIZES
from harness.data.counts import annotation_counts
from harness.errors import HarnessError
from harness.paper.rows import Row
from harness.report.verdict import may_judge, reasons as reasons_of
from harness.store.record import REASON_KINDS

# --cfg-options keys that change how a run executes (logging, checkpoints, data loading
# workers, the environment), never what it computes: not reasons.
OPERATIONAL = ("default_hooks.logger.", "default_hooks.checkpoint.", "default_hooks.timer.",
               "log_processor.", "env_cfg.", "visualizer.", "log_level", "launcher", "work_dir")
OPERATIONAL_LEAVES = {"num_workers", "persistent_workers", "pin_memory", "prefetch_factor"}
# torch.hub's convention for published weights: <name>-<first hex digits of the sha256>.<ext>
_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,})\.")


def _reason(kind: str, text: str) -> dict:
    return {"kind": kind, "text": text}


def _operational(key: str) -> bool:
    return key.startswith(OPERATIONAL) or key.rsplit(".", 1)[-1] in OPERATIONAL_LEAVES


def _mismatches(row: Row, cfg, images_per_step: int) -> dict:
    return {f.setting: f for f in audit_config(row, cfg, images_per_step=images_per_step)
            if f.verdict == "MISMATCH"}


def config_reasons(row: Row, resolved, cfg_options: dict, images_per_step: int) -> list[dict]:
    """Undeclared mismatches of the run's final config ("schedule 2 iterations, 8 per update,
    paper 30k + 10k"), and --cfg-options changes the audit cannot see."""
    found = _mismatches(row, resolved.cfg, images_per_step)
    out = [_reason("schedule" if name.startswith("schedule") else "setting",
                   f"{name.split(' (')[0]} {f.config}, paper {f.paper}") for name, f in found.items()]
    before = resolved.before_options
    if before is None:
        return out
    flagged = set(_mismatches(row, before, images_per_step))
    for key, value in cfg_options.items():
        if _operational(key):
            continue
        probe = copy.deepcopy(before)
        probe.merge_from_dict({key: value})
        if probe.to_dict() == before.to_dict():
            continue                                   # set to the value it had
        if set(_mismatches(row, probe, images_per_step)) - flagged:
            continue                                   # a mismatch above already says it
        out.append(_reason("config", f"--cfg-options {key}={value!r}: " + (
            "deviations are declared in the row config, not on the command line"
            if key.startswith("paper_deviations") else "a change the audit does not check")))
    return out


def data_reasons(cfg, annotations: dict) -> list[dict]:
    """Train and test annotation files (and test-dev's, when the run writes its results) that
    are not COCO's full splits: "data val2017 8 images / 41 annotations, COCO 5000 / 36781"."""
    files = {split: (Path(a["path"]), a.get("sha256_16")) for split, a in annotations.items()}
    test_dev = cfg.get("test_dev")
    if test_dev is not None and (Path(cfg.data_root) / test_dev.ann_file).is_file():
        files["test-dev"] = (Path(cfg.data_root) / test_dev.ann_file, None)
    out = []
    for split, (path, fingerprint) in files.items():
        if path.name not in SPLIT_SIZES:
            out.append(_reason("data", f"data {split} {path.name}: not a COCO split "
                                       f"({', '.join(SPLIT_SIZES)})"))
            continue
        name, images, anns = SPLIT_SIZES[path.name]
        try:
            counts = annotation_counts(path, fingerprint)
        except HarnessError as exc:
            out.append(_reason("data", f"data {name}: {exc}"))
            continue
        if (counts.images, counts.annotations) != (images, anns):
            have = f"{counts.images} images" + ("" if anns is None else f" / {counts.annotations} annotations")
            out.append(_reason("data", f"data {name} {have}, COCO {images}"
                                       + ("" if anns is None else f" / {anns}")))
        if set(counts.categories) != set(COCO_CATEGORIES):
            out.append(_reason("data", f"data {name}: {len(counts.categories)} categories, not "
                                       f"COCO's {len(COCO_CATEGORIES)}"))
    return out


@lru_cache(maxsize=None)
def _openmmlab_urls() -> tuple[dict, dict]:
    """MMEngine's table of open-mmlab:// names (and renamed ones), read as data: no torch."""
    spec = importlib.util.find_spec("mmengine")
    hub = Path(spec.origin).parent / "hub" if spec and spec.origin else None
    try:
        return tuple(json.loads((hub / f).read_text()) for f in ("openmmlab.json", "deprecated.json"))
    except (OSError, TypeError, ValueError):
        return {}, {}


def published_sha256_prefix(source: str) -> str | None:
    """The sha256 prefix a published checkpoint's file name carries (resnet50_msra-5891d200.pth),
    for an open-mmlab:// name or a URL; None when the name carries none."""
    url = source
    if m := re.match(r"open-?mmlab://(.+)", source):
        urls, renamed = _openmmlab_urls()
        url = urls.get(renamed.get(m.group(1), m.group(1)), "")
    found = _HASH_IN_NAME.search(url.rsplit("/", 1)[-1])
    return found.group(1) if found else None


def weights_reasons(published: list[str], loaded: list | None, equivalent: bool) -> list[dict]:
    """The ImageNet files the run loaded against the config's published weights. The published
    file obtained another way (a --pretrained copy) is recognised by its sha256."""
    if not published:
        return []
    if not loaded:
        return [_reason("weights", "weights: no record of the ImageNet checkpoint the run loaded")]
    prefixes = {p: published_sha256_prefix(p) for p in published}
    out = []
    for entry in loaded:
        source, sha = str(entry.get("source")), str(entry.get("sha256") or "")
        if any(x and sha.startswith(x) for x in prefixes.values()) or \
                (source in prefixes and prefixes[source] is None) or equivalent:
            continue
        want = " or ".join(f"{p} (sha256 {x}...)" if x else p for p, x in prefixes.items())
        out.append(_reason("weights", f"weights {Path(source).name} (sha256 {sha[:12]}...), not "
                                      f"the config's {want}"))
    return out


def producer_reasons(row: Row, producers: dict[str, dict]) -> list[dict]:
    """A model trained on the proposals, or from the checkpoint, of a run that is not a
    reproduction is not one either."""
    out = []
    for edge in row.edges:
        if edge.kind == "same_as":
            continue
        rec = producers.get(edge.row)
        if rec is None:
            out.append(_reason("producer", f"{edge.label} {edge.row}: no record of it"))
        elif not may_judge([rec]) or reasons_of(rec):
            why = (reasons_of(rec) or [{"text": "not judged"}])[0]["text"]
            out.append(_reason("producer", f"{edge.label} {edge.row}, not a reproduction: {why}"))
    return out


def weightiest_first(found: list[dict]) -> list[dict]:
    """The reasons in REASON_KINDS order: the first, the one reports show, is the weightiest."""
    return sorted(found, key=lambda r: list(REASON_KINDS).index(r["kind"]))


def judge_run(row: Row, profile: Profile, resolved, *, cfg_options: dict, annotations: dict,
              images_per_step: int, loaded: list | None, producers: dict[str, dict],
              allow_deviations: bool = False, pretrained_equivalent: bool = False) -> dict:
    """The record's `reproduction`: judged, the reasons, and the user's declarations."""
    if not profile.is_reproduction:
        found = [_reason("profile", f"profile {profile.name}: {profile.description}")]
    else:
        test_only = bool((resolved.cfg.get("harness") or {}).get("test_only"))
        found = (config_reasons(row, resolved, cfg_options, images_per_step)
                 + data_reasons(resolved.cfg, annotations)
                 # a merged model loads no ImageNet weights: its parts' records say which they had
                 + ([] if test_only else weights_reasons(resolved.published_weights, loaded,
                                                         pretrained_equivalent))
                 + producer_reasons(row, producers))
    return {"judged": profile.is_reproduction and (not found or allow_deviations),
            "reasons": weightiest_first(found), "allow_deviations": allow_deviations,
            "pretrained_equivalent": pretrained_equivalent}
