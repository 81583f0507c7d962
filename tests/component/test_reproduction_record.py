"""The record's judgement, built through harness/orchestrate/record.py build_record as a run's end
builds it, on planted resolved configs (no training): a run whose only change is a deviation
its row config declares is judged; an undeclared one, or a --cfg-options change the audit
cannot see, is a reason; full-size COCO and the published weights are what make it a
reproduction."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest

from harness.config.profiles import get_profile
from harness.config.resolve import resolve_config
from harness.data import counts
from harness.orchestrate.launch import Launch
from harness.orchestrate.options import RunOptions
from harness.orchestrate.record import build_record
from harness.paper.rows import Row, load_tables
from harness.store import RunDir, WorkerOutcome

from tests.unit.test_judging import PUBLISHED_R50, R50, annotations_of, coco_tree

T1 = load_tables()["table1"]
RAW = {key: 0.5 for key in T1.metrics.values()}      # what CocoMetric hands the worker


@pytest.fixture(scope="module")
def full_coco(tmp_path_factory):
    return coco_tree(tmp_path_factory.mktemp("coco"))


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")   # the tree is counted once for the module


@pytest.fixture(autouse=True)
def own_cache(cache, monkeypatch):
    monkeypatch.setenv("FPN_REPRO_CACHE", str(cache))
    monkeypatch.setattr(counts, "_MEMO", {})


def planted_row(tmp_path: Path, body: str) -> Row:
    base = T1.rows["c"]
    cfg = tmp_path / "planted.py"
    cfg.write_text(f"_base_ = '{base.config_path}'\n{body}\n")
    return Row(table="table1", letter="c", name="planted", published=base.published,
               columns=base.columns, config=str(cfg))


def record_of(tmp_path, row: Row, data_root: Path, cfg_options: dict | None = None,
              loaded_sha: str = PUBLISHED_R50, **declared) -> dict:
    """One GPU (2 images per step: the schedule fitted by accumulating 8 steps), the published
    R-50 loaded, the planted config resolved as `harness run` resolves it."""
    opts = RunOptions(profile=get_profile("paper"), launch=Launch(processes=1),
                      cfg_options=cfg_options or {}, **declared)
    run = RunDir(tmp_path / "run")
    resolved = resolve_config(row, opts.profile, data_root, run.work, processes=1)
    if cfg_options:
        resolved.before_options = copy.deepcopy(resolved.cfg)
        resolved.cfg.merge_from_dict(cfg_options)
    outcome = WorkerOutcome(
        status="done", metrics=RAW, iterations=int(resolved.cfg.train_cfg.max_iters),
        environment={"device": "cuda", "num_gpus": 1, "world_size": 1},
        pretrained=[{"source": R50, "path": "/hub/resnet50_msra-5891d200.pth",
                     "sha256": loaded_sha + "0" * 56}])
    return build_record(row, opts, run, resolved, "0" * 16, annotations_of(data_root), outcome,
                        None, data_root, "2026-01-01T00:00:00+00:00", 1.0).to_dict()


def test_a_run_whose_only_change_is_a_declared_deviation_is_judged(tmp_path, full_coco):
    row = planted_row(tmp_path, "optim_wrapper = dict(optimizer=dict(lr=0.01))\n"
                                "paper_deviations = {'learning rate': 'halved, for a test'}")
    rec = record_of(tmp_path, row, full_coco)
    assert rec["reproduction"] == {"judged": True, "reasons": [], "allow_deviations": False,
                                   "pretrained_equivalent": False}
    assert rec["is_reproduction"] is True
    assert rec["schedule"]["max_iters"] == 320000 and rec["schedule"]["images_per_batch"] == 16
    assert rec["pretrained"][0]["sha256"].startswith(PUBLISHED_R50)


def test_the_same_change_undeclared_is_a_reason(tmp_path, full_coco):
    row = planted_row(tmp_path, "optim_wrapper = dict(optimizer=dict(lr=0.01))")
    rec = record_of(tmp_path, row, full_coco)
    assert rec["reproduction"]["judged"] is False and rec["is_reproduction"] is False
    assert rec["reproduction"]["reasons"] == [{"kind": "setting",
                                               "text": "learning rate 0.01, paper 0.02"}]
    allowed = record_of(tmp_path, row, full_coco, allow_deviations=True)["reproduction"]
    assert allowed["judged"] is True and allowed["allow_deviations"] is True
    assert len(allowed["reasons"]) == 1


def test_cfg_options_are_audited_as_they_ran(tmp_path, full_coco):
    row = T1.rows["c"]
    rec = record_of(tmp_path, row, full_coco, cfg_options={
        "train_cfg.max_iters": 2,                              # the audit's schedule says it
        "model.test_cfg.rpn.nms.iou_threshold": 0.5,           # a setting the audit checks
        "model.rpn_head.loss_cls.loss_weight": 2.0,            # a setting the audit has no row for
        "train_dataloader.num_workers": 0,                     # how it runs, not what: no reason
        "optim_wrapper.optimizer.momentum": 0.9})              # the value it had: no reason
    texts = [r["text"] for r in rec["reproduction"]["reasons"]]
    assert texts == ["schedule 2 iterations, 8 per update, paper 30k + 10k",
                     "RPN NMS IoU, train / test proposals (0.5, 0.5), paper (0.7, 0.7)",
                     "--cfg-options model.rpn_head.loss_cls.loss_weight=2.0: a change the "
                     "audit does not check"]
    assert rec["schedule"]["text"].startswith("2 iterations of 2 images, 8 per update")
    assert rec["deviations"][0].endswith("2 iterations = 1 update of 4 images")
    declared = record_of(tmp_path, row, full_coco,
                         cfg_options={"paper_deviations": {"learning rate": "mine"}})
    assert "declared in the row config" in declared["reproduction"]["reasons"][0]["text"]


def test_the_unchanged_row_is_judged_and_other_weights_are_not(tmp_path, full_coco):
    row = T1.rows["c"]
    assert record_of(tmp_path, row, full_coco)["reproduction"]["reasons"] == []
    other = record_of(tmp_path, row, full_coco, loaded_sha="07a1ab6e")["reproduction"]
    assert [r["kind"] for r in other["reasons"]] == ["weights"] and not other["judged"]
    same = record_of(tmp_path, row, full_coco, loaded_sha="07a1ab6e", pretrained_equivalent=True)
    assert same["reproduction"]["judged"] and same["reproduction"]["pretrained_equivalent"]


def test_the_smoke_profile_is_never_judged(tmp_path, synth_root):
    opts = RunOptions(profile=get_profile("smoke"), allow_deviations=True)
    run = RunDir(tmp_path / "run")
    resolved = resolve_config(T1.rows["c"], opts.profile, synth_root, run.work)
    rec = build_record(T1.rows["c"], opts, run, resolved, "0" * 16, annotations_of(synth_root),
                       WorkerOutcome(status="done", metrics=RAW), None, synth_root, "now", 1.0)
    assert rec.reproduction["judged"] is False and rec.reproduction["reasons"][0]["kind"] == "profile"


def test_a_finished_run_asked_for_with_other_declarations_is_judged_again_not_rerun(tmp_path,
                                                                                       full_coco):
    from harness.config.resolve import config_hash
    from harness.orchestrate.row import run_row
    from harness.store import Store
    store, row = Store(tmp_path / "results"), T1.rows["c"]
    run = store.run(row.id, "paper")
    opts = RunOptions(profile=get_profile("paper"), launch=Launch(processes=1))
    resolved = resolve_config(row, opts.profile, full_coco, run.work, processes=1)
    outcome = WorkerOutcome(status="done", metrics=RAW, environment={"world_size": 1}, pretrained=[
        {"source": "/me/r50.pth", "path": "/me/r50.pth", "sha256": "07a1ab6e" + "0" * 56}])
    first = build_record(row, opts, run, resolved, config_hash(resolved.cfg),
                         annotations_of(full_coco), outcome, None, full_coco, "then", 1.0)
    assert [r["kind"] for r in first.reproduction["reasons"]] == ["weights"]
    store.write(first)
    said = []
    again = run_row(row, RunOptions(profile=opts.profile, launch=Launch(processes=1),
                                    pretrained_equivalent=True), store, full_coco, log=said.append)
    assert any("judged again" in s for s in said) and not run.log.exists()   # no worker started
    assert again["reproduction"]["judged"] and again["reproduction"]["pretrained_equivalent"]
    assert store.get(row.id, "paper")["reproduction"] == again["reproduction"]
    assert again["metrics"] == first.metrics and again["finished_at"] == first.finished_at
