"""tools/bootstrap.sh end to end into an existing environment (FPN_REPRO_PYTHON), offline, building
mmcv from the wheelhouse's sdist with the plan's CUDA settings, then taking the cached wheel.

A real mmcv build takes 26+ minutes, so the sdist here is a stand-in with mmcv's name and version
whose setup.py records what the set-up handed the build (FORCE_CUDA, TORCH_CUDA_ARCH_LIST,
CUDA_HOME, PATH, the C++ standard it patched in) and makes a platform wheel holding an mmcv whose
ops report CUDA 13.0. The environment is a fresh venv that sees this test's packages (torch, mmdet,
pip) through a .pth file, so the set-up's installs land in the venv alone."""
from __future__ import annotations

import io
import json
import site
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SETUP = '''import json, os
from setuptools import setup
from setuptools.dist import Distribution

# mmcv 2.1.0 hard-codes this flag; the set-up must have patched it for torch >= 2.10
FLAGS = ["-std=c++17"]
KEYS = ("FORCE_CUDA", "TORCH_CUDA_ARCH_LIST", "CUDA_HOME", "CUDA_VISIBLE_DEVICES",
        "MMCV_WITH_OPS", "PATH")
with open(os.environ["FAKE_MMCV_RECORD"], "w") as f:
    json.dump(dict({k: os.environ.get(k) for k in KEYS}, flags=FLAGS), f)


class Binary(Distribution):  # a cpXY-cpXY-linux wheel, as mmcv's compiled one is
    def has_ext_modules(self):
        return True


setup(name="mmcv", version="2.1.0", packages=["mmcv", "mmcv.ops"], distclass=Binary,
      package_data={"mmcv": ["_ext.so"]})
'''
OPS = 'def get_compiling_cuda_version():\n    return "13.0"\n'


def make_sdist(path: Path) -> None:
    files = {"setup.py": SETUP, "mmcv/__init__.py": '__version__ = "2.1.0"\n',
             "mmcv/ops/__init__.py": OPS, "mmcv/_ext.so": "\0libc10_cuda.so\0libcudart.so.13\0"}
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"mmcv-2.1.0/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for d in ("cpu", "cuda"):  # the source folders the progress count looks at
            info = tarfile.TarInfo(f"mmcv-2.1.0/mmcv/ops/csrc/pytorch/{d}")
            info.type = tarfile.DIRTYPE
            tar.addfile(info)


def test_offline_cuda_build_into_an_existing_env_then_from_the_cache(tmp_path):
    env_dir = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    py = env_dir / "bin" / "python"
    own_site = subprocess.run([str(py), "-c", "import site; print(site.getsitepackages()[0])"],
                              capture_output=True, text=True, check=True).stdout.strip()
    Path(own_site, "parent.pth").write_text("\n".join(site.getsitepackages()) + "\n")

    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    make_sdist(wheelhouse / "mmcv-2.1.0.tar.gz")
    cuda = tmp_path / "cuda"          # a CUDA 13.0 toolkit as the plan sees it (never run here)
    (cuda / "bin").mkdir(parents=True)
    (cuda / "bin" / "nvcc").write_text(
        "#!/bin/sh\necho 'Cuda compilation tools, release 13.0, V13.0.88'\n")
    (cuda / "bin" / "nvcc").chmod(0o755)
    (tmp_path / "bin").mkdir()           # ninja, which a real build runs: the plan only looks
    (tmp_path / "bin" / "ninja").write_text("#!/bin/sh\necho 1.13.2\n")
    (tmp_path / "bin" / "ninja").chmod(0o755)
    record = tmp_path / "record.json"
    env = {"PATH": f"{tmp_path / 'bin'}:{cuda / 'bin'}:/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path),
           "TMPDIR": str(tmp_path), "PYTHONPATH": str(ROOT), "FPN_REPRO_PYTHON": str(py),
           "FPN_REPRO_CACHE": str(tmp_path / "cache"), "FPN_REPRO_WHEELHOUSE": str(wheelhouse),
           "FPN_REPRO_OFFLINE": "1", "CUDA_HOME": str(cuda), "TORCH_CUDA_ARCH_LIST": "9.0",
           "FAKE_MMCV_RECORD": str(record), "FPN_REPRO_HOST_PACKAGES": "0"}

    def bootstrap(*args):
        return subprocess.run([str(ROOT / "tools" / "bootstrap.sh"), *args], env=env,
                              capture_output=True, text=True, timeout=600, cwd=ROOT)

    plan = dict(line.split(": ", 1) for line in bootstrap("--plan").stdout.splitlines())
    key = plan["cache_key"]
    assert "-cu13.0-arch9.0-" in key and plan["wheel"].startswith(
        f"build from {wheelhouse}/mmcv-2.1.0.tar.gz into {tmp_path / 'cache' / 'wheels' / key}")

    proc = bootstrap()
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == str(py)
    assert "building mmcv 2.1.0 with CUDA ops" in proc.stderr
    built = json.loads(record.read_text())
    assert built["FORCE_CUDA"] == "1" and built["TORCH_CUDA_ARCH_LIST"] == "9.0"
    assert built["CUDA_HOME"] == str(cuda) and built["MMCV_WITH_OPS"] == "1"
    assert built["PATH"].split(":").index(str(cuda / "bin")) < built["PATH"].split(":").index("/usr/bin")
    assert built["flags"] == ["-std=c++20"], "torch >= 2.10 needs mmcv's C++17 flag patched"
    cached = list((tmp_path / "cache" / "wheels" / key).glob("mmcv-2.1.0-cp*.whl"))
    assert len(cached) == 1
    assert list(Path(own_site).glob("mmcv-2.1.0.dist-info")), "installed into the env itself"

    # the same plan again: the env's mmcv already serves; a new env takes the cached wheel
    record.unlink()
    again = bootstrap()
    assert again.returncode == 0 and not record.exists() and "installing mmcv" not in again.stderr
    subprocess.run([str(py), "-m", "pip", "uninstall", "-q", "-y", "mmcv"], check=True)
    third = bootstrap()
    assert third.returncode == 0, third.stderr
    assert not record.exists() and f"installing {cached[0].name} from {cached[0].parent}" in third.stderr
