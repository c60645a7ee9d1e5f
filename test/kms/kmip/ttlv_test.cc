// TTLV encoding: every type's layout, padding, and round trips.
#include "kms/kmip/ttlv.h"

#include <catch2/catch.hpp>

#include "test/test_util.h"

namespace sealpool::kms::kmip {
namespace {

std::string Hex(const Item& i) {
  auto b = Encode(i);
  REQUIRE(b.ok());
  return test::ToHex(*b);
}

TEST_CASE("TTLV encodes each type as KMIP 1.4 section 9.1.2 shows", "[kmip]") {
  // The examples of the specification.
  CHECK(Hex(Item::Int(0x420020, 8)) == "42002002000000040000000800000000");
  CHECK(Hex(Item::Long(0x420020, 123456789000000000)) == "420020030000000801b69b4ba5749200");
  CHECK(Hex(Item::Enum(0x420020, 0xFF00)) == "42002005000000040000ff0000000000");
  CHECK(Hex(Item::Bool(0x420020, true)) == "42002006000000080000000000000001");
  CHECK(Hex(Item::Text(0x420020, "Hello World")) ==
        "420020070000000b48656c6c6f20576f726c640000000000");
  std::vector<uint8_t> b = {1, 2, 3};
  CHECK(Hex(Item::Bytes(0x420020, b)) == "42002008000000030102030000000000");
  CHECK(Hex(Item::DateTime(0x420020, 0x47DA67F8)) == "42002009000000080000000047da67f8");
  CHECK(Hex(Item::Struct(0x420020, {Item::Enum(0x420004, 254), Item::Int(0x420005, 255)})) ==
        "42002001000000204200040500000004000000fe000000004200050200000004000000ff00000000");
}

TEST_CASE("TTLV round-trips nested structures and negative integers", "[kmip]") {
  Item i = Item::Struct(0x420078, {Item::Int(0x42000D, -5), Item::Text(0x420094, "é"),
                                   Item::Struct(0x420079, {}), Item::Bytes(0x4200C2, {})});
  auto b = Encode(i);
  REQUIRE(b.ok());
  auto d = Decode(*b);
  REQUIRE(d.ok());
  REQUIRE(d->children.size() == 4);
  CHECK(d->children[0].number == -5);
  CHECK(d->children[1].text() == "é");
  CHECK(d->children[2].children.empty());
  CHECK(d->children[3].bytes.empty());
  CHECK(d->Find(0x420079) == &d->children[2]);
  CHECK(d->Find(0x420001) == nullptr);
}

TEST_CASE("TTLV refuses to encode a tag wider than 3 bytes", "[kmip]") {
  CHECK(!Encode(Item::Int(0x1000000, 1)).ok());
}

}  // namespace
}  // namespace sealpool::kms::kmip
