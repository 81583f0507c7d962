"""tools/bootstrap.sh's decisions, read from `--plan` in a sandbox: PATH holds only the basic tools
plus fakes (nvcc, nvidia-smi, sinfo); the environment is an empty venv whose torch and mmcv are
fakes on PYTHONPATH (version files and metadata only, as the set-up reads them); caches and
wheelhouses are temporary. Nothing is installed,
and no torch is imported."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BOOTSTRAP = ROOT / "tools" / "bootstrap.sh"
TOOLS = ("bash sh env cat sed grep sort tr head tail cut paste sha256sum uname dirname basename "
         "readlink mktemp date timeout ls find wc nproc id rm mkdir").split()


def write(path: Path, text: str, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


class Sandbox:
    def __init__(self, tmp: Path, base: Path):
        self.tmp = tmp
        self.bin = tmp / "bin"
        self.bin.mkdir()
        for tool in TOOLS:
            found = shutil.which(tool)
            assert found, f"the test needs {tool}"
            (self.bin / tool).symlink_to(found)
        self.env_dir = base / "env"
        self.python = self.env_dir / "bin" / "python"
        self.site = tmp / "site"
        self.torch("2.11.0+cu130", "13.0")  # a cluster's own torch, not the pin
        self.wheelhouse = tmp / "wheelhouse"
        self.wheelhouse.mkdir()
        self.env = {"PATH": str(self.bin), "HOME": str(tmp / "home"), "TMPDIR": str(tmp),
                    "PYTHONPATH": f"{self.site}:{base / 'site'}", "FPN_REPRO_PYTHON": str(self.python),
                    "FPN_REPRO_CACHE": str(tmp / "cache"), "FPN_REPRO_WHEELHOUSE": str(self.wheelhouse)}

    def torch(self, version: str, cuda: str | None) -> None:
        cuda_line = f"cuda: Optional[str] = {cuda!r}"
        write(self.site / "torch" / "__init__.py", "")
        write(self.site / "torch" / "version.py",
              f"from typing import Optional\n__version__ = {version!r}\n{cuda_line}\n")
        if cuda:  # the CUDA wheels torch runs with: their headers complete a PyPI toolkit
            write(self.site / "nvidia" / f"cu{cuda.split('.')[0]}" / "include" / "cuda_runtime.h", "")

    def mmcv(self, kind: str) -> None:
        """An installed mmcv 2.1.0 whose ops library links (or not) libcudart, as builds do."""
        write(self.site / "mmcv" / "__init__.py", "")
        (self.site / "mmcv" / "_ext.cpython-311-x86_64-linux-gnu.so").write_bytes(ext_bytes(kind))
        write(self.site / "mmcv-2.1.0.dist-info" / "METADATA",
              "Metadata-Version: 2.1\nName: mmcv\nVersion: 2.1.0\n")

    def wheel(self, kind: str, pytag: str | None = None) -> Path:
        pytag = pytag or "cp%d%d" % sys.version_info[:2]
        path = self.wheelhouse / f"mmcv-2.1.0-{pytag}-{pytag}-linux_x86_64.whl"
        with zipfile.ZipFile(path, "w") as z:
            z.writestr(f"mmcv/_ext.{pytag}-x86_64-linux-gnu.so", ext_bytes(kind))
        return path

    def fake(self, name: str, script: str) -> Path:
        return write(self.bin / name, "#!/bin/sh\n" + script, 0o755)

    def nvcc(self, release: str, home: Path | None = None) -> Path:
        home = home or self.tmp / f"cuda-{release}"
        write(home / "include" / "cuda_runtime.h", "")
        write(home / "bin" / "nvcc", f"""#!/bin/sh
case "$*" in
  *--version*) echo "Cuda compilation tools, release {release}, V{release}.1" ;;
  *-dryrun*) echo '#$ TOP={home}/bin/..' >&2 ;;
  *) exit 1 ;;
esac
""", 0o755)
        return home

    def gpus(self, *caps: str) -> None:
        lines = "\n".join(f"GPU {i}: NVIDIA Fake (UUID: GPU-{i})" for i in range(len(caps)))
        self.fake("nvidia-smi", f"""case "$*" in
  *-L*) printf '%s\\n' "{lines}" ;;
  *compute_cap*) printf '%s\\n' {' '.join(caps)} ;;
