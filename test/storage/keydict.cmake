# Tests of the key dictionary (sealpool_keydict). Included from test/storage/CMakeLists.txt.
# root_key_provider.h is header-only: in_process_root_key_provider_test exercises it.
sealpool_test(in_process_root_key_provider_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/in_process_root_key_provider_test.cc
  DEPS sealpool_keydict LABELS unit)
sealpool_test(key_dictionary_format_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/key_dictionary_format_test.cc
  DEPS sealpool_keydict LABELS unit)
sealpool_test(key_dictionary_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/key_dictionary_test.cc
  DEPS sealpool_keydict LABELS unit)
