"""A SLURM job that ended without writing its record is finalised by whoever asks next
(adopt.settle -> finalize.finalize_ended -> row.record_attempt, the record-making the job runs
itself): from the attempt the job wrote before its worker started (ownership.py's attempt.json,
with the options it ran with), the worker's outcome if it left one, else SLURM's state and the
log's last error. A cancelled job leaves no record (the row is stopped), an attempt of another
job or of another config is never finalised as this one's, and a record is written once (the
attempt is gone with it, as after any record: ownership.py)."""
from __future__ import annotations

from dataclasses import replace

from harness.config.profiles import get_profile
from harness.orchestrate.adopt import Tracked, settle
from harness.orchestrate.finalize import attempt_options
from harness.orchestrate.launch import Launch
from harness.orchestrate.options import RunOptions
from harness.orchestrate.ownership import Attempt, start_attempt
from harness.orchestrate.row import _prepare
from harness.orchestrate.slurm import JobState
from harness.paper.rows import get_row
from harness.store import Store, SubmittedJob, WorkerOutcome


def job_options(synth_root) -> RunOptions:
    return RunOptions(profile=get_profile("smoke"), data_root=synth_root,
                      cfg_options={"train_cfg.max_iters": 4},
                      launch=Launch("slurm", 2, inside_job=True))


def started_attempt(store: Store, synth_root, job_id: str) -> Tracked:
    """What the job of table1.c leaves once its worker started: config, attempt, job file."""
    row, opts = get_row("table1.c"), job_options(synth_root)
    profile = opts.profile
    run, resolved, chash, _, _ = _prepare(row, opts, store, synth_root, None)   # as run_row does
    run.path.mkdir(parents=True, exist_ok=True)
    run.config.write_text(resolved.cfg.pretty_text)
    start_attempt(run, chash, "2026-11-26T07:00:00+00:00", job_id, attempt_options(opts, None))
    job = SubmittedJob(job_id, "row", "fpn-table1.c", row.id, profile.name, 0, "now", str(run.sbatch))
    job.write(run.job)
    return Tracked(job, JobState(job_id, "UNKNOWN"))


def test_an_outcome_the_job_never_recorded_becomes_its_record_once(tmp_path, synth_root):
    store = Store(tmp_path / "results")
    t = started_attempt(store, synth_root, "71")
    run = store.run("table1.c", "smoke", 0)
    WorkerOutcome("failed", "NonFiniteLossError: loss became nan").write(run.outcome)
    t.state = JobState("71", "TIMEOUT")
    rec = settle(store, t, log=lambda *_: None)
    assert rec["status"] == "failed" and rec["reason"] == "NonFiniteLossError: loss became nan"
    assert rec["slurm_job"] == "71" and rec["launcher"] == "slurm" and rec["processes"] == 2
    assert rec["cfg_options"] == {"train_cfg.max_iters": "4"}
    assert not run.attempt.exists()                   # made a record: no longer adoptable
    inode = run.record.stat().st_ino
    assert settle(store, t, log=lambda *_: None)["slurm_job"] == "71"
    assert run.record.stat().st_ino == inode          # not written a second time


def test_an_attempt_of_another_config_is_left_to_a_rerun(tmp_path, synth_root):
    store = Store(tmp_path / "results")
    t = started_attempt(store, synth_root, "75")
    run = store.run("table1.c", "smoke", 0)
    attempt = Attempt.read(run)
    replace(attempt, config_hash="0" * 16).write(run)      # the row's config changed since
    WorkerOutcome("done", metrics={}).write(run.outcome)
    t.state = JobState("75", "COMPLETED")
    assert settle(store, t, log=lambda *_: None) is None
    assert not run.record.exists() and run.attempt.exists()


def test_no_outcome_gives_slurms_state_and_the_logs_last_error(tmp_path, synth_root):
    store = Store(tmp_path / "results")
    t = started_attempt(store, synth_root, "72")
    run = store.run("table1.c", "smoke", 0)
    run.job_log.write_text("slurmstepd: error: Detected 1 oom_kill event in StepId=72.0.\n")
    t.state = JobState("72", "OUT_OF_MEMORY")
    rec = settle(store, t, log=lambda *_: None)
    assert rec["status"] == "failed"
    assert rec["reason"] == ("SLURM job 72 ended OUT_OF_MEMORY: slurmstepd: error: Detected 1 "
                             "oom_kill event in StepId=72.0.")


def test_cancelled_or_foreign_attempts_leave_no_record(tmp_path, synth_root):
    store = Store(tmp_path / "results")
    t = started_attempt(store, synth_root, "73")
    t.state = JobState("73", "CANCELLED")
    assert settle(store, t, log=lambda *_: None) is None          # stopped: a re-run resumes
    t.job.job_id, t.state = "74", JobState("74", "FAILED")         # a job that never got as far
    assert settle(store, t, log=lambda *_: None) is None           # as its own attempt
    assert not store.run("table1.c", "smoke", 0).record.exists()


def test_a_job_after_a_killed_one_records_its_outcome_and_never_runs_it_again(tmp_path, synth_root,
                                                                              monkeypatch):
    """Issue 14's ownership inside SLURM: a job of the row (resubmitted, or requeued) that finds
    the unrecorded outcome of the same config left by a job killed after its worker finished
    makes the record from it, naming that job, instead of training again."""
    import pytest

    from harness.orchestrate import row as row_module
    store = Store(tmp_path / "results")
    started_attempt(store, synth_root, "76")
    run = store.run("table1.c", "smoke", 0)
    WorkerOutcome("failed", "NonFiniteLossError: loss became nan").write(run.outcome)
    monkeypatch.setattr(row_module, "launch_and_follow",
                        lambda *a, **k: pytest.fail("the worker was started again"))
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    rec = row_module.run_row(get_row("table1.c"), job_options(synth_root), store, synth_root,
                             log=lambda *_: None)
    assert rec["status"] == "failed" and rec["reason"] == "NonFiniteLossError: loss became nan"
    assert rec["slurm_job"] == "76" and not run.attempt.exists()
