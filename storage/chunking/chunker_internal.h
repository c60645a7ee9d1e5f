// Internal to the chunker: the per-implementation scan entry points behind Chunker. Not part of
// the library's contract; include only from storage/chunker*.cc and the chunker tests.
//
// Every implementation computes the same function (ScanArgs's comment); the portable one is the
// reference and the vector ones are tested against it bit for bit. The declarations use plain
// types only, so that the vector files (compiled with -mavx2 or -mavx512*) instantiate no
// template that the linker could pick for portable code.
#ifndef SEALPOOL_STORAGE_CHUNKING_CHUNKER_INTERNAL_H_
#define SEALPOOL_STORAGE_CHUNKING_CHUNKER_INTERNAL_H_

#include <cstddef>
#include <cstdint>

namespace sealpool::storage::internal {

// One scan request. H(i), the windowed gear hash of byte position i, is
//   H(i) = sum over k in [0, 32) of table[data[i - k]] << k   (mod 2^32),
// i.e. the value h takes after h = (h << 1) + table[b] over bytes data[i-31] .. data[i] from
// h = 0. A scan returns the smallest position i in [begin, end) with
//   (H(i) & (i < switch_pos ? mask_s : mask_l)) == 0,
// or `end` when there is none.
//
// Requires begin >= 32 (kGearWindowSize) and mask_l a subset of mask_s. Reads data[begin - 32]
// .. data[end - 1] and nothing else. Positions are offsets from `data` (the chunk start).
struct ScanArgs {
  const uint32_t* table = nullptr;  // 256 entries
  const uint8_t* planes = nullptr;  // the same table byte-sliced (MakeGearPlanes); AVX-512 only
  const uint8_t* data = nullptr;
  size_t begin = 0;
  size_t end = 0;
  size_t switch_pos = 0;
  uint32_t mask_s = 0;
  uint32_t mask_l = 0;
};

using ScanFn = size_t (*)(const ScanArgs& args);

inline constexpr size_t kGearPlanesSize = 1024;

// planes[256 * p + b] = byte p (little-endian) of table[b], for p in 0..3: the table as four
// 256-byte lookup tables, which the AVX-512 path indexes with byte permutes instead of gathers.
void MakeGearPlanes(const uint32_t* table, uint8_t* planes);

// H(i) computed from its definition; for verifying candidates. Requires i >= 31.
uint32_t WindowHash(const uint32_t* table, const uint8_t* data, size_t i);

// For the vector paths, which hash `lanes` contiguous runs of `lane` positions from `first`:
// the smaller of `best` and every position first + l * lane + offset, for each lane l set in
// `lane_bits`, whose hash H(pos) satisfies the mask that applies to pos (mask_s before
// switch_pos, mask_l from there). Candidates are rare (one per 2^(avg_bits-2) positions), so
// this re-computes each hash from its definition.
size_t VerifyCandidates(const ScanArgs& args, size_t first, size_t lane, size_t offset,
                        unsigned lane_bits, size_t best);

// Scalar reference implementation; any CPU.
size_t ScanPortable(const ScanArgs& args);

// The vector paths are defined only in x86-64 builds (where chunker_avx2.cc and
// chunker_avx512.cc are compiled and SEALPOOL_CHUNKER_HAVE_X86_VECTOR is set).

// 8 lanes of 32-bit gear hashes, table lookups with AVX2 gathers. Call only when CpuHasAvx2().
size_t ScanAvx2(const ScanArgs& args);

// 16 lanes of 32-bit gear hashes, table lookups with AVX-512 VBMI byte permutes on
// args.planes. Call only when CpuHasAvx512Vbmi().
size_t ScanAvx512(const ScanArgs& args);

}  // namespace sealpool::storage::internal

#endif  // SEALPOOL_STORAGE_CHUNKING_CHUNKER_INTERNAL_H_
