"""Can this row's ops run where it will train? Checked in the worker before the Runner is built.

Two set-up faults otherwise surface late, or never:
- mmcv built without CUDA ops (mmcv's setup.py builds CPU-only ops on a node without a GPU,
  e.g. a login node): a GPU run dies at its first NMS ("nms_impl: implementation for device
  cuda:0 not found"), after queueing, data loading and model building;
- an NVIDIA driver older than torch's CUDA: torch.cuda.is_available() is False and MMEngine
  quietly trains on the CPU.
Either stops the worker with one line that names the fix. The worker then writes outcome.json
with status SETUP_FAILED; the orchestrator writes no record for it and reports the line, and
`harness status` shows it (setup_failure below reads it back).

No torch import at module level: the orchestrator (status) imports this module too."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from harness.store.outcome import SETUP_FAILED

# How to get mmcv with CUDA ops (tools/bootstrap.sh builds mmcv; FORCE_CUDA=1 asks for CUDA ops
# even where the build machine has no GPU).
REBUILD_MMCV = "FORCE_CUDA=1 tools/bootstrap.sh"
# CUDA_VISIBLE_DEVICES values that hide every GPU: a CPU run on purpose.
_HIDDEN = ("", "-1", "none", "NoDevFiles")


class SetupFailed(Exception):
    """The environment cannot run this row as configured; the message is one line with the fix."""


def setup_failure(run_dir: Path) -> str | None:
    """The one-line reason if the worker's last attempt in run_dir stopped at the device check."""
    try:
        outcome = json.loads((Path(run_dir) / "outcome.json").read_text())
    except (OSError, ValueError):
        return None
    if isinstance(outcome, dict) and outcome.get("status") == SETUP_FAILED:
        return str(outcome.get("reason") or "the device check failed")
    return None


# --- is a GPU expected, and why is there none? ------------------------------------------------

def gpu_evidence(environ=None, exists=os.path.exists, which=shutil.which) -> str | None:
    """Why this process should have a GPU (None: nothing says so)."""
    environ = os.environ if environ is None else environ
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:   # set by SLURM's --gres, or by hand; set empty to hide the GPUs
        return None if visible.strip() in _HIDDEN else f"CUDA_VISIBLE_DEVICES={visible}"
    if exists("/proc/driver/nvidia/version"):
        return "this node has an NVIDIA driver loaded"
    if which("nvidia-smi"):
        return "nvidia-smi is on PATH"
    return None


def _driver_version() -> str | None:
    try:
        text = Path("/proc/driver/nvidia/version").read_text()
    except OSError:
        text = ""
    m = re.search(r"Kernel Module(?:\s+for\s+\S+)?\s+(\d+\.\d+(?:\.\d+)?)", text)
    if m:
        return m.group(1)
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=30).stdout.split()
        except (OSError, subprocess.SubprocessError):
            out = []
        return out[0] if out else None
    return None


def _driver_cuda() -> str | None:
    """The newest CUDA version the installed driver supports (cuDriverGetVersion), e.g. '12.4'."""
    import ctypes
    try:
        lib = ctypes.CDLL("libcuda.so.1")
        v = ctypes.c_int(0)
        if lib.cuDriverGetVersion(ctypes.byref(v)) != 0 or v.value <= 0:
            return None
    except (OSError, AttributeError):
        return None
    return f"{v.value // 1000}.{v.value % 1000 // 10}"


def _major(version: str | None) -> int | None:
    try:
        return int(str(version).split(".")[0])
    except ValueError:
        return None


def explain_no_cuda(evidence: str, torch_version: str, torch_cuda: str | None,
                    driver: str | None, driver_cuda: str | None, warning: str = "") -> str:
    """One line: a GPU is expected but torch cannot use one, why, and the fix."""
    on_cpu = "the row would train on the CPU; set CUDA_VISIBLE_DEVICES= to do that on purpose"
    own_env = "in its own environment, used with FPN_REPRO_PYTHON=/path/to/env/bin/python"
    drv = f"the NVIDIA driver {driver or '(version unknown)'}"
    if torch_cuda is None:
        return (f"{evidence} but torch {torch_version} is a CPU-only build: {on_cpu}, or install "
                f"a CUDA build of torch {own_env}")
    if _major(driver_cuda) is not None and _major(driver_cuda) < _major(torch_cuda):
        return (f"{drv} supports CUDA up to {driver_cuda}, older than torch {torch_version}'s "
                f"CUDA {torch_cuda}, so torch cannot use the GPU ({evidence}): install a torch "
                f"built for CUDA {driver_cuda} {own_env} (then tools/bootstrap.sh builds mmcv for "
                f"it), or update the driver; otherwise {on_cpu}")
    why = f" ({' '.join(warning.split())[:200]})" if warning.strip() else ""
    return (f"{evidence} but torch {torch_version} (CUDA {torch_cuda}) finds no usable GPU{why}; "
            f"{drv}, CUDA {driver_cuda or 'unknown'}: check nvidia-smi and the job's GPU "
            f"allocation (e.g. --gres=gpu:N); otherwise {on_cpu}")


