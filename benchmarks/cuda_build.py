"""Opt-in check and timing: build a few of mmcv's CUDA sources with the PyPI CUDA toolkit, no system
CUDA and no GPU needed, and load the result.

    .venv/bin/python benchmarks/cuda_build.py [--cache DIR] [--arch 9.0] [--sources nms roi_pool]

1. `tools/bootstrap.sh --pypi-toolkit` installs the toolkit matching this torch's CUDA into the
   cache (a fresh temporary one unless --cache is given, so the install is timed too) and lays it
   out as one CUDA_HOME: the same code the set-up uses for a CUDA build of mmcv.
2. mmcv 2.1.0's `csrc/pytorch/cuda/<name>_cuda.cu` files (from the sdist in FPN_REPRO_WHEELHOUSE,
   else PyPI) are compiled with torch.utils.cpp_extension.load against this torch's headers, at
   -std=c++20 as the set-up patches mmcv's build, for one GPU arch (default sm_90), into a fresh
   build folder, and the library is loaded into the process (torch.ops.load_library); its dynamic
   symbol table must hold each file's kernel launcher.
Prints one JSON line: seconds for the toolkit, the compile and the load. Exit 1 on any failure."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MMCV = "mmcv-2.1.0"
LAUNCHER = {"nms": "NMSCUDAKernelLauncher", "roi_pool": "ROIPoolForwardCUDAKernelLauncher"}


def toolkit(cache: Path) -> Path:
    env = dict(os.environ, FPN_REPRO_PYTHON=sys.executable, FPN_REPRO_CACHE=str(cache))
    out = subprocess.run([str(ROOT / "tools" / "bootstrap.sh"), "--pypi-toolkit"], env=env,
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"cuda_build: error: toolkit install failed: {out.stderr.strip()[-500:]}")
    return Path(out.stdout.strip().splitlines()[-1])


def mmcv_tree(work: Path) -> Path:
    sdist = Path(os.environ.get("FPN_REPRO_WHEELHOUSE", "/nonexistent")) / f"{MMCV}.tar.gz"
    if not sdist.is_file():
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        "--no-build-isolation", "--no-binary", ":all:", "mmcv==2.1.0", "-d",
                        str(work)], check=True, stdout=subprocess.DEVNULL)
        sdist = work / f"{MMCV}.tar.gz"
    with tarfile.open(sdist) as tar:
        tar.extractall(work, filter="data")
    return work / MMCV / "mmcv" / "ops" / "csrc"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, help="toolkit cache (default: a fresh temporary one)")
    ap.add_argument("--arch", default="9.0", help="TORCH_CUDA_ARCH_LIST (default 9.0)")
    ap.add_argument("--sources", nargs="+", default=["nms", "roi_pool"], choices=sorted(LAUNCHER))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="cuda-build-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        home = toolkit(args.cache or work / "cache")
        t_toolkit = time.perf_counter() - t0
        csrc = mmcv_tree(work)
        # torch reads CUDA_HOME when cpp_extension is imported: set it first
        os.environ.update(CUDA_HOME=str(home), TORCH_CUDA_ARCH_LIST=args.arch,
                          PATH=f"{home / 'bin'}:{os.environ['PATH']}")
        import torch
        from torch.utils import cpp_extension
        build = work / "build"
        build.mkdir()
        t1 = time.perf_counter()
        try:
            cpp_extension.load(
                name="mmcv_cuda_probe", is_python_module=False, build_directory=str(build),
                sources=[str(csrc / "pytorch" / "cuda" / f"{s}_cuda.cu") for s in args.sources],
                extra_include_paths=[str(csrc / "common"), str(csrc / "common" / "cuda"),
                                     str(csrc / "pytorch")],
                extra_cflags=["-std=c++20"], extra_cuda_cflags=["-std=c++20"], verbose=False)
        except RuntimeError as e:  # the compiler's messages are the useful part
            print("\n".join(str(e).splitlines()[-25:]), file=sys.stderr)
            print("cuda_build: error: the CUDA sources did not compile", file=sys.stderr)
            return 1
        t_compile = time.perf_counter() - t1
        so = next(build.glob("mmcv_cuda_probe*.so"))
        t2 = time.perf_counter()
        torch.ops.load_library(str(so))   # what load() did already; timed on its own here
        t_load = time.perf_counter() - t2
        syms = subprocess.run(["nm", "-D", "--defined-only", "-C", str(so)], capture_output=True,
                              text=True, check=True).stdout
        missing = [LAUNCHER[s] for s in args.sources if LAUNCHER[s] not in syms]
        print(json.dumps({"torch": torch.__version__, "cuda_home": str(home), "arch": args.arch,
                          "sources": [f"{s}_cuda.cu" for s in args.sources],
                          "toolkit_s": round(t_toolkit, 1), "compile_s": round(t_compile, 1),
                          "load_s": round(t_load, 2), "library_mb": round(so.stat().st_size / 2**20, 1),
                          "launchers_missing": missing, "cpus": os.cpu_count()}))
        return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
