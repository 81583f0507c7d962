"""`--preflight` without running anything: the projection's arithmetic, the table, the device
check's one-line diagnoses, and bad input (one line, exit 2, nothing written)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.orchestrate.launch import Launch
from harness.orchestrate.preflight import (COCO_TRAIN_IMAGES, COCO_VAL_IMAGES, project,
                                           render_preflight)
from harness.worker import device_check as dc


# --- projection ---------------------------------------------------------------------------------

def test_projection_of_a_multi_gpu_row():
    # 40k iterations at 0.5 s; test 0.08 s/img split over 8 GPUs; the RPN's dump in one process
    p = project(0.5, 40_000, 0.08, processes=8, on_gpu=True, dump_images=COCO_TRAIN_IMAGES + COCO_VAL_IMAGES)
    assert p.train_s == pytest.approx(20_000.0)
    assert p.test_s == pytest.approx(5000 * 0.08 / 8) == pytest.approx(50.0)
    assert p.dump_s == pytest.approx(123_287 * 0.08)
    assert p.wall_s == pytest.approx(20_050.0 + 123_287 * 0.08)
    assert p.gpu_hours == pytest.approx((20_050.0 * 8 + 123_287 * 0.08) / 3600)


def test_projection_on_a_cpu_has_no_gpu_hours_and_a_test_only_row_no_training():
    p = project(12.0, 320_000, 3.0, processes=1, on_gpu=False)
    assert p.train_s == pytest.approx(3_840_000.0) and p.test_s == pytest.approx(15_000.0)
    assert p.dump_s == 0 and p.gpu_hours is None
    merged = project(None, 0, 0.2, processes=2, on_gpu=True)
    assert merged.train_s == 0 and merged.wall_s == pytest.approx(500.0)
    assert merged.gpu_hours == pytest.approx(1000.0 / 3600)
    with pytest.raises(ValueError):
        project(None, 10, 0.2, processes=1, on_gpu=True)   # iterations without a measured s/iter


def _record(row, s_iter=0.5, full=40_000, s_img=0.1, procs=8, device="cuda: NVIDIA H100", **extra):
    rec = {"row": row, "table": row.split(".")[0], "profile": "preflight", "seed": 0, "status": "done",
           "processes": procs, "images_per_step": 2 * procs, "environment": {"device": device},
           "runtime": {"seconds_per_image": s_img, "images_timed": 6, "warmup_iterations_excluded": 2},
           "preflight": {"iterations": 4, "full_max_iters": full, "seconds_per_iter": s_iter,
                         "iterations_timed": 2, "peak_memory_mb": 3072.0, "device": device}}
    rec.update(extra)
    return rec


def test_table_prices_each_row_and_totals_the_sweep():
    recs = [_record("table1.c"), _record("table2.c", s_iter=0.25, full=80_000, s_img=0.05),
            {"row": "table2.a", "table": "table2", "profile": "preflight", "status": "failed",
             "reason": "CUDA out of memory. Tried to allocate 2.00 GiB", "metrics": {}},
            dict(_record("table2.c"), row="table3.c", table="table3", same_as="table2.c")]
    text = render_preflight(recs, Launch("torchrun", 8))
    lines = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines() if line.startswith("| table")}
    t1 = lines["table1.c"]
    # table1.c is table2.c's producer: its proposal dump (123,287 images x 0.1 s) is priced
    dump = (COCO_TRAIN_IMAGES + COCO_VAL_IMAGES) * 0.1
    assert "passed" in t1 and "0.500 (2 it)" in t1 and "3.00 GiB GPU" in t1 and "40,000 it x 2 img/GPU" in t1
    assert f"{dump / 3600:.1f} h" in t1
    gpu1 = ((20_000 + 5000 * 0.1 / 8) * 8 + dump) / 3600
    assert f"| {gpu1:.1f} |" in t1
    t2 = lines["table2.c"]
    assert "5.6 h" in t2 and "| - |" in t2            # 80k x 0.25 s = 20,000 s (+31 s test)
    assert "FAILED: CUDA out of memory" in lines["table2.a"]
    assert "passed (the run of table2.c)" in lines["table3.c"]
    gpu2 = (80_000 * 0.25 + 5000 * 0.05 / 8) * 8 / 3600
    total = text.splitlines()[-1]
    assert "3/4 rows passed" in total and f"{gpu1 + gpu2:.1f} GPU-hours" in total
    assert "not projected: table2.a" in total and "table3.c" not in total


def test_table_on_a_cpu_says_so_instead_of_gpu_hours():
    text = render_preflight([_record("table1.c", procs=1, device="cpu", s_iter=20.0, full=320_000)],
                            Launch())
    assert "n/a (CPU)" in text and "GiB RSS" in text and "no GPU-hours" in text
    assert "1777.8 h" in text   # 320,000 x 20 s; test 5000 x 0.1 s


# --- the device check's diagnoses -------------------------------------------------------------

def test_gpu_is_expected_from_the_environment_unless_hidden():
    none = dict(exists=lambda p: False, which=lambda c: None)
    assert dc.gpu_evidence({"CUDA_VISIBLE_DEVICES": "0,1"}, **none) == "CUDA_VISIBLE_DEVICES=0,1"
    assert dc.gpu_evidence({"CUDA_VISIBLE_DEVICES": ""}, exists=lambda p: True, which=lambda c: "x") is None
    assert dc.gpu_evidence({}, **none) is None
    assert "NVIDIA driver" in dc.gpu_evidence({}, exists=lambda p: True, which=lambda c: None)
    assert "nvidia-smi" in dc.gpu_evidence({}, exists=lambda p: False, which=lambda c: "/usr/bin/nvidia-smi")


def test_old_driver_is_named_with_its_version_and_the_fix():
    line = dc.explain_no_cuda("CUDA_VISIBLE_DEVICES=0", "2.14.1", "13.0", "535.104.05", "12.2")
    assert "535.104.05" in line and "CUDA up to 12.2" in line and "CUDA 13.0" in line
    assert "FPN_REPRO_PYTHON" in line and "torch built for CUDA 12.2" in line
    assert "\n" not in line


def test_cpu_only_torch_and_unexplained_missing_gpu():
    line = dc.explain_no_cuda("nvidia-smi is on PATH", "2.14.1+cpu", None, "580.65", "13.0")
    assert "CPU-only build" in line and "CUDA_VISIBLE_DEVICES=" in line
    line = dc.explain_no_cuda("CUDA_VISIBLE_DEVICES=0", "2.14.1", "13.0", "580.65", "13.0",
                              "CUDA initialization: no CUDA-capable device is detected")
    assert "no CUDA-capable device" in line and "--gres" in line


def test_op_failure_names_the_rebuild():
    line = dc.explain_op_failure("nms", "cuda:0", "RuntimeError: nms_impl: implementation for "
                                 "device cuda:0 not found.")
    assert "built without CUDA ops" in line and dc.REBUILD_MMCV in line and "nms_impl" in line
    arch = dc.explain_op_failure("DeviceRoIPool", "cuda:1", "RuntimeError: CUDA error: no kernel "
                                 "image is available for execution on the device", "9.0")
    assert "TORCH_CUDA_ARCH_LIST=9.0" in arch
    assert "tools/bootstrap.sh" in dc.explain_op_failure("nms", "cpu", "ImportError: mmcv._ext")


def test_setup_failure_is_read_back_from_the_outcome(tmp_path):
    assert dc.setup_failure(tmp_path) is None
    (tmp_path / "outcome.json").write_text(json.dumps({"status": "failed", "reason": "x"}))
    assert dc.setup_failure(tmp_path) is None
    (tmp_path / "outcome.json").write_text(json.dumps({"status": dc.SETUP_FAILED, "reason": "fix it"}))
    assert dc.setup_failure(tmp_path) == "fix it"


# --- bad input ----------------------------------------------------------------------------------

def _one_line_error(capsys, argv, *expected) -> None:
    rc = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("harness: error: "), err
    for text in expected:
        assert text in err[0], (text, err[0])


@pytest.mark.parametrize("argv, expected", [
    (["--preflight", "--preflight-iters", "0"], "--preflight-iters: must be at least 1 (got 0)"),
    (["--preflight-iters", "2"], "--preflight-iters only applies with --preflight"),
    (["--preflight", "--profile", "smoke"], "drop --profile smoke"),
    (["--preflight", "--pretrained", "resnet50=/nonexistent/r50.pth"], "resnet50=/nonexistent/r50.pth: no such file"),
])
def test_bad_preflight_input_is_one_line(capsys, isolated_outputs, argv, expected):
    _one_line_error(capsys, ["run", "table1.c", *argv], expected)
    assert not list(Path(isolated_outputs).rglob("record.json"))
    assert not (Path(isolated_outputs) / "results").exists()
