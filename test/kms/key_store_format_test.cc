#include "kms/key_store_format.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "test/test_util.h"

namespace sealpool::kms {
namespace {

TEST_CASE("key store header layout is pinned", "[kms][format]") {
  KeyStoreHeader h;
  h.scrypt = {1u << 15, 8, 1};
  h.payload_size = 0x0102;
  auto bytes = h.Encode();
  static_assert(kKeyStoreHeaderSize == 144);
  std::string hex = test::ToHex(std::vector<uint8_t>(bytes.begin(), bytes.begin() + 72));
  CHECK(hex.substr(0, 64) ==
        "53504b53544f5245"                           // "SPKSTORE"
        "02000000"                                   // version 2
        "01000000"                                   // scrypt, 3 zero bytes
        "0080000000000000"                           // N = 2^15
        "08000000"                                   // r
        "01000000");                                 // p
  CHECK(hex.substr(128, 16) == "0201000000000000");  // payload length, zero
  std::vector<uint8_t> file(bytes.begin(), bytes.end());
  file.resize(file.size() + 0x0102);
  auto decoded = KeyStoreHeader::Decode(file);
  REQUIRE(decoded.ok());
  CHECK(decoded->scrypt.n == (1u << 15));
  CHECK(decoded->payload_size == 0x0102);
}

}  // namespace
}  // namespace sealpool::kms