esac
""")

    def plan(self, **env: str) -> dict[str, str]:
        proc = self.run("--plan", **env)
        assert proc.returncode == 0, proc.stderr
        return dict(line.split(": ", 1) for line in proc.stdout.splitlines())

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        full = dict(self.env, **env)
        return subprocess.run([str(BOOTSTRAP), *args], env={k: v for k, v in full.items() if v},
                              capture_output=True, text=True, timeout=120, cwd=ROOT)


def ext_bytes(kind: str) -> bytes:
    libs = b"libc10.so\0libtorch_cpu.so\0"
    if kind.startswith("cuda"):
        libs += b"libc10_cuda.so\0libcudart.so." + kind[4:].encode() + b"\0"
    return b"\x7fELF" + b"\0" * 64 + libs


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """What every sandbox shares, made once: an empty environment (no pip, no packages), so
    that only each test's fakes are installed in it, and the `packaging` the set-up's probe
    needs. No test writes to either (one checks that nothing was installed)."""
    base = tmp_path_factory.mktemp("bootstrap-base")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(base / "env")], check=True)
    import packaging
    shutil.copytree(Path(packaging.__file__).parent, base / "site" / "packaging")
    return base


@pytest.fixture
def box(tmp_path, base) -> Sandbox:
    return Sandbox(tmp_path, base)


def test_cpu_machine_gets_cpu_ops_and_the_cpu_wheel(box):
    box.wheel("cpu")
    p = box.plan()
    assert p["cuda_ops"].startswith("no (torch has CUDA 13.0; no GPU visible")
    assert p["toolkit"].startswith("none")
    assert p["cache_key"] == "mmcv2.1.0-torch2.11.0+cu130-cp%d%d-cpu-%s" % (
        *sys.version_info[:2], os.uname().machine)
    assert p["wheel"].startswith(f"wheelhouse: {box.wheelhouse}/mmcv-2.1.0-")
    assert "torch: 2.11.0+cu130, CUDA 13.0 (the environment's own" in f"torch: {p['torch']}"


def test_visible_gpus_want_cuda_ops_for_their_archs_and_never_the_cpu_wheel(box):
    box.gpus("9.0", "8.6", "9.0")
    box.wheel("cpu")
    box.mmcv("cpu")
    p = box.plan()
    assert p["cuda_ops"] == "yes (torch has CUDA 13.0; 3 GPU(s) visible (nvidia-smi))"
    assert p["archs"].startswith("8.6;9.0 (the visible GPUs")
    assert "-cu13.0-arch8.6_9.0-" in p["cache_key"]
    assert p["wheel"].startswith("build from PyPI"), "a CPU-only wheel must not serve CUDA ops"
    assert "CUDA ops" in p["wheel"] and "longer than the CPU build" in p["wheel"]


def test_a_cuda_wheel_serves_both_plans_and_an_installed_cuda_mmcv_is_kept(box):
    box.wheel("cuda13")
    assert box.plan(FPN_REPRO_CUDA="1")["wheel"].startswith("wheelhouse:")
    assert box.plan()["wheel"].startswith("wheelhouse:")          # CPU plan: CUDA ops run CPU too
    box.mmcv("cuda13")
    assert box.plan(FPN_REPRO_CUDA="1")["wheel"] == "installed already (mmcv 2.1.0, cuda13 ops)"
    box.mmcv("cuda12")  # built for another CUDA major than torch's 13.0
    assert not box.plan(FPN_REPRO_CUDA="1")["wheel"].startswith("installed")


def test_no_toolkit_means_the_pypi_toolkit_in_the_cache(box):
    p = box.plan(FPN_REPRO_CUDA="1")
    assert p["cuda_ops"] == "yes (torch has CUDA 13.0; FPN_REPRO_CUDA=1)"
    home = box.tmp / "cache" / "toolkits" / "cuda-13.0"
    assert p["toolkit"].startswith(f"pypi {home} (no system CUDA toolkit")
    assert "requirements/cuda-toolkit-13.0.txt with torch's own CUDA headers, to be installed from PyPI" \
        in p["toolkit"]
    # the default list without GPUs, minus Volta, which CUDA 13 no longer builds
    assert p["archs"].startswith("8.0;9.0 (the default for V100/A100/H100 is 7.0;8.0;9.0")
    assert "7.0 dropped: CUDA 13.0 builds 7.5 and newer only" in p["archs"]
    assert "-cu13.0-arch8.0_9.0-" in p["cache_key"]


def test_a_matching_nvcc_on_path_is_the_toolkit_and_a_mismatched_one_is_not(box):
    home = box.nvcc("13.0")
    (box.bin / "nvcc").symlink_to(home / "bin" / "nvcc")
    p = box.plan(TORCH_CUDA_ARCH_LIST="9.0")
    assert p["cuda_ops"] == "yes (torch has CUDA 13.0; TORCH_CUDA_ARCH_LIST is set)"
    assert p["toolkit"].startswith(f"system {home} (system CUDA 13.0 from nvcc on PATH")
    assert p["archs"] == "9.0 (from TORCH_CUDA_ARCH_LIST)"

    (box.bin / "nvcc").unlink()
    (box.bin / "nvcc").symlink_to(box.nvcc("12.4") / "bin" / "nvcc")
    p = box.plan(TORCH_CUDA_ARCH_LIST="9.0")
    assert p["toolkit"].startswith("pypi ")
    assert "is CUDA 12.4, torch needs 13.0" in p["toolkit"]


def test_nvcc_on_path_alone_does_not_ask_for_cuda_ops(box):
    """CPU machines often have an nvcc (this project's CI machine does): no GPU, no request, CPU."""
    (box.bin / "nvcc").symlink_to(box.nvcc("13.0") / "bin" / "nvcc")
    assert box.plan()["cuda_ops"].startswith("no ")


def test_cuda_home_asks_for_cuda_ops_and_names_the_toolkit(box):
    home = box.nvcc("13.0", box.tmp / "modules" / "cuda")
    p = box.plan(CUDA_HOME=str(home))
    assert p["cuda_ops"].startswith("yes (torch has CUDA 13.0; CUDA_HOME is set")
    assert p["toolkit"] == f"system {home} (system CUDA 13.0 from CUDA_HOME={home})"


def test_a_slurm_login_node_with_gpu_nodes_builds_cuda_ops(box):
    box.fake("sinfo", "echo 'gpu:h100:8'\n")
    p = box.plan()
    assert p["cuda_ops"].startswith("yes") and "SLURM lists GPU nodes" in p["cuda_ops"]
    box.fake("sinfo", "echo '(null)'\n")
    assert box.plan()["cuda_ops"].startswith("no ")


def test_opt_out_and_cpu_torch(box):
    box.gpus("9.0")
    assert box.plan(FPN_REPRO_CUDA="0")["cuda_ops"] == \
        "no (torch has CUDA 13.0; FPN_REPRO_CUDA=0 asks for CPU ops only)"
    box.torch("2.14.1+cpu", None)
    p = box.plan()
    assert p["cuda_ops"] == "no (torch 2.14.1+cpu is a CPU-only build)"
    assert "-cpu-" in p["cache_key"]


@pytest.mark.parametrize("env, words", [
    ({"FPN_REPRO_CUDA": "yes"}, "FPN_REPRO_CUDA=yes: use 1"),
    ({"TORCH_CUDA_ARCH_LIST": "7.0;9.0"}, "TORCH_CUDA_ARCH_LIST has 7.0, which CUDA 13.0 cannot build"),
    ({"FPN_REPRO_OFFLINE": "1", "FPN_REPRO_WHEELHOUSE": ""}, "FPN_REPRO_OFFLINE=1 needs FPN_REPRO_WHEELHOUSE"),
])
def test_bad_settings_give_one_line(box, env, words):
    proc = box.run("--plan", **env)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith("bootstrap: error: ") and words in proc.stderr


def test_cpu_torch_cannot_be_forced_to_cuda(box):
    box.torch("2.14.1+cpu", None)
    proc = box.run("--plan", FPN_REPRO_CUDA="1")
    assert proc.returncode != 0 and "has no CUDA" in proc.stderr


@pytest.mark.parametrize("args, words", [
    (["--wheelhouse-for"], "--wheelhouse-for needs a folder"),
    (["--wheelhouse-for", "x", "--python-version", "3"], "--python-version 3: expected 3.N"),
    (["--frobnicate"], "unknown option --frobnicate"),
])
def test_bad_options_give_one_line(box, args, words):
    proc = box.run(*args)
    assert proc.returncode != 0 and proc.stderr.count("\n") == 1 and words in proc.stderr


def test_plan_is_fast_and_changes_nothing(box):
    box.gpus("9.0")
    before = sorted(p.relative_to(box.tmp) for p in box.tmp.rglob("*"))
    t0 = time.perf_counter()
    box.plan()
    assert time.perf_counter() - t0 < 10
    assert sorted(p.relative_to(box.tmp) for p in box.tmp.rglob("*")) == before


def test_offline_with_an_empty_wheelhouse_names_the_first_missing_file_before_any_work(box):
    venv = box.tmp / "venv"
    t0 = time.perf_counter()
    proc = box.run(FPN_REPRO_PYTHON="", FPN_REPRO_VENV=str(venv), FPN_REPRO_BASE_PYTHON=sys.executable,
                   FPN_REPRO_WHEELHOUSE=str(box.wheelhouse), FPN_REPRO_OFFLINE="1")
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [
        f"bootstrap: error: offline: {box.wheelhouse} has no file for torch==2.14.1 "
        f"(Python cp{sys.version_info[0]}{sys.version_info[1]}); add it with tools/bootstrap.sh "
        f"--wheelhouse-for {box.wheelhouse} on a connected machine"]
    assert not venv.exists(), "nothing may be made before the wheelhouse is known complete"
    assert time.perf_counter() - t0 < 20


def fake_wheels_for_every_pin(folder: Path, skip: str) -> None:
    """Empty files named as pip names wheels, one per requirement line: the offline pre-check
    reads names only. Range pins get a version inside the range."""
    from packaging.requirements import Requirement
    for f in ("runtime.txt", "test.txt", "existing-env.txt", "build.txt"):
        for line in (ROOT / "requirements" / f).read_text().splitlines():
            line = line.split("#")[0].strip()
            if not line or line.startswith(skip):
                continue
            req = Requirement(line)
            pinned = [s.version for s in req.specifier if s.operator == "=="]
            version = pinned[0] if pinned else next(
                v for v in ("1.0", "2.0", "80.0") if req.specifier.contains(v))
            (folder / f"{req.name.replace('-', '_')}-{version}-py3-none-any.whl").touch()


def test_offline_existing_env_names_a_missing_package_then_the_missing_mmcv_sources(box):
    """An existing env lacking packages and mmcv ops, offline: the first missing file is named in
    one line before anything is installed; with every package there, the missing mmcv sdist."""
    box.mmcv("cpu")
    box.gpus("9.0")   # CUDA wanted: the installed CPU-only mmcv does not serve
    box.wheel("cpu")  # nor does the wheelhouse's CPU wheel
    env = dict(FPN_REPRO_OFFLINE="1", CUDA_HOME=str(box.nvcc("13.0")))
    fake_wheels_for_every_pin(box.wheelhouse, skip="mmengine")
    proc = box.run(**env)
    assert proc.returncode != 0
    assert proc.stderr.startswith(f"bootstrap: error: offline: {box.wheelhouse} has no file for "
                                  "mmengine==0.10.7 (Python cp") and proc.stderr.count("\n") == 1

    fake_wheels_for_every_pin(box.wheelhouse, skip="#")
    proc = box.run(**env)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [
        f"bootstrap: error: offline: {box.wheelhouse} has no mmcv-2.1.0.tar.gz and no mmcv wheel "
        f"for cp{sys.version_info[0]}{sys.version_info[1]} with cuda13 ops; add it with "
        f"tools/bootstrap.sh --wheelhouse-for {box.wheelhouse}"]
    assert not list(box.env_dir.glob("lib/*/site-packages/*")), "nothing installed"
