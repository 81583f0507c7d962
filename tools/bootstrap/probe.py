"""Facts about a Python environment for tools/bootstrap.sh, read without importing torch or mmcv.

The set-up asks these on every call (also on its fast path and for `--plan`), and importing torch
takes seconds, so versions come from the installed files: torch's `version.py`, package metadata,
and the dynamic libraries mmcv's compiled ops link against.

    probe.py env                        shell assignments: PY_VERSION PYTAG TORCH_VERSION TORCH_CUDA ...
    probe.py wheel-kind FILE.whl        cpu | cudaN | none   (the ops of an mmcv wheel)
    probe.py missing REQFILE...         requirement lines not installed here (existing envs)
    probe.py offline-check DIR SPEC...  the first SPEC with no file in DIR (nothing when all are)

Runs under any Python >= 3.8; needs only the standard library and pip (for `packaging`).
"""
from __future__ import annotations

import importlib.metadata as md
import importlib.util
import re
import shlex
import sys
import zipfile
from pathlib import Path


def _packaging():
    """(Requirement, canonicalize_name), imported only by the commands that parse requirements:
    `env` runs on every call of the set-up, and this import is most of its start-up."""
    try:
        from packaging.requirements import Requirement
        from packaging.utils import canonicalize_name
    except ImportError:  # every env the set-up touches has pip, which vendors packaging
        from pip._vendor.packaging.requirements import Requirement
        from pip._vendor.packaging.utils import canonicalize_name
    return Requirement, canonicalize_name


# Build tools are handled by the set-up itself (kept out of an existing env: see mmcv.sh);
# torch and torchvision of an existing env are the env's own.
NOT_FOR_EXISTING_ENV = {"torch", "torchvision", "setuptools", "wheel", "pip", "ninja"}
# mmengine asks for opencv-python, but any OpenCV distribution provides the `cv2` it imports.
OPENCV = {"opencv-python", "opencv-python-headless", "opencv-contrib-python",
          "opencv-contrib-python-headless"}
CUDART = re.compile(rb"libcudart\.so\.(\d+)")


def ops_kind(blob: bytes) -> str:
    """A CUDA build of mmcv's `_ext` links libcudart (and c10_cuda); a CPU build does not."""
    m = CUDART.search(blob)
    return f"cuda{m.group(1).decode()}" if m else "cpu"


def torch_facts() -> tuple[str, str]:
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return "", ""
    text = (Path(spec.submodule_search_locations[0]) / "version.py").read_text()
    ver = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)", text, re.M)
    cuda = re.search(r"^cuda\b[^=]*=\s*['\"]([^'\"]+)", text, re.M)
    return (ver.group(1) if ver else ""), (cuda.group(1) if cuda else "")


def torch_cuda_dir(cuda: str) -> str:
    """The nvidia/cuNN folder of pip's CUDA wheels (headers + libcudart) that torch runs with."""
    spec = importlib.util.find_spec("nvidia") if cuda else None
    for base in (spec.submodule_search_locations or []) if spec else []:
        d = Path(base) / f"cu{cuda.split('.')[0]}"
        if (d / "include" / "cuda_runtime.h").is_file():
            return str(d)
    return ""


def mmcv_facts() -> tuple[str, str]:
    try:
        version = md.version("mmcv")
    except md.PackageNotFoundError:
        return "", "none"
    spec = importlib.util.find_spec("mmcv")
    libs = sorted(Path(spec.submodule_search_locations[0]).glob("_ext*.so")) if spec else []
    return version, ops_kind(libs[0].read_bytes()) if libs else "none"


def cmd_env() -> None:
    torch_version, torch_cuda = torch_facts()
    mmcv_version, mmcv_kind = mmcv_facts()
    facts = {
        "PY_VERSION": "%d.%d.%d" % sys.version_info[:3],
        "PYTAG": "cp%d%d" % sys.version_info[:2],
        "TORCH_VERSION": torch_version,
        "TORCH_CUDA": torch_cuda,
        "TORCH_CUDA_DIR": torch_cuda_dir(torch_cuda),
        "MMCV_HERE": mmcv_version,
        "MMCV_KIND": mmcv_kind,
        "HAS_HARNESS": "1" if importlib.util.find_spec("harness") else "0",
    }
    for k, v in facts.items():
        print(f"{k}={shlex.quote(v)}")


def cmd_wheel_kind(path: str) -> None:
    with zipfile.ZipFile(path) as z:
        libs = [n for n in z.namelist() if re.fullmatch(r"mmcv/_ext[^/]*\.so", n)]
        print(ops_kind(z.read(libs[0])) if libs else "none")


def requirements(files: list[str]) -> list:
    Requirement, _ = _packaging()
    out = []
    for f in files:
        for line in Path(f).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                out.append(Requirement(line))
    return out


def installed(name: str) -> str | None:
    for cand in (OPENCV if name in OPENCV else {name}):
        try:
            return md.version(cand)
        except md.PackageNotFoundError:
            pass
    return None


def cmd_missing(files: list[str]) -> None:
    _, canonicalize_name = _packaging()
    for req in requirements(files):
        name = canonicalize_name(req.name)
        if name in NOT_FOR_EXISTING_ENV or (req.marker and not req.marker.evaluate()):
            continue
        have = installed(name)
        if have is None:
            print(str(req).split(";")[0].strip())
        elif not req.specifier.contains(have, prereleases=True):
            print(f"[bootstrap] note: {req.name} {have} is installed here; the project pins "
                  f"{req.specifier} (kept: it is this environment's own)", file=sys.stderr)


WHEEL = re.compile(r"^(?P<name>.+?)-(?P<ver>\d[^-]*)(-\d[^-]*)?-(?P<py>[^-]+)-(?P<abi>[^-]+)-[^-]+\.whl$")
SDIST = re.compile(r"^(?P<name>.+)-(?P<ver>\d[^-]*)\.(tar\.gz|zip)$")


def cmd_offline_check(folder: str, specs: list[str]) -> None:
    """Names the first requirement that no file in the wheelhouse can satisfy for this Python."""
    Requirement, canonicalize_name = _packaging()
    pytag = "cp%d%d" % sys.version_info[:2]
    have: dict[str, list[str]] = {}
    for f in (Path(folder).iterdir() if Path(folder).is_dir() else []):
        m = WHEEL.match(f.name) or SDIST.match(f.name)
        if not m:
            continue
        if f.name.endswith(".whl"):
            py, abi = m.group("py"), m.group("abi")
            if not (pytag in py.split(".") or "py3" in py.split(".") or abi == "abi3"):
                continue  # a wheel for another Python version
        have.setdefault(canonicalize_name(m.group("name")), []).append(m.group("ver"))
    for spec in specs:
        req = Requirement(spec)
        if req.marker and not req.marker.evaluate():
            continue
        versions = have.get(canonicalize_name(req.name), [])
        if not any(req.specifier.contains(v, prereleases=True) for v in versions):
            print(spec)
            return


def main(argv: list[str]) -> int:
    if argv[:1] == ["env"]:
        cmd_env()
    elif argv[:1] == ["wheel-kind"] and len(argv) == 2:
        cmd_wheel_kind(argv[1])
    elif argv[:1] == ["missing"]:
        cmd_missing(argv[1:])
    elif argv[:1] == ["offline-check"] and len(argv) >= 2:
        cmd_offline_check(argv[1], argv[2:])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
