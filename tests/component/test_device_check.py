"""The worker's device check before training: the row's real mmcv ops on this machine, and a
GPU node with a CPU-only mmcv (ops monkeypatched to fail as such an mmcv fails) stopping with one
line, no record, and `harness status` showing why. Also: --pretrained files that hold no ResNet
of the right depth are refused before anything runs."""
from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.config.profiles import get_profile
from harness.config.resolve import resolve_config
from harness.paper.rows import get_row
from harness.worker import device_check as dc


def _cfg(row_id: str, tmp_path: Path):
    return resolve_config(get_row(row_id), get_profile("preflight"), tmp_path, tmp_path / "work").cfg


def test_the_rows_ops_run_here_and_roi_pooling_is_checked_as_the_row_uses_it(tmp_path, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    cfg = _cfg("table2.a", tmp_path)     # C4 head: 14x14 RoI pooling
    assert dc.row_ops(cfg) == [("nms", None), ("DeviceRoIPool", {"type": "DeviceRoIPool", "output_size": 14})]
    assert dc.row_ops(_cfg("table1.c", tmp_path)) == [("nms", None)]
    assert dc.check_device(cfg) == "cpu"


def test_an_op_failing_on_this_device_is_one_line(tmp_path, monkeypatch):
    import mmcv.ops
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)

    def broken(*a, **k):
        raise RuntimeError("nms_impl: implementation for device cpu not found.")
    monkeypatch.setattr(mmcv.ops, "nms", broken)
    with pytest.raises(dc.SetupFailed) as err:
        dc.check_device(_cfg("table1.c", tmp_path))
    assert str(err.value).startswith("mmcv's nms does not run on cpu") and "tools/bootstrap.sh" in str(err.value)


def test_gpu_expected_but_torch_has_none_stops_before_any_op(tmp_path, monkeypatch):
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has a usable GPU")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setattr(dc, "_driver_version", lambda: "535.104.05")
    monkeypatch.setattr(dc, "_driver_cuda", lambda: "12.2")
    monkeypatch.setattr(dc, "run_op", lambda *a: pytest.fail("ops ran although torch has no GPU"))
    with pytest.raises(dc.SetupFailed) as err:
        dc.check_device(_cfg("table1.c", tmp_path))
    line = str(err.value)
    assert "535.104.05" in line and "12.2" in line and "FPN_REPRO_PYTHON" in line and "\n" not in line


