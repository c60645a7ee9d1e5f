// The gear table of chunker format version 1: pinned values, so the derivation never drifts.
#include "storage/chunking/gear_table.h"

#include <bit>
#include <catch2/catch.hpp>
#include <cstdint>
#include <set>

namespace sealpool::storage {
namespace {

// Computed independently of this code base (a few lines of Python from the derivation written
// in gear_table.h and docs/chunking.md). A failure here means format version 1 changed.
TEST_CASE("the gear tables of seeds 0 and 1 match the pinned format v1 values",
          "[storage][gear_table]") {
  const GearTable t0 = MakeGearTable(0);
  CHECK(t0[0] == 0xdc903091u);
  CHECK(t0[1] == 0x5dfa66ceu);
  CHECK(t0[2] == 0x36a16882u);
  CHECK(t0[3] == 0x05b82315u);
  CHECK(t0[127] == 0x2ac3f72cu);
  CHECK(t0[128] == 0xdf66899bu);
  CHECK(t0[254] == 0x3901eea6u);
  CHECK(t0[255] == 0x1b2bfcf7u);

  const GearTable t1 = MakeGearTable(1);
  CHECK(t1[0] == 0x1d3754e5u);
  CHECK(t1[1] == 0x6e9dee9du);
  CHECK(t1[2] == 0x9f92e0efu);
  CHECK(t1[3] == 0xb4560161u);
  CHECK(t1[127] == 0xfc2b3ee9u);
  CHECK(t1[128] == 0x84c5efcbu);
  CHECK(t1[254] == 0xca1540f2u);
  CHECK(t1[255] == 0x206033a2u);
}

TEST_CASE("every entry of the seed 0 and 1 tables is pinned by their xor and sum",
          "[storage][gear_table]") {
  auto xor_sum = [](const GearTable& t) {
    uint32_t x = 0;
    uint32_t s = 0;
    for (uint32_t v : t) {
      x ^= v;
      s += v;
    }
    return std::pair(x, s);
  };
  CHECK(xor_sum(MakeGearTable(0)) == std::pair(0x80cf48f9u, 0x0c813027u));
  CHECK(xor_sum(MakeGearTable(1)) == std::pair(0xbfa76e1fu, 0xbd82bbffu));
}

TEST_CASE("the default table is the table of seed 0", "[storage][gear_table]") {
  CHECK(DefaultGearTable() == MakeGearTable(0));
}

TEST_CASE("another seed gives an unrelated table", "[storage][gear_table]") {
  const GearTable a = MakeGearTable(0);
  const GearTable b = MakeGearTable(0x8000000000000000ULL);
  int equal = 0;
  for (size_t i = 0; i < a.size(); ++i) equal += a[i] == b[i] ? 1 : 0;
  CHECK(equal == 0);
}

TEST_CASE("the default table has distinct entries and balanced bits", "[storage][gear_table]") {
  const GearTable& t = DefaultGearTable();
  CHECK(std::set<uint32_t>(t.begin(), t.end()).size() == 256);
  // Each bit is set in about half of the entries (binomial(256, 1/2): sd 8; allow 4 sd).
  for (int bit = 0; bit < 32; ++bit) {
    int ones = 0;
    for (uint32_t v : t) ones += static_cast<int>((v >> bit) & 1);
    INFO("bit " << bit);
    CHECK(ones >= 96);
    CHECK(ones <= 160);
  }
}

}  // namespace
}  // namespace sealpool::storage
