# Offline set-up (sourced by tools/bootstrap.sh): `--wheelhouse-for DIR` fills a folder on a
# connected machine; FPN_REPRO_WHEELHOUSE=DIR FPN_REPRO_OFFLINE=1 then installs from it alone.

# A folder with everything the set-up installs: the pinned stack with its dependencies (unless
# --without-torch: for an existing environment that has its own torch), the pins an existing
# environment may lack, the build tools, the PyPI CUDA toolkit (unless --no-toolkit) and the mmcv
# sdist. Binary wheels only, for CPython $2 on this machine's architecture, manylinux up to glibc
# 2.28 (RHEL 8 and every newer Linux: what the pinned torch itself needs).
wheelhouse_for() {
    local dir=$1 pyver=$2 with_torch=$3 with_toolkit=$4 t0 arch plat=()
    t0=$(date +%s)
    PY=${FPN_REPRO_BASE_PYTHON:-$(command -v python3)} || die "no python3 to run pip with"
    "$PY" -m pip --version >/dev/null 2>&1 || die "$PY has no pip"
    arch=$(uname -m)
    for p in $(seq -f 'manylinux_2_%g' 28 -1 5) manylinux2014 manylinux2010 manylinux1; do
        plat+=(--platform "${p}_$arch")
    done
    local dl=(download -q --only-binary=:all: --python-version "$pyver" --implementation cp "${plat[@]}" -d "$dir")
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [ "$with_torch" = 1 ]; then
        say "[1/5] the pinned stack with its dependencies (torch and its CUDA libraries: several GB)"
        pip_or_die "[1/5]" "${dl[@]}" -r "$REQ/runtime.txt" -r "$REQ/test.txt" "pip<26"
    else
        say "[1/5] --without-torch: skipping torch and its dependencies"
    fi
    say "[2/5] what an existing environment may lack (requirements/existing-env.txt and the pins)"
    pip_or_die "[2/5]" "${dl[@]}" --no-deps -r <(req_lines "$REQ/runtime.txt" "$REQ/test.txt" | grep -Ev '^(torch|torchvision)([<>=!~ ;]|$)') \
        -r "$REQ/existing-env.txt"
    say "[3/5] build tools (setuptools<81, wheel, ninja)"
    pip_or_die "[3/5]" "${dl[@]}" --no-deps "$(grep -m1 '^setuptools' "$REQ/runtime.txt")" \
        "$(grep -m1 '^wheel' "$REQ/runtime.txt")" -r "$REQ/build.txt"
    if [ "$with_toolkit" = 1 ]; then
        say "[4/5] the PyPI CUDA toolkit(s) for machines without a matching system CUDA"
        local f; for f in "$REQ"/cuda-toolkit-*.txt; do pip_or_die "[4/5]" "${dl[@]}" --no-deps -r "$f"; done
    else
        say "[4/5] --no-toolkit: skipping the PyPI CUDA toolkit"
    fi
    say "[5/5] the mmcv $MMCV_VERSION sdist"
    # pip prepares an sdist's metadata even to download it, and mmcv's setup.py needs
    # pkg_resources and bdist_wheel: this python gets them for the download alone if it lacks them
    local bt need=(); bt=$(mktemp -d "${TMPDIR:-/tmp}/wheelhouse-tools.XXXXXX")
    mapfile -t need < <(build_tools_needed | grep -v '^ninja' || true)
    [ ${#need[@]} = 0 ] || pip_or_die "[5/5] (build tools)" install -q --no-deps --target "$bt" "${need[@]}"
    PYTHONPATH="$bt${PYTHONPATH:+:$PYTHONPATH}" pip_or_die "[5/5]" download -q --no-deps \
        --no-build-isolation --no-binary :all: "mmcv==$MMCV_VERSION" -d "$dir"
    rm -rf "$bt"
    say "wheelhouse ready: $dir, $(ls "$dir" | wc -l) files, $(du -sh "$dir" | cut -f1), $(( $(date +%s) - t0 )) s"
    say "use it: FPN_REPRO_WHEELHOUSE=$dir FPN_REPRO_OFFLINE=1 tools/bootstrap.sh"
}

# Before anything is installed: every file the offline set-up will need is in the wheelhouse, or
# the first missing one is named in one line. $@: requirement specs still to install.
offline_precheck() {
    [ -n "$WH" ] || die "FPN_REPRO_OFFLINE=1 needs FPN_REPRO_WHEELHOUSE=DIR (made with tools/bootstrap.sh --wheelhouse-for DIR)"
    [ -d "$WH" ] || die "offline: the wheelhouse $WH is not a folder"
    local specs=("$@") missing
    if [ "$CUDA_OPS" = 1 ] && [ "$TOOLKIT" = pypi ] && [ ! -x "$TOOLKIT_HOME/bin/nvcc" ]; then
        mapfile -t -O "${#specs[@]}" specs < <(req_lines "$REQ/cuda-toolkit-$TORCH_CUDA.txt")
    fi
    missing=$("${PROBE_PY:-$PY}" "$TOOLS/probe.py" offline-check "$WH" ${specs[@]+"${specs[@]}"})
    [ -z "$missing" ] || die "offline: $WH has no file for $missing (Python $PYTAG); add it with tools/bootstrap.sh --wheelhouse-for $WH on a connected machine"
}
offline_precheck_mmcv() {  # and, when mmcv is to be built, the build tools this machine lacks
    case "$(describe_wheel_source)" in
        none:*) die "offline: $WH has no mmcv-$MMCV_VERSION.tar.gz and no mmcv wheel for $PYTAG with $WANT_KIND ops; add it with tools/bootstrap.sh --wheelhouse-for $WH";;
        build*) local tools; mapfile -t tools < <(build_tools_needed)
                offline_precheck ${tools[@]+"${tools[@]}"} ;;
    esac
}