def test_cpu_only_mmcv_on_a_gpu_node_stops_the_worker_with_one_line_and_no_record(
        tmp_path, monkeypatch, capsys, synth_root, isolated_outputs):
    """The sweep as a user runs it, with the worker in this process so the patches reach it: the
    GPU is usable, but mmcv's ops have no CUDA kernels (what mmcv built on a login node does)."""
    from mmengine.runner import Runner

    from harness.orchestrate import row as row_module
    from harness.worker import main as worker
    monkeypatch.setattr(dc, "_training_device", lambda cuda: "cuda:0")

    def cpu_only_mmcv(name, layer, device):
        raise RuntimeError(f"{name}_impl: implementation for device {device} not found.")
    monkeypatch.setattr(dc, "run_op", cpu_only_mmcv)
    monkeypatch.setattr(Runner, "from_cfg", lambda cfg: pytest.fail("the Runner was built first"))

    def launch_here(cmd, log_path, label, log=print, threads=None, lock=None):
        with open(log_path, "a") as logf, contextlib.redirect_stderr(logf), contextlib.redirect_stdout(logf):
            return worker.main(cmd[cmd.index("harness.worker") + 1:])
    monkeypatch.setattr(row_module, "launch_and_follow", launch_here)

    rc = main(["run", "table2.c", "--profile", "smoke", "--data-root", str(synth_root)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert err[0].startswith("harness: error: set-up failed: mmcv's nms does not run on cuda:0")
    assert "built without CUDA ops" in err[0] and dc.REBUILD_MMCV in err[0]
    results = isolated_outputs / "results"
    assert not list(results.rglob("record.json"))
    run_dir = results / "runs" / "table1.c" / "smoke" / "seed0"   # the dependency runs first
    outcome = json.loads((run_dir / "outcome.json").read_text())
    assert outcome["status"] == dc.SETUP_FAILED and "\n" not in outcome["reason"]
    assert "harness.worker: set-up failed: mmcv's nms" in (run_dir / "worker.log").read_text()
    assert not (results / "runs" / "table2.c").exists()      # the sweep stopped there

    assert main(["status", "table2", "--profile", "smoke"]) == 0
    status = capsys.readouterr().out
    line = next(s for s in status.splitlines() if "table1.c" in s)
    assert "failed" in line and "set-up: mmcv's nms does not run on cuda:0" in line
    assert "blocked" in next(s for s in status.splitlines() if "table2.c" in s)


@pytest.fixture(scope="module")
def weight_files(tmp_path_factory):
    import torch
    from mmdet.models.backbones import ResNet
    d = tmp_path_factory.mktemp("weights")
    sd = ResNet(depth=50, style="caffe").state_dict()
    torch.save(sd, d / "r50.pth")
    torch.save({"state_dict": {f"backbone.{k}": v for k, v in sd.items()}}, d / "detector.pth")
    torch.save({k: v for k, v in ResNet(depth=101, style="caffe").state_dict().items()
                if k.startswith("layer3.")} | sd, d / "r101_as_r50.pth")   # 23 blocks in layer3
    (d / "notes.txt").write_text("not a checkpoint")
    return d


@pytest.mark.parametrize("name, expected", [
    ("detector.pth", "holds no ResNet weights"),
    ("r101_as_r50.pth", "holds resnet101 weights (layer3 has 23 blocks), not resnet50"),
    ("notes.txt", "not a PyTorch checkpoint"),
])
def test_pretrained_file_that_is_no_resnet50_is_refused_before_running(
        capsys, monkeypatch, isolated_outputs, weight_files, name, expected):
    from harness.orchestrate import sweep
    monkeypatch.setattr(sweep, "execute", lambda *a, **k: pytest.fail("rows ran with bad weights"))
    rc = main(["run", "table1.c", "--preflight", "--pretrained", f"resnet50={weight_files / name}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and expected in err[0], err
    assert not (isolated_outputs / "results").exists()


def test_a_resnet50_file_passes_the_check(weight_files):
    from harness.config.weights import check_pretrained
    check_pretrained({"resnet50": str(weight_files / "r50.pth")})


@pytest.mark.parametrize("processes", [1, 8])
def test_preflight_runs_the_paper_config_of_every_row_only_cut_short(processes):
    """Model, input size, proposal/RoI counts, images per GPU, weights, LR and schedule: all the
    paper profile's at the same GPU count; only the stop, checkpoints and logging differ."""
    from harness.paper.rows import all_rows
    from tests.component.test_configs import flatten
    may_change = {"train_cfg.max_iters", "train_cfg.val_interval", "default_hooks.checkpoint.interval",
                  "default_hooks.checkpoint.max_keep_ckpts", "default_hooks.logger.interval",
                  "harness.preflight.full_max_iters", "harness.preflight.iterations"}
    for row in [r for r in all_rows() if r.runnable]:
        paper = resolve_config(row, get_profile("paper"), Path("/d"), Path("/w"), processes=processes)
        pre = resolve_config(row, get_profile("preflight"), Path("/d"), Path("/w"), processes=processes)
        a, b = flatten(paper.cfg.to_dict()), flatten(pre.cfg.to_dict())
        changed = {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)}
        assert changed <= may_change, (row.id, changed - may_change)
        assert b["train_cfg.max_iters"] == 4 and b["harness.preflight.full_max_iters"] == a["train_cfg.max_iters"]
        assert pre.schedule == paper.schedule and pre.deviations == paper.deviations
