"""Judging a run only when it is a reproduction (issue 15): full-size COCO by counts, the
published backbone weights by sha256, the schedule as it ran, and what the report, status and
list do with a paper-profile run that is not a reproduction."""
from __future__ import annotations

import json
import re
import tracemalloc
from pathlib import Path

import pandas as pd
import pytest
from mmengine.config import Config

from harness.config.audit_values import schedule as _schedule
from harness.config.schedule import fit_deviation, fit_to_batch, schedule_ran
from harness.data import counts
from harness.data.coco import COCO_CATEGORIES
from harness.data.validate import annotation_fingerprint
from harness.orchestrate.reproduction import (data_reasons, producer_reasons,
                                              published_sha256_prefix, weights_reasons)
from harness.orchestrate.status import render_status
from harness.cli.listing import render_list
from harness.paper.rows import load_tables
from harness.report.verdict import may_judge
from harness.report.write import write_report
from harness.store import Store

from tests.report_records import full_record
from tests.unit.test_schedule import paper_rpn_schedule

T1 = load_tables()["table1"]
R50 = "open-mmlab://detectron2/resnet50_caffe"
PUBLISHED_R50 = "5891d200"     # mmengine's hub: resnet50_msra-5891d200.pth


# ---- a COCO-shaped tree (annotation files only) ----------------------------------------------
# The full-size check reads the annotation files only: that every listed image file exists is
# check_data_root's job, which runs before any run of any profile starts (harness run). So the
# tree holds no image files, and 118287 + 5000 entries cost seconds, not inodes.

def write_split(path: Path, images: int, anns: int, categories=COCO_CATEGORIES) -> Path:
    cats = json.dumps([{"id": i, "name": n, "supercategory": "x"} for i, n in categories])
    ims = ",".join(f'{{"id":{i},"file_name":"{i:012d}.jpg","width":4,"height":4}}'
                   for i in range(1, images + 1))
    an = ",".join(f'{{"id":{i},"image_id":{i % images + 1},"category_id":1,"bbox":[0,0,1,1],'
                  f'"area":1,"iscrowd":0}}' for i in range(1, anns + 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'{{"images":[{ims}],"annotations":[{an}],"categories":{cats}}}')
    return path


def coco_tree(root: Path, val_images: int = 5000) -> Path:
    write_split(root / "annotations" / "instances_train2017.json", 118287, 860001)
    write_split(root / "annotations" / "instances_val2017.json", val_images, 36781)
    return root


def annotations_of(root: Path) -> dict:
    """The record's data.annotations, as harness/orchestrate/row.py makes it."""
    out = {}
    for split, name in (("train", "train2017"), ("test", "val2017")):
        path = root / "annotations" / f"instances_{name}.json"
        out[split] = {"path": str(path), "sha256_16": annotation_fingerprint(path)}
    return out


@pytest.fixture(scope="module")
def full_coco(tmp_path_factory):
    return coco_tree(tmp_path_factory.mktemp("coco"))


@pytest.fixture(autouse=True)
def own_cache(request, tmp_path, monkeypatch):
    """A cache of counts per test; the tests of the full-size tree share one, so that its
    118287-image train file is counted once (about a second), not once per test."""
    shared = "full_coco" in request.fixturenames
    cache = request.getfixturevalue("full_coco").parent / "full_coco_counts" if shared else tmp_path / "cache"
    monkeypatch.setenv("FPN_REPRO_CACHE", str(cache))
    monkeypatch.setattr(counts, "_MEMO", {})


def test_full_size_coco_passes_the_data_check(full_coco):
    cfg = Config(dict(data_root=str(full_coco)))
    assert data_reasons(cfg, annotations_of(full_coco)) == []


def test_4999_val_images_are_not_coco_and_say_so(tmp_path, full_coco):
    root = tmp_path / "short"
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "instances_train2017.json").symlink_to(
        full_coco / "annotations" / "instances_train2017.json")
    write_split(root / "annotations" / "instances_val2017.json", 4999, 36781)
    found = data_reasons(Config(dict(data_root=str(root))), annotations_of(root))
    assert found == [{"kind": "data",
                      "text": "data val2017 4999 images / 36781 annotations, COCO 5000 / 36781"}]


def test_other_categories_and_unknown_files_are_reasons(tmp_path):
    val = write_split(tmp_path / "annotations" / "instances_val2017.json", 5000, 36781,
                      categories=COCO_CATEGORIES[:3])
    odd = write_split(tmp_path / "annotations" / "my_train.json", 10, 10)
    anns = {"train": {"path": str(odd), "sha256_16": None},
            "test": {"path": str(val), "sha256_16": None}}
    texts = [r["text"] for r in data_reasons(Config(dict(data_root=str(tmp_path))), anns)]
    assert texts[0].startswith("data train my_train.json: not a COCO split")
    assert texts[1] == "data val2017: 3 categories, not COCO's 80"


