"""What a re-run (without --force) does with what an earlier attempt left: resume, start over
(saying why), or refuse in one line; and the outcome of an orphaned worker is adopted only for
the same config (harness/orchestrate/resume.py, ownership.py)."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from harness.config.profiles import get_profile
from harness.config.resolve import config_hash, resolve_config
from harness.orchestrate.ownership import adoptable, end_attempt, start_attempt
from harness.orchestrate.resume import decide
from harness.paper.rows import get_row
from harness.store import Record, Store, WorkerOutcome


@pytest.fixture
def r(tmp_path):
    """table1.c's run dir with its resolved config and a resumable checkpoint at iteration 4."""
    store = Store(tmp_path)
    run = store.run("table1.c", "smoke", 0)
    cfg = resolve_config(get_row("table1.c"), get_profile("smoke"), Path("/data"), run.work).cfg
    run.work.mkdir(parents=True)
    run.config.write_text(cfg.pretty_text)
    torch.save({"meta": {"iter": 4}, "state_dict": {"w": torch.zeros(2)},
                "message_hub": {}, "optimizer": {}}, run.work / "iter_4.pth")
    (run.work / "last_checkpoint").write_text(str(run.work / "iter_4.pth"))
    return SimpleNamespace(run=run, chash=config_hash(cfg), store=store)


def test_an_unfinished_attempt_of_the_same_config_resumes(r):
    assert decide(r.run, r.chash, None).resume
    killed = Record(row="table1.c", profile="smoke", status="failed", reason="killed").to_dict()
    assert decide(r.run, r.chash, killed).resume
    assert not decide(r.run, "another-config", None).resume


def test_a_corrupt_record_starts_over_and_says_so(r):
    r.run.record.write_text('{"row": "table1.c", "prof')
    bad = r.store.get_or_bad("table1.c", "smoke", 0)
    d = decide(r.run, r.chash, bad)
    assert not d.resume and d.refused is None
    assert d.note.startswith(f"its record {r.run.record} is corrupt (unreadable (")
    assert "starting the row over" in d.note


def test_a_finished_or_slimmed_checkpoint_is_never_resumed(r):
    WorkerOutcome("done", metrics={"coco/AR@1000": 0.1}).write(r.run.outcome)
    assert not decide(r.run, r.chash, None).resume              # the worker finished
    r.run.outcome.unlink()
    torch.save({"meta": {}, "state_dict": {"w": torch.zeros(2)}}, r.run.work / "iter_4.pth")
    d = decide(r.run, r.chash, None)                            # slimmed: weights only
    assert not d.resume and "cannot be resumed from" in d.note
    (r.run.work / "iter_4.pth").write_bytes(b"PK\x03\x04 half a zip")   # a half-written one
    assert not decide(r.run, r.chash, None).resume


def test_a_diverged_attempt_of_the_same_config_is_refused_in_one_line(r):
    WorkerOutcome("failed", "NonFiniteLossError: loss became nan at iteration 6",
                  diverged_at_iteration=6).write(r.run.outcome)
    d = decide(r.run, r.chash, None)
    assert not d.resume and "\n" not in d.refused
    assert "diverged (NonFiniteLossError: loss became nan at iteration 6)" in d.refused
    assert "--force" in d.refused
    assert decide(r.run, "another-config", None).refused is None    # a changed config starts over


def test_only_an_unrecorded_outcome_of_the_same_config_is_adopted(r):
    assert adoptable(r.run, r.chash) is None                     # no attempt in flight
    start_attempt(r.run, r.chash, "2026-01-01T00:00:00+00:00")
    assert adoptable(r.run, r.chash) is None                     # the worker left no outcome yet
    WorkerOutcome("done", metrics={"coco/AR@1000": 0.1}, iterations=8).write(r.run.outcome)
    outcome, attempt, wall = adoptable(r.run, r.chash)
    assert outcome.status == "done" and outcome.iterations == 8 and wall >= 0
    assert attempt.started_at == "2026-01-01T00:00:00+00:00"
    assert adoptable(r.run, "another-config") is None
    end_attempt(r.run)                                          # the record was written
    assert adoptable(r.run, r.chash) is None


def test_a_moved_store_resumes_from_its_own_copy_of_the_checkpoint(r, tmp_path):
    """work/last_checkpoint names the checkpoint by its absolute path; after the store moved
    (or was copied), the re-run resumes from the file in its own work dir, and names it there
    for MMEngine's resume."""
    moved = Store(tmp_path.parent / (tmp_path.name + "-moved"))
    r.store.root.rename(moved.root)
    run = moved.run("table1.c", "smoke", 0)
    assert run.last_checkpoint() == run.work / "iter_4.pth" and run.checkpoint_iteration() == 4
    assert decide(run, r.chash, None).resume
    run.name_last_checkpoint_here()
    assert (run.work / "last_checkpoint").read_text() == str(run.work / "iter_4.pth")
