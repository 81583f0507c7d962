"""`harness status` for rows handed to SLURM, on a store planted by hand and the job states SLURM
would report (adopt.track with states given): live jobs, a job that failed or hit its time limit
without a record, dependents SLURM cancelled after a producer failed, rows stopped by
`harness cancel`, and a record older than the job that replaced it."""
from __future__ import annotations

from harness.orchestrate.adopt import track
from harness.orchestrate.plan import plan
from harness.orchestrate.progress import last_error
from harness.orchestrate.slurm import JobState
from harness.orchestrate.status import dump_state, row_state
from harness.paper.rows import resolve
from harness.store import Record, Status, Store, SubmittedJob


def plant_job(store: Store, row: str, job_id: str, kind: str = "row", cancelled: bool = False):
    run = store.run(row, "smoke", 0)
    job = SubmittedJob(job_id, kind, f"fpn-{row}", row, "smoke", 0, "2026-11-26T07:00:00+00:00",
                       str(run.sbatch), cancelled_at="2026-11-26T07:05:00+00:00" if cancelled else None)
    job.write(run.dump_job if kind == "dump" else run.job)


def plant_record(store: Store, row: str, status: str, reason=None, job=None):
    store.write(Record(row=row, table=row.split(".")[0], profile="smoke", status=status,
                       reason=reason, slurm_job=job, finished_at="2026-11-26T07:10:00+00:00"))


def states_of(store: Store, target: str, slurm: dict[str, tuple[str, str]]):
    steps = plan(resolve([target]))
    tracked = track(store, [s.row.id for s in steps], "smoke", 0,
                    {j: JobState(j, st, why) for j, (st, why) in slurm.items()})
    out: dict = {}
    for step in steps:
        out[step.row.id] = row_state(store, step.row, "smoke", 0, out, tracked)
    return out, tracked


def test_live_jobs_show_progress_or_what_they_wait_for(tmp_path):
    store = Store(tmp_path)
    plant_job(store, "table1.c", "11")
    plant_job(store, "table1.c", "12", kind="dump")
    plant_job(store, "table2.c", "13")
    log = store.run("table1.c", "smoke", 0).log
    log.write_text("11/26 07:00:01 - mmengine - INFO - Iter(train) [3/8]  eta: 0:00:47  loss: 1.0249\n")
    s, tracked = states_of(store, "table2.c", {"11": ("RUNNING", "None"), "12": ("PENDING", "Dependency"),
                                               "13": ("PENDING", "Dependency")})
    assert s["table1.c"] == (Status.RUNNING, "train 3/8, loss 1.0249, ETA 0:00:47")
    assert s["table2.c"] == (Status.PENDING, "waiting for its producers' jobs")
    assert dump_state(store, tracked[("table1.c", "dump")], s["table1.c"]) == \
        (Status.PENDING, "waiting for its producers' jobs")


def test_failed_producer_blocks_the_jobs_slurm_cancelled(tmp_path):
    store = Store(tmp_path)
    plant_job(store, "table1.c", "21")
    plant_job(store, "table1.c", "22", kind="dump")
    plant_job(store, "table2.c", "23")
    plant_record(store, "table1.c", "failed", "KeyError: 'NoSuchHead is not in the model registry'", "21")
    s, tracked = states_of(store, "table2.c", {"21": ("FAILED", "NonZeroExitCode"),
                                               "22": ("CANCELLED", "DependencyNeverSatisfied"),
                                               "23": ("CANCELLED", "DependencyNeverSatisfied")})
    assert s["table1.c"] == (Status.FAILED, "KeyError: 'NoSuchHead is not in the model registry'")
    assert s["table2.c"] == (Status.BLOCKED,
                             "by table1.c (failed, proposals); SLURM cancelled its job")
    assert dump_state(store, tracked[("table1.c", "dump")], s["table1.c"]) == \
        (Status.BLOCKED, "by table1.c (failed); SLURM cancelled its job")


def test_a_job_that_ended_without_its_record_reports_slurm_and_the_logs_last_error(tmp_path):
    store = Store(tmp_path)
    plant_job(store, "table1.c", "31")
    run = store.run("table1.c", "smoke", 0)
    run.job_log.write_text("table1.c [smoke] train 7/8\nslurmstepd: error: *** JOB 31 ON vm "
                           "CANCELLED AT 2026-11-26T07:20:00 DUE TO TIME LIMIT ***\n")
    s, _ = states_of(store, "table1.c", {"31": ("TIMEOUT", "TimeLimit")})
    assert s["table1.c"] == (Status.FAILED, "SLURM job 31 TIMEOUT: slurmstepd: error: *** JOB 31 "
                             "ON vm CANCELLED AT 2026-11-26T07:20:00 DUE TO TIME LIMIT ***")
    # a record an earlier job wrote does not hide that the newer job failed
    plant_record(store, "table1.c", "failed", "an old failure", job="30")
    assert states_of(store, "table1.c", {"31": ("TIMEOUT", "")})[0]["table1.c"][1].startswith(
        "SLURM job 31 TIMEOUT")
    # ... while the record of the job itself is the answer
    plant_record(store, "table1.c", "done", job="31")
    assert states_of(store, "table1.c", {"31": ("COMPLETED", "")})[0]["table1.c"][0] == Status.DONE


def test_cancelled_rows_are_stopped_and_resumable(tmp_path):
    store = Store(tmp_path)
    plant_job(store, "table1.c", "41", cancelled=True)
    plant_job(store, "table2.c", "43")
    run = store.run("table1.c", "smoke", 0)
    run.work.mkdir(parents=True)
    (run.work / "iter_4.pth").write_bytes(b"x")
    (run.work / "last_checkpoint").write_text(str(run.work / "iter_4.pth"))
    s, _ = states_of(store, "table2.c", {"41": ("CANCELLED", ""), "43": ("CANCELLED", "")})
    state, detail = s["table1.c"]
    assert state == Status.STOPPED
    assert "cancelled by 'harness cancel'" in detail and "resumes it from iter_4.pth" in detail
    assert s["table2.c"] == (Status.STOPPED, "SLURM cancelled it after table1.c was stopped; "
                                             "a re-run starts it over")


def test_last_error_prefers_the_exception_to_srun_noise(tmp_path):
    log = tmp_path / "worker.log"
    log.write_text("Traceback (most recent call last):\n  File \"x.py\", line 1\n"
                   "ValueError: loss is nan\nsrun: error: vm: task 0: Exited with exit code 1\n")
    assert last_error(tmp_path / "missing.log", log) == "ValueError: loss is nan"
    log.write_text("srun: error: vm: task 1: Killed\n")
    assert last_error(log) == "srun: error: vm: task 1: Killed"
    log.write_text("Iter(train) [1/8]\n")
    assert last_error(log) is None
