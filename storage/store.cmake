# The segment store (issue 4), first layer: the file-system seam and container files.
# Included from storage/CMakeLists.txt. Never depends on gRPC, proto, kms or daemon.
sealpool_library(sealpool_store
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/file_system.cc
    ${CMAKE_CURRENT_LIST_DIR}/fault_injection_file_system.cc
    ${CMAKE_CURRENT_LIST_DIR}/container_format.cc
    ${CMAKE_CURRENT_LIST_DIR}/container_reader.cc
    ${CMAKE_CURRENT_LIST_DIR}/container_writer.cc
  DEPS
    sealpool_crypto
    absl::status
    absl::statusor
    absl::strings
    absl::synchronization
  PRIVATE_DEPS
    PkgConfig::XXHASH)
