"""Fewer GPUs than the paper's 8, as one chain: the resolved config accumulates gradients to
the paper's update, the record lists that deviation (built the way harness/orchestrate/sweep.py
builds it, without training at paper size), and the report shows it next to the numbers."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.config.profiles import get_profile
from harness.config.resolve import resolve_config
from harness.paper.rows import get_row
from harness.report.write import write_report
from harness.store import Store

from tests.report_records import full_record


def test_one_gpu_paper_run_accumulates_and_the_report_says_so(tmp_path):
    row = get_row("table1.c")
    resolved = resolve_config(row, get_profile("paper"), Path("/data/coco"), tmp_path / "w",
                              processes=1)
    cfg = resolved.cfg
    # 2 images per step: 8 steps of accumulated gradients are one step of the paper's 16 images
    assert cfg.optim_wrapper.accumulative_counts == 8
    assert cfg.optim_wrapper.optimizer.lr == 0.02                     # the paper's lr, unscaled
    assert cfg.train_cfg.max_iters == 8 * 40000
    assert cfg.param_scheduler[-1].milestones == [8 * 30000]
    assert resolved.schedule.warmup_iters == 8 * 500
    assert len(resolved.deviations) == 1
    deviation = resolved.deviations[0]
    assert deviation.startswith("2 images per step instead of 16: gradients accumulated over 8 steps")
    assert "320000" in deviation

    # the record, with the fields run_row derives from the resolved config and the launch
    per_step = cfg.train_dataloader.batch_size * 1
    rec = full_record(row.id, "paper", metrics={"AR@100": 43.8, "AR@1k": 56.0, "AR_s@1k": 44.1,
                                                "AR_m@1k": 63.5, "AR_l@1k": 66.0},
                      deviations=resolved.deviations, schedule=resolved.schedule.as_dict(),
                      images_per_step=per_step,
                      images_per_batch=per_step * cfg.optim_wrapper.accumulative_counts,
                      iterations=cfg.train_cfg.max_iters, launcher="local", processes=1,
                      environment={"device": "cuda: NVIDIA H100", "num_gpus": 1, "world_size": 1})
    store = Store(tmp_path / "results")
    store.write(rec)
    text, _, problems = write_report(store, tmp_path / "reports", "r", pdf=False)
    assert problems == []
    table1 = text.split("### Table 1.")[1].split("### Table 2.")[0]
    line = next(ln for ln in table1.splitlines() if ln.startswith("| (c) FPN"))
    assert "44.0 / 43.8 / -0.2" in line and "see note [1]" in line
    note = next(ln for ln in table1.splitlines() if ln.startswith("- [1] (c) paper:"))
    assert deviation in note and note.count(deviation) == 1
    assert "instead of the paper's 8" in note                   # one GPU, said next to the numbers
    assert "images per batch instead of 16" not in note         # accumulation keeps the paper's 16
    assert deviation in text.split("Provenance")[1]             # and in the run's provenance line
    tidy = pd.read_csv(store.root / "results.csv")
    assert (tidy.deviations == deviation).all() and len(tidy) == 5
