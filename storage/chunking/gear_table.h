// The gear table of chunker format version 1: 256 pseudo-random 32-bit values, one per byte
// value, derived from ChunkerParams::seed by a fixed function (docs/chunking.md, "Gear table").
//
//   state = seed ^ kGearSeedSalt
//   for i in 0..255:
//     state += kSplitMix64Gamma                      (mod 2^64)
//     z = state
//     z = (z ^ (z >> 30)) * kSplitMix64Mul1          (mod 2^64)
//     z = (z ^ (z >> 27)) * kSplitMix64Mul2          (mod 2^64)
//     z = z ^ (z >> 31)
//     table[i] = z >> 32
//
// That is SplitMix64 (Steele, Lea, Flood 2014) keeping the high half of each output. The
// derivation is part of the format: changing it changes every cut.
#ifndef SEALPOOL_STORAGE_CHUNKING_GEAR_TABLE_H_
#define SEALPOOL_STORAGE_CHUNKING_GEAR_TABLE_H_

#include <array>
#include <cstdint>

namespace sealpool::storage {

using GearTable = std::array<uint32_t, 256>;

// The table for `seed`, computed (256 SplitMix64 steps, well under a microsecond).
GearTable MakeGearTable(uint64_t seed);

// The table for seed 0 (the default), computed once; thread-safe.
const GearTable& DefaultGearTable();

}  // namespace sealpool::storage

#endif  // SEALPOOL_STORAGE_CHUNKING_GEAR_TABLE_H_
