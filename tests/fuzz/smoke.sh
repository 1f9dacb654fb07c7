#!/usr/bin/env bash
# Fuzz smoke test: builds every libFuzzer target with clang + ASan/UBSan in build-fuzz and runs
# each for N seconds (default 20) from seeds generated from the real blocks (not committed).
#   tests/fuzz/smoke.sh [SECONDS]
# Env: BUILD_DIR (default build-fuzz), JOBS (default 2), CC/CXX (default clang/clang++).
set -euo pipefail
SECS="${1:-20}"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${BUILD_DIR:-$ROOT/build-fuzz}"
JOBS="${JOBS:-2}"
export CC="${CC:-clang}" CXX="${CXX:-clang++}"

cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVW_BUILD_FUZZ=ON \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" \
  -DVW_BUILD_TESTS=OFF -DVW_BUILD_BENCH=OFF -DSANITIZERS=address,undefined >/dev/null
targets=$(cd "$ROOT/tests/fuzz" && ls fuzz_*.cpp | sed 's/\.cpp$//')
# shellcheck disable=SC2086
ninja -C "$BUILD" -j"$JOBS" $targets

DATA="$ROOT/tests/data"
SEEDS="$BUILD/fuzz-seeds"
if [ -f "$DATA/block413567.raw" ] && command -v python3 >/dev/null; then
  python3 "$ROOT/tests/fuzz/gen_seeds.py" "$DATA" "$SEEDS"
fi

fail=0
for t in $targets; do
  corpus="$BUILD/fuzz-corpus/$t"
  mkdir -p "$corpus"
  seeds=()
  [ -d "$SEEDS/$t" ] && seeds=("$SEEDS/$t")
  [ -d "$ROOT/tests/fuzz/corpus/$t" ] && seeds+=("$ROOT/tests/fuzz/corpus/$t")
  echo "== $t (${SECS}s)"
  if ! (cd "$BUILD" && "./tests/fuzz/$t" -max_total_time="$SECS" -max_len=8192 -rss_limit_mb=2048 \
          -print_final_stats=1 "$corpus" "${seeds[@]}" >"$BUILD/$t.log" 2>&1); then
    echo "FAILED: $t (see $BUILD/$t.log)"; tail -40 "$BUILD/$t.log"; fail=1
  else
    grep -E "stat::number_of_executed_units|Done " "$BUILD/$t.log" | tail -2
  fi
done
[ "$fail" = 0 ] && echo "fuzz smoke: all targets passed" || { echo "fuzz smoke: FAILURES"; exit 1; }
