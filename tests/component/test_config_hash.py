"""The config hash identifies the experiment, not where the harness's code lives: moving a plugin
module (harness/necks.py -> harness/models/necks.py) or the harness's own keys into
`cfg.harness` must not change it, or existing records and resumable runs would be orphaned."""
from __future__ import annotations

from pathlib import Path

import pytest

from harness.config.profiles import get_profile
from harness.config.resolve import (HARNESS_KEYS, PLUGIN_IDS, config_hash, harness_keys,
                                    resolve_config)
from harness.paper.rows import get_row


def resolved(row_id: str):
    return resolve_config(get_row(row_id), get_profile("smoke"), Path("/data/synth"),
                          Path("/tmp/w")).cfg


@pytest.mark.parametrize("row_id", ["table1.d", "table2.c", "table6.c"])
def test_plugin_module_paths_do_not_change_the_hash(row_id):
    cfg = resolved(row_id)
    legacy = resolved(row_id)
    legacy.custom_imports.imports = [PLUGIN_IDS.get(m, m) for m in legacy.custom_imports.imports]
    assert legacy.custom_imports.imports != cfg.custom_imports.imports   # the paths did move
    assert config_hash(legacy) == config_hash(cfg)
    other = resolved(row_id)
    other.custom_imports.imports = other.custom_imports.imports + ["some.other.plugin"]
    assert config_hash(other) != config_hash(cfg)                       # what is imported counts


def test_harness_namespace_hashes_like_the_top_level_keys_it_replaced():
    cfg = resolved("table5.r50_yes")
    cfg.harness = dict(merged_from={"rpn": {"row": "table5.r50_step3", "checkpoint_sha256": "ab"}},
                       test_only=True)
    legacy = resolved("table5.r50_yes")
    legacy.merged_from = {"rpn": {"row": "table5.r50_step3", "checkpoint_sha256": "ab"}}
    legacy.harness_test_only = True
    assert set(HARNESS_KEYS.values()) >= {"merged_from", "harness_test_only"}
    assert config_hash(cfg) == config_hash(legacy)
    cfg.harness.merged_from["rpn"]["checkpoint_sha256"] = "cd"   # another checkpoint: another run
    assert config_hash(cfg) != config_hash(legacy)


def test_the_hash_ignores_where_a_run_writes_and_reads():
    a, b = resolved("table1.c"), resolved("table1.c")
    b.work_dir, b.load_from = "/elsewhere/work", "/elsewhere/ckpt.pth"
    assert config_hash(a) == config_hash(b)


def with_proposals(store: str, sha: str = "ab"):
    """table2.c as harness/orchestrate/row.py wires it to its RPN's proposals in `store`."""
    cfg = resolved("table2.c")
    folder = f"{store}/runs/table1.c/smoke/seed0/proposals"
    cfg.train_dataloader.dataset.proposal_file = f"{folder}/train2017.pkl"
    cfg.test_dataloader.dataset.proposal_file = f"{folder}/val2017.pkl"
    harness_keys(cfg).proposals_checkpoint_sha256 = sha
    return cfg


def test_a_moved_store_keeps_the_hash_of_a_detector_on_its_proposals():
    """Moving results/ (scratch -> project space) must not orphan the Table 2 runs: their
    proposals are identified by the producer's checkpoint, not by where the store is."""
    here = config_hash(with_proposals("/scratch/me/results"))
    assert config_hash(with_proposals("/project/fpn/results")) == here
    assert config_hash(with_proposals("/scratch/me/results", sha="cd")) != here
    other = with_proposals("/scratch/me/results")
    other.test_dataloader.dataset.proposal_file = "/scratch/me/results/test-dev.pkl"
    assert config_hash(other) != here              # another split's file is another run


@pytest.mark.parametrize("row_id", ["table1.c", "table2.c", "table6.c"])
def test_the_evaluation_backend_does_not_change_the_hash(row_id):
    """Both backends give the same numbers (the parity suite), so which one computes is not the
    experiment; and a run made with mmdet's CocoMetric before harness/evaluation existed (no
    metrics import, no backend key) keeps its hash."""
    from harness.evaluation import set_backend
    from harness.evaluation.backends import METRICS_MODULE
    cfg = resolved(row_id)
    assert METRICS_MODULE in cfg.custom_imports.imports
    assert cfg.test_evaluator.backend == "faster_coco_eval"
    other = resolved(row_id)
    set_backend(other, "pycocotools")
    assert config_hash(other) == config_hash(cfg)
    legacy = resolved(row_id)      # the resolved config as it was with mmdet's CocoMetric
    legacy.custom_imports.imports.remove(METRICS_MODULE)
    legacy.test_evaluator.pop("backend")
    if legacy.test_evaluator.type == "HarnessCocoMetric":
        legacy.test_evaluator.type = "CocoMetric"
    assert config_hash(legacy) == config_hash(cfg)
    fewer = resolved(row_id)       # what the metric computes still counts
    fewer.test_evaluator.proposal_nums = (10, 20, 30)
    assert config_hash(fewer) != config_hash(cfg)
