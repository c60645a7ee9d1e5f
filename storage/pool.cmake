# The pool (issue 4): images, dedup per key group, the delete queue, compaction, re-wrap,
# scrub, index rebuild, catalog backup. Included from storage/CMakeLists.txt.
sealpool_library(sealpool_pool
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/pool.cc
    ${CMAKE_CURRENT_LIST_DIR}/image_writer.cc
    ${CMAKE_CURRENT_LIST_DIR}/image_reader.cc
    ${CMAKE_CURRENT_LIST_DIR}/delete_queue.cc
    ${CMAKE_CURRENT_LIST_DIR}/compactor.cc
    ${CMAKE_CURRENT_LIST_DIR}/rewrap.cc
    ${CMAKE_CURRENT_LIST_DIR}/pool_scan.cc
  DEPS
    sealpool_store
    sealpool_catalog
    sealpool_keydict
    sealpool_chunk_stream
    sealpool_crypto
    absl::status
    absl::statusor
    absl::strings
    absl::synchronization
    absl::time
    absl::flat_hash_map
    absl::flat_hash_set)
