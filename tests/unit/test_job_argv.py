"""A SLURM job runs its row with the options the sweep was given: what `spec_argv` writes into
the job script, the job's own parser reads back (harness/orchestrate/job.py); and an attempt
keeps the same options for a later finalisation (harness/orchestrate/finalize.py)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from harness.config.profiles import get_profile
from harness.orchestrate import finalize, job
from harness.orchestrate.launch import Launch
from harness.orchestrate.options import RunOptions


def _opts() -> RunOptions:
    return RunOptions(profile=replace(get_profile("preflight"), stop_after_iters=3),
                      data_root=Path("/data/coco"), seed=2,
                      pretrained={"resnet50": "/w/r50.pth"},
                      cfg_options={"train_cfg.max_iters": 12, "model.x": [1, 2]},
                      evaluator="pycocotools", launch=Launch("slurm", 8),
                      allow_deviations=True, pretrained_equivalent=True)


def test_a_job_reads_back_every_option_the_sweep_gave_it(monkeypatch):
    sent = _opts()
    argv = job.spec_argv("row", "table2.c", sent, Path("/r"), Path("/data/coco"))
    seen = {}
    monkeypatch.setattr(job, "_row", lambda args, opts, store: seen.setdefault("opts", opts) and True)
    assert job.main(argv[3:]) == 0             # argv[:3] is `python -m harness.orchestrate.job`
    got = seen["opts"]
    for field in ("seed", "pretrained", "cfg_options", "evaluator", "allow_deviations",
                  "pretrained_equivalent"):
        assert getattr(got, field) == getattr(sent, field), field
    assert got.profile.name == "preflight" and got.profile.stop_after_iters == 3
    assert got.launch.processes == 8 and got.launch.inside_job


def test_an_attempt_keeps_the_options_a_later_finalisation_resolves_with():
    sent = _opts()
    got, proposals = finalize._options("preflight", 2, finalize.attempt_options(sent, None))
    assert proposals is None
    for field in ("seed", "pretrained", "cfg_options", "evaluator", "allow_deviations",
                  "pretrained_equivalent", "data_root"):
        assert getattr(got, field) == getattr(sent, field), field
    assert got.profile.stop_after_iters == 3
