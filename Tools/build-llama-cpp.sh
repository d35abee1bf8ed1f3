#!/usr/bin/env bash
# Builds llama.cpp outside the repository, as the same-run peer of `cortex-bench pretrained`,
# `cortex-bench gpt2` and `cortex-bench serve`: the source comes from the llama_cpp_python
# sdist on PyPI (never committed), built for AVX-512 (AVX2 on CPUs without it) with AMX off
# (ggml's native build dies with SIGILL in its AMX tiles on the Intel VMs).
#
#   bash Tools/build-llama-cpp.sh [DIRECTORY]     # default ~/.cache/cortex/llama.cpp
#   export CORTEX_LLAMA_CPP=DIRECTORY/source/build/bin   # printed at the end
#
# Needs pip (Tools/setup-debian.sh installs it); installs cmake and g++ from apt when missing.
# Takes about ten minutes on two cores; a second run with the build present only prints the
# export.
set -euo pipefail

version=0.3.36
root="${1:-${CORTEX_LLAMA_CPP_DIR:-$HOME/.cache/cortex/llama.cpp}}"
source_dir="$root/source"
bin="$source_dir/build/bin"
targets=(llama-bench llama-simple llama-server llama-perplexity llama-quantize)

have_all() {
    for target in "${targets[@]}"; do [ -x "$bin/$target" ] || return 1; done
}

if ! have_all; then
    mkdir -p "$root"
    if [ ! -f "$source_dir/CMakeLists.txt" ]; then
        command -v pip3 >/dev/null || { echo "build-llama-cpp: pip3 is missing (apt-get install python3-pip)" >&2; exit 1; }
        download="$root/download"
        mkdir -p "$download"
        # --no-binary for this package only: ':all:' would build cmake from source as well.
        pip3 download --quiet --no-deps --no-binary llama_cpp_python "llama_cpp_python==$version" -d "$download" \
            || python3 -m pip download --quiet --no-deps --no-binary llama_cpp_python "llama_cpp_python==$version" -d "$download"
        archive=$(ls "$download"/llama_cpp_python-"$version".tar.gz)
        rm -rf "$root/unpacked" && mkdir -p "$root/unpacked"
        tar -xzf "$archive" -C "$root/unpacked"
        rm -rf "$source_dir"
        mv "$root/unpacked/llama_cpp_python-$version/vendor/llama.cpp" "$source_dir"
        rm -rf "$root/unpacked"
    fi
    if ! command -v cmake >/dev/null; then
        sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq cmake g++ > /dev/null
    fi
    options=(-DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
             -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
             -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF)
    # AVX-512 where the CPU has it (the Xeon and Zen 4 machines); AVX2 only elsewhere (Zen 3).
    if grep -qw avx512f /proc/cpuinfo; then
        options+=(-DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON)
    fi
    # The VEX-encoded AVX-VNNI exists on the Intel machines only (Zen 4 has the EVEX form).
    if grep -qw avx_vnni /proc/cpuinfo; then options+=(-DGGML_AVX_VNNI=ON); fi
    cmake -S "$source_dir" -B "$source_dir/build" "${options[@]}" >/dev/null
    cmake --build "$source_dir/build" -j"$(nproc)" --target "${targets[@]}"
fi

have_all || { echo "build-llama-cpp: the build finished without every tool in $bin" >&2; exit 1; }
echo "export CORTEX_LLAMA_CPP=$bin"
