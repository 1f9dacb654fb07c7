#!/usr/bin/env bash
# The whole test suite, as CI runs it: install what is missing, then
#   1. a release build and every ctest test,
#   2. the same tests under AddressSanitizer + UndefinedBehaviorSanitizer,
#   3. a short libFuzzer smoke run of every fuzz target (ASan+UBSan, clang).
# Usage: contrib/test.sh [--quick]   (--quick skips 2 and 3)
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}
FUZZ_SECONDS=${FUZZ_SECONDS:-10}

bash contrib/install-deps.sh

# Line tables only (-g1): backtraces keep file:line, and the build is ~20% faster than with full
# debug info (GCC's variable tracking through the coroutines is what costs).
echo "== release build + tests"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" >/dev/null
cmake --build build -j"$JOBS"
ctest --test-dir build --output-on-failure -j"$JOBS"

if [ "${1:-}" = "--quick" ]; then exit 0; fi

echo "== ASan+UBSan build + tests"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSANITIZERS=address,undefined -DVW_BUILD_BENCH=OFF \
  -DCMAKE_CXX_FLAGS_DEBUG="-O0 -g1" >/dev/null
cmake --build build-asan -j"$JOBS"
# The SIGKILL-after-intent e2e test runs in stage 1 only: under ASan on a loaded 2-core runner its
# restarted daemon has missed the test's deadline (open in issue 4; the daemon's stderr is kept).
# functional_against_sim reruns the process tests of stage 1 through a second launcher; the
# daemon's own paths already run under ASan in engine_e2e, fault_tests and webhook_e2e.
ctest --test-dir build-asan --output-on-failure -j"$JOBS" -E 'SigkillAfterTheIntentThenRestartBroadcastsOnce|functional_against_sim' 

if [ -x tests/fuzz/smoke.sh ] || [ -f tests/fuzz/smoke.sh ]; then
  echo "== fuzz smoke (${FUZZ_SECONDS}s per target)"
  bash tests/fuzz/smoke.sh "$FUZZ_SECONDS"
fi
echo "== all test stages passed"
