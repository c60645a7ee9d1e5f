# The pool catalog (issue 4): one RocksDB database, a column family per kind of record
# (storage/catalog.h), and the byte layouts of its keys and values (storage/catalog_records.h,
# docs/format.md "Catalog (version 1)"). Included from storage/CMakeLists.txt.
# RocksDB is private: no sealpool header includes a RocksDB header (catalog.h forward-declares).
# The shared library is linked: Debian's static librocksdb.a would drag gflags, snappy, lz4,
# bz2 and zlib into every executable's link line.
sealpool_library(sealpool_catalog
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/catalog.cc
    ${CMAKE_CURRENT_LIST_DIR}/catalog_records.cc
  DEPS
    sealpool_store
    sealpool_crypto
    absl::status
    absl::statusor
    absl::strings
    absl::function_ref
    absl::synchronization
  PRIVATE_DEPS
    RocksDB::rocksdb-shared)