def test_counts_are_cached_by_fingerprint_and_never_recounted(tmp_path, monkeypatch):
    path = write_split(tmp_path / "instances_val2017.json", 50, 70)
    first = counts.annotation_counts(path)
    assert (first.images, first.annotations, len(first.categories)) == (50, 70, 80)
    cached = tmp_path / "cache" / "annotation_counts" / f"{annotation_fingerprint(path)}.json"
    assert cached.is_file()
    monkeypatch.setattr(counts, "_MEMO", {})
    monkeypatch.setattr(counts, "_count", lambda p: pytest.fail("counted again"))
    assert counts.annotation_counts(path) == first


def test_counting_holds_the_text_not_the_parsed_entries(tmp_path):
    """The lean parse peaks at about the file's text twice (bytes, then str), where json.load of
    the same file holds every entry as dicts (~6x the file here, several GB for COCO train)."""
    path = write_split(tmp_path / "instances_train2017.json", 2000, 10000)
    size = path.stat().st_size
    tracemalloc.start()
    try:
        got = counts._count(path)
        lean = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        json.loads(path.read_text())
        full = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (got.images, got.annotations) == (2000, 10000)
    assert lean < 2.5 * size < full


# ---- the backbone weights ----------------------------------------------------------------------

def loaded(source: str, sha: str) -> list[dict]:
    return [{"source": source, "path": "/w/" + Path(source).name, "sha256": sha + "0" * 56}]


def test_published_weights_are_known_by_the_hash_in_their_file_name():
    assert published_sha256_prefix(R50) == PUBLISHED_R50
    assert published_sha256_prefix("https://x/resnet101_msra-6cc46731.pth") == "6cc46731"
    assert published_sha256_prefix("/home/me/random_init_r50.pth") is None


def test_another_file_is_a_reason_unless_declared_equivalent():
    other = loaded("/home/me/random_init_r50.pth", "07a1ab6e")
    found = weights_reasons([R50], other, equivalent=False)
    assert [r["kind"] for r in found] == ["weights"]
    assert "random_init_r50.pth (sha256 07a1ab6e" in found[0]["text"] and PUBLISHED_R50 in found[0]["text"]
    assert weights_reasons([R50], other, equivalent=True) == []


def test_the_published_file_is_accepted_from_anywhere_and_a_corrupt_one_is_not():
    assert weights_reasons([R50], loaded(R50, PUBLISHED_R50), equivalent=False) == []
    # the same file downloaded by hand and given with --pretrained: recognised by its sha256
    assert weights_reasons([R50], loaded("/data/resnet50_msra.pth", PUBLISHED_R50), False) == []
    assert weights_reasons([R50], loaded(R50, "deadbeef"), equivalent=False)
    assert weights_reasons([R50], None, equivalent=False)[0]["text"].startswith("weights: no record")
    assert weights_reasons([], None, equivalent=False) == []     # smoke: random init, nothing to load


def test_a_model_built_on_a_run_that_is_not_a_reproduction_is_not_one():
    fast_rcnn = load_tables()["table2"].rows["c"]                 # on table1.c's proposals
    short_rpn = paper_run("table1.c", False)
    found = producer_reasons(fast_rcnn, {"table1.c": short_rpn})
    assert found == [{"kind": "producer", "text": "proposals table1.c, not a reproduction: "
                                                  "schedule 2 iterations, 8 per update, paper 30k + 10k"}]
    # judged anyway is still not a reproduction: its consumer says so (and may be allowed too)
    assert producer_reasons(fast_rcnn, {"table1.c": paper_run("table1.c", True, allow=True)})
    assert producer_reasons(fast_rcnn, {"table1.c": paper_run("table1.c", True, reasons=[])}) == []
    assert producer_reasons(fast_rcnn, {})[0]["text"] == "proposals table1.c: no record of it"


# ---- the schedule as it ran ------------------------------------------------------------------

def test_the_record_states_what_ran_after_cfg_options():
    cfg = paper_rpn_schedule()
    _, projected = fit_to_batch(cfg, images_per_step=2)
    assert projected.endswith("320000 iterations = 40000 updates of 16 images")
    assert _schedule(cfg) == "30k + 10k"                  # 8 accumulated steps = the paper's update
    cfg.merge_from_dict({"train_cfg.max_iters": 2})       # --cfg-options train_cfg.max_iters=2
    assert fit_deviation(cfg, 2).endswith("2 iterations = 1 update of 4 images")
    ran = schedule_ran(cfg, 2)
    assert (ran["max_iters"], ran["milestones"], ran["images_per_step"]) == (2, [], 2)
    assert ran["text"] == "2 iterations of 2 images, 8 per update (1 update of 4 images); lr 0.02, " \
                          "no LR step reached"
    assert _schedule(cfg) == "2 iterations, 8 per update"


# ---- what the report, status and list do with it ---------------------------------------------

SHORT = [{"kind": "schedule", "text": "schedule 2 iterations, 8 per update, paper 30k + 10k"},
         {"kind": "data", "text": "data val2017 8 images / 40 annotations, COCO 5000 / 36781"},
         {"kind": "weights", "text": "weights random_init_r50.pth (sha256 07a1ab6e8d7f...), not "
                                     "the config's open-mmlab://detectron2/resnet50_caffe"}]


