# sealpool_proto_library(NAME PROTOS a.proto b.proto [GRPC])
#
# The one place that runs protoc (and grpc_cpp_plugin with GRPC). PROTOS are paths relative to
# proto/, which is the import root, so "sealpool/common/v1/common.proto" is included from C++ as
# "sealpool/common/v1/common.pb.h". Generated code is compiled without sealpool's warning flags.
function(sealpool_proto_library name)
  cmake_parse_arguments(ARG "GRPC" "" "PROTOS;DEPS" ${ARGN})
  set(proto_root "${PROJECT_SOURCE_DIR}/proto")
  set(out_dir "${PROJECT_BINARY_DIR}/proto_gen")
  file(MAKE_DIRECTORY "${out_dir}")
  set(srcs)
  foreach(rel IN LISTS ARG_PROTOS)
    string(REGEX REPLACE "\\.proto$" "" stem "${rel}")
    set(outs "${out_dir}/${stem}.pb.cc" "${out_dir}/${stem}.pb.h")
    set(plugin_args)
    if(ARG_GRPC)
      list(APPEND outs "${out_dir}/${stem}.grpc.pb.cc" "${out_dir}/${stem}.grpc.pb.h")
      set(plugin_args --grpc_out=${out_dir}
                      --plugin=protoc-gen-grpc=${SEALPOOL_GRPC_CPP_PLUGIN})
    endif()
    add_custom_command(
      OUTPUT ${outs}
      COMMAND ${SEALPOOL_PROTOC} --proto_path=${proto_root} --cpp_out=${out_dir}
              ${plugin_args} ${proto_root}/${rel}
      DEPENDS ${proto_root}/${rel} ${SEALPOOL_PROTOC}
      COMMENT "protoc ${rel}"
      VERBATIM)
    list(APPEND srcs ${outs})
  endforeach()
  add_library(${name} STATIC ${srcs})
  target_include_directories(${name} SYSTEM PUBLIC "${out_dir}")
  target_link_libraries(${name} PUBLIC PkgConfig::PROTOBUF ${ARG_DEPS})
  if(ARG_GRPC)
    target_link_libraries(${name} PUBLIC PkgConfig::GRPCPP)
  endif()
endfunction()
