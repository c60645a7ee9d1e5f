#!/usr/bin/env bash
# The README's test command: installs what is missing (Debian bookworm packages), builds
# sealpool with Ninja (and ccache when present) in the build type the .deb is made from
# (Release), runs the whole test suite with CTest, then builds the .deb with CPack and runs the
# package test on it (docs/testing.md, "The package test").
#
# Environment:
#   SEALPOOL_BUILD_DIR   build folder (default: build)
#   SEALPOOL_BUILD_TYPE  CMake build type (default: Release, what packagers and the .deb use)
#   SEALPOOL_JOBS        parallel jobs for build and tests (default: nproc)
#   SEALPOOL_PACKAGE     0: stop after the tests (no .deb, no package test; default: 1)
#   SEALPOOL_DEB_INSTALL_TEST  1: also install, reinstall, remove and purge the .deb with dpkg
#                        in a throwaway mount namespace (root and overlayfs needed; default: 0)
set -euo pipefail
cd "$(dirname "$0")/.."

bash packaging/install-deps.sh

build_dir=${SEALPOOL_BUILD_DIR:-build}
jobs=${SEALPOOL_JOBS:-$(nproc)}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="${SEALPOOL_BUILD_TYPE:-Release}"
cmake --build "$build_dir" -j "$jobs"
cd "$build_dir"
# --timeout: a hung test fails after 20 min (the longest, the purge SIGKILL campaign, takes ~4)
# instead of holding CI until its own limit.
ctest --output-on-failure --timeout 1200 -j "$jobs" -LE '^package'

if [ "${SEALPOOL_PACKAGE:-1}" = 0 ]; then exit 0; fi
rm -f sealpool_*.deb
cpack -G DEB
deb=$(ls "$PWD"/sealpool_*.deb)
echo "test.sh: built $deb"
SEALPOOL_DEB="$deb" ctest --output-on-failure -L '^package$'
if [ "${SEALPOOL_DEB_INSTALL_TEST:-0}" = 1 ]; then
  SEALPOOL_DEB="$deb" ctest --output-on-failure -L '^package-install$'
fi
