"""Bad input: one line on stderr that says what is wrong and what to do, exit code 2, no
traceback, and no result record written."""
from __future__ import annotations

import json
import shutil
from pathlib import Path


from harness.cli.main import main

from tests.conftest import run_cli


def records_under(tmp_path: Path) -> list[Path]:
    return list((tmp_path / "results").rglob("record.json"))


def check_one_line_error(capsys, argv, *expected):
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("harness: error: ")
    for text in expected:
        assert text in lines[0], (text, lines[0])
    return lines[0]


def test_unknown_row_lists_the_valid_rows(capsys, isolated_outputs):
    check_one_line_error(capsys, ["run", "table1.z", "--profile", "smoke"],
                         "unknown row 'table1.z'", "table1.a", "table1.f")
    assert not records_under(isolated_outputs)


def test_unknown_table_lists_the_valid_tables(capsys, isolated_outputs):
    check_one_line_error(capsys, ["run", "table9", "--profile", "smoke"],
                         "unknown table or row 'table9'", "valid tables: table1")
    check_one_line_error(capsys, ["list", "table9"], "unknown table 'table9'")
    assert not records_under(isolated_outputs)


def test_literature_row_is_not_runnable_and_says_which_rows_are(capsys):
    check_one_line_error(capsys, ["run", "table3.*", "--profile", "smoke"],
                         "literature-only", "runnable rows of table3: table3.a, table3.b, table3.c")


def test_unknown_profile_lists_profiles(capsys, isolated_outputs):
    check_one_line_error(capsys, ["run", "table1.c", "--profile", "fast"],
                         "unknown profile 'fast'", "paper, smoke")
    assert not records_under(isolated_outputs)


def test_paper_profile_without_data_root_says_to_pass_one(capsys, isolated_outputs):
    check_one_line_error(capsys, ["run", "table1.c"], "needs COCO 2017", "--data-root")
    assert not records_under(isolated_outputs)


def test_missing_and_empty_data_roots(capsys, tmp_path, isolated_outputs):
    check_one_line_error(capsys, ["run", "table1.c", "--data-root", str(tmp_path / "nope")],
                         "does not exist")
    (tmp_path / "empty").mkdir()
    check_one_line_error(capsys, ["run", "table1.c", "--profile", "smoke", "--data-root",
                                  str(tmp_path / "empty")], "is empty")
    assert not records_under(isolated_outputs)


def test_malformed_annotations_name_the_file(capsys, synth_root, tmp_path, isolated_outputs):
    root = Path(shutil.copytree(synth_root, tmp_path / "data"))
    ann = root / "annotations" / "instances_val2017.json"
    ann.write_text(ann.read_text()[:200])
    check_one_line_error(capsys, ["run", "table1.c", "--profile", "smoke", "--data-root", str(root)],
                         "malformed annotations", "instances_val2017.json", "not valid JSON")
    data = json.loads((root / "annotations" / "instances_train2017.json").read_text())
    data["annotations"][0]["bbox"] = [1, 2, "x"]
    (root / "annotations" / "instances_train2017.json").write_text(json.dumps(data))
    ann.write_text((synth_root / "annotations" / "instances_val2017.json").read_text())
    check_one_line_error(capsys, ["run", "table1.c", "--profile", "smoke", "--data-root", str(root)],
                         "instances_train2017.json", str(data["annotations"][0]["id"]))
    assert not records_under(isolated_outputs)


def test_argparse_errors_are_one_line_too(capsys):
    check_one_line_error(capsys, ["run", "table1.c", "--seeds", "two"],
                         "argument --seeds: 'two' is not a whole number", "--help")
    check_one_line_error(capsys, ["frobnicate"], "invalid choice")


def test_a_real_process_prints_no_traceback():
    r = run_cli("run", "table1.x", "--profile", "smoke")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "unknown row 'table1.x'" in r.stderr


def test_a_reader_that_leaves_early_gets_no_traceback():
    """`harness list | head`: the pipe closes before the listing is written."""
    import subprocess
    import sys
    from tests.conftest import ROOT
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "list"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()                    # closed before the child can write a byte
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert err == ""


def test_bad_launch_options_are_one_line(capsys, isolated_outputs):
    check_one_line_error(capsys, ["run", "table1.c", "--profile", "smoke", "--launcher", "mpi"],
                         "unknown launcher 'mpi'", "local, torchrun, slurm")
    check_one_line_error(capsys, ["run", "table1.c", "--profile", "smoke", "--gpus", "2"],
                         "local launcher runs one process", "torchrun")
    check_one_line_error(capsys, ["run", "table1.c", "--profile", "smoke", "--seeds", "0"],
                         "argument --seeds: must be at least 1 (got 0)")
    assert not records_under(isolated_outputs)


def test_table6_on_data_without_masks_stops_before_training(capsys, synth_root, tmp_path, isolated_outputs):
    root = Path(shutil.copytree(synth_root, tmp_path / "data"))
    for split in ("train2017", "val2017"):
        ann = root / "annotations" / f"instances_{split}.json"
        data = json.loads(ann.read_text())
        for a in data["annotations"]:
            a.pop("segmentation", None)
        ann.write_text(json.dumps(data))
    check_one_line_error(capsys, ["run", "table6.c", "--profile", "smoke", "--data-root", str(root)],
                         "mask", "instances_train2017.json")
    assert not records_under(isolated_outputs)
    assert not (isolated_outputs / "results" / "runs").exists()      # nothing started
