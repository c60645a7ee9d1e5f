# Every third-party dependency is found here, once, from Debian bookworm's packages
# (packaging/install-deps.sh installs them). Layers link the imported targets below.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(OpenSSL 3.0 REQUIRED)
find_package(absl REQUIRED)

# Debian ships pkg-config files for protobuf and gRPC; SealpoolProto.cmake uses these.
pkg_check_modules(PROTOBUF REQUIRED IMPORTED_TARGET protobuf>=3.21)
pkg_check_modules(GRPCPP REQUIRED IMPORTED_TARGET grpc++>=1.51)
find_program(SEALPOOL_PROTOC protoc REQUIRED)
find_program(SEALPOOL_GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)

pkg_check_modules(XXHASH REQUIRED IMPORTED_TARGET libxxhash)
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET libzstd)
find_package(RocksDB REQUIRED CONFIG)
find_package(spdlog REQUIRED)
find_package(tomlplusplus REQUIRED)
pkg_check_modules(SYSTEMD REQUIRED IMPORTED_TARGET libsystemd)
find_path(CLI11_INCLUDE_DIR CLI/CLI.hpp REQUIRED)
# The S3 client (storage/s3): libcurl signs requests (CURLOPT_AWS_SIGV4, curl >= 7.75), pugixml
# parses the XML replies.
pkg_check_modules(LIBCURL REQUIRED IMPORTED_TARGET libcurl>=7.75)
pkg_check_modules(PUGIXML REQUIRED IMPORTED_TARGET pugixml)
# libarchive: the sealpool client writes and unpacks directory backups as pax tar archives.
pkg_check_modules(LIBARCHIVE REQUIRED IMPORTED_TARGET libarchive)

# cpp-httplib serves sealpoold's /metrics. Debian's libcpp-httplib-dev ships no CMake config:
# a split build (the header declares, libcpp-httplib.so implements) and a pkg-config file whose
# -DCPPHTTPLIB_{OPENSSL,ZLIB,BROTLI}_SUPPORT flags change the classes' layout, so every user
# must compile with them: PkgConfig::HTTPLIB carries them. Its include directory is a system
# one (imported target), so the header's warnings stay out of our -Werror build.
pkg_check_modules(HTTPLIB QUIET IMPORTED_TARGET cpp-httplib>=0.11)
if(NOT HTTPLIB_FOUND)
  message(FATAL_ERROR
    "cpp-httplib (pkg-config module cpp-httplib >= 0.11) not found: install Debian's "
    "libcpp-httplib-dev (packaging/install-deps.sh installs every dependency)")
endif()

if(SEALPOOL_BUILD_TESTS)
  find_package(Catch2 2 REQUIRED)
  include(Catch)
endif()
if(SEALPOOL_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()
