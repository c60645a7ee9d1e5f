#!/usr/bin/env bash
# The README's test command: installs what is missing (Debian bookworm packages), builds
# sealpool with Ninja (and ccache when present) and runs the whole test suite with CTest.
#
# Environment:
#   SEALPOOL_BUILD_DIR   build folder (default: build)
#   SEALPOOL_BUILD_TYPE  CMake build type (default: RelWithDebInfo)
#   SEALPOOL_JOBS        parallel jobs for build and tests (default: nproc)
set -euo pipefail
cd "$(dirname "$0")/.."

bash packaging/install-deps.sh

build_dir=${SEALPOOL_BUILD_DIR:-build}
jobs=${SEALPOOL_JOBS:-$(nproc)}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="${SEALPOOL_BUILD_TYPE:-RelWithDebInfo}"
cmake --build "$build_dir" -j "$jobs"
cd "$build_dir"
ctest --output-on-failure -j "$jobs"
