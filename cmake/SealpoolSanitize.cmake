# SEALPOOL_SANITIZE (top-level CMakeLists.txt): compile and link every target of this project
# with a sanitizer. Included before the first add_subdirectory, so it reaches them all.
if(SEALPOOL_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address)
  message(STATUS "sealpool: AddressSanitizer build (SEALPOOL_SANITIZE=address)")
elseif(NOT SEALPOOL_SANITIZE STREQUAL "")
  message(FATAL_ERROR "SEALPOOL_SANITIZE=\"${SEALPOOL_SANITIZE}\": use \"\" or \"address\"")
endif()
