# Tests of the segment store's first layer: the file-system seam, container files, the container
# store and the segment codec.
# Included from test/storage/CMakeLists.txt.
add_library(sealpool_store_test_util STATIC ${CMAKE_CURRENT_LIST_DIR}/store_test_util.cc)
target_link_libraries(sealpool_store_test_util PUBLIC sealpool_test_main sealpool_store)
sealpool_target_defaults(sealpool_store_test_util)

sealpool_test(file_system_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/file_system_test.cc
  DEPS sealpool_store_test_util LABELS unit)
sealpool_test(fault_injection_file_system_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fault_injection_file_system_test.cc
  DEPS sealpool_store_test_util LABELS unit)
sealpool_test(container_format_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/container_format_test.cc
  DEPS sealpool_store_test_util LABELS unit)
sealpool_test(container_writer_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/container_writer_test.cc
  DEPS sealpool_store_test_util LABELS unit)
sealpool_test(container_reader_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/container_reader_test.cc
  DEPS sealpool_store_test_util LABELS unit)
sealpool_test(segment_codec_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/segment_codec_test.cc
  DEPS sealpool_store_test_util LABELS unit)
sealpool_test(container_store_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/container_store_test.cc
  DEPS sealpool_store_test_util LABELS unit)
