#include "storage/chunking/gear_table.h"

#include "storage/chunking/chunker_format.h"

namespace sealpool::storage {

GearTable MakeGearTable(uint64_t seed) {
  GearTable table;
  uint64_t state = seed ^ kGearSeedSalt;
  for (uint32_t& entry : table) {
    state += kSplitMix64Gamma;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * kSplitMix64Mul1;
    z = (z ^ (z >> 27)) * kSplitMix64Mul2;
    z ^= z >> 31;
    entry = static_cast<uint32_t>(z >> 32);
  }
  return table;
}

const GearTable& DefaultGearTable() {
  static const GearTable table = MakeGearTable(0);
  return table;
}

}  // namespace sealpool::storage
