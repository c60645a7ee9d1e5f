#!/usr/bin/env bash
# sealpoold's hostile-client test under AddressSanitizer (LeakSanitizer checks each daemon at
# its clean SIGTERM exit, and the test binary at its own). Configures a separate build folder
# with -DSEALPOOL_SANITIZE=address and builds only what the test runs: sealpoold, sealkmsd,
# kmscmd and sealpoold_hostile_test, not the whole suite. Not yet called by packaging/test.sh
# (a cold build is long; docs/testing.md, "Sanitizers").
#
# Environment:
#   SEALPOOL_ASAN_BUILD_DIR  build folder (default: build-asan)
#   SEALPOOL_JOBS            parallel jobs (default: nproc)
#   SEALPOOL_FUZZ_SEED       replays a fuzz run (the test prints its seed)
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${SEALPOOL_ASAN_BUILD_DIR:-build-asan}
jobs=${SEALPOOL_JOBS:-$(nproc)}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSEALPOOL_SANITIZE=address -DSEALPOOL_BUILD_BENCH=OFF
cmake --build "$build_dir" -j "$jobs" --target sealpoold sealkmsd kmscmd sealpoold_hostile_test
# The daemons inherit these. A report makes a daemon's exit status non-zero and lands in its
# log, which the test reads; the test fails on either.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/packaging/lsan.supp:print_suppressions=0}
cd "$build_dir"
ctest --output-on-failure -j "$jobs" -R '^sealpoold_hostile_test:'
