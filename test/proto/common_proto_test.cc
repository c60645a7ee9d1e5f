// The generated wire types build, link and round-trip: the protoc/grpc_cpp_plugin rule works.
#include <catch2/catch.hpp>

#include "sealpool/common/v1/common.grpc.pb.h"
#include "sealpool/common/v1/common.pb.h"

TEST_CASE("BuildInfo survives a serialize/parse round trip", "[proto]") {
  sealpool::common::v1::BuildInfo info;
  info.set_version("0.1.0");
  info.set_chunker_format(1);
  info.set_crypto_format(1);
  std::string wire;
  REQUIRE(info.SerializeToString(&wire));
  sealpool::common::v1::BuildInfo back;
  REQUIRE(back.ParseFromString(wire));
  CHECK(back.version() == "0.1.0");
  CHECK(back.chunker_format() == 1);
}

TEST_CASE("truncated BuildInfo bytes are refused by the parser", "[proto]") {
  sealpool::common::v1::BuildInfo info;
  info.set_version("a version string long enough to truncate");
  std::string wire;
  REQUIRE(info.SerializeToString(&wire));
  sealpool::common::v1::BuildInfo back;
  CHECK_FALSE(back.ParseFromString(wire.substr(0, wire.size() - 5)));
}

TEST_CASE("the Health service stub type is generated", "[proto]") {
  // Naming the generated service proves grpc_cpp_plugin ran and gRPC links.
  CHECK(std::string(sealpool::common::v1::Health::service_full_name()) ==
        "sealpool.common.v1.Health");
}
