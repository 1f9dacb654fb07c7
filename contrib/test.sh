#!/usr/bin/env bash
# The whole test suite, as CI runs it: install what is missing, clone the repository into an empty
# temporary folder, and there run
#   1. a release build, every ctest test, and the demo (contrib/demo.sh),
#   2. the same tests under AddressSanitizer + UndefinedBehaviorSanitizer,
#   3. a short libFuzzer smoke run of every fuzz target (ASan+UBSan, clang).
# Usage: contrib/test.sh [--quick]   (--quick skips 2 and 3)
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}
FUZZ_SECONDS=${FUZZ_SECONDS:-3}

[ -n "${VW_TEST_IN_CLONE:-}" ] || bash contrib/install-deps.sh

# Everything below runs in a fresh clone in an empty temporary folder: what a user gets from
# a clone of the repository, with nothing beside it that a test could lean on. Uncommitted edits to tracked
# files are carried over (a developer's run tests the working tree); untracked files are not.
if [ -z "${VW_TEST_IN_CLONE:-}" ]; then
  parent=$(mktemp -d)
  if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    echo "== not a git checkout: copying the tree instead of cloning it"
    mkdir "$parent/vaultwatch"
    tar -c --exclude='./build*' . | tar -x -C "$parent/vaultwatch"
  else
    git -c advice.detachedHead=false clone -q . "$parent/vaultwatch" # a local clone: nothing is downloaded
  fi
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1 && ! git diff --quiet HEAD; then
    echo "== (testing $(git rev-parse --short HEAD) plus the uncommitted changes to tracked files)"
    git diff --binary HEAD | git -C "$parent/vaultwatch" apply --whitespace=nowarn
  fi
  echo "== in a fresh clone: $parent/vaultwatch"
  status=0
  (cd "$parent/vaultwatch" && VW_TEST_IN_CLONE=1 bash contrib/test.sh "$@") || status=$?
  if [ "$status" = 0 ]; then rm -rf "$parent"; else echo "the clone is kept for inspection: $parent/vaultwatch"; fi
  exit "$status"
fi
[ "$(ls -A ..)" = "vaultwatch" ] || { echo "the clone's folder holds more than the clone: $(ls -A ..)"; exit 1; }

# Line tables only (-g1): backtraces keep file:line, and the build is ~20% faster than with full
# debug info (GCC's variable tracking through the coroutines is what costs).
echo "== release build + tests ($SECONDS s in)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" >/dev/null
cmake --build build -j"$JOBS"
ctest --test-dir build --output-on-failure -j"$JOBS"

echo "== the demo (the README's first command) in the clone: the core's self-check, both vault kinds ($SECONDS s in)"
bash contrib/demo.sh --no-deps > build/demo.log 2>&1 || { tail -60 build/demo.log; echo "FAILED: the demo"; exit 1; }
grep -E "^== (core self-check|demo finished)|scan/sha256|vaultwatchd (answered|built)" build/demo.log

if [ "${1:-}" = "--quick" ]; then exit 0; fi

echo "== ASan+UBSan build + tests ($SECONDS s in)"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSANITIZERS=address,undefined -DVW_BUILD_BENCH=OFF \
  -DCMAKE_CXX_FLAGS_DEBUG="-O0 -g1" >/dev/null
# The code under test, not the simulator's own tests or the demo's wallet (stage 1 runs those).
cmake --build build-asan -j"$JOBS" --target vw_unit_tests vw_daemon_tests
# The SIGKILL-after-intent e2e test runs in stage 1 only: under ASan on a loaded 2-core runner its
# restarted daemon has missed the test's deadline (open in issue 4; the daemon's stderr is kept).
# Not here either, as stage 1 checks them: functional_against_sim (the process tests of stage 1
# through a second launcher; the daemon's own paths already run under ASan in engine_process,
# fault_tests and webhook_e2e), the package, the unit file, the data checksums and the
# simulator's own tests.
# A few processes (gtest shards), not one per test as ctest runs them: an ASan test binary takes
# most of a second to start, and half of this stage went to starting 489 of them.
asan_run() { # log name, binary, shards, shard index
  (cd "$(dirname "$2")" && GTEST_TOTAL_SHARDS=$3 GTEST_SHARD_INDEX=$4 timeout 1500 "$2" --gtest_brief=1 \
    --gtest_filter='-*SigkillAfterTheIntentThenRestartBroadcastsOnce*') > "build-asan/$1.log" 2>&1
}
asan_run daemon0 "$PWD/build-asan/tests/daemon/vw_daemon_tests" 2 0 & p1=$!
asan_run daemon1 "$PWD/build-asan/tests/daemon/vw_daemon_tests" 2 1 & p2=$!
asan_run unit "$PWD/build-asan/tests/vw_unit_tests" 1 0 & p3=$!
asan_failed=0
for p in "$p1:daemon0" "$p2:daemon1" "$p3:unit"; do
  if ! wait "${p%%:*}"; then asan_failed=1; echo "FAILED under ASan+UBSan: ${p#*:}"; cat "build-asan/${p#*:}.log"; fi
done
for l in daemon0 daemon1 unit; do grep -E '^\[  (PASSED|SKIPPED|FAILED) |tests? from .* ran' "build-asan/$l.log" | sed "s/^/$l: /"; done
[ "$asan_failed" = 0 ] || exit 1

if [ -x tests/fuzz/smoke.sh ] || [ -f tests/fuzz/smoke.sh ]; then
  echo "== fuzz smoke (${FUZZ_SECONDS}s per target; $SECONDS s in)"
  bash tests/fuzz/smoke.sh "$FUZZ_SECONDS"
fi
echo "== all test stages passed in $SECONDS s"
