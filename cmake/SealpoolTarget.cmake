# Compile settings shared by every sealpool-owned target (not generated code).
function(sealpool_target_defaults target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
    -Wcast-align -Wunused -Woverloaded-virtual -Wconversion -Wsign-conversion
    -Wnull-dereference -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough)
  if(SEALPOOL_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# sealpool_library(NAME SOURCES ... DEPS ...): one layer = one library target. Headers are
# included by their path from the repository root ("crypto/aead.h"), so a layer that includes
# another layer's header without linking it fails at link time.
function(sealpool_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  sealpool_target_defaults(${name})
endfunction()
