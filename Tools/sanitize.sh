#!/usr/bin/env bash
# Runs the test suite under a sanitizer, in a release build with testing enabled (a debug build
# under AddressSanitizer takes several times as long and finds nothing more).
#
#   Tools/sanitize.sh address                 # every test under AddressSanitizer + LeakSanitizer
#   Tools/sanitize.sh thread                  # every test under ThreadSanitizer
#   Tools/sanitize.sh thread --filter WorkerPool   # any further arguments go to `swift test`
#
# Each sanitizer builds into its own directory (.build/asan-release, .build/tsan-release), so the plain
# build is left alone. Suppressions (Tools/sanitizers/*.supp) name only code Cortex does not own.
set -euo pipefail
kind=${1:-}
case "$kind" in
  address|thread) shift ;;
  *) echo "usage: Tools/sanitize.sh address|thread [swift test arguments...]" >&2; exit 64 ;;
esac
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export LSAN_OPTIONS="suppressions=$root/Tools/sanitizers/lsan.supp:print_suppressions=0"
export TSAN_OPTIONS="suppressions=$root/Tools/sanitizers/tsan.supp:halt_on_error=0:history_size=4"
# Ranks under mpirun keep AddressSanitizer but not LeakSanitizer: Open MPI 4.1 unloads its
# components at MPI_Finalize, so what they keep to the end has no module to suppress it by.
# The same Cortex code runs leak-checked in the single-process tests.
export OMPI_MCA_mca_base_env_list="ASAN_OPTIONS=detect_leaks=0:abort_on_error=0"

flags=(-c release -Xswiftc -enable-testing --sanitize="$kind" --build-path "$root/.build/${kind:0:1}san-release")
swift build "${flags[@]}" --build-tests
swift test "${flags[@]}" --skip-build "$@"
