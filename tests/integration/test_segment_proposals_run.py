"""Table 6 row (c) through the worker for real: a smoke run trains and tests the segment proposer
and reports the four segment AR keys."""
from __future__ import annotations

import json

import pytest

from harness.config.profiles import get_profile
from harness.config.resolve import resolve_config
from tests.component.test_segment_proposals import row


def test_smoke_run_of_row_c_through_the_worker(tmp_path, synth_root):
    from harness.worker import main as worker
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    res = resolve_config(row("c"), get_profile("smoke"), synth_root, run_dir / "work")
    assert res.cfg.train_cfg.max_iters == 8 and res.cfg.train_dataloader.batch_size == 2
    res.cfg.dump(str(run_dir / "config.py"))
    assert worker.main([str(run_dir)]) == 0
    outcome = json.loads((run_dir / "outcome.json").read_text())
    assert outcome["status"] == "done", outcome
    lr = res.cfg.optim_wrapper.optimizer.lr          # Appendix A's 0.03 x 2/16 images
    assert lr == pytest.approx(0.03 * 2 / 16) and outcome["lr_used"]["peak"] == pytest.approx(lr, rel=1e-6)
    for key in ("coco/segm_AR@1000", "coco/segm_AR_s@1000", "coco/segm_AR_m@1000",
                "coco/segm_AR_l@1000"):
        assert 0.0 <= outcome["metrics"][key] <= 1.0
