#!/usr/bin/env bash
# Runs one coverage-guided libFuzzer target for SECONDS seconds:
#   Tools/fuzz.sh TARGET SECONDS [libFuzzer flags...]
#   Tools/fuzz.sh list
# The targets (one per parser of a user's bytes) live in Sources/CortexFuzzing; `list` names
# them. The first run builds cortex-fuzz with -sanitize=fuzzer,address into .build/fuzz (a
# release build with coverage and AddressSanitizer) and seeds the corpus from the real files in
# ../shared/data (or CORTEX_DATA_DIR) and the pretrained models (Tools/fetch-pretrained.sh).
# The corpus grows in .build/fuzz-corpus/TARGET across runs. A finding (crash, address error,
# hang over 10 s, an error other than CortexError escaping) is saved in
# .build/fuzz-findings/TARGET/ and the script exits nonzero: replay it with
#   .build/fuzz/release/cortex-fuzz TARGET FILE      (libFuzzer build: reruns the input)
# then fix it and commit the input to Tests/CortexFuzzingTests/Findings/TARGET/, which the
# tests replay.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/.build/fuzz"
if [ "${1:-}" = "list" ]; then
  cd "$root" && swift run -c release --build-path "$root/.build/fuzz-list" cortex-fuzz list
  exit 0
fi
target=${1:?usage: Tools/fuzz.sh TARGET SECONDS [libFuzzer flags...] (Tools/fuzz.sh list names the targets)}
seconds=${2:?usage: Tools/fuzz.sh TARGET SECONDS}
shift 2
cd "$root"
if [ "${CORTEX_FUZZ_SKIP_BUILD:-0}" != 1 ]; then
  swift build -c release --product cortex-fuzz --build-path "$build" \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -DCORTEX_LIBFUZZER -Xswiftc -g >&2
fi
binary="$build/release/cortex-fuzz"
corpus="${CORTEX_FUZZ_CORPUS:-$root/.build/fuzz-corpus}/$target"
findings="${CORTEX_FUZZ_FINDINGS:-$root/.build/fuzz-findings}/$target"
mkdir -p "$corpus" "$findings"
# Swift's runtime keeps some allocations for the process's life: leak reports would be noise.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1}"
export CORTEX_FUZZ_TARGET="$target" CORTEX_FUZZ_SEED_DIRECTORY="$corpus" CORTEX_NUM_THREADS="${CORTEX_NUM_THREADS:-1}"
exec "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -detect_leaks=0 -print_final_stats=1 \
  -artifact_prefix="$findings/" "$@" "$corpus"
