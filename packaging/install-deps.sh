#!/usr/bin/env bash
# Installs every package sealpool needs to build, test and benchmark, from Debian bookworm.
# Idempotent: when everything is already installed it asks nothing of apt and exits 0.
#
# Usage: packaging/install-deps.sh [--check]
#   --check   only report what is missing (exit 1 if anything is), install nothing.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git
  # libraries
  libssl-dev librocksdb-dev libzstd-dev libxxhash-dev
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  libabsl-dev libspdlog-dev libfmt-dev libcli11-dev libtomlplusplus-dev libsystemd-dev
  libcpp-httplib-dev libarchive-dev
  libcurl4-openssl-dev libpugixml-dev  # the S3 client (storage/s3): SigV4 requests, XML replies
  # the .deb: CPack's DEB generator finds ELF files with file and runs dpkg-shlibdeps
  # (dpkg-dev); it sets root ownership itself, so no fakeroot
  dpkg-dev file
  # tests and benchmarks
  catch2 libbenchmark-dev python3-cryptography-vectors python3-pykmip openssl
  curl  # sealpoold_ops_test scrapes the metrics endpoint with it
  # a throw-away single-node Ceph with a RADOS Gateway for the S3 LSU's tests
  # (test/storage/s3/ceph-up.sh)
  ceph-mon ceph-osd radosgw ceph-common
  # peers measured side by side by test/bench/pool_bench (skipped there when absent)
  restic borgbackup
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

if [ "${1:-}" = "--check" ]; then
  echo "install-deps: missing: ${missing[*]}"
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
