# The segment store (issue 4), first layer: the file-system seam, container files, the container
# store (the set of container files of a pool) and the segment codec (compress + seal).
# Included from storage/CMakeLists.txt. Never depends on gRPC, proto, kms or daemon.
sealpool_library(sealpool_store
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/file_system.cc
    ${CMAKE_CURRENT_LIST_DIR}/fault_injection_file_system.cc
    ${CMAKE_CURRENT_LIST_DIR}/container_format.cc
    ${CMAKE_CURRENT_LIST_DIR}/container_reader.cc
    ${CMAKE_CURRENT_LIST_DIR}/container_writer.cc
    ${CMAKE_CURRENT_LIST_DIR}/container_store.cc
    ${CMAKE_CURRENT_LIST_DIR}/segment_codec.cc
  DEPS
    sealpool_crypto
    absl::flat_hash_map
    absl::flat_hash_set
    absl::status
    absl::statusor
    absl::strings
    absl::synchronization
  PRIVATE_DEPS
    PkgConfig::XXHASH
    PkgConfig::ZSTD)
