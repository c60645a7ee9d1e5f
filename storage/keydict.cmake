# The key dictionary of the segment store (issue 4): the root-key interface the store declares
# (the daemon adapts the KMS client to it), an in-process implementation for tests and
# benchmarks, the key dictionary records and the dictionary itself. Included from
# storage/CMakeLists.txt. Never depends on RocksDB, gRPC, proto, kms or daemon.
sealpool_library(sealpool_keydict
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/in_process_root_key_provider.cc
    ${CMAKE_CURRENT_LIST_DIR}/key_dictionary_format.cc
    ${CMAKE_CURRENT_LIST_DIR}/key_dictionary.cc
  DEPS
    sealpool_crypto
    sealpool_chunk_stream
    absl::status
    absl::statusor
    absl::strings
    absl::synchronization
    absl::time)