def explain_op_failure(op: str, device: str, error: str, capability: str | None = None) -> str:
    """One line: an mmcv op the row uses does not run on its device, and the fix."""
    error = " ".join(error.split())[:300]
    if device.startswith("cuda"):
        if "no kernel image" in error:
            return (f"mmcv's {op} has no kernel for this GPU (compute capability {capability}) "
                    f"on {device} ({error}): rebuild mmcv for it: TORCH_CUDA_ARCH_LIST={capability} "
                    f"{REBUILD_MMCV}")
        return (f"mmcv's {op} does not run on {device} ({error}): this mmcv was most likely built "
                f"without CUDA ops; rebuild it with CUDA: {REBUILD_MMCV} (with "
                f"FPN_REPRO_PYTHON=... for your own environment)")
    return (f"mmcv's {op} does not run on {device} ({error}): reinstall mmcv with its compiled "
            "ops: tools/bootstrap.sh")


# --- the ops --------------------------------------------------------------------------------------

def _roi_layers(node):
    """Every distinct roi_layer config in the model (RoI pooling as the row uses it)."""
    seen = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            layer = item.get("roi_layer")
            if isinstance(layer, dict) and dict(layer) not in seen:
                seen.append(dict(layer))
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return seen


def row_ops(cfg) -> list[tuple[str, dict | None]]:
    """(name, layer config) of each mmcv op to try: NMS (every RPN and detector uses it) and
    each RoI layer type of the model."""
    return [("nms", None)] + [(layer["type"], layer) for layer in _roi_layers(cfg.get("model", {}))]


def run_op(name: str, layer: dict | None, device: str) -> None:
    """Run one op on a tiny input on device and check its answer; raises what the op raises."""
    import torch

    import mmcv.ops
    if layer is None:
        boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.], [20., 20., 30., 30.]],
                             device=device)
        keep = mmcv.ops.nms(boxes, torch.tensor([0.9, 0.8, 0.7], device=device), 0.5)[1]
        if sorted(keep.cpu().tolist()) != [0, 2]:
            raise RuntimeError(f"nms kept boxes {keep.cpu().tolist()} of a test case that keeps [0, 2]")
        return
    if not hasattr(mmcv.ops, layer["type"]):
        import harness.models.roi_pool  # noqa: F401  (publishes DeviceRoIPool in mmcv.ops)
    args = {k: v for k, v in layer.items() if k != "type"}
    op = getattr(mmcv.ops, layer["type"])(spatial_scale=1.0, **args)
    feats = torch.arange(2 * 16 * 16, dtype=torch.float32, device=device).reshape(1, 2, 16, 16)
    rois = torch.tensor([[0., 2., 2., 13., 13.]], device=device)
    out = op(feats, rois).cpu()
    if out.shape[:2] != (1, 2) or not torch.isfinite(out).all():
        raise RuntimeError(f"{name} returned shape {tuple(out.shape)} for one RoI on 2 channels")


def _training_device(cuda: bool) -> str:
    """The device MMEngine will put this process's model on."""
    if not cuda:
        return "cpu"
    return f"cuda:{int(os.environ.get('LOCAL_RANK', os.environ.get('SLURM_LOCALID', '0')))}"


def check_device(cfg) -> str:
    """Raise SetupFailed (one line) unless the row's ops run on the device this process trains
    on; return that device."""
    import warnings

    import torch
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cuda = torch.cuda.is_available()   # an old driver only warns, and answers False
    evidence = gpu_evidence()
    if not cuda and evidence:
        raise SetupFailed(explain_no_cuda(evidence, torch.__version__, torch.version.cuda,
                                          _driver_version(), _driver_cuda(),
                                          " ".join(str(w.message) for w in caught)))
    device = _training_device(cuda)
    for name, layer in row_ops(cfg):
        try:
            run_op(name, layer, device)
            if cuda:
                torch.cuda.synchronize(device)   # kernel errors are asynchronous
        except Exception as exc:  # noqa: BLE001 - whatever the op raises is the diagnosis
            capability = None
            if cuda:
                major, minor = torch.cuda.get_device_capability(device)
                capability = f"{major}.{minor}"
            raise SetupFailed(explain_op_failure(name, device, f"{type(exc).__name__}: {exc}",
                                                 capability)) from exc
    return device
