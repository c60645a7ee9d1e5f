# Tests of the pool catalog: the RocksDB wrapper and the record encodings.
# Included from test/storage/CMakeLists.txt.
sealpool_test(catalog_records_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/catalog_records_test.cc
  DEPS sealpool_catalog
  LABELS unit)
sealpool_test(catalog_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/catalog_test.cc
  DEPS sealpool_catalog RocksDB::rocksdb-shared
  LABELS unit)