def paper_run(row: str, judged: bool, reasons=SHORT, allow=False, **metrics) -> dict:
    rep = {"judged": judged, "reasons": reasons, "allow_deviations": allow,
           "pretrained_equivalent": False}
    return full_record(row, "paper", metrics=metrics or None, reproduction=rep,
                       is_reproduction=not reasons)


def test_the_records_judgement_decides_whatever_is_reproduction_says():
    assert not may_judge([dict(paper_run("table1.c", False), is_reproduction=True)])
    assert may_judge([paper_run("table1.c", True, reasons=[])])
    assert may_judge([paper_run("table1.c", True, allow=True)])          # judged with deviations
    assert not may_judge([dict(paper_run("table1.c", True), profile="smoke")])
    assert may_judge([full_record("table1.c", "paper")])                 # written before the check


def test_a_run_that_is_not_a_reproduction_is_shown_marked_and_never_judged(tmp_path):
    store = Store(tmp_path / "results")
    # numbers that would be "within" and would make claims hold if they were judged
    store.write(paper_run("table1.c", False))
    store.write(paper_run("table1.a", False, reasons=SHORT[1:]))
    written = write_report(store, tmp_path / "reports", "r", pdf=False, figures=False)
    text = written.text
    line = next(ln for ln in text.splitlines() if ln.startswith("| (c) FPN") and "paper" in ln)
    n = re.search(r"56\.3 / 56\.3 / \+0\.0 not judged \[(\d+)\]", line).group(1)
    assert "within" not in line and "outside" not in line
    assert f"- [{n}] (c) paper: not judged, not a reproduction: schedule 2 iterations, 8 per " \
           "update, paper 30k + 10k (and 2 more in its record)" in text
    assert "0 within ±0.5, 0 outside" in text and "10 measured but not judged" in text
    assert "- 2 paper-profile runs not judged: not full-size COCO 1, schedule changed 1 (" in text
    assert "Claims: 0 hold, 0 fail" in text and "No reproduction runs yet" in text
    claim = next(ln for ln in text.splitlines() if "8.0 points increase" in ln)
    assert "not enough data" in claim and "smoke" not in claim
    df = pd.read_csv(written.csv)
    assert not df.judged.any() and not df.is_reproduction.any()
    assert (df.verdict == "not judged").all()
    assert df.reproduction_reasons.str.contains("data val2017 8 images").all()


def test_at_a_glance_counts_them_apart_by_their_first_reason(tmp_path):
    store = Store(tmp_path / "results")
    for row in ("table1.a", "table1.c", "table1.d"):
        store.write(paper_run(row, False))
    text = write_report(store, tmp_path / "reports", "r", pdf=False, figures=False).text
    assert "- 3 paper-profile runs not judged: schedule changed (" in text


def test_allowed_deviations_are_judged_with_their_reasons_beside_every_verdict(tmp_path):
    store = Store(tmp_path / "results")
    store.write(paper_run("table1.c", True, allow=True))
    store.write(paper_run("table1.a", True, reasons=[]))           # a reproduction
    written = write_report(store, tmp_path / "reports", "r", pdf=False, figures=False)
    text = written.text
    line = next(ln for ln in text.splitlines() if ln.startswith("| (c) FPN") and "paper" in ln)
    assert "56.3 / 56.3 / +0.0 within [1]" in line
    assert "- [1] (c) paper: judged with deviations (--allow-deviations), not a reproduction: " \
           + "; ".join(r["text"] for r in SHORT) in text
    claim = next(ln for ln in text.splitlines() if "8.0 points increase" in ln)
    assert "| holds |" in claim
    assert "table1.c judged with deviations (--allow-deviations): schedule 2 iterations" in claim
    assert "1 paper-profile run judged with deviations" in text
    df = pd.read_csv(written.csv)
    assert df[df.row == "table1.c"].judged.all() and not df[df.row == "table1.c"].is_reproduction.any()
    assert df[df.row == "table1.a"].is_reproduction.all()


def test_status_and_list_mark_them(tmp_path):
    store = Store(tmp_path / "results")
    store.write(paper_run("table1.c", False))
    store.write(paper_run("table1.a", True, allow=True))
    status = render_status(store, list(T1.runnable_rows), "paper")
    line_c = next(ln for ln in status.splitlines() if ln.strip().startswith("table1.c"))
    assert "(not judged: schedule 2 iterations, 8 per update, paper 30k + 10k)" in line_c
    line_a = next(ln for ln in status.splitlines() if ln.strip().startswith("table1.a"))
    assert "judged with deviations (--allow-deviations)" in line_a
    listing = render_list(store, ["table1"])
    assert "paper:done (not judged)" in next(ln for ln in listing.splitlines() if "table1.c" in ln)
    assert "paper:done (judged with deviations)" in next(ln for ln in listing.splitlines()
                                                         if "table1.a" in ln)
