# Tests of the pool (storage/pool.h). Included from test/storage/CMakeLists.txt.
if(TARGET sealpool_pool)

# --- proof tests --- (issue 4: crash safety and corruption; owner: test engineering)
add_library(sealpool_pool_test_util STATIC ${CMAKE_CURRENT_LIST_DIR}/pool_test_util.cc)
target_link_libraries(sealpool_pool_test_util
  PUBLIC sealpool_test_main sealpool_pool sealpool_catalog sealpool_store absl::status
         absl::statusor absl::strings
  PRIVATE RocksDB::rocksdb-shared)
sealpool_target_defaults(sealpool_pool_test_util)

# SIGKILL loop (SEALPOOL_CRASH_KILLS, default 200) and power cuts (SEALPOOL_POWERCUT_POINTS).
sealpool_test(pool_crash_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/pool_crash_test.cc
  DEPS sealpool_pool_test_util
  LABELS crash)
set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES
  ${CMAKE_CURRENT_BINARY_DIR}/pool_crash_test_timeout.cmake)
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/pool_crash_test_timeout.cmake
  "set_tests_properties(\"pool_crash_test:Pool survives SIGKILL at random points of writes and deletes and compaction\" \"pool_crash_test:Pool survives a power cut at many points with unsynced data dropped\" PROPERTIES TIMEOUT 300)\n")

sealpool_test(pool_corruption_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/pool_corruption_test.cc
  DEPS sealpool_pool_test_util sealpool_store_test_util
  LABELS unit)
# --- end of proof tests ---

sealpool_test(pool_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/pool_test.cc
  DEPS sealpool_pool_test_util
  LABELS unit)

endif()
