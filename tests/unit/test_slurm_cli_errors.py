"""Bad input to the SLURM verbs: one line on stderr, exit code 2, nothing written."""
from __future__ import annotations

from harness.cli.main import main


def one_line(capsys, argv) -> str:
    rc = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("harness: error: "), err
    return err[0]


def test_detach_without_slurm_is_refused_before_anything_runs(capsys, isolated_outputs):
    line = one_line(capsys, ["run", "table1.c", "--profile", "smoke", "--detach"])
    assert "--detach needs --launcher slurm" in line and "nohup" in line
    assert not (isolated_outputs / "results").exists()


def test_detach_with_preflight_is_refused_before_anything_runs(capsys, isolated_outputs):
    line = one_line(capsys, ["run", "table1.c", "--preflight", "--launcher", "slurm", "--detach"])
    assert "--detach does not go with --preflight" in line
    assert not (isolated_outputs / "results").exists()


def test_cancel_without_a_live_job_says_so(capsys, isolated_outputs):
    line = one_line(capsys, ["cancel", "table1.c", "--profile", "smoke"])
    # with SLURM's tools installed: no job kept for the row; without them: they are needed
    assert "no live SLURM job for table1.c [smoke, seed 0]" in line or "needs SLURM's squeue" in line
    assert not (isolated_outputs / "results" / "runs").exists()
