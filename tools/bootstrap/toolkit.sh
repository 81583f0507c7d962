# A CUDA toolkit from PyPI, laid out as one CUDA_HOME in the project's cache (sourced by
# tools/bootstrap.sh; used when no system toolkit matches torch's CUDA, see plan.sh).
#
# Why this layout: nvcc finds its headers relative to the real path of its own binary
# (nvcc.profile: -I$(TOP)/include, -isystem $(TOP)/include/cccl, cicc in $(TOP)/nvvm/bin), so
# bin/, include/ and nvvm/ must be real folders side by side. The compiler wheels
# (requirements/cuda-toolkit-X.Y.txt) all unpack into nvidia/cuNN/: nvcc (bin/), crt headers,
# cccl's cub/thrust/cuda/nv (include/cccl/), nvvm/. To that come, copied from torch's own
# environment (nvidia/cuNN of the CUDA wheels torch runs with), the runtime and library headers
# torch's headers include (cuda_runtime.h, cusparse.h, cublas_v2.h, ...) and libcudart: the same
# release as torch's, which nvcc's version check needs. torch's extension builder links
# -L$CUDA_HOME/lib64 -lcudart, hence lib64/libcudart.so.

install_pypi_toolkit() {
    local home=$1 spec=$REQ/cuda-toolkit-$TORCH_CUDA.txt major=${TORCH_CUDA%%.*} tmp ver
    [ -x "$home/bin/nvcc" ] && return 0
    [ -n "${TORCH_CUDA_DIR:-}" ] || die "torch's environment has no nvidia/cu$major headers (its torch is not PyPI's CUDA wheel): load a CUDA $TORCH_CUDA module or set CUDA_HOME instead"
    say "installing the CUDA $TORCH_CUDA compiler from PyPI ($(req_lines "$spec" | tr '\n' ' ')) into $home, with the headers of $TORCH_CUDA_DIR"
    mkdir -p "$(dirname "$home")"
    tmp=$(mktemp -d "$(dirname "$home")/.tmp-toolkit.XXXXXX")
    # --no-deps: otherwise pip "upgrades" nvvm/crt/runtime to the newest CUDA and the parts mismatch
    pip_install --no-deps --target "$tmp" -r "$spec"
    local tk=$tmp/nvidia/cu$major
    [ -x "$tk/bin/nvcc" ] || die "the PyPI toolkit in $tmp has no bin/nvcc"
    cp -rn "$TORCH_CUDA_DIR/include/." "$tk/include/"   # -n: the compiler's own crt/cccl stay
    mkdir -p "$tk/lib" "$tk/lib64"
    cp "$TORCH_CUDA_DIR/lib/libcudart.so.$major" "$tk/lib/"
    ln -sf "../lib/libcudart.so.$major" "$tk/lib64/libcudart.so"
    ver=$(nvcc_release "$tk/bin/nvcc")
    [ "$ver" = "$TORCH_CUDA" ] || die "the PyPI toolkit's nvcc is CUDA ${ver:-?}, not $TORCH_CUDA"
    rm -rf "$home"
    mv "$tk" "$home"   # the folder appears whole or not at all (same file system: a rename)
    rm -rf "$tmp"
}
